"""A county too large for one task: the parts of its elders (batch.split) give the county's own tables.

The memory plan by hand; the parts' rows by property; and every batch kind computed on a real county of the test
province (tests/province_support.py: real OSM roads with a halo) in parts of its elders, combined, equal to the same
county in one task frame for frame — with elders in no street or community ("未归属" rows) and elders outside the
counted population (areas without a counted elder get no row), and parts that hold none of either.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch.runner import KINDS
from batch.split import (
    MEMORY_PLAN_SHARE,
    TASK_BASE_MB,
    TASK_MB_PER_ELDER,
    TASK_MB_PER_ROAD_EDGE,
    combine,
    elders_per_task,
    part_rows,
    plan_parts,
)
from data import store
from geo.labels import UNASSIGNED
from geo.settings import Settings

SETTINGS = Settings()
PARAMS = {"coverage": {"minutes": 15.0, "mode": "walk"},
          "report": {"minutes": 15.0, "mode": "walk", "date": "2026-06-30"},
          "check": {"mode": "walk"}}


def test_the_memory_plan_by_hand() -> None:
    # 3 GB, 70 % of it: 2,150.4 MB; a county of 14,335 road edges takes 200 + 0.012 × 14,335 = 372.02 MB before its
    # elders, leaving 1,778.38 MB: 1,616,709 elders at 1.1 KB each
    assert (TASK_BASE_MB, TASK_MB_PER_ROAD_EDGE, TASK_MB_PER_ELDER, MEMORY_PLAN_SHARE) == (200.0, 0.012, 0.0011, 0.7)
    assert elders_per_task(14_335, SETTINGS) == 1_616_709
    assert plan_parts(1_500_000, 14_335, SETTINGS) == 1
    assert plan_parts(1_616_710, 14_335, SETTINGS) == 2
    assert plan_parts(5_000_000, 14_335, SETTINGS) == 4  # 5,000,000 / 1,616,709 = 3.09
    assert plan_parts(5_000_000, 14_335, Settings(batch_worker_memory_gb=12.0)) == 1
    # a network that alone fills the budget (200 + 0.012 × 200,000 = 2,600 MB): not split, run whole
    assert elders_per_task(200_000, SETTINGS) == 0 and plan_parts(5_000_000, 200_000, SETTINGS) == 1
    # the setting caps a task's elders whatever the memory
    capped = Settings(batch_task_max_elders=1000)
    assert [plan_parts(n, 10, capped) for n in (0, 999, 1000, 1001, 2500)] == [1, 1, 1, 2, 3]
    with pytest.raises(ValueError, match="batch_task_max_elders"):
        Settings(batch_task_max_elders=-1).validate()


@given(n=st.integers(0, 10_000), parts=st.integers(1, 40))
@settings(max_examples=200, deadline=None)
def test_the_parts_cover_every_elder_once_in_order(n: int, parts: int) -> None:
    bounds = [part_rows(n, i, parts) for i in range(parts)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))  # contiguous, no overlap
    sizes = [stop - start for start, stop in bounds]
    assert min(sizes) >= 0 and max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError):
        part_rows(n, parts, parts)


@pytest.fixture(scope="module")
def county(demo_region, tmp_path_factory) -> tuple[Path, str, int]:
    """County 419902 of the test province, saved with 31 elders without a street or community code (the first
    and the last ones: parts at both ends hold them, the middle ones none) and 60 elders not 常住 (left out of the
    coverage tables) — as a county region with its halo."""
    from province_support import small_province

    root = tmp_path_factory.mktemp("split") / "regions"
    prov = small_province(demo_region, root, SETTINGS)
    name = next(c for c in prov.children if c.endswith("419902"))
    region = store.load_region(name, root=root)
    elders = region.elders.copy()
    n = len(elders)
    lost = np.r_[0:25, n - 6:n]
    elders.loc[elders.index[lost], ["street_code", "community_code"]] = None
    elders["resident"] = pd.array([None] * n, dtype="boolean")
    elders.loc[elders.index[np.arange(100, n, n // 60)[:60]], "resident"] = False
    store.save_region(name, {**region.layers, "elders": elders}, region.manifest, root=root)
    return root, name, n


@pytest.mark.parametrize("kind", ["coverage", "report", "check"])
def test_a_county_in_parts_equals_the_county_in_one_task(county, kind: str) -> None:
    root, name, n = county
    whole = KINDS[kind](store.load_region(name, root=root), settings=SETTINGS, **PARAMS[kind])
    for parts in (2, 7) if kind == "coverage" else (3,):  # the report's service circle is the slow part
        pieces = [KINDS[kind](store.load_region(name, root=root, elder_rows=part_rows(n, i, parts)), settings=SETTINGS,
                              **PARAMS[kind]) for i in range(parts)]
        assert sum(len(store.load_region(name, root=root, elder_rows=part_rows(n, i, parts)).elders)
                   for i in range(parts)) == n
        got = combine(kind, pieces, settings=SETTINGS, params=PARAMS[kind])
        assert list(got) == list(whole)
        for frame in whole:
            pd.testing.assert_frame_equal(got[frame], whole[frame], obj=f"{kind}/{frame} in {parts} parts")
    if kind == "coverage":
        street = whole["street"]
        assert UNASSIGNED in set(street["code"]) and street.attrs["left_out"] == 60
        # the middle parts hold no elder without a street: their tables have no "未归属" row; the sum has it
        middle = KINDS[kind](store.load_region(name, root=root, elder_rows=part_rows(n, 3, 7)), settings=SETTINGS,
                             **PARAMS[kind])
        assert UNASSIGNED not in set(middle["street"]["code"])
        assert got["street"].attrs["unassigned"] == 31 and got["street"].attrs["elders_total"] == n
