"""The measurement scripts under scripts/ run end to end on a shipped checkpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_route_steering_series_writes_one_row_per_checkpoint_and_hook(tmp_path: Path) -> None:
    out = tmp_path / "not yet made" / "steering.csv"  # the script makes the folder
    agent = ROOT / "checkpoints" / "random8x8_convlstm"
    hooks = ["drc.layers.0.hook_c.1", "drc.layers.1.hook_c.1"]
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "route_steering_series.py"), str(agent), str(agent),
         "--hooks", *hooks, "--strength", "4", "--probe-per-length", "2", "--steer-per-length", "2",
         "--out", str(out)],
        check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    table = pd.read_csv(out)
    assert list(table["hook"]) == hooks * 2  # the agent's hook order, once per checkpoint
    assert (table["routes"] > 0).all()
    rates = table[["probe", "shuffled", "swapped", "random"]].to_numpy()
    assert ((rates >= 0) & (rates <= 1)).all()
    # the same checkpoint twice: the same probes, routes and outcomes (seeded throughout)
    first, second = table.iloc[:2].drop(columns="checkpoint"), table.iloc[2:].drop(columns="checkpoint")
    pd.testing.assert_frame_equal(first.reset_index(drop=True), second.reset_index(drop=True))
    low, high = table["shuffled low"], table["shuffled high"]
    assert ((low <= table["minus shuffled"]) & (table["minus shuffled"] <= high)).all()
