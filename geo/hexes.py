"""Every call to the h3 library lives here (``h3>=4,<5``).

h3 wants (lat, lon); the rest of ElderMap uses (lon, lat). The conversion
happens only inside this module.
"""

from __future__ import annotations

import h3
import numpy as np
import shapely

H3_MAJOR = 4
if not h3.__version__.startswith(f"{H3_MAJOR}."):  # pragma: no cover - guarded by the pin
    raise ImportError(f"ElderMap needs h3 {H3_MAJOR}.x, found {h3.__version__}")


def cells_for_points(lon: np.ndarray, lat: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cell ids (strings) of points given in WGS-84 (lon, lat) degrees.

    Missing coordinates (NaN) give ``None``.
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    out = np.full(lon.shape, None, dtype=object)
    ok = ~(np.isnan(lon) | np.isnan(lat))
    to_cell = h3.latlng_to_cell  # h3 4.x has no vector call: one C call per point, Python floats in
    flat = out.reshape(-1)
    flat[ok.reshape(-1)] = [to_cell(y, x, resolution) for y, x in zip(lat[ok].tolist(), lon[ok].tolist(), strict=True)]
    return out


def cell_polygon(cell: str) -> shapely.Polygon:
    """Boundary of a cell as a shapely Polygon in (lon, lat) order."""
    return shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])


def cell_centre(cell: str) -> tuple[float, float]:
    """Centre of a cell as (lon, lat)."""
    lat, lng = h3.cell_to_latlng(cell)
    return lng, lat


def cells_in_polygon(polygon: shapely.Polygon | shapely.MultiPolygon, resolution: int) -> list[str]:
    """Cells whose centres lie inside a (lon, lat) polygon."""
    return list(h3.geo_to_cells(polygon, resolution))


def parent(cell: str, resolution: int) -> str:
    """The ancestor of ``cell`` at a coarser resolution."""
    return h3.cell_to_parent(cell, resolution)


def is_valid(cell: str) -> bool:
    """Whether a string is a valid H3 cell id."""
    return bool(h3.is_valid_cell(cell))


def resolution_of(cell: str) -> int:
    """Resolution of a cell."""
    return int(h3.get_resolution(cell))


def disk(cell: str, ring: int) -> list[str]:
    """The cell and every cell within ``ring`` steps of it."""
    return list(h3.grid_disk(cell, ring))
