"""Coverage of elders within the service circle: hand-computed tables and invariants on the demo region."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import eldermap
from geo.settings import Settings
from planning.coverage import ANY, coverage_by_area, elder_access, elder_snap_for, network_for, region_coverage
from planning.network import snap_points


def test_coverage_table_hand_computed() -> None:
    elders = gpd.GeoDataFrame({
        "community_code": ["110199001001"] * 3 + ["110199001002"] * 2 + [None],
        "oldest_old": [True, False, True, False, True, False],
        "ability_code": [0, 2, 4, 1, 3, 0],
    }, geometry=[shapely.Point(0, 0)] * 6, crs=4326)
    times = np.array([3.0, 14.9, 15.1, np.inf, 10.0, 1.0])
    areas = gpd.GeoDataFrame({"code": ["110199001001", "110199001002"], "name": ["甲社区", "乙社区"]},
                             geometry=[None, None], crs=4326)
    table = coverage_by_area(elders, times, minutes=15, by="community", areas=areas, weights=[1, 2, 1, 1, 1, 1])
    rows = table.set_index("code")
    # 甲: 3 elders, 2 within 15 min (3.0, 14.9); 80+ are rows 0 and 2 -> 1 of 2; disabled rows 1, 2 -> 1 of 2
    assert rows.loc["110199001001", ["elders", "covered", "coverage_pct"]].tolist() == [3, 2, 66.67]
    assert rows.loc["110199001001", ["elders_80plus", "covered_80plus"]].tolist() == [2, 1]
    assert rows.loc["110199001001", ["elders_disabled", "covered_disabled", "coverage_disabled_pct"]].tolist() == [2, 1, 50.0]
    assert rows.loc["110199001001", ["weighted_elders", "weighted_covered"]].tolist() == [4.0, 3.0]
    assert rows.loc["110199001002", "name"] == "乙社区"
    assert rows.loc["110199001002", ["elders", "covered", "elders_disabled", "covered_disabled"]].tolist() == [2, 1, 1, 1]
    assert rows.loc["未归属", "covered"] == 1
    total = rows.loc["合计"]
    assert total["elders"] == 6 and total["covered"] == 4 and total["coverage_pct"] == 66.67
    parts = table[table["code"] != "合计"]
    for col in ("elders", "covered", "elders_80plus", "covered_80plus", "elders_disabled", "covered_disabled"):
        assert parts[col].sum() == total[col]


@pytest.fixture(scope="module")
def demo_access(demo_region):
    s = Settings()
    network = network_for(demo_region, "walk", s)
    return network, elder_access(network, demo_region.facilities, demo_region.elders, settings=s)


def test_any_kind_is_the_minimum_over_kinds(demo_access) -> None:
    _, access = demo_access
    kinds = [c for c in access.columns if c.startswith("time_min:") and c != f"time_min:{ANY}"]
    assert len(kinds) == 5  # the six demo kinds but 居家上门服务商: home care is not travelled to (issue 11)
    np.testing.assert_allclose(access[f"time_min:{ANY}"], access[kinds].min(axis=1))
    assert access["snapped"].mean() > 0.99


def test_adding_a_facility_never_lowers_coverage(demo_region, demo_access) -> None:
    network, before = demo_access
    fac = demo_region.facilities
    extra = fac.iloc[[0]].copy()
    extra["id"] = "NEW"
    t0 = before[f"time_min:{ANY}"].to_numpy()
    far = int(np.argmax(np.where(np.isfinite(t0), t0, -1)))  # the worst-served reachable elder
    extra["geometry"] = [demo_region.elders.geometry.iloc[far]]
    after = elder_access(network, pd.concat([fac, extra], ignore_index=True), demo_region.elders, settings=Settings())
    t1 = after[f"time_min:{ANY}"].to_numpy()
    assert np.all(t1 <= t0 + 1e-12)
    assert (t1 < t0).sum() > 10 and after[f"facility_id:{ANY}"].iloc[far] == "NEW"


def test_results_identical_on_second_run(demo_region, demo_access) -> None:
    _, first = demo_access
    second = elder_access(build_fresh(demo_region), demo_region.facilities, demo_region.elders, settings=Settings())
    pd.testing.assert_frame_equal(first, second)


def build_fresh(region):
    from planning.network import build_network

    return build_network(region.road_edges, mode="walk", settings=Settings())


def test_longer_circle_covers_a_superset(demo_region) -> None:
    t10, _ = region_coverage(demo_region, settings=Settings(), minutes=10)
    t15, _ = region_coverage(demo_region, settings=Settings(), minutes=15)
    a, b = t10.set_index("code"), t15.set_index("code")
    assert (a["covered"] <= b["covered"]).all() and (a["elders"] == b["elders"]).all()
    assert a.loc["合计", "covered"] < b.loc["合计", "covered"]


def test_cli_coverage_writes_tables(demo_region, tmp_path: Path, capsys) -> None:
    root = demo_region.path.parents[1]
    code = eldermap.main(["--regions", str(root), "coverage", "demo", "--minutes", "10", "--by", "street",
                          "--out", str(tmp_path / "c.xlsx"), "--per-elder", str(tmp_path / "p.csv")])
    assert code == 0
    out = capsys.readouterr().out
    assert "步行 10 分钟内任一设施覆盖" in out
    table = pd.read_excel(tmp_path / "c.xlsx", dtype={"区划代码": str})
    assert list(table["区划代码"]) == ["110199001", "110199002", "110199003", "合计"]
    assert table["老年人数"].iloc[:-1].sum() == table["老年人数"].iloc[-1] == len(demo_region.elders)
    per = pd.read_csv(tmp_path / "p.csv", encoding="utf-8-sig")
    # every elder is routed; those outside settings.coverage_population (常住) are marked, not dropped
    assert list(per.columns) == ["假名编号", "最近设施编号", "出行时间(分钟)", "已接入路网", "计入覆盖统计"]
    assert len(per) == len(demo_region.elders) and per["计入覆盖统计"].all()  # the demo has no 户籍/常住 flags
    assert per["假名编号"].str.fullmatch(r"P[0-9a-f]{20}").all()
    drive = eldermap.main(["--regions", str(root), "coverage", "demo", "--mode", "drive", "--kind", "养老机构",
                           "--out", str(tmp_path / "d.csv")])
    assert drive == 0


def test_region_accessibility_conserves_beds(demo_region) -> None:
    from planning.coverage import region_accessibility

    cells, areas = region_accessibility(demo_region, settings=Settings(), method="2sfca", minutes=60)
    # classic 2SFCA hands out every bed of every facility with elders in reach: Σ elders × score = Σ beds
    beds = demo_region.facilities["beds_total"].astype("float64").fillna(0).sum()
    assert (cells["elders"] * cells["beds_per_1000"] / 1000).sum() == pytest.approx(beds, rel=1e-3)
    assert areas.iloc[-1]["elders"] == len(demo_region.elders) == cells["elders"].sum()
    e2, _ = region_accessibility(demo_region, settings=Settings(), method="e2sfca", minutes=15)
    assert (e2["beds_per_1000"] >= 0).all()


def test_cli_access(demo_region, tmp_path: Path) -> None:
    root = demo_region.path.parents[1]
    assert eldermap.main(["--regions", str(root), "access", "demo", "--method", "e2sfca",
                          "--out", str(tmp_path / "a.xlsx")]) == 0
    sheets = pd.read_excel(tmp_path / "a.xlsx", sheet_name=None)
    assert set(sheets) == {"按区域", "按H3网格"}
    assert "每千名老人可及床位" in sheets["按H3网格"].columns


def test_cli_isochrones(demo_region, tmp_path: Path, capsys) -> None:
    root = demo_region.path.parents[1]
    assert eldermap.main(["--regions", str(root), "isochrones", "demo", "--minutes", "5,10,15",
                          "--out", str(tmp_path / "i.geojson")]) == 0
    rings = gpd.read_file(tmp_path / "i.geojson")
    assert list(rings["band_label"]) == ["0–5 分钟", "5–10 分钟", "10–15 分钟"]
    assert rings.crs.to_epsg() == 4326
    # rings do not overlap: together they make the cumulative 15-minute polygon
    assert eldermap.main(["--regions", str(root), "isochrones", "demo", "--cumulative",
                          "--out", str(tmp_path / "c.geojson")]) == 0
    cumulative = gpd.read_file(tmp_path / "c.geojson")
    utm = rings.estimate_utm_crs()
    assert rings.to_crs(utm).area.sum() == pytest.approx(cumulative.to_crs(utm).area.iloc[-1], rel=1e-3)
    one = demo_region.facilities["id"].iloc[0]
    assert eldermap.main(["--regions", str(root), "isochrones", "demo", "--facility", one,
                          "--out", str(tmp_path / "f.geojson")]) == 0
    assert set(gpd.read_file(tmp_path / "f.geojson")["facility_id"]) == {one}
    assert eldermap.main(["--regions", str(root), "isochrones", "demo", "--facility", "NOPE",
                          "--out", str(tmp_path / "x.geojson")]) == 2
    assert "没有编号为 NOPE 的设施" in capsys.readouterr().err


def test_capacity_coverage_on_demo(demo_region, tmp_path: Path) -> None:
    from planning.coverage import region_capacity_coverage

    places, per_fac, per_elder = region_capacity_coverage(demo_region, settings=Settings(), minutes=15)
    total = places.iloc[-1]
    assert total["with_place"] <= total["covered"] <= total["elders"] == len(demo_region.elders)
    assert per_fac["assigned"].sum() == total["with_place"] == per_elder["has_place"].sum()
    assert (per_fac["assigned"] <= per_fac["capacity"]).all()
    assert (per_elder.loc[per_elder["has_place"], "travel_time_min"] <= 15).all()
    assert sorted(per_fac["order_rank"]) == list(range(len(per_fac)))
    free, _, _ = region_capacity_coverage(demo_region, settings=Settings(), minutes=15, capacity="beds_free")
    assert free.iloc[-1]["with_place"] <= total["with_place"]  # free beds are a subset of all beds
    root = demo_region.path.parents[1]
    assert eldermap.main(["--regions", str(root), "coverage", "demo", "--capacity", "beds_free",
                          "--out", str(tmp_path / "c.xlsx")]) == 0
    assert (tmp_path / "c_床位.xlsx").exists()


def test_network_and_elder_snap_cached_per_version_and_settings(demo_region) -> None:
    import dataclasses

    s = Settings()
    network = network_for(demo_region, "walk", s)
    assert network_for(demo_region, "walk", s) is network  # an app rerun does not rebuild it
    assert network_for(demo_region, "walk", Settings(walk_speed_kmh=4.0)) is not network
    assert network_for(demo_region, "drive", s) is not network
    newer = dataclasses.replace(demo_region, path=demo_region.path.parent / "a-newer-version")
    assert network_for(newer, "walk", s) is not network  # an import makes a new version folder
    snap = elder_snap_for(demo_region, "walk", s)
    assert elder_snap_for(demo_region, "walk", s) is snap and len(snap) == len(demo_region.elders)
    fresh = snap_points(network, demo_region.elders, settings=s)
    np.testing.assert_array_equal(snap.edge, fresh.edge)
