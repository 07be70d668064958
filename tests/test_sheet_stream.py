"""Excel registers read a block of rows at a time (issue 17): :func:`data.sheet_stream.iter_xlsx_chunks`.

The reference is :func:`data.readers.read_table` of the whole workbook (openpyxl in normal mode). Every
test reads the same workbook both ways and requires the blocks to concatenate to the whole table: the same
sheet, header map, unknown headers, cell texts and spreadsheet row numbers — or the same refusal. Workbooks
are generated with title rows, blank and missing rows, numbers, dates and times as Excel values, full-width
text (inline as openpyxl writes it, or in a shared-string table with rich-text runs as Excel writes it),
several sheets, formulas with cached values and wrong stored dimensions. Memory is counted with tracemalloc. Streamed validation of an
xlsx register (:func:`data.validate.validate_stream`) is compared with :func:`data.validate.validate_table`.
"""

from __future__ import annotations

import datetime as dt
import gc
import re
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from xml.sax.saxutils import escape

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from test_validate_columns import messy_register
from test_validate_stream import assert_stream_same

from data.readers import RawTable, read_table
from data.sheet_stream import iter_xlsx_chunks
from data.validate import ValidationResult, validate_stream, validate_table
from geo.errors import ElderMapError, InputFileError
from geo.settings import Settings

TODAY = dt.date(2025, 12, 31)
SALT = b"x" * 32
REGION = (113.55, 34.70, 113.75, 34.85)
BIG = 10_000
T = TypeVar("T")
SLOW = hsettings(max_examples=30, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


@dataclass(frozen=True)
class Formula:
    """A formula cell whose cached value (what Excel last computed) is ``cached``; None: never computed."""

    cached: object


def _write_book(path: Path, sheets: list[tuple[str, list[list[object]]]], *, styled_blank: bool = False,
                dimension: str | None = None, shared: bool = False) -> None:
    """Save ``sheets`` (name, rows; a row may be shorter than others, None is an empty cell) with openpyxl.

    Formula cells get their cached values patched into the XML (openpyxl writes none). ``styled_blank``: a
    formatted empty cell below and right of the data (it widens the sheet in normal mode, not its data).
    ``dimension``: the ``<dimension ref>`` every sheet claims (wrong on purpose). ``shared``: text moved to a
    shared-string table, as Excel writes it (openpyxl writes it inline), some of it as rich-text runs."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    cached: dict[str, object] = {}
    for name, rows in sheets:
        ws = book.create_sheet(name)
        for i, row in enumerate(rows, start=1):
            for j, value in enumerate(row, start=1):
                if isinstance(value, Formula):
                    key = f"N({len(cached)})"
                    cached[key] = value.cached
                    ws.cell(i, j, "=" + key)
                elif value is not None:
                    ws.cell(i, j, value)
        if styled_blank:
            ws.cell(len(rows) + 3, max(map(len, rows), default=0) + 2).number_format = "0.00"
    book.save(path)
    if cached or dimension is not None or shared:
        _patch_book(path, cached, dimension=dimension, shared=shared)


def _patch_book(path: Path, cached: dict[str, object], *, dimension: str | None, shared: bool) -> None:
    def cell(match: re.Match[str]) -> str:
        ref, style, key = match.group(1), match.group(2) or "", match.group(3)
        value = cached[key]
        if value is None:
            return f'<c r="{ref}"{style}><f>{key}</f></c>'
        if isinstance(value, str):
            return f'<c r="{ref}"{style} t="str"><f>{key}</f><v>{escape(value)}</v></c>'
        return f'<c r="{ref}"{style}><f>{key}</f><v>{value!r}</v></c>'

    strings: dict[str, int] = {}

    def share(match: re.Match[str]) -> str:
        inner = match.group(3)
        k = strings.setdefault(inner, len(strings))
        return f'<c {match.group(1)}t="s"{match.group(2)}><v>{k}</v></c>'

    def runs(inner: str, k: int) -> str:  # every third string as two rich-text runs and a phonetic run
        text = re.fullmatch(r'<t(?: xml:space="preserve")?>([^<&]{2,})</t>', inner)
        if k % 3 or not text:
            return inner
        a, b = text.group(1)[:1], text.group(1)[1:]
        return (f'<r><t xml:space="preserve">{a}</t></r><r><rPr><b/></rPr><t xml:space="preserve">{b}</t></r>'
                '<rPh sb="0" eb="1"><t>ヨミ</t></rPh>')

    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    for name in parts:
        if name.startswith("xl/worksheets/sheet"):
            xml = parts[name].decode()
            xml = re.sub(r'<c r="([A-Z]+\d+)"( s="\d+")?><f>(N\(\d+\))</f><v\s*/>(?:</v>)?</c>', cell, xml)
            xml = re.sub(r'<c r="([A-Z]+\d+)"( s="\d+")?><f>(N\(\d+\))</f><v></v></c>', cell, xml)
            if dimension is not None:
                xml = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="{dimension}"/>', xml)
            if shared:
                xml = re.sub(r'<c ([^>]*?)t="inlineStr"([^>]*)><is>(.*?)</is></c>', share, xml)
            parts[name] = xml.encode()
    if shared:
        main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        items = "".join(f"<si>{runs(inner, k)}</si>" for inner, k in strings.items())
        parts["xl/sharedStrings.xml"] = (f'<sst xmlns="{main}" count="{len(strings)}" uniqueCount="{len(strings)}">'
                                         f"{items}</sst>").encode()
        kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
        parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
            b"</Types>", f'<Override PartName="/xl/sharedStrings.xml" ContentType="{kind}"/></Types>'.encode())
        rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
        parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
            b"</Relationships>", f'<Relationship Id="rIdSST" Type="{rel}" Target="sharedStrings.xml"/>'
                                 "</Relationships>".encode())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def _outcome(read: Callable[[], T]) -> T | ElderMapError:
    try:
        return read()
    except ElderMapError as exc:
        return exc


def assert_chunks_same(path: Path, table: str, chunk_sizes: list[int], *, sheet: str | int | None = None,
                       only: tuple[str, ...] | None = None) -> RawTable | ElderMapError:
    """``read_table`` of the whole workbook and the streamed blocks for every block size: the same table."""
    whole = _outcome(lambda: read_table(path, table, sheet=sheet))
    for chunk in chunk_sizes:
        blocks = _outcome(lambda: list(iter_xlsx_chunks(path, table, chunk_rows=chunk, only=only, sheet=sheet)))
        if isinstance(whole, Exception) or isinstance(blocks, Exception):
            assert type(blocks) is type(whole) and str(blocks) == str(whole), (chunk, blocks, whole)
            continue
        assert blocks, chunk
        columns = [c for c in whole.frame.columns if only is None or c in only]
        rows: list[list[object]] = []
        for b in blocks:
            assert (b.path, b.sheet, b.encoding, b.crs) == (whole.path, whole.sheet, None, None)
            assert b.header_map == whole.header_map and b.unknown_headers == whole.unknown_headers
            assert list(b.frame.columns) == columns and all(b.frame.dtypes == object)
            assert b.n_rows == len(b.frame) == len(b.source_rows) and b.frame.index.equals(pd.RangeIndex(b.n_rows))
            assert b.n_rows <= chunk
            rows += b.frame.to_numpy().tolist()
        assert rows == whole.frame[columns].to_numpy().tolist(), chunk
        numbers = [int(r) for b in blocks for r in b.source_rows]
        assert numbers == whole.source_rows.tolist(), chunk
        assert sum(b.n_rows for b in blocks) == whole.n_rows
    return whole


# ---------------------------------------------------------------- generated workbooks

_TEXT = st.text(alphabet="张王李金水路号 \u3000\u200b\tabcXYZ0123456789-.:/'+@#年月日", max_size=7)
_NUMBERS = st.one_of(st.integers(-10**15, 10**15), st.integers(410102000000, 410102999999),
                     st.floats(allow_nan=False, allow_infinity=False), st.floats(-200, 200),
                     st.sampled_from([113.65, 34.75, 1e-7, 1e20, 0.1 + 0.2, -0.0, 3.0]))
_DATES = st.one_of(st.datetimes(dt.datetime(1900, 3, 1), dt.datetime(2100, 1, 1)),
                   st.dates(dt.date(1900, 3, 1), dt.date(2100, 1, 1)).map(lambda d: dt.datetime(d.year, d.month,
                                                                                               d.day)),
                   st.times())
_VALUES = st.one_of(st.none(), _TEXT, _NUMBERS, _DATES, st.booleans(),
                    st.sampled_from(["410102001001", "　张三　", " 113.65 ", "#N/A", "'=1", "'-0.5", "是"]),
                    st.builds(Formula, st.one_of(st.none(), _NUMBERS, _TEXT.filter(lambda t: not t.startswith("#")))))
_HEADERS = ["身份证号", "姓名", "性别", "出生日期", "社区代码", "居住地址", "经度", "纬度", "备注", "序号", "lon"]


@st.composite
def _register(draw: st.DrawFn) -> list[list[object]]:
    """A register sheet: titles and blank rows above the header (sometimes too many to find it), a header of
    known and unknown names with gaps, data rows of any cell type, ragged, with blank and missing rows."""
    above = draw(st.lists(st.one_of(st.just([]), st.lists(_TEXT, min_size=1, max_size=2)), max_size=11))
    header = draw(st.one_of(st.permutations(_HEADERS).map(lambda h: list(h[:7])),
                            st.lists(st.one_of(st.sampled_from(_HEADERS), st.none()), max_size=7)))
    body = draw(st.lists(st.one_of(st.lists(_VALUES, min_size=1, max_size=8), st.lists(_VALUES, max_size=8),
                                   st.just([]), st.just([None, " ", "\u3000"])), max_size=14))
    return [*above, header, *body]


@st.composite
def workbooks(draw: st.DrawFn) -> tuple[list[tuple[str, list[list[object]]]], str | int | None, int]:
    """Sheets (the register on any of them, the others notes or half headers), the ``sheet`` asked for."""
    n = draw(st.integers(1, 3))
    at = draw(st.integers(0, n - 1))
    sheets = []
    for k in range(n):
        if k == at:
            rows = draw(_register())
        else:
            rows = draw(st.sampled_from([[], [["说明：请按模板填写"]], [["姓名", "电话"], ["张三", 13800000000]],
                                         [["身份证号", "姓名"], ["410102194503081234", "李四"]]]))
        sheets.append((f"表{k}" if k != at else "老年人", rows))
    sheet = draw(st.sampled_from([None, None, None, at, "老年人", "汇总", n]))
    return sheets, sheet, at


@SLOW
@given(book=workbooks(), styled_blank=st.booleans(), dimension=st.sampled_from([None, None, "A1", "A1:B2", "C3:D4"]),
       shared=st.booleans(), small=st.sampled_from([1, 2, 3]))
def test_streamed_blocks_are_the_whole_sheet(tmp_path_factory: pytest.TempPathFactory, book, styled_blank,
                                             dimension, shared, small) -> None:
    sheets, sheet, _ = book
    path = tmp_path_factory.mktemp("book") / "register.xlsx"
    _write_book(path, sheets, styled_blank=styled_blank, dimension=dimension, shared=shared)
    whole = assert_chunks_same(path, "elders", [small, 7, BIG], sheet=sheet)
    if isinstance(whole, RawTable):
        assert_chunks_same(path, "elders", [small], sheet=sheet, only=("lon", "lat", "id_number"))


@pytest.mark.parametrize("shared", [False, True])
def test_register_on_the_second_sheet_with_every_kind_of_cell(tmp_path: Path, shared: bool) -> None:
    """A hand-made workbook: the cleaned texts are checked against what a user sees, not only the reference."""
    born = dt.datetime(1945, 3, 8)
    rows = [["老年人基本信息登记表"], [], ["填报单位：某某街道"],
            ["身份证号", None, "姓名", "出生日期", "社区代码", "经度", "纬度", "备注"],
            ["410102194503081234", None, "　张三\u200b", born, 410102001001, 113.65, Formula(34.75), Formula(2)],
            [],
            [410102195007152345, "x", Formula(" 李四 "), dt.datetime(1950, 7, 15, 8, 30), 410102001001.0, "113.651",
             3.4751e1, Formula("甲")],
            [None, None, " ", "\u3000"],
            [None, None, "王五", dt.date(1960, 1, 2), True, 1e-7, Formula(None), Formula(None)]]
    path = tmp_path / "register.xlsx"
    _write_book(path, [("说明", [["本表由民政局下发"], ["姓名", "电话"]]), ("老年人", rows)], styled_blank=True,
                shared=shared)
    whole = assert_chunks_same(path, "elders", [1, 2, 7, BIG])
    assert isinstance(whole, RawTable) and whole.sheet == "老年人"
    assert whole.source_rows.tolist() == [5, 7, 9]  # spreadsheet rows: titles, header and blank rows counted
    assert whole.frame.to_dict("list") == {
        "id_number": ["410102194503081234", str(int(float(410102195007152345))), None],  # a number: Excel's double
        "name": ["张三", "李四", "王五"],
        "birth_year": ["1945-03-08", "1950-07-15 08:30:00", "1960-01-02"],
        "community_code": ["410102001001", "410102001001", "TRUE"],
        "lon": ["113.65", "113.651", "0.0000001"],
        "lat": ["34.75", "34.751", None]}
    assert whole.unknown_headers == ["备注"]
    blocks = list(iter_xlsx_chunks(path, "elders", chunk_rows=2))
    assert [b.source_rows.tolist() for b in blocks] == [[5], [7], [9], []]  # rows 5-6, 7-8, 9-10, 11-12 (styled)


def test_wrong_stored_dimensions_do_not_cut_the_sheet(tmp_path: Path) -> None:
    """Some writers store ``<dimension ref="A1"/>``: openpyxl's read-only mode then stops at A1 unless told not to."""
    rows = [["身份证号", "姓名", "经度", "纬度", "社区代码"]] + [[f"41010219450308{k:04d}", f"张{k}", 113.6, 34.7,
                                                             410102001001] for k in range(30)]
    path = tmp_path / "register.xlsx"
    _write_book(path, [("老年人", rows)], dimension="A1")
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        assert list(book["老年人"].iter_rows(values_only=True)) == [("身份证号",)]  # the trap
    finally:
        book.close()
    whole = assert_chunks_same(path, "elders", [4, BIG])
    assert isinstance(whole, RawTable) and whole.n_rows == 30 and whole.frame.shape == (30, 5)


# ---------------------------------------------------------------- refusals, as the whole-file reader's

def _same_refusal(path: Path, table: str = "elders", **kwargs: object) -> InputFileError:
    with pytest.raises(InputFileError) as whole:
        read_table(path, table, **kwargs)
    with pytest.raises(InputFileError) as streamed:
        next(iter_xlsx_chunks(path, table, chunk_rows=3, **kwargs))
    assert str(streamed.value) == str(whole.value)
    return streamed.value


def test_refusals_are_the_whole_file_readers(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip at all")
    assert re.match(r"无法读取文件 broken\.xlsx：不是有效的 \.xlsx 文件", str(_same_refusal(broken)))
    locked = tmp_path / "locked.xlsx"  # a workbook with an opening password is an OLE container, not a zip
    locked.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 504)
    assert "如设置了打开密码请先取消" in str(_same_refusal(locked))
    assert "找不到文件 missing.xlsx" in str(_same_refusal(tmp_path / "missing.xlsx"))

    path = tmp_path / "register.xlsx"
    _write_book(path, [("说明", [["说明"]]), ("老年人", [["身份证号", "姓名"], ["410102194503081234", "张三"]])])
    assert "没有工作表 汇总。现有工作表：说明、老年人" in str(_same_refusal(path, sheet="汇总"))
    assert "没有工作表 2。" in str(_same_refusal(path, sheet=2))
    assert "没有可识别的表头（读到：说明）" in str(_same_refusal(path, sheet=0))
    empty = tmp_path / "empty.xlsx"
    _write_book(empty, [("Sheet1", [])])
    assert "是空的" in str(_same_refusal(empty))

    with pytest.raises(ValueError, match="workbooks only"):
        iter_xlsx_chunks(tmp_path / "register.csv", "elders", chunk_rows=3)
    with pytest.raises(ValueError, match="at least 1"):
        iter_xlsx_chunks(path, "elders", chunk_rows=0)


def test_damaged_sheet_is_refused_in_chinese(tmp_path: Path) -> None:
    """A sheet whose XML breaks off half-way (a truncated download): refused, not a parser traceback."""
    path = tmp_path / "register.xlsx"
    _write_book(path, [("老年人", [["身份证号", "姓名"]] + [[f"41010219450308{k:04d}", "张三"] for k in range(50)])])
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet][: len(parts[sheet]) // 2]
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    with pytest.raises(InputFileError, match=r"无法读取文件 register\.xlsx：不是有效的 \.xlsx 文件"):
        list(iter_xlsx_chunks(path, "elders", chunk_rows=7))


def test_header_only_gives_one_empty_block(tmp_path: Path) -> None:
    path = tmp_path / "register.xlsx"
    _write_book(path, [("老年人", [["老年人登记表"], ["身份证号", "姓名", "备注"], [], [None, " "]])])
    blocks = list(iter_xlsx_chunks(path, "elders", chunk_rows=2))
    assert len(blocks) == 1 and blocks[0].n_rows == 0 and list(blocks[0].frame.columns) == ["id_number", "name"]
    assert_chunks_same(path, "elders", [1, 2, BIG])
    with pytest.raises(InputFileError, match="只有表头") as streamed:
        validate_table(path, "elders", settings=Settings(), salt=SALT, today=TODAY, chunk_rows=2)
    with pytest.raises(InputFileError, match="只有表头") as whole:
        validate_table(path, "elders", settings=Settings(), salt=SALT, today=TODAY)
    assert str(streamed.value) == str(whole.value)


# ---------------------------------------------------------------- streamed validation of a workbook

def assert_validation_same(path: Path, chunk_sizes: list[int], **kwargs: object) -> ValidationResult | ElderMapError:
    """``validate_table`` of the whole workbook, and gathered from ``validate_stream`` blocks: identical."""
    return assert_stream_same(path, chunk_sizes, settings=Settings(), salt=SALT, today=TODAY, **kwargs)


def _id(body: str) -> str:
    from data import ids

    return body + ids.resident_id_check_char(body)


def test_validate_stream_of_a_workbook_finds_duplicates_across_blocks(tmp_path: Path) -> None:
    """Repeats split over blocks, rejected rows, numbers and dates stored as Excel values, a notes sheet first."""
    a, b, c = (_id(f"4101021945030{k}123") for k in range(3))
    rows = [["老年人基本信息登记表"], ["填报单位：某某街道"],
            ["身份证号", "性别", "出生日期", "社区代码", "经度", "纬度"],
            [a, None, "1945-03-0", 410102001001, 113.65, 34.75],  # rejected (bad date), first of a
            [b, None, dt.datetime(1945, 3, 1), 410102001001, 113.651, 34.751],
            [c, None, None, "410102001001", 0, 0],  # rejected (placeholder position)
            [],
            [b, None, None, 410102001001, 113.653, 34.753],  # repeat of b, blocks later
            [a, None, None, 410102001001, 113.654, 34.754],  # repeat of a rejected row
            [b, None, None, None, None, None],  # rejected and a third b
            [c[:-1] + ("0" if c[-1] != "0" else "1"), None, None, 410102001001, 113.655, 34.755],  # check char
            [c, None, None, 410102001001, 34.757, 113.657]]  # swapped
    path = tmp_path / "elders.xlsx"
    _write_book(path, [("说明", [["请勿修改表头"]]), ("老年人", rows)], shared=True)
    whole = assert_validation_same(path, [1, 2, 3, 5, 100], region_extent=REGION)
    assert isinstance(whole, ValidationResult) and whole.n_rejected >= 4
    reasons = " ".join(whole.problems["问题"])
    assert reasons.count("重复") >= 3 and "填反" in reasons
    assert whole.problems["行号"].iloc[0] == "4"  # the sheet's row: two titles and the header above
    streamed = validate_stream(path, settings=Settings(), salt=SALT, today=TODAY, region_extent=REGION, chunk_rows=2)
    blocks = list(streamed)
    assert len(blocks) == 5 and sum(map(len, blocks)) == whole.n_imported == streamed.result().n_imported


def _as_excel(text: str) -> object:
    """A cell as a spreadsheet user would have typed it: numbers and dates become Excel values."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    if re.fullmatch(r"-?\d{1,12}", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    if m := re.fullmatch(r"(19\d\d|20[01]\d)-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])", text):
        return dt.datetime(*map(int, m.groups()))
    return text or None


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                   HealthCheck.function_scoped_fixture])
@given(register=messy_register(), region=st.sampled_from([None, REGION]), chunk=st.integers(1, 6),
       typed=st.booleans(), shared=st.booleans())
def test_messy_workbooks_validated_in_blocks(tmp_path_factory: pytest.TempPathFactory, register, region, chunk,
                                            typed, shared) -> None:
    rows, _ = register
    cells = [[_as_excel(c) if typed else (ILLEGAL_CHARACTERS_RE.sub("", c) or None) for c in r] for r in rows]
    path = tmp_path_factory.mktemp("messy") / "elders.xlsx"
    _write_book(path, [("老年人", cells)], shared=shared)
    assert_validation_same(path, [chunk], region_extent=region)


# ---------------------------------------------------------------- memory

def _peak_bytes(read: Callable[[], int]) -> tuple[int, int]:
    """What ``read`` returns (rows read) and the peak of traced memory above the start while it runs."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        n = read()
        return n, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _big_register(path: Path, n: int) -> None:
    book = openpyxl.Workbook(write_only=True)
    ws = book.create_sheet("老年人")
    ws.append(["老年人基本信息登记表"])
    ws.append(["身份证号", "姓名", "性别", "出生日期", "社区代码", "居住地址", "经度", "纬度"])
    for k in range(n):
        ws.append([f"41010219{40 + k % 40}0{1 + k % 9}0{1 + k % 9}{k % 10000:04d}", f"张{k}", "男" if k % 2 else "女",
                   dt.datetime(1940 + k % 40, 1 + k % 12, 1 + k % 28), 410102001001 + k % 50, f"金水路{k}号",
                   113.6 + (k % 1000) * 1e-4, 34.7 + (k % 777) * 1e-4])
    book.save(path)
    _patch_book(path, {}, dimension=None, shared=True)  # text in a shared-string table, as Excel writes it


def test_blocks_do_not_hold_the_whole_sheet(tmp_path: Path) -> None:
    """Streaming 4x the rows (each with two texts of its own, in the shared-string table) in blocks of 100
    needs the memory of 1x, while the whole-file reader holds every row; counted with tracemalloc.

    openpyxl's read-only mode alone grows by ~440 bytes a row here (parsed rows kept in the XML tree, the
    shared strings in memory, and a sheet without ``<dimension>`` parsed to its end on opening)."""
    small, large = tmp_path / "small.xlsx", tmp_path / "large.xlsx"
    _big_register(small, 1_000)
    _big_register(large, 4_000)

    def streamed(path: Path) -> Callable[[], int]:
        return lambda: sum(b.n_rows for b in iter_xlsx_chunks(path, "elders", chunk_rows=100))

    streamed(small)()  # modules openpyxl imports on first use are not counted
    n_small, stream_small = _peak_bytes(streamed(small))
    n_large, stream_large = _peak_bytes(streamed(large))
    _, whole_small = _peak_bytes(lambda: read_table(small, "elders").n_rows)
    assert (n_small, n_large) == (1_000, 4_000)
    per_row_whole = whole_small / n_small
    per_row_stream = (stream_large - stream_small) / (n_large - n_small)
    assert per_row_whole > 1_000 and per_row_stream < 40, (per_row_stream, per_row_whole)
