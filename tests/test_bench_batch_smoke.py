"""Smoke test of the province benchmark (benchmarks/bench_batch.py): its ``--quick`` run, one worker, a real
LocalCluster; the numbers of its table agree with each other and with what was generated."""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_batch as bench  # noqa: E402


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> tuple[dict, dict, str]:
    out = tmp_path_factory.mktemp("bench_batch") / "report.json"
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        report = bench.main(["--quick", "--workers", "1", "--json", str(out)])
    return report, json.loads(out.read_text()), text.getvalue()


def test_quick_run_counts_every_placed_elder_once(quick):
    report, _, _ = quick
    build = report["build"]
    assert report["synthetic"] is True
    assert (report["cols"], report["rows"], report["counties"]) == (2, 2, 4)
    assert build["elders_generated"] == bench.QUICK_ELDERS
    [run] = report["runs"]
    assert run["workers"] == run["workers_started"] == 1
    assert (run["done"], run["failed"], run["skipped"]) == (4, 0, 0)
    assert run["elders"] == build["elders_generated"] - build["elders_unassigned"]
    assert sum(c["elders"] for c in report["per_county"]) == run["elders"]
    assert run["cities"] == 2 and run["cities_elders"] == run["elders"]  # province by city = counties' roll-up
    assert 0 < run["covered"] <= run["elders"]
    assert run["coverage_pct"] == round(100 * run["covered"] / run["elders"], 2)
    assert run["elders_per_s"] == pytest.approx(run["elders"] / run["wall_s"])
    assert run["task_s_max"] <= run["task_s_sum"] <= run["wall_s"]
    assert 0 < run["worker_peak_mb"] < bench.TARGET_WORKER_MB
    # counties differ in population, as the fit needs: weights 1, 3, 2, 1
    sizes = sorted(c["elders"] for c in report["per_county"])
    assert sizes[-1] > 2 * sizes[0]


def test_quick_run_fit_projection_and_output(quick):
    report, stored, text = quick
    fit = report["fit"]
    assert fit["counties"] == 4
    assert fit["s_per_elder"] >= 0 and fit["s_per_edge"] >= 0 and fit["s_per_elder"] + fit["s_per_edge"] > 0
    rows = report["projection"]["rows"]
    assert [r["workers"] for r in rows] == list(bench.PROJECT_WORKERS)
    walls = [r["wall_s"] for r in rows]
    assert all(math.isfinite(w) and w > 0 for w in walls) and walls == sorted(walls, reverse=True)
    assert rows[0]["cpu_s"] == pytest.approx(rows[0]["county_s"] * bench.NATIONAL_COUNTIES)
    assert stored["runs"][0]["elders"] == report["runs"][0]["elders"] and stored["synthetic"] is True
    assert "SYNTHETIC" in text and "assumptions:" in text
    assert any(line.startswith(("PASS", "MISSED")) and "per worker" in line for line in report["verdicts"])
