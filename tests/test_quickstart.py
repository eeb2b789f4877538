"""The quick start's main job end to end, at the small budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridlab.interp.probes import load_results
from gridlab.interp.rollouts import Rollouts
from gridlab.quickstart import BUDGETS, quickstart

# The quick start runs once (`make test` runs each module on one worker: --dist loadfile).


@pytest.fixture(scope="session")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return quickstart(tmp_path_factory.mktemp("quickstart"), budget="small", seed=0)


def test_every_output_is_written(report: dict) -> None:
    out = Path(report["output_dir"])
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(report))
    assert (out / "report.md").read_text().startswith("# gridlab quick start")
    assert (Path(report["checkpoint"]) / "metadata.json").is_file()
    assert json.loads((out / "evaluation.json").read_text())["episodes"] == BUDGETS["small"].eval_episodes
    rollouts = Rollouts.load(out / "rollouts")
    assert len(set(rollouts.episode.tolist())) == BUDGETS["small"].probe_episodes
    for label, folder in report["files"]["probes"].items():
        metrics, config, weights = load_results(folder)
        assert config["label"] == label and len(metrics) == len(report["probe_tables"][label])
        assert (Path(folder) / "sweep.png").stat().st_size > 10_000
        assert len(weights) >= 4 * len(metrics)
    assert len(report["files"]["saliency"]) == 2
    assert all(Path(p).stat().st_size > 10_000 for p in report["files"]["saliency"])


def test_the_agent_learned(report: dict) -> None:
    assert report["success_rate"] >= 0.6
    assert report["success_by_length"]["1"] >= 0.9
    assert 1.0 <= report["moves_over_optimal"] < 1.3


def test_probes_are_reported_against_their_baselines(report: dict) -> None:
    actions = report["probes"]["optimal_actions"]
    assert actions["metric"] == "macro_f1" and not actions["collapsed"]
    low, high = actions["interval"]
    assert low <= actions["score"] <= high
    assert {"majority", "next_action", "observation", "control_task"} <= set(actions["above"])
    # A random SmallCNN's features already predict the next optimal move well on 5x5 boards (0.743
    # against the probe's 0.799 [0.714, 0.887] at seed 0 in fp32): the report gives the comparison,
    # and whether this small agent beats it is a finding that changes with the seed, not a contract.
    assert 0.5 < actions["random_network"] < 1.0
    plan = report["probes"]["plan_direction"]
    assert plan["kind"] == "square" and plan["metric"] == "plan_f1"  # beyond the next move's path
    # Squares beyond the next move: neither the next action nor a square's own contents predict
    # them, so those baselines score 0 and the probe is above them ...
    assert plan["next_action"] == plan["observation"] == plan["majority"] == 0.0
    assert {"majority", "next_action", "observation"} <= set(plan["above"])
    # ... but this small agent's plan probe is not above a random network of its architecture or
    # the observation's 3x3 neighbourhood (0.181 [0.123, 0.249] against 0.204 and 0.245 at seed 0):
    # nothing here says it plans beyond its next move.
    assert "random_network" not in plan["above"] and "observation_3x3" not in plan["above"]
