"""Every option of every subcommand, given each class of bad value, as a real process (issue 13).

The matrix is built from the parser itself (``eldermap.build_parser``): every value-taking action, by what its
value must be (choices, a number, an input or output file, a name, a kind, a coordinate system, an encoding, a
date, free text, a value checked by a domain parser), gets the bad values of its class: unknown, negative, zero,
empty, missing file, a folder, wrong extension, empty file, corrupt file, wrong encoding, HTML or a leading "=".
Each case runs ``eldermap`` in its own process with every other argument valid, and must end with exit status 2,
one Chinese message that names the option and what is allowed, no traceback or English library text, and no
file written. The cases run a few at a time in one fixture; each is then its own test. Each process is forked
from one interpreter that has already imported eldermap and what its commands import (a fresh interpreter per
case spent most of its time importing); one case of every subcommand also runs as a fresh ``eldermap`` process,
and must end exactly as its forked run did.
"""

from __future__ import annotations

import argparse
import json
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
        "dispatch": ["dispatch", "queue", "demo"],
        "batch": ["batch", "demo", "coverage", "--out", str(out / "b.csv")],
        "region": ["region", "tree", "demo"],
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


FORK_RUNNER = r'''
"""Runs the eldermap cases listed in the JSON file sys.argv[1], each in its own process forked from this one.

This interpreter imports eldermap and every module its commands import, once; each case is then a child forked
from it: its own working folder, stdin, stdout and stderr (the file descriptors themselves), and everything else
a fresh `python eldermap.py ...` has (logging, warnings filters, module state), nothing shared with the cases
before it. The child runs eldermap's own `sys.exit(main())` and ends as the interpreter would: an exception let
through is printed by sys.excepthook and gives status 1, other threads are waited for, atexit functions run and
the output is flushed (status 120 if that fails); only the tear-down of the imported modules, which would copy
the whole shared heap, is left out (os._exit). Prints {case id: exit status} as JSON.
"""
import ast
import atexit
import gc
import importlib
import json
import os
import signal
import sys
import threading
import time

root, cases_file, workers, timeout_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
sys.path[0] = root  # as for `python eldermap.py`: the script's folder first, never the working folder
import eldermap

for node in ast.walk(ast.parse(open(eldermap.__file__, encoding="utf-8").read())):
    names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)] if (
        isinstance(node, ast.ImportFrom) and node.level == 0 and node.module) else (
        [a.name for a in node.names] if isinstance(node, ast.Import) else [])
    for name in names:  # "from data import store" imports the module data.store
        try:
            importlib.import_module(name)
        except Exception:  # the child meets the same error where the command imports it
            pass
if threading.active_count() != 1:  # forking a process that runs threads can deadlock the child
    sys.exit(f"the runner has {threading.active_count()} threads after the imports")
gc.freeze()  # the children's garbage collections leave the shared objects (and their pages) alone


def run_case(case):
    """In the forked child: the case as `python eldermap.py ...`, to the end of the process."""
    os.setpgid(0, 0)
    os.chdir(case["cwd"])
    for fd, path, flags in ((0, case["stdin"], os.O_RDONLY), (1, case["out"], os.O_WRONLY | os.O_CREAT),
                            (2, case["err"], os.O_WRONLY | os.O_CREAT)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = [eldermap.__file__, *case["argv"]]
    try:
        sys.exit(eldermap.main())
    except SystemExit as exc:  # what the interpreter makes of sys.exit's argument
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            code = 120
    os._exit(code)

cases = json.load(open(cases_file, encoding="utf-8"))
running, codes = {}, {}
while cases or running:
    while cases and len(running) < workers:
        case = cases.pop(0)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_case(case)
        running[pid] = (case["id"], time.monotonic())
    pid, status = os.waitpid(-1, os.WNOHANG)
    if pid:
        codes[running.pop(pid)[0]] = os.waitstatus_to_exitcode(status)
        continue
    for child, (_, started) in running.items():
        if time.monotonic() - started > timeout_s:
            os.killpg(child, signal.SIGKILL)
    time.sleep(0.002)
print(json.dumps(codes))
'''
"""The forking runner of :func:`outcomes` (run with ``python -c``)."""

SAMPLE_PRIORITY = ("corrupt", "latin1", "utf16", "gbk", "empty-file", "missing", "folder", "wrong-ext", "shp",
                   "a-file", "unknown", "html", "formula", "too-long", "text", "negative", "zero", "empty")
"""Which case of a subcommand also runs as a real process: the first class here that it has (file contents first:
they are read furthest into the command)."""


def _sample(cases: list[Case]) -> list[str]:
    """One case of every subcommand (see :data:`SAMPLE_PRIORITY`), to run as a real ``eldermap`` process too."""
    by_command: dict[str, list[Case]] = {}
    for case in cases:
        by_command.setdefault(case.argv[0], []).append(case)
    rank = {cls: i for i, cls in enumerate(SAMPLE_PRIORITY)}
    return [min(group, key=lambda c: rank.get(c.id.split("-", 2)[-1], len(rank))).id for group in by_command.values()]


def _written(case_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(case_dir)) for p in case_dir.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, demo_region) -> dict[str, tuple[Case, Outcome]]:
    """Every case, each run in a process forked from one warm interpreter (:data:`FORK_RUNNER`); a sample of them
    (:func:`_sample`) also as a real ``eldermap`` process of its own, in a folder of its own, at the same time.
    Under "_regions": the listing of the regions folder before and after; under "_real": the real processes'
    outcomes of the sample, with their folder written as the forked cases' folder."""
    regions = copy_demo_region(demo_region, tmp_path_factory.mktemp("fuzz_regions"))
    case_root = tmp_path_factory.mktemp("fuzz_cases")
    real_root = tmp_path_factory.mktemp("fuzz_real")
    for folder in (case_root, real_root):
        (folder / "_good").mkdir()
        shutil.copy(FIX / "facilities_valid.csv", folder / "_good" / "facilities.csv")
    facility_id = str(demo_region.facilities["id"].iloc[0])
    cases = _cases(case_root, {"facilities": case_root / "_good" / "facilities.csv", "facility_id": facility_id})
    sample = set(_sample(cases))
    real_cases = [c for c in _cases(real_root, {"facilities": real_root / "_good" / "facilities.csv",
                                                "facility_id": facility_id}) if c.id in sample]
    env = {**os.environ, "ELDERMAP_REGIONS": str(regions), "PYTHONIOENCODING": "utf-8", "LANG": "C.UTF-8"}
    env.pop("ELDERMAP_SETTINGS", None)
    def listing() -> list[str]:  # the salt is made once per deployment, by the first import that starts
        return sorted(str(p.relative_to(regions)) for p in regions.rglob("*") if p.name not in ("audit.log", ".salt"))

    before = listing()

    def real(case: Case) -> tuple[Case, Outcome]:
        case_dir = real_root / case.id
        (case_dir / "out").mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, str(ROOT / "eldermap.py"), *case.argv], input=case.stdin,
                              capture_output=True, text=True, encoding="utf-8", errors="replace", env=env,
                              cwd=case_dir, timeout=300, check=False)
        return case, Outcome(done.returncode, done.stdout, done.stderr, _written(case_dir))

    io_dir = case_root / "_io"  # the cases' stdin, stdout and stderr: outside their folders
    io_dir.mkdir()
    jobs = []
    for case in cases:
        (case_root / case.id / "out").mkdir(parents=True, exist_ok=True)
        jobs.append({"id": case.id, "argv": case.argv, "cwd": str(case_root / case.id),
                     **{k: str(io_dir / f"{case.id}.{k}") for k in ("stdin", "out", "err")}})
        (io_dir / f"{case.id}.stdin").write_text(case.stdin, encoding="utf-8")
    (io_dir / "cases.json").write_text(json.dumps(jobs), encoding="utf-8")
    with ThreadPoolExecutor(max_workers=2) as pool:
        real_results = pool.map(real, real_cases)
        runner = subprocess.run([sys.executable, "-c", FORK_RUNNER, str(ROOT), str(io_dir / "cases.json"), "2", "300"],
                                capture_output=True, text=True, env=env, cwd=case_root, timeout=900, check=False)
        real_outcomes = {case.id: outcome for case, outcome in real_results}
    assert runner.returncode == 0, runner.stderr[-3000:]
    codes = json.loads(runner.stdout)
    results = {}
    for case in cases:
        read = {k: (io_dir / f"{case.id}.{k}").read_text(encoding="utf-8", errors="replace") for k in ("out", "err")}
        results[case.id] = (case, Outcome(codes[case.id], read["out"], read["err"], _written(case_root / case.id)))
    after = listing()
    results["_regions"] = (before, after)  # type: ignore[assignment]
    results["_real"] = {  # type: ignore[assignment]
        case_id: Outcome(o.code, o.out.replace(str(real_root), str(case_root)),
                         o.err.replace(str(real_root), str(case_root)), o.written)
        for case_id, o in real_outcomes.items()}
    return results


def test_no_refused_command_changes_the_regions(outcomes) -> None:
    before, after = outcomes["_regions"]
    succeeded = [key for key, value in outcomes.items() if not key.startswith("_") and value[1].code != 2]
    assert after == before, f"the regions folder changed; commands that did not exit 2: {succeeded}"


def test_forked_cases_end_as_real_processes_do(outcomes) -> None:
    """The cases run in processes forked from a warm interpreter, not each in a fresh `eldermap` process: for one
    case of every subcommand, a fresh process gives the same exit status, output, message and files."""
    real = outcomes["_real"]
    commands = {value[0].argv[0] for key, value in outcomes.items() if not key.startswith("_")}
    assert {outcomes[key][0].argv[0] for key in real} == commands
    for case_id, outcome in real.items():
        assert outcome == outcomes[case_id][1], case_id


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
