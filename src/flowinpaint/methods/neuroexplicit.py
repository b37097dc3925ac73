"""``neuroexplicit``: diffusion whose tensors a trained U-Net predicts from the image (the default model).

Runs the shipped model (:func:`flowinpaint.load_model`) through
:func:`~flowinpaint.methods.learned.run_network`: images smaller than the model's pyramid needs
(more than ``2^(levels - 1)`` pixels per side) are padded and the result cropped back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..models.precision import fast_bfloat16
from ..models.pretrained import cached_model
from .explicit import use_compiled
from .learned import LearnedOptions, network_parameters, run_network, shipped
from .registry import Method, Problem, register

__all__ = ["NeuroexplicitOptions"]


@dataclass(frozen=True)
class NeuroexplicitOptions(LearnedOptions):
    """Options of ``neuroexplicit`` (see :class:`LearnedOptions`; ``model`` defaults to ``"default"``).

    Attributes:
        compiled: use the compiled diffusion kernels (the native C kernel for inference where a
            C compiler exists); None: as for the explicit methods (see ``SolverOptions``).
        bfloat16: run the network (not the solver) in bfloat16; None where it was measured faster
            than float32 on the device (:func:`flowinpaint.models.precision.fast_bfloat16`:
            CPUs with AMX units and most GPUs), float32 elsewhere.
    """

    model: str = "default"
    compiled: bool | None = None
    bfloat16: bool | None = None


def run(problem: Problem, options: NeuroexplicitOptions) -> Tensor:
    model = cached_model(options.model, options.device)
    height, width = problem.flow.shape[-2:]
    compiled = use_compiled(options.compiled, height, width, float32_cpu=torch.device(options.device).type == "cpu")
    bfloat16 = options.bfloat16 if options.bfloat16 is not None else fast_bfloat16(options.device)
    return run_network(problem, options.model, options.device, model.min_side, compiled=compiled, bfloat16=bfloat16)


register(
    Method(
        "neuroexplicit",
        "learned anisotropic diffusion: a U-Net predicts the tensors from the image (shipped weights)",
        NeuroexplicitOptions,
        run,
        needs_image=True,
        unavailable=lambda: shipped("default"),
        parameter_count=lambda options: network_parameters(options.model),
        batched=True,
    )
)
