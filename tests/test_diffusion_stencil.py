"""The (alpha, beta) stencil: consistency, symmetry, conservation, stability, invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import grid, random_cells

from flowinpaint.diffusion import (
    DiffusionTensor,
    apply_stencil,
    centre_weight,
    nonnegative_alpha_bounds,
    pixels_to_cells,
    tensor_from_eigen,
    www_stencil,
    www_time_step,
)


def operator_matrix(cells: DiffusionTensor, alpha) -> np.ndarray:
    """The dense matrix of A on a small grid, by applying the stencil to unit vectors."""
    height, width = cells.a.shape[-2] + 1, cells.a.shape[-1] + 1
    n = height * width
    basis = torch.eye(n, dtype=cells.a.dtype).reshape(n, 1, height, width)
    stencil = www_stencil(cells.map(lambda e: e.expand(n, -1, -1, -1)), alpha)
    return apply_stencil(basis, stencil).reshape(n, n).T.numpy()


@pytest.mark.parametrize("alpha", [0.0, 0.2, 0.45])
def test_consistent_with_second_derivatives(alpha: float) -> None:
    """With constant D, A applied to x^2, xy, y^2 gives 2a, 2b, 2c: the axis convention is pinned."""
    a, b, c = 0.7, -0.25, 0.4
    x, y = grid(8, 9)
    cells = DiffusionTensor(*(torch.full((1, 1, 7, 8), v, dtype=torch.float64) for v in (a, b, c)))
    stencil = www_stencil(cells, alpha)
    for field, expected in ((x * x, 2 * a), (x * y, 2 * b), (y * y, 2 * c), (x, 0.0), (y, 0.0)):
        result = apply_stencil(field[None, None], stencil)[0, 0, 1:-1, 1:-1]
        torch.testing.assert_close(result, torch.full_like(result, expected), atol=1e-12, rtol=0)


def test_identity_tensor_weights_match_spec() -> None:
    """For D = I: axis weights 1 - 2 alpha, diagonal weights alpha, centre 4 (1 - alpha)."""
    alpha = 0.3
    ones = torch.ones(1, 1, 5, 5, dtype=torch.float64)
    stencil = www_stencil(DiffusionTensor(ones, 0 * ones, ones), alpha)
    assert torch.allclose(stencil.east[..., 1:-1, :], torch.tensor(1 - 2 * alpha, dtype=torch.float64))
    assert torch.allclose(stencil.south[..., :, 1:-1], torch.tensor(1 - 2 * alpha, dtype=torch.float64))
    assert torch.allclose(stencil.south_east, torch.tensor(alpha, dtype=torch.float64))
    assert torch.allclose(stencil.south_west, torch.tensor(alpha, dtype=torch.float64))
    centre = centre_weight(stencil)[0, 0, 1:-1, 1:-1]
    assert torch.allclose(centre, torch.tensor(4 * (1 - alpha), dtype=torch.float64))


def test_symmetric_conservative_and_constants_stationary() -> None:
    cells = random_cells((6, 7), seed=1)
    alpha = torch.rand(1, 1, 5, 6, dtype=torch.float64) / 2
    matrix = operator_matrix(cells, alpha)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-14)
    np.testing.assert_allclose(matrix.sum(axis=1), 0.0, atol=1e-14)  # constants are stationary
    np.testing.assert_allclose(matrix.sum(axis=0), 0.0, atol=1e-14)  # mass is conserved


@pytest.mark.parametrize("seed", range(4))
def test_spec_time_step_is_l2_stable(seed: int) -> None:
    """tau = 1 / (4 (1 - min alpha)) keeps the spectrum of tau A in [-2, 0] for any alpha in [0, 1/2]."""
    cells = random_cells((7, 8), seed=seed)
    alpha = torch.rand(1, 1, 6, 7, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) / 2
    tau = float(www_time_step(alpha))
    eigenvalues = np.linalg.eigvalsh(tau * operator_matrix(cells, alpha))
    assert eigenvalues.max() <= 1e-12
    assert eigenvalues.min() >= -2 - 1e-12


def test_nonnegative_alpha_range_gives_nonnegative_weights() -> None:
    cells = random_cells((20, 20), seed=3)
    low, high = nonnegative_alpha_bounds(cells)
    possible = high >= low
    assert possible.any() and (~possible).any()  # random fields have both kinds of cells
    alpha = torch.where(possible, (low + high.clamp_min(0)) / 2, torch.zeros_like(high))
    stencil = www_stencil(cells, alpha)
    a, b, c = cells
    delta = alpha * (a + c) + (1 - 2 * alpha) * b.abs()
    axis = torch.minimum(a - delta, c - delta)
    assert (axis[possible] >= -1e-12).all()
    assert (axis[~possible] < 0).all()
    assert (stencil.south_east >= -1e-15).all() and (stencil.south_west >= -1e-15).all()


def transpose_cells(cells: DiffusionTensor) -> DiffusionTensor:
    """Swapping x and y maps (a, b, c) to (c, b, a) on the transposed grid."""
    a, b, c = (entry.transpose(-1, -2) for entry in cells)
    return DiffusionTensor(c, b, a)


def rotate_cells(cells: DiffusionTensor) -> DiffusionTensor:
    """A 90 degree grid rotation (torch.rot90 in the (H, W) plane) maps (a, b, c) to (c, -b, a)."""
    a, b, c = (torch.rot90(entry, 1, dims=(-2, -1)) for entry in cells)
    return DiffusionTensor(c, -b, a)


@pytest.mark.parametrize(
    "grid_map, cell_map",
    [(lambda t: t.transpose(-1, -2), transpose_cells), (lambda t: torch.rot90(t, 1, dims=(-2, -1)), rotate_cells)],
    ids=["transpose", "rot90"],
)
def test_operator_commutes_with_grid_symmetries(grid_map, cell_map) -> None:
    cells = random_cells((9, 12), seed=5)
    alpha = torch.rand(1, 1, 8, 11, generator=torch.Generator().manual_seed(6), dtype=torch.float64) / 2
    u = torch.randn(1, 2, 9, 12, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    direct = grid_map(apply_stencil(u, www_stencil(cells, alpha)))
    mapped = apply_stencil(grid_map(u), www_stencil(cell_map(cells), grid_map(alpha)))
    torch.testing.assert_close(mapped, direct, atol=1e-12, rtol=0)


def test_tensor_from_eigen_reconstructs_eigenpairs() -> None:
    vector = torch.tensor([3.0, 4.0], dtype=torch.float64).view(1, 2, 1, 1)
    a, b, c = tensor_from_eigen(vector, torch.full((1, 1, 1, 1), 0.2, dtype=torch.float64), torch.ones(1, 1, 1, 1, dtype=torch.float64))
    matrix = np.array([[a.item(), b.item()], [b.item(), c.item()]])
    unit = np.array([0.6, 0.8])
    np.testing.assert_allclose(matrix @ unit, 0.2 * unit, atol=1e-14)
    np.testing.assert_allclose(matrix @ np.array([-0.8, 0.6]), np.array([-0.8, 0.6]), atol=1e-14)


def test_pixels_to_cells_averages_blocks() -> None:
    field = torch.arange(12, dtype=torch.float64).view(1, 1, 3, 4)
    cells = pixels_to_cells(field)
    assert cells.shape == (1, 1, 2, 3)
    assert cells[0, 0, 0, 0].item() == pytest.approx((0 + 1 + 4 + 5) / 4)
