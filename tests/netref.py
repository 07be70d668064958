"""Independent reference for travel-time tests: the street network as a networkx graph with points inserted."""

from __future__ import annotations

import networkx as nx


def add_street_chains(G: nx.MultiDiGraph, network, on_edge: dict[int, list[tuple[float, object]]]) -> nx.MultiDiGraph:
    """Add every edge of ``network`` to ``G``, split at the points lying on it.

    ``on_edge`` maps an edge row to (fraction along it from u, graph node of the point). Each piece
    gets its share of the edge's minutes, u→v, and v→u too on two-way edges. A zero-length piece
    joins the point to its node both ways: a point on a node is that node, whatever the edge's direction.
    """
    edges = network.edges
    u, v = edges["u_idx"].to_numpy(), edges["v_idx"].to_numpy()
    T, two_way = edges["time_min"].to_numpy(), edges["two_way"].to_numpy()
    for e in range(len(u)):
        chain = [(0.0, int(u[e]))] + sorted(on_edge.get(e, []), key=lambda x: x[0]) + [(1.0, int(v[e]))]
        for (t0, a), (t1, b) in zip(chain[:-1], chain[1:], strict=True):
            w = (t1 - t0) * T[e]
            G.add_edge(a, b, weight=w)
            if two_way[e] or w == 0.0:
                G.add_edge(b, a, weight=w)
    return G
