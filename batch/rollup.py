"""The official tables of a city or province, rolled up from its counties' stored tables.

A batch of kind ``report`` stores, per county region, the county's annex-2 rows (``district``:
:func:`planning.report.basic_situation` by district) and its service-circle rows (``circle``:
:func:`planning.report.service_circle_table`); a batch of kind ``check`` stores its provisioning checks
(``district``: :func:`planning.checks.provisioning_checks` by district). This module makes the parent's tables
from those stored tables only — no county is computed again:

- the **city table** (:func:`county_table`): one row per county, the county's own figures (its table's total row,
  the sum of its district rows; code and name from the hierarchy), then the total row (code "合计", name
  "全部地区" as :mod:`planning.report` writes it);
- the **province table** (:func:`children_rollup`): one row per direct child — a city's row is its own total row,
  made the same way from its counties, recursing through :mod:`batch.hierarchy` (province → cities →
  counties) — then the province total.

Every figure of a row above a county is a sum of the counties' counts; every rate is recomputed from the summed
counts, never averaged (:func:`combine`):

- annex 2 (``basic``): 社区养老服务设施覆盖率 = communities with a community facility ÷ communities × 100, 1 decimal,
  0 without communities (note 1), as :func:`planning.report.basic_situation` computes it — the counts come from
  the counties' tables, so the settings they were computed with (``annex_include_villages``, ``annex_population``,
  the facility-kind roles) carry through; the 万人 columns are the summed counts ÷ 10,000;
- service circle (``circle``): each ``coverage_pct:…`` = the summed ``covered:…`` ÷ the summed ``elders`` × 100,
  1 decimal; a facility kind absent from a county (no such facility in reach) counts 0 covered there;
- checks (``checks``): elders and beds summed, beds per 100 elders and the nursing-bed share recomputed; each
  pass/fail column of a row above a county holds the number of counties passing that check; each tier share
  ``tier:k`` = the summed elders within the tier minutes (the counties' ``_tier_covered:k``, stored with their
  tables) ÷ the summed elders × 100, 1 decimal (empty for a county result stored without those counts).

:func:`rollup_report` and :func:`write_rollup_workbook` write the city/province annex-2 workbook in the layout of
the single-region one (:func:`data.report_files.write_report_workbook`: annex sheet, service circle, checks,
notes; no live formula; written atomically).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batch.hierarchy import LEAF_LEVEL, PARENT_LEVELS, ChildRef, load_hierarchy
from data import store
from data.provenance import manifest_sources, source_text_zh, synthetic_layers
from data.report_files import write_report_workbook
from geo.areas import pct, ratio
from geo.errors import ElderMapError
from geo.labels import LAYER_ZH, TOTAL_CODE, TOTAL_NAME, mode_zh
from geo.settings import Settings
from planning.checks import check_columns_zh, tier_covered_column
from planning.coverage import compared_profiles, walk_profile_speed
from planning.report import (
    ANNEX_TITLE,
    ANY,
    BASIC_COLUMNS,
    annex_remarks,
    coverage_formula,
    date_zh,
    service_circle_rows,
    service_circle_rows_columns_zh,
)

log = logging.getLogger(__name__)

TABLES: tuple[str, ...] = ("basic", "circle", "checks")
"""What a roll-up combines: annex-2 rows, service-circle rows, provisioning-check rows."""
LABEL_COLUMNS: tuple[str, ...] = ("region", "code", "name", "level", "counties", "counties_missing")
"""Columns a roll-up puts before the table's figures (``region``: the child region; ``level`` of the row:
"district" for a county, "city" for a city; ``counties``: counties in the row, ``counties_missing``: those of
them without a stored table, e.g. failed)."""
BASIC_COUNTS: tuple[str, ...] = (
    "communities", "communities_with_facility", "registered_population", "elders", "oldest_old", "disabled",
    "institutions", "institution_beds", "institution_residents", "community_facilities", "community_facility_beds",
    "community_elders_served")
CHECK_COUNTS: tuple[str, ...] = ("elders", "beds_total", "institution_beds", "nursing_beds")
ROLLUP_COLUMNS_ZH: dict[str, str] = {"region": "子地区", "code": "区划代码", "name": "名称", "level": "层级",
                                     "counties": "区县数", "counties_missing": "未计入的区县数"}


TIER_COVERED_PREFIX = tier_covered_column("")
"""Prefix of the working columns of a checks table that hold each tier's covered elders (summed up the tree)."""


class RollupError(ElderMapError, ValueError):
    """A roll-up cannot be made: a table of an unknown kind, or no county table at all."""


# ---------------------------------------------------------------- one row from many


def _check_what(what: str) -> None:
    if what not in TABLES:
        raise RollupError(f"无法汇总“{what}”表（可选：{'、'.join(TABLES)}）", f"unknown table kind {what!r}")


def _ok_columns(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c in ("beds_ok", "nursing_ok") or c.startswith("tier_ok:")]


def combine(rows: pd.DataFrame, what: str) -> dict[str, object]:
    """The figures of one row summing ``rows`` (county rows, or city rows of a province) of table ``what``.

    Counts are summed; rates recomputed from the sums (see the module docstring). For ``checks`` the pass/fail
    columns of the result hold the number of counties passing (a county row counts 1 when it passes; a row of
    several counties, the number it holds), the targets are copied and the tier shares recomputed from the summed
    ``_tier_covered:k`` counts (NaN when a row lacks them).
    """
    _check_what(what)
    out: dict[str, object] = {}
    if what == "basic":
        for c in BASIC_COUNTS:
            out[c] = int(pd.to_numeric(rows[c]).fillna(0).sum()) if c in rows else 0
        out["fiscal_revenue_10k_yuan"] = round(float(pd.to_numeric(rows["fiscal_revenue_10k_yuan"]).fillna(0).sum()), 4)
        rate = pct(pd.Series([out["communities_with_facility"]], dtype="float64"),
                   pd.Series([out["communities"]], dtype="float64"), decimals=1).fillna(0.0)
        out["coverage_rate_pct"] = float(rate.iloc[0])
        for c in ("registered_population", "elders", "oldest_old", "disabled"):
            out[f"{c}_10k"] = out[c] / 10_000.0
        return {c: out[c] for c in BASIC_COLUMNS if c in out}
    if what == "circle":
        out["elders"] = int(pd.to_numeric(rows["elders"]).fillna(0).sum())
        for c in rows.columns:
            if c.startswith("covered:"):
                out[c] = int(pd.to_numeric(rows[c]).fillna(0).sum())
        for c in [c for c in rows.columns if c.startswith("covered:")]:
            rate = pct(pd.Series([out[c]], dtype="float64"), pd.Series([out["elders"]], dtype="float64"), decimals=1)
            out["coverage_pct:" + c.split(":", 1)[1]] = float(rate.iloc[0])
        return out
    for c in CHECK_COUNTS:
        out[c] = int(pd.to_numeric(rows[c]).fillna(0).sum()) if c in rows else 0
    out["beds_per_100"] = float(ratio([out["beds_total"]], [out["elders"]], 100.0).round(2).iloc[0])
    out["nursing_share_pct"] = float(ratio([out["nursing_beds"]], [out["institution_beds"]], 100.0).round(1).iloc[0])
    for c in rows.columns:
        if c.startswith("target_"):
            out[c] = rows[c].iloc[0] if len(rows) else np.nan
        elif c.startswith("tier:"):
            counted = tier_covered_column(c.split(":", 1)[1])
            if counted in rows and pd.to_numeric(rows[counted]).notna().all():
                out[counted] = int(pd.to_numeric(rows[counted]).sum())
                out[c] = float(ratio([out[counted]], [out["elders"]], 100.0).round(1).iloc[0])
            else:  # a county result stored without the covered counts (before they were stored): no exact share
                out[c] = np.nan
    for c in _ok_columns(list(rows.columns)):
        out[c] = int(sum(int(v) for v in rows[c] if pd.notna(v)))
    counties = int(pd.to_numeric(rows["counties"]).sum()) if "counties" in rows else len(rows)
    missing = int(pd.to_numeric(rows["counties_missing"]).sum()) if "counties_missing" in rows else 0
    present = counties - missing
    ok = _ok_columns(list(rows.columns))
    all_pass = int(sum(int(v) for v in rows["_all_ok"])) if "_all_ok" in rows else (
        int(rows[ok].astype(bool).all(axis=1).sum()) if ok else present)
    out["_all_ok"] = all_pass
    out["flags"] = f"{present} 个区县中 {all_pass} 个全部达标" + (
        "：" + "；".join(f"{_CHECK_NAME_ZH.get(c, c.split(':', 1)[-1] + '覆盖')}达标 {out[c]} 个" for c in ok)
        if ok else "")
    return out


_CHECK_NAME_ZH = {"beds_ok": "每百名老人床位", "nursing_ok": "护理型床位占比"}


def _columns_of(tables: Sequence[pd.DataFrame], what: str) -> list[str]:
    """The figure columns of a roll-up of ``what``: the union over the counties' tables in the first-seen order
    (for ``circle``: ``elders``, every ``covered:…`` then every ``coverage_pct:…``)."""
    seen = list(dict.fromkeys(c for t in tables for c in t.columns
                              if c not in LABEL_COLUMNS and not str(c).startswith("_")))
    if what == "basic":
        return [c for c in BASIC_COLUMNS if c not in ("code", "name")]
    if what == "circle":
        return (["elders"] + [c for c in seen if c.startswith("covered:")]
                + [c for c in seen if c.startswith("coverage_pct:")])
    return seen


def _county_row(table: pd.DataFrame, child: ChildRef, what: str) -> dict[str, object]:
    """A county's row: its table's total row (the sum of its district rows, as it computed it), labelled with the
    child's code and name from the hierarchy."""
    codes = table["code"].astype(str)
    total = table[codes == TOTAL_CODE]
    if len(total):
        row = total.iloc[0].to_dict()
    else:  # a table without its total row: summed here
        row = combine(table, what)
    row.pop("code", None)
    row.pop("name", None)
    if what == "checks":
        ok = _ok_columns(list(table.columns))
        row["_all_ok"] = int(all(bool(row[c]) for c in ok))
    others = sorted(set(codes[codes != TOTAL_CODE]) - {child.code})
    return {"region": child.region, "code": child.code, "name": child.name, "level": child.level, "counties": 1,
            "counties_missing": 0, **row, "_other_rows": others}


def _finish(body: list[dict[str, object]], what: str, columns: Sequence[str], total_labels: Mapping[str, object]
            ) -> pd.DataFrame:
    frame = pd.DataFrame(body)
    for c in columns:
        if c not in frame:
            frame[c] = 0 if c.startswith("covered:") else np.nan
    if what == "circle":
        for c in columns:
            if c.startswith("covered:"):
                frame[c] = frame[c].fillna(0).astype(np.int64)
            elif c.startswith("coverage_pct:"):  # a kind a county lacks: its rate from its counts (0 covered)
                frame[c] = pct(frame["covered:" + c.split(":", 1)[1]].astype("float64"),
                               frame["elders"].astype("float64"), decimals=1)
    total = {**total_labels, "counties": int(frame["counties"].sum()) if len(frame) else 0,
             "counties_missing": int(frame["counties_missing"].sum()) if len(frame) else 0,
             **combine(frame, what)}
    out = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
    counts = {"basic": BASIC_COUNTS, "checks": CHECK_COUNTS,
              "circle": ("elders", *(c for c in columns if c.startswith("covered:")))}[what]
    for c in ("counties", "counties_missing", *counts):
        if c in out:
            out[c] = pd.to_numeric(out[c]).fillna(0).astype(np.int64)
    if what == "checks":  # a county's pass/fail stays a truth value; a row of several counties holds a count
        for c in _ok_columns(list(out.columns)):
            out[c] = pd.Series([bool(v) if level == LEAF_LEVEL else int(v)
                                for v, level in zip(out[c], out["level"], strict=True)], dtype=object)
    order = [*LABEL_COLUMNS, *columns]
    if what == "checks":
        order += [c for c in out.columns if str(c).startswith(TIER_COVERED_PREFIX)] + ["_all_ok"]
    out = out[[c for c in order if c in out]]
    return out


def county_table(tables: Mapping[str, pd.DataFrame], children: Sequence[ChildRef], what: str, *,
                 missing: Sequence[str] = ()) -> pd.DataFrame:
    """A city's table from its counties' stored tables: one row per county (in ``children`` order; a county
    without a table in ``tables`` — region name → its stored table — is left out), then the total row.

    Parameters
    ----------
    tables
        County region → its stored table of kind ``what`` (a ``basic_situation`` / ``service_circle_table`` /
        ``provisioning_checks`` table at district level, total row last).
    children
        The counties (leaf children, :func:`batch.hierarchy.leaf_regions`), in the table's row order.
    what
        "basic", "circle" or "checks".
    missing
        Regions of counties known to have failed: counted in the total row's ``counties_missing``.

    Returns
    -------
    Columns :data:`LABEL_COLUMNS`, then the figures of ``what``; ``attrs``: ``other_rows`` (county region →
    codes of its table's rows other than its own, e.g. "未归属", summed into its row) when any.
    """
    _check_what(what)
    found = [t for c in children if (t := tables.get(c.region)) is not None]
    columns = _columns_of(found, what)
    body = [_county_row(tables[c.region], c, what) for c in children if c.region in tables]
    others = {b["region"]: b.pop("_other_rows") for b in body}
    out = _finish(body, what, columns, {"region": "", "code": TOTAL_CODE, "name": TOTAL_NAME, "level": ""})
    lost = sorted(set(missing) | {c.region for c in children if c.region not in tables})
    out.loc[out.index[-1], "counties"] = len(body) + len(lost)
    out.loc[out.index[-1], "counties_missing"] = len(lost)
    out.attrs.update(what=what, other_rows={k: v for k, v in others.items() if v}, missing=lost)
    return out


def children_rollup(parent: str, tables: Mapping[str, pd.DataFrame], what: str, *,
                    root: str | Path | None = None) -> pd.DataFrame:
    """The table of parent region ``parent`` by its direct children, then its total row.

    A county child's row is its own (:func:`county_table`'s row); a city child's row is that city's total row,
    made by this function on the city (province → cities → counties, any depth), labelled with the city's code
    and name from the hierarchy. A county without a table in ``tables`` (county region → stored table) is
    counted in ``counties_missing`` of its rows; a child none of whose counties has a table is left out (and
    counted in the total's ``counties_missing``).
    """
    _check_what(what)
    hierarchy = load_hierarchy(parent, root=root)
    body: list[dict[str, object]] = []
    lost = 0
    frames: list[pd.DataFrame] = []
    for child in hierarchy.children:
        if child.level in PARENT_LEVELS:
            sub = children_rollup(child.region, tables, what, root=root)
            total = sub.iloc[-1].to_dict()
            if int(total["counties"]) == int(total["counties_missing"]):
                lost += int(total["counties"])
                continue
            frames.append(sub.iloc[:-1])
            body.append({**total, "region": child.region, "code": child.code, "name": child.name,
                         "level": child.level})
        elif child.region in tables:
            frames.append(tables[child.region])
            row = _county_row(tables[child.region], child, what)
            row.pop("_other_rows")
            body.append(row)
        else:
            lost += 1
    columns = _columns_of(frames, what)
    out = _finish(body, what, columns, {"region": hierarchy.name, "code": TOTAL_CODE, "name": TOTAL_NAME,
                                        "level": hierarchy.level})
    out.loc[out.index[-1], "counties"] = int(out["counties"].iloc[:-1].sum()) + lost
    out.loc[out.index[-1], "counties_missing"] = int(out["counties_missing"].iloc[:-1].sum()) + lost
    out.attrs.update(what=what, parent=hierarchy.name, title=hierarchy.title or hierarchy.name,
                     level=hierarchy.level)
    return out


def circle_attrs(table: pd.DataFrame, *, settings: Settings, minutes: float, mode: str) -> pd.DataFrame:
    """``table`` (a rolled-up service-circle table) with the ``attrs`` of :func:`planning.report.service_circle_table`
    that its row form and headers read: ``kinds`` (the kinds of its columns, in ``settings.facility_kinds``
    order, others after), ``profiles`` (the compared walking profiles, km/h; none by car), ``minutes``, ``mode``,
    ``population``."""
    profiles = compared_profiles(settings) if mode == "walk" else []
    groups = []
    for c in table.columns:
        if c.startswith("covered:"):
            rest = c.split(":", 1)[1]
            groups.append(rest.rsplit(":", 1)[0] if profiles else rest)
    present = [g for g in dict.fromkeys(groups) if g != ANY]
    kinds = [k for k in settings.facility_kinds if k in present] + sorted(set(present) - set(settings.facility_kinds))
    table.attrs.update(kinds=kinds, profiles={p: walk_profile_speed(settings, p) for p in profiles}, minutes=minutes,
                       mode=mode, population=settings.coverage_population, by="district")
    return table


def public_table(table: pd.DataFrame) -> pd.DataFrame:
    """A roll-up without its working columns (``_all_ok``), for files and pages."""
    return table[[c for c in table.columns if not c.startswith("_")]]


# ---------------------------------------------------------------- the workbook


@dataclass(frozen=True, eq=False)
class RollupReport:
    """The official tables of a city or province, as :func:`data.report_files.write_report_workbook` reads them
    (:class:`data.report_files.ReportTables`).

    ``basic``/``circle``/``checks``: the parent's tables by direct child (a city's counties, a province's cities;
    :func:`children_rollup`), total row last; ``checks`` is None without a check batch. ``counties_basic``:
    for a province, the annex-2 rows of every county (an extra sheet).
    """

    parent: str
    level: str
    area: str
    basic: pd.DataFrame
    circle: pd.DataFrame
    checks_table: pd.DataFrame | None
    statistics_date: dt.date
    minutes: float
    mode: str
    settings: Settings
    notes: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...] = ()
    counties_basic: pd.DataFrame | None = None
    title: str = ANNEX_TITLE
    extra: tuple[tuple[str, pd.DataFrame, Mapping[str, str]], ...] = field(default=())

    @property
    def checks(self) -> pd.DataFrame:
        if self.checks_table is None:
            return pd.DataFrame({"note": ["未运行配置检查批量计算：eldermap batch 上级地区 check（同一出行方式）"]})
        return public_table(self.checks_table)

    @property
    def check_columns_zh(self) -> dict[str, str]:
        return {**ROLLUP_COLUMNS_ZH, **check_columns_zh(self.settings, self.mode), "note": "说明"}  # type: ignore[arg-type]

    @property
    def circle_rows(self) -> pd.DataFrame:
        return service_circle_rows(self.circle)

    @property
    def circle_rows_columns_zh(self) -> dict[str, str]:
        return service_circle_rows_columns_zh(self.circle, minutes=self.minutes, mode=self.mode)  # type: ignore[arg-type]

    @property
    def remarks(self) -> tuple[str, ...]:
        return annex_remarks(settings=self.settings, statistics_date=self.statistics_date)

    @property
    def extra_sheets(self) -> tuple[tuple[str, pd.DataFrame, Mapping[str, str]], ...]:
        return self.extra

    @property
    def statistics_date_zh(self) -> str:
        return date_zh(self.statistics_date)

    @property
    def fiscal_year(self) -> int:
        return self.statistics_date.year

    @property
    def mode_zh(self) -> str:
        return mode_zh(self.mode)

    @property
    def coverage_formula(self) -> str:
        return coverage_formula(self.settings)


def table_headers_zh(what: str, table: pd.DataFrame, *, settings: Settings, minutes: float | None = None,
                     mode: str = "walk") -> dict[str, str]:
    """Chinese headers (with units) of a roll-up of ``what`` (for a CSV or workbook sheet of it, or a page):
    :data:`ROLLUP_COLUMNS_ZH`, then annex 2's column headers (``basic``), the service circle's (``circle``, of
    ``minutes`` and ``mode``) or the checks' (``checks``)."""
    _check_what(what)
    if what == "basic":
        from data.report_files import ANNEX_COLUMNS

        plain = [header.replace("{year}", "") for _, header, *_ in ANNEX_COLUMNS[1:]]
        # a header the annex repeats under two groups (床位数 of institutions and of community facilities) is
        # named with its group: one table, unique headers
        figures = {key: (groups[-1] + text if plain.count(text) > 1 else text)
                   for (key, _, groups, *_), text in zip(ANNEX_COLUMNS[1:], plain, strict=True)}
        figures.update({"communities_with_facility": "拥有社区养老设施的社区数(个)", "registered_population": "户籍人口(人)",
                        "elders": "老年人口(人)", "oldest_old": "高龄老年人(人)", "disabled": "失能(伤残)老年人(人)"})
    elif what == "circle":
        from planning.report import service_circle_columns_zh

        figures = service_circle_columns_zh(table, minutes=float(minutes or 0), mode=mode)  # type: ignore[arg-type]
    else:
        figures = check_columns_zh(settings, mode)  # type: ignore[arg-type]
    return {**ROLLUP_COLUMNS_ZH, **{k: v for k, v in figures.items() if k not in ("code", "name")}}


def batch_table_zh(kind: str, params: Mapping[str, Any], table: pd.DataFrame, *, settings: Settings) -> pd.DataFrame:
    """A batch's rolled-up table (:attr:`batch.runner.BatchResult.table` or ``children_table``) with Chinese headers:
    coverage the coverage table's, report annex 2's, check the checks' (the command line's files and the page)."""
    county = {"child_code": "区县代码", "child_name": "区县名称"}  # the county of a county table's district row
    if kind == "coverage":
        from geo.labels import COVERAGE_COLUMNS_ZH

        return table.rename(columns={**ROLLUP_COLUMNS_ZH, **county, **COVERAGE_COLUMNS_ZH})
    what = "basic" if kind == "report" else "checks"
    return table.rename(columns={**county, **table_headers_zh(what, table, settings=settings,
                                                              minutes=params.get("minutes"),
                                                              mode=params.get("mode", "walk"))})


def rollup_report(parent: str, basic: pd.DataFrame, circle: pd.DataFrame, *, settings: Settings,
                  statistics_date: dt.date, minutes: float, mode: str, root: str | Path | None = None,
                  checks: pd.DataFrame | None = None, counties_basic: pd.DataFrame | None = None,
                  failed: Sequence[tuple[str, str]] = ()) -> RollupReport:
    """The parent's report from its rolled-up tables (those of a ``report`` batch, and of a ``check`` batch when
    given): the notes say the parent, the level, how rows are summed and the rates recomputed, the statistics
    date, sources and synthetic layers (from the parent's manifest); ``failed`` (region, reason in Chinese) are
    warned about on top of the sheet (their figures are not in the table)."""
    hierarchy = load_hierarchy(parent, root=root)
    manifest = store.load_region(parent, root=root).manifest
    area = hierarchy.title or hierarchy.name
    level_zh = {"city": "市", "province": "省"}.get(hierarchy.level, hierarchy.level)
    rows_zh = "区县" if hierarchy.level == "city" else "下属市（直属区县各占一行）"
    notes: list[tuple[str, str]] = [
        ("申报地区", area),
        ("上级地区", f"{hierarchy.name}（{level_zh}级，{len(hierarchy.children)} 个下属地区，版本 {hierarchy.version}）"),
        ("统计日期", f"{date_zh(statistics_date)}（年龄按该日计算；财政收入栏为 {statistics_date.year} 年度）"),
        ("汇总方法", f"每个{rows_zh}一行：该地区各区县按同一设置分别计算的基本情况表的合计行（其区县行之和）；"
                 "最后一行“合计”为全部地区。各数量为下级之和，覆盖率、服务圈覆盖占比等比率由合计数重新计算，"
                 "不是下级比率的平均。"),
        ("覆盖率（备注6）", coverage_formula(settings) + "。"),
        ("周边设施", "各区县的设施数、床位数和社区是否有设施只计本区县的设施；服务圈覆盖和配置检查的覆盖率还计入区县边界外"
                 "出行时间内可达的周边设施（老人可跨界接受服务）。"),
        ("服务圈覆盖", f"{mode_zh(mode)} {minutes:g} 分钟内可达设施的老年人占比，按各区县计算后汇总；"
                  f"计入{settings.coverage_population}老年人。"),
    ]
    if checks is not None:
        notes.append(("配置检查", "每个区县一行为该区县是否达标；汇总行中“达标”各栏为达标的区县数；汇总行的床位比例和"
                              "分级覆盖占比由各区县的床位数、老年人数和分级覆盖人数合计后重新计算（不是各区县比例的平均）。"))
    others = (counties_basic.attrs.get("other_rows") if counties_basic is not None else None) \
        or basic.attrs.get("other_rows") or {}
    if others:
        notes.append(("区县内其他行", "；".join(f"{r}：{'、'.join(v)}" for r, v in others.items())
                      + "（已计入该区县一行）"))
    split = manifest.get("partition") if isinstance(manifest.get("partition"), dict) else {}
    outside = {str(k): int(v) for k, v in (split.get("unassigned_elders") or {}).items()}
    if outside:
        notes.append(("未分到区县的老年人", f"拆分为区县时 {sum(outside.values())} 名老年人未分到任何区县，不在本表中："
                      + "；".join(f"{why}（{n}）" for why, n in outside.items())))
    notes += [("数据来源", source_text_zh(s)) for s in manifest_sources(manifest)]
    fake = [LAYER_ZH.get(k, k) for k in synthetic_layers(manifest)[1]]
    warnings: list[str] = []
    if fake:
        notes.append(("合成数据", f"{'、'.join(fake)}为演示用合成数据，不是真实统计数据，不得用于正式申报。"))
        warnings.append(f"注意：{'、'.join(fake)}为演示用合成数据，不是真实统计数据，不得用于正式申报。")
    if failed:
        warnings.append(f"警告：{len(failed)} 个区县未计入本表（计算失败）：" + "；".join(f"{r}（{why}）" for r, why in failed))
    extra: list[tuple[str, pd.DataFrame, Mapping[str, str]]] = []
    if counties_basic is not None and hierarchy.level != "city":
        extra.append(("各区县基本情况", public_table(counties_basic),
                      table_headers_zh("basic", counties_basic, settings=settings)))
    return RollupReport(parent=parent, level=hierarchy.level, area=area, basic=basic, circle=circle,
                        checks_table=checks, statistics_date=statistics_date, minutes=minutes, mode=mode,
                        settings=settings, notes=tuple(notes), warnings=tuple(warnings),
                        counties_basic=counties_basic, extra=tuple(extra))


def write_rollup_workbook(report: RollupReport, path: str | Path) -> Path:
    """Write the parent's annex-2 workbook atomically (:func:`data.report_files.write_report_workbook`: the
    annex layout with one row per county or city and the total row, the service circle, the checks, extra
    sheets, the 说明 notes; every text cell neutralised, no formula). Returns the path."""
    return write_report_workbook(report, path)


__all__ = ["BASIC_COUNTS", "CHECK_COUNTS", "LABEL_COLUMNS", "ROLLUP_COLUMNS_ZH", "TABLES", "RollupError",
           "RollupReport", "children_rollup", "circle_attrs", "table_headers_zh", "combine", "county_table", "public_table", "rollup_report",
           "write_rollup_workbook"]
