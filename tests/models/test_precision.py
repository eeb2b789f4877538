"""bf16 autocast: which activations change dtype, what stays float32, and switching back."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from gridlab.models import DRC, SmallCNN
from gridlab.models.precision import computing_in, precision_of, set_precision

IMAGE = spaces.Box(0, 1, (8, 8, 8), np.float32)


def test_a_bf16_extractor_computes_in_bf16_and_returns_float32() -> None:
    cnn = SmallCNN(IMAGE)
    obs = torch.rand(4, 8, 8, 8)
    reference, fp32_cache = cnn.run_with_cache(obs)
    assert fp32_cache["hook_relu2"].dtype == torch.float32 and precision_of(cnn) == "fp32"
    set_precision(cnn, "bf16")
    out, cache = cnn.run_with_cache(obs)
    assert cache["hook_conv1"].dtype == torch.bfloat16 and cache["hook_features"].dtype == torch.bfloat16
    assert out.dtype == torch.float32 and precision_of(cnn) == "bf16"
    torch.testing.assert_close(out, reference, atol=0.05, rtol=0.05)  # bf16 keeps ~3 significant digits
    assert not torch.equal(out, reference)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in cnn.parameters())
    assert all(p.dtype == torch.float32 for p in cnn.parameters())


def test_a_bf16_drc_keeps_its_outputs_and_states_float32() -> None:
    drc = DRC(4, 5, 5, hidden_channels=8, n_layers=2, n_ticks=2, output_dim=16)
    x, starts = torch.rand(3, 2, 4, 5, 5), torch.zeros(3, 2)
    reference, _ = drc(x, drc.initial_state(2), starts)
    set_precision(drc, "bf16")
    out, (h, c) = drc(x, drc.initial_state(2), starts)
    assert out.dtype == h.dtype == c.dtype == torch.float32
    torch.testing.assert_close(out, reference, atol=0.05, rtol=0.05)


def test_computing_in_restores_each_module_and_bad_values_are_refused() -> None:
    cnn = SmallCNN(IMAGE)
    set_precision(cnn, "bf16")
    with computing_in(cnn, "fp32"):
        assert precision_of(cnn) == "fp32"
    assert precision_of(cnn) == "bf16"
    with pytest.raises(ValueError, match="resolve 'auto' first"):
        set_precision(cnn, "auto")
    with pytest.raises(ValueError, match="Linear has no module that can compute in bf16"):
        set_precision(nn.Linear(2, 2), "bf16")
