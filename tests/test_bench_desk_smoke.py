"""Smoke test of the desk load benchmark: a short quick run prints its table, with no error and every order stored;
the call stream is a seeded Poisson process; the log check catches a lost or doubled write."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import Point

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_desk as bench  # noqa: E402

from data import store  # noqa: E402
from desk import orders_db as odb  # noqa: E402


def test_quick_run_takes_every_call_and_stores_every_order(capsys) -> None:
    rows = bench.main(["--quick", "--minutes", "0.05", "--operators", "4"])
    out = capsys.readouterr().out
    assert len(rows) == 1, out
    r = rows[0]
    assert r["store"] == "files" and r["size"] == "demo" and r["operators"] == 4, out
    assert r["calls"] > 5 and r["answered"] == r["calls"], out  # every call got its ranked list
    assert r["errors"] == 0, (r["error_samples"], out)
    assert r["orders_in"] == r["orders_stored"] == r["create_events"] == r["calls"], out
    assert r["events_mismatch"] == r["state_mismatch"] == r["seq_gaps"] == r["stray_orders"] == 0, out
    assert r["history_kept"] > 1000 and r["dispatched"] > 0, out
    assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["max_ms"] and r["cpu_per_call_s"] > 0, out
    assert "SYNTHETIC" in out and "p95 ms" in out and "calls a minute" in out, out
    assert "PASS   files demo: errors 0" in out and "PASS   files demo: orders in" in out, out
    assert out.count("PASS") + out.count("MISSED") == 3, out  # p95 depends on the machine: PASS or MISSED


def test_calls_are_a_seeded_poisson_stream() -> None:
    homes = np.column_stack([24.94 + np.arange(50) * 1e-4, 60.17 + np.arange(50) * 1e-4])
    calls = bench.synthesise_calls(homes, rate_per_min=200, minutes=5, dispatch_share=0.7, accept_share=0.5)
    again = bench.synthesise_calls(homes, rate_per_min=200, minutes=5, dispatch_share=0.7, accept_share=0.5)
    assert calls == again
    assert abs(len(calls) - 1000) < 4 * np.sqrt(1000)  # Poisson(1000): within four standard deviations
    at = np.array([c.at_s for c in calls])
    assert (np.diff(at) > 0).all() and 0 < at[0] and at[-1] < 300
    gaps = np.diff(np.concatenate([[0.0], at]))
    assert abs(gaps.mean() - 0.3) < 0.03 and abs(gaps.std() / gaps.mean() - 1) < 0.15  # exponential: cv 1
    assert all(c.start.date() == bench.DAY and c.end > c.start for c in calls)
    urgent = [c for c in calls if c.codes[0] in {"SC0401", "SC0402"}]
    assert urgent and all(c.end - c.start == dt.timedelta(hours=1) for c in urgent)
    assert 0.6 < np.mean([c.dispatch for c in calls]) < 0.8


def test_log_check_sees_a_lost_and_a_doubled_write(tmp_path: Path) -> None:
    layer = gpd.GeoDataFrame({"id": ["P1"]}, geometry=[Point(24.94, 60.17)], crs=4326)
    store.save_region(bench.REGION, {"facilities": layer}, {}, root=tmp_path)
    t0 = dt.datetime(2026, 12, 2, 8)
    for oid in ("A", "B"):
        odb.create_order(bench.REGION, {"id": oid, "item_codes": ["X"], "window_start": "2026-12-02 09:00",
                                        "window_end": "2026-12-02 10:00"}, actor="s", root=tmp_path, now=t0)
    odb.dispatch(bench.REGION, "A", "P1", "C1", actor="s", root=tmp_path, now=t0)
    ok = [bench.Outcome(0, "A", events=["创建", "已派单"]), bench.Outcome(1, "B", events=["创建"])]
    good = bench.check_log(str(tmp_path), ok, set())
    assert (good["orders_in"], good["orders_stored"], good["create_events"], good["events_mismatch"],
            good["state_mismatch"], good["seq_gaps"], good["stray_orders"]) == (2, 2, 2, 0, 0, 0, 0)
    lost = [*ok, bench.Outcome(2, "C", events=["创建"])]  # the desk said C was created: the log has no C
    assert bench.check_log(str(tmp_path), lost, set())["orders_in"] == 3
    assert not bench.check_targets({**bench.check_log(str(tmp_path), lost, set()), "store": "files", "size": "t",
                                    "p95_ms": 1.0, "answered": 3, "calls": 3, "errors": 0, "conflicts": 0})[2][0]
    doubled = [bench.Outcome(0, "A", events=["创建"]), ok[1]]  # A's dispatch not reported by the desk
    assert bench.check_log(str(tmp_path), doubled, set())["events_mismatch"] == 1
    unknown = [ok[0]]  # B is in the log but no call created it
    assert bench.check_log(str(tmp_path), unknown, set())["stray_orders"] == 1
    assert bench.check_log(str(tmp_path), ok, {"B"})["history_kept"] == 1
