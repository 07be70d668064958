"""AppTest of the 调度 page (views.desk_page) on a copy of the demo region: the role gate, a call taken,
dispatched, accepted, started, completed and followed up (order log, history and audit lines checked), a
carer taken by another desk meanwhile (the engine's conflict message, nothing written), a stale page, an
order not accepted in time and reassigned, hostile text shown as text, ratings, settlement and routes.

Each test works on its own days (2027-01-05…) so the tests do not depend on each other's orders.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import (
    APP_ENTRY,
    TIMEOUT_S,
    as_read,
    button,
    copy_demo_region,
    login,
    map_args,
    run,
    shown_text,
    switch_page,
)
from streamlit.testing.v1 import AppTest

from data import audit, store
from data.auth import add_user
from desk import orders_db
from desk.dispatch import candidates
from desk.ratings import provider_ratings
from desk.settlement import settle
from geo.settings import Settings
from views.access import NO_PERMISSION_ZH
from views.desk_page import plan_workbook_bytes, settlement_bytes

S = Settings()
EVIL = "<img src=x onerror=alert(1)> ![x](http://198.51.100.8/y.png)"
USERS = {"disp": ("dispatcher", "disp-pass-1"), "plan": ("planner", "plan-pass-1"), "boss": ("admin", "boss-pass-1")}
ITEM = "SC0102"  # 助餐配送: skill 助餐配送, level 1, 15 minutes


@pytest.fixture(scope="module")
def desk_root(tmp_path_factory: pytest.TempPathFactory, demo_region) -> Path:
    """A writable copy of the demo region (its order log and the audit log go beside it) and a users file."""
    base = tmp_path_factory.mktemp("view_desk")
    root = copy_demo_region(demo_region, base / "regions")
    for name, (role, password) in USERS.items():
        add_user(base / "users.toml", name, role, password)
    return root


@pytest.fixture(scope="module")
def region(desk_root: Path):
    return store.load_region("demo", root=desk_root)


@pytest.fixture()
def env(desk_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ELDERMAP_REGIONS", str(desk_root))
    monkeypatch.setenv("ELDERMAP_USERS", str(desk_root.parent / "users.toml"))
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    monkeypatch.delenv("ELDERMAP_DATABASE_URL", raising=False)
    return desk_root


def _desk(user: str = "disp") -> AppTest:
    """The app opened on the 调度 page (not on the public page first: quicker), logged in as ``user``."""
    at = AppTest.from_file(str(APP_ENTRY), default_timeout=TIMEOUT_S)
    at.session_state["test_page"] = "调度"
    run(at)
    assert "请先在左侧登录" in [i.value for i in at.info]  # nothing of the desk before the login
    return login(at, user, USERS[user][1])


def _section(at: AppTest, name: str) -> AppTest:
    at.button_group(key="desk_section").set_value(name)
    return run(at)


def _window(day: dt.date, start: str, end: str) -> tuple[dt.datetime, dt.datetime]:
    return (dt.datetime.combine(day, dt.time.fromisoformat(start)), dt.datetime.combine(day, dt.time.fromisoformat(end)))


def _elder_with_carers(region, day: dt.date) -> tuple[str, float, float]:
    """The first elder (by pseudonym) for whom some carer can take 助餐配送 on ``day`` 10:00–11:00 (nobody busy)."""
    elders = region.elders.sort_values("pid")
    start, end = _window(day, "10:00", "11:00")
    nobody_busy = pd.DataFrame(columns=list(orders_db.ORDER_COLUMNS))
    for pid, point in zip(elders["pid"].astype(str), elders.geometry, strict=True):
        order = {"id": "probe", "elder_id": pid, "lon": point.x, "lat": point.y, "item_codes": [ITEM],
                 "window_start": start, "window_end": end}
        if len(candidates(region, order, S, orders=nobody_busy).ranked):
            return pid, float(point.x), float(point.y)
    raise AssertionError("no elder of the demo can be served")


def _new_order(root: Path, region, day: dt.date, start: str, end: str, *, actor: str = "other-desk") -> str:
    pid, lon, lat = _elder_with_carers(region, day)
    ws, we = _window(day, start, end)
    return orders_db.create_order("demo", {"elder_id": pid, "lon": lon, "lat": lat, "item_codes": [ITEM],
                                           "window_start": ws, "window_end": we, "channel": "网络平台"},
                                  actor=actor, root=root, items=region.layers["service_items"])


def _dispatch_lines(root: Path, order_id: str) -> pd.DataFrame:
    log = audit.read(root)
    return log[(log["action"] == "dispatch") & log["detail"].str.startswith(f"工单 {order_id}：")]


def _markdown(at: AppTest) -> str:
    return "\n".join(str(el.value) for kind in ("markdown", "caption", "info", "warning", "error", "success")
                     for el in getattr(at, kind))


# ---------------------------------------------------------------- role gate and first open


def test_role_gate_and_first_open_loads_imported_orders(env: Path, region) -> None:
    assert orders_db.current_orders("demo", root=env).empty  # a fresh copy: the order log is empty
    at = _desk("plan")
    assert NO_PERMISSION_ZH in [e.value for e in at.error]
    assert not at.button_group and "接听来电" not in shown_text(at)
    assert orders_db.current_orders("demo", root=env).empty  # a planner's visit loads nothing

    at = _desk("disp")
    assert at.title[0].value == "调度" and not at.error
    assert at.button_group(key="desk_section").value == "接听来电"
    loaded = len(region.layers["orders"])
    assert f"已载入 {loaded} 条工单记录" in "\n".join(s.value for s in at.success)
    assert "演示数据" in "\n".join(i.value for i in at.info)  # the banner: synthetic orders and carers
    assert len(orders_db.current_orders("demo", root=env)) == loaded
    line = audit.read(env).iloc[-1]
    assert (line["action"], line["user"], line["role"], line["version"], int(line["rows"])) == (
        "dispatch", "disp", "dispatcher", region.version, loaded)
    # a dispatcher may not open the planner's page
    switch_page(at, "规划分析")
    assert NO_PERMISSION_ZH in [e.value for e in at.error]

    at = _desk("boss")  # admins see every page; the log is loaded already: nothing loaded twice
    assert at.title[0].value == "调度" and not at.error
    assert not [s.value for s in at.success if "已载入" in s.value]
    assert len(orders_db.current_orders("demo", root=env)) == loaded


# ---------------------------------------------------------------- the whole flow of one call


def test_call_dispatch_accept_complete_follow_up(env: Path, region) -> None:
    day = dt.date(2027, 1, 5)
    pid, lon, lat = _elder_with_carers(region, day)
    at = _desk()
    # a query that is markup is shown as text
    at.text_input(key="desk_elder_query").input("<img src=x onerror=alert(1)>")
    run(at)
    assert "<img" not in _markdown(at) and "没有编号为“<img src=x onerror=alert(1)>”的老人" in as_read(_markdown(at))

    at.text_input(key="desk_elder_query").input(pid[:10])  # the first letters are enough
    run(at, errors=False)
    found = "\n".join(s.value for s in at.success)
    assert pid in found and f"{lon:.3f}" in as_read(found) and f"{lat:.3f}" in as_read(found)
    page = as_read(shown_text(at))
    assert f"{lon:.4f}" not in page and f"{lat:.4f}" not in page  # never the exact point

    at.multiselect(key="desk_call_items").select(ITEM)
    at.date_input(key="desk_call_date").set_value(day)
    at.time_input(key="desk_call_start").set_value(dt.time(10, 0))
    at.time_input(key="desk_call_end").set_value(dt.time(11, 0))
    at.selectbox(key="desk_call_channel").select("12349热线")
    assert at.selectbox(key="desk_call_group").value == "自费（不享受补贴）"
    at.selectbox(key="desk_call_group").select("低保")
    button(at, "创建工单").click()
    run(at, errors=False)

    log = orders_db.current_orders("demo", root=env)
    mine = log[(log["elder_id"] == pid) & (log["window_start"] == pd.Timestamp(day) + pd.Timedelta(hours=10))]
    assert len(mine) == 1
    order = mine.iloc[0]
    oid = order["id"]
    assert (order["status"], order["channel"], order["urgency"], list(order["item_codes"])) == (
        "待派单", "12349热线", "普通", [ITEM])
    assert (order["lon"], order["lat"]) == (lon, lat)  # the elder's registered point, exactly, in the log only
    assert at.button_group(key="desk_section").value == "待派单"  # on to the queue, with the new order chosen
    assert at.selectbox(key="desk_queue_pick").value == oid
    assert any(f"已创建工单 {oid}" in as_read(s.value) and "补贴类别 低保" in as_read(s.value) for s in at.success)
    assert order["subsidy_group"] == "低保"

    # the candidates shown are the engine's, in its order, with its reasons
    want = candidates(region, orders_db.get_order("demo", oid, root=env), S,
                      orders=orders_db.current_orders("demo", root=env)).ranked
    shown = next(df.value for df in at.dataframe if "理由" in df.value.columns)
    assert list(shown["护理员"]) == list(want["carer_id"]) and list(shown["理由"]) == list(want["reason"])
    top_provider, top_carer = want["provider_id"].iloc[0], want["carer_id"].iloc[0]
    assert at.selectbox(key=f"desk_carer_pick::{oid}").value == top_carer  # the first-ranked carer by default
    button(at, "派单").click()
    run(at, errors=False)
    got = orders_db.get_order("demo", oid, root=env)
    assert (got["status"], got["provider_id"], got["carer_id"]) == ("已派单", top_provider, top_carer)

    _section(at, "进行中")
    assert at.selectbox(key="desk_active_pick").value == oid  # the order just dispatched is chosen
    for key, state in (("desk_step_已接单", "已接单"), ("desk_step_服务中", "服务中"), ("desk_step_已完成", "已完成")):
        at.button(key=key).click()
        run(at, errors=False)
        assert orders_db.get_order("demo", oid, root=env)["status"] == state

    _section(at, "回访")
    assert at.selectbox(key="desk_follow_pick").value == oid  # the order just completed is chosen
    button(at, "提交回访").click()  # no satisfaction chosen: refused, nothing written
    run(at)
    assert any("请选择满意度" in e.value for e in at.error)
    assert orders_db.get_order("demo", oid, root=env)["status"] == "已完成"
    at.selectbox(key="desk_follow_pick").select(oid)
    at.radio(key=f"desk_follow_satisfaction::{oid}").set_value(4)
    at.checkbox(key=f"desk_follow_complaint::{oid}").check()
    at.text_area(key=f"desk_follow_remarks::{oid}").input(EVIL)
    button(at, "提交回访").click()
    run(at, errors=False)
    got = orders_db.get_order("demo", oid, root=env)
    assert (got["status"], got["satisfaction"], got["complaint"], got["remarks"]) == ("已回访", 4, True, EVIL)

    # hostile remarks: plain text in the table, never markup anywhere
    recent = next(df.value for df in at.dataframe if "回访意见" in df.value.columns)
    assert EVIL in list(recent["回访意见"])
    assert any(as_read(s.value).endswith(f"回访意见：{EVIL}") for s in at.success)
    assert "<img" not in _markdown(at) and "](http" not in _markdown(at)

    events = orders_db.history("demo", oid, root=env)
    assert list(events["event"]) == ["创建", "已派单", "已接单", "服务中", "已完成", "已回访"]
    assert set(events["actor"]) == {"disp"}
    lines = _dispatch_lines(env, oid)
    assert list(lines["detail"]) == [
        f"工单 {oid}：新建 → 待派单", f"工单 {oid}：待派单 → 已派单（服务商 {top_provider}，护理员 {top_carer}）",
        f"工单 {oid}：已派单 → 已接单", f"工单 {oid}：已接单 → 服务中", f"工单 {oid}：服务中 → 已完成",
        f"工单 {oid}：已完成 → 已回访（满意度 4，有投诉）"]
    assert set(lines["user"]) == {"disp"} and set(lines["role"]) == {"dispatcher"}
    assert set(lines["version"]) == {region.version}
    assert not lines["detail"].str.contains(pid).any()  # no elder data in the audit log


def test_call_by_place_and_by_map_click(env: Path, region) -> None:
    """An address or place of the gazetteer, or a click on the map, gives the service point; elders registered
    next to it are offered by pseudonym; a click outside the region is refused."""
    at = _desk()
    at.radio(key="desk_find_way").set_value("地址或地名")
    run(at)
    at.text_input(key="desk_place_query").input("议会社区")
    run(at, errors=False)
    found = as_read("\n".join(s.value for s in at.success)).replace("**", "")
    assert "服务地址：议会社区" in found and "老人编号：未指定" in found

    pid, lon, lat = _elder_with_carers(region, dt.date(2027, 1, 5))
    at.radio(key="desk_find_way").set_value("地图点选")
    run(at, errors=False)
    at.session_state["desk_call_map"] = {"last_clicked": {"lat": lat, "lng": lon}}  # what a click sends
    run(at, errors=False)
    near = at.selectbox(key="desk_near_pick")
    assert pid in near.options[1] and near.value == "（不指定老人）"  # the elder living there comes first
    near.select(near.options[1])
    run(at, errors=False)
    found = as_read("\n".join(s.value for s in at.success)).replace("**", "")
    assert f"老人编号：{pid}" in found and "地图上选定的位置" in found and f"{lon:.3f}" in found
    assert f"{lon:.4f}" not in as_read(shown_text(at))

    at.session_state["desk_call_map"] = {"last_clicked": {"lat": 76.0, "lng": 70.0}}  # the Kara Sea
    run(at)
    assert any("在本地区范围之外，未采用" in w.value for w in at.warning)


# ---------------------------------------------------------------- conflicts: another desk was quicker


def test_carer_taken_meanwhile_and_stale_page(env: Path, region) -> None:
    day = dt.date(2027, 1, 6)
    first = _new_order(env, region, day, "10:00", "11:00")
    second = _new_order(env, region, day, "10:30", "11:30")
    at = _desk()
    _section(at, "待派单")
    at.selectbox(key="desk_queue_pick").select(first)
    run(at, errors=False)
    carer = at.selectbox(key=f"desk_carer_pick::{first}").value
    provider = candidates(region, orders_db.get_order("demo", first, root=env), S).ranked.iloc[0]["provider_id"]
    # another operator dispatches the same carer to an overlapping order first
    orders_db.dispatch("demo", second, provider, carer, actor="other-desk", root=env)
    button(at, "派单").click()
    run(at)
    assert [as_read(e.value) for e in at.error] == [f"护理员 {carer} 在 10:30–11:30 已有工单 {second}，请选择其他护理员"]
    assert orders_db.get_order("demo", first, root=env)["status"] == "待派单"  # nothing written
    assert _dispatch_lines(env, first).empty
    left_out = next(df.value for df in at.dataframe if "原因" in df.value.columns)
    assert f"10:30–11:30 已有工单 {second}" in " ".join(left_out.loc[left_out["护理员"] == carer, "原因"])

    # the page still shows the first order waiting; another desk dispatches it meanwhile
    other = candidates(region, orders_db.get_order("demo", first, root=env), S).ranked.iloc[0]
    orders_db.dispatch("demo", first, other["provider_id"], other["carer_id"], actor="other-desk", root=env)
    button(at, "派单").click()
    run(at)
    assert any(f"工单 {first} 当前状态为“已派单”（页面显示为“待派单”）" in as_read(e.value) for e in at.error)
    assert orders_db.get_order("demo", first, root=env)["carer_id"] == other["carer_id"]  # not overwritten
    assert len(orders_db.history("demo", first, root=env)) == 2


def test_order_not_accepted_in_time_is_flagged_and_reassigned(env: Path, region) -> None:
    late = _new_order(env, region, dt.date(2027, 1, 7), "10:00", "11:00")
    top = candidates(region, orders_db.get_order("demo", late, root=env), S).ranked.iloc[0]
    sent = orders_db.local_now(S) - dt.timedelta(minutes=30)
    orders_db.dispatch("demo", late, top["provider_id"], top["carer_id"], actor="other-desk", root=env, now=sent)
    at = _desk()
    _section(at, "进行中")
    assert any(late in e.value and "超过 10 分钟未接单" in e.value for e in at.error)
    table = next(df.value for df in at.dataframe if "提醒" in df.value.columns)
    alert = table.loc[table["工单编号"] == late, "提醒"].iloc[0]
    assert re.match(r"派单 (30|31) 分钟未接单", alert), alert
    at.selectbox(key="desk_active_pick").select(late)
    run(at)
    assert at.button(key="desk_step_超时").label == "改派（超时未接单）"
    at.button(key="desk_step_超时").click()
    run(at)
    got = orders_db.get_order("demo", late, root=env)
    assert (got["status"], got["carer_id"]) == ("待派单", None)
    assert list(orders_db.history("demo", late, root=env)["event"])[-1] == "超时"
    assert at.button_group(key="desk_section").value == "待派单"
    assert at.selectbox(key="desk_queue_pick").value == late
    assert list(_dispatch_lines(env, late)["detail"]) == [f"工单 {late}：已派单 → 待派单（超时）"]


# ---------------------------------------------------------------- ratings, settlement, routes


def test_ratings_settlement_and_routes(env: Path, region) -> None:
    at = _desk()
    _section(at, "服务商评价")
    shown = next(df.value for df in at.dataframe if "综合评分(0–5)" in df.value.columns)
    want = provider_ratings(region, S, root=env)
    assert list(shown["服务商编号"]) == list(want["provider_id"])
    assert list(shown["回访数"]) == list(want["followups"]) and list(shown["派单数"]) == list(want["orders"])
    assert list(shown["综合评分(0–5)"]) == list(want["score"].round(2))
    assert list(shown["末位"] != "") == list(want["bottom"])

    _section(at, "补贴结算")
    at.selectbox(key="desk_settle_month").select("2026-11")
    run(at, errors=False)
    totals = next(df.value for df in at.dataframe if "补贴金额(元)" in df.value.columns)
    expected = settle(region, S, "2026-11", root=env)
    assert list(totals["补贴金额(元)"]) == list(expected.totals["amount_yuan"])
    book = openpyxl.load_workbook(io.BytesIO(settlement_bytes(expected)))
    assert book.sheetnames == ["结算汇总", "结算明细", "未计补贴", "说明"]
    assert not [c for ws in book for row in ws.iter_rows() for c in row if c.data_type == "f"]

    _section(at, "护理员路线")
    at.date_input(key="desk_route_day").set_value(dt.date(2026, 12, 1))
    run(at, errors=False)
    button(at, "规划路线").click()
    run(at, errors=False)
    plan_table = next(df.value for df in at.dataframe if "开始服务" in df.value.columns)
    log = orders_db.current_orders("demo", root=env)
    day = log[log["status"].isin(orders_db.ACTIVE_STATES) & (log["window_start"].dt.date == dt.date(2026, 12, 1))]
    left = next((df.value for df in at.dataframe if list(df.value.columns) == ["工单", "原因"]), pd.DataFrame(
        columns=["工单", "原因"]))
    routed = set(plan_table["工单"]) - {"（返回驻地）"}
    assert routed | set(left["工单"]) == set(day["id"]) and not routed & set(left["工单"])
    # every carer keeps the orders the desk gave it
    carer_of = dict(zip(day["id"], day["carer_id"], strict=True))
    assert all(carer_of[o] == c for o, c in zip(plan_table["工单"], plan_table["护理员"], strict=True) if o in carer_of)
    # the map: drawn offline, homes rounded to 4 decimals (never the exact points of the log)
    maps = [a for a in map_args(at) if "eldermap-stop" in a]
    assert maps and all("leaflet.js" in a and "https://" not in a for a in maps)
    for lon, lat in zip(day["lon"], day["lat"], strict=True):
        assert f"{lat:.6f}" not in maps[0] and f"{lon:.6f}" not in maps[0]
    assert any("路线已规划" in s.label for s in at.status)  # the st.status of the solve, closed when done
    book = openpyxl.load_workbook(io.BytesIO(plan_workbook_bytes(at.session_state["desk_route_result"]["plan"])))
    assert book.sheetnames == ["路线计划", "护理员汇总", "未安排工单"]
    assert not [c for ws in book for row in ws.iter_rows() for c in row if c.data_type == "f"]


def test_the_page_rereads_the_order_log_only_when_it_changed(env: Path, region, monkeypatch) -> None:
    """A rerun with an unchanged log reuses the last read; any new event (here a new order) is read at once."""
    from views import desk_page

    reads = []
    real = orders_db.current_orders
    monkeypatch.setattr(orders_db, "current_orders", lambda *a, **k: reads.append(1) or real(*a, **k))
    first = desk_page._current_orders("demo", env)
    again = desk_page._current_orders("demo", env)
    assert len(reads) <= 1 and again.equals(first)
    again.loc[again.index[:1], "status"] = "changed by a caller"  # a caller's change never reaches the cache
    assert desk_page._current_orders("demo", env).equals(first)
    oid = orders_db.create_order("demo", {"lon": float(region.elders.geometry.iloc[0].x),
                                          "lat": float(region.elders.geometry.iloc[0].y), "item_codes": [ITEM],
                                          "window_start": dt.datetime(2027, 2, 1, 9), "window_end": dt.datetime(2027, 2, 1, 10)},
                                 actor="test", root=env, items=region.layers["service_items"])
    fresh = desk_page._current_orders("demo", env)
    assert oid in set(fresh["id"]) and oid not in set(first["id"]) and len(fresh) == len(first) + 1
