"""Train the agents shipped in ``checkpoints/`` from their configs and write their evaluation reports.

    python scripts/ship_checkpoints.py                 # every config in configs/checkpoints/
    python scripts/ship_checkpoints.py v4_mlp v1_mlp   # some of them
    python scripts/ship_checkpoints.py --evaluate-only # only rewrite the evaluation reports
    python scripts/ship_checkpoints.py NAME --from runs/NAME/final  # ship a long run's checkpoint
    python scripts/ship_checkpoints.py NAME --from runs/NAME/final --series 6  # and 6 of its checkpoints
    python scripts/ship_checkpoints.py NAME --from runs/NAME/final --compact --series 4 --half  # a big one

Each agent trains from ``configs/checkpoints/NAME.yaml`` under ``runs/checkpoints/NAME`` (or,
with ``--from``, is a checkpoint of a run too long for this script, such as the 8x8 agents of
``configs/*_8x8_2robots.yaml``); the checkpoint is copied to ``checkpoints/NAME`` (replacing the
old one only once the new one is complete) with ``evaluation.json`` and ``evaluation.txt``:
greedy success on held-out puzzles (every layout for milestones; for agents trained on a puzzle
bank, the same number of puzzles at every optimal length). ``--series N`` also ships N of the
run's checkpoints (`run_checkpoints`: the recipe's clone, then log-spaced steps up to the shipped
one) as compact copies (weights and metadata; ``--half``: float16 weights) in
``checkpoints/NAME/series/step_S``, for emergence studies (`gridlab.interp.emergence`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from gridlab import Agent, TrainConfig, train
from gridlab.checkpoints import compact_checkpoint, read_checkpoint, run_checkpoints
from gridlab.files import atomic_write

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "checkpoints"
SHIPPED = ROOT / "checkpoints"


def ship(
    name: str,
    episodes: int,
    per_length: int,
    source: Path | None = None,
    series: int = 0,
    half: bool = False,
    compact: bool = False,
) -> None:
    """Train ``name`` from its config (or take ``source``) and replace ``checkpoints/NAME`` once
    complete (``compact``: its weights and metadata alone), with ``series`` compact checkpoints of
    the run."""
    if source is None:
        config = TrainConfig.load(CONFIGS / f"{name}.yaml")
        # a relative output folder: the metadata names no path of this machine; a new run folder
        # each time (runs never overwrite each other)
        config.output_dir, config.run_name = f"runs/checkpoints/{name}", None
        source = train(config).checkpoint
    staging = Path(tempfile.mkdtemp(dir=SHIPPED, prefix=f".{name}-"))
    if compact:
        compact_checkpoint(source, staging)
    else:
        shutil.copytree(source, staging, dirs_exist_ok=True)
    write_report(staging, name, episodes, per_length)
    if series:
        shipped_step = read_checkpoint(source).metadata["training"]["num_timesteps"]
        steps = [(step, path) for step, path in run_checkpoints(source.parent) if step <= shipped_step]
        for step, path in log_spaced_subset(steps, series):
            compact_checkpoint(path, staging / "series" / f"step_{step}", half=half)
    target = SHIPPED / name
    if target.exists():
        old = target.with_name(f".{name}-old")
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old)
    else:
        staging.rename(target)


def log_spaced_subset(checkpoints: list[tuple[int, Path]], n: int) -> list[tuple[int, Path]]:
    """``n`` of a run's ``(step, folder)`` checkpoints: the first and the last, and between them
    those nearest to log-spaced steps (the clone, step 0, counts as the first)."""
    if n >= len(checkpoints):
        return checkpoints
    steps = np.array([max(step, 1) for step, _ in checkpoints], dtype=float)
    chosen = {0, len(checkpoints) - 1}
    for target in np.geomspace(steps[1] if steps[0] == 1 else steps[0], steps[-1], n)[1:-1]:
        free = [i for i in range(len(steps)) if i not in chosen]
        chosen.add(min(free, key=lambda i: abs(np.log(steps[i]) - np.log(target))))
    return [checkpoints[i] for i in sorted(chosen)]


def write_report(folder: Path, name: str, episodes: int, per_length: int) -> None:
    """Greedy held-out evaluation of the checkpoint in ``folder``: evaluation.json and evaluation.txt."""
    agent = Agent.load(folder)
    if agent.config.bank is not None:
        result = agent.evaluate(episodes=per_length, per_length=True)
    else:
        result = agent.evaluate(episodes=episodes, progress=False)
    result.save(folder / "evaluation.json")
    policy, steps = agent.policy_spec.policy, agent.metadata["training"]["num_timesteps"]
    text = f"{name}: {policy}, {steps:,} training steps\n{result.table()}\n"
    atomic_write(folder / "evaluation.txt", lambda f: f.write(text.encode()))
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="config names (default: all)")
    parser.add_argument("--episodes", type=int, default=500, help="held-out puzzles for random-board agents")
    parser.add_argument("--per-length", type=int, default=100, help="puzzles per length for bank agents")
    parser.add_argument("--evaluate-only", action="store_true", help="rewrite the reports of shipped agents")
    parser.add_argument("--from", dest="source", type=Path, help="ship this checkpoint as NAME, untrained")
    parser.add_argument(
        "--series", type=int, default=0, help="with --from: also ship N of the run's checkpoints"
    )
    parser.add_argument("--half", action="store_true", help="store the series' weights as float16")
    parser.add_argument("--compact", action="store_true", help="ship the agent's weights and metadata alone")
    args = parser.parse_args()
    if args.source is not None and len(args.names) != 1:
        parser.error("--from ships one checkpoint: name it once, e.g. NAME --from runs/NAME/final")
    if args.series and args.source is None:
        parser.error("--series ships checkpoints of a run: give its final checkpoint with --from")
    source = args.source.resolve() if args.source else None
    torch.set_num_threads(1)  # evaluation of these small networks: more threads only contend
    os.chdir(ROOT)
    SHIPPED.mkdir(exist_ok=True)
    for name in args.names or sorted(p.stem for p in CONFIGS.glob("*.yaml")):
        if args.evaluate_only:
            write_report(SHIPPED / name, name, args.episodes, args.per_length)
        else:
            ship(name, args.episodes, args.per_length, source, args.series, args.half, args.compact)


if __name__ == "__main__":
    main()
