"""Tables and layers as file bytes, built in memory: one function per format.

The one place that turns a table into a workbook or CSV and a layer into GeoJSON: the app's
downloads use the bytes directly, and :func:`data.store.write_table` / :func:`data.store.write_geojson`
write them atomically for the CLI. No streamlit here; the caller decides where the bytes go.

Data is text, never a formula: every text cell (and column name) that a spreadsheet would take for a
formula — starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return — is written with a
single quote in front (OWASP, "CSV Injection"), by :func:`neutralise_cell`. Every workbook and CSV file
the project writes goes through it: :func:`csv_bytes`, :func:`xlsx_bytes` (and so
:func:`data.store.write_table`, the validation reports and rejects files, the CLI and page downloads)
and :func:`data.report_files.write_report_workbook`. Numbers stay numbers: only strings are touched.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"
GEOJSON_MIME = "application/geo+json"

#: First characters that make Excel, LibreOffice or Google Sheets read a cell as a formula (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 (and so an xlsx file) cannot hold; openpyxl refuses them with IllegalCharacterError.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def neutralise_cell(value: object) -> object:
    """``value`` safe for a spreadsheet cell: a string starting with ``= + - @``, tab or CR gets a
    leading single quote, so it is stored and shown as text, never evaluated; anything else
    (numbers, negative ones included, dates, missing values, other text) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralise_frame(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with every text cell and column name through :func:`neutralise_cell`;
    numeric, boolean and datetime columns are left as they are (the input is not modified)."""
    out = table.copy()
    for i in range(out.shape[1]):
        values = out.iloc[:, i]
        if values.dtype == object or pd.api.types.is_string_dtype(values) or isinstance(
                values.dtype, pd.CategoricalDtype):
            cleaned = [neutralise_cell(v) for v in values.astype(object)]
            out.isetitem(i, pd.Series(cleaned, index=out.index, dtype=object))
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = pd.MultiIndex.from_tuples([tuple(neutralise_cell(c) for c in t) for t in out.columns])
    else:
        out.columns = [neutralise_cell(c) for c in out.columns]
    return out


def xml_safe(value: object) -> object:
    """``value`` with the characters an xlsx file cannot hold (C0 controls other than tab, LF and CR;
    lone surrogates) replaced by U+FFFD, so an odd byte in a name cannot make an export fail; anything
    but a string is returned unchanged."""
    if isinstance(value, str) and _XML_ILLEGAL.search(value):
        return _XML_ILLEGAL.sub("\ufffd", value)
    return value


YES_NO = {True: "是", False: "否"}
"""How a yes/no cell reads in every file we write (the pages say 是/否 too)."""


def plain_frame(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`neutralise_frame`, and yes/no columns as 是/否 instead of True/False."""
    out = neutralise_frame(table)
    for i in range(out.shape[1]):
        values = out.iloc[:, i]
        if pd.api.types.is_bool_dtype(values) or (values.dtype == object and len(values) and values.map(
                lambda v: isinstance(v, (bool, np.bool_)) or v is None or v != v).all() and values.notna().any()):
            out.isetitem(i, pd.Series([YES_NO.get(bool(v)) if isinstance(v, (bool, np.bool_)) else v
                                       for v in values], index=out.index, dtype=object))
    return out


def _xlsx_frame(table: pd.DataFrame) -> pd.DataFrame:
    out = plain_frame(table)
    for i in range(out.shape[1]):
        if out.iloc[:, i].dtype == object:
            out.isetitem(i, pd.Series([xml_safe(v) for v in out.iloc[:, i]], index=out.index, dtype=object))
    if not isinstance(out.columns, pd.MultiIndex):
        out.columns = [xml_safe(c) for c in out.columns]
    return out


def csv_bytes(table: pd.DataFrame, *, encoding: str = "utf-8-sig") -> bytes:
    """A table as CSV, by default UTF-8 with BOM (so Excel on Chinese Windows reads it; "gbk" for systems
    that need GBK), no index; text cells through :func:`neutralise_cell`, yes/no as 是/否.

    Rows end in CR LF (RFC 4180, as Excel writes CSV): then a field holding a CR or LF is quoted, so
    a line break inside a name cannot split its row.
    """
    return plain_frame(table).to_csv(index=False, lineterminator="\r\n").encode(encoding)


def xlsx_bytes(table: pd.DataFrame, *, sheet_name: str = "Sheet1",
               extra_sheets: Mapping[str, pd.DataFrame] | None = None) -> bytes:
    """A table as an XLSX workbook (sheet ``sheet_name``, then ``extra_sheets`` in order), no index.

    Text cells and column names go through :func:`neutralise_cell` (no cell becomes a formula);
    characters XML cannot hold become U+FFFD. The cells are those ``DataFrame.to_excel`` writes (missing
    values empty, infinities as the text ``inf``, dates with its formats, a plain header row), written row
    by row by openpyxl's write-only workbook: a 100,000-row report in seconds. Column headers of several
    levels go through ``to_excel`` itself."""
    sheets = {sheet_name: table, **(extra_sheets or {})}
    buffer = io.BytesIO()
    if any(isinstance(frame.columns, pd.MultiIndex) for frame in sheets.values()):
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            for name, frame in sheets.items():
                _xlsx_frame(frame).to_excel(writer, index=False, sheet_name=name)
        return buffer.getvalue()
    cells = {name: _excel_columns(_xlsx_frame(frame)) for name, frame in sheets.items()}  # refusals first
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    for name, (header, columns) in cells.items():
        sheet = book.create_sheet(title=name)

        def dated(value: object, sheet: object = sheet) -> object:
            if not isinstance(value, dt.date):
                return value
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = _DATETIME_FORMAT if isinstance(value, dt.datetime) else _DATE_FORMAT
            return cell

        columns = [[dated(v) for v in values] if any(isinstance(v, dt.date) for v in values) else values
                   for values in columns]
        sheet.append(header)
        for row in zip(*columns, strict=True):
            sheet.append(row)
    book.save(buffer)
    return buffer.getvalue()


_DATETIME_FORMAT, _DATE_FORMAT = "YYYY-MM-DD HH:MM:SS", "YYYY-MM-DD"
"""The number formats ``pandas.ExcelWriter`` gives datetimes and dates (its defaults)."""


def _excel_columns(frame: pd.DataFrame) -> tuple[list[object], list[list[object]]]:
    """The header and the columns of ``frame`` as cell values (:func:`_excel_value`)."""
    return ([_excel_value(c) for c in frame.columns],
            [[_excel_value(v) for v in frame.iloc[:, i].tolist()] for i in range(frame.shape[1])])


def _excel_value(value: object) -> object:
    """A cell's value as ``to_excel`` hands it to openpyxl: missing values empty, infinities as ``inf`` /
    ``-inf``, numpy scalars as Python numbers; a datetime with a time zone refused as pandas refuses it."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isinf(value):
        return "inf" if value > 0 else "-inf"
    if getattr(value, "tzinfo", None) is not None:
        raise ValueError("Excel does not support datetimes with timezones. Please ensure that datetimes are "
                         "timezone unaware before writing to Excel.")
    return value


def geojson_bytes(frame: gpd.GeoDataFrame) -> bytes:
    """A GeoDataFrame as GeoJSON in EPSG:4326 (RFC 7946; UTF-8, Chinese unescaped, no feature ids)."""
    out = frame if frame.crs is None or frame.crs.to_epsg() == 4326 else frame.to_crs("EPSG:4326")
    return out.to_json(ensure_ascii=False, drop_id=True).encode("utf-8")


__all__ = ["CSV_MIME", "FORMULA_START", "GEOJSON_MIME", "XLSX_MIME", "csv_bytes", "geojson_bytes", "neutralise_cell",
           "neutralise_frame", "plain_frame", "xlsx_bytes", "xml_safe"]
