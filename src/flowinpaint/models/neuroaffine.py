"""The learned guide of ``neuroaffine``: a small U-Net that predicts the domain transform's geodesic costs.

``neuroaffine`` fits edge-aware local affine models to the known values and fills their residual
with the domain transform's recursive filter, whose reach between neighbouring pixels is set by a
guide image ``G``: the filter's distance between pixels ``p`` and ``q`` is ``1 + sigma_s /
sigma_c * sum_c |G_c(p) - G_c(q)|`` (:func:`flowinpaint.diffusion.domain_transform.guide_distances`).
With the image as guide every colour edge stops the filter, texture included, and a blurred motion
boundary hardly does. Here a network steers the fit, and only that: from the image at
``1 / resolution`` of its size and the density of the known values (a constant input channel,
``log10`` of it: how far the fit must reach) it predicts a smooth *gain* ``g > 0`` and an *edge* channel ``e``,
upsampled bilinearly, and the guide is

    ``G = [g * image, e]``,  ``g = exp(log_gain * tanh(n_0))``,  ``e = correction * tanh(n_1)``

four channels (what OpenCV's filter takes, so inference runs OpenCV's fast filter on ``G``). A gain
below 1 lowers the cost of the image's edges there (texture inside a moving region: the fit then
reaches further), above 1 raises it (where a motion boundary is likely); the edge channel draws
boundaries the colours do not show. The network's last layer starts at zero (the edge channel's
barely off it, so that it has a gradient), so an untrained model is the hand-made method to
rounding (``g = 1``, ``e ~ 0``). Whatever it predicts, the fit stays an
average with positive weights: affine-exact, bounded by the known values' range, stable.

:class:`NeuroaffineInpainting` is the trainable whole, in differentiable torch (every known value
kept exact; the method adds its outlier tests around it, and its refinement pass, which this model
does not train: ``motion_contrast=0`` runs the method as the model): the affine fit of the known
values at the spatial scale ``spatial_factor / sqrt(density)`` pixels and colour scale ``color_factor``
times the image's mean gradient, and its residual filled at ``detail_factor / sqrt(density)``.

Shape: images ``(B, 3, H, W)`` RGB in [0, 1]; flows ``(B, 2, H, W)``; masks ``(B, 1, H, W)`` bool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ..diffusion.affine_fit import edge_aware_affine_fit, edge_aware_mean
from ..diffusion.domain_transform import (
    MIN_COLOR_SIGMA,
    colour_scale_at,
    gap_spacing,
    guide_distances,
    sample_spacing,
    slope_reach,
)
from .configbase import ConfigDict
from .dtm import ImageNormalisation
from .precision import fast_bfloat16
from .unet import UNet

__all__ = ["GUIDE_CHANNELS", "NeuroaffineConfig", "NeuroaffineInpainting", "guide_array", "mean_gradient"]

GUIDE_CHANNELS = 4  # OpenCV's domain-transform filter takes guides of 1 to 4 channels
FLOW_INPUTS = 3  # the known values (u, v) and their mask, with NeuroaffineConfig.flow_input
GREY = (0.299, 0.587, 0.114)  # OpenCV's RGB2GRAY weights
EDGE_INIT_STD = 1e-4  # the edge channel's first weights: ~1e-4 of the image's range, costs within ~0.1 %


@dataclass(frozen=True)
class NeuroaffineConfig(ConfigDict):
    """Architecture of :class:`NeuroaffineInpainting`.

    Attributes:
        width: channels of the U-Net's first stage; depth: its stride-2 stages.
        resolution: the network sees the image at ``1 / resolution`` of its size (area average).
        log_gain: the gain of the image's edges is within ``exp(+-log_gain)``.
        correction: the largest value of the edge channel, in image units.
        spatial_factor: the affine fit's spatial scale is ``spatial_factor`` times the known values'
            spacing, ``1 / sqrt(density)`` pixels or ``gap_factor`` times their mean gap where that
            is larger (:func:`flowinpaint.diffusion.domain_transform.sample_spacing`, as the method).
        gap_factor: see ``spatial_factor`` (0: the density alone).
        color_factor: the filter's colour scale in units of the image's mean gradient magnitude.
        sparse_below: below this share of known pixels the colour scale grows with the known
            values' spacing (:func:`flowinpaint.diffusion.domain_transform.colour_scale_at`; 0: fixed).
        reach: how far the fit's slope is extrapolated, in standard deviations of the fitted positions
            (grown as the method grows it: :func:`flowinpaint.diffusion.domain_transform.slope_reach`).
        detail_factor: the residual fill's spatial scale is ``detail_factor / sqrt(density)`` pixels.
        flow_input: the network also reads the known values (centred and scaled by their spread,
            at its resolution, with their mask), so that it can put edges where they jump.
    """

    width: int = 8
    depth: int = 3
    resolution: int = 2
    log_gain: float = 2.0
    correction: float = 0.5
    spatial_factor: float = 2.0
    gap_factor: float = 2.0
    color_factor: float = 4.0
    sparse_below: float = 0.01
    reach: float = 3.0
    detail_factor: float = 0.5
    flow_input: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.flow_input, bool):
            raise ValueError(f"flow_input must be true or false, got {self.flow_input!r}")  # noqa: TRY004 - config errors are ValueErrors
        for name in ("width", "depth", "resolution"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.gap_factor, (int, float)) and 0 <= self.gap_factor and math.isfinite(self.gap_factor)):
            raise ValueError(f"gap_factor must be a finite number >= 0, got {self.gap_factor!r}")
        if not (isinstance(self.sparse_below, (int, float)) and 0 <= self.sparse_below < 1):
            raise ValueError(f"sparse_below must be a share of the pixels in [0, 1), got {self.sparse_below!r}")
        for name in ("log_gain", "correction", "spatial_factor", "color_factor", "reach", "detail_factor"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0) or (name != "reach" and not math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value!r}")


def mean_gradient(image: Tensor) -> Tensor:
    """The mean gradient magnitude of each image's grey values (central differences, OpenCV's
    ``Sobel(ksize=1)`` with its reflected border), as :func:`flowinpaint.methods.local_affine.color_sigma`
    at factor 1.

    Shape:
        ``(B, 3, H, W)`` -> ``(B,)``.
    """
    grey = sum(weight * image[:, channel] for channel, weight in enumerate(GREY))[:, None]
    padded = torch.nn.functional.pad(grey, (1, 1, 1, 1), mode="reflect")
    dx = padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]
    dy = padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2, 3))


class NeuroaffineInpainting(nn.Module):
    """The guide network and the differentiable fit it steers (see the module's text)."""

    def __init__(self, config: NeuroaffineConfig | None = None):
        super().__init__()
        self.config = config or NeuroaffineConfig()
        self.normalise = ImageNormalisation()
        inputs = 4 + (FLOW_INPUTS if self.config.flow_input else 0)
        self.network = UNet(inputs, 2, width=self.config.width, depth=self.config.depth)
        nn.init.zeros_(self.network.out.weight)
        nn.init.zeros_(self.network.out.bias)
        with torch.no_grad():  # a flat edge channel has no gradient (|0 - 0| is flat): start it barely varying
            self.network.out.weight[1].normal_(std=EDGE_INIT_STD)

    def _shrink(self, tensor: Tensor) -> Tensor:
        """``tensor`` at the network's resolution (area average)."""
        resolution = self.config.resolution
        return torch.nn.functional.avg_pool2d(tensor, resolution, ceil_mode=True) if resolution > 1 else tensor

    def _flow_inputs(self, flow: Tensor, known: Tensor) -> Tensor:
        """The known values at the network's resolution ``(B, 3, h, w)``: their mean where any is
        known (centred on the sample's mean, divided by the spread of its values plus 1 px), and
        whether any is."""
        weight = known.to(flow.dtype)
        flow = torch.where(known, flow, 0.0)  # whatever the unknown pixels hold
        count = weight.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
        mean = (flow * weight).sum(dim=(2, 3), keepdim=True) / count
        spread = torch.sqrt((((flow - mean) ** 2).sum(dim=1, keepdim=True) * weight).sum(dim=(2, 3), keepdim=True) / count)
        centred = (flow - mean) * weight / (spread + 1.0)
        share = self._shrink(weight)
        values = torch.where(share > 0, self._shrink(centred) / share.clamp_min(1e-12), 0.0)
        return torch.cat([values, (share > 0).to(flow.dtype)], dim=1)

    def guide(self, image: Tensor, flow: Tensor, known: Tensor) -> Tensor:
        """The learned guide ``(B, 4, H, W)`` for the known values ``flow`` at ``known`` (each
        sample needs one): the image times the gain, and the edge channel."""
        config = self.config
        small = self._shrink(image)
        density = known.flatten(1).to(small.dtype).mean(dim=1)
        level = torch.log10(density).view(-1, 1, 1, 1).expand(-1, 1, *small.shape[-2:])
        inputs = [self.normalise(small), level]
        if config.flow_input:
            inputs.append(self._flow_inputs(flow.to(small.dtype), known).to(small.dtype))
        raw = torch.tanh(self.network(torch.cat(inputs, dim=1))).to(image.dtype)
        if config.resolution > 1:
            raw = torch.nn.functional.interpolate(raw, size=image.shape[-2:], mode="bilinear", align_corners=False)
        gain = torch.exp(config.log_gain * raw[:, :1])
        return torch.cat([gain * image, config.correction * raw[:, 1:]], dim=1)

    def color_sigma(self, image: Tensor) -> Tensor:
        """The filter's colour scale of each image ``(B,)``: ``color_factor`` times its mean gradient."""
        return (self.config.color_factor * mean_gradient(image)).clamp_min(MIN_COLOR_SIGMA)

    def forward(self, image: Tensor, flow: Tensor, known: Tensor) -> Tensor:
        """The dense flow ``(B, 2, H, W)``, exact at the known pixels.

        Each sample needs a known pixel; its scales follow its own density of known values.
        """
        config = self.config
        densities = known.flatten(1).float().mean(dim=1)
        if (densities == 0).any():
            raise ValueError(f"sample {int((densities == 0).nonzero()[0])} has no known pixel")
        guide = self.guide(image, flow, known)
        color = self.color_sigma(image.detach())
        dense = []
        for index in range(image.shape[0]):
            mask = known[index:index + 1]
            density = float(densities[index])
            certainty = mask.to(flow.dtype)
            values = flow[index:index + 1]
            least = gap_spacing(mask[0, 0].cpu().numpy(), config.gap_factor)
            spatial = config.spatial_factor * sample_spacing(density, least)
            reach = slope_reach(config.reach, density, least)
            colour = colour_scale_at(float(color[index]), density, config.sparse_below)
            fitted, _, _ = edge_aware_affine_fit(values, certainty, *guide_distances(guide[index:index + 1], spatial, colour),
                                              spatial, reach)
            detail = config.detail_factor / math.sqrt(density)
            residual = torch.where(mask, values - fitted, 0.0)
            filled = edge_aware_mean(residual, certainty,
                                     *guide_distances(guide[index:index + 1], detail, colour), detail)
            dense.append(torch.where(mask, values, fitted + filled))
        return torch.cat(dense)


def guide_array(model: NeuroaffineInpainting, image: np.ndarray, flow: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The model's guide of one image for the known values ``flow`` at ``known``, for OpenCV's
    filter: image ``(H, W, 3)`` float32 RGB in [0, 1], flow ``(H, W, 2)``, known ``(H, W)`` bool
    -> ``(H, W, 4)`` float32, computed without gradients on the model's device, the convolutions in
    bfloat16 where that is measured faster there (:func:`flowinpaint.models.precision.fast_bfloat16`)."""
    parameter = next(model.parameters())

    def tensor(array: np.ndarray) -> Tensor:
        planes = array[..., None] if array.ndim == 2 else array
        return torch.from_numpy(np.ascontiguousarray(planes)).permute(2, 0, 1)[None].to(parameter.device)

    bfloat16 = fast_bfloat16(parameter.device)
    with torch.inference_mode(), torch.autocast(parameter.device.type, dtype=torch.bfloat16, enabled=bfloat16):
        guide = model.guide(tensor(image).to(parameter.dtype), tensor(flow.astype(np.float32)).to(parameter.dtype),
                            tensor(known))
    return np.ascontiguousarray(guide[0].permute(1, 2, 0).float().cpu().numpy())
