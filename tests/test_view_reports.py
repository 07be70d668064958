"""The reports page: the annex table of planning.report in the app, and its files."""

from __future__ import annotations

import io
import shutil

import openpyxl
import pytest
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT_S, _run, _switch  # noqa: F401  (admin login helpers)

from geo.settings import Settings
from planning.report import basic_situation


def test_reports_page_shows_the_annex_table_and_builds_the_files(staff_demo_root, demo_region) -> None:
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    _switch(at, "统计报表")
    annex = next(df.value for df in at.dataframe if "社区养老设施覆盖率(%)" in df.value.columns)
    expected = basic_situation(demo_region, settings=Settings(), by="district")
    assert list(annex["名称"]) == list(expected["name"])
    assert annex.iloc[-1]["社区养老设施覆盖率(%)"] == pytest.approx(expected.iloc[-1]["coverage_rate_pct"])
    next(r for r in at.radio if r.key == "rep_by").set_value("street")
    _run(at)
    annex = next(df.value for df in at.dataframe if "社区养老设施覆盖率(%)" in df.value.columns)
    assert len(annex) == len(basic_situation(demo_region, settings=Settings(), by="street"))
    if shutil.which("chromium"):
        next(c for c in at.checkbox if c.key == "rep_pdf").check()
    next(b for b in at.button if b.key == "rep_make").click()
    _run(at)
    files = at.session_state["rep_files"]
    book = openpyxl.load_workbook(io.BytesIO(files["xlsx"]))
    assert book.sheetnames[0] == "基本情况表" and "说明" in book.sheetnames
    assert b"http" not in files["html"]
    if shutil.which("chromium"):
        assert files["pdf"].startswith(b"%PDF")
