"""Activations of a whole rollout set, computed in batches and kept in memory or on disk.

Every step of `Rollouts` stores the observation and (for recurrent agents) the state the agent
held before acting, so each step's activations are a function of that pair alone: steps are
batched freely, in any order, and give exactly what the agent computed while playing.

`cache_rollouts(agent, rollouts, names_filter)` returns `RolloutActivations`: arrays of shape
``(T, *activation_shape)`` by hook name. With ``out=FOLDER`` each array is written into a
``.npy`` file as batches arrive, and reading it back with `RolloutActivations.load` maps the
files lazily instead of loading them. Without ``out``, a cache larger than ``max_memory_bytes``
is streamed the same way into a new temporary folder (its path is ``result.folder``), so sets
larger than memory still fit.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
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
