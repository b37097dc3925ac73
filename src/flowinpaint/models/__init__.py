"""Neuroexplicit diffusion inpainting: a U-Net that steers explicit anisotropic diffusion."""

from torch import nn

from .config import ModelConfig
from .dtm import DiffusionTensorModule
from .neuroexplicit import NeuroexplicitInpainting
from .parametrisation import (
    LevelDiffusion,
    homogeneous_raw,
    level_diffusion,
    perona_malik,
)

__all__ = [
    "DiffusionTensorModule",
    "LevelDiffusion",
    "ModelConfig",
    "NeuroexplicitInpainting",
    "count_parameters",
    "homogeneous_raw",
    "level_diffusion",
    "perona_malik",
]


def count_parameters(module: nn.Module) -> int:
    """The number of trainable parameters (elements) of ``module``."""
    return sum(parameter.numel() for parameter in module.parameters() if parameter.requires_grad)
