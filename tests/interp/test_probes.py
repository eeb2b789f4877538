"""Linear probes: planted signals are recovered, shuffled labels stay near chance, episodes stay whole."""

import numpy as np
import pytest

from gridlab.env import fixed_layouts_v1_four_targets
from gridlab.interp import collect_rollouts
from gridlab.interp.probes import ProbeData, fit_and_score, probe, probe_data, split_by_episode
from gridlab.training import Run


def planted(task: str, rows: int = 2000, seed: int = 0) -> ProbeData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 20))
    w = rng.normal(size=(20, 3))
    y = (x @ w).argmax(1) if task == "classification" else x @ w[:, 0] + 0.1 * rng.normal(size=rows)
    return ProbeData(x, y, np.arange(rows) // 20, "global")


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_planted_linear_signal_is_recovered_and_the_control_is_near_chance(task: str) -> None:
    data = planted(task)
    train, test = split_by_episode(data.groups, 0.25, seed=0)
    _, real = fit_and_score(data, task, train, test)
    _, control = fit_and_score(data, task, train, test, shuffle_seed=0)
    if task == "classification":
        assert real["macro_f1"] > 0.9 and real["accuracy"] > 0.9
        assert control["macro_f1"] < 0.5  # three classes: chance is about 1/3
    else:
        assert real["r2"] > 0.95 and control["r2"] < 0.1


def test_square_probe_shares_one_map_across_cells() -> None:
    rng = np.random.default_rng(1)
    acts = rng.normal(size=(300, 6, 5, 5))
    targets = (acts[:, 2] - acts[:, 4] > 0).astype(np.int64)  # a per-cell linear rule
    data = probe_data(acts, targets, np.arange(300) // 10)
    assert data.kind == "square" and data.x.shape == (300 * 25, 6)
    train, test = split_by_episode(data.groups, 0.25, 0)
    assert not set(data.groups[train]) & set(data.groups[test])  # episodes never straddle the split
    assert fit_and_score(data, "classification", train, test)[1]["macro_f1"] > 0.95


def test_absent_classes_do_not_count_as_perfect() -> None:
    data = ProbeData(np.eye(8)[np.arange(80) % 8], np.arange(80) % 2, np.arange(80) // 4, "global")
    train, test = split_by_episode(data.groups, 0.5, 0)
    metrics = fit_and_score(data, "classification", train, test)[1]
    assert set(metrics["per_class_f1"]) == {0, 1}  # only classes seen in labels or predictions


def test_probe_on_a_trained_agent_reports_every_baseline(v1_run: Run) -> None:
    agent = v1_run.agent
    puzzles = fixed_layouts_v1_four_targets() * 10
    rollouts = collect_rollouts(agent, puzzles, deterministic=False, progress=False)
    result = probe(agent, rollouts, "features_extractor.hook_relu2", "optimal_actions")
    assert result.kind == "global" and result.task == "classification"
    assert set(result.baselines) == {"observation", "random_network", "shuffled_labels"}
    assert result.score > 0.8  # the trained features encode the move to make
    assert result.baselines["shuffled_labels"]["macro_f1"] < result.score - 0.3
    assert result.n_train + result.n_test == len(rollouts)
    spatial = probe(agent, rollouts, "features_extractor.hook_relu2", "moves_remaining", baselines=False)
    assert spatial.task == "regression" and "r2" in spatial.metrics
    with pytest.raises(ValueError, match=r"is per robot: pass robot=0\.\.0"):
        probe(agent, rollouts, "features_extractor.hook_relu2", "plan_direction")
    with pytest.raises(ValueError, match="needs a spatial activation"):
        probe(agent, rollouts, "features_extractor.hook_relu2", "plan_direction", robot=0)
