"""Reading and writing optical flow in any supported format, chosen by the file extension.

* ``.flo``: Middlebury (:mod:`.flo`), lossless float32; unknown pixels written as ``1e10``.
* ``.png``: KITTI 16-bit (:mod:`.kitti_png`), 1/64 px steps, clipped to [-512, 511.984375] px.
* ``.pfm``: 3-channel PFM ``(u, v, 0)`` (:mod:`.pfm`), lossless float32; unknown written as NaN.

Extensions are matched case-insensitively. Every reader returns ``(flow, valid)`` with flow
``(H, W, 2)`` float32 ``(u, v)`` in pixels and valid ``(H, W)`` bool; both components of an
unknown pixel are ``0.0``, so use ``valid`` (never the flow values) to tell them apart.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy.typing as npt

from ._files import PathLike
from ._flowarray import FlowAndValid
from .flo import read_flo, write_flo
from .kitti_png import read_kitti_png, write_kitti_png
from .pfm import read_pfm_flow, write_pfm_flow

__all__ = ["FLOW_EXTENSIONS", "read_flow", "write_flow"]

_Reader = Callable[[PathLike], FlowAndValid]
_Writer = Callable[[PathLike, npt.ArrayLike, "npt.ArrayLike | None"], None]

_FORMATS: dict[str, tuple[_Reader, _Writer]] = {
    ".flo": (read_flo, write_flo),
    ".png": (read_kitti_png, write_kitti_png),
    ".pfm": (read_pfm_flow, write_pfm_flow),
}

#: The supported flow file extensions (lower case).
FLOW_EXTENSIONS = tuple(_FORMATS)


def _format_of(path: PathLike) -> tuple[_Reader, _Writer]:
    extension = os.path.splitext(os.fspath(path))[1]
    try:
        return _FORMATS[extension.lower()]
    except KeyError:
        raise ValueError(
            f"{os.fspath(path)}: unknown flow file extension {extension!r};"
            f" supported: {', '.join(FLOW_EXTENSIONS)}"
        ) from None


def read_flow(path: PathLike) -> FlowAndValid:
    """Read a flow file (``.flo``, ``.png`` or ``.pfm``).

    Returns:
        ``(flow, valid)``: flow float32 ``(u, v)`` in pixels, ``0.0`` at unknown pixels; valid
        bool, True where the flow is known.

    Shape:
        flow: ``(H, W, 2)``; valid: ``(H, W)``.

    Raises:
        ValueError: unsupported extension (lists the supported ones).
        FlowFormatError: missing file or content not valid for the format; the message names
            the file and the reason.
    """
    reader, _ = _format_of(path)
    return reader(path)


def write_flow(path: PathLike, flow: npt.ArrayLike, valid: npt.ArrayLike | None = None) -> None:
    """Write a flow file (``.flo``, ``.png`` or ``.pfm``) atomically.

    Args:
        path: target; its extension picks the format.
        flow: real numeric ``(u, v)`` in pixels, converted to float32. Pixels with a NaN or
            infinite component are written as unknown.
        valid: ``None`` (all pixels valid) or a bool array; False is written as unknown.

    Shape:
        flow: ``(H, W, 2)`` with ``H, W >= 1``; valid: ``(H, W)``.

    Raises:
        ValueError: unsupported extension, or ``flow``/``valid`` of the wrong shape or type.
        OSError: the file cannot be written (nothing partial is left behind).
    """
    _, writer = _format_of(path)
    writer(path, flow, valid)
