"""Plumbing shared by the peer adapters: matches and the 8-bit guide from a :class:`Problem`,
option checks, the call into OpenCV's sparse-match interpolators, and the output check."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor

from ..registry import Problem

__all__ = [
    "MIN_MATCHES",
    "check_bool",
    "check_choice",
    "check_int",
    "check_positive",
    "check_range",
    "dense_tensor",
    "guide_bgr",
    "interpolate_matches",
    "known_matches",
    "require_matches",
]

# Fewest known pixels EPIC and RIC accept: their local affine models are drawn from three matches
# (with fewer, OpenCV 5.0.0's EPIC crashes or returns a zero field).
MIN_MATCHES = 3


def check_int(value: Any, name: str, minimum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _is_real(value: Any) -> bool:
    """Whether ``value`` is a finite real number (not a bool)."""
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    return real and math.isfinite(value)


def check_positive(value: Any, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite real number ``> 0``."""
    if not (_is_real(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def check_range(value: Any, name: str, low: float, high: float) -> None:
    """Raise ``ValueError`` unless ``value`` is a real number in ``[low, high]``."""
    if not (_is_real(value) and low <= value <= high):
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")


def check_bool(value: Any, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")  # noqa: TRY004 - bad input is a ValueError (the CLI reports it as a usage error)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def known_matches(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """The known pixels as matches, in raster order.

    Shape:
        points: ``(N, 2)`` float32 pixel centres ``(x, y)`` = (column, row), pixels.
        flows: ``(N, 2)`` float32 ``(u, v)`` at those pixels, pixels.
    """
    rows, cols = np.nonzero(problem.known[0, 0].numpy())
    points = np.stack([cols, rows], axis=1).astype(np.float32)
    flows = np.ascontiguousarray(problem.flow[0].numpy()[:, rows, cols].T, dtype=np.float32)
    return points, flows


def require_matches(count: int, minimum: int, peer: str) -> None:
    """Raise ``ValueError`` when ``count`` known pixels are fewer than ``peer`` needs."""
    if count < minimum:
        raise ValueError(f"{peer} needs at least {minimum} known pixels (matches), got {count}")


def guide_bgr(problem: Problem, peer: str) -> np.ndarray:
    """The reference image as OpenCV wants it.

    Shape:
        ``(H, W, 3)`` uint8, BGR channel order, C-contiguous.

    Raises:
        ValueError: the problem has no image.
    """
    if problem.image is None:
        raise ValueError(f"{peer} needs the reference image")
    rgb = problem.image[0].permute(1, 2, 0).numpy()
    return np.ascontiguousarray(np.round(rgb[..., ::-1] * 255.0).astype(np.uint8))


def interpolate_matches(interpolator: Any, guide: np.ndarray, points: np.ndarray, flows: np.ndarray, peer: str) -> np.ndarray:
    """Run an OpenCV ``SparseMatchInterpolator`` on matches ``points -> points + flows``.

    ``to_image`` is passed as None: EPIC ignores it and RIC reads it only for variational
    refinement, which the RIC adapter rejects.

    Shape:
        guide: ``(H, W, 3)`` uint8 BGR; points, flows: ``(N, 2)`` float32; returns ``(H, W, 2)``
        float32 ``(u, v)``, pixels.

    Raises:
        RuntimeError: OpenCV failed, with its message.
    """
    targets = np.ascontiguousarray(points + flows, dtype=np.float32)
    try:
        return interpolator.interpolate(guide, np.ascontiguousarray(points), None, targets)
    except cv2.error as error:
        raise RuntimeError(f"{peer}: OpenCV failed: {error}") from error


def dense_tensor(dense: np.ndarray, flows: np.ndarray, peer: str) -> Tensor:
    """Check a peer's dense flow and return it as a tensor.

    Shape:
        dense: ``(H, W, 2)`` ``(u, v)``, pixels; flows: ``(N, 2)`` known flows; returns
        ``(1, 2, H, W)`` float32.

    Raises:
        RuntimeError: NaN or inf in ``dense``, or ``dense`` all zero while some known flow is not
            (a failed peer must never pass for a zero field).
    """
    if not np.all(np.isfinite(dense)):
        bad = int((~np.isfinite(dense)).any(axis=-1).sum())
        raise RuntimeError(f"{peer} returned NaN or inf at {bad} of {dense.shape[0] * dense.shape[1]} pixels")
    if not np.any(dense) and np.any(flows):
        raise RuntimeError(f"{peer} returned an all-zero field although the known flow is not zero")
    return torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32)).permute(2, 0, 1)[None].contiguous()
