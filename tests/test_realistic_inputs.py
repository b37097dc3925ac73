"""Realistic sparse inputs: LiDAR scanlines, codec blocks and wrong known values."""

from __future__ import annotations

import numpy as np
import pytest

from flowinpaint.data import (
    SparseSample,
    block_mask,
    inject_outliers,
    known_wrong,
    make_sparse,
    scanline_mask,
)
from flowinpaint.data.outliers import BORROW_DISTANCE, OUTLIER_THRESHOLD, wrong_values

SHAPE = (120, 160)


def _valid(shape=SHAPE, hole: bool = False) -> np.ndarray:
    valid = np.ones(shape, dtype=bool)
    if hole:
        valid[: shape[0] // 3] = False  # like KITTI: no ground truth in the sky
    return valid


# --- scanlines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("density", [0.005, 0.02, 0.1, 0.2])
@pytest.mark.parametrize("hole", [False, True])
def test_scanlines_hit_the_density_on_valid_pixels_only(density: float, hole: bool) -> None:
    valid = _valid((240, 320), hole)
    mask = scanline_mask(valid, density, seed=3)
    assert mask.dtype == np.bool_ and mask.shape == valid.shape
    assert not (mask & ~valid).any()
    assert mask.sum() == pytest.approx(density * valid.sum(), rel=0.15)


def test_scanlines_are_deterministic_and_seeded() -> None:
    valid = _valid()
    assert np.array_equal(scanline_mask(valid, 0.05, seed=1), scanline_mask(valid, 0.05, seed=1))
    assert not np.array_equal(scanline_mask(valid, 0.05, seed=1), scanline_mask(valid, 0.05, seed=2))


def test_scanlines_are_curved_rows_denser_at_the_bottom() -> None:
    height, width = 436, 1024
    mask = scanline_mask(_valid((height, width)), 0.02, seed=0, dropout=0.0)
    # Rows through the centre column: 64 separate runs of known pixels down the middle strip.
    centre = mask[:, width // 2 - 40 : width // 2 + 40].any(axis=1)
    starts = np.flatnonzero(centre & ~np.r_[False, centre[:-1]])
    assert 56 <= len(starts) <= 64
    spacing = np.diff(starts)
    top, bottom = spacing[: len(spacing) // 4].mean(), spacing[-len(spacing) // 4 :].mean()
    assert bottom < 0.8 * top
    # Below the horizon a row bends down towards the sides: the lowest known pixel of the
    # bottom rows lies further down at the frame's edge than in its centre.
    rows, cols = np.nonzero(mask)
    low_centre = rows[np.abs(cols - width // 2) < 20].max()
    low_edge = rows[cols < 40].max()
    assert low_edge >= low_centre
    middle = rows[(rows > 0.6 * height) & (rows < 0.7 * height)]
    assert middle.size  # rows do cross the lower part of the frame


# --- blocks ------------------------------------------------------------------------------------


def _blocky_flow(shape=SHAPE) -> np.ndarray:
    """A flow with one moving square: the motion edges are inside known blocks."""
    flow = np.zeros((*shape, 2), dtype=np.float32)
    flow[37:83, 53:111] = (6.0, -2.0)
    return flow


@pytest.mark.parametrize("density", [1 / 300, 1 / 100, 1 / 30])
def test_blocks_sit_at_codec_block_centres(density: float) -> None:
    valid = _valid()
    mask = block_mask(valid, density, seed=0, flow=_blocky_flow(), dropout=0.0)
    rows, cols = np.nonzero(mask)
    # Every known pixel is the centre (offset + size // 2) of an aligned 16, 8 or 4 px block.
    centre = np.zeros(rows.shape, dtype=bool)
    for size in (16, 8, 4):
        centre |= (rows % size == size // 2) & (cols % size == size // 2)
    cut = rows == 116  # the last row of macroblocks is cut to 8 px by the frame (120 = 7 x 16 + 8)
    assert centre[~cut].all() and (cols[cut] % 4 == 0).all()
    assert mask.sum() == pytest.approx(density * valid.sum(), rel=0.1)


def test_blocks_density_limits_and_dropout() -> None:
    valid = _valid((256, 256))
    full_16 = block_mask(valid, 1 / 256, seed=0, dropout=0.0)
    assert full_16.sum() == 256 and np.array_equal(np.nonzero(full_16)[0] % 16, np.full(256, 8))
    all_4 = block_mask(valid, 0.5, seed=0, dropout=0.0)  # capped: every block 4x4
    assert all_4.sum() == (256 // 4) ** 2
    dropped = block_mask(valid, 0.75 / 256, seed=0, dropout=0.25)  # no splits: a quarter of the blocks lack a vector
    assert 0.65 * 256 < dropped.sum() < 0.85 * 256 and (np.nonzero(dropped)[0] % 16 == 8).all()
    compensated = block_mask(valid, 1 / 256, seed=0, dropout=0.25)  # splits make up for the dropped blocks
    assert compensated.sum() == pytest.approx(256, rel=0.1)
    sparse = block_mask(valid, 1 / 1024, seed=0, dropout=0.0)  # below one per macroblock: some dropped
    assert sparse.sum() == pytest.approx(64, rel=0.35)


def test_blocks_split_where_the_motion_changes() -> None:
    flow = _blocky_flow()
    mask = block_mask(_valid(), 1 / 100, seed=0, flow=flow, dropout=0.0)
    edges = np.zeros(SHAPE, dtype=bool)
    moving = np.linalg.norm(flow, axis=-1) > 0
    edges[:-1] |= moving[:-1] != moving[1:]
    edges[:, :-1] |= moving[:, :-1] != moving[:, 1:]
    # Macroblocks holding a motion edge got split more often than the others.
    blocks_with_edges = edges.reshape(SHAPE[0] // 8, 8, SHAPE[1] // 8, 8).any(axis=(1, 3))
    per_block = mask.reshape(SHAPE[0] // 8, 8, SHAPE[1] // 8, 8).sum(axis=(1, 3))
    assert per_block[blocks_with_edges].mean() > 1.5 * per_block[~blocks_with_edges].mean()


def test_blocks_keep_to_valid_pixels_and_check_the_flow() -> None:
    valid = _valid(hole=True)
    mask = block_mask(valid, 0.01, seed=0)
    assert mask.any() and not (mask & ~valid).any()
    with pytest.raises(ValueError, match="flow must have shape"):
        block_mask(valid, 0.01, flow=np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="no block centre"):
        block_mask(np.eye(2, dtype=bool)[::-1], 0.01)  # the one block's centre (1, 1) is not valid


# --- wrong known values ------------------------------------------------------------------------


def _sparse(density: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth but varied flow (rotation plus zoom) known at uniform random pixels."""
    rows, cols = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]].astype(np.float64)
    truth = np.stack([0.08 * (cols - 80) - 0.1 * (rows - 60), 0.1 * (cols - 80) + 0.08 * (rows - 60)], axis=-1)
    mask = np.random.default_rng(seed).random(SHAPE) < density
    return np.where(mask[..., None], truth, 0).astype(np.float32), mask, truth.astype(np.float32)


def test_outliers_replace_the_asked_fraction_with_wrong_values() -> None:
    flow, mask, truth = _sparse()
    changed, outliers = inject_outliers(flow, mask, 0.2, seed=1)
    assert outliers.sum() == round(0.2 * mask.sum()) and not (outliers & ~mask).any()
    assert np.array_equal(changed[~outliers], flow[~outliers])  # nothing else moved
    wrong = wrong_values(changed[outliers], truth[outliers])
    assert wrong.mean() > 0.9  # a varied flow leaves almost every borrowed value wrong
    assert np.array_equal(known_wrong(SparseSample(changed, mask, 0, outliers), truth, np.ones(SHAPE, bool)),
                          outliers & wrong_values(changed, truth))


def test_outliers_are_half_random_half_borrowed_from_20_to_80_px_away() -> None:
    flow, mask, _ = _sparse()
    changed, outliers = inject_outliers(flow, mask, 0.3, seed=4)
    values = changed[outliers]
    known_positions = np.argwhere(mask)
    known_values = flow[mask]
    borrowed = 0
    for (row, col), value in zip(np.argwhere(outliers), values):
        same = np.all(known_values == value, axis=1)
        if same.any():
            distance = np.hypot(*(known_positions[same] - (row, col)).T)
            assert ((distance >= BORROW_DISTANCE[0] - 1e-9) & (distance <= BORROW_DISTANCE[1] + 1e-9)).any()
            borrowed += 1
    assert abs(borrowed - outliers.sum() / 2) <= 0.1 * outliers.sum()
    low, high = flow[mask].min(axis=0), flow[mask].max(axis=0)
    assert (values >= low - 1e-5).all() and (values <= high + 1e-5).all()  # the range is wider than 12 px here


def test_outliers_nest_across_fractions_and_are_seeded() -> None:
    flow, mask, _ = _sparse()
    small, few = inject_outliers(flow, mask, 0.05, seed=2)
    large, many = inject_outliers(flow, mask, 0.3, seed=2)
    assert (few <= many).all() and np.array_equal(small[few], large[few])
    again, same = inject_outliers(flow, mask, 0.3, seed=2)
    assert np.array_equal(again, large) and np.array_equal(same, many)
    _other, elsewhere = inject_outliers(flow, mask, 0.3, seed=3)
    assert not np.array_equal(elsewhere, many)
    untouched, none = inject_outliers(flow, mask, 0.0, seed=2)
    assert np.array_equal(untouched, flow) and not none.any()


def test_random_outliers_are_wrong_even_for_a_constant_flow() -> None:
    mask = np.random.default_rng(0).random(SHAPE) < 0.05
    flow = np.where(mask[..., None], np.full((*SHAPE, 2), 1.5), 0.0).astype(np.float32)
    changed, outliers = inject_outliers(flow, mask, 0.2, seed=0)
    error = np.linalg.norm(changed[outliers] - 1.5, axis=-1)
    # Borrowed values cannot differ (one motion), random ones are redrawn until wrong.
    assert (error > OUTLIER_THRESHOLD).mean() == pytest.approx(0.5, abs=0.05)


def test_make_sparse_keeps_the_mask_and_marks_the_outliers() -> None:
    _flow, _mask, truth = _sparse()
    sample = {"image1": np.zeros((*SHAPE, 3), np.uint8), "image2": np.zeros((*SHAPE, 3), np.uint8),
              "flow": truth, "valid": np.ones(SHAPE, dtype=bool)}
    clean = make_sparse("scanlines", sample, 0.05, seed=7)
    noisy = make_sparse("scanlines", sample, 0.05, seed=7, outliers=0.1)
    assert isinstance(noisy, SparseSample) and np.array_equal(clean.mask, noisy.mask)
    assert noisy.outliers.sum() == round(0.1 * clean.mask.sum()) and not clean.outliers.any()
    assert np.array_equal(noisy.flow[~noisy.outliers], clean.flow[~noisy.outliers])
    with pytest.raises(ValueError, match="outliers"):
        make_sparse("uniform", sample, 0.05, outliers=1.5)


def test_outlier_arguments_are_checked() -> None:
    flow, mask, _ = _sparse()
    with pytest.raises(ValueError, match="outliers must be a number"):
        inject_outliers(flow, mask, -0.1)
    with pytest.raises(ValueError, match="mask"):
        inject_outliers(flow, mask.astype(np.uint8), 0.1)
