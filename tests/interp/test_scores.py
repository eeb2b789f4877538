"""Scores: exact per-class and per-horizon figures on hand-made cases, collapse flags, intervals
over episodes, average precision and R^2 as scikit-learn computes them, McNemar's test."""

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, balanced_accuracy_score, f1_score, r2_score

from gridlab.interp.scores import (
    average_precision,
    bootstrap_counts,
    classification_scores,
    mcnemar,
    paired_difference,
    r2_scores,
    replicate_macro_f1,
)

MOVES = np.arange(4)


def test_scores_on_a_hand_made_case() -> None:
    # Ten squares of two episodes: six never left (-1), four on a robot's path.
    y = np.array([-1, -1, -1, -1, -1, -1, 0, 0, 2, 3])
    predicted = np.array([-1, -1, -1, -1, -1, 0, 0, -1, 2, 2])
    groups = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    scores = classification_scores(y, predicted, groups, MOVES)
    # class 0: 1 hit, 2 true, 2 predicted -> F1 0.5; class 2: 1 hit, 1 true, 2 predicted -> 2/3; class 3: 0
    assert scores["per_class"][0]["f1"] == pytest.approx(0.5)
    assert scores["per_class"][2]["f1"] == pytest.approx(2 / 3)
    missed = {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 1.0, "predicted": 0.0}
    assert scores["per_class"][3] == missed
    assert 1 not in scores["per_class"]  # absent from truth and predictions: not a free perfect score
    assert scores["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert scores["macro_f1"] == pytest.approx(f1_score(y, predicted, labels=[0, 2, 3], average="macro"))
    every = f1_score(y, predicted, labels=[-1, 0, 2, 3], average="macro")
    assert scores["macro_f1_all"] == pytest.approx(every)
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, predicted))
    assert scores["accuracy"] == pytest.approx(0.7)
    assert scores["collapsed"] is False


def test_the_majority_class_everywhere_is_flagged_and_scores_zero_on_moves() -> None:
    rng = np.random.default_rng(0)
    y = np.where(rng.random(5000) < 0.97, -1, rng.integers(0, 4, 5000))
    groups = np.arange(5000) // 50
    everywhere = classification_scores(y, np.full(5000, -1), groups, MOVES)
    assert everywhere["collapsed"] is True and everywhere["macro_f1"] == 0.0
    assert everywhere["accuracy"] == pytest.approx((y == -1).mean())  # what the old headline rewarded
    assert everywhere["balanced_accuracy"] == pytest.approx(0.2)  # 1 of 5 classes recalled
    # Predicting the minority classes a tenth as often as they occur, or more, is no collapse.
    some = np.where((y >= 0) & (np.arange(5000) % 5 == 0), y, -1)
    assert classification_scores(y, some, groups, MOVES)["collapsed"] is False
    rare = np.where((y >= 0) & (np.arange(5000) % 20 == 0), y, -1)
    assert classification_scores(y, rare, groups, MOVES)["collapsed"] is True


def test_intervals_resample_episodes_and_pair_differences() -> None:
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(40), 30)
    y = rng.integers(0, 4, len(groups))
    good = np.where(rng.random(len(y)) < 0.8, y, rng.integers(0, 4, len(y)))
    worse = np.where(rng.random(len(y)) < 0.6, y, rng.integers(0, 4, len(y)))
    counts = bootstrap_counts(40, 500, seed=0)
    assert counts.shape == (500, 40) and (counts.sum(axis=1) == 40).all()
    scores = classification_scores(y, good, groups, MOVES, counts)
    low, high = scores["ci"]["macro_f1"]
    assert low < scores["macro_f1"] < high and high - low < 0.1
    a = replicate_macro_f1(y, good, groups, MOVES, counts)
    b = replicate_macro_f1(y, worse, groups, MOVES, counts)
    point = scores["macro_f1"] - classification_scores(y, worse, groups, MOVES)["macro_f1"]
    difference = paired_difference(a, b, point)
    assert difference["excludes_zero"] and 0 < difference["ci"][0] < point < difference["ci"][1]
    assert not paired_difference(a, a, 0.0)["excludes_zero"]
    # An episode that is one long run of errors widens the interval: rows are not independent.
    clumped = good.copy()
    clumped[groups < 4] = (y[groups < 4] + 1) % 4
    spread = classification_scores(y, clumped, groups, MOVES, counts)["ci"]["macro_f1"]
    assert spread[1] - spread[0] > high - low


def test_average_precision_and_r2_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(2)
    positive = rng.random(300) < 0.2
    score = np.round(positive + rng.normal(size=300), 1)  # rounded: many ties
    assert average_precision(positive, score) == pytest.approx(average_precision_score(positive, score))
    weights = rng.integers(0, 3, size=(4, 300)).astype(float)
    expected = [average_precision_score(positive, score, sample_weight=w) for w in weights]
    np.testing.assert_allclose(average_precision(positive, score, weights), expected)
    y, predicted = rng.normal(size=200), rng.normal(size=200)
    groups = np.arange(200) // 10
    scores = r2_scores(y, 0.5 * y + 0.1 * predicted, groups, bootstrap_counts(20, 300, 0))
    assert scores["r2"] == pytest.approx(r2_score(y, 0.5 * y + 0.1 * predicted))
    assert scores["ci"]["r2"][0] < scores["r2"] < scores["ci"]["r2"][1]


def test_mcnemar_on_known_counts() -> None:
    a = np.array([True] * 10 + [False] * 2 + [True] * 30 + [False] * 58)
    b = np.array([False] * 10 + [True] * 2 + [True] * 30 + [False] * 58)
    result = mcnemar(a, b)
    assert (result["only_a"], result["only_b"], result["n"]) == (10, 2, 100)
    assert result["p_value"] == pytest.approx(2 * (1 + 12 + 66) / 4096)  # exact binomial(12, 1/2) tail
    assert result["difference"] == pytest.approx(0.08)
    spread = math.sqrt(12 - 64 / 100) / 100
    assert result["ci"] == pytest.approx([0.08 - 1.96 * spread, 0.08 + 1.96 * spread])
    assert mcnemar(a, a)["p_value"] == 1.0
    big = mcnemar(np.arange(4000) % 2 == 0, np.arange(4000) % 4 == 0)  # 1,000 discordant pairs, all one way
    assert 0 <= big["p_value"] < 1e-100
    with pytest.raises(ValueError, match="two success vectors over the same boards"):
        mcnemar(a, b[:10])
