"""Sampling masks of known pixels."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["uniform_mask"]


def uniform_mask(valid: Any, density: float, seed: int | None = 0) -> np.ndarray:
    """Known pixels drawn uniformly at random, without replacement, from the valid pixels.

    Args:
        valid: ``(H, W)`` bool, True where a pixel may be drawn (e.g. where the ground truth is known).
        density: fraction of the valid pixels to draw, in (0, 1).
        seed: seed of ``np.random.default_rng``; the same seed gives the same mask.

    Returns:
        ``(H, W)`` bool with exactly ``max(1, round(density * n_valid))`` True pixels, all valid.

    Raises:
        ValueError: ``density`` outside (0, 1), ``valid`` not a 2-D bool array, or no valid pixel.
    """
    valid = np.asarray(valid)
    if valid.ndim != 2 or valid.dtype != np.bool_:
        raise ValueError(f"valid must be an (H, W) bool array, got shape {valid.shape} and dtype {valid.dtype}")
    if isinstance(density, bool) or not isinstance(density, (int, float, np.integer, np.floating)) or not 0.0 < density < 1.0:
        raise ValueError(f"density must be a number in (0, 1), got {density!r}")
    candidates = np.flatnonzero(valid)
    if candidates.size == 0:
        raise ValueError("valid has no True pixel to draw from")
    count = max(1, round(float(density) * candidates.size))
    chosen = np.random.default_rng(seed).choice(candidates, size=count, replace=False)
    mask = np.zeros(valid.size, dtype=bool)
    mask[chosen] = True
    return mask.reshape(valid.shape)
