"""gridlab: an interpretability-first workbench for RL agents that plan in Ricochet Robots.

>>> import gridlab
>>> run = gridlab.train(gridlab.TrainConfig(milestone="v1", total_timesteps=20_000))
>>> agent = gridlab.load(run.checkpoint)

Names load on first use, so ``import gridlab`` is quick and the command line starts fast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gridlab._lazy import lazy_exports

if TYPE_CHECKING:
    from gridlab.agent import Agent
    from gridlab.sweeps import Sweep, read_sweep, resume_sweep, sweep
    from gridlab.training import Run, TrainConfig, train

__version__ = "0.1.0"


def load(path: str | os.PathLike[str]) -> Agent:
    """Open a checkpoint folder as an `Agent` (no code from the checkpoint is executed)."""
    from gridlab.agent import Agent

    return Agent.load(path)


__getattr__, __dir__, _exports = lazy_exports(__name__, __file__)
__all__ = [*_exports, "__version__", "load"]
