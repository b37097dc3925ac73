"""Evaluation metrics for dense optical flow."""

from flowinpaint.eval.metrics import angular_error, epe, epe_map, fl_all

__all__ = ["angular_error", "epe", "epe_map", "fl_all"]
