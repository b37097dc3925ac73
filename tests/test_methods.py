"""The explicit methods behind the registry: exactness, invariances, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import exact_inpainting, independent_operator, inpaint_checked

import flowinpaint
from flowinpaint import inpaint, method_names, points_to_sparse
from flowinpaint.methods import get_method

EXPLICIT = ["laplace", "lb", "eed", "amle"]
# Tight convergence for comparisons with exact answers: float64 for the diffusion methods.
PRECISE = {"laplace": {"tol": 1e-9, "dtype": "float64"}, "lb": {"tol": 1e-9, "dtype": "float64"},
           "eed": {"tol": 1e-9, "dtype": "float64"}, "amle": {"tol": 1e-7}}


def piecewise_scene(shape=(40, 56), seed=0):
    """An image with two regions and a flow that is smooth inside each and jumps at the edge."""
    rng = np.random.default_rng(seed)
    height, width = shape
    y, x = np.mgrid[:height, :width].astype(np.float32)
    inside = (x - width * 0.55) ** 2 + (y - height * 0.5) ** 2 < (0.3 * height) ** 2
    image = np.where(inside[..., None], [0.8, 0.3, 0.2], [0.1, 0.4, 0.7]).astype(np.float32)
    image = np.clip(image + rng.normal(0, 0.01, image.shape), 0, 1).astype(np.float32)
    flow = np.where(inside[..., None], np.stack([4 + 0.02 * x, -3 + 0.01 * y], -1), np.stack([0.05 * y, 0.5 + 0 * y], -1))
    mask = rng.random(shape) < 0.05
    return flow.astype(np.float32), mask, image


@pytest.mark.parametrize("method", EXPLICIT)
def test_output_contract(method: str) -> None:
    flow, mask, image = piecewise_scene()
    dense = inpaint_checked(method, flow, mask, image)
    # Minimum-maximum principle: exact for laplace (non-negative stencil) and amle (monotone
    # scheme). lb and eed have cells where no alpha gives a non-negative stencil (|b| > min(a, c));
    # there over- and undershoots appear (here up to ~17 % of the range for lb's strongly
    # anisotropic default, gamma = 200, at the image noise), but they stay bounded (L2 stability).
    slack = 1e-3 if method in ("laplace", "amle") else 0.25
    for channel in range(2):
        known = flow[mask][:, channel]
        spread = known.max() - known.min()
        assert dense[..., channel].min() >= known.min() - slack * spread
        assert dense[..., channel].max() <= known.max() + slack * spread


def test_registry_lists_the_methods() -> None:
    assert set(EXPLICIT) <= set(method_names())
    for name in EXPLICIT:
        assert get_method(name).summary


def test_laplace_matches_sparse_direct_solve() -> None:
    flow, mask, _ = piecewise_scene((30, 37), seed=1)
    dense = inpaint(flow, mask, method="laplace", tol=1e-8, dtype="float64")
    ones = np.ones((29, 36))
    operator = independent_operator(ones, 0 * ones, ones, 0 * ones)
    for channel in range(2):
        exact = exact_inpainting(operator, mask, np.where(mask, flow[..., channel], 0))
        assert np.linalg.norm(dense[..., channel] - exact) / np.linalg.norm(exact) < 1e-3


def test_lb_with_zero_gamma_is_laplace() -> None:
    flow, mask, image = piecewise_scene()
    laplace = inpaint(flow, mask, method="laplace", alpha=0.25, tol=1e-8, dtype="float64")
    lb = inpaint(flow, mask, image, method="lb", gamma=0.0, alpha=0.25, tol=1e-8, dtype="float64")
    np.testing.assert_allclose(lb, laplace, atol=1e-5)


@pytest.mark.parametrize("method", ["laplace", "amle"])
def test_linear_interpolation_between_two_columns_is_exact(method: str) -> None:
    """Data 0 on the left column and 6 on the right: both Laplace and AMLE give the linear ramp."""
    height, width = 9, 13
    flow = np.zeros((height, width, 2), np.float32)
    flow[:, -1] = [6.0, -3.0]
    mask = np.zeros((height, width), bool)
    mask[:, [0, -1]] = True
    dense = inpaint(flow, mask, method=method, **PRECISE[method])
    ramp = np.linspace(0, 1, width, dtype=np.float32)
    np.testing.assert_allclose(dense[..., 0], np.broadcast_to(6 * ramp, (height, width)), atol=1e-3)
    np.testing.assert_allclose(dense[..., 1], np.broadcast_to(-3 * ramp, (height, width)), atol=1e-3)


@pytest.mark.parametrize("method", ["lb", "eed"])
def test_image_guided_methods_beat_laplace_when_flow_edges_follow_image_edges(method: str) -> None:
    errors = {}
    for name in ("laplace", method):
        per_seed = []
        for seed in range(3):
            flow, mask, image = piecewise_scene((64, 80), seed=seed)
            per_seed.append(flowinpaint.epe(inpaint(flow, mask, image, method=name), flow))
        errors[name] = np.mean(per_seed)
    assert errors[method] < 0.8 * errors["laplace"], errors


def transpose(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.swapaxes(array, 0, 1))


def rotate(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(array))


@pytest.mark.parametrize("grid_map", [transpose, rotate], ids=["transpose", "rot90"])
@pytest.mark.parametrize("method", EXPLICIT)
def test_grid_symmetries_commute_with_inpainting(method: str, grid_map) -> None:
    """Each flow channel is inpainted as a scalar field, so moving the pixels of the flow, mask
    and image moves the result's pixels the same way."""
    flow, mask, image = piecewise_scene((33, 47), seed=2)
    dense = inpaint(flow, mask, image, method=method, **PRECISE[method])
    mapped = inpaint(grid_map(flow), grid_map(mask), grid_map(image), method=method, **PRECISE[method])
    np.testing.assert_allclose(mapped, grid_map(dense), atol=1e-4)


def test_points_to_sparse_averages_duplicates_and_counts_rejects() -> None:
    points0 = np.array([[1.2, 2.0], [0.8, 2.3], [5.0, 1.0], [-0.6, 0.0], [3.0, 9.7], [np.nan, 1.0]])
    points1 = points0 + np.array([[1, 0], [3, 2], [0, -1], [1, 1], [1, 1], [0, 0]])
    sparse = points_to_sparse(points0, points1, (10, 6))
    assert sparse.rejected == 3  # x = -0.6 rounds to -1, y = 9.7 rounds to 10, NaN
    assert sparse.mask.sum() == 2
    np.testing.assert_allclose(sparse.flow[2, 1], [2.0, 1.0])
    np.testing.assert_allclose(sparse.flow[1, 5], [0.0, -1.0])
    opencv_layout = points_to_sparse(points0[:, None].astype(np.float32), points1[:, None].astype(np.float32), (10, 6))
    assert np.array_equal(opencv_layout.mask, sparse.mask)


def test_points_to_sparse_feeds_inpaint() -> None:
    rng = np.random.default_rng(0)
    points0 = rng.uniform(0, 30, size=(60, 2))
    flow, mask, _rejected = points_to_sparse(points0, points0 + [2.0, -1.0], (31, 31))
    dense = inpaint(flow, mask, method="laplace")
    np.testing.assert_allclose(dense, np.broadcast_to([2.0, -1.0], dense.shape), atol=1e-6)


def test_not_converging_warns() -> None:
    flow, mask, image = piecewise_scene()
    with pytest.warns(UserWarning, match="did not converge"):
        inpaint(flow, mask, image, method="eed", max_steps=1, levels=1)


def good_input():
    flow, mask, image = piecewise_scene((20, 24))
    return flow, mask, image


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f, m, i: (f[..., :1], m, i), r"flow must have shape \(H, W, 2\)"),
        (lambda f, m, i: (f, m[:-1], i), "mask must have shape"),
        (lambda f, m, i: (f, m.astype(np.uint8), i), "mask must be a bool array"),
        (lambda f, m, i: (f, np.zeros_like(m), i), "mask is empty"),
        (lambda f, m, i: (f, np.ones_like(m), i), "no unknown pixel"),
        (lambda f, m, i: (np.where(m[..., None], np.nan, f), m, i), "NaN or inf at"),
        (lambda f, m, i: (f, m, i[:-1]), "image must be"),
        (lambda f, m, i: (f, m, (i * 255).astype(np.int32)), "image must be uint8 or float"),
        (lambda f, m, i: (f, m, i * 2), r"must lie in \[0, 1\]"),
        (lambda f, m, i: (f, m, None), "needs the reference image"),
        (lambda f, m, i: (list(f), m, i), "flow must be a numpy array"),
    ],
)
def test_bad_input_is_a_clear_value_error(change, message: str) -> None:
    flow, mask, image = change(*good_input())
    with pytest.raises(ValueError, match=message):
        inpaint(flow, mask, image, method="eed")


def test_unknown_method_and_option() -> None:
    flow, mask, image = good_input()
    with pytest.raises(ValueError, match="unknown method 'nope'; available: .*eed"):
        inpaint(flow, mask, image, method="nope")
    with pytest.raises(ValueError, match="has no option.*contrast"):
        inpaint(flow, mask, image, method="eed", sharpness=3)
    with pytest.raises(ValueError, match="contrast must be > 0"):
        inpaint(flow, mask, image, method="eed", contrast=-1.0)
    with pytest.raises(ValueError, match="too many"):
        inpaint(flow, mask, image, method="eed", levels=6)
    with pytest.raises(ValueError, match="below float32 rounding"):
        inpaint(flow, mask, image, method="eed", tol=1e-7)


def test_greyscale_and_uint8_images_are_accepted() -> None:
    flow, mask, image = good_input()
    grey = (image.mean(axis=2) * 255).astype(np.uint8)
    dense_grey = inpaint(flow, mask, grey, method="eed")
    dense_rgb = inpaint(flow, mask, np.repeat(grey[..., None], 3, axis=2), method="eed")
    np.testing.assert_array_equal(dense_grey, dense_rgb)


@pytest.mark.parametrize("method", ["neuroaffine", "eed"])
def test_views_with_negative_strides_are_accepted(method: str) -> None:
    """A mirrored frame (``array[:, ::-1]``, as augmentation code makes it) is a view with negative
    strides, which torch cannot wrap: the same flow as from contiguous copies."""
    flow, mask, image = (array[:, ::-1] for array in good_input())
    confidence = np.linspace(0.5, 1.0, mask.size, dtype=np.float32).reshape(mask.shape)[::-1]
    np.testing.assert_array_equal(
        inpaint(flow, mask, image, method=method, confidence=confidence),
        inpaint(*(np.ascontiguousarray(array) for array in (flow, mask, image)), method=method,
                confidence=np.ascontiguousarray(confidence)),
    )


def test_the_image_tensor_holds_the_float_image() -> None:
    """uint8 images go to torch by its own conversion: the same values as the float image."""
    from flowinpaint.methods.validation import as_float_image, image_tensor

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (9, 21, 3), dtype=np.uint8)
    for image in (rgb, rgb[..., 0], rgb[..., :1], rgb[:, ::-1], rgb.astype(np.float32) / 255):
        expected = torch.from_numpy(as_float_image(image, (9, 21))).permute(2, 0, 1)[None]
        assert torch.equal(image_tensor(image, (9, 21)), expected)


def test_torch_inputs_are_accepted() -> None:
    flow, mask, image = good_input()
    np.testing.assert_array_equal(
        inpaint(torch.from_numpy(flow), torch.from_numpy(mask), torch.from_numpy(image), method="eed"),
        inpaint(flow, mask, image, method="eed"),
    )


@pytest.mark.parametrize("method", ["epic", "ric"])
def test_a_method_that_cannot_run_here_says_why_before_it_starts(method, monkeypatch):
    import cv2

    monkeypatch.delattr(cv2, "ximgproc")
    flow = np.zeros((20, 24, 2), np.float32)
    mask = np.zeros((20, 24), bool)
    mask[::4, ::4] = True
    with pytest.raises(ValueError, match=f"method '{method}' cannot run here: .*opencv-contrib-python-headless"):
        flowinpaint.inpaint(flow, mask, np.zeros((20, 24, 3), np.uint8), method=method)
    with pytest.raises(ValueError, match="cannot run here"):
        flowinpaint.inpaint_batch([flow], [mask], [np.zeros((20, 24, 3), np.uint8)], method=method)
