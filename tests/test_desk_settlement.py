"""Subsidy settlement (desk.settlement), computed by hand, and the workbook read back with openpyxl."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import Point

from data.store import Region
from desk import orders_db
from desk.errors import DeskError
from desk.settlement import elder_groups, settle, settle_orders, write_settlement_workbook
from geo.settings import Settings

SETTINGS = Settings(oldest_old_age=80)
ITEMS = pd.DataFrame([
    {"code": "A01", "name": "助浴服务", "category": "生活照料", "eligible_groups": ["失能", "特困"], "subsidy_yuan": 30.0},
    {"code": "A02", "name": "送餐上门", "category": "生活照料", "eligible_groups": "高龄", "subsidy_yuan": 5.0},
    {"code": "A03", "name": "健康咨询", "category": "健康管理", "eligible_groups": ["全体老年人"], "subsidy_yuan": 10.0},
    {"code": "A04", "name": "家政保洁", "category": "家政服务", "eligible_groups": [], "subsidy_yuan": 0.0},
])
ELDERS = gpd.GeoDataFrame({
    "pid": ["E1", "E2", "E3", "E4"],
    "groups": [["特困"], [], ["低保"], None],
    "ability_level": ["能力完好", "中度失能", "能力完好", "能力完好"],
    "birth_year": [1940, 1960, 1946, 1947],
    "birth_month": [3, 5, 12, 1],  # E3 turns 80 in December 2026; E4 is 79
}, geometry=[Point(113.6, 34.7)] * 4, crs=4326)
PROVIDERS = pd.DataFrame({"id": ["P1", "P2", "P3"], "name": ["阳光护理", '=HYPERLINK("http://x","点我")', "丙"]})


def _o(oid: str, elder: str, codes: list[str], completed: str, *, status: str = "已完成", provider: str = "P1",
       group: str | None = None) -> dict:
    return {"id": oid, "elder_id": elder, "item_codes": codes, "status": status, "provider_id": provider,
            "completed_at": completed, "window_start": completed, "subsidy_group": group}


ORDERS = pd.DataFrame([
    _o("o1", "E1", ["A01", "A02"], "2026-12-03 10:00"),            # A01 特困 (E1 is not 失能), A02 高龄
    _o("o2", "E2", ["A01"], "2026-12-10 10:00", status="已回访"),   # A01 失能
    _o("o3", "E3", ["A02", "A04"], "2026-12-31 23:00"),            # A02 高龄 (80 this month); A04 no subsidy
    _o("o4", "E2", ["A02"], "2026-12-05 10:00"),                   # E2 is 66: not 高龄
    _o("o5", "EX", ["A03"], "2026-12-06 10:00", group="低保"),      # named group, item for everyone: 全体老年人
    _o("o6", "EX", ["A01"], "2026-12-06 11:00", group="低保"),      # named group not eligible for A01
    _o("o7", "EX", ["A03"], "2026-12-06 12:00"),                   # no group, elder unknown
    _o("o8", "E1", ["A01"], "2026-11-30 23:59"),                   # November
    _o("o9", "E1", ["A01"], "2026-12-02 10:00", status="服务中"),   # not done
    _o("o10", "E3", ["A02"], "2026-12-01 00:00", provider="P2"),   # P2: A02 高龄
    _o("o11", "E1", ["A01"], "2027-01-01 00:00"),                  # January
    _o("o12", "E2", ["A01"], "2026-12-15 10:00"),                  # A01 失能
    _o("o13", "E2", ["A01"], "2026-12-16 10:00", group="高龄"),     # named group does not fit: the layer says 失能
    _o("o14", "E4", ["A01"], "2026-12-16 11:00", group="高龄"),     # neither fits
])
ORDERS["completed_at"] = pd.to_datetime(ORDERS["completed_at"])
ORDERS["window_start"] = pd.to_datetime(ORDERS["window_start"])


def test_elder_groups_by_hand() -> None:
    groups = elder_groups(ELDERS, SETTINGS, on=dt.date(2026, 12, 31))
    assert groups == {"E1": {"特困", "高龄", "全体老年人"}, "E2": {"失能", "全体老年人"},
                      "E3": {"低保", "高龄", "全体老年人"}, "E4": {"全体老年人"}}
    assert "高龄" not in elder_groups(ELDERS, SETTINGS, on=dt.date(2026, 11, 30))["E3"]  # 79 until December


def test_hand_computed_settlement() -> None:
    result = settle_orders(ORDERS, ITEMS, ELDERS, SETTINGS, "2026-12", providers=PROVIDERS)
    detail = result.detail[["provider_id", "item_code", "group", "orders", "subsidy_yuan", "amount_yuan"]]
    assert detail.values.tolist() == [
        ["P1", "A01", "失能", 3, 30.0, 90.0],
        ["P1", "A01", "特困", 1, 30.0, 30.0],
        ["P1", "A02", "高龄", 2, 5.0, 10.0],
        ["P1", "A03", "全体老年人", 1, 10.0, 10.0],
        ["P2", "A02", "高龄", 1, 5.0, 5.0],
    ]
    assert result.totals[["provider_id", "orders", "amount_yuan"]].values.tolist() == [
        ["P1", 7, 140.0], ["P2", 1, 5.0], ["P3", 0, 0.0], ["合计", 8, 145.0]]
    left = result.left_out.set_index(["order_id", "item_code"])["reason"]
    assert left.to_dict() == {
        ("o3", "A04"): "该项目没有政府补贴",
        ("o4", "A02"): "老人不属于该项目的补贴对象（高龄）",
        ("o6", "A01"): "工单的补贴类别“低保”不在该项目的补贴对象（失能、特困）中，老人编号也不在老年人图层中",
        ("o7", "A03"): "未填补贴类别，且老人编号不在老年人图层中，无法核实补贴资格",
        ("o14", "A01"): "工单的补贴类别“高龄”和老人的类别都不在该项目的补贴对象（失能、特困）中",
    }
    assert dict(result.notes)["计入工单"].endswith("本月共 11 单")


def test_workbook_read_back_has_no_formula(tmp_path: Path) -> None:
    result = settle_orders(ORDERS, ITEMS, ELDERS, SETTINGS, "2026-12", providers=PROVIDERS)
    path = write_settlement_workbook(result, tmp_path / "结算.xlsx", area="演示区")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["结算汇总", "结算明细", "未计补贴", "说明"]
    ws = wb["结算汇总"]
    assert ws["A1"].value == "演示区2026年12月居家养老服务补贴结算表"
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert rows == [["服务商编号", "服务商名称", "补贴服务人次", "补贴金额(元)"], ["P1", "阳光护理", 7, 140],
                    ["P2", "'=HYPERLINK(\"http://x\",\"点我\")", 1, 5], ["P3", "丙", 0, 0], ["合计", None, 8, 145]]
    assert ws["D3"].number_format == "#,##0.00"
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    notes = {r[0].value: r[1].value for r in wb["说明"].iter_rows(min_row=2)}
    assert "以工单登记的补贴类别为准" in notes["补贴资格（工单填了补贴类别）"]
    assert "按老年人图层核实" in notes["补贴资格（工单未填补贴类别）"]
    assert not list(tmp_path.glob(".*tmp"))  # atomic: no temporary file left
    with pytest.raises(DeskError, match="结算月份“2026-13”无效"):
        settle_orders(ORDERS, ITEMS, ELDERS, SETTINGS, "2026-13")


def test_settle_reads_the_order_log(tmp_path: Path) -> None:
    from data import store

    facilities = gpd.GeoDataFrame({"id": ["P1"], "name": ["阳光护理"], "kind": "居家上门服务商"},
                                  geometry=[Point(113.6, 34.7)], crs=4326)
    store.save_region("s", {"facilities": facilities}, {}, root=tmp_path)
    t = dt.datetime(2026, 12, 2, 8)
    orders_db.create_order("s", {"id": "k1", "elder_id": "E2", "item_codes": ["A01"], "window_start": "2026-12-02 09:00",
                                 "window_end": "2026-12-02 10:00"}, actor="s", root=tmp_path, now=t)
    orders_db.dispatch("s", "k1", "P1", "c1", actor="s", root=tmp_path, now=t)
    for step in ("已接单", "服务中", "已完成"):
        orders_db.transition("s", "k1", step, actor="c1", root=tmp_path, now=t + dt.timedelta(hours=2))
    region = Region("s", tmp_path / "s", {}, {"facilities": facilities, "service_items": ITEMS, "elders": ELDERS})
    result = settle(region, SETTINGS, "2026-12", root=tmp_path)
    assert result.totals[["provider_id", "amount_yuan"]].values.tolist() == [["P1", 30.0], ["合计", 30.0]]


def test_an_empty_settlement_says_why() -> None:
    from desk.settlement import nothing_subsidised_zh

    done = settle_orders(ORDERS, ITEMS, ELDERS, SETTINGS, "2026-12", providers=PROVIDERS)
    assert nothing_subsidised_zh(done) is None
    nothing = settle_orders(ORDERS, ITEMS, ELDERS, SETTINGS, "2025-01", providers=PROVIDERS)
    assert nothing.detail.empty and nothing.left_out.empty
    assert nothing_subsidised_zh(nothing) == "2025年1月没有已完成或已回访的服务工单，补贴金额为 0"
    # a month whose services are all outside the subsidy: the count and where the reasons are
    unfunded = settle_orders(ORDERS, ITEMS.assign(eligible_groups="特困"), ELDERS.iloc[0:0], SETTINGS, "2026-12",
                             providers=PROVIDERS)
    assert unfunded.detail.empty and len(unfunded.left_out) == 13
    assert nothing_subsidised_zh(unfunded) == ("2026年12月没有可计补贴的服务：该月已完成的服务中有 13 项不符合补贴条件，"
                                               "原因见“未计补贴”")
