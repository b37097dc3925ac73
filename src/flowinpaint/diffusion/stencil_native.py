"""An explicit diffusion level's image-driven set-up as one C pass each (``stencil_kernel.c``).

The torch code computes a level's structure tensor, EED tensor, stencil weights and time steps as a
chain of ~30 whole-array operations; for ``eed`` at 1024x436 and 1 % known they took ~40 ms of the
method's ~200 ms (its FSI solves ~140 ms). The kernel computes the same values operation by
operation in the same order, in three passes; its results equal the torch code's (a test checks
them, the stencil to the bit). Used without gradients on float32 CPU tensors of one frame
(``(1, C, H, W)``), on torch's thread count; everything else (training, float64, GPUs, batches) stays with the torch code.

The shared library is built once per machine (:mod:`flowinpaint.cbuild`); without a compiler, or
when the build fails, :func:`stencil_library` is None (with one warning) and the callers use the
torch code.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch
from torch import Tensor

from ..cbuild import load_kernel
from .stencil import Stencil
from .tensor import DiffusionTensor

__all__ = ["native_eed_tensor", "native_gradient_outer_product", "native_ready", "native_www_stencil", "stencil_library"]

SOURCE = Path(__file__).with_name("stencil_kernel.c")
_POINTER, _INT, _FLOAT = ctypes.c_void_p, ctypes.c_int, ctypes.c_float


@functools.lru_cache(maxsize=1)
def stencil_library() -> ctypes.CDLL | None:
    """The loaded kernel library, or None where it cannot be built or loaded (warned once)."""
    library = load_kernel(SOURCE, "native stencil kernel")
    if library is None:
        return None
    library.gradient_outer_product.restype = library.eed_tensor.restype = library.www_weights.restype = None
    library.gradient_outer_product.argtypes = [_POINTER, _INT, _INT, _INT, _POINTER, _POINTER, _POINTER, _INT]
    library.eed_tensor.argtypes = [_POINTER] * 6 + [ctypes.c_long, _FLOAT, _INT, _INT]
    library.www_weights.argtypes = [_POINTER, _POINTER, _POINTER, _INT, _INT, _FLOAT] + [_POINTER] * 7 + [_INT]
    return library


def native_ready(*tensors: Tensor) -> bool:
    """Whether the kernels can compute for these tensors: one frame each, float32 on the CPU,
    needing no gradient, and the library available."""
    return all(t.device.type == "cpu" and t.dtype == torch.float32 and t.shape[0] == 1 and not t.requires_grad
               for t in tensors) and stencil_library() is not None


def _address(tensor: Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(tensor.data_ptr())


def native_gradient_outer_product(image: Tensor) -> DiffusionTensor:
    """:func:`~flowinpaint.diffusion.structure.gradient_outer_product` of an already smoothed image.

    Shape:
        image ``(1, C, H, W)`` float32 -> entries ``(1, 1, H - 1, W - 1)``.
    """
    library = stencil_library()
    assert library is not None  # native_ready
    image = image.contiguous()
    _, channels, height, width = image.shape
    a, b, c = (torch.empty(1, 1, height - 1, width - 1) for _ in range(3))
    library.gradient_outer_product(_address(image), channels, height, width, _address(a), _address(b), _address(c),
                                   torch.get_num_threads())
    return DiffusionTensor(a, b, c)


def native_eed_tensor(structure: DiffusionTensor, contrast: float, charbonnier: bool) -> DiffusionTensor:
    """The EED tensor of a smoothed structure tensor: ``g(lambda1) v v^T + v_perp v_perp^T``, as
    ``flowinpaint.methods.eed.eed_field`` computes it from the structure tensor.

    Shape:
        entries ``(1, 1, h, w)`` float32 -> the same.
    """
    library = stencil_library()
    assert library is not None  # native_ready
    entries = [entry.contiguous() for entry in structure]
    tensor = DiffusionTensor(*(torch.empty_like(entry) for entry in entries))
    library.eed_tensor(*(_address(t) for t in (*entries, *tensor)), entries[0].numel(), contrast**2, int(charbonnier),
                       torch.get_num_threads())
    return tensor


def native_www_stencil(cells: DiffusionTensor, alpha: float | None) -> tuple[Stencil, Tensor]:
    """The (alpha, beta) stencil of ``cells`` and its per-pixel time steps, as
    ``www_stencil(cells, stencil_alpha(cells, alpha))`` and ``pixel_time_step`` of it.

    Args:
        cells: tensor entries on the dual grid, each ``(1, 1, H - 1, W - 1)`` float32.
        alpha: a fixed stencil parameter in [0, 1/2], or None for each cell's midpoint of its
            non-negative range (:func:`flowinpaint.methods.explicit.stencil_alpha`).

    Returns:
        The stencil on the ``(H, W)`` pixel grid and ``tau`` ``(1, 1, H, W)``.
    """
    library = stencil_library()
    assert library is not None  # native_ready
    a, b, c = (entry.contiguous() for entry in cells)
    height, width = a.shape[-2] + 1, a.shape[-1] + 1
    scratch = [torch.empty_like(a) for _ in range(2)]
    east, south = torch.empty(1, 1, height, width - 1), torch.empty(1, 1, height - 1, width)
    south_east, south_west = torch.empty_like(a), torch.empty_like(a)
    tau = torch.empty(1, 1, height, width)
    library.www_weights(_address(a), _address(b), _address(c), height, width, -1.0 if alpha is None else float(alpha),
                        *(_address(t) for t in (*scratch, east, south, south_east, south_west, tau)), torch.get_num_threads())
    return Stencil(east, south, south_east, south_west), tau
