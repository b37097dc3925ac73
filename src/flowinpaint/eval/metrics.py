"""Optical-flow error metrics: end-point error, KITTI Fl-all and angular error.

All metrics take a predicted and a ground-truth flow of shape ``(H, W, 2)`` holding
``(u, v)`` in pixels (``u`` along x / columns, ``v`` along y / rows, downward) and an
optional ``(H, W)`` bool mask ``valid`` (True = ground truth known). Inputs may be numpy
arrays, array-likes or torch tensors (any device; they are detached and copied to the CPU).
Every metric is computed in float64.

Validity rules, shared by all metrics:

- ``valid=None`` selects every pixel whose ground truth is *known*: both components finite
  and of magnitude at most ``1e9`` (larger values are the Middlebury ``.flo`` "unknown flow"
  marker).
- With an explicit ``valid``, the ground truth must be known at every valid pixel.
- The prediction must be finite at every selected pixel; it may be anything elsewhere.
- An empty selection is an error rather than a silent NaN.

Any violation raises :class:`ValueError` naming what was expected and what was got.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["angular_error", "epe", "epe_map", "fl_all"]

# Ground-truth components above this magnitude mark unknown flow (Middlebury UNKNOWN_FLOW_THRESH).
_UNKNOWN_FLOW_THRESH = 1e9
# KITTI devkit outlier thresholds (ABS_THRESH, REL_THRESH).
_FL_ABS_THRESH_PX = 3.0
_FL_REL_THRESH = 0.05


def _to_numpy(x: Any) -> np.ndarray:
    """Return ``x`` as a numpy array; torch tensors are detached and moved to the CPU.

    Floating tensors are widened to float64 first, so dtypes numpy lacks (bfloat16) work.
    """
    torch = sys.modules.get("torch")  # an object can only be a tensor if torch is imported
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.double()
        return x.numpy()
    return np.asarray(x)


def _as_flow(x: Any, name: str) -> NDArray[np.float64]:
    """Check that ``x`` is a real-valued ``(H, W, 2)`` flow and return it as float64.

    Shape:
        x: ``(H, W, 2)``, channels ``(u, v)`` in pixels.
    """
    arr = _to_numpy(x)
    if arr.dtype.kind not in "fiu":
        raise ValueError(
            f"{name} must hold real numbers (float or integer dtype); got dtype {arr.dtype}"
        )
    if arr.ndim != 3 or arr.shape[2] != 2:
        raise ValueError(
            f"{name} must have shape (H, W, 2) with channels (u, v); got shape {arr.shape}"
        )
    return arr.astype(np.float64, copy=False)


def _as_flow_pair(pred: Any, gt: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate ``pred`` and ``gt`` as flows of exactly the same shape (no broadcasting).

    Shape:
        pred, gt: ``(H, W, 2)``.
    """
    pred_arr = _as_flow(pred, "pred")
    gt_arr = _as_flow(gt, "gt")
    if pred_arr.shape != gt_arr.shape:
        raise ValueError(
            f"pred and gt must have the same shape; got pred {pred_arr.shape} and gt {gt_arr.shape}"
        )
    return pred_arr, gt_arr


def _valid_pixels(
    pred: Any, gt: Any, valid: Any | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate the inputs of a masked metric and return the selected pixels.

    Applies the validity rules of the module docstring.

    Shape:
        pred, gt: ``(H, W, 2)``; valid: ``(H, W)`` bool or None.
        Returns ``(pred_px, gt_px)``, each ``(N, 2)`` float64, N >= 1 selected pixels.
    """
    pred_arr, gt_arr = _as_flow_pair(pred, gt)
    gt_known = np.all(np.abs(gt_arr) <= _UNKNOWN_FLOW_THRESH, axis=-1)  # False for NaN too
    if valid is None:
        mask = gt_known
    else:
        mask = _to_numpy(valid)
        expected = gt_arr.shape[:2]
        if mask.dtype != np.bool_ or mask.shape != expected:
            raise ValueError(
                f"valid must be a bool array of shape {expected} (H, W of the flows); got "
                f"dtype {mask.dtype} and shape {mask.shape}; convert a 0/1 mask with valid > 0"
            )
        n_unknown = int(np.count_nonzero(mask & ~gt_known))
        if n_unknown:
            raise ValueError(
                f"gt must be finite with |component| <= {_UNKNOWN_FLOW_THRESH:g} at valid pixels;"
                f" got {n_unknown} valid pixel(s) with NaN, inf or unknown-flow markers"
            )
    if not mask.any():
        raise ValueError(
            f"no valid pixels to evaluate: expected at least one pixel that is valid and has "
            f"known gt; got 0 of {mask.size}"
        )
    pred_px = pred_arr[mask]
    n_bad_pred = int(np.count_nonzero(~np.isfinite(pred_px).all(axis=-1)))
    if n_bad_pred:
        raise ValueError(
            f"pred must be finite at valid pixels; got {n_bad_pred} of {len(pred_px)} valid "
            f"pixel(s) with NaN or inf"
        )
    return pred_px, gt_arr[mask]


def _endpoint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-pixel Euclidean distance between flow vectors, in pixels.

    Shape:
        pred, gt: ``(..., 2)``; returns ``(...)``.
    """
    return np.sqrt(np.sum((pred - gt) ** 2, axis=-1))


def epe_map(pred: Any, gt: Any) -> NDArray[np.float32]:
    """Per-pixel end-point error ``sqrt((u - u_gt)^2 + (v - v_gt)^2)``.

    No pixels are excluded: NaN or inf in either input propagates to that pixel.

    Args:
        pred: Predicted flow ``(u, v)`` in pixels.
        gt: Ground-truth flow ``(u, v)`` in pixels.

    Returns:
        End-point error in pixels, computed in float64 and returned as float32.

    Shape:
        pred, gt: ``(H, W, 2)``; returns ``(H, W)``.

    Raises:
        ValueError: If the shapes are not ``(H, W, 2)`` or differ.
    """
    pred_arr, gt_arr = _as_flow_pair(pred, gt)
    return _endpoint_errors(pred_arr, gt_arr).astype(np.float32)


def epe(pred: Any, gt: Any, valid: Any | None = None) -> float:
    """Mean end-point error over the valid pixels of one image, in pixels.

    The mean is taken per pixel within this image. For a dataset, Sintel, FlyingChairs and
    FlyingThings3D results pool the pixels of all images (weight images by their valid-pixel
    count), whereas KITTI numbers in RAFT / torchvision papers usually average this per-image
    value over images.

    Args:
        pred: Predicted flow ``(u, v)`` in pixels.
        gt: Ground-truth flow ``(u, v)`` in pixels.
        valid: True where the ground truth is known; None selects every pixel with known gt
            (finite, ``|component| <= 1e9``).

    Returns:
        Mean of ``sqrt((u - u_gt)^2 + (v - v_gt)^2)`` over the valid pixels, in pixels.

    Shape:
        pred, gt: ``(H, W, 2)``; valid: ``(H, W)`` bool.

    Raises:
        ValueError: On a shape or dtype mismatch, no valid pixels, unknown gt at a valid pixel
            or non-finite pred at a valid pixel.
    """
    pred_px, gt_px = _valid_pixels(pred, gt, valid)
    return float(np.mean(_endpoint_errors(pred_px, gt_px)))


def fl_all(pred: Any, gt: Any, valid: Any | None = None) -> float:
    """KITTI Fl-all: percentage of outlier pixels among the valid pixels.

    A pixel is an outlier when its end-point error exceeds both 3 px and 5 % of the
    ground-truth magnitude: ``EPE > 3 and EPE > 0.05 * |gt|`` (KITTI devkit ``ABS_THRESH``,
    ``REL_THRESH``; both comparisons strict). The rate pools the valid pixels of this image;
    for a dataset, pool outlier and pixel counts over images, as RAFT and the devkit do.

    Args:
        pred: Predicted flow ``(u, v)`` in pixels.
        gt: Ground-truth flow ``(u, v)`` in pixels.
        valid: True where the ground truth is known; None selects every pixel with known gt.

    Returns:
        Outlier rate in percent, in ``[0, 100]``.

    Shape:
        pred, gt: ``(H, W, 2)``; valid: ``(H, W)`` bool.

    Raises:
        ValueError: As for :func:`epe`.
    """
    pred_px, gt_px = _valid_pixels(pred, gt, valid)
    err = _endpoint_errors(pred_px, gt_px)
    gt_mag = np.sqrt(np.sum(gt_px**2, axis=-1))
    outlier = (err > _FL_ABS_THRESH_PX) & (err > _FL_REL_THRESH * gt_mag)
    return float(100.0 * np.mean(outlier))


def angular_error(pred: Any, gt: Any, valid: Any | None = None) -> float:
    """Mean angular error (Barron et al. 1994; Baker et al. 2011), in degrees.

    Per pixel, the angle between the space-time vectors ``(u, v, 1)`` and
    ``(u_gt, v_gt, 1)``:
    ``arccos((1 + u*u_gt + v*v_gt) / (sqrt(1 + u^2 + v^2) * sqrt(1 + u_gt^2 + v_gt^2)))``,
    with the argument clipped to ``[-1, 1]``, averaged over the valid pixels.

    Args:
        pred: Predicted flow ``(u, v)`` in pixels.
        gt: Ground-truth flow ``(u, v)`` in pixels.
        valid: True where the ground truth is known; None selects every pixel with known gt.

    Returns:
        Mean angular error in degrees, in ``[0, 180)``.

    Shape:
        pred, gt: ``(H, W, 2)``; valid: ``(H, W)`` bool.

    Raises:
        ValueError: As for :func:`epe`.
    """
    pred_px, gt_px = _valid_pixels(pred, gt, valid)
    dot = 1.0 + np.sum(pred_px * gt_px, axis=-1)
    norms = np.sqrt(1.0 + np.sum(pred_px**2, axis=-1)) * np.sqrt(1.0 + np.sum(gt_px**2, axis=-1))
    cos = np.clip(dot / norms, -1.0, 1.0)
    return float(np.degrees(np.mean(np.arccos(cos))))
