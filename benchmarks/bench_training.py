"""End-to-end training speed.

Run: ``python benchmarks/bench_training.py [--steps 16384]``

1. PPO steps per second on random 8x8 boards with 2 robots and SmallCNN, with
   `BatchedRicochetVecEnv` and with SB3's ``DummyVecEnv`` over single envs, side by side with
   the same hyperparameters (the seed's defaults: 8 envs, rollout 128, batch 256, 4 epochs),
   boards drawn online by the generator (optimal length 1-8); one torch thread.
2. Wall-clock seconds from scratch to 100% greedy success on the v1 milestone (MLP, evaluated
   every 512 steps), for three seeds.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import stable_baselines3
from _setup import single_core

from gridlab.training import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16384)
    parser.add_argument("--envs", type=int, nargs="+", default=[8, 64])
    args = parser.parse_args()
    print(f"{single_core()}; stable-baselines3 {stable_baselines3.__version__}")
    out = tempfile.mkdtemp()
    common = {"output_dir": out, "progress_bar": False, "tensorboard": False, "eval_freq": 0, "save_freq": 0,
              "eval_episodes": 1, "policy": "small_cnn", "total_timesteps": args.steps}  # fmt: skip
    print(f"\nPPO + SmallCNN, random 8x8 boards with 2 robots, {args.steps} steps")
    print(f"{'envs':>5} {'Dummy steps/s':>14} {'Batched steps/s':>16} {'ratio':>6}")
    train(TrainConfig(**(common | {"total_timesteps": 1024, "run_name": "warm-up"})))  # imports, JIT caches
    for n_envs in args.envs:
        rates = {}
        for vec_env in ("dummy", "batched"):
            config = TrainConfig(vec_env=vec_env, n_envs=n_envs, run_name=f"{vec_env}-{n_envs}", **common)
            start = time.perf_counter()
            train(config)
            rates[vec_env] = args.steps / (time.perf_counter() - start)
        ratio = rates["batched"] / rates["dummy"]
        print(f"{n_envs:>5} {rates['dummy']:>14,.0f} {rates['batched']:>16,.0f} {ratio:>5.2f}x")

    print("\nv1 milestone from scratch to 100% greedy success (MLP, lr 1e-3, rollout 64, batch 128)")
    for seed in range(3):
        config = TrainConfig(
            milestone="v1", policy="mlp", seed=seed, total_timesteps=50_000, eval_freq=512,
            target_success=1.0, learning_rate=1e-3, n_steps=64, batch_size=128, output_dir=out,
            progress_bar=False, tensorboard=False, save_freq=0,
        )  # fmt: skip
        start = time.perf_counter()
        run = train(config)
        seconds = time.perf_counter() - start
        print(f"seed {seed}: {seconds:.1f} s wall, {int(run.history.step.iloc[-1])} steps, "
              f"success {run.history.success_rate.iloc[-1]:.0%}")  # fmt: skip


if __name__ == "__main__":
    main()
