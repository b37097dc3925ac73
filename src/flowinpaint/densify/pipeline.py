"""``densify``: dense flow from two frames, an estimate kept where it is reliable and inpainted elsewhere.

The pipeline:

1. an initial estimate between the frames: OpenCV's DIS flow both ways (``matcher="dis"``), or
   SIFT matches with ratio and forward-backward tests (``matcher="sift"``, sparse);
2. a reliability test: for DIS, forward-backward consistency (:mod:`.reliability`), which rejects
   occluded, mismatched and out-of-frame pixels, and a margin of 2 px around what it rejects
   (:data:`DEFAULT_MARGIN`); SIFT matches are already checked both ways;
3. inpainting of the unreliable pixels by one of the project's methods, frame 1 as the guide
   (:func:`flowinpaint.inpaint`);
4. OpenCV's variational refinement of the result on the two frames (``refine=False`` skips it).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import cv2
import numpy as np

from ..methods import build_options, get_method, inpaint
from ..methods.validation import as_float_image
from .estimate import DisPreset, forward_backward, resolve_preset, to_grey, to_uint8
from .reliability import (
    FB_ALPHA,
    FB_BETA,
    check_tolerance,
    consistency_ratio,
    estimate_confidence,
    without_margin,
)

__all__ = ["DEFAULT_MARGIN", "DEFAULT_MATCHER", "DEFAULT_METHOD", "DEFAULT_OPTIONS", "DEFAULT_PRESET", "MATCHERS", "DenseFlow",
           "check_settings", "densify"]

#: The initial estimates :func:`densify` knows.
MATCHERS = ("dis", "sift")
#: The default inpainting method of the unreliable pixels. The defaults (``epic``, DIS
#: ``fine-smooth``, refinement on) won the search of ``benchmarks/densify.py`` over the real dev set
#: and 8 synthetic pairs (``benchmarks/results/densify.md``): among the settings faster than
#: DeepFlow, the best geometric mean of EPE over the better of DIS medium and DeepFlow per pair.
#: ``fine-smooth``'s refinement weights come from ``benchmarks/densify_dis_weights.py``.
DEFAULT_METHOD = "epic"
DEFAULT_MATCHER = "dis"
DEFAULT_PRESET = "fine-smooth"
#: Options :func:`densify` gives an inpainting method unless the caller sets them. EPIC's time grows
#: with its matches and the reliable DIS pixels are tens of thousands: 8,000 of them, spread evenly,
#: won the same search (with DIS ``fine``: 0.932 over the real pairs, 0.60 s per pair; all 32,766:
#: 0.942, 1.01 s); the other reliable pixels keep their DIS values all the same. Where EPIC can fit
#: no affine model (it happens on real frames: a few thousand pixels of a Sintel frame), those
#: pixels are filled by Laplace interpolation instead of stopping the run.
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {"epic": {"max_matches": 8000, "fill_unfitted": True}}
#: Pixels (each axis) around the pixels a dense estimate's test rejects that are inpainted too. The
#: test passes part of the estimate's errors at the edges of what it rejects (the motion smeared
#: across a motion boundary); 2 was the smallest margin at the best score over 16 synthetic
#: validation scenes, half with a camera over a plane, half with frames degraded like real ones
#: (``benchmarks/densify.py --validation 16``, ``results/densify_validation.md``): 0.764 against
#: 0.799 with no margin (1 px: 0.792, 3: 0.767, 4: 0.769). On the dev set's real pairs it is
#: neutral with EPIC (0.847 against 0.849) and gains with the other methods (``docs/densify.md``).
DEFAULT_MARGIN = 2


class DenseFlow(NamedTuple):
    """The result of :func:`densify`.

    Attributes:
        flow: ``(H, W, 2)`` float32 ``(u, v)`` px, frame 1 to frame 2.
        confidence: ``(H, W)`` float32 in [0, 1] (see
            :func:`~flowinpaint.densify.reliability.estimate_confidence`): a ranking of how much
            to trust each pixel, not a probability.
        reliable: ``(H, W)`` bool, the pixels whose initial estimate passed the reliability
            test (outside the ``margin`` of those that failed it) and was kept; the others were
            inpainted.
    """

    flow: np.ndarray
    confidence: np.ndarray
    reliable: np.ndarray


def _frames(image1: Any, image2: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both frames as ``(H, W, 3)`` float32 RGB in [0, 1], checked to be the same size."""
    shape = tuple(np.shape(image1)[:2])
    if np.ndim(image1) not in (2, 3):
        raise ValueError(f"image1 must be (H, W, 3) RGB or (H, W) grey, got shape {np.shape(image1)}")
    if min(shape) < 8:
        raise ValueError(f"the frames must be at least 8x8 pixels, got {shape[0]}x{shape[1]}")
    try:
        second = as_float_image(image2, shape)
    except ValueError as exc:
        raise ValueError(f"image2: {exc} (image1 is {shape[0]}x{shape[1]})") from None
    return as_float_image(image1, shape), second


def _initial(grey1: np.ndarray, grey2: np.ndarray, image1: np.ndarray, image2: np.ndarray, matcher: str,
             preset: str | DisPreset, alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(estimate, reliable, ratio)``: the initial flow, where to keep it, and its test ratio."""
    if matcher == "dis":
        forward, backward = forward_backward(grey1, grey2, preset)
        ratio = consistency_ratio(forward, backward, alpha, beta)
        return forward, ratio <= 1.0, ratio
    from ..data.masks import match_mask

    sparse = match_mask(to_uint8(image1), to_uint8(image2))
    ratio = np.where(sparse.mask, 0.0, np.inf).astype(np.float32)
    return sparse.flow, sparse.mask, ratio


def check_settings(method: str = DEFAULT_METHOD, matcher: str = DEFAULT_MATCHER, preset: str | DisPreset = DEFAULT_PRESET,
                   alpha: float = FB_ALPHA, beta: float = FB_BETA, refine: bool = True, margin: int = DEFAULT_MARGIN,
                   **options: Any) -> None:
    """Check :func:`densify`'s settings (the same keywords) without frames, so a run over many
    pairs fails before the first one on a bad setting.

    Raises:
        ValueError: an unknown matcher, preset or method, a bad tolerance or margin, or a bad method option.
    """
    if matcher not in MATCHERS:
        raise ValueError(f"matcher must be one of {', '.join(MATCHERS)}, got {matcher!r}")
    resolve_preset(preset)
    check_tolerance(alpha, beta)
    if not isinstance(refine, bool):
        raise ValueError(f"refine must be True or False, got {refine!r}")  # noqa: TRY004 - bad input is a ValueError (the CLI reports it as a usage error)
    if not isinstance(margin, (int, np.integer)) or isinstance(margin, bool) or margin < 0:
        raise ValueError(f"margin must be an integer >= 0 (pixels), got {margin!r}")
    found = get_method(method)
    build_options(found, options)


def densify(
    image1: Any,
    image2: Any,
    *,
    method: str = DEFAULT_METHOD,
    matcher: str = DEFAULT_MATCHER,
    preset: str | DisPreset = DEFAULT_PRESET,
    alpha: float = FB_ALPHA,
    beta: float = FB_BETA,
    refine: bool = True,
    margin: int = DEFAULT_MARGIN,
    **options: Any,
) -> DenseFlow:
    """Dense optical flow from ``image1`` to ``image2``.

    Args:
        image1, image2: the frames, ``(H, W, 3)`` RGB or ``(H, W)`` grey, uint8 or float in [0, 1],
            the same size (at least 8x8).
        method: the inpainting method of :func:`flowinpaint.inpaint` for the unreliable pixels
            (default ``"epic"``; see :data:`DEFAULT_METHOD` for how the defaults were chosen).
        matcher: the initial estimate, ``"dis"`` (OpenCV DIS both ways, forward-backward test)
            or ``"sift"`` (SIFT matches, sparse).
        preset: DIS preset, ``"ultrafast"``, ``"fast"``, ``"medium"``, ``"fine"`` (medium down to
            the full resolution) or ``"fine-smooth"`` (fine, its variational refinement weighted
            towards smoothness; the default), see :mod:`.estimate`; or a
            :class:`~flowinpaint.densify.estimate.DisPreset` of one's own.
        alpha, beta: the forward-backward test's tolerance ``alpha (|w_f|^2 + |w_b|^2) + beta``
            (px^2; Sundaram et al. 2010).
        refine: run OpenCV's variational refinement of the result on the two frames (default on).
        margin: with ``matcher="dis"``, the reliable pixels within this many pixels (each axis)
            of a rejected one are inpainted as well (:data:`DEFAULT_MARGIN`; 0 keeps every pixel
            that passes the test); where that would leave none, none is taken off. SIFT matches
            are kept as they are.
        **options: options of the inpainting method (e.g. ``device="cuda"``), on top of
            :data:`DEFAULT_OPTIONS` (EPIC: 8,000 matches, unfitted pixels filled).

    Returns:
        A :class:`DenseFlow` ``(flow, confidence, reliable)``. Where every pixel passes the test
        the estimate is returned as it is; where none does, the estimate is returned with
        confidence 0 (nothing to anchor an inpainting).

    Raises:
        ValueError: bad frames, an unknown matcher, preset or method, a bad margin, or a bad method option.
    """
    options = {**DEFAULT_OPTIONS.get(method, {}), **options}
    check_settings(method, matcher, preset, alpha, beta, refine, margin, **options)
    first, second = _frames(image1, image2)
    grey1, grey2 = to_grey(first), to_grey(second)
    estimate, reliable, ratio = _initial(grey1, grey2, first, second, matcher, preset, alpha, beta)
    if matcher == "dis":
        reliable = without_margin(reliable, int(margin))
    if not reliable.any():
        return DenseFlow(estimate, np.zeros(reliable.shape, np.float32), reliable)
    flow = estimate if reliable.all() else inpaint(estimate, reliable, first, method, **options)
    if refine:
        refinement = cv2.VariationalRefinement_create()
        flow = refinement.calc(grey1, grey2, np.ascontiguousarray(flow, dtype=np.float32))
    return DenseFlow(np.asarray(flow, dtype=np.float32), estimate_confidence(ratio, reliable), reliable)
