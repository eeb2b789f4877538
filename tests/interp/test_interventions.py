"""Interventions: patching transfers a decision, ablation and steering edit exactly what they say."""

import numpy as np
import pytest

import gridlab
from gridlab.env import LEFT, RIGHT, fixed_layouts_v1_four_targets
from gridlab.interp import collect_rollouts, probe
from gridlab.interp.interventions import ablate, patch, steer, steering_success
from gridlab.interp.probes import probe_direction
from gridlab.training import Run


def v1_boards(run: Run) -> np.ndarray:
    env = gridlab.load(run.checkpoint).make_env()
    return np.stack(
        [env.reset(options={"layout_index": i})[0] for i in range(4)]
    )  # goals: UP, DOWN, LEFT, RIGHT


def test_patching_the_clean_features_makes_the_agent_take_the_clean_move(v1_run: Run) -> None:
    agent, obs = gridlab.load(v1_run.checkpoint), v1_boards(v1_run)
    actions = agent.act(obs)[0]
    assert actions[2] == LEFT and actions[3] == RIGHT  # the agent's first moves on these two boards
    clean, corrupted = obs[[2]], obs[[3]]  # goal on the left vs goal on the right
    effect = patch(agent, clean, corrupted, "features_extractor.hook_relu2")
    assert effect.before.argmax(1).tolist() == [RIGHT] and effect.after.argmax(1).tolist() == [LEFT]
    assert effect.changed.all() and effect.kl[0] > 0 and effect.after[0, LEFT] - effect.before[0, LEFT] > 0.2
    untouched = patch(agent, corrupted, corrupted, "features_extractor.hook_relu2")
    np.testing.assert_allclose(untouched.after, untouched.before, atol=1e-6)


def test_ablation_zero_and_mean(v1_run: Run) -> None:
    agent, obs = gridlab.load(v1_run.checkpoint), v1_boards(v1_run)
    zero = ablate(agent, obs, "features_extractor.hook_relu2")
    assert np.allclose(zero.after, zero.after[0])  # no information left: same distribution for all
    mean = ablate(agent, obs, "features_extractor.hook_relu2", mode="mean", reference=obs)
    assert np.allclose(mean.after, mean.after[0])
    some = ablate(agent, obs, "features_extractor.hook_relu2", channels=[0])
    assert some.after.shape == (4, 4)
    with pytest.raises(ValueError, match="needs reference observations"):
        ablate(agent, obs, "features_extractor.hook_relu2", mode="mean")
    with pytest.raises(ValueError, match="positions need a spatial activation"):
        ablate(agent, obs, "features_extractor.hook_relu2", positions=[(0, 0)])


def test_steering_along_the_decision_direction_beats_random_directions(v1_run: Run) -> None:
    agent, obs = gridlab.load(v1_run.checkpoint), v1_boards(v1_run)
    # The direction in feature space that separates "goal above" from "goal below" boards.
    _, cache = agent.run_with_cache(obs, names_filter="features_extractor.hook_relu2")
    features = cache["features_extractor.hook_relu2"].numpy()
    direction = features[2] - features[3]  # from "goal on the right" towards "goal on the left"
    stats = steering_success(agent, obs[[3]], "features_extractor.hook_relu2", direction, None,
                             intended=np.array([LEFT]), strength=1.0, controls=20)  # fmt: skip
    assert stats["baseline_rate"] == 0.0 and stats["success_rate"] == 1.0
    assert stats["random_control_rate"] < 0.5
    effect = steer(agent, obs[[3]], "features_extractor.hook_relu2", direction, None, strength=0.0)
    np.testing.assert_allclose(effect.after, effect.before, atol=1e-6)


def test_steering_along_a_probe_direction_beats_the_random_control(v1_run: Run) -> None:
    agent, obs = gridlab.load(v1_run.checkpoint), v1_boards(v1_run)
    rollouts = collect_rollouts(
        agent, fixed_layouts_v1_four_targets() * 10, deterministic=False, progress=False
    )
    result = probe(agent, rollouts, "features_extractor.hook_relu2", "optimal_actions", baselines=False)
    direction = probe_direction(result, class_id=LEFT)
    assert direction.shape == (64,)
    stats = steering_success(agent, obs[[3]], "features_extractor.hook_relu2", direction, None,
                             intended=np.array([LEFT]), strength=2.0, controls=20)  # fmt: skip
    assert stats["baseline_rate"] == 0.0
    assert stats["success_rate"] > stats["random_control_rate"]
    with pytest.raises(ValueError, match="class_id must be one of"):
        probe_direction(result, class_id=9)
