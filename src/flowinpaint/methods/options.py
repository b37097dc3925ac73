"""Method options from text: ``KEY=VALUE`` strings typed by the method's options dataclass, and
method specs ``NAME:KEY=VALUE:KEY=VALUE`` (used by ``evaluate --methods``)."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Sequence
from typing import Any

from .registry import Method, get_method

__all__ = ["parse_method_spec", "parse_options"]

_NONE_WORDS = ("none", "null")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


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
        raise ValueError(f"option {key} expects true or false{suffix}, got {text!r}")
    if base is int:
        try:
            return int(word)
        except ValueError:
            raise ValueError(f"option {key} expects an integer{suffix}, got {text!r}") from None
    if base is float:
        try:
            value = float(word)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(f"option {key} expects a finite number{suffix}, got {text!r}")
        return value
    if base is str:
        return text
    raise ValueError(f"option {key} (type {getattr(base, '__name__', base)}) cannot be set from the command line")


def parse_options(method: Any, pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings converted with the types of ``method.options_type``'s fields."""
    fields = _option_types(method.options_type)
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--option expects KEY=VALUE, got {pair!r}")
        if key not in fields:
            raise ValueError(
                f"method {method.name!r} has no option {key!r}; its options are: {', '.join(fields) or '(none)'}"
            )
        if key in options:
            raise ValueError(f"option {key} is given twice")
        options[key] = _convert(key, text, *fields[key])
    return options


def parse_method_spec(spec: str) -> tuple[Method, dict[str, Any]]:
    """``"eed"`` or ``"neuroexplicit:model=runs/x.pt:compiled=false"`` -> the method and its options.

    Raises:
        ValueError: an unknown method or option, or a value of the wrong type.
    """
    name, *pairs = spec.strip().split(":")
    method = get_method(name.strip())
    return method, parse_options(method, pairs)
