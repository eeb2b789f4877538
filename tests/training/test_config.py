"""TrainConfig: the seed's defaults, round trips, validation, and one CLI option per field."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from gridlab.cli import build_parser
from gridlab.training import TrainConfig
from gridlab.training.factory import make_vec_env


def test_defaults_follow_the_seed() -> None:
    config = TrainConfig()
    assert (config.learning_rate, config.ent_coef, config.n_steps, config.batch_size, config.n_envs) == (
        3e-4, 0.01, 128, 256, 8,
    )  # fmt: skip


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trips_through_files(tmp_path: Path, suffix: str) -> None:
    config = TrainConfig(
        milestone="v2", policy="mlp", learning_rate=1e-3, target_success=0.9, extra={"note": "x"}
    )
    config.save(tmp_path / f"c{suffix}")
    assert TrainConfig.load(tmp_path / f"c{suffix}") == config


def test_auto_policy_follows_the_seed_rule_and_names_the_run() -> None:
    assert TrainConfig(milestone="v1").resolved_policy() == "mlp"
    assert TrainConfig(height=8, width=8).resolved_policy() == "small_cnn"
    assert TrainConfig(obs_mode="symbolic").resolved_policy() == "mlp"
    assert TrainConfig(milestone="v4", policy="convlstm", seed=3).name() == "convlstm-v4-seed3"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"milestone": "v9"}, "milestone = 'v9' is invalid; expected one of v0, v1"),
        ({"height": 3}, "height = 3 is invalid"),
        ({"min_moves": 5, "max_moves": 2}, "min_moves/max_moves"),
        ({"policy": "transformer"}, "policy = 'transformer' is invalid; expected one of auto, mlp"),
        ({"n_envs": 0}, "n_envs = 0 is invalid; expected a positive integer"),
        ({"gamma": 1.5}, "gamma = 1.5 is invalid"),
        ({"curriculum": True}, "curriculum = True is invalid; expected only with a puzzle bank"),
        ({"policy": "convlstm", "obs_mode": "symbolic"}, "'image' for the convlstm policy"),
        ({"target_success": 0.0}, "target_success"),
        ({"eval_freq": -1}, "eval_freq"),
    ],
)
def test_invalid_values_raise_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_unknown_fields_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['lr'\]; valid fields: "):
        TrainConfig.from_dict({"lr": 0.1})
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        TrainConfig.load(tmp_path / "list.yaml")
    with pytest.raises(FileNotFoundError, match="no config file"):
        TrainConfig.load(tmp_path / "missing.yaml")


def test_every_field_has_help_and_a_cli_option(tmp_path: Path) -> None:
    helps = TrainConfig.field_help()
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(helps) == names and all(helps.values())
    config_file = tmp_path / "c.yaml"
    TrainConfig(milestone="v1", seed=4).save(config_file)
    argv = ["train", "--config", str(config_file), "--learning-rate", "0.001", "--no-tensorboard"]
    args = build_parser().parse_args([*argv, "--target-success", "none", "--n-envs", "4"])
    options = {a.dest for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions}
    assert names - {"extra"} <= options and len(options) > 40
    assert (args.learning_rate, args.tensorboard, args.target_success, args.n_envs) == (0.001, False, None, 4)
    assert not hasattr(args, "seed")  # unset options keep the file's value


WHOLE_NUMBER = "a whole number, such as 1000000, 1e6 or 1_000_000"


def test_train_config_reads_whole_numbers_written_as_floats_or_strings() -> None:
    assert TrainConfig(total_timesteps=1e6).total_timesteps == 1_000_000
    assert TrainConfig(total_timesteps="1e6").total_timesteps == 1_000_000
    assert TrainConfig(total_timesteps="1_000_000", learning_rate="3e-4").to_dict() == (
        TrainConfig(total_timesteps=1_000_000, learning_rate=3e-4).to_dict()
    )
    assert type(TrainConfig(n_steps=64.0).n_steps) is int
    for name, value in (("total_timesteps", 2.5), ("n_steps", "1e-3"), ("seed", "abc")):
        with pytest.raises(ValueError) as error:
            TrainConfig(**{name: value})
        assert str(error.value) == f"TrainConfig.{name} = {value!r} is invalid; expected {WHOLE_NUMBER}"
    with pytest.raises(ValueError) as error:
        TrainConfig(learning_rate="fast")
    assert (
        str(error.value) == "TrainConfig.learning_rate = 'fast' is invalid; expected a number, such as "
        "0.0003 or 3e-4"
    )


def test_yaml_config_reads_1e6_as_an_integer(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("milestone: v1\ntotal_timesteps: 1e6\nlearning_rate: 3e-4\n")  # PyYAML: two strings
    config = TrainConfig.load(path)
    assert (config.total_timesteps, config.learning_rate) == (1_000_000, 3e-4)
    path.write_text("n_steps: 1e-3\n")
    with pytest.raises(ValueError) as error:
        TrainConfig.load(path)
    assert str(error.value) == f"TrainConfig.n_steps = '1e-3' is invalid; expected {WHOLE_NUMBER}"


def test_noop_penalty_reaches_the_training_envs_and_is_recorded_only_with_the_noop() -> None:
    config = TrainConfig(milestone="v1", include_noop=True, noop_penalty=-0.5, n_envs=2)
    venv = make_vec_env(config)
    venv.reset()
    _, rewards, _, _ = venv.step(np.array([4, 4]))  # the no-op of a one-robot board
    np.testing.assert_allclose(rewards, [-0.5, -0.5])
    assert config.applicable()["noop_penalty"] == -0.5
    assert "noop_penalty" not in TrainConfig(milestone="v1").applicable()
