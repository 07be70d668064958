"""Planning scenarios: the base region plus a list of changes, evaluated and compared.

A scenario is a plain JSON-able dict (saved by :mod:`data.store`)::

    {"name": "新增两处日照", "base_version": "v20261123-...", "description": "...",
     "minutes": 15, "mode": "walk", "walk_speed_kmh": null,
     "changes": [{"op": "add", "id": "N1", "name": "...", "kind": "日间照料中心", "lon": 116.4, "lat": 39.9,
                  "beds_total": 20, "beds_nursing": 10, "services": ["助餐", "日间照料"]},
                 {"op": "close", "id": "F007"},
                 {"op": "set", "id": "F002", "fields": {"beds_total": 120, "services": ["助餐"]}}]}

``minutes``, ``mode`` and ``walk_speed_kmh`` override the evaluation's defaults when set. The
name "base" always means the region as it is. Applying a scenario never changes the region: it
returns a new facilities layer (and settings); the networks and elder snaps are shared with the base.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.store import Region
from geo import hexes
from geo.areas import AreaLevel, point_cells
from geo.coords import Extent, outside_extent
from geo.errors import ScenarioError
from geo.labels import TOTAL_CODE
from geo.osm import extent as road_extent
from geo.settings import Settings
from planning.coverage import region_accessibility, region_coverage
from planning.network import Mode

log = logging.getLogger(__name__)

BASE = "base"
OPS = ("add", "close", "set")
EDITABLE = ("name", "kind", "beds_total", "beds_nursing", "beds_free", "services", "grade")
_INT_FIELDS = ("beds_total", "beds_nursing", "beds_free", "grade")
FIELD_ZH = {"name": "名称", "kind": "类型", "beds_total": "床位", "beds_nursing": "护理型床位", "beds_free": "空余床位",
            "services": "服务项目", "grade": "等级"}
"""The editable fields in the words of the pages and the change files, for messages."""


def new_scenario(name: str, *, base_version: str, description: str = "", minutes: float | None = None,
                 mode: Mode | None = None, walk_speed_kmh: float | None = None,
                 changes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A scenario dict (not saved: see :func:`data.store.save_scenario`)."""
    if name == BASE:
        raise ScenarioError("“base”是现状的保留名称，请换一个方案名称", "'base' is reserved for the region as it is")
    if mode is not None and mode not in ("walk", "drive"):
        raise ScenarioError(f"出行方式须为 walk 或 drive（收到 {mode}）", f"bad mode {mode!r}")
    return {"name": name, "base_version": base_version, "description": description,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "minutes": minutes, "mode": mode, "walk_speed_kmh": walk_speed_kmh,
            "changes": [check_change(c, i) for i, c in enumerate(changes or [])]}


def base_scenario(region: Region) -> dict[str, Any]:
    """The region as it is, as a scenario."""
    return {"name": BASE, "base_version": region.path.name, "description": "现状", "minutes": None,
            "mode": None, "walk_speed_kmh": None, "changes": []}


def outside_region(lon: float, lat: float, extent: Extent, *, margin_m: float) -> bool:
    """Whether a point (degrees) lies farther than ``margin_m`` metres outside ``extent``
    (:func:`geo.coords.outside_extent`, the importer's rule); non-finite coordinates count as outside."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return True
    return bool(outside_extent(lon, lat, extent, margin_m))


def region_extent_zh(extent: Extent, *, margin_m: float) -> str:
    """The region's extent in words, for messages: "经度 a–b，纬度 c–d（允许外扩 m 米）"."""
    minx, miny, maxx, maxy = extent
    return f"经度 {minx:.4f}–{maxx:.4f}，纬度 {miny:.4f}–{maxy:.4f}（允许外扩 {margin_m:g} 米）"


def region_extent(region: Region) -> Extent | None:
    """``(min_lon, min_lat, max_lon, max_lat)`` of the region's roads in degrees (None without roads):
    the extent new facilities must lie in, as for imported files."""
    nodes = region.layers.get("road_nodes")
    if nodes is None or len(nodes) == 0:
        return None
    return road_extent(nodes)


def check_change(change: dict[str, Any], position: int = 0, *, extent: Extent | None = None,
                 margin_m: float = 1000.0) -> dict[str, Any]:
    """A change with its fields checked and typed; raises :class:`ScenarioError` naming what is wrong.

    Parameters
    ----------
    change
        One change (see the module docstring).
    position
        Its index in the scenario, for messages ("第 n 项修改").
    extent
        ``(min_lon, min_lat, max_lon, max_lat)`` of the region in degrees (:func:`region_extent`); when
        given, an added facility more than ``margin_m`` metres outside it is refused.
    margin_m
        Tolerance around ``extent`` in metres (``settings.region_margin_m``).
    """
    where = f"第 {position + 1} 项修改"
    op = change.get("op")
    if op not in OPS:
        raise ScenarioError(f"{where}：操作须为 add（新增）、close（关闭）或 set（修改），收到 {op!r}",
                            f"change {position}: op must be one of {OPS}")
    fid = str(change.get("id") or "").strip()
    if not fid:
        raise ScenarioError(f"{where}：缺少设施编号", f"change {position}: missing id")
    out: dict[str, Any] = {"op": op, "id": fid}
    if op == "add":
        for key in ("lon", "lat"):
            try:
                out[key] = float(change[key])
            except (KeyError, TypeError, ValueError):
                raise ScenarioError(f"{where}：新增设施需要数值型的经度和纬度（收到“{change.get(key, '')}”）",
                                    f"change {position}: bad {key}") from None
        if not (-180 <= out["lon"] <= 180 and -90 <= out["lat"] <= 90):
            raise ScenarioError(f"{where}：坐标 ({out['lon']}, {out['lat']}) 不是有效的经纬度", f"change {position}: bad lon/lat")
        out["name"] = str(change.get("name") or f"新增设施{fid}")
        if extent is not None and outside_region(out["lon"], out["lat"], extent, margin_m=margin_m):
            raise ScenarioError(
                f"{where}：新增设施“{out['name']}”的位置（经度 {out['lon']:.6f}，纬度 {out['lat']:.6f}）在本地区范围之外"
                f"（本地区范围：{region_extent_zh(extent, margin_m=margin_m)}）；请在地图上重新点选，或检查经纬度是否填反、"
                "是否为 WGS-84 坐标",
                f"change {position}: point ({out['lon']}, {out['lat']}) lies outside the region extent {tuple(extent)} "
                f"(margin {margin_m:g} m)")
        out["kind"] = str(change.get("kind") or "")
        fields = {k: change[k] for k in EDITABLE if k in change and k not in ("name", "kind")}
        out.update(_typed_fields(fields, where, position))
    elif op == "set":
        fields = change.get("fields") or {}
        unknown = sorted(set(fields) - set(EDITABLE))
        if unknown or not fields:
            raise ScenarioError(f"{where}：可修改的字段为 {'、'.join(FIELD_ZH[f] for f in EDITABLE)}"
                                f"（收到 {'、'.join(map(str, unknown)) or '无'}）",
                                f"change {position}: editable fields are {EDITABLE}")
        out["fields"] = {**_typed_fields({k: v for k, v in fields.items() if k in _INT_FIELDS or k == "services"},
                                         where, position),
                         **{k: str(v) for k, v in fields.items() if k in ("name", "kind")}}
    return out


def _typed_fields(fields: dict[str, Any], where: str, position: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _INT_FIELDS:
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise ScenarioError(f"{where}：{FIELD_ZH[key]}须为 0 或正整数（收到“{value}”）",
                                    f"change {position}: {key} not an integer") from None
            if number < 0:
                raise ScenarioError(f"{where}：{FIELD_ZH[key]}不能为负数，须为 0 或正整数（收到 {number}）",
                                    f"change {position}: {key} negative")
            out[key] = number
        elif key == "services":
            out[key] = [s for s in (value.split("、") if isinstance(value, str) else list(value)) if s]
    return out


def apply_changes(facilities: gpd.GeoDataFrame, changes: list[dict[str, Any]], *,
                  settings: Settings, extent: Extent | None = None) -> gpd.GeoDataFrame:
    """The facilities layer after the changes, in order (the input is not modified).

    With ``extent`` (the region's, :func:`region_extent`), a facility added more than
    ``settings.region_margin_m`` metres outside it raises :class:`ScenarioError`.
    """
    fac = facilities.copy()
    ids = fac["id"].astype(str)
    for i, raw in enumerate(changes):
        change = check_change(raw, i, extent=extent, margin_m=settings.region_margin_m)
        fid = change["id"]
        where = f"第 {i + 1} 项修改"
        present = ids == fid
        if change["op"] == "add":
            if present.any():
                raise ScenarioError(f"{where}：设施编号 {fid} 已存在", f"change {i}: id {fid!r} exists")
            if change["kind"] not in settings.facility_kinds:
                raise ScenarioError(f"{where}：设施类型“{change['kind']}”不在允许的类型中：{'、'.join(settings.facility_kinds)}",
                                    f"change {i}: unknown kind {change['kind']!r}")
            row = {c: None for c in fac.columns if c != "geometry"}
            row.update({"id": fid, "name": change["name"], "kind": change["kind"], "lon": change["lon"],
                        "lat": change["lat"], "services": change.get("services", []),
                        "beds_total": change.get("beds_total", 0), "beds_nursing": change.get("beds_nursing", 0),
                        "beds_free": change.get("beds_free", change.get("beds_total", 0)),
                        "h3": hexes.cells_for_points(np.array([change["lon"]]), np.array([change["lat"]]),
                                                     settings.h3_resolution)[0]})
            if "synthetic" in fac.columns:
                row["synthetic"] = False
            added = gpd.GeoDataFrame([row], geometry=[shapely.Point(change["lon"], change["lat"])], crs=fac.crs)
            fac = pd.concat([fac, added.astype({c: fac[c].dtype for c in ("beds_total", "beds_nursing", "beds_free")
                                                if c in fac.columns and fac[c].dtype.kind in "iuf"})],
                            ignore_index=True)
        else:
            if not present.any():
                raise ScenarioError(f"{where}：没有编号为 {fid} 的设施（可能已在前面的修改中关闭）",
                                    f"change {i}: no facility {fid!r}")
            if change["op"] == "close":
                fac = fac[~present.to_numpy()].reset_index(drop=True)
            else:
                for key, value in change["fields"].items():
                    if key == "kind" and value not in settings.facility_kinds:
                        raise ScenarioError(f"{where}：设施类型“{value}”不在允许的类型中", f"change {i}: unknown kind")
                    if key == "services":
                        fac[key] = fac[key].astype(object)
                        for row in np.flatnonzero(present.to_numpy()):
                            fac.at[row, key] = value
                    else:
                        fac.loc[present.to_numpy(), key] = value
        ids = fac["id"].astype(str)
    return gpd.GeoDataFrame(fac, geometry="geometry", crs=facilities.crs)


@dataclass(frozen=True)
class Applied:
    """A scenario applied to a region: the region with its new facilities, the settings, the circle."""

    region: Region
    settings: Settings
    minutes: float
    mode: Mode


def apply_scenario(region: Region, scenario: dict[str, Any], *, settings: Settings,
                   minutes: float | None = None, mode: Mode | None = None) -> Applied:
    """The region as the scenario would make it. Explicit ``minutes``/``mode`` win over the scenario's."""
    if scenario.get("base_version") and scenario["base_version"] != region.path.name:
        log.warning("scenario %r was made on version %s; applying it to %s", scenario.get("name"),
                    scenario["base_version"], region.path.name)
    s = settings
    if scenario.get("walk_speed_kmh"):
        s = dataclasses.replace(settings, walk_speed_kmh=float(scenario["walk_speed_kmh"]))
    fac = apply_changes(region.facilities, scenario.get("changes", []), settings=s, extent=region_extent(region))
    layers = {**region.layers, "facilities": fac}
    changed = dataclasses.replace(region, layers=layers)
    use_minutes = float(minutes if minutes is not None else scenario.get("minutes") or max(s.circle_minutes))
    use_mode = mode or scenario.get("mode") or "walk"
    return Applied(changed, s, use_minutes, use_mode)


def evaluate(region: Region, scenario: dict[str, Any], *, settings: Settings, minutes: float | None = None,
             mode: Mode | None = None, kind: str | None = None, by: AreaLevel = "street") -> dict[str, pd.DataFrame]:
    """Coverage and bed accessibility of a scenario.

    Returns ``coverage`` (per area at ``by``, total last), ``cells`` (per H3 cell: ``elders``,
    ``covered``), ``access`` (beds per 1,000 elders within reach, per area) and ``per_elder``
    (``covered`` per elder, aligned with ``region.elders``).
    """
    applied = apply_scenario(region, scenario, settings=settings, minutes=minutes, mode=mode)
    r, s = applied.region, applied.settings
    table, per_elder = region_coverage(r, settings=s, minutes=applied.minutes, mode=applied.mode, kind=kind, by=by)
    covered = per_elder["travel_time_min"].to_numpy() <= applied.minutes
    cells = (pd.DataFrame({"h3": point_cells(r.elders, s.h3_resolution).astype(object).to_numpy(), "elders": 1,
                           "covered": covered.astype(int)})
             .groupby("h3", sort=True).sum().reset_index())
    try:
        _, access = region_accessibility(r, settings=s, minutes=applied.minutes, mode=applied.mode, kind=kind, by=by)
    except Exception as exc:  # no facility with beds of that kind: accessibility is not defined
        log.info("accessibility not computed: %s", exc)
        access = pd.DataFrame(columns=["code", "name", "elders", "beds_per_1000"])
    return {"coverage": table, "cells": cells, "access": access,
            "per_elder": pd.DataFrame({"covered": covered}, index=r.elders.index),
            "meta": pd.DataFrame([{"scenario": scenario.get("name"), "minutes": applied.minutes, "mode": applied.mode,
                                   "kind": kind or "全部类型", "facilities": len(r.facilities)}])}


def compare(region: Region, a: dict[str, Any], b: dict[str, Any], *, settings: Settings,
            minutes: float | None = None, mode: Mode | None = None, kind: str | None = None,
            by: AreaLevel = "street") -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Scenario ``b`` minus scenario ``a``: per-area deltas and the H3 cells that gain or lose coverage.

    Both are evaluated with the same circle: ``minutes``/``mode`` when given, else ``b``'s own,
    else ``a``'s, else the settings' largest circle.

    Returns
    -------
    areas
        ``code``, ``name``, ``elders``, ``covered_a``, ``covered_b``, ``covered_delta``,
        ``coverage_pct_a``, ``coverage_pct_b``, ``coverage_pct_delta``, ``beds_per_1000_a``,
        ``beds_per_1000_b``, ``beds_per_1000_delta`` (total row "合计" last).
    cells
        EPSG:4326 hexagons where the number of covered elders differs: ``h3``, ``elders``,
        ``covered_a``, ``covered_b``, ``covered_delta``, ``change`` ("增加覆盖" or "失去覆盖").
    """
    # one circle for both: the explicit one, else the scenarios' own (b's first), else the settings'
    minutes = minutes if minutes is not None else (b.get("minutes") or a.get("minutes"))
    mode = mode or b.get("mode") or a.get("mode")
    ea = evaluate(region, a, settings=settings, minutes=minutes, mode=mode, kind=kind, by=by)
    eb = evaluate(region, b, settings=settings, minutes=minutes, mode=mode, kind=kind, by=by)
    keys = ["code", "name", "elders"]
    cov = ea["coverage"][keys + ["covered", "coverage_pct"]].merge(
        eb["coverage"][["code", "covered", "coverage_pct"]], on="code", suffixes=("_a", "_b"), how="outer")
    cov["covered_delta"] = cov["covered_b"] - cov["covered_a"]
    cov["coverage_pct_delta"] = (cov["coverage_pct_b"] - cov["coverage_pct_a"]).round(2)
    acc = ea["access"][["code", "beds_per_1000"]].merge(eb["access"][["code", "beds_per_1000"]], on="code",
                                                        suffixes=("_a", "_b"), how="outer")
    acc["beds_per_1000_delta"] = (acc["beds_per_1000_b"] - acc["beds_per_1000_a"]).round(3)
    areas = cov.merge(acc, on="code", how="left")
    total = areas["code"] == TOTAL_CODE
    areas = pd.concat([areas[~total], areas[total]], ignore_index=True)
    areas = areas[["code", "name", "elders", "covered_a", "covered_b", "covered_delta", "coverage_pct_a",
                   "coverage_pct_b", "coverage_pct_delta", "beds_per_1000_a", "beds_per_1000_b", "beds_per_1000_delta"]]
    cells = ea["cells"].merge(eb["cells"][["h3", "covered"]], on="h3", suffixes=("_a", "_b"))
    cells["covered_delta"] = cells["covered_b"] - cells["covered_a"]
    cells = cells[cells["covered_delta"] != 0].reset_index(drop=True)
    cells["change"] = np.where(cells["covered_delta"] > 0, "增加覆盖", "失去覆盖")
    cells = gpd.GeoDataFrame(cells, geometry=[hexes.cell_polygon(c) for c in cells["h3"]], crs="EPSG:4326")
    return areas, cells
