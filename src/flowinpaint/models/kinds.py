"""The kinds of trainable models: each kind's config type and constructor, under one name.

Training configs (``kind = "..."`` plus a ``[model]`` table), shipped weights files (their
``kind`` header) and the learned methods all look a model up here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from .config import ModelConfig
from .flownets import FlowNetSConfig, FlowNetSInpainting
from .neuroaffine import NeuroaffineConfig, NeuroaffineInpainting
from .neuroexplicit import NeuroexplicitInpainting
from .pd import PDConfig, PDInpainting
from .trust import TrustClassifier, TrustConfig
from .wgain import WGAINConfig, WGAINInpainting

__all__ = ["MODEL_KINDS", "ModelKind", "get_kind", "kind_of"]


@dataclass(frozen=True)
class ModelKind:
    """How to build a model of one kind from its config (``config_type.from_dict`` reads it back)."""

    config_type: Any
    build: Callable[[Any], nn.Module]


MODEL_KINDS: dict[str, ModelKind] = {
    "neuroexplicit": ModelKind(ModelConfig, NeuroexplicitInpainting),
    "flownets": ModelKind(FlowNetSConfig, FlowNetSInpainting),
    "wgain": ModelKind(WGAINConfig, WGAINInpainting),
    "pd": ModelKind(PDConfig, PDInpainting),
    "neuroaffine": ModelKind(NeuroaffineConfig, NeuroaffineInpainting),
    "trust": ModelKind(TrustConfig, TrustClassifier),
}


def get_kind(name: str) -> ModelKind:
    """The kind called ``name``; an unknown one is a ``ValueError`` listing the known kinds."""
    if name not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {name!r}; known: {', '.join(MODEL_KINDS)}")
    return MODEL_KINDS[name]


def kind_of(model: nn.Module) -> str:
    """The name of ``model``'s kind (a ``ValueError`` for a class that is no registered kind)."""
    for name, kind in MODEL_KINDS.items():
        if type(model) is kind.build:
            return name
    raise ValueError(f"{type(model).__name__} is not a model kind flowinpaint can ship ({', '.join(MODEL_KINDS)})")
