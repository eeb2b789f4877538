"""How many cloned samples does DRC(3,3)-32 need at 16x16? Held-out accuracy over a time budget.

Run: ``python benchmarks/bench_drc_clone_curve.py [--device cuda] [--minutes 5.5] [--batch 512]
[--streams 6]``

Clones the DRC(3,3) with 32 channels (`bench_drc_scale.DRC33`) on trajectories from
``--streams`` solver streams in turn (each a producer process; a GPU learner outruns one), 250
updates at a time (each round with a fresh Adam: `clone` makes its own), and prints after each
round the samples seen, the learner's samples/s and the greedy optimal-move accuracy on 4,096
held-out stream states with its 95% normal half-width. On this 2-core CPU a run sees about 28
samples/s (`bench_drc_scale.py`); the curve says how far that is from what learning at this size
takes.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from bench_drc_scale import DRC33

from gridlab.env import RicochetRobotsEnv
from gridlab.models.recurrent_policy import ConvLSTMPolicy
from gridlab.training import TrainConfig
from gridlab.training.factory import policy_spec
from gridlab.training.imitation import clone
from gridlab.training.stream import LabelledStates, SolverStream

ROUND = 250  # updates between held-out checks


def accuracy(policy: ConvLSTMPolicy, test: LabelledStates, lanes: int) -> tuple[float, float]:
    """Greedy optimal-move accuracy over lane-major runs on the policy's device, and its 95% half-width."""
    device = policy.device
    zeros = torch.zeros(policy.drc.num_layers, lanes, policy.drc.hidden_size, device=device)
    policy.set_training_mode(False)
    with torch.no_grad():
        obs = torch.as_tensor(test.obs, dtype=torch.float32, device=device)
        starts = torch.as_tensor(test.start, dtype=torch.float32, device=device)
        latent, _, _ = policy.latent(obs, (zeros, zeros), starts)
        greedy = policy.action_net(latent).argmax(dim=1).cpu().numpy()
    hits = test.optimal[np.arange(len(greedy)), greedy]
    return float(hits.mean()), 1.96 * math.sqrt(hits.mean() * (1 - hits.mean()) / len(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--minutes", type=float, default=5.5, help="of cloning (whole rounds)")
    parser.add_argument("--batch", type=int, default=512, help="states per update (lanes of 8 steps)")
    parser.add_argument("--streams", type=int, default=6, help="solver streams (producer processes) in turn")
    args = parser.parse_args()
    config = TrainConfig(
        height=16, width=16, num_robots=2, max_moves=6, progress_bar=False, tensorboard=False, **DRC33
    )
    # Producers fork before the learner touches the device.
    streams = [SolverStream(config, seed=seed, chunk=512, prefetch=32) for seed in range(args.streams)]
    with SolverStream(config, seed=99, chunk=1024) as heldout:
        test = next(heldout.sequences(lanes=64, length=64, n=1))
    env = RicochetRobotsEnv(height=16, width=16, num_robots=2)
    torch.manual_seed(0)
    policy = policy_spec(config).build(env.observation_space, env.action_space).to(args.device)
    assert isinstance(policy, ConvLSTMPolicy)
    parameters = sum(p.numel() for p in policy.parameters())
    print(f"DRC(3,3) 32 channels, 16x16, {parameters:,} parameters on {args.device}; batch {args.batch}, "
          f"{args.streams} streams, torch {torch.__version__}")  # fmt: skip
    print(f"  before: accuracy {accuracy(policy, test, 64)[0]:.3f}")
    start, updates = time.perf_counter(), 0
    try:
        while time.perf_counter() - start < 60 * args.minutes:
            stream = streams[(updates // ROUND) % args.streams]
            cloning = clone(policy, stream, ROUND, args.batch, progress=False, seed=updates)
            updates += ROUND
            hit, half = accuracy(policy, test, 64)
            minutes, rate = (time.perf_counter() - start) / 60, ROUND * args.batch / cloning.seconds
            print(f"  {updates:6d} updates, {updates * args.batch:9,d} samples, {minutes:5.1f} min, "
                  f"{rate:6,.0f} samples/s: accuracy {hit:.3f} ± {half:.3f}", flush=True)  # fmt: skip
    finally:
        for stream in streams:
            stream.close()


if __name__ == "__main__":
    main()
