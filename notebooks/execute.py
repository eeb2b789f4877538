"""Run the notebooks: in place at the full budget (their committed outputs), or small into a scratch folder.

    python notebooks/execute.py                                  # all, full budget, outputs saved in place
    python notebooks/execute.py --small 03_probes.ipynb          # small budget, into runs/notebooks-small/
    python notebooks/execute.py --small --out /tmp/nb 03_probes.ipynb

Each notebook runs with its own folder (``notebooks/``) as working directory, as JupyterLab
runs it, and reads ``GRIDLAB_NOTEBOOK_BUDGET`` (``full`` or ``small``) in its first cell; the
test suite executes every notebook with ``small`` and fails on any error. A small run never
writes over the committed notebooks: without ``--out`` it goes to `SMALL_OUT`.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from gridlab.files import atomic_write

HERE = Path(__file__).resolve().parent
SMALL_OUT = HERE.parent / "runs" / "notebooks-small"  # ignored by git, like everything under runs/


def execute(path: Path, small: bool, out: Path | None = None, timeout: int = 1800) -> Path:
    """Execute one notebook with its own folder as working directory.

    Args:
        path: The notebook.
        small: The small budget the tests use (else the full one).
        out: Folder for the executed copy. None: in place for a full run, `SMALL_OUT` for a
            small one.
        timeout: Seconds one cell may take.

    Returns:
        The file written.
    """
    notebook = nbformat.read(path, as_version=4)
    env = os.environ | {"GRIDLAB_NOTEBOOK_BUDGET": "small" if small else "full"}  # the kernel's environment
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute(env=env)
    if out is None:
        out = SMALL_OUT if small else path.parent
    target = out / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda f: f.write(nbformat.writes(notebook).encode()))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook files (default: every notebook here)")
    parser.add_argument("--small", action="store_true", help="the small budget the tests use")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"write executed copies here (default: in place; with --small, {SMALL_OUT})",
    )
    args = parser.parse_args()
    paths = [HERE / Path(n).name for n in args.notebooks] or sorted(HERE.glob("*.ipynb"))
    if args.small and args.out is None:
        print(f"small budget: executed copies go to {SMALL_OUT}")
    for path in paths:
        start = time.perf_counter()
        written = execute(path, args.small, args.out)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s -> {written}")


if __name__ == "__main__":
    main()
