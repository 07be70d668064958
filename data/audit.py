"""Append-only audit log: who imported, exported or changed what, and when.

The log is ``<regions root>/audit.log``, one JSON object per line (with a PostgreSQL store — a ``postgresql://``
root or ``$ELDERMAP_DATABASE_URL`` — the same lines are rows of the append-only table ``eldermap.audit``, so every
server of a bureau writes one log)::

    {"time": "2026-11-23T10:15:00+00:00", "user": "zhangsan", "role": "staff", "action": "export",
     "region": "demo", "version": "v20261123T101500-ab12", "rows": 12, "detail": "统计报表.xlsx",
     "address": "10.1.2.3", "prev": "<sha256 of the previous line>"}

Times are stored in UTC; pages show them in the settings' ``display_timezone``
(:func:`local_times`). ``role`` is the account's role (:data:`CLI_ROLE` for the
command line); ``address`` is the client address of a web session
(``data.auth.LOCAL_ADDRESS`` when the peer is local), absent for the command line.

Lines are only ever appended: the file is opened with ``O_APPEND``, each line
goes out in one ``os.write`` and is fsynced, under an exclusive lock (where the
platform has ``fcntl``) so that concurrent writers keep the chain intact. This
module has no function that edits or removes lines, and no page offers one.

``prev`` chains the lines: it is the SHA-256 of the previous line's bytes (64
zeros for the first line), so :func:`verify_chain` finds a line that was edited
or deleted in the middle of the log. Removing lines from the *end* leaves a
valid chain; keep a copy of the log (or its last hash) elsewhere to detect that.

Never pass passwords or elder personal data (names, ID numbers, addresses,
birth dates) as ``detail``: record what was done to which file or region, and
counts, only. Failed logins record the attempted name only when it is a known
account (a mistyped password in the name field must not end up here).

This module never imports streamlit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from data import store
from data.store import database_url, regions_root

try:  # POSIX; elsewhere appends are not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

ACTIONS: tuple[str, ...] = ("login", "login_failed", "account_locked", "address_locked", "session_resumed",
                            "logout", "import", "export", "scenario_save", "scenario_delete", "user_add", "dispatch")
COLUMNS: tuple[str, ...] = ("time", "user", "role", "action", "region", "version", "rows", "detail", "address")
CLI_ROLE = "cli"
"""The role recorded for actions taken on the command line (``eldermap ...``)."""
LOG_NAME = "audit.log"
GENESIS = "0" * 64
_TAIL_BYTES = 8192


def log_path(root: str | Path | None = None) -> Path:
    """The audit log of a deployment: ``<regions root>/audit.log``."""
    return regions_root(root) / LOG_NAME


def _last_line(fd: int) -> bytes:
    """The last complete line of the open file (without its newline), b"" when empty."""
    size = os.fstat(fd).st_size
    if size == 0:
        return b""
    start = size
    tail = b""
    while start > 0:
        start = max(0, start - _TAIL_BYTES)
        tail = os.pread(fd, size - start, start)
        body = tail.rstrip(b"\n")
        if b"\n" in body or start == 0:
            return body.rsplit(b"\n", 1)[-1]
    return tail.rstrip(b"\n")  # pragma: no cover


def record(action: str, *, user: str, role: str | None = None, region: str | None = None,
           detail: str | None = None, address: str | None = None, version: str | None = None,
           rows: int | None = None, root: str | Path | None = None) -> dict[str, Any]:
    """Append one entry to the audit log and return it.

    Parameters
    ----------
    action
        One of :data:`ACTIONS`.
    user
        Who did it (account name, or the operating-system user for the CLI).
    role
        The account's role (``planner``, ``staff``, ``admin``; :data:`CLI_ROLE` on the command line);
        None only when there is no account (a failed login with an unknown name).
    region
        The region concerned, if any.
    detail
        What was done, in a few words (file names, counts). No passwords, no elder personal data.
    address
        The client address of a web session (``data.auth.LOCAL_ADDRESS`` for a local peer); None on
        the command line.
    version
        The region version the action read or wrote (exports: the data the file was made from).
    rows
        How many rows an export or import carried (the main table's rows for a workbook).
    root
        Regions root (default ``$ELDERMAP_REGIONS`` or ``./regions``).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; allowed: {ACTIONS}")
    entry = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "user": user,
        "role": role,
        "action": action,
        "region": region,
        "detail": detail,
    }
    if version is not None:
        entry["version"] = version
    if rows is not None:
        entry["rows"] = int(rows)
    if address is not None:
        entry["address"] = address

    def chained(last: bytes) -> bytes:
        entry["prev"] = hashlib.sha256(last).hexdigest() if last else GENESIS
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    url = database_url(root)
    if url:
        store._pg().audit_append(url, chained)
    else:
        path = log_path(root)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, chained(_last_line(fd)) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)  # also releases the lock
    log.info("audit: %s by %s (region %s)", action, user, region)
    return entry


def _lines(root: str | Path | None, limit: int | None = None) -> list[bytes]:
    """The log's lines, oldest first, from the database or the file."""
    url = database_url(root)
    if url:
        return store._pg().audit_lines(url, limit=limit)
    path = log_path(root)
    lines = path.read_bytes().splitlines() if path.exists() else []
    return lines if limit is None else (lines[-limit:] if limit > 0 else [])


def where(root: str | Path | None = None) -> str:
    """Where the log is kept, for messages: the file, or the database (without password)."""
    url = database_url(root)
    return f"{store.describe_store(url)} 的审计表" if url else str(log_path(root))


def read(root: str | Path | None = None, *, limit: int | None = None) -> pd.DataFrame:
    """The log as a table (oldest first), the last ``limit`` entries when given; read-only.

    Lines that are not valid JSON are skipped here (:func:`verify_chain` reports them).
    """
    rows: list[dict[str, Any]] = []
    for line in _lines(root):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            rows.append({c: entry.get(c) for c in COLUMNS})
    if limit is not None:
        rows = rows[-limit:] if limit > 0 else []
    return pd.DataFrame(rows, columns=list(COLUMNS))


def verify_chain(root: str | Path | None = None) -> list[str]:
    """Problems found in the log's hash chain, in Chinese, one per broken line; empty when intact.

    A line whose ``prev`` is not the SHA-256 of the line before it was inserted after an
    edit or a deletion of that line (or is itself not a log line).
    """
    path = where(root)
    problems = []
    previous = b""
    for number, line in enumerate(_lines(root), start=1):
        expected = hashlib.sha256(previous).hexdigest() if number > 1 else GENESIS
        try:
            entry = json.loads(line)
            prev = entry.get("prev") if isinstance(entry, dict) else None
        except ValueError:
            prev = None
        if prev is None:
            problems.append(f"{path} 第 {number} 行不是有效的日志记录（被改动或损坏）")
        elif prev != expected:
            problems.append(f"{path} 第 {number} 行与上一行的校验值不符：上一行被改动或删除")
        previous = line
    return problems


def local_times(times: pd.Series, timezone: str = "") -> pd.Series:
    """Stored UTC times (ISO text) as local wall-clock text ``"2026-11-23 18:15:00"``.

    Parameters
    ----------
    times
        ISO 8601 times with an offset, as :func:`record` writes them.
    timezone
        IANA zone name ("Asia/Shanghai"); empty: the server's local zone. Unreadable times become "".
    """
    import zoneinfo

    parsed = pd.to_datetime(times, utc=True, errors="coerce", format="ISO8601")
    if timezone:
        local = parsed.dt.tz_convert(zoneinfo.ZoneInfo(timezone))
    else:
        local = pd.Series([t.to_pydatetime().astimezone() if not pd.isna(t) else pd.NaT for t in parsed],
                          index=times.index, dtype=object)
        return local.map(lambda t: "" if pd.isna(t) else t.strftime("%Y-%m-%d %H:%M:%S"))
    return local.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
