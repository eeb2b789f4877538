"""Compute precision: which modules may run their forward (and so their backward) in bfloat16.

A `MixedPrecision` module runs its forward under ``torch.autocast(dtype=torch.bfloat16)`` when
its precision is ``"bf16"`` and returns float32, so everything after it (the policy heads,
log-probabilities, values, advantages, losses) and every weight and optimizer state stay
float32. Convolutions and matrix products inside run in bf16 on hardware with bf16 units
(CPUs with AMX or AVX512-BF16, recent CUDA GPUs); elsewhere bf16 is emulated and slower,
which is why training's ``precision="auto"`` measures before it chooses
(`gridlab.training.precision`).

Precision is a run-time setting, never saved: a loaded policy computes in float32 until
`set_precision` says otherwise (so analyses read float32 activations unless asked).

Example:
    >>> set_precision(policy, "bf16")   # every MixedPrecision module under policy
    >>> precision_of(policy)
    'bf16'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class MixedPrecision(nn.Module):
    """Mixin for a module whose forward may run under bf16 autocast (see the module docstring).

    Subclasses wrap their forward's body in ``with self.autocast():`` and return float32.
    """

    precision: str = "fp32"  # an instance attribute once set_precision sets it

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """bf16 autocast on this module's device when its precision is ``"bf16"``, else nothing."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        device = next(self.parameters()).device
        return torch.autocast(device.type, dtype=torch.bfloat16)


def set_precision(module: nn.Module, precision: str) -> None:
    """Set the compute precision of every `MixedPrecision` module under ``module`` (itself included).

    Args:
        module: A policy, extractor or core.
        precision: ``"fp32"`` or ``"bf16"`` (resolve ``"auto"`` first).

    Raises:
        ValueError: Another value, or ``module`` has no module that can change precision.
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16' here, got {precision!r} (resolve 'auto' first)")
    parts = _parts(module)
    if not parts:
        raise ValueError(f"{type(module).__name__} has no module that can compute in bf16")
    for part in parts:
        part.precision = precision


def precision_of(module: nn.Module) -> str:
    """``"bf16"`` if any `MixedPrecision` module under ``module`` computes in bf16, else ``"fp32"``."""
    return "bf16" if any(part.precision == "bf16" for part in _parts(module)) else "fp32"


def bf16_hardware(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` has bf16 arithmetic units (CPU: oneDNN's AVX512-BF16/AMX check; CUDA:
    compute capability 8.0 or newer). bf16 still *works* without them, emulated and slowly."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


@contextlib.contextmanager
def computing_in(module: nn.Module, precision: str) -> Iterator[None]:
    """Within the block every `MixedPrecision` module under ``module`` computes at ``precision``;
    each gets its own precision back on exit (training evaluates its greedy policy in fp32)."""
    parts = _parts(module)
    before = [part.precision for part in parts]
    set_precision(module, precision)
    try:
        yield
    finally:
        for part, kept in zip(parts, before, strict=True):
            part.precision = kept


def _parts(module: nn.Module) -> list[MixedPrecision]:
    """The `MixedPrecision` modules under ``module``, itself included."""
    return [m for m in module.modules() if isinstance(m, MixedPrecision)]
