"""The reports page: the annex table of planning.report in the app, and its files (the PDF included)."""

from __future__ import annotations

import datetime as dt
import io
import shutil

import numpy as np
import openpyxl
import pytest
from conftest import open_app, open_staff_page, run, table_with

from data import store
from geo.settings import Settings
from planning.report import ANNEX_TITLE, basic_situation, total_line


def test_reports_page_shows_the_annex_table_and_builds_the_files(staff_demo_root, demo_region) -> None:
    at = open_app()
    open_staff_page(at, "统计报表")
    annex = table_with(at, "社区养老设施覆盖率(%)")
    expected = basic_situation(demo_region, settings=Settings(), by="district")
    assert list(annex["名称"]) == list(expected["name"])
    assert f"{dt.date.today().year}年度财政收入(万元)" in annex.columns
    assert not [w.value for w in at.warning if "未归属" in w.value]  # every demo elder has its areas
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
    column_a = [c.value for c in book["基本情况表"]["A"]]
    first = column_a.index(ANNEX_TITLE) + 6  # title, 申报地区 line, three header rows, numbering row
    names = [*street["name"].iloc[:-1], "合计"]
    assert column_a[first:first + len(street)] == names  # the table shown is the one written
    assert b"http" not in files["html"]
    assert files["pdf"].startswith(b"%PDF") and len(files["pdf"]) > 20_000


def test_reports_page_warns_about_unassigned_elders(staff_demo_root, demo_region) -> None:
    layers = dict(demo_region.layers)
    elders = layers["elders"].copy()
    gone = np.arange(len(elders)) % 20 == 0  # one elder in 20 without any area code: 5 % > 1 %
    elders.loc[gone, ["district_code", "street_code", "community_code"]] = None
    layers["elders"] = elders
    store.save_region("demo", layers, {}, root=staff_demo_root)
    at = open_app()
    open_staff_page(at, "统计报表")
    warning = next(w.value for w in at.warning if "未归属" in w.value)
    assert warning.startswith(f"警告：未归属到区县的老年人 {int(gone.sum())} 人（共 {len(elders)} 人") \
        and "--allow-unassigned" in warning
