"""Feed-forward feature extractors for stable-baselines3 policies, built from hook points.

* `SmallCNN`: the seed's extractor: 3x3 convolutions with padding 1 (32, 64, 64 channels) so
  even 4x4 boards keep their size, global average pooling, a 128-unit linear layer.
  Hooks: ``hook_conv1``, ``hook_relu1``, ``hook_conv2``, ``hook_relu2``, ``hook_conv3``,
  ``hook_relu3`` (each ``(batch, channels, H, W)``), ``hook_pool`` ``(batch, 64)``,
  ``hook_fc``, ``hook_features`` ``(batch, 128)``.
* `MLP`: for symbolic observations and tiny boards: flatten, two 64-unit ReLU layers.
  Hooks: ``hook_fc1``, ``hook_relu1``, ``hook_fc2``, ``hook_relu2`` ``(batch, 64)``.

Every ReLU is its own module so captum's layer methods see each one. Both may compute in bf16
(`gridlab.models.precision`); their outputs are float32 either way. Use them through
``policy_kwargs`` (see `policy_kwargs_for`) with ``normalize_images=False``: observations are
already floats in ``[0, 1]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from gridlab.models.hooks import HookedModule, HookPoint
from gridlab.models.precision import MixedPrecision


def check_image_space(observation_space: spaces.Space, who: str) -> tuple[int, int, int]:
    """``(channels, H, W)`` of an image space (build envs with ``channels_first=True``)."""
    shape = getattr(observation_space, "shape", None)
    if not isinstance(observation_space, spaces.Box) or shape is None or len(shape) != 3:
        raise ValueError(
            f"{who} needs image observations (channels, H, W), got {observation_space}; "
            "use obs_mode='image' or the MLP extractor"
        )
    c, h, w = shape
    return int(c), int(h), int(w)


class SmallCNN(BaseFeaturesExtractor, HookedModule, MixedPrecision):
    """Three 3x3 convolutions (32, 64, 64), global average pooling, a linear layer.

    Args:
        observation_space: Channels-first image space ``(C, H, W)``.
        features_dim: Output size (128 in the seed).
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 128) -> None:
        super().__init__(observation_space, features_dim)
        channels, _, _ = check_image_space(observation_space, "SmallCNN")
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.fc = nn.Linear(64, features_dim)
        self.relu_fc = nn.ReLU()
        self.hook_conv1, self.hook_relu1 = HookPoint(), HookPoint()
        self.hook_conv2, self.hook_relu2 = HookPoint(), HookPoint()
        self.hook_conv3, self.hook_relu3 = HookPoint(), HookPoint()
        self.hook_pool, self.hook_fc, self.hook_features = HookPoint(), HookPoint(), HookPoint()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``(batch, C, H, W)`` -> ``(batch, features_dim)``, float32 at any precision."""
        with self.autocast():
            x = self.hook_relu1(self.relu1(self.hook_conv1(self.conv1(obs))))
            x = self.hook_relu2(self.relu2(self.hook_conv2(self.conv2(x))))
            x = self.hook_relu3(self.relu3(self.hook_conv3(self.conv3(x))))
            x = self.hook_pool(x.mean(dim=(2, 3)))
            return self.hook_features(self.relu_fc(self.hook_fc(self.fc(x)))).float()


class MLP(BaseFeaturesExtractor, HookedModule, MixedPrecision):
    """Flatten, then two ReLU layers.

    Args:
        observation_space: Any ``Box`` space (symbolic vectors or images).
        hidden: Width of both layers (and the output size).
    """

    def __init__(self, observation_space: spaces.Box, hidden: int = 64) -> None:
        super().__init__(observation_space, hidden)
        n_inputs = int(np.prod(observation_space.shape))
        self.fc1 = nn.Linear(n_inputs, hidden)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, hidden)
        self.relu2 = nn.ReLU()
        self.hook_fc1, self.hook_relu1 = HookPoint(), HookPoint()
        self.hook_fc2, self.hook_relu2 = HookPoint(), HookPoint()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``(batch, ...)`` -> ``(batch, hidden)``, float32 at any precision."""
        with self.autocast():
            x = self.hook_relu1(self.relu1(self.hook_fc1(self.fc1(obs.flatten(1).float()))))
            return self.hook_relu2(self.relu2(self.hook_fc2(self.fc2(x)))).float()


def policy_kwargs_for(extractor: str, **extractor_kwargs: Any) -> dict[str, Any]:
    """``policy_kwargs`` for SB3's ``PPO("MlpPolicy", ...)`` with a gridlab feed-forward extractor."""
    classes = {"mlp": MLP, "small_cnn": SmallCNN}
    if extractor not in classes:
        raise ValueError(f"unknown feed-forward extractor {extractor!r}; choose one of {', '.join(classes)}")
    return {
        "features_extractor_class": classes[extractor],
        "features_extractor_kwargs": extractor_kwargs,
        "normalize_images": False,
    }
