"""Linear probes from a hook's activations to a solver label, with baselines beside every score.

Two shapes of probe:

* **global**: the activation flattened, one prediction per step (``next_robot`` as a class,
  ``moves_remaining`` as a scalar, ...);
* **square**: one linear map shared by every cell, like a 1x1 convolution, from the channel
  vector at a cell to that cell's label (``plan_direction`` of a robot, ``reach_direction``...).

The probe is a standardised linear model by default (logistic regression for classes, ridge
regression for scalars); ``estimator=`` swaps in any scikit-learn classifier or regressor (a
pipeline too), cloned afresh for the probe and for each baseline.

Train and test sets are split by *episode*, never by step (steps of one episode are strongly
correlated). Classes are scored with macro F1 over the classes present in the test labels or the
predictions (a class absent from both is not counted as a perfect score), per-class F1 and
accuracy; scalars with R^2. Every probe is reported beside baselines: the same probe on the raw
observation, on a randomly initialised network of the same architecture, and on shuffled
training labels (the control task; it should score near chance).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from sklearn.base import BaseEstimator, clone, is_classifier, is_regressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, r2_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from gridlab.agent import Agent
from gridlab.files import atomic_write, atomic_write_json
from gridlab.interp.activations import cache_rollouts
from gridlab.interp.rollouts import Rollouts

REGRESSION_LABELS = ("moves_remaining",)


@dataclass
class ProbeData:
    """Design matrix and targets of a probe, with the episode of every row.

    Attributes:
        x: ``(rows, features)``.
        y: ``(rows,)`` class ids or scalars.
        groups: ``(rows,)`` episode of each row (the split never separates an episode).
        kind: ``"global"`` or ``"square"``.
    """

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    kind: str


@dataclass
class ProbeResult:
    """Scores of one probe and its baselines.

    Attributes:
        estimator: ``repr`` of the (unfitted) estimator every fit used, the baselines' included,
            on one line.
        model: The fitted probe (not saved; `save_results` keeps a linear probe's weights).
    """

    hook: str
    label: str
    kind: str
    task: str
    metrics: dict[str, Any]
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_train: int = 0
    n_test: int = 0
    estimator: str = ""
    model: BaseEstimator | None = field(default=None, repr=False)

    @property
    def score(self) -> float:
        """The headline number: macro F1 for classes, R^2 for scalars."""
        return float(self.metrics["macro_f1" if self.task == "classification" else "r2"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "hook": self.hook, "label": self.label, "kind": self.kind, "task": self.task,
            "score": self.score, "metrics": self.metrics, "baselines": self.baselines,
            "n_train": self.n_train, "n_test": self.n_test, "estimator": self.estimator,
        }  # fmt: skip


def label_targets(rollouts: Rollouts, label: str, robot: int | None = None) -> np.ndarray:
    """The targets of ``label``: ``(T,)`` for global labels, ``(T, H, W)`` for spatial ones.

    Per-robot maps (``plan_direction`` ...) need ``robot``; ``next_robot`` becomes the id of the
    first robot that moves in some optimal plan; ``optimal_actions`` the first optimal action.
    """
    if label not in rollouts.labels:
        raise ValueError(f"unknown label {label!r}; available: {', '.join(rollouts.labels)}")
    values = rollouts.labels[label]
    if values.ndim == 4:  # (T, robots, H, W)
        if robot is None or not 0 <= robot < values.shape[1]:
            raise ValueError(f"label {label!r} is per robot: pass robot=0..{values.shape[1] - 1}")
        return values[:, robot].astype(np.int64)
    if label in ("next_robot", "optimal_actions"):
        return values.argmax(axis=1).astype(np.int64)
    return values.astype(np.float64 if label in REGRESSION_LABELS else np.int64)


def probe_data(activations: np.ndarray, targets: np.ndarray, episodes: np.ndarray) -> ProbeData:
    """Arrange activations ``(T, ...)`` and targets into rows: square probes when both are spatial."""
    T = len(targets)
    if targets.ndim == 3 and activations.ndim == 4 and activations.shape[2:] == targets.shape[1:]:
        channels = activations.shape[1]
        x = activations.transpose(0, 2, 3, 1).reshape(-1, channels)
        groups = np.repeat(episodes, targets.shape[1] * targets.shape[2])
        return ProbeData(x, targets.reshape(-1), groups, "square")
    if targets.ndim != 1:
        raise ValueError(
            f"a spatial label {targets.shape[1:]} needs a spatial activation (T, C, H, W) of the same "
            f"board size, got {activations.shape}"
        )
    return ProbeData(activations.reshape(T, -1), targets, episodes, "global")


def split_by_episode(groups: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean train and test masks over rows; whole episodes go to one side."""
    episodes = np.unique(groups)
    if len(episodes) < 2:
        raise ValueError("probes need at least two episodes to split train from test")
    rng = np.random.default_rng(seed)
    n_test = max(1, round(test_fraction * len(episodes)))
    test_episodes = rng.permutation(episodes)[:n_test]
    test = np.isin(groups, test_episodes)
    return ~test, test


def probe_estimator(
    task: str, estimator: BaseEstimator | None = None, label: str | None = None
) -> BaseEstimator:
    """A fresh, unfitted probe for ``task``: a clone of ``estimator``, or the default linear probe.

    Args:
        task: ``"classification"`` or ``"regression"``.
        estimator: A scikit-learn classifier (classification) or regressor (regression), or a
            pipeline ending in one; None for the default standardised logistic (``C=0.1``) or
            ridge (``alpha=1``) regression.
        label: The label's name, for the error message.

    Returns:
        An unfitted estimator that shares no state with ``estimator``.

    Raises:
        TypeError: If ``estimator`` is not a scikit-learn estimator.
        ValueError: If it is a classifier for a continuous label or a regressor for a class label.
    """
    if estimator is None:
        if task == "regression":
            return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=200))
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


@threadpool_limits.wrap(limits=1, user_api="blas")  # probes are small: extra BLAS threads only contend
def fit_and_score(
    data: ProbeData,
    task: str,
    train: np.ndarray,
    test: np.ndarray,
    shuffle_seed: int | None = None,
    estimator: BaseEstimator | None = None,
) -> tuple[BaseEstimator, dict[str, Any]]:
    """Fit a probe on the training rows and score it on the test rows.

    Args:
        data: Rows of the probe (`probe_data`).
        task: ``"classification"`` or ``"regression"``.
        train: Boolean mask of the training rows.
        test: Boolean mask of the test rows.
        shuffle_seed: When set, the training targets are permuted first (the control task).
        estimator: The probe to clone and fit (`probe_estimator`; the default linear probe when None).

    Returns:
        ``(model, metrics)``: the fitted probe, and macro F1, per-class F1, accuracy and whether
        it converged (classes) or R^2 (scalars) on the test rows.

    Raises:
        ValueError: For an estimator that does not suit ``task``, or a single training class.
    """
    model = probe_estimator(task, estimator)
    y_train = data.y[train]
    if shuffle_seed is not None:
        y_train = np.random.default_rng(shuffle_seed).permutation(y_train)
    if task == "regression":
        model.fit(data.x[train], y_train)
        return model, {"r2": float(r2_score(data.y[test], model.predict(data.x[test])))}
    if len(np.unique(y_train)) < 2:
        raise ValueError(f"the training split has a single class {np.unique(y_train)}; collect more episodes")
    with warnings.catch_warnings(record=True) as caught:  # reported in the metrics, not printed per probe
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(data.x[train], y_train)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    predicted = model.predict(data.x[test])
    present = np.union1d(data.y[test], predicted)  # classes absent from both do not score
    per_class = f1_score(data.y[test], predicted, labels=present, average=None, zero_division=0)
    return model, {
        "macro_f1": float(per_class.mean()),
        "per_class_f1": {int(c): float(f) for c, f in zip(present, per_class, strict=True)},
        "accuracy": float(accuracy_score(data.y[test], predicted)),
        "converged": converged,
    }


def probe_sweep(
    agent: Agent,
    rollouts: Rollouts,
    hooks: str | Sequence[str],
    label: str,
    robot: int | None = None,
    baselines: bool = True,
    test_fraction: float = 0.25,
    seed: int = 0,
    progress: bool = True,
    estimator: BaseEstimator | None = None,
) -> list[ProbeResult]:
    """`probe` for every hook matching ``hooks`` (names or patterns), sharing the caches and splits.

    The observation and random-network baselines are computed once per hook shape; the control
    task (shuffled labels) once per hook.

    Args:
        hooks: Hook names or shell patterns.
        progress: Show a progress bar.
        agent, rollouts, label, robot, baselines, test_fraction, seed, estimator: As for `probe`.

    Returns:
        One `ProbeResult` per hook, in the agent's hook order.

    Raises:
        ValueError, TypeError: As `probe` does, for the estimator before any activation is cached.
    """
    targets = label_targets(rollouts, label, robot)
    task = "regression" if label in REGRESSION_LABELS else "classification"
    described = " ".join(repr(probe_estimator(task, estimator, label)).split())  # checked before caching
    names = agent.resolve_hook_names(hooks)
    acts = cache_rollouts(agent, rollouts, names_filter=names, progress=False)
    random_acts = (
        cache_rollouts(agent.randomized(seed), rollouts, names_filter=names, progress=False)
        if baselines
        else {}
    )
    observation_scores: dict[str, dict[str, Any]] = {}
    results = []
    for name in tqdm(names, desc=f"probe {label}", leave=False, disable=not progress):
        data = probe_data(np.asarray(acts[name]), targets, rollouts.episode)
        train, test = split_by_episode(data.groups, test_fraction, seed)
        model, metrics = fit_and_score(data, task, train, test, estimator=estimator)
        result = ProbeResult(
            name,
            label,
            data.kind,
            task,
            metrics,
            n_train=int(train.sum()),
            n_test=int(test.sum()),
            estimator=described,
            model=model,
        )
        if baselines:
            if data.kind not in observation_scores:
                observation = probe_data(rollouts.obs.astype(np.float32), targets, rollouts.episode)
                observation_scores[data.kind] = fit_and_score(
                    observation, task, train, test, estimator=estimator
                )[1]
            random_data = probe_data(np.asarray(random_acts[name]), targets, rollouts.episode)
            result.baselines = {
                "observation": observation_scores[data.kind],
                "random_network": fit_and_score(random_data, task, train, test, estimator=estimator)[1],
                "shuffled_labels": fit_and_score(
                    data, task, train, test, shuffle_seed=seed, estimator=estimator
                )[1],
            }
        results.append(result)
    return results


def probe(
    agent: Agent,
    rollouts: Rollouts,
    hook: str,
    label: str,
    robot: int | None = None,
    baselines: bool = True,
    test_fraction: float = 0.25,
    seed: int = 0,
    estimator: BaseEstimator | None = None,
    progress: bool = False,
) -> ProbeResult:
    """Fit a probe from ``hook``'s activations to ``label`` and score it beside its baselines.

    Args:
        agent: The agent whose activations are probed (it produced ``rollouts``).
        rollouts: Labelled steps (`collect_rollouts`).
        hook: Hook name (one tick of a recurrent layer, e.g. ``drc.layers.0.hook_c.2``).
        label: A label of `gridlab.interp.labels`; per-robot maps need ``robot``.
        robot: Robot whose map to probe.
        baselines: Also score the observation, a random network and shuffled labels.
        test_fraction: Share of episodes held out for scoring.
        seed: Seed of the split, the random network and the shuffle.
        estimator: An unfitted scikit-learn classifier (class labels) or regressor
            (``moves_remaining``), or a pipeline ending in one, cloned for the probe and for every
            baseline; None for the default standardised linear probe (`probe_estimator`).
        progress: Show a progress bar (one probe: off by default).

    Returns:
        The scores, with the estimator's ``repr`` and the fitted probe.

    Raises:
        ValueError: For an unknown hook or label, a missing ``robot``, an estimator of the wrong
            kind for the label, or rollouts too small to split.
        TypeError: For an ``estimator`` that is not a scikit-learn estimator.
    """
    agent.hook_point(hook)  # one hook name (sweep patterns with probe_sweep)
    return probe_sweep(
        agent, rollouts, [hook], label, robot, baselines, test_fraction, seed, progress, estimator=estimator
    )[0]


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
    """One row per hook: score, baseline scores and sizes."""
    rows = []
    for r in results:
        key = "macro_f1" if r.task == "classification" else "r2"
        rows.append({"hook": r.hook, "kind": r.kind, "score": r.score}
                    | {name: base[key] for name, base in r.baselines.items()}
                    | {"n_train": r.n_train, "n_test": r.n_test})  # fmt: skip
    return pd.DataFrame(rows)


def plot_sweep(results: Sequence[ProbeResult], ax: Axes | None = None) -> Axes:
    """Probe score per hook, with each baseline drawn beside it."""
    table = sweep_table(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(table) + 2), 3.5))
    x = np.arange(len(table))
    ax.plot(x, table["score"], "o-", label="probe", color="black")
    for name, style in (("observation", "s--"), ("random_network", "^--"), ("shuffled_labels", "x:")):
        if name in table:
            ax.plot(x, table[name], style, label=name.replace("_", " "), alpha=0.8)
    ax.set_xticks(x, table["hook"], rotation=70, ha="right", fontsize=7)
    task = results[0].task if results else "classification"
    ax.set_ylabel("macro F1" if task == "classification" else "R$^2$")
    ax.set_title(f"probe: {results[0].label}" if results else "probe")
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
