"""``eldermap dispatch …`` (desk/cli.py): the 12349 desk on the command line, on a copy of the demo region.

Hand-made cases on days the demo's synthetic orders do not touch (January 2027), so what the commands did can be
checked by hand: the whole flow new → candidates → assign → 已接单 → 服务中 → 已完成 → 已回访 with its audit lines;
a conflict (exit 2, the order log's Chinese message, nothing written); bad states and ids (Chinese errors, exit 2);
the settlement of that month read back (one 健康监测 at 15 元); the day's routes read back (every order routed or
listed with a reason, no formula cell although an order id starts with "="). One real ``eldermap`` process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import copy_demo_region
from hypothesis import given, settings
from hypothesis import strategies as st

import eldermap
from desk import orders_db
from desk.cli import parse_window, split_items

ROOT = Path(__file__).resolve().parents[1]
USER = "desk-op"
DAY = "2027-01-05"
"""A day without demo orders: everything on it was made by these tests."""

WIRE = """
import argparse, sys
sys.path.insert(0, {root!r})
import eldermap
_build = eldermap.build_parser
def build_parser():
    parser = _build()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "dispatch" not in sub.choices:  # until eldermap.py wires desk.cli itself
        from desk.cli import add_commands
        add_commands(sub)
        eldermap._add_global_options(sub.choices["dispatch"], after=True)
    return parser
eldermap.build_parser = build_parser
"""
"""Adds ``dispatch`` to eldermap's parser when eldermap.py does not have it yet (a no-op once it does)."""


def _wired() -> bool:
    parser = eldermap.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return "dispatch" in sub.choices


WIRED = _wired()
"""Whether eldermap.py itself has the ``dispatch`` command (read before any patching)."""


@pytest.fixture(scope="module", autouse=True)
def _dispatch_command():
    with pytest.MonkeyPatch.context() as mp:
        if not WIRED:
            namespace: dict = {}
            exec(WIRE.format(root=str(ROOT)), namespace)  # noqa: S102 - our own few lines above
            mp.setattr(eldermap, "build_parser", namespace["build_parser"])
        mp.setenv("USER", USER)
        yield


@pytest.fixture(scope="module")
def desk(demo_region, tmp_path_factory):
    """A copy of the demo region with its orders ingested, and the hand-picked elder and carer of the flow: a
    carer of a provider with skill 健康管理 at level ≥ 2 on shift 10:00–11:00, and the elder living nearest to it."""
    root = copy_demo_region(demo_region, tmp_path_factory.mktemp("desk_cli"))
    carers = demo_region.layers["carers"]
    fit = carers[[("健康管理" in list(s)) and lv >= 2 and a <= 600 and b >= 660
                  for s, lv, a, b in zip(carers["skills"], carers["skill_level"], carers["shift_start_min"],
                                         carers["shift_end_min"], strict=True)]]
    carer = fit.iloc[0]
    elders = demo_region.elders
    d2 = (elders["lon"] - carer["lon"]) ** 2 + (elders["lat"] - carer["lat"]) ** 2
    elder = elders.loc[d2.idxmin()]
    return {"root": root, "carer": str(carer["id"]), "elder": str(elder["pid"]),
            "elder_lonlat": (float(elder["lon"]), float(elder["lat"])),
            "fit": set(fit["id"].astype(str)), "orders": len(demo_region.layers["orders"])}


def run(capsys, root: Path, *argv: str) -> tuple[int, str, str]:
    code = eldermap.main(["--regions", str(root), "dispatch", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, root: Path, *argv: str) -> str:
    code, out, err = run(capsys, root, *argv)
    assert code == 2, (out, err)
    assert err.startswith("错误：") and err.count("错误：") == 1, err
    assert "Traceback" not in err + out and "Error" not in err, err
    return err


def audit_lines(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "audit.log").read_text(encoding="utf-8").splitlines()]


def dispatch_details(root: Path) -> list[str]:
    return [e["detail"] for e in audit_lines(root) if e["action"] == "dispatch"]


# ---------------------------------------------------------------- values


@settings(max_examples=60, deadline=None)
@given(start=st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 12, 31, 22)),
       minutes=st.integers(min_value=1, max_value=600), sep=st.sampled_from(["-", "–", "~", "至"]))
def test_window_text_round_trips(start: dt.datetime, minutes: int, sep: str) -> None:
    start = start.replace(second=0, microsecond=0)
    end = start + dt.timedelta(minutes=minutes)
    text = f"{start:%Y-%m-%d %H:%M}{sep}{end:%H:%M}" if end.date() == start.date() else \
        f"{start:%Y-%m-%d %H:%M}{sep}{end:%Y-%m-%d %H:%M}"
    assert parse_window(text) == (start, end)


def test_item_names_keep_their_bracketed_commas() -> None:
    assert split_items("助餐配送、健康监测（血压、血糖测量）, SC0301；") == ["助餐配送", "健康监测（血压、血糖测量）", "SC0301"]


# ---------------------------------------------------------------- the flow


def test_ingest_is_idempotent(capsys, desk) -> None:
    code, out, _ = run(capsys, desk["root"], "ingest", "demo")
    assert code == 0 and f"新增 {desk['orders']} 单" in out
    code, out, _ = run(capsys, desk["root"], "ingest", "demo")
    assert code == 0 and "新增 0 单" in out and f"已在工单库中 {desk['orders']} 单" in out
    assert len(orders_db.current_orders("demo", root=desk["root"])) == desk["orders"]


def test_whole_flow_with_audit(capsys, desk) -> None:
    root = desk["root"]
    before = len(audit_lines(root)) if (root / "audit.log").exists() else 0
    code, out, _ = run(capsys, root, "new", "demo", "--elder", desk["elder"], "--items", "健康监测（血压、血糖测量）",
                       "--window", f"{DAY} 10:00-11:00", "--id", "K-FLOW", "--now", f"{DAY} 08:00")
    assert code == 0, out
    lon, lat = desk["elder_lonlat"]
    assert f"约 {lon:.3f}, {lat:.3f}" in out and f"{lon:.4f}" not in out  # never more than 3 decimals
    order = orders_db.get_order("demo", "K-FLOW", root=root)
    assert (order["lon"], order["lat"]) == (lon, lat) and order["item_codes"] == ["SC0301"]
    assert order["status"] == "待派单" and order["channel"] == "12349热线" and order["urgency"] == "普通"

    code, out, _ = run(capsys, root, "candidates", "demo", "K-FLOW")
    assert code == 0 and "可派" in out and "车程" in out and "未入选" in out

    code, out, _ = run(capsys, root, "assign", "demo", "K-FLOW", "--now", f"{DAY} 08:05")
    assert code == 0 and "派给排名第 1 的护理员" in out
    carer = orders_db.get_order("demo", "K-FLOW", root=root)["carer_id"]
    assert carer in desk["fit"]  # a carer with the skill, on shift
    provider = orders_db.get_order("demo", "K-FLOW", root=root)["provider_id"]

    for state, when in (("已接单", "08:07"), ("服务中", "10:01"), ("已完成", "10:40")):
        code, out, _ = run(capsys, root, "move", "demo", "K-FLOW", state, "--now", f"{DAY} {when}")
        assert code == 0 and f"→ {state}" in out
    code, out, _ = run(capsys, root, "move", "demo", "K-FLOW", "已回访", "--satisfaction", "4", "--remarks",
                       "准时，态度好", "--now", f"{DAY} 15:00")
    assert code == 0
    final = orders_db.get_order("demo", "K-FLOW", root=root)
    assert final["status"] == "已回访" and final["satisfaction"] == 4 and final["complaint"] is False
    assert final["remarks"] == "准时，态度好"
    assert final["accepted_at"] == dt.datetime(2027, 1, 5, 8, 7) and final["completed_at"] == dt.datetime(2027, 1, 5, 10, 40)
    events = orders_db.history("demo", "K-FLOW", root=root)
    assert events["event"].tolist() == ["创建", "已派单", "已接单", "服务中", "已完成", "已回访"]
    assert set(events["actor"]) == {USER}

    entries = audit_lines(root)[before:]
    who = f"护理员 {carer}，服务商 {provider}"
    assert [e["detail"] for e in entries] == [
        "工单 K-FLOW：新建 → 待派单（12349热线，普通）",
        f"工单 K-FLOW：待派单 → 已派单（{who}）",
        f"工单 K-FLOW：已派单 → 已接单（{who}）",
        f"工单 K-FLOW：已接单 → 服务中（{who}）",
        f"工单 K-FLOW：服务中 → 已完成（{who}）",
        "工单 K-FLOW：已完成 → 已回访（满意度 4，无投诉）",
    ]
    from data import store

    version = store.current_version("demo", root=root)
    for e in entries:
        assert (e["action"], e["user"], e["role"], e["region"], e["version"]) == ("dispatch", USER, "cli", "demo", version)
        assert desk["elder"] not in json.dumps(e, ensure_ascii=False) and "准时" not in e["detail"]
        assert f"{lon:.3f}" not in e["detail"]

    # the month's settlement: this one 健康监测 (SC0301, 全体老年人, 15 元) is all of January 2027
    out_path = root.parent / "settle_2027_01.xlsx"
    code, out, _ = run(capsys, root, "settle", "demo", "--month", "2027-01", "--out", str(out_path))
    assert code == 0 and "15.0" in out
    wb = openpyxl.load_workbook(out_path)
    assert wb.sheetnames == ["结算汇总", "结算明细", "未计补贴", "说明"]
    rows = [[c.value for c in r] for r in wb["结算汇总"].iter_rows(min_row=3)]
    totals = {r[0]: (r[2], r[3]) for r in rows}
    assert totals.pop("合计") == (1, 15) and totals.pop(provider) == (1, 15)
    assert set(totals.values()) <= {(0, 0)} and rows[-1][0] == "合计"  # the other provider: nothing this month
    detail = [[c.value for c in r] for r in wb["结算明细"].iter_rows(min_row=3)]
    assert [(d[0], d[2], d[4], d[5], d[7]) for d in detail] == [(provider, "SC0301", "全体老年人", 1, 15)]
    assert not any(c.data_type == "f" for ws in wb for r in ws.iter_rows() for c in r)


def test_new_order_with_a_subsidy_group(capsys, desk) -> None:
    """``--group`` is stored as the order's subsidy group; a group outside a subsidised item's eligible groups is
    said at once (the settlement checks the elder instead); an unknown group is refused in Chinese."""
    from desk.settlement import group_warnings_zh

    root = desk["root"]
    code, out, _ = run(capsys, root, "new", "demo", "--elder", desk["elder"], "--items", "SC0301", "--window",
                       f"{DAY} 13:00-14:00", "--id", "K-GROUP", "--group", "低保", "--now", f"{DAY} 08:00")
    assert code == 0 and "补贴类别：低保" in out and "注意" not in out  # SC0301 subsidises every elder
    assert orders_db.get_order("demo", "K-GROUP", root=root)["subsidy_group"] == "低保"
    items = pd.DataFrame({"code": ["A1", "A2", "A3"], "name": ["助浴", "助洁", "理发"], "subsidy_yuan": [30.0, 20.0, 0.0],
                          "eligible_groups": ["特困、低保", "全体老年人", "特困"]})
    assert group_warnings_zh(items, ["A1", "A2", "A3"], "低保") == []
    assert group_warnings_zh(items, ["A1", "A2", "A3"], "高龄") == [
        "“助浴”的补贴对象是特困、低保，不含“高龄”：结算时按老人登记的类别核实"]  # A2: everyone; A3: no subsidy
    assert group_warnings_zh(items, ["A1"], None) == []
    refused_text = refused(capsys, root, "new", "demo", "--elder", desk["elder"], "--items", "SC0301", "--window",
                           f"{DAY} 15:00-16:00", "--group", "富豪")
    assert "--group" in refused_text and "特困" in refused_text


def test_conflict_is_refused_and_nothing_is_written(capsys, desk) -> None:
    root, carer = desk["root"], desk["carer"]
    for oid, window in (("K-A", "13:00-14:00"), ("K-B", "13:30-14:30")):
        code, _, _ = run(capsys, root, "new", "demo", "--elder", desk["elder"], "--items", "SC0301", "--window",
                         f"{DAY} {window}", "--id", oid, "--now", f"{DAY} 08:00")
        assert code == 0
    code, out, _ = run(capsys, root, "assign", "demo", "K-A", "--carer", carer, "--now", f"{DAY} 08:10")
    assert code == 0 and f"护理员 {carer}" in out
    details = dispatch_details(root)
    err = refused(capsys, root, "assign", "demo", "K-B", "--carer", carer, "--now", f"{DAY} 08:11")
    assert err.strip() == f"错误：护理员 {carer} 在 13:00–14:00 已有工单 K-A，请选择其他护理员"
    assert orders_db.get_order("demo", "K-B", root=root)["status"] == "待派单"
    assert dispatch_details(root) == details  # no audit line for a refused dispatch
    # the dispatched order shows as not accepted after the timeout (10 minutes)
    code, out, _ = run(capsys, root, "overdue", "demo", "--now", f"{DAY} 08:25")
    assert code == 0 and "K-A" in out and "未接单 1 单" in out and "15" in out
    code, out, _ = run(capsys, root, "queue", "demo", "--now", f"{DAY} 08:25")
    assert code == 0 and "K-B" in out and "超时未接单" in out


def test_bad_states_and_ids_in_chinese(capsys, desk) -> None:
    root = desk["root"]
    err = refused(capsys, root, "move", "demo", "K-FLOW", "飞走")
    assert "已接单" in err and "已取消" in err
    assert "找不到工单 NOPE" in refused(capsys, root, "move", "demo", "NOPE", "已接单")
    assert "找不到工单 NOPE" in refused(capsys, root, "candidates", "demo", "NOPE")
    code, _, _ = run(capsys, root, "new", "demo", "--lon", "24.94", "--lat", "60.17", "--items", "SC0301",
                     "--window", f"{DAY} 16:00-17:00", "--id", "K-C", "--now", f"{DAY} 08:00")
    assert code == 0
    assert "找不到护理员“XYZ”" in refused(capsys, root, "assign", "demo", "K-C", "--carer", "XYZ")
    assert "没有服务商 F999 符合条件的护理员" in refused(capsys, root, "assign", "demo", "K-C", "--provider", "F999")
    err = refused(capsys, root, "move", "demo", "K-C", "已完成")
    assert "当前状态为“待派单”" in err and "不能执行“已完成”" in err
    assert "--satisfaction" in refused(capsys, root, "move", "demo", "K-C", "已回访")
    assert "--satisfaction" in refused(capsys, root, "move", "demo", "K-C", "已取消", "--satisfaction", "3")
    assert "--satisfaction" in refused(capsys, root, "move", "demo", "K-C", "已回访", "--satisfaction", "6")
    assert "服务清单" in refused(capsys, root, "new", "demo", "--lon", "24.94", "--lat", "60.17", "--items", "助飞",
                                "--window", f"{DAY} 16:00-17:00")
    assert "--window" in refused(capsys, root, "new", "demo", "--lon", "24.94", "--lat", "60.17", "--items",
                                 "SC0301", "--window", "明天上午")
    assert "--lat" in refused(capsys, root, "new", "demo", "--lon", "24.94", "--items", "SC0301", "--window",
                              f"{DAY} 16:00-17:00")
    assert "不在地区“demo”的范围内" in refused(capsys, root, "new", "demo", "--lon", "60.17", "--lat", "24.94",
                                               "--items", "SC0301", "--window", f"{DAY} 16:00-17:00")
    assert "老年人图层" in refused(capsys, root, "new", "demo", "--elder", "P-NOPE", "--items", "SC0301",
                                 "--window", f"{DAY} 16:00-17:00")
    assert "2026-11" in refused(capsys, root, "settle", "demo", "--month", "2026-13", "--out",
                                str(root.parent / "x.xlsx"))
    assert not (root.parent / "x.xlsx").exists()
    assert "子命令" in refused(capsys, root, "bogus")
    code, _, _ = run(capsys, root, "move", "demo", "K-C", "已取消", "--now", f"{DAY} 08:30")
    assert code == 0 and orders_db.get_order("demo", "K-C", root=root)["status"] == "已取消"


def test_routes_workbook_read_back(capsys, desk) -> None:
    root = desk["root"]
    code, _, _ = run(capsys, root, "new", "demo", "--elder", desk["elder"], "--items", "SC0301", "--window",
                     f"{DAY} 16:00-17:00", "--id", "=1+2", "--now", f"{DAY} 08:00")
    assert code == 0
    out_path, map_path = root.parent / "routes.xlsx", root.parent / "routes.geojson"
    code, out, _ = run(capsys, root, "routes", "demo", "--day", DAY, "--out", str(out_path), "--map", str(map_path),
                       "--waiting")
    assert code == 0, out
    day_orders = orders_db.current_orders("demo", root=root)
    day_orders = day_orders[(day_orders["window_start"].dt.date == dt.date(2027, 1, 5))
                            & (day_orders["status"] != "已取消")]
    wb = openpyxl.load_workbook(out_path)
    assert wb.sheetnames == ["路线", "护理员汇总", "未排入", "说明"]
    assert not any(c.data_type == "f" for ws in wb for r in ws.iter_rows() for c in r)
    route = [[c.value for c in r] for r in wb["路线"].iter_rows(min_row=2)]
    left = [[c.value for c in r] for r in wb["未排入"].iter_rows(min_row=2)]
    visited = [r[2] for r in route if r[2] != "（返回驻地）"]
    ids = {"'=1+2" if i == "=1+2" else i for i in day_orders["id"]}
    assert sorted(visited + [r[0] for r in left]) == sorted(ids)  # each order once: routed or left out
    assert all(r[1] for r in left)  # with a reason
    if "K-A" in set(day_orders["id"]):  # dispatched by the conflict test above: stays with its carer
        assert next(r for r in route if r[2] == "K-A")[0] == desk["carer"]
    carers_used = {r[0] for r in route}
    assert sum(r[2] == "（返回驻地）" for r in route) == len(carers_used)
    collection = json.loads(map_path.read_text(encoding="utf-8"))
    assert {f["properties"]["kind"] for f in collection["features"]} <= {"route", "base", "visit"}
    entry = audit_lines(root)[-1]
    assert entry["action"] == "export" and str(out_path) in entry["detail"]


def test_one_real_process(desk, tmp_path: Path) -> None:
    """`eldermap dispatch ratings` as its own process: Chinese output, the table written, exit 0."""
    out_path = tmp_path / "评价.csv"
    env = {**os.environ, "ELDERMAP_REGIONS": str(desk["root"]), "PYTHONIOENCODING": "utf-8", "LANG": "C.UTF-8"}
    env.pop("ELDERMAP_SETTINGS", None)
    argv = ["dispatch", "ratings", "demo", "--out", str(out_path)]
    if WIRED:
        cmd = [sys.executable, str(ROOT / "eldermap.py"), *argv]
    else:
        cmd = [sys.executable, "-c", WIRE.format(root=str(ROOT)) + "sys.exit(eldermap.main(sys.argv[1:]))", *argv]
    done = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "服务商评价" in done.stdout and "末位" in done.stdout and "Traceback" not in done.stderr
    text = out_path.read_text(encoding="utf-8-sig")
    assert text.startswith("服务商编号,服务商名称,综合评分(0–5)") and "F021" in text and "F022" in text
