"""The 12349 desk's tables: service list, carers and orders — validation, import, storage and the demo.

Fixture files are written here at run time (UTF-8 CSV, GBK CSV with a title row, XLSX through openpyxl), each row
aimed at one check, with the expected (row, field) of every problem worked out by hand below.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from conftest import write_zhengzhou_osm
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pg_support import new_database

from data import ids, store
from data.demo_home_care import DEMO_DAY, build_home_care
from data.importer import import_region
from data.schema import CHANNELS, ORDER_STATES, ORDER_STATUSES, SERVICE_CATEGORIES, STATE_TIMESTAMPS
from data.validate import (
    ERROR,
    WARNING,
    _format_range,
    _parse_datetime,
    _parse_skill_level,
    _parse_time_range,
    carer_pseudonym,
    elder_pseudonym,
    validate_table,
)
from geo.errors import InputFileError
from geo.settings import Settings

SETTINGS = Settings()
SALT_HEX = "cd" * 32
SALT = bytes.fromhex(SALT_HEX)
TODAY = dt.date(2026, 12, 1)
ELDER_ID_NUMBER = "11010519400101001" + ids.resident_id_check_char("11010519400101001")
CARER_ID_NUMBER = "11010519800202002" + ids.resident_id_check_char("11010519800202002")
SENSITIVE = ("王芳", "李强", "赵敏", "张大爷", "李奶奶", "13800000001", "13800000002", "13900000000", "某路1号",
             "某街2号", ELDER_ID_NUMBER, CARER_ID_NUMBER, "A01", "A02", "E002")
"""Values of the fixture files that must never reach a stored layer (names, phones, addresses, IDs as written)."""


# ---------------------------------------------------------------- fixture files


def _items_csv(path: Path) -> Path:
    path.write_text(
        "项目编码,项目名称,服务类别,对应服务标签,补贴对象,补贴标准,收费标准,标准时长,所需技能,最低技能等级\n"
        "SC01,上门助浴,生活照料,助浴,特困、低保、失能老人,50元/次,80,60分钟,助浴,三级/高级工\n"  # 2 good
        "SC02,紧急呼叫响应,紧急救援,助急,全体老年人,50,50,30,紧急救援,2\n"  # 3 good
        "SC03,居室清洁,家政,助洁,低保,40,60,90,家政服务,1\n"  # 4 good (家政 -> 家政服务)
        "SC01,重复编码,其他,,,,,60,,\n"  # 5 duplicate code of row 2
        "SC05,短时服务,其他,,,,,3,,\n"  # 6 duration below 5
        "SC06,乱类别,助人为乐,,,,,,,\n"  # 7 unknown category
        "SC07,贵补贴,生活照料,,,100,80,,,\n"  # 8 subsidy above price: a warning, kept
        "SC08,未知技能,生活照料,,,,,,飞行,\n",  # 9 unknown skill
        encoding="utf-8")
    return path


def _facilities_csv(path: Path, lon: np.ndarray, lat: np.ndarray) -> Path:
    rows = ["机构编号,名称,类型,服务项目,营业时间,日接单上限,经度,纬度",
            f"F1,甲居家服务公司,居家上门服务商,助浴、助洁、助急,8:00-18:00,40,{lon[2]:.6f},{lat[2]:.6f}",
            f"F2,乙养老院,养老机构,长期托养,,,{lon[3]:.6f},{lat[3]:.6f}",
            f"F3,丙居家服务公司,居家上门服务商,助洁,全天,30,{lon[4]:.6f},{lat[4]:.6f}"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _elders_csv(path: Path, lon: np.ndarray, lat: np.ndarray) -> Path:
    rows = ["身份证号,老人编号,姓名,出生年份,特殊群体,居住地址,经度,纬度",
            f"{ELDER_ID_NUMBER},,张大爷,,低保,某路1号,{lon[0]:.6f},{lat[0]:.6f}",
            f",E002,李奶奶,1945,,某街2号,{lon[1]:.6f},{lat[1]:.6f}"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _carers_gbk(path: Path, lon: np.ndarray, lat: np.ndarray) -> Path:
    rows = ["演示区居家养老服务人员名单（2026年12月）",  # title row: the header is row 2
            "人员编号,姓名,身份证号,联系电话,所属服务商,技能,职业技能等级,从业年限,工作时间,日接单上限,经度,纬度",
            f"A01,王芳,{CARER_ID_NUMBER},13800000001,甲居家服务公司,助浴、生活照料、紧急救援,三级/高级工,5年,08:00-17:00,8,,",
            f"A02,李强,,13800000002,F3,家政服务,四级,2,8:00～18:00,6,{lon[5]:.6f},{lat[5]:.6f}",
            "A03,赵敏,,,F2,助浴,1,1,08:00-17:00,6,,",  # 5: a nursing home, not a home-care provider
            "A04,钱多,,,不存在公司,助浴,1,1,08:00-17:00,6,,",  # 6: no such facility
            "A05,孙丽,,,F1,助浴,2,1,17:00-08:00,6,,",  # 7: overnight shift
            ",周无,,,F1,助浴,2,1,08:00-17:00,6,,",  # 8: neither 人员编号 nor 身份证号
            "A06,吴六,,,F1,助浴、飞行,七级,1,08:00-17:00,6,,"]  # 9: bad level (error), unknown skill (warning)
    path.write_bytes(("\n".join(rows) + "\n").encode("gbk"))
    return path


ORDER_HEADER = ["工单编号", "老人编号", "老人姓名", "联系电话", "服务地址", "服务项目", "预约开始时间", "预约结束时间", "紧急程度",
                "来源渠道", "状态", "异常记录", "服务商编号", "服务人员编号", "派单时间", "接单时间", "开始服务时间", "完成时间",
                "回访时间", "满意度", "补贴类别", "经度", "纬度"]


def _t(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, 1, hour, minute)


def _order(oid: str, elder: str, items: str, start: object, end: object, status: str, **kw: object) -> list[object]:
    row = {"工单编号": oid, "老人编号": elder, "服务项目": items, "预约开始时间": start, "预约结束时间": end, "状态": status,
           "来源渠道": "热线", **kw}
    return [row.get(h) for h in ORDER_HEADER]


def _orders_xlsx(path: Path) -> Path:
    done = {"派单时间": _t(8), "接单时间": _t(8, 5), "开始服务时间": _t(9, 10), "完成时间": _t(11, 40)}
    rows = [
        _order("W01", ELDER_ID_NUMBER.lower(), "上门助浴、SC03", _t(9), _t(11), "已回访", 老人姓名="张大爷",
               联系电话="13900000000", 服务地址="某路1号", 服务商编号="F1", 服务人员编号="A01", 回访时间=_t(15),
               满意度="非常满意", 补贴类别="低保", **done),  # 2 good; point from the elders layer
        _order("W02", "E002", "SC03", _t(11), _t(10), "待派单"),  # 3 window ends before it starts
        _order("W03", "E002", "SC03", _t(9), _t(11), "已完成", 服务商编号="F1", 服务人员编号="A01",
               派单时间=_t(8), 接单时间=_t(8, 5), 开始服务时间=_t(9)),  # 4 已完成 without 完成时间
        _order("W04", "E002", "SC03", _t(9), _t(11), "已接单", 服务商编号="F1", 服务人员编号="A01",
               派单时间=_t(8, 10), 接单时间=_t(8)),  # 5 accepted before dispatched
        _order("W05", "E002", "SC03", _t(9), _t(11), "已回访", 服务商编号="F1", 服务人员编号="A01",
               回访时间=_t(15), 满意度=6, **done),  # 6 satisfaction 6
        _order("W06", "E002", "理发", _t(9), _t(11), "待派单"),  # 7 not in the service list
        _order("W07", "E002", "SC03", _t(9), _t(11), "已接单", 服务商编号="F3", 服务人员编号="A01",
               派单时间=_t(8), 接单时间=_t(8, 5)),  # 8 A01 works for F1
        _order("W08", "E002", "SC03", _t(9), _t(11), "已派单", 服务商编号="F2", 派单时间=_t(8)),  # 9 not home care
        _order("W09", "E002", "紧急呼叫响应", _t(10), _t(11), "待派单", 紧急程度="普通"),  # 10 warning: urgent
        _order("W10", "E002", "SC03", _t(9), _t(11), "待派单", 异常记录="拒单", 服务商编号="F1",
               派单时间=_t(8)),  # 11 good: refused, back in the queue
        _order("W11", "E002", "SC03", _t(9), _t(11), "待派单", 派单时间=_t(8)),  # 12 dispatched, no event
        _order("W12", "E002", "SC03", _t(9), _t(11), "待派单", 补贴类别="特困"),  # 13 SC03 subsidises 低保 only
        _order("W13", "E002", "SC03", _t(9), _t(11), "已接单", 服务商编号="F1", 派单时间=_t(8),
               接单时间=_t(8, 5)),  # 14 accepted without a carer
        _order("W14", "E999", "SC03", _t(9), _t(11), "待派单"),  # 15 unknown elder (warning), so no point (error)
        _order("W01", "E002", "SC03", _t(9), _t(11), "待派单"),  # 16 repeats row 2's id
        _order("W15", "E002", "SC03", "2026-12-01 14:00-16:00", None, "已派单", 服务人员编号="A02",
               派单时间="2026/12/1 13:00"),  # 17 good: window as one range, provider from the carer (F3)
    ]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(ORDER_HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _problems(result) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    rows = result.problems[result.problems["行号"] != "—"]
    errors = rows[rows["级别"] == ERROR]
    warnings = rows[rows["级别"] == WARNING]
    return ({(int(r), f) for r, f in zip(errors["行号"], errors["字段"], strict=True)},
            {(int(r), f) for r, f in zip(warnings["行号"], warnings["字段"], strict=True)})


# ---------------------------------------------------------------- validation, table by table


def test_service_list_checks_and_units(tmp_path: Path) -> None:
    result = validate_table(_items_csv(tmp_path / "服务清单.csv"), "service_items", settings=SETTINGS)
    errors, warnings = _problems(result)
    assert errors == {(5, "项目编码"), (6, "标准时长"), (7, "服务类别"), (9, "所需技能")}
    assert warnings == {(8, "补贴标准")}
    assert result.n_read == 8 == result.n_imported + result.n_rejected
    good = result.good.set_index("code")
    assert list(good.index) == ["SC01", "SC02", "SC03", "SC07"]
    assert good.loc["SC01", "eligible_groups"] == ["特困", "低保", "失能"]  # 失能老人 -> 失能
    assert (good.loc["SC01", "subsidy_yuan"], good.loc["SC01", "duration_min"], good.loc["SC01", "min_skill_level"]) \
        == (50.0, 60, 3)  # "50元/次", "60分钟", 三级/高级工 = level 3
    assert good.loc["SC03", "category"] == "家政服务"
    assert result.good.geometry.isna().all() and "lon" not in result.good
    problem = result.problems.set_index(["行号", "字段"]).loc[("6", "标准时长"), "问题"]
    assert problem == "不能小于 5"


def test_carers_gbk_with_title_row(tmp_path: Path, zhengzhou_osm) -> None:
    _, lon, lat = zhengzhou_osm
    facilities = validate_table(_facilities_csv(tmp_path / "f.csv", lon, lat), "facilities", settings=SETTINGS).good
    assert facilities.set_index("id").loc["F1", "hours"] == "08:00-18:00"
    assert pd.isna(facilities.set_index("id").loc["F3", "hours"])  # "全天" is not a time range: warned, dropped
    assert facilities.set_index("id").loc["F1", "capacity_orders_day"] == 40
    result = validate_table(_carers_gbk(tmp_path / "人员.csv", lon, lat), "carers", settings=SETTINGS, salt=SALT,
                            related={"facilities": facilities})
    assert result.source["encoding"] == "gb18030"
    errors, warnings = _problems(result)
    assert errors == {(5, "所属服务商编号"), (6, "所属服务商编号"), (7, "工作时间"), (8, "人员编号"), (9, "职业技能等级")}
    assert warnings == {(9, "技能")}
    reasons = result.problems.set_index(["行号", "字段"])["问题"]
    assert "类型是养老机构，不是居家上门服务商" in reasons.loc[("5", "所属服务商编号")]
    assert "不是本地区任何机构的编号或名称" in reasons.loc[("6", "所属服务商编号")]
    good = result.good.set_index("id")
    a01, a02 = carer_pseudonym("A01", SALT), carer_pseudonym("A02", SALT)
    assert list(good.index) == [a01, a02] and re.fullmatch(r"C[0-9a-f]{20}", a01)
    assert good.loc[a01, "provider_id"] == "F1"  # written as the provider's name
    assert (good.loc[a01, "lon"], good.loc[a01, "lat"]) == pytest.approx((lon[2], lat[2]))  # base: the provider's
    assert (good.loc[a02, "lon"], good.loc[a02, "lat"]) == pytest.approx((lon[5], lat[5]))
    assert good.loc[a01, "skills"] == ["助浴", "生活照料", "紧急救援"]
    assert (good.loc[a01, "skill_level"], good.loc[a02, "skill_level"]) == (3, 2)  # 三级 = 3, 四级 = 2
    assert (good.loc[a02, "shift_start_min"], good.loc[a02, "shift_end_min"]) == (480, 1080)
    assert good.loc[a01, "experience_years"] == 5.0
    assert not {"name", "id_number", "phone", "pid"} & set(result.good.columns)
    shown = result.problems.to_string() + result.rejects.to_string()
    assert not [v for v in ("赵敏", "孙丽", "周无", "吴六", "A03", "A05") if v in shown]  # masked in reports


def _region_files(tmp_path: Path, lon: np.ndarray, lat: np.ndarray) -> dict[str, Path]:
    return {"facilities": _facilities_csv(tmp_path / "设施.csv", lon, lat),
            "elders": _elders_csv(tmp_path / "老人.csv", lon, lat),
            "service_items": _items_csv(tmp_path / "服务清单.csv"),
            "carers": _carers_gbk(tmp_path / "服务人员.csv", lon, lat),
            "orders": _orders_xlsx(tmp_path / "服务工单.xlsx")}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):
    """One import of every table into a small real street grid (the salt fixed, so pseudonyms can be computed)."""
    tmp_path = tmp_path_factory.mktemp("homecare")
    roads = tmp_path / "grid.osm"
    lon, lat = write_zhengzhou_osm(roads)
    files = _region_files(tmp_path, lon, lat)
    root = tmp_path / "regions"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ELDERMAP_SALT", SALT_HEX)
        outcome = import_region("zz", settings=SETTINGS, roads=roads, root=root, report_dir=tmp_path / "reports",
                                today=TODAY, **files)
    return outcome, store.load_region("zz", root=root), lon, lat


def test_orders_cross_checks_by_hand(imported) -> None:
    outcome, region, lon, lat = imported
    result = next(r for r in outcome.results if r.table == "orders")
    errors, warnings = _problems(result)
    assert errors == {(3, "预约结束时间"), (4, "状态"), (5, "接单时间"), (6, "满意度"), (7, "服务项目"),
                      (8, "服务人员编号"), (9, "服务商编号"), (12, "派单时间"), (13, "补贴类别"), (14, "服务人员编号"),
                      (15, "经纬度"), (16, "工单编号")}
    assert {(10, "紧急程度"), (15, "老人编号")} <= warnings
    assert result.n_read == 16 == result.n_imported + result.n_rejected
    reasons = result.problems[result.problems["级别"] == ERROR].set_index(["行号", "字段"])["问题"]
    assert reasons.loc[("4", "状态")] == "状态为“已完成”，但没有完成时间"
    assert reasons.loc[("5", "接单时间")] == "早于派单时间（2026-12-01 08:10）：各时间应按状态先后"
    assert reasons.loc[("8", "服务人员编号")] == "该服务人员属于服务商 F1，不属于本工单的服务商 F3"
    assert reasons.loc[("16", "工单编号")] == "与第 2 行重复"
    orders = region.layer("orders").set_index("id")
    assert list(orders.index) == ["W01", "W09", "W10", "W15"]
    w01 = orders.loc["W01"]
    assert list(w01["item_codes"]) == ["SC01", "SC03"]  # 上门助浴 -> SC01
    assert (w01["satisfaction"], w01["subsidy_group"], w01["status"], w01["channel"]) == (5, "低保", "已回访", "12349热线")
    assert w01["window_start"] == pd.Timestamp("2026-12-01 09:00") and w01["completed_at"] == pd.Timestamp(
        "2026-12-01 11:40")
    assert (w01["lon"], w01["lat"]) == pytest.approx((lon[0], lat[0]))  # the elder's home, from the elders layer
    assert orders.loc["W09", "urgency"] == "紧急" and orders.loc["W10", "urgency"] == "普通"
    assert list(orders.loc["W10", "events"]) == ["拒单"]
    w15 = orders.loc["W15"]
    assert (w15["window_start"], w15["window_end"]) == (pd.Timestamp("2026-12-01 14:00"), pd.Timestamp("2026-12-01 16:00"))
    assert w15["provider_id"] == "F3" and w15["carer_id"] == carer_pseudonym("A02", SALT)
    assert (w15["lon"], w15["lat"]) == pytest.approx((lon[1], lat[1]))


def test_order_elders_carry_the_elders_layer_pseudonyms(imported) -> None:
    _, region, _, _ = imported
    elders, orders = region.elders, region.layer("orders")
    assert set(orders["elder_id"]) <= set(elders["pid"])
    w01 = orders.set_index("id").loc["W01"]
    by_number = ids.pseudonymise(ELDER_ID_NUMBER, SALT)  # the elders import's pseudonym of an ID number
    assert w01["elder_id"] == by_number == elder_pseudonym(ELDER_ID_NUMBER.lower(), SALT)
    assert orders.set_index("id").loc["W15", "elder_id"] == ids.pseudonymise("src:E002", SALT) \
        == elders.set_index("pid").index[1]
    assert set(orders["carer_id"].dropna()) <= set(region.layer("carers")["id"])


def test_nothing_personal_is_stored_or_reported(imported) -> None:
    outcome, region, _, _ = imported
    for name in ("elders", "carers", "orders", "service_items", "facilities"):
        layer = region.layer(name)
        if name in ("elders", "carers", "orders"):
            personal = {"name", "elder_name", "id_number", "address", "source_id", "phone", "pid"} - {
                "pid" if name == "elders" else ""}
            assert not personal & set(layer.columns), name
        text = pd.DataFrame(layer.drop(columns="geometry")).astype(str).to_string()
        found = [v for v in SENSITIVE if v in text or v.lower() in text]
        assert found == [], (name, found)
    for path in outcome.reports:  # reports and rejects files of every table
        if path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path)
            text = " ".join(str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row)
            personal = [v for v in SENSITIVE[:12] if v in text]  # names, phones, addresses, ID numbers
            assert personal == [], (path.name, personal)


def test_orders_need_a_service_list(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="请先导入服务清单"):
        validate_table(_orders_xlsx(tmp_path / "o.xlsx"), "orders", settings=SETTINGS, salt=SALT)


@pytest.mark.parametrize(("text", "minutes"), [("08:00-17:00", (480, 1020)), ("8点-17点", (480, 1020)),
                                               ("0800-1730", (480, 1050)), ("7:30～19:00", (450, 1140))])
def test_shift_texts(tmp_path: Path, text: str, minutes: tuple[int, int]) -> None:
    facilities = gpd.GeoDataFrame({"id": ["F1"], "name": ["甲"], "kind": ["居家上门服务商"], "lon": [116.4],
                                   "lat": [39.9]}, geometry=gpd.points_from_xy([116.4], [39.9]), crs="EPSG:4326")
    path = tmp_path / "c.csv"
    path.write_text(f"人员编号,所属服务商编号,工作时间\nA1,F1,{text}\n", encoding="utf-8")
    good = validate_table(path, "carers", settings=SETTINGS, salt=SALT, related={"facilities": facilities}).good
    assert (good["shift_start_min"].iloc[0], good["shift_end_min"].iloc[0]) == minutes


@hsettings(max_examples=150, deadline=None)
@given(start=st.integers(0, 24 * 60 - 1), length=st.integers(1, 24 * 60), sep=st.sampled_from(["-", "～", "至", " - "]),
       moment=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)))
def test_time_texts_round_trip(start: int, length: int, sep: str, moment: dt.datetime) -> None:
    end = min(start + length, 24 * 60)
    text = _format_range(start, end).replace("-", sep)
    assert _parse_time_range(text) == (start, end)
    assert isinstance(_parse_time_range(_format_range(end, start) if end > start else "x"), str)  # reversed: a reason
    minute = moment.replace(second=0, microsecond=0)
    for written in (f"{minute:%Y-%m-%d %H:%M}", f"{minute.year}/{minute.month}/{minute.day} {minute.hour}:{minute:%M}",
                    f"{minute:%Y年%m月%d日 %H时%M分}"):
        assert _parse_datetime(written, settings=SETTINGS) == minute, written
    assert _parse_datetime(f"{minute:%Y-%m-%dT%H:%M}+08:00", settings=SETTINGS) == minute  # Asia/Shanghai


@pytest.mark.parametrize(("text", "level"), [("1", 1), ("5", 5), ("五级", 1), ("五级/初级工", 1), ("四级（中级工）", 2),
                                             ("三级", 3), ("高级工", 3), ("2级", 4), ("技师", 4), ("一级/高级技师", 5),
                                             ("高级技师", 5), ("六级", None), ("0", None), ("熟练", None)])
def test_skill_levels(text: str, level: int | None) -> None:
    assert _parse_skill_level(text) == level


# ---------------------------------------------------------------- storage on both backends


def test_home_care_layers_round_trip_on_postgis(imported, postgis_url: str) -> None:
    _, region, _, _ = imported
    url = new_database(postgis_url)
    store.migrate_database(url)
    layers = {k: region.layer(k) for k in ("facilities", "elders", "service_items", "carers", "orders", "road_nodes",
                                           "road_edges")}
    store.save_region("zz", layers, {"sources": []}, root=url)
    back = store.load_region("zz", root=url)
    files = region  # loaded from the folder store by the fixture
    for name in ("service_items", "carers", "orders"):
        assert_geodataframe_equal(back.layer(name), files.layer(name), check_less_precise=False)
        assert back.manifest["layers"][name]["sha256"] == files.manifest["layers"][name]["sha256"]
    assert back.layer("service_items").geometry.isna().all()
    assert back.layer("orders")["window_start"].dtype == "datetime64[ns]"
    assert list(back.layer("orders").set_index("id").loc["W01", "item_codes"]) == ["SC01", "SC03"]


# ---------------------------------------------------------------- the demo


def test_demo_has_the_desk_tables(demo_region) -> None:
    layers = demo_region.layers
    items, carers, orders = layers["service_items"], layers["carers"], layers["orders"]
    assert 12 <= len(items) <= 16 and items["code"].is_unique and items["name"].is_unique
    assert set(items["category"]) == set(SERVICE_CATEGORIES) - {"其他"}
    assert items["skill"].isin(SETTINGS.carer_skills).all() and items["service_tag"].isin(SETTINGS.service_tags).all()
    assert demo_region.manifest["synthetic"]["orders"] and "非真实" in demo_region.manifest["demo"]["notes_zh"]
    for layer in (items, carers, orders):
        assert layer["synthetic"].all()
    facilities = layers["facilities"].set_index("id")
    providers = facilities[facilities["kind"].isin(SETTINGS.home_care_kinds)]
    assert carers["provider_id"].value_counts().between(3, 8).all() and set(carers["provider_id"]) == set(providers.index)
    assert carers["id"].str.fullmatch(r"C[0-9a-f]{20}").all() and carers["id"].is_unique
    assert all(set(s) <= set(SETTINGS.carer_skills) for s in carers["skills"])
    homes = shapely.STRtree(layers["buildings"].geometry.to_numpy())
    assert len(set(homes.query(carers.geometry.to_numpy(), predicate="within")[0])) == len(carers)  # real buildings
    day = orders[orders["window_start"].dt.date == DEMO_DAY]
    history = orders[orders["window_start"].dt.date < DEMO_DAY]
    assert 60 <= len(day) <= 120 and 1000 <= len(history) <= 3000 and orders["id"].is_unique
    assert set(orders["status"]) <= set(ORDER_STATUSES) and set(orders["channel"]) <= set(CHANNELS)
    assert (day["status"] == "待派单").sum() >= 3 and day["status"].isin(["已完成", "已回访"]).mean() > 0.5
    assert set(history["status"]) <= {"已完成", "已回访", "已取消"}
    assert {"拒单", "超时"} <= {e for events in orders["events"] for e in events}
    assert set(day["channel"]) == set(CHANNELS) and (day["urgency"] == "紧急").any()
    assert (day["window_start"].dt.hour >= 7).all() and (day["window_end"] <= pd.Timestamp("2026-12-01 19:00")).all()
    assert (orders["window_end"] > orders["window_start"]).all()
    codes = set(items["code"])
    assert all(set(c) <= codes for c in orders["item_codes"])
    assert set(orders["elder_id"]) <= set(layers["elders"]["pid"])
    elder_at = layers["elders"].set_index("pid")[["lon", "lat"]]
    assert np.allclose(elder_at.loc[orders["elder_id"]].to_numpy(), orders[["lon", "lat"]].to_numpy())
    followed = orders["status"] == "已回访"
    assert orders.loc[followed, "satisfaction"].between(1, 5).all() and orders.loc[~followed, "satisfaction"].isna().all()
    rating = orders.groupby("provider_id")["satisfaction"].mean()
    assert rating.max() - rating.min() > 0.3  # one provider is better rated than the other
    carer_of = carers.set_index("id")["provider_id"]
    assigned = orders[orders["carer_id"].notna()]
    assert (carer_of.loc[assigned["carer_id"]].to_numpy() == assigned["provider_id"].to_numpy()).all()
    _check_states(orders)
    visits = assigned.dropna(subset=["started_at", "completed_at"]).sort_values(["carer_id", "started_at"])
    same = visits["carer_id"].to_numpy()[1:] == visits["carer_id"].to_numpy()[:-1]
    assert (visits["started_at"].to_numpy()[1:][same] >= visits["completed_at"].to_numpy()[:-1][same]).all()  # no overlap


def _check_states(orders: pd.DataFrame) -> None:
    """Timestamps in state order, and each main-line status has its own timestamp and none of later states."""
    stamps = orders[list(STATE_TIMESTAMPS)]
    for a, b in zip(STATE_TIMESTAMPS, STATE_TIMESTAMPS[1:], strict=False):
        both = stamps[a].notna() & stamps[b].notna()
        assert (stamps.loc[both, b] >= stamps.loc[both, a]).all(), (a, b)
    for k, state in enumerate(ORDER_STATES):
        rows = stamps[orders["status"] == state]
        if k:
            assert rows[STATE_TIMESTAMPS[k]].notna().all(), state
        later = [c for c in STATE_TIMESTAMPS[k + 1:] if k or c not in ("dispatched_at", "accepted_at")]
        assert rows[later].isna().all().all(), state


def test_demo_home_care_is_deterministic(demo_region) -> None:
    layers = demo_region.layers
    base = layers["facilities"].drop(columns=["hours", "capacity_orders_day"])
    homes = layers["buildings"].iloc[:400]
    first = build_home_care(base, layers["elders"], layers["areas"], homes, settings=SETTINGS, seed=7)
    again = build_home_care(base, layers["elders"], layers["areas"], homes, settings=SETTINGS, seed=7)
    other = build_home_care(base, layers["elders"], layers["areas"], homes, settings=SETTINGS, seed=8)
    pd.testing.assert_frame_equal(first[0], again[0])
    for name in ("service_items", "carers", "orders"):
        pd.testing.assert_frame_equal(first[1][name], again[1][name], check_exact=True)
    assert not set(first[1]["carers"]["id"]) & set(other[1]["carers"]["id"])
