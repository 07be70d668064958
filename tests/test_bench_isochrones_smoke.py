"""Smoke test of the isochrone benchmark: a tiny run prints its table and meets the issue-18 targets."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_isochrones as bench  # noqa: E402


def test_quick_run_prints_the_table_and_passes(capsys) -> None:
    results = bench.main(["--quick", "--points", "300"])
    out = capsys.readouterr().out
    assert [r["size"] for r in results] == ["demo"], out
    r = results[0]
    assert r["points"]["uniform"] == 300 and r["points"]["elders"] > 1000, out
    for label in bench.METHODS:
        assert out.count(label) >= 6, out  # one row per cutoff and kind of points
        for per_cut in r["scores"].values():
            assert len(per_cut[label]) == len(bench.MINUTES)
            assert all(0 <= s["agree"] <= 100 and 0 <= s["far_inside"] <= 100 for s in per_cut[label])
    assert "agree %" in out and "in>+1 %" in out and "build 5/10/15 bands" in out, out
    assert r["pass"] and out.count("PASS") == 2 and "FAIL" not in out, out
    # ours does better than both baselines on the elders (the measure) at every cutoff
    elders = r["scores"]["elders"]
    for k in range(len(bench.MINUTES)):
        assert elders["ours (access)"][k]["agree"] > max(elders["convex hull"][k]["agree"],
                                                         elders["buffer 50 m"][k]["agree"]), out
