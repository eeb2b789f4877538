"""`train(config)`: a run from a `TrainConfig` to a checkpoint, readable top to bottom.

    config in -> environments -> model (PPO, or RecurrentPPO for the ConvLSTM) -> recipe's teacher
    (bc+... / dagger+...: cloning the solver's moves; ...+kickstart then distils from the clone)
    -> callbacks
    (held-out evaluation, curriculum, early stop, checkpoints) -> learn -> final checkpoint -> Run

A new run never writes into another run's folder: it takes ``config.name()`` or, if that folder
is taken, the first free ``NAME-2``, ``NAME-3``, ... (an explicit ``run_name`` that is taken is an
error); resuming a run's checkpoint continues in that run's folder.

Ctrl-C (or a notebook's interrupt) ends training at its next step, writes the final checkpoint,
then runs the final evaluation and returns the `Run`, so a notebook cell never loses a run; a
second Ctrl-C raises at once, and during the final evaluation it only skips that evaluation.
SIGTERM (runs in the background, where shells ignore SIGINT) stops training the same way.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pandas as pd
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import configure
from stable_baselines3.common.policies import ActorCriticPolicy

from gridlab.checkpoints import read_checkpoint, save_checkpoint
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.files import new_folder
from gridlab.models.precision import precision_of
from gridlab.training.callbacks import CheckpointCallback, Curriculum, EvalCallback, log_spaced_steps
from gridlab.training.config import TrainConfig
from gridlab.training.dagger import dagger_states
from gridlab.training.evaluation import EvaluationResult, evaluation_puzzles
from gridlab.training.factory import build_model, env_kwargs, env_spec, make_vec_env, policy_spec
from gridlab.training.imitation import Cloning, clone
from gridlab.training.kickstart import Kickstarting
from gridlab.training.stream import LabelledStates, SolverStream
from gridlab.training.transfer import start_from


@dataclass
class Run:
    """The outcome of `train`.

    Open the final checkpoint with ``gridlab.load(run.checkpoint)``.

    Attributes:
        run_dir: Folder holding the config, checkpoints and TensorBoard logs.
        checkpoint: The final checkpoint folder.
        history: One row per evaluation: step, success rate (overall and by optimal length),
            moves over optimal, extra moves (and the curriculum's longest length).
        evaluation: The final greedy evaluation (None if a second Ctrl-C skipped it).
        interrupted: Whether training was stopped early by Ctrl-C or SIGTERM.
    """

    run_dir: Path
    checkpoint: Path
    history: pd.DataFrame
    evaluation: EvaluationResult | None = None
    interrupted: bool = False


def train(
    config: TrainConfig,
    resume_from: str | Path | None = None,
    on_evaluation: Callable[[pd.DataFrame], None] | None = None,
    callbacks: Sequence[BaseCallback] = (),
) -> Run:
    """Train an agent; see the module docstring.

    Args:
        config: Everything about the run.
        resume_from: A checkpoint of this run to continue (weights, optimizer, step count,
            learning-rate schedule and evaluation history). Without it, ``config.init_from``
            starts a new run from another run's weights (`gridlab.training.transfer`).
        on_evaluation: Called with the history so far after every evaluation (a notebook's
            live learning curve, see `plot_history`).
        callbacks: More stable-baselines3 callbacks, run after gridlab's own at every step.

    Returns:
        The `Run`.

    Raises:
        ValueError: An invalid config, a taken ``run_name``, or a checkpoint to resume or start
            from that does not fit the config.
    """
    config.validate()
    torch.set_num_threads(config.threads)
    resumed = None if resume_from is None else read_checkpoint(resume_from)
    optimizer_state = None if resumed is None else resumed.optimizer_state()  # refuses compact checkpoints
    if resumed is not None and resumed.policy_spec != policy_spec(config):  # before touching its folder
        raise ValueError(f"checkpoint {resume_from} was trained with another policy; resume with its config")
    teacher = None  # a resumed ...+kickstart run still distilling distils from the clone its run kept
    if resume_from is not None and resumed is not None and config.kickstarts():
        done, clone = resumed.metadata["training"]["num_timesteps"], Path(resume_from).parent / "clone"
        if done < config.distillation_steps():
            if not clone.is_dir():
                raise ValueError(
                    f"checkpoint {resume_from} is still distilling ({done} of {config.distillation_steps()} "
                    f"steps) and its teacher, {clone}, is missing; resume it once kickstart_steps have "
                    "passed, or start again"
                )
            teacher = read_checkpoint(clone)
    run_dir = _run_folder(config, resume_from)
    config.save(run_dir / "config.yaml")

    # ENVIRONMENTS: training boards, and held-out puzzles for greedy evaluation
    venv = make_vec_env(config)
    eval_env = RicochetRobotsEnv(**env_kwargs(config, split="heldout"))
    puzzles = evaluation_puzzles(config, config.eval_episodes)

    # MODEL
    model = build_model(config, venv, str(run_dir / "tensorboard") if config.tensorboard else None)
    if not config.tensorboard:  # SB3's default logger would leave an empty SB3-* folder in /tmp per run
        model.set_logger(configure(str(run_dir), format_strings=[]))
    history: list[dict[str, Any]] = []
    elapsed_before = 0.0
    parent = None  # the run whose weights this one started from, with its steps and time
    if resumed is not None and optimizer_state is not None:
        resumed.load_weights(model.policy)
        model.policy.optimizer.load_state_dict(optimizer_state)
        stats = resumed.metadata["training"]
        model.num_timesteps, model._n_updates = stats["num_timesteps"], stats["n_updates"]
        history, elapsed_before = list(stats["history"]), stats["elapsed_s"]
        parent = stats.get("init_from")
    elif config.init_from is not None:
        parent = start_from(config.init_from, model.policy, config, eval_env)
    recipe: dict[str, Any] = {"name": config.recipe}
    if resumed is not None:  # checkpoints from before recipes were all plain PPO
        recipe = resumed.metadata["training"].get("recipe", {"name": "ppo"})
    if resumed is None and config.recipe != "ppo":  # teach the solver's moves first, then PPO
        recipe["cloning"] = (
            _clone_the_solver(config, model.policy).summary() if config.clone_updates else {"updates": 0}
        )
    if isinstance(model, Kickstarting) and resumed is None:  # distil from the clone
        model.set_teacher(model.policy)
    elif isinstance(model, Kickstarting) and teacher is not None:
        cloned = copy.deepcopy(model.policy)
        teacher.load_weights(cloned)
        model.set_teacher(cloned)

    # CALLBACKS: evaluation (+ curriculum, early stop) and periodic checkpoints
    started = time.perf_counter()
    interrupted = False

    def save(folder: Path) -> Path:
        stats = {
            "num_timesteps": model.num_timesteps, "n_updates": model._n_updates,
            "elapsed_s": elapsed_before + time.perf_counter() - started,
            "history": evaluator.history, "interrupted": interrupted, "init_from": parent,
            "precision": precision_of(model.policy), "recipe": recipe,
        }  # fmt: skip
        return save_checkpoint(
            folder, model, config.applicable(), env_spec(eval_env, config), policy_spec(config), stats
        )

    curriculum = None
    if config.curriculum:
        curriculum = Curriculum(
            config.min_moves, config.max_moves, config.curriculum_start, config.curriculum_threshold
        )
        if history and "curriculum_longest" in history[-1]:  # a resumed run keeps its lengths
            curriculum.longest = int(history[-1]["curriculum_longest"])
            venv.env_method("set_length_weights", curriculum.weights())
    evaluator = EvalCallback(config, eval_env, puzzles, curriculum, on_evaluation)
    evaluator.history = history
    log_steps = (
        log_spaced_steps(config.log_checkpoints, config.log_checkpoints_from, config.total_timesteps)
        if config.log_checkpoints
        else []
    )
    if resumed is None and config.recipe != "ppo":  # the clone's own score at step 0, and the clone kept
        evaluator.history.append({"step": 0} | evaluator.score(model).summary())
        save(run_dir / "clone")
    terminated = threading.Event()
    everything = CallbackList(
        [
            evaluator,
            CheckpointCallback(config.save_freq, run_dir, save, log_steps),
            StopWhenSet(terminated),
            *callbacks,
        ]
    )

    # TRAIN (Ctrl-C, or SIGTERM for a run in the background, ends it with a final checkpoint)
    try:
        with _stop_signals_set(terminated):
            model.learn(
                total_timesteps=max(config.total_timesteps - model.num_timesteps, 0),
                callback=everything,
                progress_bar=config.progress_bar,
                reset_num_timesteps=resumed is None,
                tb_log_name="train",
            )
    except KeyboardInterrupt:
        interrupted = True
    interrupted = interrupted or terminated.is_set()
    final = save(run_dir / "final")  # first: an interrupt during the evaluation cannot lose it
    evaluation = evaluator.last_result
    try:
        if evaluation is None or evaluator.history[-1]["step"] != model.num_timesteps:
            evaluator.run_evaluation()
            evaluation = evaluator.last_result
            final = save(final)  # again, with the final evaluation in its history
    except KeyboardInterrupt:
        interrupted, evaluation = True, None
    finally:
        venv.close()
    return Run(run_dir, final, pd.DataFrame(evaluator.history), evaluation, interrupted)


def _clone_the_solver(config: TrainConfig, policy: ActorCriticPolicy) -> Cloning:
    """The recipe's teaching phase: behaviour cloning on fresh solver-labelled puzzles, with the
    learner's own states relabelled by the solver mixed in for ``dagger+ppo``."""
    dagger = None
    if config.recipe.startswith("dagger+"):
        play = RicochetRobotsEnv(**env_kwargs(config), seed=config.seed + 10_000)

        def dagger(learner: ActorCriticPolicy) -> LabelledStates:
            return dagger_states(
                learner, play, config.dagger_states, config.step_penalty, config.goal_reward, config.gamma
            )

    with SolverStream(config, seed=config.seed) as stream:
        return clone(
            policy, stream, config.clone_updates, config.batch_size, config.clone_learning_rate,
            config.vf_coef, config.seed, config.progress_bar, dagger, config.dagger_every, config.bptt_length,
        )  # fmt: skip


def _run_folder(config: TrainConfig, resume_from: str | Path | None) -> Path:
    """The run's folder, created: the resumed run's own, or a new one no other run has used (an
    explicit ``run_name`` that is taken is an error rather than a numbered sibling)."""
    if resume_from is not None and (Path(resume_from).parent / "config.yaml").is_file():
        return Path(resume_from).parent
    folder = Path(config.output_dir) / config.name()
    try:
        return new_folder(folder, numbered=config.run_name is None)
    except FileExistsError:
        raise ValueError(
            f"run folder {folder} already holds a run; choose another run_name, or continue "
            f"that run with resume_from={folder / 'final'}"
        ) from None


class StopWhenSet(BaseCallback):
    """Ends training at the next step once ``event`` is set."""

    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event

    def _on_step(self) -> bool:
        return not self.event.is_set()


@contextlib.contextmanager
def _stop_signals_set(event: threading.Event) -> Iterator[None]:
    """Within the block, SIGTERM and a first SIGINT set ``event``; a second SIGINT raises
    KeyboardInterrupt (main thread only: signals need it; an ignored SIGINT stays ignored).

    Training then stops at its next step (`StopWhenSet`); raising from the handler instead
    could land inside a checkpoint's zip writer, whose cleanup replaces the interrupt with
    another error and loses the final checkpoint.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        print("stopping at the next step (Ctrl-C again to stop at once)", file=sys.stderr)

    previous_term = signal.signal(signal.SIGTERM, lambda signum, frame: event.set())
    previous_int = signal.getsignal(signal.SIGINT)  # None: installed outside Python, left alone
    handle_int = previous_int not in (signal.SIG_IGN, None)
    if handle_int:
        signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        if handle_int:
            signal.signal(signal.SIGINT, previous_int)
