"""Thinking time on the shipped ConvLSTM agents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gridlab
from gridlab.env import FixedLayout, empty_walls
from gridlab.interp.scores import mcnemar
from gridlab.interp.thinking import plot_thinking_time, thinking_act, thinking_time
from gridlab.training import evaluate, evaluation_puzzles

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


@pytest.fixture(scope="module")
def drc() -> gridlab.Agent:
    return gridlab.load(CHECKPOINTS / "random5x5_convlstm")


def test_zero_extra_steps_is_ordinary_play(drc: gridlab.Agent) -> None:
    puzzles = evaluation_puzzles(drc.config, 20)
    plain = drc.evaluate(episodes=20, progress=False)
    thought = evaluate(thinking_act(drc, 0), drc.make_env(), puzzles)
    assert np.array_equal(plain.moves, thought.moves) and np.array_equal(plain.solved, thought.solved)


def test_thinking_runs_the_core_on_the_first_observation(drc: gridlab.Agent) -> None:
    obs, _ = drc.make_env().reset(seed=0)
    start = np.ones(1, dtype=bool)
    _, fresh = drc.act(obs[None], None, start)
    _, after_two = thinking_act(drc, 2)(obs[None], None, start)
    # Two thinking steps then the acting step: the state is the core run three times from zero.
    state = drc.initial_state()
    for _ in range(3):
        state = tuple(s.detach().numpy() for s in drc.forward(obs[None], state).state)
    assert np.allclose(after_two[0], state[0], atol=1e-6) and not np.allclose(after_two[0], fresh[0])


def test_thinking_time_table_by_length(drc: gridlab.Agent) -> None:
    puzzles = evaluation_puzzles(drc.config, 20)
    table = thinking_time(drc, puzzles, steps=(0, 2), progress=False)
    assert list(table.index) == [0, 2]
    assert {"success_rate", "moves_over_optimal", "success_len_1"} <= set(table.columns)
    assert table.loc[0, "success_rate"] == drc.evaluate(episodes=20, progress=False).success_rate
    # Paired with no thinking on the same puzzles (McNemar), and each rate's Wilson interval.
    solved = [evaluate(thinking_act(drc, k), drc.make_env(), puzzles).solved for k in (0, 2)]
    paired = mcnemar(solved[1], solved[0])
    rates = table["success_rate"]
    assert table.loc[2, "change"] == pytest.approx(rates[2] - rates[0])
    assert table.loc[2, "p_value"] == paired["p_value"] and table.loc[2, "change_low"] == paired["ci"][0]
    assert table.loc[0, "change"] == 0.0 and table.loc[0, "p_value"] == 1.0
    for k in (0, 2):
        assert table.loc[k, "success_low"] <= table.loc[k, "success_rate"] <= table.loc[k, "success_high"]
    ax = plot_thinking_time(table)
    assert ax.get_lines()[-1].get_label() == "all"


def test_feed_forward_agents_cannot_think() -> None:
    cnn = gridlab.load(CHECKPOINTS / "random5x5_small_cnn")
    with pytest.raises(ValueError, match="recurrent agent"):
        thinking_act(cnn, 1)


def test_thinking_time_takes_layouts_or_pairs_and_refuses_unsolvable_puzzles(drc: gridlab.Agent) -> None:
    pairs = evaluation_puzzles(drc.config, 10)
    layouts = [layout for layout, _ in pairs]
    by_pairs = thinking_time(drc, pairs, steps=(0, 1), progress=False)
    pd.testing.assert_frame_equal(thinking_time(drc, layouts, steps=(0, 1), progress=False), by_pairs)
    h_walls, v_walls = empty_walls(5, 5)
    h_walls[2:4, 2] = v_walls[2, 2:4] = True  # robot 0 walled in on its cell
    stuck = FixedLayout(5, 5, h_walls, v_walls, {0: (2, 2)}, goal_position=(0, 0))
    with pytest.raises(ValueError, match=r"puzzles \[1\] have no solution within the solver's depth"):
        thinking_time(drc, [layouts[0], stuck], progress=False)
