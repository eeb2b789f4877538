"""The gridlab command."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gridlab
from gridlab.cli import build_parser, main
from gridlab.env import render_ascii
from gridlab.env.layouts import fixed_layout_v3_blocker
from gridlab.training import EvaluationResult, Run, TrainConfig

V1_MLP = Path(__file__).resolve().parent.parent / "checkpoints" / "v1_mlp"  # 4 held-out puzzles
WHOLE_NUMBER = "a whole number, such as 1000000, 1e6 or 1_000_000"


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


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"gridlab {gridlab.__version__}\n"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["train"], "--policy {auto,mlp,small_cnn,convlstm} mlp, small_cnn, convlstm, or auto (the seed's "
                    "rule: MLP for symbolic or tiny boards). (default: auto)"),
        (["train"], "--obs-mode {image,symbolic,rgb} Observation encoding: image, symbolic or rgb. "
                    "(default: image)"),
        (["train"], "--total-timesteps TOTAL_TIMESTEPS Environment steps to train for (summed over envs). "
                    "(default: 100000)"),
        (["train"], "--milestone {v0,v1,v2,v3,v4,None} Train on a milestone"),
        (["train"], "--tensorboard, --no-tensorboard Log to TensorBoard under the run folder. "
                    "(default: True)"),
        (["saliency"], "--method METHOD captum method: saliency, integrated_gradients, gradient_shap, "
                       "expected_gradients, occlusion (expected_gradients draws its baselines from the first "
                       "64 held-out boards) (default: integrated_gradients)"),
        (["puzzles", "show"], "--split {train,heldout,all} which split to show puzzles from "
                              "(default: train)"),
        (["demo"], "--height HEIGHT board rows (4-16) (default: 8)"),
        (["evaluate"], "--out OUT JSON file (default: runs/evaluations/NAME/evaluation.json in the current "
                       "folder"),
    ],
)  # fmt: skip
def test_help_shows_defaults_and_choices(
    capsys: pytest.CaptureFixture[str], command: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as exit:
        main([*command, "--help"])
    assert exit.value.code == 0
    assert expected in " ".join(capsys.readouterr().out.split())  # line breaks depend on the terminal


def test_integer_options_accept_scientific_notation_and_underscores(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(["train", "--total-timesteps", "1e6", "--n-steps", "1_024"])
    assert (args.total_timesteps, args.n_steps) == (1_000_000, 1024)
    assert type(args.total_timesteps) is int
    generate = build_parser().parse_args(["puzzles", "generate", "bank", "--per-length", "2e3"])
    assert generate.per_length == 2000
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(["train", "--total-timesteps", "2.5"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.endswith(
        "gridlab train: error: argument --total-timesteps: expected a whole number such as 20000, 2e4 or "
        "20_000; got '2.5'\n"
    )


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("run.yaml", "milestone: v1\nseed: [1, 2\ntotal_timesteps: 1e6\n",
         "is not valid YAML: expected ',' or ']', but got ':' at line 3, column 16 (while parsing a flow "
         "sequence at line 2, column 7); fix the syntax there"),
        ("run.json", '{\n  "seed": 1,\n}\n',
         "is not valid JSON: Expecting property name enclosed in double quotes at line 3, column 1; fix the "
         "syntax there (or name the file .yaml to write YAML)"),
    ],
)  # fmt: skip
def test_config_syntax_errors_name_the_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        TrainConfig.load(path)
    assert str(error.value) == f"config file {path} {expected}"
    assert main(["train", "--config", str(path)]) == 2
    assert capsys.readouterr().err == f"gridlab train: error: config file {path} {expected}\n"


def test_evaluate_writes_under_runs_evaluations_never_into_the_checkpoint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    listing = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in V1_MLP.iterdir())
    assert main(["evaluate", str(V1_MLP), "--episodes", "1e0"]) == 0
    assert main(["evaluate", str(V1_MLP) + "/", "--episodes", "1"]) == 0
    assert main(["evaluate", str(V1_MLP), "--episodes", "1", "--out", "mine.json"]) == 0
    assert sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in V1_MLP.iterdir()) == listing
    out = capsys.readouterr().out
    assert out.count("written to runs/evaluations/v1_mlp/evaluation.json\n") == 1
    assert out.count("written to runs/evaluations/v1_mlp/evaluation-2.json\n") == 1
    assert out.endswith("written to mine.json\n")
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json"))
    assert written == ["mine.json", "runs/evaluations/v1_mlp/evaluation-2.json",
                       "runs/evaluations/v1_mlp/evaluation.json"]  # fmt: skip
    assert json.loads(Path("mine.json").read_text())["episodes"] == 4  # a milestone: every layout once


@pytest.mark.parametrize(
    ("puzzle", "expected"),
    [
        ("4", "--puzzle 4 is out of range; this run has 4 held-out puzzles, so expected 0 to 3"),
        ("-1", "--puzzle -1 is out of range; expected an index of 0 or more into the run's held-out puzzles"),
    ],
)
def test_saliency_puzzle_out_of_range_gives_the_valid_range(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, puzzle: str, expected: str
) -> None:
    out = tmp_path / "saliency.png"
    assert main(["saliency", str(V1_MLP), "--puzzle", puzzle, "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"gridlab saliency: error: {expected}\n"
    assert not out.exists()


FINAL = EvaluationResult(
    optimal=np.array([1, 2, 2]), moves=np.array([1, 3, 9]), solved=np.array([True, True, False])
)


@pytest.mark.parametrize(
    ("interrupted", "evaluation", "code", "printed"),
    [
        (False, FINAL, 0, FINAL.table()),
        (True, FINAL, 130, FINAL.table()),
        (True, None, 130, "final evaluation skipped (a second Ctrl-C)"),
    ],
)
def test_train_exits_130_when_interrupted_and_prints_the_final_evaluation(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    interrupted: bool,
    evaluation: EvaluationResult | None,
    code: int,
    printed: str,
) -> None:
    configs: list[TrainConfig] = []

    def fake_train(config: TrainConfig, resume_from: Path | None = None) -> Run:
        configs.append(config)
        return Run(tmp_path, tmp_path / "final", pd.DataFrame(), evaluation, interrupted)

    monkeypatch.setattr(importlib.import_module("gridlab.training.train"), "train", fake_train)
    assert main(["train", "--milestone", "v1", "--total-timesteps", "1e3"]) == code
    assert [(c.milestone, c.total_timesteps) for c in configs] == [("v1", 1000)]
    state = "interrupted; " if interrupted else ""
    assert capsys.readouterr().out == f"\n{printed}\n\n{state}checkpoint written to {tmp_path / 'final'}\n"


def test_evaluate_against_another_checkpoint_pairs_them_on_the_same_puzzles(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    other = V1_MLP.parent / "v1_small_cnn"
    assert main(["evaluate", str(V1_MLP), "--against", str(other)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(
        f"on the same 4 puzzles (95% Wilson intervals):\n  {V1_MLP}: 100.0% [51.0%, 100.0%]\n"
        f"  {other}: 100.0% [51.0%, 100.0%]\n"
        "  difference +0.0% [+0.0%, +0.0%], McNemar p = 1"
        " (0 solved by the first alone, 0 by the second alone)\n"
    )
    eight = V1_MLP.parent / "v4_mlp"
    assert main(["evaluate", str(V1_MLP), "--against", str(eight)]) == 2
    assert capsys.readouterr().err.endswith(
        f"--against {eight} plays 8x8 boards with 2 robots, {V1_MLP} 5x5 with 1: compare agents of one task\n"
    )
