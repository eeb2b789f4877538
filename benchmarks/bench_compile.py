"""PPO steps per second with and without ``compile=True`` (torch.compile of the networks), side by side.

Run: ``python benchmarks/bench_compile.py [--seconds 40] [--rounds 2] [--models "DRC(3,3)" SmallCNN]``

Each model trains on random 8x8 boards with 2 robots drawn online, at the precision
``precision="auto"`` picks on this machine, pinned to one core with one torch thread. The two
settings alternate for ``--rounds`` rounds in one process (a fresh model each time, timed over
whole rollouts for at least ``--seconds`` after two warm-up rollouts, which also pay for the
compilation); printed: each round's rate, and the ratio of the medians. Model settings as in
``bench_precision.py``: SmallCNN with the shipped config's PPO settings; DRC(3,3) with 32
channels and a 256-unit output, 32 envs, rollout 32, batch 256, bptt 8 (the issue-18 config).
"""

from __future__ import annotations

import argparse
import statistics
import time

from _setup import single_core

from gridlab.models.precision import precision_of
from gridlab.training import TrainConfig
from gridlab.training.factory import build_model, make_vec_env

MODELS = {
    "SmallCNN": {"policy": "small_cnn", "n_envs": 16, "n_steps": 128, "batch_size": 256},
    "DRC(3,3)": {"policy": "convlstm", "drc_layers": 3, "drc_ticks": 3, "drc_hidden": 32, "drc_encoder": 32,
                 "drc_output": 256, "n_envs": 32, "n_steps": 32, "batch_size": 256, "bptt_length": 8},
}  # fmt: skip


def steps_per_second(config: TrainConfig, seconds: float) -> tuple[float, str]:
    model = build_model(config, make_vec_env(config), None)
    rollout = config.n_envs * config.n_steps
    model.learn(rollout)
    model.learn(rollout, reset_num_timesteps=False)  # warm-up: both compile here, in every shape
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        model.learn(rollout, reset_num_timesteps=False)
        steps += rollout
    return steps / (time.perf_counter() - start), precision_of(model.policy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    print(single_core())
    for name in args.models:
        config = TrainConfig(height=8, width=8, num_robots=2, max_moves=8, n_epochs=4, progress_bar=False,
                             tensorboard=False, **MODELS[name])  # fmt: skip
        rates: dict[bool, list[float]] = {False: [], True: []}
        for round_ in range(args.rounds):
            for compiled in (False, True):
                config.compile = compiled
                rate, precision = steps_per_second(config, args.seconds)
                rates[compiled].append(rate)
                setting = "compiled" if compiled else "eager   "
                print(f"{name} round {round_ + 1}: {setting} {rate:7.1f} steps/s ({precision})", flush=True)
        eager, compiled = statistics.median(rates[False]), statistics.median(rates[True])
        print(
            f"{name}: eager {eager:.1f}, compiled {compiled:.1f} steps/s (medians): {compiled / eager:.2f}x\n"
        )


if __name__ == "__main__":
    main()
