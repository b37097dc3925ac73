"""Helpers shared by the tests."""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch

from flowinpaint.diffusion import DiffusionTensor, tensor_from_eigen


def random_cells(shape: tuple[int, int], seed: int, dtype=torch.float64) -> DiffusionTensor:
    """A random tensor field with eigenvalues in (0, 1] on the dual grid of ``shape``."""
    generator = torch.Generator().manual_seed(seed)
    height, width = shape
    angle = torch.rand(1, 1, height - 1, width - 1, generator=generator, dtype=dtype) * np.pi
    vector = torch.cat([torch.cos(angle), torch.sin(angle)], dim=1)
    mu1 = torch.rand(1, 1, height - 1, width - 1, generator=generator, dtype=dtype) * 0.99 + 0.01
    mu2 = torch.rand(1, 1, height - 1, width - 1, generator=generator, dtype=dtype) * 0.99 + 0.01
    return tensor_from_eigen(vector, mu1, mu2)


def grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    y, x = torch.meshgrid(
        torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
    )
    return x, y


def independent_operator(a: np.ndarray, b: np.ndarray, c: np.ndarray, alpha: np.ndarray) -> scipy.sparse.csr_matrix:
    """The spec's stencil assembled cell by cell in plain Python, independently of the package."""
    cell_rows, cell_cols = a.shape
    width = cell_cols + 1
    n = (cell_rows + 1) * width
    matrix = scipy.sparse.lil_matrix((n, n))

    def couple(p: int, q: int, weight: float) -> None:
        matrix[p, q] += weight
        matrix[q, p] += weight
        matrix[p, p] -= weight
        matrix[q, q] -= weight

    for i in range(cell_rows):
        for j in range(cell_cols):
            beta = (1 - 2 * alpha[i, j]) * np.sign(b[i, j])
            delta = alpha[i, j] * (a[i, j] + c[i, j]) + beta * b[i, j]
            p00, p01, p10, p11 = i * width + j, i * width + j + 1, (i + 1) * width + j, (i + 1) * width + j + 1
            couple(p00, p01, (a[i, j] - delta) / 2)
            couple(p10, p11, (a[i, j] - delta) / 2)
            couple(p00, p10, (c[i, j] - delta) / 2)
            couple(p01, p11, (c[i, j] - delta) / 2)
            couple(p00, p11, (b[i, j] + delta) / 2)
            couple(p01, p10, (delta - b[i, j]) / 2)
    return matrix.tocsr()


def exact_inpainting(operator: scipy.sparse.csr_matrix, known: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Solve A u = 0 on unknown pixels with u = data on known ones, by a sparse direct solve."""
    known = known.ravel()
    unknown = ~known
    solution = data.ravel().astype(np.float64).copy()
    rhs = -operator[unknown][:, known] @ solution[known]
    solution[unknown] = scipy.sparse.linalg.spsolve(operator[unknown][:, unknown].tocsc(), rhs)
    return solution.reshape(data.shape)


def inpaint_checked(method: str, flow: np.ndarray, mask: np.ndarray, image: np.ndarray | None) -> np.ndarray:
    """``inpaint`` with NaN at the unknown pixels, checked against the output contract: shape,
    dtype, C order (what OpenCV and numpy users expect), finite values and the known pixels
    returned exactly."""
    from flowinpaint import inpaint

    flow_in = flow.copy()
    flow_in[~mask] = np.nan  # unknown values are ignored
    dense = inpaint(flow_in, mask, image, method=method)
    assert dense.shape == flow.shape and dense.dtype == np.float32 and dense.flags.c_contiguous
    assert np.isfinite(dense).all()
    assert np.array_equal(dense[mask], flow[mask])
    return dense
