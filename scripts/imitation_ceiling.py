"""How well can an agent's network play its bank's puzzles when it is *taught* the solver's moves?

    python scripts/imitation_ceiling.py configs/small_cnn_8x8_2robots_ppo.yaml --updates 20000 \\
        --compare checkpoints/random8x8_small_cnn_ppo --out runs/imitation/small_cnn_8x8_2robots.json

Labels every training puzzle of the config's bank along one optimal plan, trains the config's
policy from scratch to pick optimal moves (`gridlab.training.imitation`), then plays the same
held-out evaluation as the shipped agents (``--per-length`` puzzles at each optimal length)
and prints it beside the reinforcement-learning agent's report (``--compare``): success by
optimal length, moves over optimal, and how often the greedy move starts an optimal plan on
held-out puzzles. Torch runs on one thread.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from gridlab import Agent, TrainConfig
from gridlab.env.puzzle_bank import find_bank
from gridlab.files import atomic_write_json
from gridlab.training.imitation import imitate, optimal_move_accuracy, solver_dataset


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", type=Path, help="a training config with a bank and a feed-forward policy")
    parser.add_argument("--updates", type=int, default=20_000, help="Adam steps (batch 256)")
    parser.add_argument("--per-length", type=int, default=100, help="held-out puzzles per optimal length")
    parser.add_argument("--compare", type=Path, default=None, help="a shipped agent to print beside")
    parser.add_argument("--out", type=Path, default=None, help="write the figures here as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)

    config = TrainConfig.load(args.config)
    if config.bank is None:
        raise SystemExit(f"{args.config} trains without a puzzle bank; imitation needs one")
    bank = find_bank(config.bank)
    started = time.perf_counter()
    data = solver_dataset(bank, "train")
    heldout = solver_dataset(bank, "heldout", per_length=args.per_length, along_plans=False, progress=False)
    imitation = imitate(config, data, args.updates)
    trained_s = time.perf_counter() - started
    agent = Agent.from_policy(imitation.policy, config, imitation.training())
    result = agent.evaluate(episodes=args.per_length, per_length=True)
    accuracy = optimal_move_accuracy(imitation.policy, heldout)

    print(f"imitation: {len(data):,} labelled states, {args.updates:,} updates, {trained_s:.0f} s")
    print(result.table())
    print("greedy move optimal on held-out puzzles:", _rounded(accuracy))
    figures = {
        "config": str(args.config), "labelled_states": len(data), "updates": args.updates,
        "seconds": trained_s, "final_loss": float(np.mean(imitation.losses[-100:])),
        "evaluation": result.to_dict(), "optimal_move_accuracy": accuracy,
    }  # fmt: skip
    if args.compare is not None:
        reference = Agent.load(args.compare)
        compared = reference.evaluate(episodes=args.per_length, per_length=True)
        print(f"\nreinforcement learning ({args.compare}):")
        print(compared.table())
        figures["compare"] = {
            "checkpoint": str(args.compare), "evaluation": compared.to_dict(),
            "optimal_move_accuracy": optimal_move_accuracy(reference.policy, heldout),
        }  # fmt: skip
        print(
            "greedy move optimal on held-out puzzles:", _rounded(figures["compare"]["optimal_move_accuracy"])
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.out, figures)


def _rounded(rates: dict[int, float]) -> dict[int, float]:
    return {length: round(rate, 2) for length, rate in rates.items()}


if __name__ == "__main__":
    main()
