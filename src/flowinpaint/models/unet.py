"""A small generic U-Net, the backbone of the WGAIN generator and of the PD denoiser.

``depth`` stride-2 stages with widths ``width * 2^k``, each two 3x3 convolutions with GroupNorm
and SiLU; a mirrored decoder with nearest-neighbour upsampling and skip concatenation; an
optional per-sample embedding (the diffusion time) added after every stage. Inputs are padded
(replicate) to a multiple of ``2^depth`` and the output is cropped back, so any size works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["UNet"]


def _groups(channels: int) -> int:
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class Block(nn.Module):
    """Two 3x3 convolutions with GroupNorm and SiLU, plus an optional embedding added in between."""

    def __init__(self, in_channels: int, out_channels: int, embedding: int):
        super().__init__()
        self.first = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm1 = nn.GroupNorm(_groups(out_channels), out_channels)
        self.second = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(out_channels), out_channels)
        self.embed = nn.Linear(embedding, out_channels) if embedding else None

    def forward(self, x: Tensor, embedding: Tensor | None) -> Tensor:
        x = F.silu(self.norm1(self.first(x)))
        if self.embed is not None and embedding is not None:
            x = x + self.embed(embedding)[:, :, None, None]
        return F.silu(self.norm2(self.second(x)))


class UNet(nn.Module):
    """``(B, in_channels, H, W)`` -> ``(B, out_channels, H, W)``.

    Args:
        width: channels of the first stage; stage ``k`` has ``width * 2^k``.
        depth: number of stride-2 downsamplings.
        embedding: size of the per-sample embedding vector (0: none).
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 16, depth: int = 3, embedding: int = 0):
        super().__init__()
        self.depth = depth
        widths = [width * 2**k for k in range(depth + 1)]
        self.down = nn.ModuleList([Block(in_channels, widths[0], embedding)])
        self.down += [Block(widths[k - 1], widths[k], embedding) for k in range(1, depth + 1)]
        self.up = nn.ModuleList([Block(widths[k + 1] + widths[k], widths[k], embedding) for k in reversed(range(depth))])
        self.out = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: Tensor, embedding: Tensor | None = None) -> Tensor:
        height, width = x.shape[-2:]
        multiple = 2**self.depth
        x = F.pad(x, (0, -width % multiple, 0, -height % multiple), mode="replicate")
        skips = []
        for index, block in enumerate(self.down):
            if index:
                x = F.avg_pool2d(x, 2)
            x = block(x, embedding)
            skips.append(x)
        skips.pop()
        for block in self.up:
            x = block(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skips.pop()], dim=1), embedding)
        return self.out(x)[..., :height, :width]
