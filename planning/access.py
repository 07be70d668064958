"""Accessibility with capacity: 2SFCA / E2SFCA and AccessMod-style capacity allocation.

Every function is pure and works on a sparse travel-time matrix ``cost`` of shape
(n_facilities, n_demand), in minutes from facility ``j`` (row) to demand unit ``i``
(column). A **stored** entry means "reachable": its value is the real travel time,
so a stored ``0`` or ``1e-9`` is a zero-minute trip, and an absent entry means
unreachable. Geometry and routing stay outside (see :mod:`planning.routing`).
``supply`` holds facility capacities (beds or service slots); ``demand`` holds
demand weights (elders, or elder counts per H3 cell).
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike

from geo.errors import PlanningInputError

log = logging.getLogger(__name__)

Decay = Literal["none", "stepped", "gaussian"]
DECAYS: tuple[str, ...] = ("none", "stepped", "gaussian")
#: E2SFCA zones (upper bound in minutes, weight), weights of Luo & Qi (2009) on a 15-minute circle.
DEFAULT_STEPS_MIN: tuple[tuple[float, float], ...] = ((5, 1.0), (10, 0.68), (15, 0.22))
_EXP_HALF = float(np.exp(-0.5))


def _raise_if(problems: list[tuple[str, str]]) -> None:
    """Raise one error listing every collected (zh, en) problem."""
    if problems:
        raise PlanningInputError("；".join(zh for zh, _ in problems), "; ".join(en for _, en in problems))


def _entries(cost: sp.sparray | sp.spmatrix, problems: list[tuple[str, str]]) -> tuple[np.ndarray, ...]:
    """Stored entries of ``cost`` as (facility, demand unit, minutes) arrays, checked, never copied back."""
    if not sp.issparse(cost) or len(cost.shape) != 2:
        _raise_if([(f"cost 应为二维 scipy 稀疏矩阵（设施 × 需求单元，分钟），收到 {type(cost).__name__}",
                    f"cost must be a 2-D scipy sparse matrix (facilities x demand units, minutes), "
                    f"got {type(cost).__name__}")])
    coo = cost.tocoo()
    row, col = coo.row.astype(np.int64), coo.col.astype(np.int64)
    minutes = np.asarray(coo.data, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(minutes) | (minutes < 0))
    if len(bad):
        j, i = row[bad[0]], col[bad[0]]
        problems.append((f"cost 有 {len(bad)} 个存储值不是非负有限分钟数（如第 {j} 行第 {i} 列 = {minutes[bad[0]]}）；"
                         "不可达请不存储该项",
                         f"cost has {len(bad)} stored values that are not finite non-negative minutes "
                         f"(e.g. row {j}, column {i} = {minutes[bad[0]]}); leave unreachable pairs unstored"))
    keys = row * cost.shape[1] + col  # strictly increasing for canonical CSR: no sort needed
    if np.any(keys[1:] <= keys[:-1]):
        keys = np.sort(keys)
    n_dup = int(np.count_nonzero(keys[1:] == keys[:-1]))
    if n_dup:
        problems.append((f"cost 有 {n_dup} 个重复存储的（设施, 需求单元）项；每对只能有一个时间",
                         f"cost stores {n_dup} duplicate (facility, demand unit) entries; "
                         "store one time per pair (e.g. the minimum)"))
    return row, col, minutes


def _vector(name: str, values: ArrayLike, n: int, problems: list[tuple[str, str]]) -> np.ndarray:
    """``values`` as a float array of length ``n`` of finite non-negative numbers, or a problem noted."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        problems.append((f"{name} 应为长度 {n} 的一维数组（与 cost 对应），收到形状 {arr.shape}",
                         f"{name} must be 1-D of length {n} to match cost, got shape {arr.shape}"))
        return np.zeros(n)
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if len(bad):
        problems.append((f"{name} 有 {len(bad)} 个值不是非负有限数（如第 {bad[0]} 个 = {arr[bad[0]]}）",
                         f"{name} has {len(bad)} values that are not finite and >= 0 "
                         f"(e.g. position {bad[0]} = {arr[bad[0]]})"))
    return arr


def _positive(name: str, value: float, problems: list[tuple[str, str]]) -> None:
    if not (isinstance(value, (int, float, np.number)) and np.isfinite(value) and value > 0):
        problems.append((f"{name} 应为正的有限分钟数，收到 {value!r}",
                         f"{name} must be a positive finite number of minutes, got {value!r}"))


def _decay_weights(minutes: np.ndarray, decay: str, cutoff_min: float, zones: np.ndarray, d0_min: float) -> np.ndarray:
    """W(d) per stored pair as in :func:`two_step_fca` (zones: (upper bound, weight) rows); 0 beyond the cutoff."""
    if decay == "none":
        w = np.ones_like(minutes)
    elif decay == "stepped":  # zone r covers (b_{r-1}, b_r]; W = 0 beyond the last zone
        w = np.append(zones[:, 1], 0.0)[np.searchsorted(zones[:, 0], minutes, side="left")]
    else:
        w = np.clip((np.exp(-0.5 * (minutes / d0_min) ** 2) - _EXP_HALF) / (1.0 - _EXP_HALF), 0.0, None)
    return np.where(minutes <= cutoff_min, w, 0.0)


def two_step_fca(cost: sp.sparray | sp.spmatrix, supply: ArrayLike, demand: ArrayLike, *, cutoff_min: float,
                 decay: Decay = "none", steps: tuple[tuple[float, float], ...] = DEFAULT_STEPS_MIN,
                 gaussian_d0_min: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two-step floating catchment area accessibility (2SFCA, E2SFCA, Gaussian 2SFCA).

    With d_ij the stored minutes from facility j to demand unit i, S_j = ``supply``,
    D_i = ``demand`` and W the decay weight (see ``decay``):

    1. R_j = S_j / Σ_{k: d_kj <= d0} W(d_kj) D_k  — supply per weighted demand in j's catchment;
    2. A_i = Σ_{j: d_ij <= d0} W(d_ij) R_j        — weighted ratios of the facilities i reaches,

    with d0 = ``cutoff_min``. A facility whose weighted demand is 0 (no demand in reach, or only
    zero-weight pairs) gets R_j = 0, never NaN or inf: its supply serves nobody. Hence
    Σ_i D_i A_i = Σ_{j: Σ_k W D_k > 0} S_j (supply is conserved over facilities with demand).

    Parameters
    ----------
    cost
        Sparse (n_facilities, n_demand) travel minutes; stored = reachable, absent = unreachable.
    supply
        Capacity per facility (beds or service slots), >= 0.
    demand
        Demand weight per demand unit (elders, or elders per H3 cell), >= 0.
    cutoff_min
        Catchment in minutes: stored pairs longer than this are ignored.
    decay
        ``"none"``: classic 2SFCA (Luo & Wang 2003), W = 1. ``"stepped"``: E2SFCA (Luo & Qi 2009),
        weight per travel-time zone. ``"gaussian"``: W(d) = (exp(-½(d/d0)²) - exp(-½)) / (1 - exp(-½)),
        clipped at 0 (Dai 2010).
    steps
        ``"stepped"`` only: (zone upper bound in minutes, weight), bounds strictly increasing.
    gaussian_d0_min
        ``"gaussian"`` only: the d0 of the Gaussian in minutes; default ``cutoff_min``.

    Returns
    -------
    access
        A_i per demand unit (supply per unit of demand, e.g. beds per elder); 0 where nothing is in reach.
    ratio
        R_j per facility.
    """
    problems: list[tuple[str, str]] = []
    row, col, minutes = _entries(cost, problems)
    n_fac, n_dem = cost.shape
    s = _vector("supply", supply, n_fac, problems)
    d = _vector("demand", demand, n_dem, problems)
    _positive("cutoff_min", cutoff_min, problems)
    if decay not in DECAYS:
        problems.append((f"decay 只能是 {DECAYS} 之一，收到 {decay!r}", f"decay must be one of {DECAYS}, got {decay!r}"))
    zones = np.zeros((0, 2))
    if decay == "stepped":
        try:
            zones = np.asarray(steps, dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            zones = np.full((1, 2), np.nan)
        if not (len(zones) and np.all(np.isfinite(zones)) and zones[0, 0] > 0 and np.all(zones[:, 1] >= 0)
                and np.all(np.diff(zones[:, 0]) > 0)):
            problems.append((f"steps 应为（区间上限分钟, 权重）序列，上限递增且为正，权重非负；收到 {steps!r}",
                             f"steps must be (zone upper bound in minutes, weight) pairs with positive strictly "
                             f"increasing bounds and weights >= 0, got {steps!r}"))
    if gaussian_d0_min is not None:
        if decay != "gaussian":
            problems.append((f"gaussian_d0_min 仅用于 decay='gaussian'（收到 decay={decay!r}）",
                             f"gaussian_d0_min applies only to decay='gaussian' (got decay={decay!r})"))
        _positive("gaussian_d0_min", gaussian_d0_min, problems)
    _raise_if(problems)

    d0_min = cutoff_min if gaussian_d0_min is None else gaussian_d0_min
    w = _decay_weights(minutes, decay, cutoff_min, zones, d0_min)
    weights = sp.csr_array((w, (row, col)), shape=(n_fac, n_dem))
    weighted_demand = weights @ d
    ratio = np.divide(s, weighted_demand, out=np.zeros(n_fac), where=weighted_demand > 0)
    access = weights.T @ ratio
    log.info("2SFCA (%s, %g min): %d facilities x %d demand units, %d pairs in reach, %d facilities without demand",
             decay, cutoff_min, n_fac, n_dem, int(np.count_nonzero(minutes <= cutoff_min)),
             int(np.count_nonzero(weighted_demand <= 0)))
    return np.asarray(access, dtype=np.float64), ratio


def capacity_allocation(cost: sp.sparray | sp.spmatrix, supply: ArrayLike, *, cutoff_min: float | None = None,
                        facility_order: ArrayLike | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Capacity-aware coverage (AccessMod style): who is covered, and who also has a place.

    Each demand unit is one elder (weight 1); ``supply`` holds integer capacities C_j. Facilities
    are processed one at a time in ``facility_order`` π(1), …, π(m). When facility j = π(t) comes up,
    let U_j = {i unassigned : d_ij stored and d_ij <= cutoff} sorted by (d_ij, i); j takes the first
    min(C_j, |U_j|) elders of U_j. So j fills with its nearest still-uncovered elders, and an elder is
    left without a place only if every facility reaching it is full. The result is deterministic.
    This greedy is not an optimal assignment: a facility processed early may take elders that a later one
    could also serve.

    Parameters
    ----------
    cost
        Sparse (n_facilities, n_demand) travel minutes; stored = reachable, absent = unreachable.
    supply
        Capacity per facility (places, whole numbers >= 0).
    cutoff_min
        Catchment in minutes; default ``None``: every stored pair is in the catchment.
    facility_order
        A permutation of the facility indices; default: capacity descending, ties by index.

    Returns
    -------
    elders
        One row per elder (index ``elder``): ``facility`` (index, -1 if none), ``travel_time_min`` to it
        (NaN if none), ``covered`` (within the catchment of any facility), ``has_place`` (assigned).
    facilities
        One row per facility (index ``facility``): ``capacity``, ``assigned``, ``remaining``,
        ``order_rank`` (0 = processed first).
    """
    problems: list[tuple[str, str]] = []
    row, col, minutes = _entries(cost, problems)
    n_fac, n_dem = cost.shape
    s = _vector("supply", supply, n_fac, problems)
    if np.any(np.isfinite(s) & (s != np.round(s))):
        problems.append(("supply（床位/名额）应为整数", "supply (places) must be whole numbers"))
    if cutoff_min is not None:
        _positive("cutoff_min", cutoff_min, problems)
    capacity = np.round(np.nan_to_num(s)).astype(np.int64)
    if facility_order is None:
        order = np.lexsort((np.arange(n_fac), -capacity))
    else:
        order = np.asarray(facility_order)
        if order.dtype.kind not in "iu" or order.shape != (n_fac,) or not np.array_equal(np.sort(order),
                                                                                         np.arange(n_fac)):
            problems.append((f"facility_order 应为 0..{n_fac - 1} 的一个排列（每个设施序号恰好一次）",
                             f"facility_order must be a permutation of 0..{n_fac - 1} (each facility index once)"))
    _raise_if(problems)

    keep = np.ones(len(minutes), dtype=bool) if cutoff_min is None else minutes <= cutoff_min
    row, col, minutes = row[keep], col[keep], minutes[keep]
    by_fac = np.argsort(row, kind="stable")  # linear when already grouped by facility, as CSR is
    row, col, minutes = row[by_fac], col[by_fac], minutes[by_fac]
    starts = np.searchsorted(row, np.arange(n_fac + 1))
    facility = np.full(n_dem, -1, dtype=np.int64)
    time_min = np.full(n_dem, np.nan)
    for j in order:
        cand = np.arange(starts[j], starts[j + 1])
        cand = cand[facility[col[cand]] < 0]
        take = cand[np.lexsort((col[cand], minutes[cand]))[: capacity[j]]]  # nearest first, ties by elder
        facility[col[take]] = j
        time_min[col[take]] = minutes[take]

    covered = np.zeros(n_dem, dtype=bool)
    covered[col] = True
    has_place = facility >= 0
    assigned = np.bincount(facility[has_place], minlength=n_fac).astype(np.int64)
    rank = np.empty(n_fac, dtype=np.int64)
    rank[order] = np.arange(n_fac)
    elders = pd.DataFrame({"facility": facility, "travel_time_min": time_min, "covered": covered,
                           "has_place": has_place}, index=pd.RangeIndex(n_dem, name="elder"))
    facilities = pd.DataFrame({"capacity": capacity, "assigned": assigned, "remaining": capacity - assigned,
                               "order_rank": rank}, index=pd.RangeIndex(n_fac, name="facility"))
    log.info("capacity allocation: %d elders, %d covered, %d with a place; %d facilities, %d places left",
             n_dem, int(covered.sum()), int(has_place.sum()), n_fac, int((capacity - assigned).sum()))
    return elders, facilities
