"""Turn keypoint matches into a sparse flow and mask that :func:`flowinpaint.inpaint` accepts."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["SparseFlow", "points_to_sparse"]


class SparseFlow(NamedTuple):
    """Sparse flow built from matches.

    Attributes:
        flow: ``(H, W, 2)`` float32, pixels; 0 at unknown pixels.
        mask: ``(H, W)`` bool, True where at least one match landed.
        rejected: matches dropped because a coordinate was non-finite or the start point
            rounded to a pixel outside the image.
    """

    flow: np.ndarray
    mask: np.ndarray
    rejected: int


def _as_points(points: object, name: str) -> np.ndarray:
    array = np.asarray(points)
    if array.ndim == 3 and array.shape[1] == 1:  # OpenCV's (N, 1, 2) layout
        array = array[:, 0]
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must be an (N, 2) array of (x, y) pixel coordinates, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    return array.astype(np.float64)


def points_to_sparse(points0: object, points1: object, shape: tuple[int, int]) -> SparseFlow:
    """Sparse flow from matches ``points0[i] -> points1[i]`` (x along columns, y along rows).

    Each match gives the flow ``points1[i] - points0[i]`` at the pixel nearest to ``points0[i]``;
    matches landing on the same pixel are averaged.

    Args:
        points0: ``(N, 2)`` (or OpenCV's ``(N, 1, 2)``) match positions in frame 1, (x, y) pixels.
        points1: the same for frame 2.
        shape: ``(H, W)`` of frame 1.

    Returns:
        A :class:`SparseFlow` ``(flow, mask, rejected)``.
    """
    start, end = _as_points(points0, "points0"), _as_points(points1, "points1")
    if start.shape != end.shape:
        raise ValueError(f"points0 and points1 must have the same shape, got {start.shape} and {end.shape}")
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (H, W) with positive sizes, got {shape}")
    height, width = int(shape[0]), int(shape[1])
    finite = np.isfinite(start).all(axis=1) & np.isfinite(end).all(axis=1)
    columns = np.full(len(start), -1, dtype=np.int64)
    rows = np.full(len(start), -1, dtype=np.int64)
    columns[finite] = np.floor(start[finite, 0] + 0.5)
    rows[finite] = np.floor(start[finite, 1] + 0.5)
    inside = finite & (columns >= 0) & (columns < width) & (rows >= 0) & (rows < height)
    index = rows[inside] * width + columns[inside]
    motion = (end - start)[inside]
    counts = np.bincount(index, minlength=height * width)
    sums = np.stack([np.bincount(index, weights=motion[:, k], minlength=height * width) for k in range(2)], axis=1)
    mask = counts > 0
    flow = np.zeros((height * width, 2), dtype=np.float64)
    flow[mask] = sums[mask] / counts[mask, None]
    return SparseFlow(
        flow.reshape(height, width, 2).astype(np.float32), mask.reshape(height, width), int((~inside).sum())
    )
