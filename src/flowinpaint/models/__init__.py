"""The networks: the neuroexplicit model (a U-Net steering explicit diffusion) and the learned baselines."""

from torch import nn

from .config import ModelConfig
from .dtm import DiffusionTensorModule
from .flownets import FlowNetSConfig, FlowNetSInpainting
from .neuroaffine import NeuroaffineConfig, NeuroaffineInpainting
from .neuroexplicit import NeuroexplicitInpainting
from .parametrisation import (
    LevelDiffusion,
    homogeneous_raw,
    level_diffusion,
    perona_malik,
)
from .pd import PDConfig, PDInpainting
from .wgain import WGAINConfig, WGAINInpainting

__all__ = [
    "DiffusionTensorModule",
    "FlowNetSConfig",
    "FlowNetSInpainting",
    "LevelDiffusion",
    "ModelConfig",
    "NeuroaffineConfig",
    "NeuroaffineInpainting",
    "NeuroexplicitInpainting",
    "PDConfig",
    "PDInpainting",
    "WGAINConfig",
    "WGAINInpainting",
    "count_parameters",
    "homogeneous_raw",
    "level_diffusion",
    "perona_malik",
]


def count_parameters(module: nn.Module) -> int:
    """The number of trainable parameters (elements) of ``module``."""
    return sum(parameter.numel() for parameter in module.parameters() if parameter.requires_grad)
