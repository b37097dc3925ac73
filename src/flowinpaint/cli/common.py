"""Shared pieces of the command line: the error type, the parser, argument types, method
options from ``KEY=VALUE`` strings, and output checks."""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, NoReturn, Sequence

__all__ = [
    "UsageError", "Parser", "frame_size", "densities", "positive_int", "parse_options", "check_writable", "write_output",
    "output_folder", "create_folder",
]

_NONE_WORDS = ("none", "null")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


class UsageError(ValueError):
    """A bad command line or input; reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------------------------------
# argument helpers


def frame_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 384x512, got {text!r}")
    return int(parts[0]), int(parts[1])


def _option_types(options_type: type) -> dict[str, tuple[type, bool]]:
    """Each field of an options dataclass as ``(base type, accepts None)``."""
    hints = typing.get_type_hints(options_type)
    result = {}
    for field in dataclasses.fields(options_type):
        hint = hints.get(field.name, str)
        nullable = False
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
            nullable = len(args) < len(typing.get_args(hint))
            hint = args[0] if len(args) == 1 else str
        result[field.name] = (hint, nullable)
    return result


def _convert(key: str, text: str, base: type, nullable: bool) -> Any:
    word = text.strip().lower()
    if nullable and word in _NONE_WORDS:
        return None
    suffix = " or none" if nullable else ""
    if base is bool:
        if word in _TRUE_WORDS + _FALSE_WORDS:
            return word in _TRUE_WORDS
        raise UsageError(f"option {key} expects true or false{suffix}, got {text!r}")
    if base is int:
        try:
            return int(word)
        except ValueError:
            raise UsageError(f"option {key} expects an integer{suffix}, got {text!r}") from None
    if base is float:
        try:
            value = float(word)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise UsageError(f"option {key} expects a finite number{suffix}, got {text!r}")
        return value
    if base is str:
        return text
    raise UsageError(f"option {key} (type {getattr(base, '__name__', base)}) cannot be set from the command line")


def parse_options(method: Any, pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings converted with the types of ``method.options_type``'s fields."""
    fields = _option_types(method.options_type)
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--option expects KEY=VALUE, got {pair!r}")
        if key not in fields:
            raise UsageError(
                f"method {method.name!r} has no option {key!r}; its options are: {', '.join(fields) or '(none)'}"
            )
        if key in options:
            raise UsageError(f"option {key} is given twice")
        options[key] = _convert(key, text, *fields[key])
    return options


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
