"""Image channels: the named indices agree with `channel_names` and with what the encoder writes."""

import numpy as np

from gridlab.env.board import DOWN, LEFT, RIGHT, UP, cell_walls
from gridlab.env.layouts import fixed_layout_v3_blocker
from gridlab.env.observations import (
    FIRST_ROBOT,
    GOAL,
    TARGET_ROBOT,
    WALL_CHANNELS,
    WALL_DOWN,
    WALL_LEFT,
    WALL_RIGHT,
    WALL_UP,
    ObservationEncoder,
    channel_names,
)


def test_channel_constants_index_channel_names() -> None:
    names = channel_names(3)
    named = [names[i] for i in (WALL_UP, WALL_DOWN, WALL_LEFT, WALL_RIGHT, GOAL, TARGET_ROBOT)]
    assert named == ["wall_up", "wall_down", "wall_left", "wall_right", "goal", "target_robot_mask"]
    assert names[FIRST_ROBOT:] == ("robot_0", "robot_1", "robot_2")
    assert tuple(names[WALL_UP + d] for d in (UP, DOWN, LEFT, RIGHT)) == WALL_CHANNELS


def test_encoder_writes_each_named_channel() -> None:
    layout = fixed_layout_v3_blocker()  # target robot 0 on (0, 0), robot 1 on (4, 3), goal (0, 2)
    obs = ObservationEncoder(layout, "image", channels_first=True, rgb_cell_size=8)(layout.robots)
    assert obs.shape == (FIRST_ROBOT + 2, 5, 5)
    walls = cell_walls(layout.h_walls, layout.v_walls)
    for d in (UP, DOWN, LEFT, RIGHT):
        np.testing.assert_array_equal(obs[WALL_UP + d], walls[d])
    assert np.argwhere(obs[GOAL]).tolist() == [[0, 2]]
    assert np.argwhere(obs[TARGET_ROBOT]).tolist() == [[0, 0]]
    assert [np.argwhere(obs[FIRST_ROBOT + i]).tolist() for i in range(2)] == [[[0, 0]], [[4, 3]]]
    moved = ObservationEncoder(layout, "image", True, 8)([(0, 4), (4, 3)])
    assert np.argwhere(moved[TARGET_ROBOT]).tolist() == [[0, 4]] == np.argwhere(moved[FIRST_ROBOT]).tolist()
