"""Shipped model weights: one torch file per named model, with a header that is checked on load.

A weights file (``flowinpaint/models/weights/<name>.pt``) is a dict::

    {"format": "flowinpaint-model", "version": 1, "kind": "neuroexplicit",
     "config": {...the model config...}, "shapes": {parameter: [sizes]},
     "state_dict": {...}, "record": {...how it was trained...}}

and ``<name>.json`` beside it holds the same ``record`` for people: the training command and
config, the final validation EPE, the commit. :func:`load_model` reads with
``weights_only=True`` and checks the format, version, kind and every parameter's shape before it
builds the model, so a wrong or damaged file is a ``ValueError`` that says what is wrong.

Loading also sets every weight smaller than :data:`NEGLIGIBLE_WEIGHT` in magnitude to zero. Weight
decay drives the weights of channels that training left unused towards zero without reaching it:
the shipped neuroexplicit DTM has 135,000 of its 182,000 weights below 1e-20, most of them below
float32's smallest normal number (1.2e-38), and its deepest U-Net stage entirely so. Their
products are denormal numbers, which x86 CPUs without flush-to-zero handle 10-100 times slower:
on a Xeon without AMX the network ran 3.6x slower for it. Such a weight changes no output above
float32 rounding (the flows are identical to the bit at 1024x436).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..io._atomic import atomic_write_bytes
from ..io.torchfile import load_torch_file, save_torch_file
from .kinds import MODEL_KINDS, kind_of

__all__ = [
    "NEGLIGIBLE_WEIGHT", "WEIGHTS_DIR", "WEIGHTS_FORMAT", "WEIGHTS_VERSION", "available_models", "load_model", "model_record",
    "negligible_to_zero", "save_model",
]

WEIGHTS_FORMAT = "flowinpaint-model"
WEIGHTS_VERSION = 1
WEIGHTS_DIR = Path(__file__).parent / "weights"
NEGLIGIBLE_WEIGHT = 1e-20


def available_models() -> list[str]:
    """The names of the shipped models (files in :data:`WEIGHTS_DIR`), sorted."""
    return sorted(path.stem for path in WEIGHTS_DIR.glob("*.pt"))


def resolve(name_or_path: str | Path) -> Path:
    """The weights file of a shipped model's name, or ``name_or_path`` itself if it is a file."""
    path = Path(name_or_path)
    if path.suffix == ".pt" or path.parent != Path("."):
        return path
    shipped = WEIGHTS_DIR / f"{name_or_path}.pt"
    if not shipped.is_file():
        raise ValueError(f"no shipped model {str(name_or_path)!r}; available: {', '.join(available_models()) or '(none)'}")
    return shipped


def save_model(model: nn.Module, path: str | Path, record: dict[str, Any]) -> None:
    """Write ``model``'s weights file and the ``.json`` record beside it, each atomically.

    Args:
        record: JSON-compatible facts about the weights (training command, config, validation
            EPE, commit); stored in the file and in ``path.with_suffix(".json")``.
    """
    path = Path(path)
    record = json.loads(json.dumps(record))  # plain JSON types only: weights_only loading refuses others
    config = model.config  # type: ignore[attr-defined]
    state_dict = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    save_torch_file(
        path,
        {
            "format": WEIGHTS_FORMAT,
            "version": WEIGHTS_VERSION,
            "kind": kind_of(model),
            "config": config.to_dict(),
            "shapes": {name: list(tensor.shape) for name, tensor in state_dict.items()},
            "state_dict": state_dict,
            "record": record,
        },
    )
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(record, indent=2) + "\n").encode())


def _read_weights(path: Path) -> dict[str, Any]:
    """The checked content of a weights file."""
    state = load_torch_file(path, "flowinpaint model weights file")
    if not isinstance(state, dict) or state.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path}: not a flowinpaint model weights file (no {WEIGHTS_FORMAT!r} header)")
    if state.get("version") != WEIGHTS_VERSION:
        raise ValueError(f"{path}: weights format version {state.get('version')!r}, this flowinpaint reads {WEIGHTS_VERSION}")
    missing = [key for key in ("kind", "config", "shapes", "state_dict", "record") if key not in state]
    if missing:
        raise ValueError(f"{path}: the weights file lacks {', '.join(missing)}")
    if state["kind"] not in MODEL_KINDS:
        raise ValueError(f"{path}: unknown model kind {state['kind']!r} (known: {', '.join(MODEL_KINDS)})")
    return state


def negligible_to_zero(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` with every floating-point entry below :data:`NEGLIGIBLE_WEIGHT` in
    magnitude set to zero (new tensors; other entries are passed through as they are)."""
    return {
        name: torch.where(tensor.abs() < NEGLIGIBLE_WEIGHT, 0.0, tensor)
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() else tensor
        for name, tensor in state_dict.items()
    }


def load_model(name: str | Path = "default", *, device: str = "cpu") -> nn.Module:
    """A shipped model by name (``available_models()``), or a weights file by path, in eval mode,
    its negligible weights set to zero (:func:`negligible_to_zero`).

    Raises:
        ValueError: unknown name; a file that is not a flowinpaint weights file, has another
            format version, or whose parameters do not fit its config (names and shapes are
            checked against the header before loading).
        FileNotFoundError: a path that does not exist.
    """
    path = resolve(name)
    state = _read_weights(path)
    kind = MODEL_KINDS[state["kind"]]
    try:
        model = kind.build(kind.config_type.from_dict(state["config"]))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: invalid model config in the weights file ({exc})") from None
    expected = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    stored = {name: list(tensor.shape) for name, tensor in state["state_dict"].items()}
    if stored != state["shapes"]:
        raise ValueError(f"{path}: the parameters do not match the file's shape header (damaged file?)")
    if stored != expected:
        wrong = sorted(set(expected) ^ set(stored)) or [n for n in expected if expected[n] != stored[n]]
        raise ValueError(f"{path}: parameters do not fit the model config: {', '.join(wrong[:5])}")
    model.load_state_dict(negligible_to_zero(state["state_dict"]))
    return model.to(device).eval()


@functools.lru_cache(maxsize=4)
def cached_model(name: str, device: str = "cpu") -> nn.Module:
    """:func:`load_model`, loaded once per process (the methods share it; do not modify it)."""
    return load_model(name, device=device)


def model_record(name: str | Path = "default") -> dict[str, Any]:
    """The training record stored with a model (command, config, validation EPE, commit)."""
    return dict(_read_weights(resolve(name))["record"])
