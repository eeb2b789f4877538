"""Activations of a whole rollout set, computed in batches and kept in memory or on disk.

Every step of `Rollouts` stores the observation and (for recurrent agents) the state the agent
held before acting, so each step's activations are a function of that pair alone: steps are
batched freely, in any order, and give exactly what the agent computed while playing.

A different network of the same architecture (the random-network baseline) must not be fed the
recorded states of the agent that played: `with_own_states(network, rollouts)` replays each
episode's observations through ``network`` and records the states *it* holds.

`cache_rollouts(agent, rollouts, names_filter)` returns `RolloutActivations`: arrays of shape
``(T, *activation_shape)`` by hook name. With ``out=FOLDER`` each array is written into a
``.npy`` file as batches arrive, and reading it back with `RolloutActivations.load` maps the
files lazily instead of loading them. Without ``out``, a cache larger than ``max_memory_bytes``
is streamed the same way into a new temporary folder (its path is ``result.folder``), so sets
larger than memory still fit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gridlab.agent import Agent
from gridlab.files import atomic_write_json
from gridlab.interp.rollouts import Rollouts

_INDEX = "activations.json"


class RolloutActivations(Mapping[str, np.ndarray]):
    """Activations by hook name, each ``(steps, ...)``; a read-only mapping.

    Attributes:
        folder: Where the arrays live on disk, or None when they are in memory.
    """

    def __init__(self, arrays: dict[str, np.ndarray], folder: Path | None = None) -> None:
        self._arrays = arrays
        self.folder = folder

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            raise KeyError(f"no activation {name!r}; cached: {', '.join(self._arrays)}")
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> RolloutActivations:
        """Open a folder written by `cache_rollouts`; arrays are memory-mapped, read on access."""
        folder = Path(folder)
        index_file = folder / _INDEX
        if not index_file.is_file():
            raise FileNotFoundError(f"no cached activations at {folder} (missing {_INDEX})")
        index = json.loads(index_file.read_text())
        arrays = {name: np.load(folder / file, mmap_mode="r") for name, file in index["files"].items()}
        return cls(arrays, folder)


def with_own_states(agent: Agent, rollouts: Rollouts) -> Rollouts:
    """``rollouts`` with the recurrent states ``agent`` itself holds when fed their observations.

    Each episode starts from zeros and runs ``agent`` over its own steps in order; episodes are
    batched side by side. A feed-forward agent needs no state: ``rollouts`` come back unchanged.
    For the agent that played, the result equals the recorded states.
    """
    if not agent.is_recurrent:
        return rollouts
    first = np.flatnonzero(rollouts.step == 0)
    lengths = np.diff(np.append(first, len(rollouts)))
    if not (np.array_equal(rollouts.step, np.concatenate([np.arange(n) for n in lengths]))):
        raise ValueError("rollouts must hold whole episodes in order (steps 0, 1, ... of each)")
    h, c = agent.initial_state(len(first))
    state_h = np.empty((len(rollouts), h.shape[0], 1, h.shape[2]), dtype=np.float32)
    state_c = np.empty_like(state_h)
    for t in range(int(lengths.max())):
        live = np.flatnonzero(lengths > t)  # episodes still running at step t
        rows = first[live] + t
        state_h[rows, :, 0] = h[:, live].transpose(1, 0, 2)
        state_c[rows, :, 0] = c[:, live].transpose(1, 0, 2)
        with torch.no_grad():
            output = agent.forward(rollouts.obs[rows], (h[:, live], c[:, live]), np.full(len(live), t == 0))
        assert output.state is not None  # a recurrent agent
        h[:, live], c[:, live] = (s.numpy() for s in output.state)
    return dataclasses.replace(rollouts, state_h=state_h, state_c=state_c)


def cache_rollouts(
    agent: Agent,
    rollouts: Rollouts,
    names_filter: str | Sequence[str] | Callable[[str], bool] | None = None,
    batch_size: int = 512,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    max_memory_bytes: int = 2 << 30,
) -> RolloutActivations:
    """Compute the selected activations for every step of ``rollouts``.

    Args:
        agent: The agent that produced the rollouts (or another of the same architecture).
        rollouts: Steps to cache.
        names_filter: Hook names, patterns or a predicate (all hooks by default).
        batch_size: Steps per forward pass.
        out: Folder to stream the arrays into (float32 ``.npy`` files); in memory when None,
            unless the cache would exceed ``max_memory_bytes``.
        progress: Show a progress bar.
        max_memory_bytes: Largest cache kept in memory when ``out`` is None.
    """
    total = len(rollouts)
    arrays: dict[str, np.ndarray] = {}
    folder = None if out is None else Path(out)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for begin in tqdm(range(0, total, batch_size), desc="cache", disable=not progress, leave=False):
        end = min(begin + batch_size, total)
        state = None
        if agent.is_recurrent:  # (steps, layers, 1, hidden) -> (layers, steps, hidden)
            if rollouts.state_h is None or rollouts.state_c is None:
                raise ValueError(
                    "these rollouts hold no recurrent states (a feed-forward agent collected them); "
                    "collect them with this recurrent agent"
                )
            state = tuple(s[begin:end, :, 0].transpose(1, 0, 2) for s in (rollouts.state_h, rollouts.state_c))
        _, cache = agent.run_with_cache(rollouts.obs[begin:end], state=state, names_filter=names_filter)
        if begin == 0 and folder is None:
            needed = 4 * total * sum(int(np.prod(v.shape[1:])) for v in cache.values())
            if needed > max_memory_bytes:  # too big for memory: stream to disk instead
                folder = Path(tempfile.mkdtemp(prefix="gridlab-activations-"))
        for name, value in cache.items():
            if name not in arrays:
                shape = (total, *value.shape[1:])
                if folder is None:
                    arrays[name] = np.empty(shape, dtype=np.float32)
                else:
                    files[name] = f"{len(files):03d}_{name}.npy"
                    arrays[name] = np.lib.format.open_memmap(folder / files[name], "w+", np.float32, shape)
            arrays[name][begin:end] = value.numpy()
    if folder is None:
        return RolloutActivations(arrays)
    for array in arrays.values():
        assert isinstance(array, np.memmap)  # streamed to disk: every array is a memmap
        array.flush()
    atomic_write_json(folder / _INDEX, {"files": files, "steps": total, "checkpoint": str(agent.path)})
    return RolloutActivations.load(folder)
