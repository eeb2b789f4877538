"""ConvLSTM cells and the DRC(D, N) core of Guez et al. (2019), "An investigation of model-free
planning": D stacked ConvLSTM layers, repeated N ticks per environment step.

At tick ``n`` layer ``d`` sees the encoded observation ``x``, the hidden state of the layer
below at this tick (for layer 0: the *top* layer's hidden state from the previous tick), and a
pool-and-inject summary of its own previous hidden state (channel-wise spatial max and mean,
linearly projected and tiled over the board), so information can cross the board in one tick.

Hook names (relative to the `DRC` module), for layer ``d`` and tick ``n``:
``layers.{d}.hook_i.{n}``, ``hook_f``, ``hook_g``, ``hook_o`` (input, forget, candidate and
output gates), ``layers.{d}.hook_c.{n}`` (cell state), ``layers.{d}.hook_h.{n}`` (hidden
state), and ``hook_output`` (the core's output vector), each ``(batch, hidden, H, W)`` except
the output ``(batch, output_dim)``. With strip pooling also ``layers.{d}.hook_rows.{n}``
``(batch, hidden, H)`` and ``hook_cols`` ``(batch, hidden, W)`` (the row and column summaries)
and ``hook_strip`` ``(batch, hidden, H, W)`` (their sum at each square). Over a sequence each
fires once per time step.

Options from the planning literature, each off by default: a boundary "fence" channel and
coordinate channels appended to the encoded observation, and strip pooling in every layer.

State layout: ``(h, c)``, each ``(n_layers, batch, hidden, H, W)``; zeroed at episode starts by
multiplying with ``1 - episode_start``.
"""

from __future__ import annotations

import functools
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from gridlab.models.hooks import HookedModule, HookPoint
from gridlab.models.precision import MixedPrecision

State = tuple[torch.Tensor, torch.Tensor]


def _tick_hooks(n_ticks: int) -> nn.ModuleList:
    return nn.ModuleList(HookPoint() for _ in range(n_ticks))


class ConvLSTMCell(HookedModule):
    """One ConvLSTM layer with the four gates and pool-and-inject.

    The gates are one 3x3 convolution over ``[x, below, injected]`` plus one over the layer's own
    ``h`` (the weights of ``conv_input`` and ``conv_hidden``), computed in parts that give the
    same sums with less work: the encoded observation's part once per environment step
    (`input_gates`, shared by every tick), and the injected part, a map that is constant over
    the board, as a product with the kernel's sums over the squares each position's window
    covers (exact at the edges, where padding cuts the window).

    With ``strip_pool`` the gates also see, at every square, a summary of its whole row and
    column (strip pooling, Hou et al. 2020): the mean of ``h`` along each row and each column,
    mixed across neighbouring rows (columns) by a 1-D convolution, broadcast back and added
    (``hook_rows``, ``hook_cols``, ``hook_strip``), then a 1x1 convolution into the gates. One
    tick can then carry information along a whole row or column, as a robot's slide does.

    Args:
        in_channels: Channels of the input (encoded observation plus the layer below).
        hidden_channels: Channels of the hidden and cell states.
        n_ticks: Ticks per environment step (one set of hook points per tick).
        kernel_size: Convolution size (odd; padding keeps the board size).
        strip_pool: Add the row and column summaries to the gates.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        n_ticks: int,
        kernel_size: int = 3,
        strip_pool: bool = False,
    ) -> None:
        super().__init__()
        self.pad = kernel_size // 2
        self.hidden_channels = hidden_channels
        self.encoded_channels = in_channels - hidden_channels
        self.conv_input = nn.Conv2d(
            in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding=self.pad
        )
        self.conv_hidden = nn.Conv2d(
            hidden_channels, 4 * hidden_channels, kernel_size, padding=self.pad, bias=False
        )
        self.inject = nn.Linear(2 * hidden_channels, hidden_channels)
        bias = self.conv_input.bias
        assert bias is not None  # nn.Conv2d builds a bias unless bias=False
        with torch.no_grad():  # forget gate starts open, the usual LSTM initialisation
            bias[hidden_channels : 2 * hidden_channels].fill_(1.0)
        self.hook_i, self.hook_f = _tick_hooks(n_ticks), _tick_hooks(n_ticks)
        self.hook_g, self.hook_o = _tick_hooks(n_ticks), _tick_hooks(n_ticks)
        self.hook_c, self.hook_h = _tick_hooks(n_ticks), _tick_hooks(n_ticks)
        self.strip_pool = strip_pool
        if strip_pool:
            self.strip_rows = nn.Conv1d(hidden_channels, hidden_channels, kernel_size, padding=self.pad)
            self.strip_cols = nn.Conv1d(hidden_channels, hidden_channels, kernel_size, padding=self.pad)
            self.strip_gates = nn.Conv2d(hidden_channels, 4 * hidden_channels, 1, bias=False)
            self.hook_rows, self.hook_cols = _tick_hooks(n_ticks), _tick_hooks(n_ticks)
            self.hook_strip = _tick_hooks(n_ticks)

    def input_gates(self, x: torch.Tensor) -> torch.Tensor:
        """The encoded observation's share of the gate pre-activations (with the bias).

        Args:
            x: ``(batch, encoded_channels, H, W)``.

        Returns:
            ``(batch, 4 * hidden, H, W)``.
        """
        weight = self.conv_input.weight[:, : self.encoded_channels]
        return F.conv2d(x, weight, self.conv_input.bias, padding=self.pad)

    def inject_kernel(self, height: int, width: int) -> torch.Tensor:
        """``(hidden, 4 * hidden, H, W)``: at each square, the sum of the injected channels' weights
        over the kernel taps that land on the board, so that convolving the injected map (constant
        over the board) equals its product with this. Computed once per sequence."""
        e, hidden = self.encoded_channels, self.hidden_channels
        weight = self.conv_input.weight[:, e + hidden :]  # (4 * hidden, hidden, k, k)
        k, device = weight.shape[-1], weight.device
        rows = _taps_on_board(height, k, device).to(weight.dtype)  # (H, k)
        cols = _taps_on_board(width, k, device).to(weight.dtype)  # (W, k)
        return (weight @ cols.T).transpose(2, 3).matmul(rows.T).permute(1, 0, 3, 2)

    def forward(
        self, x_gates: torch.Tensor, inject_kernel: torch.Tensor, below: torch.Tensor, state: State, tick: int
    ) -> State:
        """One tick.

        Args:
            x_gates: `input_gates` of this step's encoded observation, ``(batch, 4 * hidden, H, W)``.
            inject_kernel: `inject_kernel` of the board size.
            below: The layer below's hidden state at this tick (layer 0: the top layer's at the
                previous tick), ``(batch, hidden, H, W)``.
            state: ``(h, c)`` of this layer, each ``(batch, hidden, H, W)``.
            tick: Tick index (selects the hook points).

        Returns:
            The new ``(h, c)``.
        """
        h, c = state
        e, hidden = self.encoded_channels, self.hidden_channels
        weight = self.conv_input.weight
        pooled = torch.cat([h.amax(dim=(2, 3)), h.mean(dim=(2, 3))], dim=1)  # (batch, 2 * hidden)
        injected = self.inject(pooled)  # (batch, hidden), the same at every square
        recurrent = torch.cat([weight[:, e : e + hidden], self.conv_hidden.weight], dim=1)
        gates = (
            x_gates
            + F.conv2d(torch.cat([below, h], dim=1), recurrent, padding=self.pad)
            + torch.einsum("bc,cohw->bohw", injected, inject_kernel)
        )
        if self.strip_pool:
            rows = self.hook_rows[tick](self.strip_rows(h.mean(dim=3)))  # (batch, hidden, H)
            cols = self.hook_cols[tick](self.strip_cols(h.mean(dim=2)))  # (batch, hidden, W)
            strip = self.hook_strip[tick](rows[:, :, :, None] + cols[:, :, None, :])
            gates = gates + self.strip_gates(strip)
        i, f, g, o = gates.chunk(4, dim=1)
        i = self.hook_i[tick](torch.sigmoid(i))
        f = self.hook_f[tick](torch.sigmoid(f))
        g = self.hook_g[tick](torch.tanh(g))
        o = self.hook_o[tick](torch.sigmoid(o))
        c = self.hook_c[tick](f * c + i * g)
        h = self.hook_h[tick](o * torch.tanh(c))
        return h, c


def _board_maps(height: int, width: int, fence: bool, coords: bool) -> torch.Tensor:
    """``(n, H, W)`` constant input maps: the fence (1 on edge squares), then row and column
    coordinates in [-1, 1]; ``n`` is 0 to 3."""
    maps = []
    if fence:
        edge = torch.ones(height, width)
        edge[1:-1, 1:-1] = 0.0
        maps.append(edge)
    if coords:
        rows = torch.linspace(-1.0, 1.0, height)[:, None].expand(height, width)
        cols = torch.linspace(-1.0, 1.0, width)[None, :].expand(height, width)
        maps += [rows, cols]
    return torch.stack(maps) if maps else torch.zeros(0, height, width)


@functools.cache
def _taps_on_board(n: int, k: int, device: torch.device) -> torch.Tensor:
    """``(n, k)`` booleans: whether tap ``a`` of a size-``k`` kernel centred on square ``i`` of an
    ``n``-square line lands on the line (zero padding supplies the rest)."""
    source = torch.arange(n, device=device)[:, None] + torch.arange(k, device=device)[None, :] - k // 2
    return (source >= 0) & (source < n)


class DRC(HookedModule, MixedPrecision):
    """The DRC(D, N) recurrent core on spatial inputs.

    Exposes ``num_layers``, ``hidden_size`` and ``input_size`` with the meaning sb3-contrib's
    ``RecurrentPPO`` gives them for ``nn.LSTM`` (states flattened to ``hidden * H * W``).

    Args:
        in_channels: Channels of the encoded observation.
        height, width: Board size.
        hidden_channels: Channels of every layer's state.
        n_layers: D, stacked layers.
        n_ticks: N, repeats per environment step.
        output_dim: Size of the output vector (a ReLU layer over the flattened top hidden
            state and encoded observation, as in Guez et al.).
        fence: Append a channel that is 1 on the board's edge squares to the encoded
            observation (Guez et al.'s boundary "fence"), so convolutions can tell the edge from
            zero padding.
        coords: Append two coordinate channels, row and column scaled to [-1, 1] (CoordConv).
        strip_pool: Row and column summaries in every layer's gates (see `ConvLSTMCell`).
    """

    board_maps: torch.Tensor  # (n, H, W) fence and coordinate channels, a buffer

    def __init__(
        self,
        in_channels: int,
        height: int,
        width: int,
        hidden_channels: int = 32,
        n_layers: int = 1,
        n_ticks: int = 1,
        output_dim: int = 256,
        fence: bool = False,
        coords: bool = False,
        strip_pool: bool = False,
    ) -> None:
        super().__init__()
        if n_layers < 1 or n_ticks < 1:
            raise ValueError(f"DRC needs n_layers >= 1 and n_ticks >= 1, got D={n_layers}, N={n_ticks}")
        self.in_channels, self.height, self.width = in_channels, height, width
        self.hidden_channels, self.n_ticks = hidden_channels, n_ticks
        self.num_layers = n_layers
        self.hidden_size = hidden_channels * height * width
        self.input_size = in_channels * height * width
        maps = _board_maps(height, width, fence, coords)
        self.register_buffer("board_maps", maps, persistent=False)  # constants: rebuilt, never saved
        encoded = in_channels + len(maps)
        self.layers = nn.ModuleList(
            ConvLSTMCell(encoded + hidden_channels, hidden_channels, n_ticks, strip_pool=strip_pool)
            for _ in range(n_layers)
        )
        self.output = nn.Linear((hidden_channels + encoded) * height * width, output_dim)
        self.output_relu = nn.ReLU()
        self.hook_output = HookPoint()

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        """Zero ``(h, c)``, each ``(n_layers, batch, hidden, H, W)``."""
        shape = (self.num_layers, batch, self.hidden_channels, self.height, self.width)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One environment step: N ticks through the D layers.

        Args:
            x: ``(batch, in_channels, H, W)`` encoded observation.
            state: ``(h, c)``, each ``(n_layers, batch, hidden, H, W)``.

        Returns:
            ``(output, state)`` with output ``(batch, output_dim)``.
        """
        x = self._with_board_maps(x)
        return self._step(x, self._input_gates(x), self._inject_kernels(), state)

    def _with_board_maps(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (``(..., in_channels, H, W)``) with the fence and coordinate channels appended."""
        maps = self.board_maps
        if not len(maps):
            return x
        return torch.cat([x, maps.to(x.dtype).expand(*x.shape[:-3], *maps.shape)], dim=-3)

    def _cells(self) -> list[ConvLSTMCell]:
        return [cast(ConvLSTMCell, layer) for layer in self.layers]

    def _input_gates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's `ConvLSTMCell.input_gates` of ``x``."""
        return [cell.input_gates(x) for cell in self._cells()]

    def _inject_kernels(self) -> list[torch.Tensor]:
        """Each layer's `ConvLSTMCell.inject_kernel` for this board."""
        return [cell.inject_kernel(self.height, self.width) for cell in self._cells()]

    def _step(
        self, x: torch.Tensor, x_gates: list[torch.Tensor], kernels: list[torch.Tensor], state: State
    ) -> tuple[torch.Tensor, State]:
        """`step` with each layer's `ConvLSTMCell.input_gates` of ``x`` and inject kernel given."""
        hs, cs = list(state[0].unbind(0)), list(state[1].unbind(0))
        for tick in range(self.n_ticks):
            below = hs[-1]  # the top layer's previous hidden state feeds layer 0
            for d, layer in enumerate(self.layers):
                hs[d], cs[d] = layer(x_gates[d], kernels[d], below, (hs[d], cs[d]), tick)
                below = hs[d]
        flat = torch.cat([hs[-1], x], dim=1).flatten(1)
        out = self.hook_output(self.output_relu(self.output(flat)))
        return out, (torch.stack(hs), torch.stack(cs))

    def forward(
        self, x: torch.Tensor, state: State, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """Run a sequence, zeroing the state wherever an episode starts.

        Args:
            x: ``(time, batch, in_channels, H, W)`` encoded observations.
            state: ``(h, c)`` before the first step, each ``(n_layers, batch, hidden, H, W)``.
            episode_starts: ``(time, batch)``, 1.0 where step ``t`` begins a new episode.

        Returns:
            ``(outputs, state)``: outputs ``(time, batch, output_dim)`` and the final state, float32
            at any precision.
        """
        outputs = []
        with self.autocast():
            x = self._with_board_maps(x)
            # the observation's share of every layer's gates, for all time steps in one batch
            x_gates = [g.unflatten(0, x.shape[:2]) for g in self._input_gates(x.flatten(0, 1))]
            kernels = self._inject_kernels()
            for t in range(x.shape[0]):
                keep = (1.0 - episode_starts[t]).view(1, -1, 1, 1, 1)
                state = (state[0] * keep, state[1] * keep)
                out, state = self._step(x[t], [g[t] for g in x_gates], kernels, state)
                outputs.append(out)
        return torch.stack(outputs).float(), (state[0].float(), state[1].float())
