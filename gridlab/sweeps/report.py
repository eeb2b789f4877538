"""A sweep's results from its folder alone: one table row per trial, and learning curves by condition.

`read_sweep` reads only the sweep's JSON records (`gridlab.sweeps.trial`), never Ray's pickled
state, so any sweep folder can be opened safely, also one still running or cut off.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes

from gridlab.env.rendering import save_figure
from gridlab.files import atomic_write, read_versioned_json
from gridlab.sweeps.trial import read_trial

SPEC, SWEEP_FORMAT = "sweep.json", 1  # the base config and what varies, written by `gridlab.sweeps.sweep`
RESULTS = ("results.csv", "results.parquet")
CURVES = "curves.png"


@dataclass
class Sweep:
    """A sweep's folder and results.

    Attributes:
        folder: The sweep folder.
        varied: The fields its trials vary (grid first, then sampled).
        table: One row per trial: ``trial_id``, ``status`` (running, finished, stopped, failed), the
            varied fields, the last held-out evaluation (``success_rate``, ``success_len_L`` per
            optimal length ``L``, ``moves_over_optimal``, ``extra_moves``), ``steps``, ``wall_s``,
            ``steps_per_s``, ``checkpoint`` (the final one, or None) and ``error``.
        curves: One row per trial and evaluation: ``trial_id``, the varied fields, ``step`` and the
            evaluation's figures.
        planned: Trials the sweep will have: every combination of its grid, times its samples.
    """

    folder: Path
    varied: list[str]
    table: pd.DataFrame
    curves: pd.DataFrame
    planned: int

    @property
    def unfinished(self) -> int:
        """Trials planned that have not ended: pending, running, or not yet made by Ray (an
        interrupted sweep; `gridlab.sweeps.resume_sweep` continues it)."""
        return self.planned - int(self.table["status"].isin(("finished", "stopped", "failed")).sum())

    def plot(self, metric: str = "success_rate", ax: Axes | None = None) -> Axes:
        """Learning curves grouped by condition (the varied fields but ``seed``): the mean over
        the condition's trials, with the band from their lowest to their highest value, and each
        trial as a faint line."""
        ax = ax if ax is not None else plt.subplots(figsize=(7, 4))[1]
        conditions = [field for field in self.varied if field != "seed"]
        if self.curves.empty:
            ax.set_title("no evaluations yet")
            return ax
        groups = self.curves.groupby(conditions, dropna=False) if conditions else [((), self.curves)]
        for key, curves in groups:
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(f"{f}={v}" for f, v in zip(conditions, key, strict=True)) or "all trials"
            by_step = curves.groupby("step")[metric]
            line = ax.plot(
                by_step.mean().index,
                by_step.mean(),
                marker=".",
                label=f"{label} (n={curves.trial_id.nunique()})",
            )
            ax.fill_between(
                by_step.min().index, by_step.min(), by_step.max(), color=line[0].get_color(), alpha=0.2
            )
            for _, trial in curves.groupby("trial_id"):
                ax.plot(trial["step"], trial[metric], color=line[0].get_color(), alpha=0.3, lw=0.8)
        ax.set(
            xlabel="environment steps",
            ylabel=f"held-out {metric.replace('_', ' ')}",
            title=f"{self.folder.name}: mean over seeds, band = min to max",
        )
        ax.legend(fontsize="small")
        return ax


def read_sweep(folder: str | os.PathLike[str]) -> Sweep:
    """The sweep in ``folder`` as its records stand now.

    Raises:
        FileNotFoundError: ``folder`` holds no ``sweep.json``.
        ValueError: A corrupt or newer-format ``sweep.json`` or trial record.
    """
    folder = Path(folder)
    spec = read_spec(folder)
    varied = [*spec["grid"], *spec["sample"]]
    records = [read_trial(path) for path in sorted((folder / "trials").glob("*.json"))]
    rows, curves = [], []
    for record in records:
        values = {
            field: record.get("config", record["overrides"]).get(field, record["overrides"].get(field))
            for field in varied
        }
        last = record.get("evaluation") or (record["history"][-1] if record["history"] else {})
        steps = record.get("steps") or (record["history"][-1]["step"] if record["history"] else 0)
        wall = record.get("wall_s")
        rows.append(
            {
                "trial_id": record["trial_id"],
                "status": record["status"],
                **values,
                **{k: v for k, v in last.items() if k != "step"},
                "steps": steps,
                "wall_s": wall,
                "steps_per_s": steps / wall if wall else None,
                "checkpoint": record.get("checkpoint"),
                "error": record.get("error"),
            }
        )
        curves += [{"trial_id": record["trial_id"], **values, **row} for row in record["history"]]
    table = pd.DataFrame(rows, columns=_columns(rows, varied))
    planned = spec["samples"] * math.prod(len(values) for values in spec["grid"].values())
    return Sweep(folder, varied, table, pd.DataFrame(curves), planned)


def read_spec(folder: Path) -> dict[str, Any]:
    """The sweep's ``sweep.json``; raises ``FileNotFoundError`` without one, ``ValueError`` for a
    corrupt or newer-format one."""
    return read_versioned_json(folder / SPEC, f"no sweep at {folder} ({SPEC} is missing)", SWEEP_FORMAT)


def write_report(sweep: Sweep) -> Sweep:
    """Write the table (CSV and Parquet) and the learning curves (PNG) into the sweep folder,
    each atomically; returns ``sweep``."""
    csv, parquet = (sweep.folder / name for name in RESULTS)
    atomic_write(csv, lambda f: f.write(sweep.table.to_csv(index=False).encode()))
    atomic_write(parquet, lambda f: sweep.table.to_parquet(f, index=False))
    save_figure(sweep.plot(), sweep.folder / CURVES)
    return sweep


def _columns(rows: list[dict[str, Any]], varied: list[str]) -> list[str]:
    """Identity, varied fields, figures (success by length in order), cost, outcome."""
    lengths = sorted(
        {k for row in rows for k in row if k.startswith("success_len_")}, key=lambda k: int(k[12:])
    )
    return [
        "trial_id",
        "status",
        *varied,
        "success_rate",
        *lengths,
        "moves_over_optimal",
        "extra_moves",
        "steps",
        "wall_s",
        "steps_per_s",
        "checkpoint",
        "error",
    ]
