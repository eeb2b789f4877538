"""The recurrent training path before and after: sb3-contrib's padded RecurrentPPO against
`ChunkedRecurrentPPO`, at the shipped DRC(2,2) configuration, with pipeline efficiency.

Run: ``python benchmarks/bench_recurrent.py [--steps 6144] [--threads 1 2] [--bptt 4 8]``

Configuration: ``configs/convlstm_8x8_2robots.yaml`` (DRC(2,2), 16 channels, 16 envs, rollout
32, batch 128, 4 epochs, boards from banks/8x8-2 with optimal length 1-8), fp32, no evaluation.
Each path trains ``--steps`` environment steps after a 2,048-step warm-up; printed:

* PPO steps/s, and the ratio to sb3-contrib's RecurrentPPO at the same thread count;
* the DRC's own forward+backward samples/s: the policy's ``evaluate_actions`` and backward on
  one training minibatch (``batch / bptt`` sequences of ``bptt`` steps), nothing else;
* pipeline efficiency: steps/s x (n_epochs + 1) / that rate (1.0 would mean training costs no
  more than n_epochs + 1 passes of the network over each sample: the rollout counted as one).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import sb3_contrib
import torch
from _setup import single_core
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.type_aliases import RNNStates

from gridlab.models import ConvLSTMPolicy
from gridlab.training import TrainConfig
from gridlab.training.factory import build_model, make_vec_env, policy_spec

CONFIG = Path(__file__).parents[1] / "configs" / "convlstm_8x8_2robots.yaml"


def steps_per_second(model: RecurrentPPO, steps: int) -> float:
    model.learn(2048)  # warm-up: oneDNN kernels, buffers
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def forward_backward_rate(policy: ConvLSTMPolicy, config: TrainConfig, seconds: float = 3.0) -> float:
    """Samples/s of evaluate_actions + backward on one minibatch of the run's shape."""
    n_seq = config.batch_size // config.bptt_length
    obs = torch.rand(config.batch_size, *policy.observation_space.shape)  # type: ignore[misc]
    actions = torch.randint(0, 8, (config.batch_size,))
    shape = (policy.drc.num_layers, n_seq, policy.drc.hidden_size)
    states = RNNStates((torch.zeros(shape), torch.zeros(shape)), (torch.zeros(shape), torch.zeros(shape)))
    starts = torch.zeros(config.batch_size)
    starts[:: config.bptt_length * 2] = 1.0  # an episode start in every other sequence

    def once() -> None:
        values, log_prob, entropy = policy.evaluate_actions(obs, actions, states, starts)
        (values.mean() + log_prob.mean() + entropy.mean()).backward()

    for _ in range(3):
        once()
    start, runs = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        once()
        runs += 1
    return runs * config.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6144)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--bptt", type=int, nargs="+", default=[4, 8])
    args = parser.parse_args()
    print(f"{single_core() if args.threads == [1] else 'both cores'}; sb3-contrib {sb3_contrib.__version__}")
    base = TrainConfig.load(CONFIG)
    print(
        f"\n{CONFIG.name}: DRC({base.drc_layers},{base.drc_ticks}), {base.drc_hidden} channels, "
        f"{base.n_envs} envs, "
        f"rollout {base.n_steps}, batch {base.batch_size}, {base.n_epochs} epochs; {args.steps} steps each"
    )
    print(
        f"{'threads':>7} {'path':>28} {'steps/s':>8} {'ratio':>6} {'fwd+bwd samples/s':>18} "
        f"{'efficiency':>10}"
    )
    for threads in args.threads:
        config = TrainConfig.load(CONFIG)
        config.threads, config.precision = threads, "fp32"
        torch.set_num_threads(threads)
        spec = policy_spec(config)
        _, policy_kwargs = spec.entry.policy_kwargs(spec.kwargs)
        padded = RecurrentPPO(
            ConvLSTMPolicy,
            make_vec_env(config),
            n_steps=config.n_steps,
            batch_size=config.batch_size,
            n_epochs=config.n_epochs,
            learning_rate=config.learning_rate,
            seed=0,
            policy_kwargs=policy_kwargs,
        )
        before = steps_per_second(padded, args.steps)
        print(f"{threads:>7} {'sb3-contrib RecurrentPPO':>28} {before:>8.1f} {1.0:>5.2f}x")
        for bptt in args.bptt:
            config.bptt_length = bptt
            model = build_model(config, make_vec_env(config), None)
            rate = steps_per_second(model, args.steps)
            samples = forward_backward_rate(model.policy, config)
            efficiency = rate * (config.n_epochs + 1) / samples
            path = f"ChunkedRecurrentPPO bptt {bptt}"
            print(
                f"{threads:>7} {path:>28} {rate:>8.1f} {rate / before:>5.2f}x {samples:>18,.0f} "
                f"{efficiency:>10.2f}"
            )


if __name__ == "__main__":
    main()
