"""Causal interventions through hook points: patching, ablation and steering, with controls.

Each intervention runs the agent with a hook that edits one activation and returns an
`InterventionEffect`: action probabilities without and with the edit. Spatial activations
``(batch, C, H, W)`` can be edited at chosen cells only (``positions``); a recurrent tick is
just another hook name (``drc.layers.0.hook_c.1``).

* `patch`: run a corrupted board with activations copied from a clean board.
* `ablate`: set channels or cells to zero or to their mean over a reference set.
* `steer`: add ``strength * direction`` (a probe's direction, one vector per cell) at chosen
  cells; `steering_success` reports how often the agent then takes the intended action, beside
  the same intervention with random directions of equal norm (the control).

Multi-move causal tests of a plan, held over whole episodes, are `gridlab.interp.routes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gridlab.agent import Agent, State
from gridlab.env.board import Cell, _as_cell


@dataclass
class InterventionEffect:
    """Action probabilities before and after an intervention, each ``(batch, n_actions)``."""

    before: np.ndarray
    after: np.ndarray

    @property
    def changed(self) -> np.ndarray:
        """``(batch,)`` whether the greedy action changed."""
        return self.before.argmax(1) != self.after.argmax(1)

    @property
    def kl(self) -> np.ndarray:
        """``(batch,)`` KL(before || after) of the action distributions."""
        eps = 1e-12
        return (self.before * (np.log(self.before + eps) - np.log(self.after + eps))).sum(1)


def _probs(agent: Agent, obs: np.ndarray | torch.Tensor, state: State | None, hooks: list) -> np.ndarray:
    out = agent.run_with_hooks(obs, fwd_hooks=hooks, state=state)
    return torch.softmax(out.logits, dim=1).numpy()


def _check_positions(agent: Agent, positions: Sequence[Cell] | None) -> list[Cell] | None:
    """``positions`` as ``(row, col)`` cells of the agent's board.

    Raises:
        ValueError: For a position that is not a pair or lies outside the board (negative
            indices included: they would wrap around silently).
    """
    if positions is None:
        return None
    return [_as_cell(position, "cell", agent.env_spec.height, agent.env_spec.width) for position in positions]


def _cell_mask(shape: torch.Size, positions: Sequence[Cell] | None) -> torch.Tensor:
    """Broadcastable mask over an activation: all of it, or only ``positions`` of a spatial map."""
    if positions is None:
        return torch.ones(shape[1:], dtype=torch.bool)
    if len(shape) != 4:
        raise ValueError(f"positions need a spatial activation (batch, C, H, W), got {tuple(shape)}")
    mask = torch.zeros(shape[2:], dtype=torch.bool)
    for r, c in positions:
        mask[r, c] = True
    return mask


def patch(
    agent: Agent, clean: np.ndarray | torch.Tensor, corrupted: np.ndarray | torch.Tensor, hook: str,
    positions: Sequence[Cell] | None = None, state: State | None = None,
) -> InterventionEffect:  # fmt: skip
    """Run ``corrupted`` with ``hook``'s activation taken from ``clean`` (at ``positions`` only, if given).

    Args:
        agent: The agent.
        clean: ``(batch, *observation_shape)`` boards the activation is copied from.
        corrupted: Boards of the same batch size that are run with the copied activation.
        hook: One hook name.
        positions: ``(row, col)`` cells of a spatial activation to patch (all of it when None).
        state: Recurrent state for both runs (zeros when None).

    Returns:
        The effect on the corrupted run: ``before`` is the plain corrupted run.

    Raises:
        ValueError: For an unknown hook, a position outside the board, or observations that do
            not fit the agent (checked by `Agent.forward`).
    """
    name = agent.hook_point(hook).name
    positions = _check_positions(agent, positions)
    _, cache = agent.run_with_cache(clean, state=state, names_filter=name)
    source = cache[name]

    def replace(x: torch.Tensor, _: object) -> torch.Tensor:
        return torch.where(_cell_mask(x.shape, positions), source, x)

    return InterventionEffect(
        _probs(agent, corrupted, state, []), _probs(agent, corrupted, state, [(name, replace)])
    )


def ablate(
    agent: Agent, obs: np.ndarray | torch.Tensor, hook: str, mode: str = "zero",
    channels: Sequence[int] | None = None, positions: Sequence[Cell] | None = None,
    reference: np.ndarray | torch.Tensor | None = None, state: State | None = None,
) -> InterventionEffect:  # fmt: skip
    """Set ``hook``'s activation (selected ``channels`` and/or ``positions``) to zero or its mean.

    Args:
        agent: The agent.
        obs: ``(batch, *observation_shape)``.
        hook: One hook name.
        mode: ``"zero"``, or ``"mean"`` (the mean activation over the ``reference`` observations).
        channels: Channels to ablate (all when None).
        positions: ``(row, col)`` cells of a spatial activation to ablate (all when None).
        reference: Observations to average over for ``mode="mean"``.
        state: Recurrent state (zeros when None).

    Raises:
        ValueError: For an unknown hook or mode, a missing reference, a position outside the
            board, a channel the hook does not have, or observations that do not fit the agent
            (checked by `Agent.forward`).
    """
    name = agent.hook_point(hook).name
    positions = _check_positions(agent, positions)
    if mode not in ("zero", "mean"):
        raise ValueError(f"unknown ablation mode {mode!r}; choose 'zero' or 'mean'")
    if mode == "mean" and reference is None:
        raise ValueError("mode='mean' needs reference observations to average over")
    before = _probs(agent, obs, state, [])  # checks obs before the (larger) reference set runs
    if reference is not None and mode == "mean":  # (reference is set for mode "mean": checked above)
        fill = agent.run_with_cache(reference, state=None, names_filter=name)[1][name].mean(0)

    def edit(x: torch.Tensor, _: object) -> torch.Tensor:
        mask = _cell_mask(x.shape, positions)
        if channels is not None:
            outside = [c for c in channels if not 0 <= c < x.shape[1]]
            if outside:
                raise ValueError(f"channels {outside} do not exist: {name} has channels 0..{x.shape[1] - 1}")
            keep = torch.zeros(x.shape[1], dtype=torch.bool)
            keep[list(channels)] = True
            mask = mask & keep.view(-1, *([1] * (x.ndim - 2)))
        value = torch.zeros_like(x) if mode == "zero" else fill.expand_as(x)
        return torch.where(mask, value, x)

    return InterventionEffect(before, _probs(agent, obs, state, [(name, edit)]))


def steer(
    agent: Agent, obs: np.ndarray | torch.Tensor, hook: str, direction: np.ndarray,
    positions: Sequence[Cell] | None, strength: float = 1.0, state: State | None = None,
) -> InterventionEffect:  # fmt: skip
    """Add ``strength * direction`` to ``hook``'s activation.

    Args:
        agent: The agent.
        obs: ``(batch, *observation_shape)``.
        hook: One hook name.
        direction: ``(C,)`` added at every cell in ``positions`` of a spatial activation, or a
            vector shaped like one example's activation when ``positions`` is None.
        positions: ``(row, col)`` cells of a spatial activation, or None.
        strength: Multiplier of ``direction``.
        state: Recurrent state (zeros when None).

    Raises:
        ValueError: For an unknown hook, a position outside the board, a direction of the wrong
            size, or observations that do not fit the agent (checked by `Agent.forward`).
    """
    name = agent.hook_point(hook).name
    positions = _check_positions(agent, positions)
    vector = torch.as_tensor(np.asarray(direction), dtype=torch.float32)

    def add(x: torch.Tensor, _: object) -> torch.Tensor:
        expected = x.shape[1:] if positions is None else x.shape[1:2]
        if vector.numel() != expected.numel():
            where = "one example's activation" if positions is None else "one cell's channels"
            raise ValueError(
                f"direction has {vector.numel()} values; {name} needs {tuple(expected)} ({where})"
            )
        if positions is None:
            return x + strength * vector.view(x.shape[1:])
        delta = strength * vector.view(1, -1, 1, 1) * _cell_mask(x.shape, positions)
        return x + delta

    return InterventionEffect(_probs(agent, obs, state, []), _probs(agent, obs, state, [(name, add)]))


def steering_success(
    agent: Agent, obs: np.ndarray | torch.Tensor, hook: str, direction: np.ndarray,
    positions: Sequence[Cell] | None, intended: np.ndarray, strength: float = 1.0, controls: int = 10,
    seed: int = 0,
) -> dict[str, float]:  # fmt: skip
    """How often steering makes the agent take ``intended`` actions, beside random directions of equal norm.

    Args:
        agent, obs, hook, direction, positions, strength: As for `steer`.
        intended: ``(batch,)`` action each board should take once steered.
        controls: Random directions to try.
        seed: Seed of the random directions.

    Returns:
        ``{"success_rate", "random_control_rate", "baseline_rate"}``: with the direction, with
        random directions (mean over ``controls`` draws), and without intervention.

    Raises:
        ValueError: As `steer` does, before any control runs.
    """
    intended = np.asarray(intended)
    effect = steer(agent, obs, hook, direction, positions, strength)
    rng = np.random.default_rng(seed)
    norm = float(np.linalg.norm(direction))
    control = []
    for _ in range(controls):
        random = rng.normal(size=np.shape(direction))
        random *= norm / np.linalg.norm(random)
        control.append(
            (steer(agent, obs, hook, random, positions, strength).after.argmax(1) == intended).mean()
        )
    return {
        "success_rate": float((effect.after.argmax(1) == intended).mean()),
        "random_control_rate": float(np.mean(control)),
        "baseline_rate": float((effect.before.argmax(1) == intended).mean()),
    }
