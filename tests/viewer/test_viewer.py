"""The episode viewer, driven headlessly: recording, interventions, the widget's controls, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gridlab
from gridlab.env import FixedLayout, empty_walls
from gridlab.interp import collect_rollouts, probe
from gridlab.interp.labels import state_labels
from gridlab.interp.probes import probe_direction
from gridlab.training import evaluate
from gridlab.viewer import Ablate, AddDirection, BoardEditor, EpisodeViewer, Patch, record_episode
from gridlab.viewer.figure import probe_map

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


@pytest.fixture(scope="module")
def drc() -> gridlab.Agent:
    return gridlab.load(CHECKPOINTS / "random5x5_convlstm")


@pytest.fixture(scope="module")
def cnn() -> gridlab.Agent:
    return gridlab.load(CHECKPOINTS / "random5x5_small_cnn")


@pytest.fixture(scope="module")
def square_probe(drc: gridlab.Agent) -> gridlab.interp.ProbeResult:
    rollouts = collect_rollouts(drc, drc.evaluation_puzzles(60), progress=False)
    return probe(drc, rollouts, "drc.layers.1.hook_h.1", "agent_direction", robot="target", baselines=False,
                 n_boot=50)  # fmt: skip


def test_an_episode_is_the_agents_greedy_play_with_every_tick_recorded(drc: gridlab.Agent) -> None:
    puzzles = drc.evaluation_puzzles(12)
    result = evaluate(drc.act, drc.make_env(), puzzles)
    for (layout, _), moves, solved in zip(puzzles, result.moves, result.solved, strict=True):
        episode = record_episode(drc, layout)
        assert len(episode) == moves and episode.solved == solved
        assert episode.robots[0] == layout.robots and len(episode.robots) == moves + 1
        np.testing.assert_allclose(episode.probs.sum(axis=1), 1.0, rtol=1e-5)
        assert (episode.probs.argmax(axis=1) == episode.actions).all()
        assert episode.optimal[0].tolist() == state_labels(layout)["optimal_actions"].tolist()
        assert set(episode.activations) == set(drc.spatial_hook_names())
        assert episode.activations["drc.layers.1.hook_h.1"].shape == (moves, 16, 5, 5)
        assert episode.states[0] is not None and not episode.states[0][0].any()  # zero state at the start


def test_ablation_zeroes_the_activation_at_the_chosen_cells_for_the_whole_episode(drc: gridlab.Agent) -> None:
    layout = drc.evaluation_puzzles(1)[0][0]
    plain = record_episode(drc, layout)
    ablated = record_episode(drc, layout, Ablate("drc.layers.0.hook_c.0", channels=(1, 4), cells=((2, 3),)))
    edited = ablated.activations["drc.layers.0.hook_c.0"]
    assert (edited[:, [1, 4], 2, 3] == 0).all() and edited[:, [1, 4], 2, 3].size == 2 * len(ablated)
    np.testing.assert_array_equal(edited[0, 0], plain.activations["drc.layers.0.hook_c.0"][0, 0])  # untouched
    # zeroing the last tick of the last layer everywhere changes what the agent does
    blind = record_episode(drc, layout, Ablate("drc.layers.1.hook_h.1"))
    assert not np.allclose(blind.probs[0], plain.probs[0], atol=1e-3)


def test_a_probe_direction_is_added_at_the_chosen_cells_only(drc: gridlab.Agent) -> None:
    layout = drc.evaluation_puzzles(1)[0][0]
    direction = np.arange(16, dtype=np.float32) - 10
    plain = record_episode(drc, layout)
    steered = record_episode(
        drc, layout, AddDirection("drc.layers.0.hook_h.0", direction, ((1, 1), (4, 0)), 3.0)
    )
    change = steered.activations["drc.layers.0.hook_h.0"][0] - plain.activations["drc.layers.0.hook_h.0"][0]
    unit = direction / np.linalg.norm(direction)
    np.testing.assert_allclose(change[:, 1, 1], 3.0 * unit, atol=1e-5)
    np.testing.assert_allclose(change[:, 4, 0], 3.0 * unit, atol=1e-5)
    change[:, 1, 1] = change[:, 4, 0] = 0
    assert np.abs(change).max() == 0
    with pytest.raises(ValueError, match="direction must be a nonzero vector of 16 values"):
        record_episode(drc, layout, AddDirection("drc.layers.0.hook_h.0", direction[:5], ((1, 1),)))
    with pytest.raises(ValueError, match="cell"):
        record_episode(drc, layout, AddDirection("drc.layers.0.hook_h.0", direction, ((5, 0),)))
    with pytest.raises(ValueError, match=r"channels must lie in 0..15"):
        record_episode(drc, layout, Ablate("drc.layers.0.hook_h.0", channels=(16,)))
    with pytest.raises(ValueError, match="is not one"):
        record_episode(drc, layout, Ablate("drc.hook_output"))


def test_patching_the_last_map_from_another_board_gives_that_boards_decision(cnn: gridlab.Agent) -> None:
    (first, _), (second, _) = cnn.evaluation_puzzles(2)
    donor = record_episode(cnn, second)
    patched = record_episode(cnn, first, Patch("features_extractor.hook_relu2", donor))
    # everything after the last spatial map reads only that map: the donor's decision, step by step
    np.testing.assert_allclose(patched.probs[0], donor.probs[0], rtol=1e-5, atol=1e-6)
    same = record_episode(cnn, first, Patch("features_extractor.hook_relu2", record_episode(cnn, first)))
    np.testing.assert_array_equal(same.actions, record_episode(cnn, first).actions)


def test_the_viewer_steps_through_steps_ticks_layers_and_channels(drc: gridlab.Agent, square_probe) -> None:
    viewer = EpisodeViewer(drc, puzzle=2, probe=square_probe)
    assert viewer.view.hook == "drc.layers.1.hook_h.0" and viewer.layers["drc.layers.1.hook_h"] == 2
    assert viewer.layers["features_extractor.hook_relu2"] == 0
    first = bytes(viewer.image.value)
    assert first.startswith(b"\x89PNG")
    viewer.show(
        step=len(viewer.episode) - 1, tick=1, layer="drc.layers.0.hook_c", channel=None, saliency="saliency"
    )
    assert viewer.view.hook == "drc.layers.0.hook_c.1" and viewer.view.channel is None
    assert viewer.controls["step"].value == len(viewer.episode) - 1 and viewer.controls["grid"].value
    assert bytes(viewer.image.value) != first
    # the widgets drive the same methods
    viewer.controls["tick"].value = 0
    viewer.controls["layer"].value = "features_extractor.hook_relu2"
    assert viewer.view.hook == "features_extractor.hook_relu2" and viewer.controls["tick"].max == 0
    viewer.controls["grid"].value = False
    viewer.controls["channel"].value = 5
    assert viewer.view.channel == 5
    viewer.controls["saliency"].value = "none"
    assert viewer.view.saliency is None
    with pytest.raises(ValueError, match="unknown layer"):
        viewer.show(layer="drc.layers.9.hook_h")
    with pytest.raises(ValueError, match=r"tick must lie in 0..0"):
        viewer.show(tick=1)
    viewer.show(layer="drc.layers.1.hook_h", tick=1)
    # the probe's arrows: a class per cell (a direction, or -1 for none) with its probability
    classes, confidence = probe_map(square_probe, viewer.episode.activations["drc.layers.1.hook_h.1"][0])
    assert classes.shape == (5, 5) and set(np.unique(classes)) <= {-1, 0, 1, 2, 3}
    assert ((confidence > 0.2) & (confidence <= 1)).all()
    assert len(viewer.figure().axes) >= 4  # board, activation (+ colour bar), probe, actions


def test_interventions_from_the_controls_replay_beside_the_unmodified_run(
    drc: gridlab.Agent, square_probe: gridlab.interp.ProbeResult, tmp_path: Path
) -> None:
    viewer = EpisodeViewer(drc, puzzle=0, probe=square_probe)
    c = viewer.controls
    c["kind"].value, c["channels"].value, c["hook_cells"].value = "ablate", "0, 3", "1,1; 2,2"
    intervention = viewer.chosen_intervention()
    assert intervention == Ablate("drc.layers.1.hook_h.0", (0, 3), ((1, 1), (2, 2)))
    viewer.intervene(intervention)
    assert viewer.modified is not None and viewer.modified.intervention == intervention
    assert len(viewer.figure().axes) == 2 * len(
        EpisodeViewer(drc, puzzle=0, probe=square_probe).figure().axes
    )
    c["kind"].value, c["channels"].value, c["hook_cells"].value = "add probe direction", "1", "0,0"
    steer = viewer.chosen_intervention()
    assert isinstance(steer, AddDirection) and steer.cells == ((0, 0),)
    np.testing.assert_array_equal(steer.direction, probe_direction(square_probe, 1))
    # a bad input is shown in the widget, not raised from a callback
    c["hook_cells"].value = "two, three"
    viewer._guarded(lambda: viewer.intervene(viewer.chosen_intervention()))
    assert "cells must be written 'row,col; row,col'" in viewer.status.value
    c["kind"].value, c["hook_cells"].value = "patch", ""
    viewer.intervene(viewer.chosen_intervention())
    assert isinstance(viewer.modified.intervention, Patch)

    png = viewer.export_png(tmp_path / "view.png")
    gif = viewer.export_gif(tmp_path / "episode.gif")
    assert Image.open(png).format == "PNG"
    with Image.open(gif) as animation:
        assert animation.format == "GIF" and animation.n_frames == c["step"].max + 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # written atomically


def test_a_board_drawn_in_the_editor_is_played(drc: gridlab.Agent) -> None:
    viewer = EpisodeViewer(drc, puzzle=0)
    editor = viewer.editor
    editor.paint((0, 0), "clear walls")
    editor.paint((4, 4), "robot 0")
    editor.paint((0, 4), "goal")
    editor.paint((2, 4), "wall down")  # a wall between (2, 4) and (3, 4): the robot stops below it
    h, v = empty_walls(5, 5)
    h[3, 4] = True
    expected = FixedLayout(5, 5, h, v, {0: (4, 4)}, goal_position=(0, 4), target_robot=0)
    assert editor.layout() == expected
    assert editor.cells[4 * 5 + 4].description == "0" and editor.cells[4].description == "*"
    assert editor.cells[0].description.strip() == "" and editor.cells[0].description != ""
    editor.paint((2, 4), "wall down")  # toggles it off again
    assert not editor.h_walls[3, 4]
    editor.cells[3 * 5 + 4].click()  # the selected brush (robot 0) moves the robot
    assert editor.robots[0] == (3, 4)
    viewer._use_board.click()
    assert viewer.episode.layout == editor.layout() and viewer.status.value == ""
    editor.paint((0, 4), "robot 0")  # the target robot on the goal: refused with the layout's message
    viewer._use_board.click()
    assert "goal" in viewer.status.value
    with pytest.raises(ValueError, match="unknown brush"):
        BoardEditor(expected).paint((0, 0), "lava")
