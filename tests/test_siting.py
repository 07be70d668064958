"""Siting against independent references: brute force on tiny instances and PySAL spopt's MCLP."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from geo.errors import PlanningInputError
from planning.siting import (
    covered_weight,
    greedy_max_cover,
    maximal_covering,
    merge_demand,
    set_covering,
    swap_improve,
)


def instance(seed: int, n_cand: int, n_dem: int, density: float) -> tuple[sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = sp.csr_matrix(rng.random((n_cand, n_dem)) < density)
    w = rng.integers(0, 20, n_dem).astype(float)
    return a, w


def brute_force_mclp(a: sp.csr_matrix, w: np.ndarray, k: int) -> float:
    dense = a.toarray()
    best = 0.0
    for r in range(min(k, a.shape[0]) + 1):
        for combo in itertools.combinations(range(a.shape[0]), r):
            best = max(best, float(w[dense[list(combo)].any(axis=0)].sum()) if combo else 0.0)
    return best


def brute_force_cover(a: sp.csr_matrix, w: np.ndarray, target: float) -> int | None:
    dense = a.toarray()
    for r in range(a.shape[0] + 1):
        for combo in itertools.combinations(range(a.shape[0]), r):
            if (float(w[dense[list(combo)].any(axis=0)].sum()) if combo else 0.0) >= target - 1e-9:
                return r
    return None


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_cand=st.integers(1, 8), n_dem=st.integers(1, 25),
       density=st.floats(0.05, 0.6), k=st.integers(0, 4))
def test_maximal_covering_equals_brute_force(seed, n_cand, n_dem, density, k) -> None:
    a, w = instance(seed, n_cand, n_dem, density)
    best = brute_force_mclp(a, w, k)
    exact = maximal_covering(a, w, k)
    assert exact.status == "optimal" and exact.gap == pytest.approx(0.0, abs=1e-9)
    assert exact.objective == pytest.approx(best)
    assert len(exact.chosen) <= k
    assert covered_weight(a, w, exact.chosen) == pytest.approx(best)  # the sites really cover that much
    assert exact.gains.sum() == pytest.approx(best)
    greedy = maximal_covering(a, w, k, solver="greedy")
    assert greedy.objective <= best + 1e-9
    assert greedy.objective >= (1 - 1 / np.e) * best - 1e-9  # greedy's guarantee for maximal covering
    assert greedy.objective >= greedy.details["greedy_objective"] - 1e-9  # the interchange never loses weight
    assert greedy.objective == pytest.approx(covered_weight(a, w, greedy.chosen))


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_cand=st.integers(2, 9), n_dem=st.integers(1, 30),
       density=st.floats(0.05, 0.6), k=st.integers(1, 4))
def test_swap_improve_ends_where_no_single_swap_helps(seed, n_cand, n_dem, density, k) -> None:
    a, w = instance(seed, n_cand, n_dem, density)
    start = np.random.default_rng(seed).choice(n_cand, min(k, n_cand), replace=False)
    improved, info = swap_improve(a, w, start, time_limit_s=30.0)
    assert len(improved) == len(start) and len(set(improved.tolist())) == len(improved)
    value = covered_weight(a, w, improved)
    assert value >= covered_weight(a, w, start) - 1e-9
    assert not info["stopped_by_time"]
    # brute force over every single swap: none improves the result
    for pos in range(len(improved)):
        for c in set(range(n_cand)) - set(improved.tolist()):
            other = improved.copy()
            other[pos] = c
            assert covered_weight(a, w, other) <= value + 1e-9, (improved, pos, c)


def test_swap_repairs_greedy_on_a_hand_worked_example() -> None:
    # units x1..x4 in a row, weights 2.5, 3, 3, 2.5; candidates: left {x1, x2}, middle {x2, x3}, right {x3, x4}.
    # k=2: greedy takes the middle (6) then left (+2.5) = 8.5; the optimum is left + right = 11, one swap away.
    a = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=bool))
    w = np.array([2.5, 3.0, 3.0, 2.5])
    greedy, _ = greedy_max_cover(a, w, 2)
    assert sorted(greedy.tolist()) == [0, 1] and covered_weight(a, w, greedy) == 8.5
    improved, info = swap_improve(a, w, greedy)
    assert sorted(improved.tolist()) == [0, 2] and info["swaps"] == 1
    result = maximal_covering(a, w, 2, solver="greedy")
    assert result.objective == 11.0 and result.details["greedy_objective"] == 8.5
    assert result.details["swap_objective"] == 11.0 and result.status == "greedy"
    assert maximal_covering(a, w, 2, solver="greedy", swap_time_limit_s=0.0).objective == 8.5  # greedy alone
    assert maximal_covering(a, w, 2).objective == 11.0


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_cand=st.integers(1, 7), n_dem=st.integers(1, 20),
       density=st.floats(0.05, 0.6), share=st.floats(0.1, 1.0))
def test_set_covering_equals_brute_force(seed, n_cand, n_dem, density, share) -> None:
    a, w = instance(seed, n_cand, n_dem, density)
    target = share * float(w.sum())
    fewest = brute_force_cover(a, w, target)
    result = set_covering(a, w, target)
    if fewest is None:
        assert result.status == "infeasible"
    else:
        assert result.status == "optimal"
        assert len(result.chosen) == fewest
        assert result.covered_weight >= target - 1e-9


def test_merged_demand_keeps_the_objective() -> None:
    a, w = instance(7, 12, 400, 0.1)
    merged, mw, group = merge_demand(a, w)
    assert merged.shape[1] < a.shape[1]
    assert mw.sum() == pytest.approx(w[(np.asarray(a.sum(axis=0)).ravel() > 0)].sum())
    for k in (1, 3, 5):
        assert maximal_covering(merged, mw, k).objective == pytest.approx(maximal_covering(a, w, k).objective)
    chosen, _ = greedy_max_cover(a, w, 3)
    assert covered_weight(merged, mw, chosen) == pytest.approx(covered_weight(a, w, chosen))


def test_hand_worked_example() -> None:
    # candidates 0: {A, B}, 1: {B, C}, 2: {D}; weights A=5, B=1, C=5, D=3.
    # k=1: 0 or 1 cover 6 -> the first best is 0 (A+B) = 6; k=2: {0, 1} = 11; k=3: all = 14.
    a = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool))
    w = np.array([5.0, 1.0, 5.0, 3.0])
    assert maximal_covering(a, w, 1).objective == 6.0
    two = maximal_covering(a, w, 2)
    assert two.objective == 11.0 and sorted(two.chosen) == [0, 1] and list(two.gains) in ([6.0, 5.0],)
    assert maximal_covering(a, w, 3).objective == 14.0
    assert len(set_covering(a, w, 11.0).chosen) == 2
    assert set_covering(a, w, 15.0).status == "infeasible"


def test_bad_input_is_named() -> None:
    a, w = instance(1, 3, 5, 0.5)
    with pytest.raises(PlanningInputError, match="需求权重个数"):
        maximal_covering(a, w[:-1], 1)
    with pytest.raises(PlanningInputError, match="非负"):
        maximal_covering(a, -w, 1)
    with pytest.raises(PlanningInputError, match="求解器"):
        maximal_covering(a, w, 1, solver="cplex")


@pytest.mark.parametrize("k", [1, 3, 6])
def test_same_objective_as_spopt_mclp(k: int) -> None:
    pulp = pytest.importorskip("pulp")
    spopt_locate = pytest.importorskip("spopt.locate")
    rng = np.random.default_rng(42)
    n_dem, n_cand, radius = 120, 25, 10.0
    minutes = rng.uniform(0, 30, size=(n_dem, n_cand))  # demand × candidates, as spopt takes it
    weights = rng.integers(1, 50, n_dem).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spopt/pulp deprecation chatter is not ours
        model = spopt_locate.MCLP.from_cost_matrix(minutes, weights, service_radius=radius, p_facilities=k)
        model.solve(pulp.PULP_CBC_CMD(msg=False))
        theirs = float(pulp.value(model.problem.objective))
    ours = maximal_covering(sp.csr_matrix(minutes.T <= radius), weights, k)
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(theirs)


def test_highs_writes_nothing_to_the_console(capfd) -> None:
    a, w = instance(3, 6, 20, 0.3)
    assert maximal_covering(a, w, 2).status == "optimal"
    assert set_covering(a, w, 0.5 * float(w.sum())).status == "optimal"
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # not even HiGHS's banner: the CLI prints its own tables to stdout
