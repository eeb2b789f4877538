"""Does the largest DRC train on this machine? DRC(3,3) with 32 channels on 8x8 and 16x16.

Run: ``python benchmarks/bench_drc_scale.py [--sizes 8 16] [--updates 1000] [--seconds 60]``

For each board size (2 robots, random boards, optimal length 1-8 on 8x8 and 1-6 on 16x16), with
the learner on one torch thread at fp32 (this CPU has no bf16 units; see bench_precision.py):

1. PPO: steps/s of ``ChunkedRecurrentPPO`` (16 envs, rollout 32, batch 128, 4 epochs, bptt 8)
   over whole rollouts after a warm-up rollout;
2. ``--updates`` of cloning over trajectories from the solver stream (batch 128 = 16 lanes of 8
   steps, the producer in a second process): samples/s, and the greedy optimal-move accuracy on
   4,096 held-out stream states before and after, with a 95% interval over states;
3. the process's peak resident memory.

Training that improves held-out accuracy within minutes at a workable rate is what "trains on
this machine" means here; reaching competence is the races' question (race.py).
"""

from __future__ import annotations

import argparse
import math
import resource

import numpy as np
import torch
from _setup import ppo_steps_per_second, single_core

from gridlab.env import RicochetRobotsEnv
from gridlab.models.recurrent_policy import ConvLSTMPolicy
from gridlab.training import TrainConfig
from gridlab.training.factory import policy_spec
from gridlab.training.imitation import clone
from gridlab.training.stream import LabelledStates, SolverStream

DRC33 = {"policy": "convlstm", "drc_layers": 3, "drc_ticks": 3, "drc_hidden": 32, "drc_encoder": 32,
         "drc_output": 256, "n_envs": 16, "n_steps": 32, "batch_size": 128, "n_epochs": 4,
         "bptt_length": 8, "precision": "fp32", "threads": 1}  # fmt: skip


def accuracy(policy: ConvLSTMPolicy, test: LabelledStates, lanes: int) -> tuple[float, float]:
    """Greedy optimal-move accuracy over lane-major runs, and its 95% normal half-width."""
    zeros = torch.zeros(policy.drc.num_layers, lanes, policy.drc.hidden_size)
    obs = torch.as_tensor(test.obs, dtype=torch.float32)
    with torch.no_grad():
        latent, _, _ = policy.latent(obs, (zeros, zeros), torch.as_tensor(test.start, dtype=torch.float32))
        greedy = policy.action_net(latent).argmax(dim=1).numpy()
    hits = test.optimal[np.arange(len(greedy)), greedy]
    return float(hits.mean()), 1.96 * math.sqrt(hits.mean() * (1 - hits.mean()) / len(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--updates", type=int, default=1000, help="of cloning per size (batch 128)")
    parser.add_argument("--seconds", type=float, default=60.0, help="of PPO timing per size")
    args = parser.parse_args()
    print(single_core())
    for size in args.sizes:
        config = TrainConfig(height=size, width=size, num_robots=2, max_moves=8 if size <= 8 else 6,
                             progress_bar=False, tensorboard=False, **DRC33)  # fmt: skip
        rate = ppo_steps_per_second(config, args.seconds)
        env = RicochetRobotsEnv(height=size, width=size, num_robots=2)
        torch.manual_seed(0)
        policy = policy_spec(config).build(env.observation_space, env.action_space)
        assert isinstance(policy, ConvLSTMPolicy)
        with SolverStream(config, seed=99, chunk=1024) as heldout:
            test = next(heldout.sequences(lanes=64, length=64, n=1))
        before = accuracy(policy, test, 64)
        with SolverStream(config, seed=0) as stream:
            cloning = clone(policy, stream, args.updates, config.batch_size, progress=True, sequence_length=8)
        after = accuracy(policy, test, 64)
        memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        parameters = sum(p.numel() for p in policy.parameters())
        print(f"\nDRC(3,3) 32 channels, {size}x{size}, {parameters:,} parameters")
        print(f"  PPO: {rate:.1f} steps/s")
        samples = args.updates * config.batch_size / cloning.seconds
        print(f"  cloning: {args.updates} updates, {cloning.seconds / 60:.1f} min, {samples:,.0f} samples/s")
        print(f"  held-out optimal-move accuracy (4,096 states): {before[0]:.3f} ± {before[1]:.3f} before, "
              f"{after[0]:.3f} ± {after[1]:.3f} after")  # fmt: skip
        print(f"  peak resident memory so far: {memory:,.0f} MiB")


if __name__ == "__main__":
    main()
