"""Saliency maps with captum: which input cells (or hook activations) drive an action or the value.

`attribute(agent, obs, method, target)` wraps the policy so each example gives one scalar:
``target="chosen"`` the logit of the action the agent takes, an int the logit of that action,
``"value"`` the state value. A recurrent agent's state is held fixed at what you pass (zeros by
default): attributions answer "given this memory, what in the observation matters".

Baselines are chosen deliberately. An all-zero image is *not* a neutral board here (it has no
walls, no robots and no goal, which no real board looks like); the default ``"empty_board"``
keeps the wall channels and clears the goal, target and robot channels, so attributions
measure the effect of the pieces on the board, not of the walls every board has. Path methods
multiply by ``input - baseline``, so against the empty board their maps are non-zero on the
goal and robot squares only, for any network: `gridlab.interp.saliency_checks` shows it.
``"expected_gradients"`` (Erion et al. 2021) instead averages over baselines drawn from real
boards (``references=``), so walls and every square can carry attribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from captum.attr import (
    GradientShap,
    IntegratedGradients,
    LayerGradientShap,
    LayerGradientXActivation,
    LayerIntegratedGradients,
    Occlusion,
    Saliency,
)
from matplotlib.figure import Figure
from torch import nn

from gridlab.agent import Agent, State
from gridlab.env.board import Cell, FixedLayout
from gridlab.env.observations import WALL_CHANNELS
from gridlab.env.rendering import plot_cell_values

METHODS = ("saliency", "integrated_gradients", "gradient_shap", "expected_gradients", "occlusion")
# with a captum layer counterpart
LAYER_METHODS = ("saliency", "integrated_gradients", "gradient_shap", "expected_gradients")


def _index(target: torch.Tensor | int, i: int) -> int:
    return int(target[i]) if isinstance(target, torch.Tensor) else target


def _example_state(state: State | None, i: int, batch: int) -> State | None:
    """Example ``i``'s recurrent state: a state given for the whole batch is sliced, one for a
    single example is shared."""
    if state is None or batch == 1 or state[0].shape[1] != batch:
        return state
    return tuple(s[:, i : i + 1] for s in state)


class PolicyScalar(nn.Module):
    """The agent as ``obs -> (batch,)``: one logit per example, or the value.

    Args:
        agent: The agent.
        target: ``"value"``, or ``"logits"`` (all action logits; captum picks one with its
            ``target`` argument).
        state: Recurrent state held fixed for every example (zeros when None).
    """

    def __init__(self, agent: Agent, target: str, state: State | None = None) -> None:
        super().__init__()
        self.agent, self.target, self.state = agent, target, state

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        state = None
        if self.state is not None:  # tile the fixed state over captum's expanded batch
            fixed = [torch.as_tensor(s).detach().float() for s in self.state]
            copies, rest = divmod(obs.shape[0], fixed[0].shape[1])
            if rest:
                raise ValueError(f"state batch {fixed[0].shape[1]} does not divide the batch {obs.shape[0]}")
            state = tuple(s.repeat(1, copies, 1) for s in fixed)
        out = self.agent.forward(obs, state)
        return out.value if self.target == "value" else out.logits


def empty_board_baseline(obs: torch.Tensor, channel_names: tuple[str, ...] | list[str]) -> torch.Tensor:
    """The same boards with only their walls: goal, target and robot channels cleared."""
    if obs.ndim != 4:
        raise ValueError(
            f"the empty-board baseline needs image observations (batch, C, H, W), got {tuple(obs.shape)}"
        )
    baseline = torch.zeros_like(obs)
    for k, name in enumerate(channel_names):
        if name in WALL_CHANNELS:
            baseline[:, k] = obs[:, k]
    return baseline


def attribute(
    agent: Agent,
    obs: np.ndarray | torch.Tensor,
    method: str = "integrated_gradients",
    target: int | str = "chosen",
    state: State | None = None,
    baseline: str = "empty_board",
    layer: str | None = None,
    references: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """Attributions for a batch of observations.

    With ``layer`` each method attributes to that hook's activation with captum's layer
    counterpart: ``"saliency"`` is the gradient of the target with respect to the activation
    (`LayerGradientXActivation` without the multiplication by the activation),
    ``"integrated_gradients"`` is `LayerIntegratedGradients` (complete: the map sums to the
    target's change when the activation goes from its value on the baseline board to its value
    on the observation) and ``"gradient_shap"`` is `LayerGradientShap`. Occlusion slides a
    window over input cells and has no layer version (`LAYER_METHODS`).

    Args:
        agent: The agent.
        obs: ``(batch, *observation_shape)``, a numpy array or a tensor.
        method: One of `METHODS` (one of `LAYER_METHODS` with ``layer``).
        target: ``"chosen"`` (the greedy action's logit), an action id, or ``"value"``.
        state: Recurrent state held fixed: ``(h, c)`` for one example (repeated over the batch) or
            for the whole batch; zeros when None.
        baseline: ``"empty_board"`` (walls only; image observations) or ``"zeros"``.
        layer: A hook name: attribute to that activation instead of the input.
        references: ``(n, *observation_shape)`` real boards, the baseline distribution of
            ``"expected_gradients"`` (GradientShap with those baselines and no noise); other
            methods ignore it.

    Returns:
        Attributions shaped like ``obs`` (or like the hook's activation when ``layer`` is set).

    Raises:
        ValueError: For an unknown method, target, baseline or hook, a method without a layer
            version, or observations that do not fit the agent (checked by `Agent.forward`
            before any attribution runs).
    """
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; choose one of {', '.join(METHODS)}")
    if layer is not None and method not in LAYER_METHODS:
        raise ValueError(
            f"method {method!r} has no layer version; with layer= use one of {', '.join(LAYER_METHODS)}, "
            "or drop layer= to attribute to the input"
        )
    hook = None if layer is None else agent.hook_point(layer)
    n = agent.env_spec.n_actions
    if not (target in ("chosen", "value") or (isinstance(target, (int, np.integer)) and 0 <= target < n)):
        raise ValueError(f"target must be 'chosen', 'value' or an action 0..{n - 1}, got {target!r}")
    if baseline not in ("empty_board", "zeros"):
        raise ValueError(f"unknown baseline {baseline!r}; choose 'empty_board' or 'zeros'")
    if method == "expected_gradients" and (references is None or len(references) == 0):
        raise ValueError("expected_gradients needs references=: real observations to draw baselines from")
    if method == "expected_gradients" and references is not None and references.shape[1:] != obs.shape[1:]:
        raise ValueError(
            f"references must be observations like obs, (n, {', '.join(map(str, obs.shape[1:]))}), "
            f"got {tuple(references.shape)}"
        )
    x = torch.as_tensor(obs).detach().float()
    model = PolicyScalar(agent, "value" if target == "value" else "logits", state)
    with torch.no_grad():  # one plain pass first: Agent.forward checks obs before captum expands it
        scores = model(x)
    captum_target: torch.Tensor | int | None = None  # None: the value, one scalar per example
    if target == "chosen":
        captum_target = scores.argmax(dim=1)
    elif target != "value":
        captum_target = int(target)
    if baseline == "empty_board":
        base = empty_board_baseline(x, agent.env_spec.channel_names)
    else:
        base = torch.zeros_like(x)

    if method == "saliency":
        if hook is None:
            attributions = Saliency(model).attribute(
                x.clone().requires_grad_(), target=captum_target, abs=False
            )
        else:
            gradient = LayerGradientXActivation(model, hook, multiply_by_inputs=False)
            attributions = gradient.attribute(x, target=captum_target)
    elif method == "integrated_gradients":
        integrated = IntegratedGradients(model) if hook is None else LayerIntegratedGradients(model, hook)
        attributions = integrated.attribute(x, baselines=base, target=captum_target, n_steps=50)
    elif method in ("gradient_shap", "expected_gradients"):
        # Baselines are a distribution shared by the batch: gradient_shap uses each board's own,
        # lightly jittered, expected_gradients the reference boards; one board at a time (captum
        # repeats each example, so a per-board state is sliced too).
        generator = torch.Generator().manual_seed(0)
        reference = None
        if method == "expected_gradients":
            reference = torch.as_tensor(np.array(references, dtype=np.float32))  # a copy: any strides
        parts = []
        for i in range(len(x)):
            one = PolicyScalar(agent, model.target, _example_state(state, i, len(x)))
            shap = GradientShap(one) if hook is None else LayerGradientShap(one, hook)
            if reference is None:
                jitter = 0.05 * torch.rand((8, *x.shape[1:]), generator=generator)
                draws, samples = base[i : i + 1] + jitter, 16
            else:
                draws, samples = reference, 32
            one_target = None if captum_target is None else _index(captum_target, i)
            parts.append(shap.attribute(x[i : i + 1], baselines=draws, target=one_target, n_samples=samples))
        attributions = torch.cat(parts)
    else:
        window = (x.shape[1], 1, 1) if x.ndim == 4 else (1,)
        attributions = Occlusion(model).attribute(
            x, sliding_window_shapes=window, baselines=base, target=captum_target
        )
    return attributions.detach().numpy()


def plot_saliency(
    layout: FixedLayout, maps: np.ndarray, channel_names: Sequence[str], robots: Sequence[Cell] | None = None,
    title: str | None = None,
) -> Figure:  # fmt: skip
    """The board with the attribution summed over channels drawn over it, then one panel per channel.

    Args:
        layout: The board the observation shows.
        maps: ``(channels, H, W)`` attributions of one image observation.
        channel_names: Names of the channels (``env.channel_names``).
        robots: Robot cells, if they moved since ``layout``.
        title: Figure title.
    """
    n = len(channel_names)
    fig, axes = plt.subplots(1, n + 1, figsize=(2.2 * (n + 1), 2.6))
    limit = float(np.abs(maps).max()) or 1.0
    plot_cell_values(layout, maps.sum(axis=0), robots=robots, ax=axes[0])
    axes[0].set_title("summed", fontsize=8)
    for ax, name, plane in zip(axes[1:], channel_names, maps, strict=True):
        ax.imshow(plane, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
