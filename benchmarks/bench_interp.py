"""Interpretability throughput: activation caching, and a probe sweep over every hook.

Run: ``python benchmarks/bench_interp.py [--puzzles 100] [--sweep-steps 20000]``

Agents: SmallCNN (PPO) and DRC(1,1), DRC(3,3) (RecurrentPPO, 32 channels), briefly trained on
random 8x8 boards with 2 robots; rollouts: greedy play on ``--puzzles`` held-out boards (up to
30 steps each). Caching keeps every hook point, batches of 512, in memory and streamed to disk.
The sweep probes ``optimal_actions`` (first optimal action, a global probe) from every hook of
the SmallCNN agent on ``--sweep-steps`` sampled steps, baselines included, and reports seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _setup import single_core

import gridlab
from gridlab.interp import Rollouts, cache_rollouts, collect_rollouts
from gridlab.interp.probes import probe_sweep, sweep_table
from gridlab.training import TrainConfig, evaluation_puzzles, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puzzles", type=int, default=100)
    parser.add_argument("--sweep-steps", type=int, default=20_000)
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
        agent = gridlab.load(train(config).checkpoint)
        rollouts = collect_rollouts(
            agent, [p for p, _ in evaluation_puzzles(config, args.puzzles)], progress=False
        )
        rates = []
        for target in (None, out / f"{name}-acts"):
            start = time.perf_counter()
            cached = cache_rollouts(agent, rollouts, out=target, progress=False)
            rates.append(len(rollouts) / (time.perf_counter() - start))
        print(f"{name:>10} {len(rollouts):>7} {len(cached):>6} {rates[0]:>13,.0f} {rates[1]:>11,.0f}")
        if name == "SmallCNN":
            small_cnn, small_config = agent, config

    puzzles = [p for p, _ in evaluation_puzzles(small_config, args.sweep_steps // 20)]
    rollouts = collect_rollouts(small_cnn, puzzles, deterministic=False, progress=False)
    rollouts = rollouts if len(rollouts) <= args.sweep_steps else _first_steps(rollouts, args.sweep_steps)
    start = time.perf_counter()
    results = probe_sweep(small_cnn, rollouts, "*", "optimal_actions")
    seconds = time.perf_counter() - start
    what = f"{len(results)} hooks x (probe + 3 baselines), {len(rollouts)} steps"
    print(f"\nprobe sweep, SmallCNN, {what}: {seconds:.1f} s")
    print(sweep_table(results).to_string(index=False, float_format="%.3f"))


def _first_steps(rollouts: Rollouts, n: int) -> Rollouts:
    keep = slice(0, n)
    return Rollouts(
        obs=rollouts.obs[keep], actions=rollouts.actions[keep], rewards=rollouts.rewards[keep],
        episode=rollouts.episode[keep], step=rollouts.step[keep], robots=rollouts.robots[keep],
        labels={k: v[keep] for k, v in rollouts.labels.items()}, layouts=rollouts.layouts,
        solved=rollouts.solved,
    )  # fmt: skip


if __name__ == "__main__":
    main()
