"""Kickstarting: PPO with a distillation term toward a teacher policy whose weight anneals to zero.

Schmitt et al. (2018) add ``coef * H(teacher, student)`` (the cross-entropy of the student's
action distribution to the teacher's, on the states of each minibatch) to the reinforcement
learning loss and lower ``coef`` to zero, so the final policy is optimised by reinforcement
learning alone. Here the teacher is a frozen copy of the cloned policy (recipe
``bc+kickstart``) and ``coef`` falls linearly from ``kickstart_coef`` to 0 at ``kickstart_steps``.

How it joins stable-baselines3's PPO without copying its loss: during `KickstartedPPO.train`, a
hook on the policy's features extractor notes each minibatch's observations and one on its
action head the student's logits; SB3 then calls ``optimizer.zero_grad()`` before
``loss.backward()``, and the optimizer's ``zero_grad`` is wrapped, for that update only, to
back-propagate the distillation term right after clearing the gradients. The step SB3 takes
(gradient clipping, then Adam) is therefore on the gradient of ``PPO loss + coef * H``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy


class KickstartedPPO(PPO):
    """SB3's PPO plus an annealed distillation term toward ``teacher`` (see the module docstring).

    Args:
        kickstart_coef: The term's weight at step 0.
        kickstart_steps: Steps over which the weight falls linearly to 0 (then plain PPO).
        *args, **kwargs: As for ``PPO``.

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

    def train(self) -> None:
        coef = self.coefficient()
        self.logger.record("train/kickstart_coef", coef)
        if coef == 0.0 or self.teacher is None:
            super().train()
            return
        with _distilling(self.policy, self.teacher, coef) as losses:
            super().train()
        self.logger.record("train/kickstart_loss", sum(losses) / max(len(losses), 1))


@contextlib.contextmanager
def _distilling(student: ActorCriticPolicy, teacher: ActorCriticPolicy, coef: float) -> Iterator[list[float]]:
    """Within the block, each ``student.optimizer.zero_grad()`` that follows a training forward
    back-propagates ``coef * H(teacher, student)`` on that forward's observations; yields the
    list the cross-entropies are appended to."""
    seen: dict[str, torch.Tensor] = {}
    losses: list[float] = []

    def note_obs(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        seen["obs"] = inputs[0]

    def note_logits(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], logits: torch.Tensor) -> None:
        if logits.requires_grad:  # a training forward, not rollout collection
            seen["logits"] = logits

    clear = student.optimizer.zero_grad

    def zero_grad(set_to_none: bool = True) -> None:
        clear(set_to_none)
        if "logits" in seen:
            with torch.no_grad():
                target = teacher.get_distribution(seen["obs"]).distribution.probs  # type: ignore[union-attr]
            cross_entropy = -(target * seen.pop("logits").log_softmax(dim=1)).sum(dim=1).mean()
            (coef * cross_entropy).backward(retain_graph=True)  # SB3's loss shares this graph
            losses.append(cross_entropy.item())

    handles = [
        student.features_extractor.register_forward_pre_hook(note_obs),
        student.action_net.register_forward_hook(note_logits),
    ]
    student.optimizer.zero_grad = zero_grad  # type: ignore[method-assign]
    try:
        yield losses
    finally:
        del student.optimizer.zero_grad  # the instance attribute: the class's method is back
        for handle in handles:
            handle.remove()
