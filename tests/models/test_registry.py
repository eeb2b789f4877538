"""The model registry: one entry per policy, read by config, training, checkpoints and loading."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

import gridlab
from gridlab.models import registry
from gridlab.models.registry import MODELS, ModelEntry, PolicySpec
from gridlab.training import TrainConfig, train
from gridlab.training.factory import policy_spec
from tests.conftest import quick_config


def test_every_registered_model_builds_from_its_spec() -> None:
    for name, entry in MODELS.items():
        config = TrainConfig(policy=name, drc_hidden=4, drc_encoder=4, drc_output=16)
        spec = policy_spec(config)
        assert spec.policy == name and spec.algorithm == entry.algorithm
        assert set(spec.kwargs) == set(entry.options)
        policy = spec.build(spaces.Box(0, 1, (8, 8, 8), np.float32), spaces.Discrete(8))
        assert policy.action_space.n == 8
        assert PolicySpec.from_dict(spec.to_dict()) == spec
    assert TrainConfig(policy="auto").resolved_policy() in MODELS


def test_a_policy_spec_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="unknown policy 'transformer'; registered policies: mlp, small_cnn"):
        PolicySpec.from_dict({"policy": "transformer", "kwargs": {}})
    with pytest.raises(ValueError, match=r"policy 'mlp' takes the options \['hidden'\], got \['width'\]"):
        PolicySpec("mlp", {"width": 3})
    with pytest.raises(ValueError, match="trains with PPO, not 'RecurrentPPO'"):
        PolicySpec("mlp", {"hidden": 3}, "RecurrentPPO")
    with pytest.raises(ValueError, match=r"policy_spec\.kwargs\.hidden must be int or bool, got '64'"):
        PolicySpec.from_dict({"policy": "mlp", "kwargs": {"hidden": "64"}})


def test_a_model_added_to_the_registry_trains_and_loads(tmp_path: Path, monkeypatch) -> None:
    # One entry is all it takes: config validation, training, the checkpoint and loading follow.
    wide = dataclasses.replace(MODELS["mlp"], name="wide_mlp")
    monkeypatch.setitem(registry.MODELS, "wide_mlp", wide)
    run = train(quick_config(tmp_path, policy="wide_mlp", total_timesteps=256, mlp_hidden=96))
    agent = gridlab.load(run.checkpoint)
    assert agent.policy_spec == PolicySpec("wide_mlp", {"hidden": 96})
    assert agent.policy.features_extractor.fc1.out_features == 96
    assert isinstance(MODELS["wide_mlp"], ModelEntry)
    with pytest.raises(ValueError, match=r"policy = 'lstm' is invalid; expected one of auto, mlp"):
        TrainConfig(policy="lstm")
