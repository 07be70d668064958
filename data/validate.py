"""Validation of staff files: every problem of a file in one report, good rows kept.

:func:`validate_table` reads a file (any format :mod:`data.readers` knows),
parses every field by its :class:`~data.schema.FieldSpec`, checks
identifiers, enumerations, coordinates, cross-field rules and duplicates,
converts coordinates to WGS-84, pseudonymises personal identifiers and
returns the good rows, the rejected rows and a problem list naming file, row,
field, value and reason (in Chinese). ``rows read = rows imported + rows
rejected`` always holds.

Rows with an *error* are rejected; *warnings* keep the row (an unknown
service tag is dropped from the row, say). Sensitive values (ID numbers,
names, addresses of elders) are masked in reports and rejects files and never
stored: elders are kept under a salted-hash pseudonym with birth year and
month only (周岁 at the statistics date are exact to the month, the day is dropped).

The 12349 desk's tables go through the same machinery: the service list (``service_items``), carers and
orders. Carers and orders are personal like elders (names, ID numbers, phones and addresses dropped; carers
under "C" pseudonyms, orders' elders under the same pseudonym as the elders layer: :func:`elder_pseudonym`) and
are checked against the region's other layers (``related``): a carer's provider must be a home-care provider;
an order's items must be in the service list (names mapped to codes), its window must end after it starts,
its timestamps follow the states in order and its status agrees with them, its carer belongs to its
provider, its satisfaction is 1–5 and its subsidy group is one of its items' eligible groups.

Two engines give the same result: ``engine="columns"`` (the default) cleans, parses and checks a whole
column at a time (:mod:`data.columns`: vectorised pre-checks settle the clean cells, columns with few distinct
values are parsed once per value, and only the messy or wrong cells go through the cell-by-cell functions);
``engine="rows"`` is the cell-by-cell, row-by-row code kept as the reference the column path is tested against
(tests/test_validate_columns.py).

Whole files are refused (:class:`~geo.errors.InputFileError`) when they have a
header and no data rows, or when their coordinates are projected metres with no
CRS declared (the likely CRS is named: :func:`guess_projected_crs`). Row by row:
placeholder coordinates (:func:`placeholder_reasons`), text longer than
``settings.max_text_length`` (never echoed whole), and invalid area polygons
(repaired with ``shapely.make_valid`` and warned, or rejected when the repair
changes the area by more than :data:`POLYGON_AREA_TOLERANCE`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely

from data import columns, ids
from data.formats import EXCEL_SUFFIXES, TEXT_SUFFIXES
from data.readers import (
    RawTable,
    TextScan,
    iter_chunks,
    iter_text_chunks,
    read_table,
    scan_text_share,
    text_stream_plan,
)
from data.schema import (
    ABILITY_ALIASES,
    ABILITY_LEVELS,
    CANCELLED,
    CHANNEL_ALIASES,
    COMMUNITY_TYPE_ALIASES,
    DISABILITY_GRADE_ALIASES,
    EMERGENCY_CATEGORY,
    GROUP_ALIASES,
    LEVEL_ALIASES,
    NATURE_ALIASES,
    ORDER_STATES,
    PERSONAL_TABLES,
    REGISTRATION_ALIASES,
    SATISFACTION_ALIASES,
    SEX_ALIASES,
    STATE_TIMESTAMPS,
    STATUS_ALIASES,
    TABLE_ZH,
    TABLES,
    URGENCY_ALIASES,
    YES_NO_ALIASES,
    FieldSpec,
)
from data.store import file_sha256, point_layer_table, write_table
from data.store import layer_table as store_layer_table
from data.vocab import KIND_ALIASES, KIND_KEYWORDS
from geo import coords, hexes
from geo.ages import age_at
from geo.crs import transformer, working_crs
from geo.errors import ElderMapError, InputFileError, NoCrsError
from geo.labels import AREA_LEVEL_SHORT_ZH
from geo.settings import Settings

log = logging.getLogger(__name__)

ERROR = "错误"
WARNING = "警告"
PROBLEM_COLUMNS = ["文件", "行号", "字段", "值", "问题", "级别"]
REJECTS_NOTE_ELDERS = "拒绝行清单仅供对照原文件改正（个人信息已遮盖），请在原文件中改正后重新导入"
"""Elders' rejects files mask IDs, names and positions (personal data is not copied around): not re-importable."""
REJECTS_NOTE_REIMPORT = "拒绝行清单保留了原值，改正后可直接导入本文件"
"""Facilities' and areas' rejects files keep every value as read: corrected, they import as they are."""

_TAG_SPLIT = re.compile(r"[、,，;；/|\s]+")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5}
_PHONE = re.compile(r"^[0-9+\-()（）\s转]{5,30}$")
_SENSITIVE_MASK = "（已隐去）"
_SHOWN_MAX = 40
"""Longest value (characters) echoed in a report cell; longer ones are cut, with their length."""
_CN_MONTHS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10, "十一": 11,
              "十二": 12, "正": 1, "冬": 11, "腊": 12}
_DERIVED_GROUPS = frozenset({"高龄", "高龄老人"})
"""Groups computed from the birth date at the statistics date: accepted in a file and dropped without a warning."""
_PLACEHOLDER_NINES = frozenset(float(int("9" * k)) for k in range(3, 10))
"""999, 9999, ... : fill values some systems write for an unknown coordinate."""
POLYGON_AREA_TOLERANCE = 0.01
"""A repaired self-intersecting polygon is kept when make_valid changes its area by at most this share."""
_CRS_GUESS_MARGIN_M = 20_000.0
"""A candidate CRS "fits" when it puts the data within this many metres of the region."""
_INVALID_REASON_ZH = (("Ring Self-intersection", "边界环自相接"), ("Self-intersection", "边界自相交"),
                      ("Duplicate Rings", "重复的边界环"), ("Hole lies outside shell", "内环落在外环之外"),
                      ("Interior is disconnected", "内部被分割"), ("Nested shells", "外环相互嵌套"),
                      ("Nested holes", "内环相互嵌套"), ("Too few points", "边界点数过少"),
                      ("Invalid Coordinate", "坐标无效"), ("Ring not closed", "边界环未闭合"))


@dataclass
class ValidationResult:
    """Outcome of validating one file.

    Attributes
    ----------
    table
        A table of :data:`data.schema.TABLES`: "facilities", "elders", "areas", "service_items", "carers", "orders".
    path
        The file validated.
    n_read
        Data rows read (blank rows excluded).
    good
        Rows that passed, typed, in EPSG:4326, personal data pseudonymised.
    rejects
        Rejected rows as read (sensitive fields masked) with their row number and reasons.
    problems
        One row per problem: 文件, 行号, 字段, 值, 问题, 级别 (错误 rejects the row; 警告 keeps it).
    source
        Provenance for the manifest: path, sha256, format details, declared CRS, counts.
    """

    table: str
    path: Path
    n_read: int
    good: gpd.GeoDataFrame
    rejects: pd.DataFrame
    problems: pd.DataFrame
    source: dict[str, Any] = field(default_factory=dict)
    n_good: int | None = None
    """Rows imported when ``good`` does not hold them all (:func:`validate_stream` hands them out block by block)."""
    worker_peaks_mb: list[float] = field(default_factory=list)
    """Peak resident memory (MB) of each worker process that validated the file's blocks (none: empty)."""

    @property
    def n_imported(self) -> int:
        return len(self.good) if self.n_good is None else self.n_good

    @property
    def n_rejected(self) -> int:
        return len(self.rejects)

    @property
    def ok(self) -> bool:
        return self.n_rejected == 0

    def rejects_note_zh(self) -> str:
        """What the rejects file is, in a staff member's words ("" when no row was rejected).

        Elders, carers and orders: the file masks IDs, names and positions, so it is a list to correct the
        original by. Facilities, areas and the service list: full values, so the file itself can be corrected
        and imported.
        """
        if not self.n_rejected:
            return ""
        return REJECTS_NOTE_ELDERS if self.table in PERSONAL_TABLES else REJECTS_NOTE_REIMPORT

    def summary_zh(self) -> str:
        """One line such as "读取 120 行 = 可导入 117 行 + 拒绝 3 行；警告 5 条", with :meth:`rejects_note_zh`."""
        n_warn = int((self.problems["级别"] == WARNING).sum()) if len(self.problems) else 0
        note = self.rejects_note_zh()
        return (f"{self.path.name}（{TABLE_ZH[self.table]}）：读取 {self.n_read} 行 = 可导入 {self.n_imported} 行"
                f" + 拒绝 {self.n_rejected} 行；警告 {n_warn} 条" + (f"。{note}" if note else ""))


class _Columns(dict[str, list[Any]]):
    """Parsed values of one file, column name -> list (row i at index i); ``n`` rows.

    Plain lists, not a DataFrame: the rules below read and write single cells
    millions of times, and list indexing is two orders of magnitude faster than ``.at``.
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.ages: tuple[list[Any], list[Any], dt.date, np.ndarray] | None = None
        """(birth_year, birth_month, day, their age_at) once the elders' rules computed it, for the typed frame
        (reused while the two columns are the same lists)."""

    def ages_at(self, today: dt.date) -> np.ndarray:
        """:func:`age_at` of the birth year and month columns at ``today`` (computed once while they are the same
        lists; the rules replace a column's list when they change it)."""
        year, month = self["birth_year"], self["birth_month"]
        if self.ages is None or self.ages[0] is not year or self.ages[1] is not month or self.ages[2] != today:
            self.ages = (year, month, today, age_at(year, month, today))
        return self.ages[3]


_COORDINATE_FIELDS = frozenset({"经度", "纬度", "经纬度", "坐标", "位置"})
_COARSE = re.compile(r"(\d{1,3}\.\d{2})\d+")


class _Collector:
    """Gathers problems of one file; remembers which rows have errors."""

    def __init__(self, file_name: str, source_rows: np.ndarray, *, coarse_coordinates: bool = False) -> None:
        self.file_name = file_name
        self.source_rows = source_rows
        self.coarse_coordinates = coarse_coordinates
        """Elders' homes: coordinates in problems are cut to 2 decimals (about 1 km), enough to see a swap or a
        wrong region, not enough to find the house (the row number finds it in the original file)."""
        self.records: list[tuple[str, str, str, str, str, str]] = []
        self.bad_rows: set[int] = set()
        self.reasons: dict[int, list[str]] = defaultdict(list)

    def add(self, i: int | None, field_zh: str, value: object, reason: str, *, level: str = ERROR) -> None:
        row = "—" if i is None else str(int(self.source_rows[i]))
        if isinstance(value, (bool, np.bool_)):
            value = _yes_no(value)
        shown = "" if value is None or (isinstance(value, float) and np.isnan(value)) else _clip(str(value))
        if self.coarse_coordinates and field_zh in _COORDINATE_FIELDS:
            shown, reason = _COARSE.sub(r"\1", shown), _COARSE.sub(r"\1", reason)
        field_zh = _clip(field_zh)
        self.records.append((self.file_name, row, field_zh, shown, reason, level))
        if i is not None and level == ERROR:
            self.bad_rows.add(i)
            self.reasons[i].append(f"{field_zh}：{reason}")

    def frame(self) -> pd.DataFrame:
        """Problems sorted by row (file-level ones first), in the order they were found within a row."""
        order = sorted(range(len(self.records)),
                       key=lambda k: (-1 if self.records[k][1] == "—" else int(self.records[k][1]), k))
        return pd.DataFrame([self.records[k] for k in order], columns=PROBLEM_COLUMNS)


def _yes_no(value: object) -> object:
    """是/否 for a boolean (staff never see True/False); anything else unchanged."""
    return ("是" if value else "否") if isinstance(value, (bool, np.bool_)) else value


_PLAIN_TYPES = frozenset({str, int, float, type(None)})
"""Value types :func:`_yes_no` leaves as they are, and whose column type pandas infers alike after ``map`` and by
``infer_objects``."""


def _yes_no_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame.astype(object).map(_yes_no)``: a column of text, numbers and None only has its type inferred (the
    same type, without a call per cell), any other goes through :func:`_yes_no`."""
    out = frame.astype(object)
    for name in out.columns:
        column = out[name]
        out[name] = (column.infer_objects() if set(map(type, column.to_numpy())) <= _PLAIN_TYPES
                     else column.map(_yes_no))
    return out


def _clip(text: str, limit: int = _SHOWN_MAX) -> str:
    """``text`` cut to ``limit`` characters for a report, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit - 10]}…（共 {len(text)} 字）"


def _parse_number(text: str) -> float | None:
    t = ids.fullwidth_to_halfwidth(text).replace(",", "").replace("，", "").strip()
    t = re.sub(r"(张|人|元/月|元每月|元/次|元每次|元|岁|年|万元|个|分钟|分|单/日|单|次)$", "", t).strip()
    return float(t) if _NUMBER.match(t) else None


def _parse_grade(text: str) -> int | None:
    t = ids.fullwidth_to_halfwidth(text).strip()
    if t and set(t) <= {"★", "☆"}:
        return t.count("★") or None
    m = re.fullmatch(r"([一二三四五1-5])\s*(级|星|星级|级机构)?", t)
    return _CN_DIGITS[m.group(1)] if m else None


def _parse_birth(text: str, *, today: dt.date) -> tuple[int, int | None] | None:
    """(year, month or None) of a birth year or date: "1950", "1950-03-08", "1950年3月", "195003", "19500308".

    The day is checked (a date must exist) but never returned: only year and month are kept.
    """
    t = ids.fullwidth_to_halfwidth(text).strip()
    m = re.match(r"^(\d{4})(?:[-/.年]?(\d{1,2})(?:[-/.月]?(\d{1,2})日?)?月?)?年?(?:\s.*)?$", t)
    if not m:
        return None
    year = int(m.group(1))
    month = int(m.group(2)) if m.group(2) else None
    if month is not None:
        try:
            dt.date(year, month, int(m.group(3) or 1))
        except ValueError:
            return None
    if not 1880 <= year <= today.year or (year == today.year and month is not None and month > today.month):
        return None
    return year, month


def _parse_year(text: str, *, today: dt.date) -> int | None:
    parts = _parse_birth(text, today=today)
    return None if parts is None else parts[0]


def _parse_month(text: str) -> int | None:
    """Month 1–12 from "3", "03", "3月", "三月"."""
    t = ids.fullwidth_to_halfwidth(text).strip()
    m = re.fullmatch(r"(\d{1,2})\s*月?(份)?", t)
    if m:
        month = int(m.group(1))
    else:
        m = re.fullmatch(r"([一二三四五六七八九十正冬腊]{1,2})\s*月?(份)?", t)
        month = _CN_MONTHS.get(m.group(1), 0) if m else 0
    return month if 1 <= month <= 12 else None


def _split_tags(text: str) -> list[str]:
    return [t for t in _TAG_SPLIT.split(ids.fullwidth_to_halfwidth(text).strip()) if t]


# ---------------------------------------------------------------- home-care values

_ELIGIBLE_ALIASES = {"失能老人": "失能", "半失能": "失能", "失能半失能": "失能", "高龄老人": "高龄", "全体": "全体老年人",
                     "所有老年人": "全体老年人", "全部老年人": "全体老年人", "老年人": "全体老年人"}
_CATEGORY_ALIASES = {"生活照护": "生活照料", "家政": "家政服务", "健康": "健康管理", "医疗护理": "健康管理",
                     "紧急": "紧急救援", "应急救援": "紧急救援", "精神关爱": "精神慰藉", "心理慰藉": "精神慰藉"}
_CODE_SPLIT = re.compile(r"[、,，;；|\n]+")
"""Separators of an order's items (not spaces or slashes: item names may hold them)."""
_SKILL_WORDS = (("高级技师", 5), ("技师", 4), ("高级工", 3), ("中级工", 2), ("初级工", 1), ("高级", 3), ("中级", 2),
                ("初级", 1))
_CLOCK = r"(\d{1,2})(?:[:：点时](\d{2})?分?|(\d{2}))?"
_TIME_RANGE = re.compile(rf"^{_CLOCK}\s*[-~～—至到]+\s*{_CLOCK}$")
_DATETIME = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
                       r"(?:[T\s]*(\d{1,2})[:：时点](\d{1,2})?分?(?:[:：](\d{1,2})(?:\.\d+)?秒?)?)?"
                       r"\s*(Z|[+-]\d{2}:?\d{2})?$")
_WINDOW = re.compile(r"^(.+?\d{1,2}[:：]\d{2})\s*[-~～—至到]+\s*(\d{1,2}[:：]\d{2})$")


def _parse_skill_level(text: str) -> int | None:
    """Our level 1–5 from "3", "三级", "3级" (national grade: 一级 is the highest = 5), "高级工", "五级/初级工"."""
    t = re.sub(r"\s", "", ids.fullwidth_to_halfwidth(text))
    if re.fullmatch(r"[1-5]", t):
        return int(t)
    m = re.match(r"^([一二三四五1-5])级", t)
    if m:
        return 6 - _CN_DIGITS[m.group(1)]
    return next((level for word, level in _SKILL_WORDS if word in t), None)


def _clock_minutes(hour: str, minute: str | None, compact: str | None) -> int | None:
    h, m = int(hour), int(minute or compact or 0)
    if m > 59 or h > 24 or (h == 24 and m):
        return None
    return 60 * h + m


def _parse_time_range(text: str) -> tuple[int, int] | str:
    """(start, end) minutes after midnight of "08:00-17:00" ("8:00～17:00", "8点-17点"); else a reason."""
    m = _TIME_RANGE.match(ids.fullwidth_to_halfwidth(text).strip())
    if not m:
        return "无法识别的时间段（应如“08:00-17:00”）"
    start, end = _clock_minutes(*m.group(1, 2, 3)), _clock_minutes(*m.group(4, 5, 6))
    if start is None or end is None:
        return "时间段中的时刻无效（小时 0–24，分钟 0–59）"
    if end <= start:
        return "结束时刻须晚于开始时刻（不支持跨夜的时间段）"
    return start, end


def _format_range(start_min: int, end_min: int) -> str:
    return f"{start_min // 60:02d}:{start_min % 60:02d}-{end_min // 60:02d}:{end_min % 60:02d}"


def _parse_datetime(text: str, *, settings: Settings) -> dt.datetime | None:
    """A timezone-naive local datetime from "2026-12-01 09:00", "2026/12/1 9:00:00", "2026年12月1日9时"
    (a date alone is midnight); an offset ("+08:00", "Z") is converted to ``settings.display_timezone``."""
    m = _DATETIME.match(ids.fullwidth_to_halfwidth(text).strip())
    if not m:
        return None
    year, month, day, hour, minute, second, zone = m.groups()
    try:
        value = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    if zone:
        offset = dt.timedelta(0) if zone == "Z" else (1 if zone[0] == "+" else -1) * dt.timedelta(
            hours=int(zone[1:3]), minutes=int(zone[-2:]))
        aware = value.replace(tzinfo=dt.timezone(offset))
        local = aware.astimezone(zoneinfo.ZoneInfo(settings.display_timezone)) if settings.display_timezone \
            else aware.astimezone()
        value = local.replace(tzinfo=None)
    return value


def _parse_datetime_cell(text: str, *, settings: Settings, window: bool = False,
                         ) -> dt.datetime | tuple[dt.datetime, dt.datetime] | None:
    """:func:`_parse_datetime`; with ``window``, also "2026-12-01 09:00-11:00" as (start, end)."""
    if window:
        m = _WINDOW.match(ids.fullwidth_to_halfwidth(text).strip())
        if m:
            start = _parse_datetime(m.group(1), settings=settings)
            clock = _clock_minutes(*m.group(2).replace("：", ":").split(":"), None)
            if start is not None and clock is not None and clock < 24 * 60:
                end = dt.datetime.combine(start.date(), dt.time(clock // 60, clock % 60))
                return start, end
            return None
    return _parse_datetime(text, settings=settings)


def elder_pseudonym(value: str, salt: bytes) -> str:
    """The pseudonym an elder gets at import from a resident ID number or, otherwise, a 老人编号 — the same as
    the elders layer's ``pid`` when the elders file identified the person by the same value."""
    number = ids.normalise_resident_id(value)
    if ids.check_resident_id(number) is None:
        return ids.pseudonymise(number, salt)
    return ids.pseudonymise("src:" + value, salt)


def carer_pseudonym(value: str, salt: bytes) -> str:
    """A carer's pseudonym: "C" + 20 hex characters of the keyed hash of their 人员编号 (never equal to an elder's)."""
    return "C" + ids.pseudonymise("carer:" + value, salt)[1:]


def _mask(spec: FieldSpec, value: str | None) -> str | None:
    """Masked form of a sensitive value for reports: 110105********002X, 张*, (已隐去)."""
    if value is None or not spec.sensitive:
        return value
    if spec.type == "resident_id" and len(value) >= 10:
        return value[:6] + "*" * (len(value) - 10) + value[-4:]
    if spec.name == "name":
        return value[:1] + "*" * max(len(value) - 1, 1)
    return _SENSITIVE_MASK


def _choice(spec: FieldSpec, text: str, *, settings: Settings) -> tuple[str | None, str]:
    """Map an enum value to an allowed choice; returns (value, reason-if-not)."""
    if spec.name == "kind":
        allowed = settings.facility_kinds
        value = text if text in allowed else KIND_ALIASES.get(text)
        value = value if value in allowed else None
        if value is None:
            guess = next((kind for word, kind in KIND_KEYWORDS if word in text and kind in allowed), None)
            if guess is not None:
                return guess, f"已按名称归类为“{guess}”，请核对"
    elif spec.name == "nature":
        allowed = spec.choices or ()
        value = text if text in allowed else NATURE_ALIASES.get(text)
    elif spec.name == "ability_level":
        allowed = ABILITY_LEVELS
        value = text if text in allowed else ABILITY_ALIASES.get(text.replace("级", "").strip())
    elif spec.name == "sex":
        allowed = spec.choices or ()
        value = text if text in allowed else SEX_ALIASES.get(text.lower())
    elif spec.name == "level":
        allowed = spec.choices or ()
        value = text if text in allowed else LEVEL_ALIASES.get(text)
    elif spec.name == "disability_grade":
        allowed = spec.choices or ()
        t = ids.fullwidth_to_halfwidth(text).replace(" ", "")
        value = t if t in allowed else DISABILITY_GRADE_ALIASES.get(re.sub(r"残疾|等级|级|等|类", "", t))
    elif spec.name == "community_type":
        allowed = spec.choices or ()
        t = text.replace(" ", "")
        value = t if t in allowed else COMMUNITY_TYPE_ALIASES.get(t)
    elif spec.name == "population_type":
        allowed = spec.choices or ()
        t = ids.fullwidth_to_halfwidth(text).replace(" ", "")
        value = t if t in allowed else None
    elif spec.name in ("service_tag", "skill"):
        allowed = settings.service_tags if spec.name == "service_tag" else settings.carer_skills
        value = text if text in allowed else None
    elif spec.name in ("urgency", "channel", "status", "subsidy_group", "category"):
        allowed = spec.choices or ()
        t = ids.fullwidth_to_halfwidth(text).replace(" ", "")
        aliases = {"urgency": URGENCY_ALIASES, "channel": CHANNEL_ALIASES, "status": STATUS_ALIASES,
                   "subsidy_group": {**GROUP_ALIASES, **_ELIGIBLE_ALIASES}, "category": _CATEGORY_ALIASES}[spec.name]
        value = t if t in allowed else aliases.get(t, aliases.get(t.lower()))
    else:
        allowed = spec.choices or ()
        value = text if text in allowed else None
    return value, f"不是允许的取值（允许：{'、'.join(allowed)}）"


def _parse_column(spec: FieldSpec, raw: Sequence[str | None], col: _Collector, *, settings: Settings,
                  today: dt.date) -> list[Any]:
    """Parse one column cell by cell; problems go to ``col``. Returns parsed values (None where missing or bad).

    The reference for :func:`_parse_column_fast`, which gives the same values and problems a column at a time.
    """
    return [_parse_cell(spec, i, text, col, settings=settings, today=today) for i, text in enumerate(raw)]


def _parse_cell(spec: FieldSpec, i: int, text: str | None, col: _Collector | _Recorder, *, settings: Settings,
                today: dt.date) -> Any:
    """Parsed value of the cell of row ``i`` (None where missing or bad); at most one problem goes to ``col``.

    Depends on nothing but ``spec``, ``text``, ``settings`` and ``today`` (``i`` only names the row).
    """
    allowed_tags = {"services": settings.service_tags, "skills": settings.carer_skills}.get(
        spec.name, spec.choices or ())
    limit = settings.max_text_length
    shown = _mask(spec, text)
    if text is None:
        if spec.required:
            col.add(i, spec.zh, None, "必填项为空")
        return None
    if len(text) > limit:
        col.add(i, spec.zh, shown, f"内容过长（{len(text)} 字，超过上限 {limit} 字，见设置 max_text_length）")
        return None
    value: Any = None
    if spec.type == "str":
        value = text
    elif spec.type in ("int", "float"):
        number = _parse_number(text)
        if spec.name == "grade":
            value = _parse_grade(text)
            if value is None:
                col.add(i, spec.zh, shown, "等级应为 1–5（如“三级”“3”“★★★”）")
        elif spec.name == "satisfaction" and number is None and text.strip() in SATISFACTION_ALIASES:
            value = SATISFACTION_ALIASES[text.strip()]
        elif number is None:
            col.add(i, spec.zh, shown, "不是数字")
        elif spec.name in ("lon", "lat"):
            value = float(number)  # ranges, placeholders and projected metres: see _coordinates
        elif spec.type == "int" and number != int(number):
            col.add(i, spec.zh, shown, "应为整数")
        elif spec.minimum is not None and number < spec.minimum:
            col.add(i, spec.zh, shown, "不能为负数" if spec.minimum == 0 else f"不能小于 {spec.minimum:g}")
        elif spec.maximum is not None and number > spec.maximum:
            col.add(i, spec.zh, shown, f"超出合理范围（最大 {spec.maximum:g}）")
        else:
            value = int(number) if spec.type == "int" else float(number)
    elif spec.type == "enum":
        value, reason = _choice(spec, text.strip(), settings=settings)
        if value is None:
            col.add(i, spec.zh, shown, reason)
        elif value != text.strip() and reason.startswith("已按"):
            col.add(i, spec.zh, shown, reason, level=WARNING)
    elif spec.type == "tags":
        tags = _split_tags(text)
        if spec.name == "groups":
            tags = [t if t in allowed_tags else GROUP_ALIASES.get(t, t) for t in tags if t not in _DERIVED_GROUPS]
        elif spec.name == "eligible_groups":
            tags = [t if t in allowed_tags else _ELIGIBLE_ALIASES.get(t, GROUP_ALIASES.get(t, t)) for t in tags]
        unknown = [t for t in tags if t not in allowed_tags]
        if unknown:
            col.add(i, spec.zh, shown, f"未知标签“{'、'.join(unknown)}”已忽略（允许：{'、'.join(allowed_tags)}）",
                    level=WARNING)
        value = [t for t in dict.fromkeys(tags) if t in allowed_tags]
    elif spec.type == "year":
        value = _parse_year(text, today=today)
        if value is None:
            col.add(i, spec.zh, shown, f"无法识别的年份或日期（应如 1950 或 1950-03-08，且不晚于 {today.year} 年）")
    elif spec.type == "month":
        value = _parse_month(text)
        if value is None:
            col.add(i, spec.zh, shown, "出生月份应为 1–12（如“3”“03”“3月”）")
    elif spec.type == "bool":
        value = YES_NO_ALIASES.get(ids.fullwidth_to_halfwidth(text).strip().lower())
        if value is None:
            col.add(i, spec.zh, shown, "不是允许的取值（允许：是、否；也认 有/无、√/×、1/0、Y/N）")
    elif spec.type == "division":
        code = ids.normalise_division_code(text)
        reason = ids.check_division_code(code)
        expected = {"district_code": 6, "street_code": 9, "community_code": 12}.get(spec.name)
        if reason is None and expected and len(code) != expected:
            reason = f"应为 {expected} 位（收到 {len(code)} 位）"
        if reason:
            col.add(i, spec.zh, shown, reason)
        else:
            value = code
    elif spec.type in ("uscc", "resident_id"):
        if spec.type == "uscc":
            code = ids.normalise_uscc(text)
            reason = ids.check_uscc(code)
        else:
            code = ids.normalise_resident_id(text)
            reason = ids.check_resident_id(code, today=today)
        if reason:
            col.add(i, spec.zh, shown, reason)
        else:
            value = code
    elif spec.type == "phone":
        if _PHONE.match(text):
            value = text.strip()
        else:
            col.add(i, spec.zh, shown, "电话号码格式不对，已忽略", level=WARNING)
    elif spec.type == "skill_level":
        value = _parse_skill_level(text)
        if value is None:
            col.add(i, spec.zh, shown, "职业技能等级应为 1–5，或“五级/初级工”“四级/中级工”“三级/高级工”“二级/技师”"
                    "“一级/高级技师”")
    elif spec.type == "time_range":
        parsed_range = _parse_time_range(text)
        if isinstance(parsed_range, str):
            hours = spec.name == "hours"  # a facility is not rejected for its opening hours
            col.add(i, spec.zh, shown, parsed_range + ("，已忽略" if hours else ""), level=WARNING if hours else ERROR)
        else:
            value = _format_range(*parsed_range) if spec.name == "hours" else parsed_range
    elif spec.type == "datetime":
        value = _parse_datetime_cell(text, settings=settings, window=spec.name == "window_start")
        if value is None:
            col.add(i, spec.zh, shown, "无法识别的日期时间（应如“2026-12-01 09:00”，本地时间）"
                    + ("；或写成时段“2026-12-01 09:00-11:00”" if spec.name == "window_start" else ""))
    elif spec.type == "codes":
        value = [t for t in dict.fromkeys(_CODE_SPLIT.split(ids.fullwidth_to_halfwidth(text).strip())) if t]
    return value



class _Recorder:
    """Stands in for a :class:`_Collector` while :func:`_parse_cell` parses one distinct value: keeps the
    problem (its arguments to ``add``) to be replayed for every row holding that value."""

    def __init__(self) -> None:
        self.calls: dict[int, tuple[str, object, str, str]] = {}

    def add(self, i: int, field_zh: str, value: object, reason: str, *, level: str = ERROR) -> None:
        self.calls[i] = (field_zh, value, reason, level)


_FAST_DECIMAL_NAMES = frozenset({"lon", "lat"})


def _parse_column_fast(spec: FieldSpec, raw: Sequence[str | None], col: _Collector, *, settings: Settings,
                       today: dt.date) -> list[Any]:
    """:func:`_parse_column` a column at a time: the same values, and the same problems for the same rows.

    Resident ID numbers and credit codes: a vectorised check (:func:`data.ids.canonical_valid_resident_ids`,
    :func:`data.ids.canonical_valid_usccs`) passes clean, valid numbers; the others (messy or wrong) go
    through :func:`_parse_cell`. Free text: only missing required cells and overlong ones go cell by cell. Coordinates: plain decimals are read by Arrow, the rest cell by cell.
    Everything else (enumerations, tags, yes/no, years, months, numbers, codes, dates) is parsed once per
    distinct value and spread to its rows (each cell's parse depends on its text alone); problems are
    replayed row by row. A list value (tags) is shared by the rows with the same text: treat it as read-only.
    """
    n = len(raw)
    values = raw if isinstance(raw, np.ndarray) and raw.dtype == object and raw.ndim == 1 else columns.object_array(raw)
    has = columns.present_text(values)  # cells: text or None
    limit = settings.max_text_length
    slow: np.ndarray | None = None
    if spec.type in ("resident_id", "uscc"):
        ok = np.zeros(n, dtype=bool)
        if limit >= 18:
            ok = (ids.canonical_valid_resident_ids(values, today=today) if spec.type == "resident_id"
                  else ids.canonical_valid_usccs(values))
        out = np.where(ok, values, None)
        slow = np.flatnonzero(~ok & (has | spec.required))
    elif spec.type == "str":
        ok = has.copy()
        ok[has] = columns.lengths(values[has]) <= limit
        out = np.where(ok, values, None)
        slow = np.flatnonzero(~ok & (has | spec.required))
    elif spec.type == "float" and spec.name in _FAST_DECIMAL_NAMES and limit >= 21:
        # coordinates stay a float array (NaN: none), which is all _written_positions reads of them
        ok, numbers = columns.plain_decimals(values)
        for i in np.flatnonzero(~ok & (has | spec.required)):
            value = _parse_cell(spec, int(i), raw[i], col, settings=settings, today=today)
            numbers[i] = np.nan if value is None else value
        return numbers  # type: ignore[return-value]
    if slow is not None:
        for i in slow:
            out[i] = _parse_cell(spec, int(i), raw[i], col, settings=settings, today=today)
        return out.tolist()
    codes, uniques = columns.factorize(values)
    recorder = _Recorder()
    table = np.empty(len(uniques) + 1, dtype=object)
    for k, text in enumerate(uniques):
        table[k] = _parse_cell(spec, k, text, recorder, settings=settings, today=today)
    table[-1] = None
    problem_of = np.full(len(uniques) + 1, False)
    problem_of[list(recorder.calls)] = True
    for i in np.flatnonzero(problem_of[codes] | ((codes < 0) & spec.required)):
        if codes[i] < 0:
            _parse_cell(spec, int(i), None, col, settings=settings, today=today)
        else:
            field_zh, shown, reason, level = recorder.calls[codes[i]]
            col.add(int(i), field_zh, shown, reason, level=level)
    return table[codes].tolist()


Extent = coords.Extent


def _floats(values: Sequence[Any] | np.ndarray | None, n: int) -> np.ndarray:
    """New float array of parsed numbers (floats, ints or None; or a float array), NaN for None."""
    return np.full(n, np.nan) if values is None else columns.numbers(values)


def _geometry_array(geometry: Sequence[Any]) -> np.ndarray:
    geoms = np.empty(len(geometry), dtype=object)
    geoms[:] = list(geometry)
    return geoms


def _is_geographic(file_crs: str | None) -> bool:
    """Whether a file's coordinates are meant to be degrees (no CRS: yes, as declared with --crs)."""
    return file_crs is None or pyproj.CRS.from_user_input(file_crs).is_geographic


def _written_positions(parsed: dict[str, list[Any]], geometry: Sequence[Any] | None, n: int, *,
                       points_only: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, from_geometry) of each row as written in the file: lon/lat columns, else a point geometry.

    With ``points_only=False`` (areas files) any geometry gives the centre of its bounds. Values are
    in the file's own units (degrees, or metres for a file with a projected CRS).
    """
    x, y = _floats(parsed.get("lon"), n), _floats(parsed.get("lat"), n)
    from_geometry = np.zeros(n, dtype=bool)
    if geometry is not None:
        geoms = _geometry_array(geometry)
        bounds = shapely.bounds(geoms)  # NaN for missing or empty geometries
        with np.errstate(invalid="ignore"):
            gx, gy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
        if points_only:
            gx[shapely.get_type_id(geoms) != 0] = np.nan
        from_geometry = np.isnan(x) & np.isnan(y) & ~np.isnan(gx)
        x, y = np.where(from_geometry, gx, x), np.where(from_geometry, gy, y)
    return x, y, from_geometry


def placeholder_reasons(x: np.ndarray, y: np.ndarray, *, degrees: np.ndarray | bool = True,
                        region_extent: Extent | None = None, margin_m: float = 1000.0) -> list[str | None]:
    """Why each (x, y) looks like a placeholder rather than a position (None: it does not).

    Placeholders: a zero coordinate ((0, 0), (0, y), (x, 0)); both coordinates equal ((1, 1),
    (-1, -1), (999, 999)); a fill value of nines (999, 9999, ...); and, when the region is known,
    whole-degree values ``degrees`` far outside it (farther than ``margin_m``).
    """
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    has = np.isfinite(x) & np.isfinite(y)
    zero = has & ((x == 0) | (y == 0))
    equal = has & (x == y)
    nines = has & (np.isin(np.abs(x), list(_PLACEHOLDER_NINES)) | np.isin(np.abs(y), list(_PLACEHOLDER_NINES)))
    far = np.zeros(len(x), dtype=bool)
    if region_extent is not None:
        whole = has & (x == np.round(x)) & (y == np.round(y)) & np.asarray(degrees, dtype=bool)
        far = whole & coords.outside_extent(x, y, region_extent, margin_m)
    return _first_reasons(len(x), (zero, "经度或纬度为 0"), (equal, "经度与纬度相同"),
                          (nines, "含 999 之类的填充值"), (far, "经纬度都是整数，且远在本地区范围之外"))


def _first_reasons(n: int, *rules: tuple[np.ndarray, str]) -> list[str | None]:
    """Per row, the text of the first rule whose mask is True there (None where none is)."""
    reasons: list[str | None] = [None] * n
    for mask, text in reversed(rules):  # earlier rules overwrite later ones
        for k in np.flatnonzero(mask):
            reasons[k] = text
    return reasons


def crs_name_zh(code: int) -> str:
    """Chinese name of a projected CRS that staff files use (EPSG code), else PROJ's own name."""
    named = (
        (4513, 4533, lambda c: f"CGCS2000 高斯-克吕格三度带第 {c - 4488} 带（横坐标带带号）"),
        (4491, 4501, lambda c: f"CGCS2000 高斯-克吕格六度带第 {c - 4478} 带（横坐标带带号）"),
        (4534, 4554, lambda c: f"CGCS2000 高斯-克吕格三度带，中央经线 {75 + 3 * (c - 4534)}°E（不带带号）"),
        (4502, 4512, lambda c: f"CGCS2000 高斯-克吕格六度带，中央经线 {75 + 6 * (c - 4502)}°E（不带带号）"),
        (2349, 2369, lambda c: f"西安80 高斯-克吕格三度带第 {c - 2324} 带"),
        (2327, 2337, lambda c: f"西安80 高斯-克吕格六度带第 {c - 2314} 带"),
        (2401, 2421, lambda c: f"北京54 高斯-克吕格三度带第 {c - 2376} 带"),
        (21413, 21423, lambda c: f"北京54 高斯-克吕格六度带第 {c - 21400} 带"),
        (32601, 32660, lambda c: f"WGS 84 / UTM 第 {c - 32600} 带（北半球）"),
        (32701, 32760, lambda c: f"WGS 84 / UTM 第 {c - 32700} 带（南半球）"),
        (3857, 3857, lambda c: "Web 墨卡托（网络地图、天地图 _w 瓦片所用）"),
    )
    for low, high, name in named:
        if low <= code <= high:
            return name(code)
    return str(pyproj.CRS.from_epsg(code).name)


def guess_projected_crs(x: float, y: float, *, region_extent: Extent | None = None,
                        ) -> list[tuple[int, float, float, bool | None]]:
    """Projected CRSs that could hold the point (x, y) in metres: (EPSG code, lon, lat, fits the region).

    Recognised by the shape of the numbers, then checked by transforming the point:

    - an 8-digit easting whose first two digits are a Gauss-Krüger zone number (3-degree zones 25–45,
      6-degree zones 13–23): CGCS2000 first, then Xi'an 1980 and Beijing 1954 in the same zone;
    - a 6-digit easting (false easting 500 000) with a northing below 10 million: a transverse
      Mercator without zone prefix — with a known region, its UTM zone and the CGCS2000
      Gauss-Krüger 3- and 6-degree zones around its centre (without a region the zone is unknown);
    - Web Mercator (EPSG:3857) whenever the values lie within its bounds.

    ``fits`` says whether the point lands within 20 km of ``region_extent`` (None without a region);
    with a region, when any candidate fits, only those that fit are returned.
    """
    codes: list[int] = []
    if 1e7 <= x < 1e8 and 0 < y < 1e7:
        zone = int(x // 1_000_000)
        if 25 <= zone <= 45:
            codes += [4513 + zone - 25, 2349 + zone - 25, 2401 + zone - 25]
        elif 13 <= zone <= 23:
            codes += [4491 + zone - 13, 2327 + zone - 13, 21413 + zone - 13]
    if 1e5 <= x < 1e6 and 0 < y < 1e7 and region_extent is not None:
        lon0, lat0 = (region_extent[0] + region_extent[2]) / 2, (region_extent[1] + region_extent[3]) / 2
        codes.append(coords.utm_epsg(lon0, lat0))
        cm3, cm6 = 3 * round(lon0 / 3), 6 * int(np.floor(lon0 / 6)) + 3
        codes += [4534 + (cm3 - 75) // 3] if 75 <= cm3 <= 135 else []
        codes += [4502 + (cm6 - 75) // 6] if 75 <= cm6 <= 135 else []
    if abs(x) <= 20_037_508.35 and abs(y) <= 20_048_966.11:
        codes.append(3857)
    found: list[tuple[int, float, float, bool | None]] = []
    for code in dict.fromkeys(codes):
        lon, lat = transformer(f"EPSG:{code}", "EPSG:4326").transform(x, y)
        if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            continue
        fits = None if region_extent is None else not bool(
            coords.outside_extent(lon, lat, region_extent, _CRS_GUESS_MARGIN_M))
        found.append((code, float(lon), float(lat), fits))
    if region_extent is not None and any(f for *_, f in found):
        found = [c for c in found if c[3]]
    return found


def _crs_guess_zh(x: float, y: float, *, region_extent: Extent | None,
                  show_position: bool = True) -> tuple[str, list[int]]:
    """A sentence naming the likely CRSs of (x, y) metres, honest about the doubt; and their codes.

    ``show_position=False`` (elders) leaves out where each candidate would put the point.
    """
    found = guess_projected_crs(x, y, region_extent=region_extent)
    parts = [f"EPSG:{code}（{crs_name_zh(code)}"
             + (f"；按此换算约在东经 {lon:.4f}°、北纬 {lat:.4f}°" if show_position else "")
             + ("，落在本地区附近" if fits else "") + "）" for code, lon, lat, fits in found]
    text = ""
    if parts:
        text = "按数值形态，可能是：" + "；或 ".join(parts) + "。"
        if region_extent is not None and not any(f for *_, f in found):
            text += "但按这些坐标系换算后都不在本地区范围内，请核对。"
    if 1e5 <= x < 1e6 and 0 < y < 1e7 and region_extent is None:
        text += ("横坐标约 50 万米，也可能是某一带的 UTM 投影（EPSG:326xx，xx 为带号，中国在第 43–53 带）或不带带号的 "
                 "CGCS2000 高斯-克吕格投影（三度带 EPSG:4534–4554，六度带 EPSG:4502–4512），要看数据所在的中央经线；"
                 "指定地区（--region）后可进一步判断。")
    return text or "无法判断是哪种投影坐标系。", [code for code, *_ in found]


def _refuse_projected_file(path: Path, x: np.ndarray, y: np.ndarray, considered: np.ndarray, *,
                           region_extent: Extent | None, personal: bool = False) -> None:
    """Raise InputFileError when most positions meant as degrees are projected metres (no CRS declared).

    ``personal`` (elders): the message names no coordinate value (one elder's file would show a home).
    """
    has = considered & np.isfinite(x) & np.isfinite(y)
    with np.errstate(invalid="ignore"):
        metres = has & (np.abs(x) > 180) & (np.abs(y) > 90)
    if not metres.any() or 2 * metres.sum() < has.sum():
        return
    cx, cy = float(np.median(x[metres])), float(np.median(y[metres]))
    guess, codes = _crs_guess_zh(cx, cy, region_extent=region_extent, show_position=not personal)
    example = "" if personal else f"，如 x={cx:.0f}、y={cy:.0f}"
    raise InputFileError(
        f"文件 {path.name} 的坐标像是投影坐标（单位：米{example}；{int(metres.sum())}/{int(has.sum())} "
        f"个位置超出经纬度范围），但文件没有声明投影坐标系，只能按经纬度读取。{guess}"
        "请在 GIS 软件中为数据指定正确的坐标系并转换为 WGS-84 经纬度（EPSG:4326），或保存为带坐标系的 "
        "GeoPackage/Shapefile（含 .prj）后再导入。本文件未导入。",
        f"{path}: {int(metres.sum())} of {int(has.sum())} positions look like projected metres"
        + ("" if personal else f" (median x={cx:.0f}, y={cy:.0f})")
        + f" but no projected CRS is declared; candidates {codes}",
    )


def _written_lon_lat(raw: pd.DataFrame, x: np.ndarray, y: np.ndarray, i: int) -> tuple[str, str]:
    """Row ``i``'s longitude and latitude as written in the user's cells (before any conversion).

    From the lon/lat columns when both were filled, else the position as read (point geometry).
    """
    lon_text = raw["lon"].iat[i] if "lon" in raw.columns else None
    lat_text = raw["lat"].iat[i] if "lat" in raw.columns else None
    if lon_text is not None and lat_text is not None:
        return str(lon_text).strip(), str(lat_text).strip()
    return f"{x[i]:g}", f"{y[i]:g}"


def _written_pair(raw: pd.DataFrame, x: np.ndarray, y: np.ndarray, i: int) -> str:
    return ",".join(_written_lon_lat(raw, x, y, i))


_Cluster = tuple[float, float, Extent] | None
"""Where most of a file's points lie: (median lon, median lat, padded box of the points near it), or None."""


def _data_cluster(lon: np.ndarray, lat: np.ndarray) -> _Cluster:
    """The statistics :func:`geo.coords.swapped_into_data_extent` takes from a whole file's positions."""
    x, y = np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")
    has = np.isfinite(x) & np.isfinite(y)
    if has.sum() < 3:
        return None
    mx, my = float(np.median(x[has])), float(np.median(y[has]))
    with np.errstate(invalid="ignore"):
        near = has & (np.abs(x - mx) <= coords._CLUSTER_RADIUS_DEG) & (np.abs(y - my) <= coords._CLUSTER_RADIUS_DEG)
    if 2 * near.sum() <= has.sum():
        return None
    pad = coords._CLUSTER_PAD_DEG
    return mx, my, (float(x[near].min()) - pad, float(y[near].min()) - pad, float(x[near].max()) + pad,
                    float(y[near].max()) + pad)


def _swapped_into_cluster(lon: np.ndarray, lat: np.ndarray, cluster: _Cluster) -> np.ndarray:
    """:func:`geo.coords.swapped_into_data_extent` of some rows against the whole file's ``cluster``."""
    x, y = np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")
    has = np.isfinite(x) & np.isfinite(y)
    if cluster is None:
        return np.zeros(len(x), dtype=bool)
    mx, my, box = cluster
    with np.errstate(invalid="ignore"):
        near = has & (np.abs(x - mx) <= coords._CLUSTER_RADIUS_DEG) & (np.abs(y - my) <= coords._CLUSTER_RADIUS_DEG)
    return coords.looks_swapped(x, y, bbox=box) & ~near & has


def _swap_reasons(lon: np.ndarray, lat: np.ndarray, region_extent: Extent | None,
                  cluster: _Cluster | bool = False) -> list[str | None]:
    """Why each (lon, lat) as written looks swapped (None: it does not); the checks in order of certainty.
    ``cluster``: the whole file's (:func:`_data_cluster`) for a block of a streamed file; False: these rows'."""
    with np.errstate(invalid="ignore"):
        impossible = (np.abs(lat) > 90.0) & (np.abs(lon) <= 90.0)
    region = (coords.looks_swapped(lon, lat, bbox=region_extent) if region_extent is not None
              else np.zeros(len(lon), dtype=bool))
    china = (coords.looks_swapped(lon, lat, bbox=coords.CHINA_EXTENT) if region_extent is None
             else np.zeros(len(lon), dtype=bool))
    data = (coords.swapped_into_data_extent(lon, lat) if cluster is False
            else _swapped_into_cluster(lon, lat, cluster))
    return _first_reasons(len(lon), (impossible, "纬度不可能超过 90°，而交换后是合理的经纬度"),
                          (region, "交换后正好落在本地区范围内"), (data, "交换后正好落在本文件其他大多数点所在的范围内"),
                          (china, "交换后正好落在中国境内"))


def _coordinates(raw: pd.DataFrame, x: np.ndarray, y: np.ndarray, from_geometry: np.ndarray, col: _Collector, *,
                 source_crs: str, file_crs: str | None, region_extent: Extent | None,
                 settings: Settings, cluster: _Cluster | bool = False) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 lon/lat of every row (NaN where absent or bad) from the positions as written.

    Row errors: placeholders (疑似占位坐标), projected metres, one coordinate only, swapped
    longitude/latitude (latitude beyond ±90°, or the swapped point falls in the region, in the
    extent of most of the file's points, or — without a region — in China), values outside
    ±180°/±90°. Every message quotes the values as written in the user's cells. Rows from point
    geometry in a projected file CRS are transformed first; then everything is converted from
    ``source_crs``. ``cluster``: where most of the whole file's points lie (:func:`_data_cluster`), for a block
    of a streamed file; False: found from the rows given.
    """
    lon, lat = _positions_before_swap(raw, x, y, from_geometry, col, file_crs=file_crs,
                                      region_extent=region_extent, settings=settings)
    swap_why = _swap_reasons(lon, lat, region_extent, cluster)
    swapped = np.array([w is not None for w in swap_why], dtype=bool)
    for i in np.flatnonzero(swapped):
        lon_text, lat_text = _written_lon_lat(raw, x, y, int(i))
        col.add(int(i), "经纬度", f"{lon_text},{lat_text}",
                f"经度 {lon_text}、纬度 {lat_text}：经纬度可能填反了（{swap_why[i]}），请交换经度、纬度两列")
    lon[swapped] = np.nan
    lat[swapped] = np.nan
    with np.errstate(invalid="ignore"):
        bad_lon, bad_lat = np.abs(lon) > 180, np.abs(lat) > 90
    for i in np.flatnonzero(bad_lon):
        col.add(int(i), "经度", _written_lon_lat(raw, x, y, int(i))[0], "超出合理范围（经度应在 -180 到 180 之间）")
    for i in np.flatnonzero(bad_lat):
        col.add(int(i), "纬度", _written_lon_lat(raw, x, y, int(i))[1], "超出合理范围（纬度应在 -90 到 90 之间）")
    lon[bad_lon | bad_lat] = np.nan
    lat[bad_lon | bad_lat] = np.nan
    return coords.to_wgs84(lon, lat, source_crs)


def _positions_before_swap(raw: pd.DataFrame, x: np.ndarray, y: np.ndarray, from_geometry: np.ndarray,
                           col: _Collector, *, file_crs: str | None, region_extent: Extent | None,
                           settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """The first checks of :func:`_coordinates` (placeholders, projected metres, one coordinate only): the
    positions as written, NaN where a row already failed, before the swap checks."""
    lon, lat = x.copy(), y.copy()
    degrees = ~from_geometry | _is_geographic(file_crs)
    for i, why in enumerate(placeholder_reasons(x, y, degrees=degrees, region_extent=region_extent,
                                                margin_m=settings.region_margin_m)):
        if why is not None:
            col.add(i, "经纬度", f"{x[i]:g},{y[i]:g}",
                    f"疑似占位坐标（{why}）：请填写真实位置；不知道位置时留空")
            lon[i] = lat[i] = np.nan
    if not _is_geographic(file_crs) and from_geometry.any():
        moved = from_geometry & ~np.isnan(lon)
        lon[moved], lat[moved] = transformer(file_crs, "EPSG:4326").transform(lon[moved], lat[moved])
    with np.errstate(invalid="ignore"):
        projected = (np.abs(lon) > 180) & (np.abs(lat) > 90)
    for i in np.flatnonzero(projected):
        col.add(int(i), "经纬度", _written_pair(raw, x, y, int(i)),
                "坐标超出经纬度范围，像是投影坐标（米）：请转换为经纬度，或为文件声明正确的坐标系")
    lon[projected] = np.nan
    lat[projected] = np.nan
    one_missing = np.isnan(lon) ^ np.isnan(lat)
    for i in np.flatnonzero(one_missing):
        col.add(int(i), "经纬度", f"{raw['lon'].iat[i] if 'lon' in raw else ''},{raw['lat'].iat[i] if 'lat' in raw else ''}",
                "经度和纬度须同时填写")
    lon[one_missing] = np.nan
    lat[one_missing] = np.nan
    return lon, lat


def _invalid_reason_zh(geom: Any) -> str:
    reason = shapely.is_valid_reason(geom)
    zh = next((z for en, z in _INVALID_REASON_ZH if reason.startswith(en)), "几何无效")
    at = re.search(r"\[([-\d.eE+]+)\s+([-\d.eE+]+)\]", reason)
    return f"{zh}（约在 {float(at.group(1)):.6f},{float(at.group(2)):.6f}）" if at else zh


def _area_geometries(geometry: Sequence[Any], col: _Collector, *, degrees: bool) -> list[Any]:
    """Area boundaries checked one by one: polygons only, within ±180°/±90°, valid or repaired.

    A non-polygon geometry is dropped with a warning (the row stays, as a list entry without a
    boundary). An invalid polygon (self-intersecting, self-touching ring, duplicate ring...) is
    repaired with ``shapely.make_valid`` (polygonal parts kept) and kept with a warning when the
    repair changes its area by at most :data:`POLYGON_AREA_TOLERANCE`; otherwise the row is rejected.
    """
    out: list[Any] = []
    for i, geom in enumerate(geometry):
        if geom is None or geom.is_empty:
            out.append(None)
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            col.add(i, "边界", geom.geom_type, "区划边界应为面（Polygon/MultiPolygon），已忽略该几何，按无边界的名单导入",
                    level=WARNING)
            out.append(None)
            continue
        minx, miny, maxx, maxy = geom.bounds
        if degrees and (max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90):
            col.add(i, "边界", f"{minx:g},{miny:g},{maxx:g},{maxy:g}",
                    "坐标超出经纬度范围，像是投影坐标（米）：请转换为经纬度，或为文件声明正确的坐标系")
            out.append(None)
            continue
        if geom.is_valid:
            out.append(geom)
            continue
        why = _invalid_reason_zh(geom)
        repaired = shapely.make_valid(geom)
        parts = [p for p in shapely.get_parts(repaired) if p.geom_type in ("Polygon", "MultiPolygon")]
        fixed = shapely.union_all(parts) if parts else None
        before, after = abs(geom.area), (0.0 if fixed is None else fixed.area)
        change = abs(after - before) / before if before > 0 else (0.0 if after == 0 else np.inf)
        if fixed is None or fixed.is_empty or after == 0 or change > POLYGON_AREA_TOLERANCE:
            changed = "修复后没有面积" if fixed is None or fixed.is_empty or after == 0 else (
                f"用 make_valid 修复后面积变化 {change:.1%}" if np.isfinite(change) else "修复前面积为 0")
            col.add(i, "边界", why, f"边界无效：{why}；{changed}，超过 {POLYGON_AREA_TOLERANCE:.0%}，"
                    "无法自动修复：请在 GIS 软件中修正该边界")
            out.append(None)
        else:
            col.add(i, "边界", why, f"边界无效：{why}；已用 make_valid 自动修复（面积变化 {change:.2%}），请核对",
                    level=WARNING)
            out.append(fixed)
    return out


def validate_table(
    path: str | Path,
    table: str,
    *,
    settings: Settings,
    crs: str | None = None,
    salt: bytes = b"",
    region_extent: tuple[float, float, float, float] | None = None,
    roads: gpd.GeoDataFrame | None = None,
    today: dt.date | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    progress: Callable[[str], None] | None = None,
    related: Mapping[str, pd.DataFrame | None] | None = None,
    engine: str = "columns",
    chunk_rows: int | None = None,
    workers: int = 1,
) -> ValidationResult:
    """Validate one staff file and return good rows, rejects and all problems.

    Parameters
    ----------
    path
        CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 — detected), XLSX, GeoJSON, GeoPackage or GeoParquet.
    table
        A table of :data:`data.schema.TABLES`.
    settings
        Facility kinds, service tags, H3 resolution, ages, radii.
    crs
        Coordinate system of the file's coordinates: "wgs84", "cgcs2000", "gcj02" or "bd09" (aliases
        accepted). None: WGS-84 for tables; for geo files their own CRS, which must exist.
    salt
        Secret salt for pseudonymising personal identifiers (required, at least 16 bytes, for elders, carers and
        orders: :data:`data.schema.PERSONAL_TABLES`).
    region_extent
        (min lon, min lat, max lon, max lat) of the region; points farther than
        ``settings.region_margin_m`` outside it are rejected.
    roads
        Road edges of the region (EPSG:4326); used to detect mislabelled coordinate systems.
    today
        Reference date for birth dates and ages (the statistics date); default today.
    related
        Layers of the region the home-care tables refer to, by layer name: ``facilities`` (providers: kind in
        ``settings.home_care_kinds``), ``elders`` (``pid`` and position), ``service_items`` and ``carers``.
        Carers are checked against the providers; orders against the service list (required: an orders file
        cannot be checked without it), the providers, the carers and the elders. A layer not given is not
        checked against (one file-level warning says so).
    engine
        "columns" (default): cells are cleaned, parsed and checked a whole column at a time
        (:mod:`data.columns`); "rows": cell by cell and row by row, the reference the column path is
        tested against. Both give the same result: the same good rows, rejects and problems, in the same order.
    chunk_rows
        Elders CSV or workbook only: read and check the file this many rows at a time (:func:`validate_stream`) and
        gather the blocks; the same result as one pass. ``roads`` is then not used.
    workers
        With ``chunk_rows``: worker processes validating the blocks at once (:func:`validate_stream`).
    """
    if chunk_rows is not None:
        stream = validate_stream(path, table, settings=settings, chunk_rows=chunk_rows, crs=crs, salt=salt,
                                 region_extent=region_extent, today=today, encoding=encoding, sheet=sheet,
                                 workers=workers)
        goods = list(stream)
        result = stream.result()
        result.good = pd.concat(goods, ignore_index=True) if goods else result.good
        result.n_good = None
        return result
    if engine not in ("columns", "rows"):
        raise ValueError(f"engine must be 'columns' or 'rows', got {engine!r}")
    with columns.cyclic_gc_paused(engine == "columns"):
        return _validate_table(path, table, settings=settings, crs=crs, salt=salt, region_extent=region_extent,
                               roads=roads, today=today, sheet=sheet, encoding=encoding, progress=progress,
                               related=related, engine=engine)


def _validate_table(path: str | Path, table: str, *, settings: Settings, crs: str | None, salt: bytes,
                    region_extent: tuple[float, float, float, float] | None, roads: gpd.GeoDataFrame | None,
                    today: dt.date | None, sheet: str | int | None, encoding: str | None,
                    progress: Callable[[str], None] | None, related: Mapping[str, pd.DataFrame | None] | None,
                    engine: str) -> ValidationResult:
    """:func:`validate_table` (arguments checked, the collector paused by the caller)."""
    path = Path(path)
    today = today or dt.date.today()
    if table not in TABLES:
        raise ValueError(f"table must be one of {list(TABLES)}, got {table!r}")
    raw_table: RawTable = read_table(path, table, sheet=sheet, encoding=encoding, engine=engine)
    return _validate_raw(raw_table, path, table, settings=settings, crs=crs, salt=salt,
                         region_extent=region_extent, roads=roads, today=today, progress=progress, related=related,
                         engine=engine)


def _validate_raw(raw_table: RawTable, path: Path, table: str, *, settings: Settings, crs: str | None, salt: bytes,
                  region_extent: tuple[float, float, float, float] | None, roads: gpd.GeoDataFrame | None,
                  today: dt.date, progress: Callable[[str], None] | None,
                  related: Mapping[str, pd.DataFrame | None] | None, engine: str,
                  stream: _StreamState | None = None, points: bool = True) -> ValidationResult:
    """Validate the rows read from a file (a whole file, or one block of a streamed one: ``stream``).
    ``points=False``: the good rows of a point layer as :func:`_typed_frame` gives them then (a plain frame, no
    geometries, for :func:`data.store.point_layer_table`)."""
    by_columns = engine == "columns"
    raw = raw_table.frame
    if raw_table.n_rows == 0 and stream is None:
        raise InputFileError(
            f"文件 {path.name} 只有表头，没有任何数据行（空白行不计）：没有可导入的{TABLE_ZH[table]}数据。"
            "请确认选对了文件或工作表，填入数据后再导入。",
            f"{path}: header but no data rows",
        )
    has_geometry = "geometry" in raw.columns and raw["geometry"].notna().any()
    source_crs = coords.normalise_crs_name(crs or "wgs84")
    personal = table in PERSONAL_TABLES
    col = _Collector(path.name, raw_table.source_rows, coarse_coordinates=personal)
    for header in raw_table.unknown_headers if stream is None or stream.first else ():
        col.add(None, header, None, "无法识别的列，已忽略", level=WARNING)
    specs = TABLES[table]
    required_missing = [s for s in specs if s.required and s.name not in raw.columns]
    if table == "areas" and "code" not in raw.columns:
        required_missing = [s for s in required_missing if s.name == "code"] or required_missing
    if required_missing:
        found = "、".join(raw_table.header_map) or "无"
        raise InputFileError(
            f"文件 {path.name} 缺少必填列：{'、'.join(s.zh for s in required_missing)}"
            f"（可用表头如：{'、'.join(required_missing[0].aliases[:4])}；已识别：{found}）",
            f"{path}: missing required columns {[s.name for s in required_missing]}",
        )
    if progress and stream is None:
        progress(f"检查 {path.name} 的 {len(raw)} 行")
    n = len(raw)
    parsed: dict[str, list[Any]] = {}
    parse = _parse_column_fast if by_columns else _parse_column
    for spec in specs:
        if spec.name in raw.columns:
            cells = raw[spec.name].to_numpy(dtype=object) if by_columns else raw[spec.name].tolist()
            parsed[spec.name] = parse(spec, cells, col, settings=settings, today=today)
    geometry = raw["geometry"].tolist() if has_geometry else None
    x, y, from_geometry = _written_positions(parsed, geometry, n, points_only=table != "areas")
    meant_degrees = ~from_geometry | _is_geographic(raw_table.crs)
    not_placeholder = np.array([r is None for r in placeholder_reasons(x, y)], dtype=bool)
    if stream is None:  # a streamed file is checked as a whole before its first block (_stream_positions)
        _refuse_projected_file(path, x, y, meant_degrees & not_placeholder, region_extent=region_extent,
                               personal=personal)
    if has_geometry and raw_table.crs is None and crs is None:
        raise NoCrsError(
            f"文件 {path.name} 含几何图形但没有坐标系信息。请用 --crs 声明（wgs84、cgcs2000、gcj02 或 bd09）。",
            f"{path}: geometry without CRS; declare one with --crs",
        )
    if table == "areas":
        lon, lat = np.full(n, np.nan), np.full(n, np.nan)
        if geometry is not None:
            geometry = _area_geometries(geometry, col, degrees=_is_geographic(raw_table.crs))
    else:
        lon, lat = _coordinates(raw, x, y, from_geometry, col, source_crs=source_crs, file_crs=raw_table.crs,
                                region_extent=region_extent, settings=settings,
                                cluster=False if stream is None else stream.cluster)
    out = _Columns(n)
    out.update(parsed)
    if table == "elders":
        dates = raw["birth_year"].tolist() if "birth_year" in raw.columns else [None] * n
        if by_columns:
            months = columns.map_unique(dates, lambda t: (_parse_birth(t, today=today) or (0, None))[1])
            months[~columns.present(out.get("birth_year", [None] * n))] = None
            out["date_month"] = months.tolist()
        else:
            out["date_month"] = [None if t is None or v is None else (_parse_birth(t, today=today) or (0, None))[1]
                                 for t, v in zip(dates, out.get("birth_year", [None] * n), strict=True)]
    if by_columns:
        _split_area_code_columns(out)
    else:
        _split_area_code(out, col)
    _check_code_hierarchy(out, col, engine=engine)
    related = related or {}
    if table == "facilities":
        _facility_rules(out, col, engine=engine)
    elif table == "elders":
        _elder_rules(out, col, salt=salt, today=today, settings=settings, engine=engine)
    elif table == "service_items":
        _service_item_rules(out, col)
    elif table == "carers":
        _carer_rules(out, col, lon, lat, salt=salt, settings=settings, facilities=related.get("facilities"))
    elif table == "orders":
        _order_rules(out, col, lon, lat, path=path, salt=salt, settings=settings, related=related)
    else:
        _area_rules(out, col)
    if table not in ("areas", "service_items"):
        _location_rules(out, lon, lat, col, region_extent=region_extent, settings=settings, table=table,
                        raw=raw, x=x, y=y, source_crs=source_crs, engine=engine)
    good_mask = _good_mask(col, n, engine=engine)
    duplicate_ids = _duplicate_ids_columns if by_columns else _duplicate_ids
    verdict: Callable[[], None] | None = None
    if table == "facilities":
        written_ids = list(out["id"]) if "id" in out else [None] * n
        _derive_facility_ids(out, lon, lat, engine=engine)
        _facility_duplicates(out, lon, lat, good_mask, col, settings=settings, written_ids=written_ids,
                             engine=engine)
    elif table == "elders" and stream is not None:
        verdict = stream.duplicate_pids(out, good_mask, col)
    elif table == "elders":
        duplicate_ids(out, "pid", "老人", good_mask, col)
    elif table == "service_items":
        duplicate_ids(out, "code", "项目编码", good_mask, col)
        duplicate_ids(out, "name", "项目名称", good_mask, col)
    elif table == "carers":
        duplicate_ids(out, "pid", "人员编号", good_mask, col)
    elif table == "orders":
        duplicate_ids(out, "id", "工单编号", good_mask, col)
    else:
        duplicate_ids(out, "code", "区划代码", good_mask, col)
    every = _typed_frame(out, lon, lat, geometry, raw_table, table=table, settings=settings, source_crs=source_crs,
                         today=today, engine=engine, points=points)
    # (built while a worker's duplicate verdict is on its way)
    if verdict is not None:
        verdict()
    good_mask = _good_mask(col, n, engine=engine)
    good = every.loc[good_mask].reset_index(drop=True)
    del every
    if table not in ("areas", "service_items") and roads is not None and len(good) and stream is None:
        _mislabel_check(good, roads, col, source_crs=source_crs, settings=settings)
    rejects = raw.loc[~good_mask].drop(columns=["geometry"], errors="ignore").copy()
    for spec in specs:
        if spec.name in rejects.columns and (spec.sensitive or (personal and spec.name in ("lon", "lat"))):
            rejects[spec.name] = [v if v is None else (_mask(spec, v) if spec.sensitive else _SENSITIVE_MASK)
                                  for v in rejects[spec.name]]
    limit = settings.max_text_length
    for name in rejects.columns:  # overlong text is cut, never echoed whole (and never fits on re-import)
        rejects[name] = [f"{v[:limit]}…（已截断，原文 {len(v)} 字）" if isinstance(v, str) and len(v) > limit else v
                         for v in rejects[name]]
    for spec in specs:  # a yes/no field shows 是/否 (an Excel TRUE cell, "true", "1"...), never True/False
        if spec.type == "bool" and spec.name in rejects.columns:
            rejects[spec.name] = [_yes_no(YES_NO_ALIASES.get(ids.fullwidth_to_halfwidth(v).strip().lower(), v))
                                  if isinstance(v, str) else v for v in rejects[spec.name]]
    original = {canonical: header for header, canonical in raw_table.header_map.items()}
    rejects = rejects.rename(columns=original)
    rejects.insert(0, "行号", raw_table.source_rows[~good_mask])
    rejects["拒绝原因"] = ["；".join(col.reasons[i]) for i in np.flatnonzero(~good_mask)]
    rejects = rejects.map(_yes_no) if len(rejects) else rejects
    problems = col.frame()
    source = {
        "layer": table, "path": str(path), "file": path.name, "sha256": None if stream else file_sha256(path),
        "format": path.suffix.lower().lstrip("."), "encoding": raw_table.encoding, "sheet": raw_table.sheet,
        "crs_declared": source_crs, "crs_file": raw_table.crs,
        "rows_read": n, "rows_imported": int(good_mask.sum()), "rows_rejected": int((~good_mask).sum()),
    }
    assert source["rows_read"] == source["rows_imported"] + source["rows_rejected"]
    result = ValidationResult(table, path, n, good, rejects.reset_index(drop=True), problems, source)
    if stream is not None:
        return result
    log.info("validated %s as %s: read %d, imported %d, rejected %d, problems %d",
             path.name, table, n, result.n_imported, result.n_rejected, len(problems))
    return result


def _good_mask(col: _Collector, n: int, *, engine: str) -> np.ndarray:
    """Rows without an error so far."""
    if engine == "columns":
        good = np.ones(n, dtype=bool)
        good[list(col.bad_rows)] = False
        return good
    return np.array([i not in col.bad_rows for i in range(n)], dtype=bool)


def _split_area_code(out: _Columns, col: _Collector) -> None:
    """Place a generic area code into district/street/community by its length, and fill parents."""
    n = out.n
    for name in ("district_code", "street_code", "community_code"):
        if name not in out:
            out[name] = [None] * n
    if "area_code" in out:
        target = {6: "district_code", 9: "street_code", 12: "community_code"}
        for i, code in enumerate(out["area_code"]):
            if code is not None and out[target[len(code)]][i] is None:
                out[target[len(code)]][i] = code
    for i in range(n):
        community, street = out["community_code"][i], out["street_code"][i]
        if community is not None and street is None:
            out["street_code"][i] = street = community[:9]
        if street is not None and out["district_code"][i] is None:
            out["district_code"][i] = street[:6]


def _check_code_hierarchy(out: _Columns, col: _Collector, *, engine: str = "rows") -> None:
    if engine == "columns":  # only rows where a code does not start with its parent's are looked at
        community, street, district = (columns.object_array(out[name]) for name in
                                       ("community_code", "street_code", "district_code"))
        suspect = np.zeros(out.n, dtype=bool)
        for child, parent in ((community, street), (street, district)):
            both = columns.present(child) & columns.present(parent)
            suspect[both] |= ~np.fromiter(map(str.startswith, child[both], parent[both]), dtype=bool,
                                          count=int(both.sum()))
        rows: Sequence[int] = [int(i) for i in np.flatnonzero(suspect)]
    else:
        rows = range(out.n)
    for i in rows:
        d, s, c = out["district_code"][i], out["street_code"][i], out["community_code"][i]
        if c is not None and s is not None and not c.startswith(s):
            col.add(i, "社区代码", c, f"与街道代码 {s} 不一致（社区代码前 9 位应为街道代码）")
        if s is not None and d is not None and not s.startswith(d):
            col.add(i, "街道代码", s, f"与区县代码 {d} 不一致（街道代码前 6 位应为区县代码）")


def _split_area_code_columns(out: _Columns) -> None:
    """:func:`_split_area_code` a column at a time (it reports no problems)."""
    n = out.n
    for name in ("district_code", "street_code", "community_code"):
        if name not in out:
            out[name] = [None] * n
    district, street, community = (columns.object_array(out[name]).copy() for name in
                                   ("district_code", "street_code", "community_code"))
    if "area_code" in out:
        area = columns.object_array(out["area_code"])
        size = columns.map_unique(area, len, missing=0)
        for length, target in ((6, district), (9, street), (12, community)):
            fill = (size == length) & ~columns.present(target)
            target[fill] = area[fill]
    fill = columns.present(community) & ~columns.present(street)
    street[fill] = columns.map_unique(community[fill], lambda code: code[:9])
    fill = columns.present(street) & ~columns.present(district)
    district[fill] = columns.map_unique(street[fill], lambda code: code[:6])
    out["district_code"], out["street_code"], out["community_code"] = (
        district.tolist(), street.tolist(), community.tolist())


def _price_parts(text: str) -> list[float | None]:
    return [_parse_number(p) for p in re.split(r"\s*[-~～—至到]+\s*", ids.fullwidth_to_halfwidth(text).strip())]


def _facility_rules(out: _Columns, col: _Collector, *, engine: str = "rows") -> None:
    n = out.n
    for name in ("beds_total", "beds_nursing", "beds_free", "price_min_yuan_month", "price_max_yuan_month"):
        if name not in out:
            out[name] = [None] * n
    if "price_range" in out:
        ranges = out["price_range"]
        parts_of = (columns.map_unique(ranges, _price_parts) if engine == "columns"
                    else [None if text is None else _price_parts(text) for text in ranges])
        for i, text in enumerate(ranges):
            if text is None:
                continue
            parts = parts_of[i]
            if not parts or any(p is None for p in parts) or len(parts) > 2:
                col.add(i, "月收费", text, "无法识别的收费区间（应如“2000-4500”或“3000”）")
                continue
            if out["price_min_yuan_month"][i] is None:
                out["price_min_yuan_month"][i] = float(parts[0])
            if out["price_max_yuan_month"][i] is None:
                out["price_max_yuan_month"][i] = float(parts[-1])
    rows: Sequence[int] = range(n)
    if engine == "columns":  # only rows where one value exceeds another are looked at
        beds_total, nursing, free, low, high = (_numbers(out[name]) for name in (
            "beds_total", "beds_nursing", "beds_free", "price_min_yuan_month", "price_max_yuan_month"))
        with np.errstate(invalid="ignore"):
            rows = [int(i) for i in np.flatnonzero((nursing > beds_total) | (free > beds_total) | (low > high))]
    for i in rows:
        total, nursing, free = out["beds_total"][i], out["beds_nursing"][i], out["beds_free"][i]
        if total is not None and nursing is not None and nursing > total:
            col.add(i, "护理型床位", nursing, f"护理型床位（{nursing}）大于床位总数（{total}）")
        if total is not None and free is not None and free > total:
            col.add(i, "空余床位", free, f"空余床位（{free}）大于床位总数（{total}）")
        lo, hi = out["price_min_yuan_month"][i], out["price_max_yuan_month"][i]
        if lo is not None and hi is not None and lo > hi:
            col.add(i, "最低月收费", lo, f"最低月收费（{lo:g}）高于最高月收费（{hi:g}）")


def _elder_rules(out: _Columns, col: _Collector, *, salt: bytes, today: dt.date, settings: Settings,
                 engine: str = "rows") -> None:
    if len(salt) < 16:
        raise ValueError("a salt of at least 16 bytes is required to import elders")
    n = out.n
    for name in ("id_number", "source_id", "birth_year", "birth_month", "date_month", "age", "sex", "registered",
                 "resident", "population_type"):
        if name not in out:
            out[name] = [None] * n
    if engine == "columns":
        pids = _elder_rows_columns(out, col, salt=salt, today=today)
    else:
        pids = [_elder_row(out, col, i, salt=salt, today=today) for i in range(n)]
    ages = out.ages_at(today)
    for i in np.flatnonzero(ages < settings.elder_min_age):
        col.add(int(i), "出生年份", out["birth_year"][i],
                f"按统计日期 {today.isoformat()} 计未满 {settings.elder_min_age} 周岁，不属于老年人")
    out["pid"] = pids


def _elder_row(out: _Columns, col: _Collector, i: int, *, salt: bytes, today: dt.date) -> str | None:
    """Row ``i`` of the elders' rules (ID number against birth year, month and sex; birth year from age;
    registration); returns the row's pseudonym."""
    number, source_id = out["id_number"][i], out["source_id"][i]
    id_month = None
    pid: str | None = None
    if number is not None:  # already checked: birth date at [6:14], sex by the parity of [16]
        born_year, id_month = int(number[6:10]), int(number[10:12])
        sex = "男" if int(number[16]) % 2 else "女"
        year = out["birth_year"][i]
        if year is not None and year != born_year:
            col.add(i, "出生年份", year, f"与身份证号中的出生年份（{born_year}）不一致")
        out["birth_year"][i] = born_year
        if out["sex"][i] is None:
            out["sex"][i] = sex
        elif out["sex"][i] != sex:
            col.add(i, "性别", out["sex"][i], "与身份证号中的性别不一致")
        pid = ids.pseudonymise(number, salt)
    elif source_id is not None:
        pid = ids.pseudonymise("src:" + source_id, salt)
    elif i not in col.bad_rows:
        col.add(i, "身份证号", None, "身份证号和老人编号至少填写一项")
    _birth_month(out, col, i, id_month)
    if out["birth_year"][i] is None and out["age"][i] is not None:
        out["birth_year"][i] = today.year - int(out["age"][i])
    if out["birth_year"][i] is None and i not in col.bad_rows:
        col.add(i, "出生年份", None, "缺少出生年份（可填出生年份、出生日期、年龄或身份证号）")
    _registration(out, col, i)
    return pid


def _numbers(values: Sequence[Any]) -> np.ndarray:
    """Float array of integer-or-None values (NaN for None)."""
    return columns.numbers(values)


def _elder_rows_columns(out: _Columns, col: _Collector, *, salt: bytes, today: dt.date) -> list[str | None]:
    """:func:`_elder_row` for every row, a column at a time; rows with a problem (a conflict between the ID
    number and the other columns, no identifier, no birth year, a 人口类型 against 户籍/常住) go through
    :func:`_elder_row` itself. Returns the pseudonyms."""
    n = out.n
    number = columns.object_array(out["id_number"])
    source = columns.object_array(out["source_id"])
    has_id = columns.present(number)
    has_source = columns.present(source) & ~has_id
    hard = ~(has_id | has_source)
    year = _numbers(out["birth_year"])
    at = np.flatnonzero(has_id)
    id_year, id_month, odd = ids.resident_id_parts(number[at])
    id_month_all = np.full(n, np.nan)
    id_month_all[at] = id_month
    with np.errstate(invalid="ignore"):
        hard[at] |= ~np.isnan(year[at]) & (year[at] != id_year)
    year[at] = id_year
    sex = columns.object_array(out["sex"])
    id_sex = np.where(odd, "男", "女").astype(object)
    given_sex = columns.present(sex[at])
    hard[at] |= given_sex & (sex[at] != id_sex)
    sex[at[~given_sex]] = id_sex[~given_sex]
    month = np.full(n, np.nan)  # first of ID month, birth date's month, month column; others must agree
    sources = [id_month_all, _numbers(out["date_month"]), _numbers(out["birth_month"])]
    for m in sources:
        month = np.where(np.isnan(month), m, month)
    for m in sources:
        hard |= ~np.isnan(m) & (m != month)
    age = _numbers(out["age"])
    from_age = np.isnan(year) & ~np.isnan(age)
    year[from_age] = today.year - age[from_age]
    hard |= np.isnan(year)
    registered = columns.object_array(out["registered"])
    resident = columns.object_array(out["resident"])
    ptype = columns.object_array(out["population_type"])
    codes, kinds = columns.factorize(ptype)
    for k, kind in enumerate(kinds):
        rows = codes == k
        for given, implied in zip((registered, resident), REGISTRATION_ALIASES[kind], strict=True):
            if implied is None:
                continue
            set_here = columns.present(given)
            hard |= rows & set_here & (given != implied)
            given[rows & ~set_here] = implied
    easy = ~hard
    pids = np.full(n, None, dtype=object)
    with_id, with_source = easy & has_id, easy & has_source
    pids[with_id] = ids.pseudonymise_many(list(number[with_id]), salt)
    pids[with_source] = ids.pseudonymise_many(["SRC:" + v for v in source[with_source]], salt)
    for name, values in (("birth_year", year), ("birth_month", month)):
        column = columns.object_array(out[name]).copy()
        known = easy & ~np.isnan(values)
        column[known] = values[known].astype(np.int64).astype(object)
        out[name] = _restore_hard(column, out[name], hard)
    for name, values in (("sex", sex), ("registered", registered), ("resident", resident)):
        out[name] = _restore_hard(values, out[name], hard)
    for i in np.flatnonzero(hard):
        pids[i] = _elder_row(out, col, int(i), salt=salt, today=today)
    return pids.tolist()


def _restore_hard(values: np.ndarray, original: Sequence[Any], hard: np.ndarray) -> list[Any]:
    """``values`` as a list, with the rows of ``hard`` as they were in ``original`` (for the row-wise rules)."""
    merged = values.tolist()
    for i in np.flatnonzero(hard).tolist():  # few rows
        merged[i] = original[i]
    return merged


def _birth_month(out: _Columns, col: _Collector, i: int, id_month: int | None) -> None:
    """Birth month of row ``i``: from the ID number, else the birth date, else the month column; conflicts are errors."""
    sources = [(f"身份证号中的出生月份（{id_month}）", id_month),
               (f"出生日期中的月份（{out['date_month'][i]}）", out["date_month"][i]),
               (f"出生月份列（{out['birth_month'][i]}）", out["birth_month"][i])]
    known = [(label, m) for label, m in sources if m is not None]
    if not known:
        return
    label, month = known[0]
    for other, m in known[1:]:
        if m != month:
            col.add(i, "出生月份", m, f"{other}与{label}不一致")
    out["birth_month"][i] = month


def _registration(out: _Columns, col: _Collector, i: int) -> None:
    """Split a 人口类型 value into 户籍/常住; an explicit 本地户籍/常住 column wins over it, with a warning."""
    ptype = out["population_type"][i]
    if ptype is None:
        return
    for name, zh, implied in zip(("registered", "resident"), ("本地户籍", "常住"), REGISTRATION_ALIASES[ptype],
                                 strict=True):
        given = out[name][i]
        if implied is None:
            continue
        if given is None:
            out[name][i] = implied
        elif given != implied:
            col.add(i, zh, "是" if given else "否",
                    f"与人口类型“{ptype}”不一致（“{ptype}”意为{zh}：{'是' if implied else '否'}），已按“{zh}”列",
                    level=WARNING)


# ---------------------------------------------------------------- home-care tables


def _ensure(out: _Columns, *names: str) -> None:
    for name in names:
        if name not in out:
            out[name] = [None] * out.n


def _missing_layer(col: _Collector, field_zh: str, layer_zh: str, what: str) -> None:
    col.add(None, field_zh, None, f"地区还没有{layer_zh}数据，未核对{what}；导入{layer_zh}后请重新导入本文件", level=WARNING)


@dataclass(frozen=True)
class _Providers:
    """Facilities by id and by name, to resolve a provider written as an id or a name."""

    by_id: dict[str, tuple[str, str, float, float]]
    """id -> (name, kind, lon, lat)."""
    by_name: dict[str, list[str]]
    home_care_kinds: tuple[str, ...]

    @classmethod
    def of(cls, facilities: pd.DataFrame | None, settings: Settings) -> _Providers | None:
        if facilities is None or not len(facilities) or "id" not in facilities:
            return None
        lon = facilities["lon"] if "lon" in facilities else pd.Series(np.nan, index=facilities.index)
        lat = facilities["lat"] if "lat" in facilities else pd.Series(np.nan, index=facilities.index)
        by_id: dict[str, tuple[str, str, float, float]] = {}
        by_name: dict[str, list[str]] = defaultdict(list)
        for fid, name, kind, x, y in zip(facilities["id"].astype(str), facilities["name"].astype(str),
                                         facilities["kind"].astype(str), lon, lat, strict=True):
            by_id[fid] = (name, kind, float(x) if pd.notna(x) else np.nan, float(y) if pd.notna(y) else np.nan)
            by_name[name].append(fid)
        return cls(by_id, dict(by_name), settings.home_care_kinds)

    def resolve(self, text: str) -> tuple[str | None, str | None]:
        """(provider id, None), or (None, reason) when ``text`` is no home-care provider's id or name."""
        fid = text if text in self.by_id else None
        if fid is None:
            found = self.by_name.get(text, [])
            if len(found) > 1:
                return None, f"名称“{text}”对应 {len(found)} 个机构（{'、'.join(found)}），请填写机构编号"
            fid = found[0] if found else None
        if fid is None:
            return None, f"“{text}”不是本地区任何机构的编号或名称（见养老服务设施图层）"
        name, kind, _, _ = self.by_id[fid]
        if kind not in self.home_care_kinds:
            return None, (f"机构“{name}”（{fid}）的类型是{kind}，不是居家上门服务商（设置 home_care_kinds："
                          f"{'、'.join(self.home_care_kinds)}）")
        return fid, None

    def point(self, fid: str) -> tuple[float, float]:
        return self.by_id[fid][2], self.by_id[fid][3]


def _service_item_rules(out: _Columns, col: _Collector) -> None:
    """Category 其他 when missing; a subsidy above the price is a warning."""
    _ensure(out, "category", "subsidy_yuan", "price_yuan")
    for i in range(out.n):
        if out["category"][i] is None:
            out["category"][i] = "其他"
        subsidy, price = out["subsidy_yuan"][i], out["price_yuan"][i]
        if subsidy is not None and price is not None and subsidy > price:
            col.add(i, "补贴标准", subsidy, f"补贴标准（{subsidy:g} 元/次）高于收费标准（{price:g} 元/次），请核对",
                    level=WARNING)


def _carer_rules(out: _Columns, col: _Collector, lon: np.ndarray, lat: np.ndarray, *, salt: bytes,
                 settings: Settings, facilities: pd.DataFrame | None) -> None:
    """Pseudonym (``pid``), provider (id or name -> a home-care provider's id), shift minutes, base point."""
    if len(salt) < 16:
        raise ValueError("a salt of at least 16 bytes is required to import carers")
    _ensure(out, "id", "id_number", "provider_id", "shift")
    providers = _Providers.of(facilities, settings)
    if providers is None:
        _missing_layer(col, "所属服务商编号", "养老服务设施", "所属服务商")
    pids: list[str | None] = []
    for i in range(out.n):
        source_id, number = out["id"][i], out["id_number"][i]
        if source_id is not None:
            pids.append(carer_pseudonym(source_id, salt))
        elif number is not None:
            pids.append(carer_pseudonym("idn:" + number, salt))
            col.add(i, "人员编号", None, "没有人员编号：已按身份证号生成假名编号，但工单无法按人员编号指向此人",
                    level=WARNING)
        else:
            col.add(i, "人员编号", None, "人员编号和身份证号至少填写一项")
            pids.append(None)
        provider = out["provider_id"][i]
        if provider is not None and providers is not None:
            fid, reason = providers.resolve(provider)
            if reason:
                col.add(i, "所属服务商编号", provider, reason)
            else:
                out["provider_id"][i] = fid
                if np.isnan(lon[i]) and np.isnan(lat[i]):
                    lon[i], lat[i] = providers.point(fid)
    out["pid"] = pids
    out["shift_start_min"] = [None if v is None else v[0] for v in out["shift"]]
    out["shift_end_min"] = [None if v is None else v[1] for v in out["shift"]]


_STATE_ZH = dict(zip(STATE_TIMESTAMPS, ("下单时间", "派单时间", "接单时间", "开始服务时间", "完成时间", "回访时间"),
                     strict=True))


def _order_rules(out: _Columns, col: _Collector, lon: np.ndarray, lat: np.ndarray, *, path: Path, salt: bytes,
                 settings: Settings, related: Mapping[str, pd.DataFrame | None]) -> None:
    """Cross-table and state checks of orders; fills ``elder_id`` (pseudonym), ``item_codes`` (codes), provider,
    ``carer_id`` (pseudonym), urgency, status (from the timestamps when missing) and the elder's point."""
    if len(salt) < 16:
        raise ValueError("a salt of at least 16 bytes is required to import orders")
    items = related.get("service_items")
    if items is None or not len(items):
        raise InputFileError(
            f"文件 {path.name}：地区还没有服务清单。请先导入服务清单（--service-items），工单的服务项目须与服务清单对照。",
            f"{path}: orders need the region's service list (import service items first)")
    _ensure(out, "elder_id", "item_codes", "window_start", "window_end", "urgency", "status", "events",
            "provider_id", "carer_id", "satisfaction", "subsidy_group", *STATE_TIMESTAMPS)
    code_of = {str(name): str(code) for code, name in zip(items["code"], items["name"], strict=True)}
    code_of.update({str(code): str(code) for code in items["code"]})
    category = dict(zip(items["code"].astype(str), items["category"].astype(object), strict=True)) \
        if "category" in items else {}
    eligible = {str(c): set(g) if g is not None and not (isinstance(g, float) and np.isnan(g)) else set()
                for c, g in zip(items["code"], items["eligible_groups"] if "eligible_groups" in items
                                else [None] * len(items), strict=True)}
    providers = _Providers.of(related.get("facilities"), settings)
    if providers is None:
        _missing_layer(col, "服务商编号", "养老服务设施", "服务商")
    carers = related.get("carers")
    carer_provider = None if carers is None or not len(carers) else dict(
        zip(carers["id"].astype(str), carers["provider_id"].astype(str), strict=True))
    if carer_provider is None and any(v is not None for v in out["carer_id"]):
        _missing_layer(col, "服务人员编号", "服务人员", "服务人员")
    elders = related.get("elders")
    elder_point = None if elders is None or not len(elders) or "pid" not in elders else {
        p: (x, y) for p, x, y in zip(elders["pid"].astype(str), elders["lon"], elders["lat"], strict=True)}
    if elder_point is None:
        _missing_layer(col, "老人编号", "老年人", "老人")
    for i in range(out.n):
        _order_elder(out, col, i, lon, lat, salt=salt, elder_point=elder_point)
        codes = out["item_codes"][i]
        if codes is not None:
            unknown = [c for c in codes if c not in code_of]
            if unknown:
                col.add(i, "服务项目", "、".join(unknown), f"不在服务清单中：{'、'.join(unknown)}（可写项目编码或名称）")
            codes = list(dict.fromkeys(code_of[c] for c in codes if c in code_of))
            out["item_codes"][i] = codes
            if any(category.get(c) == EMERGENCY_CATEGORY for c in codes):
                if out["urgency"][i] == "普通":
                    col.add(i, "紧急程度", "普通", f"含{EMERGENCY_CATEGORY}类项目，已按紧急处理", level=WARNING)
                out["urgency"][i] = "紧急"
        if out["urgency"][i] is None:
            out["urgency"][i] = "普通"
        _order_window(out, col, i)
        _order_states(out, col, i)
        _order_assignment(out, col, i, salt=salt, providers=providers, carer_provider=carer_provider)
        group = out["subsidy_group"][i]
        if group is not None and codes and not any(group in eligible.get(c, set()) or "全体老年人" in
                                                     eligible.get(c, set()) for c in codes):
            col.add(i, "补贴类别", group, "不是所选服务项目的补贴对象（见服务清单的补贴对象）")


def _order_elder(out: _Columns, col: _Collector, i: int, lon: np.ndarray, lat: np.ndarray, *, salt: bytes,
                 elder_point: Mapping[str, tuple[float, float]] | None) -> None:
    value = out["elder_id"][i]
    if value is None:
        return
    pid = elder_pseudonym(value, salt)
    out["elder_id"][i] = pid
    if elder_point is None:
        return
    if pid not in elder_point:
        col.add(i, "老人编号", _SENSITIVE_MASK, "老年人图层中没有这位老人（须与老年人文件所用的身份证号或老人编号相同）",
                level=WARNING)
    elif np.isnan(lon[i]) and np.isnan(lat[i]):
        lon[i], lat[i] = elder_point[pid]


def _order_window(out: _Columns, col: _Collector, i: int) -> None:
    start, end = out["window_start"][i], out["window_end"][i]
    if isinstance(start, tuple):
        if end is not None and end != start[1]:
            col.add(i, "预约结束时间", end, f"与预约时间中的时段结束（{start[1]:%H:%M}）不一致")
        start, end = start
        out["window_start"][i], out["window_end"][i] = start, end
    if (start is None) != (end is None):
        col.add(i, "预约开始时间" if start is None else "预约结束时间", None, "预约开始和结束时间须同时填写")
    elif start is not None and end <= start:
        col.add(i, "预约结束时间", f"{end:%Y-%m-%d %H:%M}", f"须晚于预约开始时间（{start:%Y-%m-%d %H:%M}）")


def _order_states(out: _Columns, col: _Collector, i: int) -> None:
    """Timestamps in state order; status consistent with them (inferred from them when missing)."""
    times = [(name, out[name][i]) for name in STATE_TIMESTAMPS if out[name][i] is not None]
    for (a, ta), (b, tb) in zip(times, times[1:]):
        if tb < ta:
            col.add(i, _STATE_ZH[b], f"{tb:%Y-%m-%d %H:%M}", f"早于{_STATE_ZH[a]}（{ta:%Y-%m-%d %H:%M}）：各时间应按状态先后")
    status = out["status"][i]
    if status is None:
        status = ORDER_STATES[max((STATE_TIMESTAMPS.index(n) for n, _ in times), default=0)]
        out["status"][i] = status
    events = out["events"][i] or []
    if status == CANCELLED:
        for name in ("completed_at", "followed_up_at"):
            if out[name][i] is not None:
                col.add(i, _STATE_ZH[name], f"{out[name][i]:%Y-%m-%d %H:%M}", "已取消的工单不能有完成或回访时间")
        return
    k = ORDER_STATES.index(status)
    own = STATE_TIMESTAMPS[k]
    if k and out[own][i] is None:
        col.add(i, "状态", status, f"状态为“{status}”，但没有{_STATE_ZH[own]}")
    if status == "已回访" and out["completed_at"][i] is None:
        col.add(i, "状态", status, "状态为“已回访”，但没有完成时间")
    for name in STATE_TIMESTAMPS[k + 1:]:
        if out[name][i] is None:
            continue
        if k == 0 and name in ("dispatched_at", "accepted_at") and events:
            continue  # refused, timed out or no-show: back to 待派单 with the earlier dispatch on record
        hint = "；若曾拒单、超时或未上门，请在异常记录中注明" if k == 0 and name in ("dispatched_at", "accepted_at") else ""
        col.add(i, _STATE_ZH[name], f"{out[name][i]:%Y-%m-%d %H:%M}", f"状态为“{status}”，却有{_STATE_ZH[name]}{hint}")
    if out["satisfaction"][i] is not None and k < ORDER_STATES.index("已完成"):
        col.add(i, "满意度", out["satisfaction"][i], f"状态为“{status}”的工单尚未完成，不能有满意度")
    elif status == "已回访" and out["satisfaction"][i] is None:
        col.add(i, "满意度", None, "已回访的工单没有满意度", level=WARNING)


def _order_assignment(out: _Columns, col: _Collector, i: int, *, salt: bytes, providers: _Providers | None,
                      carer_provider: Mapping[str, str] | None) -> None:
    """Provider (a home-care provider; required from 已派单), carer (pseudonym; of that provider; required from 已接单)."""
    status = out["status"][i]
    k = ORDER_STATES.index(status) if status in ORDER_STATES else -1
    written = provider = out["provider_id"][i]
    if provider is not None and providers is not None:
        fid, reason = providers.resolve(provider)
        if reason:
            col.add(i, "服务商编号", provider, reason)
        provider = out["provider_id"][i] = fid
    carer = out["carer_id"][i]
    if carer is not None:
        carer = out["carer_id"][i] = carer_pseudonym(carer, salt)
        if carer_provider is not None:
            if carer not in carer_provider:
                col.add(i, "服务人员编号", _SENSITIVE_MASK, "不在服务人员名单中（须与服务人员文件的人员编号相同）")
            elif written is None:  # the carer's provider takes the order
                provider = out["provider_id"][i] = carer_provider[carer]
            elif provider is not None and carer_provider[carer] != provider:
                col.add(i, "服务人员编号", _SENSITIVE_MASK,
                        f"该服务人员属于服务商 {carer_provider[carer]}，不属于本工单的服务商 {provider}")
    if k >= 1 and written is None and provider is None:
        col.add(i, "服务商编号", None, f"状态为“{status}”的工单须有承接的服务商")
    if k >= 2 and carer is None:
        col.add(i, "服务人员编号", None, f"状态为“{status}”的工单须有服务人员")


def _area_rules(out: _Columns, col: _Collector) -> None:
    n = out.n
    for name in ("level", "parent_code", "community_type"):
        if name not in out:
            out[name] = [None] * n
    by_length = {6: "district", 9: "street", 12: "community"}
    for i, code in enumerate(out["code"]):
        if code is None:
            continue
        implied = by_length[len(code)]
        level = out["level"][i]
        if level is not None and level != implied:
            col.add(i, "层级", level, f"与区划代码位数不符（{len(code)} 位代码应为 {implied}）")
        out["level"][i] = implied
        parent = out["parent_code"][i]
        implied_parent = {"community": code[:9], "street": code[:6]}.get(implied)
        if parent is None:
            out["parent_code"][i] = implied_parent
        elif implied_parent is not None and parent != implied_parent:
            col.add(i, "上级代码", parent, f"与区划代码不一致（{code} 的上级应为 {implied_parent}）")
        kind = out["community_type"][i]
        if kind is not None and implied != "community":
            col.add(i, "村居类型", kind, f"村居类型只适用于社区（12 位代码），{code} 是{AREA_LEVEL_SHORT_ZH[implied]}：已忽略",
                    level=WARNING)
            out["community_type"][i] = None


def _location_rules(out: _Columns, lon: np.ndarray, lat: np.ndarray, col: _Collector, *,
                    region_extent: tuple[float, float, float, float] | None, settings: Settings, table: str,
                    raw: pd.DataFrame, x: np.ndarray, y: np.ndarray, source_crs: str, engine: str = "rows") -> None:
    """Missing positions and points outside the region (checked in WGS-84, quoted as written: ``raw``, ``x``, ``y``)."""
    has_point = ~np.isnan(lon)
    area_columns = [out[name] for name in ("community_code", "street_code", "district_code", "community_name",
                                           "street_name", "district_name") if name in out]
    if engine == "columns":
        has_area = np.zeros(out.n, dtype=bool)
        for values in area_columns:
            has_area |= columns.present(values)
    else:
        has_area = np.array([any(c[i] is not None for c in area_columns) for i in range(out.n)], dtype=bool)
    for i in np.flatnonzero(~has_point):
        if i in col.bad_rows:
            continue
        if table == "facilities":
            col.add(int(i), "经纬度", None, "缺少经纬度（设施须有位置才能上图和计算服务半径）")
        elif table == "carers":
            col.add(int(i), "经纬度", None, "缺少出发点经纬度，也找不到所属服务商的位置（派单和路线须从出发点算起）")
        elif table == "orders":
            col.add(int(i), "经纬度", None, "缺少服务地址经纬度，老年人图层中也没有该老人的位置（派单须知道上门地点）")
        elif not has_area[i]:  # a name is enough: it is matched to the region's areas at import
            col.add(int(i), "经纬度", None,
                    "缺少经纬度，也没有所属区县、街道或社区（代码或名称），无法归属到任何区域")
    if region_extent is None:
        return
    minx, miny, maxx, maxy = region_extent
    outside = has_point & coords.outside_extent(lon, lat, region_extent, settings.region_margin_m)
    shifted = {"gcj02": "GCJ-02", "bd09": "BD-09"}.get(source_crs)
    for i in np.flatnonzero(outside):
        converted = f"按 {shifted} 换算为 WGS-84 后为 {lon[i]:.6f},{lat[i]:.6f}，" if shifted else ""
        col.add(int(i), "经纬度", _written_pair(raw, x, y, int(i)),
                f"{converted}位于本地区范围之外（范围 {minx:.4f}–{maxx:.4f}E, {miny:.4f}–{maxy:.4f}N，允许外扩 "
                f"{settings.region_margin_m:g} 米）；请检查坐标或坐标系声明")


def _derive_facility_ids(out: _Columns, lon: np.ndarray, lat: np.ndarray, *, engine: str = "rows") -> None:
    """Fill missing facility ids: the credit code, else "F" + a hash of name and position (stable on re-import)."""
    if "id" not in out:
        out["id"] = [None] * out.n
    uscc = out["uscc"] if "uscc" in out else [None] * out.n
    rows: Sequence[int] = range(out.n)
    if engine == "columns":
        rows = [int(i) for i in np.flatnonzero(~columns.present(out["id"]))]
    for i in rows:
        if out["id"][i] is None:
            if uscc[i] is not None:
                out["id"][i] = uscc[i]
            elif out["name"][i] is not None:
                key = f"{out['name'][i]}|{lon[i]:.4f}|{lat[i]:.4f}"
                out["id"][i] = "F" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]


def _facility_duplicates(out: _Columns, lon: np.ndarray, lat: np.ndarray, good: np.ndarray, col: _Collector, *,
                         settings: Settings, written_ids: Sequence[Any], engine: str = "rows") -> None:
    uscc = out["uscc"] if "uscc" in out else [None] * out.n
    duplicate_ids = _duplicate_ids_columns if engine == "columns" else _duplicate_ids
    duplicate_ids(out, "id", "机构编号", good, col, rejected_keys=[
        a if a is not None else b for a, b in zip(written_ids, uscc, strict=True)])
    first_by_name: dict[str, list[int]] = defaultdict(list)
    candidates = np.flatnonzero(good)
    if engine == "columns":  # only names that two good rows with a position share can be a repeat
        names = columns.object_array(out["name"])
        usable = good & columns.present(names) & ~np.isnan(lon)
        codes, _ = columns.factorize(np.where(usable, names, None))
        counts = np.bincount(codes[codes >= 0], minlength=1)
        candidates = np.flatnonzero(usable & (counts[np.maximum(codes, 0)] >= 2))
    for i in candidates:
        name = out["name"][i]
        if name is None or np.isnan(lon[i]):
            continue
        for j in first_by_name[name]:
            if coords.haversine_m(lon[i], lat[i], lon[j], lat[j]) < settings.duplicate_radius_m:
                col.add(int(i), "名称", name, f"与第 {int(col.source_rows[j])} 行同名且相距不足 "
                        f"{settings.duplicate_radius_m:g} 米，疑似重复录入")
                break
        else:
            first_by_name[name].append(int(i))


def _duplicate_ids(out: _Columns, name: str, zh: str, good: np.ndarray, col: _Collector, *,
                   rejected_keys: Sequence[Any] | None = None) -> None:
    """Repeated identifiers: a later good row repeating an earlier good one is rejected; a row rejected
    for another reason also gets its duplicate listed (so one pass fixes both). ``rejected_keys`` are the
    identifiers of rejected rows as written (default ``out[name]``), leaving out ones derived from a
    position that was itself wrong."""
    if name not in out:
        return
    keys = out[name]
    written = keys if rejected_keys is None else rejected_keys
    shown_of = (lambda key: _SENSITIVE_MASK) if name == "pid" else (lambda key: key)
    first: dict[str, int] = {}
    for i in np.flatnonzero(good):
        key = keys[i]
        if key is None:
            continue
        if key in first:
            col.add(int(i), zh, shown_of(key), f"与第 {int(col.source_rows[first[key]])} 行重复")
        else:
            first[key] = int(i)
    rows_of: dict[str, list[int]] = defaultdict(list)
    for i in range(out.n):
        key = keys[i] if good[i] else written[i]
        if key is not None:
            rows_of[key].append(i)
    for i in np.flatnonzero(~good):
        key = written[i]
        others = [j for j in rows_of.get(key, []) if j != i] if key is not None else []
        if others:
            col.add(int(i), zh, shown_of(key), f"与第 {int(col.source_rows[others[0]])} 行重复")


def _duplicate_ids_columns(out: _Columns, name: str, zh: str, good: np.ndarray, col: _Collector, *,
                           rejected_keys: Sequence[Any] | None = None) -> None:
    """:func:`_duplicate_ids` a column at a time: the same problems, found by sorting the keys."""
    if name not in out:
        return
    keys = columns.object_array(out[name])
    written = keys if rejected_keys is None else columns.object_array(rejected_keys)
    shown_of = (lambda key: _SENSITIVE_MASK) if name == "pid" else (lambda key: key)
    rows = np.arange(out.n)
    first, _ = columns.first_two_rows(np.where(good, keys, None))
    for i in np.flatnonzero(good & (first >= 0) & (first != rows)):
        col.add(int(i), zh, shown_of(keys[i]), f"与第 {int(col.source_rows[first[i]])} 行重复")
    first, second = columns.first_two_rows(np.where(good, keys, written))
    other = np.where(first != rows, first, second)
    for i in np.flatnonzero(~good & (other >= 0)):
        col.add(int(i), zh, shown_of(written[i]), f"与第 {int(col.source_rows[other[i]])} 行重复")


FACILITY_COLUMNS = ["id", "name", "kind", "services", "service_area", "hours", "capacity_orders_day", "beds_total",
                    "beds_nursing", "beds_free", "residents", "elders_served", "grade", "price_min_yuan_month",
                    "price_max_yuan_month", "nature", "phone", "address", "uscc", "district_code", "street_code",
                    "community_code", "district_name", "street_name", "community_name"]
ELDER_COLUMNS = ["pid", "birth_year", "birth_month", "sex", "ability_level", "ability_code", "groups", "oldest_old",
                 "disability_grade", "dementia", "registered", "resident", "district_code", "street_code",
                 "community_code", "district_name", "street_name", "community_name"]
AREA_COLUMNS = ["code", "name", "level", "parent_code", "community_type", "parent_name", "registered_population",
                "resident_population", "fiscal_revenue_10k_yuan"]
SERVICE_ITEM_COLUMNS = ["code", "name", "category", "service_tag", "eligible_groups", "subsidy_yuan", "price_yuan",
                        "duration_min", "skill", "min_skill_level"]
CARER_COLUMNS = ["pid", "provider_id", "skills", "skill_level", "experience_years", "shift_start_min", "shift_end_min",
                 "max_orders_day"]
"""Stored as ``id`` (the pseudonym); the 人员编号, name, ID number and phone as written are never kept."""
ORDER_COLUMNS = ["id", "elder_id", "item_codes", "window_start", "window_end", "urgency", "channel", "status",
                 "events", "provider_id", "carer_id", "created_at", "dispatched_at", "accepted_at", "started_at",
                 "completed_at", "followed_up_at", "satisfaction", "complaint", "remarks", "subsidy_group"]
"""``elder_id`` and ``carer_id`` are pseudonyms; elders' names, addresses and phones are never kept."""
INT_COLUMNS = {"beds_total", "beds_nursing", "beds_free", "residents", "elders_served", "grade", "birth_year",
               "birth_month", "ability_code", "registered_population", "resident_population", "capacity_orders_day",
               "duration_min", "min_skill_level", "skill_level", "shift_start_min", "shift_end_min", "max_orders_day",
               "satisfaction"}
FLOAT_COLUMNS = {"price_min_yuan_month", "price_max_yuan_month", "fiscal_revenue_10k_yuan", "subsidy_yuan",
                 "price_yuan", "experience_years"}
BOOL_COLUMNS = {"oldest_old", "dementia", "registered", "resident", "complaint"}
LIST_COLUMNS = {"services", "groups", "eligible_groups", "skills", "item_codes", "events"}
DATETIME_COLUMNS = {"window_start", "window_end", *STATE_TIMESTAMPS}


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _typed_frame(out: _Columns, lon: np.ndarray, lat: np.ndarray, geometry: Sequence[Any] | None,
                 raw_table: RawTable, *, table: str, settings: Settings,
                 source_crs: str, today: dt.date, engine: str = "rows",
                 points: bool = True) -> gpd.GeoDataFrame | pd.DataFrame:
    """Every row as a typed GeoDataFrame in EPSG:4326 (only non-sensitive columns; the caller keeps the good
    ones). ``points=False`` (a point layer): a plain frame whose ``geometry`` column holds nothing, for
    :func:`data.store.point_layer_table` (the points are its ``lon``/``lat``)."""
    n = out.n
    if table == "elders":
        levels = out["ability_level"] if "ability_level" in out else [None] * n
        ages = out.ages_at(today)
        if engine == "columns":
            out["ability_code"] = list(map({v: k for k, v in enumerate(ABILITY_LEVELS)}.get, levels))
            oldest = np.full(n, None, dtype=object)
            known = ~np.isnan(ages)
            oldest[known] = (ages[known] >= settings.oldest_old_age).astype(object)
            out["oldest_old"] = oldest.tolist()
        else:
            out["ability_code"] = [None if v is None else ABILITY_LEVELS.index(v) for v in levels]
            out["oldest_old"] = [None if np.isnan(a) else bool(a >= settings.oldest_old_age) for a in ages]
        columns = ELDER_COLUMNS
    elif table == "facilities":
        columns = FACILITY_COLUMNS
    else:
        columns = {"areas": AREA_COLUMNS, "service_items": SERVICE_ITEM_COLUMNS, "carers": CARER_COLUMNS,
                   "orders": ORDER_COLUMNS}[table]
    frame = pd.DataFrame(index=range(n))
    for name in columns:
        if name not in out and name not in LIST_COLUMNS:  # a column the file does not have: all missing
            dtype = ("Int64" if name in INT_COLUMNS else "float64" if name in FLOAT_COLUMNS
                     else "boolean" if name in BOOL_COLUMNS else "datetime64[ns]" if name in DATETIME_COLUMNS
                     else "string")
            frame[name] = _missing_column(dtype, n)
            continue
        values = out[name] if name in out else [None] * n
        if engine == "columns" and name not in DATETIME_COLUMNS and name not in FLOAT_COLUMNS:
            typed = _typed_column(name, values, shared=not points)
            if typed is not None:
                frame[name] = typed
                continue
        values = [None if _missing(v) else v for v in values]
        if name in DATETIME_COLUMNS:
            frame[name] = pd.to_datetime(pd.Series([pd.NaT if v is None or isinstance(v, tuple) else v
                                                    for v in values], dtype="object")).astype("datetime64[ns]")
        elif name in INT_COLUMNS:
            frame[name] = pd.array([None if v is None else int(v) for v in values], dtype="Int64")
        elif name in FLOAT_COLUMNS:
            frame[name] = pd.to_numeric(pd.Series([np.nan if v is None else v for v in values]), errors="coerce")
        elif name in LIST_COLUMNS:
            frame[name] = [list(v) if v is not None else [] for v in values]
        elif name in BOOL_COLUMNS:
            frame[name] = pd.array(list(values), dtype="boolean")
        else:
            frame[name] = pd.array(list(values), dtype="string")
    if table == "carers":
        frame = frame.rename(columns={"pid": "id"})
    if table == "service_items":  # a list without positions: a GeoDataFrame with empty geometry, as stored
        gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([None] * n, crs="EPSG:4326"), crs="EPSG:4326")
        gdf["source_row"] = raw_table.source_rows.astype("int64")
        gdf["synthetic"] = False
        return gdf
    if table == "areas":
        geoms = gpd.GeoSeries([None] * n, crs="EPSG:4326")
        if geometry is not None:
            geoms = gpd.GeoSeries(list(geometry), crs=raw_table.crs or "EPSG:4326").to_crs("EPSG:4326")
            if source_crs in ("gcj02", "bd09"):
                geoms = geoms.apply(lambda g: None if g is None else shapely.transform(
                    g, lambda xy: np.column_stack(coords.to_wgs84(xy[:, 0], xy[:, 1], source_crs))))
        gdf = gpd.GeoDataFrame(frame, geometry=list(geoms), crs="EPSG:4326")
    else:
        frame["lon"] = lon
        frame["lat"] = lat
        frame["h3"] = pd.arrays.ArrowStringArray(pa.chunked_array([hexes.cell_texts_for_points(
            lon, lat, settings.h3_resolution)]))
        if points:
            gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
            gdf.loc[np.isnan(lon), "geometry"] = None
        else:
            gdf = frame
            gdf["geometry"] = None
    gdf["source_crs"] = source_crs
    gdf["source_row"] = raw_table.source_rows.astype("int64")
    gdf["synthetic"] = False
    return gdf


def _missing_column(dtype: str, n: int) -> Any:
    """``pd.array([None] * n, dtype=dtype)`` (NaN floats for "float64"), built without looking at n Nones."""
    if dtype == "float64":
        return np.full(n, np.nan)
    if dtype == "string":
        return pd.arrays.ArrowStringArray(pa.chunked_array([pa.nulls(n, pa.large_string())]))
    if dtype == "Int64":
        return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    if dtype == "boolean":
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
    return pd.array([None] * n, dtype=dtype)


_DTYPES = {name: pd.api.types.pandas_dtype(name) for name in ("Int64", "boolean", "string")}
"""The typed frame's extension dtypes, looked up once (a lookup by name searches pandas' registry)."""


def _typed_column(name: str, values: Sequence[Any], *, shared: bool = False) -> Any:
    """One column of :func:`_typed_frame` built a column at a time (None: leave it to the cell-by-cell code).
    ``shared``: a list column keeps the parsed lists (one object per distinct cell text; None: one empty list),
    for a frame only converted to Arrow (:func:`data.store.point_layer_table`)."""
    if name in LIST_COLUMNS and set(map(type, values)) <= {list, type(None)}:
        if shared:
            empty: list[str] = []
            return [empty if v is None else v for v in values]
        return [[] if v is None else list(v) for v in values]  # a fresh list per row (parsed ones are shared)
    if name not in LIST_COLUMNS | INT_COLUMNS | BOOL_COLUMNS:  # text (str or None; Arrow refuses anything else):
        try:  # Arrow builds the string column directly, in the storage of pandas' "string" dtype
            return pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(values, type=pa.large_string())]))
        except (pa.ArrowException, TypeError, ValueError):
            pass
    if name in INT_COLUMNS | BOOL_COLUMNS:  # Python ints (bools) and None, what the parsers give: numpy at once
        kinds = set(map(type, values))
        plain = {int, type(None)} if name in INT_COLUMNS else {bool, type(None)}
        if kinds <= plain:
            arr = columns.object_array(values)
            missing = np.equal(arr, None)
            arr[missing] = 0 if name in INT_COLUMNS else False
            try:
                if name in INT_COLUMNS:
                    return pd.arrays.IntegerArray(np.array(arr, dtype=np.int64), missing)
                return pd.arrays.BooleanArray(np.array(arr, dtype=bool), missing)
            except OverflowError:  # beyond int64: as pandas refuses it
                pass
    arr = columns.object_array(values).copy()
    arr[~columns.present(arr)] = None
    if name in LIST_COLUMNS:
        return [list(v) if v is not None else [] for v in arr]
    try:
        if name in INT_COLUMNS:
            return pd.array(arr, dtype=_DTYPES["Int64"])
        if name in BOOL_COLUMNS:
            return pd.array(arr, dtype=_DTYPES["boolean"])
        return pd.array(arr, dtype=_DTYPES["string"])
    except (TypeError, ValueError):
        return None


def mislabel_warnings(good: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *, file_name: str, crs: str | None,
                      settings: Settings) -> pd.DataFrame:
    """The file-level warning rows (行号 "—") of :func:`validate_table`'s check for a mislabelled coordinate system
    (:func:`_mislabel_check`), on already validated rows ``good``: a streamed import runs it on a sample of its
    first block, where :func:`validate_table` runs it on the whole file. ``crs``: the system the file was declared
    in (default WGS-84)."""
    col = _Collector(file_name, np.arange(1, len(good) + 1))
    _mislabel_check(good, roads, col, source_crs=coords.normalise_crs_name(crs or "wgs84"), settings=settings)
    return col.frame()


def _mislabel_check(good: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, col: _Collector, *, source_crs: str,
                    settings: Settings) -> None:
    """Warn when another coordinate system would put a file's points consistently closer to the roads.

    Points mislabelled as WGS-84 while really GCJ-02 (say) sit a consistent few hundred metres off
    in one direction; read in the right system most of them move onto or next to a road. The
    warning fires when, read in another system, the median distance to the nearest road at least
    halves, drops by at least ``settings.mislabel_offset_m`` metres, and 70 % of points get closer.
    """
    points = good[good.geometry.notna()]
    if len(points) < 3 or roads.empty:
        return
    utm = working_crs(roads, settings, what_zh="道路数据", what_en="road edges")
    tree = shapely.STRtree(roads.to_crs(utm).geometry.values)

    def offsets_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(utm).values
        _, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
        return np.asarray(dist)

    lon, lat = points["lon"].to_numpy(), points["lat"].to_numpy()
    declared = offsets_m(lon, lat)
    raw_lon, raw_lat = coords.from_wgs84(lon, lat, source_crs)
    names = {"wgs84": "WGS-84", "cgcs2000": "CGCS2000", "gcj02": "GCJ-02（高德/腾讯）", "bd09": "BD-09（百度）"}
    base = "wgs84" if source_crs == "cgcs2000" else source_crs
    for other in ("wgs84", "gcj02", "bd09"):
        if other == base:
            continue
        alt = offsets_m(*coords.to_wgs84(raw_lon, raw_lat, other))
        if (np.median(alt) <= np.median(declared) / 2
                and np.median(declared) - np.median(alt) >= settings.mislabel_offset_m
                and np.mean(alt < declared) >= 0.7):
            col.add(None, "坐标系", names[source_crs],
                    f"这些点到最近道路的中位距离为 {np.median(declared):.0f} 米，若按 {names[other]} 解读则为 "
                    f"{np.median(alt):.0f} 米：坐标系可能标错，请核对后用 --facility-crs/--elder-crs {other} 重新导入",
                    level=WARNING)
            return
    if np.median(declared) > settings.snap_limit_m:
        col.add(None, "坐标系", names[source_crs],
                f"这些点到最近道路的中位距离为 {np.median(declared):.0f} 米，偏离道路较远，请核对坐标和坐标系",
                level=WARNING)


def write_report(result: ValidationResult, out: str | Path) -> tuple[Path, Path | None]:
    """Write the problem report (xlsx or csv by suffix) and, if any, the rejects file beside it.

    The xlsx report has two sheets: 问题清单 (every problem) and 汇总 (counts).
    The rejects file is ``<report stem>_拒绝行.<suffix>``: the rejected rows as read, with row numbers
    and reasons. Facilities and areas keep every value, so the corrected file imports as it is (the
    行号 and 拒绝原因 columns are ignored on import); elders' IDs, names and positions are masked, so
    theirs is a list to correct the original file by (:meth:`ValidationResult.rejects_note_zh`).
    """
    out = Path(out)
    summary = pd.DataFrame({
        "项目": ["文件", "数据类型", "读取行数", "可导入行数", "拒绝行数", "错误条数", "警告条数", "文件编码", "坐标系声明",
               "拒绝行清单"],
        "值": [result.path.name, TABLE_ZH[result.table], result.n_read, result.n_imported, result.n_rejected,
              int((result.problems["级别"] == ERROR).sum()), int((result.problems["级别"] == WARNING).sum()),
              result.source.get("encoding") or "—", result.source.get("crs_declared"),
              result.rejects_note_zh() or "无拒绝行"],
    })
    if out.suffix.lower() == ".xlsx":
        write_table(result.problems, out, sheet_name="问题清单", extra_sheets={"汇总": summary.astype(str)})
    else:
        write_table(result.problems, out)
    rejects_path = None
    if result.n_rejected:
        rejects_path = out.with_name(f"{out.stem}_拒绝行{out.suffix}")
        write_table(result.rejects, rejects_path, sheet_name="拒绝行")
    return out, rejects_path


def folder_writable(folder: str | Path) -> bool:
    """Whether a file can be created in ``folder``: tried with a temporary file, not guessed from the
    permission bits (which root, ACLs and read-only mounts make unreliable)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".eldermap_probe_"):
            return True
    except OSError:
        return False


def write_report_beside(result: ValidationResult, *, out_dir: str | Path | None = None,
                        reports_root: str | Path = "reports") -> tuple[Path, Path | None, Path | None]:
    """Write the report of ``result`` as ``<file stem>_校验报告.xlsx`` beside its data file, or elsewhere.

    ``out_dir`` given: there (created when missing). Otherwise beside the data file; when that
    folder is not writable (a read-only share, say), in ``reports_root/<file stem>/`` (a relative
    ``reports_root`` is taken under the working directory; the path returned is absolute).

    Returns
    -------
    report, rejects
        As :func:`write_report`.
    moved_from
        The data file's folder when it was not writable and the report went to the reports folder;
        None when the report is where it was asked to be.

    Raises
    ------
    ElderMapError
        The chosen folder (``out_dir``, or the reports folder) cannot be written.
    """
    name = f"{result.path.stem}_校验报告.xlsx"
    beside = result.path.parent
    moved_from = None
    if out_dir is not None:
        target = Path(out_dir)
    elif folder_writable(beside):
        try:
            return (*write_report(result, beside / name), None)
        except OSError as exc:  # e.g. an old read-only report of the same name
            log.warning("cannot write the report beside %s (%s); using the reports folder", result.path, exc)
            target, moved_from = Path(reports_root).absolute() / result.path.stem, beside
    else:
        target, moved_from = Path(reports_root).absolute() / result.path.stem, beside
    try:
        target.mkdir(parents=True, exist_ok=True)
        report, rejects = write_report(result, target / name)
    except OSError as exc:
        raise ElderMapError(f"无法在目录 {target} 写入校验报告（{exc.strerror or exc}）。请用 --out 指定一个可写的目录。",
                            f"cannot write the validation report to {target}: {exc!r}") from exc
    return report, rejects, moved_from


# ---------------------------------------------------------------- streaming (issue 17)

STREAM_CHUNK_ROWS = 50_000
"""Rows per block when a register is validated as a stream (:func:`validate_stream`)."""
STREAM_WORKERS_MAX = 4
"""Worker processes of a stream when the setting leaves it to the machine (``import_workers`` = 0)."""
STREAM_WORKERS_MIN_BYTES = 8_000_000
"""A smaller file is validated in one process when the setting leaves it to the machine (starting the workers
costs about a second: more than they save on some 100,000 rows)."""


def stream_workers(setting: int, file_bytes: int | None = None) -> int:
    """Worker processes for a streamed register: ``setting`` (``Settings.import_workers``), 0 meaning one per CPU
    core this process may use, at most :data:`STREAM_WORKERS_MAX` — and none (1) for a file of fewer than
    :data:`STREAM_WORKERS_MIN_BYTES` bytes (``file_bytes``)."""
    if setting > 0:
        return setting
    if file_bytes is not None and file_bytes < STREAM_WORKERS_MIN_BYTES:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, STREAM_WORKERS_MAX))


def _key_halves(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-width byte keys (at most 10 bytes, padded with zero bytes) as (first 8 bytes as uint64, last 2 as
    uint16): integers numpy sorts and searches several times faster than byte strings."""
    raw = np.ascontiguousarray(np.asarray(keys).astype(f"S{_KEY_BYTES}")).view(np.uint8).reshape(-1, _KEY_BYTES)
    return raw[:, :8].copy().view(np.uint64).reshape(-1), raw[:, 8:].copy().view(np.uint16).reshape(-1)


class _SeenKeys:
    """Identifiers seen in earlier blocks: key -> first row (any) and first good row (source row numbers, -1:
    none). Runs sorted by key, merged like a binary counter; a key (a pseudonym's 10 bytes, :func:`_key_bytes`)
    kept as its :func:`_key_halves`: memory ~ 18 bytes a key (and two int32), no Python object per key."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        """(hi, lo, first row, first good row) of each run, sorted by (hi, lo)."""

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]:
        """(first row, first good row, where: (run, index) of each found key) for each key (bytes)."""
        first = np.full(len(keys), -1, dtype=np.int64)
        good = np.full(len(keys), -1, dtype=np.int64)
        where: list[tuple[int, np.ndarray]] = []
        if not self.runs or not len(keys):
            return first, good, [(r, np.full(len(keys), -1, dtype=np.int64)) for r in range(len(self.runs))]
        hi, lo = _key_halves(keys)
        order = np.argsort(hi)
        for r, (run_hi, run_lo, run_first, run_good) in enumerate(self.runs):
            idx = np.empty(len(keys), dtype=np.int64)  # keys searched in order: each search starts near the last
            idx[order] = np.minimum(np.searchsorted(run_hi, hi[order]), len(run_hi) - 1)
            same_hi = run_hi[idx] == hi
            hit = same_hi & (run_lo[idx] == lo)
            for i in np.flatnonzero(same_hi & ~hit):  # keys sharing their first 8 bytes (rare): look along them
                j = int(idx[i]) + 1
                while j < len(run_hi) and run_hi[j] == hi[i]:
                    if run_lo[j] == lo[i]:
                        idx[i], hit[i] = j, True
                        break
                    j += 1
            first[hit], good[hit] = run_first[idx[hit]], run_good[idx[hit]]
            where.append((r, np.where(hit, idx, -1)))
        return first, good, where

    def set_good(self, where: list[tuple[int, np.ndarray]], good: np.ndarray) -> None:
        """Record the first good row ``good`` (-1: none) of found keys (``where`` of :meth:`lookup`) that had none."""
        for r, idx in where:
            run_good = self.runs[r][3]
            upd = (idx >= 0) & (good >= 0)
            upd[upd] &= run_good[idx[upd]] < 0
            run_good[idx[upd]] = good[upd]

    def add(self, keys: np.ndarray, first: np.ndarray, good: np.ndarray) -> None:
        """New keys (distinct, none seen before) with their first row and first good row."""
        hi, lo = _key_halves(keys)
        order = np.argsort(hi)  # distinct first halves (the rule): one order; else by both halves
        if len(order) > 1 and (hi[order[1:]] == hi[order[:-1]]).any():
            order = np.lexsort((lo, hi))
        # row numbers as int32: a sheet has fewer than 2**31 rows
        self.runs.append((hi[order], lo[order], first[order].astype(np.int32), good[order].astype(np.int32)))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            older, newer = self.runs.pop(-2), self.runs.pop()
            # two sorted runs of distinct keys merged in place of a sort: the newer keys' places in the result
            at = np.searchsorted(older[0], newer[0])
            if (older[0][np.minimum(at, len(older[0]) - 1)] == newer[0]).any():  # first halves shared: sort
                both = [np.concatenate([a, b]) for a, b in zip(older, newer, strict=True)]
                order = np.lexsort((both[1], both[0]))
                self.runs.append(tuple(column[order] for column in both))  # type: ignore[arg-type]
                continue
            to_newer = at + np.arange(len(newer[0]))
            from_older = np.ones(len(older[0]) + len(newer[0]), dtype=bool)
            from_older[to_newer] = False
            to_older = np.flatnonzero(from_older)  # scattering by positions: 3x faster than by masks
            merged = []
            for a, b in zip(older, newer, strict=True):
                out = np.empty(len(from_older), dtype=np.result_type(a, b))
                out[to_newer], out[to_older] = b, a
                merged.append(out)
            del older, newer
            self.runs.append((merged[0], merged[1], merged[2], merged[3]))


_KEY_BYTES = 10
"""Bytes a remembered identifier takes: a pseudonym ("P" and 20 hexadecimal digits) is 80 bits."""


def _key_bytes(keys: Sequence[str]) -> np.ndarray:
    """Identifiers as fixed-width bytes for :class:`_SeenKeys` (``S10``), key by key: a pseudonym ("P" and 20
    hexadecimal digits) as the 10 bytes its digits spell (the same information in half the memory); any other
    text (never made by this validator) as a 10-byte BLAKE2b digest of it."""
    width = 1 + 2 * _KEY_BYTES
    out = np.empty(len(keys), dtype=f"S{_KEY_BYTES}")
    if not len(keys):
        return out
    try:
        text = np.array(keys, dtype=bytes)
    except UnicodeEncodeError:
        text = np.array([str(k).encode("utf-8") for k in keys], dtype=bytes)
    other = np.ones(len(keys), dtype=bool)
    if text.dtype.itemsize >= width:
        chars = text.view(np.uint8).reshape(len(keys), -1)
        digits = chars[:, 1:width].astype(np.int16)
        ok = (chars[:, 0] == ord("P")) & (((digits >= 48) & (digits <= 57)) | ((digits >= 97) & (digits <= 102))).all(
            axis=1)
        if chars.shape[1] > width:
            ok &= chars[:, width] == 0  # exactly 21 characters (numpy pads shorter values with zero bytes)
        value = np.where(digits <= 57, digits - 48, digits - 87)
        packed = np.ascontiguousarray((value[:, 0::2] * 16 + value[:, 1::2]).astype(np.uint8))
        out[ok] = packed.view(f"S{_KEY_BYTES}").reshape(-1)[ok]
        other = ~ok
    for i in np.flatnonzero(other):
        out[i] = hashlib.blake2b(str(keys[i]).encode("utf-8"), digest_size=_KEY_BYTES).digest()
    return out


@dataclass(frozen=True)
class _BlockKeys:
    """One block's identifiers as the duplicate check across blocks takes them (:func:`_block_keys`): numpy
    arrays only, cheap to send from a worker process."""

    has: np.ndarray
    """Rows with an identifier."""
    codes: np.ndarray
    """Each row's index into ``ukeys`` (-1: none)."""
    ukeys: np.ndarray
    """The block's distinct identifiers as :func:`_key_bytes`."""
    local_good: np.ndarray
    """Each row's first row in the block with its identifier among the ``good`` rows (-1: none)."""
    local_first: np.ndarray
    """Each row's first row in the block with its identifier."""
    local_second: np.ndarray
    """Each row's second row in the block with its identifier (-1: none)."""


def _block_keys(keys: np.ndarray | None, good: np.ndarray) -> _BlockKeys | None:
    """The part of the duplicate check that needs one block alone (None: no row has an identifier), done where
    the block is validated; :meth:`_StreamState.pid_duplicates` does the rest, block after block."""
    if keys is None:
        return None
    has = columns.present(keys)
    if not has.any():
        return None
    codes, uniques = columns.factorize(keys)
    local_good, _ = columns.first_two_rows(np.where(good, codes, -1), codes=True)
    local_first, local_second = columns.first_two_rows(codes, codes=True)
    return _BlockKeys(has, codes, _key_bytes(uniques), local_good, local_first, local_second)


class _StreamState:
    """What validating a file block by block carries from one block to the next."""

    def __init__(self, cluster: _Cluster) -> None:
        self.cluster = cluster
        self.first = True
        self.seen = _SeenKeys()
        self.pending: dict[bytes, int] = {}
        """Rejected rows (source row) that were the first to carry their pid: their duplicate is further on."""
        self.late: list[tuple[int, str]] = []
        """(source row, "与第 … 行重复") found for a pending row in a later block."""

    def duplicate_pids(self, out: _Columns, good: np.ndarray, col: _Collector) -> Callable[[], None]:
        """:func:`_duplicate_ids_columns` of ``pid`` for one block, the earlier blocks remembered. Returns what
        completes it (here: nothing; a worker's :class:`_RemoteState` waits for the verdict there)."""
        if "pid" in out:
            keys = columns.object_array(out["pid"])
            for i, why in self.pid_duplicates(keys, good, np.asarray(col.source_rows, dtype=np.int64)):
                col.add(i, "老人", _SENSITIVE_MASK, why)
        return lambda: None

    def pid_duplicates(self, keys: np.ndarray | _BlockKeys, good: np.ndarray,
                       source: np.ndarray) -> list[tuple[int, str]]:
        """The duplicate problems (block row, reason) of one block's pseudonyms ``keys`` (None: no identifier;
        or the block's :func:`_block_keys`, prepared where the block was validated), its rows that passed every
        other check (``good``) and their source rows, in the order they are reported; the block's keys are
        remembered for the blocks after it."""
        found: list[tuple[int, str]] = []
        block = keys if isinstance(keys, _BlockKeys) else _block_keys(keys, good)
        if block is None:
            return found
        has, codes, ukeys = block.has, block.codes, block.ukeys
        local_good, local_first, local_second = block.local_good, block.local_first, block.local_second
        prev_first_u, prev_good_u, where = self.seen.lookup(ukeys)
        prev_first = np.where(has, prev_first_u[np.maximum(codes, 0)], -1)
        prev_good = np.where(has, prev_good_u[np.maximum(codes, 0)], -1)
        rows = np.flatnonzero(good & has)  # a good row: its key's first good row, earlier or in this block
        here = local_good[rows]
        earlier = np.where(here != rows, source[np.maximum(here, 0)], -1)
        j = np.where(prev_good[rows] >= 0, prev_good[rows], earlier)
        hit = j >= 0
        found += [(i, f"与第 {r} 行重复") for i, r in zip(rows[hit].tolist(), j[hit].tolist(), strict=True)]
        for i in np.flatnonzero(~good & has):
            if prev_first[i] >= 0:
                j = prev_first[i]
            else:
                other = local_first[i] if local_first[i] != i else local_second[i]
                j = source[other] if other >= 0 else -1
            if j >= 0:
                found.append((int(i), f"与第 {int(j)} 行重复"))
            else:
                self.pending[ukeys[codes[i]]] = int(source[i])
        # a pending row of an earlier block: its duplicate is this block's first row with the key
        if self.pending:
            for u in np.flatnonzero(prev_first_u >= 0).tolist():
                row = self.pending.pop(ukeys[u], None)
                if row is not None:
                    self.late.append((row, f"与第 {int(source[np.flatnonzero(codes == u)[0]])} 行重复"))
        # remember: first row of new keys; first good row of keys not yet seen good
        first_good_u = np.full(len(ukeys), -1, dtype=np.int64)
        g = np.flatnonzero(good & has)
        first_good_u[codes[g][::-1]] = source[g][::-1]
        self.seen.set_good(where, first_good_u)
        new = prev_first_u < 0
        if new.any():
            first_u = np.full(len(ukeys), -1, dtype=np.int64)
            first_u[codes[has][::-1]] = source[has][::-1]
            self.seen.add(ukeys[new], first_u[new], first_good_u[new])
        return found


@dataclass(frozen=True)
class _StreamPlan:
    """What the first pass over a streamed file (:func:`_stream_positions`) finds."""

    cluster: _Cluster
    """Where most of the file's points lie (the swapped-coordinates check)."""
    rows: int
    """Rows of the file (blank ones excluded)."""
    encoding: str | None
    """The text file's encoding (None for workbooks)."""
    blocks: int
    """Blocks of ``chunk_rows`` file rows (blank blocks included)."""
    first_block: int
    """The first block with a row (the one that reports unrecognised headers); -1: none."""


@dataclass
class _BlockPositions:
    """What the first pass keeps of one block: its positions before the swap check, the points written in
    metres, and how many points count for the whole-file check of projected files."""

    rows: int
    lon: np.ndarray
    lat: np.ndarray
    metres_x: np.ndarray
    metres_y: np.ndarray
    counted: int


def _block_positions(raw_table: RawTable, path: Path, table: str, *, settings: Settings, today: dt.date,
                     region_extent: Extent | None) -> _BlockPositions:
    """The first pass over one block of a streamed file (the coordinate columns only)."""
    specs = {s.name: s for s in TABLES[table]}
    raw, n = raw_table.frame, raw_table.n_rows
    scratch = _Collector(path.name, raw_table.source_rows)
    parsed = {name: _parse_column_fast(specs[name], raw[name].to_numpy(dtype=object), scratch, settings=settings,
                                       today=today)
              for name in ("lon", "lat") if name in raw.columns}
    x, y, from_geometry = _written_positions(parsed, None, n)
    considered = np.array([r is None for r in placeholder_reasons(x, y)], dtype=bool)
    has = considered & np.isfinite(x) & np.isfinite(y)  # as _refuse_projected_file counts them
    with np.errstate(invalid="ignore"):
        metres = has & (np.abs(x) > 180) & (np.abs(y) > 90)
    lon, lat = _positions_before_swap(raw, x, y, from_geometry, scratch, file_crs=None,
                                      region_extent=region_extent, settings=settings)
    return _BlockPositions(n, lon, lat, x[metres], y[metres], int(has.sum()))


def _plan_of(path: Path, positions: Sequence[_BlockPositions | None], *, encoding: str | None,
             region_extent: Extent | None, personal: bool) -> _StreamPlan:
    """The whole file's plan from the first pass over each of its blocks (None: a blank block), in file order:
    a file of projected metres refused as :func:`validate_table` refuses it."""
    kept = [p for p in positions if p is not None]
    first_block = next((k for k, p in enumerate(positions) if p is not None), -1)
    if not kept:
        return _StreamPlan(None, 0, encoding, len(positions), first_block)
    mx, my = np.concatenate([p.metres_x for p in kept]), np.concatenate([p.metres_y for p in kept])
    if len(mx):  # the whole file's counts and medians, as one pass gives them
        padding = sum(p.counted for p in kept) - len(mx)
        x = np.concatenate([mx, np.full(padding, 0.5)])  # stand-ins for positions in degrees: counted, not metres
        _refuse_projected_file(path, x, np.concatenate([my, np.full(padding, 0.5)]), np.ones(len(x), dtype=bool),
                               region_extent=region_extent, personal=personal)
    lon = np.concatenate([p.lon for p in kept])
    cluster = _data_cluster(lon, np.concatenate([p.lat for p in kept]))
    return _StreamPlan(cluster, len(lon), encoding, len(positions), first_block)


def _stream_positions(path: Path, table: str, *, chunk_rows: int, encoding: str | None, settings: Settings,
                      today: dt.date, region_extent: Extent | None, personal: bool,
                      sheet: str | int | None = None) -> _StreamPlan:
    """First pass over a streamed file, the coordinate columns only: the whole-file checks (a file of projected
    metres is refused as :func:`validate_table` refuses it), where most of its points lie, the number of rows
    (blank ones excluded) and blocks, and the file's encoding (text files; None for workbooks)."""
    positions: list[_BlockPositions | None] = []
    for raw_table in iter_chunks(path, table, chunk_rows=chunk_rows, encoding=encoding, only=("lon", "lat"),
                                 sheet=sheet):
        encoding = raw_table.encoding
        positions.append(_block_positions(raw_table, path, table, settings=settings, today=today,
                                          region_extent=region_extent) if raw_table.n_rows else None)
    return _plan_of(path, positions, encoding=encoding, region_extent=region_extent, personal=personal)


class _Background(threading.Thread):
    """``func(*args)`` in a daemon thread (work that releases the GIL, e.g. hashing a file); :meth:`result` waits
    for its value or raises its exception. A stream left early does not wait for it."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        super().__init__(name="eldermap-background", daemon=True)
        self.func, self.args = func, args
        self.value: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.func(*self.args)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread by result()
            self.error = exc

    def result(self) -> Any:
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


class ValidationStream:
    """A register validated block by block: iterate for the good rows of each block (GeoDataFrames, as
    :attr:`ValidationResult.good` holds them, in file order), then :meth:`result` gives the rejects, the
    problems and the counts of the whole file (``good`` empty, ``n_good`` the rows handed out).

    The same rows pass, with the same problems and row numbers, as with :func:`validate_table` of the
    whole file (duplicates are found across blocks). Memory: one block, plus ~40 bytes per distinct
    identifier, 16 bytes per row for the coordinate pre-pass, and the rejected rows.

    With ``workers`` > 1 (a delimited text file), the blocks are validated by that many
    worker processes at once, each reading the file and checking every ``workers``-th block; this process
    keeps the duplicate check (in file order: a worker waits for the verdict on its block's identifiers)
    and hands the blocks out in file order. Memory: one block in each process and at most ``workers`` + 1
    blocks waiting here. :attr:`worker_peaks_mb` then holds the workers' peak resident memory.
    """

    def __init__(self, path: Path, table: str, *, chunk_rows: int, settings: Settings, crs: str | None,
                 salt: bytes, region_extent: Extent | None, today: dt.date | None, encoding: str | None,
                 progress: Callable[[int, int], None] | None, sheet: str | int | None = None,
                 workers: int = 1, then: Callable[[gpd.GeoDataFrame], tuple[gpd.GeoDataFrame, Any]] | None = None,
                 tables: bool = False) -> None:
        self.path, self.table, self.chunk_rows, self.sheet = path, table, chunk_rows, sheet
        self.then, self.tables = then, tables
        self.settings, self.crs, self.salt, self.region_extent = settings, crs, salt, region_extent
        self.today, self.encoding, self.progress = today or dt.date.today(), encoding, progress
        self.workers = workers
        self.worker_peaks_mb: list[float] = []
        """Peak resident memory of each worker process (MB), once the stream has ended; empty when none ran."""
        self.worker_pids: list[int] = []
        """Process ids of the workers started (stopped when the stream ends or is left)."""
        self._result: ValidationResult | None = None

    def __iter__(self) -> Iterator[Any]:
        return self._blocks()

    def _blocks(self) -> Iterator[Any]:
        path, table = self.path, self.table
        pool = None
        if self.workers > 1 and path.suffix.lower() in TEXT_SUFFIXES:
            try:
                pool = _StreamWorkers(self, self.workers)
            except OSError as exc:  # no processes to be had (limits, no /dev/shm): the same work in this one
                log.warning("cannot start %d validation workers (%r): validating %s in one process",
                            self.workers, exc, path.name)
        self.worker_pids = [proc.pid for proc in pool.procs] if pool is not None else []
        try:
            with columns.cyclic_gc_paused():
                plan = pool.plan() if pool is not None else _stream_positions(
                    path, table, chunk_rows=self.chunk_rows, encoding=self.encoding, settings=self.settings,
                    today=self.today, region_extent=self.region_extent, personal=table in PERSONAL_TABLES,
                    sheet=self.sheet)
            state = _StreamState(plan.cluster)
            parts = pool.parts(state, plan) if pool is not None else self._serial_parts(state, plan)
            yield from self._collect(parts, state, plan)
        finally:
            if pool is not None:
                self.worker_peaks_mb = pool.close()
                if self._result is not None:
                    self._result.worker_peaks_mb = list(self.worker_peaks_mb)

    def _serial_parts(self, state: _StreamState, plan: _StreamPlan) -> Iterator[tuple[ValidationResult, Any]]:
        """Each non-blank block validated here, in file order."""
        # the encoding the first pass detected (the same detection again would read the whole file once more)
        chunks = iter_chunks(self.path, self.table, chunk_rows=self.chunk_rows,
                             encoding=self.encoding or plan.encoding, sheet=self.sheet)
        while True:
            with columns.cyclic_gc_paused():  # per block (read and checked): the consumer runs with the collector on
                raw_table = next(chunks, None)
                if raw_table is None:
                    return
                if raw_table.n_rows == 0:
                    continue
                part = _validate_raw(raw_table, self.path, self.table, settings=self.settings, crs=self.crs,
                                     salt=self.salt, region_extent=self.region_extent, roads=None, today=self.today,
                                     progress=None, related=None, engine="columns", stream=state,
                                     points=_points_needed(self.tables, self.then))
                del raw_table
            state.first = False
            extra = None
            if self.then is not None:
                part.good, extra = self.then(part.good)
            if self.tables:
                part.good = _layer_table(part.good)
            yield part, extra

    def _collect(self, parts: Iterator[tuple[ValidationResult, Any]], state: _StreamState,
                 plan: _StreamPlan) -> Iterator[Any]:
        """Hand out the good rows of each block (with ``then``'s extra); keep its rejects and problems for
        :meth:`result`."""
        path, table = self.path, self.table
        records: list[pd.DataFrame] = []
        rejects: list[pd.DataFrame] = []
        n_read = n_good = 0
        encoding = sheet = None
        sha256 = _Background(file_sha256, path)  # the file's checksum while the blocks are checked, not after them
        for part, extra in parts:
            encoding, sheet = part.source["encoding"], part.source["sheet"]
            n_read += part.n_read
            n_good += len(part.good)
            records.append(part.problems)
            rejects.append(part.rejects)
            if self.progress:
                self.progress(n_read, plan.rows)
            yield part.good if self.then is None else (part.good, extra)
        if n_read == 0:
            raise InputFileError(
                f"文件 {path.name} 只有表头，没有任何数据行（空白行不计）：没有可导入的{TABLE_ZH[table]}数据。"
                "请确认选对了文件或工作表，填入数据后再导入。",
                f"{path}: header but no data rows",
            )
        late = pd.DataFrame([(path.name, str(row), "老人", _SENSITIVE_MASK, why, ERROR) for row, why in state.late],
                            columns=PROBLEM_COLUMNS)
        problems = pd.concat([*records, late], ignore_index=True) if records else late
        rank = problems["行号"].map(lambda r: -1 if r == "—" else int(r))
        order = np.argsort(rank.to_numpy(), kind="stable")
        problems = pd.DataFrame([tuple(r) for r in problems.to_numpy()[order]], columns=PROBLEM_COLUMNS)
        kept = [r for r in rejects if len(r)] or rejects[:1]
        rejected = pd.concat(kept, ignore_index=True)
        if len(rejected):  # types inferred over the whole column, as one pass does
            rejected = _yes_no_frame(rejected)
        if state.late:
            extra = dict(state.late)
            rejected["拒绝原因"] = [f"{why}；老人：{extra[r]}" if r in extra else why
                                for r, why in zip(rejected["行号"], rejected["拒绝原因"], strict=True)]
        source = {
            "layer": table, "path": str(path), "file": path.name, "sha256": sha256.result(),
            "format": path.suffix.lower().lstrip("."), "encoding": encoding, "sheet": sheet,
            "crs_declared": coords.normalise_crs_name(self.crs or "wgs84"), "crs_file": None,
            "rows_read": n_read, "rows_imported": n_good, "rows_rejected": len(rejected),
        }
        assert source["rows_read"] == source["rows_imported"] + source["rows_rejected"]
        empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
        self._result = ValidationResult(table, path, n_read, empty, rejected, problems, source, n_good=n_good)
        log.info("validated %s as %s in blocks of %d: read %d, imported %d, rejected %d, problems %d",
                 path.name, table, self.chunk_rows, n_read, n_good, len(rejected), len(problems))

    def result(self) -> ValidationResult:
        """Rejects, problems and counts of the whole file (after the iteration has ended)."""
        if self._result is None:
            raise RuntimeError("iterate over the stream to its end before asking for the result")
        return self._result


class _RemoteState:
    """A worker's stand-in for :class:`_StreamState`: the duplicate check of a block's identifiers is asked of the
    process that runs the stream (it alone has seen the blocks before), and its verdict applied here."""

    def __init__(self, conn: Any, cluster: _Cluster) -> None:
        self.conn, self.cluster = conn, cluster
        self.block = -1
        self.first = False

    def duplicate_pids(self, out: _Columns, good: np.ndarray, col: _Collector) -> Callable[[], None]:
        """Ask for the verdict on the block's identifiers; the returned function waits for it and records it (the
        worker builds the block's rows meanwhile)."""
        keys = _block_keys(columns.object_array(out["pid"]), good) if "pid" in out else None
        self.conn.send(("keys", self.block, keys, good, np.asarray(col.source_rows, dtype=np.int64)))

        def verdict() -> None:
            reply = self.conn.recv()
            if reply[0] != "dups":
                raise _WorkerStopped
            for i, why in reply[1]:
                col.add(i, "老人", _SENSITIVE_MASK, why)

        return verdict


def _worker_lost() -> ElderMapError:
    """The error of a stream whose worker process ended without a word (killed: out of memory, most often)."""
    return ElderMapError("校验工作进程意外退出（可能是内存不足），文件未能校验完（导入时原有数据保持不变）。"
                         "可将设置 import_workers 调小（1 表示不用工作进程）后重试。",
                         "a validation worker process ended unexpectedly (out of memory?)")


class _WorkerStopped(Exception):
    """The stream told a worker to stop (its consumer stopped, or another block failed)."""


def _points_needed(tables: bool, then: Callable[..., Any] | None) -> bool:
    """Whether a stream's blocks need shapely points: not when they are handed out only as the tables written
    (``tables`` without ``then``, which takes GeoDataFrames)."""
    return not tables or then is not None


def _layer_table(good: gpd.GeoDataFrame | pd.DataFrame) -> pa.Table:
    """A block's good rows as they are written: :func:`data.store.layer_table` of a GeoDataFrame, or
    :func:`data.store.point_layer_table` of the plain frame of points ``points=False`` gives."""
    return store_layer_table(good) if isinstance(good, gpd.GeoDataFrame) else point_layer_table(good)


def _write_ipc(table: pa.Table, file: Path) -> None:
    """``table`` as an Arrow IPC file (its buffers copied once, not pickled)."""
    import pyarrow.ipc as ipc

    with pa.OSFile(str(file), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _pack_good(good: gpd.GeoDataFrame | pd.DataFrame, file: Path, *, table: bool = False) -> dict[str, Any]:
    """A block's good rows for the pipe, lighter than the pickled frame: the point geometries left out (they are
    the points of ``lon``/``lat``, rebuilt by :func:`_unpack_good`); each column of Python objects (the
    ``groups`` lists) as codes into its distinct objects (an object shared by many rows — one list per distinct
    cell text — crosses once and is shared again on arrival); the other columns written to ``file`` as an Arrow
    IPC file (its buffers copied once, not pickled and piped), of which only the name crosses."""
    if table:  # the rows as they are written
        _write_ipc(_layer_table(good), file)
        return {"file": str(file), "table": True}
    frame = pd.DataFrame(good.drop(columns=good.geometry.name))
    shared = {}
    for name in frame.columns:
        if frame[name].dtype == object:
            values = frame[name].to_numpy()
            _, first, codes = np.unique(np.fromiter(map(id, values), dtype=np.uint64, count=len(values)),
                                        return_index=True, return_inverse=True)
            shared[name] = (codes.astype(np.int32).reshape(-1), values[first].tolist())
            frame[name] = None
    _write_ipc(pa.Table.from_pandas(frame, preserve_index=False), file)
    return {"file": str(file), "shared": shared, "columns": list(good.columns), "geometry": good.geometry.name,
            "crs": good.crs}


def _unpack_good(packed: dict[str, Any]) -> gpd.GeoDataFrame | pa.Table:
    """The frame :func:`_pack_good` packed (equal to the worker's: same columns, types and values), or the table
    it packed with ``table=True``; its file read and removed."""
    import pyarrow.ipc as ipc

    if packed.get("table"):  # mapped, not copied: the mapping outlives the file's name
        table = ipc.open_file(pa.memory_map(packed["file"])).read_all()
        Path(packed["file"]).unlink()
        return table
    with pa.OSFile(packed["file"], "rb") as source:
        frame = ipc.open_file(source).read_all().to_pandas()
    Path(packed["file"]).unlink()
    for name, (codes, objects) in packed["shared"].items():
        distinct = np.empty(len(objects), dtype=object)
        for i, thing in enumerate(objects):  # one by one: numpy would read a list of lists as a 2-D array
            distinct[i] = thing
        frame[name] = pd.Series(distinct[codes], index=frame.index, dtype=object)
    lon, lat = frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float)
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(gpd.points_from_xy(lon, lat), index=frame.index,
                                                         crs=packed["crs"]), crs=packed["crs"])
    if np.isnan(lon).any():
        gdf.loc[np.isnan(lon), "geometry"] = None
    if packed["geometry"] != "geometry":
        gdf = gdf.rename_geometry(packed["geometry"])
    return gdf[packed["columns"]]


def _stream_worker(conn: Any, share: tuple[int, int], path: Path, table: str, chunk_rows: int, settings: Settings,
                   crs: str | None, salt: bytes, region_extent: Extent | None, today: dt.date,
                   then: Callable[[gpd.GeoDataFrame], tuple[gpd.GeoDataFrame, Any]] | None, folder: str,
                   tables: bool = False) -> None:
    """A worker process of a :class:`ValidationStream`: the first pass, then the validation, of the blocks
    ``k % n == w`` of the file (``share`` = (w, n)).

    Told ("scan", k): ("scanned", :class:`data.readers.TextScan` of its share of the file's ranges from k on — the
    stream's process scanned those before while the workers started), answered by
    ("read", encoding, plain) (:func:`data.readers.text_stream_plan`); ("positions", k, :class:`_BlockPositions` or
    None for a blank block) and ("counted", blocks) after the first pass; then, once told ("start", cluster, first
    block): for each
    block ("keys", k, pseudonyms, good, source rows), and after the verdict ("dups", [(row, reason)]) ("part", k,
    result with :func:`_pack_good` rows), or ("empty", k) for a blank block; ("end", peak memory MB) after the
    last; ("error", k, exception) when anything fails. ("stop",) at any time ends the worker."""
    k = -1
    try:
        go = conn.recv()
        if go[0] != "scan":
            return
        conn.send(("scanned", scan_text_share(path, share, start=go[1])[0]))
        go = conn.recv()
        if go[0] != "read":
            return
        _, encoding, plain = go
        with columns.cyclic_gc_paused():
            for k, raw_table in enumerate(iter_text_chunks(path, table, chunk_rows=chunk_rows, encoding=encoding,
                                                           only=("lon", "lat"), share=share, plain=plain)):
                if raw_table is not None:
                    found = _block_positions(raw_table, path, table, settings=settings, today=today,
                                             region_extent=region_extent) if raw_table.n_rows else None
                    conn.send(("positions", k, found))
            conn.send(("counted", k + 1))
        k = -1
        start = conn.recv()
        if start[0] != "start":
            return
        _, cluster, first_block = start
        state = _RemoteState(conn, cluster)
        chunks = iter_text_chunks(path, table, chunk_rows=chunk_rows, encoding=encoding, share=share, plain=plain)
        while True:
            with columns.cyclic_gc_paused():
                k += 1
                raw_table = next(chunks, False)
                if raw_table is False:
                    break
                if raw_table is None:
                    continue
                if raw_table.n_rows == 0:
                    conn.send(("empty", k))
                    continue
                state.block, state.first = k, k == first_block
                part = _validate_raw(raw_table, path, table, settings=settings, crs=crs, salt=salt,
                                     region_extent=region_extent, roads=None, today=today, progress=None,
                                     related=None, engine="columns", stream=state,  # type: ignore[arg-type]
                                     points=_points_needed(tables, then))
                del raw_table
                extra = None
                if then is not None:
                    part.good, extra = then(part.good)
                part.good = _pack_good(part.good, Path(folder) / f"{share[0]}-{k}.arrow", table=tables)
            conn.send(("part", k, part, extra))
            del part, extra
        conn.send(("end", columns.peak_memory_mb()))
    except (_WorkerStopped, EOFError, BrokenPipeError):
        return
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the stream, which raises it
        try:
            conn.send(("error", k, exc))
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its text instead
            conn.send(("error", k, ElderMapError("校验工作进程出错，文件未能校验完（导入时原有数据保持不变）。可将设置 import_workers 设为 1 后重试。",
                                                 f"validation worker failed: {type(exc).__name__}: {exc}")))
    finally:
        conn.close()


class _StreamWorkers:
    """The worker processes of one :class:`ValidationStream` (``forkserver``: safe to start from a threaded
    program such as the app's server; each worker is forked from a server that has loaded this module)."""

    def __init__(self, stream: ValidationStream, n: int) -> None:
        import multiprocessing as mp

        self.stream = stream
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])  # takes effect when the server starts (the first stream)
        self.conns = []
        self.procs = []
        self.peaks: list[float] = []
        shm = Path("/dev/shm")  # blocks cross through memory where there is a memory file system
        self.folder = tempfile.mkdtemp(prefix=f"eldermap-stream-{os.getpid()}-",
                                       dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None)
        started, failed = threading.Event(), []

        def start_workers() -> None:
            try:
                for w in range(n):
                    here, there = ctx.Pipe()
                    proc = ctx.Process(target=_stream_worker, name=f"eldermap-validate-{w}", daemon=True,
                                       args=(there, (w, n), stream.path, stream.table, stream.chunk_rows,
                                             stream.settings, stream.crs, stream.salt, stream.region_extent,
                                             stream.today, stream.then, self.folder,
                                             stream.tables))
                    self.conns.append(here)
                    proc.start()
                    there.close()
                    self.procs.append(proc)
            except BaseException as exc:  # noqa: BLE001 - raised again below, in the stream's thread
                failed.append(exc)
            finally:
                started.set()

        # the fork server starts (it imports this module: about half a second) while this process scans the
        # file's first ranges itself; the workers scan the rest
        starter = threading.Thread(target=start_workers, name="eldermap-validate-start", daemon=True)
        starter.start()
        try:
            self.scan, self.scan_from = scan_text_share(stream.path, (0, 1), until=started.is_set)
        except BaseException:
            starter.join()
            self.close()
            raise
        starter.join()
        if failed:
            self.close()  # the ones started
            raise failed[0]
        self.live = {id(c): c for c in self.conns}

    def _next(self) -> tuple[Any, tuple[Any, ...]]:
        """The next message of any worker, with its connection; a worker gone without a word is an error."""
        from multiprocessing.connection import wait

        if not self.live:
            raise _worker_lost()
        for conn in wait(list(self.live.values())):
            try:
                message = conn.recv()
            except (EOFError, OSError):
                self.live.pop(id(conn), None)
                raise _worker_lost() from None
            if message[0] == "end":
                self.peaks.append(float(message[1]))
                self.live.pop(id(conn), None)
            return conn, message
        raise AssertionError("unreachable")  # pragma: no cover

    def plan(self) -> _StreamPlan:
        """The first pass, run by the workers over their blocks; the whole file's plan made here."""
        stream = self.stream
        for conn in self.conns:
            conn.send(("scan", self.scan_from))
        scans: list[TextScan] = [self.scan]
        while len(scans) <= len(self.conns):  # the file's encoding, and whether it is plain, from the scans
            _, message = self._next()
            if message[0] == "error":
                raise message[2]
            scans.append(message[1])
        encoding, plain = text_stream_plan(stream.path, stream.encoding, scans)
        for conn in self.conns:
            conn.send(("read", encoding, plain))
        found: dict[int, _BlockPositions | None] = {}
        blocks, counted = None, 0
        while counted < len(self.conns):
            _, message = self._next()
            if message[0] == "positions":
                found[message[1]] = message[2]
            elif message[0] == "counted":
                counted += 1
                blocks = message[1]
            elif message[0] == "error":
                raise message[2]
        assert blocks is not None and sorted(found) == list(range(blocks)), "every block counted once"
        return _plan_of(stream.path, [found[k] for k in range(blocks)], encoding=encoding,
                        region_extent=stream.region_extent, personal=stream.table in PERSONAL_TABLES)

    def parts(self, state: _StreamState, plan: _StreamPlan) -> Iterator[tuple[ValidationResult, Any]]:
        """The validated blocks in file order; the duplicate check run here, block after block. Python's cyclic
        collector is paused while this process works for the stream (its consumer runs with it on)."""
        for conn in self.conns:
            conn.send(("start", plan.cluster, plan.first_block))
        self.asked: dict[int, tuple[Any, Any, np.ndarray, np.ndarray] | None] = {}
        self.done: dict[int, tuple[ValidationResult, Any] | None] = {}
        self.errors: dict[int, BaseException] = {}
        self.next_check = self.next_out = 0
        while True:
            with columns.cyclic_gc_paused():
                entry = self._advance(state, plan.blocks)
            if entry is None:
                return
            yield entry

    def _advance(self, state: _StreamState, blocks: int) -> tuple[ValidationResult, Any] | None:
        """The next block in file order (None after the last), answering the workers' duplicate questions in file
        order meanwhile."""
        asked, done, errors = self.asked, self.done, self.errors
        while self.next_out < blocks:
            while self.next_check < blocks and (self.next_check in asked or self.next_check in errors):
                if self.next_check not in asked:
                    raise errors[self.next_check]
                entry = asked.pop(self.next_check)
                if entry is not None:
                    conn, keys, good, source = entry
                    verdict = [] if keys is None else state.pid_duplicates(keys, good, source)
                    try:
                        conn.send(("dups", verdict))
                    except OSError:  # the worker is gone (killed): its pipe is broken
                        raise _worker_lost() from None
                self.next_check += 1
            if self.next_out in done:
                part = done.pop(self.next_out)
                self.next_out += 1
                if part is not None:
                    part[0].good = _unpack_good(part[0].good)  # type: ignore[arg-type]
                    return part
                continue
            if self.next_out in errors:
                raise errors[self.next_out]
            conn, message = self._next()
            kind = message[0]
            if kind == "keys":
                asked[message[1]] = (conn, message[2], message[3], message[4])
            elif kind == "part":
                done[message[1]] = (message[2], message[3])
            elif kind == "empty":
                asked[message[1]] = None
                done[message[1]] = None
            elif kind == "error":
                errors.setdefault(max(message[1], 0), message[2])
        while self.live:  # the workers' last word: their peak memory
            self._next()
        return None

    def close(self) -> list[float]:
        """Stop the workers (at once if the stream was left before its end); their peak memory (MB)."""
        for conn in self.conns:
            try:
                conn.send(("stop",))
            except (OSError, ValueError):
                pass
            conn.close()
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)  # blocks written but never read (a stream left early)
        return list(self.peaks)


def validate_stream(path: str | Path, table: str = "elders", *, settings: Settings,
                    chunk_rows: int = STREAM_CHUNK_ROWS, crs: str | None = None, salt: bytes = b"",
                    region_extent: Extent | None = None, today: dt.date | None = None,
                    encoding: str | None = None,
                    progress: Callable[[int, int], None] | None = None,
                    sheet: str | int | None = None, workers: int = 1,
                    then: Callable[[gpd.GeoDataFrame], tuple[gpd.GeoDataFrame, Any]] | None = None,
                    tables: bool = False) -> ValidationStream:
    """Validate an elder register (CSV/TXT/TSV, or an .xlsx/.xlsm workbook: ``sheet`` as :func:`validate_table`
    takes it) ``chunk_rows`` rows at a time, memory flat in its length.

    Two passes over the file: the coordinate columns first (whole-file checks, and the number of rows), then
    the blocks. ``progress`` is called after each block with (rows read so far, rows in the file). Road-based
    checks of the coordinate system (``roads`` of :func:`validate_table`) are not run on a stream. ``workers`` >
    1: the blocks of a delimited text file are validated by that many processes at once
    (:class:`ValidationStream`); the same result. ``then``: a function of a block's good rows returning
    (rows, extra), run on each block where it was validated (in a worker, which saves this process the work;
    picklable then, e.g. a module-level function or a ``functools.partial`` of one): the stream hands out its
    (rows, extra) instead of the rows. ``tables``: the rows handed out as the Arrow tables
    :func:`data.store.layer_table` makes of them, for :func:`data.store.write_layer_blocks` (made in the workers,
    which saves this process converting them twice).

    Raises
    ------
    ValueError
        Not the elders table, or not a delimited text file or workbook.
    """
    path = Path(path)
    if table != "elders":
        raise ValueError("streaming validation covers the elders table only")
    if path.suffix.lower() not in TEXT_SUFFIXES + EXCEL_SUFFIXES:
        raise ValueError(f"streaming validation reads delimited text files and workbooks only, not {path.suffix}")
    return ValidationStream(path, table, chunk_rows=chunk_rows, settings=settings, crs=crs, salt=salt,
                            region_extent=region_extent, today=today, encoding=encoding, progress=progress,
                            sheet=sheet, workers=workers, then=then, tables=tables)
