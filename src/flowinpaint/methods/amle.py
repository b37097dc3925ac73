"""``amle``: absolutely minimising Lipschitz extension (the infinity-Laplacian ``u_eta_eta = 0``).

Solved per flow channel by Oberman's (2005) monotone scheme on the 8-neighbourhood: with
``S+ = max_j (u_j - u_i) / d_ij`` and ``S- = max_j (u_i - u_j) / d_ij`` (``d = 1`` or ``sqrt 2``),
the iteration ``u_i <- u_i + (S+ - S-) / 2`` is monotone, so it obeys the minimum-maximum principle
and converges to the discrete AMLE. It runs coarse to fine and stops on a residual test.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..diffusion import auto_levels, coarse_to_fine
from .explicit import mean_filled
from .registry import Method, Problem, register

__all__ = ["AMLEOptions", "infinity_laplacian"]

_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


@dataclass(frozen=True)
class AMLEOptions:
    """Options of ``amle``.

    Attributes:
        tol: stop a level when no unknown pixel changes by more than ``tol`` times the data scale
            (``max(1, max |known flow|)``) in one iteration.
        max_iterations: upper bound on iterations per level (a warning is issued when reached).
        check_every: iterations between residual tests.
        levels: pyramid levels; None picks as many as keep the coarsest side >= 16 pixels.
    """

    tol: float = 1e-5
    max_iterations: int = 20000
    check_every: int = 25
    levels: int | None = None

    def __post_init__(self) -> None:
        if not (self.tol > 0 and math.isfinite(self.tol)):
            raise ValueError(f"tol must be a positive number, got {self.tol}")
        if self.max_iterations < 1 or self.check_every < 1:
            raise ValueError("max_iterations and check_every must be >= 1")
        if self.levels is not None and self.levels < 1:
            raise ValueError(f"levels must be >= 1 or None, got {self.levels}")


def infinity_laplacian(u: Tensor) -> Tensor:
    """Oberman's discrete infinity-Laplacian ``S+ - S-`` with no-flux boundaries.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """
    height, width = u.shape[-2:]
    low = F.pad(u, (1, 1, 1, 1), value=float("inf"))
    high = F.pad(u, (1, 1, 1, 1), value=float("-inf"))
    ascent = torch.full_like(u, float("-inf"))
    descent = torch.full_like(u, float("-inf"))
    for dy, dx in _NEIGHBOURS:
        inv_distance = 1.0 / math.hypot(dy, dx)
        window = (..., slice(1 + dy, 1 + dy + height), slice(1 + dx, 1 + dx + width))
        ascent = torch.maximum(ascent, (high[window] - u) * inv_distance)
        descent = torch.maximum(descent, (u - low[window]) * inv_distance)
    return ascent - descent


def solve_amle_level(start: Tensor, data: Tensor, known: Tensor, options: AMLEOptions) -> tuple[Tensor, float, int]:
    """Iterate to convergence on one level; returns the result, the final residual and iterations."""
    known_values = data.masked_select(known.expand_as(data))
    scale = max(1.0, float(known_values.abs().amax()))
    u = torch.where(known, data, start)
    residual = math.inf
    iterations = 0
    while iterations < options.max_iterations:
        for _ in range(options.check_every):
            update = (0.5 * infinity_laplacian(u)).masked_fill(known, 0.0)
            u = u + update
        iterations += options.check_every
        residual = float(update.abs().amax()) / scale
        if residual <= options.tol:
            break
    return u, residual, iterations


def run(problem: Problem, options: AMLEOptions) -> Tensor:
    height, width = problem.flow.shape[-2:]
    levels = options.levels or auto_levels(height, width)
    if min(height, width) / 2 ** (levels - 1) < 2:
        raise ValueError(f"levels={levels} is too many for a {height}x{width} flow")
    unconverged: list[str] = []

    def solve_level(level: int, start: Tensor, data: Tensor, known: Tensor) -> Tensor:
        if level == levels - 1:
            start = mean_filled(data, known)
        result, residual, iterations = solve_amle_level(start, data, known, options)
        if residual > options.tol:
            unconverged.append(f"level {level}: residual {residual:.2e} after {iterations} iterations")
        return result

    with torch.inference_mode():
        result = coarse_to_fine(problem.flow, problem.known, levels, solve_level)
    if unconverged:
        warnings.warn(f"amle did not converge to tol={options.tol:g} ({'; '.join(unconverged)})", stacklevel=3)
    return result


register(Method("amle", "absolutely minimising Lipschitz extension (infinity-Laplacian); ignores the image", AMLEOptions, run, needs_image=False))
