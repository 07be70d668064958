"""``eldermap db init|upgrade|copy``, the CLI on a PostGIS store, and concurrent imports in real processes."""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from pandas.testing import assert_frame_equal
from pg_support import new_database

import eldermap
from data import audit, store
from geo.osm import demo_pbf_path

REPO = Path(__file__).resolve().parents[1]
FIX = Path(__file__).resolve().parent / "fixtures" / "validation"
IMPORT_FILES = ["--facilities", str(FIX / "facilities_valid.csv"), "--elders", str(FIX / "elders_gbk.csv"),
                "--areas", str(FIX / "areas_valid.geojson")]
BUSY = "正在由另一项导入写入，请稍后再试"


@pytest.fixture(autouse=True)
def _db_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """``eldermap db`` as the lead wires it (data.db_cli.add_commands), also before that wiring has landed."""
    from data import db_cli

    real = eldermap.build_parser
    action = next(a for a in real()._actions if isinstance(a, argparse._SubParsersAction))
    if "db" in action.choices:
        return

    def build() -> argparse.ArgumentParser:
        parser = real()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        db_cli.add_commands(sub)
        eldermap._add_global_options(sub.choices["db"], after=True)
        return parser

    monkeypatch.setattr(eldermap, "build_parser", build)


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No database, no salt, a local folder for the audit log."""
    monkeypatch.delenv("ELDERMAP_DATABASE_URL", raising=False)
    monkeypatch.delenv("ELDERMAP_SALT", raising=False)
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    monkeypatch.setenv("ELDERMAP_REGIONS", str(tmp_path / "local"))
    return {k: v for k, v in os.environ.items()}


@pytest.fixture()
def db(postgis_url: str) -> str:
    url = new_database(postgis_url)
    store.migrate_database(url)
    return url


def _import(tmp_path: Path, *global_args: str) -> None:
    code = eldermap.main([*global_args, "import", "hel", "--roads", str(demo_pbf_path()), *IMPORT_FILES,
                          "--report-dir", str(tmp_path / "reports")])
    assert code == 0


def test_import_coverage_report_give_the_same_figures_on_postgis(
        tmp_path: Path, env: dict[str, str], db: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    files = tmp_path / "regions"
    _import(tmp_path, "--regions", str(files))
    assert eldermap.main(["--regions", str(files), "coverage", "hel", "--out", str(tmp_path / "c_files.csv")]) == 0
    assert eldermap.main(["--regions", str(files), "report", "hel", "--out", str(tmp_path / "r_files.xlsx")]) == 0
    monkeypatch.setenv("ELDERMAP_DATABASE_URL", db)
    capsys.readouterr()
    _import(tmp_path)
    assert "已保存为版本" in capsys.readouterr().out
    assert eldermap.main(["coverage", "hel", "--out", str(tmp_path / "c_pg.csv")]) == 0
    assert eldermap.main(["report", "hel", "--out", str(tmp_path / "r_pg.xlsx")]) == 0
    assert eldermap.main(["list"]) == 0 and "hel" in capsys.readouterr().out
    assert not (tmp_path / "local" / "hel").exists()  # the region went to the database ...
    assert not (tmp_path / "local" / "audit.log").exists()  # ... and so did the audit log
    actions = audit.read(db)
    assert list(actions["action"]) == ["import", "export", "export"] and set(actions["region"]) == {"hel"}
    assert actions["version"].iloc[0] == store.current_version("hel") and actions["rows"].iloc[0] > 0
    assert audit.verify_chain(db) == []
    on_files, on_pg = store.load_region("hel", root=files), store.load_region("hel")
    assert {k: len(v) for k, v in on_files.layers.items()} == {k: len(v) for k, v in on_pg.layers.items()}
    for layer in ("road_nodes", "road_edges", "areas", "facilities"):  # elders differ by the salt's pseudonyms only
        assert on_files.manifest["layers"][layer]["sha256"] == on_pg.manifest["layers"][layer]["sha256"], layer
    coverage_files = pd.read_csv(tmp_path / "c_files.csv")
    assert len(coverage_files) >= 2
    assert_frame_equal(coverage_files, pd.read_csv(tmp_path / "c_pg.csv"))
    report_files = pd.read_excel(tmp_path / "r_files.xlsx", sheet_name=None)
    report_pg = pd.read_excel(tmp_path / "r_pg.xlsx", sheet_name=None)
    assert list(report_files) == list(report_pg)
    for sheet, frame in report_files.items():
        other = report_pg[sheet]
        for version in (on_files.version, on_pg.version):  # the sheets may name the data version
            frame, other = frame.replace(version, "V", regex=True), other.replace(version, "V", regex=True)
        made = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}"  # when each report was made (the two runs may straddle a minute)
        frame, other = frame.replace(made, "T", regex=True), other.replace(made, "T", regex=True)
        assert_frame_equal(frame, other, obj=sheet)


def _checksums(root: Path, name: str) -> dict[str, str]:
    version = (root / name / "CURRENT").read_text().strip()
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / name / version).glob("*.parquet"))}


def test_db_copy_files_to_postgis_and_back_keeps_every_checksum(
        tmp_path: Path, env: dict[str, str], db: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    _import(tmp_path, "--regions", str(first))
    store.save_scenario("hel", {"name": "s1", "changes": []}, root=first)
    capsys.readouterr()
    assert eldermap.main(["db", "copy", "hel", "--to", "postgis", "--url", db, "--regions", str(first)]) == 0
    out = capsys.readouterr().out
    assert "全部一致" in out and "road_edges" in out
    assert store.current_version("hel", root=db) == store.current_version("hel", root=first)
    assert eldermap.main(["--regions", str(second), "db", "copy", "hel", "--to", "files", "--url", db]) == 0
    assert "全部一致" in capsys.readouterr().out
    assert _checksums(second, "hel") == _checksums(first, "hel") and len(_checksums(first, "hel")) == 5
    assert store.list_scenarios("hel", root=second) == ["s1"]
    # copying again is idempotent (same version, pointer only)
    assert eldermap.main(["db", "copy", "hel", "--to", "postgis", "--url", db, "--regions", str(first)]) == 0
    # a target that does not keep the bytes: exit 2 and the layer named
    other = new_database(db)
    store.migrate_database(other)
    from data import store_postgis

    real = store_postgis._insert_blob
    monkeypatch.setattr(store_postgis, "_insert_blob", lambda conn, r, v, layer, i, sha, n, data: real(
        conn, r, v, layer, i, sha, n, data + b"\0" if layer == "facilities" else data))
    capsys.readouterr()
    assert eldermap.main(["db", "copy", "hel", "--to", "postgis", "--url", other, "--regions", str(first)]) == 2
    captured = capsys.readouterr()
    assert "不一致" in captured.err and "facilities" in captured.err


def test_db_init_and_upgrade(env: dict[str, str], postgis_url: str, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    url = new_database(postgis_url)
    assert eldermap.main(["db", "init"]) == 2
    assert "没有指定数据库" in capsys.readouterr().err
    assert eldermap.main(["db", "init", "--url", "mysql://x/y"]) == 2
    assert "postgresql://" in capsys.readouterr().err
    monkeypatch.setenv("ELDERMAP_DATABASE_URL", url)
    assert eldermap.main(["list"]) == 2 and "db init" in capsys.readouterr().err
    assert eldermap.main(["db", "init"]) == 0
    assert "第 4 步" in capsys.readouterr().out
    assert eldermap.main(["db", "init"]) == 0 and "无需改动" in capsys.readouterr().out
    assert store.database_schema_version(url) == (4, 4)
    older = new_database(postgis_url)
    store.migrate_database(older, upto=1)
    assert eldermap.main(["db", "upgrade", "--url", older]) == 0
    assert "从第 1 版升级到第 4 版" in capsys.readouterr().out
    assert store.database_schema_version(older) == (4, 4)
    assert eldermap.main(["db", "upgrade", "--url", older]) == 0 and "无需升级" in capsys.readouterr().out
    assert eldermap.main(["db"]) == 2


# ---------------------------------------------------------------- concurrent imports, in real processes

def _cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "eldermap", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _facility_file(path: Path, rows: int) -> Path:
    lines = (FIX / "facilities_valid.csv").read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[: rows + 1]) + "\n", encoding="utf-8")
    return path


def _stores(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str | Path, dict[str, str], list[str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("ELDERMAP_DATABASE_URL", "ELDERMAP_SALT")}
    env["ELDERMAP_REGIONS"] = str(tmp_path / "local")
    if request.param == "files":
        root: str | Path = tmp_path / "regions"
        return root, env, ["--regions", str(root)]
    url = new_database(request.getfixturevalue("postgis_url"))
    store.migrate_database(url)
    env["ELDERMAP_DATABASE_URL"] = url
    return url, env, []


@pytest.fixture(params=["files", "postgis"])
def backend(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str | Path, dict[str, str], list[str]]:
    return _stores(tmp_path, request)


def test_an_import_blocked_by_a_held_lock_says_so_in_chinese(tmp_path: Path, backend) -> None:  # type: ignore[no-untyped-def]
    root, env, args = backend
    command = [*args, "import", "hel", "--roads", str(demo_pbf_path()), "--report-dir", str(tmp_path / "rep")]
    env = {**env, "ELDERMAP_IMPORT_WAIT_S": "0.5"}
    with store.import_lock("hel", root=root):
        with pytest.raises(store.ImportInProgressError, match=BUSY):  # a second holder in this process too
            with store.import_lock("hel", root=root, wait_s=0):
                pass
        blocked = _cli(command, env)
        out, err = blocked.communicate(timeout=120)
    assert blocked.returncode == 2, out + err
    assert f"错误：地区“hel”{BUSY}" in err and "Traceback" not in err
    assert not store.region_exists("hel", root=root)
    done = _cli(command, env)  # the lock went with the block
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert store.region_exists("hel", root=root)
    assert not list(Path(store.regions_root(root)).glob("*.lock"))  # an idle folder holds no lock file


@pytest.mark.parametrize("wait", ["0", "60"])
def test_two_concurrent_imports_finish_or_are_told_and_one_whole_version_is_current(
        tmp_path: Path, backend, wait: str) -> None:  # type: ignore[no-untyped-def]
    """Without waiting (0 s) the second import is told at once; with a wait both finish, one after the other."""
    root, env, args = backend
    env = {**env, "ELDERMAP_IMPORT_WAIT_S": wait}
    files = [_facility_file(tmp_path / "f3.csv", 3), _facility_file(tmp_path / "f2.csv", 2)]
    procs = [_cli([*args, "import", "hel", "--roads", str(demo_pbf_path()), "--facilities", str(f),
                   "--report-dir", str(tmp_path / f"rep{i}")], env) for i, f in enumerate(files)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode in (0, 2), err
        if proc.returncode == 2:
            assert BUSY in err and "Traceback" not in err, err
        else:
            assert "已保存为版本" in out
        outcomes.append(proc.returncode)
    assert 0 in outcomes
    if wait != "0":
        assert outcomes == [0, 0]
    print(f"concurrent import outcomes ({type(root).__name__}, wait {wait} s): {outcomes}")
    region = store.load_region("hel", root=root)  # verifies every layer against the manifest
    manifest, _ = store.read_current_version("hel", root=root)
    assert all(c.ok for c in store.check_version("hel", manifest, root=root))
    saved = [len(pd.read_csv(f)) for f, code in zip(files, outcomes, strict=True) if code == 0]
    assert len(region.facilities) in saved
    source = next(s for s in region.manifest["sources"] if s.get("layer") == "facilities")
    assert len(region.facilities) == {"f3.csv": 3, "f2.csv": 2}[source["file"]]  # layer and manifest of one import


def test_lock_is_released_when_the_holder_dies(tmp_path: Path, backend) -> None:  # type: ignore[no-untyped-def]
    root, env, _ = backend
    code = ("import sys, time; from data import store\n"
            f"with store.import_lock('hel', root={str(root)!r}):\n"
            "    print('held', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(store.ImportInProgressError):
            with store.import_lock("hel", root=root, wait_s=0.3):
                pass
        started = time.monotonic()
        threading.Timer(1.0, holder.kill).start()
        with store.import_lock("hel", root=root, wait_s=20):  # waits for the holder to die, then gets the lock
            waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.communicate(timeout=10)
    assert 0.9 < waited < 20


def test_database_rows_hold_pseudonyms_only(tmp_path: Path, env: dict[str, str], db: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELDERMAP_DATABASE_URL", db)
    _import(tmp_path)
    raw = (FIX / "elders_gbk.csv").read_bytes().decode("gbk")
    with psycopg.connect(db) as conn:
        text = " ".join(r[0] for r in conn.execute(
            "SELECT props::text FROM eldermap.features WHERE layer = 'elders'"))
        manifests = " ".join(r[0] for r in conn.execute("SELECT manifest::text FROM eldermap.versions"))
    assert text
    ids = [cell for line in raw.splitlines()[1:] for cell in line.split(",") if len(cell) == 18 and cell[:17].isdigit()]
    assert ids, "the fixture has ID numbers"
    for value in ids:
        assert value not in text and value not in manifests


def test_db_copy_moves_the_desk_order_log_and_checks_it(
        tmp_path: Path, env: dict[str, str], db: str, demo_region, capsys: pytest.CaptureFixture[str]) -> None:
    """The 12349 desk's order log goes with the region (SQLite beside it ↔ tables in the database), checked by
    digest; a second copy finds it already there; a target holding other orders of the region is refused."""
    from conftest import copy_demo_region

    from desk import orders_db

    first = copy_demo_region(demo_region, tmp_path / "a")
    added, _ = orders_db.ingest_orders("demo", demo_region.layers["orders"], root=first,
                                       items=demo_region.layers["service_items"])
    waiting = orders_db.current_orders("demo", root=first)
    oid = str(waiting.loc[waiting["status"] == "待派单", "id"].iloc[0])
    orders_db.create_order("demo", {"lon": 24.94, "lat": 60.17, "item_codes": ["SC0301"], "remarks": "门口有台阶",
                                    "window_start": pd.Timestamp("2027-01-05 09:00").to_pydatetime(),
                                    "window_end": pd.Timestamp("2027-01-05 10:00").to_pydatetime()},
                           actor="tester", root=first, items=demo_region.layers["service_items"])
    source = orders_db.log_digest("demo", root=first)
    assert added > 1000 and source.orders == added + 1 and source.events > source.orders and oid
    capsys.readouterr()
    assert eldermap.main(["db", "copy", "demo", "--to", "postgis", "--url", db, "--regions", str(first)]) == 0
    out = capsys.readouterr().out
    assert f"已复制 {source.orders:,} 张工单、{source.events:,} 条事件" in out and source.sha256[:12] in out
    assert orders_db.log_digest("demo", root=db) == source
    on_pg = orders_db.current_orders("demo", root=db)
    assert_frame_equal(on_pg.sort_values("id").reset_index(drop=True),
                       orders_db.current_orders("demo", root=first).sort_values("id").reset_index(drop=True))
    second = tmp_path / "b"
    assert eldermap.main(["--regions", str(second), "db", "copy", "demo", "--to", "files", "--url", db]) == 0
    assert orders_db.log_digest("demo", root=second) == source  # and back into a SQLite log
    assert eldermap.main(["db", "copy", "demo", "--to", "postgis", "--url", db, "--regions", str(first)]) == 0
    assert "未重复复制" in capsys.readouterr().out
    orders_db.create_order("demo", {"lon": 24.94, "lat": 60.17, "item_codes": ["SC0301"],
                                    "window_start": pd.Timestamp("2027-01-06 09:00").to_pydatetime(),
                                    "window_end": pd.Timestamp("2027-01-06 10:00").to_pydatetime()},
                           actor="tester", root=second, items=demo_region.layers["service_items"])
    assert eldermap.main(["--regions", str(second), "db", "copy", "demo", "--to", "postgis", "--url", db]) == 2
    err = capsys.readouterr().err
    assert "已有不同的服务工单记录" in err and "Traceback" not in err
    assert orders_db.log_digest("demo", root=db) == source  # nothing written
