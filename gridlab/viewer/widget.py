"""`EpisodeViewer`: an agent's episode in JupyterLab, step by step and tick by tick.

    viewer = EpisodeViewer(gridlab.load("checkpoints/random8x8_convlstm"), probe=result)
    viewer          # the widget, in a notebook cell

Every control calls a method that also works without a browser (tests drive these):
`open` a board (a held-out bank puzzle by index, a layout, or the board editor's), `show` a
step, tick, layer, channel (or a grid of channels), the square probe and a saliency method,
`intervene` (an `Ablate`, `AddDirection` or `Patch` held over a replay, drawn beside the
unmodified run), and `export_png` / `export_gif` for papers. The figure is drawn with
matplotlib into an image widget, so it needs no server or front-end extension of its own.
"""

from __future__ import annotations

import os
import re
import traceback
from pathlib import Path
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from gridlab.agent import Agent
from gridlab.env.board import FixedLayout
from gridlab.files import atomic_write
from gridlab.interp.probes import ProbeResult, probe_direction
from gridlab.interp.saliency import METHODS
from gridlab.viewer.editor import BoardEditor, cells_text, channels_text
from gridlab.viewer.episode import Ablate, AddDirection, Episode, Intervention, Patch, record_episode
from gridlab.viewer.figure import View, draw_view, figure_png, save_gif

_TICK = re.compile(r"(.*\.hook_[a-z]+)\.(\d+)")


class EpisodeViewer:
    """Interactive view of ``agent`` playing a board (see the module docstring).

    Args:
        agent: The agent.
        puzzle: A `FixedLayout`, or the index of a held-out puzzle of the agent's bank (or of
            its held-out evaluation puzzles); default 0.
        probe: A fitted square probe (`gridlab.interp.probes.probe`) to draw, and whose
            direction "add probe direction" adds.
    """

    controls: dict[str, Any]
    layer: str
    image: widgets.Image
    status: widgets.HTML
    widget: widgets.VBox
    editor: BoardEditor
    _editor_box: widgets.VBox
    _use_board: widgets.Button

    def __init__(self, agent: Agent, puzzle: FixedLayout | int = 0, probe: ProbeResult | None = None) -> None:
        self.agent, self.probe = agent, probe
        self.layers = _layers(agent.spatial_hook_names())
        self.view = View(probe=probe)
        self.tick = 0
        self.episode: Episode
        self.modified: Episode | None = None
        self._build_controls()
        self.open(puzzle)

    # -- what the controls do --------------------------------------------------------------------
    def open(self, puzzle: FixedLayout | int) -> None:
        """Play ``puzzle`` (a layout or a held-out puzzle index) unmodified, from step 0."""
        layout = self._puzzle(puzzle) if not isinstance(puzzle, FixedLayout) else puzzle
        self.episode = record_episode(self.agent, layout)
        self.modified = None
        if not hasattr(self, "editor"):
            self.editor = BoardEditor(layout)
            self._editor_box.children = [self.editor.widget, self._use_board]
        self.editor.load(layout)
        self.controls["step"].max = len(self.episode) - 1
        self.controls["step"].value = 0
        self.show(step=0)

    def show(self, **settings: Any) -> None:
        """Change what is shown: ``step``, ``tick``, ``layer`` (a hook without its tick),
        ``channel`` (None: a grid of channels), ``saliency`` (a method or None) and
        ``show_probe`` (bool), then redraw."""
        unknown = set(settings) - {"step", "tick", "layer", "channel", "saliency", "show_probe"}
        if unknown:
            raise ValueError(f"unknown view settings {sorted(unknown)}")
        if "layer" in settings and settings["layer"] not in self.layers:
            raise ValueError(f"unknown layer {settings['layer']!r}; choose one of {list(self.layers)}")
        if settings.get("saliency") not in (None, *METHODS):
            raise ValueError(
                f"unknown saliency method {settings['saliency']!r}; choose one of {', '.join(METHODS)}"
            )
        layer: str = settings.get("layer", self.layer)
        ticks = self.layers[layer]
        tick = settings.get("tick", self.tick)
        if not 0 <= tick < max(ticks, 1):
            raise ValueError(f"tick must lie in 0..{max(ticks, 1) - 1} for {layer}, got {tick}")
        step = settings.get("step", self.view.step)
        if not 0 <= step < max(len(self.episode), len(self.modified or ())):
            raise ValueError(f"step must lie in 0..{len(self.episode) - 1}, got {step}")
        self.layer, self.tick = layer, tick
        self.view.step = step
        self.view.hook = f"{layer}.{tick}" if ticks else layer
        if "channel" in settings:
            self.view.channel = settings["channel"]
        if "saliency" in settings:
            self.view.saliency = settings["saliency"]
        if "show_probe" in settings:
            self.view.probe = self.probe if settings["show_probe"] else None
        self._sync_controls()
        self.image.value = figure_png(self.figure())

    def intervene(self, intervention: Intervention | None) -> None:
        """Replay the board with ``intervention`` held at every step, beside the unmodified run
        (None: back to the unmodified run alone)."""
        self.modified = (
            None if intervention is None else record_episode(self.agent, self.episode.layout, intervention)
        )
        self.controls["step"].max = max(len(self.episode), len(self.modified or ())) - 1
        self.show(step=min(self.view.step, self.controls["step"].max))

    def figure(self) -> Figure:
        """The current view as a matplotlib figure."""
        episodes = [self.episode] if self.modified is None else [self.episode, self.modified]
        return draw_view(self.agent, episodes, self.view)

    def export_png(self, path: str | os.PathLike, dpi: int = 150) -> Path:
        """Write the current view as a PNG (atomically; missing folders are made)."""
        data = figure_png(self.figure(), dpi=dpi)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(data))
        return Path(path)

    def export_gif(self, path: str | os.PathLike, seconds_per_frame: float = 0.8) -> Path:
        """Write every step of the episode (both runs, with an intervention) with the current
        settings as an animated GIF (atomically); the view returns to its step afterwards."""
        step, frames = self.view.step, []
        for t in range(self.controls["step"].max + 1):
            self.view.step = t
            frames.append(figure_png(self.figure()))
        self.view.step = step
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: save_gif(frames, f, seconds_per_frame))
        return Path(path)

    # -- the widget ---------------------------------------------------------------------------------
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _puzzle(self, index: int) -> FixedLayout:
        puzzles = self.agent.evaluation_puzzles(index + 1)
        if not 0 <= index < len(puzzles):
            raise ValueError(f"puzzle index must lie in 0..{len(puzzles) - 1}, got {index}")
        return puzzles[index][0]

    def _build_controls(self) -> None:
        hidden = [name for name in self.layers if name.endswith(".hook_h")]  # a DRC's last layer
        self.layer = (hidden or list(self.layers))[-1]
        style = {"description_width": "initial"}
        c = self.controls = {
            "puzzle": widgets.BoundedIntText(
                value=0, min=0, max=10**6, description="held-out puzzle", style=style
            ),
            "step": widgets.IntSlider(min=0, max=0, description="step", continuous_update=False),
            "tick": widgets.IntSlider(
                min=0,
                max=max(max(self.layers.values()) - 1, 0),
                description="tick",
                continuous_update=False,
                disabled=not self.agent.is_recurrent,
            ),
            "layer": widgets.Dropdown(options=list(self.layers), description="layer", style=style),
            "channel": widgets.BoundedIntText(value=0, min=0, max=4096, description="channel"),
            "grid": widgets.Checkbox(value=False, description="grid of channels"),
            "saliency": widgets.Dropdown(options=["none", *METHODS], description="saliency"),
            "show_probe": widgets.Checkbox(
                value=self.probe is not None, description="probe arrows", disabled=self.probe is None
            ),
            "kind": widgets.Dropdown(
                options=["none", "ablate", "add probe direction", "patch"],
                description="intervention",
                style=style,
            ),
            "hook_cells": widgets.Text(placeholder="cells: 2,3; 4,1 (empty: all)", description="cells"),
            "channels": widgets.Text(placeholder="0, 3 (empty: all)", description="channels"),
            "strength": widgets.FloatText(value=2.0, description="strength"),
            "source": widgets.BoundedIntText(
                value=1, min=0, max=10**6, description="patch from puzzle", style=style
            ),
            "path": widgets.Text(value="viewer.png", description="export to"),
        }
        self.status = widgets.HTML()
        self.image = widgets.Image(format="png")
        for name in ("step", "tick", "layer", "saliency", "show_probe"):
            c[name].observe(lambda change, name=name: self._on(name, change["new"]), names="value")
        c["channel"].observe(lambda change: self._on("channel", change["new"]), names="value")
        c["grid"].observe(lambda change: self._on("grid", change["new"]), names="value")
        buttons = {
            "open": widgets.Button(description="open puzzle"),
            "apply": widgets.Button(description="apply intervention", button_style="warning"),
            "png": widgets.Button(description="save PNG"),
            "gif": widgets.Button(description="save GIF"),
        }
        buttons["open"].on_click(lambda _: self._guarded(lambda: self.open(c["puzzle"].value)))
        buttons["apply"].on_click(lambda _: self._guarded(lambda: self.intervene(self.chosen_intervention())))
        buttons["png"].on_click(
            lambda _: self._guarded(lambda: self._exported(self.export_png(c["path"].value)))
        )
        buttons["gif"].on_click(
            lambda _: self._guarded(
                lambda: self._exported(self.export_gif(Path(c["path"].value).with_suffix(".gif")))
            )
        )
        self._use_board = widgets.Button(description="play this board", button_style="info")
        self._use_board.on_click(lambda _: self._guarded(lambda: self.open(self.editor.layout())))
        self._editor_box = widgets.VBox()
        view = widgets.VBox(
            [
                widgets.HBox([c["puzzle"], buttons["open"]]),
                widgets.HBox([c["step"], c["tick"]]),
                widgets.HBox([c["layer"], c["channel"], c["grid"]]),
                widgets.HBox([c["saliency"], c["show_probe"]]),
            ]
        )
        intervene = widgets.VBox(
            [
                widgets.HBox([c["kind"], c["hook_cells"]]),
                widgets.HBox([c["channels"], c["strength"], c["source"]]),
                buttons["apply"],
            ]
        )
        export = widgets.HBox([c["path"], buttons["png"], buttons["gif"]])
        tabs = widgets.Tab(children=[view, intervene, self._editor_box, export])
        for index, title in enumerate(["view", "intervene", "draw a board", "export"]):
            tabs.set_title(index, title)
        self.widget = widgets.VBox([tabs, self.status, self.image])

    def chosen_intervention(self) -> Intervention | None:
        """The intervention the "intervene" tab describes, on the layer and tick shown."""
        c, hook = self.controls, self.view.hook
        assert hook is not None  # a layer is always shown
        kind, cells = c["kind"].value, cells_text(c["hook_cells"].value)
        if kind == "none":
            return None
        if kind == "ablate":
            return Ablate(hook, channels_text(c["channels"].value), cells)
        if kind == "add probe direction":
            if self.probe is None:
                raise ValueError(
                    "adding a probe direction needs the viewer's probe (EpisodeViewer(agent, probe=...))"
                )
            if cells is None:
                raise ValueError("say at which cells to add the probe direction, e.g. '2,3; 2,4'")
            target = int(c["channels"].value.strip() or 0)  # the probe's class: a direction 0-3
            return AddDirection(
                hook,
                probe_direction(self.probe, target),
                cells,
                float(c["strength"].value),
                f"probe class {target}",
            )
        source = record_episode(self.agent, self._puzzle(int(c["source"].value)))
        return Patch(hook, source, cells)

    def _on(self, name: str, value: Any) -> None:
        if getattr(self, "_syncing", False):
            return
        if name == "grid":
            self._guarded(lambda: self.show(channel=None if value else self.controls["channel"].value))
        elif name == "channel":
            self._guarded(lambda: self.show(channel=None if self.controls["grid"].value else value))
        elif name == "saliency":
            self._guarded(lambda: self.show(saliency=None if value == "none" else value))
        else:
            self._guarded(lambda: self.show(**{name: value}))

    def _sync_controls(self) -> None:
        """Set the controls to the view (without their callbacks redrawing again)."""
        self._syncing = True
        try:
            c = self.controls
            c["step"].value, c["layer"].value = self.view.step, self.layer
            c["tick"].value = self.tick
            c["tick"].max = max(self.layers[self.layer] - 1, 0)
            c["grid"].value = self.view.channel is None
            if self.view.channel is not None:
                c["channel"].value = self.view.channel
            c["saliency"].value = self.view.saliency or "none"
            c["show_probe"].value = self.view.probe is not None
        finally:
            self._syncing = False

    def _guarded(self, action: Any) -> None:
        """Run a control's action; a bad input shows its message instead of a traceback."""
        self.status.value = ""
        try:
            action()
        except ValueError as error:
            self.status.value = f"<span style='color:#b00'>{error}</span>"
        except Exception:  # shown in the widget: a callback's exception would otherwise vanish
            self.status.value = f"<pre style='color:#b00'>{traceback.format_exc(limit=3)}</pre>"

    def _exported(self, path: Path) -> None:
        self.status.value = f"saved {path}"


def _layers(spatial: list[str]) -> dict[str, int]:
    """Spatial hooks grouped by layer: ``{layer: number of ticks}`` (0 for hooks without ticks)."""
    layers: dict[str, int] = {}
    for name in spatial:
        match = _TICK.fullmatch(name)
        if match is None:
            layers[name] = 0
        else:
            layers[match.group(1)] = max(layers.get(match.group(1), 0), int(match.group(2)) + 1)
    return layers
