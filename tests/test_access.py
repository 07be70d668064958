"""2SFCA / E2SFCA and capacity allocation: hand-worked examples, PySAL `access`, invariants, brute force."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from geo.errors import PlanningInputError
from planning.access import DECAYS, DEFAULT_STEPS_MIN, capacity_allocation, two_step_fca

# Hand-worked example: 2 facilities (rows), 4 demand units (columns), cutoff 15 min.
#             u0    u1    u2    u3
#   F0:        3     8    14     -        supply S0 = 10 beds
#   F1:        -     5    12    20        supply S1 = 6 beds
#   demand D = 100   50   200   30 elders
# F1 -> u3 is stored but beyond the 15-minute cutoff, so it is ignored; u3 reaches nothing.
HAND_COST = sp.csr_array(np.array([[3.0, 8.0, 14.0, 0.0], [0.0, 5.0, 12.0, 20.0]]))
HAND_SUPPLY = np.array([10.0, 6.0])
HAND_DEMAND = np.array([100.0, 50.0, 200.0, 30.0])


def test_classic_2sfca_hand_worked():
    access, ratio = two_step_fca(HAND_COST, HAND_SUPPLY, HAND_DEMAND, cutoff_min=15)
    # step 1: R0 = 10 / (100 + 50 + 200) = 10/350;  R1 = 6 / (50 + 200) = 6/250 (u3 at 20 min is out)
    r0, r1 = 10 / 350, 6 / 250
    np.testing.assert_allclose(ratio, [r0, r1], rtol=1e-14)
    # step 2: A0 = R0; A1 = R0 + R1; A2 = R0 + R1; A3 = 0 (no facility within 15 min)
    np.testing.assert_allclose(access, [r0, r0 + r1, r0 + r1, 0.0], rtol=1e-14)
    # supply is conserved: 100·R0 + 50·(R0+R1) + 200·(R0+R1) = 350·R0 + 250·R1 = 10 + 6
    assert HAND_DEMAND @ access == pytest.approx(16.0, rel=1e-14)


def test_stepped_e2sfca_hand_worked():
    assert DEFAULT_STEPS_MIN == ((5, 1.0), (10, 0.68), (15, 0.22))
    access, ratio = two_step_fca(HAND_COST, HAND_SUPPLY, HAND_DEMAND, cutoff_min=15, decay="stepped")
    # zones (0,5] -> 1.0, (5,10] -> 0.68, (10,15] -> 0.22; upper bounds inclusive, so F1 -> u1 at 5 min weighs 1.0
    # step 1: F0: 100·1.0 + 50·0.68 + 200·0.22 = 100 + 34 + 44 = 178  -> R0 = 10/178
    #         F1: 50·1.0 + 200·0.22            = 50 + 44       =  94  -> R1 = 6/94
    r0, r1 = 10 / 178, 6 / 94
    np.testing.assert_allclose(ratio, [r0, r1], rtol=1e-14)
    # step 2: A0 = 1.0·R0;  A1 = 0.68·R0 + 1.0·R1;  A2 = 0.22·R0 + 0.22·R1;  A3 = 0
    np.testing.assert_allclose(access, [r0, 0.68 * r0 + r1, 0.22 * r0 + 0.22 * r1, 0.0], rtol=1e-14)
    assert HAND_DEMAND @ access == pytest.approx(16.0, rel=1e-14)


def test_gaussian_hand_worked():
    cost = sp.csr_array(([0.0, 7.5, 15.0, 12.0], ([0, 0, 0, 0], [0, 1, 2, 3])), shape=(1, 5))
    access, ratio = two_step_fca(cost, [1.0], np.ones(5), cutoff_min=15, decay="gaussian")
    # W(0) = 1, W(d0/2) = (e^-1/8 - e^-1/2) / (1 - e^-1/2), W(d0) = 0, with d0 = 15
    w_half = (math.exp(-1 / 8) - math.exp(-1 / 2)) / (1 - math.exp(-1 / 2))
    w_12 = (math.exp(-0.5 * 0.8**2) - math.exp(-1 / 2)) / (1 - math.exp(-1 / 2))
    r = 1 / (1 + w_half + w_12)
    np.testing.assert_allclose(ratio, [r], rtol=1e-14)
    np.testing.assert_allclose(access, [r, w_half * r, 0.0, w_12 * r, 0.0], rtol=1e-14)
    # a d0 shorter than the cutoff clips the weight at 0 beyond d0 (never negative access)
    access_10, _ = two_step_fca(cost, [1.0], np.ones(5), cutoff_min=15, decay="gaussian", gaussian_d0_min=10)
    assert access_10[3] == 0.0 and access_10[2] == 0.0 and np.all(access_10 >= 0)


def test_stored_zero_and_epsilon_are_zero_minute_trips():
    cost = sp.csr_array(([0.0, 1e-9], ([0, 1], [0, 1])), shape=(2, 3))
    assert cost.nnz == 2
    access, ratio = two_step_fca(cost, [4.0, 2.0], [2.0, 1.0, 5.0], cutoff_min=5)
    np.testing.assert_allclose(ratio, [2.0, 2.0])
    np.testing.assert_allclose(access, [2.0, 2.0, 0.0])
    elders, _ = capacity_allocation(cost, [1, 1])
    assert elders["facility"].tolist() == [0, 1, -1]


def test_facility_without_weighted_demand_gets_zero_ratio():
    # F0 reaches only an empty unit; F1 reaches only a unit beyond the last stepped zone (cutoff 20 > 15)
    cost = sp.csr_array(([2.0, 18.0], ([0, 1], [0, 1])), shape=(2, 2))
    for decay in ("none", "stepped"):
        access, ratio = two_step_fca(cost, [5.0, 5.0], [0.0, 10.0], cutoff_min=20, decay=decay)
        assert np.all(np.isfinite(access)) and np.all(np.isfinite(ratio))
        assert ratio[0] == 0.0
    _, ratio = two_step_fca(cost, [5.0, 5.0], [0.0, 10.0], cutoff_min=20, decay="stepped")
    assert ratio[1] == 0.0


def test_inputs_are_not_mutated():
    cost = sp.csr_matrix(HAND_COST)
    before = (cost.data.copy(), cost.indices.copy(), cost.indptr.copy())
    supply, demand = HAND_SUPPLY.copy(), HAND_DEMAND.copy()
    two_step_fca(cost, supply, demand, cutoff_min=10, decay="gaussian")
    capacity_allocation(cost, [1, 2], cutoff_min=10)
    for a, b in zip(before, (cost.data, cost.indices, cost.indptr)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(supply, HAND_SUPPLY)
    np.testing.assert_array_equal(demand, HAND_DEMAND)


def test_matches_pysal_access():
    access_pkg = pytest.importorskip("access")
    from access import weights

    rng = np.random.default_rng(20240611)
    n_fac, n_dem, cutoff = 50, 500, 15.0
    mask = rng.random((n_fac, n_dem)) < 0.2
    fac, dem = np.nonzero(mask)
    minutes = rng.uniform(0.0, 25.0, len(fac))  # some stored pairs lie beyond the cutoff
    cost = sp.csr_array((minutes, (fac, dem)), shape=(n_fac, n_dem))
    supply = rng.integers(5, 200, n_fac).astype(float)
    demand = rng.integers(1, 300, n_dem).astype(float)
    dem_ids = np.array([f"d{i}" for i in range(n_dem)])
    fac_ids = np.array([f"f{j}" for j in range(n_fac)])
    model = access_pkg.Access(
        demand_df=pd.DataFrame({"elders": demand}, index=pd.Index(dem_ids, name="geoid")), demand_value="elders",
        supply_df=pd.DataFrame({"beds": supply}, index=pd.Index(fac_ids, name="fac")), supply_value="beds",
        cost_df=pd.DataFrame({"origin": dem_ids[dem], "dest": fac_ids[fac], "minutes": minutes}),
        cost_origin="origin", cost_dest="dest", cost_name="minutes")
    gauss = weights.gaussian(cutoff)  # exp(-d²/2σ²), σ = d0 = cutoff; ours subtracts e^-½ and rescales
    e_half = math.exp(-0.5)
    theirs = {
        "none": model.two_stage_fca(name="classic", max_cost=cutoff)["classic_beds"],
        "stepped": model.enhanced_two_stage_fca(name="e2", max_cost=cutoff,
                                                weight_fn=weights.step_fn(dict(DEFAULT_STEPS_MIN)))["e2_beds"],
        "gaussian": model.two_stage_fca(name="g", max_cost=cutoff,
                                        weight_fn=lambda d: (gauss(d) - e_half) / (1 - e_half))["g_beds"],
    }
    for decay, series in theirs.items():
        ours, _ = two_step_fca(cost, supply, demand, cutoff_min=cutoff, decay=decay)
        expected = series.reindex(dem_ids).fillna(0.0).to_numpy()  # PySAL leaves units with no facility NaN
        assert np.count_nonzero(ours) > 400
        np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-15, err_msg=decay)


# ---- property tests -------------------------------------------------------------------------------------------

MINUTES = st.sampled_from([0.0, 1e-9, 5.0, 10.0, 15.0]) | st.floats(0.0, 30.0)


@st.composite
def instances(draw, *, integer_supply: bool = False):
    """(cost, supply, demand, cutoff_min) with stored zeros, zone boundaries, empty rows and columns."""
    n_fac, n_dem = draw(st.integers(1, 5)), draw(st.integers(1, 8))
    mask = draw(hnp.arrays(np.bool_, (n_fac, n_dem)))
    times = draw(hnp.arrays(np.float64, (n_fac, n_dem), elements=MINUTES))
    fac, dem = np.nonzero(mask)
    kind = draw(st.sampled_from([sp.csr_array, sp.csr_matrix]))
    cost = kind((times[mask], (fac, dem)), shape=(n_fac, n_dem))
    if integer_supply:
        supply = draw(hnp.arrays(np.int64, n_fac, elements=st.integers(0, 4)))
    else:
        supply = draw(hnp.arrays(np.float64, n_fac, elements=st.just(0.0) | st.floats(0.01, 1000.0)))
    demand = draw(hnp.arrays(np.float64, n_dem, elements=st.just(0.0) | st.floats(0.01, 1000.0)))
    cutoff = draw(st.sampled_from([5.0, 10.0, 15.0]) | st.floats(0.5, 30.0))
    return cost, supply, demand, cutoff


def reach_matrix(cost, cutoff: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Dense (reachable within cutoff, minutes with inf where not stored), keeping stored zeros."""
    coo = cost.tocoo()
    dense = np.full(cost.shape, np.inf)
    dense[coo.row, coo.col] = coo.data
    reach = np.zeros(cost.shape, dtype=bool)
    reach[coo.row, coo.col] = True if cutoff is None else coo.data <= cutoff
    return reach, dense


@given(inst=instances(), decay=st.sampled_from(["none", "stepped"]))
def test_total_accessibility_conserves_supply(inst, decay):
    # Σ_i D_i A_i = Σ_i D_i Σ_j W_ij R_j = Σ_j R_j Σ_i W_ij D_i = Σ_{j: Σ_i W_ij D_i > 0} S_j, because the same
    # weights W_ij enter both steps, so swapping the sums cancels each denominator. Facilities with no
    # weighted demand have R_j = 0 and drop out. With W = 1 (classic) or the stepped weights (all > 0 up to
    # the last zone, 15 min), "weighted demand > 0" means "some D_i > 0 within min(cutoff, last zone)".
    cost, supply, demand, cutoff = inst
    access, ratio = two_step_fca(cost, supply, demand, cutoff_min=cutoff, decay=decay)
    limit = cutoff if decay == "none" else min(cutoff, DEFAULT_STEPS_MIN[-1][0])
    reach, _ = reach_matrix(cost, limit)
    with_demand = (reach & (demand > 0)[None, :]).any(axis=1)
    expected = supply[with_demand].sum()
    assert demand @ access == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert np.all(ratio[~with_demand] == 0.0)


@given(inst=instances(), decay=st.sampled_from(DECAYS), factor=st.floats(0.01, 100.0))
def test_scaling_supply_scales_access(inst, decay, factor):
    cost, supply, demand, cutoff = inst
    base, base_ratio = two_step_fca(cost, supply, demand, cutoff_min=cutoff, decay=decay)
    scaled, scaled_ratio = two_step_fca(cost, factor * supply, demand, cutoff_min=cutoff, decay=decay)
    np.testing.assert_allclose(scaled, factor * base, rtol=1e-12, atol=0)
    np.testing.assert_allclose(scaled_ratio, factor * base_ratio, rtol=1e-12, atol=0)


@given(inst=instances(), decay=st.sampled_from(DECAYS))
def test_access_zero_out_of_reach_and_always_finite(inst, decay):
    cost, supply, demand, cutoff = inst
    access, ratio = two_step_fca(cost, supply, demand, cutoff_min=cutoff, decay=decay)
    reach, _ = reach_matrix(cost, cutoff)
    assert np.all(access[~reach.any(axis=0)] == 0.0)
    assert np.all(np.isfinite(access)) and np.all(np.isfinite(ratio))
    assert np.all(access >= 0) and np.all(ratio >= 0)


def brute_force_allocation(cost, capacity, order, cutoff):
    """Facility by facility with plain loops: each takes its nearest unassigned reachable elders."""
    reach, dense = reach_matrix(cost, cutoff)
    n_fac, n_dem = cost.shape
    facility, minutes = [-1] * n_dem, [math.nan] * n_dem
    for j in order:
        candidates = sorted((dense[j, i], i) for i in range(n_dem) if reach[j, i] and facility[i] == -1)
        for t, i in candidates[: capacity[j]]:
            facility[i], minutes[i] = j, t
    return facility, minutes


@hsettings(max_examples=200)
@given(inst=instances(integer_supply=True), use_cutoff=st.booleans(), data=st.data())
def test_capacity_allocation_properties_and_brute_force(inst, use_cutoff, data):
    cost, capacity, _, cutoff = inst
    cutoff = cutoff if use_cutoff else None
    n_fac, n_dem = cost.shape
    order = data.draw(st.none() | st.permutations(range(n_fac)))
    elders, facilities = capacity_allocation(cost, capacity, cutoff_min=cutoff, facility_order=order)
    again = capacity_allocation(cost, capacity, cutoff_min=cutoff, facility_order=order)
    pd.testing.assert_frame_equal(elders, again[0])
    pd.testing.assert_frame_equal(facilities, again[1])

    ref_order = order if order is not None else sorted(range(n_fac), key=lambda j: (-capacity[j], j))
    ref_facility, ref_minutes = brute_force_allocation(cost, capacity, ref_order, cutoff)
    assert elders["facility"].tolist() == ref_facility
    np.testing.assert_array_equal(elders["travel_time_min"].to_numpy(), np.array(ref_minutes))
    np.testing.assert_array_equal(facilities["order_rank"].to_numpy()[ref_order], np.arange(n_fac))

    reach, dense = reach_matrix(cost, cutoff)
    f = elders["facility"].to_numpy()
    placed = f >= 0
    assert np.all(facilities["assigned"] <= facilities["capacity"])
    assert np.all(facilities["remaining"] == facilities["capacity"] - facilities["assigned"])
    assert np.all(facilities["assigned"].to_numpy() == np.bincount(f[placed], minlength=n_fac))
    assert np.all(reach[f[placed], np.flatnonzero(placed)])  # every assigned pair is within the catchment
    np.testing.assert_array_equal(elders["travel_time_min"].to_numpy()[placed], dense[f[placed], placed])
    np.testing.assert_array_equal(elders["covered"].to_numpy(), reach.any(axis=0))
    np.testing.assert_array_equal(elders["has_place"].to_numpy(), placed)
    # nobody is left without a place while a facility that reaches them still has room
    spare = facilities["remaining"].to_numpy() > 0
    assert not np.any(reach[spare][:, ~placed])


def test_capacity_allocation_hand_worked():
    # minutes:   e0  e1  e2  e3     capacity
    #   F0:       2   -   6   9        1
    #   F1:       4   3   5   -        2
    # default order: capacity descending -> F1 first. F1 takes its 2 nearest: e1 (3), e0 (4).
    # F0 then takes its nearest still uncovered elder: e2 (6) before e3 (9). e3 is covered but has no place.
    cost = sp.csr_array(np.array([[2.0, 0, 6, 9], [4, 3, 5, 0]]))
    elders, facilities = capacity_allocation(cost, [1, 2])
    assert elders["facility"].tolist() == [1, 1, 0, -1]
    assert elders["travel_time_min"].tolist()[:3] == [4.0, 3.0, 6.0] and np.isnan(elders["travel_time_min"].iloc[3])
    assert elders["covered"].tolist() == [True] * 4
    assert elders["has_place"].tolist() == [True, True, True, False]
    assert facilities.to_dict("list") == {"capacity": [1, 2], "assigned": [1, 2], "remaining": [0, 0],
                                          "order_rank": [1, 0]}
    # processing F0 first, it takes e0 (2); F1 then takes e1 (3) and e2 (5); with a 5-minute cutoff F0 reaches
    # nothing else and e3 (only 9 minutes from F0) is no longer covered
    elders, facilities = capacity_allocation(cost, [1, 2], facility_order=[0, 1], cutoff_min=5)
    assert elders["facility"].tolist() == [0, 1, 1, -1]
    assert elders["covered"].tolist() == [True, True, True, False]
    assert facilities["order_rank"].tolist() == [0, 1]


# ---- invalid input ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "match"), [
    ({"supply": [1.0]}, "supply must be 1-D of length 2"),
    ({"demand": [1.0, -2.0, 3.0, 4.0]}, "demand has 1 values"),
    ({"cutoff_min": 0}, "cutoff_min must be a positive"),
    ({"decay": "linear"}, "decay must be one of"),
    ({"decay": "stepped", "steps": ((10, 1.0), (5, 0.5))}, "steps must be"),
    ({"gaussian_d0_min": 10.0}, "gaussian_d0_min applies only"),
    ({"cost": sp.csr_array(([np.nan], ([0], [0])), shape=(2, 4))}, "not finite non-negative minutes"),
    ({"cost": sp.coo_array(([1.0, 2.0], ([0, 0], [1, 1])), shape=(2, 4))}, "1 duplicate"),
    ({"cost": np.ones((2, 4))}, "scipy sparse matrix"),
])
def test_two_step_fca_rejects_bad_input(kwargs, match):
    args = {"cost": HAND_COST, "supply": HAND_SUPPLY, "demand": HAND_DEMAND, "cutoff_min": 15.0} | kwargs
    with pytest.raises(PlanningInputError) as info:  # str() is the Chinese message, .en the English one
        two_step_fca(args.pop("cost"), args.pop("supply"), args.pop("demand"), **args)
    assert match in info.value.en and isinstance(info.value, ValueError) and info.value.zh


def test_problems_are_reported_together():
    with pytest.raises(PlanningInputError) as info:
        two_step_fca(HAND_COST, [1.0], [-1.0, 0, 0, 0], cutoff_min=-5, decay="linear")
    for part in ("supply must", "demand has", "cutoff_min must", "decay must"):
        assert part in info.value.en
    assert "supply" in str(info.value) and "应为" in str(info.value)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"supply": [1.5, 2.0]}, "whole numbers"),
    ({"supply": [-1, 2]}, "supply has 1 values"),
    ({"facility_order": [0, 0]}, "permutation of 0..1"),
    ({"facility_order": [0.0, 1.0]}, "permutation of 0..1"),
    ({"cutoff_min": float("inf")}, "cutoff_min must be"),
])
def test_capacity_allocation_rejects_bad_input(kwargs, match):
    args = {"supply": [1, 2]} | kwargs
    with pytest.raises(PlanningInputError) as info:
        capacity_allocation(HAND_COST, args.pop("supply"), **args)
    assert match in info.value.en
