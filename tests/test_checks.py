"""Provisioning checks: a hand-computed street, the demo region, and settings that change the verdicts."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from data.store import Region
from geo.settings import Settings
from planning.checks import CHECK_COLUMNS_ZH, check_columns_zh, checks_summary, provisioning_checks

ORIGIN_LON, ORIGIN_LAT = 113.61, 34.74  # Zhengzhou
M_PER_DEG_LAT = 111_320.0
M_PER_DEG_LON = M_PER_DEG_LAT * np.cos(np.radians(ORIGIN_LAT))
DAY_CARE, INSTITUTION = "日间照料中心", "养老机构"


def _point(x_m: float) -> shapely.Point:
    """A point x metres east of the origin, on the street."""
    return shapely.Point(ORIGIN_LON + x_m / M_PER_DEG_LON, ORIGIN_LAT)


def _codes(x_m: np.ndarray) -> dict[str, list[str]]:
    """District 甲区 (410101) west of 2,000 m, 乙区 (410102) east of it; 乙区 has two streets split at 3,500 m."""
    x_m = np.asarray(x_m, dtype=float)
    street = np.where(x_m < 2000, "410101001", np.where(x_m < 3500, "410102001", "410102002"))
    return {"district_code": [s[:6] for s in street], "street_code": list(street),
            "community_code": [s + "001" for s in street]}


def tiny_region(path) -> Region:
    """A straight 4 km street at 3 km/h (50 m/min) with hand-checkable travel times.

    甲区: institution (30 beds, 20 nursing) and day-care centre (5 beds) at 500 m; 10 elders, 9 within
    200 m (4 min) of them and one at 1,200 m (14 min). 乙区: institution (2 beds, 1 nursing) at 3,000 m
    and a meal point without beds at 2,500 m; 45 elders within 600 m (12 min) of the institution and
    15 at 850–990 m (17–20 min); the nearest day-care centre is at least 1,900 m (38 min) away.
    丙区 is in the areas layer only: no elders, no facilities.
    """
    nodes = np.arange(0, 4001, 500)
    edges = gpd.GeoDataFrame(
        {"u": nodes[:-1] + 1, "v": nodes[1:] + 1, "highway": "residential", "oneway": False,
         "maxspeed_kmh": np.nan, "access": None, "foot": None, "motor_vehicle": None},
        geometry=[shapely.LineString([_point(a), _point(b)]) for a, b in zip(nodes[:-1], nodes[1:], strict=True)],
        crs=4326)
    fx = np.array([500.0, 500.0, 3000.0, 2500.0])
    facilities = gpd.GeoDataFrame(
        {"id": ["F1", "F2", "F3", "F4"], "name": ["甲养老院", "甲日照", "乙养老院", "乙助餐点"],
         "kind": [INSTITUTION, DAY_CARE, INSTITUTION, "助餐点"],
         "beds_total": pd.array([30, 5, 2, None], dtype="Int64"),
         "beds_nursing": pd.array([20, 5, 1, None], dtype="Int64"), **_codes(fx)},
        geometry=[_point(x) for x in fx], crs=4326)
    ex = np.concatenate([[300, 350, 400, 450, 500, 550, 600, 650, 700, 1200],
                         2400 + 20 * np.arange(45), 3850 + 10 * np.arange(15)]).astype(float)
    elders = gpd.GeoDataFrame(
        {"pid": [f"P{i:020x}" for i in range(len(ex))], "oldest_old": False, "ability_code": 0, **_codes(ex)},
        geometry=[_point(x) for x in ex], crs=4326)
    areas = gpd.GeoDataFrame(
        {"code": ["410101", "410102", "410103", "410101001", "410102001", "410102002"],
         "name": ["甲区", "乙区", "丙区", "甲街道", "乙一街道", "乙二街道"],
         "level": ["district"] * 3 + ["street"] * 3},
        geometry=[None] * 6, crs=4326)
    return Region("tiny", path, {}, {"facilities": facilities, "elders": elders, "areas": areas, "road_edges": edges})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Region:
    return tiny_region(tmp_path_factory.mktemp("checks") / "v1")


@pytest.fixture(scope="module")
def tiny_table(tiny: Region) -> pd.DataFrame:
    return provisioning_checks(tiny, settings=Settings(), by="district")


def test_hand_computed_districts(tiny_table: pd.DataFrame) -> None:
    t = tiny_table.set_index("code")
    assert list(tiny_table["code"]) == ["410101", "410102", "410103", "合计"]
    assert list(tiny_table["name"]) == ["甲区", "乙区", "丙区", "全部地区"]
    assert list(tiny_table.columns) == list(CHECK_COLUMNS_ZH)

    a = t.loc["410101"]  # meets every target
    assert [a["elders"], a["beds_total"], a["beds_per_100"]] == [10, 35, 350.0]
    assert [a["institution_beds"], a["nursing_beds"], a["nursing_share_pct"]] == [30, 20, 66.7]
    assert [a[f"tier:{INSTITUTION}"], a[f"tier:{DAY_CARE}"]] == [100.0, 90.0]
    assert a["beds_ok"] and a["nursing_ok"] and a[f"tier_ok:{INSTITUTION}"] and a[f"tier_ok:{DAY_CARE}"]
    assert a["flags"] == "全部达标"

    b = t.loc["410102"]  # fails beds, nursing share and both tiers
    assert [b["elders"], b["beds_total"], b["beds_per_100"]] == [60, 2, 3.33]  # the meal point has no beds
    assert [b["institution_beds"], b["nursing_beds"], b["nursing_share_pct"]] == [2, 1, 50.0]
    assert [b[f"tier:{INSTITUTION}"], b[f"tier:{DAY_CARE}"]] == [75.0, 0.0]
    assert not (b["beds_ok"] or b["nursing_ok"] or b[f"tier_ok:{INSTITUTION}"] or b[f"tier_ok:{DAY_CARE}"])
    assert b["flags"] == ("每百名老人床位 3.33 张，低于目标 4.0；护理型床位占比 50.0%，低于目标 55%；"
                          "养老机构步行 15 分钟覆盖 75.0%，低于目标 80%；日间照料中心步行 5 分钟覆盖 0.0%，低于目标 80%")

    c = t.loc["410103"]  # no elders: ratios NaN, nothing fails
    assert c["elders"] == 0 and c["beds_total"] == 0
    assert np.isnan([c["beds_per_100"], c["nursing_share_pct"], c[f"tier:{INSTITUTION}"], c[f"tier:{DAY_CARE}"]]).all()
    assert c["beds_ok"] and c["nursing_ok"] and c[f"tier_ok:{INSTITUTION}"] and c[f"tier_ok:{DAY_CARE}"]
    assert c["flags"] == "无老人数据"

    total = t.loc["合计"]
    areas = tiny_table.iloc[:-1]
    for col in ("elders", "beds_total", "institution_beds", "nursing_beds"):
        assert areas[col].sum() == total[col]
    assert [total["elders"], total["beds_total"], total["beds_per_100"], total["nursing_share_pct"]] == [70, 37, 52.86, 65.6]
    assert [total[f"tier:{INSTITUTION}"], total[f"tier:{DAY_CARE}"]] == [78.6, 12.9]  # 55 / 70, 9 / 70
    assert total["flags"] == "养老机构步行 15 分钟覆盖 78.6%，低于目标 80%；日间照料中心步行 5 分钟覆盖 12.9%，低于目标 80%"
    assert tiny_table["beds_ok"].dtype == bool and tiny_table[f"tier_ok:{DAY_CARE}"].dtype == bool
    assert (tiny_table[["target_beds_per_100", "target_nursing_share_pct", "target_tier_share_pct"]]
            == [4.0, 55.0, 80.0]).all().all()
    assert checks_summary(tiny_table) == "3 个区县中 1 个未全部达标：乙区；1 个区县无老人数据"


def test_by_street_splits_and_reconciles(tiny: Region, tiny_table: pd.DataFrame) -> None:
    streets = provisioning_checks(tiny, settings=Settings(), by="street")
    assert list(streets["code"]) == ["410101001", "410102001", "410102002", "合计"]
    s = streets.set_index("code")
    # 乙一街道: 45 elders all within 12 min of its institution; 乙二街道: 15 elders, no beds, none within 15 min
    assert [s.loc["410102001", "elders"], s.loc["410102001", "beds_per_100"], s.loc["410102001", f"tier:{INSTITUTION}"]] \
        == [45, 4.44, 100.0]
    assert [s.loc["410102002", "elders"], s.loc["410102002", "beds_per_100"], s.loc["410102002", f"tier:{INSTITUTION}"]] \
        == [15, 0.0, 0.0]
    assert "无养老机构床位，未检查护理型床位占比" in s.loc["410102002", "flags"]
    assert s.loc["410102002", "nursing_ok"] and np.isnan(s.loc["410102002", "nursing_share_pct"])
    pd.testing.assert_series_equal(streets.iloc[-1], tiny_table.iloc[-1], check_names=False)
    assert checks_summary(streets) == "3 个街道（乡镇）中 2 个未全部达标：乙一街道、乙二街道"


def test_settings_change_the_verdicts(tiny: Region, tiny_table: pd.DataFrame) -> None:
    no_beds_target = provisioning_checks(tiny, settings=Settings(target_beds_per_100_elders=0.0))
    assert no_beds_target["beds_ok"].all() and not tiny_table["beds_ok"].all()
    assert not no_beds_target["flags"].str.contains("床位 ").any()
    assert (no_beds_target["target_beds_per_100"] == 0.0).all()

    # a 45-minute day-care tier reaches 2,250 m: the 18 elders of 乙区 at 2,400–2,740 m, and all of 甲区
    wider = provisioning_checks(tiny, settings=Settings(tier_minutes=((DAY_CARE, 45.0),), target_tier_share_pct=30.0))
    assert f"tier:{INSTITUTION}" not in wider and list(wider.columns) == list(check_columns_zh(Settings(
        tier_minutes=((DAY_CARE, 45.0),))))
    w = wider.set_index("code")
    assert [w.loc["410101", f"tier:{DAY_CARE}"], w.loc["410102", f"tier:{DAY_CARE}"]] == [100.0, 30.0]
    assert w.loc["410102", f"tier_ok:{DAY_CARE}"] and w.loc["合计", f"tier:{DAY_CARE}"] == 40.0  # 28 / 70

    # a kind the region does not have: share 0, the check fails and says why
    missing = provisioning_checks(tiny, settings=Settings(tier_minutes=(("养老服务站", 10.0),)))
    m = missing.set_index("code")
    assert [m.loc["410101", "tier:养老服务站"], m.loc["410102", "tier:养老服务站"]] == [0.0, 0.0]
    assert not m.loc["410101", "tier_ok:养老服务站"] and m.loc["410101", "flags"] == \
        "地区内无养老服务站，养老服务站步行 10 分钟覆盖 0.0%，低于目标 80%"
    assert m.loc["410103", "tier_ok:养老服务站"] and m.loc["410103", "flags"] == "无老人数据"

    lenient = dataclasses.replace(Settings(), target_beds_per_100_elders=0.0, target_nursing_share_pct=0.0,
                                  target_tier_share_pct=0.0)
    assert (provisioning_checks(tiny, settings=lenient)["flags"].iloc[:2] == "全部达标").all()


def test_bad_level_is_rejected(tiny: Region) -> None:
    with pytest.raises(ValueError, match="检查层级"):
        provisioning_checks(tiny, settings=Settings(), by="community")  # type: ignore[arg-type]


def test_demo_region(demo_region: Region) -> None:
    table = provisioning_checks(demo_region, settings=Settings())
    districts = sorted(demo_region.areas.loc[demo_region.areas["level"] == "district", "code"])
    assert list(table["code"]) == [*districts, "合计"]
    assert set(CHECK_COLUMNS_ZH) <= set(table.columns)
    total = table.iloc[-1]
    assert total["name"] == "全部地区" and total["elders"] == len(demo_region.elders)
    beds = pd.to_numeric(demo_region.facilities["beds_total"], errors="coerce").fillna(0).sum()
    assert table["beds_total"].iloc[:-1].sum() == total["beds_total"] == beds
    for col in (f"tier:{INSTITUTION}", f"tier:{DAY_CARE}"):
        assert 0 <= total[col] <= 100
    assert table["flags"].str.len().gt(0).all()
    assert checks_summary(table).startswith(f"{len(districts)} 个区县")


def test_institution_beds_follow_the_institution_role(tiny: Region, tiny_table: pd.DataFrame) -> None:
    kinds = {INSTITUTION: "养老院"}
    facilities = tiny.facilities.assign(kind=tiny.facilities["kind"].replace(kinds))
    renamed = dataclasses.replace(tiny, layers={**tiny.layers, "facilities": facilities})
    defaults = Settings()
    settings = dataclasses.replace(
        defaults, facility_kinds=tuple(kinds.get(k, k) for k in defaults.facility_kinds), institution_kinds=("养老院",),
        tier_minutes=tuple((kinds.get(k, k), m) for k, m in defaults.tier_minutes),
        siting_capacity_places=tuple((kinds.get(k, k), n) for k, n in defaults.siting_capacity_places))
    table = provisioning_checks(renamed, settings=settings, by="district")
    columns = ["elders", "beds_total", "institution_beds", "nursing_beds", "nursing_share_pct"]
    pd.testing.assert_frame_equal(table[columns], tiny_table[columns])
