"""Region storage: the one module that reads and writes region data on disk.

A region is a folder holding immutable *versions* and a pointer to the current one::

    regions/<name>/CURRENT              text file naming the current version folder
    regions/<name>/v20261123T101500-ab12/manifest.json
    regions/<name>/v20261123T101500-ab12/facilities.parquet   (GeoParquet, EPSG:4326)
    regions/<name>/v20261123T101500-ab12/elders.parquet ...

Saving writes a complete new version folder, then replaces ``CURRENT`` with
``os.replace`` (atomic on POSIX and Windows). An import interrupted at any
point therefore leaves the previous version current and intact; half-written
folders are removed by the next save. The manifest records every layer's row
count and SHA-256, and loading checks them.

The same functions also store regions in PostgreSQL + PostGIS (:mod:`data.store_postgis`, the shared store of a
bureau): when ``root`` is a ``postgresql://`` URL, or ``root`` is None and ``$ELDERMAP_DATABASE_URL`` is set
(:func:`database_url`). The semantics are the same: immutable versions, a current pointer changed in one
transaction, a manifest with per-layer row counts and SHA-256 of the exact GeoParquet bytes, nothing visible
from a save that fails halfway, old versions pruned. The audit log goes to the same database (table
``eldermap.audit``, :mod:`data.audit`); login state and the session secret stay local files under
:func:`regions_root` in both cases.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from data.exports import csv_bytes, geojson_bytes, xlsx_bytes
from data.vocab import REGION_NAME_RULE_ZH, SCENARIO_NAME_RULE_ZH, region_name_ok, scenario_name_ok
from geo.errors import ElderMapError, InvalidNameError, ManifestError, RegionNotFoundError, ScenarioError

try:  # POSIX; elsewhere the file store's import lock is not available
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

FORMAT = "eldermap-region/1"
LAYERS: tuple[str, ...] = ("facilities", "elders", "areas", "road_nodes", "road_edges", "buildings", "service_areas",
                           "service_items", "carers", "orders")
"""Stored layers. ``service_items`` (the service list) has no positions: its geometry column is empty."""
STORAGE_CRS = "EPSG:4326"
KEEP_VERSIONS = 3


URL_PREFIXES = ("postgresql://", "postgres://")
DATABASE_ENV = "ELDERMAP_DATABASE_URL"


class ImportInProgressError(ElderMapError, RuntimeError):
    """Another import is writing the same region (the import lock is held elsewhere)."""


def database_url(root: str | Path | None = None) -> str | None:
    """The PostgreSQL URL of the store ``root`` names, or None for the file store.

    An explicit ``root`` decides: a string starting with ``postgresql://`` or ``postgres://`` is a database, anything
    else a folder. With ``root=None``: $ELDERMAP_DATABASE_URL when set, else None (the folder of
    :func:`regions_root`).
    """
    if root is not None:
        return root.strip() if isinstance(root, str) and root.strip().startswith(URL_PREFIXES) else None
    env = os.environ.get(DATABASE_ENV, "").strip()
    return env or None


def _pg():  # type: ignore[no-untyped-def]
    """The PostGIS backend, imported only when a database is used (psycopg is not needed otherwise)."""
    from data import store_postgis

    return store_postgis


def regions_root(root: str | Path | None = None) -> Path:
    """The local folder of a deployment: ``root``, else $ELDERMAP_REGIONS, else ./regions.

    With a database ``root`` (a URL) this is still the local folder ($ELDERMAP_REGIONS or ./regions): login state
    and the session secret stay there (the audit log goes to the database).
    """
    if root is not None and database_url(root) is None:
        return Path(root)
    return Path(os.environ.get("ELDERMAP_REGIONS", "regions"))


def describe_store(root: str | Path | None = None) -> str:
    """The store for messages: the database URL without password, or the folder."""
    url = database_url(root)
    return _pg().redacted(url) if url else str(regions_root(root))


def _pg_path(url: str, *parts: str) -> Path:
    """A path-like name of something in a database, e.g. ``postgis/127.0.0.1_5432_db/<region>/<version>``: its
    ``.name`` is the last part and its text differs between databases (used in cache keys)."""
    return Path("postgis", _pg().identity(url), *parts)


@functools.lru_cache(maxsize=1)
def _empty_layer() -> gpd.GeoDataFrame:
    """An empty layer in the storage CRS (made once: a GeoDataFrame with a CRS takes milliseconds to build)."""
    return gpd.GeoDataFrame({"geometry": gpd.GeoSeries([], crs=STORAGE_CRS)}, crs=STORAGE_CRS)


@dataclass(frozen=True)
class Region:
    """A loaded region version: its manifest and its layers (GeoDataFrames in EPSG:4326). ``elder_rows``: when only
    those rows ``(start, stop)`` of the elders layer were loaded (:func:`load_region`), else None; per-elder caches
    are kept apart by it."""

    name: str
    path: Path
    manifest: dict[str, Any]
    layers: Mapping[str, gpd.GeoDataFrame] = field(repr=False)
    elder_rows: tuple[int, int] | None = None

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """A layer, or an empty GeoDataFrame when the region has none of it."""
        if name in self.layers:
            return self.layers[name]
        return _empty_layer().copy()  # a copy: a caller may add columns to it

    @property
    def facilities(self) -> gpd.GeoDataFrame:
        return self.layer("facilities")

    @property
    def elders(self) -> gpd.GeoDataFrame:
        return self.layer("elders")

    @property
    def areas(self) -> gpd.GeoDataFrame:
        return self.layer("areas")

    @property
    def road_nodes(self) -> gpd.GeoDataFrame:
        return self.layer("road_nodes")

    @property
    def road_edges(self) -> gpd.GeoDataFrame:
        return self.layer("road_edges")

    @property
    def version(self) -> str:
        return self.path.name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (for manifests' source records)."""
    return _sha256(Path(path))


def _current_version(region_dir: Path) -> Path | None:
    pointer = region_dir / "CURRENT"
    if not pointer.exists():
        return None
    version = region_dir / pointer.read_text(encoding="utf-8").strip()
    return version if version.is_dir() else None


def current_version(name: str, *, root: str | Path | None = None) -> str:
    """Name of a region's current version ("" when the region does not exist); cheap, for cache keys."""
    url = database_url(root)
    if url:
        return _pg().current_version(url, name)
    version = _current_version(regions_root(root) / name)
    return version.name if version is not None else ""


def region_exists(name: str, *, root: str | Path | None = None) -> bool:
    """Whether a region with a current version exists."""
    url = database_url(root)
    if url:
        return bool(_pg().current_version(url, name))
    return _current_version(regions_root(root) / name) is not None


def list_regions(*, root: str | Path | None = None) -> list[str]:
    """Names of the regions under ``root`` that have a current version."""
    url = database_url(root)
    if url:
        return _pg().list_regions(url)
    base = regions_root(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and _current_version(p) is not None)


@dataclass(frozen=True)
class NewVersion:
    """A region version being written (:func:`start_version`): layers too large to hold whole are written into
    :meth:`layer_path` block by block (:func:`write_layer_blocks`), then :func:`save_region` completes the version
    with ``new=`` and ``written=``. In the file store the folder is the version's hidden ``.partial-<version>``
    folder (renamed to the version when complete); for PostGIS a temporary folder whose files are copied into the
    database in the save's one transaction. Until then nothing of it is visible to readers."""

    region: str
    version: str
    folder: Path
    database: str | None = None

    def layer_path(self, layer: str) -> Path:
        """Where a layer written ahead of :func:`save_region` goes (``<layer>.parquet`` in :attr:`folder`)."""
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; allowed: {LAYERS}")
        return self.folder / f"{layer}.parquet"

    def discard(self) -> None:
        """Remove what was written (an import that failed): the previous version stays current."""
        shutil.rmtree(self.folder, ignore_errors=True)


def start_version(name: str, *, root: str | Path | None = None) -> NewVersion:
    """Begin a new version of region ``name``: its name, and the folder its large layers are written into before
    :func:`save_region` (``new=``) completes it. Call :meth:`NewVersion.discard` when the save does not happen."""
    _check_region_name(name)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    version = f"v{stamp}-{secrets.token_hex(2)}"
    url = database_url(root)
    if url:
        return NewVersion(name, version, Path(tempfile.mkdtemp(prefix=f"eldermap-{name}-{version}-")), url)
    return NewVersion(name, version, _start_version_folder(regions_root(root) / name, version))


def carry_layer(name: str, layer: str, new: NewVersion, *, root: str | Path | None = None,
                path: Path | None = None) -> dict[str, Any]:
    """Put layer ``layer`` of region ``name``'s current version, as stored, into the version being written (at
    ``path``, default :meth:`NewVersion.layer_path`) without loading it: a hard link to the file (versions are
    immutable), else a copy; from PostGIS, the blob read in pieces. Its SHA-256 is checked against the manifest as
    loading checks it. Returns the layer's manifest entry (``file``, ``rows``, ``sha256``), for ``written=``.

    Raises
    ------
    ManifestError
        The stored layer is missing or differs from its manifest entry.
    """
    url = database_url(root)
    target = path or new.layer_path(layer)
    target.unlink(missing_ok=True)
    if url:
        found = _pg().current_manifest(url, name)
        if found is None:
            raise _not_found(name, "共享数据库", url)
        version, manifest = found
        info = manifest.get("layers", {}).get(layer)
        if info is None or not _pg().layer_blob_to_file(url, name, version, layer, target):
            raise ManifestError(f"地区“{name}”缺少图层 {layer}", f"missing layer {layer} of {name}/{version}")
        where = f"{_pg().redacted(url)} {name}/{version}/{layer}"
    else:
        version_dir = _current_version(regions_root(root) / name)
        if version_dir is None:
            raise _not_found(name, f"目录 {regions_root(root) / name}", root)
        manifest = json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))
        info = manifest.get("layers", {}).get(layer)
        source = version_dir / info["file"] if info else None
        if source is None or not source.exists():
            raise ManifestError(f"地区“{name}”缺少图层 {layer}", f"missing layer {layer} in {version_dir}")
        try:
            os.link(source, target)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(source, target)
        where = str(source)
    if _sha256(target) != info["sha256"]:
        target.unlink(missing_ok=True)
        raise _hash_mismatch(name, info["file"], where)
    return {"file": f"{layer}.parquet", "rows": int(info["rows"]), "sha256": info["sha256"]}


def save_region(
    name: str,
    layers: Mapping[str, gpd.GeoDataFrame],
    manifest: Mapping[str, Any],
    *,
    root: str | Path | None = None,
    new: NewVersion | None = None,
    written: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write a new version of a region atomically and make it current.

    Parameters
    ----------
    name
        Region name (a folder name: letters, digits, ``-`` and ``_``).
    layers
        Layer name -> GeoDataFrame. Geometries must carry a CRS; they are stored
        in EPSG:4326. Names must be in :data:`LAYERS`.
    manifest
        Extra manifest entries (sources, settings, notes); ``format``, ``name``,
        ``version``, ``created_at``, ``crs`` and ``layers`` are filled in here.
    new
        The version begun by :func:`start_version` (its layers in ``written`` are in its folder); default a new one.
    written
        Layers already written as files into ``new``'s folder (:meth:`NewVersion.layer_path`), by name: their
        manifest entries as :func:`write_layer_blocks` returns them (``rows``, ``sha256``). They are never loaded:
        the file store keeps the file, PostGIS copies it in row group by row group.

    Returns
    -------
    Path of the new version folder.
    """
    _check_region_name(name)
    written = dict(written or {})
    unknown = (set(layers) | set(written)) - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; allowed: {LAYERS}")
    if written and new is None:
        raise ValueError("layers written ahead need the version they were written for (new=start_version(...))")
    if new is not None and new.region != name:
        raise ValueError(f"version {new.version} was begun for region {new.region!r}, not {name!r}")
    url = database_url(root)
    if new is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        version = f"v{stamp}-{secrets.token_hex(2)}"
        tmp = None if url else _start_version_folder(regions_root(root) / name, version)
    else:
        version, tmp = new.version, (None if url else new.folder)
    frames: dict[str, gpd.GeoDataFrame] = {}
    blobs: dict[str, bytes] = {}
    files: dict[str, Path] = {}
    layer_info: dict[str, Any] = {}
    for layer_name, entry in written.items():
        path = new.layer_path(layer_name)  # type: ignore[union-attr]
        if not path.is_file():
            raise ValueError(f"layer {layer_name} was not written to {path}")
        files[layer_name] = path
        layer_info[layer_name] = {"file": path.name, "rows": int(entry["rows"]), "sha256": str(entry["sha256"])}
    for layer_name, gdf in layers.items():
        if layer_name in written:
            raise ValueError(f"layer {layer_name} given both as a frame and as a written file")
        if gdf.crs is None:
            raise ValueError(f"layer {layer_name} has no CRS")
        out = gdf.to_crs(STORAGE_CRS) if str(gdf.crs) != STORAGE_CRS else gdf
        frames[layer_name], blobs[layer_name] = out, parquet_bytes(out)
        layer_info[layer_name] = {"file": f"{layer_name}.parquet", "rows": int(len(out)),
                                  "sha256": hashlib.sha256(blobs[layer_name]).hexdigest()}
        if tmp is not None:  # files: each layer goes to the hidden folder as soon as it is made
            _write_durably(tmp / layer_info[layer_name]["file"], blobs[layer_name])
    full = {
        **dict(manifest),
        "format": FORMAT,
        "name": name,
        "version": version,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "crs": STORAGE_CRS,
        "layers": layer_info,
    }
    final = _write_version(name, full, blobs, frames, root=root, layers_written=tmp is not None, files=files)
    log.info("saved region %s version %s (%s)", name, version,
             ", ".join(f"{k}={v['rows']}" for k, v in layer_info.items()))
    return final


def parquet_bytes(gdf: gpd.GeoDataFrame) -> bytes:
    """The GeoParquet bytes of a layer as both stores keep them (their SHA-256 is the manifest's checksum)."""
    buffer = io.BytesIO()
    gdf.to_parquet(buffer, index=False, row_group_size=ELDER_ROW_GROUP_ROWS)
    return buffer.getvalue()


def _check_region_name(name: str) -> None:
    if not region_name_ok(name):
        raise InvalidNameError(f"地区名称“{name}”无效：{REGION_NAME_RULE_ZH}",
                               f"region name must be letters, digits, '-' or '_': {name!r}")


def _write_version(name: str, manifest: Mapping[str, Any], blobs: Mapping[str, bytes],
                   frames: Mapping[str, gpd.GeoDataFrame] | None, *, root: str | Path | None,
                   layers_written: bool = False, files: Mapping[str, Path] | None = None) -> Path:
    """Store a complete version (its manifest names it) and make it current; an existing version of that name is
    kept as it is (versions are immutable) and only made current. ``layers_written``: the file store's hidden
    folder of this version already holds every layer file (:func:`save_region` writes them as it goes).
    ``files``: layers written ahead as GeoParquet files (for PostGIS, copied in from them)."""
    version = manifest["version"]
    url = database_url(root)
    if url:
        _pg().save_version(url, name, version, manifest, blobs, frames, keep=KEEP_VERSIONS, files=files)
        return _pg_path(url, name, version)
    region_dir = regions_root(root) / name
    final = region_dir / version
    tmp = region_dir / f".partial-{version}"
    if not final.is_dir():
        if not layers_written:  # a copy: the layers are not written yet
            tmp = _start_version_folder(region_dir, version)
            for layer_name, data in blobs.items():
                _write_durably(tmp / manifest["layers"][layer_name]["file"], data)
        _write_durably(tmp / "manifest.json",
                       json.dumps(dict(manifest), ensure_ascii=False, indent=2, default=str).encode("utf-8"))
        os.replace(tmp, final)
    with atomic_write(region_dir / "CURRENT", mode="w") as f:
        f.write(version + "\n")
    _prune_versions(region_dir, keep=version)
    return final


def _start_version_folder(region_dir: Path, version: str) -> Path:
    """The hidden folder a new version is written into (renamed to the version when complete); removes the
    half-written folders of earlier saves that did not finish."""
    region_dir.mkdir(parents=True, exist_ok=True)
    _remove_partial_versions(region_dir)
    tmp = region_dir / f".partial-{version}"
    tmp.mkdir()
    return tmp


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


ELDER_ROW_GROUP_ROWS = 65_536
"""Rows per Parquet row group of a stored layer: a reader of a slice of a large layer (``elder_rows``) decodes only
the row groups it needs."""


def region_manifest(name: str, *, root: str | Path | None = None) -> dict[str, Any]:
    """The manifest of a region's current version (each layer's ``rows``, ``sha256``…), reading no layer: cheap, for
    planning work on a region before loading it. Raises :class:`geo.errors.RegionNotFoundError`."""
    url = database_url(root)
    if url:
        found = _pg().current_manifest(url, name)
        if found is None:
            raise _not_found(name, "共享数据库", url)
        manifest = found[1]
    else:
        version = _current_version(regions_root(root) / name)
        if version is None:
            raise _not_found(name, f"目录 {regions_root(root) / name}", root)
        try:
            manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ManifestError(f"地区“{name}”的清单文件无法读取：{exc}", f"cannot read {version}: {exc}") from None
    _check_format(name, manifest)
    return manifest


def _read_rows(source: Path | io.BytesIO, rows: tuple[int, int]) -> tuple[gpd.GeoDataFrame, int]:
    """Rows ``[start, stop)`` of a stored GeoParquet layer, decoding only the row groups that hold them, and the
    layer's row count (from the file's footer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    start, stop = rows
    parquet = pq.ParquetFile(source)
    pieces, seen = [], 0
    for group in range(parquet.num_row_groups):
        n = parquet.metadata.row_group(group).num_rows
        lo, hi = max(start, seen), min(stop, seen + n)
        if lo < hi:
            pieces.append(parquet.read_row_group(group).slice(lo - seen, hi - lo))
        seen += n
    table = pa.concat_tables(pieces) if pieces else parquet.schema_arrow.empty_table()
    buffer = io.BytesIO()
    pq.write_table(table, buffer)  # keeps the schema's GeoParquet metadata
    del table, pieces
    return gpd.read_parquet(buffer), parquet.metadata.num_rows


def read_row_groups(path: str | Path) -> Iterator[gpd.GeoDataFrame]:
    """A stored GeoParquet layer, one Parquet row group at a time (as :func:`load_region` would read those rows):
    memory holds one row group, never the layer."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group)
        buffer = io.BytesIO()
        pq.write_table(table, buffer)  # keeps the schema's GeoParquet metadata
        del table
        yield gpd.read_parquet(buffer)


def load_region(name: str, *, root: str | Path | None = None, verify: bool = True,
                elder_rows: tuple[int, int] | None = None, skip: Sequence[str] = ()) -> Region:
    """Load the current version of a region, checking its manifest.

    ``elder_rows``: ``(start, stop)`` loads only those rows of the elders layer (the other layers whole; the
    layer's checksum and row count are still checked on the whole stored layer): a batch task that handles part of
    a large county (:mod:`batch.runner`) never holds all its elders.

    ``skip``: layers not read at all (nor checked); the manifest still lists them with their row counts. An import
    that replaces the elders never holds the previous ones.

    Raises
    ------
    RegionNotFoundError
        The region does not exist.
    ManifestError
        A layer file is missing, or its hash or row count differs from the manifest.
    """
    url = database_url(root)
    if url:
        return _load_from_database(url, name, verify=verify, elder_rows=elder_rows, skip=skip)
    region_dir = regions_root(root) / name
    version = _current_version(region_dir)
    if version is None:
        raise _not_found(name, f"目录 {region_dir}", root)
    manifest_path = version / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"地区“{name}”的清单文件无法读取：{exc}", f"cannot read {manifest_path}: {exc}") from None
    _check_format(name, manifest)
    layers: dict[str, gpd.GeoDataFrame] = {}
    for layer_name, info in manifest.get("layers", {}).items():
        if layer_name in skip:
            continue
        path = version / info["file"]
        if not path.exists():
            raise ManifestError(f"地区“{name}”缺少图层文件 {path.name}", f"missing layer file {path}")
        if verify and _sha256(path) != info["sha256"]:
            raise _hash_mismatch(name, path.name, str(path))
        if layer_name == "elders" and elder_rows is not None:
            gdf, rows = _read_rows(path, elder_rows)
        else:
            gdf = gpd.read_parquet(path)
            rows = len(gdf)
        if verify and rows != info["rows"]:
            raise _rows_mismatch(name, path.name, rows, info["rows"], str(path))
        layers[layer_name] = gdf
    return Region(name=name, path=version, manifest=manifest, layers=layers, elder_rows=elder_rows)


def _not_found(name: str, where: str, root: str | Path | None) -> RegionNotFoundError:
    available = list_regions(root=root)
    where_en = f"the database {_pg().redacted(str(root))}" if database_url(root) else where
    return RegionNotFoundError(
        f"找不到地区“{name}”（{where}）。已有地区：{', '.join(available) or '无'}。"
        "可运行 `eldermap demo` 生成演示地区，或用 `eldermap import` 导入。",
        f"region {name!r} not found in {where_en}; available: {available}",
    )


def _check_format(name: str, manifest: Mapping[str, Any]) -> None:
    if manifest.get("format") != FORMAT:
        raise ManifestError(f"地区“{name}”的格式 {manifest.get('format')!r} 不受支持（应为 {FORMAT}）",
                            f"unsupported region format {manifest.get('format')!r}")


def _hash_mismatch(name: str, file: str, where: str) -> ManifestError:
    return ManifestError(f"地区“{name}”的图层 {file} 与清单不符（文件被改动或损坏），请重新导入",
                         f"hash mismatch for {where}")


def _rows_mismatch(name: str, file: str, got: int, expected: int, where: str) -> ManifestError:
    return ManifestError(f"地区“{name}”的图层 {file} 行数 {got} 与清单 {expected} 不符",
                         f"row count mismatch for {where}")


def _load_from_database(url: str, name: str, *, verify: bool, elder_rows: tuple[int, int] | None = None,
                        skip: Sequence[str] = ()) -> Region:
    found = _pg().load_current(url, name, skip=tuple(skip)) if skip else _pg().load_current(url, name)
    if found is None:
        raise _not_found(name, "共享数据库", url)
    version, manifest, blobs = found
    _check_format(name, manifest)
    layers: dict[str, gpd.GeoDataFrame] = {}
    for layer_name, info in manifest.get("layers", {}).items():
        if layer_name in skip:
            continue
        where = f"{_pg().redacted(url)} {name}/{version}/{layer_name}"
        if layer_name not in blobs:
            raise ManifestError(f"地区“{name}”缺少图层 {info['file']}", f"missing layer blob {where}")
        data = blobs[layer_name][1]
        if verify and hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise _hash_mismatch(name, info["file"], where)
        if layer_name == "elders" and elder_rows is not None:
            gdf, rows = _read_rows(io.BytesIO(data), elder_rows)
        else:
            gdf = gpd.read_parquet(io.BytesIO(data))
            rows = len(gdf)
        if verify and rows != info["rows"]:
            raise _rows_mismatch(name, info["file"], rows, info["rows"], where)
        layers[layer_name] = gdf
    return Region(name=name, path=_pg_path(url, name, version), manifest=manifest, layers=layers,
                  elder_rows=elder_rows)


def _remove_partial_versions(region_dir: Path) -> None:
    for p in region_dir.glob(".partial-*"):
        shutil.rmtree(p, ignore_errors=True)


def _prune_versions(region_dir: Path, *, keep: str) -> None:
    versions = sorted((p for p in region_dir.glob("v*") if p.is_dir()), key=lambda p: p.name)
    for old in versions[:-KEEP_VERSIONS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def deployment_salt(*, root: str | Path | None = None) -> bytes:
    """Secret salt for pseudonymising identifiers, shared by all regions of a deployment.

    Taken from $ELDERMAP_SALT (hex) when set, else from ``<root>/.salt``,
    created with 32 random bytes (file mode 600) on first use; in a database store, from its ``meta`` table
    (created once, so every writer of one database shares it). Keep it secret and
    keep it stable: the same person gets the same pseudonym only with the same salt.
    """
    env = os.environ.get("ELDERMAP_SALT")
    if env:
        try:
            salt = bytes.fromhex(env.strip())
        except ValueError:
            salt = b""
        if len(salt) < 16:
            raise ElderMapError("环境变量 ELDERMAP_SALT 应为至少 32 位十六进制数字（16 字节），当前值无效；"
                                "请改正或删除该变量（删除后使用地区目录中的 .salt）",
                                "ELDERMAP_SALT is not hex of at least 16 bytes")
        return salt
    url = database_url(root)
    if url:
        return _pg().deployment_salt(url)
    base = regions_root(root)
    base.mkdir(parents=True, exist_ok=True)
    path = base / ".salt"
    if not path.exists():
        with atomic_write(path, mode="wb") as f:
            f.write(secrets.token_bytes(32))
        os.chmod(path, 0o600)
    return path.read_bytes()


@contextlib.contextmanager
def atomic_write(path: str | Path, *, mode: str = "wb", encoding: str | None = None) -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success replace ``path`` with it.

    If the block raises, ``path`` is left as it was and the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_table(df: pd.DataFrame, path: str | Path, *, sheet_name: str = "Sheet1",
                extra_sheets: Mapping[str, pd.DataFrame] | None = None, encoding: str = "utf-8-sig") -> Path:
    """Write a table atomically as .xlsx or .csv (chosen by suffix).

    CSV is written as UTF-8 with BOM by default so that Excel on Chinese Windows
    opens it correctly; pass ``encoding="gbk"`` for systems that need GBK.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        content = xlsx_bytes(df, sheet_name=sheet_name, extra_sheets=extra_sheets)
    elif suffix == ".csv":
        content = csv_bytes(df, encoding=encoding)
    else:
        raise ValueError(f"unsupported table format {suffix!r}: use .xlsx or .csv")
    with atomic_write(path, mode="wb") as f:
        f.write(content)
    return path


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write a GeoDataFrame atomically as GeoJSON in EPSG:4326 (RFC 7946)."""
    path = Path(path)
    with atomic_write(path, mode="wb") as f:
        f.write(geojson_bytes(gdf))
    return path


def write_geopackage(gdf: gpd.GeoDataFrame, path: str | Path, *, layer: str) -> Path:
    """Write a GeoDataFrame atomically as a one-layer GeoPackage in EPSG:4326.

    GDAL writes to a file name, not a stream: the layer goes to a temporary file beside ``path``,
    which then replaces ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = gdf.to_crs(STORAGE_CRS) if gdf.crs is not None and str(gdf.crs) != STORAGE_CRS else gdf
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".gpkg", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()  # GDAL creates the file itself
        out.to_file(tmp, driver="GPKG", layer=layer)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------- scenarios

SCENARIO_FORMAT = "eldermap-scenario/1"


def _scenario_path(region: str, scenario: str, root: str | Path | None) -> Path:
    if not scenario_name_ok(scenario):
        raise ScenarioError(f"方案名称“{scenario}”无效：{SCENARIO_NAME_RULE_ZH}",
                            f"invalid scenario name {scenario!r}")
    if not region_exists(region, root=root):
        raise RegionNotFoundError(f"找不到地区“{region}”", f"region {region!r} not found")
    url = database_url(root)
    if url:
        return _pg_path(url, region, "scenarios", f"{scenario}.json")
    return regions_root(root) / region / "scenarios" / f"{scenario}.json"


def save_scenario(region: str, scenario: dict[str, Any], *, root: str | Path | None = None,
                  overwrite: bool = False) -> Path:
    """Write a scenario (a JSON-able dict with a ``name``) beside the region's versions, atomically.

    Scenarios live with the region, not inside a version: they record the version they were made on
    (``base_version``) and survive imports.
    """
    path = _scenario_path(region, str(scenario.get("name", "")), root)
    exists = ScenarioError(f"方案“{scenario['name']}”已存在；换一个名称或先删除它",
                           f"scenario {scenario['name']!r} exists")
    body = {"format": SCENARIO_FORMAT, **scenario}
    url = database_url(root)
    if url:
        if not _pg().save_scenario(url, region, str(scenario["name"]), json.loads(json.dumps(body)),
                                   overwrite=overwrite):
            raise exists
        return path
    if path.exists() and not overwrite:
        raise exists
    with atomic_write(path, mode="w", encoding="utf-8") as f:
        json.dump(body, f, ensure_ascii=False, indent=2)
    return path


def load_scenario(region: str, name: str, *, root: str | Path | None = None) -> dict[str, Any]:
    """A saved scenario as a dict."""
    path = _scenario_path(region, name, root)
    url = database_url(root)
    body = _pg().load_scenario(url, region, name) if url else None
    if body is None and (url or not path.exists()):
        known = list_scenarios(region, root=root)
        raise ScenarioError(f"地区“{region}”没有方案“{name}”；已有方案：{'、'.join(known) or '无'}",
                            f"scenario {name!r} not found in region {region!r}")
    if body is None:
        body = json.loads(path.read_text(encoding="utf-8"))
    if body.get("format") != SCENARIO_FORMAT:
        raise ScenarioError(f"方案文件 {path} 格式不符", f"{path}: not an {SCENARIO_FORMAT} file")
    body.pop("format")
    return body


def list_scenarios(region: str, *, root: str | Path | None = None) -> list[str]:
    """Names of a region's saved scenarios, sorted."""
    url = database_url(root)
    if url:
        return _pg().list_scenarios(url, region)
    folder = regions_root(root) / region / "scenarios"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def delete_scenario(region: str, name: str, *, root: str | Path | None = None) -> None:
    """Remove a saved scenario."""
    path = _scenario_path(region, name, root)
    url = database_url(root)
    if url and _pg().delete_scenario(url, region, name):
        return
    if url or not path.exists():
        raise ScenarioError(f"地区“{region}”没有方案“{name}”", f"scenario {name!r} not found")
    path.unlink()


# ---------------------------------------------------------------- concurrent writers

IMPORT_WAIT_ENV = "ELDERMAP_IMPORT_WAIT_S"
IMPORT_WAIT_S = 30.0
"""How long an import waits for another import of the same region to finish before giving up (seconds; the
environment variable ``ELDERMAP_IMPORT_WAIT_S`` overrides it, 0 = give up at once)."""
_LOCK_POLL_S = 0.2


def _import_wait_s(wait_s: float | None) -> float:
    if wait_s is not None:
        return max(0.0, wait_s)
    try:
        return max(0.0, float(os.environ.get(IMPORT_WAIT_ENV, IMPORT_WAIT_S)))
    except ValueError:
        return IMPORT_WAIT_S


@contextlib.contextmanager
def import_lock(name: str, *, root: str | Path | None = None, wait_s: float | None = None) -> Iterator[None]:
    """Hold the import lock of region ``name`` for the block; when another process holds it, try again for up to
    ``wait_s`` seconds (default :data:`IMPORT_WAIT_S`), then raise :class:`ImportInProgressError`.

    Files: ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``<regions>/<name>.lock`` (removed again when the block ends, so an
    idle regions folder holds no lock files). PostGIS: ``pg_try_advisory_lock`` on a dedicated connection. Either is
    released when the block ends, or when the holding process dies.
    """
    _check_region_name(name)
    busy = ImportInProgressError(f"地区“{name}”正在由另一项导入写入，请稍后再试",
                                 f"region {name!r} is being written by another import; try again later")
    deadline = time.monotonic() + _import_wait_s(wait_s)
    url = database_url(root)
    if url:
        with _pg().advisory_lock(url, f"eldermap-import:{name}") as try_lock:
            while not try_lock():
                if time.monotonic() >= deadline:
                    raise busy
                time.sleep(_LOCK_POLL_S)
            yield
        return
    base = regions_root(root)
    base.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    path = base / f"{name}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise busy from None
            time.sleep(_LOCK_POLL_S)
            continue
        try:  # the holder before us may have removed the file we opened: then lock the new one
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # while still holding it: a waiter that opened this file sees it is gone and retries
        os.close(fd)


# ---------------------------------------------------------------- moving a region between stores

@dataclass(frozen=True)
class LayerCheck:
    """One layer of a copied version: what the source manifest says and what the target holds."""

    layer: str
    rows_expected: int
    rows_found: int
    sha256_expected: str
    sha256_found: str

    @property
    def ok(self) -> bool:
        return self.rows_found == self.rows_expected and self.sha256_found == self.sha256_expected


def read_current_version(name: str, *, root: str | Path | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the exact stored GeoParquet bytes of each layer of a region's current version, checked
    against the manifest (:class:`geo.errors.ManifestError` when they differ)."""
    url = database_url(root)
    if url:
        found = _pg().load_current(url, name)
        if found is None:
            raise _not_found(name, "共享数据库", url)
        _, manifest, stored = found
        blobs = {layer: data for layer, (_, data) in stored.items()}
    else:
        version = _current_version(regions_root(root) / name)
        if version is None:
            raise _not_found(name, f"目录 {regions_root(root) / name}", root)
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        blobs = {layer: (version / info["file"]).read_bytes() for layer, info in manifest.get("layers", {}).items()
                 if (version / info["file"]).exists()}
    _check_format(name, manifest)
    for layer, info in manifest.get("layers", {}).items():
        if layer not in blobs:
            raise ManifestError(f"地区“{name}”缺少图层 {info['file']}", f"missing layer {layer}")
        if hashlib.sha256(blobs[layer]).hexdigest() != info["sha256"]:
            raise _hash_mismatch(name, info["file"], f"{describe_store(root)} {name}/{layer}")
    return manifest, blobs


def check_version(name: str, manifest: Mapping[str, Any], *, root: str | Path | None = None) -> list[LayerCheck]:
    """Compare the stored copy of version ``manifest["version"]`` with ``manifest``: per layer, the SHA-256 of the
    stored bytes (computed by the database server for PostGIS) and the rows read back (for PostGIS the smaller of the
    GeoParquet rows and the rows of the queryable ``features`` projection, so a short projection shows too)."""
    import pyarrow.parquet as pq

    version = str(manifest["version"])
    url = database_url(root)
    checks = []
    if url:
        stored = _pg().stored_layers(url, name, version)
    for layer, info in manifest.get("layers", {}).items():
        sha, rows = "", -1
        try:
            if url and layer in stored:
                sha = stored[layer]["sha256"]
                rows = pq.read_metadata(io.BytesIO(stored[layer]["parquet"])).num_rows
                if rows and stored[layer]["features"] != rows:
                    rows = min(rows, stored[layer]["features"])
            elif not url:
                path = regions_root(root) / name / version / info["file"]
                if path.exists():
                    sha = _sha256(path)
                    rows = pq.read_metadata(path).num_rows
        except (OSError, ValueError):  # not a readable GeoParquet (pyarrow's errors are ValueErrors): no rows
            rows = -1
        checks.append(LayerCheck(layer, int(info["rows"]), int(rows), str(info["sha256"]), sha))
    return checks


def copy_region(name: str, *, source: str | Path | None, target: str | Path | None) -> tuple[str, list[LayerCheck]]:
    """Copy the current version of a region (same version name, same bytes) and its scenarios from one store to
    another, make it current there, and check every layer in the target. Returns (version, checks)."""
    if database_url(source) == database_url(target) and (database_url(source) or
                                                         regions_root(source).resolve() == regions_root(target).resolve()):
        raise ElderMapError(f"源和目标是同一个存储（{describe_store(source)}），无需复制",
                            "source and target are the same store")
    manifest, blobs = read_current_version(name, root=source)
    _write_version(name, manifest, blobs, None, root=target)
    for scenario in list_scenarios(name, root=source):
        body = load_scenario(name, scenario, root=source)
        save_scenario(name, body, root=target, overwrite=True)
    return str(manifest["version"]), check_version(name, manifest, root=target)


# ---------------------------------------------------------------- database schema

def migrate_database(url: str, *, upto: int | None = None) -> tuple[int, int]:
    """Create or upgrade the eldermap schema of a database (every missing step, or up to step ``upto``).
    Returns (schema version before, after)."""
    return _pg().migrate(url, upto=upto)


def database_schema_version(url: str) -> tuple[int, int]:
    """(schema version of the database, schema version this program needs)."""
    return _pg().current_schema_version(url), _pg().SCHEMA_VERSION


def migration_steps() -> list[str]:
    """What each schema step creates, in order (for ``eldermap db``)."""
    return [what for what, _ in _pg().MIGRATIONS]


def default_root() -> str | Path:
    """The store to use when none is named: $ELDERMAP_DATABASE_URL when set, else the regions folder
    (:func:`regions_root`). Pass it as ``root`` to every function here and to ``data.audit``/``data.auth`` (which keep
    their files in the local folder either way)."""
    return database_url(None) or regions_root(None)


# ---------------------------------------------------------------- batch results

RESULT_FORMAT = "eldermap-result/1"
RESULTS_FOLDER = "results"
"""Folder of a region's stored results (``<regions>/<region>/results/<key>/``), beside its versions: results record
the version they were computed on (in their meta) and outlive imports, like scenarios."""


class ResultError(ElderMapError, ValueError):
    """A stored result is damaged (a frame's checksum or row count differs from its meta), or a result name is
    invalid."""


class ResultNotFoundError(ElderMapError, FileNotFoundError):
    """A region has no stored result of that key."""


@dataclass(frozen=True)
class StoredResult:
    """A stored result: its frames (name -> DataFrame) and its record (``meta`` as saved, ``frames`` with each
    frame's file, rows and SHA-256, ``saved_at``)."""

    region: str
    key: str
    frames: Mapping[str, pd.DataFrame] = field(repr=False)
    record: dict[str, Any]

    @property
    def meta(self) -> dict[str, Any]:
        return self.record["meta"]


def _check_result_name(value: str, what_zh: str, what_en: str) -> None:
    if not region_name_ok(value):
        raise ResultError(f"计算结果的{what_zh}“{value}”无效：只能包含字母、数字、- 和 _",
                          f"result {what_en} must be letters, digits, '-' or '_': {value!r}")


def _result_dir(region: str, key: str, root: str | Path | None) -> Path:
    return regions_root(root) / region / RESULTS_FOLDER / key


def _result_not_found(region: str, key: str) -> ResultNotFoundError:
    return ResultNotFoundError(f"地区“{region}”没有名为“{key}”的计算结果：请先运行 `eldermap batch` 计算",
                               f"region {region!r} has no result {key!r}")


def _result_mismatch(region: str, key: str, frame: str, what_zh: str, where: str) -> ResultError:
    return ResultError(f"地区“{region}”的计算结果“{key}”中的表 {frame} {what_zh}（文件被改动或损坏）："
                       "请删除该结果或重新运行 `eldermap batch`（不加 --resume）重新计算",
                       f"result {key!r} of region {region!r}: frame {frame} {where} does not match its meta")


def save_result(region: str, key: str, frames: Mapping[str, pd.DataFrame], meta: Mapping[str, Any], *,
                root: str | Path | None = None) -> Path:
    """Store a computed result of a region under ``key``, atomically, replacing any earlier result of that key.

    Files: every frame as ``<name>.parquet`` and a ``meta.json`` (``meta``, each frame's rows and SHA-256, the time
    saved) are written to a hidden folder beside ``<regions>/<region>/results/<key>/``, which then takes its place
    (a reader meanwhile finds the old result or, for an instant, none: never a mixture). PostGIS: the rows of table
    ``eldermap.results`` of that key are replaced in one transaction. Writing the same frames and meta again stores
    the same bytes (a task run twice after a worker died leaves one result, the same).

    Parameters
    ----------
    region
        An existing region.
    key
        Result name: letters, digits, ``-`` and ``_``.
    frames
        Frame name (same rule) -> DataFrame; at least one. Stored without the index.
    meta
        JSON-able description (kind, parameters, inputs digest, counts).

    Returns
    -------
    The result's folder (for PostGIS a path-like name).
    """
    _check_result_name(key, "名称", "key")
    if not frames:
        raise ResultError(f"计算结果“{key}”没有任何表，无法保存", f"result {key!r} has no frames")
    for name in frames:
        _check_result_name(name, "表名", "frame name")
    if not region_exists(region, root=root):
        raise _not_found(region, f"目录 {regions_root(root) / region}", root)
    blobs = {name: _frame_bytes(df) for name, df in frames.items()}
    record = {
        "format": RESULT_FORMAT, "region": region, "key": key,
        "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "frames": {name: {"file": f"{name}.parquet", "rows": int(len(frames[name])),
                          "sha256": hashlib.sha256(data).hexdigest()} for name, data in blobs.items()},
        "meta": json.loads(json.dumps(dict(meta), ensure_ascii=False, default=str)),
    }
    url = database_url(root)
    if url:
        _pg().save_result(url, region, key, record, blobs)
        log.info("saved result %s of region %s (%s)", key, region,
                 ", ".join(f"{k}={len(v)}" for k, v in frames.items()))
        return _pg_path(url, region, RESULTS_FOLDER, key)
    final = _result_dir(region, key, root)
    folder = final.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".partial-{key}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        for name, data in blobs.items():
            _write_durably(tmp / record["frames"][name]["file"], data)
        _write_durably(tmp / "meta.json", json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8"))
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for leftover in [*folder.glob(f".partial-{key}-*"), *folder.glob(f".stale-{key}-*")]:
        with contextlib.suppress(FileNotFoundError):  # another writer's, finished meanwhile
            if time.time() - leftover.stat().st_mtime > _LEFTOVER_AGE_S:  # a save that died
                shutil.rmtree(leftover, ignore_errors=True)
    log.info("saved result %s of region %s (%s)", key, region, ", ".join(f"{k}={len(v)}" for k, v in frames.items()))
    return final


def _swap_in(tmp: Path, final: Path, *, attempts: int = 5) -> None:
    """Make folder ``tmp`` the folder ``final``: a folder cannot replace a non-empty folder, so the old one is moved
    aside first (and removed after). Another writer of the same result may put its folder in place between the two
    renames: then try again (its result is replaced by this one, as if it had come first)."""
    for attempt in range(attempts):
        stale: Path | None = final.parent / f".stale-{final.name}-{secrets.token_hex(4)}"
        try:
            os.replace(final, stale)
        except FileNotFoundError:
            stale = None
        try:
            os.replace(tmp, final)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or attempt == attempts - 1:
                raise
        finally:
            if stale is not None:
                shutil.rmtree(stale, ignore_errors=True)


_LEFTOVER_AGE_S = 3600.0
"""Hidden folders of result saves older than this (seconds) are those of saves that died: the next save of that key
removes them (younger ones may belong to a save still running elsewhere)."""


def _frame_bytes(df: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame(df).to_parquet(buffer, index=False)
    return buffer.getvalue()


def result_meta(region: str, key: str, *, root: str | Path | None = None) -> dict[str, Any] | None:
    """The record of a stored result (``meta`` as saved, ``frames``: file, rows and SHA-256 of each, ``saved_at``,
    ``format``, ``region``, ``key``), or None when there is none. Reads no frame (cheap: for ``--resume``)."""
    _check_result_name(key, "名称", "key")
    url = database_url(root)
    if url:
        return _pg().result_record(url, region, key)
    path = _result_dir(region, key, root) / "meta.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ResultError(f"地区“{region}”的计算结果“{key}”的说明文件无法读取：{exc}",
                          f"cannot read {path}: {exc}") from None
    return record if record.get("format") == RESULT_FORMAT else None


def load_result(region: str, key: str, *, root: str | Path | None = None, verify: bool = True,
                names: Sequence[str] | None = None) -> StoredResult:
    """A stored result with its frames (all, or those in ``names``), each checked against the SHA-256 and row count
    recorded when it was saved (``verify``).

    Raises
    ------
    ResultNotFoundError
        No result of that key (or no frame of a name asked for).
    ResultError
        A frame's bytes or rows differ from the record (in Chinese, naming the region, result and frame).
    """
    _check_result_name(key, "名称", "key")
    url = database_url(root)
    if url:
        found = _pg().load_result(url, region, key, names)
        if found is None:
            raise _result_not_found(region, key)
        record, blobs = found
    else:
        record = result_meta(region, key, root=root)
        if record is None:
            raise _result_not_found(region, key)
        folder = _result_dir(region, key, root)
        blobs = {}
        for name, info in record["frames"].items():
            if names is not None and name not in names:
                continue
            try:
                blobs[name] = (folder / info["file"]).read_bytes()
            except FileNotFoundError:
                raise _result_mismatch(region, key, name, "缺失", "file missing") from None
    missing = [n for n in (names or []) if n not in record["frames"]]
    if missing:
        raise ResultNotFoundError(f"地区“{region}”的计算结果“{key}”中没有表：{'、'.join(missing)}",
                                  f"result {key!r} of region {region!r} has no frames {missing}")
    frames: dict[str, pd.DataFrame] = {}
    for name, data in blobs.items():
        info = record["frames"][name]
        if verify and hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise _result_mismatch(region, key, name, "与校验和不符", "sha256")
        frame = pd.read_parquet(io.BytesIO(data))
        if verify and len(frame) != info["rows"]:
            raise _result_mismatch(region, key, name, f"行数 {len(frame)} 与记录的 {info['rows']} 不符", "rows")
        frames[name] = frame
    return StoredResult(region=region, key=key, frames=frames, record=record)


def list_results(region: str, *, root: str | Path | None = None) -> list[str]:
    """Keys of a region's stored results, sorted (hidden folders of saves under way are not results)."""
    url = database_url(root)
    if url:
        return _pg().list_results(url, region)
    folder = regions_root(root) / region / RESULTS_FOLDER
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and (p / "meta.json").exists())


def layer_table(block: gpd.GeoDataFrame) -> Any:
    """A block of a layer as :func:`write_layer_blocks` writes it: an Arrow table, the geometries as WKB in
    EPSG:4326, with its GeoParquet metadata (made where the block is, e.g. in a validation worker process)."""
    from geopandas.io.arrow import _geopandas_to_arrow

    if block.crs is None:
        raise ValueError("layer block has no CRS")
    block = block.to_crs(STORAGE_CRS) if str(block.crs) != STORAGE_CRS else block
    return _geopandas_to_arrow(block, index=False)


def point_layer_table(frame: pd.DataFrame) -> Any:
    """:func:`layer_table` of a point layer in EPSG:4326 given as a plain frame: its ``geometry`` column holds
    nothing (None), its points are its ``lon``/``lat`` (none where ``lon`` is NaN), as
    ``GeoDataFrame(frame, geometry=points_from_xy(lon, lat))`` would hold them. The same table (the same bytes
    written), made without a shapely point per row: the points' WKB is written for all rows at once; the
    geometry column's field and GeoParquet metadata are geopandas' own, made from the block's two corners."""
    import pyarrow as pa
    from geopandas.io.arrow import _geopandas_to_arrow
    from pyarrow.pandas_compat import get_logical_type

    lon, lat = frame["lon"].to_numpy(dtype="float64"), frame["lat"].to_numpy(dtype="float64")
    has = ~np.isnan(lon)
    if (isinstance(frame, gpd.GeoDataFrame) or (has & np.isnan(lat)).any() or frame["geometry"].notna().any()
            or not np.little_endian):
        raise ValueError("point_layer_table takes a plain frame: an empty geometry column, both coordinates of a point")
    corners = (gpd.points_from_xy([lon[has].min(), lon[has].max()], [lat[has].min(), lat[has].max()])
               if has.any() else [None])
    geo = _geopandas_to_arrow(gpd.GeoDataFrame(geometry=gpd.GeoSeries(corners, crs=STORAGE_CRS)), index=False)
    n, m = len(frame), int(has.sum())
    wkb = np.empty((m, 21), dtype=np.uint8)  # ISO WKB, little-endian: 1, type 1 (Point), x, y
    wkb[:, :5] = np.frombuffer(b"\x01\x01\x00\x00\x00", dtype=np.uint8)
    wkb[:, 5:13] = lon[has].view(np.uint8).reshape(m, 8)
    wkb[:, 13:] = lat[has].view(np.uint8).reshape(m, 8)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.where(has, 21, 0), out=offsets[1:])
    valid = None if m == n else pa.array(has, type=pa.bool_()).buffers()[1]
    points = pa.BinaryArray.from_buffers(pa.binary(), n, [valid, pa.py_buffer(offsets), pa.py_buffer(wkb.tobytes())],
                                         null_count=n - m)
    lists = _shared_list_columns(frame)
    table = pa.Table.from_pandas(frame.assign(**dict.fromkeys(lists)), preserve_index=False,
                                 nthreads=1)  # threads cost more than they save here
    pandas_meta = json.loads(table.schema.metadata[b"pandas"])
    for name, column in lists.items():  # their Arrow type, and the pandas metadata the lists would have given
        table = table.set_column(table.schema.get_field_index(name), pa.field(name, column.type), column)
        for entry in pandas_meta["columns"]:
            if entry["name"] == name:
                entry["pandas_type"] = get_logical_type(column.type)
    at = table.schema.get_field_index("geometry")
    table = table.set_column(at, geo.schema.field("geometry"), points)
    return table.replace_schema_metadata({**table.schema.metadata, b"pandas": json.dumps(pandas_meta).encode("utf8"),
                                          b"geo": geo.schema.metadata[b"geo"]})


def _shared_list_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """The Arrow arrays of a frame's columns of lists where rows share list objects (the parsed lists of a
    validated block: one per distinct cell text), each distinct list converted once (as ``pa.array`` of the whole
    column gives them)."""
    import pyarrow as pa

    found = {}
    for name, dtype in frame.dtypes.items():
        if name == "geometry" or dtype != object or not len(frame):
            continue
        values = frame[name].to_numpy()
        if set(map(type, values)) != {list}:
            continue
        codes, _ = pd.factorize(np.fromiter(map(id, values), dtype=np.int64, count=len(values)))
        _, first = np.unique(codes, return_index=True)
        found[name] = (pa.array(list(values[first])).take(pa.array(codes)) if 2 * len(first) <= len(values)
                       else pa.array(list(values)))  # hardly shared: converted row by row
    return found


def layer_frame(table: Any) -> gpd.GeoDataFrame:
    """The GeoDataFrame of a :func:`layer_table` (as reading the written file gives it back)."""
    from geopandas.io.arrow import _arrow_to_geopandas

    return _arrow_to_geopandas(table)


def _dictionary_columns(table: Any) -> list[str]:
    """The columns of a layer worth Parquet's dictionary encoding, judged on its first block: those where a value
    repeats ten times on average (lists: all), not identifiers, coordinates and geometries, which each row has
    its own of (encoding them spends time to fall back to plain)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = []
    for spec, column in zip(table.schema, table.columns, strict=True):
        try:
            distinct = pc.count_distinct(column).as_py()
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError):  # lists: their items, by the leaf's path
            names.append(f"{spec.name}.list.element" if pa.types.is_list(spec.type) else spec.name)
            continue
        if distinct * 10 <= max(len(column), 10):
            names.append(spec.name)
    return names


def write_layer_blocks(blocks: Iterable[Any], path: str | Path, *,
                       row_group_rows: int = ELDER_ROW_GROUP_ROWS) -> dict[str, Any]:
    """Write a layer handed out block by block (:func:`data.validate.validate_stream`) as one GeoParquet file,
    Parquet row groups written as the blocks come: memory holds one block, never the layer.

    A block is a GeoDataFrame or the Arrow table :func:`layer_table` makes of one. The blocks must have the same
    columns (the first one's Arrow types rule; a list column that is empty in the
    first block is taken as a list of strings). Geometries are stored in EPSG:4326. The GeoParquet metadata
    (CRS, geometry types, bounding box) covers all blocks. Returns the manifest entry of the layer: ``rows``
    and ``sha256`` of the file bytes (hashed as they are written), as :func:`save_region` records them.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    writer = None
    schema = None
    geo: dict[str, Any] | None = None
    kinds: dict[str, set[str]] = {}
    bounds: dict[str, list[float]] = {}
    rows = 0
    digest = hashlib.sha256()

    class _Hashing(io.RawIOBase):  # the file, its bytes hashed on the way out
        def __init__(self, f: Any) -> None:
            self.f = f

        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            view = memoryview(data)
            digest.update(view)
            return self.f.write(view)

    def _write_blocks_into() -> None:
        nonlocal writer, schema, geo, rows
        for block in blocks:
            table = block if isinstance(block, pa.Table) else layer_table(block)
            meta = json.loads(table.schema.metadata[b"geo"])
            for name, column in meta["columns"].items():
                kinds.setdefault(name, set()).update(column.get("geometry_types", []))
                box = column.get("bbox")
                if box and all(np.isfinite(box)):
                    old = bounds.get(name)
                    bounds[name] = box if old is None else [min(old[0], box[0]), min(old[1], box[1]),
                                                            max(old[2], box[2]), max(old[3], box[3])]
            if writer is None:
                geo = meta
                fields = [pa.field(f.name, pa.list_(pa.string())) if f.type == pa.list_(pa.null()) else f
                          for f in table.schema]
                kept = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"geo"}
                schema = pa.schema(fields, metadata=kept)
                writer = pq.ParquetWriter(sink, schema, use_dictionary=_dictionary_columns(table))
            writer.write_table(table.replace_schema_metadata(schema.metadata).cast(schema),
                               row_group_size=row_group_rows)
            rows += table.num_rows
        if writer is None:
            raise ValueError("a layer written block by block needs at least one block")
        for name, column in geo["columns"].items():
            column["geometry_types"] = sorted(kinds.get(name, ()))
            if name in bounds:
                column["bbox"] = bounds[name]
            else:
                column.pop("bbox", None)
        writer.add_key_value_metadata({"geo": json.dumps(geo)})

    with path.open("wb") as raw:
        sink = _Hashing(raw)
        try:
            _write_blocks_into()
        except BaseException:  # a block that fails (or an interrupt): no half-written file is left
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
            raw.close()
            path.unlink(missing_ok=True)
            raise
        writer.close()
        raw.flush()
        os.fsync(raw.fileno())
    return {"file": path.name, "rows": rows, "sha256": digest.hexdigest()}
