"""The suite's own scheduling (tests/conftest.py): the files it starts first exist, and are started first."""

from __future__ import annotations

from pathlib import Path

from conftest import HEAVY_FILES_FIRST


def test_the_heavy_files_named_first_exist() -> None:
    """A renamed test file would silently lose its early start."""
    here = Path(__file__).parent
    missing = [name for name in HEAVY_FILES_FIRST if not (here / name).is_file()]
    assert not missing and len(set(HEAVY_FILES_FIRST)) == len(HEAVY_FILES_FIRST)


def test_collection_starts_with_the_heavy_files(pytestconfig) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
                           "tests/test_access.py", "tests/test_app.py", "tests/test_cli_fuzz.py"],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1], check=True)
    files = []
    for line in done.stdout.splitlines():
        if "::" in line and (name := line.split("::")[0]) not in files:
            files.append(name)
    assert files == ["tests/test_cli_fuzz.py", "tests/test_app.py", "tests/test_access.py"]
