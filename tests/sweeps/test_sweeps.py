"""Sweeps on Ray Tune: a local grid, a cluster joined by address, a failing trial, an interrupted
sweep resumed. Ray takes seconds to start, so the trials are tiny (v1, a few thousand steps)."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pandas as pd
import pytest
import ray
from nbclient import NotebookClient

import gridlab
from gridlab.cli import main
from gridlab.sweeps import Sweep, read_sweep
from gridlab.sweeps.runner import TrialRecorder
from gridlab.sweeps.space import distribution, param_space, parse_grid, parse_sample
from gridlab.sweeps.trial import read_trial, write_trial
from gridlab.training import train
from tests.conftest import quick_config

# Each test starts and stops its own Ray, one after another (`make test` runs each module on one
# worker: --dist loadfile).


def base(tmp_path: Path, **overrides: object) -> gridlab.TrainConfig:
    return quick_config(tmp_path, **({"total_timesteps": 2048, "n_envs": 4, "save_freq": 1024} | overrides))


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """A local sweep run from a notebook cell: its folder and the cell's outputs."""
    folder = tmp_path_factory.mktemp("sweeps")
    config = folder / "v1.yaml"
    base(folder).save(config)
    cell = nbformat.v4.new_code_cell(
        f"import gridlab\nbase = gridlab.TrainConfig.load({str(config)!r})\n"
        f"result = gridlab.sweep(base, grid={{'seed': [0, 1], 'learning_rate': [3e-4, 1e-3]}}, name='grid',\n"
        f"                       output_dir={str(folder)!r})\nresult.table"
    )
    NotebookClient(nbformat.v4.new_notebook(cells=[cell]), timeout=600, kernel_name="python3").execute()
    return folder / "grid", cell.outputs


@pytest.fixture(scope="module")
def grid(notebook: tuple[Path, list[dict]]) -> Sweep:
    return read_sweep(notebook[0])


def test_a_notebook_cell_shows_each_trial_and_returns_the_table(notebook: tuple[Path, list[dict]]) -> None:
    folder, outputs = notebook
    html = [output["data"]["text/html"] for output in outputs if "text/html" in output.get("data", {})]
    status, table = html[0], html[-1]  # Ray Tune's live status of every trial, then the returned table
    trials = read_sweep(folder).table["trial_id"]
    assert "Trial Status" in status and all(
        f"run_trial_{trial}" in status and "TERMINATED" in status for trial in trials
    )
    assert outputs[-1]["output_type"] == "execute_result" and all(trial in table for trial in trials)


def test_a_local_sweep_trains_every_combination_as_an_ordinary_run(grid: Sweep, tmp_path: Path) -> None:
    table = grid.table
    assert grid.varied == ["seed", "learning_rate"] and not ray.is_initialized()  # Ray was shut down
    assert (table["status"] == "finished").all() and table["error"].isna().all()
    assert sorted(zip(table["seed"], table["learning_rate"], strict=True)) == [
        (0, 3e-4),
        (0, 1e-3),
        (1, 3e-4),
        (1, 1e-3),
    ]
    assert (table["steps"] == 2048).all() and (table["steps_per_s"] > 0).all()
    assert (
        table["success_rate"].between(0, 1).all() and (table["success_rate"] == table["success_len_1"]).all()
    )
    for row in table.itertuples():
        agent = gridlab.load(row.checkpoint)  # each trial's run folder holds an ordinary checkpoint
        assert (agent.config.seed, agent.config.learning_rate) == (row.seed, row.learning_rate)
        assert Path(row.checkpoint).parent == grid.folder / "runs" / row.trial_id
    # The same config trained by hand gives the same run.
    row = table[(table["seed"] == 1) & (table["learning_rate"] == 1e-3)].iloc[0]
    by_hand = train(dataclasses.replace(base(tmp_path), seed=1, learning_rate=1e-3))
    assert (
        by_hand.history["success_rate"].tolist()
        == grid.curves.query("trial_id == @row.trial_id")["success_rate"].tolist()
    )
    assert len(grid.curves) == 4 * 2 and set(grid.curves["step"]) == {
        1024,
        2048,
    }  # an evaluation every 1024 steps


def test_the_report_is_written_and_rebuilt_from_disk(grid: Sweep) -> None:
    csv, parquet = grid.folder / "results.csv", grid.folder / "results.parquet"
    written = pd.read_parquet(parquet)
    pd.testing.assert_frame_equal(written, grid.table)
    assert pd.read_csv(csv)["trial_id"].tolist() == grid.table["trial_id"].tolist()
    csv.unlink()
    (grid.folder / "curves.png").unlink()
    assert main(["sweep-report", str(grid.folder)]) == 0
    assert csv.is_file() and (grid.folder / "curves.png").stat().st_size > 10_000
    pd.testing.assert_frame_equal(read_sweep(grid.folder).table, written)
    ax = grid.plot()  # one curve per learning rate, the spread over the two seeds around it
    labels = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert labels == ["learning_rate=0.0003 (n=2)", "learning_rate=0.001 (n=2)"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_sweep_joins_a_cluster_by_address_stops_a_trailing_trial_and_records_a_failing_one(
    grid: Sweep, tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "head.log"
    start = f"start --head --node-ip-address 127.0.0.1 --port {port} --num-cpus 2 --include-dashboard false"
    ray_cli = Path(sys.executable).parent / "ray"
    head = subprocess.Popen([ray_cli, *start.split(), "--disable-usage-stats", "--block"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.time() + 120
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.time() < deadline, log.read_text()
            time.sleep(0.5)
        config = tmp_path / "v1.yaml"
        base(tmp_path, total_timesteps=4096).save(config)
        # One trial at a time: the first learns, the second (a learning rate too small to learn)
        # trails it at 3072 steps and ASHA stops it there, the third is invalid. The same name and
        # folder as the grid sweep: the new sweep takes grid-2 and leaves grid alone.
        args = (f"sweep {config} --grid learning_rate=1e-3,1e-9,-1 --address 127.0.0.1:{port} --early-stop "
                f"--grace-steps 3072 --max-concurrent 1 --name grid --output-dir {grid.folder.parent} "
                "--verbose 0").split()  # fmt: skip
        # Heads from Ray 2.59 on ask for their token: the README's export, before Python starts.
        env = os.environ | {"RAY_AUTH_MODE": "token"}
        done = subprocess.run(
            [Path(sys.executable).parent / "gridlab", *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        head.terminate()
        head.wait(60)
    result = read_sweep(grid.folder.parent / "grid-2")
    table = result.table.set_index("learning_rate")
    assert table.loc[1e-3, "status"] == "finished" and table.loc[1e-3, "steps"] == 4096
    assert table.loc[1e-9, "status"] == "stopped" and table.loc[1e-9, "steps"] == 3072
    at_the_rung = result.curves.set_index(["learning_rate", "step"])["success_rate"]
    assert at_the_rung[1e-9, 3072] < at_the_rung[1e-3, 3072]
    assert table.loc[-1, "status"] == "failed"
    assert table.loc[-1, "error"].startswith("ValueError: TrainConfig.learning_rate = -1")
    assert (
        "learning_rate"
        in read_trial(result.folder / "trials" / f"{table.loc[-1, 'trial_id']}.json")["traceback"]
    )
    pd.testing.assert_frame_equal(read_sweep(grid.folder).table, grid.table)


def test_an_interrupted_sweep_resumes_without_rerunning_finished_trials(tmp_path: Path) -> None:
    config = tmp_path / "v1.yaml"
    base(tmp_path, total_timesteps=4096).save(config)
    gridlab_cli = Path(sys.executable).parent / "gridlab"
    options = f"--grid seed=0,1,2 --max-concurrent 1 --name cut --output-dir {tmp_path} --verbose 0"
    command = [gridlab_cli, "sweep", str(config), *options.split()]
    sweep = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    records, deadline = tmp_path / "cut" / "trials", time.time() + 180
    while not any(read_trial(path)["status"] == "finished" for path in records.glob("*.json")):
        assert sweep.poll() is None and time.time() < deadline, sweep.stdout.read() if sweep.stdout else ""
        time.sleep(0.5)
    sweep.send_signal(signal.SIGINT)  # Ctrl-C
    output, _ = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, output
    assert "gridlab sweep-resume" in output
    cut = read_sweep(tmp_path / "cut")
    finished = cut.table[cut.table["status"] == "finished"]
    assert 1 <= len(finished) < 3 and cut.unfinished == 3 - len(finished), cut.table
    before = {trial: read_trial(records / f"{trial}.json") for trial in finished["trial_id"]}

    assert main(["sweep-resume", str(tmp_path / "cut")]) == 0
    table = read_sweep(tmp_path / "cut").table
    assert (table["status"] == "finished").all() and sorted(table["seed"]) == [0, 1, 2]
    assert all(
        read_trial(records / f"{trial}.json") == record for trial, record in before.items()
    )  # not rerun
    assert sorted(os.listdir(tmp_path / "cut" / "runs")) == sorted(table["trial_id"])  # one run folder each


def test_search_spaces_from_text() -> None:
    assert parse_grid(
        ["seed=0,1", "learning_rate=1e-4,3e-4", "policy=mlp,small_cnn", "milestone=none,v1"]
    ) == {
        "seed": [0, 1],
        "learning_rate": [1e-4, 3e-4],
        "policy": ["mlp", "small_cnn"],
        "milestone": [None, "v1"],
    }
    assert parse_sample(["learning_rate=loguniform:1e-5:1e-3"]) == {"learning_rate": "loguniform:1e-5:1e-3"}
    lr = distribution("loguniform:1e-5:1e-3")
    assert lr.lower == 1e-5 and lr.upper == 1e-3
    assert distribution("choice:a,2").categories == ["a", 2]
    space = param_space({"seed": [0, 1]}, {"gamma": "uniform:0.9:0.99"})
    assert space["seed"] == {"grid_search": [0, 1]} and space["gamma"].upper == 0.99


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_grid(["lerning_rate=1e-3"]), "unknown TrainConfig field 'lerning_rate'"),
        (lambda: parse_grid(["seed"]), "write field=v1,v2"),
        (lambda: parse_grid(["output_dir=a,b"]), "a sweep sets 'output_dir'"),
        (lambda: parse_sample(["gamma=normal:0:1"]), "cannot read the distribution 'normal:0:1'"),
        (lambda: distribution("loguniform:0:1"), "LOW > 0"),
        (lambda: distribution("uniform:2:1"), "LOW < HIGH"),
        (lambda: param_space({"seed": [0]}, {"seed": "randint:0:9"}), "both in grid and sample"),
        (lambda: param_space({"seed": []}, {}), "non-empty list"),
        (lambda: param_space({}, {}), "at least one field"),
    ],
)
def test_bad_search_spaces_are_refused_before_ray_starts(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
    assert not ray.is_initialized()


def test_the_driver_records_what_trials_cannot(tmp_path: Path) -> None:
    """Made by Ray (pending), stopped early by ASHA, or dead with its process: the driver writes it."""
    recorder = TrialRecorder(str(tmp_path))
    made, stopped, done, dead = (
        SimpleNamespace(trial_id=f"t{i}", config={"seed": i}, error_file=None) for i in range(4)
    )
    recorder.on_step_begin(0, [made, stopped, done, dead])
    assert {read_trial(tmp_path / "trials" / f"t{i}.json")["status"] for i in range(4)} == {"pending"}
    for trial, status in ((stopped, "running"), (done, "finished")):  # what the trials themselves wrote
        record = {"trial_id": trial.trial_id, "status": status, "overrides": trial.config, "history": []}
        write_trial(tmp_path / "trials" / f"{trial.trial_id}.json", record | {"error": None})
    recorder.on_step_begin(1, [made, stopped, done, dead])  # known trials are not written again
    recorder.on_trial_complete(2, [], stopped)
    recorder.on_trial_complete(2, [], done)
    dead.error_file = tmp_path / "error.txt"
    dead.error_file.write_text("ray.exceptions.OutOfMemoryError: the worker was killed")
    recorder.on_trial_error(3, [], dead)
    records = {i: read_trial(tmp_path / "trials" / f"t{i}.json") for i in range(4)}
    assert [records[i]["status"] for i in range(4)] == ["pending", "stopped", "finished", "failed"]
    assert records[3]["error"] == "ray.exceptions.OutOfMemoryError: the worker was killed"
    assert records[3]["overrides"] == {"seed": 3}
