"""Inpainting methods behind one registry, and :func:`inpaint`, the entry point."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from . import amle, eed, laplace, lb, learned, neuroaffine, neuroexplicit, peers  # noqa: F401  (each registers its method)
from .registry import (
    DEFAULT_METHOD,
    KEEP_CONFIDENCE,
    Method,
    Problem,
    Solution,
    build_options,
    get_method,
    method_names,
    register,
    trusted_known,
)
from .sparse import SparseFlow, points_to_sparse
from .validation import as_problem

__all__ = [
    "DEFAULT_METHOD", "Method", "Problem", "Solution", "SparseFlow", "get_method", "inpaint", "method_names",
    "points_to_sparse", "register",
]


def _judged(method: Method, outcome: Tensor | Solution) -> Solution | None:
    """The method's own :class:`Solution`, or None for a method that does not judge its known values."""
    if method.judges_known:
        if not isinstance(outcome, Solution):
            raise TypeError(f"method {method.name!r} says it judges its known values but returned no Solution")
        return outcome
    return None


def inpaint(
    flow: Any,
    mask: Any,
    image: Any | None = None,
    method: str = DEFAULT_METHOD,
    *,
    confidence: Any | None = None,
    return_confidence: bool = False,
    **options: Any,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Fill the unknown pixels of a sparse flow field.

    Args:
        flow: ``(H, W, 2)`` float array ``(u, v)`` in pixels, u along x (columns); values at
            unknown pixels are ignored (they may be NaN).
        mask: ``(H, W)`` bool, True = known. At least one pixel must be known and one unknown.
        image: the reference image (frame 1), ``(H, W, 3)`` uint8 RGB or float in [0, 1], or
            greyscale ``(H, W)``; required by image-guided methods.
        method: a registered method name (``flowinpaint.method_names()``); the default,
            ``neuroaffine``, is the most accurate here in most settings, on real and synthetic
            data, exact samples and values with outliers alike (the README's results say where
            it is not); ``neuroexplicit`` is the paper's.
        confidence: ``(H, W)`` weights in [0, 1] of the known values (e.g. match scores), or
            None to trust them alike. Methods that judge their known values (``neuroaffine``)
            weigh them by it; the others drop the values with confidence below 0.5.
        return_confidence: also return an ``(H, W)`` float32 confidence in [0, 1] of the output
            (only for methods that estimate one: ``neuroaffine``).
        **options: the method's options (see its options dataclass, e.g. ``EEDOptions``).

    Returns:
        The dense flow ``(H, W, 2)`` float32, and with ``return_confidence`` also its confidence.
        Known pixels the method kept carry exactly their input values. In robust mode (the
        default of ``neuroaffine``) a known value that disagrees with its neighbours is treated
        as unknown, so its output may differ from the input; ``robust=False`` holds them all.

    Raises:
        ValueError: bad input (shapes, dtypes, NaN among known values, empty mask, unknown method
            or option), with a message saying what was expected.
    """
    chosen = get_method(method)
    settings = build_options(chosen, options)
    if return_confidence and not chosen.judges_known:
        estimating = [name for name in method_names() if get_method(name).judges_known]
        raise ValueError(f"method {method!r} estimates no confidence; methods that do: {', '.join(estimating)}")
    problem = as_problem(flow, mask, image, chosen.needs_image, method, confidence)
    if problem.confidence is not None and not chosen.judges_known:
        trusted = trusted_known(problem)
        if not trusted.any():
            raise ValueError(f"no known value has confidence >= {KEEP_CONFIDENCE}, which method {method!r} needs")
        problem = Problem(problem.flow.masked_fill(~trusted, 0.0), trusted, problem.image)
    outcome = chosen.run(problem, settings)
    solution = _judged(chosen, outcome)
    dense_t = solution.flow if solution is not None else outcome
    kept = (solution.kept if solution is not None else problem.known)[0, 0].numpy()
    dense = dense_t[0].permute(1, 2, 0).numpy().astype(np.float32)
    dense[kept] = problem.flow[0].permute(1, 2, 0).numpy()[kept]
    if return_confidence:
        assert solution is not None  # checked above
        return dense, solution.confidence[0, 0].numpy().astype(np.float32)
    return dense
