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
    _Book,
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


# ---------------------------------------------------------------- caches of the desk (per region version)


def _clear_desk_caches() -> None:
    from desk import dispatch

    dispatch._ROSTERS.clear()
    dispatch._REVERSED.clear()
    dispatch._SCORES.clear()


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.ranked, b.ranked, check_exact=True)
    pd.testing.assert_frame_equal(a.excluded, b.excluded, check_exact=True)
    assert a.notes == b.notes


def test_roster_cache_follows_the_tables_and_the_version(tmp_path: Path) -> None:
    """The providers, carers and service list are read once per region version, checked against the tables
    themselves: another carers or facilities table (even under the same version path) or another version gives
    fresh answers, and a cold cache answers as a warm one."""
    region = make_region(tmp_path)
    first = candidates(region, ORDER, SETTINGS, orders=_existing(), ratings=RATINGS)
    assert "c1" in set(first.ranked["carer_id"])
    carers = region.layers["carers"].copy()
    carers["skills"] = [["助餐配送"] if cid == "c1" else s for cid, s in zip(carers["id"], carers["skills"], strict=True)]
    changed = Region("tiny", region.path, {}, {**region.layers, "carers": carers})
    found = candidates(changed, ORDER, SETTINGS, orders=_existing(), ratings=RATINGS)
    assert "c1" not in set(found.ranked["carer_id"])
    why = found.excluded.set_index("carer_id")["reason"]
    assert why["c1"] == "缺少技能 助浴（助浴服务（A01））"
    facilities = region.facilities.copy()
    facilities["services"] = [["助餐"] if pid == "P2" else s
                              for pid, s in zip(facilities["id"], facilities["services"], strict=True)]
    other = Region("tiny", region.path, {}, {**region.layers, "facilities": facilities})
    found = candidates(other, ORDER, SETTINGS, orders=_existing(), ratings=RATINGS)
    assert not {"c2", "c7"} & set(found.ranked["carer_id"])
    assert found.excluded.set_index("provider_id").loc["P2", "reason"] == "未提供服务项目 助浴服务（A01）"
    _same(candidates(region, ORDER, SETTINGS, orders=_existing(), ratings=RATINGS), first)  # back: as before
    later = Region("tiny", tmp_path / "v2", {}, {**region.layers, "carers": carers})  # a new version
    assert "c1" not in set(candidates(later, ORDER, SETTINGS, orders=_existing(), ratings=RATINGS).ranked["carer_id"])
    _clear_desk_caches()
    _same(candidates(region, ORDER, SETTINGS, orders=_existing(), ratings=RATINGS), first)  # cold = warm


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.lists(st.tuples(st.floats(-0.5, 30.5), st.floats(-0.3, 4.3)), min_size=2, max_size=7))
def test_drive_search_is_catchment_matrix_to_the_bit(tmp_path: Path, points: list[tuple[float, float]]) -> None:
    """drive_minutes_to's one search (the virtual source appended to the cached reversed graph) gives the very
    floats of catchment_matrix over the reversed network (inf where that has no entry)."""
    region = make_region(tmp_path)
    network = network_for(region, "drive", SETTINGS)
    pts = gpd.GeoDataFrame(geometry=[_pt(x, y) for x, y in points], crs=CRS)
    origins = pts.iloc[1:]
    lon, lat = TO_LONLAT.transform(pts.geometry.iloc[0].x, pts.geometry.iloc[0].y)
    target = snap_points(network, gpd.GeoDataFrame(geometry=[Point(lon, lat)], crs=4326), settings=SETTINGS)
    for cutoff in (100.0, 9.0, 0.0):
        want = catchment_matrix(reversed_network(network), reversed_snap(target),
                                reversed_snap(snap_points(network, origins, settings=SETTINGS)),
                                cutoff_min=cutoff).toarray()[0]
        got = drive_minutes_to(region, origins, lon, lat, settings=SETTINGS, cutoff_min=cutoff)
        assert np.array_equal(np.where(want > 0, want, np.inf), got)


def test_cached_equals_uncached_on_the_demo(demo_region, tmp_path: Path) -> None:
    """On the demo region with its month of orders in the log: ranked lists read from the log (the day's rows as
    tuples, warm caches) equal those of a cold start and those from the whole order table as a frame."""
    from conftest import copy_demo_region

    from data import store
    from desk.ratings import provider_ratings

    settings = Settings()
    root = copy_demo_region(demo_region, tmp_path / "regions")
    region = store.load_region("demo", root=root)
    history = demo_region.layers["orders"]
    orders_db.ingest_orders("demo", history, actor="system", root=root, items=region.layers["service_items"],
                            now=dt.datetime(2026, 12, 1, 16, 0))
    log = orders_db.current_orders("demo", root=root)
    ratings = provider_ratings(region, settings, root=root)
    day = pd.to_datetime(log["window_start"]).dt.date.value_counts().index[0]  # the busiest day
    rng = np.random.default_rng(7)
    elders = region.elders.to_crs(4326)
    codes = region.layers["service_items"]["code"].astype(str).tolist()
    calls = []
    for k in range(12):
        point = elders.geometry.iloc[int(rng.integers(len(elders)))]
        start = dt.datetime.combine(day, dt.time(7)) + dt.timedelta(minutes=30 * int(rng.integers(0, 20)))
        calls.append({"id": f"T{k}", "lon": point.x, "lat": point.y, "item_codes": [codes[k % len(codes)]],
                      "window_start": start, "window_end": start + dt.timedelta(hours=1)})
    calls.append({**calls[0], "id": log["id"].iloc[0]})  # an order of the log itself: left out of its own day
    _clear_desk_caches()
    warm = [candidates(region, c, settings, root=root, ratings=ratings) for c in calls]
    assert sum(len(w.ranked) for w in warm) and any((w.ranked["origin"] == "上一单地点").any() for w in warm)
    for c, w in zip(calls, warm, strict=True):
        _same(candidates(region, c, settings, root=root, ratings=ratings), w)  # warm again
        _same(candidates(region, c, settings, orders=log, ratings=ratings), w)  # the whole table as a frame
        _clear_desk_caches()
        _same(candidates(region, c, settings, root=root, ratings=ratings), w)  # cold


@pytest.fixture(params=["files", "postgis"])
def log_root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    from pg_support import new_database

    from data import store

    root = str(tmp_path)
    if request.param == "postgis":
        root = new_database(request.getfixturevalue("postgis_url"))
        store.migrate_database(root)
    layer = gpd.GeoDataFrame({"id": ["P1"]}, geometry=[Point(113.6, 34.7)], crs=4326)
    store.save_region("desk", {"facilities": layer}, {}, root=root)
    return root


def _lookups(book: _Book) -> tuple:
    def plain(v: object) -> object:
        return None if isinstance(v, float) and np.isnan(v) else v

    return ({c: sorted(v) for c, v in book.active.items()},
            {c: sorted(tuple(plain(x) for x in t) for t in v) for c, v in book.carer_day.items()},
            book.provider_day)


def test_day_book_rows_read_as_the_order_frame(log_root: str) -> None:
    """The day's lookups from :func:`desk.orders_db.day_book_rows` (plain tuples) equal those from
    ``current_orders(day=…)`` as a frame and from the whole log, on SQLite and PostGIS: every state, a refused
    order back in the queue, orders with and without a point, on the day and around it."""
    t0 = dt.datetime(2026, 11, 30, 7, 0)
    flows = [[], ["已派单"], ["已派单", "已接单"], ["已派单", "已接单", "服务中"], ["已派单", "已接单", "服务中", "已完成"],
             ["已派单", "已接单", "服务中", "已完成", "已回访"], ["已取消"], ["已派单", "拒单"]]
    k = 0
    for day in range(3):
        for n, flow in enumerate(flows):
            for carer in ("c1", "c2"):
                k += 1
                start = t0 + dt.timedelta(days=day, minutes=60 * n + (90 if carer == "c2" else 0))
                order = {"id": f"B{k:03d}", "item_codes": ["A01"], "window_start": start,
                         "window_end": start + dt.timedelta(minutes=50), "elder_id": "E1",
                         **({"lon": 113.6 + k / 1000, "lat": 34.7} if k % 3 else {})}
                oid = orders_db.create_order("desk", order, actor="t", root=log_root, now=t0)
                for step in flow:
                    if step == "已派单":
                        orders_db.dispatch("desk", oid, "P1" if k % 2 else "P2", carer, actor="t", root=log_root,
                                           now=t0)
                    else:
                        orders_db.transition("desk", oid, step, actor="t", root=log_root, now=t0,
                                             satisfaction=4 if step == "已回访" else None)
    whole = orders_db.current_orders("desk", root=log_root)
    for day in (dt.date(2026, 11, 30), dt.date(2026, 12, 1), dt.date(2026, 12, 2), dt.date(2026, 12, 5)):
        for mine in ("none", "B010", "B020"):
            rows = _Book.of_rows(orders_db.day_book_rows("desk", day, root=log_root), day, mine)
            frame = _Book(orders_db.current_orders("desk", root=log_root, day=day), day, mine)
            full = _Book(whole, day, mine)
            for book in (frame, full):
                assert _lookups(rows) == _lookups(book)
            assert rows.active and (day == dt.date(2026, 12, 5) or rows.carer_day)


def test_due_ratings_are_refreshed_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The log's ratings: the first call waits for them; once due, the call that notices gets the previous ones
    at once while one thread reads them afresh; a failed refresh keeps the previous ones."""
    import threading

    from desk import dispatch

    region = make_region(tmp_path)
    tables = iter([RATINGS, RATINGS.assign(score=[1.0, 2.0]), None])
    started, release = threading.Event(), threading.Event()

    def read(*_args: object) -> pd.DataFrame:
        table = next(tables)
        if table is not RATINGS:
            started.set()
            assert release.wait(10)
        if table is None:
            raise OSError("log unreadable")
        return table

    monkeypatch.setattr(dispatch, "_read_ratings", read)
    monkeypatch.setattr(dispatch, "RATINGS_TTL_S", 0.0)
    monkeypatch.setattr(dispatch, "_LOG_RATINGS", {})

    def wait_refresh() -> None:
        assert dispatch._LOG_RATINGS_REFRESH.acquire(timeout=10)
        dispatch._LOG_RATINGS_REFRESH.release()

    assert dispatch._log_ratings(region, SETTINGS, tmp_path) is RATINGS  # the first call waits for them
    assert dispatch._log_ratings(region, SETTINGS, tmp_path) is RATINGS  # due: the previous ones, a refresh starts
    assert started.wait(10)
    assert dispatch._log_ratings(region, SETTINGS, tmp_path) is RATINGS  # still refreshing: no second reader
    release.set()
    wait_refresh()
    fresh = dispatch._log_ratings(region, SETTINGS, tmp_path)  # refreshed; due again (TTL 0): the next one fails
    assert fresh["score"].tolist() == [1.0, 2.0]
    wait_refresh()
    assert dispatch._log_ratings(region, SETTINGS, tmp_path) is fresh  # the failure kept the previous ones
