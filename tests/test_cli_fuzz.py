"""Every option of every subcommand, given each class of bad value, as a real process (issue 13).

The matrix is built from the parser itself (``eldermap.build_parser``): every value-taking action, by what its
value must be (choices, a number, an input or output file, a name, a kind, a coordinate system, an encoding, a
date, free text, a value checked by a domain parser), gets the bad values of its class: unknown, negative, zero,
empty, missing file, a folder, wrong extension, empty file, corrupt file, wrong encoding, HTML or a leading "=".
Each case runs ``eldermap`` in its own process with every other argument valid, and must end with exit status 2,
one Chinese message that names the option and what is allowed, no traceback or English library text, and no
file written. The cases run a few at a time in one fixture; each is then its own test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import copy_demo_region

import cli_args
import eldermap
from geo.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures" / "validation"
KINDS = Settings().facility_kinds
ENGLISH = ("Traceback", "Error", "error:", "usage:", "invalid", "Exception", "No such file", "not recognized",
           "Permission denied", "failed")


@dataclass
class Case:
    id: str
    argv: list[str]
    option: str
    """How the message must name the option (cli_args.label)."""
    allowed: list[str]
    """Words of which at least one must appear: what is allowed, or why the value is refused."""
    stdin: str = ""
    every: list[str] = field(default_factory=list)
    """Words that must all appear (e.g. every choice of an enum)."""


# ---------------------------------------------------------------- the files the bad values point at


def _bad_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "folder": folder / "a_folder.csv",
        "empty": folder / "empty",
        "docx": folder / "notes.docx",
        "corrupt": folder / "corrupt",
        "utf16": folder / "utf16",
        "gbk": folder / "gbk",
        "latin1": folder / "latin1",
    }
    files["folder"].mkdir(exist_ok=True)
    files["docx"].write_bytes(b"PK\x03\x04 not really a document")
    for key in ("empty", "corrupt", "utf16", "gbk", "latin1"):
        files[key].mkdir(exist_ok=True)
    return files


def _file_of(kind: str, suffix: str, folder: Path) -> Path:
    """A file of the given bad kind with the given (allowed) suffix."""
    path = folder / kind / f"x{suffix}"
    if path.exists():
        return path
    text = "名称,类型,经度,纬度\n幸福院,养老机构,24.94,60.17\n"
    if suffix == ".toml":
        text = 'walk_speed_kmh = 3.6\nregion_name = "幸福"\n'
    elif suffix == ".md":
        text = "# 说明\n<!-- schema:start -->\n<!-- schema:end -->\n"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "corrupt":
        path.write_bytes(bytes(range(256)) * 8 if suffix != ".toml" else b"[[[ = \x00\x01")
    elif kind == "utf16":
        path.write_bytes(text.encode("utf-16-le"))
    elif kind == "gbk":
        path.write_bytes(text.encode("gbk"))
    elif kind == "latin1":  # neither UTF-8 nor GBK/GB18030 (é followed by a comma is no GBK pair)
        path.write_bytes("Nom,Type,Café,Ü\nMaison é,Foyer,24.94,60.17\n".encode("latin-1"))
    return path


DATA_TEXT = {".csv", ".txt", ".tsv"}
TEXT_LIKE = {".csv", ".txt", ".tsv", ".toml", ".md", ".geojson", ".json", ".xml", ".osm"}


# ---------------------------------------------------------------- the matrix, from the parser


def _base_argv(command: str, case_dir: Path, good: dict[str, Path]) -> list[str]:
    """A valid command line for ``command``: only the fuzzed option will be wrong."""
    out = case_dir / "out"
    return {
        "validate": ["validate", "facilities", str(good["facilities"]), "--out", str(out)],
        "import": ["import", "demo", "--facilities", str(good["facilities"]), "--report-dir", str(out)],
        "info": ["info", "demo"],
        "demo": ["demo", "--name", "fuzzdemo"],
        "samples": ["samples", "--out", str(out / "samples")],
        "coverage": ["coverage", "demo", "--out", str(out / "c.csv")],
        "access": ["access", "demo", "--out", str(out / "a.csv")],
        "isochrones": ["isochrones", "demo", "--out", str(out / "i.geojson")],
        "gaps": ["gaps", "demo", "--out", str(out / "g.csv")],
        "scenario": ["scenario", "new", "demo", "fuzz", "--close", good["facility_id"]],
        "site": ["site", "demo", "--add", "1", "--out", str(out / "s.csv"), "--solver", "greedy"],
        "check": ["check", "demo", "--out", str(out / "k.csv")],
        "user": ["user", "add", "fuzz", "--role", "planner", "--password-stdin", "--users", str(out / "users.toml")],
        "report": ["report", "demo", "--out", str(out / "r.xlsx"), "--allow-unassigned"],
        "list": ["list"],
        "schema": ["schema"],
        "settings": ["settings"],
        "db": ["db", "init"],
        "serve": ["serve", "demo", "--port", "8699"],  # every case is refused before the server starts
        "apikey": ["apikey", "list"],
    }[command]


def _with(argv: list[str], action: argparse.Action, value: str, positionals: list[argparse.Action]) -> list[str]:
    """``argv`` with ``action`` set to ``value`` (replacing the value it had, or appended)."""
    argv = list(argv)
    if not action.option_strings:  # positionals: the n-th bare word after the command
        words = [i for i, t in enumerate(argv) if i > 0 and not t.startswith("--")
                 and not (i > 0 and argv[i - 1].startswith("--") and argv[i - 1] not in FLAGS)]
        index = positionals.index(action)
        if index < len(words):
            argv[words[index]] = value
        else:
            argv.append(value)
        return argv
    flag = max(action.option_strings, key=len)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
        return argv
    if flag == "--add" and "--target" in argv:
        argv.remove(argv[argv.index("--target") + 1])
        argv.remove("--target")
    if flag == "--target" and "--add" in argv:  # site: --add and --target exclude each other
        i = argv.index("--add")
        del argv[i:i + 2]
    return argv + [f"{flag}={value}" if value.startswith("-") else flag, *([] if value.startswith("-") else [value])]


GLOBAL = {"settings", "regions"}
FLAGS = {"--if-missing", "--by-group", "--cumulative", "--unweighted", "--overwrite", "--password-stdin", "--replace",
         "--allow-unassigned", "-v", "--verbose"}


def _number_refuses(action: argparse.Action, text: str) -> bool:
    try:
        action.type(text)  # type: ignore[misc]
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return True
    return False


def _cases(case_root: Path, good: dict[str, Path]) -> list[Case]:
    parser = eldermap.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    cases: list[Case] = []
    folder = case_root / "_bad"
    files = _bad_files(folder)
    for command, subparser in sub.choices.items():
        positionals = [a for a in subparser._actions if not a.option_strings]
        for action in subparser._actions:
            if action.nargs == 0 or action.dest == "help" or isinstance(action, argparse._HelpAction):
                continue
            if action.dest in GLOBAL and command != "coverage":
                continue  # the global options: fuzzed once, on coverage (before the subcommand: see below)
            role = getattr(action, "role", None)
            name = cli_args.label(action)
            values: list[tuple[str, str, list[str], list[str]]] = []  # (class, value, any-of, all-of)
            if (action.option_strings or action.required) and action.const != "":
                values.append(("empty", "", ["空"], []))
            if action.choices:
                values.append(("unknown", "bogus", [], [str(c) for c in action.choices]))
            elif action.type not in (None, str) and role is None:
                bounds = ["大于", "不小于", "不超过", "数字", "整数"]
                values.append(("text", "abc", bounds, []))
                for cls, text in (("negative", "-5"), ("zero", "0")):
                    if _number_refuses(action, text):
                        values.append((cls, text, bounds, []))
            if isinstance(role, cli_args.InFile):
                allowed = list(role.suffixes)
                good_suffix = role.suffixes[0]
                values += [] if role.may_be_new else [("missing", str(folder / f"nope{good_suffix}"), ["不存在"], [])]
                values += [
                    ("folder", str(files["folder"]), ["文件夹"], []),
                    ("wrong-ext", str(files["docx"]), [".docx"], allowed[:3]),
                    ("empty-file", str(_file_of("empty", good_suffix, folder)), ["空文件"], []),
                ]
                if not role.may_be_new:
                    corrupt = _file_of("corrupt", good_suffix, folder)
                    values.append(("corrupt", str(corrupt), [corrupt.name], []))
                    if good_suffix in DATA_TEXT:  # staff tables: UTF-8, GBK and UTF-16 are all read
                        values.append(("latin1", str(_file_of("latin1", good_suffix, folder)), ["x" + good_suffix], []))
                    elif good_suffix in TEXT_LIKE:
                        values.append(("utf16", str(_file_of("utf16", good_suffix, folder)), ["x" + good_suffix], []))
                        if good_suffix in (".toml", ".md"):
                            values.append(("gbk", str(_file_of("gbk", good_suffix, folder)),
                                           ["UTF-8"], []))
            elif isinstance(role, cli_args.OutFile):
                values += [("wrong-ext", str(case_root / "{case}" / "out" / "x.txt"), [], list(role.suffixes)),
                           ("shp", str(case_root / "{case}" / "out" / "x.shp"), [], list(role.suffixes)),
                           ("folder", str(files["folder"]), ["文件夹"], [])]
            elif isinstance(role, cli_args.OutDir | cli_args.RegionsDir):
                values.append(("a-file", str(files["docx"]), ["文件夹"], []))
            elif isinstance(role, cli_args.Name):
                rule = {"region": "字母", "scenario": "字母", "user": "字母", "person": "标记"}[role.rule]
                values += [("html", "<b>x</b>", [rule], []), ("formula", "=1+1", [rule], [])]
            elif isinstance(role, cli_args.Kind):
                values.append(("unknown", "养老所", [], list(KINDS)))
            elif isinstance(role, cli_args.Crs):
                values.append(("unknown", "mars", ["wgs84"], []))
            elif isinstance(role, cli_args.Encoding):
                values.append(("unknown", "utf-99", ["utf-8"], []))
            elif isinstance(role, cli_args.Date):
                values.append(("unknown", "2026-13-45", ["2026-11-23"], []))
            elif isinstance(role, cli_args.Text):
                values.append(("too-long", "长" * (role.max_chars + 1), ["最多"], []))
            elif isinstance(role, cli_args.Parsed):
                values.append(("unknown", "bogus", ["可选", "写法", "应为"], []))
            for cls, value, any_of, all_of in values:
                case_id = f"{command}-{action.dest}-{cls}"
                value = value.replace("{case}", case_id)
                base = _base_argv(command, case_root / case_id, good)
                if (command, action.dest) == ("scenario", "other"):  # only compare reads a second name
                    base = ["scenario", "compare", "demo", "base", "x", "--out", str(case_root / case_id / "out" / "c.csv")]
                argv = _with(base, action, value, positionals)
                stdin = "fuzz-password-1\n" if command == "user" else ""
                cases.append(Case(case_id, argv, name, any_of, stdin, all_of))
    return cases


# ---------------------------------------------------------------- running them


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    written: list[str]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, demo_region) -> dict[str, tuple[Case, Outcome]]:
    regions = copy_demo_region(demo_region, tmp_path_factory.mktemp("fuzz_regions"))
    case_root = tmp_path_factory.mktemp("fuzz_cases")
    good_dir = case_root / "_good"
    good_dir.mkdir()
    shutil.copy(FIX / "facilities_valid.csv", good_dir / "facilities.csv")
    good = {"facilities": good_dir / "facilities.csv",
            "facility_id": str(demo_region.facilities["id"].iloc[0])}
    cases = _cases(case_root, good)
    env = {**os.environ, "ELDERMAP_REGIONS": str(regions), "PYTHONIOENCODING": "utf-8", "LANG": "C.UTF-8"}
    env.pop("ELDERMAP_SETTINGS", None)
    def listing() -> list[str]:  # the salt is made once per deployment, by the first import that starts
        return sorted(str(p.relative_to(regions)) for p in regions.rglob("*") if p.name not in ("audit.log", ".salt"))

    before = listing()

    def one(case: Case) -> tuple[Case, Outcome]:
        case_dir = case_root / case.id
        (case_dir / "out").mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, str(ROOT / "eldermap.py"), *case.argv], input=case.stdin,
                              capture_output=True, text=True, env=env, cwd=case_dir, timeout=300)
        written = sorted(str(p.relative_to(case_dir)) for p in case_dir.rglob("*") if p.is_file())
        return case, Outcome(done.returncode, done.stdout, done.stderr, written)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = {case.id: result for case, result in zip(cases, pool.map(one, cases), strict=True)}
    after = listing()
    results["_regions"] = (before, after)  # type: ignore[assignment]
    return results


def test_no_refused_command_changes_the_regions(outcomes) -> None:
    before, after = outcomes["_regions"]
    succeeded = [case.id for key, (case, result) in outcomes.items() if key != "_regions" and result.code != 2]
    assert after == before, f"the regions folder changed; commands that did not exit 2: {succeeded}"


def _case_ids() -> list[str]:
    """The case ids, built as the fixture builds its cases (the ids do not depend on the paths)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return [c.id for c in _cases(Path(tmp), {"facilities": Path(tmp) / "f.csv", "facility_id": "F1"})]


CASE_IDS = _case_ids()


def test_the_matrix_covers_every_option() -> None:
    """Every value-taking option of every subcommand has at least one bad value, and the classes are there."""
    parser = eldermap.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, subparser in sub.choices.items():
        for action in subparser._actions:
            if action.nargs == 0 or isinstance(action, argparse._HelpAction) or (
                    action.dest in GLOBAL and command != "coverage"):
                continue
            assert any(i.startswith(f"{command}-{action.dest}-") for i in CASE_IDS), (command, action.dest)
    classes = {i.split("-", 2)[-1] for i in CASE_IDS}
    for cls in ("empty", "unknown", "text", "negative", "zero", "missing", "folder", "wrong-ext", "empty-file",
                "corrupt", "latin1", "utf16", "gbk", "html", "formula", "too-long", "shp", "a-file"):
        assert cls in classes, cls
    assert len(CASE_IDS) > 300


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_bad_value_is_refused_in_chinese(outcomes: dict[str, tuple[Case, Outcome]], case_id: str) -> None:
    case, result = outcomes[case_id]
    shown = f"argv={case.argv}\nstdout={result.out}\nstderr={result.err}"
    assert result.code == 2, shown
    message = result.err.strip()
    assert message.startswith("错误："), shown
    assert message.count("错误：") == 1, shown
    assert case.option in message, shown
    assert not case.allowed or any(word in message for word in case.allowed), shown
    assert all(word in message for word in case.every), shown
    for english in ENGLISH:
        assert english not in message, shown
    assert "Traceback" not in result.out, shown
    assert result.written == [], f"files written: {result.written}\n{shown}"
