"""The Gaussian blur of the structure tensor equals scipy's, on both of its paths, with gradients."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch

from flowinpaint.diffusion.structure import SHIFTED_SUM_MAX_RADIUS, gaussian_blur


@pytest.mark.parametrize("sigma", [0.4, 1.0, 2.0, 3.0, 5.0])
def test_gaussian_blur_equals_scipy_with_mirrored_borders(sigma):
    image = np.random.default_rng(1).random((2, 3, 23, 31))
    radius = int(np.ceil(3 * sigma))
    expected = scipy.ndimage.gaussian_filter(image, (0, 0, sigma, sigma), mode="mirror", truncate=radius / sigma)
    blurred = gaussian_blur(torch.from_numpy(image), sigma).numpy()
    np.testing.assert_allclose(blurred, expected, rtol=0, atol=1e-10)


def test_both_paths_are_covered_and_differentiable():
    radii = [int(np.ceil(3 * sigma)) for sigma in (1.0, 3.0)]
    assert radii[0] <= SHIFTED_SUM_MAX_RADIUS < radii[1]
    image = torch.rand(1, 2, 12, 14, dtype=torch.float64, requires_grad=True)
    for sigma in (1.0, 3.0):
        assert torch.autograd.gradcheck(lambda x, sigma=sigma: gaussian_blur(x, sigma), (image,))
