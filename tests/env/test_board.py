"""Sliding mechanics and FixedLayout validation."""

import numpy as np
import pytest

from gridlab.env.board import DOWN, LEFT, RIGHT, UP, FixedLayout, empty_walls, replay, slide, slide_path


def open_board(size: int = 5) -> tuple[np.ndarray, np.ndarray]:
    return empty_walls(size, size)


@pytest.mark.parametrize(
    ("direction", "expected"),
    [(UP, (0, 2)), (DOWN, (4, 2)), (LEFT, (2, 0)), (RIGHT, (2, 4))],
)
def test_slide_stops_at_border_walls_on_every_side(direction: int, expected: tuple[int, int]) -> None:
    h, v = open_board()
    assert slide(h, v, [(2, 2)], 0, direction) == expected


def test_slide_stops_at_inner_walls_on_every_side() -> None:
    h, v = open_board()
    h[1, 2] = True  # wall between (0, 2) and (1, 2)
    h[4, 2] = True  # wall between (3, 2) and (4, 2)
    v[2, 1] = True  # wall between (2, 0) and (2, 1)
    v[2, 4] = True  # wall between (2, 3) and (2, 4)
    robots = [(2, 2)]
    assert slide(h, v, robots, 0, UP) == (1, 2)
    assert slide(h, v, robots, 0, DOWN) == (3, 2)
    assert slide(h, v, robots, 0, LEFT) == (2, 1)
    assert slide(h, v, robots, 0, RIGHT) == (2, 3)


def test_slide_stops_in_front_of_other_robots() -> None:
    h, v = open_board()
    robots = [(2, 2), (0, 2), (4, 2), (2, 0), (2, 4)]
    assert slide(h, v, robots, 0, UP) == (1, 2)
    assert slide(h, v, robots, 0, DOWN) == (3, 2)
    assert slide(h, v, robots, 0, LEFT) == (2, 1)
    assert slide(h, v, robots, 0, RIGHT) == (2, 3)


def test_blocked_move_leaves_robot_in_place() -> None:
    h, v = open_board()
    v[3, 3] = True  # wall on the left of (3, 3)
    robots = [(3, 3), (2, 3)]
    assert slide(h, v, robots, 0, LEFT) == (3, 3)  # wall
    assert slide(h, v, robots, 0, UP) == (3, 3)  # robot directly above
    assert slide(h, v, [(0, 0)], 0, UP) == (0, 0)  # border


def test_slide_path_lists_every_cell_from_start_to_stop() -> None:
    h, v = open_board()
    v[3, 1] = True  # wall on the left of (3, 1)
    robots = [(3, 4), (0, 4)]
    assert slide_path(h, v, robots, 0, LEFT) == [(3, 4), (3, 3), (3, 2), (3, 1)]
    assert slide_path(h, v, robots, 0, UP) == [(3, 4), (2, 4), (1, 4)]  # stops below robot 1
    assert slide_path(h, v, robots, 1, UP) == [(0, 4)]  # blocked by the border


def test_robot_slides_over_goal_without_stopping() -> None:
    h, v = open_board()
    layout = FixedLayout(5, 5, h, v, {0: (0, 0)}, goal_position=(0, 2))
    robots, solved = replay(layout, [(0, RIGHT)])
    assert robots == ((0, 4),)
    assert not solved


def test_replay_stops_at_first_success() -> None:
    h, v = open_board()
    layout = FixedLayout(5, 5, h, v, {0: (0, 0), 1: (4, 3)}, goal_position=(0, 2))
    robots, solved = replay(layout, [(1, UP), (0, RIGHT), (0, DOWN)])
    assert solved
    assert robots == ((0, 2), (0, 3))


def test_layout_apply_is_pure() -> None:
    h, v = open_board()
    layout = FixedLayout(5, 5, h, v, {0: (2, 2), 1: (2, 4)}, goal_position=(0, 0))
    assert layout.apply((0, RIGHT)) == ((2, 3), (2, 4))
    assert layout.robots == ((2, 2), (2, 4))


def test_layout_copies_and_freezes_walls() -> None:
    h, v = open_board()
    layout = FixedLayout(5, 5, h, v, {0: (2, 2)}, goal_position=(0, 0))
    h[2, 2] = True
    assert not layout.h_walls[2, 2]
    with pytest.raises(ValueError, match="read-only"):
        layout.h_walls[2, 2] = True


def test_layout_equality_and_hash() -> None:
    h, v = open_board()
    a = FixedLayout(5, 5, h, v, {0: (2, 2)}, goal_position=(0, 0))
    b = FixedLayout(5, 5, h.copy(), v.copy(), {0: (2, 2)}, goal_position=(0, 0))
    assert a == b and hash(a) == hash(b)
    assert a != a.with_robots([(1, 1)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"h_walls": np.ones((5, 5), bool)}, r"h_walls must have shape \(height \+ 1, width\)"),
        ({"v_walls": np.ones((5, 5), bool)}, r"v_walls must have shape \(height, width \+ 1\)"),
        ({"height": 3}, "height must be an integer from 4 to 16"),
        ({"width": 17}, "width must be an integer from 4 to 16"),
        ({"robot_positions": {0: (5, 0)}}, r"robot 0 position \(5, 0\) is outside the 5x5 board"),
        (
            {"robot_positions": {0: (1, 1), 1: (1, 1)}},
            r"robots 0 and 1 are on the same cell \(1, 1\)",
        ),
        ({"robot_positions": {0: (1, 1), 2: (2, 2)}}, r"robot ids must be 0 \.\. 1"),
        ({"robot_positions": {}}, "need 1 to 5 robots"),
        ({"robot_positions": {i: (0, i) for i in range(5)} | {5: (1, 0)}}, "need 1 to 5 robots"),
        ({"robot_positions": {0: "a"}}, r"robot 0 position must be a \(row, col\) pair"),
        ({"goal_position": (0, 5)}, r"goal position \(0, 5\) is outside"),
        ({"target_robot": 1}, "target_robot must be a robot id from 0 to 0"),
        ({"target_robot": -1}, "target_robot must be a robot id"),
        ({"goal_position": (2, 2)}, "already rests on the goal"),
    ],
)
def test_invalid_layouts_raise_clear_errors(kwargs: dict, message: str) -> None:
    h, v = open_board()
    args = {
        "height": 5,
        "width": 5,
        "h_walls": h,
        "v_walls": v,
        "robot_positions": {0: (2, 2)},
        "goal_position": (0, 0),
        "target_robot": 0,
    }
    with pytest.raises(ValueError, match=message):
        FixedLayout(**(args | kwargs))


@pytest.mark.parametrize("side", ["top", "bottom", "left", "right"])
def test_missing_border_wall_is_rejected(side: str) -> None:
    h, v = open_board()
    if side == "top":
        h[0, 1] = False
    elif side == "bottom":
        h[5, 1] = False
    elif side == "left":
        v[1, 0] = False
    else:
        v[1, 5] = False
    with pytest.raises(ValueError, match="must wall the border"):
        FixedLayout(5, 5, h, v, {0: (2, 2)}, goal_position=(0, 0))


def test_invalid_moves_are_rejected() -> None:
    h, v = open_board()
    layout = FixedLayout(5, 5, h, v, {0: (2, 2)}, goal_position=(0, 0))
    with pytest.raises(ValueError, match="robot must be from 0 to 0"):
        layout.apply((1, UP))
    with pytest.raises(ValueError, match="direction must be UP=0"):
        layout.apply((0, 4))
