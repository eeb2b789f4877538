"""Can a saliency map be trusted? Sanity checks and quantitative measures.

Sanity checks in the manner of Adebayo et al. (2018): a map that explains the model must change
when the model does.

* `model_randomisation`: re-initialise the network's layers one by one from the output down
  (cascading) and compare each map with the trained network's;
* `label_randomisation`: train the same architecture twice from the same start, once on the
  true labels and once on permuted ones, and compare their maps.

Maps are compared by the Spearman rank correlation of their absolute values summed over channels
(one ``H x W`` map per board), averaged over boards with a 95% bootstrap interval. A check
*passes* when the maps are not all zero and the interval of the final comparison lies below
``threshold``; it *fails* otherwise, and says why.

Quantitative measures of one set of maps:

* `path_mass`: the share of attribution mass on the squares of the solver's plan (every robot's
  path), against the share of squares those are;
* `deletion_insertion`: the probability of the target action as squares are removed in order of
  attribution (deletion: it should fall fast) or put back onto a blank board (insertion: it
  should rise fast), against random orders. A removed square takes the baseline's channels
  (``"zeros"``: walls and pieces go, the default; ``"empty_board"``: only the pieces).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from gridlab.agent import Agent
from gridlab.env.board import FixedLayout
from gridlab.interp.labels import state_labels
from gridlab.interp.saliency import attribute, empty_board_baseline
from gridlab.interp.scores import bootstrap_counts, interval


@dataclass
class SanityCheck:
    """The outcome of a randomisation check.

    Attributes:
        table: One row per comparison: ``rank_correlation`` with the reference maps (mean over
            boards) and its ``low``/``high`` 95% interval.
        passed: Whether the maps changed as the model did (module docstring).
        reason: Why it passed or failed, in words.
        details: Anything else measured (training accuracies of `label_randomisation`).
    """

    table: pd.DataFrame
    passed: bool
    reason: str
    details: dict[str, Any]


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged, along the last axis."""
    flat = values.reshape(-1, values.shape[-1])
    out = np.empty_like(flat, dtype=np.float64)
    for i, row in enumerate(flat):
        order = np.argsort(row, kind="stable")
        ranks = np.empty(len(row))
        ranks[order] = np.arange(len(row))
        _, tie, counts = np.unique(row, return_inverse=True, return_counts=True)
        out[i] = (np.bincount(tie, weights=ranks) / counts)[tie]
    return out.reshape(values.shape)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation per board of ``|a|`` and ``|b|`` summed over channels.

    Args:
        a, b: ``(boards, C, H, W)`` (or ``(boards, ...)``) maps.

    Returns:
        ``(boards,)``; NaN where a map is constant (all zero, say).
    """
    x, y = _ranks(_magnitude(a)), _ranks(_magnitude(b))
    x, y = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    norm = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (x * y).sum(axis=1) / norm, np.nan)


def _magnitude(maps: np.ndarray) -> np.ndarray:
    """``(boards, squares)``: ``|map|`` summed over channels (image maps) or flattened."""
    magnitude = np.abs(maps)
    if maps.ndim == 4:
        magnitude = magnitude.sum(axis=1)
    return magnitude.reshape(len(maps), -1)


def _mean_with_interval(values: np.ndarray, seed: int = 0) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return {"rank_correlation": np.nan, "low": np.nan, "high": np.nan}
    counts = bootstrap_counts(len(finite), 1000, seed)
    low, high = interval(counts @ finite / len(finite))
    return {"rank_correlation": float(finite.mean()), "low": low, "high": high}


def _verdict(table: pd.DataFrame, reference: np.ndarray, threshold: float) -> tuple[bool, str]:
    if not np.abs(reference).any():
        return (
            False,
            "the reference maps are zero everywhere: the model's target does not depend on its input",
        )
    last = table.iloc[-1]
    if not np.isfinite(last["high"]):
        return False, "the randomised model's maps are constant: nothing to compare"
    measured = f"{last['rank_correlation']:.2f} [{last['low']:.2f}, {last['high']:.2f}]"
    if last["high"] < threshold:
        return True, f"after {table.index[-1]} the maps' rank correlation is {measured}, below {threshold}"
    return False, f"after {table.index[-1]} the maps still correlate with the reference at {measured} " \
                  f"(threshold {threshold})"  # fmt: skip


def _forward_order(agent: Agent, obs: np.ndarray) -> list[str]:
    """Names of the modules with parameters, in the order a forward pass first calls them."""
    named = {module: name for name, module in agent.policy.named_modules()
             if name and any(True for _ in module.parameters(recurse=False))}  # fmt: skip
    order: list[str] = []

    def record(module: nn.Module, *_: object) -> None:
        if named[module] not in order:
            order.append(named[module])

    handles = [module.register_forward_hook(record) for module in named]
    try:
        with torch.no_grad():
            agent.forward(obs[:1])
    finally:
        for handle in handles:
            handle.remove()
    return order


def model_randomisation(
    agent: Agent,
    obs: np.ndarray,
    method: str = "integrated_gradients",
    target: int | str = "chosen",
    baseline: str = "empty_board",
    threshold: float = 0.5,
    seed: int = 0,
    references: np.ndarray | None = None,
) -> SanityCheck:
    """Cascading model randomisation: layers re-initialised from the output down, one at a time.

    The target is held at the trained agent's choice (``"chosen"`` becomes the trained greedy
    action of each board), so every map explains the same logit. Layers that cannot reach the
    target (the value branch for an action's logit, the action branch for the value) are skipped.

    Args:
        agent: The trained agent.
        obs: ``(boards, *observation_shape)``.
        method, baseline, references: As for `attribute` (references: for ``expected_gradients``).
        target: ``"chosen"``, an action id, or ``"value"``.
        threshold: The rank correlation the fully randomised maps must stay below.
        seed: Seed of the fresh weights and of the bootstrap.

    Returns:
        A `SanityCheck` with one row per cascade step (``"trained"`` first, then each layer name,
        cumulative).
    """
    obs = np.asarray(obs, dtype=np.float32)
    with torch.no_grad():
        chosen = agent.forward(obs).logits.argmax(dim=1).numpy()
    maps_target = chosen if target == "chosen" else target
    reference = _attribute_each(agent, obs, method, maps_target, baseline, references)
    skip = ("value_net",) if target != "value" else ("action_net", "policy_net")
    layers = [name for name in reversed(_forward_order(agent, obs)) if not any(s in name for s in skip)]
    fresh = dict(agent.randomized(seed).policy.named_modules())
    copy = agent.randomized(seed)
    copy.policy.load_state_dict(agent.policy.state_dict())
    rows = {"trained": _mean_with_interval(rank_correlation(reference, reference), seed)}
    own = dict(copy.policy.named_modules())
    for name in layers:
        own[name].load_state_dict(fresh[name].state_dict())
        maps = _attribute_each(copy, obs, method, maps_target, baseline, references)
        rows[f"+ {name}"] = _mean_with_interval(rank_correlation(reference, maps), seed)
    table = pd.DataFrame(rows).T
    passed, reason = _verdict(table, reference, threshold)
    return SanityCheck(table, passed, reason, {"layers": layers})


def _attribute_each(
    agent: Agent,
    obs: np.ndarray,
    method: str,
    target: np.ndarray | int | str,
    baseline: str,
    references: np.ndarray | None = None,
) -> np.ndarray:
    """Attributions with a per-board action target (captum takes one target per call here)."""
    if isinstance(target, np.ndarray):
        return np.concatenate(
            [
                attribute(agent, obs[i : i + 1], method, int(t), baseline=baseline, references=references)
                for i, t in enumerate(target)
            ]
        )
    return attribute(agent, obs, method, target, baseline=baseline, references=references)


def label_randomisation(
    agent: Agent,
    obs: np.ndarray,
    labels: np.ndarray,
    method: str = "integrated_gradients",
    baseline: str = "empty_board",
    steps: int = 400,
    threshold: float = 0.5,
    seed: int = 0,
    references: np.ndarray | None = None,
) -> SanityCheck:
    """Data randomisation: the same architecture trained on true labels and on permuted ones.

    Both networks start from the same fresh weights and are trained with cross-entropy on the
    action logits (``steps`` full-batch Adam steps, learning rate 3e-3). The maps of the
    permuted-label network, for the true labels' action, are compared with the true-label
    network's. ``details`` reports both networks' training accuracy: the check means something
    only where the permuted labels were memorised too.

    Args:
        agent: Gives the architecture (its weights are not used).
        obs: ``(boards, *observation_shape)``, e.g. rollout observations.
        labels: ``(boards,)`` action ids, e.g. the first optimal action.
        method, baseline, references: As for `attribute` (references: for ``expected_gradients``).
        steps: Training steps of each network.
        threshold: The rank correlation the permuted-label maps must stay below.
        seed: Seed of the start weights, the permutation and the bootstrap.
    """
    obs = np.asarray(obs, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(obs),):
        raise ValueError(f"labels must be one action per board, shape ({len(obs)},), got {labels.shape}")
    permuted = np.random.default_rng(seed).permutation(labels)
    trained, accuracy = {}, {}
    for name, y in (("true labels", labels), ("permuted labels", permuted)):
        network = agent.randomized(seed)
        accuracy[name] = _fit(network, obs, y, steps, seed)
        trained[name] = network
    reference = _attribute_each(trained["true labels"], obs, method, labels, baseline, references)
    maps = _attribute_each(trained["permuted labels"], obs, method, labels, baseline, references)
    table = pd.DataFrame({
        "true labels": _mean_with_interval(rank_correlation(reference, reference), seed),
        "permuted labels": _mean_with_interval(rank_correlation(reference, maps), seed),
    }).T  # fmt: skip
    passed, reason = _verdict(table, reference, threshold)
    return SanityCheck(table, passed, reason, {"training_accuracy": accuracy})


def _fit(network: Agent, obs: np.ndarray, labels: np.ndarray, steps: int, seed: int) -> float:
    """Train ``network``'s policy to output ``labels``; its final training accuracy."""
    torch.manual_seed(seed)
    policy = network.policy.train()
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    x, y = torch.as_tensor(obs), torch.as_tensor(labels)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(network.forward(x).logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    policy.eval()
    with torch.no_grad():
        return float((network.forward(x).logits.argmax(dim=1) == y).float().mean())


def path_mass(maps: np.ndarray, layouts: Sequence[FixedLayout], seed: int = 0) -> dict[str, Any]:
    """Share of attribution mass on the solver's plan against the share of squares it covers.

    Args:
        maps: ``(boards, C, H, W)`` attributions of each layout's first observation.
        layouts: The boards (robots where the maps were taken).
        seed: Seed of the bootstrap over boards.

    Returns:
        ``mass`` (mean share of ``|map|`` summed over channels on the plan's squares), ``area``
        (mean share of squares on the plan), ``ratio`` (mass / area; 1 is what a map blind to the
        plan gets on average), each with a 95% interval over boards.
    """
    if len(maps) != len(layouts):
        raise ValueError(f"one map per layout: got {len(maps)} maps and {len(layouts)} layouts")
    magnitude = _magnitude(maps)
    on_path = np.stack([state_labels(layout)["plan_path"].any(axis=0).reshape(-1) for layout in layouts])
    total = magnitude.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mass = np.where(total > 0, (magnitude * on_path).sum(axis=1) / total, np.nan)
    area = on_path.mean(axis=1)
    keep = np.isfinite(mass)
    counts = bootstrap_counts(int(keep.sum()), 1000, seed)
    result: dict[str, Any] = {}
    for name, values in (("mass", mass[keep]), ("area", area[keep]), ("ratio", mass[keep] / area[keep])):
        result[name] = float(values.mean())
        result[f"{name}_ci"] = interval(counts @ values / len(values))
    return result | {"boards": int(keep.sum())}


def deletion_insertion(
    agent: Agent,
    obs: np.ndarray,
    maps: np.ndarray,
    baseline: str = "zeros",
    random_orders: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Deletion and insertion curves of the greedy action's probability, square by square.

    Squares are ranked by ``|map|`` summed over channels. Deletion replaces them, most attributed
    first, with the baseline's squares; insertion starts from the baseline board and puts the
    observation's squares back in the same order. Random orders give the reference curves.

    Args:
        agent: The agent (recurrent agents start from zero state).
        obs: ``(boards, C, H, W)``.
        maps: ``(boards, C, H, W)`` attributions of the greedy action.
        baseline: ``"zeros"`` or ``"empty_board"`` (module docstring).
        random_orders: Random orders per board for the reference curves.
        seed: Seed of the random orders and the bootstrap.

    Returns:
        ``deletion`` and ``insertion`` curves ``(boards, H*W + 1)`` (the probability after 0, 1,
        ... squares), their random-order means ``random_deletion``/``random_insertion``, and
        the area under each (mean over boards, fraction of squares on the x axis) with 95%
        intervals: ``*_auc`` and ``*_auc_ci``.
    """
    obs = np.asarray(obs, dtype=np.float32)
    if obs.ndim != 4 or maps.shape != obs.shape:
        raise ValueError(
            f"obs and maps must both be (boards, C, H, W) and alike, got {obs.shape} and {maps.shape}"
        )
    if baseline not in ("zeros", "empty_board"):
        raise ValueError(f"unknown baseline {baseline!r}; choose 'zeros' or 'empty_board'")
    boards, _, H, W = obs.shape
    base = np.zeros_like(obs) if baseline == "zeros" else empty_board_baseline(
        torch.as_tensor(obs), agent.env_spec.channel_names).numpy()  # fmt: skip
    with torch.no_grad():
        chosen = agent.forward(obs).logits.argmax(dim=1).numpy()
    rng = np.random.default_rng(seed)
    ranked = np.argsort(-_magnitude(maps), axis=1, kind="stable")
    orders = {"attribution": [ranked]} | {"random": [np.argsort(rng.random((boards, H * W)), axis=1)
                                                     for _ in range(random_orders)]}  # fmt: skip
    curves: dict[str, np.ndarray] = {}
    for kind, order_list in orders.items():
        for mode, start, end in (("deletion", obs, base), ("insertion", base, obs)):
            runs = [_curve(agent, start, end, order, chosen) for order in order_list]
            curves[mode if kind == "attribution" else f"random_{mode}"] = np.mean(runs, axis=0)
    counts = bootstrap_counts(boards, 1000, seed)
    result: dict[str, Any] = dict(curves)
    for name, curve in curves.items():
        auc = np.trapezoid(curve, dx=1.0 / (H * W), axis=1)
        result[f"{name}_auc"] = float(auc.mean())
        result[f"{name}_auc_ci"] = interval(counts @ auc / boards)
    return result


def _curve(
    agent: Agent, start: np.ndarray, end: np.ndarray, order: np.ndarray, action: np.ndarray
) -> np.ndarray:
    """``(boards, H*W + 1)`` probability of ``action`` as squares switch from ``start`` to ``end``."""
    boards, C, H, W = start.shape
    steps = H * W + 1
    switched = np.zeros((boards, steps, H * W), dtype=bool)  # after k squares: the first k of the order
    position = np.empty_like(order)
    position[np.arange(boards)[:, None], order] = np.arange(H * W)
    switched[:] = position[:, None, :] < np.arange(steps)[None, :, None]
    mask = switched.reshape(boards, steps, 1, H, W)
    frames = np.where(mask, end[:, None], start[:, None]).reshape(boards * steps, C, H, W)
    with torch.no_grad():
        probs = torch.softmax(agent.forward(frames).logits, dim=1).numpy()
    return probs.reshape(boards, steps, -1)[np.arange(boards), :, action]
