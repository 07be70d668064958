"""Street-following isochrones: who is within a time of the nearest facility, drawn as polygons.

A convex hull around reachable nodes (or a circle) claims land across rivers,
railways and blocks with no way through, and hides the gaps between streets
— the osmnx examples (issue 4) show how far it misleads. Here an isochrone
is built from the streets themselves, and from the same travel times the
coverage tables use (issue 18: a planner reads the polygon as "who is covered",
so it must say what the table says):

1. :func:`planning.routing.node_times` gives every node's time from the
   nearest source (its access walk included): one multi-source Dijkstra pass
   for all the cutoffs of a call.
2. Each edge u→v is reached forward from ``u`` for the fraction
   ``(cutoff − d[u]) / time`` of its length, and on two-way edges backward from
   ``v`` likewise; where the two meet, the whole edge. A source on the edge
   reaches along it both ways (forward only on oneway edges) for what is left
   after its access walk (:func:`reachable_segments`).
3. The polygon, two ways (``method``):

   ``"access"`` (default) — the places whose travel time, counted as the
   coverage tables count it, is within the cutoff. A home is snapped to its
   nearest street (:func:`planning.network.snap_points`, up to
   ``snap_limit_m`` away) and its time is the network time of that street
   position plus the straight access walk at walking speed. The streets are
   sampled every :data:`SAMPLE_M` metres or less; each sample ``p`` owns its
   Voronoi cell (the places nearer to it than to any other sample: nearest
   street, to within half a sample step); the polygon is the union over
   samples reached at ``τ(p) < cutoff`` of their cell clipped to the disc of
   radius ``min(snap_limit_m, (cutoff − τ(p)) × walking speed)``. A partly
   walked edge thus contributes its reached part with a width that shrinks to
   nothing at the cutoff; a courtyard lane reached late does not borrow the
   width of the street beside it, and no block interior is filled unless its
   homes are within the access walk of a reached street.

   ``"buffer"`` — the reachable pieces cut from the edge geometry (oriented
   u→v), buffered by a constant ``buffer_m`` on each side; their union. For
   several times, only the pieces new since the previous time are buffered and
   added to the previous polygon, which keeps the polygons nested. Good for
   drawing "the streets you can walk", not for counting who is covered.

Everything is vectorised over edges or samples; pieces are cut by
interpolating their end points and keeping the edge vertices in between.
Polygons of one call are nested (each cutoff's pieces contain the previous
cutoff's), and with ``targets`` (elders) each row carries the number of them
whose network time falls in its band.
"""

from __future__ import annotations

import logging
import math
import numbers
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.settings import Settings
from planning.network import Network, Snap
from planning.routing import node_times, times_from_nodes

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
QUAD_SEGS = 8
"""Segments per quarter circle in buffers (GEOS default)."""
SAMPLE_M = 10.0
"""Longest step between street samples of the ``"access"`` method, metres (the ends of every edge are
samples too). A home's nearest sample is at most half a step along the street from its snapped position: at
3 km/h that is 0.1 minute."""
CELLS_KEPT_MAX = 250_000
"""Up to this many distinct street samples (about 2,500 km of streets), a network's Voronoi cells are made once
and kept with it (some 300 bytes a cell): each facility's isochrone then reuses them. Larger networks get a
diagram of the samples near the reached streets on every call instead."""
Method = Literal["access", "buffer"]
METHODS: tuple[str, ...] = ("access", "buffer")


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
               bands: bool = False, method: Method = "access", snap_limit_m: float | None = None,
               targets: Snap | None = None) -> gpd.GeoDataFrame:
    """Isochrone polygons of the nearest source for several travel times.

    Parameters
    ----------
    network
        The travel-time graph.
    sources
        Snapped facilities; the polygon for ``m`` minutes covers every place some
        source reaches within ``m`` minutes (the source's access walk included).
    minutes
        Travel times in minutes, e.g. ``(5, 10, 15)``; sorted ascending, duplicates dropped.
        All come from one shortest-path pass.
    buffer_m
        ``method="buffer"`` only: half-width in metres of the band drawn around
        reachable streets (a person this far from a reached street counts as inside).
    bands
        False (default): cumulative polygons, everything within ``m`` minutes.
        True: rings, the cumulative polygon of ``m`` minus that of the previous value.
    method
        ``"access"`` (default): the places whose time — network time of the nearest
        street position plus the straight access walk at walking speed, as the coverage
        tables count an elder's time — is within ``m`` (see the module notes).
        ``"buffer"``: the reached streets widened by ``buffer_m``.
    snap_limit_m
        ``method="access"``: farthest access walk in metres, as ``settings.snap_limit_m``
        (default: the settings' default, :class:`geo.settings.Settings`); places farther
        from every street are never inside, as homes there are never snapped.
    targets
        Optional snapped elders (or any points): each row then gets ``elders``, the
        number of them whose travel time (their access walk included) is in the row's
        band — within ``m`` for cumulative rows, above the previous value and within
        ``m`` for rings — counted from the network times, as the coverage tables count.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per value of ``minutes`` (ascending): ``minutes``
        (upper bound of the row's band), ``band_label`` ("0–10 分钟" cumulative,
        "5–10 分钟" for a ring), ``area_km2`` (measured in the working CRS),
        ``elders`` (int, only with ``targets``) and ``geometry`` (Polygon or
        MultiPolygon; empty when nothing is reached). Cumulative polygons are
        nested: each contains the one before (up to the rounding of unions, well
        below a micrometre).

    Notes
    -----
    With ``method="access"`` a home is inside the polygon when its own travel time is
    within the cutoff, to within the sampling of the streets (:data:`SAMPLE_M`, about
    a tenth of a minute on foot): the benchmark ``benchmarks/bench_isochrones.py``
    measures the agreement. With ``method="buffer"`` a home within ``buffer_m`` of a
    reached street is inside even when its own street (say a courtyard lane joined to
    the streets far away) is reached much later.
    """
    values = _check_minutes_list(minutes)
    method = _check_method(method)
    buffer_m = _check_buffer(buffer_m)
    limit_m = _check_limit(snap_limit_m)
    dist, which = node_times(network, sources, max_minutes=values[-1])
    frame = _polygons(network, sources, dist, values, bands, method=method, buffer_m=buffer_m,
                      snap_limit_m=limit_m)
    if targets is not None:
        frame.insert(3, "elders", _band_counts(network, dist, which, sources, targets, values, bands))
    log.info("isochrones (%s): %d sources, minutes %s, %s", method, int(sources.snapped.sum()),
             "/".join(f"{m:g}" for m in values), "bands" if bands else "cumulative")
    return frame


def facility_isochrones(network: Network, sources: Snap, facility_ids: Sequence[object], *,
                        minutes: Sequence[float], buffer_m: float = 50.0, bands: bool = False,
                        method: Method = "access", snap_limit_m: float | None = None,
                        targets: Snap | None = None) -> gpd.GeoDataFrame:
    """Isochrones of each facility on its own (overlapping between facilities).

    Parameters
    ----------
    network
        The travel-time graph.
    sources
        Snapped facilities.
    facility_ids
        One id per source, in the same order (``len(facility_ids) == len(sources)``).
    minutes, buffer_m, bands, method, snap_limit_m, targets
        As in :func:`isochrones`; ``elders`` counts the targets by their time from
        that facility alone.

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
    method = _check_method(method)
    buffer_m = _check_buffer(buffer_m)
    limit_m = _check_limit(snap_limit_m)
    frames = []
    for k, fid in enumerate(ids):
        one = _subset(sources, k)
        dist, which = node_times(network, one, max_minutes=values[-1])
        frame = _polygons(network, one, dist, values, bands, method=method, buffer_m=buffer_m, snap_limit_m=limit_m)
        if targets is not None:
            frame.insert(3, "elders", _band_counts(network, dist, which, one, targets, values, bands))
        frame.insert(0, "facility_id", [fid] * len(frame))
        frames.append(frame)
    missing = int((~sources.snapped).sum())
    if missing:
        log.warning("%d of %d facilities are not on the %s network: their isochrones are empty",
                    missing, len(ids), network.mode)
    log.info("facility isochrones (%s): %d facilities, minutes %s", method, len(ids),
             "/".join(f"{m:g}" for m in values))
    if not frames:
        empty = _polygons(network, sources, np.full(network.n_nodes, np.inf), values, bands, method="buffer",
                          buffer_m=buffer_m, snap_limit_m=limit_m).iloc[:0]
        if targets is not None:
            empty.insert(3, "elders", pd.Series([], dtype="int64"))
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


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def _check_limit(snap_limit_m: float | None) -> float:
    if snap_limit_m is None:
        return float(Settings().snap_limit_m)
    if isinstance(snap_limit_m, bool) or not isinstance(snap_limit_m, numbers.Real) or not (
            math.isfinite(snap_limit_m) and snap_limit_m > 0):
        raise ValueError(f"snap_limit_m must be a finite distance in metres > 0, got {snap_limit_m!r}")
    return float(snap_limit_m)


def _subset(snap: Snap, k: int) -> Snap:
    """The one-point Snap of position ``k``."""
    sl = slice(k, k + 1)
    return Snap(snap.edge[sl], snap.t[sl], snap.access_m[sl], snap.access_min[sl])


def _label(lower: float, upper: float) -> str:
    return f"{lower:g}–{upper:g} 分钟"


def _band_counts(network: Network, dist: np.ndarray, which: np.ndarray, sources: Snap, targets: Snap,
                 values: list[float], bands: bool) -> np.ndarray:
    """Per value of ``values``: how many targets have a travel time (access walk included) in its band."""
    time = np.full(len(targets), np.inf)
    rows = np.flatnonzero(targets.snapped)
    if len(rows) and sources.snapped.any():
        time[rows], _ = times_from_nodes(network, dist, which, sources, targets, rows, max_minutes=values[-1])
    upper = np.asarray(values, dtype="float64")
    lower = np.r_[-np.inf, upper[:-1]] if bands else np.full(len(upper), -np.inf)
    return np.array([int(((time > lo) & (time <= hi)).sum()) for lo, hi in zip(lower, upper, strict=True)],
                    dtype="int64")


def _polygons(network: Network, sources: Snap, dist: np.ndarray, values: list[float], bands: bool, *,
              method: str, buffer_m: float, snap_limit_m: float) -> gpd.GeoDataFrame:
    """Cumulative (or ring) polygons for ascending ``values`` from node times ``dist``; EPSG:4326 frame."""
    if method == "access":
        cumulative = _access_polygons(network, sources, dist, values, snap_limit_m)
    else:
        cumulative = _buffer_polygons(network, sources, dist, values, buffer_m)
    geoms, labels = [], []
    for i, m in enumerate(values):
        if bands:
            geoms.append(shapely.difference(cumulative[i], cumulative[i - 1]) if i else cumulative[i])
            labels.append(_label(values[i - 1] if i else 0.0, m))
        else:
            geoms.append(cumulative[i])
            labels.append(_label(0.0, m))
    geoms_arr = np.array(geoms, dtype=object)
    frame = gpd.GeoDataFrame({"minutes": np.array(values, dtype="float64"), "band_label": labels,
                              "area_km2": shapely.area(geoms_arr) / 1e6},
                             geometry=gpd.GeoSeries(geoms_arr, crs=network.crs).values, crs=network.crs)
    frame = frame.to_crs(WGS84)
    # overlay slivers narrower than a nanometre collapse when rounded to degrees: repair them away
    frame.geometry = [_polygonal(g) for g in frame.geometry.values]
    return frame


def _buffer_polygons(network: Network, sources: Snap, dist: np.ndarray, values: list[float],
                     buffer_m: float) -> list[shapely.Geometry]:
    """Cumulative ``"buffer"`` polygons (working CRS): reached street pieces widened by ``buffer_m``."""
    out = []
    previous = shapely.Polygon()
    whole_before = np.zeros(len(network.edges), dtype=bool)
    for m in values:
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
        previous = shapely.union_all(np.concatenate([[previous], buffered]))
        out.append(previous)
    return out


@dataclass(frozen=True, eq=False)
class _Samples:
    """Points every ``sample_m`` metres or less along every edge of a network (working CRS).

    ``edge``/``t``: edge row and fraction of each sample (both ends and equal steps between: samples at
    a node shared by several edges are one position, timed by the earliest); ``group``: index of its
    distinct position in ``xy``.
    """

    edge: np.ndarray
    t: np.ndarray
    group: np.ndarray
    xy: np.ndarray


_SAMPLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Per network: {sample_m: _Samples, ("cells", limit_m): (cells, reach)}; a network's edges never change after
it is built."""
_SAMPLES_LOCK = threading.Lock()


def _street_samples(network: Network, sample_m: float) -> _Samples:
    """The :class:`_Samples` of ``network`` (made once per network and spacing, then kept with it)."""
    key = float(sample_m)
    with _SAMPLES_LOCK:
        hit = _SAMPLES.get(network, {}).get(key)
    if hit is not None:
        return hit
    made = _make_samples(network, key)
    with _SAMPLES_LOCK:
        _SAMPLES.setdefault(network, {})[key] = made
    return made


def _make_samples(network: Network, sample_m: float) -> _Samples:
    lines = np.asarray(network.edges.geometry.values)
    length = network.edges["length_m"].to_numpy()
    steps = np.maximum(1, np.ceil(length / sample_m)).astype(np.int64)
    edge = np.repeat(np.arange(len(lines)), steps + 1)  # both ends and every step between
    first = np.cumsum(steps + 1) - (steps + 1)
    t = (np.arange(len(edge)) - first[edge]) / steps[edge]
    xy_all = shapely.get_coordinates(shapely.line_interpolate_point(lines[edge], t, normalized=True))
    xy, group = np.unique(xy_all, axis=0, return_inverse=True)
    log.info("isochrone street samples: %d along %d edges (every %g m or less), %d distinct",
             len(edge), len(lines), sample_m, len(xy))
    return _Samples(edge, t, group.reshape(-1), xy)


def _near(xy: np.ndarray, reached: np.ndarray, distance_m: float) -> np.ndarray:
    """Mask of the points of ``xy`` that may lie within ``distance_m`` of a ``reached`` one (a superset: grid
    squares of that size, the reached points' squares and their eight neighbours)."""
    ij = np.floor((xy - xy.min(axis=0)) / distance_m).astype(np.int64)
    width = int(ij[:, 1].max()) + 3
    key = (ij[:, 0] + 1) * width + (ij[:, 1] + 1)
    occupied = np.unique(key[reached])
    around = np.unique((occupied[:, None] + (np.array([-1, 0, 1])[:, None] * width
                                              + np.array([-1, 0, 1])[None, :]).ravel()[None, :]).ravel())
    return np.isin(key, around)


def _voronoi_cells(xy: np.ndarray, margin_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi cell of each point (extended ``margin_m`` beyond them) and its farthest vertex from the point.

    Cells of one diagram share their edges exactly, so any subset of them is a polygonal coverage. Where
    GEOS merged near-equal points the cells are matched by position and their reach is ``inf`` (never taken
    whole, so never passed to a coverage union).
    """
    x0, y0 = xy.min(axis=0) - margin_m
    x1, y1 = xy.max(axis=0) + margin_m
    frame = shapely.box(x0, y0, x1, y1)
    exact = True
    if len(xy) == 1:
        cells = np.array([frame], dtype=object)
    else:
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=frame, ordered=True))
        if len(cells) != len(xy):
            exact = False
            pairs = shapely.STRtree(cells).query(shapely.points(xy), predicate="intersects")
            own = np.full(len(xy), -1)
            own[pairs[0][::-1]] = pairs[1][::-1]  # the first cell found per point
            cells = np.where(own >= 0, cells[np.maximum(own, 0)], shapely.Polygon())
    coords, which = shapely.get_coordinates(cells, return_index=True)
    reach = np.full(len(xy), np.inf)
    if len(coords) and exact:
        reach[np.unique(which)] = 0.0
        np.maximum.at(reach, which, np.hypot(*(coords - xy[which]).T))
    return cells, reach


def _network_cells(network: Network, samples: _Samples, limit_m: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_voronoi_cells` of all of ``network``'s samples, made once per network and limit, then kept."""
    key = ("cells", float(limit_m))
    with _SAMPLES_LOCK:
        hit = _SAMPLES.get(network, {}).get(key)
    if hit is not None:
        return hit
    made = _voronoi_cells(samples.xy, 2.0 * limit_m)
    with _SAMPLES_LOCK:
        per = _SAMPLES.setdefault(network, {})
        for old in [k for k in per if isinstance(k, tuple)]:  # one limit's cells at a time
            del per[old]
        per[key] = made
    return made


def _times_at(network: Network, dist: np.ndarray, which: np.ndarray, sources: Snap, edge: np.ndarray,
              t: np.ndarray, max_minutes: float) -> np.ndarray:
    """Minutes from the nearest source to street positions (edge, fraction), no access walk at their end."""
    zero = np.zeros(len(edge))
    spots = Snap(edge, t, zero, zero)
    time, _ = times_from_nodes(network, dist, which, sources, spots, np.arange(len(edge)), max_minutes=max_minutes)
    return time


def _access_polygons(network: Network, sources: Snap, dist: np.ndarray, values: list[float],
                     snap_limit_m: float) -> list[shapely.Geometry]:
    """Cumulative ``"access"`` polygons (working CRS): places within each value, access walk included.

    A sample reached at ``τ < m`` adds its Voronoi cell clipped to the disc of radius
    ``min(snap_limit_m, (m − τ) × walking speed)``. Only the samples near reached ones enter the Voronoi
    diagram: a place within ``snap_limit_m`` of a reached sample ``p`` is nearer to any sample that could
    take it from ``p``, so every such sample lies within ``2 × snap_limit_m`` of ``p``. Each sample's piece
    grows with ``m`` (the disc polygons of one centre are scaled copies), so the polygons are nested; each
    is also unioned with the previous one so that they stay nested vertex for vertex.
    """
    empty = [shapely.Polygon() for _ in values]
    if not sources.snapped.any():
        return empty
    samples = _street_samples(network, SAMPLE_M)
    u, v, _, _ = network.edge_arrays
    on_reached = (dist[u] < values[-1]) | (dist[v] < values[-1])
    on_reached[sources.edge[sources.snapped]] = True
    rows = np.flatnonzero(on_reached[samples.edge])
    which = np.zeros(network.n_nodes, dtype=np.int64)  # which source does not matter here
    tau = np.full(len(samples.xy), np.inf)
    np.minimum.at(tau, samples.group[rows],  # samples at one spot: the table snaps to either
                  _times_at(network, dist, which, sources, samples.edge[rows], samples.t[rows], values[-1]))
    reached = tau < values[-1]
    if not reached.any():
        return empty
    keep = np.flatnonzero(_near(samples.xy, reached, 2.0 * snap_limit_m))
    xy, tau = samples.xy[keep], tau[keep]
    if len(samples.xy) <= CELLS_KEPT_MAX:  # one diagram of the whole network, made once and kept with it
        cells, reach = _network_cells(network, samples, snap_limit_m)
        cells, reach = cells[keep], reach[keep]
    else:  # a diagram of the samples near reached ones, made for this call
        cells, reach = _voronoi_cells(xy, 2.0 * snap_limit_m)
    speed = network.walk_speed_m_per_min
    out = []
    previous = shapely.Polygon()
    for m in values:
        with np.errstate(invalid="ignore"):
            radius = np.minimum(snap_limit_m, (m - tau) * speed)
        used = radius > 0
        whole = np.flatnonzero(used & (radius >= reach))
        cut = np.flatnonzero(used & (radius < reach))
        discs = shapely.buffer(shapely.points(xy[cut]), radius[cut], quad_segs=QUAD_SEGS)
        # whole cells form a coverage (shared edges identical): their union is a fast edge dissolve
        inner = shapely.coverage_union_all(cells[whole]) if len(whole) else shapely.Polygon()
        pieces = shapely.intersection(cells[cut], discs)
        # each polygon already holds the previous one; adding it keeps the shared boundary's very vertices,
        # so the polygons stay nested after reprojection too (pieces first, then the two large polygons:
        # a fraction of one union_all over everything)
        previous = shapely.union(shapely.union(inner, shapely.union_all(pieces)), previous)
        out.append(previous)
    return out


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
