"""Edge-aware local affine fits of a sparse flow, and agreement tests of its known values.

:func:`local_affine_fit` is first-order normalized convolution (Knutsson and Westin): at every
pixel ``x`` it fits ``f(y) ~ f(x) + J (y - x)`` to the known values by weighted least squares,
with weights ``c_j k(x, y_j)`` of the known pixels' certainties ``c_j`` and an *applicability*
``k``. Any positive linear filter can serve as ``k``, and whatever it is the fit reproduces an
affine flow exactly wherever the weighted positions span the plane. Here ``k`` is OpenCV's
domain-transform recursive filter guided by the image (Gastal and Oliveira 2011), so the fit
averages along image regions and not across their edges. The moments (1, x, y, x^2, xy, y^2 and
f, f x, f y per component) are filtered once each, in coordinates centred on the image and
scaled by 1/32 and of the flow minus its global affine trend, so that float32 keeps enough digits.

:func:`edge_aware_average` is the zero-order fit (a weighted mean) with the same applicability.

:func:`neighbour_agreement` keeps a known value when it is near the median motion of its nearest
known neighbours (as their spread allows), so isolated wrong values (bad matches) are found, while
a correct value beside a motion edge, whose neighbours disagree among themselves, stays.
:func:`mutual_agreement` then finds, among the rejected values, those that agree with another
rejected one nearby (right values on a thin object, which its background outvotes).
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch

from ..cbuild import load_kernel
from ..diffusion.affine_fit import GLOBAL_REACH, edge_aware_affine_fit, edge_aware_mean
from ..diffusion.domain_transform import (
    MIN_COLOR_SIGMA,
    OPENCV_MIN_COLOR,
    OPENCV_MIN_SPATIAL,
    guide_distances,
    rf_log_alpha,
)
from ..ops import at_pixels, put_pixels, rows_at
from .registry import opencv_contrib_missing

__all__ = [
    "AffineFit",
    "EdgeAwareFilter",
    "NearestKnown",
    "color_sigma",
    "colour_contrast",
    "consensus_agreement",
    "cpu_filter_available",
    "edge_aware_average",
    "edge_aware_average_torch",
    "local_affine_fit",
    "local_affine_fit_torch",
    "mutual_agreement",
    "nearest_known",
    "nearest_known_both",
    "neighbour_agreement",
    "neighbour_deviation",
    "neighbours_plane",
    "vector_length",
]

COLLINEAR = 1e-9  # the known positions' covariance this close to singular (its eigenvalues' ratio) means a line
AFFINE_SOURCE = Path(__file__).with_name("affine_kernel.c")
NEAREST_SOURCE = Path(__file__).with_name("nearest_kernel.c")
FILTER_SOURCE = Path(__file__).with_name("filter_kernel.c")
MAX_KERNEL_CHANNELS = 1024  # filter_kernel.c's MAX_STRIP_FLOATS
OPENCV_MAX_CHANNELS = 4  # what OpenCV's filter takes per call (and its guide at most)
MAX_KERNEL_NEIGHBOURS = 64  # nearest_kernel.c's MAX_NEIGHBOURS
ROW_SEARCH_BELOW = 0.04  # share of known pixels below which nearest_kernel.c's row search beats its ring walk (crossover 3-5 %)
FILTER_ITERATIONS = 3  # of the domain transform (OpenCV's default)
#: candidates from which :func:`mutual_agreement`'s neighbour query runs on all cores: below, starting
#: the threads costs more than they save (0.46 against 0.09 ms for 100 points, the same at 1,000)
THREADED_QUERY_FROM = 2000
COORDINATE_SCALE = 32.0  # pixels per unit of the fit's coordinates (keeps float32 moments accurate)


class AffineFit(NamedTuple):
    """A local affine fit.

    Attributes:
        flow: ``(H, W, 2)`` float32, pixels: the fitted affine model evaluated at each pixel.
        misfit: ``(H, W)`` float32, pixels: the weighted RMS distance of the known values from
            the model fitted at that pixel (0 where the flow is locally affine); None when not
            asked for.
        support: ``(H, W)`` float32: the filtered certainty, the applicability-weighted mean of
            the certainties around the pixel (about the local density of known values; small
            where they are few or lie across image edges).
    """

    flow: np.ndarray
    misfit: np.ndarray | None
    support: np.ndarray


def color_sigma(image: np.ndarray, factor: float) -> float:
    """The domain transform's colour scale: ``factor`` times the mean gradient magnitude of ``image``.

    Scaling by the image's own contrast makes the filter's reach depend on how edges stand out
    from the texture, not on the image's units or its amount of texture.

    Shape:
        image: ``(H, W, 3)`` float32 RGB in [0, 1].
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=1)
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=1)
    # torch's hypot is vectorised (numpy's calls the C library's per element: 5x slower) and gives
    # the same floats but for a last-bit difference in about one pair in 20 million
    magnitude = torch.hypot(torch.from_numpy(dx), torch.from_numpy(dy)).numpy()
    return max(factor * float(magnitude.mean()), MIN_COLOR_SIGMA)


class KnownPoints(NamedTuple):
    """The pixels with certainty > 0 and what the fit needs of them.

    Shape:
        rows, columns: ``(N,)`` int; weights: ``(N,)`` float32 certainties; x, y: ``(N,)``
        float32 fit coordinates; values: ``(N, 2)`` float32 flow minus the global trend there.
    """

    rows: np.ndarray
    columns: np.ndarray
    weights: np.ndarray
    x: np.ndarray
    y: np.ndarray
    values: np.ndarray


def _moments(points: KnownPoints, shape: tuple[int, int]) -> np.ndarray:
    """The 12 certainty-weighted moment images ``(H, W, 12)`` float32, ``(1, x, y, x^2, xy, y^2,
    u, ux, uy, v, vx, vy)`` times ``c``; zero away from the known pixels, so only those are computed."""
    c, x, y = points.weights, points.x, points.y
    cx, cy = c * x, c * y
    u, v = points.values[:, 0] * c, points.values[:, 1] * c
    moments = np.zeros((*shape, 12), np.float32)
    # stacked as rows and written through the transposed view: half the time of a stack along the last axis
    put_pixels(moments, points.rows * shape[1] + points.columns,
               np.stack([c, cx, cy, cx * x, cx * y, cy * y, u, u * x, u * y, v, v * x, v * y]).T)
    return moments


class Trend(NamedTuple):
    """The global weighted least-squares affine flow, its slope extrapolated at most ``reach``
    standard deviations of the known positions from their weighted centre (see :func:`_evaluate`).

    Attributes:
        coefficients: ``(3, 2)`` float32, of (1, x, y) for u and v.
        centre: ``(2,)`` float64, the weighted mean position (x, y) in fit coordinates.
        inverse: ``(2, 2)`` float64, the (pseudo-)inverse of the positions' weighted covariance.
        reach: standard deviations (inf: a plain affine flow everywhere).
    """

    coefficients: np.ndarray
    centre: np.ndarray
    inverse: np.ndarray
    reach: float


def _global_affine(known_flow: np.ndarray, rows: np.ndarray, columns: np.ndarray, weights: np.ndarray,
                   x: np.ndarray, y: np.ndarray, reach: float) -> Trend:
    """The weighted least-squares affine flow of the whole image (a :class:`Trend`).

    The local fit works on the flow minus this trend: smaller values keep more of float32's
    digits in the filtered moments (and an affine flow leaves nothing to filter). Far from every
    known value its slope is held back as the local fits' are (``reach``, at least
    :data:`GLOBAL_REACH`): a handful of values in one corner must not extrapolate their slope
    over the whole image (hundreds or thousands of pixels of flow).

    Shape:
        known_flow ``(N, 2)`` the flow at the known pixels; rows, columns, weights ``(N,)`` the
        known pixels and their certainties; x ``(W,)`` and y ``(H,)`` the fit's coordinates.
    """
    weights = weights.astype(np.float64)
    total = weights.sum()
    positions = np.stack([x[columns], y[rows]], axis=1).astype(np.float64)
    values = known_flow.astype(np.float64)
    centre = weights @ positions / total
    offsets = positions - centre
    weighted = offsets * weights[:, None]
    covariance = weighted.T @ offsets / total
    inverse = np.linalg.pinv(covariance, hermitian=True)
    smallest, largest = np.linalg.eigvalsh(covariance)
    if smallest > COLLINEAR * largest:
        # the normal equations about the weighted centre (2x2), not a least-squares solve of the
        # (N, 3) design: the same coefficients in float32, several times faster for dense inputs
        slope = inverse @ (weighted.T @ values / total)  # (2, 2): d/dx, d/dy (rows) of u, v; offsets sum to 0
        coefficients = np.vstack([weights @ values / total - centre @ slope, slope]).astype(np.float32)
    else:  # the known values on a line (or one point): least squares' minimum-norm solution
        root = np.sqrt(weights)[:, None]
        design = np.concatenate([np.ones_like(root), positions], axis=1)
        coefficients = np.linalg.lstsq(design * root, values * root, rcond=None)[0].astype(np.float32)
    return Trend(coefficients, centre, inverse, max(reach, GLOBAL_REACH) if math.isfinite(reach) else math.inf)


def _offsets(trend: Trend, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The coordinates' offsets from the trend's centre and their squared Mahalanobis distance, float32."""
    dx, dy = x - np.float32(trend.centre[0]), y - np.float32(trend.centre[1])
    inverse = trend.inverse.astype(np.float32)
    return dx, dy, dx * dx * inverse[0, 0] + 2 * dx * dy * inverse[0, 1] + dy * dy * inverse[1, 1]


def _held_back(trend: Trend, x: np.ndarray, y: np.ndarray) -> bool:
    """Whether the trend's slope is held back at any of the coordinates ``x``, ``y`` (arrays that broadcast)."""
    return math.isfinite(trend.reach) and bool((_offsets(trend, x, y)[2] > np.float32(trend.reach**2)).any())


def _evaluate(trend: Trend, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The trend's flow at coordinates ``x``, ``y`` (arrays that broadcast; a trailing axis of 1
    for the two components), float32: affine within ``reach`` standard deviations of the known
    positions' centre (Mahalanobis distance), its slope term scaled back to that distance beyond."""
    coefficients = trend.coefficients.astype(np.float32)
    if not _held_back(trend, x, y):
        return (coefficients[0] + x * coefficients[1] + y * coefficients[2]).astype(np.float32, copy=False)
    dx, dy, distance2 = _offsets(trend, x, y)
    shrink = np.sqrt(np.minimum(np.float32(1.0), np.float32(trend.reach**2) / np.maximum(distance2, np.float32(1e-30))))
    at_centre = coefficients[0] + np.float32(trend.centre[0]) * coefficients[1] + np.float32(trend.centre[1]) * coefficients[2]
    return (at_centre + shrink * (dx * coefficients[1] + dy * coefficients[2])).astype(np.float32, copy=False)


def _held_trend(trend: Trend) -> np.ndarray:
    """What the affine kernel needs to compute :func:`_evaluate`'s held-back trend itself, in the
    same float32 operations: ``(12,)`` float32, the centre (x, y), the inverse covariance's
    (0, 0), (0, 1) and (1, 1), ``reach`` squared, the trend at the centre (u, v) and its slope
    d/dx (u, v) and d/dy (u, v) (``add_held_trend`` in ``affine_kernel.c``)."""
    coefficients = trend.coefficients.astype(np.float32)
    centre_x, centre_y = np.float32(trend.centre[0]), np.float32(trend.centre[1])
    inverse = trend.inverse.astype(np.float32)
    at_centre = coefficients[0] + centre_x * coefficients[1] + centre_y * coefficients[2]
    return np.concatenate([[centre_x, centre_y, inverse[0, 0], inverse[0, 1], inverse[1, 1], np.float32(trend.reach**2)],
                           at_centre, coefficients[1], coefficients[2]]).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _filter_library() -> dict[str, Callable[..., None]] | None:
    """The functions of ``filter_kernel.c`` (:class:`EdgeAwareFilter`), or None where it cannot be built."""
    return _kernel_functions(FILTER_SOURCE, "native edge-aware filter kernel", {
        "rf_link_exponents": [ctypes.c_void_p, ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_double,
                              ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int],
        "rf_filter": [ctypes.c_void_p] * 3 + [ctypes.c_long] * 3 + [ctypes.c_int] * 2})


def cpu_filter_available(guide_channels: int) -> bool:
    """Whether :class:`EdgeAwareFilter` runs on this machine for a guide of ``guide_channels``
    channels: its C kernel builds, or OpenCV has its contrib modules and the guide at most 4 channels."""
    return _filter_library() is not None or (guide_channels <= OPENCV_MAX_CHANNELS and opencv_contrib_missing() is None)


class EdgeAwareFilter:
    """The domain transform's recursive filter guided by an image (OpenCV's ``DTF_RF`` filter), for
    arrays of any number of channels.

    Built once per guide and scales, as ``cv2.ximgproc.createDTFilter``, then applied to any
    number of arrays of the guide's size. The C kernel (``filter_kernel.c``) filters all channels
    in one pass, computing the guide's links once; where it cannot be built, OpenCV's filter runs,
    4 channels a call. Both agree to float rounding.

    Args:
        guide: ``(H, W, G)`` float32 (G at most 4 for OpenCV's filter).
        spatial_sigma: the spatial scale, pixels; color_scale: the colour scale, in the guide's
            units (clamped to at least 1 and 0.01, as OpenCV does).
        iterations: of the filter (OpenCV's default, 3).

    Shape:
        :meth:`filter`: ``(H, W)`` or ``(H, W, C)`` float -> the same shape, float32.
    """

    def __init__(self, guide: np.ndarray, spatial_sigma: float, color_scale: float,
                 iterations: int = FILTER_ITERATIONS) -> None:
        guide = np.ascontiguousarray(guide, dtype=np.float32)
        self.shape = guide.shape[:2]
        self.iterations = iterations
        self._kernel = _filter_library()
        if self._kernel is None:
            self._opencv = cv2.ximgproc.createDTFilter(guide, float(spatial_sigma), float(color_scale),
                                                       cv2.ximgproc.DTF_RF, iterations)
            return
        height, width = self.shape
        ratio = max(OPENCV_MIN_SPATIAL, spatial_sigma) / max(OPENCV_MIN_COLOR, color_scale)
        self._horizontal = np.empty((height, max(width - 1, 0)), np.float32)
        self._vertical = np.empty((max(height - 1, 0), width), np.float32)
        self._kernel["rf_link_exponents"](guide.ctypes.data, guide.shape[2] if guide.ndim == 3 else 1, height, width,
                                          ratio, rf_log_alpha(spatial_sigma, iterations), self._horizontal.ctypes.data,
                                          self._vertical.ctypes.data, torch.get_num_threads())
        torch.from_numpy(self._horizontal).exp_()  # in place, vectorised and on all cores
        torch.from_numpy(self._vertical).exp_()

    def filter(self, values: np.ndarray, *, in_place: bool = False) -> np.ndarray:
        """``values`` filtered: a new array, or with ``in_place`` (and a C-contiguous float32
        ``values``) ``values`` itself, overwritten (where the C kernel runs)."""
        if values.shape[:2] != self.shape:
            raise ValueError(f"values of shape {values.shape} do not fit the filter's guide of size {self.shape}")
        channels = values.shape[2] if values.ndim == 3 else 1
        if self._kernel is None:
            flat = values.reshape(*self.shape, channels)
            parts = [self._opencv.filter(np.ascontiguousarray(flat[..., first:first + OPENCV_MAX_CHANNELS], np.float32))
                     for first in range(0, channels, OPENCV_MAX_CHANNELS)]
            return np.concatenate([part.reshape(*self.shape, -1) for part in parts], axis=-1).reshape(values.shape)
        if channels > MAX_KERNEL_CHANNELS:
            raise ValueError(f"the filter takes at most {MAX_KERNEL_CHANNELS} channels, got {channels}")
        writable = in_place and values.dtype == np.float32 and values.flags.c_contiguous and values.flags.writeable
        result = values if writable else np.array(values, dtype=np.float32, order="C")
        self._kernel["rf_filter"](result.ctypes.data, self._horizontal.ctypes.data, self._vertical.ctypes.data,
                                  self.shape[0], self.shape[1], channels, self.iterations, torch.get_num_threads())
        return result


def local_affine_fit(
    flow: np.ndarray, certainty: np.ndarray, image: np.ndarray, spatial_sigma: float, color_scale: float,
    reach: float = math.inf, *, misfit: bool = True, iterations: int = FILTER_ITERATIONS,
) -> AffineFit:
    """The edge-aware first-order normalized convolution of a sparse flow.

    Args:
        flow: ``(H, W, 2)`` float, pixels; values where ``certainty`` is 0 are ignored.
        certainty: ``(H, W)`` float >= 0: the weight of each known value (0 = unknown).
        image: ``(H, W, 3)`` float32 RGB in [0, 1], the guide.
        spatial_sigma: the filter's spatial scale, pixels.
        color_scale: the filter's colour scale, in the image's units (see :func:`color_sigma`).
        reach: how far the local model's slope is extrapolated: at a pixel farther than ``reach``
            standard deviations (Mahalanobis distance) from the weighted centre of the values its
            slope term is scaled back to that distance, so that a slope fitted to a few values on
            one side does not grow without bound (inf: plain first-order fit, exact for any
            affine flow; a finite reach is exact wherever the pixel lies within the values' spread).
        misfit: compute the fit's misfit (one more filter pass); False leaves it None.
        iterations: the domain transform's iterations (OpenCV's default, 3).

    Returns:
        An :class:`AffineFit`. Where the weighted known positions nearly lie on a line (or
        there are fewer than three) the slope is dropped and the fit is the weighted mean.
    """
    height, width = certainty.shape
    x = (np.arange(width, dtype=np.float32) - width / 2) / COORDINATE_SCALE
    y = (np.arange(height, dtype=np.float32) - height / 2) / COORDINATE_SCALE
    flat = np.flatnonzero(certainty > 0)
    rows, columns = np.divmod(flat, width)
    weights = at_pixels(certainty, flat).astype(np.float32)
    known_flow = at_pixels(flow, flat)
    trend = _global_affine(known_flow, rows, columns, weights, x, y, reach)
    values = (known_flow - _evaluate(trend, x[columns, None], y[rows, None])).astype(np.float32)
    moments = _moments(KnownPoints(rows, columns, weights, x[columns], y[rows], values), (height, width))
    applicability = EdgeAwareFilter(image, spatial_sigma, color_scale, iterations)
    filtered = applicability.filter(moments, in_place=True)
    fitted, support = _solve_affine(filtered, x, y, reach, trend)
    if not misfit:
        return AffineFit(fitted, None, support)
    residual2 = np.zeros((height, width), np.float32)
    put_pixels(residual2, flat, weights * vector_length(known_flow - at_pixels(fitted, flat)) ** 2)
    misfit2 = applicability.filter(residual2, in_place=True)
    rms = np.sqrt(np.maximum(misfit2 / np.maximum(support, 1e-30), 0)).astype(np.float32)
    return AffineFit(fitted, rms, support)


def _kernel_functions(source: Path, description: str, signatures: dict[str, list]) -> dict[str, Callable[..., None]] | None:
    """The C functions of the kernel ``source`` by name, with their argument types
    (``signatures``; they return nothing), or None where it cannot be built."""
    library = load_kernel(source, description)
    if library is None:
        return None
    functions = {}
    for name, argtypes in signatures.items():
        function = getattr(library, name)
        function.restype, function.argtypes = None, argtypes
        functions[name] = function
    return functions


@functools.lru_cache(maxsize=1)
def _affine_library() -> Callable[..., None] | None:
    """``affine_solve`` of ``affine_kernel.c`` (:func:`_solve_affine`), or None where it cannot be built."""
    functions = _kernel_functions(AFFINE_SOURCE, "native affine kernel", {
        "affine_solve": [ctypes.c_void_p] * 5 + [ctypes.c_double, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                                 ctypes.c_long, ctypes.c_long, ctypes.c_int]})
    return None if functions is None else functions["affine_solve"]


def _solve_affine(filtered: np.ndarray, x: np.ndarray, y: np.ndarray, reach: float,
                  trend: Trend) -> tuple[np.ndarray, np.ndarray]:
    """The weighted least-squares affine model at every pixel, evaluated there, from the filtered
    moments of the flow minus the global ``trend``, with the trend added back; and the support
    (the filtered certainty, the first moment).

    Runs the C kernel (one pass, float64 per pixel, all cores) where it builds, else
    :func:`_solve_affine_torch`; both compute the same in float64.

    Shape:
        filtered: ``(H, W, 12)`` float32, the moments in :func:`_moments`' order; x: ``(W,)``
        and y: ``(H,)`` the fit's coordinates; reach: see :func:`local_affine_fit`; trend: see
        :func:`_global_affine`. Returns ``(H, W, 2)`` and ``(H, W)`` float32.
    """
    library = _affine_library()
    if library is None:
        return (_solve_affine_torch(filtered, x, y, reach) + _evaluate(trend, x[None, :, None], y[:, None, None]),
                np.ascontiguousarray(filtered[..., 0]))
    height, width = filtered.shape[:2]
    moments = np.ascontiguousarray(filtered, dtype=np.float32)
    xs, ys = np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.float32)
    coefficients = np.ascontiguousarray(trend.coefficients, dtype=np.float32)
    # the trend held back where its slope is held back somewhere: the Mahalanobis distance is
    # largest at a corner, so the corners tell
    held = _held_trend(trend) if _held_back(trend, x[[0, -1, 0, -1]], y[[0, 0, -1, -1]]) else None
    fitted, support = np.empty((height, width, 2), np.float32), np.empty((height, width), np.float32)
    library(moments.ctypes.data, xs.ctypes.data, ys.ctypes.data, coefficients.ctypes.data,
            None if held is None else held.ctypes.data, float(reach) if math.isfinite(reach) else 0.0,
            int(math.isfinite(reach)), fitted.ctypes.data, support.ctypes.data, height, width, torch.get_num_threads())
    return fitted, support


def _solve_affine_torch(filtered: np.ndarray, x: np.ndarray, y: np.ndarray, reach: float) -> np.ndarray:
    """:func:`_solve_affine` without the trend (``(H, W, 2)`` float32), with torch's multi-threaded
    element-wise operations in float64: the path where the C kernel cannot be built."""
    moments = torch.from_numpy(filtered).permute(2, 0, 1).to(torch.float64, memory_format=torch.contiguous_format)
    weight = moments[0].clamp_min(1e-30)
    means = moments[1:] / weight  # x, y, xx, xy, yy, u, ux, uy, v, vx, vy
    mean_x, mean_y = means[0], means[1]
    cxx = means[2] - mean_x**2
    cxy = means[3] - mean_x * mean_y
    cyy = means[4] - mean_y**2
    det = cxx * cyy - cxy**2
    spans_plane = det > 1e-4 * (cxx + cyy) ** 2 + 1e-12
    inverse_det = torch.where(spans_plane, 1.0 / torch.where(spans_plane, det, 1.0), 0.0)
    dx = torch.from_numpy(x.astype(np.float64))[None, :] - mean_x
    dy = torch.from_numpy(y.astype(np.float64))[:, None] - mean_y
    if math.isfinite(reach):
        # the pixel's Mahalanobis distance from the weighted centre of the values, in units of
        # their spread: beyond ``reach`` the slope's contribution is scaled back to that distance
        distance2 = (dx * dx * cyy - 2 * dx * dy * cxy + dy * dy * cxx) * inverse_det
        inverse_det = inverse_det * torch.clamp(reach**2 / distance2.clamp_min(1e-30), max=1.0).sqrt()
    fitted = []
    for offset in (5, 8):
        mean_f = means[offset]
        cfx = means[offset + 1] - mean_x * mean_f
        cfy = means[offset + 2] - mean_y * mean_f
        fitted.append(mean_f + ((cfx * cyy - cfy * cxy) * dx + (cfy * cxx - cfx * cxy) * dy) * inverse_det)
    return torch.stack(fitted, dim=-1).to(torch.float32).numpy()


def _on_device(array: np.ndarray, device: str) -> torch.Tensor:
    """An ``(H, W)`` or ``(H, W, C)`` array as a ``(1, C, H, W)`` float32 tensor on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return tensor[None].to(device)


def _to_array(tensor: torch.Tensor) -> np.ndarray:
    """A ``(1, C, H, W)`` tensor as an ``(H, W, C)`` (``(H, W)`` for one channel) float32 array."""
    array = tensor[0].float().cpu().permute(1, 2, 0).numpy()
    return np.ascontiguousarray(array[..., 0] if array.shape[-1] == 1 else array)


def local_affine_fit_torch(
    flow: np.ndarray, certainty: np.ndarray, image: np.ndarray, spatial_sigma: float, color_scale: float,
    reach: float = math.inf, *, misfit: bool = True, iterations: int = FILTER_ITERATIONS, device: str = "cpu",
) -> AffineFit:
    """:func:`local_affine_fit` with the torch domain transform on ``device`` (a GPU; the same fit
    to float32 rounding, :mod:`flowinpaint.diffusion.affine_fit`)."""
    horizontal, vertical = guide_distances(_on_device(image, device), spatial_sigma, color_scale)
    with torch.inference_mode():
        fitted, support, spread = edge_aware_affine_fit(_on_device(flow, device), _on_device(certainty, device),
                                                         horizontal, vertical, spatial_sigma, reach, misfit=misfit,
                                                         iterations=iterations)
    return AffineFit(_to_array(fitted), None if spread is None else _to_array(spread), _to_array(support))


def edge_aware_average_torch(values: np.ndarray, certainty: np.ndarray, image: np.ndarray, spatial_sigma: float,
                             color_scale: float, *, iterations: int = FILTER_ITERATIONS,
                             device: str = "cpu") -> np.ndarray:
    """:func:`edge_aware_average` with the torch domain transform on ``device``."""
    horizontal, vertical = guide_distances(_on_device(image, device), spatial_sigma, color_scale)
    with torch.inference_mode():
        mean = edge_aware_mean(_on_device(values, device), _on_device(certainty, device), horizontal, vertical,
                               spatial_sigma, iterations)
    return _to_array(mean)


def edge_aware_average(
    values: np.ndarray, certainty: np.ndarray, image: np.ndarray, spatial_sigma: float, color_scale: float, *,
    iterations: int = FILTER_ITERATIONS,
) -> np.ndarray:
    """Zero-order normalized convolution: the certainty-weighted mean of the known values around
    each pixel, with the same edge-aware applicability as :func:`local_affine_fit`.

    Args:
        values: ``(H, W, 2)`` float; values where ``certainty`` is 0 are ignored.
        certainty: ``(H, W)`` float >= 0.
        image: ``(H, W, 3)`` float32 RGB in [0, 1], the guide.
        spatial_sigma: the filter's spatial scale, pixels; color_scale: its colour scale.
        iterations: the domain transform's iterations.

    Returns:
        ``(H, W, 2)`` float32; 0 where no known value reaches.
    """
    flat = np.flatnonzero(certainty > 0)
    weights = at_pixels(certainty, flat).astype(np.float32)
    moments = np.zeros((*certainty.shape, 3), np.float32)  # (c u, c v, c)
    put_pixels(moments, flat, np.concatenate([at_pixels(values, flat) * weights[:, None], weights[:, None]], axis=1))
    filtered = EdgeAwareFilter(image, spatial_sigma, color_scale, iterations).filter(moments, in_place=True)
    sums, weight = torch.from_numpy(filtered[..., :2]), torch.from_numpy(filtered[..., 2:3])  # torch: all cores
    mean = sums / weight.clamp_min(1e-12)
    return mean.masked_fill_(weight <= 1e-12, 0.0).numpy()  # torch.where's values, 1.5x faster


def vector_length(vectors: np.ndarray) -> np.ndarray:
    """Euclidean length along the last axis (as ``np.linalg.norm(..., axis=-1)``, several times
    faster; for 2-vectors the two squares summed directly, the same values as einsum's, 4x faster)."""
    if vectors.shape[-1] == 2:
        return np.sqrt(vectors[..., 0] * vectors[..., 0] + vectors[..., 1] * vectors[..., 1])
    return np.sqrt(np.einsum("...i,...i->...", vectors, vectors))


def _median_of_rows(values: np.ndarray) -> np.ndarray:
    """The median along axis 1 (as ``np.median(values, axis=1)``, the same values): for a table
    ``(N, k)`` of finite float64 the C kernel's (all cores), else numpy's sort along the last axis
    of short rows, 1.2-3x faster here than torch's sort or ``np.median`` (22,000 rows of 8-16,
    AMD EPYC).

    Shape:
        ``(N, k, ...)`` -> ``(N, ...)``.
    """
    library = _nearest_library()
    if library is not None and values.ndim == 2 and values.dtype == np.float64 and 0 < values.shape[1] <= MAX_KERNEL_NEIGHBOURS:
        table = np.ascontiguousarray(values)
        median = np.empty(len(table))
        library["median_of_rows"](table.ctypes.data, len(table), table.shape[1], median.ctypes.data, torch.get_num_threads())
        return median
    ordered = np.sort(np.moveaxis(values, 1, -1), axis=-1)
    count = values.shape[1]
    return (ordered[..., (count - 1) // 2] + ordered[..., count // 2]) / 2


def _median_and_spread(values: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The component-wise median of the values of each row of ``index`` and their spread, the
    median distance of the values from it, in float64 (the C kernel where it builds, else torch's sort).

    Shape:
        values ``(M, 2)``, index ``(N, k)`` rows of ``values`` -> ``(N, 2)`` and ``(N,)``.
    """
    library = _nearest_library()
    values = np.ascontiguousarray(values, np.float64)
    if library is None or index.shape[1] > MAX_KERNEL_NEIGHBOURS:
        around = values[index]
        median = _median_of_rows(around)
        return median, _median_of_rows(vector_length(around - median[:, None]))
    index = np.ascontiguousarray(index, np.int64)
    median, spread = np.empty((len(index), 2)), np.empty(len(index))
    library["median_and_spread"](values.ctypes.data, index.ctypes.data, len(index), index.shape[1], median.ctypes.data,
                                 spread.ctypes.data, torch.get_num_threads())
    return median, spread


class NearestKnown(NamedTuple):
    """The nearest other known pixels of every known pixel, rows in ``np.argwhere(known)`` order.

    Attributes:
        distance: ``(N, k)`` float64, pixels, nearest first.
        index: ``(N, k)`` int, rows of ``np.argwhere(known)``.
    """

    distance: np.ndarray
    index: np.ndarray


@functools.lru_cache(maxsize=1)
def _nearest_library() -> dict[str, Callable[..., None]] | None:
    """The functions of ``nearest_kernel.c`` (:func:`nearest_known`, :func:`_median_and_spread`,
    :func:`consensus_agreement`, :func:`neighbours_plane`), or None where it cannot be built."""
    return _kernel_functions(NEAREST_SOURCE, "native nearest-neighbour kernel", {
        **{search: [ctypes.c_void_p] * 4 + [ctypes.c_int, ctypes.c_long, ctypes.c_int, ctypes.c_long, ctypes.c_long]
           + [ctypes.c_void_p] * 4 + [ctypes.c_int] for search in ("nearest_by_rings", "nearest_by_rows")},
        "median_and_spread": [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_int, ctypes.c_void_p,
                              ctypes.c_void_p, ctypes.c_int],
        "median_of_rows": [ctypes.c_void_p, ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_int],
        "consensus_count": [ctypes.c_void_p] * 5 + [ctypes.c_long, ctypes.c_int] + [ctypes.c_double] * 3
                           + [ctypes.c_void_p, ctypes.c_int],
        "neighbours_plane": [ctypes.c_void_p] * 6 + [ctypes.c_long, ctypes.c_int] + [ctypes.c_double] * 2
                            + [ctypes.c_void_p, ctypes.c_int],
        "median_of_neighbours": [ctypes.c_void_p] * 2 + [ctypes.c_long, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                 ctypes.c_int]})


def _nearest_on_grid(library: dict[str, Callable[..., None]], known: np.ndarray, rows: np.ndarray, columns: np.ndarray,
                     features: np.ndarray, count: int, by_position: bool) -> tuple[NearestKnown, NearestKnown | None]:
    """The ``count`` nearest other known pixels of each by a C kernel's search on the grid, by
    position and ``features``, and with ``by_position`` also by position alone (the same search);
    ``rows``, ``columns`` in ``np.nonzero(known)`` order. Below ``ROW_SEARCH_BELOW`` known pixels
    the row search, which visits only known pixels, else the ring walk (the same lists)."""
    rows64, columns64 = np.ascontiguousarray(rows, np.int64), np.ascontiguousarray(columns, np.int64)
    if len(rows) < ROW_SEARCH_BELOW * known.size:
        # the count of known pixels before each pixel (row-major), by repeating each count over the
        # run of pixels up to its next known one: a cumulative sum's values, 4x faster when few are known
        flat = rows64 * known.shape[1] + columns64
        kernel, grid = library["nearest_by_rows"], np.repeat(np.arange(len(flat) + 1, dtype=np.int32),
                                                             np.diff(flat, prepend=-1, append=known.size))
    else:
        kernel, grid = library["nearest_by_rings"], np.full(known.shape, -1, np.int32)
        grid[rows, columns] = np.arange(len(rows))
    features = np.ascontiguousarray(features, np.float32)
    index = np.empty((len(rows), count), np.int64)
    distance = np.empty((len(rows), count), np.float64)
    near = (np.empty((len(rows), count), np.int64), np.empty((len(rows), count), np.float64)) if by_position else None
    kernel(grid.ctypes.data, rows64.ctypes.data, columns64.ctypes.data, features.ctypes.data, features.shape[1],
           len(rows), count, known.shape[0], known.shape[1], index.ctypes.data, distance.ctypes.data,
           None if near is None else near[0].ctypes.data, None if near is None else near[1].ctypes.data,
           torch.get_num_threads())
    return NearestKnown(distance, index), None if near is None else NearestKnown(near[1], near[0])


def _nearest_by_tree(rows: np.ndarray, columns: np.ndarray, colours: np.ndarray, count: int) -> NearestKnown:
    """:func:`nearest_known` by scipy's k-d tree (where the C kernel cannot be built)."""
    # imported on use: scipy.spatial adds ~0.3 s to ``import flowinpaint``
    from scipy.spatial import cKDTree

    positions = np.stack([rows, columns], axis=1).astype(np.float64)
    features = np.concatenate([positions, colours.astype(np.float64)], axis=1)
    _, index = cKDTree(features, balanced_tree=False).query(features, k=count + 1, workers=-1)
    index = index[:, 1:]  # the first is the pixel itself
    return NearestKnown(vector_length(positions[index] - positions[:, None]), index)


def _colour_features(rows: np.ndarray, columns: np.ndarray, image: np.ndarray | None, colour_weight: float) -> np.ndarray:
    """``(N, 3)`` float32 colours times ``colour_weight`` (``(N, 0)`` without an image or weight)."""
    if image is None or colour_weight <= 0:
        return np.zeros((len(rows), 0), np.float32)
    return colour_weight * image[rows, columns].astype(np.float32)


def _nearest(known: np.ndarray, neighbours: int, image: np.ndarray | None, colour_weight: float,
             by_position: bool) -> tuple[NearestKnown, NearestKnown | None]:
    """The nearest known pixels by position and colour, and with ``by_position`` by position alone too."""
    rows, columns = np.divmod(np.flatnonzero(known), known.shape[1])  # np.nonzero's, 3x faster
    count = min(neighbours, len(rows) - 1)
    colours = _colour_features(rows, columns, image, colour_weight)
    library = _nearest_library()
    if library is not None and count <= MAX_KERNEL_NEIGHBOURS:
        return _nearest_on_grid(library, known, rows, columns, colours, count, by_position)
    alone = _nearest_by_tree(rows, columns, colours[:, :0], count) if by_position else None
    return _nearest_by_tree(rows, columns, colours, count), alone


def nearest_known(known: np.ndarray, neighbours: int, image: np.ndarray | None = None,
                  colour_weight: float = 0.0) -> NearestKnown:
    """The ``neighbours`` nearest other known pixels of each known pixel (fewer when there are
    fewer; ``known`` needs at least two).

    With ``image`` (``(H, W, 3)`` float RGB) "nearest" is in position and colour: a colour
    difference of ``c`` (RGB distance) counts as ``colour_weight * c`` pixels. ``distance`` is
    the distance in position either way. The C kernel (``nearest_kernel.c``: a search over the
    pixel grid) finds them where it builds, else scipy's k-d tree; among neighbours at equal
    distance the two may pick different ones.

    Shape:
        known ``(H, W)`` bool with N true -> ``(N, min(neighbours, N - 1))`` arrays.
    """
    return _nearest(known, neighbours, image, colour_weight, by_position=False)[0]


def nearest_known_both(known: np.ndarray, neighbours: int, image: np.ndarray,
                       colour_weight: float) -> tuple[NearestKnown, NearestKnown]:
    """:func:`nearest_known` by position alone and by position and colour, from one walk of the
    C kernel where it builds (two k-d tree queries elsewhere)."""
    by_colour, by_position = _nearest(known, neighbours, image, colour_weight, by_position=True)
    assert by_position is not None
    return by_position, by_colour


class NeighbourDeviation(NamedTuple):
    """How far each value lies from its neighbours' median motion, and what the test allows.

    Shape:
        deviation, allowance, spread, distance: ``(N,)`` float64, pixels; ``distance`` is the
        neighbours' median distance.
    """

    deviation: np.ndarray
    allowance: np.ndarray
    spread: np.ndarray
    distance: np.ndarray


def neighbour_deviation(values: np.ndarray, nearest: NearestKnown, tolerance: float, spread_factor: float,
                        slope: float) -> NeighbourDeviation:
    """For each value ``f_i`` (rows of ``values`` ``(N, 2)``, neighbours ``nearest``): ``|f_i - m_i|``
    from the neighbours' component-wise median, the allowance ``tolerance + spread_factor * s_i +
    slope * d_i`` of :func:`neighbour_agreement`, the spread ``s_i`` and the median distance ``d_i``."""
    median, spread = _median_and_spread(values, nearest.index)
    distance = _median_of_rows(nearest.distance)
    allowance = tolerance + spread_factor * spread + slope * distance
    return NeighbourDeviation(vector_length(values - median), allowance, spread, distance)


def neighbour_agreement(
    flow: np.ndarray, known: np.ndarray, neighbours: int, tolerance: float, spread_factor: float, slope: float,
    nearest: NearestKnown | None = None,
) -> np.ndarray:
    """Which known values agree with the motion of their nearest known neighbours.

    For each known value ``f_i`` with ``neighbours`` nearest known pixels ``j`` (values ``f_j``,
    median distance ``d_i`` pixels): ``m_i`` is the component-wise median of the ``f_j`` and
    ``s_i`` the median of ``|f_j - m_i|``, their spread. ``f_i`` agrees when
    ``|f_i - m_i| <= tolerance + spread_factor * s_i + slope * d_i``: near the others' motion up
    to ``tolerance`` pixels, more where the neighbours disagree among themselves (beside a
    motion edge, where the median may be the other side's motion) and where they are far (a
    motion gradient of ``slope`` pixels per pixel).

    Args:
        flow: ``(H, W, 2)`` float, pixels.
        known: ``(H, W)`` bool.
        nearest: :func:`nearest_known` of ``known`` and ``neighbours``, when already computed.

    Returns:
        ``(H, W)`` bool: the known pixels that pass (a subset of ``known``). With fewer than
        three known pixels every one passes (there is no majority to compare with).
    """
    if int(known.sum()) < 3:
        return known.copy()
    nearest = nearest if nearest is not None else nearest_known(known, neighbours)
    deviation, allowance, _, _ = neighbour_deviation(flow[known].astype(np.float64), nearest, tolerance, spread_factor,
                                                  slope)
    agrees = deviation <= allowance
    kept = np.zeros_like(known)
    kept[known] = agrees
    return kept


def consensus_agreement(flow: np.ndarray, known: np.ndarray, nearest: NearestKnown, counted: np.ndarray,
                        where: np.ndarray, required: int, tolerance: float, slope: float,
                        spread_factor: float) -> np.ndarray:
    """Which values at least ``required`` of their nearest known neighbours agree with closely.

    ``f_i`` passes when ``|f_i - f_j| <= tolerance + slope * d_ij + spread_factor * s_i`` for
    ``required`` or more of its nearest known pixels ``j`` (``nearest``, best in position and
    colour, see :func:`nearest_known`) that are ``counted`` (``d_ij`` their distance in pixels,
    ``s_i`` the spread of all of them: the median distance of their values from their
    component-wise median). Unlike :func:`neighbour_agreement`, which compares with the
    neighbours' median and allows three times their spread (so that right values beside a motion
    edge stay, and with them values a pixel or two off), this asks for a few close matches and
    no majority: a right value has some on its own side of any motion edge, a wrong value, far
    off or a pixel off, seldom has two.

    Args:
        flow: ``(H, W, 2)`` float, pixels.
        known: ``(H, W)`` bool, the pixels ``nearest`` was computed for.
        nearest: :func:`nearest_known` of ``known``.
        counted: ``(H, W)`` bool, a subset of ``known``: the neighbours whose agreement counts
            (the values still trusted).
        where: ``(H, W)`` bool, a subset of ``known``: the values to test.
        required: how many neighbours must agree (>= 1).
        tolerance: pixels; slope: pixels per pixel of distance; spread_factor: per pixel of spread.

    Returns:
        ``(H, W)`` bool, a subset of ``where``; all of it when ``counted`` has at most
        ``required`` values (too few to ask).
    """
    if int(counted.sum()) <= required or not where.any():
        return where.copy()
    tested = where[known]
    index, distance = nearest.index[tested], nearest.distance[tested]
    values = np.ascontiguousarray(flow[known], np.float64)
    library = _nearest_library()
    if library is not None and index.shape[1] <= MAX_KERNEL_NEIGHBOURS:
        agreeing = np.empty(len(index), np.int64)
        rows = np.ascontiguousarray(np.flatnonzero(tested), np.int64)
        index, distance = np.ascontiguousarray(index, np.int64), np.ascontiguousarray(distance, np.float64)
        votes = np.ascontiguousarray(counted[known], np.uint8)
        library["consensus_count"](values.ctypes.data, rows.ctypes.data, index.ctypes.data, distance.ctypes.data,
                                   votes.ctypes.data, len(index), index.shape[1], tolerance, slope, spread_factor,
                                   agreeing.ctypes.data, torch.get_num_threads())
    else:
        spread = _median_and_spread(values, index)[1]
        gap = vector_length(values[index] - values[tested][:, None])
        agreeing = (counted[known][index] & (gap <= tolerance + slope * distance + spread_factor * spread[:, None])).sum(axis=1)
    passed = np.zeros_like(where)
    passed[where] = agreeing >= required
    return passed


def mutual_agreement(flow: np.ndarray, candidates: np.ndarray, radius: float, tolerance: float, slope: float) -> np.ndarray:
    """Which candidate values another candidate near them agrees with.

    The values :func:`neighbour_agreement` rejects are of two kinds: wrong values, each on its
    own, and right values on a thin or small object, whose nearest known neighbours lie on the
    background but which agree with each other. A candidate ``i`` passes when one of its 8
    nearest candidates ``j`` within ``radius`` pixels has ``|f_i - f_j| <= tolerance + slope * d_ij``.

    Args:
        flow: ``(H, W, 2)`` float, pixels.
        candidates: ``(H, W)`` bool.
        radius: pixels.

    Returns:
        ``(H, W)`` bool, a subset of ``candidates``.
    """
    # imported on use: scipy.spatial adds ~0.3 s to ``import flowinpaint``
    from scipy.spatial import cKDTree

    count = int(candidates.sum())
    passed = np.zeros_like(candidates)
    if count < 2:
        return passed
    flat = np.flatnonzero(candidates)
    positions = np.stack(np.divmod(flat, candidates.shape[1]), axis=1).astype(np.float64)
    values = at_pixels(flow, flat).astype(np.float64)
    distance, index = cKDTree(positions).query(positions, k=min(8, count - 1) + 1, distance_upper_bound=radius,
                                               workers=-1 if count >= THREADED_QUERY_FROM else 1)
    distance, index = distance[:, 1:], index[:, 1:]
    found = np.isfinite(distance)
    gap = vector_length(rows_at(values, np.where(found, index, 0)) - values[:, None])
    put_pixels(passed, flat, (found & (gap <= tolerance + slope * np.where(found, distance, 0))).any(axis=1))
    return passed


def colour_contrast(image: np.ndarray, known: np.ndarray, where: np.ndarray, neighbours: int,
                    nearest: NearestKnown | None = None) -> np.ndarray:
    """How far the colour at each pixel of ``where`` is from the median colour at its nearest known pixels.

    A right value that its neighbours outvote lies on a thin object or a small one, whose colour
    differs from the background the neighbours lie on; a wrong value amid right ones has their
    colour. This tells the two apart.

    Args:
        image: ``(H, W, 3)`` float32 RGB in [0, 1].
        known: ``(H, W)`` bool: the pixels to compare with.
        where: ``(H, W)`` bool, a subset of ``known``: the pixels to measure.
        neighbours: how many nearest known pixels (other than itself) to compare with.
        nearest: :func:`nearest_known` of ``known`` and ``neighbours``, when already computed.

    Returns:
        ``(H, W)`` float32: the RGB distance at ``where``, 0 elsewhere.
    """
    contrast = np.zeros(known.shape, np.float32)
    if int(known.sum()) < 2 or not where.any():
        return contrast
    if nearest is None:
        nearest = nearest_known(known, neighbours)
    flat = np.flatnonzero(known)
    colours = np.ascontiguousarray(at_pixels(image, flat), np.float32)
    measured = at_pixels(where, flat)
    if measured.all():  # every known pixel: no selection to copy
        put_pixels(contrast, flat, vector_length(colours - _neighbours_median(colours, nearest.index)))
    else:
        put_pixels(contrast, flat[measured],
                   vector_length(colours[measured] - _neighbours_median(colours, nearest.index[measured])))
    return contrast


def _neighbours_median(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The channel-wise median of the values of each row of ``index`` (the C kernel where it builds,
    else :func:`_median_of_rows`; the same float32 values).

    Shape:
        values ``(M, C)`` float32, index ``(N, k)`` rows of ``values`` -> ``(N, C)`` float32.
    """
    library = _nearest_library()
    if library is None or index.shape[1] > MAX_KERNEL_NEIGHBOURS:
        return _median_of_rows(values[index])
    values = np.ascontiguousarray(values, np.float32)
    index = np.ascontiguousarray(index, np.int64)
    median = np.empty((len(index), values.shape[1]), np.float32)
    library["median_of_neighbours"](values.ctypes.data, index.ctypes.data, len(index), index.shape[1], values.shape[1],
                                    median.ctypes.data, torch.get_num_threads())
    return median


def neighbours_plane(values: np.ndarray, positions: np.ndarray, nearest: NearestKnown, prior: np.ndarray,
                     ridge: float, cauchy: float, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """Each value's prediction by the affine model of its neighbours alone, evaluated at its
    position: a leave-one-out prediction that follows motion gradients.

    Weighted least squares of a plane through the neighbours' values, their offsets measured in
    their median distance (at least 1 px) and the slopes ridged by ``ridge``; each neighbour
    weighted by its ``prior``, then once more by ``prior / (1 + (misfit / cauchy)^2)``, its misfit
    the distance of its value from the first plane, so that wrong neighbours weigh little. The C
    kernel where it builds (all cores), else numpy; both in float64.

    Shape:
        values ``(N, 2)`` px; positions ``(N, 2)`` (row, column) px; ``nearest`` of those values
        (:func:`nearest_known`); prior ``(N,)`` >= 0; rows ``(M,)`` the values to predict
        (default: all) -> ``(M, 2)`` px.
    """
    library = _nearest_library()
    values = np.ascontiguousarray(values, np.float64)
    positions = np.ascontiguousarray(positions, np.float64)
    prior = np.ascontiguousarray(prior, np.float64)
    index, distance = nearest.index[rows], nearest.distance[rows]  # views for a slice
    count, k = index.shape
    if library is not None and k <= MAX_KERNEL_NEIGHBOURS:
        index = np.ascontiguousarray(index, np.int64)
        distance = np.ascontiguousarray(distance, np.float64)
        predicting = np.ascontiguousarray(np.arange(len(values))[rows], np.int64)
        predicted = np.empty((count, 2))
        library["neighbours_plane"](values.ctypes.data, positions.ctypes.data, index.ctypes.data, distance.ctypes.data,
                                    prior.ctypes.data, predicting.ctypes.data, count, k, float(ridge), float(cauchy),
                                    predicted.ctypes.data, torch.get_num_threads())
        return predicted
    scale = np.maximum(_median_of_rows(distance), 1.0)[:, None]
    dy = (positions[index, 0] - positions[rows, None, 0]) / scale  # (M, k), in neighbour distances
    dx = (positions[index, 1] - positions[rows, None, 1]) / scale
    targets = values[index]  # (M, k, 2)
    intercept, slope_x, slope_y = _weighted_plane(prior[index], dx, dy, targets, ridge)
    misfit = vector_length(targets - intercept[:, None] - slope_x[:, None] * dx[..., None] - slope_y[:, None] * dy[..., None])
    return _weighted_plane(prior[index] / (1.0 + (misfit / cauchy) ** 2), dx, dy, targets, ridge)[0]


def _weighted_plane(weights: np.ndarray, dx: np.ndarray, dy: np.ndarray, targets: np.ndarray,
                    ridge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weighted least-squares plane ``c + a dx + b dy`` through ``targets`` ``(N, k, 2)`` at
    offsets ``dx``, ``dy`` ``(N, k)`` with ``weights`` ``(N, k)``, its slopes ridged by ``ridge``:
    ``(c, a, b)``, each ``(N, 2)`` (the 3x3 normal equations by Cramer's rule, as the C kernel)."""
    wx, wy = weights * dx, weights * dy
    s00 = weights.sum(axis=1) + 1e-12
    s01, s02 = wx.sum(axis=1), wy.sum(axis=1)
    s11 = (wx * dx).sum(axis=1) + ridge
    s12 = (wx * dy).sum(axis=1)
    s22 = (wy * dy).sum(axis=1) + ridge
    t0, t1, t2 = (np.einsum("nk,nkc->nc", w, targets) for w in (weights, wx, wy))
    # the adjugate of the symmetric matrix [[s00, s01, s02], [s01, s11, s12], [s02, s12, s22]]
    a00, a01, a02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    a11, a12, a22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    determinant = (s00 * a00 + s01 * a01 + s02 * a02)[:, None]
    a00, a01, a02, a11, a12, a22 = (entry[:, None] for entry in (a00, a01, a02, a11, a12, a22))
    return ((a00 * t0 + a01 * t1 + a02 * t2) / determinant, (a01 * t0 + a11 * t1 + a12 * t2) / determinant,
            (a02 * t0 + a12 * t1 + a22 * t2) / determinant)
