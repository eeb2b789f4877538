"""TrainConfig.precision: auto resolved by measurement and cached; a bf16 run learns like an fp32 run."""

import json
from pathlib import Path

import pytest
import torch

import gridlab
from gridlab.models.precision import precision_of
from gridlab.training import TrainConfig, train
from gridlab.training import precision as training_precision
from gridlab.training.factory import build_model, make_vec_env
from tests.conftest import quick_config


def model_for(tmp_path: Path, **overrides: object):
    config = quick_config(tmp_path, **({"precision": "auto"} | overrides))  # quick runs pin fp32
    return config, build_model(config, make_vec_env(config), None)


def test_auto_is_fp32_without_bf16_hardware(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_precision, "bf16_hardware", lambda device: False)
    monkeypatch.setattr(training_precision, "time_precisions", lambda *args: pytest.fail("timed"))
    _, model = model_for(tmp_path)
    assert precision_of(model.policy) == "fp32"


@pytest.mark.parametrize(("bf16_rate", "chosen"), [(2.0, "bf16"), (1.05, "fp32")])
def test_auto_takes_bf16_only_when_measured_faster_and_remembers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bf16_rate: float, chosen: str
) -> None:
    monkeypatch.setenv("GRIDLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(training_precision, "bf16_hardware", lambda device: True)
    monkeypatch.setattr(training_precision, "time_precisions", lambda *args: {"fp32": 1.0, "bf16": bf16_rate})
    _, model = model_for(tmp_path)
    assert precision_of(model.policy) == chosen
    cached = json.loads((tmp_path / "cache" / "precision.json").read_text())
    assert [entry["precision"] for entry in cached.values()] == [chosen]
    monkeypatch.setattr(training_precision, "time_precisions", lambda *args: pytest.fail("timed again"))
    _, again = model_for(tmp_path)  # same run, same machine: the cached choice, not a new timing
    assert precision_of(again.policy) == chosen
    _, other = model_for(tmp_path, precision="fp32")  # an explicit precision is taken as given
    assert precision_of(other.policy) == "fp32"


@pytest.mark.parametrize("policy", ["mlp", "convlstm"])
def test_timing_runs_the_runs_own_shapes(tmp_path: Path, policy: str) -> None:
    config, model = model_for(tmp_path, policy=policy, milestone="v3" if policy == "convlstm" else "v1",
                              n_steps=16, batch_size=32, n_epochs=2, precision="fp32")  # fmt: skip
    rng_before = torch.random.get_rng_state()
    rates = training_precision.time_precisions(config, model.policy, seconds=0.05)
    assert set(rates) == {"fp32", "bf16"} and all(rate > 0 for rate in rates.values())
    assert precision_of(model.policy) == "fp32"  # timed on a copy
    # Its forwards sample actions; a run that timed must train as one that read the cache did.
    assert torch.equal(torch.random.get_rng_state(), rng_before)


def test_a_bf16_run_learns_v1_and_saves_the_same_checkpoint_format(tmp_path: Path) -> None:
    settings = {"total_timesteps": 8192, "target_success": 1.0}
    runs = {p: train(quick_config(tmp_path, precision=p, run_name=p, **settings)) for p in ("fp32", "bf16")}
    for precision, run in runs.items():
        agent = gridlab.load(run.checkpoint)
        assert agent.evaluate(progress=False).success_rate == 1.0, precision
        assert agent.metadata["training"]["precision"] == precision
        assert precision_of(agent.policy) == "fp32"  # analysis computes in fp32 unless asked
    files = {p: sorted(f.name for f in run.checkpoint.iterdir()) for p, run in runs.items()}
    assert files["bf16"] == files["fp32"]
    weights = {p: gridlab.load(run.checkpoint).policy.state_dict() for p, run in runs.items()}
    dtypes = {p: {name: tensor.dtype for name, tensor in state.items()} for p, state in weights.items()}
    assert dtypes["bf16"] == dtypes["fp32"]
    assert TrainConfig.load(runs["bf16"].run_dir / "config.yaml").precision == "bf16"
