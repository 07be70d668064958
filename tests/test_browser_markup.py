"""No data text becomes markup: facility and area names that carry Markdown images and links, HTML, bare
URLs and spreadsheet formulas, shown by the real app in a real browser (Debian's chromium, Playwright).

The first tests check :func:`views.text.md_escape` and :func:`views.text.plain_table` as strings, then
render their output in every Markdown element Streamlit has (a small script, Streamlit's own renderer).
The last one imports the payloads into a copy of the demo region, starts the app on 127.0.0.1:8631,
opens the public page, searches, opens a facility card and the compare table, logs in as an admin and
opens 统计报表 and 数据管理 (uploading a file that carries the payloads too). It records every request
of every frame: none may leave 127.0.0.1, and no link, image or frame in the DOM may point outside.
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
from conftest import running_app
from test_browser import Settle, launched_chromium

from views.text import WORD_JOINER, md_escape, plain_table

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
PORT = 8631
OUTSIDE = "198.51.100.8"  # TEST-NET-2 (RFC 5737): never a real host
PAYLOADS = (
    f"![t](http://{OUTSIDE}/x.png)",
    f"[x](http://{OUTSIDE})",
    f"<img src=http://{OUTSIDE}/y.png>",
    f"http://{OUTSIDE}/bare",
    "www.example.org",
    f'=HYPERLINK("http://{OUTSIDE}","点我")',
    f"<http://{OUTSIDE}/auto>",
    "mail@example.org",
    f"[ref][1]\n\n[1]: http://{OUTSIDE}/ref",
    f'<a href="http://{OUTSIDE}/a">链接</a>',
    ":red[红字] :material/home: $x^2$",
    ":smile: :streamlit: :blue-background[蓝底]",
)
"""Texts that Markdown, HTML or GFM would turn into an image, link or markup."""
ALLOWED_LINK_HOSTS = {"127.0.0.1", f"127.0.0.1:{PORT}", "localhost", f"localhost:{PORT}"}
LIBRARY_LINKS = {"A href=https://leafletjs.com"}
"""Links a library adds on its own, never from the data: Leaflet's attribution prefix (a link the user may
follow; no request is made unless they do). Anything else pointing outside fails the test."""


# ---------------------------------------------------------------- the escape, as strings


@pytest.mark.parametrize("text", PAYLOADS)
def test_md_escape_leaves_nothing_markdown_or_html_could_act_on(text: str) -> None:
    escaped = md_escape(text)
    assert "<" not in escaped and ">" not in escaped  # no tag, no <autolink>
    assert not re.search(r"(?<!\\)[\[\]()!:.=$]", escaped), escaped  # every link/URL character escaped
    assert "\n" not in escaped  # one block: no link reference definition on a line of its own
    # remark-gfm links bare URLs and e-mail addresses found in the text after escapes are resolved, unless
    # the character before is neither space nor punctuation: the word joiner
    plain = escaped.replace("\\", "")
    assert not re.search(f"(?i)(?<!{WORD_JOINER})(https?:|www\\.)", plain), escaped
    assert all(plain[i - 1] == WORD_JOINER for i, c in enumerate(plain) if c == "@"), escaped
    for multi in (md_escape(text, keep_lines=True), md_escape(f"第 3 行：{text}\n文件 {text}", keep_lines=True)):
        for line in multi.split("  \n"):
            assert "<" not in line and not re.search(r"(?<!\\)[\[\]()!:.=$]", line), line


def test_md_escape_keep_lines_joins_lines_with_hard_breaks() -> None:
    assert md_escape("第一行\n\n  第二行 [x](y)  \n", keep_lines=True) == "第一行  \n第二行 \\[x\\]\\(y\\)"
    assert md_escape(None, keep_lines=True) == ""


def test_plain_table_escapes_every_text_cell_and_header() -> None:
    frame = pd.DataFrame({"名称": list(PAYLOADS), PAYLOADS[0]: range(len(PAYLOADS))})
    shown = plain_table(frame)
    assert list(shown["名称"]) == [md_escape(t) for t in PAYLOADS]
    assert shown.columns[1] == md_escape(PAYLOADS[0]) and list(shown.iloc[:, 1]) == list(range(len(PAYLOADS)))
    assert list(frame["名称"]) == list(PAYLOADS)  # the input is not modified


# ---------------------------------------------------------------- a real browser


def _chromium_or_skip() -> None:
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (apt-get install chromium fonts-noto-cjk)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def chromium():
    """One headless chromium for this module's tests; each opens a context of its own (:class:`_Browser`)."""
    _chromium_or_skip()
    with launched_chromium("--disable-sync", "--no-pings") as browser:
        yield browser


class _Browser:
    """One page, in a context of its own, that records the URL of every request of every frame."""

    def __init__(self, browser) -> None:
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 1400}, locale="zh-CN")
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        self.settle = Settle(self.page)
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def outside_requests(self) -> list[str]:
        out = []
        for url in self.requests:
            parsed = urlparse(url)
            if parsed.scheme in ("data", "blob", "about", "chrome-extension"):
                continue
            if parsed.hostname not in ("127.0.0.1",):
                out.append(url)
        return out

    def outside_elements(self) -> list[str]:
        """Links, images, frames and the like in every frame's DOM that point to another host."""
        found = []
        for frame in self.page.frames:
            try:
                urls = frame.evaluate("""() => {
                    const out = [];
                    const attr = (sel, name) => document.querySelectorAll(sel).forEach(
                        el => out.push(el.tagName + ' ' + name + '=' + el.getAttribute(name)));
                    attr('a[href]', 'href'); attr('img[src]', 'src'); attr('iframe[src]', 'src');
                    attr('source[src]', 'src'); attr('video[src]', 'src'); attr('audio[src]', 'src');
                    attr('image[href]', 'href'); attr('link[href]', 'href'); attr('script[src]', 'src');
                    attr('form[action]', 'action');
                    document.querySelectorAll('*').forEach(el => {
                        const bg = getComputedStyle(el).backgroundImage;
                        if (bg && bg.includes('url(')) out.push(el.tagName + ' background=' + bg);
                    });
                    return out; }""")
            except Exception:  # a frame that went away while we looked
                continue
            for item in urls:
                if item in LIBRARY_LINKS or re.match(r"\w+ (href|src)=data:", item):
                    continue  # an inline data: URI (the page icon) makes no request
                hosts = re.findall(r"(?:https?:)?//([^/\s\"')]+)", item)
                if any(h not in ALLOWED_LINK_HOSTS for h in hosts) or "198.51.100.8" in item or "example.org" in item:
                    found.append(item)
        return found

    def close(self) -> None:
        self.context.close()


def _assert_clean(b: _Browser, where: str) -> None:
    assert not b.dialogs, (where, b.dialogs)
    outside = b.outside_requests()
    assert not outside, (where, outside[:10])
    elements = b.outside_elements()
    assert not elements, (where, elements[:10])


RENDER_SCRIPT = """
import pandas as pd
import streamlit as st
from views.text import md_escape, plain_table

PAYLOADS = {payloads!r}
joined = " ".join(PAYLOADS)
st.title("渲染检查")
for i, text in enumerate(PAYLOADS):
    safe = md_escape(text)
    st.markdown(f"**名称**：{{safe}}")
    st.caption(safe)
    st.write(safe)
    st.subheader(safe)
    st.info(md_escape(text + "\\n第二行 " + text, keep_lines=True))
    st.checkbox(safe, key=f"c{{i}}")
    st.button(safe, key=f"b{{i}}")
    with st.expander(safe):
        st.markdown(safe)
st.radio("选择", [md_escape(t) for t in PAYLOADS], key="r")
st.table(plain_table(pd.DataFrame({{"名称": list(PAYLOADS), "编号": range(len(PAYLOADS))}})))
st.markdown("渲染完毕")
"""


def test_escaped_text_renders_as_text_in_every_markdown_element(tmp_path: Path, chromium) -> None:
    """Streamlit's own Markdown renderer, in chromium: the escaped payloads show as their characters."""
    script = tmp_path / "render_check.py"
    script.write_text(textwrap.dedent(RENDER_SCRIPT.format(payloads=PAYLOADS)), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(PORT, env, ARTIFACTS / "streamlit_markup_render.log", script=script):
        b = _Browser(chromium)
        try:
            b.page.goto(f"http://127.0.0.1:{PORT}/", wait_until="domcontentloaded")
            b.page.get_by_text("渲染完毕").first.wait_for(timeout=60_000)
            _wait_quiet(b)
            body = b.page.inner_text("body").replace(WORD_JOINER, "")
            b.page.screenshot(path=str(ARTIFACTS / "markup_render.png"), full_page=True)
            _assert_clean(b, "render check")
            # the payloads are shown as the characters typed (one line each), never acted on
            for text in PAYLOADS:
                shown = " ".join(text.split())
                assert shown in body, (text, body[:2000])
            # no link or image made from the text at all (headings' own "#anchor" links aside)
            made = b.page.evaluate("""() => [...document.querySelectorAll(
                "[data-testid='stMarkdownContainer'] a, [data-testid='stMarkdownContainer'] img,"
                + " [data-testid='stTable'] a, [data-testid='stTable'] img")]
                .filter(el => !(el.tagName === 'A' && (el.getAttribute('href') || '').startsWith('#')))
                .map(el => el.outerHTML)""")
            assert not made, made[:5]
        finally:
            b.close()


# ---------------------------------------------------------------- the real app


def _hostile_layers(demo_region) -> dict:
    """The demo layers with a payload in every facility's name and address, and in one area's name."""
    layers = {name: layer.copy() for name, layer in demo_region.layers.items()}
    fac = layers["facilities"]
    n = len(PAYLOADS)
    fac["name"] = [f"{PAYLOADS[i % n]} {i}" for i in range(len(fac))]
    fac["address"] = [PAYLOADS[(i + 3) % n] for i in range(len(fac))]
    areas = layers["areas"]
    streets = areas.index[areas["level"] == "street"]
    if len(streets):
        areas.loc[streets[0], "name"] = f"![街道](http://{OUTSIDE}/street.png)"
    return layers


@pytest.fixture(scope="module")
def hostile_app(demo_region, tmp_path_factory):
    """The app on 127.0.0.1:8631 over the hostile copy of the demo region, with an admin account."""
    _chromium_or_skip()
    from data.auth import add_user
    from data.store import save_region

    root = tmp_path_factory.mktemp("markup_regions")
    save_region("demo", _hostile_layers(demo_region),
                {k: v for k, v in demo_region.manifest.items() if k == "sources"}, root=root)
    users = root.parent / "markup_users.toml"
    add_user(users, "admin", "admin", "admin-pass-1")
    env = {**os.environ, "ELDERMAP_REGIONS": str(root), "ELDERMAP_USERS": str(users),
           "ELDERMAP_LOGIN_DELAY_S": "0"}
    env.pop("ELDERMAP_SETTINGS", None)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(PORT, env, ARTIFACTS / "streamlit_markup.log") as url:
        yield url, root


def _wait_quiet(b: _Browser, since: int | None = None) -> None:
    """Until the app has finished its script runs (one started after ``since`` among them, when given) and the
    page and its frames have made no request for a while (:class:`test_browser.Settle`): everything the page
    shows has been drawn and asked for."""
    b.settle.wait(b.page, since=since)


def _hostile_upload(path: Path) -> Path:
    rows = [{"机构名称": PAYLOADS[i % len(PAYLOADS)].replace("\n", " "), "机构类型": "养老服务站",
             "地址": PAYLOADS[(i + 1) % len(PAYLOADS)].replace("\n", " "), "经度": 24.94 + i * 0.001,
             "纬度": 60.17, "床位数": "=1+1" if i == 0 else 5}
            for i in range(len(PAYLOADS))]
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8")
    return path


def test_hostile_names_stay_text_in_every_page(hostile_app, tmp_path: Path, chromium) -> None:
    url, _ = hostile_app
    b = _Browser(chromium)
    page = b.page
    try:
        # the public page: the overview map, counts and the full list
        page.goto(url + "/", wait_until="domcontentloaded")
        page.get_by_text("找养老服务").first.wait_for(timeout=60_000)
        page.get_by_text("设施列表").first.wait_for(timeout=60_000)
        _wait_quiet(b)
        _assert_clean(b, "public page")

        # search, recommend
        box = page.get_by_role("textbox", name="地址或地名", exact=True)
        box.fill("灯塔社区")
        box.press("Enter")
        page.get_by_text("当前起点").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="查找").click()
        page.get_by_text("为您推荐").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="查看详情").first.wait_for(timeout=60_000)
        _wait_quiet(b)
        _assert_clean(b, "results")

        # a facility card
        page.get_by_role("button", name="查看详情").first.click()
        page.get_by_text("设施详情").first.wait_for(timeout=60_000)
        _wait_quiet(b)
        _assert_clean(b, "facility card")
        card = page.inner_text("body")
        assert "设施详情" in card

        # the compare table: tick two
        for k in range(2):
            runs = b.settle.started
            page.get_by_text("加入对比").nth(k).click()
            _wait_quiet(b, since=runs)
        page.get_by_text(re.compile(r"对比（2 家）")).first.wait_for(timeout=60_000)
        _wait_quiet(b)
        _assert_clean(b, "compare")
        page.screenshot(path=str(ARTIFACTS / "markup_public.png"), full_page=True)
        public_text = page.inner_text("body").replace(WORD_JOINER, "")
        for text in PAYLOADS[:4]:
            assert text in public_text, text  # the names show as typed

        # staff pages, logged in as the admin
        page.goto(url + "/reports", wait_until="domcontentloaded")
        page.get_by_role("textbox", name="用户名").wait_for(timeout=60_000)
        page.get_by_role("textbox", name="用户名").fill("admin")
        page.get_by_role("textbox", name="密码").fill("admin-pass-1")
        page.get_by_role("button", name="登录").click()
        page.get_by_text("各社区养老服务设施数量").first.wait_for(timeout=90_000)
        _wait_quiet(b)
        _assert_clean(b, "统计报表")
        page.screenshot(path=str(ARTIFACTS / "markup_reports.png"), full_page=True)

        page.get_by_role("link", name="数据管理").first.click()
        page.get_by_text("上传并校验数据文件").first.wait_for(timeout=60_000)
        _wait_quiet(b)
        upload = _hostile_upload(tmp_path / "www.example.org.csv")
        runs = b.settle.started
        page.locator("input[type='file']").first.set_input_files(str(upload))
        _wait_quiet(b, since=runs)
        page.get_by_role("button", name="校验").click()
        page.get_by_text("下载问题报告").first.wait_for(timeout=90_000)
        _wait_quiet(b)
        page.screenshot(path=str(ARTIFACTS / "markup_data.png"), full_page=True)
        _assert_clean(b, "数据管理")
        assert "www.example.org.csv" in page.inner_text("body").replace(WORD_JOINER, "")
    finally:
        b.close()
