"""Every call to the h3 library lives here (``h3>=4,<5``).

h3 wants (lat, lon); the rest of ElderMap uses (lon, lat). The conversion
happens only inside this module.
"""

from __future__ import annotations

import itertools

import h3
import numpy as np
import pyarrow as pa
import shapely
from h3.api import basic_int as h3_int

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
    flat = out.reshape(-1)
    flat[ok.reshape(-1)] = cell_texts_for_points(lon[ok], lat[ok], resolution).to_numpy(zero_copy_only=False)
    return out


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_CELL_NIBBLES = np.arange(56, -1, -4, dtype=np.uint64)
"""The 15 hexadecimal digits of a cell id, most significant first (a cell's bit 63 is 0 and bits 62-59 its mode,
1: the text h3 writes has 15 digits at every resolution)."""


def cell_texts_for_points(lon: np.ndarray, lat: np.ndarray, resolution: int) -> pa.LargeStringArray:
    """:func:`cells_for_points` of 1-d arrays as an Arrow string array (null where a coordinate is NaN): one C
    call per point through h3's integer API (h3 4.x has no vector call), the ids written as h3 writes them
    (lower-case hexadecimal, no padding) for all points at once."""
    lon = np.asarray(lon, dtype="float64").reshape(-1)
    lat = np.asarray(lat, dtype="float64").reshape(-1)
    ok = ~(np.isnan(lon) | np.isnan(lat))
    ints = np.fromiter(map(h3_int.latlng_to_cell, lat[ok].tolist(), lon[ok].tolist(),
                           itertools.repeat(resolution)), dtype=np.uint64, count=int(ok.sum()))
    digits = _HEX_DIGITS[((ints[:, None] >> _CELL_NIBBLES) & np.uint64(15)).astype(np.intp)]
    offsets = np.zeros(len(lon) + 1, dtype=np.int64)
    np.cumsum(np.where(ok, len(_CELL_NIBBLES), 0), out=offsets[1:])
    valid = None if ok.all() else pa.array(ok, type=pa.bool_()).buffers()[1]
    return pa.LargeStringArray.from_buffers(len(lon), pa.py_buffer(offsets), pa.py_buffer(digits.tobytes()),
                                            valid, len(lon) - int(ok.sum()))


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
