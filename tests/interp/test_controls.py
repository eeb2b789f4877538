"""Positive and negative controls for the probe pipeline and the causal route test.

Probes. A *planted planner* is a recurrent network, a DRC(1, 3) with 32 channels, taught besides
the solver's next move the solver's plan at every square (an auxiliary 1x1 head on its last
tick's hidden state, ``drc.layers.0.hook_h.2``): its activations provably carry the plan at that
hook. The pipeline must find it at horizon 2 and beyond, above every baseline with intervals
apart. A network that sees only where the robot stands, taught the same way, cannot know where it
will go: the pipeline must find nothing beyond the baselines. Without the second check a null
result on an agent would say nothing about the agent.

Route tests. A *steerable planner* is a DRC(1, 2) taught the same two things at its hidden
state, and also to walk routes written into that state: with the plan head's class directions
added at the squares of a random two-move route (never the robot's own square, at every tick),
its target is the route's move (interchange training). It provably acts on a plan held at
squares away from the robot, so the route test, which knows nothing of the head and takes its
directions from a probe, must find it far above every control. The planted planner carries the
plan as well as it does but was never taught to act on it: the route test must find nothing
beyond the controls there. A probe finding a plan does not make it causal; the route test tells
the two apart.

Hiding less is *not* blind on 5x5 boards, which is worth knowing before reading a null. 44% of
the squares the solver's plan leaves two or more moves ahead lie in the robot's own row or
column (300 random puzzles of 2-3 moves). A network taught from the robot's row and column
alone reads the plan beyond the next move at macro F1 0.74, from its 3x3 neighbourhood alone
at 0.81 (a stack of 3x3 convolutions over it covers most of such a small board), and from the
board without its goal channel at 0.91 (the walls give the goal away).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from gridlab.agent import Agent
from gridlab.env import BoardSpec, random_layout
from gridlab.env.board import FixedLayout, slide
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.interp import Rollouts, collect_rollouts
from gridlab.interp.labels import state_labels
from gridlab.interp.probes import ProbeResult, probe
from gridlab.interp.routes import Route, RouteTest, held_out, planted_routes, route_test, valid_route
from gridlab.training import TrainConfig
from gridlab.training.factory import env_kwargs, policy_spec

# The networks train once (`make test` runs each module on one worker: --dist loadfile).

CONFIG = TrainConfig(
    height=5, width=5, num_robots=1, min_moves=1, max_moves=3, policy="small_cnn", max_steps=12
)
HOOK = "features_extractor.hook_relu3"


ROBOT = 6  # the robot's observation channel (gridlab.env.observations: 4 walls, goal, target, robot_0)


def robot_only(obs: np.ndarray) -> np.ndarray:
    """``obs`` with every channel but the robot's cleared."""
    hidden = np.zeros_like(obs)
    hidden[:, ROBOT] = obs[:, ROBOT]
    return hidden


def solver_states(puzzles: int, seed: int) -> dict[str, np.ndarray]:
    """Every state along the solver's plan of random puzzles (observations, robots, plan maps,
    moves) and, from each, a random two-move route as two samples to steer (``route_*``): the
    board before each of its moves, the route's squares off the robot by direction, the move."""
    env = RicochetRobotsEnv(**env_kwargs(CONFIG, "heldout"))
    rng = np.random.default_rng(seed)
    names = ("obs", "robots", "plan", "move", "route_obs", "route_marks", "route_move")
    states: dict[str, list] = {name: [] for name in names}
    for _ in range(puzzles):
        layout, plan = random_layout(BoardSpec(5, 5, 1), rng, 1, 3)
        robots = list(layout.robots)
        for robot, direction in plan:
            state = layout.with_robots(robots)
            states["obs"].append(env.reset(options={"layout": state})[0])
            states["robots"].append(np.array(robots))
            states["plan"].append(state_labels(state)["plan_direction"][0])
            states["move"].append(4 * robot + direction)
            routes = [
                moves for moves in itertools.product(range(4), repeat=2) if valid_route(state, 0, moves)
            ]
            route = Route(state, 0, routes[rng.integers(len(routes))])
            for leg, move in zip(route.legs(), route.directions, strict=True):
                marks = np.zeros((4, 5, 5), dtype=np.float32)
                for cell, d in route.marks().items():
                    marks[(d, *cell)] = cell != leg[0]
                states["route_obs"].append(env.reset(options={"layout": state.with_robots([leg[0]])})[0])
                states["route_marks"].append(marks)
                states["route_move"].append(move)
            robots[robot] = slide(layout.h_walls, layout.v_walls, robots, robot, direction)
    return {name: np.stack(values) for name, values in states.items()}


WEIGHT = torch.tensor(
    [0.2, 1.0, 1.0, 1.0, 1.0]
)  # plan classes -1..3 shifted to 0..4; "no move" is most squares
DRC = dataclasses.replace(CONFIG, policy="convlstm", drc_layers=1, drc_ticks=2, drc_hidden=16, drc_encoder=16,
                          drc_output=64, drc_strip_pool=True)  # fmt: skip
DRC_HOOK = "drc.layers.0.hook_h.1"
PLANNER = dataclasses.replace(DRC, drc_ticks=3, drc_hidden=32, drc_encoder=32)
PLANNER_HOOK = "drc.layers.0.hook_h.2"


def taught(
    states: dict[str, np.ndarray],
    config: TrainConfig,
    steps: int,
    blind: bool = False,
    interchange: bool = False,
    seed: int = 0,
) -> Agent:
    """A network taught the solver's move and, through a 1x1 head, its plan map: on a SmallCNN's
    ``HOOK``, or on a DRC's last tick's hidden state. ``blind`` shows it only the robot's channel;
    ``interchange`` also teaches a DRC to walk routes written into that state along the head's
    class directions (at every tick, never on the robot's square)."""
    torch.manual_seed(seed)
    env = RicochetRobotsEnv(**env_kwargs(config, "heldout"))
    policy = policy_spec(config).build(env.observation_space, env.action_space)
    recurrent = config.policy == "convlstm"
    head = nn.Conv2d(config.drc_hidden if recurrent else 64, 5, 1)
    kept: list[torch.Tensor] = []
    written: list[torch.Tensor | None] = [None]  # what the current pass adds at every tick

    def tick(_module: nn.Module, _inputs: object, out: torch.Tensor) -> torch.Tensor:
        kept.append(out)
        return out if written[0] is None else out + written[0]

    points = policy.drc.layers[-1].hook_h if recurrent else [policy.features_extractor.hook_relu3]
    hooks = [point.register_forward_hook(tick) for point in points]
    zeros = torch.zeros(config.drc_layers, 128, config.drc_hidden * 25)

    def logits(obs: torch.Tensor) -> torch.Tensor:
        kept.clear()
        if recurrent:
            return policy.action_net(policy.latent(obs, (zeros, zeros), torch.ones(len(obs)))[0])
        return policy.action_net(policy.mlp_extractor(policy.extract_features(obs))[0])

    optimizer = torch.optim.Adam([*policy.parameters(), *head.parameters()], lr=3e-3)
    x = torch.as_tensor(robot_only(states["obs"]) if blind else states["obs"])
    plan, move = torch.as_tensor(states["plan"] + 1).long(), torch.as_tensor(states["move"])
    route_x, route_move = torch.as_tensor(states["route_obs"]), torch.as_tensor(states["route_move"])
    marks = torch.as_tensor(states["route_marks"])
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randint(len(x), (128,), generator=generator)
        written[0] = None
        loss = nn.functional.cross_entropy(logits(x[batch]), move[batch])
        loss = loss + nn.functional.cross_entropy(head(kept[-1]), plan[batch], weight=WEIGHT)
        if interchange:
            scale = kept[-1].detach().norm(dim=1).mean()  # a square's typical norm, as route tests scale
            units = head.weight[1:, :, 0, 0].detach()
            units = units / units.norm(dim=1, keepdim=True)  # (4, hidden): one direction per move class
            batch = torch.randint(len(route_x), (128,), generator=generator)
            strength = torch.empty(128, 1, 1, 1).uniform_(0.5, 2.0, generator=generator)
            written[0] = strength * scale * torch.einsum("bdhw,dc->bchw", marks[batch], units)
            loss = loss + nn.functional.cross_entropy(logits(route_x[batch]), route_move[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for hook in hooks:
        hook.remove()
    return Agent.from_policy(policy.eval(), config)


@pytest.fixture(scope="session")
def states() -> dict[str, np.ndarray]:
    torch.set_num_threads(1)
    return solver_states(1000, seed=0)


@pytest.fixture(scope="session")
def planner(states) -> Agent:
    return taught(states, PLANNER, steps=1200)


@pytest.fixture(scope="session")
def puzzles() -> list[FixedLayout]:
    rng = np.random.default_rng(1)
    return [random_layout(BoardSpec(5, 5, 1), rng, 2, 3)[0] for _ in range(500)]  # boards never taught


@pytest.fixture(scope="session")
def controls(states, planner, puzzles) -> tuple[ProbeResult, ProbeResult]:
    blind = taught(states, CONFIG, steps=1000, blind=True)
    rollouts = collect_rollouts(planner, puzzles[:300], progress=False)  # the planner plays: it solves most
    assert rollouts.solved.mean() > 0.8
    masked: Rollouts = dataclasses.replace(rollouts, obs=robot_only(rollouts.obs))
    return (probe(planner, rollouts, PLANNER_HOOK, "plan_direction", robot="target"),
            probe(blind, masked, HOOK, "plan_direction", robot="target"))  # fmt: skip


def test_the_pipeline_finds_a_planted_plan_beyond_the_next_move(controls) -> None:
    planted, _ = controls
    assert set(planted.baselines) == {"majority", "next_action", "observation", "observation_3x3",
                                      "geometry", "random_network", "control_task"}  # fmt: skip
    assert planted.headline == "plan_f1" and not planted.collapsed
    horizons = planted.metrics["by_horizon"]  # two moves ahead as the headline; three (seen less) less so
    scores = (planted.score, planted.interval, horizons[2]["macro_f1"], horizons[3]["macro_f1"])
    assert planted.score >= 0.7, scores
    assert horizons[2]["macro_f1"] >= 0.7 and horizons[3]["macro_f1"] >= 0.5, scores
    for name, baseline in planted.baselines.items():  # above every baseline, intervals apart
        assert planted.interval[0] > baseline["ci"]["plan_f1"][1], name
        assert planted.differences[name]["excludes_zero"], name


def test_the_pipeline_finds_nothing_in_a_network_that_cannot_plan(controls) -> None:
    planted, blind = controls
    # Beyond the next move it is not above the best baseline (the geometry lookup: what the
    # robot's square alone predicts, 0.34 against the network's 0.27 here), and far below the
    # planner ...
    plan_baselines = {name: b["plan_f1"] for name, b in blind.baselines.items() if name != "control_task"}
    best = max(plan_baselines, key=plan_baselines.__getitem__)
    assert best == "geometry"
    assert not (blind.differences[best]["excludes_zero"] and blind.differences[best]["value"] > 0)
    assert blind.interval[1] < planted.interval[0]
    # ... while it does learn what its input allows: the next move's path from the robot's square.
    assert blind.metrics["by_horizon"][1]["macro_f1"] > 0.4


def walked(agent: Agent, result: ProbeResult, puzzles: list[FixedLayout]) -> RouteTest:
    """Routes planted with ``result``'s directions on the boards it was not fitted on."""
    routes = planted_routes(agent, held_out(result, puzzles), length=2)
    return route_test(agent, routes, result, strength=2.0, progress=False)


def test_the_route_test_finds_a_plan_the_agent_acts_on(states, puzzles) -> None:
    agent = taught(states, DRC, steps=1000, interchange=True)
    rollouts = collect_rollouts(agent, puzzles[:300], progress=False)
    result = probe(agent, rollouts, DRC_HOOK, "plan_direction", robot="target", n_boot=200)
    # The probe reads the planted plan beyond the next move, above every baseline ...
    assert not result.collapsed and result.score >= 0.6, result.interval
    for name, baseline in result.baselines.items():
        assert result.interval[0] > baseline["ci"]["plan_f1"][1], name
    # ... and its directions, held at the route's squares off the robot, walk the route far more
    # often than every control: the same vectors elsewhere, the opposite moves', random ones.
    test = walked(agent, result, puzzles)
    table = test.table("route")
    assert len(test.routes) >= 150 and table.loc["none", "rate"] == 0.0
    for control in ("none", "shuffled", "swapped", "random"):
        assert table.loc["probe", "low"] > table.loc[control, "high"], control
        assert table.loc[control, "p_value"] < 1e-3, control
    assert table.loc["probe", "rate"] > 0.3


def test_the_route_test_finds_nothing_where_a_plan_is_not_acted_on(controls, planner, puzzles) -> None:
    planted, _ = controls  # fitted on the planner's episodes on puzzles[:300]
    assert planted.score >= 0.7  # this network carries the plan (the probe control) ...
    table = walked(planner, planted, puzzles).table("route")
    for control in ("shuffled", "swapped", "random"):  # ... but its probe directions walk no route
        assert not (table.loc[control, "probe_minus"] > 0 and table.loc[control, "p_value"] < 0.05), control
    assert table.loc["probe", "rate"] < 0.1
    assert table.loc["gradient", "low"] > 0.3  # while a direction known to push it does
