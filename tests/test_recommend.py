"""Needs matching on a hand-made case, and recommendations on the demo region's real streets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.errors import PlanningInputError
from geo.settings import Settings
from planning.coverage import network_for
from planning.network import snap_points
from planning.recommend import Needs, match, recommend, travel_minutes

INF = np.inf
SETTINGS = Settings()

FACILITIES = pd.DataFrame([
    # id, kind, services, beds total/nursing/free, grade, price min/max
    {"id": "A", "name": "甲护理院", "kind": "养老机构", "services": ["长期托养", "康复护理", "助餐"],
     "beds_total": 200, "beds_nursing": 120, "beds_free": 5, "grade": 4,
     "price_min_yuan_month": 3500.0, "price_max_yuan_month": 6000.0, "nature": "公办"},
    {"id": "B", "name": "乙敬老院", "kind": "养老机构", "services": ["长期托养", "助餐"],
     "beds_total": 80, "beds_nursing": 0, "beds_free": 10, "grade": 2,
     "price_min_yuan_month": 2000.0, "price_max_yuan_month": 3000.0, "nature": "民办"},
    {"id": "C", "name": "丙日间照料中心", "kind": "日间照料中心", "services": ["日间照料", "助餐"],
     "beds_total": 0, "beds_nursing": 0, "beds_free": 0, "grade": None,
     "price_min_yuan_month": 900.0, "price_max_yuan_month": 1500.0, "nature": "公办"},
    {"id": "D", "name": "丁居家服务", "kind": "居家上门服务商", "services": ["助浴", "助洁", "康复护理"],
     "beds_total": 0, "beds_nursing": 0, "beds_free": 0, "grade": None,
     "price_min_yuan_month": None, "price_max_yuan_month": None, "nature": "民办"},
    {"id": "E", "name": "戊养老院", "kind": "养老机构", "services": ["长期托养", "康复护理"],
     "beds_total": 50, "beds_nursing": 30, "beds_free": 0, "grade": 5,
     "price_min_yuan_month": 8000.0, "price_max_yuan_month": 9000.0, "nature": "民办"},
])
TIMES = np.array([8.0, 3.0, 5.0, INF, 12.0])  # D (home care) is beyond the walk, E is far but within 15
SERVING = pd.DataFrame({"id": ["D"], "basis": ["drive"], "drive_min": [6.2], "reason": ["车程约 6 分钟"]})
"""D serves the starting point: within the drive minutes of its base (planning.home_care.serving_point)."""


def test_severely_disabled_elder_living_in() -> None:
    needs = Needs(ability_code=3, residential=True, services=("康复护理",), budget_yuan_month=5000)
    result = match(FACILITIES, needs, TIMES, settings=SETTINGS, home_care=SERVING)
    assert list(result.ranked["id"]) == ["A"]  # the only nursing institution within budget
    why = result.excluded.set_index("id")["why"]
    assert "没有护理型床位" in why["B"]
    assert "日间照料中心服务能自行往来的老人" in why["C"] and "不提供入住" in why["C"]
    assert "不提供入住" in why["D"]
    assert "超出预算 5,000 元" in why["E"]
    assert result.ranked.iloc[0]["reason"] == "步行8分钟 · 提供康复护理 · 空余床位5张 · 护理型床位120张 · 四级机构 · 月收费3,500–6,000元"


def test_self_caring_elder_wanting_meals_near_home() -> None:
    needs = Needs(ability_code=0, services=("助餐", "日间照料"))
    result = match(FACILITIES, needs, TIMES, settings=SETTINGS, home_care=SERVING)
    ranked = result.ranked.set_index("id")
    assert result.excluded.empty
    assert set(ranked.index) == {"A", "B", "C", "E"}  # home care is never ranked as a walk
    assert result.ranked.iloc[0]["id"] == "C"  # offers both wanted services, 5 minutes away
    assert ranked.loc["C", "matched"] == "助餐、日间照料" and ranked.loc["A", "missing"] == "日间照料"
    assert (np.diff(result.ranked["score"]) <= 0).all()
    # D comes to the home: listed apart (可上门服务), with why it serves here
    home = result.home_care.set_index("id")
    assert list(home.index) == ["D"] and home.loc["D", "basis"] == "drive" and home.loc["D", "drive_min"] == 6.2
    assert home.loc["D", "reason"] == "上门服务 · 车程约 6 分钟 · 提供助洁、助浴、康复护理 · 不提供助餐、日间照料"
    assert home.loc["D", "how"] == "车程约 6 分钟" and result.notes == []


def test_filters_free_beds_and_far_facilities() -> None:
    needs = Needs(kinds=("养老机构",), need_free_bed=True, min_grade=3, max_minutes=10)
    result = match(FACILITIES, needs, np.array([8.0, 3.0, 5.0, INF, INF]), settings=SETTINGS, home_care=SERVING)
    assert result.filtered_out == 3  # B grade 2, C and D not institutions
    assert list(result.ranked["id"]) == ["A"]
    assert result.notes == ["另有 1 家超出步行 10 分钟，未列出"]  # E: beyond the limit is counted, not listed
    result = match(FACILITIES, Needs(need_free_bed=True), TIMES, settings=SETTINGS)
    assert "暂无空余床位" in result.excluded.set_index("id").loc["C", "why"]


def test_bad_needs_are_named() -> None:
    with pytest.raises(PlanningInputError, match="能力等级"):
        Needs(ability_code=7)
    with pytest.raises(PlanningInputError, match="出行时间上限"):
        Needs(max_minutes=0)
    with pytest.raises(PlanningInputError, match="出行时间个数"):
        match(FACILITIES, Needs(), TIMES[:2], settings=SETTINGS)


def test_recommend_on_the_demo_streets(demo_region) -> None:
    settings = Settings()
    network = network_for(demo_region, "walk", settings)
    facilities = demo_region.facilities
    fac_snap = snap_points(network, facilities, settings=settings)
    home = facilities.iloc[0].geometry  # standing at the first institution's door
    minutes, snapped = travel_minutes(network, fac_snap, (home.x, home.y), settings=settings, max_minutes=15)
    assert snapped and minutes[0] < 1.0  # itself: the access walk only
    assert (minutes[np.isfinite(minutes)] <= 15).all()
    needs = Needs(services=("助餐",), max_minutes=15)
    result = recommend(facilities, needs, network=network, facility_snap=fac_snap, origin=(home.x, home.y),
                       settings=settings, limit=5)
    assert len(result.ranked) == 5 and result.origin_snapped
    assert all(r.startswith("步行") or r.startswith("上门服务") for r in result.ranked["reason"])
    far = recommend(facilities, needs, network=network, facility_snap=fac_snap, origin=(25.5, 60.5),
                    settings=settings)
    assert not far.origin_snapped and "无法计算出行时间" in far.notes[-1]


def test_nursing_bed_need() -> None:
    result = match(FACILITIES, Needs(need_nursing_bed=True), TIMES, settings=SETTINGS)
    assert set(result.ranked["id"]) == {"A", "E"}
    assert "没有护理型床位" in result.excluded.set_index("id").loc["B", "why"]


def test_roles_come_from_settings() -> None:
    # renamed kinds keep their role: the home-care provider and the day-care centre under new names
    renamed = FACILITIES.assign(kind=FACILITIES["kind"].replace({"居家上门服务商": "上门服务", "日间照料中心": "日照"}))
    kinds = ("养老机构", "社区养老服务综合体/中心", "日照", "养老服务站", "助餐点", "上门服务")
    settings = Settings(facility_kinds=kinds, community_facility_kinds=("社区养老服务综合体/中心", "日照", "养老服务站", "助餐点"),
                        day_visit_kinds=("日照", "助餐点", "养老服务站"), home_care_kinds=("上门服务",),
                        tier_minutes=(("养老机构", 15.0), ("日照", 5.0)),
                        siting_capacity_places=(("养老机构", 100.0), ("日照", 30.0), ("上门服务", 60.0)))
    needs = Needs(ability_code=3, services=("助浴",))
    result = match(renamed, needs, TIMES, settings=settings, home_care=SERVING)
    assert "D" in set(result.home_care["id"]) and "D" not in set(result.ranked["id"])  # comes to the home
    assert "日照服务能自行往来的老人" in result.excluded.set_index("id").loc["C", "why"]
    # without the role, the same provider is just a facility too far away
    plain = match(FACILITIES, needs, TIMES, settings=dataclasses.replace(SETTINGS, home_care_kinds=()),
                  home_care=SERVING)
    assert "D" not in set(plain.ranked["id"]) and plain.notes == ["另有 1 家超出步行 15 分钟，未列出"]


def test_home_care_only_where_it_serves() -> None:
    near = TIMES.copy()
    near[3] = 2.0  # the provider's office is a 2-minute walk away: still no walk result
    needs = Needs(services=("助浴",))
    result = match(FACILITIES, needs, near, settings=SETTINGS, home_care=SERVING.iloc[0:0])
    assert "D" not in set(result.ranked["id"]) and result.home_care.empty
    assert result.notes == ["另有 1 家上门服务商的服务范围不含此处，未列出"]
    area = pd.DataFrame({"id": ["D"], "basis": ["area"], "drive_min": [np.nan], "reason": ["服务区域包含此处"]})
    result = match(FACILITIES, needs, near, settings=SETTINGS, home_care=area)
    row = result.home_care.iloc[0]
    assert row["reason"] == "上门服务 · 服务区域包含此处 · 提供助浴" and row["how"] == "服务区域包含此处"
    assert not any("步行" in r for r in result.home_care["reason"])
    # without the serving table no provider is listed at all (and none is ranked)
    result = match(FACILITIES, needs, near, settings=SETTINGS)
    assert result.home_care.empty and "D" not in set(result.ranked["id"]) and result.notes == []
    # the needs rules apply to them too: living in is not something a home-care provider offers
    result = match(FACILITIES, Needs(residential=True), near, settings=SETTINGS, home_care=area)
    assert result.home_care.empty and "不提供入住" in result.excluded.set_index("id").loc["D", "why"]


# ---------------------------------------------------------------- issue 15: providers' service ratings


PROVIDERS = pd.DataFrame([
    {"id": "P", "name": "近处上门服务", "kind": "居家上门服务商", "services": ["助浴"]},
    {"id": "Q", "name": "远处上门服务", "kind": "居家上门服务商", "services": ["助浴"]},
    {"id": "R", "name": "新开上门服务", "kind": "居家上门服务商", "services": ["助浴"]},
])
NO_WALK = np.full(3, INF)  # providers come to the home: never a walk to them
BOTH_AREA = pd.DataFrame({"id": ["P", "Q"], "basis": ["area", "area"], "drive_min": [np.nan, np.nan],
                          "reason": ["服务区域包含此处"] * 2})
"""P and Q both declare the starting point's area: equal fit (100 × (0.45 + 0.35 + 0.10 × 0.5 + 0.10 × 0.5) = 90)."""
BY_CAR = pd.DataFrame({"id": ["P", "Q"], "basis": ["drive", "drive"], "drive_min": [3.0, 6.0],
                       "reason": ["车程约 3 分钟", "车程约 6 分钟"]})
"""P 3 minutes' drive away: fit 100 × (0.45 + 0.35 × (1 − 3/15) + 0.05 + 0.05) = 83.0; Q 6 minutes: 76.0."""
RATED = pd.DataFrame({"provider_id": ["P", "Q"], "provider_name": ["近处上门服务", "远处上门服务"],
                      "score": [2.0, 4.8], "followups": [12, 40]})
"""As desk.ratings.rate_providers gives them (other columns left out): P 2.0, Q 4.8; mean r̄ = 3.4."""
BATH = Needs(services=("助浴",))


def _visiting(weight: float, serving: pd.DataFrame, ratings: pd.DataFrame | None) -> pd.DataFrame:
    settings = dataclasses.replace(SETTINGS, recommend_rating_weight=weight)
    return match(PROVIDERS, BATH, NO_WALK, settings=settings, home_care=serving, ratings=ratings).home_care


def test_well_rated_provider_moves_up_by_the_weight() -> None:
    plain = _visiting(0.2, BOTH_AREA, None)
    assert list(plain["id"]) == ["P", "Q"] and list(plain["score"]) == [90.0, 90.0]  # a tie: as listed
    assert plain["rating"].isna().all() and plain["rating_followups"].isna().all()
    rated = _visiting(0.2, BOTH_AREA, RATED).set_index("id")
    # 90 ± 100 × 0.2 × (4.8 − 3.4) / 5 = 90 ± 5.6
    assert list(rated.index) == ["Q", "P"]
    assert rated.loc["Q", "score"] == pytest.approx(95.6) and rated.loc["P", "score"] == pytest.approx(84.4)
    assert rated.loc["Q", "reason"] == "上门服务 · 服务区域包含此处 · 提供助浴 · 服务评价 4.8 分（40 次回访）"
    assert rated.loc["P", "reason"].endswith("服务评价 2.0 分（12 次回访）")
    assert (rated.loc["Q", "rating"], rated.loc["Q", "rating_followups"]) == (4.8, 40)


def test_order_flips_only_when_the_weight_outweighs_the_drive() -> None:
    # P is 7 points ahead by the drive; the ratings are 2.8 apart: 100 × w × 2.8 / 5 = 56 w, so Q overtakes
    # P when 56 w > 7, i.e. w > 0.125
    assert list(_visiting(0.2, BY_CAR, None)["score"]) == [83.0, 76.0]
    low = _visiting(0.1, BY_CAR, RATED)  # P 83 − 2.8 = 80.2, Q 76 + 2.8 = 78.8
    assert list(low["id"]) == ["P", "Q"] and list(low["score"]) == pytest.approx([80.2, 78.8])
    high = _visiting(0.2, BY_CAR, RATED)  # P 83 − 5.6 = 77.4, Q 76 + 5.6 = 81.6
    assert list(high["id"]) == ["Q", "P"] and list(high["score"]) == pytest.approx([81.6, 77.4])


def test_weight_zero_reorders_nothing_but_still_names_the_rating() -> None:
    for serving in (BOTH_AREA, BY_CAR):
        plain, rated = _visiting(0.0, serving, None), _visiting(0.0, serving, RATED)
        assert list(rated["id"]) == list(plain["id"]) and list(rated["score"]) == list(plain["score"])
        assert [r.split(" · 服务评价 ")[0] for r in rated["reason"]] == list(plain["reason"])
        assert all("服务评价" in r for r in rated["reason"])


def test_a_rating_on_too_few_follow_ups_has_no_effect() -> None:
    assert SETTINGS.recommend_rating_min_followups == 5
    few = RATED.assign(followups=[4, 40])  # P's 2.0 rests on 4 follow-ups: not counted
    rated = _visiting(0.2, BY_CAR, few).set_index("id")
    only_q = _visiting(0.2, BY_CAR, RATED.iloc[[1]]).set_index("id")
    pd.testing.assert_frame_equal(rated, only_q)  # as if P had no rating at all
    # Q alone is the mean of the counted ratings: nobody moves
    assert list(rated.index) == ["P", "Q"] and list(rated["score"]) == [83.0, 76.0]
    assert "服务评价" not in rated.loc["P", "reason"] and pd.isna(rated.loc["P", "rating"])
    # none counted: exactly as without ratings
    none = _visiting(0.2, BY_CAR, RATED.assign(followups=[4, 3]))
    pd.testing.assert_frame_equal(none, _visiting(0.2, BY_CAR, None))


def test_ratings_leave_institutions_alone_and_with_none_nothing_changes() -> None:
    needs = Needs(ability_code=0, services=("助餐", "日间照料"))
    plain = match(FACILITIES, needs, TIMES, settings=SETTINGS, home_care=SERVING)
    rated = match(FACILITIES, needs, TIMES, settings=SETTINGS, home_care=SERVING,
                  ratings=pd.DataFrame({"provider_id": ["D", "X"], "score": [4.9, 3.0], "followups": [30, 30]}))
    pd.testing.assert_frame_equal(rated.ranked, plain.ranked)  # nobody rates institutions
    assert rated.home_care.loc[0, "score"] == pytest.approx(plain.home_care.loc[0, "score"] + 100 * 0.2 * 0.95 / 5)
    empty = match(FACILITIES, needs, TIMES, settings=SETTINGS, home_care=SERVING,
                  ratings=pd.DataFrame(columns=["provider_id", "score", "followups"]))
    pd.testing.assert_frame_equal(empty.home_care, plain.home_care)
    pd.testing.assert_frame_equal(empty.ranked, plain.ranked)
    with pytest.raises(PlanningInputError, match="服务评价表缺少列：followups"):
        match(FACILITIES, needs, TIMES, settings=SETTINGS, ratings=pd.DataFrame({"provider_id": ["D"], "score": [4]}))


@settings(max_examples=60, deadline=None)
@given(scores=st.lists(st.floats(0, 5), min_size=3, max_size=3), counts=st.lists(st.integers(0, 50), min_size=3,
                                                                                   max_size=3),
       drives=st.lists(st.floats(0, 15), min_size=3, max_size=3), weight=st.floats(0, 1), bump=st.floats(0, 2))
def test_a_better_rating_never_lowers_a_provider(scores, counts, drives, weight, bump) -> None:
    serving = pd.DataFrame({"id": ["P", "Q", "R"], "basis": ["drive"] * 3, "drive_min": drives,
                            "reason": ["车程"] * 3})
    table = pd.DataFrame({"provider_id": ["P", "Q", "R"], "score": scores, "followups": counts})
    base = _visiting(weight, serving, table).set_index("id")
    plain = _visiting(weight, serving, None).set_index("id")
    assert ((base["score"] >= 0) & (base["score"] <= 100)).all()
    counted = [p for p, n in zip("PQR", counts, strict=True) if n >= 5]
    for p in set("PQR") - set(counted):  # uncounted: the score without ratings
        assert base.loc[p, "score"] == plain.loc[p, "score"]
    if weight == 0 or not counted:
        assert list(base["score"]) == list(plain["score"])
    # P rated better (and nobody else changes): P's score does not go down against any other provider's
    better = table.assign(score=[min(5.0, scores[0] + bump), scores[1], scores[2]])
    after = _visiting(weight, serving, better).set_index("id")
    if counts[0] >= 5:
        for other in "QR":
            assert (after.loc["P", "score"] - after.loc[other, "score"]
                    >= base.loc["P", "score"] - base.loc[other, "score"] - 0.21)  # scores are rounded to 0.1


def _served_order(order_id: str, provider_id: str, satisfaction: int) -> dict:
    return {"id": order_id, "item_codes": ["S01"], "window_start": "2026-11-20 09:00",
            "window_end": "2026-11-20 10:00", "status": "已回访", "provider_id": provider_id, "carer_id": "C1",
            "dispatched_at": "2026-11-20 08:00", "accepted_at": "2026-11-20 08:01", "started_at": "2026-11-20 09:00",
            "completed_at": "2026-11-20 09:50", "followed_up_at": "2026-11-21 09:00", "satisfaction": satisfaction,
            "complaint": False}


def test_public_ratings_follow_the_order_log_and_are_read_once_per_change(tmp_path, monkeypatch, caplog) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    from data import store
    from desk import orders_db
    from desk.errors import OrderStoreError
    from desk import ratings as engine

    facilities = gpd.GeoDataFrame({"id": ["H1", "H2", "A1"], "name": ["甲上门", "乙上门", "丙院"],
                                   "kind": ["居家上门服务商", "居家上门服务商", "养老机构"]},
                                  geometry=[Point(113.6, 34.7)] * 3, crs=4326)
    store.save_region("t", {"facilities": facilities}, {}, root=tmp_path)
    region = store.load_region("t", root=tmp_path)
    log_file = tmp_path / "t" / orders_db.ORDERS_FILE
    empty = engine.public_ratings(region, SETTINGS, root=tmp_path)
    assert empty.table.empty and not log_file.exists()  # the public side never creates the staff's order log
    orders_db.ingest_orders("t", pd.DataFrame([_served_order(f"O{i}", "H1", 5) for i in range(5)]), root=tmp_path)
    first = engine.public_ratings(region, SETTINGS, root=tmp_path)
    table = first.table.set_index("provider_id")
    assert list(first.table.columns) == list(engine.PUBLIC_RATING_COLUMNS)  # aggregates only
    assert set(table.index) == {"H1", "H2"} and table.loc["H1", "followups"] == 5 and table.loc["H2", "followups"] == 0
    assert table.loc["H1", "score"] == pytest.approx(5.0)  # every follow-up 5, on time, no complaint
    assert engine.public_ratings(region, SETTINGS, root=tmp_path) is first  # unchanged log: not read again
    orders_db.create_order("t", {"id": "O9", "item_codes": ["S01"], "window_start": "2026-11-22 09:00",
                                 "window_end": "2026-11-22 10:00"}, actor="staff", root=tmp_path)
    created = engine.public_ratings(region, SETTINGS, root=tmp_path)
    assert created is not first and created.key == first.key  # read again; the same ratings, the same key
    for state in ("已派单", "已接单", "服务中", "已完成", "已回访"):
        if state == "已派单":
            orders_db.dispatch("t", "O9", "H1", "C1", actor="staff", root=tmp_path)
        else:
            orders_db.transition("t", "O9", state, actor="staff", root=tmp_path, satisfaction=1)
    after = engine.public_ratings(region, SETTINGS, root=tmp_path)
    assert after.key != first.key and after.table.set_index("provider_id").loc["H1", "followups"] == 6

    def broken(*args, **kwargs):
        raise OrderStoreError("服务工单库读写失败", "order log error: test")

    monkeypatch.setattr("desk.ratings.provider_ratings", broken)
    monkeypatch.setattr(engine, "_RATINGS", {})
    with caplog.at_level("WARNING", logger="desk.ratings"):
        failed = engine.public_ratings(region, SETTINGS, root=tmp_path)
    assert failed.table.empty and "not read" in caplog.text  # the public page carries on: every provider 暂无评价
