"""Labelled rollouts: an agent's episodes on a puzzle set, every step labelled by the solver.

`collect_rollouts(agent, puzzles)` plays each puzzle once and returns `Rollouts`, whose arrays
have one row per step (``T`` steps in all):

=================  ==============================  ============================================
field              shape                           meaning
=================  ==============================  ============================================
``obs``            ``(T, *observation_shape)``     observation the agent acted on
``actions``        ``(T,)`` int64                  action taken
``rewards``        ``(T,)`` float32                reward received
``episode``        ``(T,)`` int64                  episode (puzzle) index; split probes by this
``step``           ``(T,)`` int64                  step within the episode
``robots``         ``(T, N, 2)`` int64             robot cells before the action (the board)
``state_h``        ``(T, D, 1, hidden * H * W)``   recurrent state the agent held *before*
``state_c``                                        acting (recurrent agents only)
``labels[name]``   ``(T, ...)``                    `gridlab.interp.labels.state_labels`, and
                                                   ``agent_direction``, ``agent_horizon``
                                                   (`agent_directions`)
=================  ==============================  ============================================

``layouts`` keeps each episode's puzzle. `Rollouts.save` / `Rollouts.load` use one ``.npz``
plus the puzzles as text, never pickle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gridlab.agent import Agent
from gridlab.env.ascii import parse_ascii, render_ascii
from gridlab.env.board import FixedLayout
from gridlab.env.puzzles import Puzzle, as_layouts
from gridlab.files import atomic_write, atomic_write_json
from gridlab.interp.labels import LABEL_NAMES, agent_directions, state_labels

_FIELDS = ("obs", "actions", "rewards", "episode", "step", "robots")


@dataclass
class Rollouts:
    """Steps of several episodes, stacked (see the module docstring for the fields)."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    robots: np.ndarray
    labels: dict[str, np.ndarray]
    layouts: list[FixedLayout]
    solved: np.ndarray
    state_h: np.ndarray | None = None
    state_c: np.ndarray | None = None
    meta: dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.actions)

    def save(self, folder: str | os.PathLike) -> None:
        """Write ``arrays.npz`` and ``episodes.json`` (puzzles as text) into ``folder``, atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {name: getattr(self, name) for name in _FIELDS} | {"solved": self.solved}
        arrays |= {f"label_{k}": v for k, v in self.labels.items()}
        if self.state_h is not None and self.state_c is not None:
            arrays |= {"state_h": self.state_h, "state_c": self.state_c}
        atomic_write(folder / "arrays.npz", lambda f: np.savez_compressed(f, **arrays))
        atomic_write_json(folder / "episodes.json", {"layouts": [render_ascii(x) for x in self.layouts],
                                                     "meta": self.meta})  # fmt: skip

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Rollouts:
        folder = Path(folder)
        with np.load(folder / "arrays.npz", allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        episodes = json.loads((folder / "episodes.json").read_text())
        labels = {k.removeprefix("label_"): v for k, v in arrays.items() if k.startswith("label_")}
        return cls(
            **{name: arrays[name] for name in _FIELDS}, labels=labels,
            layouts=[parse_ascii(text) for text in episodes["layouts"]], solved=arrays["solved"],
            state_h=arrays.get("state_h"), state_c=arrays.get("state_c"), meta=episodes["meta"],
        )  # fmt: skip


def collect_rollouts(
    agent: Agent,
    puzzles: Sequence[Puzzle],
    deterministic: bool = True,
    seed: int = 0,
    progress: bool = True,
) -> Rollouts:
    """Play each puzzle once with ``agent`` and label every step with the solver.

    Args:
        agent: The agent (feed-forward or recurrent).
        puzzles: Boards of the agent's size and robot count: layouts or ``(layout,
            optimal_length)`` pairs (`evaluation_puzzles`); lengths are not used.
        deterministic: Greedy actions (default) or sampled ones (seeded by ``seed``).
        seed: Seed for sampled actions.
        progress: Show a progress bar.

    Raises:
        TypeError: For ``puzzles`` in neither form (`gridlab.env.puzzles.as_layouts`).
        ValueError: For a board of another size or robot count than the agent's.
    """
    layouts = as_layouts(puzzles)
    torch.manual_seed(seed)
    env = agent.make_env()
    columns: dict[str, list[np.ndarray]] = {name: [] for name in (*_FIELDS, "state_h", "state_c")}
    labels: dict[str, list[np.ndarray]] = {
        name: [] for name in (*LABEL_NAMES, "agent_direction", "agent_horizon")
    }
    solved = []
    for index, layout in enumerate(tqdm(layouts, desc="rollouts", disable=not progress, leave=False)):
        obs, _ = env.reset(options={"layout": layout})
        state = None
        start = np.ones(1, dtype=bool)
        for t in range(env.max_steps):
            for name, value in state_labels(layout, env.robots).items():
                labels[name].append(value)
            if agent.is_recurrent:
                before = state if state is not None else agent.initial_state()
                columns["state_h"].append(before[0])
                columns["state_c"].append(before[1])
            action, state = agent.act(obs[None], state, start, deterministic=deterministic)
            start = np.zeros(1, dtype=bool)
            columns["obs"].append(obs)
            columns["robots"].append(np.array(env.robots))
            obs, reward, terminated, truncated, info = env.step(int(action[0]))
            for name, item in (("actions", action[0]), ("rewards", reward), ("episode", index), ("step", t)):
                columns[name].append(np.asarray(item))
            if terminated or truncated:
                break
        episode = np.stack(columns["robots"][-(t + 1) :]), np.stack(columns["actions"][-(t + 1) :])
        directions, horizons = agent_directions(layout, *episode)
        labels["agent_direction"].extend(directions)
        labels["agent_horizon"].extend(horizons)
        solved.append(bool(info["is_success"]))
    stacked = {k: np.stack(v) for k, v in columns.items() if v}
    return Rollouts(
        obs=stacked["obs"], actions=stacked["actions"].astype(np.int64),
        rewards=stacked["rewards"].astype(np.float32), episode=stacked["episode"].astype(np.int64),
        step=stacked["step"].astype(np.int64), robots=stacked["robots"].astype(np.int64),
        labels={k: np.stack(v) for k, v in labels.items()}, layouts=layouts,
        solved=np.array(solved), state_h=stacked.get("state_h"), state_c=stacked.get("state_c"),
        meta={"checkpoint": str(agent.path), "deterministic": deterministic, "seed": seed},
    )  # fmt: skip
