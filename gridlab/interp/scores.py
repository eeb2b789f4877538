"""Scores that cannot hide a collapse, with confidence intervals by bootstrap over episodes.

A probe's test rows come from whole episodes, and rows of one episode are correlated, so every
interval here resamples *episodes* (with replacement), never rows. Classification scores are
functions of a confusion matrix, so the bootstrap sums per-episode confusion matrices with
multinomial episode counts: exact, and fast enough for thousands of replicates.

`classification_scores(y, predicted, groups, move_classes)` returns, on the rows given:

=========================  =========================================================================
``macro_f1``               mean F1 over the *move classes* present in the truth or the predictions
                           (for square labels every class but -1, "no move from this square": a
                           probe that predicts -1 everywhere scores 0, not the majority's F1)
``macro_f1_all``           mean F1 over every class present, the majority class included
``balanced_accuracy``      mean recall over the classes present in the truth
``accuracy``               share of rows right
``per_class``              ``{class: {"f1", "precision", "recall", "support", "predicted"}}``
``collapsed``              True when the probe predicts every class but its most predicted one on
                           fewer than a tenth as many rows as truly belong to them (it says "the
                           majority class" nearly everywhere); shown wherever the score is
``ci``                     ``{score: [low, high]}``, 95% percentile intervals over episodes
=========================  =========================================================================

`paired_difference` gives a score's difference to a baseline's on the same rows with the same
resampled episodes; `mcnemar` compares two agents (or settings) on the same boards; `wilson` is
the interval of one success rate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NO_MOVE = -1  # square labels: the robot never leaves this square
LEVEL = 0.95
COLLAPSE_RATIO = 0.1


def episode_confusions(
    y: np.ndarray, predicted: np.ndarray, groups: np.ndarray, classes: np.ndarray, n_groups: int
) -> np.ndarray:
    """Confusion counts per episode.

    Args:
        y, predicted: ``(rows,)`` true and predicted class ids, each one of ``classes``.
        groups: ``(rows,)`` episode index of each row, ``0 .. n_groups - 1``.
        classes: ``(K,)`` sorted class ids.
        n_groups: Number of episodes (some may have no rows here).

    Returns:
        ``(n_groups, K, K)`` counts, rows the truth and columns the prediction.
    """
    k = len(classes)
    truth, guess = np.searchsorted(classes, y), np.searchsorted(classes, predicted)
    flat = (groups * k + truth) * k + guess
    return np.bincount(flat, minlength=n_groups * k * k).reshape(n_groups, k, k).astype(np.float64)


def confusion_scores(confusion: np.ndarray, move: np.ndarray) -> dict[str, np.ndarray]:
    """Scores of confusion matrices ``(..., K, K)``; ``move`` ``(K,)`` marks the move classes.

    Returns arrays over the leading axes: ``macro_f1``, ``macro_f1_all``, ``balanced_accuracy``,
    ``accuracy``, and per class ``f1``, ``precision``, ``recall``, ``support``, ``predicted``
    (``(..., K)``).
    """
    hits = np.diagonal(confusion, axis1=-2, axis2=-1)
    support, predicted = confusion.sum(axis=-1), confusion.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(support > 0, hits / support, 0.0)
        f1 = np.where(support + predicted > 0, 2 * hits / (support + predicted), 0.0)
    present = (support + predicted) > 0  # a class absent from truth and predictions does not score
    counted = present & move

    def mean_over(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        n = mask.sum(axis=-1)
        return np.where(n > 0, (values * mask).sum(axis=-1) / np.maximum(n, 1), np.nan)

    total = support.sum(axis=-1)
    return {
        "macro_f1": mean_over(counted, f1),
        "macro_f1_all": mean_over(present, f1),
        "balanced_accuracy": mean_over(support > 0, recall),
        "accuracy": hits.sum(axis=-1) / np.maximum(total, 1),
        "f1": f1, "precision": precision, "recall": recall, "support": support, "predicted": predicted,
    }  # fmt: skip


def is_collapsed(confusion: np.ndarray) -> bool:
    """Does a ``(K, K)`` confusion predict nearly nothing but its most predicted class?"""
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    top = int(predicted.argmax())
    others_true, others_predicted = support.sum() - support[top], predicted.sum() - predicted[top]
    return bool(others_true > 0 and others_predicted < COLLAPSE_RATIO * others_true)


def bootstrap_counts(n_groups: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n_groups)`` multinomial counts: how often each episode is drawn per replicate."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot).astype(np.float64)


def interval(samples: np.ndarray, level: float = LEVEL) -> list[float]:
    """The percentile interval ``[low, high]`` of bootstrap samples (NaN replicates ignored)."""
    tail = 100 * (1 - level) / 2
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0:
        return [math.nan, math.nan]
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [float(low), float(high)]


def classification_scores(
    y: np.ndarray,
    predicted: np.ndarray,
    groups: np.ndarray,
    move_classes: np.ndarray,
    counts: np.ndarray | None = None,
) -> dict[str, Any]:
    """Scores of predictions with 95% intervals over episodes (see the module docstring).

    Args:
        y, predicted: ``(rows,)`` class ids.
        groups: ``(rows,)`` episode index of each row, ``0 .. E - 1``.
        move_classes: The classes ``macro_f1`` averages over (all, for labels without a
            majority "no move" class).
        counts: ``(B, E)`` bootstrap counts of the episodes (`bootstrap_counts`); none: no intervals.
    """
    classes = np.union1d(np.union1d(y, predicted), move_classes)
    move = np.isin(classes, move_classes)
    per_episode = episode_confusions(y, predicted, groups, classes, _n_groups(groups, counts))
    confusion = per_episode.sum(axis=0)
    point = confusion_scores(confusion, move)
    result: dict[str, Any] = {name: float(point[name]) for name in
                              ("macro_f1", "macro_f1_all", "balanced_accuracy", "accuracy")}  # fmt: skip
    result["per_class"] = {
        int(c): {key: float(point[key][i]) for key in ("f1", "precision", "recall", "support", "predicted")}
        for i, c in enumerate(classes)
        if point["support"][i] + point["predicted"][i] > 0
    }
    result["collapsed"] = is_collapsed(confusion)
    if counts is not None:
        replicates = confusion_scores(np.einsum("be,ekl->bkl", counts, per_episode), move)
        result["ci"] = {name: interval(replicates[name]) for name in
                        ("macro_f1", "macro_f1_all", "balanced_accuracy", "accuracy")}  # fmt: skip
    return result


def replicate_macro_f1(
    y: np.ndarray, predicted: np.ndarray, groups: np.ndarray, move_classes: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """``(B,)`` bootstrap replicates of ``macro_f1`` (for paired differences)."""
    classes = np.union1d(np.union1d(y, predicted), move_classes)
    per_episode = episode_confusions(y, predicted, groups, classes, counts.shape[1])
    replicated = np.einsum("be,ekl->bkl", counts, per_episode)
    return confusion_scores(replicated, np.isin(classes, move_classes))["macro_f1"]


def r2_scores(
    y: np.ndarray, predicted: np.ndarray, groups: np.ndarray, counts: np.ndarray | None = None
) -> dict[str, Any]:
    """R^2 with its 95% interval over episodes (from per-episode sums, like the confusions)."""
    sums = _r2_sums(y, predicted, groups, _n_groups(groups, counts))
    result: dict[str, Any] = {"r2": float(_r2(sums.sum(axis=0)))}
    if counts is not None:
        result["ci"] = {"r2": interval(_r2(counts @ sums))}
    return result


def replicate_r2(y: np.ndarray, predicted: np.ndarray, groups: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``(B,)`` bootstrap replicates of R^2."""
    return _r2(counts @ _r2_sums(y, predicted, groups, counts.shape[1]))


def _n_groups(groups: np.ndarray, counts: np.ndarray | None) -> int:
    return counts.shape[1] if counts is not None else int(groups.max(initial=-1)) + 1


def _r2_sums(y: np.ndarray, predicted: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """``(E, 4)`` per-episode n, sum y, sum y^2 and sum of squared residuals."""
    columns = (np.ones_like(y), y, y * y, (y - predicted) ** 2)
    return np.stack(
        [np.bincount(groups, weights=c.astype(np.float64), minlength=n_groups) for c in columns], axis=1
    )


def _r2(sums: np.ndarray) -> np.ndarray:
    n, total, squares, residual = np.moveaxis(sums, -1, 0)
    spread = squares - total * total / np.maximum(n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(spread > 0, 1 - residual / spread, np.nan)


def average_precision(
    positive: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Average precision of ``score`` for the boolean ``positive`` rows, as scikit-learn defines it
    (sum over thresholds of precision times the recall gained), with optional row weights.

    Args:
        positive: ``(rows,)`` bool.
        score: ``(rows,)`` higher means more likely positive.
        weights: ``(B, rows)`` row weights (bootstrap counts); none: every row once.

    Returns:
        ``()`` or ``(B,)``; NaN where there is no positive weight.
    """
    order = np.argsort(-score, kind="stable")
    w = np.ones((1, len(score))) if weights is None else np.atleast_2d(weights)
    w = w[:, order]
    pos = w * positive[order]
    true_pos, seen = np.cumsum(pos, axis=1), np.cumsum(w, axis=1)
    # thresholds are the distinct scores: keep the last row of every run of ties
    sorted_score = score[order]
    last = np.append(sorted_score[1:] != sorted_score[:-1], True)
    true_pos, seen = true_pos[:, last], seen[:, last]
    total = true_pos[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(seen > 0, true_pos / seen, 0.0)
        gained = np.diff(np.concatenate([np.zeros_like(total), true_pos], axis=1), axis=1) / total
        ap = (precision * gained).sum(axis=1)
    ap = np.where(total[:, 0] > 0, ap, np.nan)
    return ap[0] if weights is None else ap


def paired_difference(replicates_a: np.ndarray, replicates_b: np.ndarray, point: float) -> dict[str, Any]:
    """``{"value", "ci", "excludes_zero"}`` of score a minus score b over the same replicates."""
    ci = interval(replicates_a - replicates_b)
    return {"value": point, "ci": ci, "excludes_zero": bool(ci[0] > 0 or ci[1] < 0)}


def mcnemar(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """McNemar's exact test of two paired success vectors (the same boards, two agents or settings).

    Returns:
        ``{"n", "a", "b", "only_a", "only_b", "difference", "ci", "p_value"}``: success rates,
        the discordant counts, ``a - b`` with its 95% Wald interval for paired proportions, and the
        exact two-sided binomial p-value on the discordant pairs.
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(
            f"mcnemar needs two success vectors over the same boards, got {a.shape} and {b.shape}"
        )
    n = len(a)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    discordant = only_a + only_b
    difference = (only_a - only_b) / n
    spread = math.sqrt(max(discordant - (only_a - only_b) ** 2 / n, 0.0)) / n
    log_half = discordant * math.log(2.0)  # exact binomial(discordant, 1/2) tail, in logs for large counts
    tail = sum(math.exp(_log_comb(discordant, k) - log_half) for k in range(min(only_a, only_b) + 1))
    return {
        "n": n, "a": float(a.mean()), "b": float(b.mean()), "only_a": only_a, "only_b": only_b,
        "difference": difference, "ci": [difference - 1.96 * spread, difference + 1.96 * spread],
        "p_value": min(1.0, 2 * tail) if discordant else 1.0,
    }  # fmt: skip


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate (``successes`` of ``n`` independent boards)."""
    if n <= 0:
        raise ValueError(f"a success rate needs at least one board, got n={n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)
