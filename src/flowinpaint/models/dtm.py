"""The Diffusion Tensor Module (DTM): a U-Net from the reference image to raw diffusion channels.

Architecture (spec section 5), base width ``d``, ReLU after every convolution, no normalisation:

* encoder: 3x3 conv 3 -> d (scale 1); stride-2 3x3 d -> d, 3x3 d -> d (1/2); stride-2 d -> 2d,
  2d -> 2d (1/4); stride-2 2d -> 4d, 4d -> 4d (1/8); stride-2 4d -> 8d (1/16);
* decoder: transposed convs (kernel 1, stride 2, output padding 1) 8d -> 4d, each output
  concatenated with the encoder features of its scale: 8d -> 4d (+ 4d at 1/8), 8d -> 4d (+ 2d at
  1/4), 6d -> 2d (+ d at 1/2), 3d -> d (+ d at 1);
* heads: a 3x3 conv without activation on the decoder output of each scale, 5 channels each.

The image is normalised with the ImageNet mean and std and padded (replicating its last row and
column) to a multiple of 16 at the bottom and right, so every stride-2 stage halves it exactly;
the outputs are cropped at the top-left to the sizes of the flow pyramid, ``ceil(H / 2^l)`` by
``ceil(W / 2^l)`` (the halving of :func:`~flowinpaint.diffusion.sparse_pyramid`), which fit since
the padded size halves to at least that.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import MAX_LEVELS
from .parametrisation import RAW_CHANNELS

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "DiffusionTensorModule", "ImageNormalisation", "check_image"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MULTIPLE = 2**MAX_LEVELS
UP_WIDTHS = (4, 4, 2, 1)  # transposed-conv outputs, in units of d, from scale 1/8 to 1
SKIP_WIDTHS = (4, 2, 1, 1)  # encoder features concatenated with them, in units of d


def check_image(image: Tensor) -> None:
    """Raise ``ValueError`` unless ``image`` is a float ``(B, 3, H, W)`` tensor."""
    if image.dim() != 4 or image.shape[1] != 3 or not image.is_floating_point():
        raise ValueError(f"image must be a float (B, 3, H, W) tensor, got {tuple(image.shape)} {image.dtype}")


class ImageNormalisation(nn.Module):
    """``(image - ImageNet mean) / ImageNet std`` after checking the image (no parameters).

    Shape:
        ``(B, 3, H, W)`` RGB in [0, 1] -> the same shape.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: Tensor) -> Tensor:
        check_image(image)
        return (image - self.mean) / self.std


def conv_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """A 3x3 convolution (padding 1) followed by ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.ReLU(inplace=True))


def up_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """The x2 transposed convolution (kernel 1, stride 2, output padding 1) followed by ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 1, stride=2, output_padding=1), nn.ReLU(inplace=True)
    )


class DiffusionTensorModule(nn.Module):
    """The DTM U-Net: reference image to raw diffusion channels at ``levels`` scales.

    Args:
        width: base width ``d`` (spec: 44, about 1.3 M parameters).
        levels: heads at the finest ``levels`` scales of 1/8, 1/4, 1/2, 1 (1 to 4).
        head_bias: the heads' initial biases, one per output channel; their weights start at
            zero, so the untrained module outputs ``head_bias`` everywhere.

    Shape:
        image: ``(B, 3, H, W)``, RGB in ``[0, 1]``.
        returns: ``levels`` tensors, coarse to fine; level ``l`` (0 = finest) is
        ``(B, len(head_bias), ceil(H / 2^l), ceil(W / 2^l))``.
    """

    def __init__(self, width: int = 44, levels: int = MAX_LEVELS, head_bias: Sequence[float] = (0.0,) * RAW_CHANNELS):
        super().__init__()
        if not 1 <= levels <= MAX_LEVELS:
            raise ValueError(f"levels must lie in [1, {MAX_LEVELS}], got {levels}")
        d = width
        self.encoder = nn.ModuleList(
            [
                conv_relu(3, d),
                nn.Sequential(conv_relu(d, d, 2), conv_relu(d, d)),
                nn.Sequential(conv_relu(d, 2 * d, 2), conv_relu(2 * d, 2 * d)),
                nn.Sequential(conv_relu(2 * d, 4 * d, 2), conv_relu(4 * d, 4 * d)),
                conv_relu(4 * d, 8 * d, 2),
            ]
        )
        self.decoder = nn.ModuleList()
        self.heads = nn.ModuleList()
        channels = 8 * d
        for scale, (up, skip) in enumerate(zip(UP_WIDTHS, SKIP_WIDTHS)):
            self.decoder.append(up_relu(channels, up * d))
            channels = (up + skip) * d
            if scale >= MAX_LEVELS - levels:
                self.heads.append(nn.Conv2d(channels, len(head_bias), 3, padding=1))
        with torch.no_grad():
            for head in self.heads:
                head.weight.zero_()
                head.bias.copy_(torch.tensor(head_bias))
        self.normalise = ImageNormalisation()

    def forward(self, image: Tensor) -> list[Tensor]:
        height, width = image.shape[-2:]
        x = self.normalise(image)
        x = F.pad(x, (0, -width % MULTIPLE, 0, -height % MULTIPLE), mode="replicate")
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        skips.pop()  # the 1/16 bottleneck is not concatenated
        first_head = MAX_LEVELS - len(self.heads)
        outputs = []
        for scale, up in enumerate(self.decoder):
            x = torch.cat([up(x), skips.pop()], dim=1)
            if scale >= first_head:
                factor = 2 ** (MAX_LEVELS - 1 - scale)
                raw = self.heads[scale - first_head](x)
                outputs.append(raw[..., : -(-height // factor), : -(-width // factor)])
        return outputs
