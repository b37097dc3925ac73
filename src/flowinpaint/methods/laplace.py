"""``laplace``: homogeneous diffusion inpainting (the harmonic interpolant, ``Delta u = 0``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..diffusion import DiffusionTensor
from .explicit import SolverOptions, solve_explicit_diffusion
from .registry import Method, Problem, register

__all__ = ["LaplaceOptions"]


@dataclass(frozen=True)
class LaplaceOptions(SolverOptions):
    """Options of ``laplace`` (see :class:`SolverOptions`).

    Attributes:
        alpha: stencil parameter in [0, 1/2]; 0 is the classic 5-point Laplacian, which
            ``benchmarks/tune_explicit.py`` found best (larger alpha is up to 10 % worse).
    """

    alpha: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.alpha <= 0.5:
            raise ValueError(f"alpha must lie in [0, 0.5], got {self.alpha}")


def identity_field(guide: Tensor) -> DiffusionTensor:
    """``D = I`` on the dual grid of ``guide`` ``(1, C, h, w)``."""
    ones = torch.ones_like(guide[:, :1, 1:, 1:])
    return DiffusionTensor(ones, torch.zeros_like(ones), ones)


def run(problem: Problem, options: LaplaceOptions) -> Tensor:
    return solve_explicit_diffusion(problem, identity_field, options, options.alpha, "laplace")


register(Method("laplace", "homogeneous diffusion (harmonic interpolation); ignores the image", LaplaceOptions, run, needs_image=False))
