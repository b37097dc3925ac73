"""Gaussian noise for the generative baselines: fresh in training, reproducible in evaluation."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["standard_normal"]


def standard_normal(like: Tensor, *, training: bool, seed: int) -> Tensor:
    """Standard normal noise of ``like``'s shape, dtype and device.

    In training the noise comes from the global RNG (so seeded training runs stay exact on
    resume); otherwise from a generator seeded with ``seed``, so the same input gives the same
    output on every call.
    """
    if training:
        return torch.randn_like(like)
    generator = torch.Generator(device=like.device).manual_seed(seed)
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)
