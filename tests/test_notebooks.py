"""Every notebook runs end to end at the small budget, and the committed copies hold real outputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
spec = importlib.util.spec_from_file_location("execute_notebooks", NOTEBOOKS / "execute.py")
execute_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(execute_notebooks)

PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_analyses_and_the_findings_are_there() -> None:
    assert [p.stem for p in PATHS] == [
        "01_train", "02_checkpoint_and_activations", "03_probes", "04_saliency", "05_interventions",
        "06_findings_8x8", "07_three_robots_and_imitation", "08_viewer",
    ]  # fmt: skip


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_committed_notebook_holds_outputs_of_a_full_run(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), "run every cell in order"
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "a notebook without a figure"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_executes_at_the_small_budget(path: Path, tmp_path: Path) -> None:
    written = execute_notebooks.execute(path, small=True, out=tmp_path)
    notebook = nbformat.read(written, as_version=4)
    assert all(cell.execution_count for cell in notebook.cells if cell.cell_type == "code")


def code_sources(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_where_it_is_without_changing_directory(path: Path) -> None:
    assert not [source for source in code_sources(path) if "os.chdir" in source]
    assert 'CHECKPOINTS = Path("../checkpoints")' in code_sources(path)[0]


class _NoKernel:
    """Stands in for nbclient's NotebookClient: executes nothing."""

    def __init__(self, notebook: object, **kwargs: object) -> None:
        pass

    def execute(self, **kwargs: object) -> None:
        pass


def test_small_run_without_out_goes_to_an_ignored_scratch_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert execute_notebooks.SMALL_OUT.relative_to(ROOT).parts[0] == "runs"  # ignored by git
    monkeypatch.setattr(execute_notebooks, "NotebookClient", _NoKernel)
    monkeypatch.setattr(execute_notebooks, "SMALL_OUT", tmp_path / "small")
    committed = PATHS[0].read_bytes()
    written = execute_notebooks.execute(PATHS[0], small=True)
    assert written == tmp_path / "small" / PATHS[0].name
    assert PATHS[0].read_bytes() == committed


def test_full_run_without_out_writes_in_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(execute_notebooks, "NotebookClient", _NoKernel)
    copy = tmp_path / PATHS[0].name
    copy.write_bytes(PATHS[0].read_bytes())
    assert execute_notebooks.execute(copy, small=False) == copy
