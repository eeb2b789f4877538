"""Hookable models: hook points, SmallCNN / MLP extractors, the ConvLSTM (DRC) core and policy,
and the registry of policies a run can train (`gridlab.models.registry`).

Names load on first use: the registry and the ``auto`` rule import without torch.
"""

from typing import TYPE_CHECKING

from gridlab._lazy import lazy_exports

if TYPE_CHECKING:
    from gridlab.models.convlstm import DRC, ConvLSTMCell
    from gridlab.models.extractors import MLP, SmallCNN, policy_kwargs_for
    from gridlab.models.hooks import ActivationCache, HookedModule, HookPoint
    from gridlab.models.recurrent_policy import ConvEncoder, ConvLSTMPolicy
    from gridlab.models.registry import MODELS, ModelEntry, PolicySpec, select_policy

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
