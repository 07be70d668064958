"""A real PostgreSQL + PostGIS server for the tests (Debian's packages, installed by ``make test``).

The session fixture :func:`postgis_url` runs ``initdb`` into a temporary folder, starts the server with ``pg_ctl`` on
127.0.0.1 and a free port (its socket in the same folder), creates a template database with the PostGIS extension
and a database from it, yields ``postgresql://USER@127.0.0.1:PORT/DB`` and stops the server at the end.
:func:`new_database` makes another empty database (with PostGIS) on the same server, for tests that need their own.

``initdb`` refuses to run as root: as root the server runs as the ``postgres`` user (``runuser``), and the folder is
handed to it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("ELDERMAP_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
USER = "eldermap"
TEMPLATE = "eldermap_template"
_counter = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(_as_server_user(cmd), capture_output=True, text=True, timeout=120, **kwargs)


def _sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def new_database(url: str, name: str | None = None) -> str:
    """A new database with PostGIS (from the template) on the server of ``url``; returns its URL."""
    name = name or f"eldermap_t{os.getpid()}_{next(_counter)}"
    base = url.rsplit("/", 1)[0]
    _sql(f"{base}/postgres", f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """URL of a database with PostGIS on a throw-away server listening on 127.0.0.1 only."""
    with throwaway_postgis() as url:
        yield url


def rerun_with_throwaway_postgis(main: Callable[[list[str]], Any], argv: list[str] | None) -> Any:
    """A benchmark's ``--postgis-temp``: ``main`` run again with ``--database-url`` of a throw-away server."""
    with throwaway_postgis() as url:
        return main([*(argv if argv is not None else sys.argv[1:]), "--database-url", url])


@contextlib.contextmanager
def throwaway_postgis() -> Iterator[str]:
    """A PostgreSQL + PostGIS server in a temporary folder, on 127.0.0.1 only, for the block: yields the URL of a
    database with PostGIS (the benchmarks' ``--postgis-temp`` use it too); stopped and removed afterwards."""
    if not (PG_BIN / "initdb").exists() or not POSTGIS_CONTROL.exists():
        pytest.fail(f"PostgreSQL 15 with PostGIS is not installed ({PG_BIN / 'initdb'}, {POSTGIS_CONTROL}): run "
                    "`make db-deps` (apt-get install postgresql postgresql-15-postgis-3), which `make test` does")
    folder = Path(tempfile.mkdtemp(prefix="eldermap-pg-"))  # not under pytest's tmp (mode 700, root's)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    done = _run([str(PG_BIN / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-locale",
                 "--no-sync"])
    if done.returncode:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed: {done.stderr or done.stdout}")
    port = 0
    for _attempt in range(3):  # another worker may take the port between the probe and the start
        port = _free_port()
        options = (f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off "
                   "-c synchronous_commit=off -c max_connections=50")
        started = _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
                        "-o", options, "start"])
        if started.returncode == 0:
            break
    else:
        log = (folder / "server.log").read_text(errors="replace")[-2000:] if (folder / "server.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {started.stderr or started.stdout}\n{log}")
    base = f"postgresql://{USER}@127.0.0.1:{port}"
    try:
        _sql(f"{base}/postgres", f"CREATE DATABASE {TEMPLATE}")
        _sql(f"{base}/{TEMPLATE}", "CREATE EXTENSION postgis")
        yield new_database(base + "/postgres", "eldermap_test")
    finally:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)
