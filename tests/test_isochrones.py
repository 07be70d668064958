"""Street-following isochrones: reachable pieces against networkx, polygons against invariants."""

from __future__ import annotations

import logging

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from netref import add_street_chains
from shapely.ops import substring

from geo.settings import Settings
from planning.isochrones import QUAD_SEGS, facility_isochrones, isochrones, reachable_segments
from planning.network import Network, Snap, build_network, snap_points
from planning.routing import nearest

SETTINGS = Settings(snap_limit_m=2000.0)
LON0, LAT0 = 113.62, 34.75  # Zhengzhou
M_PER_DEG = 111_320.0
EPS_MIN = 1e-7  # positions this close to the cutoff may fall either side of it through rounding


def to_lonlat(xy_m: np.ndarray) -> np.ndarray:
    """Metres east/north of (LON0, LAT0) to lon/lat."""
    xy_m = np.asarray(xy_m, dtype=float)
    return np.column_stack([LON0 + xy_m[:, 0] / (M_PER_DEG * np.cos(np.radians(LAT0))),
                            LAT0 + xy_m[:, 1] / M_PER_DEG])


def points(xy_m) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(*to_lonlat(xy_m).T), crs="EPSG:4326")


def roads_from(lines_m: list[list[tuple[float, float]]], node_ids: list[tuple[int, int]],
               oneway: list[bool] | None = None) -> gpd.GeoDataFrame:
    oneway = oneway or [False] * len(lines_m)
    return gpd.GeoDataFrame(
        {"u": [a for a, _ in node_ids], "v": [b for _, b in node_ids], "highway": "residential",
         "oneway": oneway, "maxspeed_kmh": np.nan, "access": None, "foot": None, "motor_vehicle": None},
        geometry=[shapely.LineString(to_lonlat(line)) for line in lines_m], crs="EPSG:4326")


def random_streets(seed: int, n_nodes: int, n_extra: int, oneway_share: float) -> gpd.GeoDataFrame:
    """A connected random street graph with bent edges (one per node pair), in EPSG:4326."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1000, (n_nodes, 2))
    perm = rng.permutation(n_nodes)
    pairs = {tuple(sorted((int(a), int(b)))) for a, b in zip(perm[:-1], perm[1:], strict=True)}
    while len(pairs) < min(n_nodes - 1 + n_extra, n_nodes * (n_nodes - 1) // 2):
        pairs.add(tuple(sorted(int(x) for x in rng.choice(n_nodes, 2, replace=False))))
    lines, ids = [], []
    for a, b in sorted(pairs):
        bend = (xy[a] + xy[b]) / 2 + rng.normal(0, 60, 2)  # a middle vertex, so cuts must follow it
        lines.append([tuple(xy[a]), tuple(bend), tuple(xy[b])])
        ids.append((a + 1, b + 1))
    return roads_from(lines, ids, list(rng.random(len(ids)) < oneway_share))


def position_times(network: Network, sources: Snap, spots: Snap) -> np.ndarray:
    """networkx reference: minutes from the nearest source to each spot *on the street* (no walk at the end)."""
    G = nx.MultiDiGraph()
    on_edge: dict[int, list[tuple[float, object]]] = {}
    for kind, snap in (("S", sources), ("P", spots)):
        for k in np.flatnonzero(snap.snapped):
            on_edge.setdefault(int(snap.edge[k]), []).append((float(snap.t[k]), (kind, int(k))))
    for k in np.flatnonzero(sources.snapped):
        G.add_edge("start", ("S", int(k)), weight=float(sources.access_min[k]))
    add_street_chains(G, network, on_edge)
    dist = nx.single_source_dijkstra_path_length(G, "start", weight="weight")
    return np.array([dist.get(("P", k), np.inf) for k in range(len(spots))])


def on_own_edge(segments: gpd.GeoDataFrame, spots: Snap) -> np.ndarray:
    """Whether each spot's position lies in a reachable piece of its own edge."""
    edge, lo, hi = (segments[c].to_numpy() for c in ("edge", "from_frac", "to_frac"))
    key = 2.0 * edge + lo  # fractions lie in [0, 1]: sorts by edge, then by start
    assert np.all(np.diff(key) >= 0)
    ok = spots.snapped
    t = np.where(ok, spots.t, 0.0)
    last = np.searchsorted(key, 2.0 * spots.edge + t, side="right") - 1  # the last piece starting at or before
    found = ok & (last >= 0)
    last = np.maximum(last, 0)
    if len(edge) == 0:
        return np.zeros(len(spots), dtype=bool)
    return found & (edge[last] == spots.edge) & (t <= hi[last])


def sub(snap: Snap, part) -> Snap:
    return Snap(snap.edge[part], snap.t[part], snap.access_m[part], snap.access_min[part])


def buffer_error_m(buffer_m: float) -> float:
    """How far GEOS's polygon may fall short of, or differ from, the exact buffer of a line.

    Round caps and joins are polygons inscribed in the circle (``QUAD_SEGS`` segments a quarter:
    short by up to the sagitta), and GEOS first simplifies the line by 1 % of the buffer distance.
    Two unions of buffers of the same streets may therefore differ by this much.
    """
    return buffer_m * (1 - np.cos(np.pi / (4 * QUAD_SEGS))) + 0.01 * buffer_m + 1e-6


# --- reachable pieces against networkx on random graphs ---------------------------------------------


@pytest.mark.parametrize("mode", ["walk", "drive"])
@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n_nodes=st.integers(2, 18), n_extra=st.integers(0, 20),
       oneway_share=st.sampled_from([0.0, 0.5, 1.0]), n_sources=st.integers(1, 4), cutoff_min=st.floats(0.0, 20.0))
def test_reachable_pieces_equal_networkx(mode, seed, n_nodes, n_extra, oneway_share, n_sources, cutoff_min) -> None:
    network = build_network(random_streets(seed, n_nodes, n_extra, oneway_share), mode=mode, settings=SETTINGS)
    rng = np.random.default_rng(seed + 1)
    sources = snap_points(network, points(rng.uniform(-30, 1030, (n_sources, 2))), settings=SETTINGS)
    # many spots on the streets, including the ends of every edge
    probe = snap_points(network, points(rng.uniform(0, 1000, (150, 2))), settings=SETTINGS)
    n_e = len(network.edges)
    edge = np.concatenate([probe.edge, np.arange(n_e), np.arange(n_e)])
    t = np.concatenate([probe.t, np.zeros(n_e), np.ones(n_e)])
    spots = Snap(edge, t, np.zeros(len(edge)), np.zeros(len(edge)))

    segments = reachable_segments(network, sources, cutoff_min=cutoff_min)
    expected = position_times(network, sources, spots)
    inside = on_own_edge(segments, spots)
    reached = expected <= cutoff_min - EPS_MIN
    interior = (spots.t > 0) & (spots.t < 1)
    assert inside[reached & interior].all()
    assert not inside[expected > cutoff_min + EPS_MIN].any()
    # a reached node may be reached along another edge than the spot's own (a oneway's end)
    positions = shapely.line_interpolate_point(network.edges.geometry.values[spots.edge], spots.t, normalized=True)
    street = shapely.multilinestrings(segments.geometry.values)
    assert (shapely.distance(street, positions[reached]) < 1e-6).all()
    # and each reached position is inside the polygon, all of it within the buffer of reached positions
    polygon = isochrones(network, sources, minutes=[max(cutoff_min, 1e-3)], buffer_m=30.0).to_crs(
        network.crs).geometry.values[0]
    assert shapely.contains_xy(polygon.buffer(1e-6), shapely.get_coordinates(positions[reached])).all()

    # pieces: ordered, disjoint within an edge, of positive length, cut along the edge's own geometry
    assert segments.crs == network.crs
    assert (segments["from_frac"] <= segments["to_frac"]).all()
    assert (segments["from_frac"] >= 0).all() and (segments["to_frac"] <= 1).all()
    same = segments["edge"].to_numpy()[1:] == segments["edge"].to_numpy()[:-1]
    assert (segments["from_frac"].to_numpy()[1:][same] > segments["to_frac"].to_numpy()[:-1][same]).all()
    lines = network.edges.geometry.values
    for row in segments.itertuples():
        cut = substring(lines[row.edge], row.from_frac, row.to_frac, normalized=True)
        assert shapely.hausdorff_distance(row.geometry, cut) < 1e-6
        assert row.geometry.coords[0] == pytest.approx(cut.coords[0], abs=1e-6)  # oriented u→v
        assert row.geometry.length == pytest.approx(row.length_m, rel=1e-9, abs=1e-9)


def test_u_shaped_street_follows_the_street_not_the_crow() -> None:
    """A spot 360 m from the source as the crow flies but 700 m (14 min) along the only street."""
    corners = [(0.0, 0.0), (0.0, 300.0), (300.0, 300.0), (300.0, 100.0)]
    roads = roads_from([[corners[0], corners[1]], [corners[1], corners[2]], [corners[2], corners[3]]],
                       [(1, 2), (2, 3), (3, 4)])
    network = build_network(roads, mode="walk", settings=Settings())  # 3 km/h: 50 m a minute
    sources = snap_points(network, points([[0.0, 0.0]]), settings=Settings())
    far = points([[300.0, 200.0]]).to_crs(network.crs).geometry.values[0]
    elder = snap_points(network, points([[300.0, 200.0]]), settings=Settings())
    assert nearest(network, sources, elder).time_min[0] == pytest.approx(14.0, abs=0.05)  # (UTM scale)

    iso = isochrones(network, sources, minutes=[5, 15], buffer_m=50.0).to_crs(network.crs)
    five, fifteen = iso.geometry.values
    assert not five.contains(far) and five.distance(far) > 200  # reach on the street, not a circle
    assert fifteen.contains(far)
    assert five.area == pytest.approx(250 * 100 + np.pi * 50**2, rel=0.01)  # 250 m of street ±50 m, two caps
    hull = shapely.convex_hull(shapely.multilinestrings(reachable_segments(network, sources, cutoff_min=15)
                                                        .geometry.values)).buffer(50)
    assert fifteen.area < 0.75 * hull.area  # the hull would claim the whole inside of the U
    assert list(iso["band_label"]) == ["0–5 分钟", "0–15 分钟"]

    segs = reachable_segments(network, sources, cutoff_min=5.0)
    assert segs["length_m"].sum() == pytest.approx(250.0, rel=1e-9)
    assert list(segs["edge"]) == [0] and segs["to_frac"].iloc[0] == pytest.approx(250 / 300, rel=0.01)


def test_oneway_street_is_reached_only_forward() -> None:
    """A source in the middle of a oneway street reaches ahead of it, never behind it (drive)."""
    roads = roads_from([[(0.0, 0.0), (1000.0, 0.0)]], [(1, 2)], oneway=[True])
    network = build_network(roads, mode="drive", settings=SETTINGS)  # residential: 20 km/h, 333 m a minute
    sources = Snap(np.array([0]), np.array([0.5]), np.array([0.0]), np.array([0.0]))
    T = float(network.edges["time_min"].iloc[0])
    segs = reachable_segments(network, sources, cutoff_min=1.2)
    assert len(segs) == 1
    assert segs["from_frac"].iloc[0] == 0.5 and segs["to_frac"].iloc[0] == pytest.approx(0.5 + 1.2 / T)
    assert reachable_segments(network, sources, cutoff_min=2.0)["to_frac"].iloc[0] == 1.0
    two_way = build_network(roads.assign(oneway=False), mode="drive", settings=SETTINGS)
    segs = reachable_segments(two_way, sources, cutoff_min=1.2)
    assert segs["from_frac"].iloc[0] == pytest.approx(0.5 - 1.2 / T) and segs["to_frac"].iloc[0] == pytest.approx(
        0.5 + 1.2 / T)
    # the access walk costs time but draws nothing
    walked = Snap(np.array([0]), np.array([0.5]), np.array([200.0]), np.array([1.0]))
    segs = reachable_segments(two_way, walked, cutoff_min=1.2)
    assert segs["length_m"].iloc[0] == pytest.approx(2 * 0.2 * 1000 / 3, rel=1e-6)
    # a source at the end of a oneway dead end reaches only its own spot: a disc, not nothing
    stuck = Snap(np.array([0]), np.array([1.0]), np.array([10.0]), np.array([0.1]))
    segs = reachable_segments(network, stuck, cutoff_min=1.2)
    assert len(segs) == 1 and segs["from_frac"].iloc[0] == segs["to_frac"].iloc[0] == 1.0
    assert segs["length_m"].iloc[0] == 0.0
    area_km2 = isochrones(network, stuck, minutes=[1.2], buffer_m=50.0)["area_km2"].iloc[0]
    assert area_km2 == pytest.approx(np.pi * 50**2 / 1e6, rel=0.01)


def test_empty_and_unsnapped_sources(caplog: pytest.LogCaptureFixture) -> None:
    network = build_network(random_streets(5, 8, 4, 0.0), mode="walk", settings=SETTINGS)
    nowhere = Snap(np.array([-1]), np.array([np.nan]), np.array([np.nan]), np.array([np.nan]))
    segs = reachable_segments(network, nowhere, cutoff_min=10)
    assert segs.empty and segs.crs == network.crs and list(segs.columns) == [
        "edge", "from_frac", "to_frac", "length_m", "geometry"]
    iso = isochrones(network, nowhere, minutes=[5, 10])
    assert iso.crs == "EPSG:4326" and iso.geometry.is_empty.all() and (iso["area_km2"] == 0).all()
    somewhere = snap_points(network, points([[500.0, 500.0]]), settings=SETTINGS)
    both = Snap(np.r_[somewhere.edge, -1], np.r_[somewhere.t, np.nan], np.r_[somewhere.access_m, np.nan],
                np.r_[somewhere.access_min, np.nan])
    with caplog.at_level(logging.WARNING, logger="planning.isochrones"):
        per = facility_isochrones(network, both, ["A", "B"], minutes=[10, 5])
    assert list(per["facility_id"]) == ["A", "A", "B", "B"] and list(per["minutes"]) == [5.0, 10.0, 5.0, 10.0]
    assert not per.geometry.values[1].is_empty and per.geometry.values[2:].is_empty.all()
    assert "1 of 2 facilities are not on the walk network" in caplog.text
    none = facility_isochrones(network, sub(both, slice(0, 0)), [], minutes=[5])
    assert none.empty and list(none.columns) == ["facility_id", "minutes", "band_label", "area_km2", "geometry"]


@pytest.mark.parametrize("kwargs, match", [
    ({"minutes": []}, "minutes"), ({"minutes": [5, -1]}, "minutes"), ({"minutes": [0]}, "minutes"),
    ({"minutes": [np.nan]}, "minutes"), ({"minutes": "15"}, "minutes"), ({"minutes": 15}, "minutes"),
    ({"minutes": [5], "buffer_m": 0}, "buffer_m"), ({"minutes": [5], "buffer_m": np.inf}, "buffer_m"),
])
def test_bad_arguments_raise(kwargs, match) -> None:
    network = build_network(random_streets(2, 5, 2, 0.0), mode="walk", settings=SETTINGS)
    sources = snap_points(network, points([[500.0, 500.0]]), settings=SETTINGS)
    with pytest.raises(ValueError, match=match):
        isochrones(network, sources, **kwargs)
    with pytest.raises(ValueError, match="cutoff_min"):
        reachable_segments(network, sources, cutoff_min=-1.0)
    with pytest.raises(ValueError, match="facility_ids has 2 entries but sources has 1"):
        facility_isochrones(network, sources, ["a", "b"], minutes=[5])


# --- demo region (real Helsinki streets, 22 facilities) ----------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_region):
    settings = Settings()
    network = build_network(demo_region.road_edges, mode="walk", settings=settings)
    fac = snap_points(network, demo_region.facilities, settings=settings)
    eld = snap_points(network, demo_region.elders, settings=settings)
    iso = isochrones(network, fac, minutes=[5, 10, 15])
    return network, fac, eld, iso, demo_region


def test_demo_cumulative_polygons_nest_and_bands_add_up(demo) -> None:
    network, fac, _, iso, _ = demo
    assert list(iso["minutes"]) == [5.0, 10.0, 15.0] and iso.crs == "EPSG:4326"
    assert list(iso["band_label"]) == ["0–5 分钟", "0–10 分钟", "0–15 分钟"]
    geoms = iso.to_crs(network.crs).geometry.values
    assert geoms[0].within(geoms[1].buffer(1e-6)) and geoms[1].within(geoms[2].buffer(1e-6))
    assert (np.diff(iso["area_km2"]) > 0).all()
    np.testing.assert_allclose(iso["area_km2"], shapely.area(geoms) / 1e6, rtol=1e-6)
    rings = isochrones(network, fac, minutes=[15, 5, 10], bands=True)
    assert list(rings["band_label"]) == ["0–5 分钟", "5–10 分钟", "10–15 分钟"]
    assert iso.geometry.is_valid.all() and rings.geometry.is_valid.all()
    assert rings["area_km2"].sum() == pytest.approx(iso["area_km2"].iloc[-1], rel=1e-9)
    ring_geoms = rings.to_crs(network.crs).geometry.values
    # reprojected to EPSG:4326 and back, shared edges agree only up to rounding: repair before overlaying
    ring_geoms, geoms = shapely.make_valid(ring_geoms), shapely.make_valid(geoms)
    assert shapely.intersection(ring_geoms[0], ring_geoms[2]).area < 1e-3
    assert shapely.intersection(ring_geoms[1], geoms[0]).area < 1e-3


def test_demo_is_not_the_convex_hull(demo) -> None:
    network, _, _, iso, _ = demo
    fifteen = iso.to_crs(network.crs).geometry.values[-1]
    assert fifteen.area < 0.9 * fifteen.convex_hull.area


def test_demo_adding_a_source_never_shrinks(demo) -> None:
    network, fac, _, iso, _ = demo
    tol = buffer_error_m(50.0)
    full = iso.to_crs(network.crs).geometry.values
    for part in (slice(0, 11), slice(1, None), slice(5, 6)):
        fewer = isochrones(network, sub(fac, part), minutes=[5, 10, 15]).to_crs(network.crs).geometry.values
        for small, large in zip(fewer, full, strict=True):
            assert small.within(large.buffer(tol))
            assert small.area <= large.area * (1 + 1e-9)


def test_demo_reached_elders_are_on_reached_streets(demo) -> None:
    """Every elder whose street position is reached within the cutoff is on a reached piece of street."""
    network, fac, eld, iso, region = demo
    position_time = nearest(network, fac, eld).time_min - eld.access_min  # access walk at the elder's end removed
    lines = network.edges.geometry.values
    ok = eld.snapped
    positions = np.full(len(eld), None, dtype=object)
    positions[ok] = shapely.line_interpolate_point(lines[eld.edge[ok]], eld.t[ok], normalized=True)
    homes = region.elders.to_crs(network.crs).geometry.values
    polygons = iso.to_crs(network.crs).geometry.values
    for m, polygon in zip([5.0, 10.0, 15.0], polygons, strict=True):
        segments = reachable_segments(network, fac, cutoff_min=m)
        street = shapely.multilinestrings(segments.geometry.values)
        reached = ok & (position_time <= m - EPS_MIN)
        assert reached.sum() > 100
        assert (shapely.distance(street, positions[reached]) < 1e-6).all()
        on_edge = on_own_edge(segments, eld)
        assert on_edge[reached].all() and not on_edge[ok & (position_time > m + EPS_MIN)].any()
        # and elders living within the buffer of their street are inside the polygon
        near_street = reached & (eld.access_m <= 50.0 - buffer_error_m(50.0))
        assert shapely.contains_xy(polygon.buffer(1e-6), shapely.get_coordinates(homes[near_street])).all()


def test_demo_facility_isochrones(demo) -> None:
    network, fac, _, iso, region = demo
    ids = region.facilities["id"].tolist()
    per = facility_isochrones(network, fac, ids, minutes=[5, 10, 15])
    assert len(per) == 3 * len(ids) and per.crs == "EPSG:4326"
    assert list(per.columns) == ["facility_id", "minutes", "band_label", "area_km2", "geometry"]
    assert per["facility_id"].tolist() == [i for i in ids for _ in range(3)]
    geoms = per.to_crs(network.crs).geometry.values
    full = iso.to_crs(network.crs).geometry.values
    tol = buffer_error_m(50.0)
    for k in range(len(ids)):
        for b in range(3):
            assert geoms[3 * k + b].within(full[b].buffer(tol))
    # one facility's row is its own single-source isochrone
    alone = isochrones(network, sub(fac, slice(3, 4)), minutes=[5, 10, 15])
    assert alone.geometry.values[2].equals_exact(per.geometry.values[3 * 3 + 2], tolerance=0.0)
    # together they cover what the nearest-facility isochrone covers
    union = shapely.union_all(geoms[2::3])
    assert union.area == pytest.approx(full[2].area, rel=1e-3)


def test_demo_second_run_identical_and_inputs_untouched(demo) -> None:
    network, fac, _, iso, _ = demo
    edges_before = network.edges.copy()
    t_before = fac.t.copy()
    again = isochrones(network, fac, minutes=[5, 10, 15])
    assert again.drop(columns="geometry").equals(iso.drop(columns="geometry"))
    assert all(a.equals_exact(b, tolerance=0.0) for a, b in zip(again.geometry.values, iso.geometry.values,
                                                                 strict=True))
    seg_a = reachable_segments(network, fac, cutoff_min=10.0)
    seg_b = reachable_segments(network, fac, cutoff_min=10.0)
    assert seg_a.drop(columns="geometry").equals(seg_b.drop(columns="geometry"))
    assert seg_a.geometry.geom_equals_exact(seg_b.geometry, tolerance=0.0).all()
    assert network.edges.equals(edges_before)
    np.testing.assert_array_equal(fac.t, t_before)
