"""The FSI cycle as a small C kernel (``fsi_kernel.c``), built at first use by the system's C compiler.

TorchInductor compiles the one-pass step of :mod:`.fused` into code that reads the rolled
neighbours lane by lane; the hand-written loop over a zero-bordered state vectorises plainly and
runs an FSI step at 1024x436 several times faster; a cycle whose iterates need not be kept runs
temporally blocked, several steps per pass over each thread's band of rows (``fsi_kernel.c``'s
header; bit-identical results). ``benchmarks/solver_speed.py``, AMD EPYC, 2 threads: 0.38 ms a step
blocked (0.45-0.56 one pass a step, 1.6-1.9 TorchInductor's), 0.6x the copy-bandwidth floor of
0.65 ms since the rows in flight stay in the caches; at 2048x872 1.5 vs 3.5 ms. Where the compiler
targets AVX-512 the rows step in registers, every row of every array starting on a 64-byte line
(:func:`_prepared`): 0.32 ms a step on a 2-core Xeon without AMX (0.47 before; ``docs/speed.md``).
It covers the forward cycle on the CPU in float32, the iterates a training step's backward needs
included (one pass a step); everything else (float64, GPUs, the backward) stays with :mod:`.fused`.

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

__all__ = ["native_applicable", "native_fsi_cycle", "native_library", "native_solve"]

SOURCE = Path(__file__).with_name("fsi_kernel.c")
_POINTER = ctypes.c_void_p
_INT = ctypes.c_int
_ARGUMENTS = [_POINTER] * 6 + [_INT] + [_POINTER] * 3 + [_INT, _POINTER] + [_INT] * 5
_SOLVE_ARGUMENTS = ([_POINTER] * 6 + [_INT] + [_POINTER] * 3 + [_INT, ctypes.c_double, _INT, ctypes.c_double, ctypes.c_long]
                    + [_INT] * 5 + [_POINTER] * 3)


@functools.lru_cache(maxsize=2)
def native_library(*defines: str) -> ctypes.CDLL | None:
    """The loaded kernel library, or None where it cannot be built or loaded (warned once).
    ``defines``: macros to build it with, e.g. ``PORTABLE_STEP`` (the plain C step everywhere, for
    the test that the vectorised step equals it)."""
    library = load_kernel(SOURCE, "native FSI kernel", defines)
    if library is None:
        return None
    library.fsi_cycle.restype = library.fsi_solve.restype = _INT
    library.fsi_cycle.argtypes = _ARGUMENTS
    library.fsi_solve.argtypes = _SOLVE_ARGUMENTS
    for name in ("fsi_row_stride", "fsi_row_lead", "fsi_float_row", "fsi_byte_row"):
        getattr(library, name).restype = ctypes.c_long
        getattr(library, name).argtypes = [] if name == "fsi_row_lead" else [ctypes.c_long]
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
    library = _checked_library(u, tau, step_weights, known, data, *weights)
    states, padded, tau, per_pixel, known, data = _prepared(library, u, weights, tau, known, data)
    step_weights = step_weights.to(torch.float32).contiguous()
    n_steps = step_weights.numel()
    batch, channels, height, width = u.shape
    iterates = u.new_empty(n_steps, batch, channels, height, width) if keep_iterates else None
    result = library.fsi_cycle(
        _pointer(states), *(_pointer(w) for w in padded), _pointer(tau), int(per_pixel), _pointer(known), _pointer(data),
        _pointer(step_weights), n_steps, _pointer(iterates) if iterates is not None else None,
        batch, channels, height, width, torch.get_num_threads(),
    )
    return _image(library, states[result], width).contiguous(), iterates


def native_solve(
    u: Tensor,
    weights: tuple[Tensor, Tensor, Tensor, Tensor],
    tau: Tensor,
    known: Tensor,
    data: Tensor,
    *,
    cycle_steps: int,
    growth: float,
    max_cycle_steps: int,
    tolerance: float,
    max_steps: int,
) -> tuple[Tensor, int, int, float]:
    """FSI cycles from ``u`` until ``max |tau A u|`` over the unknown pixels is at most
    ``tolerance`` (pixels) or ``max_steps`` steps have run, all in the C kernel: the loop of
    :func:`flowinpaint.diffusion.solve_to_convergence` (cycles of ``cycle_steps`` steps, each next
    one ``growth`` times longer, at most ``max_cycle_steps``), with the states and weights set up once.

    Returns:
        The solution ``(B, C, H, W)``, the steps and cycles run, and the final residual (pixels).

    Shape:
        as :func:`native_fsi_cycle`; ``u`` holds the data at the known pixels.
    """
    library = _checked_library(u, tau, known, data, *weights)
    states, padded, tau, per_pixel, known, data = _prepared(library, u, weights, tau, known, data)
    scratch = torch.empty(max(int(cycle_steps), int(max_cycle_steps), 1), dtype=torch.float32)
    steps, cycles, residual = ctypes.c_long(), ctypes.c_long(), ctypes.c_float()
    batch, channels, height, width = u.shape
    result = library.fsi_solve(
        _pointer(states), *(_pointer(w) for w in padded), _pointer(tau), int(per_pixel), _pointer(known), _pointer(data),
        _pointer(scratch), int(cycle_steps), float(growth), int(max_cycle_steps), float(tolerance), int(max_steps),
        batch, channels, height, width, torch.get_num_threads(),
        ctypes.byref(steps), ctypes.byref(cycles), ctypes.byref(residual),
    )
    return _image(library, states[result], width).contiguous(), steps.value, cycles.value, residual.value


def _in_rows(tensor: Tensor, stride: int) -> Tensor:
    """``tensor`` ``(..., n)`` copied into rows of ``stride`` >= n entries (zeros after them), contiguous."""
    if tensor.shape[-1] == stride:
        return tensor.contiguous()
    rows = tensor.new_zeros(*tensor.shape[:-1], stride)
    rows[..., :tensor.shape[-1]] = tensor
    return rows


def _image(library: ctypes.CDLL, state: Tensor, width: int) -> Tensor:
    """The image ``(B, C, H, W)`` in one of the kernel's states ``(B, C, H + 2, stride)`` (a view)."""
    lead = library.fsi_row_lead()
    return state[:, :, 1:-1, lead:lead + width]


def _checked_library(*tensors: Tensor) -> ctypes.CDLL:
    """The library, or a RuntimeError where it cannot run on ``tensors``."""
    library = native_library()
    if library is None or not native_applicable(*tensors):
        raise RuntimeError("the native FSI kernel needs float32 CPU tensors and a C compiler")
    return library


def _prepared(library: ctypes.CDLL, u: Tensor, weights: tuple[Tensor, Tensor, Tensor, Tensor], tau: Tensor,
              known: Tensor, data: Tensor) -> tuple[Tensor, list[Tensor], Tensor, bool, Tensor, Tensor]:
    """The kernel's inputs in its layout, every row starting on a 64-byte line (as torch's
    allocations are; only the speed depends on it): the three states
    ``(3, B, C, H + 2, stride)`` (zero but for the image: :func:`_image`), the second holding ``u``;
    the weights, per-pixel time steps and mask expanded to the batch, in rows of whole lines
    (:func:`_in_rows`); a scalar time step per image; the data expanded, contiguous."""
    batch, channels, height, width = u.shape
    states = u.new_zeros(3, batch, channels, height + 2, library.fsi_row_stride(width))
    _image(library, states[1], width).copy_(u.detach())
    padded = [_in_rows(w.expand(batch, 1, *w.shape[-2:]), library.fsi_float_row(w.shape[-1])) for w in weights]
    per_pixel = tau.dim() == 4 and tuple(tau.shape[-2:]) == (height, width)
    tau = (_in_rows(tau.expand(batch, 1, height, width), library.fsi_float_row(width)) if per_pixel
           else tau.reshape(-1).expand(batch).contiguous())
    known = _in_rows(known.expand(batch, 1, height, width).to(torch.uint8), library.fsi_byte_row(width))
    data = data.expand(batch, channels, height, width).contiguous()
    return states, padded, tau, per_pixel, known, data
