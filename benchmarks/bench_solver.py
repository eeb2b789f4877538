"""Solver speed: milliseconds per random puzzle by optimal length, and the speed-up over plain BFS.

Run: ``python benchmarks/bench_solver.py [--puzzles 300] [--bfs-puzzles 40]``

Puzzles come from the random generator (band 1..25, i.e. any solvable puzzle). Each is solved
once after numba has compiled; the process is pinned to one core. The BFS comparison solves the
same 8x8 puzzles with `gridlab.env.bfs.bfs_solve` and checks both give the same lengths.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
from _setup import single_core
from tqdm import tqdm

from gridlab.env.bfs import bfs_solve
from gridlab.env.generator import BoardSpec, random_layout
from gridlab.env.solver import solve


def time_solver(spec: BoardSpec, count: int, seed: int) -> tuple[list, dict[int, list[float]]]:
    rng = np.random.default_rng(seed)
    layouts = [random_layout(spec, rng, 1, 25)[0] for _ in tqdm(range(count), desc="generate", leave=False)]
    by_length: dict[int, list[float]] = defaultdict(list)
    for layout in tqdm(layouts, desc="solve", leave=False):
        start = time.perf_counter()
        plan = solve(layout, max_depth=25)
        by_length[len(plan)].append((time.perf_counter() - start) * 1e3)
    return layouts, by_length


def report(title: str, by_length: dict[int, list[float]]) -> None:
    print(f"\n{title}")
    print(f"{'optimal':>8} {'puzzles':>8} {'mean ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for length in sorted(by_length):
        ms = np.array(by_length[length])
        print(f"{length:>8} {len(ms):>8} {ms.mean():>9.3f} {np.percentile(ms, 95):>9.3f} {ms.max():>9.3f}")
    ms = np.concatenate([np.array(v) for v in by_length.values()])
    print(f"{'all':>8} {len(ms):>8} {ms.mean():>9.3f} {np.percentile(ms, 95):>9.3f} {ms.max():>9.3f}")


def compare_with_bfs(spec: BoardSpec, layouts: list, count: int) -> None:
    fast = slow = 0.0
    for layout in tqdm(layouts[:count], desc=f"bfs {spec.num_robots} robots", leave=False):
        start = time.perf_counter()
        plan = solve(layout, max_depth=25)
        fast += time.perf_counter() - start
        start = time.perf_counter()
        reference = bfs_solve(layout, max_depth=25)
        slow += time.perf_counter() - start
        assert len(plan) == len(reference), "solver and BFS disagree"
    print(
        f"8x8, {spec.num_robots} robots, {count} puzzles: solver {fast / count * 1e3:.3f} ms/puzzle, "
        f"plain BFS {slow / count * 1e3:.1f} ms/puzzle, speed-up {slow / fast:.0f}x (same lengths)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puzzles", type=int, default=300)
    parser.add_argument("--bfs-puzzles", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{single_core()}; {args.puzzles} puzzles per spec")
    solve(random_layout(BoardSpec(8, 8, 2), np.random.default_rng(0), 1, 5)[0])  # compile

    specs = {"8x8, 3 robots": BoardSpec(8, 8, 3), "16x16, 4 robots": BoardSpec(16, 16, 4)}
    layouts = {}
    for title, spec in specs.items():
        layouts[title], by_length = time_solver(spec, args.puzzles, args.seed)
        report(f"solver, random {title}", by_length)

    print("\nspeed-up over plain-Python breadth-first search, measured side by side")
    rng = np.random.default_rng(args.seed)
    two = [random_layout(BoardSpec(8, 8, 2), rng, 1, 25)[0] for _ in range(args.bfs_puzzles)]
    compare_with_bfs(BoardSpec(8, 8, 2), two, args.bfs_puzzles)
    compare_with_bfs(BoardSpec(8, 8, 3), layouts["8x8, 3 robots"], args.bfs_puzzles)


if __name__ == "__main__":
    main()
