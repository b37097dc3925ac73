"""The torch domain-transform recursive filter: against a sequential reference, OpenCV, and its gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flowinpaint.diffusion.domain_transform import (
    guide_distances,
    mean_gap,
    recursive_filter,
    rf_log_alpha,
    sample_spacing,
    slope_reach,
)
from flowinpaint.methods.registry import opencv_contrib_missing


def _sequential_rf(values: np.ndarray, horizontal: np.ndarray, vertical: np.ndarray, spatial_sigma: float,
                   iterations: int) -> np.ndarray:
    """The recursion written out pixel by pixel in float64 (Gastal and Oliveira's Algorithm, OpenCV's order).

    Shape: values ``(C, H, W)``, horizontal ``(H, W - 1)``, vertical ``(H - 1, W)``.
    """
    y = values.astype(np.float64).copy()
    _, height, width = y.shape
    for iteration in range(iterations):
        a_h = np.exp(rf_log_alpha(spatial_sigma, iterations) * 2.0**iteration * horizontal)
        a_v = np.exp(rf_log_alpha(spatial_sigma, iterations) * 2.0**iteration * vertical)
        for j in range(1, width):
            y[:, :, j] += a_h[:, j - 1] * (y[:, :, j - 1] - y[:, :, j])
        for j in range(width - 2, -1, -1):
            y[:, :, j] += a_h[:, j] * (y[:, :, j + 1] - y[:, :, j])
        for i in range(1, height):
            y[:, i] += a_v[i - 1] * (y[:, i - 1] - y[:, i])
        for i in range(height - 2, -1, -1):
            y[:, i] += a_v[i] * (y[:, i + 1] - y[:, i])
    return y


def _guide(height: int, width: int, seed: int) -> torch.Tensor:
    """A random RGB guide ``(1, 3, H, W)`` float32 with a strong vertical edge down the middle."""
    rng = np.random.default_rng(seed)
    guide = rng.random((3, height, width), dtype=np.float32) * 0.2
    guide[:, :, width // 2:] += 0.7
    return torch.from_numpy(guide)[None]


@pytest.mark.parametrize(("height", "width", "spatial", "color", "iterations"),
                         [(9, 23, 4.0, 0.3, 3), (17, 6, 0.4, 0.002, 2), (13, 70, 15.0, 1.0, 1)])
def test_matches_sequential_recursion(height: int, width: int, spatial: float, color: float, iterations: int) -> None:
    guide = _guide(height, width, seed=height)
    values = torch.randn(1, 2, height, width, generator=torch.Generator().manual_seed(width))
    horizontal, vertical = guide_distances(guide, spatial, color)
    filtered = recursive_filter(values, horizontal, vertical, spatial, iterations)
    expected = _sequential_rf(values[0].numpy(), horizontal[0, 0].numpy(), vertical[0, 0].numpy(), spatial, iterations)
    np.testing.assert_allclose(filtered[0].numpy(), expected, atol=2e-6)


@pytest.mark.skipif(opencv_contrib_missing() is not None, reason="needs cv2.ximgproc")
@pytest.mark.parametrize(("spatial", "color"), [(6.0, 0.1), (0.5, 0.003), (30.0, 2.0)])
def test_matches_opencv(spatial: float, color: float) -> None:
    import cv2

    guide = _guide(41, 67, seed=3)
    values = torch.randn(1, 4, 41, 67, generator=torch.Generator().manual_seed(4))
    horizontal, vertical = guide_distances(guide, spatial, color)
    filtered = recursive_filter(values, horizontal, vertical, spatial)
    opencv = cv2.ximgproc.createDTFilter(np.ascontiguousarray(guide[0].permute(1, 2, 0).numpy()), spatial, color,
                                         cv2.ximgproc.DTF_RF, 3)
    expected = opencv.filter(np.ascontiguousarray(values[0].permute(1, 2, 0).numpy()))
    np.testing.assert_allclose(filtered[0].permute(1, 2, 0).numpy(), expected, atol=5e-6)


def test_weights_are_positive_and_sum_to_one() -> None:
    guide = _guide(7, 11, seed=5)
    horizontal, vertical = guide_distances(guide, 3.0, 0.1)
    impulses = torch.eye(77, dtype=torch.float64).reshape(77, 1, 7, 11)
    weights = recursive_filter(impulses, horizontal.double(), vertical.double(), 3.0).reshape(77, 77)
    assert weights.min() >= 0
    torch.testing.assert_close(weights.sum(dim=0), torch.ones(77, dtype=torch.float64))


def test_strong_edge_stops_the_filter_and_flat_guide_does_not() -> None:
    height, width = 8, 40
    values = torch.zeros(1, 1, height, width)
    values[..., : width // 2] = 1.0
    edge = torch.zeros(1, 1, height, width)
    edge[..., width // 2:] = 1.0
    across = recursive_filter(values, *guide_distances(edge, 10.0, 0.01), spatial_sigma=10.0)
    assert across[..., width // 2:].abs().max() < 1e-6
    flat = recursive_filter(values, *guide_distances(torch.zeros_like(edge), 10.0, 0.01), spatial_sigma=10.0)
    assert flat[..., width // 2].min() > 0.3


def test_gradients_of_values_and_distances() -> None:
    guide = _guide(5, 13, seed=6).double()
    horizontal, vertical = guide_distances(guide, 2.0, 0.5)
    values = torch.randn(1, 2, 5, 13, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    inputs = (values.requires_grad_(), horizontal.requires_grad_(), vertical.requires_grad_())
    assert torch.autograd.gradcheck(lambda v, h, w: recursive_filter(v, h, w, 2.0, 2), inputs)


def test_batches_and_broadcast_distances() -> None:
    guides = torch.cat([_guide(6, 9, seed=8), _guide(6, 9, seed=9)])
    values = torch.randn(2, 3, 6, 9, generator=torch.Generator().manual_seed(10))
    horizontal, vertical = guide_distances(guides, 4.0, 0.2)
    batched = recursive_filter(values, horizontal, vertical, 4.0)
    for index in range(2):
        single = recursive_filter(values[index:index + 1], horizontal[index:index + 1], vertical[index:index + 1], 4.0)
        torch.testing.assert_close(batched[index:index + 1], single)


def test_bad_inputs_are_clear_errors() -> None:
    values = torch.zeros(1, 1, 6, 9)
    horizontal, vertical = guide_distances(torch.zeros(1, 3, 6, 9), 2.0, 0.1)
    with pytest.raises(ValueError, match="do not fit"):
        recursive_filter(values, vertical, horizontal, 2.0)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        recursive_filter(values[0], horizontal, vertical, 2.0)
    with pytest.raises(ValueError, match="iterations"):
        recursive_filter(values, horizontal, vertical, 2.0, iterations=0)
    with pytest.raises(ValueError, match="guide"):
        guide_distances(torch.zeros(3, 6, 9), 2.0, 0.1)


def test_log_alpha_is_opencvs() -> None:
    # OpenCV's getIterAlpha(1) for sigma_s = 10, three iterations: exp(-sqrt(2/3) / (10 * 4 / sqrt(63)))
    assert rf_log_alpha(10.0, 3) == pytest.approx(-math.sqrt(2 / 3) / (40 / math.sqrt(63)))


def test_float32_gradients_match_float64() -> None:
    # float32 on the CPU runs the C sweep (where it builds); float64 the torch scan that gradcheck checks
    guide = _guide(19, 23, seed=11)
    values = torch.randn(2, 3, 19, 23, generator=torch.Generator().manual_seed(12))
    horizontal, vertical = guide_distances(torch.cat([guide, guide.flip(-1)]), 4.0, 0.3)
    weights = torch.linspace(0, 1, values.numel()).reshape(values.shape)

    def gradients(dtype: torch.dtype) -> list[torch.Tensor]:
        leaves = [tensor.detach().clone().to(dtype).requires_grad_() for tensor in (values, horizontal, vertical)]
        filtered = recursive_filter(*leaves, spatial_sigma=4.0)
        (filtered * weights.to(dtype)).sum().backward()
        return [filtered.detach()] + [leaf.grad for leaf in leaves]

    for single, double in zip(gradients(torch.float32), gradients(torch.float64), strict=True):
        torch.testing.assert_close(single.double(), double, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize(("height", "width", "channels", "guide_channels", "spatial", "color", "iterations"),
                         [(9, 23, 12, 3, 4.0, 0.3, 3), (17, 6, 1, 1, 0.4, 0.002, 2), (13, 70, 5, 4, 15.0, 1.0, 1),
                          (1, 30, 3, 3, 5.0, 0.1, 2), (30, 1, 2, 3, 5.0, 0.1, 2)])
@pytest.mark.parametrize("kernel", ["native", "opencv"])
def test_edge_aware_filter_matches_sequential_recursion(height: int, width: int, channels: int, guide_channels: int,
                                                        spatial: float, color: float, iterations: int, kernel: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU filter of the methods (its C kernel, and OpenCV's filter where that cannot be
    built), any channel count in one call, is the recursion written out."""
    from flowinpaint.methods import local_affine

    if kernel == "opencv":
        if opencv_contrib_missing() is not None:
            pytest.skip("needs cv2.ximgproc")
        monkeypatch.setattr(local_affine, "_filter_library", lambda: None)
    elif local_affine._filter_library() is None:
        pytest.skip("no C compiler for the filter kernel")
    EdgeAwareFilter = local_affine.EdgeAwareFilter
    guide = _guide(height, width, seed=height)[:, :guide_channels]
    values = np.random.default_rng(width).standard_normal((height, width, channels)).astype(np.float32)
    guide_array = np.ascontiguousarray(guide[0].permute(1, 2, 0).numpy())
    filtered = EdgeAwareFilter(guide_array, spatial, color, iterations).filter(values[..., 0] if channels == 1 else values)
    horizontal, vertical = guide_distances(guide, spatial, color)
    expected = _sequential_rf(values.transpose(2, 0, 1), horizontal[0, 0].numpy(), vertical[0, 0].numpy(), spatial,
                              iterations).transpose(1, 2, 0)
    assert filtered.shape == values.shape[:2] + ((channels,) if channels > 1 else ())
    np.testing.assert_allclose(filtered.reshape(values.shape), expected, atol=2e-6)


def test_edge_aware_filter_gives_each_channel_the_same_result_for_any_channel_count() -> None:
    """The C kernel's sweeps are compiled separately for 1 to 16 channels (constant loop lengths)
    and generically above: every count filters each channel as 17 channels at once do, to the bit."""
    from flowinpaint.methods import local_affine

    if local_affine._filter_library() is None:
        pytest.skip("no C compiler for the filter kernel")
    guide = np.ascontiguousarray(_guide(37, 53, seed=7)[0].permute(1, 2, 0).numpy())
    values = np.random.default_rng(8).standard_normal((37, 53, 17)).astype(np.float32)
    applicability = local_affine.EdgeAwareFilter(guide, 6.0, 0.1, 2)
    together = applicability.filter(values)
    for channels in range(1, 17):
        alone = applicability.filter(np.ascontiguousarray(values[..., 17 - channels:]))
        np.testing.assert_array_equal(alone, together[..., 17 - channels:], err_msg=f"{channels} channels")


def test_edge_aware_filter_links_are_the_same_for_any_guide_channel_count() -> None:
    """The links are compiled separately for guides of 1 to 16 channels and generically above: a
    guide whose channels repeat one image k times links as that image at k times the colour
    scale's steepness (1 / k of the colour scale), for specialised and generic counts alike."""
    from flowinpaint.methods import local_affine

    if local_affine._filter_library() is None:
        pytest.skip("no C compiler for the filter kernel")
    grey = np.ascontiguousarray(_guide(29, 41, seed=3)[0, :1].permute(1, 2, 0).numpy())
    values = np.random.default_rng(4).standard_normal((29, 41, 2)).astype(np.float32)
    expected = local_affine.EdgeAwareFilter(grey, 5.0, 0.1, 2).filter(values)
    for copies in (2, 3, 16, 17, 20):
        guide = np.ascontiguousarray(np.repeat(grey, copies, axis=2))
        filtered = local_affine.EdgeAwareFilter(guide, 5.0, 0.1 * copies, 2).filter(values)
        np.testing.assert_allclose(filtered, expected, rtol=1e-5, atol=1e-5, err_msg=f"{copies} channels")


def test_edge_aware_filter_is_the_same_on_any_number_of_threads_and_keeps_its_input() -> None:
    from flowinpaint.methods.local_affine import EdgeAwareFilter, cpu_filter_available

    if not cpu_filter_available(3):
        pytest.skip("neither the C filter kernel nor OpenCV's contrib modules")
    guide = np.ascontiguousarray(_guide(50, 301, seed=5)[0].permute(1, 2, 0).numpy())
    values = np.random.default_rng(6).standard_normal((50, 301, 12)).astype(np.float32)
    before = values.copy()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = EdgeAwareFilter(guide, 8.0, 0.1, 2).filter(values)
        torch.set_num_threads(max(2, threads))
        several = EdgeAwareFilter(guide, 8.0, 0.1, 2).filter(values)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(single, several)
    np.testing.assert_array_equal(values, before)
    with pytest.raises(ValueError, match="do not fit"):
        EdgeAwareFilter(guide, 8.0, 0.1, 2).filter(values[:10])


def test_edge_aware_filter_flushes_denormal_numbers_and_leaves_the_callers_mode() -> None:
    """The C kernel filters with denormal floats flushed to zero (a sweep through denormals runs
    many times slower on some x86 CPUs): a value of 1e-35 spread over many pixels falls below
    the smallest normal float; none of the output does, and afterwards this thread computes with
    denormals again."""
    import platform

    from flowinpaint.methods import local_affine

    if local_affine._filter_library() is None or platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the C filter kernel on x86-64")
    values = np.zeros((40, 60), np.float32)
    values[20, 30] = 1e-35
    guide = np.zeros((40, 60, 3), np.float32)
    filtered = local_affine.EdgeAwareFilter(guide, 4.0, 0.1, 3).filter(values)
    assert filtered[20, 30] > 0
    tiny = np.finfo(np.float32).tiny
    assert not ((filtered > 0) & (filtered < tiny)).any()
    assert np.float32(tiny) * np.float32(0.5) > 0  # the caller's mode restored: denormals are kept


def test_mean_gap_is_the_mean_distance_to_the_nearest_known_pixel() -> None:
    """Known columns 0-19 of 60: the unknown pixels of column 20 + k lie k + 1 px from them, a mean
    of 20.5 px over the 40 columns; a uniform sample of density d has about 0.5 / sqrt(d)."""
    known = np.zeros((50, 60), bool)
    known[:, :20] = True
    assert mean_gap(known) == pytest.approx(20.5, rel=1e-6)
    assert mean_gap(np.ones((8, 8), bool)) == 0.0 and mean_gap(np.zeros((8, 8), bool)) == 0.0
    for density in (0.01, 0.05):
        uniform = np.random.default_rng(0).random((400, 600)) < density
        assert mean_gap(uniform) * math.sqrt(density) == pytest.approx(0.5, abs=0.03)


def test_sample_spacing_is_the_uniform_samples_unless_the_gaps_are_wider() -> None:
    assert sample_spacing(0.04) == pytest.approx(5.0)
    assert sample_spacing(0.04, least=3.0) == pytest.approx(5.0)
    assert sample_spacing(0.04, least=12.0) == 12.0


def test_slope_reach_grows_by_the_gaps_ratio_where_the_known_values_are_many() -> None:
    """At 25 % known pixels (spacing 2 px) with gaps of 10 px the slope reaches 5x as far; a
    uniform sample (gaps no wider than its spacing) and sparse values (below 1 %) keep the reach."""
    assert slope_reach(3.0, 0.25, least=10.0) == pytest.approx(15.0)
    assert slope_reach(3.0, 0.25, least=1.5) == pytest.approx(3.0)
    assert slope_reach(3.0, 0.005, least=100.0) == 3.0
