"""The official tables of a city or province rolled up from its counties (batch/rollup.py; the ``report`` and
``check`` kinds of batch/runner.py).

Two kinds of test:

- by hand: three tiny counties of a city (and a second city of one county under a province) whose stored tables
  are typed here; the city's and the province's rows and totals are typed out by hand (rates recomputed from the
  summed counts, never averaged);
- against the whole: the test province of tests/province_support.py (four counties with cross-border halos; one
  county short of two facilities, another of 400 elders, so the counties differ) run as ``report`` and ``check``
  batches on a real Dask LocalCluster; the rolled-up city table equals ``basic_situation``,
  ``service_circle_table`` and ``provisioning_checks`` run on the whole province in one piece (all counties'
  areas and elders, each facility once), county row for county row.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from batch.hierarchy import ChildRef, leaf_regions, save_parent
from batch.rollup import (
    children_rollup,
    county_table,
    public_table,
    rollup_report,
    table_headers_zh,
    write_rollup_workbook,
)
from batch.runner import (
    BatchError,
    bare_main,
    check_params,
    county_checks,
    county_report,
    result_key,
    run_batch,
    write_batch_report,
)
from data import store
from geo.labels import TOTAL_CODE, TOTAL_NAME, UNASSIGNED
from geo.settings import Settings
from planning.checks import provisioning_checks
from planning.report import BASIC_COLUMNS, basic_situation, service_circle_table

SETTINGS = Settings()
DAY = dt.date(2026, 6, 30)
REPORT = {"minutes": 15.0, "mode": "walk", "date": DAY.isoformat()}
CHECK = {"mode": "walk"}

# ---------------------------------------------------------------- by hand

BASIC_FIGURES = ("communities", "communities_with_facility", "coverage_rate_pct", "fiscal_revenue_10k_yuan",
                 "registered_population", "elders", "oldest_old", "disabled", "institutions", "institution_beds",
                 "institution_residents", "community_facilities", "community_facility_beds",
                 "community_elders_served")


def basic_rows(*rows: tuple) -> pd.DataFrame:
    """An annex-2 table as a county's batch stores it: (code, name, *BASIC_FIGURES) per row, total row included."""
    frame = pd.DataFrame([dict(zip(("code", "name", *BASIC_FIGURES), r, strict=True)) for r in rows])
    for c in ("registered_population", "elders", "oldest_old", "disabled"):
        frame[f"{c}_10k"] = frame[c] / 10_000
    return frame[list(BASIC_COLUMNS)]


# county 甲县 has an unassigned row (10 elders without a district code, no facility); 丙县 has no 居委会
JIA = basic_rows(("410101", "甲", 4, 3, 75.0, 1200.5, 50000, 9000, 1500, 300, 2, 300, 200, 5, 40, 800),
                 (UNASSIGNED, UNASSIGNED, 0, 0, 0.0, 0.0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0),
                 (TOTAL_CODE, TOTAL_NAME, 4, 3, 75.0, 1200.5, 50000, 9010, 1500, 300, 2, 300, 200, 5, 40, 800))
YI = basic_rows(("410102", "乙", 3, 1, 33.3, 800.25, 30000, 6000, 900, 200, 1, 120, 100, 2, 10, 150),
                (TOTAL_CODE, TOTAL_NAME, 3, 1, 33.3, 800.25, 30000, 6000, 900, 200, 1, 120, 100, 2, 10, 150))
BING = basic_rows(("410103", "丙", 0, 0, 0.0, 0.0, 12000, 2500, 400, 90, 0, 0, 0, 1, 6, 30),
                  (TOTAL_CODE, TOTAL_NAME, 0, 0, 0.0, 0.0, 12000, 2500, 400, 90, 0, 0, 0, 1, 6, 30))
DING = basic_rows(("410201", "丁", 2, 2, 100.0, 99.25, 8000, 1490, 200, 10, 1, 80, 60, 1, 4, 20),
                  (TOTAL_CODE, TOTAL_NAME, 2, 2, 100.0, 99.25, 8000, 1490, 200, 10, 1, 80, 60, 1, 4, 20))
CITY = [ChildRef("c-410101", "410101", "甲县"), ChildRef("c-410102", "410102", "乙县"),
        ChildRef("c-410103", "410103", "丙县")]
OTHER = [ChildRef("c-410201", "410201", "丁县")]


def circle_rows(code: str, elders: int, covered: dict[str, int]) -> pd.DataFrame:
    """A county's service-circle table by car (no walking profiles): its row and its total row."""
    row = {"code": code, "name": "", "elders": elders,
           **{f"covered:{k}": v for k, v in covered.items()},
           **{f"coverage_pct:{k}": round(100 * v / elders, 1) for k, v in covered.items()}}
    return pd.DataFrame([row, {**row, "code": TOTAL_CODE, "name": TOTAL_NAME}])


def check_rows(code: str, elders: int, beds: int, inst_beds: int, nursing: int, covered: tuple[int, int]
               ) -> pd.DataFrame:
    """A county's provisioning checks as planning.checks words them (targets: 4 beds per 100, 55 %, 80 %), with the
    elders within each tier's minutes (``covered``) stored beside the shares as batch.runner.county_checks does."""
    share = round(100 * nursing / inst_beds, 1) if inst_beds else np.nan
    tiers = (round(100 * covered[0] / elders, 1), round(100 * covered[1] / elders, 1))
    row = {"code": code, "name": "", "elders": elders, "beds_total": beds,
           "beds_per_100": round(100 * beds / elders, 2), "target_beds_per_100": 4.0,
           "beds_ok": 100 * beds / elders >= 4.0, "institution_beds": inst_beds, "nursing_beds": nursing,
           "nursing_share_pct": share, "target_nursing_share_pct": 55.0,
           "nursing_ok": bool(np.isnan(share) or share >= 55.0),
           "tier:养老机构": tiers[0], "tier_ok:养老机构": tiers[0] >= 80.0,
           "tier:日间照料中心": tiers[1], "tier_ok:日间照料中心": tiers[1] >= 80.0,
           "target_tier_share_pct": 80.0, "flags": "…",
           "_tier_covered:养老机构": covered[0], "_tier_covered:日间照料中心": covered[1]}
    return pd.DataFrame([row, {**row, "code": TOTAL_CODE, "name": TOTAL_NAME}])


def test_the_city_table_by_hand() -> None:
    tables = {"c-410101": JIA, "c-410102": YI, "c-410103": BING}
    city = county_table(tables, CITY, "basic")
    assert list(city["code"]) == ["410101", "410102", "410103", TOTAL_CODE]
    assert list(city["name"]) == ["甲县", "乙县", "丙县", TOTAL_NAME]  # names from the hierarchy
    assert list(city["region"].iloc[:3]) == ["c-410101", "c-410102", "c-410103"]
    # 甲县's row is its own total: its unassigned elders (in the county, without a district code) included
    assert city.iloc[0]["elders"] == 9010 and city.attrs["other_rows"] == {"c-410101": [UNASSIGNED]}
    assert city.iloc[1][list(BASIC_FIGURES)].tolist() == [3, 1, 33.3, 800.25, 30000, 6000, 900, 200, 1, 120, 100,
                                                          2, 10, 150]
    total = city.iloc[-1]
    # 4 + 3 + 0 communities, 3 + 1 + 0 with a facility: 4 / 7 = 57.1 % (the mean of the rates would be 36.1 %)
    assert total[list(BASIC_FIGURES)].tolist() == [7, 4, 57.1, 2000.75, 92000, 17510, 2800, 590, 3, 420, 300, 8,
                                                   56, 980]
    assert total["registered_population_10k"] == pytest.approx(9.2)
    assert total["elders_10k"] == pytest.approx(1.751) and total["disabled_10k"] == pytest.approx(0.059)
    assert (total["counties"], total["counties_missing"]) == (3, 0)
    # 乙县 failed: left out, said in the total row
    without = county_table({"c-410101": JIA, "c-410103": BING}, CITY, "basic", missing=["c-410102"])
    assert list(without["code"]) == ["410101", "410103", TOTAL_CODE]
    assert without.iloc[-1][["communities", "communities_with_facility", "coverage_rate_pct", "elders"]].tolist() \
        == [4, 3, 75.0, 11510]
    assert (without.iloc[-1]["counties"], without.iloc[-1]["counties_missing"]) == (3, 1)


def test_the_service_circle_and_the_checks_by_hand() -> None:
    circles = {"c-410101": circle_rows("410101", 9010, {"any": 8000, "养老机构": 5000, "助餐点": 4000}),
               "c-410102": circle_rows("410102", 6000, {"any": 5000, "养老机构": 3000}),
               "c-410103": circle_rows("410103", 2500, {"any": 1000})}
    city = county_table(circles, CITY, "circle")
    assert [c for c in city.columns if c.startswith("cover")] == [
        "covered:any", "covered:养老机构", "covered:助餐点", "coverage_pct:any", "coverage_pct:养老机构",
        "coverage_pct:助餐点"]
    # a kind a county does not reach counts 0 covered there (its rate 0 %, from its own elders)
    assert city["covered:助餐点"].tolist() == [4000, 0, 0, 4000]
    assert city["coverage_pct:助餐点"].tolist() == [44.4, 0.0, 0.0, 22.8]  # 4000 / 17510
    total = city.iloc[-1]
    assert (total["elders"], total["covered:any"], total["covered:养老机构"]) == (17510, 14000, 8000)
    assert (total["coverage_pct:any"], total["coverage_pct:养老机构"]) == (80.0, 45.7)  # 14000, 8000 / 17510

    checks = {"c-410101": check_rows("410101", 9010, 340, 300, 180, (7700, 1800)),  # 85.5 %, 20.0 %
              "c-410102": check_rows("410102", 6000, 130, 120, 50, (5400, 5100)),  # 90.0 %, 85.0 %
              "c-410103": check_rows("410103", 2500, 6, 0, 0, (0, 0))}
    city = county_table(checks, CITY, "checks")
    ok = ["beds_ok", "nursing_ok", "tier_ok:养老机构", "tier_ok:日间照料中心"]
    assert city[ok].iloc[:3].to_numpy().tolist() == [[False, True, True, False], [False, False, True, True],
                                                      [False, True, False, False]]
    assert all(isinstance(v, bool) for v in city[ok].iloc[:3].to_numpy().ravel())
    total = city.iloc[-1]
    assert total[ok].tolist() == [0, 2, 2, 1]  # counties passing each check (丙县: no institution beds, not failed)
    assert (total["elders"], total["beds_total"], total["institution_beds"], total["nursing_beds"]) == (
        17510, 476, 420, 230)
    assert total["beds_per_100"] == 2.72 and total["nursing_share_pct"] == 54.8  # 476/17510, 230/420
    # tier shares from the summed covered elders: 13100 / 17510 = 74.8 %, 6900 / 17510 = 39.4 % (the mean of the
    # county shares would be 58.5 % and 35.0 %)
    assert (total["tier:养老机构"], total["tier:日间照料中心"]) == (74.8, 39.4)
    assert "_tier_covered:养老机构" not in public_table(city)
    old = {k: t.drop(columns=[c for c in t.columns if c.startswith("_tier")]) for k, t in checks.items()}
    assert np.isnan(county_table(old, CITY, "checks").iloc[-1]["tier:养老机构"])  # results stored without the counts
    for what, table, minutes, mode in (("checks", city, None, "walk"), ("circle", county_table(circles, CITY, "circle"),
                                                                         10.0, "drive"),
                                       ("basic", county_table({"c-410101": JIA}, CITY, "basic"), None, "walk")):
        headers = table_headers_zh(what, table, settings=SETTINGS, minutes=minutes, mode=mode)
        assert set(public_table(table).columns) <= set(headers), what  # every column has a Chinese header
    assert total["flags"] == ("3 个区县中 0 个全部达标：每百名老人床位达标 0 个；护理型床位占比达标 2 个；"
                              "养老机构覆盖达标 2 个；日间照料中心覆盖达标 1 个")


@pytest.fixture()
def tiny_province(tmp_path: Path) -> Path:
    """Province ``sheng`` (41) of city ``shi-4101`` (甲乙丙县) and city ``shi-4102`` (丁县), as stored regions."""
    root = tmp_path / "regions"
    box = shapely.box(113.0, 34.0, 113.1, 34.1)
    for child in [*CITY, *OTHER]:
        areas = gpd.GeoDataFrame({"code": [child.code], "name": [child.name], "level": ["district"]},
                                 geometry=[box], crs="EPSG:4326")
        store.save_region(child.region, {"areas": areas}, {"synthetic": {"elders": True}}, root=root)

    def areas(children: list[ChildRef]) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame({"code": [c.code for c in children]}, geometry=[box] * len(children), crs="EPSG:4326")

    save_parent("shi-4101", level="city", children=CITY, areas=areas(CITY), root=root, code="4101", title="一市")
    save_parent("shi-4102", level="city", children=OTHER, areas=areas(OTHER), root=root, code="4102", title="二市")
    cities = [ChildRef("shi-4101", "4101", "一市", "city"), ChildRef("shi-4102", "4102", "二市", "city")]
    save_parent("sheng", level="province", children=cities, areas=areas(cities), root=root, code="41",
                title="某省", manifest_extra={"synthetic": {"elders": True}})
    return root


def test_the_province_table_lists_its_cities_by_hand(tiny_province: Path, tmp_path: Path) -> None:
    root = tiny_province
    tables = {"c-410101": JIA, "c-410102": YI, "c-410103": BING, "c-410201": DING}
    province = children_rollup("sheng", tables, "basic", root=root)
    assert list(province["code"]) == ["4101", "4102", TOTAL_CODE]
    assert list(province["name"]) == ["一市", "二市", TOTAL_NAME]
    assert list(province["level"]) == ["city", "city", "province"]
    assert list(province["counties"]) == [3, 1, 4]
    assert province.iloc[0][list(BASIC_FIGURES)].tolist() == [7, 4, 57.1, 2000.75, 92000, 17510, 2800, 590, 3, 420,
                                                              300, 8, 56, 980]  # the city's total, as above
    assert province.iloc[1][list(BASIC_FIGURES)].tolist() == [2, 2, 100.0, 99.25, 8000, 1490, 200, 10, 1, 80, 60,
                                                              1, 4, 20]
    # 7 + 2 communities, 4 + 2 with a facility: 6 / 9 = 66.7 %; 17510 + 1490 elders
    assert province.iloc[-1][list(BASIC_FIGURES)].tolist() == [9, 6, 66.7, 2100.0, 100000, 19000, 3000, 600, 4, 500,
                                                               360, 9, 60, 1000]
    assert province.iloc[-1]["elders_10k"] == pytest.approx(1.9)
    # 丁县 failed: its city has no county left, so no row; the province counts it missing
    partial = children_rollup("sheng", {k: v for k, v in tables.items() if k != "c-410201"}, "basic", root=root)
    assert list(partial["code"]) == ["4101", TOTAL_CODE]
    assert (partial.iloc[-1]["counties"], partial.iloc[-1]["counties_missing"], partial.iloc[-1]["elders"]) == (
        4, 1, 17510)
    # a city's checks row holds the number of its counties passing; the province's sums them
    checks = {"c-410101": check_rows("410101", 9010, 340, 300, 180, (7700, 1800)),
              "c-410102": check_rows("410102", 6000, 130, 120, 50, (5400, 5100)),
              "c-410103": check_rows("410103", 2500, 6, 0, 0, (0, 0)),
              "c-410201": check_rows("410201", 1490, 80, 80, 60, (1416, 1341))}  # 95.0 %, 90.0 %
    by_city = children_rollup("sheng", checks, "checks", root=root)
    ok = ["beds_ok", "nursing_ok", "tier_ok:养老机构", "tier_ok:日间照料中心"]
    assert by_city[ok].to_numpy().tolist() == [[0, 2, 2, 1], [1, 1, 1, 1], [1, 3, 3, 2]]
    # the province's tier shares from the cities' summed counts: (13100 + 1416) / 19000, (6900 + 1341) / 19000
    assert by_city["tier:养老机构"].tolist() == [74.8, 95.0, 76.4]
    assert by_city["tier:日间照料中心"].tolist() == [39.4, 90.0, 43.4]
    assert by_city["flags"].iloc[-1].startswith("4 个区县中 1 个全部达标")
    assert by_city.iloc[-1]["beds_per_100"] == round(100 * 556 / 19000, 2)

    # the province's workbook: one annex row per city, a sheet of every county, nothing live
    circles = {"c-410101": circle_rows("410101", 9010, {"any": 8000}), "c-410102": circle_rows("410102", 6000,
                                                                                               {"any": 5000}),
               "c-410103": circle_rows("410103", 2500, {"any": 1000}), "c-410201": circle_rows("410201", 1490,
                                                                                               {"any": 1400})}
    from batch.rollup import circle_attrs
    circle = circle_attrs(children_rollup("sheng", circles, "circle", root=root), settings=SETTINGS, minutes=10.0,
                          mode="drive")
    counties = county_table(tables, leaf_regions("sheng", root=root), "basic")
    report = rollup_report("sheng", province, circle, settings=SETTINGS, statistics_date=DAY, minutes=10.0,
                           mode="drive", root=root, checks=by_city, counties_basic=counties,
                           failed=[("c-410999", "计算出错")])
    path = write_rollup_workbook(report, tmp_path / "省.xlsx")
    wb = _open(path)
    assert wb.sheetnames == ["基本情况表", "服务圈覆盖", "配置检查", "各区县基本情况", "说明"]
    labels = _annex_labels(wb["基本情况表"])
    assert labels == ["一市", "二市", "合计"]
    warnings = [c.value for c in wb["基本情况表"]["A"][:3]]
    assert any("合成数据" in str(v) for v in warnings) and any("1 个区县未计入" in str(v) for v in warnings)
    counties_sheet = [r[2] for r in wb["各区县基本情况"].iter_rows(min_row=2, values_only=True)]
    assert counties_sheet == ["甲县", "乙县", "丙县", "丁县", TOTAL_NAME]
    circle_sheet = list(wb["服务圈覆盖"].iter_rows(min_row=2, values_only=True))
    assert circle_sheet[-1][:5] == (TOTAL_CODE, TOTAL_NAME, "任一设施", 19000, 15400)
    assert circle_sheet[-1][5] == pytest.approx(81.1)  # 15400 / 19000
    assert _no_formula(wb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["regions", "省.xlsx"]  # atomic: nothing left beside it


def test_params_of_the_new_kinds() -> None:
    assert check_params("report", {"minutes": 10, "mode": "drive", "date": "2026-06-30"}) == {
        "minutes": 10.0, "mode": "drive", "date": "2026-06-30"}
    assert check_params("report", {})["date"] == dt.date.today().isoformat()
    assert check_params("check", {"minutes": 15.0, "mode": "walk"}) == {"mode": "walk"}  # tiers: the settings'
    with pytest.raises(BatchError, match="统计日期应为 YYYY-MM-DD"):
        check_params("report", {"date": "30/06/2026"})
    with pytest.raises(BatchError, match="不认识参数：date"):
        check_params("check", {"date": "2026-06-30"})
    assert result_key("report", check_params("report", REPORT)) != result_key("report", check_params(
        "report", {**REPORT, "date": "2026-07-01"}))  # ages change with the date: another result


# ---------------------------------------------------------------- the test province, against the whole


@pytest.fixture(scope="module")
def province(demo_region, tmp_path_factory):
    """The test province, two counties made different (county 2 without two of its facilities, an institution
    among them; county 3 without 400 elders), split with halos and saved; a fifth county without roads (its tasks
    fail); report and check batches of it on one LocalCluster of two worker processes."""
    from distributed import LocalCluster
    from province_support import COUNTY_CODES, province_layers

    from batch.partition import save_split, split_province

    root = tmp_path_factory.mktemp("rollup") / "regions"
    built = province_layers(demo_region)
    layers = dict(built.layers)
    fac = layers["facilities"]
    in_two = np.flatnonzero((fac["district_code"] == COUNTY_CODES[1]).to_numpy())
    institution = in_two[(fac["kind"].iloc[in_two] == "养老机构").to_numpy()][:1]
    other = in_two[(fac["kind"].iloc[in_two] != "养老机构").to_numpy()][:1]
    layers["facilities"] = fac.drop(index=fac.index[np.concatenate([institution, other])]).reset_index(drop=True)
    eld = layers["elders"]
    in_three = eld.index[(eld["district_code"] == COUNTY_CODES[2]).to_numpy()][:400]
    layers["elders"] = eld.drop(index=in_three).reset_index(drop=True)
    split = split_province(layers, built.counties, settings=SETTINGS, prefix="prov")
    sources = {k: v for k, v in demo_region.manifest.items() if k in ("sources", "synthetic")}
    refs = save_split(split, parent="prov", level="city", root=root, manifest_extra=sources, code="419900",
                      title="试验市")
    broken = layers["elders"][layers["elders"]["district_code"] == COUNTY_CODES[0]].head(20).copy()
    broken["district_code"] = "419909"
    store.save_region("prov-419909", {"elders": broken, "facilities": layers["facilities"]}, {}, root=root)
    parent = store.load_region("prov", root=root)
    save_parent("prov", level="city", children=[*refs, ChildRef("prov-419909", "419909", "无路县")], root=root,
                areas=pd.concat([parent.areas, parent.areas.head(1).assign(code="419909")], ignore_index=True),
                code="419900", title="试验市", manifest_extra={**sources, "partition": parent.manifest["partition"]})
    whole = store.Region("whole", root / "whole" / "v", {}, layers)
    with bare_main(), LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0") as cluster:
        report = run_batch("prov", "report", root=root, settings=SETTINGS, params=REPORT,
                           scheduler=cluster.scheduler_address)
        checks = run_batch("prov", "check", root=root, settings=SETTINGS, params={"minutes": 15.0, **CHECK},
                           scheduler=cluster.scheduler_address)
    return {"root": root, "whole": whole, "report": report, "checks": checks, "codes": list(COUNTY_CODES),
            "split": split}


def test_the_report_batch_equals_the_whole_province_county_for_county(province) -> None:
    """The rolled-up city table equals basic_situation and service_circle_table of the whole province for every
    county row, every column but the name (county 4 has no district polygon of its own in the province's areas, so
    the whole names it ""; the roll-up names it from the hierarchy). The totals differ from the whole's by its
    "未归属" row only (three elders outside every county, which no county holds): counts by that row, rates
    recomputed from the sums."""
    report, whole, codes, root = province["report"], province["whole"], province["codes"], province["root"]
    assert [c.status for c in report.children] == ["done"] * 4 + ["failed"]
    assert report.children[-1].error_zh.startswith("计算出错")
    for child in report.children[:4]:  # the counties do hold halo facilities: the tables must leave them out
        facilities = store.load_region(child.region, root=root).facilities
        assert facilities["halo"].any()
    table = report.table
    assert list(table["code"]) == [*codes, TOTAL_CODE]
    assert list(table["name"]) == ["试验一县", "试验二县", "试验三县", "试验四区", TOTAL_NAME]
    basic = basic_situation(whole, settings=SETTINGS, by="district", statistics_date=DAY).set_index("code")
    figures = [c for c in BASIC_COLUMNS if c not in ("code", "name")]
    pd.testing.assert_frame_equal(table.set_index("code").loc[codes, figures], basic.loc[codes, figures],
                                  check_dtype=False)
    assert table["elders"].iloc[1] != table["elders"].iloc[2]  # the counties differ
    assert table["institutions"].iloc[1] == table["institutions"].iloc[0] - 1
    unassigned = basic.loc[UNASSIGNED]
    assert unassigned["elders"] == 3 and unassigned["communities"] == 0
    total = table.iloc[-1]
    for column in ("communities", "communities_with_facility", "elders", "oldest_old", "disabled", "institutions",
                   "institution_beds", "community_facilities", "community_elders_served", "registered_population"):
        assert total[column] == basic.loc[TOTAL_CODE, column] - unassigned[column], column
    assert total["coverage_rate_pct"] == basic.loc[TOTAL_CODE, "coverage_rate_pct"]
    assert (total["counties"], total["counties_missing"]) == (5, 1)

    circle = report.frames["circle"]
    whole_circle = service_circle_table(whole, settings=SETTINGS, minutes=15.0, by="district", mode="walk")
    whole_circle = whole_circle.set_index("code")
    columns = [c for c in whole_circle.columns if c != "name"]
    assert sorted(c for c in circle.columns if c.startswith("cover")) == sorted(columns[1:])
    pd.testing.assert_frame_equal(circle.set_index("code").loc[codes, columns], whole_circle.loc[codes, columns],
                                  check_dtype=False)  # covered across county lines as in one piece
    total = circle.iloc[-1]
    assert total["elders"] == whole_circle.loc[TOTAL_CODE, "elders"] - 3
    for column in columns[1:]:
        if column.startswith("covered:"):
            assert total[column] == whole_circle.loc[TOTAL_CODE, column] == circle[column].iloc[:4].sum()
            rate = "coverage_pct:" + column.split(":", 1)[1]
            assert total[rate] == round(100 * total[column] / total["elders"], 1)
    assert report.children_table["elders"].tolist() == table["elders"].tolist()  # a city: its children = counties
    lines = "\n".join(report.summary_zh())
    assert "附件2基本情况表" in lines and "失败 1 个" in lines and f"老年人 {int(table['elders'].iloc[-1]):,} 人" in lines
    # the three elders east of the grid are in no county: said beside the figures that leave them out
    assert sum(report.outside.values()) == 3 and "另有 3 名老年人在拆分区县时未分到任何区县" in lines


def test_the_check_batch_equals_the_whole_province_county_for_county(province) -> None:
    """Each county's checks equal provisioning_checks of the whole province on its row: its own beds (halo
    facilities add none) and tier shares with the facilities across the county line (as in one piece)."""
    checks, whole, codes = province["checks"], province["whole"], province["codes"]
    assert checks.params == {"mode": "walk"}  # the minutes given are not a check parameter
    table = checks.table
    assert list(table["code"]) == [*codes, TOTAL_CODE]
    official = provisioning_checks(whole, settings=SETTINGS, by="district", mode="walk").set_index("code")
    columns = [c for c in official.columns if c != "name"]
    got = table.set_index("code").loc[codes, columns]
    for column in columns:
        assert got[column].tolist() == official.loc[codes, column].tolist(), column
    assert table["beds_total"].iloc[1] < table["beds_total"].iloc[0]  # county 2 lost an institution
    ok = [c for c in table.columns if c.endswith("_ok") or c.startswith("tier_ok:")]
    total = table.iloc[-1]
    for column in ok:
        assert total[column] == int(official.loc[codes, column].sum()), column
    assert total["beds_total"] == official.loc[codes, "beds_total"].sum()
    assert total["beds_per_100"] == round(100 * total["beds_total"] / total["elders"], 2)
    # each tier share of the total row: the counties' covered elders summed, over their elders
    rows = [list(official.index).index(c) for c in codes]
    for kind, counts in official.attrs["tier_covered"].items():
        covered = sum(counts[i] for i in rows)
        assert total[f"tier:{kind}"] == round(100 * covered / total["elders"], 1), kind
    assert "_all_ok" not in table and not any(c.startswith("_tier") for c in table)


def test_the_city_workbook_and_resume(province, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    report, checks, root = province["report"], province["checks"], province["root"]
    path = write_batch_report(report, tmp_path / "市.xlsx", settings=SETTINGS, root=root, checks=checks)
    wb = load_workbook(path)
    assert wb.sheetnames == ["基本情况表", "服务圈覆盖", "配置检查", "说明"]
    ws = wb["基本情况表"]
    assert _annex_labels(ws) == ["试验一县", "试验二县", "试验三县", "试验四区", "合计"]
    head = " ".join(str(c.value) for c in ws["A"][:4])
    assert "合成数据" in head and "1 个区县未计入本表" in head and "无路县" not in head  # the region is named
    assert "prov-419909" in head
    assert "申报地区：试验市" in head and "2026年06月30日" in head
    row = _annex_row(ws, "合计")
    total = report.table.iloc[-1]
    assert row[1] == "" or row[1] is None  # the total row is not numbered
    assert row[2] == total["communities"] and row[5] == pytest.approx(total["elders_10k"])
    assert row[-1] == pytest.approx(total["coverage_rate_pct"])
    notes = {r[0]: r[1] for r in wb["说明"].iter_rows(min_row=2, values_only=True)}
    assert "不是下级比率的平均" in notes["汇总方法"] and "周边设施" in notes
    assert notes["未分到区县的老年人"].startswith("拆分为区县时 3 名老年人未分到任何区县")
    check_rows_ = list(wb["配置检查"].iter_rows(min_row=2, values_only=True))
    assert [r[1] for r in check_rows_] == ["419901", "419902", "419903", "419904", TOTAL_CODE]
    assert _no_formula(wb)
    with pytest.raises(BatchError):
        write_batch_report(checks, tmp_path / "x.xlsx", settings=SETTINGS, root=root)
    # --resume (over the four counties that succeeded): nothing computed again, no cluster, the same rows
    refs = leaf_regions("prov", root=root)[:4]
    save_parent("prov-ok", level="city", children=refs, areas=store.load_region("prov", root=root).areas.head(4),
                root=root)
    again = run_batch("prov-ok", "report", root=root, settings=SETTINGS, params=REPORT, resume=True)
    assert [c.status for c in again.children] == ["skipped"] * 4 and again.workers == 0
    for name in ("basic", "circle"):
        pd.testing.assert_frame_equal(again.frames[name].iloc[:4], report.frames[name].iloc[:4])
        first, second = again.frames[name].iloc[-1], report.frames[name].iloc[-1]
        assert (first["counties"], first["counties_missing"]) == (4, 0)
        assert first.drop(["region", "level", "counties", "counties_missing"]).equals(
            second.drop(["region", "level", "counties", "counties_missing"]))
    again = run_batch("prov-ok", "check", root=root, settings=SETTINGS, params=CHECK, resume=True)
    assert [c.status for c in again.children] == ["skipped"] * 4 and again.workers == 0
    pd.testing.assert_frame_equal(again.table.iloc[:4], checks.table.iloc[:4])


def test_a_county_task_equals_the_stored_result(province) -> None:
    """What the workers stored is what the kinds compute here (report and check of county 2)."""
    root = province["root"]
    region = store.load_region("prov-419902", root=root)
    here = county_report(region, settings=SETTINGS, minutes=15.0, mode="walk", date=DAY)
    stored = store.load_result("prov-419902", result_key("report", check_params("report", REPORT)), root=root).frames
    for name, frame in here.items():
        pd.testing.assert_frame_equal(stored[name], frame, check_dtype=False)
    here = county_checks(region, settings=SETTINGS, mode="walk")
    stored = store.load_result("prov-419902", result_key("check", CHECK), root=root).frames
    pd.testing.assert_frame_equal(stored["district"], here["district"], check_dtype=False)
    assert list(here["district"]["code"]) == ["419902", TOTAL_CODE]  # halo facilities make no row of their own


# ---------------------------------------------------------------- workbook helpers


def _open(path: Path):
    from openpyxl import load_workbook

    return load_workbook(path)


def _annex_rows(ws) -> list[tuple]:
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[1] == 1 and r[2] == 2) + 1  # after the numbering row 1–14
    out = []
    for r in rows[start:]:
        if r[0] is None or str(r[0]).startswith("备注"):
            break
        out.append(r)
    return out


def _annex_labels(ws) -> list[str]:
    return [r[0] for r in _annex_rows(ws)]


def _annex_row(ws, label: str) -> tuple:
    return next(r for r in _annex_rows(ws) if r[0] == label)


def _no_formula(wb) -> bool:
    return not any(cell.data_type == "f" for ws in wb.worksheets for row in ws.iter_rows() for cell in row)
