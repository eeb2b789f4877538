"""Route tests: planted routes are exact, edits stay off the robots, fitted boards are refused,
and the conditions run as documented on a shipped recurrent agent."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import gridlab
from gridlab.agent import Agent
from gridlab.env import fixed_layout_v3_blocker
from gridlab.env.board import DOWN, RIGHT, slide_path
from gridlab.env.puzzle_bank import puzzle_key
from gridlab.env.solver import optimal_first_moves
from gridlab.interp import collect_rollouts, probe
from gridlab.interp.probe_rows import split_episodes
from gridlab.interp.probes import ProbeResult
from gridlab.interp.routes import (
    CONDITIONS,
    Route,
    _static_edit,
    _Step,
    held_out,
    planted_routes,
    route_test,
    tick_hooks,
)

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
HOOK = "drc.layers.1.hook_h.1"


def test_a_route_knows_its_squares() -> None:
    layout = fixed_layout_v3_blocker()  # robot 0 at (0, 0), robot 1 at (4, 3), 5x5, no inner walls
    route = Route(layout, 0, (DOWN, RIGHT))
    assert route.actions == (1, 3)
    assert route.legs() == [[(0, 0), (1, 0), (2, 0), (3, 0), (4, 0)], [(4, 0), (4, 1), (4, 2)]]
    assert route.end == (4, 2)  # robot 1 blocks the slide
    assert route.marks() == {(0, 0): DOWN, (1, 0): DOWN, (2, 0): DOWN, (3, 0): DOWN, (4, 0): RIGHT,
                             (4, 1): RIGHT}  # fmt: skip
    assert route.marks(first=1) == {(4, 0): RIGHT, (4, 1): RIGHT}  # what "later" plants: the second move


def test_static_edits_skip_the_squares_robots_stand_on() -> None:
    up, left = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    edit = _static_edit([{(0, 0): up, (1, 0): up, (2, 2): left}], ["a", "b"], (2, 3, 3), scale=2.0)
    step = _Step(np.zeros((1, 1)), [[(0, 0), (2, 1)]], np.ones(1, dtype=bool), None, np.zeros((1, 0)))
    deltas = edit(step)
    assert set(deltas) == {"a", "b"}
    delta = deltas["a"][0].numpy()
    expected = np.zeros((2, 3, 3))
    expected[:, 1, 0] = 2 * up  # (0, 0) holds a robot: left alone
    expected[:, 2, 2] = 2 * left
    np.testing.assert_array_equal(delta, expected)


@pytest.fixture(scope="module")
def drc() -> tuple[Agent, ProbeResult, list]:
    """The shipped 5x5 DRC, a target-robot plan probe of its top layer on 120 boards, and 120 other boards."""
    torch.set_num_threads(1)
    agent = gridlab.load(CHECKPOINTS / "random5x5_convlstm")
    puzzles = [layout for layout, _ in agent.evaluation_puzzles(240)]
    rollouts = collect_rollouts(agent, puzzles[:120], progress=False)
    result = probe(agent, rollouts, HOOK, "plan_direction", robot="target", baselines=False, n_boot=50)
    return agent, result, puzzles


def test_tick_hooks_cover_every_tick_of_a_layer(drc) -> None:
    agent, _, _ = drc
    assert tick_hooks(agent, HOOK) == ["drc.layers.1.hook_h.0", "drc.layers.1.hook_h.1"]
    assert tick_hooks(agent, "drc.hook_output") == ["drc.hook_output"]
    with pytest.raises(ValueError, match="unknown hook"):
        tick_hooks(agent, "drc.layers.7.hook_h.0")


def test_planted_routes_avoid_the_agents_first_move_and_are_valid(drc) -> None:
    agent, _, puzzles = drc
    boards = puzzles[120:160]
    routes = planted_routes(agent, boards, length=2, seed=3)
    assert routes == planted_routes(agent, boards, length=2, seed=3)  # the same seed, the same routes
    env = agent.make_env()
    first = agent.act(np.stack([env.reset(options={"layout": r.layout})[0] for r in routes]), None,
                      np.ones(len(routes), dtype=bool))[0]  # fmt: skip
    assert len(routes) >= 35 and all(r.actions[0] != a for r, a in zip(routes, first, strict=True))
    for route in routes:
        assert route.robot == route.layout.target_robot and len(route.directions) == 2
        rests = [route.layout.robots[route.robot]] + [leg[-1] for leg in route.legs()]
        assert len(set(rests)) == 3  # every move goes somewhere new
    for route in planted_routes(agent, boards, length=2, optimal=True):
        robots = list(route.layout.robots)
        for direction in route.directions:  # each move starts an optimal plan from where it is made
            assert (route.robot, direction) in optimal_first_moves(route.layout.with_robots(robots))
            robots[route.robot] = slide_path(route.layout.h_walls, route.layout.v_walls, robots,
                                             route.robot, direction)[-1]  # fmt: skip


def test_route_tests_refuse_the_boards_a_probe_was_fitted_on(drc) -> None:
    agent, result, puzzles = drc
    train, val, _ = split_episodes(np.repeat(np.arange(120), 2), (0.6, 0.2, 0.2), seed=0)
    fitted = np.flatnonzero((train | val)[::2])  # the probe's train and validation episodes
    assert len(fitted) == 96 and result.fitted_boards == {puzzle_key(puzzles[e]).hex() for e in fitted}
    seen = planted_routes(agent, puzzles[:120])
    with pytest.raises(ValueError, match=r"boards the probe was fitted or chosen on; test on held-out"):
        route_test(agent, seen, result, progress=False)
    kept = held_out(result, puzzles)  # 5x5 boards repeat: later ones can be fitted ones again
    fitted_again = [p for p in puzzles if puzzle_key(p).hex() in result.fitted_boards]
    assert len(kept) + len(fitted_again) == len(puzzles) and len(fitted_again) > 96
    assert all(puzzle_key(layout).hex() not in result.fitted_boards for layout in kept)
    fresh = planted_routes(agent, held_out(result, puzzles[120:130]))
    with pytest.raises(ValueError, match="1x1 features"):
        route_test(agent, fresh, dataclasses.replace(result, features="3x3"), progress=False)
    with pytest.raises(ValueError, match="unknown conditions"):
        route_test(agent, fresh, result, conditions=("probe", "sideways"), progress=False)
    with pytest.raises(ValueError, match="a route moves robot 0"):
        route_test(agent, fresh, dataclasses.replace(result, robot=1), progress=False)


def test_conditions_edit_what_they_say(drc) -> None:
    agent, result, puzzles = drc
    routes = planted_routes(agent, held_out(result, puzzles[120:]))
    silent = route_test(agent, routes, result, strength=0.0, seed=1, progress=False)
    assert list(silent.outcomes) == list(CONDITIONS) and silent.edited == tick_hooks(agent, HOOK)
    for condition in CONDITIONS:  # nothing added: every condition plays as the agent does alone
        for outcome, hits in silent.outcomes[condition].items():
            np.testing.assert_array_equal(hits, silent.outcomes["none"][outcome], err_msg=condition)
    assert silent.rate("none", "first_move") == 0.0  # routes never start with the agent's own move
    # The gradient of the planted move's logit is a direction known to push the decision; added
    # at the route's squares (never the robot's), it walks the route far more often than nothing.
    pushed = route_test(agent, routes, result, strength=3.0, conditions=("none", "probe", "gradient"),
                        progress=False)  # fmt: skip
    table = pushed.table("route")
    assert table.loc["gradient", "rate"] > table.loc["none", "rate"] + 0.2
    assert list(table.columns) == ["rate", "low", "high", "probe_minus", "diff_low", "diff_high", "p_value"]
    assert table.loc["gradient", "low"] <= table.loc["gradient", "rate"] <= table.loc["gradient", "high"]
