"""Areas: levels, codes, grouping, sums per area with a total row, names and percentages.

One home for the area logic every table needs — coverage, gaps, checks, the annex-2 report,
the app's community summary:

- levels and codes: :data:`LEVEL_COLUMN` (which column of a point layer holds the code of a
  level), :data:`CODE_LENGTH` (6/9/12 digits), :func:`level_of` (an area's level, from its
  ``level`` column or its code length), :func:`ancestor` (the street or district a community
  belongs to);
- grouping: :func:`area_codes` (a code per record, :data:`geo.labels.UNASSIGNED` where none),
  :func:`area_groups` (an index per record into sorted codes), :func:`point_cells` (H3 cells);
- tables: :func:`sum_by_area` and :func:`sums_over` (column sums per area and the region total
  last, code :data:`geo.labels.TOTAL_CODE`), :func:`area_list` (the areas of a level: listed
  ones and any found on records, "未归属" last), :func:`area_names`, :func:`pct`, :func:`ratio`.

Functions take and return plain frames and arrays and never mutate their inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.labels import TOTAL_CODE, TOTAL_NAME, UNASSIGNED

AreaLevel = Literal["community", "street", "district", "h3"]
"""Levels a per-area table can be computed at (H3 cells included)."""
LEVEL_COLUMN: dict[str, str] = {"community": "community_code", "street": "street_code",
                                "district": "district_code", "h3": "h3"}
"""Column of a point layer (elders, facilities) holding its code at each level."""
CODE_LENGTH: dict[str, int] = {"district": 6, "street": 9, "community": 12}
"""Digits of an administrative division code at each level."""
LEVEL_OF_LENGTH: dict[int, str] = {n: level for level, n in CODE_LENGTH.items()}


def level_of(areas: pd.DataFrame) -> pd.Series:
    """Each area's level: its ``level`` column, else guessed from the code length (6/9/12 digits)."""
    codes = areas["code"].astype(str)
    guessed = codes.str.len().map(LEVEL_OF_LENGTH)
    if "level" in areas:
        return areas["level"].where(areas["level"].notna(), guessed).astype(object)
    return guessed.astype(object)


def ancestor(code: str, by: str, parent: Mapping[str, str], level: Mapping[str, str]) -> str:
    """The area at level ``by`` that area ``code`` belongs to: up its ``parent_code`` chain, else the
    first 6/9 digits of its code."""
    seen: set[str] = set()
    current: str | None = parent.get(code)
    while current and current not in seen:
        if level.get(current) == by:
            return current
        seen.add(current)
        current = parent.get(current)
    return code[:CODE_LENGTH[by]]


def point_cells(points: gpd.GeoDataFrame, resolution: int = 9) -> pd.Series:
    """H3 cell of each point: the stored ``h3`` column (set on import), else computed at ``resolution``."""
    if "h3" in points:
        return points["h3"]
    from geo import hexes

    located = points.geometry.notna() & ~points.geometry.is_empty
    cells = pd.Series([None] * len(points), index=points.index, dtype=object)
    if located.any():
        pts = points.geometry[located].to_crs("EPSG:4326")
        cells[located.to_numpy()] = hexes.cells_for_points(pts.x.to_numpy(), pts.y.to_numpy(), resolution)
    return cells


def area_codes(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A code column as an object array of strings, :data:`UNASSIGNED` where missing or empty (all of it
    without the column)."""
    if column not in frame:
        return np.full(len(frame), UNASSIGNED, dtype=object)
    codes = frame[column].astype(object)
    return codes.where(codes.notna() & (codes.astype(str) != ""), UNASSIGNED).astype(str).to_numpy(dtype=object)


def area_groups(points: gpd.GeoDataFrame, by: AreaLevel) -> tuple[np.ndarray, np.ndarray]:
    """Each record's area index at level ``by`` and the sorted area codes; records with no code (all of
    them when the layer has no column for that level) are in a last area, :data:`UNASSIGNED`."""
    if by == "h3":
        column = point_cells(points)
    elif LEVEL_COLUMN[by] in points:
        column = points[LEVEL_COLUMN[by]]
    else:
        column = pd.Series([None] * len(points), index=points.index, dtype=object)
    group, codes = column.factorize(sort=True)
    codes = np.asarray(codes, dtype=object)
    if (group < 0).any():
        group = np.where(group < 0, len(codes), group)
        codes = np.append(codes, UNASSIGNED)
    return group, codes


def area_key(points: gpd.GeoDataFrame, by: AreaLevel) -> np.ndarray:
    """Each record's area code at level ``by``; :data:`UNASSIGNED` where it has none."""
    group, codes = area_groups(points, by)
    return codes[group]


def sum_by_area(group: np.ndarray, codes: np.ndarray, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Column sums per area (``group`` indexes ``codes``), with the region total (:data:`TOTAL_CODE`) last.

    Integer and boolean columns give integer sums; others float sums.
    """
    sums: dict[str, object] = {"code": [*codes, TOTAL_CODE]}
    for name, values in columns.items():
        values = np.asarray(values)
        column = np.append(np.bincount(group, weights=values, minlength=len(codes)), values.sum())
        sums[name] = column.round().astype(np.int64) if values.dtype.kind in "iub" else column
    return pd.DataFrame(sums)


def sums_over(codes: list[str], keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sums of ``values`` per area of ``codes`` (``keys`` gives each value's area code; every key must be
    in ``codes``), with the total of those sums appended."""
    index = {code: i for i, code in enumerate(codes)}
    values = np.asarray(values, dtype="float64")
    sums = (np.bincount([index[k] for k in keys], weights=values, minlength=len(codes)) if len(keys)
            else np.zeros(len(codes)))
    return np.append(sums, sums.sum())


def area_list(areas: pd.DataFrame | None, by: str, *found: Iterable[str]) -> list[str]:
    """Sorted codes of the areas at level ``by``: those listed in ``areas`` and any in ``found``;
    :data:`UNASSIGNED` last when found."""
    listed: set[str] = set()
    if areas is not None and len(areas) and "code" in areas:
        codes = areas["code"].astype(str)
        listed = set(codes[(level_of(areas) == by).to_numpy()])
    every = listed.union(*[set(f) for f in found])
    return sorted(every - {UNASSIGNED}) + ([UNASSIGNED] if UNASSIGNED in every else [])


def area_names(codes: Iterable[str], areas: pd.DataFrame | None, *, unassigned: str = "") -> list[str]:
    """Area name of each code from the areas layer; the total row is :data:`TOTAL_NAME`, the unassigned
    row ``unassigned``, an unknown code ""."""
    names = {} if areas is None or areas.empty else dict(zip(areas["code"], areas["name"], strict=False))
    special = {TOTAL_CODE: TOTAL_NAME, UNASSIGNED: unassigned}
    return [names.get(c, special.get(c, "")) for c in codes]


def pct(part: pd.Series, whole: pd.Series, *, decimals: int = 2) -> pd.Series:
    """``100 × part / whole`` rounded, NaN where ``whole`` is 0."""
    return (100.0 * part / whole.where(whole > 0)).round(decimals)


def ratio(part: pd.Series | np.ndarray, whole: pd.Series | np.ndarray, scale: float) -> pd.Series:
    """``scale × part / whole`` (index reset), NaN where ``whole`` is 0 (never a division-by-zero warning)."""
    whole = pd.Series(whole, dtype="float64").reset_index(drop=True)
    return scale * pd.Series(part, dtype="float64").reset_index(drop=True) / whole.where(whole > 0)


def is_area_row(codes: pd.Series) -> pd.Series:
    """True for the rows of real areas: not the total row, not the unassigned row."""
    return ~codes.isin([TOTAL_CODE, UNASSIGNED])


RESIDENTS_COMMITTEE = "居委会"
VILLAGE_COMMITTEE = "村委会"
UNKNOWN_COMMUNITY_TYPE = "未知"
"""Community types returned by :func:`community_types` (the first two as in ``areas.community_type``)."""
RESIDENTS_CODE_SUFFIX = range(1, 200)
VILLAGE_CODE_SUFFIX = range(200, 400)
"""The statistical rule on the last three digits of a 12-digit code (统计用区划代码): 001–199 居委会,
200–399 村委会."""


def community_types(areas: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each area's community type (annex 2 note 6 counts 居委会) and the rule that gave it.

    The ``community_type`` column when it holds 居委会 or 村委会; else the statistical rule on the last
    three digits of a 12-digit code (001–199 居委会, 200–399 村委会); else unknown.

    Parameters
    ----------
    areas
        Areas (any levels; callers keep the community rows), with ``code`` and optionally
        ``community_type``.

    Returns
    -------
    ``(types, rules)``, two Series on ``areas``' index: types "居委会", "村委会" or "未知"
    (:data:`UNKNOWN_COMMUNITY_TYPE`); rules "column" (the type column), "code" (the code rule) or
    "unknown" (neither).
    """
    index = areas.index
    types = pd.Series(UNKNOWN_COMMUNITY_TYPE, index=index, dtype=object)
    rules = pd.Series("unknown", index=index, dtype=object)
    if not len(areas):
        return types, rules
    codes = areas["code"].astype(str).str.strip() if "code" in areas else pd.Series("", index=index)
    twelve = codes.str.fullmatch(r"\d{12}").fillna(False).to_numpy(dtype=bool)
    suffix = np.where(twelve, pd.to_numeric(codes.str[-3:], errors="coerce").fillna(-1).to_numpy(), -1)
    residents = twelve & (suffix >= RESIDENTS_CODE_SUFFIX.start) & (suffix < RESIDENTS_CODE_SUFFIX.stop)
    villages = twelve & (suffix >= VILLAGE_CODE_SUFFIX.start) & (suffix < VILLAGE_CODE_SUFFIX.stop)
    types[residents], rules[residents] = RESIDENTS_COMMITTEE, "code"
    types[villages], rules[villages] = VILLAGE_COMMITTEE, "code"
    if "community_type" in areas:
        given = areas["community_type"].astype(object).where(areas["community_type"].notna(), None)
        stated = given.isin([RESIDENTS_COMMITTEE, VILLAGE_COMMITTEE]).to_numpy(dtype=bool)
        types[stated] = given[stated].to_numpy()
        rules[stated] = "column"
    return types, rules


__all__ = ["AreaLevel", "CODE_LENGTH", "LEVEL_COLUMN", "RESIDENTS_COMMITTEE", "UNKNOWN_COMMUNITY_TYPE",
           "VILLAGE_COMMITTEE", "ancestor", "area_codes", "area_groups", "area_key", "area_list", "area_names",
           "community_types", "is_area_row", "level_of", "pct", "point_cells", "ratio", "sum_by_area", "sums_over"]
