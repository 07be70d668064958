"""Planners' own input files: candidate sites, exclusion areas, lists of new facilities.

The readers behind ``eldermap site --candidates/--exclude``, ``eldermap scenario --add-file`` and
the planner page's uploads. They turn a file into the plain objects :mod:`planning` works on
(points in EPSG:4326, scenario change dicts); planning itself never reads files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from data.formats import unreadable
from data.readers import read_table
from geo.coords import Extent, outside_extent
from geo.errors import InputFileError

log = logging.getLogger(__name__)

ADD_FILE_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "设施编号", "机构编号"), "name": ("name", "名称", "设施名称"),
    "kind": ("kind", "类型", "设施类型"), "lon": ("lon", "经度", "lng"), "lat": ("lat", "纬度"),
    "beds_total": ("beds_total", "床位", "床位总数"), "beds_nursing": ("beds_nursing", "护理型床位"),
    "services": ("services", "服务项目"),
}
"""Header names accepted in a list of new facilities (Chinese or English)."""


def read_candidates(path: str | Path) -> gpd.GeoDataFrame:
    """A planner's candidate list: GeoJSON/GeoPackage/Shapefile points, or CSV/XLSX with 经度/纬度 (lon/lat).

    Returns ``candidate_id`` (the file's id/编号/名称 column, else the row number) and point geometry
    in EPSG:4326, and ``capacity_places`` when the file has a column of places (:data:`CAPACITY_HEADERS`: the new
    site's capacity for capacitated siting; NaN where empty). Rows without coordinates are reported and skipped.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt", ".xlsx", ".xls"}:
        table = read_table(path, "facilities")  # header detection by the facility fields (经度, 纬度, 名称…)
        raw, rows_seen = table.frame, np.asarray(table.source_rows)
        lon_col = next((c for c in raw.columns if str(c).strip().lower() in {"lon", "lng", "经度", "longitude", "x"}), None)
        lat_col = next((c for c in raw.columns if str(c).strip().lower() in {"lat", "纬度", "latitude", "y"}), None)
        if lon_col is None or lat_col is None:
            raise InputFileError(f"候选点文件 {path.name} 缺少“经度”“纬度”两列（收到列：{'、'.join(map(str, raw.columns))}）",
                                 f"{path}: no lon/lat columns")
        lon = pd.to_numeric(raw[lon_col], errors="coerce")
        lat = pd.to_numeric(raw[lat_col], errors="coerce")
        frame = gpd.GeoDataFrame(raw, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        bad = lon.isna() | lat.isna()
    else:
        frame = _read_geo_file(path, "候选点文件")
        rows_seen = np.arange(2, len(frame) + 2)
        frame["geometry"] = [g.centroid if g is not None and g.geom_type != "Point" else g for g in frame.geometry]
        bad = frame.geometry.isna() | frame.geometry.is_empty
    if bad.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:10])
        log.warning("%s: %d candidate rows without coordinates skipped (rows %s)", path.name, int(bad.sum()), rows)
    cap_col = next((c for c in frame.columns if str(c).strip().lower() in CAPACITY_HEADERS), None)
    keep = ~bad.to_numpy()
    capacities = None if cap_col is None else _capacities(  # rows skipped for want of coordinates are not checked
        frame[cap_col][keep], rows_seen[keep], path, CAPACITY_HEADER_ZH.get(str(cap_col), str(cap_col)))
    frame = frame[~bad.to_numpy()].reset_index(drop=True)
    id_col = next((c for c in frame.columns if str(c).strip().lower() in {"id", "candidate_id", "编号", "名称", "name"}), None)
    ids = frame[id_col].astype(str) if id_col is not None else pd.Series([f"C{i + 1}" for i in range(len(frame))])
    if len(frame) == 0:
        raise InputFileError(f"候选点文件 {path.name} 中没有带坐标的候选点", f"{path}: no candidates with coordinates")
    columns = {"candidate_id": ids.to_numpy()}
    if capacities is not None:
        columns["capacity_places"] = capacities
    return gpd.GeoDataFrame(columns, geometry=frame.geometry.values, crs="EPSG:4326")


CAPACITY_HEADERS = {"beds_total", "capacity_places", "capacity", "places", "名额", "容量", "服务名额", "床位", "床位数"}
"""Headers of a candidate file's column of places (the new site's capacity, for capacitated siting). A CSV or
workbook is read by the facility fields, so there its column is the beds one (床位/床位数/核定床位…)."""
CAPACITY_HEADER_ZH = {"beds_total": "床位数"}


def _capacities(values: pd.Series, rows_seen: np.ndarray, path: Path, header: str) -> np.ndarray:
    """A candidate column of places as numbers (NaN where empty: the default applies); anything else that is not a
    positive number is refused, naming the rows."""
    text = values.astype("string").str.strip()
    number = pd.Series(pd.to_numeric(text, errors="coerce"), dtype="Float64").to_numpy(dtype="float64",
                                                                                        na_value=np.nan)
    empty = (text.isna() | (text == "")).to_numpy(dtype=bool)
    wrong = ~empty & ~(number > 0)
    if wrong.any():
        rows = "、".join(f"第 {rows_seen[i]} 行（{values.iloc[i]}）" for i in np.flatnonzero(wrong)[:10])
        raise InputFileError(f"候选点文件 {path.name} 的“{header}”列应为正数（或留空使用默认名额）：{rows}",
                             f"{path}: {header} must be positive numbers, rows {rows}")
    return np.where(empty, np.nan, number)


def read_exclusions(path: str | Path) -> gpd.GeoDataFrame:
    """Exclusion areas (polygons: parks, water, protected land) from any geo file with a CRS, in EPSG:4326."""
    return _read_geo_file(Path(path), "排除区域文件")


def _read_geo_file(path: Path, what_zh: str) -> gpd.GeoDataFrame:
    """Any geo file with a CRS (GeoJSON, GeoPackage, Shapefile…), in EPSG:4326; a clear error otherwise."""
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise unreadable(path, exc, what_zh, "不是可识别的地理数据文件（GeoJSON、GeoPackage 或 Shapefile），或文件已损坏") from exc
    if frame.crs is None:
        raise InputFileError(f"{what_zh} {path.name} 没有坐标系信息", f"{path}: no CRS")
    return frame.to_crs("EPSG:4326")


def add_changes_from_file(path: str | Path, *, region_extent: Extent | None = None,
                          margin_m: float = 1000.0) -> list[dict[str, Any]]:
    """"add" changes from a list of new facilities (CSV in UTF-8/GBK, or XLSX): 编号、名称、类型、经度、纬度、床位….

    Rows without an id get ``N<row>``; each change carries ``_row`` (the spreadsheet row) so that
    errors can name it. Other checks happen when the changes are applied
    (:func:`planning.scenario.apply_changes`).

    Parameters
    ----------
    path
        The list (CSV or XLSX).
    region_extent
        ``(min_lon, min_lat, max_lon, max_lat)`` of the region in degrees; when given, every row whose
        point lies more than ``margin_m`` metres outside it is refused.
    margin_m
        Tolerance around ``region_extent`` in metres (``settings.region_margin_m``).

    Raises
    ------
    InputFileError
        Rows lie outside the region: all of them are named in one message (row, coordinates) with the
        region's extent, so the file can be fixed in one pass.
    """
    frame = read_table(path, "facilities").frame
    lookup = {str(c).strip().lower(): c for c in frame.columns}
    changes: list[dict[str, Any]] = []
    for row_no, row in enumerate(frame.to_dict("records"), start=2):
        change: dict[str, Any] = {"op": "add"}
        for key, names in ADD_FILE_ALIASES.items():
            column = next((lookup[n] for n in names if n in lookup), None)
            if column is not None and str(row[column]).strip() not in {"", "nan", "None", "<NA>"}:
                change[key] = row[column]
        change.setdefault("id", f"N{row_no - 1}")
        change["_row"] = row_no
        changes.append(change)
    if region_extent is not None:
        pointed = [c for c in changes if _has_point(c)]
        lon = np.array([float(c["lon"]) for c in pointed])
        lat = np.array([float(c["lat"]) for c in pointed])
        far = [c for c, out in zip(pointed, outside_extent(lon, lat, region_extent, margin_m), strict=True) if out]
        if far:
            minx, miny, maxx, maxy = region_extent
            rows = "；".join(f"第 {c['_row']} 行（经度 {float(c['lon']):.6f}，纬度 {float(c['lat']):.6f}）" for c in far[:20])
            more = f" 等 {len(far)} 行" if len(far) > 20 else ""
            raise InputFileError(
                f"新增设施清单 {Path(path).name} 中有 {len(far)} 处设施位于本地区范围之外：{rows}{more}。"
                f"本地区范围：经度 {minx:.4f}–{maxx:.4f}，纬度 {miny:.4f}–{maxy:.4f}（允许外扩 {margin_m:g} 米）；"
                "请检查坐标或坐标系（须为 WGS-84 经纬度）",
                f"{path}: {len(far)} rows outside the region extent {region_extent} (margin {margin_m:g} m): "
                + ", ".join(str(c["_row"]) for c in far))
    return changes


def _has_point(change: dict[str, Any]) -> bool:
    """Whether a change carries numeric lon and lat (other problems are reported when it is applied)."""
    try:
        return bool(np.isfinite(float(change["lon"])) and np.isfinite(float(change["lat"])))
    except (KeyError, TypeError, ValueError):
        return False


__all__ = ["ADD_FILE_ALIASES", "add_changes_from_file", "read_candidates", "read_exclusions"]
