"""Puzzle lists in either spelling: bare layouts, or ``(layout, optimal_length)`` pairs.

`gridlab.training.evaluation_puzzles` returns pairs; a hand-made list is usually bare layouts.
Functions that play puzzles accept both through these two converters:

* `as_layouts` drops the lengths;
* `as_puzzles` keeps given lengths and solves for missing ones (a bare layout, or a pair whose
  length is None); a length it cannot find (no plan within ``max_depth`` moves) is None.

Example:
    >>> from gridlab.env import fixed_layout_v0_one_move
    >>> layout = fixed_layout_v0_one_move()
    >>> as_puzzles([layout]) == as_puzzles([(layout, 1)]) == [(layout, 1)]
    True
    >>> as_layouts([(layout, 1)]) == [layout]
    True
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable

import numpy as np

from gridlab.env.board import FixedLayout
from gridlab.env.solver import DEFAULT_MAX_DEPTH, solve

Puzzle = FixedLayout | tuple[FixedLayout, int | None]


def _split(puzzles: Iterable[Puzzle]) -> list[tuple[FixedLayout, int | None]]:
    """Each puzzle as ``(layout, length or None)``, type-checked."""
    if isinstance(puzzles, FixedLayout):
        raise TypeError("expected a list of puzzles, got a single FixedLayout; wrap it in a list: [layout]")
    if not isinstance(puzzles, Iterable):
        raise TypeError(f"expected a list of puzzles, got {type(puzzles).__name__}")
    pairs: list[tuple[FixedLayout, int | None]] = []
    for index, puzzle in enumerate(puzzles):
        if isinstance(puzzle, FixedLayout):
            pairs.append((puzzle, None))
            continue
        if not (isinstance(puzzle, tuple) and len(puzzle) == 2 and isinstance(puzzle[0], FixedLayout)):
            raise TypeError(
                f"puzzle {index} is {type(puzzle).__name__} {reprlib.repr(puzzle)}; expected a FixedLayout "
                "or a (FixedLayout, optimal_length) pair such as evaluation_puzzles returns"
            )
        layout, length = puzzle
        if length is not None and (isinstance(length, bool) or not isinstance(length, (int, np.integer))):
            raise TypeError(
                f"puzzle {index} has optimal length {length!r} ({type(length).__name__}); "
                "expected an int, or None to have it solved"
            )
        if length is not None and length < 0:
            raise ValueError(f"puzzle {index} has optimal length {length}; expected a length >= 0 or None")
        pairs.append((layout, None if length is None else int(length)))
    return pairs


def as_layouts(puzzles: Iterable[Puzzle]) -> list[FixedLayout]:
    """The layouts of ``puzzles``, given as layouts or ``(layout, optimal_length)`` pairs.

    Args:
        puzzles: Layouts, pairs, or a mix of both.

    Returns:
        One `FixedLayout` per puzzle, in order.

    Raises:
        TypeError: For a single layout instead of a list, or an item that is neither form.
        ValueError: For a negative optimal length.
    """
    return [layout for layout, _ in _split(puzzles)]


def as_puzzles(
    puzzles: Iterable[Puzzle], max_depth: int = DEFAULT_MAX_DEPTH
) -> list[tuple[FixedLayout, int | None]]:
    """``(layout, optimal_length)`` pairs, solving for the lengths that are missing.

    Args:
        puzzles: Layouts, pairs, or a mix of both; a pair's length is kept as given, unless it
            is None.
        max_depth: Longest plan the solver looks for.

    Returns:
        One pair per puzzle, in order; the length is None where no plan of at most ``max_depth``
        moves exists.

    Raises:
        TypeError: For a single layout instead of a list, or an item that is neither form.
        ValueError: For a negative optimal length.
    """
    pairs = []
    for layout, length in _split(puzzles):
        if length is None:
            plan = solve(layout, max_depth)
            length = None if plan is None else len(plan)
        pairs.append((layout, length))
    return pairs
