"""Steps per second: BatchedRicochetVecEnv against DummyVecEnv, side by side in one run.

Run: ``python benchmarks/bench_vec_env.py [--seconds 2]``

Image observations, uniformly random actions, auto-reset, one core (the process is pinned and
BLAS/numba/torch use one thread). Boards: drawn per episode from a puzzle bank (400 puzzles,
optimal lengths 1-8, equal weights), and, for reference, generated and solved online at every reset.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import stable_baselines3
from _setup import single_core
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from gridlab.env import BatchedRicochetVecEnv, BoardSpec, RicochetRobotsEnv, generate_bank


def steps_per_second(venv: VecEnv, seconds: float) -> float:
    rng = np.random.default_rng(0)
    actions = rng.integers(venv.action_space.n, size=(64, venv.num_envs))
    venv.reset()
    venv.step(actions[0])  # warm up (numba dispatch)
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        venv.step(actions[calls % 64])
        calls += 1
    return calls * venv.num_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="timing window per row")
    parser.add_argument("--envs", type=int, nargs="+", default=[64, 256, 1024])
    args = parser.parse_args()
    print(
        f"{single_core()}; stable-baselines3 {stable_baselines3.__version__}; "
        f"obs_mode=image, random actions, max_steps=30, {args.seconds:.0f} s per row"
    )
    print(
        f"{'board':>16} {'boards':>7} {'envs':>5} {'Dummy steps/s':>14} {'Batched steps/s':>16} {'ratio':>7}"
    )
    tmp = Path(tempfile.mkdtemp())
    for size, robots in [(8, 2), (16, 4)]:
        spec = BoardSpec(size, size, robots)
        bank = generate_bank(tmp / f"{size}", spec, per_length=50, min_moves=1, max_moves=8, progress=False)
        sources = {"bank": {"bank": bank}, "online": {"height": size, "width": size, "num_robots": robots}}
        for source, kwargs in sources.items():
            for n in args.envs if source != "online" else [256]:
                dummy = DummyVecEnv([partial(RicochetRobotsEnv, seed=i, **kwargs) for i in range(n)])
                batched = BatchedRicochetVecEnv(n, seed=0, **kwargs)
                slow = steps_per_second(dummy, args.seconds)
                fast = steps_per_second(batched, args.seconds)
                print(
                    f"{f'{size}x{size}, {robots} robots':>16} {source:>7} {n:>5} {slow:>14,.0f} "
                    f"{fast:>16,.0f} {fast / slow:>6.1f}x"
                )


if __name__ == "__main__":
    main()
