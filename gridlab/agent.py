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
from stable_baselines3.common.policies import ActorCriticPolicy

from gridlab.checkpoints import read_checkpoint
from gridlab.env.board import FixedLayout
from gridlab.env.puzzle_bank import PuzzleBank, find_bank
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.env.spec import EnvSpec
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
from gridlab.models.registry import PolicySpec
from gridlab.training.config import TrainConfig
from gridlab.training.evaluation import EvaluationResult, evaluate, evaluation_puzzles
from gridlab.training.factory import env_kwargs, env_spec, policy_spec

State = tuple[np.ndarray | torch.Tensor, ...]  # (h, c) of a recurrent agent; checked to be a pair


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
        >>> agent = gridlab.load("checkpoints/v1_mlp")
        >>> env = agent.make_env()
        >>> obs, _ = env.reset(seed=0)
        >>> actions, state = agent.act(obs[None])
        >>> agent.evaluate(episodes=100).table()

    Every entry point checks its inputs against the agent: observations ``(batch,
    *observation_shape)`` (numpy or torch), recurrent states ``(n_layers, batch, hidden * H * W)``
    and episode starts ``(batch,)``; a mismatch is a ``ValueError`` that says what was expected.

    Attributes:
        policy: The SB3 policy network (a `HookedModule` for the ConvLSTM policy).
        config: The run's `TrainConfig`.
        env_spec: Its environment (`EnvSpec`).
        policy_spec: Its network (`PolicySpec`).
        metadata: The checkpoint's ``metadata.json`` (empty for an agent built in memory).
        path: The checkpoint folder (None for an agent built in memory).
    """

    def __init__(
        self,
        policy: ActorCriticPolicy,
        config: TrainConfig,
        env_spec: EnvSpec,
        policy_spec: PolicySpec,
        metadata: dict[str, Any] | None = None,
        path: Path | None = None,
    ) -> None:
        self.policy = policy
        self.config = config
        self.env_spec = env_spec
        self.policy_spec = policy_spec
        self.metadata = metadata or {}
        self.path = path
        self._bank: PuzzleBank | None = None

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> Agent:
        """Open a checkpoint folder; never unpickles anything from it."""
        checkpoint = read_checkpoint(path)
        config = TrainConfig.from_dict(checkpoint.metadata["config"])
        spec = checkpoint.env_spec
        policy = checkpoint.policy_spec.build(spec.observation_space(), spec.action_space())
        checkpoint.load_weights(policy)
        policy.to(device).eval()
        return cls(policy, config, spec, checkpoint.policy_spec, checkpoint.metadata, Path(path))

    @classmethod
    def from_policy(
        cls, policy: ActorCriticPolicy, config: TrainConfig, training: dict[str, Any] | None = None
    ) -> Agent:
        """An agent for a policy trained in memory for ``config`` (e.g. by `gridlab.training.imitate`).

        Args:
            policy: A network built for ``config`` (`policy_spec(config).build(...)`).
            config: The run it plays.
            training: What to keep as ``metadata["training"]`` (e.g. a loss curve).
        """
        env = RicochetRobotsEnv(**env_kwargs(config, "heldout"))
        spec = env_spec(env, config)
        if tuple(policy.observation_space.shape or ()) != spec.observation_shape:
            raise ValueError(
                f"the policy sees observations {policy.observation_space.shape}, the config's env gives "
                f"{spec.observation_shape}; build the policy for this config"
            )
        metadata = {"training": training or {}}
        return cls(policy.eval(), config, spec, policy_spec(config), metadata)

    @property
    def is_recurrent(self) -> bool:
        return self.policy_spec.entry.recurrent

    @property
    def bank(self) -> PuzzleBank | None:
        """The run's puzzle bank (None for milestone and random-board runs), found by its recorded
        path and content digest from any working directory (see `find_bank`)."""
        if self._bank is None and self.config.bank is not None:
            ref = self.env_spec.bank
            path, digest = (ref.path, ref.digest) if ref is not None else (self.config.bank, None)
            self._bank = find_bank(path, digest, near=() if self.path is None else (self.path,))
        return self._bank

    def act(
        self,
        obs: np.ndarray | torch.Tensor,
        state: State | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Actions for a batch of observations.

        Args:
            obs: ``(n_envs, *observation_shape)``.
            state: Recurrent state returned by the previous call (``None`` starts fresh).
            episode_start: ``(n_envs,)`` bools, True where an episode begins (resets the state).
            deterministic: Greedy actions (default) or samples.

        Returns:
            ``(actions, state)``: actions ``(n_envs,)``; the state is ``None`` for feed-forward policies.
        """
        batch = self._check_obs(obs)
        self._check_state(state, episode_start, batch)
        arrays = None if state is None else tuple(_numpy(s) for s in state)
        with torch.no_grad():
            return self.policy.predict(
                _numpy(obs), state=arrays, episode_start=episode_start, deterministic=deterministic
            )

    def make_env(self, split: str = "heldout", **overrides: Any) -> RicochetRobotsEnv:
        """An environment like the training one (bank runs draw from ``split``)."""
        return RicochetRobotsEnv(**(env_kwargs(self.config, split, self.bank) | overrides))

    def evaluation_puzzles(
        self, episodes: int | None = None, per_length: bool = False
    ) -> list[tuple[FixedLayout, int]]:
        """The run's held-out puzzles (see `gridlab.training.evaluation_puzzles`), from its own bank."""
        return evaluation_puzzles(self.config, episodes or self.config.eval_episodes, per_length, self.bank)

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
        result = evaluate(self.act, self.make_env(), self.evaluation_puzzles(episodes, per_length), progress)
        if out is not None:
            result.save(out)
        return result

    def randomized(self, seed: int = 0) -> Agent:
        """The same architecture with freshly initialised weights (the random-network baseline)."""
        torch.manual_seed(seed)
        policy = self.policy_spec.build(self.policy.observation_space, self.policy.action_space)
        agent = Agent(policy.to(self.policy.device).eval(), self.config, self.env_spec, self.policy_spec)
        agent._bank = self._bank
        return agent

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
        batch = self._check_obs(obs)
        self._check_state(state, episode_start, batch)
        obs_tensor = _tensor(obs, self.policy.device)
        if not self.is_recurrent:
            latent_pi, latent_vf = self.policy.mlp_extractor(self.policy.extract_features(obs_tensor))
            new_state = None
        else:
            h, c = self.initial_state(batch) if state is None else state
            starts = np.zeros(batch) if episode_start is None else np.asarray(episode_start, dtype=np.float32)
            starts_tensor = torch.as_tensor(starts, device=self.policy.device).float()
            latent_pi, latent_vf, new_state = self._recurrent_policy.latent(
                obs_tensor, (_tensor(h, self.policy.device), _tensor(c, self.policy.device)), starts_tensor
            )
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
        obs = np.zeros((1, *self.env_spec.observation_shape), dtype=self.env_spec.observation_dtype)
        _, cache = self.run_with_cache(obs)
        board = (self.env_spec.height, self.env_spec.width)
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
        shape = self._state_shape(batch)
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
        state: State | None = None,
        episode_start: np.ndarray | None = None,
        *,
        fwd_hooks: Sequence[tuple[str, HookFn]] = (),
    ) -> AgentOutput:
        """`forward` with ``(name_or_pattern, fn)`` hooks attached; they are removed afterwards,
        errors included. For hooks that outlive a call use ``with agent.hooks(fwd_hooks)``."""
        with torch.no_grad(), attach_hooks(self.policy, fwd_hooks):
            return self.forward(obs, state, episode_start)

    def hooks(self, fwd_hooks: Sequence[tuple[str, HookFn]]) -> contextlib.AbstractContextManager[None]:
        """Keep hooks attached for a whole ``with`` block (every forward, ``act`` and evaluation in it)."""
        return attach_hooks(self.policy, fwd_hooks)

    # -- input checks ------------------------------------------------------------------------------
    def _check_obs(self, obs: object) -> int:
        """The batch size of ``obs``; an error unless it is a batch of this agent's observations."""
        if not isinstance(obs, (np.ndarray, torch.Tensor)):
            raise TypeError(f"observations must be a numpy array or a torch tensor, got {type(obs).__name__}")
        expected = self.env_spec.observation_shape
        shape = tuple(obs.shape)
        if shape[1:] != expected:
            hint = "; add a batch axis with obs[None]" if shape == expected else ""
            raise ValueError(
                f"observations of shape {shape} do not fit this agent: it expects "
                f"(batch, {', '.join(map(str, expected))}) ({self.env_spec.describe()}){hint}"
            )
        real = obs.dtype.kind in "biuf" if isinstance(obs, np.ndarray) else not obs.is_complex()
        if not real:
            raise ValueError(f"observations must hold real numbers, got dtype {obs.dtype}")
        return shape[0]

    @property
    def _recurrent_policy(self) -> ConvLSTMPolicy:
        if not isinstance(self.policy, ConvLSTMPolicy):
            raise ValueError("this agent is feed-forward: it has no recurrent state; pass state=None")
        return self.policy

    def _state_shape(self, batch: int) -> tuple[int, int, int]:
        """``(n_layers, batch, hidden * H * W)``, the shape of each of ``h`` and ``c``."""
        drc = self._recurrent_policy.drc
        return drc.num_layers, batch, drc.hidden_size

    def _check_state(self, state: State | None, episode_start: np.ndarray | None, batch: int) -> None:
        if episode_start is not None and np.shape(episode_start) != (batch,):
            raise ValueError(
                f"episode_start must have shape ({batch},), one flag per observation; "
                f"got {np.shape(episode_start)}"
            )
        if state is None:
            return
        expected = self._state_shape(batch)
        if not isinstance(state, tuple) or len(state) != 2:
            raise ValueError(
                f"state must be a pair (h, c) of arrays shaped {expected}, got {type(state).__name__}"
            )
        for name, part in zip("hc", state, strict=True):
            if tuple(np.shape(part)) != expected:
                raise ValueError(
                    f"state {name} has shape {tuple(np.shape(part))}; expected {expected} "
                    f"(layers, batch of {batch} observations, hidden * H * W)"
                )

    def __repr__(self) -> str:
        steps = self.metadata.get("training", {}).get("num_timesteps")
        return f"Agent({self.policy_spec.policy}, {self.config.name()}, {steps} steps, from {self.path})"


def _numpy(value: np.ndarray | torch.Tensor) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _tensor(value: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """A float tensor on ``device``; tensors keep their autograd graph (captum differentiates through)."""
    if isinstance(value, torch.Tensor):
        return value.to(device).float()
    return torch.as_tensor(np.asarray(value), device=device).float()
