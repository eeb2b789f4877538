"""SmallCNN and MLP: shapes, hooks, SB3 integration, the policy-selection rule."""

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from gridlab.env import RicochetRobotsEnv, fixed_layout_v0_one_move
from gridlab.models import MLP, SmallCNN, policy_kwargs_for
from gridlab.models.registry import select_policy

SIZES = [(4, 4, 1), (5, 5, 2), (8, 8, 3), (16, 16, 4)]


def obs_batch(height: int, width: int, robots: int, obs_mode: str = "image", batch: int = 3):
    env = RicochetRobotsEnv(
        height=height, width=width, num_robots=robots, obs_mode=obs_mode, seed=0, max_moves=3
    )
    obs = np.stack([env.reset()[0] for _ in range(batch)])
    return env.observation_space, torch.as_tensor(obs)


@pytest.mark.parametrize(("height", "width", "robots"), SIZES)
def test_small_cnn_shapes_and_hooks(height: int, width: int, robots: int) -> None:
    space, obs = obs_batch(height, width, robots)
    model = SmallCNN(space)
    out, cache = model.run_with_cache(obs)
    assert out.shape == (3, 128)
    assert list(cache) == model.hook_names() == [
        "hook_conv1", "hook_relu1", "hook_conv2", "hook_relu2", "hook_conv3", "hook_relu3",
        "hook_pool", "hook_fc", "hook_features",
    ]  # fmt: skip
    assert cache["hook_relu2"].shape == (3, 64, height, width)
    assert cache["hook_pool"].shape == (3, 64)
    torch.testing.assert_close(cache["hook_features"], out)


@pytest.mark.parametrize(("height", "width", "robots"), SIZES)
@pytest.mark.parametrize("obs_mode", ["image", "symbolic"])
def test_mlp_shapes_and_hooks(height: int, width: int, robots: int, obs_mode: str) -> None:
    space, obs = obs_batch(height, width, robots, obs_mode)
    model = MLP(space)
    out, cache = model.run_with_cache(obs)
    assert out.shape == (3, 64)
    assert {k: v.shape for k, v in cache.items()} == {k: (3, 64) for k in model.hook_names()}


def test_zeroing_a_hook_changes_the_output_and_hooks_are_removed() -> None:
    space, obs = obs_batch(8, 8, 2)
    model = SmallCNN(space)
    clean = model(obs)
    ablated = model.run_with_hooks(obs, fwd_hooks=[("hook_relu2", lambda x, hook: torch.zeros_like(x))])
    assert not torch.allclose(clean, ablated)
    # Zeroing the last conv's ReLU makes the output independent of the observation.
    zero = model.run_with_hooks(obs, fwd_hooks=[("hook_relu3", lambda x, hook: torch.zeros_like(x))])
    torch.testing.assert_close(zero[0], zero[1])
    torch.testing.assert_close(model(obs), clean)  # nothing left behind
    assert all(not p._forward_hooks for p in model.hook_points().values())


def test_hooks_are_removed_when_the_forward_raises() -> None:
    space, obs = obs_batch(5, 5, 1)
    model = MLP(space)

    def boom(x: torch.Tensor, hook: object) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        model.run_with_hooks(obs, fwd_hooks=[("hook_fc1", boom)])
    assert all(not p._forward_hooks for p in model.hook_points().values())


def test_cache_holds_copies_that_in_place_edits_cannot_reach() -> None:
    space, obs = obs_batch(5, 5, 1)
    model = MLP(space)
    _, clean = model.run_with_cache(obs, names_filter="hook_relu1")
    # fc2 edits its input in place after the cache copied it: the cache keeps the clean value.
    model.fc2.register_forward_pre_hook(lambda module, args: args[0].mul_(0.0))
    _, cache = model.run_with_cache(obs, names_filter="hook_relu1")
    torch.testing.assert_close(cache["hook_relu1"], clean["hook_relu1"])
    assert cache["hook_relu1"].abs().sum() > 0


def test_unknown_hook_names_are_reported_with_the_available_ones() -> None:
    space, _ = obs_batch(5, 5, 1)
    with pytest.raises(ValueError, match=r"unknown hook 'hook_x'; available: hook_fc1, hook_relu1"):
        MLP(space).run_with_hooks(torch.zeros(1, *space.shape), fwd_hooks=[("hook_x", lambda x, h: x)])
    assert SmallCNN(obs_batch(5, 5, 1)[0]).resolve_hook_names("hook_relu*") == [
        "hook_relu1", "hook_relu2", "hook_relu3",
    ]  # fmt: skip


def test_policy_selection_rule() -> None:
    assert select_policy("image", 16, 16) == "small_cnn"
    assert select_policy("image", 8, 8) == "small_cnn"
    assert select_policy("image", 5, 5) == "mlp"
    assert select_policy("image", 8, 8, milestone="v1") == "mlp"
    assert select_policy("symbolic", 16, 16) == "mlp"
    with pytest.raises(ValueError, match="unknown feed-forward extractor"):
        policy_kwargs_for("resnet")


@pytest.mark.parametrize("extractor", ["mlp", "small_cnn"])
def test_ppo_trains_and_predicts_with_each_extractor(extractor: str) -> None:
    env = RicochetRobotsEnv(fixed_layout=fixed_layout_v0_one_move(), max_steps=5)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0,
                policy_kwargs=policy_kwargs_for(extractor))  # fmt: skip
    assert (
        type(model.policy.features_extractor).__name__ == {"mlp": "MLP", "small_cnn": "SmallCNN"}[extractor]
    )
    model.learn(128)
    action, _ = model.predict(env.reset()[0], deterministic=True)
    assert env.action_space.contains(int(action))
