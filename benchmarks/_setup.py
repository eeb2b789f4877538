"""Shared set-up for the benchmark scripts: one core, one thread, and a line saying so; PPO's rate."""

from __future__ import annotations

import os
import platform
import time
from typing import TYPE_CHECKING

import numba
import numpy as np
import torch
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    from gridlab.training import TrainConfig


def single_core() -> str:
    """Pin this process to one core, one thread everywhere; returns a line naming versions and setup."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    torch.set_num_threads(1)
    threadpool_limits(1)  # BLAS/OpenMP pools (numpy, scipy, scikit-learn): one thread on one core
    return (
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"torch {torch.__version__}; pinned to 1 core, 1 thread (torch and BLAS)"
    )


def ppo_steps_per_second(config: TrainConfig, seconds: float) -> float:
    """Steps/s of ``config``'s learner over whole rollouts (collection and update) for at least
    ``seconds``, after one warm-up rollout."""
    from gridlab.training.factory import (  # the solver benchmarks need no torch model
        build_model,
        make_vec_env,
    )

    model = build_model(config, make_vec_env(config), None)
    rollout = config.n_envs * config.n_steps
    model.learn(rollout)  # warm-up
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        model.learn(rollout, reset_num_timesteps=False)
        steps += rollout
    return steps / (time.perf_counter() - start)
