"""Linear probes: planted signals are recovered, shuffled labels stay near chance, episodes stay whole."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from gridlab.cli import main
from gridlab.env import fixed_layouts_v1_four_targets
from gridlab.interp import cache_rollouts, collect_rollouts
from gridlab.interp.probes import (
    ProbeData,
    fit_and_score,
    load_results,
    plot_sweep,
    probe,
    probe_data,
    probe_sweep,
    save_results,
    split_by_episode,
    sweep_table,
)
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
        assert real["macro_f1"] > 0.9 and real["accuracy"] > 0.9 and real["converged"]
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


def test_a_probe_that_does_not_converge_says_so_in_its_metrics_not_on_stderr(monkeypatch, recwarn) -> None:
    fit = LogisticRegression.fit

    def fit_without_converging(self, *args, **kwargs):
        warnings.warn("lbfgs failed to converge", ConvergenceWarning, stacklevel=2)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", fit_without_converging)
    data = planted("classification")
    train, test = split_by_episode(data.groups, 0.25, seed=0)
    assert fit_and_score(data, "classification", train, test)[1]["converged"] is False
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]


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


def test_sweep_table_plot_and_saved_results(v1_run: Run, tmp_path) -> None:
    agent = v1_run.agent
    rollouts = collect_rollouts(
        agent, fixed_layouts_v1_four_targets() * 6, deterministic=False, progress=False
    )
    results = probe_sweep(agent, rollouts, "features_extractor.*", "optimal_actions")
    table = sweep_table(results)
    assert list(table.hook) == agent.hook_names()
    assert {"score", "observation", "random_network", "shuffled_labels"} <= set(table.columns)
    assert len(plot_sweep(results).lines) == 4
    save_results(results, tmp_path / "p", {"label": "optimal_actions"})
    metrics, config, weights = load_results(tmp_path / "p")
    assert [m["hook"] for m in metrics] == list(table.hook) and config == {"label": "optimal_actions"}
    # The saved linear map reproduces the probe's predictions.
    x = np.asarray(
        cache_rollouts(agent, rollouts, names_filter=results[3].hook, progress=False)[results[3].hook]
    )
    x = x.reshape(len(x), -1)
    logits = ((x - weights["3.mean"]) / weights["3.scale"]) @ weights["3.coef"].T + weights["3.intercept"]
    np.testing.assert_array_equal(weights["3.classes"][logits.argmax(1)], results[3].model.predict(x))


def test_probe_command_writes_results(v1_run: Run, tmp_path, capsys) -> None:
    out = tmp_path / "probe"
    args = ["probe", str(v1_run.checkpoint), "--label", "optimal_actions", "--episodes", "4", "--sampled",
            "--hooks", "features_extractor.hook_relu*", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert "features_extractor.hook_relu2" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "metrics.json",
        "sweep.png",
        "weights.npz",
    ]
