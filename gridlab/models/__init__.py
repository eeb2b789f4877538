"""Hookable models: hook points, SmallCNN / MLP extractors, the ConvLSTM (DRC) core and policy."""

from gridlab.models.convlstm import DRC, ConvLSTMCell
from gridlab.models.extractors import EXTRACTORS, MLP, SmallCNN, policy_kwargs_for, select_extractor
from gridlab.models.hooks import HookedModule, HookPoint
from gridlab.models.recurrent_policy import ConvEncoder, ConvLSTMPolicy

__all__ = [
    "DRC",
    "EXTRACTORS",
    "MLP",
    "ConvEncoder",
    "ConvLSTMCell",
    "ConvLSTMPolicy",
    "HookPoint",
    "HookedModule",
    "SmallCNN",
    "policy_kwargs_for",
    "select_extractor",
]
