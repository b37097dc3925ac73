"""Torch files (checkpoints, shipped weights): atomic saves, ``weights_only`` loads, clear errors."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ._atomic import atomic_write_bytes
from ._files import PathLike

__all__ = ["load_torch_file", "save_torch_file"]


def save_torch_file(path: PathLike, state: Any) -> None:
    """``torch.save(state)`` to ``path`` atomically: readers see the old file or the whole new one."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_torch_file(path: PathLike, what: str) -> Any:
    """The object in a torch file, loaded onto the CPU with ``weights_only=True``.

    Args:
        what: what the file should be, for error messages (``"training checkpoint"``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not readable (truncated, corrupt, not a torch file, or holding
            objects that ``weights_only`` loading refuses).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds (pickle, zip, runtime) for damaged files
        message = " ".join(str(exc).split())[:200]
        raise ValueError(f"{path}: not a readable {what} ({type(exc).__name__}: {message})") from None
