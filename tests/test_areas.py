"""geo.areas: grouping, sums with a total row, names, levels — on hand-computed cases and random inputs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import areas as ar
from geo.labels import TOTAL_CODE, TOTAL_NAME, UNASSIGNED


def _points(codes: list[str | None]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"community_code": pd.Series(codes, dtype=object)},
                            geometry=[shapely.Point(116.4, 39.9)] * len(codes), crs="EPSG:4326")


def test_groups_sorted_with_unassigned_last() -> None:
    group, codes = ar.area_groups(_points(["b", None, "a", "b"]), "community")
    assert list(codes) == ["a", "b", UNASSIGNED]
    assert list(group) == [1, 2, 0, 1]
    assert list(ar.area_key(_points(["b", None]), "community")) == ["b", UNASSIGNED]
    group, codes = ar.area_groups(_points(["b", "a"]), "street")  # no street_code column at all
    assert list(codes) == [UNASSIGNED] and list(group) == [0, 0]


def test_sum_by_area_hand_computed() -> None:
    table = ar.sum_by_area(np.array([1, 2, 0, 1]), np.array(["a", "b", UNASSIGNED], dtype=object),
                           {"n": np.ones(4, dtype=np.int64), "flag": np.array([True, False, True, True]),
                            "w": np.array([0.5, 1.0, 2.0, 0.25])})
    assert list(table["code"]) == ["a", "b", UNASSIGNED, TOTAL_CODE]
    assert list(table["n"]) == [1, 2, 1, 4] and table["n"].dtype == np.int64
    assert list(table["flag"]) == [1, 2, 0, 3]
    assert list(table["w"]) == [2.0, 0.75, 1.0, 3.75]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["x", "y", "z", None]), min_size=1, max_size=40),
       st.lists(st.floats(0, 100, allow_nan=False), min_size=40, max_size=40))
def test_areas_sum_to_the_total(codes: list[str | None], weights: list[float]) -> None:
    group, names = ar.area_groups(_points(codes), "community")
    values = np.array(weights[:len(codes)])
    table = ar.sum_by_area(group, names, {"v": values})
    assert table["v"].iloc[:-1].sum() == pytest.approx(table["v"].iloc[-1])
    assert table["v"].iloc[-1] == pytest.approx(values.sum())


def test_sums_over_listed_codes() -> None:
    sums = ar.sums_over(["a", "b", "c"], np.array(["c", "a", "c"], dtype=object), np.array([1.0, 2.0, 3.0]))
    assert list(sums) == [2.0, 0.0, 4.0, 6.0]
    assert list(ar.sums_over(["a"], np.array([], dtype=object), np.array([]))) == [0.0, 0.0]


def test_levels_names_and_ancestors() -> None:
    areas = pd.DataFrame({"code": ["410101", "410101001", "410101001001", "410101001002", "410102001"],
                          "name": ["甲区", "一街道", "花园社区", "河畔社区", "二街道"],
                          "level": [None, "street", None, "community", None],
                          "parent_code": [None, "410101", "410101001", None, "410101"]})
    assert list(ar.level_of(areas)) == ["district", "street", "community", "community", "street"]
    assert ar.area_list(areas, "street", ["410109001", UNASSIGNED]) == ["410101001", "410102001", "410109001",
                                                                         UNASSIGNED]
    level = dict(zip(areas["code"], ar.level_of(areas), strict=True))
    parent = {c: p for c, p in zip(areas["code"], areas["parent_code"], strict=True) if p}
    assert ar.ancestor("410101001001", "district", parent, level) == "410101"
    assert ar.ancestor("410101001002", "street", parent, level) == "410101001"  # no parent: code prefix
    assert ar.area_names(["410101", TOTAL_CODE, UNASSIGNED, "999"], areas) == ["甲区", TOTAL_NAME, "", ""]
    assert ar.area_names([UNASSIGNED], areas, unassigned=UNASSIGNED) == [UNASSIGNED]


def test_codes_percentages_and_ratios() -> None:
    frame = pd.DataFrame({"street_code": ["410101001", None, ""]})
    assert list(ar.area_codes(frame, "street_code")) == ["410101001", UNASSIGNED, UNASSIGNED]
    assert list(ar.area_codes(frame, "district_code")) == [UNASSIGNED] * 3
    pct = ar.pct(pd.Series([1, 2, 0]), pd.Series([3, 0, 5]))
    assert pct.iloc[0] == 33.33 and np.isnan(pct.iloc[1]) and pct.iloc[2] == 0.0
    assert list(ar.ratio([1.0, 2.0], [4.0, 8.0], 100.0)) == [25.0, 25.0]
    assert list(ar.is_area_row(pd.Series(["a", UNASSIGNED, TOTAL_CODE]))) == [True, False, False]
