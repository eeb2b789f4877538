"""SolverStream and behaviour cloning: fresh labelled states, deterministic, and a policy learns them."""

from pathlib import Path

import numpy as np
import pytest
import torch

import gridlab
from gridlab.env import RicochetRobotsEnv
from gridlab.env.generator import BoardSpec, random_layout
from gridlab.training import TrainConfig, train
from gridlab.training import stream as stream_module
from gridlab.training.dagger import dagger_states
from gridlab.training.factory import policy_spec
from gridlab.training.imitation import clone
from gridlab.training.stream import LabelledStates, SolverStream, optimal_value
from tests.conftest import quick_config

SMALL = {"height": 5, "width": 5, "num_robots": 1, "min_moves": 1, "max_moves": 5}


def test_the_value_target_is_the_return_of_playing_an_optimal_plan() -> None:
    rng = np.random.default_rng(3)
    config = TrainConfig(gamma=0.9, step_penalty=-0.05, goal_reward=2.0)
    for _ in range(5):
        layout, plan = random_layout(BoardSpec(8, 8, 2), rng, 2, 6)
        env = RicochetRobotsEnv(fixed_layout=layout, step_penalty=config.step_penalty,
                                goal_reward=config.goal_reward)  # fmt: skip
        env.reset(seed=0)
        discounted = 0.0
        for t, (robot, direction) in enumerate(plan):
            _, reward, terminated, _, _ = env.step(robot * 4 + direction)
            discounted += config.gamma**t * reward
        assert terminated
        value = optimal_value(np.array([len(plan)]), config.step_penalty, config.goal_reward, config.gamma)
        assert value[0] == pytest.approx(discounted, rel=1e-5)


def test_a_stream_is_fresh_labelled_and_the_same_for_a_seed() -> None:
    config = TrainConfig(**SMALL)
    chunks = []
    for seed in (0, 0, 1):
        with SolverStream(config, seed=seed, chunk=256) as stream:
            chunks.append(next(stream.batches(batch_size=8, n=1)))
            first = stream._buffer
            assert first is not None and stream.states_received == 256  # one chunk, whatever has arrived
            lengths = first.length[:256]
            assert set(lengths) <= set(range(1, 6)) and len(set(lengths)) == 5  # every length of the band
            assert first.optimal[:256].any(axis=1).all()  # every state has an optimal move
            np.testing.assert_allclose(first.value[:256], optimal_value(lengths, -0.01, 1.0, 0.99), rtol=1e-6)
            assert first.obs.dtype == np.uint8 and first.obs.shape[1:] == (7, 5, 5)
    np.testing.assert_array_equal(chunks[0].obs, chunks[1].obs)
    assert not np.array_equal(chunks[0].obs, chunks[2].obs)


def test_a_failing_producer_is_reported_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("generator exploded")

    monkeypatch.setattr(stream_module, "random_layout", broken)  # the forked producer inherits it
    failed = pytest.raises(RuntimeError, match="generator exploded")
    with SolverStream(TrainConfig(**SMALL)) as stream, failed:
        next(stream.batches(batch_size=1, n=1))
    with pytest.raises(ValueError, match="without a milestone"):
        SolverStream(TrainConfig(milestone="v1"))


def test_cloning_teaches_the_optimal_moves_of_unseen_puzzles() -> None:
    config = TrainConfig(policy="small_cnn", **SMALL)
    torch.manual_seed(0)
    with SolverStream(config, seed=99, chunk=2048) as heldout:
        test = next(heldout.batches(batch_size=2048, n=1))
    obs = torch.as_tensor(test.obs, dtype=torch.float32)
    env = RicochetRobotsEnv(**SMALL)
    policy = policy_spec(config).build(env.observation_space, env.action_space)

    def accuracy() -> float:
        with torch.no_grad():
            greedy = policy.get_distribution(obs).distribution.probs.argmax(dim=1).numpy()
        return float(test.optimal[np.arange(len(greedy)), greedy].mean())

    before = accuracy()
    with SolverStream(config, seed=0) as stream:
        cloning = clone(policy, stream, updates=300, batch_size=128, progress=False)
    after = accuracy()
    # a 1-robot board: 4 moves, mostly 1 optimal (chance about 0.3); measured 0.25 -> 0.81
    assert before < 0.4 and after > 0.7, (before, after)
    assert cloning.losses[-1] < cloning.losses[0] / 2 and cloning.value_losses[-1] < cloning.value_losses[0]
    assert cloning.states >= 300 * 128 and cloning.puzzles > 0 and cloning.reuse <= 1.0


def test_the_same_seed_clones_the_same_policy() -> None:
    config = TrainConfig(policy="small_cnn", **SMALL)
    env = RicochetRobotsEnv(**SMALL)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        policy = policy_spec(config).build(env.observation_space, env.action_space)
        with SolverStream(config, seed=0, chunk=64) as stream:
            runs.append(clone(policy, stream, updates=30, batch_size=32, progress=False).losses)
    assert runs[0] == runs[1]


def test_the_bc_ppo_recipe_clones_then_trains_and_says_so(tmp_path: Path) -> None:
    config = quick_config(tmp_path, milestone=None, policy="small_cnn", recipe="bc+ppo", clone_updates=40,
                          total_timesteps=512, eval_freq=0, **SMALL)  # fmt: skip
    run = train(config)
    recipe = gridlab.load(run.checkpoint).metadata["training"]["recipe"]
    assert recipe["name"] == "bc+ppo" and recipe["cloning"]["updates"] == 40
    assert TrainConfig.load(run.run_dir / "config.yaml").clone_updates == 40
    # the clone is kept, scored on the held-out puzzles at step 0 before any PPO
    clone = gridlab.load(run.run_dir / "clone")
    assert clone.metadata["training"]["num_timesteps"] == 0
    assert [row["step"] for row in run.history.to_dict("records")] == [0, 512]
    assert clone.evaluate(progress=False).success_rate == run.history["success_rate"][0]
    plain = train(quick_config(tmp_path, total_timesteps=256, eval_freq=0))
    assert gridlab.load(plain.checkpoint).metadata["training"]["recipe"] == {"name": "ppo"}
    with pytest.raises(ValueError, match="recipe = 'bc\\+ppo' is invalid; expected ppo for milestones"):
        TrainConfig(recipe="bc+ppo", milestone="v1")
    with pytest.raises(ValueError, match="clone_updates = -1 is invalid; expected a whole number of updates"):
        TrainConfig(recipe="bc+kickstart", policy="convlstm", clone_updates=-1, **SMALL)


def test_dagger_labels_the_states_the_learner_visits() -> None:
    env = RicochetRobotsEnv(**SMALL, seed=0)
    spec = policy_spec(TrainConfig(policy="small_cnn", **SMALL))
    policy = spec.build(env.observation_space, env.action_space)
    states = dagger_states(policy, env, n=300, step_penalty=-0.01, goal_reward=1.0, gamma=0.99)
    assert len(states) == 300 and states.obs.shape == (300, 7, 5, 5) and states.obs.dtype == np.uint8
    assert states.optimal.any(axis=1).all() and (states.length >= 1).all()
    np.testing.assert_allclose(states.value, optimal_value(states.length, -0.01, 1.0, 0.99), rtol=1e-6)
    # an untrained learner wanders off every optimal plan: the puzzles it meets are drawn with at most
    # 5 optimal moves, and it reaches states that need more, which only its own play can produce
    assert states.length.max() > SMALL["max_moves"]


def test_dagger_states_join_the_clone_and_the_recipe_records_them(tmp_path: Path) -> None:
    dagger = {"recipe": "dagger+ppo", "clone_updates": 40, "dagger_every": 10, "dagger_states": 64}
    config = quick_config(tmp_path, milestone=None, policy="small_cnn", total_timesteps=256, eval_freq=0,
                          **dagger, **SMALL)  # fmt: skip
    run = train(config)
    cloning = gridlab.load(run.checkpoint).metadata["training"]["recipe"]["cloning"]
    assert cloning["dagger_states"] == 4 * 64 and cloning["updates"] == 40


TINY_DRC = {"policy": "convlstm", "drc_layers": 1, "drc_ticks": 1, "drc_hidden": 8, "drc_encoder": 8,
            "drc_output": 32}  # fmt: skip


def test_sequences_continue_each_lane_along_the_plans_in_order() -> None:
    lanes, length, n, chunk = 3, 5, 30, 64
    runs = []
    for _ in range(2):
        with SolverStream(TrainConfig(**SMALL), seed=0, chunk=chunk) as stream:
            batches = list(stream.sequences(lanes, length, n))
            assert stream.states_drawn == lanes * length * n <= stream.states_received
        runs.append(batches)
        # each lane, read across the batches: its own states in order
        lane = [LabelledStates.concatenate([b[i * length : (i + 1) * length] for b in batches])
                for i in range(lanes)]  # fmt: skip
        for states in lane:
            assert len(states) == n * length
            assert states.start[::chunk].all()  # a new chunk starts afresh (it may begin mid-plan)
            inside = ~states.start[1:]
            # within a trajectory, each state is one optimal move closer to the goal
            np.testing.assert_array_equal(states.length[1:][inside], states.length[:-1][inside] - 1)
            # and a trajectory starts only after the last one solved its puzzle or a chunk ended
            boundary = np.flatnonzero(states.start[1:]) + 1
            assert all(states.length[b - 1] == 1 or b % chunk == 0 for b in boundary)
        assert not np.array_equal(lane[0].obs, lane[1].obs)
    for first, second in zip(*runs, strict=True):
        np.testing.assert_array_equal(first.obs, second.obs)


def test_a_recurrent_policy_is_cloned_over_trajectories() -> None:
    config = TrainConfig(**TINY_DRC, **SMALL)
    env = RicochetRobotsEnv(**SMALL)
    torch.manual_seed(0)
    policy = policy_spec(config).build(env.observation_space, env.action_space)
    hooks_before = policy.hook_names()
    with SolverStream(config, seed=99, chunk=1024) as heldout:
        test = next(heldout.sequences(lanes=64, length=16, n=1))  # 64 runs of 16 unseen states

    def accuracy() -> float:
        zeros = torch.zeros(1, 64, policy.drc.hidden_size)
        obs = torch.as_tensor(test.obs, dtype=torch.float32)
        starts = torch.as_tensor(test.start, dtype=torch.float32)
        with torch.no_grad():
            latent, _, _ = policy.latent(obs, (zeros, zeros), starts)
            greedy = policy.action_net(latent).argmax(dim=1).numpy()
        return float(test.optimal[np.arange(len(greedy)), greedy].mean())

    before = accuracy()
    with SolverStream(config, seed=0) as stream:
        cloning = clone(policy, stream, updates=600, batch_size=64, progress=False, sequence_length=8)
    after = accuracy()
    # a 1-robot board, 4 moves (chance about 0.3); measured 0.27 -> 0.84
    assert before < 0.4 and after > 0.7, (before, after)
    first, last = np.mean(cloning.losses[:20]), np.mean(cloning.losses[-20:])
    assert last < 0.7 * first and np.mean(cloning.value_losses[-20:]) < np.mean(cloning.value_losses[:20])
    assert cloning.reuse <= 1.0 and policy.hook_names() == hooks_before
    with SolverStream(config) as stream, pytest.raises(ValueError, match="multiple of sequence_length 8"):
        clone(policy, stream, updates=1, batch_size=60, progress=False)


def test_dagger_plays_a_recurrent_learner_through_whole_episodes() -> None:
    env = RicochetRobotsEnv(**SMALL, seed=0)
    policy = policy_spec(TrainConfig(**TINY_DRC, **SMALL)).build(env.observation_space, env.action_space)
    states = dagger_states(policy, env, n=200, step_penalty=-0.01, goal_reward=1.0, gamma=0.99)
    assert len(states) == 200 and states.start[0]
    # an untrained learner rarely solves: most runs are whole 30-step (max_steps) episodes
    runs = np.diff(np.r_[np.flatnonzero(states.start), len(states)])
    assert runs.max() == 30 and states.start.sum() < 200 / 5


@pytest.mark.parametrize("recipe", ["bc+ppo", "dagger+ppo"])
def test_recurrent_recipes_clone_then_train(tmp_path: Path, recipe: str) -> None:
    config = quick_config(tmp_path, milestone=None, recipe=recipe, clone_updates=20, dagger_every=10,
                          dagger_states=32, total_timesteps=256, eval_freq=0, batch_size=64, n_steps=32,
                          **TINY_DRC, **SMALL)  # fmt: skip
    run = train(config)
    cloning = gridlab.load(run.checkpoint).metadata["training"]["recipe"]["cloning"]
    assert cloning["updates"] == 20 and cloning["dagger_states"] == (64 if recipe == "dagger+ppo" else 0)
