"""One sweep trial: an ordinary gridlab run inside a Ray Tune trial, and the record it keeps on disk.

Each trial trains in ``SWEEP/runs/TRIAL_ID`` (a run folder like any other, with its checkpoints)
and keeps ``SWEEP/trials/TRIAL_ID.json`` up to date: its status, the values it varies, the
held-out evaluations so far, and at the end the final evaluation, steps, wall time and checkpoint,
or the error that stopped it. The sweep's table is built from these files alone, so it can be
rebuilt from disk at any time (`gridlab.sweeps.report`), and they are JSON: reading them executes
nothing.

A trial that Ray restarts (a resumed sweep) continues its run from the run's latest checkpoint
(``save_freq`` sets how often there is one); a run folder with no checkpoint yet holds nothing
worth keeping and starts again. Its wall time counts every attempt, the work lost to the
interruption included.
"""

from __future__ import annotations

import shutil
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from gridlab.checkpoints import METADATA, read_checkpoint
from gridlab.files import atomic_write_json, read_versioned_json
from gridlab.training.config import TrainConfig

TRIAL_FORMAT = 1
STATUSES = ("pending", "running", "finished", "stopped", "failed")
"""``pending``: not started; ``running``: started and not ended (or cut off by an interrupted
sweep); ``stopped``: ended early by the scheduler (ASHA); ``failed``: raised, or its process died."""


def trial_path(sweep: Path, trial_id: str) -> Path:
    return sweep / "trials" / f"{trial_id}.json"


def read_trial(path: Path) -> dict[str, Any]:
    """A trial's record (see the module docstring); raises ``ValueError`` for a corrupt one."""
    return read_versioned_json(path, f"no trial record at {path}", TRIAL_FORMAT)


def write_trial(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"format_version": TRIAL_FORMAT, **record}, default=_plain)


def run_trial(overrides: dict[str, Any], *, base: dict[str, Any], sweep: str) -> None:
    """Ray Tune's function trainable: train ``base`` with ``overrides`` and report every evaluation.

    Args:
        overrides: The values this trial varies (Ray's trial config).
        base: The sweep's base `TrainConfig` as a dict.
        sweep: The sweep's folder (absolute: Ray runs trials in a working folder of its own).

    Raises:
        Exception: Whatever stopped the run (an invalid config value, a crash); it is recorded in
            the trial's file first, and Ray records it too and goes on with the other trials.
    """
    from gridlab.training.train import train  # torch and stable-baselines3 load in the trial's process

    folder, trial_id = Path(sweep), tune.get_context().get_trial_id()
    path = trial_path(folder, trial_id)
    record: dict[str, Any] = {
        "trial_id": trial_id,
        "status": "running",
        "overrides": overrides,
        "run_dir": str(folder / "runs" / trial_id),
        "history": [],
        "error": None,
    }
    earlier = read_trial(path).get("wall_s", 0.0) if path.is_file() else 0.0  # a resumed trial's time so far
    started = time.time() - earlier

    def on_evaluation(history: pd.DataFrame) -> None:
        record["history"] = history.to_dict("records")
        record["wall_s"] = time.time() - started
        write_trial(path, record)
        tune.report(record["history"][-1])

    try:
        config = TrainConfig.from_dict(
            base
            | overrides
            | {"output_dir": str(folder / "runs"), "run_name": trial_id, "progress_bar": False}
        )
        record["config"] = config.applicable()
        write_trial(path, record)
        run = train(
            config, resume_from=_resume_point(folder / "runs" / trial_id), on_evaluation=on_evaluation
        )
    except Exception as error:
        record |= {
            "status": "failed",
            "error": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc(),
            "wall_s": time.time() - started,
        }
        write_trial(path, record)
        raise
    steps = int(run.history["step"].iloc[-1]) if len(run.history) else config.total_timesteps
    record |= {
        "status": "finished",
        "history": run.history.to_dict("records"),
        "evaluation": None if run.evaluation is None else run.evaluation.summary(),
        "checkpoint": str(run.checkpoint),
        "steps": steps,
        "wall_s": time.time() - started,
        "interrupted": run.interrupted,
    }
    write_trial(path, record)


def _resume_point(run_dir: Path) -> Path | None:
    """The latest checkpoint of an interrupted trial's run, or None to start afresh (an unfinished
    run folder without a checkpoint is removed: it holds only its config and logs)."""
    if not run_dir.is_dir():
        return None
    saved = [folder for folder in run_dir.iterdir() if (folder / METADATA).is_file()]
    if not saved:
        shutil.rmtree(run_dir)
        return None
    return max(saved, key=lambda folder: read_checkpoint(folder).metadata["training"]["num_timesteps"])


def _plain(value: Any) -> Any:
    """JSON for numpy scalars in histories and evaluations."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to a trial record")
