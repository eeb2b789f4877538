"""The gridlab command."""

import subprocess
import sys
from pathlib import Path

from gridlab.cli import main
from gridlab.env import render_ascii
from gridlab.env.layouts import fixed_layout_v3_blocker


def test_demo_prints_board_and_optimal_plan(capsys, tmp_path: Path) -> None:
    assert main(["demo", "--seed", "3", "--plot", str(tmp_path / "plan.png")]) == 0
    out = capsys.readouterr().out
    assert "random 8x8 puzzle, 3 robots, seed 3" in out
    assert "optimal plan, " in out and "optimal first moves: robot" in out
    assert (tmp_path / "plan.png").stat().st_size > 1000


def test_solve_reads_a_board_file(capsys, tmp_path: Path) -> None:
    board = tmp_path / "board.txt"
    board.write_text(render_ascii(fixed_layout_v3_blocker()))
    assert main(["solve", str(board)]) == 0
    assert "optimal plan, 2 moves" in capsys.readouterr().out


def test_errors_are_reported_without_a_traceback(capsys, tmp_path: Path) -> None:
    board = tmp_path / "bad.txt"
    board.write_text("+---+\n")
    assert main(["solve", str(board)]) == 2
    assert "gridlab solve: error: a board needs" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    result = subprocess.run(
        [
            Path(sys.executable).parent / "gridlab",
            "demo",
            "--height",
            "5",
            "--width",
            "5",
            "--robots",
            "1",
            "--min-moves",
            "1",
            "--max-moves",
            "3",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "optimal plan" in result.stdout


def test_puzzles_generate_and_show(capsys, tmp_path: Path) -> None:
    bank = tmp_path / "bank"
    args = ["puzzles", "generate", str(bank), "--height", "5", "--width", "6", "--robots", "2",
            "--min-moves", "1", "--max-moves", "3", "--per-length", "10", "--heldout", "0.2"]  # fmt: skip
    assert main(args) == 0
    assert "bank " + str(bank) + ": 30 puzzles" in capsys.readouterr().out
    assert main(["puzzles", "show", str(bank), "--length", "3", "--count", "2"]) == 0
    out = capsys.readouterr().out
    assert "5x6 boards with 2 robots" in out
    assert out.count("optimal length 3:") == 2 and "optimal plan: robot" in out
    assert main(["puzzles", "show", str(tmp_path / "missing")]) == 2
    assert "no puzzle bank at" in capsys.readouterr().err
