"""The command line's arguments, checked in Chinese before any work is done.

:class:`ChineseArgumentParser` turns argparse's errors (and its help headings) into Chinese that names the option
and what is allowed. Every option that takes a file, a name, a kind, a coordinate system, an encoding or a date
carries a *role* (:func:`arg`), and :func:`preflight` checks all of them right after parsing: missing, empty or
unreadable input files, output files with an extension we do not write, names that break their rule (or carry
markup or a formula), unknown kinds and coordinate systems. Only light modules are imported here, so a mistake
is answered in a fraction of a second and no output file is ever started.
"""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from data import formats, vocab
from geo.errors import ElderMapError
from geo.settings import Settings

MINUTES_MAX = 120.0
"""Largest service-circle minutes the CLI accepts."""
TABLE_SUFFIXES = formats.TABLE_OUT_SUFFIXES
LAYER_SUFFIXES = formats.LAYER_OUT_SUFFIXES
_TYPE_ZH = {"float": "数字", "int": "整数"}


class UsageError(Exception):
    """A command line that cannot be parsed; the message is Chinese."""


def _option_zh(parser: argparse.ArgumentParser, name: str) -> str:
    """``--minutes`` as is; a positional's dest (``region``) with its help, when there is one."""
    for action in parser._actions:
        if name in (action.dest, action.metavar) and not action.option_strings:
            zh = label(action)
            if zh != name:
                return f"{zh}（{name}）"
            return f"{name}（{action.help}）" if action.help and len(action.help) <= 40 else name
    return name


class _ChineseHelpFormatter(argparse.HelpFormatter):
    """Help with a Chinese "用法：" heading."""

    def add_usage(self, usage, actions, groups, prefix=None):  # type: ignore[no-untyped-def]
        super().add_usage(usage, actions, groups, "用法：" if prefix is None else prefix)


class ChineseArgumentParser(argparse.ArgumentParser):
    """argparse with Chinese error messages that name the option and what is allowed, and Chinese help headings
    (用法、位置参数、选项)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _ChineseHelpFormatter)
        add_help = kwargs.pop("add_help", True)
        super().__init__(*args, add_help=False, **kwargs)
        self._positionals.title = "位置参数"
        self._optionals.title = "选项"
        if add_help:
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help="显示本帮助并退出")

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        raise UsageError(self._zh(message) + f"（用 `{self.prog} --help` 查看用法）")

    def _zh(self, message: str) -> str:
        if m := re.fullmatch(r"the following arguments are required: (.+)", message):
            names = [_option_zh(self, n.strip()) for n in m.group(1).split(", ")]
            if names == ["command"]:
                return "缺少命令；可用命令：" + "、".join(self._subcommands())
            return "缺少必填参数：" + "、".join(names)
        if m := re.fullmatch(r"argument (\S+?): invalid choice: '?(.*?)'? \(choose from (.+)\)", message, re.S):
            option, value, choices = m.groups()
            choices = "、".join(c.strip().strip("'") for c in choices.split(","))
            if option == "command":
                return f"没有命令“{value}”；可用命令：{choices}"
            if not value.strip():
                return f"{_option_zh(self, option)} 的值是空的；可选：{choices}"
            return f"{_option_zh(self, option)} 不能取“{value}”；可选：{choices}"
        if m := re.fullmatch(r"argument (\S+?): invalid (\w+) value: '(.*)'", message, re.S):
            option, kind, value = m.groups()
            if not value.strip():
                return f"{option} 的值是空的；应为{_TYPE_ZH.get(kind, '有效的值')}"
            return f"{option} 应为{_TYPE_ZH.get(kind, '有效的值')}，收到“{value}”"
        if m := re.fullmatch(r"argument (\S+?): expected one argument", message):
            return f"{m.group(1)} 后面缺少值"
        if m := re.fullmatch(r"argument (\S+?): ignored explicit argument '(.*)'", message):
            return f"{m.group(1)} 不带值（收到“{m.group(2)}”）"
        if m := re.fullmatch(r"argument (\S+?): not allowed with argument (\S+)", message):
            return f"{m.group(1)} 与 {m.group(2)} 不能同时使用，只选一个"
        if m := re.fullmatch(r"one of the arguments (.+) is required", message):
            return "需要以下参数之一：" + "、".join(m.group(1).split())
        if m := re.fullmatch(r"unrecognized arguments: (.+)", message):
            return f"无法识别的参数：{m.group(1)}"
        if m := re.fullmatch(r"ambiguous option: (\S+) could match (.+)", message):
            return f"参数 {m.group(1)} 不明确，可能是：{m.group(2)}；请写全"
        if m := re.fullmatch(r"argument (\S+?): (.+)", message, re.S):  # our own type checks: already Chinese
            return f"{m.group(1)}：{m.group(2)}"
        return f"命令行有误（{message}）"

    def _subcommands(self) -> list[str]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return list(action.choices)
        return []


def _minutes(text: str) -> float:
    """One number of minutes, 0 < m <= MINUTES_MAX (an argparse type)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"值是空的；分钟数应为数字（0 < 分钟 ≤ {MINUTES_MAX:g}）")
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"分钟数应为数字（0 < 分钟 ≤ {MINUTES_MAX:g}），收到“{text}”") from None
    if not (0 < value <= MINUTES_MAX):  # also refuses nan
        raise argparse.ArgumentTypeError(f"分钟数应大于 0 且不超过 {MINUTES_MAX:g}，收到“{text}”")
    return value


def _minutes_list(text: str) -> list[float]:
    """Comma-separated minutes such as "5,10,15", each 0 < m <= MINUTES_MAX (an argparse type)."""
    parts = [p.strip() for p in text.replace("，", ",").split(",")]
    if not text.strip():
        raise argparse.ArgumentTypeError(f"值是空的；应为逗号分隔的分钟数，如 5,10,15（每个 0 < 分钟 ≤ {MINUTES_MAX:g}）")
    if any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"应为逗号分隔的分钟数，如 5,10,15（每个 0 < 分钟 ≤ {MINUTES_MAX:g}），"
                                         f"收到“{text}”")
    return [_minutes(p) for p in parts]


def _number(low: float, high: float, *, integer: bool = False, low_open: bool = True, unit: str = ""):
    """An argparse type: a number in (low, high] (or [low, high] when ``low_open`` is false)."""
    what = "整数" if integer else "数字"
    def show(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else f"{x:g}"

    bounds = f"{'大于' if low_open else '不小于'} {show(low)}，不超过 {show(high)}{unit}"

    def convert(text: str) -> float | int:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"值是空的；应为{what}（{bounds}）")
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"应为{what}（{bounds}），收到“{text}”") from None
        if not ((low < value if low_open else low <= value) and value <= high):
            raise argparse.ArgumentTypeError(f"应{bounds}，收到“{text}”")
        return value

    convert.__name__ = "int" if integer else "float"
    return convert


number_type = _number
"""The public name of :func:`_number`, for the command modules of other packages."""


def check_output(path: str | None, allowed: Sequence[str], option: str) -> None:
    """Refuse an output path whose extension is not one we write, or whose folder cannot be written, before any
    work is done."""
    from geo.errors import InputFileError

    if path is None:
        return
    suffix = Path(path).suffix.lower()
    folder = Path(path).absolute().parent
    while not folder.exists() and folder != folder.parent:  # missing folders are created when writing
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK) or Path(path).is_dir():
        why = "它是一个文件夹" if Path(path).is_dir() else f"文件夹 {folder} 不可写"
        raise InputFileError(f"{option} 的文件“{path}”无法写入：{why}；请换一个可写的位置，例如 out/ 文件夹",
                             f"{option}: cannot write {path!r}")
    if suffix not in allowed:
        got = f"扩展名为“{suffix}”，不支持" if suffix else "没有扩展名"
        extra = "（暂不支持 Shapefile，请用 .gpkg，GIS 软件均可打开）" if suffix == ".shp" else ""
        raise InputFileError(f"{option} 的文件“{path}”{got}；可用：{'、'.join(allowed)}{extra}",
                             f"{option}: unsupported extension {suffix!r} in {path!r}")


def canonical_kind(text: str, settings: Settings, *, option: str) -> str:
    """A facility kind typed by a user as one of ``settings.facility_kinds``.

    Exact kinds pass; synonyms and keywords (data.vocab) are mapped and the mapping is printed; anything else
    raises PlanningInputError naming ``option`` and listing the kinds.
    """
    from data.vocab import kind_from_words
    from geo.errors import PlanningInputError

    kind, exact = kind_from_words(text, settings.facility_kinds)
    if kind is None:
        raise PlanningInputError(f"{option} 不能取“{text.strip()}”；设施类型可选：{'、'.join(settings.facility_kinds)}",
                                 f"unknown facility kind {text!r}")
    if not exact:
        print(f"按“{text.strip()}”理解为“{kind}”")
    return kind


def join_negative_values(argv: list[str]) -> list[str]:
    """``--minutes -5,10`` -> ``--minutes=-5,10``: argparse would take "-5,10" for an option and say the value is
    missing; joined, the value reaches the option's own check and its message. (No option here looks like -5.)"""
    out: list[str] = []
    for token in argv:
        if (out and re.match(r"^-[\d.]", token) and out[-1].startswith("--") and "=" not in out[-1]
                and out[-1] != "--"):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


# ---------------------------------------------------------------- roles: what an option's value must be


@dataclass(frozen=True)
class InFile:
    """An input file: it must exist, be a readable file (not a folder) and have one of ``suffixes``."""

    suffixes: tuple[str, ...]
    what: str
    may_be_new: bool = False
    """The file is created when missing (an accounts file for ``user add``)."""


@dataclass(frozen=True)
class OutFile:
    """An output file: one of ``suffixes``, in a folder that can be written."""

    suffixes: tuple[str, ...]


@dataclass(frozen=True)
class OutDir:
    """An output folder: created when missing; must not be a file and must be writable."""


@dataclass(frozen=True)
class RegionsDir:
    """The folder holding the regions: may be missing (created on import), must not be a file."""


@dataclass(frozen=True)
class Name:
    """A name with a rule: ``region``, ``scenario`` (``base`` allowed when ``base_ok``), ``user`` or ``person``."""

    rule: str
    base_ok: bool = False


@dataclass(frozen=True)
class Kind:
    """A facility kind as typed: synonyms mapped (data.vocab), unknown kinds refused with the list."""


@dataclass(frozen=True)
class Crs:
    """A source coordinate system name or alias (geo.coords.normalise_crs_name)."""


@dataclass(frozen=True)
class Encoding:
    """A text encoding Python knows (codecs.lookup)."""


@dataclass(frozen=True)
class Date:
    """A date written as 2026-11-23."""


@dataclass(frozen=True)
class Text:
    """Free text, shown later as plain text: only its length is limited."""

    max_chars: int = 200


@dataclass(frozen=True)
class Parsed:
    """A value checked by a domain parser ``check(value, settings)`` that raises an ElderMapError; the error is
    prefixed with the option's name."""

    check: Callable[[str, Settings], object]


def weight_value(value: str, settings: Settings) -> object:
    """``--weight 特困=1`` (planning.gaps.parse_group_weights)."""
    from planning.gaps import parse_group_weights

    return parse_group_weights([value])


def profile_value(value: str, settings: Settings) -> object:
    """``--profile 体弱``: one of the settings' walking profiles."""
    from planning.coverage import walk_profile_speed

    return walk_profile_speed(settings, value.strip())


def profiles_value(value: str, settings: Settings) -> object:
    """``--compare-profiles 规划,体弱``: walking profiles separated by commas."""
    from planning.coverage import compared_profiles

    return compared_profiles(settings, [p.strip() for p in value.replace("，", ",").split(",") if p.strip()])


Role = InFile | OutFile | OutDir | RegionsDir | Name | Kind | Crs | Encoding | Date | Text | Parsed


def arg(parser: argparse.ArgumentParser, *flags: str, role: Role | None = None, **kwargs: Any) -> argparse.Action:
    """``parser.add_argument`` that records the value's role for :func:`preflight`."""
    action = parser.add_argument(*flags, **kwargs)
    action.role = role  # type: ignore[attr-defined]
    return action


def label(action: argparse.Action) -> str:
    """How messages name an option: ``--out``, or a positional's Chinese name (地区名称, 方案名称, 用户名…)."""
    if action.option_strings:
        return max(action.option_strings, key=len)
    role = getattr(action, "role", None)
    if isinstance(role, Name) and action.dest != "other":
        return _NAME_ZH[role.rule]
    return _POSITIONAL_ZH.get(action.dest, action.dest)


_POSITIONAL_ZH = {"region": "地区名称", "name": "名称", "other": "第二个方案名称", "file": "数据文件",
                  "table": "数据类型"}
_NAME_ZH = {"region": "地区名称", "scenario": "方案名称", "user": "用户名", "person": "姓名"}
_NAME_RULES: dict[str, tuple[Callable[[str], bool], str]] = {
    "region": (vocab.region_name_ok, vocab.REGION_NAME_RULE_ZH),
    "scenario": (vocab.scenario_name_ok, vocab.SCENARIO_NAME_RULE_ZH),
    "user": (vocab.user_name_ok, vocab.USER_NAME_RULE_ZH),
    "person": (vocab.display_name_ok, vocab.DISPLAY_NAME_RULE_ZH),
}


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def preflight(parser: argparse.ArgumentParser, args: argparse.Namespace,
              settings: Callable[[], Settings]) -> None:
    """Check every value of ``args`` that has a role (and every empty value) before any work is done.

    ``parser`` is the subcommand's parser; ``settings`` loads the settings (only when a role needs them).
    Raises :class:`UsageError` (or the ElderMapError of a domain parser, prefixed with the option) in Chinese,
    naming the option and what is allowed.
    """
    for action in parser._actions:
        if action.dest in ("help", argparse.SUPPRESS) or not hasattr(args, action.dest):
            continue
        values = [v for v in _values(getattr(args, action.dest)) if isinstance(v, str)]
        if action.const == "" and values == [""]:  # a flag with an optional value, given alone
            continue
        name = label(action)
        for value in values:
            if not value.strip():
                hint = f"（{action.help}）" if action.help else ""
                todo = "请写上它的值" if action.required or not action.option_strings else "不需要时请不写这个参数"
                raise UsageError(f"{name} 的值是空的{hint}；{todo}")
            role = getattr(action, "role", None)
            if role is not None:
                replaced = _check(role, name, value, settings)
                if replaced is not None and not isinstance(getattr(args, action.dest), list):
                    setattr(args, action.dest, replaced)
    if getattr(args, "settings", None):  # a settings file given: read and checked now, whatever the command
        try:
            settings()
        except ElderMapError as exc:
            raise type(exc)(exc.zh if "--settings" in exc.zh else f"--settings：{exc.zh}", exc.en) from None


def _check(role: Role, name: str, value: str, settings: Callable[[], Settings]) -> str | None:
    """One value against its role; returns a canonical replacement (a kind from a synonym) or None."""
    if isinstance(role, InFile):
        _check_input(value, role, name)
    elif isinstance(role, OutFile):
        check_output(value, role.suffixes, name)
    elif isinstance(role, OutDir | RegionsDir):
        path = Path(value)
        if path.exists() and not path.is_dir():
            raise UsageError(f"{name} 应为文件夹，但“{value}”是一个文件；请换一个文件夹")
        if isinstance(role, OutDir):
            check_output(str(path / "x.csv"), (".csv",), name)
    elif isinstance(role, Name):
        if role.base_ok and value == "base":
            return None
        ok, rule = _NAME_RULES[role.rule]
        if not ok(value):
            raise UsageError(f"{name}“{value}”无效：{rule}")
    elif isinstance(role, Kind):
        return canonical_kind(value, settings(), option=name)
    elif isinstance(role, Crs):
        from geo.coords import normalise_crs_name

        try:
            normalise_crs_name(value)
        except ElderMapError as exc:
            raise UsageError(f"{name}：{exc.zh}") from None
    elif isinstance(role, Encoding):
        try:
            codecs.lookup(value)
        except LookupError:
            raise UsageError(f"{name} 不认识编码“{value}”；常用编码：utf-8、gbk、gb18030"
                             "（不写此参数时自动识别）") from None
    elif isinstance(role, Date):
        try:
            dt.date.fromisoformat(value.strip())
        except ValueError:
            raise UsageError(f"{name} 的统计日期“{value}”无效，应写作 2026-11-23") from None
    elif isinstance(role, Text):
        if len(value) > role.max_chars:
            raise UsageError(f"{name} 太长：最多 {role.max_chars} 个字符（收到 {len(value)} 个）")
    elif isinstance(role, Parsed):
        try:
            role.check(value, settings())
        except ElderMapError as exc:
            raise type(exc)(exc.zh if name in exc.zh else f"{name}：{exc.zh}", exc.en) from None
    return None


def _check_input(value: str, role: InFile, name: str) -> None:
    path = Path(value)
    allowed = "、".join(role.suffixes)
    who = name if name == role.what else f"{name} 的{role.what}"
    if not path.exists():
        if role.may_be_new and path.suffix.lower() in role.suffixes:
            return
        raise UsageError(f"{who}“{value}”不存在；请检查路径（可用的格式：{allowed}）")
    if path.is_dir():
        raise UsageError(f"{who}“{value}”是一个文件夹，不是文件（可用的格式：{allowed}）")
    suffix = ".pbf" if path.name.lower().endswith(".osm.pbf") else path.suffix.lower()
    if suffix not in role.suffixes:
        got = f"扩展名为“{suffix}”，不支持" if suffix else "没有扩展名"
        extra = "；旧版 Excel（.xls）请另存为 .xlsx" if suffix == ".xls" else ""
        raise UsageError(f"{who}“{value}”{got}；可用：{allowed}{extra}")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{who}“{value}”没有读取权限")
    if path.stat().st_size == 0:
        raise UsageError(f"{who}“{value}”是空文件（0 字节），没有可读的内容")


def name_the_option(parser: argparse.ArgumentParser, args: argparse.Namespace, exc: ElderMapError) -> str:
    """``exc``'s Chinese message, led by the option whose file it is about (``--facilities：无法读取文件 x.csv…``)
    when the message names an input file given on the command line but not the option."""
    message = exc.zh
    for action in parser._actions:
        if not isinstance(getattr(action, "role", None), InFile):
            continue
        for value in _values(getattr(args, action.dest, None)):
            if isinstance(value, str) and value.strip() and Path(value).name in message:
                name = label(action)
                return message if name in message else f"{name}（{Path(value).name}）：{message}"
    return message
