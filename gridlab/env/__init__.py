"""Board mechanics, layouts, the random generator, the optimal solver and the gymnasium env.

Registers ``gridlab/RicochetRobots-v0`` with gymnasium on import.
"""

import gymnasium as gym

from gridlab.env.ascii import parse_ascii, render_ascii
from gridlab.env.batched_vec_env import BatchedRicochetVecEnv
from gridlab.env.board import (
    DIRECTION_NAMES,
    DOWN,
    LEFT,
    RIGHT,
    UP,
    FixedLayout,
    empty_walls,
    replay,
    slide,
    slide_path,
)
from gridlab.env.generator import BoardSpec, random_board, random_layout
from gridlab.env.layouts import (
    MILESTONES,
    fixed_layout_v0_one_move,
    fixed_layout_v2_two_moves,
    fixed_layout_v3_blocker,
    fixed_layout_v4_five_moves,
    fixed_layouts_v1_four_targets,
    milestone_layouts,
)
from gridlab.env.observations import channel_names
from gridlab.env.puzzle_bank import LengthSampler, PuzzleBank, generate_bank
from gridlab.env.rendering import board_rgb, describe_plan, plot_board, plot_cell_directions, plot_cell_values
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.env.solver import optimal_first_moves, solve

ENV_ID = "gridlab/RicochetRobots-v0"
if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point="gridlab.env.ricochet_env:RicochetRobotsEnv")

__all__ = [
    "DIRECTION_NAMES",
    "DOWN",
    "ENV_ID",
    "LEFT",
    "MILESTONES",
    "RIGHT",
    "UP",
    "BatchedRicochetVecEnv",
    "BoardSpec",
    "FixedLayout",
    "LengthSampler",
    "PuzzleBank",
    "RicochetRobotsEnv",
    "board_rgb",
    "channel_names",
    "describe_plan",
    "empty_walls",
    "fixed_layout_v0_one_move",
    "fixed_layout_v2_two_moves",
    "fixed_layout_v3_blocker",
    "fixed_layout_v4_five_moves",
    "fixed_layouts_v1_four_targets",
    "generate_bank",
    "milestone_layouts",
    "optimal_first_moves",
    "parse_ascii",
    "plot_board",
    "plot_cell_directions",
    "plot_cell_values",
    "random_board",
    "random_layout",
    "render_ascii",
    "replay",
    "slide",
    "slide_path",
    "solve",
]
