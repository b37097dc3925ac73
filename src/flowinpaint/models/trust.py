"""The trust classifier: how likely each known value is right, from the evidence of its neighbours.

A small multilayer perceptron over the per-value features of :mod:`flowinpaint.methods.trust`
(how far the value lies from its neighbours' median motion, how many of them agree with it
closely, how far it lies from the edge-aware affine fit of the values that pass the neighbour
tests, the image's colour contrast there, the density and the share of values failing those
tests in the whole input, ...), standardised by the training data's mean and spread, which the
model keeps as buffers. It is trained on synthetic scenes with known wrong values
(:mod:`flowinpaint.train.trust`) and steers the ``neuroaffine`` method, whose filters stay
hand-made and explicit: a value it trusts is held exactly, one it does not is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .configbase import ConfigDict

__all__ = ["TrustClassifier", "TrustConfig"]


@dataclass(frozen=True)
class TrustConfig(ConfigDict):
    """Architecture of :class:`TrustClassifier`.

    Attributes:
        features: the names of the input features, in order (:data:`flowinpaint.methods.trust.FEATURE_NAMES`
            when it was trained; a model whose names differ from the method's is refused).
        hidden: the widths of the hidden layers.
    """

    features: tuple[str, ...] = ()
    hidden: tuple[int, ...] = (32, 16)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if not self.features or not all(isinstance(name, str) and name for name in self.features):
            raise ValueError(f"features must be a non-empty list of names, got {self.features!r}")
        if not all(isinstance(width, int) and not isinstance(width, bool) and width >= 1 for width in self.hidden):
            raise ValueError(f"hidden must be a list of integers >= 1, got {self.hidden!r}")


class TrustClassifier(nn.Module):
    """The probability that each known value is right.

    Shape:
        features ``(N, F)`` float32 (F = ``len(config.features)``) -> ``(N,)`` in (0, 1).
    """

    def __init__(self, config: TrustConfig) -> None:
        super().__init__()
        self.config = config
        count = len(config.features)
        self.register_buffer("mean", torch.zeros(count))
        self.register_buffer("scale", torch.ones(count))
        layers: list[nn.Module] = []
        width = count
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.network = nn.Sequential(*layers)

    def standardise_by(self, features: Tensor) -> None:
        """Set the input standardisation to the mean and spread of ``features`` ``(N, F)``."""
        self.mean.copy_(features.mean(dim=0))
        self.scale.copy_(features.std(dim=0).clamp_min(1e-6))

    def logits(self, features: Tensor) -> Tensor:
        """The log-odds that each value is right, ``(N,)``."""
        return self.network((features - self.mean) / self.scale)[:, 0]

    def forward(self, features: Tensor) -> Tensor:
        if features.ndim != 2 or features.shape[1] != len(self.config.features):
            raise ValueError(f"features must be (N, {len(self.config.features)}), got shape {tuple(features.shape)}")
        return torch.sigmoid(self.logits(features))
