"""Saliency sanity checks (Adebayo et al. 2018) and quantitative measures on the shipped 5x5 SmallCNN."""

from pathlib import Path

import numpy as np
import pytest
import torch

import gridlab
from gridlab.interp.labels import state_labels
from gridlab.interp.saliency import attribute
from gridlab.interp.saliency_checks import (
    deletion_insertion,
    label_randomisation,
    model_randomisation,
    path_mass,
    rank_correlation,
)

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


@pytest.fixture(scope="module")
def boards() -> tuple[gridlab.Agent, list, np.ndarray]:
    agent = gridlab.load(CHECKPOINTS / "random5x5_small_cnn")
    env = agent.make_env()
    layouts = [layout for layout, _ in agent.evaluation_puzzles(16)]
    return agent, layouts, np.stack([env.reset(options={"layout": layout})[0] for layout in layouts])


def test_rank_correlation_of_map_magnitudes() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 2, 4, 4))
    np.testing.assert_allclose(rank_correlation(a, -a), 1.0)  # magnitudes, not signs
    reversed_order = np.abs(a).sum(axis=1, keepdims=True)
    reversed_order = reversed_order.max() + 1 - reversed_order
    np.testing.assert_allclose(rank_correlation(a, reversed_order), -1.0)
    assert np.isnan(rank_correlation(a, np.zeros_like(a))).all()  # a constant map has no ranking


def test_plain_gradients_pass_model_randomisation(boards) -> None:
    agent, _, obs = boards
    check = model_randomisation(agent, obs[:10], method="saliency")
    assert list(check.table.index) == ["trained", "+ action_net", "+ mlp_extractor.policy_net.2",
                                       "+ mlp_extractor.policy_net.0", "+ features_extractor.fc",
                                       "+ features_extractor.conv3", "+ features_extractor.conv2",
                                       "+ features_extractor.conv1"]  # fmt: skip
    assert check.table.loc["trained", "rank_correlation"] == 1.0
    assert check.passed and check.table.iloc[-1]["high"] < 0.5, check.reason
    assert check.table.iloc[-1]["rank_correlation"] < check.table.iloc[1]["rank_correlation"]


def test_integrated_gradients_against_the_empty_board_fail_it(boards) -> None:
    # input - baseline is non-zero on the goal and robot squares only, for any network: the maps'
    # support is fixed by the board, and randomising the network leaves their ranking in place.
    agent, _, obs = boards
    check = model_randomisation(agent, obs[:6], method="integrated_gradients")
    assert not check.passed and check.table.iloc[-1]["low"] > 0.9
    assert "still correlate with the reference" in check.reason


def test_a_model_that_ignores_its_input_fails_with_a_reason(boards) -> None:
    agent, _, obs = boards
    blind = agent.randomized(0)
    blind.policy.load_state_dict(agent.policy.state_dict())
    with torch.no_grad():
        blind.policy.features_extractor.conv1.weight.zero_()  # every board looks the same
    check = model_randomisation(blind, obs[:4], method="saliency")
    assert not check.passed and "zero everywhere" in check.reason


def test_label_randomisation_trains_both_networks_and_compares_their_maps(boards) -> None:
    agent = boards[0]
    env = agent.make_env()
    layouts = [layout for layout, _ in agent.evaluation_puzzles(64)]
    obs = np.stack([env.reset(options={"layout": layout})[0] for layout in layouts])
    labels = np.array([state_labels(layout)["optimal_actions"].argmax() for layout in layouts])
    check = label_randomisation(agent, obs, labels, method="saliency", steps=300)
    assert list(check.table.index) == ["true labels", "permuted labels"]
    assert check.details["training_accuracy"] == {"true labels": 1.0, "permuted labels": 1.0}  # memorised
    # Gradients of the permuted-label network rank the squares differently (0.26 [0.21, 0.31]).
    assert check.passed, check.reason
    with pytest.raises(ValueError, match=r"labels must be one action per board, shape \(64,\)"):
        label_randomisation(agent, obs, labels[:3])


def test_path_mass_on_hand_made_maps(boards) -> None:
    _, layouts, obs = boards
    on_path = np.stack([state_labels(layout)["plan_path"].any(axis=0) for layout in layouts])
    only_path = np.repeat(on_path[:, None].astype(float), obs.shape[1], axis=1)
    result = path_mass(only_path, layouts)
    assert result["mass"] == 1.0 and result["boards"] == 16
    assert result["ratio"] == pytest.approx(np.mean(1 / on_path.reshape(16, -1).mean(axis=1)))
    flat = path_mass(np.ones_like(obs), layouts)  # blind to the plan: the path's share of squares
    assert flat["mass"] == pytest.approx(flat["area"]) and flat["ratio"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one map per layout"):
        path_mass(only_path[:3], layouts)


def test_deletion_and_insertion_curves(boards) -> None:
    agent, _, obs = boards
    maps = attribute(agent, obs, method="saliency")
    result = deletion_insertion(agent, obs, maps, random_orders=3)
    squares = obs.shape[2] * obs.shape[3]
    assert result["deletion"].shape == (16, squares + 1) == result["random_insertion"].shape
    with torch.no_grad():
        probs = torch.softmax(agent.forward(obs).logits, dim=1).numpy()
        blank = torch.softmax(agent.forward(np.zeros_like(obs)).logits, dim=1).numpy()
    chosen = probs.argmax(axis=1)
    np.testing.assert_allclose(result["deletion"][:, 0], probs[np.arange(16), chosen], rtol=1e-5)
    np.testing.assert_allclose(result["deletion"][:, -1], blank[np.arange(16), chosen], rtol=1e-5)
    np.testing.assert_allclose(result["insertion"][:, -1], probs[np.arange(16), chosen], rtol=1e-5)
    # The gradient's ranking removes the evidence for the move faster than random orders do.
    assert result["deletion_auc_ci"][1] < result["random_deletion_auc_ci"][0]
    assert result["insertion_auc"] > result["random_insertion_auc"]
    with pytest.raises(ValueError, match="unknown baseline 'blur'"):
        deletion_insertion(agent, obs, maps, baseline="blur")
