"""Recorded episodes for the viewer: every step's board, choice, optimal moves and activations,
optionally with an intervention held over the whole episode.

`record_episode` plays an agent greedily on one board and keeps, at each step ``t``: the robots
before the move, the observation, the action probabilities and value, the solver's optimal
moves, the recurrent state the step started from (saliency at that step needs it) and every
spatial activation (each tick of each DRC layer, or each conv map of a feed-forward network).
An `Intervention` edits one hook's activation at every step of the replay:

* `Ablate`: zero chosen channels (at chosen cells, or everywhere);
* `AddDirection`: add ``strength`` times a unit vector (a probe's direction, `probe_direction`)
  at chosen cells, Bush et al.'s steering held over the episode;
* `Patch`: replace the activation with another episode's at the same step (its last step once
  it has ended): the activation of another board, at chosen cells or everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from gridlab.agent import Agent, State
from gridlab.env.board import Cell, FixedLayout, _as_cell
from gridlab.interp.labels import state_labels
from gridlab.models.hooks import HookFn, HookPoint


@dataclass(frozen=True)
class Ablate:
    """Zero ``channels`` of ``hook`` at ``cells`` (None: all channels / every cell)."""

    hook: str
    channels: tuple[int, ...] | None = None
    cells: tuple[Cell, ...] | None = None

    def describe(self) -> str:
        which = "all channels" if self.channels is None else f"channels {list(self.channels)}"
        return f"ablate {which} of {self.hook}{_where(self.cells)}"


@dataclass(frozen=True)
class AddDirection:
    """Add ``strength`` times the unit vector along ``direction`` (``(C,)``) to ``hook`` at ``cells``."""

    hook: str
    direction: np.ndarray = field(repr=False)
    cells: tuple[Cell, ...]
    strength: float = 1.0
    name: str = "direction"

    def describe(self) -> str:
        return f"add {self.strength:g} x {self.name} to {self.hook}{_where(self.cells)}"


@dataclass(frozen=True)
class Patch:
    """Replace ``hook`` with ``source``'s activation at the same step, at ``cells`` (None: everywhere)."""

    hook: str
    source: Episode = field(repr=False)
    cells: tuple[Cell, ...] | None = None

    def describe(self) -> str:
        return f"patch {self.hook} from another board{_where(self.cells)}"


Intervention = Ablate | AddDirection | Patch


def _where(cells: tuple[Cell, ...] | None) -> str:
    return "" if cells is None else " at " + ", ".join(f"({r}, {c})" for r, c in cells)


@dataclass
class Episode:
    """One greedy episode, step by step (``T`` steps; see the module docstring).

    Attributes:
        layout: The board.
        robots: ``T + 1`` robot positions: before each move, and at the end.
        obs: ``(T, *observation_shape)`` observations acted on.
        actions: ``(T,)`` greedy actions (``robot * 4 + direction``).
        probs: ``(T, n_actions)`` action probabilities.
        values: ``(T,)`` value estimates.
        optimal: ``(T, n_actions)`` the solver's optimal moves from each position.
        states: Recurrent ``(h, c)`` each step started from (None for feed-forward agents).
        activations: Hook name -> ``(T, C, H, W)`` spatial activations (after any edit).
        solved: Whether the target robot reached the goal.
        intervention: What was held during the episode, if anything.
    """

    layout: FixedLayout
    robots: list[tuple[Cell, ...]]
    obs: np.ndarray
    actions: np.ndarray
    probs: np.ndarray
    values: np.ndarray
    optimal: np.ndarray
    states: list[State | None]
    activations: dict[str, np.ndarray]
    solved: bool
    intervention: Intervention | None = None

    def __len__(self) -> int:
        return len(self.actions)


def record_episode(
    agent: Agent, layout: FixedLayout, intervention: Intervention | None = None, max_steps: int | None = None
) -> Episode:
    """Play ``agent`` greedily on ``layout`` and record every step (module docstring).

    Args:
        agent: The agent.
        layout: A board of the agent's size and robot count.
        intervention: An edit held at every step, or None.
        max_steps: Step limit (default: the agent's environment's).

    Raises:
        ValueError: For a board that does not fit the agent, an unknown hook, a channel or cell
            out of range, or a direction of the wrong length.
    """
    env = agent.make_env() if max_steps is None else agent.make_env(max_steps=max_steps)
    obs, _ = env.reset(options={"layout": layout})
    spatial = agent.spatial_hook_names()
    edit = intervention_hooks(agent, intervention) if intervention is not None else None
    robots, observations, actions, probs, values, optimal, states = (
        [tuple(env.robots)],
        [],
        [],
        [],
        [],
        [],
        [],
    )
    activations: dict[str, list[np.ndarray]] = {name: [] for name in spatial}
    state: State | None = agent.initial_state() if agent.is_recurrent else None
    solved = False
    for t in range(env.max_steps):
        optimal.append(state_labels(layout, env.robots)["optimal_actions"])
        with agent.hooks(edit(t) if edit is not None else []):
            out, cache = agent.run_with_cache(obs[None], state, np.array([t == 0]), names_filter=spatial)
        p = torch.softmax(out.logits, dim=1)[0].numpy()
        action = int(p.argmax())
        observations.append(obs)
        actions.append(action)
        probs.append(p)
        values.append(float(out.value[0]))
        states.append(state)
        for name in spatial:
            activations[name].append(cache[name][0].numpy())
        if out.state is not None:
            state = (out.state[0].numpy(), out.state[1].numpy())
        obs, _, terminated, truncated, _ = env.step(action)
        robots.append(tuple(env.robots))
        if terminated or truncated:
            solved = bool(terminated)
            break
    return Episode(
        layout,
        robots,
        np.stack(observations),
        np.array(actions),
        np.stack(probs),
        np.array(values),
        np.stack(optimal),
        states,
        {name: np.stack(acts) for name, acts in activations.items()},
        solved,
        intervention,
    )


def intervention_hooks(agent: Agent, intervention: Intervention) -> Callable[[int], list[tuple[str, HookFn]]]:
    """Check ``intervention`` against ``agent``; the hooks to attach at step ``t``, as a function of ``t``."""
    hook, spatial = intervention.hook, agent.spatial_hook_names()
    agent.hook_point(hook)
    if hook not in spatial:
        raise ValueError(f"the viewer edits spatial activations (C, H, W); {hook!r} is not one: {spatial}")
    zeros = np.zeros((1, *agent.env_spec.observation_shape), dtype=agent.env_spec.observation_dtype)
    channels = agent.run_with_cache(zeros, names_filter=hook)[1][hook].shape[1]
    height, width = agent.env_spec.height, agent.env_spec.width
    cells = (
        None
        if intervention.cells is None
        else [_as_cell(c, "cell", height, width) for c in intervention.cells]
    )
    mask = torch.ones(height, width, dtype=torch.bool)
    if cells is not None:
        mask[:] = False
        for r, c in cells:
            mask[r, c] = True

    if isinstance(intervention, Ablate):
        chosen = list(range(channels)) if intervention.channels is None else list(intervention.channels)
        if any(not 0 <= k < channels for k in chosen):
            raise ValueError(
                f"channels must lie in 0..{channels - 1} for {hook}, got {intervention.channels}"
            )

        def ablate(x: torch.Tensor, point: HookPoint) -> torch.Tensor:
            x = x.clone()
            x[:, chosen] = torch.where(mask, 0.0, x[:, chosen])
            return x

        return lambda t: [(hook, ablate)]
    if isinstance(intervention, AddDirection):
        direction = np.asarray(intervention.direction, dtype=np.float32).reshape(-1)
        if direction.shape != (channels,) or not np.linalg.norm(direction) > 0:
            raise ValueError(f"direction must be a nonzero vector of {channels} values for {hook}")
        unit = torch.as_tensor(direction / np.linalg.norm(direction)).view(1, -1, 1, 1)
        add = intervention.strength * unit * mask

        def steer(x: torch.Tensor, point: HookPoint) -> torch.Tensor:
            return x + add.to(x.dtype)

        return lambda t: [(hook, steer)]
    source = intervention.source.activations[hook]

    def patch_at(t: int) -> list[tuple[str, HookFn]]:
        donor = torch.as_tensor(source[min(t, len(source) - 1)])[None]

        def patch(x: torch.Tensor, point: HookPoint) -> torch.Tensor:
            return torch.where(mask, donor.to(x.dtype), x)

        return [(hook, patch)]

    return patch_at
