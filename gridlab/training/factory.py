"""Environments, policies and algorithms built from a `TrainConfig` (shared by training and `Agent`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor
from torch import nn

from gridlab.env.batched_vec_env import BatchedRicochetVecEnv
from gridlab.env.layouts import milestone_layouts
from gridlab.env.puzzle_bank import PuzzleBank, find_bank
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.env.spec import BankRef, EnvSpec
from gridlab.models.precision import set_precision
from gridlab.models.registry import MODELS, PolicySpec
from gridlab.training.config import TrainConfig
from gridlab.training.kickstart import KickstartedPPO, KickstartedRecurrentPPO
from gridlab.training.precision import resolve_precision
from gridlab.training.recurrent_ppo import ChunkedRecurrentPPO


def env_kwargs(config: TrainConfig, split: str = "train", bank: PuzzleBank | None = None) -> dict[str, Any]:
    """Keyword arguments of `RicochetRobotsEnv` for a run.

    Args:
        config: The run.
        split: The bank split to draw from (bank runs).
        bank: The run's bank, already found; by default `find_bank` looks for ``config.bank``
            (relative to the working directory, ``GRIDLAB_BANKS`` and the project).
    """
    kwargs: dict[str, Any] = {
        "obs_mode": config.obs_mode, "channels_first": True, "include_noop": config.include_noop,
        "max_steps": config.max_steps, "step_penalty": config.step_penalty, "goal_reward": config.goal_reward,
        "noop_penalty": config.noop_penalty,
        "min_moves": config.min_moves, "max_moves": config.max_moves,
    }  # fmt: skip
    if config.milestone is not None:
        kwargs["fixed_layout"] = milestone_layouts(config.milestone)
    elif config.bank is not None:
        kwargs |= {"bank": find_bank(config.bank) if bank is None else bank, "bank_split": split}
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
        venv = DummyVecEnv([functools.partial(RicochetRobotsEnv, seed=config.seed + i, **kwargs)
                            for i in range(config.n_envs)])  # fmt: skip
    return VecMonitor(venv)


def policy_spec(config: TrainConfig) -> PolicySpec:
    """The registered model a run trains, with its size options from the config."""
    entry = MODELS[config.resolved_policy()]
    return PolicySpec(entry.name, {option: getattr(config, field) for option, field in entry.options.items()})


def build_model(config: TrainConfig, venv: VecEnv, tensorboard_log: str | None) -> PPO | RecurrentPPO:
    """The learner for a run: SB3's PPO, or for a recurrent policy `ChunkedRecurrentPPO`
    (sb3-contrib's RecurrentPPO on whole ``bptt_length`` chunks), with kickstarting for the
    ``...+kickstart`` recipes (`KickstartedPPO`, `KickstartedRecurrentPPO`), its policy computing
    at ``config.precision`` (``auto`` resolved by `resolve_precision`)."""
    spec = policy_spec(config)
    policy_class, policy_kwargs = spec.entry.policy_kwargs(spec.kwargs)
    torch.set_num_threads(config.threads)
    algorithm: Callable[..., PPO | RecurrentPPO] = PPO
    if spec.entry.recurrent:
        algorithm = functools.partial(
            KickstartedRecurrentPPO if config.kickstarts() else ChunkedRecurrentPPO,
            bptt_length=config.bptt_length,
        )
    if config.kickstarts():
        kickstarted = algorithm if spec.entry.recurrent else KickstartedPPO
        algorithm = functools.partial(
            kickstarted, kickstart_coef=config.kickstart_coef, kickstart_steps=config.distillation_steps()
        )
    learning_rate: float | Schedule = config.learning_rate
    if config.learning_rate_end is not None:  # SB3 schedules take the progress remaining, 1 -> 0
        learning_rate = LinearSchedule(config.learning_rate, config.learning_rate_end, end_fraction=1.0)
    model = algorithm(
        policy_class,
        venv, learning_rate=learning_rate, n_steps=config.n_steps,
        batch_size=config.batch_size, n_epochs=config.n_epochs, gamma=config.gamma,
        gae_lambda=config.gae_lambda, clip_range=config.clip_range, ent_coef=config.ent_coef,
        vf_coef=config.vf_coef, max_grad_norm=config.max_grad_norm, seed=config.seed,
        device=config.device, policy_kwargs=policy_kwargs, tensorboard_log=tensorboard_log, verbose=0,
    )  # fmt: skip
    set_precision(model.policy, resolve_precision(config, model))
    if config.compile:  # each network in place (nn.Module.compile): the parameter names stay
        for name in ("features_extractor", "mlp_extractor", "drc"):
            network = getattr(model.policy, name, None)
            if isinstance(network, nn.Module):
                network.compile()
    return model


def env_spec(env: RicochetRobotsEnv, config: TrainConfig) -> EnvSpec:
    """What a checkpoint records about a run's environment (``env`` is one of its envs)."""
    bank = env.sampler.bank if env.sampler is not None else None
    return EnvSpec(
        height=env.height, width=env.width, num_robots=env.num_robots, obs_mode=env.obs_mode,
        channels_first=env.channels_first, channel_names=tuple(env.channel_names),
        observation_shape=tuple(int(n) for n in env.observation_space.shape),
        observation_dtype=str(env.observation_space.dtype), n_actions=int(env.action_space.n),
        include_noop=env.include_noop, max_steps=env.max_steps, milestone=config.milestone,
        bank=None if config.bank is None or bank is None else BankRef(config.bank, bank.digest),
    )  # fmt: skip
