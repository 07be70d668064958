"""The layering, checked on the source: geo → data / layers → planning → desk → views / CLI → app.

Every import statement (top level or inside a function) of every module is read with ``ast``. The
test fails — never skips — when a package it expects is missing or renamed, so a restructuring
cannot silently turn it off.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("geo", "data", "layers", "planning", "desk", "batch", "views")
OURS = (*PACKAGES, "app", "eldermap")
ALLOWED: dict[str, set[str]] = {
    "geo": {"geo"},
    "data": {"geo", "data"},
    "layers": {"geo", "layers"},
    "planning": {"geo", "data", "planning"},
    "desk": {"geo", "data", "planning", "desk"},
    "batch": {"geo", "data", "planning", "batch"},
    "views": {"geo", "data", "layers", "planning", "desk", "batch", "views"},
}
"""Which of our packages each package may import."""
UI_MODULES = ("streamlit", "streamlit_folium")
PLANNING_MAY_USE_FROM_DATA: dict[str, set[str] | None] = {"data.store": {"Region"}, "data.schema": None,
                                                         "data.provenance": None}
"""What planning/ may import from data/: the region container and pure modules (None: any name) — no reader
or writer."""
FILE_IO_CALLS = {"read_file", "read_csv", "read_excel", "read_parquet", "read_table", "to_file", "to_csv", "to_excel",
                 "to_parquet", "open", "atomic_write", "load_workbook", "write_text", "write_bytes", "read_text",
                 "read_bytes"}
FILE_IO_MODULES = {"subprocess", "tempfile", "openpyxl", "pyogrio", "fiona", "shutil"}


def _modules(package: str) -> list[Path]:
    folder = ROOT / package
    assert folder.is_dir() and (folder / "__init__.py").is_file(), f"package {package}/ is missing or renamed"
    files = sorted(folder.rglob("*.py"))
    assert files, f"package {package}/ has no modules"
    return files


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) of every import in a file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            out.append((module, [a.name for a in node.names], node.lineno))
    return out


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_is_below_it(package: str) -> None:
    wrong = []
    for path in _modules(package):
        for module, names, line in _imports(path):
            top = module.split(".")[0]
            if top in OURS and top not in ALLOWED[package]:
                wrong.append(f"{_where(path, line)} imports {module}")
            if package == "planning" and top == "data":
                allowed = PLANNING_MAY_USE_FROM_DATA.get(module, set())
                if allowed is not None and (not names or not set(names) <= allowed):
                    wrong.append(f"{_where(path, line)} imports {names or module} from {module} (file I/O belongs in data/)")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", ("geo", "data", "layers", "planning", "desk"))
def test_nothing_below_the_pages_imports_streamlit(package: str) -> None:
    wrong = [f"{_where(path, line)} imports {module}"
             for path in _modules(package) for module, _, line in _imports(path)
             if module.split(".")[0] in UI_MODULES]
    assert not wrong, "streamlit below views/:\n" + "\n".join(wrong)


def test_planning_does_no_file_io() -> None:
    wrong = []
    for path in _modules("planning"):
        for module, _, line in _imports(path):
            if module.split(".")[0] in FILE_IO_MODULES:
                wrong.append(f"{_where(path, line)} imports {module}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in FILE_IO_CALLS:
                    wrong.append(f"{_where(path, node.lineno)} calls {name}()")
    assert not wrong, "file I/O in planning/:\n" + "\n".join(wrong)


def test_no_module_imports_private_names_of_another() -> None:
    wrong = []
    for package in PACKAGES:
        for path in _modules(package):
            own = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for module, names, line in _imports(path):
                if module.split(".")[0] in OURS and module != own:
                    private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                    if private:
                        wrong.append(f"{_where(path, line)} imports {private} from {module}")
    assert not wrong, "private names used across modules:\n" + "\n".join(wrong)


def test_app_is_a_thin_router() -> None:
    app = ROOT / "app.py"
    lines = app.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 320, f"app.py has {len(lines)} lines: pages belong in views/"
    tree = ast.parse("\n".join(lines))
    assert not any(isinstance(node, ast.Import) and any(a.name == "folium" for a in node.names)
                   for node in ast.walk(tree)), "app.py builds folium objects: map drawing belongs in layers/"


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The import reader itself: a function-level relative import of streamlit and an upward import are found."""
    fake = tmp_path / "planning" / "x.py"
    fake.parent.mkdir()
    fake.write_text("def f():\n    import streamlit as st\n    from views import find\n    from .y import z\n")
    found = [(m, line) for m, _, line in _imports_at(fake, tmp_path)]
    assert found == [("streamlit", 2), ("views", 3), ("planning.y", 4)]


def _imports_at(path: Path, root: Path) -> list[tuple[str, list[str], int]]:
    global ROOT
    saved, ROOT = ROOT, root
    try:
        return _imports(path)
    finally:
        ROOT = saved


def test_cli_and_library_load_without_streamlit() -> None:
    """Importing the CLI, every library module and the report composition loads no streamlit at run time."""
    import subprocess
    import sys

    modules = sorted({".".join(p.relative_to(ROOT).with_suffix("").parts)
                      for package in ("geo", "data", "layers", "planning") for p in _modules(package)})
    code = ("import importlib, sys\n"
            f"for name in {[*modules, 'eldermap', 'views.report_export']!r}:\n"
            "    importlib.import_module(name.removesuffix('.__init__'))\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'streamlit_folium'))\n"
            "print(loaded)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", f"streamlit loaded by: {done.stdout}"
