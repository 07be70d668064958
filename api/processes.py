"""JSON endpoints as OGC API – Processes (so they are in the OpenAPI document): a recommendation and a coverage
summary per area. Both call the functions the app and the CLI call.

- ``recommend``: origin (lon, lat, WGS-84) + needs -> ranked facilities with reasons, the ones left out with why,
  home-care providers serving the origin, with their service ratings (:func:`desk.ratings.public_ratings`,
  from the order log); the public page's engine (:func:`planning.recommend.recommend`). Public.
- ``coverage-summary``: coverage per area (:func:`planning.coverage.region_coverage`). Without a key the counts
  are published as the collections publish them (:func:`api.collections.suppress`); with a key whose role may read
  non-public data (:mod:`api.keys`) the full counts come back and the call is written to the audit log.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
from pathlib import Path
from typing import Any

import pandas as pd
from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from api import keys
from api.access import caller
from api.collections import current_region, suppress
from api.provider import settings_for
from geo.errors import ElderMapError
from layers.facilities import json_safe

log = logging.getLogger(__name__)

RESULT_LIMIT = 10

_NEEDS_INPUTS: dict[str, dict[str, Any]] = {
    "ability_code": {"title": "能力等级 GB/T 42195（0 能力完好 … 4 完全失能）", "schema": {"type": "integer", "minimum": 0,
                                                                               "maximum": 4}},
    "services": {"title": "想要的服务", "schema": {"type": "array", "items": {"type": "string"}}},
    "residential": {"title": "入住（长期或短期托养）", "schema": {"type": "boolean"}},
    "budget_yuan_month": {"title": "月预算（元）", "schema": {"type": "number", "minimum": 0}},
    "need_free_bed": {"title": "需要空余床位", "schema": {"type": "boolean"}},
    "need_nursing_bed": {"title": "需要护理型床位", "schema": {"type": "boolean"}},
    "kinds": {"title": "只看这些设施类型", "schema": {"type": "array", "items": {"type": "string"}}},
    "natures": {"title": "只看这些性质（公办、民办…）", "schema": {"type": "array", "items": {"type": "string"}}},
    "min_grade": {"title": "最低等级 1–5", "schema": {"type": "integer", "minimum": 1, "maximum": 5}},
    "max_minutes": {"title": "出行时间上限（分钟）", "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 120}},
    "mode": {"title": "出行方式 walk 步行 / drive 驾车", "schema": {"type": "string", "enum": ["walk", "drive"]}},
}


def _optional(spec: dict[str, Any]) -> dict[str, Any]:
    return {**spec, "minOccurs": 0, "maxOccurs": 1}


RECOMMEND_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "recommend",
    "title": {"zh": "养老服务推荐", "en": "Elderly-care recommendation"},
    "description": {"zh": "从起点（WGS-84 经纬度）和需求得出排序的设施及理由、不符合的设施及原因、可上门服务的服务商"
                          "（附服务评价：rating 0–5 分与 rating_followups 回访次数，回访次数不足时为空）；"
                          "与“找养老服务”页面同一引擎。",
                    "en": "Origin (WGS-84 lon/lat) and needs -> ranked facilities with reasons, the ones left out "
                          "with why, home-care providers serving the origin with their service rating (rating 0-5, "
                          "rating_followups; null below the minimum of follow-ups); the public page's engine."},
    "jobControlOptions": ["sync-execute"],
    "keywords": ["养老服务", "推荐", "recommendation"],
    "links": [],
    "inputs": {
        "lon": {"title": "起点经度（WGS-84）", "schema": {"type": "number", "minimum": -180, "maximum": 180},
                "minOccurs": 1, "maxOccurs": 1},
        "lat": {"title": "起点纬度（WGS-84）", "schema": {"type": "number", "minimum": -90, "maximum": 90},
                "minOccurs": 1, "maxOccurs": 1},
        **{k: _optional(v) for k, v in _NEEDS_INPUTS.items()},
        "limit": _optional({"title": "最多返回几家", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}),
    },
    "outputs": {"recommendation": {"title": "推荐结果", "schema": {"type": "object",
                                                               "contentMediaType": "application/json"}}},
    "example": {"inputs": {"lon": 24.9415, "lat": 60.1690, "services": ["助餐"], "max_minutes": 15, "mode": "walk"}},
}

COVERAGE_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "coverage-summary",
    "title": {"zh": "服务圈覆盖汇总", "en": "Service-circle coverage summary"},
    "description": {"zh": "各区域 N 分钟服务圈内的老年人覆盖（与 eldermap coverage 相同）。不带密钥时小数目隐去；"
                          "带有 planner/staff/admin 角色的 API 密钥（X-API-Key）时返回完整人数，并记入审计日志。",
                    "en": "Coverage per area within N minutes (as eldermap coverage). Small counts are suppressed "
                          "unless an API key (X-API-Key) of role planner/staff/admin is sent; such calls are "
                          "audited."},
    "jobControlOptions": ["sync-execute"],
    "keywords": ["覆盖率", "coverage"],
    "links": [],
    "inputs": {
        "minutes": _optional({"title": "服务圈分钟数（默认 15）", "schema": {"type": "number", "exclusiveMinimum": 0,
                                                                    "maximum": 120}}),
        "by": _optional({"title": "统计单元", "schema": {"type": "string",
                                                      "enum": ["community", "street", "district", "h3"]}}),
        "kind": _optional({"title": "只计某类设施（默认任一设施）", "schema": {"type": "string"}}),
        "mode": _optional({"title": "walk 步行 / drive 驾车", "schema": {"type": "string", "enum": ["walk", "drive"]}}),
        "profile": _optional({"title": "步行速度档（设置 walk_profiles，如 规划、老年人、体弱）", "schema": {"type": "string"}}),
    },
    "outputs": {"coverage": {"title": "覆盖汇总", "schema": {"type": "object", "contentMediaType": "application/json"}}},
    "example": {"inputs": {"minutes": 15, "by": "community"}},
}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-ready dicts (missing and non-finite numbers: None). Read column by
    column: a small frame's ``to_dict(orient="records")`` costs more than the recommendation's ranking."""
    names = [str(c) for c in frame.columns]
    series = ([frame[c] for c in frame.columns] if frame.columns.is_unique
              else [frame.iloc[:, i] for i in range(frame.shape[1])])
    columns = [[_json_value(v) for v in s.tolist()] for s in series]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)] if names else \
        [{} for _ in range(len(frame))]


def _plain_rows(rows: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    """Rows of :class:`planning.recommend.RecommendationRows` as :func:`_records` makes the rows of the frame
    with ``columns``."""
    return [{c: _json_value(row.get(c)) for c in columns} for row in rows]


def _json_value(value: Any) -> Any:
    value = json_safe(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _bad(exc: ElderMapError) -> ProcessorExecuteError:
    error = ProcessorExecuteError(exc.zh)
    error.http_status_code = 400
    error.ogc_exception_code = "InvalidParameterValue"
    return error


class _RegionProcessor(BaseProcessor):
    def __init__(self, processor_def: dict[str, Any], metadata: dict[str, Any]) -> None:
        super().__init__(processor_def, metadata)
        self.region_name = str(processor_def["region"])
        self.root = processor_def.get("regions")
        self.settings = settings_for(processor_def.get("settings"))


def _number(data: dict[str, Any], name: str, default: float | None = None) -> float | None:
    value = data.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ProcessorExecuteError(f"{name} 应为数字")
    try:
        number = float(value)
    except ValueError:
        raise ProcessorExecuteError(f"{name} 应为数字（收到 {value!r}）") from None
    if not math.isfinite(number):
        raise ProcessorExecuteError(f"{name} 应为有限的数字")
    return number


def _strings(data: dict[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name) or ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ProcessorExecuteError(f"{name} 应为文字列表")
    return tuple(value)


def needs_from(data: dict[str, Any]):
    """A :class:`planning.recommend.Needs` from a request's inputs (its own checks raise in Chinese)."""
    from planning.recommend import Needs

    ability = _number(data, "ability_code")
    grade = _number(data, "min_grade")
    return Needs(ability_code=None if ability is None else int(ability), services=_strings(data, "services"),
                 residential=bool(data.get("residential", False)), budget_yuan_month=_number(data, "budget_yuan_month"),
                 need_free_bed=bool(data.get("need_free_bed", False)),
                 need_nursing_bed=bool(data.get("need_nursing_bed", False)), kinds=_strings(data, "kinds"),
                 natures=_strings(data, "natures"), min_grade=None if grade is None else int(grade),
                 max_minutes=float(_number(data, "max_minutes", 15.0)), mode=str(data.get("mode", "walk")))


ANSWER_CACHE_SIZE = 4096
"""Recommendations remembered (least recently asked goes first). An answer is a function of the region version,
the settings, the providers' ratings and the request (origin and needs), so a repeated request (the same home or
gazetteer place with the same needs) is answered from here, exactly as it would be computed; a new region version
or a change of the ratings (a new follow-up in the order log: :attr:`desk.ratings.PublicRatings.key`) is a
new key."""
_ANSWERS: collections.OrderedDict[tuple, dict[str, Any]] = collections.OrderedDict()
_ANSWERS_LOCK = threading.Lock()


class RecommendProcessor(_RegionProcessor):
    """The e-map's recommendation (public)."""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, RECOMMEND_METADATA)

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, dict[str, Any]]:
        from desk.ratings import public_ratings
        from planning.coverage import facility_snap_for, network_for
        from planning.home_care import serving_point
        from planning.recommend import EXCLUDED_COLUMNS, HOME_CARE_COLUMNS, RANKED_COLUMNS, recommend_rows

        lon, lat = _number(data, "lon"), _number(data, "lat")
        if lon is None or lat is None:
            raise ProcessorExecuteError("需要起点经纬度 lon、lat（WGS-84）")
        limit = int(_number(data, "limit", RESULT_LIMIT))
        try:
            needs = needs_from(data)
            region = current_region(self.region_name, root=self.root)
            ratings = public_ratings(region, self.settings, root=self.root, max_age_s=1.0)  # a new follow-up: 1 s
            key = (str(region.path), self.settings, ratings.key, lon, lat, needs, limit)
            with _ANSWERS_LOCK:
                answer = _ANSWERS.get(key)
                if answer is not None:
                    _ANSWERS.move_to_end(key)
            if answer is not None:
                return "application/json", dict(answer)
            network = network_for(region, needs.mode, self.settings)
            snap = facility_snap_for(region, needs.mode, self.settings)
            home_care = serving_point(region, lon, lat, settings=self.settings)
            result = recommend_rows(region.facilities, needs, network=network, facility_snap=snap, origin=(lon, lat),
                                    settings=self.settings, limit=max(1, min(limit, 100)), home_care=home_care,
                                    ratings=ratings.table)
        except ElderMapError as exc:
            raise _bad(exc) from None
        answer = {
            "region": region.name, "version": region.version, "origin": {"lon": lon, "lat": lat},
            "ranked": _plain_rows(result.ranked, RANKED_COLUMNS),
            "home_care": _plain_rows(result.home_care, HOME_CARE_COLUMNS),
            "excluded": _plain_rows(result.excluded, EXCLUDED_COLUMNS), "filtered_out": int(result.filtered_out),
            "origin_snapped": bool(result.origin_snapped),
            "notes": [*result.notes, *home_care.attrs.get("notes", [])],
        }
        with _ANSWERS_LOCK:
            _ANSWERS[key] = answer
            while len(_ANSWERS) > ANSWER_CACHE_SIZE:
                _ANSWERS.popitem(last=False)
        return "application/json", dict(answer)


class CoverageSummaryProcessor(_RegionProcessor):
    """Coverage per area; full counts (audited) only for a key that may read non-public data."""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, COVERAGE_METADATA)

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, dict[str, Any]]:
        from data import audit
        from planning.coverage import profile_settings, region_coverage

        minutes = float(_number(data, "minutes", 15.0))
        by = str(data.get("by", "community"))
        if by not in ("community", "street", "district", "h3"):
            raise ProcessorExecuteError("by 应为 community、street、district 或 h3")
        kind = data.get("kind") or None
        mode = str(data.get("mode", "walk"))
        if mode not in ("walk", "drive"):
            raise ProcessorExecuteError("mode 应为 walk（步行）或 drive（驾车）")
        if not 0 < minutes <= 120:
            raise ProcessorExecuteError("minutes 应在 0–120 之间")
        profile = data.get("profile")
        who = caller()
        private = keys.allowed(who.key, "read_private")
        try:
            if kind is not None and kind not in self.settings.facility_kinds:
                raise ProcessorExecuteError(f"没有“{kind}”这类设施（可选：{'、'.join(self.settings.facility_kinds)}）")
            settings = profile_settings(self.settings, str(profile), mode) if profile else self.settings
            region = current_region(self.region_name, root=self.root)
            table, _ = region_coverage(region, settings=settings, minutes=minutes, mode=mode, kind=kind, by=by)
        except ElderMapError as exc:
            raise _bad(exc) from None
        if private:
            rows = _records(table)
            audit.record("export", user=who.user, role=who.role, region=region.name, version=region.version,
                         rows=len(rows), detail=f"API 覆盖汇总（完整人数）{by} {minutes:g} 分钟 {mode}",
                         address=who.address, root=self.root)
        else:
            threshold = self.settings.suppression_threshold
            rows = [{"code": json_safe(r["code"]), "name": json_safe(r["name"]),
                     **suppress(int(r["elders"]), int(r["covered"]), threshold)}
                    for r in table.to_dict(orient="records")]
        return "application/json", {
            "region": region.name, "version": region.version, "minutes": minutes, "by": by, "mode": mode,
            "kind": kind, "profile": profile, "population": table.attrs.get("population"),
            "suppressed_below": None if private else self.settings.suppression_threshold, "rows": rows,
        }


REGISTER_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "facility-register",
    "title": {"zh": "提交设施登记（合作方写入）", "en": "Submit a facility register (partner write)"},
    "description": {"zh": "合作系统提交养老服务设施登记表（JSON 行或文件），按 eldermap import 的同一套规则校验；"
                          "返回问题报告（JSON），合格的行成为地区的新版本（替换设施图层）。需要 partner、staff 或 admin "
                          "角色的 API 密钥（X-API-Key），每次调用记入审计日志。dry_run=true 时只校验不保存。",
                    "en": "A partner system posts a facility register (JSON rows or a file); it goes through the "
                          "validation of eldermap import; the reply is the problem report as JSON and the good "
                          "rows become a new version (the facility layer is replaced). Needs an API key of role "
                          "partner, staff or admin; audited. dry_run=true validates only."},
    "jobControlOptions": ["sync-execute"],
    "keywords": ["设施登记", "facility register", "partner"],
    "links": [],
    "inputs": {
        "rows": _optional({"title": "设施登记表的行（表头同导入文件，如 名称、类型、经度、纬度…）",
                           "schema": {"type": "array", "items": {"type": "object"}}}),
        "file": _optional({"title": "或：文件（name 含扩展名 .csv/.xlsx/.geojson…，base64 为内容）",
                           "schema": {"type": "object", "properties": {"name": {"type": "string"},
                                                                       "base64": {"type": "string"}}}}),
        "crs": _optional({"title": "坐标系 wgs84、cgcs2000、gcj02 或 bd09（默认 wgs84）", "schema": {"type": "string"}}),
        "dry_run": _optional({"title": "只校验，不保存", "schema": {"type": "boolean"}}),
    },
    "outputs": {"report": {"title": "问题报告与新版本", "schema": {"type": "object",
                                                               "contentMediaType": "application/json"}}},
    "example": {"inputs": {"rows": [{"名称": "示例养老院", "类型": "养老机构", "经度": 113.62, "纬度": 34.75}],
                           "dry_run": True}},
}
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _refused(status: int, zh: str) -> ProcessorExecuteError:
    error = ProcessorExecuteError(zh)
    error.http_status_code = status
    error.ogc_exception_code = "Forbidden" if status == 403 else "InvalidParameterValue"
    return error


def _register_file(data: dict[str, Any], folder: Path) -> Path:
    """The posted register as a file in ``folder``: the rows as a UTF-8 CSV, or the decoded file."""
    import base64
    import binascii
    import csv

    from data import formats

    rows, upload = data.get("rows"), data.get("file")
    if (rows is None) == (upload is None):
        raise _refused(400, "请提供 rows（设施登记表的行）或 file（文件）二者之一")
    if rows is not None:
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise _refused(400, "rows 应为非空的对象列表，每个对象是一行（表头: 值）")
        header = list(dict.fromkeys(str(k) for r in rows for k in r))
        path = folder / "设施登记.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for r in rows:
                writer.writerow(["、".join(map(str, v)) if isinstance(v, list) else ("" if v is None else str(v))
                                 for v in (r.get(h) for h in header)])
        return path
    if not isinstance(upload, dict) or not isinstance(upload.get("name"), str) or not isinstance(
            upload.get("base64"), str):
        raise _refused(400, "file 应为 {\"name\": 文件名, \"base64\": 内容}")
    suffix = Path(upload["name"]).suffix.lower()
    if suffix not in formats.DATA_SUFFIXES:
        raise _refused(400, f"文件类型 {suffix or '（无扩展名）'} 不支持；可用：{'、'.join(formats.DATA_SUFFIXES)}")
    if len(upload["base64"]) > MAX_UPLOAD_BYTES * 4 // 3 + 4:
        raise _refused(400, f"文件超过 {MAX_UPLOAD_BYTES // 1024 // 1024} MB")
    try:
        content = base64.b64decode(upload["base64"], validate=True)
    except (binascii.Error, ValueError):
        raise _refused(400, "file.base64 不是有效的 Base64 内容") from None
    path = folder / f"upload{suffix}"
    path.write_bytes(content)
    return path


class FacilityRegisterProcessor(_RegionProcessor):
    """The partner write path: validate a facility register, save its good rows as a new version (audited)."""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, REGISTER_METADATA)

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, dict[str, Any]]:
        import tempfile

        from data import audit, store
        from data.importer import import_region
        from data.validate import validate_table

        who = caller()
        if not keys.allowed(who.key, "write_facilities"):
            raise _refused(403, "提交设施登记需要 partner、staff 或 admin 角色的 API 密钥（请求头 X-API-Key）")
        crs = str(data.get("crs") or "wgs84")
        dry_run = bool(data.get("dry_run", False))
        with tempfile.TemporaryDirectory(prefix="eldermap-register-") as tmp:
            path = _register_file(data, Path(tmp))
            try:
                checked = validate_table(path, "facilities", settings=self.settings, crs=crs)
                version = None
                result = checked
                if not dry_run and checked.n_imported:
                    outcome = import_region(self.region_name, settings=self.settings, facilities=path,
                                            facility_crs=crs, report_dir=Path(tmp) / "reports", root=self.root)
                    result = outcome.results[0] if outcome.results else checked
                    version = store.current_version(self.region_name, root=self.root)
            except ElderMapError as exc:
                raise _bad(exc) from None
        problems = _records(result.problems)
        region_version = version or store.current_version(self.region_name, root=self.root)
        audit.record("import", user=who.user, role=who.role, region=self.region_name,
                     version=region_version, rows=int(result.n_imported),
                     detail=(f"API 设施登记：读取 {result.n_read} 行，可导入 {result.n_imported} 行，拒绝 "
                             f"{result.n_rejected} 行" + ("（仅校验）" if dry_run else "") +
                             ("" if version or dry_run else "（没有合格的行，未保存）")),
                     address=who.address, root=self.root)
        return "application/json", {
            "region": self.region_name, "saved": version is not None, "version": version, "dry_run": dry_run,
            "read": int(result.n_read), "imported": int(result.n_imported), "rejected": int(result.n_rejected),
            "summary": result.summary_zh(), "problems": problems,
        }


__all__ = ["COVERAGE_METADATA", "RECOMMEND_METADATA", "REGISTER_METADATA", "CoverageSummaryProcessor",
           "FacilityRegisterProcessor", "RecommendProcessor", "needs_from"]
