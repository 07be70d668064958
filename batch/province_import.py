"""Import a city or province as county regions: the staff files read as one import, split by county polygons.

:func:`import_province` builds the layers exactly as an ordinary import does (:func:`data.importer.import_region`:
the same validation, reports, pseudonyms and area assignment), then splits them with
:func:`batch.partition.split_province` and saves the county regions and their parent with
:func:`batch.partition.save_split`. The whole province is never saved as one region of the store.

How the layers are obtained: :func:`data.importer.import_region` can only save what it builds, so it saves into a
*temporary store* (a hidden folder under the deployment's local folder, removed afterwards, also when the import
fails), with the deployment's salt (:func:`data.store.deployment_salt` of the real store, passed through
``$ELDERMAP_SALT`` for the duration) so elders' pseudonyms are those an ordinary import would give. The layers are
read back from there, split, and the county regions written to the real store (a folder or a database).

The county polygons come from a county file (:func:`read_counties`: any areas file the importer reads, Chinese
headers such as 区县代码/区县名称 accepted) or from the district-level polygons of the imported areas
(:func:`district_counties`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from batch.hierarchy import LEAF_LEVEL, ChildRef, HierarchyError, is_parent, load_hierarchy
from batch.partition import ChildPart, SplitResult, save_split, split_province
from data import store
from data.importer import ImportOutcome, import_region
from data.validate import validate_table
from geo.errors import InputFileError
from geo.settings import Settings

log = logging.getLogger(__name__)

SALT_ENV = "ELDERMAP_SALT"
TEMP_PREFIX = ".province-import-"


class ProvinceImportError(HierarchyError):
    """A province import cannot start or its county polygons are unusable."""


@dataclass(frozen=True)
class ProvinceImport:
    """What :func:`import_province` did.

    Attributes
    ----------
    parent
        The parent region saved (city or province).
    outcome
        The import of the whole province (validation results, reports, area assignment); its ``version_path``
        is the temporary one, gone once the import returns.
    split
        The split (per county rows, unassigned elders and facilities with reasons).
    children
        The county regions saved, in the order of the counties.
    counties_source_zh
        Where the county polygons came from, in Chinese.
    level, parent_version
        The parent's level ("city", "province") and its saved version.
    stale
        County regions the parent held before this import and holds no more (a re-import with fewer counties):
        left in the store, untouched, and no longer in any batch of the parent.
    """

    parent: str
    outcome: ImportOutcome
    split: SplitResult
    children: list[ChildRef]
    counties_source_zh: str
    level: str = "city"
    parent_version: str = ""
    stale: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Elders and facilities placed in the counties, and those of no county."""
        table = self.split.summary()
        return {"elders": int(table["elders"].sum()), "facilities": int(table["facilities"].sum()),
                "unassigned_elders": len(self.split.unassigned_elders),
                "unassigned_facilities": len(self.split.unassigned_facilities)}


def read_counties(path: str | Path, *, settings: Settings, crs: str | None = None) -> gpd.GeoDataFrame:
    """County polygons of a file: ``code``, ``name`` and a (Multi)Polygon in EPSG:4326.

    The file is read and checked as an areas file (:func:`data.validate.validate_table`, table "areas": GeoJSON,
    GeoPackage, GeoParquet; the headers of an areas file, e.g. 区县代码/区县名称 or 区划代码/名称). When it holds
    several levels, only its district-level rows are taken. Every rejected row and every row without a polygon
    is an error: a county left out would silently move its elders to "unassigned".

    Raises
    ------
    geo.errors.InputFileError
        The file cannot be read, lacks a code or name column, or has no rows.
    ProvinceImportError
        Rows were rejected or have no polygon.
    """
    path = Path(path)
    result = validate_table(path, "areas", settings=settings, crs=crs)
    errors = result.problems[result.problems["级别"] == "错误"] if len(result.problems) else result.problems
    if len(errors):
        first = "；".join(f"第 {r['行号']} 行 {r['字段']}：{r['问题']}" for r in errors.head(5).to_dict("records"))
        raise ProvinceImportError(f"区县边界文件 {path.name} 有 {result.n_rejected} 行被拒绝：{first}。"
                                  "请改正后重新导入（每个区县都须有代码、名称和边界）",
                                  f"{path}: {result.n_rejected} county rows rejected")
    good = result.good
    if "level" in good and (good["level"].astype(str) == LEAF_LEVEL).any():
        good = good[good["level"].astype(str) == LEAF_LEVEL]
    geoms = good.geometry.to_numpy()
    missing = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(missing):
        rows = "、".join(str(r) for r in good["source_row"].iloc[missing[:10]]) if "source_row" in good else ""
        raise ProvinceImportError(f"区县边界文件 {path.name} 中有 {len(missing)} 个区县没有边界（第 {rows} 行）："
                                  "拆分需要每个区县的多边形", f"{path}: {len(missing)} counties without a polygon")
    if good.empty:
        raise InputFileError(f"区县边界文件 {path.name} 中没有区县", f"{path}: no counties")
    return gpd.GeoDataFrame({"code": good["code"].astype(str).to_numpy(), "name": good["name"].astype(str).to_numpy()},
                            geometry=geoms, crs=good.crs)


def district_counties(areas: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """The district-level polygons of an areas layer as counties (``code``, ``name``, polygon).

    Raises :class:`ProvinceImportError` when there is none (districts known only by code, without a polygon,
    cannot split anything)."""
    if areas is None or areas.empty or "level" not in areas:
        raise ProvinceImportError("导入的区划数据中没有区县级区划：无法按区县拆分。请用 --areas 导入带边界的区县，"
                                  "或用 --split-by 给出区县边界文件", "no district-level areas to split by")
    rows = areas[areas["level"].astype(str) == LEAF_LEVEL]
    geoms = rows.geometry.to_numpy()
    has = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not has.any():
        raise ProvinceImportError(f"导入的区划数据中有 {len(rows)} 个区县级区划，但都没有边界（只有代码）：无法按区县拆分。"
                                  "请用 --areas 导入带边界的区县，或用 --split-by 给出区县边界文件",
                                  "district-level areas have no polygons")
    if not has.all():
        log.warning("%d district-level areas without a polygon are not split by", int((~has).sum()))
    rows = rows[has]
    return gpd.GeoDataFrame({"code": rows["code"].astype(str).to_numpy(), "name": rows["name"].astype(str).to_numpy()},
                            geometry=rows.geometry.to_numpy(), crs=rows.crs)


def check_parent_name(parent: str, *, root: str | Path | None = None) -> None:
    """Refuse a parent name that is an ordinary region (importing would shadow its data by a parent)."""
    if store.region_exists(parent, root=root) and not is_parent(parent, root=root):
        raise ProvinceImportError(
            f"地区“{parent}”已存在，且是普通地区（不是市或省）：不能作为按区县拆分导入的上级地区名称。"
            "请换一个名称，或不用 --split-by/--split-level 导入它",
            f"{parent!r} exists as an ordinary region")


@contextlib.contextmanager
def _salted_like(root: str | Path | None) -> Iterator[None]:
    """Pseudonymise with the real store's salt while importing into the temporary store."""
    before = os.environ.get(SALT_ENV)
    if before is None:
        os.environ[SALT_ENV] = store.deployment_salt(root=root).hex()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SALT_ENV, None)


def folder_manifest(name: str, *, root: str | Path | None = None) -> dict[str, Any] | None:
    """The manifest of a region's current version read alone, without its layers: possible in the folder store
    (``<root>/<name>/<version>/manifest.json``); None for a database store or a region that does not exist."""
    if store.database_url(root):
        return None
    version = store.current_version(name, root=root)
    if not version:
        return None
    try:
        return json.loads((store.regions_root(root) / name / version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _check_children(parts: list[ChildPart], parent: str, root: str | Path | None) -> None:
    """Refuse to overwrite an existing region that is not a county of this parent."""
    clash = []
    for part in parts:
        if store.region_exists(part.region, root=root):
            manifest = folder_manifest(part.region, root=root)
            if manifest is None:  # a database: the manifest comes with the layers
                manifest = store.load_region(part.region, root=root, verify=False).manifest
            if (manifest.get("partition") or {}).get("parent") != parent:
                clash.append(part.region)
    if clash:
        raise ProvinceImportError(f"以下地区已存在，且不是“{parent}”的区县：{'、'.join(clash)}；请换一个上级地区名称"
                                  "（区县地区名为 上级名称-区划代码）", f"existing regions would be overwritten: {clash}")


def import_province(
    parent: str,
    *,
    settings: Settings,
    counties_file: str | Path | None = None,
    counties_crs: str | None = None,
    split_level: str | None = None,
    parent_level: str = "city",
    halo_minutes: float | None = None,
    halo_mode: str = "walk",
    root: str | Path | None = None,
    report_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    on_saved: Callable[[ChildPart, int], None] | None = None,
    **files: Any,
) -> ProvinceImport:
    """Import staff files as a city or province made of county regions ``{parent}-{code}``.

    Parameters
    ----------
    parent
        Name of the parent region; must not be an ordinary region (:func:`check_parent_name`). A parent of
        the same name is replaced (a new version), and so are its county regions.
    counties_file, counties_crs
        County polygons (:func:`read_counties`), or
    split_level
        "district": split by the district-level polygons of the imported areas (:func:`district_counties`).
    parent_level
        "city" or "province".
    halo_minutes, halo_mode
        The largest cutoff and the mode the batches will use; the halo is :func:`batch.partition.halo_metres`
        of them (default: the settings' largest walking cutoff).
    report_dir
        Validation reports (default ``reports/<parent>``).
    progress
        Called with a Chinese message per import step.
    on_saved
        Called with each county part and the number of counties after the part's region is saved.
    files
        The keyword arguments of :func:`data.importer.import_region` naming files and their CRSs (``roads``,
        ``place``, ``facilities``, ``elders``, ``areas``, ...). A province import always starts from scratch:
        ``roads`` or ``place`` is required.
    """
    if (counties_file is None) == (split_level is None):
        raise ValueError("give exactly one of counties_file and split_level")
    if split_level is not None and split_level != LEAF_LEVEL:
        raise ValueError(f"split_level must be {LEAF_LEVEL!r}, got {split_level!r}")
    counties = read_counties(counties_file, settings=settings, crs=counties_crs) if counties_file is not None else None
    check_parent_name(parent, root=root)
    report_dir = Path(report_dir) if report_dir is not None else Path("reports") / parent
    base = store.regions_root(root)
    base.mkdir(parents=True, exist_ok=True)
    before = {c.region for c in load_hierarchy(parent, root=root).children} \
        if store.region_exists(parent, root=root) and is_parent(parent, root=root) else set()
    with store.import_lock(parent, root=root), _salted_like(root), \
            tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=base) as tmp:
        outcome = import_region(parent, settings=settings, root=tmp, report_dir=report_dir, progress=progress, **files)
        whole = store.load_region(parent, root=tmp)
        layers = dict(whole.layers)
        source = "区县边界文件" if counties is not None else "导入的区县级区划边界"
        if counties is None:
            counties = district_counties(layers.get("areas"))
        if progress:
            progress("按区县拆分")
        split = split_province(layers, counties, settings=settings, minutes=halo_minutes, modes=(halo_mode,),
                               prefix=parent)
        _check_children(split.children, parent, root)
        extra: Mapping[str, Any] = {k: whole.manifest[k] for k in ("sources", "synthetic", "settings",
                                                                   "settings_digest") if k in whole.manifest}
        total = len(split.children)
        refs = save_split(split, parent=parent, level=parent_level, root=root, manifest_extra=extra,
                          progress=None if on_saved is None else (lambda part: on_saved(part, total)))
    stale = tuple(sorted(before - {r.region for r in refs}))
    if stale:
        log.info("re-import of %s: %d county regions no longer children: %s", parent, len(stale), ", ".join(stale))
    return ProvinceImport(parent, outcome, split, refs, source, parent_level,
                          store.current_version(parent, root=root), stale)


__all__ = ["ProvinceImport", "ProvinceImportError", "check_parent_name", "district_counties", "folder_manifest",
           "import_province", "read_counties"]
