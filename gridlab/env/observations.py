"""Observation encodings: named image channels, a flat symbolic vector and RGB pixels.

Image (``obs_mode="image"``), float32 in ``[0, 1]``, shape ``(C, H, W)`` channels-first or
``(H, W, C)``; channel ``k`` is ``channel_names(num_robots)[k]``:

====================  =====================================================
``wall_up`` .. ``wall_right``  1 where the cell has a wall on that side
``goal``              1 on the goal cell
``target_robot_mask`` 1 on the cell of the robot that must reach the goal
``robot_i``           1 on the cell of robot ``i``
====================  =====================================================

Symbolic (``obs_mode="symbolic"``), float32 vector of length ``3 * N + 2 + 4 * H * W``:
robot ``(row, col)`` pairs scaled to ``[0, 1]``, the goal's scaled ``(row, col)``, a one-hot
of the target robot, then the four wall planes flattened.

RGB (``obs_mode="rgb"``), uint8, the `gridlab.env.rendering.board_rgb` picture,
``(3, H * s, W * s)`` channels-first or ``(H * s, W * s, 3)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium import spaces

from gridlab.env.board import Cell, FixedLayout, cell_walls
from gridlab.env.rendering import board_rgb

OBS_MODES = ("image", "symbolic", "rgb")
WALL_CHANNELS = ("wall_up", "wall_down", "wall_left", "wall_right")
# Image channel indices (numba kernels read them as compile-time constants). The wall channel
# of direction d is WALL_UP + d; robot i's channel is FIRST_ROBOT + i.
WALL_UP, WALL_DOWN, WALL_LEFT, WALL_RIGHT = 0, 1, 2, 3
GOAL = 4
TARGET_ROBOT = 5
FIRST_ROBOT = 6


def channel_names(num_robots: int) -> tuple[str, ...]:
    """Names of the image channels, in order."""
    return (*WALL_CHANNELS, "goal", "target_robot_mask", *(f"robot_{i}" for i in range(num_robots)))


def check_obs_mode(obs_mode: str) -> str:
    if obs_mode not in OBS_MODES:
        raise ValueError(f"unknown obs_mode {obs_mode!r}; choose one of {', '.join(OBS_MODES)}")
    return obs_mode


def observation_space(
    obs_mode: str,
    height: int,
    width: int,
    num_robots: int,
    channels_first: bool,
    rgb_cell_size: int,
) -> spaces.Box:
    """The gymnasium space of an observation mode."""
    if check_obs_mode(obs_mode) == "image":
        c = len(channel_names(num_robots))
        shape = (c, height, width) if channels_first else (height, width, c)
        return spaces.Box(0.0, 1.0, shape=shape, dtype=np.float32)
    if obs_mode == "symbolic":
        return spaces.Box(0.0, 1.0, shape=(3 * num_robots + 2 + 4 * height * width,), dtype=np.float32)
    h, w = height * rgb_cell_size, width * rgb_cell_size
    return spaces.Box(0, 255, shape=(3, h, w) if channels_first else (h, w, 3), dtype=np.uint8)


def symbolic_positions(robots: np.ndarray, height: int, width: int) -> np.ndarray:
    """Robot ``(row, col)`` pairs scaled to ``[0, 1]``: the head of the symbolic observation.

    Args:
        robots: ``(..., n_robots, 2)`` integer cells.

    Returns:
        float32 ``(..., 2 * n_robots)``.
    """
    scale = np.array([max(height - 1, 1), max(width - 1, 1)], dtype=np.float32)
    scaled = np.asarray(robots).astype(np.float32) / scale
    return scaled.reshape(*scaled.shape[:-2], -1)


class ObservationEncoder:
    """Encodes robot positions on one layout; the parts that never move are computed once.

    Args:
        layout: Supplies walls, goal and target robot.
        obs_mode: ``"image"``, ``"symbolic"`` or ``"rgb"``.
        channels_first: Channel axis first for image and RGB observations.
        rgb_cell_size: Pixels per cell for RGB observations.
    """

    def __init__(self, layout: FixedLayout, obs_mode: str, channels_first: bool, rgb_cell_size: int) -> None:
        self.layout = layout
        self.obs_mode = check_obs_mode(obs_mode)
        self.channels_first = channels_first
        self.rgb_cell_size = rgb_cell_size
        H, W, N = layout.height, layout.width, layout.num_robots
        walls = cell_walls(layout.h_walls, layout.v_walls).astype(np.float32)  # (4, H, W)
        if obs_mode == "image":
            self._static: np.ndarray = np.zeros((FIRST_ROBOT + N, H, W), dtype=np.float32)
            self._static[WALL_UP : WALL_RIGHT + 1] = walls
            self._static[GOAL][layout.goal_position] = 1.0
        elif obs_mode == "symbolic":
            self._static = np.zeros(3 * N + 2 + 4 * H * W, dtype=np.float32)
            self._static[2 * N : 2 * N + 2] = symbolic_positions(np.array([layout.goal_position]), H, W)
            self._static[2 * N + 2 + layout.target_robot] = 1.0
            self._static[3 * N + 2 :] = walls.reshape(-1)

    def __call__(self, robots: Sequence[Cell]) -> np.ndarray:
        """The observation with robots on ``robots`` (indexed by id)."""
        if self.obs_mode == "image":
            obs = self._static.copy()
            target = robots[self.layout.target_robot]
            obs[TARGET_ROBOT, target[0], target[1]] = 1.0
            for i, (r, c) in enumerate(robots):
                obs[FIRST_ROBOT + i, r, c] = 1.0
            return obs if self.channels_first else np.ascontiguousarray(obs.transpose(1, 2, 0))
        if self.obs_mode == "symbolic":
            obs = self._static.copy()
            obs[: 2 * len(robots)] = symbolic_positions(
                np.asarray(robots), self.layout.height, self.layout.width
            )
            return obs
        rgb = board_rgb(self.layout, robots, cell_size=self.rgb_cell_size)
        return np.ascontiguousarray(rgb.transpose(2, 0, 1)) if self.channels_first else rgb
