"""`BatchedRicochetVecEnv`: N boards held in arrays and stepped in one compiled call.

Behaves exactly like ``DummyVecEnv([RicochetRobotsEnv(seed=seed + i, **kwargs) for i in range(N)])``
(the same observations, rewards, dones, infos, auto-resets and seeding) but steps every board
in a single numba kernel that updates the image observations in place, instead of N Python
``step`` calls.

How it stays exact: the vector env keeps one `RicochetRobotsEnv` per slot as the owner of that
slot's configuration, random stream and episode draws. Episodes start by calling that env's own
``reset`` (so boards, seeds and reset infos are the single env's by construction); only steps
run in the kernel. Before ``get_attr``, ``env_method`` or rendering, the kernel's state is
written back into the envs; after ``set_attr`` or ``env_method`` it is read again, so a user
can reach into an env exactly as with ``DummyVecEnv``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numba
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from gridlab.env.observations import FIRST_ROBOT, TARGET_ROBOT, symbolic_positions
from gridlab.env.puzzle_bank import PuzzleBank
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.env.solver import neighbour_table


@numba.njit(cache=True)
def _step_boards(
    actions: np.ndarray,
    slots: np.ndarray,
    nxt: np.ndarray,
    goals: np.ndarray,
    targets: np.ndarray,
    robots: np.ndarray,
    steps: np.ndarray,
    max_steps: np.ndarray,
    step_penalty: np.ndarray,
    noop_penalty: np.ndarray,
    goal_reward: np.ndarray,
    width: int,
    image: np.ndarray,
    has_image: bool,
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
) -> None:
    """Apply one action on every board.

    Args:
        actions: ``(n_envs,)`` ints, ``robot * 4 + direction``; ``4 * n_robots`` is the no-op.
        slots: ``(n_envs,)`` row of ``nxt`` holding each board's neighbour table.
        nxt: ``(n_slots, H * W, 4)`` neighbour cell per direction, ``-1`` behind a wall.
        goals, targets: ``(n_envs,)`` goal cell index and target robot id.
        robots: ``(n_envs, n_robots)`` robot cell indices, updated in place.
        steps, max_steps: ``(n_envs,)`` step counters (updated) and truncation limits.
        step_penalty, noop_penalty, goal_reward: ``(n_envs,)`` reward terms (a move's step, a
            no-op's step, solving).
        width: Board width (cell index ``r * width + c``).
        image: ``(n_envs, channels, H, W)`` image observations (any memory layout), updated in
            place when ``has_image``: robot planes and the target mask follow the moved robot.
        rewards, terminated, truncated: ``(n_envs,)`` outputs.
    """
    n_envs, n_robots = robots.shape
    for i in range(n_envs):
        a = actions[i]
        if a < 4 * n_robots:
            robot = a // 4
            d = a % 4
            table = nxt[slots[i]]
            p = robots[i, robot]
            q = p
            while True:
                s = table[q, d]
                if s < 0:
                    break
                blocked = False
                for j in range(n_robots):
                    if robots[i, j] == s:
                        blocked = True
                if blocked:
                    break
                q = s
            if q != p:
                robots[i, robot] = q
                if has_image:
                    image[i, FIRST_ROBOT + robot, p // width, p % width] = 0.0
                    image[i, FIRST_ROBOT + robot, q // width, q % width] = 1.0
                    if robot == targets[i]:
                        image[i, TARGET_ROBOT, p // width, p % width] = 0.0
                        image[i, TARGET_ROBOT, q // width, q % width] = 1.0
            penalty = step_penalty[i]
        else:
            penalty = noop_penalty[i]
        steps[i] += 1
        success = robots[i, targets[i]] == goals[i]
        rewards[i] = penalty + (goal_reward[i] if success else 0.0)
        terminated[i] = success
        truncated[i] = (not success) and steps[i] >= max_steps[i]


class BatchedRicochetVecEnv(VecEnv):
    """A stable-baselines3 ``VecEnv`` of ``num_envs`` Ricochet Robots boards stepped in one call.

    Example:
        >>> venv = BatchedRicochetVecEnv(256, height=8, width=8, num_robots=2, seed=0)
        >>> obs = venv.reset()                      # (256, 8, 8, 8) float32
        >>> obs, rewards, dones, infos = venv.step(np.zeros(256, dtype=np.int64))

    Args:
        num_envs: Number of boards.
        seed: Board ``i`` is seeded with ``seed + i`` at its first reset (as with
            ``make_vec_env``); ``None`` seeds from the operating system.
        **env_kwargs: Any `RicochetRobotsEnv` keyword argument, applied to every board.
    """

    observation_space: gym.spaces.Box
    action_space: gym.spaces.Discrete

    def __init__(self, num_envs: int, seed: int | None = None, **env_kwargs: Any) -> None:
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if "seed" in env_kwargs:
            raise ValueError("pass seed once, as BatchedRicochetVecEnv(num_envs, seed=...)")
        if isinstance(env_kwargs.get("bank"), (str, os.PathLike)):  # load once, share across boards
            env_kwargs["bank"] = PuzzleBank.load(env_kwargs["bank"])
        self.envs = [
            RicochetRobotsEnv(seed=None if seed is None else seed + i, **env_kwargs) for i in range(num_envs)
        ]
        first = self.envs[0]
        n, n_robots = int(num_envs), first.num_robots
        self.height, self.width, self.num_robots = first.height, first.width, n_robots
        self.obs_mode = first.obs_mode
        # Neighbour tables: one shared row per fixed layout, then one private row per board.
        self._fixed_slots = {id(layout): k for k, layout in enumerate(first.layouts)}
        self._nxt = np.full((len(first.layouts) + n, self.height * self.width, 4), -1, dtype=np.int64)
        for layout, k in zip(first.layouts, range(len(first.layouts)), strict=True):
            self._nxt[k] = neighbour_table(layout.h_walls, layout.v_walls)
        self._slots = np.zeros(n, dtype=np.int64)
        self._goals = np.zeros(n, dtype=np.int64)
        self._targets = np.zeros(n, dtype=np.int64)
        self._robots = np.zeros((n, n_robots), dtype=np.int64)
        self._steps = np.zeros(n, dtype=np.int64)
        self._max_steps = np.zeros(n, dtype=np.int64)
        self._step_penalty = np.zeros(n, dtype=np.float64)
        self._noop_penalty = np.zeros(n, dtype=np.float64)
        self._goal_reward = np.zeros(n, dtype=np.float64)
        self._obs = np.zeros((n, *first.observation_space.shape), dtype=first.observation_space.dtype)
        # The kernel writes image channels as (env, channel, row, col) whatever the memory layout.
        if self.obs_mode == "image":
            self._image = self._obs if first.channels_first else self._obs.transpose(0, 3, 1, 2)
        else:
            self._image = np.zeros((1, 1, 1, 1), dtype=np.float32)
        self._started = False
        self._actions = np.zeros(n, dtype=np.int64)
        super().__init__(n, first.observation_space, first.action_space)

    # -- the VecEnv interface ------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        for i, env in enumerate(self.envs):
            options = {"options": self._options[i]} if self._options[i] else {}
            obs, self.reset_infos[i] = env.reset(seed=self._seeds[i], **options)
            self._load(i, obs)
        self._reset_seeds()
        self._reset_options()
        self._started = True
        return self._obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions)
        if actions.shape not in ((self.num_envs,), (self.num_envs, 1)) or not np.issubdtype(
            actions.dtype, np.integer
        ):
            raise ValueError(
                f"actions must be {self.num_envs} integers (one per env), got shape {actions.shape} "
                f"and dtype {actions.dtype}"
            )
        actions = actions.reshape(self.num_envs)
        bad = (actions < 0) | (actions >= self.action_space.n)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"action {int(actions[i])} for env {i} is out of range: valid actions are "
                f"0..{int(self.action_space.n) - 1} (robot * 4 + direction)"
            )
        self._actions = actions.astype(np.int64, copy=False)

    def step_wait(self) -> VecEnvStepReturn:
        if not self._started:
            raise RuntimeError("call reset() before step()")
        n = self.num_envs
        rewards = np.empty(n, dtype=np.float32)
        terminated = np.empty(n, dtype=bool)
        truncated = np.empty(n, dtype=bool)
        _step_boards(
            self._actions, self._slots, self._nxt, self._goals, self._targets, self._robots,
            self._steps, self._max_steps, self._step_penalty, self._noop_penalty, self._goal_reward,
            self.width,
            self._image, self.obs_mode == "image", rewards, terminated, truncated,
        )  # fmt: skip
        if self.obs_mode != "image":
            self._encode_from_robots()
        dones = terminated | truncated
        time_limit = (truncated & ~terminated).tolist()
        infos: list[dict[str, Any]] = [
            {"is_success": s, "TimeLimit.truncated": t}
            for s, t in zip(terminated.tolist(), time_limit, strict=True)
        ]
        for i in np.flatnonzero(dones).tolist():
            infos[i]["terminal_observation"] = self._obs[i].copy()
            obs, self.reset_infos[i] = self.envs[i].reset()
            self._load(i, obs)
        return self._obs.copy(), rewards, dones, infos

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        envs = self._sync_out(indices)
        return [getattr(env, attr_name) for env in envs]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for i in self._get_indices(indices):
            setattr(self.envs[i], attr_name, value)
            self._sync_in(i)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        results = []
        for i in self._get_indices(indices):
            self._sync_out(i)
            results.append(getattr(self.envs[i], method_name)(*method_args, **method_kwargs))
            self._sync_in(i)
        return results

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    # Each board's render(), as text in "ansi" mode: wider than VecEnv's images-only return type.
    def get_images(self) -> Sequence[np.ndarray | str | None]:  # type: ignore[override]
        return [env.render() for env in self._sync_out(None)]

    # -- moving state between the arrays and the per-board envs --------------------------------
    def _load(self, i: int, obs: np.ndarray) -> None:
        """Copy board ``i``'s episode state from its env into the arrays."""
        env = self.envs[i]
        layout = env.layout
        assert layout is not None  # the env has just been reset
        slot = self._fixed_slots.get(id(layout))
        if slot is None:
            slot = len(self._fixed_slots) + i
            self._nxt[slot] = neighbour_table(layout.h_walls, layout.v_walls)
        W = self.width
        self._slots[i] = slot
        self._goals[i] = layout.goal_position[0] * W + layout.goal_position[1]
        self._targets[i] = layout.target_robot
        self._robots[i] = [r * W + c for r, c in env.robots]
        self._steps[i] = env.steps
        self._max_steps[i] = env.max_steps
        self._step_penalty[i] = env.step_penalty
        self._noop_penalty[i] = env.noop_penalty
        self._goal_reward[i] = env.goal_reward
        self._obs[i] = obs

    def _sync_out(self, indices: VecEnvIndices) -> list[RicochetRobotsEnv]:
        """Write the kernel's robots and step counts back into the envs at ``indices``."""
        envs = [self.envs[i] for i in self._get_indices(indices)]
        if self._started:
            for env, i in zip(envs, self._get_indices(indices), strict=True):
                env.robots = tuple(divmod(int(p), self.width) for p in self._robots[i])
                env.steps = int(self._steps[i])
        return envs

    def _sync_in(self, i: int) -> None:
        """Re-read env ``i`` after the user changed it through ``set_attr`` or ``env_method``."""
        env = self.envs[i]
        if self._started and env.layout is not None:
            self._load(i, env.observation_at(env.robots))

    def _encode_from_robots(self) -> None:
        """Symbolic and RGB observations after a kernel step (image ones are updated in place)."""
        rows, cols = np.divmod(self._robots, self.width)
        if self.obs_mode == "symbolic":
            cells = np.stack([rows, cols], axis=-1)
            self._obs[:, : 2 * self.num_robots] = symbolic_positions(cells, self.height, self.width)
        else:
            for i, env in enumerate(self.envs):
                self._obs[i] = env.observation_at(tuple(zip(rows[i].tolist(), cols[i].tolist(), strict=True)))
