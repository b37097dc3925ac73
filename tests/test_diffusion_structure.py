"""The Gaussian blur of the structure tensor equals scipy's, on each of its paths, with gradients."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch

from flowinpaint.diffusion import structure
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


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.5, 4.0])
@pytest.mark.parametrize("shape", [(2, 3, 23, 31), (1, 1, 5, 40)])
def test_float32_without_gradient_takes_opencv_and_equals_scipy(sigma, shape, monkeypatch):
    """Float32 CPU tensors without gradient go through OpenCV's filter: scipy's result to float32
    rounding, also where the kernel is wider than a side (the radius is clamped to it)."""
    image = np.random.default_rng(2).random(shape).astype(np.float32)
    radius = min(int(np.ceil(3 * sigma)), shape[-1] - 1, shape[-2] - 1)
    expected = scipy.ndimage.gaussian_filter(image.astype(np.float64), (0, 0, sigma, sigma), mode="mirror",
                                             truncate=radius / sigma)
    calls = []
    monkeypatch.setattr(structure, "_opencv_blur", lambda *a, _f=structure._opencv_blur: calls.append(1) or _f(*a))
    blurred = gaussian_blur(torch.from_numpy(image), sigma)
    assert calls and blurred.dtype == torch.float32 and blurred.shape == shape
    np.testing.assert_allclose(blurred.numpy(), expected, rtol=0, atol=2e-6)
    with_gradient = torch.from_numpy(image).requires_grad_()
    torch.testing.assert_close(gaussian_blur(with_gradient, sigma), blurred, rtol=0, atol=2e-6)
    assert len(calls) == 1  # a tensor that needs a gradient keeps the torch path
