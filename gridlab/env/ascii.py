"""Boards as text: a terminal rendering anyone can read, and its exact inverse.

A 3x4 board with robot 0 the target, robot 1 beside it and the goal marked ``*``::

    +---+---+---+---+
    |[0]  1     *   |
    +   +---+   +   +
    |       |       |
    +   +   +   +---+
    |               |
    +---+---+---+---+

Each cell is three characters: ``[i]`` the target robot, `` i `` another robot, `` * `` the
goal (`` i*`` a robot on it, ``*i*`` the target resting on it), ``###`` a walled-off central
cell. ``---`` and ``|`` are walls. `parse_ascii` reads the same format, so milestone layouts and
user puzzles can be written by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gridlab.env.board import Cell, FixedLayout


def _is_central_block(layout: FixedLayout, r: int, c: int) -> bool:
    H, W = layout.height, layout.width
    if H % 2 or W % 2 or min(H, W) < 8:
        return False
    r0, c0 = H // 2 - 1, W // 2 - 1
    if not (r0 <= r <= r0 + 1 and c0 <= c <= c0 + 1):
        return False
    h, v = layout.h_walls, layout.v_walls
    return bool(
        h[r0, c0 : c0 + 2].all()
        and h[r0 + 2, c0 : c0 + 2].all()
        and v[r0 : r0 + 2, c0].all()
        and v[r0 : r0 + 2, c0 + 2].all()
    )


def render_ascii(layout: FixedLayout, robots: Sequence[Cell] | None = None) -> str:
    """The board as text (see the module docstring for the format).

    Args:
        layout: Walls, goal and target robot.
        robots: Current robot cells indexed by id; defaults to the layout's start cells.
    """
    robots = layout.robots if robots is None else tuple((r, c) for r, c in robots)
    where = {p: i for i, p in enumerate(robots)}
    lines = []
    for r in range(layout.height + 1):
        walls = "".join("+" + ("---" if layout.h_walls[r, c] else "   ") for c in range(layout.width))
        lines.append(walls + "+")
        if r == layout.height:
            break
        row = []
        for c in range(layout.width):
            row.append("|" if layout.v_walls[r, c] else " ")
            row.append(_cell_text(layout, where, r, c))
        row.append("|" if layout.v_walls[r, layout.width] else " ")
        lines.append("".join(row))
    return "\n".join(lines)


def _cell_text(layout: FixedLayout, where: dict[Cell, int], r: int, c: int) -> str:
    robot = where.get((r, c))
    on_goal = (r, c) == layout.goal_position
    if robot is None:
        if on_goal:
            return " * "
        return "###" if _is_central_block(layout, r, c) else "   "
    if robot == layout.target_robot:
        return f"*{robot}*" if on_goal else f"[{robot}]"
    return f" {robot}*" if on_goal else f" {robot} "


def parse_ascii(text: str) -> FixedLayout:
    """Read a board written in the format of `render_ascii`.

    Raises:
        ValueError: When the text is not a well-formed board, or the puzzle it describes is
            invalid (see `FixedLayout`).
    """
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    lines = [line for line in lines if line.strip()]
    if len(lines) < 3 or len(lines) % 2 == 0:
        raise ValueError(
            f"a board needs 2 * height + 1 lines alternating walls and cells, got {len(lines)} lines"
        )
    height = (len(lines) - 1) // 2
    width = (len(lines[0]) - 1) // 4
    expected = 4 * width + 1
    for n, line in enumerate(lines):
        if len(line) != expected:
            raise ValueError(
                f"line {n + 1} has {len(line)} characters; every line of a {width}-wide board "
                f"has {expected}: {line!r}"
            )
    h_walls = np.zeros((height + 1, width), dtype=bool)
    v_walls = np.zeros((height, width + 1), dtype=bool)
    robots: dict[int, Cell] = {}
    goal: Cell | None = None
    targets: list[int] = []
    for r in range(height + 1):
        line = lines[2 * r]
        for c in range(width):
            h_walls[r, c] = line[4 * c + 1 : 4 * c + 4] == "---"
        if r == height:
            break
        line = lines[2 * r + 1]
        for c in range(width + 1):
            v_walls[r, c] = line[4 * c] == "|"
        for c in range(width):
            text_cell = line[4 * c + 1 : 4 * c + 4]
            if "*" in text_cell:
                if goal is not None:
                    raise ValueError(f"two goals on the board: {goal} and {(r, c)}")
                goal = (r, c)
            digits = [ch for ch in text_cell if ch.isdigit()]
            if len(digits) > 1:
                raise ValueError(f"cell {(r, c)} names more than one robot: {text_cell!r}")
            if digits:
                robot = int(digits[0])
                if robot in robots:
                    raise ValueError(f"robot {robot} appears twice: at {robots[robot]} and {(r, c)}")
                robots[robot] = (r, c)
                if text_cell.startswith(("[", "*")) and text_cell != f" {robot}*":
                    targets.append(robot)
    if goal is None:
        raise ValueError("the board has no goal; mark one cell with '*'")
    if len(targets) != 1:
        raise ValueError(f"mark exactly one target robot as [i], found {len(targets)}")
    return FixedLayout(height, width, h_walls, v_walls, robots, goal, targets[0])
