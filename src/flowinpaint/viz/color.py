"""Middlebury colour coding of optical flow (Baker et al. 2007/2011).

Hue encodes direction and saturation encodes magnitude relative to a normalisation radius:
zero flow is white, rightward red, downward yellow, leftward cyan/blue, upward violet.
The wheel and the mapping follow the Middlebury reference code and ``flow_vis`` exactly,
so images are comparable with figures from the literature.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["flow_to_color", "make_colorwheel"]

# (length, constant channel, ramped channel, ramp rises) for the segments
# RY, YG, GC, CB, BM, MR; channels are 0 = R, 1 = G, 2 = B.
_WHEEL_SEGMENTS: tuple[tuple[int, int, int, bool], ...] = (
    (15, 0, 1, True),
    (6, 1, 0, False),
    (4, 1, 2, True),
    (11, 2, 1, False),
    (13, 2, 0, True),
    (6, 0, 2, False),
)
# Flow components above this magnitude mark unknown flow (Middlebury UNKNOWN_FLOW_THRESH).
_UNKNOWN_FLOW_THRESH = 1e9
# Added to the data-derived normalisation radius, as in flow_vis.
_RADIUS_EPS = 1e-5
# Factor applied to the colour of flow beyond the normalisation radius.
_SATURATED_DARKENING = 0.75


def make_colorwheel() -> NDArray[np.uint8]:
    """Build the 55-colour Middlebury wheel.

    Six segments RY=15, YG=6, GC=4, CB=11, BM=13, MR=6 each hold one channel at 255 and
    ramp another with ``floor(255 * i / n)``, ``i = 0 .. n-1`` (rising) or
    ``255 - floor(255 * i / n)`` (falling). Row 0 is pure red.

    Returns:
        RGB colours in ``[0, 255]``.

    Shape:
        returns ``(55, 3)``.
    """
    segments = []
    for length, const_channel, ramp_channel, rising in _WHEEL_SEGMENTS:
        ramp = (255 * np.arange(length)) // length  # exact integer floor(255 * i / n)
        segment = np.zeros((length, 3), dtype=np.uint8)
        segment[:, const_channel] = 255
        segment[:, ramp_channel] = ramp if rising else 255 - ramp
        segments.append(segment)
    return np.concatenate(segments)


def flow_to_color(
    flow: Any, max_flow: float | None = None, valid: Any | None = None
) -> NDArray[np.uint8]:
    """Render a flow field as an RGB image with the Middlebury colour wheel.

    The flow is divided by a normalisation radius ``r``. With ``(u, v)`` normalised,
    ``rad = sqrt(u^2 + v^2)``, ``a = atan2(-v, -u) / pi``, ``fk = (a + 1) / 2 * 54``; the
    colour interpolates linearly between wheel rows ``floor(fk)`` and ``floor(fk) + 1``
    (mod 55). Then ``col = 1 - rad * (1 - col)`` if ``rad <= 1`` (so zero flow is white),
    else ``col *= 0.75``, and each channel is ``floor(255 * col)``. Computed in float64.

    Unknown pixels are black ``(0, 0, 0)``: non-finite flow, a component with magnitude
    above ``1e9`` (the Middlebury ``.flo`` unknown marker) or ``valid`` False.

    Args:
        flow: Flow ``(u, v)`` in pixels, numpy array or array-like.
        max_flow: Normalisation radius ``r`` in pixels, e.g. fixed across the frames of a
            video. Flow longer than it saturates (drawn darkened by 0.75, as the reference
            does). None uses the largest magnitude over the known pixels plus ``1e-5``.
        valid: True where the flow is known; None treats every finite pixel as known.

    Returns:
        RGB image.

    Shape:
        flow: ``(H, W, 2)``; valid: ``(H, W)`` bool; returns ``(H, W, 3)`` uint8.

    Raises:
        ValueError: If ``flow`` is not a real ``(H, W, 2)`` array, ``valid`` is not a bool
            ``(H, W)`` array, or ``max_flow`` is not a finite number > 0.
    """
    arr = np.asarray(flow)
    if arr.dtype.kind not in "fiu" or arr.ndim != 3 or arr.shape[2] != 2:
        raise ValueError(
            f"flow must be a real-valued array of shape (H, W, 2) with channels (u, v); "
            f"got dtype {arr.dtype} and shape {arr.shape}"
        )
    arr = arr.astype(np.float64, copy=False)
    known = np.all(np.abs(arr) <= _UNKNOWN_FLOW_THRESH, axis=-1)  # False for NaN too
    if valid is not None:
        mask = np.asarray(valid)
        if mask.dtype != np.bool_ or mask.shape != arr.shape[:2]:
            raise ValueError(
                f"valid must be a bool array of shape {arr.shape[:2]} (H, W of flow); got "
                f"dtype {mask.dtype} and shape {mask.shape}"
            )
        known &= mask

    if max_flow is None:
        magnitudes = np.sqrt(np.sum(arr[known] ** 2, axis=-1))
        radius = (float(magnitudes.max()) if magnitudes.size else 0.0) + _RADIUS_EPS
    else:
        if (
            isinstance(max_flow, bool)
            or not isinstance(max_flow, numbers.Real)
            or not np.isfinite(max_flow)
            or max_flow <= 0
        ):
            raise ValueError(f"max_flow must be a finite number > 0 (pixels); got {max_flow!r}")
        radius = float(max_flow)

    normalised = np.where(known[..., None], arr, 0.0) / radius
    u, v = normalised[..., 0], normalised[..., 1]
    rad = np.sqrt(u * u + v * v)[..., None]

    wheel = make_colorwheel() / 255.0
    n_colors = len(wheel)
    fk = (np.arctan2(-v, -u) / np.pi + 1.0) / 2.0 * (n_colors - 1)
    k0 = np.floor(fk).astype(np.intp)
    k1 = (k0 + 1) % n_colors
    f = (fk - k0)[..., None]
    col = (1.0 - f) * wheel[k0] + f * wheel[k1]
    col = np.where(rad <= 1.0, 1.0 - rad * (1.0 - col), col * _SATURATED_DARKENING)

    rgb = np.floor(255.0 * col).astype(np.uint8)
    rgb[~known] = 0
    return rgb
