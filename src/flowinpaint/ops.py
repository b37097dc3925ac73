"""Tensor operations whose torch equivalents are slow on the CPU.

``torch.linalg.vector_norm(x, dim=1)`` over the channels of an ``(B, C, H, W)`` tensor runs a
strided reduction that is about 80x slower on the CPU than the same sum of squares written out
(measured on an AMD EPYC, 2 threads: 34 vs 0.4 ms at 1024x436, 2 channels); :func:`channel_norm`
is that sum, with the same gradient (0 at the zero vector).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["channel_norm"]


def channel_norm(x: Tensor) -> Tensor:
    """The Euclidean norm over the channel axis, as ``torch.linalg.vector_norm(x, dim=1, keepdim=True)``.

    The value is exact at the zero vector (0) and so is the gradient there (0, where a plain
    ``sqrt`` would give NaN).

    Shape:
        ``(B, C, H, W)`` -> ``(B, 1, H, W)``.
    """
    squared = x.square().sum(dim=1, keepdim=True)
    positive = squared > 0
    return torch.where(positive, squared.clamp_min(torch.finfo(x.dtype).tiny).sqrt(), torch.zeros_like(squared))
