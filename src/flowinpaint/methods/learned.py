"""Running a trained network as an inpainting method, and the fully learned baselines.

:func:`run_network` is shared by every learned method: it loads the model once per process,
pads images smaller than the network needs (the image by replicating its border, the flow with
unknown pixels), runs under ``torch.inference_mode`` on the chosen device and crops back.

The fully learned baselines are registered here, each with the shipped model of its name as
default weights: ``flownets`` (:class:`~flowinpaint.models.FlowNetSInpainting`), ``wgain``
(:class:`~flowinpaint.models.WGAINInpainting`) and ``pd`` (:class:`~flowinpaint.models.PDInpainting`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models import count_parameters
from ..models.pretrained import available_models, cached_model
from .registry import Method, Problem, register

__all__ = ["LearnedOptions", "PDOptions", "run_network"]


def run_network(problem: Problem, model_name: str, device: str, min_size: int = 1, **forward_options: Any) -> Tensor:
    """The dense flow ``(B, 2, H, W)`` of the (cached) model ``model_name`` for ``problem`` (a
    stack of ``B`` problems of one size, see :func:`flowinpaint.inpaint_batch`).

    Args:
        min_size: pad images to at least this many pixels per side (the model's pyramid needs).
        forward_options: keyword arguments of the model's forward.
    """
    model = cached_model(model_name, device)
    assert problem.image is not None  # learned methods need the image
    height, width = problem.flow.shape[-2:]
    pad = (0, max(0, min_size - width), 0, max(0, min_size - height))
    image = F.pad(problem.image, pad, mode="replicate") if any(pad) else problem.image
    flow, known = F.pad(problem.flow, pad), F.pad(problem.known, pad, value=False)
    where = torch.device(device)
    with torch.inference_mode():
        dense = model(image.to(where), flow.to(where), known.to(where), **forward_options)
    return dense[..., :height, :width].float().cpu()


def network_parameters(model: str) -> int | None:
    """Parameters the model ``model`` (a shipped name or a weights file) infers with (a GAN's
    generator only); None where it cannot be loaded."""
    try:
        network = cached_model(model, "cpu")
    except (ValueError, FileNotFoundError):
        return None
    return count_parameters(getattr(network, "generator", network))


def shipped(name: str) -> str | None:
    """Why a method whose default weights are ``name`` cannot run, or None if they are shipped."""
    return None if name in available_models() else f"no shipped {name!r} weights in this installation"


@dataclass(frozen=True)
class LearnedOptions:
    """Options of the learned baselines.

    Attributes:
        model: a shipped model's name or the path of a weights file (``flowinpaint export-model``);
            empty: the shipped model named like the method.
        device: the torch device to run on (``"cpu"``, ``"cuda"``, ...).
    """

    model: str = ""
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not isinstance(self.model, str):
            raise ValueError(f"model must be a model name or a path, got {self.model!r}")  # noqa: TRY004 - option errors are ValueErrors
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {self.device!r}") from None
        if device.type == "meta":
            raise ValueError(f"device {self.device!r} holds no data; use 'cpu' or a GPU such as 'cuda'")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} is not available: this PyTorch build has no CUDA or sees no GPU")


@dataclass(frozen=True)
class PDOptions(LearnedOptions):
    """Options of ``pd`` (see :class:`LearnedOptions`).

    Attributes:
        steps: DDIM sampling steps; None: the model's ``sampling_steps``.
    """

    steps: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1 or None, got {self.steps}")


def register_baseline(name: str, summary: str, options_type: type = LearnedOptions) -> None:
    """Register the learned baseline ``name`` whose default weights are the shipped model ``name``.

    The fields of ``options_type`` beyond :class:`LearnedOptions`'s are passed to the model's
    forward as keywords (None values left out).
    """
    extra = [field.name for field in dataclasses.fields(options_type) if field.name not in ("model", "device")]

    def run(problem: Problem, options: Any) -> Tensor:
        keywords = {key: getattr(options, key) for key in extra if getattr(options, key) is not None}
        return run_network(problem, options.model or name, options.device, **keywords)

    register(Method(name, summary, options_type, run, needs_image=True, unavailable=lambda: shipped(name),
                    parameter_count=lambda options: network_parameters(options.model or name), batched=True))


register_baseline("flownets", "learned baseline: FlowNetS-style CNN from image, sparse flow and mask (shipped weights)")
register_baseline("wgain", "learned baseline: Wasserstein GAN imputation network (shipped weights)")
register_baseline("pd", "learned baseline: conditional denoising diffusion, DDIM sampling (shipped weights)", PDOptions)
