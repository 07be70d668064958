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
stored: elders are kept under a salted-hash pseudonym with birth year only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data import ids
from data.readers import RawTable, read_table
from data.schema import (
    ABILITY_ALIASES,
    ABILITY_LEVELS,
    LEVEL_ALIASES,
    NATURE_ALIASES,
    SEX_ALIASES,
    TABLE_ZH,
    TABLES,
    FieldSpec,
)
from data.store import file_sha256, write_table
from geo import coords, hexes
from geo.crs import working_crs
from geo.errors import InputFileError, NoCrsError
from geo.settings import Settings

log = logging.getLogger(__name__)

ERROR = "错误"
WARNING = "警告"
PROBLEM_COLUMNS = ["文件", "行号", "字段", "值", "问题", "级别"]

KIND_ALIASES: dict[str, str] = {
    "养老院": "养老机构", "敬老院": "养老机构", "福利院": "养老机构", "社会福利院": "养老机构",
    "老年养护院": "养老机构", "护理院": "养老机构", "养老公寓": "养老机构", "特困供养服务机构": "养老机构",
    "社区养老服务综合体": "社区养老服务综合体/中心", "社区养老服务中心": "社区养老服务综合体/中心",
    "街道养老服务中心": "社区养老服务综合体/中心", "综合体": "社区养老服务综合体/中心",
    "日间照料": "日间照料中心", "社区日间照料中心": "日间照料中心", "托老所": "日间照料中心",
    "养老服务驿站": "养老服务站", "驿站": "养老服务站", "社区养老服务站": "养老服务站", "服务站": "养老服务站",
    "老年助餐点": "助餐点", "长者饭堂": "助餐点", "老年食堂": "助餐点", "助餐服务点": "助餐点",
    "居家养老服务商": "居家上门服务商", "上门服务商": "居家上门服务商", "居家养老服务机构": "居家上门服务商",
}
KIND_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("日间照料", "日间照料中心"), ("托老", "日间照料中心"), ("助餐", "助餐点"), ("饭堂", "助餐点"), ("食堂", "助餐点"),
    ("驿站", "养老服务站"), ("服务站", "养老服务站"), ("综合体", "社区养老服务综合体/中心"),
    ("养老服务中心", "社区养老服务综合体/中心"), ("上门", "居家上门服务商"), ("居家养老服务", "居家上门服务商"),
    ("养老院", "养老机构"), ("敬老院", "养老机构"), ("福利院", "养老机构"), ("护理院", "养老机构"),
    ("养护院", "养老机构"), ("养老公寓", "养老机构"), ("供养", "养老机构"),
)
"""Keyword -> kind, tried in order when a kind is neither allowed nor an exact alias (reported as a warning)."""
_TAG_SPLIT = re.compile(r"[、,，;；/|\s]+")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5}
_PHONE = re.compile(r"^[0-9+\-()（）\s转]{5,30}$")
_SENSITIVE_MASK = "（已隐去）"


@dataclass
class ValidationResult:
    """Outcome of validating one file.

    Attributes
    ----------
    table
        "facilities", "elders" or "areas".
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

    @property
    def n_imported(self) -> int:
        return len(self.good)

    @property
    def n_rejected(self) -> int:
        return len(self.rejects)

    @property
    def ok(self) -> bool:
        return self.n_rejected == 0

    def summary_zh(self) -> str:
        """One line such as "读取 120 行 = 可导入 117 行 + 拒绝 3 行；警告 5 条"."""
        n_warn = int((self.problems["级别"] == WARNING).sum()) if len(self.problems) else 0
        return (f"{self.path.name}（{TABLE_ZH[self.table]}）：读取 {self.n_read} 行 = 可导入 {self.n_imported} 行"
                f" + 拒绝 {self.n_rejected} 行；警告 {n_warn} 条")


class _Columns(dict[str, list[Any]]):
    """Parsed values of one file, column name -> list (row i at index i); ``n`` rows.

    Plain lists, not a DataFrame: the rules below read and write single cells
    millions of times, and list indexing is two orders of magnitude faster than ``.at``.
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n


class _Collector:
    """Gathers problems of one file; remembers which rows have errors."""

    def __init__(self, file_name: str, source_rows: np.ndarray) -> None:
        self.file_name = file_name
        self.source_rows = source_rows
        self.records: list[tuple[str, str, str, str, str, str]] = []
        self.bad_rows: set[int] = set()
        self.reasons: dict[int, list[str]] = defaultdict(list)

    def add(self, i: int | None, field_zh: str, value: object, reason: str, *, level: str = ERROR) -> None:
        row = "—" if i is None else str(int(self.source_rows[i]))
        shown = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
        self.records.append((self.file_name, row, field_zh, shown, reason, level))
        if i is not None and level == ERROR:
            self.bad_rows.add(i)
            self.reasons[i].append(f"{field_zh}：{reason}")

    def frame(self) -> pd.DataFrame:
        """Problems sorted by row (file-level ones first), in the order they were found within a row."""
        order = sorted(range(len(self.records)),
                       key=lambda k: (-1 if self.records[k][1] == "—" else int(self.records[k][1]), k))
        return pd.DataFrame([self.records[k] for k in order], columns=PROBLEM_COLUMNS)


def _parse_number(text: str) -> float | None:
    t = ids.fullwidth_to_halfwidth(text).replace(",", "").replace("，", "").strip()
    t = re.sub(r"(张|人|元/月|元每月|元|岁|年|万元|个)$", "", t).strip()
    return float(t) if _NUMBER.match(t) else None


def _parse_grade(text: str) -> int | None:
    t = ids.fullwidth_to_halfwidth(text).strip()
    if t and set(t) <= {"★", "☆"}:
        return t.count("★") or None
    m = re.fullmatch(r"([一二三四五1-5])\s*(级|星|星级|级机构)?", t)
    return _CN_DIGITS[m.group(1)] if m else None


def _parse_year(text: str, *, today: dt.date) -> int | None:
    t = ids.fullwidth_to_halfwidth(text).strip()
    m = re.match(r"^(\d{4})(?:[-/.年]?(\d{1,2})(?:[-/.月]?(\d{1,2})日?)?月?)?(?:\s.*)?$", t)
    if not m:
        return None
    year = int(m.group(1))
    if m.group(2):
        try:
            dt.date(year, int(m.group(2)), int(m.group(3) or 1))
        except ValueError:
            return None
    return year if 1880 <= year <= today.year else None


def _split_tags(text: str) -> list[str]:
    return [t for t in _TAG_SPLIT.split(ids.fullwidth_to_halfwidth(text).strip()) if t]


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
    else:
        allowed = spec.choices or ()
        value = text if text in allowed else None
    return value, f"不是允许的取值（允许：{'、'.join(allowed)}）"


def _parse_column(spec: FieldSpec, raw: Sequence[str | None], col: _Collector, *, settings: Settings,
                  today: dt.date) -> list[Any]:
    """Parse one column; problems go to ``col``. Returns parsed values (None where missing or bad)."""
    out: list[Any] = []
    allowed_tags = settings.service_tags if spec.name == "services" else (spec.choices or ())
    for i, text in enumerate(raw):
        shown = _mask(spec, text)
        if text is None:
            if spec.required:
                col.add(i, spec.zh, None, "必填项为空")
            out.append(None)
            continue
        value: Any = None
        if spec.type == "str":
            value = text
        elif spec.type in ("int", "float"):
            number = _parse_number(text)
            if spec.name == "grade":
                value = _parse_grade(text)
                if value is None:
                    col.add(i, spec.zh, shown, "等级应为 1–5（如“三级”“3”“★★★”）")
            elif number is None:
                col.add(i, spec.zh, shown, "不是数字")
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
            unknown = [t for t in tags if t not in allowed_tags]
            if unknown:
                col.add(i, spec.zh, shown, f"未知标签“{'、'.join(unknown)}”已忽略（允许：{'、'.join(allowed_tags)}）",
                        level=WARNING)
            value = [t for t in dict.fromkeys(tags) if t in allowed_tags]
        elif spec.type == "year":
            value = _parse_year(text, today=today)
            if value is None:
                col.add(i, spec.zh, shown, f"无法识别的年份或日期（应如 1950 或 1950-03-08，且不晚于 {today.year} 年）")
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
        out.append(value)
    return out


def _coordinates(raw: pd.DataFrame, parsed: dict[str, list[Any]], geometry: Sequence[Any] | None, col: _Collector,
                 *, source_crs: str, file_crs: str | None,
                 region_extent: tuple[float, float, float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 lon/lat of every row (NaN where absent or bad); polygons handled by the caller."""
    n = len(raw)
    lon = np.array([np.nan if v is None else v for v in parsed.get("lon", [None] * n)], dtype="float64")
    lat = np.array([np.nan if v is None else v for v in parsed.get("lat", [None] * n)], dtype="float64")
    if geometry is not None:
        geoms = gpd.GeoSeries(list(geometry), crs=file_crs)
        if file_crs is not None and geoms.crs is not None and not geoms.crs.is_geographic:
            geoms = geoms.to_crs("EPSG:4326")
        is_point = geoms.geom_type == "Point"
        reps = geoms.where(is_point, None)
        lon = np.where(is_point & np.isnan(lon), reps.x, lon)
        lat = np.where(is_point & np.isnan(lat), reps.y, lat)
    with np.errstate(invalid="ignore"):
        projected = (np.abs(lon) > 180) & (np.abs(lat) > 90)
    for i in np.flatnonzero(projected):
        col.add(int(i), "经纬度", f"{lon[i]:g},{lat[i]:g}",
                "坐标超出经纬度范围，像是投影坐标（米）：请转换为经纬度，或为文件声明正确的坐标系")
    lon[projected] = np.nan
    lat[projected] = np.nan
    one_missing = np.isnan(lon) ^ np.isnan(lat)
    for i in np.flatnonzero(one_missing):
        col.add(int(i), "经纬度", f"{raw['lon'].iat[i] if 'lon' in raw else ''},{raw['lat'].iat[i] if 'lat' in raw else ''}",
                "经度和纬度须同时填写")
    lon[one_missing] = np.nan
    lat[one_missing] = np.nan
    swapped = coords.looks_swapped(lon, lat) | (coords.looks_swapped(lon, lat, bbox=region_extent)
                                                if region_extent is not None else False)
    for i in np.flatnonzero(swapped):
        col.add(int(i), "经纬度", f"{lon[i]:g},{lat[i]:g}", "经纬度可能填反了（纬度超出 ±90°），请交换经度、纬度两列")
    lon[swapped] = np.nan
    lat[swapped] = np.nan
    return coords.to_wgs84(lon, lat, source_crs)


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
) -> ValidationResult:
    """Validate one staff file and return good rows, rejects and all problems.

    Parameters
    ----------
    path
        CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 — detected), XLSX, GeoJSON, GeoPackage or GeoParquet.
    table
        "facilities", "elders" or "areas".
    settings
        Facility kinds, service tags, H3 resolution, ages, radii.
    crs
        Coordinate system of the file's coordinates: "wgs84", "cgcs2000", "gcj02" or "bd09" (aliases
        accepted). None: WGS-84 for tables; for geo files their own CRS, which must exist.
    salt
        Secret salt for pseudonymising elder identifiers (required for elders).
    region_extent
        (min lon, min lat, max lon, max lat) of the region; points farther than
        ``settings.region_margin_m`` outside it are rejected.
    roads
        Road edges of the region (EPSG:4326); used to detect mislabelled coordinate systems.
    today
        Reference date for birth dates and ages (the statistics date); default today.
    """
    path = Path(path)
    today = today or dt.date.today()
    if table not in TABLES:
        raise ValueError(f"table must be one of {list(TABLES)}, got {table!r}")
    raw_table: RawTable = read_table(path, table, sheet=sheet, encoding=encoding)
    raw = raw_table.frame
    has_geometry = "geometry" in raw.columns and raw["geometry"].notna().any()
    if has_geometry and raw_table.crs is None and crs is None:
        raise NoCrsError(
            f"文件 {path.name} 含几何图形但没有坐标系信息。请用 --crs 声明（wgs84、cgcs2000、gcj02 或 bd09）。",
            f"{path}: geometry without CRS; declare one with --crs",
        )
    source_crs = coords.normalise_crs_name(crs or "wgs84")
    col = _Collector(path.name, raw_table.source_rows)
    for header in raw_table.unknown_headers:
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
    if progress:
        progress(f"检查 {path.name} 的 {len(raw)} 行")
    n = len(raw)
    parsed: dict[str, list[Any]] = {}
    for spec in specs:
        if spec.name in raw.columns:
            parsed[spec.name] = _parse_column(spec, raw[spec.name].tolist(), col, settings=settings, today=today)
    geometry = raw["geometry"].tolist() if has_geometry else None
    lon, lat = _coordinates(raw, parsed, geometry, col, source_crs=source_crs, file_crs=raw_table.crs,
                            region_extent=region_extent)
    out = _Columns(n)
    out.update(parsed)
    _split_area_code(out, col)
    _check_code_hierarchy(out, col)
    if table == "facilities":
        _facility_rules(out, col)
    elif table == "elders":
        _elder_rules(out, col, salt=salt, today=today, settings=settings)
    else:
        _area_rules(out, col)
    if table != "areas":
        _location_rules(out, lon, lat, col, region_extent=region_extent, settings=settings, table=table)
    good_mask = np.array([i not in col.bad_rows for i in range(n)], dtype=bool)
    if table == "facilities":
        _derive_facility_ids(out, lon, lat)
        _facility_duplicates(out, lon, lat, good_mask, col, settings=settings)
    elif table == "elders":
        _duplicate_ids(out, "pid", "老人", good_mask, col)
    else:
        _duplicate_ids(out, "code", "区划代码", good_mask, col)
    good_mask = np.array([i not in col.bad_rows for i in range(n)], dtype=bool)
    good = _typed_frame(out, lon, lat, geometry, raw_table, good_mask, table=table, settings=settings,
                        source_crs=source_crs, today=today)
    if table != "areas" and roads is not None and len(good):
        _mislabel_check(good, roads, col, source_crs=source_crs, settings=settings)
    rejects = raw.loc[~good_mask].drop(columns=["geometry"], errors="ignore").copy()
    for spec in specs:
        if spec.name in rejects.columns and (spec.sensitive or (table == "elders" and spec.name in ("lon", "lat"))):
            rejects[spec.name] = [v if v is None else (_mask(spec, v) if spec.sensitive else _SENSITIVE_MASK)
                                  for v in rejects[spec.name]]
    original = {canonical: header for header, canonical in raw_table.header_map.items()}
    rejects = rejects.rename(columns=original)
    rejects.insert(0, "行号", raw_table.source_rows[~good_mask])
    rejects["拒绝原因"] = ["；".join(col.reasons[i]) for i in np.flatnonzero(~good_mask)]
    problems = col.frame()
    source = {
        "layer": table, "path": str(path), "file": path.name, "sha256": file_sha256(path),
        "format": path.suffix.lower().lstrip("."), "encoding": raw_table.encoding, "sheet": raw_table.sheet,
        "crs_declared": source_crs, "crs_file": raw_table.crs,
        "rows_read": n, "rows_imported": int(good_mask.sum()), "rows_rejected": int((~good_mask).sum()),
    }
    assert source["rows_read"] == source["rows_imported"] + source["rows_rejected"]
    result = ValidationResult(table, path, n, good, rejects.reset_index(drop=True), problems, source)
    log.info("validated %s as %s: read %d, imported %d, rejected %d, problems %d",
             path.name, table, n, result.n_imported, result.n_rejected, len(problems))
    return result


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


def _check_code_hierarchy(out: _Columns, col: _Collector) -> None:
    for i in range(out.n):
        d, s, c = out["district_code"][i], out["street_code"][i], out["community_code"][i]
        if c is not None and s is not None and not c.startswith(s):
            col.add(i, "社区代码", c, f"与街道代码 {s} 不一致（社区代码前 9 位应为街道代码）")
        if s is not None and d is not None and not s.startswith(d):
            col.add(i, "街道代码", s, f"与区县代码 {d} 不一致（街道代码前 6 位应为区县代码）")


def _facility_rules(out: _Columns, col: _Collector) -> None:
    n = out.n
    for name in ("beds_total", "beds_nursing", "beds_free", "price_min_yuan_month", "price_max_yuan_month"):
        if name not in out:
            out[name] = [None] * n
    if "price_range" in out:
        for i, text in enumerate(out["price_range"]):
            if text is None:
                continue
            parts = [_parse_number(p) for p in re.split(r"\s*[-~～—至到]+\s*", ids.fullwidth_to_halfwidth(text).strip())]
            if not parts or any(p is None for p in parts) or len(parts) > 2:
                col.add(i, "月收费", text, "无法识别的收费区间（应如“2000-4500”或“3000”）")
                continue
            if out["price_min_yuan_month"][i] is None:
                out["price_min_yuan_month"][i] = float(parts[0])
            if out["price_max_yuan_month"][i] is None:
                out["price_max_yuan_month"][i] = float(parts[-1])
    for i in range(n):
        total, nursing, free = out["beds_total"][i], out["beds_nursing"][i], out["beds_free"][i]
        if total is not None and nursing is not None and nursing > total:
            col.add(i, "护理型床位", nursing, f"护理型床位（{nursing}）大于床位总数（{total}）")
        if total is not None and free is not None and free > total:
            col.add(i, "空余床位", free, f"空余床位（{free}）大于床位总数（{total}）")
        lo, hi = out["price_min_yuan_month"][i], out["price_max_yuan_month"][i]
        if lo is not None and hi is not None and lo > hi:
            col.add(i, "最低月收费", lo, f"最低月收费（{lo:g}）高于最高月收费（{hi:g}）")


def _elder_rules(out: _Columns, col: _Collector, *, salt: bytes, today: dt.date, settings: Settings) -> None:
    if len(salt) < 16:
        raise ValueError("a salt of at least 16 bytes is required to import elders")
    n = out.n
    for name in ("id_number", "source_id", "birth_year", "age", "sex"):
        if name not in out:
            out[name] = [None] * n
    pids: list[str | None] = []
    for i in range(n):
        number, source_id = out["id_number"][i], out["source_id"][i]
        if number is not None:  # already checked: birth date at [6:14], sex by the parity of [16]
            born_year = int(number[6:10])
            sex = "男" if int(number[16]) % 2 else "女"
            year = out["birth_year"][i]
            if year is not None and year != born_year:
                col.add(i, "出生年份", year, f"与身份证号中的出生年份（{born_year}）不一致")
            out["birth_year"][i] = born_year
            if out["sex"][i] is None:
                out["sex"][i] = sex
            elif out["sex"][i] != sex:
                col.add(i, "性别", out["sex"][i], "与身份证号中的性别不一致")
            pids.append(ids.pseudonymise(number, salt))
        elif source_id is not None:
            pids.append(ids.pseudonymise("src:" + source_id, salt))
        else:
            if i not in col.bad_rows:
                col.add(i, "身份证号", None, "身份证号和老人编号至少填写一项")
            pids.append(None)
        if out["birth_year"][i] is None and out["age"][i] is not None:
            out["birth_year"][i] = today.year - int(out["age"][i])
        year = out["birth_year"][i]
        if year is None:
            if i not in col.bad_rows:
                col.add(i, "出生年份", None, "缺少出生年份（可填出生年份、出生日期、年龄或身份证号）")
        elif today.year - year < settings.elder_min_age:
            col.add(i, "出生年份", year, f"按统计日期 {today.isoformat()} 计未满 {settings.elder_min_age} 岁，不属于老年人")
    out["pid"] = pids


def _area_rules(out: _Columns, col: _Collector) -> None:
    n = out.n
    for name in ("level", "parent_code"):
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


def _location_rules(out: _Columns, lon: np.ndarray, lat: np.ndarray, col: _Collector, *,
                    region_extent: tuple[float, float, float, float] | None, settings: Settings, table: str) -> None:
    has_point = ~np.isnan(lon)
    has_code = np.array([c is not None for c in out.get("community_code", [None] * out.n)], dtype=bool)
    for i in np.flatnonzero(~has_point):
        if i in col.bad_rows:
            continue
        if table == "facilities":
            col.add(int(i), "经纬度", None, "缺少经纬度（设施须有位置才能上图和计算服务半径）")
        elif not has_code[i]:
            col.add(int(i), "经纬度", None, "缺少经纬度，也没有社区代码，无法归属到任何区域")
    if region_extent is None:
        return
    minx, miny, maxx, maxy = region_extent
    margin_deg_lat = settings.region_margin_m / 111_320.0
    margin_deg_lon = margin_deg_lat / max(np.cos(np.radians((miny + maxy) / 2)), 0.01)
    outside = has_point & ((lon < minx - margin_deg_lon) | (lon > maxx + margin_deg_lon)
                           | (lat < miny - margin_deg_lat) | (lat > maxy + margin_deg_lat))
    for i in np.flatnonzero(outside):
        col.add(int(i), "经纬度", f"{lon[i]:.6f},{lat[i]:.6f}",
                f"位于本地区范围之外（范围 {minx:.4f}–{maxx:.4f}E, {miny:.4f}–{maxy:.4f}N，允许外扩 "
                f"{settings.region_margin_m:g} 米）；请检查坐标或坐标系声明")


def _derive_facility_ids(out: _Columns, lon: np.ndarray, lat: np.ndarray) -> None:
    """Fill missing facility ids: the credit code, else "F" + a hash of name and position (stable on re-import)."""
    if "id" not in out:
        out["id"] = [None] * out.n
    uscc = out["uscc"] if "uscc" in out else [None] * out.n
    for i in range(out.n):
        if out["id"][i] is None:
            if uscc[i] is not None:
                out["id"][i] = uscc[i]
            elif out["name"][i] is not None:
                key = f"{out['name'][i]}|{lon[i]:.4f}|{lat[i]:.4f}"
                out["id"][i] = "F" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]


def _facility_duplicates(out: _Columns, lon: np.ndarray, lat: np.ndarray, good: np.ndarray, col: _Collector, *,
                         settings: Settings) -> None:
    _duplicate_ids(out, "id", "机构编号", good, col)
    first_by_name: dict[str, list[int]] = defaultdict(list)
    for i in np.flatnonzero(good):
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


def _duplicate_ids(out: _Columns, name: str, zh: str, good: np.ndarray, col: _Collector) -> None:
    if name not in out:
        return
    first: dict[str, int] = {}
    for i in np.flatnonzero(good):
        key = out[name][i]
        if key is None:
            continue
        if key in first:
            shown = key if name != "pid" else _SENSITIVE_MASK
            col.add(int(i), zh, shown, f"与第 {int(col.source_rows[first[key]])} 行重复")
        else:
            first[key] = int(i)


FACILITY_COLUMNS = ["id", "name", "kind", "services", "beds_total", "beds_nursing", "beds_free", "residents",
                    "elders_served", "grade", "price_min_yuan_month", "price_max_yuan_month", "nature", "phone",
                    "address", "uscc", "district_code", "street_code", "community_code"]
ELDER_COLUMNS = ["pid", "birth_year", "sex", "ability_level", "ability_code", "groups", "oldest_old",
                 "district_code", "street_code", "community_code"]
AREA_COLUMNS = ["code", "name", "level", "parent_code", "registered_population", "fiscal_revenue_10k_yuan"]
INT_COLUMNS = {"beds_total", "beds_nursing", "beds_free", "residents", "elders_served", "grade", "birth_year",
               "ability_code", "registered_population"}
FLOAT_COLUMNS = {"price_min_yuan_month", "price_max_yuan_month", "fiscal_revenue_10k_yuan"}
LIST_COLUMNS = {"services", "groups"}


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _typed_frame(out: _Columns, lon: np.ndarray, lat: np.ndarray, geometry: Sequence[Any] | None,
                 raw_table: RawTable, good: np.ndarray, *, table: str, settings: Settings,
                 source_crs: str, today: dt.date) -> gpd.GeoDataFrame:
    """The good rows as a typed GeoDataFrame in EPSG:4326 (only non-sensitive columns)."""
    n = out.n
    if table == "elders":
        levels = out["ability_level"] if "ability_level" in out else [None] * n
        out["ability_code"] = [None if v is None else ABILITY_LEVELS.index(v) for v in levels]
        out["oldest_old"] = [None if y is None else (today.year - y) >= settings.oldest_old_age
                             for y in out["birth_year"]]
        columns = ELDER_COLUMNS
    elif table == "facilities":
        columns = FACILITY_COLUMNS
    else:
        columns = AREA_COLUMNS
    frame = pd.DataFrame(index=range(n))
    for name in columns:
        values = out[name] if name in out else [None] * n
        values = [None if _missing(v) else v for v in values]
        if name in INT_COLUMNS:
            frame[name] = pd.array([None if v is None else int(v) for v in values], dtype="Int64")
        elif name in FLOAT_COLUMNS:
            frame[name] = pd.to_numeric(pd.Series([np.nan if v is None else v for v in values]), errors="coerce")
        elif name in LIST_COLUMNS:
            frame[name] = [list(v) if v is not None else [] for v in values]
        elif name == "oldest_old":
            frame[name] = pd.array(list(values), dtype="boolean")
        else:
            frame[name] = pd.array(list(values), dtype="string")
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
        frame["h3"] = pd.array(list(hexes.cells_for_points(lon, lat, settings.h3_resolution)), dtype="string")
        gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        gdf.loc[np.isnan(lon), "geometry"] = None
    gdf["source_crs"] = source_crs
    gdf["source_row"] = raw_table.source_rows.astype("int64")
    gdf["synthetic"] = False
    return gdf.loc[good].reset_index(drop=True)


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
    The rejects file is ``<report stem>_拒绝行.<suffix>``: the rejected rows as read,
    sensitive fields masked, with row numbers and reasons, ready to fix and re-import.
    """
    out = Path(out)
    summary = pd.DataFrame({
        "项目": ["文件", "数据类型", "读取行数", "可导入行数", "拒绝行数", "错误条数", "警告条数", "文件编码", "坐标系声明"],
        "值": [result.path.name, TABLE_ZH[result.table], result.n_read, result.n_imported, result.n_rejected,
              int((result.problems["级别"] == ERROR).sum()), int((result.problems["级别"] == WARNING).sum()),
              result.source.get("encoding") or "—", result.source.get("crs_declared")],
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
