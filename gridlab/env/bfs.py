"""Plain-Python breadth-first search: the slow, obviously-correct reference solver.

No pruning, no bounds, no symmetry: every state is the full tuple of robot cells. The tests
check `gridlab.env.solver` against it and the solver benchmark measures the speed-up over it.
"""

from __future__ import annotations

from gridlab.env.board import Cell, FixedLayout, Move, slide


def bfs_optimal_first_moves(layout: FixedLayout, max_depth: int) -> tuple[int | None, frozenset[Move]]:
    """Optimal plan length and every first move of an optimal plan, by breadth-first search.

    Returns:
        ``(length, first_moves)``; ``(None, frozenset())`` when no plan of at most
        ``max_depth`` moves exists.
    """
    start = layout.robots
    # Each state maps to the set of first moves over all shortest paths reaching it.
    firsts: dict[tuple[Cell, ...], frozenset[Move]] = {start: frozenset()}
    frontier = [start]
    for depth in range(1, max_depth + 1):
        reached: dict[tuple[Cell, ...], set[Move]] = {}
        solved: set[Move] = set()
        for state in frontier:
            for robot in range(layout.num_robots):
                for direction in range(4):
                    cell = slide(layout.h_walls, layout.v_walls, state, robot, direction)
                    child = (*state[:robot], cell, *state[robot + 1 :])
                    moves = firsts[state] if depth > 1 else frozenset({(robot, direction)})
                    if child[layout.target_robot] == layout.goal_position:
                        solved |= moves
                    elif child not in firsts:
                        reached.setdefault(child, set()).update(moves)
        if solved:
            return depth, frozenset(solved)
        firsts.update((state, frozenset(moves)) for state, moves in reached.items())
        frontier = list(reached)
    return None, frozenset()


def bfs_solve(layout: FixedLayout, max_depth: int) -> list[Move] | None:
    """A shortest plan by breadth-first search with parent pointers, ``None`` beyond ``max_depth``."""
    start = layout.robots
    parent: dict[tuple[Cell, ...], tuple[tuple[Cell, ...], Move] | None] = {start: None}
    frontier = [start]
    for _ in range(max_depth):
        next_frontier = []
        for state in frontier:
            for robot in range(layout.num_robots):
                for direction in range(4):
                    cell = slide(layout.h_walls, layout.v_walls, state, robot, direction)
                    child = (*state[:robot], cell, *state[robot + 1 :])
                    if child in parent:
                        continue
                    parent[child] = (state, (robot, direction))
                    if child[layout.target_robot] == layout.goal_position:
                        plan: list[Move] = []
                        node: tuple[Cell, ...] = child
                        while (link := parent[node]) is not None:
                            node, move = link
                            plan.append(move)
                        return plan[::-1]
                    next_frontier.append(child)
        frontier = next_frontier
    return None
