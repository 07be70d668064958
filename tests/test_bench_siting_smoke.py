"""Smoke test of the siting benchmark: its quick configuration agrees with spopt and with a full recompute, greedy +
interchange is reported beside greedy, and the capacitated model with unlimited places equals the uncapacitated one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_siting as bench  # noqa: E402


def test_quick_run_matches_spopt_and_full_recompute(capsys):
    pytest.importorskip("spopt")
    pytest.importorskip("pulp")
    rows = bench.main(["--quick", "--capacitated"])
    out = capsys.readouterr().out
    mclp = [r for r in rows if r["part"] == "mclp"]
    incremental = [r for r in rows if r["part"] == "incremental"]
    capacitated = [r for r in rows if r["part"] == "capacitated"]
    assert [r["k"] for r in mclp] == [5], out
    for r in mclp:
        assert r["equal"] and r["spopt_status"] == "Optimal" and r["ours_status"] == "optimal", out
        assert r["ours"] == pytest.approx(r["spopt"], rel=bench.OBJ_RTOL)
        assert r["spopt_recount"] == pytest.approx(r["spopt"], rel=bench.OBJ_RTOL)  # spopt's objective is its sites'
        assert 0 < r["greedy"] <= r["swap"] + 1e-9 <= r["ours"] + 2e-9 and r["greedy_gap_pct"] >= r["swap_gap_pct"] >= 0
        assert r["demand"] > 0 and r["candidates"] == 300 and r["nnz"] > 0
    assert len(incremental) == 1, out
    inc = incremental[0]
    assert inc["correct"] and inc["mismatched"] == 0 and inc["areas_ok"], out
    assert inc["adds"] == inc["closes"] == 5 and inc["add_ms_median"] > 0 and inc["full_s"] > 0
    assert "PASS  ours = spopt objective" in out and "PASS  incremental state = full recompute" in out
    assert "greedy+swap within 2 % of optimum" in out and "+swap gap" in out
    assert [r["k"] for r in capacitated] == [5], out
    for r in capacitated:
        assert r["unlimited_equal"] and r["status"] == "optimal", out
        assert r["greedy"] <= r["exact"] + 1e-6 <= r["unlimited"] + 2e-6 and r["sites"] <= 5
        assert r["exact"] <= r["places"] * r["sites"] + 1e-6  # no site serves more than its places
    assert "PASS  capacitated, places unlimited = MCLP" in out
