"""Emergence: when during training a plan representation appears, beside competence and thinking time.

Each checkpoint of a run's series (`run_checkpoints`: the recipe's clone, the log-spaced and
periodic checkpoints, the final one) is measured the same way on the same held-out puzzles:

- greedy success, with its 95% Wilson interval;
- the square-level plan probe (`probe_sweep` over ``hooks``, the hook chosen on validation by
  `best_probe`) on that checkpoint's own greedy episodes: its headline score (plan F1 beyond the
  next move for direction labels) with its bootstrap interval, each horizon's score, and the
  strongest baseline's score and the paired difference to it (interval over the same test
  episodes);
- for a recurrent agent, the thinking-time benefit (`thinking_time`): success with ``thinking``
  extra steps minus success without, paired on the same puzzles (McNemar), with its interval.

A representation "emerges" where the probe's interval separates from its strongest baseline's;
whether that coincides with the thinking-time benefit is read off the same table
(`plot_emergence`). Each checkpoint's probe is fitted on its own episodes, with the same split
seed, so the rows differ only by the weights.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import NullFormatter
from tqdm import tqdm

from gridlab.agent import Agent
from gridlab.checkpoints import run_checkpoints
from gridlab.env.board import FixedLayout
from gridlab.interp.probe_rows import Robot
from gridlab.interp.probes import ProbeResult, best_probe, probe_sweep
from gridlab.interp.rollouts import collect_rollouts
from gridlab.interp.scores import wilson
from gridlab.interp.thinking import thinking_time
from gridlab.training.evaluation import evaluate


def emergence(
    checkpoints: str | os.PathLike | Sequence[str | os.PathLike],
    puzzles: Sequence[tuple[FixedLayout, int]],
    hooks: str | Sequence[str],
    label: str = "agent_direction",
    robot: Robot | None = "target",
    thinking: int = 4,
    seed: int = 0,
    n_boot: int = 500,
    progress: bool = True,
) -> pd.DataFrame:
    """Measure every checkpoint of a series; see the module docstring.

    Args:
        checkpoints: A run folder (its series, `run_checkpoints`) or checkpoint folders.
        puzzles: Held-out ``(layout, optimal_length)`` pairs (`Agent.evaluation_puzzles`), the
            same for every checkpoint.
        hooks: Hook names or patterns to probe (the same architecture throughout).
        label, robot: The probe's label and robot (`probe`).
        thinking: Extra thinking steps compared with none (recurrent agents; 0 skips).
        seed: Split, baseline and bootstrap seed (`probe_sweep`).
        n_boot: Bootstrap replicates over test episodes.
        progress: Show a progress bar over checkpoints.

    Returns:
        One row per checkpoint, indexed by training ``step``: ``checkpoint``, ``success`` with
        ``success_low``/``success_high``; ``hook``, ``probe`` with ``probe_low``/``probe_high``,
        ``horizon_{h}``; ``baseline`` (the strongest baseline's name), ``baseline_score``,
        ``above_baseline`` with ``above_low``/``above_high``; for recurrent agents
        ``thinking_change`` with ``thinking_low``/``thinking_high`` and ``thinking_p``.

    Raises:
        ValueError: For an empty series, or what `probe_sweep` and `thinking_time` refuse.
    """
    if isinstance(checkpoints, (str, os.PathLike)):
        folders = [path for _, path in run_checkpoints(checkpoints)]
    else:
        folders = [Path(path) for path in checkpoints]
    if not folders:
        raise ValueError("no checkpoints to measure: give a run folder with checkpoints or a list of them")
    rows = []
    for folder in tqdm(folders, desc="checkpoints", disable=not progress):
        agent = Agent.load(folder)
        rows.append(_measure(agent, folder, puzzles, hooks, label, robot, thinking, seed, n_boot))
    return pd.DataFrame(rows).set_index("step").sort_index()


def _measure(
    agent: Agent,
    folder: Path,
    puzzles: Sequence[tuple[FixedLayout, int]],
    hooks: str | Sequence[str],
    label: str,
    robot: Robot | None,
    thinking: int,
    seed: int,
    n_boot: int,
) -> dict[str, Any]:
    solved = evaluate(agent.act, agent.make_env(), list(puzzles)).solved
    low, high = wilson(int(solved.sum()), len(solved))
    row: dict[str, Any] = {
        "step": int(agent.metadata["training"]["num_timesteps"]), "checkpoint": str(folder),
        "success": float(solved.mean()), "success_low": low, "success_high": high,
    }  # fmt: skip
    rollouts = collect_rollouts(agent, puzzles, progress=False)
    top = best_probe(
        probe_sweep(agent, rollouts, hooks, label, robot, seed=seed, progress=False, n_boot=n_boot)
    )
    row |= _probe_columns(top)
    if agent.is_recurrent and thinking:
        change = thinking_time(agent, puzzles, steps=(0, thinking), progress=False).loc[thinking]
        row |= {
            "thinking_change": change["change"], "thinking_low": change["change_low"],
            "thinking_high": change["change_high"], "thinking_p": change["p_value"],
        }  # fmt: skip
    return row


def _probe_columns(top: ProbeResult) -> dict[str, Any]:
    """The chosen probe's score, by horizon, and against its strongest baseline."""
    low, high = top.interval
    columns: dict[str, Any] = {"hook": top.hook, "probe": top.score, "probe_low": low, "probe_high": high}
    for horizon, scores in sorted(top.metrics.get("by_horizon", {}).items()):
        columns[f"horizon_{horizon}"] = scores["macro_f1"]
    if top.baselines:
        name = max(top.baselines, key=lambda base: top.baselines[base][top.headline])
        gap = top.differences[name]
        columns |= {
            "baseline": name, "baseline_score": top.baselines[name][top.headline],
            "above_baseline": gap["value"], "above_low": gap["ci"][0], "above_high": gap["ci"][1],
        }  # fmt: skip
    return columns


def plot_emergence(
    table: pd.DataFrame,
    title: str = "",
    axes: Sequence[Axes] | None = None,
    xlabel: str = "PPO steps (clone at 1)",
) -> list[Axes]:
    """Success, the plan probe against its strongest baseline, and (recurrent agents) the
    thinking-time benefit over the table's index (log scale), each with its 95% interval.
    The index is PPO steps for a run's series; ``xlabel`` names another (cloning updates)."""
    panels = 3 if "thinking_change" in table else 2
    if axes is None:
        _, made = plt.subplots(1, panels, figsize=(4.2 * panels, 3.3))
        axes = list(np.atleast_1d(made))
    steps = np.maximum(table.index.to_numpy(), 1)  # the clone is step 0: drawn at 1 on a log axis
    success, probe, *rest = axes

    success.fill_between(steps, table["success_low"], table["success_high"], alpha=0.25)
    success.plot(steps, table["success"], "o-", ms=3)
    success.set(ylabel="greedy held-out success", ylim=(0, 1))
    probe.fill_between(steps, table["probe_low"], table["probe_high"], alpha=0.25)
    probe.plot(steps, table["probe"], "o-", ms=3, label="plan probe (chosen hook)")
    if "baseline_score" in table:
        probe.plot(steps, table["baseline_score"], "k--", lw=1, label="strongest baseline")
    probe.set(ylabel="probe score (test episodes)")
    probe.set_ylim(bottom=0)  # scores this small would be a flat line on a 0-1 axis
    probe.legend(fontsize=7)
    if rest:
        gain = rest[0]
        gain.fill_between(steps, table["thinking_low"], table["thinking_high"], alpha=0.25)
        gain.plot(steps, table["thinking_change"], "o-", ms=3)
        gain.axhline(0, color="k", lw=0.8)
        gain.set(ylabel="success change from thinking")
    for ax in axes:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # under a decade, minor labels overlap
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    if title:
        success.set_title(title, fontsize=10, loc="left")
    return list(axes)
