"""Home-care providers reach elders at home: declared areas, polygons, the drive rule, coverage, gaps.

A tiny region in metres (WGS 84 / UTM zone 49N, so the working CRS is the data's own and lengths are
exact) with driving at 60 km/h = 1 km per minute, so every expected time is a distance in km:

    F(5,4) ──oneway F→G── G(10,4)
     │                     │
    A(0,0) ── B(5,0) ── C(10,0) ── D(15,0) ── E(20,0)      (km; A–B–C–D–E, B–F, C–G two-way)

Communities: 花园 x < 7.5 km and 码头 7.5–12.5 (street 海港街道), 灯塔 x > 12.5 (street 公园街道).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from netref import add_street_chains
from shapely.geometry import LineString, Point, box

from data.service_areas import read_service_areas
from data.store import Region
from geo.errors import InputFileError, PlanningInputError
from geo.settings import Settings
from planning import coverage as coverage_module
from planning.coverage import ANY, coverage_by_area, elder_access, elder_snap_for, network_for
from planning.gaps import gaps
from planning.home_care import (
    BASIS_AREA,
    BASIS_DRIVE,
    declared_service_areas,
    home_care_reach,
    serving_point,
    split_service_area,
)
from planning.network import snap_points

CRS = "EPSG:32649"
X0, Y0 = 500_000.0, 3_840_000.0
KM = 1000.0
HC = "居家上门服务商"
SETTINGS = Settings(drive_speeds_kmh=(("residential", 60.0), ("tertiary", 60.0)), home_care_drive_minutes=15.0)
NODES = {"A": (0, 0), "B": (5, 0), "C": (10, 0), "D": (15, 0), "E": (20, 0), "F": (5, 4), "G": (10, 4)}
ROADS = [("A", "B", "residential", False), ("B", "C", "residential", False), ("C", "D", "residential", False),
         ("D", "E", "residential", False), ("B", "F", "residential", False), ("F", "G", "tertiary", True),
         ("C", "G", "residential", False)]
STREET_1, STREET_2 = "410105001", "410105002"
GARDEN, DOCK, LIGHTHOUSE = "410105001001", "410105001002", "410105002001"
ELDERS = [  # (x km, y km, community, street code as recorded: None = not recorded)
    (2.5, 0, GARDEN, STREET_1),   # e0
    (5, 4, GARDEN, STREET_1),     # e1 at F
    (9, 0, DOCK, STREET_1),       # e2
    (13, 0, LIGHTHOUSE, None),    # e3
    (15, 0, LIGHTHOUSE, None),    # e4 at D: 15 km from A, the boundary
    (15.01, 0, LIGHTHOUSE, None),  # e5 just beyond
    (17.5, 0, LIGHTHOUSE, None),  # e6
]


def _pt(x_km: float, y_km: float) -> Point:
    return Point(X0 + x_km * KM, Y0 + y_km * KM)


def _box(x0: float, x1: float) -> shapely.Polygon:
    return box(X0 + x0 * KM, Y0 - 1 * KM, X0 + x1 * KM, Y0 + 5 * KM)


def make_region(tmp_path: Path, providers: list[dict], *, service_areas: gpd.GeoDataFrame | None = None,
                extra_areas: list[dict] | None = None) -> Region:
    """The tiny region with these facilities ({id, at: node name or (x, y), kind, service_area, ...})."""
    ids = {name: i + 1 for i, name in enumerate(NODES)}
    roads = gpd.GeoDataFrame(
        {"u": [ids[a] for a, *_ in ROADS], "v": [ids[b] for _, b, *_ in ROADS], "highway": [h for *_, h, _ in ROADS],
         "oneway": [o for *_, o in ROADS], "maxspeed_kmh": np.nan, "access": None, "foot": None,
         "motor_vehicle": None},
        geometry=[LineString([_pt(*NODES[a]), _pt(*NODES[b])]) for a, b, *_ in ROADS], crs=CRS)
    rows = []
    for p in providers:
        at = NODES[p["at"]] if isinstance(p["at"], str) else p["at"]
        rows.append({"id": p["id"], "name": p.get("name", f"服务商{p['id']}"), "kind": p.get("kind", HC),
                     "service_area": p.get("service_area"), "street_code": p.get("street_code"),
                     "district_code": "410105", "beds_total": p.get("beds_total", 0), "geometry": _pt(*at)})
    facilities = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=CRS)
    facilities["service_area"] = facilities["service_area"].astype("string")
    elders = gpd.GeoDataFrame(
        {"pid": [f"P{i}" for i in range(len(ELDERS))],
         "community_code": pd.array([c for *_, c, _ in ELDERS], dtype="string"),
         "street_code": pd.array([s for *_, s in ELDERS], dtype="string"),
         "oldest_old": [True, False, False, True, False, False, True],
         "ability_code": [0, 3, 0, 0, 2, 0, 0],
         "groups": [[], ["独居"], [], [], [], [], ["独居"]]},
        geometry=[_pt(x, y) for x, y, *_ in ELDERS], crs=CRS)
    areas = [
        {"code": "410105", "name": "演示区", "level": "district", "parent_code": None, "geometry": _box(-1, 21)},
        {"code": STREET_1, "name": "海港街道", "level": "street", "parent_code": "410105", "geometry": _box(-1, 12.5)},
        {"code": STREET_2, "name": "公园街道", "level": "street", "parent_code": "410105", "geometry": _box(12.5, 21)},
        {"code": GARDEN, "name": "花园社区", "level": "community", "parent_code": STREET_1, "geometry": _box(-1, 7.5)},
        {"code": DOCK, "name": "码头社区", "level": "community", "parent_code": STREET_1, "geometry": _box(7.5, 12.5)},
        {"code": LIGHTHOUSE, "name": "灯塔社区", "level": "community", "parent_code": STREET_2,
         "geometry": _box(12.5, 21)},
        *(extra_areas or []),
    ]
    layers = {"road_edges": roads, "facilities": facilities, "elders": elders,
              "areas": gpd.GeoDataFrame(pd.DataFrame(areas), geometry="geometry", crs=CRS)}
    if service_areas is not None:
        layers["service_areas"] = service_areas
    return Region("tiny", tmp_path / "v1", {}, layers)


def _column(reach: pd.DataFrame, name: str) -> list:
    return reach[f"{name}:{HC}"].tolist()


# ---------------------------------------------------------------- text of service areas


@hsettings(max_examples=60, deadline=None)
@given(items=st.lists(st.text(alphabet="花园码头社区街道幸福村镇ab12", min_size=1, max_size=6), min_size=0, max_size=5),
       seps=st.lists(st.sampled_from(list("、,，;；")), min_size=5, max_size=5))
def test_split_service_area_round_trips(items, seps) -> None:
    text = "".join(item + seps[k % len(seps)] for k, item in enumerate(items))
    assert split_service_area(text) == list(dict.fromkeys(items))
    assert split_service_area(items) == list(dict.fromkeys(items))


def test_split_and_normalise_hand_cases() -> None:
    assert split_service_area(" 花园社区、码头社区，灯塔社区;公园街道；花园社区 ") == ["花园社区", "码头社区", "灯塔社区", "公园街道"]
    assert split_service_area(None) == [] and split_service_area(pd.NA) == [] and split_service_area("") == []


# ---------------------------------------------------------------- declared areas


@pytest.mark.parametrize("declared", ["花园社区、码头社区", "花园、码头社区居委会", "花园社区居委会，码头"])
def test_declared_community_list(tmp_path, declared) -> None:
    region = make_region(tmp_path, [{"id": "H1", "at": "E", "service_area": declared}])
    reach = home_care_reach(region, settings=SETTINGS)
    assert _column(reach, "served") == [True, True, True, False, False, False, False]
    assert _column(reach, "provider_id") == ["H1", "H1", "H1", None, None, None, None]
    assert _column(reach, "basis") == [BASIS_AREA] * 3 + [None] * 4
    # drive from E: to e0 17.5 km; to F back along D, C, B (F→G is oneway) 5+5+5+4 = 19; to e2 11;
    # the unserved: to the nearest provider (H1) 7, 5, 4.99, 2.5
    np.testing.assert_allclose(_column(reach, "drive_min"), [17.5, 19, 11, 7, 5, 4.99, 2.5], atol=1e-6)
    assert reach.attrs["warnings"] == []


@pytest.mark.parametrize("declared", ["公园街道", "公园街道办事处", " 公园 街道 ", "410105002", "４１０１０５００２"])
def test_declared_street_by_name_or_code(tmp_path, declared) -> None:
    # e3–e6 have no street code recorded: their street follows from their community's parent
    region = make_region(tmp_path, [{"id": "H1", "at": "A", "service_area": declared}])
    reach = home_care_reach(region, settings=SETTINGS)
    assert _column(reach, "served") == [False] * 3 + [True] * 4
    assert _column(reach, "basis")[3:] == [BASIS_AREA] * 4
    np.testing.assert_allclose(_column(reach, "drive_min"), [2.5, 9, 9, 13, 15, 15.01, 17.5], atol=1e-6)
    assert reach.attrs["warnings"] == []


def test_declared_polygon(tmp_path) -> None:
    polygon = gpd.GeoDataFrame({"facility_id": ["H1"]}, geometry=[box(X0 + 8 * KM, Y0 - 500, X0 + 14 * KM, Y0 + 500)],
                               crs=CRS)
    region = make_region(tmp_path, [{"id": "H1", "at": "G"}], service_areas=polygon)
    declared = declared_service_areas(region, settings=SETTINGS)
    assert declared.providers[["id", "codes", "polygon", "declared"]].values.tolist() == [["H1", (), True, True]]
    reach = home_care_reach(region, settings=SETTINGS)
    assert _column(reach, "served") == [False, False, True, True, False, False, False]
    # G → C 4 km, then along the main road: to e2 (9 km) 1 more, to e3 (13 km) 3 more
    np.testing.assert_allclose(np.array(_column(reach, "drive_min"))[[2, 3]], [5, 7], atol=1e-6)


def test_drive_rule_at_the_minute_boundary(tmp_path) -> None:
    region = make_region(tmp_path, [{"id": "H1", "at": "A"}])
    reach = home_care_reach(region, settings=SETTINGS)
    # from A: 2.5, B→F 5+4 = 9, 9, 13, exactly 15 (served), 15.01 (not), 17.5 (not)
    assert _column(reach, "served") == [True, True, True, True, True, False, False]
    assert _column(reach, "basis") == [BASIS_DRIVE] * 5 + [None] * 2
    drive = np.array(_column(reach, "drive_min"))
    assert drive[4] == 15.0  # exact: the boundary minute counts as served
    np.testing.assert_allclose(drive, [2.5, 9, 9, 13, 15, 15.01, 17.5], atol=1e-9)
    fewer = home_care_reach(make_region(tmp_path / "b", [{"id": "H1", "at": "A"}]),
                            settings=dataclasses.replace(SETTINGS, home_care_drive_minutes=14.99))
    assert _column(fewer, "served") == [True, True, True, True, False, False, False]


def test_drive_follows_oneway_streets_from_the_provider(tmp_path) -> None:
    region = make_region(tmp_path, [{"id": "H1", "at": "G"}])
    reach = home_care_reach(region, settings=SETTINGS)
    # G to F may not use F→G backwards: G→C→B→F = 4 + 5 + 4 = 13 (5 if it could)
    assert _column(reach, "drive_min")[1] == pytest.approx(13.0, abs=1e-6)
    # to the main road through C: e0 4 + 5 + 2.5, e2 4 + 1, e3 4 + 3, e4 4 + 5, e5 4 + 5.01, e6 4 + 7.5
    assert all(_column(reach, "served"))
    np.testing.assert_allclose(_column(reach, "drive_min"), [11.5, 13, 5, 7, 9, 9.01, 11.5], atol=1e-6)


def test_nearest_serving_provider_wins(tmp_path) -> None:
    providers = [{"id": "HA", "at": "A", "service_area": "花园社区"}, {"id": "HE", "at": "E", "service_area": "花园社区"},
                 {"id": "HD", "at": "D"}]
    reach = home_care_reach(make_region(tmp_path, providers), settings=SETTINGS)
    # e0, e1: both HA and HE declare 花园; HA is nearer by car (2.5 vs 17.5; 9 vs 19). HD drives to the rest
    # (15 min): e2 6, e3 2, e4 0, e5 0.01, e6 2.5
    assert _column(reach, "provider_id") == ["HA", "HA", "HD", "HD", "HD", "HD", "HD"]
    assert _column(reach, "basis") == [BASIS_AREA, BASIS_AREA] + [BASIS_DRIVE] * 5
    np.testing.assert_allclose(_column(reach, "drive_min"), [2.5, 9, 6, 2, 0, 0.01, 2.5], atol=1e-6)
    # a provider by the drive rule nearer than the declared one serves instead
    mixed = [{"id": "HE", "at": "E", "service_area": "花园社区"}, {"id": "HB", "at": "B"}]
    reach = home_care_reach(make_region(tmp_path / "b", mixed), settings=SETTINGS)
    assert _column(reach, "provider_id")[:2] == ["HB", "HB"] and _column(reach, "basis")[:2] == [BASIS_DRIVE] * 2


def test_unresolvable_names_are_listed(tmp_path) -> None:
    providers = [{"id": "H1", "at": "E", "name": "安康上门", "service_area": "花园社区、幸福社区"},
                 {"id": "H2", "at": "A", "name": "福寿上门", "service_area": "不存在街道；也没有"},
                 {"id": "H3", "at": "E", "name": "长寿上门", "service_area": "410105009"}]
    region = make_region(tmp_path, providers)
    reach = home_care_reach(region, settings=SETTINGS)
    warnings = reach.attrs["warnings"]
    assert any("安康上门" in w and "“幸福社区”未能匹配" in w and "已忽略此项" in w for w in warnings), warnings
    assert any("福寿上门" in w and "“不存在街道”" in w for w in warnings)
    assert any("福寿上门" in w and "都无法识别" in w and "驾车 15 分钟" in w for w in warnings)
    assert any("长寿上门" in w and "410105009" in w and "代码不在区划数据中" in w for w in warnings)
    declared = declared_service_areas(region, settings=SETTINGS).providers.set_index("id")
    assert declared.loc["H1", "codes"] == (GARDEN,) and declared.loc["H1", "declared"]
    assert not declared.loc["H2", "declared"]  # nothing resolved: the drive rule applies
    assert declared.loc["H3", "codes"] == ("410105009",)
    # H1 serves 花园 (e0, e1); H2 (drive from A, 15 min) e0–e4; nearest wins
    assert _column(reach, "provider_id") == ["H2", "H2", "H2", "H2", "H2", None, None]


def test_same_name_in_two_streets(tmp_path) -> None:
    twin = [{"code": "410105002002", "name": "花园社区", "level": "community", "parent_code": STREET_2,
             "geometry": None}]
    providers = [{"id": "H1", "at": "E", "service_area": "花园社区", "street_code": STREET_1},
                 {"id": "H2", "at": "E", "service_area": "花园社区"}]
    declared = declared_service_areas(make_region(tmp_path, providers, extra_areas=twin), settings=SETTINGS)
    table = declared.providers.set_index("id")
    assert table.loc["H1", "codes"] == (GARDEN,)  # its own street decides
    assert table.loc["H2", "codes"] == ()
    assert any("多个同名区域" in w and GARDEN in w and "410105002002" in w for w in declared.warnings)


# ---------------------------------------------------------------- against networkx


def _networkx_drive(region: Region, settings: Settings, sources: list[int]) -> np.ndarray:
    """Minutes from the nearest of the facilities ``sources`` to every elder, by networkx on the drive graph
    with every point inserted as a node (nearest edge by brute force)."""
    network = network_for(region, "drive", settings)
    lines = network.edges.geometry.values
    G = nx.MultiDiGraph()
    on_edge: dict[int, list[tuple[float, object]]] = {}
    for kind, frame in (("F", region.facilities.iloc[sources]), ("E", region.elders)):
        for k, p in enumerate(frame.to_crs(network.crs).geometry.values):
            d = shapely.distance(lines, p)
            e = int(np.argmin(d))
            on_edge.setdefault(e, []).append((float(shapely.line_locate_point(lines[e], p, normalized=True)),
                                              (kind, k, "on")))
            walk = float(d[e]) / network.walk_speed_m_per_min
            G.add_edge(*((("F", k), (kind, k, "on")) if kind == "F" else ((kind, k, "on"), ("E", k))), weight=walk)
    add_street_chains(G, network, on_edge)
    dist = nx.multi_source_dijkstra_path_length(G, [("F", k) for k in range(len(sources))], weight="weight")
    return np.array([dist.get(("E", k), np.inf) for k in range(len(region.elders))])


def test_drive_times_equal_networkx(tmp_path) -> None:
    providers = [{"id": "HA", "at": "A"}, {"id": "HG", "at": "G"}, {"id": "HX", "at": (12, 0.05)}]
    region = make_region(tmp_path, providers)
    settings = dataclasses.replace(SETTINGS, home_care_drive_minutes=60.0)
    reach = home_care_reach(region, settings=settings)
    expected = _networkx_drive(region, settings, [0, 1, 2])
    assert all(_column(reach, "served"))
    np.testing.assert_allclose(_column(reach, "drive_min"), expected, rtol=1e-9, atol=1e-9)
    # each elder's provider is really that far
    ids = ["HA", "HG", "HX"]
    for k, pid in enumerate(_column(reach, "provider_id")):
        alone = _networkx_drive(region, settings, [ids.index(pid)])
        assert alone[k] == pytest.approx(expected[k], abs=1e-9)


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x_km=st.floats(0, 20), y_km=st.sampled_from([0.0, 0.02, 4.0]), minutes=st.floats(1, 30))
def test_served_by_drive_iff_networkx_time_within_minutes(tmp_path_factory, x_km, y_km, minutes) -> None:
    # a provider anywhere along the main road (or the F–G street), up to 20 m off it
    region = make_region(tmp_path_factory.mktemp("h"), [{"id": "H1", "at": (x_km if y_km < 1 else 5 + x_km / 4, y_km)}])
    settings = dataclasses.replace(SETTINGS, home_care_drive_minutes=minutes)
    reach = home_care_reach(region, settings=settings)
    expected = _networkx_drive(region, settings, [0])
    decided = np.abs(expected - minutes) > 1e-6  # leave float ties at the boundary alone
    assert (np.array(_column(reach, "served"))[decided] == (expected <= minutes)[decided]).all()
    np.testing.assert_allclose(_column(reach, "drive_min"), expected, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- coverage, capacity, gaps


@pytest.fixture()
def mixed_region(tmp_path) -> Region:
    """H1 at E serves 花园 and 码头 (e0–e2); a meal point at C that elders walk to."""
    return make_region(tmp_path, [{"id": "H1", "at": "E", "service_area": "花园社区、码头社区", "beds_total": 50},
                                  {"id": "M1", "at": "C", "kind": "助餐点", "beds_total": 0}])


def test_coverage_counts_served_elders_whatever_the_minutes(mixed_region) -> None:
    reach = home_care_reach(mixed_region, settings=SETTINGS)
    network = network_for(mixed_region, "walk", SETTINGS)
    access = elder_access(network, mixed_region.facilities, mixed_region.elders, settings=SETTINGS, home_care=reach)
    assert access[f"time_min:{HC}"].tolist() == [0, 0, 0, np.inf, np.inf, np.inf, np.inf]
    assert [None if pd.isna(v) else v for v in access[f"facility_id:{HC}"]] == ["H1", "H1", "H1"] + [None] * 4
    for minutes in (1, 5, 15, 60, 1000):
        table = coverage_by_area(mixed_region.elders, access[f"time_min:{HC}"], minutes=minutes, by="community",
                                 areas=mixed_region.areas).set_index("code")
        assert table.loc["合计", "covered"] == 3 and table.loc["合计", "elders"] == 7
        assert table.loc[GARDEN, "covered"] == 2 and table.loc[DOCK, "covered"] == 1
        assert table.loc[LIGHTHOUSE, "covered"] == 0
    for minutes, mode in ((1, "walk"), (15, "walk"), (60, "drive")):
        table, per_elder = coverage_module.region_coverage(mixed_region, settings=SETTINGS, minutes=minutes, mode=mode,
                                                           kind=HC)
        assert table.set_index("code").loc["合计", ["elders", "covered"]].tolist() == [7, 3]
        assert per_elder["travel_time_min"].tolist() == [0, 0, 0] + [np.inf] * 4
    # the cached helper gives the same for the kind, whatever the mode
    for mode in ("walk", "drive"):
        kind_access, group = coverage_module._kind_access(mixed_region, mixed_region.facilities[
            mixed_region.facilities["kind"] == HC], settings=SETTINGS, mode=mode, kind=HC)
        assert group == HC and kind_access[f"time_min:{HC}"].tolist() == access[f"time_min:{HC}"].tolist()


def test_any_group_is_the_facilities_elders_visit(mixed_region) -> None:
    reach = home_care_reach(mixed_region, settings=SETTINGS)
    network = network_for(mixed_region, "walk", SETTINGS)
    access = elder_access(network, mixed_region.facilities, mixed_region.elders, settings=SETTINGS, home_care=reach)
    # walking at 3 km/h = 20 min per km to the meal point at C (10 km): never the home-care 0
    np.testing.assert_allclose(access[f"time_min:{ANY}"], access["time_min:助餐点"])
    np.testing.assert_allclose(access[f"time_min:{ANY}"][[0, 2, 3]], [150, 20, 60], atol=1e-6)
    assert set(access[f"facility_id:{ANY}"]) == {"M1"}
    # without the reach table the home-care kind is not offered, and asking for it is refused
    plain = elder_access(network, mixed_region.facilities, mixed_region.elders, settings=SETTINGS)
    assert f"time_min:{HC}" not in plain and "time_min:助餐点" in plain
    with pytest.raises(PlanningInputError, match="上门服务范围"):
        elder_access(network, mixed_region.facilities, mixed_region.elders, settings=SETTINGS, kinds=[HC])


def test_home_care_is_no_supply_of_beds(mixed_region) -> None:
    facilities, supply, _ = coverage_module._supply_catchments(mixed_region, settings=SETTINGS, minutes=60,
                                                               mode="walk", kind=None, column="beds_total")
    assert HC not in set(facilities["kind"]) and len(supply) == 0  # H1's 50 beds are not a supply
    with pytest.raises(PlanningInputError, match="上门服务"):
        coverage_module.region_accessibility(mixed_region, settings=SETTINGS, kind=HC)


def test_gaps_of_the_home_care_kind(mixed_region) -> None:
    cells_1, comm_1 = gaps(mixed_region, settings=SETTINGS, minutes=1, kind=HC)
    cells_60, comm_60 = gaps(mixed_region, settings=SETTINGS, minutes=60, mode="drive", kind=HC)
    assert comm_1.drop(columns="geometry").equals(comm_60.drop(columns="geometry"))  # minutes do not matter
    assert comm_1["code"].tolist() == [LIGHTHOUSE]
    row = comm_1.iloc[0]
    assert (row["elders"], row["uncovered"], row["uncovered_80plus"], row["uncovered_disabled"]) == (4, 4, 2, 1)
    # drives from H1 at E: 7, 5, 4.99, 2.5 -> median 4.995
    assert row["median_time_min"] == pytest.approx(5.0)
    assert row["reason"].startswith("无上门服务覆盖老人 4 人（高龄 2、失能 1、独居 1）")
    assert "到最近上门服务商车程中位 5 分钟" in row["reason"]
    assert cells_1["uncovered"].sum() == 4 and all(r.startswith("无上门服务覆盖") for r in cells_1["reason"])
    # the any-kind gaps are the meal point's walk: reasons as before
    _, comm_any = gaps(mixed_region, settings=SETTINGS, minutes=61)
    assert comm_any["uncovered"].sum() == 5 and not any("上门" in r for r in comm_any["reason"])


# ---------------------------------------------------------------- one place (the public page)


def _lon_lat(x_km: float, y_km: float) -> tuple[float, float]:
    p = gpd.GeoSeries([_pt(x_km, y_km)], crs=CRS).to_crs(4326).iloc[0]
    return p.x, p.y


def test_serving_point_lists_providers_and_why(tmp_path) -> None:
    providers = [{"id": "HA", "at": "A", "name": "甲"}, {"id": "HG", "at": "G", "name": "乙"},
                 {"id": "HE", "at": "E", "name": "丙", "service_area": "公园街道"},
                 {"id": "HF", "at": "F", "name": "丁", "service_area": "花园社区"}]
    region = make_region(tmp_path, providers)
    table = serving_point(region, *_lon_lat(13, 0), settings=SETTINGS)
    assert table["id"].tolist() == ["HE", "HG", "HA"]  # declared area first, then by drive time
    assert table["reason"].tolist() == ["服务区域包含此处", "车程约 7 分钟", "车程约 13 分钟"]
    assert table["basis"].tolist() == [BASIS_AREA, BASIS_DRIVE, BASIS_DRIVE]
    np.testing.assert_allclose(table["drive_min"].iloc[1:], [7, 13], atol=1e-3)
    far = serving_point(region, *_lon_lat(17, 0), settings=SETTINGS)
    assert far["id"].tolist() == ["HE", "HG"] and far["reason"].tolist() == ["服务区域包含此处", "车程约 11 分钟"]
    off_road = serving_point(region, *_lon_lat(3, 2), settings=SETTINGS)  # 2 km from any road, inside 花园
    assert off_road["id"].tolist() == ["HF"] and "无法按车程判断" in off_road.attrs["notes"][0]


# ---------------------------------------------------------------- polygons from a file


def _facilities(tmp_path: Path) -> gpd.GeoDataFrame:
    return make_region(tmp_path, [{"id": "H1", "at": "E", "name": "安康上门"}, {"id": "H2", "at": "A", "name": "福寿上门"},
                                  {"id": "M1", "at": "C", "kind": "助餐点", "name": "助餐点甲"}]).facilities


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg"])
def test_read_service_areas_by_id_and_name(tmp_path, suffix) -> None:
    facilities = _facilities(tmp_path)
    source = gpd.GeoDataFrame({"机构编号": ["H1", None, "M1"], "名称": ["", "福寿上门", ""]},
                              geometry=[box(X0 + 8 * KM, Y0 - 500, X0 + 14 * KM, Y0 + 500), _box(-1, 3), _box(0, 1)],
                              crs=CRS)
    path = tmp_path / f"服务区域{suffix}"
    source.to_file(path)
    result = read_service_areas(path, facilities, settings=SETTINGS)
    layer = result.layer
    assert layer.crs.to_epsg() == 4326 and layer["facility_id"].tolist() == ["H1", "H2", "M1"]
    assert shapely.equals_exact(layer.to_crs(CRS).geometry.iloc[0], source.geometry.iloc[0], tolerance=1e-3)
    assert len(result.warnings) == 1 and "助餐点甲" in result.warnings[0] and "不参与上门服务覆盖" in result.warnings[0]
    # used as the region's layer, the polygon serves
    region = make_region(tmp_path / "r", [{"id": "H1", "at": "E"}], service_areas=layer.iloc[[0]])
    assert _column(home_care_reach(region, settings=SETTINGS), "served") == [False, False, True, True] + [False] * 3


def test_read_service_areas_names_every_problem(tmp_path) -> None:
    facilities = _facilities(tmp_path)
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 1000, Y0 + 1000), (X0 + 1000, Y0), (X0, Y0 + 1000)])
    source = gpd.GeoDataFrame({"facility_id": ["H1", "H9", None, "H2", "H1"], "name": ["", "", "无名", "", ""]},
                              geometry=[_box(0, 1), _box(0, 1), _box(0, 1), Point(X0, Y0), bowtie], crs=CRS)
    path = tmp_path / "areas.geojson"
    source.to_file(path)
    with pytest.raises(InputFileError) as caught:
        read_service_areas(path, facilities, settings=SETTINGS)
    message = str(caught.value)
    assert "服务区域文件 areas.geojson 有 4 处问题" in message
    assert "第 2 个要素，设施编号（facility_id） “H9”：本地区设施中没有这个编号" in message
    assert "第 3 个要素，名称（name） “无名”：本地区设施中没有这个名称" in message
    assert "第 4 个要素，边界 “Point”：应为多边形" in message
    assert "第 5 个要素，边界" in message and "面积变化超过 1%" in message
    assert "第 1 个要素" not in message


def test_read_service_areas_refuses_files_it_cannot_use(tmp_path) -> None:
    facilities = _facilities(tmp_path)
    no_crs = tmp_path / "no_crs.geojson"
    no_crs.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
                      '{"facility_id": "H1"}, "geometry": {"type": "Polygon", "coordinates": '
                      '[[[500000, 3840000], [501000, 3840000], [501000, 3841000], [500000, 3840000]]]}}]}',
                      encoding="utf-8")
    with pytest.raises(InputFileError, match="no_crs.geojson.*经纬度范围"):  # GeoJSON means WGS 84: metres are not
        read_service_areas(no_crs, facilities, settings=SETTINGS)
    shapefile = tmp_path / "no_prj.shp"
    gpd.GeoDataFrame({"id": ["H1"]}, geometry=[_box(0, 1)], crs=CRS).to_file(shapefile)
    shapefile.with_suffix(".prj").unlink()
    with pytest.raises(InputFileError, match="no_prj.shp 没有坐标系信息"):
        read_service_areas(shapefile, facilities, settings=SETTINGS)
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(InputFileError, match="empty.geojson 中没有任何要素"):
        read_service_areas(empty, facilities, settings=SETTINGS)
    no_key = tmp_path / "no_key.geojson"
    gpd.GeoDataFrame({"备注": ["x"]}, geometry=[_box(0, 1)], crs=CRS).to_file(no_key)
    with pytest.raises(InputFileError, match="缺少设施编号列.*收到的列：备注"):
        read_service_areas(no_key, facilities, settings=SETTINGS)


def test_repairable_polygon_is_kept_with_a_warning(tmp_path) -> None:
    facilities = _facilities(tmp_path)
    # a square with a tiny self-crossing loop at one corner: make_valid changes the area by far less than 1 %
    loop = shapely.Polygon([(X0 + x, Y0 + y) for x, y in [(0, 0), (1000, 0), (1000, 1000), (0, 1000), (0, 1), (1, -1),
                                                          (0, 0)]])
    assert not loop.is_valid
    path = tmp_path / "loop.geojson"
    gpd.GeoDataFrame({"facility_id": ["H1"]}, geometry=[loop], crs=CRS).to_file(path)
    result = read_service_areas(path, facilities, settings=SETTINGS)
    assert result.layer["facility_id"].tolist() == ["H1"] and result.layer.geometry.iloc[0].is_valid
    assert any("已自动修复" in w and "第 1 个要素" in w for w in result.warnings)


def test_reach_uses_the_scenario_facilities(tmp_path) -> None:
    region = make_region(tmp_path, [{"id": "H1", "at": "A"}])
    moved = region.facilities.copy()
    moved["geometry"] = gpd.GeoSeries([_pt(20, 0)], crs=CRS, index=moved.index)
    reach = home_care_reach(region, settings=SETTINGS, facilities=moved)
    assert _column(reach, "served") == [False, False, True, True, True, True, True]  # from E: 17.5, 19 too far
    # and the cached reach of coverage keys them apart
    first = coverage_module._home_care_for(region, SETTINGS)
    second = coverage_module._home_care_for(region, SETTINGS, moved)
    assert first[f"served:{HC}"].tolist() != second[f"served:{HC}"].tolist()
    assert elder_snap_for(region, "drive", SETTINGS).snapped.all()
    assert snap_points(network_for(region, "drive", SETTINGS), moved, settings=SETTINGS).snapped.all()


def _serving_reference(region, lon: float, lat: float, settings: Settings) -> pd.DataFrame:
    """Who serves a place, the slow way: every area polygon tested, the providers' drive times by
    catchment_matrix to this one place (no per-version index, no STR tree, no cached searches)."""
    import shapely

    from planning.catchments import catchment_matrix
    from planning.home_care import _AreaNames, _drive, declared_service_areas, reach_reason_zh

    declared = declared_service_areas(region, settings=settings, facilities=region.facilities.copy())
    names = _AreaNames(region.areas)
    point = shapely.Point(lon, lat)
    areas = region.areas.to_crs(4326)
    holding = sorted((str(c) for c, g in zip(areas["code"], areas.geometry, strict=True)
                      if g is not None and not g.is_empty and g.covers(point)), key=len, reverse=True)
    codes_at: dict[str, str] = {}
    for code in holding:
        for level in ("district", "street", "community"):
            up = names.ancestor(code, level)
            if up and level not in codes_at:
                codes_at[level] = up
    polygons = dict(zip(declared.polygons["facility_id"], declared.polygons.geometry, strict=True))
    rows = []
    for _, p in declared.providers.iterrows():
        if not p["declared"]:
            continue
        inside = any(codes_at.get(names.level(c)) == c for c in p["codes"])
        inside = inside or (p["polygon"] and polygons[p["id"]].covers(point))
        if inside:
            rows.append({"id": p["id"], "name": p["name"], "kind": p["kind"], "basis": "area", "drive_min": np.nan,
                         "reason": reach_reason_zh("area", None)})
    fallback = declared.providers[~declared.providers["declared"]]
    network, _ = _drive(region, settings)
    here = snap_points(network, gpd.GeoDataFrame(geometry=[point], crs=4326), settings=settings)
    if len(fallback) and here.snapped[0]:
        sources = snap_points(network, region.facilities.iloc[fallback["position"].to_numpy()], settings=settings)
        times = catchment_matrix(network, sources, here, cutoff_min=settings.home_care_drive_minutes).toarray()[:, 0]
        for (_, p), t in zip(fallback.iterrows(), times, strict=True):
            if t > 0:
                rows.append({"id": p["id"], "name": p["name"], "kind": p["kind"], "basis": "drive",
                             "drive_min": float(t), "reason": reach_reason_zh("drive", float(t))})
    frame = pd.DataFrame(rows, columns=["id", "name", "kind", "basis", "drive_min", "reason"])
    frame["_area"] = frame["basis"] != "area"
    frame = frame.sort_values(["_area", "drive_min", "name"], kind="stable", na_position="first")
    return frame.drop(columns="_area").reset_index(drop=True)


def test_serving_point_cached_per_version_equals_a_fresh_computation(demo_region) -> None:
    """The region's own providers are resolved and their drive searches made once per version (the API asks
    many times a second); at many places the answer equals a slow reference (every polygon tested, one
    catchment_matrix per place) and the uncached path (facilities passed as a copy)."""
    from planning import home_care

    settings = Settings()
    bounds = demo_region.road_nodes.total_bounds
    rng = np.random.default_rng(7)
    points = np.column_stack([rng.uniform(bounds[0], bounds[2], 25), rng.uniform(bounds[1], bounds[3], 25)])
    facilities = demo_region.facilities.copy()
    facilities["service_area"] = None  # no declared area: every provider is reached by car (the snapped path)
    undeclared = dataclasses.replace(demo_region, path=Path(f"{demo_region.path}-undeclared"),
                                     layers={**demo_region.layers, "facilities": facilities})
    home_care._SERVING.clear()
    drive = area = 0
    for region in (demo_region, undeclared):
        for lon, lat in points:
            cached = serving_point(region, lon, lat, settings=settings)
            fresh = serving_point(region, lon, lat, settings=settings, facilities=region.facilities.copy())
            reference = _serving_reference(region, lon, lat, settings)
            pd.testing.assert_frame_equal(cached, fresh)
            pd.testing.assert_frame_equal(cached[["id", "basis"]], reference[["id", "basis"]])
            np.testing.assert_allclose(cached["drive_min"].to_numpy(float), reference["drive_min"].to_numpy(float),
                                       rtol=1e-9)
            assert cached["reason"].tolist() == reference["reason"].tolist()
            assert cached.attrs["notes"] == fresh.attrs["notes"]
            drive += int((cached["basis"] == "drive").sum())
            area += int((cached["basis"] == "area").sum())
    assert len(home_care._SERVING) == 2  # once per version, 25 places each
    assert all(index._reach is not None for index in home_care._SERVING.values())
    assert drive > 0 and area > 0
