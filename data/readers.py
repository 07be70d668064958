"""Read staff-supplied tables into string frames with canonical column names.

Staff bring Excel workbooks, CSV exports (often GBK, sometimes with title rows
above the header), GeoJSON, GeoPackage, GeoParquet and Shapefiles. Every value
is kept as text so identity numbers and division codes survive unchanged;
parsing and validation happen downstream against :mod:`data.schema`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import functools
import io
import itertools
import logging
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.exports import FORMULA_START
from data.formats import DATA_SUFFIXES, EXCEL_SUFFIXES, PARQUET_SUFFIXES, TEXT_SUFFIXES
from data.formats import unreadable as _unreadable_file
from data.schema import TABLES, header_map
from geo.errors import InputFileError

log = logging.getLogger(__name__)

SUPPORTED = DATA_SUFFIXES
HEADER_SCAN_ROWS = 10
DELIMITERS = ",;\t|"
_EDGE_SPACE = re.compile(r"^[\s\u200b\ufeff]+|[\s\u200b\ufeff]+$")  # \s covers the full-width space

Cells = list[str | None]
Assembled = tuple[pd.DataFrame, np.ndarray, dict[str, str], list[str]]


@dataclass(frozen=True)
class RawTable:
    """A table as read from one file, before validation.

    Attributes
    ----------
    path, sheet, encoding
        The file read; its worksheet (or GeoPackage layer); the text encoding
        used for a CSV (or given for a Shapefile), else ``None``.
    frame
        Canonical columns (object dtype: ``str`` or ``None``), plus ``geometry``
        (shapely or ``None``) for geo formats.
    source_rows
        Row number a user sees per frame row: spreadsheet row for CSV/Excel
        (header and title rows counted), 1-based feature number for geo formats.
    header_map, unknown_headers
        Original header -> canonical name; headers not recognised (ignored).
    crs
        CRS of a geo file as ``"EPSG:xxxx"`` (``None`` if missing or tabular).
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
               encoding: str | None = None, engine: str = "columns") -> RawTable:
    """Read a staff file of ``table`` (a table of :data:`data.schema.TABLES`); the suffix gives the format.

    Parameters
    ----------
    sheet
        Worksheet (name or 0-based index) of a workbook, or layer of a GeoPackage.
        Default: the first sheet whose header names at least two known fields.
    encoding
        Encoding of a CSV (or of Shapefile attributes); detected when omitted.
    engine
        "columns" (default): CSV and Excel cells are cleaned a whole column at a time; "rows": cell by
        cell with :func:`cell_text` (the reference the column path is tested against). Both give the same table.

    Raises
    ------
    InputFileError
        The file is missing, unsupported, unreadable, empty (a geo file without features) or has no
        known header. A table with a header and no data rows is returned empty: callers that
        import data refuse it (:func:`data.validate.validate_table`).
    """
    path, suffix = Path(path), Path(path).suffix.lower()
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}")
    if suffix == ".xls":
        raise InputFileError(f"文件 {path.name} 是旧版 Excel 格式（.xls），请在 Excel 中“另存为” .xlsx 后再导入。",
                             f"{path}: legacy .xls is not supported, save as .xlsx")
    if suffix not in SUPPORTED:
        raise InputFileError(f"文件 {path.name} 的格式（{suffix or '无扩展名'}）不受支持。支持的格式：{'、'.join(SUPPORTED)}。",
                             f"{path}: unsupported format {suffix!r}")
    if not path.is_file():
        raise InputFileError(f"找不到文件 {path.name}（{path}）。", f"{path}: file not found")
    crs = layer = None
    if engine not in ("columns", "rows"):
        raise ValueError(f"engine must be 'columns' or 'rows', got {engine!r}")
    if suffix in TEXT_SUFFIXES + EXCEL_SUFFIXES:
        clean = engine == "rows"
        if suffix in TEXT_SUFFIXES:
            encoding, rows = _read_text(path, table, encoding, "\t" if suffix == ".tsv" else None, clean=clean)
            if isinstance(rows, _PlainText):  # no quotes: one row a line, split by Arrow (as csv splits it)
                first = csv.reader(rows.lines[:HEADER_SCAN_ROWS].to_pylist(), delimiter=rows.delimiter)
                head = [[cell_text(c) for c in r] for r in first]
                at = head_score(head, table)[0]
                try:
                    parts = _assemble_lines(path, table, head[at] if head else [], rows.lines[at + 1:],
                                            rows.delimiter, first_number=at + 2)
                except csv.Error as exc:
                    raise unreadable_error(path, exc) from exc
                rows = None
        else:
            layer, rows = _read_excel(path, table, sheet, clean=clean)
        if rows is None:
            pass
        elif clean:
            at = head_score(rows, table)[0]  # rows above the header are titles; row numbers stay 1-based
            parts = _assemble(path, table, rows[at] if rows else [],
                              [(i + 1, r) for i, r in enumerate(rows) if i > at])
        else:
            head = [[cell_text(c) for c in r] for r in rows[:HEADER_SCAN_ROWS]]
            at = head_score(head, table)[0]
            parts = assemble_columns(path, table, head[at] if head else [], rows[at + 1:], first_number=at + 2)
    else:
        frame, crs, layer = _read_geo(path, suffix, sheet, encoding)
        if len(frame) == 0:
            where = f"（图层 {layer}）" if layer else ""
            raise InputFileError(f"文件 {path.name}{where}没有任何要素（记录数为 0），没有可导入的数据。",
                                 f"{path}: no features")
        geom = getattr(frame, "active_geometry_name", None)
        attrs = pd.DataFrame(frame.drop(columns=[geom]) if geom else frame)
        body = [(i + 1, [cell_text(v) for v in rec]) for i, rec in enumerate(attrs.itertuples(index=False))]
        parts = _assemble(path, table, [str(c) for c in attrs.columns], body,
                          list(frame[geom].array) if geom else None)
        encoding = encoding if suffix == ".shp" else None
    out, numbers, mapping, unknown = parts
    log.info("read %s (format=%s, encoding=%s, sheet=%s, rows=%d)", path, suffix[1:], encoding, layer, len(out))
    return RawTable(path=path, frame=out, source_rows=numbers, encoding=encoding, sheet=layer,
                    header_map=mapping, unknown_headers=unknown, crs=crs, n_rows=len(out))


def detect_encoding(raw: bytes, *, name: str = "输入数据") -> str:
    """Encoding of CSV bytes: BOM, else strict UTF-8, else strict GB18030 (GBK superset), else charset-normalizer.

    Raises
    ------
    InputFileError
        Nothing decodes the bytes; ``name`` (the file) is named in the message.
    """
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text" export
    for candidate in ("utf-8", "gb18030"):
        try:
            raw.decode(candidate)
            return candidate
        except UnicodeDecodeError:
            pass
    import charset_normalizer

    best = charset_normalizer.from_bytes(raw).best()
    if best is not None:
        return str(best.encoding)
    raise InputFileError(f"无法识别文件 {name} 的文字编码：它不是 UTF-8 或 GBK/GB18030 文本，可能已损坏或不是 CSV 文件。"
                         "请在 Excel 中另存为“CSV UTF-8”后再导入。", f"{name}: cannot detect text encoding")


REJECTS_EXTRA_HEADERS = frozenset({"行号", "拒绝原因"})
"""Columns a rejects file adds (data.validate.write_report): skipped without a warning when it is re-imported."""


def cell_text(value: object) -> str | None:
    """Text of a cell, trimmed (``None`` when blank); integral floats lose ".0", no scientific notation."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        integral = np.isfinite(value) and float(value).is_integer()
        return str(int(value)) if integral else np.format_float_positional(float(value), trim="-")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime) and value.time() == dt.time() and value.tzinfo is None:
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    text = str(value)
    if text.startswith("'") and text[1:2] and text[1:].startswith(FORMULA_START):
        text = text[1:]  # our own neutralised export ('=1, '-0.12, '+86…): a rejects file re-imports as written
    return _EDGE_SPACE.sub("", text) or None


def head_score(rows: list[Cells], table: str) -> tuple[int, int]:
    """(index, known fields) of the header among the first rows: first naming two fields, else the best."""
    head = rows[:HEADER_SCAN_ROWS]
    scores = [len(header_map([c for c in r if c is not None], table)[0]) for r in head]
    at = next((i for i, s in enumerate(scores) if s >= 2), None)
    if at is None:  # no header: the widest row is the one to show the user
        at = scores.index(max(scores)) if any(scores) else max(range(len(head)), default=0,
                                                                 key=lambda i: sum(c is not None for c in head[i]))
    return at, scores[at] if scores else 0


def _picks(path: Path, table: str, header: Cells) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Canonical name -> column index of the known columns, the header map and the unknown headers."""
    named = [(i, h) for i, h in enumerate(header) if h is not None]
    mapping, unknown = header_map([h for _, h in named], table)
    unknown = [h for h in unknown if h not in REJECTS_EXTRA_HEADERS]
    if not named:
        raise InputFileError(f"文件 {path.name} 是空的，没有读到任何表头或数据。", f"{path}: file is empty")
    if not mapping:
        shown = "、".join(h for _, h in named[:12]) + ("……" if len(named) > 12 else "")
        hint = "、".join(s.zh for s in TABLES[table] if s.required or s.name in ("lon", "lat"))
        garbled = ("如果读到的表头是乱码，文件可能是其他编码（如 Shift-JIS、Big5、UTF-16）：请在 Excel 中另存为"
                   "“CSV UTF-8（逗号分隔）”后再导入。" if path.suffix.lower() in (".csv", ".txt", ".tsv") else "")
        raise InputFileError(f"文件 {path.name} 中没有可识别的表头（读到：{shown}）。应包含如：{hint}。{garbled}",
                             f"{path}: no known header among {[h for _, h in named]}")
    picks: dict[str, int] = {}
    for i, h in named:  # a repeated header keeps its first column
        picks.setdefault(mapping.get(h, ""), i)
    picks.pop("", None)
    return picks, mapping, unknown


def _assemble(path: Path, table: str, header: Cells, body: list[tuple[int, Cells]],
              geometry: list[object] | None = None) -> Assembled:
    """Frame of the known columns without fully blank rows, their source rows, header map, unknown headers."""
    picks, mapping, unknown = _picks(path, table, header)
    records, numbers, shapes = [], [], []
    for k, (number, cells) in enumerate(body):
        shape = geometry[k] if geometry is not None else None
        if shape is not None or any(c is not None for c in cells):
            records.append([cells[i] if i < len(cells) else None for i in picks.values()])
            numbers.append(number)
            shapes.append(shape)
    frame = pd.DataFrame(records, columns=list(picks), dtype=object)
    if geometry is not None:
        frame["geometry"] = pd.Series(shapes, index=frame.index, dtype=object)
    return frame, np.asarray(numbers, dtype=np.int64), mapping, unknown


_EDGE_CHARS = "".join(ch for ch in map(chr, range(0x3001)) if _EDGE_SPACE.match(ch)) + "\u200b\ufeff"
"""Every character ``_EDGE_SPACE`` trims (Unicode whitespace all lies below U+3001): ``str.strip`` with it is the same."""


def clean_column(values: Sequence[object]) -> list[str | None]:
    """``[cell_text(v) for v in values]``, a column at a time: plain text is trimmed with one ``str.strip``; only
    cells that are not text, or start with a quote (a neutralised formula), go through :func:`cell_text`."""
    edge = _EDGE_CHARS
    return [(v.strip(edge) or None) if v.__class__ is str and v[:1] != "'" else cell_text(v) for v in values]


def assemble_columns(path: Path, table: str, header: Cells, body: list[Sequence[object]], *,
                      first_number: int, only: Sequence[str] | None = None) -> Assembled:
    """:func:`_assemble` of raw (uncleaned) rows numbered from ``first_number``, built column by column.

    ``only``: the frame keeps just these canonical columns (text rows only: blank rows are then found on the
    joined raw text, which is blank exactly when every cleaned cell is)."""
    picks, mapping, unknown = _picks(path, table, header)
    n = len(body)
    if only is not None:
        edge = _EDGE_CHARS
        keep = np.fromiter(("".join(r).strip(edge) != "" for r in body), dtype=bool, count=n)
        data = {}
        for name, j in picks.items():
            if name in only:
                data[name] = np.array(clean_column([r[j] if j < len(r) else None for r in body]),
                                      dtype=object)[keep]
        frame = pd.DataFrame(data, columns=list(data), index=pd.RangeIndex(int(keep.sum())), dtype=object)
        return frame, np.flatnonzero(keep).astype(np.int64) + first_number, mapping, unknown
    width = max(map(len, body), default=0)
    if n and min(map(len, body)) == width:
        raw_columns = list(zip(*body, strict=True)) if width else []
    else:
        raw_columns = list(itertools.zip_longest(*body, fillvalue=None)) if n else []
    columns = [clean_column(c) for c in raw_columns]
    keep = np.zeros(n, dtype=bool)
    for cells in columns:  # a row is blank when every cell of it is, known column or not
        keep |= ~pd.isna(np.array(cells, dtype=object))
    data = {}
    for name, j in picks.items():
        values = np.array(columns[j], dtype=object) if j < width else np.full(n, None, dtype=object)
        data[name] = values[keep]
    frame = pd.DataFrame(data, columns=list(picks), dtype=object)
    numbers = np.flatnonzero(keep).astype(np.int64) + first_number
    return frame, numbers, mapping, unknown


def unreadable_error(path: Path, exc: BaseException, why: str = "文件已损坏，或内容与扩展名不符") -> InputFileError:
    return _unreadable_file(path, exc, "文件", why)


def _parse_cells(text: str, delimiter: str, limit: int | None = None) -> list[Cells]:
    """The rows of CSV text, each cell cleaned by :func:`cell_text`."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return [[cell_text(c) for c in row] for row in itertools.islice(reader, limit)]


def _sniff_delimiter(text: str, table: str) -> str:
    """The delimiter of CSV text: the one :class:`csv.Sniffer` finds (else ","), unless only another of
    :data:`DELIMITERS` reveals a header of ``table`` in the first rows."""
    try:
        sniffed = csv.Sniffer().sniff(text[:20000], delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = ","
    order = [sniffed, *(d for d in DELIMITERS if d != sniffed)]
    return next((d for d in order if head_score(_parse_cells(text, d, HEADER_SCAN_ROWS), table)[1] >= 2), sniffed)


@dataclass(frozen=True)
class _PlainText:
    """The lines of a decoded text without quotes and without a CR that does not end a line (line breaks cut
    off): each line is one CSV row, its cells split at ``delimiter``."""

    lines: pa.LargeStringArray
    delimiter: str


def _split_lines(text: str) -> pa.LargeStringArray:
    """The lines of ``text`` (no quotes, every CR followed by LF) as an Arrow array, line breaks cut off; no
    line after a final line break (as csv reads it)."""
    if not text:
        return pa.array([], type=pa.large_string())
    crlf = "\r" in text  # then every line but a last one without a break ends with one CR, no other CR
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    utf8 = text.encode("utf-8")  # one string, its buffer the encoded bytes (pa.array would encode, then copy)
    one = pa.LargeStringArray.from_buffers(1, pa.py_buffer(np.array([0, len(utf8)], dtype=np.int64)),
                                           pa.py_buffer(utf8))
    lines = pc.list_flatten(pc.split_pattern(one, pattern="\n"))
    return pc.utf8_rtrim(lines, characters="\r") if crlf else lines


def _plain_text_lines(text: str, delimiter: str) -> _PlainText | None:
    """``text`` as :class:`_PlainText` (the rows csv reads from it), or None when it needs the csv parser."""
    if '"' in text or text.count("\r") != text.count("\r\n"):
        return None
    return _PlainText(_split_lines(text), delimiter)


def _read_text(path: Path, table: str, encoding: str | None, delimiter: str | None, *,
               clean: bool = True) -> tuple[str, list[Cells] | _PlainText]:
    """Encoding used and cleaned rows of a delimited text file (as read, uncleaned, with ``clean=False``: then
    a text without quotes comes back as :class:`_PlainText`, for :func:`_assemble_lines`)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise unreadable_error(path, exc, "没有读取权限或文件被占用") from exc
    if not raw.strip():
        raise InputFileError(f"文件 {path.name} 是空的，没有读到任何表头或数据。", f"{path}: file is empty")
    text = None
    if not encoding and not raw.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        for candidate in ("utf-8", "gb18030"):  # detect_encoding's strict tries, the text kept
            try:
                text, encoding = raw.decode(candidate), candidate
                break
            except UnicodeDecodeError:
                pass
    encoding = encoding or detect_encoding(raw, name=path.name)
    try:
        text = (raw.decode(encoding) if text is None else text).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise unreadable_error(path, exc, f"第 {line} 行不能按 {encoding} 编码解码；请确认文件是 UTF-8 或 GBK 编码的 CSV，"
                                     "或不要强制指定编码") from exc
    except LookupError as exc:
        raise unreadable_error(path, exc, f"不认识编码“{encoding}”；常用编码：utf-8、gbk、gb18030") from exc

    try:
        if delimiter is None:
            delimiter = _sniff_delimiter(text, table)
        if not clean:
            plain = _plain_text_lines(text, delimiter)
            if plain is not None:
                return encoding, plain
            return encoding, list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        return encoding, _parse_cells(text, delimiter)
    except csv.Error as exc:
        raise unreadable_error(path, exc) from exc


def _read_excel(path: Path, table: str, sheet: str | int | None, *, clean: bool = True) -> tuple[str, list[Cells]]:
    """Name and cleaned rows of the requested sheet, or of the first one with a recognisable header (the cell
    values as openpyxl gives them with ``clean=False``)."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():  # style/extension warnings of WPS and other writers are noise here
            warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl\.")
            book = openpyxl.load_workbook(path, data_only=True)  # not read_only: dimensions are trustworthy
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise unreadable_error(path, exc, "不是有效的 .xlsx 文件（如设置了打开密码请先取消）") from exc
    try:
        names = [ws.title for ws in book.worksheets]
        scored: list[tuple[int, str, list[Cells]]] = []
        for name in [n for i, n in enumerate(names) if sheet in (None, i, n)]:
            if clean:
                rows = [[cell_text(v) for v in r] for r in book[name].iter_rows(min_row=1, values_only=True)]
                scored.append((head_score(rows, table)[1], name, rows))
            else:
                rows = [list(r) for r in book[name].iter_rows(min_row=1, values_only=True)]
                head = [[cell_text(v) for v in r] for r in rows[:HEADER_SCAN_ROWS]]
                scored.append((head_score(head, table)[1], name, rows))
            if scored[-1][0] >= 2:
                break
    finally:
        book.close()
    if not scored:
        raise InputFileError(f"文件 {path.name} 中没有工作表 {sheet}。现有工作表：{'、'.join(names)}。",
                             f"{path}: no sheet {sheet!r} among {names}")
    _, name, rows = next((s for s in scored if s[0] >= 2), max(scored, key=lambda s: s[0]))
    return name, rows


def _read_geo(path: Path, suffix: str, layer: str | int | None, encoding: str | None,
              ) -> tuple[pd.DataFrame, str | None, str | None]:
    """Frame (GeoDataFrame when spatial), CRS as "EPSG:xxxx" and GeoPackage layer of a geo file."""
    import geopandas as gpd
    import pyarrow.parquet as pq
    import pyogrio

    name = None
    try:
        if suffix in PARQUET_SUFFIXES:  # Parquet without "geo" metadata: a plain table
            spatial = b"geo" in (pq.read_schema(path).metadata or {})
            frame = gpd.read_parquet(path) if spatial else pd.read_parquet(path)
        else:
            layers = [str(n) for n, _ in pyogrio.list_layers(path)]
            picked = [n for i, n in enumerate(layers) if layer in (None, i, n)]
            if not picked:
                raise InputFileError(f"文件 {path.name} 中没有图层 {layer}。现有图层：{'、'.join(layers)}。",
                                     f"{path}: no layer {layer!r} among {layers}")
            name = picked[0]
            options = {"encoding": encoding} if encoding else {}
            frame = gpd.read_file(path, layer=name, engine="pyogrio", **options)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:  # pyogrio errors are RuntimeErrors
        if isinstance(exc, InputFileError):
            raise
        raise unreadable_error(path, exc) from exc
    crs = getattr(frame, "crs", None)
    epsg = None if crs is None else crs.to_epsg()
    if crs is not None and epsg is None and crs.equals("EPSG:4326", ignore_axis_order=True):
        epsg = 4326  # OGC:CRS84 is WGS-84 in lon/lat order
    text = None if crs is None else f"EPSG:{epsg}" if epsg is not None else crs.to_string()
    return frame, text, name if suffix == ".gpkg" else None


STREAM_SNIFF_BYTES = 1 << 20
"""Bytes at the head of a streamed CSV that the delimiter and the header are looked for in."""


def _stream_encoding(path: Path, encoding: str | None, block_bytes: int = 1 << 22) -> str:
    """:func:`detect_encoding` of a whole text file, read in blocks (strict UTF-8, else strict GB18030, decoded
    incrementally; the rare rest by charset-normalizer on the file's head)."""
    try:
        with path.open("rb") as f:
            head = f.read(STREAM_SNIFF_BYTES)
    except OSError as exc:
        raise unreadable_error(path, exc, "没有读取权限或文件被占用") from exc
    if not head.strip():
        raise InputFileError(f"文件 {path.name} 是空的，没有读到任何表头或数据。", f"{path}: file is empty")
    if encoding:
        return encoding
    if head.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return detect_encoding(head[:4], name=path.name)
    for candidate in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(candidate)(errors="strict")
        try:
            with path.open("rb") as f:
                while block := f.read(block_bytes):
                    decoder.decode(block)
            decoder.decode(b"", final=True)
            return candidate
        except UnicodeDecodeError:
            continue
    return detect_encoding(head, name=path.name)


FAST_CODECS = frozenset({"utf-8", "utf-8-sig", "gb18030", "gbk", "gb2312", "ascii"})
"""Encodings (``codecs.lookup`` names) in which the bytes of ``"``, CR and LF only ever stand for those characters."""
_READ_BYTES = 1 << 21
"""Bytes read (and decoded, split into lines) at a time by the plain-text reader: its memory, beside one block."""


def plain_text_file(path: Path, encoding: str) -> bool:
    """True when a delimited text file can be read line by line, without a CSV parser: an encoding of
    :data:`FAST_CODECS`, no double quote anywhere (so no quoted cell, embedded delimiter or line break) and every
    CR followed by LF (each line a row, as :mod:`csv` splits it). A byte scan, no decoding."""
    try:
        if codecs.lookup(encoding).name not in FAST_CODECS:
            return False
    except LookupError:
        return False
    last = b""
    with path.open("rb") as f:
        while block := f.read(_READ_BYTES):
            if b'"' in block:
                return False
            if last == b"\r" and not block.startswith(b"\n"):
                return False
            if block.count(b"\r") != block.count(b"\r\n") + block.endswith(b"\r"):
                return False
            last = block[-1:]
    return last != b"\r"


@dataclass(frozen=True)
class TextScan:
    """What one of several processes found in its share of a text file's bytes (:func:`scan_text_share`)."""

    utf8: bool
    """Every range of the share decodes as strict UTF-8."""
    gb18030: bool | None
    """Every range that is not UTF-8 decodes as strict GB18030 (None: some UTF-8 range with other than ASCII was
    not tried, as it needs not be unless another share is not UTF-8)."""
    quote: bool
    """A double quote somewhere in the share."""
    lone_cr: bool
    """A CR not followed by LF (or ending the file) in the share."""


def _range_start(f: Any, at: int) -> int:
    """The first byte after the first line break at or after byte ``at`` (0 for 0; the file's end when none)."""
    if at <= 0:
        return 0
    f.seek(at)
    while piece := f.read(1 << 16):
        i = piece.find(b"\n")
        if i >= 0:
            return at + i + 1
        at += len(piece)
    return at


def scan_text_share(path: str | Path, share: tuple[int, int], *, block_bytes: int = _READ_BYTES, start: int = 0,
                    until: Callable[[], bool] | None = None) -> tuple[TextScan, int]:
    """The ``w``-th of ``n`` processes' part (``share`` = (w, n)) of the whole-file checks :func:`_stream_encoding`
    and :func:`plain_text_file` make: the file cut into ranges of about ``block_bytes`` ending at line breaks
    (a line break is never inside a character in UTF-8 or GB18030, so a file decodes if each range does), this
    process checking ranges ``k >= start`` with ``(k - start) % n == w``, in order — stopping before a range once
    ``until()`` is true. Returns the scan and the first range not looked at (all: the number of ranges).
    :func:`text_stream_plan` joins the shares."""
    w, n = share
    path = Path(path)
    utf8, gb, quote, lone_cr = True, True, False, False
    untried = False  # a UTF-8 range with other than ASCII, not tried as GB18030
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            ranges = -(-size // block_bytes) if size else 0
            stopped = ranges
            for k in range(start + w, ranges, n):
                if until is not None and until():
                    stopped = k
                    break
                begin, end = _range_start(f, k * block_bytes), _range_start(f, (k + 1) * block_bytes)
                if end <= begin:
                    continue
                f.seek(begin)
                data = f.read(end - begin)
                quote = quote or b'"' in data
                lone_cr = lone_cr or data.count(b"\r") != data.count(b"\r\n")
                if data.isascii():
                    continue
                try:
                    data.decode("utf-8")
                    untried = True
                    continue
                except UnicodeDecodeError:
                    utf8 = False
                if gb:
                    try:
                        data.decode("gb18030")
                    except UnicodeDecodeError:
                        gb = False
    except OSError as exc:
        raise unreadable_error(path, exc, "没有读取权限或文件被占用") from exc
    return TextScan(utf8, None if gb and untried else gb, quote, lone_cr), stopped


def text_stream_plan(path: str | Path, encoding: str | None, scans: Sequence[TextScan]) -> tuple[str, bool]:
    """(encoding, plain) of a text file from the :func:`scan_text_share` of all its shares: what
    :func:`_stream_encoding` and :func:`plain_text_file` find reading it whole (a rare file where the shares do not
    tell is read whole here). Raises as :func:`_stream_encoding` does (an empty file)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(STREAM_SNIFF_BYTES)
    except OSError as exc:
        raise unreadable_error(path, exc, "没有读取权限或文件被占用") from exc
    if not head.strip() or encoding or head.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = _stream_encoding(path, encoding)  # quick: the head tells
    elif all(s.utf8 for s in scans):
        encoding = "utf-8"
    elif any(s.gb18030 is False for s in scans):
        encoding = detect_encoding(head, name=path.name)
    elif all(s.gb18030 for s in scans):
        encoding = "gb18030"
    else:  # some share not UTF-8, some UTF-8 share not tried as GB18030
        encoding = _stream_encoding(path, None)
    try:
        fast = codecs.lookup(encoding).name in FAST_CODECS
    except LookupError:
        fast = False
    return encoding, fast and not any(s.quote or s.lone_cr for s in scans)


def _plain_lines(path: Path, encoding: str) -> Iterator[pa.LargeStringArray]:
    """The lines of a :func:`plain_text_file` (line breaks removed; a leading BOM dropped as the reader drops
    it), an Arrow array at a time. Raises UnicodeDecodeError as reading the text does."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    carry, first = "", True
    with path.open("rb") as f:
        while True:
            block = f.read(_READ_BYTES)
            text = carry + decoder.decode(block, final=not block)
            if first and text:
                text, first = text.removeprefix("\ufeff"), False
            cut = text.rfind("\n") + 1 if block else len(text)
            carry = text[cut:]
            lines = _split_lines(text[:cut])
            if len(lines):
                yield lines
            if not block:
                return


def _line_blocks(parts: Iterator[pa.LargeStringArray], size: int) -> Iterator[pa.LargeStringArray]:
    """The lines of ``parts`` in blocks of ``size``, then one last shorter block (possibly empty)."""
    pending: list[pa.LargeStringArray] = []
    count = 0
    for part in parts:
        pending.append(part)
        count += len(part)
        while count >= size:
            lines = pa.concat_arrays(pending) if len(pending) > 1 else pending[0]
            yield lines.slice(0, size)
            pending, count = [lines.slice(size)], count - size
    yield pa.concat_arrays(pending) if pending else pa.array([], type=pa.large_string())


def _block_codec(encoding: str) -> str:
    """The codec a block of a text file's lines is decoded with: the encoding's own name, UTF-8 for "utf-8-sig" (a
    BOM counts at the file's start only, before the header)."""
    codec = codecs.lookup(encoding).name
    return "utf-8" if codec == "utf-8-sig" else codec


@dataclass(frozen=True)
class _LineBytes:
    """Whole lines of a :func:`plain_text_file` as its bytes (``count`` lines; the last may lack its line
    break), not decoded."""

    data: bytes
    count: int

    def __len__(self) -> int:
        return self.count


def _shared_line_blocks(path: Path, encoding: str, first_line: int, size: int,
                        share: tuple[int, int], *, raw: bool = False) -> Iterator[pa.LargeStringArray | _LineBytes | int]:
    """The blocks of :func:`_line_blocks` over the lines of a :func:`plain_text_file` from line ``first_line``
    on, for the ``w``-th of ``n`` processes (``share`` = (w, n)): its blocks (``k % n == w``) decoded into lines,
    the others only counted (their line counts instead of lines) — lines are found in the bytes, where a line
    break can only be a line break in these encodings, so another process's blocks are never decoded. Raises
    UnicodeDecodeError as reading the text does. ``raw``: this process's blocks as :class:`_LineBytes`, not
    decoded."""
    w, n = share
    codec = _block_codec(encoding)
    k, need, count, pieces = -1, first_line, 0, []  # block -1: the lines above the data (never decoded)

    def finished() -> pa.LargeStringArray | _LineBytes | int:
        if k < 0 or k % n != w:
            return count
        if raw:
            return _LineBytes(b"".join(pieces), count)
        lines = _split_lines(b"".join(pieces).decode(codec, errors="strict"))
        if len(lines) != count:  # pragma: no cover - a line break the bytes and the text disagree on
            raise UnicodeDecodeError(codec, b"", 0, 1, "line breaks differ between bytes and text")
        return lines

    tail = 0  # bytes after the last line break read
    with path.open("rb") as f:
        while chunk := f.read(_READ_BYTES):
            breaks = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
            at, used = 0, 0
            while used + need <= len(breaks):
                end = int(breaks[used + need - 1]) + 1
                if k >= 0 and k % n == w:
                    pieces.append(chunk[at:end])
                count += need
                used, at = used + need, end
                if k >= 0:
                    yield finished()
                k, need, count, pieces = k + 1, size, 0, []
            if k >= 0 and k % n == w:
                pieces.append(chunk[at:])
            count += len(breaks) - used
            need -= len(breaks) - used
            tail = len(chunk) - int(breaks[-1]) - 1 if len(breaks) else tail + len(chunk)
    # the end: a last line without a line break counts; the last block goes out, then an empty one if it was full
    if k < 0:  # the file ends above the data
        k, count, pieces = 0, 0, []
    elif tail:
        count += 1
    yield finished()
    if count == size:
        k, count, pieces = k + 1, 0, []
        yield finished()


_BYTE_CODECS = frozenset({"utf-8", "gb18030", "gbk", "gb2312"})
"""Encodings in which a byte below 0x80 is always that ASCII character: every byte of a multi-byte character is at
least 0x80, except GBK's trail bytes (0x40-0x7E) and GB18030's digits (0x30-0x39 as its 2nd and 4th bytes)."""
_BYTE_DELIMITERS = frozenset({",", "\t", ";"})
"""Delimiters that are never part of a multi-byte character in :data:`_BYTE_CODECS` (not "|": 0x7C can be a GBK trail
byte)."""
_CELL_BYTES_MAX = 64
"""Cells up to this long are found as fixed-width rows of bytes; longer ones are decoded."""


def _assemble_bytes(path: Path, table: str, header: Cells, lines: _LineBytes, delimiter: str, codec: str, *,
                    first_number: int, only: Sequence[str]) -> Assembled | None:
    """:func:`_assemble_lines` with ``only`` of ``lines`` (a few columns, e.g. the first pass's coordinates), found in
    the bytes without decoding the block: lines, cells and blank rows are found in the bytes (``codec`` in
    :data:`_BYTE_CODECS`, ``delimiter`` in :data:`_BYTE_DELIMITERS`: their bytes are always themselves); a cell
    of ASCII characters other than edge spaces is its bytes, any other cell is decoded alone. The same frame; None
    when a line is longer than :func:`csv.field_size_limit` allows (then :func:`_assemble_lines` decides)."""
    data = lines.data
    buf = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(buf == 10)
    ends = breaks if len(buf) == 0 or buf[-1] == 10 else np.append(breaks, len(buf))  # no line after a last break
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64) if len(ends) else np.zeros(0, dtype=np.int64)
    if len(starts) != lines.count:  # pragma: no cover - the caller counted the same line breaks
        raise ValueError("line count differs")
    if len(starts) and int((ends - starts).max()) > csv.field_size_limit():
        return None
    picks, mapping, unknown = _picks(path, table, header)
    cut = ord(delimiter)
    # each line with its line break (never empty): whether it holds a printable ASCII character other than the cut
    # (then it is not blank); in the GB encodings a byte after one of 0x80 or more may be a trail byte (GB18030's
    # 4-byte characters hold digits, GBK's trail bytes letters): not counted
    printable = (buf > 0x20) & (buf < 0x80) & (buf != cut)
    if codec != "utf-8" and len(buf) > 1:
        printable[1:] &= buf[:-1] < 0x80
    keep = np.logical_or.reduceat(printable, starts) if len(starts) else np.zeros(0, dtype=bool)
    ends = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13))  # a plain file's CRs end lines only
    edge = _EDGE_CHARS
    for i in np.flatnonzero(~keep).tolist():  # none: blank unless its other characters say
        keep[i] = data[starts[i]:ends[i]].decode(codec).strip(edge + delimiter) != ""
    rows = np.flatnonzero(keep)
    starts, ends = starts[rows], ends[rows]
    cuts = np.flatnonzero(buf == cut)
    first_cut = np.searchsorted(cuts, starts)
    n_cells = np.searchsorted(cuts, ends) - first_cut + 1
    columns = {}
    padded = None
    for name in (name for name in picks if name in only):
        j = picks[name]
        out = np.full(len(rows), None, dtype=object)
        where = np.flatnonzero(n_cells > j)
        begin = starts[where] if j == 0 else cuts[first_cut[where] + j - 1] + 1
        after = cuts[np.minimum(first_cut[where] + j, len(cuts) - 1)] if len(cuts) else ends[where]
        stop = np.where(n_cells[where] > j + 1, after, ends[where])
        filled = stop > begin
        where, begin, stop = where[filled], begin[filled], stop[filled]
        length = stop - begin
        width = int(length.max()) if len(length) else 0
        if width > _CELL_BYTES_MAX:  # long cells: decoded (the coordinates are never these)
            slow = np.ones(len(where), dtype=bool)
        elif width:
            if padded is None:  # the bytes and room for a whole window after the last cell
                padded = np.concatenate([buf, np.zeros(_CELL_BYTES_MAX, dtype=np.uint8)])
            cells = np.lib.stride_tricks.sliding_window_view(padded, width)[begin]  # a row of bytes a cell
            inside = np.arange(width) < length[:, None]
            # decoded: a byte outside "!"-DEL (an edge space, a control character, part of a multi-byte character:
            # uint8 arithmetic wraps the bytes below "!" above), or a quote first (a neutralised formula)
            slow = (((cells - np.uint8(0x21)) >= 0x5F) & inside).any(axis=1) | (cells[:, 0] == 39)
            fast = ~slow
            offsets = np.zeros(int(fast.sum()) + 1, dtype=np.int64)
            np.cumsum(length[fast], out=offsets[1:])
            chars = cells[inside] if not slow.any() else cells[fast][inside[fast]]
            texts = pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))
            out[where[fast]] = texts.to_numpy(zero_copy_only=False)
        if width:
            for k in np.flatnonzero(slow).tolist():  # the cell's own bytes are whole characters
                cell = data[begin[k]:stop[k]].decode(codec)
                out[where[k]] = cell_text(cell) if cell.startswith("'") else (cell.strip(edge) or None)
        columns[name] = out
    frame = pd.DataFrame(columns, columns=list(columns), index=pd.RangeIndex(len(rows)), dtype=object)
    return frame, rows.astype(np.int64) + first_number, mapping, unknown


def _has_byte(arr: pa.Array, byte: int) -> bool:
    """Whether the data buffer behind a string array holds ``byte`` (also outside a slice: then a needless
    but harmless True)."""
    data = arr.buffers()[2]
    return data is not None and bool((np.frombuffer(data, dtype=np.uint8) == byte).any())


def _assemble_lines(path: Path, table: str, header: Cells, lines: list[str] | pa.Array, delimiter: str, *,
                    first_number: int, only: Sequence[str] | None = None) -> Assembled:
    """:func:`assemble_columns` of the rows of ``lines`` (lines of a :func:`plain_text_file`: each is one row, its
    cells split at ``delimiter``), built with Arrow string kernels; a block holding a line longer than
    :func:`csv.field_size_limit` goes through :mod:`csv` (which refuses it)."""
    arr = lines if isinstance(lines, pa.Array) else pa.array(lines, type=pa.large_string())
    n = len(arr)
    limit = csv.field_size_limit()
    if n and pc.max(pc.binary_length(arr)).as_py() > limit and pc.max(pc.utf8_length(arr)).as_py() > limit:
        return assemble_columns(path, table, header, list(csv.reader(arr.to_pylist(), delimiter=delimiter)),
                                 first_number=first_number, only=only)
    picks, mapping, unknown = _picks(path, table, header)
    parts = pc.split_pattern(arr, pattern=delimiter)
    offsets = parts.offsets.to_numpy()
    starts, widths = offsets[:-1] - offsets[0], np.diff(offsets)
    values = pc.list_flatten(parts)
    width = int(widths.max()) if n else 0
    edge = _EDGE_CHARS
    # a blank row: every character an edge space or the delimiter (its joined cells trim to nothing; with
    # ``only``, exactly the test of assemble_columns)
    keep = pc.greater(pc.utf8_length(pc.utf8_trim(arr, characters=edge + delimiter)), 0).to_numpy(
        zero_copy_only=False)
    quotes = _has_byte(arr, ord("'"))  # a cell starting with a quote is a neutralised formula: cell_text reads it
    if quotes and only is None:  # and decides whether it is blank ("'" + a tab is)
        for i in np.flatnonzero(keep & pc.match_substring(arr, "'").to_numpy(zero_copy_only=False)):
            keep[i] = any(cell_text(c) is not None for c in arr[int(i)].as_py().split(delimiter))
    names = list(picks) if only is None else [name for name in picks if name in only]
    data = {}
    rows = np.flatnonzero(keep)
    for name in names:
        j = picks[name]
        if j >= width:
            data[name] = np.full(len(rows), None, dtype=object)
            continue
        has = widths[rows] > j
        index = pa.array(starts[rows] + j, mask=~has)
        raw = pc.take(values, index)
        cleaned = pc.utf8_trim(raw, characters=edge)
        out = cleaned.to_numpy(zero_copy_only=False)
        out[pc.fill_null(pc.equal(pc.utf8_length(cleaned), 0), False).to_numpy(zero_copy_only=False)] = None
        if quotes:
            for k in np.flatnonzero(pc.fill_null(pc.starts_with(raw, "'"), False).to_numpy(zero_copy_only=False)):
                out[k] = cell_text(raw[int(k)].as_py())
        data[name] = out
    columns_ = list(data) if only is not None else list(picks)
    frame = pd.DataFrame(data, columns=columns_, index=pd.RangeIndex(len(rows)), dtype=object)
    return frame, rows.astype(np.int64) + first_number, mapping, unknown


def iter_text_chunks(path: str | Path, table: str, *, chunk_rows: int, encoding: str | None = None,
                     only: Sequence[str] | None = None,
                     share: tuple[int, int] | None = None, plain: bool | None = None) -> Iterator[RawTable | None]:
    """:func:`read_table` of a CSV/TXT/TSV a block of ``chunk_rows`` file rows at a time (column engine).

    Each :class:`RawTable` holds the rows of one block (fully blank rows dropped), numbered as in the
    whole file (spreadsheet rows: title and header rows counted); the header, encoding and delimiter are
    those :func:`read_table` finds for the whole file. Memory is that of one block. Every block names the
    same header map and unknown headers. A file whose header is followed by no data yields one empty block.
    ``only``: read just these canonical columns (the same rows and row numbers; for a quick first pass).
    A :func:`plain_text_file` (no quotes, the usual register) is split line by line with Arrow's string
    kernels; any other goes through :mod:`csv`. Both give the same blocks.
    ``share=(w, n)``: one of ``n`` processes reading the same file, this one the ``w``-th: only the blocks
    ``k`` with ``k % n == w`` are built into tables, the others are yielded as None (their lines are read, not
    split into cells). Without it, every block is built. ``plain``: whether the file is a :func:`plain_text_file`
    in ``encoding``, when already known (:func:`text_stream_plan`); None: found out here.
    """
    return _iter_text_chunks(path, table, chunk_rows=chunk_rows, encoding=encoding, only=only, fast=True,
                             share=share, plain=plain)


def _iter_text_chunks(path: str | Path, table: str, *, chunk_rows: int, encoding: str | None,
                      only: Sequence[str] | None, fast: bool,
                      share: tuple[int, int] | None = None, plain: bool | None = None) -> Iterator[RawTable | None]:
    """:func:`iter_text_chunks`; ``fast=False``: always through :mod:`csv` (the reference of the fast path)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise ValueError(f"streaming reads delimited text files only, not {suffix}")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    encoding = _stream_encoding(path, encoding)
    try:
        with path.open("rb") as f:
            head = f.read(STREAM_SNIFF_BYTES)
        text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head).removeprefix("\ufeff")
    except LookupError as exc:
        raise unreadable_error(path, exc, f"不认识编码“{encoding}”；常用编码：utf-8、gbk、gb18030") from exc
    delimiter = "\t" if suffix == ".tsv" else None

    try:
        if delimiter is None:  # as _read_text, from the first bytes
            delimiter = _sniff_delimiter(text, table)
        plain = fast and (plain_text_file(path, encoding) if plain is None else plain)
        with contextlib.ExitStack() as stack:
            if plain:
                parts = _plain_lines(path, encoding)
                taken: list[pa.LargeStringArray] = []
                while sum(map(len, taken)) < HEADER_SCAN_ROWS and (part := next(parts, None)) is not None:
                    taken.append(part)
                head_part = pa.concat_arrays(taken) if taken else pa.array([], type=pa.large_string())
                first = list(csv.reader(head_part[:HEADER_SCAN_ROWS].to_pylist(), delimiter=delimiter))
            else:
                f = stack.enter_context(path.open("r", encoding=encoding, newline=""))
                if f.read(1) != "\ufeff":  # the whole-file reader drops a BOM the codec leaves
                    f.seek(0)
                reader = csv.reader(f, delimiter=delimiter)
                first = list(itertools.islice(reader, HEADER_SCAN_ROWS))
            head_rows = [[cell_text(c) for c in r] for r in first]
            at = head_score(head_rows, table)[0]
            header = head_rows[at] if head_rows else []
            codec = _block_codec(encoding)
            in_bytes = only is not None and codec in _BYTE_CODECS and delimiter in _BYTE_DELIMITERS
            if plain and share is not None:
                parts.close()
                blocks = _shared_line_blocks(path, encoding, at + 1, chunk_rows, share, raw=in_bytes)
            elif plain:
                blocks = _line_blocks(itertools.chain([head_part.slice(at + 1)], parts), chunk_rows)
            else:
                rows = itertools.chain(first[at + 1:], reader)
            by_lines = functools.partial(_assemble_lines, delimiter=delimiter)

            def assemble(path: Path, table: str, header: Cells, block: Any, *, first_number: int,
                         only: Sequence[str] | None) -> Assembled:
                if not plain:
                    return assemble_columns(path, table, header, block, first_number=first_number, only=only)
                if isinstance(block, _LineBytes):  # a few columns of a worker's block: found in the bytes
                    found = _assemble_bytes(path, table, header, block, delimiter, codec, first_number=first_number,
                                            only=only or ())
                    if found is not None:
                        return found
                    block = _split_lines(block.data.decode(codec, errors="strict"))
                return by_lines(path, table, header, block, first_number=first_number, only=only)

            number = at + 2
            emitted = False
            for k in itertools.count():
                block = next(blocks) if plain else list(itertools.islice(rows, chunk_rows))
                lines = block if isinstance(block, int) else len(block)
                if not lines and emitted:
                    return
                if share is not None and k % share[1] != share[0]:
                    yield None  # another process's block
                else:
                    out, numbers, mapping, unknown = assemble(path, table, header, block, first_number=number,
                                                              only=only)
                    log.debug("read rows %d-%d of %s", number, number + len(block) - 1, path)
                    yield RawTable(path=path, frame=out, source_rows=numbers, encoding=encoding, sheet=None,
                                   header_map=mapping, unknown_headers=unknown, crs=None, n_rows=len(out))
                emitted = True
                number += lines
                if lines < chunk_rows:
                    return
    except csv.Error as exc:
        raise unreadable_error(path, exc) from exc
    except UnicodeDecodeError as exc:
        raise unreadable_error(path, exc, f"文件不能按 {encoding} 编码解码；请确认文件是 UTF-8 或 GBK 编码的 CSV，"
                                     "或不要强制指定编码") from exc


def iter_chunks(path: str | Path, table: str, *, chunk_rows: int, encoding: str | None = None,
                only: Sequence[str] | None = None, sheet: str | int | None = None) -> Iterator[RawTable]:
    """Blocks of ``chunk_rows`` file rows of a CSV/TXT/TSV (:func:`iter_text_chunks`) or of a workbook
    (``data.sheet_stream.iter_xlsx_chunks``, .xlsx/.xlsm: ``sheet`` as :func:`read_table` takes it), the one
    entry point of every chunked read. ``encoding`` applies to text, ``sheet`` to workbooks."""
    suffix = Path(path).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return iter_text_chunks(path, table, chunk_rows=chunk_rows, encoding=encoding, only=only)
    if suffix in EXCEL_SUFFIXES:
        try:
            from data.sheet_stream import iter_xlsx_chunks
        except ModuleNotFoundError as exc:
            if exc.name != "data.sheet_stream":
                raise
            raise ValueError(f"streaming {suffix} workbooks needs data.sheet_stream, which is not available") from exc
        return iter_xlsx_chunks(path, table, chunk_rows=chunk_rows, only=only, sheet=sheet)
    raise ValueError(f"streaming reads delimited text files and workbooks only, not {suffix}")
