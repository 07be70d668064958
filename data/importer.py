"""Build or update a region from the files staff bring.

:func:`import_region` is a function of (region name, inputs, settings): it
loads roads, validates each table file (:func:`data.validate.validate_table`),
completes the area hierarchy, assigns points to areas, writes one validation
report per file, and saves a new region version atomically
(:func:`data.store.save_region`). Layers not given are carried over from the
current version, so ``--facilities new.xlsx`` alone updates just the facilities.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from data import store
from data.validate import WARNING, ValidationResult, validate_table, write_report
from geo import osm
from geo.errors import RoadNetworkError
from geo.labels import AREA_LEVEL_ZH
from geo.settings import Settings, settings_digest

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class ImportOutcome:
    """What an import did: the saved version, per-file validation results and report paths."""

    region: str
    version_path: Path
    results: list[ValidationResult] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_rejected(self) -> int:
        return sum(r.n_rejected for r in self.results)


def complete_area_hierarchy(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add missing street and district rows implied by the codes of their children.

    A community ``110199001001`` implies street ``110199001`` and district
    ``110199``. Missing parents get a placeholder name and, where the children
    have polygons, the union of them as their polygon. Existing rows are kept
    as they are. Returns a new frame; the input is not changed.
    """
    if areas.empty:
        return areas.copy()
    out = areas.copy()
    for child_level, parent_level, cut in (("community", "street", 9), ("street", "district", 6)):
        have = set(out.loc[out["level"] == parent_level, "code"])
        children = out[out["level"] == child_level]
        missing = sorted({c[:cut] for c in children["code"]} - have)
        rows = []
        for code in missing:
            kids = children[children["code"].str.startswith(code)]
            geom = kids.geometry.dropna()
            rows.append({
                "code": code, "name": f"{AREA_LEVEL_ZH[parent_level]} {code}", "level": parent_level,
                "parent_code": code[:6] if parent_level == "street" else None,
                "geometry": geom.union_all() if len(geom) else None,
            })
        if rows:
            out = pd.concat([out, gpd.GeoDataFrame(rows, geometry="geometry", crs=out.crs)], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=areas.crs)


def assign_areas(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int, pd.DataFrame]:
    """Fill missing community/street/district codes of points from the community polygons containing them.

    Codes already given are kept, and compared with the polygon a point lies in.

    Returns
    -------
    points
        A new frame with codes filled in.
    filled
        How many points got a community code from their position.
    mismatches
        Points whose given community code differs from the community they lie in:
        columns ``index`` (row of ``points``), ``given``, ``found``.
    """
    out = points.copy()
    none = pd.DataFrame({"index": [], "given": [], "found": []})
    communities = areas[(areas["level"] == "community") & areas.geometry.notna()]
    located = out.geometry.notna() & ~out.geometry.is_empty if len(out) else pd.Series([], dtype=bool)
    if out.empty or communities.empty or not located.any():
        return out, 0, none
    joined = gpd.sjoin(out.loc[located, ["geometry"]], communities[["code", "geometry"]], how="left",
                       predicate="within")
    found = joined[~joined.index.duplicated(keep="first")]["code"].reindex(out.index)
    given = out["community_code"]
    fill = given.isna() & found.notna()
    idx = out.index[fill]
    out.loc[idx, "community_code"] = found[fill].astype(str).to_numpy()
    out.loc[idx, "street_code"] = [c[:9] for c in found[fill]]
    out.loc[idx, "district_code"] = [c[:6] for c in found[fill]]
    differ = given.notna() & found.notna() & (given.astype(object) != found.astype(object))
    mismatches = pd.DataFrame({"index": out.index[differ], "given": given[differ].astype(str).to_numpy(),
                               "found": found[differ].astype(str).to_numpy()})
    return out, int(fill.sum()), mismatches


def import_region(
    name: str,
    *,
    settings: Settings,
    roads: str | Path | None = None,
    place: str | None = None,
    facilities: str | Path | None = None,
    elders: str | Path | None = None,
    areas: str | Path | None = None,
    facility_crs: str | None = None,
    elder_crs: str | None = None,
    area_crs: str | None = None,
    report_dir: str | Path | None = None,
    root: str | Path | None = None,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Create or update region ``name`` and return what was imported.

    Parameters
    ----------
    roads
        OpenStreetMap PBF or XML file, or an osmnx GraphML file. Required for a new region.
    place
        Instead of ``roads``: a place name to download with osmnx (needs internet).
    facilities, elders, areas
        Staff files (CSV/XLSX/GeoJSON/GeoPackage/GeoParquet).
    facility_crs, elder_crs, area_crs
        Coordinate system of each file: wgs84, cgcs2000, gcj02 or bd09.
    report_dir
        Where validation reports go (default ``reports/<name>`` under the current folder).

    Rows with errors are left out and listed in the reports; the region is
    saved only after everything has been read and checked, in one atomic step.
    """
    say = progress or (lambda _msg: None)
    exists = store.region_exists(name, root=root)
    previous = store.load_region(name, root=root) if exists else None
    if previous is None and roads is None and place is None:
        raise RoadNetworkError(
            f"地区“{name}”尚不存在：新建地区须提供道路数据（--roads 文件或 --place 地名）",
            f"region {name!r} does not exist; pass --roads or --place to create it",
        )
    layers: dict[str, gpd.GeoDataFrame] = dict(previous.layers) if previous else {}
    sources: list[dict[str, Any]] = list(previous.manifest.get("sources", [])) if previous else []
    synthetic: dict[str, bool] = dict(previous.manifest.get("synthetic", {})) if previous else {}

    def replace_source(entry: dict[str, Any]) -> None:
        sources[:] = [s for s in sources if s.get("layer") != entry["layer"]]
        sources.append(entry)

    if roads is not None or place is not None:
        say("读取道路网络")
        nodes, edges = osm.load_roads(place if place else roads, place=bool(place))
        layers["road_nodes"], layers["road_edges"] = nodes, edges
        entry: dict[str, Any] = {"layer": "roads", "kind": "OpenStreetMap"}
        if place:
            entry.update(place=place, downloaded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        else:
            entry.update(path=str(roads), file=Path(roads).name, sha256=store.file_sha256(roads))
        replace_source(entry)
        synthetic["roads"] = False
        layers.pop("buildings", None)
    road_edges = layers.get("road_edges")
    if road_edges is None or road_edges.empty:
        raise RoadNetworkError(f"地区“{name}”没有道路数据", f"region {name!r} has no roads")
    extent = osm.extent(layers["road_nodes"])
    salt = store.deployment_salt(root=root)
    report_dir = Path(report_dir) if report_dir is not None else Path("reports") / name
    outcome = ImportOutcome(region=name, version_path=Path())

    def run(table: str, path: str | Path, crs: str | None) -> gpd.GeoDataFrame:
        say(f"校验 {Path(path).name}")
        result = validate_table(path, table, settings=settings, crs=crs, salt=salt, region_extent=extent,
                                roads=road_edges, today=today)
        if table != "areas" and "areas" in layers:
            result.good, filled, mismatches = assign_areas(result.good, layers["areas"])
            if filled:
                log.info("%s: %d points assigned to communities by location", table, filled)
            extra = [(Path(path).name, str(result.good.at[m.index, "source_row"]), "社区代码", m.given,
                      f"位置落在社区 {m.found} 内，与所填社区代码不一致，请核对", WARNING)
                     for m in mismatches.itertuples(index=False)]
            if extra:
                result.problems = pd.concat([result.problems, pd.DataFrame(extra, columns=result.problems.columns)],
                                            ignore_index=True)
        report, rejects = write_report(result, report_dir / f"{Path(path).stem}_校验报告.xlsx")
        outcome.results.append(result)
        outcome.reports += [p for p in (report, rejects) if p is not None]
        replace_source({**result.source, "report": str(report)})
        synthetic[table] = False
        return result.good

    if areas is not None:
        layers["areas"] = complete_area_hierarchy(run("areas", areas, area_crs))
    for table, path, crs in (("facilities", facilities, facility_crs), ("elders", elders, elder_crs)):
        if path is not None:
            layers[table] = run(table, path, crs)
    say("保存地区（原子写入）")
    manifest = {
        "sources": sources,
        "synthetic": synthetic,
        "settings": settings.to_dict(),
        "settings_digest": settings_digest(settings),
        "extent": list(extent),
    }
    if previous is not None and "demo" in previous.manifest and any(synthetic.get(k) for k in synthetic):
        manifest["demo"] = previous.manifest["demo"]
    outcome.version_path = store.save_region(name, layers, manifest, root=root)
    outcome.counts = {k: len(v) for k, v in layers.items()}
    return outcome


def region_summary(region: store.Region) -> pd.DataFrame:
    """Counts per layer and per facility kind, for ``eldermap info`` and the data page (no personal data)."""
    rows = [{"项目": f"图层 {k}", "数量": int(v["rows"])} for k, v in region.manifest.get("layers", {}).items()]
    fac = region.facilities
    if not fac.empty and "kind" in fac:
        for kind, count in fac["kind"].value_counts().items():
            rows.append({"项目": f"设施：{kind}", "数量": int(count)})
        rows.append({"项目": "床位总数", "数量": int(np.nansum(fac["beds_total"].astype("float64")))})
    areas = region.areas
    if not areas.empty and "level" in areas:
        for level, count in areas["level"].value_counts().items():
            rows.append({"项目": f"区划：{AREA_LEVEL_ZH.get(level, level)}", "数量": int(count)})
    return pd.DataFrame(rows)


__all__ = ["ImportOutcome", "assign_areas", "complete_area_hierarchy", "import_region",
           "region_summary"]
