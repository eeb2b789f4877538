"""Behaviour cloning throughput: the solver stream's puzzles/s and the learner's samples/s.

Run: ``python benchmarks/bench_cloning.py [--seconds 30] [--updates 400]``

Boards: random 8x8 with 2 robots, optimal length 1-8, states labelled along one optimal plan
of each puzzle (`gridlab.training.stream.SolverStream`; its producer is a forked process, so it
runs on the other core). Printed:

1. the stream alone: puzzles/s and labelled states/s, with the learner's side doing nothing but
   receiving;
2. cloning the SmallCNN of ``configs/small_cnn_8x8_2robots_ppo.yaml`` (batch 256, one torch thread
   in the learner) while the stream runs beside it: samples/s (states through forward and
   backward), and the stream's reuse (states drawn per state delivered; at most 1 means every
   state was used about once or never).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from gridlab.env import RicochetRobotsEnv
from gridlab.training import TrainConfig
from gridlab.training.factory import policy_spec
from gridlab.training.imitation import clone
from gridlab.training.stream import SolverStream

CONFIG = Path(__file__).parents[1] / "configs" / "small_cnn_8x8_2robots_ppo.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--updates", type=int, default=400)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = TrainConfig.load(CONFIG)
    print(f"torch {torch.__version__}; 1 torch thread in the learner, the stream's producer in a process")

    with SolverStream(config, seed=0) as stream:
        stream.receive(wait=True)
        start, states, puzzles = time.perf_counter(), stream.states_received, stream.puzzles_received
        while time.perf_counter() - start < args.seconds:
            stream.receive()
            time.sleep(0.005)
        seconds = time.perf_counter() - start
        rates = (stream.puzzles_received - puzzles) / seconds, (stream.states_received - states) / seconds
        print(f"\nstream alone, {seconds:.0f} s: {rates[0]:,.0f} puzzles/s, {rates[1]:,.0f} states/s")

    env = RicochetRobotsEnv(height=8, width=8, num_robots=2)
    policy = policy_spec(config).build(env.observation_space, env.action_space)
    with SolverStream(config, seed=1) as stream:
        clone(policy, stream, updates=20, batch_size=config.batch_size, progress=False)  # warm-up
        drawn = stream.states_drawn
        result = clone(policy, stream, updates=args.updates, batch_size=config.batch_size, progress=False)
        samples = (stream.states_drawn - drawn) / result.seconds
        print(f"\ncloning SmallCNN, batch {config.batch_size}, {args.updates} updates: "
              f"{samples:,.0f} samples/s; stream reuse {stream.reuse:.2f} "
              f"({stream.states_received:,} states from {stream.puzzles_received:,} puzzles)")  # fmt: skip


if __name__ == "__main__":
    main()
