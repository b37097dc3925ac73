"""``eed``: edge-enhancing diffusion inpainting steered by the reference image.

The tensor's eigenvector ``v`` is the dominant eigenvector of the image's structure tensor
``J_rho`` (across edges); across edges the eigenvalue is ``g(lambda1)``, along edges 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..diffusion import DiffusionTensor, tensor_from_eigen
from ..diffusion.stencil_native import native_eed_tensor, native_ready
from ..diffusion.structure import dominant_eigen, structure_tensor
from .explicit import SolverOptions, solve_explicit_diffusion
from .registry import Method, Problem, register

__all__ = ["EEDOptions", "diffusivity"]

DIFFUSIVITIES = ("perona-malik", "charbonnier")


def diffusivity(squared: Tensor, contrast: float, kind: str) -> Tensor:
    """``g(s^2)``: Perona-Malik ``1 / (1 + s^2 / lambda^2)`` or Charbonnier ``1 / sqrt(1 + s^2 / lambda^2)``."""
    ratio = 1.0 + squared.clamp_min(0.0) / contrast**2
    return 1.0 / ratio if kind == "perona-malik" else torch.rsqrt(ratio)


@dataclass(frozen=True)
class EEDOptions(SolverOptions):
    """Options of ``eed`` (see :class:`SolverOptions` for the solver's).

    The defaults were chosen by ``benchmarks/tune_explicit.py`` (results in
    ``benchmarks/results/tune_explicit.md``): the best mean EPE relative to Laplace over synthetic,
    Middlebury and FlyingChairs validation samples at 1 %, 5 % and 10 % density.

    Attributes:
        contrast: the diffusivity's contrast parameter lambda, in image units per pixel
            (image in [0, 1]); smaller values stop diffusion at weaker edges.
        sigma: Gaussian pre-smoothing of the image, pixels.
        rho: integration scale of the structure tensor, pixels.
        diffusivity: ``"perona-malik"`` or ``"charbonnier"``.
        alpha: fixed stencil parameter in [0, 1/2], or None for the per-cell non-negative midpoint.
    """

    contrast: float = 0.01
    sigma: float = 0.5
    rho: float = 1.0
    diffusivity: str = "perona-malik"
    alpha: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.contrast > 0:
            raise ValueError(f"contrast must be > 0, got {self.contrast}")
        if self.sigma < 0 or self.rho < 0:
            raise ValueError(f"sigma and rho must be >= 0, got {self.sigma}, {self.rho}")
        if self.diffusivity not in DIFFUSIVITIES:
            raise ValueError(f"diffusivity must be one of {DIFFUSIVITIES}, got {self.diffusivity!r}")
        if self.alpha is not None and not 0.0 <= self.alpha <= 0.5:
            raise ValueError(f"alpha must lie in [0, 0.5] or be None, got {self.alpha}")


def eed_field(image: Tensor, options: EEDOptions) -> DiffusionTensor:
    """The EED tensor of ``image`` ``(1, 3, h, w)`` on its dual grid ``(1, 1, h - 1, w - 1)``."""
    structure = structure_tensor(image, options.sigma, options.rho)
    if options.compiled is not False and native_ready(*structure):
        return native_eed_tensor(structure, options.contrast, options.diffusivity == "charbonnier")
    vector, lambda1, _ = dominant_eigen(structure)
    across = diffusivity(lambda1, options.contrast, options.diffusivity)
    return tensor_from_eigen(vector, across, torch.ones_like(across))


def run(problem: Problem, options: EEDOptions) -> Tensor:
    return solve_explicit_diffusion(problem, lambda image: eed_field(image, options), options, options.alpha, "eed")


register(Method("eed", "edge-enhancing diffusion steered by the image's structure tensor", EEDOptions, run, needs_image=True))
