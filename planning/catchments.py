"""Catchments: travel times from every source to every target within a cutoff, as a sparse matrix.

:func:`planning.routing.nearest` answers "how far is the *nearest* facility";
planning questions such as "which elders does each facility serve within
15 minutes" or coverage models (spopt's set covering, maximal coverage) need
the times of *all* source–target pairs that are close enough. Those form a
sparse ``n_sources × n_targets`` matrix, built here with the same travel model
as :mod:`planning.routing`:

- a source becomes a virtual node joined to its edge's ends with its access
  time plus the partial edge time (to ``u`` only on two-way edges, or when the
  source sits on ``u`` itself);
- a target is reached from its edge's ``u`` plus the partial edge time, from
  ``v`` on two-way edges (or when it sits on ``v``), or directly along the
  edge when a source lies on the same edge; its own access time is added;
- direction is source → target (services travel to people).

Sources are processed in chunks: one scipy Dijkstra per chunk from that
chunk's virtual nodes, stopped at the cutoff, so memory stays at about
``chunk_size × n_nodes`` floats whatever the number of sources.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from planning.network import MIN_WEIGHT_MIN, Network, Snap, min_csr

log = logging.getLogger(__name__)


def catchment_matrix(network: Network, sources: Snap, targets: Snap, *, cutoff_min: float,
                     chunk_size: int = 256) -> sp.csr_matrix:
    """Travel minutes from every source to every target reachable within ``cutoff_min``.

    Parameters
    ----------
    network
        The travel-time graph.
    sources, targets
        Snaps of facilities and elders on ``network`` (:func:`planning.network.snap_points`).
        Unsnapped points give empty rows (sources) or columns (targets).
    cutoff_min
        Largest travel time kept, in minutes (access walks at both ends included).
    chunk_size
        Sources per Dijkstra run; memory is about ``chunk_size × n_nodes`` floats.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(len(sources), len(targets))``, canonical (sorted indices, no
        duplicates). Entry ``(i, j)`` is the travel time in minutes from source
        ``i`` to target ``j`` when it is ``<= cutoff_min``; pairs farther apart
        are not stored. A true time of 0 (source and target at the same place
        on a street, no access walk) is stored as
        :data:`planning.network.MIN_WEIGHT_MIN` (1e-9 minutes) so that it is not
        mistaken for a missing entry; every stored time is at least that.

    Notes
    -----
    The minimum of column ``j`` over all sources equals
    ``planning.routing.nearest(network, sources, targets).time_min[j]`` whenever
    that time is within the cutoff.
    """
    _check_cutoff(cutoff_min)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    n_src, n_tgt = len(sources), len(targets)
    src_sel = np.flatnonzero(sources.snapped)
    tgt_sel = np.flatnonzero(targets.snapped)
    if len(src_sel) == 0 or len(tgt_sel) == 0:
        return sp.csr_matrix((n_src, n_tgt), dtype="float64")

    edges = network.edges
    u_all = edges["u_idx"].to_numpy()
    v_all = edges["v_idx"].to_numpy()
    T_all = edges["time_min"].to_numpy()
    tw_all = edges["two_way"].to_numpy(dtype=bool)
    n = network.n_nodes

    # targets hang off graph nodes: (node, target, partial edge time) incidences sorted by node
    e = targets.edge[tgt_sel]
    t = targets.t[tgt_sel]
    T = T_all[e]
    from_v = tw_all[e] | (t >= 1.0)  # against a oneway edge only when the target sits on its end node
    inc_node = np.concatenate([u_all[e], v_all[e][from_v]])
    inc_target = np.concatenate([tgt_sel, tgt_sel[from_v]])
    inc_offset = np.concatenate([t * T, ((1 - t) * T)[from_v]])
    order = np.argsort(inc_node, kind="stable")
    inc_node, inc_target, inc_offset = inc_node[order], inc_target[order], inc_offset[order]
    inc_start = np.searchsorted(inc_node, np.arange(n + 1))  # CSR-style pointer: node -> incidences

    # direct trips along a shared edge, grouped by source so each chunk takes its own
    same_rows, same_cols, same_times = _same_edge_pairs(sources, targets, src_sel, tgt_sel, T_all, tw_all)
    same_order = np.argsort(same_rows, kind="stable")
    same_rows, same_cols, same_times = same_rows[same_order], same_cols[same_order], same_times[same_order]

    # one graph with a virtual node per source: nothing enters a virtual node, so each source's search
    # is unaffected by the others' nodes
    graph, virtual = _with_virtual_sources(network, sources, src_sel)
    rows, cols, times = [], [], []
    for lo in range(0, len(src_sel), chunk_size):
        chunk = src_sel[lo:lo + chunk_size]
        dist = dijkstra(graph, directed=True, indices=virtual[lo:lo + chunk_size], limit=cutoff_min)[:, :n]
        r, node = np.nonzero(dist <= cutoff_min)
        d = dist[r, node]
        del dist
        counts = inc_start[node + 1] - inc_start[node]
        pos = np.repeat(inc_start[node] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        s_lo, s_hi = np.searchsorted(same_rows, [chunk[0], chunk[-1] + 1])  # src_sel is ascending
        c_rows = np.concatenate([chunk[np.repeat(r, counts)], same_rows[s_lo:s_hi]])
        c_cols = np.concatenate([inc_target[pos], same_cols[s_lo:s_hi]])
        c_time = np.concatenate([np.repeat(d, counts) + inc_offset[pos], same_times[s_lo:s_hi]])
        c_time += targets.access_min[c_cols]
        keep = c_time <= cutoff_min  # filter and take the shorter end per pair chunk by chunk: bounded memory
        block = _min_coo_to_csr(c_rows[keep], c_cols[keep], np.maximum(c_time[keep], MIN_WEIGHT_MIN), (n_src, n_tgt))
        block = block.tocoo()
        rows.append(block.row)
        cols.append(block.col)
        times.append(block.data)
    matrix = sp.csr_matrix((np.concatenate(times), (np.concatenate(rows), np.concatenate(cols))), shape=(n_src, n_tgt))
    matrix.sort_indices()  # pairs are unique across chunks (each source is in one chunk)
    log.info("catchment matrix: %d sources × %d targets within %g min, %d pairs",
             n_src, n_tgt, cutoff_min, matrix.nnz)
    return matrix


@dataclass(frozen=True)
class SourceReach:
    """Travel minutes from every snapped source to every graph node within a cutoff, grouped by node: the
    searches of :func:`catchment_matrix`, done once, so that the times to a new target need no search
    (:func:`times_to_target`). Made by :func:`source_reach`."""

    sources: Snap
    cutoff_min: float
    node_ptr: np.ndarray
    """CSR-style pointer: the entries of node ``x`` are ``node_ptr[x]:node_ptr[x + 1]``."""
    source: np.ndarray
    time_min: np.ndarray


def source_reach(network: Network, sources: Snap, *, cutoff_min: float, chunk_size: int = 256) -> SourceReach:
    """Every node each snapped source reaches within ``cutoff_min`` minutes, and when (one search per source,
    as in :func:`catchment_matrix`). Memory: one entry per (source, node reached)."""
    _check_cutoff(cutoff_min)
    n = network.n_nodes
    src_sel = np.flatnonzero(sources.snapped)
    found_src, found_node, found_time = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    if len(src_sel):
        graph, virtual = _with_virtual_sources(network, sources, src_sel)
        for lo in range(0, len(src_sel), chunk_size):
            dist = dijkstra(graph, directed=True, indices=virtual[lo:lo + chunk_size], limit=cutoff_min)[:, :n]
            r, node = np.nonzero(dist <= cutoff_min)
            found_src.append(src_sel[lo:lo + chunk_size][r])
            found_node.append(node)
            found_time.append(dist[r, node])
    node = np.concatenate(found_node)
    order = np.argsort(node, kind="stable")
    return SourceReach(sources=sources, cutoff_min=float(cutoff_min),
                       node_ptr=np.searchsorted(node[order], np.arange(n + 1)),
                       source=np.concatenate(found_src)[order], time_min=np.concatenate(found_time)[order])


def times_to_target(reach: SourceReach, network: Network, target: Snap) -> np.ndarray:
    """Minutes from each source of ``reach`` to the single point ``target`` (a one-point snap), 0 when farther
    than the cutoff or unsnapped: column 0 of ``catchment_matrix(network, reach.sources, target,
    cutoff_min=reach.cutoff_min).toarray()``, without a search."""
    sources = reach.sources
    out = np.zeros(len(sources))
    if len(target) != 1:
        raise ValueError(f"times_to_target takes one target, got {len(target)}")
    if not target.snapped[0] or not sources.snapped.any():
        return out
    arrays = network.edge_arrays
    T_all, tw_all = arrays.time_min, arrays.two_way
    e, t = int(target.edge[0]), float(target.t[0])
    T = float(T_all[e])
    ends = [(int(arrays.u[e]), t * T)]
    if tw_all[e] or t >= 1.0:  # against a oneway edge only when the target sits on its end node
        ends.append((int(arrays.v[e]), (1 - t) * T))
    src_parts, time_parts = [], []
    for node, offset in ends:
        lo, hi = reach.node_ptr[node], reach.node_ptr[node + 1]
        src_parts.append(reach.source[lo:hi])
        time_parts.append(reach.time_min[lo:hi] + offset)
    same_src, _, same_time = _same_edge_pairs(sources, target, np.flatnonzero(sources.snapped), np.array([0]),
                                              T_all, tw_all)
    src = np.concatenate([*src_parts, same_src])
    time = np.concatenate([*time_parts, same_time]) + float(target.access_min[0])
    keep = time <= reach.cutoff_min
    best = np.full(len(sources), np.inf)
    np.minimum.at(best, src[keep], np.maximum(time[keep], MIN_WEIGHT_MIN))
    reached = np.isfinite(best)
    out[reached] = best[reached]
    return out


def facility_catchments(matrix: sp.csr_matrix, *, cutoff_min: float) -> list[np.ndarray]:
    """Targets within ``cutoff_min`` of each source, from a catchment matrix.

    Parameters
    ----------
    matrix
        A matrix from :func:`catchment_matrix` built with a cutoff of at least
        ``cutoff_min`` (pairs beyond the matrix's own cutoff are not in it).
    cutoff_min
        Largest travel time in minutes.

    Returns
    -------
    list of numpy.ndarray
        One sorted int64 array of target positions per source (row), empty for
        unsnapped or isolated sources.
    """
    _check_cutoff(cutoff_min)
    csr = sp.csr_matrix(matrix)
    csr.sort_indices()
    out = []
    for i in range(csr.shape[0]):
        a, b = csr.indptr[i], csr.indptr[i + 1]
        out.append(csr.indices[a:b][csr.data[a:b] <= cutoff_min].astype(np.int64))
    return out


def _check_cutoff(cutoff_min: float) -> None:
    if isinstance(cutoff_min, bool) or not isinstance(cutoff_min, numbers.Real) or not (
            math.isfinite(cutoff_min) and cutoff_min >= 0):
        raise ValueError(f"cutoff_min must be a finite number of minutes >= 0, got {cutoff_min!r}")


def _with_virtual_sources(network: Network, sources: Snap, chunk: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """The graph plus one virtual node per source in ``chunk`` (snapped positions), and those nodes' indices."""
    n = network.n_nodes
    edges = network.edges
    e = sources.edge[chunk]
    u = edges["u_idx"].to_numpy()[e]
    v = edges["v_idx"].to_numpy()[e]
    T = edges["time_min"].to_numpy()[e]
    two_way = edges["two_way"].to_numpy(dtype=bool)[e]
    a = sources.access_min[chunk]
    t = sources.t[chunk]
    virtual = n + np.arange(len(chunk))
    back = two_way | (t <= 0.0)  # against a oneway edge only when the source sits on its start node
    base = network.graph.tocoo()
    graph = min_csr(np.concatenate([base.row, virtual, virtual[back]]),
                    np.concatenate([base.col, v, u[back]]),
                    np.concatenate([base.data, a + (1 - t) * T, (a + t * T)[back]]), n + len(chunk))
    return graph, virtual


def _same_edge_pairs(sources: Snap, targets: Snap, src_sel: np.ndarray, tgt_sel: np.ndarray, T_all: np.ndarray,
                     tw_all: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source, target, time without the target's access) for direct trips along a shared edge."""
    s_order = src_sel[np.argsort(sources.edge[src_sel], kind="stable")]
    s_edge = sources.edge[s_order]
    t_edge = targets.edge[tgt_sel]
    first = np.searchsorted(s_edge, t_edge, side="left")
    counts = np.searchsorted(s_edge, t_edge, side="right") - first
    pos = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    src = s_order[pos]
    tgt = np.repeat(tgt_sel, counts)
    e = targets.edge[tgt]
    ts, tt = sources.t[src], targets.t[tgt]
    forward = tt >= ts
    allowed = forward | tw_all[e]
    time = sources.access_min[src] + np.abs(tt - ts) * T_all[e]
    return src[allowed], tgt[allowed], time[allowed]


def _min_coo_to_csr(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """CSR matrix keeping the minimum of duplicate entries (scipy would sum them)."""
    key = rows.astype(np.int64) * shape[1] + cols
    order = np.argsort(key)  # one integer key: several times faster than a three-key lexsort
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
    data = np.minimum.reduceat(data[order], first) if len(key) else data
    key = key[first]
    matrix = sp.csr_matrix((data, (key // shape[1], key % shape[1])), shape=shape)
    matrix.sort_indices()
    return matrix
