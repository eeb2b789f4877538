"""Hook points: one named identity module per activation a researcher may read or overwrite.

Every model in `gridlab.models` passes each intermediate activation through a `HookPoint`.
A hook point's name is its dotted module path relative to the model you call on
(``"encoder.hook_conv1"``, ``"layers.0.hook_h.2"`` for layer 0's hidden state at tick 2), so
the same string names the activation in ``hook_names()``, in hooks and in caches.

A hook is ``fn(activation, hook) -> replacement or None``: return a tensor to replace the
activation, or ``None`` to leave it. Hooks live only inside ``with model.hooks(...)``,
``run_with_hooks`` or ``run_with_cache``; they are removed on exit, errors included.

Example:
    >>> model = SmallCNN(observation_space)
    >>> model.hook_names()[:2]
    ['hook_conv1', 'hook_relu1']
    >>> out, cache = model.run_with_cache(obs)
    >>> cache["hook_relu2"].shape                      # (batch, 64, H, W)
    >>> zero = lambda x, hook: torch.zeros_like(x)
    >>> ablated = model.run_with_hooks(obs, fwd_hooks=[("hook_relu2", zero)])
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

HookFn = Callable[[torch.Tensor, "HookPoint"], torch.Tensor | None]


class HookPoint(nn.Module):
    """Identity on a tensor; the place where hooks attach. ``name`` (its module path) is set when
    the owning model lists its hook points; it is empty until then."""

    def __init__(self) -> None:
        super().__init__()
        self.name = ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ActivationCache(dict[str, torch.Tensor]):
    """Activations by hook name (detached copies), with a few conveniences.

    Example:
        >>> out, cache = model.run_with_cache(obs)
        >>> cache["layers.0.hook_h.2"]               # one tick
        >>> cache.stack("layers.0.hook_h.*")         # every tick: (ticks, ...)
    """

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return super().__getitem__(name)
        except KeyError:
            raise KeyError(f"no activation {name!r} in the cache; it holds: {', '.join(self)}") from None

    def stack(self, pattern: str) -> torch.Tensor:
        """The activations whose names match ``pattern``, stacked in name order along a new axis 0."""
        names = [n for n in self if fnmatch.fnmatch(n, pattern)]
        if not names:
            raise KeyError(f"no activation matches {pattern!r}; the cache holds: {', '.join(self)}")
        return torch.stack([self[n] for n in names])

    def to(self, device: torch.device | str) -> ActivationCache:
        """A copy with every tensor moved to ``device``."""
        return ActivationCache({k: v.to(device) for k, v in self.items()})

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in self.items())
        return f"ActivationCache({shapes})"


def hook_points(root: nn.Module) -> dict[str, HookPoint]:
    """Every hook point under ``root`` by its module path, in registration order."""
    points = {name: m for name, m in root.named_modules() if isinstance(m, HookPoint)}
    for name, point in points.items():
        point.name = name
    return points


def resolve_hook_names(
    root: nn.Module, names: str | Sequence[str] | Callable[[str], bool] | None
) -> list[str]:
    """Expand names, shell-style patterns (``"layers.*.hook_h.*"``) or a predicate to hook names.

    Raises:
        ValueError: For a name or pattern that matches no hook point.
    """
    available = list(hook_points(root))
    if names is None:
        return available
    if callable(names):
        return [n for n in available if names(n)]
    selected: list[str] = []
    for pattern in [names] if isinstance(names, str) else names:
        matches = fnmatch.filter(available, pattern)
        if not matches:
            raise ValueError(f"unknown hook {pattern!r}; available: {', '.join(available)}")
        selected.extend(m for m in matches if m not in selected)
    return selected


@contextlib.contextmanager
def attach_hooks(root: nn.Module, fwd_hooks: Sequence[tuple[str, HookFn]]) -> Iterator[None]:
    """Attach ``(name_or_pattern, fn)`` hooks under ``root`` for the duration of the ``with`` block."""
    points = hook_points(root)
    handles = []
    try:
        for pattern, fn in fwd_hooks:
            for name in resolve_hook_names(root, pattern):
                handles.append(points[name].register_forward_hook(_wrap(fn)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def cache_activations(
    root: nn.Module,
    call: Callable[[], Any],
    names_filter: str | Sequence[str] | Callable[[str], bool] | None = None,
) -> tuple[Any, ActivationCache]:
    """Run ``call()`` keeping a detached copy of each selected activation under ``root``.

    A hook point that fires several times in one call (a recurrent layer over a sequence) is
    stacked along a new leading time axis.
    """
    store: dict[str, list[torch.Tensor]] = {}

    def keep(x: torch.Tensor, hook: HookPoint) -> None:
        store.setdefault(hook.name, []).append(x.detach().clone())

    names = resolve_hook_names(root, names_filter)
    with attach_hooks(root, [(name, keep) for name in names]):
        output = call()
    cache = ActivationCache()
    for name in names:
        if name in store:
            cache[name] = store[name][0] if len(store[name]) == 1 else torch.stack(store[name])
    return output, cache


class HookedModule(nn.Module):
    """Mixin for models built from `HookPoint` s: lists them and attaches hooks by name.

    Names are module paths relative to this module, so a model nested in a policy answers
    with names relative to itself.
    """

    def hook_points(self) -> dict[str, HookPoint]:
        """Every hook point by name, in registration order."""
        return hook_points(self)

    def hook_names(self) -> list[str]:
        """Names of every hook point, e.g. ``["encoder.hook_conv1", ...]``."""
        return list(hook_points(self))

    def resolve_hook_names(self, names: str | Sequence[str] | Callable[[str], bool] | None) -> list[str]:
        """See `resolve_hook_names`."""
        return resolve_hook_names(self, names)

    def hooks(self, fwd_hooks: Sequence[tuple[str, HookFn]]) -> contextlib.AbstractContextManager[None]:
        """Attach ``(name_or_pattern, fn)`` hooks for the duration of a ``with`` block."""
        return attach_hooks(self, fwd_hooks)

    def run_with_hooks(self, *args: Any, fwd_hooks: Sequence[tuple[str, HookFn]] = (), **kwargs: Any) -> Any:
        """Call the model with hooks attached, then remove them (numpy arrays become tensors)."""
        args = self._as_inputs(args)
        with attach_hooks(self, fwd_hooks):
            return self(*args, **kwargs)

    def run_with_cache(
        self,
        *args: Any,
        names_filter: str | Sequence[str] | Callable[[str], bool] | None = None,
        **kwargs: Any,
    ) -> tuple[Any, ActivationCache]:
        """Call the model and return ``(output, cache)`` (numpy arrays become tensors); see
        `cache_activations`."""
        args = self._as_inputs(args)
        return cache_activations(self, lambda: self(*args, **kwargs), names_filter)

    def _as_inputs(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """Positional inputs as float32 tensors on the model's device; an SB3 extractor's
        observations are checked against its observation space."""
        device = next(self.parameters()).device
        inputs = tuple(
            torch.as_tensor(a, dtype=torch.float32, device=device) if isinstance(a, np.ndarray) else a
            for a in args
        )
        space = getattr(self, "_observation_space", None)  # SB3's BaseFeaturesExtractor keeps it here
        expected = getattr(space, "shape", None)
        if (
            inputs
            and expected
            and isinstance(inputs[0], torch.Tensor)
            and tuple(inputs[0].shape[1:]) != expected
        ):
            raise ValueError(
                f"{type(self).__name__} expects observations shaped "
                f"(batch, {', '.join(map(str, expected))}), got {tuple(inputs[0].shape)}"
            )
        return inputs


def _wrap(fn: HookFn) -> Callable[[nn.Module, tuple[Any, ...], torch.Tensor], torch.Tensor | None]:
    def hook(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor | None:
        return fn(output, module)  # type: ignore[arg-type]

    return hook
