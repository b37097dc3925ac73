"""Inpainting methods behind one registry, and :func:`inpaint`, the entry point."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import amle, eed, laplace, lb, learned, neuroexplicit, peers  # noqa: F401  (each registers its method)
from .registry import Method, Problem, build_options, get_method, method_names, register
from .sparse import SparseFlow, points_to_sparse
from .validation import as_problem

__all__ = ["Method", "Problem", "SparseFlow", "get_method", "inpaint", "method_names", "points_to_sparse", "register"]


def inpaint(flow: Any, mask: Any, image: Any | None = None, method: str = "neuroexplicit", **options: Any) -> np.ndarray:
    """Fill the unknown pixels of a sparse flow field.

    Args:
        flow: ``(H, W, 2)`` float array ``(u, v)`` in pixels, u along x (columns); values at
            unknown pixels are ignored (they may be NaN).
        mask: ``(H, W)`` bool, True = known. At least one pixel must be known and one unknown.
        image: the reference image (frame 1), ``(H, W, 3)`` uint8 RGB or float in [0, 1], or
            greyscale ``(H, W)``; required by image-guided methods.
        method: a registered method name (``flowinpaint.method_names()``); the default is the
            shipped neuroexplicit model, the most accurate method here (see the README's results).
        **options: the method's options (see its options dataclass, e.g. ``EEDOptions``).

    Returns:
        The dense flow ``(H, W, 2)`` float32; known pixels carry exactly their input values.

    Raises:
        ValueError: bad input (shapes, dtypes, NaN among known values, empty mask, unknown method
            or option), with a message saying what was expected.
    """
    chosen = get_method(method)
    settings = build_options(chosen, options)
    problem = as_problem(flow, mask, image, chosen.needs_image, method)
    dense = chosen.run(problem, settings)[0].permute(1, 2, 0).numpy().astype(np.float32)
    known = problem.known[0, 0].numpy()
    dense[known] = problem.flow[0].permute(1, 2, 0).numpy()[known]
    return dense
