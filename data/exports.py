"""Tables and layers as file bytes, built in memory: one function per format.

For downloads in the app and files written by the CLI alike. No streamlit here; the caller
decides where the bytes go.
"""

from __future__ import annotations

import io

import geopandas as gpd
import pandas as pd

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"
GEOJSON_MIME = "application/geo+json"


def csv_bytes(table: pd.DataFrame) -> bytes:
    """A table as CSV, UTF-8 with BOM (so Excel on Chinese Windows reads it), ``\\n`` line ends, no index."""
    return table.to_csv(index=False, lineterminator="\n").encode("utf-8-sig")


def xlsx_bytes(table: pd.DataFrame, *, sheet_name: str = "Sheet1") -> bytes:
    """A table as an XLSX workbook of one sheet, no index."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        table.to_excel(writer, index=False, sheet_name=sheet_name)
    return buffer.getvalue()


def geojson_bytes(frame: gpd.GeoDataFrame) -> bytes:
    """A GeoDataFrame as GeoJSON in EPSG:4326 (UTF-8, Chinese unescaped, no feature ids)."""
    return frame.to_crs("EPSG:4326").to_json(ensure_ascii=False, drop_id=True).encode("utf-8")


__all__ = ["CSV_MIME", "GEOJSON_MIME", "XLSX_MIME", "csv_bytes", "geojson_bytes", "xlsx_bytes"]
