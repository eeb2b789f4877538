"""Random boards: game-like walls, solvability, the optimal-length band, determinism."""

import numpy as np
import pytest

from gridlab.env.board import FixedLayout
from gridlab.env.generator import BoardSpec, random_board, random_layout
from gridlab.env.solver import solve


def test_same_seed_gives_same_puzzle_and_different_seeds_differ() -> None:
    spec = BoardSpec(10, 12, 3)
    a = [random_layout(spec, np.random.default_rng(7), 2, 6) for _ in range(2)]
    assert a[0][0] == a[1][0] and a[0][1] == a[1][1]
    b = random_layout(spec, np.random.default_rng(8), 2, 6)
    assert b[0] != a[0][0]


@pytest.mark.parametrize(
    ("size", "robots", "band"), [(4, 1, (1, 3)), (8, 2, (3, 5)), (16, 4, (5, 7)), (9, 5, (2, 4))]
)
def test_optimal_length_lies_in_the_band(size: int, robots: int, band: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        layout, plan = random_layout(BoardSpec(size, size, robots), rng, *band)
        assert isinstance(layout, FixedLayout)
        assert (layout.height, layout.width, layout.num_robots) == (size, size, robots)
        assert band[0] <= len(plan) <= band[1]
        assert len(solve(layout, max_depth=band[1])) == len(plan)


def test_even_boards_from_8_have_a_walled_central_block() -> None:
    board = random_board(BoardSpec(16, 16, 4), np.random.default_rng(0))
    assert board.h_walls[7, 7:9].all() and board.h_walls[9, 7:9].all()
    assert board.v_walls[7:9, 7].all() and board.v_walls[7:9, 9].all()
    central = {(7, 7), (7, 8), (8, 7), (8, 8)}
    assert central.isdisjoint(board.free_cells)
    for size in (7, 6):
        small = random_board(BoardSpec(size, size, 2), np.random.default_rng(0))
        assert len(small.free_cells) == size * size


def test_boards_have_border_pieces_and_separate_l_corners() -> None:
    spec = BoardSpec(16, 16, 4)
    board = random_board(spec, np.random.default_rng(3))
    # Two border pieces per side on a 16x16 board, sticking into the board from the border.
    assert board.v_walls[0, 1:-1].sum() == 2 and board.v_walls[15, 1:-1].sum() == 2
    assert board.h_walls[1:-1, 0].sum() == 2 and board.h_walls[1:-1, 15].sum() == 2
    assert len(board.corner_cells) == 4 * round(spec.corner_density * 64)
    for r, c in board.corner_cells:
        vertical = board.h_walls[r, c] + board.h_walls[r + 1, c]
        horizontal = board.v_walls[r, c] + board.v_walls[r, c + 1]
        assert vertical >= 1 and horizontal >= 1  # an L: one wall on each axis
    for i, (r1, c1) in enumerate(board.corner_cells):
        for r2, c2 in board.corner_cells[i + 1 :]:
            assert max(abs(r1 - r2), abs(c1 - c2)) > 1


def test_goals_sit_on_corner_pieces() -> None:
    rng = np.random.default_rng(5)
    for _ in range(10):
        layout, _ = random_layout(BoardSpec(16, 16, 3), rng, 1, 10)
        r, c = layout.goal_position
        assert layout.h_walls[r : r + 2, c].any() and layout.v_walls[r, c : c + 2].any()


def test_density_zero_gives_an_open_board() -> None:
    board = random_board(BoardSpec(6, 6, 2, corner_density=0.0, border_density=0.0), np.random.default_rng(0))
    assert board.h_walls[1:-1].sum() == 0 and board.v_walls[:, 1:-1].sum() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"height": 3}, "height must be an integer from 4 to 16"),
        ({"num_robots": 6}, "num_robots must be an integer from 1 to 5"),
        ({"corner_density": 0.5}, "corner_density must be between 0 and 0.25"),
    ],
)
def test_bad_specs_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BoardSpec(**kwargs)


@pytest.mark.parametrize("band", [(3, 2), (0, 4), (1, 31)])
def test_empty_or_out_of_range_band_is_rejected(band: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="band"):
        random_layout(BoardSpec(), np.random.default_rng(0), *band)


def test_unreachable_band_says_how_to_fix_it() -> None:
    with pytest.raises(RuntimeError, match="widen the band"):
        random_layout(BoardSpec(4, 4, 1), np.random.default_rng(0), 25, 30, max_tries=20)
