"""Priority groups, the population counted, walking profiles and what has no area (issue 11).

A tiny hand-made region: one straight street in Zhengzhou with nodes every 0.002° of longitude
(about 183 m), one facility at its west end and one elder on each of the ten other nodes, so every
travel time is a multiple of one block and every count below can be worked out by hand (and is
also checked against networkx).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point

import eldermap
from data import store
from geo.errors import PlanningInputError
from geo.settings import Settings
from planning.checks import provisioning_checks
from planning.coverage import (
    coverage_by_area,
    group_coverage_table,
    in_population,
    present_groups,
    profile_coverage,
    profile_settings,
    region_coverage,
    unassigned_at,
    walk_profile_speed,
)
from planning.gaps import _rank, elder_need, gap_columns_zh, parse_group_weights, with_group_weights
from planning.report import service_circle_columns_zh, service_circle_table
from planning.sites import site_facilities

LAT = 34.74
LON0, STEP = 113.60, 0.002
N_NODES = 11
C1, C2 = "410105001001", "410105001002"
# elder on node k (k = 1…10): community, groups, registered (户籍), resident (常住); None = not said
ELDERS = [
    (1, C1, ["特困"], True, True),
    (2, C1, ["特困", "独居"], True, None),
    (3, C1, [], True, False),          # not living here: out of 常住
    (4, C1, ["低保"], False, True),     # registered elsewhere: out of 户籍
    (5, C1, ["特困"], None, None),
    (6, C2, [], None, None),
    (7, C2, ["低保", "独居"], False, False),
    (8, C2, [], None, None),
    (9, C2, [], None, None),
    (10, C2, ["独居"], None, None),
]


def node_lon(k: int) -> float:
    return LON0 + STEP * k


def tiny_layers(*, facility_nodes: tuple[int, ...] = (0,), kinds: tuple[str, ...] = ("日间照料中心",),
                street_codes: bool = False) -> dict[str, gpd.GeoDataFrame]:
    """The tiny street region; elders carry community codes only (no street or district code) unless
    ``street_codes``."""
    edges = gpd.GeoDataFrame(
        {"u": list(range(N_NODES - 1)), "v": list(range(1, N_NODES)), "highway": ["residential"] * (N_NODES - 1),
         "oneway": [False] * (N_NODES - 1)},
        geometry=[LineString([(node_lon(k), LAT), (node_lon(k + 1), LAT)]) for k in range(N_NODES - 1)],
        crs="EPSG:4326")
    facilities = gpd.GeoDataFrame(
        {"id": [f"F{k}" for k in facility_nodes], "name": [f"站{k}" for k in facility_nodes],
         "kind": list(kinds), "beds_total": [10] * len(facility_nodes),
         "community_code": [C1] * len(facility_nodes)},
        geometry=[Point(node_lon(k), LAT) for k in facility_nodes], crs="EPSG:4326")
    elders = gpd.GeoDataFrame(
        {"pid": [f"P{k:02d}" for k, *_ in ELDERS],
         "community_code": pd.array([c for _, c, *_ in ELDERS], dtype="string"),
         "groups": [g for _, _, g, _, _ in ELDERS],
         "registered": pd.array([r for *_, r, _ in ELDERS], dtype="boolean"),
         "resident": pd.array([r for *_, r in ELDERS], dtype="boolean"),
         "oldest_old": [k in (1, 6) for k, *_ in ELDERS],
         "ability_code": pd.array([3 if k == 2 else 0 for k, *_ in ELDERS], dtype="Int64")},
        geometry=[Point(node_lon(k), LAT) for k, *_ in ELDERS], crs="EPSG:4326")
    if street_codes:
        elders["street_code"] = pd.array([c[:9] for c in elders["community_code"]], dtype="string")
        facilities["street_code"] = pd.array(["410105001"] * len(facilities), dtype="string")
    areas = gpd.GeoDataFrame({"code": [C1, C2], "name": ["东风社区", "红旗社区"], "level": ["community"] * 2,
                              "parent_code": ["410105001"] * 2}, geometry=[None, None], crs="EPSG:4326")
    return {"road_edges": edges, "facilities": facilities, "elders": elders, "areas": areas}


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_regions")
    store.save_region("tiny", tiny_layers(), {}, root=root)
    return root


@pytest.fixture(scope="module")
def tiny(tiny_root: Path):
    return store.load_region("tiny", root=tiny_root)


def block_m(region) -> float:
    """Length of one block in the working CRS (all blocks are equal to well under a millimetre)."""
    edges = region.road_edges.to_crs(region.road_edges.estimate_utm_crs())
    return float(edges.length.mean())


def reference_times(region, speed_kmh: float) -> dict[str, float]:
    """Minutes from each elder to the nearest facility: networkx on the street's own lengths."""
    edges = region.road_edges.to_crs(region.road_edges.estimate_utm_crs())
    graph = nx.Graph()
    for u, v, length in zip(edges["u"], edges["v"], edges.length, strict=True):
        graph.add_edge(int(u), int(v), length=float(length))
    sources = [int(round((x - LON0) / STEP)) for x in region.facilities.geometry.x]
    dist = nx.multi_source_dijkstra_path_length(graph, sources, weight="length")
    per_min = speed_kmh * 1000.0 / 60.0
    return {pid: dist[int(round((x - LON0) / STEP))] / per_min
            for pid, x in zip(region.elders["pid"], region.elders.geometry.x, strict=True)}


S = Settings()
ALL = dataclasses.replace(S, coverage_population="全部")


# ---------------------------------------------------------------- population


def test_population_masks_by_hand(tiny) -> None:
    elders = tiny.elders
    # 户籍: registered True or not said -> all but elders 4 and 7
    assert list(elders["pid"][in_population(elders, "户籍")]) == [f"P{k:02d}" for k in (1, 2, 3, 5, 6, 8, 9, 10)]
    # 常住: resident True or not said -> all but elders 3 and 7
    assert list(elders["pid"][in_population(elders, "常住")]) == [f"P{k:02d}" for k in (1, 2, 4, 5, 6, 8, 9, 10)]
    assert in_population(elders, "全部").all()
    assert in_population(elders.drop(columns=["registered", "resident"]), "户籍").all()  # no flag: counted
    with pytest.raises(PlanningInputError, match="统计人口口径"):
        in_population(elders, "暂住")


@pytest.mark.parametrize(("population", "c1", "c2", "left_out"), [
    ("全部", (5, 4), (5, 0), 0),
    ("户籍", (4, 3), (4, 0), 2),    # 4 (C1, covered) and 7 (C2) left out
    ("常住", (4, 3), (4, 0), 2),    # 3 (C1, covered) and 7 (C2) left out
])
def test_coverage_counts_the_chosen_population(tiny, population, c1, c2, left_out) -> None:
    # planning speed 60 m/min, 15 minutes = 900 m: nodes 1–4 (4 blocks ≈ 732 m) covered, node 5 (≈ 915 m) not
    s = profile_settings(dataclasses.replace(S, coverage_population=population), "规划")
    table, per_elder = region_coverage(tiny, settings=s, minutes=15, by="community")
    rows = table.set_index("code")
    assert tuple(rows.loc[C1, ["elders", "covered"]]) == c1
    assert tuple(rows.loc[C2, ["elders", "covered"]]) == c2
    assert rows.loc["合计", "elders"] == 10 - left_out == c1[0] + c2[0]
    assert table.attrs["left_out"] == left_out and table.attrs["population"] == population
    assert len(per_elder) == 10 and int((~per_elder["counted"]).sum()) == left_out  # every elder still routed


def test_checks_count_the_coverage_population(tiny) -> None:
    table = provisioning_checks(tiny, settings=S, by="street")
    assert table.iloc[-1]["elders"] == 8 and table.attrs["left_out"] == 2
    every = provisioning_checks(tiny, settings=ALL, by="street")
    assert every.iloc[-1]["elders"] == 10


# ---------------------------------------------------------------- priority groups


def test_group_breakdown_hand_computed() -> None:
    elders = gpd.GeoDataFrame({
        "community_code": ["A", "A", "A", "B", "B", None],
        "groups": [["特困"], ["特困", "独居"], [], "低保、独居", None, ["特困"]],
        "oldest_old": [False] * 6,
    }, geometry=[Point(0, 0)] * 6, crs=4326)
    times = np.array([1.0, 20.0, 5.0, 3.0, 2.0, np.inf])
    counted = np.array([True, True, True, True, True, True])
    table = coverage_by_area(elders, times, minutes=10, by="community", groups=["特困", "低保", "独居"],
                             counted=counted).set_index("code")
    assert tuple(table.loc["A", ["elders:特困", "covered:特困", "coverage_pct:特困"]]) == (2, 1, 50.0)
    assert tuple(table.loc["A", ["elders:独居", "covered:独居"]]) == (1, 0)
    assert tuple(table.loc["B", ["elders:低保", "covered:低保", "elders:独居", "covered:独居"]]) == (1, 1, 1, 1)
    assert tuple(table.loc["未归属", ["elders:特困", "covered:特困"]]) == (1, 0)
    assert tuple(table.loc["合计", ["elders:特困", "covered:特困", "elders:独居", "covered:独居"]]) == (3, 1, 2, 1)
    assert np.isnan(table.loc["B", "coverage_pct:特困"])
    # leaving out the unassigned elder removes its row, not only its counts
    partial = coverage_by_area(elders, times, minutes=10, by="community", groups=["特困"],
                               counted=np.array([True] * 5 + [False]))
    assert "未归属" not in set(partial["code"]) and partial.attrs["left_out"] == 1
    assert partial.iloc[-1]["elders:特困"] == 2


def test_group_table_of_the_tiny_region(tiny) -> None:
    assert present_groups(tiny.elders) == ["特困", "低保", "独居"]
    s = profile_settings(ALL, "规划")  # covered: nodes 1–4
    table = group_coverage_table(tiny, settings=s, minutes=15, by="community")
    got = {(r.code, r.group): (r.elders, r.covered) for r in table.itertuples()}
    assert got[(C1, "全部老人")] == (5, 4) and got[(C2, "全部老人")] == (5, 0)
    assert got[(C1, "特困")] == (3, 2)          # 1, 2 covered; 5 not
    assert got[(C1, "低保")] == (1, 1) and got[(C2, "低保")] == (1, 0)
    assert got[(C1, "独居")] == (1, 1) and got[(C2, "独居")] == (2, 0)
    assert got[(C1, "80岁及以上")] == (1, 1) and got[(C2, "80岁及以上")] == (1, 0)
    assert got[(C1, "中度及以上失能")] == (1, 1)
    assert got[("合计", "特困")] == (3, 2) and got[("合计", "独居")] == (3, 1)
    assert list(table["code"].drop_duplicates()) == [C1, C2, "合计"]  # area by area, total last
    assert table.loc[(table["code"] == "合计") & (table["group"] == "特困"), "coverage_pct"].item() == 66.7


# ---------------------------------------------------------------- walking profiles


def test_profile_speeds_and_errors() -> None:
    assert walk_profile_speed(S, "规划") == 3.6 and walk_profile_speed(S, "体弱") == 2.4
    assert profile_settings(S, "体弱").walk_speed_kmh == 2.4
    assert profile_settings(S, "体弱", "drive") == S  # driving is unchanged
    with pytest.raises(PlanningInputError, match="没有名为“飞快”的步行速度档"):
        profile_settings(S, "飞快")


def test_profiles_side_by_side_exact(tiny) -> None:
    # 15 minutes: 规划 60 m/min -> 900 m -> 4 blocks; 体弱 40 m/min -> 600 m -> 3 blocks (≈ 549 m)
    table = profile_coverage(tiny, settings=ALL, minutes=15, by="community").set_index("code")
    assert tuple(table.loc[C1, ["covered:规划", "covered:体弱"]]) == (4, 3)
    assert tuple(table.loc["合计", ["elders", "covered:规划", "covered:体弱", "coverage_pct:体弱"]]) == (10, 4, 3, 30.0)
    assert table.attrs["profiles"] == {"规划": 3.6, "体弱": 2.4}
    length = block_m(tiny)
    assert 4 * length <= 900 < 5 * length and 3 * length <= 600 < 4 * length  # the hand count holds


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slow=st.floats(0.5, 10.0), fast=st.floats(0.5, 10.0), minutes=st.floats(1.0, 40.0))
def test_slower_never_covers_more_and_matches_networkx(tiny, slow: float, fast: float, minutes: float) -> None:
    slow, fast = min(slow, fast), max(slow, fast)
    results = {}
    for speed in (slow, fast):
        reference = reference_times(tiny, speed)
        assume(all(abs(t - minutes) > 1e-6 for t in reference.values()))  # no elder exactly on the boundary
        s = dataclasses.replace(ALL, walk_speed_kmh=speed)
        table, per_elder = region_coverage(tiny, settings=s, minutes=minutes)
        times = dict(zip(per_elder["pid"], per_elder["travel_time_min"], strict=True))
        for pid, t in reference.items():
            assert times[pid] == pytest.approx(t, abs=0.01)
        results[speed] = int(table.iloc[-1]["covered"])
        assert results[speed] == sum(t <= minutes for t in reference.values())
    assert results[slow] <= results[fast]


def test_report_service_circle_has_a_column_per_profile(tiny) -> None:
    circle = service_circle_table(tiny, settings=ALL, minutes=15, by="district")
    total = circle.iloc[-1]
    assert (total["covered:any:规划"], total["covered:any:体弱"]) == (4, 3)
    assert (total["coverage_pct:any:规划"], total["coverage_pct:any:体弱"]) == (40.0, 30.0)
    headers = service_circle_columns_zh(circle, minutes=15)
    assert headers["covered:any:规划"] == "步行15分钟内任一设施覆盖老人数(人)（规划 60米/分钟）"
    assert headers["coverage_pct:any:体弱"] == "步行15分钟内任一设施覆盖老人占比(%)（体弱 40米/分钟）"
    columns = list(circle.columns)
    assert columns.index("covered:any:体弱") == columns.index("covered:any:规划") + 1  # side by side
    drive = service_circle_table(tiny, settings=ALL, minutes=15, by="district", mode="drive")
    assert "covered:any" in drive.columns and not [c for c in drive.columns if c.count(":") > 1]
    counted = service_circle_table(tiny, settings=S, minutes=15, by="district")
    assert counted.iloc[-1]["elders"] == 8 and counted.attrs["left_out"] == 2  # 常住 by default


# ---------------------------------------------------------------- nothing silently unassigned


def test_unassigned_counts_and_warning(tiny) -> None:
    street = unassigned_at(tiny, settings=ALL, by="street")
    assert (street.elders, street.elders_total, street.facilities, street.facilities_total) == (10, 10, 1, 1)
    assert street.warning_zh() == ("全部老人都没有街道归属：请导入街道边界或在老人文件中填写所属街道；"
                                   "全部设施都没有街道归属：请导入街道边界或在设施文件中填写所属街道")
    community = unassigned_at(tiny, settings=ALL, by="community")
    assert community.elders == 0 and community.warning_zh() is None
    assert community.lines_zh() == ["按社区统计：10 位老人和 1 处设施都有社区归属"]
    table, _ = region_coverage(tiny, settings=ALL, minutes=15, by="street")
    assert list(table["code"]) == ["未归属", "合计"] and table.attrs["unassigned"] == 10


# ---------------------------------------------------------------- weights, gaps and siting


def test_parse_group_weights_and_settings() -> None:
    assert parse_group_weights(["特困=1", "独居：0.5", "低保边缘=2"]) == {"特困": 1.0, "独居": 0.5, "低收入": 2.0}
    for bad, message in (("特困", "群体=权重"), ("特困=-1", "不是非负数"), ("特困=x", "不是非负数"),
                         ("富豪=1", "没有名为“富豪”的重点群体")):
        with pytest.raises(PlanningInputError, match=message):
            parse_group_weights([bad])
    s = with_group_weights(S, {"特困": 1.0})
    assert s.group_weight_table() == {"特困": 1.0} and S.group_weight_table() == {"独居": 0.5}


def test_elder_need_uses_the_chosen_groups(tiny) -> None:
    need = elder_need(tiny.elders, with_group_weights(S, {"特困": 2.0, "独居": 0.5}))
    by_pid = need.set_index(tiny.elders["pid"])
    # elder 2: 1 + disabled 1 + 特困 2 + 独居 0.5; elder 1: 1 + 80+ 1 + 特困 2; elder 10: 1 + 独居 0.5
    assert by_pid.loc["P02", "weight"] == 4.5 and by_pid.loc["P01", "weight"] == 4.0
    assert by_pid.loc["P10", "weight"] == 1.5 and by_pid.loc["P08", "weight"] == 1.0
    assert list(need["group:特困"]) == [True, True, False, False, True] + [False] * 5
    assert list(need["counted"]) == list(in_population(tiny.elders, "常住"))


def test_gap_reasons_name_the_weighted_groups() -> None:
    table = pd.DataFrame({"code": ["A", "B"], "elders": [10, 5], "uncovered": [4, 2], "uncovered_80plus": [1, 0],
                          "uncovered_disabled": [0, 0], "uncovered_alone": [2, 0], "uncovered:特困": [3, 0],
                          "uncovered:独居": [2, 0], "weighted_need": [9.0, 2.0], "median_time_min": [21.0, np.inf]})
    ranked = _rank(table, 15, "walk")
    assert list(ranked["code"]) == ["A", "B"]
    assert ranked.loc[0, "reason"] == "15 分钟步行圈外老人 4 人（高龄 1、特困 3、独居 2）；到最近设施中位 21 分钟"
    assert ranked.loc[1, "reason"] == "15 分钟步行圈外老人 2 人；多数无法经路网到达任何设施"
    assert gap_columns_zh(ranked)["uncovered:特困"] == "其中特困"
    assert list(ranked.columns).index("uncovered:特困") < list(ranked.columns).index("weighted_need")


@pytest.fixture(scope="module")
def siting_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The street with a facility at node 0 and elders far away: two plain ones on nodes 9 and 10, one
    特困 on node 5; candidates at nodes 5 and 9."""
    layers = tiny_layers()
    elders = layers["elders"]
    keep = elders["pid"].isin(["P05", "P09", "P10"]).to_numpy()
    elders = elders[keep].copy()
    elders["groups"] = [["特困"], [], []]
    elders["oldest_old"] = False
    elders["ability_code"] = pd.array([0, 0, 0], dtype="Int64")
    layers["elders"] = elders
    root = tmp_path_factory.mktemp("siting_regions")
    store.save_region("tiny", layers, {}, root=root)
    return root


def test_group_weight_changes_the_chosen_site(siting_root: Path, tmp_path: Path, capsys) -> None:
    region = store.load_region("tiny", root=siting_root)
    candidates = gpd.GeoDataFrame({"candidate_id": ["at5", "at9"]},
                                  geometry=[Point(node_lon(5), LAT), Point(node_lon(9), LAT)], crs=4326)
    # 5 minutes at 50 m/min = 250 m: a site reaches its own node and the next (≈ 183 m), not two blocks
    plain = site_facilities(region, settings=ALL, k=1, minutes=5, candidates=candidates)
    assert list(plain.sites["candidate_id"]) == ["at9"] and plain.sites["newly_covered"].tolist() == [2]
    weighted = site_facilities(region, settings=with_group_weights(ALL, {"特困": 2.0}), k=1, minutes=5,
                               candidates=candidates)
    assert list(weighted.sites["candidate_id"]) == ["at5"]  # 1 + 2 = 3 outweighs two plain elders
    assert weighted.summary["group_weights"] == {"特困": 2.0}
    path = tmp_path / "c.csv"
    candidates.assign(经度=candidates.geometry.x, 纬度=candidates.geometry.y, 编号=candidates["candidate_id"])[
        ["编号", "经度", "纬度"]].to_csv(path, index=False)
    base = ["--regions", str(siting_root), "site", "tiny", "--add", "1", "--minutes", "5", "--candidates", str(path)]
    settings_file = tmp_path / "all.toml"
    settings_file.write_text('coverage_population = "全部"\n', encoding="utf-8")
    assert eldermap.main(["--settings", str(settings_file), *base, "--out", str(tmp_path / "a.csv")]) == 0
    assert pd.read_csv(tmp_path / "a.csv")["候选点编号"].tolist() == ["at9"]
    assert eldermap.main(["--settings", str(settings_file), *base, "--weight", "特困=2",
                          "--out", str(tmp_path / "b.csv")]) == 0
    assert pd.read_csv(tmp_path / "b.csv")["候选点编号"].tolist() == ["at5"]
    assert "特困 +2" in capsys.readouterr().out
    assert eldermap.main(["--regions", str(siting_root), "gaps", "tiny", "--weight", "特困", "--out",
                          str(tmp_path / "g.csv")]) == 2
    assert "群体=权重" in capsys.readouterr().err


# ---------------------------------------------------------------- CLI


def test_cli_coverage_groups_profiles_population_unassigned(tiny_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "c.xlsx"
    code = eldermap.main(["--regions", str(tiny_root), "coverage", "tiny", "--by", "community", "--by-group",
                          "--compare-profiles", "--profile", "规划", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    # 常住 (default) leaves out elders 3 and 7; at 60 m/min nodes 1–4 are covered, of them 1, 2 and 4 counted
    assert "步行（规划档，60米/分钟） 15 分钟内任一设施覆盖：3/8 位老人" in text
    assert "按常住老人统计：共 10 人，其中非常住 2 人未计入" in text
    assert "特困：2/3 人（66.7%）" in text and "低保：1/1 人" in text and "独居：1/2 人" in text
    assert "规划（60米/分钟）覆盖 3/8 人" in text and "体弱（40米/分钟）覆盖 2/8 人" in text
    sheets = pd.read_excel(out, sheet_name=None, dtype={"区划代码": str})
    assert set(sheets) == {"覆盖率", "重点群体覆盖", "步行速度对比"}
    groups = sheets["重点群体覆盖"]
    row = groups[(groups["区划代码"] == "合计") & (groups["老人群体"] == "特困")].iloc[0]
    assert (row["老年人数(人)"], row["步行15分钟内覆盖人数(人)"]) == (3, 2)
    profiles = sheets["步行速度对比"].set_index("区划代码")
    assert profiles.loc["合计", "覆盖人数（规划 60米/分钟）"] >= profiles.loc["合计", "覆盖人数（体弱 40米/分钟）"]

    code = eldermap.main(["--regions", str(tiny_root), "coverage", "tiny", "--by", "street", "--population", "全部",
                          "--profile", "体弱", "--out", str(tmp_path / "s.csv")])
    assert code == 0
    text = capsys.readouterr().out
    assert "步行（体弱档，40米/分钟） 15 分钟内任一设施覆盖：3/10 位老人" in text
    assert "按全部老人统计：10 人全部计入" in text
    assert "注意：按街道统计：10 位老人（占 100.0%）没有街道归属，计入“未归属”行" in text
    assert "警告：全部老人都没有街道归属：请导入街道边界或在老人文件中填写所属街道" in text
    table = pd.read_csv(tmp_path / "s.csv", dtype={"区划代码": str})
    assert list(table["区划代码"]) == ["未归属", "合计"]

    assert eldermap.main(["--regions", str(tiny_root), "coverage", "tiny", "--mode", "drive", "--profile", "体弱",
                          "--out", str(tmp_path / "d.csv")]) == 2
    assert "只适用于步行" in capsys.readouterr().err


def test_cli_no_warning_when_streets_are_known(tmp_path: Path, capsys) -> None:
    root = tmp_path / "regions"
    store.save_region("tiny", tiny_layers(street_codes=True), {}, root=root)
    assert eldermap.main(["--regions", str(root), "coverage", "tiny", "--by", "street",
                          "--out", str(tmp_path / "s.csv")]) == 0
    text = capsys.readouterr().out
    assert "警告" not in text and "没有街道归属" not in text
    assert "按街道统计：8 位老人和 1 处设施都有街道归属" in text  # 常住: elders 3 and 7 left out


def test_gaps_end_to_end_name_the_weighted_groups(tiny) -> None:
    from planning.gaps import gaps

    s = with_group_weights(ALL, {"特困": 2.0})
    _, communities = gaps(tiny, settings=profile_settings(s, "规划"), minutes=15)
    row = communities.set_index("code").loc[C1]
    assert row["uncovered:特困"] == 1  # elder 5, the only uncovered one of C1
    assert "特困 1" in row["reason"]


def test_gaps_count_the_coverage_population(tiny) -> None:
    from planning.gaps import gaps

    s = profile_settings(S, "规划")  # 常住: elders 3 and 7 left out
    cells, communities = gaps(tiny, settings=s, minutes=15)
    table, _ = region_coverage(tiny, settings=s, minutes=15)
    assert communities["uncovered"].sum() == table.iloc[-1]["elders"] - table.iloc[-1]["covered"] == 5
    assert communities.set_index("code").loc[C2, ["elders", "uncovered"]].tolist() == [4, 4]


def test_cli_counts_some_elders_without_a_street(tmp_path: Path, capsys) -> None:
    layers = tiny_layers(street_codes=True)
    layers["elders"].loc[layers["elders"]["pid"].isin(["P06", "P09"]), "street_code"] = pd.NA
    root = tmp_path / "regions"
    store.save_region("tiny", layers, {}, root=root)
    assert eldermap.main(["--regions", str(root), "coverage", "tiny", "--by", "street", "--population", "全部",
                          "--out", str(tmp_path / "s.csv")]) == 0
    text = capsys.readouterr().out
    assert "注意：按街道统计：2 位老人（占 20.0%）没有街道归属，计入“未归属”行" in text and "警告" not in text
    table = pd.read_csv(tmp_path / "s.csv", dtype={"区划代码": str}).set_index("区划代码")
    assert table.loc["未归属", "老年人数"] == 2 and table.loc["410105001", "老年人数"] == 8


def test_public_page_never_touches_priority_groups() -> None:
    """Groups are sensitive: the public e-map (views/find.py, layers/find.py) reads none of it."""
    root = Path(__file__).resolve().parents[1]
    for name in ("views/find.py", "layers/find.py"):
        text = (root / name).read_text(encoding="utf-8")
        for word in ("group_coverage", "present_groups", "group_members", "elders_in_group", "elder_need",
                     "region.elders", "特困", "低保"):
            assert word not in text, (name, word)
