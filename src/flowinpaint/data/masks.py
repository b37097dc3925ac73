"""Sampling masks of known pixels, and sparse flows that look like real sparse data.

Every mask sampler returns an ``(H, W)`` bool mask (True = known) restricted to the valid
pixels and fully determined by its ``seed``:

* :func:`uniform_mask`: uniformly at random;
* :func:`clustered_mask`: around random cluster centres, like keypoints on textured regions;
* :func:`edge_mask`: biased towards image edges, like matches found at corners and edges;
* :func:`grid_mask`: a regular grid with failed points dropped, like sparse-to-dense grids;
* :func:`~flowinpaint.data.sensor_masks.scanline_mask` and
  :func:`~flowinpaint.data.sensor_masks.block_mask`: LiDAR scanlines and codec blocks.

:func:`match_mask` builds a sparse flow from real feature matches instead (its values carry the
matcher's errors), and :func:`make_sparse` gives any of these by name for a dataset sample, with
wrong values mixed in on request (:mod:`flowinpaint.data.outliers`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import cv2
import numpy as np

from ..densify.reliability import without_margin
from ..methods.sparse import SparseFlow, points_to_sparse
from ._sampling import (
    check_image,
    check_valid,
    draw_setup,
    mask_of,
    number,
    positive_int_or_none,
    weighted_draw,
)
from .outliers import inject_outliers, wrong_values
from .sensor_masks import block_mask, scanline_mask

__all__ = [
    "MASK_SAMPLERS",
    "OCCLUSION_MARGIN",
    "SPARSE_KINDS",
    "SparseSample",
    "clustered_mask",
    "edge_mask",
    "grid_mask",
    "known_wrong",
    "make_sparse",
    "match_mask",
    "occlusion_mask",
    "sample_density",
    "uniform_mask",
]

#: px (each axis) that the ``"occlusions"`` kind takes off around the occluded pixels, as ``densify``'s margin
OCCLUSION_MARGIN = 2
_CLUSTER_COVERAGE = 0.25  # default: the clusters together cover about this fraction of the valid area
_EDGE_EPSILON = 0.01  # gradient floor of edge_mask, grey levels in [0, 1] per pixel
_EDGE_SMOOTHING = 1.0  # standard deviation (pixels) of the blur applied to the gradient magnitude
_LOG_FLOOR = -30.0  # log-weight (relative to the peak) of pixels far from every cluster
_ORB_FEATURES = 5000  # keypoints ORB keeps per frame (OpenCV's default, 500, is too sparse)
_DETECTORS: dict[str, tuple[Callable[[], Any], int]] = {
    "sift": (cv2.SIFT_create, cv2.NORM_L2),
    "orb": (lambda: cv2.ORB_create(nfeatures=_ORB_FEATURES), cv2.NORM_HAMMING),
}


# --- mask samplers ------------------------------------------------------------------------------


def occlusion_mask(valid: Any, occlusion: Any, margin: int = OCCLUSION_MARGIN) -> np.ndarray:
    """A flow with holes, as a forward-backward check leaves an estimator's flow (without its
    errors): the valid pixels that are not occluded and lie farther than ``margin`` px (each axis)
    from an occluded or invalid one; the frame's border takes nothing off
    (:func:`flowinpaint.densify.reliability.without_margin`).

    Shape:
        valid ``(H, W)`` bool, occlusion ``(H, W)`` bool (True = occluded) -> ``(H, W)`` bool.
    """
    valid = check_valid(valid)
    occlusion = np.asarray(occlusion)
    if occlusion.shape != valid.shape or occlusion.dtype != np.bool_:
        raise ValueError(f"occlusion must be an {valid.shape} bool array like valid, got shape {occlusion.shape} "
                         f"and dtype {occlusion.dtype}")
    visible = valid & ~occlusion
    if not visible.any():
        raise ValueError("every valid pixel is occluded: no known pixel is left")
    return without_margin(visible, margin)


def uniform_mask(valid: Any, density: float, seed: int | None = 0) -> np.ndarray:
    """Known pixels drawn uniformly at random, without replacement, from the valid pixels.

    Args:
        valid: ``(H, W)`` bool, True where a pixel may be drawn (e.g. where the ground truth is known).
        density: fraction of the valid pixels to draw, in (0, 1).
        seed: seed of ``np.random.default_rng``; the same seed gives the same mask.

    Returns:
        ``(H, W)`` bool with exactly ``max(1, round(density * n_valid))`` True pixels, all valid.

    Raises:
        ValueError: ``density`` outside (0, 1), ``valid`` not a 2-D bool array, or no valid pixel.
    """
    valid, candidates, count = draw_setup(valid, density)
    chosen = np.random.default_rng(seed).choice(candidates, size=count, replace=False)
    return mask_of(chosen, valid.shape)


def _cluster_defaults(n_valid: int, count: int, n_clusters: int | None, spread: float | None) -> tuple[int, float]:
    """Checked ``(n_clusters, spread)``, defaults filled in.

    Defaults: ``round(sqrt(count))`` clusters (as many clusters as points per cluster), and a
    spread (pixels) such that the clusters' areas ``2 pi spread^2`` add up to about a quarter of
    the valid area, so the known pixels are about four times denser inside clusters than on average.
    """
    n_clusters = positive_int_or_none(n_clusters, "n_clusters")
    n_clusters = min(max(1, round(math.sqrt(count))) if n_clusters is None else n_clusters, n_valid)
    if spread is None:
        spread = max(1.0, math.sqrt(_CLUSTER_COVERAGE * n_valid / (2.0 * math.pi * n_clusters)))
    return n_clusters, number(spread, "spread", 0.0, math.inf)


def clustered_mask(
    valid: Any, density: float, seed: int | None = 0, n_clusters: int | None = None, spread: float | None = None
) -> np.ndarray:
    """Known pixels clustered around random centres, like keypoints concentrated on textured regions.

    ``n_clusters`` centres are drawn uniformly from the valid pixels; the known pixels are then
    drawn without replacement from the valid pixels with probability proportional to the mixture
    of isotropic Gaussians (standard deviation ``spread``) around the centres. Once the clusters
    are exhausted the draw spills over uniformly to the remaining valid pixels, so the count is
    always exact.

    Args:
        valid: ``(H, W)`` bool, True where a pixel may be drawn.
        density: fraction of the valid pixels to draw, in (0, 1).
        seed: seed of ``np.random.default_rng``; the same seed gives the same mask.
        n_clusters: number of centres (at most ``n_valid``); default ``round(sqrt(count))``.
        spread: Gaussian standard deviation of a cluster, pixels, > 0; default such that the
            clusters (``2 pi spread^2`` each) cover about a quarter of the valid area.

    Returns:
        ``(H, W)`` bool with exactly ``max(1, round(density * n_valid))`` True pixels, all valid.

    Raises:
        ValueError: a bad ``valid``, ``density``, ``n_clusters`` or ``spread``.
    """
    valid, candidates, count = draw_setup(valid, density)
    n_clusters, spread = _cluster_defaults(candidates.size, count, n_clusters, spread)
    rng = np.random.default_rng(seed)
    centres = rng.choice(candidates, size=n_clusters, replace=False)
    mixture = cv2.GaussianBlur(
        mask_of(centres, valid.shape).astype(np.float64), (0, 0), spread, borderType=cv2.BORDER_CONSTANT
    )
    weights = mixture.ravel()[candidates]
    log_weights = np.log(np.maximum(weights / weights.max(), math.exp(_LOG_FLOOR)))
    return mask_of(candidates[weighted_draw(log_weights, count, rng)], valid.shape)


def _gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """Lightly smoothed gradient magnitude of the grey image.

    Shape:
        image ``(H, W, 3)`` uint8 RGB -> ``(H, W)`` float32, grey levels in [0, 1] per pixel
        (Sobel scaled to a central difference, blurred with a Gaussian of ``_EDGE_SMOOTHING`` px).
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    return cv2.GaussianBlur(cv2.magnitude(gx, gy), (0, 0), _EDGE_SMOOTHING)


def edge_mask(image: Any, valid: Any, density: float, seed: int | None = 0, bias: float = 1.0) -> np.ndarray:
    """Known pixels biased towards image edges, like matches found at corners and edges.

    Pixels are drawn without replacement from the valid pixels with probability proportional to
    ``(epsilon + |grad I|) ** bias``, with ``|grad I|`` the lightly smoothed Sobel gradient
    magnitude of the grey image (grey levels in [0, 1] per pixel) and ``epsilon = 0.01``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB reference image.
        valid: ``(H, W)`` bool, True where a pixel may be drawn.
        density: fraction of the valid pixels to draw, in (0, 1).
        seed: seed of ``np.random.default_rng``; the same seed gives the same mask.
        bias: exponent >= 0; 0 gives uniform sampling, larger values concentrate on edges.

    Returns:
        ``(H, W)`` bool with exactly ``max(1, round(density * n_valid))`` True pixels, all valid.

    Raises:
        ValueError: a bad ``image``, ``valid``, ``density`` or ``bias``.
    """
    valid, candidates, count = draw_setup(valid, density)
    image = check_image(image, "image", valid.shape)
    bias = number(bias, "bias", 0.0, math.inf, low_closed=True)
    magnitude = _gradient_magnitude(image).ravel()[candidates].astype(np.float64)
    log_weights = bias * np.log(_EDGE_EPSILON + magnitude)
    return mask_of(candidates[weighted_draw(log_weights, count, np.random.default_rng(seed))], valid.shape)


def _lattice(length: int, step: float) -> np.ndarray:
    """Continuous coordinates ``(i + 0.5) * step`` of the grid nodes inside ``[0, length)``.

    Shape:
        ``(n,)`` float64 pixels, ``n = ceil(length / step - 0.5)``; pixel ``k`` spans ``[k, k + 1)``.
    """
    return (np.arange(math.ceil(length / step - 0.5)) + 0.5) * step


def grid_mask(
    valid: Any, density: float, seed: int | None = 0, dropout: float = 0.3, jitter: float = 0.25
) -> np.ndarray:
    """A regular grid of known pixels with random dropout and jitter, like a sparse-to-dense grid
    with failed matches.

    The grid step is ``1 / sqrt(density)`` pixels, so the grid has the target density before
    dropout. Each node sits at the centre of its ``step x step`` cell, is moved by a uniform
    offset of up to ``jitter * step`` pixels along each axis (so it stays within its cell), and
    is then dropped with probability ``dropout``.

    The count is approximate: it is the number of surviving nodes on valid pixels, on average
    ``(1 - dropout) * density * n_valid`` (up to the lattice's alignment with the valid region),
    binomially spread by the dropout. When the step is not an integer, two jittered nodes of
    neighbouring cells may share a pixel, which then counts once.

    Args:
        valid: ``(H, W)`` bool, True where a pixel may be known.
        density: grid density before dropout, in (0, 1).
        seed: seed of ``np.random.default_rng``; the same seed gives the same mask.
        dropout: probability that a grid node fails, in [0, 1).
        jitter: largest offset of a node along each axis, as a fraction of the step, in [0, 0.5).

    Returns:
        ``(H, W)`` bool with at least one True pixel, all valid.

    Raises:
        ValueError: a bad ``valid``, ``density``, ``dropout`` or ``jitter``, or no grid node
            survived on a valid pixel.
    """
    valid = check_valid(valid)
    step = 1.0 / math.sqrt(number(density, "density", 0.0, 1.0))
    dropout = number(dropout, "dropout", 0.0, 1.0, low_closed=True)
    jitter = number(jitter, "jitter", 0.0, 0.5, low_closed=True)
    rows, cols = np.meshgrid(_lattice(valid.shape[0], step), _lattice(valid.shape[1], step), indexing="ij")
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(-jitter * step, jitter * step, size=(2, *rows.shape))
    rows = np.clip(np.floor(rows + offsets[0]).astype(np.int64), 0, valid.shape[0] - 1)
    cols = np.clip(np.floor(cols + offsets[1]).astype(np.int64), 0, valid.shape[1] - 1)
    survive = (rng.random(rows.shape) >= dropout) & valid[rows, cols]
    if not survive.any():
        raise ValueError(
            f"grid_mask: no grid node survived on a valid pixel (step {step:.3g} px, dropout {dropout:g}); "
            "raise density or lower dropout"
        )
    return mask_of(rows[survive] * valid.shape[1] + cols[survive], valid.shape)


# --- sparse flow from feature matches ------------------------------------------------------------


def _features(image: np.ndarray, name: str, detector: Any) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint positions and descriptors of ``image`` (grey).

    Shape:
        returns points ``(N, 2)`` float64 (x, y) pixels and descriptors ``(N, D)``.

    Raises:
        ValueError: fewer than 2 keypoints (the ratio test needs two neighbours).
    """
    keypoints, descriptors = detector.detectAndCompute(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), None)
    if descriptors is None or len(keypoints) < 2:
        raise ValueError(f"match_mask: fewer than 2 keypoints found in {name}; is it textured?")
    return np.array([keypoint.pt for keypoint in keypoints], dtype=np.float64), descriptors


def _ratio_matches(query: np.ndarray, train: np.ndarray, norm: int, ratio: float) -> np.ndarray:
    """Nearest ``train`` descriptor of every ``query`` descriptor that passes Lowe's ratio test.

    Shape:
        returns ``(N_query,)`` int64: index into ``train``, or -1 where the test failed.
    """
    best = np.full(len(query), -1, dtype=np.int64)
    for pair in cv2.BFMatcher(norm).knnMatch(query, train, k=2):
        if len(pair) == 2 and pair[0].distance < ratio * pair[1].distance:
            best[pair[0].queryIdx] = pair[0].trainIdx
    return best


def match_mask(
    image1: Any,
    image2: Any,
    detector: str = "sift",
    seed: int | None = 0,
    ratio: float = 0.8,
    fb_threshold: float = 1.0,
    max_matches: int | None = None,
) -> SparseFlow:
    """Sparse flow from real feature matches between two frames.

    Keypoints are detected and described on both grey frames (OpenCV SIFT or ORB), matched by
    exact brute-force 2-nearest-neighbour search in both directions with Lowe's ratio test, and a
    forward match ``p1 -> p2`` is kept when the backward match of ``p2`` lands within
    ``fb_threshold`` px of ``p1`` (forward-backward consistency). The kept matches go through
    :func:`flowinpaint.points_to_sparse`, so the flow values carry the matcher's own errors
    (localisation noise, occasional outliers); they are not replaced by any ground truth. The
    density is whatever the matcher finds on the images. Detection and matching are deterministic
    for fixed input; ``seed`` only chooses the subset when ``max_matches`` caps the matches.

    Args:
        image1: ``(H, W, 3)`` uint8 RGB frame 1 (where the flow lives).
        image2: ``(H, W, 3)`` uint8 RGB frame 2.
        detector: ``"sift"`` or ``"orb"``.
        seed: seed of ``np.random.default_rng`` for the ``max_matches`` subset.
        ratio: Lowe's ratio, in (0, 1]; a match is kept when its distance is below ``ratio``
            times the second-nearest one.
        fb_threshold: largest forward-backward distance, pixels, >= 0.
        max_matches: keep at most this many matches, drawn at random; None keeps all.

    Returns:
        A :class:`~flowinpaint.SparseFlow` ``(flow, mask, rejected)``: flow ``(H, W, 2)`` float32
        pixels (0 at unknown pixels), mask ``(H, W)`` bool, rejected matches (start outside the image).

    Raises:
        ValueError: a bad argument, or no match survived.
    """
    image1 = check_image(image1, "image1")
    image2 = check_image(image2, "image2", image1.shape[:2])
    if detector not in _DETECTORS:
        raise ValueError(f"detector must be one of {sorted(_DETECTORS)}, got {detector!r}")
    ratio = number(ratio, "ratio", 0.0, 1.0, high_closed=True)
    fb_threshold = number(fb_threshold, "fb_threshold", 0.0, math.inf, low_closed=True)
    max_matches = positive_int_or_none(max_matches, "max_matches")
    create, norm = _DETECTORS[detector]
    extractor = create()
    (points1, descriptors1), (points2, descriptors2) = (
        _features(image, name, extractor) for image, name in ((image1, "image1"), (image2, "image2"))
    )
    forward = _ratio_matches(descriptors1, descriptors2, norm, ratio)
    backward = _ratio_matches(descriptors2, descriptors1, norm, ratio)
    start = np.flatnonzero(forward >= 0)
    returned = backward[forward[start]]
    consistent = returned >= 0
    start, returned = start[consistent], returned[consistent]
    start = start[np.linalg.norm(points1[returned] - points1[start], axis=1) <= fb_threshold]
    if start.size == 0:
        raise ValueError(
            f"match_mask: no {detector} match passed the ratio ({ratio:g}) and forward-backward "
            f"({fb_threshold:g} px) tests; are the frames textured and overlapping?"
        )
    if max_matches is not None and start.size > max_matches:
        start = np.sort(np.random.default_rng(seed).choice(start, size=max_matches, replace=False))
    return points_to_sparse(points1[start], points2[forward[start]], image1.shape[:2])


def track_mask(
    image1: Any,
    image2: Any,
    max_corners: int = 2000,
    quality: float = 0.01,
    min_distance: float = 5.0,
    window: int = 21,
    levels: int = 3,
    fb_threshold: float | None = None,
) -> SparseFlow:
    """Sparse flow from tracked corners: Shi-Tomasi corners of frame 1 followed into frame 2 by
    OpenCV's pyramidal Lucas-Kanade tracker, as most users track points (the README's example,
    with ``fb_threshold=1.0``).

    Every corner the tracker reports found (its status 1) is kept, and with ``fb_threshold`` only
    those that, tracked back from frame 2, land within that many pixels of where they started (the
    forward-backward check, Kalal et al. 2010). The values carry the tracker's own errors, which
    differ from a descriptor matcher's: accurate to a fraction of a pixel where it holds, and where
    it fails (motion beyond its pyramid's reach, occlusions, repeated texture) often wrong in the
    same way as its neighbours; the check drops part of them (on Middlebury's 8 pairs from 6.1 % to
    4.8 % of the values more than 3 px off, at 1 px; ``benchmarks/matchers.py``). The density is
    whatever the detector finds (at most ``max_corners``).

    Args:
        image1: ``(H, W, 3)`` uint8 RGB frame 1 (where the flow lives).
        image2: ``(H, W, 3)`` uint8 RGB frame 2.
        max_corners: most corners detected (``cv2.goodFeaturesToTrack``'s ``maxCorners``), >= 1.
        quality: the weakest corner kept, relative to the strongest, in (0, 1).
        min_distance: least distance between two corners, pixels, >= 0.
        window: the tracker's window side, pixels, an odd integer >= 3.
        levels: the tracker's pyramid levels above the full resolution, >= 0.
        fb_threshold: largest forward-backward distance, pixels, > 0; None: no check.

    Returns:
        A :class:`~flowinpaint.SparseFlow` ``(flow, mask, rejected)`` (see :func:`match_mask`).

    Raises:
        ValueError: a bad argument, or no corner was found and tracked.
    """
    image1 = check_image(image1, "image1")
    image2 = check_image(image2, "image2", image1.shape[:2])
    max_corners = positive_int_or_none(max_corners, "max_corners")
    if max_corners is None:
        raise ValueError("max_corners must be a positive integer, got None")
    quality = number(quality, "quality", 0.0, 1.0)
    min_distance = number(min_distance, "min_distance", 0.0, math.inf, low_closed=True)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd integer >= 3, got {window!r}")
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 0:
        raise ValueError(f"levels must be an integer >= 0, got {levels!r}")
    if fb_threshold is not None:
        fb_threshold = number(fb_threshold, "fb_threshold", 0.0, math.inf)
    grey1, grey2 = (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in (image1, image2))
    corners = cv2.goodFeaturesToTrack(grey1, maxCorners=int(max_corners), qualityLevel=quality,
                                      minDistance=min_distance)
    if corners is None:
        raise ValueError("track_mask: no corner found in image1; is it textured?")
    settings = {"winSize": (int(window), int(window)), "maxLevel": int(levels)}
    tracked, status, _ = cv2.calcOpticalFlowPyrLK(grey1, grey2, corners, None, **settings)
    found = status.ravel() == 1
    if fb_threshold is not None:
        returned, back_status, _ = cv2.calcOpticalFlowPyrLK(grey2, grey1, tracked, None, **settings)
        distance = np.linalg.norm((returned - corners).reshape(-1, 2), axis=1)
        found &= (back_status.ravel() == 1) & (distance <= fb_threshold)
    if not found.any():
        raise ValueError("track_mask: the tracker lost every corner (or none passed the forward-backward check); "
                         "do the frames overlap?")
    return points_to_sparse(corners.reshape(-1, 2)[found], tracked.reshape(-1, 2)[found], image1.shape[:2])


# --- training densities and the registry --------------------------------------------------------


def sample_density(rng: np.random.Generator, low: float = 0.005, high: float = 0.2) -> float:
    """A training density drawn log-uniformly between ``low`` and ``high``.

    Log-uniform rather than uniform: the densities of interest span orders of magnitude
    (0.5 % .. 20 %), and a uniform draw would almost never give the sparse end (only ~2.5 % of
    draws below 1 %); log-uniform gives every factor of density the same share of samples.

    Args:
        rng: the random generator to draw from.
        low: smallest density, with ``0 < low <= high``.
        high: largest density, with ``high < 1``.

    Returns:
        The density, a fraction of the valid pixels in ``[low, high]``.

    Raises:
        ValueError: ``rng`` not a ``np.random.Generator``, or not ``0 < low <= high < 1``.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a np.random.Generator, got {type(rng).__name__}")  # noqa: TRY004 - bad input is a ValueError (the CLI reports it as a usage error)
    low = number(low, "low", 0.0, 1.0)
    high = number(high, "high", low, 1.0, low_closed=True)
    return float(np.exp(rng.uniform(math.log(low), math.log(high))))


def _field(sample: Mapping[str, Any], key: str) -> Any:
    """``sample[key]``, with a clear error when the sample lacks it."""
    if key not in sample:
        raise ValueError(f"sample must have key {key!r} (image1, image2, flow, valid), got keys {sorted(sample)}")
    return sample[key]


def _occlusion(sample: Mapping[str, Any]) -> np.ndarray:
    """``sample["occlusion"]`` as bool, with a clear error for a dataset that has none."""
    if sample.get("occlusion") is None:
        raise ValueError("the 'occlusions' kind needs the sample's occlusion map (Sintel, FlyingThings3D and the "
                         f"synthetic generator have one); this sample has keys {sorted(sample)}")
    return np.asarray(sample["occlusion"]).astype(bool)


MaskSampler = Callable[[Mapping[str, Any], float, int | None], np.ndarray]

#: Mask samplers by name, each ``(sample, density, seed) -> (H, W) bool`` for a dataset sample
#: (a mapping with keys ``image1``, ``image2``, ``flow``, ``valid``), with default options.
MASK_SAMPLERS: dict[str, MaskSampler] = {
    "uniform": lambda sample, density, seed: uniform_mask(_field(sample, "valid"), density, seed),
    "clustered": lambda sample, density, seed: clustered_mask(_field(sample, "valid"), density, seed),
    "edge": lambda sample, density, seed: edge_mask(_field(sample, "image1"), _field(sample, "valid"), density, seed),
    "grid": lambda sample, density, seed: grid_mask(_field(sample, "valid"), density, seed),
    "scanlines": lambda sample, density, seed: scanline_mask(_field(sample, "valid"), density, seed),
    "blocks": lambda sample, density, seed: block_mask(
        _field(sample, "valid"), density, seed, flow=_field(sample, "flow")
    ),
    "occlusions": lambda sample, density, seed: occlusion_mask(_field(sample, "valid"), _occlusion(sample)),
}

#: Every kind :func:`make_sparse` knows: the mask samplers, ``"matches"`` and ``"tracks"``.
SPARSE_KINDS: tuple[str, ...] = (*MASK_SAMPLERS, "matches", "tracks")


def _ground_truth_at(flow: Any, mask: np.ndarray) -> np.ndarray:
    """The ground-truth ``flow`` at the known pixels of ``mask``, 0 elsewhere.

    Shape:
        flow ``(H, W, 2)`` pixels, mask ``(H, W)`` bool -> ``(H, W, 2)`` float32.
    """
    flow = np.asarray(flow)
    if flow.shape != (*mask.shape, 2):
        raise ValueError(f"sample['flow'] must have shape {(*mask.shape, 2)} like sample['valid'], got {flow.shape}")
    return np.where(mask[..., None], flow, 0.0).astype(np.float32)


class SparseSample(NamedTuple):
    """The sparse input made from a dataset sample by :func:`make_sparse`.

    Attributes:
        flow: ``(H, W, 2)`` float32, pixels; 0 at unknown pixels.
        mask: ``(H, W)`` bool, True = known.
        rejected: matches dropped for a start outside the image (``"matches"`` and ``"tracks"``
            only; else 0).
        outliers: ``(H, W)`` bool, True at the known pixels whose value was replaced by a wrong
            one on purpose (``outliers=``); the matcher's own mistakes are not marked here
            (:func:`known_wrong` finds every wrong value against the ground truth).
    """

    flow: np.ndarray
    mask: np.ndarray
    rejected: int
    outliers: np.ndarray


def known_wrong(sparse: SparseSample | SparseFlow, truth: Any, valid: Any) -> np.ndarray:
    """The known, valid pixels whose input value is more than 3 px from the ground truth.

    Covers the injected outliers and the matcher's own mistakes alike (threshold
    :data:`flowinpaint.data.outliers.OUTLIER_THRESHOLD`).

    Shape:
        truth ``(H, W, 2)`` px, valid ``(H, W)`` bool -> ``(H, W)`` bool.
    """
    where = np.asarray(sparse.mask, dtype=bool) & np.asarray(valid, dtype=bool)
    return where & wrong_values(sparse.flow, truth)


def make_sparse(
    kind: str, sample: Mapping[str, Any], density: float, seed: int | None = 0, outliers: float = 0.0
) -> SparseSample:
    """The sparse input of kind ``kind`` for a dataset sample, so evaluation code can ask by name.

    For a mask kind (:data:`MASK_SAMPLERS`) the flow is the sample's ground truth at the mask,
    0 elsewhere, and ``rejected`` is 0. For ``"matches"`` it is :func:`match_mask` on the two
    frames with default options: its flow carries the matcher's errors and ``density`` is ignored
    (the density is whatever the matcher finds); ``"tracks"`` is :func:`track_mask` likewise (tracked
    corners, with the tracker's errors). ``"occlusions"`` (:func:`occlusion_mask`) needs the
    sample's ``occlusion`` map (Sintel, FlyingThings3D, the synthetic generator) and ignores the
    density too. With ``outliers`` > 0 that fraction of the known
    values is then replaced by wrong ones (:func:`~flowinpaint.data.outliers.inject_outliers`:
    half random in the flow's range, half borrowed from a known pixel 20-80 px away), from a
    random stream of the same ``seed`` that leaves the mask as it is without outliers.

    Args:
        kind: one of :data:`SPARSE_KINDS`.
        sample: mapping with ``image1``, ``image2`` (``(H, W, 3)`` uint8 RGB), ``flow``
            (``(H, W, 2)`` pixels) and ``valid`` (``(H, W)`` bool); each kind reads what it needs.
        density: fraction of the valid pixels to know, in (0, 1) (before dropout for ``"grid"``).
        seed: seed of the sampler and of the outliers.
        outliers: fraction of the known values made wrong, in [0, 1].

    Returns:
        A :class:`SparseSample` ``(flow, mask, rejected, outliers)``.

    Raises:
        ValueError: unknown ``kind`` (listing the kinds), a missing sample key, a bad
            ``outliers``, or a sampler's error.
    """
    if kind == "matches":
        flow, mask, rejected = match_mask(_field(sample, "image1"), _field(sample, "image2"), seed=seed)
    elif kind == "tracks":
        flow, mask, rejected = track_mask(_field(sample, "image1"), _field(sample, "image2"))
    elif kind in MASK_SAMPLERS:
        mask = MASK_SAMPLERS[kind](sample, density, seed)
        flow, rejected = _ground_truth_at(_field(sample, "flow"), mask), 0
    else:
        raise ValueError(f"kind must be one of {list(SPARSE_KINDS)}, got {kind!r}")
    flow, injected = inject_outliers(flow, mask, outliers, seed)
    return SparseSample(flow, mask, rejected, injected)
