"""Linear probes from a hook's activations to a solver label, with baselines beside every score.

Two shapes of probe:

* **global**: the activation flattened, one prediction per step (``next_robot`` as a class,
  ``moves_remaining`` as a scalar, ...);
* **square**: one linear map shared by every cell, like a 1x1 convolution, from the channel
  vector at a cell to that cell's label (``plan_direction`` of a robot, ``reach_direction``...).

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
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
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
    """Scores of one probe and its baselines."""

    hook: str
    label: str
    kind: str
    task: str
    metrics: dict[str, Any]
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_train: int = 0
    n_test: int = 0
    model: Pipeline | None = field(default=None, repr=False)

    @property
    def score(self) -> float:
        """The headline number: macro F1 for classes, R^2 for scalars."""
        return float(self.metrics["macro_f1" if self.task == "classification" else "r2"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "hook": self.hook, "label": self.label, "kind": self.kind, "task": self.task,
            "score": self.score, "metrics": self.metrics, "baselines": self.baselines,
            "n_train": self.n_train, "n_test": self.n_test,
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


@threadpool_limits.wrap(limits=1, user_api="blas")  # probes are small: extra BLAS threads only contend
def fit_and_score(
    data: ProbeData, task: str, train: np.ndarray, test: np.ndarray, shuffle_seed: int | None = None
) -> tuple[Pipeline, dict[str, Any]]:
    """Fit a linear probe on the training rows and score it on the test rows.

    Args:
        shuffle_seed: When set, the training targets are permuted first (the control task).
    """
    y_train = data.y[train]
    if shuffle_seed is not None:
        y_train = np.random.default_rng(shuffle_seed).permutation(y_train)
    if task == "regression":
        model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        model.fit(data.x[train], y_train)
        return model, {"r2": float(r2_score(data.y[test], model.predict(data.x[test])))}
    if len(np.unique(y_train)) < 2:
        raise ValueError(f"the training split has a single class {np.unique(y_train)}; collect more episodes")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=200))
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
) -> list[ProbeResult]:
    """`probe` for every hook matching ``hooks`` (names or patterns), sharing the caches and splits.

    The observation and random-network baselines are computed once per hook shape; the control
    task (shuffled labels) once per hook.
    """
    targets = label_targets(rollouts, label, robot)
    task = "regression" if label in REGRESSION_LABELS else "classification"
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
        model, metrics = fit_and_score(data, task, train, test)
        result = ProbeResult(
            name,
            label,
            data.kind,
            task,
            metrics,
            n_train=int(train.sum()),
            n_test=int(test.sum()),
            model=model,
        )
        if baselines:
            if data.kind not in observation_scores:
                observation = probe_data(rollouts.obs.astype(np.float32), targets, rollouts.episode)
                observation_scores[data.kind] = fit_and_score(observation, task, train, test)[1]
            random_data = probe_data(np.asarray(random_acts[name]), targets, rollouts.episode)
            result.baselines = {
                "observation": observation_scores[data.kind],
                "random_network": fit_and_score(random_data, task, train, test)[1],
                "shuffled_labels": fit_and_score(data, task, train, test, shuffle_seed=seed)[1],
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
) -> ProbeResult:
    """Fit a linear probe from ``hook``'s activations to ``label`` and score it beside its baselines.

    Args:
        agent: The agent whose activations are probed (it produced ``rollouts``).
        rollouts: Labelled steps (`collect_rollouts`).
        hook: Hook name (one tick of a recurrent layer, e.g. ``drc.layers.0.hook_c.2``).
        label: A label of `gridlab.interp.labels`; per-robot maps need ``robot``.
        robot: Robot whose map to probe.
        baselines: Also score the observation, a random network and shuffled labels.
        test_fraction: Share of episodes held out for scoring.
        seed: Seed of the split, the random network and the shuffle.
    """
    agent.hook_point(hook)  # one hook name (sweep patterns with probe_sweep)
    return probe_sweep(agent, rollouts, [hook], label, robot, baselines, test_fraction, seed)[0]


def probe_direction(result: ProbeResult, class_id: int | None = None) -> np.ndarray:
    """The probe's weight vector in raw activation space (undoing its standardisation).

    For a square probe this is a ``(C,)`` vector to add at chosen cells (`steer`); for a
    global probe it is shaped like one flattened activation. ``class_id`` picks the class of a
    classifier (for two classes the single row points towards class 1).
    """
    if result.model is None:
        raise ValueError(
            "this result has no fitted probe (results loaded from disk keep weights in weights.npz)"
        )
    scaler, linear = result.model[0], result.model[-1]
    coef = np.atleast_2d(linear.coef_)
    if result.task == "classification" and coef.shape[0] > 1:
        classes = list(linear.classes_)
        if class_id not in classes:
            raise ValueError(f"class_id must be one of the probe's classes {classes}, got {class_id!r}")
        row = coef[classes.index(class_id)]
    else:
        row = coef[0]
    return row / scaler.scale_


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
    """Write ``metrics.json``, ``config.json`` and ``weights.npz`` (each probe's scaler and linear map)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {}
    for index, r in enumerate(results):
        scaler, linear = r.model[0], r.model[-1]
        weights[f"{index}.mean"], weights[f"{index}.scale"] = scaler.mean_, scaler.scale_
        weights[f"{index}.coef"] = np.atleast_2d(linear.coef_)
        weights[f"{index}.intercept"] = np.atleast_1d(linear.intercept_)
        if hasattr(linear, "classes_"):
            weights[f"{index}.classes"] = linear.classes_
    atomic_write(folder / "weights.npz", lambda f: np.savez(f, **weights))
    atomic_write_json(folder / "metrics.json", [r.to_dict() for r in results])
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
