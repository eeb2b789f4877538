"""`RicochetRobotsEnv`: the gymnasium environment, on fixed layouts or random solvable boards."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from gridlab.env.ascii import render_ascii
from gridlab.env.board import DIRECTION_NAMES, Cell, FixedLayout, slide
from gridlab.env.generator import (
    DEFAULT_BORDER_DENSITY,
    DEFAULT_CORNER_DENSITY,
    BoardSpec,
    check_band,
    random_layout,
)
from gridlab.env.observations import ObservationEncoder, channel_names, observation_space
from gridlab.env.puzzle_bank import LengthSampler, PuzzleBank
from gridlab.env.rendering import board_rgb
from gridlab.env.solver import search

RESET_NODE_BUDGET = 150_000
"""Search nodes a reset may spend solving a fixed layout. Every milestone and bank puzzle, and
every 8x8 puzzle with up to four robots and a plan of up to 12 moves, is solved exactly within it
(32k nodes at most in our samples); an unsolvable 16x16 layout with five robots gives up after
about 0.25 s on one core."""


class RicochetRobotsEnv(gym.Env[np.ndarray, int]):
    """Ricochet Robots as a gymnasium environment.

    Each episode is one puzzle: a fixed layout (or one drawn from a list of them) or a random
    solvable board whose optimal plan length lies in ``[min_moves, max_moves]``. Action
    ``robot * 4 + direction`` slides a robot; with ``include_noop`` the last action
    (``num_robots * 4``) waits a step. The episode ends when the target robot rests on the
    goal (``info["is_success"]``) or is truncated after ``max_steps`` steps.

    Fixed layouts are solved at reset for ``info["optimal_length"]``, with at most
    `RESET_NODE_BUDGET` search nodes; a layout that is unsolvable, needs more than
    ``max_steps`` moves or is not settled within the budget is still played (it truncates at
    ``max_steps``) and its optimal length is ``None``.

    Example:
        >>> env = RicochetRobotsEnv(height=8, width=8, num_robots=2, seed=0)
        >>> obs, info = env.reset()
        >>> obs.shape, info["optimal_length"] >= 1
        ((8, 8, 8), True)

    Args:
        height, width, num_robots: Board size and robot count for random boards. Taken from
            ``fixed_layout`` when given (passing values that disagree with it is an error).
        include_noop: Add a no-op ("thinking") action after the moves.
        step_penalty: Reward added on every step (e.g. ``-0.01``).
        noop_penalty: Reward of a no-op step instead of ``step_penalty``; ``None`` (default)
            follows ``step_penalty``.
        goal_reward: Reward added on the step that solves the puzzle.
        max_steps: Steps before truncation.
        fixed_layout: A `FixedLayout`, or a sequence of them to draw one from per episode.
        seed: Seed for the first ``reset()`` (later resets continue the same stream).
        obs_mode: ``"image"``, ``"symbolic"`` or ``"rgb"`` (see `gridlab.env.observations`).
        channels_first: ``(C, H, W)`` instead of ``(H, W, C)`` for image and RGB observations.
        render_mode: ``"ansi"`` (text) or ``"rgb_array"``.
        min_moves, max_moves: Band of optimal plan lengths for random boards.
        corner_density, border_density: Wall densities for random boards (see `BoardSpec`).
        rgb_cell_size: Pixels per cell for RGB observations.
        bank: A `PuzzleBank` to draw puzzles from instead of random boards, or its folder
            (loaded from exactly that path; `gridlab.env.puzzle_bank.find_bank` searches).
        bank_split: The bank's split to draw from: ``"train"``, ``"heldout"`` or ``"all"``.
        length_weights: ``{optimal length: weight}`` for bank draws; ``None`` weighs every
            length in ``[min_moves, max_moves]`` equally.
    """

    # Declared as gymnasium.Env declares it (an attribute instances may reassign), so not a ClassVar.
    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}  # noqa: RUF012

    def __init__(
        self,
        height: int | None = None,
        width: int | None = None,
        num_robots: int | None = None,
        include_noop: bool = False,
        step_penalty: float = -0.01,
        goal_reward: float = 1.0,
        max_steps: int = 30,
        fixed_layout: FixedLayout | Sequence[FixedLayout] | None = None,
        seed: int | None = None,
        obs_mode: str = "image",
        channels_first: bool = True,
        render_mode: str | None = None,
        min_moves: int = 1,
        max_moves: int = 10,
        corner_density: float | None = None,
        border_density: float | None = None,
        rgb_cell_size: int = 8,
        bank: str | os.PathLike | PuzzleBank | None = None,
        bank_split: str = "train",
        length_weights: Mapping[int, float] | None = None,
        noop_penalty: float | None = None,
    ) -> None:
        self.layouts = _as_layouts(fixed_layout)
        if self.layouts and bank is not None:
            raise ValueError("pass either fixed_layout or bank, not both")
        if isinstance(bank, (str, os.PathLike)):
            bank = PuzzleBank.load(bank)
        self.spec_board = _board_family(
            self.layouts, bank,
            {"height": height, "width": width, "num_robots": num_robots,
             "corner_density": corner_density, "border_density": border_density},
        )  # fmt: skip
        self.sampler: LengthSampler | None = None
        if bank is not None:
            bank.check_spec(self.spec_board)
            if length_weights is None:
                in_band = [n for n in bank.counts(bank_split) if min_moves <= n <= max_moves]
                if not in_band:
                    raise ValueError(
                        f"the bank's {bank_split!r} split has no puzzles with optimal length in "
                        f"[{min_moves}, {max_moves}] (it has {sorted(bank.counts(bank_split))})"
                    )
                length_weights = dict.fromkeys(in_band, 1.0)
            self.sampler = LengthSampler(bank, bank_split, length_weights)
        check_band(min_moves, max_moves)
        if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"unknown render_mode {render_mode!r}; choose one of {self.metadata['render_modes']}"
            )
        self.height, self.width, self.num_robots = (
            self.spec_board.height,
            self.spec_board.width,
            self.spec_board.num_robots,
        )
        self.include_noop = include_noop
        self.step_penalty = float(step_penalty)
        self.noop_penalty = noop_penalty
        self.goal_reward = float(goal_reward)
        self.max_steps = int(max_steps)
        self.obs_mode = obs_mode
        self.channels_first = channels_first
        self.render_mode = render_mode
        self.min_moves, self.max_moves = min_moves, max_moves
        self.rgb_cell_size = rgb_cell_size
        self.channel_names = channel_names(self.num_robots)
        self.observation_space: gym.spaces.Box = observation_space(
            obs_mode, self.height, self.width, self.num_robots, channels_first, rgb_cell_size
        )
        self.action_space: gym.spaces.Discrete = gym.spaces.Discrete(4 * self.num_robots + int(include_noop))
        self._first_seed = seed
        self.optimal_length: int | None = 0
        self.layout: FixedLayout | None = None
        self.robots: tuple[Cell, ...] = ()
        self.steps = 0
        self._done = True

    # -- episode -------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new puzzle.

        Args:
            seed: Reseed the environment's random stream.
            options: ``{"layout": FixedLayout}`` plays that puzzle (same size and robot count);
                ``{"layout_index": i}`` picks the ``i``-th fixed layout.

        Returns:
            ``(observation, info)`` with ``info["optimal_length"]`` the optimal plan length,
            ``None`` for a fixed layout not solved within ``max_steps`` moves and
            `RESET_NODE_BUDGET` search nodes.
        """
        if seed is None:
            seed = self._first_seed
        self._first_seed = None
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"layout", "layout_index"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use 'layout' or 'layout_index'")
        if "layout" in options:
            self.layout = self._check_layout(options["layout"])
            optimal, self._encode = _solved_and_encoded(
                self.layout, self.max_steps, self.obs_mode, self.channels_first, self.rgb_cell_size
            )
        elif self.layouts:
            index = options.get("layout_index")
            if index is None:
                index = int(self.np_random.integers(len(self.layouts))) if len(self.layouts) > 1 else 0
            if not 0 <= index < len(self.layouts):
                raise ValueError(f"layout_index must be from 0 to {len(self.layouts) - 1}, got {index}")
            self.layout = self.layouts[index]
            optimal, self._encode = _solved_and_encoded(
                self.layout, self.max_steps, self.obs_mode, self.channels_first, self.rgb_cell_size
            )
        elif self.sampler is not None:
            row, optimal = self.sampler.draw(self.np_random)
            self.layout, self._encode = _bank_puzzle(
                self.sampler.bank, row, self.obs_mode, self.channels_first, self.rgb_cell_size
            )
        else:
            self.layout, plan = random_layout(self.spec_board, self.np_random, self.min_moves, self.max_moves)
            optimal = len(plan)
            self._encode = ObservationEncoder(
                self.layout, self.obs_mode, self.channels_first, self.rgb_cell_size
            )
        self.optimal_length = optimal
        self.robots = self.layout.robots
        self.steps = 0
        self._done = False
        return self._encode(self.robots), {"optimal_length": optimal, "is_success": False}

    def step(
        self, action: int | np.integer | np.ndarray
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``action``; see the class docstring for the action encoding."""
        if self.layout is None or self._done:
            raise RuntimeError("the episode is over (or never started); call reset() first")
        a = _as_action(action, int(self.action_space.n), self.include_noop)
        if a < 4 * self.num_robots:
            robot, direction = divmod(a, 4)
            robots = list(self.robots)
            robots[robot] = slide(self.layout.h_walls, self.layout.v_walls, robots, robot, direction)
            self.robots = tuple(robots)
            penalty = self.step_penalty
        else:
            penalty = self.noop_penalty
        self.steps += 1
        success = self.robots[self.layout.target_robot] == self.layout.goal_position
        reward = penalty + (self.goal_reward if success else 0.0)
        truncated = not success and self.steps >= self.max_steps
        self._done = success or truncated
        return self._encode(self.robots), reward, success, truncated, {"is_success": success}

    @property
    def noop_penalty(self) -> float:
        """Reward of a no-op step: ``step_penalty`` unless set to a value of its own."""
        return self.step_penalty if self._noop_penalty is None else self._noop_penalty

    @noop_penalty.setter
    def noop_penalty(self, value: float | None) -> None:
        self._noop_penalty = None if value is None else float(value)

    # -- helpers -------------------------------------------------------------------------------
    def _check_layout(self, layout: object) -> FixedLayout:
        if not isinstance(layout, FixedLayout):
            raise ValueError(f"options['layout'] must be a FixedLayout, got {type(layout).__name__}")
        if (layout.height, layout.width, layout.num_robots) != (
            self.height,
            self.width,
            self.num_robots,
        ):
            raise ValueError(
                f"layout is {layout.height}x{layout.width} with {layout.num_robots} robots but this env "
                f"is {self.height}x{self.width} with {self.num_robots}; build an env for that size"
            )
        return layout

    def set_length_weights(self, weights: Mapping[int, float]) -> None:
        """Reweight the optimal lengths drawn from the bank (curricula call this between episodes)."""
        if self.sampler is None:
            raise ValueError("set_length_weights needs an env that draws from a puzzle bank (bank=...)")
        self.sampler.set_weights(weights)

    def observation_at(self, robots: Sequence[Cell]) -> np.ndarray:
        """The observation of the current puzzle with the robots on ``robots`` (indexed by id)."""
        if self.layout is None:
            raise RuntimeError("no puzzle yet; call reset() first")
        return self._encode(robots)

    def action_meaning(self, action: int) -> str:
        """Human-readable name of an action, e.g. ``"robot 1 LEFT"`` or ``"no-op"``."""
        a = _as_action(action, int(self.action_space.n), self.include_noop)
        if a == 4 * self.num_robots:
            return "no-op"
        return f"robot {a // 4} {DIRECTION_NAMES[a % 4]}"

    # gymnasium types render with a TypeVar bound by no argument, which no concrete return type matches.
    def render(self) -> str | np.ndarray | None:  # type: ignore[override]
        if self.layout is None or self.render_mode is None:
            return None
        if self.render_mode == "ansi":
            status = (
                "solved" if self.robots[self.layout.target_robot] == self.layout.goal_position else "playing"
            )
            return (
                f"{render_ascii(self.layout, self.robots)}\n"
                f"step {self.steps}/{self.max_steps}, target robot {self.layout.target_robot}, {status}\n"
            )
        return board_rgb(self.layout, self.robots, cell_size=16)


def _board_family(layouts: list[FixedLayout], bank: PuzzleBank | None, given: dict[str, Any]) -> BoardSpec:
    """The board family from explicit arguments, the fixed layouts' shape or the bank's spec."""
    if layouts:
        first = layouts[0]
        fixed = {"height": first.height, "width": first.width, "num_robots": first.num_robots}
        for name, actual in fixed.items():
            if given[name] is not None and given[name] != actual:
                raise ValueError(
                    f"{name}={given[name]} disagrees with fixed_layout ({name}={actual}); leave it unset"
                )
        given = given | fixed
    if bank is not None:  # unset fields come from the bank; set ones must agree with it (checked later)
        given = {k: getattr(bank.spec, k) if v is None else v for k, v in given.items()}
    defaults: dict[str, Any] = {
        "height": 8, "width": 8, "num_robots": 2,
        "corner_density": DEFAULT_CORNER_DENSITY, "border_density": DEFAULT_BORDER_DENSITY,
    }  # fmt: skip
    return BoardSpec(**{k: defaults[k] if v is None else v for k, v in given.items()})


@functools.lru_cache(maxsize=1 << 16)
def _solved_and_encoded(
    layout: FixedLayout, max_steps: int, obs_mode: str, channels_first: bool, rgb_cell_size: int
) -> tuple[int | None, ObservationEncoder]:
    """Optimal length (``None`` when not found within ``max_steps`` moves and `RESET_NODE_BUDGET`
    nodes) and observation encoder of a fixed layout, shared by every env that plays it."""
    result = search(layout, max_depth=min(max_steps, 100), max_nodes=RESET_NODE_BUDGET)
    return result.length, ObservationEncoder(layout, obs_mode, channels_first, rgb_cell_size)


@functools.lru_cache(maxsize=1 << 16)
def _bank_puzzle(
    bank: PuzzleBank, row: int, obs_mode: str, channels_first: bool, rgb_cell_size: int
) -> tuple[FixedLayout, ObservationEncoder]:
    """A bank puzzle as a layout with its encoder, shared by every env that draws it."""
    layout = bank.layout(row)
    return layout, ObservationEncoder(layout, obs_mode, channels_first, rgb_cell_size)


def _as_layouts(fixed_layout: FixedLayout | Sequence[FixedLayout] | None) -> list[FixedLayout]:
    if fixed_layout is None:
        return []
    layouts = [fixed_layout] if isinstance(fixed_layout, FixedLayout) else list(fixed_layout)
    if not layouts or not all(isinstance(x, FixedLayout) for x in layouts):
        raise ValueError("fixed_layout must be a FixedLayout or a non-empty sequence of FixedLayouts")
    shapes = {(x.height, x.width, x.num_robots) for x in layouts}
    if len(shapes) > 1:
        raise ValueError(f"all fixed layouts must share size and robot count, got {sorted(shapes)}")
    return layouts


def _as_action(action: object, n_actions: int, include_noop: bool) -> int:
    value = np.asarray(action)
    if value.shape not in ((), (1,)) or not np.issubdtype(value.dtype, np.integer):
        raise ValueError(f"action must be one integer, got {action!r}")
    a = int(value.reshape(()))
    if not 0 <= a < n_actions:
        noop = f"; {n_actions - 1} is the no-op" if include_noop else ""
        raise ValueError(
            f"action {a} is out of range: valid actions are 0..{n_actions - 1} (robot * 4 + direction{noop})"
        )
    return a
