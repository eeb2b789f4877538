"""Steps per second of one `RicochetRobotsEnv` with image observations and random actions.

Run: ``python benchmarks/bench_env.py [--steps 20000]``

Two settings per board size: a fixed layout (resets are free, so this measures ``step``) and
random boards with optimal length 1..10 (each reset generates and solves a new puzzle). The
process is pinned to one core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _setup import single_core

from gridlab.env import BoardSpec, RicochetRobotsEnv, random_layout


def steps_per_second(env: RicochetRobotsEnv, steps: int, seed: int) -> tuple[float, int]:
    rng = np.random.default_rng(seed)
    actions = rng.integers(env.action_space.n, size=steps)
    env.reset(seed=seed)
    episodes = 0
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
            episodes += 1
    return steps / (time.perf_counter() - start), episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()
    print(f"{single_core()}; {args.steps} random actions per row, obs_mode=image, channels_first")
    print(f"{'board':>16} {'boards':>8} {'steps/s':>10} {'episodes':>9}")
    for size, robots in [(8, 2), (16, 4)]:
        layout, _ = random_layout(BoardSpec(size, size, robots), np.random.default_rng(0), 8, 10)
        for name, kwargs in [
            ("fixed", {"fixed_layout": layout}),
            ("random", {"height": size, "width": size, "num_robots": robots}),
        ]:
            env = RicochetRobotsEnv(obs_mode="image", max_steps=30, **kwargs)
            sps, episodes = steps_per_second(env, args.steps, seed=0)
            print(f"{f'{size}x{size}, {robots} robots':>16} {name:>8} {sps:>10,.0f} {episodes:>9}")


if __name__ == "__main__":
    main()
