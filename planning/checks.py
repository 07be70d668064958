"""Provisioning checks per district or street: beds, nursing-bed share and life-circle tiers against targets.

:func:`provisioning_checks` is the function behind ``eldermap check REGION``. For every area at one
level (district or street) it compares

- elder-care beds per 100 elders (beds of all facilities located in the area, by the facility's own
  ``district_code``/``street_code``) with ``settings.target_beds_per_100_elders``;
- nursing-type beds as a share of the beds of institutions (the kinds of ``settings.institution_kinds``,
  养老机构 by default) with ``settings.target_nursing_share_pct``;
- for each (kind, minutes) of ``settings.tier_minutes``, the share of the area's elders within
  ``minutes`` of the nearest facility of that kind (:func:`planning.coverage.region_coverage`) with
  ``settings.target_tier_share_pct``;

and writes every failed check, with its figures, into a Chinese ``flags`` text. Checks compare the
rounded figures shown in the table, so a flag never reads "80.0%，低于目标 80%". Elders are those of
``settings.coverage_population`` (常住 by default, as the coverage they are checked with:
:func:`planning.coverage.in_population`); ``attrs["left_out"]`` says how many others were not counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from data.store import Region
from geo.areas import (
    CODE_LENGTH,
    LEVEL_COLUMN,
    area_codes,
    area_key,
    area_list,
    area_names,
    is_area_row,
    ratio,
    sums_over,
)
from geo.errors import PlanningInputError
from geo.labels import CHECK_FIXED_COLUMNS_ZH, REPORT_LEVEL_ZH, TOTAL_CODE, UNASSIGNED, mode_zh
from geo.settings import Settings
from planning.coverage import in_population, region_coverage
from planning.network import Mode

log = logging.getLogger(__name__)

CheckLevel = Literal["district", "street"]
ALL_OK = "全部达标"
NO_ELDERS = "无老人数据"


def tier_columns(kind: str) -> tuple[str, str]:
    """Names of the share and the pass/fail column of one facility kind's tier check."""
    return f"tier:{kind}", f"tier_ok:{kind}"


def check_columns_zh(settings: Settings, mode: Mode = "walk") -> dict[str, str]:
    """Chinese header (with units) of every column :func:`provisioning_checks` returns for these settings.

    Parameters
    ----------
    settings
        The settings the table was computed with (its ``tier_minutes`` give the tier columns).
    mode
        Travel mode of the tier columns ("walk" or "drive").

    Returns
    -------
    Column name → Chinese header, in the table's column order (``flags`` last).
    """
    out = dict(CHECK_FIXED_COLUMNS_ZH)
    travel = mode_zh(mode)
    for kind, minutes in settings.tier_minutes:
        share, ok = tier_columns(kind)
        out[share] = f"{travel}{minutes:g}分钟内{kind}覆盖老人占比（%）"
        out[ok] = f"{kind}{travel}{minutes:g}分钟覆盖达标"
    out["target_tier_share_pct"] = "覆盖占比目标（%）"
    out["flags"] = "未达标项"
    return out


CHECK_COLUMNS_ZH: dict[str, str] = check_columns_zh(Settings())
"""Chinese headers for the default settings on foot; use :func:`check_columns_zh` for other tiers or modes."""


def provisioning_checks(
    region: Region,
    *,
    settings: Settings,
    by: CheckLevel = "district",
    mode: Mode = "walk",
) -> pd.DataFrame:
    """Beds, nursing-bed share and life-circle tier coverage of every area, checked against the targets.

    Parameters
    ----------
    region
        A loaded region (facilities, elders, areas and roads).
    settings
        Targets (``target_beds_per_100_elders``, ``target_nursing_share_pct``, ``tier_minutes``,
        ``target_tier_share_pct``) and the travel parameters of the tier coverage.
    by
        "district" or "street": the level of the areas checked.
    mode
        "walk" or "drive": how elders reach the facilities of the tier checks.

    Returns
    -------
    One row per area at level ``by`` (areas of that level in ``region.areas``, and any code found on
    elders or facilities; those without a code are grouped under "未归属"), then the total row (code
    "合计", name "全部地区"). Columns, in the order of :func:`check_columns_zh`:

    ``code``, ``name``, ``elders``;
    ``beds_total`` (beds of all facilities in the area), ``beds_per_100`` (per 100 elders, 2 decimals),
    ``target_beds_per_100``, ``beds_ok``;
    ``institution_beds``, ``nursing_beds`` (beds of the ``settings.institution_kinds`` facilities and their
    nursing-type beds),
    ``nursing_share_pct`` (1 decimal), ``target_nursing_share_pct``, ``nursing_ok``;
    per tier kind k: ``tier:k`` (% of the area's elders within the tier minutes of a facility of kind
    k, 1 decimal; 0 when the region has no such facility) and ``tier_ok:k``;
    ``target_tier_share_pct``; ``flags`` (the failed checks with their figures, or "全部达标").

    Ratios without a denominator are NaN and their check does not fail: an area without elders is
    flagged "无老人数据" (its beds and tier checks pass), an area without institution beds has no
    nursing-bed share to check (noted in ``flags``).
    """
    if by not in REPORT_LEVEL_ZH:
        raise PlanningInputError(f"检查层级应为 district（区县）或 street（街道），收到 {by!r}",
                                 f"check level must be 'district' or 'street', got {by!r}")
    column = LEVEL_COLUMN[by]
    elders, facilities = region.elders, region.facilities
    if column not in elders and len(elders):
        log.warning("elders have no %s column: all %d are counted under %s", column, len(elders), UNASSIGNED)
    counted = in_population(elders, settings.coverage_population)
    elder_code = area_key(elders, by)[counted]
    if column not in facilities and len(facilities):
        log.warning("facilities have no %s column: their beds are counted under %s", column, UNASSIGNED)
    facility_code = area_codes(facilities, column)

    codes = area_list(region.areas, by, elder_code, facility_code)
    n = len(codes)

    beds = _numeric(facilities, "beds_total")
    nursing = _numeric(facilities, "beds_nursing")
    kinds = facilities["kind"].astype(object).to_numpy() if "kind" in facilities else np.full(len(facilities), None)
    institution = np.isin(kinds, list(settings.institution_kinds))
    missing_nursing = institution & (beds > 0) & ~np.isfinite(nursing)
    if missing_nursing.any():
        log.info("%d institutions with beds but no beds_nursing: counted as 0 nursing beds", int(missing_nursing.sum()))

    all_codes = [*codes, TOTAL_CODE]
    table = pd.DataFrame({"code": all_codes, "name": area_names(all_codes, region.areas, unassigned=UNASSIGNED)})
    elder_count = sums_over(codes, elder_code, np.ones(len(elder_code))).round().astype(np.int64)
    table["elders"] = elder_count
    table["beds_total"] = sums_over(codes, facility_code, np.nan_to_num(beds)).round().astype(np.int64)
    table["institution_beds"] = sums_over(codes, facility_code, np.where(institution, np.nan_to_num(beds), 0.0)).round().astype(np.int64)
    table["nursing_beds"] = sums_over(codes, facility_code, np.where(institution, np.nan_to_num(nursing), 0.0)).round().astype(np.int64)

    present = set(kinds[pd.notna(kinds)])
    for kind, minutes in settings.tier_minutes:
        if kind in present and len(elders):
            coverage, _ = region_coverage(region, settings=settings, minutes=minutes, mode=mode, kind=kind, by=by)
            covered = coverage.set_index("code")["covered"]
            counts = covered.reindex(all_codes).fillna(0).to_numpy(dtype="float64")  # its total row is last
        else:
            if len(elders):
                log.info("no facility of kind %s in region %s: its tier coverage is 0", kind, region.name)
            counts = np.zeros(n + 1)
        table[tier_covered_column(kind)] = counts.round().astype(np.int64)
    table = checks_from_counts(table, settings=settings, mode=mode, present=present, keep_counts=True)
    table.attrs.update(by=by, population=settings.coverage_population, left_out=int((~counted).sum()))
    log.info("provisioning checks of %s by %s: %d areas, %d not meeting every target", region.name, by, n,
             int((table["flags"].iloc[:-1] != ALL_OK).sum()))
    counts = {kind: table[tier_covered_column(kind)].tolist() for kind, _ in settings.tier_minutes}
    table = table[list(check_columns_zh(settings, mode))]
    table.attrs.update(tier_covered=counts, present=sorted(map(str, present)))
    return table


def tier_covered_column(kind: str) -> str:
    """Name of the column of elders within the tier minutes of a facility of ``kind`` (the count behind ``tier:k``;
    not a column of :func:`provisioning_checks`' table, whose ``attrs["tier_covered"]`` holds it per kind)."""
    return f"_tier_covered:{kind}"


def checks_from_counts(counts: pd.DataFrame, *, settings: Settings, mode: Mode, present: Iterable[str],
                       keep_counts: bool = False) -> pd.DataFrame:
    """A check table from its counts: ``code``, ``name``, ``elders``, ``beds_total``, ``institution_beds``,
    ``nursing_beds`` and, per tier kind k, :func:`tier_covered_column` (elders within the tier minutes) — every
    ratio, target, pass/fail and ``flags`` computed as :func:`provisioning_checks` does. ``present``: the facility
    kinds the region has (a tier failed for want of any such facility says so). Used by
    :func:`provisioning_checks` and to combine the checks of parts of a region's elders. Returns the columns of
    :func:`check_columns_zh` (and the tier counts too with ``keep_counts``)."""
    present = set(present)
    table = counts.copy()
    table["beds_per_100"] = ratio(table["beds_total"], table["elders"], 100.0).round(2)
    table["target_beds_per_100"] = float(settings.target_beds_per_100_elders)
    table["beds_ok"] = _passes(table["beds_per_100"], settings.target_beds_per_100_elders)
    table["nursing_share_pct"] = ratio(table["nursing_beds"], table["institution_beds"], 100.0).round(1)
    table["target_nursing_share_pct"] = float(settings.target_nursing_share_pct)
    table["nursing_ok"] = _passes(table["nursing_share_pct"], settings.target_nursing_share_pct)
    for kind, _ in settings.tier_minutes:
        share, ok = tier_columns(kind)
        table[share] = ratio(table[tier_covered_column(kind)], table["elders"], 100.0).round(1)
        table[ok] = _passes(table[share], settings.target_tier_share_pct)
    table["target_tier_share_pct"] = float(settings.target_tier_share_pct)
    table["flags"] = [_flags(row, settings=settings, mode=mode, present=present) for _, row in table.iterrows()]
    columns = list(check_columns_zh(settings, mode))
    if keep_counts:
        columns += [tier_covered_column(kind) for kind, _ in settings.tier_minutes]
    return table[columns]


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64 (NaN where missing or not a number; all NaN without the column)."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").astype("float64").to_numpy()


def _passes(value: pd.Series, target: float) -> pd.Series:
    """True where ``value`` reaches ``target`` or cannot be checked (NaN)."""
    return (value.isna() | (value >= target)).astype(bool)


def _decimal(value: float) -> str:
    """A figure with up to 2 decimals and at least one: 2.1, 3.33, 4.0."""
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _flags(row: pd.Series, *, settings: Settings, mode: Mode, present: set) -> str:
    """The failed checks of one row, with figures, in Chinese; "全部达标" when none failed."""
    parts: list[str] = []
    if row["elders"] == 0:
        parts.append(NO_ELDERS)
    elif not row["beds_ok"]:
        parts.append(f"每百名老人床位 {_decimal(row['beds_per_100'])} 张，"
                     f"低于目标 {_decimal(settings.target_beds_per_100_elders)}")
    if row["institution_beds"] == 0:
        if row["elders"] > 0:
            parts.append("无养老机构床位，未检查护理型床位占比")
    elif not row["nursing_ok"]:
        parts.append(f"护理型床位占比 {row['nursing_share_pct']:.1f}%，"
                     f"低于目标 {settings.target_nursing_share_pct:g}%")
    travel = mode_zh(mode)
    for kind, minutes in settings.tier_minutes:
        share, ok = tier_columns(kind)
        if row["elders"] == 0 or row[ok]:
            continue
        missing = "" if kind in present else f"地区内无{kind}，"
        parts.append(f"{missing}{kind}{travel} {minutes:g} 分钟覆盖 {row[share]:.1f}%，"
                     f"低于目标 {settings.target_tier_share_pct:g}%")
    return "；".join(parts) if parts else ALL_OK


def _failed(table: pd.DataFrame) -> pd.Series:
    """True for rows failing at least one check."""
    ok = [c for c in table.columns if c in ("beds_ok", "nursing_ok") or c.startswith("tier_ok:")]
    return ~table[ok].all(axis=1)


def checks_summary(table: pd.DataFrame) -> str:
    """One Chinese line summing up a :func:`provisioning_checks` table.

    For example "3 个区县中 2 个未全部达标：乙区、丙区". The level is read from ``table.attrs["by"]``
    (set by :func:`provisioning_checks`), else guessed from the code length. The "未归属" row and the
    total row are not counted as areas; areas without elders are named separately.
    """
    areas = table[is_area_row(table["code"])]
    by = table.attrs.get("by")
    if by not in REPORT_LEVEL_ZH and len(areas):
        by = {v: k for k, v in CODE_LENGTH.items()}.get(int(areas["code"].astype(str).str.len().median()))
    level = REPORT_LEVEL_ZH.get(by, "地区")
    failed = areas[_failed(areas)]
    label = [name or code for code, name in zip(failed["code"], failed["name"], strict=True)]
    if len(failed):
        text = f"{len(areas)} 个{level}中 {len(failed)} 个未全部达标：{'、'.join(label)}"
    else:
        text = f"{len(areas)} 个{level}全部达标"
    empty = int((areas["elders"] == 0).sum())
    if empty:
        text += f"；{empty} 个{level}{NO_ELDERS}"
    unassigned = table[table["code"] == UNASSIGNED]
    if len(unassigned) and unassigned["elders"].iloc[0] > 0:
        text += f"；另有 {int(unassigned['elders'].iloc[0])} 名老人未归属任何{level}"
    return text


__all__ = ["CHECK_COLUMNS_ZH", "check_columns_zh", "checks_from_counts", "checks_summary", "provisioning_checks",
           "tier_columns", "tier_covered_column"]
