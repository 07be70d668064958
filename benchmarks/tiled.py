"""A large road network made of real OpenStreetMap data: one extract copied over a grid of tiles, seams joined.

Used by ``bench_coverage.py`` to time coverage at 100k–1M elders without downloading a city. How it is built:

1. The base tile is a region's road nodes and edges (EPSG:4326), projected once to a metric CRS (the
   local UTM zone). Its width and height are the extent of its edges there.
2. Tile ``(col, row)`` of an ``n_cols × n_rows`` grid is the base tile translated by ``col × width`` east
   and ``row × height`` north *in the projected CRS* (so every length is unchanged), then brought back to
   EPSG:4326. Node ids are offset per tile: ``tile × 10^d + id``, with ``10^d`` above the largest base id,
   so tile 0 keeps the original ids.
3. Seams: for each pair of adjacent tiles, the ``k_seam`` nodes of each side nearest the shared border
   (taken from the base tile's largest connected component, so the links join the main networks) are
   each linked to their nearest counterpart across the border among the other side's ``k_seam``, if it
   lies within ``max_link_m``. A link is a two-way straight ``footway`` edge whose ``length_m`` is the
   straight distance. All copies are identical, so the links are found once for an east seam and once
   for a north seam, and repeated at every seam with the tiles' id offsets.
4. Points (facilities, elders) are tiled with the same translations; :func:`sample_points` draws a
   larger set with replacement and jitters each draw uniformly within a disc of ``jitter_m``.

Everything is seeded and deterministic. This module is benchmark scaffolding, not part of ElderMap.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.crs import working_crs

CRS = "EPSG:4326"
CONNECTOR_HIGHWAY = "footway"


@dataclass(frozen=True)
class TiledRoads:
    """Road nodes and edges of a tile grid (EPSG:4326) and how they were made.

    Attributes
    ----------
    road_nodes
        ``node_id``, ``tile`` and Point ``geometry``.
    road_edges
        The base edges' columns plus ``tile`` (-1 for seam connectors); connectors are two-way
        ``footway`` edges with ``length_m`` set to their straight length.
    n_cols, n_rows
        Grid size (tiles east, tiles north).
    width_m, height_m
        Translation between neighbouring tiles in the projected CRS, metres.
    id_factor
        Node id of tile ``t`` = ``t × id_factor + base id``.
    connectors
        Number of seam connector edges.
    connectors_per_east_seam, connectors_per_north_seam
        Links across one east–west neighbour pair and one south–north pair.
    k_seam, max_link_m
        Nodes per side of a seam considered for links, and the longest link in metres.
    crs
        The projected CRS the tiles were translated in.
    """

    road_nodes: gpd.GeoDataFrame
    road_edges: gpd.GeoDataFrame
    n_cols: int
    n_rows: int
    width_m: float
    height_m: float
    id_factor: int
    connectors: int
    connectors_per_east_seam: int
    connectors_per_north_seam: int
    k_seam: int
    max_link_m: float
    crs: object

    @property
    def n_tiles(self) -> int:
        return self.n_cols * self.n_rows

    def offsets_m(self) -> np.ndarray:
        """(dx, dy) translation of each tile in metres, tile index = row × n_cols + col."""
        return tile_offsets_m(self.n_cols, self.n_rows, self.width_m, self.height_m)

    def describe(self) -> str:
        """One paragraph saying how the grid was built, for benchmark output."""
        return (f"{self.n_cols}x{self.n_rows} tiles of {self.width_m:.0f} m x {self.height_m:.0f} m (translated in "
                f"{self.crs}), {len(self.road_nodes):,} nodes, {len(self.road_edges):,} edges, of which "
                f"{self.connectors:,} seam connectors ({self.connectors_per_east_seam} per east seam, "
                f"{self.connectors_per_north_seam} per north seam: the {self.k_seam} nodes nearest each side of a "
                f"seam linked to their nearest counterpart across within {self.max_link_m:g} m)")


def tile_offsets_m(n_cols: int, n_rows: int, width_m: float, height_m: float) -> np.ndarray:
    """(dx, dy) in metres of each tile of the grid, tile index = row × n_cols + col."""
    col, row = np.meshgrid(np.arange(n_cols), np.arange(n_rows))
    return np.column_stack([col.ravel() * width_m, row.ravel() * height_m]).astype("float64")


def _main_component_nodes(node_ids: np.ndarray, edges: pd.DataFrame) -> np.ndarray:
    """Boolean mask of ``node_ids`` in the largest (undirected) connected component of ``edges``."""
    u = np.searchsorted(node_ids, edges["u"].to_numpy())
    v = np.searchsorted(node_ids, edges["v"].to_numpy())
    n = len(node_ids)
    graph = sp.coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return labels == np.argmax(np.bincount(labels))


def _seam_links(xy: np.ndarray, *, axis: int, low_side: float, high_side: float, shift: float, k: int,
                max_link_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Links across one seam between a tile and its neighbour ``shift`` metres further along ``axis``.

    ``xy`` are the base tile's candidate node coordinates. Returns (index in the near tile, index in the
    far tile, length m) of each link, deduplicated.
    """
    near = np.argsort(high_side - xy[:, axis], kind="stable")[:k]  # closest to the near tile's far border
    far = np.argsort(xy[:, axis] - low_side, kind="stable")[:k]  # closest to the far tile's near border
    far_xy = xy[far].copy()
    far_xy[:, axis] += shift
    near_xy = xy[near]
    pairs = set()
    d, j = cKDTree(far_xy).query(near_xy, distance_upper_bound=max_link_m)
    pairs.update((int(near[i]), int(far[j[i]])) for i in np.flatnonzero(np.isfinite(d)))
    d, j = cKDTree(near_xy).query(far_xy, distance_upper_bound=max_link_m)
    pairs.update((int(near[j[i]]), int(far[i])) for i in np.flatnonzero(np.isfinite(d)))
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    a, b = np.array(sorted(pairs)).T
    far_pos = xy[b].copy()
    far_pos[:, axis] += shift
    return a, b, np.hypot(*(far_pos - xy[a]).T)


def tile_roads(road_nodes: gpd.GeoDataFrame, road_edges: gpd.GeoDataFrame, *, n_cols: int, n_rows: int,
               k_seam: int = 40, max_link_m: float = 150.0, crs: object | None = None) -> TiledRoads:
    """Copy a region's roads over an ``n_cols × n_rows`` grid and join neighbouring tiles at the seams.

    Parameters
    ----------
    road_nodes, road_edges
        The base tile (EPSG:4326), as returned by ``geo.osm.load_roads`` (edges may be a subset, for
        example only walkable ones; nodes not used by an edge are dropped).
    k_seam
        Nodes per side of a seam considered for links.
    max_link_m
        Longest seam link, metres.
    crs
        Projected CRS to translate in; default the base tile's local UTM zone.
    """
    if road_edges.crs is None or road_nodes.crs is None:
        raise ValueError("road_nodes and road_edges need a CRS")
    crs = crs if crs is not None else working_crs(road_edges, what_zh="道路数据", what_en="road edges")
    used = np.union1d(road_edges["u"].to_numpy(), road_edges["v"].to_numpy())
    base_nodes = road_nodes[road_nodes["node_id"].isin(used)].sort_values("node_id").reset_index(drop=True)
    if len(base_nodes) != len(used):
        raise ValueError(f"{len(used) - len(base_nodes)} edge end nodes are missing from road_nodes")
    base_edges = road_edges.reset_index(drop=True)
    edges_p = base_edges.geometry.to_crs(crs).to_numpy()
    nodes_p = base_nodes.geometry.to_crs(crs).to_numpy()
    x0, y0, x1, y1 = shapely.total_bounds(edges_p)
    width, height = float(x1 - x0), float(y1 - y0)
    node_ids = base_nodes["node_id"].to_numpy(dtype="int64")
    id_factor = 10 ** len(str(int(node_ids.max())))
    if (n_cols * n_rows) * id_factor >= 2**62:
        raise ValueError("too many tiles for int64 node ids")
    offsets = tile_offsets_m(n_cols, n_rows, width, height)
    n_tiles = len(offsets)

    xy = shapely.get_coordinates(nodes_p)
    main = np.flatnonzero(_main_component_nodes(node_ids, base_edges))
    east = _seam_links(xy[main], axis=0, low_side=x0, high_side=x1, shift=width, k=k_seam, max_link_m=max_link_m)
    north = _seam_links(xy[main], axis=1, low_side=y0, high_side=y1, shift=height, k=k_seam, max_link_m=max_link_m)

    tile_of = np.repeat(np.arange(n_tiles), len(base_edges))
    geoms = np.concatenate([shapely.transform(edges_p, lambda c, d=d: c + d) for d in offsets])
    edges = pd.concat([base_edges.drop(columns="geometry")] * n_tiles, ignore_index=True)
    edges["u"] = edges["u"].to_numpy() + tile_of * id_factor
    edges["v"] = edges["v"].to_numpy() + tile_of * id_factor
    edges["tile"] = tile_of

    links = []
    for t in range(n_tiles):
        col, row = t % n_cols, t // n_cols
        for (a, b, length), ok, step in ((east, col + 1 < n_cols, 1), (north, row + 1 < n_rows, n_cols)):
            if not ok or len(a) == 0:
                continue
            ua, vb = xy[main][a] + offsets[t], xy[main][b] + offsets[t + step]
            links.append(pd.DataFrame({"u": node_ids[main][a] + t * id_factor,
                                       "v": node_ids[main][b] + (t + step) * id_factor,
                                       "length_m": length, "geometry": shapely.linestrings(
                                           np.stack([ua, vb], axis=1))}))
    connectors = pd.concat(links, ignore_index=True) if links else pd.DataFrame(
        {"u": [], "v": [], "length_m": [], "geometry": []})
    extra = edges.iloc[:0].reindex(range(len(connectors)))  # every attribute missing
    extra["highway"] = CONNECTOR_HIGHWAY
    if "oneway" in extra:
        extra["oneway"] = False
    extra["tile"] = -1
    extra["u"] = connectors["u"].to_numpy(dtype="int64")
    extra["v"] = connectors["v"].to_numpy(dtype="int64")
    extra["length_m"] = connectors["length_m"].to_numpy(dtype="float64")
    extra = extra.astype(edges.dtypes.to_dict())
    edges = pd.concat([edges, extra[edges.columns]], ignore_index=True)
    geoms = np.concatenate([geoms, connectors["geometry"].to_numpy()])
    road_edges_out = gpd.GeoDataFrame(edges, geometry=gpd.GeoSeries(geoms, crs=crs).to_crs(CRS).to_numpy(),
                                      crs=CRS)

    node_tile = np.repeat(np.arange(n_tiles), len(base_nodes))
    node_geoms = np.concatenate([shapely.transform(nodes_p, lambda c, d=d: c + d) for d in offsets])
    road_nodes_out = gpd.GeoDataFrame({"node_id": np.tile(node_ids, n_tiles) + node_tile * id_factor,
                                       "tile": node_tile},
                                      geometry=gpd.GeoSeries(node_geoms, crs=crs).to_crs(CRS).to_numpy(), crs=CRS)
    return TiledRoads(road_nodes_out, road_edges_out, n_cols, n_rows, width, height, id_factor, len(connectors),
                      len(east[0]), len(north[0]), k_seam, max_link_m, crs)


def tile_points(points: gpd.GeoDataFrame, roads: TiledRoads) -> gpd.GeoDataFrame:
    """Copies of ``points`` in every tile of ``roads`` (same translations), with a ``tile`` column, EPSG:4326."""
    if points.crs is None:
        raise ValueError("points need a CRS")
    base = points.geometry.to_crs(roads.crs).to_numpy()
    offsets = roads.offsets_m()
    geoms = np.concatenate([shapely.transform(base, lambda c, d=d: c + d) for d in offsets])
    table = pd.concat([points.drop(columns=points.geometry.name)] * len(offsets), ignore_index=True)
    table["tile"] = np.repeat(np.arange(len(offsets)), len(points))
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, crs=roads.crs).to_crs(CRS).to_numpy(), crs=CRS)


def sample_points(points: gpd.GeoDataFrame, n: int, *, crs: object, jitter_m: float = 20.0,
                  seed: int = 0) -> gpd.GeoDataFrame:
    """``n`` points drawn with replacement from ``points``, each moved uniformly within ``jitter_m`` metres.

    Attributes are copied from the drawn point; the jitter is applied in the projected ``crs``.
    Returns EPSG:4326 with a fresh RangeIndex.
    """
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(points), n)
    radius = jitter_m * np.sqrt(rng.random(n))
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    xy = shapely.get_coordinates(points.geometry.to_crs(crs).to_numpy())[pick]
    xy += np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    table = points.drop(columns=points.geometry.name).iloc[pick].reset_index(drop=True)
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(shapely.points(xy), crs=crs).to_crs(CRS).to_numpy(),
                            crs=CRS)
