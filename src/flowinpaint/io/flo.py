"""Middlebury ``.flo`` flow files (also used by Sintel and FlyingChairs).

Layout, all little-endian: the 4 ASCII bytes ``PIEH`` (the float32 202021.25), int32 width W,
int32 height H, then ``H * W * 2`` float32 values ``u, v`` per pixel in row-major order; the
file is exactly ``12 + 8 * W * H`` bytes. A component with ``|value| > 1e9`` marks the pixel
unknown; writers use ``1e10``.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from ._atomic import atomic_write_bytes
from ._files import MAX_PIXELS, PathLike, file_size, format_error, reading
from ._flowarray import FlowAndValid, checked_for_writing, with_unknown_zeroed

__all__ = ["read_flo", "write_flo"]

_MAGIC = b"PIEH"
_HEADER = struct.Struct("<4sii")
_UNKNOWN_THRESHOLD = 1e9
_UNKNOWN_VALUE = np.float32(1e10)


def read_flo(path: PathLike) -> FlowAndValid:
    """Read a ``.flo`` file strictly.

    Returns:
        ``(flow, valid)``: flow ``(H, W, 2)`` float32 ``(u, v)`` in pixels, valid ``(H, W)``
        bool. A pixel is invalid when either component is non-finite or ``|value| > 1e9``;
        both its components are then ``0.0``.

    Raises:
        FlowFormatError: missing file, wrong magic, width or height ``<= 0`` or
            ``W * H > 2**28``, truncated data or trailing bytes.
    """
    with reading(path) as file:
        size = file_size(file)
        header = file.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise format_error(path, f"truncated .flo header ({len(header)} of 12 bytes)")
        magic, width, height = _HEADER.unpack(header)
        if magic != _MAGIC:
            raise format_error(path, f"not a .flo file: magic {magic!r}, expected {_MAGIC!r}")
        if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
            raise format_error(path, f"invalid .flo dimensions {width} x {height} (W x H)")
        expected = _HEADER.size + 8 * width * height
        if size < expected:
            raise format_error(
                path, f"truncated: {size} bytes, a {width} x {height} .flo needs {expected}"
            )
        if size > expected:
            raise format_error(
                path, f"{size - expected} trailing bytes after the {width} x {height} .flo data"
            )
        body = file.read(expected - _HEADER.size)
    if len(body) != expected - _HEADER.size:
        raise format_error(path, "truncated: the file shrank while it was read")
    flow = np.frombuffer(body, dtype="<f4").astype(np.float32).reshape(height, width, 2)
    valid = (np.abs(flow) <= _UNKNOWN_THRESHOLD).all(axis=2)  # False for NaN too
    return with_unknown_zeroed(flow, valid)


def write_flo(path: PathLike, flow: npt.ArrayLike, valid: npt.ArrayLike | None = None) -> None:
    """Write ``flow`` as a ``.flo`` file, atomically.

    Shape:
        flow: ``(H, W, 2)`` real numeric, converted to float32; valid: ``None`` or ``(H, W)``
        bool.

    Pixels that are invalid or have a non-finite component are written as ``(1e10, 1e10)``;
    all other values are written unchanged, so the bytes equal those of
    ``cv2.writeOpticalFlow`` for a finite float32 array.

    Raises:
        ValueError: ``flow`` or ``valid`` has the wrong shape or type.
    """
    flow32, known = checked_for_writing(path, flow, valid)
    flow32[~known] = _UNKNOWN_VALUE
    height, width = known.shape
    atomic_write_bytes(path, _HEADER.pack(_MAGIC, width, height) + flow32.astype("<f4").tobytes())
