"""Board conventions, the `FixedLayout` puzzle description and the sliding rule.

Cells are ``(row, col)`` with row 0 at the top. Walls are *edge* walls:

* ``h_walls`` has shape ``(H + 1, W)``; ``h_walls[r, c]`` is the wall between ``(r - 1, c)``
  and ``(r, c)`` (row ``0`` and row ``H`` are the top and bottom border).
* ``v_walls`` has shape ``(H, W + 1)``; ``v_walls[r, c]`` is the wall between ``(r, c - 1)``
  and ``(r, c)`` (column ``0`` and column ``W`` are the left and right border).

A move ``(robot, direction)`` slides the robot until the next cell is walled off or holds
another robot. Everything here is plain Python and numpy; the compiled solver in
`gridlab.env.solver` is tested against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import SupportsInt

import numpy as np

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3
DIRECTION_NAMES: tuple[str, ...] = ("UP", "DOWN", "LEFT", "RIGHT")
# (d_row, d_col) per direction.
DELTAS: tuple[tuple[int, int], ...] = ((-1, 0), (1, 0), (0, -1), (0, 1))
OPPOSITE: tuple[int, ...] = (DOWN, UP, RIGHT, LEFT)

MIN_SIZE, MAX_SIZE = 4, 16
MAX_ROBOTS = 5

Cell = tuple[int, int]
Move = tuple[int, int]  # (robot, direction)


def empty_walls(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Walls of an open board: only the border is walled.

    Returns:
        ``(h_walls, v_walls)`` boolean arrays of shapes ``(H + 1, W)`` and ``(H, W + 1)``.
    """
    h_walls = np.zeros((height + 1, width), dtype=bool)
    v_walls = np.zeros((height, width + 1), dtype=bool)
    h_walls[0, :] = h_walls[height, :] = True
    v_walls[:, 0] = v_walls[:, width] = True
    return h_walls, v_walls


def cell_walls(h_walls: np.ndarray, v_walls: np.ndarray) -> np.ndarray:
    """Per-cell wall flags, one plane per direction.

    Returns:
        Boolean array of shape ``(4, H, W)``: ``[d, r, c]`` is True when a robot on ``(r, c)``
        cannot step in direction ``d``.
    """
    return np.stack([h_walls[:-1, :], h_walls[1:, :], v_walls[:, :-1], v_walls[:, 1:]])


def is_blocked(h_walls: np.ndarray, v_walls: np.ndarray, cell: Cell, direction: int) -> bool:
    """Whether a wall stops a robot on ``cell`` from stepping in ``direction``."""
    r, c = cell
    if direction == UP:
        return bool(h_walls[r, c])
    if direction == DOWN:
        return bool(h_walls[r + 1, c])
    if direction == LEFT:
        return bool(v_walls[r, c])
    return bool(v_walls[r, c + 1])


def slide(
    h_walls: np.ndarray,
    v_walls: np.ndarray,
    robots: Sequence[Cell],
    robot: int,
    direction: int,
) -> Cell:
    """Where ``robot`` stops when it slides in ``direction``.

    Args:
        h_walls, v_walls: Edge walls, shapes ``(H + 1, W)`` and ``(H, W + 1)``.
        robots: Position of every robot, indexed by robot id.
        robot: The robot to move.
        direction: One of ``UP, DOWN, LEFT, RIGHT``.

    Returns:
        The cell the robot rests on (its own cell when the move is blocked at once).
    """
    occupied = {tuple(p) for i, p in enumerate(robots) if i != robot}
    dr, dc = DELTAS[direction]
    r, c = robots[robot]
    while not is_blocked(h_walls, v_walls, (r, c), direction) and (r + dr, c + dc) not in occupied:
        r, c = r + dr, c + dc
    return (int(r), int(c))


@dataclass(frozen=True, eq=False)
class FixedLayout:
    """A complete puzzle: board walls, robot positions, the goal and the robot that must reach it.

    Validates itself on construction and raises ``ValueError`` naming the problem.

    Example:
        >>> h, v = empty_walls(4, 4)
        >>> layout = FixedLayout(4, 4, h, v, {0: (0, 1)}, goal_position=(0, 3), target_robot=0)
        >>> layout.num_robots
        1

    Args:
        height, width: Board size, 4 to 16 each.
        h_walls: Boolean ``(height + 1, width)`` horizontal edge walls; border rows must be walled.
        v_walls: Boolean ``(height, width + 1)`` vertical edge walls; border columns must be walled.
        robot_positions: ``{robot_id: (row, col)}`` with ids ``0 .. N - 1`` (1 to 5 robots).
        goal_position: The goal cell.
        target_robot: Id of the robot that must come to rest on the goal.
    """

    height: int
    width: int
    h_walls: np.ndarray
    v_walls: np.ndarray
    robot_positions: Mapping[int, Cell]
    goal_position: Cell
    target_robot: int = 0
    _robots: tuple[Cell, ...] = field(init=False, repr=False)
    _hash: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or not MIN_SIZE <= value <= MAX_SIZE:
                raise ValueError(f"{name} must be an integer from {MIN_SIZE} to {MAX_SIZE}, got {value!r}")
        H, W = int(self.height), int(self.width)
        h_walls = np.array(self.h_walls, dtype=bool)
        v_walls = np.array(self.v_walls, dtype=bool)
        if h_walls.shape != (H + 1, W):
            raise ValueError(
                f"h_walls must have shape (height + 1, width) = {(H + 1, W)}, got {h_walls.shape}"
            )
        if v_walls.shape != (H, W + 1):
            raise ValueError(
                f"v_walls must have shape (height, width + 1) = {(H, W + 1)}, got {v_walls.shape}"
            )
        if not (h_walls[0].all() and h_walls[H].all()):
            raise ValueError("h_walls must wall the border: rows 0 and height must be all True")
        if not (v_walls[:, 0].all() and v_walls[:, W].all()):
            raise ValueError("v_walls must wall the border: columns 0 and width must be all True")
        h_walls.setflags(write=False)
        v_walls.setflags(write=False)

        ids = sorted(self.robot_positions)
        if not 1 <= len(ids) <= MAX_ROBOTS:
            raise ValueError(f"need 1 to {MAX_ROBOTS} robots, got {len(ids)}")
        if ids != list(range(len(ids))):
            raise ValueError(f"robot ids must be 0 .. {len(ids) - 1}, got {ids}")
        robots = tuple(_as_cell(self.robot_positions[i], f"robot {i}", H, W) for i in ids)
        seen: dict[Cell, int] = {}
        for i, cell in enumerate(robots):
            if cell in seen:
                raise ValueError(f"robots {seen[cell]} and {i} are on the same cell {cell}")
            seen[cell] = i
        goal = _as_cell(self.goal_position, "goal", H, W)
        if not (isinstance(self.target_robot, (int, np.integer)) and 0 <= self.target_robot < len(ids)):
            raise ValueError(
                f"target_robot must be a robot id from 0 to {len(ids) - 1}, got {self.target_robot!r}"
            )
        if robots[self.target_robot] == goal:
            raise ValueError(
                f"target robot {self.target_robot} already rests on the goal {goal}; "
                "place the goal or the robot elsewhere"
            )
        object.__setattr__(self, "height", H)
        object.__setattr__(self, "width", W)
        object.__setattr__(self, "h_walls", h_walls)
        object.__setattr__(self, "v_walls", v_walls)
        object.__setattr__(self, "robot_positions", dict(enumerate(robots)))
        object.__setattr__(self, "goal_position", goal)
        object.__setattr__(self, "target_robot", int(self.target_robot))
        object.__setattr__(self, "_robots", robots)
        object.__setattr__(
            self, "_hash", hash((H, W, robots, goal, self.target_robot, h_walls.tobytes(), v_walls.tobytes()))
        )

    @property
    def num_robots(self) -> int:
        return len(self._robots)

    @property
    def robots(self) -> tuple[Cell, ...]:
        """Robot positions as a tuple indexed by robot id."""
        return self._robots

    def with_robots(self, robots: Sequence[Cell]) -> FixedLayout:
        """The same board and goal with the robots moved to ``robots`` (indexed by id)."""
        return FixedLayout(
            self.height,
            self.width,
            self.h_walls,
            self.v_walls,
            dict(enumerate(robots)),
            self.goal_position,
            self.target_robot,
        )

    def apply(self, move: Move) -> tuple[Cell, ...]:
        """Robot positions after ``move`` (the layout itself is immutable)."""
        robot, direction = check_move(move, self.num_robots)
        robots = list(self._robots)
        robots[robot] = slide(self.h_walls, self.v_walls, robots, robot, direction)
        return tuple(robots)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FixedLayout):
            return NotImplemented
        return (
            (self.height, self.width, self._robots, self.goal_position, self.target_robot)
            == (other.height, other.width, other._robots, other.goal_position, other.target_robot)
            and np.array_equal(self.h_walls, other.h_walls)
            and np.array_equal(self.v_walls, other.v_walls)
        )

    def __hash__(self) -> int:
        return self._hash


def _as_cell(value: Iterable[SupportsInt], what: str, height: int, width: int) -> Cell:
    try:
        r, c = (int(x) for x in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} position must be a (row, col) pair, got {value!r}") from None
    if not (0 <= r < height and 0 <= c < width):
        raise ValueError(
            f"{what} position {(r, c)} is outside the {height}x{width} board "
            f"(rows 0..{height - 1}, cols 0..{width - 1})"
        )
    return (r, c)


def slide_path(
    h_walls: np.ndarray, v_walls: np.ndarray, robots: Sequence[Cell], robot: int, direction: int
) -> list[Cell]:
    """Every cell ``robot`` occupies sliding in ``direction``: its start, the cells it crosses and
    its stop (just the start when a wall or robot blocks the move)."""
    stop = slide(h_walls, v_walls, robots, robot, direction)
    dr, dc = DELTAS[direction]
    r0, c0 = robots[robot]
    cells = [(r0, c0)]
    while cells[-1] != stop:
        cells.append((cells[-1][0] + dr, cells[-1][1] + dc))
    return cells


def check_move(move: Move, num_robots: int) -> tuple[int, int]:
    """Validate a ``(robot, direction)`` pair and return it as plain ints."""
    robot, direction = (int(x) for x in move)
    if not 0 <= robot < num_robots:
        raise ValueError(f"robot must be from 0 to {num_robots - 1}, got {robot}")
    if not 0 <= direction < 4:
        raise ValueError(f"direction must be UP=0, DOWN=1, LEFT=2 or RIGHT=3, got {direction}")
    return robot, direction


def replay(layout: FixedLayout, moves: Sequence[Move]) -> tuple[tuple[Cell, ...], bool]:
    """Play ``moves`` from ``layout``, stopping once the target robot rests on the goal.

    Returns:
        ``(robots, solved)``: final positions and whether the target robot reached the goal.
    """
    robots = list(layout.robots)
    for move in moves:
        robot, direction = check_move(move, layout.num_robots)
        robots[robot] = slide(layout.h_walls, layout.v_walls, robots, robot, direction)
        if robots[layout.target_robot] == layout.goal_position:
            return tuple(robots), True
    return tuple(robots), False
