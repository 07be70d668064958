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
within a factor 1 − 1/e of the MCLP optimum; an interchange step (Teitz–Bart swaps, :func:`swap_improve`,
vectorised on the sparse matrix, under its own time limit) then improves it to a swap-local optimum. Greedy
plus interchange is the fast fallback (``solver="greedy"``) and the warm start.

Demand units with the same set of covering candidates are merged (weights added) before solving:
the optimum is unchanged and the model is much smaller where elders live in the same blocks.

Capacitated maximal covering (:func:`capacitated_max_cover`): every facility — existing ones included,
always open — serves at most its places, and demand is assigned to open facilities within the circle;
the most covered-and-served demand is sought (formulation in the function's docstring). Same demand
merging (by covering facilities and value), HiGHS with a time limit and a reported gap, greedy warm start.
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


def swap_improve(coverage: sp.spmatrix, weights: np.ndarray, chosen: np.ndarray, *,
                 time_limit_s: float = 10.0, max_rounds: int | None = None,
                 pairs: bool = True) -> tuple[np.ndarray, dict]:
    """Interchange improvement (Teitz & Bart 1968) of a maximal covering solution.

    Repeatedly makes the best single swap — one chosen site out, one unchosen candidate in — that
    raises the covered weight, until no swap improves it (a swap-local optimum), ``max_rounds`` swaps
    were made, or ``time_limit_s`` has passed (checked between rounds; one round costs about ``k``
    sparse products over the matrix). With ``cnt_i`` the number of chosen sites covering ``i``:

    * loss of removing ``j``: ``L_j = Σ_{i ∈ N(j), cnt_i = 1} w_i`` (units only ``j`` covers);
    * gain of adding ``c``: ``G_c = Σ_{i ∈ N(c), cnt_i = 0} w_i``;
    * swap ``j → c``: ``G_c − L_j + Σ_{i ∈ N(c) ∩ N(j), cnt_i = 1} w_i`` (units ``j`` alone covered
      that ``c`` covers again), the last term one sparse product per ``j``.

    When no single swap helps and ``pairs`` is true, one "two out, two in" move is tried: every pair of
    chosen sites is removed and the two candidates adding the most are put back greedily
    (:func:`_best_pair_move`); the best such move that raises the covered weight is made and the single
    swaps resume. Returns (improved chosen sites, details: single swaps and pair moves made, rounds,
    seconds, whether it stopped at the time limit). The covered weight never decreases, and the result
    is a local optimum for single swaps unless the time limit stopped it.
    """
    a, w = _check(coverage, weights)
    t0 = time.perf_counter()
    chosen = np.asarray(chosen, dtype=np.int64).copy()
    n_cand = a.shape[0]
    info = {"swaps": 0, "pair_moves": 0, "rounds": 0, "stopped_by_time": False, "seconds": 0.0}
    if len(chosen) == 0 or len(chosen) >= n_cand or time_limit_s <= 0:
        return chosen, info
    csc = a.tocsc()
    cnt = np.asarray(a[chosen].sum(axis=0)).ravel().astype(np.int64)
    eps = 1e-9 * max(float(w.sum()), 1.0)
    while max_rounds is None or info["rounds"] < max_rounds:
        if time.perf_counter() - t0 > time_limit_s:
            info["stopped_by_time"] = True
            break
        info["rounds"] += 1
        gain_add = np.asarray(a @ (w * (cnt == 0))).ravel()
        gain_add[chosen] = -np.inf
        only = w * (cnt == 1)
        best, best_pair = eps, None
        for pos, j in enumerate(chosen):
            mine = a.indices[a.indptr[j]:a.indptr[j + 1]]
            mine = mine[cnt[mine] == 1]  # units only j covers
            loss = float(only[mine].sum())
            regained = np.asarray(csc[:, mine] @ w[mine]).ravel() if len(mine) else 0.0
            delta = gain_add + regained - loss
            c = int(np.argmax(delta))
            if delta[c] > best:
                best, best_pair = float(delta[c]), (pos, c)
        if best_pair is not None:
            pos, c = best_pair
            j = chosen[pos]
            cnt[a.indices[a.indptr[j]:a.indptr[j + 1]]] -= 1
            cnt[a.indices[a.indptr[c]:a.indptr[c + 1]]] += 1
            chosen[pos] = c
            info["swaps"] += 1
            continue
        if not pairs or len(chosen) < 2 or time.perf_counter() - t0 > time_limit_s:
            break
        move = _best_pair_move(a, w, chosen, cnt, eps)  # no single swap helps: try two out, two in
        if move is None:
            break
        (p, q), (c1, c2) = move
        for j in (chosen[p], chosen[q]):
            cnt[a.indices[a.indptr[j]:a.indptr[j + 1]]] -= 1
        for c in (c1, c2):
            cnt[a.indices[a.indptr[c]:a.indptr[c + 1]]] += 1
        chosen[p], chosen[q] = c1, c2
        info["pair_moves"] += 1
    info["seconds"] = time.perf_counter() - t0
    return chosen, info


def _best_pair_move(a: sp.csr_matrix, w: np.ndarray, chosen: np.ndarray, cnt: np.ndarray,
                    eps: float) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The best "two out, two greedily in" move, or None when none raises the covered weight by more than eps.

    For every pair of chosen sites: remove both, then add greedily the two candidates adding the most
    (two sparse products per pair, ``k (k − 1)`` in all).
    """
    best, move = eps, None
    for p, q in itertools.combinations(range(len(chosen)), 2):
        c_now = cnt.copy()
        for j in (chosen[p], chosen[q]):
            c_now[a.indices[a.indptr[j]:a.indptr[j + 1]]] -= 1
        lost = float(w[(c_now == 0) & (cnt > 0)].sum())
        others = np.delete(chosen, [p, q])
        added, picks = 0.0, []
        for _ in range(2):
            gain = np.asarray(a @ (w * (c_now == 0))).ravel()
            gain[others] = -1.0
            gain[picks] = -1.0
            c = int(np.argmax(gain))
            picks.append(c)
            added += float(gain[c])
            c_now[a.indices[a.indptr[c]:a.indptr[c + 1]]] += 1
        if added - lost > best and sorted(picks) != sorted([int(chosen[p]), int(chosen[q])]):
            best, move = added - lost, ((p, q), (picks[0], picks[1]))
    return move


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


def _highs_solver(time_limit_s: float, mip_rel_gap: float) -> Any:
    """A quiet, deterministic HiGHS solver (one thread, fixed seed) with these limits."""
    h = _quiet_highs()()
    for name, value in (("output_flag", False), ("log_to_console", False), ("time_limit", float(time_limit_s)),
                        ("mip_rel_gap", float(mip_rel_gap)), ("random_seed", 0), ("threads", 1)):
        h.setOptionValue(name, value)
    return h


def _checked_run(solver: Callable[[], Any], cost: np.ndarray,
                 start: np.ndarray | None) -> tuple[Any, np.ndarray | None, bool]:
    """Run a HiGHS MIP (``solver()``: a fresh solver holding the model; warm-started with the full column values
    ``start`` when given) and check its figures against the solution it returns. Returns (the solver, the
    solution's column values or None when it has none, whether its objective and bound are to be trusted).

    A reported objective that is not the solution's cost, or a bound beyond it, is not trusted (HiGHS 1.16 can
    report a warm start's objective and bound wrongly, e.g. -15 for a start of cost -13.5, as "optimal"): the MIP
    is solved again without the warm start; when that disagrees too, the figures are not trusted."""
    import highspy

    for warm in ((True, False) if start is not None else (False,)):
        h = solver()
        if warm:
            solution = highspy.HighsSolution()
            solution.col_value = list(start)
            solution.value_valid = True
            h.setSolution(solution)
        h.run()
        values = np.asarray(h.getSolution().col_value)
        if len(values) != len(cost):
            return h, None, True
        info = h.getInfo()
        worth, reported, bound = float(cost @ values), float(info.objective_function_value), float(info.mip_dual_bound)
        tolerance = 1e-6 * max(1.0, abs(worth))  # HiGHS minimises: its bound is at most the solution's cost
        if abs(reported - worth) <= tolerance and not bound > worth + tolerance:
            return h, values, True
        log.warning("HiGHS reported objective %.9g and bound %.9g for a solution of cost %.9g (%s): %s", reported,
                    bound, worth, "warm start" if warm else "cold start",
                    "solving again without the warm start" if warm else "its optimality is not claimed")
    return h, values, False


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

    def solver() -> Any:
        h = _highs_solver(time_limit_s, mip_rel_gap)
        h.passModel(lp)
        return h

    x = None
    if start is not None and len(start):
        x = np.zeros(n_cand + n_dem)
        x[start] = 1.0
        x[n_cand:] = (np.asarray(csc[start].sum(axis=0)).ravel() > 0) if n_dem else 0.0
    h, values, trusted = _checked_run(solver, cost, x)
    model_status = h.getModelStatus()
    if model_status == highspy.HighsModelStatus.kInfeasible:
        return np.zeros(0, dtype=np.int64), np.nan, np.nan, "infeasible"
    if values is None:  # no feasible point found within the limit
        return np.zeros(0, dtype=np.int64), np.nan, np.nan, "time_limit"
    chosen = np.flatnonzero(values[:n_cand] > 0.5)
    status = "optimal" if model_status == highspy.HighsModelStatus.kOptimal and trusted else "time_limit"
    objective = float(cost @ values)
    bound = float(h.getInfo().mip_dual_bound) if trusted else np.nan
    if k is not None:
        objective, bound = -objective, -bound
    return chosen, objective, bound, status


def _gap(objective: float, bound: float) -> float:
    if not np.isfinite(objective) or not np.isfinite(bound):
        return np.nan
    return abs(bound - objective) / max(abs(objective), 1e-9)


def maximal_covering(coverage: sp.spmatrix, weights: np.ndarray, k: int, *, solver: str = "highs",
                     time_limit_s: float = 60.0, mip_rel_gap: float = 0.0,
                     swap_time_limit_s: float = 10.0) -> SitingResult:
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
        "highs" (exact, warm-started from greedy + interchange) or "greedy" (greedy followed by the
        interchange improvement of :func:`swap_improve`; no bound).
    time_limit_s
        HiGHS time limit; when reached, the best solution found is returned with its gap.
    mip_rel_gap
        Relative gap at which HiGHS may stop (0: prove optimality).
    swap_time_limit_s
        Time limit of the interchange step after greedy, seconds (0: greedy only).

    ``details`` holds the plain greedy objective (``greedy_objective``), the objective after the
    interchange (``swap_objective``) and the swaps made.
    """
    if solver not in SOLVERS:
        raise PlanningInputError(f"求解器须为 {'/'.join(SOLVERS)}", f"solver must be one of {SOLVERS}, got {solver!r}")
    if k < 0:
        raise PlanningInputError("新增站点数不能为负", f"k must be >= 0, got {k}")
    t0 = time.perf_counter()
    a, w = _check(coverage, weights)
    merged, mw, _ = merge_demand(a, w)
    g_chosen, g_gains = greedy_max_cover(merged, mw, k)
    pure_greedy = float(g_gains.sum())
    g_chosen, swap_info = swap_improve(merged, mw, g_chosen, time_limit_s=swap_time_limit_s)
    greedy_value = covered_weight(merged, mw, g_chosen)
    details = {"candidates": a.shape[0], "demand_units": a.shape[1], "merged_units": merged.shape[1],
               "greedy_objective": pure_greedy, "swap_objective": greedy_value, "swaps": swap_info["swaps"],
               "pair_moves": swap_info["pair_moves"],
               "swap_seconds": swap_info["seconds"], "swap_stopped_by_time": swap_info["stopped_by_time"]}
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


# ---------------------------------------------------------------- capacitated maximal covering


@dataclass(frozen=True)
class CapacitatedResult:
    """New sites, and which demand every open facility serves within its capacity.

    Attributes
    ----------
    chosen
        Candidate indices, by served value (largest first).
    assigned
        Places used at each chosen site (demand served there), in the order of ``chosen``.
    assigned_value
        Value served at each chosen site (places × value per place).
    existing_assigned, existing_assigned_value
        The same for each existing facility, in the order given.
    assignment
        ``(n_existing + len(chosen)) × demand units`` sparse matrix: places of unit ``i`` served by each
        facility, existing facilities first, then ``chosen`` in order.
    served, served_value
        Places served in total (existing and new) and their value; ``objective == served_value``.
    baseline_value, baseline_served
        Value and places the existing facilities serve on their own, before any new site.
    unserved
        Demand places left unserved (``Σ demand − served``), in reach of no open facility or over capacity.
    unserved_in_reach
        Of those, places within reach of an open facility that are unserved for lack of capacity.
    objective, bound, gap, status, solver, seconds, details
        As in :class:`SitingResult` (``bound`` is HiGHS's upper bound on ``served_value``).
    """

    chosen: np.ndarray
    assigned: np.ndarray
    assigned_value: np.ndarray
    existing_assigned: np.ndarray
    existing_assigned_value: np.ndarray
    assignment: sp.csr_matrix
    served: float
    served_value: float
    baseline_served: float
    baseline_value: float
    unserved: float
    unserved_in_reach: float
    objective: float
    bound: float
    gap: float
    status: str
    solver: str
    seconds: float
    details: dict = field(default_factory=dict)


def _nonneg(name_zh: str, name: str, values: np.ndarray, n: int, *, allow_inf: bool = False) -> np.ndarray:
    v = np.asarray(values, dtype="float64").ravel()
    if v.shape != (n,):
        raise PlanningInputError(f"{name_zh}个数应为 {n}（收到 {v.size}）", f"{name}: {v.size} values for {n}")
    bad = np.isnan(v) | (v < 0) | (~np.isfinite(v) & ~allow_inf)
    if bad.any():
        raise PlanningInputError(f"{name_zh}必须为非负{'数' if allow_inf else '有限数'}（第 {int(np.argmax(bad)) + 1} 个无效）",
                                 f"{name} must be non-negative{'' if allow_inf else ' and finite'}")
    return v


def _merge_capacitated(a: sp.csr_matrix, demand: np.ndarray,
                       value: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """Merge demand units with the same covering facilities and the same value per place.

    Exact for the flow: places of merged units are interchangeable. Units nobody covers, with no
    demand or no value are dropped. Returns (facilities × groups, group demand, group value, group of
    each unit, −1 when dropped).
    """
    csc = a.tocsc()
    csc.sort_indices()
    n = csc.shape[1]
    group = np.full(n, -1, dtype=np.int64)
    keys: dict[tuple[bytes, float], int] = {}
    ptr, idx = csc.indptr, csc.indices.astype(np.int64)
    for i in range(n):
        if ptr[i] == ptr[i + 1] or demand[i] == 0 or value[i] == 0:
            continue
        group[i] = keys.setdefault((idx[ptr[i]:ptr[i + 1]].tobytes(), float(value[i])), len(keys))
    kept = group >= 0
    n_groups = len(keys)
    g_demand = np.bincount(group[kept], weights=demand[kept], minlength=n_groups)
    first = np.full(n_groups, -1, dtype=np.int64)
    first[group[kept][::-1]] = np.flatnonzero(kept)[::-1]
    g_value = value[first] if n_groups else np.zeros(0)
    merged = csc[:, first].tocsr() if n_groups else sp.csr_matrix((a.shape[0], 0), dtype=bool)
    merged.sort_indices()
    return merged, g_demand, g_value, group


_LINK_SHARE = 0.5
"""Linking rows ``x_ji ≤ min(d_i, c_j) y_j`` are added for candidates whose places are at least this share of
the demand they reach: there the capacity row barely ties ``x`` to ``y``; where capacity binds, the rows would
double the model for little gain in the bound."""


class _FlowModel:
    """HiGHS model of the capacitated MCLP on merged demand (formulation in :func:`capacitated_max_cover`).

    Columns: ``y`` of the candidates, then one ``x`` per nonzero of the facilities × groups matrix
    (existing facilities' rows first), in CSR order.
    """

    def __init__(self, m: sp.csr_matrix, g_demand: np.ndarray, g_value: np.ndarray, cap: np.ndarray,
                 n_existing: int, k: int, *, link: bool = True) -> None:
        import highspy

        self.highspy = highspy
        n_fac, n_grp = m.shape
        n_cand = n_fac - n_existing
        coo = m.tocoo()
        order = np.lexsort((coo.col, coo.row))
        rows, cols = coo.row[order].astype(np.int64), coo.col[order].astype(np.int64)
        n_x = len(rows)
        self.rows, self.cols, self.n_cand, self.n_existing, self.n_x = rows, cols, n_cand, n_existing, n_x
        inf = highspy.kHighsInf
        xi = n_cand + np.arange(n_x)
        # reach of a facility bounds its useful capacity: keeps every coefficient finite
        reach = np.bincount(rows, weights=g_demand[cols], minlength=n_fac)
        cap_eff = np.minimum(cap, reach)
        r_parts, c_parts, v_parts, lo, up = [], [], [], [], []
        # demand: Σ_f x_fg ≤ D_g
        r_parts.append(cols)
        c_parts.append(xi)
        v_parts.append(np.ones(n_x))
        lo.append(np.full(n_grp, -inf))
        up.append(g_demand)
        base = n_grp
        # capacity: Σ_g x_fg − cap_f y_f ≤ 0 (candidates), Σ_g x_fg ≤ cap_f (existing)
        r_parts.append(base + rows)
        c_parts.append(xi)
        v_parts.append(np.ones(n_x))
        cand = np.arange(n_cand)
        r_parts.append(base + n_existing + cand)
        c_parts.append(cand)
        v_parts.append(-cap_eff[n_existing:])
        lo.append(np.full(n_fac, -inf))
        up.append(np.concatenate([cap_eff[:n_existing], np.zeros(n_cand)]))
        base += n_fac
        # linking (strengthens the relaxation): x_fg − min(D_g, cap_f) y_f ≤ 0 for candidates
        # only where the capacity row is a weak link: sites whose places cover most of the demand they reach
        loose = cap_eff >= _LINK_SHARE * reach
        on_cand = np.flatnonzero((rows >= n_existing) & loose[rows]) if link else np.zeros(0, dtype=np.int64)
        n_link = len(on_cand)
        link = base + np.arange(n_link)
        r_parts += [link, link]
        c_parts += [xi[on_cand], rows[on_cand] - n_existing]
        v_parts += [np.ones(n_link), -np.minimum(g_demand[cols[on_cand]], cap_eff[rows[on_cand]])]
        lo.append(np.full(n_link, -inf))
        up.append(np.zeros(n_link))
        base += n_link
        # Σ y ≤ k
        r_parts.append(np.full(n_cand, base))
        c_parts.append(cand)
        v_parts.append(np.ones(n_cand))
        lo.append([-inf])
        up.append([float(k)])
        n_rows = base + 1
        mat = sp.csr_matrix((np.concatenate(v_parts), (np.concatenate(r_parts), np.concatenate(c_parts))),
                            shape=(n_rows, n_cand + n_x))
        mat.sort_indices()
        lp = highspy.HighsLp()
        lp.num_col_ = n_cand + n_x
        lp.num_row_ = n_rows
        lp.col_cost_ = np.concatenate([np.zeros(n_cand), -g_value[cols]])  # HiGHS minimises
        lp.col_lower_ = np.zeros(n_cand + n_x)
        lp.col_upper_ = np.concatenate([np.ones(n_cand), g_demand[cols]])
        lp.row_lower_ = np.concatenate([np.asarray(v, dtype="float64") for v in lo])
        lp.row_upper_ = np.concatenate([np.asarray(v, dtype="float64") for v in up])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = mat.indptr.astype(np.int32)
        lp.a_matrix_.index_ = mat.indices.astype(np.int32)
        lp.a_matrix_.value_ = mat.data.astype("float64")
        self.lp = lp
        self.cap_eff = cap_eff


    def flow(self, open_: np.ndarray, time_limit_s: float) -> np.ndarray:
        """Best assignment (``x``) with the candidates in ``open_`` open and the others closed: an LP."""
        hs = self.highspy
        lp = self.lp
        y = np.zeros(self.n_cand)
        y[np.asarray(open_, dtype=np.int64)] = 1.0
        lower, upper = np.asarray(lp.col_lower_).copy(), np.asarray(lp.col_upper_).copy()
        lower[:self.n_cand], upper[:self.n_cand] = y, y
        fixed = hs.HighsLp()
        for name in ("num_col_", "num_row_", "col_cost_", "row_lower_", "row_upper_"):
            setattr(fixed, name, getattr(lp, name))
        fixed.col_lower_, fixed.col_upper_ = lower, upper
        fixed.a_matrix_ = lp.a_matrix_
        h = _highs_solver(time_limit_s, 0.0)
        h.passModel(fixed)
        h.run()
        values = np.asarray(h.getSolution().col_value)
        if h.getModelStatus() != hs.HighsModelStatus.kOptimal or len(values) != self.n_cand + self.n_x:
            raise PlanningInputError("容量分配求解失败（可加大时间上限）", f"assignment LP: {h.getModelStatus()}")
        return np.clip(values[self.n_cand:], 0.0, None)

    def solve(self, start_open: np.ndarray, start_x: np.ndarray, time_limit_s: float,
              mip_rel_gap: float) -> tuple[np.ndarray | None, np.ndarray | None, float, float, str]:
        """The MIP, warm-started: (open candidates, x, objective, bound, status); None when nothing found.
        HiGHS's figures are checked against its solution (:func:`_checked_run`)."""
        hs = self.highspy
        lp = self.lp
        lp.integrality_ = [hs.HighsVarType.kInteger] * self.n_cand + [hs.HighsVarType.kContinuous] * self.n_x
        cost = np.asarray(lp.col_cost_)

        def solver() -> Any:
            h = _highs_solver(time_limit_s, mip_rel_gap)
            h.passModel(lp)
            return h

        start = np.zeros(self.n_cand + self.n_x)
        start[np.asarray(start_open, dtype=np.int64)] = 1.0
        start[self.n_cand:] = start_x
        h, values, trusted = _checked_run(solver, cost, start)
        if values is None:
            return None, None, np.nan, np.nan, "time_limit"
        optimal = h.getModelStatus() == hs.HighsModelStatus.kOptimal and trusted
        return (np.flatnonzero(values[:self.n_cand] > 0.5), np.clip(values[self.n_cand:], 0.0, None),
                -float(cost @ values), -float(h.getInfo().mip_dual_bound) if trusted else np.nan,
                "optimal" if optimal else "time_limit")


def _greedy_capacitated(m: sp.csr_matrix, residual: np.ndarray, g_value: np.ndarray, cap: np.ndarray,
                        n_existing: int, k: int) -> np.ndarray:
    """Greedy warm start: ``k`` times the candidate that would serve the most value from the demand left.

    A candidate's gain fills its capacity with the reachable residual demand at its mean value; the
    chosen one then takes the demand it reaches, most valuable and least reachable by others first.
    """
    cand = m[n_existing:].tocsr()
    n_cand = cand.shape[0]
    r = residual.astype("float64").copy()
    left = cap[n_existing:].astype("float64").copy()
    reach_count = np.asarray(cand.sum(axis=0)).ravel()
    chosen: list[int] = []
    for _ in range(min(int(k), n_cand)):
        reach_d = np.asarray(cand @ r).ravel()
        reach_v = np.asarray(cand @ (r * g_value)).ravel()
        with np.errstate(invalid="ignore", divide="ignore"):
            gain = np.where(reach_d <= left, reach_v, left * np.where(reach_d > 0, reach_v / reach_d, 0.0))
        gain[chosen] = -1.0
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        chosen.append(j)
        units = cand.indices[cand.indptr[j]:cand.indptr[j + 1]]
        units = units[np.lexsort((reach_count[units], -g_value[units]))]
        room = left[j]
        for g in units:
            if room <= 0:
                break
            take = min(room, r[g])
            r[g] -= take
            room -= take
        left[j] = room
    return np.array(chosen, dtype=np.int64)


def _disaggregate(rows: np.ndarray, cols: np.ndarray, x: np.ndarray, group: np.ndarray, demand: np.ndarray,
                  n_fac: int) -> sp.csr_matrix:
    """Spread each group's assigned places over its member units in index order (facilities × units)."""
    n_units = len(group)
    members = np.argsort(group, kind="stable")
    members = members[group[members] >= 0]
    bounds = np.searchsorted(group[members], np.arange(int(group.max()) + 2 if n_units and group.max() >= 0 else 1))
    out_r, out_c, out_v = [], [], []
    keep = x > 1e-9
    rows, cols, x = rows[keep], cols[keep], x[keep]
    order = np.lexsort((rows, cols))
    rows, cols, x = rows[order], cols[order], x[order]
    starts = np.searchsorted(cols, np.arange(len(bounds)))
    for g in np.unique(cols):
        units = members[bounds[g]:bounds[g + 1]]
        room = demand[units].astype("float64")
        u = 0
        for e in range(starts[g], starts[g + 1]):
            amount = x[e]
            while amount > 1e-9 and u < len(units):
                take = min(amount, room[u])
                if take > 0:
                    out_r.append(rows[e])
                    out_c.append(units[u])
                    out_v.append(take)
                amount -= take
                room[u] -= take
                if room[u] <= 1e-9:
                    u += 1
    return sp.csr_matrix((np.asarray(out_v, dtype="float64"), (np.asarray(out_r, dtype=np.int64),
                          np.asarray(out_c, dtype=np.int64))), shape=(n_fac, n_units))


def capacitated_max_cover(coverage: sp.spmatrix, demand: np.ndarray, k: int, capacity: np.ndarray, *,
                          value: np.ndarray | None = None, existing: sp.spmatrix | None = None,
                          existing_capacity: np.ndarray | None = None, solver: str = "highs",
                          time_limit_s: float = 60.0, mip_rel_gap: float = 0.0) -> CapacitatedResult:
    """Capacitated maximal covering: open ``k`` sites so that the most demand is covered *and* served.

    Every facility serves at most its capacity (beds or places); demand unit ``i`` needs ``d_i``
    places, each worth ``v_i`` (1, or the elder's need weight), and may be served by any open
    facility within the cutoff (``coverage``, ``existing``). Existing facilities are always open and
    serve with their own capacity; demand is assigned to existing and new facilities together.
    With ``F`` the existing facilities, ``J`` the candidates and ``N(i)`` the facilities reaching
    ``i``::

        maximise    Σ_i Σ_{f ∈ N(i)} v_i x_fi
        subject to  Σ_{f ∈ N(i)} x_fi ≤ d_i                 every demand unit i
                    Σ_i x_fi ≤ c_f                          every existing f ∈ F
                    Σ_i x_ji ≤ c_j y_j                      every candidate j ∈ J
                    x_ji ≤ min(d_i, c_j) y_j                every pair (linking; tightens the bound)
                    Σ_{j ∈ J} y_j ≤ k,   y_j ∈ {0, 1},   x ≥ 0

    An infinite capacity is replaced by the demand the facility reaches (``c_j = Σ_{i: j ∈ N(i)}
    d_i``): then the model is the uncapacitated MCLP with weights ``d_i v_i``. For fixed ``y`` it is
    a transportation (flow) problem; the existing facilities alone serve ``baseline_value`` (never
    less after new sites open: the optimum is at least that flow), so the new sites' contribution is
    ``served_value − baseline_value``. Units with the same covering facilities and value are merged
    first (exact: their places are interchangeable).

    Parameters
    ----------
    coverage
        Candidates × demand units, nonzero where the candidate reaches the unit within the cutoff.
    demand
        Places each unit needs (elders: 1 each; a cell: its elders), non-negative, finite.
    k
        Number of new sites.
    capacity
        Places of each candidate; ``np.inf`` for unlimited.
    value
        Value of serving one place of each unit (default 1: the objective counts places served).
    existing, existing_capacity
        Existing facilities × demand units, and their places (default: none).
    solver
        "highs" (exact, warm-started from greedy, under ``time_limit_s``) or "greedy" (the greedy
        sites, their demand assigned optimally by the flow LP).
    """
    if solver not in SOLVERS:
        raise PlanningInputError(f"求解器须为 {'/'.join(SOLVERS)}", f"solver must be one of {SOLVERS}, got {solver!r}")
    if k < 0:
        raise PlanningInputError("新增站点数不能为负", f"k must be >= 0, got {k}")
    t0 = time.perf_counter()
    a = sp.csr_matrix(coverage, dtype=bool)
    a.eliminate_zeros()
    n_cand, n_units = a.shape
    d = _nonneg("需求量", "demand", demand, n_units)
    v = np.ones(n_units) if value is None else _nonneg("需求权重", "value", value, n_units)
    cap = _nonneg("候选点容量", "capacity", capacity, n_cand, allow_inf=True)
    if existing is None:
        ex = sp.csr_matrix((0, n_units), dtype=bool)
        ex_cap = np.zeros(0)
    else:
        ex = sp.csr_matrix(existing, dtype=bool)
        ex.eliminate_zeros()
        if ex.shape[1] != n_units:
            raise PlanningInputError("现有设施覆盖矩阵与需求单元个数不一致",
                                     f"existing has {ex.shape[1]} demand units, coverage {n_units}")
        if existing_capacity is None:
            raise PlanningInputError("缺少现有设施容量", "existing_capacity is required with existing")
        ex_cap = _nonneg("现有设施容量", "existing_capacity", existing_capacity, ex.shape[0], allow_inf=True)
    n_ex = ex.shape[0]
    both = sp.vstack([ex, a], format="csr")
    merged, g_d, g_v, group = _merge_capacitated(both, d, v)
    caps = np.concatenate([ex_cap, cap])
    details = {"candidates": n_cand, "existing": n_ex, "demand_units": n_units, "merged_units": merged.shape[1]}
    model = _FlowModel(merged, g_d, g_v, caps, n_ex, int(k))
    x0 = model.flow(np.zeros(0, dtype=np.int64), time_limit_s)
    baseline_value = float(g_v[model.cols] @ x0)
    served_by_ex = np.bincount(model.cols, weights=x0, minlength=merged.shape[1])
    g_chosen = _greedy_capacitated(merged, g_d - served_by_ex, g_v, model.cap_eff, n_ex, int(k))
    g_x = model.flow(g_chosen, time_limit_s)
    greedy_value = float(g_v[model.cols] @ g_x)
    details["greedy_objective"] = greedy_value
    if solver == "greedy" or merged.shape[1] == 0 or k == 0 or n_cand == 0:
        chosen, x, bound, status, used = g_chosen, g_x, np.nan, "greedy", "greedy"
        if merged.shape[1] == 0 or k == 0 or n_cand == 0:
            bound, status = greedy_value, "optimal"
    else:
        used = "highs"
        chosen, x, _, bound, status = model.solve(g_chosen, g_x, time_limit_s, mip_rel_gap)
        if chosen is None or float(g_v[model.cols] @ x) < greedy_value - 1e-9:
            chosen, x = g_chosen, g_x  # never worse than the warm start
            if status == "optimal":
                status = "time_limit"
        x = model.flow(chosen, time_limit_s)  # the assignment of the chosen sites, recomputed exactly
    objective = float(g_v[model.cols] @ x)
    fac_places = np.bincount(model.rows, weights=x, minlength=merged.shape[0])
    fac_value = np.bincount(model.rows, weights=x * g_v[model.cols], minlength=merged.shape[0])
    cand_value = fac_value[n_ex:][chosen]
    order = np.argsort(-cand_value, kind="stable")
    chosen = chosen[order]
    fac_order = np.concatenate([np.arange(n_ex), n_ex + chosen])
    remap = np.full(merged.shape[0], -1, dtype=np.int64)
    remap[fac_order] = np.arange(len(fac_order))
    keep = remap[model.rows] >= 0
    assignment = _disaggregate(remap[model.rows[keep]], model.cols[keep], x[keep], group, d, len(fac_order))
    served = float(x.sum())
    g_open = np.concatenate([np.ones(n_ex, dtype=bool), np.zeros(n_cand, dtype=bool)])
    g_open[n_ex + chosen] = True
    in_reach = np.asarray(merged[g_open].sum(axis=0)).ravel() > 0
    served_g = np.bincount(model.cols, weights=x, minlength=merged.shape[1])
    result = CapacitatedResult(
        chosen=chosen, assigned=fac_places[n_ex + chosen], assigned_value=fac_value[n_ex + chosen],
        existing_assigned=fac_places[:n_ex], existing_assigned_value=fac_value[:n_ex], assignment=assignment,
        served=served, served_value=objective, baseline_served=float(x0.sum()), baseline_value=baseline_value,
        unserved=float(d.sum()) - served, unserved_in_reach=float((g_d - served_g)[in_reach].sum()),
        objective=objective, bound=float(bound), gap=_gap(objective, bound), status=status, solver=used,
        seconds=time.perf_counter() - t0, details=details)
    log.info("capacitated covering: %d of %d candidates chosen, %.1f served (existing alone %.1f), %.1f unserved "
             "(%s, %s, gap %.3g) in %.2f s", len(chosen), n_cand, objective, baseline_value, result.unserved, used,
             status, result.gap, result.seconds)
    return result
