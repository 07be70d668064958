"""The line-by-line (Arrow) reader of plain CSV files against the :mod:`csv` reader it replaces (issue 17).

:func:`data.readers.iter_text_chunks` splits a file without quotes line by line with Arrow's string kernels
(:func:`data.readers._assemble_lines`); the reference is the same function with ``fast=False`` (every file
through :mod:`csv` and :func:`data.readers.assemble_columns`, the reader as it was). Every test writes
messy files (title rows, blank rows, ragged rows, edge spaces, full-width text, neutralised formulas, GBK and
UTF-8 with BOM, LF and CRLF, every delimiter, cells with quotes or line breaks that force the csv path) and
requires identical blocks, or the same refusal. The file-level switch (:func:`data.readers.plain_text_file`)
and the line splitter are checked against brute force on small read sizes (block boundaries everywhere).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from test_validate_columns import bench_validate
from test_validate_stream import SALT, TODAY, assert_stream_same

from data import readers
from data.validate import validate_stream
from geo.errors import ElderMapError
from geo.settings import Settings

HEADER = ["身份证号", "姓名", "性别", "社区代码", "经度", "纬度", "备注"]
_PIECES = ["a", "1", "中", "张三", "113.65", "34.75", " ", "\t", "\u3000", "\u200b", "\ufeff", "\xa0", "'", "'=",
           "'\t", "=1", "Ａ１", "；", "\x1c", "\x0b", "\u2028", "410102001001", "", "\x01", "\x7f", "9" * 70]
_HYP = hsettings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])


def _blocks(path: Path, chunk: int, only, *, fast: bool):
    try:
        return list(readers._iter_text_chunks(path, "elders", chunk_rows=chunk, encoding=None, only=only, fast=fast))
    except ElderMapError as exc:
        return exc


def assert_same_blocks(path: Path, chunk: int, only=None) -> None:
    got, want = _blocks(path, chunk, only, fast=True), _blocks(path, chunk, only, fast=False)
    if isinstance(want, Exception) or isinstance(got, Exception):
        assert type(got) is type(want) and str(got) == str(want), (got, want)
        return
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
        assert a.source_rows.dtype == b.source_rows.dtype and a.source_rows.tolist() == b.source_rows.tolist()
        assert (a.encoding, a.sheet, a.header_map, a.unknown_headers, a.crs, a.n_rows) == \
               (b.encoding, b.sheet, b.header_map, b.unknown_headers, b.crs, b.n_rows)


@st.composite
def plain_file(draw: st.DrawFn, *, quotes: bool | st.SearchStrategy[bool] = False) -> tuple[bytes, str]:
    """(bytes, suffix) of a delimited file: title rows, a header (some columns), rows of messy cells."""
    delimiter = draw(st.sampled_from([",", ",", "\t", ";", "|"]))
    suffix = ".tsv" if delimiter == "\t" and draw(st.booleans()) else ".csv"
    keep = draw(st.lists(st.sampled_from(HEADER), min_size=1, max_size=7, unique=True))
    if draw(st.integers(0, 5)) == 0:
        keep.append("不认识的列")
    cell = st.lists(st.sampled_from(_PIECES), max_size=3).map("".join)
    if quotes if isinstance(quotes, bool) else draw(quotes):
        cell = st.one_of(cell, st.sampled_from(['"a,b"', '"x\ny"', 'a"b', '"', '""', '"q"r', "\r", "z\rw"]))
    rows = [[f" {h} " if draw(st.integers(0, 6)) == 0 else h for h in keep]]
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            rows.append([])  # an empty line
        elif kind == 1:
            rows.append([draw(st.sampled_from(["", " ", "\u3000", "'\t"]))] * len(keep))  # blank (or not) row
        else:
            width = len(keep) if kind > 3 else draw(st.integers(0, len(keep) + 2))  # ragged sometimes
            rows.append([draw(cell) for _ in range(width)])
    titles = draw(st.sampled_from([[], [["老年人基本信息登记表"]], [["某某街道"], [], ["填报日期：2025年12月", ""]]]))
    ending = draw(st.sampled_from(["\n", "\r\n", "mixed"]))
    text = ""
    for k, row in enumerate(titles + rows):
        eol = ending if ending != "mixed" else ("\n", "\r\n")[k % 2]
        text += delimiter.join(row) + eol
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no line break after the last row
    encoding = draw(st.sampled_from(["utf-8", "gb18030", "utf-8-sig", "gbk"]))
    data = text.encode(encoding, errors="replace")
    if encoding == "utf-8-sig" and draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data  # two BOMs: the reader drops one more
    return data, suffix


@_HYP
@given(file=plain_file(), chunk=st.integers(1, 7), only=st.sampled_from([None, ("lon", "lat")]),
       read_bytes=st.sampled_from([3, 7, 1 << 23]))
def test_plain_files_read_as_by_csv(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                                    file, chunk, only, read_bytes) -> None:
    data, suffix = file
    path = tmp_path_factory.mktemp("plain") / f"elders{suffix}"
    path.write_bytes(data)
    with monkeypatch.context() as m:
        m.setattr(readers, "_READ_BYTES", read_bytes)
        assert_same_blocks(path, chunk, only)


@_HYP
@given(file=plain_file(quotes=st.booleans()), chunk=st.integers(1, 5), n=st.integers(1, 3),
       read_bytes=st.sampled_from([1, 3, 7, 1 << 23]),
       only=st.sampled_from([None, ("lon", "lat"), ("lon", "lat"), ("name", "lat", "id_number")]))
def test_shared_reading_is_every_nth_block(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                                           file, chunk, n, read_bytes, only) -> None:
    """Each of ``n`` processes reading a file (``share=(w, n)``: plain files split into lines in the bytes, other
    blocks only counted; a few columns found in the bytes without decoding, in the encodings and delimiters where
    that is safe) gets exactly its blocks of the one-process reading, None for the others, and as many; a
    file the one process refuses is refused by at least one of them, with the same message."""
    data, suffix = file
    path = tmp_path_factory.mktemp("shared") / f"elders{suffix}"
    path.write_bytes(data)
    with monkeypatch.context() as m:
        m.setattr(readers, "_READ_BYTES", read_bytes)
        want = _blocks(path, chunk, only, fast=True)
        refused = []
        for w in range(n):
            try:
                got = list(readers.iter_text_chunks(path, "elders", chunk_rows=chunk, only=only, share=(w, n)))
            except ElderMapError as exc:
                assert isinstance(want, Exception) and str(exc) == str(want)
                refused.append(w)
                continue
            if isinstance(want, Exception):  # refused in a block of another process (the one that builds it)
                continue
            assert len(got) == len(want)
            for k, (a, b) in enumerate(zip(got, want, strict=True)):
                if k % n != w:
                    assert a is None
                    continue
                pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
                assert a.source_rows.tolist() == b.source_rows.tolist() and a.n_rows == b.n_rows
                assert (a.encoding, a.header_map, a.unknown_headers) == (b.encoding, b.header_map, b.unknown_headers)
        assert bool(refused) == isinstance(want, Exception)


@_HYP
@given(file=plain_file(quotes=st.booleans()))
def test_whole_file_reads_as_cell_by_cell(tmp_path_factory: pytest.TempPathFactory, file) -> None:
    """read_table's column engine (Arrow lines for a plain file) against its cell-by-cell engine (csv, cell_text)."""
    data, suffix = file
    path = tmp_path_factory.mktemp("whole") / f"elders{suffix}"
    path.write_bytes(data)
    try:
        want = readers.read_table(path, "elders", engine="rows")
    except ElderMapError as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            readers.read_table(path, "elders")
        return
    got = readers.read_table(path, "elders")
    pd.testing.assert_frame_equal(got.frame, want.frame, check_exact=True)
    assert got.source_rows.tolist() == want.source_rows.tolist()
    assert (got.encoding, got.header_map, got.unknown_headers, got.n_rows) == \
           (want.encoding, want.header_map, want.unknown_headers, want.n_rows)


@_HYP
@given(file=plain_file(quotes=True), chunk=st.integers(1, 7), only=st.sampled_from([None, ("lon", "lat")]))
def test_files_with_quotes_and_breaks_read_as_by_csv(tmp_path_factory: pytest.TempPathFactory, file, chunk,
                                                     only) -> None:
    data, suffix = file
    path = tmp_path_factory.mktemp("quoted") / f"elders{suffix}"
    path.write_bytes(data)
    assert_same_blocks(path, chunk, only)


@given(data=st.binary(max_size=40).map(lambda b: b.translate(bytes.maketrans(b"\x01\x02\x03", b'"\r\n'))),
       read_bytes=st.integers(1, 9), encoding=st.sampled_from(["utf-8", "gb18030", "utf-16", "latin-1"]))
@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_plain_file_switch_is_the_byte_rule(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                                            data: bytes, read_bytes: int, encoding: str) -> None:
    path = tmp_path_factory.mktemp("switch") / "x.csv"
    path.write_bytes(data)
    with monkeypatch.context() as m:
        m.setattr(readers, "_READ_BYTES", read_bytes)
        got = readers.plain_text_file(path, encoding)
    want = encoding in ("utf-8", "gb18030") and b'"' not in data and data.count(b"\r") == data.count(b"\r\n")
    assert got == want


def _outcome(func, *args):
    try:
        return func(*args)
    except ElderMapError as exc:
        return type(exc), str(exc)


_SCAN_PIECES = [b"a,1", b"\n", b"\r\n", b"\r", b'"', "中".encode(), "中".encode("gb18030"), "張".encode("gb18030"),
                b"\xef\xbb\xbf", b"\xff\xfe", b"\x80", b"\xe4\xb8", b"\x81\x30\x81\x30", b" "]


@given(data=st.lists(st.sampled_from(_SCAN_PIECES), max_size=30).map(b"".join), block_bytes=st.integers(1, 12),
       n=st.integers(1, 4), head=st.integers(0, 6), given_encoding=st.sampled_from([None, None, "gbk", "utf-8"]))
@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_shared_scans_find_what_reading_the_whole_file_finds(tmp_path_factory: pytest.TempPathFactory, data: bytes,
                                                             block_bytes: int, n: int, head: int,
                                                             given_encoding) -> None:
    """Encoding and the plain-file switch from one process's scan of the first ``head`` ranges and n processes'
    shares of the rest (ranges cut anywhere, moved to line breaks): what the whole-file detection and byte scan
    find, or the same refusal."""
    path = tmp_path_factory.mktemp("scan") / "x.csv"
    path.write_bytes(data)
    looked = iter(range(head + 1))
    first, start = readers.scan_text_share(path, (0, 1), block_bytes=block_bytes, until=lambda: next(looked) == head)
    assert start == min(head, -(-len(data) // block_bytes))
    scans = [first] + [readers.scan_text_share(path, (w, n), block_bytes=block_bytes, start=start)[0]
                       for w in range(n)]
    got = _outcome(readers.text_stream_plan, path, given_encoding, scans)
    want = _outcome(readers._stream_encoding, path, given_encoding)
    if isinstance(want, str):
        want = (want, readers.plain_text_file(path, want))
    assert got == want


@given(text=st.lists(st.sampled_from(list("ab中,\n\ufeff") + ["\r\n", "\u2028", "\x85"])).map("".join),
       read_bytes=st.integers(1, 9), encoding=st.sampled_from(["utf-8", "gb18030", "utf-8-sig"]))
@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_plain_lines_are_the_lines_python_reads(tmp_path_factory: pytest.TempPathFactory,
                                                monkeypatch: pytest.MonkeyPatch, text: str, read_bytes: int,
                                                encoding: str) -> None:
    """The lines of a plain file: those of reading it as text with ``newline=""`` (line breaks cut off)."""
    path = tmp_path_factory.mktemp("lines") / "x.csv"
    path.write_bytes(text.encode(encoding))
    with monkeypatch.context() as m:
        m.setattr(readers, "_READ_BYTES", read_bytes)
        got = [line for part in readers._plain_lines(path, encoding) for line in part.to_pylist()]
    with path.open(encoding=encoding, newline="") as f:
        if f.read(1) != "\ufeff":
            f.seek(0)
        want = [line.removesuffix("\n").removesuffix("\r") for line in f]
    assert got == want


def test_long_cells_are_refused_as_csv_refuses_them(tmp_path: Path) -> None:
    """A line longer than the csv field limit goes through csv: the same refusal (or the same cells)."""
    path = tmp_path / "elders.csv"
    path.write_text("身份证号,经度,纬度\n" + "1,2,3\n" * 3 + "x" * 140_000 + ",1,2\n", encoding="utf-8")
    assert readers.plain_text_file(path, "utf-8")
    assert_same_blocks(path, 2)
    with pytest.raises(ElderMapError):
        list(readers.iter_text_chunks(path, "elders", chunk_rows=2))


def test_benchmark_register_takes_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's GBK register is plain; its blocks are the csv reader's, and csv is never called."""
    path = tmp_path / "elders.csv"
    bench_validate.make_register(path, 700)
    want = _blocks(path, 128, None, fast=False)
    with monkeypatch.context() as m:
        m.setattr(readers, "assemble_columns", None)  # the fast path must not need it
        got = _blocks(path, 128, None, fast=True)
    assert len(got) == len(want) == 6
    for a, b in zip(got, want, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
        assert np.array_equal(a.source_rows, b.source_rows)


@_HYP
@given(file=plain_file(), chunk=st.integers(1, 5))
def test_stream_of_plain_files_is_the_whole_file(tmp_path_factory: pytest.TempPathFactory, file, chunk) -> None:
    """validate_stream (fast reader) against validate_table (whole-file csv reader) on plain messy files."""
    data, suffix = file
    path = tmp_path_factory.mktemp("stream") / f"elders{suffix}"
    path.write_bytes(data)
    assert_stream_same(path, [chunk], settings=Settings(), salt=SALT, today=TODAY)


def test_iter_chunks_dispatches_by_suffix(tmp_path: Path) -> None:
    path = tmp_path / "elders.csv"
    path.write_text("身份证号,经度,纬度\n1,2,3\n", encoding="utf-8")
    got = list(readers.iter_chunks(path, "elders", chunk_rows=5))
    assert len(got) == 1 and got[0].n_rows == 1
    with pytest.raises(ValueError):
        list(readers.iter_chunks(tmp_path / "x.geojson", "elders", chunk_rows=5))
    book = tmp_path / "elders.xlsx"
    try:
        import data.sheet_stream  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(ValueError):
            readers.iter_chunks(book, "elders", chunk_rows=5)
        with pytest.raises(ValueError):
            list(validate_stream(book, settings=Settings(), salt=b"s" * 32))
    with pytest.raises(ValueError):
        validate_stream(tmp_path / "x.geojson", settings=Settings(), salt=b"s" * 32)


@hsettings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.lists(st.sampled_from(_PIECES + ["丂", "1丂"]), max_size=3).map("".join),
                              max_size=9), max_size=12),
       delimiter=st.sampled_from([",", "\t", ";"]), encoding=st.sampled_from(["utf-8", "gb18030", "gbk"]),
       crlf=st.booleans(), last_break=st.booleans(),
       only=st.sampled_from([("lon", "lat"), ("name", "lat", "id_number"), ("community_code",)]))
@example(rows=[["\u200b"]], delimiter=",", encoding="gb18030", crlf=False, last_break=False, only=("lon", "lat"))
@example(rows=[["丂", "\u3000"]], delimiter=",", encoding="gbk", crlf=True, last_break=True, only=("lon", "lat"))
def test_cells_found_in_the_bytes_are_the_decoded_ones(rows, delimiter, encoding, crlf, last_break, only) -> None:
    """A block's few columns found in its bytes (the first pass of a worker) are those of its decoded lines: the same
    cells, trims, blank rows and row numbers, whatever the cells hold (edge spaces, full-width text, quotes,
    control characters, long cells; a blank row whose zero-width space GB18030 writes with two digit bytes, GBK
    characters whose trail byte is an ASCII letter)."""
    text = ("\r\n" if crlf else "\n").join(delimiter.join(r) for r in rows) + ("\n" if rows and last_break else "")
    data = text.encode(encoding, errors="replace")
    lines = readers._split_lines(data.decode(encoding))
    path = Path("elders.csv")
    want = readers._assemble_lines(path, "elders", HEADER, lines, delimiter, first_number=4, only=only)
    got = readers._assemble_bytes(path, "elders", HEADER, readers._LineBytes(data, len(lines)), delimiter,
                                  codecs.lookup(encoding).name, first_number=4, only=only)
    assert got is not None and set(got[0].columns) == set(only)
    pd.testing.assert_frame_equal(got[0], want[0], check_exact=True)
    assert got[1].tolist() == want[1].tolist() and got[2:] == want[2:]
