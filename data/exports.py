"""Tables and layers as file bytes, built in memory: one function per format.

The one place that turns a table into a workbook or CSV and a layer into GeoJSON: the app's
downloads use the bytes directly, and :func:`data.store.write_table` / :func:`data.store.write_geojson`
write them atomically for the CLI. No streamlit here; the caller decides where the bytes go.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import geopandas as gpd
import pandas as pd

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"
GEOJSON_MIME = "application/geo+json"


def csv_bytes(table: pd.DataFrame, *, encoding: str = "utf-8-sig") -> bytes:
    """A table as CSV, by default UTF-8 with BOM (so Excel on Chinese Windows reads it; "gbk" for systems
    that need GBK), ``\\n`` line ends, no index."""
    return table.to_csv(index=False, lineterminator="\n").encode(encoding)


def xlsx_bytes(table: pd.DataFrame, *, sheet_name: str = "Sheet1",
               extra_sheets: Mapping[str, pd.DataFrame] | None = None) -> bytes:
    """A table as an XLSX workbook (sheet ``sheet_name``, then ``extra_sheets`` in order), no index."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        table.to_excel(writer, index=False, sheet_name=sheet_name)
        for name, extra in (extra_sheets or {}).items():
            extra.to_excel(writer, index=False, sheet_name=name)
    return buffer.getvalue()


def geojson_bytes(frame: gpd.GeoDataFrame) -> bytes:
    """A GeoDataFrame as GeoJSON in EPSG:4326 (RFC 7946; UTF-8, Chinese unescaped, no feature ids)."""
    out = frame if frame.crs is None or frame.crs.to_epsg() == 4326 else frame.to_crs("EPSG:4326")
    return out.to_json(ensure_ascii=False, drop_id=True).encode("utf-8")


__all__ = ["CSV_MIME", "GEOJSON_MIME", "XLSX_MIME", "csv_bytes", "geojson_bytes", "xlsx_bytes"]
