"""Explicit steps, FSI cycles, convergence to the exact discrete solution, the pyramid, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import exact_inpainting, grid, independent_operator, random_cells

from flowinpaint.diffusion import (
    DiffusionTensor,
    coarse_to_fine,
    downsample_sparse,
    explicit_step,
    fsi_cycle,
    fsi_weights,
    nonnegative_alpha_bounds,
    pixels_to_cells,
    pull_push_fill,
    solve_to_convergence,
    sparse_pyramid,
    tensor_from_eigen,
    upsample_to,
    www_stencil,
    www_time_step,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def random_mask(shape: tuple[int, int], density: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    known = torch.rand(1, 1, *shape, generator=generator) < density
    known[..., 0, 0] = True
    return known


@pytest.mark.parametrize("tensor_kind", ["identity", "anisotropic"])
def test_converges_to_exact_discrete_solution(tensor_kind: str) -> None:
    shape = (24, 31)
    if tensor_kind == "identity":
        ones = torch.ones(1, 1, shape[0] - 1, shape[1] - 1, dtype=torch.float64)
        cells, alpha = DiffusionTensor(ones, 0 * ones, ones), torch.zeros_like(ones)
    else:
        cells = random_cells(shape, seed=11)
        alpha = torch.rand(cells.a.shape, generator=torch.Generator().manual_seed(12), dtype=torch.float64) / 2
    known = random_mask(shape, 0.03, seed=13)
    data = torch.randn(1, 2, *shape, generator=torch.Generator().manual_seed(14), dtype=torch.float64) * 5
    result, info = solve_to_convergence(
        torch.zeros_like(data), www_stencil(cells, alpha), www_time_step(alpha), known, data, cycle_steps=20, growth=1.2, tol=1e-8
    )
    assert info.converged
    operator = independent_operator(*(t[0, 0].numpy() for t in (*cells, alpha)))
    for channel in range(2):
        exact = exact_inpainting(operator, known[0, 0].numpy(), data[0, channel].numpy())
        error = np.linalg.norm(result[0, channel].numpy() - exact) / np.linalg.norm(exact)
        assert error < 1e-3, error


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_residual_from_one_cycle_step_equals_the_stencil_residual(dtype: torch.dtype) -> None:
    from flowinpaint.diffusion.fused import fused_fsi_cycle
    from flowinpaint.diffusion.solver import relative_residual

    shape = (19, 26)
    cells = random_cells(shape, seed=3).map(lambda entry: entry.to(dtype))
    alpha = torch.full_like(cells.a, 0.2)
    stencil, tau = www_stencil(cells, alpha), www_time_step(alpha)
    known = random_mask(shape, 0.1, seed=4)
    u = torch.randn(1, 2, *shape, generator=torch.Generator().manual_seed(5), dtype=dtype)
    expected = relative_residual(u, stencil, tau, known, 2.0)
    for cycle in (fsi_cycle, fused_fsi_cycle):  # float32: the native kernel where it builds
        assert relative_residual(u, stencil, tau, known, 2.0, cycle) == pytest.approx(expected, rel=1e-5 if dtype == torch.float32 else 1e-12)


def test_fsi_reaches_the_steady_state_of_plain_explicit_steps() -> None:
    shape = (12, 14)
    cells = random_cells(shape, seed=2)
    alpha = torch.full(cells.a.shape, 0.25, dtype=torch.float64)
    stencil, tau = www_stencil(cells, alpha), www_time_step(alpha)
    known = random_mask(shape, 0.1, seed=3)
    data = torch.randn(1, 1, *shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    explicit = torch.where(known, data, torch.zeros_like(data))
    for _ in range(20000):
        explicit = explicit_step(explicit, stencil, tau, known, data)
    fsi, info = solve_to_convergence(torch.zeros_like(data), stencil, tau, known, data, cycle_steps=30, tol=1e-12)
    assert info.converged
    torch.testing.assert_close(fsi, explicit, atol=1e-8, rtol=0)


def test_fsi_weights() -> None:
    assert fsi_weights(3) == pytest.approx([2 / 3, 6 / 5, 10 / 7])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_constant_flow_is_stationary_for_any_tensor(device: str, dtype: torch.dtype) -> None:
    shape = (10, 13)
    cells = random_cells(shape, seed=8, dtype=dtype).map(lambda e: e.to(device))
    alpha = torch.full(cells.a.shape, 0.2, dtype=dtype, device=device)
    known = random_mask(shape, 0.1, seed=9).to(device)
    flow = torch.tensor([1.5, -2.0], dtype=dtype, device=device).view(1, 2, 1, 1).expand(1, 2, *shape).clone()
    result = fsi_cycle(flow, www_stencil(cells, alpha), www_time_step(alpha), 25, known, flow)
    assert result.dtype == dtype and result.device.type == device
    torch.testing.assert_close(result, flow)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_linear_flow_is_stationary_for_a_constant_tensor(dtype: torch.dtype) -> None:
    """Linear data known on the image border (and a few inside) stay linear under any constant D."""
    shape = (11, 15)
    x, y = grid(*shape)
    flow = torch.stack([0.3 * x - 0.2 * y + 1, -0.1 * x + 0.4 * y])[None].to(dtype)
    known = random_mask(shape, 0.05, seed=1)
    known[..., 0, :] = known[..., -1, :] = known[..., :, 0] = known[..., :, -1] = True
    cell_shape = (1, 1, shape[0] - 1, shape[1] - 1)
    cells = DiffusionTensor(*(torch.full(cell_shape, v, dtype=dtype) for v in (0.9, 0.3, 0.5)))
    alpha = torch.full(cell_shape, 0.35, dtype=dtype)
    result = fsi_cycle(flow, www_stencil(cells, alpha), www_time_step(alpha), 40, known, flow)
    torch.testing.assert_close(result, flow, atol=1e-5 if dtype == torch.float32 else 1e-12, rtol=0)


@pytest.mark.parametrize("seed", range(3))
def test_minimum_maximum_principle(seed: int) -> None:
    """With non-negative weights (alpha in the non-negative range where one exists) each explicit
    step and the converged solution stay within the range of the data."""
    shape = (16, 18)
    cells = random_cells(shape, seed=seed)
    low, high = nonnegative_alpha_bounds(cells)
    possible = high >= low
    # Tensors with |b| > min(a, c) admit no non-negative stencil: drop their off-diagonal entry.
    a, b, c = cells
    cells = DiffusionTensor(a, torch.where(possible, b, torch.zeros_like(b)), c)
    low, high = nonnegative_alpha_bounds(cells)
    alpha = (low + high) / 2
    stencil, tau = www_stencil(cells, alpha), www_time_step(alpha)
    known = random_mask(shape, 0.08, seed=seed + 10)
    data = torch.rand(1, 2, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    u = torch.rand(1, 2, *shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    u = torch.where(known, data, u)
    for _ in range(50):
        new = explicit_step(u, stencil, tau, known, data)
        assert (new.amin(dim=(2, 3)) >= u.amin(dim=(2, 3)) - 1e-12).all()
        assert (new.amax(dim=(2, 3)) <= u.amax(dim=(2, 3)) + 1e-12).all()
        u = new
    solution, _ = solve_to_convergence(u, stencil, tau, known, data, cycle_steps=20, tol=1e-10)
    known_values = data[known.expand_as(data)].view(2, -1)
    assert (solution.amin(dim=(2, 3))[0] >= known_values.amin(dim=1) - 1e-9).all()
    assert (solution.amax(dim=(2, 3))[0] <= known_values.amax(dim=1) + 1e-9).all()


def test_known_pixels_are_reimposed_exactly() -> None:
    shape = (9, 9)
    cells = random_cells(shape, seed=4)
    alpha = torch.full(cells.a.shape, 0.1, dtype=torch.float64)
    known = random_mask(shape, 0.2, seed=5)
    data = torch.randn(1, 2, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    result = fsi_cycle(torch.zeros_like(data), www_stencil(cells, alpha), www_time_step(alpha), 7, known, data)
    assert torch.equal(result[known.expand_as(result)], data[known.expand_as(data)])


def test_gradcheck_through_tensor_stencil_and_fsi() -> None:
    """Gradients with respect to the data, the start, the eigenvector field, the eigenvalues and
    alpha are exact (finite differences in float64)."""
    shape = (5, 6)
    generator = torch.Generator().manual_seed(0)
    known = random_mask(shape, 0.3, seed=2)

    def make(*size: int) -> torch.Tensor:
        return torch.rand(*size, generator=generator, dtype=torch.float64).requires_grad_()

    start, data = make(1, 2, *shape), make(1, 2, *shape)
    vector, mu1, mu2 = make(1, 2, *shape), make(1, 1, *shape), make(1, 1, *shape)
    alpha = make(1, 1, shape[0] - 1, shape[1] - 1)

    def pipeline(start, data, vector, mu1, mu2, alpha):
        cells = tensor_from_eigen(vector, 0.1 + 0.9 * mu1, 0.1 + 0.9 * mu2).map(pixels_to_cells)
        cell_alpha = alpha / 2
        return fsi_cycle(start, www_stencil(cells, cell_alpha), 0.2, 6, known, data)

    assert torch.autograd.gradcheck(pipeline, (start, data, vector, mu1, mu2, alpha))


def test_gradcheck_through_pyramid() -> None:
    shape = (8, 10)
    known = random_mask(shape, 0.3, seed=6)
    data = torch.rand(1, 2, *shape, dtype=torch.float64).requires_grad_()
    ones = torch.ones(1, 1, 1, 1, dtype=torch.float64)

    def solve_level(level, start, level_data, level_known):
        h, w = start.shape[-2:]
        cells = DiffusionTensor(*(e.expand(1, 1, h - 1, w - 1) for e in (ones, 0 * ones, ones)))
        return fsi_cycle(start, www_stencil(cells, 0.1), 0.25, 5, level_known, level_data)

    assert torch.autograd.gradcheck(lambda d: coarse_to_fine(d, known, 3, solve_level), (data,))


def test_downsample_sparse_is_a_masked_average() -> None:
    data = torch.tensor([[1.0, 3.0, 5.0], [7.0, 9.0, 11.0], [2.0, 4.0, 6.0]]).view(1, 1, 3, 3)
    known = torch.tensor([[1, 1, 0], [0, 0, 0], [1, 0, 1]], dtype=torch.bool).view(1, 1, 3, 3)
    coarse, coarse_known = downsample_sparse(data, known)
    assert coarse_known[0, 0].tolist() == [[True, False], [True, True]]
    assert coarse[0, 0].tolist() == [[2.0, 0.0], [2.0, 6.0]]


@pytest.mark.parametrize("shape", [(2, 2), (8, 10), (37, 50), (40, 51), (64, 96)])
def test_the_poolings_views_give_torchs_pooling_to_the_bit(shape: tuple[int, int]) -> None:
    """``pixels_to_cells`` and the pyramid's halving sum shifted or strided views in the order of
    ``F.avg_pool2d``: its floats exactly, odd sizes (the pooling's own path) included; gradients
    flow through both."""
    import torch.nn.functional as F

    from flowinpaint.diffusion.pyramid import downsample_image

    x = torch.randn(2, 3, *shape, generator=torch.Generator().manual_seed(sum(shape)))
    assert torch.equal(pixels_to_cells(x), F.avg_pool2d(x, 2, stride=1))
    assert torch.equal(downsample_image(x), F.avg_pool2d(x, 2, ceil_mode=True))
    x64 = x[:1, :1, :6, :6].double().requires_grad_()
    assert torch.autograd.gradcheck(lambda t: (pixels_to_cells(t), downsample_image(t)), (x64,))


def test_pyramid_shapes_and_upsampling() -> None:
    data = torch.randn(1, 2, 37, 50)
    known = random_mask((37, 50), 0.1, seed=0)
    pyramid = sparse_pyramid(data, known, 4)
    assert [tuple(level[0].shape[-2:]) for level in pyramid] == [(37, 50), (19, 25), (10, 13), (5, 7)]
    assert all(level[1].any() for level in pyramid)
    constant = torch.full((1, 2, 5, 7), 3.25)
    torch.testing.assert_close(upsample_to(constant, (10, 13)), torch.full((1, 2, 10, 13), 3.25))


def test_pull_push_fill_keeps_known_values_stays_in_range_and_treats_samples_apart() -> None:
    data = torch.randn(3, 2, 37, 50, dtype=torch.float64) * 5
    known = torch.cat([random_mask((37, 50), density, seed=seed) for seed, density in ((1, 0.002), (2, 0.05), (3, 0.6))])
    fill = pull_push_fill(data, known)
    assert fill.shape == data.shape and torch.isfinite(fill).all()
    where = known.expand_as(data)
    assert torch.equal(fill[where], data[where])
    for sample in range(3):
        values = data[sample][where[sample]].view(2, -1)
        low, high = values.amin(dim=1).view(2, 1, 1), values.amax(dim=1).view(2, 1, 1)
        assert ((fill[sample] >= low - 1e-12) & (fill[sample] <= high + 1e-12)).all()
        # the batch descends as deep as its sparsest sample needs; each sample's fill is its own
        torch.testing.assert_close(fill[sample : sample + 1], pull_push_fill(data[sample : sample + 1], known[sample : sample + 1]))
    constant = torch.full((1, 2, 20, 30), -1.5)
    torch.testing.assert_close(pull_push_fill(constant, random_mask((20, 30), 0.01, seed=4)), constant)
    assert torch.equal(pull_push_fill(data[:1], torch.zeros_like(known[:1])), torch.zeros_like(data[:1]))


def test_pull_push_fill_of_one_known_pixel_is_that_value_everywhere() -> None:
    known = torch.zeros(1, 1, 9, 13, dtype=torch.bool)
    known[0, 0, 6, 2] = True
    data = torch.zeros(1, 2, 9, 13).masked_fill(known, 4.0)
    torch.testing.assert_close(pull_push_fill(data, known), torch.full((1, 2, 9, 13), 4.0))


def test_gradcheck_through_pull_push_fill() -> None:
    known = random_mask((11, 14), 0.05, seed=7)
    data = torch.rand(1, 2, 11, 14, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda d: pull_push_fill(d, known), (data,))


def test_coarse_to_fine_visits_levels_coarse_first() -> None:
    visited = []

    def solve_level(level, start, level_data, level_known):
        visited.append((level, tuple(start.shape[-2:])))
        return start + 1

    result = coarse_to_fine(torch.zeros(1, 2, 16, 16), torch.ones(1, 1, 16, 16, dtype=torch.bool), 3, solve_level)
    assert visited == [(2, (4, 4)), (1, (8, 8)), (0, (16, 16))]
    torch.testing.assert_close(result, torch.full((1, 2, 16, 16), 3.0))
