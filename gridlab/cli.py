"""The ``gridlab`` command.

``gridlab demo`` draws a random puzzle, solves it and prints the board and the optimal plan;
``gridlab solve BOARD.txt`` solves a puzzle written as text (the format of `render_ascii`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gridlab.env.ascii import parse_ascii, render_ascii
from gridlab.env.board import FixedLayout, replay
from gridlab.env.generator import BoardSpec, random_layout
from gridlab.env.rendering import describe_plan, plot_board
from gridlab.env.solver import DEFAULT_MAX_DEPTH, optimal_first_moves, solve


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


def _demo(args: argparse.Namespace) -> int:
    spec = BoardSpec(args.height, args.width, args.robots)
    layout, _ = random_layout(spec, np.random.default_rng(args.seed), args.min_moves, args.max_moves)
    print(f"random {args.height}x{args.width} puzzle, {args.robots} robots, seed {args.seed}")
    return _print_solution(layout, args.max_moves, args.plot)


def _solve(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.board == "-" else Path(args.board).read_text()
    return _print_solution(parse_ascii(text), args.max_depth, args.plot)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridlab", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError, OSError) as error:
        print(f"gridlab {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
