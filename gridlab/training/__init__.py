"""Training: `TrainConfig`, `train()`, callbacks, greedy evaluation, imitation and cloning of the solver.

Names load on first use: ``from gridlab.training import TrainConfig`` imports no torch.
"""

from typing import TYPE_CHECKING

from gridlab._lazy import lazy_exports

if TYPE_CHECKING:
    from gridlab.training.config import TrainConfig
    from gridlab.training.evaluation import EvaluationResult, evaluate, evaluation_puzzles, plot_history
    from gridlab.training.imitation import clone, imitate, solver_dataset
    from gridlab.training.stream import SolverStream
    from gridlab.training.train import Run, train

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
