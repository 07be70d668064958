"""The reports page: the annex table of planning.report in the app, and its files (the PDF included)."""

from __future__ import annotations

import io
import shutil

import openpyxl
import pytest
from conftest import open_app, open_staff_page, run, table_with

from geo.settings import Settings
from planning.report import basic_situation, total_line


def test_reports_page_shows_the_annex_table_and_builds_the_files(staff_demo_root, demo_region) -> None:
    at = open_app()
    open_staff_page(at, "统计报表")
    annex = table_with(at, "社区养老设施覆盖率(%)")
    expected = basic_situation(demo_region, settings=Settings(), by="district")
    assert list(annex["名称"]) == list(expected["name"])
    assert annex.iloc[-1]["社区养老设施覆盖率(%)"] == pytest.approx(expected.iloc[-1]["coverage_rate_pct"])
    next(r for r in at.radio if r.key == "rep_by").set_value("street")
    run(at)
    annex = table_with(at, "社区养老设施覆盖率(%)")
    street = basic_situation(demo_region, settings=Settings(), by="street")
    assert len(annex) == len(street)
    assert total_line(street) in [c.value for c in at.caption]  # the summary line of the same table
    assert shutil.which("chromium"), "the PDF download needs Debian's chromium (make test installs it)"
    next(c for c in at.checkbox if c.key == "rep_pdf").check()
    next(b for b in at.button if b.key == "rep_make").click()
    run(at)
    files = at.session_state["rep_files"]
    book = openpyxl.load_workbook(io.BytesIO(files["xlsx"]))
    assert book.sheetnames[0] == "基本情况表" and "说明" in book.sheetnames
    assert [c.value for c in book["基本情况表"]["B"]][4:] == list(street["code"])  # the table shown is the one written
    assert b"http" not in files["html"]
    assert files["pdf"].startswith(b"%PDF") and len(files["pdf"]) > 20_000
