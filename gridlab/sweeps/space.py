"""What a sweep varies: grids of `TrainConfig` values and distributions to sample, as text or Ray Tune.

On the command line a grid is ``--grid learning_rate=1e-4,3e-4`` (every combination of every grid
is a trial) and a distribution is ``--sample learning_rate=loguniform:1e-5:1e-3`` (drawn anew for
each of ``--samples`` repeats). In Python, `grid` values are lists and `sample` values are the
same texts or Ray Tune search spaces (``ray.tune.loguniform(1e-5, 1e-3)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from ray import tune
from ray.tune.search.sample import Domain

from gridlab.training.config import TrainConfig

# Fields a sweep sets for every trial: varying them would break the sweep's own bookkeeping.
RESERVED = ("output_dir", "run_name", "progress_bar")
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")


def check_field(name: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a `TrainConfig` field a sweep may vary."""
    known = sorted(f.name for f in fields(TrainConfig))
    if name not in known:
        raise ValueError(f"unknown TrainConfig field {name!r} in the sweep; valid fields: {', '.join(known)}")
    if name in RESERVED:
        raise ValueError(f"a sweep sets {name!r} for every trial itself; leave it out of grid and sample")


def parse_value(text: str) -> Any:
    """A value as typed on the command line: ``none``, ``true``/``false``, an int, a float or text
    (`TrainConfig` gives numbers their field's type, so ``2e4`` for an int field is 20000)."""
    lowered = text.strip().lower()
    if lowered == "none":
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_grid(assignments: Sequence[str]) -> dict[str, list[Any]]:
    """``["seed=0,1", "learning_rate=1e-4,3e-4"]`` -> ``{"seed": [0, 1], "learning_rate": [1e-4, 3e-4]}``."""
    grid: dict[str, list[Any]] = {}
    for assignment in assignments:
        name, values = _split(assignment, "--grid", "field=v1,v2,...")
        grid[name] = [parse_value(value) for value in values.split(",")]
    return grid


def parse_sample(assignments: Sequence[str]) -> dict[str, str]:
    """``["learning_rate=loguniform:1e-5:1e-3"]`` -> ``{"learning_rate": "loguniform:1e-5:1e-3"}``,
    each checked by `distribution`."""
    sample = {}
    for assignment in assignments:
        name, spec = _split(
            assignment, "--sample", "field=KIND:ARGS, e.g. learning_rate=loguniform:1e-5:1e-3"
        )
        distribution(spec)
        sample[name] = spec
    return sample


def distribution(spec: str) -> Domain:
    """The Ray Tune search space a text names.

    Args:
        spec: ``choice:a,b,c``, ``uniform:LOW:HIGH``, ``loguniform:LOW:HIGH`` or ``randint:LOW:HIGH``
            (``HIGH`` excluded, as in Ray Tune).

    Raises:
        ValueError: Another kind, or bounds that are not numbers with ``LOW < HIGH``.
    """
    kind, _, args = spec.partition(":")
    if kind == "choice" and args:
        return tune.choice([parse_value(value) for value in args.split(",")])
    if kind in DISTRIBUTIONS[1:]:
        bounds = args.split(":")
        try:
            low, high = (float(bound) for bound in bounds) if len(bounds) == 2 else (None, None)
        except ValueError:
            low = high = None
        if low is not None and high is not None and low < high and (kind != "loguniform" or low > 0):
            return tune.randint(int(low), int(high)) if kind == "randint" else getattr(tune, kind)(low, high)
    raise ValueError(
        f"cannot read the distribution {spec!r}; write one of choice:a,b,c, uniform:LOW:HIGH, "
        "loguniform:LOW:HIGH (LOW > 0) or randint:LOW:HIGH, with LOW < HIGH"
    )


def param_space(grid: Mapping[str, Sequence[Any]], sample: Mapping[str, str | Domain]) -> dict[str, Any]:
    """Ray Tune's ``param_space``: a grid search over each grid field, a search space per sampled one.

    Raises:
        ValueError: An unknown or reserved field, a field both in grid and sample, an empty grid,
            or a distribution that cannot be read.
    """
    for name in [*grid, *sample]:
        check_field(name)
    both = sorted(set(grid) & set(sample))
    if both:
        raise ValueError(f"{both} are both in grid and sample; give each field one of the two")
    space: dict[str, Any] = {}
    for name, values in grid.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid[{name!r}] must be a non-empty list of values, got {values!r}")
        space[name] = tune.grid_search(list(values))
    for name, spec in sample.items():
        space[name] = distribution(spec) if isinstance(spec, str) else spec
    if not space:
        raise ValueError("a sweep needs at least one field in grid or sample (e.g. grid={'seed': [0, 1]})")
    return space


def _split(assignment: str, option: str, form: str) -> tuple[str, str]:
    name, equals, values = assignment.partition("=")
    if not equals or not name or not values:
        raise ValueError(f"{option} {assignment!r}: write {form}")
    check_field(name.strip())
    return name.strip(), values
