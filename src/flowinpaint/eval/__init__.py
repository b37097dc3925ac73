"""Evaluation metrics for dense optical flow, and the benchmark runner.

The runner (:func:`evaluate`, :class:`EvalConfig`, from :mod:`.runner`), the report
(:func:`write_report`) and the figures (:func:`write_figures`) are imported on first use, so
importing the metrics stays light.
"""

from typing import Any

from flowinpaint.eval.metrics import angular_error, epe, epe_map, fl_all

__all__ = ["EvalConfig", "angular_error", "epe", "epe_map", "evaluate", "fl_all", "write_figures", "write_report"]

_LAZY = {"EvalConfig": "runner", "evaluate": "runner", "write_report": "report", "write_figures": "figures"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"flowinpaint.eval.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
