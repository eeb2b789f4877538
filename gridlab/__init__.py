"""gridlab: an interpretability-first workbench for RL agents that plan in Ricochet Robots.

>>> import gridlab
>>> run = gridlab.train(gridlab.TrainConfig(milestone="v1", total_timesteps=20_000))
>>> agent = gridlab.load(run.checkpoint)
"""

from gridlab.agent import Agent
from gridlab.training import Run, TrainConfig, train

__version__ = "0.1.0"


def load(path: str) -> Agent:
    """Open a checkpoint folder as an `Agent` (no code from the checkpoint is executed)."""
    return Agent.load(path)


__all__ = ["Agent", "Run", "TrainConfig", "__version__", "load", "train"]
