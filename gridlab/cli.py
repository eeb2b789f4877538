"""The ``gridlab`` command.

``gridlab quickstart`` runs the whole loop on a built-in default (train, evaluate, probe, draw
saliency maps, report); ``gridlab demo`` draws a random puzzle, solves it and prints the board
and the optimal plan;
``gridlab solve BOARD.txt`` solves a puzzle written as text (the format of `render_ascii`);
``gridlab puzzles generate|show`` builds and inspects puzzle banks; ``gridlab train`` and
``gridlab evaluate CHECKPOINT`` train and evaluate agents; ``gridlab probe CHECKPOINT`` fits
linear probes and ``gridlab saliency CHECKPOINT`` draws saliency maps.
"""

from __future__ import annotations

import argparse
import sys
import time
import typing
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from gridlab.agent import Agent
from gridlab.env.ascii import parse_ascii, render_ascii
from gridlab.env.board import FixedLayout, replay
from gridlab.env.generator import (
    DEFAULT_BORDER_DENSITY,
    DEFAULT_CORNER_DENSITY,
    MAX_MOVES_LIMIT,
    BoardSpec,
    random_layout,
)
from gridlab.env.puzzle_bank import SPLITS, PuzzleBank, generate_bank
from gridlab.env.rendering import describe_plan, plot_board
from gridlab.env.solver import DEFAULT_MAX_DEPTH, optimal_first_moves, solve
from gridlab.interp import collect_rollouts
from gridlab.interp.probes import plot_sweep, probe_sweep, save_results, sweep_table
from gridlab.interp.saliency import METHODS, attribute, plot_saliency
from gridlab.training import TrainConfig, evaluation_puzzles, train


def _print_solution(layout: FixedLayout, max_depth: int, plot: Path | None) -> int:
    print(render_ascii(layout))
    print(f"target robot {layout.target_robot} -> goal {layout.goal_position}")
    start = time.perf_counter()
    plan = solve(layout, max_depth=max_depth)
    elapsed = time.perf_counter() - start
    if plan is None:
        print(f"no solution within {max_depth} moves ({elapsed * 1e3:.1f} ms)")
        return 1
    print(f"optimal plan, {len(plan)} moves ({elapsed * 1e3:.1f} ms): {describe_plan(plan)}")
    firsts = sorted(optimal_first_moves(layout, max_depth))
    print(f"optimal first moves: {describe_plan(firsts)}")
    robots, _ = replay(layout, plan)
    print(render_ascii(layout, robots))
    if plot is not None:
        ax = plot_board(layout, plan=plan, title=f"optimal plan: {len(plan)} moves")
        plot.parent.mkdir(parents=True, exist_ok=True)
        ax.figure.savefig(plot, dpi=120, bbox_inches="tight")
        print(f"plot written to {plot}")
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from gridlab.quickstart import quickstart  # the whole loop: imported only for this command

    quickstart(args.output, args.budget, args.seed)
    return 0


def _demo(args: argparse.Namespace) -> int:
    spec = BoardSpec(args.height, args.width, args.robots)
    layout, _ = random_layout(spec, np.random.default_rng(args.seed), args.min_moves, args.max_moves)
    print(f"random {args.height}x{args.width} puzzle, {args.robots} robots, seed {args.seed}")
    return _print_solution(layout, args.max_moves, args.plot)


def _solve(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.board == "-" else Path(args.board).read_text()
    return _print_solution(parse_ascii(text), args.max_depth, args.plot)


def _puzzles_generate(args: argparse.Namespace) -> int:
    spec = BoardSpec(args.height, args.width, args.robots, args.corner_density, args.border_density)
    bank = generate_bank(
        args.path, spec, args.per_length, args.min_moves, args.max_moves, args.seed, args.heldout
    )
    print(f"bank {args.path}: {len(bank)} puzzles")
    _print_counts(bank)
    return 0


def _puzzles_show(args: argparse.Namespace) -> int:
    bank = PuzzleBank.load(args.path)
    spec = bank.spec
    print(
        f"bank {args.path}: {len(bank)} puzzles of {spec.height}x{spec.width} boards with "
        f"{spec.num_robots} robots (corner_density={spec.corner_density:.4g}, "
        f"border_density={spec.border_density:.4g}), seed {bank.seed}, "
        f"held-out fraction {bank.heldout_fraction}"
    )
    _print_counts(bank)
    rows = bank.indices(args.length, args.split)
    for row in rows[: args.count]:
        layout = bank.layout(int(row))
        print(f"\npuzzle {row}, optimal length {bank.arrays['length'][row]}:")
        print(render_ascii(layout))
        print(f"optimal plan: {describe_plan(solve(layout, max_depth=MAX_MOVES_LIMIT) or [])}")
    return 0


def _print_counts(bank: PuzzleBank) -> None:
    train, heldout = bank.counts("train"), bank.counts("heldout")
    print(f"{'optimal':>8} {'train':>7} {'heldout':>8}")
    for length in sorted(set(train) | set(heldout)):
        print(f"{length:>8} {train.get(length, 0):>7} {heldout.get(length, 0):>8}")


def _train(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in vars(args).items() if k in TrainConfig.field_help()}
    base = TrainConfig.load(args.config).to_dict() if args.config else {}
    config = TrainConfig.from_dict(base | overrides)
    run = train(config, resume_from=args.resume_from)
    print(f"\n{run.agent.evaluate(progress=False).table()}")
    state = "interrupted; " if run.interrupted else ""
    print(f"\n{state}checkpoint written to {run.checkpoint}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    agent = Agent.load(args.checkpoint)
    out = args.out or _unused(Path(args.checkpoint) / "evaluation.json")  # never replaces a saved report
    result = agent.evaluate(episodes=args.episodes, out=out, per_length=args.per_length)
    print(f"{agent}\n{result.table()}\nwritten to {out}")
    return 0


def _unused(path: Path) -> Path:
    """``path``, or the first of ``stem-2.suffix``, ``stem-3.suffix``, ... that does not exist yet."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _probe(args: argparse.Namespace) -> int:
    agent = Agent.load(args.checkpoint)
    puzzles = [layout for layout, _ in evaluation_puzzles(agent.config, args.episodes)]
    rollouts = collect_rollouts(agent, puzzles, deterministic=not args.sampled, seed=args.seed)
    results = probe_sweep(agent, rollouts, args.hooks, args.label, args.robot, seed=args.seed)
    print(sweep_table(results).to_string(index=False, float_format="%.3f"))
    robot = "" if args.robot is None else f"-robot{args.robot}"
    out = args.out or Path("probes") / f"{agent.config.name()}-{args.label}{robot}"
    config = {
        "checkpoint": str(args.checkpoint), "label": args.label, "robot": args.robot, "hooks": args.hooks,
        "episodes": args.episodes, "steps": len(rollouts), "sampled": args.sampled, "seed": args.seed,
    }  # fmt: skip
    save_results(results, out, config)
    ax = plot_sweep(results)
    ax.figure.savefig(Path(out) / "sweep.png", dpi=120, bbox_inches="tight")
    print(f"results written to {out} (metrics.json, weights.npz, config.json, sweep.png)")
    return 0


def _saliency(args: argparse.Namespace) -> int:
    agent = Agent.load(args.checkpoint)
    layout, _ = evaluation_puzzles(agent.config, args.puzzle + 1)[args.puzzle]
    env = agent.make_env()
    obs, _ = env.reset(options={"layout": layout})
    target = args.target if args.target in ("chosen", "value") else int(args.target)
    maps = attribute(agent, obs[None], method=args.method, target=target)[0]
    if maps.ndim != 3:
        raise ValueError("saliency maps are drawn for image observations; this agent sees obs_mode="
                         f"{agent.config.obs_mode!r}")  # fmt: skip
    fig = plot_saliency(layout, maps, env.channel_names, title=f"{args.method}, target={args.target}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    print(f"{args.method} map of puzzle {args.puzzle} written to {args.out}")
    return 0


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One ``--option`` per `TrainConfig` field, typed from its annotation."""
    hints = typing.get_type_hints(TrainConfig)
    for name, help_text in TrainConfig.field_help().items():
        flag = "--" + name.replace("_", "-")
        kind = hints[name]
        optional = type(None) in typing.get_args(kind)
        base = next(t for t in typing.get_args(kind) if t is not type(None)) if optional else kind
        if base is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text
            )
        elif base in (int, float, str):
            parser.add_argument(flag, type=_optional(base) if optional else base, default=argparse.SUPPRESS,
                                help=help_text + (" ('none' to unset)" if optional else ""))  # fmt: skip


def _optional(kind: type) -> typing.Callable[[str], object]:
    def parse(text: str) -> object:
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridlab", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    quick = commands.add_parser(
        "quickstart", help="train a small agent, evaluate, probe and draw saliency maps (about a minute)"
    )
    quick.add_argument("--output", type=Path, default=Path("runs/quickstart"), help="output folder")
    quick.add_argument(
        "--budget", choices=("full", "small"), default="full", help="full, or a smoke-sized run"
    )
    quick.add_argument("--seed", type=int, default=0, help="seed of training, boards and probes")
    quick.set_defaults(func=_quickstart)

    demo = commands.add_parser("demo", help="draw a random puzzle, solve it, print the optimal plan")
    demo.add_argument("--height", type=int, default=8, help="board rows (4-16)")
    demo.add_argument("--width", type=int, default=8, help="board columns (4-16)")
    demo.add_argument("--robots", type=int, default=3, help="number of robots (1-5)")
    demo.add_argument("--min-moves", type=int, default=4, help="shortest optimal plan to accept")
    demo.add_argument("--max-moves", type=int, default=8, help="longest optimal plan to accept")
    demo.add_argument("--seed", type=int, default=0, help="random seed (same seed, same puzzle)")
    demo.add_argument("--plot", type=Path, default=None, help="also save a picture of the plan here")
    demo.set_defaults(func=_demo)

    solve_cmd = commands.add_parser("solve", help="solve a puzzle written as text ('-' reads stdin)")
    solve_cmd.add_argument("board", help="file holding a board in the format of `gridlab demo`")
    solve_cmd.add_argument("--max-depth", type=int, default=DEFAULT_MAX_DEPTH, help="longest plan to search")
    solve_cmd.add_argument("--plot", type=Path, default=None, help="also save a picture of the plan here")
    solve_cmd.set_defaults(func=_solve)

    train_cmd = commands.add_parser("train", help="train an agent (every TrainConfig field is an option)")
    train_cmd.add_argument(
        "--config", type=Path, default=None, help="start from this YAML or JSON config file"
    )
    train_cmd.add_argument(
        "--resume-from", type=Path, default=None, help="continue this run from one of its checkpoints"
    )
    _add_config_options(train_cmd)
    train_cmd.set_defaults(func=_train)

    evaluate_cmd = commands.add_parser(
        "evaluate", help="greedy evaluation of a checkpoint on held-out puzzles"
    )
    evaluate_cmd.add_argument("checkpoint", help="checkpoint folder")
    evaluate_cmd.add_argument(
        "--episodes", type=int, default=None, help="puzzles to play (default: the run's)"
    )
    evaluate_cmd.add_argument(
        "--per-length", action="store_true", help="play EPISODES puzzles of each optimal length (banks)"
    )
    evaluate_cmd.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON file (default: CHECKPOINT/evaluation.json, or evaluation-2.json, ... if taken)",
    )
    evaluate_cmd.set_defaults(func=_evaluate)

    probe_cmd = commands.add_parser("probe", help="linear-probe sweep over hook points, with baselines")
    probe_cmd.add_argument("checkpoint", help="checkpoint folder")
    probe_cmd.add_argument(
        "--label", required=True, help="label to probe, e.g. optimal_actions, plan_direction"
    )
    probe_cmd.add_argument("--robot", type=int, default=None, help="robot for per-robot map labels")
    probe_cmd.add_argument("--hooks", nargs="+", default=["*"], help="hook names or patterns (default: all)")
    probe_cmd.add_argument("--episodes", type=int, default=100, help="held-out puzzles to play")
    probe_cmd.add_argument("--sampled", action="store_true", help="sample actions instead of greedy play")
    probe_cmd.add_argument("--seed", type=int, default=0, help="seed of sampling, split and baselines")
    probe_cmd.add_argument(
        "--out", type=Path, default=None, help="results folder (default: probes/RUN-LABEL)"
    )
    probe_cmd.set_defaults(func=_probe)

    saliency_cmd = commands.add_parser("saliency", help="draw a saliency map of a held-out puzzle")
    saliency_cmd.add_argument("checkpoint", help="checkpoint folder")
    saliency_cmd.add_argument(
        "--method", default="integrated_gradients", choices=METHODS, help="captum method"
    )
    saliency_cmd.add_argument("--target", default="chosen", help="'chosen', 'value' or an action id")
    saliency_cmd.add_argument("--puzzle", type=int, default=0, help="index among the run's held-out puzzles")
    saliency_cmd.add_argument("--out", type=Path, default=Path("saliency.png"), help="PNG file to write")
    saliency_cmd.set_defaults(func=_saliency)

    puzzles = commands.add_parser("puzzles", help="generate and inspect puzzle banks")
    bank_commands = puzzles.add_subparsers(dest="puzzles_command", required=True)
    generate = bank_commands.add_parser("generate", help="create a bank, or top up an existing one")
    generate.add_argument("path", type=Path, help="bank folder")
    generate.add_argument("--height", type=int, default=8, help="board rows (4-16)")
    generate.add_argument("--width", type=int, default=8, help="board columns (4-16)")
    generate.add_argument("--robots", type=int, default=2, help="number of robots (1-5)")
    generate.add_argument(
        "--corner-density", type=float, default=DEFAULT_CORNER_DENSITY, help="L corners per cell"
    )
    generate.add_argument(
        "--border-density", type=float, default=DEFAULT_BORDER_DENSITY, help="border pieces per cell"
    )
    generate.add_argument("--min-moves", type=int, default=1, help="shortest optimal length")
    generate.add_argument("--max-moves", type=int, default=8, help="longest optimal length")
    generate.add_argument("--per-length", type=int, default=1000, help="puzzles per optimal length")
    generate.add_argument("--seed", type=int, default=0, help="generation seed")
    generate.add_argument("--heldout", type=float, default=0.1, help="share held out for evaluation")
    generate.set_defaults(func=_puzzles_generate)
    show = bank_commands.add_parser("show", help="print a bank's counts and some of its puzzles")
    show.add_argument("path", type=Path, help="bank folder")
    show.add_argument("--split", default="train", choices=SPLITS, help="which split to show puzzles from")
    show.add_argument("--length", type=int, default=None, help="only puzzles of this optimal length")
    show.add_argument("--count", type=int, default=1, help="how many puzzles to print")
    show.set_defaults(func=_puzzles_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The networks are small: one thread is fastest, and more only contend on a busy machine
    # (a DRC steps 5x slower with two). Training sets its own (TrainConfig.threads).
    torch.set_num_threads(1)
    try:
        return args.func(args)
    except (ValueError, RuntimeError, OSError) as error:  # caller mistakes: no traceback
        print(f"gridlab {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
