"""KickstartedPPO: each update adds exactly the distillation gradient; its weight anneals to zero."""

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

import gridlab
from gridlab.env import BatchedRicochetVecEnv
from gridlab.models import policy_kwargs_for
from gridlab.models.precision import set_precision
from gridlab.training import TrainConfig, train
from gridlab.training.factory import build_model, make_vec_env, policy_spec
from gridlab.training.kickstart import KickstartedPPO, KickstartedRecurrentPPO
from gridlab.training.recurrent_ppo import ChunkedRecurrentPPO, ChunkedRolloutBuffer
from tests.conftest import quick_config

BOARD = {"height": 5, "width": 5, "num_robots": 1, "min_moves": 1, "max_moves": 5}


def one_update(model: PPO) -> dict[str, torch.Tensor]:
    """Collect one rollout and train on it; the change of every weight."""
    _, callback = model._setup_learn(model.n_steps * model.n_envs, CallbackList([]))
    callback.on_training_start(locals(), globals())
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    before = {name: p.detach().clone() for name, p in model.policy.named_parameters()}
    model.train()
    return {name: p.detach() - before[name] for name, p in model.policy.named_parameters()}


def make(algorithm: type[PPO], **kwargs: object) -> PPO:
    venv = BatchedRicochetVecEnv(2, seed=0, **BOARD)
    settings = policy_kwargs_for("mlp", hidden=16) | {"optimizer_class": torch.optim.SGD}
    return algorithm("MlpPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, learning_rate=1.0,
                     max_grad_norm=1e9, seed=0, policy_kwargs=settings, **kwargs)  # fmt: skip


def test_an_update_is_ppo_plus_the_gradient_of_the_distillation_term() -> None:
    plain = one_update(make(PPO))
    kicked = make(KickstartedPPO, kickstart_coef=0.7, kickstart_steps=10**9)
    teacher = make(PPO).policy  # built with the same seed: shift its weights to make it another network
    noise = torch.Generator().manual_seed(1)  # not the global generator, which the rollouts sample from
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(torch.randn(p.shape, generator=noise))
    kicked.set_teacher(teacher)
    student = {name: p.detach().clone() for name, p in kicked.policy.named_parameters()}
    changes = one_update(kicked)
    coef = kicked.coefficient()  # after the rollout's 32 steps: 0.7 * (1 - 32e-9)

    # the reference: coef * H(teacher, student) over the rollout's observations, at the start weights
    reference = make(PPO).policy
    reference.load_state_dict({**reference.state_dict(), **student})
    obs = torch.as_tensor(kicked.rollout_buffer.observations.reshape(32, *kicked.observation_space.shape))
    with torch.no_grad():
        target = kicked.teacher.get_distribution(obs).distribution.probs
    log_probs = torch.log_softmax(reference.get_distribution(obs).distribution.logits, dim=1)
    (coef * -(target * log_probs).sum(dim=1).mean()).backward()
    for name, p in reference.named_parameters():
        expected = -p.grad if p.grad is not None else torch.zeros_like(p)
        torch.testing.assert_close(changes[name] - plain[name], expected, atol=1e-5, rtol=1e-4, msg=name)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in reference.parameters())
    assert not kicked.policy.action_net._forward_hooks  # the hooks are gone after the update
    assert not kicked.policy.features_extractor._forward_pre_hooks


def test_the_weight_falls_linearly_to_zero_and_needs_a_teacher() -> None:
    model = make(KickstartedPPO, kickstart_coef=2.0, kickstart_steps=1000)
    assert model.coefficient() == 0.0  # no teacher yet: plain PPO
    model.set_teacher(model.policy)
    weights = []
    for step in (0, 250, 1000, 5000):
        model.num_timesteps = step
        weights.append(model.coefficient())
    assert weights == [2.0, 1.5, 0.0, 0.0]
    assert all(not p.requires_grad for p in model.teacher.parameters())


def test_the_bc_kickstart_recipe_distils_from_the_clone(tmp_path: Path) -> None:
    config = quick_config(tmp_path, milestone=None, policy="mlp", recipe="bc+kickstart", clone_updates=30,
                          total_timesteps=1024, kickstart_steps=4096, eval_freq=0, **BOARD)  # fmt: skip
    run = train(config)
    agent = gridlab.load(run.checkpoint)
    assert agent.metadata["training"]["recipe"]["name"] == "bc+kickstart"
    assert agent.metadata["config"]["kickstart_steps"] == 4096
    assert np.isfinite(agent.evaluate(episodes=20, progress=False).success_rate)
    # resumed while still distilling, it distils from the clone its run kept, not from itself
    taught: list[KickstartedPPO] = []

    class Spy(BaseCallback):
        def _on_training_start(self) -> None:
            taught.append(self.model)

        def _on_step(self) -> bool:
            return True

    resumed = train(dataclasses.replace(config, total_timesteps=2048), resume_from=run.checkpoint,
                    callbacks=[Spy()])  # fmt: skip
    clone = gridlab.load(run.run_dir / "clone").policy.state_dict()
    teacher = taught[0].teacher
    assert teacher is not None and resumed.run_dir == run.run_dir and taught[0].coefficient() > 0
    for name, value in teacher.state_dict().items():
        torch.testing.assert_close(value, clone[name], msg=name)
    assert any(not torch.equal(value, agent.policy.state_dict()[name]) for name, value in clone.items())
    shutil.rmtree(run.run_dir / "clone")  # a run from before the clone was kept
    with pytest.raises(
        ValueError, match=r"is still distilling \(2048 of 4096 steps\) and its teacher, .*clone, is missing"
    ):
        train(config, resume_from=resumed.checkpoint)


TINY_DRC = {"policy": "convlstm", "drc_layers": 2, "drc_ticks": 2, "drc_hidden": 8, "drc_encoder": 8,
            "drc_output": 32, "n_envs": 3, "n_steps": 8, "batch_size": 12, "bptt_length": 4,
            "precision": "fp32"}  # fmt: skip


def collected(model: ChunkedRecurrentPPO) -> ChunkedRolloutBuffer:
    _, callback = model._setup_learn(model.n_steps * model.n_envs, CallbackList([]))
    callback.on_training_start(locals(), globals())
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    assert isinstance(model.rollout_buffer, ChunkedRolloutBuffer)
    return model.rollout_buffer


def test_a_recurrent_teacher_plays_along_with_its_own_state_and_is_served_with_each_chunk() -> None:
    config = TrainConfig(recipe="dagger+kickstart", kickstart_steps=10**6, **TINY_DRC, **BOARD)
    model = build_model(config, make_vec_env(config), None)
    assert isinstance(model, KickstartedRecurrentPPO)
    torch.manual_seed(5)  # another network than the student
    teacher = policy_spec(config).build(model.observation_space, model.action_space)
    model.set_teacher(teacher)
    buffer = collected(model)
    assert buffer.teacher_probs is not None and buffer.teacher_probs.shape == (8, 3, 4)

    # each env's recorded probabilities are the teacher's own run over that env's whole rollout,
    # its state carried from step to step and reset at episode starts
    for env in range(3):
        obs = torch.as_tensor(buffer.observations[:, env]).float()
        starts = torch.as_tensor(buffer.episode_starts[:, env])
        zeros = torch.zeros(2, 1, 8 * 5 * 5)
        with torch.no_grad():
            replay, _ = teacher.get_distribution(obs, (zeros, zeros), starts)
        np.testing.assert_allclose(buffer.teacher_probs[:, env], replay.distribution.probs.numpy(), atol=1e-5)
        assert starts[0] == 1 and 0 < starts.sum() < 8  # the rollout crosses an episode's end

    # minibatches come with the teacher's probabilities of their own steps: with the student as its
    # own teacher, they are the student's distribution on the served chunks
    model.set_teacher(model.policy)
    buffer = collected(model)
    served = 0
    for samples in buffer.get(12):
        with torch.no_grad():
            student, _ = model.policy.get_distribution(samples.observations, samples.lstm_states.pi,
                                                       samples.episode_starts)  # fmt: skip
        assert buffer.served_teacher_probs is not None
        torch.testing.assert_close(buffer.served_teacher_probs, student.distribution.probs)
        served += len(samples.observations)
    assert served == 24


def test_recurrent_kickstarting_distils_and_resumes_from_the_clone(tmp_path: Path) -> None:
    config = TrainConfig(recipe="dagger+kickstart", clone_updates=10, dagger_every=5, dagger_states=24,
                         kickstart_steps=96, total_timesteps=48, eval_freq=0, output_dir=str(tmp_path),
                         progress_bar=False, tensorboard=False, **TINY_DRC, **BOARD)  # fmt: skip
    run = train(config)
    assert gridlab.load(run.checkpoint).metadata["training"]["recipe"]["cloning"]["dagger_states"] == 48
    teachers: list[tuple[KickstartedRecurrentPPO, float]] = []

    class Spy(BaseCallback):
        def _on_training_start(self) -> None:
            teachers.append((self.model, self.model.coefficient()))

        def _on_step(self) -> bool:
            return True

    train(dataclasses.replace(config, total_timesteps=96), resume_from=run.checkpoint, callbacks=[Spy()])
    (model, coefficient), clone = teachers[0], gridlab.load(run.run_dir / "clone").policy.state_dict()
    teacher = model.teacher
    assert teacher is not None and coefficient == 0.5  # resumed at step 48 of 96
    for name, value in teacher.state_dict().items():
        torch.testing.assert_close(value, clone[name], msg=name)
    # with no cloning at all, the teacher is the starting policy: here another run's clone
    started = train(dataclasses.replace(config, clone_updates=0, init_from=str(run.run_dir / "clone"),
                                        run_name="from_clone"))  # fmt: skip
    kept = gridlab.load(started.run_dir / "clone").policy.state_dict()
    for name, value in kept.items():
        torch.testing.assert_close(value, clone[name], msg=name)


@pytest.mark.slow  # inductor compiles the training graph cold: 170-206 s measured on 2 cores
def test_a_compiled_recurrent_learner_kickstarts_in_bf16_and_keeps_plain_parameter_names() -> None:
    # bf16: a second backward through the retained compiled graph once left every weight NaN here
    config = TrainConfig(recipe="dagger+kickstart", kickstart_steps=10**6, compile=True,
                         **(TINY_DRC | {"precision": "bf16"}), **BOARD)  # fmt: skip
    model = build_model(config, make_vec_env(config), None)
    assert isinstance(model, KickstartedRecurrentPPO) and model.policy.drc._compiled_call_impl is not None
    plain = build_model(dataclasses.replace(config, compile=False), make_vec_env(config), None)
    assert list(plain.policy.state_dict()) == list(model.policy.state_dict())  # checkpoints are alike
    start = {name: p.detach().clone() for name, p in model.policy.named_parameters()}
    model.set_teacher(model.policy)
    model.learn(24)  # one rollout and one update with the distillation term
    assert model.logger.name_to_value["train/kickstart_loss"] > 0
    for name, p in model.policy.named_parameters():
        assert torch.isfinite(p).all(), name
    assert any(not torch.equal(p, start[name]) for name, p in model.policy.named_parameters())
    plain.policy.load_state_dict(model.policy.state_dict())
    set_precision(model.policy, "fp32")
    set_precision(plain.policy, "fp32")
    obs = torch.rand(4, *model.observation_space.shape)
    zeros = torch.zeros(2, 4, 8 * 5 * 5)
    with torch.no_grad():
        compiled, _ = model.policy.get_distribution(obs, (zeros, zeros), torch.ones(4))
        eager, _ = plain.policy.get_distribution(obs, (zeros, zeros), torch.ones(4))
    torch.testing.assert_close(compiled.distribution.probs, eager.distribution.probs, atol=1e-4, rtol=1e-4)
