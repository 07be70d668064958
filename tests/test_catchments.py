"""Catchment matrices against networkx (points inserted into edges) and against routing.nearest."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from netref import add_street_chains

from geo.settings import Settings
from planning.catchments import catchment_matrix, facility_catchments
from planning.network import MIN_WEIGHT_MIN, Network, Snap, build_network, snap_points
from planning.routing import nearest

SETTINGS = Settings(snap_limit_m=2000.0)
LON0, LAT0 = 114.30, 30.59  # Wuhan
M_PER_DEG = 111_320.0
EPS_MIN = 1e-7  # pairs this close to the cutoff may fall either side of it through rounding


def to_lonlat(xy_m: np.ndarray) -> np.ndarray:
    """Metres east/north of (LON0, LAT0) to lon/lat."""
    return np.column_stack([LON0 + xy_m[:, 0] / (M_PER_DEG * np.cos(np.radians(LAT0))),
                            LAT0 + xy_m[:, 1] / M_PER_DEG])


def random_streets(seed: int, n_nodes: int, n_extra: int, oneway_share: float, n_points: int):
    """A connected random street graph (straight edges, one per node pair) and random points, in EPSG:4326."""
    rng = np.random.default_rng(seed)
    ll = to_lonlat(rng.uniform(0, 1200, (n_nodes, 2)))
    perm = rng.permutation(n_nodes)
    pairs = {tuple(sorted((int(a), int(b)))) for a, b in zip(perm[:-1], perm[1:], strict=True)}
    wanted = min(n_nodes - 1 + n_extra, n_nodes * (n_nodes - 1) // 2)
    while len(pairs) < wanted:
        a, b = sorted(int(x) for x in rng.choice(n_nodes, 2, replace=False))
        pairs.add((a, b))
    pairs = sorted(pairs)
    flip = rng.random(len(pairs)) < 0.5  # edge orientation should not matter
    uv = [(b, a) if f else (a, b) for (a, b), f in zip(pairs, flip, strict=True)]
    roads = gpd.GeoDataFrame(
        {"u": [1000 + a for a, _ in uv], "v": [1000 + b for _, b in uv],
         "highway": rng.choice(["residential", "primary", "service", "living_street"], len(uv)),
         "oneway": rng.random(len(uv)) < oneway_share, "maxspeed_kmh": np.nan,
         "access": None, "foot": None, "motor_vehicle": None},
        geometry=[shapely.LineString([ll[a], ll[b]]) for a, b in uv], crs="EPSG:4326")
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*to_lonlat(rng.uniform(-50, 1250, (n_points, 2))).T),
                              crs="EPSG:4326")
    return roads, points


def reference_graph(network: Network, snaps: dict[str, Snap]) -> nx.MultiDiGraph:
    """networkx graph of the network with every snapped point inserted into its edge.

    Point ``k`` of kind ``kind`` is node ``(kind, k)``, joined to its spot on the street ``(kind, k, "on")``:
    sources walk to the street, targets walk from it.
    """
    G = nx.MultiDiGraph()
    on_edge: dict[int, list[tuple[float, object]]] = {}
    for kind, snap in snaps.items():
        for k in np.flatnonzero(snap.snapped):
            spot = (kind, int(k), "on")
            on_edge.setdefault(int(snap.edge[k]), []).append((float(snap.t[k]), spot))
            walk = float(snap.access_min[k])
            if kind == "S":
                G.add_edge((kind, int(k)), spot, weight=walk)
            else:
                G.add_edge(spot, (kind, int(k)), weight=walk)
    add_street_chains(G, network, on_edge)
    return G


def reference_matrix(network: Network, sources: Snap, targets: Snap, cutoff_min: float) -> np.ndarray:
    """Dense source × target minutes (inf beyond the cutoff) by one networkx Dijkstra per source."""
    G = reference_graph(network, {"S": sources, "T": targets})
    out = np.full((len(sources), len(targets)), np.inf)
    for i in np.flatnonzero(sources.snapped):
        lengths = nx.single_source_dijkstra_path_length(G, ("S", int(i)), cutoff=cutoff_min, weight="weight")
        for j in range(len(targets)):
            out[i, j] = lengths.get(("T", j), np.inf)
    return out


def dense(matrix: sp.csr_matrix) -> np.ndarray:
    """Stored entries, inf where absent."""
    out = np.full(matrix.shape, np.inf)
    coo = matrix.tocoo()
    out[coo.row, coo.col] = coo.data
    return out


def assert_matches(result: sp.csr_matrix, expected: np.ndarray, cutoff_min: float) -> None:
    got = dense(result)
    clear_in = expected <= cutoff_min - EPS_MIN
    clear_out = expected > cutoff_min + EPS_MIN
    np.testing.assert_allclose(got[clear_in], np.maximum(expected[clear_in], MIN_WEIGHT_MIN), rtol=1e-9, atol=1e-9)
    assert np.isinf(got[clear_out]).all()
    assert (got[np.isfinite(got)] <= cutoff_min).all()


def case_snaps(roads: gpd.GeoDataFrame, points: gpd.GeoDataFrame, mode: str, n_sources: int):
    network = build_network(roads, mode=mode, settings=SETTINGS)
    snap = snap_points(network, points, settings=SETTINGS)
    sl = lambda s, part: Snap(s.edge[part], s.t[part], s.access_m[part], s.access_min[part])  # noqa: E731
    return network, sl(snap, slice(0, n_sources)), sl(snap, slice(n_sources, None))


@pytest.mark.parametrize("mode", ["walk", "drive"])
@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n_nodes=st.integers(2, 20), n_extra=st.integers(0, 25),
       oneway_share=st.sampled_from([0.0, 0.5, 1.0]), n_sources=st.integers(1, 6), n_targets=st.integers(1, 25),
       cutoff_min=st.floats(0.0, 40.0), chunk_size=st.integers(1, 4))
def test_matrix_equals_networkx(mode, seed, n_nodes, n_extra, oneway_share, n_sources, n_targets, cutoff_min,
                                chunk_size) -> None:
    roads, points = random_streets(seed, n_nodes, n_extra, oneway_share, n_sources + n_targets)
    network, sources, targets = case_snaps(roads, points, mode, n_sources)
    result = catchment_matrix(network, sources, targets, cutoff_min=cutoff_min, chunk_size=chunk_size)
    assert result.shape == (n_sources, n_targets)
    assert result.has_canonical_format
    assert_matches(result, reference_matrix(network, sources, targets, cutoff_min), cutoff_min)


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), oneway_share=st.sampled_from([0.0, 0.5, 1.0]),
       cutoff_min=st.floats(0.5, 30.0))
def test_column_minimum_is_nearest(seed, oneway_share, cutoff_min) -> None:
    roads, points = random_streets(seed, 15, 15, oneway_share, 40)
    network, sources, targets = case_snaps(roads, points, "drive", 5)
    got = dense(catchment_matrix(network, sources, targets, cutoff_min=cutoff_min)).min(axis=0)
    near = nearest(network, sources, targets).time_min
    inside = near <= cutoff_min
    np.testing.assert_allclose(got[inside], np.maximum(near[inside], MIN_WEIGHT_MIN), rtol=1e-12, atol=1e-12)
    assert np.isinf(got[~inside]).all()


def test_sources_on_shared_edges_and_end_nodes() -> None:
    """Hand-placed snaps: both directions along a two-way edge, only forward along a oneway one, node cases."""
    ll = to_lonlat(np.array([[0, 0], [600, 0], [600, 600]], dtype=float))
    roads = gpd.GeoDataFrame(
        {"u": [1, 2], "v": [2, 3], "highway": ["residential", "residential"], "oneway": [True, False],
         "maxspeed_kmh": [12.0, 12.0], "access": None, "foot": None, "motor_vehicle": None},
        geometry=[shapely.LineString([ll[0], ll[1]]), shapely.LineString([ll[1], ll[2]])], crs="EPSG:4326")
    network = build_network(roads, mode="drive", settings=SETTINGS)
    e_one = int(np.flatnonzero(~network.edges["two_way"].to_numpy())[0])
    e_two = 1 - e_one
    T_one = float(network.edges["time_min"].iloc[e_one])
    zero = np.zeros(3)
    sources = Snap(np.array([e_one, e_one, e_two]), np.array([0.5, 0.0, 0.5]), zero, zero)
    targets = Snap(np.array([e_one, e_one, e_one, -1]), np.array([0.75, 0.25, 0.5, np.nan]),
                   np.array([0.0, 0.0, 0.0, np.nan]), np.array([0.0, 0.0, 0.0, np.nan]))
    got = dense(catchment_matrix(network, sources, targets, cutoff_min=100.0))
    assert got[0, 0] == pytest.approx(0.25 * T_one)  # forward along the oneway edge
    assert np.isinf(got[0, 1])  # not back against it (no way round: the other edge is a dead end)
    assert got[0, 2] == MIN_WEIGHT_MIN  # same spot: a true 0 is stored, as the smallest weight
    assert got[1, 1] == pytest.approx(0.25 * T_one)  # a source on the oneway's start node
    assert np.isinf(got[:, 3]).all()  # unsnapped target: empty column
    expected = reference_matrix(network, sources, targets, 100.0)
    assert_matches(catchment_matrix(network, sources, targets, cutoff_min=100.0), expected, 100.0)


def test_unsnapped_and_empty_inputs() -> None:
    roads, points = random_streets(7, 10, 5, 0.0, 8)
    network, sources, targets = case_snaps(roads, points, "walk", 3)
    nan = np.array([np.nan])
    far = Snap(np.array([-1]), nan, nan, nan)
    both = Snap(np.r_[sources.edge, -1], np.r_[sources.t, np.nan], np.r_[sources.access_m, np.nan],
                np.r_[sources.access_min, np.nan])
    m = catchment_matrix(network, both, targets, cutoff_min=60.0)
    assert m.shape == (4, 5) and m[3].nnz == 0
    assert (m[:3] != catchment_matrix(network, sources, targets, cutoff_min=60.0)).nnz == 0
    assert catchment_matrix(network, far, targets, cutoff_min=60.0).shape == (1, 5)
    assert catchment_matrix(network, far, targets, cutoff_min=60.0).nnz == 0
    assert catchment_matrix(network, sources, far, cutoff_min=60.0).nnz == 0
    empty = Snap(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
    assert catchment_matrix(network, empty, targets, cutoff_min=60.0).shape == (0, 5)


@pytest.mark.parametrize("kwargs, match", [
    ({"cutoff_min": -1.0}, "cutoff_min"), ({"cutoff_min": np.inf}, "cutoff_min"),
    ({"cutoff_min": np.nan}, "cutoff_min"), ({"cutoff_min": "15"}, "cutoff_min"),
    ({"cutoff_min": 15, "chunk_size": 0}, "chunk_size"), ({"cutoff_min": 15, "chunk_size": 2.5}, "chunk_size"),
])
def test_bad_arguments_raise(kwargs, match) -> None:
    roads, points = random_streets(3, 6, 2, 0.0, 4)
    network, sources, targets = case_snaps(roads, points, "walk", 2)
    with pytest.raises(ValueError, match=match):
        catchment_matrix(network, sources, targets, **kwargs)
    with pytest.raises(ValueError, match="cutoff_min"):
        facility_catchments(sp.csr_matrix((2, 2)), cutoff_min=-5)


def test_inputs_not_mutated_and_second_run_identical() -> None:
    roads, points = random_streets(11, 20, 20, 0.5, 30)
    network, sources, targets = case_snaps(roads, points, "drive", 6)
    before = [a.copy() for a in (sources.edge, sources.t, sources.access_min, targets.edge, targets.t)]
    graph_before = network.graph.copy()
    first = catchment_matrix(network, sources, targets, cutoff_min=20.0, chunk_size=2)
    second = catchment_matrix(network, sources, targets, cutoff_min=20.0, chunk_size=2)
    assert np.array_equal(first.indptr, second.indptr) and np.array_equal(first.indices, second.indices)
    assert np.array_equal(first.data, second.data)
    for a, b in zip(before, (sources.edge, sources.t, sources.access_min, targets.edge, targets.t), strict=True):
        np.testing.assert_array_equal(a, b)
    assert (network.graph != graph_before).nnz == 0


# --- demo region (real Helsinki streets) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_snaps(demo_region):
    settings = Settings()
    network = build_network(demo_region.road_edges, mode="walk", settings=settings)
    return (network, snap_points(network, demo_region.facilities, settings=settings),
            snap_points(network, demo_region.elders, settings=settings))


def test_demo_column_minimum_is_nearest(demo_snaps) -> None:
    network, fac, eld = demo_snaps
    m = catchment_matrix(network, fac, eld, cutoff_min=15.0)
    assert m.shape == (len(fac), len(eld))
    got = dense(m).min(axis=0)
    near = nearest(network, fac, eld).time_min
    inside = near <= 15.0
    assert inside.mean() > 0.5
    np.testing.assert_allclose(got[inside], near[inside], rtol=1e-12, atol=1e-12)
    assert np.isinf(got[~inside]).all()
    # chunking changes memory, not results
    small = catchment_matrix(network, fac, eld, cutoff_min=15.0, chunk_size=5)
    assert np.array_equal(small.indices, m.indices) and np.array_equal(small.data, m.data)


def test_demo_equals_networkx_for_some_facilities(demo_snaps) -> None:
    network, fac, eld = demo_snaps
    pick = np.array([0, 5, 11, 21])
    sub = lambda s, k: Snap(s.edge[k], s.t[k], s.access_m[k], s.access_min[k])  # noqa: E731
    sources, targets = sub(fac, pick), sub(eld, slice(None, None, 3))
    result = catchment_matrix(network, sources, targets, cutoff_min=12.0)
    expected = reference_matrix(network, sources, targets, 12.0)
    assert np.isfinite(expected).sum() > 500
    assert_matches(result, expected, 12.0)


def test_demo_catchments_nest_and_grow_with_facilities(demo_snaps) -> None:
    network, fac, eld = demo_snaps
    m15 = catchment_matrix(network, fac, eld, cutoff_min=15.0)
    c10 = facility_catchments(m15, cutoff_min=10.0)
    c15 = facility_catchments(m15, cutoff_min=15.0)
    assert len(c10) == len(c15) == len(fac)
    for small, large in zip(c10, c15, strict=True):
        assert np.isin(small, large).all()
        assert np.all(np.diff(large) > 0)
    assert sum(len(c) for c in c10) < sum(len(c) for c in c15)
    # the 10-minute catchments from a 10-minute matrix are the same sets
    m10 = catchment_matrix(network, fac, eld, cutoff_min=10.0)
    for a, b in zip(c10, facility_catchments(m10, cutoff_min=10.0), strict=True):
        np.testing.assert_array_equal(a, b)
    # adding a facility never lowers the number of elders covered
    covered = [np.unique(np.concatenate(facility_catchments(m15[:k], cutoff_min=15.0))).size
               for k in range(1, len(fac) + 1)]
    assert all(b >= a for a, b in zip(covered[:-1], covered[1:], strict=True))


@pytest.mark.parametrize("mode", ["walk", "drive"])
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), oneway_share=st.sampled_from([0.0, 0.5, 1.0]), n_sources=st.integers(1, 8),
       cutoff_min=st.floats(0.0, 30.0), chunk_size=st.integers(1, 4))
def test_times_to_a_new_target_equal_the_catchment_matrix(mode, seed, oneway_share, n_sources, cutoff_min,
                                                          chunk_size) -> None:
    """source_reach searches once; times_to_target then answers any single point without a search, exactly
    as column 0 of catchment_matrix would (shared edges, oneways, end nodes, unsnapped points included)."""
    from planning.catchments import source_reach, times_to_target

    roads, points = random_streets(seed, 15, 15, oneway_share, n_sources + 12)
    network, sources, targets = case_snaps(roads, points, mode, n_sources)
    reach = source_reach(network, sources, cutoff_min=cutoff_min, chunk_size=chunk_size)
    for j in range(len(targets)):
        one = Snap(targets.edge[j:j + 1], targets.t[j:j + 1], targets.access_m[j:j + 1], targets.access_min[j:j + 1])
        expected = catchment_matrix(network, sources, one, cutoff_min=cutoff_min).toarray()[:, 0]
        np.testing.assert_array_equal(times_to_target(reach, network, one), expected)
    for j in range(len(sources)):  # a target exactly where a source is: the smallest weight, not "unreached"
        one = Snap(sources.edge[j:j + 1], sources.t[j:j + 1], np.zeros(1), np.zeros(1))
        expected = catchment_matrix(network, sources, one, cutoff_min=cutoff_min).toarray()[:, 0]
        np.testing.assert_array_equal(times_to_target(reach, network, one), expected)
