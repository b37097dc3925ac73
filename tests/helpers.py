"""Helpers shared by the tests."""

from __future__ import annotations

import numpy as np
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
