"""The import boundary: the package roots, `TrainConfig` and the quick commands load no heavy library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gridlab
from gridlab.env import render_ascii
from gridlab.env.layouts import fixed_layout_v3_blocker

# Each takes seconds to import; `gridlab --help`, `--version` and `solve` need none of them.
HEAVY = ("torch", "stable_baselines3", "sb3_contrib", "sklearn", "captum")

# Run in a fresh interpreter: this test process has imported torch already (tests/conftest.py).
SCRIPT = """
import json
import sys

import gridlab, gridlab.env, gridlab.training
from gridlab.training import TrainConfig
from gridlab.cli import main

TrainConfig()
codes = []
for argv in (["--help"], ["--version"], ["train", "--help"]):
    try:
        main(argv)
    except SystemExit as exit:
        codes.append(exit.code)
codes.append(main(["solve", sys.argv[1]]))
print(json.dumps({"codes": codes, "heavy": [name for name in sys.argv[2:] if name in sys.modules]}))
"""


def test_help_version_and_solve_import_no_torch_sb3_sklearn_or_captum(tmp_path: Path) -> None:
    board = tmp_path / "board.txt"
    board.write_text(render_ascii(fixed_layout_v3_blocker()))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(board), *HEAVY], capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert report == {"codes": [0, 0, 0, 0], "heavy": []}
    assert f"\ngridlab {gridlab.__version__}\n" in result.stdout
    assert "optimal plan, 2 moves" in result.stdout
