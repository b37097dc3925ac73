"""``flowinpaint.ops``: fast tensor operations that must equal torch's own."""

from __future__ import annotations

import numpy as np
import torch

from flowinpaint.ops import channel_norm, share


def test_channel_norm_equals_vector_norm_in_value_and_gradient_also_at_zero():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 7, generator=generator, dtype=torch.float64)
    x[0, :, 1, 2] = 0.0  # zero vectors: value 0, gradient 0 (vector_norm's subgradient)
    x[1, :, 4, 6] = 0.0
    ours = x.clone().requires_grad_(True)
    theirs = x.clone().requires_grad_(True)
    weights = torch.randn(2, 1, 5, 7, generator=generator, dtype=torch.float64)
    (channel_norm(ours) * weights).sum().backward()
    (torch.linalg.vector_norm(theirs, dim=1, keepdim=True) * weights).sum().backward()
    assert channel_norm(x).shape == (2, 1, 5, 7)
    torch.testing.assert_close(channel_norm(x), torch.linalg.vector_norm(x, dim=1, keepdim=True), rtol=1e-14, atol=0)
    assert channel_norm(x)[0, 0, 1, 2] == 0.0
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-12, atol=0)
    assert torch.isfinite(ours.grad).all() and (ours.grad[0, :, 1, 2] == 0).all()


def test_channel_norm_passes_gradcheck_away_from_zero():
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) + 0.1
    assert torch.autograd.gradcheck(channel_norm, (x.requires_grad_(True),))


def test_share_is_the_masks_mean_to_the_bit():
    rng = np.random.default_rng(0)
    for shape, density in [((436, 1024), 0.01), ((7, 3), 0.5), ((1,), 1.0), ((5, 5), 0.0), ((3, 4, 5), 0.3)]:
        mask = rng.random(shape) < density
        assert share(mask) == float(mask.mean())
        assert isinstance(share(mask), float)

