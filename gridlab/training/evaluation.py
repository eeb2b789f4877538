"""Greedy evaluation on held-out puzzles: success by optimal length and moves against optimal."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from tqdm import tqdm

from gridlab.env.board import FixedLayout
from gridlab.env.generator import BoardSpec, random_layout
from gridlab.env.layouts import milestone_layouts
from gridlab.env.puzzle_bank import PuzzleBank, find_bank
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.env.solver import solve
from gridlab.files import atomic_write_json
from gridlab.training.config import TrainConfig

# Random evaluation boards come from a stream no training env draws from.
EVAL_SEED_OFFSET = 1_000_003
ActFn = Callable[[np.ndarray, Any, np.ndarray], tuple[np.ndarray, Any]]


@dataclass
class EvaluationResult:
    """Per-episode outcomes of an evaluation.

    Attributes:
        optimal: ``(episodes,)`` optimal plan length of each puzzle.
        moves: ``(episodes,)`` steps the agent took.
        solved: ``(episodes,)`` whether it solved the puzzle.
    """

    optimal: np.ndarray
    moves: np.ndarray
    solved: np.ndarray

    @property
    def success_rate(self) -> float:
        return float(self.solved.mean()) if len(self.solved) else 0.0

    @property
    def moves_over_optimal(self) -> float:
        """Mean of moves / optimal over solved puzzles (1.0 is optimal play; NaN if none solved)."""
        if not self.solved.any():
            return float("nan")
        return float((self.moves[self.solved] / self.optimal[self.solved]).mean())

    @property
    def extra_moves(self) -> float:
        """Mean moves beyond optimal over solved puzzles (NaN if none solved)."""
        if not self.solved.any():
            return float("nan")
        return float((self.moves[self.solved] - self.optimal[self.solved]).mean())

    def summary(self) -> dict[str, float]:
        """One flat row: ``success_rate``, ``moves_over_optimal``, ``extra_moves`` and
        ``success_len_{L}`` for every optimal length ``L`` (the columns of `Run.history`)."""
        row = {
            "success_rate": self.success_rate,
            "moves_over_optimal": self.moves_over_optimal,
            "extra_moves": self.extra_moves,
        }
        return row | {f"success_len_{length}": s["success_rate"] for length, s in self.by_length().items()}

    def by_length(self) -> dict[int, dict[str, float]]:
        """Success rate, episodes and mean moves of solved ones, per optimal length."""
        table = {}
        for length in np.unique(self.optimal):
            mask = self.optimal == length
            solved = mask & self.solved
            table[int(length)] = {
                "episodes": int(mask.sum()),
                "success_rate": float(self.solved[mask].mean()),
                "mean_moves": float(self.moves[solved].mean()) if solved.any() else float("nan"),
            }
        return table

    def to_dict(self) -> dict[str, Any]:
        return {
            "episodes": len(self.solved),
            "success_rate": self.success_rate,
            "moves_over_optimal": self.moves_over_optimal,
            "extra_moves": self.extra_moves,
            "by_length": self.by_length(),
            "per_episode": {
                "optimal": self.optimal.tolist(),
                "moves": self.moves.tolist(),
                "solved": self.solved.tolist(),
            },
        }

    def table(self) -> str:
        """A plain-text table for the terminal or a notebook."""
        lines = [f"{'optimal':>8} {'episodes':>9} {'success':>8} {'mean moves':>11}"]
        for length, row in self.by_length().items():
            lines.append(
                f"{length:>8} {row['episodes']:>9} {row['success_rate']:>8.1%} {row['mean_moves']:>11.2f}"
            )
        lines.append(
            f"{'all':>8} {len(self.solved):>9} {self.success_rate:>8.1%}   "
            f"moves/optimal {self.moves_over_optimal:.3f} on solved"
        )
        return "\n".join(lines)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``to_dict()`` as JSON, atomically."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, self.to_dict())


def evaluation_puzzles(
    config: TrainConfig, episodes: int, per_length: bool = False, bank: PuzzleBank | None = None
) -> list[tuple[FixedLayout, int]]:
    """Held-out puzzles with their optimal lengths, in a fixed order.

    Milestones: every layout once. A bank: its first ``episodes`` held-out puzzles, or with
    ``per_length`` the first ``episodes`` of each optimal length from ``min_moves`` to
    ``max_moves`` (grouped by length: the same number of puzzles at every length). Random boards:
    ``episodes`` puzzles from a seed stream that training never uses.

    Args:
        config: The run.
        episodes: Puzzles (of each length, with ``per_length``).
        per_length: See above (banks only).
        bank: The run's bank, already found (an `Agent` passes its own); by default `find_bank`
            looks for ``config.bank``.
    """
    if config.milestone is not None:
        layouts = milestone_layouts(config.milestone)
        return [(layout, len(solve(layout, config.max_steps) or [])) for layout in layouts]
    if config.bank is not None:
        bank = find_bank(config.bank) if bank is None else bank
        if per_length:
            rows = np.concatenate([
                bank.indices(length=n, split="heldout")[:episodes]
                for n in range(config.min_moves, config.max_moves + 1)
            ])  # fmt: skip
        else:
            rows = bank.indices(split="heldout")
            lengths = bank.arrays["length"][rows]
            rows = rows[(lengths >= config.min_moves) & (lengths <= config.max_moves)][:episodes]
        if len(rows) == 0:
            raise ValueError(
                f"bank {config.bank} has no held-out puzzles of length {config.min_moves}..{config.max_moves}"
            )
        return [(bank.layout(int(r)), int(bank.arrays["length"][r])) for r in rows]
    if per_length:
        raise ValueError("per_length needs a puzzle bank (config.bank); random boards come in one stream")
    spec = BoardSpec(config.height, config.width, config.num_robots)
    rng = np.random.default_rng(config.seed + EVAL_SEED_OFFSET)
    puzzles = []
    for _ in range(episodes):
        layout, plan = random_layout(spec, rng, config.min_moves, config.max_moves)
        puzzles.append((layout, len(plan)))
    return puzzles


def evaluate(
    act: ActFn, env: RicochetRobotsEnv, puzzles: list[tuple[FixedLayout, int]], progress: bool = False
) -> EvaluationResult:
    """Play each puzzle once with ``act`` (greedy) and record the outcome.

    Args:
        act: ``act(obs[None], state, episode_start) -> (actions, state)``, e.g. an SB3 policy's
            ``predict`` with ``deterministic=True``.
        env: An env of the puzzles' size and robot count.
        puzzles: ``(layout, optimal_length)`` pairs.
        progress: Show a progress bar.
    """
    optimal, moves, solved = [], [], []
    for layout, length in tqdm(puzzles, desc="evaluate", disable=not progress, leave=False):
        obs, _ = env.reset(options={"layout": layout})
        state, start = None, np.ones(1, dtype=bool)
        success, steps = False, 0
        while True:
            action, state = act(obs[None], state, start)
            start = np.zeros(1, dtype=bool)
            obs, _, terminated, truncated, info = env.step(int(action[0]))
            steps += 1
            if terminated or truncated:
                success = bool(info["is_success"])
                break
        optimal.append(length)
        moves.append(steps)
        solved.append(success)
    return EvaluationResult(np.array(optimal), np.array(moves), np.array(solved, dtype=bool))


def plot_history(history: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Learning curve of a run's history (`Run.history`): success overall and by optimal length.

    Draws on ``ax`` (a new figure if None) and returns it; call it again with a longer history
    to redraw (a notebook's live curve, via ``train(..., on_evaluation=...)``).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.clear()
    if len(history):
        plot_success_by_length(history["step"], history, ax)
        if "curriculum_longest" in history:  # mark each unlocked length where it happened
            longest = history["curriculum_longest"].to_numpy()
            for k in np.flatnonzero(np.diff(longest)) + 1:
                ax.axvline(history["step"].iloc[k], color="grey", ls=":", lw=1)
                ax.text(history["step"].iloc[k], 0.02, f" +{longest[k]}", color="grey", fontsize=7)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("greedy held-out success")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_success_by_length(x: Sequence[float], table: pd.DataFrame, ax: Axes, marker: str = "") -> None:
    """Draw ``table``'s ``success_len_{L}`` columns (one colour per length) and ``success_rate``
    (black) against ``x`` on ``ax``, on a 0-1 scale."""
    lengths = sorted(int(c.rsplit("_", 1)[1]) for c in table if c.startswith("success_len_"))
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(lengths), 1)))
    for length, colour in zip(lengths, colours, strict=False):
        ax.plot(x, table[f"success_len_{length}"], marker, color=colour, lw=1, label=f"length {length}")
    ax.plot(x, table["success_rate"], marker, color="black", lw=2, label="all")
    ax.set_ylim(-0.02, 1.02)
