"""Labelled rollouts from feed-forward and recurrent agents."""

from pathlib import Path

import numpy as np
import pytest

import gridlab
from gridlab.env import fixed_layouts_v1_four_targets
from gridlab.interp import Rollouts, collect_rollouts, state_labels
from gridlab.interp.labels import agent_directions
from gridlab.training import Run, evaluation_puzzles, train
from tests.conftest import quick_config


def test_rollouts_of_a_trained_agent_carry_obs_actions_and_labels(v1_run: Run, tmp_path: Path) -> None:
    puzzles = fixed_layouts_v1_four_targets()
    rollouts = collect_rollouts(gridlab.load(v1_run.checkpoint), puzzles, progress=False)
    assert rollouts.solved.all() and sorted(set(rollouts.episode)) == [0, 1, 2, 3]
    assert rollouts.obs.shape == (len(rollouts), 7, 5, 5) and rollouts.state_h is None
    assert rollouts.labels["plan_direction"].shape == (len(rollouts), 1, 5, 5)
    for i in range(len(rollouts)):
        layout = puzzles[rollouts.episode[i]]
        if rollouts.step[i] == 0:
            assert rollouts.robots[i].tolist() == [list(p) for p in layout.robots]
        for name, value in state_labels(layout, [tuple(p) for p in rollouts.robots[i]]).items():
            np.testing.assert_array_equal(rollouts.labels[name][i], value)
    last = np.flatnonzero(np.diff(rollouts.episode, append=4))  # final step of each episode
    for episode, layout in enumerate(puzzles):  # the agent's own next moves, episode by episode
        steps = rollouts.episode == episode
        directions, horizons = agent_directions(layout, rollouts.robots[steps], rollouts.actions[steps])
        np.testing.assert_array_equal(rollouts.labels["agent_direction"][steps], directions)
        np.testing.assert_array_equal(rollouts.labels["agent_horizon"][steps], horizons)
    # Every episode ends with its one-move solution: there the agent's move is the solver's plan.
    agent_moves, plan = rollouts.labels["agent_direction"], rollouts.labels["plan_direction"]
    np.testing.assert_array_equal(agent_moves[last], plan[last])
    assert (rollouts.rewards[last] > 0.9).all() and (rollouts.labels["moves_remaining"][last] == 1).all()
    rollouts.save(tmp_path / "r")
    again = Rollouts.load(tmp_path / "r")
    assert again.layouts == rollouts.layouts
    for name in ("obs", "actions", "rewards", "robots"):
        np.testing.assert_array_equal(getattr(again, name), getattr(rollouts, name))
    for name, value in rollouts.labels.items():
        np.testing.assert_array_equal(again.labels[name], value)


@pytest.mark.parametrize("deterministic", [True, False])
def test_recurrent_rollouts_record_the_state_before_each_action(tmp_path: Path, deterministic: bool) -> None:
    run = train(quick_config(tmp_path, policy="convlstm", total_timesteps=512, eval_freq=0, drc_hidden=8,
                             drc_encoder=8, drc_output=32, max_steps=4))  # fmt: skip
    agent = gridlab.load(run.checkpoint)
    rollouts = collect_rollouts(
        agent, fixed_layouts_v1_four_targets(), deterministic=deterministic, progress=False
    )
    assert rollouts.state_h.shape == (len(rollouts), 1, 1, 8 * 25)
    for i in range(len(rollouts)):
        if rollouts.step[i] == 0:
            assert not rollouts.state_h[i].any() and not rollouts.state_c[i].any()
        else:  # the state after acting on the previous observation
            previous = (rollouts.state_h[i - 1], rollouts.state_c[i - 1])
            _, (h, c) = agent.act(rollouts.obs[i - 1][None], previous, np.array([rollouts.step[i - 1] == 0]))
            np.testing.assert_allclose(rollouts.state_h[i], h, atol=1e-6)
            np.testing.assert_allclose(rollouts.state_c[i], c, atol=1e-6)


def test_layouts_and_evaluation_pairs_give_the_same_rollouts(v1_run: Run) -> None:
    agent = gridlab.load(v1_run.checkpoint)
    pairs = evaluation_puzzles(agent.config, 4)
    layouts = [layout for layout, _ in pairs]
    plain = collect_rollouts(agent, layouts, deterministic=False, seed=3, progress=False)
    paired = collect_rollouts(agent, pairs, deterministic=False, seed=3, progress=False)
    assert paired.layouts == plain.layouts == layouts and len(paired) == len(plain)
    for name in ("obs", "actions", "rewards", "episode", "step", "robots", "solved"):
        np.testing.assert_array_equal(getattr(paired, name), getattr(plain, name))
    for name, value in plain.labels.items():
        np.testing.assert_array_equal(paired.labels[name], value)
    with pytest.raises(TypeError, match="puzzle 1 is int 3; expected a FixedLayout"):
        collect_rollouts(agent, [layouts[0], 3], progress=False)
