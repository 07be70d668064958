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
from planning.isochrones import QUAD_SEGS, SAMPLE_M, facility_isochrones, isochrones, reachable_segments
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
    polygon = isochrones(network, sources, minutes=[max(cutoff_min, 1e-3)], buffer_m=30.0, method="buffer").to_crs(
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

    iso = isochrones(network, sources, minutes=[5, 15], buffer_m=50.0, method="buffer").to_crs(network.crs)
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
    area_km2 = isochrones(network, stuck, minutes=[1.2], buffer_m=50.0, method="buffer")["area_km2"].iloc[0]
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
    ({"minutes": [5], "method": "hull"}, "method"), ({"minutes": [5], "snap_limit_m": 0}, "snap_limit_m"),
    ({"minutes": [5], "snap_limit_m": np.nan}, "snap_limit_m"),
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


# --- "access" polygons: the places whose table time is within the cutoff --------------------------------


def segment_gap_m(network: Network, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point: distance to the nearest straight piece of any edge, and how much farther the next one is."""
    coords, which = shapely.get_coordinates(network.edges.geometry.values, return_index=True)
    same = which[1:] == which[:-1]
    pieces = shapely.linestrings(np.stack([coords[:-1][same], coords[1:][same]], axis=1))
    d = np.sort(shapely.distance(shapely.points(xy)[:, None], pieces[None, :]), axis=1)
    second = d[:, 1] if d.shape[1] > 1 else np.full(len(xy), np.inf)
    return d[:, 0], second - d[:, 0]


@pytest.mark.parametrize("mode", ["walk", "drive"])
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n_nodes=st.integers(2, 14), n_extra=st.integers(0, 12),
       oneway_share=st.sampled_from([0.0, 0.5, 1.0]), n_sources=st.integers(1, 3), cutoff_min=st.floats(0.5, 20.0),
       limit_m=st.sampled_from([60.0, 150.0, 400.0]))
def test_access_polygon_says_what_the_table_says(mode, seed, n_nodes, n_extra, oneway_share, n_sources, cutoff_min,
                                                 limit_m) -> None:
    """Inside the polygon ⇔ travel time (nearest street + access walk, as coverage counts) within the cutoff.

    Reference: :func:`planning.routing.nearest` on the same snapped points (itself checked against networkx
    in test_routing). Bound: a point's nearest street sample is at most one step ``s`` along its own
    straight piece of street from its snapped position, so the polygon's time differs from the table's by
    at most ``2 s`` walked (plus the polygonal discs' sagitta); points within ``s`` of a second piece of
    street (junctions, bends, crossings: two candidate streets), beside a source (where a oneway street's
    time jumps) and at the snap limit are left out.
    """
    settings = Settings(snap_limit_m=limit_m)
    network = build_network(random_streets(seed, n_nodes, n_extra, oneway_share), mode=mode, settings=settings)
    rng = np.random.default_rng(seed + 7)
    sources = snap_points(network, points(rng.uniform(0, 1000, (n_sources, 2))), settings=settings)
    probe = points(rng.uniform(-300, 1300, (300, 2))).to_crs(network.crs)
    xy = shapely.get_coordinates(probe.geometry.values)
    time_min = nearest(network, sources, snap_points(network, probe, settings=settings)).time_min
    polygon = isochrones(network, sources, minutes=[cutoff_min], method="access", snap_limit_m=limit_m).to_crs(
        network.crs).geometry.values[0]
    inside = shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])

    step_m = SAMPLE_M
    v = network.walk_speed_m_per_min
    delta_min = 2 * step_m / v + limit_m * (1 - np.cos(np.pi / (4 * QUAD_SEGS))) / v + 1e-6
    nearest_m, gap_m = segment_gap_m(network, xy)
    # beside a source on a oneway street the time jumps (ahead: reached at once; behind: only round the
    # block): points whose street position is within a step of a source are drawn to a step's accuracy
    ok = sources.snapped
    at_source = shapely.line_interpolate_point(network.edges.geometry.values[sources.edge[ok]], sources.t[ok],
                                               normalized=True)
    to_source_m = shapely.distance(shapely.points(xy)[:, None], at_source[None, :]).min(axis=1, initial=np.inf)
    clear = ((gap_m > step_m) & (nearest_m < limit_m - step_m - 1) & (to_source_m > nearest_m + step_m)) | (
        nearest_m > limit_m + 1)
    assert clear.sum() >= 60
    within = clear & (time_min <= cutoff_min - delta_min)
    beyond = clear & ~(time_min <= cutoff_min + delta_min)
    assert inside[within].all()
    assert not inside[beyond].any()
    assert not inside[nearest_m > limit_m + 1].any()  # never snapped: never covered


def test_access_polygon_of_a_straight_street_is_hand_computed() -> None:
    """One street, a source at its end, 10 minutes at 50 m/min: a place ``s`` along and ``d`` beside the
    street takes ``(s + d) / 50`` minutes, so the polygon is the street's first 500 m tapering to a point,
    no wider than the 300 m snap limit, plus the half disc of 300 m behind the source."""
    roads = roads_from([[(0.0, 0.0), (1000.0, 0.0)]], [(1, 2)])
    network = build_network(roads, mode="walk", settings=Settings())
    sources = snap_points(network, points([[0.0, 0.0]]), settings=Settings())
    iso = isochrones(network, sources, minutes=[10, 14], method="access", snap_limit_m=300.0)
    ten, fourteen = iso.to_crs(network.crs).geometry.values
    expected_m2 = 200 * 600 + 300**2 + np.pi * 300**2 / 2
    assert ten.area == pytest.approx(expected_m2, rel=0.01)
    probe = {(450, 30): True, (450, -30): True, (450, 70): False, (100, 290): True, (100, 310): False,
             (-200, 200): True, (-250, 200): False, (520, 0): False, (0, 0): True}
    xy = points(list(probe)).to_crs(network.crs).geometry.values
    assert list(shapely.contains(ten, xy)) == list(probe.values())
    # an edge reached at 14 minutes contributes what the last minute walks: 50 m more, tapering
    assert fourteen.contains(points([[690.0, 5.0]]).to_crs(network.crs).geometry.values[0])
    assert not fourteen.contains(points([[710.0, 0.0]]).to_crs(network.crs).geometry.values[0])


def test_access_polygon_leaves_out_a_lane_reached_late() -> None:
    """A lane 40 m beside the main street, joined to it only 3 km round: homes nearer the lane are snapped
    to the lane and far in time, so the polygon leaves them out; a 50 m buffer of the main street takes them."""
    lines = [[(0.0, 0.0), (1600.0, 0.0)], [(100.0, 40.0), (400.0, 40.0)],
             [(400.0, 40.0), (400.0, 600.0), (1600.0, 600.0), (1600.0, 0.0)]]
    network = build_network(roads_from(lines, [(1, 2), (3, 4), (4, 2)]), mode="walk", settings=Settings())
    sources = snap_points(network, points([[0.0, 0.0]]), settings=Settings())
    homes = points([[250.0, 30.0], [250.0, 12.0]])
    times = nearest(network, sources, snap_points(network, homes, settings=Settings())).time_min
    assert times[0] > 30 and times[1] < 6
    xy = homes.to_crs(network.crs).geometry.values
    access = isochrones(network, sources, minutes=[15], method="access").to_crs(network.crs).geometry.values[0]
    buffer = isochrones(network, sources, minutes=[15], method="buffer").to_crs(network.crs).geometry.values[0]
    assert list(shapely.contains(access, xy)) == [False, True]
    assert list(shapely.contains(buffer, xy)) == [True, True]


def test_elder_counts_per_band_from_the_network_times() -> None:
    """``elders`` counts targets by their own time (access walk included), cumulative or per ring."""
    network = build_network(random_streets(11, 12, 8, 0.0), mode="walk", settings=SETTINGS)
    rng = np.random.default_rng(3)
    sources = snap_points(network, points(rng.uniform(0, 1000, (2, 2))), settings=SETTINGS)
    homes = snap_points(network, points(rng.uniform(0, 1000, (400, 2))), settings=SETTINGS)
    time_min = nearest(network, sources, homes).time_min
    cumulative = isochrones(network, sources, minutes=[10, 5, 15], targets=homes)
    rings = isochrones(network, sources, minutes=[5, 10, 15], targets=homes, bands=True)
    assert list(cumulative.columns) == ["minutes", "band_label", "area_km2", "elders", "geometry"]
    assert list(cumulative["elders"]) == [int((time_min <= m).sum()) for m in (5, 10, 15)]
    assert list(rings["elders"]) == [int((time_min <= 5).sum()), int(((time_min > 5) & (time_min <= 10)).sum()),
                                     int(((time_min > 10) & (time_min <= 15)).sum())]
    per = facility_isochrones(network, sources, ["a", "b"], minutes=[5, 15], targets=homes)
    alone = nearest(network, sub(sources, slice(1, 2)), homes).time_min
    assert list(per["elders"].iloc[2:]) == [int((alone <= 5).sum()), int((alone <= 15).sum())]


# --- demo region (real Helsinki streets, 22 facilities) ----------------------------------------------

METHODS = ["buffer", "access"]


def tolerance_m(method: str) -> float:
    """How far two polygons of one method, built from nested inputs, may stick out of each other."""
    return buffer_error_m(50.0) if method == "buffer" else 1e-3


@pytest.fixture(scope="module")
def demo(demo_region):
    settings = Settings()
    network = build_network(demo_region.road_edges, mode="walk", settings=settings)
    fac = snap_points(network, demo_region.facilities, settings=settings)
    eld = snap_points(network, demo_region.elders, settings=settings)
    iso = {method: isochrones(network, fac, minutes=[5, 10, 15], method=method) for method in METHODS}
    return network, fac, eld, iso, demo_region


@pytest.mark.parametrize("method", METHODS)
def test_demo_cumulative_polygons_nest_and_bands_add_up(demo, method) -> None:
    network, fac, _, isos, _ = demo
    iso = isos[method]
    assert list(iso["minutes"]) == [5.0, 10.0, 15.0] and iso.crs == "EPSG:4326"
    assert list(iso["band_label"]) == ["0–5 分钟", "0–10 分钟", "0–15 分钟"]
    geoms = iso.to_crs(network.crs).geometry.values
    assert geoms[0].within(geoms[1].buffer(1e-6)) and geoms[1].within(geoms[2].buffer(1e-6))
    assert (np.diff(iso["area_km2"]) > 0).all()
    np.testing.assert_allclose(iso["area_km2"], shapely.area(geoms) / 1e6, rtol=1e-6)
    rings = isochrones(network, fac, minutes=[15, 5, 10], bands=True, method=method)
    assert list(rings["band_label"]) == ["0–5 分钟", "5–10 分钟", "10–15 分钟"]
    assert iso.geometry.is_valid.all() and rings.geometry.is_valid.all()
    assert rings["area_km2"].sum() == pytest.approx(iso["area_km2"].iloc[-1], rel=1e-9)
    ring_geoms = rings.to_crs(network.crs).geometry.values
    # reprojected to EPSG:4326 and back, shared edges agree only up to rounding: repair before overlaying
    ring_geoms, geoms = shapely.make_valid(ring_geoms), shapely.make_valid(geoms)
    assert shapely.intersection(ring_geoms[0], ring_geoms[2]).area < 1e-3
    assert shapely.intersection(ring_geoms[1], geoms[0]).area < 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_demo_is_not_the_convex_hull(demo, method) -> None:
    network, _, _, iso, _ = demo
    fifteen = iso[method].to_crs(network.crs).geometry.values[-1]
    assert fifteen.area < 0.9 * fifteen.convex_hull.area


@pytest.mark.parametrize("method", METHODS)
def test_demo_adding_a_source_never_shrinks(demo, method) -> None:
    network, fac, _, iso, _ = demo
    tol = tolerance_m(method)
    full = iso[method].to_crs(network.crs).geometry.values
    for part in (slice(0, 11), slice(1, None), slice(5, 6)):
        fewer = isochrones(network, sub(fac, part), minutes=[5, 10, 15], method=method).to_crs(
            network.crs).geometry.values
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
    polygons = iso["buffer"].to_crs(network.crs).geometry.values
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


@pytest.mark.parametrize("method", METHODS)
def test_demo_facility_isochrones(demo, method) -> None:
    network, fac, _, iso, region = demo
    part = slice(None) if method == "buffer" else slice(0, 8)  # eight facilities keep the test fast
    fac = sub(fac, part)
    ids = region.facilities["id"].tolist()[part]
    per = facility_isochrones(network, fac, ids, minutes=[5, 10, 15], method=method)
    assert len(per) == 3 * len(ids) and per.crs == "EPSG:4326"
    assert list(per.columns) == ["facility_id", "minutes", "band_label", "area_km2", "geometry"]
    assert per["facility_id"].tolist() == [i for i in ids for _ in range(3)]
    geoms = per.to_crs(network.crs).geometry.values
    full = (iso[method] if method == "buffer" else isochrones(network, fac, minutes=[5, 10, 15], method=method)
            ).to_crs(network.crs).geometry.values
    tol = tolerance_m(method)
    for k in range(len(ids)):
        for b in range(3):
            assert geoms[3 * k + b].within(full[b].buffer(tol))
    # one facility's row is its own single-source isochrone
    alone = isochrones(network, sub(fac, slice(3, 4)), minutes=[5, 10, 15], method=method)
    assert alone.geometry.values[2].equals_exact(per.geometry.values[3 * 3 + 2], tolerance=0.0)
    # together they cover what the nearest-facility isochrone covers
    union = shapely.union_all(geoms[2::3])
    assert union.area == pytest.approx(full[2].area, rel=1e-3)


@pytest.mark.parametrize("method", METHODS)
def test_demo_second_run_identical_and_inputs_untouched(demo, method) -> None:
    network, fac, _, iso, _ = demo
    edges_before = network.edges.copy()
    t_before = fac.t.copy()
    again = isochrones(network, fac, minutes=[5, 10, 15], method=method)
    assert again.drop(columns="geometry").equals(iso[method].drop(columns="geometry"))
    assert all(a.equals_exact(b, tolerance=0.0) for a, b in zip(again.geometry.values, iso[method].geometry.values,
                                                                 strict=True))
    seg_a = reachable_segments(network, fac, cutoff_min=10.0)
    seg_b = reachable_segments(network, fac, cutoff_min=10.0)
    assert seg_a.drop(columns="geometry").equals(seg_b.drop(columns="geometry"))
    assert seg_a.geometry.geom_equals_exact(seg_b.geometry, tolerance=0.0).all()
    assert network.edges.equals(edges_before)
    np.testing.assert_array_equal(fac.t, t_before)


def test_region_isochrones_say_what_the_coverage_table_says(demo_region) -> None:
    """Issue 18: each band counts the elders the coverage table counts, and the polygon agrees with the table
    for ≥ 97 % of elders with ≤ 1 % inside it but more than a minute beyond the cutoff."""
    from planning.coverage import elder_snap_for, network_for, region_coverage, region_isochrones

    settings = Settings()
    cumulative = region_isochrones(demo_region, settings=settings, bands=False)
    rings = region_isochrones(demo_region, settings=settings)
    assert list(cumulative["minutes"]) == [float(m) for m in settings.circle_minutes]
    assert rings["elders"].cumsum().tolist() == cumulative["elders"].tolist()
    network = network_for(demo_region, "walk", settings)
    elders = elder_snap_for(demo_region, "walk", settings)
    visited = demo_region.facilities[~demo_region.facilities["kind"].isin(settings.home_care_kinds)]  # as "any"
    fac = snap_points(network, visited, settings=settings)
    time_min = nearest(network, fac, elders).time_min
    homes = shapely.get_coordinates(demo_region.elders.to_crs(network.crs).geometry.values)
    for row, polygon in zip(cumulative.itertuples(), cumulative.to_crs(network.crs).geometry.values, strict=True):
        table, _ = region_coverage(demo_region, settings=settings, minutes=row.minutes, by="district")
        assert row.elders == table.iloc[-1]["covered"] == int((time_min <= row.minutes).sum())
        inside = shapely.contains_xy(polygon, homes[:, 0], homes[:, 1])
        assert np.mean(inside == (time_min <= row.minutes)) >= 0.97
        assert np.mean(inside & ~(time_min <= row.minutes + 1.0)) <= 0.01
    one = str(visited["id"].iloc[4])
    alone = nearest(network, sub(fac, slice(4, 5)), elders).time_min
    per = region_isochrones(demo_region, settings=settings, facility_id=one, bands=False)
    assert per["facility_id"].tolist() == [one] * 3
    assert per["elders"].tolist() == [int((alone <= m).sum()) for m in settings.circle_minutes]


def test_demo_local_voronoi_equals_the_kept_one(demo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large networks build the Voronoi diagram of the samples near reached streets only, on each call: the
    polygons equal those from the whole network's diagram (only samples within twice the snap limit matter)."""
    import planning.isochrones as iso_module

    network, fac, _, _, _ = demo
    few = sub(fac, slice(2, 5))
    kept = isochrones(network, few, minutes=[5, 15], method="access").to_crs(network.crs).geometry.values
    monkeypatch.setattr(iso_module, "CELLS_KEPT_MAX", 0)
    local = isochrones(network, few, minutes=[5, 15], method="access").to_crs(network.crs).geometry.values
    for a, b in zip(kept, local, strict=True):
        assert a.area > 0 and a.area == pytest.approx(b.area, rel=1e-9)
        assert shapely.symmetric_difference(a, b).area < 1e-3
