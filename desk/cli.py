"""``eldermap dispatch …``: the 12349 service desk (服务调度) on the command line.

:func:`add_commands` adds ``dispatch`` to ``eldermap``'s subparsers, with one subcommand per step of the flow of
seed 004 (服务确认 → 企业派单 → 服务跟踪 → 服务评价 → 质量回访 → 费用结算):

- ``ingest REGION`` — bring the region's imported ``orders`` layer into the order log (idempotent);
- ``queue REGION`` — orders waiting for dispatch (紧急 first), with the dispatched orders not accepted in time;
- ``new REGION`` — take a call: an elder (pseudonymous id) or a point, service items, a time window;
- ``candidates REGION ORDER`` — eligible providers and carers, ranked with reasons, and those left out with why;
- ``assign REGION ORDER [--carer C]`` — dispatch (待派单 → 已派单); without ``--carer``, to the top candidate;
- ``move REGION ORDER STATE`` — 已接单、服务中、已完成、已回访 (with satisfaction), 拒单、超时、未上门、已取消;
- ``overdue REGION`` — dispatched orders not accepted within ``settings.desk_accept_timeout_min``;
- ``ratings REGION`` — providers' ratings with their counts, 末位 flagged;
- ``settle REGION --month YYYY-MM --out F.xlsx`` — the month's subsidy settlement workbook;
- ``routes REGION --day YYYY-MM-DD --out F.xlsx`` — the carers' routes of a day on the road network.

Every change is written by :mod:`desk.orders_db` (one transaction each) and recorded in the audit log
(``dispatch``: order id, states, provider and carer ids; never an elder's data). Files written are recorded as
``export``. Every message is Chinese; errors exit 2 through ``eldermap.main``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from typing import Any

from cli_args import Date, InFile, Name, OutFile, Parsed, RegionsDir, Text, UsageError, _number, arg, preflight
from data.schema import ELIGIBLE_GROUPS
from geo.errors import ElderMapError
from geo.settings import Settings

STATE_CHOICES: tuple[str, ...] = ("已接单", "服务中", "已完成", "已回访", "拒单", "超时", "未上门", "已取消")
"""What ``dispatch move`` accepts (已派单 goes through ``dispatch assign``)."""
CHANNEL_CHOICES: tuple[str, ...] = ("12349热线", "网络平台", "智能终端", "工作人员")
ROUTE_STATES: tuple[str, ...] = ("已派单", "已接单", "服务中", "已完成", "已回访")
"""Orders of the day that ``dispatch routes`` plans by default: those holding a carer (cancelled ones never)."""
TABLE_SUFFIXES = (".csv", ".xlsx")
_WINDOW = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2})\s*(\d{1,2}[:：]\d{2})\s*[-–—~～至到]\s*"
                     r"(?:(\d{4}-\d{1,2}-\d{1,2})\s*)?(\d{1,2}[:：]\d{2})\s*$")
_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
_lon = _number(-180, 180, low_open=False, unit="（经度，WGS-84）")
_lat = _number(-90, 90, low_open=False, unit="（纬度，WGS-84）")
_satisfaction = _number(1, 5, integer=True, low_open=False, unit=" 分")


# ---------------------------------------------------------------- value checks (cli_args Parsed roles)


def _desk_error(zh: str, en: str) -> ElderMapError:
    from desk.errors import DeskError

    return DeskError(zh, en)


def parse_window(text: str) -> tuple[dt.datetime, dt.datetime]:
    """"2026-12-01 09:00-10:00" (or "…09:00-2026-12-02 01:00") as two local times; a Chinese error otherwise."""
    match = _WINDOW.match(text or "")
    example = "应写作 2026-12-01 09:00-10:00（日期 开始时刻-结束时刻）"
    if not match:
        raise _desk_error(f"预约时间“{text}”无法识别，{example}", f"bad window {text!r}")
    day, start, end_day, end = match.groups()
    try:
        a = dt.datetime.strptime(f"{day} {start.replace('：', ':')}", "%Y-%m-%d %H:%M")
        b = dt.datetime.strptime(f"{end_day or day} {end.replace('：', ':')}", "%Y-%m-%d %H:%M")
    except ValueError:
        raise _desk_error(f"预约时间“{text}”中的日期或时刻无效，{example}", f"bad window {text!r}") from None
    if b <= a:
        raise _desk_error(f"预约时间“{text}”的结束时刻应晚于开始时刻", f"window ends before it starts: {text!r}")
    return a, b


def parse_now(text: str) -> dt.datetime:
    """"2026-12-01 16:00" (seconds optional) as a local time; a Chinese error otherwise."""
    try:
        return dt.datetime.strptime(text.strip().replace("：", ":").replace("T", " "), "%Y-%m-%d %H:%M")
    except ValueError:
        pass
    try:
        return dt.datetime.strptime(text.strip().replace("T", " "), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise _desk_error(f"操作时间“{text}”无效，应写作 2026-12-01 16:00", f"bad time {text!r}") from None


def parse_month(text: str) -> str:
    """"2026-11" as "2026-11"; a Chinese error otherwise."""
    match = _MONTH.match(text or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise _desk_error(f"结算月份“{text}”无效，应写作 2026-11", f"bad month {text!r}")
    return f"{int(match.group(1)):04d}-{int(match.group(2)):02d}"


def _window_value(value: str, settings: Settings) -> object:
    return parse_window(value)


def _now_value(value: str, settings: Settings) -> object:
    return parse_now(value)


def _month_value(value: str, settings: Settings) -> object:
    return parse_month(value)


# ---------------------------------------------------------------- the parser


NOW_HELP = "操作时间（默认当前时间；补录或演示时指定，如 2026-12-01 16:00）"


def _globals(p: argparse.ArgumentParser) -> None:
    """--settings, --regions and -v after the subcommand too (set only when given, as eldermap's own)."""
    arg(p, "--settings", role=InFile((".toml",), "设置文件"), default=argparse.SUPPRESS,
        help="设置文件（TOML），默认读取 $ELDERMAP_SETTINGS 或内置默认值")
    arg(p, "--regions", role=RegionsDir(), default=argparse.SUPPRESS, help="地区数据目录，默认 $ELDERMAP_REGIONS 或 ./regions")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="输出英文运行日志")


def _region(p: argparse.ArgumentParser) -> None:
    arg(p, "region", role=Name("region"), help="地区名称")


def _order(p: argparse.ArgumentParser) -> None:
    arg(p, "order", role=Text(64), help="工单编号")


def add_commands(subparsers: Any) -> None:
    """Add ``dispatch`` (ingest, queue, new, candidates, assign, move, overdue, ratings, settle, routes) to the
    subparsers of ``eldermap``."""
    top = subparsers.add_parser(
        "dispatch", help="12349 居家上门服务调度：受理、派单、跟踪、回访、评价、结算、护理员路线",
        description="12349 居家上门服务调度：服务确认 → 企业派单 → 服务跟踪 → 服务评价 → 质量回访 → 费用结算。"
                    "每次改动写入服务工单库并记入审计日志（只记工单编号、状态、服务商和护理员编号）。")
    sub = top.add_subparsers(dest="dispatch_command", metavar="子命令", required=True,
                             help="ingest、queue、new、candidates、assign、move、overdue、ratings、settle 或 routes")

    p = sub.add_parser("ingest", help="把地区已导入的服务工单图层载入服务工单库（可重复运行，已有的工单不变）")
    _region(p)
    _globals(p)
    p.set_defaults(func=_checked(p, cmd_ingest))

    p = sub.add_parser("queue", help="待派单工单（紧急的在前），并列出派单后超时未接单的工单")
    _region(p)
    arg(p, "--out", role=OutFile(TABLE_SUFFIXES), help="另存为表格（.csv 或 .xlsx）")
    arg(p, "--now", role=Parsed(_now_value), help=NOW_HELP)
    _globals(p)
    p.set_defaults(func=_checked(p, cmd_queue))

    p = sub.add_parser("new", help="受理来电：老人（假名编号）或服务地址坐标、服务项目、预约时间",
                       description="受理一个服务需求（服务确认），工单进入“待派单”。服务地址用 --elder 老人编号"
                                   "（取老人登记的位置）或 --lon/--lat 坐标（WGS-84）给出。")
    arg(p, "region", role=Name("region"), help="地区名称")
    arg(p, "--elder", role=Text(64), help="老人编号（假名，如 P1ebcb477…）：服务地址取老人登记的位置")
    p.add_argument("--lon", type=_lon, help="服务地址经度（WGS-84），与 --lat 一起给出")
    p.add_argument("--lat", type=_lat, help="服务地址纬度（WGS-84），与 --lon 一起给出")
    arg(p, "--items", role=Text(300), required=True,
        help="服务项目：服务清单的项目名称或编码，多个用逗号分隔，如 助餐配送,健康监测（血压、血糖测量）")
    arg(p, "--window", role=Parsed(_window_value), required=True, help="预约时间，如 \"2026-12-01 09:00-10:00\"")
    p.add_argument("--urgent", action="store_true", help="紧急（含紧急救援类项目时自动为紧急）")
    p.add_argument("--channel", choices=CHANNEL_CHOICES, default="12349热线", help="来源渠道（默认 12349热线）")
    p.add_argument("--group", choices=ELIGIBLE_GROUPS, default=None,
                   help="补贴类别：本单享受补贴所依据的群体，如 特困、低保、失能（须在服务项目的补贴对象内，结算时才计补贴）；"
                        "不填为自费")
    arg(p, "--id", role=Text(64), help="工单编号（默认自动生成 O+时间）")
    arg(p, "--now", role=Parsed(_now_value), help=NOW_HELP)
    _globals(p)
    p.set_defaults(func=_checked(p, cmd_new))

    p = sub.add_parser("candidates", help="工单的可派服务商和护理员：按车程、评分、负荷排序并说明理由，未入选的说明原因")
    _region(p)
    _order(p)
    _globals(p)
    p.set_defaults(func=_checked(p, cmd_candidates))

    p = sub.add_parser("assign", help="派单：待派单 → 已派单（不写 --carer 时派给排名第 1 的护理员）",
                       description="派单（待派单 → 已派单）。不写 --carer 时派给 candidates 排名第 1 的护理员；"
                                   "指定的护理员不符合条件（技能、工作时间、服务范围等）时拒绝，除非加 --force。"
                                   "护理员在该时段已有工单时一律拒绝（冲突）。")
    _region(p)
    _order(p)
    arg(p, "--carer", role=Text(64), help="护理员编号（默认排名第 1 的护理员）")
    arg(p, "--provider", role=Text(64), help="服务商编号（默认护理员所属的服务商）")
    p.add_argument("--force", action="store_true", help="指定的护理员不符合派单条件时仍然派单（调度员确认；时段冲突仍拒绝）")
    arg(p, "--now", role=Parsed(_now_value), help=NOW_HELP)
    _globals(p)
    p.set_defaults(func=_checked(p, cmd_assign))

    p = sub.add_parser("move", help="工单状态：已接单、服务中、已完成、已回访（须 --satisfaction），或拒单、超时、未上门、已取消",
                       description="推进工单：已派单 → 已接单 → 服务中 → 已完成 → 已回访；拒单、超时（已派单）和未上门"
                                   "（已接单）使工单回到待派单；已取消为终态。")
    _region(p)
    _order(p)
    p.add_argument("state", choices=STATE_CHOICES, help="新状态或异常事件")
    p.add_argument("--satisfaction", type=_satisfaction, help="回访满意度 1–5（已回访时必填）")
    arg(p, "--remarks", role=Text(500), help="回访意见（已回访时可填，纯文本）")
    p.add_argument("--complaint", action="store_true", help="回访时有投诉")
    arg(p, "--note", role=Text(200), help="备注（记在工单的操作记录中）")
    arg(p, "--now", role=Parsed(_now_value), help=NOW_HELP)
    _globals(p)
    p.set_defaults(func=_checked(p, cmd_move))

    p = sub.add_parser("overdue", help="派单后超过设定时间（desk_accept_timeout_min）仍未接单的工单")
    _region(p)
    arg(p, "--now", role=Parsed(_now_value), help=NOW_HELP)
    arg(p, "--out", role=OutFile(TABLE_SUFFIXES), help="另存为表格（.csv 或 .xlsx）")
    _globals(p)
    p.set_defaults(func=_checked(p, cmd_overdue))

    p = sub.add_parser("ratings", help="服务商评价：回访满意度、准时率、投诉（含统计单数），标出末位")
    _region(p)
    arg(p, "--out", role=OutFile(TABLE_SUFFIXES), help="另存为表格（.csv 或 .xlsx）")
    _globals(p)
    p.set_defaults(func=_checked(p, cmd_ratings))

    p = sub.add_parser("settle", help="按月补贴结算：各服务商按服务项目和补贴类别的人次与金额（xlsx，含说明）")
    _region(p)
    arg(p, "--month", role=Parsed(_month_value), required=True, help="结算月份，如 2026-11")
    arg(p, "--out", role=OutFile((".xlsx",)), required=True, help="结算表（.xlsx）")
    _globals(p)
    p.set_defaults(func=_checked(p, cmd_settle))

    p = sub.add_parser("routes", help="护理员当日上门路线（路网车程、时间窗、技能），导出 xlsx",
                       description="规划一天中各护理员的上门顺序（VROOM，路网车程矩阵）：默认计入当天已派给护理员的工单"
                                   "（已派单、已接单、服务中、已完成、已回访），保持原护理员；--waiting 另把待派单工单交给"
                                   "求解器建议护理员。排不进的工单列出原因。")
    _region(p)
    arg(p, "--day", role=Date(), required=True, help="日期，如 2026-12-01")
    arg(p, "--out", role=OutFile((".xlsx",)), required=True, help="路线表（.xlsx）")
    arg(p, "--map", role=OutFile((".geojson",)), help="路线地图（GeoJSON，沿道路；含老人住址点，仅供工作人员）")
    p.add_argument("--waiting", action="store_true", help="同时安排当天待派单的工单（求解器建议护理员，不派单）")
    p.add_argument("--per-carer", action="store_true", help="每名护理员另起一个工作表")
    _globals(p)
    p.set_defaults(func=_checked(p, cmd_routes))


def _settings_of(args: argparse.Namespace) -> Settings:
    from geo.settings import load_settings

    return load_settings(getattr(args, "settings", None) or os.environ.get("ELDERMAP_SETTINGS") or None)


def _checked(parser: argparse.ArgumentParser, handler: Any) -> Any:
    """The handler, after the values of this nested parser are checked (eldermap checks the ``dispatch``
    parser's own)."""

    def run(args: argparse.Namespace) -> int:
        loaded: list[Settings] = []

        def settings() -> Settings:
            if not loaded:
                loaded.append(_settings_of(args))
            return loaded[0]

        preflight(parser, args, settings)
        return int(handler(args, settings()))

    return run


# ---------------------------------------------------------------- shared helpers


def _user() -> str:
    return os.environ.get("USER", "") or "cli"


def _root(args: argparse.Namespace) -> str | None:
    return getattr(args, "regions", None)


_LOADED: dict[tuple[str, str, str], Any] = {}
"""Regions loaded in this process, by (store, name, version): one load per version (tests run many commands in
one process; a new version is loaded afresh)."""


def _load(args: argparse.Namespace):  # -> data.store.Region
    from data import store

    root = _root(args)
    key = (str(store.database_url(root) or store.regions_root(root)), args.region,
           store.current_version(args.region, root=root))
    if not key[2] or key not in _LOADED:
        region = store.load_region(args.region, root=root)  # a missing region: its Chinese error
        _LOADED.clear()
        _LOADED[key] = region
    return _LOADED[key]


def _version(args: argparse.Namespace) -> str:
    """The region's current version (for the audit line), checking the region exists without loading it."""
    from data import store

    version = store.current_version(args.region, root=_root(args))
    if not version:
        store.load_region(args.region, root=_root(args))  # raises the store's Chinese "region not found"
    return version


def _audit(args: argparse.Namespace, region, detail: str, *, action: str = "dispatch", rows: int | None = None) -> None:
    """One audit line; ``region`` is a loaded region or its version name."""
    from data import audit

    version = region if isinstance(region, str) else region.version
    audit.record(action, user=_user(), role=audit.CLI_ROLE, region=args.region, version=version, rows=rows,
                 detail=detail, root=_root(args))


def _show(frame, *, limit: int | None = None) -> None:
    """A table on stdout, columns aligned for Chinese text."""
    import pandas as pd

    if frame.empty:
        return
    shown = frame if limit is None else frame.head(limit)
    with pd.option_context("display.unicode.east_asian_width", True, "display.max_columns", None,
                           "display.width", 250, "display.max_colwidth", 120):
        print(shown.to_string(index=False))
    if limit is not None and len(frame) > limit:
        print(f"……另有 {len(frame) - limit} 行")


def _write(frame, path: str, *, sheet: str) -> None:
    from data.store import write_table

    write_table(frame, path, sheet_name=sheet)
    print(f"已写出 {path}")


def _item_names(region) -> dict[str, str]:
    items = region.layers.get("service_items") if hasattr(region.layers, "get") else None
    if items is None or not len(items):
        return {}
    return dict(zip(items["code"].astype(str), items["name"].astype(str), strict=True))


def _items_zh(codes: object, names: dict[str, str]) -> str:
    from desk.orders_db import split_tags

    return "、".join(f"{names.get(c, c)}（{c}）" if c in names else c for c in split_tags(codes))


def _when(value: object) -> str:
    from desk.orders_db import to_time

    t = to_time(value)
    return "" if t is None else f"{t:%Y-%m-%d %H:%M}"


def _now(args: argparse.Namespace, settings: Settings) -> dt.datetime:
    from desk.orders_db import local_now

    return parse_now(args.now) if getattr(args, "now", None) else local_now(settings)


def _order_row(args: argparse.Namespace) -> dict[str, Any]:
    from desk import orders_db

    return orders_db.get_order(args.region, args.order.strip(), root=_root(args))


def _who(provider: object, carer: object) -> str:
    parts = [f"护理员 {carer}" if carer else "", f"服务商 {provider}" if provider else ""]
    return "，".join(p for p in parts if p)


# ---------------------------------------------------------------- commands


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from desk import orders_db

    region = _load(args)
    orders = region.layers.get("orders") if hasattr(region.layers, "get") else None
    if orders is None or not len(orders):
        raise _desk_error(f"地区“{args.region}”没有已导入的服务工单（orders 图层为空）；请先导入："
                          f"eldermap import {args.region} --orders 文件", "no orders layer")
    added, present = orders_db.ingest_orders(args.region, orders, actor=_user(), root=_root(args),
                                             items=region.layers.get("service_items"), now=_now(args, settings))
    _audit(args, region, f"载入服务工单图层：新增 {added} 单，已存在 {present} 单", rows=added)
    print(f"已载入地区“{args.region}”的服务工单：新增 {added} 单，已在工单库中 {present} 单（未改动）")
    return 0


def _flag_waiting(row: dict[str, Any], now: dt.datetime) -> str:
    from desk.orders_db import to_time

    start = to_time(row["window_start"])
    end = to_time(row["window_end"])
    if end is not None and end <= now:
        return "已过预约时间"
    if start is not None and start <= now:
        return "预约时间已开始"
    return ""


def cmd_queue(args: argparse.Namespace, settings: Settings) -> int:
    import pandas as pd

    from desk import orders_db
    from desk.dispatch import queue_of

    region = _load(args)
    names = _item_names(region)
    now = _now(args, settings)
    current = orders_db.current_orders(args.region, root=_root(args), status=["待派单", "已派单"])
    waiting = queue_of(current)
    late = orders_db.overdue_orders(current, now, settings=settings)
    rows = []
    for r in waiting.to_dict("records"):
        rows.append({"工单编号": r["id"], "状态": r["status"], "紧急程度": r["urgency"],
                     "预约时间": orders_db.window_span_zh(r["window_start"], r["window_end"]),
                     "服务项目": _items_zh(r["item_codes"], names), "来源渠道": r["channel"],
                     "下单时间": _when(r["created_at"]), "提示": _flag_waiting(r, now)})
    for r in late.to_dict("records"):
        rows.append({"工单编号": r["id"], "状态": r["status"], "紧急程度": r["urgency"],
                     "预约时间": orders_db.window_span_zh(r["window_start"], r["window_end"]),
                     "服务项目": _items_zh(r["item_codes"], names), "来源渠道": r["channel"],
                     "下单时间": _when(r["created_at"]),
                     "提示": f"超时未接单（派单后 {r['waiting_min']:.0f} 分钟，{_who(r['provider_id'], r['carer_id'])}）"})
    table = pd.DataFrame(rows, columns=["工单编号", "状态", "紧急程度", "预约时间", "服务项目", "来源渠道", "下单时间", "提示"])
    urgent = int((waiting["urgency"] == "紧急").sum()) if len(waiting) else 0
    print(f"地区“{args.region}”（{now:%Y-%m-%d %H:%M}）：待派单 {len(waiting)} 单（紧急 {urgent} 单），"
          f"派单后超过 {settings.desk_accept_timeout_min:g} 分钟未接单 {len(late)} 单")
    _show(table)
    if len(late):
        print(f"超时未接单的工单可改派：eldermap dispatch move {args.region} 工单编号 超时，再重新派单")
    if len(waiting):
        print(f"下一步：eldermap dispatch candidates {args.region} {waiting['id'].iloc[0]}")
    if args.out:
        _write(table, args.out, sheet="待派单")
        _audit(args, region, f"待派单工单：{args.out}", action="export", rows=len(table))
    return 0


def _elder_point(region, elder_id: str) -> tuple[float, float]:
    elders = region.elders
    hit = elders[elders["pid"].astype(str) == elder_id] if len(elders) and "pid" in elders else elders.iloc[0:0]
    if not len(hit):
        raise _desk_error(f"老人编号“{elder_id}”不在地区“{region.name}”的老年人图层中；请核对编号，"
                          "或用 --lon/--lat 给出服务地址", "elder not found")
    geom = hit.geometry.iloc[0]
    if geom is None or geom.is_empty:
        raise _desk_error(f"老人编号“{elder_id}”没有登记位置；请用 --lon/--lat 给出服务地址", "elder has no point")
    point = hit.geometry.to_crs(4326).iloc[0]
    return float(point.x), float(point.y)


MARGIN_DEG = 0.05
"""How far (degrees, about 5 km) a typed service address may lie outside the region's roads."""


def _check_inside(region, lon: float, lat: float) -> None:
    """Refuse a typed point far outside the region's road network (a swapped or mistyped coordinate)."""
    nodes = region.road_nodes
    if not len(nodes):
        return
    x0, y0, x1, y1 = nodes.to_crs(4326).total_bounds
    if not (x0 - MARGIN_DEG <= lon <= x1 + MARGIN_DEG and y0 - MARGIN_DEG <= lat <= y1 + MARGIN_DEG):
        raise UsageError(f"--lon/--lat：服务地址（约 {lon:.3f}, {lat:.3f}）不在地区“{region.name}”的范围内"
                         f"（经度约 {x0:.2f}–{x1:.2f}，纬度约 {y0:.2f}–{y1:.2f}）；请检查坐标（WGS-84，经度在前）")


def split_items(text: str) -> list[str]:
    """Items typed as "助餐配送,健康监测（血压、血糖测量）": split at , ， ; ； and 、 outside brackets (names hold 、
    inside their brackets)."""
    parts, current, depth = [], [], 0
    for ch in text:
        if ch in "（(":
            depth += 1
        elif ch in "）)":
            depth = max(0, depth - 1)
        if depth == 0 and ch in ",，;；、":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _check_items(region, text: str) -> list[str]:
    """The codes of ``--items`` (names or codes, separated by , ， 、 ;); a Chinese error listing the unknown ones
    and what the service list offers."""
    items = region.layers.get("service_items") if hasattr(region.layers, "get") else None
    if items is None or not len(items):
        raise _desk_error(f"地区“{region.name}”还没有服务清单；请先导入：eldermap import {region.name} "
                          "--service-items 文件", "no service_items")
    wanted = split_items(text)
    if not wanted:
        raise UsageError("--items 的值是空的；请写服务项目名称或编码，如 助餐配送")
    codes = items["code"].astype(str).tolist()
    by_name = dict(zip(items["name"].astype(str), codes, strict=True))
    out, unknown = [], []
    for w in wanted:
        code = w if w in codes else by_name.get(w)
        (unknown.append(w) if code is None else out.append(code))
    if unknown:
        offer = "、".join(items["name"].astype(str).tolist())
        raise UsageError(f"--items：服务项目“{'、'.join(unknown)}”不在服务清单中；可选：{offer}")
    return list(dict.fromkeys(out))


def cmd_new(args: argparse.Namespace, settings: Settings) -> int:
    from desk import orders_db

    has_point = args.lon is not None or args.lat is not None
    if args.elder and has_point:
        raise UsageError("--elder 与 --lon/--lat 不能同时使用：给老人编号（取其登记位置），或给服务地址坐标")
    if has_point and (args.lon is None or args.lat is None):
        raise UsageError("--lon 与 --lat 须一起给出（服务地址的经度和纬度，WGS-84）")
    if not args.elder and not has_point:
        raise UsageError("须给出服务地址：--elder 老人编号，或 --lon 经度 --lat 纬度")
    start, end = parse_window(args.window)
    region = _load(args)
    codes = _check_items(region, args.items)
    elder = args.elder.strip() if args.elder else None
    lon, lat = _elder_point(region, elder) if elder else (float(args.lon), float(args.lat))
    if not elder:
        _check_inside(region, lon, lat)
    order = {"id": args.id.strip() if args.id else None, "elder_id": elder, "lon": lon, "lat": lat,
             "item_codes": codes, "window_start": start, "window_end": end,
             "urgency": "紧急" if args.urgent else "普通", "channel": args.channel, "subsidy_group": args.group}
    now = _now(args, settings)
    order_id = orders_db.create_order(args.region, order, actor=_user(), root=_root(args),
                                      items=region.layers.get("service_items"), now=now)
    row = orders_db.get_order(args.region, order_id, root=_root(args))
    _audit(args, region, f"工单 {order_id}：新建 → 待派单（{args.channel}，{row['urgency']}）")
    where = "老人登记位置" if elder else "服务地址"
    print(f"已受理工单 {order_id}（待派单，{row['urgency']}，{args.channel}）")
    print(f"  服务项目：{_items_zh(codes, _item_names(region))}")
    print(f"  预约时间：{start:%Y-%m-%d} {orders_db.window_span_zh(start, end, day=start.date())}")
    print(f"  补贴类别：{args.group}" if args.group else "  补贴类别：自费（未指定）")
    from desk.settlement import group_warnings_zh

    for line in group_warnings_zh(region.layers.get("service_items"), codes, args.group):
        print(f"  注意：{line}")
    print(f"  {where}：约 {lon:.3f}, {lat:.3f}")
    print(f"下一步：eldermap dispatch candidates {args.region} {order_id}")
    return 0


def _candidates(args: argparse.Namespace, region, order: dict[str, Any], settings: Settings, now: dt.datetime):
    from desk.dispatch import candidates

    return candidates(region, order, settings, now, root=_root(args))


def cmd_candidates(args: argparse.Namespace, settings: Settings) -> int:
    import pandas as pd

    from desk import orders_db

    _version(args)
    order = _order_row(args)
    region = _load(args)
    names = _item_names(region)
    print(f"工单 {order['id']}（{order['status']}，{order['urgency']}）：{_items_zh(order['item_codes'], names)}；"
          f"预约 {_when(order['window_start'])[:10]} {orders_db.window_span_zh(order['window_start'], order['window_end'], day=order['window_start'].date())}")
    if order["status"] != "待派单":
        print(f"注意：工单当前为“{order['status']}”，只有待派单的工单可以派单")
    found = _candidates(args, region, order, settings, _now(args, settings))
    for note in found.notes:
        print(f"说明：{note}")
    ranked = found.ranked
    if len(ranked):
        print(f"可派 {len(ranked)} 名护理员（按车程、评分、负荷排序）：")
        _show(pd.DataFrame({"排名": ranked["rank"].to_numpy(), "服务商": ranked["provider_name"].to_numpy(),
                            "服务商编号": ranked["provider_id"].to_numpy(), "护理员": ranked["carer_id"].to_numpy(),
                            "理由": ranked["reason"].to_numpy()}))
    excluded = found.excluded
    if len(excluded):
        print(f"未入选 {len(excluded)} 项：")
        _show(pd.DataFrame({"服务商": excluded["provider_name"].to_numpy(), "服务商编号": excluded["provider_id"].to_numpy(),
                            "护理员": excluded["carer_id"].replace("", "（整个服务商）").to_numpy(),
                            "原因": excluded["reason"].to_numpy()}))
    if len(ranked) and order["status"] == "待派单":
        print(f"下一步：eldermap dispatch assign {args.region} {order['id']}（派给第 1 名）"
              f"或加 --carer {ranked['carer_id'].iloc[0]}")
    return 0


def _carer_row(region, carer_id: str) -> dict[str, Any]:
    carers = region.layers.get("carers") if hasattr(region.layers, "get") else None
    if carers is None or not len(carers):
        raise _desk_error(f"地区“{region.name}”还没有服务人员名单；请先导入：eldermap import {region.name} "
                          "--carers 文件", "no carers")
    hit = carers[carers["id"].astype(str) == carer_id]
    if not len(hit):
        raise _desk_error(f"找不到护理员“{carer_id}”：地区“{region.name}”的服务人员名单中没有这个编号"
                          f"（用 eldermap dispatch candidates {region.name} 工单编号 查看可派的护理员）",
                          "carer not found")
    return hit.iloc[0].to_dict()


def _not_clash(reason: str) -> list[str]:
    """The parts of an exclusion reason other than a clash with another order (the order log decides those, with
    its own conflict message, inside the dispatch transaction)."""
    return [part for part in reason.split("；") if part and "已有工单" not in part]


def cmd_assign(args: argparse.Namespace, settings: Settings) -> int:
    from desk import orders_db

    _version(args)
    order = _order_row(args)
    if order["status"] != "待派单":
        raise _desk_error(f"工单 {order['id']} 当前为“{order['status']}”，只有待派单的工单可以派单"
                          + ("（超时未接单的先执行 move … 超时）" if order["status"] == "已派单" else ""),
                          "order not waiting")
    region = _load(args)
    now = _now(args, settings)
    carer_id = args.carer.strip() if args.carer else ""
    forced = ""
    if not carer_id:
        found = _candidates(args, region, order, settings, now)
        if args.provider:  # the best carer of that provider
            ranked = found.ranked[found.ranked["provider_id"].astype(str) == args.provider.strip()]
            excluded = found.excluded[found.excluded["provider_id"].astype(str) == args.provider.strip()]
            found = type(found)(ranked.reset_index(drop=True), excluded, found.notes)
        if not len(found.ranked):
            why = "；".join(f"{r['provider_name']}{' ' + r['carer_id'] if r['carer_id'] else ''}：{r['reason']}"
                           for r in found.excluded.head(5).to_dict("records"))
            whose = f"服务商 {args.provider.strip()} " if args.provider else ""
            raise _desk_error(f"工单 {order['id']} 没有{whose}符合条件的护理员，未派单" + (f"（{why}）" if why else "")
                              + "；可用 --carer 指定护理员并加 --force", "no candidates")
        top = found.ranked.iloc[0]
        carer_id, provider_id = str(top["carer_id"]), str(top["provider_id"])
        which = f"服务商 {provider_id} 排名最前的" if args.provider else "排名第 1 的"
        print(f"未指定 --carer：派给{which}护理员 {carer_id}（{top['provider_name']}；{top['reason']}）")
    else:
        carer = _carer_row(region, carer_id)
        provider_id = str(carer.get("provider_id") or "")
        if args.provider and args.provider.strip() != provider_id:
            raise UsageError(f"--provider {args.provider.strip()} 与护理员 {carer_id} 所属的服务商 {provider_id} 不符")
        if not args.force:
            found = _candidates(args, region, order, settings, now)
            mine = found.excluded[(found.excluded["carer_id"] == carer_id)
                                  | ((found.excluded["carer_id"] == "") & (found.excluded["provider_id"] == provider_id))]
            reasons = [p for reason in mine["reason"] for p in _not_clash(str(reason))]
            if reasons:
                raise _desk_error(f"护理员 {carer_id} 不符合工单 {order['id']} 的派单条件：{'；'.join(reasons)}；"
                                  "请换一名护理员，或确认后加 --force", "carer not eligible")
        else:
            forced = "，调度员强制派单"
    row = orders_db.dispatch(args.region, order["id"], provider_id, carer_id, actor=_user(), expected="待派单",
                             root=_root(args), now=now, note="调度员强制派单" if forced else "")
    _audit(args, region, f"工单 {row['id']}：待派单 → 已派单（{_who(provider_id, carer_id)}{forced}）")
    print(f"已派单：工单 {row['id']} → {_who(provider_id, carer_id)}（{_when(row['dispatched_at'])}）")
    print(f"护理员应在 {settings.desk_accept_timeout_min:g} 分钟内接单：eldermap dispatch move {args.region} "
          f"{row['id']} 已接单")
    return 0


def cmd_move(args: argparse.Namespace, settings: Settings) -> int:
    from desk import orders_db

    follow_up = args.state == "已回访"
    given = [flag for flag, value in (("--satisfaction", args.satisfaction), ("--remarks", args.remarks),
                                      ("--complaint", args.complaint or None)) if value is not None]
    if given and not follow_up:
        raise UsageError(f"{'、'.join(given)} 只用于“已回访”（收到状态“{args.state}”）")
    if follow_up and args.satisfaction is None:
        raise UsageError("已回访须填写 --satisfaction 满意度（1–5 的整数）")
    region = _version(args)
    order = _order_row(args)
    before = order["status"]
    row = orders_db.transition(args.region, order["id"], args.state, actor=_user(), expected=before, root=_root(args),
                               now=_now(args, settings), note=args.note or "",
                               satisfaction=args.satisfaction if follow_up else None,
                               complaint=bool(args.complaint) if follow_up else None,
                               remarks=args.remarks if follow_up else None)
    after = row["status"]
    if follow_up:
        extra = f"满意度 {row['satisfaction']}，{'有投诉' if row['complaint'] else '无投诉'}"
    elif args.state in ("拒单", "超时", "未上门"):
        extra = f"{args.state}；{_who(order['provider_id'], order['carer_id'])}"
    else:
        extra = _who(row["provider_id"], row["carer_id"])
    _audit(args, region, f"工单 {row['id']}：{before} → {after}（{extra}）" if extra else
           f"工单 {row['id']}：{before} → {after}")
    print(f"工单 {row['id']}：{before} → {after}" + (f"（{extra}）" if extra else ""))
    if after == "待派单":
        print(f"工单已回到待派单，请重新派单：eldermap dispatch candidates {args.region} {row['id']}")
    nxt = {"已接单": "服务中", "服务中": "已完成", "已完成": "已回访 --satisfaction 5"}.get(after)
    if nxt:
        print(f"下一步：eldermap dispatch move {args.region} {row['id']} {nxt}")
    return 0


def cmd_overdue(args: argparse.Namespace, settings: Settings) -> int:
    import pandas as pd

    from desk import orders_db

    region = _version(args)
    now = _now(args, settings)
    late = orders_db.overdue(args.region, now, settings=settings, root=_root(args))
    table = pd.DataFrame({
        "工单编号": late["id"].to_numpy(), "紧急程度": late["urgency"].to_numpy(),
        "预约时间": [orders_db.window_span_zh(a, b) for a, b in zip(late["window_start"], late["window_end"], strict=True)],
        "服务商编号": late["provider_id"].to_numpy(), "护理员": late["carer_id"].to_numpy(),
        "派单时间": [_when(t) for t in late["dispatched_at"]],
        "已等待（分钟）": late["waiting_min"].round(0).astype(int).to_numpy() if len(late) else []})
    print(f"地区“{args.region}”（{now:%Y-%m-%d %H:%M}）：派单后超过 {settings.desk_accept_timeout_min:g} 分钟未接单 "
          f"{len(late)} 单")
    _show(table)
    if len(late):
        print(f"改派：eldermap dispatch move {args.region} 工单编号 超时（回到待派单），再 assign 给其他护理员")
    if args.out:
        _write(table, args.out, sheet="超时未接单")
        _audit(args, region, f"超时未接单工单：{args.out}", action="export", rows=len(table))
    return 0


def ratings_table(ratings):  # -> pd.DataFrame
    """Providers' ratings with Chinese headers (desk.ratings.RATING_COLUMNS_ZH), rates rounded, 末位 as 是/否."""
    from desk.ratings import RATING_COLUMNS_ZH

    table = ratings.copy()
    for column, digits in (("score", 2), ("satisfaction_mean", 2), ("on_time_rate", 3)):
        table[column] = table[column].astype(float).round(digits)
    table["bottom"] = ["是" if b else "" for b in table["bottom"]]
    table = table.sort_values("rank", kind="stable")
    return table[list(RATING_COLUMNS_ZH)].rename(columns=RATING_COLUMNS_ZH)


def cmd_ratings(args: argparse.Namespace, settings: Settings) -> int:
    from desk.ratings import provider_ratings

    region = _load(args)
    ratings = provider_ratings(region, settings, root=_root(args))
    table = ratings_table(ratings)
    print(f"地区“{args.region}”居家上门服务商评价（{len(table)} 家；评分 0–5，由回访满意度、准时率、投诉加权，"
          f"样本少的向全区平均收缩）：")
    _show(table)
    bottom = ratings[ratings["bottom"].astype(bool)]
    if len(bottom):
        print(f"末位（末位淘汰关注）：{'、'.join(f'{n}（{i}）' for i, n in zip(bottom['provider_id'], bottom['provider_name'], strict=True))}")
    if args.out:
        _write(table, args.out, sheet="服务商评价")
        _audit(args, region, f"服务商评价：{args.out}", action="export", rows=len(table))
    return 0


def cmd_settle(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from desk.settlement import TOTAL_COLUMNS_ZH, nothing_subsidised_zh, settle, write_settlement_workbook

    month = parse_month(args.month)
    with tqdm(total=3, desc="补贴结算", unit="步", file=sys.stderr, disable=None, leave=False) as bar:
        region = _load(args)
        bar.update(1)
        result = settle(region, settings, month, root=_root(args))
        bar.update(1)
        path = write_settlement_workbook(result, args.out)
        bar.update(1)
    totals = result.totals
    print(f"地区“{args.region}”{month} 补贴结算：")
    _show(totals[list(TOTAL_COLUMNS_ZH)].rename(columns=TOTAL_COLUMNS_ZH))
    if len(result.left_out):
        print(f"未计补贴 {len(result.left_out)} 项（原因见“未计补贴”工作表）")
    why = nothing_subsidised_zh(result)
    if why:
        print(f"提示：{why}")
    print(f"已写出 {path}（结算汇总、结算明细、未计补贴、说明）")
    _audit(args, region, f"{month} 补贴结算表：{path}", action="export", rows=len(result.detail))
    return 0


def routes_workbook(plan, *, day: dt.date, states: str, per_carer: bool) -> bytes:
    """The routes workbook: 路线 (each carer's visits in order, 返回驻地 rows), 护理员汇总, 未排入 (with reasons),
    optionally one sheet per carer, and 说明. Through data.exports.xlsx_bytes: no cell becomes a formula."""
    import pandas as pd

    from data.exports import xlsx_bytes
    from planning.routes import plan_frame, routes_frame, unassigned_frame

    table = plan_frame(plan)
    totals = plan.totals
    notes = [("日期", f"{day:%Y-%m-%d}"), ("计入的工单", states),
             ("工单数", f"{totals.get('visits', 0)}（排入 {totals.get('routed', 0)}，未排入 {totals.get('unassigned', 0)}）"),
             ("护理员", f"{totals.get('carers_used', 0)} 名有上门任务（共 {totals.get('carers', 0)} 名）"),
             ("总车程（分钟）", f"{float(totals.get('travel_min', 0.0)):.1f}"),
             ("求解", f"{totals.get('solver', '')}，用时 {float(totals.get('solve_s', 0.0)):.2f} 秒；"
                      f"出行方式 {'驾车' if totals.get('mode') == 'drive' else '步行'}"),
             ("说明", "预约时间为开始服务的时间窗；到达早于时间窗时等待。车程按地区路网计算（单行道按方向）。"
                      "每名护理员最后一行为返回驻地。表中只有工单和护理员编号，不含老人信息。")]
    if "待派单" in states:
        notes.append(("待派单工单", "待派单工单的护理员为求解器的建议，尚未派单；派单请用 eldermap dispatch assign"))
    notes += [("提示", n) for n in plan.notes]
    extra: dict[str, pd.DataFrame] = {"护理员汇总": routes_frame(plan), "未排入": unassigned_frame(plan)}
    if per_carer:
        for carer in dict.fromkeys(table["护理员"]):
            extra[f"护理员 {carer}"[:31]] = table[table["护理员"] == carer].reset_index(drop=True)
    extra["说明"] = pd.DataFrame(notes, columns=["项目", "内容"])
    return xlsx_bytes(table, sheet_name="路线", extra_sheets=extra)


def cmd_routes(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from tqdm import tqdm

    from data.store import atomic_write
    from desk import orders_db
    from planning.routes import plan_geojson, plan_routes

    day = dt.date.fromisoformat(args.day.strip())
    states = list(ROUTE_STATES) + (["待派单"] if args.waiting else [])
    with tqdm(total=4, desc="护理员路线", unit="步", file=sys.stderr, disable=None, leave=False) as bar:
        region = _load(args)
        carers = region.layers.get("carers") if hasattr(region.layers, "get") else None
        if carers is None or not len(carers):
            raise _desk_error(f"地区“{args.region}”还没有服务人员名单，无法规划路线", "no carers")
        orders = orders_db.current_orders(args.region, root=_root(args), status=states)
        orders = orders[orders["window_start"].dt.date == day].reset_index(drop=True)
        bar.update(1)
        if not len(orders):
            raise _desk_error(f"{day:%Y-%m-%d} 没有{'、'.join(states)}的工单，无法规划路线"
                              f"（先运行 eldermap dispatch ingest {args.region} 载入工单？）", "no orders that day")
        plan = plan_routes(region, orders, carers, settings, day=day)
        bar.update(1)
        content = routes_workbook(plan, day=day, states="、".join(states), per_carer=args.per_carer)
        with atomic_write(args.out, mode="wb") as f:
            f.write(content)
        bar.update(1)
        if args.map:
            collection = plan_geojson(plan, region=region, settings=settings)
            with atomic_write(args.map, mode="w", encoding="utf-8") as f:
                json.dump(collection, f, ensure_ascii=False)
        bar.update(1)
    t = plan.totals
    print(f"地区“{args.region}”{day:%Y-%m-%d} 护理员路线：工单 {t['visits']} 单，排入 {t['routed']} 单，"
          f"未排入 {t['unassigned']} 单；{t['carers_used']} 名护理员，总车程 {t['travel_min']:.0f} 分钟")
    from planning.routes import routes_frame, unassigned_frame

    _show(routes_frame(plan))
    if len(plan.unassigned):
        print("未排入的工单：")
        _show(unassigned_frame(plan))
    for note in plan.notes:
        print(f"说明：{note}")
    print(f"已写出 {args.out}（路线、护理员汇总、未排入、说明）")
    if args.map:
        print(f"已写出 {args.map}（路线地图；含老人住址点，仅供工作人员）")
    _audit(args, region, f"{day:%Y-%m-%d} 护理员路线：{'、'.join(str(p) for p in (args.out, args.map) if p)}",
           action="export", rows=int(t["routed"]))
    return 0


def copy_order_log(region: str, source: Any, target: Any) -> list[str]:
    """``eldermap db copy``'s companion: the region's order log moved with it (:func:`desk.orders_db.copy_log`),
    checked by digest; Chinese lines for the command's output."""
    from desk.orders_db import copy_log

    done = copy_log(region, source=source, target=target)
    if not done.events:
        return ["服务工单记录：源中没有该地区的工单记录，无需复制"]
    if done.already:
        return [f"服务工单记录：目标中已有相同的 {done.orders:,} 张工单、{done.events:,} 条事件（校验和 "
                f"{done.sha256[:12]} 一致），未重复复制"]
    return [f"服务工单记录：已复制 {done.orders:,} 张工单、{done.events:,} 条事件，复制后校验和 {done.sha256[:12]} 一致"]


__all__ = ["copy_order_log", "STATE_CHOICES", "add_commands", "parse_month", "parse_now", "parse_window", "ratings_table",
           "routes_workbook", "split_items"]
