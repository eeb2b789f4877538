"""Interpretability: solver labels, labelled rollouts, activation caches, linear probes,
saliency and interventions."""

from gridlab.interp.activations import RolloutActivations, cache_rollouts
from gridlab.interp.interventions import InterventionEffect, ablate, patch, steer, steering_success
from gridlab.interp.labels import LABEL_NAMES, state_labels
from gridlab.interp.probes import ProbeResult, probe
from gridlab.interp.rollouts import Rollouts, collect_rollouts
from gridlab.interp.saliency import attribute
from gridlab.models.hooks import ActivationCache

__all__ = [
    "LABEL_NAMES",
    "ActivationCache",
    "InterventionEffect",
    "ProbeResult",
    "RolloutActivations",
    "Rollouts",
    "ablate",
    "attribute",
    "cache_rollouts",
    "collect_rollouts",
    "patch",
    "probe",
    "state_labels",
    "steer",
    "steering_success",
]
