"""Checkpoints: contents, atomic writes, verification, loading without pickle."""

import dataclasses
import json
import os
import pickle
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import gridlab
from gridlab import checkpoints
from gridlab.checkpoints import FORMAT_VERSION, read_checkpoint
from gridlab.training import Run, train
from tests.conftest import quick_config


def test_checkpoint_folder_holds_the_promised_files(v1_run: Run) -> None:
    folder = v1_run.checkpoint
    assert sorted(p.name for p in folder.iterdir()) == [
        "metadata.json", "optimizer.safetensors", "sb3_model.zip", "weights.safetensors",
    ]  # fmt: skip
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["config"]["milestone"] == "v1"
    assert meta["env_spec"]["observation_shape"] == [7, 5, 5]
    assert meta["env_spec"]["channel_names"][:2] == ["wall_up", "wall_down"]
    assert meta["policy_spec"] == {"algorithm": "PPO", "policy": "mlp", "kwargs": {"hidden": 64}}
    assert {"torch", "stable-baselines3", "gridlab"} <= set(meta["package_versions"])
    assert meta["training"]["num_timesteps"] > 0 and meta["training"]["history"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_agent_loads_without_unpickling_and_without_the_sb3_zip(
    v1_run: Run, tmp_path: Path, monkeypatch
) -> None:
    copy = tmp_path / "ckpt"
    shutil.copytree(v1_run.checkpoint, copy)
    (copy / "sb3_model.zip").unlink()

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading a checkpoint must not unpickle")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    agent = gridlab.load(str(copy))
    original = gridlab.load(v1_run.checkpoint)
    for (name, a), (_, b) in zip(
        agent.policy.state_dict().items(), original.policy.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, msg=name)
    obs = np.stack([agent.make_env().reset(options={"layout_index": i})[0] for i in range(4)])
    np.testing.assert_array_equal(agent.act(obs)[0], original.act(obs)[0])


def test_a_crash_while_saving_leaves_the_old_checkpoint_whole(
    v1_run: Run, tmp_path: Path, monkeypatch
) -> None:
    target = tmp_path / "ckpt"
    shutil.copytree(v1_run.checkpoint, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints, "save_file", crash)
    model = gridlab.load(str(target))
    with pytest.raises(OSError, match="disk full"):
        fake = _FakeModel(model.policy)
        checkpoints.save_checkpoint(target, fake, {}, model.env_spec, model.policy_spec, {})
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


class _FakeModel:
    """Just what save_checkpoint touches on an SB3 model."""

    def __init__(self, policy: torch.nn.Module) -> None:
        self.policy = policy
        policy.optimizer = torch.optim.Adam(policy.parameters())

    def save(self, path: Path) -> None:
        Path(path).write_bytes(b"zip")


def test_missing_corrupt_and_newer_checkpoints_are_rejected(v1_run: Run, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint folder at"):
        gridlab.load(str(tmp_path / "nothing"))
    broken = tmp_path / "broken"
    shutil.copytree(v1_run.checkpoint, broken)
    (broken / "weights.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing weights\.safetensors"):
        read_checkpoint(broken)
    shutil.copy(v1_run.checkpoint / "weights.safetensors", broken / "weights.safetensors")
    data = bytearray((broken / "weights.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (broken / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"weights\.safetensors is corrupt"):
        read_checkpoint(broken)
    meta = json.loads((v1_run.checkpoint / "metadata.json").read_text())
    (broken / "metadata.json").write_text(json.dumps(meta | {"format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ValueError, match="newer than this gridlab reads"):
        read_checkpoint(broken)
    (broken / "metadata.json").write_text("{")
    with pytest.raises(ValueError, match="corrupt"):
        read_checkpoint(broken)
    (broken / "metadata.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing metadata\.json"):
        read_checkpoint(broken)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.pop("env_spec"), "'env_spec' must be a JSON object, found missing"),
        (lambda m: m.update(training=[]), "'training' must be a JSON object, found a list"),
        (lambda m: m["env_spec"].pop("height"), "env_spec is missing the field 'height'"),
        (lambda m: m["env_spec"].update(n_actions="4"), "env_spec.n_actions must be int, got '4'"),
        (lambda m: m["policy_spec"].update(policy="gru"), "policy_spec: unknown policy 'gru'; registered"),
        (lambda m: m["policy_spec"]["kwargs"].pop("hidden"), r"takes the options \['hidden'\], got \[\]"),
    ],
)
def test_malformed_metadata_says_what_is_wrong(v1_run: Run, tmp_path: Path, edit, message: str) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(v1_run.checkpoint, broken)
    meta = json.loads((broken / "metadata.json").read_text())
    edit(meta)
    (broken / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=rf"checkpoint {broken}: metadata\.json.*{message}"):
        read_checkpoint(broken)


def test_interrupts_wait_until_a_checkpoint_is_swapped_into_place() -> None:
    # The swap renames the old folder away and the new one in: a Ctrl-C between the two would
    # leave no checkpoint at all, so signals are held back during it and delivered afterwards.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # test workers ignore SIGINT
    reached_the_end = False
    try:
        with pytest.raises(KeyboardInterrupt), checkpoints._signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            reached_the_end = True
    finally:
        signal.signal(signal.SIGINT, previous)
    assert reached_the_end


def test_drc_options_round_trip_through_a_checkpoint(tmp_path: Path) -> None:
    options = {"drc_fence": True, "drc_coords": True, "drc_strip_pool": True}
    sizes = {"drc_hidden": 8, "drc_encoder": 8, "drc_output": 32}
    config = quick_config(tmp_path, milestone="v3", policy="convlstm", total_timesteps=512, n_steps=16,
                          batch_size=32, eval_freq=0, **sizes, **options)  # fmt: skip
    run = train(config)
    agent = gridlab.load(run.checkpoint)
    assert {k: agent.metadata["policy_spec"]["kwargs"][k] for k in ("fence", "coords", "strip_pool")} == {
        "fence": True, "coords": True, "strip_pool": True,
    }  # fmt: skip
    assert "drc.layers.0.hook_strip.0" in agent.hook_names()
    assert agent.policy.drc.board_maps.shape == (3, 5, 5)
    # a checkpoint saved before the options existed opens with them off
    old = read_checkpoint(Path(__file__).parents[2] / "checkpoints" / "random8x8_convlstm").policy_spec
    assert (old.kwargs["fence"], old.kwargs["coords"], old.kwargs["strip_pool"]) == (False, False, False)


def test_a_compact_copy_plays_alike_and_refuses_to_resume(v1_run: Run, tmp_path: Path) -> None:
    compact = checkpoints.compact_checkpoint(v1_run.checkpoint, tmp_path / "compact")
    assert sorted(p.name for p in compact.iterdir()) == ["metadata.json", "weights.safetensors"]
    full = sum(f.stat().st_size for f in v1_run.checkpoint.iterdir())
    assert sum(f.stat().st_size for f in compact.iterdir()) < full / 2
    agent, original = gridlab.load(compact), gridlab.load(v1_run.checkpoint)
    assert agent.metadata["training"] == original.metadata["training"]
    result, expected = agent.evaluate(progress=False), original.evaluate(progress=False)
    assert list(result.moves) == list(expected.moves) and list(result.solved) == list(expected.solved)
    config = dataclasses.replace(agent.config, output_dir=str(tmp_path / "runs"), total_timesteps=256)
    with pytest.raises(
        ValueError, match=r"is compact \(weights only, no optimizer state\) and cannot be resumed"
    ):
        train(config, resume_from=compact)
    assert not (tmp_path / "runs").exists()  # refused before any run folder was made
    started = train(dataclasses.replace(config, init_from=str(compact), eval_freq=0))
    assert gridlab.load(started.checkpoint).metadata["training"]["init_from"]["path"] == str(compact)


def test_a_half_precision_compact_copy_holds_float16_weights_that_load_as_float32(
    v1_run: Run, tmp_path: Path
) -> None:
    half = checkpoints.compact_checkpoint(v1_run.checkpoint, tmp_path / "half", half=True)
    full = checkpoints.compact_checkpoint(v1_run.checkpoint, tmp_path / "full")
    stored = read_checkpoint(half).weights()
    assert {t.dtype for t in stored.values()} == {torch.float16}
    assert read_checkpoint(half).metadata["weights_dtype"] == "float16"
    assert (half / "weights.safetensors").stat().st_size < 0.6 * (full / "weights.safetensors").stat().st_size
    agent, original = gridlab.load(half), gridlab.load(v1_run.checkpoint)
    weights = original.policy.state_dict()
    for name, value in agent.policy.state_dict().items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, weights[name], rtol=2**-11, atol=1e-7, msg=name)
    assert list(agent.evaluate(progress=False).moves) == list(original.evaluate(progress=False).moves)
