"""No formula ever reaches a workbook or CSV file the project writes (OWASP CSV injection).

Every writer — :func:`data.exports.xlsx_bytes` / :func:`~data.exports.csv_bytes`, :func:`data.store.write_table`,
the validation report and rejects file, the official report workbook and the CLI — is fed text that a
spreadsheet would evaluate, and each file is read back with openpyxl (or the csv module): no cell is a
formula, and every text is there, behind one added single quote.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eldermap
from data import store
from data.exports import FORMULA_START, csv_bytes, neutralise_cell, neutralise_frame, xlsx_bytes
from data.report_files import ANNEX_COLUMNS, write_report_workbook
from data.validate import validate_table, write_report
from geo.settings import Settings

HOSTILE = ['=HYPERLINK("http://198.51.100.8/x","y")', "=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1",
           "=cmd|' /C calc'!A0"]
"""Texts a spreadsheet would evaluate (each starts with one of :data:`~data.exports.FORMULA_START`)."""
HARMLESS = ["花园社区", "010-55500001", "a=b", " =1", "'already quoted", "—", ""]
"""Texts left as they are (a formula character inside the text, or none at all)."""
FIXTURES = Path(__file__).parent / "fixtures" / "validation"


def _hostile_frame() -> pd.DataFrame:
    n = len(HOSTILE)
    return pd.DataFrame({
        "名称": HOSTILE,
        "地址": pd.array(list(reversed(HOSTILE)), dtype="string"),
        "类型": pd.Categorical(HOSTILE),
        "床位": np.arange(-n // 2, n - n // 2),  # real negative numbers stay numbers
        "收费": np.linspace(-1.5, 2.5, n),
        "=HYPERLINK(\"http://198.51.100.8\",\"表头\")": ["普通"] * n,  # a header from the data (rejects keep them)
    })


def _cells(book: bytes | Path) -> list[openpyxl.cell.Cell]:
    wb = openpyxl.load_workbook(io.BytesIO(book) if isinstance(book, bytes) else book)
    return [cell for ws in wb.worksheets for row in ws.iter_rows() for cell in row]


def _as_read(text: str) -> str:
    """``text`` as the workbook gives it back. openpyxl's own XML writer writes CR raw, which XML parsers read
    as LF; with lxml installed (a dependency of pygeoapi) openpyxl writes CR as ``&#13;`` and it comes back."""
    try:
        import lxml  # noqa: F401
        from openpyxl.xml import LXML
    except ImportError:
        LXML = False
    return text if LXML else text.replace("\r\n", "\n").replace("\r", "\n")


def _assert_no_formula_and_texts_kept(book: bytes | Path, texts: list[str]) -> None:
    cells = _cells(book)
    formulas = [(c.parent.title, c.coordinate, c.value) for c in cells if c.data_type == "f"]
    assert not formulas, formulas
    values = {c.value for c in cells if isinstance(c.value, str)}
    for text in texts:
        assert _as_read("'" + text) in values, (text, sorted(values)[:20])
        assert _as_read(text) not in values, text  # never written bare


@pytest.mark.parametrize("text", HOSTILE)
def test_texts_a_spreadsheet_would_evaluate_are_quoted(text: str) -> None:
    assert text.startswith(FORMULA_START)
    assert neutralise_cell(text) == "'" + text


@pytest.mark.parametrize("value", [*HARMLESS, -1, -2.5, 0, None, np.nan, pd.NA, dt.date(2026, 1, 1), True])
def test_numbers_and_other_text_are_left_alone(value: object) -> None:
    assert neutralise_cell(value) is value


def test_neutralise_frame_keeps_dtypes_of_numbers_and_does_not_touch_its_input() -> None:
    frame = _hostile_frame()
    before = frame.copy()
    out = neutralise_frame(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert list(out["名称"]) == ["'" + t for t in HOSTILE]
    assert out["床位"].dtype == frame["床位"].dtype and out["收费"].dtype == frame["收费"].dtype
    assert out.columns[-1].startswith("'=")


def test_xlsx_bytes_writes_no_formula_on_any_sheet_and_keeps_negative_numbers() -> None:
    frame = _hostile_frame()
    book = xlsx_bytes(frame, sheet_name="表", extra_sheets={"其他": frame})
    _assert_no_formula_and_texts_kept(book, [*HOSTILE, frame.columns[-1]])
    numbers = [c.value for c in _cells(book) if c.data_type == "n" and c.value is not None]
    assert -4 in numbers and -1.5 in numbers  # numbers, not text


def test_xlsx_bytes_survives_characters_xml_cannot_hold() -> None:
    book = xlsx_bytes(pd.DataFrame({"名称": ["坏\x01字符", "=1\x0b"]}))
    assert {c.value for c in _cells(book)} >= {"坏\ufffd字符", "'=1\ufffd"}


def test_csv_bytes_quotes_every_formula_text() -> None:
    frame = _hostile_frame()
    rows = list(csv.reader(io.StringIO(csv_bytes(frame).decode("utf-8-sig"), newline="")))
    assert rows[0][-1] == "'" + frame.columns[-1]
    assert [r[0] for r in rows[1:]] == ["'" + t for t in HOSTILE]
    assert [r[3] for r in rows[1:]] == [str(v) for v in frame["床位"]]  # -4, not '-4
    gbk = csv_bytes(frame[["名称"]].iloc[:2], encoding="gbk").decode("gbk")
    assert gbk.splitlines()[1:] == ["\"'=HYPERLINK(\"\"http://198.51.100.8/x\"\",\"\"y\"\")\"", "'=1+1"]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_store_write_table(tmp_path: Path, suffix: str) -> None:
    frame = _hostile_frame()
    path = store.write_table(frame, tmp_path / f"表{suffix}", sheet_name="覆盖率", extra_sheets=None)
    if suffix == ".xlsx":
        _assert_no_formula_and_texts_kept(path, HOSTILE)
    else:
        back = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert list(back["名称"]) == ["'" + t for t in HOSTILE]


def _bad_staff_file(tmp_path: Path) -> Path:
    """The real bad-rows facility fixture with formulas in names, addresses, phones and a bed count."""
    path = tmp_path / "facilities_formula.csv"
    shutil.copy(FIXTURES / "facilities_bad_rows.csv", path)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for i, text in enumerate(HOSTILE):
        table.loc[i % len(table), "机构名称"] = text
        table.loc[(i + 3) % len(table), "地址"] = text
    table.loc[2, "床位数"] = "=1+1"  # not a number: reported with its value, and the row rejected
    table.loc[4, "联系电话"] = '=HYPERLINK("http://198.51.100.8","拨打")'
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_validation_report_and_rejects_hold_no_formula(tmp_path: Path, suffix: str) -> None:
    result = validate_table(_bad_staff_file(tmp_path), "facilities", settings=Settings(), salt=b"s" * 32,
                            today=dt.date(2026, 11, 23),
                            region_extent=(24.9351837, 60.1641581, 24.9534132, 60.1791074))
    assert result.n_rejected and (result.problems["值"].astype(str) == "=1+1").any()
    report, rejects = write_report(result, tmp_path / f"报告{suffix}")
    assert rejects is not None
    rejected_names = [t for t in result.rejects["机构名称"] if isinstance(t, str) and t.startswith(FORMULA_START)]
    assert rejected_names
    if suffix == ".xlsx":
        _assert_no_formula_and_texts_kept(report, ["=1+1"])
        _assert_no_formula_and_texts_kept(rejects, rejected_names)
    else:
        for path, texts in ((report, ["=1+1"]), (rejects, rejected_names)):
            cells = {c for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")) for c in row}
            assert not {c for c in cells if c.startswith(FORMULA_START)}
            assert {"'" + t for t in texts} <= cells


def _small_report() -> SimpleNamespace:
    """A report (the :class:`data.report_files.ReportTables` protocol) whose every text is a formula."""
    figures = {key: 1 for key, *_ in ANNEX_COLUMNS[1:]}
    basic = pd.DataFrame([{"code": "110199001", "name": HOSTILE[0], **figures},
                          {"code": "110199002", "name": "-1+2", **figures},
                          {"code": "合计", "name": "合计", **figures}])
    circle = pd.DataFrame({"code": ["110199001", "110199002"], "name": ["=1+1", "@SUM(A1)"], "kind": ["+1", "任一设施"],
                           "coverage_pct": [-1.0, 50.0]})
    checks = pd.DataFrame({"code": ["110199001"], "name": ["\t=1"], "flags": ["\r=1"]})
    return SimpleNamespace(
        basic=basic, circle_rows=circle, checks=checks, notes=[("=1+1", HOSTILE[0]), ("数据来源", "-1+2")],
        remarks=["1. =1+1"], warnings=["=HYPERLINK(\"http://198.51.100.8\",\"警告\")"],
        extra_sheets=[("=额外", pd.DataFrame({"name": ["@SUM(A1)"], "n": [-3]}), {"name": "名称"})],
        area="=1+1", statistics_date=dt.date(2026, 11, 23), statistics_date_zh="2026年11月23日", fiscal_year=2026,
        minutes=15.0, mode_zh="步行", circle_rows_columns_zh={"name": "+名称"}, check_columns_zh={"flags": "=提示"},
        title="=基本情况表", coverage_formula="覆盖率 = 覆盖 / 总数")


def test_report_workbook_holds_no_formula(tmp_path: Path) -> None:
    path = write_report_workbook(_small_report(), tmp_path / "报表.xlsx")
    _assert_no_formula_and_texts_kept(path, [HOSTILE[0], "-1+2", "=1+1", "@SUM(A1)", "+1", "\t=1", "\r=1",
                                             "=基本情况表", "+名称", "=提示"])
    wb = openpyxl.load_workbook(path)
    assert wb.worksheets[3]["B2"].value == -3  # a number stays a number (sheet "=额外": a name, never evaluated)


def test_report_workbook_survives_characters_xml_cannot_hold(tmp_path: Path) -> None:
    report = _small_report()
    report.basic.loc[0, "name"] = "=坏\x01名"
    report.area, report.notes = "坏\x02地区", [("说明\x03", "=1\x0b")]
    path = write_report_workbook(report, tmp_path / "报表.xlsx")
    values = {c.value for c in _cells(path)}
    assert {"'=坏\ufffd名", "'=1\ufffd", "说明\ufffd"} <= values
    assert any(isinstance(v, str) and "坏\ufffd地区" in v for v in values)


def test_cli_coverage_workbook_holds_no_formula(tmp_path: Path) -> None:
    from conftest import SMALL_MANIFEST, small_region_layers

    layers = small_region_layers()
    layers["areas"]["name"] = ["=HYPERLINK(\"http://198.51.100.8\",\"社区\")", "-1+2"]
    root = tmp_path / "regions"
    store.save_region("demo", layers, SMALL_MANIFEST, root=root)
    out = tmp_path / "覆盖.xlsx"
    assert eldermap.main(["--regions", str(root), "coverage", "demo", "--minutes", "10", "--by", "community",
                          "--out", str(out)]) == 0
    _assert_no_formula_and_texts_kept(out, list(layers["areas"]["name"]))


# XML 1.0 cannot hold C0 controls other than tab, LF and CR, nor lone surrogates (those become U+FFFD; tested
# above); any other text comes back exactly, behind one quote when it starts like a formula.
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=[
    *map(chr, range(0, 9)), "\x0b", "\x0c", *map(chr, range(14, 32)), "\ufffe", "\uffff"]), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_TEXT, st.sampled_from(FORMULA_START).flatmap(lambda c: _TEXT.map(lambda t: c + t))),
                min_size=1, max_size=5))
def test_any_text_comes_back_from_a_workbook(texts: list[str]) -> None:
    book = xlsx_bytes(pd.DataFrame({"文本": texts}))
    cells = _cells(book)[1:]
    assert all(c.data_type != "f" for c in cells)
    back = ["" if c.value is None else c.value for c in cells]  # openpyxl writes "" as an empty cell
    assert [b[1:] if t.startswith(FORMULA_START) else b for b, t in zip(back, texts, strict=True)] == [
        _as_read(t) for t in texts]
    assert all(b.startswith("'") for b, t in zip(back, texts, strict=True) if t.startswith(FORMULA_START))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_TEXT, st.sampled_from(FORMULA_START).flatmap(lambda c: _TEXT.map(lambda t: c + t))),
                min_size=1, max_size=5))
def test_any_text_comes_back_from_a_csv(texts: list[str]) -> None:
    rows = list(csv.reader(io.StringIO(csv_bytes(pd.DataFrame({"文本": texts})).decode("utf-8-sig"), newline="")))
    back = [r[0] if r else "" for r in rows[1:]]
    assert [b[1:] if t.startswith(FORMULA_START) else b for b, t in zip(back, texts, strict=True)] == texts


def test_a_neutralised_export_reads_back_as_written(tmp_path) -> None:
    """A rejects file fixed and re-imported: the quote our writer added is dropped again on reading."""
    from data.exports import xlsx_bytes
    from data.readers import read_table

    original = ["-0.12", "+8613800000000", "=1+1", "@home", "'plain quote"]
    frame = pd.DataFrame({"名称": original, "类型": ["养老机构"] * 5, "联系电话": original})
    path = tmp_path / "rejects.xlsx"
    path.write_bytes(xlsx_bytes(frame))
    raw = read_table(path, "facilities").frame
    assert list(raw["name"]) == original and list(raw["phone"]) == original
