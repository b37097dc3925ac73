"""The fused FSI cycle (one-pass steps, hand-written backward) computes what the eager cycle does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import random_cells

from flowinpaint import inpaint
from flowinpaint.diffusion import (
    Stencil,
    fsi_cycle,
    pixel_time_step,
    www_stencil,
    www_time_step,
)
from flowinpaint.diffusion.fused import fused_available, fused_fsi_cycle

needs_compiler = pytest.mark.skipif(not fused_available(), reason="no C++ compiler for torch.compile")


def random_problem(shape: tuple[int, int], seed: int) -> tuple[Stencil, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random anisotropic stencil, its alpha, a mask with ~20 % known pixels, data and a start."""
    cells = random_cells(shape, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    alpha = torch.rand(cells.a.shape, generator=generator, dtype=torch.float64) / 2
    known = torch.rand(1, 1, *shape, generator=generator) < 0.2
    data = torch.randn(1, 2, *shape, generator=generator, dtype=torch.float64)
    start = torch.randn(1, 2, *shape, generator=generator, dtype=torch.float64)
    return www_stencil(cells, alpha), alpha, known, data, start


@pytest.mark.parametrize("compiled", [False, pytest.param(True, marks=needs_compiler)])
@pytest.mark.parametrize("time_step", ["scalar", "per_pixel"])
def test_fused_cycle_gradients_pass_gradcheck_and_match_autograd(compiled: bool, time_step: str) -> None:
    stencil, alpha, known, data, start = random_problem((7, 9), seed=11)
    tau = www_time_step(alpha) if time_step == "scalar" else pixel_time_step(stencil)
    inputs = [start.clone().requires_grad_(), data.clone().requires_grad_(), *(w.clone().requires_grad_() for w in stencil)]

    def fused(u, d, *weights):
        return fused_fsi_cycle(u, Stencil(*weights), tau, 6, known, d, compiled=compiled)

    def reference(u, d, *weights):
        return fsi_cycle(u, Stencil(*weights), tau, 6, known, d)

    assert torch.autograd.gradcheck(fused, inputs)
    probe = torch.randn(start.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    fused_grads = torch.autograd.grad((fused(*inputs) * probe).sum(), inputs)
    reference_grads = torch.autograd.grad((reference(*inputs) * probe).sum(), inputs)
    for got, expected in zip(fused_grads, reference_grads):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_fused_cycle_keeps_one_field_per_step_for_backward() -> None:
    stencil, alpha, known, data, start = random_problem((30, 40), seed=5)
    weights = [w.clone().requires_grad_() for w in stencil]
    field_bytes = start.numel() * start.element_size()
    saved: list[int] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved.append(tensor.numel() * tensor.element_size())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fused_fsi_cycle(start, Stencil(*weights), www_time_step(alpha), 20, known, data, compiled=False)
    assert sum(saved) < 24 * field_bytes  # 20 iterates + the weights and the mask
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fsi_cycle(start, Stencil(*weights), www_time_step(alpha), 20, known, data)
    assert sum(saved) > 2 * 24 * field_bytes  # plain autograd keeps several tensors per step


@needs_compiler
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


@needs_compiler
def test_inpaint_gives_the_same_flow_with_and_without_compilation() -> None:
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(20, 26, 2)).astype(np.float32)
    mask = rng.random((20, 26)) < 0.1
    image = rng.random((20, 26, 3)).astype(np.float32)
    eager = inpaint(flow, mask, image, method="eed", compiled=False)
    compiled = inpaint(flow, mask, image, method="eed", compiled=True)
    np.testing.assert_allclose(compiled, eager, atol=1e-5)
