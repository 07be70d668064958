"""Multi-source shortest paths: every target's travel time to its nearest source, in one pass.

Sources (facilities) and targets (elders) sit *on* edges (see
:func:`planning.network.snap_points`). Each source becomes a virtual node
joined to its edge's ends with its access time plus the partial edge time, and
one scipy Dijkstra from all virtual nodes at once (``min_only=True``) gives,
for every graph node, the time from its nearest source and which source that
is. A target's time is then the better of its edge's two ends plus the partial
edge time and its own access time — or, when a source lies on the same edge,
the direct way along it. Directions: from source to target (services travel to
people); on two-way edges both ways, on oneway edges only u→v.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import dijkstra

from planning.network import Network, Snap, min_csr

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Nearest:
    """Per target: minutes to the nearest source and which source (position in the source list).

    ``time_min`` is ``inf`` and ``source`` is -1 where no source is reachable within
    the limit, or the target or every source could not be snapped.
    """

    time_min: np.ndarray
    source: np.ndarray


def edge_ends(network: Network, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(u index, v index, time in minutes, two-way flag) of edge rows ``e``."""
    arrays = network.edge_arrays
    return arrays.u[e], arrays.v[e], arrays.time_min[e], arrays.two_way[e]


def node_times(network: Network, sources: Snap, *, max_minutes: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Minutes from the nearest snapped source to every graph node, and that source's position (-1: none)."""
    n = network.n_nodes
    sel = np.flatnonzero(sources.snapped)
    if len(sel) == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    u, v, T, two_way = edge_ends(network, sources.edge[sel])
    a = sources.access_min[sel]
    t = sources.t[sel]
    virtual = n + np.arange(len(sel))
    back = two_way | (t <= 0.0)  # against a oneway edge only when the source sits on its start node
    rows = np.concatenate([virtual, virtual[back]])
    cols = np.concatenate([v, u[back]])
    weights = np.concatenate([a + (1 - t) * T, (a + t * T)[back]])
    base = network.graph.tocoo()
    graph = min_csr(np.concatenate([base.row, rows]), np.concatenate([base.col, cols]),
                    np.concatenate([base.data, weights]), n + len(sel))
    dist, _, origin = dijkstra(graph, directed=True, indices=virtual, min_only=True, return_predecessors=True,
                               limit=max_minutes)
    which = np.where(origin[:n] >= 0, sel[np.clip(origin[:n] - n, 0, None)], -1)
    return dist[:n], which


def nearest(network: Network, sources: Snap, targets: Snap, *, max_minutes: float = np.inf) -> Nearest:
    """Travel time from the nearest source to every target, in minutes (one Dijkstra pass).

    Parameters
    ----------
    sources, targets
        Snaps of facilities and elders on ``network``.
    max_minutes
        Search limit: targets farther than this get ``inf`` (speeds up large regions).
    """
    m = len(targets)
    time = np.full(m, np.inf)
    source = np.full(m, -1, dtype=np.int64)
    ok = np.flatnonzero(targets.snapped)
    if len(ok) == 0 or not sources.snapped.any():
        return Nearest(time, source)
    dist, which = node_times(network, sources, max_minutes=max_minutes)
    best, best_src = times_from_nodes(network, dist, which, sources, targets, ok, max_minutes=max_minutes)
    time[ok] = best
    source[ok] = best_src
    return Nearest(time, source)


def times_from_nodes(network: Network, dist: np.ndarray, which: np.ndarray, sources: Snap, targets: Snap,
                     rows: np.ndarray, *, max_minutes: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Minutes and source of targets ``rows`` (snapped ones), given node times ``dist`` from ``which`` source.

    A target is reached through either end of its edge (``v`` only on two-way edges, or when it
    sits on ``v``), or directly along the edge from a source on the same edge; its access walk is added.
    Farther than ``max_minutes``: ``inf`` and source -1.
    """
    e = targets.edge[rows]
    u, v, T, two_way = edge_ends(network, e)
    t = targets.t[rows]
    via_u = dist[u] + t * T
    via_v = np.where(two_way | (t >= 1.0), dist[v] + (1 - t) * T, np.inf)  # at its end node, v reaches it
    best = np.minimum(via_u, via_v)
    best_src = np.where(via_u <= via_v, which[u], which[v])
    # a source on the same edge can be reached directly along it
    direct, direct_src = _same_edge(sources, e, t, T, two_way)
    better = direct < best
    best = np.where(better, direct, best)
    best_src = np.where(better, direct_src, best_src)
    best = best + targets.access_min[rows]
    best[best > max_minutes] = np.inf
    return best, np.where(np.isfinite(best), best_src, -1)


def _same_edge(sources: Snap, e: np.ndarray, t: np.ndarray, T: np.ndarray,
               two_way: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direct times along shared edges: for each target, the best source on its own edge (inf if none)."""
    direct = np.full(len(e), np.inf)
    direct_src = np.full(len(e), -1, dtype=np.int64)
    sel = np.flatnonzero(sources.snapped)
    sel = sel[np.argsort(sources.edge[sel], kind="stable")]
    src_edge = sources.edge[sel]
    lo, hi = np.searchsorted(src_edge, e, side="left"), np.searchsorted(src_edge, e, side="right")
    count = hi - lo
    if not count.any():
        return direct, direct_src
    # every (target, source on its edge) pair
    target = np.repeat(np.arange(len(e)), count)
    k = sel[np.repeat(lo, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)]
    ts, tt = sources.t[k], t[target]
    ahead = tt >= ts
    cost = sources.access_min[k] + np.abs(tt - ts) * T[target]
    cost[~ahead & ~two_way[target]] = np.inf  # one-way edge: only a source behind the target reaches it
    # the cheapest pair per target (first source index on ties, as a loop over sources would keep)
    order = np.lexsort((k, cost, target))
    first = order[np.r_[True, target[order][1:] != target[order][:-1]]]
    found = np.isfinite(cost[first])
    direct[target[first[found]]] = cost[first[found]]
    direct_src[target[first[found]]] = k[first[found]]
    return direct, direct_src
