"""Walking and driving networks from a region's roads, and snapping points onto them.

A :class:`Network` is a directed sparse graph (scipy CSR) whose weights are
travel times in minutes, plus the edge table it came from in a projected
working CRS. Walking is bidirectional on every way pedestrians may use;
driving follows road classes (speeds from settings) and ``oneway``.

Points (facilities, elders) are snapped to the nearest *edge*, not the nearest
node: a point at fraction ``t`` along edge u→v reaches u after ``t`` of the
edge's time and v after ``1 − t``. The straight access distance from the
point to the edge is walked at the elders' walking speed and added to the
travel time. Points farther than ``settings.snap_limit_m`` are not snapped and
are reported.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.crs import transformer, working_crs
from geo.errors import NetworkError, NoCrsError
from geo.settings import Settings

log = logging.getLogger(__name__)

Mode = Literal["walk", "drive"]
MODES: tuple[str, ...] = ("walk", "drive")
MIN_WEIGHT_MIN = 1e-9
"""scipy's csgraph treats stored zeros as missing edges: zero-time edges get this weight instead."""

_NO = {"no", "private"}
_YES_FOOT = {"yes", "designated", "permissive"}


class EdgeArrays(NamedTuple):
    """Columns of :attr:`Network.edges` as arrays (:attr:`Network.edge_arrays`)."""

    u: np.ndarray
    v: np.ndarray
    time_min: np.ndarray
    two_way: np.ndarray


@dataclass(frozen=True, eq=False)
class Network:
    """A travel-time graph.

    Attributes
    ----------
    mode
        "walk" or "drive".
    graph
        ``n × n`` CSR matrix of travel times in minutes; entry (i, j) is the
        fastest direct edge i→j.
    node_ids
        OSM node id of each graph index.
    edges
        The usable edges in the working CRS: ``u_idx``, ``v_idx``, ``length_m``,
        ``time_min`` (u→v), ``two_way`` (bool: also v→u with the same time),
        ``highway``, ``geometry`` (LineString oriented u→v).
    crs
        Working (projected, metric) CRS of ``edges`` and snapping.
    component
        Label of the weakly connected component of each node.
    main_component
        Label of the largest component.
    """

    mode: str
    graph: sp.csr_matrix
    node_ids: np.ndarray
    edges: gpd.GeoDataFrame
    crs: object
    component: np.ndarray
    main_component: int
    walk_speed_m_per_min: float

    @cached_property
    def segments(self) -> SegmentIndex:
        """Index of the edges' straight pieces for snapping (built on first use, then kept)."""
        return SegmentIndex.of(self.edges)

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """STRtree of the edge lines (exact fallback of :meth:`SegmentIndex.nearest`)."""
        return shapely.STRtree(self.edges.geometry.values, node_capacity=4)

    @cached_property
    def edge_arrays(self) -> EdgeArrays:
        """The edges' ``u_idx``, ``v_idx``, ``time_min`` and ``two_way`` columns as NumPy arrays, read once (a
        network's edges are never changed after it is built): the per-request searches read a few rows of them."""
        edges = self.edges
        return EdgeArrays(edges["u_idx"].to_numpy(), edges["v_idx"].to_numpy(), edges["time_min"].to_numpy(),
                          edges["two_way"].to_numpy(dtype=bool))

    @property
    def n_nodes(self) -> int:
        return int(self.graph.shape[0])

    def components_summary(self) -> pd.DataFrame:
        """Connected pieces of the network: label, nodes, and whether it is the main one (largest first)."""
        labels, counts = np.unique(self.component, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        return pd.DataFrame({"component": labels[order], "nodes": counts[order],
                             "main": labels[order] == self.main_component})


def _lines_to_crs(lines: gpd.GeoSeries, crs: object) -> np.ndarray:
    """LineStrings reprojected as one coordinate array (pyproj) and rebuilt: faster than ``to_crs``."""
    values = lines.values
    if pyproj.CRS.from_user_input(lines.crs) == pyproj.CRS.from_user_input(crs):
        return np.asarray(values)
    if len(values) == 0 or not (shapely.get_type_id(values) == 1).all() or shapely.is_empty(values).any():
        return np.asarray(lines.to_crs(crs).values)  # anything but plain LineStrings: geopandas' way
    xy, index = shapely.get_coordinates(values, return_index=True)
    x, y = transformer(lines.crs, crs).transform(xy[:, 0], xy[:, 1])
    return np.asarray(shapely.linestrings(np.column_stack([x, y]), indices=index), dtype=object).reshape(-1)


def _is_in(edges: gpd.GeoDataFrame, column: str, values: set[str] | list[str]) -> np.ndarray:
    """Bool per edge: ``column`` is one of ``values`` (False where the column is missing or empty)."""
    if column not in edges:
        return np.zeros(len(edges), dtype=bool)
    return edges[column].isin(list(values)).to_numpy(dtype=bool)


def usable_edges(edges: gpd.GeoDataFrame, mode: str, settings: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which road edges a mode may use: (usable mask, speed km/h per edge, two_way per edge).

    The rules :func:`build_network` applies (walking off ``settings.walk_excluded_highways`` unless
    foot access is granted, driving on the classes of ``settings.drive_speeds_kmh``, ``access``,
    ``foot``, ``motor_vehicle`` and ``oneway`` honoured).
    """
    access_no = _is_in(edges, "access", _NO)
    if mode == "walk":
        foot_yes = _is_in(edges, "foot", _YES_FOOT)
        ok = ~_is_in(edges, "highway", settings.walk_excluded_highways) | foot_yes
        ok &= ~_is_in(edges, "foot", {"no"})
        ok &= ~access_no | foot_yes
        speed = np.full(len(edges), settings.walk_speed_kmh)
        speed[_is_in(edges, "highway", {"steps"})] *= settings.walk_steps_factor
        return ok, speed, np.ones(len(edges), dtype=bool)
    if mode != "drive":
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    table = settings.drive_speed_table()
    speed = edges["highway"].astype(object).map(table).to_numpy(dtype="float64", na_value=np.nan)
    maxspeed = edges["maxspeed_kmh"].to_numpy(dtype="float64") if "maxspeed_kmh" in edges else np.full(len(edges), np.nan)
    speed = np.where(np.isnan(maxspeed), speed, np.fmin(speed, maxspeed))
    ok = ~np.isnan(speed) & (speed > 0) & ~access_no & ~_is_in(edges, "motor_vehicle", _NO)
    two_way = ~edges["oneway"].to_numpy(dtype=bool)
    return ok, np.nan_to_num(speed, nan=1.0), two_way


def build_network(road_edges: gpd.GeoDataFrame, *, mode: Mode, settings: Settings) -> Network:
    """Build the travel-time graph of one mode from a region's road edges.

    Parameters
    ----------
    road_edges
        Edges as stored in a region (``u``, ``v``, ``highway``, ``oneway``, ``access``,
        ``foot``, ``motor_vehicle``, ``maxspeed_kmh``, LineString geometry; any CRS).
    mode
        "walk": bidirectional, at ``settings.walk_speed_kmh`` (steps slower), pedestrians kept
        off ``settings.walk_excluded_highways``. "drive": road classes in
        ``settings.drive_speeds_kmh`` at those speeds (capped by ``maxspeed``), honouring oneway.

    Edge lengths are measured in the working CRS; disconnected pieces are kept
    and reported (INFO log and :meth:`Network.components_summary`), not dropped.
    """
    crs = working_crs(road_edges, settings, what_zh="道路数据", what_en="road edges")
    ok, speed_kmh, two_way = usable_edges(road_edges, mode, settings)
    edges = road_edges.loc[ok, ["u", "v", "highway", "geometry"]]
    if edges.empty:
        raise NetworkError(f"道路数据中没有可用于{'步行' if mode == 'walk' else '驾车'}的道路",
                           f"no usable {mode} edges")
    lines = _lines_to_crs(edges.geometry, crs)
    length_m = shapely.length(lines)
    time_min = length_m / (speed_kmh[ok] * 1000.0 / 60.0)
    node_ids, inverse = np.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]),
                                  return_inverse=True)
    n = len(node_ids)
    u_idx, v_idx = inverse[: len(edges)], inverse[len(edges):]
    tw = two_way[ok]
    table = gpd.GeoDataFrame({"u_idx": u_idx, "v_idx": v_idx, "length_m": length_m, "time_min": time_min,
                              "two_way": tw, "highway": edges["highway"].to_numpy()},
                             geometry=lines, crs=crs)
    rows = np.concatenate([u_idx, v_idx[tw]])
    cols = np.concatenate([v_idx, u_idx[tw]])
    weights = np.concatenate([time_min, time_min[tw]])
    graph = min_csr(rows, cols, weights, n)
    n_comp, labels = connected_components(graph, directed=True, connection="weak")
    main = int(np.argmax(np.bincount(labels)))
    outside = int((labels != main).sum())
    log.info("%s network built: %d nodes, %d edges, %d components (%d nodes outside the main one)",
             mode, n, graph.nnz, n_comp, outside)
    walk_speed = settings.walk_speed_kmh * 1000.0 / 60.0
    return Network(mode, graph, node_ids, table, crs, labels, main, walk_speed)


def min_csr(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR matrix keeping the *minimum* weight of parallel entries (scipy would sum them).

    Self-loops are dropped; zero weights become :data:`MIN_WEIGHT_MIN` so they are not lost.
    """
    keep = rows != cols
    rows, cols, weights = rows[keep], cols[keep], np.maximum(weights[keep], MIN_WEIGHT_MIN)
    key = rows.astype(np.int64) * n + cols
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
    shortest = np.minimum.reduceat(weights[order], first) if len(key) else weights
    key = key[first]
    return sp.csr_matrix((shortest, (key // n, key % n)), shape=(n, n))


PIECE_M = 10.0
"""Longest straight piece of the snapping index, metres: edges are cut into pieces of at most this length."""
CANDIDATES = 8
"""Pieces looked at per point before the exactness check (8 leaves about 5 % of points to the fallback)."""


@dataclass(frozen=True, eq=False)
class SegmentIndex:
    """The edges cut into short straight pieces, with a KD-tree of the pieces' midpoints.

    The nearest edge of a point is found exactly, not approximately: with ``h`` the
    longest half-piece, a piece whose midpoint is ``r`` away is at least ``r − h``
    away. Among the ``k`` nearest midpoints the closest piece (distance ``d``) is the
    nearest of all whenever the ``k``-th midpoint is at least ``d + h`` away; the
    points where that does not hold go to an exact STRtree query.
    """

    ax: np.ndarray  # piece start x
    ay: np.ndarray  # piece start y
    dx: np.ndarray  # piece end minus start, x
    dy: np.ndarray  # piece end minus start, y
    edge: np.ndarray  # edge row of each piece
    offset_m: np.ndarray  # distance along the edge to the piece start
    edge_length_m: np.ndarray  # per edge: sum of its pieces
    half_m: float  # longest half-piece
    tree: cKDTree

    @classmethod
    def of(cls, edges: gpd.GeoDataFrame, piece_m: float = PIECE_M) -> SegmentIndex:
        xy, line = shapely.get_coordinates(edges.geometry.values, return_index=True)
        inner = line[1:] == line[:-1]
        a, b, edge = xy[:-1][inner], xy[1:][inner], line[:-1][inner]
        length = np.hypot(*(b - a).T)
        before = np.cumsum(length) - length
        first_of_edge = np.r_[True, edge[1:] != edge[:-1]] if len(edge) else np.zeros(0, dtype=bool)
        offset = before - before[np.maximum.accumulate(np.where(first_of_edge, np.arange(len(edge)), 0))]
        cuts = np.maximum(1, np.ceil(length / piece_m)).astype(np.int64)
        seg = np.repeat(np.arange(len(length)), cuts)
        k = np.arange(len(seg)) - np.repeat(np.cumsum(cuts) - cuts, cuts)
        f0, f1 = k / cuts[seg], (k + 1) / cuts[seg]
        d = (b - a)[seg]
        pa, pb = a[seg] + d * f0[:, None], a[seg] + d * f1[:, None]
        half = float((length / cuts).max() / 2) if len(length) else 0.0
        return cls(pa[:, 0].copy(), pa[:, 1].copy(), pb[:, 0] - pa[:, 0], pb[:, 1] - pa[:, 1],
                   edge[seg], offset[seg] + length[seg] * f0,
                   np.bincount(edge, weights=length, minlength=len(edges)), half,
                   cKDTree((pa + pb) / 2, balanced_tree=False, compact_nodes=False))

    def distances(self, pts: np.ndarray, piece: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance from each point to its piece, and the clamped fraction along the piece."""
        ax, ay, dx, dy = self.ax[piece], self.ay[piece], self.dx[piece], self.dy[piece]
        px, py = pts[:, 0] - ax, pts[:, 1] - ay
        len2 = dx * dx
        len2 += dy * dy
        u = px * dx
        u += py * dy
        np.divide(u, len2, out=u, where=len2 > 0)  # a zero-length piece keeps u = 0
        np.clip(u, 0.0, 1.0, out=u)
        px -= u * dx
        py -= u * dy
        px *= px
        py *= py
        px += py
        return np.sqrt(px, out=px), u

    def nearest(self, pts: np.ndarray, limit_m: float, *, workers: int = -1) -> tuple[np.ndarray, ...]:
        """For each point: nearest piece (-1 if none within ``limit_m + half_m``), its distance, the
        fraction along it, and whether the answer is proven exact.

        Points not settled among the nearest :data:`CANDIDATES` midpoints are asked again with four
        and sixteen times as many before giving up (``exact`` False).
        """
        n = len(pts)
        piece = np.full(n, -1, dtype=np.int64)
        best = np.full(n, np.inf)
        frac = np.zeros(n)
        exact = np.zeros(n, dtype=bool)
        todo = np.arange(n)
        for k in (CANDIDATES, 4 * CANDIDATES, 16 * CANDIDATES):
            k = min(k, self.tree.n)
            q = pts[todo]
            r, j = self.tree.query(q, k=k, workers=workers, distance_upper_bound=limit_m + self.half_m)
            r, j = r.reshape(len(q), k), j.reshape(len(q), k)
            b = np.full(len(q), np.inf)
            p = np.full(len(q), -1, dtype=np.int64)
            f = np.zeros(len(q))
            for c in range(k):
                # a piece whose midpoint is r away is at least r - half_m away: skip those that cannot win
                rows = np.flatnonzero(r[:, c] - self.half_m < b) if c else np.flatnonzero(j[:, 0] < self.tree.n)
                dist, u = self.distances(q[rows], j[rows, c])
                better = dist < b[rows]
                rows = rows[better]
                b[rows], p[rows], f[rows] = dist[better], j[rows, c], u[better]
            best[todo], piece[todo], frac[todo] = b, p, f
            settled = ~np.isfinite(r[:, -1]) | (r[:, -1] - self.half_m >= np.minimum(b, limit_m)) | (k == self.tree.n)
            exact[todo[settled]] = True
            todo = todo[~settled]
            if not len(todo):
                break
        return piece, best, frac, exact


def _snap_chunk(index: SegmentIndex, pts: np.ndarray, limit_m: float) -> tuple[np.ndarray, ...]:
    """Nearest edge, distance (m), normalised position along it and exactness, for a chunk of points."""
    piece, dist, frac, exact = index.nearest(pts, limit_m, workers=1)
    p = np.maximum(piece, 0)
    edge = np.where(piece >= 0, index.edge[p], -1)
    length = index.edge_length_m[np.maximum(edge, 0)]
    along = index.offset_m[p] + frac * np.hypot(index.dx[p], index.dy[p])
    t = np.divide(along, length, out=np.zeros(len(pts)), where=length > 0)
    t[along >= length - 1e-6] = 1.0  # at the end node exactly (summed piece lengths round): one-way edges reach it from v
    return edge, dist, t, exact


def _snap_exact(network: Network, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest edge, distance and normalised position by an STRtree query of the edge lines."""
    geoms = shapely.points(pts)
    idx, hit = network.edge_tree.query_nearest(geoms, return_distance=False, all_matches=False)
    if len(idx) != len(pts) or np.any(idx != np.arange(len(pts))):
        raise RuntimeError("STRtree.query_nearest did not return exactly one edge per point")
    lines = network.edges.geometry.values[hit]
    return hit, shapely.distance(lines, geoms), shapely.line_locate_point(lines, geoms, normalized=True)


def _projected_xy(geoms: gpd.GeoSeries, crs: object) -> np.ndarray:
    """(n, 2) coordinates of point geometries in ``crs`` (pyproj on plain arrays: faster than to_crs)."""
    if not (shapely.get_type_id(np.asarray(geoms.values)) == 0).all():  # not all Points
        geoms = geoms.to_crs(crs).centroid
        return shapely.get_coordinates(geoms.values)
    xy = shapely.get_coordinates(geoms.values)
    x, y = transformer(geoms.crs, crs).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def _z_order(xy: np.ndarray, *, cell_m: float) -> np.ndarray:
    """Permutation sorting points along a Z-order (Morton) curve of ``cell_m`` cells."""
    cells = np.floor((xy - xy.min(axis=0)) / cell_m).astype(np.uint64)
    cells = np.minimum(cells, np.uint64(0xFFFFFFFF))

    def spread(v: np.ndarray) -> np.ndarray:
        v = (v | (v << np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
        v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
        v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        v = (v | (v << np.uint64(2))) & np.uint64(0x3333333333333333)
        return (v | (v << np.uint64(1))) & np.uint64(0x5555555555555555)

    return np.argsort(spread(cells[:, 0]) | (spread(cells[:, 1]) << np.uint64(1)))


@dataclass(frozen=True)
class Snap:
    """Where points meet a network.

    Attributes
    ----------
    edge
        Row of ``network.edges`` each point is snapped to; -1 when not snapped.
    t
        Fraction along that edge from u to v (0–1).
    access_m
        Straight distance from the point to the edge, metres (NaN when not snapped).
    access_min
        ``access_m`` walked at the elders' walking speed, minutes.
    """

    edge: np.ndarray
    t: np.ndarray
    access_m: np.ndarray
    access_min: np.ndarray

    @property
    def snapped(self) -> np.ndarray:
        return self.edge >= 0

    def __len__(self) -> int:
        return len(self.edge)


def snap_points(network: Network, points: gpd.GeoDataFrame, *, settings: Settings) -> Snap:
    """Snap points to the nearest usable edge within ``settings.snap_limit_m``.

    Points without geometry, or farther than the limit, get ``edge = -1``; a
    warning names how many. Input order is kept.
    """
    if points.crs is None:
        raise NoCrsError("点数据没有坐标系信息", "points have no CRS")
    geoms = points.geometry
    values = np.asarray(geoms.values)
    present = ~(shapely.is_missing(values) | shapely.is_empty(values))
    xy = np.full((len(points), 2), np.nan)
    if present.any():
        xy[present] = _projected_xy(geoms if present.all() else geoms[present], network.crs)
    return _snap_xy(network, xy, settings=settings)


_FROM_WGS84: dict[int, tuple[Network, pyproj.Transformer]] = {}
"""WGS-84 -> network CRS transformers per network (building one parses both CRSs: milliseconds)."""


def snap_lonlat(network: Network, lon: float, lat: float, *, settings: Settings) -> Snap:
    """:func:`snap_points` for one WGS-84 place (no GeoDataFrame: a request answers in microseconds)."""
    hit = _FROM_WGS84.get(id(network))
    if hit is None or hit[0] is not network:
        if len(_FROM_WGS84) >= 16:
            _FROM_WGS84.pop(next(iter(_FROM_WGS84)))
        hit = _FROM_WGS84[id(network)] = (network, transformer("EPSG:4326", network.crs))
    x, y = hit[1].transform([float(lon)], [float(lat)])
    return _snap_xy(network, np.column_stack([x, y]), settings=settings)


def compute_threads() -> int:
    """Threads one computation of this process may use: the cores it may run on, or fewer when the process was given
    a thread budget in ``OMP_NUM_THREADS`` — as Dask's nanny gives each single-threaded batch worker (1), so that
    workers sharing a machine do not each spread over every core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        cores = os.cpu_count() or 1
    budget = os.environ.get("OMP_NUM_THREADS", "").strip()
    return max(1, min(cores, int(budget))) if budget.isdigit() and int(budget) > 0 else max(1, cores)


def _snap_xy(network: Network, xy: np.ndarray, *, settings: Settings) -> Snap:
    """Snap (n, 2) coordinates in the network's CRS; rows with a non-finite coordinate are not located."""
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    t = np.full(n, np.nan)
    access_m = np.full(n, np.nan)
    present = np.isfinite(xy).all(axis=1)  # a missing geometry or POINT (NaN NaN) is not a location
    if present.any():
        # Query in Z-order: neighbouring points walk the same tree branches (about 2x faster on a
        # million points); contiguous chunks run on the cores this process may use (numpy and GEOS release the
        # GIL; :func:`compute_threads`).
        located_xy = xy[present]
        order = _z_order(located_xy, cell_m=50.0)
        pts = located_xy[order]
        chunks = np.array_split(np.arange(len(pts)), max(1, min(compute_threads(), len(pts) // 50_000)))
        index = network.segments
        if len(chunks) == 1:  # no pool for a few points (a request snaps one)
            parts = [_snap_chunk(index, pts, settings.snap_limit_m)]
        else:
            with ThreadPoolExecutor(len(chunks)) as pool:
                parts = list(pool.map(lambda c: _snap_chunk(index, pts[c], settings.snap_limit_m), chunks))
        nearest, dist, proj, exact = (np.concatenate(col) for col in zip(*parts))
        unsure = np.flatnonzero(~exact)
        if len(unsure):  # points the KD-tree bound could not settle: exact query of the edge lines
            nearest[unsure], dist[unsure], proj[unsure] = _snap_exact(network, pts[unsure])
        near = dist <= settings.snap_limit_m
        located = np.flatnonzero(present)[order[near]]
        edge[located] = nearest[near]
        t[located] = np.clip(proj[near], 0.0, 1.0)
        access_m[located] = dist[near]
    far = int(present.sum() - (edge >= 0).sum())
    if far:
        log.warning("%d of %d points lie more than %.0f m from any %s road and were not snapped",
                    far, n, settings.snap_limit_m, network.mode)
    return Snap(edge, t, access_m, access_m / network.walk_speed_m_per_min)
