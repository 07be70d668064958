"""Batches on Dask distributed (batch/runner.py, batch/cli.py) and batch results in the store (data/store.py).

The test parent: the demo region's three streets saved as three county regions (``prov-419901``..``03``), each with
the elders of its street (``district_code`` = its county code), every facility (those of other streets marked
``halo``) and the whole road network, under a city parent ``prov``. The real Dask parts: a ``LocalCluster`` (the
default of :func:`run_batch`), and for the worker-kill test a ``dask scheduler`` and two ``dask worker`` processes
started here on 127.0.0.1, one of which is killed with SIGKILL while its task runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
from pg_support import new_database

from batch.hierarchy import ChildRef, leaf_regions, save_parent
from batch.runner import county_coverage, inputs_digest, result_key, run_batch
from data import store
from geo.labels import TOTAL_CODE
from geo.settings import Settings
from planning.coverage import region_coverage

REPO = Path(__file__).resolve().parents[1]
SETTINGS = Settings()
PARAMS = {"minutes": 15.0, "mode": "walk"}
KEY = result_key("coverage", PARAMS)
CODES = ("419901", "419902", "419903")


def make_province(demo_region, root: Path | str, *, broken: bool = False) -> list[ChildRef]:
    """Save the test parent ``prov`` and its county regions under ``root`` (see the module docstring); with
    ``broken`` a fourth county without roads, whose task fails (a ValueError inside the task)."""
    areas = demo_region.areas
    streets = areas[areas["level"] == "street"].reset_index(drop=True)
    children, polygons = [], []
    for code, (_, street) in zip(CODES, streets.iterrows(), strict=True):
        elders = demo_region.elders[demo_region.elders["street_code"] == street["code"]].copy()
        elders["district_code"] = code
        facilities = demo_region.facilities.copy()
        facilities["halo"] = (facilities["street_code"] != street["code"]).to_numpy()
        county = gpd.GeoDataFrame({"code": [code], "name": [f"测试{code[-1]}县"], "level": ["district"]},
                                  geometry=[street.geometry], crs=areas.crs)
        own = areas[areas["code"].astype(str).str.startswith(str(street["code"]))]
        layers = {"elders": elders, "facilities": facilities, "areas": pd.concat([county, own], ignore_index=True),
                  "road_nodes": demo_region.road_nodes, "road_edges": demo_region.road_edges}
        store.save_region(f"prov-{code}", layers, {"note": "test county"}, root=root)
        children.append(ChildRef(f"prov-{code}", code, f"测试{code[-1]}县"))
        polygons.append(street.geometry)
    if broken:
        elders = demo_region.elders.head(50).copy()
        elders["district_code"] = "419909"
        store.save_region("prov-419909", {"elders": elders, "facilities": demo_region.facilities}, {}, root=root)
        children.append(ChildRef("prov-419909", "419909", "无路县"))
        polygons.append(streets.geometry.iloc[0])
    parent_areas = gpd.GeoDataFrame({"code": [c.code for c in children]}, geometry=polygons, crs=areas.crs)
    save_parent("prov", level="city", children=children, areas=parent_areas, root=root)
    return children


@pytest.fixture(scope="module")
def reference(demo_region, tmp_path_factory) -> dict[str, dict[str, pd.DataFrame]]:
    """:func:`county_coverage` of every test county, computed in this process (the undisturbed answer)."""
    root = tmp_path_factory.mktemp("batch_reference")
    make_province(demo_region, root)
    return {f"prov-{code}": county_coverage(store.load_region(f"prov-{code}", root=root), settings=SETTINGS, **PARAMS)
            for code in CODES}


def assert_results_equal(root: Path, reference: dict[str, dict[str, pd.DataFrame]]) -> None:
    """Every county holds exactly one result, checksums verified, frames equal to the in-process ones."""
    for region, frames in reference.items():
        assert store.list_results(region, root=root) == [KEY]
        assert not [p.name for p in (root / region / "results").iterdir() if p.name.startswith(".")]
        stored = store.load_result(region, KEY, root=root, verify=True)
        assert list(stored.frames) == list(frames)
        for name, frame in frames.items():
            pd.testing.assert_frame_equal(stored.frames[name], frame, check_dtype=False)


# ---------------------------------------------------------------- results in the store


def test_results_round_trip_and_a_damaged_frame_is_refused(demo_region, tmp_path: Path) -> None:
    root = tmp_path / "regions"
    make_province(demo_region, root)
    frames = {"elders": pd.DataFrame({"pid": ["a", "b"], "time_min": [1.5, np.inf], "facility_id": ["F1", None]}),
              "district": pd.DataFrame({"code": ["419901", TOTAL_CODE], "elders": [2, 2], "covered": [1, 1]})}
    assert store.result_meta("prov-419901", "k1", root=root) is None
    path = store.save_result("prov-419901", "k1", frames, {"kind": "test", "n": 1}, root=root)
    assert path == root / "prov-419901" / "results" / "k1"
    record = store.result_meta("prov-419901", "k1", root=root)
    assert record["meta"] == {"kind": "test", "n": 1} and list(record["frames"]) == ["elders", "district"]
    loaded = store.load_result("prov-419901", "k1", root=root)
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(loaded.frames[name], frame)
    assert list(store.load_result("prov-419901", "k1", root=root, names=["district"]).frames) == ["district"]
    # saved again (a task run twice): one result, same bytes, nothing left behind
    first = {n: i["sha256"] for n, i in record["frames"].items()}
    store.save_result("prov-419901", "k1", frames, {"kind": "test", "n": 1}, root=root)
    assert {n: i["sha256"] for n, i in store.result_meta("prov-419901", "k1", root=root)["frames"].items()} == first
    assert sorted(p.name for p in (root / "prov-419901" / "results").iterdir()) == ["k1"]
    # writers of the same result at once (a task and its re-run after a worker was thought dead): all succeed
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(10):
                store.save_result("prov-419901", "k1", frames, {"kind": "test", "n": 1}, root=root)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=write) for _ in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    assert not errors
    assert sorted(p.name for p in (root / "prov-419901" / "results").iterdir()) == ["k1"]
    assert {n: i["sha256"] for n, i in store.result_meta("prov-419901", "k1", root=root)["frames"].items()} == first
    # a damaged frame: refused in Chinese, naming the region, the result and the frame
    target = path / "district.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(store.ResultError, match="地区“prov-419901”的计算结果“k1”中的表 district 与校验和不符"):
        store.load_result("prov-419901", "k1", root=root)
    store.load_result("prov-419901", "k1", root=root, names=["elders"])  # the other frame is intact
    with pytest.raises(store.ResultNotFoundError, match="没有名为“k2”的计算结果"):
        store.load_result("prov-419901", "k2", root=root)
    with pytest.raises(store.ResultError, match="计算结果的名称“a/b”无效"):
        store.save_result("prov-419901", "a/b", frames, {}, root=root)
    with pytest.raises(store.RegionNotFoundError):
        store.save_result("nowhere", "k1", frames, {}, root=root)


def test_results_in_postgis_round_trip_replace_and_refuse_damage(demo_region, postgis_url: str) -> None:
    url = new_database(postgis_url)
    store.migrate_database(url)
    store.save_region("c1", {"facilities": demo_region.facilities.head(3)}, {}, root=url)
    frames = {"elders": pd.DataFrame({"pid": ["a", "b"], "time_min": [1.5, np.inf]}),
              "district": pd.DataFrame({"code": ["1", TOTAL_CODE], "elders": [2, 2]})}
    store.save_result("c1", "k1", frames, {"kind": "test"}, root=url)
    store.save_result("c1", "k1", frames, {"kind": "test"}, root=url)  # replaced, not doubled
    assert store.list_results("c1", root=url) == ["k1"]
    record = store.result_meta("c1", "k1", root=url)
    assert record["meta"] == {"kind": "test"} and list(record["frames"]) == ["elders", "district"]
    loaded = store.load_result("c1", "k1", root=url)
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(loaded.frames[name], frame)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM eldermap.results").fetchone()[0] == 2
        conn.execute("UPDATE eldermap.results SET parquet = overlay(parquet placing '\\xff'::bytea from 40) "
                     "WHERE frame = 'elders'")
    with pytest.raises(store.ResultError, match="表 elders 与校验和不符"):
        store.load_result("c1", "k1", root=url)
    assert store.result_meta("c1", "k2", root=url) is None


# ---------------------------------------------------------------- batches


def test_a_province_table_lists_its_cities_as_sums_of_their_counties(demo_region, reference, tmp_path: Path) -> None:
    from batch.runner import children_table

    root = tmp_path / "regions"
    children = make_province(demo_region, root)
    areas = store.load_region("prov", root=root).areas
    save_parent("city-a", level="city", children=children[:2], areas=areas, root=root, code="419900", title="甲市")
    save_parent("city-b", level="city", children=children[2:], areas=areas, root=root, code="419800", title="乙市")
    cities = [ChildRef("city-a", "419900", "甲市", "city"), ChildRef("city-b", "419800", "乙市", "city")]
    city_areas = gpd.GeoDataFrame({"code": ["419900", "419800"]}, geometry=list(areas.geometry[:2]), crs=areas.crs)
    save_parent("sheng", level="province", children=cities, areas=city_areas, root=root)
    districts = {region: frames["district"] for region, frames in reference.items()}
    del districts["prov-419903"]  # a county that failed: left out, and said so
    table = children_table("sheng", districts, root=root)
    assert list(table["code"]) == ["419900", "419800", TOTAL_CODE]
    assert list(table["counties"]) == [2, 1, 3] and list(table["counties_missing"]) == [0, 1, 1]
    totals = {r: int(d["elders"].iloc[-1]) for r, d in districts.items()}
    assert list(table["elders"]) == [totals["prov-419901"] + totals["prov-419902"], 0, sum(totals.values())]
    covered = sum(int(d["covered"].iloc[-1]) for d in districts.values())
    assert table["covered"].iloc[-1] == covered
    assert table["coverage_pct"].iloc[-1] == round(100 * covered / sum(totals.values()), 2)
    assert np.isnan(table["coverage_pct"].iloc[1])  # no elders counted: no rate, not 0 %



def test_batch_on_a_local_cluster_equals_the_whole_province_and_rolls_up_by_sums(demo_region, tmp_path: Path) -> None:
    """The test province of tests/province_support.py (the demo tiled 2x2, four counties with halos) as a batch on
    the default LocalCluster: every county's stored result equals county_coverage run here; per elder, the times and
    facilities equal those of the whole province in one piece (elders served across a county line included); the
    roll-up's county rows equal region_coverage of the whole province, its total their sums. A fifth county without
    roads fails (a ValueError inside its task), reported in Chinese, and the others complete."""
    from province_support import COUNTY_CODES, small_province

    root = tmp_path / "regions"
    prov = small_province(demo_region, root, SETTINGS)
    broken = prov.layers["elders"][prov.layers["elders"]["district_code"] == COUNTY_CODES[0]].head(20).copy()
    broken["district_code"] = "419909"
    store.save_region("prov-419909", {"elders": broken, "facilities": prov.layers["facilities"]}, {}, root=root)
    refs = [*leaf_regions(prov.parent, root=root), ChildRef("prov-419909", "419909", "无路县")]
    parent_areas = store.load_region(prov.parent, root=root).areas
    save_parent(prov.parent, level="city", children=refs, root=root,
                areas=pd.concat([parent_areas, parent_areas.head(1).assign(code="419909")], ignore_index=True))
    seen: list[tuple[int, int, str]] = []
    result = run_batch(prov.parent, "coverage", root=root, settings=SETTINGS, params=PARAMS, workers=2,
                       progress=lambda done, total, text: seen.append((done, total, text)))
    assert [c.status for c in result.children] == ["done"] * 4 + ["failed"]
    assert all(0 < c.peak_mb < 3 * 1024 for c in result.children[:4])  # a worker's peak, under the 3 GB limit
    failed = result.children[-1]
    assert failed.region == "prov-419909" and failed.error_zh.startswith("计算出错（ValueError")
    assert seen[0][:2] == (0, 5) and "工作进程" in seen[0][2] and [s[0] for s in seen[1:]] == [1, 2, 3, 4, 5]
    per_elder = []
    for child in prov.children:
        assert store.list_results(child, root=root) == [KEY]
        stored = store.load_result(child, KEY, root=root).frames
        here = county_coverage(store.load_region(child, root=root), settings=SETTINGS, **PARAMS)
        for name, frame in here.items():
            pd.testing.assert_frame_equal(stored[name], frame, check_dtype=False)
        per_elder.append(stored["elders"])
    batch = pd.concat(per_elder, ignore_index=True).set_index("pid")
    store.save_region("whole", prov.layers, {}, root=root)
    whole_region = store.load_region("whole", root=root)
    whole = county_coverage(whole_region, settings=SETTINGS, **PARAMS)["elders"].set_index("pid").loc[batch.index]
    np.testing.assert_allclose(batch["time_min"], whole["time_min"], rtol=0, atol=1e-9)
    assert (batch["facility_id"].fillna("-") == whole["facility_id"].fillna("-")).all()
    county_of_facility = batch["facility_id"].dropna().str.split("-").str[0]  # T1..T4: the tile = the county
    county_of_elder = pd.Series(batch.index, index=batch.index).str.split("-").str[0].loc[county_of_facility.index]
    assert (county_of_facility != county_of_elder).sum() > 0  # some elders are served across a county line
    # roll-up: the counties' rows as region_coverage counts them on the whole province; the total their sums
    table = result.table
    assert list(table["code"]) == [*COUNTY_CODES, TOTAL_CODE]
    official, _ = region_coverage(whole_region, settings=SETTINGS, minutes=15.0, mode="walk", by="district")
    official = official.set_index("code").loc[list(COUNTY_CODES)]
    for column in ("elders", "covered", "elders_80plus", "covered_80plus", "elders_disabled", "covered_disabled"):
        assert list(table[column].iloc[:4]) == list(official[column])
        assert table[column].iloc[-1] == official[column].sum()
    total = table.iloc[-1]
    assert total["coverage_pct"] == round(100 * total["covered"] / total["elders"], 2)
    assert total["coverage_disabled_pct"] == round(100 * total["covered_disabled"] / total["elders_disabled"], 2)
    assert result.children_table["elders"].iloc[-1] == total["elders"]
    assert list(result.children_table["counties_missing"]) == [0, 0, 0, 0, 1, 1]
    lines = "\n".join(result.summary_zh())
    assert "完成 4 个，跳过 0 个，失败 1 个" in lines and "不含失败的区县" in lines
    assert f"老年人 {result.elders:,} 人，覆盖 {result.covered:,} 人" in lines
    assert not result.outside  # the parent saved again by hand holds no split


@pytest.fixture(scope="module")
def local_scheduler():
    """A LocalCluster shared by the tests that only need some scheduler (its address)."""
    from distributed import LocalCluster

    from batch.runner import bare_main

    with bare_main(), LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0") as cluster:
        yield cluster.scheduler_address


def test_resume_skips_counties_done_and_recomputes_a_new_version_or_a_damaged_result(
        demo_region, reference, local_scheduler: str, tmp_path: Path) -> None:
    root = tmp_path / "regions"
    make_province(demo_region, root)
    first = run_batch("prov", "coverage", root=root, settings=SETTINGS, params=PARAMS, scheduler=local_scheduler)
    assert [c.status for c in first.children] == ["done"] * 3
    saved = {c: store.result_meta(f"prov-{c}", KEY, root=root)["frames"]["elders"]["sha256"] for c in CODES}
    again = run_batch("prov", "coverage", root=root, settings=SETTINGS, params=PARAMS, scheduler=local_scheduler,
                      resume=True)
    assert [c.status for c in again.children] == ["skipped"] * 3 and again.workers == 0  # no task, no cluster
    pd.testing.assert_frame_equal(again.table, first.table)
    assert "跳过 3 个" in "\n".join(again.summary_zh())
    # a new version of one county (an import), a damaged result of another: those two are computed again
    region = store.load_region("prov-419902", root=root)
    store.save_region("prov-419902", dict(region.layers), {"note": "re-imported"}, root=root)
    damaged = root / "prov-419903" / "results" / KEY / "district.parquet"
    damaged.write_bytes(damaged.read_bytes()[:-8] + b"\0" * 8)
    third = run_batch("prov", "coverage", root=root, settings=SETTINGS, params=PARAMS, scheduler=local_scheduler,
                      resume=True)
    assert [c.status for c in third.children] == ["skipped", "done", "done"]
    new = store.load_region("prov-419902", root=root)
    assert store.result_meta("prov-419902", KEY, root=root)["meta"]["region_version"] == new.version
    assert third.children[1].inputs_digest == inputs_digest(new, "coverage", PARAMS, SETTINGS)
    assert store.result_meta("prov-419901", KEY, root=root)["frames"]["elders"]["sha256"] == saved["419901"]
    assert_results_equal(root, reference)
    pd.testing.assert_frame_equal(third.table, first.table)
    # other settings are other inputs: nothing is skipped
    other = run_batch("prov", "coverage", root=root, settings=Settings(walk_speed_kmh=2.4), params=PARAMS,
                      scheduler=local_scheduler, resume=True)
    assert [c.status for c in other.children] == ["done"] * 3
    assert other.covered <= first.covered


def test_a_county_over_the_task_limit_is_split_into_parts_with_the_same_result(
        demo_region, reference, local_scheduler: str, tmp_path: Path) -> None:
    """With at most 700 elders a task, each test county is computed in parts of its elders and a combining task:
    the stored results equal the counties computed whole here; the memory settings are not inputs, so a resume
    under the default settings finds them all done."""
    root = tmp_path / "regions"
    make_province(demo_region, root)
    small = Settings(batch_task_max_elders=700)
    seen: list[str] = []
    result = run_batch("prov", "coverage", root=root, settings=small, params=PARAMS, scheduler=local_scheduler,
                       progress=lambda done, total, text: seen.append(text))
    elders = {c: len(store.load_region(f"prov-{c}", root=root).elders) for c in CODES}
    assert [c.status for c in result.children] == ["done"] * 3
    assert [c.parts for c in result.children] == [-(-elders[c] // 700) for c in CODES] and min(elders.values()) > 700
    assert "按内存上限分为" in seen[0] and "按每个工作进程的内存上限分部分计算后合并" in "\n".join(result.summary_zh())
    assert_results_equal(root, reference)
    for c in CODES:
        assert store.result_meta(f"prov-{c}", KEY, root=root)["meta"]["parts"] > 1
    again = run_batch("prov", "coverage", root=root, settings=SETTINGS, params=PARAMS, scheduler=local_scheduler,
                      resume=True)
    assert [c.status for c in again.children] == ["skipped"] * 3
    pd.testing.assert_frame_equal(again.table, result.table)


# ---------------------------------------------------------------- a worker killed while its task runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dask_processes(tmp_path: Path, n_workers: int):
    """A real ``dask scheduler`` and ``n_workers`` ``dask worker`` processes (no nanny: the worker process is the
    one that runs tasks) on 127.0.0.1; yields (scheduler address, {worker name: Popen}); stops all of them."""
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ,  # the repository on the path too, as a worker of an editable install without batch/ needs
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "3"}
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    workers: dict[str, subprocess.Popen] = {}
    try:
        with (tmp_path / "scheduler.log").open("w") as log:
            procs.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                           "--no-dashboard"], cwd=tmp_path, env=env, stdout=log,
                                          stderr=subprocess.STDOUT))
        for i in range(n_workers):
            with (tmp_path / f"worker{i}.log").open("w") as log:
                workers[f"w{i}"] = subprocess.Popen(
                    [dask, "worker", address, "--name", f"w{i}", "--nthreads", "1", "--nworkers", "1", "--no-nanny",
                     "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "3GB"], cwd=tmp_path, env=env,
                    stdout=log, stderr=subprocess.STDOUT)
                procs.append(workers[f"w{i}"])
        yield address, workers
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_a_killed_worker_leaves_a_batch_that_completes_with_identical_results(
        demo_region, reference, tmp_path: Path) -> None:
    from distributed import Client

    root = tmp_path / "regions"
    make_province(demo_region, root)
    with dask_processes(tmp_path, 2) as (address, workers), Client(address, timeout=30) as watcher:
        watcher.wait_for_workers(2, timeout=60)
        out: dict[str, object] = {}

        def batch() -> None:
            try:
                out["result"] = run_batch("prov", "coverage", root=root, settings=SETTINGS, params=PARAMS,
                                          scheduler=address, workers=2, task_delay_s=1.0)
            except BaseException as exc:  # surfaced below
                out["error"] = exc

        thread = threading.Thread(target=batch)
        thread.start()
        victim, running = None, []
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:  # a worker with a task executing right now
            names = {a: w["name"] for a, w in watcher.scheduler_info()["workers"].items()}
            for addr, stacks in watcher.call_stack().items():
                if stacks:
                    victim, running = names[addr], list(stacks)
                    break
            time.sleep(0.05)
        assert victim is not None, "no task started"
        workers[victim].send_signal(signal.SIGKILL)
        workers[victim].wait(timeout=10)
        thread.join(timeout=120)
        assert not thread.is_alive()
        alive = [w["name"] for w in watcher.scheduler_info()["workers"].values()]
    assert "error" not in out, out.get("error")
    result = out["result"]
    assert victim not in alive and len(alive) == 1
    assert any(KEY in str(k) for k in running)  # it was running a county's task when it died
    assert [c.status for c in result.children] == ["done"] * 3  # nothing lost
    assert_results_equal(root, reference)  # identical to the undisturbed answer, one result per county
    whole, _ = region_coverage(demo_region, settings=SETTINGS, minutes=15.0, mode="walk", by="district")
    assert result.elders == int(whole["elders"].iloc[-1])  # nothing counted twice


# ---------------------------------------------------------------- the command line


def _run_cli(argv: list[str], root: Path) -> int:
    from batch.cli import add_commands
    from cli_args import ChineseArgumentParser

    parser = ChineseArgumentParser(prog="eldermap")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.regions, args.settings = str(root), None
    return int(args.func(args))


def test_cli_batch_resume_writes_the_table_and_says_what_it_did(
        demo_region, local_scheduler: str, tmp_path: Path, capsys, monkeypatch) -> None:
    import batch.runner
    from batch.cli import cmd_batch

    root = tmp_path / "regions"
    make_province(demo_region, root)
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    out = tmp_path / "prov.csv"
    assert _run_cli(["batch", "prov", "coverage", "--scheduler", local_scheduler, "--out", str(out)], root) == 0
    text = capsys.readouterr().out
    assert "上级地区“prov”共 3 个区县" in text and "完成 3 个，跳过 0 个" in text and "覆盖率" in text
    assert _run_cli(["batch", "prov", "coverage", "--resume", "--out", str(out)], root) == 0
    assert "完成 0 个，跳过 3 个" in capsys.readouterr().out
    table = pd.read_csv(out, encoding="utf-8-sig", dtype={"区县代码": str, "区划代码": str})
    assert list(table["区划代码"]) == [*CODES, TOTAL_CODE]
    assert table["老年人数"].iloc[-1] == table["老年人数"].iloc[:3].sum()
    assert _run_cli(["batch", "prov", "coverage", "--scheduler", "127.0.0.1:8786"], root) == 2
    assert "--scheduler 应为 tcp://" in capsys.readouterr().err
    monkeypatch.setattr(batch.runner, "CONNECT_TIMEOUT_S", 1.0)
    args = argparse.Namespace(region="prov", kind="coverage", minutes=15.0, mode="walk", workers=None, resume=False,
                              out=None, regions=str(root), settings=None,
                              scheduler=f"tcp://127.0.0.1:{_free_port()}")
    with pytest.raises(batch.runner.BatchError, match="无法连接 Dask 调度器"):
        cmd_batch(args)
