"""The torch edge-aware normalized convolution: affine exactness, agreement with the OpenCV path, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flowinpaint.diffusion.affine_fit import (
    edge_aware_affine_fit,
    edge_aware_mean,
    fit_coordinates,
)
from flowinpaint.diffusion.domain_transform import guide_distances
from flowinpaint.methods.registry import opencv_contrib_missing


def _scene(height: int, width: int, density: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A guide ``(1, 3, H, W)`` with random blocks of colour, a smooth non-affine flow ``(1, 2, H, W)`` and a
    uniform random certainty ``(1, 1, H, W)`` of about ``density``."""
    rng = np.random.default_rng(seed)
    blocks = rng.random((3, 4, 6), dtype=np.float32)
    guide = np.repeat(np.repeat(blocks, -(-height // 4), axis=1), -(-width // 6), axis=2)[:, :height, :width]
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    flow = np.stack([3 * np.sin(columns / 9) + rows / 20, np.cos(rows / 7) - columns / 30])
    certainty = (rng.random((height, width)) < density).astype(np.float32)
    return (torch.from_numpy(np.ascontiguousarray(guide))[None], torch.from_numpy(flow)[None],
            torch.from_numpy(certainty)[None, None])


def test_reproduces_an_affine_flow_exactly() -> None:
    guide, _, certainty = _scene(60, 90, 0.01, seed=0)
    x, y = (coordinate.double() for coordinate in fit_coordinates(60, 90))
    affine = torch.stack([1.5 + 0.8 * x + 0.3 * y[:, None], -2.0 - 0.4 * x + 1.1 * y[:, None]])[None]
    horizontal, vertical = guide_distances(guide.double(), 12.0, 0.1)
    fitted, support, _ = edge_aware_affine_fit(affine, certainty.double(), horizontal, vertical, 12.0)
    covered = support[0, 0] > 1e-6
    assert covered.float().mean() > 0.95
    torch.testing.assert_close(fitted[..., covered], affine[..., covered], atol=1e-8, rtol=0)


@pytest.mark.skipif(opencv_contrib_missing() is not None, reason="needs cv2.ximgproc")
@pytest.mark.parametrize("reach", [math.inf, 1.4])
def test_matches_the_opencv_fit(reach: float) -> None:
    from flowinpaint.methods.local_affine import edge_aware_average, local_affine_fit

    guide, flow, certainty = _scene(64, 96, 0.05, seed=1)
    image = np.ascontiguousarray(guide[0].permute(1, 2, 0).numpy())
    flow_hwc = np.ascontiguousarray(flow[0].permute(1, 2, 0).numpy())
    horizontal, vertical = guide_distances(guide, 9.0, 0.2)
    fitted, support, misfit = edge_aware_affine_fit(flow, certainty, horizontal, vertical, 9.0, reach, misfit=True)
    expected = local_affine_fit(flow_hwc, certainty[0, 0].numpy(), image, 9.0, 0.2, reach, misfit=True)
    np.testing.assert_allclose(support[0, 0].numpy(), expected.support, atol=1e-6)
    assert np.median(np.abs(misfit[0, 0].numpy() - expected.misfit)) < 1e-4
    gap = np.abs(fitted[0].permute(1, 2, 0).numpy() - expected.flow)
    assert np.median(gap) < 1e-4 and np.percentile(gap, 99) < 1e-2  # float32 moments: the rest is conditioning

    horizontal, vertical = guide_distances(guide, 3.0, 0.2)
    mean = edge_aware_mean(flow, certainty, horizontal, vertical, 3.0)
    expected_mean = edge_aware_average(flow_hwc, certainty[0, 0].numpy(), image, 3.0, 0.2)
    np.testing.assert_allclose(mean[0].permute(1, 2, 0).numpy(), expected_mean, atol=1e-4)


def test_mean_is_the_known_value_where_it_is_the_only_one() -> None:
    guide, flow, _ = _scene(20, 30, 0.0, seed=2)
    certainty = torch.zeros(1, 1, 20, 30)
    certainty[..., 10, 15] = 1.0
    mean = edge_aware_mean(flow, certainty, *guide_distances(guide, 5.0, 0.5), spatial_sigma=5.0)
    reached = mean.abs().sum(1) > 0
    torch.testing.assert_close(mean[0, :, 10, 15], flow[0, :, 10, 15])
    assert reached[0, 10, 15]
    torch.testing.assert_close(mean[0][:, reached[0]], flow[0, :, 10, 15, None].expand(2, int(reached.sum())))


def test_gradients_reach_the_distances() -> None:
    guide, flow, certainty = _scene(6, 11, 0.5, seed=3)
    horizontal, vertical = guide_distances(guide.double(), 3.0, 0.5)
    inputs = (horizontal.requires_grad_(), vertical.requires_grad_())

    def fit(h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return edge_aware_affine_fit(flow.double(), certainty.double(), h, v, 3.0, 1.4)[0]

    assert torch.autograd.gradcheck(fit, inputs, atol=1e-4)
