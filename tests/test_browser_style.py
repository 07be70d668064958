"""Type, targets, contrast and language in a real browser (Debian's chromium driven by Playwright).

Starts the app on 127.0.0.1:8681 with a copy of the demo region and an admin account, opens the public
page 找养老服务 and, logged in, the staff pages 数据管理 (file uploader, tables, radios, selectbox) and
统计报表 (a chart, a date input), and reads what the browser computed:

- every visible text is at least 18 px, st.dataframe's canvas grid included;
- every visible text has a contrast of at least 7:1 against the background it is drawn on (colours and
  opacities as computed, translucent backgrounds composed over what lies below);
- every checkbox, radio option, button, input and navigation link is at least 44 px tall;
- ``<html lang="zh-CN">``; no English word of Streamlit's own (Upload, Choose, Open, Increment, ...) in
  the visible text or in the labels read to screen readers; the maps' scale shows metres, never feet.

Screenshots go to ``tests/artifacts/`` (style_find.png, style_data.png, style_reports.png).
"""

from __future__ import annotations

import contextlib
import os
import re
import time

import pytest
from conftest import running_app
from test_browser import (  # not "tests.": pygeoapi installs a "tests" package
    ARTIFACTS,
    Settle,
    _chromium_or_skip,
    launched_chromium,
    new_page,
)

PORT = 8681
MIN_FONT_PX = 18.0
MIN_CONTRAST = 7.0
MIN_TARGET_PX = 44.0
ADMIN, ADMIN_PASSWORD = "admin", "admin-pass-1"

DENIED_TEXT = re.compile(r"\b(Upload|Choose|Open|Increment|Decrement|ft|mi|MB per file|Drag and drop|Press Enter|"
                         r"Skip to main content|Running|Browse files)\b")
"""Streamlit's (and Leaflet's) own English words that must not show on a page."""

DENIED_LABEL = re.compile(r"\b(Open|Close|Choose|Increment|Decrement|Upload|Remove|Clear|Show|Hide|Collapse|Expand|"
                          r"Main menu|Link to|Copy|Download|Search|Fullscreen|Selected|Sidebar|App pages|file upload|"
                          r"Zoom in|Zoom out|Previous|Next|year|month|day|Vega|axis)\b")
"""English in aria-label, title, placeholder or alt: what a screen reader would read out."""

PAGE_FACTS_JS = r"""() => {
  const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, below) => { const a = top[3] + below[3] * (1 - top[3]); if (a === 0) return [0, 0, 0, 0];
    return [0, 1, 2].map(i => (top[i] * top[3] + below[i] * below[3] * (1 - top[3])) / a).concat([a]); };
  const lum = (c) => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const background = (el) => {  // the colour below el: the backgrounds of el and of its ancestors whose box
    const layers = [], box = el.getBoundingClientRect();  // holds el's centre, composed on white
    const x = box.left + box.width / 2, y = box.top + box.height / 2;
    for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
      const r = e.getBoundingClientRect();
      if (c[3] > 0 && x >= r.left && x <= r.right && y >= r.top && y <= r.bottom) {
        layers.push(c); if (c[3] >= 1) break; } }
    let bg = [255, 255, 255, 1];
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const opacity = (el) => { let o = 1;
    for (let e = el; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity); return o; };
  const hidden = '[aria-hidden="true"],script,style,noscript,[data-testid="stSkipToContent"]';
  const shown = (el) => { if (el.closest(hidden)) return false;
    const cs = getComputedStyle(el); if (cs.visibility !== 'visible' || cs.display === 'none') return false;
    const r = el.getBoundingClientRect(); return r.width > 1 && r.height > 1 && opacity(el) > 0.05; };
  const facts = {lang: document.documentElement.lang, text: [], small: [], faint: [], low: [], labels: [], grids: []};
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement, text = node.nodeValue.trim();
    if (!text || !el || !shown(el)) continue;
    if (el.closest('[data-testid="stElementToolbar"]')) continue;  // appears on hover only
    facts.text.push(text);
    const cs = getComputedStyle(el), size = parseFloat(cs.fontSize);
    if (size < %(min_font)s) facts.small.push([text.slice(0, 40), cs.fontSize]);
    if (el.closest('button:disabled,[disabled],[aria-disabled="true"]')) continue;  // WCAG exempts disabled controls
    const fg = parse(el instanceof SVGElement ? cs.fill : cs.color); fg[3] *= opacity(el);  // charts: SVG text
    const bg = background(el), r = ratio(over(fg, bg), bg);
    if (r < %(min_contrast)s)
      facts.faint.push([text.slice(0, 40), cs.color, 'on', 'rgb(' + bg.slice(0, 3).map(Math.round) + ')',
                        r.toFixed(2)]);
  }
  const targets = '[data-testid="stCheckbox"] label, [data-testid="stRadioOption"], [data-testid="stToggle"] label, ' +
    'button, [role="button"], [data-testid="stSidebarNavLink"], [data-testid="stExpander"] summary, ' +
    'input:not([type="checkbox"]):not([type="radio"]):not([type="range"]):not([type="file"])';
  for (const el of document.querySelectorAll(targets)) {
    if (!shown(el) || el.closest('[data-testid="stElementToolbar"]')) continue;
    const r = el.getBoundingClientRect();
    if (r.height < %(min_target)s) facts.low.push([el.getAttribute('data-testid') || el.tagName,
      (el.getAttribute('aria-label') || el.textContent || '').trim().slice(0, 30),
      Math.round(r.width), Math.round(r.height)]);
  }
  for (const el of document.querySelectorAll('[aria-label],[title],[placeholder],[alt]'))
    for (const name of ['aria-label', 'title', 'placeholder', 'alt']) { const v = el.getAttribute(name);
      if (v) facts.labels.push([name, v, el.tagName]); }
  for (const el of document.querySelectorAll('[style*="--gdg-base-font-style"]')) {
    const style = getComputedStyle(el).getPropertyValue('--gdg-base-font-style');
    if (style) facts.grids.push(style.trim());
  }
  return facts;
}""" % {"min_font": MIN_FONT_PX, "min_contrast": MIN_CONTRAST, "min_target": MIN_TARGET_PX}
"""Facts of the page as the browser computed them (texts, small type, low contrast, small targets, labels)."""

MAP_FACTS_JS = r"""() => ({
  lang: document.documentElement.lang,
  scale: [...document.querySelectorAll('.leaflet-control-scale-line')].map(e => e.textContent.trim()),
  zoom: [...document.querySelectorAll('.leaflet-control-zoom a')].map(a => [a.title, a.getAttribute('aria-label')]),
  labels: [...document.querySelectorAll('[aria-label],[title]')].flatMap(e => [e.getAttribute('aria-label'), e.title])
    .filter(Boolean),
  links: [...document.querySelectorAll('a[href^="http"]')].map(a => a.href),
})"""


@pytest.fixture(scope="module")
def style_app_url(demo_region, tmp_path_factory):
    """The app on 127.0.0.1:8681 with a copy of the demo region and an admin account."""
    from data.auth import add_user
    from data.store import save_region

    _chromium_or_skip()
    root = tmp_path_factory.mktemp("style_regions")
    save_region("demo", dict(demo_region.layers), {k: v for k, v in demo_region.manifest.items() if k == "sources"},
                root=root)
    users = root.parent / "users.toml"
    add_user(users, ADMIN, "admin", ADMIN_PASSWORD)
    env = {**os.environ, "ELDERMAP_REGIONS": str(root), "ELDERMAP_USERS": str(users), "ELDERMAP_LOGIN_DELAY_S": "0"}
    env.pop("ELDERMAP_SETTINGS", None)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "streamlit_style.log"
    with running_app(PORT, env, log, extra_args=("--server.fileWatcherType", "none")) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    """One chromium for this module's tests; each opens a context of its own (test_browser.launched_chromium)."""
    _chromium_or_skip()
    with launched_chromium() as browser:
        yield browser


def _check_page(page, name: str) -> dict:
    """Check the page's facts; returns them for page-specific checks."""
    facts = page.evaluate(PAGE_FACTS_JS)
    page.screenshot(path=str(ARTIFACTS / f"style_{name}.png"), full_page=True)
    assert facts["lang"] == "zh-CN", f"{name}: <html lang={facts['lang']!r}>"
    assert not facts["small"], f"{name}: text below {MIN_FONT_PX} px: {facts['small'][:10]}"
    assert not facts["faint"], f"{name}: text below {MIN_CONTRAST}:1 contrast: {facts['faint'][:10]}"
    assert not facts["low"], f"{name}: tap targets below {MIN_TARGET_PX} px: {facts['low'][:10]}"
    english = [t for t in facts["text"] if DENIED_TEXT.search(t)]
    assert not english, f"{name}: English shows through: {english[:10]}"
    labels = [lab for lab in facts["labels"] if DENIED_LABEL.search(lab[1])]
    assert not labels, f"{name}: English labels for screen readers: {labels[:10]}"
    for style in facts["grids"]:  # st.dataframe draws on a canvas: its font comes from the theme
        size = float(re.search(r"([\d.]+)px", style).group(1))
        assert size >= MIN_FONT_PX, f"{name}: data grid font {style!r}"
    return facts


def _map_frames(page, timeout_s: float = 60) -> list:
    deadline = time.time() + timeout_s
    frames = []
    while time.time() < deadline and not frames:
        frames = [f for f in page.frames if "streamlit_folium" in f.url]
        page.wait_for_timeout(500)
    return frames


def test_public_page_is_large_clear_and_chinese(style_app_url: str, chromium) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with new_page(chromium, viewport={"width": 1280, "height": 1400}, locale="zh-CN") as page:
        page.goto(style_app_url + "/", wait_until="domcontentloaded")
        page.get_by_text("第一步").first.wait_for(timeout=60_000)
        frames = _map_frames(page)
        assert frames, "no map iframe"
        for frame in frames:
            frame.wait_for_function("document.querySelector('.leaflet-control-scale-line')", timeout=60_000)
            facts = frame.evaluate(MAP_FACTS_JS)
            assert facts["lang"] == "zh-CN", facts
            assert facts["scale"] and all(re.fullmatch(r"\d+ (m|km)", s) for s in facts["scale"]), facts
            zoom_titles = [t or "" for pair in facts["zoom"] for t in pair]
            assert zoom_titles and not any(DENIED_LABEL.search(t) for t in zoom_titles), facts
            assert not [t for t in facts["labels"] if re.search(r"[A-Za-z]{3,}", t)], facts["labels"]
            assert not facts["links"], facts["links"]  # Leaflet's credit is plain text
        # typing in a text box shows Streamlit's "Press Enter to apply" hint: it must read in Chinese
        page.get_by_role("textbox", name="地址或地名", exact=True).fill("灯塔")
        with contextlib.suppress(PlaywrightTimeout):  # the hint shows, relabelled, within the 1.5 s it ever had
            page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="InputInstructions"]')]
                .some(e => e.innerText.includes('按回车键确认'))""", timeout=1500)
        facts = _check_page(page, "find")
        assert "按回车键确认" in "\n".join(facts["text"])
        assert any(lab[1] == "加一档" for lab in facts["labels"]), "number inputs' step buttons not relabelled"


def test_staff_page_is_large_clear_and_chinese(style_app_url: str, chromium) -> None:
    with new_page(chromium, viewport={"width": 1280, "height": 1400}, locale="zh-CN") as page:
        settle = Settle(page)
        page.goto(style_app_url + "/data", wait_until="domcontentloaded")
        page.get_by_role("textbox", name="用户名").fill(ADMIN)
        page.get_by_role("textbox", name="密码").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.get_by_text("上传并校验数据文件").first.wait_for(timeout=60_000)
        page.get_by_test_id("stFileUploaderDropzone").first.wait_for(timeout=30_000)
        settle.wait(page)  # the run is over and the page has drawn and loaded all it shows
        facts = _check_page(page, "data")
        shown = "\n".join(facts["text"])
        assert "上传文件" in shown and re.search(r"每个文件不超过 \d+ MB", shown), "the uploader is not in Chinese"
        assert facts["grids"], "no data grid measured"
        # 统计报表: a chart (SVG text drawn by Vega) and a date input
        page.get_by_role("link", name="统计报表").click()
        page.get_by_text("试点申报地区基本情况表").first.wait_for(timeout=60_000)
        page.locator('[data-testid="stVegaLiteChart"] svg text').first.wait_for(timeout=60_000)
        settle.wait(page)
        _check_page(page, "reports")
        page.get_by_role("button", name=re.compile("^选择日期")).first.click()  # the calendar pops up
        page.get_by_role("button", name="下个月").first.wait_for(timeout=10_000)
        page.wait_for_timeout(500)
        _check_page(page, "reports_calendar")
