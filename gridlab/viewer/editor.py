"""A board drawn by hand: a grid of buttons, one per cell, and a brush.

Pick a brush (a robot, the goal, a wall on one side of a cell, or the eraser) and click cells:
a robot or the goal moves to the clicked cell, a wall brush toggles that side's wall (and the
neighbour's matching side: they are one edge). `BoardEditor.layout` builds the `FixedLayout`,
which validates it (overlapping robots, a target robot already on the goal, ... are clear
errors). Everything a click does is also a method (`paint`), so the editor is scriptable and
testable without a browser.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from gridlab.env.board import Cell, FixedLayout, empty_walls
from gridlab.env.rendering import ROBOT_COLORS

# each wall brush: which wall array, and the edge's offset from the cell's row (h) or column (v)
WALL_SIDES = {"wall up": ("h", 0), "wall down": ("h", 1), "wall left": ("v", 0), "wall right": ("v", 1)}


class BoardEditor:
    """Edit a board of ``layout``'s size and robot count, starting from ``layout``."""

    def __init__(self, layout: FixedLayout) -> None:
        self.height, self.width, self.num_robots = layout.height, layout.width, layout.num_robots
        brushes = [*(f"robot {i}" for i in range(self.num_robots)), "goal", *WALL_SIDES, "clear walls"]
        self.brush = widgets.ToggleButtons(options=brushes, value="robot 0", description="brush")
        self.brush.style.button_width = "86px"
        self.target_robot = widgets.Dropdown(
            options=list(range(self.num_robots)), value=layout.target_robot, description="target robot"
        )
        self.target_robot.observe(lambda change: setattr(self, "target", change["new"]), names="value")
        self.cells = [
            widgets.Button(layout=widgets.Layout(width="34px", height="34px", padding="0"))
            for _ in range(self.height * self.width)
        ]
        for index, button in enumerate(self.cells):
            button.on_click(self._painter(divmod(index, self.width)))
        self.grid = widgets.GridBox(
            self.cells,
            layout=widgets.Layout(grid_template_columns=f"repeat({self.width}, 36px)", grid_gap="0px"),
        )
        self.widget = widgets.VBox([self.brush, self.target_robot, self.grid])
        self.load(layout)

    def load(self, layout: FixedLayout) -> None:
        """Start over from ``layout`` (same size and robot count)."""
        if (layout.height, layout.width, layout.num_robots) != (self.height, self.width, self.num_robots):
            raise ValueError(
                f"this editor draws {self.height}x{self.width} boards with {self.num_robots} robots, got "
                f"{layout.height}x{layout.width} with {layout.num_robots}"
            )
        self.h_walls, self.v_walls = layout.h_walls.copy(), layout.v_walls.copy()
        self.robots: dict[int, Cell] = dict(layout.robot_positions)
        self.goal: Cell = layout.goal_position
        self.target = self.target_robot.value = layout.target_robot
        self._redraw()

    def paint(self, cell: Cell, brush: str | None = None) -> None:
        """Apply ``brush`` (default: the selected one) at ``cell`` (see the module docstring)."""
        brush = self.brush.value if brush is None else brush
        r, c = cell
        if brush.startswith("robot "):
            self.robots[int(brush.split()[1])] = (r, c)
        elif brush == "goal":
            self.goal = (r, c)
        elif brush in WALL_SIDES:
            kind, offset = WALL_SIDES[brush]
            if kind == "h" and 0 < r + offset < self.height:  # border walls stay
                self.h_walls[r + offset, c] = not self.h_walls[r + offset, c]
            if kind == "v" and 0 < c + offset < self.width:
                self.v_walls[r, c + offset] = not self.v_walls[r, c + offset]
        elif brush == "clear walls":
            self.h_walls, self.v_walls = empty_walls(self.height, self.width)
        else:
            raise ValueError(f"unknown brush {brush!r}; choose one of {list(self.brush.options)}")
        self._redraw()

    def _painter(self, cell: Cell) -> Callable[[widgets.Button], None]:
        return lambda _: self.paint(cell)

    def layout(self) -> FixedLayout:
        """The board as drawn; ``ValueError`` says what makes it invalid."""
        return FixedLayout(
            self.height, self.width, self.h_walls, self.v_walls, dict(self.robots), self.goal, self.target
        )

    def _redraw(self) -> None:
        where = {cell: robot for robot, cell in self.robots.items()}
        for index, button in enumerate(self.cells):
            r, c = divmod(index, self.width)
            robot = where.get((r, c))
            # a no-break space, not "": browsers keep a button's old label when it is set to ""
            button.description = (
                str(robot) if robot is not None else ("*" if (r, c) == self.goal else "\u00a0")
            )
            color = ROBOT_COLORS[robot] if robot is not None else (240, 236, 220)
            button.style.button_color = "#" + "".join(f"{int(v):02x}" for v in color)
            sides = [self.h_walls[r, c], self.v_walls[r, c + 1], self.h_walls[r + 1, c], self.v_walls[r, c]]
            (
                button.layout.border_top,
                button.layout.border_right,
                button.layout.border_bottom,
                button.layout.border_left,
            ) = ("3px solid #333" if wall else "1px solid #ccc" for wall in sides)


def cells_text(text: str) -> tuple[Cell, ...] | None:
    """``"r,c; r,c"`` as cells; an empty text means every cell (None)."""
    text = text.strip()
    if not text:
        return None
    try:
        return tuple(tuple(int(v) for v in part.split(",")) for part in text.split(";") if part.strip())  # type: ignore[misc]
    except ValueError:
        raise ValueError(
            f"cells must be written 'row,col; row,col' (e.g. '2,3; 4,1'), got {text!r}"
        ) from None


def channels_text(text: str) -> tuple[int, ...] | None:
    """``"0, 3, 5"`` as channels; an empty text means all channels (None)."""
    text = text.strip()
    if not text:
        return None
    try:
        return tuple(int(v) for v in text.replace(";", ",").split(",") if v.strip())
    except ValueError:
        raise ValueError(f"channels must be written '0, 3, 5', got {text!r}") from None
