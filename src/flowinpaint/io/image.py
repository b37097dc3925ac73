"""Reading and writing images and masks (any format OpenCV codes: PNG, JPEG, PPM/PGM, ...).

Images are ``(H, W, 3)`` uint8 in RGB order. Pixels are taken as stored: EXIF orientation
tags are ignored so that images stay aligned with flow fields.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import numpy.typing as npt

from ._atomic import atomic_write_bytes
from ._files import PathLike, format_error, read_bytes
from ._opencv import decode_image, describe_image, encode_image

__all__ = ["read_image", "read_mask", "write_image"]

_COLOUR_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_IGNORE_ORIENTATION


def _read_rgb(path: PathLike) -> np.ndarray:
    """Decode ``path`` to RGB at its stored depth: greyscale replicated, alpha dropped.

    Shape:
        ``(H, W, 3)`` uint8 or uint16.
    """
    bgr = decode_image(path, read_bytes(path), _COLOUR_FLAGS)
    if bgr.dtype not in (np.uint8, np.uint16):
        raise format_error(path, f"unsupported {describe_image(bgr)} image; need 8 or 16 bits")
    return bgr[..., ::-1]


def read_image(path: PathLike) -> np.ndarray:
    """Read an image as RGB.

    Greyscale images are replicated to three channels, alpha is dropped and 16-bit samples
    are scaled to 8 bits (``round(x / 257)``).

    Returns:
        Shape ``(H, W, 3)``, dtype uint8, RGB.

    Raises:
        FlowFormatError: missing, undecodable, or not 8/16-bit integer samples.
    """
    rgb = _read_rgb(path)
    if rgb.dtype == np.uint16:
        rgb = (rgb.astype(np.uint32) + 128) // 257
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def read_mask(path: PathLike) -> np.ndarray:
    """Read a mask: a pixel is True (known) where any colour channel is non-zero.

    So white (or any non-black colour) means known and black means unknown; alpha is ignored.
    Masks with the opposite meaning (Sintel's ``invalid``/``occlusions``, white = bad) must
    be inverted by the caller.

    Returns:
        Shape ``(H, W)``, dtype bool.

    Raises:
        FlowFormatError: as :func:`read_image`.
    """
    return _read_rgb(path).any(axis=2)


def write_image(path: PathLike, image: npt.ArrayLike) -> None:
    """Write an image atomically; the extension picks the encoder (``.png``, ``.jpg``, ...).

    Args:
        path: target file.
        image: ``(H, W, 3)`` RGB or ``(H, W)`` greyscale; uint8, or float in ``[0, 1]`` which
            is scaled by 255, rounded and clipped to ``[0, 255]``.

    Raises:
        ValueError: wrong shape or dtype, non-finite float values, or an extension (or
            extension/channel combination) OpenCV cannot write.
        OSError: the file cannot be written (nothing partial is left behind).
    """
    where = os.fspath(path)
    array = np.asarray(image)
    shape_ok = (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)) and array.size > 0
    if not shape_ok or not (array.dtype == np.uint8 or array.dtype.kind == "f"):
        raise ValueError(
            f"{where}: image must be a non-empty (H, W, 3) or (H, W) uint8 or float array,"
            f" got shape {array.shape} and dtype {array.dtype}"
        )
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ValueError(f"{where}: float image contains NaN or infinity")
        array = np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    bgr = array if array.ndim == 2 else array[..., ::-1]
    atomic_write_bytes(path, encode_image(path, np.ascontiguousarray(bgr)))
