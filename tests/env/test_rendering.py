"""Pictures: the RGB array and the matplotlib drawing."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.text import Annotation

from gridlab.env import (
    describe_plan,
    fixed_layout_v3_blocker,
    plot_board,
    plot_cell_directions,
    plot_cell_values,
    solve,
)
from gridlab.env.rendering import ROBOT_COLORS, board_rgb


def test_rgb_image_draws_robots_walls_and_goal() -> None:
    layout = fixed_layout_v3_blocker()
    img = board_rgb(layout, cell_size=10)
    assert img.shape == (50, 50, 3) and img.dtype == np.uint8
    assert tuple(img[5, 5]) == ROBOT_COLORS[0]  # robot 0 centre at (0, 0)
    assert tuple(img[45, 35]) == ROBOT_COLORS[1]  # robot 1 centre at (4, 3)
    assert tuple(img[0, 25]) == (40, 40, 40) and tuple(img[25, 49]) == (40, 40, 40)  # border walls
    goal_pixel = img[3, 23]  # goal (0, 2), off the centre line, away from the grid
    assert tuple(goal_pixel) not in {(236, 232, 222), ROBOT_COLORS[0]}


def test_plot_board_draws_plan_arrows() -> None:
    layout = fixed_layout_v3_blocker()
    plan = solve(layout)
    ax = plot_board(layout, plan=plan, title="blocker")
    assert ax.get_title() == "blocker"
    assert len([p for p in ax.patches if type(p).__name__ == "FancyArrowPatch"]) == len(plan) == 2
    assert describe_plan(plan) == "robot 1 UP, robot 0 RIGHT"


def test_cell_maps_are_drawn_over_the_board() -> None:
    layout = fixed_layout_v3_blocker()
    values = np.zeros((5, 5))
    values[0, 2] = -3.0
    ax = plot_cell_values(layout, values)
    image = ax.get_images()[0]
    assert image.get_clim() == (-3.0, 3.0)  # diverging, centred on zero
    directions = np.full((5, 5), -1)
    directions[4, 3], directions[0, 0] = 0, 3  # UP from (4, 3), RIGHT from (0, 0)
    ax = plot_cell_directions(layout, directions)
    arrows = [child for child in ax.get_children() if isinstance(child, Annotation)]
    heads = sorted((tuple(np.round(a.xy, 6)), tuple(np.round(a.xyann, 6))) for a in arrows)
    assert heads == [((0.8, 0.5), (0.2, 0.5)), ((3.5, 4.2), (3.5, 4.8))]
