"""Bad input that used to pass silently (issue 11), each treated as a class and tested in several variants.

Placeholder coordinates, projected metres without a CRS, self-intersecting polygons, files with a header and
no rows, overlong text, and where ``eldermap validate`` writes its report. Every message names the file, the
row, the field, the value and the reason; good rows are kept. Expected values are written out by hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyproj
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping

import eldermap
from data import validate as validate_module
from data.validate import ERROR, WARNING, crs_name_zh, validate_table, write_report
from geo.coords import haversine_m
from geo.errors import InputFileError
from geo.settings import Settings

TODAY = dt.date(2026, 11, 23)
SALT = b"s" * 32
HELSINKI = (24.9351837, 60.1641581, 24.9534132, 60.1791074)
ZHENGZHOU = (113.60, 34.73, 113.64, 34.77)
BEIJING = (116.38, 39.88, 116.42, 39.92)
FIX = Path(__file__).parent / "fixtures" / "validation"


def write_csv(path: Path, header: list[str], rows: list[list[object]], *, encoding: str = "utf-8") -> Path:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    for row in [header, *rows]:
        book.active.append(row)
    book.save(path)
    return path


def write_geojson(path: Path, features: list[tuple[dict, object]], *, crs: str | None = None) -> Path:
    fc: dict = {"type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": props, "geometry": None if g is None else mapping(g)}
                             for props, g in features]}
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def run(path: Path, table: str, **kwargs: object):
    return validate_table(path, table, settings=kwargs.pop("settings", Settings()), salt=SALT, today=TODAY,
                          **kwargs)


def rows_of(result, row: int) -> pd.DataFrame:
    return result.problems[result.problems["行号"] == str(row)]


def project(lon: float, lat: float, epsg: int) -> tuple[float, float]:
    return pyproj.Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)


# --------------------------------------------------------------------------
# Placeholder coordinates
# --------------------------------------------------------------------------

GOOD_FACILITIES = [["议会社区养老服务站", "养老服务站", "24.9386", "60.1699"],
                   ["码头长者饭堂", "助餐点", "24.9510", "60.1675"]]


@pytest.mark.parametrize(("lon", "lat", "why"), [
    ("0", "0", "经度或纬度为 0"),
    ("0.000", "0.0", "经度或纬度为 0"),
    ("0", "60.17", "经度或纬度为 0"),
    ("24.94", "0", "经度或纬度为 0"),
    ("1", "1", "经度与纬度相同"),
    ("-1", "-1", "经度与纬度相同"),
    ("999", "999", "经度与纬度相同"),
    ("35.5", "35.5", "经度与纬度相同"),
    ("9999", "60.17", "含 999 之类的填充值"),
    ("24.94", "-999", "含 999 之类的填充值"),
    ("25", "60", "经纬度都是整数，且远在本地区范围之外"),
    ("116", "39", "经纬度都是整数，且远在本地区范围之外"),
    ("-180", "90", "经纬度都是整数，且远在本地区范围之外"),
])
def test_placeholder_coordinates_reject_the_row(tmp_path: Path, lon: str, lat: str, why: str) -> None:
    path = write_csv(tmp_path / "设施.csv", ["名称", "类型", "经度", "纬度"],
                     [GOOD_FACILITIES[0], ["占位服务站", "养老服务站", lon, lat], GOOD_FACILITIES[1]], encoding="gbk")
    result = run(path, "facilities", region_extent=HELSINKI)
    assert result.good["name"].tolist() == ["议会社区养老服务站", "码头长者饭堂"]
    assert result.rejects["行号"].tolist() == [3]
    hit = rows_of(result, 3)
    assert len(hit) == 1, hit.to_string()
    assert (hit["文件"].iat[0], hit["字段"].iat[0], hit["级别"].iat[0]) == ("设施.csv", "经纬度", ERROR)
    assert hit["值"].iat[0] == f"{float(lon):g},{float(lat):g}"
    assert hit["问题"].iat[0] == f"疑似占位坐标（{why}）：请填写真实位置；不知道位置时留空"


def test_whole_degree_coordinates_need_a_region_to_be_called_placeholders(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", ["名称", "类型", "经度", "纬度"],
                     [["甲", "养老服务站", "116", "39"], ["乙", "养老服务站", "0", "39.9"],
                      ["丙", "养老服务站", "116.4", "116.4"]])
    result = run(path, "facilities")  # no region: nothing says where whole degrees would be far from
    assert result.good["name"].tolist() == ["甲"]
    assert result.problems["问题"].str.startswith("疑似占位坐标").tolist() == [True, True]


def test_placeholder_elders_with_a_community_code_are_rejected_not_kept_without_a_position(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "老人.xlsx", ["老人编号", "出生年份", "社区代码", "经度", "纬度"], [
        ["A1", 1950, "110199001001", 24.9390, 60.1695],
        ["A2", 1951, "110199001001", 0, 0],
        ["A3", 1952, "110199001001", None, None],  # no position at all: kept, placed by its code
        ["A4", 1953, "110199001001", -1, -1],
    ])
    result = run(path, "elders", region_extent=HELSINKI)
    assert result.good["birth_year"].tolist() == [1950, 1952]
    assert sorted(result.rejects["行号"]) == [3, 5]
    assert set(result.rejects["经度"].dropna()) <= {"（已隐去）"}  # an elder's position is never echoed


def test_placeholder_points_in_geo_files(tmp_path: Path) -> None:
    props = {"名称": "", "类型": "养老服务站"}
    degrees = write_geojson(tmp_path / "points.geojson", [
        ({**props, "名称": "好"}, Point(24.9386, 60.1699)), ({**props, "名称": "零"}, Point(0, 0)),
        ({**props, "名称": "九"}, Point(999, 999))])
    result = run(degrees, "facilities", region_extent=HELSINKI)
    assert result.good["name"].tolist() == ["好"]
    assert rows_of(result, 2)["问题"].iat[0].startswith("疑似占位坐标（经度或纬度为 0）")
    assert rows_of(result, 3)["问题"].iat[0].startswith("疑似占位坐标（经度与纬度相同）")
    x, y = project(113.62, 34.75, 4526)
    metres = write_geojson(tmp_path / "gk.geojson", [({**props, "名称": "好"}, Point(x, y)),
                                                     ({**props, "名称": "零"}, Point(0, 0))],
                           crs="urn:ogc:def:crs:EPSG::4526")
    result = run(metres, "facilities", region_extent=ZHENGZHOU)
    assert result.good["name"].tolist() == ["好"]
    assert rows_of(result, 2)["值"].iat[0] == "0,0"  # as written in the file, before any transformation


# --------------------------------------------------------------------------
# Projected metres without a CRS: the file is refused, the likely CRS named
# --------------------------------------------------------------------------

def _square(x: float, y: float, size: float) -> Polygon:
    return Polygon([(x, y), (x + size, y), (x + size, y + size), (x, y + size)])


def test_crs_names_agree_with_the_epsg_database() -> None:
    for code, number in ((4526, "zone 38"), (4513, "zone 25"), (4491, "zone 13"), (4548, "CM 117E"),
                         (4509, "CM 117E"), (2362, "zone 38"), (2414, "zone 38"), (21413, "zone 13"),
                         (32650, "zone 50N")):
        assert number in pyproj.CRS.from_epsg(code).name
        assert number.split()[1].rstrip("NE") in crs_name_zh(code)
    assert "CGCS2000" in crs_name_zh(4526) and "三度带" in crs_name_zh(4526)
    assert "西安80" in crs_name_zh(2362) and "北京54" in crs_name_zh(2414)


@pytest.mark.parametrize("with_region", [True, False])
def test_areas_geojson_in_gauss_kruger_metres_is_refused_naming_cgcs2000_zone(tmp_path: Path,
                                                                             with_region: bool) -> None:
    x, y = project(113.61, 34.74, 4526)  # CGCS2000 3-degree zone 38: eastings 38 xxx xxx
    assert 38_000_000 < x < 39_000_000
    path = write_geojson(tmp_path / "社区边界.geojson", [
        ({"区划代码": "410102001001", "名称": "建设路社区"}, _square(x, y, 800)),
        ({"区划代码": "410102001002", "名称": "桐柏路社区"}, _square(x + 800, y, 800))])
    with pytest.raises(InputFileError) as info:
        run(path, "areas", region_extent=ZHENGZHOU if with_region else None)
    message = str(info.value)
    assert message.startswith("文件 社区边界.geojson 的坐标像是投影坐标（单位：米")
    assert "2/2 个位置超出经纬度范围" in message and "可能是" in message
    assert "EPSG:4526（CGCS2000 高斯-克吕格三度带第 38 带" in message
    assert "EPSG:2362" in message and "EPSG:2414" in message  # the same zone in Xi'an 80 and Beijing 54
    assert ("落在本地区附近" in message) is with_region
    assert "本文件未导入" in message and "candidates [4526, 2362, 2414]" in info.value.en


def test_csv_lon_lat_in_utm_metres_is_refused(tmp_path: Path) -> None:
    rows = []
    for k, (lon, lat) in enumerate([(116.39, 39.89), (116.40, 39.90), (116.41, 39.91)]):
        x, y = project(lon, lat, 32650)
        rows.append([f"站{k}", "养老服务站", f"{x:.2f}", f"{y:.2f}"])
    path = write_csv(tmp_path / "utm.csv", ["名称", "类型", "经度", "纬度"], rows, encoding="gbk")
    with pytest.raises(InputFileError, match=r"utm\.csv 的坐标像是投影坐标.*3/3 个位置") as info:
        run(path, "facilities", region_extent=BEIJING)
    message = str(info.value)
    assert "EPSG:32650（WGS 84 / UTM 第 50 带（北半球）" in message and "落在本地区附近" in message
    assert "EPSG:4548" in message  # CGCS2000 GK CM 117E without zone prefix lands within 20 km too
    with pytest.raises(InputFileError) as info:
        run(path, "facilities")  # without a region the zone cannot be known: say so
    assert "UTM 投影（EPSG:326xx" in str(info.value) and "EPSG:4534–4554" in str(info.value)
    assert "指定地区（--region）后可进一步判断" in str(info.value)


def test_elder_xlsx_in_web_mercator_is_refused(tmp_path: Path) -> None:
    rows = []
    for k, (lon, lat) in enumerate([(24.938, 60.169), (24.945, 60.170)]):
        x, y = project(lon, lat, 3857)
        rows.append([f"A{k}", 1950, round(x, 1), round(y, 1)])
    path = write_xlsx(tmp_path / "老人.xlsx", ["老人编号", "出生年份", "经度", "纬度"], rows)
    with pytest.raises(InputFileError, match=r"EPSG:3857（Web 墨卡托[^）]*），落在本地区附近") as info:
        run(path, "elders", region_extent=HELSINKI)
    # an elder's home is personal data: no coordinate value, in metres or degrees, in the message or the log text
    text = str(info.value) + info.value.en
    assert "x=" not in text and "东经" not in text and "2776" not in text and "8438" not in text


def test_shapefile_without_prj_in_metres_is_refused_not_asked_for_a_crs(tmp_path: Path) -> None:
    x, y = project(113.62, 34.75, 4526)
    with pytest.warns(UserWarning, match="crs"):
        gpd.GeoDataFrame({"名称": ["甲"], "类型": ["养老服务站"]}, geometry=[Point(x, y)]).to_file(
            tmp_path / "noprj.shp", encoding="utf-8", engine="pyogrio")
    with pytest.raises(InputFileError, match=r"noprj\.shp 的坐标像是投影坐标.*EPSG:4526"):
        run(tmp_path / "noprj.shp", "facilities")


def test_a_declared_projected_crs_is_used_not_refused(tmp_path: Path) -> None:
    points = [(113.612, 34.748), (113.630, 34.752)]
    path = write_geojson(tmp_path / "gk.geojson",
                         [({"名称": f"站{k}", "类型": "养老服务站"}, Point(*project(lon, lat, 4526)))
                          for k, (lon, lat) in enumerate(points)], crs="urn:ogc:def:crs:EPSG::4526")
    result = run(path, "facilities", region_extent=ZHENGZHOU)
    assert result.ok, result.problems.to_string()
    truth = np.array(points)
    assert np.all(haversine_m(result.good["lon"], result.good["lat"], truth[:, 0], truth[:, 1]) < 0.01)


def test_one_row_in_metres_among_degrees_is_a_row_error_not_a_refusal(tmp_path: Path) -> None:
    x, y = project(24.94, 60.17, 3857)
    path = write_csv(tmp_path / "mixed.csv", ["名称", "类型", "经度", "纬度"],
                     [*GOOD_FACILITIES, ["米站", "养老服务站", f"{x:.1f}", f"{y:.1f}"], ["丁", "助餐点", "24.945", "60.171"]])
    result = run(path, "facilities", region_extent=HELSINKI)
    assert result.n_imported == 3 and result.rejects["行号"].tolist() == [4]
    assert "像是投影坐标（米）" in rows_of(result, 4)["问题"].iat[0]


# --------------------------------------------------------------------------
# Self-intersecting polygons
# --------------------------------------------------------------------------

def _deg(shape: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
    """A shape drawn in units of 0.001° placed in Helsinki."""
    return shapely.affinity.affine_transform(shape, [0.001, 0, 0, 0.001, 24.93, 60.16])


def _lobe(d: float) -> Polygon:
    """A 10 x 10 square whose closing edge overshoots the first corner to (d, -d), crossing the bottom edge.

    The crossing is at x0 = 10 d / (10 + d); the stray lobe (0,0)-(x0,0)-(d,-d) has area x0 d / 2 and the rest
    100 - 5 x0. The ring's signed area is rest - lobe; make_valid keeps rest + lobe: a change of
    2 lobe / (rest - lobe). d = 1: x0 = 0.9091, lobe 0.4545, rest 95.4545 -> 0.957 % (kept);
    d = 1.1: x0 = 0.9910, lobe 0.5450, rest 95.0450 -> 1.154 % (rejected).
    """
    return Polygon([(0, 0), (10, 0), (10, 10), (0, 10), (d, -d)])


def test_invalid_polygons_are_repaired_with_a_warning_or_rejected(tmp_path: Path) -> None:
    square = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
    shapes = [
        _square(0, 0, 4),                                                   # 1 valid
        Polygon([(0, 0), (4, 4), (4, 0), (0, 4)]),                          # 2 bow-tie: area 0 -> 16
        Polygon([(0, 0), (4, 0), (4, 4), (2, 4), (3, 2), (1, 2), (2, 4), (0, 4)]),  # 3 self-touching ring, 14
        Polygon(square.exterior.coords, [square.exterior.coords]),          # 4 hole = shell (duplicate ring)
        MultiPolygon([square, square]),                                     # 5 the same ring twice: 2 -> 1
        _lobe(1.0),                                                         # 6 small crossing: 0.957 %
        _lobe(1.1),                                                         # 7 crossing: 1.154 %
        Point(2, 2),                                                        # 8 not an area
    ]
    features = [({"区划代码": f"11019900100{k}", "名称": f"社区{k}"}, _deg(s) if not isinstance(s, Point) else
                 Point(24.932, 60.162)) for k, s in enumerate(shapes, start=1)]
    result = run(write_geojson(tmp_path / "边界.geojson", features), "areas")
    assert sorted(result.rejects["行号"]) == [2, 4, 5, 7]
    good = result.good.set_index("name")
    assert list(good.index) == ["社区1", "社区3", "社区6", "社区8"]
    assert good.geometry.dropna().is_valid.all()
    assert good.loc["社区3"].geometry.area == pytest.approx(14e-6, rel=1e-9)
    rest, lobe = 100 - 5 * 10 / 11, 0.5 * (10 / 11) * 1.0
    assert good.loc["社区6"].geometry.area == pytest.approx((rest + lobe) * 1e-6, rel=1e-9)
    assert good.loc["社区8"].geometry is None
    messages = {int(r): (lvl, msg) for r, lvl, msg in result.problems[["行号", "级别", "问题"]].itertuples(index=False)}
    assert 1 not in messages
    assert messages[2][0] == ERROR and messages[2][1].startswith("边界无效：边界自相交（约在 24.932000,60.162000）")
    assert "修复前面积为 0" in messages[2][1] and "请在 GIS 软件中修正该边界" in messages[2][1]
    assert messages[3][0] == WARNING and messages[3][1].startswith("边界无效：边界环自相接")
    assert "已用 make_valid 自动修复（面积变化 0.00%）" in messages[3][1]
    assert messages[4][0] == ERROR and "修复前面积为 0" in messages[4][1]
    assert messages[5][0] == ERROR and "面积变化 50.0%，超过 1%" in messages[5][1]
    assert messages[6][0] == WARNING and "面积变化 0.96%" in messages[6][1]
    assert messages[7][0] == ERROR and "面积变化 1.2%，超过 1%" in messages[7][1]
    assert messages[8][0] == WARNING and "区划边界应为面" in messages[8][1]
    assert (result.problems["字段"] == "边界").all() and (result.problems["文件"] == "边界.geojson").all()


# --------------------------------------------------------------------------
# A header and no rows
# --------------------------------------------------------------------------

def _header_only_csv(path: Path) -> Path:
    return write_csv(path, ["名称", "类型", "经度", "纬度"], [])


def _header_only_gbk(path: Path) -> Path:
    return write_csv(path, ["机构名称", "机构类型", "经度", "纬度"], [], encoding="gbk")


def _blank_lines(path: Path) -> Path:
    path.write_bytes("名称,类型,经度,纬度\r\n\r\n\r\n".encode())
    return path


def _comma_rows(path: Path) -> Path:
    path.write_bytes("名称,类型,经度,纬度\r\n,,,\r\n , ,\u3000, \r\n".encode())
    return path


def _xlsx_header(path: Path) -> Path:
    return write_xlsx(path, ["名称", "类型", "经度", "纬度"], [])


def _xlsx_blank_cells(path: Path) -> Path:
    return write_xlsx(path, ["名称", "类型", "经度", "纬度"], [["", " ", None, ""], [None, None, None, None]])


def _geojson_no_features(path: Path) -> Path:
    path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    return path


def _geojson_empty_features(path: Path) -> Path:
    blank = {"名称": None, "类型": None, "出生年份": None}
    return write_geojson(path, [(blank, None), (blank, None)])


def _parquet_no_rows(path: Path) -> Path:
    pd.DataFrame({"名称": pd.Series([], dtype=str), "类型": pd.Series([], dtype=str)}).to_parquet(path)
    return path


@pytest.mark.parametrize(("name", "write", "phrase"), [
    ("h.csv", _header_only_csv, "只有表头，没有任何数据行"),
    ("h_gbk.csv", _header_only_gbk, "只有表头，没有任何数据行"),
    ("blank.csv", _blank_lines, "只有表头，没有任何数据行"),
    ("commas.csv", _comma_rows, "只有表头，没有任何数据行"),
    ("h.xlsx", _xlsx_header, "只有表头，没有任何数据行"),
    ("blank.xlsx", _xlsx_blank_cells, "只有表头，没有任何数据行"),
    ("none.geojson", _geojson_no_features, "没有任何要素"),
    ("empty.geojson", _geojson_empty_features, "只有表头，没有任何数据行"),
    ("none.parquet", _parquet_no_rows, "没有任何要素"),
])
@pytest.mark.parametrize("table", ["facilities", "elders"])
def test_a_file_without_data_rows_is_an_error(tmp_path: Path, name: str, write, phrase: str, table: str) -> None:
    path = write(tmp_path / name)
    with pytest.raises(InputFileError, match=phrase) as info:
        run(path, table)
    assert str(info.value).startswith(f"文件 {name}") and name in info.value.en


def test_cli_validate_of_a_header_only_file_fails_and_writes_nothing(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = _header_only_csv(tmp_path / "h.csv")
    assert eldermap.main(["validate", "facilities", str(path)]) == 2
    assert "只有表头，没有任何数据行" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.csv"]


# --------------------------------------------------------------------------
# Overlong text
# --------------------------------------------------------------------------

LONG = "长" * 5000


@pytest.mark.parametrize(("table", "header", "good", "bad", "field"), [
    ("facilities", ["名称", "类型", "经度", "纬度"], ["乙", "养老服务站", "24.94", "60.17"],
     [LONG, "养老服务站", "24.945", "60.171"], "名称"),
    ("facilities", ["名称", "类型", "地址", "经度", "纬度"], ["乙", "养老服务站", "某路1号", "24.94", "60.17"],
     ["甲", "养老服务站", LONG, "24.945", "60.171"], "地址"),
    ("facilities", ["名称", "类型", "服务项目", "经度", "纬度"], ["乙", "养老服务站", "助餐", "24.94", "60.17"],
     ["甲", "养老服务站", "助餐、" * 1700, "24.945", "60.171"], "服务项目"),
    ("facilities", ["名称", "类型", "所属街道", "经度", "纬度"], ["乙", "养老服务站", "议会街道", "24.94", "60.17"],
     ["甲", "养老服务站", LONG, "24.945", "60.171"], "所属街道"),
    ("facilities", ["名称", "类型", "机构性质", "经度", "纬度"], ["乙", "养老服务站", "民办", "24.94", "60.17"],
     ["甲", "养老服务站", LONG, "24.945", "60.171"], "性质"),
    ("elders", ["老人编号", "姓名", "出生年份", "社区代码"], ["A1", "张三", "1950", "110199001001"],
     ["A9", LONG, "1950", "110199001001"], "姓名"),
    ("elders", ["老人编号", "居住地址", "出生年份", "社区代码"], ["A1", "某路1号", "1950", "110199001001"],
     ["A9", LONG, "1950", "110199001001"], "居住地址"),
    ("areas", ["区划代码", "名称"], ["110199001001", "议会社区"], ["110199001009", LONG], "名称"),
])
def test_overlong_text_rejects_the_row_and_is_never_echoed_whole(tmp_path: Path, table: str, header: list[str],
                                                                 good: list[str], bad: list[str], field: str) -> None:
    path = write_csv(tmp_path / "长文本.csv", header, [good, bad], encoding="gbk" if table == "areas" else "utf-8")
    result = run(path, table, region_extent=HELSINKI if table != "areas" else None)
    assert result.n_imported == 1 and result.rejects["行号"].tolist() == [3]
    hit = rows_of(result, 3)
    assert list(hit["字段"]) == [field] and list(hit["级别"]) == [ERROR] and list(hit["文件"]) == ["长文本.csv"]
    length = max(len(v) for v in bad)
    assert hit["问题"].iat[0] == f"内容过长（{length} 字，超过上限 200 字，见设置 max_text_length）"
    assert len(hit["值"].iat[0]) <= 45  # 30 characters and the length
    report, rejects = write_report(result, tmp_path / "报告.xlsx")
    for book in (report, rejects):
        for sheet in openpyxl.load_workbook(book).worksheets:
            longest = max(len(str(c.value)) for r in sheet.iter_rows() for c in r if c.value is not None)
            assert longest < 260, (book.name, sheet.title, longest)
    cut = pd.read_excel(rejects, dtype=str).iloc[0].tolist()
    if field not in ("姓名", "居住地址"):  # sensitive fields are masked anyway
        assert f"{bad[header.index(next(h for h, v in zip(header, bad) if len(v) == length))][:200]}…（已截断，原文 {length} 字）" in cut


def test_the_text_limit_is_a_setting_and_inclusive(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", ["名称", "类型", "经度", "纬度"],
                     [["甲" * 50, "养老服务站", "24.94", "60.17"], ["乙" * 51, "养老服务站", "24.945", "60.171"]])
    result = run(path, "facilities", settings=Settings(max_text_length=50))
    assert result.good["name"].tolist() == ["甲" * 50]
    assert rows_of(result, 3)["问题"].iat[0] == "内容过长（51 字，超过上限 50 字，见设置 max_text_length）"
    assert rows_of(result, 3)["值"].iat[0] == "乙" * 30 + "…（共 51 字）"


def test_an_overlong_unknown_header_is_clipped_in_the_report(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", ["名称", "类型", "经度", "纬度", "备" * 3000], [["甲", "养老服务站", "24.94", "60.17", ""]])
    result = run(path, "facilities")
    assert result.ok and len(result.problems) == 1
    assert result.problems["字段"].iat[0] == "备" * 30 + "…（共 3000 字）"


# --------------------------------------------------------------------------
# Where `eldermap validate` writes its report
# --------------------------------------------------------------------------

@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "共享盘"
    folder.mkdir()
    shutil.copy(FIX / "facilities_bad_rows.csv", folder / "设施.csv")
    return folder


def test_report_is_written_beside_the_data_file(data_folder: Path, tmp_path: Path, monkeypatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert eldermap.main(["validate", "facilities", str(data_folder / "设施.csv")]) == 1
    out = capsys.readouterr().out
    assert (data_folder / "设施_校验报告.xlsx").is_file() and (data_folder / "设施_校验报告_拒绝行.xlsx").is_file()
    assert f"报告已写入：{data_folder / '设施_校验报告.xlsx'}" in out and "不可写" not in out
    assert not (tmp_path / "reports").exists()


def test_unwritable_data_folder_sends_the_report_to_the_reports_folder(data_folder: Path, tmp_path: Path, monkeypatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    real = validate_module.folder_writable
    monkeypatch.setattr(validate_module, "folder_writable", lambda folder: Path(folder) != data_folder and real(folder))
    monkeypatch.chdir(tmp_path)
    assert eldermap.main(["validate", "facilities", str(data_folder / "设施.csv")]) == 1
    out = capsys.readouterr().out
    moved = Path.cwd() / "reports" / "设施" / "设施_校验报告.xlsx"
    assert moved.is_file() and moved.with_name("设施_校验报告_拒绝行.xlsx").is_file()
    assert moved.parent.parent.parent.samefile(tmp_path)
    assert sorted(p.name for p in data_folder.iterdir()) == ["设施.csv"]
    assert f"数据文件所在目录 {data_folder} 不可写，报告改写到报告目录。" in out and f"报告已写入：{moved}" in out


def test_read_only_folder_for_real(data_folder: Path, tmp_path: Path, monkeypatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    data_folder.chmod(0o555)
    try:
        if validate_module.folder_writable(data_folder):
            pytest.skip("this user can write to a 0o555 folder (root): covered by the test above")
        monkeypatch.chdir(tmp_path)
        assert eldermap.main(["validate", "facilities", str(data_folder / "设施.csv")]) == 1
        assert (tmp_path / "reports" / "设施" / "设施_校验报告.xlsx").is_file()
        assert "不可写" in capsys.readouterr().out
    finally:
        data_folder.chmod(0o755)


def test_out_folder_is_used_when_given(data_folder: Path, tmp_path: Path, monkeypatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "我的报告" / "十一月"
    assert eldermap.main(["validate", "facilities", str(data_folder / "设施.csv"), "--out", str(target)]) == 1
    assert (target / "设施_校验报告.xlsx").is_file()
    assert sorted(p.name for p in data_folder.iterdir()) == ["设施.csv"]
    assert f"报告已写入：{target / '设施_校验报告.xlsx'}" in capsys.readouterr().out


def test_folder_writable_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    assert validate_module.folder_writable(tmp_path) and list(tmp_path.iterdir()) == []
    assert not validate_module.folder_writable(tmp_path / "missing")
    if os.geteuid() != 0:
        tmp_path.chmod(0o555)
        try:
            assert not validate_module.folder_writable(tmp_path)
        finally:
            tmp_path.chmod(0o755)
