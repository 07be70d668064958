"""PostgreSQL + PostGIS storage of regions: the shared store of a civil-affairs bureau.

Only :mod:`data.store` calls this module; everybody else goes through ``data.store``'s public functions, which
pick this backend when the store root is a ``postgresql://`` URL (or ``$ELDERMAP_DATABASE_URL`` is set).

Tables (schema ``eldermap``, created and upgraded by :func:`migrate` from the ordered :data:`MIGRATIONS`)::

    meta(key, value)                                  schema_version, the deployment salt
    regions(name, current_version, updated_at)        the current pointer (one row per region)
    versions(region, version, manifest jsonb, created_at)
    layer_blobs(region, version, layer, position, sha256, n_rows, parquet bytea)
    features(region, version, layer, row_no, geom geometry(Geometry, 4326), props jsonb)   GiST index on geom
    scenarios(region, name, body jsonb, saved_at)
    audit(seq, line)                                  the audit log: data.audit's JSON lines, append-only
    results(region, key, frame, position, meta jsonb, sha256, n_rows, parquet bytea, created_at)
                                                      batch results (data.store.save_result)

``layer_blobs`` holds the exact GeoParquet bytes the file store writes, so a layer's SHA-256 is the same in both
stores and loading round-trips dtypes exactly (``position`` keeps the manifest's layer order, which jsonb does
not); ``features`` is a queryable projection of the same rows for SQL
and GIS clients (one row per layer row, properties as JSON). A save inserts the version, its blobs and features
and moves the pointer in **one transaction**: a failure anywhere leaves nothing behind and the previous version
current. Versions, blobs and features are immutable (an UPDATE trigger refuses changes); old versions are pruned
(``ON DELETE CASCADE``) like the file store's.

Elder layers hold pseudonyms only (the importer hashes identifiers with the deployment salt before any store sees
them). The salt itself is in ``meta``: whoever can read the database can read it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import psycopg
import shapely
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from geo.errors import ElderMapError

SCHEMA = "eldermap"

_STEP_1 = """
CREATE SCHEMA IF NOT EXISTS eldermap;
CREATE TABLE eldermap.meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE eldermap.versions (
    region     text NOT NULL,
    version    text NOT NULL,
    manifest   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region, version)
);
CREATE TABLE eldermap.regions (
    name            text PRIMARY KEY,
    current_version text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (name, current_version) REFERENCES eldermap.versions (region, version)
);
CREATE TABLE eldermap.layer_blobs (
    region  text NOT NULL,
    version text NOT NULL,
    layer    text NOT NULL,
    position smallint NOT NULL,
    sha256   text NOT NULL,
    n_rows   integer NOT NULL,
    parquet bytea NOT NULL,
    PRIMARY KEY (region, version, layer),
    FOREIGN KEY (region, version) REFERENCES eldermap.versions (region, version) ON DELETE CASCADE
);
CREATE TABLE eldermap.scenarios (
    region   text NOT NULL REFERENCES eldermap.regions (name) ON DELETE CASCADE,
    name     text NOT NULL,
    body     jsonb NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region, name)
);
CREATE FUNCTION eldermap.refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'eldermap: % rows are immutable (a new version is a new row)', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER versions_immutable BEFORE UPDATE ON eldermap.versions
    FOR EACH ROW EXECUTE FUNCTION eldermap.refuse_update();
CREATE TRIGGER layer_blobs_immutable BEFORE UPDATE ON eldermap.layer_blobs
    FOR EACH ROW EXECUTE FUNCTION eldermap.refuse_update();
"""

_STEP_2 = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE eldermap.features (
    region  text NOT NULL,
    version text NOT NULL,
    layer   text NOT NULL,
    row_no  integer NOT NULL,
    geom    geometry(Geometry, 4326),
    props   jsonb NOT NULL,
    PRIMARY KEY (region, version, layer, row_no),
    FOREIGN KEY (region, version) REFERENCES eldermap.versions (region, version) ON DELETE CASCADE
);
CREATE INDEX features_geom_gist ON eldermap.features USING gist (geom);
CREATE TRIGGER features_immutable BEFORE UPDATE ON eldermap.features
    FOR EACH ROW EXECUTE FUNCTION eldermap.refuse_update();
"""

_STEP_3 = """
CREATE TABLE eldermap.audit (
    seq  bigserial PRIMARY KEY,
    line text NOT NULL
);
CREATE FUNCTION eldermap.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'eldermap: % is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON eldermap.audit
    FOR EACH ROW EXECUTE FUNCTION eldermap.refuse_change();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON eldermap.audit
    FOR EACH STATEMENT EXECUTE FUNCTION eldermap.refuse_change();
"""

_STEP_4 = """
CREATE TABLE eldermap.results (
    region     text NOT NULL REFERENCES eldermap.regions (name) ON DELETE CASCADE,
    key        text NOT NULL,
    frame      text NOT NULL,
    position   smallint NOT NULL,
    meta       jsonb NOT NULL,
    sha256     text NOT NULL,
    n_rows     integer NOT NULL,
    parquet    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region, key, frame)
);
"""

MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("regions, versions, layer blobs (GeoParquet), scenarios, meta", _STEP_1),
    ("features projection (PostGIS geometry, GiST index)", _STEP_2),
    ("audit log (append-only, hash-chained lines)", _STEP_3),
    ("batch results (per region and key: frames as Parquet with SHA-256, meta)", _STEP_4),
)
"""Ordered schema steps; the schema version is the number of steps applied. Never edit a released step: add one."""
SCHEMA_VERSION = len(MIGRATIONS)
_MIGRATION_LOCK = int.from_bytes(hashlib.sha256(b"eldermap-migrate").digest()[:8], "big", signed=True)
_checked: set[str] = set()


class DatabaseError(ElderMapError, RuntimeError):
    """The database cannot be reached, or its schema is missing or of another version."""


# ---------------------------------------------------------------- connections and schema

def identity(url: str) -> str:
    """``host_port_dbname`` of a database (no user, no password): tells databases apart in cache keys."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    host = str(info.get("host") or info.get("hostaddr") or "local")
    text = f"{host}_{info.get('port') or 5432}_{info.get('dbname') or info.get('user') or ''}"
    return text.replace("/", "_")


def redacted(url: str) -> str:
    """The URL for messages: no password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:  # not a valid address: shown as written, less a password
        return re.sub(r"(//[^:/@]*):[^@/]*@", r"\1@", url)
    user = f"{info['user']}@" if info.get("user") else ""
    return f"postgresql://{user}{info.get('host') or ''}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


_REASONS_ZH = (
    ("password authentication failed", "用户名或密码不对"),
    ("no password supplied", "需要密码（写在 ~/.pgpass 或环境变量 PGPASSWORD 中）"),
    ("does not exist", "数据库或用户不存在"),
    ("connection refused", "连接被拒绝：该地址和端口上没有数据库在运行"),
    ("timeout expired", "连接超时"),
    ("could not translate host name", "主机名无法解析"),
    ("failed to resolve host", "主机名无法解析"),
    ("no pg_hba.conf entry", "数据库不允许从本机连接（pg_hba.conf）"),
    ("too many connections", "数据库连接数已满"),
    ("connection is bad: invalid", "地址写法不对"),
    ("uri", "地址写法不对"),
)


def _open(url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="eldermap")
    except psycopg.Error as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        reason = next((zh for en, zh in _REASONS_ZH if en in text.lower()), "连接失败")
        raise DatabaseError(f"无法连接数据库：{reason}。请检查 ELDERMAP_DATABASE_URL（或 --url）和数据库服务",
                            f"cannot connect to {redacted(url)}: {text}") from None


def schema_version(conn: psycopg.Connection) -> int:
    """Steps applied to this database (0 when the eldermap schema is absent)."""
    if conn.execute("SELECT to_regclass('eldermap.meta')").fetchone()[0] is None:
        return 0
    row = conn.execute("SELECT value FROM eldermap.meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


POOL_IDLE_MAX = 8
"""Idle connections kept by one process, all databases together (a server's threads take them in turn; the
oldest goes first)."""
POOL_CHECK_AFTER_S = 30.0
"""An idle connection older than this is checked (``SELECT 1``) before it is lent again: the database may have
restarted meanwhile."""


class _Idle:
    """The idle connections of one process: a last-in-first-out stack of (database URL, since, connection).

    Opening a PostgreSQL connection (socket, authentication, backend start) costs milliseconds; a server answering
    many requests a second lends connections from here instead. A connection goes back only when it is healthy and
    outside any transaction (after an error inside :func:`connect`'s block, or when broken or closed, it is
    closed). After a fork (``eldermap serve --workers``) the child starts with an empty stack and never touches the
    parent's connections: it keeps them referenced, so that neither it nor the garbage collector closes a socket
    the parent still uses.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.stack: list[tuple[str, float, psycopg.Connection]] = []
        self.inherited: list[object] = []
        self.lock = threading.Lock()

    def _own(self) -> None:
        if self.pid != os.getpid():  # forked: the parent's connections are not ours
            self.inherited.append(self.stack)
            self.stack, self.pid, self.lock = [], os.getpid(), threading.Lock()

    def take(self, url: str) -> psycopg.Connection | None:
        self._own()
        while True:
            with self.lock:
                k = next((k for k in range(len(self.stack) - 1, -1, -1) if self.stack[k][0] == url), None)
                if k is None:
                    return None
                _, since, conn = self.stack.pop(k)
            if conn.closed or conn.broken:
                continue
            if time.monotonic() - since > POOL_CHECK_AFTER_S:
                try:
                    conn.execute("SELECT 1")
                except psycopg.Error:
                    _close(conn)
                    continue
            return conn

    def give(self, url: str, conn: psycopg.Connection) -> None:
        self._own()
        if conn.closed or conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            _close(conn)
            return
        with self.lock:
            self.stack.append((url, time.monotonic(), conn))
            dropped = self.stack[:-POOL_IDLE_MAX] if len(self.stack) > POOL_IDLE_MAX else []
            del self.stack[:len(dropped)]
        for _, _, old in dropped:
            _close(old)

    def count(self, url: str) -> int:
        self._own()
        with self.lock:
            return sum(1 for u, _, _ in self.stack if u == url)

    def close_all(self) -> None:
        self._own()
        with self.lock:
            stack, self.stack = self.stack, []
        for _, _, conn in stack:
            _close(conn)


def _close(conn: psycopg.Connection) -> None:
    with contextlib.suppress(psycopg.Error):
        conn.close()


_IDLE = _Idle()


def idle_connections(url: str) -> int:
    """Idle connections to ``url`` this process keeps for reuse."""
    return _IDLE.count(url)


def close_idle_connections() -> None:
    """Close the idle connections this process keeps (:class:`_Idle`)."""
    _IDLE.close_all()


@contextlib.contextmanager
def connect(url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to a database whose schema is current (checked once per process), lent from this
    process's idle connections when one is free (:class:`_Idle`) and given back after the block."""
    conn = _IDLE.take(url) or _open(url)
    ok = False
    try:
        if url not in _checked:
            have = schema_version(conn)
            if have == 0:
                raise DatabaseError("数据库尚未初始化：请先运行 `eldermap db init`",
                                    f"database {redacted(url)} has no eldermap schema; run `eldermap db init`")
            if have < SCHEMA_VERSION:
                raise DatabaseError(f"数据库的结构是第 {have} 版，本程序需要第 {SCHEMA_VERSION} 版："
                                    "请运行 `eldermap db upgrade`",
                                    f"database schema {have} < {SCHEMA_VERSION}; run `eldermap db upgrade`")
            if have > SCHEMA_VERSION:
                raise DatabaseError(f"数据库的结构是第 {have} 版，比本程序（第 {SCHEMA_VERSION} 版）新："
                                    "请升级 ElderMap", f"database schema {have} is newer than {SCHEMA_VERSION}")
            _checked.add(url)
        yield conn
        ok = True
    finally:
        if ok:
            _IDLE.give(url, conn)
        else:  # an error inside the block: the connection may be mid-way through anything
            _close(conn)


def migrate(url: str, *, upto: int | None = None) -> tuple[int, int]:
    """Apply the missing steps of :data:`MIGRATIONS` (up to step ``upto``) in one transaction.

    Returns (version before, version after). Concurrent callers are serialised by an advisory lock.
    """
    target = SCHEMA_VERSION if upto is None else upto
    conn = _open(url)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            before = schema_version(conn)
            if before > SCHEMA_VERSION:
                raise DatabaseError(f"数据库的结构是第 {before} 版，比本程序（第 {SCHEMA_VERSION} 版）新：请升级 ElderMap",
                                    f"database schema {before} is newer than {SCHEMA_VERSION}")
            for step in range(before, target):
                try:
                    conn.execute(MIGRATIONS[step][1])
                except psycopg.errors.InsufficientPrivilege as exc:
                    raise DatabaseError(
                        f"数据库账号权限不足，无法执行第 {step + 1} 步结构变更（{MIGRATIONS[step][0]}）：{exc}。"
                        "请数据库管理员先执行 CREATE EXTENSION postgis，并授予建表权限",
                        f"insufficient privilege for migration step {step + 1}: {exc}") from None
            after = max(before, target)
            if after != before:
                conn.execute("INSERT INTO eldermap.meta (key, value) VALUES ('schema_version', %s) "
                             "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (str(after),))
    finally:
        conn.close()
    _checked.discard(url)
    return before, after


def current_schema_version(url: str) -> int:
    conn = _open(url)
    try:
        return schema_version(conn)
    finally:
        conn.close()


# ---------------------------------------------------------------- regions and versions

def current_version(url: str, name: str) -> str:
    with connect(url) as conn:
        row = conn.execute("SELECT current_version FROM eldermap.regions WHERE name = %s", (name,)).fetchone()
    return row[0] if row else ""


def list_regions(url: str) -> list[str]:
    with connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM eldermap.regions ORDER BY name")]


def versions(url: str, name: str) -> list[str]:
    """All stored versions of a region, oldest first."""
    with connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT version FROM eldermap.versions WHERE region = %s ORDER BY version", (name,))]


def current_manifest(url: str, name: str) -> tuple[str, dict[str, Any]] | None:
    """(version, manifest) of a region's current version without its layers; None when the region does not exist."""
    with connect(url) as conn:
        row = conn.execute(
            "SELECT v.version, v.manifest FROM eldermap.regions r JOIN eldermap.versions v "
            "ON v.region = r.name AND v.version = r.current_version WHERE r.name = %s", (name,)).fetchone()
    return (row[0], row[1]) if row else None


def load_current(url: str, name: str, *, skip: Sequence[str] = ()
                 ) -> tuple[str, dict[str, Any], dict[str, tuple[str, bytes]]] | None:
    """(version, manifest, {layer: (sha256 recorded, parquet bytes)}) of the current version, read from one snapshot;
    None when the region does not exist. ``skip``: layers whose bytes are not fetched."""
    with connect(url) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute(
            "SELECT v.version, v.manifest FROM eldermap.regions r JOIN eldermap.versions v "
            "ON v.region = r.name AND v.version = r.current_version WHERE r.name = %s", (name,)).fetchone()
        if row is None:
            return None
        version, manifest = row
        blobs = {layer: (sha, bytes(data)) for layer, sha, data in conn.execute(
            "SELECT layer, sha256, parquet FROM eldermap.layer_blobs WHERE region = %s AND version = %s "
            "AND NOT (layer = ANY(%s)) ORDER BY position", (name, version, list(skip)))}
    layers = manifest.get("layers", {})  # jsonb sorts keys: the layers in the order they were saved
    manifest["layers"] = {k: layers[k] for k in blobs if k in layers} | {k: v for k, v in layers.items() if k not in blobs}
    return version, manifest, blobs


def layer_blob_to_file(url: str, name: str, version: str, layer: str, path: str | os.PathLike[str], *,
                       piece_bytes: int = 16 << 20) -> bool:
    """Write the stored GeoParquet bytes of one layer of a version to ``path``, read in pieces of ``piece_bytes``
    (the client never holds the blob). False when the version has no such layer."""
    with connect(url) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute("SELECT octet_length(parquet) FROM eldermap.layer_blobs WHERE region = %s AND version = %s "
                           "AND layer = %s", (name, version, layer)).fetchone()
        if row is None:
            return False
        size = int(row[0])
        with open(path, "wb") as f:
            for start in range(0, size, piece_bytes):
                piece = conn.execute("SELECT substring(parquet FROM %s FOR %s) FROM eldermap.layer_blobs WHERE "
                                     "region = %s AND version = %s AND layer = %s",
                                     (start + 1, piece_bytes, name, version, layer)).fetchone()[0]
                f.write(piece)
    return True


def stored_layers(url: str, name: str, version: str) -> dict[str, dict[str, Any]]:
    """Per layer of a stored version: sha256 of the stored bytes (computed by the server), the bytes, and the number
    of rows in the features projection. For checks after a copy."""
    with connect(url) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        out = {layer: {"sha256": sha, "parquet": bytes(data), "features": 0} for layer, sha, data in conn.execute(
            "SELECT layer, encode(sha256(parquet), 'hex'), parquet FROM eldermap.layer_blobs "
            "WHERE region = %s AND version = %s", (name, version))}
        for layer, n in conn.execute("SELECT layer, count(*) FROM eldermap.features WHERE region = %s AND version = %s "
                                     "GROUP BY layer", (name, version)):
            if layer in out:
                out[layer]["features"] = int(n)
    return out


def save_version(url: str, name: str, version: str, manifest: Mapping[str, Any], blobs: Mapping[str, bytes],
                 frames: Mapping[str, gpd.GeoDataFrame] | None = None, *, keep: int,
                 files: Mapping[str, str | os.PathLike[str]] | None = None) -> None:
    """Insert a complete version (manifest, blobs, features) and make it current, all in one transaction.

    ``frames`` are the layers as GeoDataFrames (read from the bytes when absent). ``files``: layers written ahead
    as GeoParquet files (a streamed import's elders): the blob goes in from the file by a binary ``COPY`` in 1 MB
    pieces (the client never holds it; the server builds the one ``bytea`` value, at most 1 GB), the features
    row group by row group. Layers are stored in the manifest's order. An existing version of the same
    name is not written again (versions are immutable): only the pointer moves. Keeps the ``keep`` newest versions.
    """
    layer_info = manifest.get("layers", {})
    files = dict(files or {})
    order = [k for k in layer_info if k in blobs or k in files]
    order += [k for k in [*blobs, *files] if k not in order]
    with connect(url) as conn, conn.transaction():
        conn.execute("SELECT 1 FROM eldermap.regions WHERE name = %s FOR UPDATE", (name,))  # writers of one region queue
        exists = conn.execute("SELECT 1 FROM eldermap.versions WHERE region = %s AND version = %s",
                              (name, version)).fetchone()
        if not exists:
            conn.execute("INSERT INTO eldermap.versions (region, version, manifest) VALUES (%s, %s, %s)",
                         (name, version, Jsonb(json.loads(json.dumps(dict(manifest), default=str)))))
            for position, layer in enumerate(order):
                info = layer_info[layer]
                if layer in files:
                    _copy_blob_file(conn, name, version, layer, position, info["sha256"], int(info["rows"]),
                                    files[layer])
                    _copy_features_file(conn, name, version, layer, files[layer])
                    continue
                data = blobs[layer]
                _insert_blob(conn, name, version, layer, position, info["sha256"], int(info["rows"]), data)
                frame = frames[layer] if frames is not None and layer in frames else gpd.read_parquet(io.BytesIO(data))
                _copy_features(conn, name, version, layer, frame)
        conn.execute("INSERT INTO eldermap.regions (name, current_version) VALUES (%s, %s) ON CONFLICT (name) "
                     "DO UPDATE SET current_version = EXCLUDED.current_version, updated_at = now()", (name, version))
        conn.execute(
            "DELETE FROM eldermap.versions WHERE region = %(r)s AND version <> %(v)s AND version NOT IN "
            "(SELECT version FROM eldermap.versions WHERE region = %(r)s ORDER BY version DESC LIMIT %(k)s)",
            {"r": name, "v": version, "k": keep})


def _insert_blob(conn: psycopg.Connection, region: str, version: str, layer: str, position: int, sha: str, rows: int,
                 data: bytes) -> None:
    conn.execute("INSERT INTO eldermap.layer_blobs (region, version, layer, position, sha256, n_rows, parquet) "
                 "VALUES (%s, %s, %s, %s, %s, %s, %s)", (region, version, layer, position, sha, rows, data))


_PIECE_BYTES = 1 << 20


def _copy_blob_file(conn: psycopg.Connection, region: str, version: str, layer: str, position: int, sha: str,
                    rows: int, path: str | os.PathLike[str]) -> None:
    """One ``layer_blobs`` row whose bytes come from a file, sent by ``COPY ... (FORMAT BINARY)`` in pieces: the
    client holds 1 MB at a time. The bytes are hashed on the way and must match ``sha`` (the manifest's)."""
    size = os.path.getsize(path)
    if size >= 1 << 30:
        raise DatabaseError(f"图层 {layer} 的文件有 {size / 2**20:,.0f} MB，超过数据库单个字段 1 GB 的上限：请按区县分别导入",
                            f"layer {layer} is {size} bytes; a bytea value holds at most 1 GB")

    def text(value: str) -> bytes:
        data = value.encode("utf-8")
        return len(data).to_bytes(4, "big") + data

    head = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    row = (7).to_bytes(2, "big") + text(region) + text(version) + text(layer)
    row += (2).to_bytes(4, "big") + position.to_bytes(2, "big", signed=True) + text(sha)
    row += (4).to_bytes(4, "big") + rows.to_bytes(4, "big", signed=True) + size.to_bytes(4, "big")
    digest = hashlib.sha256()
    with conn.cursor() as cur, cur.copy("COPY eldermap.layer_blobs (region, version, layer, position, sha256, n_rows, "
                                        "parquet) FROM STDIN (FORMAT BINARY)") as copy, open(path, "rb") as f:
        copy.write(head + row)
        sent = 0
        for piece in iter(lambda: f.read(_PIECE_BYTES), b""):
            digest.update(piece)
            copy.write(piece)
            sent += len(piece)
        if sent != size or digest.hexdigest() != sha:  # raising inside the COPY block aborts it (and the transaction)
            raise DatabaseError(f"图层 {layer} 的文件在写入数据库时被改动（与清单的校验和不符），未保存",
                                f"layer file {path} changed while copied (sha256 or size differs from the manifest)")
        copy.write((-1).to_bytes(2, "big", signed=True))


def _copy_features_file(conn: psycopg.Connection, region: str, version: str, layer: str,
                        path: str | os.PathLike[str]) -> None:
    """The ``features`` rows of a layer file, one Parquet row group at a time (memory: one row group)."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    first = 0
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group)
        buffer = io.BytesIO()
        pq.write_table(table, buffer)  # keeps the schema's GeoParquet metadata
        del table
        frame = gpd.read_parquet(buffer)
        _copy_features(conn, region, version, layer, frame, first_row=first)
        first += len(frame)


def _copy_features(conn: psycopg.Connection, region: str, version: str, layer: str, gdf: gpd.GeoDataFrame, *,
                   first_row: int = 0) -> None:
    """One ``features`` row per layer row: the geometry as EWKB (SRID 4326), the other columns as JSON.
    ``first_row``: the layer row number of ``gdf``'s first row (a layer copied in parts)."""
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf._geometry_column_name not in gdf.columns or not len(gdf):
        return
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    ewkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
    props = gdf.drop(columns=[c for c in gdf.columns if isinstance(gdf[c].dtype, gpd.array.GeometryDtype)])
    records = json.loads(props.to_json(orient="records", date_format="iso", force_ascii=False, default_handler=str))
    with conn.cursor() as cur, cur.copy(
            "COPY eldermap.features (region, version, layer, row_no, geom, props) FROM STDIN") as copy:
        for i, (geom, row) in enumerate(zip(ewkb, records, strict=True), start=first_row):
            copy.write_row((region, version, layer, i, geom, json.dumps(row, ensure_ascii=False)))


# ---------------------------------------------------------------- deployment salt, scenarios, locks

def deployment_salt(url: str) -> bytes:
    """The salt shared by every writer of this database: created once (32 random bytes), then read."""
    with connect(url) as conn, conn.transaction():
        conn.execute("INSERT INTO eldermap.meta (key, value) VALUES ('salt', %s) ON CONFLICT (key) DO NOTHING",
                     (secrets.token_hex(32),))
        return bytes.fromhex(conn.execute("SELECT value FROM eldermap.meta WHERE key = 'salt'").fetchone()[0])


def save_scenario(url: str, region: str, name: str, body: Mapping[str, Any], *, overwrite: bool) -> bool:
    """Store a scenario; False when it exists and ``overwrite`` is not set."""
    with connect(url) as conn:
        if overwrite:
            conn.execute("INSERT INTO eldermap.scenarios (region, name, body) VALUES (%s, %s, %s) "
                         "ON CONFLICT (region, name) DO UPDATE SET body = EXCLUDED.body, saved_at = now()",
                         (region, name, Jsonb(dict(body))))
            return True
        cur = conn.execute("INSERT INTO eldermap.scenarios (region, name, body) VALUES (%s, %s, %s) "
                           "ON CONFLICT (region, name) DO NOTHING", (region, name, Jsonb(dict(body))))
        return cur.rowcount == 1


def load_scenario(url: str, region: str, name: str) -> dict[str, Any] | None:
    with connect(url) as conn:
        row = conn.execute("SELECT body FROM eldermap.scenarios WHERE region = %s AND name = %s",
                           (region, name)).fetchone()
    return row[0] if row else None


def list_scenarios(url: str, region: str) -> list[str]:
    with connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM eldermap.scenarios WHERE region = %s ORDER BY name",
                                           (region,))]


def delete_scenario(url: str, region: str, name: str) -> bool:
    with connect(url) as conn:
        return conn.execute("DELETE FROM eldermap.scenarios WHERE region = %s AND name = %s",
                            (region, name)).rowcount == 1


@contextlib.contextmanager
def advisory_lock(url: str, key: str) -> Iterator[Callable[[], bool]]:
    """A dedicated connection for a session advisory lock on ``key``: yields ``try_lock()`` (``pg_try_advisory_lock``,
    True once held); the lock goes when the block ends (the connection is closed) or the process dies."""
    number = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big", signed=True)
    conn = _open(url)
    try:
        yield lambda: bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (number,)).fetchone()[0])
    finally:
        conn.close()


# ---------------------------------------------------------------- audit log

def audit_append(url: str, make_line: Callable[[bytes], bytes]) -> bytes:
    """Append the line ``make_line(last line)`` to the audit table (``b""`` when empty) and return it.

    Appenders are serialised by a table lock held until commit, so the hash chain of :mod:`data.audit` stays intact
    with many writers; a trigger refuses UPDATE, DELETE and TRUNCATE."""
    with connect(url) as conn, conn.transaction():
        conn.execute("LOCK TABLE eldermap.audit IN SHARE ROW EXCLUSIVE MODE")
        row = conn.execute("SELECT line FROM eldermap.audit ORDER BY seq DESC LIMIT 1").fetchone()
        line = make_line(row[0].encode("utf-8") if row else b"")
        conn.execute("INSERT INTO eldermap.audit (line) VALUES (%s)", (line.decode("utf-8"),))
    return line


def audit_lines(url: str, *, limit: int | None = None) -> list[bytes]:
    """The audit table's lines, oldest first (the last ``limit`` when given)."""
    with connect(url) as conn:
        if limit is None:
            rows = conn.execute("SELECT line FROM eldermap.audit ORDER BY seq").fetchall()
        else:
            rows = conn.execute("SELECT line FROM (SELECT seq, line FROM eldermap.audit ORDER BY seq DESC LIMIT %s) t "
                                "ORDER BY seq", (max(0, int(limit)),)).fetchall()
    return [r[0].encode("utf-8") for r in rows]


# ---------------------------------------------------------------- batch results

def save_result(url: str, region: str, key: str, record: Mapping[str, Any], blobs: Mapping[str, bytes]) -> None:
    """Replace the rows of result ``key`` of ``region`` with one row per frame (``record`` in every row's ``meta``), in
    one transaction; writers of one region queue on its ``regions`` row."""
    frames = record["frames"]
    with connect(url) as conn, conn.transaction():
        if conn.execute("SELECT 1 FROM eldermap.regions WHERE name = %s FOR UPDATE", (region,)).fetchone() is None:
            raise DatabaseError(f"数据库中没有地区“{region}”，无法保存它的计算结果",
                                f"region {region!r} not in {redacted(url)}")
        conn.execute("DELETE FROM eldermap.results WHERE region = %s AND key = %s", (region, key))
        meta = Jsonb(json.loads(json.dumps(dict(record), default=str)))
        for position, (frame, data) in enumerate(blobs.items()):
            conn.execute("INSERT INTO eldermap.results (region, key, frame, position, meta, sha256, n_rows, parquet) "
                         "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                         (region, key, frame, position, meta, frames[frame]["sha256"], int(frames[frame]["rows"]),
                          data))


def _ordered_record(record: dict[str, Any], order: list[str]) -> dict[str, Any]:
    """jsonb sorts keys: the record's frames back in the order they were saved."""
    frames = record.get("frames", {})
    record["frames"] = ({k: frames[k] for k in order if k in frames}
                        | {k: v for k, v in frames.items() if k not in order})
    return record


def result_record(url: str, region: str, key: str) -> dict[str, Any] | None:
    """The record (``meta`` column) of a stored result, or None."""
    with connect(url) as conn:
        rows = conn.execute("SELECT frame, meta FROM eldermap.results WHERE region = %s AND key = %s ORDER BY position",
                            (region, key)).fetchall()
    return _ordered_record(rows[0][1], [r[0] for r in rows]) if rows else None


def load_result(url: str, region: str, key: str, names: Sequence[str] | None = None
                ) -> tuple[dict[str, Any], dict[str, bytes]] | None:
    """(record, {frame: parquet bytes}) of a stored result (only the frames in ``names`` when given), read from one
    snapshot; None when there is no such result."""
    with connect(url) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        rows = conn.execute("SELECT frame, meta FROM eldermap.results WHERE region = %s AND key = %s ORDER BY position",
                            (region, key)).fetchall()
        if not rows:
            return None
        wanted = [r[0] for r in rows if names is None or r[0] in names]
        blobs = {frame: bytes(data) for frame, data in conn.execute(
            "SELECT frame, parquet FROM eldermap.results WHERE region = %s AND key = %s AND frame = ANY(%s) "
            "ORDER BY position", (region, key, wanted))}
    return _ordered_record(rows[0][1], [r[0] for r in rows]), blobs


def list_results(url: str, region: str) -> list[str]:
    """Keys of a region's stored results, sorted."""
    with connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT DISTINCT key FROM eldermap.results WHERE region = %s ORDER BY key",
                                           (region,))]
