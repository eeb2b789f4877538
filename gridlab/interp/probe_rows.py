"""The rows a probe is fitted on: targets, features, splits and the inputs of its baselines.

A rollout step becomes one row (a *global* probe: the flattened activation predicts a label of
the step) or ``H * W`` rows (a *square* probe: one map shared by every cell, from the features
at a cell to that cell's label). Square probes read one of three feature families:

* ``"1x1"``: the channel vector at the cell, like a 1x1 convolution;
* ``"3x3"``: the channel vectors of the cell's 3x3 neighbourhood (zeros beyond the board);
* ``"position"``: the 1x1 features and a one-hot of the cell's position.

Robots are chosen by number (``robot=0``) or by role (``robot="target"``, the robot that must
reach the goal, drawn at random per puzzle; ``robot="other"`` on two-robot boards).

Splits are by *episode*, into train, validation and test: steps of one episode are strongly
correlated and never straddle a split. Greedy episodes loop, so the same board recurs within an
episode; `distinct_steps` keeps the first visit of each board per episode (its label is the same
at every visit, and for a feed-forward agent so is every activation). That is the documented
choice for repeated states: deduplicated, not weighted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gridlab.interp.rollouts import Rollouts

REGRESSION_LABELS = ("moves_remaining",)
HORIZONS = {"plan_direction": "plan_horizon", "agent_direction": "agent_horizon"}
FEATURES = ("1x1", "3x3", "position")
Robot = int | str


@dataclass
class ProbeData:
    """Design matrix and targets of a probe, with the episode (and horizon) of every row.

    Attributes:
        x: ``(rows, features)``.
        y: ``(rows,)`` class ids or scalars.
        groups: ``(rows,)`` episode of each row (the split never separates an episode).
        kind: ``"global"`` or ``"square"``.
        horizon: ``(rows,)`` for square labels with horizons (`gridlab.interp.labels`): how many
            moves ahead the cell is left (1 = the next move), 0 where it is not; else None.
        accept: ``(rows,)`` bit masks of the classes some optimal plan makes (`label_accept`),
            for scores that count any optimal move as right; None for other labels.
    """

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    kind: str
    horizon: np.ndarray | None = None
    accept: np.ndarray | None = None


def robot_ids(rollouts: Rollouts, robot: Robot) -> np.ndarray:
    """``(T,)`` the robot each step's per-robot label is read for: a number or a role."""
    n = rollouts.robots.shape[1]
    targets = np.array([layout.target_robot for layout in rollouts.layouts])[rollouts.episode]
    if robot == "target":
        return targets
    if robot == "other":
        if n != 2:
            raise ValueError(f"robot='other' needs two-robot boards (these have {n}); pick a robot by number")
        return 1 - targets
    if isinstance(robot, (int, np.integer)) and not isinstance(robot, bool) and 0 <= robot < n:
        return np.full(len(rollouts), int(robot))
    raise ValueError(f"robot must be 0..{n - 1}, 'target' or 'other', got {robot!r}")


def label_targets(rollouts: Rollouts, label: str, robot: Robot | None = None) -> np.ndarray:
    """The targets of ``label``: ``(T,)`` for global labels, ``(T, H, W)`` for spatial ones.

    Per-robot maps (``plan_direction`` ...) need ``robot``; ``next_robot`` becomes the id of the
    first robot that moves in some optimal plan; ``optimal_actions`` the first optimal action.
    """
    if label not in rollouts.labels:
        raise ValueError(f"unknown label {label!r}; available: {', '.join(rollouts.labels)}")
    values = rollouts.labels[label]
    if values.ndim == 4:  # (T, robots, H, W)
        return _per_robot(rollouts, values, label, robot).astype(np.int64)
    if label in ("next_robot", "optimal_actions"):
        return values.argmax(axis=1).astype(np.int64)
    return values.astype(np.float64 if label in REGRESSION_LABELS else np.int64)


def label_horizons(rollouts: Rollouts, label: str, robot: Robot | None = None) -> np.ndarray | None:
    """``(T, H, W)`` horizons of a direction label (`HORIZONS`), None for other labels."""
    if label not in HORIZONS or HORIZONS[label] not in rollouts.labels:
        return None
    return _per_robot(rollouts, rollouts.labels[HORIZONS[label]], label, robot).astype(np.int64)


def label_accept(rollouts: Rollouts, label: str, robot: Robot | None = None) -> np.ndarray | None:
    """Bit masks of the right answers over *every* optimal plan, shaped like `label_targets`: bit
    ``k`` set where class ``k`` is made by some optimal plan. ``optimal_actions`` and
    ``next_robot`` use their own sets, ``plan_direction`` the ``plan_directions`` label; None for
    other labels (and rollouts recorded without ``plan_directions``)."""
    if label in ("optimal_actions", "next_robot"):
        values = rollouts.labels[label].astype(np.int64)
        return values @ (1 << np.arange(values.shape[1], dtype=np.int64))
    if label == "plan_direction" and "plan_directions" in rollouts.labels:
        return _per_robot(rollouts, rollouts.labels["plan_directions"], label, robot).astype(np.int64)
    return None


def credited(y: np.ndarray, predicted: np.ndarray, accept: np.ndarray) -> np.ndarray:
    """``y`` with each prediction that some optimal plan makes counted as the truth (``accept`` bit
    masks, `label_accept`): what set-valued scores score ``predicted`` against."""
    fits = (predicted >= 0) & ((accept >> np.maximum(predicted, 0)) & 1).astype(bool)
    return np.where(fits, predicted, y)


def _per_robot(rollouts: Rollouts, values: np.ndarray, label: str, robot: Robot | None) -> np.ndarray:
    if robot is None:
        n = values.shape[1]
        raise ValueError(f"label {label!r} is per robot: pass robot=0..{n - 1}, 'target' or 'other'")
    return values[np.arange(len(values)), robot_ids(rollouts, robot)]


def square_features(activations: np.ndarray, family: str = "1x1") -> np.ndarray:
    """``(T, C, H, W)`` activations -> ``(T, H, W, F)`` features per cell (module docstring)."""
    if family not in FEATURES:
        raise ValueError(f"unknown feature family {family!r}; pick one of {', '.join(FEATURES)}")
    acts = np.asarray(activations, dtype=np.float32)
    T, _, H, W = acts.shape
    cells = acts.transpose(0, 2, 3, 1)
    if family == "1x1":
        return cells
    if family == "3x3":
        padded = np.pad(cells, ((0, 0), (1, 1), (1, 1), (0, 0)))
        shifted = [
            padded[:, 1 + dy : 1 + dy + H, 1 + dx : 1 + dx + W] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
        ]
        return np.concatenate(shifted, axis=3)
    position = np.broadcast_to(np.eye(H * W, dtype=np.float32).reshape(1, H, W, H * W), (T, H, W, H * W))
    return np.concatenate([cells, position], axis=3)


def probe_data(
    activations: np.ndarray,
    targets: np.ndarray,
    episodes: np.ndarray,
    family: str = "1x1",
    horizons: np.ndarray | None = None,
    accept: np.ndarray | None = None,
) -> ProbeData:
    """Arrange activations ``(T, ...)`` and targets (with their horizons and accepted sets, shaped
    like the targets) into rows: square probes when both are spatial."""
    T = len(targets)
    if targets.ndim == 3 and activations.ndim == 4 and activations.shape[2:] == targets.shape[1:]:
        features = square_features(activations, family)
        cells = targets.shape[1] * targets.shape[2]
        return ProbeData(
            features.reshape(T * cells, -1),
            targets.reshape(-1),
            np.repeat(episodes, cells),
            "square",
            None if horizons is None else horizons.reshape(-1),
            None if accept is None else accept.reshape(-1),
        )
    if targets.ndim != 1:
        raise ValueError(
            f"a spatial label {targets.shape[1:]} needs a spatial activation (T, C, H, W) of the same "
            f"board size, got {activations.shape}"
        )
    x = np.asarray(activations, dtype=np.float32).reshape(T, -1)
    return ProbeData(x, targets, episodes, "global", accept=accept)


def distinct_steps(rollouts: Rollouts) -> np.ndarray:
    """``(T,)`` True at the first visit of each board within its episode."""
    keep = np.zeros(len(rollouts), dtype=bool)
    seen: set[tuple[int, bytes]] = set()
    for i, (episode, robots) in enumerate(zip(rollouts.episode, rollouts.robots, strict=True)):
        key = (int(episode), robots.tobytes())
        keep[i] = key not in seen
        seen.add(key)
    return keep


def split_episodes(
    episodes: np.ndarray, fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean train, validation and test masks over ``episodes`` ``(rows,)``; whole episodes
    go to one side, in the proportions ``fractions`` (which sum to 1)."""
    if len(fractions) != 3 or not np.isclose(sum(fractions), 1.0) or min(fractions) <= 0:
        raise ValueError(
            f"fractions must be three positive shares of train, validation and test, got {fractions}"
        )
    distinct = np.unique(episodes)
    if len(distinct) < 3:
        raise ValueError(
            f"probes need at least three episodes (train, validation, test), got {len(distinct)}"
        )
    order = np.random.default_rng(seed).permutation(distinct)
    n_val = max(1, round(fractions[1] * len(distinct)))
    n_test = max(1, round(fractions[2] * len(distinct)))
    val, test = order[:n_val], order[n_val : n_val + n_test]
    in_val, in_test = np.isin(episodes, val), np.isin(episodes, test)
    return ~(in_val | in_test), in_val, in_test


def next_action_inputs(rollouts: Rollouts, spatial: bool, robot: Robot | None, n_actions: int) -> np.ndarray:
    """What the next-action oracle sees, shaped like an activation.

    Spatial: ``(T, 4, H, W)``, a one-hot of the direction in which the agent's next action moves
    ``robot`` off each cell (its slide path), zeros elsewhere. Global: ``(T, n_actions)``, a
    one-hot of the next action.
    """
    if not spatial:
        return np.eye(n_actions, dtype=np.float32)[rollouts.actions]
    direction = label_targets(rollouts, "agent_direction", robot)
    horizon = label_horizons(rollouts, "agent_direction", robot)
    assert horizon is not None  # collect_rollouts records agent_horizon
    now = np.where(horizon == 1, direction, -1)
    return np.stack([now == d for d in range(4)], axis=1).astype(np.float32)


def geometry_inputs(rollouts: Rollouts, robot: Robot) -> np.ndarray:
    """What a probe that knows only where the robot and the square are sees, shaped like an
    activation: ``(T, 1, H, W)``, at each cell the id of the pair (robot's cell, this cell).

    Read by a lookup table (`gridlab.interp.probes.LookupClassifier`), it predicts the label most
    often seen for that pair in training: how far a plan's layout around a robot can be guessed
    from geometry alone, by an agent that does not plan.
    """
    T, (H, W) = len(rollouts), rollouts.obs.shape[2:]
    where = rollouts.robots[np.arange(T), robot_ids(rollouts, robot)]  # (T, 2)
    robot_cell = where[:, 0] * W + where[:, 1]
    return (robot_cell[:, None, None, None] * (H * W) + np.arange(H * W).reshape(1, 1, H, W)).astype(
        np.float32
    )


def control_targets(obs: np.ndarray, targets: np.ndarray, train: np.ndarray, seed: int) -> np.ndarray:
    """Targets of the control task (Hewitt and Liang 2019): one random label per input type.

    The type of a cell is its own observation vector and its position (of a global row, the
    whole observation); each type gets one label, drawn from the training rows' label
    frequencies, so the task can be learned only by memorising types.

    Args:
        obs: ``(T, C, H, W)`` observations.
        targets: ``(T,)`` or ``(T, H, W)`` class ids.
        train: ``(T,)`` the training steps, whose label frequencies are drawn from.
        seed: Seed of the draw.
    """
    T = len(targets)
    if targets.ndim == 3:
        _, _, H, W = obs.shape
        rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
        where = np.broadcast_to(np.stack([rows, cols])[None], (T, 2, H, W))
        keys = np.concatenate([obs, where], axis=1).transpose(0, 2, 3, 1).reshape(T * H * W, -1)
    else:
        keys = obs.reshape(T, -1)
    _, types = np.unique(keys, axis=0, return_inverse=True)
    classes, counts = np.unique(targets[train], return_counts=True)
    rng = np.random.default_rng(seed)
    per_type = rng.choice(classes, size=types.max() + 1, p=counts / counts.sum())
    return per_type[types.reshape(-1)].reshape(targets.shape)
