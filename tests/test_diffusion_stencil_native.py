"""The C kernels of an explicit diffusion level's set-up compute what the torch code does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import flowinpaint
from flowinpaint.diffusion import pixel_time_step, www_stencil
from flowinpaint.diffusion.stencil_native import (
    native_eed_tensor,
    native_gradient_outer_product,
    native_ready,
    native_www_stencil,
    stencil_library,
)
from flowinpaint.diffusion.structure import (
    cell_gradients,
    dominant_eigen,
    gaussian_blur,
    structure_tensor,
)
from flowinpaint.diffusion.tensor import DiffusionTensor, tensor_from_eigen
from flowinpaint.methods.eed import diffusivity
from flowinpaint.methods.explicit import stencil_alpha

needs_native = pytest.mark.skipif(stencil_library() is None, reason="no C compiler for the native kernels")
NATIVE_USERS = ("flowinpaint.diffusion.structure", "flowinpaint.methods.eed", "flowinpaint.methods.explicit")


def _image(shape: tuple[int, int], seed: int, channels: int = 3) -> torch.Tensor:
    """Random smooth-and-sharp image ``(1, C, H, W)`` float32 in [0, 1]: noise plus a step edge."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(1, channels, *shape, generator=generator) * 0.3
    image[..., :, shape[1] // 2:] += 0.6
    return image


def _cells(shape: tuple[int, int], seed: int) -> DiffusionTensor:
    """Random symmetric tensors on the dual grid, positive definite or not, with some b exactly 0."""
    generator = torch.Generator().manual_seed(seed)
    a, c = (torch.rand(1, 1, *shape, generator=generator) for _ in range(2))
    b = torch.randn(1, 1, *shape, generator=generator) * 0.4
    b[..., ::3, ::2] = 0.0
    return DiffusionTensor(a, b, c)


@needs_native
@pytest.mark.parametrize(("shape", "channels"), [((2, 2), 3), ((7, 5), 1), ((40, 63), 3)])
def test_the_outer_product_is_the_torch_one_bit_for_bit(shape: tuple[int, int], channels: int) -> None:
    image = _image(shape, seed=shape[0], channels=channels)
    grad_x, grad_y = cell_gradients(image)
    expected = ((grad_x * grad_x).sum(1, keepdim=True), (grad_x * grad_y).sum(1, keepdim=True),
                (grad_y * grad_y).sum(1, keepdim=True))
    for got, want in zip(native_gradient_outer_product(image), expected):
        assert torch.equal(got, want)


@needs_native
@pytest.mark.parametrize("kind", ["perona-malik", "charbonnier"])
def test_the_eed_tensor_is_the_torch_one_to_float_rounding(kind: str) -> None:
    """Equal to rounding (torch's square root is MKL's, within an ulp of the exact one), flat
    regions (a zero structure tensor: isotropic) included."""
    image = _image((48, 64), seed=3)
    image[..., :20, :20] = 0.5  # flat: the structure tensor vanishes there (and 6 px beyond the blurs)
    structure = structure_tensor(image, 0.5, 1.0)
    vector, lambda1, _ = dominant_eigen(structure)
    across = diffusivity(lambda1, 0.02, kind)
    expected = tensor_from_eigen(vector, across, torch.ones_like(across))
    got = native_eed_tensor(structure, 0.02, kind == "charbonnier")
    for entry, want in zip(got, expected):
        torch.testing.assert_close(entry, want, rtol=2e-6, atol=1e-7)
    assert torch.equal(got.a[..., :8, :8], torch.ones(1, 1, 8, 8)) and not got.b[..., :8, :8].any()


@needs_native
@pytest.mark.parametrize("alpha", [None, 0.0, 0.3, 0.5])
@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 1), (33, 47)])
def test_the_stencil_and_time_steps_are_the_torch_ones_bit_for_bit(alpha: float | None, shape: tuple[int, int]) -> None:
    """Cells ``(h, w)`` for an image of ``(h + 1, w + 1)`` pixels: every border case (one row or
    column of cells) included."""
    cells = _cells(shape, seed=sum(shape))
    expected = www_stencil(cells, stencil_alpha(cells, alpha))
    stencil, tau = native_www_stencil(cells, alpha)
    for got, want in zip(stencil, expected):
        assert torch.equal(got, want)
    assert torch.equal(tau, pixel_time_step(expected))


@needs_native
def test_the_kernels_do_not_depend_on_the_thread_count() -> None:
    image, cells = _image((37, 52), seed=5), _cells((36, 51), seed=6)
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            results.append((*native_gradient_outer_product(image), *native_eed_tensor(cells, 0.05, False),
                            *native_www_stencil(cells, None)[0], native_www_stencil(cells, None)[1]))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        assert all(torch.equal(x, y) for x, y in zip(results[0], other))


def test_the_kernels_take_one_float32_frame_without_gradients() -> None:
    frame = torch.zeros(1, 3, 8, 8)
    assert native_ready(frame) == (stencil_library() is not None)
    assert not native_ready(frame.double())
    assert not native_ready(torch.zeros(2, 3, 8, 8))
    assert not native_ready(frame.requires_grad_())


@needs_native
@pytest.mark.parametrize("density", [0.01, 0.1])
def test_eed_gives_the_torch_codes_flow(density: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole method, with the kernels and without (the fallback where no compiler is):
    the same flow to float rounding, both through the same solver."""
    from flowinpaint.data import make_example, uniform_mask

    example = make_example((96, 128), seed=2)
    known = uniform_mask(example["valid"], density, seed=0)
    native = flowinpaint.inpaint(example["flow"], known, example["image1"], method="eed")
    for module in NATIVE_USERS:
        monkeypatch.setattr(f"{module}.native_ready", lambda *tensors: False)
    fallback = flowinpaint.inpaint(example["flow"], known, example["image1"], method="eed")
    assert np.abs(native - fallback).max() < 1e-3
    np.testing.assert_array_equal(native[known], example["flow"][known])


def test_the_structure_tensor_keeps_its_gradient() -> None:
    """Training differentiates through the torch code: an image that needs a gradient never
    reaches the kernels."""
    image = _image((12, 15), seed=1).requires_grad_()
    structure_tensor(gaussian_blur(image, 0.5), 0.0, 1.0).a.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
