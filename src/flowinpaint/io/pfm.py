"""PFM (Portable Float Map) files, as used by FlyingThings3D, Monkaa, Driving and
Middlebury-2014 disparities.

Layout: three ASCII lines, each ended by ``\\n`` (trailing spaces or ``\\r`` are tolerated):
``PF`` (3 channels) or ``Pf`` (1 channel); ``W H``; a nonzero scale whose sign gives the byte
order (negative: little-endian, positive: big-endian; its magnitude is not used here). Then
exactly ``W * H * C`` float32 values, rows stored bottom-to-top, channels interleaved. Flow PFMs
hold ``(u, v, 0)``.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from ._atomic import atomic_write_bytes
from ._files import MAX_PIXELS, PathLike, file_size, format_error, reading
from ._flowarray import FlowAndValid, checked_for_writing, with_unknown_zeroed

__all__ = ["read_pfm", "read_pfm_flow", "write_pfm_flow"]

#: Longest header accepted: the three lines are far shorter in any real file.
_MAX_HEADER_BYTES = 256
_CHANNELS = {b"PF": 3, b"Pf": 1}
_SIZE_LINE = re.compile(rb"(\d{1,9})[ \t]+(\d{1,9})")
_SCALE_NUMBER = re.compile(rb"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d{1,3})?")


def _parse_header(path: PathLike, head: bytes) -> tuple[int, int, int, str, int]:
    """Parse the header at the start of ``head``.

    Returns:
        ``(height, width, channels, dtype, header_length)`` with dtype ``"<f4"`` or ``">f4"``.
    """
    lines = head.split(b"\n", 3)
    if len(lines) < 4:
        raise format_error(path, f"no complete PFM header in the first {_MAX_HEADER_BYTES} bytes")
    magic, dimensions, scale = (line.rstrip() for line in lines[:3])
    if magic not in _CHANNELS:
        raise format_error(path, f"not a PFM file: magic {magic[:8]!r}, expected b'PF' or b'Pf'")
    size_match = _SIZE_LINE.fullmatch(dimensions)
    if size_match is None:
        raise format_error(path, f"bad PFM size line {dimensions[:32]!r}, expected b'W H'")
    width, height = int(size_match[1]), int(size_match[2])
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise format_error(path, f"invalid PFM dimensions {width} x {height} (W x H)")
    scale_value = float(scale) if _SCALE_NUMBER.fullmatch(scale) else 0.0
    if scale_value == 0.0:
        raise format_error(path, f"bad PFM scale line {scale[:32]!r}, expected a nonzero number")
    dtype = "<f4" if scale_value < 0 else ">f4"
    header_length = sum(len(line) + 1 for line in lines[:3])
    return height, width, _CHANNELS[magic], dtype, header_length


def read_pfm(path: PathLike) -> np.ndarray:
    """Read any 1- or 3-channel PFM, in either byte order, strictly.

    Returns:
        float32, top row first. Shape: ``(H, W)`` for ``Pf``, ``(H, W, 3)`` for ``PF``.

    Raises:
        FlowFormatError: missing file, malformed header, absurd size, truncated data or
            trailing bytes.
    """
    with reading(path) as file:
        size = file_size(file)
        height, width, channels, dtype, offset = _parse_header(path, file.read(_MAX_HEADER_BYTES))
        expected = offset + 4 * width * height * channels
        if size != expected:
            problem = "truncated" if size < expected else f"{size - expected} trailing bytes"
            raise format_error(
                path,
                f"{problem}: {size} bytes, a {width} x {height} x {channels} PFM has {expected}",
            )
        file.seek(offset)
        body = file.read(expected - offset)
    if len(body) != expected - offset:
        raise format_error(path, "truncated: the file shrank while it was read")
    shape = (height, width) if channels == 1 else (height, width, channels)
    bottom_up = np.frombuffer(body, dtype=dtype).reshape(shape)
    return np.array(bottom_up[::-1], dtype=np.float32, order="C")  # a writable copy


def read_pfm_flow(path: PathLike) -> FlowAndValid:
    """Read a flow stored as a 3-channel PFM ``(u, v, ignored)``.

    Returns:
        ``(flow, valid)``: flow ``(H, W, 2)`` float32 ``(u, v)`` in pixels, valid ``(H, W)``
        bool, False where ``u`` or ``v`` is non-finite; such pixels get flow ``0.0``.

    Raises:
        FlowFormatError: as :func:`read_pfm`, or the PFM has one channel.
    """
    data = read_pfm(path)
    if data.ndim != 3:
        raise format_error(path, "a 1-channel PFM (Pf) cannot hold a flow; expected PF")
    flow = np.ascontiguousarray(data[..., :2])
    return with_unknown_zeroed(flow, np.isfinite(flow).all(axis=2))


def write_pfm_flow(
    path: PathLike, flow: npt.ArrayLike, valid: npt.ArrayLike | None = None
) -> None:
    """Write ``flow`` as a little-endian 3-channel PFM holding ``(u, v, 0)``, atomically.

    Shape:
        flow: ``(H, W, 2)`` real numeric, converted to float32; valid: ``None`` or ``(H, W)``
        bool.

    Invalid pixels are written as ``(NaN, NaN, 0)``, which :func:`read_pfm_flow` reads back as
    invalid.

    Raises:
        ValueError: ``flow`` or ``valid`` has the wrong shape or type.
    """
    flow32, known = checked_for_writing(path, flow, valid)
    height, width = known.shape
    data = np.zeros((height, width, 3), dtype="<f4")
    data[..., :2] = flow32
    data[~known, :2] = np.nan
    header = b"PF\n%d %d\n-1.0\n" % (width, height)
    atomic_write_bytes(path, header + data[::-1].tobytes())
