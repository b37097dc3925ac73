"""Shared pieces of the command line: the error type, the parser, argument types, method
options from ``KEY=VALUE`` strings, and output checks."""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = [
    "Parser",
    "UsageError",
    "check_writable",
    "create_folder",
    "densities",
    "fraction",
    "frame_size",
    "kernels_compiled_since",
    "output_folder",
    "parse_options",
    "positive_int",
    "write_output",
]

class UsageError(ValueError):
    """A bad command line or input; reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------------------------------
# argument helpers


def kernels_compiled_since(count: int) -> str:
    """``"compiled N C kernel(s) for this machine into FOLDER, once"`` where this process compiled
    kernels since it had compiled ``count`` (``len(flowinpaint.cbuild.compiled_here())`` before a
    call), else ``""``: the reason a first call on a new machine takes seconds longer."""
    from ..cbuild import cache_folder, compiled_here

    new = len(compiled_here()) - count
    return f"compiled {new} C kernel(s) for this machine into {cache_folder()}, once" if new > 0 else ""


def frame_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 384x512, got {text!r}")
    return int(parts[0]), int(parts[1])


def parse_options(method: Any, pairs: Sequence[str], device: str | None = None) -> dict[str, Any]:
    """``KEY=VALUE`` strings converted with the types of the method's options (see
    :func:`flowinpaint.methods.options.parse_options`), and ``--device`` as the ``device`` option
    of the methods that have one; errors are :class:`UsageError`."""
    from ..methods import get_method, method_names
    from ..methods.options import parse_options as parse

    try:
        options = parse(method, pairs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if device is None:
        return options
    if "device" in options:
        raise UsageError("give the device once: --device or --option device=..., not both")

    def has_device(name: str) -> bool:
        return "device" in {field.name for field in dataclasses.fields(get_method(name).options_type)}

    if not has_device(method.name):
        movable = ", ".join(name for name in method_names() if has_device(name))
        raise UsageError(f"method {method.name!r} runs on the CPU only; --device is for {movable}")
    return {**options, "device": device}


def check_writable(path: str, kind: str) -> None:
    """Fail early, before any work, if ``path`` cannot be an output of ``kind`` ("flow"/"image")."""
    import cv2

    from ..io import FLOW_EXTENSIONS

    suffix = Path(path).suffix.lower()
    if kind == "flow" and suffix not in FLOW_EXTENSIONS:
        raise UsageError(f"{path}: unknown flow file extension {suffix!r}; supported: {', '.join(FLOW_EXTENSIONS)}")
    if kind == "image" and not cv2.haveImageWriter(path):
        raise UsageError(f"{path}: no image encoder for the extension {suffix!r}; use e.g. .png")
    parent = Path(path).parent
    if not parent.is_dir():
        raise UsageError(f"{path}: the folder {str(parent)!r} does not exist")
    if Path(path).is_dir():
        raise UsageError(f"{path}: is a folder, not a file")


def write_output(write: Any, path: str, *args: Any) -> None:
    try:
        write(path, *args)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the file ({exc.strerror or exc})") from exc


# ---------------------------------------------------------------------------------------------
# commands


def densities(text: str) -> list[float]:
    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not 0 < value < 1:
            raise argparse.ArgumentTypeError(f"densities must be comma-separated numbers in (0, 1), got {text!r}")
        values.append(value)
    return values


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def output_folder(path: str | Path) -> Path:
    """``path`` as an output folder to be; fails early if something that is not a folder is there."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: exists and is not a folder")
    return folder


def create_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) just before the first output is written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot create the folder ({exc.strerror or exc})") from exc
