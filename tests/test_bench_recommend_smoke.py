"""Smoke test of the recommendation benchmark: the demo region, a few queries."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_recommend  # noqa: E402


def test_recommend_benchmark_quick(capsys) -> None:
    rows = bench_recommend.main(["--quick", "--queries", "12"])
    out = capsys.readouterr().out
    assert len(rows) == 1 and rows[0]["size"] == "demo" and rows[0]["queries"] == 12
    assert len(rows[0]["ours_ms"]) == 12 and len(rows[0]["peer_ms"]) == 12
    assert "recommendation p95" in out
