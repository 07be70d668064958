"""Dispatch ranking (desk.dispatch): eligibility with reasons, drive times from the right place, the ranking
cost, the queue, the reversed-network drive times against a forward search and networkx, and the load target.

A tiny region in metres (WGS 84 / UTM 49N) with driving at 60 km/h = 1 km a minute, so every time is a
distance in km::

    F(5,4) ──oneway F→G── G(10,4)
     │                     │
    A(0,0) ── B(5,0) ── C(10,0) ── D(15,0) ──────── E(30,0)      (two-way except F→G)

The order is at G. Drives to G: from F 5 (the oneway), from A 14 (A–B–F–G or A–B–C–G), from C 4, from D 9, from
E 24; from G to F it is 13 (G–C–B–F), not 5.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from netref import add_street_chains
from pyproj import Transformer
from shapely.geometry import LineString, Point

from data.store import Region
from desk import orders_db
from desk.dispatch import (
    RANK_COLUMNS,
    candidates,
    drive_minutes_to,
    order_items,
    parse_time_range,
    queue_of,
    reversed_network,
    reversed_snap,
)
from desk.errors import DeskError
from geo.settings import Settings
from planning.catchments import catchment_matrix
from planning.coverage import network_for
from planning.network import snap_points

CRS = "EPSG:32649"
X0, Y0 = 500_000.0, 3_840_000.0
KM = 1000.0
HC = "居家上门服务商"
SETTINGS = Settings(drive_speeds_kmh=(("residential", 60.0), ("tertiary", 60.0)), home_care_drive_minutes=15.0,
                    desk_rank_minutes_per_point=3.0, desk_rank_minutes_full_load=5.0, desk_max_drive_min=60.0)
NODES = {"A": (0, 0), "B": (5, 0), "C": (10, 0), "D": (15, 0), "E": (30, 0), "F": (5, 4), "G": (10, 4)}
ROADS = [("A", "B", False), ("B", "C", False), ("C", "D", False), ("D", "E", False), ("B", "F", False),
         ("F", "G", True), ("C", "G", False)]
TO_LONLAT = Transformer.from_crs(CRS, 4326, always_xy=True)
DAY = "2026-12-01"


def _pt(x_km: float, y_km: float) -> Point:
    return Point(X0 + x_km * KM, Y0 + y_km * KM)


def lonlat(node: str) -> tuple[float, float]:
    x, y = NODES[node]
    return TO_LONLAT.transform(X0 + x * KM, Y0 + y * KM)


ITEMS = pd.DataFrame([
    {"code": "A01", "name": "助浴服务", "category": "生活照料", "service_tag": "助浴", "eligible_groups": ["失能"],
     "subsidy_yuan": 30.0, "skill": "助浴", "min_skill_level": 2},
    {"code": "A02", "name": "送餐上门", "category": "生活照料", "service_tag": "助餐", "eligible_groups": ["高龄"],
     "subsidy_yuan": 5.0, "skill": "助餐配送", "min_skill_level": 1},
])
PROVIDERS = [  # id, base node, services, hours, capacity
    ("P1", "A", ["助浴", "助餐"], "08:00-18:00", 20),
    ("P2", "C", ["助浴", "助餐"], None, None),
    ("P3", "D", ["助餐"], None, None),            # no 助浴
    ("P4", "B", ["助浴", "助餐"], "13:00-18:00", None),  # closed in the morning
    ("P5", "E", ["助浴", "助餐"], None, None),     # 24 min from G: beyond the 15-minute drive rule
]
CARERS = [  # id, provider, base node, skills, level, shift, max orders
    ("c1", "P1", "F", ["助浴", "助餐配送"], 3, (480, 1020), 4),
    ("c2", "P2", "A", ["助浴", "助餐配送"], 2, (480, 1020), 4),
    ("c3", "P2", "G", ["助浴", "助餐配送"], 5, (480, 1020), 4),   # busy 09:30–10:30
    ("c4", "P1", "C", ["助浴", "助餐配送"], 1, (480, 1020), 4),   # level too low
    ("c5", "P2", "C", ["助浴"], 4, (480, 1020), 4),             # no 助餐配送
    ("c6", "P1", "G", ["助浴", "助餐配送"], 4, (780, 1080), 4),   # afternoon shift
    ("c7", "P2", "D", ["助浴", "助餐配送"], 2, (420, 1020), 2),   # did a 07:00–08:00 order at F
    ("c8", "P3", "G", ["助浴", "助餐配送"], 5, (480, 1020), 4),   # its provider lacks 助浴
]


def make_region(tmp_path: Path) -> Region:
    ids = {name: i + 1 for i, name in enumerate(NODES)}
    roads = gpd.GeoDataFrame(
        {"u": [ids[a] for a, _, _ in ROADS], "v": [ids[b] for _, b, _ in ROADS], "highway": "residential",
         "oneway": [o for *_, o in ROADS], "maxspeed_kmh": np.nan, "access": None, "foot": None,
         "motor_vehicle": None},
        geometry=[LineString([_pt(*NODES[a]), _pt(*NODES[b])]) for a, b, _ in ROADS], crs=CRS)
    facilities = gpd.GeoDataFrame(
        {"id": [p[0] for p in PROVIDERS], "name": [f"服务商{p[0]}" for p in PROVIDERS], "kind": HC,
         "services": [p[2] for p in PROVIDERS], "hours": [p[3] for p in PROVIDERS],
         "capacity_orders_day": [p[4] for p in PROVIDERS], "service_area": pd.array([None] * 5, dtype="string")},
        geometry=[_pt(*NODES[p[1]]) for p in PROVIDERS], crs=CRS)
    carers = pd.DataFrame(
        {"id": [c[0] for c in CARERS], "provider_id": [c[1] for c in CARERS], "skills": [c[3] for c in CARERS],
         "skill_level": [c[4] for c in CARERS], "shift_start_min": [c[5][0] for c in CARERS],
         "shift_end_min": [c[5][1] for c in CARERS], "max_orders_day": [c[6] for c in CARERS],
         "lon": [lonlat(c[2])[0] for c in CARERS], "lat": [lonlat(c[2])[1] for c in CARERS]})
    elders = gpd.GeoDataFrame({"pid": ["E1"]}, geometry=[_pt(*NODES["G"])], crs=CRS)
    layers = {"road_edges": roads, "facilities": facilities, "elders": elders, "carers": carers,
              "service_items": ITEMS}
    return Region("tiny", tmp_path / "v1", {}, layers)


def _orders(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(orders_db.ORDER_COLUMNS))
    for c in orders_db.TIME_COLUMNS:
        frame[c] = pd.to_datetime(frame[c])
    return frame


def _existing() -> pd.DataFrame:
    f_lon, f_lat = lonlat("F")
    return _orders([
        {"id": "X1", "status": "已接单", "provider_id": "P2", "carer_id": "c3", "item_codes": ["A02"],
         "window_start": f"{DAY} 09:30", "window_end": f"{DAY} 10:30", "urgency": "普通"},
        {"id": "X2", "status": "已完成", "provider_id": "P2", "carer_id": "c7", "item_codes": ["A02"],
         "window_start": f"{DAY} 07:00", "window_end": f"{DAY} 08:00", "lon": f_lon, "lat": f_lat, "urgency": "普通"},
    ])


RATINGS = pd.DataFrame({"provider_id": ["P1", "P2"], "score": [4.0, 4.5], "followups": [10, 20]})
ORDER = {"id": "N1", "elder_id": "E1", "item_codes": ["A01", "A02"], "window_start": f"{DAY} 09:00",
         "window_end": f"{DAY} 10:00", "urgency": "普通", "status": "待派单"}


def test_hand_computed_ranking_and_reasons(tmp_path: Path) -> None:
    """Costs (minutes): c1 5 + 3×(5−4.0) + 5×0/4 = 8; c7 5 (from its 07:00 order at F) + 3×0.5 + 5×1/2 = 9;
    c2 14 + 1.5 + 0 = 15.5."""
    region = make_region(tmp_path)
    found = candidates(region, ORDER, SETTINGS, orders=_existing(), ratings=RATINGS)
    ranked = found.ranked
    assert list(ranked.columns) == list(RANK_COLUMNS)
    assert ranked["carer_id"].tolist() == ["c1", "c7", "c2"]
    assert ranked["rank"].tolist() == [1, 2, 3]
    assert ranked["drive_min"].to_numpy() == pytest.approx([5.0, 5.0, 14.0], abs=1e-6)
    assert ranked["cost"].to_numpy() == pytest.approx([8.0, 9.0, 15.5], abs=1e-6)
    assert ranked["origin"].tolist() == ["住址", "上一单地点", "住址"]
    assert ranked["reason"].tolist() == [
        "车程 5 分钟；评分 4.0（10 次回访）；今日已接 0 单",
        "车程 5 分钟（从上一单地点出发）；评分 4.5（20 次回访）；今日已接 1 单",
        "车程 14 分钟；评分 4.5（20 次回访）；今日已接 0 单",
    ]
    why = dict(zip(found.excluded["provider_id"] + "/" + found.excluded["carer_id"], found.excluded["reason"],
                   strict=True))
    assert why == {
        "P3/": "未提供服务项目 助浴服务（A01）",
        "P4/": "预约时段不在营业时间 13:00–18:00 内",
        "P5/": "服务范围不含此地址",
        "P2/c3": "09:30–10:30 已有工单 X1",
        "P1/c4": "技能等级 1 低于服务项目要求的 2 级",
        "P2/c5": "缺少技能 助餐配送（送餐上门（A02））",
        "P1/c6": "预约时段不在其工作时间 13:00–18:00 内",
    }


def test_rating_outweighs_a_few_minutes_and_load_counts(tmp_path: Path) -> None:
    """With P2 rated 5 and P1 2: c1 5 + 9 = 14; c7 5 + 0 + 2.5 = 7.5; c2 14 + 0 = 14 → c7, then c1 and c2 tie
    at 14, the better rated (P2's c2) first."""
    region = make_region(tmp_path)
    ratings = pd.DataFrame({"provider_id": ["P1", "P2"], "score": [2.0, 5.0], "followups": [3, 40]})
    ranked = candidates(region, ORDER, SETTINGS, orders=_existing(), ratings=ratings).ranked
    assert ranked["carer_id"].tolist() == ["c7", "c2", "c1"]
    assert ranked["cost"].to_numpy() == pytest.approx([7.5, 14.0, 14.0], abs=1e-6)


def test_capacity_limits_and_order_point_from_elder(tmp_path: Path) -> None:
    region = make_region(tmp_path)
    busy_day = pd.concat([_existing(), _orders([
        {"id": f"Y{i}", "status": "已完成", "provider_id": "P1", "carer_id": "c6", "item_codes": ["A02"],
         "window_start": f"{DAY} 13:0{i}", "window_end": f"{DAY} 13:3{i}", "urgency": "普通"} for i in range(4)])],
        ignore_index=True)
    facilities = region.facilities.copy()
    facilities.loc[facilities["id"] == "P1", "capacity_orders_day"] = 4
    region = Region("tiny", region.path, {}, {**region.layers, "facilities": facilities})
    found = candidates(region, {**ORDER, "lon": None}, SETTINGS, orders=busy_day, ratings=RATINGS)
    assert "P1" not in set(found.ranked["provider_id"])
    assert "当天已接 4 单，达到日接单上限 4 单" in found.excluded.set_index("provider_id").loc["P1", "reason"]


def test_unknown_items_and_no_point_are_explained(tmp_path: Path) -> None:
    region = make_region(tmp_path)
    with pytest.raises(DeskError, match="服务项目 Z99 不在服务清单中"):
        order_items(region, {**ORDER, "item_codes": ["A01", "Z99"]})
    assert order_items(region, {**ORDER, "item_codes": "送餐上门、A01"})["code"].tolist() == ["A02", "A01"]
    found = candidates(region, {**ORDER, "elder_id": "nobody"}, SETTINGS, orders=_existing(), ratings=RATINGS)
    assert found.ranked.empty and "没有服务地址坐标" in found.notes[0]


def test_queue_urgent_first() -> None:
    q = queue_of(_orders([
        {"id": "a", "status": "待派单", "urgency": "普通", "window_start": f"{DAY} 08:00", "created_at": f"{DAY} 07:00"},
        {"id": "b", "status": "待派单", "urgency": "紧急", "window_start": f"{DAY} 11:00", "created_at": f"{DAY} 07:30"},
        {"id": "c", "status": "已派单", "urgency": "紧急", "window_start": f"{DAY} 07:00", "created_at": f"{DAY} 06:00"},
        {"id": "d", "status": "待派单", "urgency": "紧急", "window_start": f"{DAY} 10:00", "created_at": f"{DAY} 07:40"},
        {"id": "e", "status": "待派单", "urgency": "普通", "window_start": f"{DAY} 08:00", "created_at": f"{DAY} 06:59"},
    ]))
    assert q["id"].tolist() == ["d", "b", "e", "a"]


def test_time_ranges() -> None:
    assert parse_time_range("08:00-18:00") == (480, 1080)
    assert parse_time_range("8：30 至 17:00") == (510, 1020)
    assert parse_time_range("全天") is None and parse_time_range(None) is None


def test_drive_direction_honours_the_oneway(tmp_path: Path) -> None:
    region = make_region(tmp_path)
    origins = gpd.GeoDataFrame(geometry=[_pt(*NODES["G"]), _pt(*NODES["A"]), _pt(40, 10)], crs=CRS)
    f_lon, f_lat = lonlat("F")
    got = drive_minutes_to(region, origins, f_lon, f_lat, settings=SETTINGS, cutoff_min=60)
    assert got[:2] == pytest.approx([13.0, 9.0], abs=1e-6) and np.isinf(got[2])  # the last is off every road


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.lists(st.tuples(st.floats(-0.5, 30.5), st.floats(-0.3, 4.3)), min_size=2, max_size=7))
def test_reversed_search_equals_forward_and_networkx(tmp_path: Path, points: list[tuple[float, float]]) -> None:
    """Times from many origins to one target by one search over the reversed network equal a search from each
    origin (catchment_matrix forward) and networkx's Dijkstra on the street graph with the points inserted."""
    region = make_region(tmp_path)
    network = network_for(region, "drive", SETTINGS)
    pts = gpd.GeoDataFrame(geometry=[_pt(x, y) for x, y in points], crs=CRS)
    snap = snap_points(network, pts, settings=SETTINGS)
    target, origins = snap_points(network, pts.iloc[:1], settings=SETTINGS), snap_points(
        network, pts.iloc[1:], settings=SETTINGS)
    back = catchment_matrix(reversed_network(network), reversed_snap(target), reversed_snap(origins),
                            cutoff_min=100).toarray()[0]
    forward = catchment_matrix(network, origins, target, cutoff_min=100).toarray()[:, 0]
    assert back == pytest.approx(forward, abs=1e-9)
    graph = nx.MultiDiGraph()
    on_edge: dict[int, list] = {}
    for i in range(len(pts)):
        if snap.snapped[i]:
            on_edge.setdefault(int(snap.edge[i]), []).append((float(snap.t[i]), f"p{i}"))
    add_street_chains(graph, network, on_edge)
    for j in range(1, len(pts)):
        if not (snap.snapped[0] and snap.snapped[j]):
            assert back[j - 1] == 0
            continue
        try:
            ref = nx.dijkstra_path_length(graph, f"p{j}", "p0") + snap.access_min[0] + snap.access_min[j]
        except nx.NetworkXNoPath:
            ref = np.inf
        got = back[j - 1] if back[j - 1] > 0 else np.inf
        assert got == pytest.approx(max(ref, 1e-9), abs=1e-6) or (np.isinf(ref) and np.isinf(got))


def test_warm_ranking_is_fast(tmp_path: Path) -> None:
    """The load target: a warm region answers a ranked list in well under 300 ms."""
    region = make_region(tmp_path)
    candidates(region, ORDER, SETTINGS, orders=_existing(), ratings=RATINGS)  # warm: network, areas
    start = time.perf_counter()
    for _ in range(5):
        candidates(region, ORDER, SETTINGS, orders=_existing())
    assert (time.perf_counter() - start) / 5 < 0.3


def test_now_default_is_local(tmp_path: Path) -> None:
    now = orders_db.local_now(Settings(display_timezone="Asia/Shanghai"))
    utc = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs((now - utc).total_seconds() - 8 * 3600) < 5
