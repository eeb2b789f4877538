"""Milestone layouts are exactly as specified and their optimal lengths are what they claim."""

import pytest

from gridlab.env import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    fixed_layout_v0_one_move,
    fixed_layout_v2_two_moves,
    fixed_layout_v3_blocker,
    fixed_layout_v4_five_moves,
    fixed_layouts_v1_four_targets,
    milestone_layouts,
    optimal_first_moves,
    solve,
)
from gridlab.env.bfs import bfs_optimal_first_moves


def test_v0_is_one_right_move_on_4x4() -> None:
    layout = fixed_layout_v0_one_move()
    assert (layout.height, layout.width, layout.robots, layout.goal_position) == (
        4,
        4,
        ((0, 1),),
        (0, 3),
    )
    assert solve(layout) == [(0, RIGHT)]


def test_v1_four_5x5_boards_need_one_move_in_each_direction() -> None:
    layouts = fixed_layouts_v1_four_targets()
    assert [(x.height, x.width) for x in layouts] == [(5, 5)] * 4
    assert [solve(x) for x in layouts] == [[(0, UP)], [(0, DOWN)], [(0, LEFT)], [(0, RIGHT)]]


@pytest.mark.parametrize(
    ("layout", "length", "firsts"),
    [
        (fixed_layout_v2_two_moves(), 2, {(0, RIGHT)}),
        (fixed_layout_v3_blocker(), 2, {(1, UP)}),
        (fixed_layout_v4_five_moves(), 5, {(0, LEFT), (1, LEFT)}),
    ],
)
def test_harder_milestones_have_the_stated_optimal_length(layout, length: int, firsts: set) -> None:
    assert len(solve(layout)) == length
    assert optimal_first_moves(layout) == firsts
    assert bfs_optimal_first_moves(layout, length) == (length, firsts)


def test_v3_cannot_be_solved_without_the_blocker() -> None:
    layout = fixed_layout_v3_blocker()
    alone = layout.with_robots([(0, 0), (4, 4)])
    assert len(solve(alone)) > 2


def test_milestones_by_name() -> None:
    assert milestone_layouts("v1") == fixed_layouts_v1_four_targets()
    with pytest.raises(ValueError, match="unknown milestone 'v9'; available: v0, v1, v2, v3, v4"):
        milestone_layouts("v9")
