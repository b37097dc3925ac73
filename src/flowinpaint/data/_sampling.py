"""Checks and draws shared by the mask samplers and the outlier injection of :mod:`flowinpaint.data`.

Every check raises a ``ValueError`` that names the argument and what was expected.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "check_image",
    "check_valid",
    "draw_setup",
    "mask_of",
    "number",
    "positive_int_or_none",
    "weighted_draw",
]


def number(
    value: Any, name: str, low: float, high: float, low_closed: bool = False, high_closed: bool = False
) -> float:
    """``value`` as a float, checked to be a real number in the interval from ``low`` to ``high``.

    Raises:
        ValueError: naming ``name`` and the expected interval.
    """
    interval = f"{'[' if low_closed else '('}{low:g}, {high:g}{']' if high_closed else ')'}"
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    inside = real and (value >= low if low_closed else value > low) and (value <= high if high_closed else value < high)
    if not inside:
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def positive_int_or_none(value: Any, name: str) -> int | None:
    """``value`` checked to be None or a positive int."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return int(value)


def check_valid(valid: Any) -> np.ndarray:
    """``valid`` as an ``(H, W)`` bool array with at least one True pixel."""
    valid = np.asarray(valid)
    if valid.ndim != 2 or valid.dtype != np.bool_:
        raise ValueError(f"valid must be an (H, W) bool array, got shape {valid.shape} and dtype {valid.dtype}")
    if not valid.any():
        raise ValueError("valid has no True pixel to draw from")
    return valid


def draw_setup(valid: Any, density: float) -> tuple[np.ndarray, np.ndarray, int]:
    """The checked ``valid``, its flat candidate indices and the target count of known pixels.

    Returns:
        ``valid`` ``(H, W)`` bool, candidates ``(n_valid,)`` int64 flat indices, and
        ``max(1, round(density * n_valid))``.
    """
    valid = check_valid(valid)
    density = number(density, "density", 0.0, 1.0)
    candidates = np.flatnonzero(valid)
    return valid, candidates, max(1, round(density * candidates.size))


def check_image(image: Any, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``image`` checked to be ``(H, W, 3)`` uint8 RGB, with ``(H, W) == shape`` when given."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"{name} must be an (H, W, 3) uint8 RGB array, got shape {image.shape} and dtype {image.dtype}"
        )
    if shape is not None and image.shape[:2] != shape:
        raise ValueError(f"{name} must have (H, W) = {shape}, got {image.shape[:2]}")
    return image


def mask_of(indices: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``(H, W)`` bool mask, True at the flat ``indices``."""
    mask = np.zeros(math.prod(shape), dtype=bool)
    mask[indices] = True
    return mask.reshape(shape)


def weighted_draw(log_weights: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` positions drawn without replacement with probability proportional to the weights.

    Efraimidis-Spirakis: keep the ``count`` smallest keys ``E_i / w_i`` with ``E_i ~ Exp(1)``,
    compared in log space so that any weight range (e.g. a large edge bias) stays exact.

    Shape:
        log_weights ``(n,)`` finite float; returns ``(count,)`` int positions into it.
    """
    keys = np.log(rng.standard_exponential(log_weights.size)) - log_weights
    return np.argpartition(keys, count - 1)[:count]
