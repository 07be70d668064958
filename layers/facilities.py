"""Facility layer: one circle per facility, coloured by kind, with a legend.

Only public fields reach the map (:data:`PUBLIC_FACILITY_FIELDS`); every
value is made JSON-safe (:func:`public_facility_records`) and HTML-escaped
(:func:`~layers.basemap.escape_text`) before it is put into a popup or
tooltip, so a facility named ``<img src=x onerror=alert(1)>`` shows as text.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import MarkerCluster

from layers.basemap import add_legend, bind_popup, bind_tooltip, escape_text, map_coordinates, to_map_crs

log = logging.getLogger(__name__)

PUBLIC_FACILITY_FIELDS: dict[str, str] = {
    "name": "名称",
    "kind": "类型",
    "services": "服务项目",
    "beds_total": "床位总数",
    "beds_nursing": "护理型床位",
    "beds_free": "空余床位",
    "grade": "等级",
    "price_min_yuan_month": "最低月收费（元）",
    "price_max_yuan_month": "最高月收费（元）",
    "nature": "性质",
    "phone": "联系电话",
    "address": "地址",
    "service_area": "服务区域",
}
"""Facility columns that may be shown to the public, with their Chinese labels.

Identifiers, credit codes, division codes, H3 cells and resident counts stay off public pages.
"""

KIND_PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermilion
    "#009E73",  # green
    "#CC79A7",  # purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#7F3C8D",
    "#3C3C3C",
)
"""Colour-blind-safe colours (Okabe–Ito, without yellow), assigned to kinds in order."""


def kind_colors(kinds: Sequence[str]) -> dict[str, str]:
    """Colour of each facility kind, by its position in ``kinds`` (settings order)."""
    return {kind: KIND_PALETTE[i % len(KIND_PALETTE)] for i, kind in enumerate(dict.fromkeys(kinds))}


def json_safe(value: Any) -> Any:
    """A plain Python value (str, int, float, bool, list, None) for a cell of a frame.

    Missing values (None, NaN, ``pd.NA``, NaT) become None; numpy scalars become
    Python numbers; arrays and lists (the ``services`` tags) become lists of str.
    """
    if isinstance(value, np.ndarray | list | tuple):
        return [str(v) for v in value if not _missing(v)]
    if _missing(value):
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value)
    if isinstance(value, int | str):
        return value
    return str(value)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        result = pd.isna(value)
    except (TypeError, ValueError):
        return False
    return bool(result) if np.ndim(result) == 0 else False


def public_facility_records(facilities: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of the public facility fields as JSON-safe dicts (missing fields as None)."""
    present = [f for f in PUBLIC_FACILITY_FIELDS if f in facilities.columns]
    records = []
    for row in facilities[present].itertuples(index=False, name=None):
        record = dict.fromkeys(PUBLIC_FACILITY_FIELDS)
        record.update({f: json_safe(v) for f, v in zip(present, row, strict=True)})
        records.append(record)
    return records


def _number(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)


def format_price_yuan_month(low: Any, high: Any) -> str:
    """Monthly price range as text, e.g. ``2000–4500 元/月``; empty when unknown."""
    low = None if low is None or (isinstance(low, float) and math.isnan(low)) else low
    high = None if high is None or (isinstance(high, float) and math.isnan(high)) else high
    if low is None and high is None:
        return ""
    if low is None or high is None or low == high:
        return f"{_number(low if low is not None else high)} 元/月"
    return f"{_number(low)}–{_number(high)} 元/月"


def format_grade(grade: Any) -> str:
    """GB/T 37276 grade 1–5 as stars, e.g. ``★★★（三级）``; empty when not rated."""
    if grade is None:
        return ""
    try:
        level = int(grade)
    except (TypeError, ValueError):
        return str(grade)
    if not 1 <= level <= 5:
        return str(level)
    return "★" * level + f"（{'一二三四五'[level - 1]}级）"


def service_area_zh(record: dict[str, Any], *, drive_minutes: float) -> str:
    """Where a home-care provider (a public record) serves: its declared area ("服务区域：海港街道"), else
    "驻地车程 15 分钟以内" (the rule of :mod:`planning.home_care` for providers without one)."""
    declared = " ".join(str(record.get("service_area") or "").split())
    return f"服务区域：{declared}" if declared else f"驻地车程 {drive_minutes:g} 分钟以内"


def popup_html(record: dict[str, Any], *, home_care_kinds: Sequence[str] = (),
               home_care_drive_minutes: float = 15.0) -> str:
    """Popup HTML of one public facility record; every value is escaped.

    Kinds that come to the home (``home_care_kinds``) show their service area
    (:func:`service_area_zh`) instead of beds.
    """
    rows: list[tuple[str, str]] = []
    comes_home = record.get("kind") in set(home_care_kinds)
    if record.get("kind"):
        rows.append(("类型", record["kind"]))
    if record.get("services"):
        rows.append(("服务项目", "、".join(record["services"])))
    if comes_home:
        rows.append(("上门范围", service_area_zh(record, drive_minutes=home_care_drive_minutes)))
    beds = [(label, record.get(field)) for field, label in
            (("beds_total", "总"), ("beds_nursing", "护理型"), ("beds_free", "空余"))]
    if not comes_home and any(v is not None for _, v in beds):
        rows.append(("床位", "，".join(f"{label} {_number(v)} 张" for label, v in beds if v is not None)))
    if record.get("grade") is not None:
        rows.append(("等级", format_grade(record["grade"])))
    price = format_price_yuan_month(record.get("price_min_yuan_month"), record.get("price_max_yuan_month"))
    if price:
        rows.append(("月收费", price))
    for field, label in (("nature", "性质"), ("phone", "电话"), ("address", "地址")):
        if record.get(field):
            rows.append((label, record[field]))
    body = "".join(
        f'<tr><th style="text-align:left;padding-right:8px;vertical-align:top;white-space:nowrap">'
        f"{escape_text(label)}</th><td>{escape_text(value)}</td></tr>"
        for label, value in rows
    )
    return (f'<div style="font-size:16px;line-height:1.5;color:#111">'
            f'<div style="font-weight:bold;font-size:18px;margin-bottom:4px">{escape_text(record.get("name"))}</div>'
            f"<table>{body}</table></div>")


def add_facilities(m: folium.Map, facilities: gpd.GeoDataFrame, *, name: str = "养老服务设施",
                   kinds: Sequence[str] | None = None, radius_px: float = 8,
                   legend: bool = True, cluster: bool = False, home_care_kinds: Sequence[str] = (),
                   home_care_drive_minutes: float = 15.0, by_kind: bool = False) -> folium.Map:
    """Add facilities as circles coloured by kind, in one FeatureGroup (or one per kind), with a legend.

    Parameters
    ----------
    m
        The map to draw on.
    facilities
        Point facilities (stored columns, any CRS). Only
        :data:`PUBLIC_FACILITY_FIELDS` are used; rows without a point are skipped.
    name
        Name of the FeatureGroup in the layer control.
    kinds
        Kinds in display order (``settings.facility_kinds``): fixes each
        kind's colour and the legend order. Kinds not listed are appended.
    radius_px
        Circle radius in screen pixels.
    legend
        Add a legend of the kinds shown.
    cluster
        Group nearby facilities into numbered clusters that open on zoom (Leaflet.markercluster,
        served by the app: see :func:`layers.assets.offline_map_assets`), so a map with thousands
        of facilities stays light; single facilities show from zoom 17.
    home_care_kinds, home_care_drive_minutes
        ``settings.home_care_kinds`` and ``settings.home_care_drive_minutes``: the popups of these kinds
        show their service area instead of beds (:func:`popup_html`).
    by_kind
        One group per kind, named after it, so the layer control shows or hides each kind in the
        browser (no rerun of the page); ``name`` is then unused.

    Returns
    -------
    The same map.
    """
    def new_group(group_name: str) -> folium.FeatureGroup | MarkerCluster:
        if cluster:
            return MarkerCluster(name=group_name, control=True,
                                 options={"disableClusteringAtZoom": 17, "maxClusterRadius": 45,
                                          "showCoverageOnHover": False})
        return folium.FeatureGroup(name=group_name, control=True)

    groups: dict[str, folium.FeatureGroup | MarkerCluster] = {}
    group = None if by_kind else new_group(name)
    shown_kinds: list[str] = []
    if not facilities.empty:
        points = to_map_crs(facilities, name, coordinates=map_coordinates(m))
        records = public_facility_records(points)
        present_kinds = [r["kind"] for r in records if r["kind"] is not None]
        colors = kind_colors([*(kinds or ()), *sorted(set(present_kinds))])
        skipped = 0
        for geom, record in zip(points.geometry, records, strict=True):
            if geom is None or geom.is_empty or geom.geom_type != "Point":
                skipped += 1
                continue
            kind = record["kind"] or "其他"
            color = colors.get(kind, "#3C3C3C")
            marker = folium.CircleMarker(
                location=[geom.y, geom.x],
                radius=radius_px,
                color="#1a1a1a",
                weight=1,
                fill=True,
                fill_color=color,
                fill_opacity=0.9,
            )
            bind_popup(marker, popup_html(record, home_care_kinds=home_care_kinds,
                                          home_care_drive_minutes=home_care_drive_minutes))
            bind_tooltip(marker, f"{record['name'] or ''}（{kind}）")
            if by_kind and kind not in groups:
                groups[kind] = new_group(kind)
            marker.add_to(groups[kind] if by_kind else group)
            shown_kinds.append(kind)
        if skipped:
            log.warning("map: %d facilities without a point location were not drawn", skipped)
        log.info("map: %d facilities drawn", len(shown_kinds))
        if legend and shown_kinds:
            present = set(shown_kinds)
            add_legend(m, name, [(k, colors.get(k, "#3C3C3C")) for k in colors if k in present])
    if by_kind:
        for kind in [k for k in colors if k in groups] if not facilities.empty else []:
            groups[kind].add_to(m)
    else:
        group.add_to(m)
    return m


__all__ = [
    "KIND_PALETTE",
    "PUBLIC_FACILITY_FIELDS",
    "add_facilities",
    "format_grade",
    "format_price_yuan_month",
    "json_safe",
    "kind_colors",
    "popup_html",
    "public_facility_records",
    "service_area_zh",
]
