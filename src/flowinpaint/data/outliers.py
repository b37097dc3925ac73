"""Wrong known values, as real sparse inputs have them: matcher outliers, LiDAR bleeding, codec vectors.

:func:`inject_outliers` replaces a fraction of the known values of a sparse flow by wrong ones and
says which; :func:`flowinpaint.data.make_sparse` applies it with ``outliers=FRACTION``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._sampling import number

__all__ = ["BORROW_DISTANCE", "OUTLIER_THRESHOLD", "inject_outliers", "wrong_values"]

#: A known value farther than this from the truth (px) counts as wrong.
OUTLIER_THRESHOLD = 3.0
#: Distance range (px) of the known pixel a "borrowed" wrong value is taken from.
BORROW_DISTANCE = (20.0, 80.0)
_ATTEMPTS = 8  # candidates tried per outlier (random values, or donor pixels)
_MIN_RANGE = 4.0 * OUTLIER_THRESHOLD  # px: the uniform outliers' range per component is at least this wide
_STREAM = 0x5EED0  # separates the outliers' random stream from the mask's, which uses the same seed


def wrong_values(values: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Which ``values`` are farther than :data:`OUTLIER_THRESHOLD` px from ``truth``.

    Shape:
        values, truth ``(..., 2)`` flow vectors, px -> ``(...)`` bool.
    """
    return np.linalg.norm(np.asarray(values, np.float64) - np.asarray(truth, np.float64), axis=-1) > OUTLIER_THRESHOLD


def _uniform_wrong(clean: np.ndarray, low: np.ndarray, width: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """For each clean value, the first of its uniform draws that is wrong (else the farthest one).

    Shape:
        clean ``(n, 2)``; low, width ``(2,)``; draws ``(n, attempts, 2)`` in [0, 1) -> ``(n, 2)``.
    """
    candidates = low + draws * width
    wrong = wrong_values(candidates, clean[:, None])
    distance = np.linalg.norm(candidates - clean[:, None], axis=-1)
    pick = np.where(wrong.any(axis=1), wrong.argmax(axis=1), distance.argmax(axis=1))
    return candidates[np.arange(len(clean)), pick]


def _borrowed_wrong(
    mask: np.ndarray, flow: np.ndarray, where: np.ndarray, radius: np.ndarray, angle: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Values borrowed from known pixels :data:`BORROW_DISTANCE` px away, preferring wrong ones.

    Each candidate is the known pixel nearest to ``where + radius (cos angle, sin angle)``; it is
    a donor when it lies in the distance range. The first donor whose value is wrong for the pixel
    is taken, else the first donor.

    Shape:
        mask ``(H, W)`` bool, flow ``(H, W, 2)``, where ``(n, 2)`` int (row, col), radius and
        angle ``(n, attempts)`` -> values ``(n, 2)`` and found ``(n,)`` bool (False: no donor).
    """
    # imported on use: ~0.1 s of ``import flowinpaint``
    from scipy import ndimage

    nearest = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
    height, width = mask.shape
    rows = np.clip(np.rint(where[:, :1] + radius * np.sin(angle)), 0, height - 1).astype(np.int64)
    cols = np.clip(np.rint(where[:, 1:] + radius * np.cos(angle)), 0, width - 1).astype(np.int64)
    donor_rows, donor_cols = nearest[0][rows, cols], nearest[1][rows, cols]
    distance = np.hypot(donor_rows - where[:, :1], donor_cols - where[:, 1:])
    donor = (distance >= BORROW_DISTANCE[0]) & (distance <= BORROW_DISTANCE[1])
    values = flow[donor_rows, donor_cols]
    preferred = donor & wrong_values(values, flow[where[:, 0], where[:, 1]][:, None])
    pick = np.where(preferred.any(axis=1), preferred.argmax(axis=1), donor.argmax(axis=1))
    chosen = np.arange(len(where))
    return values[chosen, pick], donor.any(axis=1)


def inject_outliers(flow: Any, mask: Any, fraction: float, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``fraction`` of the known values by wrong ones, half random and half borrowed.

    The known pixels are put in a random order; the first ``round(fraction * n_known)`` become
    outliers, alternately of two kinds:

    * **random**: a value drawn uniformly in the known values' range per component (widened
      about its centre to at least 12 px), redrawn up to 8 times until it is more than
      :data:`OUTLIER_THRESHOLD` px from the pixel's value;
    * **borrowed**: the value of a known pixel 20-80 px away (the matcher's typical mistake: a
      match on a similar-looking structure, or LiDAR depth bleeding across an object edge),
      preferring, among 8 random donors, one whose value differs by more than the threshold. In a
      region of uniform motion no donor may differ: the value is then nearly right (and not
      counted as wrong by :func:`wrong_values`). Without a donor in range (a tiny frame) the
      value is a random one instead.

    Every draw is made for every known pixel in the same order whatever the fraction, so the
    outliers at a smaller fraction are a subset of those at a larger one, with the same values.
    The random stream is derived from ``seed`` but differs from the mask samplers' one.

    Args:
        flow: ``(H, W, 2)`` sparse flow, px (values at the known pixels).
        mask: ``(H, W)`` bool, True = known.
        fraction: fraction of the known values to replace, in [0, 1].
        seed: seed; the same seed gives the same outliers.

    Returns:
        ``(flow, outliers)``: a float32 copy of ``flow`` with the wrong values, and ``(H, W)``
        bool, True at the replaced pixels.

    Raises:
        ValueError: a bad ``fraction``, or ``flow`` and ``mask`` of mismatched shapes.
    """
    flow = np.array(flow, dtype=np.float32)
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.bool_ or flow.shape != (*mask.shape, 2):
        raise ValueError(f"flow must be (H, W, 2) and mask (H, W) bool, got {flow.shape} and {mask.shape} {mask.dtype}")
    fraction = number(fraction, "outliers", 0.0, 1.0, low_closed=True, high_closed=True)
    outliers = np.zeros(mask.shape, dtype=bool)
    known = np.flatnonzero(mask)
    count = round(fraction * known.size)
    if count == 0:
        return flow, outliers
    rng = np.random.default_rng(None if seed is None else [_STREAM, int(seed)])
    order = known[rng.permutation(known.size)]
    draws = rng.random((known.size, _ATTEMPTS, 2))
    radius = rng.uniform(*BORROW_DISTANCE, size=(known.size, _ATTEMPTS))
    angle = rng.uniform(0.0, 2.0 * math.pi, size=(known.size, _ATTEMPTS))
    chosen = order[:count]
    where = np.stack(np.unravel_index(chosen, mask.shape), axis=1)
    clean = flow[where[:, 0], where[:, 1]].astype(np.float64)
    values_known = flow[mask].astype(np.float64)
    low, high = values_known.min(axis=0), values_known.max(axis=0)
    width = np.maximum(high - low, _MIN_RANGE)
    low = (low + high) / 2.0 - width / 2.0
    values = _uniform_wrong(clean, low, width, draws[:count])
    borrowed = np.arange(count) % 2 == 1
    if borrowed.any():
        donated, found = _borrowed_wrong(mask, flow, where[borrowed], radius[:count][borrowed], angle[:count][borrowed])
        values[np.flatnonzero(borrowed)[found]] = donated[found]
    flow[where[:, 0], where[:, 1]] = values.astype(np.float32)
    outliers.flat[chosen] = True
    return flow, outliers
