"""Edge-aware normalized convolution of a sparse flow in pure, differentiable torch.

:func:`edge_aware_affine_fit` is first-order normalized convolution (Knutsson and Westin): at
every pixel it fits an affine model to the known values by weighted least squares, the weights the
known pixels' certainties times the domain transform's recursive filter
(:mod:`.domain_transform`), so the fit averages along the guide's regions and not across its
edges, and reproduces any affine flow exactly. :func:`edge_aware_mean` is the zero-order fit.
Both take the filter's distances, the guide's (:func:`.domain_transform.guide_distances`) or a
network's, and have gradients with respect to them; with the guide's distances they compute what
:func:`flowinpaint.methods.local_affine.local_affine_fit` and ``edge_aware_average`` compute with
OpenCV's filter, to float rounding.

The fit works in coordinates centred on the image and scaled by ``1 / COORDINATE_SCALE``, on the
flow minus its global weighted affine trend, so that the float32 moments keep enough digits; the
per-pixel solve runs in float64.

Shapes: flows ``(B, 2, H, W)`` in pixels, certainties ``(B, 1, H, W)`` >= 0 (0 = unknown),
distances ``(B, 1, H, W - 1)`` and ``(B, 1, H - 1, W)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from .domain_transform import recursive_filter

__all__ = ["COORDINATE_SCALE", "GLOBAL_REACH", "affine_from_moments", "edge_aware_affine_fit", "edge_aware_mean", "fit_coordinates"]

COORDINATE_SCALE = 32.0  # pixels per unit of the fit's coordinates (keeps float32 moments accurate)
GLOBAL_REACH = 5.0  # standard deviations of the known positions the global trend's slope reaches at least
MOMENTS = 12  # 1, x, y, x^2, xy, y^2, u, ux, uy, v, vx, vy (each times the certainty)


def fit_coordinates(height: int, width: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """The fit's coordinates: ``x`` ``(W,)`` and ``y`` ``(H,)`` float32, centred, in units of
    :data:`COORDINATE_SCALE` pixels."""
    x = (torch.arange(width, dtype=torch.float32, device=device) - width / 2) / COORDINATE_SCALE
    y = (torch.arange(height, dtype=torch.float32, device=device) - height / 2) / COORDINATE_SCALE
    return x, y


class _Trend(NamedTuple):
    """Each sample's global affine flow and where it may extrapolate its slope (as
    :class:`flowinpaint.methods.local_affine.Trend`): coefficients ``(B, 3, 2)`` of (1, x, y),
    the known positions' weighted centre ``(B, 2)`` and covariance (pseudo-)inverse ``(B, 2, 2)``,
    float64, and the reach in standard deviations (inf: none)."""

    coefficients: Tensor
    centre: Tensor
    inverse: Tensor
    reach: float


def _global_trend(flow: Tensor, certainty: Tensor, x: Tensor, y: Tensor, reach: float) -> _Trend:
    """Each sample's weighted least-squares affine flow, its slope held back beyond ``reach``
    (at least ``GLOBAL_REACH``) standard deviations of the known positions.

    The normal equations are solved by the pseudo-inverse, so fewer than three known pixels (or
    collinear ones) give the minimum-norm solution, as ``numpy.linalg.lstsq`` does.
    """
    weight = certainty.detach().to(torch.float64).flatten(1)  # (B, N)
    basis = torch.stack(torch.broadcast_tensors(torch.ones_like(y)[:, None], x[None, :], y[:, None])).to(torch.float64)
    basis = basis.flatten(1)  # (3, N)
    normal = torch.einsum("bn,in,jn->bij", weight, basis, basis)
    right = torch.einsum("bn,in,bcn->bic", weight, basis, flow.detach().to(torch.float64).flatten(2))
    total = normal[:, 0, 0].clamp_min(1e-30)
    centre = normal[:, 0, 1:] / total[:, None]
    covariance = normal[:, 1:, 1:] / total[:, None, None] - centre[:, :, None] * centre[:, None, :]
    return _Trend(torch.linalg.pinv(normal, hermitian=True) @ right, centre, torch.linalg.pinv(covariance, hermitian=True),
                  max(reach, GLOBAL_REACH) if math.isfinite(reach) else math.inf)


def _evaluate(trend: _Trend, x: Tensor, y: Tensor) -> Tensor:
    """The trend's flows ``(B, 2, H, W)`` at the fit's coordinates, in their dtype: affine within
    ``reach`` standard deviations of the known positions' centre, the slope term scaled back beyond."""
    coefficients = trend.coefficients.to(x.dtype)[..., None, None]  # (B, 3, 2, 1, 1)
    if not math.isfinite(trend.reach):
        return coefficients[:, 0] + coefficients[:, 1] * x + coefficients[:, 2] * y[:, None]
    centre = trend.centre.to(x.dtype)[:, :, None, None, None]  # (B, 2, 1, 1, 1)
    inverse = trend.inverse.to(x.dtype)[..., None, None, None]  # (B, 2, 2, 1, 1, 1)
    dx, dy = x - centre[:, 0], y[:, None] - centre[:, 1]  # (B, 1, 1, W) and (B, 1, H, 1)
    distance2 = dx * dx * inverse[:, 0, 0] + 2 * dx * dy * inverse[:, 0, 1] + dy * dy * inverse[:, 1, 1]
    shrink = torch.clamp(trend.reach**2 / distance2.clamp_min(1e-30), max=1.0).sqrt()
    at_centre = coefficients[:, 0] + coefficients[:, 1] * centre[:, 0] + coefficients[:, 2] * centre[:, 1]
    return at_centre + shrink * (coefficients[:, 1] * dx + coefficients[:, 2] * dy)


def affine_from_moments(moments: Tensor, x: Tensor, y: Tensor, reach: float) -> Tensor:
    """The weighted least-squares affine model at every pixel, evaluated there, from the filtered moments.

    Where the weighted positions nearly lie on a line (or there are fewer than three) the slope is
    dropped and the model is the weighted mean. With a finite ``reach``, at a pixel farther than
    ``reach`` standard deviations (Mahalanobis distance) from the weighted centre of the values
    the slope term is scaled back to that distance.

    Shape:
        moments ``(B, 12, H, W)``: the filtered certainty-weighted 1, x, y, x^2, xy, y^2, u, ux,
        uy, v, vx, vy; x ``(W,)``, y ``(H,)``. Returns ``(B, 2, H, W)`` in the moments' dtype (float64 inside).
    """
    dtype = moments.dtype
    moments = moments.to(torch.float64)
    weight = moments[:, :1].clamp_min(1e-30)
    means = moments[:, 1:] / weight  # x, y, xx, xy, yy, u, ux, uy, v, vx, vy
    mean_x, mean_y = means[:, 0], means[:, 1]
    cxx = means[:, 2] - mean_x**2
    cxy = means[:, 3] - mean_x * mean_y
    cyy = means[:, 4] - mean_y**2
    det = cxx * cyy - cxy**2
    spans_plane = det > 1e-4 * (cxx + cyy) ** 2 + 1e-12
    inverse_det = torch.where(spans_plane, 1.0 / torch.where(spans_plane, det, 1.0), 0.0)
    dx = x.to(torch.float64)[None, None, :] - mean_x
    dy = y.to(torch.float64)[None, :, None] - mean_y
    if math.isfinite(reach):
        distance2 = (dx * dx * cyy - 2 * dx * dy * cxy + dy * dy * cxx) * inverse_det
        inverse_det = inverse_det * torch.clamp(reach**2 / distance2.clamp_min(1e-30), max=1.0).sqrt()
    fitted = []
    for offset in (5, 8):
        mean_f = means[:, offset]
        cfx = means[:, offset + 1] - mean_x * mean_f
        cfy = means[:, offset + 2] - mean_y * mean_f
        fitted.append(mean_f + ((cfx * cyy - cfy * cxy) * dx + (cfy * cxx - cfx * cxy) * dy) * inverse_det)
    return torch.stack(fitted, dim=1).to(dtype)


def edge_aware_affine_fit(flow: Tensor, certainty: Tensor, horizontal: Tensor, vertical: Tensor,
                          spatial_sigma: float, reach: float = math.inf, *,
                          misfit: bool = False, iterations: int = 3) -> tuple[Tensor, Tensor, Tensor | None]:
    """First-order edge-aware normalized convolution of a sparse flow.

    Args:
        flow: ``(B, 2, H, W)`` pixels; values where ``certainty`` is 0 are ignored.
        certainty: ``(B, 1, H, W)`` >= 0.
        horizontal, vertical: the recursive filter's distances (see the module's shapes).
        spatial_sigma: the filter's spatial scale, pixels.
        reach: see :func:`affine_from_moments` (inf: exact for any affine flow).
        misfit: also compute the fit's misfit (one more filter pass).
        iterations: the recursive filter's iterations (OpenCV's default, 3).

    Returns:
        ``(fitted, support, misfit)``: the fitted flow ``(B, 2, H, W)`` (float32, or float64 for a
        float64 flow); the filtered certainty ``(B, 1, H, W)`` (about the local density of known
        values reached along the guide); and the weighted RMS distance ``(B, 1, H, W)`` pixels of
        the known values from the model fitted at each pixel (0 where the flow is locally
        affine), or None.
    """
    height, width = flow.shape[-2:]
    dtype = torch.promote_types(flow.dtype, torch.float32)
    x, y = (coordinate.to(dtype) for coordinate in fit_coordinates(height, width, flow.device))
    certainty = certainty.to(dtype)
    trend = _global_trend(flow, certainty, x, y, reach)
    values = torch.where(certainty > 0, flow.to(dtype) - _evaluate(trend, x, y), 0.0)
    u, v = values[:, :1], values[:, 1:]
    cx, cy = certainty * x, certainty * y[:, None]
    products = [certainty, cx, cy, cx * x, cx * y[:, None], cy * y[:, None]]
    for component in (u, v):
        weighted = certainty * component
        products += [weighted, weighted * x, weighted * y[:, None]]
    filtered = recursive_filter(torch.cat(products, dim=1), horizontal, vertical, spatial_sigma, iterations)
    fitted = affine_from_moments(filtered, x, y, reach) + _evaluate(trend, x, y)
    support = filtered[:, :1]
    if not misfit:
        return fitted, support, None
    squared = torch.where(certainty > 0, certainty * ((flow.to(dtype) - fitted) ** 2).sum(dim=1, keepdim=True), 0.0)
    spread = recursive_filter(squared, horizontal, vertical, spatial_sigma, iterations)
    return fitted, support, torch.sqrt((spread / support.clamp_min(1e-30)).clamp_min(0))


def edge_aware_mean(values: Tensor, certainty: Tensor, horizontal: Tensor, vertical: Tensor,
                    spatial_sigma: float, iterations: int = 3) -> Tensor:
    """Zero-order edge-aware normalized convolution: the certainty-weighted mean of the known
    values around each pixel, 0 where none reaches (``iterations`` of the recursive filter).

    Shape:
        values ``(B, C, H, W)``; certainty ``(B, 1, H, W)`` >= 0; returns ``(B, C, H, W)``.
    """
    certainty = certainty.to(values.dtype)
    weighted = torch.where(certainty > 0, values * certainty, 0.0)
    filtered = recursive_filter(torch.cat([weighted, certainty], dim=1), horizontal, vertical, spatial_sigma,
                                iterations)
    sums, weight = filtered[:, :-1], filtered[:, -1:]
    return torch.where(weight > 1e-12, sums / weight.clamp_min(1e-12), 0.0)
