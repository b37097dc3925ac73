"""Which pixels of a dense estimate to trust: the forward-backward consistency test.

A pixel's forward flow ``w_f(x)`` is consistent when the backward flow at its target brings it
back: ``|w_f(x) + w_b(x + w_f(x))|^2 <= alpha (|w_f(x)|^2 + |w_b(x + w_f(x))|^2) + beta``
(Sundaram, Brox and Keutzer, ECCV 2010: alpha = 0.01, beta = 0.5 px^2). The test fails at
occlusions (the target shows another surface), at mismatches and where the target leaves the
frame.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["FB_ALPHA", "FB_BETA", "check_tolerance", "consistency_ratio", "distance_to_reliable", "estimate_confidence",
           "without_margin"]

#: The test's tolerance ``alpha (|w_f|^2 + |w_b|^2) + beta`` (Sundaram et al. 2010), beta in px^2.
FB_ALPHA = 0.01
FB_BETA = 0.5


def check_tolerance(alpha: float, beta: float) -> None:
    """Raise ``ValueError`` unless ``alpha >= 0`` and ``beta > 0`` are real numbers."""
    real = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (alpha, beta))
    if not (real and alpha >= 0 and beta > 0):
        raise ValueError(f"alpha must be >= 0 and beta > 0, got {alpha!r} and {beta!r}")


def consistency_ratio(forward: np.ndarray, backward: np.ndarray, alpha: float = FB_ALPHA, beta: float = FB_BETA) -> np.ndarray:
    """The forward-backward error over its tolerance, per pixel: <= 1 passes the test.

    ``ratio = |w_f + w_b(x + w_f)|^2 / (alpha (|w_f|^2 + |w_b(x + w_f)|^2) + beta)``, with the
    backward flow sampled bilinearly at the forward target; ``inf`` where the target lies outside
    the frame.

    Shape:
        forward, backward ``(H, W, 2)`` float32 px -> ``(H, W)`` float32.

    Raises:
        ValueError: shapes differ or are not ``(H, W, 2)``, or ``alpha < 0`` or ``beta <= 0``.
    """
    if forward.shape != backward.shape or forward.ndim != 3 or forward.shape[2] != 2:
        raise ValueError(f"forward and backward must both be (H, W, 2), got {forward.shape} and {backward.shape}")
    check_tolerance(alpha, beta)
    height, width = forward.shape[:2]
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    target_x, target_y = cols + forward[..., 0], rows + forward[..., 1]
    returned = cv2.remap(backward.astype(np.float32), target_x, target_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    error = np.sum((forward + returned) ** 2, axis=-1)
    tolerance = alpha * (np.sum(forward**2, axis=-1) + np.sum(returned**2, axis=-1)) + beta
    ratio = (error / tolerance).astype(np.float32)
    outside = (target_x < 0) | (target_x > width - 1) | (target_y < 0) | (target_y > height - 1)
    ratio[outside] = np.inf
    return ratio


def distance_to_reliable(reliable: np.ndarray) -> np.ndarray:
    """Euclidean distance (px) from every pixel to the nearest reliable one (0 on them).

    Shape:
        reliable ``(H, W)`` bool -> ``(H, W)`` float32; ``inf`` everywhere if none is reliable.
    """
    if not reliable.any():
        return np.full(reliable.shape, np.inf, dtype=np.float32)
    return cv2.distanceTransform((~reliable).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def without_margin(reliable: np.ndarray, margin: int) -> np.ndarray:
    """The reliable pixels farther than ``margin`` px (in both axes: a square of side ``2 margin + 1``)
    from every unreliable one; ``reliable`` itself where that leaves none.

    The forward-backward test passes some of an estimate's errors at the edges of the regions it
    rejects: at a motion boundary, the motion a dense estimator smears across it is consistent
    both ways on one side of the occlusion. The image's border is no such edge and takes nothing
    off.

    Shape:
        reliable ``(H, W)`` bool -> ``(H, W)`` bool.
    """
    if margin == 0 or reliable.all():
        return reliable
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    kept = cv2.erode(reliable.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)
    return kept if kept.any() else reliable


def estimate_confidence(ratio: np.ndarray, reliable: np.ndarray, reach: float = 20.0) -> np.ndarray:
    """A per-pixel confidence in [0, 1] of the densified flow: high where it was measured and
    consistent, decaying with the distance (``exp(-d / reach)``) into the inpainted regions.

    ``confidence = exp(-ratio)`` on the reliable pixels (1 for a perfect round trip, ``e^-1``
    at the test's tolerance) and ``exp(-1 - d / reach)`` on the others, ``d`` the distance in px to
    the nearest reliable pixel. It ranks pixels by how much to trust them; it is not a calibrated
    probability.

    Shape:
        ratio ``(H, W)`` from :func:`consistency_ratio`, reliable ``(H, W)`` bool -> ``(H, W)`` float32.
    """
    distance = distance_to_reliable(reliable)
    inpainted = np.exp(-1.0 - distance / reach)
    with np.errstate(over="ignore"):
        measured = np.exp(-np.minimum(ratio, 1.0))
    return np.where(reliable, measured, inpainted).astype(np.float32)
