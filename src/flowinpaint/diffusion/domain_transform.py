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

The recursion runs as a parallel scan: in chunks of ``CHUNK`` pixels, ``y_j = exp(S_j) *
(carry + sum_(k<=j) exp(-S_k) b_k)`` with ``S`` the in-chunk cumulative sum of ``log a``, and the
chunks' carries by the same scan, recursively, on the chunks' ends. ``log a`` is clamped at
``-20`` per step in float32 (``a >= 2e-9``, below float32's resolution of a sum) and at ``-170``
in float64, so that ``exp(-S)`` stays finite.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["guide_distances", "recursive_filter", "rf_log_alpha"]

CHUNK = 4  # pixels per chunk of the scan: CHUNK times the largest decay must stay within exp's range
MAX_DECAY = {torch.float64: 170.0}  # the largest -log(a) of one step, by dtype (float64: a >= 1e-74)
MAX_DECAY_DEFAULT = 20.0  # float32 and narrower: a >= exp(-20) = 2e-9, below float32's resolution of a sum
OPENCV_MIN_SPATIAL, OPENCV_MIN_COLOR = 1.0, 0.01  # what OpenCV clamps the scales to


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


def _causal(values: Tensor, log_a: Tensor) -> Tensor:
    """``y_0 = x_0``, ``y_j = (1 - a_j) x_j + a_j y_(j-1)`` along the last axis.

    Shape:
        values ``(..., W)``; log_a ``(..., W - 1)``: ``log a`` between pixels j and j + 1.
    """
    # link j joins j - 1 and j, none before 0; clamped here as in the scan, so the weights sum to 1
    links = torch.nn.functional.pad(log_a.clamp(min=-_max_decay(values.dtype)), (1, 0), value=-math.inf)
    return _scan((1 - torch.exp(links)) * values, links)


def _pass(values: Tensor, log_a: Tensor) -> Tensor:
    """One recursive-filter pass along the last axis: forwards, then backwards over the result.

    Shape:
        values ``(..., W)``; log_a ``(..., W - 1)``, broadcasting with ``values``.
    """
    forward = _causal(values, log_a)
    return _causal(forward.flip(-1), log_a.flip(-1)).flip(-1)


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
        values = _pass(values, scale * horizontal)
        values = _pass(values.transpose(-1, -2), scale * vertical.transpose(-1, -2)).transpose(-1, -2)
    return values
