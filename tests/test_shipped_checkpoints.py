"""The agents in checkpoints/ load, and still play as their evaluation reports say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gridlab
from gridlab.checkpoints import read_checkpoint, run_checkpoints

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints"
NAMES = sorted(p.name for p in SHIPPED.iterdir() if p.is_dir() and not p.name.startswith("."))
FIXED_SET = 100  # random boards: the first held-out puzzles of each agent's report
PER_LENGTH = 10  # puzzle-bank agents: the first held-out puzzles of each optimal length in the report
MAX_MB = 10.0
SERIES_MB = 8.0  # the compact checkpoint series shipped beside an agent, for emergence studies
SERIES = sorted(p.parent.name for p in SHIPPED.glob("*/series"))
# Greedy held-out success each random-board agent must keep, on its report and on the fixed set.
# The 8x8 floors are what each agent reached, less a margin for the small fixed set (only the
# DAgger DRC(3, 3) meets the success targets, >= 90% at 1-4 moves and >= 60% at 5-6).
MIN_SUCCESS = {
    "random5x5_small_cnn": 0.9,
    "random5x5_convlstm": 0.9,
    "random8x8_convlstm": 0.2,
    "random8x8_small_cnn_kickstart": 0.5,
    "random8x8_small_cnn_ppo": 0.35,
    "random8x8_drc33_dagger": 0.75,
    "random8x8_3robots_drc33_dagger": 0.6,
}


def test_the_milestone_and_random_board_agents_are_shipped() -> None:
    policies = {read_checkpoint(SHIPPED / name).policy_spec.policy for name in NAMES}
    assert policies == {"mlp", "small_cnn", "convlstm"}
    assert {"v1_mlp", "v1_small_cnn", "v3_convlstm", "v4_mlp"} <= set(NAMES)
    assert set(MIN_SUCCESS) <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_shipped_agent_matches_its_evaluation_report(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SHIPPED.parent)  # configs name their puzzle bank relative to the repository
    folder = SHIPPED / name
    assert sum(f.stat().st_size for f in folder.iterdir()) < MAX_MB * 2**20
    agent = gridlab.load(folder)
    report = json.loads((folder / "evaluation.json").read_text())
    header = f"{name}: {agent.config.resolved_policy()}, {agent.metadata['training']['num_timesteps']:,}"
    assert (folder / "evaluation.txt").read_text().startswith(header)
    recorded_optimal = np.array(report["per_episode"]["optimal"])
    recorded = np.array(report["per_episode"]["solved"])
    if agent.config.milestone is not None:
        result = agent.evaluate(progress=False)
        assert result.success_rate == report["success_rate"] == 1.0
        assert list(result.moves) == report["per_episode"]["moves"]
        return
    if agent.config.bank is not None:  # the report has the same number of puzzles at every length
        result = agent.evaluate(episodes=PER_LENGTH, per_length=True, progress=False)
        lengths = range(agent.config.min_moves, agent.config.max_moves + 1)
        rows = np.concatenate([np.flatnonzero(recorded_optimal == n)[:PER_LENGTH] for n in lengths])
        assert report["by_length"]["1"]["success_rate"] >= 0.9
    else:
        result = agent.evaluate(episodes=FIXED_SET, progress=False)
        rows = np.arange(FIXED_SET)
        assert report["moves_over_optimal"] < 1.25
    assert list(result.optimal) == list(recorded_optimal[rows])  # the same puzzles
    assert (result.solved == recorded[rows]).mean() >= 0.98
    assert report["success_rate"] >= MIN_SUCCESS[name] and result.success_rate >= MIN_SUCCESS[name]


def test_the_teacher_guided_and_pure_ppo_smallcnn_ship_their_checkpoint_series() -> None:
    assert {"random8x8_small_cnn_kickstart", "random8x8_small_cnn_ppo"} <= set(SERIES)


@pytest.mark.parametrize("name", SERIES)
def test_a_shipped_series_is_compact_and_in_training_order(name: str) -> None:
    agent = gridlab.load(SHIPPED / name)
    series = run_checkpoints(SHIPPED / name / "series")
    steps = [step for step, _ in series]
    assert (
        len(steps) >= 4
        and steps == sorted(steps)
        and steps[-1] <= agent.metadata["training"]["num_timesteps"]
    )
    if agent.metadata["training"].get("recipe", {"name": "ppo"})["name"] != "ppo":
        assert steps[0] == 0  # the recipe's clone, before any PPO
    files = [f for _, path in series for f in path.iterdir()]
    assert sum(f.stat().st_size for f in files) < SERIES_MB * 2**20
    for _, path in series:
        checkpoint = read_checkpoint(path)
        assert checkpoint.metadata["compact"] and checkpoint.policy_spec == agent.policy_spec


SEEDS = SHIPPED / "random8x8_small_cnn_kickstart" / "seeds"


def test_three_seeds_of_the_guided_smallcnn_ship_with_their_clones(monkeypatch: pytest.MonkeyPatch) -> None:
    # the sweep gridlab sweep configs/small_cnn_8x8_2robots_kickstart.yaml --grid seed=0,1,2
    # --grid total_timesteps=500000 --grid kickstart_steps=500000 (README: the agents)
    monkeypatch.chdir(SHIPPED.parent)
    agent = gridlab.load(SHIPPED / "random8x8_small_cnn_kickstart")
    for seed in range(3):
        final, clone = (gridlab.load(SEEDS / f"seed_{seed}{suffix}") for suffix in ("", "_clone"))
        assert final.config.seed == clone.config.seed == seed and final.config.kickstart_steps == 500_000
        assert final.metadata["training"]["num_timesteps"] == 501_760
        assert clone.metadata["training"]["num_timesteps"] == 0
        for checkpoint in (final, clone):
            assert checkpoint.metadata["compact"] and checkpoint.policy_spec == agent.policy_spec
            assert checkpoint.evaluate(episodes=10, per_length=True, progress=False).success_rate >= 0.45
    assert sum(f.stat().st_size for f in SEEDS.rglob("*") if f.is_file()) < SERIES_MB * 2**20


CLONES = SHIPPED / "random8x8_drc33_dagger" / "clones"
CLONES_MB = 12.0  # four compact DRC(3, 3) clones with float16 weights, 2.9 MB each
# by total DAgger updates, the updates of the run that made each clone (each run started from the
# clone before it; the 1,000-update run between 5,000 and 8,500 is not shipped)
CLONE_RUNS = {2000: 2000, 5000: 3000, 8500: 2500, 10000: 1500}


def test_the_dagger_drc_ships_its_earlier_clones(monkeypatch: pytest.MonkeyPatch) -> None:
    # its series for emergence studies (notebook 06): no PPO steps, so indexed by DAgger updates
    monkeypatch.chdir(SHIPPED.parent)
    agent = gridlab.load(SHIPPED / "random8x8_drc33_dagger")
    assert sorted(p.name for p in CLONES.iterdir()) == sorted(f"updates_{n}" for n in CLONE_RUNS)
    assert agent.metadata["training"]["recipe"]["cloning"]["updates"] == 2500  # the last run: 12,500 in all
    for total, updates in CLONE_RUNS.items():
        clone = gridlab.load(CLONES / f"updates_{total}")
        training = clone.metadata["training"]
        assert training["num_timesteps"] == 0 and training["recipe"]["cloning"]["updates"] == updates
        assert clone.metadata["compact"] and clone.policy_spec == agent.policy_spec
        assert clone.evaluate(episodes=4, per_length=True, progress=False).success_rate >= 0.45
    assert sum(f.stat().st_size for f in CLONES.rglob("*") if f.is_file()) < CLONES_MB * 2**20
