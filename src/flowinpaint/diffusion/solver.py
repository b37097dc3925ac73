"""Explicit diffusion inpainting: the explicit step, Fast Semi-Iterative cycles, convergence.

Every function works on batched fields ``u`` of shape ``(B, C, H, W)`` with a boolean mask
``known`` of shape ``(B, 1, H, W)`` (True = Dirichlet datum) and the data ``data`` of shape
``(B, C, H, W)`` (only its values at known pixels matter). Everything is differentiable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .stencil import Stencil, apply_stencil, centre_weight

__all__ = [
    "ConvergenceInfo",
    "data_scale",
    "explicit_step",
    "fsi_cycle",
    "fsi_weights",
    "pixel_time_step",
    "safe_time_step",
    "solve_to_convergence",
    "www_time_step",
]


def www_time_step(alpha: Tensor | float) -> Tensor:
    """The spec's stable time step ``tau = 1 / (4 (1 - min alpha))`` for eigenvalues <= 1.

    Args:
        alpha: the discretisation parameters, a float or ``(B, 1, h, w)``; the minimum is taken
            per batch element.

    Returns:
        ``(B, 1, 1, 1)`` (or a 0-d tensor for a float ``alpha``).
    """
    alpha = torch.as_tensor(alpha)
    min_alpha = alpha.amin(dim=(1, 2, 3), keepdim=True) if alpha.dim() == 4 else alpha
    return 1.0 / (4.0 * (1.0 - min_alpha.detach()))


def safe_time_step(stencil: Stencil) -> Tensor:
    """The general bound ``tau = 1 / max_p sum_q |w_pq|`` per batch element, ``(B, 1, 1, 1)``."""
    bound = centre_weight(stencil).detach().amax(dim=(1, 2, 3), keepdim=True)
    return 1.0 / bound.clamp_min(torch.finfo(bound.dtype).tiny)


def pixel_time_step(stencil: Stencil) -> Tensor:
    """Per-pixel time steps ``tau_p = 1 / sum_q |w_pq|`` (Jacobi scaling), ``(B, 1, H, W)``.

    ``u + tau_p (A u)_p`` has the same steady state as any scalar step, and its spectrum lies in
    ``[-2, 0]`` for every stencil (Gershgorin, and ``diag(tau) A`` is similar to a symmetric
    matrix), so FSI stays stable. Pixels with small weights (weak diffusion) get larger steps, so
    every region approaches the steady state at a similar rate: the explicit methods use it to
    converge in far fewer steps than with the scalar bound.
    """
    return 1.0 / centre_weight(stencil).detach().clamp_min(torch.finfo(stencil.east.dtype).tiny)


def fsi_weights(n_steps: int) -> list[float]:
    """The FSI extrapolation weights ``(4k + 2) / (2k + 3)``, ``k = 0 .. n_steps - 1``."""
    return [(4 * k + 2) / (2 * k + 3) for k in range(n_steps)]


def explicit_step(u: Tensor, stencil: Stencil, tau: Tensor | float, known: Tensor, data: Tensor) -> Tensor:
    """One explicit step ``u + tau A u`` with the known pixels re-imposed.

    Shape:
        u, data: ``(B, C, H, W)``; known: ``(B, 1, H, W)`` bool; tau: float or ``(B, 1, 1, 1)``.
    """
    return torch.where(known, data, u + tau * apply_stencil(u, stencil))


def fsi_cycle(
    u: Tensor, stencil: Stencil, tau: Tensor | float, n_steps: int, known: Tensor, data: Tensor
) -> Tensor:
    """One Fast Semi-Iterative cycle of ``n_steps`` steps (Hafner et al. 2016).

    ``u^{k+1} = w_k (u^k + tau A u^k) + (1 - w_k) u^{k-1}`` with ``u^{-1} = u^0`` and
    ``w_k = (4k + 2) / (2k + 3)``; the known pixels are re-imposed after every step.

    Shape:
        as :func:`explicit_step`.
    """
    previous = u
    for weight in fsi_weights(n_steps):
        extrapolated = weight * (u + tau * apply_stencil(u, stencil)) + (1.0 - weight) * previous
        previous, u = u, torch.where(known, data, extrapolated)
    return u


@dataclass(frozen=True)
class ConvergenceInfo:
    """How a solve ended.

    Attributes:
        cycles: FSI cycles run.
        steps: explicit steps run in total.
        residual: final ``max |tau A u|`` over unknown pixels divided by the data scale.
        converged: whether ``residual <= tol`` was reached before ``max_steps``.
    """

    cycles: int
    steps: int
    residual: float
    converged: bool


def relative_residual(u: Tensor, stencil: Stencil, tau: Tensor | float, known: Tensor, scale: float,
                      cycle: Callable[..., Tensor] | None = None) -> float:
    """``max |tau A u|`` over the unknown pixels, divided by ``scale`` (a float).

    With ``cycle`` (an FSI cycle implementation) the update is taken from one step of it, whose
    change at the unknown pixels is ``w_1 tau A u`` (``u`` must hold the data at the known
    pixels): with the native kernel that is twice as fast as the stencil in torch.
    """
    if cycle is None:
        update = (tau * apply_stencil(u, stencil)).masked_fill(known, 0.0)
    else:
        update = (cycle(u, stencil, tau, 1, known, u) - u) / fsi_weights(1)[0]
    return float(update.abs().amax()) / scale


def data_scale(known: Tensor, data: Tensor) -> float:
    """The scale the stopping test is relative to: ``max(1, max |data at the known pixels|)``."""
    return max(1.0, float(torch.where(known, data.abs(), 0.0).amax()))


def solve_to_convergence(
    u: Tensor,
    stencil: Stencil,
    tau: Tensor | float,
    known: Tensor,
    data: Tensor,
    *,
    cycle_steps: int,
    growth: float = 1.0,
    max_cycle_steps: int = 1000,
    tol: float = 1e-5,
    max_steps: int = 100_000,
    cycle: Callable[..., Tensor] | None = None,
) -> tuple[Tensor, ConvergenceInfo]:
    """Repeat FSI cycles until the steady state ``A u = 0`` on the unknown pixels is reached.

    The stopping test is residual based: after each cycle, the largest change one explicit
    step would still make on an unknown pixel, ``max |tau A u|``, relative to the data scale
    ``max(1, max |data on known|)``, must be at most ``tol``.

    Args:
        u: the start, ``(B, C, H, W)`` (known pixels are re-imposed first).
        stencil: the discrete operator.
        tau: a stable time step: a scalar (:func:`www_time_step`, :func:`safe_time_step`) or a
            per-pixel field ``(B, 1, H, W)`` (:func:`pixel_time_step`).
        known: ``(B, 1, H, W)`` bool.
        data: ``(B, C, H, W)``.
        cycle_steps: steps of the first FSI cycle.
        growth: factor by which each further cycle is longer (1 = fixed length): short cycles
            stop early on easy problems, long ones damp the slow modes of hard ones.
        max_cycle_steps: the longest cycle ``growth`` may reach.
        tol: relative residual at which to stop.
        max_steps: upper bound on explicit steps in total (the last cycle may end past it).
        cycle: the FSI cycle implementation, :func:`fsi_cycle` (default) or
            :func:`flowinpaint.diffusion.fused.fused_fsi_cycle`.

    Returns:
        The solution ``(B, C, H, W)`` and a :class:`ConvergenceInfo`.
    """
    u = torch.where(known, data, u)
    scale = data_scale(known, data)
    residual = relative_residual(u, stencil, tau, known, scale, cycle)
    run_cycle = cycle or fsi_cycle
    cycles = steps = 0
    length = float(cycle_steps)
    while residual > tol and steps < max_steps:
        u = run_cycle(u, stencil, tau, round(length), known, data)
        cycles += 1
        steps += round(length)
        length = min(length * growth, float(max_cycle_steps))
        residual = relative_residual(u, stencil, tau, known, scale, cycle)
    return u, ConvergenceInfo(cycles, steps, residual, residual <= tol)
