"""The policies a run can train, in one place: name, algorithm, options, SB3 policy class, builder.

Adding a model is one `ModelEntry` in `MODELS` (and, for new size options, the `TrainConfig`
fields its ``options`` name). Everything else (config validation, the ``gridlab train --policy``
choices, checkpoints' `PolicySpec`, rebuilding a policy in `gridlab.load`, choosing PPO or
RecurrentPPO) reads the registry. This module imports torch only when a policy is built.

Example:
    >>> spec = PolicySpec("small_cnn", {"features_dim": 128})
    >>> policy = spec.build(observation_space, action_space)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gridlab.env.observations import OBS_MODES
from gridlab.records import record_from_dict, record_to_dict

if TYPE_CHECKING:
    from gymnasium import spaces
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO
    from stable_baselines3.common.policies import ActorCriticPolicy

_IMAGES = ("image", "rgb")


@dataclass(frozen=True)
class ModelEntry:
    """One trainable policy architecture.

    Attributes:
        name: The ``TrainConfig.policy`` value that picks it.
        algorithm: ``"PPO"`` (feed-forward) or ``"RecurrentPPO"`` (recurrent state).
        options: Its options: builder keyword -> the `TrainConfig` field that sets it.
        obs_modes: Observation encodings it accepts.
        policy_kwargs: Builder keywords -> ``(SB3 policy class, policy_kwargs)``; imports torch.
        added: Options added after checkpoints were saved without them, with the value those
            checkpoints were trained with (`PolicySpec` fills them in).
    """

    name: str
    algorithm: str
    options: Mapping[str, str]
    obs_modes: tuple[str, ...]
    policy_kwargs: Callable[[Mapping[str, int | bool]], tuple[type[ActorCriticPolicy], dict[str, Any]]]
    added: Mapping[str, int | bool] = field(default_factory=dict)

    @property
    def recurrent(self) -> bool:
        return self.algorithm == "RecurrentPPO"

    def algorithm_class(self) -> type[PPO] | type[RecurrentPPO]:
        """``stable_baselines3.PPO`` or ``sb3_contrib.RecurrentPPO``."""
        if self.recurrent:
            from sb3_contrib import RecurrentPPO

            return RecurrentPPO
        from stable_baselines3 import PPO

        return PPO


def _feed_forward(
    extractor: str,
) -> Callable[[Mapping[str, int | bool]], tuple[type[ActorCriticPolicy], dict[str, Any]]]:
    def build(kwargs: Mapping[str, int | bool]) -> tuple[type[ActorCriticPolicy], dict[str, Any]]:
        from stable_baselines3.common.policies import ActorCriticPolicy

        from gridlab.models.extractors import policy_kwargs_for

        return ActorCriticPolicy, policy_kwargs_for(extractor, **kwargs)

    return build


def _convlstm(kwargs: Mapping[str, int | bool]) -> tuple[type[ActorCriticPolicy], dict[str, Any]]:
    from gridlab.models.recurrent_policy import ConvLSTMPolicy

    return ConvLSTMPolicy, dict(kwargs)


_DRC_OPTIONS = {
    "encoder_channels": "drc_encoder", "hidden_channels": "drc_hidden", "n_layers": "drc_layers",
    "n_ticks": "drc_ticks", "output_dim": "drc_output", "fence": "drc_fence", "coords": "drc_coords",
    "strip_pool": "drc_strip_pool",
}  # fmt: skip
_DRC_ADDED = {"fence": False, "coords": False, "strip_pool": False}
MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry("mlp", "PPO", {"hidden": "mlp_hidden"}, OBS_MODES, _feed_forward("mlp")),
        ModelEntry("small_cnn", "PPO", {"features_dim": "cnn_features"}, _IMAGES, _feed_forward("small_cnn")),
        ModelEntry("convlstm", "RecurrentPPO", _DRC_OPTIONS, ("image",), _convlstm, _DRC_ADDED),
    )
}  # fmt: skip


def model_entry(name: str) -> ModelEntry:
    """The registered model called ``name``; ``ValueError`` lists the registered ones."""
    if name not in MODELS:
        raise ValueError(f"unknown policy {name!r}; registered policies: {', '.join(MODELS)}")
    return MODELS[name]


def select_policy(obs_mode: str, height: int, width: int, milestone: str | None = None) -> str:
    """The seed's ``auto`` rule: symbolic observations, boards under 8 cells a side and the v0/v1
    milestones get the MLP; other image observations get SmallCNN."""
    tiny = min(height, width) < 8 or milestone in ("v0", "v1")
    return "small_cnn" if obs_mode == "image" and not tiny else "mlp"


@dataclass(frozen=True)
class PolicySpec:
    """What a checkpoint records to rebuild its policy network: the model and its options.

    Attributes:
        policy: A name in `MODELS`.
        kwargs: The model's options (its `ModelEntry.options` keys), e.g. ``{"features_dim": 128}``;
            options added since a checkpoint was saved take their `ModelEntry.added` values.
        algorithm: The learner (derived from the model; stored for readers of the JSON).
    """

    policy: str
    kwargs: dict[str, int | bool] = field(default_factory=dict)
    algorithm: str = ""

    def __post_init__(self) -> None:
        entry = model_entry(self.policy)
        added = {option: value for option, value in entry.added.items() if option not in self.kwargs}
        object.__setattr__(self, "kwargs", self.kwargs | added)
        if set(self.kwargs) != set(entry.options):
            raise ValueError(
                f"policy {self.policy!r} takes the options {sorted(entry.options)}, got {sorted(self.kwargs)}"
            )
        if self.algorithm not in ("", entry.algorithm):
            raise ValueError(f"policy {self.policy!r} trains with {entry.algorithm}, not {self.algorithm!r}")
        object.__setattr__(self, "algorithm", entry.algorithm)

    @property
    def entry(self) -> ModelEntry:
        return MODELS[self.policy]

    def build(self, observation_space: spaces.Space, action_space: spaces.Space) -> ActorCriticPolicy:
        """A freshly initialised policy network (weights are loaded by the caller)."""
        policy_class, policy_kwargs = self.entry.policy_kwargs(self.kwargs)
        return policy_class(observation_space, action_space, lambda _: 0.0, **policy_kwargs)

    def to_dict(self) -> dict[str, Any]:
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, data: object, where: str = "policy_spec") -> PolicySpec:
        """Parse and validate (``ValueError`` says which field of ``where`` is wrong)."""
        return record_from_dict(cls, data, where)
