"""Who is covered within the service circle: travel times of elders to facilities, aggregated by area.

Functions of (region layers, settings): :func:`elder_access` gives every elder's
travel time to the nearest facility of each kind and of any kind — one
multi-source Dijkstra pass per kind (:func:`planning.routing.nearest`), never
one search per facility; :func:`coverage_by_area` turns those times into
coverage per community, street, district or H3 cell, also for elders aged 80+
and for moderately-to-completely disabled elders, with an optional weighted
variant. Networks are cached per (region version, mode, settings).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.store import Region
from geo.areas import AreaLevel, area_groups, area_key, area_names, pct, point_cells, sum_by_area
from geo.labels import TOTAL_CODE
from geo.settings import Settings
from planning.network import Mode, Network, Snap, build_network, snap_points
from planning.routing import nearest
from planning.summary import kinds_in_order

log = logging.getLogger(__name__)

ANY = "any"
"""Group name of "any facility kind"."""
DISABLED_MIN_CODE = 2
"""Ability codes 2–4 (中度失能, 重度失能, 完全失能: GB/T 42195) count as disabled in coverage tables."""

_NETWORKS: dict[tuple[str, str, Settings], Network] = {}
_ELDER_SNAPS: dict[tuple[str, str, Settings], Snap] = {}
_CACHED = 8
"""Networks (and elder snaps) kept per process; the oldest goes first. The key holds the region's
version folder, so an import (a new version) never meets a stale entry."""


def _remember(cache: dict, key: tuple, make) -> object:
    if key not in cache:
        if len(cache) >= _CACHED:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


def network_for(region: Region, mode: Mode, settings: Settings) -> Network:
    """The region's network for a mode, built once per (region version, mode, settings) in this process."""
    return _remember(_NETWORKS, (str(region.path), mode, settings),
                     lambda: build_network(region.road_edges, mode=mode, settings=settings))


_FACILITY_SNAPS: dict[tuple[str, str, Settings], Snap] = {}


def facility_snap_for(region: Region, mode: Mode, settings: Settings) -> Snap:
    """The region's facilities snapped to its network, once per (region version, facilities, mode, settings).

    The key includes a fingerprint of the facilities' ids and positions, so a scenario's changed
    facilities (same version folder) are snapped afresh.
    """
    fac = region.facilities
    xy = shapely.get_coordinates(fac.geometry.values) if len(fac) else np.zeros((0, 2))
    fingerprint = hashlib.sha256("\x1f".join(fac["id"].astype(str)).encode() + xy.tobytes()).hexdigest() \
        if "id" in fac else str(len(fac))
    return _remember(_FACILITY_SNAPS, (str(region.path), fingerprint, mode, settings),
                     lambda: snap_points(network_for(region, mode, settings), region.facilities, settings=settings))


def elder_snap_for(region: Region, mode: Mode, settings: Settings) -> Snap:
    """The region's elders snapped to its network, once per (region version, mode, settings)."""
    return _remember(_ELDER_SNAPS, (str(region.path), mode, settings),
                     lambda: snap_points(network_for(region, mode, settings), region.elders, settings=settings))


def elder_access(
    network: Network,
    facilities: gpd.GeoDataFrame,
    elders: gpd.GeoDataFrame,
    *,
    settings: Settings,
    kinds: Sequence[str] | None = None,
    max_minutes: float = np.inf,
    elder_snap: Snap | None = None,
) -> pd.DataFrame:
    """Travel time of every elder to the nearest facility of each kind and of any kind.

    Parameters
    ----------
    network
        Walking or driving network (:func:`planning.network.build_network`).
    facilities, elders
        Region layers (points, any CRS). Facilities need ``id`` and ``kind``.
    kinds
        Kinds to report separately (default: the kinds present, in settings order).
    max_minutes
        Search limit; farther elders get ``inf`` (faster on large regions).
    elder_snap
        The elders already snapped to ``network`` (for example :func:`elder_snap_for`); snapped here if None.

    Returns
    -------
    DataFrame aligned with ``elders`` (same index): ``snapped`` (bool), ``access_m`` (metres from
    home to the road), and per group g in ``["any", *kinds]``: ``time_min:g`` (minutes, ``inf``
    if unreachable) and ``facility_id:g`` (nearest facility's id, None if none).
    """
    kinds = list(kinds_in_order(facilities, settings, unknown=False) if kinds is None else kinds)
    fac_snap = snap_points(network, facilities, settings=settings)
    eld_snap = snap_points(network, elders, settings=settings) if elder_snap is None else elder_snap
    if len(eld_snap) != len(elders):
        raise ValueError(f"elder_snap has {len(eld_snap)} points for {len(elders)} elders")
    out = pd.DataFrame({"snapped": eld_snap.snapped, "access_m": eld_snap.access_m}, index=elders.index)
    ids = facilities["id"].astype(object).to_numpy()
    kind_of = facilities["kind"].astype(object).to_numpy()
    for group in [ANY, *kinds]:
        mask = np.ones(len(facilities), dtype=bool) if group == ANY else kind_of == group
        sub = _subset(fac_snap, mask)
        result = nearest(network, sub, eld_snap, max_minutes=max_minutes)
        out[f"time_min:{group}"] = result.time_min
        out[f"facility_id:{group}"] = np.where(result.source >= 0, ids[np.clip(result.source, 0, None)], None)
    log.info("travel times of %d elders to %d facilities (%s, %d groups)", len(elders), len(facilities),
             network.mode, len(kinds) + 1)
    return out


def _subset(snap: Snap, mask: np.ndarray) -> Snap:
    """A Snap where sources outside ``mask`` are unsnapped (positions kept, so source indices stay valid)."""
    edge = np.where(mask, snap.edge, -1)
    return Snap(edge, snap.t, snap.access_m, snap.access_min)


def elder_flags(elders: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per elder: aged 80+ (``oldest_old``) and disabled (``ability_code`` 2–4, :data:`DISABLED_MIN_CODE`),
    as two boolean arrays; False where the column or the value is missing."""
    n = len(elders)
    old = (elders["oldest_old"].astype("boolean").fillna(False).to_numpy(dtype=bool) if "oldest_old" in elders
           else np.zeros(n, dtype=bool))
    ability = (pd.to_numeric(elders["ability_code"], errors="coerce").to_numpy(dtype="float64")
               if "ability_code" in elders else np.full(n, np.nan))
    return old, np.nan_to_num(ability, nan=-1) >= DISABLED_MIN_CODE


def coverage_by_area(
    elders: gpd.GeoDataFrame,
    time_min: pd.Series | np.ndarray,
    *,
    minutes: float,
    by: AreaLevel,
    areas: gpd.GeoDataFrame | None = None,
    weights: pd.Series | np.ndarray | None = None,
) -> pd.DataFrame:
    """Coverage within ``minutes`` per area, with an all-region total row last.

    Parameters
    ----------
    elders
        Elders layer (needs the area column of ``by``, ``oldest_old`` and ``ability_code``).
    time_min
        Each elder's travel time to the nearest facility (aligned with ``elders``).
    by
        "community", "street", "district" or "h3".
    areas
        Areas layer, for names.
    weights
        Optional weight per elder (for example 2 for living alone); adds weighted columns.

    Returns
    -------
    One row per area: ``code``, ``name``, ``elders``, ``covered``, ``coverage_pct``, the same for
    ``_80plus`` and ``_disabled`` (ability codes 2–4), ``weighted_elders``/``weighted_covered``/
    ``weighted_coverage_pct`` when weights are given. The last row (code "合计") is the region total, so
    areas reconcile with it. Elders with no code at that level are grouped under code "未归属".
    """
    times = np.asarray(time_min, dtype="float64")
    covered = times <= minutes
    group, codes_at_level = area_groups(elders, by)
    old, disabled = elder_flags(elders)
    columns = {"elders": np.ones(len(elders), dtype=np.int64), "covered": covered,
               "elders_80plus": old, "covered_80plus": old & covered,
               "elders_disabled": disabled, "covered_disabled": disabled & covered}
    if weights is not None:
        w = np.asarray(weights, dtype="float64")
        columns["weighted_elders"] = w
        columns["weighted_covered"] = w * covered
    table = sum_by_area(group, codes_at_level, columns)
    for suffix in ("", "_80plus", "_disabled"):
        table[f"coverage{suffix}_pct"] = pct(table[f"covered{suffix}"], table[f"elders{suffix}"])
    if weights is not None:
        table["weighted_coverage_pct"] = pct(table["weighted_covered"], table["weighted_elders"])
    table.insert(1, "name", area_names(table["code"], areas))
    order = ["code", "name", "elders", "covered", "coverage_pct", "elders_80plus", "covered_80plus",
             "coverage_80plus_pct", "elders_disabled", "covered_disabled", "coverage_disabled_pct"]
    if weights is not None:
        order += ["weighted_elders", "weighted_covered", "weighted_coverage_pct"]
    return table[order]


def _facilities_of(region: Region, kind: str | None) -> gpd.GeoDataFrame:
    """The region's facilities, or those of one kind."""
    facilities = region.facilities
    return facilities if kind is None else facilities[facilities["kind"] == kind]


def _supply_catchments(region: Region, *, settings: Settings, minutes: float, mode: Mode, kind: str | None,
                       column: str) -> tuple[gpd.GeoDataFrame, np.ndarray, object]:
    """Facilities with a positive ``column`` (beds), their supply, and the facility × elder cost matrix."""
    from planning.catchments import catchment_matrix

    facilities = _facilities_of(region, kind)
    supply = (facilities[column].astype("float64").fillna(0).to_numpy() if column in facilities
              else np.zeros(len(facilities)))
    if (supply <= 0).any():
        log.info("%d facilities without %s left out", int((supply <= 0).sum()), column)
    facilities, supply = facilities[supply > 0], supply[supply > 0]
    network = network_for(region, mode, settings)
    cost = catchment_matrix(network, snap_points(network, facilities, settings=settings),
                            elder_snap_for(region, mode, settings), cutoff_min=minutes)
    return facilities, supply, cost


def region_coverage(
    region: Region,
    *,
    settings: Settings,
    minutes: float,
    mode: Mode = "walk",
    kind: str | None = None,
    by: AreaLevel = "community",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage table and per-elder times for a region: the function behind ``eldermap coverage``.

    Returns (coverage per area, per-elder table with ``pid``, ``facility_id``, ``travel_time_min``).
    """
    network = network_for(region, mode, settings)
    facilities = _facilities_of(region, kind)
    access = elder_access(network, facilities, region.elders, settings=settings, kinds=[],
                          elder_snap=elder_snap_for(region, mode, settings))
    times = access[f"time_min:{ANY}"]
    table = coverage_by_area(region.elders, times, minutes=minutes, by=by, areas=region.areas)
    per_elder = pd.DataFrame({
        "pid": region.elders["pid"].to_numpy(),
        "facility_id": access[f"facility_id:{ANY}"].to_numpy(),
        "travel_time_min": np.round(times.to_numpy(), 2),
        "snapped": access["snapped"].to_numpy(),
    })
    return table, per_elder


ACCESS_METHODS = ("2sfca", "e2sfca", "gaussian")


def region_accessibility(
    region: Region,
    *,
    settings: Settings,
    method: str = "2sfca",
    minutes: float = 15.0,
    mode: Mode = "walk",
    kind: str | None = None,
    by: AreaLevel = "community",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bed accessibility (2SFCA family) of the region's elders, per H3 cell and per area.

    Supply is each facility's ``beds_total`` (facilities without beds are left out and logged);
    demand is one per elder; the catchment is ``minutes`` of travel. ``method``: "2sfca" (no decay),
    "e2sfca" (Luo & Qi stepped weights 1 / 0.68 / 0.22 over thirds of the catchment) or "gaussian".
    Scores are beds per 1,000 elders within reach (mean over the elders of a cell or area).

    Returns (per H3 cell, per area) tables; each has ``elders`` and ``beds_per_1000``, and the
    area table ends with the region total row ("合计").
    """
    from planning.access import two_step_fca

    if method not in ACCESS_METHODS:
        raise ValueError(f"method must be one of {ACCESS_METHODS}, got {method!r}")
    _, beds, cost = _supply_catchments(region, settings=settings, minutes=minutes, mode=mode, kind=kind,
                                       column="beds_total")
    elders = region.elders
    decay = {"2sfca": "none", "e2sfca": "stepped", "gaussian": "gaussian"}[method]
    steps = tuple((minutes * k / 3, w) for k, w in ((1, 1.0), (2, 0.68), (3, 0.22)))
    score, _ = two_step_fca(cost, beds, np.ones(len(elders)), cutoff_min=minutes, decay=decay,
                            steps=steps)
    frame = pd.DataFrame({"h3": point_cells(elders, settings.h3_resolution).astype(object).to_numpy(),
                          "code": area_key(elders, by),
                          "score": 1000.0 * score})
    cells = frame.groupby("h3").agg(elders=("score", "size"), beds_per_1000=("score", "mean")).reset_index()
    areas = frame.groupby("code").agg(elders=("score", "size"), beds_per_1000=("score", "mean")).reset_index()
    total = pd.DataFrame({"code": [TOTAL_CODE], "elders": [len(frame)], "beds_per_1000": [frame["score"].mean()]})
    areas = pd.concat([areas, total], ignore_index=True)
    areas.insert(1, "name", area_names(areas["code"], region.areas))
    for table in (cells, areas):
        table["beds_per_1000"] = table["beds_per_1000"].round(3)
    return cells, areas


def region_isochrones(
    region: Region,
    *,
    settings: Settings,
    minutes: Sequence[float] | None = None,
    mode: Mode = "walk",
    facility_id: str | None = None,
    kind: str | None = None,
    bands: bool = True,
    buffer_m: float = 50.0,
) -> gpd.GeoDataFrame:
    """Street-following isochrones of a region's facilities (all of them, one kind, or one facility).

    ``minutes`` default to ``settings.circle_minutes``. With ``bands`` the polygons are rings
    (0–5, 5–10, 10–15 minutes); otherwise cumulative. EPSG:4326.
    """
    from geo.errors import PlanningInputError
    from planning.isochrones import facility_isochrones, isochrones

    network = network_for(region, mode, settings)
    facilities = _facilities_of(region, kind)
    if facility_id is not None:
        facilities = facilities[facilities["id"].astype(str) == str(facility_id)]
        if facilities.empty:
            raise PlanningInputError(f"地区“{region.name}”中没有编号为 {facility_id} 的设施",
                                     f"no facility {facility_id!r} in region {region.name!r}")
    minutes = list(minutes or settings.circle_minutes)
    snap = snap_points(network, facilities, settings=settings)
    if facility_id is not None:
        return facility_isochrones(network, snap, list(facilities["id"]), minutes=minutes, buffer_m=buffer_m,
                                   bands=bands)
    return isochrones(network, snap, minutes=minutes, buffer_m=buffer_m, bands=bands)


def region_capacity_coverage(
    region: Region,
    *,
    settings: Settings,
    minutes: float,
    mode: Mode = "walk",
    kind: str | None = None,
    capacity: Literal["beds_total", "beds_free"] = "beds_total",
    by: AreaLevel = "community",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Who is covered *and* has a place (AccessMod-style capacity-aware coverage).

    Facilities with beds, largest first, each take their nearest still-unplaced elders within
    ``minutes`` until their ``capacity`` column (total or free beds) is used
    (:func:`planning.access.capacity_allocation`; the order is recorded).

    Returns
    -------
    per_area
        ``code``, ``name``, ``elders``, ``covered``, ``with_place``, ``with_place_pct``; total row last.
    per_facility
        ``id``, ``name``, ``capacity``, ``assigned``, ``remaining``, ``order_rank``.
    per_elder
        ``pid``, ``facility_id`` (placed at; None), ``travel_time_min``, ``covered``, ``has_place``.
    """
    from planning.access import capacity_allocation

    facilities, places, cost = _supply_catchments(region, settings=settings, minutes=minutes, mode=mode, kind=kind,
                                                  column=capacity)
    elders = region.elders
    placed, per_fac = capacity_allocation(cost, places, cutoff_min=minutes)
    ids = facilities["id"].astype(object).to_numpy()
    fac_idx = placed["facility"].to_numpy()
    per_elder = pd.DataFrame({
        "pid": elders["pid"].to_numpy(),
        "facility_id": np.where(fac_idx >= 0, ids[np.clip(fac_idx, 0, None)] if len(ids) else None, None),
        "travel_time_min": placed["travel_time_min"].round(2).to_numpy(),
        "covered": placed["covered"].to_numpy(), "has_place": placed["has_place"].to_numpy(),
    })
    table = sum_by_area(*area_groups(elders, by), {"elders": np.ones(len(elders), dtype=np.int64),
                                                   "covered": per_elder["covered"].to_numpy(dtype=bool),
                                                   "with_place": per_elder["has_place"].to_numpy(dtype=bool)})
    table["with_place_pct"] = pct(table["with_place"], table["elders"])
    table.insert(1, "name", area_names(table["code"], region.areas))
    per_facility = pd.DataFrame({"id": ids, "name": facilities["name"].to_numpy(),
                                 **{c: per_fac[c].to_numpy() for c in ("capacity", "assigned", "remaining", "order_rank")}})
    return table, per_facility, per_elder
