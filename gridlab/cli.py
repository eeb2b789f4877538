"""The ``gridlab`` command.

``gridlab quickstart`` runs the whole loop on a built-in default (train, evaluate, probe, draw
saliency maps, report); ``gridlab demo`` draws a random puzzle, solves it and prints the board
and the optimal plan;
``gridlab solve BOARD.txt`` solves a puzzle written as text (the format of `render_ascii`);
``gridlab puzzles generate|show`` builds and inspects puzzle banks; ``gridlab train`` and
``gridlab evaluate CHECKPOINT`` train and evaluate agents; ``gridlab probe CHECKPOINT`` fits
linear probes and ``gridlab saliency CHECKPOINT`` draws saliency maps; ``gridlab sweep CONFIG``
trains many runs on Ray Tune, ``gridlab sweep-resume`` continues one and ``gridlab sweep-report``
rebuilds its table.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from gridlab import __version__
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
from gridlab.env.rendering import describe_plan, plot_board, save_figure
from gridlab.env.solver import DEFAULT_MAX_DEPTH, optimal_first_moves, solve
from gridlab.files import new_folder
from gridlab.training.config import TrainConfig, whole_number

if typing.TYPE_CHECKING:
    from gridlab.agent import Agent
    from gridlab.sweeps import Sweep
    from gridlab.training.evaluation import EvaluationResult

# torch, stable-baselines3, scikit-learn and captum take seconds to import: the commands that use
# them import them inside, so `gridlab --help` and `gridlab solve` start fast (tests/test_imports.py).

_INTERRUPTED = 130  # exit status of a run stopped early by Ctrl-C or SIGTERM (the shell's 128 + SIGINT)
REFERENCE_BOARDS = 64  # baselines of expected_gradients in `gridlab saliency`: the first held-out boards


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
        save_figure(plot_board(layout, plan=plan, title=f"optimal plan: {len(plan)} moves"), plot)
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
    from gridlab.training.train import train  # sets torch's threads itself (TrainConfig.threads)

    overrides = {k: v for k, v in vars(args).items() if k in TrainConfig.field_help()}
    base = TrainConfig.load(args.config).to_dict() if args.config else {}
    config = TrainConfig.from_dict(base | overrides)
    run = train(config, resume_from=args.resume_from)
    skipped = "final evaluation skipped (a second Ctrl-C)"
    print(f"\n{skipped if run.evaluation is None else run.evaluation.table()}")
    state = "interrupted; " if run.interrupted else ""
    print(f"\n{state}checkpoint written to {run.checkpoint}")
    return _INTERRUPTED if run.interrupted else 0


def _sweep(args: argparse.Namespace) -> int:
    from gridlab.sweeps import sweep
    from gridlab.sweeps.space import parse_grid, parse_sample

    result = sweep(
        TrainConfig.load(args.config), parse_grid(args.grid), parse_sample(args.sample), samples=args.samples,
        name=args.name, output_dir=args.output_dir, address=args.address, max_concurrent=args.max_concurrent,
        early_stop=args.early_stop, grace_steps=args.grace_steps, verbose=args.verbose,
    )  # fmt: skip
    return _print_sweep(result)


def _sweep_resume(args: argparse.Namespace) -> int:
    from gridlab.sweeps import resume_sweep

    return _print_sweep(resume_sweep(args.sweep, address=args.address))


def _sweep_report(args: argparse.Namespace) -> int:
    from gridlab.sweeps.report import read_sweep, write_report

    return _print_sweep(write_report(read_sweep(args.sweep)))


def _print_sweep(result: Sweep) -> int:
    """The table without paths and errors' tracebacks; 130 if some trials did not finish."""
    shown = result.table.drop(columns=["checkpoint"]).assign(error=result.table["error"].fillna("").str[:60])
    print(shown.to_string(index=False, float_format="{:.3f}".format))
    print(f"\ntable, learning curves and runs in {result.folder}")
    if result.unfinished:
        print(f"{result.unfinished} trials unfinished; continue with: gridlab sweep-resume {result.folder}")
    return _INTERRUPTED if result.unfinished else 0


def _evaluate(args: argparse.Namespace) -> int:
    agent = _load_agent(args.checkpoint)
    # Never into the checkpoint (it stays as it was published) and never over a saved report.
    default = Path("runs/evaluations") / Path(args.checkpoint).resolve().name / "evaluation.json"
    out = args.out or _unused(default)
    result = agent.evaluate(episodes=args.episodes, out=out, per_length=args.per_length)
    print(f"{agent}\n{result.table()}\nwritten to {out}")
    if args.against is not None:
        print(_paired(agent, result, _load_agent(args.against), args))
    return 0


def _paired(agent: Agent, result: EvaluationResult, other: Agent, args: argparse.Namespace) -> str:
    """``other`` on the puzzles ``agent`` just played, and the paired difference (McNemar)."""
    from gridlab.interp.scores import mcnemar, wilson
    from gridlab.training.evaluation import evaluate

    boards = [(a.height, a.width, a.num_robots) for a in (agent.make_env(), other.make_env())]
    if boards[0] != boards[1]:
        raise ValueError(
            f"--against {args.against} plays {boards[1][0]}x{boards[1][1]} boards with {boards[1][2]} "
            f"robots, {args.checkpoint} {boards[0][0]}x{boards[0][1]} with {boards[0][2]}: compare agents of "
            "one task"
        )
    puzzles = agent.evaluation_puzzles(args.episodes, per_length=args.per_length)
    theirs = evaluate(other.act, other.make_env(), puzzles)
    lines = [f"on the same {len(puzzles)} puzzles (95% Wilson intervals):"]
    for name, played in ((args.checkpoint, result), (args.against, theirs)):
        low, high = wilson(int(played.solved.sum()), len(played.solved))
        lines.append(f"  {name}: {played.success_rate:.1%} [{low:.1%}, {high:.1%}]")
    paired = mcnemar(result.solved, theirs.solved)
    low, high = paired["ci"]
    lines.append(
        f"  difference {paired['difference']:+.1%} [{low:+.1%}, {high:+.1%}], "
        f"McNemar p = {paired['p_value']:.2g} ({paired['only_a']} solved by the first alone, "
        f"{paired['only_b']} by the second alone)"
    )
    return "\n".join(lines)


def _unused(path: Path) -> Path:
    """``path``, or the first of ``stem-2.suffix``, ``stem-3.suffix``, ... that does not exist yet."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _load_agent(checkpoint: str) -> Agent:
    """Open a checkpoint folder as an `Agent`, with torch on one CPU thread.

    The networks are small: one thread is fastest, and more only contend on a busy machine (a DRC
    steps 5x slower with two). Training sets its own (TrainConfig.threads).

    Args:
        checkpoint: The checkpoint folder.

    Returns:
        The agent.
    """
    import torch

    from gridlab.agent import Agent

    torch.set_num_threads(1)
    return Agent.load(checkpoint)


def _probe(args: argparse.Namespace) -> int:
    from gridlab.interp.probes import best_probe, plot_sweep, probe_sweep, save_results, sweep_table
    from gridlab.interp.rollouts import collect_rollouts

    agent = _load_agent(args.checkpoint)
    puzzles = [layout for layout, _ in agent.evaluation_puzzles(args.episodes)]
    rollouts = collect_rollouts(agent, puzzles, deterministic=not args.sampled, seed=args.seed)
    results = probe_sweep(
        agent, rollouts, args.hooks, args.label, args.robot, seed=args.seed, features=args.features
    )
    print(sweep_table(results).to_string(index=False, float_format="%.3f"))
    best = best_probe(results)
    low, high = best.interval
    collapsed = " (collapsed: one class nearly everywhere)" if best.collapsed else ""
    print(f"chosen on validation: {best.hook}, {best.headline} {best.score:.3f} [{low:.3f}, {high:.3f}] "
          f"on test{collapsed}")  # fmt: skip
    robot = "" if args.robot is None else f"-robot{args.robot}"
    name = f"{Path(args.checkpoint).resolve().name}-{args.label}{robot}"
    out = args.out or new_folder(Path("runs/probes") / name)  # never over another sweep's results
    config = {
        "checkpoint": str(args.checkpoint), "label": args.label, "robot": args.robot, "hooks": args.hooks,
        "episodes": args.episodes, "steps": len(rollouts), "sampled": args.sampled, "seed": args.seed,
        "features": args.features,
    }  # fmt: skip
    save_results(results, out, config)
    save_figure(plot_sweep(results), Path(out) / "sweep.png")
    print(f"results written to {out} (metrics.json, weights.npz, config.json, sweep.png)")
    return 0


def _saliency(args: argparse.Namespace) -> int:
    from gridlab.interp.saliency import attribute, plot_saliency

    if args.puzzle < 0:
        raise ValueError(
            f"--puzzle {args.puzzle} is out of range; expected an index of 0 or more into the run's "
            "held-out puzzles"
        )
    agent = _load_agent(args.checkpoint)
    puzzles = agent.evaluation_puzzles(max(args.puzzle + 1, REFERENCE_BOARDS))
    if args.puzzle >= len(puzzles):
        raise ValueError(
            f"--puzzle {args.puzzle} is out of range; this run has {len(puzzles)} held-out puzzles, "
            f"so expected 0 to {len(puzzles) - 1}"
        )
    layout, _ = puzzles[args.puzzle]
    env = agent.make_env()
    obs, _ = env.reset(options={"layout": layout})
    target = args.target if args.target in ("chosen", "value") else int(args.target)
    boards = [board for board, _ in puzzles[:REFERENCE_BOARDS]]
    references = np.stack([env.reset(options={"layout": board})[0] for board in boards])
    maps = attribute(agent, obs[None], method=args.method, target=target, references=references)[0]
    if maps.ndim != 3:
        raise ValueError("saliency maps are drawn for image observations; this agent sees obs_mode="
                         f"{agent.config.obs_mode!r}")  # fmt: skip
    name = f"{Path(args.checkpoint).resolve().name}-puzzle{args.puzzle}-{args.method}.png"
    out = args.out or _unused(Path("runs/saliency") / name)
    save_figure(
        plot_saliency(layout, maps, env.channel_names, title=f"{args.method}, target={args.target}"), out
    )
    print(f"{args.method} map of puzzle {args.puzzle} written to {out}")
    return 0


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One ``--option`` per `TrainConfig` field, typed from its annotation, with its default and
    choices in the help. Options left out stay out of the namespace (a ``--config`` file or the
    field's default fills them)."""
    hints = typing.get_type_hints(TrainConfig)
    defaults = TrainConfig().to_dict()
    for name, help_text in TrainConfig.field_help().items():
        flag = "--" + name.replace("_", "-")
        kind = hints[name]
        optional = type(None) in typing.get_args(kind)
        base = next(t for t in typing.get_args(kind) if t is not type(None)) if optional else kind
        unset = "; 'none' to unset" if optional else ""
        full_help = f"{help_text} (default: {defaults[name]}{unset})"
        if base is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=full_help
            )
        elif base in (int, float, str):
            parse = _integer if base is int else base
            choices: Sequence[str | None] | None = TrainConfig.choices().get(name)
            if choices is not None and optional:
                choices = (*choices, None)
            parser.add_argument(flag, type=_optional(parse) if optional else parse, choices=choices,
                                default=argparse.SUPPRESS, help=full_help)  # fmt: skip


def _optional(kind: typing.Callable[[str], object]) -> typing.Callable[[str], object]:
    def parse(text: str) -> object:
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _robot(text: str) -> int | str:
    """The ``type`` of ``--robot``: a robot number, or the role ``target`` or ``other``."""
    return text if text in ("target", "other") else _integer(text)


def _integer(text: str) -> int:
    """The ``type`` of integer options: ``20000``, ``2e4`` and ``20_000`` are all 20000.

    Args:
        text: The option's value as typed.

    Returns:
        The integer.

    Raises:
        argparse.ArgumentTypeError: ``text`` is not a whole number (argparse reports it as a usage
            error naming the option).
    """
    try:
        return whole_number(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number such as 20000, 2e4 or 20_000; got {text!r}"
        ) from None


class _ChoicesOf:
    """The choices of an option, held by a module that is slow to import: read when the option is
    parsed or its help printed, not when the parser is built (give the option a ``metavar``)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def _choices(self) -> Sequence[str]:
        return getattr(importlib.import_module(self.module), self.name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._choices())

    def __contains__(self, value: object) -> bool:
        return value in self._choices()


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows each option's default, except None and False (options that say in words
    what happens without them, and flags that are off unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose help shows defaults (`_HelpFormatter`); subcommands get one too."""

    def __init__(self, **kwargs: typing.Any) -> None:
        super().__init__(**({"formatter_class": _HelpFormatter} | kwargs))


def build_parser() -> argparse.ArgumentParser:
    """The ``gridlab`` argument parser: one subcommand per job; every help shows defaults and choices.

    Returns:
        The parser (``main`` runs ``args.func(args)`` on what it parses).
    """
    parser = _Parser(prog="gridlab", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    quick = commands.add_parser(
        "quickstart", help="train a small agent, evaluate, probe and draw saliency maps (about a minute)"
    )
    quick.add_argument("--output", type=Path, default=Path("runs/quickstart"), help="output folder")
    quick.add_argument(
        "--budget", choices=("full", "small"), default="full", help="full, or a smoke-sized run"
    )
    quick.add_argument("--seed", type=_integer, default=0, help="seed of training, boards and probes")
    quick.set_defaults(func=_quickstart)

    demo = commands.add_parser("demo", help="draw a random puzzle, solve it, print the optimal plan")
    demo.add_argument("--height", type=_integer, default=8, help="board rows (4-16)")
    demo.add_argument("--width", type=_integer, default=8, help="board columns (4-16)")
    demo.add_argument("--robots", type=_integer, default=3, help="number of robots (1-5)")
    demo.add_argument("--min-moves", type=_integer, default=4, help="shortest optimal plan to accept")
    demo.add_argument("--max-moves", type=_integer, default=8, help="longest optimal plan to accept")
    demo.add_argument("--seed", type=_integer, default=0, help="random seed (same seed, same puzzle)")
    demo.add_argument("--plot", type=Path, default=None, help="also save a picture of the plan here")
    demo.set_defaults(func=_demo)

    solve_cmd = commands.add_parser("solve", help="solve a puzzle written as text ('-' reads stdin)")
    solve_cmd.add_argument("board", help="file holding a board in the format of `gridlab demo`")
    solve_cmd.add_argument(
        "--max-depth", type=_integer, default=DEFAULT_MAX_DEPTH, help="longest plan to search"
    )
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

    sweep_cmd = commands.add_parser(
        "sweep", help="train many runs as one Ray Tune sweep (every combination of --grid, times --samples)"
    )
    sweep_cmd.add_argument("config", type=Path, help="YAML or JSON config every trial starts from")
    sweep_cmd.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="FIELD=V1,V2",
        help="values to try, e.g. seed=0,1,2 (repeat for more fields; every combination runs)",
    )
    sweep_cmd.add_argument(
        "--sample",
        action="append",
        default=[],
        metavar="FIELD=KIND:ARGS",
        help="a distribution drawn for each sample: choice:a,b, uniform:LOW:HIGH, "
        "loguniform:LOW:HIGH, randint:LOW:HIGH",
    )
    sweep_cmd.add_argument("--samples", type=_integer, default=1, help="repeats of the grid (random draws)")
    sweep_cmd.add_argument(
        "--name", default=None, help="sweep folder name (default: the config's run name-sweep)"
    )
    sweep_cmd.add_argument(
        "--output-dir", type=Path, default=Path("runs/sweeps"), help="where sweep folders go"
    )
    sweep_cmd.add_argument(
        "--address",
        default=None,
        help="join this Ray cluster (HOST:PORT of `ray start --head`; default: Ray on this machine)",
    )
    sweep_cmd.add_argument("--max-concurrent", type=_integer, default=None, help="most trials at once")
    sweep_cmd.add_argument("--early-stop", action="store_true", help="stop trailing trials early (ASHA)")
    sweep_cmd.add_argument(
        "--grace-steps",
        type=_integer,
        default=None,
        help="steps before ASHA may stop a trial (default: a quarter of total_timesteps)",
    )
    sweep_cmd.add_argument("--verbose", type=_integer, default=1, choices=(0, 1, 2), help="Ray Tune's output")
    sweep_cmd.set_defaults(func=_sweep)

    resume_cmd = commands.add_parser("sweep-resume", help="continue an interrupted sweep")
    resume_cmd.add_argument("sweep", type=Path, help="sweep folder")
    resume_cmd.add_argument(
        "--address", default=None, help="join this Ray cluster (default: Ray on this machine)"
    )
    resume_cmd.set_defaults(func=_sweep_resume)

    report_cmd = commands.add_parser(
        "sweep-report", help="rebuild a sweep's table and learning curves from disk"
    )
    report_cmd.add_argument("sweep", type=Path, help="sweep folder")
    report_cmd.set_defaults(func=_sweep_report)

    evaluate_cmd = commands.add_parser(
        "evaluate", help="greedy evaluation of a checkpoint on held-out puzzles"
    )
    evaluate_cmd.add_argument("checkpoint", help="checkpoint folder")
    evaluate_cmd.add_argument(
        "--episodes", type=_integer, default=None, help="puzzles to play (default: the run's)"
    )
    evaluate_cmd.add_argument(
        "--per-length", action="store_true", help="play EPISODES puzzles of each optimal length (banks)"
    )
    evaluate_cmd.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON file (default: runs/evaluations/NAME/evaluation.json in the current folder, NAME "
        "being the checkpoint folder's name, or evaluation-2.json, ... if taken; never written "
        "into the checkpoint)",
    )
    evaluate_cmd.add_argument(
        "--against",
        default=None,
        metavar="CHECKPOINT",
        help="also play this checkpoint on the same puzzles and print the paired difference (McNemar)",
    )
    evaluate_cmd.set_defaults(func=_evaluate)

    probe_cmd = commands.add_parser("probe", help="linear-probe sweep over hook points, with baselines")
    probe_cmd.add_argument("checkpoint", help="checkpoint folder")
    probe_cmd.add_argument(
        "--label", required=True, help="label to probe, e.g. optimal_actions, plan_direction"
    )
    probe_cmd.add_argument(
        "--robot", type=_robot, default=None, help="robot for per-robot map labels: a number, target or other"
    )
    probe_cmd.add_argument(
        "--features", choices=("1x1", "3x3", "position"), default="1x1", help="square probe feature family"
    )
    probe_cmd.add_argument("--hooks", nargs="+", default=["*"], help="hook names or patterns ('*': all)")
    probe_cmd.add_argument("--episodes", type=_integer, default=100, help="held-out puzzles to play")
    probe_cmd.add_argument("--sampled", action="store_true", help="sample actions instead of greedy play")
    probe_cmd.add_argument("--seed", type=_integer, default=0, help="seed of sampling, split and baselines")
    probe_cmd.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results folder (default: runs/probes/CHECKPOINT-LABEL, or CHECKPOINT-LABEL-2, ... if taken)",
    )
    probe_cmd.set_defaults(func=_probe)

    saliency_cmd = commands.add_parser("saliency", help="draw a saliency map of a held-out puzzle")
    saliency_cmd.add_argument("checkpoint", help="checkpoint folder")
    saliency_cmd.add_argument(
        "--method",
        default="integrated_gradients",
        choices=_ChoicesOf("gridlab.interp.saliency", "METHODS"),  # captum: read only when used
        metavar="METHOD",
        help="captum method: %(choices)s (expected_gradients draws its baselines from the first "
        f"{REFERENCE_BOARDS} held-out boards)",
    )
    saliency_cmd.add_argument("--target", default="chosen", help="'chosen', 'value' or an action id")
    saliency_cmd.add_argument(
        "--puzzle", type=_integer, default=0, help="index among the run's held-out puzzles"
    )
    saliency_cmd.add_argument(
        "--out",
        type=Path,
        default=None,
        help="PNG file (default: runs/saliency/CHECKPOINT-puzzleN-METHOD.png, or -2, ... if taken)",
    )
    saliency_cmd.set_defaults(func=_saliency)

    puzzles = commands.add_parser("puzzles", help="generate and inspect puzzle banks")
    bank_commands = puzzles.add_subparsers(dest="puzzles_command", required=True, parser_class=_Parser)
    generate = bank_commands.add_parser("generate", help="create a bank, or top up an existing one")
    generate.add_argument("path", type=Path, help="bank folder")
    generate.add_argument("--height", type=_integer, default=8, help="board rows (4-16)")
    generate.add_argument("--width", type=_integer, default=8, help="board columns (4-16)")
    generate.add_argument("--robots", type=_integer, default=2, help="number of robots (1-5)")
    generate.add_argument(
        "--corner-density", type=float, default=DEFAULT_CORNER_DENSITY, help="L corners per cell"
    )
    generate.add_argument(
        "--border-density", type=float, default=DEFAULT_BORDER_DENSITY, help="border pieces per cell"
    )
    generate.add_argument("--min-moves", type=_integer, default=1, help="shortest optimal length")
    generate.add_argument("--max-moves", type=_integer, default=8, help="longest optimal length")
    generate.add_argument("--per-length", type=_integer, default=1000, help="puzzles per optimal length")
    generate.add_argument("--seed", type=_integer, default=0, help="generation seed")
    generate.add_argument("--heldout", type=float, default=0.1, help="share held out for evaluation")
    generate.set_defaults(func=_puzzles_generate)
    show = bank_commands.add_parser("show", help="print a bank's counts and some of its puzzles")
    show.add_argument("path", type=Path, help="bank folder")
    show.add_argument("--split", default="train", choices=SPLITS, help="which split to show puzzles from")
    show.add_argument(
        "--length", type=_integer, default=None, help="only puzzles of this optimal length (default: all)"
    )
    show.add_argument("--count", type=_integer, default=1, help="how many puzzles to print")
    show.set_defaults(func=_puzzles_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gridlab`` with ``argv`` (default: the command line).

    Args:
        argv: Arguments after the program name.

    Returns:
        The exit status: 0, 1 for a puzzle without a solution, 2 for a caller mistake (reported
        without a traceback), 130 for a training run stopped early.

    Raises:
        SystemExit: From argparse, for ``--help``, ``--version`` and unparsable arguments.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError, OSError) as error:  # caller mistakes: no traceback
        print(f"gridlab {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
