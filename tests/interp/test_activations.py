"""Caching activations over a rollout set: batched, exact, in memory or streamed to disk."""

from pathlib import Path

import numpy as np
import pytest

import gridlab
from gridlab.env import BoardSpec, random_layout
from gridlab.interp import collect_rollouts
from gridlab.interp.activations import RolloutActivations, cache_rollouts, with_own_states
from gridlab.training import train
from tests.conftest import quick_config


@pytest.fixture(scope="module")
def drc_run(tmp_path_factory: pytest.TempPathFactory):
    config = quick_config(tmp_path_factory.mktemp("drc"), milestone=None, height=5, width=5, num_robots=2,
                          max_moves=4, policy="convlstm", total_timesteps=256, eval_freq=0, drc_hidden=8,
                          drc_encoder=8, drc_output=32, drc_ticks=2, max_steps=6)  # fmt: skip
    agent = gridlab.load(train(config).checkpoint)
    rng = np.random.default_rng(0)
    puzzles = [random_layout(BoardSpec(5, 5, 2), rng, 1, 4)[0] for _ in range(6)]
    return agent, collect_rollouts(agent, puzzles, progress=False)


def test_batched_cache_equals_step_by_step_forward_for_a_recurrent_agent(drc_run, tmp_path: Path) -> None:
    agent, rollouts = drc_run
    assert len(rollouts) > 10 and rollouts.step.max() > 0  # states carried across steps
    cached = cache_rollouts(agent, rollouts, names_filter="drc.*", batch_size=4, progress=False)
    assert set(cached) == {n for n in agent.hook_names() if n.startswith("drc.")}
    for i in [0, 1, len(rollouts) // 2, len(rollouts) - 1]:
        state = (rollouts.state_h[i], rollouts.state_c[i])
        _, cache = agent.run_with_cache(rollouts.obs[i][None], state=state, names_filter="drc.*")
        for name, value in cache.items():
            np.testing.assert_allclose(cached[name][i], value[0].numpy(), atol=1e-5, err_msg=name)
    whole = cache_rollouts(agent, rollouts, names_filter="drc.*", batch_size=1000, progress=False)
    for name in cached:
        np.testing.assert_allclose(whole[name], cached[name], atol=1e-5)


def test_streamed_cache_reloads_lazily_and_matches_memory(drc_run, tmp_path: Path) -> None:
    agent, rollouts = drc_run
    names = ["features_extractor.hook_relu2", "drc.layers.0.hook_h.1"]
    memory = cache_rollouts(agent, rollouts, names_filter=names, progress=False)
    disk = cache_rollouts(
        agent, rollouts, names_filter=names, batch_size=5, out=tmp_path / "acts", progress=False
    )
    reopened = RolloutActivations.load(tmp_path / "acts")
    assert list(reopened) == names and reopened.folder == tmp_path / "acts"
    for name in names:
        assert isinstance(reopened[name], np.memmap) and reopened[name].shape == (len(rollouts), 8, 5, 5)
        np.testing.assert_allclose(reopened[name], memory[name], atol=1e-6)
        np.testing.assert_allclose(disk[name], memory[name], atol=1e-6)
    with pytest.raises(KeyError, match=r"no activation 'x'; cached: features_extractor\.hook_relu2"):
        reopened["x"]
    with pytest.raises(FileNotFoundError, match="no cached activations at"):
        RolloutActivations.load(tmp_path / "nothing")


def test_a_cache_too_big_for_memory_streams_to_a_temporary_folder(drc_run) -> None:
    agent, rollouts = drc_run
    cached = cache_rollouts(
        agent, rollouts, names_filter="drc.hook_output", max_memory_bytes=1000, progress=False
    )
    assert cached.folder is not None and cached.folder.name.startswith("gridlab-activations-")
    assert isinstance(cached["drc.hook_output"], np.memmap)
    memory = cache_rollouts(agent, rollouts, names_filter="drc.hook_output", progress=False)
    assert memory.folder is None
    np.testing.assert_allclose(cached["drc.hook_output"], memory["drc.hook_output"], atol=1e-6)


def test_a_network_replayed_over_the_rollouts_holds_its_own_states(drc_run) -> None:
    agent, rollouts = drc_run
    replayed = with_own_states(agent, rollouts)  # the agent that played: its recorded states, exactly
    np.testing.assert_allclose(replayed.state_h, rollouts.state_h, atol=1e-6)
    np.testing.assert_allclose(replayed.state_c, rollouts.state_c, atol=1e-6)
    random = agent.randomized(seed=3)
    own = with_own_states(random, rollouts)
    assert own.state_h.shape == rollouts.state_h.shape
    starts = rollouts.step == 0
    assert not own.state_h[starts].any()  # every episode starts from zeros
    assert np.abs(own.state_h[~starts] - rollouts.state_h[~starts]).mean() > 1e-3  # not the agent's memory
    # Step by step, the random network fed the episode's observations reaches the same states.
    first = np.flatnonzero(starts)[1]
    state = random.initial_state()
    for i in range(first, first + 3):
        np.testing.assert_allclose(own.state_h[i], state[0].transpose(1, 0, 2), atol=1e-6)
        output = random.forward(rollouts.obs[i][None], state, np.array([i == first]))
        state = tuple(s.detach().numpy() for s in output.state)
