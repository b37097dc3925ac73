"""``neuroexplicit``: diffusion whose tensors a trained U-Net predicts from the image (the default model).

The shipped model (:func:`flowinpaint.load_model`) runs under ``torch.inference_mode``. Images
smaller than the model's pyramid needs (more than ``2^(levels - 1)`` pixels per side) are padded:
the image by replicating its border, the flow with unknown pixels; the result is cropped back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.pretrained import cached_model
from .explicit import COMPILED_MIN_PIXELS
from .registry import Method, Problem, register

__all__ = ["NeuroexplicitOptions"]


@dataclass(frozen=True)
class NeuroexplicitOptions:
    """Options of ``neuroexplicit``.

    Attributes:
        model: a shipped model's name (``flowinpaint.models.pretrained.available_models()``) or
            the path of a weights file written by ``flowinpaint export-model``.
        device: ``"cpu"``, ``"cuda"``, ... (the torch device to run on).
        compiled: use the compiled diffusion kernels; None uses them from 262,144 pixels up,
            where they repay their compilation (seconds per new size, cached on disk).
    """

    model: str = "default"
    device: str = "cpu"
    compiled: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model must be a model name or a path, got {self.model!r}")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {self.device!r}") from None


def run(problem: Problem, options: NeuroexplicitOptions) -> Tensor:
    model = cached_model(options.model, options.device)
    assert problem.image is not None  # needs_image
    height, width = problem.flow.shape[-2:]
    minimum = 2 ** (len(model.config.level_steps) - 1) + 1
    pad = (0, max(0, minimum - width), 0, max(0, minimum - height))
    image = F.pad(problem.image, pad, mode="replicate") if any(pad) else problem.image
    flow, known = F.pad(problem.flow, pad), F.pad(problem.known, pad, value=False)
    compiled = options.compiled if options.compiled is not None else height * width >= COMPILED_MIN_PIXELS
    device = torch.device(options.device)
    with torch.inference_mode():
        dense = model(image.to(device), flow.to(device), known.to(device), compiled=compiled)
    return dense[..., :height, :width].float().cpu()


register(
    Method(
        "neuroexplicit",
        "learned anisotropic diffusion: a U-Net predicts the tensors from the image (shipped weights)",
        NeuroexplicitOptions,
        run,
        needs_image=True,
    )
)
