"""BatchedRicochetVecEnv behaves exactly like DummyVecEnv over RicochetRobotsEnv."""

from functools import partial
from typing import Any

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor

from gridlab.env import (
    BatchedRicochetVecEnv,
    RicochetRobotsEnv,
    fixed_layout_v3_blocker,
    fixed_layout_v4_five_moves,
    fixed_layouts_v1_four_targets,
)
from tests.env.boards import walled_off_16x16


def make_pair(n: int, seed: int, **kwargs: Any) -> tuple[VecEnv, VecEnv]:
    dummy = DummyVecEnv([partial(RicochetRobotsEnv, seed=seed + i, **kwargs) for i in range(n)])
    return dummy, BatchedRicochetVecEnv(n, seed=seed, **kwargs)


def assert_same_infos(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            if key == "terminal_observation":
                np.testing.assert_array_equal(x[key], y[key])
            elif key == "episode":
                assert (x[key]["r"], x[key]["l"]) == pytest.approx((y[key]["r"], y[key]["l"]))
            else:
                assert x[key] == y[key], key


def run_side_by_side(dummy: VecEnv, batched: VecEnv, steps: int, seed: int = 0) -> int:
    """Step both with the same random actions; returns the number of episodes that ended."""
    np.testing.assert_array_equal(dummy.reset(), batched.reset())
    assert_same_infos(dummy.reset_infos, batched.reset_infos)
    rng = np.random.default_rng(seed)
    episodes = 0
    for _ in range(steps):
        actions = rng.integers(dummy.action_space.n, size=dummy.num_envs)
        obs_a, rew_a, done_a, info_a = dummy.step(actions)
        obs_b, rew_b, done_b, info_b = batched.step(actions)
        np.testing.assert_array_equal(obs_a, obs_b)
        np.testing.assert_array_equal(rew_a, rew_b)
        assert rew_a.dtype == rew_b.dtype and obs_a.dtype == obs_b.dtype
        np.testing.assert_array_equal(done_a, done_b)
        assert_same_infos(info_a, info_b)
        assert_same_infos(dummy.reset_infos, batched.reset_infos)
        episodes += int(done_a.sum())
    return episodes


@pytest.mark.parametrize(
    ("kwargs", "steps"),
    [
        ({"fixed_layout": fixed_layout_v3_blocker()}, 1500),
        ({"fixed_layout": fixed_layouts_v1_four_targets(), "channels_first": False}, 1500),
        ({"height": 8, "width": 8, "num_robots": 2, "max_steps": 8}, 1500),
        ({"height": 6, "width": 7, "num_robots": 3, "obs_mode": "symbolic", "include_noop": True}, 1500),
        ({"height": 8, "width": 8, "num_robots": 2, "include_noop": True, "noop_penalty": -0.3}, 1500),
        ({"height": 5, "width": 5, "num_robots": 2, "obs_mode": "rgb", "max_steps": 6}, 300),
        ({"height": 16, "width": 16, "num_robots": 4, "max_steps": 12, "step_penalty": -0.1}, 300),
    ],
)
def test_matches_dummy_vec_env_step_for_step(kwargs: dict, steps: int) -> None:
    dummy, batched = make_pair(8, seed=3, **kwargs)
    episodes = run_side_by_side(dummy, batched, steps)
    assert episodes >= 50  # auto-resets were exercised many times


@pytest.mark.parametrize(
    ("layout", "max_steps"),
    [(walled_off_16x16(helpers=4), 10), (fixed_layout_v4_five_moves(), 4)],
    ids=["unsolvable_16x16", "plan_longer_than_max_steps"],
)
def test_layouts_without_a_known_optimal_length_match_and_truncate(layout, max_steps: int) -> None:
    dummy, batched = make_pair(4, seed=0, fixed_layout=layout, max_steps=max_steps, include_noop=True)
    episodes = run_side_by_side(dummy, batched, 5 * max_steps)
    assert episodes == 4 * 5  # no board can be solved in time: each truncates every max_steps steps
    assert [info["optimal_length"] for info in batched.reset_infos] == [None] * 4


def test_matches_under_vec_monitor_and_after_reseeding() -> None:
    dummy, batched = make_pair(6, seed=0, height=6, width=6, num_robots=2, max_steps=10)
    dummy, batched = VecMonitor(dummy), VecMonitor(batched)
    run_side_by_side(dummy, batched, 400)
    assert dummy.seed(123) == batched.seed(123)
    run_side_by_side(dummy, batched, 400, seed=1)


def test_options_attributes_and_methods_reach_the_boards() -> None:
    dummy, batched = make_pair(4, seed=0, fixed_layout=fixed_layouts_v1_four_targets(), include_noop=True)
    for venv in (dummy, batched):
        venv.set_options({"layout_index": 2})
    run_side_by_side(dummy, batched, 5)
    assert dummy.get_attr("robots") == batched.get_attr("robots")
    assert dummy.get_attr("steps", indices=[1, 3]) == batched.get_attr("steps", indices=[1, 3])
    for venv in (dummy, batched):
        venv.set_attr("max_steps", 3, indices=[0, 1])
        venv.set_attr("step_penalty", -0.5)  # the no-op's reward follows it, but on board 2
        venv.set_attr("noop_penalty", -0.25, indices=[2])
    run_side_by_side(dummy, batched, 60, seed=2)
    assert dummy.env_method("action_meaning", 3) == batched.env_method("action_meaning", 3)
    # A board reset through env_method continues from its new state in both.
    for venv in (dummy, batched):
        venv.env_method("reset", indices=[2], options={"layout_index": 0})
    actions = np.array([4, 4, 0, 4])
    obs_a, *_ = dummy.step(actions)
    obs_b, *_ = batched.step(actions)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert dummy.get_attr("robots") == batched.get_attr("robots")


def test_render_images_match() -> None:
    dummy, batched = make_pair(3, seed=0, height=5, width=5, num_robots=2, render_mode="rgb_array")
    run_side_by_side(dummy, batched, 7)
    for a, b in zip(dummy.get_images(), batched.get_images(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (np.array([0, 1, 8]), "action 8 for env 2 is out of range"),
        (np.array([0, -1, 0]), "action -1 for env 1 is out of range"),
        (np.array([0, 1]), "actions must be 3 integers"),
        (np.array([0.0, 1.0, 2.0]), "actions must be 3 integers"),
    ],
)
def test_bad_actions_raise(actions: np.ndarray, message: str) -> None:
    venv = BatchedRicochetVecEnv(3, seed=0, height=5, width=5, num_robots=2)
    venv.reset()
    with pytest.raises(ValueError, match=message):
        venv.step(actions)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        BatchedRicochetVecEnv(0)
    with pytest.raises(ValueError, match="unknown obs_mode"):
        BatchedRicochetVecEnv(2, obs_mode="pixels")
    with pytest.raises(RuntimeError, match="call reset"):
        BatchedRicochetVecEnv(2, seed=0).step(np.zeros(2, dtype=np.int64))
