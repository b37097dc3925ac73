"""``ric``: OpenCV's ``RICInterpolator`` (RicFlow; Hu et al. CVPR 2017), a peer.

Each known pixel becomes a match from its centre ``(x, y)`` to ``(x + u, y + v)``. RIC
over-segments the image into SLIC superpixels, fits an affine model per superpixel to its
``superpixel_nn_count`` geodesically nearest matches (RANSAC-like propagation between neighbouring
superpixels), and smooths the result with the fast global smoother (FGS).

Guards around OpenCV's sharp edges (opencv-contrib 5.0.0, measured):

* Threads: ``PropagateModels`` runs its ``model_iter`` iterations in a ``parallel_for_`` that
  shares scratch buffers, so with 2 threads the same input (96x128, 200 matches) gave EPE 11.5,
  0.89 or 0.91 px from call to call. RIC is run with OpenCV limited to one thread (restored afterwards; this changes
  process-wide state for the duration of the call, so do not run OpenCV concurrently from other
  Python threads). It is then deterministic, at the same speed here.
* ``superpixel_nn_count > k``: each superpixel's support matches are found by a Dijkstra search
  over the matches' ``k``-nearest-neighbour lists; where fewer than ``superpixel_nn_count`` matches
  are reachable, the rest of the support list keeps index -1 and is read out of bounds (per the
  source), and results vary between identical calls (OpenCV's default 150 with k = 32 gave EPE
  0.739/0.753/0.735 px in three single-threaded calls on a 384x512 example at 5 %). With
  ``superpixel_nn_count <= k`` every support set is reachable (the start match's own list holds
  ``k``), so that is required; see :class:`RicOptions` for the default.
* The support search keeps its pending entries in a heap with room for as many entries as there
  are matches and raises "m_validSize >= m_size ... decreasing k" when more are pending
  (opencv_contrib#3227): 1 % of a 96x128 image (123 matches) already fails with OpenCV's
  defaults. At most ``1 + k (superpixel_nn_count - 1)`` entries can be pending, so on that error
  the call is repeated (on a fresh interpolator: a failed call leaves its cost map behind) with the
  matches padded to that many by copies placed *before* the originals. OpenCV lets the last match
  on a pixel win, so the copies join no neighbour list and mainly enlarge the heap; the result
  still differs from an unpadded call in details (at 20 matches: EPE 1.04 -> 1.06 px and
  1.12 -> 0.92 px on two inputs), which is why OpenCV's own result is kept whenever it succeeds.
* Few matches: ``k`` and ``superpixel_nn_count`` are clamped to the match count; fewer than 3
  matches is a ``ValueError``, since an affine hypothesis needs three support matches (OpenCV
  itself runs down to 1 match once clamped, then only translating). Measured on synthetic 96x128
  and 192x256 examples (4 seeds each, uniformly drawn matches): with 3-20 matches RIC's EPE was
  above the zero field's in 8 of 32 cases (up to 11 times it); with 40-3000 matches in none of 48.
* Greyscale guides fail in ``cvtColor`` (opencv_contrib#3441); the guide here is always 3-channel
  (grey images are replicated to RGB by validation).
* Variational refinement needs the second frame (``to_image``), which an inpainting problem does not
  have, so ``use_variational_refinement=True`` is rejected.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
from torch import Tensor

from ..registry import Method, Problem, opencv_contrib_missing, register
from ._common import (
    MIN_MATCHES,
    check_bool,
    check_choice,
    check_int,
    check_positive,
    dense_tensor,
    guide_bgr,
    interpolate_matches,
    known_matches,
    require_matches,
)

__all__ = ["SUPERPIXEL_MODES", "RicOptions"]

SUPERPIXEL_MODES = {"slic": 100, "slico": 101, "mslic": 102}  # cv2.ximgproc.SLIC, SLICO, MSLIC
_HEAP_OVERFLOW = "m_validSize >= m_size"  # OpenCV's message when the support search overflows


@dataclass(frozen=True)
class RicOptions:
    """Options of ``ric``: OpenCV's defaults except ``superpixel_nn_count``.

    ``superpixel_nn_count`` is 32 instead of OpenCV's 150: 150 exceeds ``k`` (undefined behaviour,
    see the module docstring), and 32 was also more accurate on synthetic 384x512 examples (seeds
    0-1 at 0.2, 1 and 5 % density, mean EPE 0.55 px against 0.80 px with 150, and 0.81 px with
    ``k = superpixel_nn_count = 150``).

    Attributes:
        k: nearest matches (geodesic) listed per match, and the most neighbours a superpixel keeps;
            clamped to the number of known pixels.
        superpixel_size: SLIC region size, pixels.
        superpixel_nn_count: support matches per superpixel, in [1, k]; clamped to the number of
            known pixels.
        superpixel_ruler: SLIC compactness (larger: more regular superpixels).
        superpixel_mode: ``"slic"``, ``"slico"`` or ``"mslic"``.
        alpha: support weight decay: a match at geodesic cost ``d`` weighs ``exp(-d / (1000 alpha))``.
        model_iter: propagation iterations of the superpixel models.
        refine_models: refit each model by weighted least squares on its inliers (when it has >= 30).
        max_flow: pixels; where an affine model predicts more, the superpixel's translation is used.
        use_variational_refinement: must be False (needs the second frame; see the module docstring).
        use_global_smoother_filter: smooth the result with the fast global smoother (FGS).
        fgs_lambda: FGS smoothness weight.
        fgs_sigma: FGS colour scale, grey levels (0..255).
    """

    k: int = 32
    superpixel_size: int = 15
    superpixel_nn_count: int = 32
    superpixel_ruler: float = 15.0
    superpixel_mode: str = "slic"
    alpha: float = 0.7
    model_iter: int = 4
    refine_models: bool = True
    max_flow: float = 250.0
    use_variational_refinement: bool = False
    use_global_smoother_filter: bool = True
    fgs_lambda: float = 500.0
    fgs_sigma: float = 1.5

    def __post_init__(self) -> None:
        check_int(self.k, "k", 1)
        check_int(self.superpixel_size, "superpixel_size", 1)
        check_int(self.superpixel_nn_count, "superpixel_nn_count", 1)
        if self.superpixel_nn_count > self.k:
            raise ValueError(
                f"superpixel_nn_count ({self.superpixel_nn_count}) must not exceed k ({self.k}): OpenCV's RIC "
                "then reads out of bounds where fewer support matches are reachable; raise k or lower it"
            )
        check_positive(self.superpixel_ruler, "superpixel_ruler")
        check_choice(self.superpixel_mode, "superpixel_mode", tuple(SUPERPIXEL_MODES))
        check_positive(self.alpha, "alpha")
        check_int(self.model_iter, "model_iter", 1)
        check_bool(self.refine_models, "refine_models")
        check_positive(self.max_flow, "max_flow")
        check_bool(self.use_variational_refinement, "use_variational_refinement")
        if self.use_variational_refinement:
            raise ValueError(
                "use_variational_refinement=True is not available: RIC refines against the second frame "
                "(to_image), and an inpainting problem has only the reference frame"
            )
        check_bool(self.use_global_smoother_filter, "use_global_smoother_filter")
        check_positive(self.fgs_lambda, "fgs_lambda")
        check_positive(self.fgs_sigma, "fgs_sigma")


@contextmanager
def _opencv_threads(count: int) -> Iterator[None]:
    """Limit OpenCV to ``count`` threads inside the block, then restore the previous setting."""
    previous = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def _pad_before(points: np.ndarray, flows: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
    """The matches preceded by cyclic copies of themselves, ``total`` rows in all (if more)."""
    count = len(points)
    if total <= count:
        return points, flows
    order = np.concatenate([np.resize(np.arange(count), total - count), np.arange(count)])
    return points[order], flows[order]


def _interpolator(options: RicOptions, k: int, support: int) -> cv2.ximgproc.RICInterpolator:
    """A configured OpenCV RIC interpolator."""
    interpolator = cv2.ximgproc.createRICInterpolator()
    interpolator.setK(k)
    interpolator.setSuperpixelSize(options.superpixel_size)
    interpolator.setSuperpixelNNCnt(support)
    interpolator.setSuperpixelRuler(options.superpixel_ruler)
    interpolator.setSuperpixelMode(SUPERPIXEL_MODES[options.superpixel_mode])
    interpolator.setAlpha(options.alpha)
    interpolator.setModelIter(options.model_iter)
    interpolator.setRefineModels(options.refine_models)
    interpolator.setMaxFlow(options.max_flow)
    interpolator.setUseVariationalRefinement(False)
    interpolator.setUseGlobalSmootherFilter(options.use_global_smoother_filter)
    interpolator.setFGSLambda(options.fgs_lambda)
    interpolator.setFGSSigma(options.fgs_sigma)
    return interpolator


def run(problem: Problem, options: RicOptions) -> Tensor:
    points, flows = known_matches(problem)
    require_matches(len(points), MIN_MATCHES, "ric")
    k = min(options.k, len(points))
    support = min(options.superpixel_nn_count, len(points))
    guide = guide_bgr(problem, "ric")
    with _opencv_threads(1):
        try:
            dense = interpolate_matches(_interpolator(options, k, support), guide, points, flows, "ric")
        except RuntimeError as error:
            if _HEAP_OVERFLOW not in str(error):
                raise
            padded_points, padded_flows = _pad_before(points, flows, 1 + k * (support - 1))
            dense = interpolate_matches(_interpolator(options, k, support), guide, padded_points, padded_flows, "ric")
    return dense_tensor(dense, flows, "ric")


register(Method("ric", "OpenCV RIC (RicFlow's superpixel-based interpolator); peer", RicOptions, run, needs_image=True,
                unavailable=opencv_contrib_missing))
