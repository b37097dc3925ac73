"""A fused FSI cycle: one-pass steps (compiled by ``torch.compile``) and a hand-written backward.

The eager step of :func:`flowinpaint.diffusion.solver.fsi_cycle` runs a dozen separate tensor
operations per step, each a full pass over memory, and autograd records all of them. Here:

* the operator is written in gather form, ``(A u)_p = sum_q w_pq (u_q - u_p)`` over the 8
  neighbours, with the neighbours read by ``torch.roll`` and the weights zero-padded (values that
  wrap around the border get weight 0), so that TorchInductor emits one loop per step;
* under autograd the whole cycle is one :class:`torch.autograd.Function` that keeps only the
  iterates ``u^0 .. u^{n-1}``. Its backward runs the cycle's adjoint: every step is linear in
  ``u`` and ``A`` is symmetric, so the gradient goes back through the same stencil, and the
  gradient of a pair weight ``w_pq`` is ``-sum_k c_k (g_q - g_p)(u_q - u_p)``, summed over the
  channels, with ``g`` the step's masked, time-step-scaled output gradient.

The compiled kernels need a C++ compiler; where it is missing or compilation fails, the same
kernels run eagerly (identical up to floating-point summation order). With the compiled kernels,
the forward cycle of float32 CPU tensors runs the native C kernel of :mod:`.native` instead of
TorchInductor's step (two to four times faster, no compilation per image size), also when a
training step keeps the iterates for the backward. The time step ``tau`` is a
constant of the cycle: it receives no gradient (the solver's time steps are all detached).
"""

from __future__ import annotations

import functools
import shutil
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .native import native_applicable, native_fsi_cycle, native_solve
from .solver import (
    ConvergenceInfo,
    data_scale,
    fsi_cycle,
    fsi_weights,
    solve_to_convergence,
)
from .stencil import Stencil

__all__ = ["PaddedStencil", "fused_available", "fused_fsi_cycle", "fused_solve_to_convergence", "pad_stencil"]


class PaddedStencil(NamedTuple):
    """The pair weights zero-padded so every pixel reads its 8 neighbour weights by offset.

    Shape:
        east: ``(B, 1, H, W + 1)``; south: ``(B, 1, H + 1, W)``;
        south_east, south_west: ``(B, 1, H + 1, W + 1)``.
    """

    east: Tensor
    south: Tensor
    south_east: Tensor
    south_west: Tensor


def pad_stencil(stencil: Stencil) -> PaddedStencil:
    """Pad each weight array so that pixel ``(y, x)`` finds both of its pairs of each kind."""
    return PaddedStencil(
        F.pad(stencil.east, (1, 1)),
        F.pad(stencil.south, (0, 0, 1, 1)),
        F.pad(stencil.south_east, (1, 1, 1, 1)),
        F.pad(stencil.south_west, (1, 1, 1, 1)),
    )


def _gather_operator(u: Tensor, weights: PaddedStencil) -> Tensor:
    """``A u`` in gather form; ``u`` is ``(B, C, H, W)``."""
    east, south, south_east, south_west = weights

    def neighbour(dy: int, dx: int) -> Tensor:
        return torch.roll(u, shifts=(-dy, -dx), dims=(-2, -1)) - u

    return (
        east[..., :, 1:] * neighbour(0, 1)
        + east[..., :, :-1] * neighbour(0, -1)
        + south[..., 1:, :] * neighbour(1, 0)
        + south[..., :-1, :] * neighbour(-1, 0)
        + south_east[..., 1:, 1:] * neighbour(1, 1)
        + south_east[..., :-1, :-1] * neighbour(-1, -1)
        + south_west[..., 1:, :-1] * neighbour(1, -1)
        + south_west[..., :-1, 1:] * neighbour(-1, 1)
    )


def _forward_step(
    u: Tensor, previous: Tensor, weights: PaddedStencil, known: Tensor, data: Tensor, tau: Tensor, weight: Tensor
) -> Tensor:
    """One FSI step ``w (u + tau A u) + (1 - w) previous`` with the known pixels re-imposed."""
    step = weight * (u + tau * _gather_operator(u, weights)) + (1.0 - weight) * previous
    return torch.where(known, data, step)


def _backward_step(
    grad: Tensor,
    scaled: Tensor,
    carry: Tensor,
    u: Tensor,
    weights: PaddedStencil,
    known: Tensor,
    tau: Tensor,
    weight: Tensor,
    *pair_grads: Tensor,
) -> tuple[Tensor, ...]:
    """The adjoint of one :func:`_forward_step` ``u^{k+1} = step(u^k, u^{k-1})``.

    Args:
        grad: the gradient reaching ``u^{k+1}``; scaled: ``tau * grad`` with the known pixels
            zeroed (materialised by the caller: reading a computed field at 8 offsets is slow);
        carry: the gradient reaching ``u^k`` through the ``(1 - w)`` term of step ``k + 1``;
        u: ``u^k``; pair_grads: the pair-weight gradients so far (shapes of :class:`Stencil`).

    Returns:
        ``grad`` and ``scaled`` for ``u^k``, the ``carry`` for ``u^{k-1}``, and ``pair_grads``
        with this step's terms ``-w (s_q - s_p)(u_q - u_p)`` (summed over channels) added.
    """
    free = grad.masked_fill(known, 0.0)
    grad_before = carry + weight * (free + _gather_operator(scaled, weights))

    def product(q: tuple[slice, slice], p: tuple[slice, slice]) -> Tensor:
        return ((scaled[..., q[0], q[1]] - scaled[..., p[0], p[1]]) * (u[..., q[0], q[1]] - u[..., p[0], p[1]])).sum(1, keepdim=True)

    every, head, tail = slice(None), slice(None, -1), slice(1, None)
    pairs = (((every, tail), (every, head)), ((tail, every), (head, every)), ((tail, tail), (head, head)), ((tail, head), (head, tail)))
    updated = tuple(total - weight * product(q, p) for total, (q, p) in zip(pair_grads, pairs))
    return (grad_before, tau * grad_before.masked_fill(known, 0.0), (1.0 - weight) * grad.masked_fill(known, 0.0), *updated)


class Kernels(NamedTuple):
    """The two per-step kernels, compiled or eager."""

    forward: Callable[..., Tensor]
    backward: Callable[..., Any]


EAGER = Kernels(_forward_step, _backward_step)


def _compiled_on_first_call(function: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.compile(function)``, compiled when first called: importing TorchInductor alone takes
    seconds, which a run that only uses the native kernel should not pay."""
    compiled: Callable[..., Any] | None = None

    def run(*args: Any) -> Any:
        nonlocal compiled
        if compiled is None:
            # One compiled variant per image size and pyramid level: allow more than the default 8
            # (the setting is called cache_size_limit before PyTorch 2.7).
            config = torch._dynamo.config
            name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
            setattr(config, name, max(getattr(config, name), 64))
            compiled = torch.compile(function, dynamic=False)
        return compiled(*args)

    return run


@functools.lru_cache(maxsize=1)
def _compiled_kernels() -> Kernels | None:
    if shutil.which("g++") is None and shutil.which("c++") is None:
        return None
    return Kernels(_compiled_on_first_call(_forward_step), _compiled_on_first_call(_backward_step))


_FAILED = False


def fused_available() -> bool:
    """Whether the compiled kernels can be used (a C++ compiler exists and no compile has failed)."""
    return not _FAILED and _compiled_kernels() is not None


def _run_kernel(kernel: Callable[..., Any], eager: Callable[..., Any], *args: Any) -> Any:
    """``kernel(*args)``, or ``eager(*args)`` for good (with a warning) if compiling it fails."""
    global _FAILED
    if kernel is eager or _FAILED:
        return eager(*args)
    try:
        return kernel(*args)
    except Exception as error:  # noqa: BLE001 - compiler failures surface as many exception types
        _FAILED = True
        warnings.warn(f"compiled diffusion step unavailable ({type(error).__name__}: {error}); using eager steps", stacklevel=3)
        return eager(*args)


def _forward_cycle(
    kernels: Kernels,
    u: Tensor,
    weights: PaddedStencil,
    tau: Tensor,
    steps: Tensor,
    known: Tensor,
    data: Tensor,
    iterates: list[Tensor] | None = None,
) -> Tensor:
    """The end of one cycle (``u^{-1} = u^0``); appends ``u^0 .. u^{n-1}`` to ``iterates`` if given."""
    if kernels is not EAGER and native_applicable(u, tau, steps, known, data, *weights):
        end, kept = native_fsi_cycle(u, weights, tau, steps, known, data, keep_iterates=iterates is not None)
        if iterates is not None and kept is not None:
            iterates.extend(kept.unbind(0))
        return end
    previous = u.clone()  # distinct storage: an aliased pair of inputs would need its own compile
    for weight in steps:
        if iterates is not None:
            iterates.append(u)
        previous, u = u, _run_kernel(kernels.forward, EAGER.forward, u, previous, weights, known, data, tau, weight)
    return u


class _FSICycle(torch.autograd.Function):
    """One FSI cycle as a single autograd node (inputs: start, the four weights, tau, mask, data)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        u: Tensor,
        east: Tensor,
        south: Tensor,
        south_east: Tensor,
        south_west: Tensor,
        tau: Tensor,
        known: Tensor,
        data: Tensor,
        steps: Tensor,
        kernels: Kernels,
    ) -> Tensor:
        weights = pad_stencil(Stencil(east, south, south_east, south_west))
        iterates: list[Tensor] = []
        end = _forward_cycle(kernels, u, weights, tau, steps, known, data, iterates)
        ctx.kernels = kernels
        ctx.save_for_backward(east, south, south_east, south_west, tau, known, steps, *iterates)
        return end

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        east, south, south_east, south_west, tau, known, steps, *iterates = ctx.saved_tensors
        weights = pad_stencil(Stencil(east, south, south_east, south_west))
        pair_grads = [torch.zeros_like(w) for w in (east, south, south_east, south_west)]
        data_grad = torch.zeros_like(grad) if ctx.needs_input_grad[7] else None
        scaled = tau * grad.masked_fill(known, 0.0)
        carry = torch.zeros_like(grad)
        for k in reversed(range(len(iterates))):
            if data_grad is not None:
                data_grad += grad.masked_fill(~known, 0.0)
            grad, scaled, carry, *pair_grads = _run_kernel(
                ctx.kernels.backward, EAGER.backward, grad, scaled, carry, iterates[k], weights, known, tau, steps[k], *pair_grads
            )
        return (grad + carry, *pair_grads, None, None, data_grad, None, None)  # u^{-1} = u^0: carry joins grad


def fused_fsi_cycle(
    u: Tensor,
    stencil: Stencil,
    tau: float | Tensor,
    n_steps: int,
    known: Tensor,
    data: Tensor,
    *,
    compiled: bool = True,
) -> Tensor:
    """:func:`flowinpaint.diffusion.fsi_cycle` with one-pass steps and a memory-lean backward.

    Under autograd the cycle is one graph node that stores only the iterates and back-propagates
    through the adjoint cycle (see the module docstring); gradients reach ``u``, the stencil's
    weights and ``data``. A ``tau`` that requires grad is not supported by that node, so the
    cycle then runs the plain :func:`fsi_cycle`.

    Args:
        compiled: run the compiled kernels (False, or no C++ compiler: the same kernels eagerly;
            they fall back to eager for good, with a warning, if compilation fails).

    Shape:
        u, data: ``(B, C, H, W)``; known: ``(B, 1, H, W)`` bool; tau: float, ``(B, 1, 1, 1)`` or
        per pixel ``(B, 1, H, W)``.
    """
    tau = torch.as_tensor(tau, dtype=u.dtype, device=u.device)
    if tau.requires_grad:
        return fsi_cycle(u, stencil, tau, n_steps, known, data)
    kernels = _compiled_kernels() if compiled and fused_available() else None
    kernels = kernels or EAGER
    # 0-d tensors, not Python floats, so that the compiled code is not specialised per value.
    steps = torch.tensor(fsi_weights(n_steps), dtype=u.dtype, device=u.device)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (u, data, *stencil)):
        return _FSICycle.apply(u, *stencil, tau, known, data, steps, kernels)
    with torch.no_grad():
        return _forward_cycle(kernels, u, pad_stencil(stencil), tau, steps, known, data)


def fused_solve_to_convergence(
    u: Tensor,
    stencil: Stencil,
    tau: float | Tensor,
    known: Tensor,
    data: Tensor,
    *,
    cycle_steps: int,
    growth: float = 1.0,
    max_cycle_steps: int = 1000,
    tol: float = 1e-5,
    max_steps: int = 100_000,
    compiled: bool = True,
) -> tuple[Tensor, ConvergenceInfo]:
    """:func:`flowinpaint.diffusion.solve_to_convergence` with :func:`fused_fsi_cycle`'s cycles.

    Without gradients, on float32 CPU tensors, with ``compiled`` and a C compiler, the whole loop
    (cycles and residual tests) runs in the native kernel (:func:`.native.native_solve`), its
    inputs set up once instead of per cycle; the same cycles and stopping test, to float rounding.

    Shape:
        as :func:`fused_fsi_cycle`.
    """
    tau = torch.as_tensor(tau, dtype=u.dtype, device=u.device)
    weights = None
    if compiled and not (torch.is_grad_enabled() and any(t.requires_grad for t in (u, data, tau, *stencil))):
        weights = pad_stencil(stencil)
    if weights is None or not native_applicable(u, tau, known, data, *weights):
        return solve_to_convergence(u, stencil, tau, known, data, cycle_steps=cycle_steps, growth=growth,
                                    max_cycle_steps=max_cycle_steps, tol=tol, max_steps=max_steps,
                                    cycle=functools.partial(fused_fsi_cycle, compiled=compiled))
    u = torch.where(known, data, u)
    scale = data_scale(known, data)
    solution, steps, cycles, residual = native_solve(u, weights, tau, known, data, cycle_steps=cycle_steps,
                                                     growth=growth, max_cycle_steps=max_cycle_steps,
                                                     tolerance=tol * scale, max_steps=max_steps)
    return solution, ConvergenceInfo(cycles, steps, residual / scale, residual <= tol * scale)
