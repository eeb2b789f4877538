"""Puzzle-bank generation throughput: puzzles per second by optimal length.

Run: ``python benchmarks/bench_bank.py [--per-length 200] [--max-moves 10]``

For each optimal length L, a fresh bank with band [L, L] is generated (draw, solve, keep the
puzzles of length L, deduplicate, save); one core. Long plans are rare among random puzzles, so
their throughput is bounded by how many draws it takes to find one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _setup import single_core

from gridlab.env import BoardSpec
from gridlab.env.puzzle_bank import generate_bank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-length", type=int, default=200)
    parser.add_argument("--max-moves", type=int, default=10)
    args = parser.parse_args()
    print(f"{single_core()}; {args.per_length} puzzles per length")
    specs = [BoardSpec(8, 8, 2), BoardSpec(8, 8, 3), BoardSpec(16, 16, 4)]
    header = "".join(f"{f'{s.height}x{s.width}, {s.num_robots} robots':>20}" for s in specs)
    print(f"{'optimal':>8}{header}   (puzzles/s)")
    with tempfile.TemporaryDirectory() as tmp:
        generate_bank(Path(tmp) / "warm", specs[0], 1, 1, 1, progress=False)  # compile
        for length in range(1, args.max_moves + 1):
            row = []
            for k, spec in enumerate(specs):
                start = time.perf_counter()
                generate_bank(
                    Path(tmp) / f"{k}-{length}", spec, args.per_length, length, length, progress=False
                )
                row.append(args.per_length / (time.perf_counter() - start))
            print(f"{length:>8}" + "".join(f"{x:>20,.0f}" for x in row))


if __name__ == "__main__":
    main()
