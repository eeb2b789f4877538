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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from tqdm import tqdm, trange

from gridlab.env.observations import ObservationEncoder
from gridlab.env.puzzle_bank import PuzzleBank
from gridlab.env.solver import optimal_first_moves, solve
from gridlab.training.config import TrainConfig
from gridlab.training.factory import policy_spec


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
    n_actions = 4 * bank.spec.num_robots
    obs, optimal, lengths = [], [], []
    for row in tqdm(rows, desc="labelling", disable=not progress):
        layout = bank.layout(row)
        plan = solve(layout)
        if plan is None:
            raise ValueError(f"puzzle {row} of the bank has no solution within the solver's depth")
        encode = ObservationEncoder(layout, "image", channels_first=True, rgb_cell_size=1)
        for step in range(len(plan) if along_plans else 1):
            label = np.zeros(n_actions, dtype=bool)
            for robot, direction in optimal_first_moves(layout):
                label[robot * 4 + direction] = True
            obs.append(encode(layout.robots))
            optimal.append(label)
            lengths.append(len(plan) - step)
            if step + 1 < len(plan):  # the last move solves the puzzle: no state to label after it
                layout = layout.with_robots(layout.apply(plan[step]))
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
        features = policy.extract_features(obs[batch])  # one extractor: a tensor, not a pair
        latent = policy.mlp_extractor.forward_actor(cast(torch.Tensor, features))
        log_probs = policy.action_net(latent).log_softmax(dim=1)
        loss = -(target[batch] * log_probs).sum(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return Imitation(policy.eval(), losses)


def optimal_move_accuracy(policy: ActorCriticPolicy, data: SolverDataset) -> dict[int, float]:
    """By optimal length, how often the policy's greedy move in a state starts an optimal plan."""
    with torch.no_grad():
        actions, _ = policy.predict(data.obs, deterministic=True)
    hits = data.optimal[np.arange(len(data)), actions]
    return {int(n): float(hits[data.length == n].mean()) for n in np.unique(data.length)}
