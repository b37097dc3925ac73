"""Exceptions raised by flowinpaint."""

from __future__ import annotations

__all__ = ["FlowFormatError"]


class FlowFormatError(ValueError):
    """A flow, image or mask file is missing, corrupt or not in the format its extension names.

    The message always names the file and the reason.
    """
