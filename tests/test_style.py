"""The shared look and the sidebar (issue 12): what the public and staff see about the data, no server path
anywhere, Chinese placeholders, the style and script added once per run, and maps with a metric scale.

The browser-only facts (computed type sizes, contrast, tap targets, ``lang``, the relabelled widgets) are
checked in ``tests/test_browser_style.py``.
"""

from __future__ import annotations

import re

import pytest
from conftest import ADMIN, ADMIN_PASSWORD, as_read, login, open_app, open_staff_page, shown_text, switch_page

from data.auth import add_user
from data.store import load_region
from geo.settings import Settings, settings_digest
from layers.basemap import new_map
from views.context import data_date_zh, hide_paths
from views.style import ATTRIBUTE_ZH, CHART_FONT_PX, ELDER_CSS, LOCALE_JS, PLACEHOLDER_ZH, TEXT_ZH, enable_chart_theme

VERSION_RE = re.compile(r"v\d{8}T\d+")
"""A region version id (``v20261201T150655178059-39a4``)."""


def _sidebar_captions(at) -> list[str]:
    """The sidebar's captions as a reader sees them (Markdown escapes undone)."""
    return [as_read(c.value) for c in at.sidebar.caption]


@pytest.fixture()
def accounts(tmp_path, monkeypatch):
    """An admin account (the staff pages need a login), no delay after a wrong password."""
    users = tmp_path / "users.toml"
    add_user(users, ADMIN, "admin", ADMIN_PASSWORD)
    monkeypatch.setenv("ELDERMAP_USERS", str(users))
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
    return users


def test_public_sidebar_shows_the_region_and_a_plain_date_only(small_region_root, accounts):
    at = open_app()
    region = load_region("demo", root=small_region_root)
    assert at.sidebar.selectbox[0].value == "demo"
    assert _sidebar_captions(at) == [f"数据日期：{data_date_zh(region, Settings())}"]
    sidebar = shown_text(at, where=at.sidebar)
    for internal in ("数据版本", "设置", "摘要", region.version, settings_digest(Settings())):
        assert internal not in sidebar, internal
    assert not VERSION_RE.search(shown_text(at)), "a version id on the public page"
    assert str(small_region_root) not in shown_text(at)


def test_staff_sidebar_shows_version_and_settings_digest_but_no_path(small_region_root, accounts, tmp_path,
                                                                      monkeypatch):
    folder = tmp_path / "server-only-folder"
    folder.mkdir()
    settings_file = folder / "local_settings.toml"
    settings_file.write_text("walk_speed_kmh = 3.0\n", encoding="utf-8")
    monkeypatch.setenv("ELDERMAP_SETTINGS", str(settings_file))
    at = open_app()
    assert "server-only-folder" not in shown_text(at)
    assert not any("设置" in c for c in _sidebar_captions(at))  # the public sees no settings at all
    region = load_region("demo", root=small_region_root)
    login(at, ADMIN, ADMIN_PASSWORD)
    captions = _sidebar_captions(at)
    digest = settings_digest(Settings(walk_speed_kmh=3.0))
    assert f"数据版本：{region.version}" in captions
    assert f"设置摘要：{digest}（设置文件 local_settings.toml）" in captions
    assert f"数据日期：{data_date_zh(region, Settings())}" in captions
    for title in ("找养老服务", "统计报表", "数据管理"):
        open_staff_page(at, title)
        shown = shown_text(at)
        assert "server-only-folder" not in shown and str(tmp_path) not in shown, title
        assert str(small_region_root) not in shown, title
    assert "设置文件 local_settings.toml" in shown_text(at)  # 数据管理 names the file, not where it lies


def test_staff_sidebar_with_builtin_settings(staff_demo_root, demo_region):
    at = open_app()
    open_staff_page(at, "数据管理")
    captions = _sidebar_captions(at)
    assert f"数据版本：{load_region('demo', root=staff_demo_root).version}" in captions
    assert f"设置摘要：{settings_digest(Settings())}（内置默认设置）" in captions


def test_users_file_error_shows_no_server_path(small_region_root, tmp_path, monkeypatch):
    folder = tmp_path / "server-only-folder"
    folder.mkdir()
    users = folder / "users.toml"
    users.write_text("users = 1\n", encoding="utf-8")  # not a table of accounts
    monkeypatch.setenv("ELDERMAP_USERS", str(users))
    at = switch_page(open_app(), "数据管理")
    errors = [e.value for e in at.error]
    assert errors and any("users.toml" in e for e in errors), errors
    assert not any("server-only-folder" in e or str(tmp_path) in e for e in errors), errors


def test_no_region_hint_shows_no_server_path(tmp_path, monkeypatch, accounts):
    empty = tmp_path / "server-only-regions"
    monkeypatch.setenv("ELDERMAP_REGIONS", str(empty))
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    at = open_app()
    assert "eldermap demo" in at.info[0].value
    assert "server-only-regions" not in shown_text(at) and str(tmp_path) not in shown_text(at)


@pytest.mark.parametrize(("message", "shown"), [
    ("账号文件 /srv/eldermap/config/users.toml 格式不对", "账号文件 users.toml 格式不对"),
    ("找不到地区“x”（目录 /data/regions/x）。", "找不到地区“x”（目录 x）。"),
    ("cannot read /a/b/manifest.json: [Errno 2] No such file: '/a/b/manifest.json'",
     "cannot read manifest.json: [Errno 2] No such file: 'manifest.json'"),
    ("设置文件 C:\\eldermap\\settings.toml 无效", "设置文件 settings.toml 无效"),
    ("能力等级（GB/T 42195）见 https://std.samr.gov.cn/x/y，CSV/XLSX 均可", None),
    ("步行 3 km/h，路径 /", None),
])
def test_hide_paths(message: str, shown: str | None) -> None:
    assert hide_paths(message) == (message if shown is None else shown)


@pytest.mark.parametrize(("created_at", "zone", "day"), [
    ("2026-11-30T17:00:00+00:00", "Asia/Shanghai", "2026年12月1日"),  # 01:00 next day in Beijing
    ("2026-11-30T15:59:59+00:00", "Asia/Shanghai", "2026年11月30日"),
    ("2026-11-30T17:00:00+00:00", "UTC", "2026年11月30日"),
    ("not a date", "Asia/Shanghai", ""),
])
def test_data_date_in_the_display_time_zone(demo_region, created_at: str, zone: str, day: str) -> None:
    from dataclasses import replace

    region = replace(demo_region, manifest={**demo_region.manifest, "created_at": created_at})
    assert data_date_zh(region, Settings(display_timezone=zone)) == day


def test_style_and_script_are_added_once_per_run_and_are_our_constants(small_region_root, accounts):
    at = open_app()
    html = [h.proto for h in at.get("html")]
    bodies = [h.body for h in html]
    assert bodies.count(f"<style>{ELDER_CSS}</style>") == 1
    scripts = [h for h in html if h.body == LOCALE_JS]
    assert len(scripts) == 1 and scripts[0].unsafe_allow_javascript
    assert sum("<script" in b for b in bodies if "eldermap-locale" in b) == 1


def test_css_and_script_cover_what_issue_12_found() -> None:
    assert "--eldermap-min-font: 18px" in ELDER_CSS and "--eldermap-target: 44px" in ELDER_CSS
    assert 'document.documentElement.lang = "zh-CN"' in LOCALE_JS
    for english in ("Open", "Increment", "Decrement", "Choose an option", "Choose options"):
        assert english in ATTRIBUTE_ZH and not re.search(r"[A-Za-z]{2,}", ATTRIBUTE_ZH[english]), english
    for english in ("Upload", "Press Enter to apply", "Skip to main content"):
        assert english in TEXT_ZH and not re.search(r"[A-Za-z]{2,}", TEXT_ZH[english]), english
    assert "per file" in LOCALE_JS  # "200MB per file" becomes 每个文件不超过 200 MB


def test_visible_placeholders_are_chinese(small_region_root, accounts):
    """Every selectbox or multiselect that shows its placeholder (no value chosen) shows it in Chinese."""
    at = open_app()
    for title in ("找养老服务", "数据管理", "统计报表"):
        if title != "找养老服务":
            open_staff_page(at, title)
        for widget in [*at.selectbox, *at.multiselect]:
            empty = widget.value is None or (isinstance(widget.value, list) and not widget.value)
            if empty:
                assert re.search(r"[\u4e00-\u9fff]", widget.placeholder), (title, widget.label, widget.placeholder)
    assert at.sidebar.selectbox[0].placeholder == PLACEHOLDER_ZH


def test_maps_scale_is_metric_and_zoom_titles_chinese() -> None:
    html = new_map((24.9, 60.1, 25.0, 60.2)).get_root().render()
    assert "L.control.scale({metric: true, imperial: false})" in html
    assert "L.control.scale()" not in html  # Leaflet's default shows feet and miles
    assert '"zoomControl": false' in html and 'zoomInTitle: "放大"' in html and 'zoomOutTitle: "缩小"' in html
    assert 'document.documentElement.lang = "zh-CN"' in html
    assert 'setPrefix("Leaflet")' in html  # the credit without a link out of the intranet
    assert '"aria-label", "关闭"' in html  # popups' close button


def test_charts_draw_axes_and_legends_in_large_type() -> None:
    import altair as alt
    import pandas as pd

    enable_chart_theme()
    enable_chart_theme()  # idempotent
    config = alt.Chart(pd.DataFrame({"x": [1]})).mark_bar().encode(x="x").to_dict()["config"]
    for part in ("axis", "legend"):
        assert config[part]["labelFontSize"] >= 18 and config[part]["titleFontSize"] >= 18, config
    assert CHART_FONT_PX >= 18
