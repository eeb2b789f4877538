"""DAgger (Ross et al. 2011): the learner's own states, labelled by the solver, mixed into cloning.

Cloning only ever sees states on optimal plans; a learner that makes one wrong move lands in
states it was never taught. DAgger plays the learner, asks the solver what is optimal in every
state it visits, and trains on those too. `dagger_states` plays a policy (sampling from its
action distribution; a recurrent one carries its state through each episode) on fresh puzzles
and returns each visited unsolved state, in the order played, with all of its optimal moves,
moves left and optimal return; `clone` adds them to the stream every ``dagger_every`` updates
(recipe ``dagger+ppo``).
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.policies import ActorCriticPolicy

from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.env.solver import optimal_first_moves, solve
from gridlab.training.stream import LabelledStates, optimal_value


def dagger_states(
    policy: ActorCriticPolicy,
    env: RicochetRobotsEnv,
    n: int,
    step_penalty: float,
    goal_reward: float,
    gamma: float,
) -> LabelledStates:
    """``n`` states the policy visits, labelled by the solver.

    Args:
        policy: An SB3 policy for ``env``'s image observations, feed-forward or recurrent.
        env: Where to play (fresh puzzles at every reset; channels first, image observations).
        n: States to return.
        step_penalty, goal_reward, gamma: The rewards and discount behind the value targets.
    """
    obs_list: list[np.ndarray] = []
    optimal: list[np.ndarray] = []
    lengths: list[int] = []
    starts: list[bool] = []
    n_actions = int(env.action_space.n)
    obs, _ = env.reset()
    state, new_episode = None, True  # a recurrent policy's state, reset at each new episode
    start = True  # whether the next recorded state begins a run of consecutive states
    while len(lengths) < n:
        assert env.layout is not None  # set by reset
        layout = env.layout.with_robots(env.robots)
        plan = solve(layout)
        if plan is not None:  # states the solver cannot finish within its depth teach nothing
            label = np.zeros(n_actions, dtype=bool)
            for robot, direction in optimal_first_moves(layout):
                label[robot * 4 + direction] = True
            obs_list.append(obs.astype(np.uint8))
            optimal.append(label)
            lengths.append(len(plan))
            starts.append(start)
        actions, state = policy.predict(obs[None], state, np.array([new_episode]), deterministic=False)
        obs, _, terminated, truncated, _ = env.step(int(actions[0]))
        new_episode = terminated or truncated
        start = new_episode or plan is None  # a state left out breaks the run of consecutive states
        if terminated or truncated:
            obs, _ = env.reset()
    length = np.array(lengths)
    value = optimal_value(length, step_penalty, goal_reward, gamma)
    return LabelledStates(np.stack(obs_list), np.stack(optimal), length, value, np.array(starts))
