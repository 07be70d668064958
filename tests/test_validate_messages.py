"""Issue 13: validation messages say what is actually wrong, quote the user's cells, and the rejects
file says what it is (and, for facilities, imports once corrected).

Files are written in tmp_path as staff send them; expected texts are written out by hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

from data.validate import (
    ERROR,
    REJECTS_NOTE_ELDERS,
    REJECTS_NOTE_REIMPORT,
    validate_table,
    write_report,
)
from geo import coords
from geo.settings import Settings

TODAY = dt.date(2026, 11, 23)
SALT = b"s" * 32
URUMQI = (87.40, 43.60, 87.80, 44.00)
"""A region west of 90°E: a swapped point there has a latitude in range (87.6), the case the old message got wrong."""
ZHENGZHOU = (113.50, 34.60, 113.80, 34.90)
HEADER = ["名称", "类型", "经度", "纬度"]


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(out.getvalue().encode("utf-8"))
    return path


def facilities(tmp_path: Path, rows: list[list[object]], *, name: str = "设施.csv", **kwargs: object):
    path = write_csv(tmp_path / name, HEADER, rows)
    return validate_table(path, "facilities", settings=Settings(), today=TODAY, **kwargs)


def problems_of(result, row: int) -> pd.DataFrame:
    return result.problems[result.problems["行号"] == str(row)]


URUMQI_ROWS = [["甲站", "养老服务站", "87.61", "43.82"], ["乙站", "养老服务站", "87.55", "43.79"],
               ["丙站", "养老服务站", "87.66", "43.85"], ["丁站", "养老服务站", "87.58", "43.88"]]


# 1. swapped longitude/latitude ------------------------------------------------------------------------------

def test_swap_with_a_region_names_the_swap_not_a_latitude_range(tmp_path: Path) -> None:
    result = facilities(tmp_path, [*URUMQI_ROWS, ["戊站", "养老服务站", "43.81", "87.62"]], region_extent=URUMQI)
    assert result.n_imported == 4 and result.n_rejected == 1
    hit = problems_of(result, 6)
    assert list(hit["字段"]) == ["经纬度"] and list(hit["值"]) == ["43.81,87.62"]
    reason = hit["问题"].iat[0]
    assert reason.startswith("经度 43.81、纬度 87.62：经纬度可能填反了") and "本地区范围内" in reason
    assert "±90" not in reason and "超出" not in reason
    assert "位于本地区范围之外" not in " ".join(result.problems["问题"])  # one problem, the right one


def test_swap_without_a_region_found_from_the_files_own_extent(tmp_path: Path) -> None:
    result = facilities(tmp_path, [*URUMQI_ROWS, ["戊站", "养老服务站", "43.81", "87.62"]])
    hit = problems_of(result, 6)
    assert list(hit["值"]) == ["43.81,87.62"]
    assert "经纬度可能填反了（交换后正好落在本文件其他大多数点所在的范围内）" in hit["问题"].iat[0]
    assert result.n_imported == 4


def test_swap_without_a_region_in_a_one_row_file_found_from_chinas_box(tmp_path: Path) -> None:
    result = facilities(tmp_path, [["戊站", "养老服务站", "43.81", "87.62"]])
    assert result.n_imported == 0
    assert "经度 43.81、纬度 87.62：经纬度可能填反了（交换后正好落在中国境内）" in problems_of(result, 2)["问题"].iat[0]


def test_swap_with_an_impossible_latitude_says_so(tmp_path: Path) -> None:
    result = facilities(tmp_path, [["甲", "养老服务站", "39.9", "116.4"]])
    reason = problems_of(result, 2)["问题"].iat[0]
    assert reason.startswith("经度 39.9、纬度 116.4：经纬度可能填反了（纬度不可能超过 90°")


def test_good_positions_are_never_taken_for_swaps(tmp_path: Path) -> None:
    # Zhengzhou and Urumqi in one file: no majority place, nothing swapped; all import without a region
    rows = [*URUMQI_ROWS, ["郑一", "养老服务站", "113.65", "34.75"], ["郑二", "养老服务站", "113.70", "34.80"]]
    result = facilities(tmp_path, rows)
    assert result.n_imported == 6 and result.problems.empty


def test_data_extent_rule_needs_a_majority_in_one_place() -> None:
    lon = np.array([87.61, 87.55, 87.66, 43.81, 10.0, np.nan])
    lat = np.array([43.82, 43.79, 43.85, 87.62, 50.0, np.nan])
    assert coords.swapped_into_data_extent(lon, lat).tolist() == [False, False, False, True, False, False]
    spread = coords.swapped_into_data_extent([87.6, 43.8, 10.0, 120.0], [43.8, 87.6, 50.0, 30.0])
    assert not spread.any()  # half the points nowhere near each other: no extent of the data to trust


# 2. GCJ-02 / BD-09 files quote the cell as written ----------------------------------------------------------

def test_gcj02_outside_region_quotes_the_written_value(tmp_path: Path) -> None:
    rows = [["甲站", "养老服务站", "113.65", "34.75"], ["乙站", "养老服务站", "114.123456", "35.654321"]]
    result = facilities(tmp_path, rows, crs="gcj02", region_extent=ZHENGZHOU)
    hit = problems_of(result, 3)
    assert list(hit["值"]) == ["114.123456,35.654321"]
    assert "按 GCJ-02 换算为 WGS-84 后为" in hit["问题"].iat[0] and "位于本地区范围之外" in hit["问题"].iat[0]
    wgs_lon, _ = coords.to_wgs84(114.123456, 35.654321, "gcj02")
    assert f"{float(wgs_lon):.6f}" != "114.123456"  # the converted value really differs from the cell


def test_bd09_swap_quotes_the_written_value(tmp_path: Path) -> None:
    result = facilities(tmp_path, [["甲", "养老服务站", "34.7512", "113.6534"]], crs="bd09",
                        region_extent=ZHENGZHOU)
    hit = problems_of(result, 2)
    assert list(hit["值"]) == ["34.7512,113.6534"]
    assert hit["问题"].iat[0].startswith("经度 34.7512、纬度 113.6534：经纬度可能填反了")


# 3. yes/no never shown as True/False ------------------------------------------------------------------------

def test_rejects_show_yes_no_for_booleans(tmp_path: Path) -> None:
    path = tmp_path / "elders.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["老人编号", "出生年份", "失智", "社区代码"])
    sheet.append(["A1", 1950, True, "110199001001"])
    sheet.append(["A2", "不详", False, "110199001001"])  # bad birth year: rejected
    sheet.append(["A3", "也不详", "true", "110199001001"])
    book.save(path)
    result = validate_table(path, "elders", settings=Settings(), salt=SALT, today=TODAY)
    assert result.n_rejected == 2
    assert result.rejects["失智"].tolist() == ["否", "是"]
    report, rejects = write_report(result, tmp_path / "r.xlsx")
    for file in (report, rejects):
        for ws in openpyxl.load_workbook(file).worksheets:
            cells = {str(c) for row in ws.iter_rows(values_only=True) for c in row if c is not None}
            assert not cells & {"True", "False", "TRUE", "FALSE", "true", "false"}, (file, ws.title)


def test_unknown_yes_no_value_lists_chinese_answers(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["老人编号", "出生年份", "失智", "社区代码"],
                     [["A1", "1950", "也许", "110199001001"]])
    result = validate_table(path, "elders", settings=Settings(), salt=SALT, today=TODAY)
    reason = result.problems["问题"].iat[0]
    assert reason.startswith("不是允许的取值（允许：是、否") and "true" not in reason.lower()


# 4. a duplicate ID is reported even on a row with another error ---------------------------------------------

def test_duplicate_id_listed_beside_another_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", ["机构编号", *HEADER],
                     [["F1", "甲站", "养老服务站", "113.65", "34.75"],
                      ["F1", "乙站", "不知道", "113.66", "34.76"]])  # unknown kind AND the same ID
    result = validate_table(path, "facilities", settings=Settings(), today=TODAY)
    hit = problems_of(result, 3)
    assert set(hit["字段"]) == {"类型", "机构编号"}
    assert "与第 2 行重复" in " ".join(hit["问题"])
    assert "机构编号：与第 2 行重复" in result.rejects["拒绝原因"].iat[0]
    assert result.n_imported == 1


def test_duplicate_elder_listed_beside_another_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["老人编号", "出生年份", "社区代码"],
                     [["A1", "1950", "110199001001"], ["A1", "不详", "110199001001"]])
    result = validate_table(path, "elders", settings=Settings(), salt=SALT, today=TODAY)
    hit = problems_of(result, 3)
    assert set(hit["字段"]) == {"出生年份", "老人"} and (hit["级别"] == ERROR).all()
    assert "A1" not in " ".join(result.problems["值"])  # the identifier stays masked


def test_rows_without_written_ids_are_not_duplicates(tmp_path: Path) -> None:
    # two rejected rows, same name, no position: their derived IDs would match; nothing was written twice
    result = facilities(tmp_path, [["甲站", "不知道", "", ""], ["甲站", "不知道", "", ""]])
    assert "机构编号" not in set(result.problems["字段"])


# 5. the rejects file says what it is; facilities' imports once corrected -----------------------------------

def test_elder_rejects_are_a_list_to_correct_the_original_by(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["老人编号", "出生年份", "社区代码"],
                     [["A1", "1950", "110199001001"], ["A2", "不详", "110199001001"]])
    result = validate_table(path, "elders", settings=Settings(), salt=SALT, today=TODAY)
    assert result.rejects_note_zh() == REJECTS_NOTE_ELDERS
    assert result.summary_zh().endswith("拒绝行清单仅供对照原文件改正（个人信息已遮盖），请在原文件中改正后重新导入")
    report, _ = write_report(result, tmp_path / "r.xlsx")
    summary = pd.read_excel(report, sheet_name="汇总", dtype=str)
    assert summary.set_index("项目").at["拒绝行清单", "值"] == REJECTS_NOTE_ELDERS


def test_no_note_without_rejects(tmp_path: Path) -> None:
    result = facilities(tmp_path, URUMQI_ROWS)
    assert result.rejects_note_zh() == "" and "拒绝行清单" not in result.summary_zh()


def test_corrected_facility_rejects_file_imports(tmp_path: Path) -> None:
    rows = [["甲站", "养老服务站", "113.65", "34.75"], ["乙站", "不知道", "113.66", "34.76"],
            ["丙站", "养老服务站", "-113.67", "34.77"]]
    result = facilities(tmp_path, rows, region_extent=ZHENGZHOU)
    assert result.n_rejected == 2 and result.rejects_note_zh() == REJECTS_NOTE_REIMPORT
    assert "改正后可直接导入本文件" in result.summary_zh()
    _, rejects_path = write_report(result, tmp_path / "报告.xlsx")
    assert rejects_path is not None
    book = openpyxl.load_workbook(rejects_path)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["行号", *HEADER] and header[-1] == "拒绝原因"
    kind_col, lon_col = header.index("类型") + 1, header.index("经度") + 1
    sheet.cell(row=2, column=kind_col, value="养老服务站")  # the staff member corrects each cell
    sheet.cell(row=3, column=lon_col, value="113.67")
    book.save(rejects_path)
    again = validate_table(rejects_path, "facilities", settings=Settings(), today=TODAY, region_extent=ZHENGZHOU)
    assert again.n_read == 2 and again.n_imported == 2 and again.problems.empty  # 行号/拒绝原因: no warning
    assert again.good["name"].tolist() == ["乙站", "丙站"]
    assert again.good.geometry.x.round(2).tolist() == [113.66, 113.67]


def test_uncorrected_facility_rejects_file_is_rejected_the_same_way(tmp_path: Path) -> None:
    result = facilities(tmp_path, [["乙站", "不知道", "113.66", "34.76"]])
    _, rejects_path = write_report(result, tmp_path / "报告.csv")
    assert rejects_path is not None
    again = validate_table(rejects_path, "facilities", settings=Settings(), today=TODAY)
    assert again.n_rejected == 1 and list(again.problems["字段"]) == ["类型"]


# elders' homes ------------------------------------------------------------------------------------------------


def test_elder_coordinates_in_problems_are_cut_to_about_a_kilometre(tmp_path: Path) -> None:
    """A swap is still visible, the house is not: 2 decimals in the value and in the reason; facilities keep theirs."""
    path = write_csv(tmp_path / "老人.csv", ["身份证号", "姓名", "出生年月", "经度", "纬度"],
                     [["11010519450101001X", "张三", "1945-01", "34.751234", "113.651234"]])
    result = validate_table(path, "elders", settings=Settings(), today=TODAY, salt=SALT, region_extent=ZHENGZHOU)
    shown = problems_of(result, 2)
    place = shown[shown["字段"] == "经纬度"]
    assert len(place) == 1 and "填反" in place["问题"].iloc[0]
    text = " ".join(place["值"].tolist() + place["问题"].tolist())
    assert "34.75" in text and "113.65" in text
    assert "751234" not in text and "651234" not in text and "34.751" not in text
    kept = facilities(tmp_path, [["甲站", "养老服务站", "34.751234", "113.651234"]], region_extent=ZHENGZHOU)
    assert "34.751234" in " ".join(problems_of(kept, 2)["值"].tolist() + problems_of(kept, 2)["问题"].tolist())
