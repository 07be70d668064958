"""The working CRS policy: EPSG:4326 at the edges, one projected CRS for metric work.

Every module that measures in metres (network lengths and snapping, validation distances, the
demo builder, the gazetteer's nearest-street search) gets its CRS from :func:`working_crs`:
the configured ``settings.working_crs``, else the WGS 84 / UTM zone of the data's centre
(:func:`geo.coords.utm_epsg`; geopandas' ``estimate_utm_crs`` asks the PROJ database and costs
about 70 ms). Transformers are made once per (source, target) pair by :func:`transformer`
(PROJ's operation search costs about 20 ms each).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import pyproj

from geo.coords import utm_epsg
from geo.errors import NoCrsError

if TYPE_CHECKING:
    import geopandas as gpd

    from geo.settings import Settings


@lru_cache(maxsize=32)
def _cached_transformer(source: pyproj.CRS, target: pyproj.CRS) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def transformer(source: object, target: object) -> pyproj.Transformer:
    """An (x, y)-ordered transformer between two CRSs, reused across calls."""
    return _cached_transformer(pyproj.CRS.from_user_input(source), pyproj.CRS.from_user_input(target))


def working_crs_at(lon: float, lat: float, settings: Settings | None = None) -> pyproj.CRS:
    """The working CRS around a WGS-84 point: ``settings.working_crs`` if set, else its UTM zone."""
    if settings is not None and settings.working_crs:
        return pyproj.CRS.from_user_input(settings.working_crs)
    return pyproj.CRS.from_epsg(utm_epsg(float(lon), float(lat)))


def working_crs(frame: gpd.GeoDataFrame | gpd.GeoSeries, settings: Settings | None = None, *,
                what_zh: str = "数据", what_en: str = "data") -> pyproj.CRS:
    """The projected CRS for metric work on ``frame``: ``settings.working_crs`` if set, else the UTM zone
    of the centre of the frame's extent.

    Raises :class:`geo.errors.NoCrsError` (naming ``what_zh`` / ``what_en``) when the frame has no CRS.
    """
    if frame.crs is None:
        raise NoCrsError(f"{what_zh}没有坐标系信息", f"{what_en} has no CRS")
    if settings is not None and settings.working_crs:
        return pyproj.CRS.from_user_input(settings.working_crs)
    west, south, east, north = frame.total_bounds
    x, y = (west + east) / 2, (south + north) / 2
    source = pyproj.CRS.from_user_input(frame.crs)
    if not source.is_geographic or source.to_epsg() != 4326:
        x, y = transformer(source, 4326).transform(x, y)
    return working_crs_at(float(x), float(y))


__all__ = ["transformer", "working_crs", "working_crs_at"]
