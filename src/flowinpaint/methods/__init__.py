"""Inpainting methods behind one registry, and :func:`inpaint`, the entry point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..ops import put_pixels
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
    "DEFAULT_METHOD", "Method", "Problem", "Solution", "SparseFlow", "get_method", "inpaint", "inpaint_batch",
    "method_names", "points_to_sparse", "register",
]


def _judged(method: Method, outcome: Tensor | Solution) -> Solution | None:
    """The method's own :class:`Solution`, or None for a method that does not judge its known values."""
    if method.judges_known:
        if not isinstance(outcome, Solution):
            raise TypeError(f"method {method.name!r} says it judges its known values but returned no Solution")
        return outcome
    return None


def _check_runnable(method: Method, return_confidence: bool) -> None:
    """A method that cannot run here, or a confidence asked of one that estimates none, is a clear error."""
    reason = method.unavailable()
    if reason:
        raise ValueError(f"method {method.name!r} cannot run here: {reason}")
    if return_confidence and not method.judges_known:
        estimating = [name for name in method_names() if get_method(name).judges_known]
        raise ValueError(f"method {method.name!r} estimates no confidence; methods that do: {', '.join(estimating)}")


def _prepared(method: Method, flow: Any, mask: Any, image: Any | None, confidence: Any | None,
              return_confidence: bool) -> Problem:
    """The validated problem; for a method that does not judge its known values, the known values
    the user trusts less than ``KEEP_CONFIDENCE`` dropped."""
    problem = as_problem(flow, mask, image, method.needs_image, method.name, confidence)._replace(
        wants_confidence=return_confidence)
    if problem.confidence is not None and not method.judges_known:
        trusted = trusted_known(problem)
        if not trusted.any():
            raise ValueError(f"no known value has confidence >= {KEEP_CONFIDENCE}, which method {method.name!r} needs")
        problem = Problem(problem.flow.masked_fill(~trusted, 0.0), trusted, problem.image)
    return problem


def _finished(method: Method, problem: Problem, outcome: Tensor | Solution,
              return_confidence: bool) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The method's ``(1, 2, H, W)`` outcome as the ``(H, W, 2)`` array :func:`inpaint` returns,
    the kept known values exactly their input (and the confidence, if asked for)."""
    solution = _judged(method, outcome)
    dense_t = solution.flow if solution is not None else outcome
    kept = (solution.kept if solution is not None else problem.known)[0, 0].numpy()
    # (H, W, 2) in C order: torch's copy (several times faster than numpy's of a transposed view);
    # the outcome is the method's own tensor, so writing the known values into it is safe
    dense = dense_t[0].permute(1, 2, 0).to(torch.float32).contiguous().numpy()
    exact = np.flatnonzero(kept)
    put_pixels(dense, exact, np.take(problem.flow[0].reshape(2, -1).numpy(), exact, axis=1).T)  # (2, H W) -> (N, 2)
    if return_confidence:
        assert solution is not None and solution.confidence is not None  # checked by _check_runnable
        return dense, solution.confidence[0, 0].numpy().astype(np.float32)
    return dense


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
    _check_runnable(chosen, return_confidence)
    problem = _prepared(chosen, flow, mask, image, confidence, return_confidence)
    return _finished(chosen, problem, chosen.run(problem, settings), return_confidence)


def _per_frame(name: str, values: Sequence[Any] | None, count: int | None) -> list[Any]:
    """``values`` as a list of one entry per frame (``count`` of them; None: any number), or
    ``count`` Nones for None."""
    if values is None and count is not None:
        return [None] * count
    if values is None or isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValueError(f"{name} must be a sequence with one entry per frame, got {type(values).__name__}")
    if count is not None and len(values) != count:
        raise ValueError(f"{name} has {len(values)} entries for {count} flows; give one per frame")
    return list(values)


def inpaint_batch(
    flows: Sequence[Any],
    masks: Sequence[Any],
    images: Sequence[Any] | None = None,
    method: str = DEFAULT_METHOD,
    *,
    confidences: Sequence[Any] | None = None,
    return_confidence: bool = False,
    batch_size: int = 8,
    **options: Any,
) -> list[np.ndarray] | list[tuple[np.ndarray, np.ndarray]]:
    """:func:`inpaint` for many frames: the same results, the networks run on stacks of frames.

    The methods with a network (``neuroexplicit``, ``flownets``, ``wgain``, ``pd``) run each
    group of up to ``batch_size`` frames of one size as one ``(B, ...)`` forward pass (on a GPU
    with ``device="cuda"`` that is where batches pay); the others run frame by frame. Every frame
    is checked before any runs.

    Args:
        flows, masks: one ``(H, W, 2)`` flow and ``(H, W)`` bool mask per frame (sizes may differ).
        images: one reference image per frame, or None (see :func:`inpaint`).
        method, return_confidence, options: as for :func:`inpaint`, the same for every frame.
        confidences: one ``(H, W)`` confidence (or None) per frame, or None.
        batch_size: frames per forward pass, at least 1.

    Returns:
        A list with :func:`inpaint`'s result for each frame, in order.

    Raises:
        ValueError: as :func:`inpaint`, the message starting with the index of the bad frame;
            lists of different lengths; a ``batch_size`` that is not an integer >= 1.
    """
    chosen = get_method(method)
    settings = build_options(chosen, options)
    _check_runnable(chosen, return_confidence)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    flows = _per_frame("flows", flows, None)
    count = len(flows)
    frames = zip(flows, _per_frame("masks", masks, count), _per_frame("images", images, count),
                 _per_frame("confidences", confidences, count), strict=True)
    problems = []
    for index, (flow, mask, image, confidence) in enumerate(frames):
        try:
            problems.append(_prepared(chosen, flow, mask, image, confidence, return_confidence))
        except ValueError as error:
            raise ValueError(f"frame {index}: {error}") from None
    results: list[Any] = [None] * count
    groups: dict[tuple[int, int], list[int]] = {}
    for index, problem in enumerate(problems):
        groups.setdefault(tuple(problem.flow.shape[-2:]) if chosen.batched else (index, -1), []).append(index)
    for members in groups.values():
        for first in range(0, len(members), batch_size):
            chunk = members[first:first + batch_size]
            parts = [problems[index] for index in chunk]
            stacked = parts[0] if len(parts) == 1 else Problem(
                torch.cat([part.flow for part in parts]), torch.cat([part.known for part in parts]),
                torch.cat([part.image for part in parts]) if all(part.image is not None for part in parts) else None)
            outcome = chosen.run(stacked, settings)
            for offset, index in enumerate(chunk):
                part = outcome if len(parts) == 1 else outcome[offset:offset + 1]
                results[index] = _finished(chosen, problems[index], part, return_confidence)
    return results
