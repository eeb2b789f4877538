"""Imitating the optimal solver: how well a policy architecture *can* play a bank's puzzles.

An agent whose reinforcement learning stalls either cannot represent a better policy or has
not found one. Training the same network, supervised, to pick the solver's optimal moves on
the same puzzles separates the two: if imitation also stalls, the architecture (or the data)
is the limit; if it plays far better, reinforcement learning is.

    data = solver_dataset(find_bank("banks/8x8-2"))             # every training puzzle, along a plan
    policy = imitate(config, data, updates=20_000).policy       # the config's policy, supervised
    agent = Agent.from_policy(policy, config)                   # gridlab.Agent, for analysis
    agent.evaluate(episodes=100, per_length=True).table()      # the agents' own held-out evaluation

Only the actor is trained (features, policy MLP, action head); the value head keeps its
initial weights. Feed-forward policies only: a recurrent policy imitating one state at a time
would not be the policy it is as an agent.

`clone` is the training recipe's version: behaviour cloning on an endless stream of fresh
puzzles (`gridlab.training.stream.SolverStream`), never the same few thousand, with a value
target too, into a policy that PPO then fine-tunes (``TrainConfig.recipe="bc+ppo"``). It clones
recurrent (ConvLSTM) policies too, over whole trajectories with truncated back-propagation
through time, the way `ChunkedRecurrentPPO` trains them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from tqdm import tqdm, trange

from gridlab.env.puzzle_bank import PuzzleBank
from gridlab.env.solver import solve
from gridlab.models.recurrent_policy import ConvLSTMPolicy
from gridlab.training.config import TrainConfig
from gridlab.training.factory import policy_spec
from gridlab.training.stream import LabelledStates, SolverStream, label_plan


@dataclass
class SolverDataset:
    """Board states labelled with the moves that start an optimal plan.

    Attributes:
        obs: ``(n, 6 + robots, H, W)`` float32 image observations (channels first).
        optimal: ``(n, 4 * robots)`` bool, True for each move that starts *some* optimal plan.
        length: ``(n,)`` optimal plan length from the state.
    """

    obs: np.ndarray
    optimal: np.ndarray
    length: np.ndarray

    def __len__(self) -> int:
        return len(self.length)


@dataclass
class Imitation:
    """A policy network trained on the solver's moves (`imitate`).

    Open it for analysis and evaluation with ``gridlab.Agent.from_policy(result.policy, config,
    training=result.training())``.

    Attributes:
        policy: The trained network (an SB3 ``ActorCriticPolicy``, in eval mode).
        losses: The cross-entropy after every update.
    """

    policy: ActorCriticPolicy
    losses: list[float]

    def training(self) -> dict[str, Any]:
        """What an agent records of its training: updates and the loss curve."""
        return {"imitation_updates": len(self.losses), "loss": self.losses}


def solver_dataset(
    bank: PuzzleBank,
    split: str = "train",
    per_length: int | None = None,
    along_plans: bool = True,
    seed: int = 0,
    progress: bool = True,
) -> SolverDataset:
    """Label a bank's puzzles (and, with ``along_plans``, every state on one optimal plan of each).

    Args:
        bank: The puzzles.
        split: ``"train"``, ``"heldout"`` or ``"all"``.
        per_length: Draw at most this many puzzles of each optimal length (default: all).
        along_plans: Also label the states an optimal plan passes through (a length-L
            puzzle gives L states, of lengths L .. 1).
        seed: Picks the puzzles when ``per_length`` is set.
        progress: Show a progress bar.
    """
    rng = np.random.default_rng(seed)
    rows: list[int] = []
    for length in sorted(bank.counts(split)):
        rows_of_length = bank.indices(length=length, split=split)
        if per_length is not None and per_length < len(rows_of_length):
            rows_of_length = np.sort(rng.choice(rows_of_length, per_length, replace=False))
        rows.extend(int(i) for i in rows_of_length)
    obs: list[np.ndarray] = []
    optimal: list[np.ndarray] = []
    lengths: list[int] = []
    for row in tqdm(rows, desc="labelling", disable=not progress):
        layout = bank.layout(row)
        plan = solve(layout)
        if plan is None:
            raise ValueError(f"puzzle {row} of the bank has no solution within the solver's depth")
        more = label_plan(layout, plan, None if along_plans else 1)
        obs += more[0]
        optimal += more[1]
        lengths += more[2]
    return SolverDataset(np.stack(obs), np.stack(optimal), np.array(lengths))


def imitate(
    config: TrainConfig,
    data: SolverDataset,
    updates: int,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> Imitation:
    """Train ``config``'s policy, from scratch, to put its probability on the optimal moves.

    The loss is the cross-entropy to the uniform distribution over each state's optimal moves,
    so a state with several optimal moves does not favour one arbitrarily.

    Args:
        config: Supplies the policy (``policy`` and its sizes) and, for evaluation, the bank.
        data: `solver_dataset` of the bank's training split.
        updates: Adam steps.
        batch_size: States per step, drawn with replacement.
        learning_rate: Adam's step size.
        seed: Initialisation and batches.
        progress: Show a progress bar.

    Returns:
        The trained network and its loss curve.
    """
    spec = policy_spec(config)
    if spec.entry.recurrent:
        raise ValueError(f"imitation trains feed-forward policies; {spec.policy!r} is recurrent")
    if config.obs_mode != "image":
        raise ValueError(f"imitation uses image observations; the config has obs_mode={config.obs_mode!r}")
    torch.manual_seed(seed)
    observation_space = spaces.Box(0.0, 1.0, shape=data.obs.shape[1:], dtype=np.float32)
    policy = spec.build(observation_space, spaces.Discrete(data.optimal.shape[1]))
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    obs = torch.as_tensor(data.obs)
    target = torch.as_tensor(data.optimal, dtype=torch.float32)
    target = target / target.sum(dim=1, keepdim=True)  # (n, n_actions), rows sum to 1
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in trange(updates, desc="imitating", disable=not progress):
        batch = torch.randint(len(data), (batch_size,), generator=generator)
        latent, _ = _latents(policy, obs[batch])
        loss = _cross_entropy(policy, latent, target[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return Imitation(policy.eval(), losses)


@dataclass
class Cloning:
    """What `clone` did: its losses and how fresh its data was.

    Attributes:
        losses: Cross-entropy to the optimal moves after every update.
        value_losses: Squared error of the value head to the optimal return after every update.
        states, puzzles: Labelled states and puzzles the stream delivered.
        reuse: States drawn per state delivered (about 1 or less: never repeated).
        seconds: Wall-clock time.
        dagger_states: The learner's own states labelled by the solver (DAgger), 0 without.
    """

    losses: list[float]
    value_losses: list[float]
    states: int
    puzzles: int
    reuse: float
    seconds: float
    dagger_states: int = 0

    def summary(self) -> dict[str, float | int]:
        """What a checkpoint records of the cloning (no curves)."""
        return {
            "updates": len(self.losses), "final_loss": self.losses[-1],
            "final_value_loss": self.value_losses[-1], "states": self.states, "puzzles": self.puzzles,
            "reuse": self.reuse, "seconds": self.seconds, "dagger_states": self.dagger_states,
        }  # fmt: skip


def clone(
    policy: ActorCriticPolicy,
    stream: SolverStream,
    updates: int,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    vf_coef: float = 0.5,
    seed: int = 0,
    progress: bool = True,
    dagger: Callable[[ActorCriticPolicy], LabelledStates] | None = None,
    dagger_every: int = 100,
    sequence_length: int = 8,
) -> Cloning:
    """Behaviour cloning on fresh solver-labelled states: train ``policy`` in place.

    The actor learns the uniform distribution over each state's optimal moves (cross-entropy),
    the critic the discounted return of optimal play (`gridlab.training.stream.optimal_value`),
    with its own Adam optimizer (the policy's PPO optimizer is left as it was).

    A feed-forward policy learns from states drawn at random (`SolverStream.batches`). A
    `ConvLSTMPolicy` plays whole trajectories: each batch is ``batch_size // sequence_length``
    lanes of ``sequence_length`` consecutive states (`SolverStream.sequences`), its state reset
    where a trajectory starts and carried, detached, from one batch to the next in each lane
    (truncated back-propagation through time over ``sequence_length`` steps).

    Args:
        policy: An SB3 policy for the stream's boards (e.g. a PPO model's policy): feed-forward,
            or a `ConvLSTMPolicy`.
        stream: Where the states come from (its producer runs on another core).
        updates: Adam steps.
        batch_size: States per step (for a recurrent policy, a multiple of ``sequence_length``).
        learning_rate: Adam's step size.
        vf_coef: Weight of the value loss.
        seed: Which buffered states each batch draws.
        progress: Show a progress bar.
        dagger: With it, every ``dagger_every`` updates ``dagger(policy)`` (e.g. `dagger_states`
            bound to an env) gives the learner's own states labelled by the solver, which join
            the buffer (DAgger).
        dagger_every: Updates between DAgger collections.
        sequence_length: A recurrent policy's steps of back-propagation through time.
    """
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    policy.set_training_mode(True)
    losses, value_losses = [], []
    start = time.perf_counter()
    if isinstance(policy, ConvLSTMPolicy):
        if batch_size % sequence_length:
            raise ValueError(
                f"batch_size {batch_size} must be a multiple of sequence_length {sequence_length} for a "
                "recurrent policy"
            )
        lanes = batch_size // sequence_length
        batches = stream.sequences(lanes, sequence_length, updates)
        drc = policy.lstm_actor
        zeros = torch.zeros(drc.num_layers, lanes, drc.hidden_size, device=policy.device)
        state = (zeros, zeros)  # reset at each lane's first state anyway
    elif isinstance(policy, RecurrentActorCriticPolicy):
        raise ValueError(f"clone trains feed-forward and ConvLSTM policies; not {type(policy).__name__}")
    else:
        batches = stream.batches(batch_size, updates, seed)
    for update, batch in enumerate(tqdm(batches, total=updates, desc="cloning", disable=not progress)):
        if dagger is not None and update % dagger_every == dagger_every - 1:
            policy.set_training_mode(False)
            stream.add(dagger(policy))
            policy.set_training_mode(True)
        obs = torch.as_tensor(batch.obs, dtype=torch.float32, device=policy.device)
        optimal = torch.as_tensor(batch.optimal, dtype=torch.float32, device=policy.device)
        if isinstance(policy, ConvLSTMPolicy):
            starts = torch.as_tensor(batch.start, dtype=torch.float32, device=policy.device)
            latent_pi, latent_vf, (h, c) = policy.latent(obs, state, starts)
            state = (h.detach(), c.detach())
        else:
            latent_pi, latent_vf = _latents(policy, obs)
        loss = _cross_entropy(policy, latent_pi, optimal / optimal.sum(dim=1, keepdim=True))
        value = policy.value_net(latent_vf).flatten()
        value_loss = ((value - torch.as_tensor(batch.value, device=policy.device)) ** 2).mean()
        optimizer.zero_grad()
        (loss + vf_coef * value_loss).backward()
        optimizer.step()
        losses.append(loss.item())
        value_losses.append(value_loss.item())
    policy.set_training_mode(False)
    seconds = time.perf_counter() - start
    return Cloning(
        losses, value_losses, stream.states_received, stream.puzzles_received, stream.reuse, seconds,
        stream.states_added,
    )  # fmt: skip


def _latents(policy: ActorCriticPolicy, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The actor's and critic's latents of ``obs`` (one features extractor shared by both)."""
    features = cast(torch.Tensor, policy.extract_features(obs))
    return policy.mlp_extractor.forward_actor(features), policy.mlp_extractor.forward_critic(features)


def _cross_entropy(policy: ActorCriticPolicy, latent: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the policy's action distribution to ``target`` (rows sum to 1)."""
    return -(target * policy.action_net(latent).log_softmax(dim=1)).sum(dim=1).mean()


def optimal_move_accuracy(policy: ActorCriticPolicy, data: SolverDataset) -> dict[int, float]:
    """By optimal length, how often the policy's greedy move in a state starts an optimal plan."""
    with torch.no_grad():
        actions, _ = policy.predict(data.obs, deterministic=True)
    hits = data.optimal[np.arange(len(data)), actions]
    return {int(n): float(hits[data.length == n].mean()) for n in np.unique(data.length)}
