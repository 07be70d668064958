"""The PostgreSQL connections a process keeps for reuse (data.store_postgis._Idle), on a real PostgreSQL."""

from __future__ import annotations

import os
import time

import psycopg
import pytest
from pg_support import new_database

from data import store, store_postgis


@pytest.fixture
def url(postgis_url: str) -> str:
    url = new_database(postgis_url)
    store.migrate_database(url)
    store_postgis.close_idle_connections()
    yield url
    store_postgis.close_idle_connections()


def _backend(url: str) -> int:
    with store_postgis.connect(url) as conn:
        return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])


def test_calls_reuse_one_connection_and_keep_at_most_the_cap(url, monkeypatch) -> None:
    first = _backend(url)
    assert all(_backend(url) == first for _ in range(20))  # one backend served every call
    assert store_postgis.idle_connections(url) == 1
    with store_postgis.connect(url) as a, store_postgis.connect(url) as b:  # two at once: two backends
        assert a.execute("SELECT pg_backend_pid()").fetchone()[0] != b.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert store_postgis.idle_connections(url) == 2
    monkeypatch.setattr(store_postgis, "POOL_IDLE_MAX", 3)
    with (store_postgis.connect(url), store_postgis.connect(url), store_postgis.connect(url),
          store_postgis.connect(url), store_postgis.connect(url)):
        pass
    assert store_postgis.idle_connections(url) == 3  # the other two were closed
    with psycopg.connect(url, autocommit=True) as admin:
        for _ in range(100):  # a closed connection's server process leaves pg_stat_activity when it has exited
            n = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND application_name = 'eldermap'").fetchone()[0]
            if n <= 3:
                break
            time.sleep(0.05)
    assert n == 3


def test_a_connection_in_trouble_is_never_lent_again(url) -> None:
    before = _backend(url)
    with pytest.raises(psycopg.errors.DivisionByZero), store_postgis.connect(url) as conn:
        conn.execute("SELECT 1 / 0")
    assert store_postgis.idle_connections(url) == 0  # closed, not given back
    assert _backend(url) != before
    left_open = _backend(url)
    with store_postgis.connect(url) as conn:
        conn.execute("BEGIN")  # a block that forgets to commit: its transaction must not leak into the next use
        conn.execute("CREATE TABLE eldermap.pool_probe (x int)")
    assert store_postgis.idle_connections(url) == 0
    assert _backend(url) != left_open
    with store_postgis.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('eldermap.pool_probe')").fetchone()[0] is None  # rolled back


def test_a_connection_the_server_closed_is_replaced(url, monkeypatch) -> None:
    dead = _backend(url)
    with psycopg.connect(url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (dead,)).fetchone()[0]
    monkeypatch.setattr(store_postgis, "POOL_CHECK_AFTER_S", 0.0)  # check every idle connection before lending
    assert store.list_regions(root=url) == []  # a store call works at once, on a new connection
    assert store_postgis.idle_connections(url) == 1
    assert _backend(url) != dead


def test_a_forked_child_opens_its_own_and_leaves_the_parents_alone(url) -> None:
    parent = _backend(url)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a connection of its own; the parent's socket untouched, even at exit
        code = 1
        try:
            os.close(read)
            child = _backend(url)
            os.write(write, str(child).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    child = int(os.read(read, 64).decode() or -1)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child not in (-1, parent)
    assert _backend(url) == parent  # the parent's idle connection still works after the child is gone
