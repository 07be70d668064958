"""Interaction latency of the pages in a real browser: headless Chromium (Debian's) driven by Playwright.

    python benchmarks/bench_pages.py                          # this checkout, 8 rounds per interaction
    python benchmarks/bench_pages.py --repo /tmp/i12/base_f   # another checkout (the version before)
    python benchmarks/bench_pages.py --rounds 3 --only find   # quick; the public page only

The app is started with ``streamlit run app.py`` of ``--repo`` on 127.0.0.1 (port ``--port``) on a
demo region built once into a temporary folder (``data.demo.build_demo_layers``), with a temporary
admin account (:data:`BENCH_USER`) for the staff pages. One interaction is timed from the user's
action (click, Enter) until the page has settled: the script run is over (``stApp``'s
``data-test-script-state`` is not "running"), no element is stale, and what the user asked for is on
screen (the results, the comparison, the card, the new list).

Public page 找养老服务 (:func:`find_interactions`), target p95 <= 1 s each:

- ``search``: press 查找 with a new budget (a new query: not a cache hit);
- ``filter``: remove or add back a kind in the overview's kind chooser (地图上/列表中显示的设施类型: the
  list's count changes);
- ``tick_compare``: tick / untick 加入对比 of the second result (对比（2 家） appears / goes);
- ``open_card``: press 查看详情 of the next result (its card's heading is shown and the card's map is
  drawn: :data:`CARD_MAP_DRAWN`); the overview map is checked after each (it must still show its
  markers: ``overview_map_blank`` counts the failures).

Planner page (:func:`planner_interactions`, helper P's part), target p95 <= 2 s each.

Prints one line per interaction: p50, p95, max, the target and whether p95 meets it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BENCH_USER = "bench_admin"
BENCH_PASSWORD = "bench-pass-12"
"""The temporary admin account created for a run (for :func:`planner_interactions`)."""
FIND_TARGET_P95_S = 1.0
PLANNER_TARGET_P95_S = 2.0
SETTLE_TIMEOUT_S = 90.0


# ---------------------------------------------------------------- shared helpers


def settle(page, condition_js: str, *, timeout_s: float = SETTLE_TIMEOUT_S) -> float:
    """Wait until ``condition_js`` (a JS expression over the page) holds and the app has settled (no
    script run, no stale element); return the seconds waited. Raises ``TimeoutError``."""
    started = time.perf_counter()
    script = f"""() => {{
        const app = document.querySelector('[data-testid="stApp"]');
        const state = app ? app.getAttribute('data-test-script-state') : 'none';
        if (state === 'running' || state === 'rerunRequested') return false;
        if (document.querySelector('[data-stale="true"]')) return false;
        return Boolean({condition_js});
    }}"""
    page.wait_for_function(script, timeout=timeout_s * 1000, polling=25)
    return time.perf_counter() - started


def timed(page, action: Callable[[], None], condition_js: str) -> float:
    """Seconds from ``action()`` until the page has settled with ``condition_js`` true."""
    started = time.perf_counter()
    action()
    settle(page, condition_js)
    return time.perf_counter() - started


def body_has(text: str) -> str:
    """JS: the visible body text holds ``text``."""
    return f"document.body.innerText.includes({text!r})"


def body_lacks(text: str) -> str:
    return f"!document.body.innerText.includes({text!r})"


CARD_MAP_DRAWN = """[...document.querySelectorAll('iframe')].some(f => {
    const h = f.getBoundingClientRect().height;
    try { return h > 380 && h < 520 && f.contentWindow.map && f.contentWindow.map.getContainer
          && f.contentWindow.document.querySelector('.leaflet-container canvas'); } catch (e) { return false; } })"""
"""JS: the card's map (420 px high) has Leaflet drawn (its canvas holds the reach and the facility)."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def overview_map_markers(page) -> int:
    """Facility markers drawn on the overview map (the tallest streamlit-folium iframe); 0 when blank."""
    frames = [f for f in page.frames if "streamlit_folium" in f.url]
    best, best_height = None, -1
    for frame in frames:
        try:
            element = frame.frame_element()
            box = element.bounding_box()
        except Exception:  # noqa: BLE001 - a frame being replaced
            continue
        if box and box["height"] > best_height:
            best, best_height = frame, box["height"]
    if best is None:
        return 0
    try:
        return int(best.evaluate("""() => { if (typeof map === 'undefined') return 0; let n = 0;
            map.eachLayer(l => { if (L.MarkerClusterGroup && l instanceof L.MarkerClusterGroup) n += l.getLayers().length;
                                 else if (l instanceof L.CircleMarker) n += 1; }); return n; }"""))
    except Exception:  # noqa: BLE001 - the frame was reloaded while reading it: blank at that moment
        return 0


# ---------------------------------------------------------------- the public page (helper F)


def find_interactions(page, *, rounds: int = 8) -> dict[str, list[float]]:
    """Time the public page's interactions (see the module docstring); ``page`` shows the app's first page.

    Returns ``{interaction: [seconds, ...]}`` plus ``overview_map_blank``: one 1.0 per card opening after
    which the overview map showed no marker.
    """
    out: dict[str, list[float]] = {"search": [], "filter": [], "tick_compare": [], "open_card": [],
                                   "overview_map_blank": []}
    page.get_by_text("第一步").first.wait_for(timeout=SETTLE_TIMEOUT_S * 1000)
    settle(page, "document.querySelectorAll('iframe').length > 0")
    box = page.get_by_role("textbox", name="地址或地名", exact=True)
    box.fill("灯塔社区")
    box.press("Enter")
    settle(page, body_has("当前起点"))
    budget = page.get_by_role("spinbutton", name="每月最多能付多少钱（元，填 0 表示不限）")

    # search: a new budget each time, then 查找
    for i in range(rounds + 1):
        value = 20_000 + 500 * i
        budget.fill(str(value))
        budget.press("Tab")
        settle(page, "true")
        seconds = timed(page, lambda: page.get_by_role("button", name="查找").click(),
                        body_has(f"月预算 {value:,} 元以内") + " && " + body_has("1. "))
        if i:  # the first one builds the networks: a server start, not an interaction
            out["search"].append(seconds)

    # tick compare: the first result stays ticked, the second one is ticked and unticked
    boxes = page.get_by_role("checkbox", name="加入对比")
    boxes.nth(0).check(force=True)
    settle(page, body_has("再勾选"))
    for i in range(rounds):
        second = page.get_by_role("checkbox", name="加入对比").nth(1)
        if i % 2 == 0:
            out["tick_compare"].append(timed(page, lambda s=second: s.check(force=True), body_has("对比（2 家）")))
        else:
            out["tick_compare"].append(timed(page, lambda s=second: s.uncheck(force=True), body_lacks("对比（2 家）")))

    # open card: the next result's card each time
    for i in range(rounds):
        buttons = page.get_by_role("button", name="查看详情")
        count = buttons.count()
        if count == 0:
            break
        target = buttons.nth(i % count)
        heading = target.locator("xpath=ancestor::*[@data-testid='stVerticalBlock'][1]") \
            .locator("h4").first.inner_text()
        name = heading.split(". ", 1)[-1].rsplit("（", 1)[0].strip()
        out["open_card"].append(timed(page, lambda t=target: t.click(),
                                      body_has(f"设施详情：{name}") + " && " + CARD_MAP_DRAWN))
        page.wait_for_timeout(300)
        out["overview_map_blank"].append(0.0 if overview_map_markers(page) > 0 else 1.0)

    # filter: remove the first kind of the overview's chooser, then add it back
    chooser = page.get_by_test_id("stMultiSelect").filter(has_text="设施类型（可多选）")  # 地图上/列表中显示的…
    for i in range(rounds):
        before = page.get_by_text("设施列表（").last.inner_text()
        if i % 2 == 0:
            tag = chooser.locator("[data-tag]").first
            removed = tag.get_attribute("aria-label") or tag.inner_text().strip()
            action = (lambda t=tag: t.locator("button").click())
        else:
            def action(c=chooser, r=removed):  # type: ignore[misc]
                c.locator("input").click()
                page.get_by_role("option", name=r, exact=True).click()
                page.keyboard.press("Escape")
        out["filter"].append(timed(page, action,
                                   f"!Array.from(document.querySelectorAll('h3')).some(h => h.innerText === {before!r})"
                                   " && " + body_has("设施列表（")))
    return out


# ---------------------------------------------------------------- the planner page (helper P)


def started_then_settled(page, action: Callable[[], None], condition_js: str, *, start_timeout_s: float = 1.5) -> float:
    """Seconds from ``action()`` until the script run it caused is over and ``condition_js`` holds.

    Waits first (up to ``start_timeout_s``) for the run to begin — the app's state turns "running" or an
    element goes stale — so that a check made before the server answered does not count as settled."""
    started = time.perf_counter()
    action()
    try:
        page.wait_for_function("""() => { const app = document.querySelector('[data-testid="stApp"]');
            const state = app ? app.getAttribute('data-test-script-state') : '';
            return state === 'running' || state === 'rerunRequested' || !!document.querySelector('[data-stale="true"]'); }""",
                               timeout=start_timeout_s * 1000, polling=10)
    except Exception:  # noqa: BLE001 - a run shorter than the polling interval: settle() still checks the result
        pass
    settle(page, condition_js)
    return time.perf_counter() - started


def _planner_login(page) -> None:
    """Log in as :data:`BENCH_USER` with the sidebar form and open 规划分析 (first tab's map drawn)."""
    base = page.url.split("/", 3)
    page.goto("/".join(base[:3]) + "/planning", wait_until="domcontentloaded")
    page.get_by_role("textbox", name="用户名", exact=True).fill(BENCH_USER)
    page.get_by_role("textbox", name="密码", exact=True).fill(BENCH_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("tab", name="覆盖分析").wait_for(timeout=SETTLE_TIMEOUT_S * 1000)
    settle(page, body_has("分钟步行服务圈") + " && document.querySelectorAll('iframe').length > 0")


def _open_panel(page, tab: str):
    """Click the planner tab ``tab`` and return its panel (a locator); tab switching runs no script."""
    page.get_by_role("tab", name=tab).click()
    panel = page.locator("[role=tabpanel]:not([hidden])")
    settle(page, "true")
    return panel


def _choose(page, panel, label: str, option: str) -> Callable[[], None]:
    """An action: pick ``option`` in the panel's selectbox ``label``."""
    def action() -> None:
        panel.get_by_test_id("stSelectbox").filter(has_text=label).first.locator("input").click()
        page.get_by_role("option", name=option, exact=True).click()
    return action


def planner_interactions(page, *, rounds: int = 6) -> dict[str, list[float]]:
    """Time the planner page's controls; ``page`` shows the app (any page). Logs in as :data:`BENCH_USER`.

    Target p95 <= 2 s each (:data:`PLANNER_TARGET_P95_S`). Each interaction alternates between two values
    so that every round is a real change (both values are computed once before timing starts, as a
    planner's first look at a circle builds its networks; later looks are what is timed):

    - ``cov_circle``: 覆盖分析's 服务圈 10 ↔ 15 分钟 (the heading "N 分钟步行服务圈" changes);
    - ``cov_level``: 覆盖分析's 统计单元 社区 ↔ 街道 (the subheading "按…统计" changes);
    - ``gap_circle``: 服务缺口's 服务圈 10 ↔ 15 分钟 (the top community's reason names the minutes);
    - ``scenario_add`` / ``scenario_delete``: 规划方案's 添加 with typed coordinates, then 删除 of that
      change (the count "本方案的修改（n 项）" changes);
    - ``cmp_level``: 比较 after the comparison's 统计单元 changed (the comparison heading is shown).
    """
    out: dict[str, list[float]] = {"cov_circle": [], "cov_level": [], "gap_circle": [], "scenario_add": [],
                                   "scenario_delete": [], "cmp_level": []}
    _planner_login(page)

    panel = _open_panel(page, "覆盖分析")
    for i in range(rounds + 2):  # the first two build the 10- and 15-minute results: not timed
        minutes = 10 if i % 2 == 0 else 15
        seconds = started_then_settled(page, _choose(page, panel, "服务圈", f"{minutes} 分钟"),
                                       body_has(f"{minutes:g} 分钟步行服务圈"))
        if i >= 2:
            out["cov_circle"].append(seconds)
    for i in range(rounds + 2):
        level = "街道" if i % 2 == 0 else "社区"
        seconds = started_then_settled(page, lambda lv=level: panel.get_by_test_id("stRadio").filter(has_text="统计单元")
                                       .first.get_by_text(lv, exact=True).click(), body_has(f"按{level}统计"))
        if i >= 2:
            out["cov_level"].append(seconds)

    panel = _open_panel(page, "服务缺口")
    for i in range(rounds + 2):
        minutes = 10 if i % 2 == 0 else 15
        seconds = started_then_settled(page, _choose(page, panel, "服务圈", f"{minutes} 分钟"),
                                       body_has(f"{minutes:g} 分钟步行圈外老人"))
        if i >= 2:
            out["gap_circle"].append(seconds)

    panel = _open_panel(page, "规划方案")
    lon = panel.locator("input[aria-label='经度']")
    lat = panel.locator("input[aria-label='纬度']")
    lon0, lat0 = float(lon.input_value()), float(lat.input_value())  # the region's centre
    for i in range(rounds):
        lon.fill(f"{lon0 + 0.0001 * (i + 1):.6f}")
        lat.fill(f"{lat0:.6f}")
        out["scenario_add"].append(started_then_settled(
            page, lambda: panel.get_by_role("button", name="添加", exact=True).click(), body_has("本方案的修改（1 项）")))
        out["scenario_delete"].append(started_then_settled(
            page, lambda: panel.get_by_role("button", name="删除", exact=True).first.click(),
            body_has("本方案的修改（0 项）")))
    for i in range(rounds + 2):
        level = "社区" if i % 2 == 0 else "街道"

        started_then_settled(page, lambda lv=level: panel.get_by_test_id("stRadio").filter(has_text="统计单元").last
                             .get_by_text(lv, exact=True).click(), "true")
        seconds = started_then_settled(page, lambda: panel.get_by_role("button", name="比较", exact=True).click(),
                                       body_has("相对"))
        if i >= 2:
            out["cmp_level"].append(seconds)
    return out


# ---------------------------------------------------------------- running it


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free for the app
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def build_demo_root(folder: Path) -> tuple[Path, Path]:
    """The demo region under ``folder/regions`` and a users file with the bench admin."""
    from data import store
    from data.auth import add_user
    from data.demo import build_demo_layers
    from geo.settings import Settings

    root = folder / "regions"
    layers, extra = build_demo_layers(settings=Settings())
    store.save_region("demo", layers, extra, root=root)
    users = folder / "users.toml"
    add_user(users, BENCH_USER, "admin", BENCH_PASSWORD)
    return root, users


def start_app(repo: Path, root: Path, users: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "ELDERMAP_REGIONS": str(root), "ELDERMAP_USERS": str(users), "ELDERMAP_LOGIN_DELAY_S": "0"}
    env.pop("ELDERMAP_SETTINGS", None)
    env["PYTHONPATH"] = str(repo)  # the checkout measured, before any installed copy
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(repo / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=repo, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"the app did not start; see {log}")


def report(name: str, results: dict[str, list[float]], target_s: float) -> list[str]:
    lines = []
    for interaction, values in results.items():
        if interaction == "overview_map_blank":
            lines.append(f"{name:8s} {interaction:20s} blank after {int(sum(values))} of {len(values)} card openings "
                         f"(target 0)")
            continue
        if not values:
            lines.append(f"{name:8s} {interaction:20s} (not measured)")
            continue
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        ok = "meets" if p95 <= target_s else "MISSES"
        lines.append(f"{name:8s} {interaction:20s} n={len(values):2d} p50={p50:6.2f}s p95={p95:6.2f}s "
                     f"max={max(values):6.2f}s target p95<={target_s:g}s {ok}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose app.py is measured")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--port", type=int, default=8671)
    parser.add_argument("--only", choices=("find", "planner"), default=None)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="eldermap_bench_") as tmp:
        root, users = build_demo_root(Path(tmp))
        port = _free_port(args.port)
        proc = start_app(args.repo.resolve(), root, users, port, Path(tmp) / "streamlit.log")
        lines = [f"app: {args.repo.resolve()} on 127.0.0.1:{port}; chromium {CHROMIUM}"]
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                    "--no-sandbox", "--disable-background-networking", "--disable-component-update"])
                try:
                    if args.only in (None, "find"):
                        page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
                        page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                        lines += report("find", find_interactions(page, rounds=args.rounds), FIND_TARGET_P95_S)
                        page.close()
                    if args.only in (None, "planner"):
                        page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
                        page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                        lines += report("planner", planner_interactions(page), PLANNER_TARGET_P95_S)
                        page.close()
                finally:
                    browser.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
