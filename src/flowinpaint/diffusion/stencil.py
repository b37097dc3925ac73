"""The (alpha, beta) stencil of Weickert, Welk and Wickert (2013) for ``div(D grad u)``.

The tensor entries ``(a, b, c)`` and the discretisation parameters ``(alpha, beta)`` live on the
dual grid: one value per 2x2 cell of pixels. With ``delta = alpha (a + c) + beta b`` each cell
contributes to the coupling weights of the pixel pairs inside it:

* the two horizontal pairs (x, x+1): ``(a - delta) / 2`` each,
* the two vertical pairs (y, y+1): ``(c - delta) / 2`` each,
* the main-diagonal pair ``(x, y)-(x+1, y+1)``: ``(b + delta) / 2``,
* the anti-diagonal pair ``(x+1, y)-(x, y+1)``: ``(delta - b) / 2``.

Rows (y) point down, so with constant ``D`` the operator is consistent with
``a u_xx + 2 b u_xy + c u_yy``. A pair's weight is the sum over the cells that contain it; cells
outside the image contribute nothing, which is the no-flux boundary. The resulting operator
``(A u)_p = sum_q w_pq (u_q - u_p)`` is symmetric and conservative, and constants are stationary.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .tensor import DiffusionTensor

__all__ = [
    "Stencil",
    "apply_stencil",
    "centre_weight",
    "default_beta",
    "nonnegative_alpha_bounds",
    "www_stencil",
]


class Stencil(NamedTuple):
    """Coupling weights of every neighbouring pixel pair (each pair stored once).

    Shape (for a ``(B, C, H, W)`` field; the channel axis is 1 when shared by all channels):
        east: ``(B, 1, H, W - 1)``, pair ``(y, x)-(y, x + 1)``.
        south: ``(B, 1, H - 1, W)``, pair ``(y, x)-(y + 1, x)``.
        south_east: ``(B, 1, H - 1, W - 1)``, pair ``(y, x)-(y + 1, x + 1)``.
        south_west: ``(B, 1, H - 1, W - 1)``, pair ``(y, x + 1)-(y + 1, x)``.
    """

    east: Tensor
    south: Tensor
    south_east: Tensor
    south_west: Tensor

    def scale(self, factor: float | Tensor) -> Stencil:
        """All weights multiplied by ``factor`` (a scalar or a per-batch ``(B, 1, 1, 1)`` tensor)."""
        return Stencil(*(w * factor for w in self))


def default_beta(alpha: Tensor, b: Tensor) -> Tensor:
    """``beta = (1 - 2 alpha) sign(b)``, the choice that makes the scheme stable (spec section 3)."""
    return (1 - 2 * alpha) * torch.sign(b)


def www_stencil(cells: DiffusionTensor, alpha: Tensor | float, beta: Tensor | None = None) -> Stencil:
    """Pair weights of the (alpha, beta) stencil.

    Args:
        cells: tensor entries on the dual grid, each ``(B, 1, H - 1, W - 1)``.
        alpha: discretisation parameter in ``[0, 1/2]``, a float or ``(B, 1, H - 1, W - 1)``.
        beta: ``(B, 1, H - 1, W - 1)``; defaults to :func:`default_beta`.

    Returns:
        The :class:`Stencil` on the ``(H, W)`` pixel grid.
    """
    a, b, c = cells
    alpha = torch.as_tensor(alpha, dtype=a.dtype, device=a.device)
    if beta is None:
        beta = default_beta(alpha, b)
    delta = alpha * (a + c) + beta * b
    horizontal = (a - delta) / 2
    vertical = (c - delta) / 2
    # Each horizontal pair lies in the cell above it and the cell below it (rows), each vertical
    # pair in the cell left and right of it; zero padding is the no-flux boundary.
    east = F.pad(horizontal, (0, 0, 1, 0)) + F.pad(horizontal, (0, 0, 0, 1))
    south = F.pad(vertical, (1, 0, 0, 0)) + F.pad(vertical, (0, 1, 0, 0))
    return Stencil(east, south, (b + delta) / 2, (delta - b) / 2)


def apply_stencil(u: Tensor, stencil: Stencil) -> Tensor:
    """``(A u)_p = sum_q w_pq (u_q - u_p)``.

    Shape:
        u: ``(B, C, H, W)``; returns ``(B, C, H, W)``.
    """
    out = torch.zeros_like(u)
    pairs = (
        (stencil.east, (slice(None), slice(None, -1)), (slice(None), slice(1, None))),
        (stencil.south, (slice(None, -1), slice(None)), (slice(1, None), slice(None))),
        (stencil.south_east, (slice(None, -1), slice(None, -1)), (slice(1, None), slice(1, None))),
        (stencil.south_west, (slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))),
    )
    for weight, (py, px), (qy, qx) in pairs:
        flux = weight * (u[..., qy, qx] - u[..., py, px])
        out[..., py, px] += flux
        out[..., qy, qx] -= flux
    return out


def centre_weight(stencil: Stencil) -> Tensor:
    """``sum_q |w_pq|`` for every pixel: the bound that makes ``tau <= 1 / max`` safe.

    Shape:
        returns ``(B, 1, H, W)``.
    """
    east, south, south_east, south_west = (w.abs() for w in stencil)
    total = F.pad(east, (0, 1)) + F.pad(east, (1, 0))
    total = total + F.pad(south, (0, 0, 0, 1)) + F.pad(south, (0, 0, 1, 0))
    total = total + F.pad(south_east, (0, 1, 0, 1)) + F.pad(south_east, (1, 0, 1, 0))
    total = total + F.pad(south_west, (1, 0, 0, 1)) + F.pad(south_west, (0, 1, 1, 0))
    return total


def nonnegative_alpha_bounds(cells: DiffusionTensor) -> tuple[Tensor, Tensor]:
    """Per-cell interval of ``alpha`` for which every weight of the cell is non-negative.

    With ``beta = (1 - 2 alpha) sign(b)`` the diagonal weights are never negative; the axis
    weights are non-negative iff ``alpha (a + c - 2|b|) <= min(a, c) - |b|``. The interval is
    empty (``low > high``) where ``|b| > min(a, c)``: there no alpha gives a non-negative stencil,
    and only L2 stability (not the minimum-maximum principle) holds. Non-negative weights plus
    ``tau <= 1 / max centre weight`` give the discrete minimum-maximum principle.

    Returns:
        ``(low, high)``, each ``(B, 1, H - 1, W - 1)``.
    """
    a, b, c = cells
    abs_b = b.abs()
    spread = (a + c - 2 * abs_b).clamp_min(torch.finfo(a.dtype).tiny)
    high = ((torch.minimum(a, c) - abs_b) / spread).clamp(max=0.5)
    return torch.zeros_like(high), high
