"""Shared ``to_dict`` / ``from_dict`` of the frozen model config dataclasses (JSON-compatible)."""

from __future__ import annotations

import dataclasses
from typing import Any, Self

__all__ = ["ConfigDict"]


class ConfigDict:
    """Mixin for frozen dataclasses: tuples become lists in :meth:`to_dict`; unknown keys are errors."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict of the fields."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(self).items()}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> Self:
        """The inverse of :meth:`to_dict`; unknown keys are a ``ValueError``."""
        unknown = set(fields) - {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**fields)
