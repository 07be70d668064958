"""The recommendation's plain-rows path (the API's) against the frames the pages use, and its Python sorts
against the pandas sorts they replace."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.processes import _plain_rows, _records
from geo.settings import Settings
from planning.coverage import facility_snap_for, network_for
from planning.home_care import serving_point
from planning.recommend import (
    EXCLUDED_COLUMNS,
    HOME_CARE_COLUMNS,
    RANKED_COLUMNS,
    Needs,
    RecommendationRows,
    _frames,
    recommend,
    recommend_rows,
)

SCORES = st.sampled_from([50.0, 61.5, 61.5, 70.0, 88.2])
TIMES = st.one_of(st.just(float("nan")), st.sampled_from([1.0, 2.5, 2.5, 7.0, 14.9]))


def _pandas_order(rows: list[dict], by: str, na_position: str) -> list[str]:
    """The order the frames were sorted in before the rows path: pandas' stable sort, score descending."""
    frame = pd.DataFrame(rows, columns=["id", "score", by])
    frame[by] = frame[by].astype(float)
    ordered = frame.sort_values(["score", by], ascending=[False, True], kind="stable", na_position=na_position)
    return ordered["id"].tolist()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(SCORES, TIMES), min_size=0, max_size=25))
def test_python_sorts_equal_the_pandas_sorts(pairs) -> None:
    """Ties in score and time, NaN times: the rows come out in the order the frames' sort_values gave."""
    ranked = [{"id": f"R{i}", "score": s, "travel_min": t} for i, (s, t) in enumerate(pairs)]
    visiting = [{"id": f"V{i}", "score": s, "drive_min": t} for i, (s, t) in enumerate(pairs)]
    from planning import recommend as rec

    ranked_sorted = sorted(ranked, key=lambda r: (-float(r["score"]), *rec._nan_key(r["travel_min"], nan_first=False)))
    visiting_sorted = sorted(visiting, key=lambda r: (-float(r["score"]), *rec._nan_key(r["drive_min"], nan_first=True)))
    assert [r["id"] for r in ranked_sorted] == _pandas_order(ranked, "travel_min", "last")
    assert [r["id"] for r in visiting_sorted] == _pandas_order(visiting, "drive_min", "first")


NEEDS = [
    Needs(services=("助餐",), max_minutes=15),
    Needs(ability_code=3, residential=True, services=("康复护理",), budget_yuan_month=6000, max_minutes=20),
    Needs(ability_code=1, services=("日间照料", "助餐", "助浴"), max_minutes=10),
    Needs(residential=True, need_free_bed=True, min_grade=2, max_minutes=30),
    Needs(services=("助浴",), mode="drive", max_minutes=10),
]


@pytest.mark.parametrize("k", range(len(NEEDS)))
def test_rows_path_gives_the_frames_answer_on_the_demo(demo_region, k) -> None:
    """From 25 homes per needs: the API's rows, made JSON-ready, equal the frames' records cell for cell, in
    order, home-care providers and the left-out included; and the frames made from the rows are the frames."""
    settings_ = Settings()
    needs = NEEDS[k]
    network = network_for(demo_region, needs.mode, settings_)
    snap = facility_snap_for(demo_region, needs.mode, settings_)
    homes = demo_region.elders.geometry.iloc[np.random.default_rng(k).choice(len(demo_region.elders), 25,
                                                                            replace=False)]
    ratings = pd.DataFrame({"provider_id": demo_region.facilities["id"].iloc[::3].astype(str),
                            "score": np.linspace(2.0, 5.0, len(demo_region.facilities.iloc[::3])),
                            "followups": 9})
    seen_ranked = seen_home_care = seen_excluded = 0
    for home in homes:
        origin = (home.x, home.y)
        home_care = serving_point(demo_region, *origin, settings=settings_)
        kwargs = dict(network=network, facility_snap=snap, origin=origin, settings=settings_, limit=7,
                      home_care=home_care, ratings=ratings)
        frames = recommend(demo_region.facilities, needs, **kwargs)
        rows = recommend_rows(demo_region.facilities, needs, **kwargs)
        assert isinstance(rows, RecommendationRows)
        assert _plain_rows(rows.ranked, RANKED_COLUMNS) == _records(frames.ranked)
        assert _plain_rows(rows.home_care, HOME_CARE_COLUMNS) == _records(frames.home_care)
        assert _plain_rows(rows.excluded, EXCLUDED_COLUMNS) == _records(frames.excluded)
        assert (rows.filtered_out, rows.origin_snapped, rows.notes) == (frames.filtered_out, frames.origin_snapped,
                                                                          frames.notes)
        assert len(rows.ranked) <= 7
        seen_ranked += len(rows.ranked)
        seen_home_care += len(rows.home_care)
        seen_excluded += len(rows.excluded)
    assert seen_ranked > 0
    if not needs.min_grade:  # (a lowest grade filters out the ungraded home-care providers)
        assert seen_home_care + seen_excluded > 0  # the comparison met more than the ranked list


def test_frames_from_rows_keep_the_dtypes_the_pages_read() -> None:
    rows = RecommendationRows(
        ranked=[{"id": "A", "name": "甲", "kind": "养老机构", "travel_min": 3.0, "score": 80.0, "matched": "",
                 "missing": "", "reason": "步行3分钟", "rating": None, "rating_followups": None},
                {"id": "B", "name": "乙", "kind": "养老机构", "travel_min": 5.0, "score": 70.0, "matched": "",
                 "missing": "", "reason": "步行5分钟", "rating": 4.5, "rating_followups": 12}],
        excluded=[], filtered_out=0, origin_snapped=True, notes=[], home_care=[])
    frames = _frames(rows)
    assert frames.ranked["rating"].dtype == float and math.isnan(frames.ranked["rating"].iloc[0])
    assert str(frames.ranked["rating_followups"].dtype) == "Int64"
    assert frames.ranked["rating_followups"].iloc[1] == 12 and pd.isna(frames.ranked["rating_followups"].iloc[0])
    assert list(frames.excluded.columns) == EXCLUDED_COLUMNS and list(frames.home_care.columns) == HOME_CARE_COLUMNS
