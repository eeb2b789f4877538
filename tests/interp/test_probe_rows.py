"""Probe rows: feature families, robot roles, splits, repeated states, the next-action oracle's
inputs and the control task's labels."""

import dataclasses

import numpy as np
import pytest

from gridlab.env import fixed_layout_v3_blocker
from gridlab.interp.labels import agent_directions, state_labels
from gridlab.interp.probe_rows import (
    control_targets,
    credited,
    distinct_steps,
    label_accept,
    label_horizons,
    label_targets,
    next_action_inputs,
    probe_data,
    robot_ids,
    split_episodes,
    square_features,
)
from gridlab.interp.rollouts import Rollouts


def test_square_feature_families() -> None:
    acts = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    one = square_features(acts, "1x1")
    assert one.shape == (2, 4, 5, 3)
    np.testing.assert_array_equal(one[1, 2, 3], acts[1, :, 2, 3])
    three = square_features(acts, "3x3")
    assert three.shape == (2, 4, 5, 27)
    # (2, 3)'s neighbourhood, row by row; its centre is the 1x1 feature.
    expected = np.concatenate([acts[1, :, 2 + dy, 3 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    np.testing.assert_array_equal(three[1, 2, 3], expected)
    corner = three[0, 0, 0].reshape(9, 3)
    assert not corner[[0, 1, 2, 3, 6]].any()  # beyond the board: zeros
    np.testing.assert_array_equal(corner[4], acts[0, :, 0, 0])
    position = square_features(acts, "position")
    assert position.shape == (2, 4, 5, 3 + 20)
    assert position[0, 2, 3, 3 + 2 * 5 + 3] == 1 and position[0, 2, 3, 3:].sum() == 1
    with pytest.raises(ValueError, match="unknown feature family '5x5'; pick one of 1x1, 3x3, position"):
        square_features(acts, "5x5")


def wandering_rollouts() -> Rollouts:
    """Two episodes on the blocker board (target robot 0) and one with robot 1 as the target."""
    layout = fixed_layout_v3_blocker()
    other = dataclasses.replace(layout, target_robot=1)
    cells = [[(0, 0), (4, 3)], [(4, 0), (4, 3)], [(0, 0), (4, 3)], [(0, 0), (0, 3)]]
    actions = np.array([1, 0, 4, 3])  # robot 0 DOWN, back UP (a repeated board), robot 1 UP, robot 0 RIGHT
    robots = np.array(cells * 3)
    steps = len(cells)
    labels: dict[str, list[np.ndarray]] = {"plan_direction": [], "plan_horizon": [], "plan_directions": [],
                                           "optimal_actions": [], "agent_direction": [],
                                           "agent_horizon": []}  # fmt: skip
    for _ in range(3):
        directions, horizons = agent_directions(layout, np.array(cells), actions)
        labels["agent_direction"].extend(directions)
        labels["agent_horizon"].extend(horizons)
        for cell in cells:
            plan = state_labels(layout, cell)
            for name in ("plan_direction", "plan_horizon", "plan_directions", "optimal_actions"):
                labels[name].append(plan[name])
    return Rollouts(
        obs=np.zeros((3 * steps, 1, 5, 5), dtype=np.float32), actions=np.tile(actions, 3),
        rewards=np.zeros(3 * steps, dtype=np.float32), episode=np.repeat(np.arange(3), steps),
        step=np.tile(np.arange(steps), 3), robots=robots, labels={k: np.stack(v) for k, v in labels.items()},
        layouts=[layout, layout, other], solved=np.zeros(3, dtype=bool),
    )  # fmt: skip


def test_robots_by_number_and_by_role() -> None:
    rollouts = wandering_rollouts()
    assert robot_ids(rollouts, "target").tolist() == [0] * 8 + [1] * 4
    assert robot_ids(rollouts, "other").tolist() == [1] * 8 + [0] * 4
    by_role = label_targets(rollouts, "agent_direction", "target")
    np.testing.assert_array_equal(by_role[:8], rollouts.labels["agent_direction"][:8, 0])
    np.testing.assert_array_equal(by_role[8:], rollouts.labels["agent_direction"][8:, 1])
    horizons = label_horizons(rollouts, "agent_direction", "target")
    assert horizons is not None and horizons.shape == (12, 5, 5) and horizons[8, 1, 3] == 3
    assert label_horizons(rollouts, "reach_direction", 0) is None
    with pytest.raises(ValueError, match=r"robot must be 0\.\.1, 'target' or 'other', got 2"):
        robot_ids(rollouts, 2)
    with pytest.raises(ValueError, match=r"is per robot: pass robot=0\.\.1, 'target' or 'other'"):
        label_targets(rollouts, "plan_direction")


def test_square_rows_carry_their_horizon() -> None:
    rollouts = wandering_rollouts()
    targets = label_targets(rollouts, "agent_direction", 0)
    horizons = label_horizons(rollouts, "agent_direction", 0)
    data = probe_data(rollouts.obs, targets, rollouts.episode, "1x1", horizons)
    assert data.kind == "square" and data.x.shape == (12 * 25, 1)
    assert data.horizon is not None and data.horizon[0] == 1  # (0, 0) is left by the very next move
    np.testing.assert_array_equal(data.horizon > 0, data.y >= 0)


def test_any_optimal_move_is_credited() -> None:
    y = np.array([-1, 0, 2, -1, 3])
    predicted = np.array([1, 1, 2, -1, 0])
    accept = np.array([0b0010, 0b0001, 0b0100, 0b0000, 0b1001])  # bit k: class k is some plan's move
    np.testing.assert_array_equal(credited(y, predicted, accept), [1, 0, 2, -1, 0])
    rollouts = wandering_rollouts()
    optimal = rollouts.labels["optimal_actions"]
    masks = label_accept(rollouts, "optimal_actions")
    assert masks is not None and masks.shape == (len(rollouts),)
    np.testing.assert_array_equal([[m >> a & 1 for a in range(optimal.shape[1])] for m in masks], optimal)
    squares = label_accept(rollouts, "plan_direction", 0)
    assert squares is not None and squares.shape == label_targets(rollouts, "plan_direction", 0).shape
    assert label_accept(rollouts, "agent_direction", 0) is None  # the agent's own moves are one path


def test_repeated_boards_are_kept_once_per_episode_and_splits_keep_episodes_whole() -> None:
    rollouts = wandering_rollouts()
    assert distinct_steps(rollouts).tolist() == [True, True, False, True] * 3  # step 2 revisits step 0
    episodes = np.repeat(np.arange(20), 7)
    train, val, test = split_episodes(episodes, (0.6, 0.2, 0.2), seed=3)
    assert (train.astype(int) + val + test == 1).all()
    assert [len(np.unique(episodes[m])) for m in (train, val, test)] == [12, 4, 4]
    for a, b in ((train, val), (train, test), (val, test)):
        assert not set(episodes[a]) & set(episodes[b])
    again = split_episodes(episodes, (0.6, 0.2, 0.2), seed=3)
    assert all((x == y).all() for x, y in zip(again, (train, val, test), strict=True))
    with pytest.raises(ValueError, match="at least three episodes"):
        split_episodes(np.array([0, 0, 1]))
    with pytest.raises(ValueError, match="three positive shares"):
        split_episodes(episodes, (0.75, 0.25))


def test_the_next_action_oracle_sees_the_next_moves_path_and_nothing_more() -> None:
    rollouts = wandering_rollouts()
    inputs = next_action_inputs(rollouts, spatial=True, robot=0, n_actions=9)
    assert inputs.shape == (12, 4, 5, 5)
    expected = np.zeros((4, 5, 5))
    expected[1, :4, 0] = 1  # step 0: robot 0 slides DOWN off (0,0) .. (3,0)
    np.testing.assert_array_equal(inputs[0], expected)
    assert not inputs[2].any()  # step 2 moves robot 1: nothing for robot 0
    assert next_action_inputs(rollouts, spatial=True, robot=1, n_actions=9)[2, 0, 1:, 3].all()
    one_hot = next_action_inputs(rollouts, spatial=False, robot=None, n_actions=9)
    assert one_hot.shape == (12, 9) and one_hot[2, 4] == 1 and one_hot.sum() == 12


def test_control_labels_are_random_but_fixed_per_input_type() -> None:
    rng = np.random.default_rng(0)
    obs = (rng.random((300, 4, 6, 6)) < 0.1).astype(np.float32)
    obs[:, :, 2, 2] = 0  # one cell always shows the same thing
    targets = np.where(rng.random((300, 6, 6)) < 0.8, -1, rng.integers(0, 4, (300, 6, 6)))
    train = np.arange(300) < 200
    control = control_targets(obs, targets, train, seed=0)
    assert control.shape == targets.shape and set(np.unique(control)) <= set(np.unique(targets))
    assert len(np.unique(control[:, 2, 2])) == 1  # one type, one label
    cell = obs[:, :, 3, 3]  # the same content at one place: the same label
    for content in np.unique(cell, axis=0):
        same = (cell == content).all(axis=1)
        assert len(np.unique(control[same, 3, 3])) == 1
    assert abs((control == -1).mean() - 0.8) < 0.1  # drawn from the labels' frequencies
    assert not np.array_equal(control, control_targets(obs, targets, train, seed=1))
