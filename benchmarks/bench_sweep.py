"""The cost of running trials as a Ray Tune sweep against running the same runs by hand.

Run: ``python benchmarks/bench_sweep.py [--trials 4 --steps 30000 --parallel 2]``

The same trials (a 5x5 one-robot SmallCNN config, seeds 0..N-1) both ways, side by side in one run:
by hand, ``gridlab train --config C --seed S`` processes, ``--parallel`` at a time (what a person
does with ``&`` on a machine with that many cores); and as ``gridlab sweep C --grid seed=...`` with
Ray started on this machine (as many trials at once as cores). Each run uses one torch thread.
Prints both wall times, their ratio, the trials' own training time and steps/s in each arm, and
checks the two arms trained the same runs (equal held-out success per seed).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gridlab.checkpoints import read_checkpoint
from gridlab.sweeps import read_sweep
from gridlab.training import TrainConfig

GRIDLAB = str(Path(sys.executable).parent / "gridlab")


def by_hand(config: Path, seeds: list[int], parallel: int, out: Path) -> tuple[float, dict[int, dict]]:
    """Wall time of ``gridlab train`` for every seed, ``parallel`` at a time, and each run's stats."""

    def one(seed: int) -> None:
        command = [
            GRIDLAB,
            "train",
            "--config",
            str(config),
            "--seed",
            str(seed),
            "--run-name",
            f"seed{seed}",
            "--output-dir",
            str(out),
            "--no-progress-bar",
        ]
        subprocess.run(command, check=True, capture_output=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, seeds))
    wall = time.perf_counter() - start
    return wall, {seed: read_checkpoint(out / f"seed{seed}" / "final").metadata["training"] for seed in seeds}


def as_sweep(config: Path, seeds: list[int], out: Path) -> tuple[float, dict[int, dict]]:
    command = [
        GRIDLAB,
        "sweep",
        str(config),
        "--grid",
        "seed=" + ",".join(map(str, seeds)),
        "--name",
        "bench",
        "--output-dir",
        str(out),
        "--verbose",
        "0",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    table = read_sweep(out / "bench").table.set_index("seed")
    return wall, {
        seed: read_checkpoint(Path(table.loc[seed, "checkpoint"])).metadata["training"] for seed in seeds
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="runs in each arm (seeds 0..N-1)")
    parser.add_argument("--steps", type=int, default=30_000, help="environment steps per run")
    parser.add_argument(
        "--parallel", type=int, default=2, help="runs at once by hand (the sweep: one per core)"
    )
    args = parser.parse_args()
    seeds = list(range(args.trials))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "config.yaml"
        TrainConfig(
            height=5,
            width=5,
            num_robots=1,
            min_moves=1,
            max_moves=3,
            policy="small_cnn",
            total_timesteps=args.steps,
            eval_freq=args.steps // 3,
            eval_episodes=100,
            tensorboard=False,
            threads=1,
        ).save(config)
        hand_wall, hand = by_hand(config, seeds, args.parallel, folder / "by_hand")
        sweep_wall, swept = as_sweep(config, seeds, folder / "sweeps")
    print(f"{args.trials} runs of {args.steps} steps (5x5, 1 robot, SmallCNN, 1 torch thread each)")
    print(f"{'arm':<28} {'wall s':>8} {'train s/run':>12} {'steps/s/run':>12}")
    for name, wall, stats in (
        ("by hand, " + f"{args.parallel} at a time", hand_wall, hand),
        ("sweep (Ray, local)", sweep_wall, swept),
    ):
        train = sum(s["elapsed_s"] for s in stats.values()) / len(stats)
        print(f"{name:<28} {wall:>8.1f} {train:>12.1f} {args.steps / train:>12.0f}")
    print(
        f"sweep / by hand wall time: {sweep_wall / hand_wall:.3f} (overhead {sweep_wall - hand_wall:+.1f} s)"
    )
    same = all(
        hand[s]["history"][-1]["success_rate"] == swept[s]["history"][-1]["success_rate"] for s in seeds
    )
    print(f"same held-out success per seed in both arms: {same}")


if __name__ == "__main__":
    main()
