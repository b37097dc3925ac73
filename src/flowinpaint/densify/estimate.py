"""Initial dense estimates between two frames: OpenCV's DIS optical flow, both ways.

DIS (Kroeger et al., ECCV 2016) is the fast dense optical flow OpenCV ships; its presets trade
speed for accuracy. ``"fine"`` is OpenCV's ``medium`` preset run down to the full resolution
(finest scale 0 instead of 1: about 4x the work of ``medium``, still a fraction of DeepFlow's). :func:`dis_flow` runs it on two grey frames, :func:`forward_backward` in
both directions, which the reliability test (:mod:`.reliability`) compares.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["DIS_PRESETS", "dis_flow", "forward_backward", "to_grey", "to_uint8"]

#: DIS presets by name: ``(OpenCV preset, finest scale or None for the preset's)``, fastest first.
DIS_PRESETS = {
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, None),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, None),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None),
    "fine": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, 0),
}


def to_grey(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` float32 RGB image in [0, 1] as the ``(H, W)`` uint8 grey frame DIS reads."""
    return cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2GRAY)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` float RGB image in [0, 1] as uint8."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def dis_flow(grey1: np.ndarray, grey2: np.ndarray, preset: str = "medium") -> np.ndarray:
    """DIS flow from ``grey1`` to ``grey2``.

    Shape:
        grey1, grey2 ``(H, W)`` uint8 -> ``(H, W, 2)`` float32 ``(u, v)`` px.

    Raises:
        ValueError: unknown ``preset``.
    """
    if preset not in DIS_PRESETS:
        raise ValueError(f"preset must be one of {', '.join(DIS_PRESETS)}, got {preset!r}")
    opencv_preset, finest_scale = DIS_PRESETS[preset]
    solver = cv2.DISOpticalFlow_create(opencv_preset)
    if finest_scale is not None:
        solver.setFinestScale(finest_scale)
    return solver.calc(grey1, grey2, None).astype(np.float32, copy=False)


def forward_backward(grey1: np.ndarray, grey2: np.ndarray, preset: str = "medium") -> tuple[np.ndarray, np.ndarray]:
    """DIS flows ``grey1 -> grey2`` and ``grey2 -> grey1`` (each ``(H, W, 2)`` float32 px)."""
    return dis_flow(grey1, grey2, preset), dis_flow(grey2, grey1, preset)
