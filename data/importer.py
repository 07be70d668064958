"""Build or update a region from the files staff bring.

:func:`import_region` is a function of (region name, inputs, settings): it
loads roads, validates each table file (:func:`data.validate.validate_table`),
merges an areas file into the existing areas (:func:`merge_areas`: only the
levels in the file are replaced) and completes the hierarchy, assigns points
to areas (:func:`assign_areas`), writes one validation report per file, and
saves a new region version atomically (:func:`data.store.save_region`). Layers
not given are carried over from the current version, so ``--facilities
new.xlsx`` alone updates just the facilities.

Area assignment (:func:`assign_areas`) follows one precedence, per level:
**recorded code > name > position**. A code the file gives (区县/街道/社区代码,
or a 行政区划代码 split by length) is kept; a name column (所属区县/所属街道/所属社区,
which may also hold a code) is matched to the region's areas, coarse to fine,
each within the area found above it (:class:`geo.area_match.AreaIndex`); the
position fills what is still missing from the finest polygons containing the
point (community, else street, else district). Parent codes follow from the
code hierarchy. Disagreements between the three are row-level warnings naming
both values; unmatched names are warnings with the value. Every import states,
per point table and level, how many records got their area from which source
and how many have none, and why (:class:`AreaAssignment`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data import store
from data.schema import HOME_CARE_TABLES, TABLE_ZH
from data.validate import (
    ERROR,
    PROBLEM_COLUMNS,
    WARNING,
    ValidationResult,
    ValidationStream,
    mislabel_warnings,
    stream_workers,
    validate_stream,
    validate_table,
    write_report,
)
from geo import osm
from geo.area_match import LEVEL_SHORT_ZH, LEVELS, AreaIndex, AreaMatch
from geo.areas import LEVEL_COLUMN, level_of
from geo.errors import InputFileError, RoadNetworkError
from geo.labels import AREA_LEVEL_ZH, LAYER_ZH
from geo.settings import Settings, settings_digest

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
RowsProgress = Callable[[int, int], None]
"""Called as a streamed register is imported: (rows read so far, rows in the file)."""

POINT_TABLES: tuple[str, ...] = ("facilities", "elders")
SOURCE_COLUMN: dict[str, str] = {level: f"{level}_source" for level in LEVELS}
"""Column of a point layer recording where its code at each level came from (values of :data:`SOURCES`)."""
NAME_COLUMN: dict[str, str] = {level: f"{level}_name" for level in LEVELS}
"""Column of a point layer holding the area name (or code) as staff wrote it, per level."""
SOURCES: tuple[str, ...] = ("polygon:community", "polygon:street", "polygon:district", "code", "name")
"""Where an assigned code came from: the polygon of that level containing the point, a recorded code, a name."""
SOURCE_ZH: dict[str, str] = {"polygon:community": "按社区边界", "polygon:street": "按街道边界",
                             "polygon:district": "按区县边界", "code": "按代码", "name": "按名称"}
REASONS: tuple[str, ...] = ("no_position", "outside", "unmatched", "conflict", "no_polygons")
"""Why a record has no area at a level."""
REASON_ZH: dict[str, str] = {"no_position": "无坐标", "outside": "不在任何边界内", "unmatched": "名称未匹配",
                             "conflict": "与所填代码或名称矛盾", "no_polygons": "无该级边界且未填名称或代码"}
REPORT_XLSX_MAX_ROWS = 100_000
"""A validation report (or rejects list) longer than this many rows is written as CSV (UTF-8 with BOM, opens in
Excel): an .xlsx of 200,000 rows takes about a minute to write, and a sheet holds at most 1,048,576 rows."""
MISLABEL_SAMPLE_ROWS = 10_000
"""Rows of a streamed register's first block checked for a mislabelled coordinate system (evenly spaced)."""
ASSIGN_FIELD_ZH = "区划归属"
"""The 字段 of file-level assignment warnings in validation reports."""


# ---------------------------------------------------------------- the outcome


@dataclass
class AreaAssignment:
    """How the records of one point table got their areas, per level.

    Attributes
    ----------
    table
        "facilities" or "elders".
    n
        Records assigned.
    sources
        Level -> source (:data:`SOURCES`) -> number of records that got their code at that level from it.
    unassigned
        Level -> reason (:data:`REASONS`) -> number of records without a code at that level.
    levels
        The levels worth reporting: those the areas layer has, or any record has a code at; coarse to fine.
    carried
        True for a layer carried over from the previous version and re-assigned to new areas.
    """

    table: str
    n: int
    sources: dict[str, dict[str, int]]
    unassigned: dict[str, dict[str, int]]
    levels: tuple[str, ...]
    carried: bool = False

    def n_assigned(self, level: str) -> int:
        return sum(self.sources.get(level, {}).values())

    def n_unassigned(self, level: str) -> int:
        return sum(self.unassigned.get(level, {}).values())

    def unassigned_pct(self, level: str) -> float:
        return 100.0 * self.n_unassigned(level) / self.n if self.n else 0.0

    def lines_zh(self) -> list[str]:
        """One line per reported level, e.g. "老年人 1,234 · 街道：按街道边界 1,200，按名称 30，
        未归属 4（无坐标 1、不在任何边界内 3）"."""
        head = f"{TABLE_ZH.get(self.table, self.table)} {self.n:,}"
        if self.carried:
            head += "（沿用已有数据，按新的区划重新归属）"
        lines = []
        for level in self.levels:
            parts = [f"{SOURCE_ZH[s]} {self.sources[level][s]:,}" for s in SOURCES if self.sources[level].get(s)]
            missing = self.n_unassigned(level)
            text = f"未归属 {missing:,}"
            if missing:
                text += "（" + "、".join(f"{REASON_ZH[r]} {self.unassigned[level][r]:,}" for r in REASONS
                                          if self.unassigned[level].get(r)) + "）"
            lines.append(f"{head} · {LEVEL_SHORT_ZH[level]}：" + "，".join([*parts, text]))
        return lines

    def warnings_zh(self, *, warn_pct: float) -> list[str]:
        """Warning lines: everyone unassigned (always), or levels whose unassigned share exceeds ``warn_pct`` %."""
        if not self.n:
            return []
        table = TABLE_ZH.get(self.table, self.table)
        if not self.levels:
            return [(f"警告：{table} {self.n:,} 条全部未归属任何区域：地区没有区划数据，记录也没有区划代码或名称。"
                    "请用 --areas 导入社区或街道的边界或名单，或在文件中填写所属街道、所属社区。")]
        if all(self.n_assigned(level) == 0 for level in self.levels):
            coarsest = self.levels[0]
            why = "、".join(f"{REASON_ZH[r]} {self.unassigned[coarsest][r]:,}" for r in REASONS
                           if self.unassigned[coarsest].get(r))
            return [(f"警告：{table} {self.n:,} 条全部未归属任何区域（{why}）：请核对坐标、坐标系和所属街道/社区列，"
                    "或导入覆盖这些位置的区划边界")]
        over = [f"{LEVEL_SHORT_ZH[level]} {self.unassigned_pct(level):.1f}%" for level in self.levels
                if self.n_unassigned(level) and self.unassigned_pct(level) > warn_pct]
        if over:
            return [(f"警告：{table}未归属比例超过 {warn_pct:g}%（设置 unassigned_warn_pct）：{'、'.join(over)}；"
                    "原因见上一行和校验报告")]
        return []

    def table_zh(self) -> pd.DataFrame:
        """The counts as a table: one row per reported level, a column per source and reason."""
        rows = []
        for level in self.levels:
            row: dict[str, Any] = {"数据": TABLE_ZH.get(self.table, self.table), "层级": LEVEL_SHORT_ZH[level],
                                   "记录数": self.n}
            row.update({SOURCE_ZH[s]: self.sources[level].get(s, 0) for s in SOURCES})
            row["未归属"] = self.n_unassigned(level)
            row.update({f"未归属：{REASON_ZH[r]}": self.unassigned[level].get(r, 0) for r in REASONS})
            rows.append(row)
        return pd.DataFrame(rows)

    @classmethod
    def merged(cls, parts: Sequence[AreaAssignment]) -> AreaAssignment:
        """The summary of the records of all ``parts`` together: what one :func:`assign_areas` call over their rows
        gives (it assigns each record alone, so the counts add up; the levels reported are those any part reports,
        coarse to fine). The parts are of one table; ``carried`` is true when every part's is."""
        if not parts:
            raise ValueError("merging area assignments needs at least one part")
        tables = {p.table for p in parts}
        if len(tables) != 1:
            raise ValueError(f"area assignments of different tables cannot be merged: {sorted(tables)}")
        sources: dict[str, Counter[str]] = {level: Counter() for level in LEVELS}
        unassigned: dict[str, Counter[str]] = {level: Counter() for level in LEVELS}
        for part in parts:
            for level in LEVELS:
                sources[level].update(part.sources.get(level, {}))
                unassigned[level].update(part.unassigned.get(level, {}))
        reported = {level for p in parts for level in p.levels}
        return cls(table=parts[0].table, n=sum(p.n for p in parts),
                   sources={level: {k: v for k, v in c.items() if v} for level, c in sources.items()},
                   unassigned={level: {k: v for k, v in c.items() if v} for level, c in unassigned.items()},
                   levels=tuple(level for level in LEVELS if level in reported),
                   carried=all(p.carried for p in parts))

    def to_dict(self) -> dict[str, Any]:
        """Plain counts for the manifest."""
        return {"n": self.n, "levels": list(self.levels), "sources": self.sources, "unassigned": self.unassigned}


@dataclass
class ImportOutcome:
    """What an import did: the saved version, per-file validation results and report paths, and how the
    points of each table were assigned to areas (:attr:`assignments`, with :meth:`assignment_lines_zh`)."""

    region: str
    version_path: Path
    results: list[ValidationResult] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    assignments: dict[str, AreaAssignment] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Plain information lines (Chinese), e.g. how many rows of other area levels were kept."""

    @property
    def n_rejected(self) -> int:
        return sum(r.n_rejected for r in self.results)

    def assignment_lines_zh(self) -> list[str]:
        """The assignment summary of every point table, then the warnings (lines starting "警告：")."""
        lines = [line for a in self.assignments.values() for line in a.lines_zh()]
        return lines + self.warnings


# ---------------------------------------------------------------- areas


def complete_area_hierarchy(areas: gpd.GeoDataFrame, *, names: Mapping[str, str] | None = None) -> gpd.GeoDataFrame:
    """Add missing street and district rows implied by the codes of their children.

    A community ``110199001001`` implies street ``110199001`` and district
    ``110199``. Missing parents are named from ``names`` (code -> name, e.g. a
    community list's 上级名称), else get a placeholder name; where the children
    have polygons, the union of them is their polygon. Existing rows are kept
    as they are. Returns a new frame; the input is not changed.
    """
    if areas.empty:
        return areas.copy()
    names = names or {}
    out = areas.copy()
    for child_level, parent_level, cut in (("community", "street", 9), ("street", "district", 6)):
        have = set(out.loc[out["level"] == parent_level, "code"])
        children = out[out["level"] == child_level]
        missing = sorted({c[:cut] for c in children["code"]} - have)
        rows = []
        for code in missing:
            kids = children[children["code"].str.startswith(code)]
            geom = kids.geometry.dropna()
            geom = geom[~geom.is_empty]
            rows.append({
                "code": code, "name": names.get(code) or f"{AREA_LEVEL_ZH[parent_level]} {code}", "level": parent_level,
                "parent_code": code[:6] if parent_level == "street" else None,
                "geometry": geom.union_all() if len(geom) else None,
            })
        if rows:
            out = pd.concat([out, gpd.GeoDataFrame(rows, geometry="geometry", crs=out.crs)], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=areas.crs)


def merge_areas(existing: gpd.GeoDataFrame | None, new: gpd.GeoDataFrame, *,
                file_name: str = "") -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The areas layer after importing an areas file: the file's levels replaced, the others kept.

    An areas file may hold polygons of one level (street boundaries, say) or be a plain community
    list (CSV/XLSX: code, name, community type, parent street as ``parent_code`` or ``parent_name``;
    no geometry). Importing it **replaces only the levels present in it**: street polygons imported
    first and a community list imported later give both levels. A ``parent_name`` (上级名称, 所属街道)
    is matched against the areas one level up, in the file or in the existing layer: when it names
    another area than the code's parent, that is a warning (the code wins); when the parent is
    missing, it names the parent that :func:`complete_area_hierarchy` adds.

    Returns
    -------
    areas
        The merged layer with its hierarchy completed (EPSG:4326).
    problems
        Warnings in the validation report's columns (文件, 行号, 字段, 值, 问题, 级别).
    """
    levels_in_file = set(level_of(new)) if len(new) else set()
    kept = None
    if existing is not None and len(existing) and "code" in existing:
        kept = existing[~level_of(existing).isin(levels_in_file).to_numpy()]
        kept = kept.to_crs(new.crs) if kept.crs is not None and new.crs is not None and kept.crs != new.crs else kept
    merged = new if kept is None or kept.empty else gpd.GeoDataFrame(
        pd.concat([kept, new], ignore_index=True), geometry="geometry", crs=new.crs)
    merged = merged.reset_index(drop=True)
    problems: list[tuple[str, str, str, str, str, str]] = []
    parent_names: dict[str, str] = {}
    if "parent_name" in new and new["parent_name"].notna().any():
        index = AreaIndex(merged)
        rows = new["source_row"].astype(str).to_numpy() if "source_row" in new else \
            np.arange(1, len(new) + 1).astype(str)
        for row, code, level, parent_name in zip(rows, new["code"].astype(str), level_of(new),
                                                 new["parent_name"].astype(object), strict=True):
            if parent_name is None or pd.isna(parent_name) or level not in ("street", "community"):
                continue
            parent_level = LEVELS[LEVELS.index(level) - 1]
            parent = index.ancestor(code, parent_level)
            found = index.resolve(parent_name, parent_level)
            if found.matched:
                if parent and found.code != parent:
                    problems.append((file_name, row, "上级名称", str(parent_name),
                                     (f"上级名称“{parent_name}”对应 {index.label(found.code)}，但代码 {code} 的上级为 "
                                     f"{index.label(parent)}；以代码为准"), WARNING))
            elif parent and not index.knows(parent):
                parent_names.setdefault(parent, str(parent_name).strip())
            elif parent:
                problems.append((file_name, row, "上级名称", str(parent_name),
                                 (f"上级名称“{parent_name}”与代码 {code} 的上级 {index.label(parent)} 不符（{found.note}）；"
                                 "以代码为准"), WARNING))
    completed = complete_area_hierarchy(merged, names=parent_names)
    return completed, pd.DataFrame(problems, columns=PROBLEM_COLUMNS)


# ---------------------------------------------------------------- points


def _values(frame: pd.DataFrame, column: str) -> list[str | None]:
    """A column as a list of stripped strings, None where missing or blank (all None without the column)."""
    if column not in frame:
        return [None] * len(frame)
    values = frame[column].astype(object).to_numpy()
    present = ~pd.isna(values)
    out = np.full(len(values), None, dtype=object)
    if present.any():
        text = pd.Series(values[present], dtype=object).map(str).str.strip().to_numpy(dtype=object)
        text[text == ""] = None
        out[present] = text
    return out.tolist()


def _placed(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None,
            index: AreaIndex) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, set[str]]:
    """Codes from position: for each point the finest polygon containing it (community, else street, else
    district; the first one where polygons overlap) and that polygon's ancestors.

    Returns (level -> code per point, polygon level per point, located mask, levels that have polygons); codes and
    levels as object arrays, None where there is none.
    """
    n = len(points)
    placed: dict[str, np.ndarray] = {level: np.full(n, None, dtype=object) for level in LEVELS}
    placed_level = np.full(n, None, dtype=object)
    geoms = points.geometry.to_numpy() if n else np.array([], dtype=object)
    located = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if n else np.zeros(0, dtype=bool)
    with_polygons: set[str] = set()
    if areas is None or areas.empty or "code" not in areas or not located.any():
        if areas is not None and len(areas) and "code" in areas:
            has = areas.geometry.notna() & ~areas.geometry.is_empty
            with_polygons = set(level_of(areas)[has.to_numpy()])
        return placed, placed_level, located, with_polygons
    if points.crs is not None and areas.crs is not None and points.crs != areas.crs:
        geoms = points.geometry.to_crs(areas.crs).to_numpy()
    levels = level_of(areas).to_numpy()
    has_geom = (areas.geometry.notna() & ~areas.geometry.is_empty).to_numpy()
    todo = np.flatnonzero(located)
    for level in reversed(LEVELS):
        polys = areas[(levels == level) & has_geom]
        if polys.empty:
            continue
        with_polygons.add(level)
        if not len(todo):
            continue
        tree = shapely.STRtree(polys.geometry.to_numpy())
        point_idx, poly_idx = tree.query(geoms[todo], predicate="intersects")
        order = np.lexsort((poly_idx, point_idx))  # per point, its polygons in file order: the first one wins
        hit, first = np.unique(point_idx[order], return_index=True)
        poly = poly_idx[order][first]
        codes = polys["code"].astype(str).to_numpy()
        at = todo[hit]
        placed_level[at] = level
        for lv in LEVELS:  # each polygon's lineage, looked up once per polygon
            by_poly = np.array([index.lineage(c).get(lv) for c in codes], dtype=object)
            placed[lv][at] = by_poly[poly]
        keep = np.ones(len(todo), dtype=bool)
        keep[hit] = False
        todo = todo[keep]
    return placed, placed_level, located, with_polygons


def assign_areas(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None, *, table: str = "",
                 file_name: str = "") -> tuple[gpd.GeoDataFrame, pd.DataFrame, AreaAssignment]:
    """Give points their district, street and community codes: recorded code > name > position.

    For each level, coarse to fine:

    1. a **recorded code** (``district_code``/``street_code``/``community_code``; a finer one implies
       the coarser ones) is kept;
    2. else a **name** (``district_name``/``street_name``/``community_name``, which may hold a name or a
       code) is matched to the areas (:meth:`geo.area_match.AreaIndex.resolve`) within the area already
       found above it — an ambiguous name with no known parent is settled by the point's position when
       that leaves one candidate; a name also given with a code is checked against it;
    3. the coarser levels of the finest code found follow from the code hierarchy (``parent_code``
       chain, else the first 9/6 digits);
    4. the **position** fills the levels still empty from the finest polygons containing the point
       (community, else street, else district) and their ancestors — unless it contradicts a code or
       name found above, which is a warning naming both (the code or name wins, and the position is
       not used for that record).

    Codes from an earlier assignment (``*_source`` other than "code") are recomputed, so that re-running
    on a stored layer with new areas brings it up to date; recorded codes are never changed.

    Parameters
    ----------
    points
        Facilities or elders (EPSG:4326), as :func:`data.validate.validate_table` returns them.
    areas
        The region's areas (code, name, level, parent_code, geometry — which may be None).
    table
        "facilities" or "elders", for the summary.
    file_name
        The file, for the problems' 文件 column.

    Returns
    -------
    points
        A new frame with the codes filled in and a ``<level>_source`` column per level ("code", "name",
        "polygon:<level>" or NA).
    problems
        Row-level warnings (unmatched or ambiguous names, codes unknown to the areas, conflicts between
        code, name and position) in the validation report's columns; 行号 from ``source_row``.
    summary
        The counts per level and source, and of unassigned records per reason.
    """
    out = points.copy()
    n = len(out)
    index = AreaIndex(areas)
    rows = out["source_row"].to_numpy() if "source_row" in out else np.arange(1, n + 1)  # str() when warned
    recorded = {level: _values(out, LEVEL_COLUMN[level]) for level in LEVELS}
    for level in LEVELS:
        if SOURCE_COLUMN[level] in out:
            given = _values(out, SOURCE_COLUMN[level])
            recorded[level] = [c if s in (None, "code") else None for c, s in zip(recorded[level], given, strict=True)]
    names = {level: _values(out, NAME_COLUMN[level]) for level in LEVELS}
    placed, placed_level, located, with_polygons = _placed(out, areas, index)
    with_areas = {level for level in LEVELS if index.codes(level)}
    # A record's outcome depends only on what it says and where it lies (its codes, names, the polygons around
    # it): records alike are decided once (a register of millions has a few thousand distinct cases).
    keys = list(zip(*(recorded[lv] for lv in LEVELS), *(names[lv] for lv in LEVELS),
                    *(placed[lv] for lv in LEVELS), placed_level, located, strict=True)) if n else []
    case_of: dict[tuple[Any, ...], int] = {}
    case = np.fromiter((case_of.setdefault(k, len(case_of)) for k in keys), dtype=np.int64, count=n)
    decided = [_decide(k, index=index, with_areas=with_areas, with_polygons=with_polygons) for k in case_of]
    chosen = {level: np.array([d[0].get(level) for d in decided] or [None], dtype=object)[case] for level in LEVELS}
    source = {level: np.array([d[1].get(level) for d in decided] or [None], dtype=object)[case] for level in LEVELS}
    reason = {level: np.array([d[2].get(level) for d in decided] or [None], dtype=object)[case] for level in LEVELS}
    warned = np.array([bool(d[3]) for d in decided] or [False], dtype=bool)[case]
    problems = [(file_name, str(rows[i]), field_zh, value, text, WARNING)
                for i in np.flatnonzero(warned) for field_zh, value, text in decided[case[i]][3]]
    for level in LEVELS:
        out[LEVEL_COLUMN[level]] = pd.array(chosen[level].tolist(), dtype="string")
        out[SOURCE_COLUMN[level]] = pd.array(source[level].tolist(), dtype="string")
    coded = {level for level in LEVELS if any(c is not None for c in chosen[level])}
    summary = AreaAssignment(
        table=table, n=n,
        sources={level: {s: c for s, c in Counter(x for x in source[level] if x).items()} for level in LEVELS},
        unassigned={level: {r: c for r, c in Counter(x for x in reason[level] if x).items()} for level in LEVELS},
        levels=tuple(level for level in LEVELS if level in with_areas or level in coded),
    )
    log.info("%s: areas assigned (%s)", table or "points", "; ".join(
        f"{level} {summary.n_assigned(level)}/{n}" for level in summary.levels))
    return out, pd.DataFrame(problems, columns=PROBLEM_COLUMNS), summary


def _decide(key: tuple[Any, ...], *, index: AreaIndex, with_areas: set[str], with_polygons: set[str]
            ) -> tuple[dict[str, str], dict[str, str], dict[str, str], list[tuple[str, str, str]]]:
    """The areas of one record from what it says and where it lies (the rules of :func:`assign_areas`).

    ``key``: recorded code, name and position-derived code per level (coarse to fine, each), the level of the
    polygon containing the point, and whether it has a position. Returns (level -> code, level -> source,
    level -> reason it has none, warnings as (字段, 值, 问题)).
    """
    k = len(LEVELS)
    rec = dict(zip(LEVELS, key[:k], strict=True))
    nam = dict(zip(LEVELS, key[k:2 * k], strict=True))
    plc = dict(zip(LEVELS, key[2 * k:3 * k], strict=True))
    plevel, loc = key[3 * k], bool(key[3 * k + 1])
    warnings: list[tuple[str, str, str]] = []
    reason: dict[str, str] = {}

    def warn(field_zh: str, value: str, text: str) -> None:
        warnings.append((field_zh, value, text))

    code: dict[str, str] = {}
    src: dict[str, str] = {}
    origin: dict[str, tuple[str, str, str]] = {}  # level -> (field, value as written, code it gave)
    unmatched: set[str] = set()
    for level in reversed(LEVELS):  # recorded codes, the finest implying the coarser
        given = rec[level]
        if given is None:
            continue
        for lv, c in ({level: given} | index.lineage(given)).items():
            if lv not in code:
                code[lv], src[lv] = c, "code"
                origin[lv] = (f"{LEVEL_SHORT_ZH[level]}代码", given, given)
    finest_given = next((lv for lv in reversed(LEVELS) if rec[lv] is not None), None)
    if finest_given is not None and finest_given in with_areas and not index.knows(rec[finest_given]):
        warn(f"{LEVEL_SHORT_ZH[finest_given]}代码", rec[finest_given],
             f"{LEVEL_SHORT_ZH[finest_given]}代码 {rec[finest_given]} 不在区划数据中，仍按此代码归属；请核对")
    for level in LEVELS:  # names, coarse to fine, each within the area found above it
        name = nam[level]
        if name is None:
            continue
        field_zh = f"所属{LEVEL_SHORT_ZH[level]}"
        above = [code[lv] for lv in LEVELS[:LEVELS.index(level)] if lv in code]
        within = above[-1] if above else None
        match = index.resolve(name, level, within=within)
        if match.ambiguous and within is None:
            match = _settle_by_position(match, index, {lv: plc[lv] for lv in LEVELS})
        if not match.matched:
            warn(field_zh, name, match.note)
            if level not in code:
                unmatched.add(level)
            continue
        if match.note:
            warn(field_zh, name, match.note)
        if level in code and code[level] != match.code:
            warn(field_zh, name, f"{field_zh}“{name}”对应 {index.label(match.code)}，但{LEVEL_SHORT_ZH[level]}代码为 "
                 f"{index.label(code[level])}；以代码为准")
        elif level not in code:
            for lv, c in ({level: match.code} | index.lineage(match.code)).items():
                if lv not in code:
                    code[lv], src[lv] = c, "name"
                    origin[lv] = (field_zh, name, match.code)
    conflict = None
    for level in reversed(LEVELS):
        at = plc[level]
        if level in code and at is not None and at != code[level]:
            conflict = level
            break
    if conflict is not None:
        field_zh, value, gave = origin[conflict]
        by = "代码" if src[conflict] == "code" else "名称"
        if src[conflict] == "code":
            text = (f"{field_zh} {index.label(gave)}与位置不一致：位置落在 {index.label(plc[conflict])}内；"
                    "以所填代码为准，请核对")
        else:
            text = (f"{field_zh}“{value}”对应 {index.label(gave)}，但位置落在 {index.label(plc[conflict])}内；"
                    f"以所填{by}为准，请核对")
        warn(field_zh, value, text)
    else:
        for level in LEVELS:
            if level not in code and plc[level] is not None:
                code[level], src[level] = plc[level], f"polygon:{plevel}"
    for level in LEVELS:
        if level in code:
            continue
        elif level in unmatched:
            reason[level] = "unmatched"
        elif conflict is not None:
            reason[level] = "conflict"
        elif not loc:
            reason[level] = "no_position"
        elif any(lv in with_polygons for lv in LEVELS[LEVELS.index(level):]):
            reason[level] = "outside"
        else:
            reason[level] = "no_polygons"
    return code, src, reason, warnings


def _settle_by_position(match: AreaMatch, index: AreaIndex, placed: Mapping[str, str | None]) -> AreaMatch:
    """An ambiguous name narrowed to the one candidate that is, or lies in, the finest area containing the point."""
    finest = next((placed[level] for level in reversed(LEVELS) if placed.get(level) is not None), None)
    if finest is None:
        return match
    fits = [c for c in match.candidates if c == finest or index.contains(finest, c) or index.contains(c, finest)]
    if len(fits) == 1:
        return AreaMatch(match.value, match.level, fits[0], match.how)
    return match


def _file_warnings(summary: AreaAssignment, file_name: str, *, warn_pct: float) -> pd.DataFrame:
    """The summary's warning lines as file-level rows of a validation report."""
    return pd.DataFrame([(file_name, "—", ASSIGN_FIELD_ZH, "", line, WARNING)
                         for line in summary.warnings_zh(warn_pct=warn_pct)], columns=PROBLEM_COLUMNS)


def _concat_problems(*frames: pd.DataFrame) -> pd.DataFrame:
    frames = tuple(f for f in frames if len(f))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PROBLEM_COLUMNS)


# ---------------------------------------------------------------- streamed registers


class _NoBlocks(ValueError):
    """A stream handed out no good row (every row rejected): nothing to write."""


def _assign_block(block: gpd.GeoDataFrame, *, areas: gpd.GeoDataFrame | None,
                  file_name: str) -> tuple[gpd.GeoDataFrame, tuple[pd.DataFrame, AreaAssignment]]:
    """:func:`assign_areas` of one block of a validated stream (run where the block was validated: in a worker
    process when there are some): (the assigned rows, (their warnings, the block's summary))."""
    good, found, summary = assign_areas(block, areas, table="elders", file_name=file_name)
    return good, (found, summary)


def _assigned_blocks(stream: ValidationStream, *, file_name: str, summaries: list[AreaAssignment],
                     problems: list[pd.DataFrame], mislabel: list[pd.DataFrame], roads: gpd.GeoDataFrame | None,
                     settings: Settings, crs: str | None) -> Iterator[gpd.GeoDataFrame]:
    """The good rows of a validated stream made with ``then=``:func:`_assign_block`, block by block, assigned to
    areas (each record is assigned alone, so the blocks' summaries merge into the whole file's). Fills
    ``summaries`` and ``problems`` (the assignment warnings, in file order) as it goes, and ``mislabel`` with the
    coordinate-system check of the first block that has good rows (a sample: :func:`data.validate.validate_table`
    checks all rows). The blocks are GeoDataFrames, or the Arrow tables of a stream made with ``tables=True``
    (written as they come). Raises :class:`_NoBlocks` at the end when no block had a good row."""
    any_rows = False
    for good, (found, summary) in stream:
        if not len(good):
            continue
        if not any_rows and roads is not None and len(roads):
            step = -(-len(good) // MISLABEL_SAMPLE_ROWS)
            sample = (good.iloc[::step] if isinstance(good, gpd.GeoDataFrame)
                      else store.layer_frame(good.take(np.arange(0, len(good), step))))
            mislabel.append(_mislabel_problems(sample, roads, file_name=file_name, settings=settings, crs=crs))
        any_rows = True
        summaries.append(summary)
        if len(found):
            problems.append(found)
        yield good
    if not any_rows:
        raise _NoBlocks("no good rows")


def _mislabel_problems(good: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *, file_name: str, settings: Settings,
                       crs: str | None) -> pd.DataFrame:
    """The file-level warnings of :func:`data.validate.validate_table`'s check for a mislabelled coordinate system
    (points consistently closer to the roads read in another system), on the rows of ``good``."""
    return mislabel_warnings(good, roads, file_name=file_name, crs=crs, settings=settings)


def _after_file_level(problems: pd.DataFrame, *extra: pd.DataFrame) -> pd.DataFrame:
    """``problems`` with the file-level rows (行号 "—") of ``extra`` put after its own file-level rows, where one
    pass over the whole file puts them."""
    extra = tuple(e for e in extra if len(e))
    if not extra:
        return problems
    file_level = (problems["行号"] == "—").to_numpy()
    n_head = len(file_level) if file_level.all() else int(file_level.argmin())
    return _concat_problems(problems.iloc[:n_head], *extra, problems.iloc[n_head:])


# ---------------------------------------------------------------- import


def _under_import_lock(func: Callable[..., ImportOutcome]) -> Callable[..., ImportOutcome]:
    """Run an import holding the region's import lock (:func:`data.store.import_lock`), from reading the previous
    version to saving the new one: a second import of the same region meanwhile waits for it (up to
    :data:`data.store.IMPORT_WAIT_S`), then gets :class:`data.store.ImportInProgressError`; no mixed version is ever
    saved."""

    @functools.wraps(func)
    def locked(name: str, **kwargs: Any) -> ImportOutcome:
        with store.import_lock(name, root=kwargs.get("root")):
            return func(name, **kwargs)

    return locked


@_under_import_lock
def import_region(
    name: str,
    *,
    settings: Settings,
    roads: str | Path | None = None,
    place: str | None = None,
    facilities: str | Path | None = None,
    elders: str | Path | None = None,
    areas: str | Path | None = None,
    facility_crs: str | None = None,
    elder_crs: str | None = None,
    area_crs: str | None = None,
    service_areas: str | Path | None = None,
    service_items: str | Path | None = None,
    carers: str | Path | None = None,
    orders: str | Path | None = None,
    carer_crs: str | None = None,
    order_crs: str | None = None,
    report_dir: str | Path | None = None,
    root: str | Path | None = None,
    today: dt.date | None = None,
    progress: Progress | None = None,
    rows_progress: RowsProgress | None = None,
    chunk_rows: int | None = None,
) -> ImportOutcome:
    """Create or update region ``name`` and return what was imported.

    Parameters
    ----------
    roads
        OpenStreetMap PBF or XML file, or an osmnx GraphML file. Required for a new region.
    place
        Instead of ``roads``: a place name to download with osmnx (needs internet).
    facilities, elders, areas
        Staff files (CSV/XLSX/GeoJSON/GeoPackage/GeoParquet). An areas file may carry polygons or be a
        plain list without geometry (a community list: code, name, type, parent street); it **replaces
        only the levels present in it** and keeps the other levels of the existing areas layer
        (:func:`merge_areas`).
    facility_crs, elder_crs, area_crs
        Coordinate system of each file: wgs84, cgcs2000, gcj02 or bd09.
    service_areas
        Polygons of home-care providers' service areas (GeoJSON/GeoPackage/Shapefile with a CRS, a
        facility id or name column; :func:`data.service_areas.read_service_areas`), matched to the
        facilities after this import; stored as the ``service_areas`` layer, replacing the previous one.
    service_items, carers, orders
        The 12349 desk's tables (CSV/XLSX, Chinese headers): the service list (服务清单), the home-care
        providers' carers (服务人员) and orders / service records (服务工单). Each replaces its layer. They are
        checked against the region as it is after this import's facilities and elders: carers against the
        home-care providers, orders against the service list, providers, carers and elders (an orders file
        needs a service list, given now or imported before). Carers' and orders' personal fields are
        pseudonymised or dropped (:func:`data.validate.validate_table`).
    carer_crs, order_crs
        Coordinate system of the carers' and orders' coordinates (as ``facility_crs``).
    report_dir
        Where validation reports go (default ``reports/<name>`` under the current folder).
    progress
        Called with a message (Chinese) as each step begins.
    rows_progress
        Called as a streamed elders register is imported, after each block: (rows read so far, rows in the file).
    chunk_rows
        Rows per block of a streamed register (default :data:`data.validate.STREAM_CHUNK_ROWS`).

    An elders register (CSV) of at least ``settings.import_stream_min_mb`` MB (0: any) is **streamed**: validated
    block by block (:func:`data.validate.validate_stream`; duplicates found across blocks, row numbers the
    spreadsheet's), each block assigned to areas and written as GeoParquet row groups straight into the new
    version (:func:`data.store.write_layer_blocks`); the layer is never held whole, and neither are the previous
    version's elders, which it replaces. The result is the same as importing the file whole, except that the
    check for a mislabelled coordinate system (points consistently closer to the roads in another system) looks
    at the first block only (at most :data:`MISLABEL_SAMPLE_ROWS` of its rows; run when :mod:`data.validate`
    offers it as ``mislabel_warnings``). PostGIS copies the written layer in row group by row group. Without an
    elders file, the stored elders are carried into the new version as the stored file (never loaded), and
    re-assigned to newly imported areas one row group at a time. A report of more than
    :data:`REPORT_XLSX_MAX_ROWS` rows is written as CSV.

    Rows with errors are left out and listed in the reports; the region is
    saved only after everything has been read and checked, in one atomic step.
    Points get their areas by :func:`assign_areas` (recorded code > name > position); when areas are
    imported, facilities and elders carried over from the previous version are re-assigned to them
    (recorded codes kept). :attr:`ImportOutcome.assignments` says, per table and level, how many
    records got their area from which source and how many have none; a table with every record
    unassigned, or more than ``settings.unassigned_warn_pct`` % unassigned at a level, gets a warning
    line (:attr:`ImportOutcome.warnings`, and a file-level warning in its validation report).
    """
    say = progress or (lambda _msg: None)
    exists = store.region_exists(name, root=root)
    # the elders (the large layer) are never loaded whole: a file given replaces them, else they are carried over
    # as the stored file (re-assigned to new areas row group by row group)
    previous = store.load_region(name, root=root, skip=("elders",)) if exists else None
    previous_rows = {k: int(v["rows"]) for k, v in previous.manifest.get("layers", {}).items()} if previous else {}
    if previous is None and roads is None and place is None:
        raise RoadNetworkError(
            f"地区“{name}”尚不存在：新建地区须提供道路数据（--roads 文件或 --place 地名）",
            f"region {name!r} does not exist; pass --roads or --place to create it",
        )
    layers: dict[str, gpd.GeoDataFrame] = dict(previous.layers) if previous else {}
    sources: list[dict[str, Any]] = list(previous.manifest.get("sources", [])) if previous else []
    synthetic: dict[str, bool] = dict(previous.manifest.get("synthetic", {})) if previous else {}

    def replace_source(entry: dict[str, Any]) -> None:
        sources[:] = [s for s in sources if s.get("layer") != entry["layer"]]
        sources.append(entry)

    if roads is not None or place is not None:
        say("读取道路网络")
        nodes, edges = osm.load_roads(place if place else roads, place=bool(place))
        layers["road_nodes"], layers["road_edges"] = nodes, edges
        entry: dict[str, Any] = {"layer": "roads", "kind": "OpenStreetMap"}
        if place:
            entry.update(place=place, downloaded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        else:
            entry.update(path=str(roads), file=Path(roads).name, sha256=store.file_sha256(roads))
        replace_source(entry)
        synthetic["roads"] = False
        layers.pop("buildings", None)
    road_edges = layers.get("road_edges")
    if road_edges is None or road_edges.empty:
        raise RoadNetworkError(f"地区“{name}”没有道路数据", f"region {name!r} has no roads")
    extent = osm.extent(layers["road_nodes"])
    salt = store.deployment_salt(root=root)
    report_dir = Path(report_dir) if report_dir is not None else Path("reports") / name
    outcome = ImportOutcome(region=name, version_path=Path())
    warn_pct = settings.unassigned_warn_pct
    written: dict[str, dict[str, Any]] = {}  # layers written ahead into the new version (a streamed register)
    new: store.NewVersion | None = None

    def related_layers() -> dict[str, pd.DataFrame | None]:
        found: dict[str, pd.DataFrame | None] = {k: layers.get(k) for k in ("facilities", "elders", "service_items",
                                                                             "carers")}
        if "elders" in written and new is not None:  # orders check an elder's number and home: just those columns
            found["elders"] = pd.read_parquet(new.layer_path("elders"), columns=["pid", "lon", "lat"])
        return found

    def finish(table: str, path: str | Path, result: ValidationResult, extra: dict[str, Any]) -> None:
        """The report of a validated file, refusing a file with every row rejected; provenance recorded."""
        big = max(len(result.problems), result.n_rejected) > REPORT_XLSX_MAX_ROWS
        report, rejects = write_report(result, report_dir / f"{Path(path).stem}_校验报告.{'csv' if big else 'xlsx'}")
        if result.n_read and not result.n_imported:  # never replace a layer by nothing because every row was bad
            errors = result.problems[result.problems["级别"] == ERROR] if len(result.problems) else result.problems
            first = "；".join(f"第 {r['行号']} 行 {r['字段']}：{r['问题']}" for r in errors.head(3).to_dict("records"))
            raise InputFileError(
                f"文件 {Path(path).name} 的 {result.n_read:,} 行全部被拒绝，地区“{name}”未更新（原有数据保持不变）。"
                f"{('例如：' + first + '。') if first else ''}全部原因见校验报告：{report}",
                f"{path}: all {result.n_read} rows rejected; region not updated")
        outcome.results.append(result)
        outcome.reports += [p for p in (report, rejects) if p is not None]
        replace_source({**result.source, "report": str(report), **extra})
        synthetic[table] = False

    def stream_elders(path: str | Path, crs: str | None) -> bool:
        """Import a large elders register as a stream into the new version (see above); False when the file is
        small, or of a kind the stream does not read (then it is validated whole)."""
        nonlocal new
        if Path(path).stat().st_size < settings.import_stream_min_mb * 1e6:
            return False
        try:
            stream = validate_stream(path, "elders", settings=settings, crs=crs, salt=salt, region_extent=extent,
                                     today=today, progress=rows_progress,
                                     workers=stream_workers(settings.import_workers, Path(path).stat().st_size),
                                     then=functools.partial(_assign_block, areas=layers.get("areas"),
                                                            file_name=Path(path).name), tables=True,
                                     **({"chunk_rows": chunk_rows} if chunk_rows else {}))
        except ValueError:  # not a delimited text file: validated whole
            return False
        file_name = Path(path).name
        say(f"分块校验并写入 {file_name}")
        if new is None:
            new = store.start_version(name, root=root)
        summaries: list[AreaAssignment] = []
        assigned: list[pd.DataFrame] = []
        mislabel: list[pd.DataFrame] = []
        blocks = _assigned_blocks(stream, file_name=file_name, summaries=summaries, problems=assigned,
                                  mislabel=mislabel, roads=road_edges, settings=settings, crs=crs)
        try:
            entry = store.write_layer_blocks(blocks, new.layer_path("elders"))
        except _NoBlocks:
            entry = None
        result = stream.result()
        summary = (AreaAssignment.merged(summaries) if summaries else
                   assign_areas(gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326")), layers.get("areas"),
                                table="elders")[2])
        result.problems = _concat_problems(_after_file_level(result.problems, *mislabel), *assigned,
                                           _file_warnings(summary, file_name, warn_pct=warn_pct))
        outcome.assignments["elders"] = summary
        outcome.warnings += summary.warnings_zh(warn_pct=warn_pct)
        finish("elders", path, result, {"assignment": summary.to_dict(), "streamed": True})
        assert entry is not None  # finish() refused a file without any good row
        written["elders"] = entry
        layers.pop("elders", None)
        return True

    def carry_elders() -> None:
        """The previous version's elders into the new one as stored (never loaded whole); when areas are imported,
        re-assigned to them row group by row group (recorded codes kept)."""
        nonlocal new
        if new is None:
            new = store.start_version(name, root=root)
        if areas is None or not previous_rows.get("elders"):
            written["elders"] = store.carry_layer(name, "elders", new, root=root)
            return
        say("按新的区划重新归属老年人")
        carried = new.folder / ".carried-elders.parquet"
        store.carry_layer(name, "elders", new, root=root, path=carried)
        summaries: list[AreaAssignment] = []
        n_problems = 0

        def assigned() -> Iterator[gpd.GeoDataFrame]:
            nonlocal n_problems
            for block in store.read_row_groups(carried):
                good, problems, summary = assign_areas(block, layers["areas"], table="elders")
                summaries.append(summary)
                n_problems += len(problems)
                yield good

        written["elders"] = store.write_layer_blocks(assigned(), new.layer_path("elders"))
        carried.unlink()
        summary = AreaAssignment.merged(summaries)
        summary.carried = True
        outcome.assignments["elders"] = summary
        if n_problems:
            outcome.warnings.append(f"警告：沿用的{TABLE_ZH['elders']}中有 {n_problems:,} 条归属提示（名称未匹配、"
                                    "代码或名称与位置不一致等）：重新导入该文件可得到逐行报告")
        outcome.warnings += summary.warnings_zh(warn_pct=warn_pct)

    def run(table: str, path: str | Path, crs: str | None) -> gpd.GeoDataFrame:
        say(f"校验 {Path(path).name}")
        related = related_layers()
        result = validate_table(path, table, settings=settings, crs=crs, salt=salt, region_extent=extent,
                                roads=road_edges, today=today, related=related)
        extra: dict[str, Any] = {}
        layer = result.good
        if table in HOME_CARE_TABLES:
            pass  # no areas to assign: a list, carers' bases and service addresses (personal points)
        elif table == "areas":  # the file's rows stay as validated (read = imported + rejected); the layer is merged
            layer, merge_problems = merge_areas(layers.get("areas"), result.good, file_name=Path(path).name)
            result.problems = _concat_problems(result.problems, merge_problems)
            added = len(layer) - len(result.good) - (0 if layers.get("areas") is None else len(layers["areas"]))
            kept = len(layer) - len(result.good)
            if kept:
                outcome.notes.append(f"区划：本文件 {len(result.good):,} 行，另保留或补全其他层级区划 {kept:,} 行"
                                        + (f"（其中按代码补全上级 {added:,} 行）" if added > 0 else ""))
        else:
            result.good, problems, summary = assign_areas(result.good, layers.get("areas"), table=table,
                                                          file_name=Path(path).name)
            layer = result.good
            result.problems = _concat_problems(result.problems, problems,
                                               _file_warnings(summary, Path(path).name, warn_pct=warn_pct))
            outcome.assignments[table] = summary
            outcome.warnings += summary.warnings_zh(warn_pct=warn_pct)
            extra["assignment"] = summary.to_dict()
        finish(table, path, result, extra)
        return layer

    try:  # a file that cannot be read stops the import: the reports written before it go too
        if areas is not None:
            layers["areas"] = run("areas", areas, area_crs)
        files = {"facilities": (facilities, facility_crs), "elders": (elders, elder_crs)}
        for table in POINT_TABLES:
            path, crs = files[table]
            if path is not None:
                if not (table == "elders" and stream_elders(path, crs)):
                    layers[table] = run(table, path, crs)
            elif table == "elders" and "elders" in previous_rows:
                carry_elders()
            elif areas is not None and table in layers and len(layers[table]):
                say(f"按新的区划重新归属{TABLE_ZH[table]}")
                layers[table], problems, summary = assign_areas(layers[table], layers["areas"], table=table)
                summary.carried = True
                outcome.assignments[table] = summary
                if len(problems):
                    outcome.warnings.append(f"警告：沿用的{TABLE_ZH[table]}中有 {len(problems):,} 条归属提示（名称未匹配、"
                                            "代码或名称与位置不一致等）：重新导入该文件可得到逐行报告")
                outcome.warnings += summary.warnings_zh(warn_pct=warn_pct)
        if service_areas is not None:
            from data.service_areas import read_service_areas

            say(f"读取服务区域 {Path(service_areas).name}")
            read = read_service_areas(service_areas, layers.get("facilities", gpd.GeoDataFrame()), settings=settings)
            layers["service_areas"] = read.layer
            outcome.warnings += read.warnings
            replace_source({"layer": "service_areas", "path": str(service_areas), "file": Path(service_areas).name,
                            "sha256": store.file_sha256(service_areas)})
            synthetic["service_areas"] = False
        home_care = {"service_items": (service_items, None), "carers": (carers, carer_crs), "orders": (orders, order_crs)}
        for table in HOME_CARE_TABLES:  # in this order: carers refer to providers, orders to all of them
            path, crs = home_care[table]
            if path is not None:
                layers[table] = run(table, path, crs)
    except BaseException:
        for path in outcome.reports:
            path.unlink(missing_ok=True)
        if new is not None:  # the layers written ahead: the previous version stays current
            new.discard()
        raise
    for line in outcome.warnings:
        log.warning("import %s: %s", name, line)
    say("保存地区（原子写入）")
    manifest = {
        "sources": sources,
        "synthetic": synthetic,
        "settings": settings.to_dict(),
        "settings_digest": settings_digest(settings),
        "extent": list(extent),
    }
    if previous is not None and "demo" in previous.manifest and any(synthetic.get(k) for k in synthetic):
        manifest["demo"] = previous.manifest["demo"]
    try:
        outcome.version_path = store.save_region(name, layers, manifest, root=root, new=new, written=written)
    finally:
        if new is not None and store.database_url(root):  # PostGIS: the files were copied in (or not: failed)
            new.discard()
    outcome.counts = {k: len(v) for k, v in layers.items()} | {k: int(v["rows"]) for k, v in written.items()}
    if previous is not None:
        outcome.notes += replaced_layer_notes(previous_rows, outcome.counts, given={
            "facilities": facilities is not None, "elders": elders is not None,
            "service_areas": service_areas is not None, "service_items": service_items is not None,
            "carers": carers is not None, "orders": orders is not None})
    return outcome


def replaced_layer_notes(before: Mapping[str, Any], after: Mapping[str, int], *,
                         given: Mapping[str, bool]) -> list[str]:
    """One line per layer that a file replaced with a different number of rows ("原有 3 条 → 现在 2 条"): a file
    replaces the whole layer, which a user who expected rows to be appended must be told. ``before``: the previous
    layers, or their row counts (the manifest's)."""
    notes = []
    for layer, was_given in given.items():
        old, new = before.get(layer), after.get(layer)
        n_old = old if old is None or isinstance(old, (int, np.integer)) else len(old)
        if was_given and n_old is not None and new is not None and n_old != new:
            notes.append(f"注意：{LAYER_ZH.get(layer, layer)}图层已整体替换为本次文件的内容：原有 {n_old:,} 条 → "
                         f"现在 {new:,} 条（导入文件替换整个图层，不是追加）")
    return notes


def region_summary(region: store.Region) -> pd.DataFrame:
    """Counts per layer and per facility kind, for ``eldermap info`` and the data page (no personal data)."""
    rows = [{"项目": f"图层 {k}", "数量": int(v["rows"])} for k, v in region.manifest.get("layers", {}).items()]
    fac = region.facilities
    if not fac.empty and "kind" in fac:
        for kind, count in fac["kind"].value_counts().items():
            rows.append({"项目": f"设施：{kind}", "数量": int(count)})
        rows.append({"项目": "床位总数", "数量": int(np.nansum(fac["beds_total"].astype("float64")))})
    areas = region.areas
    if not areas.empty and "level" in areas:
        for level, count in areas["level"].value_counts().items():
            rows.append({"项目": f"区划：{AREA_LEVEL_ZH.get(level, level)}", "数量": int(count)})
    return pd.DataFrame(rows)


__all__ = ["AreaAssignment", "ImportOutcome", "assign_areas", "complete_area_hierarchy", "import_region",
           "merge_areas", "region_summary", "replaced_layer_notes"]
