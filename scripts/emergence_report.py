"""Measure every checkpoint of a run's series: success, the plan probe against its baselines, thinking time.

    python scripts/emergence_report.py runs/agents/NAME --hooks "features_extractor.hook_relu*"
    python scripts/emergence_report.py checkpoints/NAME/series --hooks "drc.layers.*.hook_h.*"

``RUN`` is a run folder (or a shipped agent's ``series`` folder of compact checkpoints). Every
checkpoint plays the same held-out puzzles of its bank (``--per-length`` of each optimal length)
and is measured by `gridlab.interp.emergence.emergence`; the table is written to ``OUT.csv`` and
the figure to ``OUT.png`` (default: ``runs/emergence/<run name>``), both atomically, and the
table is printed. One torch thread.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import torch

import gridlab
from gridlab.checkpoints import run_checkpoints
from gridlab.env.rendering import save_figure
from gridlab.files import atomic_write
from gridlab.interp.emergence import emergence, plot_emergence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder, or a folder of step_N checkpoints")
    parser.add_argument("--hooks", nargs="+", required=True, help="hook names or patterns to probe")
    parser.add_argument("--per-length", type=int, default=10, help="held-out puzzles per optimal length")
    parser.add_argument("--label", default="agent_direction")
    parser.add_argument("--thinking", type=int, default=4, help="extra thinking steps (recurrent agents)")
    parser.add_argument("--out", type=Path, default=None, help="OUT.csv and OUT.png")
    args = parser.parse_args()
    torch.set_num_threads(1)
    series = run_checkpoints(args.run)
    if not series:
        parser.error(f"{args.run} holds no checkpoints")
    puzzles = gridlab.load(series[-1][1]).evaluation_puzzles(args.per_length, per_length=True)
    table = emergence(args.run, puzzles, args.hooks, args.label, thinking=args.thinking)
    out = args.out or Path("runs/emergence") / args.run.resolve().name
    out.parent.mkdir(parents=True, exist_ok=True)
    text = table.to_csv()
    atomic_write(out.with_suffix(".csv"), lambda f: f.write(text.encode()))
    axes = plot_emergence(table, title=f"{args.run} ({len(puzzles)} held-out puzzles)")
    save_figure(axes[0].figure, out.with_suffix(".png"))
    shown = ("success", "hook", "probe", "probe_low", "probe_high", "baseline", "baseline_score", "above_low",
             "thinking_change", "thinking_low", "thinking_high")  # fmt: skip
    buffer = io.StringIO()
    table[[c for c in shown if c in table]].round(3).to_string(buffer)
    print(buffer.getvalue())
    print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
