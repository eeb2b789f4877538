"""Kickstarting: PPO with a distillation term toward a teacher policy whose weight anneals to zero.

Schmitt et al. (2018) add ``coef * H(teacher, student)`` (the cross-entropy of the student's
action distribution to the teacher's, on the states of each minibatch) to the reinforcement
learning loss and lower ``coef`` to zero, so the final policy is optimised by reinforcement
learning alone. Here the teacher is a frozen copy of the cloned policy (recipes ``bc+kickstart``
and ``dagger+kickstart``) and ``coef`` falls linearly from ``kickstart_coef`` to 0 at
``kickstart_steps``.

How it joins stable-baselines3's PPO without copying its loss: during `Kickstarting.train`, a
hook on the policy's features extractor notes each minibatch's observations and one on its
action head takes the student's logits ``z`` ``(batch, n_actions)``. The term's gradient with
respect to them is known in closed form, ``coef * (softmax(z) * sum(p) - p) / batch`` for the
teacher's probabilities ``p``, so a gradient hook on ``z`` adds it to what SB3's
``loss.backward()`` sends through the logits. The one backward pass then carries the gradient
of ``PPO loss + coef * H`` into every weight below the head, and the step SB3 takes (gradient
clipping, then Adam) is on it. (A second backward through the retained graph instead gave NaN
weights in compiled bf16 networks.)

Where the teacher's distribution comes from: a feed-forward teacher reads the minibatch's
observations at training time (`KickstartedPPO`). A recurrent teacher needs its own recurrent
state, which only exists along the episodes as they are played, so `KickstartedRecurrentPPO`
runs the teacher beside the student while the rollout is collected (same observations and
episode starts, the teacher's own state) and the rollout buffer serves its probabilities with
each minibatch's chunks.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecEnv

from gridlab.training.recurrent_ppo import ChunkedRecurrentPPO, ChunkedRolloutBuffer


class Kickstarting(OnPolicyAlgorithm):
    """The annealed distillation term, for an on-policy learner below it in the MRO (see the module
    docstring); `KickstartedPPO` and `KickstartedRecurrentPPO` say where the teacher's
    distribution comes from.

    Args:
        kickstart_coef: The term's weight at step 0.
        kickstart_steps: Steps over which the weight falls linearly to 0 (then plain PPO).
        *args, **kwargs: As for the learner.

    The teacher is given after construction (`set_teacher`): it is usually this model's own
    policy once cloning has trained it. Without one, this is plain PPO.
    """

    def __init__(self, *args: Any, kickstart_coef: float, kickstart_steps: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kickstart_coef, self.kickstart_steps = kickstart_coef, kickstart_steps
        self.teacher: ActorCriticPolicy | None = None

    def set_teacher(self, teacher: ActorCriticPolicy) -> None:
        """Distil from a frozen copy of ``teacher`` (same spaces as the student's)."""
        self.teacher = copy.deepcopy(teacher).eval()
        self.teacher.requires_grad_(False)

    def coefficient(self) -> float:
        """The distillation weight now: ``kickstart_coef`` falling linearly to 0 at
        ``kickstart_steps``; 0 without a teacher."""
        if self.teacher is None:
            return 0.0
        return self.kickstart_coef * max(0.0, 1.0 - self.num_timesteps / self.kickstart_steps)

    def teacher_probs(self, obs: torch.Tensor) -> torch.Tensor:
        """The teacher's action probabilities ``(batch, n_actions)`` for the minibatch whose
        observations ``(batch, *obs_shape)`` the student just read."""
        raise NotImplementedError

    def train(self) -> None:
        coef = self.coefficient()
        self.logger.record("train/kickstart_coef", coef)
        if coef == 0.0:
            super().train()
            return
        with _distilling(self.policy, self.teacher_probs, coef) as losses:
            super().train()
        self.logger.record("train/kickstart_loss", sum(losses) / max(len(losses), 1))


class KickstartedPPO(Kickstarting, PPO):
    """SB3's PPO with kickstarting; the teacher reads each minibatch's observations."""

    def teacher_probs(self, obs: torch.Tensor) -> torch.Tensor:
        assert self.teacher is not None  # train distils only with a teacher
        return self.teacher.get_distribution(obs).distribution.probs  # type: ignore[union-attr]


class KickstartedRecurrentPPO(Kickstarting, ChunkedRecurrentPPO):
    """`ChunkedRecurrentPPO` with kickstarting; the teacher plays along while rollouts are
    collected, keeping its own recurrent state (see the module docstring)."""

    _teacher_state: tuple[torch.Tensor, torch.Tensor] | None = None

    def set_teacher(self, teacher: ActorCriticPolicy) -> None:
        super().set_teacher(teacher)
        self._teacher_state = None

    def collect_rollouts(
        self, env: VecEnv, callback: BaseCallback, rollout_buffer: RolloutBuffer, n_rollout_steps: int
    ) -> bool:
        assert isinstance(rollout_buffer, ChunkedRolloutBuffer)
        if self.coefficient() == 0.0:
            return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        teacher = self.teacher
        assert isinstance(teacher, RecurrentActorCriticPolicy)  # a positive coefficient needs one
        if self._teacher_state is None:
            h, c = self._last_lstm_states.pi  # type: ignore[attr-defined]  # set up by ChunkedRecurrentPPO
            self._teacher_state = (torch.zeros_like(h), torch.zeros_like(c))
        probs: list[np.ndarray] = []

        def play_along(module: torch.nn.Module, args: tuple[Any, ...]) -> None:
            obs, _, episode_starts = args[:3]  # forward(obs, lstm_states, episode_starts): one step, all envs
            assert self._teacher_state is not None
            with torch.no_grad():
                distribution, (h, c) = teacher.get_distribution(obs, self._teacher_state, episode_starts)
            self._teacher_state = (h, c)
            probs.append(distribution.distribution.probs.float().cpu().numpy())  # type: ignore[union-attr]

        handle = self.policy.register_forward_pre_hook(play_along)
        try:
            collected = super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        finally:
            handle.remove()
        rollout_buffer.teacher_probs = np.stack(probs) if collected else None  # (n_steps, n_envs, n_actions)
        return collected

    def teacher_probs(self, obs: torch.Tensor) -> torch.Tensor:
        assert isinstance(self.rollout_buffer, ChunkedRolloutBuffer)
        served = self.rollout_buffer.served_teacher_probs
        assert served is not None and len(served) == len(obs), "the rollout was collected without the teacher"
        return served


@contextlib.contextmanager
def _distilling(
    student: ActorCriticPolicy, teacher_probs: Callable[[torch.Tensor], torch.Tensor], coef: float
) -> Iterator[list[float]]:
    """Within the block, each training forward of ``student`` adds the gradient of
    ``coef * H(teacher, student)`` on that forward's observations to the gradient its logits
    receive (see the module docstring); yields the list the cross-entropies are appended to."""
    seen: dict[str, torch.Tensor] = {}
    losses: list[float] = []

    def note_obs(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        seen["obs"] = inputs[0]

    def distil(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], logits: torch.Tensor) -> None:
        if not logits.requires_grad:  # rollout collection, not a training forward
            return
        with torch.no_grad():
            target = teacher_probs(seen.pop("obs")).float()  # (batch, n_actions)
            log_probs = logits.detach().float().log_softmax(dim=1)
            losses.append(float(-(target * log_probs).sum(dim=1).mean()))
            push = coef * (log_probs.exp() * target.sum(dim=1, keepdim=True) - target) / len(target)
        logits.register_hook(lambda grad: grad + push.to(grad.dtype))

    handles = [
        student.features_extractor.register_forward_pre_hook(note_obs),
        student.action_net.register_forward_hook(distil),
    ]
    try:
        yield losses
    finally:
        for handle in handles:
            handle.remove()
