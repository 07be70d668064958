"""The 调度 page in a real browser (Debian's chromium driven by Playwright, offline, a free port in 8701–8709).

A dispatcher logs in, takes a call (elder by pseudonymous id, an item, a date and a window), dispatches the
order to the first-ranked carer, moves it through 接单 → 开始服务 → 完成 and follows it up. The order log and
the audit log are then read from the store; every request the page made went to the app itself
(127.0.0.1). A screenshot goes to ``tests/artifacts/desk_flow.png``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from urllib.parse import urlparse

import pytest
from conftest import copy_demo_region, running_app
from test_browser import ARTIFACTS, CHROMIUM, _chromium_or_skip

PORTS = range(8701, 8710)
"""Ports this file may use (others' tests use fixed ports outside this range)."""
USER, PASSWORD = "disp1", "disp-pass-1"
DAY = dt.date(2027, 1, 12)
ITEM_LABEL = "助餐配送（生活照料，SC0102）"
REMARKS = "送餐准时 <b>好</b>"


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port in 8701–8709")


@pytest.fixture(scope="module")
def desk_app(demo_region, tmp_path_factory):
    """(url, regions root, an elder's pseudonym): the app on a copy of the demo region, with a dispatcher."""
    from data.auth import add_user

    _chromium_or_skip()
    base = tmp_path_factory.mktemp("browser_desk")
    root = copy_demo_region(demo_region, base / "regions")
    users = base / "users.toml"
    add_user(users, USER, "dispatcher", PASSWORD)
    env = {**os.environ, "ELDERMAP_REGIONS": str(root), "ELDERMAP_USERS": str(users), "ELDERMAP_LOGIN_DELAY_S": "0"}
    env.pop("ELDERMAP_SETTINGS", None)
    env.pop("ELDERMAP_DATABASE_URL", None)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(_free_port(), env, ARTIFACTS / "streamlit_desk.log") as url:
        yield url, root, _elder(demo_region)


def _elder(region) -> str:
    """An elder some carer can serve with 助餐配送 on :data:`DAY` 10:00–11:00."""
    import pandas as pd

    from desk.dispatch import candidates
    from desk.orders_db import ORDER_COLUMNS
    from geo.settings import Settings

    nobody_busy = pd.DataFrame(columns=list(ORDER_COLUMNS))
    for pid, point in zip(region.elders["pid"].astype(str), region.elders.geometry, strict=True):
        order = {"id": "probe", "lon": point.x, "lat": point.y, "item_codes": ["SC0102"],
                 "window_start": dt.datetime.combine(DAY, dt.time(10)), "window_end": dt.datetime.combine(DAY, dt.time(11))}
        if len(candidates(region, order, Settings(), orders=nobody_busy).ranked):
            return pid
    raise AssertionError("no elder of the demo can be served")


def _type_segment(page, name: str, value: str) -> None:
    """Type into one segment of a date or time input (year, month, day, hour, minute: react-aria spinbuttons)."""
    page.get_by_role("spinbutton", name=name, exact=True).click()
    page.keyboard.type(value)


def _section(page, name: str) -> None:
    page.get_by_role("radio", name=re.compile(f"^{name}")).click()  # a segmented control: radio buttons


def test_take_call_dispatch_accept_complete_follow_up(desk_app) -> None:
    from playwright.sync_api import expect, sync_playwright

    from data import audit
    from desk import orders_db

    url, root, pid = desk_app
    app_host = urlparse(url).netloc
    hosts: set[str] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-component-update",
            "--disable-default-apps", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400}, locale="zh-CN")
            page.on("request", lambda r: hosts.add(urlparse(r.url).netloc)
                    if urlparse(r.url).scheme in ("http", "https", "ws", "wss") else None)
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(url + "/dispatch", wait_until="domcontentloaded")
            page.get_by_role("textbox", name="用户名", exact=True).fill(USER)
            page.get_by_role("textbox", name="密码", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.get_by_text("第一步：查找老人或服务地址").wait_for(timeout=120_000)

            # 接听来电: the elder by pseudonym, one item, a day and a window
            box = page.get_by_role("textbox", name="老人编号（假名编号，可只输入开头几位）")
            box.fill(pid)
            box.press("Enter")
            page.get_by_text("老人编号：" + pid).wait_for(timeout=60_000)
            page.get_by_role("combobox", name="服务项目（可多选）").click()
            page.get_by_role("option", name=ITEM_LABEL).click()
            page.keyboard.press("Escape")
            for name, value in (("年，服务日期", f"{DAY.year}"), ("月，服务日期", f"{DAY.month:02d}"),
                                ("日，服务日期", f"{DAY.day:02d}"), ("小时, 预约开始", "10"), ("分钟, 预约开始", "00"),
                                ("小时, 预约结束", "11"), ("分钟, 预约结束", "00")):
                _type_segment(page, name, value)
            page.keyboard.press("Tab")
            page.get_by_role("button", name="创建工单").click()
            page.get_by_text("已创建工单").wait_for(timeout=60_000)
            created = orders_db.current_orders("demo", root=root)
            mine = created[created["elder_id"] == pid]
            assert len(mine) == 1, mine
            order_id = mine["id"].iloc[0]
            assert mine["window_start"].iloc[0] == dt.datetime.combine(DAY, dt.time(10))

            # 待派单: the new order is chosen; dispatch it to the first-ranked carer
            page.get_by_text("可派单的护理员").wait_for(timeout=60_000)
            page.get_by_role("button", name="派单", exact=True).click()
            page.get_by_text(f"工单 {order_id} 已派给").wait_for(timeout=60_000)

            # 进行中: accept, start, complete
            _section(page, "进行中")
            page.get_by_text(f"工单：{order_id}").wait_for(timeout=60_000)  # the order just dispatched is chosen
            for label, message in (("接单", "已派单 → 已接单"), ("开始服务", "已接单 → 服务中"), ("完成", "已完成服务")):
                page.get_by_role("button", name=label, exact=True).click()
                page.get_by_text(message).first.wait_for(timeout=60_000)

            # 回访
            _section(page, "回访")
            page.get_by_text(f"工单：{order_id}").wait_for(timeout=60_000)  # the order just completed is chosen
            page.get_by_text("5 非常满意").click()
            page.get_by_role("textbox", name="回访意见").fill(REMARKS)
            page.get_by_role("button", name="提交回访").click()
            page.get_by_text(f"工单 {order_id} 已回访").wait_for(timeout=60_000)
            said = page.get_by_test_id("stAlertContentSuccess").filter(has_text="回访意见")
            assert said.inner_text().endswith(f"回访意见：{REMARKS}")  # markup typed in is shown as text ...
            assert said.locator("b").count() == 0  # ... and makes no element
            box = page.get_by_role("textbox", name="回访意见")
            if box.count():  # the next order to follow up starts blank (once the page has drawn it again)
                expect(box).to_have_value("", timeout=30_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "desk_flow.png"), full_page=True)
            assert not dialogs, dialogs
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "desk_flow_failed.png"), full_page=True)
            raise
        finally:
            browser.close()
    order = orders_db.get_order("demo", order_id, root=root)
    assert (order["status"], order["satisfaction"], order["remarks"]) == ("已回访", 5, REMARKS)
    events = orders_db.history("demo", order_id, root=root)
    assert list(events["event"]) == ["创建", "已派单", "已接单", "服务中", "已完成", "已回访"]
    assert set(events["actor"]) == {USER}
    log = audit.read(root)
    mine = log[(log["action"] == "dispatch") & log["detail"].str.startswith(f"工单 {order_id}：")]
    assert len(mine) == 6 and set(mine["user"]) == {USER} and set(mine["role"]) == {"dispatcher"}
    others = sorted(h for h in hosts if h != app_host)
    assert not others, f"requests to other hosts: {others}"
