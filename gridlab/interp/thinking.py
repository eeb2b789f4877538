"""Thinking time: how a recurrent agent's success changes when it may think before acting.

As in the DRC studies (Guez et al. 2019; Bush et al. 2025), the agent gets ``k`` extra steps of
computation on the first observation of each episode before it acts: its core runs ``k`` times
on that observation, carrying its recurrent state, and no action is taken. ``k = 0`` is
ordinary greedy play, identical to `Agent.evaluate`. Each extra step is ``n_ticks`` ticks of
every ConvLSTM layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from tqdm import tqdm

from gridlab.agent import Agent, State
from gridlab.env.puzzles import Puzzle, as_puzzles
from gridlab.interp.scores import mcnemar, wilson
from gridlab.training.evaluation import ActFn, evaluate, plot_success_by_length


def thinking_act(agent: Agent, steps: int) -> ActFn:
    """Greedy ``act`` for `evaluate` that first runs the core ``steps`` times on each episode's
    first observation (one environment at a time or a batch that starts together)."""
    if not agent.is_recurrent:
        raise ValueError("thinking time needs a recurrent agent (policy 'convlstm'), not a feed-forward one")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")

    def act(obs: np.ndarray, state: State | None, episode_start: np.ndarray) -> tuple[np.ndarray, Any]:
        if not np.asarray(episode_start).all():
            return agent.act(obs, state, episode_start)
        thought: State = agent.initial_state(len(obs))
        with torch.no_grad():
            for _ in range(steps):
                thought = agent.forward(obs, thought).state or ()  # a recurrent agent returns its state
        return agent.act(obs, thought, np.zeros(len(obs), dtype=bool))

    return act


def thinking_time(
    agent: Agent,
    puzzles: Sequence[Puzzle],
    steps: Sequence[int] = (0, 1, 2, 4, 8),
    progress: bool = True,
) -> pd.DataFrame:
    """Greedy success on ``puzzles`` for each number of extra thinking steps.

    Args:
        agent: A recurrent (ConvLSTM) agent.
        puzzles: ``(layout, optimal_length)`` pairs, e.g. `evaluation_puzzles`, or layouts
            (their optimal lengths are solved for).
        steps: Extra steps of computation before the first action.
        progress: Show a progress bar.

    Returns:
        One row per number of steps: `EvaluationResult.summary` (``success_rate``,
        ``moves_over_optimal``, ``extra_moves``, ``success_len_{L}``), the success rate's 95%
        Wilson interval (``success_low``, ``success_high``), and the paired comparison with the
        first row (``steps[0]``, normally no thinking) on the same puzzles, `mcnemar`:
        ``change`` in success rate with its 95% interval (``change_low``, ``change_high``) and
        the exact ``p_value``.

    Raises:
        TypeError: For ``puzzles`` in neither form (`gridlab.env.puzzles.as_puzzles`).
        ValueError: For a feed-forward agent, negative steps, or a puzzle with no solution (no
            optimal length).
    """
    acts = {k: thinking_act(agent, k) for k in steps}  # checks the agent and steps before solving
    pairs = as_puzzles(puzzles)
    solvable = [(layout, length) for layout, length in pairs if length is not None]
    unsolvable = [i for i, (_, length) in enumerate(pairs) if length is None]
    if unsolvable:
        raise ValueError(
            f"puzzles {unsolvable} have no solution within the solver's depth; thinking time is "
            "measured on solvable puzzles: leave these out"
        )
    env = agent.make_env()
    rows, first = [], None
    for k in tqdm(steps, desc="thinking time", disable=not progress):
        result = evaluate(acts[k], env, solvable)
        first = result.solved if first is None else first
        low, high = wilson(int(result.solved.sum()), len(result.solved))
        paired = mcnemar(result.solved, first)
        rows.append({"steps": k} | result.summary() | {
            "success_low": low, "success_high": high, "change": paired["difference"],
            "change_low": paired["ci"][0], "change_high": paired["ci"][1], "p_value": paired["p_value"],
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("steps")


def plot_thinking_time(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Success against extra thinking steps, overall and per optimal length (`thinking_time`'s table)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    plot_success_by_length(table.index, table, ax, marker="o-")
    ax.set_xlabel("extra thinking steps before the first action")
    ax.set_ylabel("greedy success")
    ax.legend(fontsize=7)
    return ax
