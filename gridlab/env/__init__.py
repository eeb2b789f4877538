"""Board mechanics, layouts, the random generator, the optimal solver and the gymnasium env.

Registers ``gridlab/RicochetRobots-v0`` with gymnasium on import. Names load on first use, so
``import gridlab.env`` does not import matplotlib or stable-baselines3 until they are needed.
"""

from typing import TYPE_CHECKING

import gymnasium as gym

from gridlab._lazy import lazy_exports

if TYPE_CHECKING:
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
    from gridlab.env.puzzle_bank import LengthSampler, PuzzleBank, find_bank, generate_bank
    from gridlab.env.puzzles import Puzzle, as_layouts, as_puzzles
    from gridlab.env.rendering import (
        board_rgb,
        describe_plan,
        plot_board,
        plot_cell_directions,
        plot_cell_values,
    )
    from gridlab.env.ricochet_env import RicochetRobotsEnv
    from gridlab.env.solver import optimal_first_moves, solve
    from gridlab.env.spec import BankRef, EnvSpec

ENV_ID = "gridlab/RicochetRobots-v0"
if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point="gridlab.env.ricochet_env:RicochetRobotsEnv")

__getattr__, __dir__, _exports = lazy_exports(__name__, __file__)
__all__ = ["ENV_ID", *_exports]
