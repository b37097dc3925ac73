"""``lb``: Laplace-Beltrami inpainting on the image surface (Raad, Peter, Weickert et al. 2020).

The image is the surface ``(x, y, gamma I(x, y))`` with metric ``G = Id + gamma^2 sum_c grad I_c
grad I_c^T``; the flow satisfies ``div(sqrt(det G) G^-1 grad u) = 0`` on the unknown pixels. Since
``sqrt(det G) G^-1 = adj(G) / sqrt(det G)``, the tensor is computed in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..diffusion import DiffusionTensor
from ..diffusion.structure import gradient_outer_product
from .explicit import SolverOptions, solve_explicit_diffusion
from .registry import Method, Problem, register

__all__ = ["LBOptions"]


@dataclass(frozen=True)
class LBOptions(SolverOptions):
    """Options of ``lb`` (see :class:`SolverOptions` for the solver's).

    The defaults were chosen by ``benchmarks/tune_explicit.py`` (results in
    ``benchmarks/results/tune_explicit.md``): the best mean EPE relative to Laplace over synthetic,
    Middlebury and FlyingChairs validation samples at 1 %, 5 % and 10 % density.

    Attributes:
        gamma: contrast weight of the image surface (image in [0, 1]); 0 is homogeneous diffusion.
        sigma: Gaussian pre-smoothing of the image, pixels.
        alpha: fixed stencil parameter in [0, 1/2], or None for the per-cell non-negative midpoint.
    """

    gamma: float = 200.0
    sigma: float = 1.0
    alpha: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gamma < 0 or self.sigma < 0:
            raise ValueError(f"gamma and sigma must be >= 0, got {self.gamma}, {self.sigma}")
        if self.alpha is not None and not 0.0 <= self.alpha <= 0.5:
            raise ValueError(f"alpha must lie in [0, 0.5] or be None, got {self.alpha}")


def lb_field(image: Tensor, options: LBOptions) -> DiffusionTensor:
    """``sqrt(det G) G^-1`` of ``image`` ``(1, 3, h, w)`` on its dual grid (eigenvalues may exceed 1)."""
    gram = gradient_outer_product(image, options.sigma)
    g_xx = 1.0 + options.gamma**2 * gram.a
    g_xy = options.gamma**2 * gram.b
    g_yy = 1.0 + options.gamma**2 * gram.c
    root_det = torch.sqrt(g_xx * g_yy - g_xy * g_xy)
    return DiffusionTensor(g_yy / root_det, -g_xy / root_det, g_xx / root_det)


def run(problem: Problem, options: LBOptions) -> Tensor:
    return solve_explicit_diffusion(problem, lambda image: lb_field(image, options), options, options.alpha, "lb")


register(Method("lb", "Laplace-Beltrami diffusion on the image surface (x, y, gamma I)", LBOptions, run, needs_image=True))
