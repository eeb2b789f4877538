"""`ConvLSTMPolicy`: the DRC core as the recurrent state of sb3-contrib's ``RecurrentPPO``.

How it fits sb3-contrib without forking it. ``RecurrentPPO`` sizes its rollout buffer from
``policy.lstm_actor.num_layers`` and ``.hidden_size`` and hands the policy states shaped
``(num_layers, n_envs, hidden_size)``; `DRC` exposes those attributes with the spatial state
flattened (``hidden_size = hidden * H * W``), and this policy unflattens it. What had to be
subclassed, and why:

* ``__init__`` calls ``ActorCriticPolicy.__init__`` directly: ``RecurrentActorCriticPolicy``
  would build an ``nn.LSTM`` over the flattened features (hundreds of millions of weights on a
  16x16 board) only for it to be replaced.
* ``_process_sequence`` runs the DRC over ``(time, batch)`` with resets at episode starts,
  including starts in the middle of a training sequence.
* ``forward``, ``get_distribution``, ``predict_values`` and ``evaluate_actions`` use one core
  shared by actor and critic *with* gradients from both losses (sb3-contrib's
  ``shared_lstm=True`` detaches the critic's input, so the value loss would never train it).
  The critic's states in ``RNNStates`` are the actor's.

Hook names (relative to the policy): ``features_extractor.hook_conv1`` .. ``hook_relu2``
(the encoder, ``(batch, encoder_channels, H, W)``), then the DRC's ``drc.layers.{d}.hook_h.{n}``
and friends (see `gridlab.models.convlstm`).
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from gridlab.models.convlstm import DRC, State
from gridlab.models.extractors import check_image_space
from gridlab.models.hooks import HookedModule, HookPoint
from gridlab.models.precision import MixedPrecision


class ConvEncoder(BaseFeaturesExtractor, HookedModule, MixedPrecision):
    """Two 3x3 convolutions with ReLU; output flattened for SB3 as ``(batch, channels * H * W)``.

    Args:
        observation_space: Channels-first image space ``(C, H, W)``.
        channels: Output channels of both convolutions.
    """

    def __init__(self, observation_space: spaces.Box, channels: int = 32) -> None:
        c, h, w = check_image_space(observation_space, "ConvEncoder")
        super().__init__(observation_space, channels * h * w)
        self.channels, self.height, self.width = channels, h, w
        self.conv1 = nn.Conv2d(c, channels, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.hook_conv1, self.hook_relu1 = HookPoint(), HookPoint()
        self.hook_conv2, self.hook_relu2 = HookPoint(), HookPoint()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            x = self.hook_relu1(self.relu1(self.hook_conv1(self.conv1(obs))))
            x = self.hook_relu2(self.relu2(self.hook_conv2(self.conv2(x))))
            return x.flatten(1).float()


class ConvLSTMPolicy(RecurrentActorCriticPolicy, HookedModule):
    """Recurrent actor-critic whose memory is a DRC(D, N) ConvLSTM, for ``RecurrentPPO``.

    Example:
        >>> from sb3_contrib import RecurrentPPO
        >>> model = RecurrentPPO(ConvLSTMPolicy, env, policy_kwargs={"n_layers": 2, "n_ticks": 2})

    Args:
        observation_space: Channels-first image space.
        action_space: Discrete actions.
        lr_schedule: Learning-rate schedule.
        encoder_channels: Channels of the convolutional encoder.
        hidden_channels: Channels of each ConvLSTM layer's state.
        n_layers: D, stacked ConvLSTM layers.
        n_ticks: N, repeats of the stack per environment step.
        output_dim: Size of the core's output vector fed to the actor and critic heads.
        fence, coords, strip_pool: The DRC's options from the planning literature (see `DRC`).
        net_arch: Extra MLP layers for the heads (none by default).
        activation_fn: Activation of those layers.
        ortho_init: Orthogonal initialisation of the encoder and heads, as in SB3.
        use_sde: Must be False (discrete actions).
        optimizer_class, optimizer_kwargs: The optimizer.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        encoder_channels: int = 32,
        hidden_channels: int = 32,
        n_layers: int = 1,
        n_ticks: int = 1,
        output_dim: int = 256,
        fence: bool = False,
        coords: bool = False,
        strip_pool: bool = False,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        ortho_init: bool = True,
        use_sde: bool = False,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        _, height, width = check_image_space(observation_space, "ConvLSTMPolicy")
        self.lstm_output_dim = output_dim  # read by _build_mlp_extractor during the parent's init
        self.drc_kwargs = {
            "encoder_channels": encoder_channels, "hidden_channels": hidden_channels,
            "n_layers": n_layers, "n_ticks": n_ticks, "output_dim": output_dim, "fence": fence,
            "coords": coords, "strip_pool": strip_pool,
        }  # fmt: skip
        ActorCriticPolicy.__init__(
            self,
            observation_space,
            action_space,
            lr_schedule,
            net_arch=[] if net_arch is None else net_arch,
            activation_fn=activation_fn,
            ortho_init=ortho_init,
            use_sde=use_sde,
            features_extractor_class=ConvEncoder,
            features_extractor_kwargs={"channels": encoder_channels},
            share_features_extractor=True,
            normalize_images=False,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )
        self.drc = DRC(encoder_channels, height, width, hidden_channels, n_layers, n_ticks, output_dim,
                       fence=fence, coords=coords, strip_pool=strip_pool)  # fmt: skip
        self.lstm_hidden_state_shape = (n_layers, 1, self.drc.hidden_size)
        self.shared_lstm, self.enable_critic_lstm = True, False
        self.lstm_critic, self.critic = None, None
        # type[Optimizer] does not promise an lr keyword, though every optimizer SB3 takes has one
        # (SB3's ActorCriticPolicy silences the same call).
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    # The name RecurrentPPO looks for: a DRC instead of sb3-contrib's nn.LSTM attribute, read only
    # for num_layers and hidden_size.
    @property
    def lstm_actor(self) -> DRC:  # type: ignore[override]
        return self.drc

    def _get_constructor_parameters(self) -> dict[str, Any]:
        fixed_here = (
            "features_extractor_class", "features_extractor_kwargs", "share_features_extractor",
            "normalize_images", "full_std", "use_expln", "squash_output", "log_std_init",
        )  # fmt: skip
        data = super()._get_constructor_parameters()
        return {k: v for k, v in data.items() if k not in fixed_here} | self.drc_kwargs

    # Overrides with a DRC core and the states it really returns (sb3-contrib's annotation says
    # one tensor where its LSTM returns (h, c)).
    @staticmethod
    def _process_sequence(  # type: ignore[override]
        features: torch.Tensor,
        lstm_states: State,
        episode_starts: torch.Tensor,
        lstm: DRC,  # type: ignore[override]
    ) -> tuple[torch.Tensor, State]:
        """Run the DRC over SB3's flattened batch.

        Args:
            features: ``(n_seq * time, E * H * W)``, sequence-major as sb3-contrib orders it.
            lstm_states: ``(h, c)``, each ``(n_layers, n_seq, hidden * H * W)``.
            episode_starts: ``(n_seq * time,)``.
            lstm: The core.

        Returns:
            ``(latent, (h, c))``: latent ``(n_seq * time, output_dim)``, states as given.
        """
        n_seq = lstm_states[0].shape[1]
        spatial = (lstm.hidden_channels, lstm.height, lstm.width)
        x = features.reshape(n_seq, -1, lstm.in_channels, lstm.height, lstm.width).swapaxes(0, 1)
        starts = episode_starts.reshape(n_seq, -1).swapaxes(0, 1)
        state = tuple(s.reshape(lstm.num_layers, n_seq, *spatial) for s in lstm_states)
        out, (h, c) = lstm(x, state, starts)
        return out.swapaxes(0, 1).flatten(0, 1), (h.flatten(2), c.flatten(2))

    def latent(
        self, obs: torch.Tensor, lstm_states: State, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        """Actor and critic latents and the new state for SB3-ordered (sequence-major) batches."""
        features = self.extract_features(obs)
        assert isinstance(features, torch.Tensor)  # one extractor shared by actor and critic
        latent, states = self._process_sequence(features, lstm_states, episode_starts, self.drc)
        return self.mlp_extractor.forward_actor(latent), self.mlp_extractor.forward_critic(latent), states

    # forward, get_distribution, predict_values and evaluate_actions take the recurrent signatures
    # of sb3-contrib's RecurrentActorCriticPolicy, not ActorCriticPolicy's (sb3-contrib silences the
    # same override errors). RNNStates types its pairs as tuple[Tensor, ...]; they are (h, c).

    def forward(  # type: ignore[override]
        self,
        obs: torch.Tensor,
        lstm_states: RNNStates,
        episode_starts: torch.Tensor,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, RNNStates]:
        h, c = lstm_states.pi
        latent_pi, latent_vf, states = self.latent(obs, (h, c), episode_starts)
        distribution = self._get_action_dist_from_latent(latent_pi)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        return actions, self.value_net(latent_vf), log_prob, RNNStates(states, states)

    def get_distribution(  # type: ignore[override]
        self, obs: torch.Tensor, lstm_states: State, episode_starts: torch.Tensor
    ) -> tuple[Distribution, State]:
        latent_pi, _, states = self.latent(obs, lstm_states, episode_starts)
        return self._get_action_dist_from_latent(latent_pi), states

    def predict_values(  # type: ignore[override]
        self, obs: torch.Tensor, lstm_states: State, episode_starts: torch.Tensor
    ) -> torch.Tensor:
        _, latent_vf, _ = self.latent(obs, lstm_states, episode_starts)
        return self.value_net(latent_vf)

    def evaluate_actions(  # type: ignore[override]
        self, obs: torch.Tensor, actions: torch.Tensor, lstm_states: RNNStates, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, c = lstm_states.pi
        latent_pi, latent_vf, _ = self.latent(obs, (h, c), episode_starts)
        distribution = self._get_action_dist_from_latent(latent_pi)
        entropy = distribution.entropy()
        assert entropy is not None  # a categorical distribution always has one
        return self.value_net(latent_vf), distribution.log_prob(actions), entropy
