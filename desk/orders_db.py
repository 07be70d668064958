"""The live order log of a region (服务工单), kept in the region's store.

Two tables, written together in one transaction per change:

- ``order_events`` — append-only (an UPDATE or DELETE trigger refuses changes): one row per thing that happened
  to an order: ``order_id, seq, at, event, state, actor, provider_id, carer_id, note``. ``event`` is what
  happened (创建、导入、已派单、已接单、服务中、已完成、已回访、已取消, or the side events 拒单、超时、未上门),
  ``state`` the order's state after it, ``actor`` the staff user name or "system";
- ``orders_current`` — one row per order in the columns of the ``orders`` table of the design
  (:data:`ORDER_COLUMNS`) plus the ``seq`` of its last event. Its ``status`` always equals the ``state`` of the
  order's last event.

Where: for a folder store, ``<regions>/<region>/orders.sqlite`` beside the region's versions (orders outlive
imports, like scenarios); for a PostGIS store, the tables ``eldermap.orders_current`` and
``eldermap.order_events`` of the same database, created when first used (``CREATE TABLE IF NOT EXISTS`` under an
advisory lock; the ``eldermap`` schema itself comes from ``eldermap db init``).

Every change is one transaction that reads the order's current row under a lock (SQLite ``BEGIN IMMEDIATE``,
PostgreSQL ``SELECT … FOR UPDATE``), checks the state the caller expected (optimistic: a stale page gets
:class:`desk.errors.StaleOrderError`, never overwrites), writes the new event and the new current row, and
commits. A crash anywhere before the commit leaves the order in its last committed state; the event's primary
key (region, order_id, seq) makes a doubled event impossible. :func:`dispatch` also checks, inside the same
transaction (and, on PostgreSQL, under an advisory lock per carer), that the carer has no other active order
(已派单、已接单、服务中) whose window overlaps: of two desks dispatching one carer at once, exactly one wins.

States (the stored values are Chinese): 待派单 → 已派单 → 已接单 → 服务中 → 已完成 → 已回访; 已取消 is final.
Side events: 拒单 (refused, 已派单 → 待派单), 超时 (not accepted within ``settings.desk_accept_timeout_min``,
已派单 → 待派单, to be reassigned), 未上门 (no-show, 已接单 → 待派单); each is recorded as its own event with the
provider and carer it concerns, and the order returns to the queue without them.

Times are timezone-naive local times (the elders' wall clock, as the orders layer writes them); "now" defaults to
the current time in ``Settings().display_timezone``. No elder's data (id, address) is ever logged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import time
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data import store
from desk.errors import CarerBusyError, DeskError, OrderNotFoundError, OrderStoreError, StaleOrderError
from geo.errors import ElderMapError, RegionNotFoundError
from geo.settings import Settings

log = logging.getLogger(__name__)

ORDERS_FILE = "orders.sqlite"
"""File name of a folder region's order log (beside its versions)."""

STATES: tuple[str, ...] = ("待派单", "已派单", "已接单", "服务中", "已完成", "已回访", "已取消")
"""Order states, in flow order (已取消 is final)."""
SIDE_EVENTS: tuple[str, ...] = ("拒单", "超时", "未上门")
"""Events that send an order back to 待派单 (refused, not accepted in time, no-show)."""
ACTIVE_STATES: tuple[str, ...] = ("已派单", "已接单", "服务中")
"""States in which an order holds its carer (no other order of that carer may overlap it)."""
DONE_STATES: tuple[str, ...] = ("已完成", "已回访")
URGENCIES: tuple[str, ...] = ("普通", "紧急")
CHANNELS: tuple[str, ...] = ("12349热线", "网络平台", "智能终端", "工作人员")
EVENT_CREATE = "创建"
EVENT_IMPORT = "导入"

MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "已派单": (("待派单",), "已派单"),
    "已接单": (("已派单",), "已接单"),
    "服务中": (("已接单",), "服务中"),
    "已完成": (("服务中",), "已完成"),
    "已回访": (("已完成",), "已回访"),
    "已取消": (("待派单", "已派单", "已接单"), "已取消"),
    "拒单": (("已派单",), "待派单"),
    "超时": (("已派单",), "待派单"),
    "未上门": (("已接单",), "待派单"),
}
"""Each action (a target state or a side event): the states it may start from and the state it leads to."""

_STAMP = {"已派单": "dispatched_at", "已接单": "accepted_at", "服务中": "started_at", "已完成": "completed_at",
          "已回访": "followed_up_at"}

ORDER_COLUMNS: tuple[str, ...] = (
    "id", "elder_id", "lon", "lat", "item_codes", "window_start", "window_end", "urgency", "channel", "status",
    "provider_id", "carer_id", "created_at", "dispatched_at", "accepted_at", "started_at", "completed_at",
    "followed_up_at", "satisfaction", "complaint", "remarks", "subsidy_group")
"""Columns of :func:`current_orders` (the ``orders`` table of the design)."""
TIME_COLUMNS: tuple[str, ...] = ("window_start", "window_end", "created_at", "dispatched_at", "accepted_at",
                                 "started_at", "completed_at", "followed_up_at")
EVENT_COLUMNS: tuple[str, ...] = ("order_id", "seq", "at", "event", "state", "actor", "provider_id", "carer_id",
                                  "note")
"""Columns of :func:`history` and :func:`all_events`."""

_STATE_LIST = ", ".join(f"'{s}'" for s in STATES)
_SQLITE_DDL = f"""
CREATE TABLE IF NOT EXISTS orders_current (
    region TEXT NOT NULL, id TEXT NOT NULL, elder_id TEXT, lon REAL, lat REAL, item_codes TEXT NOT NULL,
    window_start TEXT NOT NULL, window_end TEXT NOT NULL, urgency TEXT NOT NULL, channel TEXT,
    status TEXT NOT NULL CHECK (status IN ({_STATE_LIST})),
    provider_id TEXT, carer_id TEXT, created_at TEXT, dispatched_at TEXT, accepted_at TEXT, started_at TEXT,
    completed_at TEXT, followed_up_at TEXT, satisfaction INTEGER, complaint INTEGER, remarks TEXT,
    subsidy_group TEXT, seq INTEGER NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (region, id)
);
CREATE INDEX IF NOT EXISTS orders_current_carer ON orders_current (region, carer_id, status);
CREATE INDEX IF NOT EXISTS orders_current_status ON orders_current (region, status);
CREATE INDEX IF NOT EXISTS orders_current_window ON orders_current (region, window_start);
CREATE TABLE IF NOT EXISTS order_events (
    region TEXT NOT NULL, order_id TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, event TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({_STATE_LIST})), actor TEXT NOT NULL, provider_id TEXT, carer_id TEXT,
    note TEXT,
    PRIMARY KEY (region, order_id, seq)
);
CREATE TRIGGER IF NOT EXISTS order_events_no_update BEFORE UPDATE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS order_events_no_delete BEFORE DELETE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;
"""
_PG_DDL = f"""
CREATE TABLE IF NOT EXISTS eldermap.orders_current (
    region text NOT NULL, id text NOT NULL, elder_id text, lon double precision, lat double precision,
    item_codes text NOT NULL, window_start timestamp NOT NULL, window_end timestamp NOT NULL, urgency text NOT NULL,
    channel text, status text NOT NULL CHECK (status IN ({_STATE_LIST})),
    provider_id text, carer_id text, created_at timestamp, dispatched_at timestamp, accepted_at timestamp,
    started_at timestamp, completed_at timestamp, followed_up_at timestamp, satisfaction integer, complaint boolean,
    remarks text, subsidy_group text, seq integer NOT NULL, updated_at timestamp NOT NULL,
    PRIMARY KEY (region, id)
);
CREATE INDEX IF NOT EXISTS orders_current_carer ON eldermap.orders_current (region, carer_id, status);
CREATE INDEX IF NOT EXISTS orders_current_status ON eldermap.orders_current (region, status);
CREATE INDEX IF NOT EXISTS orders_current_window ON eldermap.orders_current (region, window_start);
CREATE TABLE IF NOT EXISTS eldermap.order_events (
    region text NOT NULL, order_id text NOT NULL, seq integer NOT NULL, at timestamp NOT NULL, event text NOT NULL,
    state text NOT NULL CHECK (state IN ({_STATE_LIST})), actor text NOT NULL, provider_id text, carer_id text,
    note text,
    PRIMARY KEY (region, order_id, seq)
);
CREATE OR REPLACE TRIGGER order_events_append_only BEFORE UPDATE OR DELETE ON eldermap.order_events
    FOR EACH ROW EXECUTE FUNCTION eldermap.refuse_update();
"""
_PG_DDL_LOCK = int.from_bytes(hashlib.sha256(b"eldermap-orders-ddl").digest()[:8], "big", signed=True)
_PG_READY: set[str] = set()
_SQLITE_READY: set[str] = set()
_SQLITE_TIMEOUT_S = 30.0
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# ---------------------------------------------------------------- the two backends


class _Log:
    """One open order log: SQLite file or PostgreSQL connection, with ``%s`` placeholders in both."""

    def __init__(self, region: str, root: str | Path | None) -> None:
        self.region = region
        self.url = store.database_url(root)
        self.pg = self.url is not None
        self.t = "eldermap." if self.pg else ""
        self._stack = contextlib.ExitStack()
        if not store.region_exists(region, root=root):
            raise RegionNotFoundError(f"找不到地区“{region}”，无法读写其服务工单",
                                      f"region {region!r} not found for the order log")
        if self.pg:
            from data import store_postgis  # the database's connections and schema check (psycopg only here)

            self.conn = self._stack.enter_context(store_postgis.connect(self.url))
            self._ensure_pg_tables()
        else:
            path = store.regions_root(root) / region / ORDERS_FILE
            fresh = not path.exists()
            self.conn = sqlite3.connect(path, timeout=_SQLITE_TIMEOUT_S, isolation_level=None)
            self._stack.callback(self.conn.close)
            if fresh:
                os.chmod(path, 0o600)  # elders' pseudonyms and service addresses: staff only (-wal/-shm follow it)
            self.conn.execute("PRAGMA synchronous=FULL")
            key = str(path.resolve())
            if fresh or key not in _SQLITE_READY:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.executescript(_SQLITE_DDL)
                _SQLITE_READY.add(key)

    def _ensure_pg_tables(self) -> None:
        if self.url in _PG_READY:
            return
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_DDL_LOCK,))
            if self.conn.execute("SELECT to_regclass('eldermap.order_events')").fetchone()[0] is None:
                self.conn.execute(_PG_DDL)
            else:  # a log made before the status and window indexes existed gets them now
                self.conn.execute("CREATE INDEX IF NOT EXISTS orders_current_status ON eldermap.orders_current "
                                  "(region, status); CREATE INDEX IF NOT EXISTS orders_current_window ON "
                                  "eldermap.orders_current (region, window_start)")
        _PG_READY.add(self.url)

    def close(self) -> None:
        self._stack.close()

    def _params(self, params: Sequence[Any]) -> tuple[Any, ...]:
        if self.pg:
            return tuple(params)
        return tuple(v.strftime(_TIME_FORMAT) if isinstance(v, dt.datetime) else int(v) if isinstance(v, bool)
                     else v for v in params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        sql = sql.replace("{t}", self.t)
        if not self.pg:
            sql = sql.replace("%s", "?")
        return self.conn.execute(sql, self._params(params))

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """One transaction holding the write lock (SQLite) or a transaction whose rows are locked as read with
        ``FOR UPDATE`` (PostgreSQL)."""
        if self.pg:
            with self.conn.transaction():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def lock_carer(self, carer_id: str) -> None:
        """PostgreSQL: serialise dispatches of one carer until the transaction ends (SQLite: the write lock
        already does)."""
        if self.pg:
            key = int.from_bytes(hashlib.sha256(f"eldermap-carer:{self.region}:{carer_id}".encode()).digest()[:8],
                                 "big", signed=True)
            self.execute("SELECT pg_advisory_xact_lock(%s)", (key,))


@contextlib.contextmanager
def _open(region: str, root: str | Path | None) -> Iterator[_Log]:
    db = None
    try:
        db = _Log(region, root)
        yield db
    except ElderMapError:
        raise
    except sqlite3.Error as exc:
        raise _store_error(exc) from None
    except Exception as exc:
        if type(exc).__module__.startswith("psycopg"):
            raise _store_error(exc) from None
        raise
    finally:
        if db is not None:
            db.close()


def _store_error(exc: Exception) -> OrderStoreError:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = " ".join((primary or str(exc).split("\n", 1)[0]).split())  # never PostgreSQL's DETAIL (row values)
    if "locked" in text or "lock" in text.lower() and "timeout" in text.lower():
        zh = "服务工单库正忙（其他人正在写入），请稍后重试"
    elif "append-only" in text or "immutable" in text:
        zh = "服务工单的操作记录不可修改或删除"
    else:
        zh = "服务工单库读写失败，工单保持上一次成功保存的状态，请稍后重试或联系管理员"
    log.warning("order log error: %s: %s", type(exc).__name__, text)
    return OrderStoreError(zh, f"order log error: {type(exc).__name__}: {text}")


# ---------------------------------------------------------------- values


def local_now(settings: Settings | None = None) -> dt.datetime:
    """The current local wall-clock time (``settings.display_timezone``), timezone-naive, whole seconds."""
    zone = (settings or Settings()).display_timezone
    now = dt.datetime.now(zoneinfo.ZoneInfo(zone)) if zone else dt.datetime.now()
    return now.replace(tzinfo=None, microsecond=0)


def _missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def to_time(value: object, *, field: str = "时间") -> dt.datetime | None:
    """A local time from a datetime, pandas Timestamp or text such as "2026-12-01 09:00" (None when missing);
    seconds kept, time zone dropped."""
    if _missing(value):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DeskError(f"{field}“{value}”不是有效的日期时间，应写作 2026-12-01 09:00",
                        f"{field}: not a datetime: {value!r}") from None
    if stamp is pd.NaT:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp.to_pydatetime().replace(microsecond=0)


def split_tags(value: object) -> list[str]:
    """Tags of a cell: a list/array, or text separated by 、 , ， ; ； (empty items dropped, order kept)."""
    if isinstance(value, list | tuple | np.ndarray | pd.Series):
        items = [str(v).strip() for v in value if not _missing(v)]
    elif _missing(value):
        return []
    else:
        text = str(value)
        if text.startswith("[") and text.endswith("]"):
            try:
                return split_tags(json.loads(text))
            except ValueError:
                pass
        for sep in ",，;；":
            text = text.replace(sep, "、")
        items = [p.strip() for p in text.split("、")]
    return list(dict.fromkeys(i for i in items if i))


def _text(value: object) -> str | None:
    return None if _missing(value) else str(value).strip()


class _Catalogue:
    """The service list for checking orders: its codes, names → codes, and the codes of category 紧急救援."""

    def __init__(self, items: pd.DataFrame) -> None:
        codes = items["code"].astype(str).tolist() if "code" in items else []
        self.codes = set(codes)
        self.by_name = dict(zip(items["name"].astype(str), codes, strict=True)) if "name" in items else {}
        self.emergency = {c for c, cat in zip(codes, items["category"].astype(str), strict=True) if cat == "紧急救援"} \
            if "category" in items else set()


def _catalogue(items: pd.DataFrame | None) -> _Catalogue | None:
    return _Catalogue(items) if items is not None and len(items) else None


def _order_record(order: Mapping[str, Any], *, imported: bool, items: _Catalogue | None,
                  now: dt.datetime) -> dict[str, Any]:
    """A new order's row for ``orders_current`` (no ``seq``/``updated_at``), checked; all problems in one error."""
    problems: list[str] = []
    rec: dict[str, Any] = {c: None for c in ORDER_COLUMNS}
    oid = _text(order.get("id"))
    if oid is None:
        if imported:
            problems.append("缺少工单编号")
        oid = f"O{now.strftime('%Y%m%d%H%M%S')}{secrets.token_hex(2).upper()}"
    rec["id"] = oid
    rec["elder_id"] = _text(order.get("elder_id"))
    codes = split_tags(order.get("item_codes"))
    if not codes:
        problems.append("缺少服务项目（item_codes）")
    if items is not None and codes:
        mapped = [c if c in items.codes else items.by_name.get(c, c) for c in codes]
        unknown = [c for c in mapped if c not in items.codes]
        if unknown:
            problems.append(f"服务项目 {'、'.join(unknown)} 不在服务清单中")
        codes = list(dict.fromkeys(mapped))
    rec["item_codes"] = codes
    for name, label in (("window_start", "预约开始时间"), ("window_end", "预约结束时间")):
        try:
            rec[name] = to_time(order.get(name), field=label)
        except DeskError as exc:
            problems.append(str(exc))
        if rec[name] is None and not any(label in p for p in problems):
            problems.append(f"缺少{label}（{name}）")
    if rec["window_start"] and rec["window_end"] and rec["window_end"] <= rec["window_start"]:
        problems.append(f"预约结束时间 {rec['window_end']:%Y-%m-%d %H:%M} 应晚于开始时间 "
                        f"{rec['window_start']:%Y-%m-%d %H:%M}")
    urgency = _text(order.get("urgency")) or "普通"
    if items is not None and items.emergency.intersection(codes):
        urgency = "紧急"
    if urgency not in URGENCIES:
        problems.append(f"紧急程度“{urgency}”无效，应为 {'、'.join(URGENCIES)}")
    rec["urgency"] = urgency
    channel = _text(order.get("channel")) or "工作人员"
    if channel not in CHANNELS:
        problems.append(f"来源渠道“{channel}”无效，应为 {'、'.join(CHANNELS)}")
    rec["channel"] = channel
    lon, lat = order.get("lon"), order.get("lat")
    if not _missing(lon) and not _missing(lat):
        try:
            rec["lon"], rec["lat"] = float(lon), float(lat)
        except (TypeError, ValueError):
            problems.append("服务地址坐标不是数字")
        else:
            if not (-180 <= rec["lon"] <= 180 and -90 <= rec["lat"] <= 90):
                problems.append("服务地址坐标超出经纬度范围")
    rec["subsidy_group"] = _text(order.get("subsidy_group"))
    rec["remarks"] = _text(order.get("remarks"))
    status = _text(order.get("status")) if imported else None
    status = status or "待派单"
    if status not in STATES:
        problems.append(f"状态“{status}”无效，应为 {'、'.join(STATES)}")
    rec["status"] = status
    if imported:
        rec["provider_id"], rec["carer_id"] = _text(order.get("provider_id")), _text(order.get("carer_id"))
        for name in TIME_COLUMNS[2:]:
            try:
                rec[name] = to_time(order.get(name), field=name)
            except DeskError as exc:
                problems.append(str(exc))
        sat = order.get("satisfaction")
        if not _missing(sat):
            try:
                rec["satisfaction"] = _satisfaction(sat)
            except DeskError as exc:
                problems.append(str(exc))
        complaint = order.get("complaint")
        rec["complaint"] = None if _missing(complaint) else bool(complaint)
        if status in ACTIVE_STATES + DONE_STATES and not (rec["provider_id"] and rec["carer_id"]):
            problems.append(f"状态为{status}的工单须有服务商编号和护理员编号")
    rec["created_at"] = rec["created_at"] or now
    if imported:
        rec["_events"] = split_tags(order.get("events"))
        wrong = [e for e in rec["_events"] if e not in SIDE_EVENTS]
        if wrong:
            problems.append(f"异常记录“{'、'.join(wrong)}”无效，应为 {'、'.join(SIDE_EVENTS)}")
    if problems:
        raise DeskError(f"工单 {oid}：" + "；".join(problems), f"order {oid}: {len(problems)} problems")
    return rec


def _satisfaction(value: object) -> int:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = np.nan
    if not (number == int(number) if np.isfinite(number) else False) or not 1 <= number <= 5:
        raise DeskError(f"满意度应为 1–5 的整数（收到 {value}）", f"satisfaction must be 1-5, got {value!r}")
    return int(number)


_CURRENT_COLUMNS = (*ORDER_COLUMNS, "seq", "updated_at")


def _insert_current(db: _Log, rec: Mapping[str, Any]) -> None:
    values = [json.dumps(rec[c], ensure_ascii=False) if c == "item_codes" else rec.get(c) for c in _CURRENT_COLUMNS]
    db.execute(f"INSERT INTO {{t}}orders_current (region, {', '.join(_CURRENT_COLUMNS)}) "
               f"VALUES (%s, {', '.join(['%s'] * len(_CURRENT_COLUMNS))})", [db.region, *values])


def _insert_event(db: _Log, order_id: str, seq: int, at: dt.datetime, event: str, state: str, actor: str,
                  provider_id: str | None, carer_id: str | None, note: str | None) -> None:
    db.execute("INSERT INTO {t}order_events (region, order_id, seq, at, event, state, actor, provider_id, carer_id, "
               "note) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
               (db.region, order_id, seq, at, event, state, actor, provider_id, carer_id, note or None))


def _actor(actor: str) -> str:
    actor = (actor or "").strip()
    if not actor:
        raise DeskError("须注明操作人（工作人员账号或 system）", "actor is required")
    return actor


# ---------------------------------------------------------------- writing


def create_order(region: str, order: Mapping[str, Any], *, actor: str, root: str | Path | None = None,
                 items: pd.DataFrame | None = None, now: dt.datetime | None = None) -> str:
    """Record a new order (服务确认) as 待派单; returns its id (made up as ``O<time><hex>`` when not given).

    Parameters
    ----------
    order
        Fields of the ``orders`` table: ``item_codes`` (codes or names; a list or text separated by 、),
        ``window_start``, ``window_end`` (local times), optional ``id``, ``elder_id``, ``lon``/``lat`` (WGS-84),
        ``urgency`` (普通/紧急), ``channel``, ``subsidy_group``, ``remarks``.
    items
        The service list (``code``, ``name``, ``category``): names are mapped to codes, unknown codes refused,
        and an item of category 紧急救援 makes the order 紧急.
    """
    actor = _actor(actor)
    now = now or local_now()
    rec = _order_record(order, imported=False, items=_catalogue(items), now=now)
    rec.update(seq=1, updated_at=now)
    with _open(region, root) as db, db.write():
        if db.rows("SELECT 1 AS x FROM {t}orders_current WHERE region = %s AND id = %s", (region, rec["id"])):
            raise DeskError(f"工单编号 {rec['id']} 已存在", f"order {rec['id']} exists")
        _insert_current(db, rec)
        _insert_event(db, rec["id"], 1, now, EVENT_CREATE, "待派单", actor, None, None, None)
    log.info("order %s created in %s by %s", rec["id"], region, actor)
    return rec["id"]


def ingest_orders(region: str, orders: pd.DataFrame, *, actor: str = "system", root: str | Path | None = None,
                  items: pd.DataFrame | None = None, now: dt.datetime | None = None) -> tuple[int, int]:
    """Bring an imported ``orders`` layer into the log, idempotently by order id: orders not in the log yet are
    added with their status, timestamps and follow-up (one 导入 event each); ids already there are left as they
    are. The file's 异常记录 (``events``: 拒单、超时、未上门) become events of the order's provider and carer, before
    the 导入 event. All in one transaction; every invalid row is named in one error and nothing is added.
    Returns (added, already present)."""
    actor = _actor(actor)
    now = now or local_now()
    records, problems = [], []
    catalogue = _catalogue(items)
    for row in orders.drop(columns=[c for c in ("geometry",) if c in orders]).to_dict("records"):
        try:
            records.append(_order_record(row, imported=True, items=catalogue, now=now))
        except DeskError as exc:
            problems.append(str(exc))
    if problems:
        more = f"等 {len(problems)} 条" if len(problems) > 20 else ""
        raise DeskError("导入的服务工单有误，未导入任何工单：" + "；".join(problems[:20]) + more,
                        f"{len(problems)} invalid orders")
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise DeskError(f"导入的服务工单编号重复：{'、'.join(dup[:20])}", f"duplicate order ids {dup[:20]}")
    added = 0
    with _open(region, root) as db, db.write():
        have = {r["id"] for r in db.rows("SELECT id FROM {t}orders_current WHERE region = %s", (region,))}
        for rec in records:
            if rec["id"] in have:
                continue
            side = rec.pop("_events")
            rec.update(seq=len(side) + 1, updated_at=now)
            _insert_current(db, rec)
            for k, event in enumerate(side, start=1):  # the file's 异常记录, before the import itself
                _insert_event(db, rec["id"], k, now, event, "待派单", actor, rec["provider_id"], rec["carer_id"],
                              "导入的异常记录")
            _insert_event(db, rec["id"], len(side) + 1, now, EVENT_IMPORT, rec["status"], actor, rec["provider_id"],
                          rec["carer_id"], None)
            added += 1
    log.info("orders imported into %s: %d added, %d already present", region, added, len(records) - added)
    return added, len(records) - added


def _current_row(db: _Log, order_id: str) -> dict[str, Any]:
    lock = " FOR UPDATE" if db.pg else ""
    rows = db.rows("SELECT * FROM {t}orders_current WHERE region = %s AND id = %s" + lock, (db.region, order_id))
    if not rows:
        raise OrderNotFoundError(f"找不到工单 {order_id}", f"order {order_id!r} not found")
    return rows[0]


def _check_move(row: Mapping[str, Any], action: str, expected: str | None) -> str:
    """The state ``action`` leads to from ``row``'s state; Chinese errors for an unknown action, a stale state
    or a move the flow does not allow."""
    if action not in MOVES:
        raise DeskError(f"不支持的操作“{action}”，可用：{'、'.join(MOVES)}", f"unknown action {action!r}")
    state = row["status"]
    if expected is not None and state != expected:
        raise StaleOrderError(f"工单 {row['id']} 当前状态为“{state}”（页面显示为“{expected}”），可能已被他人处理，"
                              "请刷新后重试", f"order {row['id']} is {state!r}, expected {expected!r}")
    sources, target = MOVES[action]
    if state not in sources:
        raise DeskError(f"工单 {row['id']} 当前状态为“{state}”，不能执行“{action}”"
                        f"（“{action}”只适用于{'、'.join(sources)}的工单）",
                        f"order {row['id']}: {action!r} not allowed from {state!r}")
    return target


def window_span_zh(start: object, end: object, *, day: dt.date | None = None) -> str:
    """A window as "09:00–10:00", with "12月2日 " in front when it is not on ``day``."""
    a, b = to_time(start), to_time(end)
    if a is None or b is None:
        return ""
    prefix = "" if day is not None and a.date() == day else f"{a.month}月{a.day}日 "
    return f"{prefix}{a:%H:%M}–{b:%H:%M}"


def busy_message(carer_id: str, other_id: str, start: object, end: object, *, day: dt.date | None = None) -> str:
    """"护理员 X 在 09:00–10:00 已有工单 Y，请选择其他护理员" (the date too when it is not ``day``)."""
    return f"护理员 {carer_id} 在 {window_span_zh(start, end, day=day)} 已有工单 {other_id}，请选择其他护理员"


def _apply(db: _Log, row: dict[str, Any], action: str, target: str, *, actor: str, now: dt.datetime,
           provider_id: str | None = None, carer_id: str | None = None, note: str | None = None,
           extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write the event and the new current row (inside the caller's transaction); returns the new row."""
    seq = int(row["seq"]) + 1
    changes: dict[str, Any] = {"status": target, "seq": seq, "updated_at": now}
    event_provider, event_carer = row.get("provider_id"), row.get("carer_id")
    if action == "已派单":
        changes.update(provider_id=provider_id, carer_id=carer_id, dispatched_at=now, accepted_at=None,
                       started_at=None)
        event_provider, event_carer = provider_id, carer_id
    elif action in _STAMP:
        changes[_STAMP[action]] = now
    if action in SIDE_EVENTS:
        changes.update(provider_id=None, carer_id=None, dispatched_at=None, accepted_at=None)
    changes.update(extra or {})
    sets = ", ".join(f"{k} = %s" for k in changes)
    cur = db.execute(f"UPDATE {{t}}orders_current SET {sets} WHERE region = %s AND id = %s AND seq = %s",
                     [*changes.values(), db.region, row["id"], row["seq"]])
    if cur.rowcount != 1:  # never, under the lock; a guard all the same
        raise StaleOrderError(f"工单 {row['id']} 已被他人修改，请刷新后重试", f"order {row['id']} changed under us")
    _insert_event(db, row["id"], seq, now, action, target, actor, event_provider, event_carer, note)
    return {**row, **changes}


PAUSE_ENV = "ELDERMAP_DESK_PAUSE_S"
"""Testing aid: seconds :func:`dispatch` waits inside its transaction, locks held, before the overlap check — so a
test can start two dispatches inside each other's window and see that the locks, not luck, keep them apart."""


def _pause_for_tests() -> None:
    pause = os.environ.get(PAUSE_ENV, "")
    if pause:
        time.sleep(min(5.0, max(0.0, float(pause))))


def dispatch(region: str, order_id: str, provider_id: str, carer_id: str, *, actor: str,
             expected: str | None = "待派单", root: str | Path | None = None, now: dt.datetime | None = None,
             note: str = "") -> dict[str, Any]:
    """派单: give order ``order_id`` to a provider and one of its carers (待派单 → 已派单), in one transaction that
    refuses when the carer already has an active order (已派单、已接单、服务中) whose window overlaps this one's.

    Raises
    ------
    CarerBusyError
        "护理员 X 在 09:00–10:00 已有工单 Y，请选择其他护理员"; nothing is written.
    StaleOrderError
        The order is no longer in state ``expected`` (someone else dispatched or cancelled it).
    """
    actor = _actor(actor)
    provider_id, carer_id = (provider_id or "").strip(), (carer_id or "").strip()
    if not provider_id or not carer_id:
        raise DeskError("派单须选择服务商和护理员", "dispatch needs a provider and a carer")
    now = now or local_now()
    with _open(region, root) as db, db.write():
        row = _current_row(db, order_id)
        target = _check_move(row, "已派单", expected)
        db.lock_carer(carer_id)
        _pause_for_tests()
        clash = db.rows(
            "SELECT id, window_start, window_end FROM {t}orders_current "
            + ("" if db.pg else "INDEXED BY orders_current_carer ")  # SQLite would scan the window index: all history
            + "WHERE region = %s AND carer_id = %s AND id <> %s "
            f"AND status IN ({', '.join(['%s'] * len(ACTIVE_STATES))}) AND window_start < %s AND %s < window_end "
            "ORDER BY window_start LIMIT 1",
            (region, carer_id, order_id, *ACTIVE_STATES, row["window_end"], row["window_start"]))
        if clash:
            other = clash[0]
            day = to_time(row["window_start"])
            message = busy_message(carer_id, other["id"], other["window_start"], other["window_end"],
                                   day=day.date() if day else None)
            raise CarerBusyError(message, f"carer busy: order {other['id']} overlaps {order_id}")
        new = _apply(db, row, "已派单", target, actor=actor, now=now, provider_id=provider_id, carer_id=carer_id,
                     note=note)
    log.info("order %s dispatched in %s by %s", order_id, region, actor)
    return _public_row(new)


def transition(region: str, order_id: str, to_state: str, *, actor: str, expected: str | None = None,
               root: str | Path | None = None, now: dt.datetime | None = None, note: str = "",
               provider_id: str | None = None, carer_id: str | None = None, satisfaction: int | None = None,
               complaint: bool | None = None, remarks: str | None = None) -> dict[str, Any]:
    """Move an order on: ``to_state`` is a state of :data:`MOVES` (已接单、服务中、已完成、已回访、已取消; 已派单
    goes through :func:`dispatch` with ``provider_id`` and ``carer_id``) or a side event (拒单、超时、未上门).

    ``expected``: the state the caller saw (the page's); when the order is in another state now, nothing is
    written and :class:`desk.errors.StaleOrderError` says so. 已回访 takes ``satisfaction`` (1–5, required),
    ``complaint`` and ``remarks`` (the follow-up's words, plain text). Returns the order's new row.
    """
    if to_state == "已派单":
        return dispatch(region, order_id, provider_id or "", carer_id or "", actor=actor, expected=expected,
                        root=root, now=now, note=note)
    actor = _actor(actor)
    extra: dict[str, Any] = {}
    if to_state == "已回访":
        if satisfaction is None:
            raise DeskError("回访须填写满意度（1–5）", "follow-up needs a satisfaction")
        extra["satisfaction"] = _satisfaction(satisfaction)
        extra["complaint"] = bool(complaint) if complaint is not None else False
        extra["remarks"] = _text(remarks)
    now = now or local_now()
    with _open(region, root) as db, db.write():
        row = _current_row(db, order_id)
        target = _check_move(row, to_state, expected)
        new = _apply(db, row, to_state, target, actor=actor, now=now, note=note, extra=extra)
    log.info("order %s: %s in %s by %s", order_id, to_state, region, actor)
    return _public_row(new)


# ---------------------------------------------------------------- reading


def _public_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {c: row.get(c) for c in ORDER_COLUMNS}
    codes = out["item_codes"]
    out["item_codes"] = json.loads(codes) if isinstance(codes, str) else list(codes or [])
    for c in TIME_COLUMNS:
        out[c] = to_time(out[c])
    if out["complaint"] is not None:
        out["complaint"] = bool(out["complaint"])
    return out


def _orders_frame(rows: list[Sequence[Any]]) -> pd.DataFrame:
    """Rows of ``orders_current`` (tuples in :data:`ORDER_COLUMNS` order) as a frame, column by column (the
    whole log is read for ratings and pages: no per-cell pandas)."""
    if rows:
        columns = [list(c) for c in zip(*rows, strict=True)]
        frame = pd.DataFrame(dict(zip(ORDER_COLUMNS, columns, strict=True)), columns=list(ORDER_COLUMNS))
    else:
        frame = pd.DataFrame(columns=list(ORDER_COLUMNS))
    parsed: dict[str, list[str]] = {}  # the same item lists repeat: each text parsed once, a fresh list per row
    codes = []
    for v in frame["item_codes"]:
        if isinstance(v, str):
            hit = parsed.get(v)
            if hit is None:
                hit = parsed[v] = json.loads(v)
            codes.append(list(hit))
        else:
            codes.append(list(v) if v is not None else [])
    frame["item_codes"] = codes
    for c in TIME_COLUMNS:
        frame[c] = pd.to_datetime(frame[c], format="ISO8601").dt.floor("s").astype("datetime64[ns]")
    for c in ("lon", "lat"):
        frame[c] = frame[c].astype(float)
    frame["satisfaction"] = frame["satisfaction"].astype("Int64")
    frame["complaint"] = frame["complaint"].map(lambda v: None if v is None or v != v else bool(v)).astype("boolean")
    for c in ("id", "elder_id", "urgency", "channel", "status", "provider_id", "carer_id", "remarks",
              "subsidy_group"):
        values = frame[c].astype(object)
        frame[c] = values.where(values.notna(), None)
    return frame


def get_order(region: str, order_id: str, *, root: str | Path | None = None) -> dict[str, Any]:
    """One order's current row (:data:`ORDER_COLUMNS`)."""
    with _open(region, root) as db:
        return _public_row(_current_row(db, order_id))


def current_orders(region: str, *, root: str | Path | None = None,
                   status: Sequence[str] | None = None, day: dt.date | None = None) -> pd.DataFrame:
    """The orders of a region as they stand (:data:`ORDER_COLUMNS`; ``item_codes`` lists, times as
    ``datetime64``), optionally only those in ``status``; with ``day``, only the orders holding a carer now
    (:data:`ACTIVE_STATES`, any day) and those whose window starts that day (what dispatching an order of that day
    needs, not the month of history); by window start, then id."""
    sql = f"SELECT {', '.join(ORDER_COLUMNS)} FROM {{t}}orders_current WHERE region = %s"
    params: list[Any] = [region]
    if status is not None:
        status = list(status)
        if not status:
            return _orders_frame([])
        sql += f" AND status IN ({', '.join(['%s'] * len(status))})"
        params += status
    with _open(region, root) as db:
        if day is None:
            return _orders_frame(db.execute(sql + " ORDER BY window_start, id", params).fetchall())
        # two indexed reads (an OR of both conditions scans the whole log in SQLite), merged by id
        first = dt.datetime.combine(day, dt.time(0))
        rows = db.execute(sql + f" AND status IN ({', '.join(['%s'] * len(ACTIVE_STATES))})",
                          [*params, *ACTIVE_STATES]).fetchall()
        seen = {r[0] for r in rows}
        rows += [r for r in db.execute(sql + " AND window_start >= %s AND window_start < %s",
                                       [*params, first, first + dt.timedelta(days=1)]).fetchall()
                 if r[0] not in seen]
    start = ORDER_COLUMNS.index("window_start")
    rows.sort(key=lambda r: (r[start], r[0]))
    return _orders_frame(rows)


BOOK_COLUMNS: tuple[str, ...] = ("id", "status", "window_start", "window_end", "provider_id", "carer_id", "lon",
                                 "lat")
"""Columns of :func:`day_book_rows` (what ranking carers for an order reads of the log)."""
_STAMPS: dict[str, dt.datetime] = {}
"""Stored time texts already read (the windows of a day's orders repeat: a dict read instead of a parse)."""


def _stamp(value: object) -> dt.datetime | None:
    """A stored time as a naive ``datetime`` to the second (as :func:`_orders_frame` reads it)."""
    if value is None:
        return None
    if isinstance(value, str):
        hit = _STAMPS.get(value)
        if hit is not None:
            return hit
        try:
            stamp = dt.datetime.fromisoformat(value).replace(microsecond=0)
        except ValueError:
            stamp = pd.Timestamp(value).floor("s").to_pydatetime()
        if stamp.tzinfo is not None:  # never written so; read as _orders_frame would (no memo)
            return pd.Timestamp(value).floor("s").tz_localize(None).to_pydatetime()
        if len(_STAMPS) > 100_000:
            _STAMPS.clear()
        _STAMPS[value] = stamp
        return stamp
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(microsecond=0)
    return pd.Timestamp(value).floor("s").tz_localize(None).to_pydatetime()


def _coordinate(value: object) -> float:
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def day_book_rows(region: str, day: dt.date, *, root: str | Path | None = None) -> list[tuple[Any, ...]]:
    """The orders that hold a carer when an order of ``day`` is dispatched, in :data:`BOOK_COLUMNS`, as plain
    tuples (times as ``datetime`` to the second, ``lon``/``lat`` floats, NaN when missing, ids as stored): the
    active orders (:data:`ACTIVE_STATES`, any day) and the done ones (:data:`DONE_STATES`) whose window starts
    that day — the rows of ``current_orders(region, root=root, day=day)`` in those states, from the same two
    indexed reads, without building a frame (every desk call that ranks carers reads them)."""
    sql = f"SELECT {', '.join(BOOK_COLUMNS)} FROM {{t}}orders_current WHERE region = %s AND status IN "
    first = dt.datetime.combine(day, dt.time(0))
    with _open(region, root) as db:
        rows = db.execute(sql + f"({', '.join(['%s'] * len(ACTIVE_STATES))})", [region, *ACTIVE_STATES]).fetchall()
        seen = {r[0] for r in rows}
        rows += [r for r in db.execute(sql + f"({', '.join(['%s'] * len(DONE_STATES))}) AND window_start >= %s "
                                       "AND window_start < %s",
                                       [region, *DONE_STATES, first, first + dt.timedelta(days=1)]).fetchall()
                 if r[0] not in seen]
    return [(oid, status, _stamp(start), _stamp(end), provider, carer, _coordinate(lon), _coordinate(lat))
            for oid, status, start, end, provider, carer, lon, lat in rows]


def _events_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    frame["at"] = pd.to_datetime(frame["at"]).astype("datetime64[ns]")
    frame["seq"] = frame["seq"].astype("int64")
    return frame


def history(region: str, order_id: str, *, root: str | Path | None = None) -> pd.DataFrame:
    """Everything that happened to an order, oldest first (:data:`EVENT_COLUMNS`)."""
    with _open(region, root) as db:
        _current_row(db, order_id)
        rows = db.rows("SELECT order_id, seq, at, event, state, actor, provider_id, carer_id, note "
                       "FROM {t}order_events WHERE region = %s AND order_id = %s ORDER BY seq", (region, order_id))
    return _events_frame(rows)


def all_events(region: str, *, root: str | Path | None = None) -> pd.DataFrame:
    """Every event of every order of a region (:data:`EVENT_COLUMNS`), by order and seq (for ratings)."""
    with _open(region, root) as db:
        rows = db.rows("SELECT order_id, seq, at, event, state, actor, provider_id, carer_id, note "
                       "FROM {t}order_events WHERE region = %s ORDER BY order_id, seq", (region,))
    return _events_frame(rows)


def overdue_orders(orders: pd.DataFrame, now: dt.datetime, *, settings: Settings) -> pd.DataFrame:
    """The rows of ``orders`` dispatched more than ``settings.desk_accept_timeout_min`` minutes before ``now``
    and not accepted (state 已派单), longest waiting first, with ``waiting_min``."""
    limit = pd.Timestamp(now) - pd.Timedelta(minutes=settings.desk_accept_timeout_min)
    late = orders[(orders["status"] == "已派单") & (orders["dispatched_at"] < limit)].copy()
    late["waiting_min"] = (pd.Timestamp(now) - late["dispatched_at"]).dt.total_seconds() / 60.0
    return late.sort_values(["dispatched_at", "id"], kind="stable").reset_index(drop=True)


def overdue(region: str, now: dt.datetime | None = None, *, settings: Settings,
            root: str | Path | None = None) -> pd.DataFrame:
    """Orders of a region dispatched longer than ``settings.desk_accept_timeout_min`` ago and not accepted (to be
    chased or reassigned with the side event 超时): :func:`overdue_orders` of :func:`current_orders`."""
    now = now or local_now(settings)
    return overdue_orders(current_orders(region, root=root, status=["已派单"]), now, settings=settings)


@dataclass(frozen=True)
class LogCopy:
    """What :func:`copy_log` did: ``orders`` and ``events`` copied (or found), the log's ``sha256`` (the same in
    both stores, :func:`log_digest`) and whether the target already held this very log (``already``)."""

    orders: int
    events: int
    sha256: str
    already: bool = False


_EVENT_FIELDS = ("order_id", "seq", "at", "event", "state", "actor", "provider_id", "carer_id", "note")
_TIME_FIELDS = frozenset((*TIME_COLUMNS, "updated_at", "at"))


def _plain(column: str, value: object) -> object:
    """A stored value as both backends give it back alike: times as naive datetimes to the second, the complaint
    flag as a bool, counts as ints."""
    if value is None:
        return None
    if column in _TIME_FIELDS:
        return _stamp(value)
    if column == "complaint":
        return bool(value)
    if column in ("seq", "satisfaction"):
        return int(value)  # type: ignore[call-overload]
    if column in ("lon", "lat"):
        return float(value)  # type: ignore[arg-type]
    return value


def _log_rows(db: _Log) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    current = db.rows(f"SELECT {', '.join(_CURRENT_COLUMNS)} FROM {{t}}orders_current WHERE region = %s ORDER BY id",
                      (db.region,))
    events = db.rows(f"SELECT {', '.join(_EVENT_FIELDS)} FROM {{t}}order_events WHERE region = %s "
                     "ORDER BY order_id, seq", (db.region,))
    return ([{c: _plain(c, r[c]) for c in _CURRENT_COLUMNS} for r in current],
            [{c: _plain(c, r[c]) for c in _EVENT_FIELDS} for r in events])


def _digest(current: list[dict[str, Any]], events: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for table in (current, events):
        for row in table:
            digest.update(json.dumps([v.strftime(_TIME_FORMAT) if isinstance(v, dt.datetime) else v
                                      for v in row.values()], ensure_ascii=False).encode("utf-8"))
            digest.update(b"\n")
        digest.update(b"\x1e")
    return digest.hexdigest()


def log_digest(region: str, *, root: str | Path | None = None) -> LogCopy:
    """The region's order log counted and hashed (current orders by id, events by order and sequence, values as
    :func:`_plain` makes them), the same in a SQLite and a PostgreSQL log holding the same orders."""
    if store.database_url(root) is None and not (store.regions_root(root) / region / ORDERS_FILE).exists():
        return LogCopy(0, 0, _digest([], []))
    with _open(region, root) as db:
        current, events = _log_rows(db)
    return LogCopy(len(current), len(events), _digest(current, events))


def copy_log(region: str, *, source: str | Path | None, target: str | Path | None) -> LogCopy:
    """Copy the region's order log from store ``source`` to store ``target`` (``eldermap db copy``: a SQLite log
    beside the region in a folder store, tables of a PostGIS store), in one transaction, and check that the
    target's log then has the source's digest (:func:`log_digest`).

    The target region must exist (``db copy`` copies the region first). A target that already holds the same log
    is left as it is (``already``); one that holds other orders of the region is refused (the event table is
    append-only: nothing is overwritten)."""
    if store.database_url(source) is None and not (store.regions_root(source) / region / ORDERS_FILE).exists():
        return LogCopy(0, 0, _digest([], []))  # no log yet: nothing to copy (and no empty log made)
    with _open(region, source) as db:
        current, events = _log_rows(db)
    want = _digest(current, events)
    with _open(region, target) as db:
        present = db.rows("SELECT count(*) AS n FROM {t}order_events WHERE region = %s", (region,))[0]["n"]
        if int(present):
            have = _digest(*_log_rows(db))
            if have == want:
                return LogCopy(len(current), len(events), want, already=True)
            raise OrderStoreError(f"目标中地区“{region}”已有不同的服务工单记录（{int(present)} 条事件），工单记录只增不改，"
                                  "未复制；请确认目标是否正确",
                                  f"target order log of {region!r} holds {int(present)} other events; not copied")
        with db.write():
            db.execute("DELETE FROM {t}orders_current WHERE region = %s", (region,))  # (none without events)
            for row in current:
                values = [json.dumps(row[c], ensure_ascii=False) if c == "item_codes" and not isinstance(row[c], str)
                          else row[c] for c in _CURRENT_COLUMNS]
                db.execute(f"INSERT INTO {{t}}orders_current (region, {', '.join(_CURRENT_COLUMNS)}) "
                           f"VALUES (%s, {', '.join(['%s'] * len(_CURRENT_COLUMNS))})", [region, *values])
            for row in events:
                db.execute(f"INSERT INTO {{t}}order_events (region, {', '.join(_EVENT_FIELDS)}) "
                           f"VALUES (%s, {', '.join(['%s'] * len(_EVENT_FIELDS))})", [region, *row.values()])
        have = _digest(*_log_rows(db))
    if have != want:
        raise OrderStoreError(f"地区“{region}”的服务工单记录复制后与源不一致，请检查目标数据库后重试",
                              f"order log of {region!r} differs after the copy ({have[:12]} != {want[:12]})")
    return LogCopy(len(current), len(events), want)


def log_version(region: str, *, root: str | Path | None = None) -> int:
    """How many events the region's order log holds: the log is append-only and every change adds one event,
    so this changes exactly when the orders change (a cheap cache key for ratings). 0 when a folder region has
    no log yet (the file is not created)."""
    if store.database_url(root) is None and not (store.regions_root(root) / region / ORDERS_FILE).exists():
        return 0
    with _open(region, root) as db:
        return int(db.rows("SELECT count(*) AS n FROM {t}order_events WHERE region = %s", (region,))[0]["n"])


__all__ = ["LogCopy", "copy_log", "log_digest", "log_version", 
    "ACTIVE_STATES",
    "CHANNELS",
    "DONE_STATES",
    "EVENT_COLUMNS",
    "MOVES",
    "ORDER_COLUMNS",
    "SIDE_EVENTS",
    "STATES",
    "URGENCIES",
    "all_events",
    "busy_message",
    "create_order",
    "current_orders",
    "dispatch",
    "get_order",
    "history",
    "ingest_orders",
    "local_now",
    "overdue",
    "overdue_orders",
    "split_tags",
    "to_time",
    "transition",
    "window_span_zh",
]
