"""``python -m api serve REGION`` / ``python -m api apikey ...``: the service's commands without ``eldermap``
(the same handlers; used by the tests and the benchmark)."""

from __future__ import annotations

import sys

from api.cli import add_commands
from cli_args import ChineseArgumentParser, UsageError
from geo.errors import ElderMapError


def main(argv: list[str] | None = None) -> int:
    parser = ChineseArgumentParser(prog="python -m api", description="ElderMap 数据服务")
    parser.add_argument("--regions", default=None, help="地区数据目录，默认 $ELDERMAP_REGIONS 或 ./regions")
    parser.add_argument("--settings", default=None, help="设置文件（TOML）")
    add_commands(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(argv)
        return int(args.func(args))
    except UsageError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    except ElderMapError as exc:
        print(f"错误：{exc.zh}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
