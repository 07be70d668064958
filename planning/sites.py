"""New facility sites for a region: candidates, demand and the coverage matrix around :mod:`planning.siting`.

Demand is the elders of ``settings.coverage_population`` (常住 by default) that existing facilities
(of the chosen kind) leave outside the circle, each weighted as in :func:`planning.gaps.elder_need`
(80+, disabled and the priority groups of ``settings.gap_group_weights``; or 1 when unweighted);
existing facilities stay. Coverage shares are of those elders too.
Candidates are the centres of the H3 cells where elders live and of their neighbours (resolution
``settings.h3_resolution``), or a planner's own list (for example vacant public buildings), minus
exclusion areas; each is snapped to the network like a facility. The candidates × demand matrix
comes from :func:`planning.catchments.catchment_matrix` (one Dijkstra per chunk of candidates).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.store import Region
from geo import hexes
from geo.errors import PlanningInputError
from geo.settings import Settings
from planning.catchments import catchment_matrix
from planning.coverage import ANY, elder_access, elder_snap_for, network_for
from planning.gaps import elder_need
from planning.network import Mode, Snap, snap_points
from planning.siting import CapacitatedResult, SitingResult, capacitated_max_cover, maximal_covering, set_covering

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SitePlan:
    """Chosen sites and what they change.

    Attributes
    ----------
    sites
        EPSG:4326 points, in order of marginal gain: ``rank``, ``candidate_id``, ``h3``, ``lon``,
        ``lat``, ``community_code``, ``community_name``, ``newly_covered`` (elders first covered by
        this site, in rank order), ``newly_covered_weight``, ``coverage_pct_after`` (share of the
        counted elders, ``settings.coverage_population``, covered once this and the sites before it open).
    elders
        Per newly covered elder: ``rank`` of the site that first covers it, ``pid`` (pseudonymised),
        ``travel_time_min`` to that site.
    result
        The solver's :class:`planning.siting.SitingResult`.
    summary
        Figures for the report: elders (counted), elders_left_out (not in the coverage population),
        population, group_weights (the priority-group weights used), covered before/after,
        candidates, demand, solver status.
    """

    sites: gpd.GeoDataFrame
    elders: pd.DataFrame
    result: SitingResult | CapacitatedResult
    summary: dict
    existing: pd.DataFrame | None = None


CAPACITY_SITE_COLUMNS_ZH: dict[str, str] = {
    "capacity_places": "名额（人）", "assigned_elders": "分配服务老人数", "assigned_weight": "分配服务加权需求",
    "utilisation_pct": "名额使用率（%）",
}
"""Chinese headers of the columns that capacitated siting adds to :attr:`SitePlan.sites`."""

EXISTING_COLUMNS_ZH: dict[str, str] = {
    "id": "设施编号", "name": "设施名称", "kind": "类型", "capacity_places": "名额（人）",
    "capacity_source": "名额来源", "assigned_elders": "分配服务老人数", "assigned_weight": "分配服务加权需求",
    "utilisation_pct": "名额使用率（%）",
}
"""Chinese headers of :attr:`SitePlan.existing` (capacitated siting)."""


def existing_capacity(facilities: pd.DataFrame, settings: Settings) -> tuple[np.ndarray, list[str]]:
    """Places of existing facilities: ``beds_total`` when above 0, else ``settings.siting_capacity_places`` of
    their kind, else unlimited (``inf``). Returns (places, where each came from: 床位数 / 按类型默认 / 不限)."""
    table = settings.capacity_table()
    beds = pd.to_numeric(facilities["beds_total"], errors="coerce").to_numpy(dtype="float64") \
        if "beds_total" in facilities else np.full(len(facilities), np.nan)
    kinds = facilities["kind"].astype(str).to_numpy() if "kind" in facilities else np.full(len(facilities), "")
    places, source = np.empty(len(facilities)), []
    for i, (b, kind) in enumerate(zip(beds, kinds, strict=True)):
        if np.isfinite(b) and b > 0:
            places[i], src = b, "床位数"
        elif kind in table:
            places[i], src = table[kind], "按类型默认"
        else:
            places[i], src = np.inf, "不限"
        source.append(src)
    return places, source


def candidate_capacity(candidates: pd.DataFrame, kind: str | None, capacity_places: float | None,
                       settings: Settings) -> np.ndarray:
    """Places of each candidate: its own ``capacity_places`` column when present and above 0, else
    ``capacity_places``, else ``settings.siting_capacity_places`` of ``kind``."""
    if capacity_places is not None and capacity_places > 0:
        default = float(capacity_places)
    elif kind is not None and kind in settings.capacity_table():
        default = settings.capacity_table()[kind]
    else:
        raise PlanningInputError(
            "按容量选址需要新站点的名额：请指定名额（如 --capacity 30），或选择设置 siting_capacity_places 中有默认名额的设施类型"
            + (f"（“{kind}”没有默认名额）" if kind else "（当前为全部类型）"),
            f"capacitated siting needs the new sites' places: give capacity_places or a kind in "
            f"siting_capacity_places (kind={kind!r})")
    own = pd.to_numeric(candidates["capacity_places"], errors="coerce").to_numpy(dtype="float64") \
        if "capacity_places" in candidates else np.full(len(candidates), np.nan)
    return np.where(np.isfinite(own) & (own > 0), own, default)


def candidate_cells(region: Region, *, settings: Settings, ring: int = 1,
                    resolution: int | None = None) -> gpd.GeoDataFrame:
    """Candidate sites at the centres of H3 cells with elders and their ``ring`` neighbours.

    ``resolution`` defaults to one finer than ``settings.h3_resolution`` (res 10: about 65 m
    across), fine enough that a site can be placed on the right block.
    """
    res = min(15, settings.h3_resolution + 1) if resolution is None else resolution
    elders = region.elders
    if len(elders) == 0:
        return gpd.GeoDataFrame({"candidate_id": [], "h3": []}, geometry=[], crs="EPSG:4326")
    cells = set(hexes.cells_for_points(elders.geometry.x.to_numpy(), elders.geometry.y.to_numpy(), res))
    if ring > 0:
        cells = {n for c in cells for n in hexes.disk(c, ring)}
    cells = sorted(cells)
    return gpd.GeoDataFrame({"candidate_id": cells, "h3": cells},
                            geometry=[shapely.Point(*hexes.cell_centre(c)) for c in cells], crs="EPSG:4326")


def _subset(snap: Snap, rows: np.ndarray) -> Snap:
    return Snap(snap.edge[rows], snap.t[rows], snap.access_m[rows], snap.access_min[rows])


def _community_of(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> tuple[list, list]:
    """Community code and name containing each point ("" where none)."""
    if areas is None or areas.empty or "level" not in areas:
        return [""] * len(points), [""] * len(points)
    comm = areas[(areas["level"] == "community") & areas.geometry.notna()]
    if comm.empty:
        return [""] * len(points), [""] * len(points)
    joined = gpd.sjoin(points[["geometry"]], comm[["code", "name", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["code"].fillna("").tolist(), joined["name"].fillna("").tolist()


def site_facilities(
    region: Region,
    *,
    settings: Settings,
    k: int | None = None,
    target_pct: float | None = None,
    minutes: float = 15.0,
    mode: Mode = "walk",
    kind: str | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    exclude: gpd.GeoDataFrame | None = None,
    weighted: bool = True,
    solver: str = "highs",
    time_limit_s: float = 60.0,
    capacity: bool = False,
    capacity_places: float | None = None,
) -> SitePlan:
    """Where ``k`` new facilities cover the most uncovered elders, or how few reach ``target_pct``.

    Parameters
    ----------
    k
        Number of new sites (maximal covering). Exactly one of ``k`` and ``target_pct``.
    target_pct
        Share of all elders (weighted when ``weighted``) to be covered once the new sites open, %
        (set covering: the fewest sites that reach it).
    minutes, mode, kind
        The service circle and which existing facilities count.
    candidates
        Candidate points (``candidate_id``, geometry); default :func:`candidate_cells`. A planner's
        file is read with :func:`data.plan_inputs.read_candidates`.
    exclude
        Polygons where no site may go.
    weighted
        Weigh elders by need (80+, disabled, and the priority groups of ``settings.gap_group_weights``,
        default 独居; see :mod:`planning.gaps`, and :func:`planning.gaps.with_group_weights` to weight
        other groups).
    solver, time_limit_s
        "highs" (exact, with the time limit) or "greedy" (greedy + interchange; capacitated: greedy).
    capacity
        Capacitated maximal covering (:func:`planning.siting.capacitated_max_cover`; needs ``k``): every
        facility serves at most its places. Demand is every counted elder (one place each, worth their
        need weight), existing facilities of the circle's kinds (not home-care providers) are open and
        serve with their places (:func:`existing_capacity`: beds, else the kind's default), new sites with
        ``capacity_places`` (default ``settings.siting_capacity_places`` of ``kind``; a candidate's own
        ``capacity_places`` column wins). Demand is assigned to existing and new facilities together to
        serve the most weight — never less than the existing facilities serve alone (``served_before``).
        The sites gain ``capacity_places``, ``assigned_elders``, ``assigned_weight`` and
        ``utilisation_pct``; ``existing`` lists the existing facilities' load; the summary gives served and
        unserved elders (unserved: outside every open facility's circle, or inside but over capacity).
    """
    if (k is None) == (target_pct is None):
        raise PlanningInputError("请指定新增站点数或目标覆盖率（二选一）", "give exactly one of k and target_pct")
    if capacity and k is None:
        raise PlanningInputError("按容量选址只支持指定新增站点数（--add），不支持目标覆盖率",
                                 "capacitated siting needs k, not target_pct")
    if target_pct is not None and not 0 < target_pct <= 100:
        raise PlanningInputError(f"目标覆盖率应在 0–100% 之间（收到 {target_pct}）", f"target_pct out of range: {target_pct}")
    elders = region.elders
    network = network_for(region, mode, settings)
    eld_snap = elder_snap_for(region, mode, settings)
    existing = region.facilities if kind is None else region.facilities[region.facilities["kind"] == kind]
    access = elder_access(network, existing, elders, settings=settings, kinds=[], max_minutes=minutes,
                          elder_snap=eld_snap)
    covered = access[f"time_min:{ANY}"].to_numpy() <= minutes
    need = elder_need(elders, settings)
    counted = need["counted"].to_numpy(dtype=bool)  # the elders of settings.coverage_population
    weight = need["weight"].to_numpy(dtype="float64") if weighted else np.ones(len(elders))
    demand_rows = np.flatnonzero(~covered & eld_snap.snapped & counted)

    cands = candidate_cells(region, settings=settings) if candidates is None else candidates.to_crs("EPSG:4326")
    cands = cands.reset_index(drop=True)
    n_offered = len(cands)
    if exclude is not None and len(exclude):
        inside = shapely.STRtree(exclude.geometry.values).query(cands.geometry.values, predicate="within")
        excluded = np.zeros(len(cands), dtype=bool)
        excluded[inside[0]] = True
        cands = cands[~excluded].reset_index(drop=True)
    cand_snap = snap_points(network, cands, settings=settings)
    usable = np.flatnonzero(cand_snap.snapped)
    cands = cands.iloc[usable].reset_index(drop=True)
    cand_snap = _subset(cand_snap, usable)
    if len(cands) == 0:
        raise PlanningInputError("没有可用的候选点（都在排除区域内或离路网太远）", "no usable candidate sites")

    total_w = float(weight[counted].sum())
    before_w = float(weight[covered & counted].sum())
    cap_extra: dict = {}
    existing_table = None
    if capacity:
        cand_cap = candidate_capacity(cands, kind, capacity_places, settings)
        all_rows = np.flatnonzero(eld_snap.snapped & counted)
        times_all = catchment_matrix(network, cand_snap, _subset(eld_snap, all_rows), cutoff_min=minutes)
        times = times_all[:, np.flatnonzero(~covered[all_rows])].tocsr()  # the columns of demand_rows
        visited = existing[~existing["kind"].isin(settings.home_care_kinds)].reset_index(drop=True)
        ex_snap = snap_points(network, visited, settings=settings)
        ex_used = np.flatnonzero(ex_snap.snapped)
        visited = visited.iloc[ex_used].reset_index(drop=True)
        ex_cap, ex_source = existing_capacity(visited, settings)
        ex_times = catchment_matrix(network, _subset(ex_snap, ex_used), _subset(eld_snap, all_rows), cutoff_min=minutes)
        result = capacitated_max_cover(times_all, np.ones(len(all_rows)), int(k), cand_cap, value=weight[all_rows],
                                       existing=ex_times, existing_capacity=ex_cap, solver=solver,
                                       time_limit_s=time_limit_s)
        with np.errstate(divide="ignore", invalid="ignore"):
            ex_util = np.where(np.isfinite(ex_cap) & (ex_cap > 0), 100.0 * result.existing_assigned / ex_cap, np.nan)
        existing_table = pd.DataFrame({
            "id": visited["id"].astype(str).to_numpy() if "id" in visited else np.arange(1, len(visited) + 1),
            "name": visited["name"].astype(str).to_numpy() if "name" in visited else "",
            "kind": visited["kind"].astype(str).to_numpy(),
            "capacity_places": ex_cap, "capacity_source": ex_source,
            "assigned_elders": np.round(result.existing_assigned, 2),
            "assigned_weight": np.round(result.existing_assigned_value, 2), "utilisation_pct": np.round(ex_util, 1)})
        n_counted = int(counted.sum())
        pct = (lambda x: round(100.0 * x / n_counted, 2) if n_counted else 0.0)
        served_after = float(result.served)
        cap_extra = {
            "capacity": True,  # places of a new site (a candidate file's own capacity_places column may differ)
            "capacity_places_new": float(capacity_places) if capacity_places is not None and capacity_places > 0
            else float(settings.capacity_table()[kind]),
            "served_before": round(result.baseline_served, 2), "served_after": round(served_after, 2),
            "served_pct_before": pct(result.baseline_served), "served_pct_after": pct(served_after),
            "served_weight_before": round(result.baseline_value, 2), "served_weight_after": round(result.served_value, 2),
            "unserved_elders": round(n_counted - served_after, 2),
            "unserved_in_reach": round(result.unserved_in_reach, 2),
            "existing_facilities": len(visited), "existing_unsnapped": int(len(ex_snap.snapped) - len(ex_used)),
            "existing_default_capacity": ex_source.count("按类型默认"), "existing_unlimited": ex_source.count("不限"),
        }
        new_cap = cand_cap[result.chosen]
        new_assigned, new_value = result.assigned, result.assigned_value
    elif k is not None:
        times = catchment_matrix(network, cand_snap, _subset(eld_snap, demand_rows), cutoff_min=minutes)
        result = maximal_covering(times, weight[demand_rows], int(k), solver=solver, time_limit_s=time_limit_s)
    else:
        times = catchment_matrix(network, cand_snap, _subset(eld_snap, demand_rows), cutoff_min=minutes)
        need = target_pct / 100.0 * total_w - before_w
        result = set_covering(times, weight[demand_rows], max(need, 0.0), solver=solver, time_limit_s=time_limit_s)

    # elders newly covered, each credited to the first site (in rank order) that reaches it
    chosen = result.chosen
    first_site = np.full(len(demand_rows), -1, dtype=np.int64)
    first_time = np.full(len(demand_rows), np.nan)
    for rank, j in enumerate(chosen):
        row = times.getrow(j)
        hit = row.indices[first_site[row.indices] < 0]
        first_site[hit] = rank
        first_time[hit] = row.toarray().ravel()[hit]
    got = first_site >= 0
    per_site = np.bincount(first_site[got], minlength=len(chosen))
    per_site_w = np.bincount(first_site[got], weights=weight[demand_rows][got], minlength=len(chosen))
    n = int(counted.sum())
    base_count = int((covered & counted).sum())
    after = (base_count + np.cumsum(per_site)) / n * 100.0 if n else np.zeros(len(chosen))
    points = cands.iloc[chosen].reset_index(drop=True)
    lon, lat = points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
    code, name = _community_of(points, region.areas)
    sites = gpd.GeoDataFrame({
        "rank": np.arange(1, len(chosen) + 1),
        "candidate_id": points["candidate_id"].astype(str).to_numpy(),
        "h3": hexes.cells_for_points(lon, lat, settings.h3_resolution) if len(points) else [],
        "lon": lon.round(6), "lat": lat.round(6), "community_code": code, "community_name": name,
        "newly_covered": per_site, "newly_covered_weight": per_site_w.round(2),
        "coverage_pct_after": np.round(after, 2),
    }, geometry=points.geometry.values, crs="EPSG:4326")
    if capacity:
        sites.insert(len(sites.columns) - 1, "capacity_places", new_cap)
        sites.insert(len(sites.columns) - 1, "assigned_elders", np.round(new_assigned, 2))
        sites.insert(len(sites.columns) - 1, "assigned_weight", np.round(new_value, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            sites.insert(len(sites.columns) - 1, "utilisation_pct",
                         np.round(np.where(new_cap > 0, 100.0 * new_assigned / new_cap, np.nan), 1))
    elder_rows = demand_rows[got]
    newly = pd.DataFrame({"rank": first_site[got] + 1, "pid": elders["pid"].to_numpy()[elder_rows],
                          "travel_time_min": np.round(first_time[got], 2)}).sort_values(["rank", "travel_time_min"])
    summary = {
        "elders": n, "elders_left_out": len(elders) - n, "population": settings.coverage_population,
        "group_weights": dict(settings.gap_group_weights) if weighted else {}, "covered_before": base_count,
        "covered_after": base_count + int(per_site.sum()),
        "coverage_pct_before": round(100.0 * base_count / n, 2) if n else 0.0,
        "coverage_pct_after": round(100.0 * float(base_count + per_site.sum()) / n, 2) if n else 0.0,
        "weight_total": round(total_w, 2), "weight_before": round(before_w, 2),
        "weight_after": round(before_w + float(per_site_w.sum()), 2),
        "candidates_offered": n_offered, "candidates_used": len(cands), "demand_elders": len(demand_rows),
        "minutes": minutes, "mode": mode, "kind": kind or "全部类型", "weighted": weighted,
        "solver": result.solver, "status": result.status, "gap": result.gap, "seconds": round(result.seconds, 3),
        **{f"model_{key}": value for key, value in result.details.items()},
        "capacity": False, **cap_extra,
    }
    return SitePlan(sites, newly.reset_index(drop=True), result, summary, existing_table)
