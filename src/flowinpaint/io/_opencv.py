"""In-memory image coding with OpenCV, silenced, with failures mapped to clear exceptions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np

from ._files import PathLike, format_error

__all__ = ["decode_image", "describe_image", "encode_image"]


@contextmanager
def _opencv_silenced() -> Iterator[None]:
    """Keep OpenCV's logger quiet inside the block (failures are reported by exceptions)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def decode_image(path: PathLike, data: bytes, flags: int) -> np.ndarray:
    """Decode the encoded image ``data`` read from ``path`` with ``cv2.imdecode(..., flags)``.

    Shape:
        ``(H, W)`` or ``(H, W, C)`` with channels in OpenCV's BGR(A) order, as ``flags`` ask.

    Raises:
        FlowFormatError: the bytes are not an image OpenCV can decode.
    """
    with _opencv_silenced():
        try:
            image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
        except cv2.error as exc:
            raise format_error(path, f"cannot decode the image ({exc.err})") from exc
    if image is None:
        raise format_error(path, "not an image OpenCV can decode (corrupt or unsupported)")
    return image


def encode_image(path: PathLike, image: np.ndarray) -> bytes:
    """Encode ``image`` (OpenCV channel order) in the format named by ``path``'s extension.

    Raises:
        ValueError: the extension names no format OpenCV can write, or that format cannot
            hold this image.
    """
    name = os.fspath(path)
    extension = os.path.splitext(name)[1]
    if not cv2.haveImageWriter(name):
        raise ValueError(f"{name}: no image encoder for the extension {extension!r}")
    problem = f"{name}: cannot encode a {describe_image(image)} image as {extension!r}"
    with _opencv_silenced():
        try:
            ok, buffer = cv2.imencode(extension, image)
        except cv2.error as exc:
            raise ValueError(f"{problem} ({exc.err})") from exc
    if not ok:
        raise ValueError(problem)
    return buffer.tobytes()


def describe_image(image: np.ndarray) -> str:
    """A short description such as ``"3-channel uint16"`` for error messages."""
    channels = 1 if image.ndim == 2 else image.shape[2]
    return f"{channels}-channel {image.dtype}"
