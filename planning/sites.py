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
from planning.siting import SitingResult, maximal_covering, set_covering

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
    result: SitingResult
    summary: dict


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
        "highs" (exact, with the time limit) or "greedy".
    """
    if (k is None) == (target_pct is None):
        raise PlanningInputError("请指定新增站点数或目标覆盖率（二选一）", "give exactly one of k and target_pct")
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

    times = catchment_matrix(network, cand_snap, _subset(eld_snap, demand_rows), cutoff_min=minutes)
    total_w = float(weight[counted].sum())
    before_w = float(weight[covered & counted].sum())
    if k is not None:
        result = maximal_covering(times, weight[demand_rows], int(k), solver=solver, time_limit_s=time_limit_s)
    else:
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
    }
    return SitePlan(sites, newly.reset_index(drop=True), result, summary)
