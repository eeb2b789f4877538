"""``TrainConfig.precision="auto"``: pick fp32 or bf16 for a run by timing both on this machine.

Without bf16 hardware (`bf16_hardware`) the answer is fp32 without timing: emulated bf16 is
slower. With it, one rollout's worth of the run's own work is timed at each precision on a copy
of the policy: ``n_steps`` no-grad forwards at ``n_envs`` boards plus ``n_epochs`` passes of
forward and backward over the run's minibatches. bf16 wins only when it is at least
`BF16_MARGIN` faster; small networks are overhead-bound and often gain nothing.

The choice is cached by machine, torch version, threads, model and shapes in
``$GRIDLAB_CACHE/precision.json`` (default ``~/.cache/gridlab``), so the same run on the same
machine always trains at the same precision (timings are noisy; runs must be repeatable).
"""

from __future__ import annotations

import copy
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy

from gridlab.files import atomic_write_json
from gridlab.models.precision import bf16_hardware, set_precision
from gridlab.training.config import TrainConfig

BF16_MARGIN = 1.1
"""bf16 must be this many times faster than fp32 to be chosen."""
CACHE_ENV_VAR = "GRIDLAB_CACHE"


def resolve_precision(config: TrainConfig, model: PPO | RecurrentPPO) -> str:
    """``config.precision``, with ``"auto"`` resolved for this run on this machine (see the module
    docstring); the result is ``"fp32"`` or ``"bf16"``."""
    if config.precision != "auto":
        return config.precision
    if not bf16_hardware(model.device):
        return "fp32"
    key = _cache_key(config, model)
    path = cache_dir() / "precision.json"
    cache = _read(path)
    if key not in cache:
        rates = time_precisions(config, model.policy)
        choice = "bf16" if rates["bf16"] >= BF16_MARGIN * rates["fp32"] else "fp32"
        cache = _read(path)  # another run may have written meanwhile
        cache[key] = {"precision": choice, "rollouts_per_s": rates}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, cache)
    return str(cache[key]["precision"])


def time_precisions(config: TrainConfig, policy: ActorCriticPolicy, seconds: float = 0.5) -> dict[str, float]:
    """Rollouts per second at fp32 and at bf16 for ``config``'s shapes, on a copy of ``policy``.

    One "rollout" is ``n_steps`` no-grad forwards of ``n_envs`` observations and ``n_epochs``
    forward-and-backward passes over ``n_envs * n_steps`` samples in minibatches of
    ``batch_size``. Each precision runs alternately for about ``seconds`` after a warm-up; the
    best of three rounds counts.
    """
    # Any: the recurrent policies take sb3-contrib's extra state arguments (they override with them)
    net: Any = copy.deepcopy(policy)
    space = net.observation_space
    rng = np.random.default_rng(0)
    n_minibatches = -(-config.n_envs * config.n_steps // config.batch_size)

    def batch(n: int) -> torch.Tensor:
        obs = rng.uniform(space.low.min(), space.high.max(), size=(n, *space.shape)).astype(np.float32)
        return torch.as_tensor(obs, device=net.device)

    def recurrent_inputs(n_seq: int, n: int) -> tuple[RNNStates, torch.Tensor]:
        shape = (net.lstm_actor.num_layers, n_seq, net.lstm_actor.hidden_size)
        pair = (torch.zeros(shape, device=net.device), torch.zeros(shape, device=net.device))
        return RNNStates(pair, pair), torch.zeros(n, device=net.device)

    act_inputs: tuple[Any, ...] = (batch(config.n_envs),)
    learn_inputs: tuple[Any, ...] = (
        batch(config.batch_size),
        torch.zeros(config.batch_size, dtype=torch.long),
    )
    if isinstance(net, RecurrentActorCriticPolicy):
        act_inputs += recurrent_inputs(config.n_envs, config.n_envs)
        learn_inputs += recurrent_inputs(config.batch_size // config.bptt_length, config.batch_size)

    def act() -> None:
        with torch.no_grad():
            net(*act_inputs)

    def learn() -> None:
        values, log_prob, entropy = net.evaluate_actions(*learn_inputs)
        (values.mean() + log_prob.mean() + entropy.mean()).backward()

    def seconds_per(call: Callable[[], None]) -> float:
        start, runs = time.perf_counter(), 0
        while time.perf_counter() - start < seconds / 4 or runs < 2:
            call()
            runs += 1
        return (time.perf_counter() - start) / runs

    def rate(precision: str) -> float:
        set_precision(net, precision)
        return 1.0 / (
            config.n_steps * seconds_per(act) + config.n_epochs * n_minibatches * seconds_per(learn)
        )

    # The forwards sample actions: the global RNG is restored so timing never changes the run.
    with torch.random.fork_rng(devices=[]):
        for precision in ("fp32", "bf16"):
            rate(precision)  # warm-up: oneDNN builds its kernels on first use
        rounds = [{p: rate(p) for p in ("fp32", "bf16")} for _ in range(3)]
    return {p: max(r[p] for r in rounds) for p in ("fp32", "bf16")}


def cache_dir() -> Path:
    """``$GRIDLAB_CACHE``, or ``~/.cache/gridlab``."""
    return Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "gridlab")


def _cache_key(config: TrainConfig, model: PPO | RecurrentPPO) -> str:
    shapes = {
        "obs": list(model.observation_space.shape or ()), "n_envs": config.n_envs,
        "n_steps": config.n_steps, "batch_size": config.batch_size, "n_epochs": config.n_epochs,
        "bptt_length": config.bptt_length if isinstance(model, RecurrentPPO) else None,
    }  # fmt: skip
    machine = f"{platform.processor() or platform.machine()} {_cpu_name()} torch {torch.__version__}"
    policy = model.policy._get_constructor_parameters()
    options = {k: v for k, v in policy.items() if isinstance(v, int | float | str | bool)}
    return json.dumps(
        [machine, str(model.device), torch.get_num_threads(), type(model.policy).__name__, options, shapes]
    )


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}  # a missing or damaged cache is only a cache: measure again
    return data if isinstance(data, dict) else {}
