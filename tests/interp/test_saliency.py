"""Saliency with captum on MLP, SmallCNN and ConvLSTM agents."""

import numpy as np
import pytest
import torch

from gridlab.agent import Agent
from gridlab.cli import main
from gridlab.interp.interventions import ablate, patch
from gridlab.interp.saliency import METHODS, PolicyScalar, attribute, empty_board_baseline
from gridlab.training import Run, train
from tests.conftest import quick_config


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory, v1_run: Run) -> dict[str, Agent]:
    root = tmp_path_factory.mktemp("saliency")
    cnn = train(quick_config(root, policy="small_cnn", total_timesteps=256, eval_freq=0)).agent
    drc = train(quick_config(root, policy="convlstm", total_timesteps=256, eval_freq=0, drc_hidden=8,
                             drc_encoder=8, drc_output=32, drc_ticks=2)).agent  # fmt: skip
    return {"mlp": v1_run.agent, "small_cnn": cnn, "convlstm": drc}


def boards(agent: Agent) -> np.ndarray:
    env = agent.make_env()
    return np.stack([env.reset(options={"layout_index": i})[0] for i in range(4)])


@pytest.mark.parametrize("kind", ["mlp", "small_cnn", "convlstm"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_maps_shaped_like_the_input(agents: dict, kind: str, method: str) -> None:
    agent = agents[kind]
    obs = boards(agent)
    maps = attribute(agent, obs, method=method, target="chosen")
    assert maps.shape == obs.shape and np.isfinite(maps).all() and np.abs(maps).sum() > 0


@pytest.mark.parametrize("kind", ["mlp", "small_cnn", "convlstm"])
def test_integrated_gradients_are_complete_and_ignore_the_walls(agents: dict, kind: str) -> None:
    agent = agents[kind]
    obs = boards(agent)
    maps = attribute(agent, obs, method="integrated_gradients", target="value")
    model = PolicyScalar(agent, "value")
    x = torch.as_tensor(obs)
    base = empty_board_baseline(x, agent.metadata["env_spec"]["channel_names"])
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


def test_saliency_command_draws_a_png(v1_run: Run, tmp_path, capsys) -> None:
    out = tmp_path / "map.png"
    assert (
        main(
            ["saliency", str(v1_run.checkpoint), "--method", "occlusion", "--puzzle", "2", "--out", str(out)]
        )
        == 0
    )
    assert out.stat().st_size > 5000 and "occlusion map of puzzle 2" in capsys.readouterr().out


def test_integrated_gradients_credit_the_goal_for_the_chosen_move(v1_run: Run) -> None:
    agent = v1_run.agent
    obs = boards(agent)
    maps = attribute(agent, obs, target="chosen")
    goal = list(agent.metadata["env_spec"]["channel_names"]).index("goal")
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
