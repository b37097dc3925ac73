"""Tests for flowinpaint.eval.metrics: known values, masking, torch input, error cases."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from flowinpaint.eval import angular_error, epe, epe_map, fl_all

MaskedMetric = Callable[..., float]
MASKED_METRICS = [epe, fl_all, angular_error]


def _flow(*vectors: tuple[float, float]) -> np.ndarray:
    """A (1, N, 2) float64 flow holding the given (u, v) vectors in a row."""
    return np.array([vectors], dtype=np.float64)


# --- known values -----------------------------------------------------------------------


def test_epe_constant_offset_is_five() -> None:
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(6, 7, 2))
    pred = gt + np.array([3.0, 4.0])
    assert epe(pred, gt) == pytest.approx(5.0, abs=1e-12)


def test_epe_map_values_shape_and_dtype() -> None:
    gt = np.zeros((2, 3, 2))
    pred = np.zeros((2, 3, 2))
    pred[0, 1] = (3.0, 4.0)
    pred[1, 2] = (-1.0, 0.0)
    out = epe_map(pred, gt)
    assert out.shape == (2, 3)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.0, 5.0, 0.0], [0.0, 0.0, 1.0]])


def test_epe_map_propagates_nan() -> None:
    gt = np.zeros((1, 2, 2))
    gt[0, 0, 1] = np.nan
    out = epe_map(np.zeros((1, 2, 2)), gt)
    assert np.isnan(out[0, 0]) and out[0, 1] == 0.0


@pytest.mark.parametrize(
    ("offset", "outlier"),
    [
        (3.0, False),  # EPE exactly 3 px: not > 3
        (3.0 - 1e-9, False),
        (3.0 + 1e-9, True),
    ],
)
def test_fl_all_absolute_threshold(offset: float, outlier: bool) -> None:
    # |gt| = 10, so the relative test (EPE > 0.5) always passes; only the 3 px test decides.
    gt = _flow((10.0, 0.0))
    pred = _flow((10.0 + offset, 0.0))
    assert fl_all(pred, gt) == (100.0 if outlier else 0.0)


@pytest.mark.parametrize(
    ("offset", "outlier"),
    [
        (5.0, False),  # EPE exactly 5 % of |gt| = 100: not > 5 %
        (5.0 - 1e-9, False),
        (5.0 + 1e-9, True),
    ],
)
def test_fl_all_relative_threshold(offset: float, outlier: bool) -> None:
    # EPE ~ 5 > 3 px always; only the 5 % test decides.
    gt = _flow((0.0, 100.0))
    pred = _flow((0.0, 100.0 + offset))
    assert fl_all(pred, gt) == (100.0 if outlier else 0.0)


def test_fl_all_pools_pixels_and_zero_gt_counts_as_relative_outlier() -> None:
    gt = _flow((0.0, 0.0), (10.0, 0.0), (100.0, 0.0), (1.0, 1.0))
    pred = _flow((3.5, 0.0), (12.0, 0.0), (104.0, 0.0), (1.0, 1.0))
    # EPE 3.5 at |gt| 0 -> outlier; 2 -> no; 4 < 5 % of 100 -> no; 0 -> no.
    assert fl_all(pred, gt) == pytest.approx(25.0)


def test_angular_error_identical_flows_is_zero() -> None:
    rng = np.random.default_rng(1)
    flow = rng.normal(scale=5.0, size=(5, 5, 2))
    assert angular_error(flow, flow) == pytest.approx(0.0, abs=1e-5)
    assert angular_error(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))) == 0.0


def test_angular_error_hand_computed() -> None:
    # (1, 0) vs (0, 1): (1 + 0) / (sqrt(2) * sqrt(2)) = 1/2 -> arccos = 60 degrees.
    assert angular_error(_flow((1.0, 0.0)), _flow((0.0, 1.0))) == pytest.approx(60.0)
    # (0, 0) vs (1, 0): 1 / (1 * sqrt(2)) -> 45 degrees; mean with the 60 degree pixel = 52.5.
    pred = _flow((1.0, 0.0), (0.0, 0.0))
    gt = _flow((0.0, 1.0), (1.0, 0.0))
    assert angular_error(pred, gt) == pytest.approx(52.5)


def test_angular_error_is_direction_symmetric_and_bounded() -> None:
    pred, gt = _flow((1e6, 0.0)), _flow((-1e6, 0.0))
    assert angular_error(pred, gt) == pytest.approx(180.0, abs=1e-3)
    assert angular_error(pred, gt) == angular_error(gt, pred)


# --- valid masking ----------------------------------------------------------------------


def test_valid_mask_selects_pixels() -> None:
    gt = np.zeros((1, 3, 2))
    pred = _flow((1.0, 0.0), (0.0, 3.0), (0.0, 8.0))
    assert epe(pred, gt) == pytest.approx(4.0)
    assert epe(pred, gt, np.array([[True, True, False]])) == pytest.approx(2.0)
    assert epe(pred, gt, np.array([[False, True, False]])) == pytest.approx(3.0)
    assert fl_all(pred, gt, np.array([[True, False, True]])) == pytest.approx(50.0)


def test_valid_none_excludes_unknown_gt() -> None:
    gt = _flow((0.0, 0.0), (np.nan, 0.0), (0.0, np.inf), (1e10, 1e10))
    pred = _flow((2.0, 0.0), (100.0, 0.0), (100.0, 0.0), (0.0, 0.0))
    assert epe(pred, gt) == pytest.approx(2.0)


def test_non_finite_pred_outside_valid_is_ignored() -> None:
    gt = np.zeros((1, 2, 2))
    pred = _flow((1.0, 0.0), (np.nan, np.inf))
    assert epe(pred, gt, np.array([[True, False]])) == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(
    pred=arrays(np.float64, (3, 4, 2), elements=st.floats(-50, 50)),
    gt=arrays(np.float64, (3, 4, 2), elements=st.floats(-50, 50)),
    valid=arrays(np.bool_, (3, 4)).filter(np.any),
)
def test_metric_properties(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> None:
    assert epe(pred, gt, valid) == pytest.approx(float(np.mean(epe_map(pred, gt)[valid])), rel=1e-6)
    assert epe(pred, gt, valid) == pytest.approx(epe(gt, pred, valid))
    assert 0.0 <= fl_all(pred, gt, valid) <= 100.0
    assert 0.0 <= angular_error(pred, gt, valid) <= 180.0


# --- torch input ------------------------------------------------------------------------


def test_torch_inputs_match_numpy() -> None:
    rng = np.random.default_rng(2)
    gt = rng.normal(scale=4.0, size=(4, 5, 2))
    pred = gt + rng.normal(scale=4.0, size=(4, 5, 2))
    valid = rng.random((4, 5)) > 0.3
    pred_t = torch.from_numpy(pred).float().requires_grad_(True)
    gt_t = torch.from_numpy(gt).float()
    valid_t = torch.from_numpy(valid)
    pred32, gt32 = pred.astype(np.float32), gt.astype(np.float32)
    for metric in MASKED_METRICS:
        assert metric(pred_t, gt_t, valid_t) == metric(pred32, gt32, valid)
    np.testing.assert_array_equal(epe_map(pred_t, gt_t), epe_map(pred32, gt32))


# --- error cases ------------------------------------------------------------------------


@pytest.mark.parametrize("metric", MASKED_METRICS)
@pytest.mark.parametrize(
    ("pred", "gt", "valid", "match"),
    [
        (np.zeros((4, 5, 2)), np.zeros((5, 4, 2)), None, r"same shape.*\(4, 5, 2\).*\(5, 4, 2\)"),
        (np.zeros((4, 5, 3)), np.zeros((4, 5, 3)), None, r"pred must have shape \(H, W, 2\).*"),
        (np.zeros((4, 5, 2)), np.zeros((2, 4, 5)), None, r"gt must have shape \(H, W, 2\)"),
        (np.zeros((4, 5, 2)), np.zeros((4, 5, 2)), np.ones((5, 4), bool), r"shape \(4, 5\).*"),
        (np.zeros((4, 5, 2)), np.zeros((4, 5, 2)), np.ones((4, 5), np.uint8), r"bool.*uint8"),
        (np.zeros((4, 5, 2)), np.zeros((4, 5, 2)), np.zeros((4, 5), bool), "no valid pixels"),
        (np.zeros((4, 5, 2)), np.full((4, 5, 2), np.nan), None, "no valid pixels"),
        (np.zeros((4, 5, 2), bool), np.zeros((4, 5, 2)), None, r"real numbers.*bool"),
    ],
)
def test_invalid_inputs_raise(
    metric: MaskedMetric, pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        metric(pred, gt, valid)


@pytest.mark.parametrize("metric", MASKED_METRICS)
def test_non_finite_pred_at_valid_pixels_names_count(metric: MaskedMetric) -> None:
    pred = np.zeros((3, 3, 2))
    pred[0, 0, 0] = np.nan
    pred[2, 1, 1] = -np.inf
    with pytest.raises(ValueError, match=r"pred must be finite.*got 2 of 9"):
        metric(pred, np.zeros((3, 3, 2)))


@pytest.mark.parametrize("metric", MASKED_METRICS)
def test_unknown_gt_at_explicit_valid_pixel_raises(metric: MaskedMetric) -> None:
    gt = np.zeros((2, 2, 2))
    gt[1, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"gt must be finite.*got 1 valid pixel"):
        metric(np.zeros((2, 2, 2)), gt, np.ones((2, 2), bool))


def test_epe_map_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="same shape"):
        epe_map(np.zeros((2, 2, 2)), np.zeros((2, 3, 2)))


def test_metrics_return_python_float() -> None:
    for metric in MASKED_METRICS:
        assert type(metric(np.ones((2, 2, 2)), np.zeros((2, 2, 2)))) is float
    assert math.isclose(epe(np.ones((2, 2, 2)), np.zeros((2, 2, 2))), math.sqrt(2.0))
