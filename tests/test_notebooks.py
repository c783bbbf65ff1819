"""The notebooks run top to bottom on small data, and none is stored with outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_carry_no_outputs() -> None:
    assert [p.name for p in NOTEBOOKS] == ["1.0-explore-orders.ipynb", "2.0-evaluate-model.ipynb"]
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip the outputs before committing"


def _run(path: Path) -> list[dict]:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]


@pytest.mark.parametrize("name", ["1.0-explore-orders.ipynb", "2.0-evaluate-model.ipynb"])
def test_notebook_runs_top_to_bottom(name: str, default_bundle: Path, write_jsonl, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [line for line in (ROOT / "data" / "corpus" / "calls_a.jsonl").read_text(encoding="utf-8").splitlines()[:40]]
    small = write_jsonl(calls, "small.jsonl")
    monkeypatch.delenv("TRIAGE_DATABASE_URL", raising=False)
    monkeypatch.setenv("ORDERS_FILE", str(small))
    monkeypatch.setenv("MODEL_DIR", str(default_bundle))
    monkeypatch.setenv("EVAL_FILE", str(small))
    outputs = _run(ROOT / "notebooks" / name)
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
