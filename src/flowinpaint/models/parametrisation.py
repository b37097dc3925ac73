"""From the DTM's raw channels to the explicit model of one pyramid level (spec section 5).

Per pixel the five raw channels ``x0 .. x4`` become the eigenvector ``v = (x0, x1)`` (normalised
by :func:`~flowinpaint.diffusion.tensor_from_eigen`), the eigenvalues ``mu1 = g(x2)`` and
``mu2 = g(x3)`` with the Perona-Malik diffusivity ``g(x) = 1 / (1 + x^2 / lambda^2)`` (one learned
contrast ``lambda`` shared by all pixels and levels) and the stencil parameter
``alpha = sigmoid(x4) / 2``. The tensor ``D = mu1 v v^T + mu2 v_perp v_perp^T`` is assembled per
pixel and averaged onto the dual grid (one value per 2x2 cell, where the stencil needs it), and so
is ``alpha``. Averages of tensors with eigenvalues in ``(0, 1]`` keep them there, so the time step
``1 / (4 (1 - min alpha))`` of :func:`~flowinpaint.diffusion.www_time_step` stays stable.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from ..diffusion import DiffusionTensor, pixels_to_cells, tensor_from_eigen

__all__ = ["HOMOGENEOUS_DIFFUSIVITY", "RAW_CHANNELS", "LevelDiffusion", "homogeneous_raw", "level_diffusion", "perona_malik"]

RAW_CHANNELS = 5
# The untrained model's eigenvalues: D = 0.9 I is homogeneous diffusion (the same steady state as
# D = I, 10 % slower), with x2 = x3 = lambda / 3 on the steep part of g. At g's maximum x = 0 the
# slope g'(0) = 0: eigenvalue heads started there (or next to it) barely move for hundreds of steps.
HOMOGENEOUS_DIFFUSIVITY = 0.9


class LevelDiffusion(NamedTuple):
    """The explicit model of one pyramid level, on its dual grid.

    Shape:
        tensor: entries ``(B, 1, h - 1, w - 1)`` each; alpha: ``(B, 1, h - 1, w - 1)``.
    """

    tensor: DiffusionTensor
    alpha: Tensor


def perona_malik(x: Tensor, contrast: Tensor | float) -> Tensor:
    """The Perona-Malik diffusivity ``g(x) = 1 / (1 + x^2 / lambda^2)`` in ``(0, 1]``.

    Shape:
        x: any; contrast: a positive scalar (float or 0-d tensor); returns the shape of ``x``.
    """
    return 1.0 / (1.0 + (x / contrast) ** 2)


def homogeneous_raw(contrast: float) -> tuple[float, ...]:
    """Raw channels that give homogeneous diffusion ``D = 0.9 I`` with ``alpha = 1/4``.

    ``v = (1, 0)``, ``mu1 = mu2 = g(lambda / 3) = 0.9`` and ``alpha = sigmoid(0) / 2``. Used as
    the DTM heads' initial biases (with zero weights), so that the untrained model is homogeneous
    diffusion inpainting while every head receives useful gradients: at ``v = 0`` the
    eigenvector head would stay there for ever (zero-vector fallback), and near ``x2 = x3 = 0``
    the eigenvalue heads hardly learn (``g'(0) = 0``).
    """
    offset = contrast * math.sqrt(1.0 / HOMOGENEOUS_DIFFUSIVITY - 1.0)
    return (1.0, 0.0, offset, offset, 0.0)


def level_diffusion(
    raw: Tensor, contrast: Tensor | float, *, alpha: float | None = None, eigenvector: Tensor | None = None
) -> LevelDiffusion:
    """The diffusion tensor and stencil parameter of one level from the DTM's raw channels.

    Args:
        raw: the DTM's raw channels ``x0 .. x4`` of the level.
        contrast: the Perona-Malik contrast ``lambda`` (positive).
        alpha: a fixed stencil parameter in ``[0, 1/2]`` instead of ``sigmoid(x4) / 2``
            (the "fixed alpha" ablation; channel 4 is then unused).
        eigenvector: unit eigenvectors on the dual grid instead of the learned ``(x0, x1)``
            (the structure-tensor ablation; channels 0-1 are then unused). The learned
            eigenvalues are then averaged onto the dual grid before the assembly.

    Shape:
        raw: ``(B, 5, h, w)``; eigenvector: ``(B, 2, h - 1, w - 1)``;
        returns entries and alpha of ``(B, 1, h - 1, w - 1)``.
    """
    if raw.dim() != 4 or raw.shape[1] != RAW_CHANNELS:
        raise ValueError(f"raw must be (B, {RAW_CHANNELS}, h, w), got {tuple(raw.shape)}")
    if min(raw.shape[-2:]) < 2:
        raise ValueError(f"a level needs at least 2x2 pixels, got {tuple(raw.shape[-2:])}")
    if alpha is not None and not 0.0 <= alpha <= 0.5:
        raise ValueError(f"alpha must lie in [0, 0.5], got {alpha}")
    mu1, mu2 = perona_malik(raw[:, 2:3], contrast), perona_malik(raw[:, 3:4], contrast)
    if eigenvector is None:
        tensor = tensor_from_eigen(raw[:, 0:2], mu1, mu2).map(pixels_to_cells)
    else:
        cell_shape = (raw.shape[0], 2, raw.shape[2] - 1, raw.shape[3] - 1)
        if tuple(eigenvector.shape) != cell_shape:
            raise ValueError(f"eigenvector must be {cell_shape} (the dual grid), got {tuple(eigenvector.shape)}")
        tensor = tensor_from_eigen(eigenvector, pixels_to_cells(mu1), pixels_to_cells(mu2))
    if alpha is None:
        cell_alpha = pixels_to_cells(torch.sigmoid(raw[:, 4:5]) / 2)
    else:
        cell_alpha = torch.full_like(tensor.a, alpha)
    return LevelDiffusion(tensor, cell_alpha)
