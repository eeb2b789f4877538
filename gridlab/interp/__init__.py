"""Interpretability: labelled rollouts (more tools arrive with the rest of the layer)."""

from gridlab.interp.labels import LABEL_NAMES, state_labels
from gridlab.interp.rollouts import Rollouts, collect_rollouts

__all__ = ["LABEL_NAMES", "Rollouts", "collect_rollouts", "state_labels"]
