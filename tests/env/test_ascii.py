"""The text rendering reads back exactly."""

import numpy as np
import pytest

from gridlab.env import BoardSpec, parse_ascii, random_layout, render_ascii
from gridlab.env.layouts import V4_BOARD, fixed_layout_v3_blocker


def test_render_of_a_known_board() -> None:
    assert render_ascii(fixed_layout_v3_blocker()).splitlines()[:2] == [
        "+---+---+---+---+---+",
        "|[0]      *         |",
    ]
    assert render_ascii(fixed_layout_v3_blocker(), robots=[(0, 2), (0, 3)]).splitlines()[1] == (
        "|        *0*  1     |"
    )


def test_parse_inverts_render_on_random_boards() -> None:
    rng = np.random.default_rng(0)
    for size, robots in [(4, 1), (7, 3), (8, 2), (13, 5), (16, 4)]:
        layout, _ = random_layout(BoardSpec(size, size + (size < 16), robots), rng, 1, 6)
        assert parse_ascii(render_ascii(layout)) == layout


def test_central_block_is_drawn_and_round_trips() -> None:
    text = render_ascii(parse_ascii(V4_BOARD))
    assert "|### ###|" in text
    assert text.strip() == V4_BOARD.strip()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("+---+\n|   |\n", "2 \\* height \\+ 1 lines"),
        ("+---+---+---+---+\n|[0]|\n+---+---+---+---+\n", "line 2 has"),
        (
            "\n".join(
                ["+---+---+---+---+"]
                + ["|[0]            |", "+   +   +   +   +"] * 3
                + ["|               |", "+---+---+---+---+"]
            ),
            "robot 0 appears twice",
        ),
        (
            "\n".join(
                ["+---+---+---+---+"]
                + ["|[0]            |", "+   +   +   +   +"]
                + ["|               |", "+   +   +   +   +"] * 2
                + ["|               |", "+---+---+---+---+"]
            ),
            "no goal",
        ),
        (
            "\n".join(
                ["+---+---+---+---+"]
                + ["| 0           * |", "+   +   +   +   +"]
                + ["|               |", "+   +   +   +   +"] * 2
                + ["|               |", "+---+---+---+---+"]
            ),
            "exactly one target robot",
        ),
        (
            "\n".join(
                ["+---+---+---+---+"]
                + ["|[0]          * |", "+   +   +   +   +"]
                + ["|               |", "+   +   +   +   +"] * 2
                + ["|               |", "+   +---+---+---+"]
            ),
            "must wall the border",
        ),
    ],
)
def test_malformed_text_raises(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ascii(text)
