"""`eldermap batch PARENT coverage`: one task per county region of a city or province on Dask, then the roll-up.

The lead wires :func:`add_commands` into ``eldermap.build_parser`` (before the global options are added to every
subcommand). Progress goes to stderr (tqdm); the Chinese summary to stdout. Exit status: 0 every county done (or
resumed), 1 some counties failed (the table holds the others, and says so), 2 the command failed.
"""

from __future__ import annotations

import argparse
import os
import sys

from cli_args import MINUTES_MAX, TABLE_SUFFIXES, Name, OutFile, Text, arg, number_type

WORKERS_MAX = 1024


_minutes = number_type(0, MINUTES_MAX, unit=" 分钟")
"""A service-circle length in minutes (an argparse type; empty, text and out-of-range values refused in Chinese)."""
_workers = number_type(1, WORKERS_MAX, integer=True, low_open=False, unit=" 个工作进程")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``batch`` to eldermap's subcommands."""
    from batch.runner import KINDS

    p = subparsers.add_parser(
        "batch", help="批量计算：对市或省的每个区县分别计算（Dask 并行），再汇总为上级地区的表",
        description="对上级地区（市、省）下的每个区县地区各运行一项计算任务（Dask distributed），结果带校验和写入各区县，"
                    "再把各区县的区县行汇总成上级地区的表（合计行的比率由合计数重新计算）。默认在本机启动与 CPU 核数相同的"
                    "工作进程；--scheduler 使用已有的 Dask 集群（各工作进程须能访问同一个数据目录或数据库）。"
                    "退出状态：0 全部完成；1 部分区县失败（表中不含它们）；2 出错。")
    arg(p, "region", role=Name("region"), help="上级地区名称（市或省）")
    p.add_argument("kind", choices=tuple(KINDS), help="计算类型：coverage 服务圈覆盖")
    p.add_argument("--minutes", type=_minutes, default=15.0, help=f"服务圈分钟数（默认 15，0–{MINUTES_MAX:g}）")
    p.add_argument("--mode", choices=("walk", "drive"), default="walk", help="步行 walk / 驾车 drive")
    arg(p, "--scheduler", role=Text(300), help="已有 Dask 集群的调度器地址，如 tcp://192.168.1.10:8786"
                                               "（默认在本机启动临时集群）")
    p.add_argument("--workers", type=_workers, help="工作进程数：本机集群默认为 CPU 核数；与 --scheduler 同用时，"
                                                  "等待集群中至少有这么多工作进程再开始")
    p.add_argument("--resume", action="store_true", help="跳过已有结果且输入（地区版本、设置、参数）未变的区县")
    arg(p, "--out", role=OutFile(TABLE_SUFFIXES), help="汇总表文件（.xlsx 或 .csv）")
    p.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from batch.runner import run_batch
    from data import store
    from geo.labels import COVERAGE_COLUMNS_ZH
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

    try:
        result = run_batch(args.region, args.kind, root=args.regions, settings=settings,
                           params={"minutes": args.minutes, "mode": args.mode}, scheduler=scheduler,
                           workers=args.workers, resume=args.resume, progress=progress)
    finally:
        bar.close()
    for line in result.summary_zh():
        print(line)
    if args.out:
        headers = {"region": "子地区", "child_code": "区县代码", "child_name": "区县名称", "level": "层级",
                   "counties": "区县数", "counties_missing": "未计入的区县数", **COVERAGE_COLUMNS_ZH}
        xlsx = str(args.out).lower().endswith(".xlsx")
        store.write_table(result.children_table.rename(columns=headers), args.out, sheet_name="汇总",
                          extra_sheets={"区县明细": result.table.rename(columns=headers)} if xlsx else None)
        print(f"汇总表已写入 {args.out}（每个下属地区一行，末行为合计" + ("；工作表“区县明细”列出各区县）" if xlsx else "）"))
    return 1 if result.with_status("failed") else 0


__all__ = ["add_commands", "cmd_batch"]
