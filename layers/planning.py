"""Layers of the planner's maps: H3 cells coloured by coverage, need or change, recommended sites,
their legends, and the layer control.

Elders appear only as counts per cell: a cell with fewer elders than a threshold
(``settings.suppression_threshold``) is drawn grey and its tooltip says only that. Every text put
on a map goes through :func:`~layers.basemap.escape_text` (tooltips of GeoJSON features, legends) or
:func:`~layers.basemap.bind_tooltip` (markers), so data can never inject markup.

Like the other layers, each ``add_*`` function draws one FeatureGroup (or one legend) on the map it
is given and returns that map, so calls compose::

    m = add_coverage_legend(add_coverage_cells(m, cells, threshold=10), threshold=10)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from geo import hexes
from geo.areas import is_area_row
from layers.basemap import MAP_CRS, add_legend, bind_tooltip, escape_text, map_coordinates, map_lat_lon, to_map_crs

log = logging.getLogger(__name__)

SUPPRESSED_COLOR = "#bdbdbd"
"""Fill of cells with too few elders to show numbers."""
COVERAGE_CLASSES: tuple[tuple[float, str, str], ...] = (
    (95.0, "#1a9850", "95% 及以上"),
    (80.0, "#91cf60", "80%–95%"),
    (50.0, "#fee08b", "50%–80%"),
    (0.0, "#d73027", "低于 50%"),
)
"""Coverage classes of the cell map: (lower bound %, colour, label), highest first."""
NEED_COLORS: tuple[str, ...] = ("#fee5d9", "#fcae91", "#fb6a4a", "#cb181d")
"""Weighted-need classes of the gap map (quartiles of the largest need), lightest first."""
NEED_LABELS_ZH: tuple[str, ...] = ("较低", "中等", "较高", "最高")
"""Legend labels of :data:`NEED_COLORS`."""
GAIN_COLOR, LOSS_COLOR = "#1a9850", "#d73027"
"""Fills of cells that gain / lose coverage between two scenarios."""
SITE_COLOR = "#6a3d9a"
"""Fill of recommended new sites."""
CELL_OUTLINE_COLOR = "#555555"


def coverage_color(pct: float) -> str:
    """Fill colour of a coverage percentage (:data:`COVERAGE_CLASSES`)."""
    return next(colour for low, colour, _ in COVERAGE_CLASSES if pct >= low or low == 0.0)


def need_color(need: float, top: float) -> str:
    """Fill colour of a weighted need, in quartiles of the largest need ``top``."""
    if top <= 0:
        return NEED_COLORS[0]
    return NEED_COLORS[min(int(4 * need / top), 3) if need < top else 3]


def suppressed_text_zh(threshold: int) -> str:
    """What a cell with fewer than ``threshold`` elders says instead of its numbers."""
    return f"老年人少于 {threshold} 人，不显示数字"


def cells_layer(cells: gpd.GeoDataFrame, *, fill: Callable[[Any], str], label: Callable[[Any], str],
                threshold: int) -> gpd.GeoDataFrame:
    """Hexagons with ``fill`` colour and escaped tooltip ``label``; cells with fewer than ``threshold``
    elders are grey and say only that.

    Parameters
    ----------
    cells
        Polygons with an ``elders`` column (a count), any CRS.
    fill, label
        Colour and tooltip text of a row (a named tuple of ``cells``); not called for suppressed cells.
    threshold
        Cells with fewer elders than this show no numbers.

    Returns
    -------
    A new frame with columns ``fill`` and ``label`` (HTML-escaped) and the same geometry and CRS.
    """
    rows = list(cells.itertuples(index=False))
    small = [int(r.elders) < threshold for r in rows]
    return gpd.GeoDataFrame({
        "fill": [SUPPRESSED_COLOR if s else fill(r) for r, s in zip(rows, small, strict=True)],
        "label": [escape_text(suppressed_text_zh(threshold) if s else label(r))
                  for r, s in zip(rows, small, strict=True)],
    }, geometry=list(cells.geometry), crs=cells.crs)


def add_cells(m: folium.Map, cells: gpd.GeoDataFrame, *, name: str) -> folium.Map:
    """Draw hexagons made by :func:`cells_layer` (columns ``fill`` and ``label``, already escaped) as one
    FeatureGroup called ``name``, the label as a tooltip."""
    group = folium.FeatureGroup(name=name, control=True)
    if len(cells):
        shapes = to_map_crs(cells, name, coordinates=map_coordinates(m))
        folium.GeoJson(
            shapes.__geo_interface__,
            style_function=lambda f: {"color": CELL_OUTLINE_COLOR, "weight": 0.5,
                                      "fillColor": f["properties"]["fill"], "fillOpacity": 0.6},
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False, sticky=True),
        ).add_to(group)
    group.add_to(m)
    log.info("map: %d cells drawn in %s", len(cells), name)
    return m


def h3_cells_frame(table: pd.DataFrame) -> gpd.GeoDataFrame:
    """A per-H3-cell table (H3 cells in ``code``) as hexagons in EPSG:4326, without the total and
    unassigned rows."""
    rows = table[is_area_row(table["code"])]
    return gpd.GeoDataFrame(rows, geometry=[hexes.cell_polygon(c) for c in rows["code"]], crs=MAP_CRS)


def add_coverage_cells(m: folium.Map, cells: pd.DataFrame, *, threshold: int,
                       name: str = "网格覆盖率") -> folium.Map:
    """Draw coverage per H3 cell, coloured by :data:`COVERAGE_CLASSES`.

    Parameters
    ----------
    cells
        Coverage per H3 cell as :func:`planning.coverage.region_coverage` gives it with ``by="h3"``:
        ``code`` (the cell), ``elders``, ``covered``, ``coverage_pct``; the total and unassigned rows
        are left out.
    threshold
        Cells with fewer elders than this are grey, without numbers.
    """
    layer = cells_layer(h3_cells_frame(cells), fill=lambda r: coverage_color(float(r.coverage_pct)),
                        label=lambda r: f"覆盖率 {r.coverage_pct:.1f}%（{r.covered}/{r.elders} 人）",
                        threshold=threshold)
    return add_cells(m, layer, name=name)


def add_gap_cells(m: folium.Map, cells: gpd.GeoDataFrame, *, threshold: int, ranked: bool = True,
                  name: str = "服务缺口网格") -> folium.Map:
    """Draw service-gap cells coloured by weighted need (:func:`need_color`, quartiles of the largest).

    Parameters
    ----------
    cells
        Gap cells as :func:`planning.gaps.gaps` gives them: hexagons with ``rank``, ``elders``,
        ``weighted_need`` and ``reason``.
    threshold
        Cells with fewer elders than this are grey, without numbers.
    ranked
        Tooltips give the rank and weighted need ("第 1 位：…；加权需求 …"); else only the reason
        ("服务缺口：…").
    """
    top_need = float(cells["weighted_need"].max()) if len(cells) else 0.0
    if ranked:
        def label(r: Any) -> str:
            return f"第 {r.rank} 位：{r.reason}；加权需求 {r.weighted_need:g}"
    else:
        def label(r: Any) -> str:
            return f"服务缺口：{r.reason}"
    layer = cells_layer(cells, fill=lambda r: need_color(float(r.weighted_need), top_need), label=label,
                        threshold=threshold)
    return add_cells(m, layer, name=name)


def add_change_cells(m: folium.Map, cells: gpd.GeoDataFrame, *, threshold: int,
                     name: str = "覆盖变化网格") -> folium.Map:
    """Draw the cells that gain (green) or lose (red) coverage between two scenarios.

    Parameters
    ----------
    cells
        Changed cells as :func:`planning.scenario.compare` gives them: hexagons with ``elders``,
        ``covered_delta`` and ``change``.
    threshold
        Cells with fewer elders than this are grey, without numbers.
    """
    layer = cells_layer(cells, fill=lambda r: GAIN_COLOR if r.covered_delta > 0 else LOSS_COLOR,
                        label=lambda r: f"{r.change} {int(r.covered_delta):+d} 人", threshold=threshold)
    return add_cells(m, layer, name=name)


def add_sites(m: folium.Map, sites: pd.DataFrame, *, name: str = "推荐新址", radius_px: float = 12) -> folium.Map:
    """Draw recommended new sites as large purple circles, one FeatureGroup, with escaped tooltips.

    Parameters
    ----------
    sites
        Sites as :attr:`planning.sites.SitePlan.sites`: ``lon``, ``lat`` (WGS-84), ``rank``,
        ``community_name``, ``newly_covered``; with capacitated siting also ``capacity_places`` and
        ``assigned_elders`` (shown in the tooltip).
    radius_px
        Circle radius in screen pixels.
    """
    group = folium.FeatureGroup(name=name, control=True)
    for row in sites.itertuples(index=False):
        marker = folium.CircleMarker(location=map_lat_lon(m, row.lon, row.lat), radius=radius_px, color="#111111",
                                     weight=3, fill=True, fill_color=SITE_COLOR, fill_opacity=0.95)
        served = (f"，名额 {row.capacity_places:g} 人、分配服务 {row.assigned_elders:g} 人"
                  if hasattr(row, "assigned_elders") and hasattr(row, "capacity_places") else "")
        bind_tooltip(marker, f"推荐新址 {row.rank}：{row.community_name or '（社区外）'}，"
                             f"新增覆盖 {row.newly_covered} 人{served}")
        marker.add_to(group)
    group.add_to(m)
    return m


# ---------------------------------------------------------------- legends


def add_coverage_legend(m: folium.Map, *, threshold: int) -> folium.Map:
    """Legend of :func:`add_coverage_cells`: the coverage classes and the grey of suppressed cells."""
    return add_legend(m, "覆盖率", [(label, colour) for _, colour, label in COVERAGE_CLASSES]
                      + [(f"老年人少于 {threshold} 人", SUPPRESSED_COLOR)], position="bottomleft")


def add_need_legend(m: folium.Map) -> folium.Map:
    """Legend of :func:`add_gap_cells`: the four need classes."""
    return add_legend(m, "加权需求", list(zip(NEED_LABELS_ZH, NEED_COLORS, strict=True)), position="bottomleft")


def add_sites_legend(m: folium.Map) -> folium.Map:
    """Legend of a siting map: new sites over the service gaps."""
    return add_legend(m, "图例", [("推荐新址", SITE_COLOR), ("服务缺口（颜色越深需求越大）", NEED_COLORS[3])],
                      position="bottomleft")


def add_change_legend(m: folium.Map, *, threshold: int) -> folium.Map:
    """Legend of :func:`add_change_cells`: gain, loss and the grey of suppressed cells."""
    return add_legend(m, "覆盖变化", [("增加覆盖", GAIN_COLOR), ("失去覆盖", LOSS_COLOR),
                                  (f"老年人少于 {threshold} 人", SUPPRESSED_COLOR)], position="bottomleft")


__all__ = [
    "COVERAGE_CLASSES",
    "GAIN_COLOR",
    "LOSS_COLOR",
    "NEED_COLORS",
    "NEED_LABELS_ZH",
    "SITE_COLOR",
    "SUPPRESSED_COLOR",
    "add_cells",
    "add_change_cells",
    "add_change_legend",
    "add_coverage_cells",
    "add_coverage_legend",
    "add_gap_cells",
    "add_need_legend",
    "add_sites",
    "add_sites_legend",
    "cells_layer",
    "coverage_color",
    "h3_cells_frame",
    "need_color",
    "suppressed_text_zh",
]
