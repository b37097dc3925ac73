"""``flownets``: a FlowNetS-style encoder-decoder that maps image, sparse flow and mask to dense flow.

The fully data-driven baseline of the paper (spec section 7-8): FlowNetS (Dosovitskiy et al.
2015) with its two-frame input replaced by the inpainting input, 6 channels: the normalised RGB
image, the sparse flow divided by ``flow_scale`` (0 at unknown pixels) and the mask. Encoder:
``conv1`` 7x7/2, ``conv2`` 5x5/2, ``conv3`` 5x5/2 + 3x3, ``conv4`` 3x3/2 + 3x3, ``conv5`` 3x3/2
+ 3x3, ``conv6`` 3x3/2 + 3x3, LeakyReLU(0.1), channel widths ``(1, 2, 4, 8, 8, 16) * width``
(FlowNetS: width 64, about 38 M parameters with its two-frame input; the paper's inpainting
FlowNetS has 8.84 M). Decoder: at scales 1/32 .. 1/4 a flow prediction (3x3 conv), a 4x4/2
transposed convolution of the features and of the flow, concatenated with the encoder features
of the next finer scale. The 1/4-scale flow is upsampled bilinearly to full resolution; the
known pixels are re-imposed.

Any size works: the input is padded (replicating the image's border, unknown flow) to a multiple
of 64 and the output cropped back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .configbase import ConfigDict
from .dtm import ImageNormalisation

__all__ = ["FlowNetSConfig", "FlowNetSInpainting"]

MULTIPLE = 64
ENCODER = ((1, 7, 2), (2, 5, 2), (4, 5, 2), (4, 3, 1), (8, 3, 2), (8, 3, 1), (8, 3, 2), (8, 3, 1), (16, 3, 2), (16, 3, 1))


@dataclass(frozen=True)
class FlowNetSConfig(ConfigDict):
    """Architecture of :class:`FlowNetSInpainting`.

    Attributes:
        width: channels of ``conv1``; the others are multiples of it (FlowNetS: 64).
        flow_scale: flows are divided by it at the input and multiplied at the output (pixels).
        loss_weights: weights of the EPE of the predictions at 1/4, 1/8, 1/16, 1/32 and 1/64
            scale (against the area-averaged ground truth, in full-resolution pixels), added to the
            EPE of the full-resolution output (spec: 0.32, 0.08, 0.04, 0.02, 0.01).
    """

    width: int = 16
    flow_scale: float = 20.0
    loss_weights: tuple[float, ...] = (0.32, 0.08, 0.04, 0.02, 0.01)

    def __post_init__(self) -> None:
        object.__setattr__(self, "loss_weights", tuple(float(w) for w in self.loss_weights))
        if not (isinstance(self.width, int) and self.width >= 1):
            raise ValueError(f"width must be a positive integer, got {self.width!r}")
        if not self.flow_scale > 0:
            raise ValueError(f"flow_scale must be > 0, got {self.flow_scale}")
        if len(self.loss_weights) != 5 or min(self.loss_weights) < 0:
            raise ValueError(f"loss_weights needs 5 non-negative weights (1/4 .. 1/64), got {self.loss_weights}")


def conv(in_channels: int, out_channels: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2), nn.LeakyReLU(0.1, inplace=True))


def upconv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1), nn.LeakyReLU(0.1, inplace=True))


class FlowNetSInpainting(nn.Module):
    """Dense flow from image, sparse flow and mask with a FlowNetS-style network.

    Shape:
        image: ``(B, 3, H, W)`` RGB in ``[0, 1]``; flow: ``(B, 2, H, W)`` (values at unknown pixels
        ignored); known: ``(B, 1, H, W)`` bool. Returns ``(B, 2, H, W)``, equal to ``flow`` on the
        known pixels. :meth:`predictions` also gives the coarse outputs used by the loss.
    """

    def __init__(self, config: FlowNetSConfig | None = None):
        super().__init__()
        self.config = config = config or FlowNetSConfig()
        d = config.width
        layers, channels = [], 6
        for factor, kernel, stride in ENCODER:
            layers.append(conv(channels, factor * d, kernel, stride))
            channels = factor * d
        self.encoder = nn.ModuleList(layers)
        # decoder from 1/64 to 1/4: features concatenated with the encoder output of each scale
        skips = (8 * d, 8 * d, 4 * d, 2 * d)  # conv5_1 (1/32), conv4_1 (1/16), conv3_1 (1/8), conv2 (1/4)
        ups = (8 * d, 4 * d, 2 * d, d)
        self.predict = nn.ModuleList()
        self.up_features = nn.ModuleList()
        self.up_flow = nn.ModuleList()
        for skip, up in zip(skips, ups):
            self.predict.append(nn.Conv2d(channels, 2, 3, 1, 1))
            self.up_features.append(upconv(channels, up))
            self.up_flow.append(nn.ConvTranspose2d(2, 2, 4, 2, 1, bias=False))
            channels = skip + up + 2
        self.predict.append(nn.Conv2d(channels, 2, 3, 1, 1))
        self.normalise = ImageNormalisation()

    def predictions(self, image: Tensor, flow: Tensor, known: Tensor) -> list[Tensor]:
        """The flow predictions from 1/64 to 1/4 scale of the padded input, in pixels of the full resolution."""
        height, width = image.shape[-2:]
        pad = (0, -width % MULTIPLE, 0, -height % MULTIPLE)
        mask = known.to(image.dtype)
        x = torch.cat([self.normalise(image), flow.masked_fill(~known, 0.0) / self.config.flow_scale, mask], dim=1)
        x = torch.cat([F.pad(x[:, :3], pad, mode="replicate"), F.pad(x[:, 3:], pad)], dim=1)
        features = []
        for index, layer in enumerate(self.encoder):
            x = layer(x)
            if index in (1, 3, 5, 7):  # conv2, conv3_1, conv4_1, conv5_1
                features.append(x)
        outputs = []
        for predict, up_features, up_flow in zip(self.predict, self.up_features, self.up_flow):
            coarse = predict(x)
            outputs.append(coarse * self.config.flow_scale)
            x = torch.cat([features.pop(), up_features(x), up_flow(coarse)], dim=1)
        outputs.append(self.predict[-1](x) * self.config.flow_scale)
        return outputs

    def dense(self, finest: Tensor, flow: Tensor, known: Tensor) -> Tensor:
        """The full-resolution output from the 1/4-scale prediction, known pixels re-imposed."""
        height, width = flow.shape[-2:]
        padded = (finest.shape[-2] * 4, finest.shape[-1] * 4)
        full = F.interpolate(finest, size=padded, mode="bilinear", align_corners=False)[..., :height, :width]
        return torch.where(known, flow, full)

    def forward(self, image: Tensor, flow: Tensor, known: Tensor) -> Tensor:
        return self.dense(self.predictions(image, flow, known)[-1], flow, known)
