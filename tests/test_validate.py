"""Validation of staff files: each invalid fixture paired with the problems it must produce."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.ids import new_salt
from data.validate import ERROR, WARNING, validate_table, write_report
from geo.coords import haversine_m, wgs84_to_gcj02
from geo.errors import InputFileError, NoCrsError
from geo.settings import Settings

HERE = Path(__file__).parent / "fixtures" / "validation"
HELSINKI_EXTENT = (24.9351837, 60.1641581, 24.9534132, 60.1791074)
TODAY = dt.date(2026, 11, 23)
SALT = b"s" * 32
TABLE_OF = {"facilities": "facilities", "elders": "elders", "areas": "areas"}


def _validate(name: str, **kwargs):
    table = name.split("_")[0]
    kwargs.setdefault("region_extent", HELSINKI_EXTENT)
    return validate_table(HERE / name, table, settings=Settings(), salt=SALT, today=TODAY, **kwargs)


def _expected() -> list[dict[str, str]]:
    with (HERE / "expected_problems.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("case", _expected(), ids=lambda c: f"{c['file']}:{c['row']}:{c['field']}")
def test_invalid_row_produces_its_message(case: dict[str, str]) -> None:
    problems = _validate(case["file"]).problems
    hits = problems[(problems["行号"] == case["row"]) & (problems["字段"] == case["field"])]
    assert not hits.empty, f"no problem reported for {case}; got\n{problems.to_string()}"
    assert (hits["级别"] == case["level"]).any()
    assert hits["问题"].str.contains(case["message"], regex=False).any(), hits["问题"].tolist()
    assert (hits["文件"] == case["file"]).all()


@pytest.mark.parametrize("name", sorted({c["file"] for c in _expected()}))
def test_only_expected_rows_are_rejected(name: str) -> None:
    result = _validate(name)
    expected_rows = {int(c["row"]) for c in _expected() if c["file"] == name and c["level"] == ERROR}
    assert set(result.rejects["行号"].astype(int)) == expected_rows
    assert result.n_read == result.n_imported + result.n_rejected
    assert set(result.good["source_row"]) .isdisjoint(expected_rows)


def test_good_rows_survive_bad_ones() -> None:
    result = _validate("facilities_bad_rows.csv")
    assert sorted(result.good["id"]) == ["H001", "H002", "H021"]
    h021 = result.good.set_index("id").loc["H021"]
    assert h021["services"] == ["助餐"]  # unknown tag dropped, row kept
    h002 = result.good.set_index("id").loc["H002"]
    assert h002["kind"] == "养老机构" and h002["grade"] == 4
    assert (h002["price_min_yuan_month"], h002["price_max_yuan_month"]) == (3500.0, 6800.0)
    assert h002["services"] == ["长期托养", "康复护理", "医养结合"]
    assert h002["community_code"] == "110199001002" and h002["street_code"] == "110199001"
    assert h002["district_code"] == "110199"
    assert isinstance(h002["h3"], str) and len(h002["h3"]) == 15


def test_valid_file_has_no_problems_and_derives_missing_codes() -> None:
    result = _validate("facilities_valid.csv")
    assert result.ok and result.problems.empty
    assert list(result.good["id"]) == ["H001", "H002", "H003"]
    assert result.good.crs.to_epsg() == 4326
    assert result.good.set_index("id").loc["H003", "kind"] == "助餐点"  # 长者饭堂 alias


def test_gbk_csv_with_chinese_headers_and_gcj02_coordinates_imports_correctly() -> None:
    result = validate_table(HERE / "facilities_gbk_gcj02.csv", "facilities", settings=Settings(), crs="gcj02",
                            today=TODAY)
    assert result.source["encoding"] in {"gbk", "gb18030", "gb2312"}
    assert result.ok and result.n_imported == 3
    truth = pd.read_csv(HERE / "facilities_gbk_gcj02_truth_wgs84.csv").set_index("id")
    good = result.good.set_index("id")
    err = haversine_m(good["lon"], good["lat"], truth.loc[good.index, "lon"], truth.loc[good.index, "lat"])
    assert np.all(err < 1.0), err
    # declared as WGS-84 the same rows land several hundred metres away: the declaration matters
    wrong = validate_table(HERE / "facilities_gbk_gcj02.csv", "facilities", settings=Settings(), today=TODAY)
    off = haversine_m(wrong.good["lon"], wrong.good["lat"], truth["lon"], truth["lat"])
    assert np.all(off > 100)
    assert list(good["name"]) == ["郑州市中原区第一养老院", "绿东村街道日间照料中心", "建设路长者饭堂"]


def test_missing_required_columns_raise_naming_file_and_columns() -> None:
    with pytest.raises(InputFileError, match=r"facilities_missing_columns\.csv 缺少必填列：名称、类型"):
        _validate("facilities_missing_columns.csv")


def test_projected_geojson_without_crs_is_refused_naming_web_mercator() -> None:
    # Until issue 11 this file gave one row error ("像是投影坐标"); now the whole file is refused.
    with pytest.raises(InputFileError, match=r"facilities_projected\.geojson 的坐标像是投影坐标.*EPSG:3857.*落在本地区附近"):
        _validate("facilities_projected.geojson")


def test_geo_file_without_crs_raises_unless_declared() -> None:
    with pytest.raises(NoCrsError, match=r"facilities_no_prj\.shp 含几何图形但没有坐标系信息"):
        _validate("facilities_no_prj.shp")
    declared = _validate("facilities_no_prj.shp", crs="wgs84")
    assert declared.ok and declared.good["name"].tolist() == ["无坐标系服务站"]


def test_elders_are_pseudonymised_and_personal_fields_dropped() -> None:
    result = _validate("elders_gbk.csv")
    good = result.good
    assert len(good) == 3
    assert set(good.columns).isdisjoint({"id_number", "name", "address", "source_id", "age"})
    assert good["pid"].str.fullmatch(r"P[0-9a-f]{20}").all()
    dump = good.drop(columns="geometry").to_csv() + result.rejects.to_csv() + result.problems.to_csv()
    for secret in ("11010519491231002X", "张三", "李四", "某街1号", "410102193805121230"):
        assert secret not in dump
    row = good.set_index("birth_year").loc[1938]
    assert row["sex"] == "男" and row["ability_level"] == "中度失能" and row["ability_code"] == 2
    assert row["groups"] == ["特困", "空巢"] and bool(row["oldest_old"])
    code_only = good[good["geometry"].isna()]
    assert list(code_only["community_code"]) == ["110199001003"]
    # same person, same salt -> same pseudonym; another salt -> another pseudonym
    again = _validate("elders_gbk.csv")
    assert list(again.good["pid"]) == list(good["pid"])
    other = validate_table(HERE / "elders_gbk.csv", "elders", settings=Settings(), salt=new_salt(), today=TODAY)
    assert set(other.good["pid"]).isdisjoint(good["pid"])


def test_report_and_rejects_written_and_read_back(tmp_path: Path) -> None:
    result = _validate("facilities_bad_rows.csv")
    report, rejects = write_report(result, tmp_path / "报告.xlsx")
    sheets = pd.read_excel(report, sheet_name=None, dtype=str)
    assert set(sheets) == {"问题清单", "汇总"}
    assert list(sheets["问题清单"].columns) == ["文件", "行号", "字段", "值", "问题", "级别"]
    assert len(sheets["问题清单"]) == len(result.problems)
    summary = dict(zip(sheets["汇总"]["项目"], sheets["汇总"]["值"], strict=True))
    assert summary["读取行数"] == "16" and summary["可导入行数"] == "3" and summary["拒绝行数"] == "13"
    back = pd.read_excel(rejects, dtype=str)
    assert "机构名称" in back.columns and "拒绝原因" in back.columns  # original headers, ready to fix
    assert sorted(back["行号"].astype(int)) == sorted(result.rejects["行号"].astype(int))
    csv_report, _ = write_report(result, tmp_path / "报告.csv")
    assert csv_report.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM so Excel reads UTF-8


def test_mislabelled_gcj02_file_is_detected(tmp_path: Path, zhengzhou_osm) -> None:
    from geo.osm import load_roads

    osm_path, lon, lat = zhengzhou_osm
    _, edges = load_roads(osm_path)
    glon, glat = wgs84_to_gcj02(lon, lat)
    with (tmp_path / "amap.csv").open("w", encoding="utf-8") as f:
        f.write("名称,类型,经度,纬度\n")
        for k, (x, y) in enumerate(zip(glon, glat, strict=True)):
            f.write(f"助餐点{k},助餐点,{x:.7f},{y:.7f}\n")
    mislabelled = validate_table(tmp_path / "amap.csv", "facilities", settings=Settings(), roads=edges)
    warnings = mislabelled.problems[mislabelled.problems["字段"] == "坐标系"]
    assert len(warnings) == 1 and (warnings["级别"] == WARNING).all()
    assert "GCJ-02" in warnings["问题"].iat[0] and "gcj02" in warnings["问题"].iat[0]
    assert mislabelled.n_imported == 12  # a warning never drops rows
    declared = validate_table(tmp_path / "amap.csv", "facilities", settings=Settings(), roads=edges, crs="gcj02")
    assert declared.problems.empty
