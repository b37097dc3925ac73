"""The shared driver of the explicit tensor-diffusion methods (laplace, lb, eed).

Each method supplies a function that turns the reference image of a pyramid level into a
diffusion tensor on the dual grid; this module chooses the stencil parameter alpha and solves the
inpainting problem to its steady state level by level, coarse to fine, with FSI cycles and
per-pixel (Jacobi-scaled) time steps, which reach the same steady state as the scalar step in
far fewer steps where diffusivities vary.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..diffusion import (
    DiffusionTensor,
    auto_levels,
    coarse_to_fine,
    downsample_image,
    nonnegative_alpha_bounds,
    pixel_time_step,
    solve_to_convergence,
    www_stencil,
)
from ..diffusion.fused import fused_solve_to_convergence
from ..diffusion.native import native_library
from ..diffusion.stencil_native import native_ready, native_www_stencil
from .registry import Problem

__all__ = ["SolverOptions", "cycle_length", "mean_filled", "solve_explicit_diffusion"]

TensorField = Callable[[Tensor], DiffusionTensor]
FLOAT32_MIN_TOL = 5e-6
COMPILED_MIN_PIXELS = 262_144


def use_compiled(option: bool | None, height: int, width: int, *, float32_cpu: bool) -> bool:
    """The ``compiled`` option of a diffusion method: None means yes where the native kernel runs
    (``float32_cpu``: the method computes in float32 on the CPU, and the kernel builds; no cost
    per image size), else from ``COMPILED_MIN_PIXELS`` pixels up, where TorchInductor's
    compilation (seconds per new size) repays itself."""
    if option is not None:
        return option
    return (float32_cpu and native_library() is not None) or height * width >= COMPILED_MIN_PIXELS


@dataclass(frozen=True)
class SolverOptions:
    """Options shared by the explicit methods.

    Attributes:
        tol: stop a level when one more explicit step would change no unknown pixel by more than
            ``tol`` times the data scale (``max(1, max |known flow|)`` pixels).
        max_steps: upper bound on explicit steps per level (a warning is issued when reached).
        levels: pyramid levels; None picks as many as keep the coarsest side >= 16 pixels.
        dtype: ``"float32"`` (fast) or ``"float64"``; float32 rounding, amplified by the FSI
            extrapolation, limits ``tol`` to at least 5e-6.
        compiled: use the compiled one-pass step (:mod:`flowinpaint.diffusion.fused`; the
            native C kernel where a C compiler exists) and the levels' set-up in C
            (:mod:`flowinpaint.diffusion.stencil_native`; the same weights); None uses them wherever the native kernels
            run (float32 and a C compiler), else the step on levels of at least 262,144 pixels, where TorchInductor's compilation
            (seconds per new size, cached on disk by PyTorch) repays itself; False: the torch code.
    """

    tol: float = 1e-5
    max_steps: int = 100_000
    levels: int | None = None
    dtype: str = "float32"
    compiled: bool | None = None

    def __post_init__(self) -> None:
        if not (self.tol > 0 and math.isfinite(self.tol)):
            raise ValueError(f"tol must be a positive number, got {self.tol}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.levels is not None and self.levels < 1:
            raise ValueError(f"levels must be >= 1 or None, got {self.levels}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.dtype == "float32" and self.tol < FLOAT32_MIN_TOL:
            raise ValueError(f"tol={self.tol:g} is below float32 rounding ({FLOAT32_MIN_TOL:g}); pass dtype='float64'")


def cycle_length(known: Tensor) -> int:
    """FSI steps per cycle for a level: about twice the typical gap between known pixels."""
    density = float(known.float().mean())
    gap = 1.0 / math.sqrt(max(density, 1e-6))
    return int(min(max(round(2 * gap), 10), 300))


def mean_filled(data: Tensor, known: Tensor) -> Tensor:
    """``data`` with every unknown pixel set to the mean of the known values of its channel.

    A better start for the coarsest level of an explicit solve than zeros: constant data are
    then exact from the first step.

    Shape:
        data ``(B, C, h, w)``, known ``(B, 1, h, w)`` -> ``(B, C, h, w)``.
    """
    weight = known.to(data.dtype)
    mean = (data * weight).sum(dim=(2, 3), keepdim=True) / weight.sum(dim=(2, 3), keepdim=True).clamp_min(1)
    return torch.where(known, data, mean)


def stencil_alpha(cells: DiffusionTensor, alpha: float | None) -> Tensor:
    """The per-cell alpha: ``alpha`` if given, else the midpoint of the non-negative range.

    Where no alpha makes the cell's weights non-negative (``|b| > min(a, c)``), the midpoint rule
    gives 0, the value with the smallest negative weights.
    """
    if alpha is not None:
        return torch.full_like(cells.a, alpha)
    _, high = nonnegative_alpha_bounds(cells)
    return high.clamp_min(0.0) / 2


def solve_explicit_diffusion(
    problem: Problem, tensor_field: TensorField, options: SolverOptions, alpha: float | None, method: str
) -> Tensor:
    """Inpaint ``problem.flow`` with ``div(D grad u) = 0`` coarse to fine.

    Args:
        problem: the validated problem.
        tensor_field: maps a level's image ``(1, 3, h, w)`` (or a zero ``(1, 1, h, w)`` field when
            the problem has no image) to the tensor cells ``(1, 1, h - 1, w - 1)``.
        options: solver options.
        alpha: fixed stencil parameter in [0, 1/2], or None for the per-cell rule of
            :func:`stencil_alpha`.
        method: the method's name, for warnings.

    Returns:
        The dense flow ``(1, 2, H, W)``.
    """
    height, width = problem.flow.shape[-2:]
    levels = options.levels or auto_levels(height, width)
    if min(height, width) / 2 ** (levels - 1) < 2:
        raise ValueError(f"levels={levels} is too many for a {height}x{width} flow")
    dtype = getattr(torch, options.dtype)
    flow, known = problem.flow.to(dtype), problem.known
    guide = problem.image.to(dtype) if problem.image is not None else torch.zeros_like(flow[:, :1])
    guides = [guide]
    for _ in range(levels - 1):
        guides.append(downsample_image(guides[-1]))
    unconverged: list[str] = []

    def solve_level(level: int, start: Tensor, data: Tensor, known: Tensor) -> Tensor:
        if bool(known.all()):
            return data
        if level == levels - 1:
            start = mean_filled(data, known)
        cells = tensor_field(guides[level])
        compiled = use_compiled(options.compiled, *known.shape[-2:], float32_cpu=dtype == torch.float32)
        if compiled and native_ready(*cells):
            stencil, tau = native_www_stencil(cells, alpha)  # the same weights, in three passes
        else:
            stencil = www_stencil(cells, stencil_alpha(cells, alpha))
            tau = pixel_time_step(stencil)
        solve = fused_solve_to_convergence if compiled else solve_to_convergence
        result, info = solve(start, stencil, tau, known, data, cycle_steps=cycle_length(known), growth=1.5,
                             tol=options.tol, max_steps=options.max_steps)
        if not info.converged:
            unconverged.append(f"level {level}: residual {info.residual:.2e} after {info.steps} steps")
        return result

    with torch.inference_mode():
        result = coarse_to_fine(flow, known, levels, solve_level)
    if unconverged:
        warnings.warn(f"{method} did not converge to tol={options.tol:g} ({'; '.join(unconverged)})", stacklevel=3)
    return result
