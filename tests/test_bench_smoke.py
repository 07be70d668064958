"""Smoke test of the coverage benchmark: its smallest configuration, counts agreeing, tiles joined at the seams."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_coverage as bench  # noqa: E402
from tiled import sample_points, tile_points, tile_roads  # noqa: E402

from geo.settings import Settings  # noqa: E402
from planning.network import build_network  # noqa: E402


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="module")
def layers(settings):
    return bench.demo_layers(settings)


@pytest.fixture(scope="module")
def demo(layers, settings) -> bench.Inputs:
    return bench.demo_inputs(layers, settings)


@pytest.fixture(scope="module")
def ours(demo, settings) -> dict:
    return bench.run_ours(demo, settings)


def _agrees(result: dict, ours: dict, n_elders: int, method: str) -> None:
    share = abs(result["covered"] - ours["covered"]) / n_elders
    assert share <= bench.AGREE_TOL[method], (method, result["covered"], ours["covered"])


def test_ours_and_scipy_reference_agree_on_demo(demo, ours, settings):
    ref = bench.run_scipy(demo, settings)
    n = len(demo.elders)
    assert ours["nodes"] == ref["nodes"] == len(demo.road_nodes)
    assert 0.5 * n < ours["covered"] <= n
    _agrees(ref, ours, n, "scipy")
    assert bench.run_ours(demo, settings)["covered"] == ours["covered"]  # no hidden state between runs


def test_pandana_agrees_on_demo(demo, ours, settings):
    pytest.importorskip("pandana")
    _agrees(bench.run_pandana(demo, settings), ours, len(demo.elders), "pandana")


def test_ego_graph_agrees_and_extrapolates_on_demo(demo, ours, settings):
    pytest.importorskip("osmnx")
    full = bench.run_ego(demo, settings)
    _agrees(full, ours, len(demo.elders), "ego")
    part = bench.run_ego(demo, settings, max_facilities=3)
    assert part["partial"] and part["extrapolated_s"] > 0 and part["covered"] <= full["covered"]


def test_two_sfca_matches_pysal_on_demo(demo, settings):
    pytest.importorskip("access")  # PySAL access, the peer; our planning.access is imported by the benchmark
    results = bench.compare_two_sfca(demo, settings, repeats=1)
    assert {r["decay"] for r in results} == {"none", "stepped", "gaussian"}
    assert all(r["pairs"] > 0 and r["max_rel_diff"] <= 1e-9 for r in results)


def test_tiled_network_is_connected_across_seams(demo, settings):
    roads = tile_roads(demo.road_nodes, demo.road_edges, n_cols=3, n_rows=2)
    assert roads.n_tiles == 6 and roads.connectors_per_east_seam > 0 and roads.connectors_per_north_seam > 0
    assert roads.connectors == 4 * roads.connectors_per_east_seam + 3 * roads.connectors_per_north_seam  # 2 x 2 + 3 x 1 seams
    links = roads.road_edges[roads.road_edges["tile"] == -1]
    assert (links["length_m"] <= 150.0).all() and (links["highway"] == "footway").all()
    network = build_network(roads.road_edges, mode="walk", settings=settings)
    assert network.n_nodes == len(roads.road_nodes) == 6 * len(demo.road_nodes)
    main = network.node_ids[network.component == network.main_component]
    tiles = roads.road_nodes.set_index("node_id").loc[main, "tile"]
    assert set(tiles) == set(range(6))
    one_tile = build_network(demo.road_edges, mode="walk", settings=settings)
    biggest = np.bincount(one_tile.component).max()
    assert len(main) == 6 * biggest  # the six copies of the base tile's main network, joined into one
    lengths = roads.road_edges.loc[roads.road_edges["tile"] == 5, "length_m"].to_numpy()
    np.testing.assert_allclose(np.sort(lengths), np.sort(demo.road_edges["length_m"].to_numpy()))


def test_tiled_points_and_jittered_samples(demo):
    roads = tile_roads(demo.road_nodes, demo.road_edges, n_cols=2, n_rows=1)
    tiled = tile_points(demo.facilities, roads)
    assert len(tiled) == 2 * len(demo.facilities)
    xy = tiled.to_crs(roads.crs).get_coordinates().to_numpy()
    n = len(demo.facilities)
    np.testing.assert_allclose(xy[n:] - xy[:n], [[roads.width_m, 0.0]] * n, atol=1e-3)
    drawn = sample_points(tiled, 500, crs=roads.crs, jitter_m=20.0, seed=1)
    assert len(drawn) == 500 and drawn.crs == "EPSG:4326"
    moved = drawn.to_crs(roads.crs).get_coordinates().to_numpy()
    nearest = np.min(np.hypot(*(moved[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)), axis=1)
    assert nearest.max() <= 20.0 + 1e-6
    again = sample_points(tiled, 500, crs=roads.crs, jitter_m=20.0, seed=1)
    assert drawn.geom_equals(again).all()


def test_quick_report_evaluates_targets_from_measurements():
    rows = [
        {"method": "ours", "size": "L", "times": [20.0], "median_s": 20.0, "covered": 990, "elders": 1_000_000,
         "nodes": 300_000, "facilities": 2000, "peak_mb": 3000.0, "input_mb": 500.0},
        {"method": "scipy", "size": "L", "times": [5.0], "median_s": 5.0, "covered": 985, "elders": 1_000_000,
         "nodes": 300_000, "facilities": 2000, "peak_mb": 900.0, "input_mb": 500.0},
    ]
    for r in rows:
        r["ratio"] = r["median_s"] / 20.0
        r["delta_share"] = (r["covered"] - 990) / r["elders"]
    lines = bench.evaluate(rows)
    assert any(line.startswith("FAIL") and "within 2x of scipy" in line and "4.0x" in line for line in lines)
    assert any(line.startswith("PASS") and "≤ 30 s" in line for line in lines)
    assert any(line.startswith("PASS") and "4 GB" in line for line in lines)


def test_command_smallest_configuration(capsys):
    rows = bench.main(["--quick", "--sizes", "demo", "--methods", "ours,scipy"])
    out = capsys.readouterr().out
    measured = {r["method"]: r for r in rows}
    assert set(measured) == {"ours", "scipy"} and all("times" in r for r in rows), out
    assert abs(measured["scipy"]["delta_share"]) <= bench.AGREE_TOL["scipy"]
    assert all(r["peak_mb"] > 0 and r["covered"] > 0 for r in rows)
    assert "ours (eldermap)" in out and "scipy reference" in out and "within 2x of scipy" in out
