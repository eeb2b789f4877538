"""`Agent`: checkpoints that open anywhere, and inputs checked against the agent."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import gridlab
from gridlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL_CNN_8X8 = ROOT / "checkpoints" / "random8x8_small_cnn_kickstart"
DRC_5X5 = ROOT / "checkpoints" / "random5x5_convlstm"


@pytest.mark.parametrize("where", ["tmp", "notebooks"])
def test_a_shipped_bank_agent_evaluates_from_any_directory(where: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path if where == "tmp" else ROOT / "notebooks")
    monkeypatch.delenv("GRIDLAB_BANKS", raising=False)
    agent = gridlab.load(SMALL_CNN_8X8)
    assert agent.env_spec.bank is not None and agent.bank.digest == agent.env_spec.bank.digest
    result = agent.evaluate(episodes=2, per_length=True, progress=False)
    assert list(result.optimal) == [n for n in range(1, 9) for _ in range(2)]
    # the report's first puzzles, replayed: the same outcomes as in the repository root
    report = json.loads((SMALL_CNN_8X8 / "evaluation.json").read_text())["per_episode"]
    first_two = [i for n in range(8) for i in (100 * n, 100 * n + 1)]
    assert result.solved.tolist() == [report["solved"][i] for i in first_two]
    assert agent.spatial_hook_names()[0] == "features_extractor.hook_conv1"
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(SMALL_CNN_8X8), "--episodes", "1", "--per-length", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["episodes"] == 8


def test_a_missing_bank_is_reported_with_where_it_was_looked_for(tmp_path: Path, monkeypatch) -> None:
    copy = tmp_path / "agent"
    shutil.copytree(SMALL_CNN_8X8, copy)
    metadata = json.loads((copy / "metadata.json").read_text())
    metadata["env_spec"]["bank"]["path"] = metadata["config"]["bank"] = "banks/gone"
    (copy / "metadata.json").write_text(json.dumps(metadata))
    monkeypatch.chdir(tmp_path)
    agent = gridlab.load(copy)  # opening it needs no bank
    with pytest.raises(FileNotFoundError, match=r"no puzzle bank 'banks/gone'(.|\n)*GRIDLAB_BANKS"):
        agent.evaluate(episodes=1)


def test_observations_of_another_board_are_refused() -> None:
    agent = gridlab.load(SMALL_CNN_8X8)
    five = np.zeros((3, 8, 5, 5), np.float32)
    expected = r"observations of shape \(3, 8, 5, 5\) do not fit this agent: it expects \(batch, 8, 8, 8\)"
    for call in (agent.forward, agent.act, agent.run_with_cache, agent.run_with_hooks):
        with pytest.raises(ValueError, match=expected):
            call(five)
    with pytest.raises(ValueError, match=r"add a batch axis with obs\[None\]"):
        agent.forward(np.zeros((8, 8, 8), np.float32))
    with pytest.raises(TypeError, match="numpy array or a torch tensor, got list"):
        agent.forward([[0.0]])
    with pytest.raises(ValueError, match="feed-forward: it has no recurrent state"):
        agent.forward(np.zeros((1, 8, 8, 8), np.float32), state=(np.zeros(1), np.zeros(1)))
    # numpy and torch alike, at every level
    obs = np.zeros((2, 8, 8, 8), np.float32)
    torch.testing.assert_close(agent.forward(obs).logits, agent.forward(torch.as_tensor(obs)).logits)
    extractor = agent.policy.features_extractor
    out, cache = extractor.run_with_cache(obs)
    torch.testing.assert_close(out, extractor(torch.as_tensor(obs)))
    assert cache["hook_relu1"].shape == (2, 32, 8, 8)
    with pytest.raises(ValueError, match=r"SmallCNN expects observations shaped \(batch, 8, 8, 8\)"):
        extractor.run_with_hooks(five)


def test_a_recurrent_state_must_match_the_batch() -> None:
    agent = gridlab.load(DRC_5X5)
    obs = np.zeros((3, *agent.env_spec.observation_shape), np.float32)
    h, c = agent.initial_state(2)
    with pytest.raises(ValueError, match=r"state h has shape \(2, 2, \d+\); expected \(2, 3, \d+\)"):
        agent.forward(obs, state=(h, c))
    with pytest.raises(ValueError, match=r"episode_start must have shape \(3,\)"):
        agent.act(obs, episode_start=np.ones(2, bool))
    actions, state = agent.act(obs, state=agent.initial_state(3), episode_start=np.ones(3, bool))
    assert actions.shape == (3,) and state[0].shape == (h.shape[0], 3, h.shape[2])
