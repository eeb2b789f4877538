"""Route steering at fixed hooks over a checkpoint series: when does the agent act on a probe's plan?

    python scripts/route_steering_series.py checkpoints/random8x8_drc33_dagger/clones/updates_2000 \\
        checkpoints/random8x8_drc33_dagger --hooks drc.layers.1.hook_c.2 --strength 8

Every checkpoint plays the same held-out puzzles of its bank greedily (``--probe-per-length`` of each
optimal length), an ``agent_direction`` probe of the target robot is fitted at each hook on those
episodes (split seed 0), and `gridlab.interp.routes.route_test` plants two-move routes on the next
``--steer-per-length`` puzzles of each length, which no probe saw, beside the shuffled-square,
opposite-move and random-vector controls. The table (route rate under the probe's edit, each
control's rate and the paired difference with its 95% interval) is printed and written atomically to
``--out`` (default ``runs/route_steering/<last checkpoint's name>.csv``). One torch thread.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

import gridlab
from gridlab.files import atomic_write
from gridlab.interp import collect_rollouts
from gridlab.interp.probes import probe_sweep
from gridlab.interp.routes import held_out, planted_routes, route_test

CONTROLS = ("shuffled", "swapped", "random")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", type=Path, nargs="+", help="checkpoint folders, in training order")
    parser.add_argument("--hooks", nargs="+", required=True, help="hook names or patterns to probe and edit")
    parser.add_argument("--strength", type=float, default=8.0, help="edit norm, in mean square norms")
    parser.add_argument("--probe-per-length", type=int, default=38)
    parser.add_argument("--steer-per-length", type=int, default=25)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for folder in tqdm(args.checkpoints, desc="checkpoints"):
        agent = gridlab.load(folder)
        probe_puzzles = agent.evaluation_puzzles(args.probe_per_length, per_length=True)
        pool = agent.evaluation_puzzles(args.probe_per_length + args.steer_per_length, per_length=True)
        rollouts = collect_rollouts(agent, probe_puzzles, progress=False)
        for probe in probe_sweep(
            agent, rollouts, args.hooks, "agent_direction", robot="target", progress=False
        ):
            routes = planted_routes(agent, held_out(probe, pool), length=2, robot="target", seed=0)
            conditions = ("probe", "none", *CONTROLS)
            test = route_test(
                agent, routes, probe, strength=args.strength, conditions=conditions, progress=False
            )
            table = test.table("route")
            row = {"checkpoint": str(folder), "hook": probe.hook, "probe F1": probe.score}
            row |= {"routes": len(routes), "probe": table.loc["probe", "rate"]}
            for control in CONTROLS:
                low, high = table.loc[control, ["diff_low", "diff_high"]]
                row |= {
                    control: table.loc[control, "rate"],
                    f"minus {control}": table.loc[control, "probe_minus"],
                }
                row |= {f"{control} low": low, f"{control} high": high}
            rows.append(row)
    frame = pd.DataFrame(rows)
    out = args.out or Path("runs/route_steering") / f"{args.checkpoints[-1].name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(frame.to_csv(index=False).encode()))
    print(frame.round(3).to_string())
    print(f"written to {out}")


if __name__ == "__main__":
    main()
