"""`ChunkedRecurrentPPO`: sb3-contrib's ``RecurrentPPO`` trained on whole fixed-length chunks.

sb3-contrib cuts every minibatch at episode starts, pads the pieces to the longest one and
walks them one time step at a time: with 8-step episodes and a 30-step time limit most of the
work is padding, at a handful of sequences per step. Our recurrent policies zero their state
at episode starts *inside* a sequence (`gridlab.models.convlstm.DRC.forward`), so no cut is
needed: `ChunkedRolloutBuffer` splits each env's rollout into chunks of ``bptt_length`` steps
(truncated back-propagation through time), stores the recurrent state only where a chunk
begins, and serves minibatches of whole shuffled chunks, ``batch_size / bptt_length`` sequences
per time step, with no padding.

Only the buffer changes. Rollout collection and the loss are ``RecurrentPPO``'s own (its mask
is all ones here, so its masked means are plain means); ``_setup_model`` is overridden only to
build this buffer instead of sb3-contrib's, which would hold four copies of the state at
every step.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.buffers import RecurrentRolloutBuffer
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RecurrentRolloutBufferSamples, RNNStates
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.utils import FloatSchedule


class ChunkedRolloutBuffer(RecurrentRolloutBuffer):
    """Rollout buffer that serves whole chunks of ``chunk_length`` steps of one env.

    A subclass of sb3-contrib's buffer only so that ``RecurrentPPO.collect_rollouts`` accepts it;
    it keeps the recurrent state at chunk starts alone, ``(n_steps / chunk_length, n_layers,
    n_envs, hidden)`` for ``h`` and for ``c``.

    Args:
        buffer_size: Steps per env (``n_steps``), a multiple of ``chunk_length``.
        observation_space, action_space: The env's spaces.
        state_shape: ``(n_layers, n_envs, hidden)`` of one recurrent state tensor.
        chunk_length: Steps per training sequence.
        device, gae_lambda, gamma, n_envs: As for SB3's ``RolloutBuffer``.
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        state_shape: tuple[int, int, int],
        chunk_length: int,
        device: torch.device | str = "auto",
        gae_lambda: float = 1.0,
        gamma: float = 0.99,
        n_envs: int = 1,
    ) -> None:
        if buffer_size % chunk_length:
            raise ValueError(f"n_steps ({buffer_size}) must be a multiple of bptt_length ({chunk_length})")
        self.chunk_length = chunk_length
        self.teacher_probs: np.ndarray | None = None
        """A kickstarting teacher's action probabilities ``(n_steps, n_envs, n_actions)`` at every
        step of this rollout (set after collection; see `gridlab.training.kickstart`)."""
        self.served_teacher_probs: torch.Tensor | None = None
        """Those of the last minibatch served, in its order: ``(n_seq * chunk_length, n_actions)``."""
        self._chunks: dict[str, torch.Tensor] = {}
        self._chunk_states: tuple[torch.Tensor, torch.Tensor] | None = None
        hidden_state_shape = (buffer_size // chunk_length, *state_shape)
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            hidden_state_shape,
            device,
            gae_lambda,
            gamma,
            n_envs,
        )

    def reset(self) -> None:
        RolloutBuffer.reset(self)
        self.hidden_states = np.zeros(self.hidden_state_shape, dtype=np.float32)
        self.cell_states = np.zeros(self.hidden_state_shape, dtype=np.float32)
        self._chunks, self._chunk_states = {}, None
        self.teacher_probs = self.served_teacher_probs = None

    def add(self, *args: Any, lstm_states: RNNStates, **kwargs: Any) -> None:  # type: ignore[override]
        """`RolloutBuffer.add`, keeping the actor's state before this step if a chunk starts here."""
        if self.pos % self.chunk_length == 0:
            self.hidden_states[self.pos // self.chunk_length] = lstm_states.pi[0].cpu().numpy()
            self.cell_states[self.pos // self.chunk_length] = lstm_states.pi[1].cpu().numpy()
        RolloutBuffer.add(self, *args, **kwargs)

    def get(  # type: ignore[override]  # sb3-contrib's recurrent samples, as its own buffer returns
        self, batch_size: int | None = None
    ) -> Generator[RecurrentRolloutBufferSamples, None, None]:
        """Minibatches of ``batch_size // chunk_length`` whole chunks, in a fresh random order.

        Each sample is sequence-major, as ``RecurrentPPO``'s policies read it: observations
        ``(n_seq * chunk_length, *obs_shape)`` (chunk by chunk, in time order within each), the
        state at each chunk's start ``(n_layers, n_seq, hidden)`` (the critic's is the actor's),
        and a mask of ones.
        """
        assert self.full, "Rollout buffer must be full before sampling from it"
        if not self._chunks:
            self._chunks, self._chunk_states = self._as_chunks()
        n_chunks = self.n_envs * self.buffer_size // self.chunk_length
        per_batch = n_chunks if batch_size is None else max(batch_size // self.chunk_length, 1)
        order = torch.as_tensor(np.random.permutation(n_chunks), device=self.device)
        for start in range(0, n_chunks, per_batch):
            yield self._get_samples(order[start : start + per_batch])  # type: ignore[call-arg, arg-type]

    def _get_samples(self, chunks: torch.Tensor) -> RecurrentRolloutBufferSamples:  # type: ignore[override]
        data = {name: tensor[chunks].flatten(0, 1) for name, tensor in self._chunks.items()}
        assert self._chunk_states is not None  # set with the chunks
        h, c = (states[:, chunks] for states in self._chunk_states)
        self.served_teacher_probs = data.get("teacher_probs")
        return RecurrentRolloutBufferSamples(
            observations=data["observations"], actions=data["actions"], old_values=data["values"],
            old_log_prob=data["log_probs"], advantages=data["advantages"], returns=data["returns"],
            lstm_states=RNNStates((h, c), (h, c)), episode_starts=data["episode_starts"],
            mask=torch.ones_like(data["returns"]),
        )  # fmt: skip

    def _as_chunks(self) -> tuple[dict[str, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """Every array as a tensor indexed by chunk: ``(n_chunks, chunk_length, ...)``, chunk ``k``
        of env ``e`` at ``k * n_envs + e``; the states as ``(n_layers, n_chunks, hidden)``."""
        n_per_env, length = self.buffer_size // self.chunk_length, self.chunk_length

        def by_chunk(array: np.ndarray) -> torch.Tensor:
            rest = array.shape[2:]  # (n_steps, n_envs, *rest) -> (n_per_env * n_envs, length, *rest)
            chunked = array.reshape(n_per_env, length, self.n_envs, *rest).swapaxes(1, 2)
            return self.to_torch(
                np.ascontiguousarray(chunked.reshape(n_per_env * self.n_envs, length, *rest))
            )

        def states(array: np.ndarray) -> torch.Tensor:  # (n_per_env, layers, n_envs, hidden)
            return self.to_torch(
                np.ascontiguousarray(array.swapaxes(0, 1).reshape(array.shape[1], -1, array.shape[3]))
            )

        names = ("observations", "actions", "values", "log_probs", "advantages", "returns", "episode_starts")
        chunks = {name: by_chunk(getattr(self, name)) for name in names}
        if self.teacher_probs is not None:
            chunks["teacher_probs"] = by_chunk(self.teacher_probs)
        return chunks, (states(self.hidden_states), states(self.cell_states))


class ChunkedRecurrentPPO(RecurrentPPO):
    """``RecurrentPPO`` with `ChunkedRolloutBuffer` (see the module docstring).

    Needs a policy whose recurrent core resets its state at episode starts inside a sequence
    and shares one core between actor and critic (`gridlab.models.recurrent_policy.ConvLSTMPolicy`).

    Args:
        bptt_length: Steps per training sequence; divides ``n_steps`` and ``batch_size``.
        *args, **kwargs: As for ``RecurrentPPO``.
    """

    def __init__(self, *args: Any, bptt_length: int = 8, **kwargs: Any) -> None:
        self.bptt_length = bptt_length
        super().__init__(*args, **kwargs)
        if (self.batch_size or 0) % bptt_length:  # SB3 types batch_size as optional
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of bptt_length ({bptt_length})"
            )

    def _setup_model(self) -> None:
        # RecurrentPPO._setup_model with this module's buffer in place of sb3-contrib's.
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space,
            self.action_space,
            self.lr_schedule,
            use_sde=self.use_sde,
            **self.policy_kwargs,
        ).to(self.device)
        if not isinstance(self.policy, RecurrentActorCriticPolicy):
            raise ValueError("ChunkedRecurrentPPO needs a RecurrentActorCriticPolicy")
        core = self.policy.lstm_actor
        state_shape = (core.num_layers, self.n_envs, core.hidden_size)
        zeros = (torch.zeros(state_shape, device=self.device), torch.zeros(state_shape, device=self.device))
        self._last_lstm_states = RNNStates(zeros, zeros)  # type: ignore[assignment]  # None until set up
        self.rollout_buffer = ChunkedRolloutBuffer(
            self.n_steps, self.observation_space, self.action_space, state_shape, self.bptt_length,
            self.device, gamma=self.gamma, gae_lambda=self.gae_lambda, n_envs=self.n_envs,
        )  # fmt: skip
        self.clip_range = FloatSchedule(self.clip_range)
        if self.clip_range_vf is not None:
            self.clip_range_vf = FloatSchedule(self.clip_range_vf)
