"""Causal route tests in the manner of Bush et al. (2025): plant a multi-move route, see it walked.

A square-level direction probe (``plan_direction`` or ``agent_direction``, 1x1 features) gives
one vector per move class. `route_test` adds, at every step of an episode and at every tick of a
recurrent layer, the vector of each planted move at the squares that move leaves, leaving out
the squares a robot stands on (the edit is *away from the robot*: it must reach the decision
through the network, not by rewriting the robot's own square). Success is about the route, not
the next action:

* ``route``: the agent's first moves are exactly the planted ones;
* ``reached``: the robot comes to rest on the route's last square at some step of the episode;
* ``first_move``: the first action is the route's first move (what ``later`` is judged by).

Every condition runs the same boards, so comparisons are paired (McNemar):

==============  ===========================================================================
``none``        no edit: how often the agent walks the route anyway
``probe``       the probe's class vectors at the route's squares
``later``       the same, at the squares of the moves after the first only: does a planted
                later plan pull the agent into its first move (``first_move``, ``reached``)?
                An agent that only reads its next move off the squares it is about to cross
                does not follow it; one that plans backwards from where it will be does
``shuffled``    the same vectors at as many other squares (off the route, off the robots)
``swapped``     at the route's squares, the vector of the opposite move class
``random``      at the route's squares, random vectors of the same norm
``gradient``    at the route's squares, the gradient of the next planted move's logit with
                respect to the activation, recomputed every step (a reference: what a
                direction known to push the decision does from there)
==============  ===========================================================================

Each vector is scaled to ``strength`` times the mean norm of one square's activation. Routes
come from `planted_routes`: moves of one robot that the agent would not make first. Boards a
probe was fitted or chosen on are refused (`ProbeResult.fitted_boards`); `held_out` drops them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from tqdm import tqdm

from gridlab.agent import Agent
from gridlab.env.board import DOWN, LEFT, RIGHT, UP, Cell, FixedLayout, slide_path
from gridlab.env.puzzle_bank import puzzle_key
from gridlab.env.puzzles import Puzzle, as_layouts
from gridlab.env.solver import optimal_first_moves
from gridlab.interp.probe_rows import Robot
from gridlab.interp.probes import ProbeResult, probe_direction
from gridlab.interp.scores import mcnemar, wilson

CONDITIONS = ("none", "probe", "later", "shuffled", "swapped", "random", "gradient")
OUTCOMES = ("route", "reached", "first_move")
OPPOSITE = {UP: DOWN, DOWN: UP, LEFT: RIGHT, RIGHT: LEFT}
DIRECTION_LABELS = ("plan_direction", "agent_direction")  # square-level labels whose classes are moves


@dataclass(frozen=True)
class Route:
    """Moves of one robot from a board's starting position.

    Attributes:
        layout: The puzzle.
        robot: The robot that moves.
        directions: Its moves in order (`gridlab.env.board` directions).
    """

    layout: FixedLayout
    robot: int
    directions: tuple[int, ...]

    @property
    def actions(self) -> tuple[int, ...]:
        """The route as action ids (``4 * robot + direction``)."""
        return tuple(4 * self.robot + d for d in self.directions)

    def legs(self) -> list[list[Cell]]:
        """The cells of each move, start and stop included (`slide_path`)."""
        robots, legs = list(self.layout.robots), []
        for direction in self.directions:
            path = slide_path(self.layout.h_walls, self.layout.v_walls, robots, self.robot, direction)
            legs.append(path)
            robots[self.robot] = path[-1]
        return legs

    @property
    def end(self) -> Cell:
        """Where the robot rests after the last move."""
        return self.legs()[-1][-1]

    def marks(self, first: int = 0) -> dict[Cell, int]:
        """Each square the route leaves from move ``first`` (0: all) on, and the direction it
        leaves it in (the first move that does, as in the ``plan_direction`` label)."""
        marks: dict[Cell, int] = {}
        for path, direction in list(zip(self.legs(), self.directions, strict=True))[first:]:
            for cell in path[:-1]:
                marks.setdefault(cell, direction)
        return marks


def valid_route(layout: FixedLayout, robot: int, directions: Sequence[int], optimal: bool = False) -> bool:
    """Can ``robot`` make these moves as a planted route? Every move takes it to a square it has not
    rested on, the goal is not reached before the last move, and with ``optimal`` every move
    starts an optimal plan from where it is made."""
    robots = list(layout.robots)
    rested = {robots[robot]}
    for index, direction in enumerate(directions):
        if optimal and (robot, direction) not in optimal_first_moves(layout.with_robots(robots)):
            return False
        stop = slide_path(layout.h_walls, layout.v_walls, robots, robot, direction)[-1]
        if stop in rested:
            return False
        rested.add(stop)
        robots[robot] = stop
        on_goal = robot == layout.target_robot and stop == layout.goal_position
        if on_goal and index < len(directions) - 1:
            return False
    return True


def planted_routes(
    agent: Agent, puzzles: Sequence[Puzzle], length: int = 2, robot: Robot = "target",
    optimal: bool = False, seed: int = 0,
) -> list[Route]:  # fmt: skip
    """One route per board whose first move is not the agent's greedy first action.

    Args:
        agent: The agent (its greedy first action is avoided).
        puzzles: Boards of the agent's size: layouts or ``(layout, optimal_length)`` pairs.
        length: Moves per route.
        robot: The robot that moves: a number or ``"target"``.
        optimal: Only routes that begin an optimal plan (the agent's alternatives: a test of
            whether the plan it represents can be switched, the Sokoban "shortcut" test);
            otherwise any route of distinct resting squares that does not finish early.
        seed: Seed of the choice among valid routes.

    Returns:
        Routes, in board order, for the boards that have one (others are skipped).

    Raises:
        ValueError: For a length below 1 or a robot that is neither a number nor ``"target"``.
    """
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    if not (robot == "target" or isinstance(robot, int)):
        raise ValueError(f"robot must be a number or 'target', got {robot!r}")
    layouts = as_layouts(puzzles)
    env = agent.make_env()
    obs = np.stack([env.reset(options={"layout": layout})[0] for layout in layouts])
    greedy = agent.act(obs, None, np.ones(len(obs), dtype=bool))[0]
    rng = np.random.default_rng(seed)
    routes = []
    for layout, first in zip(layouts, greedy, strict=True):
        mover = layout.target_robot if robot == "target" else int(robot)
        options = [
            directions for directions in itertools.product(range(4), repeat=length)
            if 4 * mover + directions[0] != first and valid_route(layout, mover, directions, optimal)
        ]  # fmt: skip
        if options:
            routes.append(Route(layout, mover, options[rng.integers(len(options))]))
    return routes


def held_out(probe: ProbeResult, puzzles: Sequence[Puzzle]) -> list[FixedLayout]:
    """The boards of ``puzzles`` that ``probe`` was not fitted or chosen on."""
    return [layout for layout in as_layouts(puzzles) if puzzle_key(layout).hex() not in probe.fitted_boards]


@dataclass
class RouteTest:
    """Outcomes of `route_test`.

    Attributes:
        outcomes: ``{condition: {outcome: (boards,) bool}}`` (module docstring).
        routes: The routes, in board order.
        strength: Multiple of the mean square norm each added vector has.
        hook: The probe's hook; ``edited``: the hook names edited (every tick of it).
    """

    outcomes: dict[str, dict[str, np.ndarray]]
    routes: list[Route]
    strength: float
    hook: str
    edited: list[str]

    def rate(self, condition: str, outcome: str = "route") -> float:
        """Share of boards on which ``outcome`` happened under ``condition``."""
        return float(self.outcomes[condition][outcome].mean())

    def table(self, outcome: str = "route") -> pd.DataFrame:
        """One row per condition: the success rate with its 95% Wilson interval over boards, and
        the paired difference ``probe - condition`` with its 95% interval and McNemar's exact p."""
        planted = self.outcomes["probe"][outcome]
        rows = []
        for condition, results in self.outcomes.items():
            hits = results[outcome]
            low, high = wilson(int(hits.sum()), len(hits))
            paired = mcnemar(planted, hits)
            rows.append({
                "condition": condition, "rate": hits.mean(), "low": low, "high": high,
                "probe_minus": paired["difference"], "diff_low": paired["ci"][0],
                "diff_high": paired["ci"][1], "p_value": paired["p_value"],
            })  # fmt: skip
        return pd.DataFrame(rows).set_index("condition")


CONDITION_COLOURS = {"none": "0.6", "probe": "tab:blue", "later": "tab:cyan", "shuffled": "tab:orange",
                     "swapped": "tab:red", "random": "tab:purple", "gradient": "tab:green"}  # fmt: skip


def plot_route_tests(tests: Mapping[str, RouteTest], outcome: str = "route", ax: Axes | None = None) -> Axes:
    """Success rate of every condition, with 95% Wilson intervals, a group of bars per test.

    Args:
        tests: Tests by the label each group gets (a hook, a strength, an agent).
        outcome: ``route``, ``reached`` or ``first_move``.
        ax: Where to draw (a new figure when None).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(tests) + 1.5), 3.2))
    conditions = [c for c in CONDITIONS if any(c in test.outcomes for test in tests.values())]
    width = 0.8 / len(conditions)
    for k, condition in enumerate(conditions):
        x, rate, spread = [], [], []
        for group, test in enumerate(tests.values()):
            if condition in test.outcomes:
                row = test.table(outcome).loc[condition]
                x.append(group + (k - (len(conditions) - 1) / 2) * width)
                rate.append(row.rate)
                spread.append((row.rate - row.low, row.high - row.rate))
        ax.bar(x, rate, width, yerr=np.array(spread).T, color=CONDITION_COLOURS[condition], label=condition,
               error_kw={"lw": 0.8})  # fmt: skip
    ax.set_xticks(range(len(tests)), list(tests), fontsize=8)
    ax.set_ylabel({"route": "walks the planted route", "reached": "rests on the route's end",
                   "first_move": "makes the planted first move"}[outcome])  # fmt: skip
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=3)
    return ax


def tick_hooks(agent: Agent, hook: str) -> list[str]:
    """``hook`` at every tick of its recurrent layer (``drc.layers.1.hook_h.2`` gives ``...hook_h.0``
    to ``...hook_h.{N-1}``), or ``[hook]`` for a hook without ticks."""
    agent.hook_point(hook)
    stem = re.fullmatch(r"(.*\.hook_[a-z]+)\.\d+", hook)
    if stem is None:
        return [hook]
    pattern = re.compile(re.escape(stem.group(1)) + r"\.\d+")
    return [name for name in agent.hook_names() if pattern.fullmatch(name)]


def _check(agent: Agent, routes: Sequence[Route], probe: ProbeResult) -> None:
    if probe.kind != "square" or probe.label not in DIRECTION_LABELS or probe.features != "1x1":
        raise ValueError(
            f"route tests need a square-level {' or '.join(DIRECTION_LABELS)} probe with 1x1 features, "
            f"got a {probe.kind} {probe.label!r} probe with {probe.features!r} features"
        )
    if probe.hook not in agent.spatial_hook_names():
        raise ValueError(f"{probe.hook!r} is not a spatial hook of this agent; the probe is another agent's")
    if not routes:
        raise ValueError("no routes to test (planted_routes skips boards without one)")
    for route in routes:
        ours = probe.robot == route.robot or (
            probe.robot == "target" and route.robot == route.layout.target_robot
        )
        if not ours:
            raise ValueError(
                f"the probe reads robot {probe.robot!r}'s map but a route moves robot {route.robot}"
            )
    seen = [k for k, route in enumerate(routes) if puzzle_key(route.layout).hex() in probe.fitted_boards]
    if seen:
        raise ValueError(
            f"{len(seen)} of {len(routes)} route boards (first: {seen[:5]}) are boards the probe was fitted "
            "or chosen on; test on held-out boards (route boards from held_out(probe, puzzles))"
        )


def route_test(
    agent: Agent, routes: Sequence[Route], probe: ProbeResult, strength: float = 1.0,
    conditions: Sequence[str] = CONDITIONS, seed: int = 0, progress: bool = True,
) -> RouteTest:  # fmt: skip
    """Plant each route with ``probe``'s directions, held over the whole episode, beside controls.

    Args:
        agent: The agent the probe was fitted on.
        routes: Routes on boards the probe was not fitted on (`planted_routes`, `held_out`).
        probe: A square-level direction probe with 1x1 features of the routes' robot.
        strength: Each added vector's norm as a multiple of the mean norm of one square's
            activation at the hook (on the routes' first observations).
        conditions: Which of `CONDITIONS` to run (``probe`` among them).
        seed: Seed of the shuffled squares and the random directions.
        progress: Show a progress bar over conditions.

    Returns:
        Every board's outcomes under every condition (`RouteTest.table` for rates and tests).

    Raises:
        ValueError: For a probe of another kind, label, feature family, robot or agent; boards
            the probe was fitted on; an unknown condition; no routes.
    """
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown or "probe" not in conditions:
        raise ValueError(
            f"unknown conditions {unknown}; choose from {CONDITIONS}, 'probe' among them "
            "(the others are its controls)"
        )
    _check(agent, routes, probe)
    names = tick_hooks(agent, probe.hook)
    directions = {d: _unit(probe_direction(probe, class_id=d)) for d in range(4)}
    env = agent.make_env()
    first = np.stack([env.reset(options={"layout": route.layout})[0] for route in routes])
    _, cache = agent.run_with_cache(first, names_filter=probe.hook)
    scale = strength * float(cache[probe.hook].norm(dim=1).mean())
    rng = np.random.default_rng(seed)
    shape = tuple(cache[probe.hook].shape[1:])
    placed = {condition: [_placement(condition, route, directions, shape, rng) for route in routes]
              for condition in conditions if condition not in ("none", "gradient")}  # fmt: skip
    outcomes = {}
    for condition in tqdm(conditions, desc="route test", disable=not progress, leave=False):
        if condition == "gradient":
            outcomes[condition] = _play(agent, routes, names, _gradient_edit(agent, routes, names, scale))
        else:
            static = placed.get(condition)
            edit = None if static is None else _static_edit(static, names, shape, scale)
            outcomes[condition] = _play(agent, routes, names, edit)
    return RouteTest(outcomes, list(routes), strength, probe.hook, names)


Placement = dict[Cell, np.ndarray]  # square -> unit vector (C,) to add there


@dataclass
class _Step:
    """What an edit may look at before the agent acts: the batch of boards at one step."""

    obs: np.ndarray  # (boards, *observation_shape)
    robots: list[list[Cell]]  # each board's robot cells now
    start: np.ndarray  # (boards,) episode starts
    state: tuple[np.ndarray, ...] | None  # recurrent state before acting
    taken: np.ndarray  # (boards, t) actions so far


Edit = Callable[[_Step], dict[str, torch.Tensor]]  # hook name -> (boards, C, H, W) to add


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _placement(
    condition: str, route: Route, directions: dict[int, np.ndarray], shape: tuple[int, ...],
    rng: np.random.Generator,
) -> Placement:  # fmt: skip
    """Where a static condition adds which unit vector on one board."""
    marks = route.marks()
    if condition == "probe":
        return {cell: directions[d] for cell, d in marks.items()}
    if condition == "later":
        return {cell: directions[d] for cell, d in route.marks(first=1).items()}
    if condition == "swapped":
        return {cell: directions[OPPOSITE[d]] for cell, d in marks.items()}
    if condition == "random":
        return {cell: _unit(rng.normal(size=shape[0])) for cell in marks}
    taken = set(marks) | set(route.layout.robots)
    free = [(r, c) for r in range(shape[1]) for c in range(shape[2]) if (r, c) not in taken]
    chosen = rng.choice(len(free), size=min(len(marks), len(free)), replace=False)
    return {free[i]: directions[d] for i, d in zip(chosen, marks.values(), strict=False)}


def _static_edit(placements: list[Placement], names: list[str], shape: tuple[int, ...], scale: float) -> Edit:
    """Add each board's placement at every step, skipping the squares robots stand on."""

    def edit(step: _Step) -> dict[str, torch.Tensor]:
        delta = torch.zeros(len(placements), *shape)
        for board, (placement, occupied) in enumerate(zip(placements, step.robots, strict=True)):
            for (r, c), vector in placement.items():
                if (r, c) not in occupied:
                    delta[board, :, r, c] = torch.as_tensor(scale * vector, dtype=torch.float32)
        return dict.fromkeys(names, delta)

    return edit


def _gradient_edit(agent: Agent, routes: Sequence[Route], names: list[str], scale: float) -> Edit:
    """At each step, the gradient of the next planted move's logit at each edited hook, scaled to
    ``scale`` per square, at the route's squares (robots' squares left out); nothing on boards
    that left the route or finished it."""
    marks = [route.marks() for route in routes]

    def edit(step: _Step) -> dict[str, torch.Tensor]:
        t = step.taken.shape[1]
        intended = np.full(len(routes), -1)
        for board, route in enumerate(routes):
            if t < len(route.actions) and tuple(step.taken[board]) == route.actions[:t]:
                intended[board] = route.actions[t]
        active = np.flatnonzero(intended >= 0)
        if len(active) == 0:
            return {}
        taps: dict[str, torch.Tensor] = {}

        def tap(x: torch.Tensor, hook: object) -> torch.Tensor:
            taps[hook.name] = torch.zeros_like(x, requires_grad=True)  # type: ignore[attr-defined]
            return x + taps[hook.name]  # type: ignore[attr-defined]

        with torch.enable_grad(), agent.hooks([(name, tap) for name in names]):
            logits = agent.forward(step.obs, step.state, step.start).logits
        chosen = logits[torch.as_tensor(active), torch.as_tensor(intended[active])].sum()
        grads = torch.autograd.grad(chosen, [taps[name] for name in names], allow_unused=True)
        edits = {}
        for name, grad in zip(names, grads, strict=True):
            delta = torch.zeros_like(taps[name])
            for board in active.tolist() if grad is not None else []:
                for r, c in marks[board]:
                    if (r, c) not in step.robots[board]:
                        vector = grad[board, :, r, c]
                        delta[board, :, r, c] = scale * vector / vector.norm().clamp_min(1e-12)
            edits[name] = delta.detach()
        return edits

    return edit


def _play(
    agent: Agent, routes: Sequence[Route], names: list[str], edit: Edit | None
) -> dict[str, np.ndarray]:
    """Play every route's board once, greedily, with ``edit`` applied before each step."""
    envs = [agent.make_env() for _ in routes]
    obs = np.stack(
        [env.reset(options={"layout": route.layout})[0] for env, route in zip(envs, routes, strict=True)]
    )
    n, steps = len(routes), envs[0].max_steps
    taken = np.full((n, steps), -1, dtype=np.int64)
    done, reached = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    state, start = None, np.ones(n, dtype=bool)
    delta: dict[str, torch.Tensor] = {}

    def add(x: torch.Tensor, hook: object) -> torch.Tensor:
        d = delta.get(hook.name)  # type: ignore[attr-defined]
        return x if d is None else x + d

    with agent.hooks([(name, add) for name in names]):
        for t in range(steps):
            if done.all():
                break
            if edit is not None:
                delta = {}  # the edit's own forward pass sees the unedited network
                delta = edit(_Step(obs, [list(env.robots) for env in envs], start, state, taken[:, :t]))
            actions, state = agent.act(obs, state, start)
            start = np.zeros(n, dtype=bool)
            for board in np.flatnonzero(~done).tolist():
                taken[board, t] = actions[board]
                obs[board], _, terminated, truncated, _ = envs[board].step(int(actions[board]))
                route = routes[board]
                reached[board] |= tuple(envs[board].robots[route.robot]) == route.end
                done[board] = terminated or truncated
    walked = np.array([tuple(taken[b, : len(r.actions)]) == r.actions for b, r in enumerate(routes)])
    first = taken[:, 0] == np.array([route.actions[0] for route in routes])
    return {"route": walked, "reached": reached, "first_move": first}
