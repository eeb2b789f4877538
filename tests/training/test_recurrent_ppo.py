"""ChunkedRecurrentPPO: whole-chunk minibatches, the same loss as a step-by-step reference, learning."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.callbacks import CallbackList

from gridlab.env import BatchedRicochetVecEnv, RicochetRobotsEnv, fixed_layouts_v1_four_targets
from gridlab.models import ConvLSTMPolicy
from gridlab.training.recurrent_ppo import ChunkedRecurrentPPO, ChunkedRolloutBuffer
from tests.models.test_recurrent_policy import learns_within

SMALL = {"encoder_channels": 8, "hidden_channels": 8, "n_layers": 2, "n_ticks": 2, "output_dim": 32}


def filled_buffer(n_steps: int = 8, n_envs: int = 3, length: int = 4) -> ChunkedRolloutBuffer:
    """A buffer whose observation at step t of env e is t * 10 + e everywhere, as are its states."""
    obs_space = spaces.Box(0, 1000, (1, 2, 2), np.float32)
    buffer = ChunkedRolloutBuffer(
        n_steps, obs_space, spaces.Discrete(4), (2, n_envs, 5), length, "cpu", n_envs=n_envs
    )
    for t in range(n_steps):
        tag = t * 10 + np.arange(n_envs, dtype=np.float32)
        state = torch.as_tensor(np.broadcast_to(tag[None, :, None], (2, n_envs, 5)).copy())
        buffer.add(
            np.broadcast_to(tag[:, None, None, None], (n_envs, 1, 2, 2)), tag[:, None] % 4, tag,
            (tag % 3 == 0).astype(np.float32), torch.as_tensor(tag), torch.as_tensor(-tag),
            lstm_states=RNNStates((state, -state), (state, -state)),
        )  # fmt: skip
    buffer.compute_returns_and_advantage(torch.zeros(n_envs), np.zeros(n_envs))
    return buffer


def test_minibatches_are_whole_chunks_of_one_env_in_time_order() -> None:
    buffer = filled_buffer()
    np.random.seed(0)
    seen = []
    for batch in buffer.get(batch_size=8):  # 2 chunks of 4 steps per minibatch
        tags = batch.observations[:, 0, 0, 0].reshape(2, 4)
        hs, cs = batch.lstm_states.pi[0].unbind(1), batch.lstm_states.pi[1].unbind(1)
        for chunk, h, c in zip(tags, hs, cs, strict=True):
            first = int(chunk[0])
            torch.testing.assert_close(chunk, first + 10.0 * torch.arange(4))  # one env, consecutive steps
            assert first // 10 % 4 == 0  # a chunk starts at step 0 or 4
            torch.testing.assert_close(h, torch.full((2, 5), float(first)))  # the state before its first step
            torch.testing.assert_close(c, -h)
            seen.append(first)
        torch.testing.assert_close(batch.old_values, batch.observations[:, 0, 0, 0])
        torch.testing.assert_close(batch.old_log_prob, -batch.observations[:, 0, 0, 0])
        torch.testing.assert_close(batch.episode_starts, (batch.old_values % 3 == 0).float())
        assert batch.lstm_states.vf[0] is batch.lstm_states.pi[0] and bool(batch.mask.all())
    assert sorted(seen) == [0, 1, 2, 40, 41, 42]  # every chunk once per pass


def test_each_pass_shuffles_the_chunks_anew() -> None:
    buffer = filled_buffer(n_steps=16, n_envs=4)
    np.random.seed(1)
    orders = [[float(b.observations[0, 0, 0, 0]) for b in buffer.get(batch_size=4)] for _ in range(2)]
    assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1]


def test_lengths_that_do_not_divide_the_rollout_are_refused() -> None:
    with pytest.raises(ValueError, match=r"n_steps \(10\) must be a multiple of bptt_length \(4\)"):
        filled_buffer(n_steps=10)
    venv = BatchedRicochetVecEnv(2, seed=0, height=5, width=5, num_robots=2)
    with pytest.raises(ValueError, match=r"batch_size \(6\) must be a multiple of bptt_length \(4\)"):
        ChunkedRecurrentPPO(ConvLSTMPolicy, venv, n_steps=8, batch_size=6, bptt_length=4, policy_kwargs=SMALL)


def rollout(model: ChunkedRecurrentPPO) -> None:
    """One rollout into the model's buffer, as ``learn`` collects it."""
    _, callback = model._setup_learn(model.n_steps * model.n_envs, CallbackList([]))
    callback.on_training_start(locals(), globals())
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)


def test_training_sequences_reproduce_the_rollout_with_resets_inside_chunks() -> None:
    """Before any update, every minibatch's log-probs and values equal those of the rollout, which
    ran step by step; episodes end inside chunks (4-step time limit, 8-step chunks)."""
    venv = BatchedRicochetVecEnv(4, seed=0, height=5, width=5, num_robots=2, max_steps=3)
    model = ChunkedRecurrentPPO(ConvLSTMPolicy, venv, n_steps=16, batch_size=16, bptt_length=8, seed=0,
                                policy_kwargs=SMALL)  # fmt: skip
    rollout(model)
    starts = model.rollout_buffer.episode_starts
    assert starts[1:8].any() and starts[9:].any()  # resets inside both chunks of every env
    for batch in model.rollout_buffer.get(batch_size=16):
        with torch.no_grad():
            values, log_prob, _ = model.policy.evaluate_actions(
                batch.observations, batch.actions.long().flatten(), batch.lstm_states, batch.episode_starts
            )
        torch.testing.assert_close(log_prob, batch.old_log_prob, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(values.flatten(), batch.old_values, atol=1e-5, rtol=1e-5)


def reference_gradient(model: ChunkedRecurrentPPO) -> dict[str, torch.Tensor]:
    """The PPO loss gradient over the whole rollout, written out: each env's steps run one at a
    time from the rollout's first state, gradients truncated where each chunk begins."""
    policy, buffer, length = model.policy, model.rollout_buffer, model.bptt_length
    policy.zero_grad()
    n_steps, n_envs = buffer.buffer_size, buffer.n_envs
    log_probs, values, entropies = [], [], []
    for env in range(n_envs):
        shape = (policy.lstm_actor.num_layers, 1, policy.lstm_actor.hidden_size)
        state = (torch.zeros(shape), torch.zeros(shape))
        for t in range(n_steps):
            if t % length == 0:
                state = (state[0].detach(), state[1].detach())  # truncated back-propagation
            obs = torch.as_tensor(buffer.observations[t, env : env + 1])
            start = torch.as_tensor(buffer.episode_starts[t, env : env + 1])
            latent_pi, latent_vf, state = policy.latent(obs, state, start)
            distribution = policy._get_action_dist_from_latent(latent_pi)
            action = torch.as_tensor(buffer.actions[t, env]).long()
            log_probs.append(distribution.log_prob(action))
            entropies.append(distribution.entropy())
            values.append(policy.value_net(latent_vf).flatten())
    log_prob, value, entropy = torch.cat(log_probs), torch.cat(values), torch.cat(entropies)
    by_env = lambda name: torch.as_tensor(getattr(buffer, name).T.flatten())  # noqa: E731  (env, step) order
    advantages = by_env("advantages")
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = torch.exp(log_prob - by_env("log_probs"))
    clip = model.clip_range(1.0)
    surrogate = -torch.min(advantages * ratio, advantages * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
    value_loss = ((by_env("returns") - value) ** 2).mean()
    loss = surrogate - model.ent_coef * entropy.mean() + model.vf_coef * value_loss
    loss.backward()
    return {name: p.grad.clone() for name, p in policy.named_parameters()}


def test_one_update_follows_the_ppo_loss_computed_step_by_step() -> None:
    """With plain SGD (learning rate 1, no clipping) one update moves every weight by minus the
    gradient of the reference loss; the minibatch is the whole rollout, so the shuffle is moot."""
    venv = BatchedRicochetVecEnv(2, seed=0, height=5, width=5, num_robots=2, max_steps=3)
    model = ChunkedRecurrentPPO(
        ConvLSTMPolicy, venv, n_steps=8, batch_size=16, n_epochs=1, bptt_length=4, learning_rate=1.0,
        max_grad_norm=1e9, ent_coef=0.05, seed=0, policy_kwargs=SMALL | {"optimizer_class": torch.optim.SGD},
    )  # fmt: skip
    rollout(model)
    expected = reference_gradient(model)
    before = {name: p.detach().clone() for name, p in model.policy.named_parameters()}
    model._current_progress_remaining = 1.0
    model.train()
    for name, p in model.policy.named_parameters():
        assert expected[name].abs().sum() > 0, name  # every weight gets a gradient
        torch.testing.assert_close(before[name] - p.detach(), expected[name], atol=1e-5, rtol=1e-4, msg=name)


def test_chunked_recurrent_ppo_learns_v1() -> None:
    layouts = fixed_layouts_v1_four_targets()
    venv = BatchedRicochetVecEnv(8, seed=0, fixed_layout=layouts, max_steps=10)
    sizes = {"encoder_channels": 16, "hidden_channels": 16, "n_layers": 1, "n_ticks": 1, "output_dim": 64}
    model = ChunkedRecurrentPPO(ConvLSTMPolicy, venv, n_steps=32, batch_size=64, n_epochs=4, bptt_length=8,
                                learning_rate=1e-3, ent_coef=0.01, seed=0, policy_kwargs=sizes)  # fmt: skip
    assert learns_within(model, RicochetRobotsEnv(fixed_layout=layouts, max_steps=10), budget=12288)
