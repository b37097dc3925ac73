"""KITTI flow PNGs (KITTI 2012/2015, HD1K): 3-channel 16-bit PNG in RGB order with
``u = (R - 2**15) / 64``, ``v = (G - 2**15) / 64`` and ``valid = B > 0``.

The encoding quantises to 1/64 px and represents ``[-512, 511.984375]`` px per component.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from ._atomic import atomic_write_bytes
from ._files import PathLike, format_error, read_bytes
from ._flowarray import FlowAndValid, checked_for_writing, with_unknown_zeroed
from ._opencv import decode_image, describe_image, encode_image

__all__ = ["read_kitti_png", "write_kitti_png"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_OFFSET = 2**15
_SCALE = 64.0


def read_kitti_png(path: PathLike) -> FlowAndValid:
    """Read a KITTI flow PNG.

    Returns:
        ``(flow, valid)``: flow ``(H, W, 2)`` float32 ``(u, v)`` in pixels, multiples of 1/64;
        valid ``(H, W)`` bool (``B > 0``). Invalid pixels have flow ``0.0``.

    Raises:
        FlowFormatError: missing file, not a PNG, undecodable, or not 3-channel 16-bit.
    """
    data = read_bytes(path)
    if not data.startswith(_PNG_SIGNATURE):
        raise format_error(path, "not a PNG file (bad signature)")
    bgr = decode_image(path, data, cv2.IMREAD_UNCHANGED)
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint16:
        raise format_error(
            path, f"a KITTI flow PNG is 3-channel uint16, this one is {describe_image(bgr)}"
        )
    raw_uv = bgr[..., [2, 1]].astype(np.float32)
    flow = (raw_uv - _OFFSET) / np.float32(_SCALE)
    return with_unknown_zeroed(flow, bgr[..., 0] > 0)


def write_kitti_png(
    path: PathLike, flow: npt.ArrayLike, valid: npt.ArrayLike | None = None
) -> None:
    """Write ``flow`` as a KITTI flow PNG, atomically.

    Shape:
        flow: ``(H, W, 2)`` real numeric; valid: ``None`` or ``(H, W)`` bool.

    Each component is rounded to the nearest multiple of 1/64 px (ties to even) and clipped to
    ``[-512, 511.984375]``. Invalid pixels and pixels with a non-finite component are written as
    ``R = G = B = 0``; valid ones get ``B = 1``.

    Raises:
        ValueError: ``flow`` or ``valid`` has the wrong shape or type.
    """
    flow32, known = checked_for_writing(path, flow, valid)
    raw = np.zeros(flow32.shape[:2] + (3,), dtype=np.uint16)  # OpenCV's B, G, R order
    quantised = np.clip(np.rint(flow32[known] * _SCALE) + _OFFSET, 0, 2**16 - 1)
    raw[known, 2] = quantised[:, 0]
    raw[known, 1] = quantised[:, 1]
    raw[known, 0] = 1
    atomic_write_bytes(path, encode_image(path, raw))
