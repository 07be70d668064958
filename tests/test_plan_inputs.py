"""Planners' own input files (data.plan_inputs): candidate sites, exclusion areas, lists of new facilities."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from data.plan_inputs import add_changes_from_file, read_candidates, read_exclusions
from geo.errors import InputFileError


def test_new_facilities_from_a_gbk_csv(tmp_path: Path) -> None:
    path = tmp_path / "新增设施.csv"
    path.write_bytes("编号,名称,类型,经度,纬度,床位\n,甲日照,日间照料中心,24.94,60.17,20\nN9,乙助餐点,助餐点,24.95,60.168,\n"
                     .encode("gbk"))
    changes = add_changes_from_file(path)
    assert [c["id"] for c in changes] == ["N1", "N9"]  # no id: N<row>
    assert [c["_row"] for c in changes] == [2, 3]  # spreadsheet rows, for error messages
    assert changes[0]["kind"] == "日间照料中心" and float(changes[0]["lon"]) == 24.94
    assert "beds_total" not in changes[1]  # an empty cell is not a value


def test_candidates_from_csv_and_geojson(tmp_path: Path) -> None:
    csv = tmp_path / "候选点.csv"
    csv.write_text("名称,经度,纬度\n空置校舍,24.94,60.17\n无坐标,,\n", encoding="utf-8")
    found = read_candidates(csv)
    assert list(found["candidate_id"]) == ["空置校舍"] and found.crs == "EPSG:4326"  # the row without coordinates skipped
    geojson = tmp_path / "候选点.geojson"
    gpd.GeoDataFrame({"id": ["A"]}, geometry=[shapely.box(0, 0, 2, 2)], crs=4326).to_file(geojson)
    found = read_candidates(geojson)
    assert found.geometry.iloc[0].equals(shapely.Point(1, 1))  # polygons become their centroids


def test_candidates_carry_their_places_for_capacitated_siting(tmp_path: Path) -> None:
    csv = tmp_path / "候选点.csv"
    csv.write_text("名称,经度,纬度,床位数\n甲,24.94,60.17,30\n无坐标,,,abc\n乙,24.95,60.17,\n", encoding="utf-8")
    found = read_candidates(csv)
    assert list(found["candidate_id"]) == ["甲", "乙"]
    assert found["capacity_places"].iloc[0] == 30.0 and np.isnan(found["capacity_places"].iloc[1])  # empty: default
    assert "capacity_places" not in read_candidates(tmp_path.joinpath("x.csv").write_text(
        "名称,经度,纬度\n甲,24.94,60.17\n", encoding="utf-8") and tmp_path / "x.csv")
    csv.write_text("候选点清单\n名称,经度,纬度,床位数\n甲,24.94,60.17,30\n乙,24.95,60.17,-5\n丙,24.95,60.17,很多\n",
                   encoding="utf-8")  # a title row: the rows named are the spreadsheet's
    with pytest.raises(InputFileError, match="“床位数”列应为正数.*第 4 行（-5）、第 5 行（很多）"):
        read_candidates(csv)
    geojson = tmp_path / "候选点.geojson"
    gpd.GeoDataFrame({"id": ["A", "B"], "名额": [20, None]}, geometry=[shapely.Point(0, 0), shapely.Point(1, 1)],
                     crs=4326).to_file(geojson)
    assert read_candidates(geojson)["capacity_places"].fillna(-1).tolist() == [20.0, -1]


def test_candidates_without_coordinates_are_refused(tmp_path: Path) -> None:
    csv = tmp_path / "候选点.csv"
    csv.write_text("名称,地址\n空置校舍,东风路1号\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="缺少“经度”“纬度”两列"):
        read_candidates(csv)


def test_exclusions_need_a_crs(tmp_path: Path) -> None:
    good = tmp_path / "排除区域.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1000, 1000)], crs=32650).to_file(good)
    assert read_exclusions(good).crs == "EPSG:4326"
    with pytest.raises(InputFileError, match="无法读取排除区域文件"):
        read_exclusions(tmp_path / "missing.geojson")
