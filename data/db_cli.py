"""``eldermap db init|upgrade|copy``: the shared PostgreSQL + PostGIS store from the command line.

:func:`add_commands` adds the ``db`` command to ``eldermap``'s subparsers (``eldermap.build_parser`` calls it). Every
command talks to the stores through :mod:`data.store` only. The database comes from ``--url`` or
``$ELDERMAP_DATABASE_URL``; the regions folder from ``--regions``, $ELDERMAP_REGIONS or ./regions.

- ``db init``: create the eldermap schema (idempotent: a second run changes nothing).
- ``db upgrade``: apply the schema steps this database is missing.
- ``db copy REGION --to postgis|files``: copy the current version of a region (same version name, same GeoParquet
  bytes) and its scenarios into the other store, make it current there, then check every layer's SHA-256 and
  row count in the target against the source manifest. Exit status 2 when any layer differs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cli_args import Name, RegionsDir, Text, UsageError, arg, preflight

URL_HELP = "数据库地址 postgresql://用户@主机:端口/库名（默认 $ELDERMAP_DATABASE_URL）"


def add_commands(subparsers: Any, *, companions: Sequence[Callable[[str, Any, Any], list[str]]] = ()) -> None:
    """Add ``db`` (with ``init``, ``upgrade`` and ``copy``) to the subparsers of ``eldermap``.

    ``companions``: what else ``db copy`` moves with a region, each ``companion(region, source, target)`` returning
    Chinese lines to print (the 12349 desk's order log: :func:`desk.cli.copy_order_log`, passed in by ``eldermap``
    because data/ does not import the desk); one raising an ElderMapError makes the copy fail (exit 2)."""
    db = subparsers.add_parser("db", help="共享数据库（PostgreSQL + PostGIS）：初始化 init、升级 upgrade、在两种存储间复制地区 copy",
                               description="共享数据库（PostgreSQL + PostGIS）。数据库地址用 --url 或环境变量 "
                                           "ELDERMAP_DATABASE_URL 指定。")
    sub = db.add_subparsers(dest="db_command", metavar="子命令", required=True, help="init、upgrade 或 copy")

    p = sub.add_parser("init", help="在数据库中建立 ElderMap 的表（可重复运行）")
    arg(p, "--url", role=Text(1000), help=URL_HELP)
    p.set_defaults(func=_checked(p, cmd_db_init))

    p = sub.add_parser("upgrade", help="把数据库结构升级到本程序的版本")
    arg(p, "--url", role=Text(1000), help=URL_HELP)
    p.set_defaults(func=_checked(p, cmd_db_upgrade))

    p = sub.add_parser("copy", help="把地区的当前版本复制到另一种存储，并核对校验和与行数",
                       description="把地区的当前版本（同一版本号、相同的 GeoParquet 字节）及其方案复制到另一种存储并设为当前版本，"
                                   "然后逐图层核对校验和（SHA-256）与行数。退出状态：0 全部一致；2 有不一致或出错。")
    arg(p, "region", role=Name("region"), help="地区名称")
    p.add_argument("--to", choices=("postgis", "files"), required=True,
                   help="目标：postgis 数据库（从文件夹复制过去）/ files 文件夹（从数据库复制回来）")
    arg(p, "--url", role=Text(1000), help=URL_HELP)
    arg(p, "--regions", role=RegionsDir(), default=argparse.SUPPRESS,
        help="地区数据目录，默认 $ELDERMAP_REGIONS 或 ./regions")
    p.set_defaults(func=_checked(p, cmd_db_copy), companions=tuple(companions))


def _checked(parser: argparse.ArgumentParser, handler: Any) -> Any:
    """The handler, after the options of this nested parser are checked (eldermap checks the ``db`` parser's)."""

    def run(args: argparse.Namespace) -> int:
        from geo.settings import Settings

        preflight(parser, args, Settings)
        return int(handler(args))

    return run


def database_url_of(args: argparse.Namespace) -> str:
    """``--url``, else $ELDERMAP_DATABASE_URL; a usage error in Chinese when neither names a PostgreSQL database."""
    from data import store

    url = (getattr(args, "url", None) or os.environ.get(store.DATABASE_ENV, "")).strip()
    if not url:
        raise UsageError("没有指定数据库：请用 --url postgresql://用户@主机:端口/库名，或设置环境变量 ELDERMAP_DATABASE_URL")
    if store.database_url(url) is None:
        raise UsageError(f"--url 应以 postgresql:// 或 postgres:// 开头（收到“{url[:40]}”）")
    return url


def _folder_of(args: argparse.Namespace) -> str:
    from data import store

    return str(store.regions_root(getattr(args, "regions", None)))


def cmd_db_init(args: argparse.Namespace) -> int:
    from data import store

    url = database_url_of(args)
    have, need = store.database_schema_version(url)
    if have == 0:
        before, after = store.migrate_database(url)
        print(f"已在数据库 {store.describe_store(url)} 中建立 ElderMap 的表（结构第 {after} 版）：")
        for i, what in enumerate(store.migration_steps(), 1):
            print(f"  第 {i} 步：{what}")
    elif have < need:
        print(f"数据库 {store.describe_store(url)} 已有 ElderMap 的表（结构第 {have} 版，本程序为第 {need} 版）："
              "请运行 `eldermap db upgrade` 升级")
    else:
        print(f"数据库 {store.describe_store(url)} 已初始化（结构第 {have} 版），无需改动")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from data import store

    url = database_url_of(args)
    before, after = store.migrate_database(url)
    if before == after:
        print(f"数据库 {store.describe_store(url)} 的结构已是第 {after} 版，无需升级")
        return 0
    print(f"数据库 {store.describe_store(url)} 的结构已从第 {before} 版升级到第 {after} 版：")
    for i, what in enumerate(store.migration_steps()[before:after], before + 1):
        print(f"  第 {i} 步：{what}")
    return 0


def cmd_db_copy(args: argparse.Namespace) -> int:
    from data import audit, store

    url, folder = database_url_of(args), _folder_of(args)
    source, target = (folder, url) if args.to == "postgis" else (url, folder)
    version, checks = store.copy_region(args.region, source=source, target=target)
    print(f"地区“{args.region}”版本 {version}：{store.describe_store(source)} → {store.describe_store(target)}")
    print("图层            源行数    目标行数  校验和（SHA-256 前 12 位）  结果")
    for c in checks:
        same = "一致" if c.ok else "不一致"
        sha = c.sha256_found[:12] if c.sha256_found == c.sha256_expected else \
            f"{c.sha256_expected[:12]} ≠ {c.sha256_found[:12] or '缺失'}"
        print(f"{c.layer:<14}{c.rows_expected:>8,}{c.rows_found:>10,}  {sha:<26}  {same}")
    bad = [c for c in checks if not c.ok]
    audit.record("import", user=os.environ.get("USER", "cli"), role=audit.CLI_ROLE, region=args.region,
                 root=folder, version=version, rows=sum(c.rows_found for c in checks if c.rows_found > 0),
                 detail=f"db copy 到 {args.to}：{len(checks) - len(bad)}/{len(checks)} 个图层核对一致")
    if bad:
        print(f"错误：复制后有 {len(bad)} 个图层的校验和或行数与源不一致（{'、'.join(c.layer for c in bad)}）；"
              "目标中的这个版本不可信，请检查数据库后重新复制", file=sys.stderr)
        return 2
    print(f"复制完成：{len(checks)} 个图层的校验和与行数全部一致；该版本已是目标中的当前版本")
    for companion in getattr(args, "companions", ()):
        for line in companion(args.region, source, target):
            print(line)
    return 0
