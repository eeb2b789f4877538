"""Puzzle lists: bare layouts and (layout, optimal_length) pairs convert to each other."""

import numpy as np
import pytest

from gridlab.env import fixed_layout_v0_one_move, fixed_layout_v2_two_moves, fixed_layout_v4_five_moves
from gridlab.env.puzzles import as_layouts, as_puzzles


def test_layouts_and_pairs_give_the_same_layouts() -> None:
    one, two = fixed_layout_v0_one_move(), fixed_layout_v2_two_moves()
    assert as_layouts([one, two]) == as_layouts([(one, 1), (two, 2)]) == [one, two]
    assert as_layouts([one, (two, None)]) == [one, two]  # a mix of both forms
    assert as_layouts(iter([one])) == [one] and as_layouts([]) == []


def test_missing_lengths_are_solved_and_given_ones_are_kept() -> None:
    one, two, five = fixed_layout_v0_one_move(), fixed_layout_v2_two_moves(), fixed_layout_v4_five_moves()
    assert as_puzzles([one, two, five]) == [(one, 1), (two, 2), (five, 5)]
    assert as_puzzles([(one, 7), (two, np.int64(2))]) == [(one, 7), (two, 2)]  # kept, not re-solved
    assert type(as_puzzles([(two, np.int64(2))])[0][1]) is int
    assert as_puzzles([two, (one, None)], max_depth=1) == [(two, None), (one, 1)]  # None: no plan that short


def test_anything_else_is_a_type_error_that_names_the_puzzle() -> None:
    one = fixed_layout_v0_one_move()
    with pytest.raises(TypeError, match=r"got a single FixedLayout; wrap it in a list: \[layout\]"):
        as_layouts(one)
    with pytest.raises(TypeError, match="expected a list of puzzles, got int"):
        as_puzzles(3)
    with pytest.raises(TypeError, match=r"puzzle 1 is str 'board'; expected a FixedLayout or a \("):
        as_layouts([one, "board"])
    with pytest.raises(TypeError, match=r"puzzle 0 is tuple \(1, .*\); expected a FixedLayout"):
        as_layouts([(1, one)])
    with pytest.raises(TypeError, match=r"puzzle 0 has optimal length 2\.0 \(float\); expected an int"):
        as_puzzles([(one, 2.0)])
    with pytest.raises(TypeError, match=r"puzzle 0 has optimal length True \(bool\)"):
        as_puzzles([(one, True)])
    with pytest.raises(ValueError, match="puzzle 0 has optimal length -1; expected a length >= 0 or None"):
        as_layouts([(one, -1)])
