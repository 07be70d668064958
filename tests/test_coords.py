"""Tests for geo.coords (WGS-84 / CGCS2000 / GCJ-02 / BD-09 conversions)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from geo.coords import (
    SOURCE_CRS,
    UnknownCrsError,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    haversine_m,
    in_china,
    looks_swapped,
    normalise_crs_name,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

CHINA_LON = st.floats(min_value=73.5, max_value=134.7)
CHINA_LAT = st.floats(min_value=18.0, max_value=53.5)
ROUND_TRIP_TOL_M = 0.01
HELSINKI = (24.94, 60.17)

# (name, lon, lat) of WGS-84 points in major cities spread over China.
CITIES = [
    ("beijing", 116.3975, 39.9087),
    ("shanghai", 121.4737, 31.2304),
    ("guangzhou", 113.2644, 23.1291),
    ("chengdu", 104.0665, 30.5723),
    ("urumqi", 87.6168, 43.8256),
    ("harbin", 126.5350, 45.8038),
    ("haikou", 110.3312, 20.0311),
    ("lhasa", 91.1409, 29.6456),
]


def _dist(a: tuple[np.ndarray, np.ndarray], lon: float, lat: float) -> float:
    return float(haversine_m(a[0], a[1], lon, lat))


# ---------------------------------------------------------------------------
# Independent reference implementation (scalar, pure ``math``).
# The GCJ-02 series give metre offsets (east, north) on the Krasovsky 1940
# ellipsoid (a = 6378245 m, 1/f = 298.3); they are converted to degrees with
# the meridian radius M and the radius of the parallel N*cos(phi).
# ---------------------------------------------------------------------------
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_F = 1.0 / 298.3
_KRASOVSKY_E2 = _KRASOVSKY_F * (2.0 - _KRASOVSKY_F)


def _sine_sum(t: float, terms: list[tuple[float, float]]) -> float:
    """Sum of amplitude * sin(pi * t / period) over (amplitude, period) pairs."""
    return sum(amp * math.sin(math.pi * t / period) for amp, period in terms)


def _ref_wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    if not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271):
        return lon, lat
    u, v = lon - 105.0, lat - 35.0
    shared = _sine_sum(u, [(20.0, 1.0 / 6.0), (20.0, 0.5)])
    east_m = 300.0 + u + 2.0 * v + 0.1 * u * u + 0.1 * u * v + 0.1 * math.sqrt(abs(u)) + (2.0 / 3.0) * (
        shared + _sine_sum(u, [(20.0, 1.0), (40.0, 3.0), (150.0, 12.0), (300.0, 30.0)])
    )
    north_m = -100.0 + 2.0 * u + 3.0 * v + 0.2 * v * v + 0.1 * u * v + 0.2 * math.sqrt(abs(u)) + (2.0 / 3.0) * (
        shared + _sine_sum(v, [(20.0, 1.0), (40.0, 3.0), (160.0, 12.0), (320.0, 30.0)])
    )
    phi = math.radians(lat)
    s2 = 1.0 - _KRASOVSKY_E2 * math.sin(phi) ** 2
    m_radius = _KRASOVSKY_A * (1.0 - _KRASOVSKY_E2) / s2**1.5
    n_radius = _KRASOVSKY_A / math.sqrt(s2)
    return lon + math.degrees(east_m / (n_radius * math.cos(phi))), lat + math.degrees(north_m / m_radius)


def _brute_force_inverse(target_lon: float, target_lat: float) -> tuple[float, float]:
    """Solve _ref_wgs84_to_gcj02(p) == target by shrinking-grid search (no iteration formula)."""
    best, half = (target_lon, target_lat), 0.03
    steps = np.linspace(-1.0, 1.0, 21)
    while half > 1e-12:
        candidates = [(best[0] + dx * half, best[1] + dy * half) for dx in steps for dy in steps]
        best = min(
            candidates,
            key=lambda p: math.hypot(*(a - b for a, b in zip(_ref_wgs84_to_gcj02(*p), (target_lon, target_lat)))),
        )
        half /= 5.0
    return best


def _crude_gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """The widespread one-step inverse (wgs ~= 2*gcj - f(gcj)); NOT accurate enough for us."""
    glon, glat = _ref_wgs84_to_gcj02(lon, lat)
    return 2.0 * lon - glon, 2.0 * lat - glat


# ---------------------------------------------------------------------------
# Round trips (hypothesis)
# ---------------------------------------------------------------------------
@settings(deadline=None)
@given(CHINA_LON, CHINA_LAT)
def test_wgs_gcj_wgs_round_trip(lon: float, lat: float) -> None:
    assert _dist(gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)), lon, lat) < ROUND_TRIP_TOL_M


@settings(deadline=None)
@given(CHINA_LON, CHINA_LAT)
def test_gcj_wgs_gcj_round_trip(lon: float, lat: float) -> None:
    assert _dist(wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat)), lon, lat) < ROUND_TRIP_TOL_M


@settings(deadline=None)
@given(CHINA_LON, CHINA_LAT)
def test_gcj_bd_round_trips(lon: float, lat: float) -> None:
    assert _dist(bd09_to_gcj02(*gcj02_to_bd09(lon, lat)), lon, lat) < ROUND_TRIP_TOL_M
    assert _dist(gcj02_to_bd09(*bd09_to_gcj02(lon, lat)), lon, lat) < ROUND_TRIP_TOL_M
    # The brief's stricter degree-level requirement for bd09 -> gcj02 -> bd09.
    back = gcj02_to_bd09(*bd09_to_gcj02(lon, lat))
    assert abs(float(back[0]) - lon) < 1e-7 and abs(float(back[1]) - lat) < 1e-7


@settings(deadline=None)
@given(CHINA_LON, CHINA_LAT)
def test_wgs_bd_round_trips(lon: float, lat: float) -> None:
    assert _dist(bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), lon, lat) < ROUND_TRIP_TOL_M
    assert _dist(wgs84_to_bd09(*bd09_to_wgs84(lon, lat)), lon, lat) < ROUND_TRIP_TOL_M


@settings(deadline=None)
@given(st.sampled_from(SOURCE_CRS), CHINA_LON, CHINA_LAT)
def test_to_from_wgs84_round_trip(crs: str, lon: float, lat: float) -> None:
    assert _dist(to_wgs84(*from_wgs84(lon, lat, crs), crs), lon, lat) < ROUND_TRIP_TOL_M


# ---------------------------------------------------------------------------
# Sanity of the offset magnitude
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "lon", "lat"), CITIES)
def test_gcj_offset_in_cities_is_50_to_700_m(name: str, lon: float, lat: float) -> None:
    assert 50.0 < _dist(wgs84_to_gcj02(lon, lat), lon, lat) < 700.0, name


@given(CHINA_LON, CHINA_LAT)
def test_gcj_offset_magnitude_everywhere_in_china(lon: float, lat: float) -> None:
    # A dense grid over this box gives 17.6 m (Qinghai) to 712 m (far north-east);
    # >99.8 % of it lies in 50-700 m.  Bounds here are slightly wider than that.
    assert 10.0 < _dist(wgs84_to_gcj02(lon, lat), lon, lat) < 750.0


@pytest.mark.parametrize(
    ("lon", "lat"), [HELSINKI, (-74.006, 40.7128), (139.6917, 35.6895), (151.2093, -33.8688), (0.0, 0.0)]
)
def test_outside_china_is_identity(lon: float, lat: float) -> None:
    assert not in_china(lon, lat)
    for func in (wgs84_to_gcj02, gcj02_to_wgs84):
        out = func(lon, lat)
        assert (float(out[0]), float(out[1])) == (lon, lat)


def test_in_china_box() -> None:
    lon = np.array([116.4, 72.004, 137.8347, 72.0, 137.9, 100.0, 100.0, np.nan])
    lat = np.array([39.9, 0.8293, 55.8271, 30.0, 30.0, 0.8, 55.9, 30.0])
    assert in_china(lon, lat).tolist() == [True, True, True, False, False, False, False, False]


# ---------------------------------------------------------------------------
# Reference values
# ---------------------------------------------------------------------------
# WGS-84 -> GCJ-02 pairs from the test suite of googollee/eviltransform (a widely
# ported library), given there as (lat, lng); reordered to (lon, lat) here.
EVILTRANSFORM_PAIRS = [
    ("shanghai", (121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ("shenzhen", (113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ("beijing", (116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
]
# Tiananmen example (116.404, 39.915) from the README/test of wandergis/coordtransform.
TIANANMEN = (116.404, 39.915)
WANDERGIS_WGS_TO_GCJ = (116.41024449916938, 39.91640428150164)
WANDERGIS_GCJ_TO_BD = (116.41036949371029, 39.92133699351021)
WANDERGIS_BD_TO_GCJ_ONE_STEP = (116.39762729119315, 39.90865673957631)
WANDERGIS_GCJ_TO_WGS_ONE_STEP = (116.39775550083061, 39.91359571849836)


@pytest.mark.parametrize(("name", "wgs", "gcj"), EVILTRANSFORM_PAIRS)
def test_published_wgs_gcj_pairs(name: str, wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    out = wgs84_to_gcj02(*wgs)
    np.testing.assert_allclose([float(out[0]), float(out[1])], gcj, rtol=0, atol=1e-10, err_msg=name)
    back = gcj02_to_wgs84(*gcj)
    assert _dist(back, *wgs) < 0.001, name


def test_published_tiananmen_values() -> None:
    out = wgs84_to_gcj02(*TIANANMEN)
    np.testing.assert_allclose([float(out[0]), float(out[1])], WANDERGIS_WGS_TO_GCJ, rtol=0, atol=1e-10)
    out = gcj02_to_bd09(*TIANANMEN)
    np.testing.assert_allclose([float(out[0]), float(out[1])], WANDERGIS_GCJ_TO_BD, rtol=0, atol=1e-10)
    # The published inverses are one-step approximations (a few cm off); ours are
    # iterative, so they must be close to, but more exact than, the published ones.
    for ours, published, forward in (
        (bd09_to_gcj02(*TIANANMEN), WANDERGIS_BD_TO_GCJ_ONE_STEP, gcj02_to_bd09),
        (gcj02_to_wgs84(*TIANANMEN), WANDERGIS_GCJ_TO_WGS_ONE_STEP, wgs84_to_gcj02),
    ):
        assert _dist(ours, *published) < 0.5
        assert _dist(forward(*ours), *TIANANMEN) < 1e-4
        assert _dist(forward(*published), *TIANANMEN) > _dist(forward(*ours), *TIANANMEN)


def test_reference_ellipsoid_constant_matches_flattening() -> None:
    # The magic ee = 0.00669342162296594323 of GCJ-02 is e^2 of Krasovsky 1940 (1/f = 298.3).
    assert _KRASOVSKY_E2 == pytest.approx(0.00669342162296594323, rel=1e-15)


@settings(deadline=None)
@given(st.floats(min_value=70.0, max_value=140.0), st.floats(min_value=0.0, max_value=57.0))
def test_forward_matches_independent_scalar_derivation(lon: float, lat: float) -> None:
    out = wgs84_to_gcj02(lon, lat)
    ref = _ref_wgs84_to_gcj02(lon, lat)
    np.testing.assert_allclose([float(out[0]), float(out[1])], ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize(("name", "lon", "lat"), CITIES)
def test_inverse_matches_brute_force_search(name: str, lon: float, lat: float) -> None:
    expected = _brute_force_inverse(lon, lat)
    ours = gcj02_to_wgs84(lon, lat)
    assert abs(float(ours[0]) - expected[0]) < 1e-9, name
    assert abs(float(ours[1]) - expected[1]) < 1e-9, name
    # The crude one-step inverse is measurably worse (centimetres to decimetres).
    assert _dist(_crude_gcj02_to_wgs84(lon, lat), *expected) > 100 * max(_dist(ours, *expected), 1e-6)


@given(CHINA_LON, CHINA_LAT)
def test_bd09_shift_is_roughly_constant(lon: float, lat: float) -> None:
    blon, blat = gcj02_to_bd09(lon, lat)
    # Published rule of thumb: BD-09 ~= GCJ-02 + (0.0065, 0.006) degrees; the
    # rotation term (3e-6 rad * radius <= ~145 deg) bounds the deviation by ~4.6e-4.
    assert abs(float(blon) - lon - 0.0065) < 5e-4
    assert abs(float(blat) - lat - 0.006) < 5e-4


# ---------------------------------------------------------------------------
# Vectorisation, NaN, scalars
# ---------------------------------------------------------------------------
ALL_CONVERTERS = [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84]


@pytest.mark.parametrize("func", ALL_CONVERTERS, ids=lambda f: f.__name__)
def test_vectorised_10000_points(func) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(42)
    lon = rng.uniform(73.5, 134.7, size=(100, 100))
    lat = rng.uniform(18.0, 53.5, size=(100, 100))
    out_lon, out_lat = func(lon, lat)
    assert out_lon.shape == out_lat.shape == (100, 100)
    assert out_lon.dtype == out_lat.dtype == np.float64
    for i, j in rng.integers(0, 100, size=(25, 2)):
        one = func(float(lon[i, j]), float(lat[i, j]))
        assert abs(float(one[0]) - out_lon[i, j]) < 1e-8
        assert abs(float(one[1]) - out_lat[i, j]) < 1e-8


@pytest.mark.parametrize("func", ALL_CONVERTERS, ids=lambda f: f.__name__)
def test_nan_propagates_without_warnings(func) -> None:  # type: ignore[no-untyped-def]
    lon = np.array([116.4, np.nan, 121.5, np.nan])
    lat = np.array([39.9, 31.2, np.nan, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out_lon, out_lat = func(lon, lat)
        scalar = func(np.nan, 39.9)
    assert np.isfinite(out_lon[0]) and np.isfinite(out_lat[0])
    assert np.isnan(out_lon[1:]).all() and np.isnan(out_lat[1:]).all()
    assert np.isnan(scalar[0]) and np.isnan(scalar[1])
    expected = func(116.4, 39.9)
    assert (out_lon[0], out_lat[0]) == (float(expected[0]), float(expected[1]))


def test_nan_in_haversine_and_predicates_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(haversine_m(np.nan, 0.0, 1.0, 1.0))
        assert not in_china(np.nan, 30.0)
        assert not looks_swapped(np.nan, 120.0)
        assert not looks_swapped(np.nan, 120.0, bbox=(73.0, 18.0, 135.0, 54.0))


@pytest.mark.parametrize("func", ALL_CONVERTERS, ids=lambda f: f.__name__)
def test_scalar_and_broadcast_input(func) -> None:  # type: ignore[no-untyped-def]
    out_lon, out_lat = func(116.404, 39.915)
    assert isinstance(out_lon, np.ndarray) and out_lon.shape == () and out_lon.dtype == np.float64
    assert isinstance(out_lat, np.ndarray) and out_lat.shape == ()
    b_lon, b_lat = func([116.404, 116.404], 39.915)  # list + scalar broadcast
    assert b_lon.shape == b_lat.shape == (2,)
    assert b_lon[1] == float(out_lon) and b_lat[1] == float(out_lat)


def test_inputs_are_not_modified() -> None:
    lon, lat = np.array([116.4, 121.5]), np.array([39.9, 31.2])
    for func in ALL_CONVERTERS:
        func(lon, lat)
    assert lon.tolist() == [116.4, 121.5] and lat.tolist() == [39.9, 31.2]


# ---------------------------------------------------------------------------
# Haversine
# ---------------------------------------------------------------------------
def test_haversine_m() -> None:
    one_degree = 6371008.8 * math.pi / 180.0
    assert float(haversine_m(0.0, 0.0, 0.0, 1.0)) == pytest.approx(one_degree, rel=1e-12)
    assert float(haversine_m(0.0, 0.0, 1.0, 0.0)) == pytest.approx(one_degree, rel=1e-12)
    assert float(haversine_m(10.0, 60.0, 11.0, 60.0)) == pytest.approx(one_degree * 0.5, rel=1e-4)
    assert float(haversine_m(0.0, 90.0, 180.0, -90.0)) == pytest.approx(math.pi * 6371008.8, rel=1e-12)
    # Beijing - Shanghai is about 1068 km.
    assert 1.06e6 < float(haversine_m(116.4074, 39.9042, 121.4737, 31.2304)) < 1.075e6
    d = haversine_m(np.array([116.4, 121.5]), np.array([39.9, 31.2]), 116.4, 39.9)
    assert d.shape == (2,) and d[0] == 0.0 and d[1] > 0.0


# ---------------------------------------------------------------------------
# CRS names and dispatch
# ---------------------------------------------------------------------------
ALIASES = {
    "wgs84": ["wgs84", "WGS84", "wgs-84", "WGS-84", "epsg:4326", "EPSG:4326", "4326", "gps", "GPS", " wgs84 "],
    "cgcs2000": ["cgcs2000", "CGCS2000", "epsg:4490", "EPSG:4490", "4490", "国家2000", "2000"],
    "gcj02": ["gcj02", "GCJ02", "gcj-02", "GCJ-02", "amap", "AMap", "gaode", "Gaode", "高德", "tencent",
              "Tencent", "腾讯", "火星"],
    "bd09": ["bd09", "BD09", "bd-09", "BD-09", "baidu", "Baidu", "百度"],
}


@pytest.mark.parametrize(
    ("alias", "canonical"), [(a, c) for c, aliases in ALIASES.items() for a in aliases]
)
def test_normalise_crs_name_aliases(alias: str, canonical: str) -> None:
    assert normalise_crs_name(alias) == canonical


def test_source_crs_constant() -> None:
    assert SOURCE_CRS == ("wgs84", "cgcs2000", "gcj02", "bd09")


@pytest.mark.parametrize("bad", ["utm50n", "", "epsg:3857", "gcj", "bd-9", "wgs 84x"])
def test_unknown_crs_name_raises(bad: str) -> None:
    with pytest.raises(UnknownCrsError) as excinfo:
        normalise_crs_name(bad)
    assert isinstance(excinfo.value, ValueError)
    for allowed in SOURCE_CRS:
        assert allowed in str(excinfo.value)
    with pytest.raises(UnknownCrsError):
        to_wgs84(116.4, 39.9, bad)
    with pytest.raises(UnknownCrsError):
        from_wgs84(116.4, 39.9, bad)


def test_dispatch_matches_direct_functions() -> None:
    lon, lat = np.array([116.404, 87.6]), np.array([39.915, 43.8])
    pairs = {"gaode": (gcj02_to_wgs84, wgs84_to_gcj02), "百度": (bd09_to_wgs84, wgs84_to_bd09)}
    for name, (inv, fwd) in pairs.items():
        np.testing.assert_array_equal(to_wgs84(lon, lat, name), inv(lon, lat))
        np.testing.assert_array_equal(from_wgs84(lon, lat, name), fwd(lon, lat))
    for name in ("wgs84", "cgcs2000", "EPSG:4490"):
        np.testing.assert_array_equal(to_wgs84(lon, lat, name), (lon, lat))
        np.testing.assert_array_equal(from_wgs84(lon, lat, name), (lon, lat))


# ---------------------------------------------------------------------------
# looks_swapped
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (39.9, 116.4, True),     # Beijing given as (lat, lon)
        (116.4, 39.9, False),    # correct order
        (-33.9, 151.2, True),    # Sydney swapped
        (-45.0, -170.0, True),   # |lat| > 90, |lon| <= 90
        (120.0, 95.0, False),    # both > 90: invalid but not a plausible swap
        (95.0, 120.0, False),    # |lon| > 90 too
        (10.0, 20.0, False),     # ordinary point, no bbox
    ],
)
def test_looks_swapped_without_bbox(lon: float, lat: float, expected: bool) -> None:
    assert bool(looks_swapped(lon, lat)) is expected


EUROPE_BBOX = (20.0, 30.0, 40.0, 50.0)  # (min_lon, min_lat, max_lon, max_lat)


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (45.0, 25.0, True),    # outside; swapped (25, 45) inside
        (25.0, 45.0, False),   # inside
        (32.0, 38.0, False),   # inside, and swapped (38, 32) also inside: not flagged
        (60.0, 70.0, False),   # outside both ways
        (45.0, 55.0, False),   # outside; swapped (55, 45) still outside
        (20.0, 30.0, False),   # on the boundary counts as inside
        (50.0, 40.0, True),    # swapped lands on max corner edge
    ],
)
def test_looks_swapped_with_bbox(lon: float, lat: float, expected: bool) -> None:
    assert bool(looks_swapped(lon, lat, bbox=EUROPE_BBOX)) is expected


def test_looks_swapped_vectorised_china_bbox() -> None:
    lon = np.array([[116.4, 39.9], [31.2, 121.5]])
    lat = np.array([[39.9, 116.4], [121.5, 31.2]])
    out = looks_swapped(lon, lat, bbox=(73.0, 18.0, 135.0, 54.0))
    assert out.shape == (2, 2) and out.dtype == np.bool_
    assert out.tolist() == [[False, True], [True, False]]


def test_looks_swapped_bbox_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        looks_swapped(45.0, 25.0, EUROPE_BBOX)  # type: ignore[misc]


@settings(max_examples=40, deadline=None)
@given(lon=st.floats(-179.5, 179.5), lat=st.floats(-79.0, 55.0))
def test_utm_zone_equals_geopandas_estimate(lon: float, lat: float) -> None:
    import geopandas as gpd
    import shapely

    from geo.coords import utm_epsg

    offset = (lon + 180.0) % 6.0
    assume(0.01 < offset < 5.99 and abs(lat) > 0.01)  # on a zone border or the equator either zone is right
    box = gpd.GeoSeries([shapely.Point(lon, lat).buffer(0.005)], crs=4326)
    assert utm_epsg(lon, lat) == box.estimate_utm_crs().to_epsg()
