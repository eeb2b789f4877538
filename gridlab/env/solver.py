"""Exact optimal solver: iterative-deepening depth-first search compiled with numba.

The search uses the tricks of fast Ricochet Robots solvers:

* a neighbour table ``(cells, 4)`` so a slide is a few array reads per cell;
* a per-cell lower bound on the target robot's remaining moves: the number of straight moves
  it needs if it could stop on any cell (robots can only block paths, never shorten them),
  used to prune and, when the bound is tight, to move the target robot alone;
* a transposition table keyed by the target's cell and the *sorted* cells of the other robots
  (non-target robots are interchangeable), storing the largest depth budget already searched;
* no move that undoes the previous one (it is never part of an optimal plan).

Iterative deepening makes the first plan found optimal. `gridlab.env.bfs` holds the plain
breadth-first search that the tests check this solver against.

`solve` searches until it has an answer; `search` can also stop after a number of expanded
nodes (the env bounds the solve of a fixed layout at reset this way) and says which of "solved",
"no plan within ``max_depth``" and "budget ran out" happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

from gridlab.env.board import FixedLayout, Move, slide

DEFAULT_MAX_DEPTH = 20
_UNREACHABLE = 127
SearchStatus = Literal["solved", "no_plan", "out_of_nodes"]
_FOUND, _NOT_FOUND, _TABLE_FULL, _OUT_OF_NODES = 1, 0, -1, -2
_STATUS_NAMES: dict[int, SearchStatus] = {
    _FOUND: "solved",
    _NOT_FOUND: "no_plan",
    _OUT_OF_NODES: "out_of_nodes",
}
_NO_NODE_LIMIT = np.iinfo(np.int64).max
_MIN_TABLE_BITS, _MAX_TABLE_BITS = 16, 28


@numba.njit(cache=True)
def neighbour_table(h_walls: np.ndarray, v_walls: np.ndarray) -> np.ndarray:
    """Cell index of the neighbour in each direction, ``-1`` where a wall is in the way.

    Args:
        h_walls, v_walls: Edge walls, shapes ``(H + 1, W)`` and ``(H, W + 1)``.

    Returns:
        int64 array of shape ``(H * W, 4)`` in direction order ``UP, DOWN, LEFT, RIGHT``;
        cell ``(r, c)`` has index ``r * W + c``.
    """
    H, W = v_walls.shape[0], h_walls.shape[1]
    nxt = np.full((H * W, 4), -1, dtype=np.int64)
    for r in range(H):
        for c in range(W):
            i = r * W + c
            if not h_walls[r, c]:
                nxt[i, 0] = i - W
            if not h_walls[r + 1, c]:
                nxt[i, 1] = i + W
            if not v_walls[r, c]:
                nxt[i, 2] = i - 1
            if not v_walls[r, c + 1]:
                nxt[i, 3] = i + 1
    return nxt


@numba.njit(cache=True)
def _lower_bounds(nxt: np.ndarray, goal: int) -> np.ndarray:
    """Straight moves the target needs from each cell to reach ``goal`` if it could stop anywhere."""
    n_cells = nxt.shape[0]
    lb = np.full(n_cells, _UNREACHABLE, dtype=np.int64)
    queue = np.empty(n_cells, dtype=np.int64)
    lb[goal] = 0
    queue[0] = goal
    head, tail = 0, 1
    while head < tail:
        x = queue[head]
        head += 1
        for d in range(4):
            y = nxt[x, d]
            while y >= 0:
                if lb[y] > lb[x] + 1:
                    lb[y] = lb[x] + 1
                    queue[tail] = y
                    tail += 1
                y = nxt[y, d]
    return lb


@numba.njit(cache=True, inline="always")
def _state_key(robots: np.ndarray, target: int, buf: np.ndarray) -> np.int64:
    """Target cell in the top byte, then the other robots' cells in sorted order."""
    n = 0
    for i in range(robots.shape[0]):
        if i != target:
            v = robots[i]
            j = n
            while j > 0 and buf[j - 1] > v:
                buf[j] = buf[j - 1]
                j -= 1
            buf[j] = v
            n += 1
    key = robots[target]
    for j in range(n):
        key = (key << 8) | buf[j]
    return key


@numba.njit(cache=True)
def _search(
    nxt: np.ndarray,
    lb: np.ndarray,
    goal: int,
    target: int,
    start: np.ndarray,
    min_limit: int,
    max_limit: int,
    tt_keys: np.ndarray,
    tt_vals: np.ndarray,
    tt_stamps: np.ndarray,
    stamp: int,
    plan: np.ndarray,
    max_nodes: int,
) -> tuple[int, int, int]:
    """Iterative deepening from ``min_limit`` to ``max_limit`` moves, expanding at most ``max_nodes`` nodes.

    A node is expanded when the search enters it to try its moves: the root of each iteration
    and every state it descends into.

    Returns:
        ``(status, length, nodes)``: status ``1`` found (the plan is in ``plan[:length]`` as
        ``(robot, direction)`` rows), ``0`` no plan within ``max_limit``, ``-1`` the
        transposition table filled up (retry with a larger one), ``-2`` the next expansion
        would exceed ``max_nodes``; ``nodes`` expanded so far.
    """
    n_robots = start.shape[0]
    n_moves = 4 * n_robots
    robots = start.copy()
    occ = np.zeros(nxt.shape[0], dtype=np.bool_)
    for i in range(n_robots):
        occ[robots[i]] = True
    order = np.empty(n_robots, dtype=np.int64)  # target robot first: plans end with it
    order[0] = target
    k = 1
    for i in range(n_robots):
        if i != target:
            order[k] = i
            k += 1
    opposite = np.array([1, 0, 3, 2])
    buf = np.empty(n_robots, dtype=np.int64)
    mask = tt_keys.shape[0] - 1
    capacity = tt_keys.shape[0] // 2
    used = 0
    next_move = np.zeros(max_limit + 1, dtype=np.int64)
    came_from = np.zeros(max_limit + 1, dtype=np.int64)
    nodes = 0

    for limit in range(min_limit, max_limit + 1):
        if nodes == max_nodes:
            return -2, 0, nodes
        nodes += 1
        depth = 0
        next_move[0] = 0
        while True:
            if next_move[depth] == n_moves:  # this node is exhausted: undo the move into it
                if depth == 0:
                    break
                depth -= 1
                i = plan[depth, 0]
                occ[robots[i]] = False
                robots[i] = came_from[depth]
                occ[robots[i]] = True
                continue
            m = next_move[depth]
            next_move[depth] += 1
            i = order[m // 4]
            d = m % 4
            remaining = limit - depth
            if i != target and lb[robots[target]] >= remaining:
                continue  # every remaining move must move the target robot
            if depth > 0 and plan[depth - 1, 0] == i and plan[depth - 1, 1] == opposite[d]:
                continue
            p = robots[i]
            q = p
            while True:
                s = nxt[q, d]
                if s < 0 or occ[s]:
                    break
                q = s
            if q == p:
                continue
            if i == target and q == goal:
                plan[depth, 0] = i
                plan[depth, 1] = d
                return 1, depth + 1, nodes
            if remaining == 1:
                continue
            target_cell = q if i == target else robots[target]
            if lb[target_cell] > remaining - 1:
                continue
            occ[p] = False
            occ[q] = True
            robots[i] = q
            key = _state_key(robots, target, buf)
            h = (key ^ (key >> 21)) * 0x2545F4914F6CDD1D
            slot = (h ^ (h >> 32)) & mask
            pruned = False
            while tt_stamps[slot] == stamp and tt_keys[slot] != key:
                slot = (slot + 1) & mask
            if tt_stamps[slot] != stamp:  # a state never seen in this search
                tt_stamps[slot] = stamp
                tt_keys[slot] = key
                tt_vals[slot] = remaining - 1
                used += 1
                if used > capacity:
                    return -1, 0, nodes
            elif tt_vals[slot] >= remaining - 1:
                pruned = True  # already searched this state with at least this budget
            else:
                tt_vals[slot] = remaining - 1
            if pruned:
                robots[i] = p
                occ[q] = False
                occ[p] = True
                continue
            if nodes == max_nodes:
                return -2, 0, nodes
            nodes += 1
            plan[depth, 0] = i
            plan[depth, 1] = d
            came_from[depth] = p
            depth += 1
            next_move[depth] = 0
    return 0, 0, nodes


class _Table:
    """A reusable transposition table: entries from earlier searches are ignored via a stamp."""

    def __init__(self, bits: int) -> None:
        self.keys = np.zeros(1 << bits, dtype=np.int64)
        self.vals = np.zeros(1 << bits, dtype=np.int8)
        self.stamps = np.zeros(1 << bits, dtype=np.int32)
        self.stamp = 0

    def next_stamp(self) -> int:
        if self.stamp == np.iinfo(np.int32).max:
            self.stamps[:] = 0
            self.stamp = 0
        self.stamp += 1
        return self.stamp


_table = _Table(_MIN_TABLE_BITS)


@dataclass(frozen=True)
class SearchResult:
    """What a `search` settled.

    Attributes:
        status: ``"solved"`` (``plan`` is optimal), ``"no_plan"`` (no plan of at most
            ``max_depth`` moves exists) or ``"out_of_nodes"`` (the node budget ran out first:
            the optimal length is unknown).
        plan: A shortest plan of ``(robot, direction)`` moves when solved, else ``None``.
        nodes: Search nodes expanded (never more than the budget).
    """

    status: SearchStatus
    plan: list[Move] | None
    nodes: int

    @property
    def length(self) -> int | None:
        """Optimal plan length, ``None`` unless solved."""
        return None if self.plan is None else len(self.plan)


def _run(
    nxt: np.ndarray,
    lb: np.ndarray,
    layout: FixedLayout,
    robots: np.ndarray,
    min_limit: int,
    max_limit: int,
    max_nodes: int = _NO_NODE_LIMIT,
) -> SearchResult:
    """Run the kernel, growing the transposition table until it fits; nodes add up over retries."""
    global _table
    goal = layout.goal_position[0] * layout.width + layout.goal_position[1]
    plan = np.zeros((max(max_limit, 1), 2), dtype=np.int64)
    nodes = 0
    while True:
        status, length, expanded = _search(
            nxt,
            lb,
            goal,
            layout.target_robot,
            robots,
            min_limit,
            max_limit,
            _table.keys,
            _table.vals,
            _table.stamps,
            _table.next_stamp(),
            plan,
            max_nodes - nodes,
        )
        nodes += expanded
        if status != _TABLE_FULL:
            break
        bits = int(np.log2(_table.keys.shape[0])) + 2
        if bits > _MAX_TABLE_BITS:
            raise MemoryError(f"solver transposition table exceeded 2**{_MAX_TABLE_BITS} entries")
        _table = _Table(bits)
    moves = [(int(r), int(d)) for r, d in plan[:length]] if status == _FOUND else None
    return SearchResult(_STATUS_NAMES[status], moves, nodes)


def _prepare(layout: FixedLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nxt = neighbour_table(layout.h_walls, layout.v_walls)
    goal = layout.goal_position[0] * layout.width + layout.goal_position[1]
    robots = np.array([r * layout.width + c for r, c in layout.robots], dtype=np.int64)
    return nxt, _lower_bounds(nxt, goal), robots


def _check_depth(max_depth: int) -> int:
    if not isinstance(max_depth, (int, np.integer)) or not 1 <= max_depth <= 100:
        raise ValueError(f"max_depth must be an integer from 1 to 100, got {max_depth!r}")
    return int(max_depth)


def _check_nodes(max_nodes: int | None) -> int:
    if max_nodes is None:
        return _NO_NODE_LIMIT
    if not isinstance(max_nodes, (int, np.integer)) or isinstance(max_nodes, bool) or max_nodes < 1:
        raise ValueError(f"max_nodes must be a positive integer or None (no limit), got {max_nodes!r}")
    return int(max_nodes)


def search(
    layout: FixedLayout, max_depth: int = DEFAULT_MAX_DEPTH, max_nodes: int | None = None
) -> SearchResult:
    """Look for an optimal plan, optionally giving up after ``max_nodes`` expanded nodes.

    Example:
        >>> result = search(layout, max_depth=30, max_nodes=200_000)
        >>> result.status              # "solved", "no_plan" or "out_of_nodes"
        >>> result.length              # None unless solved

    Args:
        layout: The puzzle.
        max_depth: Longest plan to look for, 1 to 100.
        max_nodes: Most search nodes to expand (each costs about one slide per robot and
            direction); ``None`` searches until it has an answer, like `solve`.

    Returns:
        A `SearchResult`: ``"solved"`` with a shortest plan, ``"no_plan"`` when no plan of at
        most ``max_depth`` moves exists, or ``"out_of_nodes"`` when the budget ran out before
        either was settled.

    Raises:
        ValueError: For ``max_depth`` outside 1..100 or ``max_nodes`` not a positive integer.
    """
    max_depth = _check_depth(max_depth)
    max_nodes = _check_nodes(max_nodes)
    nxt, lb, robots = _prepare(layout)
    bound = int(lb[robots[layout.target_robot]])
    if bound > max_depth:  # even alone on the board the target needs more moves
        return SearchResult("no_plan", None, 0)
    return _run(nxt, lb, layout, robots, max(bound, 1), max_depth, max_nodes)


def solve(layout: FixedLayout, max_depth: int = DEFAULT_MAX_DEPTH) -> list[Move] | None:
    """An optimal plan for ``layout`` (an unbounded `search`).

    Args:
        layout: The puzzle.
        max_depth: Longest plan to look for, 1 to 100.

    Returns:
        A shortest list of ``(robot, direction)`` moves after which the target robot rests on
        the goal, or ``None`` when no plan of at most ``max_depth`` moves exists.

    Raises:
        ValueError: For ``max_depth`` outside 1..100.
    """
    return search(layout, max_depth).plan


def optimal_first_moves(
    layout: FixedLayout, max_depth: int = DEFAULT_MAX_DEPTH, length: int | None = None
) -> frozenset[Move]:
    """Every move that starts *some* optimal plan (empty when unsolvable within ``max_depth``).

    This is the label "which moves are optimal now" that probes and evaluations need: a puzzle
    often has several optimal plans that start differently. ``length``, the optimal plan's
    length when the caller knows it, skips the search for it.
    """
    if length is None:
        best = solve(layout, max_depth)
        if best is None:
            return frozenset()
        length = len(best)
    nxt, lb, _ = _prepare(layout)
    moves = set()
    for robot in range(layout.num_robots):
        for direction in range(4):
            robots = list(layout.robots)
            robots[robot] = slide(layout.h_walls, layout.v_walls, robots, robot, direction)
            if robots[robot] == layout.robots[robot]:
                continue
            if robots[layout.target_robot] == layout.goal_position:
                if length == 1:
                    moves.add((robot, direction))
                continue
            if length == 1:
                continue
            cells = np.array([r * layout.width + c for r, c in robots], dtype=np.int64)
            if lb[cells[layout.target_robot]] > length - 1:
                continue
            if _run(nxt, lb, layout, cells, length - 1, length - 1).status == "solved":
                moves.add((robot, direction))
    return frozenset(moves)


__all__ = [
    "DEFAULT_MAX_DEPTH",
    "SearchResult",
    "neighbour_table",
    "optimal_first_moves",
    "search",
    "solve",
]
