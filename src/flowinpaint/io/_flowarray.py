"""The in-memory flow convention shared by every flow format: checking writer input, and
finishing what readers return.

Convention: a flow is ``(flow, valid)`` with ``flow`` a ``(H, W, 2)`` float32 array of
``(u, v)`` in pixels (u along columns, to the right; v along rows, downward) and ``valid`` a
``(H, W)`` bool array. Readers return ``0.0`` for both components of every unknown pixel.
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt

from ._files import PathLike

__all__ = ["FlowAndValid", "checked_for_writing", "with_unknown_zeroed"]

FlowAndValid = tuple[np.ndarray, np.ndarray]


def _describe(array: np.ndarray) -> str:
    return f"shape {array.shape} and dtype {array.dtype}"


def checked_for_writing(
    path: PathLike, flow: npt.ArrayLike, valid: npt.ArrayLike | None
) -> FlowAndValid:
    """Validate a writer's input and convert it.

    Args:
        path: the file being written, named in error messages.
        flow: real numeric ``(H, W, 2)`` array-like with ``H, W >= 1``.
        valid: ``None`` (every pixel valid) or a bool ``(H, W)`` array-like.

    Returns:
        A new float32 C-contiguous ``(H, W, 2)`` flow and a new ``(H, W)`` bool mask that is
        ``valid`` AND "both components finite": NaN, infinity and values that overflow float32
        are unknown.

    Raises:
        ValueError: the message names ``path``, what was expected and what was given.
    """
    where = os.fspath(path)
    try:
        array = np.asarray(flow)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: flow must be a (H, W, 2) real numeric array ({exc})") from exc
    shape_ok = array.ndim == 3 and array.shape[2] == 2 and 0 not in array.shape
    if not shape_ok or array.dtype.kind not in "iuf":
        raise ValueError(
            f"{where}: flow must be a non-empty (H, W, 2) real numeric array,"
            f" got {_describe(array)}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        flow32 = np.array(array, dtype=np.float32, order="C")
    known = np.isfinite(flow32).all(axis=2)
    if valid is not None:
        mask = np.asarray(valid)
        if mask.dtype != np.bool_ or mask.shape != known.shape:
            raise ValueError(
                f"{where}: valid must be None or a bool array of shape {known.shape},"
                f" got {_describe(mask)}"
            )
        known &= mask
    return flow32, known


def with_unknown_zeroed(flow: np.ndarray, valid: np.ndarray) -> FlowAndValid:
    """Set both components of every pixel where ``valid`` is False to ``0.0``, in place.

    Shape:
        flow: ``(H, W, 2)`` float32; valid: ``(H, W)`` bool. Both are returned.
    """
    flow[~valid] = 0.0
    return flow, valid
