"""The quick start's main job: the whole research loop on a built-in default, in about a minute.

    train a SmallCNN agent on random 5x5 boards -> greedy held-out evaluation -> labelled
    rollouts -> activation cache -> probe sweeps with baselines (next move from every layer,
    next-move direction at every square from the spatial layers) -> saliency maps -> report

Everything lands in one output folder; `quickstart` returns the report as a dict and
``report.md`` says where each file is. ``budget="small"`` runs the same loop on a third of the
steps (the test suite uses it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gridlab.agent import Agent
from gridlab.env.rendering import save_figure
from gridlab.files import atomic_write, atomic_write_json, new_folder
from gridlab.interp.probes import ProbeResult, best_probe, plot_sweep, probe_sweep, save_results, sweep_table
from gridlab.interp.rollouts import collect_rollouts
from gridlab.interp.saliency import attribute, plot_saliency
from gridlab.training import TrainConfig, evaluation_puzzles, train


@dataclass(frozen=True)
class Budget:
    """How much work each stage does."""

    total_timesteps: int
    eval_episodes: int
    probe_episodes: int
    saliency_puzzles: int


BUDGETS = {
    "full": Budget(total_timesteps=150_000, eval_episodes=300, probe_episodes=400, saliency_puzzles=3),
    "small": Budget(total_timesteps=50_000, eval_episodes=100, probe_episodes=400, saliency_puzzles=1),
}
SALIENCY_METHODS = ("saliency", "integrated_gradients")


def quickstart_config(output_dir: Path, budget: Budget, seed: int = 0) -> TrainConfig:
    """SmallCNN on random 5x5 boards, one robot, optimal plans of 1-3 moves; stops at 95% success.

    fp32 on every machine: the same seed gives the same agent and report everywhere (``"auto"``
    would take bf16 where the CPU has it, and this network trains in about a minute either way).
    """
    return TrainConfig(
        policy="small_cnn", height=5, width=5, num_robots=1, min_moves=1, max_moves=3,
        total_timesteps=budget.total_timesteps, learning_rate=1e-3, n_envs=16, n_steps=64,
        batch_size=256, eval_freq=10_000, eval_episodes=200, target_success=0.95, save_freq=0,
        output_dir=str(output_dir), run_name="agent", seed=seed, progress_bar=False, precision="fp32",
    )  # fmt: skip


def quickstart(
    output_dir: str | Path = "runs/quickstart", budget: str = "full", seed: int = 0
) -> dict[str, Any]:
    """Run the main job and write its outputs under ``output_dir``; returns the report.

    Args:
        output_dir: Folder for the run, evaluation, rollouts, probes, saliency maps and report;
            when it exists (an earlier quick start), the first free ``output_dir-2``, ... instead.
        budget: ``"full"`` (about a minute on one CPU core) or ``"small"`` (a smoke-sized run).
        seed: Seed of training, evaluation boards, rollouts and probe splits.
    """
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    sizes, out = BUDGETS[budget], new_folder(output_dir)
    console = Console()
    timings: dict[str, float] = {}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:  # fmt: skip

        def stage(name: str) -> _Stage:
            return _Stage(progress, name, timings)

        with stage("training a SmallCNN agent on random 5x5 boards"):
            run = train(quickstart_config(out, sizes, seed))
            agent = Agent.load(run.checkpoint)
        with stage("greedy evaluation on held-out boards"):
            evaluation = agent.evaluate(
                episodes=sizes.eval_episodes, out=out / "evaluation.json", progress=False
            )
        with stage("labelled rollouts on held-out boards"):
            puzzles = [layout for layout, _ in evaluation_puzzles(agent.config, sizes.probe_episodes)]
            rollouts = collect_rollouts(agent, puzzles, deterministic=False, seed=seed, progress=False)
            rollouts.save(out / "rollouts")
        with stage("probe sweeps with baselines"):
            sweeps = {
                "optimal_actions": probe_sweep(
                    agent, rollouts, "*", "optimal_actions", seed=seed, progress=False
                ),
                "plan_direction": probe_sweep(
                    agent,
                    rollouts,
                    agent.spatial_hook_names(),
                    "plan_direction",
                    robot=0,
                    seed=seed,
                    progress=False,
                ),
            }
            for label, results in sweeps.items():
                config = {
                    "checkpoint": str(run.checkpoint),
                    "label": label,
                    "steps": len(rollouts),
                    "seed": seed,
                }
                save_results(results, out / "probes" / label, config)
                save_figure(plot_sweep(results), out / "probes" / label / "sweep.png", dpi=110)
        with stage("saliency maps"):
            saliency_files = _saliency_maps(agent, puzzles[: sizes.saliency_puzzles], out / "saliency")

    report = _report(out, run.checkpoint, run.history, evaluation.to_dict(), sweeps, saliency_files, timings)
    atomic_write_json(out / "report.json", report)
    atomic_write(out / "report.md", lambda f: f.write(_markdown(report).encode()))
    print(_markdown(report))
    return report


class _Stage:
    """A context manager that shows one stage as a spinner and records its wall time."""

    def __init__(self, progress: Progress, name: str, timings: dict[str, float]) -> None:
        self.progress, self.name, self.timings = progress, name, timings

    def __enter__(self) -> None:
        self.task = self.progress.add_task(self.name)
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] = round(time.perf_counter() - self.start, 1)
        self.progress.remove_task(self.task)
        if exc[0] is None:
            self.progress.console.print(f"[green]done[/green] {self.name} ({self.timings[self.name]} s)")


def _saliency_maps(agent: Agent, puzzles: list, folder: Path) -> list[str]:
    """One figure per puzzle and method: the summed map over the board, then each channel."""
    env = agent.make_env()
    files = []
    for index, layout in enumerate(puzzles):
        obs, _ = env.reset(options={"layout": layout})
        for method in SALIENCY_METHODS:
            maps = attribute(agent, obs[None], method=method)[0]
            fig = plot_saliency(
                layout, maps, env.channel_names, title=f"{method}, chosen action, puzzle {index}"
            )
            path = folder / f"puzzle{index}_{method}.png"
            save_figure(fig, path, dpi=110)
            files.append(str(path))
    return files


def _best(results: list[ProbeResult]) -> dict[str, Any]:
    """The hook chosen on validation: its test score, interval, collapse flag and baselines."""
    best = best_probe(results)
    above = [name for name, d in best.differences.items() if d["excludes_zero"] and d["value"] > 0]
    scores = {name: base[best.headline] for name, base in best.baselines.items()}
    return {"hook": best.hook, "kind": best.kind, "metric": best.headline, "score": best.score,
            "interval": best.interval, "collapsed": best.collapsed} | scores | {"above": above}  # fmt: skip


def _report(
    out: Path,
    checkpoint: Path,
    history: Any,
    evaluation: dict[str, Any],
    sweeps: dict[str, list[ProbeResult]],
    saliency_files: list[str],
    timings: dict[str, float],
) -> dict[str, Any]:
    return {
        "output_dir": str(out),
        "checkpoint": str(checkpoint),
        "training_steps": int(history["step"].iloc[-1]),
        "success_rate": evaluation["success_rate"],
        "moves_over_optimal": evaluation["moves_over_optimal"],
        "success_by_length": {str(k): v["success_rate"] for k, v in evaluation["by_length"].items()},
        "probes": {label: _best(results) for label, results in sweeps.items()},
        "probe_tables": {
            label: sweep_table(results).round(3).to_dict(orient="records")
            for label, results in sweeps.items()
        },
        "files": {
            "evaluation": str(out / "evaluation.json"),
            "rollouts": str(out / "rollouts"),
            "probes": {label: str(out / "probes" / label) for label in sweeps},
            "saliency": saliency_files,
        },
        "seconds": timings,
    }


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        "# gridlab quick start",
        "",
        f"Agent: SmallCNN, random 5x5 boards, one robot, 1-3 moves; {report['training_steps']:,} "
        f"training steps; checkpoint `{report['checkpoint']}`.",
        f"Held-out greedy success {report['success_rate']:.1%} (by optimal length: "
        + ", ".join(f"{k}: {v:.0%}" for k, v in report["success_by_length"].items())
        + f"); moves / optimal on solved puzzles {report['moves_over_optimal']:.2f}.",
        "",
        "Probe per label, the hook chosen on validation, scored on held-out test episodes (95% interval "
        "by bootstrap over episodes). Metric: macro F1 over the move classes; for plan_direction only "
        "on squares beyond the next move's path. Baselines: the majority class, a probe that sees "
        "only the next action, the observation, a random network of the same architecture, and the "
        "control task (random labels fixed per input type):",
        "",
        "| label | hook | probe [95% CI] | majority | next action | observation | random network "
        "| control task | above (interval excludes 0) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, best in report["probes"].items():
        low, high = best["interval"]
        flag = " (collapsed)" if best["collapsed"] else ""
        lines.append(
            f"| {label} | `{best['hook']}` | {best['score']:.3f} [{low:.3f}, {high:.3f}]{flag} | "
            + " | ".join(f"{best[name]:.3f}" for name in
                         ("majority", "next_action", "observation", "random_network", "control_task"))
            + f" | {', '.join(best['above']) or 'none'} |"
        )  # fmt: skip
    files = report["files"]
    lines += [
        "",
        "Files:",
        f"- evaluation: `{files['evaluation']}`",
        f"- labelled rollouts: `{files['rollouts']}`",
        *(
            f"- probes of {label}: `{path}` (metrics.json, weights.npz, sweep.png)"
            for label, path in files["probes"].items()
        ),
        f"- saliency maps: {', '.join(f'`{p}`' for p in files['saliency'])}",
        "",
        "Seconds per stage: " + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()),
    ]
    return "\n".join(lines)
