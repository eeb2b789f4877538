"""Random boards that look like the real game, and solvable puzzles with a band of optimal lengths.

Walls follow the physical board: short wall pieces sticking out of the border, L-shaped corner
pieces inside each quadrant (never touching each other), and on even boards of size 8 and up
the walled-off central 2x2 block. Goals sit on corner pieces, as the game's target tokens do.
Everything is drawn from one ``numpy.random.Generator``, so a seed fixes the board.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridlab.env.board import MAX_ROBOTS, MAX_SIZE, MIN_SIZE, Cell, FixedLayout, Move, empty_walls
from gridlab.env.solver import solve

# The 16x16 game board has 17 corner pieces (about 1 per 15 cells) and 2 border pieces per side.
DEFAULT_CORNER_DENSITY = 1 / 15
DEFAULT_BORDER_DENSITY = 1 / 8
MAX_MOVES_LIMIT = 30


@dataclass(frozen=True)
class BoardSpec:
    """The family of random boards a generator draws from.

    Args:
        height, width: Board size, 4 to 16.
        num_robots: Robots on the board, 1 to 5.
        corner_density: L-shaped corner pieces per cell of each quadrant.
        border_density: Wall pieces per cell along each side of the border.
    """

    height: int = 8
    width: int = 8
    num_robots: int = 2
    corner_density: float = DEFAULT_CORNER_DENSITY
    border_density: float = DEFAULT_BORDER_DENSITY

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or not MIN_SIZE <= value <= MAX_SIZE:
                raise ValueError(f"{name} must be an integer from {MIN_SIZE} to {MAX_SIZE}, got {value!r}")
        if not isinstance(self.num_robots, (int, np.integer)) or not 1 <= self.num_robots <= MAX_ROBOTS:
            raise ValueError(f"num_robots must be an integer from 1 to {MAX_ROBOTS}, got {self.num_robots!r}")
        for name in ("corner_density", "border_density"):
            value = getattr(self, name)
            if not 0.0 <= value <= 0.25:
                raise ValueError(f"{name} must be between 0 and 0.25, got {value!r}")

    @property
    def has_central_block(self) -> bool:
        """Even boards of size 8 and up wall off their central 2x2 cells, as the game board does."""
        return self.height % 2 == 0 and self.width % 2 == 0 and min(self.height, self.width) >= 8


@dataclass(frozen=True)
class Board:
    """Walls of a random board plus where robots and goals may go.

    Attributes:
        h_walls, v_walls: Edge walls, shapes ``(H + 1, W)`` and ``(H, W + 1)``.
        free_cells: Cells robots may start on (everything but the central block).
        corner_cells: Cells holding an L-shaped corner piece: goal candidates.
    """

    h_walls: np.ndarray
    v_walls: np.ndarray
    free_cells: tuple[Cell, ...]
    corner_cells: tuple[Cell, ...]


def random_board(spec: BoardSpec, rng: np.random.Generator) -> Board:
    """Draw the walls of a board of the family ``spec``."""
    H, W = spec.height, spec.width
    h_walls, v_walls = empty_walls(H, W)
    blocked: set[Cell] = set()
    if spec.has_central_block:
        r0, c0 = H // 2 - 1, W // 2 - 1
        blocked = {(r0, c0), (r0, c0 + 1), (r0 + 1, c0), (r0 + 1, c0 + 1)}
        h_walls[r0, c0 : c0 + 2] = h_walls[r0 + 2, c0 : c0 + 2] = True
        v_walls[r0 : r0 + 2, c0] = v_walls[r0 : r0 + 2, c0 + 2] = True

    # Border pieces: a wall perpendicular to the border, away from the board's corners.
    for side, length in (("top", W), ("bottom", W), ("left", H), ("right", H)):
        count = round(spec.border_density * length)
        spots = rng.permutation(np.arange(2, length - 1))
        taken: list[int] = []
        for spot in spots:
            if len(taken) == count:
                break
            if all(abs(int(spot) - t) > 1 for t in taken):
                taken.append(int(spot))
        for t in taken:
            if side == "top":
                v_walls[0, t] = True
            elif side == "bottom":
                v_walls[H - 1, t] = True
            elif side == "left":
                h_walls[t, 0] = True
            else:
                h_walls[t, W - 1] = True

    # L-shaped corners: two walls on adjacent sides of one cell, spaced apart.
    corners: list[Cell] = []
    for rows, cols in _quadrants(H, W):
        candidates = [
            (r, c)
            for r in rows
            for c in cols
            if 0 < r < H - 1
            and 0 < c < W - 1
            and all(abs(r - br) > 1 or abs(c - bc) > 1 for br, bc in blocked)
        ]
        count = round(spec.corner_density * len(rows) * len(cols))
        for index in rng.permutation(len(candidates)):
            if count == 0:
                break
            r, c = candidates[index]
            if any(abs(r - cr) <= 1 and abs(c - cc) <= 1 for cr, cc in corners):
                continue
            vertical, horizontal = rng.integers(2), rng.integers(2)
            h_walls[r + vertical, c] = True  # the wall above (0) or below (1) the cell
            v_walls[r, c + horizontal] = True  # the wall left (0) or right (1) of the cell
            corners.append((r, c))
            count -= 1

    free = tuple((r, c) for r in range(H) for c in range(W) if (r, c) not in blocked)
    return Board(h_walls, v_walls, free, tuple(corners))


def _quadrants(height: int, width: int) -> list[tuple[range, range]]:
    rh, cw = height // 2, width // 2
    return [
        (range(0, rh), range(0, cw)),
        (range(0, rh), range(cw, width)),
        (range(rh, height), range(0, cw)),
        (range(rh, height), range(cw, width)),
    ]


def check_band(min_moves: int, max_moves: int) -> None:
    """Raise ``ValueError`` unless ``1 <= min_moves <= max_moves <= MAX_MOVES_LIMIT``."""
    if not (isinstance(min_moves, (int, np.integer)) and isinstance(max_moves, (int, np.integer))):
        raise ValueError(f"min_moves and max_moves must be integers, got {min_moves!r}, {max_moves!r}")
    if not 1 <= min_moves <= max_moves <= MAX_MOVES_LIMIT:
        raise ValueError(
            f"optimal-length band [{min_moves}, {max_moves}] is empty or out of range; "
            f"need 1 <= min_moves <= max_moves <= {MAX_MOVES_LIMIT}"
        )


def random_layout(
    spec: BoardSpec,
    rng: np.random.Generator,
    min_moves: int = 1,
    max_moves: int = 10,
    max_tries: int = 10_000,
) -> tuple[FixedLayout, list[Move]]:
    """A random solvable puzzle whose optimal plan has ``min_moves`` to ``max_moves`` moves.

    Draws a board, then robots, goal and target robot, keeps the first puzzle whose optimal
    length falls in the band (a fresh board every 16 draws, so boards vary too).

    Args:
        spec: The board family.
        rng: Source of all randomness (the same state gives the same puzzle).
        min_moves, max_moves: The band of optimal plan lengths.
        max_tries: Draws before giving up.

    Returns:
        ``(layout, plan)`` with ``plan`` an optimal plan.

    Raises:
        ValueError: For an empty band.
        RuntimeError: When no puzzle in the band turned up within ``max_tries`` draws.
    """
    check_band(min_moves, max_moves)
    board = random_board(spec, rng)
    for attempt in range(max_tries):
        if attempt and attempt % 16 == 0:
            board = random_board(spec, rng)
        picks = rng.choice(len(board.free_cells), size=spec.num_robots, replace=False)
        robots = {i: board.free_cells[p] for i, p in enumerate(picks)}
        goals = board.corner_cells or board.free_cells
        goal = goals[rng.integers(len(goals))]
        target = int(rng.integers(spec.num_robots))
        if robots[target] == goal:
            continue
        layout = FixedLayout(spec.height, spec.width, board.h_walls, board.v_walls, robots, goal, target)
        plan = solve(layout, max_depth=max_moves)
        if plan is not None and len(plan) >= min_moves:
            return layout, plan
    raise RuntimeError(
        f"no {spec.height}x{spec.width} puzzle with {spec.num_robots} robots and optimal length "
        f"in [{min_moves}, {max_moves}] after {max_tries} draws; widen the band or raise max_tries"
    )
