"""Snapping against brute force: the distance from every point to every edge."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import planning.network as network_module
from geo.settings import Settings
from planning.network import build_network, snap_points

ORIGIN_LON, ORIGIN_LAT = 24.94, 60.17
M_PER_DEG_LAT = 111_320.0
M_PER_DEG_LON = M_PER_DEG_LAT * np.cos(np.radians(ORIGIN_LAT))


def _lonlat(xy: np.ndarray) -> np.ndarray:
    return np.column_stack([ORIGIN_LON + xy[:, 0] / M_PER_DEG_LON, ORIGIN_LAT + xy[:, 1] / M_PER_DEG_LAT])


def polylines(rng: np.random.Generator, n_lines: int, spread_m: float, star: int) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Random polylines of 2-6 vertices (pieces from centimetres to hundreds of metres), plus a dense
    star of ``star`` short spokes, where many pieces lie about equally near; and the star's centre (metres)."""
    lines = []
    for _ in range(n_lines):
        start = rng.uniform(0, spread_m, 2)
        steps = rng.normal(0, rng.choice([0.05, 5.0, 150.0]), (int(rng.integers(1, 6)), 2))
        lines.append(_lonlat(np.vstack([start, start + np.cumsum(steps, axis=0)])))
    centre = rng.uniform(0, spread_m, 2)
    for angle in np.linspace(0, 2 * np.pi, star, endpoint=False):
        lines.append(_lonlat(np.vstack([centre, centre + 30 * np.array([np.cos(angle), np.sin(angle)])])))
    n = len(lines)
    return gpd.GeoDataFrame({"u": np.arange(n) * 2, "v": np.arange(n) * 2 + 1, "highway": "residential",
                             "oneway": False, "maxspeed_kmh": np.nan, "access": None, "foot": None,
                             "motor_vehicle": None},
                            geometry=[shapely.LineString(c) for c in lines], crs="EPSG:4326"), centre


@pytest.mark.parametrize("candidates", [1, 8])
@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n_lines=st.integers(1, 40), star=st.integers(0, 60),
       n_points=st.integers(1, 300), limit=st.sampled_from([5.0, 50.0, 300.0]))
def test_snap_equals_brute_force(candidates, seed, n_lines, star, n_points, limit) -> None:
    rng = np.random.default_rng(seed)
    edges, centre = polylines(rng, n_lines, 600.0, star)
    settings = Settings(snap_limit_m=limit)
    with pytest.MonkeyPatch.context() as mp:  # 1 candidate forces the wider queries and the STRtree fallback
        mp.setattr(network_module, "CANDIDATES", candidates)
        network = build_network(edges, mode="walk", settings=settings)
        xy = np.vstack([rng.uniform(-200, 800, (n_points, 2)), centre + rng.normal(0, 3, (n_points // 3, 2))])
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*_lonlat(xy).T), crs=4326)
        snap = snap_points(network, pts, settings=settings)
    lines = np.asarray(network.edges.geometry.values)
    xy = np.asarray(pts.to_crs(network.crs).geometry.values)
    dist = shapely.distance(lines[None, :], xy[:, None])  # every point to every edge
    best = dist.min(axis=1)
    within = best <= limit
    assert (snap.snapped == within).all()
    got = snap.edge[within]
    np.testing.assert_allclose(snap.access_m[within], best[within], rtol=0, atol=1e-6)
    np.testing.assert_allclose(dist[np.flatnonzero(within), got], best[within], rtol=0, atol=1e-6)
    located = shapely.line_locate_point(lines[got], xy[within], normalized=True)
    on_line = shapely.line_interpolate_point(lines[got], snap.t[within], normalized=True)
    expected = shapely.line_interpolate_point(lines[got], located, normalized=True)
    assert (shapely.distance(on_line, expected) < 1e-6).all()  # the same spot (t may differ where a line doubles back)
    assert np.isnan(snap.access_m[~within]).all()


def test_missing_and_empty_points_are_not_snapped() -> None:
    edges, _ = polylines(np.random.default_rng(0), 5, 100.0, 0)
    network = build_network(edges, mode="walk", settings=Settings())
    pts = gpd.GeoDataFrame(geometry=[None, shapely.Point(), shapely.Point(np.nan, np.nan),
                                     shapely.Point(*_lonlat(np.array([[50.0, 50.0]]))[0])], crs=4326)
    snap = snap_points(network, pts, settings=Settings())
    assert list(snap.snapped) == [False, False, False, True]


def test_the_threads_follow_the_process_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Dask batch worker is given OMP_NUM_THREADS=1 by its nanny: its snapping then runs on one thread, not on
    every core of a machine it shares with other workers; anything else is the cores the process may run on."""
    import os

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert network_module.compute_threads() == cores
    for budget, threads in (("1", 1), ("999", cores), ("", cores), ("0", cores), ("two", cores)):
        monkeypatch.setenv("OMP_NUM_THREADS", budget)
        assert network_module.compute_threads() == threads, budget


def test_snapping_in_chunks_on_threads_equals_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """120,000 points (chunks of 50,000 on threads when the budget allows) snap as on one thread."""
    rng = np.random.default_rng(7)
    edges, _ = polylines(rng, 40, 600.0, 20)
    settings = Settings()
    network = build_network(edges, mode="walk", settings=settings)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*_lonlat(rng.uniform(-200, 800, (120_000, 2))).T), crs=4326)
    monkeypatch.setattr(network_module, "compute_threads", lambda: 3)
    threaded = snap_points(network, pts, settings=settings)
    monkeypatch.setattr(network_module, "compute_threads", lambda: 1)
    single = snap_points(network, pts, settings=settings)
    for name in ("edge", "t", "access_m"):
        np.testing.assert_array_equal(getattr(threaded, name), getattr(single, name), err_msg=name)
