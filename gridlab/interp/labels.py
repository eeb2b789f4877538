"""Ground-truth labels of a board state, computed with the exact solver.

`state_labels(layout, robots)` returns, for the position with the robots on ``robots``
(``N`` robots on an ``H x W`` board):

=====================  ======================  ==================================================
name                   shape, dtype            meaning
=====================  ======================  ==================================================
``optimal_actions``    ``(4 * N,)`` bool       moves that start *some* optimal plan (action ids)
``next_robot``         ``(N,)`` bool           robots that move first in some optimal plan
``moves_remaining``    ``()`` int16            optimal plan length from here (-1: none found)
``plan_stop``          ``(N, H, W)`` bool      cells where robot ``i`` comes to rest along the
                                               solver's optimal plan
``plan_path``          ``(N, H, W)`` bool      cells robot ``i`` occupies while sliding along
                                               that plan (start and stop cells included)
``plan_direction``     ``(N, H, W)`` int8      direction robot ``i`` next moves *from* each cell
                                               along that plan (0-3), -1 elsewhere
``plan_horizon``       ``(N, H, W)`` int8      which move of that plan (1 = the next move, 2 the
                                               one after, ...) leaves each cell of
                                               ``plan_direction``, 0 elsewhere
``reach_direction``    ``(N, H, W)`` int8      direction of the single move that takes robot
                                               ``i`` to each cell now (0-3), -1 elsewhere
``plan_directions``    ``(N, H, W)`` uint8     bit ``d`` set where *some* optimal plan moves
                                               robot ``i`` off the cell in direction ``d``
=====================  ======================  ==================================================

``plan_stop`` to ``plan_horizon`` follow one optimal plan (the solver's, deterministic);
``optimal_actions``, ``next_robot`` and ``plan_directions`` cover every optimal plan. Probe
scores use the sets: a predicted move counts as right when some optimal plan makes it
(`gridlab.interp.probes`, ``any_optimal``).

`agent_directions(layout, robots, actions)` labels a whole episode with what the agent itself
did next, the square-level target of the Sokoban DRC probes (Bush et al. 2025):

=====================  ======================  ==================================================
``agent_direction``    ``(N, H, W)`` int8      direction robot ``i`` next moves *from* each cell
                                               in the rest of the episode, the agent's own moves
                                               (0-3), -1 elsewhere
``agent_horizon``      ``(N, H, W)`` int8      how many steps ahead (1 = the next action) the
                                               agent leaves each cell of ``agent_direction``, 0
                                               elsewhere
=====================  ======================  ==================================================

Horizons separate a plan from the next action: a move slides across many squares, so half the
labelled squares of a direction map lie on the next move's path, which the next action alone
predicts. Scores by horizon (`gridlab.interp.probes`) keep them apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gridlab.env.board import Cell, FixedLayout, slide, slide_path
from gridlab.env.solver import DEFAULT_MAX_DEPTH, optimal_first_moves, solve

LABEL_NAMES = (
    "optimal_actions", "next_robot", "moves_remaining", "plan_stop", "plan_path", "plan_direction",
    "plan_horizon", "reach_direction", "plan_directions",
)  # fmt: skip


def state_labels(
    layout: FixedLayout, robots: Sequence[Cell] | None = None, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, np.ndarray]:
    """Labels of the position ``robots`` on ``layout``'s board (see the module docstring).

    Args:
        layout: Walls, goal and target robot.
        robots: Robot cells indexed by id (default: the layout's own). The target robot must not
            already rest on the goal.
        max_depth: Longest plan the solver looks for.
    """
    state = layout if robots is None else layout.with_robots(robots)
    n, H, W = state.num_robots, state.height, state.width
    labels = {
        "optimal_actions": np.zeros(4 * n, dtype=bool),
        "next_robot": np.zeros(n, dtype=bool),
        "moves_remaining": np.array(-1, dtype=np.int16),
        "plan_stop": np.zeros((n, H, W), dtype=bool),
        "plan_path": np.zeros((n, H, W), dtype=bool),
        "plan_direction": np.full((n, H, W), -1, dtype=np.int8),
        "plan_horizon": np.zeros((n, H, W), dtype=np.int8),
        "reach_direction": np.full((n, H, W), -1, dtype=np.int8),
        "plan_directions": np.zeros((n, H, W), dtype=np.uint8),
    }
    current = list(state.robots)
    for robot in range(n):
        for direction in range(4):
            stop = slide(state.h_walls, state.v_walls, current, robot, direction)
            if stop != current[robot]:
                labels["reach_direction"][(robot, *stop)] = direction

    plan = solve(state, max_depth)
    if plan is None:
        return labels
    labels["moves_remaining"] = np.array(len(plan), dtype=np.int16)
    for robot, direction in optimal_first_moves(state, max_depth):
        labels["optimal_actions"][4 * robot + direction] = True
        labels["next_robot"][robot] = True
    for move, (robot, direction) in enumerate(plan, start=1):
        path = slide_path(state.h_walls, state.v_walls, current, robot, direction)
        for cell in path:
            labels["plan_path"][(robot, *cell)] = True
        for cell in path[:-1]:
            if labels["plan_direction"][(robot, *cell)] < 0:  # the *next* move from this cell
                labels["plan_direction"][(robot, *cell)] = direction
                labels["plan_horizon"][(robot, *cell)] = move
        labels["plan_stop"][(robot, *path[-1])] = True
        current[robot] = path[-1]
    labels["plan_directions"] = _all_optimal_directions(state, len(plan), max_depth)
    return labels


def _all_optimal_directions(state: FixedLayout, length: int, max_depth: int) -> np.ndarray:
    """``plan_directions``: walk every optimal plan at once, a layer of distinct positions per move."""
    masks = np.zeros((state.num_robots, state.height, state.width), dtype=np.uint8)
    layer = {tuple(state.robots)}
    for done in range(length):
        following = set()
        for robots in layer:
            position = state.with_robots(robots)
            for robot, direction in optimal_first_moves(position, max_depth, length=length - done):
                path = slide_path(state.h_walls, state.v_walls, list(robots), robot, direction)
                for cell in path[:-1]:
                    masks[(robot, *cell)] |= 1 << direction
                moved = list(robots)
                moved[robot] = path[-1]
                following.add(tuple(moved))
        layer = following
    return masks


def agent_directions(
    layout: FixedLayout, robots: np.ndarray, actions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``agent_direction`` and ``agent_horizon`` at every step of one episode (module docstring).

    Args:
        layout: The episode's puzzle.
        robots: ``(T, N, 2)`` robot cells before each action.
        actions: ``(T,)`` actions taken (``4 * robot + direction``; a no-op moves nothing).

    Returns:
        ``(directions, horizons)``, each ``(T, N, H, W)`` int8.
    """
    steps, n = robots.shape[:2]
    directions = np.full((steps, n, layout.height, layout.width), -1, dtype=np.int8)
    horizons = np.zeros_like(directions)
    later = directions[0].copy()  # directions of the moves after step t; earlier moves overwrite later ones
    leaves_at = np.zeros_like(later, dtype=np.int64)  # the step of that move
    for t in reversed(range(steps)):
        robot, direction = divmod(int(actions[t]), 4)
        if robot < n:
            cells = [tuple(cell) for cell in robots[t]]
            for cell in slide_path(layout.h_walls, layout.v_walls, cells, robot, direction)[:-1]:
                later[(robot, *cell)] = direction
                leaves_at[(robot, *cell)] = t
        directions[t] = later
        horizons[t] = np.where(later >= 0, leaves_at - t + 1, 0)
    return directions, horizons
