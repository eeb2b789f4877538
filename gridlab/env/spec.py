"""`EnvSpec`: what a checkpoint records about its environment, typed and validated.

It is enough to rebuild the policy's observation and action spaces and an environment of the
same family: board size, robots, observation encoding, actions, episode length, and where the
boards came from (a milestone, or a puzzle bank recorded by path *and* content digest, so the
bank is found again from any working directory with `gridlab.env.puzzle_bank.find_bank`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from gridlab.records import record_from_dict, record_to_dict


@dataclass(frozen=True)
class BankRef:
    """A puzzle bank as a run used it.

    Attributes:
        path: The path the run's config gave (often relative to the project, e.g. ``banks/8x8-2``).
        digest: `PuzzleBank.digest` of its content (None in checkpoints written before it was recorded).
    """

    path: str
    digest: str | None = None


@dataclass(frozen=True)
class EnvSpec:
    """An environment family, as stored in a checkpoint's ``metadata.json`` (``env_spec``).

    Attributes:
        height, width, num_robots: The boards.
        obs_mode: ``"image"``, ``"symbolic"`` or ``"rgb"``.
        channels_first: Channel axis first for image and RGB observations.
        channel_names: Image channels in order (`gridlab.env.observations.channel_names`).
        observation_shape: One observation's shape.
        observation_dtype: ``"float32"`` or ``"uint8"`` (RGB).
        n_actions: ``4 * num_robots`` (+1 with the no-op).
        include_noop: Whether the last action is a no-op.
        max_steps: Steps before truncation.
        milestone: The milestone trained on, if any.
        bank: The puzzle bank trained on, if any.
    """

    height: int
    width: int
    num_robots: int
    obs_mode: str
    channels_first: bool
    channel_names: tuple[str, ...]
    observation_shape: tuple[int, ...]
    observation_dtype: str
    n_actions: int
    include_noop: bool
    max_steps: int
    milestone: str | None = None
    bank: BankRef | None = None

    def observation_space(self) -> spaces.Box:
        dtype = np.dtype(self.observation_dtype)
        high = 255 if dtype == np.uint8 else 1.0
        return spaces.Box(0, high, shape=self.observation_shape, dtype=dtype)  # type: ignore[arg-type]

    def action_space(self) -> spaces.Discrete:
        return spaces.Discrete(self.n_actions)

    def describe(self) -> str:
        """E.g. ``"8x8 boards with 2 robots, obs_mode 'image', observations (8, 8, 8)"``."""
        return (
            f"{self.height}x{self.width} boards with {self.num_robots} robots, obs_mode {self.obs_mode!r}, "
            f"observations {self.observation_shape}"
        )

    def to_dict(self) -> dict[str, Any]:
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, data: object, where: str = "env_spec") -> EnvSpec:
        """Parse and validate (``ValueError`` says which field of ``where`` is wrong)."""
        return record_from_dict(cls, data, where)
