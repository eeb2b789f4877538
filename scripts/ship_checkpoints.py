"""Train the agents shipped in ``checkpoints/`` from their configs and write their evaluation reports.

    python scripts/ship_checkpoints.py                 # every config in configs/checkpoints/
    python scripts/ship_checkpoints.py v4_mlp v1_mlp   # some of them
    python scripts/ship_checkpoints.py --evaluate-only # only rewrite the evaluation reports

Each agent trains from ``configs/checkpoints/NAME.yaml`` under ``runs/checkpoints/NAME``; its
final checkpoint is copied to ``checkpoints/NAME`` (replacing the old one only once the new one
is complete) with ``evaluation.json`` and ``evaluation.txt``: greedy success on held-out puzzles
(every layout for milestones).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from gridlab import Agent, TrainConfig, train
from gridlab.files import atomic_write

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "checkpoints"
SHIPPED = ROOT / "checkpoints"


def ship(name: str, episodes: int) -> None:
    """Train ``name`` from its config and replace ``checkpoints/NAME`` once the new one is complete."""
    config = TrainConfig.load(CONFIGS / f"{name}.yaml")
    config.output_dir, config.run_name = "runs/checkpoints", name  # relative: metadata names no machine path
    run = train(config)
    staging = Path(tempfile.mkdtemp(dir=SHIPPED, prefix=f".{name}-"))
    shutil.copytree(run.checkpoint, staging, dirs_exist_ok=True)
    write_report(staging, name, episodes)
    target = SHIPPED / name
    if target.exists():
        old = target.with_name(f".{name}-old")
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old)
    else:
        staging.rename(target)


def write_report(folder: Path, name: str, episodes: int) -> None:
    """Greedy held-out evaluation of the checkpoint in ``folder``: evaluation.json and evaluation.txt."""
    agent = Agent.load(folder)
    result = agent.evaluate(episodes=episodes, progress=False)
    result.save(folder / "evaluation.json")
    policy, steps = agent.metadata["policy_spec"]["policy"], agent.metadata["training"]["num_timesteps"]
    text = f"{name}: {policy}, {steps:,} training steps\n{result.table()}\n"
    atomic_write(folder / "evaluation.txt", lambda f: f.write(text.encode()))
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="config names (default: all)")
    parser.add_argument("--episodes", type=int, default=500, help="held-out puzzles for random-board agents")
    parser.add_argument("--evaluate-only", action="store_true", help="rewrite the reports of shipped agents")
    args = parser.parse_args()
    os.chdir(ROOT)
    SHIPPED.mkdir(exist_ok=True)
    for name in args.names or sorted(p.stem for p in CONFIGS.glob("*.yaml")):
        if args.evaluate_only:
            write_report(SHIPPED / name, name, args.episodes)
        else:
            ship(name, args.episodes)


if __name__ == "__main__":
    main()
