"""Subsidy settlement (费用结算): what the government owes each provider for a month's subsidised services.

An order counts in month ``YYYY-MM`` when it is completed or followed up (已完成、已回访) and its ``completed_at``
(else ``followed_up_at``, else ``window_start``) falls in that month. Each of its service items with a subsidy
(``subsidy_yuan`` > 0) is subsidised once, under one eligible group:

- **the order names its group** (``subsidy_group``): that group when it is among the item's ``eligible_groups``,
  else 全体老年人 when the item subsidises every elder (the order's record is trusted: the desk checked the elder
  when taking the order); when neither, the elders layer decides as below (an order of several items names one
  group, which may fit only some of them);
- **it names none** (or its group does not fit the item): the elder (``elder_id`` = the elders layer's ``pid``) must be in the elders layer, and the
  group is the first of the item's ``eligible_groups`` the elder belongs to. An elder belongs to the groups of its
  ``groups`` tags (特困、低保…), to 失能 when its ability level is 轻度失能 to 完全失能 (ability code 1–4), to 高龄
  when aged ``settings.oldest_old_age`` or more at the end of the month (``age``, else ``birth_year`` and
  ``birth_month``, else the ``oldest_old`` flag), and to 全体老年人 always.

Per provider, item and group: ``orders`` (services) × ``subsidy_yuan`` = ``amount_yuan``; totals per provider and
overall. Items not subsidised are listed with the reason. :func:`write_settlement_workbook` writes it all, with a
说明 sheet stating these rules, in the style of the annex report (no formula: every text cell through
:func:`data.exports.neutralise_cell`; written atomically).
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.exports import xml_safe
from data.report_files import report_path, save_workbook
from data.store import Region
from desk import orders_db
from desk.errors import DeskError
from desk.orders_db import split_tags
from geo.settings import Settings
from planning.home_care import home_care_positions

ALL_ELDERS = "全体老年人"
DISABLED = "失能"
OLDEST_OLD = "高龄"
DISABLED_LEVELS: tuple[str, ...] = ("轻度失能", "中度失能", "重度失能", "完全失能")
DETAIL_COLUMNS: tuple[str, ...] = ("provider_id", "provider_name", "item_code", "item_name", "group", "orders",
                                   "subsidy_yuan", "amount_yuan")
DETAIL_COLUMNS_ZH: dict[str, str] = {"provider_id": "服务商编号", "provider_name": "服务商名称",
                                     "item_code": "项目编码", "item_name": "项目名称", "group": "补贴类别",
                                     "orders": "服务人次", "subsidy_yuan": "补贴标准(元/次)",
                                     "amount_yuan": "补贴金额(元)"}
TOTAL_COLUMNS: tuple[str, ...] = ("provider_id", "provider_name", "orders", "amount_yuan")
TOTAL_COLUMNS_ZH: dict[str, str] = {"provider_id": "服务商编号", "provider_name": "服务商名称",
                                    "orders": "补贴服务人次", "amount_yuan": "补贴金额(元)"}
LEFT_OUT_COLUMNS: tuple[str, ...] = ("order_id", "provider_id", "item_code", "reason")
LEFT_OUT_COLUMNS_ZH: dict[str, str] = {"order_id": "工单编号", "provider_id": "服务商编号", "item_code": "项目编码",
                                       "reason": "未计补贴原因"}
TOTAL_LABEL = "合计"
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


@dataclass(frozen=True)
class Settlement:
    """A month's subsidy settlement.

    Attributes
    ----------
    month
        "YYYY-MM".
    detail
        Per provider, item and group (:data:`DETAIL_COLUMNS`).
    totals
        Per provider, then a 合计 row (:data:`TOTAL_COLUMNS`).
    left_out
        Items of the month's orders not subsidised, with the reason (:data:`LEFT_OUT_COLUMNS`).
    notes
        (item, text) lines of the 说明 sheet: the rules applied, the month, counts.
    """

    month: str
    detail: pd.DataFrame
    totals: pd.DataFrame
    left_out: pd.DataFrame
    notes: list[tuple[str, str]] = field(default_factory=list)


def _month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    match = _MONTH.match(str(month).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise DeskError(f"结算月份“{month}”无效，应写作 2026-12", f"bad month {month!r}")
    year, mon = int(match.group(1)), int(match.group(2))
    start = dt.datetime(year, mon, 1)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1)
    return start, end


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def elder_groups(elders: pd.DataFrame, settings: Settings, *, on: dt.date) -> dict[str, set[str]]:
    """Each elder's subsidy groups (by ``pid``): its ``groups`` tags, 失能, 高龄 (age on ``on``) and 全体老年人."""
    out: dict[str, set[str]] = {}
    if elders is None or not len(elders) or "pid" not in elders:
        return out
    for row in elders.drop(columns=[c for c in ("geometry",) if c in elders]).to_dict("records"):
        groups = set(split_tags(row.get("groups"))) | {ALL_ELDERS}
        level, code = row.get("ability_level"), row.get("ability_code")
        if (not _missing(level) and str(level) in DISABLED_LEVELS) or (
                not _missing(code) and 1 <= float(code) <= 4):
            groups.add(DISABLED)
        age = row.get("age")
        if _missing(age) and not _missing(row.get("birth_year")):
            age = on.year - int(row["birth_year"])
            month = row.get("birth_month")
            if not _missing(month) and int(month) > on.month:
                age -= 1
        if (not _missing(age) and float(age) >= settings.oldest_old_age) or (
                _missing(age) and bool(row.get("oldest_old")) and not _missing(row.get("oldest_old"))):
            groups.add(OLDEST_OLD)
        out[str(row["pid"])] = groups
    return out


def _done_time(order: Mapping[str, object]) -> pd.Timestamp | None:
    for name in ("completed_at", "followed_up_at", "window_start"):
        value = order.get(name)
        if not _missing(value):
            return pd.Timestamp(value)
    return None


def settle_orders(orders: pd.DataFrame, items: pd.DataFrame, elders: pd.DataFrame, settings: Settings, month: str,
                  *, providers: pd.DataFrame | None = None) -> Settlement:
    """The settlement of ``month`` (this module's rules) from orders, the service list and the elders layer.

    ``providers`` (``id``, ``name``) name the providers in the tables; every provider of it gets a totals row.
    """
    start, end = _month_bounds(month)
    last_day = dt.date(start.year, start.month, calendar.monthrange(start.year, start.month)[1])
    groups_of = elder_groups(elders, settings, on=last_day)
    catalogue = {str(r["code"]): r for r in items.to_dict("records")} if len(items) and "code" in items else {}
    names = dict(zip(providers["id"].astype(str), providers["name"].astype(str), strict=True)) \
        if providers is not None and len(providers) and "name" in providers else {}
    counted: dict[tuple[str, str, str], int] = {}
    left_out: list[dict[str, str]] = []
    n_orders = 0
    for order in orders.to_dict("records") if len(orders) else []:
        if order.get("status") not in orders_db.DONE_STATES:
            continue
        when = _done_time(order)
        if when is None or not (start <= when < end):
            continue
        n_orders += 1
        oid, pid = str(order.get("id")), "" if _missing(order.get("provider_id")) else str(order["provider_id"])
        named = "" if _missing(order.get("subsidy_group")) else str(order["subsidy_group"]).strip()
        elder = "" if _missing(order.get("elder_id")) else str(order["elder_id"])
        for code in split_tags(order.get("item_codes")):
            item = catalogue.get(code)
            reason, group = "", ""
            if item is None:
                reason = "项目不在服务清单中"
            elif _missing(item.get("subsidy_yuan")) or float(item["subsidy_yuan"]) <= 0:
                reason = "该项目没有政府补贴"
            else:
                eligible = split_tags(item.get("eligible_groups"))
                listed = "、".join(eligible) or "无"
                if named and named in eligible:
                    group = named
                elif named and ALL_ELDERS in eligible:
                    group = ALL_ELDERS
                elif elder not in groups_of:
                    reason = (f"工单的补贴类别“{named}”不在该项目的补贴对象（{listed}）中，老人编号也不在老年人图层中"
                              if named else "未填补贴类别，且老人编号不在老年人图层中，无法核实补贴资格")
                else:
                    group = next((g for g in eligible if g in groups_of[elder]), "")
                    if not group:
                        reason = (f"工单的补贴类别“{named}”和老人的类别都不在该项目的补贴对象（{listed}）中" if named
                                  else f"老人不属于该项目的补贴对象（{listed}）")
            if reason:
                left_out.append({"order_id": oid, "provider_id": pid, "item_code": code, "reason": reason})
            else:
                key = (pid, code, group)
                counted[key] = counted.get(key, 0) + 1
    rows = []
    for (pid, code, group), n in sorted(counted.items()):
        subsidy = float(catalogue[code]["subsidy_yuan"])
        rows.append({"provider_id": pid, "provider_name": names.get(pid, pid), "item_code": code,
                     "item_name": str(catalogue[code].get("name") or code), "group": group, "orders": n,
                     "subsidy_yuan": subsidy, "amount_yuan": round(n * subsidy, 2)})
    detail = pd.DataFrame(rows, columns=list(DETAIL_COLUMNS))
    per = detail.groupby("provider_id")[["orders", "amount_yuan"]].sum() if len(detail) else pd.DataFrame(
        columns=["orders", "amount_yuan"])
    ids = list(dict.fromkeys([*names, *per.index.astype(str)]))
    totals = pd.DataFrame([{"provider_id": p, "provider_name": names.get(p, p),
                            "orders": int(per["orders"].get(p, 0)) if p in per.index else 0,
                            "amount_yuan": round(float(per["amount_yuan"].get(p, 0.0)), 2) if p in per.index else 0.0}
                           for p in ids], columns=list(TOTAL_COLUMNS))
    totals = pd.concat([totals, pd.DataFrame([{"provider_id": TOTAL_LABEL, "provider_name": "",
                                               "orders": int(totals["orders"].sum()),
                                               "amount_yuan": round(float(totals["amount_yuan"].sum()), 2)}])],
                       ignore_index=True)
    notes = [
        ("结算月份", f"{start:%Y年%m月}（{start:%Y-%m-%d} 至 {last_day:%Y-%m-%d}）"),
        ("计入工单", "状态为已完成或已回访、完成时间（无则回访时间，再无则预约开始时间）在本月的工单；"
                     f"本月共 {n_orders} 单"),
        ("补贴资格（工单填了补贴类别）", "以工单登记的补贴类别为准：该类别在服务项目的补贴对象中即按该类别补贴；"
                                         "项目补贴全体老年人的，按“全体老年人”补贴；都不符合的，再按老年人图层核实（同下）"),
        ("补贴资格（工单未填补贴类别）", "按老年人图层核实：老人须在图层中；特殊群体取自“特殊群体”，能力等级为轻度至完全"
                                         f"失能的属“失能”，月末年满 {settings.oldest_old_age} 周岁的属“高龄”，所有老人属"
                                         "“全体老年人”；按服务项目所列补贴对象的先后取第一个符合的类别"),
        ("计算方法", "每个服务项目每单补贴一次：补贴金额 = 服务人次 × 补贴标准(元/次)；按服务商、项目、补贴类别汇总"),
        ("未计补贴", f"{len(left_out)} 项（见“未计补贴”表，含原因）"),
        ("生成时间", f"{orders_db.local_now(settings):%Y-%m-%d %H:%M}"),
    ]
    return Settlement(month=f"{start:%Y-%m}", detail=detail, totals=totals,
                      left_out=pd.DataFrame(left_out, columns=list(LEFT_OUT_COLUMNS)), notes=notes)


def settle(region: Region, settings: Settings, month: str, *, orders: pd.DataFrame | None = None,
           root: str | Path | None = None) -> Settlement:
    """:func:`settle_orders` for ``region``: its order log (of store ``root``, unless ``orders`` is given), its
    ``service_items`` and elders layers and its home-care providers."""
    if orders is None:
        orders = orders_db.current_orders(region.name, root=root, status=list(orders_db.DONE_STATES))
    items = region.layers.get("service_items") if hasattr(region.layers, "get") else None
    if items is None or not len(items):
        raise DeskError("本地区还没有服务清单（含补贴标准），无法结算", "no service_items layer")
    facilities = region.facilities
    providers = facilities.iloc[home_care_positions(facilities, settings)]
    return settle_orders(orders, items, region.elders, settings, month, providers=providers)


# ---------------------------------------------------------------- workbook


def _write_table(ws, title: str, frame: pd.DataFrame, headers: Mapping[str, str],
                 money: Sequence[str] = ("subsidy_yuan", "amount_yuan")) -> None:
    """Title line, bold bordered header, rows (numbers stay numbers), widths, frozen header."""
    from openpyxl.styles import Alignment, Border, Font, Side

    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    columns = list(frame.columns)
    n = max(1, len(columns))
    ws.cell(row=1, column=1, value=xml_safe(title)).font = Font(bold=True, size=16)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center", vertical="center")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=n)
    ws.row_dimensions[1].height = 28
    for j, column in enumerate(columns, start=1):
        cell = ws.cell(row=2, column=j, value=xml_safe(headers.get(column, column)))
        cell.font, cell.border = Font(bold=True), border
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[cell.column_letter].width = 40 if column == "reason" else max(
            10, min(24, len(headers.get(column, column)) * 1.8))
    for i, row in enumerate(frame.itertuples(index=False), start=3):
        for j, (column, value) in enumerate(zip(columns, row, strict=True), start=1):
            if isinstance(value, np.generic):
                value = value.item()
            if _missing(value):
                value = ""
            cell = ws.cell(row=i, column=j, value=xml_safe(value))
            cell.border = border
            if column in money:
                cell.number_format = "#,##0.00"
            if str(row[0]) == TOTAL_LABEL:
                cell.font = Font(bold=True)
    ws.freeze_panes = "A3"


def group_warnings_zh(items: pd.DataFrame | None, codes: Sequence[str], group: str | None) -> list[str]:
    """What the desk says when an order's subsidy group (``subsidy_group``) does not fit a subsidised item of it:
    the settlement will not take the group from the order for that item (it checks the elder's own groups
    instead; the rule in this module's docstring)."""
    if not group or items is None or not len(items) or "code" not in items.columns:
        return []
    out = []
    for item in items.to_dict("records"):
        if str(item.get("code")) not in codes or _missing(item.get("subsidy_yuan")) or float(item["subsidy_yuan"]) <= 0:
            continue
        eligible = split_tags(item.get("eligible_groups"))
        if group not in eligible and ALL_ELDERS not in eligible:
            out.append(f"“{item.get('name') or item.get('code')}”的补贴对象是{'、'.join(eligible) or '（未填）'}，"
                       f"不含“{group}”：结算时按老人登记的类别核实")
    return out


def nothing_subsidised_zh(settlement: Settlement) -> str | None:
    """Why a settlement holds no subsidised service (so an all-zero table is never left unexplained); None when
    it holds some."""
    if len(settlement.detail):
        return None
    month = f"{settlement.month[:4]}年{int(settlement.month[5:])}月"
    if len(settlement.left_out):
        return (f"{month}没有可计补贴的服务：该月已完成的服务中有 {len(settlement.left_out)} 项不符合补贴条件，"
                "原因见“未计补贴”")
    return f"{month}没有已完成或已回访的服务工单，补贴金额为 0"


def write_settlement_workbook(settlement: Settlement, path: str | Path, *, area: str = "") -> Path:
    """Write the settlement workbook atomically: "结算汇总" (per provider, 合计 last), "结算明细" (per provider,
    item and group), "未计补贴" (with reasons) and "说明" (the rules). No cell holds a formula."""
    from openpyxl import Workbook

    path = report_path(path)
    title = f"{area}{settlement.month[:4]}年{int(settlement.month[5:])}月居家养老服务补贴结算表"
    wb = Workbook()
    ws = wb.active
    ws.title = "结算汇总"
    _write_table(ws, title, settlement.totals, TOTAL_COLUMNS_ZH)
    _write_table(wb.create_sheet("结算明细"), title + "（明细）", settlement.detail, DETAIL_COLUMNS_ZH)
    _write_table(wb.create_sheet("未计补贴"), "未计补贴的服务项目", settlement.left_out, LEFT_OUT_COLUMNS_ZH)
    return save_workbook(wb, path, settlement.notes, item_width=24)


__all__ = [
    "group_warnings_zh",
    "nothing_subsidised_zh",
    "ALL_ELDERS",
    "DETAIL_COLUMNS",
    "DETAIL_COLUMNS_ZH",
    "LEFT_OUT_COLUMNS",
    "Settlement",
    "TOTAL_COLUMNS",
    "elder_groups",
    "settle",
    "settle_orders",
    "write_settlement_workbook",
]
