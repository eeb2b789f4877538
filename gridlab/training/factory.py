"""Environments, policies and algorithms built from a `TrainConfig` (shared by training and `Agent`)."""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor

from gridlab.env.batched_vec_env import BatchedRicochetVecEnv
from gridlab.env.layouts import milestone_layouts
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.models.extractors import policy_kwargs_for
from gridlab.models.recurrent_policy import ConvLSTMPolicy
from gridlab.training.config import TrainConfig


def env_kwargs(config: TrainConfig, split: str = "train") -> dict[str, Any]:
    """Keyword arguments of `RicochetRobotsEnv` for a run (``split`` picks the bank split)."""
    kwargs: dict[str, Any] = {
        "obs_mode": config.obs_mode, "channels_first": True, "include_noop": config.include_noop,
        "max_steps": config.max_steps, "step_penalty": config.step_penalty, "goal_reward": config.goal_reward,
        "min_moves": config.min_moves, "max_moves": config.max_moves,
    }  # fmt: skip
    if config.milestone is not None:
        kwargs["fixed_layout"] = milestone_layouts(config.milestone)
    elif config.bank is not None:
        kwargs |= {"bank": config.bank, "bank_split": split}
    else:
        kwargs |= {"height": config.height, "width": config.width, "num_robots": config.num_robots}
    if config.curriculum:
        start = min(config.curriculum_start, config.max_moves)
        kwargs["length_weights"] = dict.fromkeys(range(config.min_moves, start + 1), 1.0)
    return kwargs


def make_vec_env(config: TrainConfig) -> VecEnv:
    """The training vector env (``config.n_envs`` boards, seeds ``seed .. seed + n - 1``) under VecMonitor."""
    kwargs = env_kwargs(config)
    if config.vec_env == "batched":
        venv: VecEnv = BatchedRicochetVecEnv(config.n_envs, seed=config.seed, **kwargs)
    else:
        venv = DummyVecEnv(
            [lambda i=i: RicochetRobotsEnv(seed=config.seed + i, **kwargs) for i in range(config.n_envs)]
        )
    return VecMonitor(venv)


def policy_spec(config: TrainConfig) -> dict[str, Any]:
    """Algorithm, policy class and JSON-able policy kwargs: enough to rebuild the network."""
    name = config.resolved_policy()
    if name == "convlstm":
        kwargs = {
            "encoder_channels": config.drc_encoder, "hidden_channels": config.drc_hidden,
            "n_layers": config.drc_layers, "n_ticks": config.drc_ticks, "output_dim": config.drc_output,
        }  # fmt: skip
        return {"algorithm": "RecurrentPPO", "policy": name, "kwargs": kwargs}
    kwargs = {"hidden": config.mlp_hidden} if name == "mlp" else {"features_dim": config.cnn_features}
    return {"algorithm": "PPO", "policy": name, "kwargs": kwargs}


def sb3_policy(spec: dict[str, Any]) -> tuple[type[ActorCriticPolicy], dict[str, Any]]:
    """SB3 policy class and ``policy_kwargs`` for a `policy_spec`."""
    if spec["policy"] == "convlstm":
        return ConvLSTMPolicy, dict(spec["kwargs"])
    return ActorCriticPolicy, policy_kwargs_for(spec["policy"], **spec["kwargs"])


def build_policy(
    spec: dict[str, Any], observation_space: spaces.Space, action_space: spaces.Space
) -> ActorCriticPolicy:
    """A freshly initialised policy network for ``spec`` (weights are loaded by the caller)."""
    policy_class, kwargs = sb3_policy(spec)
    return policy_class(observation_space, action_space, lambda _: 0.0, **kwargs)


def build_model(config: TrainConfig, venv: VecEnv, tensorboard_log: str | None) -> PPO | RecurrentPPO:
    """The PPO or RecurrentPPO learner for a run."""
    spec = policy_spec(config)
    policy_class, policy_kwargs = sb3_policy(spec)
    algorithm = RecurrentPPO if spec["algorithm"] == "RecurrentPPO" else PPO
    torch.set_num_threads(config.threads)
    learning_rate: float | Schedule = config.learning_rate
    if config.learning_rate_end is not None:  # SB3 schedules take the progress remaining, 1 -> 0
        learning_rate = LinearSchedule(config.learning_rate, config.learning_rate_end, end_fraction=1.0)
    return algorithm(
        policy_class, venv, learning_rate=learning_rate, n_steps=config.n_steps,
        batch_size=config.batch_size, n_epochs=config.n_epochs, gamma=config.gamma,
        gae_lambda=config.gae_lambda, clip_range=config.clip_range, ent_coef=config.ent_coef,
        vf_coef=config.vf_coef, max_grad_norm=config.max_grad_norm, seed=config.seed,
        device=config.device, policy_kwargs=policy_kwargs, tensorboard_log=tensorboard_log, verbose=0,
    )  # fmt: skip


def env_spec(env: RicochetRobotsEnv, config: TrainConfig) -> dict[str, Any]:
    """What a checkpoint records about its environment (enough to rebuild the policy's spaces)."""
    return {
        "milestone": config.milestone,
        "height": env.height,
        "width": env.width,
        "num_robots": env.num_robots,
        "obs_mode": env.obs_mode,
        "channels_first": env.channels_first,
        "channel_names": list(env.channel_names),
        "observation_shape": list(env.observation_space.shape),
        "observation_dtype": str(env.observation_space.dtype),
        "n_actions": int(env.action_space.n),
        "include_noop": env.include_noop,
        "max_steps": env.max_steps,
    }
