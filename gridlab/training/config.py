"""`TrainConfig`: every option of a training run, in one typed dataclass.

The same fields back ``gridlab.train(config)``, the ``gridlab train`` command line (one option
per field) and the ``config`` block of a checkpoint's ``metadata.json``. Defaults follow the
seed notes: learning rate 3e-4, entropy 0.01, rollout length 128, batch 256, 8 envs.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_type_hints

import yaml

from gridlab.env.board import MAX_ROBOTS, MAX_SIZE, MIN_SIZE
from gridlab.env.generator import MAX_MOVES_LIMIT
from gridlab.env.layouts import MILESTONES
from gridlab.env.observations import OBS_MODES
from gridlab.files import atomic_write
from gridlab.models.registry import MODELS, select_policy

PRECISIONS = ("auto", "fp32", "bf16")
RECIPES = ("ppo", "bc+ppo", "bc+kickstart", "dagger+ppo", "dagger+kickstart")
_MODEL_OPTIONS = tuple(dict.fromkeys(field for entry in MODELS.values() for field in entry.options.values()))
VEC_ENVS = ("batched", "dummy")


@dataclass
class TrainConfig:
    """Everything that defines a training run (see the module docstring)."""

    # -- environment ---------------------------------------------------------------------------
    milestone: str | None = None
    """Train on a milestone ("v0".."v4") instead of random boards; fixes size and robots."""
    height: int = 8
    """Board rows for random boards (4-16)."""
    width: int = 8
    """Board columns for random boards (4-16)."""
    num_robots: int = 2
    """Robots on random boards (1-5)."""
    min_moves: int = 1
    """Shortest optimal plan drawn for training."""
    max_moves: int = 8
    """Longest optimal plan drawn for training."""
    bank: str | None = None
    """Puzzle-bank folder to draw boards from (held-out split for evaluation); None: generate online."""
    obs_mode: str = "image"
    """Observation encoding: image, symbolic or rgb."""
    max_steps: int = 30
    """Steps before an episode is truncated."""
    step_penalty: float = -0.01
    """Reward added every step."""
    goal_reward: float = 1.0
    """Reward added on the solving step."""
    include_noop: bool = False
    """Add a no-op ("thinking") action."""
    noop_penalty: float | None = None
    """Reward of a no-op step (None: step_penalty)."""
    vec_env: str = "batched"
    """Vector env: batched (one compiled step for all boards) or dummy (SB3 DummyVecEnv)."""
    # -- policy --------------------------------------------------------------------------------
    policy: str = "auto"
    """mlp, small_cnn, convlstm, or auto (the seed's rule: MLP for symbolic or tiny boards)."""
    mlp_hidden: int = 64
    """Width of the MLP extractor's layers."""
    cnn_features: int = 128
    """Output size of SmallCNN."""
    drc_layers: int = 1
    """ConvLSTM: D, stacked layers."""
    drc_ticks: int = 1
    """ConvLSTM: N, ticks per environment step."""
    drc_hidden: int = 32
    """ConvLSTM: channels of each layer's state."""
    drc_encoder: int = 32
    """ConvLSTM: channels of the convolutional encoder."""
    drc_output: int = 256
    """ConvLSTM: size of the core's output vector."""
    drc_fence: bool = False
    """ConvLSTM: append a boundary "fence" channel (1 on edge squares) to the encoded observation."""
    drc_coords: bool = False
    """ConvLSTM: append row and column coordinate channels to the encoded observation."""
    drc_strip_pool: bool = False
    """ConvLSTM: row and column (strip) pooling of each layer's state into its gates."""
    recipe: str = "ppo"
    """How the policy is taught, as TEACHING+RL: ppo (reinforcement learning alone); bc+ppo
    (behaviour cloning on fresh solver-labelled puzzles first, then PPO); dagger+ppo (cloning
    with the learner's own states relabelled by the solver mixed in, then PPO); bc+kickstart and
    dagger+kickstart (the same cloning, then PPO with a distillation term toward the clone whose
    weight anneals to zero). A recurrent policy is cloned over whole trajectories, and its
    kickstarting teacher plays along with its own recurrent state."""
    clone_updates: int = 2000
    """Recipes: Adam steps of behaviour cloning (batches of batch_size states); 0 skips cloning, so
    the clone (and the kickstarting teacher) is the starting policy, e.g. ``init_from``'s."""
    clone_learning_rate: float = 1e-3
    """Recipes: Adam's step size while cloning."""
    dagger_every: int = 100
    """dagger+...: cloning updates between collections of the learner's own states."""
    dagger_states: int = 512
    """dagger+...: states the learner plays and the solver labels at each collection."""
    kickstart_coef: float = 1.0
    """...+kickstart: weight of the distillation term at the start of PPO."""
    kickstart_steps: int | None = None
    """...+kickstart: steps over which that weight falls linearly to 0 (None: half of total_timesteps)."""
    init_from: str | None = None
    """Checkpoint whose weights start this run (same policy and board; more robots allowed)."""
    # -- PPO / RecurrentPPO --------------------------------------------------------------------
    total_timesteps: int = 100_000
    """Environment steps to train for (summed over envs)."""
    learning_rate: float = 3e-4
    """Adam learning rate (at the start, when learning_rate_end is set)."""
    learning_rate_end: float | None = None
    """Decay the learning rate linearly to this value at total_timesteps (None: constant)."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    n_steps: int = 128
    """Rollout length per env."""
    batch_size: int = 256
    """Minibatch size."""
    n_envs: int = 8
    """Parallel environments."""
    n_epochs: int = 4
    """Optimisation epochs per rollout."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_range: float = 0.2
    """PPO clip range."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Gradient clipping norm."""
    seed: int = 0
    """Seed for boards, rollouts and initialisation."""
    bptt_length: int = 8
    """Recurrent policies: steps per training sequence (truncated back-propagation through time);
    divides n_steps and batch_size."""
    precision: str = "auto"
    """Network compute precision: fp32, bf16 (autocast; weights and losses stay fp32), or auto
    (bf16 where this machine's measurement says it is faster)."""
    compile: bool = False
    """``torch.compile`` the policy's networks (feature extractor, recurrent core, heads' MLP) for
    training and cloning: DRC(3,3) PPO on 8x8 ran 1.34x faster on this CPU
    (``benchmarks/bench_compile.py``); the first updates pay for the compilation. Checkpoints are
    the same either way."""
    # -- evaluation, checkpoints, curriculum ---------------------------------------------------
    eval_freq: int = 10_000
    """Env steps between greedy evaluations (0 disables)."""
    eval_episodes: int = 100
    """Puzzles per evaluation (every layout once for milestones)."""
    save_freq: int = 50_000
    """Env steps between checkpoints (0: only the final one)."""
    log_checkpoints: int = 0
    """Also save this many checkpoints log-spaced from log_checkpoints_from to total_timesteps
    (for following a representation over training)."""
    log_checkpoints_from: int = 10_000
    """First step of the log-spaced checkpoints."""
    curriculum: bool = False
    """Widen the band of optimal lengths as success grows (needs a bank)."""
    curriculum_start: int = 2
    """Longest optimal length drawn when the curriculum starts."""
    curriculum_threshold: float = 0.8
    """Held-out success on the current lengths that unlocks the next length."""
    target_success: float | None = None
    """Stop early once greedy held-out success reaches this rate."""
    # -- where and how -------------------------------------------------------------------------
    output_dir: str = "runs"
    """Folder that holds run folders."""
    run_name: str | None = None
    """Run folder name (default: derived from the policy, board and seed)."""
    device: str = "cpu"
    """Torch device."""
    threads: int = 1
    """Torch CPU threads. A run alone on a 2-core machine trains about 1.7x faster with 2 (SmallCNN
    and DRC(2,2) PPO, ``benchmarks/bench_precision.py --threads``); 1, the default, leaves the
    other core to a second run, to the tests' second worker or to a recipe's solver stream."""
    tensorboard: bool = True
    """Log to TensorBoard under the run folder."""
    progress_bar: bool = True
    """Show a progress bar."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes kept with the run (not used by training)."""

    def __post_init__(self) -> None:
        _coerce_numbers(self)
        self.validate()

    # -- validation ----------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field and what it accepts."""
        for name in ("height", "width"):
            if not MIN_SIZE <= getattr(self, name) <= MAX_SIZE:
                _bad(name, getattr(self, name), f"an integer from {MIN_SIZE} to {MAX_SIZE}")
        if not 1 <= self.num_robots <= MAX_ROBOTS:
            _bad("num_robots", self.num_robots, f"an integer from 1 to {MAX_ROBOTS}")
        if not 1 <= self.min_moves <= self.max_moves <= MAX_MOVES_LIMIT:
            _bad(
                "min_moves/max_moves",
                (self.min_moves, self.max_moves),
                f"1 <= min <= max <= {MAX_MOVES_LIMIT}",
            )
        for name, allowed in self.choices().items():
            value, optional = getattr(self, name), name == "milestone"
            if value not in allowed and not (optional and value is None):
                _bad(name, value, f"one of {', '.join(allowed)}{' or None' if optional else ''}")
        switches = [name for name in _MODEL_OPTIONS if isinstance(getattr(TrainConfig, name), bool)]
        sizes = [name for name in _MODEL_OPTIONS if name not in switches]
        positive = ("max_steps", "total_timesteps", "n_steps", "batch_size", "n_envs", "n_epochs",
                    "eval_episodes", "threads", "curriculum_start", "bptt_length",
                    "dagger_every", "dagger_states",
                    *sizes)  # fmt: skip
        for name in switches:
            if not isinstance(getattr(self, name), bool):
                _bad(name, getattr(self, name), "true or false")
        for name in positive:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                _bad(name, getattr(self, name), "a positive integer")
        for name in ("eval_freq", "save_freq", "log_checkpoints"):
            if getattr(self, name) < 0:
                _bad(name, getattr(self, name), "0 (off) or a positive number of steps")
        if not self.learning_rate > 0:
            _bad("learning_rate", self.learning_rate, "a positive number")
        if self.learning_rate_end is not None and not self.learning_rate_end > 0:
            _bad("learning_rate_end", self.learning_rate_end, "a positive number or None")
        for name in ("gamma", "gae_lambda", "curriculum_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                _bad(name, getattr(self, name), "a number in [0, 1]")
        if self.target_success is not None and not 0.0 < self.target_success <= 1.0:
            _bad("target_success", self.target_success, "a rate in (0, 1] or None")
        if self.log_checkpoints and not 1 <= self.log_checkpoints_from <= self.total_timesteps:
            _bad("log_checkpoints_from", self.log_checkpoints_from, "a step from 1 to total_timesteps")
        if self.curriculum and self.bank is None:
            _bad("curriculum", True, "only with a puzzle bank (set bank=...)")
        if self.milestone is not None and self.bank is not None:
            _bad("bank", self.bank, "None when training on a milestone")
        policy = self.resolved_policy()
        if self.recipe != "ppo" and self.milestone is not None:
            _bad("recipe", self.recipe, "ppo for milestones (cloning draws fresh random boards)")
        if not isinstance(self.clone_updates, int) or self.clone_updates < 0:
            _bad("clone_updates", self.clone_updates, "a whole number of updates, 0 or more")
        if self.kickstart_steps is not None and self.kickstart_steps < 1:
            _bad("kickstart_steps", self.kickstart_steps, "a positive number of steps or None")
        if not self.kickstart_coef >= 0:
            _bad("kickstart_coef", self.kickstart_coef, "a number >= 0")
        if not self.clone_learning_rate > 0:
            _bad("clone_learning_rate", self.clone_learning_rate, "a positive number")
        if MODELS[policy].recurrent:
            for name in ("n_steps", "batch_size"):
                if getattr(self, name) % self.bptt_length:
                    _bad(name, getattr(self, name), f"a multiple of bptt_length ({self.bptt_length})")
        if self.obs_mode not in MODELS[policy].obs_modes:
            accepted = ", ".join(repr(mode) for mode in MODELS[policy].obs_modes)
            _bad("obs_mode", self.obs_mode, f"one of {accepted} for the {policy} policy")

    @staticmethod
    def choices() -> dict[str, tuple[str, ...]]:
        """The values each field with a fixed set of them accepts (the CLI's ``choices``)."""
        return {"milestone": tuple(MILESTONES), "obs_mode": OBS_MODES, "policy": ("auto", *MODELS),
                "vec_env": VEC_ENVS, "precision": PRECISIONS, "recipe": RECIPES}  # fmt: skip

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def applicable(self) -> dict[str, Any]:
        """`to_dict` without the fields this run ignores: what a run folder's ``config.yaml`` and a
        checkpoint record. A milestone fixes the board (no size, robots, lengths or bank); only the
        chosen policy's size options; the curriculum's settings only with the curriculum on.
        `from_dict` of it gives back an equivalent config."""
        ignored = set(_MODEL_OPTIONS) - set(MODELS[self.resolved_policy()].options.values())
        if self.milestone is not None:
            ignored |= {"height", "width", "num_robots", "min_moves", "max_moves", "bank"}
        if not self.curriculum:
            ignored |= {"curriculum_start", "curriculum_threshold"}
        if not self.include_noop:
            ignored.add("noop_penalty")
        if not MODELS[self.resolved_policy()].recurrent:
            ignored.add("bptt_length")
        if not self.log_checkpoints:
            ignored.add("log_checkpoints_from")
        if self.recipe == "ppo":
            ignored |= {"clone_updates", "clone_learning_rate"}
        if not self.kickstarts():
            ignored |= {"kickstart_coef", "kickstart_steps"}
        if not self.recipe.startswith("dagger+"):
            ignored |= {"dagger_every", "dagger_states"}
        return {k: v for k, v in self.to_dict().items() if k not in ignored}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict; unknown keys are an error that lists the valid ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown TrainConfig fields {unknown}; valid fields: {', '.join(sorted(known))}"
            )
        return cls(**data)

    def save(self, path: str | Path) -> None:
        """Write as YAML (``.yaml``/``.yml``) or JSON (anything else)."""
        path = Path(path)
        text = yaml.safe_dump(self.applicable(), sort_keys=False) if path.suffix in (".yaml", ".yml") else (
            json.dumps(self.applicable(), indent=2)
        )  # fmt: skip
        atomic_write(path, lambda f: f.write(text.encode()))

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a YAML or JSON file written by `save` (or by hand).

        Args:
            path: A ``.yaml``/``.yml`` file, or JSON under any other name.

        Returns:
            The config (``1e6``, which PyYAML reads as a string, is 1000000 in an int field).

        Raises:
            FileNotFoundError: There is no file at ``path``.
            ValueError: A syntax error (the message names the file, line and column), a file that
                does not hold a mapping, or a field the config rejects.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no config file at {path}")
        text = path.read_text()
        try:
            data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
        except yaml.YAMLError as error:
            raise ValueError(
                f"config file {path} is not valid YAML: {_yaml_problem(error)}; fix the syntax there"
            ) from error
        except json.JSONDecodeError as error:
            raise ValueError(
                f"config file {path} is not valid JSON: {error.msg} at line {error.lineno}, "
                f"column {error.colno}; fix the syntax there (or name the file .yaml to write YAML)"
            ) from error
        if not isinstance(data, dict):
            raise ValueError(f"config file {path} must hold a mapping of field names to values")
        return cls.from_dict(data)

    # -- derived -------------------------------------------------------------------------------
    def resolved_policy(self) -> str:
        """The policy after applying the ``auto`` rule."""
        if self.policy != "auto":
            return self.policy
        height, width = self.board_size()
        return select_policy(self.obs_mode, height, width, self.milestone)

    def kickstarts(self) -> bool:
        """Whether PPO distils from the clone (the ``...+kickstart`` recipes)."""
        return self.recipe.endswith("+kickstart")

    def distillation_steps(self) -> int:
        """...+kickstart: the step at which the distillation weight reaches 0."""
        return self.kickstart_steps or max(self.total_timesteps // 2, 1)

    def board_size(self) -> tuple[int, int]:
        if self.milestone is None:
            return self.height, self.width
        layout = MILESTONES[self.milestone]()[0]
        return layout.height, layout.width

    def name(self) -> str:
        """Run folder name."""
        if self.run_name:
            return self.run_name
        board = self.milestone or f"{self.height}x{self.width}-{self.num_robots}r"
        return f"{self.resolved_policy()}-{board}-seed{self.seed}"

    @staticmethod
    def field_help() -> dict[str, str]:
        """One line of help per field, from the attribute docstrings (used by the CLI)."""
        tree = ast.parse(inspect.getsource(TrainConfig))
        body = tree.body[0].body  # type: ignore[attr-defined]
        helps = {}
        for node, after in itertools.pairwise(body):
            if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr):
                helps[node.target.id] = str(after.value.value)  # type: ignore[attr-defined,union-attr]
        return helps


def _bad(name: str, value: object, expected: str) -> None:
    raise ValueError(f"TrainConfig.{name} = {value!r} is invalid; expected {expected}")


def _coerce_numbers(config: TrainConfig) -> None:
    """Give numbers written another way their field's type, in place: for an int field ``1e6``,
    ``"1e6"`` and ``"1_000_000"`` become ``1000000`` (PyYAML reads ``1e6`` as a string); for a
    float field a string such as ``"3e-4"`` becomes a float.

    Args:
        config: The config being built (`TrainConfig.__post_init__`).

    Raises:
        ValueError: A value that is not a whole number for an int field (``2.5``, ``"1e-3"``), or
            not a number for a float field; the message names the field.
    """
    for name, hint in get_type_hints(TrainConfig).items():
        kinds = set(get_args(hint)) - {type(None)} or {hint}  # `int | None` counts as int
        value = getattr(config, name)
        if kinds == {int} and isinstance(value, str | float):
            try:
                setattr(config, name, whole_number(value))
            except ValueError:
                _bad(name, value, "a whole number, such as 1000000, 1e6 or 1_000_000")
        elif kinds == {float} and isinstance(value, str):
            try:
                setattr(config, name, float(value))
            except ValueError:
                _bad(name, value, "a number, such as 0.0003 or 3e-4")


def whole_number(value: str | float) -> int:
    """``value`` as an int, also when written as a float or in scientific notation.

    Args:
        value: A number or its text: ``1000000``, ``"1_000_000"``, ``1e6`` and ``"1e6"`` all give
            ``1000000``.

    Returns:
        The int.

    Raises:
        ValueError: ``value`` is not a whole number (``2.5``, ``"1e-3"``, ``"inf"``, ``"abc"``).
    """
    if isinstance(value, str):
        try:
            return int(value)  # exact, however long
        except ValueError:
            pass  # maybe scientific notation: read it as a float below
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """What PyYAML found wrong and where, lines and columns counted from 1.

    Args:
        error: Raised by ``yaml.safe_load``.

    Returns:
        E.g. ``expected ',' or ']', but got ':' at line 3, column 16 (while parsing a flow sequence
        at line 2, column 7)``; PyYAML's own message for an error without marks.
    """
    if not isinstance(error, yaml.MarkedYAMLError):
        return str(error)
    found = [
        f"{text} at line {mark.line + 1}, column {mark.column + 1}"
        for text, mark in ((error.problem, error.problem_mark), (error.context, error.context_mark))
        if text and mark
    ]
    return found[0] + "".join(f" ({more})" for more in found[1:]) if found else str(error)
