"""Needs matching on a hand-made case, and recommendations on the demo region's real streets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

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
                        tier_minutes=(("养老机构", 15.0), ("日照", 5.0)))
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
