"""The on-disk checkpoint format: a folder that loads without executing anything from it.

::

    checkpoint/
      metadata.json            format version, config, env spec, policy spec, package versions,
                               training statistics and steps, optimizer hyperparameters, file digests
      weights.safetensors      the policy's parameters (state-dict names, shared tensors once)
      optimizer.safetensors    Adam moments and step counts, for resuming
      sb3_model.zip            stable-baselines3's own save, for ``PPO.load`` users (never read here)

`save_checkpoint` writes everything into a hidden temporary sibling folder and renames it into
place (with Ctrl-C and SIGTERM held back during the swap), so a crash or an interrupt never
leaves a folder that looks like a checkpoint but is half written. `read_checkpoint` checks the
format version, the metadata's structure (typed `EnvSpec` and `PolicySpec`) and the SHA-256
digests recorded in it, and reads tensors with safetensors (no pickle).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from gridlab.env.spec import EnvSpec
from gridlab.files import atomic_write_json, read_versioned_json
from gridlab.models.registry import PolicySpec

FORMAT_VERSION = 1
METADATA = "metadata.json"
WEIGHTS = "weights.safetensors"
OPTIMIZER = "optimizer.safetensors"
SB3_ZIP = "sb3_model.zip"
_PACKAGES = ("gridlab", "torch", "stable-baselines3", "sb3-contrib", "gymnasium", "numpy", "numba")
# Top-level fields of metadata.json that readers rely on, with their JSON types.
_REQUIRED = {"config": dict, "env_spec": dict, "policy_spec": dict, "training": dict, "sha256": dict}


@dataclass
class Checkpoint:
    """A checkpoint read from disk.

    Attributes:
        path: Its folder.
        metadata: The parsed ``metadata.json`` (``config`` is ``TrainConfig.to_dict()``).
        env_spec: Its environment, typed.
        policy_spec: Its policy network, typed.
    """

    path: Path
    metadata: dict[str, Any]
    env_spec: EnvSpec
    policy_spec: PolicySpec

    def load_weights(self, module: torch.nn.Module) -> None:
        """Copy the saved policy parameters into ``module`` (which must have the same layout)."""
        try:
            load_model(module, str(self.path / WEIGHTS), strict=True)
        except (RuntimeError, SafetensorError) as error:
            raise ValueError(f"checkpoint {self.path} weights do not fit the policy: {error}") from None

    def weights(self) -> dict[str, torch.Tensor]:
        """The saved policy parameters by state-dict name (tensors shared by several names once)."""
        return _load_tensors(self.path / WEIGHTS)

    def optimizer_state(self) -> dict[str, Any]:
        """The optimizer's ``state_dict``, rebuilt from safetensors and the metadata.

        Raises:
            ValueError: For a compact checkpoint (`compact_checkpoint`), which has none.
        """
        if self.metadata.get("compact"):
            raise ValueError(
                f"checkpoint {self.path} is compact (weights only, no optimizer state) and cannot be "
                f"resumed; start a new run from its weights with init_from={str(self.path)!r}"
            )
        tensors = _load_tensors(self.path / OPTIMIZER)
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
        return {"state": state, "param_groups": self.metadata["optimizer"]["param_groups"]}


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def save_checkpoint(
    path: str | os.PathLike,
    model: OnPolicyAlgorithm,
    config: dict[str, Any],
    env_spec: EnvSpec,
    policy_spec: PolicySpec,
    training: dict[str, Any],
) -> Path:
    """Write a checkpoint folder atomically (replacing an older one at ``path``).

    Args:
        path: Destination folder.
        model: The learner; its policy weights and optimizer state are saved.
        config: ``TrainConfig.applicable()``.
        env_spec: The run's environment (`gridlab.training.factory.env_spec`).
        policy_spec: The run's policy network (`gridlab.training.factory.policy_spec`).
        training: Statistics: steps, updates, elapsed time, last evaluation, ...

    Returns:
        The checkpoint folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        tmp.chmod(0o755)
        save_model(model.policy, str(tmp / WEIGHTS))  # stores tensors shared by several names once
        optimizer = model.policy.optimizer.state_dict()
        moments = {
            f"state.{index}.{name}": torch.as_tensor(value).detach().cpu().contiguous()
            for index, entry in optimizer["state"].items()
            for name, value in entry.items()
        }
        save_file(moments, str(tmp / OPTIMIZER))
        model.save(tmp / SB3_ZIP)
        metadata = {
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": config,
            "env_spec": env_spec.to_dict(),
            "policy_spec": policy_spec.to_dict(),
            "package_versions": package_versions(),
            "training": training,
            "optimizer": {"param_groups": optimizer["param_groups"]},
            "sha256": {name: _digest(tmp / name) for name in (WEIGHTS, OPTIMIZER)},
        }
        for file in tmp.iterdir():
            file.chmod(0o644)
        atomic_write_json(tmp / METADATA, metadata, default=_jsonable)
        _publish(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def compact_checkpoint(source: str | os.PathLike, destination: str | os.PathLike, half: bool = False) -> Path:
    """Copy a checkpoint's weights and metadata alone (atomically, replacing ``destination``).

    A compact checkpoint loads, plays and is analysed like its source and can start another run
    (``init_from``), but holds no optimizer state or stable-baselines3 save, so it cannot be
    resumed; it is about a third of the size (checkpoint series shipped for emergence studies).
    With ``half`` the weights are stored as float16 (half the size again; each weight within a
    relative 2**-11 of its float32 value, loaded back into the float32 policy) and the metadata
    says ``"weights_dtype": "float16"``.

    Returns:
        The compact checkpoint's folder.
    """
    checkpoint, path = read_checkpoint(source), Path(destination)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        tmp.chmod(0o755)
        if half:
            save_file({name: t.half() for name, t in checkpoint.weights().items()}, str(tmp / WEIGHTS))
        else:
            shutil.copyfile(checkpoint.path / WEIGHTS, tmp / WEIGHTS)
        (tmp / WEIGHTS).chmod(0o644)
        metadata = {key: value for key, value in checkpoint.metadata.items() if key != "optimizer"}
        metadata |= {"compact": True, "sha256": {WEIGHTS: _digest(tmp / WEIGHTS)}}
        if half:
            metadata["weights_dtype"] = "float16"
        atomic_write_json(tmp / METADATA, metadata)
        _publish(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _publish(tmp: Path, path: Path) -> None:
    """Rename the finished folder ``tmp`` to ``path``, replacing any folder there; there is no
    moment where an interrupt leaves ``path`` missing."""
    with _signals_held():
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old)


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and verify a checkpoint folder.

    Raises:
        FileNotFoundError: No such folder, or a file is missing.
        ValueError: A corrupt file, malformed metadata (the message names the field), or a
            format version newer than this gridlab reads.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint folder at {path}")
    metadata = read_versioned_json(
        path / METADATA,
        f"checkpoint {path} is missing {METADATA}; it is incomplete or not a checkpoint",
        FORMAT_VERSION,
    )
    where = f"checkpoint {path}: {METADATA}"
    for key, kind in _REQUIRED.items():
        if not isinstance(metadata.get(key), kind):
            found = "missing" if key not in metadata else f"a {type(metadata[key]).__name__}"
            raise ValueError(f"{where} is malformed: {key!r} must be a JSON object, found {found}")
    env_spec = EnvSpec.from_dict(metadata["env_spec"], f"{where} env_spec")
    policy_spec = PolicySpec.from_dict(metadata["policy_spec"], f"{where} policy_spec")
    for name, digest in metadata["sha256"].items():
        file = path / name
        if not file.is_file():
            raise FileNotFoundError(f"checkpoint {path} is missing {name}")
        if _digest(file) != digest:
            raise ValueError(f"checkpoint file {file} is corrupt (its SHA-256 does not match the metadata)")
    _load_tensors(path / WEIGHTS)  # a truncated or garbled file fails here, with its name
    return Checkpoint(path, metadata, env_spec, policy_spec)


def run_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """A run's checkpoints in training order, as ``(step, folder)``: the recipe's ``clone`` (step
    0), every ``step_N`` and ``final``. Where ``final`` has the step of a ``step_N``, it replaces
    it: a checkpoint is saved while a rollout is collected, before the update on that rollout,
    and ``final`` after it. Folders are verified as `read_checkpoint` does.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run folder at {run_dir}")
    found: dict[int, Path] = {}
    names = ["clone", *sorted(p.name for p in run_dir.glob("step_*")), "final"]
    for name in names:
        if (run_dir / name / METADATA).is_file():
            checkpoint = read_checkpoint(run_dir / name)
            found[int(checkpoint.metadata["training"]["num_timesteps"])] = checkpoint.path
    return sorted(found.items())


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Delay SIGINT and SIGTERM until the block ends: they are recorded, then raised again.

    Python runs signal handlers in the main thread only, so other threads are never interrupted
    and need nothing. (Blocking the signal with ``pthread_sigmask`` is not enough: the kernel
    hands it to another thread, and the main thread still runs the handler.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    held = [sig for sig, handler in previous.items() if handler is not None]  # None: not set from Python
    for sig in held:
        signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig in held:
            signal.signal(sig, previous[sig])
        for signum in caught:
            signal.raise_signal(signum)


def _load_tensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise FileNotFoundError(f"checkpoint file {file} is missing")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError) as error:
        raise ValueError(f"corrupt checkpoint file {file}: {error}") from None


def _digest(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)
