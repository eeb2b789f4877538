"""The DRC core: shapes, hooks per layer and tick, sequence equivalence, resets, gradients."""

import pytest
import torch

from gridlab.models import DRC


def make(d: int = 2, n: int = 3, size: int = 5) -> DRC:
    return DRC(
        in_channels=6, height=size, width=size, hidden_channels=8, n_layers=d, n_ticks=n, output_dim=16
    )


@pytest.mark.parametrize("size", [4, 5, 8, 16])
def test_shapes_on_every_board_size(size: int) -> None:
    core = make(size=size)
    x = torch.randn(7, 3, 6, size, size)
    out, (h, c) = core(x, core.initial_state(3), torch.zeros(7, 3))
    assert out.shape == (7, 3, 16)
    assert h.shape == c.shape == (2, 3, 8, size, size)
    assert (core.num_layers, core.hidden_size, core.input_size) == (2, 8 * size * size, 6 * size * size)


def test_every_layer_and_tick_has_named_hooks_that_fire() -> None:
    core = make(d=2, n=3)
    names = core.hook_names()
    for d in range(2):
        for t in range(3):
            for kind in "ifgoch":
                assert f"layers.{d}.hook_{kind}.{t}" in names
    assert names[-1] == "hook_output"
    x = torch.randn(4, 2, 6, 5, 5)
    _, cache = core.run_with_cache(x, core.initial_state(2), torch.zeros(4, 2))
    assert set(cache) == set(names)
    assert cache["layers.1.hook_h.2"].shape == (4, 2, 8, 5, 5)  # stacked over the 4 time steps
    assert cache["hook_output"].shape == (4, 2, 16)


def test_ticks_feed_the_top_layer_back_and_the_last_tick_is_the_new_state() -> None:
    core = make(d=2, n=3)
    x = torch.randn(1, 2, 6, 5, 5)
    _, (h, c) = core(x, core.initial_state(2), torch.zeros(1, 2))
    _, cache = core.run_with_cache(x, core.initial_state(2), torch.zeros(1, 2))
    torch.testing.assert_close(h[1], cache["layers.1.hook_h.2"])
    torch.testing.assert_close(c[0], cache["layers.0.hook_c.2"])
    # Layer 0 at tick 1 depends on layer 1 at tick 0: zeroing it changes layer 0's next tick.
    zero = [("layers.1.hook_h.0", lambda x, hook: torch.zeros_like(x))]
    with core.hooks(zero):
        _, ablated = core.run_with_cache(x, core.initial_state(2), torch.zeros(1, 2))
    torch.testing.assert_close(ablated["layers.0.hook_h.0"], cache["layers.0.hook_h.0"])
    assert not torch.allclose(ablated["layers.0.hook_h.1"], cache["layers.0.hook_h.1"])


def test_one_step_at_a_time_equals_the_whole_sequence() -> None:
    core = make()
    x = torch.randn(6, 3, 6, 5, 5)
    starts = torch.zeros(6, 3)
    starts[0] = 1.0
    starts[3, 1] = 1.0  # an episode boundary in the middle of the sequence
    state = (torch.randn(2, 3, 8, 5, 5), torch.randn(2, 3, 8, 5, 5))
    whole, final = core(x, state, starts)
    outs, s = [], state
    for t in range(6):
        out, s = core(x[t : t + 1], s, starts[t : t + 1])
        outs.append(out[0])
    torch.testing.assert_close(torch.stack(outs), whole)
    torch.testing.assert_close(s[0], final[0])
    torch.testing.assert_close(s[1], final[1])


def test_state_resets_at_episode_starts() -> None:
    core = make()
    x = torch.randn(5, 2, 6, 5, 5)
    starts = torch.zeros(5, 2)
    starts[2] = 1.0
    garbage = (torch.randn(2, 2, 8, 5, 5) * 5, torch.randn(2, 2, 8, 5, 5) * 5)
    carried, _ = core(x, garbage, starts)
    fresh, _ = core(x[2:], core.initial_state(2), torch.zeros(3, 2))
    torch.testing.assert_close(carried[2:], fresh)  # nothing leaks across the boundary
    assert not torch.allclose(carried[:2], core(x[:2], core.initial_state(2), torch.zeros(2, 2))[0])


def test_zeroing_a_hidden_state_changes_the_output() -> None:
    core = make()
    x = torch.randn(2, 2, 6, 5, 5)
    clean, _ = core(x, core.initial_state(2), torch.zeros(2, 2))
    ablated, _ = core.run_with_hooks(
        x, core.initial_state(2), torch.zeros(2, 2), fwd_hooks=[("layers.1.hook_h.*", lambda x, h: x * 0)]
    )
    assert not torch.allclose(clean, ablated)


def test_gradients_reach_every_parameter() -> None:
    core = make()
    x = torch.randn(3, 2, 6, 5, 5)
    out, _ = core(x, core.initial_state(2), torch.zeros(3, 2))
    out.square().sum().backward()
    for name, p in core.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="n_layers >= 1 and n_ticks >= 1"):
        DRC(6, 5, 5, n_layers=0)


def test_fence_and_coordinate_channels_join_the_encoded_observation() -> None:
    core = DRC(in_channels=6, height=4, width=5, hidden_channels=8, output_dim=16, fence=True, coords=True)
    fence, rows, cols = core.board_maps
    torch.testing.assert_close(fence, torch.tensor([[1.0] * 5, [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1.0] * 5]))
    torch.testing.assert_close(rows[:, 0], torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0]))
    torch.testing.assert_close(cols[0], torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))
    assert core.layers[0].conv_input.in_channels == 6 + 3 + 2 * 8  # observation + maps, below, injected
    assert "board_maps" not in core.state_dict()  # constants are rebuilt, never saved
    out, _ = core(torch.randn(2, 3, 6, 4, 5), core.initial_state(3), torch.zeros(2, 3))
    assert out.shape == (2, 3, 16)
    step_out, _ = core.step(torch.zeros(3, 6, 4, 5), core.initial_state(3))
    assert step_out.shape == (3, 16)


def test_strip_pooling_reaches_a_whole_row_and_column_in_one_tick() -> None:
    core = DRC(in_channels=6, height=7, width=7, hidden_channels=8, n_layers=1, n_ticks=2, output_dim=16,
               strip_pool=True)  # fmt: skip
    assert {"layers.0.hook_rows.1", "layers.0.hook_cols.1", "layers.0.hook_strip.1"} <= set(core.hook_names())
    x, starts = torch.zeros(1, 1, 6, 7, 7), torch.zeros(1, 1)
    h, c = core.initial_state(1)
    h = torch.randn_like(h)
    _, base = core.run_with_cache(x, (h, c), starts, names_filter="layers.0.hook_*.0")
    poked = h.clone()
    poked[0, 0, :, 3, 3] += 5.0  # one square, the centre
    _, cache = core.run_with_cache(x, (poked, c), starts, names_filter="layers.0.hook_*.0")
    cell = core.layers[0]
    torch.testing.assert_close(cache["layers.0.hook_rows.0"], cell.strip_rows(poked[0].mean(dim=3)))
    torch.testing.assert_close(cache["layers.0.hook_cols.0"], cell.strip_cols(poked[0].mean(dim=2)))
    changed = (cache["layers.0.hook_strip.0"] - base["layers.0.hook_strip.0"]).abs().amax(dim=(0, 1)) > 1e-6
    cross = torch.zeros(7, 7, dtype=torch.bool)
    cross[2:5, :] = cross[:, 2:5] = True  # row and column 3, widened by the 1-D convolutions' reach
    assert torch.equal(changed, cross)  # far squares of the row and column move; the corners do not
