"""Facility-kind roles come from settings: editing facility_kinds without the roles is refused, and
renamed kinds keep their role everywhere."""

from __future__ import annotations

import pytest

from geo.errors import SettingsError
from geo.settings import Settings, settings_from_dict


def test_default_roles_are_kinds() -> None:
    s = Settings()
    for role in (s.institution_kinds, s.community_facility_kinds, s.day_visit_kinds, s.home_care_kinds):
        assert role and set(role) <= set(s.facility_kinds)
    assert "居家上门服务商" not in s.community_facility_kinds  # annex 2 note 5: no site in the community


def test_renaming_a_kind_without_its_role_is_refused() -> None:
    kinds = ["养老院", "社区养老服务综合体/中心", "日间照料中心", "养老服务站", "助餐点", "居家上门服务商"]
    with pytest.raises(SettingsError, match="institution_kinds 中的养老机构不在 facility_kinds 中"):
        settings_from_dict({"facility_kinds": kinds, "tier_minutes": {"养老院": 15, "日间照料中心": 5}})
    with pytest.raises(SettingsError, match="siting_capacity_places 中的养老机构不在 facility_kinds 中（请同时修改两处）"):
        settings_from_dict({"facility_kinds": kinds, "institution_kinds": ["养老院"],
                            "tier_minutes": {"养老院": 15, "日间照料中心": 5}})
    places = {"养老院" if k == "养老机构" else k: n for k, n in Settings().siting_capacity_places}
    renamed = settings_from_dict({"facility_kinds": kinds, "institution_kinds": ["养老院"],
                                  "tier_minutes": {"养老院": 15, "日间照料中心": 5}, "siting_capacity_places": places})
    assert renamed.institution_kinds == ("养老院",) and renamed.siting_capacity_places[0] == ("养老院", 100.0)


def test_a_kind_cannot_be_both_institution_and_community_facility() -> None:
    with pytest.raises(SettingsError, match="既是"):
        Settings(community_facility_kinds=("养老机构", "日间照料中心"))
