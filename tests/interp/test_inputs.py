"""Interp entry points refuse boards and cells that do not fit the agent before any heavy work,
and take numpy arrays and torch tensors alike."""

import numpy as np
import pytest
import torch

import gridlab
from gridlab.agent import Agent
from gridlab.env import fixed_layouts_v1_four_targets
from gridlab.interp import cache_rollouts, collect_rollouts, probe, saliency
from gridlab.interp.interventions import ablate, patch, steer, steering_success
from gridlab.interp.routes import planted_routes
from gridlab.interp.saliency import LAYER_METHODS, METHODS, attribute
from gridlab.training import Run, train
from tests.conftest import quick_config

HOOK = "features_extractor.hook_relu2"  # spatial in the SmallCNN: (batch, 64, H, W)
WRONG_BOARD = r"observations of shape \(2, 7, 5, 5\) do not fit this agent"


@pytest.fixture(scope="module")
def agent_8x8(tmp_path_factory: pytest.TempPathFactory) -> Agent:
    config = quick_config(tmp_path_factory.mktemp("8x8"), milestone=None, height=8, width=8, num_robots=1,
                          max_moves=3, policy="small_cnn", total_timesteps=256, eval_freq=0)  # fmt: skip
    return gridlab.load(train(config).checkpoint)


@pytest.fixture(scope="module")
def obs_8x8(agent_8x8: Agent) -> np.ndarray:
    env = agent_8x8.make_env()
    return np.stack([env.reset(seed=seed)[0] for seed in range(2)])


@pytest.fixture(scope="module")
def obs_5x5(v1_run: Run) -> np.ndarray:
    env = gridlab.load(v1_run.checkpoint).make_env()
    return np.stack([env.reset(options={"layout_index": i})[0] for i in range(2)])


def no_heavy_work(*args: object, **kwargs: object) -> None:
    raise AssertionError("heavy work ran before the inputs were checked")


@pytest.mark.parametrize("layer", [None, HOOK])
def test_attribute_checks_the_board_before_captum_runs(agent_8x8, obs_5x5, monkeypatch, layer) -> None:
    for name in ("Saliency", "IntegratedGradients", "GradientShap", "Occlusion", "LayerGradientXActivation",
                 "LayerIntegratedGradients", "LayerGradientShap"):  # fmt: skip
        monkeypatch.setattr(saliency, name, no_heavy_work)
    for method in METHODS if layer is None else LAYER_METHODS:
        for target in ("chosen", "value", 1):
            with pytest.raises(ValueError, match=WRONG_BOARD):
                attribute(agent_8x8, obs_5x5, method=method, target=target, layer=layer, references=obs_5x5)


def test_interventions_check_the_board(agent_8x8, obs_8x8, obs_5x5, monkeypatch) -> None:
    direction = np.ones(64, dtype=np.float32)
    with pytest.raises(ValueError, match=WRONG_BOARD):
        patch(agent_8x8, obs_5x5, obs_8x8, HOOK)
    with pytest.raises(ValueError, match=WRONG_BOARD):
        patch(agent_8x8, obs_8x8, obs_5x5, HOOK)
    with pytest.raises(ValueError, match=WRONG_BOARD):
        steer(agent_8x8, obs_5x5, HOOK, direction, [(0, 0)])
    with pytest.raises(ValueError, match=WRONG_BOARD):
        steering_success(agent_8x8, obs_5x5, HOOK, direction, [(0, 0)], intended=np.zeros(2), controls=3)
    monkeypatch.setattr(agent_8x8, "run_with_cache", no_heavy_work)  # the reference set is not averaged
    with pytest.raises(ValueError, match=WRONG_BOARD):
        ablate(agent_8x8, obs_5x5, HOOK, mode="mean", reference=obs_8x8)


def test_cells_outside_the_board_are_refused_before_any_forward_pass(agent_8x8, obs_8x8, monkeypatch) -> None:
    monkeypatch.setattr(agent_8x8, "run_with_cache", no_heavy_work)
    monkeypatch.setattr(agent_8x8, "run_with_hooks", no_heavy_work)
    direction = np.ones(64, dtype=np.float32)
    calls = (
        lambda cells: patch(agent_8x8, obs_8x8, obs_8x8, HOOK, positions=cells),
        lambda cells: ablate(agent_8x8, obs_8x8, HOOK, positions=cells),
        lambda cells: steer(agent_8x8, obs_8x8, HOOK, direction, cells),
        lambda cells: steering_success(agent_8x8, obs_8x8, HOOK, direction, cells, intended=np.zeros(2)),
    )
    for call in calls:
        with pytest.raises(ValueError, match=r"cell position \(8, 0\) is outside the 8x8 board \(rows 0\.\."):
            call([(2, 3), (8, 0)])
        with pytest.raises(ValueError, match=r"cell position \(-1, 3\) is outside the 8x8 board"):
            call([(-1, 3)])  # a negative index would wrap around to the last row
        with pytest.raises(ValueError, match=r"cell position must be a \(row, col\) pair, got 5"):
            call([5])


def test_puzzles_and_rollouts_of_another_board_size_are_refused(agent_8x8, v1_run) -> None:
    layouts = fixed_layouts_v1_four_targets()
    with pytest.raises(ValueError, match="layout is 5x5 with 1 robots but this env is 8x8"):
        collect_rollouts(agent_8x8, layouts, progress=False)
    with pytest.raises(ValueError, match="layout is 5x5 with 1 robots but this env is 8x8"):
        planted_routes(agent_8x8, [(layout, 1) for layout in layouts])
    rollouts = collect_rollouts(gridlab.load(v1_run.checkpoint), layouts, progress=False)
    shape = rf"observations of shape \({len(rollouts)}, 7, 5, 5\) do not fit this agent"
    with pytest.raises(ValueError, match=shape):
        cache_rollouts(agent_8x8, rollouts, names_filter=HOOK, progress=False)
    with pytest.raises(ValueError, match=shape):
        probe(agent_8x8, rollouts, HOOK, "plan_direction", robot=0)


def test_numpy_arrays_and_torch_tensors_give_the_same_results(agent_8x8, obs_8x8) -> None:
    tensor = torch.as_tensor(obs_8x8).requires_grad_()  # even one that is part of a graph

    def seeded_attribute(obs: np.ndarray | torch.Tensor, method: str) -> np.ndarray:
        np.random.seed(0)  # gradient_shap samples with numpy's global generator
        return attribute(agent_8x8, obs, method=method, references=obs_8x8)

    for method in METHODS:
        np.testing.assert_array_equal(seeded_attribute(tensor, method), seeded_attribute(obs_8x8, method))
    np.testing.assert_array_equal(
        attribute(agent_8x8, tensor, method="saliency", layer=HOOK),
        attribute(agent_8x8, obs_8x8, method="saliency", layer=HOOK),
    )
    direction = np.random.default_rng(0).normal(size=64).astype(np.float32)
    cells = [(0, 0), (3, 4)]
    for run in (
        lambda o: patch(agent_8x8, o, o[[1, 0]], HOOK, positions=cells),
        lambda o: ablate(agent_8x8, o, HOOK, mode="mean", reference=o, positions=cells),
        lambda o: steer(agent_8x8, o, HOOK, direction, cells, strength=5.0),
    ):
        from_array, from_tensor = run(obs_8x8), run(tensor.detach())
        np.testing.assert_array_equal(from_tensor.before, from_array.before)
        np.testing.assert_array_equal(from_tensor.after, from_array.after)
        assert not np.allclose(from_array.after, from_array.before)
    intended = np.array([0, 1])
    assert steering_success(agent_8x8, tensor.detach(), HOOK, direction, cells, intended) == steering_success(
        agent_8x8, obs_8x8, HOOK, direction, cells, intended
    )


def test_channels_and_directions_that_do_not_fit_the_hook_are_refused(agent_8x8, obs_8x8) -> None:
    hook = "features_extractor.hook_relu1"  # (batch, 32, 8, 8)
    with pytest.raises(ValueError, match=r"channels \[32, -1\] do not exist: .*relu1 has channels 0..31"):
        ablate(agent_8x8, obs_8x8, hook, channels=[3, 32, -1])
    with pytest.raises(ValueError, match=r"direction has 31 values; .*hook_relu1 needs \(32,\) \(one cell's"):
        steer(agent_8x8, obs_8x8, hook, np.ones(31), positions=[(0, 0)])
    with pytest.raises(ValueError, match=r"direction has 32 values; .*needs \(32, 8, 8\) \(one example's"):
        steer(agent_8x8, obs_8x8, hook, np.ones(32), positions=None)
    assert steer(agent_8x8, obs_8x8, hook, np.ones(32), positions=[(0, 0)]).before.shape[0] == len(obs_8x8)
