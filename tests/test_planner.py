"""Planner: gaps, scenarios, incremental coverage and site plans on the demo region, checked against
full recomputes, and the CLI commands that expose them."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import copy_demo_region

import eldermap
from data import store
from geo.areas import area_groups
from geo.errors import ScenarioError
from geo.settings import Settings
from planning.catchments import catchment_matrix
from planning.coverage import elder_snap_for, network_for, region_coverage
from planning.gaps import gaps
from planning.incremental import CoverageState, single_catchment
from planning.network import snap_points
from planning.routing import nearest
from planning.scenario import apply_changes, base_scenario, compare, evaluate, new_scenario
from planning.sites import site_facilities

S = Settings()
DAY = "日间照料中心"


@pytest.fixture(scope="module")
def region_root(tmp_path_factory: pytest.TempPathFactory, demo_region) -> Path:
    """A writable copy of the demo region (scenarios are saved beside it)."""
    return copy_demo_region(demo_region, tmp_path_factory.mktemp("planner_regions"))


@pytest.fixture(scope="module")
def region(region_root: Path):
    return store.load_region("demo", root=region_root)


# ---------------------------------------------------------------- incremental coverage


def _full_covered(network, facilities: gpd.GeoDataFrame, elder_snap, minutes: float) -> np.ndarray:
    fac = snap_points(network, facilities, settings=S)
    return nearest(network, fac, elder_snap, max_minutes=minutes).time_min <= minutes


def test_single_catchment_equals_catchment_matrix_row(region) -> None:
    network = network_for(region, "walk", S)
    elders = elder_snap_for(region, "walk", S)
    fac = snap_points(network, region.facilities, settings=S)
    matrix = catchment_matrix(network, fac, elders, cutoff_min=12.0)
    for k in range(len(region.facilities)):
        one = snap_points(network, region.facilities.iloc[[k]], settings=S)
        rows, minutes = single_catchment(network, one, elders, cutoff_min=12.0)
        row = matrix.getrow(k)
        np.testing.assert_array_equal(np.sort(rows), row.indices)
        np.testing.assert_allclose(minutes[np.argsort(rows)], row.data, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_incremental_updates_equal_full_recompute(region, seed: int) -> None:
    rng = np.random.default_rng(seed)
    network = network_for(region, "walk", S)
    elders = elder_snap_for(region, "walk", S)
    minutes = 10.0
    facilities = region.facilities[region.facilities["kind"] == DAY].reset_index(drop=True)
    group, codes = area_groups(region.elders, "community")
    state = CoverageState(network, snap_points(network, facilities, settings=S), facilities["id"], elders,
                          cutoff_min=minutes, area_group=group, area_codes=codes)
    open_fac = facilities.copy()
    np.testing.assert_array_equal(state.covered, _full_covered(network, open_fac, elders, minutes))
    for step in range(6):
        if step % 2 == 0 or len(open_fac) <= 1:  # open a facility at a random elder's home
            home = region.elders.iloc[[int(rng.integers(len(region.elders)))]]
            new = gpd.GeoDataFrame({"id": [f"new{step}"], "kind": [DAY]}, geometry=home.geometry.values, crs=4326)
            before = state.covered.copy()
            change = state.add(f"new{step}", snap_points(network, new, settings=S))
            assert (state.covered >= before).all()  # opening never uncovers anyone
            assert set(change.newly_covered) == set(np.flatnonzero(state.covered & ~before))
            open_fac = pd.concat([open_fac, new], ignore_index=True)
        else:  # close a random open facility
            fid = str(open_fac["id"].iloc[int(rng.integers(len(open_fac)))])
            before = state.covered.copy()
            change = state.close(fid)
            assert set(change.newly_uncovered) == set(np.flatnonzero(before & ~state.covered))
            open_fac = open_fac[open_fac["id"].astype(str) != fid]
        np.testing.assert_array_equal(state.covered, _full_covered(network, open_fac, elders, minutes))
        np.testing.assert_array_equal(state.area_covered, np.bincount(group[state.covered], minlength=len(codes)))


# ---------------------------------------------------------------- gaps


def test_gaps_count_every_uncovered_elder_once(region) -> None:
    cells, communities = gaps(region, settings=S, minutes=10, kind=DAY)
    table, _ = region_coverage(region, settings=S, minutes=10, kind=DAY)
    uncovered = int(table.iloc[-1]["elders"] - table.iloc[-1]["covered"])
    assert cells["uncovered"].sum() == uncovered == communities["uncovered"].sum()
    assert (np.diff(cells["weighted_need"].to_numpy()) <= 0).all()  # ranked by need
    assert list(cells["rank"]) == list(range(1, len(cells) + 1))
    assert (cells["weighted_need"] >= cells["uncovered"]).all()  # weights only add
    unweighted = Settings(gap_weight_80plus=0, gap_weight_disabled=0, gap_group_weights=())
    plain, _ = gaps(region, settings=unweighted, minutes=10, kind=DAY)
    np.testing.assert_allclose(plain["weighted_need"], plain["uncovered"])
    assert cells.crs == "EPSG:4326" and cells.geometry.geom_type.eq("Polygon").all()
    assert all("圈外老人" in r for r in communities["reason"])


# ---------------------------------------------------------------- scenarios


def test_apply_changes_and_their_errors(region) -> None:
    fac = region.facilities
    changed = apply_changes(fac, [
        {"op": "add", "id": "N1", "kind": DAY, "lon": 24.946, "lat": 60.167, "beds_total": 12},
        {"op": "close", "id": "F005"},
        {"op": "set", "id": "F001", "fields": {"beds_total": 300, "services": ["助餐", "助浴"]}},
    ], settings=S)
    assert len(changed) == len(fac) and "F005" not in set(changed["id"]) and "N1" in set(changed["id"])
    assert int(changed.set_index("id").loc["F001", "beds_total"]) == 300
    assert list(changed.set_index("id").loc["F001", "services"]) == ["助餐", "助浴"]
    assert changed.set_index("id").loc["N1", "h3"]
    assert len(region.facilities) == len(fac) and "F005" in set(region.facilities["id"])  # input untouched
    with pytest.raises(ScenarioError, match="已存在"):
        apply_changes(fac, [{"op": "add", "id": "F001", "kind": DAY, "lon": 24.9, "lat": 60.1}], settings=S)
    with pytest.raises(ScenarioError, match="第 2 项修改.*没有编号为 F005"):
        apply_changes(fac, [{"op": "close", "id": "F005"}, {"op": "close", "id": "F005"}], settings=S)
    with pytest.raises(ScenarioError, match="可修改的字段"):
        apply_changes(fac, [{"op": "set", "id": "F001", "fields": {"phone": "1"}}], settings=S)
    with pytest.raises(ScenarioError, match="经度"):
        apply_changes(fac, [{"op": "add", "id": "N2", "kind": DAY, "lon": "东"}], settings=S)
    with pytest.raises(ScenarioError, match="保留名称"):
        new_scenario("base", base_version="v1")


def test_scenario_compare_with_itself_is_zero_and_adding_never_lowers(region) -> None:
    sc = new_scenario("add-two", base_version=region.path.name, minutes=10, changes=[
        {"op": "add", "id": "N1", "kind": DAY, "lon": 24.946111, "lat": 60.167069},
        {"op": "add", "id": "N2", "kind": DAY, "lon": 24.948686, "lat": 60.172745}])
    areas, cells = compare(region, sc, sc, settings=S, kind=DAY)
    assert (areas[["covered_delta", "coverage_pct_delta"]] == 0).all().all() and cells.empty
    areas, cells = compare(region, base_scenario(region), sc, settings=S, kind=DAY)
    assert (areas["covered_delta"] >= 0).all() and (cells["covered_delta"] > 0).all() and len(cells) > 0
    total = areas.iloc[-1]
    assert total["code"] == "合计" and total["covered_delta"] == areas.iloc[:-1]["covered_delta"].sum()
    base = evaluate(region, base_scenario(region), settings=S, minutes=10, kind=DAY)
    assert int(base["coverage"].iloc[-1]["covered"]) == int(total["covered_a"])


def test_scenarios_are_saved_atomically_and_listed(region_root: Path, region) -> None:
    sc = new_scenario("方案A", base_version=region.path.name, changes=[{"op": "close", "id": "F006"}])
    path = store.save_scenario("demo", sc, root=region_root)
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == store.SCENARIO_FORMAT
    assert store.load_scenario("demo", "方案A", root=region_root)["changes"] == sc["changes"]
    assert "方案A" in store.list_scenarios("demo", root=region_root)
    with pytest.raises(ScenarioError, match="已存在"):
        store.save_scenario("demo", sc, root=region_root)
    with pytest.raises(ScenarioError, match="名称.*无效"):
        store.save_scenario("demo", {**sc, "name": "../escape"}, root=region_root)
    store.delete_scenario("demo", "方案A", root=region_root)
    with pytest.raises(ScenarioError, match="没有方案“方案A”"):
        store.load_scenario("demo", "方案A", root=region_root)
    assert not list(path.parent.glob(".*.tmp"))


# ---------------------------------------------------------------- site plans


def test_site_plan_matches_opening_those_sites(region) -> None:
    plan = site_facilities(region, settings=S, k=3, minutes=10, kind=DAY)
    assert plan.result.status == "optimal" and len(plan.sites) == 3
    assert list(plan.sites["rank"]) == [1, 2, 3] and (np.diff(plan.sites["newly_covered_weight"]) <= 0).all()
    # opening the chosen sites as day-care centres gives exactly the plan's coverage
    sc = new_scenario("sites", base_version=region.path.name, changes=[
        {"op": "add", "id": f"S{r.rank}", "kind": DAY, "lon": r.geometry.x, "lat": r.geometry.y}
        for r in plan.sites.itertuples()])
    after = evaluate(region, sc, settings=S, minutes=10, kind=DAY)["coverage"].iloc[-1]
    assert int(after["covered"]) == plan.summary["covered_after"]
    assert plan.summary["covered_after"] - plan.summary["covered_before"] == plan.sites["newly_covered"].sum()
    assert len(plan.elders) == plan.sites["newly_covered"].sum() and plan.elders["pid"].is_unique
    greedy = site_facilities(region, settings=S, k=3, minutes=10, kind=DAY, solver="greedy")
    assert greedy.summary["weight_after"] <= plan.summary["weight_after"] + 1e-9
    # an exclusion area around the best site moves it
    zone = gpd.GeoDataFrame(geometry=[plan.sites.geometry.iloc[0].buffer(0.0005)], crs=4326)
    moved = site_facilities(region, settings=S, k=3, minutes=10, kind=DAY, exclude=zone)
    assert not moved.sites.geometry.within(zone.geometry.iloc[0]).any()
    # a target instead of a count: the fewest sites reaching it
    target = site_facilities(region, settings=S, target_pct=88.0, minutes=10, kind=DAY)
    assert target.summary["coverage_pct_after"] >= 88.0 and target.result.status == "optimal"


# ---------------------------------------------------------------- CLI


def test_cli_gaps_site_scenario_check(region_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    def run(*argv: str) -> tuple[int, str]:
        code = eldermap.main(["--regions", str(region_root), *argv])
        out = capsys.readouterr()
        return code, out.out + out.err

    code, out = run("gaps", "demo", "--minutes", "10", "--kind", DAY, "--out", str(tmp_path / "gaps.geojson"))
    assert code == 0 and "圈外老人" in out
    gap_cells = gpd.read_file(tmp_path / "gaps.geojson")
    assert len(gap_cells) > 0 and (tmp_path / "gaps_社区.geojson").exists()

    candidates = tmp_path / "候选点.csv"
    pd.DataFrame({"编号": ["A", "B", "C"], "经度": [24.946111, 24.948686, 24.9402],
                  "纬度": [60.167069, 60.172745, 60.1678]}).to_csv(candidates, index=False, encoding="gbk")
    code, out = run("site", "demo", "--add", "2", "--minutes", "10", "--kind", DAY, "--candidates", str(candidates),
                    "--out", str(tmp_path / "sites.xlsx"), "--elders-out", str(tmp_path / "newly.csv"))
    assert code == 0 and "已证明最优" in out and "Running HiGHS" not in out
    sites = pd.read_excel(tmp_path / "sites.xlsx")
    assert len(sites) == 2 and set(sites["候选点编号"]) <= {"A", "B", "C"}

    code, out = run("scenario", "new", "demo", "cli-plan", "--add", f"N1,{DAY},24.946111,60.167069,20,新站",
                    "--close", "F005", "--set", "F001:beds_total=300", "--minutes", "10")
    assert code == 0 and "已保存方案" in out
    code, out = run("scenario", "compare", "demo", "base", "cli-plan", "--kind", DAY,
                    "--out", str(tmp_path / "cmp.csv"))
    assert code == 0 and "个百分点" in out
    deltas = pd.read_csv(tmp_path / "cmp.csv")
    assert deltas.iloc[-1]["区划代码"] == "合计"
    code, out = run("scenario", "new", "demo", "bad", "--close", "NOPE")
    assert code == 2 and "没有编号为 NOPE" in out
    code, out = run("scenario", "list", "demo")
    assert "cli-plan" in out and "bad" not in out

    code, out = run("check", "demo", "--by", "street", "--out", str(tmp_path / "check.xlsx"))
    assert code == 0 and "达标" in out and (tmp_path / "check.xlsx").exists()


def test_cli_writes_geopackages(region_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "gaps.gpkg"
    assert eldermap.main(["--regions", str(region_root), "gaps", "demo", "--minutes", "10", "--kind", DAY,
                          "--out", str(out)]) == 0
    cells = gpd.read_file(out, layer="H3网格缺口")
    assert len(cells) > 0 and cells.crs == "EPSG:4326" and "reason" in cells.columns
    assert len(gpd.read_file(tmp_path / "gaps_社区.gpkg")) > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind


# ---------------------------------------------------------------- issue 12: points outside the region


BEIJING_LON_LAT = (116.397, 39.909)
KARA_SEA_LON_LAT = (77.34, 71.07)


def test_points_outside_the_region_are_refused(region) -> None:
    """Typed Beijing coordinates and the Kara Sea click on the Helsinki demo are refused with a message
    naming the point and the extent; a point just inside the margin is accepted."""
    from planning.scenario import apply_scenario, check_change, region_extent

    extent = region_extent(region)
    assert extent is not None
    minx, miny, maxx, maxy = extent
    assert 24 < minx < maxx < 26 and 59 < miny < maxy < 61  # central Helsinki
    for lon, lat in (BEIJING_LON_LAT, KARA_SEA_LON_LAT):
        change = {"op": "add", "id": "N9", "name": "远处新站", "kind": DAY, "lon": lon, "lat": lat}
        with pytest.raises(ScenarioError, match=rf"第 1 项修改.*远处新站.*经度 {lon:.6f}，纬度 {lat:.6f}.*本地区范围之外") as err:
            check_change(change, extent=extent, margin_m=S.region_margin_m)
        assert f"经度 {minx:.4f}–{maxx:.4f}，纬度 {miny:.4f}–{maxy:.4f}" in str(err.value)
        assert "允许外扩 1000 米" in str(err.value)
        with pytest.raises(ScenarioError, match="本地区范围之外"):
            apply_changes(region.facilities, [change], settings=S, extent=extent)
        # a saved scenario holding such a point is refused when applied, not evaluated to "+0"
        with pytest.raises(ScenarioError, match="本地区范围之外"):
            apply_scenario(region, new_scenario("远处", base_version=region.path.name, changes=[change]), settings=S)
        check_change(change)  # without an extent only the degree ranges are checked
    # 500 m east of the extent lies within the 1000 m margin; 1500 m does not
    dlon = 1 / (111_320.0 * np.cos(np.radians((miny + maxy) / 2)))
    near = {"op": "add", "id": "N8", "kind": DAY, "lon": maxx + 500 * dlon, "lat": (miny + maxy) / 2}
    assert check_change(near, extent=extent, margin_m=S.region_margin_m)["lon"] == pytest.approx(near["lon"])
    with pytest.raises(ScenarioError, match="本地区范围之外"):
        check_change({**near, "lon": maxx + 1500 * dlon}, extent=extent, margin_m=S.region_margin_m)


def test_change_file_rows_outside_the_region_are_named(region, tmp_path: Path) -> None:
    from data.plan_inputs import add_changes_from_file
    from geo.errors import InputFileError
    from planning.scenario import region_extent

    extent = region_extent(region)
    inside = (float(region.facilities.geometry.x.iloc[0]), float(region.facilities.geometry.y.iloc[0]))
    path = tmp_path / "新增设施.csv"
    pd.DataFrame({"编号": ["A1", "A2", "A3"], "名称": ["甲", "乙", "丙"], "类型": [DAY] * 3,
                  "经度": [inside[0], BEIJING_LON_LAT[0], KARA_SEA_LON_LAT[0]],
                  "纬度": [inside[1], BEIJING_LON_LAT[1], KARA_SEA_LON_LAT[1]]}).to_csv(path, index=False)
    assert len(add_changes_from_file(path)) == 3  # no extent: not checked here
    with pytest.raises(InputFileError, match=r"新增设施.csv 中有 2 处设施位于本地区范围之外：第 3 行（经度 116.397000，纬度 39.909000）；"
                                             r"第 4 行（经度 77.340000，纬度 71.070000）。本地区范围：经度") as err:
        add_changes_from_file(path, region_extent=extent, margin_m=S.region_margin_m)
    assert "第 2 行" not in str(err.value)
    path.write_text(f"编号,名称,类型,经度,纬度\nA1,甲,{DAY},{inside[0]},{inside[1]}\n", encoding="utf-8")
    assert [c["id"] for c in add_changes_from_file(path, region_extent=extent, margin_m=S.region_margin_m)] == ["A1"]
