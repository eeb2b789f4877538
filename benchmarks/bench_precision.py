"""PPO steps per second at fp32 and bf16, side by side, for SmallCNN and DRC(1,1), (2,2), (3,3).

Run: ``python benchmarks/bench_precision.py [--seconds 20] [--sizes 8 16] [--threads 1]``

Every model trains on random boards with 2 robots drawn online (optimal length 1-8 on 8x8,
1-6 on 16x16), no evaluation, one torch thread pinned to one core unless ``--threads`` says
otherwise. SmallCNN uses the shipped config's PPO settings (16 envs, rollout 128, batch 256,
4 epochs); the DRCs have 32 channels (encoder, state) and a 256-unit output, as in Guez et al.,
with 16 envs, rollout 32, batch 128, 4 epochs, bptt 4. Each row times whole rollouts (collection
and update) for at least ``--seconds`` after one warm-up rollout. The last columns say what
``precision="auto"`` picks for that run on this machine and why.
"""

from __future__ import annotations

import argparse

import torch
from _setup import ppo_steps_per_second, single_core

from gridlab.models.precision import bf16_hardware, precision_of
from gridlab.training import TrainConfig
from gridlab.training.factory import build_model, make_vec_env

MODELS = {
    "SmallCNN": {"policy": "small_cnn", "n_steps": 128, "batch_size": 256},
    "DRC(1,1)": {"policy": "convlstm", "drc_layers": 1, "drc_ticks": 1},
    "DRC(2,2)": {"policy": "convlstm", "drc_layers": 2, "drc_ticks": 2},
    "DRC(3,3)": {"policy": "convlstm", "drc_layers": 3, "drc_ticks": 3},
}
DRC = {
    "n_steps": 32,
    "batch_size": 128,
    "bptt_length": 4,
    "drc_hidden": 32,
    "drc_encoder": 32,
    "drc_output": 256,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    args = parser.parse_args()
    print(single_core() if args.threads == 1 else f"{args.threads} torch threads, not pinned")
    print(f"bf16 arithmetic units on this CPU: {bf16_hardware('cpu')}")
    print(
        f"\n{'model':>9} {'board':>6} {'fp32 steps/s':>13} {'bf16 steps/s':>13} {'bf16/fp32':>9} "
        f"{'auto picks':>10}"
    )
    for size in args.sizes:
        for name in args.models:
            settings = MODELS[name] | (DRC if name.startswith("DRC") else {})
            config = TrainConfig(
                height=size, width=size, num_robots=2, max_moves=8 if size <= 8 else 6, n_envs=16,
                n_epochs=4, threads=args.threads, progress_bar=False, tensorboard=False, **settings,
            )  # fmt: skip
            torch.set_num_threads(args.threads)
            rates = dict.fromkeys(("fp32", "bf16"), float("nan"))
            for precision in args.precisions:
                config.precision = precision
                rates[precision] = ppo_steps_per_second(config, args.seconds)
            config.precision = "auto"
            auto = precision_of(build_model(config, make_vec_env(config), None).policy)
            print(f"{name:>9} {size:>3}x{size:<2} {rates['fp32']:>13.1f} {rates['bf16']:>13.1f} "
                  f"{rates['bf16'] / rates['fp32']:>8.2f}x {auto:>10}")  # fmt: skip


if __name__ == "__main__":
    main()
