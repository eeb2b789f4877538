"""Puzzles that several env test modules share."""

from gridlab.env.board import FixedLayout, empty_walls


def walled_off_16x16(helpers: int = 4) -> FixedLayout:
    """An unsolvable 16x16 puzzle whose search space grows with ``helpers``.

    A wall across the board keeps the target robot 0 in the top half, where, alone, it stops
    only in the corners and never on the goal at (3, 5) (its lower bound is 2 moves, so the
    solver has to search). The ``helpers`` other robots sit in the bottom half and cannot cross
    to block it, but their moves make the states to search: with one helper a depth-30 search
    proves there is no plan in under a thousand nodes; with four it takes far more than the
    env's reset budget.
    """
    h_walls, v_walls = empty_walls(16, 16)
    h_walls[8, :] = True
    robots = {0: (0, 0)} | {i + 1: (15 - i, 3 * i + 1) for i in range(helpers)}
    return FixedLayout(16, 16, h_walls, v_walls, robots, goal_position=(3, 5), target_robot=0)
