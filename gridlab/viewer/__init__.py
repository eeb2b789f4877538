"""Interactive episode viewer for JupyterLab: board, ticks, activations, probe arrows, saliency and
interventions (`EpisodeViewer`), on episodes recorded step by step (`record_episode`)."""

from gridlab.viewer.editor import BoardEditor
from gridlab.viewer.episode import Ablate, AddDirection, Episode, Patch, record_episode
from gridlab.viewer.figure import View, draw_view
from gridlab.viewer.widget import EpisodeViewer

__all__ = [
    "Ablate",
    "AddDirection",
    "BoardEditor",
    "Episode",
    "EpisodeViewer",
    "Patch",
    "View",
    "draw_view",
    "record_episode",
]
