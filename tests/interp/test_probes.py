"""Probes: planted signals are recovered above every baseline, a collapse and the next-action
shortcut are exposed, hooks are chosen on validation, and results save and reload."""

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
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
from gridlab.interp.probe_rows import ProbeData, distinct_steps, split_episodes
from gridlab.interp.probes import (
    best_probe,
    evaluate_probe,
    fit_probe,
    linear_map,
    load_results,
    mlp_probe,
    plot_horizons,
    plot_sweep,
    probe,
    probe_direction,
    probe_estimator,
    probe_sweep,
    save_results,
    sweep_table,
)
from gridlab.interp.scores import bootstrap_counts
from gridlab.training import Run

HOOK = "features_extractor.hook_relu2"
BASELINES = {"majority", "next_action", "observation", "random_network", "control_task"}


def planted(task: str, rows: int = 2000, seed: int = 0) -> ProbeData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 20))
    w = rng.normal(size=(20, 3))
    y = (x @ w).argmax(1) if task == "classification" else x @ w[:, 0] + 0.1 * rng.normal(size=rows)
    return ProbeData(x, y, np.arange(rows) // 20, "global")


def fit_and_test(data: ProbeData, task: str, estimator=None, grid=None) -> tuple[BaseEstimator, dict]:
    train, val, test = split_episodes(data.groups, seed=0)
    model, validation = fit_probe(data, task, train, val, probe_estimator(task, estimator), grid)
    counts = bootstrap_counts(len(np.unique(data.groups[test])), 200, seed=0)
    metrics, _ = evaluate_probe(model, data, task, test, counts)
    return model, metrics | {"validation": validation}


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_planted_linear_signal_is_recovered_with_an_interval(task: str) -> None:
    data = planted(task)
    _, metrics = fit_and_test(data, task, grid={"logisticregression__C" if task == "classification"
                                                    else "ridge__alpha": (0.01, 1.0)})  # fmt: skip
    headline = "macro_f1" if task == "classification" else "r2"
    low, high = metrics["ci"][headline]
    assert 0.9 < low <= metrics[headline] <= high <= 1.0
    assert metrics["validation"]["score"] > 0.9 and metrics["validation"]["params"]
    if task == "classification":
        assert metrics["validation"]["converged"] and not metrics["collapsed"]
        assert metrics["average_precision"]["mean"] > 0.95
    shuffled = dataclasses.replace(data, y=np.random.default_rng(0).permutation(data.y))
    assert fit_and_test(shuffled, task)[1][headline] < 0.5  # chance: about 1/3 of classes, R^2 <= 0


def test_regularisation_is_chosen_on_validation_not_test() -> None:
    data = planted("classification", rows=400)
    noise = np.random.default_rng(1).normal(size=(400, 200))
    data = dataclasses.replace(data, x=np.concatenate([data.x, noise], axis=1))
    train, val, _ = split_episodes(data.groups, seed=0)
    grid = {"logisticregression__C": (1e-4, 0.1)}
    model, validation = fit_probe(data, "classification", train, val, probe_estimator("classification"), grid)
    assert validation["params"] == {"logisticregression__C": 0.1} and model[-1].C == 0.1


class Fixed(ClassifierMixin, BaseEstimator):
    """Predicts the class stored in the first feature: known predictions for hand-made checks."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> "Fixed":
        self.classes_ = np.unique(y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x[:, 0].astype(np.int64)


def test_scores_by_horizon_on_a_hand_made_case() -> None:
    # Four episodes of five squares: never left (-1), on the next move (horizon 1) or later (2, 3).
    y = np.tile([-1, -1, 0, 1, 2], 4)
    horizon = np.tile([0, 0, 1, 2, 3], 4)
    guess = np.tile([-1, -1, 0, -1, 2], 4)  # right on the next move and at horizon 3, blind at horizon 2
    data = ProbeData(guess[:, None].astype(float), y, np.repeat(np.arange(4), 5), "square", horizon)
    metrics, replicates = evaluate_probe(Fixed().fit(data.x, y), data, "classification",
                                         np.ones(20, dtype=bool), bootstrap_counts(4, 50, 0))  # fmt: skip
    assert metrics["by_horizon"][1]["macro_f1"] == 1.0 and metrics["by_horizon"][1]["rows"] == 4
    assert metrics["by_horizon"][2]["macro_f1"] == 0.0 and metrics["by_horizon"][3]["macro_f1"] == 1.0
    assert metrics["plan_f1"] == pytest.approx(0.5)  # classes 1 and 2 beyond the next move: F1 0 and 1
    assert metrics["macro_f1"] == pytest.approx(2 / 3)  # with class 0 on the next move
    np.testing.assert_allclose(replicates, 0.5)  # every episode is alike


def test_a_collapsed_probe_is_flagged_where_its_score_is() -> None:
    rng = np.random.default_rng(0)
    rows = 4000
    y = np.where(rng.random(rows) < 0.97, -1, rng.integers(0, 4, rows))
    data = ProbeData(rng.normal(size=(rows, 5)), y, np.arange(rows) // 40, "square")  # no signal at all
    _, metrics = fit_and_test(data, "classification")
    assert metrics["collapsed"] and metrics["macro_f1"] == 0.0 and metrics["accuracy"] > 0.95


def test_a_probe_that_does_not_converge_says_so_in_its_results_not_on_stderr(monkeypatch, recwarn) -> None:
    fit = LogisticRegression.fit

    def fit_without_converging(self, *args, **kwargs):
        warnings.warn("lbfgs failed to converge", ConvergenceWarning, stacklevel=2)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", fit_without_converging)
    assert fit_and_test(planted("classification"), "classification")[1]["validation"]["converged"] is False
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]


def test_probe_on_a_trained_agent_reports_every_baseline(v1_run: Run) -> None:
    agent = gridlab.load(v1_run.checkpoint)
    puzzles = fixed_layouts_v1_four_targets() * 20
    rollouts = collect_rollouts(agent, puzzles, deterministic=False, progress=False)
    result = probe(agent, rollouts, "features_extractor.hook_relu2", "optimal_actions")
    assert result.kind == "global" and result.task == "classification" and result.headline == "macro_f1"
    assert set(result.baselines) == BASELINES == set(result.differences)
    assert result.score > 0.8 and result.interval[0] <= result.score <= result.interval[1]
    assert result.differences["majority"]["excludes_zero"] and result.differences["majority"]["value"] > 0.5
    assert result.baselines["majority"]["collapsed"]
    assert result.n_train + result.n_val + result.n_test == distinct_steps(rollouts).sum() < len(rollouts)
    # Any optimal move counts as right in "any_optimal": never below the scores of one plan's move.
    assert result.metrics["any_optimal"]["accuracy"] >= result.metrics["accuracy"]
    assert result.baselines["majority"]["any_optimal"]["accuracy"] >= result.baselines["majority"]["accuracy"]
    spatial = probe(agent, rollouts, "features_extractor.hook_relu2", "moves_remaining", baselines=False)
    assert spatial.task == "regression" and spatial.headline == "r2" and "r2" in spatial.metrics
    with pytest.raises(ValueError, match=r"is per robot: pass robot=0\.\.0"):
        probe(agent, rollouts, "features_extractor.hook_relu2", "plan_direction")
    with pytest.raises(ValueError, match="needs a spatial activation"):
        probe(agent, rollouts, "features_extractor.hook_relu2", "plan_direction", robot=0)


def test_the_next_action_oracle_explains_the_next_move_and_nothing_beyond() -> None:
    agent = gridlab.load(Path(__file__).resolve().parents[2] / "checkpoints" / "random5x5_small_cnn")
    puzzles = [layout for layout, _ in agent.evaluation_puzzles(60)]
    rollouts = collect_rollouts(agent, puzzles, progress=False)
    hook = "features_extractor.hook_conv2"
    result = probe(agent, rollouts, hook, "agent_direction", robot="target", n_boot=200)
    assert result.kind == "square" and result.headline == "plan_f1"
    oracle = result.baselines["next_action"]["by_horizon"]
    assert oracle[1]["macro_f1"] == 1.0  # the next action fixes every square of its own path ...
    assert all(oracle[h]["macro_f1"] == 0.0 for h in oracle if h > 1)  # ... and nothing later
    assert result.baselines["next_action"]["plan_f1"] == 0.0
    assert result.baselines["majority"]["collapsed"] and result.baselines["majority"]["macro_f1"] == 0.0
    assert set(result.metrics["by_horizon"]) == set(oracle) and max(oracle) >= 2
    ax = plot_horizons(result)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "probe", "next action", "observation 3x3", "geometry", "random network"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="optimal_actions has no horizons"):
        plot_horizons(probe(agent, rollouts, hook, "optimal_actions", baselines=False))


def test_sweep_table_plot_and_saved_results(v1_run: Run, tmp_path) -> None:
    agent = gridlab.load(v1_run.checkpoint)
    rollouts = collect_rollouts(
        agent, fixed_layouts_v1_four_targets() * 6, deterministic=False, progress=False
    )
    results = probe_sweep(agent, rollouts, "features_extractor.*", "optimal_actions", n_boot=200)
    table = sweep_table(results)
    assert list(table.hook) == agent.hook_names()
    columns = {"score", "low", "high", "collapsed", "validation", "selected", "selectivity", "any_optimal"}
    assert columns | BASELINES <= set(table.columns) and (table.any_optimal >= table.score - 1e-9).all()
    assert table.selected.sum() == 1 and table.hook[table.selected].item() == best_probe(results).hook
    assert table.validation[table.selected].item() == table.validation.max()
    ax = plot_sweep(results)
    assert {"probe", "chosen on validation", "majority", "control task"} <= {
        t.get_text() for t in ax.get_legend().get_texts()
    }
    save_results(results, tmp_path / "p", {"label": "optimal_actions"})
    metrics, config, weights = load_results(tmp_path / "p")
    assert [m["hook"] for m in metrics] == list(table.hook) and config == {"label": "optimal_actions"}
    assert metrics[3]["interval"] == results[3].interval and set(metrics[3]["differences"]) == BASELINES
    assert (
        sorted(metrics[3]["fitted_boards"]) == metrics[3]["fitted_boards"] == sorted(results[3].fitted_boards)
    )
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
    puzzles = fixed_layouts_v1_four_targets() * 20
    return agent, collect_rollouts(agent, puzzles, deterministic=False, progress=False)


def test_the_default_probe_is_recorded_by_its_repr(v1_probed: tuple[Agent, Rollouts]) -> None:
    result = probe(*v1_probed, HOOK, "optimal_actions", baselines=False)
    assert result.estimator == (
        "Pipeline(steps=[('standardscaler', StandardScaler()), "
        "('logisticregression', LogisticRegression(C=0.1, max_iter=200))])"
    )
    assert result.to_dict()["estimator"] == result.estimator
    assert result.validation["params"]["logisticregression__C"] in (0.01, 0.1, 1.0)  # chosen on validation
    balanced = probe(*v1_probed, HOOK, "optimal_actions", baselines=False, class_weight="balanced")
    assert "class_weight='balanced'" in balanced.estimator


def test_every_fit_uses_a_fresh_clone_of_the_estimator(v1_probed: tuple[Agent, Rollouts], monkeypatch):
    fitted = []
    fit = LogisticRegression.fit

    def recording_fit(self, *args, **kwargs):
        fitted.append(self)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", recording_fit)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(C=1.0))
    result = probe(*v1_probed, HOOK, "optimal_actions", estimator=estimator)
    # The probe, then the next-action, observation, random-network and control-task baselines (the
    # majority baseline is a DummyClassifier); a given estimator gets no grid: one fit each.
    assert len({id(model) for model in fitted}) == 5 and all(model.C == 1.0 for model in fitted)
    assert result.model[-1] is fitted[0]
    assert not hasattr(estimator[-1], "coef_")  # the caller's estimator stays unfitted
    assert result.estimator == (
        "Pipeline(steps=[('standardscaler', StandardScaler()), ('logisticregression', LogisticRegression())])"
    )
    assert result.score > 0.8 and result.differences["majority"]["value"] > 0.3


def test_regressor_tree_and_mlp_probes_score_sensibly(v1_probed: tuple[Agent, Rollouts]) -> None:
    ridge = probe(*v1_probed, HOOK, "moves_remaining", estimator=RidgeCV())
    assert ridge.estimator == "RidgeCV()" and set(ridge.metrics) == {"r2", "ci"}
    assert ridge.score > 0.5 and ridge.baselines["majority"]["r2"] <= 0.0
    assert "control_task" not in ridge.baselines  # a control task needs classes
    tree = probe(*v1_probed, HOOK, "optimal_actions", estimator=DecisionTreeClassifier(random_state=0))
    assert tree.estimator == "DecisionTreeClassifier(random_state=0)"
    assert tree.score > 0.8 and tree.differences["majority"]["excludes_zero"]
    mlp = probe(*v1_probed, HOOK, "optimal_actions", baselines=False, estimator=mlp_probe(hidden=16))
    assert "MLPClassifier" in mlp.estimator and mlp.score > 0.8


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


def test_average_precision_takes_replicates_that_drew_no_rows_as_undefined_quietly() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    model = LogisticRegression().fit(x, y)
    counts = np.ones((probes.AP_REPLICATES, 2), dtype=np.int64)
    counts[0] = 0  # the first replicate draws neither episode: no row, no average precision
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = probes._average_precision(model, x, y, groups=np.array([0, 0, 1, 1]), move=np.array([0, 1]),
                                           counts=counts)  # fmt: skip
    assert result["per_class"] == {0: 1.0, 1: 1.0} and result["mean"] == 1.0
    assert result["ci"] == [1.0, 1.0]  # the other replicates, which all separate the classes
