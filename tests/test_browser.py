"""The public page in a real browser: Debian's chromium driven by Playwright, offline.

Starts the app on the demo region, loads "找养老服务", records every request the page makes and fails
on any to a host other than the app; checks Leaflet and the facility markers rendered, searches a
place, submits the needs form and reads the ranked reasons, and checks the page fits a 390 px phone
screen. Screenshots go to ``tests/artifacts/`` (find.png, find_results.png, find_phone.png).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import running_app

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _chromium_or_skip() -> None:
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (make test installs it: apt-get install chromium fonts-noto-cjk)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    pytest.importorskip("playwright.sync_api")


LAUNCH_ARGS = ("--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
               "--no-first-run")


@contextlib.contextmanager
def launched_chromium(*extra_args: str) -> Iterator:
    """Debian's chromium, headless, started once for several tests: each test opens its own context (a new
    profile: no cookie, storage or cache shared with the tests before it) and closes it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*LAUNCH_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def chromium():
    """One chromium for this module's tests (see :func:`launched_chromium`)."""
    _chromium_or_skip()
    with launched_chromium() as browser:
        yield browser


@contextlib.contextmanager
def new_page(browser, **options) -> Iterator:
    """A page in a context of its own (``options`` for ``browser.new_context``), closed afterwards."""
    context = browser.new_context(**options)
    try:
        yield context.new_page()
    finally:
        context.close()


class Settle:
    """What one page of the app is busy with: its script runs, counted from the messages on its WebSockets (a run
    starts with ``new_session`` and ends with ``script_finished``), and its requests to the app. Attach it before
    the page opens the app."""

    def __init__(self, page, app_host: str = "127.0.0.1") -> None:
        self.started = 0
        """Runs started on this page so far."""
        self._running: dict = {}  # open WebSocket: its runs started and not finished
        self.open: set = set()
        self.last_request = time.monotonic()
        self._app_host = app_host
        page.on("websocket", self._socket)
        page.on("request", self._request)
        page.on("requestfinished", lambda request: self.open.discard(request))
        page.on("requestfailed", lambda request: self.open.discard(request))

    def _socket(self, ws) -> None:
        self._running[ws] = 0
        ws.on("framereceived", lambda payload: self._message(ws, payload))
        ws.on("close", lambda closed: self._running.pop(closed, None))

    def _message(self, ws, payload) -> None:
        from google.protobuf.message import DecodeError
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if not isinstance(payload, bytes | bytearray) or ws not in self._running:
            return
        try:
            kind = ForwardMsg.FromString(bytes(payload)).WhichOneof("type")
        except DecodeError:
            return
        if kind == "new_session":
            self.started += 1
            self._running[ws] += 1
        elif kind == "script_finished":
            self._running[ws] = max(0, self._running[ws] - 1)

    def _request(self, request) -> None:
        self.last_request = time.monotonic()
        if urlparse(request.url).hostname == self._app_host:  # one to another host never ends: a test fails on it
            self.open.add(request)

    def wait(self, page, *, since: int | None = None, quiet_ms: int = 500, timeout_s: float = 60) -> None:
        """Until no script run is going on and, for ``quiet_ms``, no request to the app has been open and none has
        started (Playwright's own "networkidle" is 500 ms without a request): the page and its frames have drawn
        what the last run sent and asked for all they show. With ``since`` (:attr:`started` before an action), a
        run has started after it too."""
        deadline = time.monotonic() + timeout_s
        page.wait_for_timeout(300)  # the run an action asks for has started
        while time.monotonic() < deadline:
            if (not any(self._running.values()) and not self.open and (since is None or self.started > since)
                    and time.monotonic() - self.last_request >= quiet_ms / 1000
                    and not page.locator("[data-testid='stStatusWidget']").count()):
                return
            page.wait_for_timeout(100)
        raise AssertionError(f"the page did not settle in {timeout_s:g} s: runs going on {self._running}, since "
                             f"{since}, {self.started} started, {len(self.open)} requests open")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


EVIL = "<img src=x onerror=alert(1)>"
OUTSIDE = "198.51.100.8"
MARKUP_NAMES = (f"![t](http://{OUTSIDE}/x.png)", f"[点我](http://{OUTSIDE}/a)", f"http://{OUTSIDE}/bare",
                f'=HYPERLINK("http://{OUTSIDE}/f")')
"""Facility names (facilities 2–5 of the copy) that would become an image, links or a formula if rendered."""


@pytest.fixture(scope="module")
def app_url(demo_region, tmp_path_factory):
    """The app on a copy of the demo region whose first facility is named with an HTML payload."""
    from data.store import save_region

    _chromium_or_skip()
    layers = {name: layer.copy() for name, layer in demo_region.layers.items()}
    layers["facilities"].loc[layers["facilities"].index[0], "name"] = EVIL
    for i, name in enumerate(MARKUP_NAMES, start=1):
        layers["facilities"].loc[layers["facilities"].index[i], "name"] = name
        layers["facilities"].loc[layers["facilities"].index[i], "address"] = name
    root = tmp_path_factory.mktemp("browser_regions")
    save_region("demo", layers, {k: v for k, v in demo_region.manifest.items() if k == "sources"}, root=root)
    from data.auth import add_user

    users = root.parent / "users.toml"
    add_user(users, "planner1", "planner", "planner-pass-1")
    port = _free_port()
    env = {**os.environ, "ELDERMAP_REGIONS": str(root), "ELDERMAP_USERS": str(users)}
    log = (ARTIFACTS / "streamlit.log")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(port, env, log) as url:
        yield url


COUNT_MARKERS_JS = """() => { let n = 0; map.eachLayer(l => {
    if (L.MarkerClusterGroup && l instanceof L.MarkerClusterGroup) n += l.getLayers().length;
    else if (l instanceof L.CircleMarker) n += 1; }); return n; }"""
"""JS: the facility markers drawn on a map (circle markers, possibly inside a cluster group)."""


def test_public_page_offline_in_chromium(app_url: str, chromium) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    app_host = urlparse(app_url).netloc
    hosts: set[str] = set()
    requests: list[str] = []
    with new_page(chromium, viewport={"width": 1280, "height": 1600}, locale="zh-CN") as page:
        settle = Settle(page)

        def record(request) -> None:
            url = urlparse(request.url)
            if url.scheme in ("http", "https", "ws", "wss"):
                hosts.add(url.netloc)
                requests.append(request.url)

        page.on("request", record)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(app_url + "/", wait_until="domcontentloaded")
        page.get_by_text("找养老服务").first.wait_for(timeout=60_000)
        # the maps: streamlit-folium iframes with Leaflet served by the app
        deadline = time.time() + 60
        frames = []
        while time.time() < deadline and not frames:
            frames = [f for f in page.frames if "streamlit_folium" in f.url]
            page.wait_for_timeout(500)
        assert frames, "no map iframe"
        markers = 0
        for frame in frames:
            frame.wait_for_function("typeof L !== 'undefined' && document.querySelector('.leaflet-container')",
                                    timeout=60_000)
            assert frame.evaluate("L.version") == "1.9.4"
            # facilities are canvas circle markers, possibly inside a cluster group: count Leaflet layers (a map
            # gets the same 1 s as ever to draw them; the wait ends as soon as it has)
            with contextlib.suppress(PlaywrightTimeout):
                frame.wait_for_function(f"typeof map !== 'undefined' && ({COUNT_MARKERS_JS})() > 0", timeout=1000)
            markers += frame.evaluate(COUNT_MARKERS_JS)
        settle.wait(page)  # drawn and loaded: the screenshot shows the page
        page.screenshot(path=str(ARTIFACTS / "find.png"), full_page=True)
        assert markers > 0, "no facility drawn on any map"

        # search a place, submit the needs form, read the recommendations
        box = page.get_by_role("textbox", name="地址或地名", exact=True)
        box.fill("灯塔社区")
        box.press("Enter")
        page.get_by_text("当前起点").first.wait_for(timeout=30_000)
        page.get_by_role("button", name="查找").click()
        page.get_by_text("为您推荐").first.wait_for(timeout=30_000)
        page.get_by_text("步行").first.wait_for(timeout=30_000)
        # the rerun after 查找 redraws the page top to bottom: wait for the facility list at its end
        page.get_by_text(EVIL, exact=True).first.wait_for(timeout=30_000)
        body = page.inner_text("body")
        assert "当前起点" in body and "灯塔社区" in body
        assert EVIL in body  # the payload is shown as text ...
        assert not dialogs, dialogs  # ... and never runs
        assert any(line.strip().startswith("步行") for line in body.splitlines()), "no ranked reason"
        settle.wait(page)
        page.screenshot(path=str(ARTIFACTS / "find_results.png"), full_page=True)

        # phone width: nothing wider than the screen
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(1500)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        page.screenshot(path=str(ARTIFACTS / "find_phone.png"), full_page=False)
        assert overflow <= 2, f"page is {overflow} px wider than a 390 px phone screen"
    others = sorted(h for h in hosts if h != app_host)
    assert not others, f"requests to other hosts: {others}: {[u for u in requests if urlparse(u).netloc in others][:5]}"
    assert (ARTIFACTS / "find.png").stat().st_size > 10_000


@pytest.mark.parametrize("path", ["planning", "reports", "data", "dispatch"])
def test_staff_pages_are_closed_without_login(app_url: str, path: str, chromium) -> None:
    with new_page(chromium, viewport={"width": 1280, "height": 900}) as page:
        page.goto(f"{app_url}/{path}", wait_until="domcontentloaded")
        page.get_by_text("请先在左侧登录").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        body = page.inner_text("body")
    assert "工作人员登录" in body
    for leaked in ("试点申报地区基本情况表", "上传并校验数据文件", "覆盖分析", "各社区养老服务设施数量", "数据来源", "接听来电",
                   "待派单"):
        assert leaked not in body, leaked


def _overview_markers(page) -> int:
    """Facility markers on the overview map (the tallest map iframe)."""
    frames = [(f, f.frame_element().bounding_box()) for f in page.frames if "streamlit_folium" in f.url]
    frames = [(f, box) for f, box in frames if box]
    if not frames:
        return 0
    frame = max(frames, key=lambda fb: fb[1]["height"])[0]
    return frame.evaluate("""() => { if (typeof map === 'undefined') return 0; let n = 0; map.eachLayer(l => {
        if (L.MarkerClusterGroup && l instanceof L.MarkerClusterGroup) n += l.getLayers().length;
        else if (l instanceof L.CircleMarker) n += 1; }); return n; }""")


def test_card_phone_list_markup_and_no_failed_request(app_url: str, chromium) -> None:
    """The card scrolls into view and leaves the overview map drawn; no request fails (the marker icon
    included); Markdown names make no image, link or outside request; a 390 px phone sees the list's
    grade, price and phone with nothing wider than the screen."""
    app_host = urlparse(app_url).netloc
    hosts: set[str] = set()
    failed: list[str] = []
    urls: list[str] = []
    with new_page(chromium, viewport={"width": 1280, "height": 900}, locale="zh-CN") as page:
        settle = Settle(page)
        page.on("request", lambda r: hosts.add(urlparse(r.url).netloc) if urlparse(r.url).scheme in (
            "http", "https", "ws", "wss") else None)
        page.on("request", lambda r: urls.append(r.url))
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("requestfailed", lambda r: failed.append(f"failed {r.url}"))
        page.goto(app_url + "/", wait_until="domcontentloaded")
        page.get_by_text("全部养老服务设施").first.wait_for(timeout=60_000)
        deadline = time.time() + 60
        while time.time() < deadline and _overview_markers(page) == 0:
            page.wait_for_timeout(500)
        assert _overview_markers(page) > 0
        box = page.get_by_role("textbox", name="地址或地名", exact=True)
        box.fill("灯塔社区")
        box.press("Enter")
        page.get_by_text("当前起点").first.wait_for(timeout=30_000)
        page.get_by_role("button", name="查找").click()
        page.get_by_role("button", name="查看详情").nth(2).wait_for(timeout=60_000)
        # the origin pin (a default Leaflet marker) is drawn: its icon must load
        settle.wait(page)
        page.get_by_role("button", name="查看详情").nth(2).click()
        heading = page.locator("h3#find-card")
        heading.wait_for(timeout=60_000)
        page.wait_for_function("""() => { const h = document.getElementById('find-card');
            if (!h) return false; const r = h.getBoundingClientRect();
            return r.top >= 0 && r.bottom <= window.innerHeight; }""", timeout=15_000)
        page.wait_for_timeout(2000)
        top = heading.evaluate("h => h.getBoundingClientRect().top")
        assert 0 <= top <= page.viewport_size["height"] - 20, f"card heading at {top} px, outside the view"
        assert _overview_markers(page) > 0, "opening a card blanked the overview map"
        page.screenshot(path=str(ARTIFACTS / "find_card.png"))

        # Markdown in the data stays text: no image or link made of it anywhere on the page
        made = page.evaluate(f"""() => [...document.querySelectorAll('img, a')]
            .map(e => e.getAttribute('src') || e.getAttribute('href') || '')
            .filter(u => u.includes('{OUTSIDE}'))""")
        assert not made, made
        body = page.inner_text("body").replace("\u2060", "")  # md_escape's word joiner stops autolinks
        assert MARKUP_NAMES[0] in body, [ln for ln in body.splitlines() if OUTSIDE in ln][:8]  # shown as text

        # a 390 px phone: stacked list, nothing wider than the screen, grade / price / phone visible
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(1500)
        narrow = page.locator(".st-key-find_list_narrow table")
        narrow.scroll_into_view_if_needed()
        assert page.locator(".st-key-find_list_wide").evaluate("e => getComputedStyle(e).display") == "none"
        geometry = narrow.evaluate("""t => { const r = t.getBoundingClientRect(); const c = t.parentElement;
            return {right: r.right, width: r.width, scroll: c.scrollWidth, client: c.clientWidth}; }""")
        wide = narrow.evaluate("""t => [...t.parentElement.querySelectorAll('*')]
            .filter(e => e.getBoundingClientRect().right > 391)
            .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right) + ' '
                 + (e.innerText || '').slice(0, 40)).slice(0, 8)""")
        assert geometry["right"] <= 390 and geometry["scroll"] <= geometry["client"] + 1, (geometry, wide)
        cell = narrow.locator("td").filter(has_text="月收费：").first
        assert cell.is_visible()
        text = cell.inner_text()
        assert "等级：" in text and "电话：" in text, text
        cell_box = cell.bounding_box()
        assert cell_box["x"] >= 0 and cell_box["x"] + cell_box["width"] <= 390, cell_box
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 2, f"page is {overflow} px wider than a 390 px phone screen"
        page.screenshot(path=str(ARTIFACTS / "find_phone_list.png"))
    assert not failed, failed
    # the starting point's pin is a default Leaflet marker: its icon comes from the served images/ folder
    assert any(u.endswith("/app/static/leaflet/images/marker-icon.png") for u in urls), \
        [u for u in urls if "marker" in u]
    others = sorted(h for h in hosts if h != app_host)
    assert not others, others


def test_search_on_a_phone_scrolls_to_the_results(app_url: str, chromium) -> None:
    with new_page(chromium, viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True) as page:
        page.goto(app_url + "/", wait_until="domcontentloaded")
        box = page.get_by_role("textbox", name="地址或地名", exact=True)
        box.wait_for(timeout=60_000)
        box.fill("灯塔社区")
        box.press("Enter")
        page.get_by_text("当前起点").first.wait_for(timeout=30_000)
        page.get_by_role("button", name="查找").click()
        page.get_by_role("button", name="查看详情").first.wait_for(timeout=60_000)
        page.wait_for_function("""() => { const h = document.getElementById('find-results');
            if (!h) return false; const r = h.getBoundingClientRect();
            return r.top >= 0 && r.top < window.innerHeight / 2; }""", timeout=15_000)
        page.screenshot(path=str(ARTIFACTS / "find_phone_results.png"))
