"""Issue 15, "under load, nothing lost": a desk process killed (SIGKILL) in the middle of a dispatch or an accept
leaves the order in its last committed state, which the desk shows — never lost, never doubled — on the folder
store (SQLite, WAL) and on PostGIS.

Each case is a real process (forked from a ``python -c`` process that imported :mod:`desk.orders_db` once, so a busy
machine pays the imports once) that starts one write and is killed by the test at a chosen moment:

- ``hook``: inside :func:`desk.orders_db.dispatch`'s transaction, locks held, in the engine's own test pause
  (:data:`desk.orders_db.PAUSE_ENV`; the child wraps ``_pause_for_tests`` to say when it got there);
- ``half``: inside the transaction *after* the current row was updated and before the event was written (the child
  wraps ``_insert_event`` to stop there): the half-written change must vanish with the process;
- ``done``: right after the write committed, before its connection is closed (the child wraps ``_Log.close``; on
  SQLite the change is then only in the WAL, not checkpointed): the change must be there exactly once.

Afterwards: the order's current row and its history are exactly as before (or exactly one event further, for
``done``); its status equals its last event's state and its stored ``seq`` the last event's seq; the log opens at
once (SQLite: no stale write lock, WAL recovered, integrity ok; PostgreSQL: row and advisory locks gone) and a new
dispatch or accept works; a second dispatch of a committed one is refused as stale, not doubled.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from pg_support import new_database
from shapely.geometry import Point

from data import store
from desk import orders_db as odb
from desk.dispatch import queue
from desk.errors import StaleOrderError
from geo.settings import Settings

REPO = Path(__file__).resolve().parents[1]
REGION = "crash"
T0 = dt.datetime(2026, 12, 1, 8, 0)
SIGNAL_TIMEOUT_S = 30.0

_ZYGOTE = textwrap.dedent("""
    import os, sys, time, traceback, datetime as dt
    from desk import orders_db as odb
    from data import store_postgis  # noqa: F401 (psycopg imported once, before the forks)
    print("ready", flush=True)
    for line in sys.stdin:
        root, order_id, action, mode = line.rstrip("\\n").split("\\t")
        pid = os.fork()
        if pid:
            print(f"EXIT {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}", flush=True)
            continue
        try:  # the desk process of this case
            if mode == "hook":  # the engine's pause inside dispatch's transaction
                os.environ[odb.PAUSE_ENV] = "5"
                pause = odb._pause_for_tests
                def _say_and_pause():
                    print("INSIDE", flush=True)
                    pause()
                odb._pause_for_tests = _say_and_pause
            elif mode == "half":  # the current row is updated, the event not yet written
                insert = odb._insert_event
                def _stop_before_event(db, oid, seq, at, event, *rest):
                    if event == action:
                        print("INSIDE", flush=True)
                        time.sleep(60)
                    return insert(db, oid, seq, at, event, *rest)
                odb._insert_event = _stop_before_event
            elif mode == "done":  # committed, the connection not closed yet (SQLite: the change only in the WAL)
                close = odb._Log.close
                def _stop_before_close(self):
                    print("COMMITTED", flush=True)
                    time.sleep(60)
                    close(self)
                odb._Log.close = _stop_before_close
            print(f"PID {os.getpid()}", flush=True)
            now = dt.datetime(2026, 12, 1, 8, 30)
            if action == "已派单":
                odb.dispatch("crash", order_id, "P1", "C1", actor="operator-killed", root=root, now=now)
            else:
                odb.transition("crash", order_id, action, actor="operator-killed", expected="已派单", root=root,
                               now=now)
            print("FINISHED", flush=True)  # never: every case is killed before
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(1)
""")

CASES = [  # (order, action, where the process is killed, state seen afterwards)
    ("K1", "已派单", "hook", "待派单"),
    ("K2", "已派单", "half", "待派单"),
    ("K3", "已派单", "done", "已派单"),
    ("K4", "已接单", "half", "已派单"),
    ("K5", "已接单", "done", "已接单"),
]


def _order(oid: str, start: str, end: str) -> dict[str, object]:
    return {"id": oid, "item_codes": ["A01"], "window_start": f"2026-12-01 {start}",
            "window_end": f"2026-12-01 {end}", "elder_id": "E1", "lon": 113.61, "lat": 34.71}


def _prepare(root: str) -> None:
    """A region with one provider and five orders in disjoint windows (one carer can hold them all); K4 and K5
    already dispatched (their accept is the step killed)."""
    layer = gpd.GeoDataFrame({"id": ["P1"]}, geometry=[Point(113.6, 34.7)], crs=4326)
    store.save_region(REGION, {"facilities": layer}, {}, root=root)
    for k, (oid, *_rest) in enumerate(CASES):
        odb.create_order(REGION, _order(oid, f"{9 + k:02d}:00", f"{9 + k:02d}:45"), actor="s", root=root, now=T0)
    for oid in ("K4", "K5"):
        odb.dispatch(REGION, oid, "P1", "C1", actor="s", root=root, now=T0)


def _stored_seq(root: str, oid: str) -> int:
    """The ``seq`` column of the order's current row (not part of the public row)."""
    url = store.database_url(root)
    if url is None:
        with contextlib.closing(sqlite3.connect(Path(root) / REGION / odb.ORDERS_FILE)) as conn:
            return int(conn.execute("SELECT seq FROM orders_current WHERE region = ? AND id = ?",
                                    (REGION, oid)).fetchone()[0])
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT seq FROM eldermap.orders_current WHERE region = %s AND id = %s",
                                (REGION, oid)).fetchone()[0])


def _log_opens_at_once(root: str) -> None:
    """SQLite: the killed writer left no lock (a write transaction starts without waiting), the WAL is recovered
    and the file is sound. PostgreSQL: no backend of the killed process still holds a lock or a transaction."""
    url = store.database_url(root)
    if url is None:
        conn = sqlite3.connect(Path(root) / REGION / odb.ORDERS_FILE, timeout=0, isolation_level=None)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            conn.execute("BEGIN IMMEDIATE")  # "database is locked" at once if a lock were left behind
            conn.execute("ROLLBACK")
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 10
        while True:  # the server ends the killed client's backend when it reads the closed socket
            stale = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'").fetchone()[0]
            if stale == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert stale == 0
        locks = conn.execute("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                             "WHERE a.datname = current_database() AND l.pid <> pg_backend_pid() "
                             "AND l.locktype = 'advisory'").fetchone()[0]
        assert locks == 0


@pytest.fixture(params=["files", "postgis"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "files":
        path = str(tmp_path / "regions")
        _prepare(path)
        return path
    url = new_database(request.getfixturevalue("postgis_url"))
    store.migrate_database(url)
    _prepare(url)
    return url


def _records(events: pd.DataFrame) -> list[dict[str, object]]:
    return events.astype(object).where(events.notna(), None).to_dict("records")


@pytest.fixture(scope="module")
def zygote() -> subprocess.Popen:
    """A process that imports the engine once and forks one desk process per case (cheap on a busy machine)."""
    env = {k: v for k, v in os.environ.items() if k != odb.PAUSE_ENV} | {"PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    _read_line(proc, "ready")
    yield proc
    _, err = proc.communicate(timeout=SIGNAL_TIMEOUT_S)  # stdin closed: the zygote ends
    assert proc.returncode == 0, err[-3000:]


def _read_line(proc: subprocess.Popen, what: str) -> str:
    line = proc.stdout.readline().strip()
    if not line.startswith(what):
        proc.kill()
        raise AssertionError(f"expected {what!r} from the desk process, got {line!r}: {proc.communicate()[1][-3000:]}")
    return line


def _kill_inside(zygote: subprocess.Popen, root: str, oid: str, action: str, mode: str) -> None:
    """Start a desk process on ``oid`` and SIGKILL it at ``mode``'s moment."""
    zygote.stdin.write(f"{root}\t{oid}\t{action}\t{mode}\n")
    zygote.stdin.flush()
    pid = int(_read_line(zygote, "PID ").split()[1])
    _read_line(zygote, "COMMITTED" if mode == "done" else "INSIDE")
    os.kill(pid, signal.SIGKILL)
    assert _read_line(zygote, "EXIT ") == f"EXIT {-signal.SIGKILL}"  # killed, not finished


def test_killed_desk_process_leaves_last_committed_state(root: str, zygote: subprocess.Popen) -> None:
    before = {oid: (odb.get_order(REGION, oid, root=root), odb.history(REGION, oid, root=root))
              for oid, *_ in CASES}
    for oid, action, mode, after in CASES:  # one at a time: each kill is checked before the next write
        _kill_inside(zygote, root, oid, action, mode)
        if mode == "done" and store.database_url(root) is None:  # committed, never checkpointed: only in the WAL
            assert (Path(root) / REGION / f"{odb.ORDERS_FILE}-wal").stat().st_size > 0
        _log_opens_at_once(root)
        row, events = odb.get_order(REGION, oid, root=root), odb.history(REGION, oid, root=root)
        old_row, old_events = before[oid]
        assert row["status"] == after == events["state"].iloc[-1], (oid, mode)
        assert _stored_seq(root, oid) == int(events["seq"].iloc[-1])  # the current row is the last event's
        assert events["seq"].tolist() == list(range(1, len(events) + 1))
        if mode == "done":  # exactly one event more, the killed one's
            assert _records(events.iloc[:-1]) == _records(old_events)
            assert events["event"].iloc[-1] == action and events["actor"].iloc[-1] == "operator-killed"
            assert (events["event"] == action).sum() == 1
        else:  # nothing of the killed write: no half event, the row as it was
            assert _records(events) == _records(old_events)
            assert row == old_row

    # the desk shows them: the killed dispatches are back in the queue, the killed accept is overdue when late
    assert {"K1", "K2"} <= set(queue(REGION, root=root)["id"]) and "K3" not in set(queue(REGION, root=root)["id"])
    late = T0 + dt.timedelta(minutes=Settings().desk_accept_timeout_min + 1)
    assert "K4" in set(odb.overdue(REGION, late, settings=Settings(), root=root)["id"])

    # and the desk carries on at once: a new dispatch, a new accept; the committed dispatch is not done twice
    t = time.perf_counter()
    assert odb.dispatch(REGION, "K1", "P1", "C1", actor="s", root=root, now=T0)["status"] == "已派单"
    assert odb.transition(REGION, "K4", "已接单", actor="s", expected="已派单", root=root, now=T0)["status"] == "已接单"
    assert time.perf_counter() - t < 5.0  # no wait for a lock the killed process held (SQLite waits up to 30 s)
    with pytest.raises(StaleOrderError, match="当前状态为“已派单”"):
        odb.dispatch(REGION, "K3", "P1", "C2", actor="s", root=root, now=T0)
    assert (odb.history(REGION, "K3", root=root)["event"] == "已派单").sum() == 1
    assert (odb.history(REGION, "K5", root=root)["event"] == "已接单").sum() == 1
