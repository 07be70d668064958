"""`eldermap batch PARENT coverage`: one task per county region of a city or province on Dask, then the roll-up;
`eldermap region assemble|tree`: parents made of existing regions, and the hierarchy shown.

The lead wires :func:`add_commands` into ``eldermap.build_parser`` (before the global options are added to every
subcommand). Progress goes to stderr (tqdm); the Chinese summary to stdout. Exit status: 0 every county done (or
resumed), 1 some counties failed (the table holds the others, and says so), 2 the command failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cli_args import MINUTES_MAX, TABLE_SUFFIXES, Date, Name, OutFile, Text, UsageError, arg, number_type

WORKERS_MAX = 1024


_minutes = number_type(0, MINUTES_MAX, unit=" 分钟")
"""A service-circle length in minutes (an argparse type; empty, text and out-of-range values refused in Chinese)."""
_workers = number_type(1, WORKERS_MAX, integer=True, low_open=False, unit=" 个工作进程")
KIND_NAMES = ("coverage", "report", "check")
"""The batch kinds the command offers: ``batch.runner.KINDS``'s names, kept here so that building the parser does not
import the runner (pandas, the planning modules: two seconds of every ``eldermap`` start)."""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``batch`` to eldermap's subcommands."""
    p = subparsers.add_parser(
        "batch", help="批量计算：对市或省的每个区县分别计算（Dask 并行），再汇总为上级地区的表",
        description="对上级地区（市、省）下的每个区县地区各运行一项计算任务（Dask distributed），结果带校验和写入各区县，"
                    "再把各区县的区县行汇总成上级地区的表（合计行的比率由合计数重新计算）。默认在本机启动与 CPU 核数相同的"
                    "工作进程；--scheduler 使用已有的 Dask 集群（各工作进程须能访问同一个数据目录或数据库）。"
                    "退出状态：0 全部完成；1 部分区县失败（表中不含它们）；2 出错。")
    arg(p, "region", role=Name("region"), help="上级地区名称（市或省）")
    p.add_argument("kind", choices=KIND_NAMES,
                   help="计算类型：coverage 服务圈覆盖 / report 附件2基本情况表（含服务圈覆盖）/ check 配置检查")
    p.add_argument("--minutes", type=_minutes, default=15.0, help=f"服务圈分钟数（默认 15，0–{MINUTES_MAX:g}）")
    p.add_argument("--mode", choices=("walk", "drive"), default="walk", help="步行 walk / 驾车 drive")
    arg(p, "--scheduler", role=Text(300), help="已有 Dask 集群的调度器地址，如 tcp://192.168.1.10:8786"
                                               "（默认在本机启动临时集群）")
    p.add_argument("--workers", type=_workers, help="工作进程数：本机集群默认为 CPU 核数；与 --scheduler 同用时，"
                                                  "等待集群中至少有这么多工作进程再开始")
    p.add_argument("--resume", action="store_true", help="跳过已有结果且输入（地区版本、设置、参数）未变的区县")
    arg(p, "--date", role=Date(), help="report：统计日期，如 2026-12-31，按此日计算周岁（默认今天）")
    p.add_argument("--with-checks", action="store_true",
                   help="report：同时批量计算配置检查（check，可续算），写入基本情况表工作簿的检查工作表")
    arg(p, "--out", role=OutFile(TABLE_SUFFIXES),
        help="汇总表文件（.xlsx 或 .csv）；report 写 .xlsx 时为附件2基本情况表工作簿（含说明）")
    p.set_defaults(func=cmd_batch)

    p = subparsers.add_parser(
        "region", help="地区层级：由已有地区组成市或省（assemble），或列出市、省的下属地区（tree）",
        description="assemble：把已有的区县地区（或市）组成上级地区（市或省），各下属地区的区划代码和名称取自其区县级区划；"
                    "tree：按层级列出上级地区的下属地区、区划代码和各区县的老人数、设施数。"
                    "（导入时按区县拆分：eldermap import 地区 --split-by 区县边界文件）")
    p.add_argument("action", choices=("assemble", "tree"), help="assemble 组成上级地区 / tree 列出层级")
    arg(p, "parent", role=Name("region"), help="上级地区名称（市或省）")
    arg(p, "children", role=Name("region"), nargs="*", help="assemble：下属地区名称（区县地区，或省下的市）")
    p.add_argument("--level", choices=("city", "province"), help="assemble：上级地区的层级 city 市 / province 省（必填）")
    arg(p, "--code", role=Text(12), help="assemble：上级地区自身的区划代码，如 410100")
    arg(p, "--title", role=Text(100), help="assemble：上级地区自身的名称，如 郑州市")
    p.set_defaults(func=cmd_region)


def cmd_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from batch.rollup import batch_table_zh
    from batch.runner import run_batch, write_batch_report
    from data import store
    from geo.settings import load_settings

    scheduler = (args.scheduler or "").strip() or None
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://")):
        print(f"错误：--scheduler 应为 tcp://主机:端口 形式的地址，如 tcp://192.168.1.10:8786（收到 {scheduler}）",
              file=sys.stderr)
        return 2
    settings = load_settings(args.settings or os.environ.get("ELDERMAP_SETTINGS") or None)
    bar = tqdm(total=0, desc="批量计算", unit="个区县", file=sys.stderr, disable=None, leave=False)
    said: set[str] = set()

    def progress(done: int, total: int, message: str) -> None:
        bar.total = total
        bar.n = done
        if "仪表盘" in message and message not in said:  # the dashboard link once, above the bar
            said.add(message)
            bar.write(message, file=sys.stderr)
        bar.set_postfix_str(message[:60])
        bar.refresh()

    date, with_checks = getattr(args, "date", None), getattr(args, "with_checks", False)
    if args.kind != "report" and (date or with_checks):
        raise UsageError("--date 和 --with-checks 只用于 report（附件2基本情况表）")
    params: dict[str, Any] = {"mode": args.mode} if args.kind == "check" else {"minutes": args.minutes,
                                                                              "mode": args.mode}
    if args.kind == "report" and date:
        params["date"] = str(date)
    logging.getLogger("distributed").setLevel(logging.WARNING)  # Dask's INFO lines: not for the console
    checks = None
    try:
        if with_checks:
            checks = run_batch(args.region, "check", root=args.regions, settings=settings,
                               params={"mode": args.mode}, scheduler=scheduler, workers=args.workers, resume=True,
                               progress=progress)
        result = run_batch(args.region, args.kind, root=args.regions, settings=settings, params=params,
                           scheduler=scheduler, workers=args.workers, resume=args.resume, progress=progress)
    finally:
        bar.close()
    for line in [*(checks.summary_zh() if checks is not None else []), *result.summary_zh()]:
        print(line)
    if args.out:
        xlsx = str(args.out).lower().endswith(".xlsx")
        if args.kind == "report" and xlsx:
            write_batch_report(result, args.out, settings=settings, root=args.regions, checks=checks)
            print(f"附件2基本情况表已写入 {args.out}（每个下属地区一行，末行为合计；含服务圈覆盖、"
                  + ("配置检查、" if checks is not None else "") + "说明工作表）")
        else:
            summary, detail = (batch_table_zh(result.kind, result.params, t, settings=settings)
                               for t in (result.children_table, result.table))
            store.write_table(summary, args.out, sheet_name="汇总", extra_sheets={"区县明细": detail} if xlsx else None)
            print(f"汇总表已写入 {args.out}（每个下属地区一行，末行为合计" + ("；工作表“区县明细”列出各区县）" if xlsx else "）"))
    return 1 if result.with_status("failed") or (checks is not None and checks.with_status("failed")) else 0


def import_split(args: argparse.Namespace, *, settings: Any, steps: Any, files: Mapping[str, Any]) -> Any:
    """``eldermap import PARENT ... --split-by FILE | --split-level district`` (called by ``eldermap.cmd_import``):
    the files imported as one city or province and saved as its county regions
    (:func:`batch.province_import.import_province`), with a tqdm bar over the counties' saves after ``steps`` (the
    import's bar). Returns the :class:`batch.province_import.ProvinceImport`."""
    from tqdm import tqdm

    from batch.province_import import import_province

    saves = tqdm(total=0, desc="保存区县地区", unit="个区县", file=sys.stderr, disable=None, leave=False)

    def saved(part: Any, total: int) -> None:
        if not saves.total:
            steps.close()
            saves.reset(total=total)
        saves.set_postfix_str(part.region)
        saves.update(1)

    try:
        return import_province(args.region, settings=settings, counties_file=args.split_by,
                               split_level=args.split_level, parent_level=args.parent_level or "city",
                               halo_minutes=args.halo_minutes, halo_mode=args.halo_mode or "walk", root=args.regions,
                               progress=steps, on_saved=saved, **files)
    finally:
        saves.close()


def split_report_zh(done: Any, *, settings: Any, report_dir: str | Path | None = None) -> list[str]:
    """What a province import did, in Chinese: the halo, a table of the counties (elders, facilities own + halo,
    road edges, total), the elders and facilities of no county by reason, and where the parent is. Writes the
    list of those of no county to ``<report_dir>/未分到区县.csv`` (default ``reports/<parent>``)."""
    from batch.partition import halo_metres
    from data import store
    from geo.labels import mode_zh

    split = done.split
    mode, minutes = split.modes[0], split.minutes
    said = f"{minutes:g} 分钟" if minutes is not None else "设置中最长的服务圈分钟数"
    lines = [f"按区县拆分（区县边界取自{done.counties_source_zh}；周边范围 {split.halo_m:,.0f} 米：最快{mode_zh(mode)}"
             f"速度 × {said} + 吸附距离 {settings.snap_limit_m:g} 米 = "
             f"{halo_metres(settings, minutes=minutes, mode=mode):,.0f} 米，另加 1% 余量。批量计算的分钟数不应超过它）："]
    lines += [f"  {line}" for line in split_table_zh(split)]
    lines += unassigned_lines_zh(split)
    if done.stale:
        lines.append(f"上次导入的 {len(done.stale)} 个区县地区不在本次拆分中，已不属于“{done.parent}”，批量计算不再包含它们"
                     f"（仍保留在存储中，未删除）：{'、'.join(done.stale)}")
    if len(split.unassigned_elders) or len(split.unassigned_facilities):
        folder = Path(report_dir) if report_dir else Path("reports") / done.parent
        out = store.write_table(unassigned_listing(split), folder / "未分到区县.csv")
        lines.append(f"未分到区县的老人和设施清单：{out}（老人为假名编号）")
    level = {"province": "省", "city": "市"}.get(done.level, done.level)
    lines.append(f"上级地区“{done.parent}”（{level}级）已保存，含 {len(done.children)} 个区县地区"
                 f"（{done.children[0].region} 等）。查看层级：eldermap region tree {done.parent}；"
                 f"批量计算：eldermap batch {done.parent} coverage")
    return lines


def split_table_zh(split: Any) -> list[str]:
    """The per-county table of a :class:`batch.partition.SplitResult`, in Chinese: elders, facilities (own + halo),
    road edges, and the total; columns aligned for a terminal (a CJK character is two columns wide)."""
    table = split.summary()
    head = ["区县代码", "区县名称", "地区", "老人", "设施（本区县+周边）", "道路边"]
    rows = [[r.code, r.name, r.region, f"{r.elders:,}", f"{r.facilities:,}+{r.halo_facilities:,}", f"{r.road_edges:,}"]
            for r in table.itertuples(index=False)]
    rows.append(["合计", "", "", f"{int(table['elders'].sum()):,}", f"{int(table['facilities'].sum()):,}"
                 f"+{int(table['halo_facilities'].sum()):,}", f"{int(table['road_edges'].sum()):,}"])

    def width(text: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)

    widths = [max(width(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    return ["  ".join(str(cell) + " " * (w - width(str(cell))) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in [head, *rows]]


def unassigned_lines_zh(split: Any) -> list[str]:
    """The elders and facilities of no county, counted by reason (never dropped silently), and the areas of none."""
    lines = []
    for frame, what, unit in ((split.unassigned_elders, "老人", "名"), (split.unassigned_facilities, "设施", "个")):
        if not len(frame):
            lines.append(f"未分到区县的{what}：0 {unit}")
            continue
        lines.append(f"未分到区县的{what}：{len(frame):,} {unit}（不在任何区县地区中）")
        for reason, n in frame["reason_zh"].value_counts().items():
            lines.append(f"  {reason}：{n:,} {unit}")
        ids = [str(v) for v in frame["id"].head(5) if v is not None]
        if ids:
            lines.append(f"  编号：{'、'.join(ids)}" + ("……" if len(frame) > 5 else ""))
        if "in_halo_of" in frame and int((frame["in_halo_of"] > 0).sum()):
            lines.append(f"  其中 {int((frame['in_halo_of'] > 0).sum())} 个位于区县的周边范围内，作为周边设施计入这些区县")
    if split.not_split:
        lines.append(f"以下图层未拆分到区县：{'、'.join(split.not_split)}")
    if len(split.unassigned_areas):
        reasons = "；".join(f"{r}（{n}）" for r, n in split.unassigned_areas["reason_zh"].value_counts().items())
        lines.append(f"未分到区县的区划：{len(split.unassigned_areas):,} 个：{reasons}")
    return lines


def unassigned_listing(split: Any) -> Any:
    """One row per elder or facility of no county: 类型, 编号 (elders: pseudonyms), 区县代码, 原因."""
    import pandas as pd

    parts = [pd.DataFrame({"类型": what, "编号": frame["id"].astype(object).to_numpy(),
                           "区县代码": frame["district_code"].astype(object).to_numpy(),
                           "原因": frame["reason_zh"].to_numpy()})
             for frame, what in ((split.unassigned_elders, "老人"), (split.unassigned_facilities, "设施"))
             if len(frame)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["类型", "编号", "区县代码", "原因"])


def cmd_region(args: argparse.Namespace) -> int:
    from batch.hierarchy import LEVEL_ZH, assemble
    from batch.province_import import check_parent_name

    if args.action == "tree":
        if args.children or args.level or args.code or args.title:
            raise UsageError("tree 只需上级地区名称（不接受下属地区名称、--level、--code、--title）")
        for line in tree_lines_zh(args.parent, root=args.regions):
            print(line)
        return 0
    if not args.children:
        raise UsageError("assemble 需要至少一个下属地区名称：eldermap region assemble 上级地区 下属地区1 下属地区2 … --level city")
    if not args.level:
        raise UsageError("assemble 需要 --level：city（市，下属为区县）或 province（省，下属为市或区县）")
    check_parent_name(args.parent, root=args.regions)
    made = assemble(args.parent, args.children, level=args.level, root=args.regions,
                    code=(args.code or "").strip() or None, title=(args.title or "").strip() or None)
    print(f"上级地区“{args.parent}”（{LEVEL_ZH[args.level]}级）已保存，含 {len(made)} 个下属地区：")
    for m in made:
        print(f"  {m.child.code}  {m.child.name}  {m.child.region}（{LEVEL_ZH.get(m.child.level, m.child.level)}；"
              f"代码和名称取自{m.source_zh}）")
    print(f"查看层级：eldermap region tree {args.parent}；批量计算：eldermap batch {args.parent} coverage")
    return 0


def _leaf_counts_zh(name: str, root: str | None) -> str:
    from batch.province_import import folder_manifest

    manifest = folder_manifest(name, root=root)
    if manifest is None:
        return ""
    counts = (manifest.get("partition") or {}).get("counts")
    if counts:
        return (f"老人 {counts.get('elders', 0):,}，设施 {counts.get('facilities', 0):,}"
                f"（另有周边设施 {counts.get('halo_facilities', 0):,}），道路边 {counts.get('road_edges', 0):,}")
    layers = manifest.get("layers") or {}
    rows = {k: (v or {}).get("rows", 0) for k, v in layers.items()}
    return f"老人 {rows.get('elders', 0):,}，设施 {rows.get('facilities', 0):,}，道路边 {rows.get('road_edges', 0):,}"


def tree_lines_zh(parent: str, *, root: str | None = None) -> list[str]:
    """The hierarchy under ``parent`` as an indented Chinese listing: each child's code, name and region, and each
    county's elders and facilities from its manifest (read alone in the folder store; left out for a database,
    where a manifest is not read without the layers)."""
    from batch.hierarchy import LEVEL_ZH, PARENT_LEVELS, HierarchyError, load_hierarchy

    top = load_hierarchy(parent, root=root)
    own = "，".join(x for x in (top.code, top.title) if x)
    lines = [f"{parent}（{LEVEL_ZH.get(top.level, top.level)}级{('：' + own) if own else ''}）"]
    n_leaves = 0

    def walk(name: str, depth: int, path: tuple[str, ...]) -> None:
        nonlocal n_leaves
        children = load_hierarchy(name, root=root).children
        for i, child in enumerate(children):
            mark = "└─" if i == len(children) - 1 else "├─"
            head = f"{'   ' * depth}{mark} {child.code} {child.name}（{child.region}，{LEVEL_ZH.get(child.level, child.level)}）"
            if child.level in PARENT_LEVELS:
                if child.region in path:
                    raise HierarchyError(f"地区层级中有循环：{' → '.join([*path, child.region])}",
                                         f"cycle in the region hierarchy at {child.region!r}")
                lines.append(head)
                walk(child.region, depth + 1, (*path, child.region))
            else:
                n_leaves += 1
                counts = _leaf_counts_zh(child.region, root)
                lines.append(f"{head}{'：' + counts if counts else ''}")

    walk(parent, 0, (parent,))
    lines.append(f"共 {n_leaves} 个区县地区")
    return lines


__all__ = ["add_commands", "cmd_batch", "cmd_region", "import_split", "split_report_zh", "split_table_zh", "tree_lines_zh",
           "unassigned_lines_zh", "unassigned_listing"]
