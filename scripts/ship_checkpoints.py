"""Train the agents shipped in ``checkpoints/`` from their configs and write their evaluation reports.

    python scripts/ship_checkpoints.py                 # every config in configs/checkpoints/
    python scripts/ship_checkpoints.py v4_mlp v1_mlp   # some of them

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

from gridlab import TrainConfig, train
from gridlab.files import atomic_write

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "checkpoints"
SHIPPED = ROOT / "checkpoints"


def ship(name: str, episodes: int) -> None:
    config = TrainConfig.load(CONFIGS / f"{name}.yaml")
    config.output_dir, config.run_name = "runs/checkpoints", name  # relative: metadata names no machine path
    run = train(config)
    result = run.agent.evaluate(episodes=episodes, progress=False)
    staging = Path(tempfile.mkdtemp(dir=SHIPPED, prefix=f".{name}-"))
    shutil.copytree(run.checkpoint, staging, dirs_exist_ok=True)
    result.save(staging / "evaluation.json")
    atomic_write(staging / "evaluation.txt", lambda f: f.write(f"{run.agent}\n{result.table()}\n".encode()))
    target = SHIPPED / name
    if target.exists():
        old = target.with_name(f".{name}-old")
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old)
    else:
        staging.rename(target)
    print(f"{name}: {int(run.history['step'].iloc[-1]):,} steps\n{result.table()}\n-> {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="config names (default: all)")
    parser.add_argument("--episodes", type=int, default=500, help="held-out puzzles for random-board agents")
    args = parser.parse_args()
    os.chdir(ROOT)
    SHIPPED.mkdir(exist_ok=True)
    for name in args.names or sorted(p.stem for p in CONFIGS.glob("*.yaml")):
        ship(name, args.episodes)


if __name__ == "__main__":
    main()
