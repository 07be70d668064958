"""The planner page in a real browser (Debian's chromium driven by Playwright, offline, port 8661).

Maps inside tabs that are hidden when the page loads used to open at zoom 0 (the whole world), and
a click there set a facility in the Kara Sea. Here a planner logs in, opens 服务缺口 and 规划方案,
reads each Leaflet map's view from its iframe (``map.getBounds()``, ``map.getZoom()``), clicks the
point-picking map and checks that the coordinates it fills lie in the region. Screenshots go to
``tests/artifacts/`` (planner_gaps.png, planner_pick.png).
"""

from __future__ import annotations

import os
import time
from urllib.parse import urlparse

import pytest
from conftest import copy_demo_region, running_app
from test_browser import ARTIFACTS, CHROMIUM, _chromium_or_skip

PORT = 8661
USER, PASSWORD = "planner1", "planner-pass-1"
MIN_ZOOM = 11
"""A map showing central Helsinki (a few km across) at 1280 px is at zoom 13–15; zoom 0 is the world."""


@pytest.fixture(scope="module")
def planner_app(demo_region, tmp_path_factory):
    """(url, region extent, regions root): the app on a copy of the demo region, with a planner account."""
    from data.auth import add_user
    from planning.scenario import region_extent

    _chromium_or_skip()
    base = tmp_path_factory.mktemp("browser_planner")
    root = copy_demo_region(demo_region, base / "regions")
    users = base / "users.toml"
    add_user(users, USER, "planner", PASSWORD)
    env = {**os.environ, "ELDERMAP_REGIONS": str(root), "ELDERMAP_USERS": str(users), "ELDERMAP_LOGIN_DELAY_S": "0"}
    env.pop("ELDERMAP_SETTINGS", None)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "streamlit_planner.log"
    with running_app(PORT, env, log) as url:
        yield url, region_extent(demo_region), root


def login_planner(page, url: str, *, user: str = USER, password: str = PASSWORD) -> None:
    """Open the planner page and log in with the sidebar form; wait for the first tab's map."""
    page.goto(url + "/planning", wait_until="domcontentloaded")
    page.get_by_role("textbox", name="用户名", exact=True).fill(user)
    page.get_by_role("textbox", name="密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("tab", name="覆盖分析").wait_for(timeout=120_000)


def visible_map_frames(page, *, timeout_s: float = 120.0) -> list:
    """The Leaflet frames (streamlit-folium iframes) of the open tab, once their maps exist, top first."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        handles = page.locator("[role=tabpanel]:not([hidden]) iframe[title*='streamlit_folium']").element_handles()
        frames = []
        for handle in handles:
            box = handle.bounding_box()
            frame = handle.content_frame()
            if box and box["width"] > 0 and box["height"] > 0 and frame is not None:
                try:
                    ready = frame.evaluate("typeof map !== 'undefined' && map.getContainer().clientWidth > 0")
                except Exception:  # the frame is still loading
                    ready = False
                if ready:
                    frames.append((box["y"], handle, frame))
        if frames:
            return [(h, f) for _, h, f in sorted(frames, key=lambda t: t[0])]
        page.wait_for_timeout(500)
    raise AssertionError("no visible map in the open tab")


def map_view(frame) -> dict:
    """The Leaflet map's zoom and bounds (west, south, east, north) in degrees, after it settled."""
    frame.wait_for_timeout(800)
    return frame.evaluate("""() => { const b = map.getBounds(); return {zoom: map.getZoom(),
        west: b.getWest(), south: b.getSouth(), east: b.getEast(), north: b.getNorth()}; }""")


COUNT_LAYERS_JS = """() => { let cells = 0, markers = 0; map.eachLayer(l => {
    if (l instanceof L.CircleMarker) markers += 1; else if (l instanceof L.Polygon) cells += 1; });
    return [cells, markers]; }"""
"""JS: [polygons (cells and community outlines), circle markers (facilities)] drawn on the map."""
FREE_POINT_JS = """([minx, miny, maxx, maxy]) => {
    const taken = [];
    map.eachLayer(l => { if (l instanceof L.CircleMarker) taken.push(map.latLngToContainerPoint(l.getLatLng())); });
    const size = map.getSize();
    let best = null, bestGap = -1;
    for (let i = 1; i < 12; i++) for (let j = 1; j < 12; j++) {
        const p = map.latLngToContainerPoint([miny + (maxy - miny) * i / 12, minx + (maxx - minx) * j / 12]);
        if (p.x < 60 || p.y < 60 || p.x > size.x - 60 || p.y > size.y - 60) continue;
        const gap = Math.min(...taken.map(t => t.distanceTo(p)), 1e9);
        if (gap > bestGap) { best = p; bestGap = gap; }
    }
    return [best.x, best.y];
}"""


def _assert_shows_region(view: dict, extent, what: str) -> None:
    minx, miny, maxx, maxy = extent
    assert view["zoom"] >= MIN_ZOOM, f"{what}: zoom {view['zoom']} (the whole world at 0): {view}"
    cx, cy = (view["west"] + view["east"]) / 2, (view["south"] + view["north"]) / 2
    assert minx <= cx <= maxx and miny <= cy <= maxy, f"{what}: centre {cx:.4f},{cy:.4f} outside {extent}"
    assert view["east"] - view["west"] < 4 * (maxx - minx), f"{what}: view far wider than the region: {view}"


def test_hidden_tab_maps_show_the_region_and_clicks_land_in_it(planner_app) -> None:
    from playwright.sync_api import sync_playwright

    url, extent, _ = planner_app
    hosts: set[str] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-component-update",
            "--disable-default-apps", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
            page.on("request", lambda r: hosts.add(urlparse(r.url).netloc)
                    if urlparse(r.url).scheme in ("http", "https", "ws", "wss") else None)
            login_planner(page, url)
            _, first = visible_map_frames(page)[0]
            _assert_shows_region(map_view(first), extent, "覆盖分析")

            page.get_by_role("tab", name="服务缺口").click()
            _, gap_map = visible_map_frames(page)[0]
            _assert_shows_region(map_view(gap_map), extent, "服务缺口")
            page.screenshot(path=str(ARTIFACTS / "planner_gaps.png"))
            cells, markers = gap_map.evaluate(COUNT_LAYERS_JS)
            assert cells > 0 and markers > 0, (cells, markers)
            # another circle: the cells are swapped in the map already shown (no reload, the view is kept)
            gap_map.evaluate("window.eldermapMark = 1")
            panel = page.locator("[role=tabpanel]:not([hidden])")
            panel.get_by_test_id("stSelectbox").filter(has_text="服务圈").first.locator("input").click()
            page.get_by_role("option", name="10 分钟", exact=True).click()
            page.get_by_text("10 分钟步行圈外老人").first.wait_for(timeout=60_000)
            deadline = time.time() + 30
            while time.time() < deadline and gap_map.evaluate(COUNT_LAYERS_JS) == [cells, markers]:
                page.wait_for_timeout(300)
            assert gap_map.evaluate("window.eldermapMark") == 1, "the map was reloaded"
            cells_10, markers_10 = gap_map.evaluate(COUNT_LAYERS_JS)
            assert cells_10 != cells and markers_10 == markers, (cells, cells_10, markers, markers_10)
            _assert_shows_region(map_view(gap_map), extent, "服务缺口 10 分钟")

            page.get_by_role("tab", name="规划方案").click()
            handle, pick = visible_map_frames(page)[0]
            view = map_view(pick)
            _assert_shows_region(view, extent, "规划方案 选点地图")
            lon_box = page.locator("input[aria-label='经度']")
            lat_box = page.locator("input[aria-label='纬度']")
            before = (lon_box.input_value(), lat_box.input_value())
            handle.scroll_into_view_if_needed()
            box = handle.bounding_box()
            # a point of the region away from every marker (a click on a marker opens its card instead)
            x, y = pick.evaluate(FREE_POINT_JS, list(extent))
            page.mouse.click(box["x"] + x, box["y"] + y)
            deadline = time.time() + 60
            while time.time() < deadline and (lon_box.input_value(), lat_box.input_value()) == before:
                page.wait_for_timeout(300)
            lon, lat = float(lon_box.input_value()), float(lat_box.input_value())
            page.screenshot(path=str(ARTIFACTS / "planner_pick.png"))
            assert (str(lon), str(lat)) != before, "the click did not fill the coordinates"
            minx, miny, maxx, maxy = extent
            assert minx <= lon <= maxx and miny <= lat <= maxy, f"clicked {lon},{lat} outside {extent}"
            # the clicked point is where the map showed it: inside the view read above
            assert view["west"] <= lon <= view["east"] and view["south"] <= lat <= view["north"]
        finally:
            browser.close()
    others = sorted(h for h in hosts if h != urlparse(url).netloc)
    assert not others, f"requests to other hosts: {others}"
