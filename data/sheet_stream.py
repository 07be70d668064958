"""Read an Excel register (.xlsx/.xlsm) a block of rows at a time, memory flat in the number of rows.

:func:`data.readers.read_table` loads a whole workbook with openpyxl (one ``Cell`` object per cell, some
hundred bytes each); :func:`iter_xlsx_chunks` streams the sheet's XML with openpyxl's read-only machinery and
hands out :class:`data.readers.RawTable` blocks that concatenate to exactly what ``read_table`` gives.

Read-only worksheets take their size from the ``<dimension>`` element the writing program stored, and some
writers store a wrong one (``A1`` only, or the size of a template): openpyxl's ``iter_rows`` then silently drops
the rows and columns beyond it (unless ``reset_dimensions()`` is called first). Sheets are read here row by row
as far as the XML goes, the stored dimensions ignored, with openpyxl's own cell parser (numbers, dates by their
number format, booleans, errors, cached values of formulas: as in normal mode).

Memory is flat in the number of rows, which openpyxl's read-only mode alone is not:

* its sheet parser clears each parsed ``<row>`` element but leaves it in the tree (~100 bytes a row); here
  the parsed rows are dropped from the tree;
* ``load_workbook`` holds the shared-string table in memory: every distinct text of the workbook, since Excel
  and WPS store all text there (a register has ~3 distinct texts a row: ID number, name, address); here it is
  read into a temporary file and each string read back when a cell refers to it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from data.formats import EXCEL_SUFFIXES
from data.readers import HEADER_SCAN_ROWS, RawTable, assemble_columns, cell_text, head_score, unreadable_error
from data.schema import TABLES
from geo.errors import InputFileError

log = logging.getLogger(__name__)

_NOT_XLSX_ZH = "不是有效的 .xlsx 文件（如设置了打开密码请先取消）"
_BROKEN = (zipfile.BadZipFile, KeyError, IndexError, OSError, ValueError, SyntaxError, EOFError, zlib.error)
"""What a damaged workbook raises from openpyxl while it is read (XML parse errors are SyntaxErrors; a cell
referring to a shared string that is not there, an IndexError)."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence openpyxl's style/extension warnings (WPS and other writers), as the whole-file reader does."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl\.")
        yield


class _SpilledStrings:
    """A workbook's shared-string table in temporary files: ``table[i]`` reads string ``i`` back (the UTF-8
    texts one after the other in one file, the end offset of each as 8 bytes in the other)."""

    def __init__(self) -> None:
        self._text = tempfile.TemporaryFile()
        self._ends = tempfile.TemporaryFile()
        self._n = self._end = 0

    def append(self, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        self._text.write(data)
        self._end += len(data)
        self._ends.write(self._end.to_bytes(8, "little"))
        self._n += 1

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> str:
        if not 0 <= i < self._n:
            raise IndexError(f"shared string {i} of {self._n}")
        if i:
            self._ends.seek(8 * (i - 1))
            ends = self._ends.read(16)
            start, end = int.from_bytes(ends[:8], "little"), int.from_bytes(ends[8:], "little")
        else:
            self._ends.seek(0)
            start, end = 0, int.from_bytes(self._ends.read(8), "little")
        self._text.seek(start)
        return self._text.read(end - start).decode("utf-8", "surrogatepass")

    def close(self) -> None:
        self._text.close()
        self._ends.close()


def _read_shared_strings(source: Any, table: _SpilledStrings) -> _SpilledStrings:
    """openpyxl's ``read_string_table`` into ``table`` (the same text of each ``<si>``: rich-text runs joined,
    phonetic runs left out), each parsed element dropped from the tree."""
    from openpyxl.cell.text import Text
    from openpyxl.xml.constants import SHEET_MAIN_NS

    item = f"{{{SHEET_MAIN_NS}}}si"
    root = None
    for event, node in _events(source):
        if root is None:
            root = node
        if event == "end" and node.tag == item:
            table.append(Text.from_tree(node).content.replace("x005F_", ""))
            root.clear()
    return table


def _open(path: Path) -> tuple[Any, _SpilledStrings]:
    """The workbook as ``openpyxl.load_workbook(path, read_only=True, data_only=True)`` opens it (cached values
    of formulas), but with its shared strings in temporary files and no sheet parsed yet; or the whole-file
    reader's error."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.utils.exceptions import InvalidFileException
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet
    from openpyxl.xml.constants import SHARED_STRINGS

    table = _SpilledStrings()

    class Sheet(ReadOnlyWorksheet):
        def _get_size(self) -> None:
            """Not read: openpyxl parses a sheet without a ``<dimension>`` to its end to size it, on opening."""

    class Reader(ExcelReader):  # what load_workbook runs, with the shared strings and the sheets as above
        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as src:
                    self.shared_strings = _read_shared_strings(src, table)

        def read_worksheets(self) -> None:
            for sheet, rel in self.parser.find_sheets():
                if rel.target not in self.valid_files:
                    continue
                if "chartsheet" in rel.Type:
                    self.read_chartsheet(sheet, rel)
                    continue
                ws = Sheet(self.wb, sheet.name, rel.target, self.shared_strings)
                ws.sheet_state = sheet.state
                self.wb._sheets.append(ws)

    try:
        with _quiet():
            reader = Reader(path, read_only=True, data_only=True)
            reader.read()
    except (InvalidFileException, *_BROKEN) as exc:
        table.close()
        raise unreadable_error(path, exc, _NOT_XLSX_ZH) from exc
    except BaseException:
        table.close()
        raise
    return reader.wb, table


def _events(source: Any, block_bytes: int = 1 << 14) -> Iterator[tuple[str, Any]]:
    """(event, element) of the "start" and "end" of each element of an XML stream, read ``block_bytes`` at a
    time (no generator cycles: what is parsed is freed as soon as it is dropped)."""
    from xml.etree.ElementTree import XMLPullParser

    parser = XMLPullParser(events=("start", "end"))
    while data := source.read(block_bytes):
        parser.feed(data)
        yield from parser.read_events()
    parser.close()
    yield from parser.read_events()


def _rows(book: Any, name: str) -> Generator[tuple[object, ...], None, None]:
    """Cell values of sheet ``name`` from row 1 and column A on, one tuple per spreadsheet row (rows the file
    leaves out come as empty tuples, a row is as wide as its last stored cell): what openpyxl's read-only
    ``iter_rows(values_only=True)`` gives after ``reset_dimensions()``, each parsed row dropped from the tree."""
    from openpyxl.worksheet._reader import WorkSheetParser
    from openpyxl.xml.constants import SHEET_MAIN_NS

    ws = book[name]  # a ReadOnlyWorksheet: its XML part and the workbook's shared strings
    parser = WorkSheetParser(None, ws._shared_strings, data_only=True, epoch=book.epoch,
                             date_formats=book._date_formats, timedelta_formats=book._timedelta_formats)
    row_tag, data_tag = f"{{{SHEET_MAIN_NS}}}row", f"{{{SHEET_MAIN_NS}}}sheetData"
    counter, data = 1, None
    with ws._get_source() as src:
        for event, element in _events(src):
            if event == "start":
                if element.tag == data_tag:
                    data = element
                continue
            if element.tag != row_tag:
                continue
            number, cells = parser.parse_row(element)
            if data is not None:
                data.clear()  # the rows parsed so far, which openpyxl's own loop keeps (cleared) in the tree
            while counter < number:  # rows the file leaves out
                counter += 1
                yield ()
            if counter <= number:  # a row out of order is skipped, as openpyxl's read-only mode does
                counter += 1
                values: list[object] = [None] * (cells[-1]["column"] if cells else 0)
                for cell in cells:
                    if 1 <= cell["column"] <= len(values):
                        values[cell["column"] - 1] = cell["value"]
                yield tuple(values)


def _take(path: Path, rows: Iterator[tuple[object, ...]], n: int) -> list[tuple[object, ...]]:
    """The next ``n`` rows, with a damaged sheet reported as the whole-file reader reports a damaged file."""
    try:
        with _quiet():
            return list(itertools.islice(rows, n))
    except _BROKEN as exc:
        raise unreadable_error(path, exc, _NOT_XLSX_ZH) from exc


def _clean(rows: Iterable[Sequence[object]]) -> list[list[str | None]]:
    return [[cell_text(v) for v in r] for r in rows]


def _pick_sheet(path: Path, book: Any, table: str, sheet: str | int | None) -> str:
    """The sheet :func:`data.readers.read_table` reads: ``sheet`` (name or 0-based index), else the first one
    whose header (among its first :data:`~data.readers.HEADER_SCAN_ROWS` rows) names two known fields, else
    the first of those naming most. Only those first rows of each sheet are read."""
    names = [ws.title for ws in book.worksheets]
    scored: list[tuple[int, str]] = []
    for name in [n for i, n in enumerate(names) if sheet in (None, i, n)]:
        rows = _rows(book, name)
        try:
            head = _clean(_take(path, rows, HEADER_SCAN_ROWS))
        finally:
            rows.close()
        scored.append((head_score(head, table)[1], name))
        if scored[-1][0] >= 2:
            break
    if not scored:
        raise InputFileError(f"文件 {path.name} 中没有工作表 {sheet}。现有工作表：{'、'.join(names)}。",
                             f"{path}: no sheet {sheet!r} among {names}")
    return next((s for s in scored if s[0] >= 2), max(scored, key=lambda s: s[0]))[1]


def iter_xlsx_chunks(path: str | Path, table: str, *, chunk_rows: int, only: Sequence[str] | None = None,
                     sheet: str | int | None = None) -> Iterator[RawTable]:
    """:func:`data.readers.read_table` of a workbook a block of ``chunk_rows`` sheet rows at a time.

    The same sheet is chosen (``sheet``: name or 0-based index; default the first sheet with a recognisable
    header), formulas give their cached values, numbers and dates become the same text, and the header is
    found among the same first rows. Each :class:`~data.readers.RawTable` holds the rows of one block of
    spreadsheet rows (fully blank rows dropped), numbered as in the sheet (title and header rows counted);
    every block names the same sheet, header map and unknown headers. A sheet whose header is followed by no
    data yields one empty block. ``only``: keep just these canonical columns (the same rows and row numbers).
    Memory: one block (see the module docstring); the workbook's shared strings go to temporary files.

    Raises
    ------
    InputFileError
        As :func:`~data.readers.read_table`: the file is missing, not a workbook (or has an opening password),
        has no such sheet, or no known header; also a sheet found damaged while it is read. Raised when the
        first block (or the damaged one) is asked for.
    ValueError
        Not an .xlsx/.xlsm file, or ``chunk_rows`` below 1.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXCEL_SUFFIXES:
        raise ValueError(f"sheet streaming reads {'/'.join(EXCEL_SUFFIXES)} workbooks only, not {suffix or path.name}")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}")
    return _chunks(path, table, chunk_rows=chunk_rows, only=only, sheet=sheet)


def _chunks(path: Path, table: str, *, chunk_rows: int, only: Sequence[str] | None,
            sheet: str | int | None) -> Iterator[RawTable]:
    if not path.is_file():
        raise InputFileError(f"找不到文件 {path.name}（{path}）。", f"{path}: file not found")
    book, strings = _open(path)
    rows: Generator[tuple[object, ...], None, None] | None = None
    try:
        name = _pick_sheet(path, book, table, sheet)
        rows = _rows(book, name)
        first = _take(path, rows, HEADER_SCAN_ROWS)
        head = _clean(first)
        at = head_score(head, table)[0]
        header = head[at] if head else []
        body = itertools.chain(first[at + 1:], rows)
        number = at + 2
        log.info("streaming %s (sheet=%s, header on row %d, %d rows a block)", path, name, at + 1, chunk_rows)
        emitted = False
        while True:
            block = _take(path, body, chunk_rows)
            if not block and emitted:
                return
            frame, numbers, mapping, unknown = assemble_columns(path, table, header, block, first_number=number)
            if only is not None:
                frame = frame[[c for c in frame.columns if c in only]]
            log.debug("read rows %d-%d of %s", number, number + len(block) - 1, path)
            yield RawTable(path=path, frame=frame, source_rows=numbers, encoding=None, sheet=name,
                           header_map=mapping, unknown_headers=unknown, crs=None, n_rows=len(frame))
            emitted = True
            number += len(block)
            if len(block) < chunk_rows:
                return
    finally:
        if rows is not None:
            rows.close()
        book.close()
        strings.close()


__all__ = ["iter_xlsx_chunks"]
