"""Travel times against an independent reference: networkx on graphs with the points inserted."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from netref import add_street_chains

from geo.settings import Settings
from planning.network import build_network, snap_points
from planning.routing import nearest

SETTINGS = Settings(snap_limit_m=2000.0)
ORIGIN_LON, ORIGIN_LAT = 24.94, 60.17
M_PER_DEG_LAT = 111_320.0
M_PER_DEG_LON = M_PER_DEG_LAT * np.cos(np.radians(ORIGIN_LAT))


def _lonlat(xy: np.ndarray) -> np.ndarray:
    return np.column_stack([ORIGIN_LON + xy[:, 0] / M_PER_DEG_LON, ORIGIN_LAT + xy[:, 1] / M_PER_DEG_LAT])


def random_case(seed: int, n_nodes: int, n_edges: int, n_fac: int, n_eld: int, oneway_share: float):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1000, size=(n_nodes, 2))
    # a random spanning path keeps it connected; extra random edges make cycles. One edge per node
    # pair: two copies of one line would make nearest-edge ties that the two methods break differently.
    order = rng.permutation(n_nodes)
    pairs = {(int(a), int(b)) for a, b in zip(order[:-1], order[1:], strict=True)}
    while len(pairs) < min(n_edges, n_nodes * (n_nodes - 1) // 2):
        a, b = (int(x) for x in rng.integers(0, n_nodes, 2))
        if a != b and (b, a) not in pairs:
            pairs.add((a, b))
    pairs = sorted(pairs)
    ll = _lonlat(xy)
    edges = gpd.GeoDataFrame(
        {"u": [a + 100 for a, _ in pairs], "v": [b + 100 for _, b in pairs],
         "highway": ["residential", *rng.choice(["residential", "footway", "primary", "steps"], len(pairs) - 1)],
         "oneway": rng.random(len(pairs)) < oneway_share, "maxspeed_kmh": np.nan,
         "access": None, "foot": None, "motor_vehicle": None},
        geometry=[shapely.LineString([ll[a], ll[b]]) for a, b in pairs], crs="EPSG:4326")
    fac = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*_lonlat(rng.uniform(0, 1000, (n_fac, 2))).T), crs=4326)
    eld = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*_lonlat(rng.uniform(0, 1000, (n_eld, 2))).T), crs=4326)
    return edges, fac, eld


def reference_times(network, fac, eld, walk_m_per_min: float) -> np.ndarray:
    """networkx multi-source Dijkstra on the graph with every point inserted as a node (brute-force snapping)."""
    lines = network.edges.geometry.values
    G = nx.MultiDiGraph()
    on_edge: dict[int, list[tuple[float, object]]] = {}
    for kind, gdf in (("F", fac), ("E", eld)):
        pts = gdf.to_crs(network.crs).geometry.values
        for k, p in enumerate(pts):
            d = shapely.distance(lines, p)
            e = int(np.argmin(d))
            t = float(shapely.line_locate_point(lines[e], p, normalized=True))
            on_edge.setdefault(e, []).append((t, (kind, k, "on")))
            if kind == "F":
                G.add_edge(("F", k), (kind, k, "on"), weight=float(d[e]) / walk_m_per_min)
            else:
                G.add_edge((kind, k, "on"), ("E", k), weight=float(d[e]) / walk_m_per_min)
    add_street_chains(G, network, on_edge)
    dist = nx.multi_source_dijkstra_path_length(G, [("F", k) for k in range(len(fac))], weight="weight")
    return np.array([dist.get(("E", k), np.inf) for k in range(len(eld))])


@pytest.mark.parametrize("mode", ["walk", "drive"])
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_nodes=st.integers(3, 25), extra=st.integers(0, 30),
       n_fac=st.integers(1, 5), n_eld=st.integers(1, 30), oneway_share=st.sampled_from([0.0, 0.3, 1.0]))
def test_nearest_equals_networkx(mode, seed, n_nodes, extra, n_fac, n_eld, oneway_share) -> None:
    edges, fac, eld = random_case(seed, n_nodes, n_nodes - 1 + extra, n_fac, n_eld, oneway_share)
    network = build_network(edges, mode=mode, settings=SETTINGS)
    result = nearest(network, snap_points(network, fac, settings=SETTINGS),
                     snap_points(network, eld, settings=SETTINGS))
    expected = reference_times(network, fac, eld, network.walk_speed_m_per_min)
    np.testing.assert_allclose(result.time_min, expected, rtol=1e-9, atol=1e-9)
    # the reported source really is at that time
    for k in np.flatnonzero(np.isfinite(expected)):
        single = reference_times(network, fac.iloc[[result.source[k]]], eld.iloc[[k]], network.walk_speed_m_per_min)
        assert single[0] == pytest.approx(expected[k], rel=1e-9, abs=1e-9)
    assert np.all((result.source >= 0) == np.isfinite(result.time_min))


def test_walk_and_drive_rules() -> None:
    ll = _lonlat(np.array([[0, 0], [300, 0], [600, 0], [600, 300]], dtype=float))
    edges = gpd.GeoDataFrame(
        {"u": [1, 2, 3], "v": [2, 3, 4], "highway": ["residential", "motorway", "steps"],
         "oneway": [True, False, False], "maxspeed_kmh": [10.0, np.nan, np.nan],
         "access": None, "foot": None, "motor_vehicle": None},
        geometry=[shapely.LineString([ll[0], ll[1]]), shapely.LineString([ll[1], ll[2]]),
                  shapely.LineString([ll[2], ll[3]])], crs=4326)
    s = Settings()
    walk = build_network(edges, mode="walk", settings=s)
    assert set(walk.edges["highway"]) == {"residential", "steps"}  # no motorway on foot
    assert walk.edges["two_way"].all()  # oneway is for vehicles
    steps = walk.edges.set_index("highway").loc["steps"]
    assert steps["time_min"] == pytest.approx(steps["length_m"] / (s.walk_speed_kmh * s.walk_steps_factor * 1000 / 60))
    assert len(walk.components_summary()) == 2  # the motorway gap splits it, and it is reported
    drive = build_network(edges, mode="drive", settings=s)
    assert set(drive.edges["highway"]) == {"residential", "motorway"}  # no driving on steps
    res = drive.edges.set_index("highway").loc["residential"]
    assert res["time_min"] == pytest.approx(res["length_m"] / (10.0 * 1000 / 60))  # maxspeed 10 caps 20
    assert not res["two_way"]
    assert drive.graph[0, 1] > 0 and drive.graph[1, 0] == 0  # oneway


def test_far_points_are_not_snapped_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    edges, _, _ = random_case(1, 10, 12, 1, 1, 0.0)
    network = build_network(edges, mode="walk", settings=Settings(snap_limit_m=50))
    far = gpd.GeoDataFrame(geometry=gpd.points_from_xy([ORIGIN_LON + 0.2, ORIGIN_LON], [ORIGIN_LAT, np.nan]), crs=4326)
    snap = snap_points(network, far, settings=Settings(snap_limit_m=50))
    assert list(snap.edge) == [-1, -1]
    assert "1 of 2 points lie more than 50 m" in caplog.text


def test_demo_region_equals_networkx(demo_region) -> None:
    network = build_network(demo_region.road_edges, mode="walk", settings=Settings())
    fac, eld = demo_region.facilities, demo_region.elders.iloc[::7]
    s = Settings()
    result = nearest(network, snap_points(network, fac, settings=s), snap_points(network, eld, settings=s))
    expected = reference_times(network, fac, eld, network.walk_speed_m_per_min)
    np.testing.assert_allclose(result.time_min, expected, rtol=1e-9, atol=1e-9)
    assert np.isfinite(result.time_min).mean() > 0.95
