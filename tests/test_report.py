"""Official report: the annex 2 table of a hand-made district, totals on the demo region, one computation per
report, the workbook, the printable HTML, the PDF and the CLI."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

import eldermap
import planning.report as report_module
from data.report_files import ANNEX_COLUMNS, write_pdf, write_report_html, write_report_workbook
from data.store import Region
from geo.settings import Settings
from layers.report_svg import community_map_svg, coverage_chart_svg
from planning.report import (
    ANNEX_TITLE,
    BASIC_COLUMNS,
    COVERAGE_FORMULA,
    Report,
    basic_situation,
    build_report,
    facility_communities,
    served_communities,
    service_circle_table,
)
from views.report_export import write_report

S = Settings()
X0, Y0, STEP = 113.60, 34.70, 0.01  # Zhengzhou; communities are 0.01° squares side by side
C1, C2, C3, C4 = "410101001001", "410101001002", "410101002001", "410101002002"
COUNTS = [c for c in BASIC_COLUMNS if c not in ("code", "name", "coverage_rate_pct") and not c.endswith("_10k")
          and c != "fiscal_revenue_10k_yuan"]


def _box(k0: int, k1: int) -> shapely.Polygon:
    return shapely.box(X0 + k0 * STEP, Y0, X0 + k1 * STEP, Y0 + STEP)


def _in(k: int, dx: float = 0.0) -> shapely.Point:
    """A point inside community k (0–3)."""
    return shapely.Point(X0 + (k + 0.5) * STEP + dx, Y0 + 0.5 * STEP)


def hand_region(path: Path) -> Region:
    """District 甲区 with streets 甲街道 (C1, C2) and 乙街道 (C3, C4), and 丙街道 with no communities or data.

    Facilities: C1 has TWO community facilities (a day-care centre carrying C1's code and a meal point
    without a community code, located in C1); C2 has only a home-visit provider (not a community
    facility kind); a service station lies inside C4's polygon but carries C3's code (counts for C3,
    not C4); C4 has an institution (not a community facility). So 2 of 4 communities have one.
    Elders: 6 in 甲街道 (two 80+, ability codes 2 and 3: only code 3 counts as 失能 under note 4), 4 in
    乙街道 (one 80+, one code 4), one without any code (80+, code 2: not counted) — the "未归属" row.
    No birth years: the stored 80+ flag is used; no registration flags: all count as 户籍.
    """
    areas = gpd.GeoDataFrame({
        "code": ["410101", "410101001", "410101002", "410101003", C1, C2, C3, C4],
        "name": ["甲区", "甲街道", "乙街道", "丙街道", "一社区", "二社区", "三社区", "四社区"],
        "level": ["district", "street", "street", "street", "community", "community", "community", "community"],
        "parent_code": [None, "410101", "410101", "410101", "410101001", "410101001", "410101002", "410101002"],
        "registered_population": [50000, 30000, np.nan, np.nan, 16000, 14000, 8000, 12000],
        "fiscal_revenue_10k_yuan": [12345.6, 100.5, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
    }, geometry=[_box(0, 4), _box(0, 2), _box(2, 4), None, _box(0, 1), _box(1, 2), _box(2, 3), _box(3, 4)],
        crs=4326)
    facilities = gpd.GeoDataFrame({
        "id": ["F1", "F2", "F3", "F4", "F5"],
        "name": ["一社区日照", "一社区助餐点", "上门服务公司", "三社区服务站", "四社区养老院"],
        "kind": ["日间照料中心", "助餐点", "居家上门服务商", "养老服务站", "养老机构"],
        "beds_total": pd.array([10, None, None, 4, 100], dtype="Int64"),
        "residents": pd.array([None, None, None, None, 80], dtype="Int64"),
        "elders_served": pd.array([50, 120, 200, 30, 80], dtype="Int64"),
        "district_code": ["410101"] * 5,
        "street_code": ["410101001", "410101001", "410101001", "410101002", "410101002"],
        "community_code": [C1, None, C2, C3, C4],
    }, geometry=[_in(0), _in(0, 0.002), _in(1), _in(3), _in(3, 0.002)], crs=4326)
    street = ["410101001"] * 6 + ["410101002"] * 4 + [None]
    community = [C1, C1, C1, C2, C2, C2, C3, C3, C4, C4, None]
    elders = gpd.GeoDataFrame({
        "pid": [f"P{i:020x}" for i in range(11)],
        "oldest_old": [True, True, False, False, False, False, True, False, False, False, True],
        "ability_code": [0, 1, 2, 3, 0, 0, 4, 0, 0, 1, 2],
        "district_code": [s and s[:6] for s in street], "street_code": street, "community_code": community,
    }, geometry=[_in(int(c[-1]) - 1) if c else _in(0) for c in community], crs=4326)
    return Region("hand", path, {}, {"facilities": facilities, "elders": elders, "areas": areas})


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> Region:
    return hand_region(tmp_path_factory.mktemp("report") / "v1")


def _row(table: pd.DataFrame, code: str) -> dict:
    return table.set_index("code").loc[code].to_dict()


def test_facility_communities_code_wins_over_location(hand: Region) -> None:
    # F2 has no code: located in C1; F4 lies in C4 but carries C3's code
    assert list(facility_communities(hand)) == [C1, C1, C2, C3, C4]


def test_hand_computed_streets(hand: Region) -> None:
    t = basic_situation(hand, settings=S, by="street")
    assert list(t.columns) == list(BASIC_COLUMNS)
    assert list(t["code"]) == ["410101001", "410101002", "410101003", "未归属", "合计"]
    assert list(t["name"]) == ["甲街道", "乙街道", "丙街道", "未归属", "全部地区"]

    a = _row(t, "410101001")
    # C1 (two facilities, counted once) of C1, C2 (home-visit provider only): 1 / 2 = 50.0 %
    assert [a["communities"], a["communities_with_facility"], a["coverage_rate_pct"]] == [2, 1, 50.0]
    assert [a["fiscal_revenue_10k_yuan"], a["registered_population"], a["registered_population_10k"]] == [100.5, 30000, 3.0]
    # note 4: 重度/完全失能 only (code 3), the moderate one (code 2) is not counted (it was before issue 11)
    assert [a["elders"], a["oldest_old"], a["disabled"]] == [6, 2, 1]
    assert [a["elders_10k"], a["oldest_old_10k"], a["disabled_10k"]] == [0.0006, 0.0002, 0.0001]
    assert [a["institutions"], a["institution_beds"], a["institution_residents"]] == [0, 0, 0]
    # F1 (10 beds, 50 served) + F2 (no beds, 120 served); the home-visit provider is not counted
    assert [a["community_facilities"], a["community_facility_beds"], a["community_elders_served"]] == [2, 10, 170]

    b = _row(t, "410101002")
    # C3 by the service station's code, C4 has only the institution: 1 / 2 = 50.0 %
    assert [b["communities"], b["communities_with_facility"], b["coverage_rate_pct"]] == [2, 1, 50.0]
    # no own population: C3 + C4 = 8,000 + 12,000; no revenue: 0
    assert [b["fiscal_revenue_10k_yuan"], b["registered_population"], b["registered_population_10k"]] == [0.0, 20000, 2.0]
    assert [b["elders"], b["oldest_old"], b["disabled"]] == [4, 1, 1]
    assert [b["institutions"], b["institution_beds"], b["institution_residents"]] == [1, 100, 80]
    assert [b["community_facilities"], b["community_facility_beds"], b["community_elders_served"]] == [1, 4, 30]

    c = _row(t, "410101003")  # no data at all: zeros, and the rate of an area without 居委会 is 0 (note 1)
    assert all(c[k] == 0 for k in COUNTS) and c["fiscal_revenue_10k_yuan"] == 0 and c["coverage_rate_pct"] == 0.0
    u = _row(t, "未归属")  # the elder without codes (code 2: moderate, not counted)
    assert [u["elders"], u["oldest_old"], u["disabled"], u["communities"]] == [1, 1, 0, 0]

    total = _row(t, "合计")
    assert [total["communities"], total["communities_with_facility"], total["coverage_rate_pct"]] == [4, 2, 50.0]
    assert [total["fiscal_revenue_10k_yuan"], total["registered_population"]] == [100.5, 50000]
    assert [total["elders"], total["oldest_old"], total["disabled"]] == [11, 4, 2]
    assert [total["institutions"], total["institution_beds"], total["institution_residents"]] == [1, 100, 80]
    assert [total["community_facilities"], total["community_facility_beds"], total["community_elders_served"]] == [3, 14, 200]
    for column in COUNTS:
        assert t[column].iloc[:-1].sum() == t[column].iloc[-1], column


def test_hand_computed_district(hand: Region) -> None:
    t = basic_situation(hand, settings=S, by="district")
    assert list(t["code"]) == ["410101", "未归属", "合计"]
    d = _row(t, "410101")
    assert [d["communities"], d["communities_with_facility"], d["coverage_rate_pct"]] == [4, 2, 50.0]
    # the district's own figures, not its streets' sums (100.5 + 0)
    assert [d["fiscal_revenue_10k_yuan"], d["registered_population_10k"]] == [12345.6, 5.0]
    assert [d["elders"], d["oldest_old"], d["disabled"]] == [10, 3, 2]
    assert [d["institutions"], d["community_facilities"], d["community_facility_beds"], d["community_elders_served"]] \
        == [1, 3, 14, 200]
    total = _row(t, "合计")
    assert [total["elders"], total["oldest_old"], total["disabled"], total["coverage_rate_pct"]] == [11, 4, 2, 50.0]
    assert total["fiscal_revenue_10k_yuan"] == 12345.6


@pytest.mark.parametrize("by", ["district", "street"])
def test_demo_totals_reconcile(demo_region: Region, by: str) -> None:
    t = basic_situation(demo_region, settings=S, by=by)
    areas = demo_region.areas
    assert list(t["code"].iloc[:-1]) == sorted(areas.loc[areas["level"] == by, "code"])
    for column in COUNTS:
        assert t[column].iloc[:-1].sum() == t[column].iloc[-1], column
    total = t.iloc[-1]
    assert total["communities"] == (areas["level"] == "community").sum()
    assert total["elders"] == len(demo_region.elders)
    assert total["coverage_rate_pct"] == round(100 * total["communities_with_facility"] / total["communities"], 1)
    assert total["institutions"] == (demo_region.facilities["kind"] == "养老机构").sum()

    circle = service_circle_table(demo_region, settings=S, minutes=15.0, by=by)
    assert list(circle["code"]) == list(t["code"]) and list(circle["elders"]) == list(t["elders"])
    for column in [c for c in circle.columns if c.startswith("covered:")]:
        assert circle[column].iloc[:-1].sum() == circle[column].iloc[-1], column
        assert (circle[column] <= circle["elders"]).all()


def _annex_top(ws) -> int:
    """Row of the first annex header row ("地区", "序号", …): two rows under the title."""
    return [c.value for c in ws["A"]].index(ANNEX_TITLE) + 3


def test_workbook_and_html(demo_region: Region, tmp_path: Path) -> None:
    out, page = tmp_path / "报表.xlsx", tmp_path / "报表.html"
    day = dt.date(2026, 11, 23)
    assert write_report(demo_region, out, settings=S, statistics_date=day, html=page) == out
    basic = basic_situation(demo_region, settings=S, statistics_date=day)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[:3] == ["基本情况表", "服务圈覆盖", "配置检查"] and wb.sheetnames[-1] == "说明"

    ws = wb["基本情况表"]
    top = _annex_top(ws)
    assert ANNEX_TITLE == "试点申报地区基本情况表"
    assert top == 4 and "合成数据" in ws["A1"].value  # the demo is synthetic: said on top, above the title
    assert ws.cell(top - 1, 1).value == "申报地区：演示区    填报日期：2026年11月23日"
    assert [ws.cell(top, j).value for j in (1, 2, 3, 4)] == ["地区", "序号", "所辖社区数(个)", "2026年度财政收入(万元)"]
    assert [ws.cell(top + 3, j).value for j in range(1, 16)] == [None, *range(1, 15)]
    first = top + 4
    row = basic.iloc[0]
    assert [ws.cell(first, j).value for j in (1, 2, 3)] == ["演示区", 1, 12]
    assert ws.cell(first, 6).value == pytest.approx(row["elders"] / 10_000) and ws.cell(first, 6).number_format == "0.00"
    assert ws.cell(first, 15).value == row["coverage_rate_pct"] and ws.cell(first, 15).number_format == "0.0"
    assert [ws.cell(first + 1, 1).value, ws.cell(first + 1, 2).value, ws.cell(first + 1, 12).value] \
        == ["合计", None, int(basic.iloc[-1]["community_facilities"])]
    assert ws.freeze_panes == f"C{first}"

    circle = [c.value for c in wb["服务圈覆盖"][1]]
    assert circle[:4] == ["区划代码", "名称", "设施类型", "老年人数(人)"]
    assert circle[4:] == ["步行15分钟内覆盖老人数(人)（规划 60米/分钟）", "步行15分钟内覆盖老人占比(%)（规划 60米/分钟）",
                          "步行15分钟内覆盖老人数(人)（体弱 40米/分钟）", "步行15分钟内覆盖老人占比(%)（体弱 40米/分钟）"]
    assert wb["配置检查"]["A1"].value == "区划代码" and wb["配置检查"].cell(1, wb["配置检查"].max_column).value == "未达标项"
    notes = "\n".join(f"{a.value}：{b.value}" for a, b in wb["说明"].iter_rows(min_row=2, max_col=2))
    assert COVERAGE_FORMULA in notes and "统计日期：2026年11月23日" in notes
    assert "3 公里/小时" in notes and "合成数据" in notes and "数据来源" in notes and "老年人 " in notes

    text = page.read_text(encoding="utf-8")
    assert "http" not in text and "src=" not in text
    assert "@media print" in text and '"Noto Sans CJK SC", "Microsoft YaHei", sans-serif' in text
    assert ANNEX_TITLE in text and 'colspan="3">机构养老' in text and "<svg" in text
    assert 'colspan="7">养老服务发展情况' in text and "2026年度财政收入(万元)" in text
    assert f"<td>{basic.iloc[-1]['elders_10k']:.2f}</td>" in text and "填报日期：2026年11月23日" in text


def _html_cell(value: object, fmt: str) -> str:
    """A figure as the printable page writes it (an independent restatement of its number formats)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if isinstance(value, str):
        return html_lib.escape(value)
    decimals = {"0.00": 2, "#,##0.00": 2, "0.0": 1}.get(fmt)
    return f"{float(value):,.{decimals}f}" if decimals is not None else f"{int(round(float(value))):,}"


def test_build_report_computes_the_annex_once_and_the_files_show_its_figures(
        demo_region: Region, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"basic_situation": 0, "facility_communities": 0}

    def counted(name: str):
        original = getattr(report_module, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)
        return wrapper

    for name in calls:
        monkeypatch.setattr(report_module, name, counted(name))
    day = dt.date(2026, 11, 23)
    report = build_report(demo_region, settings=S, by="street", minutes=10.0, statistics_date=day)
    assert calls == {"basic_situation": 1, "facility_communities": 1}
    assert isinstance(report, Report) and (report.by, report.minutes, report.mode) == ("street", 10.0, "walk")
    assert report.statistics_date == day and report.statistics_date_zh == "2026年11月23日"
    monkeypatch.undo()
    pd.testing.assert_frame_equal(report.basic, basic_situation(demo_region, settings=S, by="street",
                                                                statistics_date=day))
    assert list(report.circle["code"]) == list(report.basic["code"])
    assert list(report.circle["elders"]) == list(report.basic["elders"])
    assert report.served_communities == served_communities(demo_region, settings=S)

    # writing renders the report as it is: no table is computed again, every figure is the Report's
    for name in calls:
        monkeypatch.setattr(report_module, name, counted(name))
    out, page = tmp_path / "r.xlsx", tmp_path / "r.html"
    write_report_workbook(report, out)
    write_report_html(report, page, map_svg="", chart_svg=coverage_chart_svg(report.basic))
    assert calls == {"basic_situation": 1, "facility_communities": 1}

    wb = openpyxl.load_workbook(out)
    ws = wb["基本情况表"]
    first = _annex_top(ws) + 4  # three header rows, the numbering row
    # then the rows, the six notes, a blank row and the two seal lines with a blank row between them
    assert ws.max_row == first - 1 + len(report.basic) + 6 + 1 + 3
    for i, row in enumerate(report.basic.to_dict("records")):
        assert ws.cell(first + i, 1).value == ("合计" if row["code"] == "合计" else row["name"])
        for j, (key, _, _, _, _) in enumerate(ANNEX_COLUMNS[1:], start=3):
            value, expected = ws.cell(first + i, j).value, row[key]
            if isinstance(expected, float) and np.isnan(expected):
                assert value == 0, (i, key)  # note 1: empty items are 0
            else:
                assert value == (pytest.approx(expected) if isinstance(expected, float) else expected), (i, key)
    circle = wb["服务圈覆盖"]
    rows = report.circle_rows
    assert [c.value for c in circle[1]] == [report.circle_rows_columns_zh[c] for c in rows.columns]
    wide = report.circle.set_index("code")
    for row in rows.itertuples(index=False):  # the row form holds the wide table's figures
        group = "any" if row.kind == "任一设施" else row.kind
        assert getattr(row, "_4") == wide.loc[row.code, f"covered:{group}:规划"]
        assert row.elders == wide.loc[row.code, "elders"]
    for i, row in enumerate(rows.itertuples(index=False), start=2):
        assert [c.value for c in circle[i]] == ["—" if isinstance(v, float) and np.isnan(v) else v for v in row]
    checks = wb["配置检查"]
    assert [c.value for c in checks[1]] == [report.check_columns_zh[c] for c in report.checks.columns]
    assert [c.value for c in checks["A"]][1:] == list(report.checks["code"])
    assert [(a.value, b.value) for a, b in wb["说明"].iter_rows(min_row=2, max_col=2)] == list(report.notes)

    text = page.read_text(encoding="utf-8")
    for i, row in enumerate(report.basic.to_dict("records")):
        seq = "" if row["code"] == "合计" else str(i + 1)
        area = "合计" if row["code"] == "合计" else html_lib.escape(row["name"])
        cells = f'<td class="area">{area}</td><td>{seq}</td>' + "".join(
            f"<td>{_html_cell(0 if pd.isna(row[key]) else row[key], fmt)}</td>" for key, _, _, fmt, _ in ANNEX_COLUMNS[1:])
        assert cells in text, row["code"]
    assert "步行 10 分钟" in text and f"申报地区：{report.area}" in text and coverage_chart_svg(report.basic) in text


def test_facility_kind_roles_come_from_the_settings(hand: Region) -> None:
    # 助餐点 no longer a community facility: C1 keeps its day-care centre, F2 (the meal point) drops out
    no_meals = Settings(community_facility_kinds=("社区养老服务综合体/中心", "日间照料中心", "养老服务站"))
    t = basic_situation(hand, settings=no_meals, by="street")
    a = _row(t, "410101001")
    assert [a["communities_with_facility"], a["community_facilities"], a["community_elders_served"]] == [1, 1, 50]
    # the service station counted as an institution instead: C3 loses its community facility
    station_as_institution = Settings(institution_kinds=("养老机构", "养老服务站"),
                                      community_facility_kinds=("社区养老服务综合体/中心", "日间照料中心", "助餐点"))
    b = _row(basic_situation(hand, settings=station_as_institution, by="street"), "410101002")
    assert [b["communities_with_facility"], b["institutions"], b["institution_beds"], b["community_facilities"]] \
        == [0, 2, 104, 0]
    notes = dict(report_module.report_notes(hand, settings=station_as_institution, by="street", minutes=15.0,
                                            statistics_date=dt.date(2026, 11, 23)))
    assert "“养老机构”、“养老服务站”" in notes["机构养老"] and "养老服务站" not in notes["社区养老设施（备注5）"]
    svg = community_map_svg(hand.areas, hand.facilities, served_communities(hand, settings=station_as_institution),
                            settings=station_as_institution)
    assert svg.count("<rect") == 2 and svg.count("<circle") == 3  # squares for the two institution kinds
    assert "养老机构、养老服务站</p>" in svg  # the legend names them


def test_svg_escapes_data_text(hand: Region) -> None:
    facilities = hand.facilities.copy()
    facilities.loc[0, "name"] = '<script>alert("x")</script>'
    areas = hand.areas.copy()
    areas.loc[areas["code"] == C1, "name"] = "一社区</title><image href='http://x/y.png'/>"
    svg = community_map_svg(areas, facilities, {C1}, settings=S)
    chart = coverage_chart_svg(pd.DataFrame({"code": ["1"], "name": ["<b>&</b>"], "coverage_rate_pct": [50.0]}))
    for text in (svg, chart):
        assert "<script" not in text and "<image" not in text and "<b>" not in text
    assert "&lt;script&gt;" in svg and "&lt;b&gt;&amp;&lt;/b&gt;" in chart


def test_cli_report(demo_region: Region, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = demo_region.path.parents[1]  # the session's saved demo region
    out, page = tmp_path / "report.xlsx", tmp_path / "report.html"
    code = eldermap.main(["--regions", str(root), "report", "demo", "--out", str(out), "--html", str(page),
                          "--by", "street", "--minutes", "10", "--date", "2026-11-23"])
    printed = capsys.readouterr().out
    assert code == 0 and out.exists() and page.exists()
    basic = basic_situation(demo_region, settings=S, by="street")
    t = basic.iloc[-1]
    assert (f"全部地区：社区 12 个，有社区养老设施的 {t['communities_with_facility']} 个，"
            f"覆盖率 {t['coverage_rate_pct']:.1f}%；老年人 {t['elders']} 人") in printed
    assert str(out) in printed and str(page) in printed
    ws = openpyxl.load_workbook(out)["基本情况表"]
    top = _annex_top(ws)
    assert ws.cell(top + 4, 1).value == basic.iloc[0]["name"] and ws.cell(top - 1, 1).value.endswith("2026年11月23日")
    assert openpyxl.load_workbook(out)["服务圈覆盖"]["E1"].value.startswith("步行10分钟内覆盖老人数(人)")

    assert eldermap.main(["--regions", str(root), "report", "demo", "--out", str(out), "--date", "2026-13-01"]) == 2
    assert "统计日期" in capsys.readouterr().err


def test_printable_page_has_the_community_map_and_prints_to_pdf(demo_region, tmp_path) -> None:
    svg = community_map_svg(demo_region.areas, demo_region.facilities,
                            served_communities(demo_region, settings=S), settings=S)
    n_comm = int((demo_region.areas["level"] == "community").sum())
    assert svg.count("<polygon") >= n_comm and svg.count("<circle") + svg.count("<rect") == len(demo_region.facilities)
    html = tmp_path / "r.html"
    write_report(demo_region, tmp_path / "r.xlsx", settings=Settings(), html=html)
    page = html.read_text(encoding="utf-8")
    assert "社区养老服务设施分布" in page and "<polygon" in page and "http" not in page
    assert shutil.which("chromium"), "the PDF test needs Debian's chromium (make test installs it)"
    pdf = write_pdf(html, tmp_path / "r.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    # the CJK glyphs travel inside the file: as embedded font programs, or as Type 3 glyph procedures
    # (Chromium's Skia writes the OpenType/CFF Noto CJK fonts that way)
    assert any(marker in data for marker in (b"/FontFile", b"/Subtype /Type3"))


def test_cli_report_pdf_and_audit(demo_region, tmp_path) -> None:
    from data import audit, store

    assert shutil.which("chromium"), "the PDF test needs Debian's chromium (make test installs it)"
    root = tmp_path / "regions"
    store.save_region("demo", dict(demo_region.layers), {}, root=root)
    code = eldermap.main(["--regions", str(root), "report", "demo", "--out", str(tmp_path / "r.xlsx"),
                          "--pdf", str(tmp_path / "r.pdf"), "--by", "street"])
    assert code == 0 and (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF") and (tmp_path / "r.html").exists()
    log = audit.read(root)
    assert list(log["action"])[-1] == "export" and "r.pdf" in str(log["detail"].iloc[-1])
    assert audit.verify_chain(root) == []
