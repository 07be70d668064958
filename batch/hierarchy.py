"""Regions in a hierarchy: a city or province (a *parent*) made of child regions identified by division codes.

A parent is an ordinary region of the store whose only layer is ``areas`` (one polygon per child: ``code``,
``name``, ``level``) and whose manifest carries::

    "hierarchy": {"level": "city" | "province", "code": "410100" | null, "name": "郑州市" | null,
                  "children": [{"region": "prov-410102", "code": "410102", "name": "中原区", "level": "district"},
                               ...]}

A child is a county-level region (``level`` "district") or itself a parent ("city", below a province), so
:func:`leaf_regions` recurses. The ``level`` of a child entry is recorded when the parent is saved: a child
entry of level "district" is taken as a leaf without reading that region (reading it would load all its
layers: the store has no manifest-only read); a child entry of a parent level is checked to be a parent.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from data import store
from geo.errors import ElderMapError

log = logging.getLogger(__name__)

PARENT_LEVELS: tuple[str, ...] = ("city", "province")
"""Levels of a parent region."""
LEAF_LEVEL = "district"
"""Level of a county-level child region (区县), as the ``level`` of areas layers."""
LEVEL_ZH = {"province": "省", "city": "市", "district": "区县"}
HIERARCHY_KEY = "hierarchy"


class HierarchyError(ElderMapError, ValueError):
    """A parent region (city, province) or its list of child regions is invalid."""


@dataclass(frozen=True)
class ChildRef:
    """One child of a parent region.

    Attributes
    ----------
    region
        Name of the child region in the store (e.g. ``prov-410102``).
    code
        Its division code (区划代码, e.g. ``410102``).
    name
        Its division name (e.g. 中原区).
    level
        "district" for a county-level region (a leaf), or "city" / "province" for a child that is itself a parent.
    """

    region: str
    code: str
    name: str
    level: str = LEAF_LEVEL

    def as_dict(self) -> dict[str, str]:
        return {"region": self.region, "code": self.code, "name": self.name, "level": self.level}


@dataclass(frozen=True)
class Hierarchy:
    """A loaded parent region.

    Attributes
    ----------
    name
        The parent region's name in the store.
    level
        "city" or "province".
    children
        Its direct children, in saved order.
    areas
        One polygon per child (``code``, ``name``, ``level``; EPSG:4326).
    code, title
        The parent's own division code and name, when known (None otherwise).
    version
        The parent region's stored version.
    """

    name: str
    level: str
    children: list[ChildRef]
    areas: gpd.GeoDataFrame
    code: str | None = None
    title: str | None = None
    version: str = ""


@dataclass(frozen=True)
class AssembledChild:
    """Where :func:`assemble` took a child's code and name from."""

    child: ChildRef
    source_zh: str


def _code_text(value: object) -> str:
    """A division code as text: ``410102``, ``410102.0`` and `` 410102 `` are all ``"410102"``; missing is ""."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text


def _check_level(level: str) -> None:
    if level not in PARENT_LEVELS:
        raise HierarchyError(f"上级地区的层级应为 city（市）或 province（省），收到“{level}”",
                             f"parent level must be 'city' or 'province', got {level!r}")


def _hierarchy_of(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    found = manifest.get(HIERARCHY_KEY)
    return found if isinstance(found, dict) else None


def _load_parent(name: str, root: str | Path | None) -> tuple[store.Region, dict[str, Any]]:
    region = store.load_region(name, root=root)
    found = _hierarchy_of(region.manifest)
    if found is None:
        raise HierarchyError(f"地区“{name}”不是上级地区（市或省）：它没有下属地区。请用 assemble 或导入省级数据建立层级",
                             f"region {name!r} is not a parent region (no hierarchy in its manifest)")
    return region, found


def is_parent(name: str, *, root: str | Path | None = None) -> bool:
    """Whether ``name`` is a stored parent region (a city or province with children). False when it does not exist.

    Reads the region (a parent holds only its small ``areas`` layer; a county region is read whole).
    """
    if not store.region_exists(name, root=root):
        return False
    return _hierarchy_of(store.load_region(name, root=root).manifest) is not None


def load_hierarchy(name: str, *, root: str | Path | None = None) -> Hierarchy:
    """The level, children and areas of parent region ``name``.

    Raises
    ------
    geo.errors.RegionNotFoundError
        The region does not exist.
    HierarchyError
        It is not a parent region, or its hierarchy entry is malformed.
    """
    region, found = _load_parent(name, root)
    try:
        children = [ChildRef(str(c["region"]), _code_text(c["code"]), str(c["name"]), str(c.get("level", LEAF_LEVEL)))
                    for c in found["children"]]
        level = str(found["level"])
    except (KeyError, TypeError) as exc:
        raise HierarchyError(f"地区“{name}”的层级信息不完整（缺少 {exc}）", f"malformed hierarchy of {name!r}: {exc}") from None
    return Hierarchy(name=name, level=level, children=children, areas=region.areas,
                     code=found.get("code"), title=found.get("name"), version=region.version)


def leaf_regions(name: str, *, root: str | Path | None = None) -> list[ChildRef]:
    """The county-level regions under parent ``name``, recursing through child parents (province → cities →
    counties), in saved order.

    Raises :class:`HierarchyError` on a cycle (a parent that is its own descendant) and
    :class:`geo.errors.RegionNotFoundError` when a parent below ``name`` is missing.
    """
    out: list[ChildRef] = []

    def walk(parent: str, path: tuple[str, ...]) -> None:
        for child in load_hierarchy(parent, root=root).children:
            if child.region in path or child.region == parent:
                cycle = " → ".join([*path, parent, child.region])
                raise HierarchyError(f"地区层级中有循环：{cycle}", f"cycle in the region hierarchy: {cycle}")
            if child.level in PARENT_LEVELS:
                walk(child.region, (*path, parent))
            else:
                out.append(child)

    walk(name, ())
    return out


def _validate_children(name: str, level: str, children: Sequence[ChildRef], root: str | Path | None) -> None:
    """Collect every problem of a list of children into one HierarchyError."""
    problems_zh: list[str] = []
    problems_en: list[str] = []
    if not children:
        problems_zh.append("没有下属地区")
        problems_en.append("no children")
    codes = Counter(c.code for c in children)
    for code, n in codes.items():
        if not code:
            problems_zh.append(f"{n} 个下属地区没有区划代码")
            problems_en.append(f"{n} children without a code")
        elif n > 1:
            regions = "、".join(c.region for c in children if c.code == code)
            problems_zh.append(f"区划代码 {code} 重复 {n} 次（{regions}）")
            problems_en.append(f"duplicate code {code} ({n} times)")
    for region, n in Counter(c.region for c in children).items():
        if n > 1:
            problems_zh.append(f"下属地区“{region}”重复 {n} 次")
            problems_en.append(f"child region {region!r} listed {n} times")
    allowed_child_levels = {"city": (LEAF_LEVEL,), "province": (LEAF_LEVEL, "city")}[level]
    for child in children:
        if child.region == name:
            problems_zh.append(f"地区“{name}”不能是自己的下属地区（循环）")
            problems_en.append(f"{name!r} cannot be its own child (cycle)")
            continue
        if child.level not in allowed_child_levels:
            problems_zh.append(f"下属地区“{child.region}”的层级“{child.level}”不能属于{LEVEL_ZH[level]}级地区"
                               f"（允许：{'、'.join(allowed_child_levels)}）")
            problems_en.append(f"child {child.region!r} of level {child.level!r} cannot be under a {level}")
            continue
        if not store.region_exists(child.region, root=root):
            problems_zh.append(f"子地区“{child.region}”不存在")
            problems_en.append(f"child region {child.region!r} does not exist")
            continue
        if child.level in PARENT_LEVELS:
            if not is_parent(child.region, root=root):
                problems_zh.append(f"子地区“{child.region}”标为{LEVEL_ZH[child.level]}级，但它不是上级地区（没有下属地区）")
                problems_en.append(f"child {child.region!r} is marked {child.level} but is not a parent")
                continue
            try:
                below = leaf_regions(child.region, root=root)
                below_parents = _descendant_parents(child.region, root)
            except HierarchyError as exc:
                problems_zh.append(f"子地区“{child.region}”：{exc.zh}")
                problems_en.append(f"child {child.region!r}: {exc.en}")
                continue
            if name in below_parents or name in {c.region for c in below}:
                problems_zh.append(f"地区层级中有循环：“{name}”是其子地区“{child.region}”的下属地区")
                problems_en.append(f"cycle: {name!r} is below its child {child.region!r}")
    if problems_zh:
        raise HierarchyError(f"上级地区“{name}”的下属地区有 {len(problems_zh)} 个问题：" + "；".join(problems_zh),
                             f"children of parent {name!r}: " + "; ".join(problems_en))


def elders_outside_counties(name: str, *, root: str | Path | None = None) -> dict[str, int]:
    """Elders that a province import (:func:`batch.partition.save_split`) could not put in any county of parent
    ``name`` or of a parent below it, per reason in Chinese (from the parents' manifests): they are in no county
    region, so no batch counts them, and every roll-up must say so."""
    out: dict[str, int] = {}
    for parent in [name, *sorted(_descendant_parents(name, root))]:
        split = store.region_manifest(parent, root=root).get("partition")
        for why, n in ((split or {}).get("unassigned_elders") or {}).items() if isinstance(split, dict) else ():
            out[str(why)] = out.get(str(why), 0) + int(n)
    return out


def _descendant_parents(name: str, root: str | Path | None) -> set[str]:
    """Names of the parent regions below ``name`` (cycle-checked by :func:`leaf_regions` first)."""
    out: set[str] = set()
    todo = [name]
    while todo:
        for child in load_hierarchy(todo.pop(), root=root).children:
            if child.level in PARENT_LEVELS and child.region not in out:
                out.add(child.region)
                todo.append(child.region)
    return out


def _parent_areas(children: Sequence[ChildRef], areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The parent's areas layer: one row per child, in the children's order (``code``, ``name``, ``level``,
    geometry from ``areas`` matched by code; a child without a polygon gets an empty geometry)."""
    if areas.crs is None:
        raise HierarchyError("上级地区的区划图层没有坐标系信息", "parent areas have no CRS")
    if "code" not in areas:
        raise HierarchyError("上级地区的区划图层缺少 code（区划代码）列", "parent areas need a 'code' column")
    codes = areas["code"].map(_code_text)
    by_code = dict(zip(codes, areas.geometry.to_crs(store.STORAGE_CRS).to_numpy(), strict=True))
    missing = [c.code for c in children if c.code not in by_code]
    if missing:
        log.warning("parent areas: no polygon for codes %s", ", ".join(missing))
    geoms = [by_code.get(c.code, shapely.Polygon()) for c in children]
    return gpd.GeoDataFrame({"code": [c.code for c in children], "name": [c.name for c in children],
                             "level": [c.level for c in children], "region": [c.region for c in children]},
                            geometry=gpd.GeoSeries(geoms, crs=store.STORAGE_CRS), crs=store.STORAGE_CRS)


def save_parent(name: str, *, level: str, children: Sequence[ChildRef], areas: gpd.GeoDataFrame,
                root: str | Path | None = None, code: str | None = None, title: str | None = None,
                manifest_extra: Mapping[str, Any] | None = None) -> Path:
    """Save parent region ``name`` (a city or province) over existing child regions.

    Parameters
    ----------
    level
        "city" or "province".
    children
        The direct children (county regions, or city parents under a province). Every child must exist;
        codes and region names must be unique; no child may have ``name`` below it.
    areas
        Polygons of the children (any CRS), matched to them by ``code``; stored as the parent's ``areas``
        layer with ``code``, ``name``, ``level`` (of the child) and ``region``.
    code, title
        The parent's own division code and name, if known.
    manifest_extra
        More manifest entries (sources, the partition's parameters).

    Raises :class:`HierarchyError` (all problems in one message, in Chinese) when the children are invalid.
    Returns the path of the saved version.
    """
    _check_level(level)
    children = list(children)
    _validate_children(name, level, children, root)
    layer = _parent_areas(children, areas)
    hierarchy = {"level": level, "code": code, "name": title, "children": [c.as_dict() for c in children]}
    manifest = {**dict(manifest_extra or {}), HIERARCHY_KEY: hierarchy}
    path = store.save_region(name, {"areas": layer}, manifest, root=root)
    log.info("saved parent %s (%s) with %d children", name, level, len(children))
    return path


def _district_of(region: store.Region) -> tuple[str, str, shapely.Geometry, str]:
    """(code, name, polygon, where from in Chinese) of a county-level region, read from its areas layer."""
    areas = region.areas
    levels = areas["level"].astype(str) if "level" in areas else pd.Series("", index=areas.index)
    district = areas[levels == LEAF_LEVEL]
    if len(district) > 1:
        listed = "、".join(f"{n}（{_code_text(c)}）" for c, n in zip(district["code"], district["name"], strict=True))
        raise HierarchyError(f"地区“{region.name}”的区划数据中有 {len(district)} 个区县级区划（{listed}），无法作为一个"
                             "下属地区；请按区县分别导入", f"region {region.name!r} holds {len(district)} districts")
    if len(district) == 1:
        row = district.iloc[0]
        code, title = _code_text(row["code"]), str(row["name"])
        return code, title, district.geometry.to_crs(store.STORAGE_CRS).iloc[0], f"区县级区划“{title}”（{code}）"
    codes = region.elders["district_code"].map(_code_text) if "district_code" in region.elders else pd.Series([])
    codes = codes[codes != ""]
    if len(codes):
        code, how = str(codes.mode().iloc[0]), "老人数据中最常见的区县代码"
    else:
        code, how = region.name, "地区名称（也没有老人的区县代码）"
    if len(areas):
        geom = shapely.union_all(areas.geometry.to_crs(store.STORAGE_CRS).to_numpy())
    elif len(region.road_edges):
        geom = shapely.box(*region.road_edges.to_crs(store.STORAGE_CRS).total_bounds)
    else:
        geom = shapely.Polygon()
    return code, region.name, geom, f"地区名称（区划数据中没有区县级区划；代码取自{how}）"


def assemble(name: str, children: Iterable[str], *, level: str, root: str | Path | None = None,
             code: str | None = None, title: str | None = None) -> list[AssembledChild]:
    """Make parent region ``name`` from existing regions.

    Each child's code and name come from its own data: a county region's single district-level area of its
    ``areas`` layer (code, name, polygon); when it has none, the region's name, with the most common
    ``district_code`` of its elders as code (or the region name when there is none) and the union of its areas
    (or its roads' extent) as polygon. A child that is itself a parent (a city under a province) gives its
    recorded code and name, or its region name, and the union of its areas. Returns, per child, where its
    code and name came from (``source_zh``), for the CLI to say.
    """
    _check_level(level)
    names = list(children)
    missing = [c for c in names if not store.region_exists(c, root=root)]
    if missing:
        raise HierarchyError("；".join(f"子地区“{c}”不存在" for c in missing), f"missing child regions: {missing}")
    made: list[AssembledChild] = []
    geoms = []
    for child in names:
        region = store.load_region(child, root=root)
        found = _hierarchy_of(region.manifest)
        if found is not None:
            child_code = _code_text(found.get("code")) or child
            child_title = str(found.get("name") or child)
            geom = shapely.union_all(region.areas.geometry.to_crs(store.STORAGE_CRS).to_numpy())
            ref = ChildRef(child, child_code, child_title, str(found.get("level", "city")))
            source = ("上级地区记录的代码和名称" if found.get("code") else "地区名称（上级地区没有记录代码）")
        else:
            child_code, child_title, geom, source = _district_of(region)
            ref = ChildRef(child, child_code, child_title, LEAF_LEVEL)
        made.append(AssembledChild(ref, source))
        geoms.append(geom)
    refs = [m.child for m in made]
    areas = gpd.GeoDataFrame({"code": [r.code for r in refs]}, geometry=gpd.GeoSeries(geoms, crs=store.STORAGE_CRS),
                             crs=store.STORAGE_CRS)
    save_parent(name, level=level, children=refs, areas=areas, root=root, code=code, title=title,
                manifest_extra={"assembled_from": names})
    return made


__all__ = [
    "LEAF_LEVEL",
    "PARENT_LEVELS",
    "AssembledChild",
    "ChildRef",
    "Hierarchy",
    "HierarchyError",
    "assemble",
    "is_parent",
    "leaf_regions",
    "load_hierarchy",
    "save_parent",
]
