"""Street-following isochrones: the parts of streets reachable within a time, and polygons around them.

A convex hull around reachable nodes (or a circle) claims land across rivers,
railways and blocks with no way through, and hides the gaps between streets
— the osmnx examples (issue 4) show how far it misleads. Here an isochrone
is built from the streets themselves:

1. :func:`planning.routing.node_times` gives every node's time from the
   nearest source (its access walk included).
2. Each edge u→v is reached forward from ``u`` for the fraction
   ``(cutoff − d[u]) / time`` of its length, and on two-way edges backward from
   ``v`` likewise; where the two meet, the whole edge. A source on the edge
   reaches along it both ways (forward only on oneway edges) for what is left
   after its access walk. The access walk itself is not a street: it costs
   time but draws nothing.
3. The reachable pieces are cut from the edge geometry (oriented u→v) and
   buffered by ``buffer_m`` on each side; their union is the isochrone. For
   several times, only the pieces new since the previous time are buffered and
   added to the previous polygon, which keeps the polygons nested.

Everything is vectorised over edges; pieces are cut by interpolating their
end points and keeping the edge vertices in between.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning.network import Network, Snap
from planning.routing import node_times

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
QUAD_SEGS = 8
"""Segments per quarter circle in buffers (GEOS default)."""


def reachable_segments(network: Network, sources: Snap, *, cutoff_min: float) -> gpd.GeoDataFrame:
    """The parts of every street reachable within ``cutoff_min`` from the nearest source.

    Parameters
    ----------
    network
        The travel-time graph.
    sources
        Snapped facilities; unsnapped ones are ignored.
    cutoff_min
        Travel-time budget in minutes, the sources' access walks included.

    Returns
    -------
    geopandas.GeoDataFrame
        In the network's working CRS, one row per reachable piece (at most a few
        per edge, pieces of one edge never overlap), ordered by edge:
        ``edge`` (row of ``network.edges``), ``from_frac`` and ``to_frac``
        (fractions of the edge's length from u, ``from_frac <= to_frac``),
        ``length_m``, and the LineString ``geometry`` oriented u→v. Empty when
        no source is snapped. A piece with ``from_frac == to_frac`` is a spot
        reached with no time left to move on (the budget used up exactly there, or
        a source at the end of a oneway dead end); its geometry is a zero-length
        LineString of two equal points, and isochrones draw a disc around it.
        Such spots at a node that a longer piece already reaches are left out.
    """
    cutoff_min = _check_minutes(cutoff_min, "cutoff_min")
    dist, _ = node_times(network, sources, max_minutes=cutoff_min)
    edge_id, lo, hi, geometry = _pieces(network, sources, dist, cutoff_min)
    return gpd.GeoDataFrame({"edge": edge_id, "from_frac": lo, "to_frac": hi,
                             "length_m": (hi - lo) * network.edges["length_m"].to_numpy()[edge_id]},
                            geometry=gpd.GeoSeries(geometry, crs=network.crs).values, crs=network.crs)


def isochrones(network: Network, sources: Snap, *, minutes: Sequence[float], buffer_m: float = 50.0,
               bands: bool = False) -> gpd.GeoDataFrame:
    """Isochrone polygons of the nearest source for several travel times.

    Parameters
    ----------
    network
        The travel-time graph.
    sources
        Snapped facilities; the polygon for ``m`` minutes covers every street
        position some source reaches within ``m`` minutes (access walk included).
    minutes
        Travel times in minutes, e.g. ``(5, 10, 15)``; sorted ascending, duplicates dropped.
    buffer_m
        Half-width in metres of the band drawn around reachable streets (a
        person this far from a reached street counts as inside).
    bands
        False (default): cumulative polygons, everything within ``m`` minutes.
        True: rings, the cumulative polygon of ``m`` minus that of the previous value.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per value of ``minutes`` (ascending): ``minutes``
        (upper bound of the row's band), ``band_label`` ("0–10 分钟" cumulative,
        "5–10 分钟" for a ring), ``area_km2`` (measured in the working CRS), and
        ``geometry`` (Polygon or MultiPolygon; empty when nothing is reached).
        Cumulative polygons are nested: each is the union of the one before and
        the newly reached streets' buffers, so it contains it (up to the
        rounding of that union, well below a micrometre).

    Notes
    -----
    Use the polygons to show reach on a map. To count the elders served, use
    :func:`planning.routing.nearest` or :func:`planning.catchments.catchment_matrix`:
    a home within ``buffer_m`` of a reached street is inside the polygon even when
    its own street (say a courtyard lane joined to the streets far away) is reached
    much later.
    """
    values = _check_minutes_list(minutes)
    buffer_m = _check_buffer(buffer_m)
    dist, _ = node_times(network, sources, max_minutes=values[-1])
    frame = _polygons(network, sources, dist, values, buffer_m, bands)
    log.info("isochrones: %d sources, minutes %s, %s", int(sources.snapped.sum()),
             "/".join(f"{m:g}" for m in values), "bands" if bands else "cumulative")
    return frame


def facility_isochrones(network: Network, sources: Snap, facility_ids: Sequence[object], *,
                        minutes: Sequence[float], buffer_m: float = 50.0, bands: bool = False) -> gpd.GeoDataFrame:
    """Isochrones of each facility on its own (overlapping between facilities).

    Parameters
    ----------
    network
        The travel-time graph.
    sources
        Snapped facilities.
    facility_ids
        One id per source, in the same order (``len(facility_ids) == len(sources)``).
    minutes, buffer_m, bands
        As in :func:`isochrones`.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per facility per value of ``minutes`` (facilities in
        input order, minutes ascending): ``facility_id`` and the columns of
        :func:`isochrones`. An unsnapped facility gets empty polygons and
        ``area_km2`` 0 (a warning says how many).
    """
    ids = list(facility_ids)
    if len(ids) != len(sources):
        raise ValueError(f"facility_ids has {len(ids)} entries but sources has {len(sources)}: "
                         "pass one id per snapped facility, in the same order")
    values = _check_minutes_list(minutes)
    buffer_m = _check_buffer(buffer_m)
    frames = []
    for k, fid in enumerate(ids):
        one = _subset(sources, k)
        dist, _ = node_times(network, one, max_minutes=values[-1])
        frame = _polygons(network, one, dist, values, buffer_m, bands)
        frame.insert(0, "facility_id", [fid] * len(frame))
        frames.append(frame)
    missing = int((~sources.snapped).sum())
    if missing:
        log.warning("%d of %d facilities are not on the %s network: their isochrones are empty",
                    missing, len(ids), network.mode)
    log.info("facility isochrones: %d facilities, minutes %s", len(ids), "/".join(f"{m:g}" for m in values))
    if not frames:
        empty = _polygons(network, sources, np.full(network.n_nodes, np.inf), values, buffer_m, bands).iloc[:0]
        empty.insert(0, "facility_id", pd.Series([], dtype=object))
        return empty
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=WGS84)


# --- internals ---------------------------------------------------------------------------------------------


def _check_minutes(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number of minutes >= 0, got {value!r}")
    return float(value)


def _check_minutes_list(minutes: Sequence[float]) -> list[float]:
    if isinstance(minutes, str | bytes) or not isinstance(minutes, Sequence | np.ndarray) or len(minutes) == 0:
        raise ValueError(f"minutes must be a non-empty sequence of travel times, e.g. (5, 10, 15), got {minutes!r}")
    values = [_check_minutes(m, "each value of minutes") for m in minutes]
    if min(values) <= 0:
        raise ValueError(f"minutes must all be > 0, got {list(minutes)!r}")
    return sorted(set(values))


def _check_buffer(buffer_m: float) -> float:
    if isinstance(buffer_m, bool) or not isinstance(buffer_m, numbers.Real) or not (
            math.isfinite(buffer_m) and buffer_m > 0):
        raise ValueError(f"buffer_m must be a finite distance in metres > 0, got {buffer_m!r}")
    return float(buffer_m)


def _subset(snap: Snap, k: int) -> Snap:
    """The one-point Snap of position ``k``."""
    sl = slice(k, k + 1)
    return Snap(snap.edge[sl], snap.t[sl], snap.access_m[sl], snap.access_min[sl])


def _label(lower: float, upper: float) -> str:
    return f"{lower:g}–{upper:g} 分钟"


def _polygons(network: Network, sources: Snap, dist: np.ndarray, values: list[float], buffer_m: float,
              bands: bool) -> gpd.GeoDataFrame:
    """Cumulative (or ring) polygons for ascending ``values`` from node times ``dist``; EPSG:4326 frame."""
    geoms, labels = [], []
    previous = shapely.Polygon()
    whole_before = np.zeros(len(network.edges), dtype=bool)
    for i, m in enumerate(values):
        edge_id, lo, hi, pieces = _pieces(network, sources, dist, m)
        whole = (lo <= 0.0) & (hi >= 1.0)
        # reachable pieces only grow with the budget, and the buffer of a union is the union of the
        # buffers: only pieces new since the previous value need buffering, the rest is in `previous`
        new = ~(whole & whole_before[edge_id])
        whole_before[edge_id[whole]] = True
        point = hi <= lo
        chains = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(pieces[new & ~point])))
        spots = shapely.get_point(pieces[new & point], 0)
        buffered = shapely.buffer(np.concatenate([chains, spots]), buffer_m, quad_segs=QUAD_SEGS)
        cumulative = shapely.union_all(np.concatenate([[previous], buffered]))
        if bands:
            geoms.append(shapely.difference(cumulative, previous) if i else cumulative)
            labels.append(_label(values[i - 1] if i else 0.0, m))
        else:
            geoms.append(cumulative)
            labels.append(_label(0.0, m))
        previous = cumulative
    geoms_arr = np.array(geoms, dtype=object)
    frame = gpd.GeoDataFrame({"minutes": np.array(values, dtype="float64"), "band_label": labels,
                              "area_km2": shapely.area(geoms_arr) / 1e6},
                             geometry=gpd.GeoSeries(geoms_arr, crs=network.crs).values, crs=network.crs)
    frame = frame.to_crs(WGS84)
    # overlay slivers narrower than a nanometre collapse when rounded to degrees: repair them away
    frame.geometry = [_polygonal(g) for g in frame.geometry.values]
    return frame


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """A valid (Multi)Polygon: overlay slivers thinner than rounding ("too few points") are repaired away."""
    if shapely.is_valid(geom):
        return geom
    parts = shapely.get_parts(shapely.make_valid(geom))
    while np.isin(shapely.get_type_id(parts), [4, 5, 6, 7]).any():  # multi-part or collection: open it
        parts = shapely.get_parts(parts)
    polygons = parts[shapely.get_type_id(parts) == 3]
    return polygons[0] if len(polygons) == 1 else shapely.multipolygons(polygons)


def _pieces(network: Network, sources: Snap, dist: np.ndarray,
            cutoff_min: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reachable pieces within ``cutoff_min`` given node times ``dist``: edge, from_frac, to_frac, LineStrings.

    See :func:`reachable_segments`.
    """
    edges = network.edges
    u = edges["u_idx"].to_numpy()
    v = edges["v_idx"].to_numpy()
    T = edges["time_min"].to_numpy()
    two_way = edges["two_way"].to_numpy(dtype=bool)
    n_edges = len(edges)

    # forward from u: [0, fu]; backward from v on two-way edges: [1 - fv, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        fu = np.clip(_fraction(cutoff_min - dist[u], T), None, 1.0)
        fv = np.clip(_fraction(cutoff_min - dist[v], T), None, 1.0)
    fv[~two_way] = -1.0
    lo_parts = [np.zeros(n_edges), 1.0 - fv]
    hi_parts = [fu, np.ones(n_edges)]
    edge_parts = [np.arange(n_edges), np.arange(n_edges)]
    valid_parts = [fu >= 0, fv >= 0]

    # around sources on their own edge, what is left after the access walk
    sel = np.flatnonzero(sources.snapped)
    if len(sel):
        e = sources.edge[sel]
        ts = sources.t[sel]
        with np.errstate(divide="ignore", invalid="ignore"):
            reach = _fraction(cutoff_min - sources.access_min[sel], T[e])
        lo_parts.append(np.where(two_way[e], np.clip(ts - reach, 0.0, None), ts))
        hi_parts.append(np.clip(ts + reach, None, 1.0))
        edge_parts.append(e)
        valid_parts.append(reach >= 0)

    valid = np.concatenate(valid_parts)
    edge_id = np.concatenate(edge_parts)[valid]
    lo = np.concatenate(lo_parts)[valid]
    hi = np.concatenate(hi_parts)[valid]
    edge_id, lo, hi = _merge_intervals(edge_id, lo, hi)
    # a zero-length piece is a spot reached with no time left to move on (a budget used up exactly, or a
    # source at the end of a oneway dead end); keep it unless a real piece already touches that node
    point = hi <= lo
    touched = np.zeros(network.n_nodes, dtype=bool)
    touched[u[edge_id[~point & (lo <= 0.0)]]] = True
    touched[v[edge_id[~point & (hi >= 1.0)]]] = True
    at_node = np.where(lo <= 0.0, u[edge_id], np.where(hi >= 1.0, v[edge_id], -1))
    keep = ~point | (at_node < 0) | ~touched[np.maximum(at_node, 0)]
    edge_id, lo, hi = edge_id[keep], lo[keep], hi[keep]
    return edge_id, lo, hi, _cut(np.asarray(edges.geometry.values), edge_id, lo, hi)


def _fraction(budget_min: np.ndarray, time_min: np.ndarray) -> np.ndarray:
    """Fraction of an edge a remaining budget covers: budget / time, −1 where nothing is left or nothing reached.

    A zero-time edge is covered entirely by any budget >= 0.
    """
    out = np.where(time_min > 0, budget_min / np.where(time_min > 0, time_min, 1.0), np.inf)
    return np.where(budget_min >= 0, out, -1.0)  # NaN/−inf budgets (unreached nodes) compare false


def _merge_intervals(edge_id: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                   np.ndarray]:
    """Union of intervals per edge: disjoint, touching ones joined, sorted by (edge, lo)."""
    if len(edge_id) == 0:
        return edge_id.astype(np.int64), lo, hi
    order = np.lexsort((lo, edge_id))
    edge_id, lo, hi = edge_id[order], lo[order], hi[order]
    # fractions lie in [0, 1]: shifting each edge's intervals by 2·(edge rank) makes one running maximum
    # over all edges act as a per-edge running maximum
    shift = 2.0 * np.cumsum(np.r_[0, np.diff(edge_id) != 0])
    reach = np.maximum.accumulate(hi + shift)
    starts = np.ones(len(lo), dtype=bool)
    starts[1:] = (edge_id[1:] != edge_id[:-1]) | (lo[1:] + shift[1:] > reach[:-1])
    first = np.flatnonzero(starts)
    return edge_id[first], lo[first], np.maximum.reduceat(hi, first)


def _cut(lines: np.ndarray, edge_id: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """LineStrings of ``lines[edge_id]`` between the fractions ``lo`` and ``hi`` of their length (lo < hi)."""
    out = np.empty(len(edge_id), dtype=object)
    whole = (lo <= 0.0) & (hi >= 1.0)
    out[whole] = lines[edge_id[whole]]
    part = np.flatnonzero(~whole)
    if len(part) == 0:
        return out
    sub = lines[edge_id[part]]
    coords, which = shapely.get_coordinates(sub, return_index=True)
    # position of each vertex as a fraction of its line's length
    step = np.zeros(len(coords))
    same = which[1:] == which[:-1]
    step[1:][same] = np.hypot(*(coords[1:] - coords[:-1]).T)[same]
    cum = np.cumsum(step)
    line_start = np.searchsorted(which, np.arange(len(sub)))
    cum -= cum[line_start][which]
    length = shapely.length(sub)
    frac = np.divide(cum, length[which], out=np.zeros(len(cum)), where=length[which] > 0)
    inside = (frac > lo[part][which]) & (frac < hi[part][which])
    start = shapely.get_coordinates(shapely.line_interpolate_point(sub, lo[part], normalized=True))
    end = shapely.get_coordinates(shapely.line_interpolate_point(sub, hi[part], normalized=True))
    k = np.arange(len(sub))
    all_xy = np.concatenate([start, coords[inside], end])
    all_line = np.concatenate([k, which[inside], k])
    rank = np.concatenate([np.full(len(k), -1), np.flatnonzero(inside), np.full(len(k), len(coords))])
    order = np.lexsort((rank, all_line))
    out[part] = shapely.linestrings(all_xy[order], indices=all_line[order])
    return out
