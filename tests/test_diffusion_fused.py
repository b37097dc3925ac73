"""The compiled one-pass FSI step computes what the eager step computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import random_cells

from flowinpaint import inpaint
from flowinpaint.diffusion import fsi_cycle, www_stencil, www_time_step
from flowinpaint.diffusion.fused import fused_available, fused_fsi_cycle

pytestmark = pytest.mark.skipif(not fused_available(), reason="no C++ compiler for torch.compile")


def test_fused_cycle_matches_eager_cycle() -> None:
    shape = (19, 23)
    cells = random_cells(shape, seed=3)
    alpha = torch.rand(cells.a.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64) / 2
    stencil, tau = www_stencil(cells, alpha), www_time_step(alpha)
    known = torch.rand(1, 1, *shape, generator=torch.Generator().manual_seed(5)) < 0.1
    data = torch.randn(1, 2, *shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    start = torch.randn(1, 2, *shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    eager = fsi_cycle(start, stencil, tau, 17, known, data)
    fused = fused_fsi_cycle(start, stencil, tau, 17, known, data)
    torch.testing.assert_close(fused, eager, rtol=1e-12, atol=1e-12)


def test_inpaint_gives_the_same_flow_with_and_without_compilation() -> None:
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(20, 26, 2)).astype(np.float32)
    mask = rng.random((20, 26)) < 0.1
    image = rng.random((20, 26, 3)).astype(np.float32)
    eager = inpaint(flow, mask, image, method="eed", compiled=False)
    compiled = inpaint(flow, mask, image, method="eed", compiled=True)
    np.testing.assert_allclose(compiled, eager, atol=1e-5)
