"""Batches over the county regions of a parent (city, province) on Dask distributed, with results in the store.

One Dask task per leaf child region (:func:`batch.hierarchy.leaf_regions`). A task loads its child from the store
by name (the workers share the store: a folder every worker can read and write, or a PostgreSQL URL), computes,
and writes its result with :func:`data.store.save_result` (atomic, checksummed, one key per child and batch kind
and parameters). The client collects only small summaries; the roll-up then reads each child's district rows back
from the store, so what is summed is exactly what is stored: :func:`rollup` (the counties' rows and a total) and
:func:`children_table` (one row per direct child: a city's counties, a province's cities), counts summed and rates
recomputed from the sums.

Faults:

- Memory: a county whose task would outgrow the worker memory limit (``settings.batch_worker_memory_gb``,
  estimated from its manifest) is split into parts of its elders, each a task, and a last task combines them
  (:mod:`batch.split`; the county's stored result is the same as from one task). The largest counties are
  submitted first.
- A task whose worker dies (killed, out of memory) is run again on another worker by the Dask scheduler, up to
  :data:`ALLOWED_FAILURES` times for a local cluster (``distributed.scheduler.allowed-failures`` of a remote
  scheduler). Running a task twice writes the same result under the same key: nothing is counted twice.
- A task that raises a Python error is reported for its child (in Chinese); the other children complete.
- ``resume``: a child whose stored result was computed from the same inputs (:func:`inputs_digest`: the child's
  region version, the settings digest, the batch kind and parameters) is not computed again.

Kinds: ``coverage`` (:func:`county_coverage`), ``report`` (:func:`county_report`: the annex-2 rows and the service
circle; rolled up by :mod:`batch.rollup`) and ``check`` (:func:`county_checks`: the provisioning checks; rolled up
by :mod:`batch.rollup`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import importlib.util
import json
import logging
import os
import re
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batch.hierarchy import (
    LEAF_LEVEL,
    PARENT_LEVELS,
    ChildRef,
    elders_outside_counties,
    leaf_regions,
    load_hierarchy,
)
from batch.rollup import (
    children_rollup,
    circle_attrs,
    county_table,
    public_table,
    rollup_report,
    write_rollup_workbook,
)
from batch.split import combine, part_rows, plan_parts, task_memory_mb
from data import store
from data.columns import peak_memory_mb
from geo.areas import pct
from geo.errors import ElderMapError
from geo.labels import TOTAL_CODE, TOTAL_NAME, mode_zh
from geo.settings import Settings, settings_digest
from planning.checks import provisioning_checks, tier_covered_column
from planning.coverage import (
    ANY,
    coverage_by_area,
    elder_access,
    elder_snap_for,
    forget_cached,
    in_population,
    network_for,
)
from planning.network import Mode
from planning.report import basic_situation, service_circle_table

log = logging.getLogger(__name__)

RUNNER_FORMAT = "eldermap-batch/2"
"""Part of every inputs digest: a change in what a task computes bumps it, so old results are not resumed."""
ALLOWED_FAILURES = 3
"""Worker deaths a task of a local cluster survives before it is reported as failed (Dask's ``allowed-failures``)."""
CONNECT_TIMEOUT_S = 30.0
"""How long to wait for a remote scheduler (and the workers asked for with ``workers``), seconds."""
AREA_LEVELS: tuple[str, ...] = ("community", "street", "district")
"""Area tables of a coverage result, besides the per-elder table ``elders``."""
ELDER_CODE_COLUMNS: tuple[str, ...] = ("district_code", "street_code", "community_code")
MINUTES_MAX = 120.0
"""Longest service circle a batch accepts, minutes (as the command line's)."""

Progress = Callable[[int, int, str], None]
"""``progress(children finished, children in all, message in Chinese)``: called once at the start (0, n, with the
dashboard link when there is one) and after every child (done, skipped or failed)."""


class BatchError(ElderMapError, ValueError):
    """A batch cannot run: unknown kind or parameters, no scheduler at that address."""


# ---------------------------------------------------------------- one county


def county_coverage(region: store.Region, *, settings: Settings, minutes: float, mode: Mode = "walk"
                    ) -> dict[str, pd.DataFrame]:
    """Coverage within ``minutes`` of one county region: per elder, and per community, street and district.

    The county region holds its own elders and the facilities and roads of its halo too (``halo`` facilities are
    ordinary facilities of the region here), so an elder near the county line is served across it. Travel times
    come from :func:`planning.coverage.elder_access` (any facility kind elders visit) with the search stopped at
    ``minutes``; the area tables count like :func:`planning.coverage.region_coverage` (the elders of
    ``settings.coverage_population``, :func:`planning.coverage.coverage_by_area`).

    Returns
    -------
    ``elders``: ``pid``, ``district_code``, ``street_code``, ``community_code`` (None where missing),
    ``time_min`` (minutes to the nearest facility, ``inf`` beyond ``minutes`` or unreachable), ``facility_id``
    (None then), ``covered`` (``time_min <= minutes``), ``counted`` (in the population the tables count), in the
    order of the region's elders. ``community``, ``street``, ``district``: :func:`coverage_by_area` tables of
    those levels, total row last.
    """
    elders = region.elders
    n = len(elders)
    counted = in_population(elders, settings.coverage_population)
    if n and len(region.facilities):
        access = elder_access(network_for(region, mode, settings), region.facilities, elders, settings=settings,
                              kinds=[], max_minutes=minutes, elder_snap=elder_snap_for(region, mode, settings))
        times = access[f"time_min:{ANY}"].to_numpy(dtype="float64")
        nearest_id = access[f"facility_id:{ANY}"].to_numpy(dtype=object)
    else:  # nothing to reach (or nobody to reach it): everyone is outside the circle
        times = np.full(n, np.inf)
        nearest_id = np.full(n, None, dtype=object)
    per_elder = pd.DataFrame({
        "pid": elders["pid"].astype(str).to_numpy() if "pid" in elders else np.arange(n).astype(str),
        **{c: _codes(elders, c) for c in ELDER_CODE_COLUMNS},
        "time_min": times,
        "facility_id": np.asarray([None if v is None else str(v) for v in nearest_id], dtype=object),
        "covered": times <= minutes,
        "counted": counted,
    })
    frames: dict[str, pd.DataFrame] = {"elders": per_elder}
    for level in AREA_LEVELS:
        table = coverage_by_area(elders, times, minutes=minutes, by=level, areas=region.areas, counted=counted)
        table.attrs["population"] = settings.coverage_population
        frames[level] = table
    return frames


def _codes(elders: pd.DataFrame, column: str) -> np.ndarray:
    """A code column of the elders as text (None where missing, or everywhere when there is no such column)."""
    if column not in elders:
        return np.full(len(elders), None, dtype=object)
    values = elders[column]
    return np.where(values.notna().to_numpy(), values.astype(str).to_numpy(), None).astype(object)


def _without_halo(region: store.Region) -> store.Region:
    """``region`` with only its own facilities (those whose ``halo`` is not True)."""
    facilities = region.facilities
    if "halo" not in facilities or not len(facilities):
        return region
    own = ~facilities["halo"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return dataclasses.replace(region, layers={**region.layers, "facilities": facilities[own].reset_index(drop=True)})


def county_report(region: store.Region, *, settings: Settings, minutes: float, mode: Mode = "walk",
                  date: str | dt.date | None = None) -> dict[str, pd.DataFrame]:
    """The official tables of one county region at district level, for the city and province roll-ups.

    Which facilities each table sees:

    - ``district``: :func:`planning.report.basic_situation` by district on the county WITHOUT its halo facilities
      (``halo`` True: they lie outside the county): every count of the annex — institutions, beds, community
      facilities, communities with a community facility — is the county's own, so that summing the counties
      counts each facility once;
    - ``circle``: :func:`planning.report.service_circle_table` with the halo facilities: it measures travel, and
      an elder near the county line is served by a facility across it (its rows: those of ``district``).

    ``date``: the statistics date (ISO text or a date; today when None), at which ages are counted.
    Returns ``district`` and ``circle``, each total row last.
    """
    day = dt.date.fromisoformat(date) if isinstance(date, str) else (date or dt.date.today())
    basic = basic_situation(_without_halo(region), settings=settings, by="district", statistics_date=day)
    circle = service_circle_table(region, settings=settings, minutes=minutes, by="district", mode=mode,
                                  codes=basic["code"].tolist())
    return {"district": basic, "circle": circle}


HALO_BED_COLUMNS: tuple[str, ...] = ("beds_total", "beds_nursing")


def county_code(region: store.Region) -> str | None:
    """The county's division code: the code of its one district-level area, else the most common
    ``district_code`` of its elders, else None."""
    areas = region.areas
    if len(areas) and "code" in areas and "level" in areas:
        codes = areas.loc[areas["level"].astype(str) == LEAF_LEVEL, "code"].dropna().astype(str).unique()
        if len(codes) == 1:
            return str(codes[0])
    elders = region.elders
    if "district_code" in elders and elders["district_code"].notna().any():
        return str(elders["district_code"].dropna().astype(str).mode().iloc[0])
    return None


def county_checks(region: store.Region, *, settings: Settings, mode: Mode = "walk") -> dict[str, pd.DataFrame]:
    """:func:`planning.checks.provisioning_checks` of one county region at district level (``district``, total
    row last), with its halo facilities counted for travel only.

    The bed checks count the county's own beds; the tier checks measure travel, so a facility across the county
    line serves the county's elders. The table also holds each tier's covered elders
    (:func:`planning.checks.tier_covered_column`), from which the roll-ups recompute the tier shares.
    :func:`provisioning_checks` takes one region, so the halo facilities are
    given to it with no beds (``beds_total``, ``beds_nursing`` 0) and the county's own district code
    (:func:`county_code`): they reach elders in the tier coverage and add no bed and no row of their own.
    """
    facilities = region.facilities
    if "halo" in facilities and len(facilities):
        halo = facilities["halo"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        if halo.any():
            facilities = facilities.copy()
            for column in HALO_BED_COLUMNS:
                if column in facilities:
                    facilities[column] = np.where(halo, 0.0, pd.to_numeric(facilities[column], errors="coerce"))
            code = county_code(region)
            column = facilities["district_code"].astype(object) if "district_code" in facilities \
                else pd.Series(None, index=facilities.index, dtype=object)
            facilities["district_code"] = np.where(halo, code, column.to_numpy())
            region = dataclasses.replace(region, layers={**region.layers, "facilities": facilities})
    table = provisioning_checks(region, settings=settings, by="district", mode=mode)
    for kind, counts in table.attrs.get("tier_covered", {}).items():  # the counts behind the shares, to sum them
        table[tier_covered_column(kind)] = np.asarray(counts, dtype=np.int64)
    return {"district": table}


KINDS: dict[str, Callable[..., dict[str, pd.DataFrame]]] = {
    "coverage": county_coverage, "report": county_report, "check": county_checks}
"""Batch kinds: kind -> function of (county region, settings, parameters) returning named frames; each returns a
``district`` table (total row last) for the roll-up."""
KIND_ZH = {"coverage": "服务圈覆盖", "report": "附件2基本情况表", "check": "配置检查"}
KIND_PARAMS: dict[str, tuple[str, ...]] = {"coverage": ("minutes", "mode"), "report": ("minutes", "mode", "date"),
                                           "check": ("mode",)}
"""The parameters of each kind (``check``'s tier minutes are ``settings.tier_minutes``; a ``minutes`` given to it,
as the command line and the page always give one, is dropped)."""
ROLLUP_FRAMES: dict[str, tuple[str, ...]] = {"coverage": ("district",), "report": ("district", "circle"),
                                             "check": ("district",)}
"""The frames of each kind's stored result that its roll-up reads (and ``--resume`` verifies)."""


def check_params(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a batch kind with defaults filled in and checked (a :class:`BatchError` in Chinese):
    ``minutes`` (coverage, report; default 15), ``mode`` (walk or drive), ``date`` (report: the statistics date,
    ISO ``YYYY-MM-DD``, default today)."""
    if kind not in KINDS:
        raise BatchError(f"批量计算类型“{kind}”不受支持；可选：{'、'.join(KINDS)}", f"unknown batch kind {kind!r}")
    allowed = KIND_PARAMS[kind]
    unknown = sorted(set(params) - set(allowed) - ({"minutes"} if kind == "check" else set()))
    if unknown:
        raise BatchError(f"批量计算 {kind} 不认识参数：{'、'.join(unknown)}（可用：{'、'.join(allowed)}）",
                         f"unknown parameters for {kind}: {unknown}")
    out: dict[str, Any] = {}
    if "minutes" in allowed:
        try:
            minutes = float(params.get("minutes", 15.0))
        except (TypeError, ValueError):
            minutes = float("nan")
        if not (0 < minutes <= MINUTES_MAX):
            raise BatchError(f"分钟数应大于 0 且不超过 {MINUTES_MAX:g}，收到“{params.get('minutes')}”",
                             f"minutes must be in (0, {MINUTES_MAX:g}], got {params.get('minutes')!r}")
        out["minutes"] = minutes
    mode = str(params.get("mode", "walk"))
    if mode not in ("walk", "drive"):
        raise BatchError(f"出行方式应为 walk（步行）或 drive（驾车），收到“{mode}”", f"unknown mode {mode!r}")
    out["mode"] = mode
    if "date" in allowed:
        given = params.get("date")
        try:
            day = given if isinstance(given, dt.date) else (dt.date.fromisoformat(str(given).strip()) if given
                                                            else dt.date.today())
        except ValueError:
            raise BatchError(f"统计日期应为 YYYY-MM-DD 形式，如 2026-06-30，收到“{given}”",
                             f"date must be YYYY-MM-DD, got {given!r}") from None
        out["date"] = day.isoformat()
    return out


def result_key(kind: str, params: Mapping[str, Any]) -> str:
    """The store key of a batch's results in each child: readable, and one per (kind, parameters), e.g.
    ``coverage-15-walk-1a2b3c4d``. The inputs that change with each import (the region version, the settings)
    are in the result's meta, not the key, so a child keeps one result per kind and parameters."""
    blob = json.dumps({"kind": kind, "params": dict(params)}, sort_keys=True, default=str).encode()
    words = [kind, *(f"{params[k]:g}" if isinstance(params[k], float) else str(params[k]) for k in sorted(params))]
    readable = re.sub(r"[^0-9A-Za-z_-]", "_", "-".join(words))[:40]
    return f"{readable}-{hashlib.sha256(blob).hexdigest()[:8]}"


def _digest(name: str, version: str, kind: str, params: Mapping[str, Any], settings: Settings) -> str:
    payload = {"format": RUNNER_FORMAT, "region": name, "version": version, "kind": kind, "params": dict(params),
               "settings": settings_digest(_result_settings(settings))}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


SPLIT_SETTINGS: tuple[str, ...] = ("batch_worker_memory_gb", "batch_task_max_elders", "import_stream_min_mb",
                                  "import_workers")
"""Settings that change how work is cut into pieces, never a result: a batch into tasks (:mod:`batch.split`), an
import into blocks (the stream gives the same layers as the whole file)."""


def _result_settings(settings: Settings) -> Settings:
    """``settings`` with :data:`SPLIT_SETTINGS` at their defaults: the settings a result depends on, so that a
    result computed in parts is resumed under another memory limit."""
    defaults = Settings()
    return dataclasses.replace(settings, **{name: getattr(defaults, name) for name in SPLIT_SETTINGS})


def inputs_digest(region: store.Region | str, kind: str, params: Mapping[str, Any], settings: Settings, *,
                  root: str | Path | None = None) -> str:
    """SHA-256 of everything a child's result depends on: the child region's name and version (a loaded
    :class:`data.store.Region`, or a name whose current version is read from ``root``), the settings digest
    (:func:`geo.settings.settings_digest`), the batch kind and its parameters (:func:`check_params`)."""
    if isinstance(region, store.Region):
        name, version = region.name, region.version
    else:
        name, version = region, store.current_version(region, root=root)
    return _digest(name, version, kind, check_params(kind, params), settings)


def run_child(child: str, kind: str, *, root: str, settings: Settings, params: Mapping[str, Any],
              delay_s: float = 0.0) -> dict[str, Any]:
    """One task of a batch, run on a worker: load county region ``child`` from the store, compute ``kind``, store the
    result (:func:`data.store.save_result`, key :func:`result_key`) and return a small summary (``status`` "done"
    with ``elders``, ``covered``, ``inputs_digest``; or "failed" with ``error_zh``/``error_en``: errors are caught
    here so that one county's problem never stops the others). ``delay_s``: tests only, a pause before the work
    (to stop a worker while its task runs)."""
    start = time.perf_counter()
    params = check_params(kind, params)
    key = result_key(kind, params)
    try:
        if delay_s > 0:
            time.sleep(delay_s)
        region = store.load_region(child, root=root)
        digest, version = inputs_digest(region, kind, params, settings), region.version
        try:
            frames = KINDS[kind](region, settings=settings, **params)
        finally:
            del region
            forget_cached()  # each county is computed once: its network and snaps would only hold memory
        summary = _summary(kind, frames)
        meta = {"kind": kind, "params": params, "inputs_digest": digest, "region_version": version,
                "settings_digest": settings_digest(_result_settings(settings)), "summary": summary}
        store.save_result(child, key, frames, meta, root=root)
    except Exception as exc:  # a bug or a resource problem in one county: reported, the other counties go on
        log.info("batch %s of %s failed: %s: %s", kind, child, type(exc).__name__, exc)  # the traceback: error_en
        return {"region": child, "status": "failed", "key": key, **_error_texts(exc),
                "seconds": time.perf_counter() - start}
    return {"region": child, "status": "done", "key": key, "inputs_digest": digest, **summary,
            "seconds": time.perf_counter() - start, "peak_mb": peak_memory_mb()}


def run_part(child: str, kind: str, *, root: str, settings: Settings, params: Mapping[str, Any], part: int,
             parts: int, elders: int, delay_s: float = 0.0) -> dict[str, Any]:
    """One part of a county split by :func:`batch.split.plan_parts`, run on a worker: load county ``child`` with only
    elders rows :func:`batch.split.part_rows` (``elders``: the county's elders, from its manifest), compute ``kind``
    and return the frames (to :func:`finish_parts`; nothing is stored), or ``status`` "failed" with the reason."""
    start = time.perf_counter()
    params = check_params(kind, params)
    rows = part_rows(elders, part, parts)
    try:
        if delay_s > 0:
            time.sleep(delay_s)
        region = store.load_region(child, root=root, elder_rows=rows)
        version = region.version
        try:
            frames = KINDS[kind](region, settings=settings, **params)
        finally:
            del region
            forget_cached()
    except Exception as exc:  # as run_child: reported for the county, the other counties go on
        return {"status": "failed", **_error_texts(exc), "part": part}
    return {"status": "done", "part": part, "rows": rows, "version": version, "frames": frames,
            "seconds": time.perf_counter() - start, "peak_mb": peak_memory_mb()}


def finish_parts(child: str, kind: str, outcomes: Sequence[Mapping[str, Any]], *, root: str, settings: Settings,
                 params: Mapping[str, Any], digest: str) -> dict[str, Any]:
    """The last task of a split county: combine its parts' frames (:func:`batch.split.combine`) and store them as
    the county's result, as :func:`run_child` stores an unsplit one. Returns :func:`run_child`'s summary (its
    ``seconds``: the parts' and this task's; ``peak_mb``: the largest of the parts' workers' and this one's)."""
    start = time.perf_counter()
    params = check_params(kind, params)
    key = result_key(kind, params)
    failed = [o for o in outcomes if o["status"] != "done"]
    if failed:
        first = failed[0]
        return {"region": child, "status": "failed", "key": key,
                "error_zh": f"第 {first['part'] + 1} 部分（共 {len(outcomes)} 部分）：{first['error_zh']}",
                "error_en": first["error_en"], "seconds": time.perf_counter() - start}
    versions = {o["version"] for o in outcomes}
    if len(versions) != 1:
        return {"region": child, "status": "failed", "key": key,
                "error_zh": "计算期间该区县的数据已更新（各部分读到的版本不同）：请用 --resume 重跑",
                "error_en": f"parts read different versions {sorted(versions)}", "seconds": 0.0}
    try:
        frames = combine(kind, [o["frames"] for o in sorted(outcomes, key=lambda o: o["part"])], settings=settings,
                         params=params)
        summary = _summary(kind, frames)
        meta = {"kind": kind, "params": params, "inputs_digest": digest, "region_version": versions.pop(),
                "settings_digest": settings_digest(_result_settings(settings)), "summary": summary,
                "parts": len(outcomes)}
        store.save_result(child, key, frames, meta, root=root)
    except Exception as exc:
        return {"region": child, "status": "failed", "key": key, **_error_texts(exc, "合并各部分结果时出错"),
                "seconds": time.perf_counter() - start}
    seconds = time.perf_counter() - start + sum(float(o["seconds"]) for o in outcomes)
    return {"region": child, "status": "done", "key": key, "inputs_digest": digest, **summary, "seconds": seconds,
            "peak_mb": max([peak_memory_mb(), *(float(o["peak_mb"]) for o in outcomes)]), "parts": len(outcomes)}


def _error_texts(exc: BaseException, doing_zh: str = "计算出错") -> dict[str, str]:
    """``error_zh``/``error_en`` of a task that raised: our errors as they word themselves; anything else (a bug, a
    resource problem) named in Chinese with its type, its traceback in English."""
    if isinstance(exc, ElderMapError):
        return {"error_zh": exc.zh, "error_en": exc.en}
    return {"error_zh": f"{doing_zh}（{type(exc).__name__}：{exc}）", "error_en": traceback.format_exc()}


def _summary(kind: str, frames: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """What a task tells the client: ``elders`` (the total row's) and ``covered`` (coverage: covered elders;
    report: elders within the service circle of any facility, the first compared profile; check: counties
    passing every check, 1 or 0)."""
    total = frames["district"].iloc[-1]
    if kind == "coverage":
        return {"elders": int(total["elders"]), "covered": int(total["covered"])}
    if kind == "report":
        circle = frames["circle"].iloc[-1]
        first = next((c for c in frames["circle"].columns if c.startswith(f"covered:{ANY}")), None)
        return {"elders": int(total["elders"]), "covered": int(circle[first]) if first else 0}
    ok = [c for c in frames["district"].columns if c in ("beds_ok", "nursing_ok") or c.startswith("tier_ok:")]
    return {"elders": int(total["elders"]), "covered": int(all(bool(total[c]) for c in ok))}


# ---------------------------------------------------------------- roll-up


def _rate_columns(columns: Sequence[str]) -> list[tuple[str, str, str]]:
    """(rate, part, whole) of every rate column of a coverage table: ``coverage_pct`` = covered / elders,
    ``coverage_80plus_pct``, ``coverage_pct:特困``, ``weighted_coverage_pct``."""
    out = []
    for column in columns:
        if column == "coverage_pct":
            out.append((column, "covered", "elders"))
        elif m := re.fullmatch(r"coverage(_\w+)_pct", column):
            out.append((column, f"covered{m.group(1)}", f"elders{m.group(1)}"))
        elif column.startswith("coverage_pct:"):
            group = column.split(":", 1)[1]
            out.append((column, f"covered:{group}", f"elders:{group}"))
        elif column == "weighted_coverage_pct":
            out.append((column, "weighted_covered", "weighted_elders"))
    return [(r, p, w) for r, p, w in out if p in columns and w in columns]


LABELS: tuple[str, ...] = ("region", "child_code", "child_name", "level", "counties", "counties_missing", "code",
                           "name")
"""Label columns of roll-up tables (never summed)."""


def _with_total(body: pd.DataFrame, tables: Sequence[pd.DataFrame], labels: Mapping[str, object]) -> pd.DataFrame:
    """``body`` with a total row appended: counts summed over every row (integer where every input had integers),
    rates recomputed from the summed counts (:func:`_rate_columns`), ``labels`` in the label columns."""
    rates = _rate_columns(list(body.columns))
    rate_names = {r for r, _, _ in rates}
    counts = [c for c in body.columns if c not in LABELS and c not in rate_names
              and pd.api.types.is_numeric_dtype(body[c])]
    body = body.copy()
    for c in counts:
        body[c] = body[c].fillna(0)
        if all(pd.api.types.is_integer_dtype(t[c]) for t in tables if c in t):
            body[c] = body[c].astype(np.int64)
    total = {**{c: "" for c in body.columns if c in LABELS}, **labels, **{c: body[c].sum() for c in counts}}
    out = pd.concat([body, pd.DataFrame([total])], ignore_index=True)
    for c in counts:
        out[c] = out[c].astype(body[c].dtype)
    for rate, part, whole in rates:
        out[rate] = pct(out[part], out[whole])
    return out


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("elders", "covered") else "float64"
                                      if c.endswith("_pct") else object) for c in columns})


_DEFAULT_COLUMNS = ["code", "name", "elders", "covered", "coverage_pct"]


def rollup(tables: Sequence[pd.DataFrame], children: Sequence[ChildRef]) -> pd.DataFrame:
    """A parent's area table from its county children's district tables: each child's rows (its district rows; the
    unassigned row when it has one), marked with ``region`` (the child region) and ``child_code``/``child_name``
    (from the hierarchy), then a total row (code :data:`geo.labels.TOTAL_CODE`) whose counts are the sums of every
    row above and whose rates are recomputed from those sums (never averaged). Each child's own total row is left
    out."""
    parts = []
    for table, child in zip(tables, children, strict=True):
        rows = table[table["code"].astype(str) != TOTAL_CODE].copy()
        rows.insert(0, "region", child.region)
        rows.insert(1, "child_code", child.code)
        rows.insert(2, "child_name", child.name)
        parts.append(rows)
    columns = list(dict.fromkeys(c for t in tables for c in t.columns)) or _DEFAULT_COLUMNS
    body = pd.concat(parts, ignore_index=True) if parts else _empty(["region", "child_code", "child_name", *columns])
    out = _with_total(body, tables, {"code": TOTAL_CODE, "name": TOTAL_NAME})
    return out[[c for c in ["region", "child_code", "child_name", *columns] if c in out]]


def children_table(parent: str, district_tables: Mapping[str, pd.DataFrame], *,
                   root: str | Path | None = None) -> pd.DataFrame:
    """A parent's table by its direct children: a city's lists its counties, a province's its cities (or counties
    directly under it), then the total row.

    A child's row sums the total rows of the district tables of the county regions under it
    (``district_tables``: county region -> its ``district`` table; a county missing there, e.g. failed, is left out
    and counted in ``counties_missing``); rates are recomputed from the sums. Columns: ``region``, ``code``,
    ``name``, ``level`` (of the child), ``counties``, ``counties_missing``, then the counts and rates.
    """
    hierarchy = load_hierarchy(parent, root=root)
    rows, tables = [], []
    for child in hierarchy.children:
        leaves = leaf_regions(child.region, root=root) if child.level in PARENT_LEVELS else [child]
        found = [district_tables[c.region] for c in leaves if c.region in district_tables]
        totals = [t[t["code"].astype(str) == TOTAL_CODE].drop(columns=["code", "name"]) for t in found]
        tables += totals
        summed = pd.concat(totals, ignore_index=True).sum(numeric_only=True).to_dict() if totals else {}
        rows.append({"region": child.region, "code": child.code, "name": child.name, "level": child.level,
                     "counties": len(leaves), "counties_missing": len(leaves) - len(found), **summed})
    columns = list(dict.fromkeys(c for t in district_tables.values() for c in t.columns)) or _DEFAULT_COLUMNS
    body = pd.DataFrame(rows) if rows else _empty(["region", "code", "name", "level", "counties", "counties_missing"])
    for c in columns:
        if c not in body:
            body[c] = 0 if c in ("elders", "covered") else np.nan
    for c in body.columns:
        if c not in LABELS and all(pd.api.types.is_integer_dtype(t[c]) for t in tables if c in t):
            body[c] = body[c].fillna(0).astype(np.int64)
    label = hierarchy.title or hierarchy.name
    out = _with_total(body, tables, {"code": TOTAL_CODE, "name": TOTAL_NAME, "region": hierarchy.name,
                                     "level": hierarchy.level, "counties": int(body["counties"].sum()),
                                     "counties_missing": int(body["counties_missing"].sum())})
    out.attrs.update(parent=hierarchy.name, title=label, level=hierarchy.level)
    order = ["region", "code", "name", "level", "counties", "counties_missing",
             *(c for c in columns if c not in ("code", "name"))]
    return out[order]


# ---------------------------------------------------------------- the batch


@dataclass(frozen=True)
class ChildOutcome:
    """What became of one child of a batch.

    ``status``: "done" (computed now), "skipped" (resumed: a stored result of the same inputs), "failed"
    (``error_zh`` says why). ``elders``/``covered``: the counted elders and those covered (0 when failed).
    ``seconds``: the task's time (of a split county: its parts' and the combining task's); ``peak_mb``: its
    worker's peak resident memory when it finished (NaN unless done); ``parts``: the parts its elders were computed
    in (1: one task; :mod:`batch.split`).
    """

    region: str
    code: str
    name: str
    status: str
    key: str
    inputs_digest: str = ""
    elders: int = 0
    covered: int = 0
    seconds: float = 0.0
    error_zh: str = ""
    error_en: str = ""
    peak_mb: float = float("nan")
    parts: int = 1


@dataclass(frozen=True)
class BatchResult:
    """A finished batch: per child what happened, the parent's rolled-up tables (``table``: the counties' district
    rows, :func:`rollup`; ``children_table``: one row per direct child, a city's counties or a province's cities,
    :func:`children_table`; done and skipped counties, failed ones are not in them), the wall time and the
    dashboard link (None without a dashboard)."""

    parent: str
    kind: str
    params: dict[str, Any]
    key: str
    children: tuple[ChildOutcome, ...]
    table: pd.DataFrame = field(repr=False)
    children_table: pd.DataFrame = field(repr=False)
    wall_s: float
    workers: int
    dashboard_link: str | None = None
    timing: Mapping[str, float] = field(default_factory=dict)
    """Seconds of the batch's steps in the driver: ``plan_s`` (reading the hierarchy and the counties' manifests),
    ``cluster_s`` (starting or reaching the cluster, and closing a local one), ``tasks_s`` (submitting until the
    last task finished), ``rollup_s`` (reading the stored tables back and rolling them up)."""
    outside: Mapping[str, int] = field(default_factory=dict)
    """Elders the province import put in no county, per reason (:func:`batch.hierarchy.elders_outside_counties`):
    in no table of the batch."""
    frames: Mapping[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    """Every rolled-up table by name: ``report``: ``basic`` and ``circle`` (by county, as ``table``) and
    ``basic:children``, ``circle:children`` (by direct child, as ``children_table``); ``check``: ``checks`` and
    ``checks:children``; ``coverage``: ``district`` and ``district:children``."""

    def with_status(self, status: str) -> list[ChildOutcome]:
        return [c for c in self.children if c.status == status]

    @property
    def elders(self) -> int:
        return int(self.table["elders"].iloc[-1]) if len(self.table) else 0

    @property
    def covered(self) -> int:
        """Covered elders (coverage); report: elders within the service circle of any facility; check: counties
        passing every check."""
        if "covered" in self.table:
            return int(self.table["covered"].iloc[-1]) if len(self.table) else 0
        return sum(c.covered for c in self.children if c.status != "failed")

    @property
    def coverage_pct(self) -> float:
        if self.kind == "report":
            circle = self.frames.get("circle")
            first = next((c for c in circle.columns if c.startswith(f"coverage_pct:{ANY}")), None) \
                if circle is not None else None
            return float(circle[first].iloc[-1]) if first and len(circle) else float("nan")
        return round(100.0 * self.covered / self.elders, 2) if self.elders else float("nan")

    def summary_zh(self) -> list[str]:
        """The batch in a few Chinese lines (children done / skipped / failed, elders, covered, rate, wall time)."""
        what = KIND_ZH.get(self.kind, self.kind)
        if self.kind in ("coverage", "report"):
            what += f"（{mode_zh(self.params['mode'])} {self.params['minutes']:g} 分钟）"
        else:
            what += f"（{mode_zh(self.params['mode'])}）"
        done, skipped, failed = (self.with_status(s) for s in ("done", "skipped", "failed"))
        lines = [f"批量计算{what}：上级地区“{self.parent}”共 {len(self.children)} 个区县",
                 f"  完成 {len(done)} 个，跳过 {len(skipped)} 个" + ("（已有相同输入的结果，--resume）" if skipped else "")
                 + f"，失败 {len(failed)} 个"]
        lines += [f"  失败：子地区“{c.region}”（{c.name}）：{c.error_zh}" for c in failed]
        split = [c for c in done if c.parts > 1]
        if split:
            lines.append(f"  其中 {len(split)} 个区县老年人较多，按每个工作进程的内存上限分部分计算后合并："
                         + "、".join(f"{c.name or c.region}（{c.parts} 部分）" for c in split))
        scope = "（不含失败的区县）" if failed else ""
        if self.kind == "report" and len(self.table):
            total = self.table.iloc[-1]
            circle = self.coverage_pct
            lines.append(f"  老年人 {int(total['elders']):,} 人（附件2口径），社区 {int(total['communities']):,} 个，"
                         f"有社区养老设施的 {int(total['communities_with_facility']):,} 个，社区养老设施覆盖率 "
                         f"{float(total['coverage_rate_pct']):.1f}%；服务圈覆盖 "
                         + (f"{circle:.1f}%" if circle == circle else "—（没有老年人）") + scope)
        elif self.kind == "check" and len(self.table):
            lines.append(f"  {self.table['flags'].iloc[-1]}{scope}")
        else:
            rate = f"{self.coverage_pct:.2f}%" if self.elders else "—（没有老年人）"
            lines.append(f"  老年人 {self.elders:,} 人，覆盖 {self.covered:,} 人，覆盖率 {rate}{scope}")
        if self.outside:
            lines.append(f"  另有 {sum(self.outside.values()):,} 名老年人在拆分区县时未分到任何区县，不在上述数字中（"
                         + "；".join(f"{why}：{n:,} 人" for why, n in self.outside.items()) + "；详见导入时的未分配清单）")
        lines.append(f"  用时 {self.wall_s:.1f} 秒（{self.workers} 个工作进程）" if self.workers
                     else f"  用时 {self.wall_s:.1f} 秒（全部沿用已有结果，未启动工作进程）")
        return lines


def shared_root(root: str | Path | None) -> str:
    """The store as every worker must name it: the database URL, or the regions folder as an absolute path (the
    workers of a remote cluster must see the same folder, e.g. a network share mounted at the same path)."""
    url = store.database_url(root)
    return url if url else str(store.regions_root(root).resolve())


def worker_memory_gb(settings: Settings) -> float:
    """Memory limit of each worker of a local cluster, GB (``settings.batch_worker_memory_gb``): the nanny restarts a
    worker above it and Dask runs its task again elsewhere."""
    return float(settings.batch_worker_memory_gb)


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None, *, memory_gb: float, tasks: int) -> Iterator[Any]:
    """A Dask client: of a new local cluster (``scheduler`` None: one single-threaded worker process per core, or
    ``workers``; on 127.0.0.1 only), or of the scheduler at ``scheduler`` (waiting for ``workers`` workers)."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise BatchError(f"无法连接 Dask 调度器 {scheduler}（{CONNECT_TIMEOUT_S:g} 秒内没有应答）：请确认已在该地址运行 "
                             "`dask scheduler`，且防火墙允许访问该端口", f"cannot connect to {scheduler}: {exc}") from None
        with client:
            if workers:
                try:
                    client.wait_for_workers(workers, timeout=CONNECT_TIMEOUT_S)
                except (TimeoutError, OSError):
                    have = len(client.scheduler_info().get("workers", {}))
                    raise BatchError(f"调度器 {scheduler} 上只有 {have} 个工作进程，少于要求的 {workers} 个"
                                     f"（等待了 {CONNECT_TIMEOUT_S:g} 秒）：请先启动 `dask worker {scheduler}`",
                                     f"{have} workers < {workers} at {scheduler}") from None
            yield client
        return
    n = max(1, min(workers or os.cpu_count() or 1, tasks))
    with bare_main():
        try:
            with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       memory_limit=f"{memory_gb:g}GB", dashboard_address="127.0.0.1:0",
                                       silence_logs=logging.ERROR)
        except (OSError, RuntimeError, TimeoutError) as exc:
            raise BatchError(f"无法在本机启动 {n} 个 Dask 工作进程（{type(exc).__name__}：{exc}）：请检查可用内存和临时"
                             "目录空间，或用 --workers 减少工作进程数", f"cannot start a local cluster of {n}: {exc!r}") from None
        with cluster, Client(cluster) as client:
            yield client


@contextlib.contextmanager
def bare_main() -> Iterator[None]:
    """Worker processes are spawned, and multiprocessing runs the parent's main script again in each one when
    that script is a file without a module name — a page script (a Streamlit test harness runs the page as
    ``__main__``), which would render the page in every worker. While the local cluster lives (workers are also
    spawned again after one dies), ``__main__`` is an empty module: the tasks are functions of this module."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None or not getattr(main, "__file__", None):
        yield
        return
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _dashboard_link(client: Any) -> str | None:
    """The dashboard's address, when the scheduler serves one and bokeh (its pages) is installed here."""
    if importlib.util.find_spec("bokeh") is None:
        return None
    try:
        return client.dashboard_link if "dashboard" in client.scheduler_info().get("services", {}) else None
    except (KeyError, AttributeError, OSError):
        return None


def _killed_zh(exc: BaseException, memory_gb: float) -> tuple[str, str]:
    """Why a task did not finish, in Chinese and English."""
    name = type(exc).__name__
    if name == "KilledWorker":
        return (f"运行该区县的工作进程多次中断（已重试 {ALLOWED_FAILURES} 次），可能超过每个工作进程的内存上限 "
                f"{memory_gb:g} GB：请调小设置 batch_task_max_elders（每个任务的老年人数上限），让该区县分成更多部分计算",
                f"KilledWorker: {exc}")
    if name == "CancelledError":
        return "任务被取消（调度器或工作进程已断开）：请检查集群后用 --resume 重跑", f"cancelled: {exc}"
    return f"任务未能运行（{name}：{exc}）：请确认工作进程上安装了相同版本的 ElderMap", f"{name}: {exc}"


def run_batch(
    parent: str,
    kind: str,
    *,
    root: str | Path | None,
    settings: Settings,
    params: Mapping[str, Any],
    scheduler: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    task_delay_s: float = 0.0,
) -> BatchResult:
    """Run batch ``kind`` over the leaf children of parent region ``parent``, one Dask task per child, and roll up.

    Parameters
    ----------
    root
        The store (a folder or a PostgreSQL URL; None: :func:`data.store.default_root`). Every worker opens the
        children from it by name and writes its result into it.
    params
        Parameters of ``kind`` (coverage: ``minutes``, ``mode``; :func:`check_params`).
    scheduler
        None: a local cluster (one worker process per core, or ``workers``; single-threaded; memory limit
        :func:`worker_memory_gb`; scheduler, workers and dashboard on 127.0.0.1 only, the dashboard on a free port
        and linked when bokeh is installed). ``tcp://host:8786``:
        the scheduler of an existing cluster (whose workers must see the same store).
    resume
        Skip the children whose stored result has the same inputs (:func:`inputs_digest`) and whose district table
        still matches its checksum.
    progress
        ``progress(finished, total, message)`` (:data:`Progress`): the CLI passes a tqdm bar, a page ``st.status``.
    task_delay_s
        Tests only: each task pauses this long first.

    Returns
    -------
    :class:`BatchResult`. Failed children are listed with their reason in Chinese; the others complete.
    """
    start = time.perf_counter()
    params = check_params(kind, params)
    root = shared_root(store.default_root() if root is None else root)
    leaves = leaf_regions(parent, root=root)
    key = result_key(kind, params)
    memory_gb = worker_memory_gb(settings)
    outcomes: dict[str, ChildOutcome] = {}
    todo: list[tuple[ChildRef, str]] = []
    for child in leaves:
        version = store.current_version(child.region, root=root)
        if not version:
            outcomes[child.region] = ChildOutcome(child.region, child.code, child.name, "failed", key,
                                                  error_zh=f"子地区“{child.region}”不存在",
                                                  error_en=f"child region {child.region!r} not found")
            continue
        digest = _digest(child.region, version, kind, params, settings)
        if resume and _still_valid(child.region, key, digest, root, ROLLUP_FRAMES[kind]):
            summary = store.result_meta(child.region, key, root=root)["meta"].get("summary", {})
            outcomes[child.region] = ChildOutcome(child.region, child.code, child.name, "skipped", key, digest,
                                                  int(summary.get("elders", 0)), int(summary.get("covered", 0)))
            continue
        todo.append((child, digest, _size(child.region, root, settings)))
    total = len(leaves)
    split = {c.region: size[1] for c, _, size in todo if size[1] > 1}
    if split:
        log.info("batch %s of %s: %d counties split into parts to stay under %g GB per worker: %s", kind, parent,
                 len(split), memory_gb, ", ".join(f"{r} ({n})" for r, n in split.items()))

    def report(text: str) -> None:
        if progress is not None:
            progress(len(outcomes), total, text)

    link = None
    n_workers = 0
    timing = {"plan_s": time.perf_counter() - start, "cluster_s": 0.0, "tasks_s": 0.0}
    if todo:
        from distributed import as_completed

        started = time.perf_counter()
        with _client(scheduler, workers, memory_gb=memory_gb, tasks=sum(size[1] for _, _, size in todo)) as client:
            timing["cluster_s"] = time.perf_counter() - started
            started = time.perf_counter()
            link = _dashboard_link(client)
            n_workers = len(client.scheduler_info().get("workers", {}))
            report(f"已启动 {n_workers} 个工作进程，待算 {len(todo)} 个区县"
                   + (f"（其中 {len(split)} 个区县老年人较多，按内存上限分为 {sum(split.values())} 部分计算）" if split else "")
                   + (f"；仪表盘 {link}" if link else ""))
            futures = {}
            for child, digest, (elders, parts, _) in sorted(todo, key=lambda t: -t[2][2]):  # the largest first
                name = f"eldermap-{key}-{child.region}-{digest[:16]}"
                if parts == 1:
                    future = client.submit(run_child, child.region, kind, root=root, settings=settings, params=params,
                                           delay_s=task_delay_s, key=name, retries=0)
                else:
                    pieces = [client.submit(run_part, child.region, kind, root=root, settings=settings, params=params,
                                            part=i, parts=parts, elders=elders, delay_s=task_delay_s,
                                            key=f"{name}-part{i + 1}of{parts}", retries=0) for i in range(parts)]
                    future = client.submit(finish_parts, child.region, kind, pieces, root=root, settings=settings,
                                           params=params, digest=digest, key=name, retries=0)
                futures[future.key] = (future, child)
            for future in as_completed([f for f, _ in futures.values()]):
                child = futures[future.key][1]
                if future.status == "finished":
                    got = future.result()
                    outcomes[child.region] = ChildOutcome(
                        child.region, child.code, child.name, got["status"], key, got.get("inputs_digest", ""),
                        int(got.get("elders", 0)), int(got.get("covered", 0)), float(got.get("seconds", 0.0)),
                        got.get("error_zh", ""), got.get("error_en", ""), float(got.get("peak_mb", float("nan"))),
                        int(got.get("parts", 1)))
                else:
                    try:
                        exc = future.exception()
                    except BaseException as raised:  # a cancelled future raises instead of returning its exception
                        exc = raised
                    zh, en = _killed_zh(exc, memory_gb)
                    outcomes[child.region] = ChildOutcome(child.region, child.code, child.name, "failed", key,
                                                          error_zh=zh, error_en=en)
                report(f"{child.name or child.region}：{_STATUS_ZH[outcomes[child.region].status]}")
                future.release()
            timing["tasks_s"] = time.perf_counter() - started
            started = time.perf_counter()
        timing["cluster_s"] += time.perf_counter() - started  # closing a local cluster
    else:
        report("全部区县都已有相同输入的结果，无需计算")
    started = time.perf_counter()
    kept, tables, stored_frames = [], [], {}
    for c in leaves:
        if outcomes[c.region].status == "failed":
            continue
        stored = store.load_result(c.region, key, root=root, names=list(ROLLUP_FRAMES[kind]))
        if stored.meta.get("inputs_digest") != outcomes[c.region].inputs_digest:  # another batch wrote it since
            outcomes[c.region] = dataclasses.replace(
                outcomes[c.region], status="failed",
                error_zh="汇总前该区县的结果已被另一次计算（不同的设置或地区版本）替换：请稍后用 --resume 重跑",
                error_en="the stored result was replaced by another batch before the roll-up")
            continue
        kept.append(c)
        tables.append(stored.frames["district"])
        stored_frames[c.region] = stored.frames
    ordered = tuple(outcomes[c.region] for c in leaves)
    failed_regions = [c.region for c in ordered if c.status == "failed"]
    if kind == "coverage":
        table = rollup(tables, kept)
        by_child = children_table(parent, {c.region: t for c, t in zip(kept, tables, strict=True)}, root=root)
        rolled = {"district": table, "district:children": by_child}
    else:
        rolled = _rolled_up(kind, parent, leaves, stored_frames, failed_regions, params=params, settings=settings,
                            root=root)
        first = "basic" if kind == "report" else "checks"
        table, by_child = rolled[first], rolled[f"{first}:children"]
    timing["rollup_s"] = time.perf_counter() - started
    table.attrs.update(parent=parent, kind=kind, params=params, failed=failed_regions)
    result = BatchResult(parent=parent, kind=kind, params=params, key=key, children=ordered, table=table,
                         children_table=by_child, wall_s=time.perf_counter() - start, workers=n_workers,
                         dashboard_link=link, frames=rolled, outside=elders_outside_counties(parent, root=root),
                         timing=timing)
    for c in result.with_status("failed"):
        log.debug("child %s failed: %s", c.region, c.error_en)
    log.info("batch %s of %s: %d done, %d skipped, %d failed in %.1f s", kind, parent, len(result.with_status("done")),
             len(result.with_status("skipped")), len(result.with_status("failed")), result.wall_s)
    return result


_STATUS_ZH = {"done": "完成", "skipped": "跳过（已有结果）", "failed": "失败"}

ROLLUP_TABLES: dict[str, dict[str, str]] = {"report": {"district": "basic", "circle": "circle"},
                                            "check": {"district": "checks"}}
"""Stored frame -> roll-up table (:data:`batch.rollup.TABLES`) of each kind rolled up by :mod:`batch.rollup`."""


def _rolled_up(kind: str, parent: str, leaves: Sequence[ChildRef], stored: Mapping[str, Mapping[str, pd.DataFrame]],
               failed: Sequence[str], *, params: Mapping[str, Any], settings: Settings, root: str
               ) -> dict[str, pd.DataFrame]:
    """The roll-ups of a ``report`` or ``check`` batch from the counties' stored frames: per table, by county
    (:func:`batch.rollup.county_table`) and by direct child (:func:`batch.rollup.children_rollup`)."""
    out: dict[str, pd.DataFrame] = {}
    for frame, what in ROLLUP_TABLES[kind].items():
        tables = {region: frames[frame] for region, frames in stored.items()}
        by_county = county_table(tables, leaves, what, missing=failed)
        by_child = children_rollup(parent, tables, what, root=root)
        if what == "circle":
            for t in (by_county, by_child):
                circle_attrs(t, settings=settings, minutes=params["minutes"], mode=params["mode"])
        out[what] = _public(by_county)
        out[f"{what}:children"] = _public(by_child)
    return out


def _public(table: pd.DataFrame) -> pd.DataFrame:
    out = public_table(table)
    out.attrs.update(table.attrs)
    return out


def write_batch_report(result: BatchResult, path: str | Path, *, settings: Settings, root: str | Path | None = None,
                       checks: BatchResult | None = None) -> Path:
    """Write the annex-2 workbook of a ``report`` batch's parent (:func:`batch.rollup.write_rollup_workbook`: one
    row per direct child — a city's counties, a province's cities — and the total row; a province's workbook
    adds a sheet of every county), with the checks of a ``check`` batch of the same parent and mode when given.
    ``settings``: those the batches ran with (the notes, the remarks and the coverage formula state them).
    Raises :class:`BatchError` for a batch of another kind, parent or mode."""
    if result.kind != "report":
        raise BatchError(f"只有 report 批量计算的结果可以写成基本情况表，收到 {result.kind}",
                         f"only a report batch makes the annex workbook, got {result.kind!r}")
    if checks is not None and (checks.kind != "check" or checks.parent != result.parent
                               or checks.params.get("mode") != result.params["mode"]):
        raise BatchError("配置检查结果应来自同一上级地区、同一出行方式的 check 批量计算",
                         "checks must be a check batch of the same parent and mode")
    report = rollup_report(
        result.parent, result.frames["basic:children"], result.frames["circle:children"], settings=settings,
        statistics_date=dt.date.fromisoformat(result.params["date"]), minutes=result.params["minutes"],
        mode=result.params["mode"], root=shared_root(store.default_root() if root is None else root),
        checks=checks.frames["checks:children"] if checks is not None else None,
        counties_basic=result.frames["basic"], failed=[(c.region, c.error_zh) for c in result.with_status("failed")])
    return write_rollup_workbook(report, path)


def _size(region: str, root: str, settings: Settings) -> tuple[int, int, float]:
    """(elders, parts, estimated cost) of a county from its manifest: the parts :func:`batch.split.plan_parts`
    splits it into, and the estimate that orders the tasks (largest first, so that no large county starts last)."""
    layers = store.region_manifest(region, root=root).get("layers", {})
    elders = int(layers.get("elders", {}).get("rows", 0))
    edges = int(layers.get("road_edges", {}).get("rows", 0))
    return elders, plan_parts(elders, edges, settings), task_memory_mb(elders, edges)


def _still_valid(region: str, key: str, digest: str, root: str, names: Sequence[str] = ("district",)) -> bool:
    """Whether ``region`` holds a result of ``key`` computed from inputs ``digest`` whose district table (what the
    roll-up reads) still matches its checksum."""
    record = store.result_meta(region, key, root=root)
    if record is None or record.get("meta", {}).get("inputs_digest") != digest:
        return False
    try:
        store.load_result(region, key, root=root, names=list(names))
    except ElderMapError as exc:
        log.info("result %s of %s is damaged, computing it again: %s", key, region, exc.en)
        return False
    return True


__all__ = ["ALLOWED_FAILURES", "bare_main", "BatchError", "BatchResult", "ChildOutcome", "KINDS", "KIND_PARAMS", "KIND_ZH",
           "Progress", "ROLLUP_FRAMES", "check_params", "children_table", "county_checks", "county_code",
           "county_coverage", "county_report", "finish_parts", "inputs_digest", "peak_memory_mb", "result_key", "rollup",
           "run_batch", "run_child", "run_part", "shared_root", "worker_memory_gb", "write_batch_report"]
