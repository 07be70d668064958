"""Who is covered within the service circle: travel times of elders to facilities, aggregated by area.

Functions of (region layers, settings): :func:`elder_access` gives every elder's
travel time to the nearest facility of each kind and of any kind — one
multi-source Dijkstra pass per kind (:func:`planning.routing.nearest`), never
one search per facility; :func:`coverage_by_area` turns those times into
coverage per community, street, district or H3 cell, also for elders aged 80+
and for moderately-to-completely disabled elders, with an optional weighted
variant. Networks are cached per (region version, mode, settings).

Coverage counts the elders of ``settings.coverage_population`` (:func:`in_population`: 常住 by
default) through a mask, never by subsetting ``region.elders`` (cached snaps stay aligned), and says
how many it left out; :func:`group_coverage_table` breaks coverage down by priority group (a staff
table: groups are sensitive and never shown on public pages); :func:`profile_coverage` compares the
walking profiles of ``settings.walk_profiles`` (:func:`walk_profile_speed` gives their sources);
:func:`unassigned_at` counts the elders and facilities with no area at a level.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.schema import SPECIAL_GROUPS
from data.store import Region
from geo.areas import AreaLevel, area_groups, area_key, area_names, pct, point_cells, sum_by_area
from geo.errors import PlanningInputError
from geo.labels import AREA_LEVEL_SHORT_ZH, TOTAL_CODE, UNASSIGNED, mode_zh
from geo.settings import POPULATIONS, Settings
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


def forget_cached() -> None:
    """Drop this process's networks, snaps and home-care reaches (:func:`remember_per_version`): a batch worker
    computes each county once, so keeping the last counties' would only hold memory."""
    for cache in (_NETWORKS, _ELDER_SNAPS, _FACILITY_SNAPS, _HOME_CARE):
        cache.clear()


def remember_per_version(cache: dict, key: tuple, make) -> object:
    """``cache[key]``, made by ``make()`` on first use; keys start with the region's version path, so an import
    never meets a stale entry; the oldest of :data:`_CACHED` entries goes first."""
    if key not in cache:
        if len(cache) >= _CACHED:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


ROUTING_FIELDS: tuple[str, ...] = ("walk_speed_kmh", "walk_steps_factor", "walk_excluded_highways",
                                   "drive_speeds_kmh", "snap_limit_m", "working_crs")
"""The settings a network and its snapped points depend on (nothing else changes them)."""


@functools.lru_cache(maxsize=64)
def routing_settings(settings: Settings) -> Settings:
    """``settings`` reduced to :data:`ROUTING_FIELDS` (the rest at defaults): the cache key of networks and
    snaps, so changing a gap weight or a target on the planner page never rebuilds the network. Settings are
    frozen, so the reduction is made once per settings value."""
    return dataclasses.replace(Settings(), **{name: getattr(settings, name) for name in ROUTING_FIELDS})


def network_for(region: Region, mode: Mode, settings: Settings) -> Network:
    """The region's network for a mode, built once per (region version, mode, routing settings) in this process."""
    settings = routing_settings(settings)
    return remember_per_version(_NETWORKS, (str(region.path), mode, settings),
                     lambda: build_network(region.road_edges, mode=mode, settings=settings))


_FACILITY_SNAPS: dict[tuple[str, str, Settings], Snap] = {}


_FINGERPRINTS: dict[int, tuple[weakref.ref, int, str]] = {}


def _facilities_fingerprint(fac: pd.DataFrame) -> str:
    """A hash of the facilities' ids and positions, made once per frame object (a loaded region's layers are
    never changed in place; a scenario's changed facilities are a new frame)."""
    hit = _FINGERPRINTS.get(id(fac))
    if hit is not None and hit[0]() is fac and hit[1] == len(fac):
        return hit[2]
    xy = shapely.get_coordinates(fac.geometry.values) if len(fac) else np.zeros((0, 2))
    fingerprint = hashlib.sha256("\x1f".join(fac["id"].astype(str)).encode() + xy.tobytes()).hexdigest() \
        if "id" in fac else str(len(fac))
    for dead in [k for k, (ref, _, _) in _FINGERPRINTS.items() if ref() is None]:
        del _FINGERPRINTS[dead]
    _FINGERPRINTS[id(fac)] = (weakref.ref(fac), len(fac), fingerprint)
    return fingerprint


def facility_snap_for(region: Region, mode: Mode, settings: Settings) -> Snap:
    """The region's facilities snapped to its network, once per (region version, facilities, mode, settings).

    The key includes a fingerprint of the facilities' ids and positions, so a scenario's changed
    facilities (same version folder) are snapped afresh.
    """
    fingerprint = _facilities_fingerprint(region.facilities)
    settings = routing_settings(settings)
    return remember_per_version(_FACILITY_SNAPS, (str(region.path), fingerprint, mode, settings),
                     lambda: snap_points(network_for(region, mode, settings), region.facilities, settings=settings))


def elder_snap_for(region: Region, mode: Mode, settings: Settings) -> Snap:
    """The region's elders snapped to its network, once per (region version, mode, routing settings)."""
    settings = routing_settings(settings)
    return remember_per_version(_ELDER_SNAPS, (str(region.path), region.elder_rows, mode, settings),
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
    home_care: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Travel time of every elder to the nearest facility of each kind and of any kind.

    Home-care providers (``settings.home_care_kinds``) are not travelled to: they come to the
    elder (:mod:`planning.home_care`). For a home-care kind, ``time_min`` is 0 when a provider
    serves the elder (declared service area, or within ``settings.home_care_drive_minutes`` minutes'
    drive of a provider without one) and ``inf`` when none does, so "covered within N minutes"
    means "served" for any N; ``facility_id`` is the serving provider. The "any" group is the
    facilities elders visit: home-care kinds are left out of it.

    Parameters
    ----------
    network
        Walking or driving network (:func:`planning.network.build_network`).
    facilities, elders
        Region layers (points, any CRS). Facilities need ``id`` and ``kind``.
    kinds
        Kinds to report separately (default: the kinds present, in settings order; home-care kinds
        only when ``home_care`` is given).
    max_minutes
        Search limit; farther elders get ``inf`` (faster on large regions).
    elder_snap
        The elders already snapped to ``network`` (for example :func:`elder_snap_for`); snapped here if None.
    home_care
        :func:`planning.home_care.home_care_reach` of the same region and facilities (aligned with
        ``elders``); needed when ``kinds`` holds a home-care kind.

    Returns
    -------
    DataFrame aligned with ``elders`` (same index): ``snapped`` (bool), ``access_m`` (metres from
    home to the road), and per group g in ``["any", *kinds]``: ``time_min:g`` (minutes, ``inf``
    if unreachable; 0/``inf`` served or not for home-care kinds) and ``facility_id:g`` (nearest
    facility's id, or the serving provider's; None if none).
    """
    home_kinds = set(settings.home_care_kinds)
    if kinds is None:
        kinds = [k for k in kinds_in_order(facilities, settings, unknown=False)
                 if k not in home_kinds or home_care is not None]
    kinds = list(kinds)
    if home_kinds & set(kinds):
        _check_home_care(home_care, [k for k in kinds if k in home_kinds], facilities, elders)
    fac_snap = snap_points(network, facilities, settings=settings)
    eld_snap = snap_points(network, elders, settings=settings) if elder_snap is None else elder_snap
    if len(eld_snap) != len(elders):
        raise ValueError(f"elder_snap has {len(eld_snap)} points for {len(elders)} elders")
    out = pd.DataFrame({"snapped": eld_snap.snapped, "access_m": eld_snap.access_m}, index=elders.index)
    ids = facilities["id"].astype(object).to_numpy()
    kind_of = facilities["kind"].astype(object).to_numpy()
    visited = ~np.isin(kind_of, list(home_kinds))
    for group in [ANY, *kinds]:
        if group in home_kinds:
            known = f"served:{group}" in home_care  # absent: no provider of that kind
            served = home_care[f"served:{group}"].to_numpy(dtype=bool) if known else np.zeros(len(elders), bool)
            provider = home_care[f"provider_id:{group}"].to_numpy(dtype=object) if known else None
            out[f"time_min:{group}"] = np.where(served, 0.0, np.inf)
            out[f"facility_id:{group}"] = np.where(served, provider, None)
            continue
        mask = visited if group == ANY else kind_of == group
        sub = _subset(fac_snap, mask)
        result = nearest(network, sub, eld_snap, max_minutes=max_minutes)
        out[f"time_min:{group}"] = result.time_min
        out[f"facility_id:{group}"] = np.where(result.source >= 0, ids[np.clip(result.source, 0, None)], None)
    log.info("travel times of %d elders to %d facilities (%s, %d groups)", len(elders), len(facilities),
             network.mode, len(kinds) + 1)
    return out


def _check_home_care(home_care: pd.DataFrame | None, kinds: list[str], facilities: pd.DataFrame,
                     elders: pd.DataFrame) -> None:
    """A home-care reach table fit for these kinds, elders and facilities, or a PlanningInputError."""
    if home_care is None:
        raise PlanningInputError(f"计算{'、'.join(kinds)}的覆盖需要先计算上门服务范围",
                                 f"home-care kinds {kinds} need home_care (planning.home_care.home_care_reach)")
    if len(home_care) != len(elders):
        raise PlanningInputError("上门服务范围与老人数据不一致，请重新计算",
                                 f"home_care has {len(home_care)} rows for {len(elders)} elders")
    ids = set(facilities["id"].astype(str)) if "id" in facilities else set()
    for kind in kinds:
        if f"served:{kind}" not in home_care:  # no provider of that kind: nobody is served
            continue
        providers = home_care[f"provider_id:{kind}"].dropna().astype(str)
        if not set(providers) <= ids:
            raise PlanningInputError("上门服务范围是按另一组设施计算的，请重新计算",
                                     f"home_care providers of {kind} are not all among the facilities given")


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


def in_population(elders: pd.DataFrame, population: str) -> np.ndarray:
    """True for the elders a table counts (``settings.coverage_population`` or ``annex_population``).

    "户籍": registered here (``registered`` True, or not said); "常住": living here (``resident`` True,
    or not said); "全部": every imported elder. An elder without the flag (NA, or no column at all) is
    counted as both, so files without a 户籍/常住 column count everyone.
    """
    if population not in POPULATIONS:
        raise PlanningInputError(f"统计人口口径应为 {'、'.join(POPULATIONS)} 之一（收到 {population}）",
                                 f"population must be one of {POPULATIONS}, got {population!r}")
    n = len(elders)
    column = {"户籍": "registered", "常住": "resident"}.get(population)
    if column is None or column not in elders:
        return np.ones(n, dtype=bool)
    return elders[column].astype("boolean").fillna(True).to_numpy(dtype=bool)


def population_line_zh(population: str, total: int, left_out: int) -> str:
    """One Chinese line saying which elders a table counts and how many were left out."""
    if population == "全部":
        return f"按全部老人统计：{total:,} 人全部计入"
    other = "非本地户籍" if population == "户籍" else "非常住"
    if not left_out:
        return f"按{population}老人统计：{total:,} 人全部计入（没有标为{other}的老人）"
    return f"按{population}老人统计：共 {total:,} 人，其中{other} {left_out:,} 人未计入"


def _group_lists(elders: pd.DataFrame) -> list[list[str]]:
    """Each elder's priority groups as a list (a list/array column, or text separated by 、)."""
    if "groups" not in elders:
        return [[] for _ in range(len(elders))]

    def one(value: object) -> list[str]:
        if isinstance(value, list | tuple | np.ndarray):
            return [str(v) for v in value]
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            return []
        return [p for p in str(value).split("、") if p]

    return [one(v) for v in elders["groups"].astype(object)]


def group_members(elders: pd.DataFrame, groups: Sequence[str]) -> dict[str, np.ndarray]:
    """Per priority group, True for the elders in it (all False for a group no elder is in)."""
    if not groups:  # nothing asked: do not parse every elder's groups
        return {}
    lists = _group_lists(elders)
    return {g: np.fromiter((g in row for row in lists), dtype=bool, count=len(lists)) for g in groups}


def present_groups(elders: pd.DataFrame) -> list[str]:
    """The priority groups (:data:`data.schema.SPECIAL_GROUPS`) at least one elder is in, in that order."""
    seen = {g for row in _group_lists(elders) for g in row}
    return [g for g in SPECIAL_GROUPS if g in seen]


def coverage_by_area(
    elders: gpd.GeoDataFrame,
    time_min: pd.Series | np.ndarray,
    *,
    minutes: float,
    by: AreaLevel,
    areas: gpd.GeoDataFrame | None = None,
    weights: pd.Series | np.ndarray | None = None,
    counted: np.ndarray | None = None,
    groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Coverage within ``minutes`` per area, with an all-region total row last.

    Parameters
    ----------
    elders
        Elders layer (needs the area column of ``by``, ``oldest_old`` and ``ability_code``; ``groups``
        for the priority groups).
    time_min
        Each elder's travel time to the nearest facility (aligned with ``elders``).
    by
        "community", "street", "district" or "h3".
    areas
        Areas layer, for names.
    weights
        Optional weight per elder (for example 2 for living alone); adds weighted columns.
    counted
        Which elders the table counts (aligned with ``elders``; :func:`in_population`); all when None.
        The others are left out of every row; ``elders`` itself is never subset, so per-elder arrays
        (times, network snaps) stay aligned.
    groups
        Priority groups (特困、低保…) to break coverage down by (:func:`present_groups`).

    Returns
    -------
    One row per area: ``code``, ``name``, ``elders``, ``covered``, ``coverage_pct``, the same for
    ``_80plus`` and ``_disabled`` (ability codes 2–4); per group g: ``elders:g``, ``covered:g``,
    ``coverage_pct:g``; ``weighted_elders``/``weighted_covered``/``weighted_coverage_pct`` when weights
    are given. The last row (code "合计") is the region total, so areas reconcile with it. Counted elders
    with no code at that level are grouped under code "未归属" (the row is there whenever one is).
    ``attrs``: ``elders_total`` (all elders given), ``left_out`` (not counted), ``unassigned`` (counted
    elders in the "未归属" row), ``groups``.
    """
    n = len(elders)
    times = np.asarray(time_min, dtype="float64")
    keep = np.ones(n, dtype=bool) if counted is None else np.asarray(counted, dtype=bool)
    if len(times) != n or len(keep) != n:
        raise ValueError(f"time_min ({len(times)}) and counted ({len(keep)}) must align with {n} elders")
    groups = list(groups or [])
    covered = times <= minutes
    group, codes_at_level = area_groups(elders, by)
    if not keep.all():  # areas with no counted elder get no row
        used, group = np.unique(group[keep], return_inverse=True)
        codes_at_level = codes_at_level[used]
    old, disabled = elder_flags(elders)
    columns = {"elders": np.ones(int(keep.sum()), dtype=np.int64), "covered": covered[keep],
               "elders_80plus": old[keep], "covered_80plus": (old & covered)[keep],
               "elders_disabled": disabled[keep], "covered_disabled": (disabled & covered)[keep]}
    for name, member in group_members(elders, groups).items():
        columns[f"elders:{name}"] = member[keep]
        columns[f"covered:{name}"] = (member & covered)[keep]
    if weights is not None:
        w = np.asarray(weights, dtype="float64")
        columns["weighted_elders"] = w[keep]
        columns["weighted_covered"] = (w * covered)[keep]
    table = sum_by_area(group, codes_at_level, columns)
    for suffix in ("", "_80plus", "_disabled"):
        table[f"coverage{suffix}_pct"] = pct(table[f"covered{suffix}"], table[f"elders{suffix}"])
    for name in groups:
        table[f"coverage_pct:{name}"] = pct(table[f"covered:{name}"], table[f"elders:{name}"])
    if weights is not None:
        table["weighted_coverage_pct"] = pct(table["weighted_covered"], table["weighted_elders"])
    table.insert(1, "name", area_names(table["code"], areas))
    order = ["code", "name", "elders", "covered", "coverage_pct", "elders_80plus", "covered_80plus",
             "coverage_80plus_pct", "elders_disabled", "covered_disabled", "coverage_disabled_pct"]
    for name in groups:
        order += [f"elders:{name}", f"covered:{name}", f"coverage_pct:{name}"]
    if weights is not None:
        order += ["weighted_elders", "weighted_covered", "weighted_coverage_pct"]
    table = table[order]
    unassigned = table.loc[table["code"] == UNASSIGNED, "elders"]
    table.attrs.update(elders_total=n, left_out=int(n - keep.sum()),
                       unassigned=int(unassigned.iloc[0]) if len(unassigned) else 0, groups=groups)
    return table


def _facilities_of(region: Region, kind: str | None, *, settings: Settings | None = None) -> gpd.GeoDataFrame:
    """The region's facilities, or those of one kind; with ``settings`` and no kind, only the facilities
    elders visit (home-care kinds, ``settings.home_care_kinds``, left out: they come to the home)."""
    facilities = region.facilities
    if kind is not None:
        return facilities[facilities["kind"] == kind]
    if settings is None or "kind" not in facilities:
        return facilities
    return facilities[~facilities["kind"].astype(str).isin(list(settings.home_care_kinds)).to_numpy()]


def _facility_fingerprint(facilities: pd.DataFrame) -> str:
    """A digest of what the home-care reach depends on: ids, kinds, service areas and positions."""
    xy = shapely.get_coordinates(facilities.geometry.values) if len(facilities) else np.zeros((0, 2))
    text = "\x1e".join("\x1f".join(map(str, facilities[c].tolist())) for c in ("id", "kind", "service_area")
                        if c in facilities)
    return hashlib.sha256(text.encode() + xy.tobytes()).hexdigest()


_HOME_CARE: dict[tuple[str, str, Settings], pd.DataFrame] = {}


def _home_care_for(region: Region, settings: Settings, facilities: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`planning.home_care.home_care_reach` of the region (or of ``facilities``), once per (region
    version, facilities, settings) in this process (the facilities' fingerprint keys scenarios apart)."""
    from planning.home_care import home_care_reach

    facilities = region.facilities if facilities is None else facilities
    key = (str(region.path), region.elder_rows, _facility_fingerprint(facilities), settings)
    return remember_per_version(_HOME_CARE, key, lambda: home_care_reach(region, settings=settings, facilities=facilities))


def _kind_access(region: Region, facilities: pd.DataFrame, *, settings: Settings, mode: Mode, kind: str | None,
                 max_minutes: float = np.inf) -> tuple[pd.DataFrame, str]:
    """:func:`elder_access` of the region's elders to ``facilities`` for one kind (None: any kind elders
    visit), and the group its columns are named by (``time_min:<group>``, ``facility_id:<group>``).

    A home-care kind is served or not (:mod:`planning.home_care`), whatever ``mode``: its times are 0/inf.
    """
    home = kind is not None and kind in settings.home_care_kinds
    group = kind if home else ANY
    access = elder_access(network_for(region, mode, settings), facilities, region.elders, settings=settings,
                          kinds=[kind] if home else [], max_minutes=max_minutes,
                          elder_snap=elder_snap_for(region, mode, settings),
                          home_care=_home_care_for(region, settings, facilities) if home else None)
    return access, group


def _supply_catchments(region: Region, *, settings: Settings, minutes: float, mode: Mode, kind: str | None,
                       column: str) -> tuple[gpd.GeoDataFrame, np.ndarray, object]:
    """Facilities with a positive ``column`` (beds), their supply, and the facility × elder cost matrix.

    Home-care providers (``settings.home_care_kinds``) are not a supply of beds or places elders
    travel to: they are left out (all facilities), or refused (their kind asked for).
    """
    from planning.catchments import catchment_matrix

    if kind is not None and kind in settings.home_care_kinds:
        raise PlanningInputError(f"{kind}上门服务，没有供老人前往的床位，不能计算床位可及性或床位分配",
                                 f"home-care kind {kind!r} is no supply of beds")
    facilities = _facilities_of(region, kind, settings=settings)
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
    groups: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage table and per-elder times for a region: the function behind ``eldermap coverage``.

    Counts the elders of ``settings.coverage_population`` (常住 by default: :func:`in_population`); the
    others are still routed (the per-elder table keeps every elder, ``counted`` False) but left out
    of every row. ``kind`` None means any facility elders visit (home-care providers are not visited);
    a home-care kind (``settings.home_care_kinds``) covers the elders a provider serves at home
    (:func:`planning.home_care.home_care_reach`), whatever the minutes. ``groups``: priority groups to
    break coverage down by (:func:`coverage_by_area`).
    A walking profile is applied by passing :func:`profile_settings`.

    Returns (coverage per area, per-elder table with ``pid``, ``facility_id``, ``travel_time_min``,
    ``snapped``, ``counted``). The coverage table's ``attrs`` add ``population`` to those of
    :func:`coverage_by_area` (``elders_total``, ``left_out``, ``unassigned``).
    """
    elders = region.elders
    facilities = _facilities_of(region, kind)
    counted = in_population(elders, settings.coverage_population)
    if len(facilities) and len(elders):
        network = network_for(region, mode, settings)
        home = kind is not None and kind in settings.home_care_kinds  # served at home, whatever the minutes
        if home:
            from planning.home_care import home_care_reach

            reach = home_care_reach(region, settings=settings, facilities=facilities)
        group = kind if home else ANY
        access = elder_access(network, facilities, elders, settings=settings, kinds=[group] if home else [],
                              elder_snap=elder_snap_for(region, mode, settings), home_care=reach if home else None)
        times = access[f"time_min:{group}"].to_numpy(dtype="float64")
        nearest_id = access[f"facility_id:{group}"].to_numpy()
        snapped = access["snapped"].to_numpy(dtype=bool)
    else:  # nothing to reach (or nobody to reach it): everyone is outside the circle
        times = np.full(len(elders), np.inf)
        nearest_id = np.full(len(elders), None, dtype=object)
        snapped = (elder_snap_for(region, mode, settings).snapped if len(elders)
                   else np.zeros(0, dtype=bool))
    table = coverage_by_area(elders, times, minutes=minutes, by=by, areas=region.areas, counted=counted,
                             groups=groups)
    table.attrs["population"] = settings.coverage_population
    per_elder = pd.DataFrame({
        "pid": elders["pid"].to_numpy() if "pid" in elders else np.arange(len(elders)),
        "facility_id": nearest_id,
        "travel_time_min": np.round(times, 2),
        "snapped": snapped,
        "counted": counted,
    })
    return table, per_elder


# ---------------------------------------------------------------- what has no area


@dataclass(frozen=True)
class UnassignedAtLevel:
    """How many elders and facilities have no area at one level (they make the "未归属" row).

    Attributes
    ----------
    by
        The level ("community", "street", "district" or "h3").
    elders, elders_total
        Counted elders without an area at that level, and all counted elders.
    facilities, facilities_total
        Facilities (of the kind analysed) without an area at that level, and all of them.
    """

    by: str
    elders: int
    elders_total: int
    facilities: int
    facilities_total: int

    @property
    def level_zh(self) -> str:
        """The level in Chinese ("街道")."""
        return AREA_LEVEL_SHORT_ZH.get(self.by, self.by)

    def lines_zh(self) -> list[str]:
        """What has no area, in Chinese: one line for elders, one for facilities; when all have one, a
        line saying so."""
        level, lines = self.level_zh, []
        if not self.elders and not self.facilities:
            return [f"按{level}统计：{self.elders_total:,} 位老人和 {self.facilities_total:,} 处设施都有{level}归属"]
        if self.elders:
            share = 100.0 * self.elders / self.elders_total if self.elders_total else 0.0
            lines.append(f"按{level}统计：{self.elders:,} 位老人（占 {share:.1f}%）没有{level}归属，计入“{UNASSIGNED}”行")
        if self.facilities:
            lines.append(f"按{level}统计：{self.facilities:,} 处设施（共 {self.facilities_total:,} 处）没有{level}归属")
        return lines

    def warning_zh(self) -> str | None:
        """A warning when every elder (or every facility) has no area at that level, else None."""
        level, parts = self.level_zh, []
        if self.by == "h3":
            if self.elders_total and self.elders == self.elders_total:
                parts.append("全部老人都没有坐标，无法归入 H3 网格：请在老人文件中填写经纬度或地址")
            return "；".join(parts) or None
        if self.elders_total and self.elders == self.elders_total:
            parts.append(f"全部老人都没有{level}归属：请导入{level}边界或在老人文件中填写所属{level}")
        if self.facilities_total and self.facilities == self.facilities_total:
            parts.append(f"全部设施都没有{level}归属：请导入{level}边界或在设施文件中填写所属{level}")
        return "；".join(parts) or None


def unassigned_at(region: Region, *, settings: Settings, by: AreaLevel, kind: str | None = None) -> UnassignedAtLevel:
    """The elders (of ``settings.coverage_population``) and facilities (of ``kind``) with no area at ``by``."""
    elders = region.elders
    counted = in_population(elders, settings.coverage_population)
    facilities = _facilities_of(region, kind)
    elder_missing = (area_key(elders, by) == UNASSIGNED) & counted
    facility_missing = area_key(facilities, by) == UNASSIGNED if len(facilities) else np.zeros(0, dtype=bool)
    return UnassignedAtLevel(by, int(elder_missing.sum()), int(counted.sum()), int(facility_missing.sum()),
                             len(facilities))


# ---------------------------------------------------------------- walking profiles


def walk_profile_speed(settings: Settings, profile: str) -> float:
    """The walking speed of a named profile of ``settings.walk_profiles``, km/h.

    The defaults and their sources: 规划 3.6 km/h — the planning speed of GB 50180-2018 城市居住区规划设计
    标准 (about 60 m/min behind its 5/10/15-minute life circles); 老年人 2.88 km/h — 0.8 m/s, the mean
    gait speed measured for people over 65 (0.8 m/s is also the usual "slow walker" threshold of
    geriatric assessment, e.g. EWGSOP2); 体弱 2.4 km/h ≈ 0.67 m/s — frail elders and people over 85
    walk about 0.64–0.71 m/s in published measurements.
    """
    table = settings.walk_profile_table()
    if profile not in table:
        raise PlanningInputError(f"没有名为“{profile}”的步行速度档（可选：{'、'.join(table)}；见设置 walk_profiles）",
                                 f"unknown walk profile {profile!r}; known: {list(table)}")
    return float(table[profile])


def profile_settings(settings: Settings, profile: str, mode: Mode = "walk") -> Settings:
    """``settings`` with the walking speed of ``profile`` (:func:`walk_profile_speed`); driving is unchanged."""
    speed = walk_profile_speed(settings, profile)
    return dataclasses.replace(settings, walk_speed_kmh=speed) if mode == "walk" else settings


def metres_per_minute(speed_kmh: float) -> float:
    """A speed in km/h as metres per minute (3.6 km/h = 60 m/min)."""
    return speed_kmh * 1000.0 / 60.0


def profile_label_zh(settings: Settings, profile: str) -> str:
    """A walking profile as shown in headers: "体弱（40米/分钟）"."""
    return f"{profile}（{metres_per_minute(walk_profile_speed(settings, profile)):.0f}米/分钟）"


def compared_profiles(settings: Settings, profiles: Sequence[str] | None = None) -> list[str]:
    """The walking profiles to compare: ``profiles`` when given, else ``settings.compare_profiles``;
    each checked (:func:`walk_profile_speed`), duplicates dropped."""
    names = list(dict.fromkeys(settings.compare_profiles if profiles is None else profiles))
    for name in names:
        walk_profile_speed(settings, name)
    return names


def profile_coverage(
    region: Region,
    *,
    settings: Settings,
    minutes: float,
    kind: str | None = None,
    by: AreaLevel = "community",
    profiles: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Walking coverage per area under each walking profile, side by side.

    Parameters
    ----------
    profiles
        Profile names of ``settings.walk_profiles``; ``settings.compare_profiles`` (规划, 体弱) when None.

    Returns
    -------
    ``code``, ``name``, ``elders``, then per profile p: ``covered:p`` and ``coverage_pct:p``; total row
    last. The same elders are counted under each profile, so the rows agree.
    ``attrs["profiles"]``: profile → km/h. A slower profile never covers more elders (same network,
    every travel time scaled up).
    """
    names = compared_profiles(settings, profiles)
    if not names:
        raise PlanningInputError("没有要对比的步行速度档（设置 compare_profiles 为空）", "no walk profiles to compare")
    merged = pd.DataFrame()
    for name in names:
        table, _ = region_coverage(region, settings=profile_settings(settings, name), minutes=minutes, mode="walk",
                                   kind=kind, by=by)
        part = table[["code", "name", "elders", "covered", "coverage_pct"]].rename(
            columns={"covered": f"covered:{name}", "coverage_pct": f"coverage_pct:{name}"})
        merged = part if merged.empty else merged.merge(part.drop(columns=["name", "elders"]), on="code", how="left")
    merged.attrs.update(profiles={n: walk_profile_speed(settings, n) for n in names}, minutes=minutes, by=by,
                        population=settings.coverage_population)
    return merged


def profile_columns_zh(table: pd.DataFrame) -> dict[str, str]:
    """Chinese headers of a :func:`profile_coverage` table: "覆盖率(%)（体弱 40米/分钟）"."""
    speeds = table.attrs.get("profiles") or {}
    out = {"code": "区划代码", "name": "名称", "elders": "老年人数"}
    for column in table.columns:
        if ":" in column:
            what, profile = column.split(":", 1)
            speed = speeds.get(profile)
            label = f"{profile} {metres_per_minute(speed):.0f}米/分钟" if speed else profile
            out[column] = f"{'覆盖人数' if what == 'covered' else '覆盖率(%)'}（{label}）"
    return out


# ---------------------------------------------------------------- priority groups

ALL_ELDERS_ZH = "全部老人"
OLDEST_OLD_ZH = "80岁及以上"
DISABLED_ZH = "中度及以上失能"


def group_coverage_table(
    region: Region,
    *,
    settings: Settings,
    minutes: float,
    mode: Mode = "walk",
    kind: str | None = None,
    by: AreaLevel = "district",
    codes: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    coverage: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Coverage of each priority group per area: the report's sheet "重点群体覆盖" and ``coverage --by-group``.

    A staff and planner table: the groups (特困、低保…) are sensitive, so no public page shows it.

    Parameters
    ----------
    codes
        The area rows (e.g. the report's); a total row among them is ignored, it is always last.
        The rows of :func:`region_coverage` when None.
    groups
        Priority groups; :func:`present_groups` when None.
    coverage
        The :func:`region_coverage` table of these parameters and ``groups`` when already computed
        (``eldermap coverage --by-group`` writes both); computed when None.

    Returns
    -------
    Long table, area by area (total last): ``code``, ``name``, ``group`` ("全部老人", "80岁及以上",
    "中度及以上失能", then each priority group), ``elders``, ``covered`` (within ``minutes`` of a
    facility of ``kind``, any kind when None), ``coverage_pct`` (1 decimal, NaN without elders).
    Counts the elders of ``settings.coverage_population``; ``attrs`` as :func:`region_coverage`'s.
    """
    groups = present_groups(region.elders) if groups is None else list(groups)
    if coverage is not None and all(f"elders:{g}" in coverage for g in groups):
        table = coverage
    else:
        table, _ = region_coverage(region, settings=settings, minutes=minutes, mode=mode, kind=kind, by=by,
                                   groups=groups)
    rows = (list(table["code"]) if codes is None
            else [*(str(c) for c in codes if c != TOTAL_CODE), TOTAL_CODE])
    wide = table.set_index("code").reindex(rows)
    names = area_names(rows, region.areas, unassigned=UNASSIGNED)
    pairs = [(ALL_ELDERS_ZH, "elders", "covered"), (OLDEST_OLD_ZH, "elders_80plus", "covered_80plus"),
             (DISABLED_ZH, "elders_disabled", "covered_disabled"),
             *((g, f"elders:{g}", f"covered:{g}") for g in groups)]
    parts = []
    for label, elders_col, covered_col in pairs:
        parts.append(pd.DataFrame({"code": rows, "name": names, "group": label,
                                   "elders": wide[elders_col].fillna(0).astype(np.int64).to_numpy(),
                                   "covered": wide[covered_col].fillna(0).astype(np.int64).to_numpy(),
                                   "order": np.arange(len(rows))}))
    out = pd.concat(parts, ignore_index=True).sort_values("order", kind="stable").drop(columns="order")
    out = out.reset_index(drop=True)
    out["coverage_pct"] = pct(out["covered"], out["elders"], decimals=1)
    out.attrs.update(table.attrs, minutes=minutes, mode=mode, by=by)
    return out


def group_coverage_columns_zh(*, minutes: float, mode: Mode = "walk") -> dict[str, str]:
    """Chinese headers of a :func:`group_coverage_table`."""
    return {"code": "区划代码", "name": "名称", "group": "老人群体", "elders": "老年人数(人)",
            "covered": f"{mode_zh(mode)}{minutes:g}分钟内覆盖人数(人)", "coverage_pct": "覆盖率(%)"}


GROUP_SHEET_ZH = "重点群体覆盖"
"""Sheet name of :func:`group_coverage_table` in the report workbook."""


def group_coverage_sheet(region: Region, *, settings: Settings, minutes: float, mode: Mode = "walk",
                         by: AreaLevel = "district", codes: Sequence[str] | None = None
                         ) -> tuple[str, pd.DataFrame, dict[str, str]]:
    """The report's sheet "重点群体覆盖": (sheet name, :func:`group_coverage_table`, Chinese headers)."""
    table = group_coverage_table(region, settings=settings, minutes=minutes, mode=mode, by=by, codes=codes)
    return GROUP_SHEET_ZH, table, group_coverage_columns_zh(minutes=minutes, mode=mode)


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
    method: Literal["access", "buffer"] = "access",
) -> gpd.GeoDataFrame:
    """Isochrones of a region's facilities (all of them, one kind, or one facility), with elder counts.

    ``minutes`` default to ``settings.circle_minutes``; all bands come from one shortest-path pass.
    With ``bands`` the polygons are rings (0–5, 5–10, 10–15 minutes); otherwise cumulative. EPSG:4326.

    ``method="access"`` (default) draws the places whose travel time — network time plus the access walk
    from the nearest street, within ``settings.snap_limit_m``, exactly as the coverage tables time an
    elder — is within each value (:func:`planning.isochrones.isochrones`), so the polygon says what the
    table says; ``"buffer"`` draws the reached streets widened by ``buffer_m`` (for showing streets only).
    Without ``kind`` or ``facility_id`` the facilities are those elders visit (home-care kinds left out,
    as in the coverage tables' "any" group).

    Each row carries ``elders``: how many elders of ``settings.coverage_population``
    (:func:`in_population`) have their travel time to the nearest of these facilities (to the one
    facility with ``facility_id``) in the row's band — counted from the network times, as
    :func:`region_coverage` counts, not from the polygon: a cumulative row's ``elders`` is the coverage
    table's covered count at that many minutes.
    """
    from planning.isochrones import facility_isochrones, isochrones

    network = network_for(region, mode, settings)
    facilities = _facilities_of(region, kind, settings=None if facility_id is not None else settings)
    if facility_id is not None:
        facilities = facilities[facilities["id"].astype(str) == str(facility_id)]
        if facilities.empty:
            raise PlanningInputError(f"地区“{region.name}”中没有编号为 {facility_id} 的设施",
                                     f"no facility {facility_id!r} in region {region.name!r}")
    minutes = list(minutes or settings.circle_minutes)
    snap = snap_points(network, facilities, settings=settings)
    counted = in_population(region.elders, settings.coverage_population)
    elders = _subset(elder_snap_for(region, mode, settings), counted)
    options = {"minutes": minutes, "buffer_m": buffer_m, "bands": bands, "method": method,
               "snap_limit_m": settings.snap_limit_m, "targets": elders}
    if facility_id is not None:
        return facility_isochrones(network, snap, list(facilities["id"]), **options)
    return isochrones(network, snap, **options)


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
