"""Carers' daily routes: who visits which home, in what order, on the road network (issue 15).

Given one day's orders (a point, a time window for the start of service, a service duration, the
skills and skill level the service needs, optionally a provider or carer already chosen by the desk)
and the carers (a base point, a shift, skills, a skill level, a most-orders-per-day), plan each
carer's visiting order.

Travel times
    One all-pairs matrix between the carers' bases and the visit points, in seconds, from our own
    shortest paths on the region's drive (or walk) network, points snapped onto its largest strongly
    connected part (:func:`routing_network`): :func:`travel_matrix_s` runs
    :func:`planning.catchments.catchment_matrix` with every point as both source and target (points
    snapped to their nearest edge, access walks included, one-way streets honoured). Two stops at the
    same point are 0 apart; pairs farther than ``settings.route_matrix_cutoff_min`` are unreachable.

The model (a vehicle-routing problem with time windows), solved by :func:`solve`
    Each carer ``k`` leaves its base no earlier than its shift start ``a_k``, visits an ordered list of
    orders and is back at the base no later than its shift end ``b_k``. Service of order ``j`` starts
    at ``s_j = max(arrival_j, e_j)`` and must satisfy ``s_j <= l_j`` (the window ``[e_j, l_j]`` bounds
    the *start* of service; arriving early means waiting), lasting ``d_j``. Carer ``k`` may serve
    ``j`` only when it has all of ``j``'s skills at a level at least ``j``'s minimum, belongs to
    ``j``'s provider (when the order has one) and is ``j``'s carer (when the desk assigned one), and
    serves at most ``m_k`` orders. Objective, lexicographic: (1) most urgent (紧急) orders served,
    (2) most orders served, (3) least total travel time, base to base. Waiting is not a cost.

    The solver is VROOM (pyvroom) fed our matrix; eligibility is passed as VROOM skills (one skill
    per distinct set of eligible carers). VROOM is a heuristic: on tiny instances (≤ 6 orders, 2
    carers) it served as many orders as the brute-force optimum in 300 of 300 random cases and matched
    its travel in 299 (tests/test_routes.py checks 24 of them). Its local search stops after
    ``time_limit_s``; its start heuristics do not, so days above :data:`LARGE_DAY_VISITS` orders run
    at exploration level 0 (:func:`solver_effort`).

Baseline, :func:`nearest_next`
    The carer who is free earliest goes to the nearest (by travel time) unvisited order it may serve
    and can still start within the window and finish before its shift ends, and so on until none
    is left for it; then it goes home.

Every order is either routed or listed with a reason in Chinese (:data:`REASONS`). Plans are
re-timed by one function (:func:`_timeline`) and can be checked with :func:`check_plan`.

Entry points: :func:`plan_routes` (a region, orders, carers, settings → :class:`RoutePlan`), or
:func:`route_problem` then :func:`solve_problem` (the matrix built once, solved several ways), or
:func:`solve` on a plain matrix. Outputs: :func:`plan_frame` (the workbook table, Chinese headers),
:func:`routes_frame`, :func:`unassigned_frame`, :func:`plan_geojson` (the map, along the roads with
:func:`road_legs`).
Elders' points and carers' bases are personal data: nothing here logs them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import PlanningInputError
from geo.settings import Settings

log = logging.getLogger(__name__)

UNREACHABLE_S = 10 * 86_400
"""Travel seconds standing for "no way within the cutoff": longer than any shift, so never routed."""
URGENT_PRIORITY = 100
"""VROOM priority of an urgent (紧急) order; others 0. VROOM first maximises the priorities served."""
URGENT = "紧急"

REASON_NO_POINT = "服务地址缺少坐标"
REASON_NOT_SNAPPED = "服务地址离道路过远，无法接入路网"
REASON_OTHER_DAY = "预约时间不在计划当日"
REASON_BAD_WINDOW = "预约时间无效（结束早于开始）"
REASON_NO_SKILL = "无具备技能的护理员"
REASON_CARER_ABSENT = "指定的护理员不在本次计划中"
REASON_CARER_UNFIT = "指定的护理员不具备所需技能或等级"
REASON_NO_ROAD = "道路不通，护理员无法到达"
REASON_WINDOW = "时间窗内无法到达"
REASON_SHIFT = "超出工作时间"
REASON_FULL = "护理员当日工单已满"
REASON_BUSY = "护理员时间已排满（与其他工单冲突）"
REASONS: tuple[str, ...] = (REASON_NO_POINT, REASON_NOT_SNAPPED, REASON_OTHER_DAY, REASON_BAD_WINDOW,
                            REASON_NO_SKILL, REASON_CARER_ABSENT, REASON_CARER_UNFIT, REASON_NO_ROAD,
                            REASON_WINDOW, REASON_SHIFT, REASON_FULL, REASON_BUSY)
"""Every reason an order may be left out of the plan, in Chinese."""

VISIT_COLUMNS = ("id", "loc", "window_start_s", "window_end_s", "service_s")
"""Required columns of :func:`solve`'s ``visits``; optional: ``skills`` (tuple of str), ``min_skill_level``
(int), ``urgent`` (bool), ``provider_id``, ``carer_id`` (str; empty or missing: any)."""
VEHICLE_COLUMNS = ("id", "loc", "shift_start_s", "shift_end_s")
"""Required columns of :func:`solve`'s ``vehicles``; optional: ``skills`` (tuple of str), ``skill_level`` (int),
``max_orders`` (int), ``provider_id`` (str)."""

STOP_COLUMNS = ("carer_id", "seq", "visit_id", "loc", "arrival_s", "start_s", "departure_s", "travel_s", "wait_s",
                "service_s", "window_start_s", "window_end_s")
ROUTE_COLUMNS = ("carer_id", "loc", "visits", "leave_s", "return_s", "travel_s", "return_travel_s", "service_s",
                 "wait_s")


@dataclass(frozen=True)
class RoutePlan:
    """A day's routes. Times are seconds after midnight of ``day``.

    Attributes
    ----------
    stops
        One row per visit, in visiting order per carer: ``carer_id``, ``seq`` (1, 2, …), ``visit_id``,
        ``loc`` (matrix row), ``arrival_s``, ``start_s`` (service starts), ``departure_s``, ``travel_s``
        (from the previous stop or the base), ``wait_s``, ``service_s``, ``window_start_s``,
        ``window_end_s``; :func:`plan_routes` adds ``lon``, ``lat`` (EPSG:4326).
    routes
        One row per carer (also those without visits): ``carer_id``, ``loc``, ``visits``, ``leave_s``
        (leaves the base; as late as the first visit allows), ``return_s`` (back at the base),
        ``travel_s`` (base to base), ``return_travel_s`` (last leg), ``service_s``, ``wait_s``;
        :func:`plan_routes` adds the base's ``lon``, ``lat``.
    unassigned
        ``visit_id`` and ``reason`` (one of :data:`REASONS`) of every order not routed.
    totals
        ``visits``, ``routed``, ``unassigned``, ``urgent_unassigned``, ``carers``, ``carers_used``,
        ``travel_min``, ``service_min``, ``wait_min``, ``solver``, ``solve_s``.
    day
        The planned day (None when unknown, as in :func:`solve` on plain seconds).
    notes
        Plain-language notes in Chinese about the inputs (points not snapped, carers left out …).
    """

    stops: pd.DataFrame
    routes: pd.DataFrame
    unassigned: pd.DataFrame
    totals: dict[str, Any]
    day: dt.date | None = None
    notes: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------------------------------
# travel-time matrix


def travel_matrix_s(network, snap, *, cutoff_min: float) -> np.ndarray:
    """Travel seconds between every pair of snapped points (int64, ``len(snap) × len(snap)``).

    Entry ``(i, j)`` is the shortest time from point ``i`` to point ``j`` on ``network``
    (:func:`planning.catchments.catchment_matrix`: access walks at both ends, one-way streets
    honoured), rounded to whole seconds; the diagonal is 0; pairs farther apart than ``cutoff_min``
    minutes, or involving an unsnapped point, are :data:`UNREACHABLE_S`.
    """
    from planning.catchments import catchment_matrix

    n = len(snap)
    out = np.full((n, n), UNREACHABLE_S, dtype=np.int64)
    if n:
        coo = catchment_matrix(network, snap, snap, cutoff_min=float(cutoff_min)).tocoo()
        out[coo.row, coo.col] = np.rint(coo.data * 60.0).astype(np.int64)
        np.fill_diagonal(out, 0)
    return out


_ROUTING_NETWORKS: dict = {}


def strongly_connected_part(network):
    """The network with only the edges whose both ends lie in its largest strongly connected part.

    Snapping stops onto this part (as routing engines do) means every stop can be reached from every
    other and left again: a clipped extract's one-way streets leading out of it, or a cul-de-sac of
    service roads joined one way only, would otherwise hold points that can be reached but never left.
    The graph is unchanged (a path between two nodes of the part never leaves it); only
    ``edges`` (what points snap to) is reduced.
    """
    import dataclasses

    from scipy.sparse.csgraph import connected_components

    _, label = connected_components(network.graph, directed=True, connection="strong")
    main = int(np.argmax(np.bincount(label)))
    edges = network.edges
    keep = (label[edges["u_idx"].to_numpy()] == main) & (label[edges["v_idx"].to_numpy()] == main)
    log.info("%s routing network: %d of %d edges in the largest strongly connected part",
             network.mode, int(keep.sum()), len(edges))
    return dataclasses.replace(network, edges=edges[keep].reset_index(drop=True))


def routing_network(region, mode: str, settings: Settings):
    """The region's network of ``mode`` reduced to :func:`strongly_connected_part`, once per region version."""
    from planning.coverage import network_for, remember_per_version, routing_settings

    key = (str(region.path), mode, routing_settings(settings))
    return remember_per_version(_ROUTING_NETWORKS, key,
                                lambda: strongly_connected_part(network_for(region, mode, settings)))


# ---------------------------------------------------------------------------------------------------
# eligibility and feasibility


def _tags(value: Any) -> tuple[str, ...]:
    """A tag list (list, tuple, array, "a、b" or "a,b" text) as a tuple of non-empty strings."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ()
    if isinstance(value, str):
        parts = value.replace("，", ",").replace("、", ",").replace(";", ",").replace("；", ",").split(",")
    else:
        parts = list(value)
    return tuple(str(p).strip() for p in parts if p is not None and str(p).strip())


def _text(value: Any) -> str:
    """A cell as text; missing values as ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    return str(value).strip()


def _column(frame: pd.DataFrame, name: str, default: Any) -> list:
    return list(frame[name]) if name in frame else [default] * len(frame)


def eligibility(visits: pd.DataFrame, vehicles: pd.DataFrame) -> np.ndarray:
    """Bool ``len(visits) × len(vehicles)``: carer ``k`` may serve order ``j`` (skills, level, provider, carer)."""
    v_skills = [set(_tags(s)) for s in _column(vehicles, "skills", ())]
    v_level = np.array([int(x) if pd.notna(x) else 0 for x in _column(vehicles, "skill_level", 0)], dtype=np.int64)
    v_provider = np.array([_text(x) for x in _column(vehicles, "provider_id", "")], dtype=object)
    v_id = np.array([_text(x) for x in vehicles["id"]], dtype=object)
    out = np.zeros((len(visits), len(vehicles)), dtype=bool)
    skills = _column(visits, "skills", ())
    levels = _column(visits, "min_skill_level", 0)
    providers = _column(visits, "provider_id", "")
    carers = _column(visits, "carer_id", "")
    for j in range(len(visits)):
        need = set(_tags(skills[j]))
        level = int(levels[j]) if pd.notna(levels[j]) else 0
        ok = np.array([need <= s for s in v_skills], dtype=bool) & (v_level >= level)
        if _text(providers[j]):
            ok &= v_provider == _text(providers[j])
        if _text(carers[j]):
            ok &= v_id == _text(carers[j])
        out[j] = ok
    return out


def _arrays(matrix_s: np.ndarray, visits: pd.DataFrame, vehicles: pd.DataFrame) -> dict[str, np.ndarray]:
    """The numbers the solvers use, as int64 arrays."""
    def ints(frame: pd.DataFrame, name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=np.int64) if len(frame) else np.zeros(0, dtype=np.int64)

    max_orders = np.array([int(x) if pd.notna(x) else 1_000_000 for x in _column(vehicles, "max_orders", None)],
                          dtype=np.int64)
    return {"M": np.asarray(matrix_s, dtype=np.int64), "loc": ints(visits, "loc"),
            "ws": ints(visits, "window_start_s"), "we": ints(visits, "window_end_s"),
            "svc": ints(visits, "service_s"), "base": ints(vehicles, "loc"),
            "a": ints(vehicles, "shift_start_s"), "b": ints(vehicles, "shift_end_s"), "cap": max_orders,
            "urgent": np.array([bool(x) if pd.notna(x) else False for x in _column(visits, "urgent", False)],
                               dtype=bool)}


def _timeline(x: dict[str, np.ndarray], k: int, route: Sequence[int]) -> tuple[list[tuple[int, ...]], int, int, bool]:
    """Earliest-start schedule of carer ``k`` visiting ``route`` (visit positions) from its shift start.

    Returns per visit (travel, arrival, start, departure), the return time, the time the carer leaves
    its base (as late as the first start allows) and whether every window, the shift end and the
    most-orders limit hold.
    """
    M, base = x["M"], int(x["base"][k])
    t, here, ok, legs = int(x["a"][k]), base, True, []
    for j in route:
        loc = int(x["loc"][j])
        travel = int(M[here, loc])
        arrival = t + travel
        start = max(arrival, int(x["ws"][j]))
        ok &= start <= int(x["we"][j])
        depart = start + int(x["svc"][j])
        legs.append((travel, arrival, start, depart))
        t, here = depart, loc
    back = t + int(M[here, base])
    ok &= back <= int(x["b"][k]) and len(route) <= int(x["cap"][k])
    leave = int(x["a"][k])
    if legs:
        leave = max(leave, legs[0][2] - legs[0][0])  # no waiting at the first stop: leave later
        legs[0] = (legs[0][0], leave + legs[0][0], legs[0][2], legs[0][3])
    return legs, back, leave, bool(ok)


def _alone(x: dict[str, np.ndarray], j: int, k: int) -> tuple[bool, bool, bool]:
    """Order ``j`` served alone by carer ``k``: (reachable, arrives within the window, back within the shift)."""
    M = x["M"]
    out_s, back_s = int(M[x["base"][k], x["loc"][j]]), int(M[x["loc"][j], x["base"][k]])
    if out_s >= UNREACHABLE_S or back_s >= UNREACHABLE_S:
        return False, False, False
    start = max(int(x["a"][k]) + out_s, int(x["ws"][j]))
    in_window = start <= int(x["we"][j])
    return True, in_window, in_window and start + int(x["svc"][j]) + back_s <= int(x["b"][k])


def _reason(x: dict[str, np.ndarray], j: int, ok: np.ndarray, used: np.ndarray, visits: pd.DataFrame,
            vehicles: pd.DataFrame) -> str:
    """Why order ``j`` is not in the plan, given its eligible carers ``ok`` and their orders ``used``."""
    carer = _text(visits["carer_id"].iloc[j]) if "carer_id" in visits else ""
    if not ok.any():
        if carer and carer not in {_text(v) for v in vehicles["id"]}:
            return REASON_CARER_ABSENT
        return REASON_CARER_UNFIT if carer else REASON_NO_SKILL
    checks = [(k, *_alone(x, j, k)) for k in np.flatnonzero(ok)]
    fits = [k for k, _, _, fine in checks if fine]
    if fits:
        return REASON_FULL if all(used[k] >= x["cap"][k] for k in fits) else REASON_BUSY
    if any(in_window for _, _, in_window, _ in checks):
        return REASON_SHIFT
    if any(reach for _, reach, _, _ in checks):
        return REASON_WINDOW
    return REASON_NO_ROAD


# ---------------------------------------------------------------------------------------------------
# solvers


def _check_inputs(matrix_s: np.ndarray, visits: pd.DataFrame, vehicles: pd.DataFrame) -> None:
    problems = []
    for frame, columns, what in ((visits, VISIT_COLUMNS, "工单表（visits）"),
                                 (vehicles, VEHICLE_COLUMNS, "护理员表（vehicles）")):
        missing = [c for c in columns if c not in frame]
        if missing:
            problems.append(f"{what}缺少列：{', '.join(missing)}")
    m = np.asarray(matrix_s)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        problems.append(f"行程时间矩阵应为方阵（收到形状 {m.shape}）")
    elif not problems:
        locs = np.concatenate([visits["loc"].to_numpy(dtype=np.int64), vehicles["loc"].to_numpy(dtype=np.int64)])
        if len(locs) and (locs.min() < 0 or locs.max() >= m.shape[0]):
            problems.append(f"位置 loc 应为行程时间矩阵的行号 0–{m.shape[0] - 1}")
        if m.size and (np.any(m < 0) or not np.all(np.isfinite(m))):
            problems.append("行程时间矩阵中有负数或非有限值（不可达请用 UNREACHABLE_S）")
    for name in ("id",):
        for frame, what in ((visits, "工单"), (vehicles, "护理员")):
            if name in frame and frame[name].astype(str).duplicated().any():
                dup = frame[name].astype(str)[frame[name].astype(str).duplicated()].iloc[0]
                problems.append(f"{what}编号重复（如 {dup}），每个编号只能出现一次")
    if problems:
        raise PlanningInputError("路线规划输入有误：" + "；".join(problems),
                                 "route planning inputs: " + "; ".join(problems))


def solve(matrix_s: np.ndarray, visits: pd.DataFrame, vehicles: pd.DataFrame, time_limit_s: float = 5.0, *,
          solver: str = "vroom", effort: int = 5, threads: int = 2) -> RoutePlan:
    """Plan routes on a plain travel-time matrix (the model is in the module docstring).

    Parameters
    ----------
    matrix_s
        Square travel-time matrix in whole seconds; ``loc`` columns index it; :data:`UNREACHABLE_S`
        (or more) where there is no way.
    visits, vehicles
        Orders and carers, columns :data:`VISIT_COLUMNS` and :data:`VEHICLE_COLUMNS` (times in seconds
        after midnight, ``service_s`` seconds).
    time_limit_s
        Longest VROOM search, seconds.
    solver
        "vroom" (VROOM via pyvroom) or "nearest" (the nearest-next-visit baseline, :func:`nearest_next`).
    effort
        VROOM exploration level, 0–5.
    threads
        VROOM threads.
    """
    _check_inputs(matrix_s, visits, vehicles)
    visits = visits.reset_index(drop=True)
    vehicles = vehicles.reset_index(drop=True)
    x = _arrays(matrix_s, visits, vehicles)
    ok = eligibility(visits, vehicles)
    t0 = time.perf_counter()
    if solver == "nearest":
        routes = _nearest_routes(x, ok)
    elif solver == "vroom":
        routes = _vroom_routes(x, ok, time_limit_s=time_limit_s, effort=effort, threads=threads)
    else:
        raise ValueError(f"solver must be 'vroom' or 'nearest', got {solver!r}")
    solve_s = time.perf_counter() - t0
    plan = _assemble(x, ok, visits, vehicles, routes, solver=solver, solve_s=solve_s)
    log.info("routes (%s): %d of %d visits routed by %d of %d carers, travel %.0f min, %.2f s",
             solver, plan.totals["routed"], len(visits), plan.totals["carers_used"], len(vehicles),
             plan.totals["travel_min"], solve_s)
    return plan


def nearest_next(matrix_s: np.ndarray, visits: pd.DataFrame, vehicles: pd.DataFrame) -> RoutePlan:
    """The nearest-next-visit baseline: ``solve(..., solver="nearest")``."""
    return solve(matrix_s, visits, vehicles, solver="nearest")


def _nearest_routes(x: dict[str, np.ndarray], ok: np.ndarray) -> list[list[int]]:
    """Greedy: the carer free earliest goes to its nearest feasible unvisited order, until none fits."""
    n_vis, n_veh = ok.shape
    M, loc = x["M"], x["loc"]
    routes: list[list[int]] = [[] for _ in range(n_veh)]
    here = x["base"].copy()
    now = x["a"].copy()
    active = np.ones(n_veh, dtype=bool)
    free = np.ones(n_vis, dtype=bool)
    while active.any() and free.any():
        k = int(np.flatnonzero(active)[np.argmin(now[active])])
        cand = np.flatnonzero(free & ok[:, k])
        if len(routes[k]) >= x["cap"][k] or not len(cand):
            active[k] = False
            continue
        travel = M[here[k], loc[cand]]
        start = np.maximum(now[k] + travel, x["ws"][cand])
        fine = (travel < UNREACHABLE_S) & (start <= x["we"][cand]) & (
            start + x["svc"][cand] + M[loc[cand], x["base"][k]] <= x["b"][k])
        if not fine.any():
            active[k] = False
            continue
        choice = np.flatnonzero(fine)
        best = choice[np.lexsort((x["we"][cand][choice], travel[choice]))[0]]  # nearest; then earliest window end
        j = int(cand[best])
        routes[k].append(j)
        free[j] = False
        now[k] = int(start[best] + x["svc"][j])
        here[k] = loc[j]
    return routes


def _vroom_routes(x: dict[str, np.ndarray], ok: np.ndarray, *, time_limit_s: float, effort: int,
                  threads: int) -> list[list[int]]:
    """VROOM on our matrix; eligibility as one VROOM skill per distinct set of eligible carers."""
    import vroom

    n_vis, n_veh = ok.shape
    routes: list[list[int]] = [[] for _ in range(n_veh)]
    todo = np.flatnonzero(ok.any(axis=1))
    if not len(todo) or not n_veh:
        return routes
    groups: dict[bytes, int] = {}
    job_skill = {}
    vehicle_skills: list[set[int]] = [set() for _ in range(n_veh)]
    for j in todo:
        key = np.packbits(ok[j]).tobytes()
        if key not in groups:
            groups[key] = len(groups)
            for k in np.flatnonzero(ok[j]):
                vehicle_skills[k].add(groups[key])
        job_skill[int(j)] = groups[key]
    matrix = np.minimum(x["M"], UNREACHABLE_S).astype(np.uint32)
    problem = vroom.Input()
    problem.set_durations_matrix("car", matrix)
    for j in todo:
        j = int(j)
        problem.add_job(vroom.Job(j, location=int(x["loc"][j]), default_service=int(x["svc"][j]),
                                  skills={job_skill[j]}, priority=URGENT_PRIORITY if x["urgent"][j] else 0,
                                  time_windows=[vroom.TimeWindow(int(x["ws"][j]), int(x["we"][j]))]))
    for k in range(n_veh):
        problem.add_vehicle(vroom.Vehicle(k, start=int(x["base"][k]), end=int(x["base"][k]),
                                          skills=vehicle_skills[k] or {len(groups) + 1},
                                          time_window=vroom.TimeWindow(int(x["a"][k]), int(x["b"][k])),
                                          max_tasks=int(min(x["cap"][k], len(todo)))))
    try:
        solution = problem.solve(exploration_level=int(effort), nb_threads=int(threads),
                                 timeout=dt.timedelta(seconds=float(time_limit_s)))
    except Exception as exc:  # VROOM's own exception types are not importable by a stable name
        raise PlanningInputError("路线求解失败：请检查工单的预约时间和护理员的工作时间",
                                 f"VROOM failed: {type(exc).__name__}: {exc}") from None
    steps = solution.routes
    if "id" not in steps:  # pyvroom drops the column when no job is routed
        return routes
    steps = steps[steps["type"] == "job"]
    for k, j in zip(steps["vehicle_id"].to_numpy(), steps["id"].to_numpy(), strict=True):
        routes[int(k)].append(int(j))
    return routes


def _assemble(x: dict[str, np.ndarray], ok: np.ndarray, visits: pd.DataFrame, vehicles: pd.DataFrame,
              routes: list[list[int]], *, solver: str, solve_s: float) -> RoutePlan:
    """Time the routes, list the left-out orders with reasons, add up."""
    vis_ids = visits["id"].astype(str).to_numpy()
    veh_ids = vehicles["id"].astype(str).to_numpy()
    stop_rows, route_rows = [], []
    routed = np.zeros(len(visits), dtype=bool)
    for k, route in enumerate(routes):
        legs, back, leave, _ = _timeline(x, k, route)
        last = int(x["loc"][route[-1]]) if route else int(x["base"][k])
        for seq, (j, (travel, arrival, start, depart)) in enumerate(zip(route, legs, strict=True), start=1):
            routed[j] = True
            stop_rows.append((veh_ids[k], seq, vis_ids[j], int(x["loc"][j]), arrival, start, depart, travel,
                              start - arrival, int(x["svc"][j]), int(x["ws"][j]), int(x["we"][j])))
        ret = int(x["M"][last, x["base"][k]]) if route else 0
        route_rows.append((veh_ids[k], int(x["base"][k]), len(route), leave if route else int(x["a"][k]),
                           back if route else int(x["a"][k]), sum(leg[0] for leg in legs) + ret, ret,
                           int(sum(x["svc"][j] for j in route)), int(sum(leg[2] - leg[1] for leg in legs))))
    stops = pd.DataFrame(stop_rows, columns=list(STOP_COLUMNS))
    table = pd.DataFrame(route_rows, columns=list(ROUTE_COLUMNS))
    used = np.array([len(r) for r in routes], dtype=np.int64)
    left = np.flatnonzero(~routed)
    unassigned = pd.DataFrame({"visit_id": vis_ids[left],
                               "reason": [_reason(x, int(j), ok[j], used, visits, vehicles) for j in left]},
                              columns=["visit_id", "reason"])
    totals = {"visits": len(visits), "routed": int(routed.sum()), "unassigned": len(left),
              "urgent_unassigned": int(x["urgent"][left].sum()) if len(left) else 0,
              "carers": len(vehicles), "carers_used": int((used > 0).sum()),
              "travel_min": float(table["travel_s"].sum()) / 60.0,
              "service_min": float(table["service_s"].sum()) / 60.0,
              "wait_min": float(table["wait_s"].sum()) / 60.0, "solver": solver, "solve_s": float(solve_s)}
    return RoutePlan(stops, table, unassigned, totals)


def check_plan(matrix_s: np.ndarray, visits: pd.DataFrame, vehicles: pd.DataFrame, plan: RoutePlan) -> list[str]:
    """Problems of a plan against its inputs (empty when feasible): windows, shifts, skills, limits, travel
    times, every order once and either routed or given a reason."""
    x = _arrays(matrix_s, visits.reset_index(drop=True), vehicles.reset_index(drop=True))
    ok = eligibility(visits.reset_index(drop=True), vehicles.reset_index(drop=True))
    vis_pos = {str(v): i for i, v in enumerate(visits["id"].astype(str))}
    veh_pos = {str(v): i for i, v in enumerate(vehicles["id"].astype(str))}
    problems = []
    seen = list(plan.stops["visit_id"].astype(str)) + list(plan.unassigned["visit_id"].astype(str))
    if sorted(seen) != sorted(vis_pos):
        problems.append("orders routed or left out do not match the orders given exactly once")
    for carer, group in plan.stops.groupby("carer_id", sort=False):
        k = veh_pos[str(carer)]
        route = [vis_pos[str(v)] for v in group.sort_values("seq")["visit_id"]]
        legs, back, _, fine = _timeline(x, k, route)
        if not fine:
            problems.append(f"carer {carer}: a window, the shift end or the orders limit is broken")
        bad = [vis_ids for vis_ids, j in zip(group["visit_id"], route, strict=True) if not ok[j, k]]
        if bad:
            problems.append(f"carer {carer}: not eligible for {bad}")
        got = group.sort_values("seq")[["travel_s", "start_s"]].to_numpy()
        if len(legs) and not np.array_equal(got, np.array([(leg[0], leg[2]) for leg in legs])):
            problems.append(f"carer {carer}: travel or start times differ from the schedule")
    bad_reasons = set(plan.unassigned["reason"]) - set(REASONS)
    if bad_reasons:
        problems.append(f"unknown reasons {sorted(bad_reasons)}")
    return problems


# ---------------------------------------------------------------------------------------------------
# from orders and carers tables to a plan


def _minutes_of_day(value: Any) -> float:
    """Minutes after midnight of a shift bound: a number, "08:30" or "8:30"; NaN when unreadable."""
    if value is None or value is pd.NA:
        return math.nan
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = str(value).strip().replace("：", ":")
    try:
        h, m = text.split(":")[:2]
        return int(h) * 60 + int(m)
    except ValueError:
        return math.nan


def order_needs(orders: pd.DataFrame, items: pd.DataFrame | None, settings: Settings) -> pd.DataFrame:
    """Per order the skills, minimum skill level and service minutes its service-list items need.

    An order's own ``skills``, ``min_skill_level`` or ``service_min`` columns win; otherwise from
    ``items`` (``code``, ``name``, ``skill``, ``min_skill_level``, ``duration_min``) by the order's
    ``item_codes`` (codes or names): the union of skills, the highest minimum level and the sum of
    durations; ``settings.route_service_min_default`` where no item gives a duration.
    """
    lookup: dict[str, dict[str, Any]] = {}
    if items is not None and len(items):
        for row in items.to_dict("records"):
            for key in (_text(row.get("code")), _text(row.get("name"))):
                if key:
                    lookup.setdefault(key, row)
    skills, levels, minutes = [], [], []
    unknown = 0
    for row in orders.to_dict("records"):
        found = []
        for code in _tags(row.get("item_codes")):
            if code in lookup:
                found.append(lookup[code])
            else:
                unknown += 1
        need = tuple(dict.fromkeys(_text(r.get("skill")) for r in found if _text(r.get("skill"))))
        level = max([int(r["min_skill_level"]) for r in found if pd.notna(r.get("min_skill_level"))] or [0])
        dur = [float(r["duration_min"]) for r in found if pd.notna(r.get("duration_min"))]
        skills.append(_tags(row["skills"]) if "skills" in row and _tags(row["skills"]) else need)
        levels.append(int(row["min_skill_level"]) if pd.notna(row.get("min_skill_level")) else level)
        minutes.append(float(row["service_min"]) if pd.notna(row.get("service_min"))
                       else (sum(dur) if dur else float(settings.route_service_min_default)))
    if unknown:
        log.warning("%d service items of the orders are not in the service list: no skill required for them", unknown)
    return pd.DataFrame({"skills": skills, "min_skill_level": levels, "service_min": minutes}, index=orders.index)


def _local_times(values: pd.Series) -> pd.Series:
    """Date-times as naive local times (time-zone-aware ones keep their wall-clock time); NaT when unreadable."""
    times = pd.to_datetime(values, errors="coerce")
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_localize(None)
    return times


def _points(frame: pd.DataFrame) -> np.ndarray:
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype="float64") if "lon" in frame else \
        np.full(len(frame), np.nan)
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype="float64") if "lat" in frame else \
        np.full(len(frame), np.nan)
    return np.column_stack([lon, lat])


@dataclass(frozen=True)
class RouteProblem:
    """A day's orders and carers made ready for :func:`solve` (see :func:`route_problem`).

    Attributes
    ----------
    matrix_s
        Travel seconds between the distinct points (:func:`travel_matrix_s`).
    points
        ``(n, 2)`` lon/lat (EPSG:4326) of each matrix row.
    visits, vehicles
        :func:`solve`'s tables (orders that can be planned; carers with a base on the network and a shift).
    early
        ``visit_id`` and ``reason`` of the orders left out before solving (no point, other day …).
    urgent_ids
        Ids of all urgent (紧急) orders.
    day, mode, notes
        The day planned, the network mode, notes in Chinese on the inputs.
    """

    matrix_s: np.ndarray
    points: np.ndarray
    visits: pd.DataFrame
    vehicles: pd.DataFrame
    early: pd.DataFrame
    urgent_ids: frozenset[str]
    day: dt.date
    mode: str
    notes: tuple[str, ...]


def route_problem(region, orders: pd.DataFrame, carers: pd.DataFrame, settings: Settings, *,
                  items: pd.DataFrame | None = None, mode: str | None = None, day: dt.date | None = None,
                  keep_assigned: bool = True) -> RouteProblem:
    """Orders and carers to a travel-time matrix and :func:`solve`'s tables (parameters as :func:`plan_routes`)."""
    from planning.network import snap_points

    mode = mode or settings.route_mode
    missing = [f"工单缺少列 {c}" for c in ("id", "window_start", "window_end") if c not in orders]
    missing += [f"护理员缺少列 {c}" for c in ("id", "shift_start_min", "shift_end_min") if c not in carers]
    if missing:
        raise PlanningInputError("路线规划输入有误：" + "；".join(missing), "route planning inputs: missing columns")
    orders = orders.reset_index(drop=True)
    carers = carers.reset_index(drop=True)
    if items is None and "service_items" in getattr(region, "layers", {}):
        items = pd.DataFrame(region.layers["service_items"].drop(columns="geometry", errors="ignore"))
    needs = order_needs(orders, items, settings)
    start = _local_times(orders["window_start"])
    end = _local_times(orders["window_end"])
    if day is not None:
        day = pd.Timestamp(day).date()
    else:
        dates = start.dropna().dt.date
        day = dates.mode().iloc[0] if len(dates) else dt.date.today()
    midnight = pd.Timestamp(day)
    ws = ((start - midnight).dt.total_seconds()).to_numpy(dtype="float64")
    we = ((end - midnight).dt.total_seconds()).to_numpy(dtype="float64")

    o_xy = _points(orders)
    key = "pid" if "pid" in region.elders else "id"  # the elders layer's pseudonym column
    if "elder_id" in orders and np.isnan(o_xy).any() and len(region.elders) and key in region.elders:
        elders = region.elders.to_crs(4326)
        where = dict(zip(elders[key].astype(str), zip(elders.geometry.x, elders.geometry.y, strict=True),
                         strict=True))
        for i in np.flatnonzero(np.isnan(o_xy).any(axis=1)):
            o_xy[i] = where.get(_text(orders["elder_id"].iloc[i]), (np.nan, np.nan))
    c_xy = _points(carers)
    notes: list[str] = []
    reasons: dict[int, str] = {}
    for i in range(len(orders)):
        if np.isnan(o_xy[i]).any():
            reasons[i] = REASON_NO_POINT
        elif np.isnan(ws[i]) or np.isnan(we[i]) or start.iloc[i].date() != day:
            reasons[i] = REASON_OTHER_DAY
        elif we[i] < ws[i]:
            reasons[i] = REASON_BAD_WINDOW
    shift_a = np.array([_minutes_of_day(v) for v in carers["shift_start_min"]], dtype="float64") * 60
    shift_b = np.array([_minutes_of_day(v) for v in carers["shift_end_min"]], dtype="float64") * 60
    usable = ~np.isnan(c_xy).any(axis=1) & ~np.isnan(shift_a) & ~np.isnan(shift_b) & (shift_b > shift_a)
    if (~usable).any():
        notes.append(f"{int((~usable).sum())} 名护理员缺少驻地坐标或工作时间，未参与排班")

    # one matrix row per distinct point: stops at the same address are 0 apart
    o_rows = [i for i in range(len(orders)) if i not in reasons]
    pts = np.vstack([c_xy[usable], o_xy[o_rows]])
    uniq, inverse = np.unique(pts, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    network = routing_network(region, mode, settings)
    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(uniq[:, 0], uniq[:, 1]), crs=4326)
    snap = snap_points(network, gdf, settings=settings)
    matrix = travel_matrix_s(network, snap, cutoff_min=settings.route_matrix_cutoff_min)
    n_base = int(usable.sum())
    c_loc = inverse[:n_base]
    o_loc = dict(zip(o_rows, inverse[n_base:], strict=True))
    base_snapped = snap.snapped[c_loc]
    if (~base_snapped).any():
        notes.append(f"{int((~base_snapped).sum())} 名护理员的驻地离道路过远，无法接入路网，未参与排班")
    for i in o_rows:
        if not snap.snapped[o_loc[i]]:
            reasons[i] = REASON_NOT_SNAPPED
    o_rows = [i for i in o_rows if i not in reasons]

    veh_idx = np.flatnonzero(usable)[base_snapped]

    def pick(frame: pd.DataFrame, name: str, default: Any, rows: Any) -> list:
        return [_column(frame, name, default)[i] for i in rows]

    vehicles = pd.DataFrame({
        "id": [_text(v) for v in pick(carers, "id", "", veh_idx)], "loc": c_loc[base_snapped].astype(np.int64),
        "shift_start_s": shift_a[veh_idx].astype(np.int64), "shift_end_s": shift_b[veh_idx].astype(np.int64),
        "skills": [_tags(v) for v in pick(carers, "skills", (), veh_idx)],
        "skill_level": [int(v) if pd.notna(v) else 0 for v in pick(carers, "skill_level", 0, veh_idx)],
        "max_orders": pd.array([int(v) if pd.notna(v) else None for v in pick(carers, "max_orders_day", None, veh_idx)],
                               dtype="Int64"),
        "provider_id": [_text(v) for v in pick(carers, "provider_id", "", veh_idx)],
    })
    urgency = [_text(u) for u in _column(orders, "urgency", "")]
    visits = pd.DataFrame({
        "id": [_text(v) for v in pick(orders, "id", "", o_rows)],
        "loc": np.array([o_loc[i] for i in o_rows], dtype=np.int64),
        "window_start_s": ws[o_rows].astype(np.int64), "window_end_s": we[o_rows].astype(np.int64),
        "service_s": np.rint(needs["service_min"].to_numpy(dtype="float64")[o_rows] * 60).astype(np.int64),
        "skills": [needs["skills"].iloc[i] for i in o_rows],
        "min_skill_level": np.array([needs["min_skill_level"].iloc[i] for i in o_rows], dtype=np.int64),
        "urgent": np.array([urgency[i] == URGENT for i in o_rows], dtype=bool),
        "provider_id": [_text(v) for v in pick(orders, "provider_id", "", o_rows)],
        "carer_id": [_text(v) if keep_assigned else "" for v in pick(orders, "carer_id", "", o_rows)],
    })
    early = pd.DataFrame({"visit_id": [_text(orders["id"].iloc[i]) for i in reasons],
                          "reason": list(reasons.values())}, columns=["visit_id", "reason"])
    urgent_ids = frozenset(_text(orders["id"].iloc[i]) for i in range(len(orders)) if urgency[i] == URGENT)
    if reasons:
        log.info("routes: %d of %d orders cannot be planned before solving", len(reasons), len(orders))
    return RouteProblem(matrix, uniq, visits, vehicles, early, urgent_ids, day, mode, tuple(notes))


def solve_problem(problem: RouteProblem, settings: Settings, *, solver: str = "vroom",
                  time_limit_s: float | None = None, visit_ids: Sequence[str] | None = None) -> RoutePlan:
    """:func:`solve` a prepared problem and give the plan its day, points and the orders left out before.

    ``visit_ids`` restricts the plan to those orders (the benchmark solves the baseline's orders again).
    """
    visits = problem.visits
    if visit_ids is not None:
        visits = visits[visits["id"].isin(set(visit_ids))].reset_index(drop=True)
    limit = settings.route_solver_time_limit_s if time_limit_s is None else time_limit_s
    plan = solve(problem.matrix_s, visits, problem.vehicles, limit, solver=solver,
                 effort=solver_effort(len(visits), settings))
    early = problem.early if visit_ids is None else problem.early.iloc[0:0]
    unassigned = pd.concat([early, plan.unassigned], ignore_index=True) if len(early) else plan.unassigned
    p = problem.points
    stops = plan.stops.assign(lon=p[plan.stops["loc"].to_numpy(dtype=np.int64), 0],
                              lat=p[plan.stops["loc"].to_numpy(dtype=np.int64), 1])
    routes = plan.routes.assign(lon=p[plan.routes["loc"].to_numpy(dtype=np.int64), 0],
                                lat=p[plan.routes["loc"].to_numpy(dtype=np.int64), 1])
    totals = dict(plan.totals, visits=len(visits) + len(early), unassigned=len(unassigned),
                  urgent_unassigned=len(problem.urgent_ids & set(unassigned["visit_id"])), mode=problem.mode)
    return RoutePlan(stops, routes, unassigned, totals, day=problem.day, notes=problem.notes)


LARGE_DAY_VISITS = 300
"""Above this many orders VROOM runs at exploration level 0: its start heuristics are not interrupted by the
time limit, and at 1,000 orders level 5 alone takes longer than 10 s (benchmarks/bench_routes.py)."""


def solver_effort(n_visits: int, settings: Settings) -> int:
    """VROOM exploration level for a day of ``n_visits`` orders: the setting, or 0 above :data:`LARGE_DAY_VISITS`."""
    return settings.route_solver_effort if n_visits <= LARGE_DAY_VISITS else 0


def plan_routes(region, orders: pd.DataFrame, carers: pd.DataFrame, settings: Settings, *,
                items: pd.DataFrame | None = None, mode: str | None = None, day: dt.date | None = None,
                keep_assigned: bool = True, time_limit_s: float | None = None, solver: str = "vroom") -> RoutePlan:
    """Plan a day's routes of carers on the region's road network.

    Parameters
    ----------
    region
        A loaded region (:class:`data.store.Region`): its road network; its ``elders`` layer gives the
        point of an order without ``lon``/``lat`` by ``elder_id``; its ``service_items`` layer is the
        service list when ``items`` is not given.
    orders
        ``id``, ``lon``, ``lat`` (EPSG:4326), ``window_start``, ``window_end`` (local date-times, the
        window for the start of service), ``item_codes``; optional ``urgency`` (紧急 first),
        ``provider_id``, ``carer_id`` (kept when ``keep_assigned``), ``elder_id``, and ``skills``,
        ``min_skill_level``, ``service_min`` overriding the service list.
    carers
        ``id``, ``lon``, ``lat`` (base), ``shift_start_min``, ``shift_end_min`` (minutes after midnight
        or "08:00"), ``skills``, ``skill_level``; optional ``max_orders_day``, ``provider_id``.
    settings
        ``route_mode``, ``route_service_min_default``, ``route_solver_time_limit_s``,
        ``route_solver_effort``, ``route_matrix_cutoff_min`` and the routing settings of the network.
    items
        The service list (``code``, ``name``, ``skill``, ``min_skill_level``, ``duration_min``).
    mode
        "drive" or "walk" (default ``settings.route_mode``).
    day
        The day planned (default: the most common date of the orders' window starts); orders of other
        days are left out with a reason.
    keep_assigned
        True: an order with a ``carer_id`` stays with that carer; False: any eligible carer.
    time_limit_s
        Longest solver search (default ``settings.route_solver_time_limit_s``).
    solver
        "vroom", or "nearest" for the baseline.
    """
    problem = route_problem(region, orders, carers, settings, items=items, mode=mode, day=day,
                            keep_assigned=keep_assigned)
    return solve_problem(problem, settings, solver=solver, time_limit_s=time_limit_s)


# ---------------------------------------------------------------------------------------------------
# outputs


def hhmm(seconds: float) -> str:
    """Seconds after midnight as "HH:MM" (rounded to the minute; past midnight as 24:10 etc.)."""
    minutes = int(round(float(seconds) / 60.0))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


PLAN_HEADERS: dict[str, str] = {
    "carer_id": "护理员", "seq": "顺序", "visit_id": "工单", "window": "预约时间", "arrival": "到达",
    "start": "开始服务", "departure": "离开", "travel_min": "车程（分钟）", "wait_min": "等待（分钟）",
    "service_min": "服务（分钟）",
}


def plan_frame(plan: RoutePlan) -> pd.DataFrame:
    """The plan as a table for the workbook, Chinese headers (:data:`PLAN_HEADERS`): per carer its
    visits in order, then a row 返回驻地 with the last leg, so 车程 adds up to the carer's travel."""
    rows = []
    stops = plan.stops
    for r in plan.routes.itertuples(index=False):
        if r.visits == 0:
            continue
        mine = stops[stops["carer_id"] == r.carer_id].sort_values("seq")
        for s in mine.itertuples(index=False):
            rows.append({"carer_id": r.carer_id, "seq": int(s.seq), "visit_id": s.visit_id,
                         "window": f"{hhmm(s.window_start_s)}–{hhmm(s.window_end_s)}", "arrival": hhmm(s.arrival_s),
                         "start": hhmm(s.start_s), "departure": hhmm(s.departure_s),
                         "travel_min": round(s.travel_s / 60.0, 1), "wait_min": round(s.wait_s / 60.0, 1),
                         "service_min": round(s.service_s / 60.0, 1)})
        rows.append({"carer_id": r.carer_id, "seq": int(r.visits) + 1, "visit_id": "（返回驻地）", "window": "",
                     "arrival": hhmm(r.return_s), "start": "", "departure": "",
                     "travel_min": round(r.return_travel_s / 60.0, 1), "wait_min": 0.0, "service_min": 0.0})
    frame = pd.DataFrame(rows, columns=list(PLAN_HEADERS))
    return frame.rename(columns=PLAN_HEADERS)


def routes_frame(plan: RoutePlan) -> pd.DataFrame:
    """One row per carer with visits: 护理员、工单数、出发、返回、车程、服务、等待 (minutes)."""
    r = plan.routes[plan.routes["visits"] > 0]
    return pd.DataFrame({"护理员": r["carer_id"].to_numpy(), "工单数": r["visits"].to_numpy(),
                         "出发": [hhmm(v) for v in r["leave_s"]], "返回": [hhmm(v) for v in r["return_s"]],
                         "车程（分钟）": (r["travel_s"] / 60.0).round(1).to_numpy(),
                         "服务（分钟）": (r["service_s"] / 60.0).round(1).to_numpy(),
                         "等待（分钟）": (r["wait_s"] / 60.0).round(1).to_numpy()})


def unassigned_frame(plan: RoutePlan) -> pd.DataFrame:
    """The orders left out: 工单、原因."""
    return pd.DataFrame({"工单": plan.unassigned["visit_id"].to_numpy(), "原因": plan.unassigned["reason"].to_numpy()})


def road_legs(network, from_lonlat: np.ndarray, to_lonlat: np.ndarray, *, settings: Settings,
              chunk_size: int = 64) -> list[tuple[list[list[float]], float]]:
    """The road path of each leg ``from_lonlat[i] → to_lonlat[i]`` (EPSG:4326) and its minutes.

    The path is the one :func:`travel_matrix_s` times: an access walk from the point to its snapped
    spot, the part of its edge to a node, the edges of the shortest path (scipy Dijkstra with
    predecessors, from a virtual node per distinct start as in :mod:`planning.catchments`), the part of
    the last edge and the access walk to the point; or straight along a shared edge. Returns per leg
    ``(coordinates [[lon, lat], …], minutes)``; a leg with an unsnapped end, or with no way within
    ``settings.route_matrix_cutoff_min``, is the straight segment with ``inf`` minutes; a leg between
    one point and itself is that point with 0 minutes.
    """
    import shapely
    from scipy.sparse.csgraph import dijkstra
    from shapely.ops import substring

    from geo.crs import transformer
    from planning.network import min_csr, snap_points

    a_xy, b_xy = np.asarray(from_lonlat, dtype="float64"), np.asarray(to_lonlat, dtype="float64")
    uniq, inv = np.unique(np.vstack([a_xy, b_xy]), axis=0, return_inverse=True)
    inv = np.asarray(inv).reshape(-1)
    ia, ib = inv[: len(a_xy)], inv[len(a_xy):]
    snap = snap_points(network, gpd.GeoDataFrame(geometry=gpd.points_from_xy(uniq[:, 0], uniq[:, 1]), crs=4326),
                       settings=settings)
    to_work = transformer("EPSG:4326", network.crs)
    to_lonlat = transformer(network.crs, "EPSG:4326")
    wx, wy = to_work.transform(uniq[:, 0], uniq[:, 1])
    edges = network.edges
    u_all, v_all = edges["u_idx"].to_numpy(), edges["v_idx"].to_numpy()
    T_all, tw_all = edges["time_min"].to_numpy(), edges["two_way"].to_numpy(dtype=bool)
    geoms = edges.geometry.values
    # the fastest edge between two nodes, and whether it is used against its drawing direction
    hops = pd.DataFrame({"a": np.concatenate([u_all, v_all[tw_all]]), "b": np.concatenate([v_all, u_all[tw_all]]),
                         "time": np.concatenate([T_all, T_all[tw_all]]),
                         "row": np.concatenate([np.arange(len(edges)), np.flatnonzero(tw_all)]),
                         "back": np.r_[np.zeros(len(edges), bool), np.ones(int(tw_all.sum()), bool)]})
    hops = hops.sort_values("time", kind="stable").drop_duplicates(["a", "b"])
    hop = {(a, b): (r, bk) for a, b, r, bk in zip(hops["a"], hops["b"], hops["row"], hops["back"], strict=True)}

    def part(e: int, t0: float, t1: float) -> list[tuple[float, float]]:
        return list(substring(geoms[e], t0, t1, normalized=True).coords) if t0 != t1 else \
            list(shapely.line_interpolate_point(geoms[e], t0, normalized=True).coords)

    n = network.n_nodes
    cutoff = float(settings.route_matrix_cutoff_min)
    out: list[tuple[list[list[float]], float] | None] = [None] * len(a_xy)
    starts = np.unique(ia[snap.snapped[ia] & snap.snapped[ib] & (ia != ib)])
    for lo in range(0, len(starts), chunk_size):
        chunk = starts[lo:lo + chunk_size]
        # a virtual node per start, joined to its edge's ends as in planning.catchments (nothing enters it)
        e_a, t_a, acc = snap.edge[chunk], snap.t[chunk], snap.access_min[chunk]
        back = tw_all[e_a] | (t_a <= 0.0)
        virtual = n + np.arange(len(chunk))
        base = network.graph.tocoo()
        graph = min_csr(np.concatenate([base.row, virtual, virtual[back]]),
                        np.concatenate([base.col, v_all[e_a], u_all[e_a][back]]),
                        np.concatenate([base.data, acc + (1 - t_a) * T_all[e_a], (acc + t_a * T_all[e_a])[back]]),
                        n + len(chunk))
        dist, pred = dijkstra(graph, directed=True, indices=virtual, return_predecessors=True, limit=cutoff)
        row_of = {int(s): r for r, s in enumerate(chunk)}
        for i in np.flatnonzero(np.isin(ia, chunk) & snap.snapped[ib] & (ia != ib)):
            a, b = int(ia[i]), int(ib[i])
            r = row_of[a]
            e, t = int(snap.edge[b]), float(snap.t[b])
            ea, ta = int(snap.edge[a]), float(snap.t[a])
            via_u = dist[r, u_all[e]] + t * T_all[e]
            via_v = dist[r, v_all[e]] + (1 - t) * T_all[e] if (tw_all[e] or t >= 1.0) else np.inf
            direct = snap.access_min[a] + abs(t - ta) * T_all[e] if ea == e and (t >= ta or tw_all[e]) else np.inf
            best = min(via_u, via_v, direct)
            minutes = float(best + snap.access_min[b])
            if not np.isfinite(best) or minutes > cutoff:
                continue
            pts = [(wx[a], wy[a])]
            if direct <= min(via_u, via_v):
                pts += part(e, ta, t)
            else:
                node = int(u_all[e] if via_u <= via_v else v_all[e])
                chain = [node]
                while pred[r, chain[-1]] >= 0 and pred[r, chain[-1]] < n:
                    chain.append(int(pred[r, chain[-1]]))
                chain.reverse()
                first = chain[0]
                pts += part(ea, ta, 0.0 if first == u_all[ea] and (tw_all[ea] or ta <= 0.0) else 1.0)
                for x, y in zip(chain[:-1], chain[1:], strict=True):
                    k, back = hop[(x, y)]
                    line = list(geoms[k].coords)
                    pts += line[::-1] if back else line
                pts += part(e, 0.0 if node == u_all[e] else 1.0, t)
            pts.append((wx[b], wy[b]))
            xy = np.asarray(pts)
            lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
            coords = [[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]
            coords[0], coords[-1] = [float(uniq[a, 0]), float(uniq[a, 1])], [float(uniq[b, 0]), float(uniq[b, 1])]
            out[i] = (coords, minutes)
    for i in range(len(a_xy)):
        if out[i] is None:
            same = ia[i] == ib[i]
            line = [[float(a_xy[i, 0]), float(a_xy[i, 1])]] + ([] if same else [[float(b_xy[i, 0]), float(b_xy[i, 1])]])
            out[i] = (line, 0.0 if same else math.inf)
    return out  # type: ignore[return-value]


def plan_geojson(plan: RoutePlan, *, region=None, network=None, settings: Settings | None = None) -> dict[str, Any]:
    """The plan as a GeoJSON FeatureCollection (EPSG:4326, [lon, lat]) for the desk's map.

    Per carer with visits one LineString base → visits → base with ``kind`` "route", ``carer_id``,
    ``visits``, ``travel_min``, ``leave``, ``return``: along the roads (:func:`road_legs`) when a
    ``region`` (its network of the plan's mode) or a ``network`` is given with ``settings``, else
    straight legs between the stops. One Point per visit (``kind`` "visit", ``carer_id``, ``seq``,
    ``visit_id``, ``arrival``, ``start``, ``departure``) and per used base (``kind`` "base"). For staff
    only: the points are homes.
    """
    if "lon" not in plan.stops or "lon" not in plan.routes:
        raise ValueError("plan_geojson needs a plan from plan_routes (stops with lon/lat)")
    if region is not None and network is None:
        if settings is None:
            raise ValueError("plan_geojson(region=...) needs settings")
        network = routing_network(region, plan.totals.get("mode", settings.route_mode), settings)
    routes = plan.routes[plan.routes["visits"] > 0]
    paths = []
    for r in routes.itertuples(index=False):
        mine = plan.stops[plan.stops["carer_id"] == r.carer_id].sort_values("seq")
        base = [float(r.lon), float(r.lat)]
        paths.append([base] + [[float(a), float(b)] for a, b in zip(mine["lon"], mine["lat"], strict=True)] + [base])
    if network is not None and paths:
        if settings is None:
            raise ValueError("plan_geojson(network=...) needs settings")
        a = np.array([q for path in paths for q in path[:-1]], dtype="float64")
        b = np.array([q for path in paths for q in path[1:]], dtype="float64")
        legs = iter(road_legs(network, a, b, settings=settings))
        lines = []
        for path in paths:
            line: list[list[float]] = []
            for _ in range(len(path) - 1):
                coords, _minutes = next(legs)
                line += coords[1:] if line and coords and coords[0] == line[-1] else coords
            lines.append(line)
    else:
        lines = paths
    features = []
    for r, path, line in zip(routes.itertuples(index=False), paths, lines, strict=True):
        mine = plan.stops[plan.stops["carer_id"] == r.carer_id].sort_values("seq")
        features.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": line},
                         "properties": {"kind": "route", "carer_id": str(r.carer_id), "visits": int(r.visits),
                                        "travel_min": round(float(r.travel_s) / 60.0, 1), "leave": hhmm(r.leave_s),
                                        "return": hhmm(r.return_s), "on_roads": network is not None}})
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": path[0]},
                         "properties": {"kind": "base", "carer_id": str(r.carer_id)}})
        for s in mine.itertuples(index=False):
            features.append({"type": "Feature",
                             "geometry": {"type": "Point", "coordinates": [float(s.lon), float(s.lat)]},
                             "properties": {"kind": "visit", "carer_id": str(r.carer_id), "seq": int(s.seq),
                                            "visit_id": str(s.visit_id), "arrival": hhmm(s.arrival_s),
                                            "start": hhmm(s.start_s), "departure": hhmm(s.departure_s)}})
    collection = {"type": "FeatureCollection", "features": features}
    json.dumps(collection)  # plain JSON types only (no numpy scalars)
    return collection
