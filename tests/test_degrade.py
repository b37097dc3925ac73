"""Degrading training images like real frames: motion blur along the flow, the other effects, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from flowinpaint.data.degrade import _motion_blur, degrade, degrade_pair
from flowinpaint.train.config import TrainConfig
from flowinpaint.train.data import TrainingSamples


def _stripes(shape: tuple[int, int] = (64, 80)) -> np.ndarray:
    """Vertical black and white stripes, 4 px wide: ``(H, W, 3)`` uint8."""
    columns = np.arange(shape[1])
    row = np.where((columns // 4) % 2 == 0, 255, 0).astype(np.uint8)
    return np.repeat(np.repeat(row[None, :, None], shape[0], axis=0), 3, axis=2)


def test_motion_blur_follows_the_flow() -> None:
    image = _stripes()
    across = np.zeros((*image.shape[:2], 2), np.float32)
    across[..., 0] = 10.0  # horizontal motion: across the stripes
    along = np.zeros_like(across)
    along[..., 1] = 10.0  # vertical motion: along them
    assert _motion_blur(image, across, 0.8).std() < 0.25 * image.std()  # 8 px of motion: one period of the stripes
    np.testing.assert_allclose(_motion_blur(image, along, 0.5), image, atol=1e-3)
    np.testing.assert_allclose(_motion_blur(image, np.zeros_like(across), 0.5), image, atol=1e-3)


def test_degrade_is_deterministic_and_changes_most_images() -> None:
    image = _stripes()
    flow = np.full((*image.shape[:2], 2), 3.0, np.float32)
    first = degrade(image, flow, np.random.default_rng(5))
    assert first.dtype == np.uint8 and first.shape == image.shape
    np.testing.assert_array_equal(first, degrade(image, flow, np.random.default_rng(5)))
    changed = [not np.array_equal(degrade(image, flow, np.random.default_rng(seed)), image) for seed in range(20)]
    assert sum(changed) >= 17  # all six effects are off together with probability 0.07


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="uint8"):
        degrade(_stripes().astype(np.float32), np.zeros((64, 80, 2), np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="flow"):
        degrade(_stripes(), np.zeros((64, 81, 2), np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="degrade"):
        TrainConfig(degrade=1.5)


def test_training_samples_degrade_the_image_only() -> None:
    config = TrainConfig(frame=(64, 64), crop=(48, 48), train_length=2, val_length=1)
    clean, degraded = TrainingSamples(config)[3], TrainingSamples(TrainConfig(**{**config.__dict__, "degrade": 1.0}))[3]
    for key in ("flow", "known", "truth", "valid"):
        assert (clean[key] == degraded[key]).all(), key
    assert not (clean["image"] == degraded["image"]).all()


def test_a_pair_is_degraded_alike_and_each_frame_as_degrade_would():
    """Both frames get the same draws: one frame degraded twice by the pair gives the same image,
    and each frame is what :func:`degrade` gives from the pair's seed."""
    image = _stripes()
    flow = np.full((*image.shape[:2], 2), 3.0, np.float32)
    for seed in range(6):
        first, second = degrade_pair(image, image, flow, np.random.default_rng(seed))
        np.testing.assert_array_equal(first, second)
        inner = int(np.random.default_rng(seed).integers(2**63))
        np.testing.assert_array_equal(first, degrade(image, flow, np.random.default_rng(inner)))
    shifted = np.roll(image, 2, axis=1)
    first, second = degrade_pair(image, shifted, flow, np.random.default_rng(1))
    assert not np.array_equal(first, second)
    with pytest.raises(ValueError, match="uint8"):
        degrade_pair(image, image.astype(np.float32), flow, np.random.default_rng(0))
