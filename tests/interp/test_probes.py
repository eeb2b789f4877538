"""Linear probes: planted signals are recovered, shuffled labels stay near chance, episodes stay whole."""

import dataclasses
import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import gridlab
from gridlab.agent import Agent
from gridlab.cli import main
from gridlab.env import fixed_layouts_v1_four_targets
from gridlab.interp import Rollouts, cache_rollouts, collect_rollouts, probes
from gridlab.interp.probes import (
    ProbeData,
    fit_and_score,
    linear_map,
    load_results,
    plot_sweep,
    probe,
    probe_data,
    probe_direction,
    probe_sweep,
    save_results,
    split_by_episode,
    sweep_table,
)
from gridlab.training import Run

HOOK = "features_extractor.hook_relu2"


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
    agent = gridlab.load(v1_run.checkpoint)
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
    agent = gridlab.load(v1_run.checkpoint)
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


@pytest.fixture(scope="module")
def v1_probed(v1_run: Run) -> tuple[Agent, Rollouts]:
    agent = gridlab.load(v1_run.checkpoint)
    puzzles = fixed_layouts_v1_four_targets() * 10
    return agent, collect_rollouts(agent, puzzles, deterministic=False, progress=False)


def test_the_default_probe_is_recorded_by_its_repr(v1_probed: tuple[Agent, Rollouts]) -> None:
    result = probe(*v1_probed, HOOK, "optimal_actions", baselines=False)
    assert result.estimator == (
        "Pipeline(steps=[('standardscaler', StandardScaler()), "
        "('logisticregression', LogisticRegression(C=0.1, max_iter=200))])"
    )
    assert result.to_dict()["estimator"] == result.estimator


def test_every_fit_uses_a_fresh_clone_of_the_estimator(v1_probed: tuple[Agent, Rollouts], monkeypatch):
    fitted = []
    fit = LogisticRegression.fit

    def recording_fit(self, *args, **kwargs):
        fitted.append(self)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", recording_fit)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(C=1.0))
    result = probe(*v1_probed, HOOK, "optimal_actions", estimator=estimator)
    # The probe, then the observation, random-network and shuffled-label baselines: four clones.
    assert len({id(model) for model in fitted}) == 4 and all(model.C == 1.0 for model in fitted)
    assert result.model[-1] is fitted[0]
    assert not hasattr(estimator[-1], "coef_")  # the caller's estimator stays unfitted
    assert result.estimator == (
        "Pipeline(steps=[('standardscaler', StandardScaler()), ('logisticregression', LogisticRegression())])"
    )
    assert result.score > 0.8 and result.baselines["shuffled_labels"]["macro_f1"] < result.score - 0.3


def test_a_regressor_and_a_tree_probe_score_sensibly(v1_probed: tuple[Agent, Rollouts]) -> None:
    ridge = probe(*v1_probed, HOOK, "moves_remaining", estimator=RidgeCV())
    assert ridge.estimator == "RidgeCV()" and set(ridge.metrics) == {"r2"}
    assert ridge.score > 0.5 and ridge.baselines["shuffled_labels"]["r2"] < 0.1
    tree = probe(*v1_probed, HOOK, "optimal_actions", estimator=DecisionTreeClassifier(random_state=0))
    assert tree.estimator == "DecisionTreeClassifier(random_state=0)"
    assert tree.score > 0.8 and tree.baselines["shuffled_labels"]["macro_f1"] < tree.score - 0.3


def test_an_estimator_of_the_wrong_kind_is_refused_before_caching(
    v1_probed: tuple[Agent, Rollouts], monkeypatch
) -> None:
    def no_caching(*args, **kwargs):
        raise AssertionError("activations were cached before the estimator was checked")

    monkeypatch.setattr(probes, "cache_rollouts", no_caching)
    with pytest.raises(
        ValueError,
        match=r"label 'moves_remaining' is continuous and needs a scikit-learn regressor, "
        r"got DecisionTreeClassifier\(\); pass e\.g\. estimator=RidgeCV\(\)",
    ):
        probe(*v1_probed, HOOK, "moves_remaining", estimator=DecisionTreeClassifier())
    with pytest.raises(
        ValueError, match="'optimal_actions' is a class label and needs a scikit-learn classifier"
    ):
        probe_sweep(*v1_probed, "features_extractor.*", "optimal_actions", estimator=RidgeCV())
    with pytest.raises(TypeError, match=r"must be an unfitted scikit-learn estimator .*, got str 'ridge'"):
        probe(*v1_probed, HOOK, "moves_remaining", estimator="ridge")


def test_linear_probes_save_their_weights_and_others_say_why_not(
    v1_probed: tuple[Agent, Rollouts], tmp_path
) -> None:
    agent, rollouts = v1_probed
    logistic = probe(agent, rollouts, HOOK, "optimal_actions", baselines=False,
                     estimator=make_pipeline(StandardScaler(), LogisticRegression(C=1.0)))  # fmt: skip
    ridge = probe(agent, rollouts, HOOK, "moves_remaining", baselines=False, estimator=RidgeCV())
    tree = probe(agent, rollouts, HOOK, "optimal_actions", False, estimator=DecisionTreeClassifier())
    save_results([logistic, ridge, tree], tmp_path / "p", {})
    metrics, _, weights = load_results(tmp_path / "p")
    note = "not saved: DecisionTreeClassifier has no coef_: the probe is not a linear map"
    assert [m["weights"] for m in metrics] == ["weights.npz", "weights.npz", note]
    assert [m["estimator"] for m in metrics] == [logistic.estimator, "RidgeCV()", "DecisionTreeClassifier()"]
    assert sorted(weights) == [f"0.{k}" for k in ("classes", "coef", "intercept", "mean", "scale")] + [
        f"1.{k}" for k in ("coef", "intercept", "mean", "scale")
    ]  # the tree has none
    x = np.asarray(cache_rollouts(agent, rollouts, names_filter=HOOK, progress=False)[HOOK])
    logits = ((x - weights["0.mean"]) / weights["0.scale"]) @ weights["0.coef"].T + weights["0.intercept"]
    np.testing.assert_array_equal(weights["0.classes"][logits.argmax(1)], logistic.model.predict(x))
    # A bare linear model has no standardiser: mean 0 and scale 1 reproduce it.
    assert not weights["1.mean"].any() and (weights["1.scale"] == 1).all()
    predicted = x @ weights["1.coef"][0] + weights["1.intercept"][0]
    np.testing.assert_allclose(predicted, ridge.model.predict(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(probe_direction(ridge), weights["1.coef"][0])
    with pytest.raises(ValueError, match="needs a linear probe: DecisionTreeClassifier has no coef_"):
        probe_direction(tree, class_id=0)
    with pytest.raises(ValueError, match=r"result 0 \(features_extractor\.hook_relu2\) has no fitted probe"):
        save_results([dataclasses.replace(tree, model=None)], tmp_path / "loaded", {})
    data = planted("classification")
    pca = make_pipeline(PCA(2), LogisticRegression()).fit(data.x, data.y)
    with pytest.raises(ValueError, match="the pipeline transforms with PCA before its linear model"):
        linear_map(pca)
