"""Provider ratings (desk.ratings), computed by hand, and read from a real order log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from data import store
from data.store import Region
from desk import orders_db
from desk.ratings import RATING_COLUMNS, provider_ratings, rate_providers
from geo.settings import Settings

SETTINGS = Settings(desk_prior_orders=2.0, desk_rating_weight_satisfaction=0.5, desk_rating_weight_on_time=0.3,
                    desk_rating_weight_complaints=0.2, desk_accept_timeout_min=10, desk_bottom_share=0.5,
                    desk_bottom_min_orders=2)
D = "2026-12-01"


def _orders(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(orders_db.ORDER_COLUMNS))
    for c in orders_db.TIME_COLUMNS:
        frame[c] = pd.to_datetime(frame[c])
    frame["satisfaction"] = frame["satisfaction"].astype("Int64")
    frame["complaint"] = frame["complaint"].astype("boolean")
    return frame


ORDERS = _orders([
    # P1: on time (started 09:00 ≤ 10:00), 5, no complaint; late (10:30 > 10:00), 4, complaint
    {"id": "o1", "provider_id": "P1", "status": "已回访", "window_end": f"{D} 10:00", "dispatched_at": f"{D} 08:00",
     "accepted_at": f"{D} 08:05", "started_at": f"{D} 09:00", "satisfaction": 5, "complaint": False},
    {"id": "o2", "provider_id": "P1", "status": "已回访", "window_end": f"{D} 10:00", "dispatched_at": f"{D} 08:00",
     "accepted_at": f"{D} 08:05", "started_at": f"{D} 10:30", "satisfaction": 4, "complaint": True},
    # P2: on time, 2, no complaint; accepted 20 min after dispatch and not started: late
    {"id": "o3", "provider_id": "P2", "status": "已回访", "window_end": f"{D} 10:00", "dispatched_at": f"{D} 08:00",
     "accepted_at": f"{D} 08:01", "started_at": f"{D} 09:10", "satisfaction": 2, "complaint": False},
    {"id": "o4", "provider_id": "P2", "status": "已接单", "window_end": f"{D} 10:00", "dispatched_at": f"{D} 08:00",
     "accepted_at": f"{D} 08:20"},
    {"id": "o5", "status": "待派单", "window_end": f"{D} 10:00"},
    {"id": "o6", "status": "待派单", "window_end": f"{D} 10:00"},
])
EVENTS = pd.DataFrame([
    {"order_id": "o5", "seq": 2, "event": "已派单", "state": "已派单", "provider_id": "P2", "carer_id": "c"},
    {"order_id": "o5", "seq": 3, "event": "超时", "state": "待派单", "provider_id": "P2", "carer_id": "c"},  # late
    {"order_id": "o6", "seq": 2, "event": "已派单", "state": "已派单", "provider_id": "P1", "carer_id": "c"},
    {"order_id": "o6", "seq": 3, "event": "拒单", "state": "待派单", "provider_id": "P1", "carer_id": "c"},  # not late
], columns=list(orders_db.EVENT_COLUMNS))
PROVIDERS = pd.DataFrame({"id": ["P1", "P2", "P3"], "name": ["甲", "乙", "丙"]})


def _score(s: float, o: float, c: float) -> float:
    return 5 * (0.5 * (s - 1) / 4 + 0.3 * o + 0.2 * (1 - c)) / 1.0


def test_hand_computed_ratings() -> None:
    """Region priors: S0 = (5+4+2)/3 = 11/3; O0 = 2 on time / 5 verdicts (o1, o2, o3, o4, the 超时) = 0.4;
    C0 = 1/3. With k = 2:
    P1 s = (2·11/3 + 9)/4 = 49/12, o = (0.8 + 1)/4 = 0.45, c = (2/3 + 1)/4 = 5/12;
    P2 s = (2·11/3 + 2)/3 = 28/9, o = (0.8 + 1)/5 = 0.36, c = (2/3)/3 = 2/9;
    P3 (no orders) the priors."""
    table = rate_providers(ORDERS, EVENTS, SETTINGS, providers=PROVIDERS)
    assert list(table.columns) == list(RATING_COLUMNS)
    by = table.set_index("provider_id").loc[["P1", "P2", "P3"]]
    assert by.loc["P1", "score"] == pytest.approx(_score(49 / 12, 0.45, 5 / 12))  # 3.18541…
    assert by.loc["P2", "score"] == pytest.approx(_score(28 / 9, 0.36, 2 / 9))  # 2.63722…
    assert by.loc["P3", "score"] == pytest.approx(_score(11 / 3, 0.4, 1 / 3))  # 2.93333…
    assert by.loc["P1", "score"] == pytest.approx(3.1854166667)
    assert table["provider_id"].tolist() == ["P1", "P3", "P2"] and table["rank"].tolist() == [1, 2, 3]
    assert by["followups"].tolist() == [2, 1, 0] and by["orders"].tolist() == [3, 3, 0]
    assert by.loc["P1", "satisfaction_mean"] == 4.5 and by.loc["P2", "satisfaction_mean"] == 2.0
    assert by.loc["P1", "on_time_rate"] == 0.5 and by.loc["P2", "on_time_rate"] == pytest.approx(1 / 3)
    assert by.loc["P2", "on_time_base"] == 3 and by.loc["P1", "complaints"] == 1
    assert pd.isna(by.loc["P3", "satisfaction_mean"])
    # 末位淘汰: P1 and P2 have ≥ 2 orders; ceil(0.5 × 2) = 1 → P2
    assert by["bottom"].tolist() == [False, True, False]


def test_prior_pulls_small_samples_and_bottom_needs_two() -> None:
    few = _orders([{"id": "a", "provider_id": "P1", "status": "已回访", "satisfaction": 5, "complaint": False},
                   *({"id": f"b{i}", "provider_id": "P2", "status": "已回访", "satisfaction": 4, "complaint": False}
                     for i in range(20))])
    table = rate_providers(few, None, SETTINGS.__class__(desk_prior_orders=10), providers=PROVIDERS)
    by = table.set_index("provider_id")
    # S0 = (5 + 80)/21; P1 s = (10·S0 + 5)/11 < P2 s = (10·S0 + 80)/30? S0 ≈ 4.048: 4.134 vs 4.016 — P1 still first,
    # but by 0.1, not by a whole point
    assert by.loc["P1", "score"] - by.loc["P2", "score"] == pytest.approx(
        5 * 0.5 * ((10 * 85 / 21 + 5) / 11 - (10 * 85 / 21 + 80) / 30) / 4 / 1.0, abs=1e-9)
    assert not table["bottom"].any()  # default minimum 10 orders: only P2 qualifies, one is not a ranking


def test_provider_ratings_from_the_order_log(tmp_path: Path) -> None:
    facilities = gpd.GeoDataFrame({"id": ["P1", "P2"], "name": ["甲", "乙"], "kind": "居家上门服务商"},
                                  geometry=[Point(113.6, 34.7), Point(113.7, 34.7)], crs=4326)
    store.save_region("r", {"facilities": facilities}, {}, root=tmp_path)
    t = dt.datetime(2026, 12, 1, 8)
    for oid, carer in (("A", "c1"), ("B", "c2")):
        orders_db.create_order("r", {"id": oid, "item_codes": "A01", "window_start": f"{D} 09:00",
                                     "window_end": f"{D} 10:00"}, actor="s", root=tmp_path, now=t)
        orders_db.dispatch("r", oid, "P1" if oid == "A" else "P2", carer, actor="s", root=tmp_path, now=t)
    orders_db.transition("r", "B", "超时", actor="system", root=tmp_path, now=t + dt.timedelta(minutes=11))
    for step in ("已接单", "服务中", "已完成"):
        orders_db.transition("r", "A", step, actor="c1", root=tmp_path, now=t + dt.timedelta(minutes=30))
    orders_db.transition("r", "A", "已回访", actor="s", root=tmp_path, satisfaction=5, now=t + dt.timedelta(hours=4))
    region = Region("r", tmp_path / "r" / store.current_version("r", root=tmp_path), {}, {"facilities": facilities})
    table = provider_ratings(region, SETTINGS, root=tmp_path).set_index("provider_id")
    assert table.loc["P1", "on_time_rate"] == 1.0 and table.loc["P2", "on_time_rate"] == 0.0
    assert table.loc["P2", "orders"] == 1 and table.loc["P1", "followups"] == 1
    assert table.loc["P1", "rank"] == 1
