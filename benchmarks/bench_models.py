"""Model throughput: samples per second, forward and forward+backward, one thread.

Run: ``python benchmarks/bench_models.py [--batch 256] [--seconds 1]``

A sample is one observation through the whole model: SmallCNN and MLP feature extractors, and
for DRC(D, N) the convolutional encoder plus one environment step of the core (N ticks through
D layers, 32 channels each, 256-unit output). Inputs are image observations (6 + robots
channels) of 8x8 boards with 2 robots and 16x16 boards with 4 robots. Forward runs under
``torch.no_grad``; forward+backward back-propagates the sum of the outputs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from _setup import single_core
from gymnasium import spaces

from gridlab.models import DRC, MLP, ConvEncoder, SmallCNN


def rate(
    model: Callable[[torch.Tensor], torch.Tensor], obs: torch.Tensor, backward: bool, seconds: float
) -> float:
    """Samples per second of ``model`` on ``obs``, forward only or forward and backward."""

    def run() -> None:
        if backward:
            model(obs).sum().backward()
        else:
            with torch.no_grad():
                model(obs)

    run()  # warm up
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        run()
        calls += 1
    return calls * obs.shape[0] / elapsed


def models(space: spaces.Box) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    _, h, w = space.shape
    built: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "SmallCNN": SmallCNN(space),
        "MLP": MLP(space),
    }
    for d, n in [(1, 1), (2, 2), (3, 3)]:
        encoder, core = ConvEncoder(space, 32), DRC(32, h, w, 32, d, n, 256)

        def drc(obs: torch.Tensor, encoder: ConvEncoder = encoder, core: DRC = core) -> torch.Tensor:
            x = encoder(obs).reshape(obs.shape[0], 32, h, w)
            return core.step(x, core.initial_state(obs.shape[0]))[0]

        built[f"DRC({d},{n})"] = drc
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    print(f"{single_core()}; batch {args.batch}")
    torch.manual_seed(0)
    print(f"{'model':>10} {'board':>7} {'forward/s':>12} {'fwd+bwd/s':>12}")
    for size, robots in [(8, 2), (16, 4)]:
        space = spaces.Box(0.0, 1.0, (6 + robots, size, size))
        obs = torch.rand(args.batch, *space.shape).round()
        for name, model in models(space).items():
            forward = rate(model, obs, backward=False, seconds=args.seconds)
            both = rate(model, obs, backward=True, seconds=args.seconds)
            print(f"{name:>10} {f'{size}x{size}':>7} {forward:>12,.0f} {both:>12,.0f}")


if __name__ == "__main__":
    main()
