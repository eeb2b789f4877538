"""Starting a 3-robot run from a 2-robot one (`gridlab.training.transfer`)."""

from pathlib import Path

import numpy as np
import pytest
import torch

import gridlab
from gridlab.agent import Agent
from gridlab.checkpoints import read_checkpoint
from gridlab.env.observations import channel_names
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.env.spec import EnvSpec
from gridlab.training import Run, TrainConfig, train
from gridlab.training.factory import env_kwargs, env_spec, policy_spec
from gridlab.training.transfer import action_sources, channel_sources, transfer_weights
from tests.conftest import quick_config

SMALL_DRC = {"drc_layers": 2, "drc_ticks": 2, "drc_hidden": 4, "drc_encoder": 4, "drc_output": 16}


def parent_run(tmp_path: Path, policy: str) -> Run:
    """A 2-robot run on random 5x5 boards, trained a little so its weights are not the initial ones."""
    extra = SMALL_DRC if policy == "convlstm" else {}
    config = quick_config(
        tmp_path, milestone=None, height=5, width=5, num_robots=2, policy=policy, total_timesteps=256,
        n_steps=32, batch_size=64, eval_freq=0, eval_episodes=4, run_name="parent", **extra,
    )  # fmt: skip
    return train(config)


def widened(parent: Run, **overrides: object) -> tuple[Agent, list[str]]:
    config = TrainConfig.from_dict(
        TrainConfig.load(parent.run_dir / "config.yaml").to_dict()
        | {"num_robots": 3, "init_from": str(parent.checkpoint)}
        | overrides
    )
    env = RicochetRobotsEnv(**env_kwargs(config))
    policy = policy_spec(config).build(env.observation_space, env.action_space)
    names = transfer_weights(read_checkpoint(parent.checkpoint), policy, env_spec(env, config))
    return Agent(policy.eval(), config, env_spec(env, config), policy_spec(config)), names


def test_sources_map_new_channels_and_moves_to_the_last_old_robot() -> None:
    old, new = list(channel_names(2)), list(channel_names(3))
    assert new == [*old, "robot_2"]
    assert channel_sources(old, new) == [0, 1, 2, 3, 4, 5, 6, 7, 7]

    def spec(num_robots: int, include_noop: bool) -> EnvSpec:
        env = RicochetRobotsEnv(height=5, width=5, num_robots=num_robots, include_noop=include_noop)
        return env_spec(env, TrainConfig(height=5, width=5, num_robots=num_robots, include_noop=include_noop))

    expected = [0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 8]  # robot 2 starts as robot 1; the no-op stays last
    assert action_sources(spec(2, True), spec(3, True)) == expected
    with pytest.raises(ValueError, match="no-op"):
        action_sources(spec(2, False), spec(2, True))


@pytest.mark.parametrize("policy", ["small_cnn", "convlstm"])
def test_a_widened_policy_plays_as_its_parent_until_the_new_robot_appears(
    tmp_path: Path, policy: str
) -> None:
    parent = parent_run(tmp_path, policy)
    child, names = widened(parent)
    assert names == ["action_net.bias", "action_net.weight", "features_extractor.conv1.weight"]
    original = gridlab.load(parent.checkpoint)
    with torch.no_grad():
        obs2 = np.stack([original.make_env().reset(seed=s)[0] for s in range(6)])  # (6, 8, 5, 5)
        obs3 = np.concatenate([obs2, np.zeros_like(obs2[:, :1])], axis=1)  # robot_2's channel empty
        old_state = new_state = None
        for _ in range(2):  # two steps: the recurrent state carries over identically
            old, new = original.forward(obs2, old_state), child.forward(obs3, new_state)
            np.testing.assert_allclose(new.logits[:, :8], old.logits, atol=1e-5)
            # robot 2's moves copy robot 1's
            np.testing.assert_allclose(new.logits[:, 8:], old.logits[:, 4:], atol=1e-5)
            np.testing.assert_allclose(new.value, old.value, atol=1e-5)
            old_state, new_state = old.state, new.state
        # once robot 2 stands on the board it is seen (its channel starts with robot 1's weights)
        with_robot_2 = obs3.copy()
        with_robot_2[:, -1, 0, 0] = 1.0
        assert not np.allclose(child.forward(with_robot_2).logits, child.forward(obs3).logits, atol=1e-4)


def test_a_run_records_where_it_started_and_bad_starts_are_rejected(tmp_path: Path) -> None:
    parent = parent_run(tmp_path, "small_cnn")
    config = TrainConfig.from_dict(
        gridlab.load(parent.checkpoint).config.to_dict()
        | {"num_robots": 3, "init_from": str(parent.checkpoint), "run_name": "child", "total_timesteps": 64}
    )
    child = train(config)
    assert read_checkpoint(child.checkpoint).metadata["training"]["init_from"] == {
        "path": str(parent.checkpoint), "num_timesteps": 256,
        "elapsed_s": read_checkpoint(parent.checkpoint).metadata["training"]["elapsed_s"],
    }  # fmt: skip
    assert gridlab.load(child.checkpoint).policy.action_space.n == 12
    with pytest.raises(ValueError, match="height is 5"):
        widened(parent, height=6)
    with pytest.raises(ValueError, match="only the number of robots may grow"):
        widened(parent, num_robots=1)
    with pytest.raises(ValueError, match="set the same policy options"):
        train(TrainConfig.from_dict(config.to_dict() | {"cnn_features": 32, "run_name": "other"}))
