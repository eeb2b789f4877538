"""A wall-clock race between training recipes: same board, same budget, held-out success at the end.

Run: ``python benchmarks/race.py --model small_cnn --recipe bc+ppo [--minutes 30]``

Each run starts from the shipped config of its model (``configs/small_cnn_8x8_2robots_ppo.yaml`` or
``configs/convlstm_8x8_2robots.yaml``: 8x8, 2 robots, bank ``banks/8x8-2``) with one torch thread
in the learner, and trains until ``--minutes`` of wall clock have passed since it began, the
recipe's cloning phase included (the solver stream's producer runs in a second process). Pure PPO
keeps the config's curriculum by optimal length; the recipes start from a clone that already
plays every length, so they train on all lengths from the start. Then the final checkpoint plays
``--per-length`` held-out bank puzzles of each optimal length 1-8 greedily; printed: success by
length with 95% Wilson intervals, and the steps trained. ``race.json`` in the run folder keeps it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch
from stable_baselines3.common.callbacks import BaseCallback

import gridlab
from gridlab.files import atomic_write_json
from gridlab.interp.scores import wilson
from gridlab.training import TrainConfig, train

CONFIGS = Path(__file__).parents[1] / "configs"
MODELS = {"small_cnn": "small_cnn_8x8_2robots_ppo.yaml", "convlstm": "convlstm_8x8_2robots.yaml"}


class Deadline(BaseCallback):
    """Ends training at the first step after ``deadline`` (a `time.perf_counter` value)."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline

    def _on_step(self) -> bool:
        return time.perf_counter() < self.deadline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--recipe", choices=["ppo", "bc+ppo", "bc+kickstart", "dagger+ppo"], required=True)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--per-length", type=int, default=100, help="held-out puzzles per optimal length")
    parser.add_argument("--clone-updates", type=int, default=3000)
    parser.add_argument("--learning-rate", type=float, default=None, help="PPO's (default: the config's)")
    parser.add_argument("--kickstart-steps", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="runs/race")
    args = parser.parse_args()

    config = TrainConfig.load(CONFIGS / MODELS[args.model])
    config = dataclasses.replace(
        config,
        recipe=args.recipe,
        curriculum=config.curriculum and args.recipe == "ppo",
        clone_updates=args.clone_updates,
        kickstart_steps=args.kickstart_steps,
        learning_rate=args.learning_rate or config.learning_rate,
        total_timesteps=100_000_000,  # the deadline ends it; the learning rate is constant
        eval_freq=50_000,
        eval_episodes=200,
        save_freq=250_000,
        threads=1,
        seed=args.seed,
        output_dir=args.output_dir,
        run_name=f"{args.model}-{args.recipe}-seed{args.seed}",
        progress_bar=False,
    )
    torch.set_num_threads(1)
    start = time.perf_counter()
    run = train(config, callbacks=[Deadline(start + 60 * args.minutes)])
    minutes = (time.perf_counter() - start) / 60
    agent = gridlab.load(run.checkpoint)
    steps = agent.metadata["training"]["num_timesteps"]
    result = agent.evaluate(args.per_length, per_length=True, progress=False)

    print(f"\n{args.model}, {args.recipe}, seed {args.seed}: {minutes:.1f} min, {steps:,} PPO steps "
          f"({run.checkpoint})")  # fmt: skip
    rows = {}
    for length, row in result.by_length().items():
        solved = round(row["success_rate"] * row["episodes"])
        low, high = wilson(solved, row["episodes"])
        rows[length] = {"solved": solved, "episodes": row["episodes"], "ci95": [low, high]}
        rate = row["success_rate"]
        print(f"  optimal {length}: {rate:6.1%}  [{low:.1%}, {high:.1%}]  of {row['episodes']}")
    solved = int(result.solved.sum())
    low, high = wilson(solved, len(result.solved))
    print(f"  all:       {result.success_rate:6.1%}  [{low:.1%}, {high:.1%}]  of {len(result.solved)}")
    summary = {
        "model": args.model, "recipe": args.recipe, "seed": args.seed, "minutes": minutes,
        "ppo_steps": steps, "success_rate": result.success_rate, "ci95": [low, high], "by_length": rows,
        "recipe_record": agent.metadata["training"].get("recipe"),
    }  # fmt: skip
    atomic_write_json(Path(run.checkpoint).parent / "race.json", summary)
    print(json.dumps({k: summary[k] for k in ("model", "recipe", "success_rate", "ppo_steps")}))


if __name__ == "__main__":
    main()
