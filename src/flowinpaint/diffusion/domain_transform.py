"""The domain transform's recursive filter (Gastal and Oliveira 2011) in pure, differentiable torch.

The filter smooths an image along a guide's regions and not across its edges: between two
neighbouring pixels the guide defines a *distance* ``d = 1 + sigma_s / sigma_c * sum_c |dI_c|``
(one where the guide is flat, large across an edge), and each one-dimensional pass is the
first-order recursion ``y_j = (1 - a_j) x_j + a_j y_(j-1)`` with ``a_j = alpha^(d_j)``, run forwards
and then backwards along every row, then along every column. Iteration ``i`` of ``N`` uses
``alpha_i = alpha_1^(2^(i-1))``, ``alpha_1 = exp(-sqrt(2/3) / sigma_H1)``, ``sigma_H1 = sigma_s
2^(N-1) / sqrt(4^N - 1)``: this is OpenCV's ``cv2.ximgproc`` ``DTF_RF`` filter step for step
(its colour and spatial scales clamped as OpenCV clamps them, :func:`guide_distances`), so the two
agree to float rounding, and this one has gradients with respect to the filtered values and to
the distances, which a network may predict instead of the colour differences.

Each sweep is a custom autograd function whose backward is the adjoint sweep (the same recursion
run the other way, accumulating) and element-wise products. The sweeps run as a C kernel on float32
CPU tensors (``recursive_kernel.c``: sequential along each line as OpenCV's, lines in parallel,
built per machine by :mod:`flowinpaint.cbuild`), as OpenCV's filter is fast; elsewhere (float64, a
GPU, no C compiler) as a chunked parallel scan in torch: in chunks of ``CHUNK`` pixels, ``y_j =
exp(S_j) * (carry + sum_(k<=j) exp(-S_k) b_k)`` with ``S`` the in-chunk cumulative sum of ``log a``,
and the chunks' carries by the same scan, recursively, on the chunks' ends. There ``log a`` is
clamped at ``-20`` per step in float32 (``a >= 2e-9``, below float32's resolution of a sum) and at
``-170`` in float64, so that ``exp(-S)`` stays finite.
"""

from __future__ import annotations

import ctypes
import functools
import math
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from ..cbuild import load_kernel

__all__ = ["MIN_COLOR_SIGMA", "colour_scale_at", "gap_spacing", "guide_distances", "mean_gap", "recursive_filter",
           "rf_log_alpha", "sample_spacing", "slope_reach"]

KERNEL_SOURCE = Path(__file__).with_name("recursive_kernel.c")
CHUNK = 4  # pixels per chunk of the scan: CHUNK times the largest decay must stay within exp's range
MAX_DECAY = {torch.float64: 170.0}  # the largest -log(a) of one step, by dtype (float64: a >= 1e-74)
MAX_DECAY_DEFAULT = 20.0  # float32 and narrower: a >= exp(-20) = 2e-9, below float32's resolution of a sum
OPENCV_MIN_SPATIAL, OPENCV_MIN_COLOR = 1.0, 0.01  # what OpenCV clamps the scales to
MIN_COLOR_SIGMA = 1e-3  # a flat image has no edges: any positive colour scale acts the same
RELIABLE_SLOPES_FROM = 0.01  # share of known pixels from which a hole's edge carries its slope across (slope_reach)


def colour_scale_at(color_scale: float, density: float, sparse_below: float) -> float:
    """The filters' colour scale for known values at a share ``density`` of the pixels:
    ``color_scale``, grown by ``sqrt(sparse_below / density)`` (the values' spacing relative to
    their spacing at ``sparse_below``) where they are sparser than that; 0 never grows it.

    The colour scale sets how strongly an image edge stops the filters. Where the known values are
    sparse, a region cut off by edges must be filled from farther away along the image, and texture
    edges that are no motion edges cut off more of it: on synthetic validation scenes at 0.1-0.3 %
    known pixels and real matches the grown scale is 1-13 % more accurate, at 1 % and more it is
    not used (``benchmarks/validate_variants.py``).
    """
    if sparse_below <= 0 or density >= sparse_below:
        return color_scale
    return color_scale * math.sqrt(sparse_below / max(density, 1e-12))


def mean_gap(known: np.ndarray) -> float:
    """The mean distance in px from an unknown pixel to its nearest known one (OpenCV's Euclidean
    distance transform, 5x5 mask); 0 where every pixel, or none, is known. A uniform sample of
    density ``d`` has about ``0.5 / sqrt(d)``; holes and clusters leave wider gaps.

    Shape:
        known ``(H, W)`` bool.
    """
    unknown = np.ascontiguousarray(~known)
    count = int(unknown.sum())
    if count in (0, unknown.size):
        return 0.0
    distance = cv2.distanceTransform(unknown.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    return float(distance.sum(dtype=np.float64)) / count


def gap_spacing(known: np.ndarray, gap_factor: float) -> float:
    """The least spacing in px that the known values' gaps ask for: ``gap_factor`` times their
    :func:`mean_gap` (0, without the distance transform, where ``gap_factor`` is 0); the ``least``
    of :func:`sample_spacing` and :func:`slope_reach`.

    Shape:
        known ``(H, W)`` bool.
    """
    return gap_factor * mean_gap(known) if gap_factor > 0 else 0.0


def sample_spacing(density: float, least: float = 0.0) -> float:
    """The spacing in px of known values at ``density`` (a share of the pixels in (0, 1]): that of
    a uniform sample, ``1 / sqrt(density)``, or ``least`` px where that is larger (the filters'
    scales follow it: ``least`` is ``gap_factor`` times the input's :func:`mean_gap`, so that the
    fits reach across holes wider than the density says: on synthetic validation scenes with their
    occlusions cut out, ``gap_factor=2`` fills the holes 26 % more accurately than the density's
    spacing; see the README's neuroaffine section)."""
    return max(1.0 / math.sqrt(density), least)


def slope_reach(reach: float, density: float, least: float) -> float:
    """How far the affine fit extrapolates its slope, in standard deviations of the fitted
    positions (:func:`flowinpaint.methods.local_affine.local_affine_fit`'s ``reach``), for known
    values at ``density`` whose spacing is at least ``least`` px (:func:`sample_spacing`):
    ``reach``, grown by the ratio of that spacing to the density's where at least
    :data:`RELIABLE_SLOPES_FROM` of the pixels are known. The cap keeps a slope fitted to a few
    far-apart values (sparse matches) from growing across an empty region; a hole's edge in a
    densely known flow holds enough values to carry its slope across the hole (a camera's zoom
    continued to the frame's border: on synthetic validation scenes with their occlusions cut
    out the holes' EPE 11 % lower, clustered samples 11 %; uniform samples, whose ratio is
    about 1, unchanged; sparse matches, below the threshold, 1 % worse when grown)."""
    if density < RELIABLE_SLOPES_FROM:
        return reach
    return reach * sample_spacing(density, least) * math.sqrt(density)


def guide_distances(guide: Tensor, spatial_sigma: float, color_sigma: float) -> tuple[Tensor, Tensor]:
    """The domain transform's distances between neighbouring pixels of a guide image.

    ``d = 1 + spatial_sigma / color_sigma * sum_c |I_c(p) - I_c(q)|`` for horizontal and vertical
    neighbours ``p, q``, with the scales clamped to at least 1 and 0.01 as OpenCV's filter does.

    Shape:
        guide: ``(B, C, H, W)`` float (OpenCV's filter takes 1 to 4 channels).
        Returns ``(B, 1, H, W - 1)`` (between columns) and ``(B, 1, H - 1, W)`` (between rows).
    """
    if guide.ndim != 4:
        raise ValueError(f"guide must be (B, C, H, W), got shape {tuple(guide.shape)}")
    ratio = max(OPENCV_MIN_SPATIAL, spatial_sigma) / max(OPENCV_MIN_COLOR, color_sigma)
    horizontal = 1 + ratio * (guide[..., 1:] - guide[..., :-1]).abs().sum(dim=1, keepdim=True)
    vertical = 1 + ratio * (guide[..., 1:, :] - guide[..., :-1, :]).abs().sum(dim=1, keepdim=True)
    return horizontal, vertical


def rf_log_alpha(spatial_sigma: float, iterations: int) -> float:
    """``log alpha_1`` of the first iteration (OpenCV's ``getIterAlpha(1)``), for a spatial scale
    clamped to at least 1 pixel as OpenCV does; iteration ``i`` uses ``2^(i-1)`` times it."""
    sigma_h = max(OPENCV_MIN_SPATIAL, spatial_sigma) * 2.0 ** (iterations - 1) / math.sqrt(4.0**iterations - 1)
    return -math.sqrt(2.0 / 3.0) / sigma_h


def _max_decay(dtype: torch.dtype) -> float:
    """The largest ``-log a`` of one step of the scan in ``dtype``."""
    return MAX_DECAY.get(dtype, MAX_DECAY_DEFAULT)


def _scan(values: Tensor, log_a: Tensor) -> Tensor:
    """``y_0 = b_0``, ``y_j = a_j y_(j-1) + b_j`` along the last axis, as a chunked parallel scan.

    Shape:
        values ``b``: ``(..., L)``; log_a: ``(..., L)`` (broadcasting with ``values``), ``log a_j``
        <= 0 (``log a_0`` is unused).
    """
    length = values.shape[-1]
    if length == 1:
        return values
    chunks = -(-length // CHUNK)
    pad = chunks * CHUNK - length
    limit = _max_decay(values.dtype)
    b = torch.nn.functional.pad(values, (0, pad)).unflatten(-1, (chunks, CHUNK))
    links = torch.nn.functional.pad(log_a.clamp(min=-limit), (0, pad), value=-limit).unflatten(-1, (chunks, CHUNK))
    decay = links.cumsum(dim=-1)  # S_j: the decay from the carry (the previous chunk's last y) to pixel j
    inside = decay - decay[..., :1]  # S_j - S_0, in [-(CHUNK - 1) * limit, 0]
    local = torch.exp(inside) * torch.cumsum(torch.exp(-inside) * b, dim=-1)  # the chunk with carry 0
    if chunks > 1:
        # the carry into chunk c is y at the end of chunk c - 1: the same recursion over the chunks' ends
        ends = _scan(local[..., -1], decay[..., -1])
        carry = torch.nn.functional.pad(ends[..., :-1], (1, 0)).unsqueeze(-1)
        local = local + torch.exp(decay) * carry
    return local.flatten(-2)[..., :length]


def _sweep_torch(values: Tensor, log_a: Tensor, reverse: bool, accumulate: bool) -> Tensor:
    """:func:`_sweep` along the last axis by the chunked scan (any device and dtype).

    Shape:
        values ``(..., W)``; log_a ``(..., W - 1)``, broadcasting with ``values``.
    """
    if reverse:
        return _sweep_torch(values.flip(-1), log_a.flip(-1), False, accumulate).flip(-1)
    # link j joins j - 1 and j, none before 0; clamped here as in the scan, so the weights sum to 1
    links = torch.nn.functional.pad(log_a.clamp(min=-_max_decay(values.dtype)), (1, 0), value=-math.inf)
    return _scan(values if accumulate else (1 - torch.exp(links)) * values, links)


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    """The C sweep (``recursive_kernel.c``), or None where it cannot be built."""
    library = load_kernel(KERNEL_SOURCE, "native recursive-filter kernel")
    if library is not None:
        library.rf_sweep.restype = None
        library.rf_sweep.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_long] * 4 + [ctypes.c_int] * 4
    return library


def _sweep(values: Tensor, log_a: Tensor, vertical: bool, reverse: bool, accumulate: bool) -> Tensor:
    """One sweep of the recursion along the rows (``vertical`` False) or the columns, forwards or
    backwards: ``z_j = x_j + a (z_prev - x_j)`` (``accumulate`` False, the filter) or ``z_j = x_j +
    a z_prev`` (its adjoint), ``a = exp(log_a)`` the link to the previous pixel of the sweep.

    The C kernel runs float32 CPU tensors (where it builds); other tensors take the torch scan.

    Shape:
        values ``(B, C, H, W)``; log_a ``(B or 1, 1, H, W - 1)`` along rows, ``(B or 1, 1, H - 1, W)``
        along columns.
    """
    library = _library() if values.device.type == "cpu" and values.dtype == torch.float32 else None
    if library is None:
        if vertical:
            return _sweep_torch(values.transpose(-1, -2), log_a.transpose(-1, -2), reverse, accumulate).transpose(-1, -2)
        return _sweep_torch(values, log_a, reverse, accumulate)
    batch, channels, height, width = values.shape
    values = values.contiguous()
    links = torch.exp(log_a.to(torch.float32)).expand(batch, 1, *log_a.shape[-2:]).contiguous()
    result = torch.empty_like(values)
    library.rf_sweep(values.data_ptr(), links.data_ptr(), result.data_ptr(), batch, channels, height, width,
                     int(vertical), int(reverse), int(accumulate), torch.get_num_threads())
    return result


class _Sweep(torch.autograd.Function):
    """The filter's sweep with its adjoint as the backward (one more sweep and element-wise products,
    instead of autograd through every step of the scan)."""

    @staticmethod
    def forward(ctx, values: Tensor, log_a: Tensor, vertical: bool, reverse: bool) -> Tensor:
        result = _sweep(values, log_a, vertical, reverse, accumulate=False)
        ctx.save_for_backward(values, log_a, result)
        ctx.directions = (vertical, reverse)
        return result

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        values, log_a, result = ctx.saved_tensors
        vertical, reverse = ctx.directions
        adjoint = _sweep(grad.contiguous(), log_a, vertical, not reverse, accumulate=True)
        axis = -2 if vertical else -1
        length = values.shape[axis]
        # the link k joins pixels k and k + 1; forwards it sets pixel k + 1 from k, backwards k from k + 1
        target = slice(1, length) if not reverse else slice(0, length - 1)
        source = slice(0, length - 1) if not reverse else slice(1, length)

        def along(tensor: Tensor, part: slice) -> Tensor:
            return tensor[..., part, :] if vertical else tensor[..., part]

        decay = torch.exp(log_a)
        grad_values = grad_log_a = None
        if ctx.needs_input_grad[0]:
            grad_values = adjoint.clone()
            along(grad_values, target).sub_(decay * along(adjoint, target))
        if ctx.needs_input_grad[1]:
            change = along(result, source) - along(values, target)
            grad_log_a = decay * (along(adjoint, target) * change).sum(dim=1, keepdim=True)
            if log_a.shape[0] == 1 and grad_log_a.shape[0] > 1:
                grad_log_a = grad_log_a.sum(dim=0, keepdim=True)
        return grad_values, grad_log_a, None, None


def _pass(values: Tensor, log_a: Tensor, vertical: bool) -> Tensor:
    """One recursive-filter pass along the rows or the columns: forwards, then backwards over the result."""
    return _Sweep.apply(_Sweep.apply(values, log_a, vertical, False), log_a, vertical, True)


def recursive_filter(values: Tensor, horizontal: Tensor, vertical: Tensor, spatial_sigma: float,
                     iterations: int = 3) -> Tensor:
    """The domain transform's recursive filter of ``values`` with the given guide distances.

    Args:
        values: the image to filter.
        horizontal, vertical: the distances between neighbouring pixels (:func:`guide_distances`,
            or a network's), >= 0; 1 is one pixel of flat guide.
        spatial_sigma: the filter's spatial scale, pixels (at least 1, as in OpenCV).
        iterations: how many times the four passes run, with halving scales (OpenCV's default 3).

    Returns:
        The filtered ``values``, same shape and dtype. It is linear in ``values``, its weights
        positive and summing to 1 (a constant image stays constant), and it agrees with
        ``cv2.ximgproc.createDTFilter(guide, spatial_sigma, color_sigma, DTF_RF, iterations)``.

    Shape:
        values ``(B, C, H, W)``; horizontal ``(B, 1, H, W - 1)``; vertical ``(B, 1, H - 1, W)``
        (or any shapes that broadcast with ``values``).
    """
    if values.ndim != 4:
        raise ValueError(f"values must be (B, C, H, W), got shape {tuple(values.shape)}")
    height, width = values.shape[-2:]
    if horizontal.shape[-2:] != (height, width - 1) or vertical.shape[-2:] != (height - 1, width):
        raise ValueError(f"distances of shapes {tuple(horizontal.shape)} and {tuple(vertical.shape)} do not fit "
                         f"values of size {height}x{width}: they must end in ({height}, {width - 1}) and "
                         f"({height - 1}, {width})")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be an integer >= 1, got {iterations!r}")
    log_alpha = rf_log_alpha(spatial_sigma, iterations)
    for iteration in range(iterations):
        scale = log_alpha * 2.0**iteration
        values = _pass(values, scale * horizontal, vertical=False)
        values = _pass(values, scale * vertical, vertical=True)
    return values
