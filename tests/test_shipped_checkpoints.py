"""The agents in checkpoints/ load, and still play as their evaluation reports say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gridlab
from gridlab.checkpoints import read_checkpoint

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints"
NAMES = sorted(p.name for p in SHIPPED.iterdir() if p.is_dir() and not p.name.startswith("."))
FIXED_SET = 100  # the first held-out puzzles of each random-board agent's report
MAX_MB = 5.0


def test_the_milestone_and_random_board_agents_are_shipped() -> None:
    policies = {read_checkpoint(SHIPPED / name).metadata["policy_spec"]["policy"] for name in NAMES}
    assert policies == {"mlp", "small_cnn", "convlstm"}
    assert {"v1_mlp", "v1_small_cnn", "v3_convlstm", "v4_mlp"} <= set(NAMES)
    assert {"random5x5_small_cnn", "random5x5_convlstm"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_shipped_agent_matches_its_evaluation_report(name: str) -> None:
    folder = SHIPPED / name
    assert sum(f.stat().st_size for f in folder.iterdir()) < MAX_MB * 2**20
    agent = gridlab.load(folder)
    report = json.loads((folder / "evaluation.json").read_text())
    header = f"{name}: {agent.config.resolved_policy()}, {agent.metadata['training']['num_timesteps']:,}"
    assert (folder / "evaluation.txt").read_text().startswith(header)
    recorded = np.array(report["per_episode"]["solved"])
    if agent.config.milestone is not None:
        result = agent.evaluate(progress=False)
        assert result.success_rate == report["success_rate"] == 1.0
        assert list(result.moves) == report["per_episode"]["moves"]
    else:
        result = agent.evaluate(episodes=FIXED_SET, progress=False)
        assert list(result.optimal) == report["per_episode"]["optimal"][:FIXED_SET]  # the same puzzles
        assert (result.solved == recorded[:FIXED_SET]).mean() >= 0.98
        assert result.success_rate >= 0.9
        assert report["success_rate"] >= 0.9 and report["moves_over_optimal"] < 1.25
