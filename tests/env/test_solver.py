"""The compiled solver against plain breadth-first search, and its plans against the env."""

import numpy as np
import pytest

from gridlab.env.bfs import bfs_optimal_first_moves
from gridlab.env.board import DOWN, RIGHT, UP, FixedLayout, empty_walls, replay
from gridlab.env.generator import BoardSpec, random_board, random_layout
from gridlab.env.layouts import fixed_layout_v4_five_moves
from gridlab.env.solver import SearchResult, optimal_first_moves, search, solve
from tests.env.boards import walled_off_16x16


def random_puzzles(count: int, seed: int, max_side: int = 6, max_robots: int = 3) -> list[FixedLayout]:
    """Unfiltered random puzzles (solvable or not) on small game-like boards."""
    rng = np.random.default_rng(seed)
    puzzles = []
    while len(puzzles) < count:
        spec = BoardSpec(
            int(rng.integers(4, max_side + 1)),
            int(rng.integers(4, max_side + 1)),
            int(rng.integers(1, max_robots + 1)),
            corner_density=float(rng.uniform(0.0, 0.25)),
            border_density=float(rng.uniform(0, 0.25)),
        )
        board = random_board(spec, rng)
        cells = rng.choice(len(board.free_cells), size=spec.num_robots + 1, replace=False)
        robots = {i: board.free_cells[c] for i, c in enumerate(cells[:-1])}
        puzzles.append(
            FixedLayout(
                spec.height,
                spec.width,
                board.h_walls,
                board.v_walls,
                robots,
                goal_position=board.free_cells[cells[-1]],
                target_robot=int(rng.integers(spec.num_robots)),
            )
        )
    return puzzles


def test_solver_matches_bfs_lengths_and_optimal_first_moves_on_600_boards() -> None:
    max_depth = 7
    lengths = []
    for layout in random_puzzles(600, seed=0):
        bfs_length, bfs_firsts = bfs_optimal_first_moves(layout, max_depth)
        plan = solve(layout, max_depth=max_depth)
        assert (None if plan is None else len(plan)) == bfs_length, layout
        assert optimal_first_moves(layout, max_depth) == bfs_firsts, layout
        if bfs_length is not None:  # a caller that knows the length skips the search for it
            assert optimal_first_moves(layout, max_depth, length=bfs_length) == bfs_firsts, layout
        lengths.append(bfs_length)
    solved = [n for n in lengths if n is not None]
    # The comparison must cover unsolvable puzzles, one-movers and long plans alike.
    assert len(solved) < len(lengths)
    assert min(solved) == 1 and max(solved) >= 6


def test_solver_matches_bfs_with_four_and_five_robots() -> None:
    puzzles = [p for p in random_puzzles(120, seed=1, max_side=5, max_robots=5) if p.num_robots >= 4]
    assert len(puzzles) >= 30
    for layout in puzzles:
        bfs_length, bfs_firsts = bfs_optimal_first_moves(layout, 5)
        plan = solve(layout, max_depth=5)
        assert (None if plan is None else len(plan)) == bfs_length, layout
        assert optimal_first_moves(layout, 5) == bfs_firsts, layout


def test_every_plan_replays_to_success() -> None:
    rng = np.random.default_rng(2)
    for size, robots in [(4, 1), (8, 2), (8, 3), (12, 4), (16, 4), (16, 5)]:
        for _ in range(10):
            layout, plan = random_layout(BoardSpec(size, size, robots), rng, 1, 9)
            final, solved = replay(layout, plan)
            assert solved and final[layout.target_robot] == layout.goal_position
            # Solved only on the last move, never earlier.
            assert not replay(layout, plan[:-1])[1]


def test_no_solution_within_max_depth_returns_none() -> None:
    h, v = empty_walls(4, 4)
    layout = FixedLayout(4, 4, h, v, {0: (0, 0)}, goal_position=(1, 1))  # open middle: unreachable alone
    assert solve(layout, max_depth=12) is None
    assert optimal_first_moves(layout, max_depth=12) == frozenset()
    alone_then_blocked = FixedLayout(4, 4, h, v, {0: (0, 1), 1: (2, 1)}, goal_position=(1, 1))
    assert solve(alone_then_blocked, max_depth=1) == [(0, DOWN)]


def test_max_depth_bounds_the_search_exactly() -> None:
    layout = fixed_layout_v4_five_moves()
    assert solve(layout, max_depth=4) is None
    assert optimal_first_moves(layout, max_depth=4) == frozenset()
    assert len(solve(layout, max_depth=5)) == 5


def test_known_optimal_plans() -> None:
    h, v = empty_walls(5, 5)
    one = FixedLayout(5, 5, h, v, {0: (2, 2)}, goal_position=(0, 2))
    assert solve(one) == [(0, UP)]
    corner = FixedLayout(5, 5, h, v, {0: (2, 2)}, goal_position=(4, 4))
    assert len(solve(corner)) == 2
    assert optimal_first_moves(corner) == {(0, DOWN), (0, RIGHT)}
    blocker = FixedLayout(5, 5, h, v, {0: (0, 0), 1: (4, 3)}, goal_position=(0, 2))
    assert solve(blocker) == [(1, UP), (0, RIGHT)]
    assert optimal_first_moves(blocker) == {(1, UP)}


def test_non_target_robots_are_interchangeable_but_plans_name_the_right_robot() -> None:
    h, v = empty_walls(5, 5)
    a = FixedLayout(5, 5, h, v, {0: (0, 0), 1: (4, 3), 2: (4, 0)}, goal_position=(0, 2))
    b = FixedLayout(5, 5, h, v, {0: (0, 0), 1: (4, 0), 2: (4, 3)}, goal_position=(0, 2))
    assert solve(a) == [(1, UP), (0, RIGHT)]
    assert solve(b) == [(2, UP), (0, RIGHT)]


@pytest.mark.parametrize("max_depth", [0, -1, 101, 2.5])
def test_bad_max_depth_is_rejected(max_depth: object) -> None:
    h, v = empty_walls(4, 4)
    layout = FixedLayout(4, 4, h, v, {0: (0, 1)}, goal_position=(0, 3))
    with pytest.raises(ValueError, match="max_depth must be an integer from 1 to 100"):
        solve(layout, max_depth=max_depth)  # type: ignore[arg-type]


def test_solver_matches_bfs_on_game_like_8x8_boards() -> None:
    rng = np.random.default_rng(3)
    for _ in range(25):
        layout, plan = random_layout(BoardSpec(8, 8, 2), rng, 1, 12)
        length, firsts = bfs_optimal_first_moves(layout, 12)
        assert len(plan) == length
        assert optimal_first_moves(layout, 12) == firsts


def test_bounded_search_agrees_with_bfs_and_never_exceeds_its_budget() -> None:
    statuses = []
    for layout in random_puzzles(300, seed=4):
        bfs_length, _ = bfs_optimal_first_moves(layout, 7)
        for max_nodes in (1, 4, 30):
            result = search(layout, max_depth=7, max_nodes=max_nodes)
            statuses.append(result.status)
            assert result.nodes <= max_nodes
            if result.status == "solved":
                assert result.length == len(result.plan) == bfs_length, layout
                assert replay(layout, result.plan)[1]
            elif result.status == "no_plan":
                assert (result.plan, result.length, bfs_length) == (None, None, None), layout
            else:
                assert (result.status, result.plan, result.nodes) == ("out_of_nodes", None, max_nodes)
    assert set(statuses) == {"solved", "no_plan", "out_of_nodes"}


def test_search_without_a_budget_is_solve() -> None:
    layout = fixed_layout_v4_five_moves()
    result = search(layout)
    assert (result.status, result.plan, result.length) == ("solved", solve(layout), 5)
    too_short = search(layout, max_depth=4)
    assert (too_short.status, too_short.plan, too_short.length) == ("no_plan", None, None)
    assert too_short.nodes > 0


def test_out_of_nodes_is_told_apart_from_no_plan_on_an_unsolvable_16x16_board() -> None:
    proven = search(walled_off_16x16(helpers=1), max_depth=30, max_nodes=10_000)
    assert proven.status == "no_plan" and 0 < proven.nodes < 10_000
    # Four helpers: the search would fill a large transposition table; the budget stops it exactly.
    unknown = search(walled_off_16x16(helpers=4), max_depth=30, max_nodes=100_000)
    assert (unknown.status, unknown.plan, unknown.nodes) == ("out_of_nodes", None, 100_000)
    assert solve(walled_off_16x16(helpers=1), max_depth=30) is None


def test_a_walled_off_goal_is_no_plan_without_search() -> None:
    h, v = empty_walls(4, 4)
    h[1:3, 1] = v[1, 1:3] = True  # walls on all four sides of (1, 1)
    layout = FixedLayout(4, 4, h, v, {0: (0, 0)}, goal_position=(1, 1))
    assert search(layout, max_depth=12, max_nodes=1) == search(layout, max_depth=12)
    assert search(layout, max_depth=12) == SearchResult("no_plan", None, 0)


@pytest.mark.parametrize("max_nodes", [0, -3, 2.5, True, "100"])
def test_bad_max_nodes_is_rejected(max_nodes: object) -> None:
    with pytest.raises(ValueError, match="max_nodes must be a positive integer or None"):
        search(fixed_layout_v4_five_moves(), max_nodes=max_nodes)  # type: ignore[arg-type]
