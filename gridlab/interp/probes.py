"""Probes from a hook's activations to a solver label, scored so that a collapse or a
next-action shortcut cannot pass for a plan, with baselines and intervals beside every score.

Rows, feature families, robot roles, splits and repeated states: `gridlab.interp.probe_rows`.
Scores and intervals: `gridlab.interp.scores`.

**Fitting.** The probe is a standardised linear model by default (logistic regression for
classes, ridge for scalars); ``estimator=`` swaps in any scikit-learn classifier or regressor
(`mlp_probe` gives a small MLP), cloned afresh for every fit. Episodes are split into train,
validation and test (60/20/20 by default). The regularisation is chosen on the validation
split from ``grid``, so is the hook (`best_probe`); the test split is only scored.

**The headline score** (``result.score``) is, for a square direction label with horizons
(``plan_direction``, ``agent_direction``), ``plan_f1``: macro F1 over the move classes on every
test square except the next move's path, which the next action alone predicts. Otherwise it is
``macro_f1`` over the move classes (classes) or R^2 (scalars). Each result also holds scores per
horizon (``metrics["by_horizon"][h]``: squares left ``h`` moves ahead, and the squares never
left), balanced accuracy, per-class F1 and average precision, and ``collapsed``, True when the
probe predicts its most frequent class nearly everywhere.

**Baselines**, fitted and scored on the same rows with the same estimator and grid:

==================  ==============================================================================
``majority``        the most frequent training class (the mean, for scalars)
``next_action``     a probe that sees only the agent's next action (square labels: the direction
                    it moves the robot off each cell of its path)
``observation``     the observation, through the same feature family (square labels: also
``observation_3x3`` the 3x3 neighbourhood)
``geometry``        per-robot square labels: the label most often seen in training for the pair
                    (robot's square, this square), what an agent that does not plan can predict
``random_network``  the same architecture with fresh weights, running its own recurrent state
``control_task``    this hook's activations predicting random labels fixed per input type (Hewitt
                    and Liang 2019); ``score - control_task`` is the probe's selectivity
==================  ==============================================================================

``result.differences[name]`` is the headline score minus the baseline's, with a 95% interval from
the same resampled test episodes; ``excludes_zero`` says whether the interval leaves out 0.
"""

from __future__ import annotations

import itertools
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from sklearn.base import BaseEstimator, ClassifierMixin, clone, is_classifier, is_regressor
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from gridlab.agent import Agent
from gridlab.env.puzzle_bank import puzzle_key
from gridlab.files import atomic_write, atomic_write_json
from gridlab.interp.activations import cache_rollouts, with_own_states
from gridlab.interp.probe_rows import (
    REGRESSION_LABELS,
    ProbeData,
    Robot,
    control_targets,
    credited,
    distinct_steps,
    geometry_inputs,
    label_accept,
    label_horizons,
    label_targets,
    next_action_inputs,
    probe_data,
    split_episodes,
)
from gridlab.interp.rollouts import Rollouts
from gridlab.interp.scores import (
    NO_MOVE,
    average_precision,
    bootstrap_counts,
    classification_scores,
    interval,
    paired_difference,
    r2_scores,
    replicate_macro_f1,
    replicate_r2,
)

GRIDS: dict[str, dict[str, Sequence[Any]]] = {
    "classification": {"logisticregression__C": (0.01, 0.1, 1.0)},
    "regression": {"ridge__alpha": (0.1, 1.0, 10.0)},
}
AP_REPLICATES = 200  # average precision re-sorts rows per replicate: fewer replicates than the rest


@dataclass
class ProbeResult:
    """Scores of one probe and its baselines on the test episodes.

    Attributes:
        headline: Name of the headline metric (``plan_f1``, ``macro_f1`` or ``r2``).
        metrics: Test scores (`gridlab.interp.scores`), with ``ci`` intervals, ``by_horizon`` and
            ``plan`` for direction labels, ``average_precision`` for classes.
        baselines: The same scores for each baseline (module docstring).
        differences: Headline minus each baseline's: ``{"value", "ci", "excludes_zero"}``.
        validation: ``{"score": headline on the validation split, "params": the chosen grid point}``.
        estimator: ``repr`` of the (unfitted) estimator every fit used, on one line.
        features: The square feature family (``1x1``, ``3x3``, ``position``).
        robot: Whose map a square probe reads (a number, ``"target"``, ``"other"``), else None.
        fitted_boards: `puzzle_key` hex digests of the puzzles of the training and validation
            episodes: the boards the probe was fitted and chosen on, which causal tests refuse
            (`gridlab.interp.routes`).
        model: The fitted probe (not saved; `save_results` keeps a linear probe's weights).
    """

    hook: str
    label: str
    kind: str
    task: str
    headline: str
    metrics: dict[str, Any]
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    estimator: str = ""
    features: str = "1x1"
    robot: Robot | None = None
    fitted_boards: frozenset[str] = field(default_factory=frozenset, repr=False)
    model: BaseEstimator | None = field(default=None, repr=False)

    @property
    def score(self) -> float:
        """The headline score on the test split."""
        return float(self.metrics[self.headline])

    @property
    def interval(self) -> list[float]:
        """The headline score's 95% interval over test episodes."""
        return list(self.metrics["ci"][self.headline])

    @property
    def collapsed(self) -> bool:
        """Does the probe predict one class on nearly every row? (False for scalars.)"""
        return bool(self.metrics.get("collapsed", False))

    def to_dict(self) -> dict[str, Any]:
        return {
            "hook": self.hook, "label": self.label, "kind": self.kind, "task": self.task,
            "headline": self.headline, "score": self.score, "interval": self.interval,
            "collapsed": self.collapsed, "metrics": self.metrics, "baselines": self.baselines,
            "differences": self.differences, "validation": self.validation, "n_train": self.n_train,
            "n_val": self.n_val, "n_test": self.n_test, "estimator": self.estimator,
            "features": self.features, "robot": self.robot, "fitted_boards": sorted(self.fitted_boards),
        }  # fmt: skip


def probe_estimator(
    task: str,
    estimator: BaseEstimator | None = None,
    label: str | None = None,
    class_weight: str | None = None,
) -> BaseEstimator:
    """A fresh, unfitted probe for ``task``: a clone of ``estimator``, or the default linear probe.

    Args:
        task: ``"classification"`` or ``"regression"``.
        estimator: A scikit-learn classifier (classification) or regressor (regression), or a
            pipeline ending in one; None for the default standardised logistic (``C=0.1``) or
            ridge (``alpha=1``) regression.
        label: The label's name, for the error message.
        class_weight: ``"balanced"`` weights the default logistic probe's classes inversely to
            their frequency (pass your own estimator for other weightings).

    Returns:
        An unfitted estimator that shares no state with ``estimator``.

    Raises:
        TypeError: If ``estimator`` is not a scikit-learn estimator.
        ValueError: If it is a classifier for a continuous label or a regressor for a class label.
    """
    if estimator is None:
        if task == "regression":
            return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        return make_pipeline(
            StandardScaler(), LogisticRegression(C=0.1, max_iter=200, class_weight=class_weight)
        )
    try:
        model = clone(estimator)
    except TypeError:
        raise TypeError(
            f"estimator must be an unfitted scikit-learn estimator or pipeline (with get_params), "
            f"got {type(estimator).__name__} {estimator!r}"
        ) from None
    regression = task == "regression"
    if not (is_regressor(model) if regression else is_classifier(model)):
        subject = f"label {label!r}" if label else "the label"
        what = "continuous" if regression else "a class label"
        needed, example = ("regressor", "RidgeCV()") if regression else ("classifier", "LogisticRegression()")
        raise ValueError(
            f"{subject} is {what} and needs a scikit-learn {needed}, got {estimator!r}; "
            f"pass e.g. estimator={example}, or estimator=None for the default linear probe"
        )
    return model


class LookupClassifier(ClassifierMixin, BaseEstimator):
    """Predicts, for the integer key in the first feature, the class most often seen with that key
    in training (the training majority for keys never seen); probabilities are the key's class
    frequencies. The `geometry` baseline's estimator."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> LookupClassifier:
        self.classes_, labels = np.unique(y, return_inverse=True)
        keys = x[:, 0].astype(np.int64)
        self.keys_, key_index = np.unique(keys, return_inverse=True)
        counts = np.zeros((len(self.keys_), len(self.classes_)))
        np.add.at(counts, (key_index, labels), 1.0)
        self.table_ = counts / counts.sum(axis=1, keepdims=True)
        self.prior_ = np.bincount(labels, minlength=len(self.classes_)) / len(labels)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        keys = x[:, 0].astype(np.int64)
        where = np.clip(np.searchsorted(self.keys_, keys), 0, len(self.keys_) - 1)
        known = self.keys_[where] == keys
        return np.where(known[:, None], self.table_[where], self.prior_[None])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(axis=1)]


def mlp_probe(hidden: int = 64, seed: int = 0) -> Pipeline:
    """A small non-linear probe: standardised inputs, one ReLU layer of ``hidden`` units (choose
    its ``mlpclassifier__alpha`` on validation with ``grid=``)."""
    return make_pipeline(
        StandardScaler(), MLPClassifier((hidden,), alpha=1e-3, max_iter=500, random_state=seed)
    )


def _grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def _move_classes(data: ProbeData) -> np.ndarray:
    classes = np.unique(data.y)
    return classes[classes != NO_MOVE] if data.kind == "square" else classes


def _headline_rows(data: ProbeData) -> np.ndarray:
    """Rows the headline scores: all, or for direction labels all but the next move's path."""
    return np.ones(len(data.y), dtype=bool) if data.horizon is None else data.horizon != 1


def _headline(task: str, data: ProbeData) -> str:
    if task == "regression":
        return "r2"
    return "plan_f1" if data.horizon is not None else "macro_f1"


@threadpool_limits.wrap(limits=1, user_api="blas")  # probes are small: extra BLAS threads only contend
def fit_probe(
    data: ProbeData,
    task: str,
    train: np.ndarray,
    val: np.ndarray,
    estimator: BaseEstimator | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
) -> tuple[BaseEstimator, dict[str, Any]]:
    """Fit a probe on the training rows for every grid point; keep the best on the validation rows.

    Args:
        data: Rows of the probe (`probe_data`).
        task: ``"classification"`` or ``"regression"``.
        train, val: Boolean masks of the training and validation rows.
        estimator: The probe to clone (`probe_estimator`), or an estimator that needs no features
            (a baseline such as ``DummyClassifier``).
        grid: Parameter values to choose from by ``set_params`` name (`GRIDS` for the default
            probe); empty: fit the estimator as it is.

    Returns:
        ``(model, validation)``: the fitted probe, and ``{"score", "params", "converged"}``.

    Raises:
        ValueError: For a single training class.
    """
    if task == "classification" and len(np.unique(data.y[train])) < 2:
        raise ValueError(
            f"the training split has a single class {np.unique(data.y[train])}; collect more episodes"
        )
    best: tuple[float, BaseEstimator, dict[str, Any], bool] | None = None
    scored = val & _headline_rows(data)
    for params in _grid_points(grid or {}):
        model = clone(estimator).set_params(**params)
        with warnings.catch_warnings(record=True) as caught:  # reported in the result, not printed per probe
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(data.x[train], data.y[train])
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        predicted = model.predict(data.x[scored])
        if task == "regression":
            value = r2_scores(data.y[scored], predicted, np.zeros(scored.sum(), dtype=np.int64))["r2"]
        else:
            groups = np.zeros(scored.sum(), dtype=np.int64)
            value = classification_scores(data.y[scored], predicted, groups, _move_classes(data))["macro_f1"]
        value = -np.inf if not np.isfinite(value) else float(value)
        if best is None or value > best[0]:
            best = (value, model, params, converged)
    assert best is not None  # the grid has at least its empty point
    return best[1], {"score": best[0], "params": best[2], "converged": best[3]}


def evaluate_probe(
    model: BaseEstimator, data: ProbeData, task: str, test: np.ndarray, counts: np.ndarray
) -> tuple[dict[str, Any], np.ndarray]:
    """Test scores of a fitted probe with intervals, and ``(B,)`` replicates of its headline.

    Args:
        model: A fitted probe.
        data: Its rows.
        task: ``"classification"`` or ``"regression"``.
        test: Boolean mask of the test rows.
        counts: ``(B, E)`` bootstrap counts over the test episodes in sorted order.
    """
    y, x = data.y[test], data.x[test]
    _, groups = np.unique(data.groups[test], return_inverse=True)
    predicted = model.predict(x)
    if task == "regression":
        return r2_scores(y, predicted, groups, counts), replicate_r2(y, predicted, groups, counts)
    move = _move_classes(data)
    metrics = classification_scores(y, predicted, groups, move, counts)
    headline = _headline_rows(data)[test]
    if data.horizon is not None:
        horizon = data.horizon[test]
        metrics["plan"] = classification_scores(
            y[headline], predicted[headline], groups[headline], move, counts
        )
        metrics["plan_f1"] = metrics["plan"]["macro_f1"]
        metrics["ci"]["plan_f1"] = metrics["plan"]["ci"]["macro_f1"]
        metrics["by_horizon"] = {}
        for h in np.unique(horizon[horizon > 0]):
            rows = (horizon == h) | (horizon == 0)  # the squares left h moves ahead, and those never left
            metrics["by_horizon"][int(h)] = classification_scores(
                y[rows], predicted[rows], groups[rows], move, counts
            ) | {"rows": int((horizon == h).sum())}
    if data.accept is not None:  # any optimal plan's move counts as right
        truth = credited(y, predicted, data.accept[test])
        metrics["any_optimal"] = classification_scores(truth, predicted, groups, move, counts)
        if data.horizon is not None:
            metrics["any_optimal"]["plan"] = classification_scores(
                truth[headline], predicted[headline], groups[headline], move, counts
            )
    metrics["average_precision"] = _average_precision(model, x, y, groups, move, counts)
    replicates = replicate_macro_f1(y[headline], predicted[headline], groups[headline], move, counts)
    return metrics, replicates


def _average_precision(
    model: BaseEstimator,
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    move: np.ndarray,
    counts: np.ndarray,
) -> dict[str, Any]:
    """One-vs-rest average precision per move class, and their mean with its interval."""
    if hasattr(model, "predict_proba"):
        scores = model.predict_proba(x)
    elif hasattr(model, "decision_function"):
        scores = model.decision_function(x)
        scores = np.stack([-scores, scores], axis=1) if scores.ndim == 1 else scores
    else:
        return {}
    classes = list(model.classes_)
    weights = counts[:AP_REPLICATES, groups]
    per_class, replicates = {}, []
    for c in move:
        column = scores[:, classes.index(c)] if c in classes else np.zeros(len(y))
        per_class[int(c)] = float(average_precision(y == c, column))
        replicates.append(average_precision(y == c, column, weights))
    # a replicate may draw no row of any class (small samples): its mean is NaN, without a warning
    stacked = np.stack(replicates) if replicates else np.full((1, 1), np.nan)
    defined = np.isfinite(stacked).sum(axis=0)
    mean_replicates = np.where(defined > 0, np.nansum(stacked, axis=0) / np.maximum(defined, 1), np.nan)
    return {"per_class": per_class, "mean": float(np.mean(list(per_class.values()))),
            "ci": interval(mean_replicates)}  # fmt: skip


def probe_sweep(
    agent: Agent,
    rollouts: Rollouts,
    hooks: str | Sequence[str],
    label: str,
    robot: Robot | None = None,
    baselines: bool = True,
    seed: int = 0,
    progress: bool = True,
    estimator: BaseEstimator | None = None,
    *,
    features: str = "1x1",
    grid: Mapping[str, Sequence[Any]] | None = None,
    class_weight: str | None = None,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    distinct: bool = True,
    n_boot: int = 1000,
) -> list[ProbeResult]:
    """`probe` for every hook matching ``hooks`` (names or patterns), sharing caches, splits and
    bootstrap replicates (so differences between hooks and baselines are paired).

    The label-only baselines (majority, next action, observation) are fitted once per sweep; the
    random network and the control task once per hook.

    Args:
        hooks: Hook names or shell patterns.
        progress: Show a progress bar.
        agent, rollouts, label, robot, baselines, seed, estimator, features, grid, class_weight,
        fractions, distinct, n_boot: As for `probe`.

    Returns:
        One `ProbeResult` per hook, in the agent's hook order; `best_probe` picks by validation.

    Raises:
        ValueError, TypeError: As `probe` does, for the estimator before any activation is cached.
    """
    targets = label_targets(rollouts, label, robot)
    horizons = label_horizons(rollouts, label, robot)
    accept = label_accept(rollouts, label, robot)
    task = "regression" if label in REGRESSION_LABELS else "classification"
    base = probe_estimator(task, estimator, label, class_weight)  # checked before caching
    grid = GRIDS[task] if grid is None and estimator is None else (grid or {})
    described = " ".join(repr(base).split())
    names = agent.resolve_hook_names(hooks)
    acts = cache_rollouts(agent, rollouts, names_filter=names, progress=False)

    keep = distinct_steps(rollouts) if distinct else np.ones(len(rollouts), dtype=bool)
    assigned = split_episodes(rollouts.episode, fractions, seed)
    splits = [mask & keep for mask in assigned]
    fitted_on = np.unique(rollouts.episode[assigned[0] | assigned[1]])
    fitted_boards = frozenset(puzzle_key(rollouts.layouts[e]).hex() for e in fitted_on)
    counts = bootstrap_counts(len(np.unique(rollouts.episode[splits[2]])), n_boot, seed)

    def run(data: ProbeData, model: BaseEstimator = base, point: Mapping[str, Sequence[Any]] = grid) -> dict:
        train, val, test = (np.repeat(mask, len(data.y) // len(rollouts)) for mask in splits)
        fitted, validation = fit_probe(data, task, train, val, model, point)
        metrics, replicates = evaluate_probe(fitted, data, task, test, counts)
        return {"model": fitted, "validation": validation, "metrics": metrics, "replicates": replicates,
                "rows": (int(train.sum()), int(val.sum()), int(test.sum()))}  # fmt: skip

    def rows(activations: np.ndarray, family: str = features) -> ProbeData:
        return probe_data(activations, targets, rollouts.episode, family, horizons, accept)

    shared: dict[str, dict] = {}
    random_acts: Mapping[str, np.ndarray] = {}
    if baselines:
        random = agent.randomized(seed)
        random_acts = cache_rollouts(
            random, with_own_states(random, rollouts), names_filter=names, progress=False
        )
        control = (
            control_targets(rollouts.obs, targets, splits[0], seed) if task == "classification" else None
        )
    results = []
    for name in tqdm(names, desc=f"probe {label}", leave=False, disable=not progress):
        data = rows(np.asarray(acts[name]))
        fitted = run(data)
        result = ProbeResult(
            name, label, data.kind, task, _headline(task, data), fitted["metrics"],
            validation=fitted["validation"], n_train=fitted["rows"][0], n_val=fitted["rows"][1],
            n_test=fitted["rows"][2], estimator=described, features=features, robot=robot,
            fitted_boards=fitted_boards, model=fitted["model"],
        )  # fmt: skip
        if baselines:
            spatial = data.kind == "square"
            if data.kind not in shared:
                dummy = (
                    DummyRegressor() if task == "regression" else DummyClassifier(strategy="most_frequent")
                )
                obs = rollouts.obs.astype(np.float32)
                n_actions = int(agent.policy.action_space.n)  # type: ignore[attr-defined]
                shared[data.kind] = {
                    "majority": run(data, dummy, {}),
                    "next_action": run(
                        rows(next_action_inputs(rollouts, spatial, robot, n_actions), family="1x1")
                    ),
                    "observation": run(rows(obs)),
                }
                if spatial:
                    shared[data.kind]["observation_3x3"] = run(rows(obs, family="3x3"))
                if spatial and robot is not None:  # per-robot maps: squares around that robot
                    geometry = rows(geometry_inputs(rollouts, robot), family="1x1")
                    shared[data.kind]["geometry"] = run(geometry, LookupClassifier(), {})
            scored = dict(shared[data.kind])
            scored["random_network"] = run(rows(np.asarray(random_acts[name])))
            if control is not None:
                arbitrary = probe_data(np.asarray(acts[name]), control, rollouts.episode, features, horizons)
                scored["control_task"] = run(arbitrary)
            for key, baseline in scored.items():
                result.baselines[key] = baseline["metrics"] | {"validation": baseline["validation"]}
                point = result.score - float(baseline["metrics"][result.headline])
                result.differences[key] = paired_difference(
                    fitted["replicates"], baseline["replicates"], point
                )
        results.append(result)
    return results


def probe(
    agent: Agent,
    rollouts: Rollouts,
    hook: str,
    label: str,
    robot: Robot | None = None,
    baselines: bool = True,
    seed: int = 0,
    estimator: BaseEstimator | None = None,
    progress: bool = False,
    *,
    features: str = "1x1",
    grid: Mapping[str, Sequence[Any]] | None = None,
    class_weight: str | None = None,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    distinct: bool = True,
    n_boot: int = 1000,
) -> ProbeResult:
    """Fit a probe from ``hook``'s activations to ``label`` and score it beside its baselines.

    Args:
        agent: The agent whose activations are probed (it produced ``rollouts``).
        rollouts: Labelled steps (`collect_rollouts`).
        hook: Hook name (one tick of a recurrent layer, e.g. ``drc.layers.0.hook_c.2``).
        label: A label of `gridlab.interp.labels`; per-robot maps need ``robot``.
        robot: Robot whose map to probe: a number, ``"target"`` or ``"other"``.
        baselines: Also fit and score the baselines (module docstring).
        seed: Seed of the split, the random network, the control task and the bootstrap.
        estimator: An unfitted scikit-learn classifier (class labels) or regressor
            (``moves_remaining``), or a pipeline ending in one, cloned for the probe and for every
            baseline; None for the default standardised linear probe (`probe_estimator`).
        progress: Show a progress bar (one probe: off by default).
        features: Square feature family: ``"1x1"``, ``"3x3"`` or ``"position"``.
        grid: Parameters to choose on the validation split (default: `GRIDS` for the default
            probe, none for a given estimator).
        class_weight: ``"balanced"`` for the default probe (`probe_estimator`).
        fractions: Shares of episodes for train, validation and test.
        distinct: Keep only the first visit of each board per episode (`distinct_steps`).
        n_boot: Bootstrap replicates over test episodes.

    Returns:
        The scores, with the estimator's ``repr`` and the fitted probe.

    Raises:
        ValueError: For an unknown hook, label or feature family, a missing ``robot``, an
            estimator of the wrong kind for the label, or rollouts too small to split.
        TypeError: For an ``estimator`` that is not a scikit-learn estimator.
    """
    agent.hook_point(hook)  # one hook name (sweep patterns with probe_sweep)
    return probe_sweep(
        agent, rollouts, [hook], label, robot, baselines, seed, progress, estimator, features=features,
        grid=grid, class_weight=class_weight, fractions=fractions, distinct=distinct, n_boot=n_boot,
    )[0]  # fmt: skip


def best_probe(results: Sequence[ProbeResult]) -> ProbeResult:
    """The result with the best *validation* score: hooks are chosen without seeing the test split."""
    if not results:
        raise ValueError("no probe results to choose from")
    return max(results, key=lambda r: r.validation.get("score", -np.inf))


def linear_map(model: BaseEstimator) -> dict[str, np.ndarray]:
    """A fitted linear probe as arrays: ``mean``, ``scale`` (the standardiser; 0 and 1 without
    one), ``coef`` ``(rows, features)``, ``intercept`` ``(rows,)`` and, for classifiers, ``classes``.

    The probe predicts from ``((x - mean) / scale) @ coef.T + intercept``.

    Args:
        model: A fitted estimator with ``coef_``, alone or after one `StandardScaler` in a pipeline.

    Raises:
        ValueError: For a probe that is no such linear map (a tree, a kernel model, other pipeline
            steps), saying why.
    """
    steps = [step for _, step in model.steps] if isinstance(model, Pipeline) else [model]
    linear, before = steps[-1], steps[:-1]
    if not hasattr(linear, "coef_"):
        raise ValueError(f"{type(linear).__name__} has no coef_: the probe is not a linear map")
    if len(before) > 1 or (before and not isinstance(before[0], StandardScaler)):
        names = ", ".join(type(step).__name__ for step in before)
        raise ValueError(
            f"the pipeline transforms with {names} before its linear model, not one StandardScaler"
        )
    coef = np.atleast_2d(linear.coef_)
    features = coef.shape[1]
    scaler = before[0] if before else None
    arrays = {
        "mean": scaler.mean_ if scaler is not None and scaler.with_mean else np.zeros(features),
        "scale": scaler.scale_ if scaler is not None and scaler.with_std else np.ones(features),
        "coef": coef,
        "intercept": np.atleast_1d(linear.intercept_),
    }
    if hasattr(linear, "classes_"):
        arrays["classes"] = linear.classes_
    return arrays


def probe_direction(result: ProbeResult, class_id: int | None = None) -> np.ndarray:
    """The probe's weight vector in raw activation space (undoing its standardisation).

    For a square probe this is a ``(C,)`` vector to add at chosen cells (`steer`); for a
    global probe it is shaped like one flattened activation. ``class_id`` picks the class of a
    classifier (for two classes the single row points towards class 1).

    Raises:
        ValueError: For a result without a fitted probe, a probe that is not linear
            (`linear_map`), or a ``class_id`` that is not one of its classes.
    """
    if result.model is None:
        raise ValueError(
            "this result has no fitted probe (results loaded from disk keep weights in weights.npz)"
        )
    try:
        weights = linear_map(result.model)
    except ValueError as error:
        raise ValueError(f"probe_direction needs a linear probe: {error}") from None
    coef = weights["coef"]
    if result.task == "classification" and coef.shape[0] > 1:
        classes = list(weights["classes"])
        if class_id not in classes:
            raise ValueError(f"class_id must be one of the probe's classes {classes}, got {class_id!r}")
        row = coef[classes.index(class_id)]
    else:
        row = coef[0]
    return row / weights["scale"]


def sweep_table(results: Sequence[ProbeResult]) -> pd.DataFrame:
    """One row per hook: the headline score with its interval and collapse flag, the validation
    score (``selected`` marks `best_probe`), the headline with any optimal plan's move counted as
    right (``any_optimal``, for labels with sets), each baseline's headline score, the
    selectivity (score minus the control task's) and the split sizes."""
    chosen = best_probe(results).hook if results else None
    rows = []
    for r in results:
        low, high = r.interval
        row = {"hook": r.hook, "kind": r.kind, "metric": r.headline, "score": r.score, "low": low,
               "high": high, "collapsed": r.collapsed, "validation": r.validation.get("score"),
               "selected": r.hook == chosen}  # fmt: skip
        if "any_optimal" in r.metrics:  # the same rows, any optimal plan's move counted as right
            sets = r.metrics["any_optimal"]
            row["any_optimal"] = (sets["plan"] if r.headline == "plan_f1" else sets)["macro_f1"]
        row |= {name: base[r.headline] for name, base in r.baselines.items()}
        if "control_task" in r.differences:
            row["selectivity"] = r.differences["control_task"]["value"]
        rows.append(row | {"n_train": r.n_train, "n_val": r.n_val, "n_test": r.n_test})
    return pd.DataFrame(rows)


BASELINE_STYLES = {"majority": "k:", "next_action": "v--", "observation": "s--", "observation_3x3": "D--",
                   "geometry": "P--", "random_network": "^--", "control_task": "x:"}  # fmt: skip


def plot_sweep(results: Sequence[ProbeResult], ax: Axes | None = None) -> Axes:
    """Headline score per hook with its 95% interval, each baseline drawn beside it; a red ring
    marks a collapsed probe and a star the hook chosen on validation."""
    table = sweep_table(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(table) + 2), 3.5))
    x = np.arange(len(table))
    if len(table):
        spread = np.stack([table["score"] - table["low"], table["high"] - table["score"]])
        ax.errorbar(x, table["score"], yerr=spread, fmt="o-", color="black", capsize=2, label="probe")
        collapsed, selected = table["collapsed"].to_numpy(bool), table["selected"].to_numpy(bool)
        ax.plot(x[collapsed], table["score"][collapsed], "o", mfc="none", mec="red", ms=11, label="collapsed")
        ax.plot(x[selected], table["score"][selected], "*", color="gold", mec="black", ms=13,
                label="chosen on validation")  # fmt: skip
    for name, style in BASELINE_STYLES.items():
        if name in table:
            ax.plot(x, table[name], style, label=name.replace("_", " "), alpha=0.8)
    ax.set_xticks(x, table["hook"] if len(table) else [], rotation=70, ha="right", fontsize=7)
    headline = results[0].headline if results else "macro_f1"
    ax.set_ylabel({"plan_f1": "macro F1, beyond the next move", "macro_f1": "macro F1 (move classes)",
                   "r2": "R$^2$"}[headline])  # fmt: skip
    ax.set_title(f"probe: {results[0].label}" if results else "probe")
    ax.legend(fontsize=6)
    return ax


def plot_horizons(
    result: ProbeResult,
    baselines: Sequence[str] = ("next_action", "observation_3x3", "geometry", "random_network"),
    ax: Axes | None = None,
) -> Axes:
    """Macro F1 over the move classes by horizon (the squares left ``h`` moves ahead, and those
    never left), with 95% intervals, for a direction probe and the named baselines."""
    if "by_horizon" not in result.metrics:
        raise ValueError(
            f"{result.label} has no horizons: scores by horizon need plan_direction or agent_direction"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    for offset, (name, metrics) in enumerate(
        [("probe", result.metrics)] + [(b, result.baselines[b]) for b in baselines if b in result.baselines]
    ):
        horizons = sorted(metrics["by_horizon"])
        scores = np.array([metrics["by_horizon"][h]["macro_f1"] for h in horizons])
        low, high = np.array([metrics["by_horizon"][h]["ci"]["macro_f1"] for h in horizons]).T
        style = "o-" if name == "probe" else BASELINE_STYLES[name]
        color = "black" if name == "probe" else None
        ax.errorbar(np.array(horizons) + 0.06 * offset, scores, yerr=[scores - low, high - scores], fmt=style,
                    capsize=2, label=name.replace("_", " "), color=color)  # fmt: skip
    ax.set_xlabel("horizon: the square is left this many moves ahead")
    ax.set_ylabel("macro F1 (move classes)")
    ax.set_title(f"{result.label} from {result.hook}", fontsize=9)
    ax.legend(fontsize=7)
    return ax


def save_results(results: Sequence[ProbeResult], folder: str | os.PathLike, config: dict[str, Any]) -> Path:
    """Write ``metrics.json``, ``config.json`` and ``weights.npz``.

    ``weights.npz`` holds each linear probe ``i`` as ``i.mean``, ``i.scale``, ``i.coef``,
    ``i.intercept`` and ``i.classes`` (`linear_map`). Other probes (a tree, say) have no weights
    there: their ``metrics.json`` entry says why under ``"weights"`` (``"weights.npz"`` for saved ones).

    Args:
        results: Fitted probes (`probe`, `probe_sweep`).
        folder: Where to write; created if missing.
        config: What made them, written as ``config.json``.

    Returns:
        ``folder`` as a `Path`.

    Raises:
        ValueError: For a result without a fitted probe (one loaded from disk).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights: dict[str, np.ndarray] = {}
    metrics = []
    for index, r in enumerate(results):
        if r.model is None:
            raise ValueError(f"result {index} ({r.hook}) has no fitted probe to save")
        entry = r.to_dict()
        try:
            weights |= {f"{index}.{key}": value for key, value in linear_map(r.model).items()}
            entry["weights"] = "weights.npz"
        except ValueError as error:
            entry["weights"] = f"not saved: {error}"
        metrics.append(entry)
    arrays = cast(dict[str, Any], weights)  # numpy's stub reads **arrays as its allow_pickle keyword
    atomic_write(folder / "weights.npz", lambda f: np.savez(f, **arrays))
    atomic_write_json(folder / "metrics.json", metrics)
    atomic_write_json(folder / "config.json", config)
    return folder


def load_results(
    folder: str | os.PathLike,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, np.ndarray]]:
    """``(metrics, config, weights)`` of a folder written by `save_results`."""
    folder = Path(folder)
    if not (folder / "metrics.json").is_file():
        raise FileNotFoundError(f"no probe results at {folder} (missing metrics.json)")
    with np.load(folder / "weights.npz", allow_pickle=False) as data:
        weights = {k: data[k] for k in data.files}
    return (
        json.loads((folder / "metrics.json").read_text()),
        json.loads((folder / "config.json").read_text()),
        weights,
    )
