"""Neuroexplicit diffusion inpainting: the DTM steers a coarse-to-fine explicit diffusion solver.

The Diffusion Tensor Module runs once on the reference image and gives, per pyramid level, the
raw channels of the level's diffusion tensor and stencil parameter (sized like the level, see
:mod:`.dtm`). The sparse flow then goes through the coarse-to-fine solver of
:mod:`flowinpaint.diffusion`: the coarsest level starts from its sparse data (zeros elsewhere),
every finer one from the bilinearly upsampled coarser result, and each level runs one FSI cycle
of the configured length with the (alpha, beta) stencil and the stable time step
``1 / (4 (1 - min alpha))``, re-imposing the known pixels after every step. Everything is
differentiable, so training back-propagates through all steps into the DTM.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..diffusion import (
    coarse_to_fine,
    downsample_image,
    www_stencil,
    www_time_step,
)
from ..diffusion.fused import fused_fsi_cycle
from ..diffusion.structure import dominant_eigen, structure_tensor
from .config import ModelConfig
from .dtm import DiffusionTensorModule, check_image
from .parametrisation import LevelDiffusion, homogeneous_raw, level_diffusion

__all__ = ["NeuroexplicitInpainting"]


def validate_inputs(image: Tensor, flow: Tensor, known: Tensor, levels: int) -> None:
    """Raise ``ValueError`` unless the shapes, dtypes and devices fit and every level has 2x2 pixels."""
    check_image(image)
    batch, _, height, width = image.shape
    if tuple(flow.shape) != (batch, 2, height, width) or not flow.is_floating_point():
        raise ValueError(f"flow must be a float {(batch, 2, height, width)} tensor, got {tuple(flow.shape)} {flow.dtype}")
    if tuple(known.shape) != (batch, 1, height, width) or known.dtype != torch.bool:
        raise ValueError(f"known must be a bool {(batch, 1, height, width)} tensor, got {tuple(known.shape)} {known.dtype}")
    if not image.device == flow.device == known.device:
        raise ValueError(f"image, flow and known are on different devices: {image.device}, {flow.device}, {known.device}")
    if min(height, width) <= 2 ** (levels - 1):
        raise ValueError(f"{levels} pyramid levels need more than {2 ** (levels - 1)} pixels per side, got {height}x{width}")


class NeuroexplicitInpainting(nn.Module):
    """Dense flow from sparse flow by diffusion whose tensors a U-Net learns from the image.

    Args:
        config: architecture and solver settings (see :class:`ModelConfig` for the ablations);
            None uses the defaults (the paper's model).

    The untrained model is homogeneous diffusion inpainting (``D = 0.9 I``, ``alpha = 1/4``): the
    DTM's heads start with zero weights and the biases of :func:`.parametrisation.homogeneous_raw`.

    Shape:
        image: ``(B, 3, H, W)`` RGB in ``[0, 1]``; flow: ``(B, 2, H, W)``, values at unknown
        pixels are ignored; known: ``(B, 1, H, W)`` bool. Returns the dense flow
        ``(B, 2, H, W)`` (in the promoted dtype of the flow and the parameters), equal to
        ``flow`` on the known pixels. Any size with more than ``2^(levels - 1)`` pixels per
        side works (16 x 16 and up with the default 4 levels), with any mask density.
    """

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        config = config or ModelConfig()
        self.config = config
        self.dtm = DiffusionTensorModule(config.width, len(config.level_steps), homogeneous_raw(config.contrast))
        self.log_contrast = nn.Parameter(torch.tensor(math.log(config.contrast)))
        if config.channels_last:
            self.dtm.to(memory_format=torch.channels_last)

    @property
    def min_side(self) -> int:
        """The fewest pixels per side an input needs: every pyramid level keeps 2x2 pixels."""
        return 2 ** (len(self.config.level_steps) - 1) + 1

    @property
    def contrast(self) -> Tensor:
        """The learned Perona-Malik contrast ``lambda > 0`` (a 0-d tensor)."""
        return self.log_contrast.exp()

    def diffusion_levels(self, image: Tensor, *, bfloat16: bool | None = None) -> list[LevelDiffusion]:
        """The explicit model of every pyramid level, coarse to fine.

        Args:
            bfloat16: run the DTM under bfloat16 autocast; None takes ``config.bfloat16``.

        Shape:
            image: ``(B, 3, H, W)``; level ``l`` (0 = finest) has tensor entries and alpha of
            ``(B, 1, ceil(H / 2^l) - 1, ceil(W / 2^l) - 1)`` (the dual grid of its flow).
        """
        image = image.to(self.log_contrast.dtype)
        if self.config.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        bfloat16 = self.config.bfloat16 if bfloat16 is None else bfloat16
        with torch.autocast(image.device.type, dtype=torch.bfloat16, enabled=bfloat16):
            raws = self.dtm(image)
        raws = [raw.to(self.log_contrast.dtype) for raw in raws]
        alpha = None if self.config.learned_alpha else self.config.fixed_alpha
        eigenvectors: list[Tensor | None] = [None] * len(raws)
        if self.config.eigenvectors == "structure_tensor":
            guides = [image]
            for _ in range(len(raws) - 1):
                guides.append(downsample_image(guides[-1]))
            eigenvectors = [
                dominant_eigen(structure_tensor(guide, self.config.sigma, self.config.rho))[0] for guide in reversed(guides)
            ]
        return [
            level_diffusion(raw, self.contrast, alpha=alpha, eigenvector=eigenvector)
            for raw, eigenvector in zip(raws, eigenvectors)
        ]

    def forward(
        self, image: Tensor, flow: Tensor, known: Tensor, *, compiled: bool | None = None, bfloat16: bool | None = None
    ) -> Tensor:
        """The dense flow (see the class docstring for shapes).

        Args:
            compiled: use the compiled diffusion kernels; None takes ``config.compiled``.
            bfloat16: run the DTM under bfloat16 autocast; None takes ``config.bfloat16``.
        """
        steps = self.config.level_steps
        compiled = self.config.compiled if compiled is None else compiled
        validate_inputs(image, flow, known, len(steps))
        levels = self.diffusion_levels(image, bfloat16=bfloat16)

        def solve_level(level: int, start: Tensor, data: Tensor, level_known: Tensor) -> Tensor:
            diffusion, n_steps = levels[-1 - level], steps[-1 - level]
            stencil = www_stencil(diffusion.tensor, diffusion.alpha)
            tau = www_time_step(diffusion.alpha)
            return fused_fsi_cycle(start, stencil, tau, n_steps, level_known, data, compiled=compiled)

        return coarse_to_fine(flow.masked_fill(~known, 0.0), known, len(steps), solve_level)
