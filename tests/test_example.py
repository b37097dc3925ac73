"""The synthetic example (exact flow, deterministic) and the uniform mask sampler."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from flowinpaint.data import make_example, uniform_mask

SIZE = (96, 128)


def _photometric_error(example: dict, flow: np.ndarray) -> np.ndarray:
    """|frame 1 - frame 2 sampled at (x + u, y + v)| per pixel, mean over the colour channels."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    warped = cv2.remap(
        example["image2"].astype(np.float32),
        grid_x + flow[..., 0],
        grid_y + flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.abs(warped - example["image1"]).mean(axis=2)


def test_example_arrays():
    example = make_example((48, 64), seed=3)
    assert example["image1"].shape == example["image2"].shape == (48, 64, 3)
    assert example["image1"].dtype == example["image2"].dtype == np.uint8
    assert example["flow"].shape == (48, 64, 2) and example["flow"].dtype == np.float32
    assert np.isfinite(example["flow"]).all() and np.abs(example["flow"]).max() > 0.5
    assert example["valid"].dtype == np.bool_ and example["valid"].all()
    assert example["occlusion"].dtype == np.bool_ and example["occlusion"].shape == (48, 64)
    assert isinstance(example["id"], str) and example["id"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flow_is_exact(seed):
    example = make_example(SIZE, seed=seed)
    flow, visible = example["flow"], ~example["occlusion"]
    assert 0.0 < example["occlusion"].mean() < 0.2  # occlusions exist, and are few
    exact = _photometric_error(example, flow)[visible].mean()
    zero = _photometric_error(example, np.zeros_like(flow))[visible].mean()
    shifted = _photometric_error(example, flow + np.float32([1.0, 0.0]))[visible].mean()
    noise = np.random.default_rng(seed).normal(0.0, 1.0, flow.shape).astype(np.float32)
    noisy = _photometric_error(example, flow + noise)[visible].mean()
    # the mean includes boundary pixels, which mix two layers moving differently
    assert exact < 0.5 * min(zero, shifted, noisy), (exact, zero, shifted, noisy)
    assert np.median(_photometric_error(example, flow)[visible]) < 2.0


def test_example_is_deterministic():
    first, again, other = make_example(SIZE, seed=7), make_example(SIZE, seed=7), make_example(SIZE, seed=8)
    for key in ("image1", "image2", "flow", "valid", "occlusion"):
        np.testing.assert_array_equal(first[key], again[key])
    assert first["id"] == again["id"]
    assert not np.array_equal(first["flow"], other["flow"])


def test_example_rejects_tiny_size():
    with pytest.raises(ValueError):
        make_example((4, 64))


def test_uniform_mask_count_subset_deterministic():
    valid = np.zeros((40, 50), bool)
    valid[5:35, 10:45] = True
    mask = uniform_mask(valid, 0.1, seed=3)
    assert mask.shape == valid.shape and mask.dtype == np.bool_
    assert mask.sum() == round(0.1 * valid.sum())
    assert not (mask & ~valid).any()
    np.testing.assert_array_equal(mask, uniform_mask(valid, 0.1, seed=3))
    assert not np.array_equal(mask, uniform_mask(valid, 0.1, seed=4))
    assert uniform_mask(valid, 1e-9, seed=0).sum() == 1


@pytest.mark.parametrize("density", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_uniform_mask_rejects_bad_density(density):
    with pytest.raises(ValueError):
        uniform_mask(np.ones((8, 8), bool), density, seed=0)


def test_uniform_mask_rejects_bad_valid():
    with pytest.raises(ValueError):
        uniform_mask(np.zeros((8, 8), bool), 0.5, seed=0)
    with pytest.raises(ValueError):
        uniform_mask(np.ones((8, 8), np.uint8), 0.5, seed=0)
