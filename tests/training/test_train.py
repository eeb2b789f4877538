"""train(): history, early stop, Ctrl-C, resume, curriculum, evaluation output, the CLI."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from stable_baselines3.common.callbacks import BaseCallback

import gridlab
from gridlab.checkpoints import read_checkpoint
from gridlab.cli import main
from gridlab.env import BoardSpec, PuzzleBank, generate_bank, solve
from gridlab.training import EvaluationResult, Run, TrainConfig, evaluation_puzzles, plot_history, train
from gridlab.training.callbacks import CheckpointCallback, Curriculum, EvalCallback, log_spaced_steps
from gridlab.training.factory import build_model, make_vec_env
from tests.conftest import quick_config


def test_run_reports_history_and_stops_at_the_target(v1_run: Run) -> None:
    history = v1_run.history
    assert list(history.columns[:4]) == ["step", "success_rate", "moves_over_optimal", "extra_moves"]
    assert history.success_rate.iloc[-1] == 1.0
    assert history.step.iloc[-1] < 8192  # stopped early at target_success=1.0
    assert (history.step.diff().dropna() == 1024).all()
    assert gridlab.load(v1_run.checkpoint).evaluate(progress=False).success_rate == 1.0


def test_tensorboard_logs_the_evaluation_metrics(tmp_path: Path) -> None:
    run = train(quick_config(tmp_path, total_timesteps=1024, tensorboard=True))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next((run.run_dir / "tensorboard").iterdir())))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"eval/success_rate", "eval/success_rate_len_1", "eval/moves_over_optimal"} <= tags
    assert any(tag.startswith("train/") for tag in tags)


def test_same_seed_same_training_run(tmp_path: Path) -> None:
    a = train(quick_config(tmp_path / "a", total_timesteps=2048))
    b = train(quick_config(tmp_path / "b", total_timesteps=2048))
    weights_a = gridlab.load(a.checkpoint).policy.state_dict()
    weights_b = gridlab.load(b.checkpoint).policy.state_dict()
    for (name, x), (_, y) in zip(weights_a.items(), weights_b.items(), strict=True):
        torch.testing.assert_close(x, y, msg=name)
    assert a.history.equals(b.history)


def test_ctrl_c_saves_a_checkpoint_and_returns(tmp_path: Path, monkeypatch) -> None:
    def interrupt(self: CheckpointCallback) -> bool:
        if self.num_timesteps >= 1536:
            raise KeyboardInterrupt
        return True

    monkeypatch.setattr(CheckpointCallback, "_on_step", interrupt)
    run = train(quick_config(tmp_path, total_timesteps=100_000))
    assert run.interrupted
    meta = read_checkpoint(run.checkpoint).metadata
    assert meta["training"]["interrupted"] and 1536 <= meta["training"]["num_timesteps"] < 100_000
    assert run.history.step.iloc[-1] == meta["training"]["num_timesteps"]


def test_resume_continues_steps_optimizer_and_history(tmp_path: Path) -> None:
    config = quick_config(tmp_path, total_timesteps=2048, save_freq=1024)
    first = train(config)
    saved = read_checkpoint(first.checkpoint)
    updates_before = saved.metadata["training"]["n_updates"]
    steps_before = saved.optimizer_state()["state"][0]["step"].item()
    assert (first.run_dir / "step_1024").is_dir()
    resumed = train(
        config.__class__(**(config.to_dict() | {"total_timesteps": 4096})), resume_from=first.checkpoint
    )
    meta = read_checkpoint(resumed.checkpoint).metadata["training"]
    assert meta["num_timesteps"] == 4096
    assert meta["n_updates"] == 2 * updates_before
    assert list(resumed.history.step) == [1024, 2048, 3072, 4096]
    # The optimizer picked up where it stopped: Adam's step counts kept growing.
    steps_after = read_checkpoint(resumed.checkpoint).optimizer_state()["state"][0]["step"].item()
    assert steps_after == 2 * steps_before


def test_curriculum_unlocks_lengths_as_success_grows() -> None:
    curriculum = Curriculum(min_moves=1, max_moves=4, start=2, threshold=0.8)
    assert curriculum.weights() == {1: 1.0, 2: 1.0}
    weak = EvaluationResult(np.array([1, 2, 3]), np.array([1, 9, 9]), np.array([True, False, False]))
    assert not curriculum.update(weak) and curriculum.longest == 2
    strong = EvaluationResult(np.array([1, 2, 3]), np.array([1, 2, 9]), np.array([True, True, False]))
    assert curriculum.update(strong) and curriculum.weights() == {1: 1.0, 2: 1.0, 3: 1.0}


def test_curriculum_training_on_a_bank_reweights_the_envs(tmp_path: Path) -> None:
    bank = tmp_path / "bank"
    generate_bank(bank, BoardSpec(5, 5, 2), per_length=20, min_moves=1, max_moves=4, heldout_fraction=0.3,
                  progress=False)  # fmt: skip
    config = quick_config(tmp_path, milestone=None, bank=str(bank), min_moves=1, max_moves=4, curriculum=True,
                          curriculum_start=1, curriculum_threshold=0.0, total_timesteps=2048)  # fmt: skip
    run = train(config)
    assert list(run.history.curriculum_longest) == [2, 3]
    # Resuming keeps the unlocked lengths (1-3), so the next evaluation unlocks 4, not 2.
    longer = TrainConfig(**(config.to_dict() | {"total_timesteps": 3072, "eval_freq": 4096}))
    resumed = train(longer, resume_from=run.checkpoint)
    assert list(resumed.history.curriculum_longest) == [2, 3, 4]


def test_per_length_evaluation_draws_the_same_number_at_every_length(tmp_path: Path) -> None:
    bank = tmp_path / "bank"
    generate_bank(bank, BoardSpec(5, 5, 1), per_length=30, min_moves=1, max_moves=3, heldout_fraction=0.5,
                  progress=False)  # fmt: skip
    config = quick_config(tmp_path, milestone=None, bank=str(bank), min_moves=2, max_moves=3)
    puzzles = evaluation_puzzles(config, 4, per_length=True)
    assert [n for _, n in puzzles] == [2, 2, 2, 2, 3, 3, 3, 3]
    for layout, n in puzzles:
        assert len(solve(layout)) == n
    heldout = PuzzleBank.load(bank)
    rows = heldout.indices(length=2, split="heldout")[:4]
    assert [layout for layout, _ in puzzles[:4]] == [heldout.layout(int(r)) for r in rows]
    with pytest.raises(ValueError, match="per_length needs a puzzle bank"):
        evaluation_puzzles(quick_config(tmp_path, milestone=None), 4, per_length=True)


def test_evaluate_command_writes_json(v1_run: Run, tmp_path: Path, capsys) -> None:
    out = tmp_path / "eval.json"
    torch.set_num_threads(2)
    assert main(["evaluate", str(v1_run.checkpoint), "--out", str(out)]) == 0
    assert torch.get_num_threads() == 1  # analysis commands run the small networks on one thread
    assert "100.0%" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["success_rate"] == 1.0 and data["by_length"]["1"]["episodes"] == 4


def test_train_command_from_a_config_file(tmp_path: Path, capsys) -> None:
    config_file = tmp_path / "config.yaml"
    quick_config(tmp_path, milestone="v0", total_timesteps=1024).save(config_file)
    assert main(["train", "--config", str(config_file), "--run-name", "cli", "--seed", "1"]) == 0
    assert f"checkpoint written to {tmp_path / 'cli' / 'final'}" in capsys.readouterr().out
    assert read_checkpoint(tmp_path / "cli" / "final").metadata["config"]["seed"] == 1


def test_train_command_resumes_a_run(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    quick_config(tmp_path, milestone="v0", total_timesteps=1024, run_name="cli").save(config_file)
    assert main(["train", "--config", str(config_file)]) == 0
    first = tmp_path / "cli" / "final"
    args = ["train", "--config", str(config_file), "--total-timesteps", "2048", "--resume-from", str(first)]
    assert main(args) == 0
    training = read_checkpoint(first).metadata["training"]  # the final checkpoint was replaced
    assert training["num_timesteps"] == 2048 and [row["step"] for row in training["history"]] == [1024, 2048]


def test_bad_resume_is_rejected(v1_run: Run, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trained with another policy"):
        train(quick_config(tmp_path, policy="small_cnn"), resume_from=v1_run.checkpoint)


def test_on_evaluation_sees_the_growing_history_and_plot_history_draws_it(tmp_path: Path) -> None:
    seen: list[list[int]] = []
    config = quick_config(tmp_path, total_timesteps=3072)
    run = train(config, on_evaluation=lambda history: seen.append(list(history.step)))
    assert seen == [[1024], [1024, 2048], [1024, 2048, 3072]]
    ax = plot_history(run.history)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["length 1", "all"]  # v1: every layout is one move
    assert list(ax.get_lines()[1].get_ydata()) == list(run.history.success_rate)


def test_learning_rate_decays_linearly_and_resumes_on_schedule(tmp_path: Path) -> None:
    config = quick_config(tmp_path, total_timesteps=2048, learning_rate=1e-3, learning_rate_end=1e-4)
    model = build_model(config, make_vec_env(config), None)
    assert [model.lr_schedule(p) for p in (1.0, 0.5, 0.0)] == pytest.approx([1e-3, 5.5e-4, 1e-4])

    def stop(history: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C at the first evaluation (1,024 steps)

    def last_lr(run: Run) -> float:
        return read_checkpoint(run.checkpoint).optimizer_state()["param_groups"][0]["lr"]

    first = train(config, on_evaluation=stop)
    assert first.interrupted
    assert last_lr(first) == pytest.approx(7.75e-4)  # one update, at 512 of 2,048 steps
    resumed = train(config, resume_from=first.checkpoint)
    assert list(resumed.history.step) == [1024, 2048]
    assert last_lr(resumed) == pytest.approx(1e-4)  # the schedule went on from 1,024, not from 0
    with pytest.raises(ValueError, match="learning_rate_end"):
        quick_config(tmp_path, learning_rate_end=0.0)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_ends_a_run_at_its_next_step_with_a_final_checkpoint(tmp_path: Path, signum: int) -> None:
    script = (  # Ctrl-C reaches the child even when pytest runs in the background (SIGINT ignored)
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from gridlab.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    command = [
        sys.executable, "-c", script, "train", "--milestone", "v1", "--total-timesteps", "10000000",
        "--save-freq", "1024", "--eval-freq", "0", "--no-progress-bar", "--no-tensorboard",
        "--output-dir", str(tmp_path), "--run-name", "bg",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (tmp_path / "bg" / "step_1024").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr.decode()[-2000:]  # the shell's status of an interrupted job
    training = read_checkpoint(tmp_path / "bg" / "final").metadata["training"]
    assert training["interrupted"] and 1024 <= training["num_timesteps"] < 10_000_000


def test_two_runs_with_one_name_keep_both_checkpoints_intact(tmp_path: Path) -> None:
    slow, fast = (quick_config(tmp_path, total_timesteps=1024, learning_rate=lr) for lr in (1e-4, 1e-3))
    assert slow.name() == fast.name()  # the default name does not carry the learning rate
    first = train(slow)
    files = {p: p.read_bytes() for p in first.run_dir.rglob("*") if p.is_file()}
    second = train(fast)
    assert second.run_dir == first.run_dir.with_name(f"{first.run_dir.name}-2")
    assert {p: p.read_bytes() for p in first.run_dir.rglob("*") if p.is_file()} == files
    assert TrainConfig.load(second.run_dir / "config.yaml").learning_rate == 1e-3
    with pytest.raises(ValueError, match="already holds a run; choose another run_name"):
        train(quick_config(tmp_path / "named", run_name="mine", total_timesteps=64))
        train(quick_config(tmp_path / "named", run_name="mine", total_timesteps=64))


def test_a_milestone_run_records_only_the_fields_that_apply(v1_run: Run) -> None:
    saved = yaml.safe_load((v1_run.run_dir / "config.yaml").read_text())
    assert saved["milestone"] == "v1" and saved["mlp_hidden"] == 64
    ignored = {"height", "width", "num_robots", "bank", "cnn_features", "drc_layers", "curriculum_start"}
    assert not ignored & set(saved)
    assert read_checkpoint(v1_run.checkpoint).metadata["config"] == saved
    assert TrainConfig.from_dict(saved).to_dict() == TrainConfig(**saved).to_dict()


def test_train_runs_the_stable_baselines3_callbacks_it_is_given(tmp_path: Path) -> None:
    class Count(BaseCallback):
        calls = 0

        def _on_step(self) -> bool:
            Count.calls += 1
            return self.num_timesteps < 512  # and may stop training early

    run = train(quick_config(tmp_path, total_timesteps=4096), callbacks=[Count()])
    assert Count.calls == 512 // 8  # one call per step of the 8 envs
    assert read_checkpoint(run.checkpoint).metadata["training"]["num_timesteps"] == 512


def test_a_second_ctrl_c_during_the_final_evaluation_keeps_the_final_checkpoint(
    tmp_path: Path, monkeypatch
) -> None:
    evaluations = []

    def interrupted_evaluation(self: EvalCallback) -> bool:
        evaluations.append(self.num_timesteps)
        raise KeyboardInterrupt

    monkeypatch.setattr(EvalCallback, "run_evaluation", interrupted_evaluation)
    run = train(quick_config(tmp_path, total_timesteps=256, eval_freq=0))
    checkpoint = read_checkpoint(run.checkpoint)  # whole: every file there and verified
    steps = checkpoint.metadata["training"]["num_timesteps"]
    assert evaluations == [steps] == [512]  # one rollout of 8 envs x 64 steps
    assert run.interrupted and run.evaluation is None
    assert gridlab.load(run.checkpoint).act(np.zeros((1, 7, 5, 5), np.float32))[0].shape == (1,)


def test_log_spaced_checkpoints_follow_training_from_their_first_step(tmp_path: Path) -> None:
    assert log_spaced_steps(5, 10_000, 1_000_000) == [10_000, 31_623, 100_000, 316_228, 1_000_000]
    assert log_spaced_steps(4, 1, 2) == [1, 2]  # rounding repeats are dropped
    config = quick_config(tmp_path, total_timesteps=4096, save_freq=0, eval_freq=0, log_checkpoints=3,
                          log_checkpoints_from=1024)  # fmt: skip
    run = train(config)
    saved = sorted(p.name for p in run.run_dir.iterdir() if p.name.startswith(("step_", "final")))
    assert saved == ["final", "step_1024", "step_2048", "step_4096"]
    assert gridlab.load(run.run_dir / "step_2048").metadata["training"]["num_timesteps"] == 2048
    with pytest.raises(ValueError, match="log_checkpoints_from = 8192 is invalid"):
        quick_config(tmp_path, log_checkpoints=3, log_checkpoints_from=8192)
