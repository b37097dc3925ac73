"""Initial dense estimates between two frames: OpenCV's DIS optical flow, both ways.

DIS (Kroeger et al., ECCV 2016) is the fast dense optical flow OpenCV ships; its presets trade
speed for accuracy. ``"fine"`` is OpenCV's ``medium`` preset run down to the full resolution
(finest scale 0 instead of 1: about 4x the work of ``medium``, still a fraction of DeepFlow's).
``"fine-smooth"`` is ``"fine"`` with the variational refinement DIS runs at every scale weighted
towards smoothness (``alpha`` 40 instead of 20, brightness constancy ``delta`` 1 instead of 5,
gradient constancy ``gamma`` 10 as before): on the real dev set it carries large motions through
the pyramid that ``"fine"`` loses (``benchmarks/densify_dis_weights.py``). :func:`dis_flow` runs a
preset on two grey frames, :func:`forward_backward` in both directions, which the reliability test
(:mod:`.reliability`) compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["DIS_PRESETS", "DisPreset", "dis_flow", "forward_backward", "resolve_preset", "to_grey", "to_uint8"]


@dataclass(frozen=True)
class DisPreset:
    """One DIS configuration: an OpenCV preset and what is changed on top of it.

    Attributes:
        opencv_preset: ``cv2.DISOPTICAL_FLOW_PRESET_*``.
        finest_scale: the finest pyramid level DIS computes (0 = full resolution), or None for
            the preset's.
        refinement_weights: ``(alpha, delta, gamma)`` of the variational refinement DIS runs at
            every scale (smoothness, brightness constancy, gradient constancy), or None for
            OpenCV's ``(20, 5, 10)``.
    """

    opencv_preset: int
    finest_scale: int | None = None
    refinement_weights: tuple[float, float, float] | None = None

    def create(self) -> cv2.DISOpticalFlow:
        """A configured ``cv2.DISOpticalFlow``."""
        solver = cv2.DISOpticalFlow_create(self.opencv_preset)
        if self.finest_scale is not None:
            solver.setFinestScale(self.finest_scale)
        if self.refinement_weights is not None:
            alpha, delta, gamma = self.refinement_weights
            solver.setVariationalRefinementAlpha(alpha)
            solver.setVariationalRefinementDelta(delta)
            solver.setVariationalRefinementGamma(gamma)
        return solver


#: DIS presets by name, fastest first.
DIS_PRESETS = {
    "ultrafast": DisPreset(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST),
    "fast": DisPreset(cv2.DISOPTICAL_FLOW_PRESET_FAST),
    "medium": DisPreset(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM),
    "fine": DisPreset(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, finest_scale=0),
    "fine-smooth": DisPreset(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, finest_scale=0, refinement_weights=(40.0, 1.0, 10.0)),
}


def resolve_preset(preset: str | DisPreset) -> DisPreset:
    """``preset`` itself, or the :data:`DIS_PRESETS` entry of that name.

    Raises:
        ValueError: an unknown name, or neither a name nor a :class:`DisPreset`.
    """
    if isinstance(preset, DisPreset):
        return preset
    if not isinstance(preset, str) or preset not in DIS_PRESETS:
        raise ValueError(f"preset must be one of {', '.join(DIS_PRESETS)} or a DisPreset, got {preset!r}")
    return DIS_PRESETS[preset]


def to_grey(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` float32 RGB image in [0, 1] as the ``(H, W)`` uint8 grey frame DIS reads."""
    return cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2GRAY)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` float RGB image in [0, 1] as uint8."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def dis_flow(grey1: np.ndarray, grey2: np.ndarray, preset: str | DisPreset = "medium") -> np.ndarray:
    """DIS flow from ``grey1`` to ``grey2`` with ``preset`` (a name of :data:`DIS_PRESETS` or a
    :class:`DisPreset`).

    Shape:
        grey1, grey2 ``(H, W)`` uint8 -> ``(H, W, 2)`` float32 ``(u, v)`` px.

    Raises:
        ValueError: unknown ``preset``.
    """
    return resolve_preset(preset).create().calc(grey1, grey2, None).astype(np.float32, copy=False)


def forward_backward(grey1: np.ndarray, grey2: np.ndarray,
                     preset: str | DisPreset = "medium") -> tuple[np.ndarray, np.ndarray]:
    """DIS flows ``grey1 -> grey2`` and ``grey2 -> grey1`` (each ``(H, W, 2)`` float32 px)."""
    return dis_flow(grey1, grey2, preset), dis_flow(grey2, grey1, preset)
