"""Training callbacks: greedy held-out evaluation (with curriculum and early stop) and checkpoints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from gridlab.env.board import FixedLayout
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.models.precision import computing_in
from gridlab.training.config import TrainConfig
from gridlab.training.evaluation import EvaluationResult, evaluate


class Curriculum:
    """Unlocks one more optimal length each time held-out success on the unlocked ones passes a threshold.

    Args:
        min_moves, max_moves: The full band.
        start: Longest length unlocked at first.
        threshold: Success rate (on unlocked lengths) that unlocks the next one.
    """

    def __init__(self, min_moves: int, max_moves: int, start: int, threshold: float) -> None:
        self.min_moves, self.max_moves, self.threshold = min_moves, max_moves, threshold
        self.longest = min(start, max_moves)

    def weights(self) -> dict[int, float]:
        return dict.fromkeys(range(self.min_moves, self.longest + 1), 1.0)

    def update(self, result: EvaluationResult) -> bool:
        """Widen the band after an evaluation; True when it changed."""
        unlocked = result.optimal <= self.longest
        if self.longest >= self.max_moves or not unlocked.any():
            return False
        if result.solved[unlocked].mean() >= self.threshold:
            self.longest += 1
            return True
        return False


class EvalCallback(BaseCallback):
    """Every ``config.eval_freq`` steps: greedy evaluation, logging, curriculum, early stop.

    Logs ``eval/success_rate``, ``eval/success_rate_len_{L}``, ``eval/moves_over_optimal`` and
    ``eval/extra_moves``, appends a row to ``history``, passes the history to ``on_evaluation``
    and stops training once ``config.target_success`` is reached.
    """

    def __init__(
        self, config: TrainConfig, env: RicochetRobotsEnv, puzzles: list[tuple[FixedLayout, int]],
        curriculum: Curriculum | None = None, on_evaluation: Callable[[pd.DataFrame], None] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.config, self.env, self.puzzles, self.curriculum = config, env, puzzles, curriculum
        self.on_evaluation = on_evaluation
        self.history: list[dict[str, Any]] = []
        self.last_result: EvaluationResult | None = None
        self._next = config.eval_freq

    def _on_training_start(self) -> None:
        self._next = _next_multiple(self.model.num_timesteps, self.config.eval_freq)  # resumed runs

    def _on_step(self) -> bool:
        if self.config.eval_freq == 0 or self.num_timesteps < self._next:
            return True
        self._next += self.config.eval_freq
        return self.run_evaluation()

    def score(self, model: BaseAlgorithm) -> EvaluationResult:
        """``model``'s greedy held-out evaluation now (also kept as `last_result`); usable before
        training starts, when the callback has no model yet."""

        def act(obs: np.ndarray, state: Any, start: np.ndarray) -> tuple[np.ndarray, Any]:
            return model.predict(obs, state=state, episode_start=start, deterministic=True)

        with computing_in(model.policy, "fp32"):  # the figures `Agent.evaluate` reproduces
            self.last_result = evaluate(act, self.env, self.puzzles)
        return self.last_result

    def run_evaluation(self) -> bool:
        """Evaluate now; returns False when training should stop."""
        result = self.score(self.model)
        row: dict[str, Any] = {"step": self.num_timesteps} | result.summary()
        if self.curriculum is not None:
            if self.curriculum.update(result):
                self.training_env.env_method("set_length_weights", self.curriculum.weights())
            row["curriculum_longest"] = self.curriculum.longest
        self.history.append(row)
        for key, value in row.items():
            if key != "step":
                self.logger.record(f"eval/{key.replace('success_len_', 'success_rate_len_')}", value)
        self.logger.dump(self.num_timesteps)
        if self.on_evaluation is not None:
            self.on_evaluation(pd.DataFrame(self.history))
        target = self.config.target_success
        return target is None or result.success_rate < target


class CheckpointCallback(BaseCallback):
    """Calls ``save(run_dir / f"step_{n}")`` every ``save_freq`` steps and at the first step at or
    after each of ``extra_steps`` (a log-spaced schedule for emergence studies)."""

    def __init__(
        self, save_freq: int, run_dir: Path, save: Callable[[Path], Path], extra_steps: Sequence[int] = ()
    ) -> None:
        super().__init__()
        self.save_freq, self.run_dir, self.save = save_freq, run_dir, save
        self.extra_steps = sorted(extra_steps)
        self._next = save_freq

    def _on_training_start(self) -> None:
        self._next = _next_multiple(self.model.num_timesteps, self.save_freq)
        self.extra_steps = [step for step in self.extra_steps if step > self.model.num_timesteps]

    def _on_step(self) -> bool:
        due = bool(self.save_freq) and self.num_timesteps >= self._next
        while self.save_freq and self.num_timesteps >= self._next:
            self._next += self.save_freq
        while self.extra_steps and self.num_timesteps >= self.extra_steps[0]:
            due = True
            self.extra_steps.pop(0)
        if due:
            self.save(self.run_dir / f"step_{self.num_timesteps}")
        return True


def log_spaced_steps(n: int, first: int, last: int) -> list[int]:
    """``n`` steps from ``first`` to ``last`` evenly spaced in log scale, rounded, without repeats.

    Example:
        >>> log_spaced_steps(5, 10_000, 1_000_000)
        [10000, 31623, 100000, 316228, 1000000]
    """
    if n < 1 or not 0 < first <= last:
        raise ValueError(f"need n >= 1 and 0 < first <= last, got n={n}, first={first}, last={last}")
    if n == 1:
        return [last]
    return sorted({round(first * (last / first) ** (i / (n - 1))) for i in range(n)})


def _next_multiple(step: int, every: int) -> int:
    """The first multiple of ``every`` after ``step``."""
    return (step // every + 1) * every if every else 0
