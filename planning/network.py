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
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from geo.errors import NetworkError, NoCrsError
from geo.settings import Settings

log = logging.getLogger(__name__)

Mode = Literal["walk", "drive"]
MODES: tuple[str, ...] = ("walk", "drive")
MIN_WEIGHT_MIN = 1e-9
"""scipy's csgraph treats stored zeros as missing edges: zero-time edges get this weight instead."""

_NO = {"no", "private"}
_YES_FOOT = {"yes", "designated", "permissive"}


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
    _tree: shapely.STRtree = field(repr=False)

    @property
    def n_nodes(self) -> int:
        return int(self.graph.shape[0])

    def components_summary(self) -> pd.DataFrame:
        """Connected pieces of the network: label, nodes, and whether it is the main one (largest first)."""
        labels, counts = np.unique(self.component, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        return pd.DataFrame({"component": labels[order], "nodes": counts[order],
                             "main": labels[order] == self.main_component})


def working_crs(gdf: gpd.GeoDataFrame, settings: Settings) -> object:
    """The projected CRS for metric work: the configured one, else the local UTM zone."""
    if gdf.crs is None:
        raise NoCrsError("道路数据没有坐标系信息", "road edges have no CRS")
    return settings.working_crs or gdf.estimate_utm_crs()


def _usable(edges: gpd.GeoDataFrame, mode: str, settings: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(usable mask, speed km/h per edge, two_way per edge) for a mode."""
    highway = edges["highway"].astype(object).fillna("").to_numpy()
    access = edges.get("access", pd.Series([None] * len(edges))).astype(object).fillna("").to_numpy()
    if mode == "walk":
        foot = edges.get("foot", pd.Series([None] * len(edges))).astype(object).fillna("").to_numpy()
        foot_yes = np.isin(foot, list(_YES_FOOT))
        ok = (~np.isin(highway, list(settings.walk_excluded_highways)) | foot_yes)
        ok &= foot != "no"
        ok &= ~np.isin(access, list(_NO)) | foot_yes
        speed = np.full(len(edges), settings.walk_speed_kmh)
        speed[highway == "steps"] *= settings.walk_steps_factor
        return ok, speed, np.ones(len(edges), dtype=bool)
    if mode != "drive":
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    table = settings.drive_speed_table()
    motor = edges.get("motor_vehicle", pd.Series([None] * len(edges))).astype(object).fillna("").to_numpy()
    speed = np.array([table.get(h, np.nan) for h in highway], dtype="float64")
    maxspeed = edges["maxspeed_kmh"].to_numpy(dtype="float64") if "maxspeed_kmh" in edges else np.full(len(edges), np.nan)
    speed = np.where(np.isnan(maxspeed), speed, np.fmin(speed, maxspeed))
    ok = ~np.isnan(speed) & (speed > 0) & ~np.isin(access, list(_NO)) & ~np.isin(motor, list(_NO))
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
    crs = working_crs(road_edges, settings)
    ok, speed_kmh, two_way = _usable(road_edges, mode, settings)
    edges = road_edges.loc[ok, ["u", "v", "highway", "geometry"]].to_crs(crs)
    if edges.empty:
        raise NetworkError(f"道路数据中没有可用于{'步行' if mode == 'walk' else '驾车'}的道路",
                           f"no usable {mode} edges")
    length_m = edges.geometry.length.to_numpy()
    time_min = length_m / (speed_kmh[ok] * 1000.0 / 60.0)
    node_ids, inverse = np.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]),
                                  return_inverse=True)
    n = len(node_ids)
    u_idx, v_idx = inverse[: len(edges)], inverse[len(edges):]
    tw = two_way[ok]
    table = gpd.GeoDataFrame({"u_idx": u_idx, "v_idx": v_idx, "length_m": length_m, "time_min": time_min,
                              "two_way": tw, "highway": edges["highway"].to_numpy()},
                             geometry=edges.geometry.values, crs=crs)
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
    return Network(mode, graph, node_ids, table, crs, labels, main, walk_speed, shapely.STRtree(table.geometry.values, node_capacity=4))


def min_csr(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR matrix keeping the *minimum* weight of parallel entries (scipy would sum them).

    Self-loops are dropped; zero weights become :data:`MIN_WEIGHT_MIN` so they are not lost.
    """
    keep = rows != cols
    rows, cols, weights = rows[keep], cols[keep], np.maximum(weights[keep], MIN_WEIGHT_MIN)
    order = np.lexsort((weights, cols, rows))
    rows, cols, weights = rows[order], cols[order], weights[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return sp.csr_matrix((weights[first], (rows[first], cols[first])), shape=(n, n))


def _snap_chunk(network: Network, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest edge, distance (m) and normalised position along it, for each point of a chunk."""
    idx, nearest = network._tree.query_nearest(pts, return_distance=False, all_matches=False)
    if len(idx) != len(pts) or np.any(idx != np.arange(len(pts))):  # one match per valid point, in order
        raise RuntimeError("STRtree.query_nearest did not return exactly one edge per point")
    lines = network.edges.geometry.values[nearest]
    return nearest, shapely.distance(lines, pts), shapely.line_locate_point(lines, pts, normalized=True)


def _projected_xy(geoms: gpd.GeoSeries, crs: object) -> np.ndarray:
    """(n, 2) coordinates of point geometries in ``crs`` (pyproj on plain arrays: faster than to_crs)."""
    if not (geoms.geom_type == "Point").all():
        geoms = geoms.to_crs(crs).centroid
        return shapely.get_coordinates(geoms.values)
    xy = shapely.get_coordinates(geoms.values)
    transformer = pyproj.Transformer.from_crs(geoms.crs, crs, always_xy=True)
    x, y = transformer.transform(xy[:, 0], xy[:, 1])
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

    return np.argsort(spread(cells[:, 0]) | (spread(cells[:, 1]) << np.uint64(1)), kind="stable")


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
    n = len(points)
    edge = np.full(n, -1, dtype=np.int64)
    t = np.full(n, np.nan)
    access_m = np.full(n, np.nan)
    geoms = points.geometry
    present = (geoms.notna() & ~geoms.is_empty).to_numpy().copy() if n else np.zeros(0, dtype=bool)
    if present.any():
        present &= np.isfinite(geoms.bounds.to_numpy()).all(axis=1)  # POINT (x NaN) is not a location
    if present.any():
        xy = _projected_xy(geoms[present], network.crs)
        # Query in Z-order: neighbouring points walk the same tree branches (2-3x faster on a
        # million points); the limit is applied afterwards (max_distance makes the query slower).
        order = _z_order(xy, cell_m=50.0)
        pts = shapely.points(xy[order])
        # GEOS releases the GIL: contiguous Z-order chunks run on all cores.
        chunks = np.array_split(np.arange(len(pts)), max(1, min(os.cpu_count() or 1, len(pts) // 50_000)))
        with ThreadPoolExecutor(len(chunks)) as pool:
            parts = list(pool.map(lambda c: _snap_chunk(network, pts[c]), chunks))
        nearest = np.concatenate([p[0] for p in parts])
        dist = np.concatenate([p[1] for p in parts])
        proj = np.concatenate([p[2] for p in parts])
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
