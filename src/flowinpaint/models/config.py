"""The configuration of the neuroexplicit inpainting model (spec sections 4 and 5)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .configbase import ConfigDict

__all__ = ["MAX_LEVELS", "ModelConfig"]

MAX_LEVELS = 4  # the Diffusion Tensor Module has heads at scales 1/8, 1/4, 1/2 and 1
EIGENVECTORS = ("learned", "structure_tensor")


@dataclass(frozen=True)
class ModelConfig(ConfigDict):
    """Architecture and solver settings of :class:`~flowinpaint.models.NeuroexplicitInpainting`.

    Attributes:
        width: base width ``d`` of the Diffusion Tensor Module (spec: 44).
        levels: pyramid levels, 1 to 4 (spec: 4, scales 1/8 .. 1).
        steps: FSI steps per level, coarse to fine, one entry per level (spec: 5, 15, 30, 45).
        pyramid: False is the "no pyramid" ablation: one full-resolution level that runs as many
            steps as all levels together (``sum(steps)``), with only the full-resolution head.
        learned_alpha: False is the "fixed alpha" ablation: the stencil parameter is
            ``fixed_alpha`` everywhere instead of ``sigmoid(x4) / 2``.
        fixed_alpha: the stencil parameter of that ablation, in ``[0, 1/2]``; 0.25 is the value
            the learned alpha starts from, so the ablation differs only in what is learned.
        eigenvectors: ``"learned"`` (channels 0-1 of the DTM) or ``"structure_tensor"`` (the
            ablation: EED's dominant eigenvector of the image's structure tensor, per level).
        sigma: pre-smoothing of the structure tensor, pixels of each level.
        rho: integration scale of the structure tensor, pixels of each level.
        contrast: initial value of the learned Perona-Malik contrast ``lambda`` (raw DTM units).
        channels_last: run the DTM's convolutions in channels-last memory format.
        compiled: run the FSI steps (and their hand-written backward) with the kernels of
            :mod:`flowinpaint.diffusion.fused` compiled by ``torch.compile`` (same results up
            to rounding; compiles once per image size).
        bfloat16: run the DTM's convolutions under bfloat16 autocast (the solver stays in the
            flow's dtype): 1.6x faster on CPUs with AMX units, slower on CPUs without; on the
            shipped model the Middlebury EPE is the same to four digits.
    """

    width: int = 44
    levels: int = 4
    steps: tuple[int, ...] = (5, 15, 30, 45)
    pyramid: bool = True
    learned_alpha: bool = True
    fixed_alpha: float = 0.25
    eigenvectors: Literal["learned", "structure_tensor"] = "learned"
    sigma: float = 1.0
    rho: float = 2.0
    contrast: float = 1.0
    channels_last: bool = False
    compiled: bool = False
    bfloat16: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if not (isinstance(self.width, int) and self.width >= 1):
            raise ValueError(f"width must be a positive integer, got {self.width!r}")
        if not (isinstance(self.levels, int) and 1 <= self.levels <= MAX_LEVELS):
            raise ValueError(f"levels must be an integer in [1, {MAX_LEVELS}], got {self.levels!r}")
        if len(self.steps) != self.levels:
            raise ValueError(f"steps needs one entry per level ({self.levels}), got {self.steps}")
        if not all(isinstance(n, int) and n >= 1 for n in self.steps):
            raise ValueError(f"steps must be positive integers, got {self.steps}")
        for name in ("pyramid", "learned_alpha", "channels_last", "compiled", "bfloat16"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if not 0.0 <= self.fixed_alpha <= 0.5:
            raise ValueError(f"fixed_alpha must lie in [0, 0.5], got {self.fixed_alpha}")
        if self.eigenvectors not in EIGENVECTORS:
            raise ValueError(f"eigenvectors must be one of {EIGENVECTORS}, got {self.eigenvectors!r}")
        if not (self.sigma >= 0 and self.rho >= 0):
            raise ValueError(f"sigma and rho must be >= 0, got {self.sigma}, {self.rho}")
        if not (self.contrast > 0 and math.isfinite(self.contrast)):
            raise ValueError(f"contrast must be a positive number, got {self.contrast}")

    @property
    def level_steps(self) -> tuple[int, ...]:
        """The FSI steps the solver runs per level, coarse to fine (one level without pyramid)."""
        return self.steps if self.pyramid else (sum(self.steps),)
