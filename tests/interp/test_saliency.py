"""Saliency with captum on MLP, SmallCNN and ConvLSTM agents."""

import itertools

import numpy as np
import pytest
import torch

import gridlab
from gridlab.agent import Agent
from gridlab.cli import main
from gridlab.interp.interventions import ablate, patch
from gridlab.interp.saliency import LAYER_METHODS, METHODS, PolicyScalar, attribute, empty_board_baseline
from gridlab.training import Run, train
from tests.conftest import quick_config


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory, v1_run: Run) -> dict[str, Agent]:
    root = tmp_path_factory.mktemp("saliency")
    cnn = train(quick_config(root, policy="small_cnn", total_timesteps=256, eval_freq=0))
    drc = train(quick_config(root, policy="convlstm", total_timesteps=256, eval_freq=0, drc_hidden=8,
                             drc_encoder=8, drc_output=32, drc_ticks=2))  # fmt: skip
    return {
        name: gridlab.load(run.checkpoint)
        for name, run in (("mlp", v1_run), ("small_cnn", cnn), ("convlstm", drc))
    }


def boards(agent: Agent) -> np.ndarray:
    env = agent.make_env()
    return np.stack([env.reset(options={"layout_index": i})[0] for i in range(4)])


@pytest.mark.parametrize("kind", ["mlp", "small_cnn", "convlstm"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_maps_shaped_like_the_input(agents: dict, kind: str, method: str) -> None:
    agent = agents[kind]
    obs = boards(agent)
    maps = attribute(agent, obs, method=method, target="chosen", references=obs[::-1])
    assert maps.shape == obs.shape and np.isfinite(maps).all() and np.abs(maps).sum() > 0


def test_expected_gradients_average_over_reference_boards(agents: dict) -> None:
    agent = agents["small_cnn"]
    obs = boards(agent)
    references = obs.copy()
    references[:, :4] = 0  # the same pieces without walls: walls now differ from the baselines
    maps = attribute(agent, obs, method="expected_gradients", target="value", references=references)
    # Complete in expectation: each map sums to the value's gap to the references' mean value; 32
    # sampled baselines and interpolation points leave a sampling error of tens of percent.
    model = PolicyScalar(agent, "value")
    with torch.no_grad():
        gap = (model(torch.as_tensor(obs)) - model(torch.as_tensor(references)).mean()).numpy()
    ratio = maps.reshape(4, -1).sum(1) / gap
    assert ((ratio > 0.5) & (ratio < 2.0)).all(), ratio
    assert np.abs(maps[:, :4]).sum() > 0.1 * np.abs(maps).sum()  # the walls get credit
    differs = (obs[:, None] != references[None]).any(axis=1)  # from some baseline board
    assert not maps[~differs].any()  # inputs equal to every baseline get no credit


@pytest.mark.parametrize("kind", ["mlp", "small_cnn", "convlstm"])
def test_integrated_gradients_are_complete_and_ignore_the_walls(agents: dict, kind: str) -> None:
    agent = agents[kind]
    obs = boards(agent)
    maps = attribute(agent, obs, method="integrated_gradients", target="value")
    model = PolicyScalar(agent, "value")
    x = torch.as_tensor(obs)
    base = empty_board_baseline(x, agent.env_spec.channel_names)
    with torch.no_grad():
        gap = (model(x) - model(base)).numpy()
    np.testing.assert_allclose(maps.reshape(4, -1).sum(1), gap, rtol=0.05, atol=1e-3)  # completeness
    assert not maps[:, :4].any()  # walls equal the baseline, so they get no credit


def test_layer_attribution_and_fixed_recurrent_state(agents: dict) -> None:
    agent = agents["convlstm"]
    obs = boards(agent)
    layer = attribute(agent, obs, target=2, layer="drc.layers.0.hook_h.1")
    assert layer.shape == (4, 8, 5, 5)
    _, state = agent.act(obs[:1])  # a memory held fixed for every example
    with_memory = attribute(agent, obs, method="saliency", target="value", state=state)
    assert not np.allclose(with_memory, attribute(agent, obs, method="saliency", target="value"))


def test_bad_arguments(agents: dict) -> None:
    agent, obs = agents["mlp"], boards(agents["mlp"])
    with pytest.raises(ValueError, match="unknown saliency method 'lime'"):
        attribute(agent, obs, method="lime")
    with pytest.raises(ValueError, match=r"target must be .chosen., .value. or an action 0\.\.3"):
        attribute(agent, obs, target=7)
    with pytest.raises(ValueError, match="unknown baseline"):
        attribute(agent, obs, baseline="mean")
    with pytest.raises(ValueError, match="unknown hook"):
        attribute(agent, obs, layer="drc.hook_output")
    with pytest.raises(ValueError, match="expected_gradients needs references="):
        attribute(agent, obs, method="expected_gradients")


def test_saliency_command_draws_a_png(v1_run: Run, tmp_path, capsys) -> None:
    out = tmp_path / "map.png"
    assert (
        main(
            ["saliency", str(v1_run.checkpoint), "--method", "occlusion", "--puzzle", "2", "--out", str(out)]
        )
        == 0
    )
    assert out.stat().st_size > 5000 and "occlusion map of puzzle 2" in capsys.readouterr().out
    expected = tmp_path / "expected.png"  # baselines drawn from the run's held-out boards
    args = ["saliency", str(v1_run.checkpoint), "--method", "expected_gradients", "--out", str(expected)]
    assert main(args) == 0
    assert expected.stat().st_size > 5000


def test_integrated_gradients_credit_the_goal_for_the_chosen_move(v1_run: Run) -> None:
    agent = gridlab.load(v1_run.checkpoint)
    obs = boards(agent)
    maps = attribute(agent, obs, target="chosen")
    goal = list(agent.env_spec.channel_names).index("goal")
    for i in range(4):  # the goal cell is where the evidence for the move sits
        total = np.abs(maps[i]).sum(axis=0)
        assert np.unravel_index(total.argmax(), total.shape) == tuple(np.argwhere(obs[i, goal])[0])


@pytest.mark.parametrize(("kind", "hook"), [("mlp", "features_extractor.hook_relu1"),
                                            ("small_cnn", "features_extractor.hook_relu2"),
                                            ("convlstm", "drc.layers.0.hook_c.1")])  # fmt: skip
def test_patching_and_ablation_run_on_every_architecture(agents: dict, kind: str, hook: str) -> None:
    agent = agents[kind]
    obs = boards(agent)
    positions = None if kind == "mlp" else [(0, 2), (2, 2)]
    effect = patch(agent, obs[[0]], obs[[1]], hook, positions=positions)
    same = patch(agent, obs[[1]], obs[[1]], hook, positions=positions)
    np.testing.assert_allclose(same.after, same.before, atol=1e-6)
    assert effect.after.shape == (1, 4) and np.allclose(effect.after.sum(1), 1.0)
    ablated = ablate(agent, obs, hook, positions=positions)
    assert not np.allclose(ablated.after, ablated.before)


LAYERS = {"mlp": "features_extractor.hook_relu1", "small_cnn": "features_extractor.hook_relu2",
          "convlstm": "drc.layers.0.hook_h.1"}  # fmt: skip


@pytest.mark.parametrize("kind", ["mlp", "small_cnn", "convlstm"])
def test_every_layer_method_gives_its_own_map_shaped_like_the_activation(agents: dict, kind: str) -> None:
    agent, hook = agents[kind], LAYERS[kind]
    obs = boards(agent)
    _, cache = agent.run_with_cache(obs, names_filter=hook)
    maps = {
        method: attribute(agent, obs, method=method, layer=hook, references=obs[::-1])
        for method in LAYER_METHODS
    }
    for layer_map in maps.values():
        assert layer_map.shape == tuple(cache[hook].shape) and np.isfinite(layer_map).all()
        assert np.abs(layer_map).sum() > 0
    for first, second in itertools.combinations(LAYER_METHODS, 2):
        assert not np.allclose(maps[first], maps[second]), (first, second)


@pytest.mark.parametrize("kind", ["mlp", "small_cnn", "convlstm"])
def test_layer_saliency_is_the_gradient_of_the_target_at_the_activation(agents: dict, kind: str) -> None:
    agent, hook = agents[kind], LAYERS[kind]
    obs = boards(agent)
    kept = []

    def keep(x: torch.Tensor, _: object) -> None:
        x.retain_grad()
        kept.append(x)

    with agent.hooks(fwd_hooks=[(hook, keep)]):
        logits = agent.forward(obs).logits
    logits.gather(1, logits.argmax(1, keepdim=True)).sum().backward()
    maps = attribute(agent, obs, method="saliency", target="chosen", layer=hook)
    np.testing.assert_allclose(maps, kept[0].grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["mlp", "small_cnn", "convlstm"])
def test_layer_integrated_gradients_are_complete(agents: dict, kind: str) -> None:
    agent, hook = agents[kind], LAYERS[kind]
    obs = boards(agent)
    maps = attribute(agent, obs, method="integrated_gradients", target="value", layer=hook)
    # The path runs from the activation on the empty board to the one on each board, the rest of
    # the network (skip paths from the input included) seeing the board itself.
    base = empty_board_baseline(torch.as_tensor(obs), agent.env_spec.channel_names)
    start = agent.run_with_cache(base, names_filter=hook)[1][hook]
    from_start = agent.run_with_hooks(obs, fwd_hooks=[(hook, lambda x, _: start)]).value
    gap = (agent.forward(obs).value.detach() - from_start).numpy()
    np.testing.assert_allclose(maps.reshape(4, -1).sum(1), gap, rtol=0.05, atol=1e-3)


def test_occlusion_has_no_layer_version(agents: dict) -> None:
    agent = agents["small_cnn"]
    with pytest.raises(
        ValueError,
        match="method 'occlusion' has no layer version; with layer= use one of saliency, "
        "integrated_gradients, gradient_shap",
    ):
        attribute(agent, boards(agent), method="occlusion", layer=LAYERS["small_cnn"])


@pytest.mark.parametrize("layer", [None, LAYERS["convlstm"]])
def test_gradient_shap_gives_each_board_its_own_recurrent_state(agents: dict, layer: str | None) -> None:
    agent = agents["convlstm"]
    obs = boards(agent)
    _, state = agent.act(obs, None, np.ones(4, dtype=bool))  # one memory per board

    def shap(o: np.ndarray, s: tuple) -> np.ndarray:
        np.random.seed(0)  # captum draws baselines and path points from numpy's global generator
        torch.manual_seed(0)
        return attribute(agent, o, method="gradient_shap", target="value", state=s, layer=layer)[0]

    for i in (0, 2):  # the board whose map is compared goes first, so both calls draw the same samples
        order = np.roll(np.arange(4), -i)
        batched = shap(obs[order], tuple(s[:, order] for s in state))
        alone = shap(obs[i : i + 1], tuple(s[:, i : i + 1] for s in state))
        np.testing.assert_allclose(batched, alone, rtol=1e-5, atol=1e-7)
