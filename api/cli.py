"""`eldermap serve` and `eldermap apikey`: the command-line part of the OGC API service.

The lead wires :func:`add_commands` into ``eldermap.build_parser`` (before the global options are added to every
subcommand).
"""

from __future__ import annotations

import argparse
import sys

from cli_args import Name, Text, _number, arg

_port = _number(1, 65535, integer=True, low_open=False)
"""A TCP port (an argparse type; empty, text and out-of-range values refused in Chinese)."""
_threads = _number(1, 64, integer=True, low_open=False, unit=" 个线程")
_workers = _number(1, 64, integer=True, low_open=False, unit=" 个进程")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``serve`` and ``apikey`` to eldermap's subcommands."""
    p = subparsers.add_parser("serve", help="启动 OGC API 数据服务（设施、区划覆盖率、服务圈、网格汇总；推荐和覆盖汇总接口）",
                              description="启动 OGC API – Features / Processes 数据服务（pygeoapi + waitress）。"
                                          "默认只在本机 127.0.0.1 监听；不含任何老年人个人数据。")
    arg(p, "region", role=Name("region"), help="地区名称")
    arg(p, "--host", role=Text(100), default="127.0.0.1", help="监听地址（默认 127.0.0.1，仅本机）")
    p.add_argument("--port", type=_port, default=5000, help="端口（默认 5000）")
    p.add_argument("--threads", type=_threads, default=None,
                   help="每个进程的工作线程数（默认：单进程 8；多进程 1，即每个进程一次处理一个请求，计算类请求最公平；"
                        "客户端网速慢时请在前面放 nginx 等缓冲代理）")
    p.add_argument("--workers", type=_workers, default=1,
                   help="工作进程数（默认 1）；多核服务器上设为 CPU 核数，推荐等计算接口可同时使用各个核")
    arg(p, "--url", role=Text(300), help="对外地址（反向代理之后的地址，如 https://gis.example.gov.cn/eldermap；"
                                         "默认 http://监听地址:端口），用于返回结果中的链接")
    p.set_defaults(func=cmd_serve)

    p = subparsers.add_parser("apikey", help="数据服务的 API 密钥：新增（add）、列出（list）、吊销（revoke）",
                              description="API 密钥与角色绑定：partner 合作系统、planner 规划、staff 工作人员、admin 管理员。"
                                          "只保存密钥的哈希；新增时密钥只显示一次。")
    p.add_argument("action", choices=("add", "list", "revoke"))
    arg(p, "name", role=Name("user"), nargs="?", help="密钥名称（add、revoke 时必填），如对接系统的名称")
    p.add_argument("--role", choices=("partner", "planner", "staff", "admin"), help="角色（add 时必填）")
    p.set_defaults(func=cmd_apikey)


def cmd_serve(args: argparse.Namespace) -> int:
    from api.server import serve

    host = str(args.host).strip()
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"注意：服务将在 {host} 上监听，其他计算机可以访问公开数据集合。", file=sys.stderr)
    url = (args.url or "").strip().rstrip("/") or None
    if url is not None and not url.startswith(("http://", "https://")):
        print(f"错误：--url 应以 http:// 或 https:// 开头（收到 {url}）", file=sys.stderr)
        return 2
    serve(args.region, host=host, port=args.port, regions=args.regions, settings=args.settings,
          threads=args.threads or (8 if args.workers == 1 else 1), url=url, workers=args.workers)
    return 0


def cmd_apikey(args: argparse.Namespace) -> int:
    from api import keys

    if args.action == "list":
        entries = keys.list_keys(root=args.regions)
        if not entries:
            print("还没有 API 密钥（用 `eldermap apikey add 名称 --role partner` 新增）")
        for e in entries:
            state = f"已吊销 {e.revoked}" if e.revoked else "有效"
            print(f"{e.name}\t{e.role}\t创建 {e.created}\t{state}")
        return 0
    if not args.name:
        print(f"错误：apikey {args.action} 需要密钥名称", file=sys.stderr)
        return 2
    if args.action == "add":
        if not args.role:
            print("错误：apikey add 需要 --role（partner、planner、staff 或 admin）", file=sys.stderr)
            return 2
        key = keys.add_key(args.name, args.role, root=args.regions)
        print(f"已新增密钥“{args.name}”（{args.role}）。请妥善保存，密钥只显示这一次：")
        print(key)
        return 0
    n = keys.revoke_key(args.name, root=args.regions)
    print(f"已吊销密钥“{args.name}”（{n} 个）")
    return 0


__all__ = ["add_commands", "cmd_apikey", "cmd_serve"]
