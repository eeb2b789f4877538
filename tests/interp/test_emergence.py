"""Emergence tables over a run's checkpoint series."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

import gridlab
from gridlab.checkpoints import run_checkpoints
from gridlab.interp.emergence import emergence, plot_emergence
from gridlab.interp.thinking import thinking_time
from gridlab.training import evaluation_puzzles, train
from tests.conftest import quick_config

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
BOARD = {"height": 5, "width": 5, "num_robots": 1, "min_moves": 1, "max_moves": 5}


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bc+ppo run with its clone, two log-spaced checkpoints and the final one."""
    config = quick_config(tmp_path_factory.mktemp("runs"), milestone=None, policy="small_cnn",
                          recipe="bc+ppo", clone_updates=150, total_timesteps=2048, n_steps=64, n_envs=4,
                          eval_freq=0, save_freq=0, log_checkpoints=2, log_checkpoints_from=256,
                          **BOARD)  # fmt: skip
    return train(config).run_dir


def test_a_run_lists_its_checkpoints_in_training_order(series: Path) -> None:
    listed = run_checkpoints(series)
    # step_2048 was saved before the update on the last rollout, final after it
    assert [(step, path.name) for step, path in listed] == [(0, "clone"), (256, "step_256"), (2048, "final")]
    assert (series / "step_2048").is_dir()
    with pytest.raises(FileNotFoundError, match="no run folder at"):
        run_checkpoints(series / "missing")


def test_every_checkpoint_is_measured_on_the_same_puzzles(series: Path, tmp_path: Path) -> None:
    agent = gridlab.load(series / "final")
    puzzles = evaluation_puzzles(agent.config, 30)
    table = emergence(series, puzzles, "features_extractor.hook_relu2", n_boot=100, progress=False)
    assert list(table.index) == [0, 256, 2048] and "thinking_change" not in table  # feed-forward
    for step, row in table.iterrows():
        checkpoint = gridlab.load(row["checkpoint"])
        assert checkpoint.metadata["training"]["num_timesteps"] == step
        solved = checkpoint.evaluate(episodes=30, progress=False).solved
        assert row["success"] == solved.mean() and row["success_low"] <= row["success"] <= row["success_high"]
        assert row["probe_low"] <= row["probe"] <= row["probe_high"]
        assert row["above_baseline"] == pytest.approx(row["probe"] - row["baseline_score"])
        assert row["baseline"] in {"majority", "next_action", "observation", "observation_3x3", "geometry",
                                   "random_network", "control_task"}  # fmt: skip
        assert {"horizon_1", "horizon_2"} <= set(row.index)
    # a list of checkpoints gives the same rows; a copy of the final checkpoint is the same agent
    shutil.copytree(series / "final", tmp_path / "copy")
    again = emergence([series / "clone", tmp_path / "copy"], puzzles, "features_extractor.hook_relu2",
                      n_boot=100, progress=False)  # fmt: skip
    columns = ["success", "hook", "probe", "probe_low", "probe_high", "baseline_score"]
    assert again[columns].equals(table.loc[[0, 2048], columns])
    axes = plot_emergence(table, title="small")
    assert [ax.get_xlabel() for ax in axes] == ["PPO steps (clone at 1)"] * 2
    axes = plot_emergence(table.set_axis([2000, 5000, 8500]), xlabel="DAgger updates")  # clones of one recipe
    assert [ax.get_xlabel() for ax in axes] == ["DAgger updates"] * 2
    plt.close("all")
    with pytest.raises(ValueError, match="no checkpoints to measure"):
        emergence([], puzzles, "features_extractor.hook_relu2")


def test_a_recurrent_series_adds_the_thinking_time_benefit() -> None:
    drc = gridlab.load(CHECKPOINTS / "random5x5_convlstm")
    puzzles = evaluation_puzzles(drc.config, 30)
    table = emergence([CHECKPOINTS / "random5x5_convlstm"], puzzles, "drc.layers.0.hook_h.*", thinking=2,
                      n_boot=100, progress=False)  # fmt: skip
    row = table.iloc[0]
    reference = thinking_time(drc, puzzles, steps=(0, 2), progress=False).loc[2]
    assert row["thinking_change"] == reference["change"] and row["thinking_p"] == reference["p_value"]
    assert row["thinking_low"] <= row["thinking_change"] <= row["thinking_high"]
    assert row["hook"].startswith("drc.layers.0.hook_h.") and np.isfinite(row["probe"])
    axes = plot_emergence(table)
    assert len(axes) == 3
    plt.close("all")
