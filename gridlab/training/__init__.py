"""Training: `TrainConfig`, `train()`, callbacks and greedy evaluation."""

from gridlab.training.config import TrainConfig
from gridlab.training.evaluation import EvaluationResult, evaluate, evaluation_puzzles, plot_history
from gridlab.training.train import Run, train

__all__ = [
    "EvaluationResult",
    "Run",
    "TrainConfig",
    "evaluate",
    "evaluation_puzzles",
    "plot_history",
    "train",
]
