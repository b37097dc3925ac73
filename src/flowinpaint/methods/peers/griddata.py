"""``griddata``: ``scipy.interpolate.griddata`` over the known pixels, a peer that ignores the image.

``"linear"`` interpolates barycentrically on the Delaunay triangulation of the known pixels,
``"cubic"`` with Clough-Tocher (C1) patches on it, ``"nearest"`` copies the nearest known pixel.

* Outside the convex hull of the known pixels, ``"linear"`` and ``"cubic"`` give NaN (0.42 % of the
  pixels at 1 % density, 0.08 % at 5 %, on 1024x436): those pixels take the nearest known value.
* With fewer than 3 known pixels, or all on one line, there is no triangulation (Qhull raises):
  ``"linear"`` and ``"cubic"`` fall back to ``"nearest"`` with a warning.

Speed note: scipy computes the triangles' barycentric transforms with many tiny LAPACK calls; on a
CPU saturated by other work, OpenBLAS' thread hand-offs made that take 31 s instead of 0.01 s
(384x512, 1 %, 2 cores); ``OPENBLAS_NUM_THREADS=1`` in the environment avoids it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from ..registry import Method, Problem, register
from ._common import check_choice, dense_tensor, known_matches

__all__ = ["INTERPOLATIONS", "GriddataOptions"]

INTERPOLATIONS = ("linear", "nearest", "cubic")


@dataclass(frozen=True)
class GriddataOptions:
    """Options of ``griddata``.

    Attributes:
        interpolation: ``"linear"`` (default), ``"nearest"`` or ``"cubic"``; scipy's ``method``.
    """

    interpolation: str = "linear"

    def __post_init__(self) -> None:
        check_choice(self.interpolation, "interpolation", INTERPOLATIONS)


def run(problem: Problem, options: GriddataOptions) -> Tensor:
    # imported on use: scipy.interpolate and scipy.spatial add ~0.4 s to ``import flowinpaint``
    from scipy.interpolate import griddata
    from scipy.spatial import QhullError

    points, flows = known_matches(problem)
    height, width = problem.flow.shape[-2:]
    rows, cols = np.mgrid[:height, :width]
    method = options.interpolation
    if method != "nearest":
        try:
            dense = griddata(points, flows, (cols, rows), method=method)
        except QhullError:
            warnings.warn(
                f"griddata: the {len(points)} known pixel(s) admit no triangulation (fewer than 3, or all on one "
                f"line); interpolation={method!r} falls back to 'nearest'",
                stacklevel=3,
            )
            method = "nearest"
    if method == "nearest":
        dense = griddata(points, flows, (cols, rows), method="nearest")
    outside = np.isnan(dense).any(axis=-1)
    if outside.any():
        dense[outside] = griddata(points, flows, (cols[outside], rows[outside]), method="nearest")
    return dense_tensor(dense.astype(np.float32), flows, "griddata")


register(Method(
    "griddata", "scipy griddata (Delaunay linear/cubic, or nearest); peer; ignores the image",
    GriddataOptions, run, needs_image=False,
))
