"""Smoke test of the routes benchmark: its quick run prints the table, meets the targets and checks every plan."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_routes as bench  # noqa: E402


def test_quick_run_meets_the_targets(capsys) -> None:
    results = bench.main(["--quick"])
    out = capsys.readouterr().out
    assert [r["visits"] for r in results] == [50], out
    r = results[0]
    assert r["feasible"] and r["accounted"] and r["problems"] == {"ours": [], "base": [], "again": []}, out
    assert r["carers"] == 13 and r["early"] == 0, out
    assert r["ours"]["routed"] >= r["base"]["routed"] > 0, out
    assert r["again"]["routed"] == r["base"]["routed"] and not r["missed_kept"] and not r["missed_again"], out
    assert 0 < r["ratio"] <= bench.TRAVEL_TARGET, out
    assert "SYNTHETIC" in out and "solver on baseline's orders" in out and "FAIL" not in out, out
    assert out.count("PASS") == 3, out


def test_synthetic_day_is_seeded_and_labelled() -> None:
    homes = bench.np.column_stack([24.94 + bench.np.arange(300) * 1e-5, 60.17 + bench.np.arange(300) * 1e-5])
    a_orders, a_carers = bench.synthesise_day(homes, 40)
    b_orders, b_carers = bench.synthesise_day(homes, 40)
    assert a_orders.equals(b_orders) and a_carers.equals(b_carers)
    assert a_orders["synthetic"].all() and a_carers["synthetic"].all() and len(a_carers) == 10
    assert set(a_orders["urgency"]) <= {"紧急", "普通"}
    assert (a_orders["window_end"] > a_orders["window_start"]).all()
