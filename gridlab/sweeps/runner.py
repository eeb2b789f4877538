"""`sweep`: many gridlab runs as one Ray Tune experiment, on this machine or on a Ray cluster.

    base config + grid/sample -> SWEEP folder (sweep.json) -> Ray (started here, or joined by
    address) -> Tuner: one trial per combination and sample, each an ordinary run
    (`gridlab.sweeps.trial`) -> trial records -> table, CSV/Parquet and learning curves

Layout of a sweep folder, which no other sweep ever writes into (a taken name gets ``-2``, ...)::

    sweep.json            the base config and what varies (read by `resume_sweep`, `read_sweep`)
    trials/ID.json        one record per trial: status, values, evaluations, checkpoint or error
    runs/ID/              the trial's run folder: config.yaml, checkpoints, logs
    tune/                 Ray Tune's experiment state (what a resumed sweep continues from)
    results.csv, results.parquet, curves.png   the report, rewritten when the sweep ends

Without an address Ray starts on this machine with one CPU per core, and each trial takes
``threads`` CPUs, so as many trials run at once as the cores allow. With an address the sweep
joins a running cluster (``ray start --head`` on one machine, ``ray start --address HEAD:6379``
on the others); every node then needs this gridlab installed and ``output_dir`` on storage all
nodes share, since trials write their runs there.

A failing trial (an invalid value, a crash, a killed process) is recorded with its error and the
others go on. Interrupting a sweep (Ctrl-C) leaves Ray's state on disk; `resume_sweep` reruns
none of the finished or failed trials and continues unfinished ones from their runs' latest
checkpoints. Resuming reads Ray's own experiment state, which is pickled: resume your own
sweeps; `read_sweep` reads only JSON and is safe on any folder.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.sample import Domain

from gridlab.files import atomic_write_json, new_folder
from gridlab.sweeps.report import SPEC, SWEEP_FORMAT, Sweep, read_spec, read_sweep, write_report
from gridlab.sweeps.space import param_space
from gridlab.sweeps.trial import read_trial, run_trial, trial_path, write_trial
from gridlab.training.config import TrainConfig

TUNE = "tune"  # Ray Tune's experiment folder inside the sweep


def sweep(
    base: TrainConfig,
    grid: Mapping[str, Sequence[Any]] | None = None,
    sample: Mapping[str, str | Domain] | None = None,
    *,
    samples: int = 1,
    name: str | None = None,
    output_dir: str | os.PathLike[str] = "runs/sweeps",
    address: str | None = None,
    max_concurrent: int | None = None,
    early_stop: bool = False,
    grace_steps: int | None = None,
    verbose: int = 1,
) -> Sweep:
    """Train every combination of ``grid`` (times ``samples``, drawing ``sample`` anew each time).

    Args:
        base: What every trial shares; a trial's values replace its fields.
        grid: Field -> values; every combination is a trial (``{"seed": [0, 1, 2]}``).
        sample: Field -> distribution, as text (``"loguniform:1e-5:1e-3"``, see
            `gridlab.sweeps.space.distribution`) or a Ray Tune search space.
        samples: Repeats of the grid (Ray Tune's ``num_samples``); with ``sample``, random search.
        name: The sweep's folder name under ``output_dir`` (default: the base run's name + ``-sweep``).
        output_dir: Where sweep folders go.
        address: A Ray cluster to join (``"HOST:6379"``, or ``"auto"``); None starts Ray here.
        max_concurrent: At most this many trials at once (default: as many as the CPUs allow).
        early_stop: Stop trials whose held-out success trails (ASHA, on ``success_rate`` at each
            evaluation); they are recorded as ``stopped``.
        grace_steps: Steps every trial trains before ASHA may stop it (default: a quarter of
            ``total_timesteps``).
        verbose: Ray Tune's progress output: 0 none, 1 a status table (a live table in a
            notebook), 2 every report.

    Returns:
        The `Sweep`: its folder and table (also written as ``results.csv``/``.parquet``).

    Raises:
        ValueError: An unknown field, a field the sweep sets itself, an unreadable distribution,
            or an invalid base config. A value invalid for `TrainConfig` fails its trial only.
    """
    base.validate()
    space = param_space(grid or {}, sample or {})
    if samples < 1:
        raise ValueError(f"samples = {samples} is invalid; expected a positive number of repeats")
    folder = new_folder(Path(output_dir) / (name or f"{base.name()}-sweep")).resolve()
    spec = {
        "format_version": SWEEP_FORMAT,
        "base": base.to_dict(),
        "grid": {k: list(v) for k, v in (grid or {}).items()},
        "sample": {k: str(v) for k, v in (sample or {}).items()},
        "samples": samples,
        "early_stop": early_stop,
        "grace_steps": grace_steps,
    }
    atomic_write_json(folder / SPEC, spec)
    scheduler = None
    if early_stop:
        # ASHA also stops a trial that reaches max_t, which would cut it off at its last evaluation
        # before it writes its final checkpoint and record: max_t lies past any run's length.
        grace = grace_steps or max(base.total_timesteps // 4, 1)
        scheduler = ASHAScheduler(time_attr="step", max_t=2**62, grace_period=grace)
    with _ray(address):
        tuner = tune.Tuner(
            _trainable(base.to_dict(), folder),
            param_space=space,
            tune_config=tune.TuneConfig(
                metric="success_rate",
                mode="max",
                num_samples=samples,
                scheduler=scheduler,
                max_concurrent_trials=max_concurrent,
                reuse_actors=True,  # a trial process imports torch once, not once per trial
            ),
            run_config=tune.RunConfig(
                name=TUNE, storage_path=str(folder), verbose=verbose, callbacks=[TrialRecorder(str(folder))]
            ),
        )
        tuner.fit()
    return write_report(read_sweep(folder))


def resume_sweep(folder: str | os.PathLike[str], address: str | None = None) -> Sweep:
    """Continue an interrupted sweep: finished and failed trials stay as they are, unfinished ones
    continue from their runs' latest checkpoints, trials not started yet start.

    Raises:
        FileNotFoundError: ``folder`` holds no sweep, or Ray's state in it is missing.
    """
    folder = Path(folder).resolve()
    spec = read_spec(folder)
    if not tune.Tuner.can_restore(str(folder / TUNE)):
        raise FileNotFoundError(f"{folder / TUNE} holds no Ray Tune state to resume; start the sweep again")
    with _ray(address):
        tuner = tune.Tuner.restore(
            str(folder / TUNE), _trainable(spec["base"], folder), resume_unfinished=True
        )
        tuner.fit()
    return write_report(read_sweep(folder))


def _trainable(base: dict[str, Any], folder: Path) -> Any:
    """`run_trial` for this sweep, asking Ray for as many CPUs as the trial's torch threads."""
    trainable = tune.with_parameters(run_trial, base=base, sweep=str(folder))

    def cpus(config: dict[str, Any]) -> tune.PlacementGroupFactory:
        return tune.PlacementGroupFactory([{"CPU": config.get("threads", base["threads"])}])

    return tune.with_resources(trainable, cpus)


@contextlib.contextmanager
def _ray(address: str | None) -> Iterator[None]:
    """Ray for the sweep: joined at ``address``, or started here with a CPU per core; left running
    if it already was (a notebook that started it), else shut down after."""
    if ray.is_initialized():
        yield
        return
    try:
        # "local": a new Ray here even where `ray start` left one running (it would otherwise join it)
        cpus = None if address else os.cpu_count()
        ray.init(address=address or "local", num_cpus=cpus, include_dashboard=False)
    except ConnectionError as error:
        raise ConnectionError(
            f"{error}. Is `ray start --head` running there? A head started by Ray 2.59 or later asks "
            "for its token: set RAY_AUTH_MODE=token in the environment before Python starts, with the "
            "head's token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


class TrialRecorder(tune.Callback):
    """Keeps the records of what trials cannot write themselves (in the driver): that Ray made
    them (``pending``, so an interrupted sweep's table lists them), that the scheduler stopped
    them early, or that their process died (killed, out of memory)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.known: set[str] = set()

    def on_step_begin(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        for trial in trials:
            path = trial_path(self.folder, trial.trial_id)
            if trial.trial_id not in self.known and not path.is_file():
                record = {"trial_id": trial.trial_id, "status": "pending", "overrides": trial.config}
                write_trial(path, record | {"history": [], "error": None})
            self.known.add(trial.trial_id)

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._close(trial, "stopped", None)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        error = Path(trial.error_file).read_text()[-2000:] if trial.error_file else "the trial's process died"
        self._close(trial, "failed", error)

    def _close(self, trial: Trial, status: str, error: str | None) -> None:
        path = trial_path(self.folder, trial.trial_id)
        record = read_trial(path)
        if record["status"] in ("pending", "running"):  # the trial itself wrote nothing final
            write_trial(
                path,
                {k: v for k, v in record.items() if k != "format_version"}
                | {"status": status, "error": record.get("error") or error},
            )
