"""Pictures of boards: a fast numpy RGB image and a matplotlib drawing for notebooks.

matplotlib is imported by the functions that draw (it takes a second to import, and the
environment's observations and ``gridlab solve`` need only the numpy image and the text).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gridlab.env.board import DELTAS, DIRECTION_NAMES, Cell, FixedLayout, Move, check_move, slide
from gridlab.files import atomic_write

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

# One colour per robot id (red, blue, green, yellow, purple), as on the game board.
ROBOT_COLORS: tuple[tuple[int, int, int], ...] = (
    (220, 50, 47),
    (38, 110, 220),
    (40, 160, 70),
    (230, 180, 20),
    (150, 70, 190),
)
_BACKGROUND = (236, 232, 222)
_GRID = (205, 200, 188)
_WALL = (40, 40, 40)


def board_rgb(layout: FixedLayout, robots: Sequence[Cell] | None = None, cell_size: int = 16) -> np.ndarray:
    """The board as an RGB image: walls dark, the goal a square in the target robot's colour,
    robots as discs.

    Args:
        layout: Walls, goal and target robot.
        robots: Current robot cells indexed by id; defaults to the layout's start cells.
        cell_size: Pixels per cell (at least 4).

    Returns:
        uint8 array of shape ``(H * cell_size, W * cell_size, 3)``.
    """
    if cell_size < 4:
        raise ValueError(f"cell_size must be at least 4 pixels, got {cell_size}")
    robots = layout.robots if robots is None else robots
    s, H, W = cell_size, layout.height, layout.width
    img = np.empty((H * s, W * s, 3), dtype=np.uint8)
    img[:] = _BACKGROUND
    img[::s, :] = _GRID
    img[:, ::s] = _GRID

    gr, gc = layout.goal_position
    pad = max(1, s // 8)
    goal_color = np.array(ROBOT_COLORS[layout.target_robot]) * 0.45 + np.array(_BACKGROUND) * 0.55
    img[gr * s + pad : (gr + 1) * s - pad, gc * s + pad : (gc + 1) * s - pad] = goal_color.astype(np.uint8)

    yy, xx = np.mgrid[0:s, 0:s]
    disc = (yy - (s - 1) / 2) ** 2 + (xx - (s - 1) / 2) ** 2 <= (0.36 * s) ** 2
    for i, (r, c) in enumerate(robots):
        img[r * s : (r + 1) * s, c * s : (c + 1) * s][disc] = ROBOT_COLORS[i]

    t = max(2, s // 6)  # wall thickness in pixels, centred on the cell edge
    for r, c in zip(*np.nonzero(layout.h_walls), strict=True):
        y = min(max(r * s - t // 2, 0), H * s - t)
        img[y : y + t, c * s : (c + 1) * s] = _WALL
    for r, c in zip(*np.nonzero(layout.v_walls), strict=True):
        x = min(max(c * s - t // 2, 0), W * s - t)
        img[r * s : (r + 1) * s, x : x + t] = _WALL
    return img


def plot_board(
    layout: FixedLayout,
    robots: Sequence[Cell] | None = None,
    plan: Sequence[Move] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw the board with matplotlib, optionally with a plan as numbered arrows.

    Args:
        layout: Walls, goal and target robot.
        robots: Current robot cells indexed by id; defaults to the layout's start cells.
        plan: ``(robot, direction)`` moves to draw from ``robots``, each an arrow in the moving
            robot's colour, numbered in order.
        ax: Axes to draw on; a new figure when ``None``.
        title: Axes title.

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyArrowPatch, Rectangle

    robots = list(layout.robots if robots is None else robots)
    H, W = layout.height, layout.width
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * W + 1, 0.45 * H + 1))
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.add_patch(Rectangle((0, 0), W, H, color=np.array(_BACKGROUND) / 255, zorder=0))
    for k in range(1, max(H, W)):
        ax.plot([0, W], [k, k], color=np.array(_GRID) / 255, lw=0.5, zorder=1)
        ax.plot([k, k], [0, H], color=np.array(_GRID) / 255, lw=0.5, zorder=1)
    for r, c in zip(*np.nonzero(layout.h_walls), strict=True):
        ax.plot([c, c + 1], [r, r], color=np.array(_WALL) / 255, lw=3, solid_capstyle="round", zorder=4)
    for r, c in zip(*np.nonzero(layout.v_walls), strict=True):
        ax.plot([c, c], [r, r + 1], color=np.array(_WALL) / 255, lw=3, solid_capstyle="round", zorder=4)

    gr, gc = layout.goal_position
    target_color = np.array(ROBOT_COLORS[layout.target_robot]) / 255
    ax.add_patch(Rectangle((gc + 0.1, gr + 0.1), 0.8, 0.8, color=target_color, alpha=0.35, zorder=2))
    ax.text(gc + 0.5, gr + 0.5, "*", ha="center", va="center", fontsize=14, color=target_color, zorder=2)
    for i, (r, c) in enumerate(robots):
        edge = "black" if i == layout.target_robot else "none"
        ax.add_patch(
            Circle(
                (c + 0.5, r + 0.5),
                0.34,
                color=np.array(ROBOT_COLORS[i]) / 255,
                ec=edge,
                lw=2,
                zorder=5,
            )
        )
        ax.text(c + 0.5, r + 0.5, str(i), ha="center", va="center", color="white", fontsize=9, zorder=6)

    for step, move in enumerate(plan or (), start=1):
        robot, direction = check_move(move, layout.num_robots)
        start = robots[robot]
        robots[robot] = slide(layout.h_walls, layout.v_walls, robots, robot, direction)
        (r0, c0), (r1, c1) = start, robots[robot]
        color = np.array(ROBOT_COLORS[robot]) / 255
        ax.add_patch(
            FancyArrowPatch(
                (c0 + 0.5, r0 + 0.5),
                (c1 + 0.5, r1 + 0.5),
                arrowstyle="-|>",
                mutation_scale=14,
                color=color,
                lw=2,
                zorder=7,
                shrinkA=6,
                shrinkB=6,
            )
        )
        ax.text(
            (c0 + c1) / 2 + 0.5,
            (r0 + r1) / 2 + 0.35,
            str(step),
            ha="center",
            va="center",
            fontsize=8,
            color="black",
            zorder=8,
            bbox={"boxstyle": "circle,pad=0.15", "fc": "white", "ec": color, "lw": 1},
        )
    if title:
        ax.set_title(title)
    return ax


def plot_cell_values(
    layout: FixedLayout,
    values: np.ndarray,
    robots: Sequence[Cell] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str = "RdBu_r",
) -> Axes:
    """The board with an ``(H, W)`` map (an attribution, a probe's score per cell) drawn over it.

    Diverging maps (``cmap="RdBu_r"``, the default) are centred on zero.
    """
    ax = plot_board(layout, robots=robots, ax=ax, title=title)
    limit = float(np.abs(values).max()) or 1.0
    vmin, vmax = (-limit, limit) if cmap == "RdBu_r" else (float(values.min()), float(values.max()))
    extent = (0, layout.width, layout.height, 0)
    ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, alpha=0.55, extent=extent, zorder=3)
    return ax


def plot_cell_directions(
    layout: FixedLayout,
    directions: np.ndarray,
    robots: Sequence[Cell] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    color: str = "black",
) -> Axes:
    """The board with an arrow in every cell of an ``(H, W)`` direction map (0-3; -1: none).

    Draws ``plan_direction``/``reach_direction`` labels or a square probe's predictions of them.
    """
    ax = plot_board(layout, robots=robots, ax=ax, title=title)
    for r, c in zip(*np.nonzero(directions >= 0), strict=True):
        dr, dc = DELTAS[int(directions[r, c])]
        ax.annotate(
            "", xy=(c + 0.5 + 0.3 * dc, r + 0.5 + 0.3 * dr), xytext=(c + 0.5 - 0.3 * dc, r + 0.5 - 0.3 * dr),
            arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.5}, zorder=8,
        )  # fmt: skip
    return ax


def save_figure(figure: Figure | SubFigure | Axes, path: str | os.PathLike, dpi: int = 120) -> None:
    """Write a figure (or the figure of an axes) as a PNG, atomically, and close it.

    Args:
        figure: A figure, a subfigure (its whole figure is saved) or axes.
        path: The PNG file; its folder is created.
        dpi: Resolution.
    """
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    root = figure
    while not isinstance(root, Figure):  # axes -> (sub)figure -> the figure
        root = root.figure
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, lambda f: root.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))
    plt.close(root)


def describe_plan(plan: Sequence[Move]) -> str:
    """A plan as text, e.g. ``"robot 1 UP, robot 0 RIGHT"``."""
    return ", ".join(f"robot {robot} {DIRECTION_NAMES[direction]}" for robot, direction in plan)
