"""Annex 2 of seed 003 exactly: notes 1–6 as definitions, one hand-computed fixture each, the annex's own layout
read back from the workbook and the printable page, and the unassigned warning (report, page, CLI exit code).

Fixture regions are saved and loaded through data.store in tmp_path, so the figures are computed on
the layers as stored. Expected values are written out by hand in the comments next to them.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

import eldermap
from data import store
from data.report_files import SEALS, write_report_html, write_report_workbook
from data.store import Region
from geo.areas import community_types
from geo.settings import Settings
from planning.report import (
    ANNEX_TITLE,
    Report,
    annex_elders,
    annex_remarks,
    basic_situation,
    coverage_formula,
    declared_area,
    report_notes,
    unassigned_counts,
)

REPO = Path(__file__).resolve().parents[1]
S = Settings()
END_2019, NOV_2019 = dt.date(2019, 12, 31), dt.date(2019, 11, 30)
D, A, B, C = "410102", "410102001", "410102002", "410102003"  # district; streets 甲, 乙, 丙
POINT = shapely.Point(113.62, 34.75)


# ---------------------------------------------------------------- fixtures


def _areas(*, with_type: bool = True) -> gpd.GeoDataFrame:
    """A plain community list (no geometry), as staff have it.

    甲街道: 410102001001 (居委会 by the code rule, 001) and 410102001201 (村委会 by the code rule, 201).
    乙街道: 410102002002 (typed 村委会, though its code says 居委会), 410102002250 (typed 居委会, though its
    code says 村委会) and 410102002400 (no type, 400: unknown, counted as 居委会).
    丙街道: only the village 410102003201 (村委会 by code).
    """
    rows = [
        (D, "示范区", "district", None, None, 500_000, 88_888.8),
        (A, "甲街道", "street", D, None, 30_000, None),
        (B, "乙街道", "street", D, None, None, None),
        (C, "丙街道", "street", D, None, 5_000, None),
        (A + "001", "一社区", "community", A, None, 12_000, None),
        (A + "201", "二村", "community", A, None, 18_000, None),
        (B + "002", "三村", "community", B, "村委会", 7_000, None),
        (B + "250", "四社区", "community", B, "居委会", 8_000, None),
        (B + "400", "五社区", "community", B, None, 9_000, None),
        (C + "201", "六村", "community", C, None, 5_000, None),
    ]
    frame = pd.DataFrame(rows, columns=["code", "name", "level", "parent_code", "community_type",
                                        "registered_population", "fiscal_revenue_10k_yuan"])
    frame["community_type"] = frame["community_type"].astype("string")
    if not with_type:
        frame = frame.drop(columns="community_type")
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([None] * len(frame), crs=4326), crs=4326)


def _facilities() -> gpd.GeoDataFrame:
    """Day-care centres carrying community codes (the code wins: no polygons are needed) in 二村 (a village),
    三村 (a village by type) and 五社区 (unknown type); an institution in 甲街道."""
    return gpd.GeoDataFrame({
        "id": ["F1", "F2", "F3", "F4"],
        "name": ["二村日照", "三村日照", "五社区日照", "示范区养老院"],
        "kind": ["日间照料中心", "日间照料中心", "日间照料中心", "养老机构"],
        "beds_total": pd.array([6, 8, 10, 120], dtype="Int64"),
        "residents": pd.array([None, None, None, 90], dtype="Int64"),
        "elders_served": pd.array([40, 50, 60, None], dtype="Int64"),
        "district_code": [D] * 4, "street_code": [A, B, B, A],
        "community_code": [A + "201", B + "002", B + "400", None],
    }, geometry=[POINT] * 4, crs=4326)


# birth year, month (NA: year only), ability code, disability grade, dementia, registered 户籍, resident 常住
ELDERS = [
    (1959, 12, 0, None, False, True, True),      # e0: 60 at 2019-12-31, 59 at 2019-11-30
    (1939, 12, 3, None, None, True, False),      # e1: 80 at 2019-12-31, 79 at 2019-11-30; 重度失能
    (1950, None, 2, None, False, None, None),    # e2: 69; 中度失能 (not counted); flags not said
    (1945, 6, 4, None, False, False, True),      # e3: 74; 完全失能; not 户籍, 常住
    (1930, 3, 0, "二级", False, True, None),      # e4: 89; disability grade 二级
    (1948, 1, 1, "三级", True, None, True),       # e5: 71; 失智 (grade 三级 alone would not count)
    (1960, 1, 3, None, None, True, True),        # e6: 59 at 2019-12-31: not an elder yet
    (1955, 7, 0, "一级", None, False, False),     # e7: 64; grade 一级; neither 户籍 nor 常住
]


def _elders(rows=ELDERS, *, street: str | None = A) -> gpd.GeoDataFrame:
    year, month, ability, grade, dementia, registered, resident = zip(*rows, strict=True)
    n = len(rows)
    return gpd.GeoDataFrame({
        "pid": [f"P{i:020x}" for i in range(n)],
        "birth_year": pd.array(year, dtype="Int64"), "birth_month": pd.array(month, dtype="Int64"),
        "ability_code": pd.array(ability, dtype="Int64"),
        "disability_grade": pd.array(grade, dtype="string"), "dementia": pd.array(dementia, dtype="boolean"),
        "registered": pd.array(registered, dtype="boolean"), "resident": pd.array(resident, dtype="boolean"),
        "oldest_old": [False] * n,  # stale import-time flags: note 1 recomputes ages at the statistics date
        "district_code": [D] * n, "street_code": [street] * n,
        "community_code": [A + "001" if street == A else None] * n,
    }, geometry=[POINT] * n, crs=4326)


def _save(root: Path, *, areas=None, facilities=None, elders=None, name: str = "annex") -> Region:
    layers = {"areas": _areas() if areas is None else areas,
              "facilities": _facilities() if facilities is None else facilities,
              "elders": _elders() if elders is None else elders}
    store.save_region(name, layers, {}, root=root)
    return store.load_region(name, root=root)


@pytest.fixture()
def region(tmp_path: Path) -> Region:
    return _save(tmp_path / "regions")


def _row(table: pd.DataFrame, code: str) -> dict:
    return table.set_index("code").loc[code].to_dict()


def _notes(region: Region, settings: Settings = S, *, by: str = "street", day: dt.date = END_2019) -> dict:
    return dict(report_notes(region, settings=settings, by=by, minutes=15.0, statistics_date=day))


# ---------------------------------------------------------------- note 6: 居委会, by type column or code rule


def test_community_types_by_column_then_code_rule() -> None:
    types, rules = community_types(_areas())
    got = dict(zip(_areas()["code"], zip(types, rules, strict=True), strict=True))
    assert got[A + "001"] == ("居委会", "code") and got[A + "201"] == ("村委会", "code")
    assert got[B + "002"] == ("村委会", "column") and got[B + "250"] == ("居委会", "column")  # the column wins
    assert got[B + "400"] == ("未知", "unknown") and got[D] == ("未知", "unknown")  # 400; not a 12-digit code
    types, rules = community_types(_areas(with_type=False))
    got = dict(zip(_areas()["code"], zip(types, rules, strict=True), strict=True))
    assert got[B + "002"] == ("居委会", "code") and got[B + "250"] == ("村委会", "code")
    # the boundaries of the statistical rule
    codes = pd.DataFrame({"code": ["410102001000", "410102001199", "410102001200", "410102001399", "410102001400"]})
    assert list(community_types(codes)[0]) == ["未知", "居委会", "村委会", "村委会", "未知"]


def test_coverage_counts_residents_committees_by_type_column(region: Region) -> None:
    t = basic_situation(region, settings=S, by="street", statistics_date=END_2019)
    a, b, c, total = (_row(t, k) for k in (A, B, C, "合计"))
    # 甲: only 一社区 (居委会) counts; its village 二村 has the facility → 0 / 1
    assert [a["communities"], a["communities_with_facility"], a["coverage_rate_pct"]] == [1, 0, 0.0]
    # 乙: 四社区 (居委会 by type) and 五社区 (unknown → 居委会) count, 三村 (村委会 by type) not → 1 / 2
    assert [b["communities"], b["communities_with_facility"], b["coverage_rate_pct"]] == [2, 1, 50.0]
    # 丙: only a village → no 居委会: 0 (note 1), not "—"
    assert [c["communities"], c["communities_with_facility"], c["coverage_rate_pct"]] == [0, 0, 0.0]
    assert [total["communities"], total["communities_with_facility"], total["coverage_rate_pct"]] == [3, 1, 33.3]
    # the facilities themselves are counted wherever they are (columns 11–13), villages included
    assert [a["community_facilities"], a["community_facility_beds"], a["community_elders_served"]] == [1, 6, 40]
    assert [b["community_facilities"], b["community_facility_beds"], b["community_elders_served"]] == [2, 18, 110]

    notes = _notes(region)
    text = notes["社区类型（备注6）"]
    assert "共有社区 6 个：居委会 2 个（按类型列 1 个、按代码规则 1 个），村委会 3 个（按类型列 1 个、按代码规则 2 个）" in text
    assert "类型无法判断的 1 个（五社区（410102002400）），按居委会计入" in text and "村委会不计入" in text
    assert "001–199 为居委会，200–399 为村委会" in text
    assert notes["覆盖率为 0 的地区"].startswith("丙街道没有所辖居委会")
    assert "甲街道" not in notes["覆盖率为 0 的地区"]  # it has a 居委会 (without a facility): a real 0


def test_coverage_by_code_rule_when_no_type_column(tmp_path: Path) -> None:
    region = _save(tmp_path / "regions", areas=_areas(with_type=False))
    t = basic_situation(region, settings=S, by="street", statistics_date=END_2019)
    b = _row(t, B)
    # 三村 (002 → 居委会) and 五社区 (unknown → 居委会) count, 四社区 (250 → 村委会) not; both have a facility
    assert [b["communities"], b["communities_with_facility"], b["coverage_rate_pct"]] == [2, 2, 100.0]
    total = _row(t, "合计")
    assert [total["communities"], total["communities_with_facility"], total["coverage_rate_pct"]] == [3, 2, 66.7]
    assert "居委会 2 个（按类型列 0 个、按代码规则 2 个），村委会 3 个（按类型列 0 个、按代码规则 3 个）" \
        in _notes(region)["社区类型（备注6）"]


def test_include_villages_setting(region: Region) -> None:
    villages = Settings(annex_include_villages=True)
    t = basic_situation(region, settings=villages, by="street", statistics_date=END_2019)
    # 甲: 一社区 + 二村 (facility) → 1 / 2; 乙: all three, 三村 and 五社区 with a facility → 2 / 3;
    # 丙: 六村, no facility → 0 / 1; total 3 / 6
    assert [_row(t, A)[k] for k in ("communities", "communities_with_facility", "coverage_rate_pct")] == [2, 1, 50.0]
    assert [_row(t, B)[k] for k in ("communities", "communities_with_facility", "coverage_rate_pct")] == [3, 2, 66.7]
    assert [_row(t, C)[k] for k in ("communities", "communities_with_facility", "coverage_rate_pct")] == [1, 0, 0.0]
    assert [_row(t, "合计")[k] for k in ("communities", "communities_with_facility", "coverage_rate_pct")] \
        == [6, 3, 50.0]
    notes = _notes(region, villages)
    assert "村委会也计入" in notes["社区类型（备注6）"] and "覆盖率计入村委会" in notes["与附件2口径不同"]
    assert "覆盖率为 0 的地区" not in notes  # every street has a counted community now
    assert "居委会和村委会" in coverage_formula(villages) and "居委会和村委会" not in coverage_formula(S)


# ---------------------------------------------------------------- notes 1–3: statistics date, 户籍/常住


def test_statistics_date_boundary(region: Region) -> None:
    at_end = annex_elders(region.elders, settings=S, statistics_date=END_2019)
    # 户籍: e0 e1 e2 e4 e5; e6 is 59 (born 1960-01); e3, e7 are not 户籍
    assert list(np.flatnonzero(at_end.counted)) == [0, 1, 2, 4, 5]
    assert (at_end.under_age, at_end.other_population, at_end.unknown_age) == (1, 2, 0)
    assert list(np.flatnonzero(at_end.oldest_old)) == [1, 4]  # e1 turns 80 in 1939-12 + 80 = 2019-12
    before = annex_elders(region.elders, settings=S, statistics_date=NOV_2019)
    assert list(np.flatnonzero(before.counted)) == [1, 2, 4, 5]  # e0, born 1959-12, is 59 on 2019-11-30
    assert before.under_age == 2 and list(np.flatnonzero(before.oldest_old)) == [4]  # e1 is 79

    t_end = _row(basic_situation(region, settings=S, by="street", statistics_date=END_2019), A)
    t_nov = _row(basic_situation(region, settings=S, by="street", statistics_date=NOV_2019), A)
    assert [t_end["elders"], t_end["oldest_old"], t_end["disabled"]] == [5, 2, 3]
    assert [t_nov["elders"], t_nov["oldest_old"], t_nov["disabled"]] == [4, 1, 3]
    assert t_end["elders_10k"] == pytest.approx(0.0005)
    note = _notes(region, day=NOV_2019)["老年人（备注1、2）"]
    assert "按统计日期2019年11月30日计算周岁" in note and "未满60周岁的 2 人未计入" in note
    assert "非户籍的 2 人未计入" in note


def test_no_birth_year_uses_the_stored_flag_and_says_so(tmp_path: Path) -> None:
    elders = _elders().drop(columns=["birth_year", "birth_month"])
    elders["oldest_old"] = [True, False, False, False, False, False, False, False]
    region = _save(tmp_path / "regions", elders=elders)
    chosen = annex_elders(region.elders, settings=S, statistics_date=END_2019)
    assert chosen.under_age == 0 and chosen.unknown_age == 6  # every 户籍 elder is kept
    assert list(np.flatnonzero(chosen.oldest_old)) == [0]
    assert "无出生年份的 6 人按老年人计入" in _notes(region)["老年人（备注1、2）"]


@pytest.mark.parametrize(("population", "counted", "old", "disabled", "left_out"), [
    ("户籍", [0, 1, 2, 4, 5], 2, 3, 2),      # registered True or not said; e3, e7 out
    ("常住", [0, 2, 3, 4, 5], 1, 3, 2),      # resident True or not said; e1, e7 out; e3 完全失能 in
    ("全部", [0, 1, 2, 3, 4, 5, 7], 2, 5, 0),  # all of age; disabled e1 e3 e4 e5 e7
])
def test_population_setting(region: Region, population: str, counted: list[int], old: int, disabled: int,
                            left_out: int) -> None:
    settings = Settings(annex_population=population)
    chosen = annex_elders(region.elders, settings=settings, statistics_date=END_2019)
    assert list(np.flatnonzero(chosen.counted)) == counted and chosen.other_population == left_out
    row = _row(basic_situation(region, settings=settings, by="street", statistics_date=END_2019), A)
    assert [row["elders"], row["oldest_old"], row["disabled"]] == [len(counted), old, disabled]
    note = _notes(region, settings)["老年人（备注1、2）"]
    assert f"统计口径：{population}老年人" in note
    if population == "户籍":
        assert "与附件2口径不同" not in _notes(region, settings)
    else:
        assert f"老年人按{population}统计" in _notes(region, settings)["与附件2口径不同"]


# ---------------------------------------------------------------- note 4: 失能(伤残)


@pytest.mark.parametrize(("settings", "disabled"), [
    (S, [1, 4, 5]),                                            # 重度失能, 二级, 失智; e2 (中度) not
    (Settings(annex_disabled_dementia=False), [1, 4]),         # e5 only had 失智
    (Settings(annex_disabled_grades=("一级",)), [1, 5]),        # e4's 二级 no longer counts
    (Settings(annex_disabled_ability_codes=(2, 3, 4)), [1, 2, 4, 5]),  # moderate counted too
])
def test_disabled_rule_variants(region: Region, settings: Settings, disabled: list[int]) -> None:
    chosen = annex_elders(region.elders, settings=settings, statistics_date=END_2019)
    assert list(np.flatnonzero(chosen.disabled)) == disabled
    assert _row(basic_situation(region, settings=settings, by="district", statistics_date=END_2019), D)["disabled"] \
        == len(disabled)


def test_disabled_with_absent_columns_counts_what_exists(tmp_path: Path) -> None:
    region = _save(tmp_path / "regions", elders=_elders().drop(columns=["disability_grade", "dementia"]))
    chosen = annex_elders(region.elders, settings=S, statistics_date=END_2019)
    assert list(np.flatnonzero(chosen.disabled)) == [1]  # e4 (二级) and e5 (失智) cannot be seen
    assert chosen.disabled_criteria == ("ability",) and chosen.disabled_missing == ("grade", "dementia")
    note = _notes(region)["失能(伤残)老年人（备注4）"]
    assert "重度失能、完全失能" in note and "中度失能不计入" in note
    assert "没有“残疾等级”、“失智”字段" in note and "只按“能力评估等级”认定" in note


# ---------------------------------------------------------------- note 1: empty items are 0; fiscal year


def test_empty_items_are_zero_and_fiscal_year(region: Region, tmp_path: Path) -> None:
    t = basic_situation(region, settings=S, by="street", statistics_date=END_2019)
    c = _row(t, C)  # 丙街道: no elders, no facilities, no revenue, no 居委会
    assert all(c[k] == 0 for k in ("elders", "oldest_old", "disabled", "institutions", "community_facilities",
                                   "fiscal_revenue_10k_yuan", "coverage_rate_pct"))
    assert c["registered_population"] == 5000  # its own value
    b = _row(t, B)  # no own population: its communities' 7,000 + 8,000 + 9,000
    assert b["registered_population"] == 24_000
    assert not t.drop(columns=["code", "name"]).isna().any().any()

    report = _report(region, day=dt.date(2024, 6, 30))
    out = write_report_workbook(report, tmp_path / "r.xlsx")
    ws = openpyxl.load_workbook(out)["基本情况表"]
    top = _top(ws)
    assert ws.cell(top, 4).value == "2024年度财政收入(万元)"
    row_c = _data_row(ws, top, "丙街道")
    assert [ws.cell(row_c, j).value for j in range(3, 16)] == [0, 0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert "—" not in [cell.value for row in ws.iter_rows() for cell in row]


# ---------------------------------------------------------------- layout


def _report(region: Region, *, settings: Settings = S, by: str = "street", day: dt.date = END_2019,
            extra_sheets=()) -> Report:
    """A report of the fixture region without its network tables (no roads): the annex, notes and
    remarks as build_report makes them; the service-circle and check sheets are small stand-ins."""
    basic = basic_situation(region, settings=settings, by=by, statistics_date=day)
    stand_in = basic[["code", "name"]]
    circle = basic[["code", "name", "elders"]].assign(**{"covered:any": 0, "coverage_pct:any": 0.0})
    circle.attrs.update(kinds=[], profiles={})
    return Report(basic=basic, circle=circle, checks=stand_in,
                  notes=tuple(report_notes(region, settings=settings, by=by, minutes=15.0, statistics_date=day)),
                  area=declared_area(region), statistics_date=day, by=by, minutes=15.0, mode="walk",
                  settings=settings, circle_columns_zh={"code": "区划代码", "name": "名称"},
                  check_columns_zh={"code": "区划代码", "name": "名称"}, served_communities=frozenset(),
                  extra_sheets=tuple(extra_sheets), remarks=annex_remarks(settings=settings, statistics_date=day),
                  unassigned=unassigned_counts(region, settings=settings, by=by),
                  coverage_formula=coverage_formula(settings))


def _top(ws) -> int:
    return [c.value for c in ws["A"]].index(ANNEX_TITLE) + 3


def _data_row(ws, top: int, label: str) -> int:
    return [c.value for c in ws["A"]].index(label, top + 3) + 1


LEAVES = ["机构数(个)", "床位数(张)", "入住老年人人数(人)", "社区养老设施数(个)", "床位数(张)", "养老服务老年人人数(人)"]


def test_annex_layout_read_back_from_the_workbook(region: Region, tmp_path: Path) -> None:
    extra = pd.DataFrame({"code": [A, "合计"], "name": ["甲街道", "全部地区"], "covered": [3, 3]})
    report = _report(region, extra_sheets=[("重点群体覆盖", extra, {"code": "区划代码", "name": "名称",
                                                                   "covered": "覆盖人数"})])
    out = write_report_workbook(report, tmp_path / "annex.xlsx")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["基本情况表", "服务圈覆盖", "配置检查", "重点群体覆盖", "说明"]
    assert [c.value for c in wb["重点群体覆盖"][1]] == ["区划代码", "名称", "覆盖人数"]
    ws = wb["基本情况表"]
    top = _top(ws)
    assert top == 3 and ws["A1"].value == "试点申报地区基本情况表"  # nothing unassigned: no warning line
    assert ws.cell(top - 1, 1).value == "申报地区：示范区    填报日期：2019年12月31日"

    row1 = [ws.cell(top, j).value for j in range(1, 16)]
    assert row1 == ["地区", "序号", "所辖社区数(个)", "2019年度财政收入(万元)", "户籍人口总数(万人)",
                    "老年人口总数(万人)", "其中：", None, "养老服务发展情况", None, None, None, None, None, None]
    row2 = [ws.cell(top + 1, j).value for j in range(7, 16)]
    assert row2 == ["高龄老年人人数(万人)", "失能(伤残)老年人人数(万人)", "机构养老", None, None, "城镇社区养老",
                    None, None, "社区养老设施覆盖率(%)"]
    assert [ws.cell(top + 2, j).value for j in range(9, 15)] == LEAVES
    assert [ws.cell(top + 3, j).value for j in range(1, 16)] == [None, *range(1, 15)]  # 地区 is not numbered

    merged = {str(r) for r in ws.merged_cells.ranges}
    h1, h2, h3 = top, top + 1, top + 2
    expected = {f"A{h1}:A{h3}", f"B{h1}:B{h3}", f"F{h1}:F{h3}", f"G{h1}:H{h1}", f"I{h1}:O{h1}", f"G{h2}:G{h3}",
                f"H{h2}:H{h3}", f"I{h2}:K{h2}", f"L{h2}:N{h2}", f"O{h2}:O{h3}"}
    assert expected <= merged, expected - merged

    first = top + 4
    labels = [ws.cell(first + i, 1).value for i in range(5)]
    assert labels == ["甲街道", "乙街道", "丙街道", "合计", "备注：1. 填报数据为截至2019年12月31日的统计数据，空缺项请填写“0”。"]
    assert [ws.cell(first + i, 2).value for i in range(4)] == [1, 2, 3, None]
    b = [ws.cell(first + 1, j).value for j in range(3, 16)]
    # 乙: 2 居委会; no revenue; 24,000 registered; no elders; 2 community facilities, 18 beds, 110 served; 50 %
    assert b == [2, 0, 2.4, 0, 0, 0, 0, 0, 0, 2, 18, 110, 50]
    total = [ws.cell(first + 3, j).value for j in range(3, 16)]
    # by street the total is the sum of the street rows (the district's own revenue is not a street's)
    assert total[:3] == [3, 0, 5.9] and total[-1] == 33.3

    column_a = [c.value for c in ws["A"]]
    remarks = column_a[first + 3:first + 9]
    assert remarks == ["备注：1. 填报数据为截至2019年12月31日的统计数据，空缺项请填写“0”。",
                       "2. 老年人是指60周岁(含)以上本地区户籍老年人。",
                       "3. 高龄老年人是指80周岁(含)以上本地区户籍老年人。",
                       "4. 失能(伤残)老年人是指依据《老年人能力评估》行业标准或其他标准评定的失能、失智和残疾等级为一级、"
                       "二级的重度残疾老年人。",
                       "5. 城镇居家和社区养老服务设施主要是指在社区中为老年人提供生活照料服务的设施，包括社区日间托养服务"
                       "设施、社区全天候托养服务设施、老年餐桌服务设施及其它服务设施。",
                       "6. 社区养老服务设施覆盖率= (拥有社区养老服务设施的居委会数/居委会总数) *100%。"]
    assert [v for v in column_a[first + 9:] if v] == ["申报地区财政部门(盖章)", "申报地区民政部门(盖章)"] == list(SEALS)
    notes = dict((a.value, b.value) for a, b in wb["说明"].iter_rows(min_row=2, max_col=2))
    assert "“地区”列" in notes["表格格式"] and "未归属" in notes  # our explanations are on the 说明 sheet
    assert not [c for s in wb.worksheets for row in s.iter_rows() for c in row if c.data_type == "f"]


def test_annex_layout_of_the_printable_page(region: Region, tmp_path: Path) -> None:
    extra = pd.DataFrame({"code": ["合计"], "name": ["全部地区"], "covered": [3]})
    page = write_report_html(_report(region, extra_sheets=[("重点群体覆盖", extra, {"covered": "覆盖人数"})]),
                             tmp_path / "annex.html")
    text = page.read_text(encoding="utf-8")
    head = text[text.index('<table class="annex">'):text.index("</thead>")]
    assert '<th rowspan="3">地区</th><th rowspan="3">序号</th><th rowspan="3">所辖社区数(个)</th>' in head
    assert '<th rowspan="3">2019年度财政收入(万元)</th>' in head
    assert '<th colspan="2">其中：</th><th colspan="7">养老服务发展情况</th></tr>' in head
    assert ('<th rowspan="2">高龄老年人人数(万人)</th><th rowspan="2">失能(伤残)老年人人数(万人)</th>'
            '<th colspan="3">机构养老</th><th colspan="3">城镇社区养老</th>'
            '<th rowspan="2">社区养老设施覆盖率(%)</th></tr>') in head
    assert "".join(f"<th>{h}</th>" for h in LEAVES) in head
    assert '<tr class="numbering"><th></th>' + "".join(f"<th>{j}</th>" for j in range(1, 15)) + "</tr>" in head
    assert ('<td class="area">丙街道</td><td>3</td><td>0</td><td>0.00</td><td>0.50</td>' in text)
    assert "<p>备注：1. 填报数据为截至2019年12月31日的统计数据" in text and "<p>6. 社区养老服务设施覆盖率=" in text
    assert '<p class="seal">申报地区财政部门(盖章)</p><p class="seal">申报地区民政部门(盖章)</p>' in text
    assert "<h2>重点群体覆盖</h2>" in text and "<th>覆盖人数</th>" in text
    assert 'class="warning"' not in text  # nothing unassigned


def test_data_text_is_never_a_formula(tmp_path: Path) -> None:
    areas = _areas()
    areas.loc[areas["code"] == A, "name"] = "=HYPERLINK(\"http://x\",\"y\")"
    region = _save(tmp_path / "regions", areas=areas)
    out = write_report_workbook(_report(region), tmp_path / "r.xlsx")
    wb = openpyxl.load_workbook(out)
    cells = [c for s in wb.worksheets for row in s.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert "'=HYPERLINK(\"http://x\",\"y\")" in [c.value for c in cells]  # neutralised: a quote, then the text


# ---------------------------------------------------------------- unassigned


def test_unassigned_counts_and_warning(tmp_path: Path) -> None:
    # 8 elders of 甲街道 and 2 with a district but no street; 4 facilities and 1 without a street
    elders = pd.concat([_elders(), _elders(ELDERS[:2], street=None)], ignore_index=True)
    facilities = pd.concat([_facilities(), _facilities().iloc[:1].assign(id="F5", street_code=None,
                                                                          community_code=None)],
                           ignore_index=True)
    region = _save(tmp_path / "regions", elders=gpd.GeoDataFrame(elders, crs=4326),
                   facilities=gpd.GeoDataFrame(facilities, crs=4326))
    by_street = unassigned_counts(region, settings=S, by="street")
    assert (by_street.elders, by_street.elders_total, by_street.facilities, by_street.facilities_total) == (2, 10, 1, 5)
    assert by_street.elders_pct == 20.0 and by_street.facilities_pct == 20.0 and by_street.over
    by_district = unassigned_counts(region, settings=S, by="district")
    assert (by_district.elders, by_district.facilities, by_district.over) == (0, 0, False)
    assert not unassigned_counts(region, settings=Settings(unassigned_warn_pct=25.0), by="street").over

    report = _report(region)
    assert report.warnings[0].startswith("警告：未归属到街道（乡镇）的老年人 2 人（共 10 人，占 20.0%），"
                                         "养老服务设施 1 个（共 5 个，占 20.0%），超过设定的 1%")
    assert "未归属到街道（乡镇）的老年人 2 人" in dict(report.notes)["未归属"]
    ws = openpyxl.load_workbook(write_report_workbook(report, tmp_path / "r.xlsx"))["基本情况表"]
    assert ws["A1"].value == report.warnings[0] and ws["A2"].value == ANNEX_TITLE
    text = write_report_html(report, tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<p class="warning">警告：未归属到街道（乡镇）的老年人 2 人' in text

    quiet = _report(region, by="district")  # nothing unassigned by district: no warning, counts still said
    assert quiet.warnings == () and "老年人 0 人" in dict(quiet.notes)["未归属"]
    ws = openpyxl.load_workbook(write_report_workbook(quiet, tmp_path / "q.xlsx"))["基本情况表"]
    assert ws["A1"].value == ANNEX_TITLE


@pytest.fixture()
def demo_with_unassigned(demo_region: Region, tmp_path: Path) -> Path:
    """The demo region with the street code of one elder in 20 removed (their district stays)."""
    layers = dict(demo_region.layers)
    elders = layers["elders"].copy()
    gone = np.arange(len(elders)) % 20 == 0
    elders.loc[gone, ["street_code", "community_code"]] = None
    layers["elders"] = elders
    root = tmp_path / "regions"
    store.save_region("demo", layers, {}, root=root)
    return root


def test_cli_refuses_an_unassigned_report_unless_allowed(demo_with_unassigned: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    root, out = demo_with_unassigned, tmp_path / "r.xlsx"
    done = subprocess.run([sys.executable, str(REPO / "eldermap.py"), "--regions", str(root), "report", "demo",
                           "--out", str(out), "--by", "street"], capture_output=True, text=True, cwd=REPO,
                          timeout=600, check=False)
    assert done.returncode == 2, done.stderr
    assert "未归属到街道（乡镇）的老年人" in done.stderr and "--allow-unassigned" in done.stderr
    assert "报表未生成" in done.stderr and "Traceback" not in done.stderr and not out.exists()

    page = tmp_path / "r.html"
    code = eldermap.main(["--regions", str(root), "report", "demo", "--out", str(out), "--html", str(page),
                          "--by", "street", "--allow-unassigned", "--date", "2025-12-31"])
    captured = capsys.readouterr()
    assert code == 0 and out.exists() and "警告：未归属到街道（乡镇）的老年人" in captured.err
    ws = openpyxl.load_workbook(out)["基本情况表"]
    assert ws["A1"].value.startswith("警告：未归属到街道（乡镇）的老年人")
    assert '<p class="warning">警告：未归属' in page.read_text(encoding="utf-8")
