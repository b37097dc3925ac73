"""Masks of known pixels shaped like two real sparse sensors: LiDAR scanlines and codec blocks.

* :func:`scanline_mask`: points along ~64 near-horizontal curved rows, as a rotating LiDAR
  projected into a camera (KITTI's ground truth and depth-completion inputs look like this);
* :func:`block_mask`: one vector per 16x16 / 8x8 / 4x4 block at the block centre, as the motion
  vectors of a video codec (H.264-style variable block sizes, some blocks without a vector).

Both are restricted to the valid pixels and fully determined by their ``seed``; like
:func:`flowinpaint.data.grid_mask`, their counts are approximate (about ``density * n_valid``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._sampling import check_valid, mask_of, number, positive_int_or_none, weighted_draw

__all__ = ["block_mask", "scanline_mask"]

_HORIZON = 0.3  # image row (fraction of the height) of the camera's principal point
_FOCAL = 0.6  # focal length as a fraction of the image width (KITTI: 721 px / 1242 px = 0.58)
_MAX_ROLL = 0.02  # largest sensor roll, radians (a small tilt of all rows)
_MAX_FILL = 0.5  # at most one point every 1 / _MAX_FILL px along a row before rows are added
_BLOCK_SIZES = (16, 8, 4)  # macroblock and its two quadtree splits, px
_ACTIVITY_FLOOR = 0.1  # px: flow spread added to every block's activity before the split draw


def _row_heights(count: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Heights (rows, at the principal column) of ``count`` scanlines, closer together at the bottom.

    ``y(t) = H (4 t - t^2) / 3`` for ``t`` evenly spaced in (0, 1) with a small common jitter:
    the spacing falls linearly from ``4/3`` of the mean at the top to ``2/3`` at the bottom.

    Shape:
        returns ``(count,)`` float64 rows in ``[0, H)``.
    """
    t = (np.arange(count) + rng.uniform(0.25, 0.75)) / count
    return height * (4.0 * t - t * t) / 3.0


def scanline_mask(
    valid: Any, density: float, seed: int | None = 0, rows: int = 64, dropout: float = 0.1
) -> np.ndarray:
    """Known pixels along curved scanlines, like LiDAR points projected into the image.

    A rotating LiDAR's rings project to the curves ``y(x) = c_y + (y_k - c_y) sqrt(1 + ((x - c_x)
    / f)^2)`` of a pinhole camera (principal point at 30 % of the height, focal length 0.6 x the
    width), so rows below the horizon bend down towards the sides. The ``rows`` rings sit closer
    together at the bottom of the frame (spacing from 4/3 of the mean at the top to 2/3 at the
    bottom); all rows share a small random roll. Along each row the points are evenly spaced in
    ``x`` (the azimuth step) from a random phase, the step chosen so that about
    ``density * n_valid`` points land on valid pixels; each point is lost with probability
    ``dropout`` (no return). When the density would need more than one point every 2 px along the
    rows, more rows are used (up to half the image height).

    Args:
        valid: ``(H, W)`` bool, True where a pixel may be known.
        density: target fraction of the valid pixels, in (0, 1).
        seed: seed of ``np.random.default_rng``; the same seed gives the same mask.
        rows: number of scanlines (at most half the height is used).
        dropout: probability that a point has no return, in [0, 1).

    Returns:
        ``(H, W)`` bool with at least one True pixel, all valid.

    Raises:
        ValueError: a bad ``valid``, ``density``, ``rows`` or ``dropout``, or no point landed
            on a valid pixel.
    """
    valid = check_valid(valid)
    density = number(density, "density", 0.0, 1.0)
    rows = positive_int_or_none(rows, "rows")
    dropout = number(dropout, "dropout", 0.0, 1.0, low_closed=True)
    height, width = valid.shape
    target = density * valid.sum()
    needed = math.ceil(target / ((1.0 - dropout) * _MAX_FILL * width))
    count = max(1, min(max(rows, needed), height // 2))
    rng = np.random.default_rng(seed)
    centre_x, centre_y, focal = (width - 1) / 2.0, _HORIZON * height, _FOCAL * width
    base = _row_heights(count, height, rng)
    roll = rng.uniform(-_MAX_ROLL, _MAX_ROLL)

    def curve(x: np.ndarray) -> np.ndarray:  # (count, n) column positions -> (count, n) rows
        stretch = np.sqrt(1.0 + ((x - centre_x) / focal) ** 2)
        return centre_y + (base[:, None] - centre_y) * stretch + roll * (x - centre_x)

    columns = np.broadcast_to(np.arange(width, dtype=np.float64), (count, width))
    on_row = np.floor(curve(columns) + 0.5).astype(np.int64)
    inside = (on_row >= 0) & (on_row < height)
    row_length = valid[np.clip(on_row, 0, height - 1), columns.astype(np.int64)][inside].sum()
    step = max(1.0, row_length * (1.0 - dropout) / max(target, 1.0))
    phase = rng.uniform(0.0, step, size=(count, 1))
    x = phase + step * np.arange(math.ceil(width / step) + 1)
    kept = rng.random(x.shape) >= dropout
    y = np.floor(curve(x) + 0.5).astype(np.int64)
    x = np.floor(x).astype(np.int64)
    hit = kept & (x < width) & (y >= 0) & (y < height)
    hit[hit] = valid[y[hit], x[hit]]
    if not hit.any():
        raise ValueError(f"scanline_mask: no scanline point landed on a valid pixel ({count} rows, step {step:.3g} px)")
    return mask_of(y[hit] * width + x[hit], valid.shape)


def _split_plan(per_macroblock: float) -> tuple[float, float, float]:
    """``(keep, split_16, split_8)`` for a target of ``per_macroblock`` vectors per 16x16 block.

    ``keep`` is the fraction of macroblocks kept when even unsplit ones are too many; ``split_16``
    the fraction of macroblocks split into 8x8 blocks; ``split_8`` the fraction of 8x8 blocks split
    into 4x4 ones. Above 16 per macroblock everything is 4x4 (the densest codec layout).
    """
    if per_macroblock <= 1.0:
        return per_macroblock, 0.0, 0.0
    if per_macroblock <= 4.0:
        return 1.0, (per_macroblock - 1.0) / 3.0, 0.0
    return 1.0, 1.0, min(1.0, (per_macroblock - 4.0) / 12.0)


def _block_activity(flow: np.ndarray | None, valid: np.ndarray, size: int) -> np.ndarray:
    """How much the flow varies inside each ``size x size`` block: the summed std of u and v, px.

    The blocks tile the frame padded to a multiple of the macroblock size (pixels outside the frame
    or not valid do not count).

    Shape:
        flow ``(H, W, 2)`` or None (then all zeros), valid ``(H, W)`` ->
        ``(ceil(H / 16) * 16 / size, ceil(W / 16) * 16 / size)``.
    """
    macro = _BLOCK_SIZES[0]
    rows, cols = (-(-length // macro) * (macro // size) for length in valid.shape)
    if flow is None:
        return np.zeros((rows, cols))
    padded = np.full((rows * size, cols * size, 2), np.nan)
    padded[: valid.shape[0], : valid.shape[1]] = np.where(valid[..., None], flow, np.nan)
    blocks = padded.reshape(rows, size, cols, size, 2)
    counts = np.isfinite(blocks[..., 0]).sum(axis=(1, 3))
    filled = np.nan_to_num(blocks)
    mean = filled.sum(axis=(1, 3)) / np.maximum(counts, 1)[..., None]
    spread = (filled**2).sum(axis=(1, 3)) / np.maximum(counts, 1)[..., None] - mean**2
    return np.sqrt(np.maximum(spread, 0.0)).sum(axis=-1)


def _split_choice(activity: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Which blocks to split: ``round(fraction * n)`` drawn with weights ``floor + activity``."""
    chosen = np.zeros(activity.size, dtype=bool)
    count = round(fraction * activity.size)
    if count >= activity.size:
        chosen[:] = True
    elif count > 0:
        chosen[weighted_draw(np.log(_ACTIVITY_FLOOR + activity.ravel()), count, rng)] = True
    return chosen.reshape(activity.shape)


def block_mask(
    valid: Any, density: float, seed: int | None = 0, flow: Any = None, dropout: float = 0.1
) -> np.ndarray:
    """One known pixel per codec block, at the block's centre, like a video codec's motion vectors.

    The frame is tiled from its top-left corner by 16x16 macroblocks. As an encoder does, some
    macroblocks are split into four 8x8 blocks and some of those into four 4x4 blocks, in the
    proportions that give about ``density * n_valid`` vectors; with ``flow`` the split blocks are
    drawn preferring those where the flow varies (weights ``0.1 px + std(u) + std(v)`` inside the
    block), as encoders split at motion edges. Each block keeps one vector at its centre pixel
    (row and column ``offset + size // 2``; for a block cut by the frame's right or bottom edge,
    the centre of its part inside the frame), unless the block has no vector (an intra-coded or
    skipped block, probability ``dropout``) or its centre is not valid. The
    density lies between ``(1 - dropout) / 256`` (below it, macroblocks are dropped) and
    ``(1 - dropout) / 16`` (every block 4x4; a higher density is capped there).

    Args:
        valid: ``(H, W)`` bool, True where a pixel may be known.
        density: target fraction of the valid pixels, in (0, 1).
        seed: seed of ``np.random.default_rng``; the same seed gives the same mask.
        flow: optional ``(H, W, 2)`` flow steering the splits (the sample's ground truth).
        dropout: probability that a block has no vector, in [0, 1).

    Returns:
        ``(H, W)`` bool with at least one True pixel, all valid.

    Raises:
        ValueError: a bad ``valid``, ``density``, ``flow`` or ``dropout``, or no block centre on
            a valid pixel.
    """
    valid = check_valid(valid)
    density = number(density, "density", 0.0, 1.0)
    dropout = number(dropout, "dropout", 0.0, 1.0, low_closed=True)
    if flow is not None:
        flow = np.asarray(flow, dtype=np.float64)
        if flow.shape != (*valid.shape, 2):
            raise ValueError(f"flow must have shape {(*valid.shape, 2)} like valid, got {flow.shape}")
    height, width = valid.shape
    rng = np.random.default_rng(seed)
    keep, split_16, split_8 = _split_plan(density * _BLOCK_SIZES[0] ** 2 / (1.0 - dropout))
    # The size of every 4x4 cell's block, decided from the largest blocks down.
    size_of = np.full((-(-height // 16), -(-width // 16)), 16, dtype=np.int64)
    size_of[_split_choice(_block_activity(flow, valid, 16), split_16, rng)] = 8
    cells8 = np.repeat(np.repeat(size_of, 2, axis=0), 2, axis=1)
    split = _split_choice(_block_activity(flow, valid, 8), split_8, rng) & (cells8 == 8)
    cells8[split] = 4
    cells = np.repeat(np.repeat(cells8, 2, axis=0), 2, axis=1)
    # Block origins: a 4x4 cell starts a block when its position is a multiple of its block's size.
    rows, cols = np.meshgrid(np.arange(cells.shape[0]) * 4, np.arange(cells.shape[1]) * 4, indexing="ij")
    starts = (rows % cells == 0) & (cols % cells == 0)
    size, top, left = cells[starts], rows[starts], cols[starts]
    centre_row = top + np.minimum(size, height - top) // 2  # a block cut by the frame's edge: its visible part's centre
    centre_col = left + np.minimum(size, width - left) // 2
    kept = rng.random(size.shape) >= dropout
    kept &= rng.random(size.shape) < np.where(size == 16, keep, 1.0)
    kept &= (top < height) & (left < width)
    kept[kept] = valid[centre_row[kept], centre_col[kept]]
    if not kept.any():
        raise ValueError("block_mask: no block centre fell on a valid pixel; the frame is too small or the density too low")
    return mask_of(centre_row[kept] * width + centre_col[kept], valid.shape)
