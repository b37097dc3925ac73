"""``epic``: OpenCV's ``EdgeAwareInterpolator`` (EPIC, from EpicFlow; Revaud et al. 2015), a peer.

Each known pixel becomes a match from its centre ``(x, y)`` to ``(x + u, y + v)``; EPIC fits a
locally weighted affine model per match over its ``k`` nearest matches in edge-aware geodesic
distance (cost ``(1000 - lambda) + lambda |grad I|`` on the guide), assigns every pixel the model
of its geodesically nearest match, and smooths the result with the fast global smoother (FGS).

Guards around OpenCV's sharp edges (opencv-contrib 5.0.0, measured):

* ``k`` above the match count reads past its neighbour lists (segfault, NaN or garbage;
  opencv_contrib#4195): ``k`` is clamped to the match count.
* Fewer than 3 matches: 1 match crashes, 2 give a zero field, so ``ValueError``. ``k < 3`` is
  rejected for the same reason (the RANSAC step samples three of the ``k`` neighbours).
* More than 32,766 matches fail OpenCV's ``match_num < SHRT_MAX`` assertion
  (opencv_contrib#3438): a deterministic, spatially uniform subset of 32,766 is kept (the
  matches sorted along the Morton Z-order curve, then taken at evenly spaced ranks).
* Where all ``k`` neighbours of a match carry the same flow, EPIC's inlier threshold (half the mean
  deviation from their mean flow) is 0, no match is an inlier and the local model falls back to the
  identity: exactly zero flow there. A two-region piecewise-constant flow at 10 % density came out
  42 % zero (EPE 0.97 px; 0.38 px with the fix below). Handling:

  - all known flows equal within 1e-6 px: that constant is returned everywhere;
  - otherwise, when EPIC's raw output has exactly-zero pixels, EPIC is rerun on matches tilted by
    the affine field ``1e-3 (p - c)`` (``c`` the image centre), which its affine models represent
    exactly, and the tilt is subtracted again. The stock result is kept when it has no zero pixel:
    the tilt also shifts the inlier threshold, which changes results slightly (EPE 1.050 ->
    1.069 px at 1 % on a 96x128 synthetic example);
  - zero pixels in the tilted run too (no affine model can be fitted, e.g. collinear matches):
    ``RuntimeError``, or with ``fill_unfitted=True`` those pixels are filled by harmonic
    (Laplace) interpolation from the fitted ones (``densify`` does this: a few thousand unfitted
    pixels of a Sintel frame must not stop a run over a folder).

EPIC runs with its own post-processing off and the same ``fastGlobalSmootherFilter`` (same guide,
lambda and sigma) is applied here, which is bit-identical to OpenCV's (measured), so that the raw
output can be inspected. OpenCV's EPIC is deterministic (fixed RNG seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

from .. import laplace
from ..registry import Method, Problem, opencv_contrib_missing, register
from ._common import (
    MIN_MATCHES,
    check_bool,
    check_int,
    check_positive,
    check_range,
    dense_tensor,
    guide_bgr,
    interpolate_matches,
    known_matches,
    require_matches,
)

__all__ = ["MAX_MATCHES", "EpicOptions", "uniform_subset"]

MAX_MATCHES = 32_766  # OpenCV asserts match_num < SHRT_MAX (32,767)
CONSTANT_TOL = 1e-6  # px: known flows this close to each other are treated as one constant
TILT = 1e-3  # px per px: slope of the affine tilt that lifts EPIC's zero inlier threshold


@dataclass(frozen=True)
class EpicOptions:
    """Options of ``epic``: OpenCV's defaults (no setting measured better on our synthetic data).

    Attributes:
        k: nearest matches (in geodesic distance) per local affine fit, >= 3; clamped to the
            number of known pixels.
        sigma: weight decay: a neighbour at geodesic distance ``d`` weighs ``exp(-sigma^2 d)``.
        lambda_: edge weight of the geodesic cost ``(1000 - lambda_) + lambda_ |grad I|``, in
            [0, 1000]; 0 ignores the image (OpenCV's ``setLambda``).
        use_post_processing: smooth the result with the fast global smoother (FGS).
        fgs_lambda: FGS smoothness weight.
        fgs_sigma: FGS colour scale, grey levels (0..255).
        max_matches: at most this many known pixels, spread evenly over the image, are passed
            to EPIC (its time grows with them; OpenCV takes at most 32,766); the output keeps
            every known value all the same.
        fill_unfitted: where EPIC can fit no affine model (exactly zero output even with the
            tilted matches), fill by Laplace interpolation from the fitted pixels instead of
            raising ``RuntimeError``.
    """

    k: int = 128
    sigma: float = 0.05
    lambda_: float = 999.0
    use_post_processing: bool = True
    fgs_lambda: float = 500.0
    fgs_sigma: float = 1.5
    max_matches: int = MAX_MATCHES
    fill_unfitted: bool = False

    def __post_init__(self) -> None:
        check_int(self.k, "k", MIN_MATCHES)
        check_int(self.max_matches, "max_matches", MIN_MATCHES)
        if self.max_matches > MAX_MATCHES:
            raise ValueError(f"max_matches must be at most {MAX_MATCHES} (OpenCV's limit), got {self.max_matches}")
        check_positive(self.sigma, "sigma")
        check_range(self.lambda_, "lambda_", 0.0, 1000.0)
        check_bool(self.use_post_processing, "use_post_processing")
        check_positive(self.fgs_lambda, "fgs_lambda")
        check_positive(self.fgs_sigma, "fgs_sigma")
        check_bool(self.fill_unfitted, "fill_unfitted")


def _interleave_zeros(values: np.ndarray) -> np.ndarray:
    """Spread the bits of 32-bit integers to the even bit positions of uint64 (Morton codes)."""
    spread = values.astype(np.uint64)
    for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF), (4, 0x0F0F0F0F0F0F0F0F),
                        (2, 0x3333333333333333), (1, 0x5555555555555555)):
        spread = (spread | (spread << np.uint64(shift))) & np.uint64(mask)
    return spread


def uniform_subset(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` of ``points``, deterministic and spread evenly over the image.

    The points are ordered along the Morton (Z-order) curve, which keeps nearby points at nearby
    ranks, and taken at ``count`` evenly spaced ranks.

    Shape:
        points: ``(N, 2)`` non-negative integer-valued ``(x, y)``; returns ``(min(N, count),)``
        sorted int64 indices.
    """
    if count >= len(points):
        return np.arange(len(points))
    coords = points.astype(np.int64)
    order = np.argsort(_interleave_zeros(coords[:, 0]) | (_interleave_zeros(coords[:, 1]) << np.uint64(1)), kind="stable")
    return np.sort(order[(np.arange(count) * len(points)) // count])


def _raw_epic(guide: np.ndarray, points: np.ndarray, flows: np.ndarray, options: EpicOptions) -> np.ndarray:
    """EPIC's piecewise-affine field before post-processing, ``(H, W, 2)`` float32 px."""
    interpolator = cv2.ximgproc.createEdgeAwareInterpolator()
    interpolator.setK(min(options.k, len(points)))
    interpolator.setSigma(options.sigma)
    interpolator.setLambda(options.lambda_)
    interpolator.setUsePostProcessing(False)
    return interpolate_matches(interpolator, guide, points, flows, "epic")


def _zero_pixels(field: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: the pixels of an ``(H, W, 2)`` field that are exactly ``(0, 0)``."""
    return np.all(field == 0.0, axis=-1)


def _laplace_filled(field: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """``field`` ``(H, W, 2)`` with the ``holes`` ``(H, W)`` filled by harmonic interpolation
    from the other pixels (the ``laplace`` method's solver)."""
    flow = torch.from_numpy(np.ascontiguousarray(field.transpose(2, 0, 1)))[None]
    known = torch.from_numpy(~holes)[None, None]
    filled = laplace.run(Problem(flow.masked_fill(~known, 0.0), known, None), laplace.LaplaceOptions())
    return filled[0].permute(1, 2, 0).numpy()


def _tilted_epic(guide: np.ndarray, points: np.ndarray, flows: np.ndarray, options: EpicOptions) -> np.ndarray:
    """EPIC on matches tilted by ``TILT (p - c)``, with the tilt subtracted again (``(H, W, 2)``)."""
    height, width = guide.shape[:2]
    centre = np.array([(width - 1) / 2, (height - 1) / 2], dtype=np.float32)
    raw = _raw_epic(guide, points, flows + TILT * (points - centre), options)
    unfitted = _zero_pixels(raw)
    if unfitted.any() and not options.fill_unfitted:
        raise RuntimeError(
            "epic: OpenCV EPIC could not fit an affine model for part of the image "
            "(degenerate matches, e.g. all on one line); fill_unfitted=True fills that part by Laplace interpolation"
        )
    rows, cols = np.mgrid[:height, :width].astype(np.float32)
    untilted = raw - TILT * (np.stack([cols, rows], axis=-1) - centre)
    if unfitted.all():
        raise RuntimeError("epic: OpenCV EPIC could not fit an affine model anywhere (degenerate matches)")
    return _laplace_filled(untilted, unfitted) if unfitted.any() else untilted


def run(problem: Problem, options: EpicOptions) -> Tensor:
    points, flows = known_matches(problem)
    require_matches(len(points), MIN_MATCHES, "epic")
    height, width = problem.flow.shape[-2:]
    if np.ptp(flows, axis=0).max() <= CONSTANT_TOL:
        constant = torch.from_numpy(flows.mean(axis=0, dtype=np.float64).astype(np.float32))
        return constant.view(1, 2, 1, 1).expand(1, 2, height, width).contiguous()
    keep = uniform_subset(points, options.max_matches)
    points, flows = points[keep], flows[keep]
    guide = guide_bgr(problem, "epic")
    dense = _raw_epic(guide, points, flows, options)
    if _zero_pixels(dense).any():
        dense = _tilted_epic(guide, points, flows, options)
    if options.use_post_processing:
        dense = cv2.ximgproc.fastGlobalSmootherFilter(guide, dense, options.fgs_lambda, options.fgs_sigma)
    return dense_tensor(dense, flows, "epic")


register(Method("epic", "OpenCV EPIC (EpicFlow's edge-aware interpolator); peer", EpicOptions, run, needs_image=True,
                unavailable=opencv_contrib_missing))
