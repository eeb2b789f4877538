"""Solver labels: exact maps on known layouts and agreement with the solver on random boards."""

import numpy as np

from gridlab.env import BoardSpec, fixed_layout_v2_two_moves, fixed_layout_v3_blocker, random_layout, replay
from gridlab.env.board import DOWN, RIGHT, FixedLayout, empty_walls
from gridlab.env.solver import optimal_first_moves, solve
from gridlab.interp import LABEL_NAMES, state_labels
from gridlab.interp.labels import agent_directions


def test_blocker_labels_are_exact() -> None:
    labels = state_labels(fixed_layout_v3_blocker())
    assert tuple(labels) == LABEL_NAMES
    assert labels["optimal_actions"].tolist() == [False] * 4 + [True, False, False, False]  # robot 1 UP
    assert labels["next_robot"].tolist() == [False, True]
    assert labels["moves_remaining"] == 2
    expected_direction = np.full((2, 5, 5), -1)
    expected_direction[0, 0, :2] = 3  # robot 0 goes RIGHT from (0,0) and (0,1)
    expected_direction[1, 1:, 3] = 0  # robot 1 goes UP from (4,3) .. (1,3)
    np.testing.assert_array_equal(labels["plan_direction"], expected_direction)
    expected_horizon = np.zeros((2, 5, 5))
    expected_horizon[1, 1:, 3] = 1  # the plan: robot 1 UP first ...
    expected_horizon[0, 0, :2] = 2  # ... then robot 0 RIGHT
    np.testing.assert_array_equal(labels["plan_horizon"], expected_horizon)
    assert np.argwhere(labels["plan_stop"]).tolist() == [[0, 0, 2], [1, 0, 3]]
    assert labels["plan_path"][0].sum() == 3 and labels["plan_path"][1].sum() == 5
    assert np.argwhere(labels["reach_direction"][1] >= 0).tolist() == [[0, 3], [4, 0], [4, 4]]
    assert labels["reach_direction"][1][0, 3] == 0


def test_agent_directions_follow_the_agents_own_moves() -> None:
    layout = fixed_layout_v3_blocker()  # robot 0 at (0,0), robot 1 at (4,3)
    # The agent wanders: robot 0 DOWN, robot 0 UP (back), robot 1 UP, robot 0 RIGHT; one move is blocked.
    cells = [[(0, 0), (4, 3)], [(4, 0), (4, 3)], [(0, 0), (4, 3)], [(0, 0), (0, 3)], [(0, 0), (0, 3)]]
    robots = np.array(cells)
    actions = np.array([4 * 0 + 1, 4 * 0 + 0, 4 * 1 + 0, 4 * 1 + 0, 4 * 0 + 3])  # step 3: the wall blocks it
    labels, horizons = agent_directions(layout, robots, actions)
    assert horizons.shape == labels.shape and horizons.dtype == np.int8
    np.testing.assert_array_equal(horizons >= 1, labels >= 0)
    assert horizons[0, 0, 0, 0] == 1 and horizons[0, 0, 4, 0] == 2  # DOWN now, UP back next
    assert horizons[0, 1, 2, 3] == 3 and horizons[0, 0, 0, 1] == 5  # robot 1 at step 2; RIGHT at step 4
    assert horizons[2, 0, 0, 0] == 3 and horizons[4, 0, 0, 0] == 1  # the same move, seen closer
    assert labels.shape == (5, 2, 5, 5) and labels.dtype == np.int8
    first = np.full((2, 5, 5), -1)
    first[0, :4, 0] = 1  # robot 0 next moves DOWN off (0,0)..(3,0) ...
    first[0, 4, 0] = 0  # ... and UP off (4,0) on its way back
    first[1, 1:, 3] = 0  # robot 1 moves UP off (4,3)..(1,3)
    first[0, 0, 1] = 3  # (0,1) is first left by robot 0's last move, RIGHT from (0,0) to (0,2)
    np.testing.assert_array_equal(labels[0], first)
    later = np.full((2, 5, 5), -1)
    later[0, 0, :2] = 3  # robot 0's last move, RIGHT, is the next one off (0,0) from step 2 on
    later[1, 1:, 3] = 0
    np.testing.assert_array_equal(labels[2], later)
    np.testing.assert_array_equal(labels[3], labels[4])  # the blocked move labels nothing
    assert labels[4][1].max() == -1 and labels[4][0, 0, :2].tolist() == [3, 3]


def test_labels_after_a_move_follow_the_new_position() -> None:
    layout = fixed_layout_v2_two_moves()
    labels = state_labels(layout, robots=[(0, 4)])  # after RIGHT: one DOWN move left
    assert labels["moves_remaining"] == 1
    assert labels["optimal_actions"].tolist() == [False, True, False, False]
    assert labels["plan_stop"][0, 2, 4] and labels["plan_stop"].sum() == 1


def test_labels_agree_with_the_solver_on_random_boards() -> None:
    rng = np.random.default_rng(0)
    for _ in range(30):
        layout, plan = random_layout(BoardSpec(8, 8, 3), rng, 1, 8)
        labels = state_labels(layout)
        assert labels["moves_remaining"] == len(plan) == len(solve(layout))
        firsts = {(a // 4, a % 4) for a in np.flatnonzero(labels["optimal_actions"])}
        assert firsts == optimal_first_moves(layout)
        assert set(np.flatnonzero(labels["next_robot"])) == {r for r, _ in firsts}
        # The plan's stop cells are where replaying the solver's plan puts each robot.
        final, solved = replay(layout, solve(layout))
        assert solved and labels["plan_stop"][(layout.target_robot, *final[layout.target_robot])]
        assert (labels["plan_direction"] >= 0).sum() <= labels["plan_path"].sum()


def test_plan_directions_cover_every_optimal_plan() -> None:
    h_walls, v_walls = empty_walls(5, 5)
    corner = FixedLayout(5, 5, h_walls, v_walls, {0: (0, 0)}, goal_position=(4, 4), target_robot=0)
    labels = state_labels(corner)  # RIGHT then DOWN, or DOWN then RIGHT
    assert labels["optimal_actions"].tolist() == [False, True, False, True]
    down, right = 1 << DOWN, 1 << RIGHT
    expected = np.zeros((5, 5), dtype=np.uint8)
    expected[0, :4] |= right
    expected[:4, 0] |= down
    expected[:4, 4] |= down
    expected[4, :4] |= right
    np.testing.assert_array_equal(labels["plan_directions"][0], expected)
    assert labels["plan_directions"].dtype == np.uint8 and expected[0, 0] == down | right
    # The solver's own plan is one of them: every square it leaves has its direction's bit set.
    plan = labels["plan_direction"][0]
    assert all(expected[r, c] >> plan[r, c] & 1 for r, c in np.argwhere(plan >= 0))
