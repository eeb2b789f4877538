"""Milestone layouts: fixed puzzles of rising difficulty that regression tests train on.

=========================  =====  ======  =======  ==========================================
milestone                  board  robots  optimal  what it asks of an agent
=========================  =====  ======  =======  ==========================================
v0_one_move                4x4    1       1        one RIGHT move
v1_four_targets            5x5    1       1        read the goal: four boards, four directions
v2_two_moves               5x5    1       2        two moves in order; a wall stops the second
v3_blocker                 5x5    2       2        move the other robot first as a blocker
v4_five_moves              8x8    2       5        a 5-move plan on a game-like board
=========================  =====  ======  =======  ==========================================
"""

from __future__ import annotations

from gridlab.env.ascii import parse_ascii
from gridlab.env.board import FixedLayout, empty_walls


def fixed_layout_v0_one_move() -> FixedLayout:
    """4x4, one robot at (0, 1), goal at (0, 3): solved by a single RIGHT move."""
    h_walls, v_walls = empty_walls(4, 4)
    return FixedLayout(4, 4, h_walls, v_walls, {0: (0, 1)}, goal_position=(0, 3), target_robot=0)


def fixed_layouts_v1_four_targets() -> list[FixedLayout]:
    """Four open 5x5 boards, robot in the centre; the goals need UP, DOWN, LEFT, RIGHT in turn."""
    h_walls, v_walls = empty_walls(5, 5)
    return [
        FixedLayout(5, 5, h_walls, v_walls, {0: (2, 2)}, goal_position=goal, target_robot=0)
        for goal in ((0, 2), (4, 2), (2, 0), (2, 4))
    ]


def fixed_layout_v2_two_moves() -> FixedLayout:
    """The robot must go RIGHT then DOWN; a wall under the goal stops the second slide."""
    return parse_ascii(
        """
+---+---+---+---+---+
|[0]                |
+   +   +   +   +   +
|                   |
+   +   +   +   +   +
|                 * |
+   +   +   +   +---+
|                   |
+   +   +   +   +   +
|                   |
+---+---+---+---+---+
"""
    )


def fixed_layout_v3_blocker() -> FixedLayout:
    """Robot 0 slides past the goal unless robot 1 first moves UP to block it."""
    return parse_ascii(
        """
+---+---+---+---+---+
|[0]      *         |
+   +   +   +   +   +
|                   |
+   +   +   +   +   +
|                   |
+   +   +   +   +   +
|                   |
+   +   +   +   +   +
|             1     |
+---+---+---+---+---+
"""
    )


def fixed_layout_v4_five_moves() -> FixedLayout:
    """An 8x8 game-like board (border pieces, L corners, central block) with a 5-move optimum.

    Drawn by the random generator (`BoardSpec(8, 8, 2)`, seed 4) and frozen here as text.
    """
    return parse_ascii(V4_BOARD)


V4_BOARD = """
+---+---+---+---+---+---+---+---+
|       |    [0]                |
+   +---+   +   +   +   +   +   +
|       |                       |
+   +   +   +   +   +   +   +   +
|                               |
+---+   +   +---+---+   +   +   +
|           |### ###|       |   |
+   +   +   +   +   +   +---+---+
|           |### ###|           |
+   +   +   +---+---+   +   +   +
|       |         1             |
+   +---+   +   +   +   +   +   +
|                         * |   |
+   +   +   +   +   +   +---+   +
|           |                   |
+---+---+---+---+---+---+---+---+
"""


MILESTONES = {
    "v0": lambda: [fixed_layout_v0_one_move()],
    "v1": fixed_layouts_v1_four_targets,
    "v2": lambda: [fixed_layout_v2_two_moves()],
    "v3": lambda: [fixed_layout_v3_blocker()],
    "v4": lambda: [fixed_layout_v4_five_moves()],
}


def milestone_layouts(name: str) -> list[FixedLayout]:
    """Layouts of a milestone by name (``"v0"`` .. ``"v4"``); raises ``ValueError`` if unknown."""
    if name not in MILESTONES:
        raise ValueError(f"unknown milestone {name!r}; available: {', '.join(MILESTONES)}")
    return MILESTONES[name]()
