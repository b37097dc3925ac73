"""A fused FSI step: the whole update in one pass over memory, compiled by ``torch.compile``.

The eager step (:func:`flowinpaint.diffusion.solver.fsi_cycle`) runs a dozen separate tensor
operations per step, each a full pass over memory. Here the operator is written in gather form,
``(A u)_p = sum_q w_pq (u_q - u_p)`` over the 8 neighbours, with the neighbours read by
``torch.roll`` and the weights zero-padded (so values that wrap around the border get weight
0), so that TorchInductor emits one loop per step. The compiled code needs a C++ compiler; where
it is missing or compilation fails, the eager path runs instead: it computes the same update
(identical up to floating-point summation order).
"""

from __future__ import annotations

import functools
import shutil
import warnings
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .solver import fsi_cycle, fsi_weights
from .stencil import Stencil

__all__ = ["PaddedStencil", "pad_stencil", "fused_available", "fused_fsi_cycle"]


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


def _fsi_update(
    u: Tensor, previous: Tensor, weights: PaddedStencil, known: Tensor, data: Tensor, tau: Tensor, weight: Tensor
) -> Tensor:
    """One FSI step with the known pixels re-imposed."""
    step = weight * (u + tau * _gather_operator(u, weights)) + (1.0 - weight) * previous
    return torch.where(known, data, step)


@functools.lru_cache(maxsize=1)
def _compiled_update() -> Callable[..., Tensor] | None:
    if shutil.which("g++") is None and shutil.which("c++") is None:
        return None
    # One compiled variant per image size and pyramid level: allow more than the default 8
    # (the setting is called cache_size_limit before PyTorch 2.7).
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), 64))
    return torch.compile(_fsi_update, dynamic=False)


_FAILED = False


def fused_available() -> bool:
    """Whether the compiled step can be used (a C++ compiler exists and no compile has failed)."""
    return not _FAILED and _compiled_update() is not None


def fused_fsi_cycle(
    u: Tensor, stencil: Stencil, tau: float | Tensor, n_steps: int, known: Tensor, data: Tensor
) -> Tensor:
    """:func:`flowinpaint.diffusion.fsi_cycle` with the compiled one-pass step.

    Runs the eager :func:`fsi_cycle` instead where no compiler exists, and falls back to it for
    good (with a warning) if compilation fails.

    Shape:
        u, data: ``(B, C, H, W)``; known: ``(B, 1, H, W)`` bool; tau: float or ``(B, 1, 1, 1)``.
    """
    global _FAILED
    if not fused_available():
        return fsi_cycle(u, stencil, tau, n_steps, known, data)
    weights = pad_stencil(stencil)
    tau = torch.as_tensor(tau, dtype=u.dtype, device=u.device)
    previous = u.clone()  # distinct storage: an aliased pair of inputs would need its own compile
    try:
        # 0-d tensors, not Python floats, so that the compiled code is not specialised per value.
        for weight in torch.tensor(fsi_weights(n_steps), dtype=u.dtype, device=u.device):
            previous, u = u, _compiled_update()(u, previous, weights, known, data, tau, weight)
    except Exception as error:  # compiler failures surface as many exception types
        _FAILED = True
        warnings.warn(f"compiled diffusion step unavailable ({type(error).__name__}: {error}); using eager steps", stacklevel=2)
        return fsi_cycle(u, stencil, tau, n_steps, known, data)
    return u
