"""Activation-caching throughput: observations per second through `cache_rollouts`.

Run: ``python benchmarks/bench_interp.py [--puzzles 100]``

Agents: SmallCNN (PPO) and DRC(1,1), DRC(3,3) (RecurrentPPO, 32 channels), briefly trained on
random 8x8 boards with 2 robots; rollouts: greedy play on ``--puzzles`` held-out boards (up to
30 steps each). Caching keeps every hook point, batches of 512, in memory and streamed to disk.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _setup import single_core

from gridlab.interp import cache_rollouts, collect_rollouts
from gridlab.training import TrainConfig, evaluation_puzzles, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puzzles", type=int, default=100)
    args = parser.parse_args()
    print(f"{single_core()}; batch 512")
    out = Path(tempfile.mkdtemp())
    agents = {
        "SmallCNN": {"policy": "small_cnn"},
        "DRC(1,1)": {"policy": "convlstm"},
        "DRC(3,3)": {"policy": "convlstm", "drc_layers": 3, "drc_ticks": 3},
    }
    print(f"{'agent':>10} {'steps':>7} {'hooks':>6} {'memory obs/s':>13} {'disk obs/s':>11}")
    for name, fields in agents.items():
        config = TrainConfig(total_timesteps=512, n_steps=64, batch_size=128, eval_freq=0, eval_episodes=1,
                             progress_bar=False, tensorboard=False, output_dir=str(out), run_name=name,
                             **fields)  # fmt: skip
        agent = train(config).agent
        rollouts = collect_rollouts(
            agent, [p for p, _ in evaluation_puzzles(config, args.puzzles)], progress=False
        )
        rates = []
        for target in (None, out / f"{name}-acts"):
            start = time.perf_counter()
            cached = cache_rollouts(agent, rollouts, out=target, progress=False)
            rates.append(len(rollouts) / (time.perf_counter() - start))
        print(f"{name:>10} {len(rollouts):>7} {len(cached):>6} {rates[0]:>13,.0f} {rates[1]:>11,.0f}")


if __name__ == "__main__":
    main()
