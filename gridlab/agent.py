"""`Agent`: a checkpoint opened for analysis, its policy rebuilt from metadata and safetensors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy

from gridlab.checkpoints import read_checkpoint
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.models.hooks import (
    ActivationCache,
    HookFn,
    HookPoint,
    attach_hooks,
    cache_activations,
    hook_points,
    resolve_hook_names,
)
from gridlab.models.recurrent_policy import ConvLSTMPolicy
from gridlab.training.config import TrainConfig
from gridlab.training.evaluation import EvaluationResult, evaluate, evaluation_puzzles
from gridlab.training.factory import build_policy, env_kwargs

State = tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]


@dataclass
class AgentOutput:
    """One forward pass of an agent.

    Attributes:
        logits: ``(batch, n_actions)`` action logits.
        value: ``(batch,)`` state values.
        state: Next recurrent ``(h, c)``, each ``(n_layers, batch, hidden * H * W)``; None for
            feed-forward agents.
    """

    logits: torch.Tensor
    value: torch.Tensor
    state: tuple[torch.Tensor, torch.Tensor] | None


class Agent:
    """A trained policy with its configuration and environment, loaded from a checkpoint.

    Example:
        >>> agent = gridlab.load("checkpoints/v1-mlp")
        >>> env = agent.make_env()
        >>> obs, _ = env.reset(seed=0)
        >>> actions, state = agent.act(obs[None])
        >>> agent.evaluate(episodes=100).table()

    Attributes:
        policy: The SB3 policy network (a `HookedModule` for the ConvLSTM policy).
        config: The run's `TrainConfig`.
        metadata: The checkpoint's ``metadata.json``.
        path: The checkpoint folder.
    """

    def __init__(
        self,
        policy: ActorCriticPolicy,
        config: TrainConfig,
        metadata: dict[str, Any],
        path: Path | None = None,
    ) -> None:
        self.policy = policy
        self.config = config
        self.metadata = metadata
        self.path = path

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> Agent:
        """Open a checkpoint folder; never unpickles anything from it."""
        checkpoint = read_checkpoint(path)
        meta = checkpoint.metadata
        config = TrainConfig.from_dict(meta["config"])
        spec = meta["env_spec"]
        dtype = np.dtype(spec["observation_dtype"])
        high = 255 if dtype == np.uint8 else 1.0
        observation_space = spaces.Box(0, high, shape=tuple(spec["observation_shape"]), dtype=dtype)
        policy = build_policy(meta["policy_spec"], observation_space, spaces.Discrete(spec["n_actions"]))
        checkpoint.load_weights(policy)
        policy.to(device).eval()
        return cls(policy, config, meta, Path(path))

    @property
    def is_recurrent(self) -> bool:
        return isinstance(self.policy, ConvLSTMPolicy)

    def act(
        self,
        obs: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """Actions for a batch of observations.

        Args:
            obs: ``(n_envs, *observation_shape)``.
            state: Recurrent state returned by the previous call (``None`` starts fresh).
            episode_start: ``(n_envs,)`` bools, True where an episode begins (resets the state).
            deterministic: Greedy actions (default) or samples.

        Returns:
            ``(actions, state)``: actions ``(n_envs,)``; the state is ``None`` for feed-forward policies.
        """
        with torch.no_grad():
            return self.policy.predict(
                obs, state=state, episode_start=episode_start, deterministic=deterministic
            )

    def make_env(self, split: str = "heldout", **overrides: Any) -> RicochetRobotsEnv:
        """An environment like the training one (bank runs draw from ``split``)."""
        return RicochetRobotsEnv(**(env_kwargs(self.config, split) | overrides))

    def evaluate(
        self,
        episodes: int | None = None,
        out: str | os.PathLike | None = None,
        progress: bool = True,
        per_length: bool = False,
    ) -> EvaluationResult:
        """Greedy evaluation on the run's held-out puzzles (see `evaluation_puzzles`).

        Args:
            episodes: Puzzles to play (default: the config's ``eval_episodes``); with
                ``per_length``, puzzles of each optimal length.
            out: Also write the result as JSON here.
            progress: Show a progress bar.
            per_length: Draw the same number of puzzles at every optimal length (needs a bank).
        """
        puzzles = evaluation_puzzles(self.config, episodes or self.config.eval_episodes, per_length)
        result = evaluate(self.act, self.make_env(), puzzles, progress)
        if out is not None:
            result.save(out)
        return result

    def randomized(self, seed: int = 0) -> Agent:
        """The same architecture with freshly initialised weights (the random-network baseline)."""
        torch.manual_seed(seed)
        spec = self.metadata["policy_spec"]
        policy = build_policy(spec, self.policy.observation_space, self.policy.action_space)
        return Agent(policy.to(self.policy.device).eval(), self.config, self.metadata, None)

    # -- activations -----------------------------------------------------------------------------
    def forward(
        self,
        obs: np.ndarray | torch.Tensor,
        state: State | None = None,
        episode_start: np.ndarray | None = None,
    ) -> AgentOutput:
        """The policy's action logits, value and next recurrent state for a batch of observations.

        Args:
            obs: ``(batch, *observation_shape)``.
            state: Recurrent ``(h, c)``, each ``(n_layers, batch, hidden * H * W)``; zeros if None.
            episode_start: ``(batch,)``, True where an episode begins (zeroes the state).
        """
        obs_tensor = _tensor(obs, self.policy.device)
        batch = obs_tensor.shape[0]
        if not self.is_recurrent:
            latent_pi, latent_vf = self.policy.mlp_extractor(self.policy.extract_features(obs_tensor))
            new_state = None
        else:
            if state is None:
                state = self.initial_state(batch)
            state = tuple(_tensor(s, self.policy.device) for s in state)
            starts = np.zeros(batch) if episode_start is None else np.asarray(episode_start, dtype=np.float32)
            starts_tensor = torch.as_tensor(starts, device=self.policy.device).float()
            latent_pi, latent_vf, new_state = self.policy.latent(obs_tensor, state, starts_tensor)
        return AgentOutput(
            self.policy.action_net(latent_pi), self.policy.value_net(latent_vf)[:, 0], new_state
        )

    def hook_names(self) -> list[str]:
        """Every hook point of the policy, e.g. ``features_extractor.hook_relu2`` or
        ``drc.layers.0.hook_h.2`` (layer 0's hidden state at tick 2)."""
        return list(hook_points(self.policy))

    def resolve_hook_names(self, names: str | Sequence[str] | Callable[[str], bool] | None) -> list[str]:
        """Hook names matching names, shell patterns or a predicate; unknown names raise ``ValueError``."""
        return resolve_hook_names(self.policy, names)

    def spatial_hook_names(self) -> list[str]:
        """Hooks whose activation is a ``(batch, C, H, W)`` map over the board's cells (the ones
        square-level probes and cell-wise interventions apply to)."""
        obs, _ = self.make_env().reset(seed=0)
        _, cache = self.run_with_cache(obs[None])
        board = tuple(self.policy.observation_space.shape[-2:])
        return [name for name, x in cache.items() if x.ndim == 4 and tuple(x.shape[-2:]) == board]

    def hook_point(self, name: str) -> HookPoint:
        """The one hook point called ``name``; ``ValueError`` for an unknown name or a pattern."""
        points = hook_points(self.policy)
        if name not in points:
            matches = resolve_hook_names(self.policy, name)  # raises for a name that matches nothing
            raise ValueError(f"expected one hook name, got {name!r} matching {len(matches)} hooks: {matches}")
        return points[name]

    def initial_state(self, batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Zero recurrent ``(h, c)``, each ``(n_layers, batch, hidden * H * W)`` (recurrent agents)."""
        if not self.is_recurrent:
            raise ValueError("this agent is feed-forward: it has no recurrent state")
        shape = (self.policy.drc.num_layers, batch, self.policy.drc.hidden_size)
        return np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=np.float32)

    def run_with_cache(
        self,
        obs: np.ndarray | torch.Tensor,
        state: State | None = None,
        episode_start: np.ndarray | None = None,
        names_filter: str | Sequence[str] | Callable[[str], bool] | None = None,
    ) -> tuple[AgentOutput, ActivationCache]:
        """`forward` keeping a detached copy of each selected activation (names or patterns)."""
        with torch.no_grad():
            return cache_activations(
                self.policy, lambda: self.forward(obs, state, episode_start), names_filter
            )

    def run_with_hooks(
        self,
        obs: np.ndarray | torch.Tensor,
        hooks: Sequence[tuple[str, HookFn]],
        state: State | None = None,
        episode_start: np.ndarray | None = None,
    ) -> AgentOutput:
        """`forward` with ``(name_or_pattern, fn)`` hooks attached; they are removed afterwards,
        errors included. For hooks that outlive a call use ``with agent.hooks(...)``."""
        with torch.no_grad(), attach_hooks(self.policy, hooks):
            return self.forward(obs, state, episode_start)

    def hooks(self, hooks: Sequence[tuple[str, HookFn]]) -> contextlib.AbstractContextManager[None]:
        """Keep hooks attached for a whole ``with`` block (every forward, ``act`` and evaluation in it)."""
        return attach_hooks(self.policy, hooks)

    def __repr__(self) -> str:
        spec = self.metadata["policy_spec"]
        steps = self.metadata["training"].get("num_timesteps")
        return f"Agent({spec['policy']}, {self.config.name()}, {steps} steps, from {self.path})"


def _tensor(value: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """A float tensor on ``device``; tensors keep their autograd graph (captum differentiates through)."""
    if isinstance(value, torch.Tensor):
        return value.to(device).float()
    return torch.as_tensor(np.asarray(value), device=device).float()
