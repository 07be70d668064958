"""The planner walkthrough notebook runs from top to bottom and shows what it promises."""

from __future__ import annotations

from pathlib import Path

import nbformat
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "planner_walkthrough.ipynb"


def _kernel_name() -> str:
    """"python3" when installed, else the native kernel of this interpreter (ipykernel's own spec)."""
    specs = KernelSpecManager().find_kernel_specs()
    return "python3" if "python3" in specs else NATIVE_KERNEL_NAME


def _text(cell: nbformat.NotebookNode) -> str:
    """Printed and displayed plain text of a code cell."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def test_notebook_is_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # the working directory is the repo root, so `import planning` works with or without the editable install
    client = NotebookClient(nb, timeout=300, kernel_name=_kernel_name(), resources={"metadata": {"path": str(REPO)}})
    client.execute()  # raises CellExecutionError on the first failing cell

    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o["output_type"] == "error"]
    assert not errors
    images = [o for c in code for o in c.outputs if "data" in o and "image/png" in o["data"]]
    assert len(images) >= 6  # coverage bars, base map, gap map, siting map, change map, before/after bars
    text = "\n".join(_text(c) for c in code)
    for expected in ("15 分钟步行覆盖率", "圈外老人", "求解器 highs，状态", "方案已保存并读回", "增加覆盖"):
        assert expected in text, expected

    summary = _text(code[-1])
    assert "覆盖率" in summary
    assert "→" in summary and "个百分点" in summary
    # the summary states the figures the notebook computed, not hard-coded ones
    assert summary.count("%") >= 5
