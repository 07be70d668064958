"""Service areas of home-care providers (居家上门服务商) drawn as polygons.

Staff may draw where each provider serves (GeoJSON, GeoPackage, Shapefile, any CRS that the file
declares). Each feature names its provider by facility id (列 facility_id / 机构编号 / 设施编号 /
编号 / id) or, when that is empty or absent, by exact facility name (列 name / 名称 / 机构名称 /
设施名称 / 服务商名称). :func:`read_service_areas` matches the features to the region's facilities
and returns the region layer ``service_areas`` (``facility_id``, ``geometry``, EPSG:4326), which
:mod:`planning.home_care` uses: an elder inside a provider's polygon is served by it.

Every problem of the file is collected and reported at once, naming the file, the feature number
and the field: no CRS (or metres in a file read as longitude/latitude), no id or name column, an id or name that matches no facility (or a name that
matches several), empty or non-polygon geometry, polygons that cannot be repaired. Self-intersecting
polygons are repaired with ``make_valid`` and kept with a warning when the repair changes the area
by at most 1 %. Polygons of facilities that are not home-care providers are kept, with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.formats import unreadable
from geo.errors import InputFileError
from geo.settings import Settings

log = logging.getLogger(__name__)

ID_COLUMNS: tuple[str, ...] = ("facility_id", "机构编号", "设施编号", "服务商编号", "编号", "id")
NAME_COLUMNS: tuple[str, ...] = ("name", "facility_name", "名称", "机构名称", "设施名称", "服务商名称")
"""Header names recognised for the provider's id and name (case and surrounding spaces ignored)."""
REPAIR_MAX_AREA_CHANGE = 0.01
"""A repaired polygon is kept when ``make_valid`` changes its area by at most this share."""
MAX_LISTED = 30
"""Problems listed in one error message (the count of the rest is given)."""


@dataclass(frozen=True)
class ServiceAreaFile:
    """A read service-areas file: the region layer and the warnings (Chinese) to show staff.

    ``layer``: ``facility_id`` (str), ``geometry`` ((Multi)Polygon), EPSG:4326, one row per feature.
    """

    layer: gpd.GeoDataFrame
    warnings: list[str] = field(default_factory=list)


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lookup = {str(c).strip().lower(): c for c in frame.columns if c != "geometry"}
    return next((lookup[n.lower()] for n in names if n.lower() in lookup), None)


def _text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def read_service_areas(path: str | Path, facilities: pd.DataFrame, *, settings: Settings,
                       layer: str | None = None) -> ServiceAreaFile:
    """Read a file of service-area polygons and match it to the region's facilities.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage (``layer``: which one; the first by default) or Shapefile with a CRS.
    facilities
        The region's facilities (``id``, ``name``, ``kind``).
    settings
        ``home_care_kinds`` (polygons of other kinds are warned about) and ``max_text_length``.

    Returns
    -------
    :class:`ServiceAreaFile`; its layer goes into the region as ``layers["service_areas"]``.

    Raises
    ------
    InputFileError
        The file cannot be read, has no CRS, no features, no id or name column, or any feature
        has a problem (all are listed: file, feature number, field, value, why).
    """
    path = Path(path)
    try:
        frame = gpd.read_file(path, layer=layer) if layer is not None else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise unreadable(path, exc, "服务区域文件", "不是可识别的地理数据文件（GeoJSON、GeoPackage 或 Shapefile），"
                                                  "或文件已损坏") from exc
    if len(frame) == 0:
        raise InputFileError(f"服务区域文件 {path.name} 中没有任何要素（只有表头或为空）",
                             f"{path}: no features")
    if frame.crs is None:
        raise InputFileError(f"服务区域文件 {path.name} 没有坐标系信息，请在文件中注明坐标系（如 EPSG:4326）后重新导入",
                             f"{path}: no CRS")
    if frame.crs.is_geographic and len(frame.geometry.dropna()):
        west, south, east, north = frame.geometry.dropna().total_bounds
        if max(abs(west), abs(east)) > 180 or max(abs(south), abs(north)) > 90:
            raise InputFileError(f"服务区域文件 {path.name} 的坐标（如 {west:.0f}, {south:.0f}）超出经纬度范围，"
                                 "可能是以米为单位的投影坐标而文件没有注明坐标系；请注明坐标系后重新导入",
                                 f"{path}: coordinates outside lon/lat range for a geographic CRS")
    id_col, name_col = _column(frame, ID_COLUMNS), _column(frame, NAME_COLUMNS)
    if id_col is None and name_col is None:
        columns = "、".join(str(c) for c in frame.columns if c != "geometry") or "（无）"
        raise InputFileError(f"服务区域文件 {path.name} 缺少设施编号列（{'、'.join(ID_COLUMNS[:4])}）或名称列"
                             f"（{'、'.join(NAME_COLUMNS[2:5])}），无法对应到服务商；收到的列：{columns}",
                             f"{path}: no facility id or name column")
    fac_ids = facilities["id"].astype(str).tolist() if "id" in facilities else []
    fac_names = facilities["name"].astype(str).tolist() if "name" in facilities else []
    kinds = facilities["kind"].astype(str).tolist() if "kind" in facilities else [""] * len(fac_ids)
    by_id = {i: k for k, i in enumerate(fac_ids)}
    by_name: dict[str, list[int]] = {}
    for k, n in enumerate(fac_names):
        by_name.setdefault(n, []).append(k)
    geoms = frame.geometry.values
    errors: list[str] = []
    warnings: list[str] = []
    ids: list[str] = []
    kept: list[shapely.Geometry] = []
    limit = settings.max_text_length

    def problem(feature: int, field_zh: str, value: str, why: str) -> None:
        shown = f"“{_clip(value)}”" if value else "（空）"
        errors.append(f"{path.name} 第 {feature} 个要素，{field_zh} {shown}：{why}")

    for row in range(len(frame)):
        feature = row + 1
        fid = _text(frame[id_col].iloc[row]) if id_col is not None else ""
        fname = _text(frame[name_col].iloc[row]) if name_col is not None else ""
        found: int | None = None
        if len(fid) > limit or len(fname) > limit:
            problem(feature, "设施编号" if len(fid) > limit else "名称", fid if len(fid) > limit else fname,
                    f"超过 {limit} 个字符的长度上限")
            continue
        if fid and fid in by_id:
            found = by_id[fid]
        elif fname:
            matches = by_name.get(fname, [])
            if len(matches) == 1:
                found = matches[0]
                if fid:
                    warnings.append(f"{path.name} 第 {feature} 个要素的设施编号“{_clip(fid)}”在本地区设施中没有，"
                                    f"已按名称“{_clip(fname)}”对应到编号 {fac_ids[found]}")
            elif matches:
                problem(feature, f"名称（{name_col}）", fname,
                        f"有 {len(matches)} 家设施同名（编号 {'、'.join(fac_ids[k] for k in matches)}），"
                        "请填写设施编号")
                continue
        if found is None:
            if fid:
                problem(feature, f"设施编号（{id_col}）", fid,
                        "本地区设施中没有这个编号" + (f"，名称“{_clip(fname)}”也对不上" if fname else ""))
            elif fname:
                problem(feature, f"名称（{name_col}）", fname, "本地区设施中没有这个名称")
            else:
                problem(feature, "设施编号和名称", "", "都为空，无法对应到服务商")
            continue
        geom = geoms[row]
        if geom is None or shapely.is_empty(geom):
            problem(feature, "边界", "", "没有几何图形")
            continue
        if shapely.get_type_id(geom) not in (3, 6):  # Polygon, MultiPolygon
            problem(feature, "边界", geom.geom_type, "应为多边形（Polygon/MultiPolygon）")
            continue
        if not shapely.is_valid(geom):
            repaired = _polygonal(shapely.make_valid(geom))
            before, after = float(shapely.area(geom)), float(shapely.area(repaired)) if repaired is not None else 0.0
            change = abs(after - before) / before if before > 0 else np.inf
            why = shapely.is_valid_reason(geom)
            if repaired is None or not change <= REPAIR_MAX_AREA_CHANGE:
                problem(feature, "边界", _clip(why, 60),
                        "多边形自相交等无效情况，修复后面积变化超过 1%，请在制图软件中修正")
                continue
            warnings.append(f"{path.name} 第 {feature} 个要素的边界无效（{_clip(why, 60)}），已自动修复"
                            f"（面积变化 {change:.2%}），请核对")
            geom = repaired
        if kinds[found] not in settings.home_care_kinds:
            warnings.append(f"{path.name} 第 {feature} 个要素对应的设施“{_clip(fac_names[found])}”"
                            f"（编号 {fac_ids[found]}）不是{'、'.join(settings.home_care_kinds)}，"
                            "其服务区域不参与上门服务覆盖计算")
        ids.append(fac_ids[found])
        kept.append(geom)
    if errors:
        more = f"；另有 {len(errors) - MAX_LISTED} 处问题未列出" if len(errors) > MAX_LISTED else ""
        raise InputFileError(f"服务区域文件 {path.name} 有 {len(errors)} 处问题，请修改后重新导入：\n"
                             + "\n".join(errors[:MAX_LISTED]) + more,
                             f"{path}: {len(errors)} problems in service areas")
    result = gpd.GeoDataFrame({"facility_id": pd.Series(ids, dtype=object)},
                              geometry=gpd.GeoSeries(kept, crs=frame.crs), crs=frame.crs).to_crs("EPSG:4326")
    log.info("service areas: %d polygons of %d providers read from %s", len(result),
             result["facility_id"].nunique(), path.name)
    return ServiceAreaFile(result, warnings)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    """The polygonal part of a geometry (make_valid can return a collection), or None."""
    if geom is None or shapely.is_empty(geom):
        return None
    kind = shapely.get_type_id(geom)
    if kind in (3, 6):
        return geom
    if kind == 7:  # GeometryCollection
        parts = [g for g in shapely.get_parts(geom) if shapely.get_type_id(g) in (3, 6)]
        return shapely.union_all(parts) if parts else None
    return None


__all__ = ["ID_COLUMNS", "NAME_COLUMNS", "ServiceAreaFile", "read_service_areas"]
