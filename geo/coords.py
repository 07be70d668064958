"""Conversions between WGS-84, CGCS2000, GCJ-02 (Amap/Tencent) and BD-09 (Baidu).

CGCS2000 agrees with WGS-84 within centimetres and is treated as identical.
GCJ-02 is a public deterministic forward formula (Krasovsky 1940 ellipsoid)
without closed-form inverse; BD-09 is Baidu's extra obfuscation on top of it.

Conventions: all functions use **(lon, lat) order** in decimal degrees.  Inputs
(scalars or array-likes) are broadcast together; outputs are float64
:class:`numpy.ndarray` of the broadcast shape, 0-d for scalar inputs (unwrap
with ``float()``).  A NaN in either coordinate makes both outputs NaN, silently.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np
import numpy.typing as npt

from geo.errors import UnknownCrsError

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
LonLat = tuple[FloatArray, FloatArray]
Converter = Callable[[npt.ArrayLike, npt.ArrayLike], LonLat]

SOURCE_CRS: tuple[str, ...] = ("wgs84", "cgcs2000", "gcj02", "bd09")

_ALIASES: dict[str, str] = {
    **dict.fromkeys(("wgs84", "wgs-84", "epsg:4326", "4326", "gps"), "wgs84"),
    **dict.fromkeys(("cgcs2000", "epsg:4490", "4490", "国家2000", "2000"), "cgcs2000"),
    **dict.fromkeys(("gcj02", "gcj-02", "amap", "gaode", "高德", "tencent", "腾讯", "火星"), "gcj02"),
    **dict.fromkeys(("bd09", "bd-09", "baidu", "百度"), "bd09"),
}

# GCJ-02: Krasovsky 1940 semi-major axis (m) and first eccentricity squared.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
# Rough bounding box (degrees) inside which GCJ-02 differs from WGS-84.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
# BD-09: angular scale (rad per degree) and false-origin shift (degrees).
_BD_X_PI = math.pi * 3000.0 / 180.0
_BD_DLON, _BD_DLAT = 0.0065, 0.006
_EARTH_RADIUS_M = 6371008.8  # IUGG mean Earth radius
# Inverse iterations stop once the largest update (degrees) is below these.
_GCJ_TOL_DEG = 1e-9
_BD_TOL_DEG = 1e-10
_MAX_ITER = 30


def normalise_crs_name(name: str) -> str:
    """Map a case-insensitive name or alias (``"EPSG:4326"``, ``"gaode"``, ``"百度"``...)
    to one of :data:`SOURCE_CRS`.

    Raises
    ------
    UnknownCrsError
        If the name is not a known alias.
    """
    key = str(name).strip().casefold().replace(" ", "")
    try:
        return _ALIASES[key]
    except KeyError:
        raise UnknownCrsError(
            f"未知的坐标系“{name}”。可用：wgs84（GPS/OSM）、cgcs2000（国家2000）、gcj02（高德/腾讯）、bd09（百度）",
            f"Unknown coordinate system {name!r}; allowed values are "
            f"{', '.join(SOURCE_CRS)} (or one of their aliases).",
        ) from None


def _as_lonlat(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Broadcast inputs to float64 array copies; a NaN in either coordinate blanks both."""
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    x, y = x.copy(), y.copy()
    bad = np.isnan(x) | np.isnan(y)
    x[bad] = np.nan
    y[bad] = np.nan
    return x, y


def _max_finite(values: FloatArray) -> float:
    """Largest finite entry of ``values`` (0.0 if there is none)."""
    return float(np.max(values, initial=0.0, where=np.isfinite(values)))


def in_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray:
    """Rough bounding-box test for where GCJ-02 is applied (degrees in).

    Returns
    -------
    numpy.ndarray of bool
        True inside lon 72.004–137.8347, lat 0.8293–55.8271; False for NaN.
    """
    x, y = _as_lonlat(lon, lat)
    return (x >= _CHINA_LON[0]) & (x <= _CHINA_LON[1]) & (y >= _CHINA_LAT[0]) & (y <= _CHINA_LAT[1])


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> LonLat:
    """GCJ-02 minus WGS-84 (degrees) at WGS-84 ``(lon, lat)``; zero outside China."""
    x, y = lon - 105.0, lat - 35.0
    with np.errstate(invalid="ignore"):
        waves = (20.0 * np.sin(6.0 * math.pi * x) + 20.0 * np.sin(2.0 * math.pi * x)) * 2.0 / 3.0
        north = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
                 + waves
                 + (20.0 * np.sin(math.pi * y) + 40.0 * np.sin(math.pi * y / 3.0)) * 2.0 / 3.0
                 + (160.0 * np.sin(math.pi * y / 12.0) + 320.0 * np.sin(math.pi * y / 30.0)) * 2.0 / 3.0)
        east = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
                + waves
                + (20.0 * np.sin(math.pi * x) + 40.0 * np.sin(math.pi * x / 3.0)) * 2.0 / 3.0
                + (150.0 * np.sin(math.pi * x / 12.0) + 300.0 * np.sin(math.pi * x / 30.0)) * 2.0 / 3.0)
        # The two series are metres along the meridian / parallel of the ellipsoid.
        phi = np.radians(lat)
        w = 1.0 - _KRASOVSKY_EE * np.sin(phi) ** 2
        meridian_r = _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (w * np.sqrt(w))
        parallel_r = _KRASOVSKY_A / np.sqrt(w) * np.cos(phi)
        dlon, dlat = np.degrees(east / parallel_r), np.degrees(north / meridian_r)
    inside = in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _invert(forward: Converter, x0: FloatArray, y0: FloatArray,
            tx: FloatArray, ty: FloatArray, tol: float, label: str) -> LonLat:
    """Solve ``forward(x, y) == (tx, ty)`` by fixed-point iteration from ``(x0, y0)``.

    Converges because both forward maps are the identity plus a small, slowly
    varying perturbation (Jacobian close to the unit matrix).
    """
    x, y = x0.copy(), y0.copy()
    change = math.inf
    for iteration in range(1, _MAX_ITER + 1):
        fx, fy = forward(x, y)
        ex, ey = fx - tx, fy - ty
        x -= ex
        y -= ey
        change = max(_max_finite(np.abs(ex)), _max_finite(np.abs(ey)))
        if change < tol:
            logger.debug("%s converged after %d iterations", label, iteration)
            return x, y
    logger.warning("%s did not converge in %d iterations (last change %.3g deg)", label, _MAX_ITER, change)
    return x, y


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert WGS-84 ``(lon, lat)`` degrees to GCJ-02 ``(lon, lat)`` degrees.

    Identity outside :func:`in_china`.
    """
    x, y = _as_lonlat(lon, lat)
    dlon, dlat = _gcj_offset(x, y)
    x += dlon
    y += dlat
    return x, y


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert GCJ-02 ``(lon, lat)`` degrees to WGS-84 ``(lon, lat)`` degrees.

    Inverts the forward formula by fixed-point iteration until the update is
    below 1e-9 degrees (~0.1 mm) or 30 iterations; round trips agree to well
    under a millimetre (the usual one-step inverse is off by ~0.7 m, up to ~5 m).
    """
    gx, gy = _as_lonlat(lon, lat)
    return _invert(wgs84_to_gcj02, gx, gy, gx, gy, _GCJ_TOL_DEG, "gcj02_to_wgs84")


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert GCJ-02 ``(lon, lat)`` degrees to BD-09 ``(lon, lat)`` degrees.

    Applied everywhere, not only inside China.
    """
    x, y = _as_lonlat(lon, lat)
    with np.errstate(invalid="ignore"):
        radius = np.hypot(x, y) + 0.00002 * np.sin(y * _BD_X_PI)
        theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
        bx, by = radius * np.cos(theta) + _BD_DLON, radius * np.sin(theta) + _BD_DLAT
    return np.asarray(bx, dtype=np.float64), np.asarray(by, dtype=np.float64)


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert BD-09 ``(lon, lat)`` degrees to GCJ-02 ``(lon, lat)`` degrees.

    Starts from the usual approximate closed-form inverse (off by up to ~2e-6 deg),
    then iterates until converting back reproduces the input to ~1e-10 deg.
    """
    bx, by = _as_lonlat(lon, lat)
    x, y = bx - _BD_DLON, by - _BD_DLAT
    with np.errstate(invalid="ignore"):
        radius = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
        theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
        x0, y0 = np.asarray(radius * np.cos(theta)), np.asarray(radius * np.sin(theta))
    return _invert(gcj02_to_bd09, x0, y0, bx, by, _BD_TOL_DEG, "bd09_to_gcj02")


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert WGS-84 to BD-09 via GCJ-02; ``(lon, lat)`` degrees in and out."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert BD-09 to WGS-84 via GCJ-02; ``(lon, lat)`` degrees in and out."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84: dict[str, Converter] = {
    "wgs84": _as_lonlat, "cgcs2000": _as_lonlat, "gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84,
}
_FROM_WGS84: dict[str, Converter] = {
    "wgs84": _as_lonlat, "cgcs2000": _as_lonlat, "gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09,
}


def to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, source: str) -> LonLat:
    """Convert ``(lon, lat)`` degrees from ``source`` to WGS-84.

    ``source`` is any name accepted by :func:`normalise_crs_name`.  CGCS2000
    is returned unchanged: it agrees with WGS-84 within a few centimetres.
    Returns WGS-84 ``(lon, lat)`` float64 arrays in degrees.
    """
    return _TO_WGS84[normalise_crs_name(source)](lon, lat)


def from_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, target: str) -> LonLat:
    """Convert WGS-84 ``(lon, lat)`` degrees to ``target`` (e.g. GCJ-02 for Amap tiles).

    ``target`` is any name accepted by :func:`normalise_crs_name`; CGCS2000 is
    treated as WGS-84.  Returns ``(lon, lat)`` float64 arrays in degrees.
    """
    return _FROM_WGS84[normalise_crs_name(target)](lon, lat)


def haversine_m(lon1: npt.ArrayLike, lat1: npt.ArrayLike,
                lon2: npt.ArrayLike, lat2: npt.ArrayLike) -> FloatArray:
    """Great-circle distance in metres (sphere of radius 6 371 008.8 m).

    Parameters
    ----------
    lon1, lat1, lon2, lat2 : array_like
        Coordinates of the two points in degrees; broadcast together.
    """
    x1, y1, x2, y2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lon1, lat1, lon2, lat2))
    with np.errstate(invalid="ignore"):
        h = np.sin((y2 - y1) / 2.0) ** 2 + np.cos(y1) * np.cos(y2) * np.sin((x2 - x1) / 2.0) ** 2
        return np.asarray(2.0 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def looks_swapped(lon: npt.ArrayLike, lat: npt.ArrayLike, *,
                  bbox: tuple[float, float, float, float] | None = None) -> BoolArray:
    """Flag points whose longitude and latitude were plausibly swapped.

    Parameters
    ----------
    lon, lat : array_like
        Longitude and latitude as given, in degrees.
    bbox : tuple of float, optional
        Expected area ``(min_lon, min_lat, max_lon, max_lat)`` in degrees.  If
        given, a point is also flagged when it is outside the box but
        ``(lat, lon)`` is inside it.

    Returns
    -------
    numpy.ndarray of bool
        True where ``|lat| > 90`` and ``|lon| <= 90``, or by the bbox rule.
        NaN gives False.
    """
    x, y = _as_lonlat(lon, lat)
    flagged = (np.abs(y) > 90.0) & (np.abs(x) <= 90.0)
    if bbox is not None:
        min_lon, min_lat, max_lon, max_lat = bbox

        def inside(px: FloatArray, py: FloatArray) -> BoolArray:
            return (px >= min_lon) & (px <= max_lon) & (py >= min_lat) & (py <= max_lat)

        flagged |= ~inside(x, y) & inside(y, x)
    return flagged


CHINA_EXTENT: tuple[float, float, float, float] = (73.0, 3.0, 136.0, 54.0)
"""Rough bounding box of China ``(min_lon, min_lat, max_lon, max_lat)`` in degrees: where a swap lands
when no region is given."""
_CLUSTER_RADIUS_DEG = 5.0
_CLUSTER_PAD_DEG = 0.5


def swapped_into_data_extent(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray:
    """Flag points whose swapped ``(lat, lon)`` falls where most of the data lies.

    The data's own extent: the points within 5° of the median position, when they are more than
    half of the points with a position, padded by 0.5°. A point outside that extent whose
    swapped coordinates fall inside it is flagged. With no such majority nothing is flagged.

    Parameters
    ----------
    lon, lat : array_like
        Longitude and latitude as given, in degrees; NaN gives False.
    """
    x, y = _as_lonlat(lon, lat)
    has = np.isfinite(x) & np.isfinite(y)
    flagged = np.zeros(x.shape, dtype=bool)
    if has.sum() < 3:
        return flagged
    mx, my = float(np.median(x[has])), float(np.median(y[has]))
    with np.errstate(invalid="ignore"):
        near = has & (np.abs(x - mx) <= _CLUSTER_RADIUS_DEG) & (np.abs(y - my) <= _CLUSTER_RADIUS_DEG)
    if 2 * near.sum() <= has.sum():
        return flagged
    box = (float(x[near].min()) - _CLUSTER_PAD_DEG, float(y[near].min()) - _CLUSTER_PAD_DEG,
           float(x[near].max()) + _CLUSTER_PAD_DEG, float(y[near].max()) + _CLUSTER_PAD_DEG)
    return looks_swapped(x, y, bbox=box) & ~near & has


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone holding (lon, lat): 326zz north of the equator, 327zz south.

    The plain 6° zones (China spans zones 43–53); the Norway and Svalbard exceptions are not applied,
    which only shifts the working CRS by one zone there — still metric and accurate to well under 0.1 %.
    """
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"not a longitude/latitude: ({lon}, {lat})")
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


Extent = tuple[float, float, float, float]
"""``(min_lon, min_lat, max_lon, max_lat)`` in degrees."""
M_PER_DEG_LAT = 111_320.0


def outside_extent(lon: npt.ArrayLike, lat: npt.ArrayLike, extent: Extent, margin_m: float) -> BoolArray:
    """Points (degrees) farther than ``margin_m`` metres outside ``extent`` — the one "outside the region"
    rule of imports, change lists and the scenario editor. Non-finite coordinates are not outside (the
    caller reports missing positions itself)."""
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    minx, miny, maxx, maxy = extent
    margin_lat = margin_m / M_PER_DEG_LAT
    margin_lon = margin_lat / max(np.cos(np.radians((miny + maxy) / 2)), 0.01)
    with np.errstate(invalid="ignore"):
        return ((lon < minx - margin_lon) | (lon > maxx + margin_lon)
                | (lat < miny - margin_lat) | (lat > maxy + margin_lat))
