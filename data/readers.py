"""Read staff-supplied tables into string frames with canonical column names.

Staff bring Excel workbooks, CSV exports (often GBK, sometimes with title rows
above the header), GeoJSON, GeoPackage, GeoParquet and Shapefiles. Every value
is kept as text so identity numbers and division codes survive unchanged;
parsing and validation happen downstream against :mod:`data.schema`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import logging
import re
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from data.schema import TABLES, header_map
from geo.errors import InputFileError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
SUPPORTED = TEXT_SUFFIXES + EXCEL_SUFFIXES + GEO_SUFFIXES + PARQUET_SUFFIXES
HEADER_SCAN_ROWS = 10
DELIMITERS = (",", ";", "\t", "|")
_EDGE_SPACE = re.compile(r"^[\s\u200b\ufeff]+|[\s\u200b\ufeff]+$")

Cells = list[str | None]


@dataclass(frozen=True)
class RawTable:
    """A table as read from one file, before validation.

    Attributes
    ----------
    path
        The file read.
    frame
        Canonical columns (object dtype, values ``str`` or ``None``), plus a
        ``geometry`` column of shapely geometries (or ``None``) for geo formats.
    source_rows
        Row number a user sees for each frame row: the spreadsheet row for
        CSV/Excel (header row counted), the 1-based feature number for geo formats.
    encoding
        Encoding used for text files (or given for a Shapefile), else ``None``.
    sheet
        Worksheet read from a workbook, or layer read from a GeoPackage.
    header_map
        Original header -> canonical field name.
    unknown_headers
        Headers not recognised; their columns are ignored.
    crs
        CRS of a geo file (``"EPSG:4326"``), ``None`` for tabular files or when missing.
    n_rows
        Rows read, excluding the header and fully blank rows.
    """

    path: Path
    frame: pd.DataFrame
    source_rows: np.ndarray
    encoding: str | None
    sheet: str | None
    header_map: dict[str, str]
    unknown_headers: list[str]
    crs: str | None
    n_rows: int


def read_table(path: str | Path, table: str, *, sheet: str | int | None = None,
               encoding: str | None = None) -> RawTable:
    """Read a staff file of ``table`` ("facilities", "elders" or "areas").

    Parameters
    ----------
    path
        File to read; the format follows the suffix.
    table
        Table whose field aliases are used to recognise headers.
    sheet
        Worksheet (name or 0-based index) of a workbook, or layer of a
        GeoPackage. Default: the first sheet whose header has two known fields.
    encoding
        Text encoding of a CSV (or Shapefile attributes); detected when omitted.

    Returns
    -------
    RawTable

    Raises
    ------
    InputFileError
        The file is missing, unsupported, unreadable or has no known header.
    """
    path = Path(path)
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}")
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InputFileError(f"文件 {path.name} 是旧版 Excel 格式（.xls），请在 Excel 中“另存为” .xlsx 后再导入。",
                             f"{path}: legacy .xls is not supported, save as .xlsx")
    if suffix not in SUPPORTED:
        raise InputFileError(f"文件 {path.name} 的格式（{suffix or '无扩展名'}）不受支持。支持的格式：{'、'.join(SUPPORTED)}。",
                             f"{path}: unsupported format {suffix!r}")
    if not path.is_file():
        raise InputFileError(f"找不到文件 {path.name}（{path}）。", f"{path}: file not found")
    crs = layer = None
    if suffix in TEXT_SUFFIXES:
        encoding, rows = _read_text(path, table, encoding, "\t" if suffix == ".tsv" else None)
        parts = _assemble(path, table, *_split_header(rows, table))
    elif suffix in EXCEL_SUFFIXES:
        layer, rows = _read_excel(path, table, sheet)
        parts = _assemble(path, table, *_split_header(rows, table))
    else:
        frame, crs, layer = _read_geo(path, suffix, sheet, encoding)
        geom = frame.pop(frame.active_geometry_name) if hasattr(frame, "active_geometry_name") else None
        body = [(i + 1, [_cell(v) for v in rec]) for i, rec in enumerate(frame.itertuples(index=False))]
        parts = _assemble(path, table, [str(c) for c in frame.columns], body,
                          None if geom is None else list(geom.array))
        encoding = encoding if suffix == ".shp" else None
    out, rows_seen, mapping, unknown = parts
    log.info("read %s (format=%s, encoding=%s, sheet=%s, rows=%d)",
             path, suffix.lstrip("."), encoding, layer, len(out))
    return RawTable(path=path, frame=out, source_rows=rows_seen, encoding=encoding, sheet=layer,
                    header_map=mapping, unknown_headers=unknown, crs=crs, n_rows=len(out))


def detect_encoding(raw: bytes, *, name: str = "输入数据") -> str:
    """Guess the encoding of CSV bytes.

    Order: UTF-8 BOM -> ``utf-8-sig``; UTF-16 BOM -> ``utf-16``; strict
    ``utf-8``; strict ``gb18030`` (superset of GBK and GB2312); otherwise the
    best guess of charset-normalizer.

    Raises
    ------
    InputFileError
        No encoding decodes the bytes (``name`` is used in the message).
    """
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for candidate in ("utf-8", "gb18030"):
        try:
            raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        return candidate
    import charset_normalizer

    best = charset_normalizer.from_bytes(raw).best()
    if best is not None:
        return str(best.encoding)
    raise InputFileError(f"无法识别文件 {name} 的文字编码：它不是 UTF-8 或 GBK/GB18030 文本，可能已损坏或不是 CSV 文件。"
                         "请在 Excel 中另存为“CSV UTF-8”后再导入。", f"{name}: cannot detect text encoding")


def _cell(value: object) -> str | None:
    """Text of a cell: trimmed, ``None`` when blank; integral floats without ".0", never scientific."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        if np.isfinite(value) and float(value).is_integer():
            return str(int(value))
        return np.format_float_positional(float(value), trim="-")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        midnight = value.time() == dt.time() and value.tzinfo is None
        return value.date().isoformat() if midnight else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    text = _EDGE_SPACE.sub("", str(value))
    return text or None


def _score(row: Cells, table: str) -> int:
    """Number of cells of ``row`` that name a known field."""
    cells = [c for c in row if c is not None]
    return len(header_map(cells, table)[0]) if cells else 0


def _head_score(rows: Sequence[Cells], table: str) -> tuple[int, int]:
    """(index, score) of the header row among the first rows: first with two known fields, else the best."""
    scores = [_score(r, table) for r in rows[:HEADER_SCAN_ROWS]]
    for i, s in enumerate(scores):
        if s >= 2:
            return i, s
    if any(scores):
        return scores.index(max(scores)), max(scores)
    widths = [sum(c is not None for c in r) for r in rows[:HEADER_SCAN_ROWS]]
    return (widths.index(max(widths)), 0) if widths else (0, 0)


def _split_header(rows: list[Cells], table: str) -> tuple[Cells, list[tuple[int, Cells]]]:
    """Header cells and (spreadsheet row, cells) of the rows below it."""
    at, _ = _head_score(rows, table)
    header = rows[at] if rows else []
    return header, [(i + 1, r) for i, r in enumerate(rows) if i > at]


def _assemble(path: Path, table: str, header: Cells, body: list[tuple[int, Cells]], geometry: list[object] | None = None,
              ) -> tuple[pd.DataFrame, np.ndarray, dict[str, str], list[str]]:
    """Frame of the known columns, dropping fully blank rows, with their source row numbers."""
    named = [(i, h) for i, h in enumerate(header) if h is not None]
    mapping, unknown = header_map([h for _, h in named], table)
    if not mapping:
        if not named:
            raise InputFileError(f"文件 {path.name} 是空的，没有读到任何表头或数据。", f"{path}: file is empty")
        shown = "、".join(h for _, h in named[:12]) + ("……" if len(named) > 12 else "")
        specs = TABLES[table]
        hint = [s.zh for s in specs if s.required] + [s.zh for s in specs if s.name in ("lon", "lat")]
        raise InputFileError(f"文件 {path.name} 中没有可识别的表头（读到：{shown}）。应包含如：{'、'.join(hint)}。",
                             f"{path}: no known header among {[h for _, h in named]}")
    picks: dict[str, int] = {}
    for i, h in named:
        if h in mapping and mapping[h] not in picks:
            picks[mapping[h]] = i
    records, numbers, shapes = [], [], []
    for k, (number, cells) in enumerate(body):
        shape = geometry[k] if geometry is not None else None
        if shape is None and all(c is None for c in cells):
            continue
        records.append([cells[i] if i < len(cells) else None for i in picks.values()])
        numbers.append(number)
        shapes.append(shape)
    frame = pd.DataFrame(records, columns=list(picks), dtype=object)
    if geometry is not None:
        frame["geometry"] = pd.Series(shapes, index=frame.index, dtype=object)
    return frame, np.asarray(numbers, dtype=np.int64), mapping, unknown


def _unreadable(path: Path, exc: BaseException, what: str = "") -> InputFileError:
    return InputFileError(f"无法读取文件 {path.name}：{what or '文件已损坏或格式与扩展名不符'}（{exc}）。",
                          f"{path}: unreadable: {exc!r}")


def _read_text(path: Path, table: str, encoding: str | None, delimiter: str | None) -> tuple[str, list[Cells]]:
    """Decode and split a delimited text file; returns the encoding used and cleaned rows."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc, "没有读取权限或文件被占用") from exc
    if not raw.strip():
        raise InputFileError(f"文件 {path.name} 是空的，没有读到任何表头或数据。", f"{path}: file is empty")
    encoding = encoding or detect_encoding(raw, name=path.name)
    try:
        text = raw.decode(encoding).removeprefix("\ufeff")
    except (UnicodeDecodeError, LookupError) as exc:
        raise _unreadable(path, exc, f"不能按 {encoding} 编码解码") from exc

    def parse(sep: str, limit: int | None = None) -> list[Cells]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
        return [[_cell(c) for c in row] for row in itertools.islice(reader, limit)]

    try:
        if delimiter is None:  # sniffed delimiter first; another one wins only if it reveals a header
            candidates = _delimiters(text[:20000])
            good = (sep for sep in candidates if _head_score(parse(sep, HEADER_SCAN_ROWS), table)[1] >= 2)
            delimiter = next(good, candidates[0])
        return encoding, parse(delimiter)
    except csv.Error as exc:
        raise _unreadable(path, exc) from exc


def _delimiters(head: str) -> list[str]:
    """Candidate delimiters, the one csv.Sniffer picks (else comma) first."""
    try:
        first = csv.Sniffer().sniff(head, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        first = ","
    return [first, *(d for d in DELIMITERS if d != first)]


def _read_excel(path: Path, table: str, sheet: str | int | None) -> tuple[str, list[Cells]]:
    """Rows of the requested sheet, or of the first sheet with a recognisable header."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():  # style/extension warnings of WPS and other writers are noise here
            warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl\.")
            book = openpyxl.load_workbook(path, data_only=True)  # not read_only: trustworthy row numbering
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise _unreadable(path, exc, "不是有效的 .xlsx 文件（如设置了打开密码请先取消）") from exc
    try:
        names = [ws.title for ws in book.worksheets]
        if isinstance(sheet, int) and not isinstance(sheet, bool):
            chosen = names[sheet:sheet + 1] if sheet >= 0 else []
        else:
            chosen = names if sheet is None else [n for n in names if n == sheet]
        if not chosen:
            raise InputFileError(f"文件 {path.name} 中没有工作表 {sheet}。现有工作表：{'、'.join(names)}。",
                                 f"{path}: no sheet {sheet!r} among {names}")
        best: tuple[int, str, list[Cells]] | None = None
        for name in chosen:
            rows = [[_cell(v) for v in r] for r in book[name].iter_rows(min_row=1, values_only=True)]
            score = _head_score(rows, table)[1]
            if score >= 2:
                return name, rows
            if best is None or score > best[0]:
                best = (score, name, rows)
        assert best is not None
        return best[1], best[2]
    finally:
        book.close()


def _read_geo(path: Path, suffix: str, layer: str | int | None, encoding: str | None,
              ) -> tuple[pd.DataFrame, str | None, str | None]:
    """Attribute frame (GeoDataFrame when spatial), CRS string and layer name of a geo file."""
    import geopandas as gpd
    import pyarrow.parquet as pq
    import pyogrio

    try:
        if suffix in PARQUET_SUFFIXES:
            if b"geo" not in (pq.read_schema(path).metadata or {}):
                return pd.read_parquet(path), None, None  # plain Parquet: a table without geometry
            frame = gpd.read_parquet(path)
        else:
            layers = [str(name) for name, _ in pyogrio.list_layers(path)]
            name = layers[layer] if isinstance(layer, int) else layer or (layers[0] if layers else None)
            if name not in layers:
                raise InputFileError(f"文件 {path.name} 中没有图层 {layer}。现有图层：{'、'.join(layers)}。",
                                     f"{path}: no layer {layer!r} among {layers}")
            options = {"encoding": encoding} if encoding else {}
            frame = gpd.read_file(path, layer=name, engine="pyogrio", **options)
            layer = name if suffix == ".gpkg" else None
    except InputFileError:
        raise
    except (OSError, ValueError, RuntimeError, IndexError, KeyError) as exc:  # pyogrio errors are RuntimeErrors
        raise _unreadable(path, exc) from exc
    crs = getattr(frame, "crs", None)
    if crs is None:
        return frame, None, layer if isinstance(layer, str) else None
    epsg = crs.to_epsg()
    if epsg is None and crs.equals("EPSG:4326", ignore_axis_order=True):
        epsg = 4326  # OGC:CRS84 is WGS-84 with lon/lat order
    return frame, f"EPSG:{epsg}" if epsg is not None else crs.to_string(), layer if isinstance(layer, str) else None
