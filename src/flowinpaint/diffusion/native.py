"""The FSI cycle as a small C kernel (``fsi_kernel.c``), built at first use by the system's C compiler.

TorchInductor compiles the one-pass step of :mod:`.fused` into code that reads the rolled
neighbours lane by lane; the hand-written loop over a zero-bordered state vectorises plainly and
runs an FSI step at 1024x436 several times faster (``benchmarks/solver_speed.py``, AMD EPYC, 2
threads: 0.44 vs 1.60 ms per step, below the copy-bandwidth floor of 0.74 ms since the step's
arrays stay in the caches). It covers the forward cycle on the CPU in float32, the iterates a
training step's backward needs included; everything else (float64, GPUs, the backward) stays with
:mod:`.fused`.

The shared library is built once per machine (:mod:`flowinpaint.cbuild`); without a compiler, or
when the build fails, :func:`native_library` is None (with one warning) and the callers use the
torch kernels.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch
from torch import Tensor

from ..cbuild import load_kernel

__all__ = ["native_applicable", "native_fsi_cycle", "native_library"]

SOURCE = Path(__file__).with_name("fsi_kernel.c")
_POINTER = ctypes.c_void_p
_INT = ctypes.c_int
_ARGUMENTS = [_POINTER] * 6 + [_INT] + [_POINTER] * 3 + [_INT, _POINTER] + [_INT] * 5


@functools.lru_cache(maxsize=1)
def native_library() -> ctypes.CDLL | None:
    """The loaded kernel library, or None where it cannot be built or loaded (warned once)."""
    library = load_kernel(SOURCE, "native FSI kernel")
    if library is None:
        return None
    library.fsi_cycle.restype = _INT
    library.fsi_cycle.argtypes = _ARGUMENTS
    return library


def native_applicable(*tensors: Tensor) -> bool:
    """Whether the native kernel can run on these tensors (all float32 or bool, on the CPU) and
    the library is available. The kernel records no autograd graph: callers run it without grad
    or inside an autograd function of their own."""
    return all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.bool) for t in tensors) and native_library() is not None


def _pointer(tensor: Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(tensor.data_ptr())


def native_fsi_cycle(
    u: Tensor,
    weights: tuple[Tensor, Tensor, Tensor, Tensor],
    tau: Tensor,
    step_weights: Tensor,
    known: Tensor,
    data: Tensor,
    *,
    keep_iterates: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """The end of one FSI cycle from ``u`` (``u^{-1} = u^0``), and optionally its iterates.

    Args:
        weights: the padded pair weights (:class:`~.fused.PaddedStencil`).
        tau: 0-d, ``(B, 1, 1, 1)`` or per pixel ``(B, 1, H, W)``.
        step_weights: the FSI weights of the cycle's steps, ``(n,)``.
        keep_iterates: also return ``u^0 .. u^{n-1}`` as one ``(n, B, C, H, W)`` tensor.

    Shape:
        u, data: ``(B, C, H, W)`` float32 on the CPU; known: ``(B, 1, H, W)`` bool.
    """
    library = native_library()
    if library is None or not native_applicable(u, tau, step_weights, known, data, *weights):
        raise RuntimeError("the native FSI kernel needs float32 CPU tensors and a C compiler")
    batch, channels, height, width = u.shape
    states = u.new_zeros(3, batch, channels, height + 2, width + 2)
    states[:2, :, :, 1:-1, 1:-1] = u.detach()
    padded = [w.expand(batch, 1, *w.shape[-2:]).contiguous() for w in weights]
    per_pixel = tau.dim() == 4 and tuple(tau.shape[-2:]) == (height, width)
    tau = tau.expand(batch, 1, height, width).contiguous() if per_pixel else tau.reshape(-1).expand(batch).contiguous()
    known = known.expand(batch, 1, height, width).to(torch.uint8).contiguous()
    data = data.expand(batch, channels, height, width).contiguous()
    step_weights = step_weights.to(torch.float32).contiguous()
    n_steps = step_weights.numel()
    iterates = u.new_empty(n_steps, batch, channels, height, width) if keep_iterates else None
    result = library.fsi_cycle(
        _pointer(states), *(_pointer(w) for w in padded), _pointer(tau), int(per_pixel), _pointer(known), _pointer(data),
        _pointer(step_weights), n_steps, _pointer(iterates) if iterates is not None else None,
        batch, channels, height, width, torch.get_num_threads(),
    )
    return states[result, :, :, 1:-1, 1:-1].contiguous(), iterates
