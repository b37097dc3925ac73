"""Deploy the neuroexplicit model's network with ``torch.export``.

The network (the Diffusion Tensor Module, :mod:`.dtm`) is the model's only learned, costly part;
the explicit solver is a few element-wise operations. :func:`export_network` captures the network
as a :class:`torch.export.ExportedProgram` for one input size (the U-Net pads to a multiple of
16, which specializes the graph to the size it was traced at: export once per frame size), in
float32. :func:`save_network` / :func:`load_network` store it as a ``.pt2`` archive (written
atomically) that runs without this package's model code, e.g. under AOTInductor, and
:func:`with_network` puts a loaded program back into a model, which then gives the same flow as
the original in float32 (checked to 1e-4 px by the tests).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.export import ExportedProgram

from ..io._atomic import atomic_write_bytes
from .dtm import check_image

__all__ = ["ExportedNetwork", "export_network", "load_network", "save_network", "with_network"]


def export_network(model: nn.Module, height: int, width: int, batch: int = 1) -> ExportedProgram:
    """The model's network exported for ``(batch, 3, height, width)`` float32 images.

    Args:
        model: a neuroexplicit model (:func:`flowinpaint.load_model`).
        height, width: the frame size, pixels (at least ``model.min_side``).

    Raises:
        ValueError: a model without a network (``dtm``), or a size or batch it cannot take.
    """
    network = getattr(model, "dtm", None)
    if not isinstance(network, nn.Module):
        raise ValueError(f"{type(model).__name__} has no network to export (expected a neuroexplicit model)")  # noqa: TRY004 - bad input is a ValueError (the CLI reports it as a usage error)
    min_side = int(getattr(model, "min_side", 1))
    sizes = (batch, height, width)
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in sizes):
        raise ValueError(f"batch, height and width must be integers, got {batch!r}, {height!r}, {width!r}")
    if batch < 1 or min(height, width) < min_side:
        raise ValueError(f"the export needs batch >= 1 and sides >= {min_side} px, got batch {batch}, {height}x{width}")
    parameter = next(network.parameters())
    example = torch.rand(batch, 3, height, width, dtype=torch.float32, device=parameter.device)
    original = copy.deepcopy(network).float().eval()
    with torch.no_grad():
        return torch.export.export(original, (example,))


@contextlib.contextmanager
def _quiet_weight_grouping() -> Iterator[None]:
    """Silence torch's warning that a weight shares no storage with a complete tensor, which it
    gives for every archive of this network's CPU weights (they are stored and read as they are)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No complete tensor found in the group")
        yield


def save_network(program: ExportedProgram, path: str | Path) -> None:
    """Write ``program`` to ``path`` (a ``.pt2`` archive), atomically."""
    buffer = io.BytesIO()
    with _quiet_weight_grouping():
        torch.export.save(program, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_network(path: str | Path) -> ExportedProgram:
    """An exported network from a ``.pt2`` archive written by :func:`save_network`.

    Raises:
        FileNotFoundError: no such file. ValueError: the file is not an exported program.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such exported network")
    not_a_program = f"{path}: not an exported network written by save_network"
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{not_a_program} (not a .pt2 zip archive)")
    with zipfile.ZipFile(path) as archive:
        if not any(name.endswith("/archive_format") for name in archive.namelist()):
            raise ValueError(f"{not_a_program} (a zip archive without the .pt2 format record)")
    try:
        with _quiet_weight_grouping():
            return torch.export.load(path)
    except (RuntimeError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{not_a_program} ({type(exc).__name__}: {exc})") from None


class ExportedNetwork(nn.Module):
    """An exported network in place of the model's own, with the size it was exported for checked
    up front (the program itself fails deep inside on another size).

    Shape:
        image ``(B, 3, H, W)`` float32 at the exported ``B``, ``H``, ``W`` -> the network's list of
        raw outputs, finest level last (as :class:`.dtm.DiffusionTensorModule`).
    """

    def __init__(self, program: ExportedProgram) -> None:
        super().__init__()
        (example,), _ = program.example_inputs
        self.shape = tuple(example.shape)
        self.program = program.module()

    def forward(self, image: Tensor) -> list[Tensor]:
        check_image(image)
        if tuple(image.shape) != self.shape:
            shape = "x".join(map(str, self.shape))
            raise ValueError(f"the network was exported for images of shape {shape}, got {'x'.join(map(str, image.shape))}: "
                             "export it again at this size")
        return self.program(image.float().contiguous())


def with_network(model: nn.Module, program: ExportedProgram) -> nn.Module:
    """A copy of ``model`` whose network is ``program`` (run in float32: bfloat16 is turned off)."""
    deployed = copy.deepcopy(model)
    deployed.dtm = ExportedNetwork(program)
    deployed.config = dataclasses.replace(deployed.config, bfloat16=False, channels_last=False)
    return deployed
