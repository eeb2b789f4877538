"""Draw one view of a recorded episode: the board with the chosen and optimal moves, an
activation (one channel or a grid of channels), a square probe's predictions as arrows whose
opacity is the probe's confidence, a saliency map and the action probabilities; with a second
episode (the same board under an intervention), both rows side by side."""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from gridlab.agent import Agent
from gridlab.env.board import DELTAS, DIRECTION_NAMES
from gridlab.env.rendering import ROBOT_COLORS, plot_board, plot_cell_values
from gridlab.interp.probe_rows import square_features
from gridlab.interp.probes import ProbeResult
from gridlab.interp.saliency import attribute
from gridlab.viewer.episode import Episode, intervention_hooks

GRID_CHANNELS = 16  # channels drawn in "grid" mode


@dataclass
class View:
    """What a view shows.

    Attributes:
        step: Episode step (clamped to each episode's length).
        hook: Spatial hook whose activation is drawn (for a DRC, one tick: ``drc.layers.0.hook_h.2``).
        channel: Channel drawn; None draws the first `GRID_CHANNELS` channels as a grid.
        probe: A square probe (`gridlab.interp.probes.probe`) applied to ``hook``'s layer at the
            tick shown, or None.
        saliency: A `gridlab.interp.saliency` method for the chosen action's logit, or None.
    """

    step: int = 0
    hook: str | None = None
    channel: int | None = 0
    probe: ProbeResult | None = None
    saliency: str | None = None


def action_names(num_robots: int) -> list[str]:
    """``robot * 4 + direction`` as ``"r0 UP"``, ..."""
    return [f"r{robot} {name}" for robot in range(num_robots) for name in DIRECTION_NAMES]


def probe_map(probe: ProbeResult, activation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A square probe applied to one ``(C, H, W)`` activation: the predicted class of every cell
    ``(H, W)`` and the probability of that class."""
    if probe.model is None or probe.kind != "square":
        raise ValueError(
            "the viewer draws fitted square probes (probe(...) on a spatial hook, kind 'square')"
        )
    features = square_features(activation[None], probe.features)[0]
    H, W, F = features.shape
    probs = probe.model.predict_proba(features.reshape(H * W, F))
    best = probs.argmax(1)
    classes = np.asarray(probe.model.classes_)[best].reshape(H, W)
    return classes, probs[np.arange(H * W), best].reshape(H, W)


def draw_view(agent: Agent, episodes: Sequence[Episode], view: View) -> Figure:
    """One row per episode (the unmodified run first): board, activation, probe, saliency and
    action probabilities at ``view.step``."""
    panels = [
        "board",
        "activation",
        *(["probe"] if view.probe is not None else []),
        *(["saliency"] if view.saliency else []),
        "actions",
    ]
    figure = Figure(figsize=(3.3 * len(panels), 3.4 * len(episodes)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(episodes), len(panels), squeeze=False)
    for row, episode in zip(axes, episodes, strict=True):
        step = min(view.step, len(episode) - 1)
        label = (
            "unmodified"
            if episode.intervention is None
            else textwrap.fill(episode.intervention.describe(), 48)
        )
        for ax, panel in zip(row, panels, strict=True):
            if panel == "board":
                _board(ax, episode, step, label)
            elif panel == "activation":
                _activation(figure, ax, episode, step, view)
            elif panel == "probe":
                assert view.probe is not None
                _probe(ax, episode, step, view.probe, view.hook)
            elif panel == "saliency":
                assert view.saliency is not None
                _saliency(ax, agent, episode, step, view.saliency)
            else:
                _actions(ax, episode, step)
    return figure


def _board(ax: Axes, episode: Episode, step: int, label: str) -> None:
    robots = list(episode.robots[step])
    action = int(episode.actions[step])
    plot_board(episode.layout, robots=robots, plan=[divmod(action, 4)], ax=ax)
    for move in np.flatnonzero(episode.optimal[step]):  # the solver's optimal moves, dashed
        robot, direction = divmod(int(move), 4)
        (r, c), (dr, dc) = robots[robot], DELTAS[direction]
        ax.annotate(
            "",
            xy=(c + 0.5 + 0.45 * dc, r + 0.5 + 0.45 * dr),
            xytext=(c + 0.5, r + 0.5),
            arrowprops={"arrowstyle": "->", "color": "green", "lw": 1.2, "ls": "--"},
            zorder=9,
        )
    verdict = "optimal" if episode.optimal[step, action] else "not optimal"
    end = (
        f"; {'solved' if episode.solved else 'not solved'} in {len(episode)}"
        if step == len(episode) - 1
        else ""
    )
    ax.set_title(
        f"{label}\nstep {step}: {action_names(episode.layout.num_robots)[action]} ({verdict}){end}",
        fontsize=8,
    )


def _activation(figure: Figure, ax: Axes, episode: Episode, step: int, view: View) -> None:
    if view.hook is None:
        ax.set_axis_off()
        return
    activation = episode.activations[view.hook][step]
    if view.channel is not None:
        values = activation[view.channel]
        image = ax.imshow(values, cmap="RdBu_r", vmin=-np.abs(values).max(), vmax=np.abs(values).max())
        figure.colorbar(image, ax=ax, shrink=0.7)
        ax.set_title(f"{view.hook}\nchannel {view.channel}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    shown = activation[:GRID_CHANNELS]
    side = int(np.ceil(np.sqrt(len(shown))))
    H, W = shown.shape[1:]
    mosaic = np.full((side * (H + 1) - 1, side * (W + 1) - 1), np.nan)
    for k, channel in enumerate(shown):
        r, c = divmod(k, side)
        mosaic[r * (H + 1) : r * (H + 1) + H, c * (W + 1) : c * (W + 1) + W] = channel / (
            np.abs(channel).max() or 1
        )
    ax.imshow(mosaic, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_title(f"{view.hook}\nchannels 0-{len(shown) - 1} (each scaled to its max)", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def _probe(ax: Axes, episode: Episode, step: int, probe: ProbeResult, hook: str | None) -> None:
    # the probe reads its own layer at the tick shown (the hook's last part), when the view shows a tick of it
    source = probe.hook
    if hook is not None and hook.rsplit(".", 1)[0] == probe.hook.rsplit(".", 1)[0]:
        source = hook
    classes, confidence = probe_map(probe, episode.activations[source][step])
    plot_board(episode.layout, robots=list(episode.robots[step]), ax=ax)
    for r, c in zip(*np.nonzero(classes >= 0), strict=True):
        dr, dc = DELTAS[int(classes[r, c])]
        ax.annotate(
            "",
            xy=(c + 0.5 + 0.32 * dc, r + 0.5 + 0.32 * dr),
            xytext=(c + 0.5 - 0.32 * dc, r + 0.5 - 0.32 * dr),
            arrowprops={"arrowstyle": "-|>", "color": "tab:red", "lw": 1.6, "alpha": float(confidence[r, c])},
            zorder=8,
        )
    ax.set_title(f"probe {probe.label} on {source}\n(opacity: probability)", fontsize=8)


def _saliency(ax: Axes, agent: Agent, episode: Episode, step: int, method: str) -> None:
    held = [] if episode.intervention is None else intervention_hooks(agent, episode.intervention)(step)
    with agent.hooks(held):  # the map of the run shown: with its intervention
        maps = attribute(agent, episode.obs[step][None], method=method, state=episode.states[step])
    plot_cell_values(episode.layout, maps[0].sum(axis=0), robots=list(episode.robots[step]), ax=ax)
    ax.set_title(f"{method}, chosen action's logit\n(summed over input channels)", fontsize=8)


def _actions(ax: Axes, episode: Episode, step: int) -> None:
    names = action_names(episode.layout.num_robots)
    colors = [np.array(ROBOT_COLORS[k // 4]) / 255 for k in range(len(names))]
    bars = ax.barh(range(len(names)), episode.probs[step], color=colors)
    for k in np.flatnonzero(episode.optimal[step]):
        bars[k].set_edgecolor("green")
        bars[k].set_linewidth(2)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_title(f"action probabilities (value {episode.values[step]:.2f})\ngreen edge: optimal", fontsize=8)


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def save_gif(
    frames: Sequence[bytes], path: str | os.PathLike | IO[bytes], seconds_per_frame: float = 0.8
) -> None:
    """PNG frames as a looping animated GIF, into a file or an open binary file."""
    images = [Image.open(io.BytesIO(frame)).convert("RGB") for frame in frames]
    size = images[0].size
    images = [image if image.size == size else image.resize(size) for image in images]
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=int(1000 * seconds_per_frame),
        loop=0,
        format="GIF",
    )
