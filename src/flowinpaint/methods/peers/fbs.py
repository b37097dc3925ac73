"""``fbs``: OpenCV's fast bilateral solver (Barron & Poole 2016) with the mask as confidence, a peer.

``fastBilateralSolverFilter`` minimises, on a bilateral grid of the guide, ``lambda_`` times a
bilateral smoothness term plus the confidence-weighted squared distance to ``src``. Here ``src`` is
the flow with 0 at unknown pixels and the confidence is the mask (1 known, 0 unknown), so unknown
pixels carry no data term and are filled by the smoothness term alone. Known pixels are fitted, not
reproduced exactly; :func:`flowinpaint.inpaint` re-imposes them.

The mask is solved for as a third channel next to ``(u, v)`` (same system, one call). Its solution
``r`` is 1 where the grid connects a pixel to data and 0 where no data reaches it (within 1e-2,
measured): those pixels (0.09 to 2.7 % of the image, in colour-distinct patches, on the 12 synthetic
cases of :class:`FbsOptions`) would keep a silent zero flow, so they take the flow of the nearest
reached pixel instead (mean EPE 0.237 -> 0.234 px over those cases).

No normalisation by ``r`` (normalised-convolution style): where data reaches, ``r`` is 1 once the
solver has converged, so dividing by it changes nothing; with OpenCV's default 25 iterations the
conjugate gradients have not converged and ``r`` ranged from -3.6 to 10, which blew the normalised
EPE up to 69 and 220 px on 2 of 12 cases. The flow is used as is, with enough iterations to converge
(see :class:`FbsOptions`).

Availability: OpenCV implements this filter only when built with Eigen. The PyPI wheels
``opencv-contrib-python(-headless)`` (5.0.0.93 at least) are not, and raise "needs to be compiled
with EIGEN"; then ``fbs`` raises ``RuntimeError`` saying so (:func:`available` tells beforehand).
Builds with Eigen (e.g. Debian's ``python3-opencv`` 4.6) print the solver's iteration count and
error estimate to stdout on every call. The measurements quoted here used that Debian build.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from torch import Tensor

from ..registry import Method, Problem, register
from ._common import check_int, check_positive, dense_tensor, guide_bgr, known_matches

__all__ = ["FbsOptions", "available"]

REACHED = 0.5  # solution of the mask channel above which a pixel counts as reached by data
_UNAVAILABLE = (
    "fbs needs cv2.ximgproc.fastBilateralSolverFilter, which this OpenCV build lacks (it was compiled "
    "without Eigen, as the PyPI opencv-contrib-python wheels are); install an OpenCV with contrib "
    "modules built with Eigen to use it"
)


@dataclass(frozen=True)
class FbsOptions:
    """Options of ``fbs``.

    ``lambda_`` and ``num_iter`` differ from OpenCV's defaults (128 and 25), measured on 12
    synthetic cases (96x128 and 384x512, seeds 0-1, 1/5/10 % density; mean EPE over zero-flow EPE):
    OpenCV's defaults 0.477; ``lambda_`` 8: 0.227, 2: 0.149, 1: 0.124, 0.5: 0.108, 0.25: 0.098 (200
    iterations); 100 iterations reach the converged values. ``sigma_spatial`` 4 was better still
    (0.084 at ``lambda_`` 0.5) but about 2.5 times slower, so OpenCV's 8 is kept.

    Attributes:
        sigma_spatial: spatial bandwidth of the bilateral grid, pixels.
        sigma_luma: luma bandwidth, grey levels (0..255).
        sigma_chroma: chroma bandwidth, grey levels (0..255).
        lambda_: smoothness weight relative to the (confidence-weighted) data term.
        num_iter: conjugate-gradient iterations.
        max_tol: conjugate-gradient convergence tolerance.
    """

    sigma_spatial: float = 8.0
    sigma_luma: float = 8.0
    sigma_chroma: float = 8.0
    lambda_: float = 0.5
    num_iter: int = 100
    max_tol: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("sigma_spatial", "sigma_luma", "sigma_chroma", "lambda_", "max_tol"):
            check_positive(getattr(self, name), name)
        check_int(self.num_iter, "num_iter", 1)


def _solve(guide: np.ndarray, source: np.ndarray, confidence: np.ndarray, options: FbsOptions) -> np.ndarray:
    """OpenCV's solver on ``source`` ``(H, W, C)`` float32 with ``confidence`` ``(H, W)`` float32 in [0, 1].

    Raises:
        RuntimeError: the filter is missing from this OpenCV build, or failed.
    """
    try:
        return cv2.ximgproc.fastBilateralSolverFilter(
            guide, source, confidence,
            sigma_spatial=options.sigma_spatial, sigma_luma=options.sigma_luma, sigma_chroma=options.sigma_chroma,
            lambda_=options.lambda_, num_iter=options.num_iter, max_tol=options.max_tol,
        )
    except cv2.error as error:
        if error.code == cv2.Error.StsNotImplemented:
            raise RuntimeError(_UNAVAILABLE) from error
        raise RuntimeError(f"fbs: OpenCV failed: {error}") from error


@cache
def available() -> bool:
    """Whether this OpenCV build has the fast bilateral solver (tried once on a tiny input)."""
    tiny = np.zeros((4, 4), dtype=np.float32)
    try:
        _solve(np.zeros((4, 4, 3), dtype=np.uint8), tiny, tiny + 1.0, FbsOptions(num_iter=1))
    except RuntimeError:
        return False
    return True


def run(problem: Problem, options: FbsOptions) -> Tensor:
    known = problem.known[0, 0].numpy()
    flow = problem.flow[0].permute(1, 2, 0).numpy()  # 0 at unknown pixels
    source = np.ascontiguousarray(np.dstack([flow, known]), dtype=np.float32)
    solved = _solve(guide_bgr(problem, "fbs"), source, known.astype(np.float32), options)
    dense, reached = solved[..., :2], solved[..., 2] >= REACHED
    if not reached.all():
        # imported on use: ~0.1 s of ``import flowinpaint``
        from scipy.ndimage import distance_transform_edt

        rows, cols = distance_transform_edt(~reached, return_distances=False, return_indices=True)
        dense = dense[rows, cols]
    return dense_tensor(dense, known_matches(problem)[1], "fbs")


register(Method(
    "fbs", "OpenCV fast bilateral solver, mask as confidence; peer (needs OpenCV built with Eigen)",
    FbsOptions, run, needs_image=True,
    unavailable=lambda: None if available() else "this OpenCV build has no fast bilateral solver (no Eigen)",
))
