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

Later, PostGIS storage can stand behind the same three functions
(:func:`save_region`, :func:`load_region`, :func:`list_regions`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from data.exports import csv_bytes, geojson_bytes, xlsx_bytes
from data.vocab import REGION_NAME_RULE_ZH, SCENARIO_NAME_RULE_ZH, region_name_ok, scenario_name_ok
from geo.errors import InvalidNameError, ManifestError, RegionNotFoundError, ScenarioError

log = logging.getLogger(__name__)

FORMAT = "eldermap-region/1"
LAYERS: tuple[str, ...] = ("facilities", "elders", "areas", "road_nodes", "road_edges", "buildings", "service_areas")
STORAGE_CRS = "EPSG:4326"
KEEP_VERSIONS = 3


def regions_root(root: str | Path | None = None) -> Path:
    """The folder holding all regions: ``root``, else $ELDERMAP_REGIONS, else ./regions."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("ELDERMAP_REGIONS", "regions"))


@dataclass(frozen=True)
class Region:
    """A loaded region version: its manifest and its layers (GeoDataFrames in EPSG:4326)."""

    name: str
    path: Path
    manifest: dict[str, Any]
    layers: Mapping[str, gpd.GeoDataFrame] = field(repr=False)

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """A layer, or an empty GeoDataFrame when the region has none of it."""
        if name in self.layers:
            return self.layers[name]
        return gpd.GeoDataFrame({"geometry": gpd.GeoSeries([], crs=STORAGE_CRS)}, crs=STORAGE_CRS)

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
    version = _current_version(regions_root(root) / name)
    return version.name if version is not None else ""


def region_exists(name: str, *, root: str | Path | None = None) -> bool:
    """Whether a region with a current version exists."""
    return _current_version(regions_root(root) / name) is not None


def list_regions(*, root: str | Path | None = None) -> list[str]:
    """Names of the regions under ``root`` that have a current version."""
    base = regions_root(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and _current_version(p) is not None)


def save_region(
    name: str,
    layers: Mapping[str, gpd.GeoDataFrame],
    manifest: Mapping[str, Any],
    *,
    root: str | Path | None = None,
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

    Returns
    -------
    Path of the new version folder.
    """
    if not region_name_ok(name):
        raise InvalidNameError(f"地区名称“{name}”无效：{REGION_NAME_RULE_ZH}",
                               f"region name must be letters, digits, '-' or '_': {name!r}")
    unknown = set(layers) - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; allowed: {LAYERS}")
    region_dir = regions_root(root) / name
    region_dir.mkdir(parents=True, exist_ok=True)
    _remove_partial_versions(region_dir)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    version = f"v{stamp}-{secrets.token_hex(2)}"
    tmp = region_dir / f".partial-{version}"
    tmp.mkdir()
    layer_info: dict[str, Any] = {}
    for layer_name, gdf in layers.items():
        if gdf.crs is None:
            raise ValueError(f"layer {layer_name} has no CRS")
        out = gdf.to_crs(STORAGE_CRS) if str(gdf.crs) != STORAGE_CRS else gdf
        path = tmp / f"{layer_name}.parquet"
        out.to_parquet(path, index=False)
        layer_info[layer_name] = {"file": path.name, "rows": int(len(out)), "sha256": _sha256(path)}
    full = {
        **dict(manifest),
        "format": FORMAT,
        "name": name,
        "version": version,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "crs": STORAGE_CRS,
        "layers": layer_info,
    }
    with (tmp / "manifest.json").open("w", encoding="utf-8") as f:
        json.dump(full, f, ensure_ascii=False, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    final = region_dir / version
    os.replace(tmp, final)
    with atomic_write(region_dir / "CURRENT", mode="w") as f:
        f.write(version + "\n")
    log.info("saved region %s version %s (%s)", name, version,
             ", ".join(f"{k}={v['rows']}" for k, v in layer_info.items()))
    _prune_versions(region_dir, keep=version)
    return final


def load_region(name: str, *, root: str | Path | None = None, verify: bool = True) -> Region:
    """Load the current version of a region, checking its manifest.

    Raises
    ------
    RegionNotFoundError
        The region does not exist.
    ManifestError
        A layer file is missing, or its hash or row count differs from the manifest.
    """
    region_dir = regions_root(root) / name
    version = _current_version(region_dir)
    if version is None:
        available = list_regions(root=root)
        raise RegionNotFoundError(
            f"找不到地区“{name}”（目录 {region_dir}）。已有地区：{', '.join(available) or '无'}。"
            "可运行 `eldermap demo` 生成演示地区，或用 `eldermap import` 导入。",
            f"region {name!r} not found under {region_dir.parent}; available: {available}",
        )
    manifest_path = version / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"地区“{name}”的清单文件无法读取：{exc}", f"cannot read {manifest_path}: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise ManifestError(f"地区“{name}”的格式 {manifest.get('format')!r} 不受支持（应为 {FORMAT}）",
                            f"unsupported region format {manifest.get('format')!r}")
    layers: dict[str, gpd.GeoDataFrame] = {}
    for layer_name, info in manifest.get("layers", {}).items():
        path = version / info["file"]
        if not path.exists():
            raise ManifestError(f"地区“{name}”缺少图层文件 {path.name}", f"missing layer file {path}")
        if verify and _sha256(path) != info["sha256"]:
            raise ManifestError(f"地区“{name}”的图层 {path.name} 与清单不符（文件被改动或损坏），请重新导入",
                                f"hash mismatch for {path}")
        gdf = gpd.read_parquet(path)
        if verify and len(gdf) != info["rows"]:
            raise ManifestError(f"地区“{name}”的图层 {path.name} 行数 {len(gdf)} 与清单 {info['rows']} 不符",
                                f"row count mismatch for {path}")
        layers[layer_name] = gdf
    return Region(name=name, path=version, manifest=manifest, layers=layers)


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
    created with 32 random bytes (file mode 600) on first use. Keep it secret and
    keep it stable: the same person gets the same pseudonym only with the same salt.
    """
    env = os.environ.get("ELDERMAP_SALT")
    if env:
        return bytes.fromhex(env)
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
    return regions_root(root) / region / "scenarios" / f"{scenario}.json"


def save_scenario(region: str, scenario: dict[str, Any], *, root: str | Path | None = None,
                  overwrite: bool = False) -> Path:
    """Write a scenario (a JSON-able dict with a ``name``) beside the region's versions, atomically.

    Scenarios live with the region, not inside a version: they record the version they were made on
    (``base_version``) and survive imports.
    """
    path = _scenario_path(region, str(scenario.get("name", "")), root)
    if path.exists() and not overwrite:
        raise ScenarioError(f"方案“{scenario['name']}”已存在；换一个名称或先删除它",
                            f"scenario {scenario['name']!r} exists")
    body = {"format": SCENARIO_FORMAT, **scenario}
    with atomic_write(path, mode="w", encoding="utf-8") as f:
        json.dump(body, f, ensure_ascii=False, indent=2)
    return path


def load_scenario(region: str, name: str, *, root: str | Path | None = None) -> dict[str, Any]:
    """A saved scenario as a dict."""
    path = _scenario_path(region, name, root)
    if not path.exists():
        known = list_scenarios(region, root=root)
        raise ScenarioError(f"地区“{region}”没有方案“{name}”；已有方案：{'、'.join(known) or '无'}",
                            f"scenario {name!r} not found in region {region!r}")
    body = json.loads(path.read_text(encoding="utf-8"))
    if body.get("format") != SCENARIO_FORMAT:
        raise ScenarioError(f"方案文件 {path} 格式不符", f"{path}: not an {SCENARIO_FORMAT} file")
    body.pop("format")
    return body


def list_scenarios(region: str, *, root: str | Path | None = None) -> list[str]:
    """Names of a region's saved scenarios, sorted."""
    folder = regions_root(root) / region / "scenarios"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def delete_scenario(region: str, name: str, *, root: str | Path | None = None) -> None:
    """Remove a saved scenario."""
    path = _scenario_path(region, name, root)
    if not path.exists():
        raise ScenarioError(f"地区“{region}”没有方案“{name}”", f"scenario {name!r} not found")
    path.unlink()
