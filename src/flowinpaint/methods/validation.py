"""Up-front checks of user input for :func:`flowinpaint.inpaint`: clear errors, no broadcasting."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..ops import at_pixels, put_pixels
from .registry import Problem

__all__ = ["as_float_image", "as_problem"]


def _as_array(value: Any, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(value).__name__}")  # noqa: TRY004 - bad input is a ValueError (the CLI reports it as a usage error)
    return value


def _image_planes(image: Any, shape: tuple[int, int]) -> np.ndarray:
    """The image as an ``(H, W, 3)`` or ``(H, W, 1)`` array, its shape checked against ``shape``."""
    image = _as_array(image, "image")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3) or image.shape[:2] != shape:
        raise ValueError(
            f"image must be (H, W, 3) RGB or (H, W) grey with (H, W) = {shape} like the flow, "
            f"got shape {image.shape}"
        )
    return image


def image_tensor(image: Any, shape: tuple[int, int]) -> torch.Tensor:
    """:func:`as_float_image` as a ``(1, 3, H, W)`` float32 tensor. A uint8 image is converted and
    made channels-first in one pass by torch's copy (the same values, several times faster than
    numpy's conversion and a transposing copy)."""
    planes = _image_planes(image, shape)
    if planes.dtype != np.uint8:
        return torch.from_numpy(as_float_image(planes, shape)).permute(2, 0, 1)[None].contiguous()
    result = torch.empty((1, 3, *shape))
    result[0].copy_(torch.from_numpy(np.ascontiguousarray(planes)).permute(2, 0, 1).expand(3, -1, -1))
    return result.div_(255.0)


def as_float_image(image: Any, shape: tuple[int, int]) -> np.ndarray:
    """The reference image as ``(H, W, 3)`` float32 RGB in [0, 1].

    Accepts ``(H, W, 3)`` or greyscale ``(H, W)`` / ``(H, W, 1)`` (replicated to RGB), uint8
    (0..255) or float in [0, 1].
    """
    image = _image_planes(image, shape)
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    elif np.issubdtype(image.dtype, np.floating):
        if not np.all(np.isfinite(image)):
            raise ValueError("image contains NaN or inf")
        if image.min() < 0.0 or image.max() > 1.0:
            raise ValueError(
                f"a float image must lie in [0, 1], got values in [{image.min():.4g}, {image.max():.4g}]; "
                "pass uint8 for 0..255 data"
            )
        image = image.astype(np.float32)
    else:
        raise ValueError(f"image must be uint8 or float in [0, 1], got dtype {image.dtype}")
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def as_confidence(confidence: Any, mask: np.ndarray) -> np.ndarray:
    """Validate a per-pixel confidence of the known values: ``(H, W)`` real, finite, in [0, 1].

    Returns it as float32 with 0 at the unknown pixels.
    """
    confidence = _as_array(confidence, "confidence")
    if confidence.shape != mask.shape:
        raise ValueError(f"confidence must have shape (H, W) = {mask.shape} like the mask, got {confidence.shape}")
    if not (np.issubdtype(confidence.dtype, np.floating) or np.issubdtype(confidence.dtype, np.integer)
            or confidence.dtype == np.bool_):
        raise ValueError(f"confidence must be a real array of weights in [0, 1], got dtype {confidence.dtype}")
    values = confidence[mask].astype(np.float64)
    if not np.isfinite(values).all() or values.min(initial=0.0) < 0 or values.max(initial=0.0) > 1:
        raise ValueError("confidence must be finite and in [0, 1] at every known pixel")
    if not values.any():
        raise ValueError("confidence is 0 at every known pixel: no known value is left to inpaint from")
    return np.where(mask, confidence, 0).astype(np.float32)


def as_problem(
    flow: Any, mask: Any, image: Any | None, needs_image: bool, method: str, confidence: Any | None = None
) -> Problem:
    """Validate ``flow``, ``mask`` and ``image`` and convert them to a :class:`Problem`.

    Args:
        flow: ``(H, W, 2)`` real array, pixels; values at unknown pixels are ignored (may be NaN).
        mask: ``(H, W)`` bool, True = known.
        image: reference image (see :func:`as_float_image`) or None.
        needs_image: whether the method requires ``image``.
        method: the method's name, for messages.
        confidence: the user's ``(H, W)`` weights in [0, 1] of the known values, or None.

    Raises:
        ValueError: naming what is wrong and what was expected.
    """
    flow = _as_array(flow, "flow")
    mask = _as_array(mask, "mask")
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must have shape (H, W, 2) with (u, v) last, got {flow.shape}")
    if not (np.issubdtype(flow.dtype, np.floating) or np.issubdtype(flow.dtype, np.integer)):
        raise ValueError(f"flow must be a real numeric array, got dtype {flow.dtype}")
    height, width = flow.shape[:2]
    if height < 2 or width < 2:
        raise ValueError(f"flow must be at least 2x2 pixels, got {height}x{width}")
    if mask.shape != (height, width):
        raise ValueError(f"mask must have shape (H, W) = {(height, width)} like the flow, got {mask.shape}")
    if mask.dtype != np.bool_:
        raise ValueError(f"mask must be a bool array (True = known), got dtype {mask.dtype}; use mask.astype(bool)")
    n_known = int(mask.sum())
    if n_known == 0:
        raise ValueError("mask is empty: at least one known pixel is needed")
    if n_known == mask.size:
        raise ValueError("mask has no unknown pixel: there is nothing to inpaint")
    known_pixels = np.flatnonzero(mask)
    known_values = at_pixels(flow, known_pixels)
    bad = int((~np.isfinite(known_values)).any(axis=1).sum())
    if bad:
        raise ValueError(f"flow has NaN or inf at {bad} known pixel(s); mark them unknown in the mask")
    if image is None and needs_image:
        raise ValueError(f"method {method!r} needs the reference image: pass image=(H, W, 3) array")
    dense = np.zeros((height, width, 2), np.float32)
    put_pixels(dense, known_pixels, known_values)  # the known values only: cheaper than a masked copy of the whole field
    flow_t = torch.from_numpy(dense).permute(2, 0, 1)[None].contiguous()
    known_t = torch.from_numpy(np.ascontiguousarray(mask))[None, None].clone()  # also a reversed view (negative strides)
    image_t = None
    if image is not None:
        image_t = image_tensor(image, (height, width))
    confidence_t = None
    if confidence is not None:
        confidence_t = torch.from_numpy(as_confidence(confidence, mask))[None, None].contiguous()
    return Problem(flow_t, known_t, image_t, confidence_t)
