"""调度: the dispatcher's working screen of the 12349 desk (seed 004: 服务确认 → 企业派单 → 服务跟踪 → 服务评价 →
质量回访 → 费用结算).

A thin shell over :mod:`desk` and :func:`planning.routes.plan_routes`. One section at a time (a segmented
control, so only the open section runs):

- 接听来电 — find the elder (pseudonymous id, an address or place of the region's gazetteer, or a click on the
  map), pick service-list items, a time window, urgency and channel → :func:`desk.orders_db.create_order`;
- 待派单 — the queue (紧急 first; orders waiting longer than ``settings.desk_accept_timeout_min`` or past their
  window start flagged red with the minutes waited) → one order's ranked carers with the engine's reasons and
  those left out with why → 派单 (:func:`desk.orders_db.dispatch` with the state shown as ``expected``: a
  stale page or a carer taken meanwhile gets the engine's Chinese message, nothing is written);
- 进行中 — orders 已派单/已接单/服务中 with the next step (接单, 开始服务, 完成) and the side events (拒单,
  未上门, and 改派 for an order not accepted within the timeout: event 超时);
- 回访 — completed orders: satisfaction 1–5, complaint, remarks (plain text) → 已回访;
- 服务商评价 — :func:`desk.ratings.provider_ratings` with the counts; 末位 flagged;
- 补贴结算 — a month's :func:`desk.settlement.settle` and its workbook;
- 护理员路线 — a day's routes (:func:`planning.routes.plan_routes`) on a map per carer, the plan table,
  the orders left out with reasons, and the plan as a workbook.

Every change is written by the engine first and then audited (:func:`views.access.audit_action`, action
``dispatch``, detail "工单 X：A → B", the region version); every download is audited as ``export``. Changes
run in button callbacks, before the page is drawn again, so every section shows the order log as it is now.
Privacy: elders appear by pseudonym only (no names are stored); a position is never shown with more than 3
decimals, and route maps get their points rounded to 4 (about 10 m). Every text from the data reaches
Markdown through :func:`views.text.md_escape`; tables are plain-text ``st.dataframe``.

When the region's order log is empty and its imported ``orders`` layer has rows, the first visit loads them
(:func:`desk.orders_db.ingest_orders`, idempotent). The caller (``app.py``) has checked the role
(调度员 or admin) and shown the title.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from data import audit, store
from data.exports import XLSX_MIME, xlsx_bytes
from data.schema import ELIGIBLE_GROUPS
from data.store import Region
from desk import orders_db
from desk.dispatch import candidates, queue_of
from desk.orders_db import ACTIVE_STATES, CHANNELS, DONE_STATES, SIDE_EVENTS, URGENCIES, split_tags
from desk.ratings import RATING_COLUMNS_ZH, provider_ratings
from desk.settlement import (
    DETAIL_COLUMNS_ZH,
    LEFT_OUT_COLUMNS_ZH,
    TOTAL_COLUMNS_ZH,
    TOTAL_LABEL,
    Settlement,
    group_warnings_zh,
    nothing_subsidised_zh,
    settle,
    write_settlement_workbook,
)
from geo.errors import ElderMapError
from geo.settings import Settings, settings_digest
from layers import add_legend, map_lon_lat
from layers.desk import add_carer_routes, coarse_collection, route_colours, service_point_group
from planning.home_care import home_care_positions
from planning.routes import plan_frame, plan_geojson, route_problem, routes_frame, solve_problem, unassigned_frame
from planning.scenario import outside_region, region_extent, region_extent_zh
from views.access import audit_action, client_address
from views.context import region_map
from views.find import cached_gazetteer, query_problem_zh
from views.maps import show_map
from views.style import PLACEHOLDER_ZH
from views.text import md_escape, message_zh

SECTIONS: tuple[str, ...] = ("接听来电", "待派单", "进行中", "回访", "服务商评价", "补贴结算", "护理员路线")
FIND_WAYS: tuple[str, ...] = ("老人编号", "地址或地名", "地图点选")
NEAR_ELDER_M = 60.0
"""Elders registered within this many metres of a place found by address or map click are offered."""
NEAR_ELDER_LIMIT = 20
POINT_DECIMALS = 3
"""Decimals of a position shown as text (about 100 m): never an elder's exact point."""
MAP_DECIMALS = 4
"""Decimals of the points of a route map (about 10 m)."""
NO_ELDER_ZH = "（不指定老人）"
ALL_PROVIDERS_ZH = "全部服务商"
ALL_CARERS_ZH = "全部护理员"
LEGEND_MAX_CARERS = 8
"""A route map lists its carers' colours in a legend up to this many carers (more would cover the map)."""
SATISFACTION_ZH: dict[int, str] = {5: "5 非常满意", 4: "4 满意", 3: "3 一般", 2: "2 不满意", 1: "1 非常不满意"}
NEXT_STEPS: dict[str, tuple[tuple[str, str], ...]] = {
    "已派单": (("接单", "已接单"), ("拒单", "拒单")),
    "已接单": (("开始服务", "服务中"), ("未上门", "未上门")),
    "服务中": (("完成", "已完成"),),
}
"""Per state the buttons (label, action of :data:`desk.orders_db.MOVES`) of 进行中; 改派 (超时) is added for an
order not accepted within the timeout."""
REASSIGN_ZH = "改派（超时未接单）"
MESSAGE_KEY = "desk_message"
PREFER_KEY = "desk_prefer"
"""Session state: per order chooser (its widget key) the order to choose when it is next drawn."""
POINT_KEY = "desk_call_point"
ROUTE_KEY = "desk_route_result"
DEMO_BANNER_ZH = ("演示数据：本地区的服务商、护理员和服务工单是合成的演示数据（演示数据，非真实），"
                  "不代表任何真实机构或个人；老人只以假名编号出现。")
SELF_PAID = "自费（不享受补贴）"
"""The call form's 补贴类别 choice for an order without a subsidy group."""
QUEUE_COLUMNS = ("工单编号", "紧急程度", "预约时间", "已等待（分钟）", "提醒", "服务项目", "来源渠道", "老人编号")
ACTIVE_COLUMNS = ("工单编号", "状态", "提醒", "预约时间", "护理员", "服务商", "服务项目", "紧急程度", "派单时间")
"""Columns of the queue and of the orders in progress: what to act on first, details to the right."""
ALERT_STYLE = "background-color: #fde2e1; color: #8a1111; font-weight: bold"
"""Rows to look at now (overdue, 末位): dark red on light red (contrast above 7:1)."""


@dataclass(frozen=True)
class Desk:
    """What every section and callback needs: the region, the settings and who works the desk.

    ``root`` is the store as :mod:`data.store` knows it (a regions folder or a PostGIS URL); the order log
    and the audit log live there.
    """

    region: Region
    settings: Settings
    user: str = ""
    role: str | None = None
    root: Path | str | None = None

    @property
    def name(self) -> str:
        return self.region.name


# ---------------------------------------------------------------- helpers without streamlit calls


def layer_table(region: Region, name: str) -> pd.DataFrame:
    """A layer of the region as a table (empty when the region has none)."""
    layers = region.layers
    table = layers.get(name) if hasattr(layers, "get") else None
    return pd.DataFrame() if table is None else table


def item_names(items: pd.DataFrame) -> dict[str, str]:
    """Service-list code → name."""
    if items.empty or "code" not in items:
        return {}
    names = items["name"].astype(str) if "name" in items else items["code"].astype(str)
    return dict(zip(items["code"].astype(str), names, strict=True))


def items_text(codes: object, names: Mapping[str, str]) -> str:
    """An order's items by name ("助餐配送、居室清洁"); unknown codes as they are."""
    return "、".join(names.get(c, c) for c in split_tags(codes))


def _stamp(value: object) -> pd.Timestamp | None:
    if value is None or value is pd.NaT:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return None if pd.isna(stamp) else stamp


def time_zh(value: object, *, day: dt.date | None = None) -> str:
    """A time as "09:00", with "12月2日 " in front when it is not on ``day``; "" when missing."""
    stamp = _stamp(value)
    if stamp is None:
        return ""
    prefix = "" if day is not None and stamp.date() == day else f"{stamp.month}月{stamp.day}日 "
    return f"{prefix}{stamp:%H:%M}"


def window_zh(order: Mapping[str, Any]) -> str:
    """An order's window as "12月1日 09:00–10:00"."""
    return orders_db.window_span_zh(order.get("window_start"), order.get("window_end"))


def point_zh(lon: object, lat: object) -> str:
    """A position as text, at most :data:`POINT_DECIMALS` decimals (about 100 m); "" when missing."""
    try:
        x, y = float(lon), float(lat)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(x) and math.isfinite(y)):
        return ""
    return f"经度约 {x:.{POINT_DECIMALS}f}，纬度约 {y:.{POINT_DECIMALS}f}"


def minutes_between(earlier: object, later: dt.datetime) -> float | None:
    """Whole minutes from ``earlier`` to ``later`` (None when ``earlier`` is missing)."""
    stamp = _stamp(earlier)
    return None if stamp is None else max(0.0, (pd.Timestamp(later) - stamp).total_seconds() / 60.0)


def queue_table(waiting: pd.DataFrame, names: Mapping[str, str], now: dt.datetime,
                settings: Settings) -> pd.DataFrame:
    """The queue (rows of :func:`desk.dispatch.queue_of`) as shown, with ``_alert`` (bool): waiting longer
    than ``settings.desk_accept_timeout_min`` since the order was taken, or its window has started."""
    rows = []
    for order in waiting.to_dict("records"):
        waited = minutes_between(order.get("created_at"), now)
        started = _stamp(order.get("window_start"))
        alerts = []
        if waited is not None and waited > settings.desk_accept_timeout_min:
            alerts.append(f"等待超过 {settings.desk_accept_timeout_min:g} 分钟")
        if started is not None and started <= pd.Timestamp(now):
            alerts.append("预约时间已到")
        rows.append({"工单编号": order["id"], "紧急程度": order.get("urgency") or "", "预约时间": window_zh(order),
                     "服务项目": items_text(order.get("item_codes"), names), "来源渠道": order.get("channel") or "",
                     "老人编号": order.get("elder_id") or "",
                     "已等待（分钟）": None if waited is None else int(waited), "提醒": "；".join(alerts),
                     "_alert": bool(alerts)})
    return pd.DataFrame(rows, columns=[*QUEUE_COLUMNS, "_alert"])


def active_table(active: pd.DataFrame, late: pd.DataFrame, names: Mapping[str, str],
                 providers: Mapping[str, str], settings: Settings) -> pd.DataFrame:
    """Orders 已派单/已接单/服务中 as shown, with ``_alert`` for those not accepted within the timeout
    (``late``: :func:`desk.orders_db.overdue_orders`)."""
    waiting = dict(zip(late["id"].astype(str), late["waiting_min"], strict=True)) if len(late) else {}
    rows = []
    for order in active.to_dict("records"):
        oid = str(order["id"])
        alert = ""
        if oid in waiting:
            alert = (f"派单 {int(waiting[oid])} 分钟未接单（超过 {settings.desk_accept_timeout_min:g} 分钟），"
                     "可改派")
        provider = order.get("provider_id") or ""
        rows.append({"工单编号": oid, "状态": order["status"], "紧急程度": order.get("urgency") or "",
                     "预约时间": window_zh(order), "服务项目": items_text(order.get("item_codes"), names),
                     "服务商": providers.get(provider, provider), "护理员": order.get("carer_id") or "",
                     "派单时间": time_zh(order.get("dispatched_at")), "提醒": alert, "_alert": bool(alert)})
    return pd.DataFrame(rows, columns=[*ACTIVE_COLUMNS, "_alert"])


def change_detail(order_id: str, before: str, after: str, note: str = "") -> str:
    """The audit detail of a change: "工单 X：A → B（note）" (order id, states, provider and carer ids only)."""
    return f"工单 {order_id}：{before} → {after}" + (f"（{note}）" if note else "")


def elders_near(elders: gpd.GeoDataFrame, lon: float, lat: float, *, radius_m: float = NEAR_ELDER_M,
                limit: int = NEAR_ELDER_LIMIT) -> pd.DataFrame:
    """Elders (``pid``) registered within ``radius_m`` of (``lon``, ``lat``), nearest first: ``pid``,
    ``distance_m`` (a local flat-earth distance, fine at these ranges)."""
    if elders is None or elders.empty or "pid" not in elders:
        return pd.DataFrame(columns=["pid", "distance_m"])
    points = elders.geometry if elders.crs is None or elders.crs.to_epsg() == 4326 else elders.geometry.to_crs(4326)
    x, y = points.x.to_numpy(dtype=float), points.y.to_numpy(dtype=float)
    dx = (x - lon) * 111_320.0 * math.cos(math.radians(lat))
    dy = (y - lat) * 110_540.0
    distance = np.hypot(dx, dy)
    near = np.flatnonzero(distance <= radius_m)
    near = near[np.argsort(distance[near], kind="stable")][:limit]
    return pd.DataFrame({"pid": elders["pid"].astype(str).to_numpy()[near], "distance_m": distance[near]})


def elder_point(elders: gpd.GeoDataFrame, pid: str) -> tuple[float, float] | None:
    """WGS-84 (lon, lat) of the elder with pseudonym ``pid`` (None when not in the layer or without a point)."""
    if elders is None or elders.empty or "pid" not in elders:
        return None
    hit = elders[elders["pid"].astype(str) == pid]
    if hit.empty or hit.geometry.iloc[0] is None or hit.geometry.iloc[0].is_empty:
        return None
    point = hit.geometry.iloc[0] if hit.crs is None or hit.crs.to_epsg() == 4326 else hit.geometry.to_crs(4326).iloc[0]
    return float(point.x), float(point.y)


def elder_profile_zh(elders: gpd.GeoDataFrame, pid: str) -> str:
    """What the desk needs to know of an elder, without personal identifiers: ability level and groups."""
    hit = elders[elders["pid"].astype(str) == pid] if "pid" in elders else elders.iloc[0:0]
    if hit.empty:
        return ""
    row = hit.iloc[0]
    parts = []
    level = row.get("ability_level")
    if isinstance(level, str) and level:
        parts.append(f"能力等级：{level}")
    groups = split_tags(row.get("groups")) if "groups" in hit else []
    if groups:
        parts.append(f"特殊群体：{'、'.join(groups)}")
    if bool(row.get("oldest_old")) if "oldest_old" in hit and pd.notna(row.get("oldest_old")) else False:
        parts.append("高龄")
    return "；".join(parts)


def month_options(done: pd.DataFrame) -> list[str]:
    """Months ("YYYY-MM", newest first) of the completed orders (completed, else followed up, else window start)."""
    if done.empty:
        return []
    when = done["completed_at"].fillna(done["followed_up_at"]).fillna(done["window_start"])
    return sorted({f"{t.year:04d}-{t.month:02d}" for t in when.dropna()}, reverse=True)


def default_month(options: Sequence[str], now: dt.datetime) -> str:
    """Last month when it has completed orders (settlement is monthly, after the month), else the newest."""
    first = now.date().replace(day=1)
    last = first - dt.timedelta(days=1)
    wanted = f"{last.year:04d}-{last.month:02d}"
    return wanted if wanted in options else options[0]


def ratings_table(ratings: pd.DataFrame) -> pd.DataFrame:
    """Provider ratings as shown: Chinese headers, rounded rates, 末位 as words; ``_alert`` for 末位."""
    table = ratings.copy()
    table["score"] = table["score"].astype(float).round(2)
    table["satisfaction_mean"] = table["satisfaction_mean"].astype(float).round(2)
    table["on_time_rate"] = (table["on_time_rate"].astype(float) * 100).round(1)
    table["_alert"] = table["bottom"].astype(bool)
    table["bottom"] = np.where(table["_alert"], "末位（末位淘汰预警）", "")
    headers = {**RATING_COLUMNS_ZH, "on_time_rate": "准时率(%)"}
    columns = ["rank", "provider_id", "provider_name", "score", "satisfaction_mean", "followups", "on_time_rate",
               "on_time_base", "complaints", "complaint_base", "orders", "bottom", "_alert"]
    return table[columns].rename(columns=headers)


def settlement_bytes(settlement: Settlement, *, area: str = "") -> bytes:
    """The settlement workbook (:func:`desk.settlement.write_settlement_workbook`) as bytes, through a temporary file."""
    with tempfile.TemporaryDirectory(prefix="eldermap-settle-") as folder:
        path = write_settlement_workbook(settlement, Path(folder) / "settlement.xlsx", area=area)
        return Path(path).read_bytes()


def plan_workbook_bytes(plan: Any) -> bytes:
    """A route plan as a workbook: 路线计划 (per carer, in visiting order), 护理员汇总, 未安排工单 (no formula:
    :func:`data.exports.xlsx_bytes` neutralises every text cell)."""
    return xlsx_bytes(plan_frame(plan), sheet_name="路线计划",
                      extra_sheets={"护理员汇总": routes_frame(plan), "未安排工单": unassigned_frame(plan)})


def collection_bounds(collection: Mapping[str, Any], *, pad_deg: float = 0.003) -> tuple[float, float, float, float] | None:
    """(min_lon, min_lat, max_lon, max_lat) of a FeatureCollection's points and lines, padded."""
    xs: list[float] = []
    ys: list[float] = []
    for feature in collection.get("features", []):
        geometry = feature["geometry"]
        coords = [geometry["coordinates"]] if geometry["type"] == "Point" else geometry["coordinates"]
        xs += [float(c[0]) for c in coords]
        ys += [float(c[1]) for c in coords]
    if not xs:
        return None
    return (min(xs) - pad_deg, min(ys) - pad_deg, max(xs) + pad_deg, max(ys) + pad_deg)


def is_synthetic(region: Region) -> bool:
    """Whether the desk's data (providers, carers, orders) is synthesised: the manifest's flags or the layers'
    ``synthetic`` column."""
    flags = region.manifest.get("synthetic") or {}
    if any(bool(flags.get(name)) for name in ("carers", "orders", "service_items")):
        return True
    for name in ("carers", "orders"):
        table = layer_table(region, name)
        if len(table) and "synthetic" in table and bool(table["synthetic"].fillna(False).astype(bool).any()):
            return True
    return False


def _styled(table: pd.DataFrame) -> Any:
    """A table's rows flagged in ``_alert`` drawn in :data:`ALERT_STYLE` (the flag column itself not shown)."""
    flags = table["_alert"].to_numpy(dtype=bool)
    shown = table.drop(columns="_alert")
    return shown.style.apply(lambda row: [ALERT_STYLE if flags[row.name] else ""] * len(row), axis=1)


# ---------------------------------------------------------------- callbacks: the engine writes, then the audit


def _say(kind: str, text: str) -> None:
    st.session_state[MESSAGE_KEY] = (kind, text)


def _prefer(pick_key: str, order_id: str) -> None:
    """Choose ``order_id`` in the order chooser ``pick_key`` when that section is next drawn (a widget's own
    state cannot be set while it is not on the page)."""
    st.session_state.setdefault(PREFER_KEY, {})[pick_key] = order_id


def _audit(desk: Desk, detail: str) -> None:
    audit_action("dispatch", user=desk.user, role=desk.role, settings=desk.settings, root=desk.root,
                 region=desk.name, detail=detail, version=desk.region.version)


def _create_order(desk: Desk) -> None:
    """接听来电 → a new order 待派单 (the form's values from session state)."""
    state = st.session_state
    point = state.get(POINT_KEY)
    codes = [str(c) for c in state.get("desk_call_items") or []]
    problems = []
    if point is None:
        problems.append("请先查找老人或选定服务地址")
    if not codes:
        problems.append("请选择至少一项服务项目")
    day, start, end = state.get("desk_call_date"), state.get("desk_call_start"), state.get("desk_call_end")
    if not isinstance(day, dt.date) or not isinstance(start, dt.time) or not isinstance(end, dt.time):
        problems.append("请填写服务日期和预约的开始、结束时间")
    elif end <= start:
        problems.append(f"预约结束时间 {end:%H:%M} 应晚于开始时间 {start:%H:%M}")
    if problems:
        _say("error", "；".join(problems) + "。")
        return
    order = {"elder_id": point.get("elder_id") or None, "lon": point["lon"], "lat": point["lat"],
             "item_codes": codes, "window_start": dt.datetime.combine(day, start),
             "window_end": dt.datetime.combine(day, end), "urgency": state.get("desk_call_urgency") or "普通",
             "channel": state.get("desk_call_channel") or CHANNELS[0]}
    group = state.get("desk_call_group")
    order["subsidy_group"] = group if group in ELIGIBLE_GROUPS else None
    try:
        order_id = orders_db.create_order(desk.name, order, actor=desk.user, root=desk.root,
                                          items=layer_table(desk.region, "service_items"))
        created = orders_db.get_order(desk.name, order_id, root=desk.root)
    except ElderMapError as exc:
        _say("error", message_zh(exc))
        return
    _audit(desk, change_detail(order_id, "新建", "待派单"))
    urgent = "紧急，" if created["urgency"] == "紧急" else ""
    paid = f"补贴类别 {created['subsidy_group']}，" if created.get("subsidy_group") else "自费，"
    warnings = group_warnings_zh(layer_table(desk.region, "service_items"), codes, order["subsidy_group"])
    _say("success", f"已创建工单 {order_id}（{urgent}{paid}{window_zh(created)}），已进入待派单队列，请在下方为其派单。"
         + ("".join(f"注意：{w}。" for w in warnings)))
    state["desk_call_items"] = []
    state.pop(POINT_KEY, None)
    for key in ("desk_elder_query", "desk_place_query", "desk_near_pick"):
        state.pop(key, None)
    state["desk_section"] = "待派单"
    _prefer("desk_queue_pick", order_id)


def _dispatch(desk: Desk, order_id: str, shown: str, pick_key: str, choices: Mapping[str, tuple[str, str]]) -> None:
    """派单 to the carer chosen in ``pick_key`` (``choices``: carer id → provider id, provider name)."""
    carer = st.session_state.get(pick_key)
    if carer not in choices:
        _say("error", "请先选择护理员。")
        return
    provider, provider_name = choices[carer]
    try:
        orders_db.dispatch(desk.name, order_id, provider, carer, actor=desk.user, expected=shown, root=desk.root)
    except ElderMapError as exc:
        _say("error", message_zh(exc))
        return
    _audit(desk, change_detail(order_id, shown, "已派单", f"服务商 {provider}，护理员 {carer}"))
    _prefer("desk_active_pick", order_id)
    _say("success", f"工单 {order_id} 已派给 {provider_name} 的护理员 {carer}，等待接单（在“进行中”跟踪）。")


def _move(desk: Desk, order_id: str, shown: str, action: str) -> None:
    """One step of an order (an action of :data:`desk.orders_db.MOVES`) from the state shown on the page."""
    try:
        row = orders_db.transition(desk.name, order_id, action, actor=desk.user, expected=shown, root=desk.root)
    except ElderMapError as exc:
        _say("error", message_zh(exc))
        return
    after = row["status"]
    _audit(desk, change_detail(order_id, shown, after, action if action in SIDE_EVENTS else ""))
    if action in SIDE_EVENTS:
        what = {"超时": "超时未接单，已改派"}.get(action, f"已记录“{action}”")
        _say("warning", f"工单 {order_id} {what}：已退回待派单，请重新派单。")
        st.session_state["desk_section"] = "待派单"
        _prefer("desk_queue_pick", order_id)
    elif after == "已完成":
        _say("success", f"工单 {order_id} 已完成服务，请在“回访”中回访老人。")
        _prefer("desk_follow_pick", order_id)
    elif after == "已取消":
        _say("warning", f"工单 {order_id} 已取消。")
    else:
        _say("success", f"工单 {order_id}：{shown} → {after}。")


def _follow_up(desk: Desk, order_id: str) -> None:
    """回访: satisfaction, complaint and remarks from the form → 已回访."""
    state = st.session_state
    satisfaction = state.get(f"desk_follow_satisfaction::{order_id}")
    if satisfaction is None:
        _say("error", "请选择满意度（1–5）。")
        return
    complaint = bool(state.get(f"desk_follow_complaint::{order_id}"))
    remarks = str(state.get(f"desk_follow_remarks::{order_id}") or "").strip() or None
    try:
        orders_db.transition(desk.name, order_id, "已回访", actor=desk.user, expected="已完成", root=desk.root,
                             satisfaction=int(satisfaction), complaint=complaint, remarks=remarks)
    except ElderMapError as exc:
        _say("error", message_zh(exc))
        return
    note = f"满意度 {int(satisfaction)}" + ("，有投诉" if complaint else "")
    _audit(desk, change_detail(order_id, "已完成", "已回访", note))
    said = f"回访意见：{remarks}" if remarks else ""  # shown as text (md_escape), as everything from the data
    _say("success", f"工单 {order_id} 已回访（满意度 {int(satisfaction)}{'，已记录投诉' if complaint else ''}）。{said}")


def _record_download(desk: Desk, file_name: str, rows: int) -> None:
    """Audit one download of this page (the button's ``on_click``): file, region version, rows."""
    audit.record("export", user=desk.user or "unknown", role=desk.role or None, region=desk.name,
                 address=client_address(desk.settings), version=desk.region.version or None, rows=rows,
                 detail=f"调度下载 {file_name}", root=desk.root)


# ---------------------------------------------------------------- the order log


def _ingest_if_empty(desk: Desk, orders: pd.DataFrame) -> pd.DataFrame:
    """On the first visit to a region whose order log is empty, load its imported ``orders`` layer (once per
    session and region version); the order log as it then is."""
    imported = layer_table(desk.region, "orders")
    flag = f"desk_ingested::{desk.region.path}"
    if len(orders) or imported.empty or st.session_state.get(flag):
        return orders
    st.session_state[flag] = True
    try:
        added, _present = orders_db.ingest_orders(desk.name, imported, actor=desk.user or "system", root=desk.root,
                                                 items=layer_table(desk.region, "service_items"))
    except ElderMapError as exc:
        st.error("导入的服务工单未能载入工单库：" + md_escape(message_zh(exc), keep_lines=True))
        return orders
    if added:
        audit_action("dispatch", user=desk.user, role=desk.role, settings=desk.settings, root=desk.root,
                     region=desk.name, detail=f"载入本地区导入的服务工单 {added} 条", version=desk.region.version,
                     rows=added)
        st.success(f"已载入 {added} 条工单记录（来自本地区导入的服务工单数据）。")
    return _current_orders(desk.name, desk.root)


_ORDER_FRAMES: dict[tuple[str, str], tuple[int, pd.DataFrame]] = {}
"""(store, region) → (log version, the order log's current orders) as last read by this process."""


def _current_orders(region: str, root: str | Path | None) -> pd.DataFrame:
    """The region's current orders (:func:`desk.orders_db.current_orders`), read again only when the log has
    changed (:func:`desk.orders_db.log_version`: one count instead of the whole log on every rerun). The version is
    read before the orders, so a change made in between is read again next time, never missed."""
    version = orders_db.log_version(region, root=root)
    key = (store.database_url(root) or str(store.regions_root(root).resolve()), region)
    hit = _ORDER_FRAMES.get(key)
    if hit is None or hit[0] != version:
        hit = (version, orders_db.current_orders(region, root=root))
        _ORDER_FRAMES[key] = hit
    return hit[1].copy()


def _providers(desk: Desk) -> dict[str, str]:
    """Home-care provider id → name."""
    facilities = desk.region.facilities
    if facilities.empty:
        return {}
    providers = facilities.iloc[home_care_positions(facilities, desk.settings)]
    return dict(zip(providers["id"].astype(str), providers["name"].astype(str), strict=True))


def _order_lines(order: Mapping[str, Any], names: Mapping[str, str], providers: Mapping[str, str]) -> None:
    """One order's facts as escaped Markdown lines (the elder by pseudonym, the place at about 100 m)."""
    facts = [("工单", order["id"]), ("状态", order.get("status")), ("紧急程度", order.get("urgency")),
             ("预约时间", window_zh(order)), ("服务项目", items_text(order.get("item_codes"), names)),
             ("来源渠道", order.get("channel")), ("老人编号", order.get("elder_id") or "未指定"),
             ("服务地址", point_zh(order.get("lon"), order.get("lat")) or "（按老人登记住址）")]
    if order.get("carer_id"):
        provider = order.get("provider_id") or ""
        facts.append(("服务商 / 护理员", f"{providers.get(provider, provider)} / {order['carer_id']}"))
    if order.get("remarks"):
        facts.append(("备注", order["remarks"]))
    st.markdown("  \n".join(f"**{label}**：{md_escape(value)}" for label, value in facts if value))


def _history(desk: Desk, order_id: str) -> None:
    """The order's events, oldest first (who did what when)."""
    with st.expander("操作记录", expanded=False):
        try:
            events = orders_db.history(desk.name, order_id, root=desk.root)
        except ElderMapError as exc:
            st.error(md_escape(message_zh(exc), keep_lines=True))
            return
        table = pd.DataFrame({"时间": [time_zh(t) for t in events["at"]], "事件": events["event"],
                              "状态": events["state"], "操作人": events["actor"],
                              "服务商": events["provider_id"].fillna(""), "护理员": events["carer_id"].fillna(""),
                              "说明": events["note"].fillna("")})
        st.dataframe(table, hide_index=True, width="stretch")


def _pick(label: str, options: Sequence[str], key: str, labels: Mapping[str, str]) -> str:
    """A selectbox over ``options`` (ids) shown by ``labels``: the order preferred by a callback (:func:`_prefer`),
    else the kept choice when still offered, else the first. ``labels`` must not change from one run to the
    next while the option stays (the browser sends the label back; an unknown label falls back to the first)."""
    preferred = st.session_state.get(PREFER_KEY, {}).pop(key, None)
    if preferred in options:
        st.session_state[key] = preferred
    elif st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    return st.selectbox(label, list(options), key=key, format_func=lambda o: labels.get(o, o),
                        placeholder=PLACEHOLDER_ZH)


def _order_label(order: Mapping[str, Any], names: Mapping[str, str]) -> str:
    return f"{order['id']} · {order.get('urgency') or ''} · {window_zh(order)} · {items_text(order.get('item_codes'), names)}"


# ---------------------------------------------------------------- 接听来电


@st.cache_resource(show_spinner=False, max_entries=4)
def _call_base_map(path: str, settings_key: str, _region: Region, _settings: Settings) -> folium.Map | None:
    """The region's map (roads, community outlines), built once per region version and settings."""
    del path, settings_key  # the cache key
    return region_map(_region, _settings)


@st.cache_data(show_spinner=False, max_entries=8)
def _extent(path: str, _region: Region) -> tuple[float, float, float, float] | None:
    del path  # the cache key
    return region_extent(_region)


def _set_point(lon: float, lat: float, label: str, elder_id: str | None = None) -> None:
    st.session_state[POINT_KEY] = {"lon": float(lon), "lat": float(lat), "label": str(label), "elder_id": elder_id}


def _find_by_id(desk: Desk) -> None:
    elders = desk.region.elders
    query = st.text_input("老人编号（假名编号，可只输入开头几位）", key="desk_elder_query",
                          placeholder="例如：P1ebcb477", max_chars=64).strip()
    if not query:
        return
    pids = elders["pid"].astype(str) if "pid" in elders else pd.Series([], dtype=str)
    hits = pids[pids == query]
    if hits.empty and len(query) >= 4:
        hits = pids[pids.str.startswith(query)]
    if hits.empty:
        st.session_state.pop(POINT_KEY, None)
        st.warning(f"没有编号为“{md_escape(query)}”的老人（至少输入编号的前 4 位）。也可改用地址或地图点选。")
        return
    choices = list(hits.head(NEAR_ELDER_LIMIT))
    pid = choices[0] if len(choices) == 1 else st.selectbox("找到多位老人，请选择", choices, key="desk_elder_pick")
    point = elder_point(elders, pid)
    if point is None:
        st.session_state.pop(POINT_KEY, None)
        st.warning(f"老人 {md_escape(pid)} 没有登记住址坐标，请改用地址或地图点选服务地址。")
        return
    current = st.session_state.get(POINT_KEY) or {}
    if current.get("elder_id") != pid:
        _set_point(point[0], point[1], f"老人 {pid} 的登记住址", pid)


def _near_elder_choice(desk: Desk, lon: float, lat: float, label: str) -> None:
    """The place found (by address or click) and, when elders are registered near it, which one calls."""
    near = elders_near(desk.region.elders, lon, lat)
    options = [NO_ELDER_ZH, *near["pid"]]
    distance = dict(zip(near["pid"], near["distance_m"], strict=True))
    if st.session_state.get("desk_near_pick") not in options:
        st.session_state["desk_near_pick"] = NO_ELDER_ZH
    pid = st.selectbox(f"附近 {NEAR_ELDER_M:g} 米内登记的老人（{len(near)} 位）", options, key="desk_near_pick",
                       format_func=lambda p: p if p == NO_ELDER_ZH else f"{p}（约 {distance[p]:.0f} 米）")
    elder = None if pid == NO_ELDER_ZH else pid
    _set_point(lon, lat, label, elder)


def _find_by_place(desk: Desk) -> None:
    gazetteer = cached_gazetteer(desk.name, str(desk.region.path), str(desk.region.version), desk.region)
    query = st.text_input("地址或地名", key="desk_place_query", placeholder="例如：灯塔社区、海港路 12 号")
    if not query.strip():
        return
    problem = query_problem_zh(query, "地址或地名", example="灯塔社区、海港路 12 号")
    if problem:
        st.session_state.pop(POINT_KEY, None)
        st.warning(md_escape(problem))
        return
    places = {}
    for place in gazetteer.search(query, limit=10):
        places.setdefault(place.name, place)
    if not places:
        st.session_state.pop(POINT_KEY, None)
        st.warning(f"本地区没有找到“{md_escape(query)}”。请换个说法（社区名、路名加门牌号、设施名），或改用地图点选。")
        return
    name = st.selectbox("找到以下地点，请选择最符合的一项", list(places), key="desk_place_pick")
    place = places[name]
    _near_elder_choice(desk, place.lon, place.lat, place.name)


def _find_by_click(desk: Desk) -> None:
    base = _call_base_map(str(desk.region.path), settings_digest(desk.settings), desk.region, desk.settings)
    if base is None:
        return
    m = copy.deepcopy(base)
    extent = _extent(str(desk.region.path), desk.region)

    def take(clicked: Any) -> None:
        if not isinstance(clicked, dict) or clicked.get("lat") is None or clicked.get("lng") is None:
            return
        raw = (round(float(clicked["lng"]), 6), round(float(clicked["lat"]), 6))
        if raw == st.session_state.get("desk_last_click"):
            return
        st.session_state["desk_last_click"] = raw
        lon, lat = map_lon_lat(m, raw[1], raw[0])  # back from GCJ-02 tiles if any
        if extent is not None and outside_region(lon, lat, extent, margin_m=desk.settings.region_margin_m):
            st.session_state["desk_click_refused"] = (lon, lat)
            return
        st.session_state.pop("desk_click_refused", None)
        st.session_state["desk_clicked"] = (lon, lat)
        st.session_state.pop("desk_near_pick", None)

    st.caption("在地图上点一下服务地址（可先放大地图）。")
    take((st.session_state.get("desk_call_map") or {}).get("last_clicked"))
    clicked = st.session_state.get("desk_clicked")
    pin = service_point_group(m, None if clicked is None else {"lon": clicked[0], "lat": clicked[1],
                                                               "label": "地图上选定的位置"})
    show_map(m, key="desk_call_map", height_px=420, returned_objects=["last_clicked"], feature_group=pin)
    refused = st.session_state.get("desk_click_refused")
    if refused and extent is not None:
        st.warning(f"点选的位置（{point_zh(*refused)}）在本地区范围之外，未采用。本地区范围："
                   f"{region_extent_zh(extent, margin_m=desk.settings.region_margin_m)}。")
    if clicked is not None:
        _near_elder_choice(desk, clicked[0], clicked[1], "地图上选定的位置")


def _take_call(desk: Desk, now: dt.datetime) -> None:
    """接听来电: who and where, then what and when → 创建工单."""
    items = layer_table(desk.region, "service_items")
    if items.empty:
        st.info("本地区还没有服务清单（服务项目），无法受理工单。请先在“数据管理”页导入服务清单。")
        return
    st.subheader("第一步：查找老人或服务地址")
    way = st.radio("查找方式", FIND_WAYS, horizontal=True, key="desk_find_way")
    if way == FIND_WAYS[0]:
        _find_by_id(desk)
    elif way == FIND_WAYS[1]:
        _find_by_place(desk)
    else:
        _find_by_click(desk)
    point = st.session_state.get(POINT_KEY)
    if point is not None:
        elder = point.get("elder_id")
        lines = [f"**服务地址**：{md_escape(point['label'])}（{point_zh(point['lon'], point['lat'])}）",
                 f"**老人编号**：{md_escape(elder) if elder else '未指定'}"]
        profile = elder_profile_zh(desk.region.elders, elder) if elder else ""
        if profile:
            lines.append(f"**老人情况**：{md_escape(profile)}")
        st.success("  \n".join(lines))

    st.subheader("第二步：服务项目和预约时间")
    names = item_names(items)
    categories = dict(zip(items["code"].astype(str), items.get("category", pd.Series([""] * len(items))).astype(str),
                          strict=True))
    state = st.session_state
    state.setdefault("desk_call_date", now.date())
    start = (dt.datetime.combine(now.date(), dt.time(now.hour)) + dt.timedelta(hours=1)).time()
    state.setdefault("desk_call_start", start)
    state.setdefault("desk_call_end", (dt.datetime.combine(now.date(), start) + dt.timedelta(hours=1)).time())
    state.setdefault("desk_call_urgency", URGENCIES[0])
    state.setdefault("desk_call_channel", CHANNELS[0])
    state.setdefault("desk_call_group", SELF_PAID)
    with st.form("desk_call_form"):
        st.multiselect("服务项目（可多选）", list(names), key="desk_call_items", placeholder="请选择服务项目",
                       format_func=lambda c: f"{names[c]}（{categories.get(c, '')}，{c}）")
        c1, c2, c3 = st.columns(3)
        c1.date_input("服务日期", key="desk_call_date", format="YYYY-MM-DD")
        c2.time_input("预约开始", key="desk_call_start", step=dt.timedelta(minutes=15))
        c3.time_input("预约结束", key="desk_call_end", step=dt.timedelta(minutes=15))
        c1, c2, c3 = st.columns(3)
        c1.radio("紧急程度", URGENCIES, horizontal=True, key="desk_call_urgency",
                 help="选了“紧急救援”类服务项目的工单自动为紧急，排在队列最前")
        c2.selectbox("来源渠道", CHANNELS, key="desk_call_channel")
        c3.selectbox("补贴类别", [SELF_PAID, *ELIGIBLE_GROUPS], key="desk_call_group",
                     help="本单享受补贴所依据的群体（须在服务项目的补贴对象内，结算时才计补贴；否则按老人登记的类别核实）")
        st.form_submit_button("创建工单", type="primary", on_click=_create_order, args=(desk,))


# ---------------------------------------------------------------- 待派单


def _queue(desk: Desk, orders: pd.DataFrame, now: dt.datetime, names: Mapping[str, str],
           providers: Mapping[str, str]) -> None:
    waiting = queue_of(orders)
    if waiting.empty:
        st.success("没有待派单的工单。")
        return
    table = queue_table(waiting, names, now, desk.settings)
    flagged = int(table["_alert"].sum())
    st.markdown(f"**待派单 {len(table)} 张**（紧急在前，再按预约时间）" + (f"，其中 {flagged} 张需尽快处理（红色）"
                                                                   if flagged else ""))
    st.dataframe(_styled(table), hide_index=True, width="stretch")
    labels = {str(o["id"]): _order_label(o, names) for o in waiting.to_dict("records")}
    order_id = _pick("选择要派单的工单", list(labels), "desk_queue_pick", labels)
    order = waiting[waiting["id"].astype(str) == order_id].iloc[0].to_dict()
    _order_lines(order, names, providers)
    _history(desk, order_id)
    try:
        found = candidates(desk.region, order, desk.settings, now, orders=orders)
    except ElderMapError as exc:
        st.error(md_escape(message_zh(exc), keep_lines=True))
        return
    for note in found.notes:
        st.caption(md_escape(note))
    ranked = found.ranked
    st.markdown(f"**可派单的护理员（{len(ranked)} 名，按车程、评分和当日工作量排序）**")
    if len(ranked):
        shown = pd.DataFrame({"排名": ranked["rank"], "服务商": ranked["provider_name"], "护理员": ranked["carer_id"],
                              "车程（分钟）": ranked["drive_min"].astype(float).round(1),
                              "服务商评分": ranked["score"].astype(float).round(1), "回访数": ranked["followups"],
                              "今日已接": ranked["orders_today"], "出发地": ranked["origin"],
                              "理由": ranked["reason"]})
        st.dataframe(shown, hide_index=True, width="stretch")
    excluded = found.excluded
    if len(excluded):
        with st.expander(f"未入选的服务商和护理员（{len(excluded)}）及原因", expanded=not len(ranked)):
            st.dataframe(pd.DataFrame({"服务商": excluded["provider_name"],
                                       "护理员": excluded["carer_id"].replace("", "（整个服务商）"),
                                       "原因": excluded["reason"]}), hide_index=True, width="stretch")
    if not len(ranked):
        return
    # carer id → (provider id, provider name); the label must not change between runs (the browser sends the
    # label back: a label that changed, e.g. with a rank, would fall back to the first carer)
    choices = {str(r["carer_id"]): (str(r["provider_id"]), str(r["provider_name"])) for r in ranked.to_dict("records")}
    pick_key = f"desk_carer_pick::{order_id}"
    if st.session_state.get(pick_key) not in choices:
        st.session_state[pick_key] = next(iter(choices))  # the first-ranked carer
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.selectbox("派给", list(choices), key=pick_key, format_func=lambda c: f"护理员 {c}（{choices[c][1]}）")
    c2.button("派单", type="primary", key="desk_dispatch", on_click=_dispatch,
              args=(desk, order_id, str(order["status"]), pick_key, choices))
    with st.expander("取消工单", expanded=False):
        st.caption("老人或家属撤销需求时取消；取消后不可恢复。")
        st.button("确认取消该工单", key="desk_cancel_waiting", on_click=_move,
                  args=(desk, order_id, str(order["status"]), "已取消"))


# ---------------------------------------------------------------- 进行中


def _in_progress(desk: Desk, orders: pd.DataFrame, now: dt.datetime, names: Mapping[str, str],
                 providers: Mapping[str, str]) -> None:
    active = orders[orders["status"].isin(ACTIVE_STATES)].reset_index(drop=True)
    if active.empty:
        st.success("没有进行中的工单。")
        return
    late = orders_db.overdue_orders(active, now, settings=desk.settings)
    if len(late):
        st.error(f"{len(late)} 张工单派单后超过 {desk.settings.desk_accept_timeout_min:g} 分钟未接单"
                 f"（{md_escape('、'.join(late['id'].astype(str)[:10]))}{'等' if len(late) > 10 else ''}），"
                 "请联系服务商或改派。")
    table = active_table(active, late, names, providers, desk.settings)
    st.dataframe(_styled(table), hide_index=True, width="stretch")
    labels = {str(o["id"]): _order_label(o, names) for o in active.to_dict("records")}  # no state: it changes
    order_id = _pick("选择工单", list(labels), "desk_active_pick", labels)
    order = active[active["id"].astype(str) == order_id].iloc[0].to_dict()
    _order_lines(order, names, providers)
    shown = str(order["status"])
    steps = list(NEXT_STEPS.get(shown, ()))
    if order_id in set(late["id"].astype(str)):
        steps.append((REASSIGN_ZH, "超时"))
    columns = st.columns(max(1, len(steps)))
    for column, (label, action) in zip(columns, steps, strict=False):
        column.button(label, key=f"desk_step_{action}", type="primary" if action not in SIDE_EVENTS else "secondary",
                      on_click=_move, args=(desk, order_id, shown, action))
    _history(desk, order_id)
    if shown in ("已派单", "已接单"):
        with st.expander("取消工单", expanded=False):
            st.button("确认取消该工单", key="desk_cancel_active", on_click=_move, args=(desk, order_id, shown, "已取消"))


# ---------------------------------------------------------------- 回访


def _follow_ups(desk: Desk, orders: pd.DataFrame, names: Mapping[str, str], providers: Mapping[str, str]) -> None:
    done = orders[orders["status"] == "已完成"].sort_values(["completed_at", "id"], ascending=[False, True])
    if done.empty:
        st.success("没有待回访的工单。")
    else:
        labels = {str(o["id"]): f"{_order_label(o, names)} · 完成于 {time_zh(o.get('completed_at'))}"
                  for o in done.to_dict("records")}
        order_id = _pick(f"待回访的工单（{len(done)} 张，最近完成的在前）", list(labels), "desk_follow_pick", labels)
        order = done[done["id"].astype(str) == order_id].iloc[0].to_dict()
        _order_lines(order, names, providers)
        # the form's widgets are the order's own: another order starts blank
        with st.form(f"desk_follow_form::{order_id}"):
            st.radio("满意度", list(SATISFACTION_ZH), index=None, key=f"desk_follow_satisfaction::{order_id}",
                     horizontal=True,
                     format_func=lambda v: SATISFACTION_ZH[v])
            st.checkbox("有投诉", key=f"desk_follow_complaint::{order_id}")
            st.text_area("回访意见", key=f"desk_follow_remarks::{order_id}", max_chars=desk.settings.max_text_length,
                         placeholder="老人或家属对服务的评价、意见和建议")
            st.form_submit_button("提交回访", type="primary", on_click=_follow_up, args=(desk, order_id))
    recent = orders[orders["status"] == "已回访"].sort_values(["followed_up_at", "id"], ascending=[False, True]).head(20)
    if len(recent):
        st.markdown("**最近的回访**")
        st.dataframe(pd.DataFrame({
            "工单编号": recent["id"], "回访时间": [time_zh(t) for t in recent["followed_up_at"]],
            "服务商": [providers.get(p, p) for p in recent["provider_id"].fillna("")], "护理员": recent["carer_id"],
            "满意度": recent["satisfaction"], "投诉": np.where(recent["complaint"].fillna(False).astype(bool), "有", ""),
            "回访意见": recent["remarks"].fillna("")}), hide_index=True, width="stretch")


# ---------------------------------------------------------------- 服务商评价


def _ratings(desk: Desk) -> None:
    try:
        ratings = provider_ratings(desk.region, desk.settings, root=desk.root)
    except ElderMapError as exc:
        st.error(md_escape(message_zh(exc), keep_lines=True))
        return
    if ratings.empty:
        st.info("本地区没有居家上门服务商。")
        return
    s = desk.settings
    st.caption(f"综合评分 0–5 分：满意度、准时率、投诉率按 {s.desk_rating_weight_satisfaction:g} : "
               f"{s.desk_rating_weight_on_time:g} : {s.desk_rating_weight_complaints:g} 加权，单数少的服务商向全区平均"
               f"靠拢（先验 {s.desk_prior_orders:g} 单）。派单时评分高的服务商优先（每高 1 分相当于近 "
               f"{s.desk_rank_minutes_per_point:g} 分钟车程）。末位：派单满 {s.desk_bottom_min_orders} 单的服务商中"
               f"排名最后的 {s.desk_bottom_share:.0%}。")
    table = ratings_table(ratings)
    st.dataframe(_styled(table), hide_index=True, width="stretch")
    bottom = ratings[ratings["bottom"].astype(bool)]
    if len(bottom):
        st.warning("末位服务商（末位淘汰预警）：" + md_escape("、".join(bottom["provider_name"].astype(str))))


# ---------------------------------------------------------------- 补贴结算


def _settlement(desk: Desk, orders: pd.DataFrame, now: dt.datetime) -> None:
    done = orders[orders["status"].isin(DONE_STATES)]
    options = month_options(done)
    if not options:
        st.info("还没有已完成的服务工单，无法结算。")
        return
    if st.session_state.get("desk_settle_month") not in options:
        st.session_state["desk_settle_month"] = default_month(options, now)
    month = st.selectbox("结算月份", options, key="desk_settle_month", format_func=lambda m: f"{m[:4]}年{int(m[5:])}月")
    try:
        result = settle(desk.region, desk.settings, month, orders=done)
    except ElderMapError as exc:
        st.error(md_escape(message_zh(exc), keep_lines=True))
        return
    totals = result.totals
    why = nothing_subsidised_zh(result)
    if why:
        st.info(md_escape(why))
    total = totals[totals["provider_id"] == TOTAL_LABEL]
    if len(total):
        c1, c2, c3 = st.columns(3)
        c1.metric("补贴服务人次", int(total["orders"].iloc[0]))
        c2.metric("补贴金额（元）", f"{float(total['amount_yuan'].iloc[0]):,.2f}")
        c3.metric("未计补贴的项目", len(result.left_out))
    st.markdown("**各服务商结算汇总**")
    st.dataframe(totals.rename(columns=TOTAL_COLUMNS_ZH), hide_index=True, width="stretch")
    st.markdown("**结算明细（服务商、服务项目、补贴类别）**")
    st.dataframe(result.detail.rename(columns=DETAIL_COLUMNS_ZH), hide_index=True, width="stretch")
    with st.expander(f"未计补贴的服务项目（{len(result.left_out)}）及原因", expanded=False):
        st.dataframe(result.left_out.rename(columns=LEFT_OUT_COLUMNS_ZH), hide_index=True, width="stretch")
    with st.expander("结算规则说明", expanded=False):
        st.dataframe(pd.DataFrame(result.notes, columns=["项目", "内容"]), hide_index=True, width="stretch")
    file_name = f"补贴结算_{desk.name}_{month}.xlsx"
    st.download_button("下载结算表（Excel）", lambda: settlement_bytes(result), file_name, XLSX_MIME,
                       key="desk_settle_download", on_click=_record_download,
                       args=(desk, file_name, len(result.detail)))


# ---------------------------------------------------------------- 护理员路线


def _route_orders(orders: pd.DataFrame, day: dt.date, provider: str | None, waiting: bool) -> pd.DataFrame:
    """The day's orders to plan: dispatched, accepted or in service (and waiting ones when asked), of one
    provider when given (waiting ones have none yet and stay in)."""
    states = [*ACTIVE_STATES, *(["待派单"] if waiting else [])]
    mine = orders[orders["status"].isin(states) & (orders["window_start"].dt.date == day)]
    if provider is not None:
        mine = mine[(mine["provider_id"] == provider) | mine["provider_id"].isna()]
    return mine.reset_index(drop=True)


def _plan(desk: Desk, day_orders: pd.DataFrame, carers: pd.DataFrame, day: dt.date) -> dict[str, Any] | None:
    """Solve the day's routes with progress shown (st.status); the plan and its map data, or None."""
    with st.status("正在规划护理员路线…", expanded=True) as status:
        bar = st.progress(0, text="第 1 步（共 3 步）：计算路网车程矩阵…")
        started = time.perf_counter()
        try:
            problem = route_problem(desk.region, day_orders, carers, desk.settings, day=day, keep_assigned=True)
            bar.progress(45, text="第 2 步（共 3 步）：求解访问顺序（VROOM）…")
            plan = solve_problem(problem, desk.settings)
            bar.progress(75, text="第 3 步（共 3 步）：沿道路绘制路线…")
            collection = plan_geojson(plan, region=desk.region, settings=desk.settings)
        except ElderMapError as exc:
            status.update(label="路线规划失败", state="error", expanded=True)
            st.error(md_escape(message_zh(exc), keep_lines=True))
            return None
        bar.progress(100, text="完成")
        totals = plan.totals
        status.update(label=f"路线已规划：{totals['routed']} / {totals['visits']} 张工单，"
                            f"用时 {time.perf_counter() - started:.1f} 秒", state="complete", expanded=False)
    return {"plan": plan, "geojson": coarse_collection(collection, decimals=MAP_DECIMALS)}


def _routes(desk: Desk, orders: pd.DataFrame, now: dt.datetime, providers: Mapping[str, str]) -> None:
    carers = layer_table(desk.region, "carers")
    if carers.empty:
        st.info("本地区还没有服务人员（护理员）名单，无法规划路线。请先在“数据管理”页导入服务人员。")
        return
    st.session_state.setdefault("desk_route_day", now.date())
    c1, c2, c3 = st.columns([2, 3, 3], vertical_alignment="bottom")
    day = c1.date_input("计划日期", key="desk_route_day", format="YYYY-MM-DD")
    provider_options = [ALL_PROVIDERS_ZH, *providers]
    provider_choice = c2.selectbox("服务商", provider_options, key="desk_route_provider",
                                   format_func=lambda p: providers.get(p, p))
    waiting = c3.checkbox("含待派单工单（由系统安排护理员）", key="desk_route_waiting")
    provider = None if provider_choice == ALL_PROVIDERS_ZH else provider_choice
    day_orders = _route_orders(orders, day, provider, waiting)
    crew = carers if provider is None else carers[carers["provider_id"].astype(str) == provider]
    what = "已派单、已接单、服务中" + ("和待派单" if waiting else "")
    st.caption(f"{day.month}月{day.day}日 {what}的工单 {len(day_orders)} 张，护理员 {len(crew)} 名。"
               "已派单的工单保持原护理员，只安排访问顺序。")
    key = (str(desk.region.version), day.isoformat(), provider_choice, bool(waiting),
           tuple(zip(day_orders["id"].astype(str), day_orders["status"], day_orders["carer_id"].fillna(""),
                     strict=True)))
    if st.button("规划路线", type="primary", key="desk_route_go", disabled=day_orders.empty or crew.empty):
        result = _plan(desk, day_orders, crew, day)
        if result is not None:
            st.session_state[ROUTE_KEY] = {"key": key, **result}
    result = st.session_state.get(ROUTE_KEY)
    if day_orders.empty:
        st.info("该日没有可排路线的工单。")
        return
    if result is None or result["key"] != key:
        st.caption("选好日期和服务商后，点击“规划路线”。")
        return
    plan, collection = result["plan"], result["geojson"]
    totals = plan.totals
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("已安排工单", f"{totals['routed']} / {totals['visits']}")
    c2.metric("未能安排", totals["unassigned"])
    c3.metric("总车程（分钟）", f"{totals['travel_min']:.0f}")
    c4.metric("出车护理员", f"{totals['carers_used']} / {totals['carers']}")
    used = [str(c) for c in plan.routes.loc[plan.routes["visits"] > 0, "carer_id"]]
    colours = route_colours(used)
    if used:
        if st.session_state.get("desk_route_carer") not in [ALL_CARERS_ZH, *used]:
            st.session_state["desk_route_carer"] = ALL_CARERS_ZH
        carer = st.selectbox("地图显示", [ALL_CARERS_ZH, *used], key="desk_route_carer")
        chosen = None if carer == ALL_CARERS_ZH else [carer]
        bounds = collection_bounds({"features": [f for f in collection["features"]
                                                 if chosen is None or f["properties"]["carer_id"] in chosen]})
        m = region_map(desk.region, desk.settings, bounds=bounds, areas=False) if bounds is not None else None
        if m is not None:
            shown = chosen or used
            add_carer_routes(m, collection, colours=colours, carers=chosen)
            if len(shown) <= LEGEND_MAX_CARERS:
                add_legend(m, "护理员路线", [(f"护理员 {c}", colours[c]) for c in shown], position="bottomleft")
            folium.LayerControl(collapsed=True).add_to(m)  # one entry per carer: folded, so the map stays visible
            st.caption("数字为访问顺序，白圈为护理员驻地；右上角“图层”可逐个显示或隐藏护理员；"
                       "地图上的位置精确到约 10 米。")
            show_map(m, key="desk_route_map", height_px=620)
        table = plan_frame(plan)
        if chosen is not None:
            table = table[table["护理员"] == carer]
        st.markdown("**路线计划**（每名护理员按访问顺序，最后一行为返回驻地）")
        st.dataframe(table, hide_index=True, width="stretch")
        st.markdown("**护理员汇总**")
        st.dataframe(routes_frame(plan), hide_index=True, width="stretch")
    unassigned = unassigned_frame(plan)
    if len(unassigned):
        st.markdown(f"**未能安排的工单（{len(unassigned)}）**")
        st.dataframe(unassigned, hide_index=True, width="stretch")
    for note in plan.notes:
        st.caption(md_escape(note))
    file_name = f"护理员路线_{desk.name}_{day.isoformat()}.xlsx"
    st.download_button("下载路线计划（Excel）", lambda: plan_workbook_bytes(plan), file_name, XLSX_MIME,
                       key="desk_route_download", on_click=_record_download,
                       args=(desk, file_name, int(totals["routed"])))


# ---------------------------------------------------------------- the page


def _overview(orders: pd.DataFrame, now: dt.datetime, settings: Settings) -> dict[str, int]:
    """Counts shown on the section buttons."""
    late = orders_db.overdue_orders(orders[orders["status"] == "已派单"], now, settings=settings)
    return {"待派单": int((orders["status"] == "待派单").sum()),
            "进行中": int(orders["status"].isin(ACTIVE_STATES).sum()),
            "回访": int((orders["status"] == "已完成").sum()), "超时": len(late)}


def render(region: Region, settings: Settings, *, user: str = "", role: str | None = None,
           regions_root: Path | str | None = None) -> None:
    """The 调度 page for a logged-in dispatcher (or admin) over one region.

    Parameters
    ----------
    region
        The loaded region: facilities (home-care providers), ``service_items``, ``carers``, elders, roads.
    settings
        The settings in force (``desk_*``, ``route_*``, ``display_timezone``).
    user, role
        The logged-in account and its role: the order log's actor and the audit log's user.
    regions_root
        The store (regions folder or PostGIS URL) holding the order log and the audit log; default
        ``$ELDERMAP_REGIONS``.
    """
    desk = Desk(region=region, settings=settings, user=user or "unknown", role=role, root=regions_root)
    if st.session_state.get("desk_region") != str(region.path):  # another region or version: start afresh
        for key in list(st.session_state):
            if str(key).startswith(("desk_carer_pick::",)) or key in (
                    POINT_KEY, ROUTE_KEY, PREFER_KEY, "desk_queue_pick", "desk_active_pick", "desk_follow_pick",
                    "desk_clicked", "desk_last_click", "desk_click_refused"):
                st.session_state.pop(key, None)
        st.session_state["desk_region"] = str(region.path)
    if is_synthetic(region):
        st.info(DEMO_BANNER_ZH)
    now = orders_db.local_now(settings)
    try:
        orders = _ingest_if_empty(desk, _current_orders(region.name, regions_root))
    except ElderMapError as exc:
        st.error(md_escape(message_zh(exc), keep_lines=True))
        return
    counts = _overview(orders, now, settings)
    badge = {"待派单": counts["待派单"], "进行中": counts["进行中"], "回访": counts["回访"]}
    st.session_state.setdefault("desk_section", SECTIONS[0])
    section = st.segmented_control("功能", SECTIONS, key="desk_section", required=True, label_visibility="collapsed",
                                   format_func=lambda s: f"{s}（{badge[s]}）" if s in badge else s)
    st.caption(f"当前时间 {now:%Y-%m-%d %H:%M}；待派单 {counts['待派单']} 张，进行中 {counts['进行中']} 张"
               f"（超时未接单 {counts['超时']} 张），待回访 {counts['回访']} 张。")
    message = st.session_state.pop(MESSAGE_KEY, None)
    if message is not None:
        kind, text = message
        getattr(st, kind)(md_escape(text, keep_lines=True))
    names = item_names(layer_table(region, "service_items"))
    providers = _providers(desk)
    try:
        if section == "接听来电":
            _take_call(desk, now)
        elif section == "待派单":
            _queue(desk, orders, now, names, providers)
        elif section == "进行中":
            _in_progress(desk, orders, now, names, providers)
        elif section == "回访":
            _follow_ups(desk, orders, names, providers)
        elif section == "服务商评价":
            _ratings(desk)
        elif section == "补贴结算":
            _settlement(desk, orders, now)
        else:
            _routes(desk, orders, now, providers)
    except ElderMapError as exc:
        st.error(md_escape(message_zh(exc), keep_lines=True))


__all__ = [
    "SECTIONS",
    "Desk",
    "active_table",
    "change_detail",
    "elders_near",
    "items_text",
    "month_options",
    "point_zh",
    "queue_table",
    "ratings_table",
    "render",
]
