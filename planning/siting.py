"""Where to open new facilities: maximal covering and set covering on a sparse coverage matrix.

The core is pure: functions of a candidates × demand 0/1 matrix ``A`` (``A[j, i] = 1`` when a
facility at candidate ``j`` would reach demand unit ``i`` within the service circle), the demand
weights ``w`` (elders, optionally weighted for 80+, disabled, living alone) and the number of sites.
Geometry, networks and regions stay in :mod:`planning.scenario` and the CLI, which build ``A`` with
:func:`planning.catchments.catchment_matrix` for the elders that existing facilities leave uncovered
(existing facilities are fixed: what they cover is not demand any more).

Maximal covering location problem (MCLP; Church & ReVelle 1974)::

    maximise    Σ_i w_i y_i
    subject to  y_i ≤ Σ_{j : A[j,i] = 1} x_j     for every demand unit i
                Σ_j x_j ≤ k
                x_j ∈ {0, 1},  0 ≤ y_i ≤ 1

``y_i`` need not be declared integer: for 0/1 ``x`` an optimum has ``y_i = 1`` exactly when a
chosen site covers ``i``.

Partial set covering (fewest sites reaching a target weight ``T``)::

    minimise    Σ_j x_j
    subject to  y_i ≤ Σ_{j : A[j,i] = 1} x_j     for every i
                Σ_i w_i y_i ≥ T
                x_j ∈ {0, 1},  0 ≤ y_i ≤ 1

Both are solved exactly with HiGHS (``highspy``) under a time limit, warm-started from the greedy
solution; the result reports the solver's bound and relative gap, so a planner knows how far from the
optimum a time-limited answer can be. Greedy (repeatedly the site adding the most uncovered weight) is
the fallback and the warm start; for MCLP it is within a factor 1 − 1/e of the optimum.

Demand units with the same set of covering candidates are merged (weights added) before solving:
the optimum is unchanged and the model is much smaller where elders live in the same blocks.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from geo.errors import PlanningInputError

log = logging.getLogger(__name__)

SOLVERS = ("highs", "greedy")


@dataclass(frozen=True)
class SitingResult:
    """Chosen candidates and how good the choice is.

    Attributes
    ----------
    chosen
        Candidate indices, in the order of their marginal gain (the greedy order re-applied to the
        chosen set: the first adds the most weight).
    gains
        Newly covered weight added by each chosen site in that order (sums to ``objective``).
    objective
        Covered demand weight (MCLP) or number of sites (set covering).
    covered_weight
        Demand weight the chosen sites cover.
    bound
        Best proven bound on the objective (upper for MCLP, lower for set covering); equal to
        ``objective`` when solved to optimality.
    gap
        Relative gap ``|bound − objective| / max(|objective|, 1e-9)``; 0 when optimal.
    status
        "optimal", "time_limit" (best found within the limit), "greedy" (greedy only) or "infeasible".
    solver
        "highs" or "greedy".
    seconds
        Wall time of the solve, model building included.
    """

    chosen: np.ndarray
    gains: np.ndarray
    objective: float
    covered_weight: float
    bound: float
    gap: float
    status: str
    solver: str
    seconds: float
    details: dict = field(default_factory=dict)


def _check(coverage: sp.spmatrix, weights: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    a = sp.csr_matrix(coverage, dtype=bool)
    a.eliminate_zeros()
    w = np.asarray(weights, dtype="float64")
    if a.shape[1] != len(w):
        raise PlanningInputError("需求权重个数与覆盖矩阵列数不一致",
                                 f"{len(w)} weights for {a.shape[1]} demand units")
    if (w < 0).any() or not np.isfinite(w).all():
        raise PlanningInputError("需求权重必须为非负有限数", "demand weights must be finite and non-negative")
    return a, w


def merge_demand(coverage: sp.spmatrix, weights: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Merge demand units covered by the same candidates; drop those no candidate covers.

    Returns (merged candidates × groups matrix, group weights, group of each original unit; -1 when
    dropped).
    """
    a, w = _check(coverage, weights)
    csc = a.tocsc()
    csc.sort_indices()
    n = csc.shape[1]
    group = np.full(n, -1, dtype=np.int64)
    keys: dict[bytes, int] = {}
    ptr, idx = csc.indptr, csc.indices.astype(np.int64)
    for i in range(n):
        if ptr[i] == ptr[i + 1] or w[i] == 0:
            continue
        key = idx[ptr[i]:ptr[i + 1]].tobytes()
        group[i] = keys.setdefault(key, len(keys))
    kept = group >= 0
    n_groups = len(keys)
    merged_w = np.bincount(group[kept], weights=w[kept], minlength=n_groups)
    first = np.full(n_groups, -1, dtype=np.int64)
    first[group[kept][::-1]] = np.flatnonzero(kept)[::-1]  # one representative column per group
    merged = csc[:, first].tocsr() if n_groups else sp.csr_matrix((a.shape[0], 0), dtype=bool)
    return merged, merged_w, group


def covered_weight(coverage: sp.spmatrix, weights: np.ndarray, chosen: np.ndarray) -> float:
    """Demand weight covered by at least one of the ``chosen`` candidates."""
    a, w = _check(coverage, weights)
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(chosen) == 0:
        return 0.0
    hit = np.asarray(a[chosen].sum(axis=0)).ravel() > 0
    return float(w[hit].sum())


def greedy_max_cover(coverage: sp.spmatrix, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy maximal covering: ``k`` times the candidate adding the most uncovered weight.

    Ties go to the lowest candidate index; stops early when nothing more can be covered.
    Returns (chosen candidates in order, gain of each).
    """
    a, w = _check(coverage, weights)
    csc = a.tocsc()
    remaining = w.copy()
    gain = np.asarray(a @ remaining).ravel()  # weight each candidate would add now
    chosen, gains = [], []
    for _ in range(int(k)):
        j = int(np.argmax(gain)) if len(gain) else -1
        if j < 0 or gain[j] <= 0:
            break
        chosen.append(j)
        gains.append(float(gain[j]))
        newly = a.indices[a.indptr[j]:a.indptr[j + 1]]
        newly = newly[remaining[newly] > 0]
        # every candidate that also covers a newly covered unit loses that unit's weight
        sub = csc[:, newly]
        gain -= np.asarray(sub @ remaining[newly]).ravel()
        remaining[newly] = 0.0
        gain[j] = 0.0
    return np.array(chosen, dtype=np.int64), np.array(gains)


def order_by_gain(coverage: sp.spmatrix, weights: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The chosen sites in greedy order of their marginal gain, and the gains (sum = covered weight)."""
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(chosen) == 0:
        return chosen, np.zeros(0)
    a, w = _check(coverage, weights)
    order, gains = greedy_max_cover(a[chosen], w, len(chosen))
    rest = np.setdiff1d(np.arange(len(chosen)), order)  # sites adding nothing once the others are open
    return np.concatenate([chosen[order], chosen[rest]]), np.concatenate([gains, np.zeros(len(rest))])


@functools.cache
def _quiet_highs() -> type:
    """A ``highspy.Highs`` subclass that writes nothing to the console, not even its banner.

    highspy's constructor enables its callbacks, which logs the banner while output is still on;
    switching output off first keeps stdout clean (the CLI's tables, the app's server log).
    """
    import highspy

    class QuietHighs(highspy.Highs):
        def enableCallbacks(self) -> None:  # noqa: N802 (highspy's name)
            self.setOptionValue("output_flag", False)
            super().enableCallbacks()

    return QuietHighs


def _highs(a: sp.csr_matrix, w: np.ndarray, *, k: int | None, target: float | None, time_limit_s: float,
           mip_rel_gap: float, start: np.ndarray | None) -> tuple[np.ndarray, float, float, str]:
    """Solve MCLP (``k`` given) or partial set covering (``target`` given) with HiGHS.

    Returns (chosen candidates, objective, bound, status).
    """
    import highspy

    n_cand, n_dem = a.shape
    csc = a.tocsc()
    # columns: x_0..x_{n_cand-1}, then y_0..y_{n_dem-1}
    # rows: y_i − Σ_j A[j,i] x_j ≤ 0 (n_dem rows), then Σ x_j ≤ k  or  Σ w_i y_i ≥ target
    cover_rows = sp.hstack([-csc.T.astype("float64"), sp.identity(n_dem, format="csr")], format="csr")
    if k is not None:
        last = sp.csr_matrix(np.concatenate([np.ones(n_cand), np.zeros(n_dem)])[None, :])
        row_lower = np.concatenate([np.full(n_dem, -highspy.kHighsInf), [-highspy.kHighsInf]])
        row_upper = np.concatenate([np.zeros(n_dem), [float(k)]])
        cost = np.concatenate([np.zeros(n_cand), -w])  # HiGHS minimises
    else:
        last = sp.csr_matrix(np.concatenate([np.zeros(n_cand), w])[None, :])
        row_lower = np.concatenate([np.full(n_dem, -highspy.kHighsInf), [float(target)]])
        row_upper = np.concatenate([np.zeros(n_dem), [highspy.kHighsInf]])
        cost = np.concatenate([np.ones(n_cand), np.zeros(n_dem)])
    matrix = sp.vstack([cover_rows, last], format="csr")
    lp = highspy.HighsLp()
    lp.num_col_ = n_cand + n_dem
    lp.num_row_ = n_dem + 1
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n_cand + n_dem)
    lp.col_upper_ = np.ones(n_cand + n_dem)
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype("float64")
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_cand + [highspy.HighsVarType.kContinuous] * n_dem
    h = _quiet_highs()()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    if start is not None and len(start):
        x = np.zeros(n_cand + n_dem)
        x[start] = 1.0
        x[n_cand:] = (np.asarray(csc[start].sum(axis=0)).ravel() > 0) if n_dem else 0.0
        solution = highspy.HighsSolution()
        solution.col_value = list(x)
        solution.value_valid = True
        h.setSolution(solution)
    h.run()
    model_status = h.getModelStatus()
    info = h.getInfo()
    if model_status == highspy.HighsModelStatus.kInfeasible:
        return np.zeros(0, dtype=np.int64), np.nan, np.nan, "infeasible"
    values = np.asarray(h.getSolution().col_value)
    if len(values) != n_cand + n_dem:  # no feasible point found within the limit
        return np.zeros(0, dtype=np.int64), np.nan, np.nan, "time_limit"
    chosen = np.flatnonzero(values[:n_cand] > 0.5)
    status = "optimal" if model_status == highspy.HighsModelStatus.kOptimal else "time_limit"
    objective = float(info.objective_function_value)
    bound = float(info.mip_dual_bound)
    if k is not None:
        objective, bound = -objective, -bound
    return chosen, objective, bound, status


def _gap(objective: float, bound: float) -> float:
    if not np.isfinite(objective) or not np.isfinite(bound):
        return np.nan
    return abs(bound - objective) / max(abs(objective), 1e-9)


def maximal_covering(coverage: sp.spmatrix, weights: np.ndarray, k: int, *, solver: str = "highs",
                     time_limit_s: float = 60.0, mip_rel_gap: float = 0.0) -> SitingResult:
    """Choose at most ``k`` candidates covering the most demand weight (MCLP, formulation above).

    Parameters
    ----------
    coverage
        Candidates × demand units, nonzero where the candidate reaches the unit within the circle.
    weights
        Weight of each demand unit (elders, or weighted elders), non-negative.
    k
        Number of new sites.
    solver
        "highs" (exact, warm-started from greedy) or "greedy".
    time_limit_s
        HiGHS time limit; when reached, the best solution found is returned with its gap.
    mip_rel_gap
        Relative gap at which HiGHS may stop (0: prove optimality).
    """
    if solver not in SOLVERS:
        raise PlanningInputError(f"求解器须为 {'/'.join(SOLVERS)}", f"solver must be one of {SOLVERS}, got {solver!r}")
    if k < 0:
        raise PlanningInputError("新增站点数不能为负", f"k must be >= 0, got {k}")
    t0 = time.perf_counter()
    a, w = _check(coverage, weights)
    merged, mw, _ = merge_demand(a, w)
    g_chosen, g_gains = greedy_max_cover(merged, mw, k)
    greedy_value = float(g_gains.sum())
    details = {"candidates": a.shape[0], "demand_units": a.shape[1], "merged_units": merged.shape[1],
               "greedy_objective": greedy_value}
    if solver == "greedy" or merged.shape[1] == 0 or k == 0:
        chosen, objective, bound, status = g_chosen, greedy_value, np.nan, "greedy"
        if merged.shape[1] == 0 or k == 0:
            bound, status = 0.0 if merged.shape[1] == 0 else objective, "optimal"
        used = "greedy"
    else:
        chosen, objective, bound, status = _highs(merged, mw, k=k, target=None, time_limit_s=time_limit_s,
                                                  mip_rel_gap=mip_rel_gap, start=g_chosen)
        used = "highs"
        if len(chosen) == 0 and greedy_value > 0 or (np.isfinite(objective) and objective < greedy_value - 1e-9):
            chosen, objective = g_chosen, greedy_value  # never worse than the warm start
        objective = covered_weight(merged, mw, chosen)  # recount from the chosen sites themselves
    order, gains = order_by_gain(merged, mw, chosen)
    result = SitingResult(order, gains, float(objective), float(objective), float(bound), _gap(objective, bound),
                          status, used, time.perf_counter() - t0, details)
    log.info("maximal covering: %d of %d candidates chosen, weight %.1f covered (%s, %s, gap %.3g) in %.2f s",
             len(order), a.shape[0], result.objective, used, status, result.gap, result.seconds)
    return result


def set_covering(coverage: sp.spmatrix, weights: np.ndarray, target_weight: float, *, solver: str = "highs",
                 time_limit_s: float = 60.0, mip_rel_gap: float = 0.0) -> SitingResult:
    """Fewest candidates covering at least ``target_weight`` of demand (formulation above).

    Greedy adds sites until the target is reached. When even all candidates cannot reach the
    target, the status is "infeasible" and every useful candidate is returned (the most that can be
    covered), so the planner sees how far the candidates fall short.
    """
    if solver not in SOLVERS:
        raise PlanningInputError(f"求解器须为 {'/'.join(SOLVERS)}", f"solver must be one of {SOLVERS}, got {solver!r}")
    t0 = time.perf_counter()
    a, w = _check(coverage, weights)
    merged, mw, _ = merge_demand(a, w)
    reachable = float(mw.sum())
    g_chosen, g_gains = greedy_max_cover(merged, mw, merged.shape[0])
    cum = np.cumsum(g_gains)
    details = {"candidates": a.shape[0], "demand_units": a.shape[1], "merged_units": merged.shape[1],
               "reachable_weight": reachable, "target_weight": float(target_weight)}
    if target_weight <= 0:
        chosen, status, bound, used = np.zeros(0, dtype=np.int64), "optimal", 0.0, solver
    elif reachable < target_weight - 1e-9:
        chosen, status, bound, used = g_chosen, "infeasible", np.nan, "greedy"
    else:
        n_greedy = int(np.searchsorted(cum, target_weight - 1e-9) + 1)
        greedy_sites = g_chosen[:n_greedy]
        details["greedy_objective"] = float(n_greedy)
        if solver == "greedy":
            chosen, status, bound, used = greedy_sites, "greedy", np.nan, "greedy"
        else:
            chosen, _, bound, status = _highs(merged, mw, k=None, target=target_weight, time_limit_s=time_limit_s,
                                              mip_rel_gap=mip_rel_gap, start=greedy_sites)
            used = "highs"
            if len(chosen) == 0 or len(chosen) > n_greedy:
                chosen = greedy_sites
    order, gains = order_by_gain(merged, mw, chosen)
    objective = float(len(order)) if status != "infeasible" else np.nan
    result = SitingResult(order, gains, objective, float(gains.sum()), float(bound) if bound is not None else np.nan,
                          _gap(objective, bound), status, used, time.perf_counter() - t0, details)
    log.info("set covering: %d sites cover weight %.1f of target %.1f (%s, %s) in %.2f s", len(order),
             result.covered_weight, target_weight, used, status, result.seconds)
    return result
