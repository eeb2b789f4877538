"""Positive and negative controls for the whole probe pipeline.

A *planted planner* is a SmallCNN taught, besides the solver's next move, the solver's plan at
every square (an auxiliary 1x1 head on ``hook_relu3``): its activations provably carry the plan
at that hook. The pipeline must find it at horizon 2 and beyond, above every baseline with
intervals apart. A network that sees only where the robot
stands, taught the same way, cannot know where it will go: the pipeline must find nothing
beyond the baselines. Without the second check a null result on an agent would say nothing
about the agent.

Hiding less is *not* blind on 5x5 boards, which is worth knowing before reading a null. 44% of
the squares the solver's plan leaves two or more moves ahead lie in the robot's own row or
column (300 random puzzles of 2-3 moves). A network taught from the robot's row and column
alone reads the plan beyond the next move at macro F1 0.74, from its 3x3 neighbourhood alone
at 0.81 (a stack of 3x3 convolutions over it covers most of such a small board), and from the
board without its goal channel at 0.91 (the walls give the goal away).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from gridlab.agent import Agent
from gridlab.env import BoardSpec, random_layout
from gridlab.env.board import slide
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.interp import Rollouts, collect_rollouts
from gridlab.interp.labels import state_labels
from gridlab.interp.probes import ProbeResult, probe
from gridlab.training import TrainConfig
from gridlab.training.factory import env_kwargs, policy_spec

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
    """Every state along the solver's plan of random puzzles: observations, robots, plan maps, moves."""
    env = RicochetRobotsEnv(**env_kwargs(CONFIG, "heldout"))
    rng = np.random.default_rng(seed)
    states: dict[str, list] = {"obs": [], "robots": [], "plan": [], "move": []}
    for _ in range(puzzles):
        layout, plan = random_layout(BoardSpec(5, 5, 1), rng, 1, 3)
        robots = list(layout.robots)
        for robot, direction in plan:
            state = layout.with_robots(robots)
            states["obs"].append(env.reset(options={"layout": state})[0])
            states["robots"].append(np.array(robots))
            states["plan"].append(state_labels(state)["plan_direction"][0])
            states["move"].append(4 * robot + direction)
            robots[robot] = slide(layout.h_walls, layout.v_walls, robots, robot, direction)
    return {name: np.stack(values) for name, values in states.items()}


def taught(states: dict[str, np.ndarray], blind: bool, steps: int = 1000, seed: int = 0) -> Agent:
    """A SmallCNN taught the solver's move and, through a 1x1 head on ``HOOK``, its plan map."""
    torch.manual_seed(seed)
    env = RicochetRobotsEnv(**env_kwargs(CONFIG, "heldout"))
    policy = policy_spec(CONFIG).build(env.observation_space, env.action_space)
    head = nn.Conv2d(64, 5, 1)  # plan classes -1..3, shifted to 0..4
    kept: list[torch.Tensor] = []
    hook = policy.features_extractor.hook_relu3.register_forward_hook(lambda _m, _i, out: kept.append(out))
    optimizer = torch.optim.Adam([*policy.parameters(), *head.parameters()], lr=3e-3)
    x = torch.as_tensor(robot_only(states["obs"]) if blind else states["obs"])
    plan, move = torch.as_tensor(states["plan"] + 1).long(), torch.as_tensor(states["move"])
    weight = torch.tensor([0.2, 1.0, 1.0, 1.0, 1.0])  # "no move" is most squares
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randint(len(x), (128,), generator=generator)
        kept.clear()
        logits = policy.action_net(policy.mlp_extractor(policy.extract_features(x[batch]))[0])
        loss = nn.functional.cross_entropy(logits, move[batch])
        loss = loss + nn.functional.cross_entropy(head(kept[0]), plan[batch], weight=weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    hook.remove()
    return Agent.from_policy(policy, CONFIG)


@pytest.fixture(scope="module")
def controls() -> tuple[ProbeResult, ProbeResult]:
    torch.set_num_threads(1)
    states = solver_states(1000, seed=0)
    planner, blind = taught(states, blind=False), taught(states, blind=True)
    rng = np.random.default_rng(1)
    puzzles = [random_layout(BoardSpec(5, 5, 1), rng, 2, 3)[0] for _ in range(300)]  # boards never taught
    rollouts = collect_rollouts(planner, puzzles, progress=False)  # the planner plays: it solves most
    assert rollouts.solved.mean() > 0.8
    masked: Rollouts = dataclasses.replace(rollouts, obs=robot_only(rollouts.obs))
    return (probe(planner, rollouts, HOOK, "plan_direction", robot="target"),
            probe(blind, masked, HOOK, "plan_direction", robot="target"))  # fmt: skip


def test_the_pipeline_finds_a_planted_plan_beyond_the_next_move(controls) -> None:
    planted, _ = controls
    assert set(planted.baselines) == {"majority", "next_action", "observation", "observation_3x3",
                                      "geometry", "random_network", "control_task"}  # fmt: skip
    assert planted.headline == "plan_f1" and not planted.collapsed
    assert planted.score >= 0.8, planted.interval
    assert all(planted.metrics["by_horizon"][h]["macro_f1"] >= 0.7 for h in (2, 3))
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
