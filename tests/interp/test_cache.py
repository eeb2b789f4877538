"""Agent-level activation caching and hooks, for feed-forward and recurrent agents."""

import numpy as np
import pytest
import torch

import gridlab
from gridlab.agent import Agent
from gridlab.models.hooks import hook_points
from gridlab.training import Run, train
from tests.conftest import quick_config


@pytest.fixture(scope="module")
def drc_agent(tmp_path_factory: pytest.TempPathFactory) -> Agent:
    config = quick_config(tmp_path_factory.mktemp("drc"), policy="convlstm", total_timesteps=256, eval_freq=0,
                          drc_hidden=8, drc_encoder=8, drc_output=32, drc_layers=2, drc_ticks=2)  # fmt: skip
    return gridlab.load(train(config).checkpoint)


def v1_obs(agent: Agent) -> np.ndarray:
    env = agent.make_env()
    return np.stack([env.reset(options={"layout_index": i})[0] for i in range(4)])


def test_cache_matches_a_plain_forward_pass(v1_run: Run) -> None:
    agent = gridlab.load(v1_run.checkpoint)
    obs = v1_obs(agent)
    out, cache = agent.run_with_cache(obs)
    plain = agent.forward(obs)
    torch.testing.assert_close(out.logits, plain.logits)
    assert list(cache) == agent.hook_names() == [
        "features_extractor.hook_fc1", "features_extractor.hook_relu1",
        "features_extractor.hook_fc2", "features_extractor.hook_relu2",
    ]  # fmt: skip
    extractor = agent.policy.features_extractor
    torch.testing.assert_close(cache["features_extractor.hook_relu2"], extractor(torch.as_tensor(obs)))
    # Greedy actions from the logits are the ones act() takes.
    np.testing.assert_array_equal(out.logits.argmax(1).numpy(), agent.act(obs)[0])
    with pytest.raises(KeyError, match="no activation 'hook_x' in the cache; it holds: features_extractor"):
        cache["hook_x"]


def test_hooks_change_the_output_and_never_leak(v1_run: Run) -> None:
    agent = gridlab.load(v1_run.checkpoint)
    obs = v1_obs(agent)
    clean = agent.forward(obs).logits
    zeroed = agent.run_with_hooks(
        obs, fwd_hooks=[("features_extractor.hook_relu2", lambda x, hook: torch.zeros_like(x))]
    )
    assert not torch.allclose(clean, zeroed.logits)
    torch.testing.assert_close(zeroed.logits[0], zeroed.logits[1])  # no input information left
    with pytest.raises(RuntimeError, match="boom"):
        agent.run_with_hooks(
            obs, fwd_hooks=[("*", lambda x, hook: (_ for _ in ()).throw(RuntimeError("boom")))]
        )
    assert all(not p._forward_hooks for p in hook_points(agent.policy).values())
    torch.testing.assert_close(agent.forward(obs).logits, clean)
    with agent.hooks(fwd_hooks=[("features_extractor.hook_relu1", lambda x, hook: x * 0)]):
        inside = agent.act(obs)[0]
    assert len(set(inside.tolist())) == 1  # every board looks the same to the ablated agent
    with pytest.raises(ValueError, match=r"unknown hook 'drc\.hook_output'"):
        agent.run_with_cache(obs, names_filter="drc.hook_output")


def test_recurrent_cache_has_every_layer_and_tick_and_matches_act(drc_agent: Agent) -> None:
    obs = v1_obs(drc_agent)
    out, cache = drc_agent.run_with_cache(obs, episode_start=np.ones(4, bool))
    assert cache.stack("drc.layers.1.hook_h.*").shape == (2, 4, 8, 5, 5)  # (ticks, batch, hidden, H, W)
    h_top = cache["drc.layers.1.hook_h.1"].flatten(1)
    torch.testing.assert_close(out.state[0][1], h_top)  # the new state is the last tick's
    actions, state = drc_agent.act(obs, None, np.ones(4, bool))
    np.testing.assert_array_equal(out.logits.argmax(1).numpy(), actions)
    np.testing.assert_allclose(state[0], out.state[0].numpy(), atol=1e-6)
    # Carrying the state into the next step gives the same as act() does.
    nxt, _ = drc_agent.run_with_cache(obs, state=out.state, episode_start=np.zeros(4, bool))
    actions2, _ = drc_agent.act(obs, state, np.zeros(4, bool))
    np.testing.assert_array_equal(nxt.logits.argmax(1).numpy(), actions2)


def test_zeroing_the_recurrent_state_hooks_changes_the_policy(drc_agent: Agent) -> None:
    obs = v1_obs(drc_agent)
    clean = drc_agent.forward(obs)
    zero = [("drc.layers.*.hook_h.*", lambda x, hook: torch.zeros_like(x))]
    ablated = drc_agent.run_with_hooks(obs, fwd_hooks=zero)
    assert not torch.allclose(clean.logits, ablated.logits)
    assert not ablated.state[0].any()


def test_interventions_take_exactly_one_hook_name(v1_run: Run) -> None:
    agent = gridlab.load(v1_run.checkpoint)
    assert agent.hook_point("features_extractor.hook_fc1").name == "features_extractor.hook_fc1"
    with pytest.raises(
        ValueError, match=r"expected one hook name, got 'features_extractor\.hook_\*' matching 4"
    ):
        agent.hook_point("features_extractor.hook_*")
    with pytest.raises(ValueError, match="unknown hook"):
        agent.hook_point("nope")
    with pytest.raises(ValueError, match="feed-forward"):
        agent.initial_state()
