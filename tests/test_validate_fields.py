"""The staff fields added by issue 11: parsed, checked and stored as the column contract says.

Every expected value below is written out by hand (dates, 周岁, aliases), not computed by the code under test.
Files are written in tmp_path as staff send them: UTF-8 and GBK CSV, XLSX.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.ids import resident_id_check_char
from data.validate import ERROR, WARNING, validate_table
from geo.settings import Settings

TODAY = dt.date(2026, 11, 23)
SALT = b"s" * 32
PROPERTY = settings(database=None, deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])


def rid(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


def write_csv(path: Path, header: list[str], rows: list[list[object]], *, encoding: str = "utf-8") -> Path:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def elders(tmp_path: Path, header: list[str], rows: list[list[object]], *, name: str = "elders.csv",
           today: dt.date = TODAY, **kwargs: object):
    """Validate an elder file with a 老人编号 column prepended (A1, A2, ...)."""
    rows = [[f"A{k}", *r] for k, r in enumerate(rows, start=1)]
    writer = write_xlsx if name.endswith(".xlsx") else write_csv
    path = writer(tmp_path / name, ["老人编号", *header], rows, **kwargs)
    return validate_table(path, "elders", settings=Settings(), salt=SALT, today=today)


def problems_of(result, row: int) -> pd.DataFrame:
    return result.problems[result.problems["行号"] == str(row)]


# --------------------------------------------------------------------------
# bool fields: 失智, 本地户籍, 常住
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("是", True), ("否", False), ("Y", True), ("n", False), ("YES", True), ("no", False), ("TRUE", True),
    ("false", False), ("1", True), ("0", False), ("有", True), ("无", False), ("√", True), ("✓", True),
    ("×", False), ("ｙｅｓ", True),
])
def test_bool_fields_accept_the_yes_no_aliases(tmp_path: Path, text: str, expected: bool) -> None:
    result = elders(tmp_path, ["出生年份", "失智", "本地户籍", "常住", "社区代码"],
                    [[1950, text, text, text, "110199001001"]])
    assert result.ok, result.problems.to_string()
    row = result.good.iloc[0]
    assert (row["dementia"], row["registered"], row["resident"]) == (expected, expected, expected)


@pytest.mark.parametrize("text", ["也许", "maybe", "2", "不详"])
def test_unknown_bool_is_a_row_error_naming_the_allowed_values(tmp_path: Path, text: str) -> None:
    result = elders(tmp_path, ["出生年份", "失智", "社区代码"],
                    [[1950, "否", "110199001001"], [1951, text, "110199001001"]])
    assert result.good["birth_year"].tolist() == [1950]
    hit = problems_of(result, 3)
    assert list(hit["字段"]) == ["失智"] and list(hit["值"]) == [text] and list(hit["级别"]) == [ERROR]
    assert "不是允许的取值（允许：是、否" in hit["问题"].iat[0] and "√" in hit["问题"].iat[0]
    assert (hit["文件"] == "elders.csv").all()


def test_bool_columns_missing_are_na_not_false(tmp_path: Path) -> None:
    result = elders(tmp_path, ["出生年份", "失智", "本地户籍", "社区代码"],
                    [[1950, "", "", "110199001001"], [1950, "是", "否", "110199001001"]])
    good = result.good
    for name in ("dementia", "registered", "resident"):
        assert str(good[name].dtype) == "boolean"
    assert good["dementia"].isna().tolist() == [True, False]
    assert good["registered"].isna().tolist() == [True, False]
    assert good["resident"].isna().all()  # no 常住 column at all: not said


# --------------------------------------------------------------------------
# birth month: its own column, the birth date, the resident ID
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "month"), [
    ("3", 3), ("03", 3), ("3月", 3), (" 12 ", 12), ("１１", 11), ("三月", 3), ("十二月", 12), ("10月份", 10),
])
def test_month_column_formats(tmp_path: Path, text: str, month: int) -> None:
    result = elders(tmp_path, ["出生年份", "出生月份", "社区代码"], [[1950, text, "110199001001"]])
    assert result.ok, result.problems.to_string()
    assert result.good["birth_month"].tolist() == [month]


@pytest.mark.parametrize("text", ["0", "13", "3.5", "三十", "March", "-1"])
def test_bad_month_is_a_row_error(tmp_path: Path, text: str) -> None:
    result = elders(tmp_path, ["出生年份", "出生月份", "社区代码"], [[1950, text, "110199001001"]])
    hit = problems_of(result, 2)
    assert result.n_rejected == 1 and list(hit["字段"]) == ["出生月份"]
    assert "出生月份应为 1–12" in hit["问题"].iat[0]


@pytest.mark.parametrize(("text", "year", "month"), [
    ("1950-03-08", 1950, 3), ("1950/3/8", 1950, 3), ("1950.03", 1950, 3), ("1950年3月", 1950, 3),
    ("1950年03月08日", 1950, 3), ("195003", 1950, 3), ("19500308", 1950, 3), ("1950", 1950, None),
    ("1950年", 1950, None),
])
def test_birth_date_keeps_year_and_month_never_the_day(tmp_path: Path, text: str, year: int,
                                                       month: int | None) -> None:
    result = elders(tmp_path, ["出生日期", "社区代码"], [[text, "110199001001"]])
    assert result.ok, result.problems.to_string()
    good = result.good
    assert good["birth_year"].tolist() == [year]
    assert str(good["birth_month"].dtype) == "Int64"
    assert (good["birth_month"].isna().tolist() == [True]) if month is None else good["birth_month"].tolist() == [month]
    assert not any("day" in c for c in good.columns)


def test_birth_date_from_an_excel_date_cell(tmp_path: Path) -> None:
    result = elders(tmp_path, ["出生日期", "社区代码"], [[dt.datetime(1949, 7, 15), "110199001001"]],
                    name="elders.xlsx")
    assert result.ok and result.good[["birth_year", "birth_month"]].values.tolist() == [[1949, 7]]


def test_birth_month_from_the_resident_id(tmp_path: Path) -> None:
    number = rid("11010519500308002")  # born 1950-03-08
    result = elders(tmp_path, ["身份证号", "社区代码"], [[number, "110199001001"]])
    assert result.ok, result.problems.to_string()
    assert result.good[["birth_year", "birth_month"]].values.tolist() == [[1950, 3]]


def test_birth_month_conflicts_are_row_errors_like_the_year_rule(tmp_path: Path) -> None:
    number = rid("11010519500308002")  # March
    result = elders(tmp_path, ["身份证号", "出生日期", "出生月份", "社区代码"], [
        [number, "1950-03-08", "3", "110199001001"],   # 2: all agree
        [number, "1950-04", "", "110199001001"],       # 3: date says April, the ID March
        [number, "", "5", "110199001001"],             # 4: column says May, the ID March
        ["", "1950-06-01", "7", "110199001001"],       # 5: no ID; date June, column July
        ["", "1950-06-01", "6", "110199001001"],       # 6: agree
    ])
    assert sorted(result.good["source_row"]) == [2, 6]
    assert result.good.set_index("source_row").loc[6, "birth_month"] == 6
    three, four, five = problems_of(result, 3), problems_of(result, 4), problems_of(result, 5)
    # same ID as row 2: the duplicate is listed too (issue 13)
    assert list(three["字段"]) == ["出生月份", "老人"] and three["问题"].iat[0] == "出生日期中的月份（4）与身份证号中的出生月份（3）不一致"
    assert four["问题"].iat[0] == "出生月份列（5）与身份证号中的出生月份（3）不一致"
    assert five["问题"].iat[0] == "出生月份列（7）与出生日期中的月份（6）不一致"


@PROPERTY
@given(day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(1966, 1, 1)),
       style=st.sampled_from(["{y}-{m:02d}-{d:02d}", "{y}/{m}/{d}", "{y}年{m}月{d}日", "{y}{m:02d}{d:02d}",
                              "{y}年{m}月", "{y}-{m:02d}"]))
def test_any_written_birth_date_gives_its_year_and_month(day: dt.date, style: str) -> None:
    text = style.format(y=day.year, m=day.month, d=day.day)
    with tempfile.TemporaryDirectory() as folder:
        path = write_csv(Path(folder) / "e.csv", ["老人编号", "出生日期", "社区代码"], [["A1", text, "110199001001"]])
        result = validate_table(path, "elders", settings=Settings(), salt=SALT, today=TODAY)
    assert result.ok, (text, result.problems.to_string())
    assert result.good[["birth_year", "birth_month"]].values.tolist() == [[day.year, day.month]]


# --------------------------------------------------------------------------
# 周岁 exact to the month: the minimum age and 高龄
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("today", "birth", "kept"), [
    (dt.date(2026, 11, 23), "1966-10", True),    # birthday passed: 60 周岁
    (dt.date(2026, 11, 23), "1966-11", False),   # birth month, not its last day: still 59
    (dt.date(2026, 11, 30), "1966-11", True),    # last day of the birth month: counted as passed
    (dt.date(2026, 11, 23), "1966-12", False),   # 59
    (dt.date(2026, 11, 23), "1966", True),       # year only: 2026 - 1966 = 60
    (dt.date(2026, 12, 31), "1966-12", True),    # the annex's own date
    (dt.date(2026, 1, 15), "1966-01", False),    # 59 until the end of January
])
def test_minimum_age_is_exact_to_the_month(tmp_path: Path, today: dt.date, birth: str, kept: bool) -> None:
    result = elders(tmp_path, ["出生日期", "社区代码"], [[birth, "110199001001"]], today=today)
    assert result.ok is kept, result.problems.to_string()
    if not kept:
        reason = problems_of(result, 2)["问题"].iat[0]
        assert reason == f"按统计日期 {today.isoformat()} 计未满 60 周岁，不属于老年人"


def test_oldest_old_is_exact_to_the_month(tmp_path: Path) -> None:
    result = elders(tmp_path, ["出生日期", "社区代码"], [
        ["1946-10", "110199001001"],   # 80 at 2026-11-23
        ["1946-11", "110199001001"],   # 79: the birth month is not over
        ["1946-12", "110199001001"],   # 79
        ["1946", "110199001001"],      # 80 by years
    ])
    assert result.good["oldest_old"].tolist() == [True, False, False, True]


# --------------------------------------------------------------------------
# 人口类型 -> 户籍 / 常住
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "registered", "resident"), [
    ("户籍", True, None), ("本地户籍", True, None), ("常住", None, True), ("户籍常住", True, True),
    ("人户一致", True, True), ("人户分离", True, False), ("户籍不常住", True, False), ("外来", False, True),
    ("流动人口", False, True), ("常住非户籍", False, True),
])
def test_population_type_splits_into_registered_and_resident(tmp_path: Path, text: str, registered: bool | None,
                                                             resident: bool | None) -> None:
    result = elders(tmp_path, ["出生年份", "人口类型", "社区代码"], [[1950, text, "110199001001"]],
                    encoding="gbk", name="elders_gbk.csv")
    assert result.ok, result.problems.to_string()
    row = result.good.iloc[0]
    assert (None if pd.isna(row["registered"]) else bool(row["registered"])) is registered
    assert (None if pd.isna(row["resident"]) else bool(row["resident"])) is resident


def test_population_type_conflicting_with_explicit_columns_warns_and_keeps_the_column(tmp_path: Path) -> None:
    result = elders(tmp_path, ["出生年份", "人口类型", "本地户籍", "常住", "社区代码"], [
        [1950, "人户分离", "是", "否", "110199001001"],   # 2: agrees
        [1950, "外来", "是", "", "110199001001"],         # 3: says not registered, column says registered
        [1950, "户籍常住", "", "否", "110199001001"],     # 4: says resident, column says not
    ])
    assert result.ok and result.n_imported == 3
    good = result.good.set_index("source_row")
    assert (bool(good.loc[3, "registered"]), bool(good.loc[3, "resident"])) == (True, True)
    assert (bool(good.loc[4, "registered"]), bool(good.loc[4, "resident"])) == (True, False)
    assert problems_of(result, 2).empty
    three, four = problems_of(result, 3), problems_of(result, 4)
    assert list(three["字段"]) == ["本地户籍"] and list(three["级别"]) == [WARNING]
    assert "与人口类型“外来”不一致" in three["问题"].iat[0] and "已按“本地户籍”列" in three["问题"].iat[0]
    assert list(four["字段"]) == ["常住"] and "“户籍常住”意为常住：是" in four["问题"].iat[0]


def test_unknown_population_type_is_a_row_error(tmp_path: Path) -> None:
    result = elders(tmp_path, ["出生年份", "人口类型", "社区代码"], [[1950, "暂住", "110199001001"]])
    hit = problems_of(result, 2)
    assert result.n_rejected == 1 and list(hit["字段"]) == ["人口类型"]
    assert "不是允许的取值（允许：户籍、本地户籍" in hit["问题"].iat[0]


# --------------------------------------------------------------------------
# 残疾等级, 特殊群体
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "grade"), [
    ("一级", "一级"), ("二级", "二级"), ("1", "一级"), ("2", "二级"), ("３", "三级"), ("四", "四级"), ("2级", "二级"),
    ("残疾三级", "三级"), ("一级残疾", "一级"), ("", None),
])
def test_disability_grade_aliases(tmp_path: Path, text: str, grade: str | None) -> None:
    result = elders(tmp_path, ["出生年份", "残疾等级", "社区代码"], [[1950, text, "110199001001"]])
    assert result.ok, result.problems.to_string()
    assert str(result.good["disability_grade"].dtype) == "string"
    value = result.good["disability_grade"].iat[0]
    assert (pd.isna(value) if grade is None else value == grade)


@pytest.mark.parametrize("text", ["五级", "0", "重度", "5"])
def test_bad_disability_grade_is_a_row_error(tmp_path: Path, text: str) -> None:
    result = elders(tmp_path, ["出生年份", "残疾等级", "社区代码"], [[1950, text, "110199001001"]])
    hit = problems_of(result, 2)
    assert result.n_rejected == 1 and list(hit["字段"]) == ["残疾等级"]
    assert "允许：一级、二级、三级、四级" in hit["问题"].iat[0]


def test_group_aliases_map_silently_and_only_unknown_groups_warn(tmp_path: Path) -> None:
    result = elders(tmp_path, ["出生年份", "特殊群体", "社区代码"], [
        [1950, "低边、失独、特困供养", "110199001001"],
        [1950, "低保/低收入；独居老人", "110199001001"],
        [1950, "高龄、空巢", "110199001001"],          # 高龄 is computed, not read: dropped without a warning
        [1950, "优抚，唱歌、重残", "110199001001"],
    ], encoding="gbk")
    groups = result.good.set_index("source_row")["groups"]
    assert groups[2] == ["低收入", "计划生育特殊家庭", "特困"]
    assert groups[3] == ["低保", "低收入", "独居"]
    assert groups[4] == ["空巢"]
    assert groups[5] == ["优抚对象", "重度残疾"]
    assert result.problems["行号"].tolist() == ["5"]
    warning = result.problems.iloc[0]
    assert warning["级别"] == WARNING and warning["问题"].startswith("未知标签“唱歌”已忽略")


# --------------------------------------------------------------------------
# Pass-through columns and their dtypes (the stored-layer contract)
# --------------------------------------------------------------------------

def test_elder_columns_follow_the_contract(tmp_path: Path) -> None:
    number = rid("41010219400512123")  # born 1940-05-12; the 17th digit (3) is odd: 男
    result = elders(tmp_path, ["身份证号", "残疾等级", "失智", "人口类型", "所属区县", "所属街道", "所属社区", "经度", "纬度"],
                    [[number, "2", "是", "人户分离", "中原区", "绿东村街道", "建设路社区", "24.94", "60.17"]],
                    name="elders.xlsx")
    assert result.ok, result.problems.to_string()
    row = result.good.iloc[0]
    assert (row["birth_year"], row["birth_month"], row["sex"]) == (1940, 5, "男")
    assert (row["disability_grade"], bool(row["dementia"]), bool(row["registered"]), bool(row["resident"])) == (
        "二级", True, True, False)
    assert (row["district_name"], row["street_name"], row["community_name"]) == ("中原区", "绿东村街道", "建设路社区")
    dtypes = result.good.dtypes.astype(str).to_dict()
    assert {k: dtypes[k] for k in ("birth_year", "birth_month", "disability_grade", "dementia", "registered",
                                   "resident", "district_name", "street_name", "community_name", "oldest_old")} == {
        "birth_year": "Int64", "birth_month": "Int64", "disability_grade": "string", "dementia": "boolean",
        "registered": "boolean", "resident": "boolean", "district_name": "string", "street_name": "string",
        "community_name": "string", "oldest_old": "boolean"}
    assert set(result.good.columns).isdisjoint({"population_type", "date_month", "id_number", "source_id"})


def test_facility_names_and_service_area_pass_through(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "fac.csv",
                     ["名称", "类型", "服务区域", "所属区县", "所属街道", "所属居委会", "经度", "纬度"],
                     [["安康居家服务社", "居家上门服务商", "建设路社区、绿东村街道", "中原区", "绿东村街道", "", 24.94, 60.17],
                      ["议会养老服务站", "养老服务站", "", "", "410102001", "建设路社区", 24.941, 60.171]],
                     encoding="gbk")
    result = validate_table(path, "facilities", settings=Settings(), today=TODAY)
    assert result.ok, result.problems.to_string()
    good = result.good
    assert good["service_area"].tolist()[0] == "建设路社区、绿东村街道" and pd.isna(good["service_area"].iat[1])
    assert good["district_name"].tolist()[0] == "中原区" and pd.isna(good["district_name"].iat[1])
    assert good["street_name"].tolist() == ["绿东村街道", "410102001"]  # a code in a name column is kept as written
    assert pd.isna(good["community_name"].iat[0]) and good["community_name"].iat[1] == "建设路社区"
    for name in ("service_area", "district_name", "street_name", "community_name"):
        assert str(good[name].dtype) == "string"


@pytest.mark.parametrize(("text", "kind"), [
    ("居委会", "居委会"), ("村委会", "村委会"), ("社区", "居委会"), ("村", "村委会"), ("居民委员会", "居委会"),
    ("行政村", "村委会"), ("", None),
])
def test_community_type_aliases(tmp_path: Path, text: str, kind: str | None) -> None:
    path = write_csv(tmp_path / "list.csv", ["社区代码", "名称", "村居类型", "上级名称", "常住人口"],
                     [["410102001001", "建设路社区", text, "绿东村街道", "5200"]])
    result = validate_table(path, "areas", settings=Settings(), today=TODAY)
    assert result.ok, result.problems.to_string()
    value = result.good["community_type"].iat[0]
    assert pd.isna(value) if kind is None else value == kind


def test_community_list_without_geometry_keeps_the_contract_columns(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "社区名单.xlsx", ["社区代码", "社区名称", "类型", "所属街道", "户籍人口", "常住人口"], [
        ["410102001001", "建设路社区", "社区", "绿东村街道", 5200, 6100],
        ["410102001201", "西岗村", "村委会", "绿东村街道", 1800, None],
        ["410102001", "绿东村街道", "居委会", "中原区", None, None],   # a type on a street: warned, dropped
        ["410102001002", "桐柏路社区", "街道办", "绿东村街道", None, None],  # not a type: error
    ])
    result = validate_table(path, "areas", settings=Settings(), today=TODAY)
    good = result.good.set_index("code")
    assert list(good.index) == ["410102001001", "410102001201", "410102001"]
    assert good["community_type"].tolist()[:2] == ["居委会", "村委会"]
    assert pd.isna(good.loc["410102001", "community_type"])
    assert good["parent_name"].tolist() == ["绿东村街道", "绿东村街道", "中原区"]
    assert good.loc["410102001001", "resident_population"] == 6100
    assert pd.isna(good.loc["410102001201", "resident_population"])
    assert str(good["resident_population"].dtype) == "Int64" and str(good["community_type"].dtype) == "string"
    assert good.geometry.isna().all() and result.good.crs.to_epsg() == 4326
    street = problems_of(result, 4)
    assert list(street["级别"]) == [WARNING] and "村居类型只适用于社区" in street["问题"].iat[0]
    bad = problems_of(result, 5)
    assert list(bad["级别"]) == [ERROR] and list(bad["字段"]) == ["村居类型"]
    assert "允许：居委会、村委会" in bad["问题"].iat[0]


def test_area_geojson_carries_the_new_columns(tmp_path: Path) -> None:
    square = [[[24.93, 60.16], [24.94, 60.16], [24.94, 60.17], [24.93, 60.17], [24.93, 60.16]]]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"区划代码": "110199001201", "名称": "某村", "村居类型": "村",
                                           "常住人口": 900, "上级名称": "某镇"},
         "geometry": {"type": "Polygon", "coordinates": square}}]}
    (tmp_path / "a.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    result = validate_table(tmp_path / "a.geojson", "areas", settings=Settings(), today=TODAY)
    assert result.ok, result.problems.to_string()
    row = result.good.iloc[0]
    assert (row["community_type"], row["resident_population"], row["parent_name"]) == ("村委会", 900, "某镇")
    assert row.geometry.area == pytest.approx(0.0001)


def test_cli_validate_computes_ages_at_the_statistics_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import eldermap

    path = write_csv(tmp_path / "老人.csv", ["老人编号", "出生日期", "社区代码"], [["A1", "1966-12-05", "110199001001"]])
    common = ["--regions", str(tmp_path / "regions"), "validate", "elders", str(path), "--out", str(tmp_path / "r")]
    assert eldermap.main([*common, "--date", "2026-11-23"]) == 1  # 59 周岁 on that day
    assert "计未满 60 周岁" in capsys.readouterr().out
    assert eldermap.main([*common, "--date", "2026-12-31"]) == 0  # 60 at the annex's date
    assert eldermap.main([*common, "--date", "2026-13-01"]) == 2
    assert "统计日期“2026-13-01”无效" in capsys.readouterr().err


def test_an_elder_without_coordinates_is_kept_when_a_code_or_name_places_them(tmp_path: Path) -> None:
    result = elders(tmp_path, ["出生年份", "所属区县", "所属街道", "所属社区", "街道代码", "经度", "纬度"], [
        [1950, "", "", "建设路社区", "", "", ""],        # 2: a community name
        [1950, "", "绿东村街道", "", "", "", ""],         # 3: a street name
        [1950, "", "", "", "410102001", "", ""],          # 4: a street code
        [1950, "中原区", "", "", "", "", ""],             # 5: a district name
        [1950, "", "", "", "", "", ""],                   # 6: nothing at all
    ])
    assert sorted(result.good["source_row"]) == [2, 3, 4, 5]
    assert result.rejects["行号"].tolist() == [6]
    assert problems_of(result, 6)["问题"].tolist() == ["缺少经纬度，也没有所属区县、街道或社区（代码或名称），无法归属到任何区域"]
