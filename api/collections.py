"""The public collections of the OGC API, as lists of GeoJSON features computed from one region version.

Every collection is a function of (region, settings), computed with the planning functions the app and the CLI
call, and cached per (regions root, region, version, settings digest, collection) in this process:

- ``facilities``: the public facility fields (:data:`layers.facilities.PUBLIC_FACILITY_FIELDS`) and the point;
- ``areas``: each area (district, street, community) with its elders (suppressed below
  ``settings.suppression_threshold``) and walking coverage per facility kind, minutes
  (``settings.circle_minutes``) and walking profile (``settings.walk_profiles``);
- ``isochrones``: per facility, the street-following walking service circle at each of ``settings.circle_minutes``;
- ``coverage-cells``: H3 cells with elders, covered and share per circle minutes (walking, any facility).

Elder records are read only to count them; no elder field leaves this module. A count is published only when it
can single nobody out (:func:`suppress`).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import shapely.geometry

from data import store
from geo.settings import Settings, settings_digest
from layers.facilities import PUBLIC_FACILITY_FIELDS, json_safe, public_facility_records

log = logging.getLogger(__name__)

COLLECTIONS: dict[str, tuple[str, str]] = {
    "facilities": ("养老服务设施 Elderly-care facilities",
                   "养老服务设施的公开信息（名称、类型、服务、床位、收费、电话、地址）。Public facility fields only."),
    "areas": ("区划与服务圈覆盖率 Areas and service-circle coverage",
              ("区县、街道、社区边界及各类设施在各分钟数、各步行速度下的老年人覆盖率（小数目已隐去）。"
               "Areas with walking coverage per facility kind, minutes and walking profile; small counts suppressed.")),
    "isochrones": ("设施服务圈 Facility service circles",
                   "每处设施沿道路步行可达的服务圈（各设置分钟数）。Street-following walking isochrones per facility."),
    "coverage-cells": ("网格覆盖 Coverage by H3 cell",
                       ("按 H3 网格汇总的老年人数、被覆盖人数和覆盖率；少于阈值的数目不公布。"
                        "H3 aggregates of elders, covered and share; counts under the threshold are suppressed.")),
}
"""Collection id -> (title, description), Chinese first."""

ANY_KIND = "any"
"""The kind label of coverage by any facility elders visit."""


@dataclass(frozen=True)
class FeatureTable:
    """One collection: features (GeoJSON dicts with ``id``), their bounds, field types and extent."""

    features: list[dict[str, Any]]
    bounds: np.ndarray  # (n, 4) minx, miny, maxx, maxy
    fields: dict[str, dict[str, str]]
    version: str
    index: dict[str, int] = field(default_factory=dict)

    @property
    def extent(self) -> list[float]:
        if not len(self.bounds):
            return [-180.0, -90.0, 180.0, 90.0]
        finite = self.bounds[np.isfinite(self.bounds).all(axis=1)]
        if not len(finite):
            return [-180.0, -90.0, 180.0, 90.0]
        return [float(finite[:, 0].min()), float(finite[:, 1].min()), float(finite[:, 2].max()),
                float(finite[:, 3].max())]


def suppress(elders: int, covered: int, threshold: int) -> dict[str, Any]:
    """Elders, covered and share (%) of one cell or area as published.

    The rule of the public maps: an area with fewer than ``threshold`` elders shows no number. An API response is
    a table, where ``elders - covered`` is read off as easily as ``covered``; so covered and share are also
    withheld when either the covered or the uncovered elders number 1 to ``threshold - 1``. Published counts are
    therefore 0 or at least ``threshold``.
    """
    elders, covered = int(elders), int(covered)
    if elders < threshold:
        return {"elders": None, "covered": None, "share": None, "suppressed": True}
    small = [n for n in (covered, elders - covered) if 0 < n < threshold]
    if small:
        return {"elders": elders, "covered": None, "share": None, "suppressed": True}
    share = round(100.0 * covered / elders, 2) if elders else None
    return {"elders": elders, "covered": covered, "share": share, "suppressed": False}


def _geometry(geom: Any) -> dict[str, Any] | None:
    if geom is None or shapely.is_empty(geom):
        return None
    return shapely.geometry.mapping(geom)


def _bounds(geoms: Any) -> np.ndarray:
    arr = np.asarray(list(geoms), dtype=object)
    if not len(arr):
        return np.zeros((0, 4))
    return shapely.bounds(arr).astype("float64")


def _field_type(values: list[Any]) -> str:
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            return "boolean"
        if isinstance(v, int):
            return "integer"
        if isinstance(v, float):
            return "number"
        if isinstance(v, list):
            return "array"
        return "string"
    return "string"


def _table(ids: list[str], props: list[dict[str, Any]], geoms: list[Any], version: str,
           order: list[str] | None = None) -> FeatureTable:
    features = [{"type": "Feature", "id": i, "geometry": _geometry(g), "properties": p}
                for i, p, g in zip(ids, props, geoms, strict=True)]
    names = order or (list(props[0]) if props else [])
    fields = {}
    for name in names:
        kind = _field_type([p.get(name) for p in props])
        fields[name] = {"type": kind, **({"items": {"type": "string"}} if kind == "array" else {})}
    return FeatureTable(features, _bounds(geoms), fields, version, {i: k for k, i in enumerate(ids)})


def facilities_table(region: store.Region, settings: Settings) -> FeatureTable:
    """Public facility fields and points; the feature id is the facility's register id."""
    facilities = region.facilities
    records = public_facility_records(facilities)
    ids = [str(i) for i in facilities["id"]] if "id" in facilities else [str(k) for k in range(len(facilities))]
    return _table(ids, records, list(facilities.geometry), region.version, order=list(PUBLIC_FACILITY_FIELDS))


def _area_level_rows(region: store.Region) -> dict[str, list[int]]:
    from geo.areas import level_of

    areas = region.areas
    if areas.empty:
        return {}
    levels = level_of(areas)
    out: dict[str, list[int]] = {}
    for k, level in enumerate(levels):
        out.setdefault(str(level), []).append(k)
    return out


def coverage_key(kind: str, minutes: float, profile: str) -> str:
    """Property name of an area's coverage share: ``coverage_pct:养老机构:15min:规划`` (kind ``any``: any facility)."""
    return f"coverage_pct:{kind}:{minutes:g}min:{profile}"


def areas_table(region: store.Region, settings: Settings) -> FeatureTable:
    """Areas with elders and walking coverage (share, %) per kind, minutes and walking profile."""
    from planning.coverage import coverage_by_area, profile_settings, region_coverage
    from planning.summary import kinds_in_order

    areas = region.areas
    threshold = settings.suppression_threshold
    levels = _area_level_rows(region)
    profiles = [name for name, _ in settings.walk_profiles]
    kinds: list[str | None] = [None, *kinds_in_order(region.facilities, settings, unknown=False)]
    minutes = sorted(settings.circle_minutes)
    # (level, code) -> property dict
    values: dict[tuple[str, str], dict[str, Any]] = {}
    elders_of: dict[tuple[str, str], int] = {}
    if region.elders.empty or region.road_edges.empty:
        kinds = []  # nothing to cover, or no street to walk along: areas without figures
    for kind in kinds:
        for profile in profiles:
            _, per_elder = region_coverage(region, settings=profile_settings(settings, profile), minutes=minutes[-1],
                                           kind=kind, by="community")
            times = per_elder["travel_time_min"].to_numpy(dtype="float64")
            counted = per_elder["counted"].to_numpy(dtype=bool)
            for level in levels:
                for m in minutes:
                    table = coverage_by_area(region.elders, times, minutes=m, by=level, areas=areas, counted=counted)
                    for row in table.itertuples(index=False):
                        key = (level, str(row.code))
                        elders_of[key] = int(row.elders)
                        shown = suppress(int(row.elders), int(row.covered), threshold)
                        values.setdefault(key, {})[coverage_key(kind or ANY_KIND, m, profile)] = shown["share"]
    ids, props, geoms = [], [], []
    for level, rows in levels.items():
        for k in rows:
            area = areas.iloc[k]
            code = str(area["code"])
            key = (level, code)
            n = elders_of.get(key, 0)
            prop = {"code": code, "name": json_safe(area.get("name")), "level": level,
                    "parent_code": json_safe(area.get("parent_code")),
                    "elders": n if n >= threshold else None}
            prop.update(values.get(key, {}))
            ids.append(code)
            props.append(prop)
            geoms.append(area.geometry)
    return _table(ids, props, geoms, region.version)


def isochrones_table(region: store.Region, settings: Settings) -> FeatureTable:
    """Per facility, the (cumulative) walking service circle at each of ``settings.circle_minutes``."""
    from planning.coverage import network_for
    from planning.isochrones import facility_isochrones
    from planning.network import snap_points

    facilities = region.facilities
    if facilities.empty or region.road_edges.empty:  # no facility, or no street to walk along
        return _table([], [], [], region.version)
    network = network_for(region, "walk", settings)
    snap = snap_points(network, facilities, settings=settings)
    ids_in = [str(i) for i in facilities["id"]]
    frame = facility_isochrones(network, snap, ids_in, minutes=sorted(settings.circle_minutes), bands=False,
                                snap_limit_m=settings.snap_limit_m)
    names = dict(zip(ids_in, facilities["name"].map(json_safe), strict=True))
    kinds = dict(zip(ids_in, facilities["kind"].map(json_safe), strict=True))
    minutes_col = "minutes" if "minutes" in frame.columns else "upper_min"
    ids, props, geoms = [], [], []
    for row in frame.itertuples(index=False):
        fid = str(row.facility_id)
        m = float(getattr(row, minutes_col))
        ids.append(f"{fid}-{m:g}")
        props.append({"facility_id": fid, "facility_name": names.get(fid), "kind": kinds.get(fid),
                      "minutes": m, "mode": "walk", "area_km2": round(float(row.area_km2), 4)})
        geoms.append(row.geometry)
    return _table(ids, props, geoms, region.version)


def coverage_cells_table(region: store.Region, settings: Settings) -> FeatureTable:
    """H3 cells with elders, covered and share per circle minutes (walking, any facility), suppressed."""
    from geo import hexes
    from layers.planning import h3_cells_frame
    from planning.coverage import coverage_by_area, region_coverage

    minutes = sorted(settings.circle_minutes)
    if region.elders.empty or region.road_edges.empty:
        return _table([], [], [], region.version)
    _, per_elder = region_coverage(region, settings=settings, minutes=minutes[-1], by="h3")
    times = per_elder["travel_time_min"].to_numpy(dtype="float64")
    counted = per_elder["counted"].to_numpy(dtype=bool)
    ids, props, geoms = [], [], []
    for m in minutes:
        cells = h3_cells_frame(coverage_by_area(region.elders, times, minutes=m, by="h3", counted=counted))
        for row in cells.itertuples(index=False):
            cell = str(row.code)
            ids.append(f"{cell}-{m:g}")
            props.append({"h3": cell, "resolution": hexes.resolution_of(cell), "minutes": float(m), "mode": "walk",
                          **suppress(int(row.elders), int(row.covered), settings.suppression_threshold)})
            geoms.append(row.geometry)
    return _table(ids, props, geoms, region.version)


_STATIC_FIELDS: dict[str, dict[str, str]] = {
    "isochrones": {"facility_id": "string", "facility_name": "string", "kind": "string", "minutes": "number",
                   "mode": "string", "area_km2": "number"},
    "coverage-cells": {"h3": "string", "resolution": "integer", "minutes": "number", "mode": "string",
                       "elders": "integer", "covered": "integer", "share": "number", "suppressed": "boolean"},
}


def collection_fields(collection: str, name: str, settings: Settings, *,
                      root: str | Path | None = None) -> dict[str, dict[str, str]]:
    """Property names and JSON types of a collection, without computing it (facilities excepted: cheap)."""
    from planning.summary import kinds_in_order

    if collection == "facilities":
        return dict(feature_table("facilities", name, settings, root=root).fields)
    if collection in _STATIC_FIELDS:
        return {k: {"type": v} for k, v in _STATIC_FIELDS[collection].items()}
    if collection != "areas":
        raise KeyError(collection)
    region = current_region(name, root=root)
    fields = {"code": "string", "name": "string", "level": "string", "parent_code": "string", "elders": "integer"}
    if not (region.elders.empty or region.road_edges.empty):
        for kind in [ANY_KIND, *kinds_in_order(region.facilities, settings, unknown=False)]:
            for profile, _ in settings.walk_profiles:
                for m in sorted(settings.circle_minutes):
                    fields[coverage_key(kind, m, profile)] = "number"
    return {k: {"type": v} for k, v in fields.items()}


BUILDERS: dict[str, Callable[[store.Region, Settings], FeatureTable]] = {
    "facilities": facilities_table,
    "areas": areas_table,
    "isochrones": isochrones_table,
    "coverage-cells": coverage_cells_table,
}

_CACHE: dict[tuple[str, str, str, str, str], FeatureTable] = {}
_REGIONS: dict[tuple[str, str, str], store.Region] = {}
_LOCK = threading.Lock()
_BUILD_LOCKS: dict[tuple[str, ...], threading.Lock] = {}


VERSION_TTL_S = 1.0
"""How long a looked-up current version is trusted: a new import is served at most this long after it is made."""
_VERSIONS: dict[tuple[str, str], tuple[float, str]] = {}


def _root_key(root: str | Path | None) -> str:
    """The store ``root`` names, as a cache key (a database URL or an absolute folder)."""
    url = store.database_url(root)
    if url:
        return url
    folder = store.regions_root(root)
    if folder.is_absolute():  # every request asks: resolve each absolute folder once
        return _resolved(str(folder))
    return str(folder.resolve())


@functools.lru_cache(maxsize=64)
def _resolved(folder: str) -> str:
    return str(Path(folder).resolve())


def _current_version(name: str, root: str | Path | None) -> str:
    key = (_root_key(root), name)
    now = time.monotonic()
    with _LOCK:
        seen = _VERSIONS.get(key)
    if seen is not None and now - seen[0] < VERSION_TTL_S:
        return seen[1]
    version = store.current_version(name, root=root)
    with _LOCK:
        _VERSIONS[key] = (now, version)
    return version


def current_region(name: str, *, root: str | Path | None = None) -> store.Region:
    """The region's current version, loaded once per version in this process (the current version is looked
    up at most once per :data:`VERSION_TTL_S`)."""
    version = _current_version(name, root)
    key = (_root_key(root), name, version)
    with _LOCK:
        if key in _REGIONS:
            return _REGIONS[key]
    region = store.load_region(name, root=root)
    with _LOCK:
        for old in [k for k in _REGIONS if k[:2] == key[:2] and k != (key[0], key[1], region.version)]:
            del _REGIONS[old]
        _REGIONS[(key[0], key[1], region.version)] = region
    return region


def feature_table(collection: str, name: str, settings: Settings, *, root: str | Path | None = None) -> FeatureTable:
    """The features of ``collection`` for the current version of region ``name`` (cached per version)."""
    if collection not in BUILDERS:
        raise KeyError(collection)
    region = current_region(name, root=root)
    key = (_root_key(root), name, region.version, settings_digest(settings), collection)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        build_lock = _BUILD_LOCKS.setdefault(key, threading.Lock())
    with build_lock:  # one computation per key, however many requests arrive at once
        with _LOCK:
            if key in _CACHE:
                return _CACHE[key]
        table = BUILDERS[collection](region, settings)
        with _LOCK:
            for old in [k for k in _CACHE if k[:2] == key[:2] and k[4] == collection and k != key]:
                del _CACHE[old]
            _CACHE[key] = table
    log.info("api: %s of %s (%s): %d features", collection, name, region.version, len(table.features))
    return table


__all__ = ["ANY_KIND", "COLLECTIONS", "FeatureTable", "collection_fields", "coverage_key", "current_region", "feature_table", "suppress"]
