"""File formats ElderMap reads and writes, by suffix, and the one Chinese answer for a file that cannot be read.

Light on purpose (no pandas, no GDAL): the command line checks every file option against these lists before any
heavy module is imported.
"""

from __future__ import annotations

import logging
from pathlib import Path

from geo.errors import InputFileError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
"""Vector files read through GDAL (pyogrio)."""
DATA_SUFFIXES = TEXT_SUFFIXES + EXCEL_SUFFIXES + GEO_SUFFIXES + PARQUET_SUFFIXES
"""Staff tables: facilities, elders, areas (data.readers.read_table)."""
CANDIDATE_SUFFIXES = (".csv", ".txt", ".xlsx") + GEO_SUFFIXES
"""Candidate sites: a table with 经度/纬度, or points (data.plan_inputs.read_candidates)."""
CHANGE_LIST_SUFFIXES = TEXT_SUFFIXES + EXCEL_SUFFIXES
"""A list of new facilities for a scenario (data.plan_inputs.add_changes_from_file)."""
ROAD_SUFFIXES = (".pbf", ".osm", ".xml", ".graphml")
"""Road networks (geo.osm.load_roads)."""
PBF_SUFFIXES = (".pbf",)
TABLE_OUT_SUFFIXES = (".xlsx", ".csv")
LAYER_OUT_SUFFIXES = (".geojson", ".json", ".gpkg")
"""What data.store writes for layers (it has no Shapefile writer: .shp is refused with this list)."""


def unreadable(path: str | Path, exc: BaseException, what_zh: str = "文件",
               why_zh: str = "文件已损坏，或内容与扩展名不符") -> InputFileError:
    """The error for a file that a library could not open: Chinese, naming the file and what it should be; the
    library's own (English) text goes to the log and to ``.en`` only."""
    path = Path(path)
    log.info("cannot read %s: %r", path, exc)
    if isinstance(exc, PermissionError):
        why_zh = "没有读取权限"
    elif isinstance(exc, IsADirectoryError) or path.is_dir():
        why_zh = "这是一个文件夹，不是文件"
    elif isinstance(exc, FileNotFoundError) or not path.exists():
        why_zh = "文件不存在"
    return InputFileError(f"无法读取{what_zh} {path.name}：{why_zh}", f"cannot read {path}: {exc!r}")


__all__ = ["CANDIDATE_SUFFIXES", "CHANGE_LIST_SUFFIXES", "DATA_SUFFIXES", "EXCEL_SUFFIXES", "GEO_SUFFIXES",
           "LAYER_OUT_SUFFIXES", "PARQUET_SUFFIXES", "PBF_SUFFIXES", "ROAD_SUFFIXES", "TABLE_OUT_SUFFIXES",
           "TEXT_SUFFIXES", "unreadable"]
