"""Start a run from another run's weights, on boards with more robots (the curriculum's next stage).

A policy trained with ``N`` robots sees ``6 + N`` observation channels and picks among
``4 * N`` moves; with ``M > N`` robots both grow. `transfer_weights` copies every parameter
whose shape is unchanged and widens the two that are not, so the new policy starts out
playing exactly as the old one did on the robots it knows:

* the first convolution over the observation (``features_extractor.conv1.weight``,
  ``(out, channels, k, k)``): each channel takes the weights of the old channel of the same
  name; a new robot's channel copies the old *last* robot's, so it is seen as an obstacle
  from the first step (a zero column would leave the new robots invisible);
* the action head (``action_net``, ``(n_actions, latent)``): robot ``k``'s four moves take the
  rows of the same robot; a new robot's moves copy the old last robot's rows (the no-op maps
  to the no-op).

The board size and the architecture must match: a flattened layer's size depends on both.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gridlab.checkpoints import Checkpoint, read_checkpoint
from gridlab.env.ricochet_env import RicochetRobotsEnv
from gridlab.env.spec import EnvSpec
from gridlab.training.config import TrainConfig
from gridlab.training.factory import env_spec, policy_spec

_FIRST_CONV = "features_extractor.conv1.weight"
_ACTION_HEAD = ("action_net.weight", "action_net.bias")


def start_from(path: str, policy: nn.Module, config: TrainConfig, env: RicochetRobotsEnv) -> dict[str, Any]:
    """Load checkpoint ``path`` into ``config``'s freshly built ``policy`` (`transfer_weights`).

    Args:
        path: The checkpoint to start from (``config.init_from`` in a run).
        policy: The new policy, built for ``config``.
        config: The new run's config: its policy options must be the checkpoint's.
        env: An environment of the new run (supplies its spec).

    Returns:
        What a run records of its start: the checkpoint's path, steps and training time.
    """
    checkpoint = read_checkpoint(path)
    if checkpoint.policy_spec != policy_spec(config):
        raise ValueError(
            f"init_from checkpoint {path} has policy {checkpoint.policy_spec}, this run "
            f"{policy_spec(config)}; set the same policy options"
        )
    transfer_weights(checkpoint, policy, env_spec(env, config))
    stats = checkpoint.metadata["training"]
    return {"path": str(path), "num_timesteps": stats["num_timesteps"], "elapsed_s": stats["elapsed_s"]}


def channel_sources(old_channels: list[str], new_channels: list[str]) -> list[int]:
    """For each new observation channel, the old channel whose weights it starts from."""
    old_robots = [name for name in old_channels if name.startswith("robot_")]
    sources = []
    for name in new_channels:
        if name in old_channels:
            sources.append(old_channels.index(name))
        elif name.startswith("robot_") and old_robots:
            sources.append(old_channels.index(old_robots[-1]))
        else:
            raise ValueError(f"cannot start channel {name!r} from channels {old_channels}")
    return sources


def action_sources(old_spec: EnvSpec, new_spec: EnvSpec) -> list[int]:
    """For each new action ``robot * 4 + direction`` (then the no-op), the old action it starts from."""
    old_robots, new_robots = old_spec.num_robots, new_spec.num_robots
    sources = [min(a // 4, old_robots - 1) * 4 + a % 4 for a in range(4 * new_robots)]
    if new_spec.include_noop:
        if not old_spec.include_noop:
            raise ValueError("cannot start a policy with a no-op action from one trained without it")
        sources.append(4 * old_robots)
    return sources


def transfer_weights(checkpoint: Checkpoint, policy: nn.Module, env_spec: EnvSpec) -> list[str]:
    """Load ``checkpoint``'s weights into ``policy``, widening it to more robots where needed.

    Args:
        checkpoint: The run to start from (same policy spec and board size).
        policy: The new run's freshly built policy.
        env_spec: The new run's environment spec (`gridlab.training.factory.env_spec`).

    Returns:
        Names of the parameters that were widened (empty when nothing changed shape).

    Raises:
        ValueError: Different board size or architecture, fewer robots, or a no-op only in
            the new run.
    """
    old_spec = checkpoint.env_spec
    for key in ("height", "width", "obs_mode"):
        if getattr(old_spec, key) != getattr(env_spec, key):
            raise ValueError(
                f"cannot start from {checkpoint.path}: its {key} is {getattr(old_spec, key)!r}, this run's "
                f"{getattr(env_spec, key)!r} (only the number of robots may grow)"
            )
    if env_spec.num_robots < old_spec.num_robots:
        raise ValueError(
            f"cannot start from {checkpoint.path}: it has {old_spec.num_robots} robots, this run "
            f"{env_spec.num_robots} (only the number of robots may grow)"
        )
    channels = torch.tensor(channel_sources(list(old_spec.channel_names), list(env_spec.channel_names)))
    actions = torch.tensor(action_sources(old_spec, env_spec))
    saved = checkpoint.weights()
    target = policy.state_dict()
    widened, loaded = [], {}
    for name, tensor in saved.items():
        if name not in target:
            raise ValueError(f"cannot start from {checkpoint.path}: this policy has no parameter {name!r}")
        if tensor.shape != target[name].shape:
            if name == _FIRST_CONV:
                tensor = tensor[:, channels]
            elif name in _ACTION_HEAD:
                tensor = tensor[actions]
            widened.append(name)
            if tensor.shape != target[name].shape:
                raise ValueError(
                    f"cannot start from {checkpoint.path}: {name} has shape {tuple(saved[name].shape)}, "
                    f"this policy needs {tuple(target[name].shape)} (same architecture and board size?)"
                )
        loaded[name] = tensor
    _load_covering(policy, loaded, checkpoint)
    return widened


def _load_covering(policy: nn.Module, tensors: dict[str, torch.Tensor], checkpoint: Checkpoint) -> None:
    """``load_state_dict`` that accepts names missing from ``tensors`` only when they alias a loaded
    tensor (the checkpoint stores tensors shared by several names once)."""
    missing = policy.load_state_dict(tensors, strict=False).missing_keys
    state = policy.state_dict()
    loaded = {state[name].data_ptr() for name in tensors}
    unfilled = [name for name in missing if state[name].data_ptr() not in loaded]
    if unfilled:
        raise ValueError(f"cannot start from {checkpoint.path}: it has no weights for {unfilled}")
