"""AppTest of the planner page (views.planner): coverage, gaps, siting and scenarios on the demo region."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import as_read, button, copy_demo_region, map_args, open_app, run, shown_text, table_with
from privacy_support import pids_found
from streamlit.testing.v1 import AppTest

from data import audit, store
from data.exports import csv_bytes, geojson_bytes, xlsx_bytes
from geo.settings import Settings
from planning.coverage import region_coverage
from planning.gaps import gaps
from planning.scenario import apply_scenario, base_scenario, compare, new_scenario
from planning.sites import site_facilities

SCRIPT = Path(__file__).resolve().parent / "apps" / "planner_app.py"
S = Settings()
DAY = "日间照料中心"


@pytest.fixture(scope="module")
def region_root(tmp_path_factory: pytest.TempPathFactory, demo_region) -> Path:
    """A writable copy of the demo region shared by this module's tests (scenarios and the audit log go
    beside it)."""
    return copy_demo_region(demo_region, tmp_path_factory.mktemp("view_planner_regions"))


@pytest.fixture(scope="module")
def region(region_root: Path):
    """The demo region as the page loads it from :func:`region_root` (its version is the copy's)."""
    return store.load_region("demo", root=region_root)


@pytest.fixture()
def at(region_root: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The planner page, first run, on :func:`region_root`, with no error shown."""
    monkeypatch.setenv("ELDERMAP_REGIONS", str(region_root))
    app = open_app(SCRIPT)
    assert not app.error, [e.value for e in app.error]
    return app


WIDGET_KINDS = ("selectbox", "multiselect", "number_input", "radio", "toggle", "checkbox", "slider", "text_input",
                "text_area")
RESULT_STATE = ("planner_sites_result", "planner_cmp_params", "planner_saved_message", "planner_last_click",
                "planner_pick_refused")
"""Session state the page keeps besides its widgets: a siting result, a comparison shown, a message, a map click."""


def _widgets(app: AppTest) -> list:
    return [w for kind in WIDGET_KINDS for w in getattr(app, kind) if w.key]


@pytest.fixture(scope="module")
def shared_app(region_root: Path):
    """One planner page on :func:`region_root` (first run, no error shown), shared by the tests that start from a
    first run and only drive its widgets, and the values its widgets had on that first run. Use it through
    :func:`shared_at`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ELDERMAP_REGIONS", str(region_root))
        app = open_app(SCRIPT)
        assert not app.error, [e.value for e in app.error]
        initial = {w.key: w.value for w in _widgets(app)}
        uploads = [u.key for u in app.file_uploader if u.key]
        assert {"planner_cov_kind", "planner_gap_kind", "planner_sites_k", "planner_add_lon"} <= set(initial)
        assert not app.session_state["planner_changes"] and not [k for k in RESULT_STATE if k in app.session_state]
        yield app, initial, uploads


@pytest.fixture()
def shared_at(shared_app, region_root: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The shared page of :func:`shared_app` as a first run leaves it: every widget put back to its first-run value
    and every upload removed (taken by the test's own first run, so no extra rerun), no scenario change pending,
    no siting result, comparison, message or map click kept."""
    monkeypatch.setenv("ELDERMAP_REGIONS", str(region_root))
    app, initial, uploads = shared_app
    for widget in _widgets(app):
        if widget.key in initial and widget.value != initial[widget.key]:
            widget.set_value(initial[widget.key])
    for key in uploads:
        app.file_uploader(key=key).set_value(None)
    app.session_state["planner_changes"] = []
    for key in RESULT_STATE:
        if key in app.session_state:
            del app.session_state[key]
    return app


def _assert_private_and_offline(at: AppTest, region) -> None:
    """No elder id anywhere on the page, and every map is rendered with inline Leaflet and no web links."""
    maps = map_args(at)
    page = shown_text(at) + "\n".join(maps)
    assert not pids_found(page, region.elders["pid"])
    assert maps, "no map was rendered"
    for args in maps:
        assert "leaflet.js" in args
        assert "http://" not in args and "https://" not in args


def test_coverage_tab_matches_region_coverage(shared_at: AppTest, region) -> None:
    at = shared_at
    at.selectbox(key="planner_cov_kind").select(DAY)
    at.selectbox(key="planner_cov_circle").select("10 分钟")
    run(at, errors=False)
    table = table_with(at, "覆盖率(%)")
    expected, _ = region_coverage(region, settings=S, minutes=10, kind=DAY, by="community")
    total = table.iloc[-1]
    assert total["区划代码"] == "合计"
    want = expected.iloc[-1]
    assert (int(total["老年人数"]), int(total["覆盖人数"]), float(total["覆盖率(%)"])) == (
        int(want["elders"]), int(want["covered"]), float(want["coverage_pct"]))
    assert len(table) == len(expected)
    assert f"{int(want['covered'])} / {int(want['elders'])}" in shown_text(at)
    _assert_private_and_offline(at, region)


def test_gaps_tab_lists_top_community_with_reason(shared_at: AppTest, region) -> None:
    at = shared_at
    at.selectbox(key="planner_gap_kind").select(DAY)
    at.selectbox(key="planner_gap_circle").select("10 分钟")
    run(at, errors=False)
    _, comm = gaps(region, settings=S, minutes=10, kind=DAY)
    top = comm.iloc[0]
    table = table_with(at, "社区名称")
    assert table.iloc[0]["社区名称"] == top["name"]
    assert table.iloc[0]["说明"] == top["reason"]
    assert f"**{top['name']}** — {top['reason']}" in shown_text(at)


def test_siting_two_sites_proven_optimal(shared_at: AppTest, region) -> None:
    at = shared_at
    at.selectbox(key="planner_sites_kind").select(DAY)
    at.number_input(key="planner_sites_k").set_value(2)
    button(at, "计算选址").click()
    run(at, errors=False)
    sites = table_with(at, "候选点编号")
    assert len(sites) == 2
    assert list(sites["序号"].astype(int)) == [1, 2]
    assert "已证明最优" in shown_text(at)
    plan = site_facilities(region, settings=S, k=2, minutes=15, kind=DAY)
    assert list(sites["新增覆盖老人数"].astype(int)) == list(plan.sites["newly_covered"])
    before, after = plan.summary["coverage_pct_before"], plan.summary["coverage_pct_after"]
    assert f"{before:.2f}% → {after:.2f}%" in shown_text(at)
    assert [s.label for s in at.status] == ["计算完成"]
    _assert_private_and_offline(at, region)


def test_siting_with_capacity_shows_served_and_unserved(shared_at: AppTest, region) -> None:
    at = shared_at
    at.selectbox(key="planner_sites_kind").select(DAY)
    at.selectbox(key="planner_sites_minutes").select(5)
    at.number_input(key="planner_sites_k").set_value(2)
    at.toggle(key="planner_sites_capacity").set_value(True)
    at.number_input(key="planner_sites_places").set_value(40)
    at.radio(key="planner_sites_solver").set_value("贪心加交换改进（快速近似）")  # quick: the exact path is tested in
    button(at, "计算选址").click()  # tests/test_siting_capacity.py
    run(at, errors=False)
    plan = site_facilities(region, settings=S, k=2, minutes=5, kind=DAY, capacity=True, capacity_places=40.0,
                           solver="greedy")
    sites = table_with(at, "名额使用率（%）")
    assert list(sites["名额（人）"].astype(float)) == [40.0, 40.0]
    assert list(sites["分配服务老人数"].astype(float)) == list(plan.sites["assigned_elders"])
    s = plan.summary
    text = shown_text(at)
    assert f"获得服务的老人 {s['served_before']:g} 人" in text and f"→ {s['served_after']:g} 人" in text
    assert f"未获服务 {s['unserved_elders']:g} 人" in text and "名额已满" in text
    existing = table_with(at, "名额来源")
    assert list(existing["设施编号"]) == list(plan.existing["id"])
    first = plan.sites.iloc[0]
    tooltip = f"名额 {first['capacity_places']:g} 人、分配服务 {first['assigned_elders']:g} 人"
    unescaped = [re.sub(r"\\+u([0-9a-fA-F]{4})", lambda u: chr(int(u.group(1), 16)), m) for m in map_args(at)]
    assert any(tooltip in m for m in unescaped)  # the sites' tooltips (JavaScript strings \u-escape Chinese)
    _assert_private_and_offline(at, region)
    # a target share cannot be combined with places
    at.radio(key="planner_sites_goal").set_value("目标覆盖率")
    button(at, "计算选址").click()
    run(at)
    assert any("按名额选址只支持" in e.value for e in at.error)


def test_scenario_save_and_compare(shared_at: AppTest, region, region_root: Path) -> None:
    at = shared_at
    fac = region.facilities
    lon, lat = float(fac.geometry.x.mean()), float(fac.geometry.y.mean())
    at.text_input(key="planner_add_name").input("测试新站")
    at.selectbox(key="planner_add_kind").select(DAY)
    at.number_input(key="planner_add_lon").set_value(round(lon, 6))
    at.number_input(key="planner_add_lat").set_value(round(lat, 6))
    button(at, "添加").click()
    run(at, errors=False)
    closing = next(o for o in at.selectbox(key="planner_close_pick").options if o.startswith("F005 "))
    at.selectbox(key="planner_close_pick").select(closing)
    button(at, "关闭该设施").click()
    run(at, errors=False)
    assert len(at.session_state["planner_changes"]) == 2
    pending = [dict(c) for c in at.session_state["planner_changes"]]
    assert [b.label for b in at.button if b.key and b.key.startswith("planner_change_del_")] == ["删除", "删除"]
    at.text_input(key="planner_save_name").input("测试方案")
    at.text_area(key="planner_save_description").input("新增一处日照、关闭F005")
    button(at, "保存方案").click()
    run(at, errors=False)
    assert any("测试方案" in s.value for s in at.success)
    saved = store.load_scenario("demo", "测试方案", root=region_root)
    assert [c["op"] for c in saved["changes"]] == ["add", "close"]
    assert saved["changes"] == pending  # saved exactly as listed on the page, and reloaded the same
    assert saved["base_version"] == region.path.name
    log = audit.read(region_root)
    assert ((log["action"] == "scenario_save") & (log["user"] == "tester") & (log["region"] == "demo")).any()

    at.selectbox(key="planner_cmp_b").select("测试方案")
    button(at, "比较").click()
    run(at, errors=False)
    table = table_with(at, "覆盖人数变化")
    areas, _ = compare(region, base_scenario(region), saved, settings=S, minutes=15, mode="walk", kind=None,
                       by="street")
    got, want = table.iloc[-1], areas.iloc[-1]
    assert got["区划代码"] == "合计"
    assert (int(got["覆盖人数（方案A）"]), int(got["覆盖人数（方案B）"]), int(got["覆盖人数变化"])) == (
        int(want["covered_a"]), int(want["covered_b"]), int(want["covered_delta"]))
    assert float(got["覆盖率变化(百分点)"]) == pytest.approx(float(want["coverage_pct_delta"]))
    # the reloaded scenario covers as many elders as the page's change list applied directly
    listed = apply_scenario(region, new_scenario("页面修改", base_version=region.path.name, changes=pending),
                            settings=S, minutes=15, mode="walk")
    direct, _ = region_coverage(listed.region, settings=listed.settings, minutes=listed.minutes, mode=listed.mode,
                                by="street")
    assert int(got["覆盖人数（方案B）"]) == int(direct.iloc[-1]["covered"])
    assert int(direct.iloc[-1]["covered"]) != int(want["covered_a"])  # the changes do change coverage
    assert len(map_args(at)) >= 6  # coverage, gaps, point picker, comparison, and A and B side by side
    at.selectbox(key="planner_cmp_a").select("测试方案")
    button(at, "比较").click()
    run(at, errors=False)  # a scenario compared with itself: no duplicate map keys, all deltas zero
    assert (table_with(at, "覆盖人数变化")["覆盖人数变化"].astype(int) == 0).all()
    _assert_private_and_offline(at, region)


class _Upload:
    """What ``st.file_uploader`` returns, as far as the page uses it."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


def test_uploaded_candidates() -> None:
    from views.planner import _read_upload

    csv = "编号,经度,纬度\nA1,24.94,60.17\nA2,,60.16\nA3,24.95,60.165\n".encode("utf-8-sig")
    candidates = _read_upload(_Upload("候选点.csv", csv))
    assert list(candidates["candidate_id"]) == ["A1", "A3"]


def test_download_files(region) -> None:
    """The page's downloads (data.exports): XLSX and CSV read back equal, GeoJSON keeps the reasons."""
    table = pd.DataFrame({"名称": ["甲社区", "合计"], "覆盖率(%)": [50.0, 75.5]})
    assert pd.read_excel(io.BytesIO(xlsx_bytes(table))).equals(table)
    assert csv_bytes(table).decode("utf-8-sig").splitlines()[0] == "名称,覆盖率(%)"
    assert pd.read_csv(io.BytesIO(csv_bytes(table)), encoding="utf-8-sig").equals(table)
    cells, _ = gaps(region, settings=S, minutes=10, kind=DAY)
    assert json.loads(geojson_bytes(cells))["features"][0]["properties"]["reason"] == cells.iloc[0]["reason"]


def test_scenario_list_upload_and_services_edit(shared_at: AppTest, region) -> None:
    at = shared_at
    fac = region.facilities
    listed = pd.DataFrame({"编号": ["L1", "L2", "F001"], "名称": ["清单一站", "清单二站", "重复编号"],
                           "类型": [DAY, "不存在的类型", DAY],
                           "经度": [float(fac.geometry.x.iloc[3])] * 3, "纬度": [float(fac.geometry.y.iloc[3])] * 3})
    at.file_uploader(key="planner_add_upload").set_value(
        ("新增设施.csv", listed.to_csv(index=False).encode("gbk"), "text/csv"))
    run(at)
    next(b for b in at.button if b.key == "planner_add_upload_go").click()
    run(at)  # the refused rows are reported with st.error
    changes = at.session_state["planner_changes"]
    assert [c["id"] for c in changes] == ["L1"]  # the bad kind and the existing id are refused, by row
    errors = as_read(" ".join(e.value for e in at.error))
    assert "第 4 行" in errors and "F001" in errors and "不存在的类型" in errors
    target = next(o for o in at.selectbox(key="planner_beds_pick").options if o.startswith("F002 "))
    at.selectbox(key="planner_beds_pick").select(target)
    at.number_input(key="planner_beds_value").set_value(88)
    at.multiselect(key="planner_services_value").set_value(["助餐", "康复护理"])
    button(at, "设置").click()
    run(at)
    last = at.session_state["planner_changes"][-1]
    assert last == {"op": "set", "id": "F002", "fields": {"beds_total": 88, "services": ["助餐", "康复护理"]}}


# ---------------------------------------------------------------- issue 11: profiles, groups, unassigned


def test_coverage_tab_compares_walking_profiles_and_groups(shared_at: AppTest, region) -> None:
    from planning.coverage import group_coverage_table, profile_coverage

    at = shared_at
    at.selectbox(key="planner_cov_circle").select("10 分钟")
    run(at, errors=False)
    metrics = {m.label: m.value for m in at.metric}
    expected = profile_coverage(region, settings=S, minutes=10, by="community").iloc[-1]
    assert metrics == {"规划（60米/分钟）": f"{expected['coverage_pct:规划']:.1f}%",
                       "体弱（40米/分钟）": f"{expected['coverage_pct:体弱']:.1f}%"}
    assert expected["covered:体弱"] <= expected["covered:规划"]
    assert at.get("vega_lite_chart"), "no chart of coverage by profile"
    side = table_with(at, "覆盖人数（体弱 40米/分钟）")
    assert int(side.iloc[-1]["覆盖人数（体弱 40米/分钟）"]) == int(expected["covered:体弱"])
    groups = table_with(at, "老人群体")
    want = group_coverage_table(region, settings=S, minutes=10, by="community")
    want = want[want["code"] == "合计"].set_index("group")
    got = groups.set_index("老人群体")
    assert int(got.loc["特困", "步行10分钟内覆盖人数(人)"]) == int(want.loc["特困", "covered"])
    assert "按常住老人统计" in shown_text(at)
    # a drive circle has no walking profiles
    at.radio(key="planner_cov_mode").set_value("驾车")
    run(at, errors=False)
    assert not at.metric


def test_gaps_tab_weights_the_chosen_groups(shared_at: AppTest, region) -> None:
    from planning.gaps import with_group_weights

    at = shared_at
    at.selectbox(key="planner_gap_kind").select(DAY)
    at.selectbox(key="planner_gap_circle").select("10 分钟")
    at.multiselect(key="planner_gap_groups").set_value(["特困", "独居"])
    run(at, errors=False)
    at.number_input(key="planner_gap_weight_特困").set_value(3.0)
    run(at, errors=False)
    _, comm = gaps(region, settings=with_group_weights(S, {"特困": 3.0, "独居": 0.5}), minutes=10, kind=DAY)
    table = table_with(at, "社区名称")
    assert list(table["社区名称"]) == list(comm["name"])
    assert [float(x) for x in table["加权需求"]] == pytest.approx(list(comm["weighted_need"]))
    assert "特困 +3" in shown_text(at)


def test_coverage_tab_warns_when_no_elder_has_a_street(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_groups_profiles import tiny_layers

    root = tmp_path / "regions"
    store.save_region("demo", tiny_layers(), {}, root=root)
    monkeypatch.setenv("ELDERMAP_REGIONS", str(root))
    app = open_app(SCRIPT)
    app.radio(key="planner_cov_level").set_value("街道")
    run(app, errors=False)
    warnings = " ".join(w.value for w in app.warning)
    assert "全部老人都没有街道归属：请导入街道边界或在老人文件中填写所属街道" in warnings
    assert table_with(app, "区划代码")["区划代码"].tolist() == ["未归属", "合计"]


# ---------------------------------------------------------------- issue 12: region extent, audit, fragments


BEIJING = (116.397, 39.909)


def _planner_as(root: str, role: str) -> None:
    """AppTest script: the planner page on "demo" of ``root`` as "planner1" with ``role``."""
    from pathlib import Path

    import streamlit as st

    from data.store import load_region
    from geo.settings import Settings
    from views.planner import render

    @st.cache_resource
    def _region(root: str):  # loaded once, as tests/apps/planner_app.py does (not again on every rerun)
        return load_region("demo", root=root)

    render(_region(root), Settings(), user="planner1", role=role, regions_root=Path(root))


def test_typed_beijing_coordinates_are_refused(shared_at: AppTest, region) -> None:
    at = shared_at
    at.text_input(key="planner_add_name").input("北京新站")
    at.selectbox(key="planner_add_kind").select(DAY)
    at.number_input(key="planner_add_lon").set_value(BEIJING[0])
    at.number_input(key="planner_add_lat").set_value(BEIJING[1])
    button(at, "添加").click()
    run(at)
    errors = as_read(" ".join(e.value for e in at.error))
    assert "北京新站" in errors and f"经度 {BEIJING[0]:.6f}，纬度 {BEIJING[1]:.6f}" in errors
    assert "本地区范围之外" in errors and "本地区范围：经度 24." in errors
    assert not at.session_state["planner_changes"]


def test_a_map_click_outside_the_region_is_refused(at: AppTest, region, monkeypatch: pytest.MonkeyPatch) -> None:
    """The click handler (st_folium's ``last_clicked``) refuses the Kara Sea and takes a point inside."""
    import views.planner as planner

    clicks = {"planner_pick_map": {"lat": 71.07, "lng": 77.34}}
    real = planner.show_map

    def fake_show_map(m, *, key: str, **kwargs):
        real(m, key=key, **kwargs)
        return {"last_clicked": clicks[key]} if key in clicks else None

    monkeypatch.setattr(planner, "show_map", fake_show_map)
    lon0, lat0 = at.session_state["planner_add_lon"], at.session_state["planner_add_lat"]
    run(at)
    errors = as_read(" ".join(e.value for e in at.error))
    assert "地图上点选的位置（经度 77.340000，纬度 71.070000）在本地区范围之外" in errors
    assert (at.session_state["planner_add_lon"], at.session_state["planner_add_lat"]) == (lon0, lat0)
    inside = region.facilities.geometry.iloc[2]
    clicks["planner_pick_map"] = {"lat": float(inside.y), "lng": float(inside.x)}
    run(at, errors=False)
    assert at.session_state["planner_add_lon"] == round(float(inside.x), 6)
    assert at.session_state["planner_add_lat"] == round(float(inside.y), 6)


def test_change_list_with_points_outside_is_refused(shared_at: AppTest, region) -> None:
    at = shared_at
    listed = pd.DataFrame({"编号": ["B1", "B2"], "名称": ["城内", "北京"], "类型": [DAY, DAY],
                           "经度": [float(region.facilities.geometry.x.iloc[3]), BEIJING[0]],
                           "纬度": [float(region.facilities.geometry.y.iloc[3]), BEIJING[1]]})
    at.file_uploader(key="planner_add_upload").set_value(("新增设施.csv", listed.to_csv(index=False).encode(), "text/csv"))
    run(at)
    next(b for b in at.button if b.key == "planner_add_upload_go").click()
    run(at)
    errors = as_read(" ".join(e.value for e in at.error))
    assert "第 3 行（经度 116.397000，纬度 39.909000）" in errors and "本地区范围之外" in errors
    assert not at.session_state["planner_changes"]


def test_scenario_save_and_downloads_are_audited_with_the_role(region_root: Path, region,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from views.planner import Staff, _record_download

    monkeypatch.setenv("ELDERMAP_REGIONS", str(region_root))
    app = run(AppTest.from_function(_planner_as, args=(str(region_root), "planner"), default_timeout=300))
    lon, lat = (float(v) for v in region.facilities.geometry.iloc[1].coords[0])
    app.number_input(key="planner_add_lon").set_value(round(lon + 0.0005, 6))
    app.number_input(key="planner_add_lat").set_value(round(lat, 6))
    button(app, "添加").click()
    run(app, errors=False)
    app.text_input(key="planner_save_name").input("角色方案")
    button(app, "保存方案").click()
    run(app, errors=False)
    log = audit.read(region_root)
    saved = log[(log["action"] == "scenario_save") & (log["user"] == "planner1")]
    assert list(saved["role"]) == ["planner"]
    # every download button of the page records an export with the role when clicked
    _record_download(Staff(user="planner1", role="planner", regions_root=region_root), "demo", "覆盖分析.csv")
    log = audit.read(region_root)
    exported = log[(log["action"] == "export") & (log["user"] == "planner1")]
    assert list(exported["role"]) == ["planner"] and "覆盖分析.csv" in exported.iloc[-1]["detail"]


def test_every_download_button_audits_its_click(region_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each download button of the page is made lazily (bytes only on click) with the audit callback."""
    from streamlit.delta_generator import DeltaGenerator

    from views.planner import Staff, _record_download

    made: list[dict] = []
    real = DeltaGenerator.download_button

    def recording(self, label, data, file_name=None, mime=None, **kwargs):
        made.append({"label": label, "file_name": file_name, "lazy": callable(data), **kwargs})
        return real(self, label, data, file_name, mime, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording)
    monkeypatch.setenv("ELDERMAP_REGIONS", str(region_root))
    run(AppTest.from_function(_planner_as, args=(str(region_root), "viewer"), default_timeout=300))
    assert len(made) >= 8, made  # coverage, profiles, groups, two gap tables: CSV and Excel each
    for button_args in made:
        assert button_args["lazy"], button_args
        assert button_args["on_click"] is _record_download, button_args
        staff, region_name, file_name, version, rows = button_args["args"]
        assert staff == Staff(user="planner1", role="viewer", regions_root=region_root, address="本机")  # AppTest: local
        assert (region_name, file_name) == ("demo", button_args["file_name"])
        assert version == store.current_version("demo", root=region_root) and rows > 0  # issue 14: version, rows
