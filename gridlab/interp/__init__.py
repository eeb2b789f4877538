"""Interpretability: solver labels, labelled rollouts, activation caches, linear probes, saliency.

Interventions arrive with the rest of this layer.
"""

from gridlab.interp.activations import RolloutActivations, cache_rollouts
from gridlab.interp.labels import LABEL_NAMES, state_labels
from gridlab.interp.probes import ProbeResult, probe
from gridlab.interp.rollouts import Rollouts, collect_rollouts
from gridlab.interp.saliency import attribute
from gridlab.models.hooks import ActivationCache

__all__ = [
    "LABEL_NAMES",
    "ActivationCache",
    "ProbeResult",
    "RolloutActivations",
    "Rollouts",
    "attribute",
    "cache_rollouts",
    "collect_rollouts",
    "probe",
    "state_labels",
]
