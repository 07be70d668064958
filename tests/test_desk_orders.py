"""The order log (desk.orders_db): the flow, optimistic checks, side events, rollback, a state-machine property,
and two real processes dispatching one carer at once — on the folder store (SQLite) and on PostGIS."""

from __future__ import annotations

import datetime as dt
import functools
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pg_support import new_database
from shapely.geometry import Point

from data import store
from desk import orders_db as odb
from desk.errors import CarerBusyError, DeskError, OrderNotFoundError, OrderStoreError, StaleOrderError
from geo.settings import Settings

REPO = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2026, 12, 1, 8, 0)


def _save_region(root: str | Path, name: str = "desk") -> None:
    layer = gpd.GeoDataFrame({"id": ["P1"]}, geometry=[Point(113.6, 34.7)], crs=4326)
    store.save_region(name, {"facilities": layer}, {}, root=root)


@pytest.fixture(params=["files", "postgis"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "files":
        _save_region(tmp_path)
        return str(tmp_path)
    url = new_database(request.getfixturevalue("postgis_url"))
    store.migrate_database(url)
    _save_region(url)
    return url


def _order(oid: str, start: str, end: str, **extra: object) -> dict[str, object]:
    return {"id": oid, "item_codes": ["A01"], "window_start": f"2026-12-01 {start}",
            "window_end": f"2026-12-01 {end}", "elder_id": "E1", **extra}


def test_full_flow_history_and_current_row(root: str) -> None:
    oid = odb.create_order("desk", _order("O1", "09:00", "10:00", channel="12349热线"), actor="王芳", root=root,
                           now=T0)
    steps = [("已接单", T0 + dt.timedelta(minutes=5)), ("服务中", T0 + dt.timedelta(minutes=62)),
             ("已完成", T0 + dt.timedelta(minutes=120))]
    odb.dispatch("desk", oid, "P1", "C1", actor="王芳", root=root, now=T0 + dt.timedelta(minutes=1))
    for state, at in steps:
        odb.transition("desk", oid, state, actor="C1", root=root, now=at)
    done = odb.transition("desk", oid, "已回访", actor="王芳", root=root, satisfaction=4, complaint=False,
                          remarks="=HYPERLINK(\"x\")", now=T0 + dt.timedelta(hours=5))
    assert done["status"] == "已回访" and done["satisfaction"] == 4 and done["complaint"] is False
    row = odb.get_order("desk", oid, root=root)
    assert row["dispatched_at"] == T0 + dt.timedelta(minutes=1)
    assert row["accepted_at"] == T0 + dt.timedelta(minutes=5) and row["started_at"] == dt.datetime(2026, 12, 1, 9, 2)
    assert row["provider_id"] == "P1" and row["carer_id"] == "C1" and row["item_codes"] == ["A01"]
    events = odb.history("desk", oid, root=root)
    assert events["event"].tolist() == ["创建", "已派单", "已接单", "服务中", "已完成", "已回访"]
    assert events["seq"].tolist() == [1, 2, 3, 4, 5, 6]
    assert events["actor"].tolist() == ["王芳", "王芳", "C1", "C1", "C1", "王芳"]
    frame = odb.current_orders("desk", root=root)
    assert list(frame.columns) == list(odb.ORDER_COLUMNS) and frame["status"].tolist() == ["已回访"]
    assert str(frame["window_start"].dtype) == "datetime64[ns]"


def test_conflict_message_and_release_by_side_events(root: str) -> None:
    a = odb.create_order("desk", _order("A", "09:00", "10:00"), actor="s", root=root, now=T0)
    b = odb.create_order("desk", _order("B", "09:30", "10:30"), actor="s", root=root, now=T0)
    c = odb.create_order("desk", _order("C", "10:00", "11:00"), actor="s", root=root, now=T0)  # touches A: no clash
    odb.dispatch("desk", a, "P1", "C1", actor="s", root=root, now=T0)
    with pytest.raises(CarerBusyError, match="^护理员 C1 在 09:00–10:00 已有工单 A，请选择其他护理员$"):
        odb.dispatch("desk", b, "P1", "C1", actor="s", root=root, now=T0)
    assert odb.get_order("desk", b, root=root)["status"] == "待派单"
    assert len(odb.history("desk", b, root=root)) == 1  # nothing written by the refusal
    odb.dispatch("desk", c, "P1", "C1", actor="s", root=root, now=T0)
    odb.transition("desk", c, "已取消", expected="已派单", actor="s", root=root, now=T0)  # frees 10:00–11:00
    odb.transition("desk", a, "拒单", expected="已派单", actor="C1", root=root, note="临时有事", now=T0)
    refused = odb.history("desk", a, root=root).iloc[-1]
    assert (refused["event"], refused["state"], refused["provider_id"], refused["carer_id"]) == ("拒单", "待派单", "P1",
                                                                                                "C1")
    assert odb.get_order("desk", a, root=root)["carer_id"] is None
    assert odb.dispatch("desk", b, "P1", "C1", actor="s", root=root, now=T0)["status"] == "已派单"  # freed by 拒单


def test_stale_state_and_illegal_moves_write_nothing(root: str) -> None:
    oid = odb.create_order("desk", _order("S", "09:00", "10:00"), actor="s", root=root, now=T0)
    odb.dispatch("desk", oid, "P1", "C1", actor="s", root=root, now=T0)
    with pytest.raises(StaleOrderError, match="当前状态为“已派单”（页面显示为“待派单”）"):
        odb.dispatch("desk", oid, "P1", "C2", actor="s", root=root, now=T0)
    with pytest.raises(DeskError, match="不能执行“已完成”"):
        odb.transition("desk", oid, "已完成", actor="s", root=root, now=T0)
    with pytest.raises(DeskError, match="满意度应为 1–5"):
        odb.transition("desk", oid, "已回访", actor="s", root=root, satisfaction=7)
    with pytest.raises(OrderNotFoundError, match="找不到工单 X"):
        odb.transition("desk", "X", "已接单", actor="s", root=root)
    with pytest.raises(DeskError, match="工单编号 S 已存在"):
        odb.create_order("desk", _order("S", "09:00", "10:00"), actor="s", root=root, now=T0)
    assert odb.history("desk", oid, root=root)["event"].tolist() == ["创建", "已派单"]


def test_overdue_timeout_and_ingest_idempotent(root: str) -> None:
    settings = Settings(desk_accept_timeout_min=10)
    a = odb.create_order("desk", _order("A", "09:00", "10:00"), actor="s", root=root, now=T0)
    b = odb.create_order("desk", _order("B", "09:00", "10:00"), actor="s", root=root, now=T0)
    odb.dispatch("desk", a, "P1", "C1", actor="s", root=root, now=T0)
    odb.dispatch("desk", b, "P1", "C2", actor="s", root=root, now=T0 + dt.timedelta(minutes=5))
    late = odb.overdue("desk", T0 + dt.timedelta(minutes=12), settings=settings, root=root)
    assert late["id"].tolist() == ["A"] and late["waiting_min"].tolist() == [12.0]
    assert odb.overdue("desk", T0 + dt.timedelta(minutes=10), settings=settings, root=root).empty  # exactly 10: not yet
    odb.transition("desk", a, "超时", expected="已派单", actor="system", root=root, now=T0 + dt.timedelta(minutes=12))
    assert odb.get_order("desk", a, root=root)["status"] == "待派单"
    imported = pd.DataFrame([
        {"id": "A", "item_codes": "A01", "window_start": "2026-12-01 09:00", "window_end": "2026-12-01 10:00",
         "status": "已完成", "provider_id": "P1", "carer_id": "C9"},
        {"id": "N1", "item_codes": "A01、A02", "window_start": "2026-11-03 09:00", "window_end": "2026-11-03 10:00",
         "status": "已回访", "provider_id": "P1", "carer_id": "C9", "satisfaction": 5, "complaint": False,
         "started_at": "2026-11-03 09:05", "completed_at": "2026-11-03 09:55", "events": ["超时"]},
    ])
    assert odb.ingest_orders("desk", imported, root=root, now=T0) == (1, 1)
    assert odb.ingest_orders("desk", imported, root=root, now=T0) == (0, 2)
    assert odb.get_order("desk", "A", root=root)["status"] == "待派单"  # an existing id is left as it is
    n1 = odb.get_order("desk", "N1", root=root)
    assert n1["status"] == "已回访" and n1["item_codes"] == ["A01", "A02"] and n1["satisfaction"] == 5
    assert odb.history("desk", "N1", root=root)[["event", "state", "provider_id"]].values.tolist() == [
        ["超时", "待派单", "P1"], ["导入", "已回访", "P1"]]
    bad = imported.assign(id=["Z1", "Z2"], status=["已完成", "无效状态"])
    with pytest.raises(DeskError, match="工单 Z2：状态“无效状态”无效"):
        odb.ingest_orders("desk", bad, root=root, now=T0)
    assert "Z1" not in set(odb.current_orders("desk", root=root)["id"])  # all or nothing


def test_failed_write_leaves_last_committed_state(tmp_path: Path) -> None:
    """A failure between writing the current row and the event (here: the event's key is taken) rolls the whole
    transition back: the order stays in its last committed state, the log has no doubled or half event."""
    _save_region(tmp_path)
    oid = odb.create_order("desk", _order("R", "09:00", "10:00"), actor="s", root=tmp_path, now=T0)
    with sqlite3.connect(tmp_path / "desk" / odb.ORDERS_FILE) as conn:  # a stray event with the next seq
        conn.execute("INSERT INTO order_events VALUES ('desk', 'R', 2, '2026-12-01 08:00:00', '已派单', '已派单', "
                     "'x', 'P9', 'C9', NULL)")
    with pytest.raises(OrderStoreError, match="保持上一次成功保存的状态"):
        odb.dispatch("desk", oid, "P1", "C1", actor="s", root=tmp_path, now=T0)
    row = odb.get_order("desk", oid, root=tmp_path)
    assert row["status"] == "待派单" and row["carer_id"] is None
    with sqlite3.connect(tmp_path / "desk" / odb.ORDERS_FILE) as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE order_events SET state = '已取消'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM order_events")


def test_region_must_exist(tmp_path: Path) -> None:
    with pytest.raises(store.RegionNotFoundError, match="找不到地区“nowhere”"):
        odb.current_orders("nowhere", root=tmp_path)


# ---------------------------------------------------------------- state machine property

ACTIONS = [*odb.MOVES, "已派单"]
_counter = iter(range(10**9))


@functools.cache
def _hypo_root() -> str:
    root = tempfile.mkdtemp(prefix="eldermap-desk-hypo-")
    _save_region(root, "hypo")
    return root


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=st.lists(st.tuples(st.sampled_from(ACTIONS), st.none() | st.sampled_from(odb.STATES)), min_size=1,
                        max_size=9))
def test_random_transitions_follow_the_flow(actions: list[tuple[str, str | None]]) -> None:
    """Whatever sequence of actions (with whatever page state as ``expected``), the log only ever holds legal
    moves: an action succeeds exactly when the flow allows it from the current state and the expected state is
    right; the current state always equals the last event's state; seqs run 1, 2, 3…"""
    oid, root = f"H{next(_counter)}", _hypo_root()
    odb.create_order("hypo", _order(oid, "09:00", "10:00"), actor="s", root=root, now=T0)
    model = "待派单"
    for action, use_seen in actions:
        legal = model in odb.MOVES[action][0] and (use_seen is None or use_seen == model)
        try:
            if action == "已派单":
                odb.dispatch("hypo", oid, "P1", f"C{oid}", actor="s", expected=use_seen, root=root, now=T0)
            else:
                odb.transition("hypo", oid, action, actor="s", expected=use_seen, root=root, now=T0,
                               satisfaction=5)
        except DeskError:
            assert not legal
        else:
            assert legal
            model = odb.MOVES[action][1]
        events = odb.history("hypo", oid, root=root)
        current = odb.get_order("hypo", oid, root=root)
        assert current["status"] == model == events["state"].iloc[-1]
        assert events["seq"].tolist() == list(range(1, len(events) + 1))
        assert set(events["state"]) <= set(odb.STATES)
        if model in (*odb.ACTIVE_STATES, *odb.DONE_STATES):
            assert current["carer_id"] == f"C{oid}"
        elif model == "待派单":
            assert current["carer_id"] is None  # 拒单、超时、未上门 release the carer


# ---------------------------------------------------------------- two processes at once

_RACER = textwrap.dedent("""
    import sys, time, datetime as dt
    from pathlib import Path
    from desk import orders_db as odb
    from desk.errors import CarerBusyError
    order_id = sys.argv[1]
    for root, go in zip(sys.argv[2::2], sys.argv[3::2]):
        print("ready", flush=True)
        while not Path(go).exists():
            time.sleep(0.001)
        try:
            odb.dispatch("race", order_id, "P1", "C7", actor=order_id, root=root, now=dt.datetime(2026, 12, 1, 8))
            print("WON", flush=True)
        except CarerBusyError as exc:
            print("BUSY " + str(exc), flush=True)
""")


def test_two_processes_dispatch_one_carer_exactly_one_wins(tmp_path: Path, postgis_url: str) -> None:
    """Two real processes dispatch orders R1 (09:00–10:00) and R2 (09:30–10:30) to carer C7 at the same moment,
    first in a folder store (SQLite), then in PostGIS: each time exactly one wins and the other gets the
    conflict message naming the winner's order and window. Each dispatch waits 0.25 s inside its transaction
    (:data:`desk.orders_db.PAUSE_ENV`), so without the locks both would pass the overlap check."""
    url = new_database(postgis_url)
    store.migrate_database(url)
    roots = [str(tmp_path / "regions"), url]
    for root in roots:
        _save_region(root, "race")
        for oid, (a, b) in {"R1": ("09:00", "10:00"), "R2": ("09:30", "10:30")}.items():
            odb.create_order("race", _order(oid, a, b), actor="s", root=root, now=T0)
    gos = [tmp_path / "go-files", tmp_path / "go-postgis"]
    args = [x for root, go in zip(roots, gos, strict=True) for x in (root, str(go))]
    env = {**os.environ, "PYTHONPATH": str(REPO), odb.PAUSE_ENV: "0.25"}  # both inside the window at once
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, oid, *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=REPO, env=env) for oid in ("R1", "R2")]
    try:
        for root, go in zip(roots, gos, strict=True):
            for p in procs:
                assert p.stdout.readline().strip() == "ready", p.stderr.read() if p.poll() is not None else ""
            time.sleep(0.05)
            go.touch()
            lines = [p.stdout.readline().strip() for p in procs]
            assert sorted(line.split()[0] for line in lines if line) == ["BUSY", "WON"], (root, lines)
            winner = "R1" if lines[0] == "WON" else "R2"
            loser = "R2" if winner == "R1" else "R1"
            window = "09:00–10:00" if winner == "R1" else "09:30–10:30"
            assert lines[1 if loser == "R2" else 0] == f"BUSY 护理员 C7 在 {window} 已有工单 {winner}，请选择其他护理员"
            current = odb.current_orders("race", root=root).set_index("id")
            assert current.loc[winner, "status"] == "已派单" and current.loc[loser, "status"] == "待派单"
            assert len(odb.history("race", loser, root=root)) == 1
    finally:
        for p in procs:
            p.communicate(timeout=60)
    assert [p.returncode for p in procs] == [0, 0]


def test_items_map_names_and_make_emergencies_urgent(tmp_path: Path) -> None:
    _save_region(tmp_path)
    items = pd.DataFrame({"code": ["A01", "A09"], "name": ["助浴服务", "紧急呼叫响应"], "category": ["生活照料", "紧急救援"]})
    oid = odb.create_order("desk", _order("U", "09:00", "10:00", item_codes="助浴服务、A09"), actor="s", root=tmp_path,
                           items=items, now=T0)
    row = odb.get_order("desk", oid, root=tmp_path)
    assert row["item_codes"] == ["A01", "A09"] and row["urgency"] == "紧急"
    plain = odb.create_order("desk", _order("V", "09:00", "10:00", item_codes=["A01"]), actor="s", root=tmp_path,
                             items=items, now=T0)
    assert odb.get_order("desk", plain, root=tmp_path)["urgency"] == "普通"
    with pytest.raises(DeskError, match="工单 W：服务项目 B7 不在服务清单中；预约结束时间 2026-12-01 08:00 应晚于开始时间"):
        odb.create_order("desk", _order("W", "09:00", "08:00", item_codes=["B7"]), actor="s", root=tmp_path,
                         items=items, now=T0)
