"""Optical flow, image and mask files.

Flows are ``(flow, valid)`` pairs: flow ``(H, W, 2)`` float32 ``(u, v)`` in pixels (u to the
right along columns, v downward along rows), valid ``(H, W)`` bool; unknown pixels read as
flow ``0.0``. Images are ``(H, W, 3)`` uint8 RGB; masks are ``(H, W)`` bool, True = known.
Writers replace their target atomically. Readers raise :class:`FlowFormatError` (a
``ValueError``) naming the file and the reason for any missing, corrupt or mismatched file.
"""

from __future__ import annotations

from ..errors import FlowFormatError
from .flow import FLOW_EXTENSIONS, read_flow, write_flow
from .image import read_image, read_mask, write_image
from .pfm import read_pfm

__all__ = [
    "FLOW_EXTENSIONS",
    "FlowFormatError",
    "read_flow",
    "read_image",
    "read_mask",
    "read_pfm",
    "write_flow",
    "write_image",
]
