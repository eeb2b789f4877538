"""The gymnasium environment: observations, rewards, episode ends, checks, errors."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import gridlab.env.ricochet_env as ricochet_env
from gridlab.env import (
    DOWN,
    ENV_ID,
    LEFT,
    RIGHT,
    UP,
    BoardSpec,
    FixedLayout,
    RicochetRobotsEnv,
    empty_walls,
    fixed_layout_v0_one_move,
    fixed_layout_v3_blocker,
    fixed_layout_v4_five_moves,
    fixed_layouts_v1_four_targets,
    milestone_layouts,
    random_layout,
)
from gridlab.env.ricochet_env import RESET_NODE_BUDGET
from gridlab.env.solver import SearchResult, search
from tests.env.boards import walled_off_16x16


def act(robot: int, direction: int) -> int:
    return robot * 4 + direction


def test_image_observation_channels_are_exact() -> None:
    env = RicochetRobotsEnv(fixed_layout=fixed_layout_v3_blocker())
    obs, info = env.reset()
    assert env.channel_names == (
        "wall_up",
        "wall_down",
        "wall_left",
        "wall_right",
        "goal",
        "target_robot_mask",
        "robot_0",
        "robot_1",
    )
    assert obs.shape == (8, 5, 5) and obs.dtype == np.float32
    assert info == {"optimal_length": 2, "is_success": False}
    np.testing.assert_array_equal(obs[0, 0], 1)
    np.testing.assert_array_equal(obs[0, 1:], 0)
    np.testing.assert_array_equal(obs[3, :, 4], 1)
    assert obs[4].sum() == 1 and obs[4, 0, 2] == 1
    assert obs[5].sum() == 1 and obs[5, 0, 0] == 1
    assert obs[6].sum() == 1 and obs[6, 0, 0] == 1
    assert obs[7].sum() == 1 and obs[7, 4, 3] == 1
    obs, *_ = env.step(act(1, UP))
    assert obs[7, 0, 3] == 1 and obs[7].sum() == 1 and obs[6, 0, 0] == 1


def test_channels_last_is_a_transpose() -> None:
    first = RicochetRobotsEnv(fixed_layout=fixed_layout_v3_blocker()).reset()[0]
    last = RicochetRobotsEnv(fixed_layout=fixed_layout_v3_blocker(), channels_first=False).reset()[0]
    np.testing.assert_array_equal(first.transpose(1, 2, 0), last)


def test_symbolic_observation_layout() -> None:
    env = RicochetRobotsEnv(fixed_layout=fixed_layout_v3_blocker(), obs_mode="symbolic")
    obs, _ = env.reset()
    assert obs.shape == (3 * 2 + 2 + 4 * 25,)
    np.testing.assert_allclose(obs[:4], [0, 0, 1, 0.75])  # robot 0 (0,0), robot 1 (4,3)
    np.testing.assert_allclose(obs[4:6], [0, 0.5])  # goal (0, 2)
    np.testing.assert_allclose(obs[6:8], [1, 0])  # target is robot 0
    assert env.observation_space.contains(obs)


def test_rgb_observation_shape() -> None:
    env = RicochetRobotsEnv(fixed_layout=fixed_layout_v0_one_move(), obs_mode="rgb", rgb_cell_size=6)
    obs, _ = env.reset()
    assert obs.shape == (3, 24, 24) and obs.dtype == np.uint8


def test_solving_rewards_and_terminates() -> None:
    env = RicochetRobotsEnv(fixed_layout=fixed_layout_v3_blocker(), step_penalty=-0.05, goal_reward=2.0)
    env.reset()
    _, r1, term1, trunc1, info1 = env.step(act(1, UP))
    _, r2, term2, trunc2, info2 = env.step(act(0, RIGHT))
    assert (r1, term1, trunc1, info1) == (-0.05, False, False, {"is_success": False})
    assert (r2, term2, trunc2, info2) == (pytest.approx(1.95), True, False, {"is_success": True})
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(act(0, RIGHT))


def test_sliding_over_the_goal_is_not_success() -> None:
    env = RicochetRobotsEnv(fixed_layout=fixed_layout_v3_blocker())
    env.reset()
    _, _, terminated, _, info = env.step(act(0, RIGHT))
    assert env.robots[0] == (0, 4) and not terminated and not info["is_success"]


def test_blocked_move_and_noop_cost_a_step_and_change_nothing() -> None:
    env = RicochetRobotsEnv(fixed_layout=fixed_layout_v0_one_move(), include_noop=True)
    obs0, _ = env.reset()
    assert env.action_space.n == 5
    obs1, r1, *_ = env.step(act(0, UP))  # against the border
    obs2, r2, *_ = env.step(4)  # no-op
    np.testing.assert_array_equal(obs0, obs1)
    np.testing.assert_array_equal(obs0, obs2)
    assert r1 == r2 == -0.01 and env.steps == 2
    assert env.action_meaning(4) == "no-op" and env.action_meaning(1) == "robot 0 DOWN"


def test_noop_penalty_is_the_reward_of_a_noop_and_defaults_to_step_penalty() -> None:
    env = RicochetRobotsEnv(
        fixed_layout=fixed_layout_v0_one_move(), include_noop=True, step_penalty=-0.05, noop_penalty=-0.2
    )
    env.reset()
    assert env.step(4)[1] == -0.2
    assert env.step(act(0, UP))[1] == -0.05  # a blocked move is a move, not a no-op
    assert env.step(act(0, RIGHT))[1] == pytest.approx(0.95)
    default = RicochetRobotsEnv(
        fixed_layout=fixed_layout_v0_one_move(), include_noop=True, step_penalty=-0.05
    )
    default.reset()
    assert default.noop_penalty == -0.05 and default.step(4)[1] == -0.05
    default.step_penalty = -0.3  # unset, it follows step_penalty
    assert default.step(4)[1] == -0.3
    default.noop_penalty = 0.0
    assert default.step(4)[1] == 0.0 and default.step(act(0, DOWN))[1] == -0.3


def test_truncation_at_max_steps_and_reward_sum() -> None:
    env = RicochetRobotsEnv(fixed_layout=fixed_layout_v0_one_move(), max_steps=5)
    env.reset()
    total, done, steps = 0.0, False, 0
    while not done:
        _, reward, terminated, truncated, info = env.step(act(0, LEFT) if steps % 2 else act(0, DOWN))
        total += reward
        steps += 1
        done = terminated or truncated
    assert (steps, terminated, truncated, info["is_success"]) == (5, False, True, False)
    assert total == pytest.approx(-0.05)


@pytest.mark.parametrize("action", [-1, 4, 99, 1.5, "0", [0, 1]])
def test_out_of_range_actions_raise(action: object) -> None:
    env = RicochetRobotsEnv(fixed_layout=fixed_layout_v0_one_move())
    env.reset()
    with pytest.raises(ValueError, match="action"):
        env.step(action)  # type: ignore[arg-type]


def test_numpy_integer_actions_are_accepted() -> None:
    env = RicochetRobotsEnv(fixed_layout=fixed_layout_v0_one_move())
    env.reset()
    assert env.step(np.int64(act(0, RIGHT)))[2]
    env.reset()
    assert env.step(np.array([act(0, RIGHT)]))[2]


def test_fixed_layout_list_draws_every_layout_and_layout_index_picks_one() -> None:
    layouts = fixed_layouts_v1_four_targets()
    env = RicochetRobotsEnv(fixed_layout=layouts, seed=0)
    seen = {env.reset()[0][4].argmax() for _ in range(40)}
    assert len(seen) == 4
    _, info = env.reset(options={"layout_index": 2})
    assert env.layout is layouts[2] and info["optimal_length"] == 1
    assert env.step(act(0, LEFT))[2]


def test_reset_with_a_layout_option() -> None:
    env = RicochetRobotsEnv(height=5, width=5, num_robots=2, seed=0)
    env.reset(options={"layout": fixed_layout_v3_blocker()})
    assert env.robots == ((0, 0), (4, 3))
    with pytest.raises(ValueError, match="build an env for that size"):
        env.reset(options={"layout": fixed_layout_v0_one_move()})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"layuot": 1})


def test_random_boards_respect_band_and_seed() -> None:
    env = RicochetRobotsEnv(height=8, width=8, num_robots=3, min_moves=3, max_moves=4, seed=11)
    first = [env.reset()[1]["optimal_length"] for _ in range(6)]
    assert all(3 <= n <= 4 for n in first)
    again = RicochetRobotsEnv(height=8, width=8, num_robots=3, min_moves=3, max_moves=4, seed=11)
    boards = [again.reset()[0] for _ in range(6)]
    env2 = RicochetRobotsEnv(height=8, width=8, num_robots=3, min_moves=3, max_moves=4)
    np.testing.assert_array_equal(env2.reset(seed=11)[0], boards[0])


def test_same_seed_same_rollout() -> None:
    def rollout(seed: int) -> list:
        env = RicochetRobotsEnv(height=6, width=6, num_robots=2, seed=seed)
        rng = np.random.default_rng(0)
        env.reset()
        trace = []
        for _ in range(200):
            obs, reward, terminated, truncated, _ = env.step(int(rng.integers(8)))
            trace.append((obs.tobytes(), reward))
            if terminated or truncated:
                env.reset()
        return trace

    assert rollout(3) == rollout(3)
    assert rollout(3) != rollout(4)


def test_fixed_layout_sets_the_shape_and_conflicts_are_rejected() -> None:
    env = RicochetRobotsEnv(fixed_layout=fixed_layout_v0_one_move())
    assert (env.height, env.width, env.num_robots) == (4, 4, 1)
    with pytest.raises(ValueError, match="height=8 disagrees with fixed_layout"):
        RicochetRobotsEnv(height=8, fixed_layout=fixed_layout_v0_one_move())
    with pytest.raises(ValueError, match="share size and robot count"):
        RicochetRobotsEnv(fixed_layout=[fixed_layout_v0_one_move(), fixed_layout_v3_blocker()])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"obs_mode": "pixels"}, "unknown obs_mode 'pixels'"),
        ({"render_mode": "human"}, "unknown render_mode"),
        ({"max_steps": 0}, "max_steps must be a positive integer"),
        ({"min_moves": 5, "max_moves": 2}, "band"),
        ({"num_robots": 9}, "num_robots must be an integer from 1 to 5"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RicochetRobotsEnv(**kwargs)


def play_until_done(env: RicochetRobotsEnv, action: int) -> tuple[int, bool, bool, dict]:
    """Repeat ``action`` until the episode ends; returns ``(steps, terminated, truncated, info)``."""
    steps = 0
    while True:
        _, _, terminated, truncated, info = env.step(action)
        steps += 1
        if terminated or truncated:
            return steps, terminated, truncated, info


def test_unsolvable_fixed_layout_is_played_with_optimal_length_none() -> None:
    h, v = empty_walls(4, 4)
    layout = FixedLayout(4, 4, h, v, {0: (0, 0)}, goal_position=(1, 1))  # open middle: never a stop
    env = RicochetRobotsEnv(fixed_layout=layout, max_steps=6)
    _, info = env.reset()
    assert info == {"optimal_length": None, "is_success": False} and env.optimal_length is None
    assert play_until_done(env, act(0, DOWN)) == (6, False, True, {"is_success": False})


def test_unsolvable_16x16_layout_resets_within_the_node_budget_and_truncates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    searches = []

    def recording_search(*args: object, **kwargs: object) -> SearchResult:
        searches.append((kwargs, result := search(*args, **kwargs)))
        return result

    monkeypatch.setattr(ricochet_env, "search", recording_search)
    ricochet_env._solved_and_encoded.cache_clear()  # solve afresh, through the recording search
    layout = walled_off_16x16(helpers=4)
    env = RicochetRobotsEnv(fixed_layout=layout, max_steps=30)
    _, info = env.reset()
    assert info == {"optimal_length": None, "is_success": False} and env.optimal_length is None
    [(kwargs, result)] = searches
    assert kwargs == {"max_depth": 30, "max_nodes": RESET_NODE_BUDGET}
    assert (result.status, result.nodes) == ("out_of_nodes", RESET_NODE_BUDGET)
    assert play_until_done(env, act(2, UP)) == (30, False, True, {"is_success": False})
    env.reset()  # the same layout again: solved once, then cached
    assert len(searches) == 1


def test_layout_needing_more_moves_than_max_steps_is_accepted() -> None:
    five = fixed_layout_v4_five_moves()
    env = RicochetRobotsEnv(fixed_layout=five, max_steps=4)
    assert env.reset()[1]["optimal_length"] is None
    assert play_until_done(env, act(0, LEFT)) == (4, False, True, {"is_success": False})
    env = RicochetRobotsEnv(height=8, width=8, num_robots=2, max_steps=4, seed=0)
    assert env.reset(options={"layout": five})[1]["optimal_length"] is None
    assert env.layout is five and env.optimal_length is None
    assert RicochetRobotsEnv(fixed_layout=five, max_steps=5).reset()[1]["optimal_length"] == 5


def test_reset_budget_solves_milestones_and_8x8_plans_of_up_to_12_moves_exactly() -> None:
    for name, length in [("v0", 1), ("v1", 1), ("v2", 2), ("v3", 2), ("v4", 5)]:
        env = RicochetRobotsEnv(fixed_layout=milestone_layouts(name))
        for i in range(len(env.layouts)):
            assert env.reset(options={"layout_index": i})[1]["optimal_length"] == length
    rng = np.random.default_rng(0)
    for robots in (2, 3, 4):
        env = RicochetRobotsEnv(height=8, width=8, num_robots=robots, max_steps=30)
        lengths = set()
        for _ in range(12):
            layout, plan = random_layout(BoardSpec(8, 8, robots), rng, 10, 12)
            assert env.reset(options={"layout": layout})[1]["optimal_length"] == len(plan)
            assert search(layout, 30, RESET_NODE_BUDGET).nodes < RESET_NODE_BUDGET / 4  # with room to spare
            lengths.add(len(plan))
        assert lengths == {10, 11, 12}


@pytest.mark.parametrize("obs_mode", ["image", "symbolic", "rgb"])
@pytest.mark.parametrize("channels_first", [True, False])
def test_passes_gymnasium_and_sb3_env_checkers(obs_mode: str, channels_first: bool) -> None:
    kwargs = {
        "height": 6,
        "width": 7,
        "num_robots": 3,
        "obs_mode": obs_mode,
        "channels_first": channels_first,
    }
    check_env(gym.make(ENV_ID, render_mode="rgb_array", **kwargs).unwrapped, skip_render_check=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3 notes that float images need normalize_images=False
        sb3_check_env(RicochetRobotsEnv(seed=0, **kwargs), warn=False)


def test_render_modes() -> None:
    env = gym.make(ENV_ID, fixed_layout=fixed_layout_v3_blocker(), render_mode="ansi")
    env.reset()
    text = env.render()
    assert text.splitlines()[1] == "|[0]      *         |"
    assert "step 0/30, target robot 0, playing" in text
    env = gym.make(ENV_ID, fixed_layout=fixed_layout_v3_blocker(), render_mode="rgb_array")
    env.reset()
    assert env.render().shape == (80, 80, 3)
