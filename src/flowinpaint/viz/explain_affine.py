"""Pictures of what the default method (``neuroaffine``) decides and fits for one sparse flow.

Row 1: which known values it trusted (by which test), doubted and dropped, the sparse input, the
edge-aware affine base, the filled residual and the output. Row 2: the local motion model's
divergence (zoom) and curl (rotation), the fit's misfit and support, and the output confidence.
Row 3, with the trust classifier (the default judge): the probability it gives each known value
of being right, and the first affine fit (of the values that pass the neighbour test, whose flow
guides the refinement). Next row, with a learned guide (option ``guide``): what the network steers, the filter's cost of
crossing each pixel with the image as guide and with the learned guide, their ratio (the learned
gain: below 1 the fit reaches further, above 1 it stops sooner) and the learned edge channel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..methods.neuroaffine import Explanation
from .color import flow_to_color
from .panels import sparse_to_color

__all__ = ["DECISION_COLOURS", "affine_explanation_figure", "affine_summary", "decision_picture", "edge_cost",
           "motion_derivatives", "trust_picture"]

DECISION_COLOURS = {  # RGB in [0, 1]
    "agreeing": (0.1, 0.8, 0.2),
    "mutual": (0.1, 0.7, 1.0),
    "rescued": (1.0, 0.85, 0.0),
    "doubted": (1.0, 0.45, 0.0),
    "dropped": (1.0, 0.1, 0.1),
}


def _decisions(parts: Explanation) -> dict[str, np.ndarray]:
    """Each known pixel's decision, one mask per decision (they do not overlap)."""
    return {"agreeing": parts.agreeing & parts.kept, "mutual": parts.mutual & parts.kept,
            "rescued": parts.rescued & parts.kept, "doubted": parts.doubted,
            "dropped": parts.known & ~parts.kept & ~parts.doubted}


def decision_picture(image: np.ndarray, parts: Explanation) -> np.ndarray:
    """The image, dimmed, with every known pixel (grown to 3x3) in the colour of its decision.

    Shape:
        image ``(H, W, 3)`` float in [0, 1]; returns ``(H, W, 3)`` float in [0, 1].
    """
    import cv2

    picture = 0.35 * image.astype(np.float32)
    kernel = np.ones((3, 3), np.uint8)
    for name, where in _decisions(parts).items():  # later decisions drawn over earlier ones
        grown = cv2.dilate(where.astype(np.uint8), kernel) > 0
        picture[grown] = DECISION_COLOURS[name]
    return picture


def trust_picture(image: np.ndarray, parts: Explanation) -> np.ndarray:
    """The image, dimmed, with every known pixel (grown to 3x3) coloured by the trust classifier's
    probability that its value is right (viridis: dark violet 0, yellow 1).

    Shape:
        image ``(H, W, 3)`` float in [0, 1]; returns ``(H, W, 3)`` float in [0, 1].
    """
    import cv2
    from matplotlib import colormaps

    picture = 0.35 * image.astype(np.float32)
    if parts.trust is None:
        return picture
    grown = cv2.dilate(parts.known.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # each grown pixel takes the largest probability around it: spread by a grey dilation
    spread = cv2.dilate(np.where(parts.known, parts.trust + 1.0, 0.0).astype(np.float32), np.ones((3, 3), np.uint8)) - 1.0
    picture[grown] = colormaps["viridis"](np.clip(spread[grown], 0, 1))[:, :3]
    return picture


def motion_derivatives(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divergence ``du/dx + dv/dy`` and curl ``dv/dx - du/dy`` of a flow, in 1/pixel (central differences).

    Shape:
        flow ``(H, W, 2)``; returns two ``(H, W)`` float32 arrays.
    """
    du_dy, du_dx = np.gradient(flow[..., 0].astype(np.float64))
    dv_dy, dv_dx = np.gradient(flow[..., 1].astype(np.float64))
    return (du_dx + dv_dy).astype(np.float32), (dv_dx - du_dy).astype(np.float32)


def edge_cost(guide: np.ndarray) -> np.ndarray:
    """The domain transform's cost of crossing each pixel: the L1 differences of the guide's
    channels to the next pixel along the row and along the column, summed (0 on a flat guide).

    Shape:
        guide ``(H, W, C)`` float; returns ``(H, W)`` float32.
    """
    guide = guide.astype(np.float32)
    cost = np.zeros(guide.shape[:2], np.float32)
    cost[:, :-1] += np.abs(np.diff(guide, axis=1)).sum(axis=-1)
    cost[:-1] += np.abs(np.diff(guide, axis=0)).sum(axis=-1)
    return cost


def _guide_row(image: np.ndarray, parts: Explanation) -> list[tuple[np.ndarray, str | None, str, dict[str, Any]]]:
    """The panels of what a learned guide changes (see the module's text)."""
    hand_made, learned = edge_cost(image), edge_cost(parts.guide)
    top = max(float(np.percentile(hand_made, 99)), 1e-6)
    ratio = np.log2((learned + 0.01 * top) / (hand_made + 0.01 * top))
    edge = parts.guide[..., 3]
    edge_span = max(float(np.abs(edge).max()), 1e-6)
    return [(hand_made, "magma", "edge cost, image as guide", {"vmin": 0, "vmax": top}),
            (learned, "magma", "edge cost, learned guide", {"vmin": 0, "vmax": top}),
            (ratio, "coolwarm", "log2 learned / image cost (the gain)", {"vmin": -3, "vmax": 3}),
            (edge, "coolwarm", "learned edge channel", {"vmin": -edge_span, "vmax": edge_span})]


def affine_summary(parts: Explanation, derivatives: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
    """Counts of each decision and statistics of the fit, for ``parameters.json``
    (``derivatives``: :func:`motion_derivatives` of ``parts.base.flow``, when already computed)."""
    counts = {name: int(where.sum()) for name, where in _decisions(parts).items()}
    divergence, curl = derivatives if derivatives is not None else motion_derivatives(parts.base.flow)
    statistics = {"misfit_px": parts.base.misfit, "support": parts.base.support, "confidence": parts.confidence,
                  "divergence_per_px": divergence, "curl_per_px": curl}
    return {
        "known": int(parts.known.sum()),
        "decisions": counts,
        "spatial_scale_px": parts.spatial_scale,
        "reach_std": parts.reach,
        "statistics": {name: {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}
                       for name, values in statistics.items()},
    }


def affine_explanation_figure(image: np.ndarray, flow: np.ndarray, parts: Explanation,
                              derivatives: tuple[np.ndarray, np.ndarray] | None = None) -> Any:
    """A matplotlib figure of one ``neuroaffine`` run (see the module docstring); ``derivatives``
    as in :func:`affine_summary`.

    Shape:
        image ``(H, W, 3)`` float in [0, 1]; flow ``(H, W, 2)`` the sparse input (values at
        ``parts.known``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    max_flow = max(float(np.linalg.norm(flow[parts.known], axis=-1).max(initial=0.0)), 1e-6)
    divergence, curl = derivatives if derivatives is not None else motion_derivatives(parts.base.flow)
    # the colour range of the smooth motion, not of the jumps at motion edges
    smooth = parts.base.misfit < np.median(parts.base.misfit) + 1e-6
    span = max(float(np.percentile(np.abs(np.concatenate([divergence[smooth], curl[smooth]])), 95)), 1e-6)
    relative_support = parts.base.support / max(float(parts.base.support.mean()), 1e-12)
    residual = np.linalg.norm(parts.residual, axis=-1)
    rows = [
        [(decision_picture(image, parts), None, "known values: kept / doubted / dropped", {}),
         (sparse_to_color(flow, parts.known, max_flow), None, "sparse input", {}),
         (flow_to_color(parts.base.flow, max_flow), None,
          f"edge-aware affine base (scale {parts.spatial_scale:.1f} px, reach {parts.reach:.1f} sd)", {}),
         (residual, "magma", "|filled residual| (px)", {"vmin": 0, "vmax": max(float(np.percentile(residual, 99)), 1e-6)}),
         (flow_to_color(parts.dense, max_flow), None, "output", {})],
        [(divergence, "coolwarm", "divergence of the base (zoom, 1/px)", {"vmin": -span, "vmax": span}),
         (curl, "coolwarm", "curl of the base (rotation, 1/px)", {"vmin": -span, "vmax": span}),
         (parts.base.misfit, "magma", "misfit of the fit (px)", {"vmin": 0, "vmax": max(float(np.percentile(parts.base.misfit, 99)), 1e-6)}),
         (relative_support, "viridis", "support (density of fitted values / mean)", {"vmin": 0, "vmax": 2}),
         (parts.confidence, "viridis", "output confidence", {"vmin": 0, "vmax": 1})],
    ]
    if parts.trust is not None:
        rows.append([(trust_picture(image, parts), None, "trust: P(value is right), viridis 0-1", {}),
                     (flow_to_color(parts.first, max_flow), None, "first fit (values passing the neighbour test)", {})])
    if parts.guide.shape[-1] > image.shape[-1]:
        rows.append(_guide_row(image, parts))
    height, width = image.shape[:2]
    figure, axes = plt.subplots(len(rows), 5, figsize=(17, len(rows) * 3.2 * height / width + 1.2), squeeze=False)
    for axis in axes.flat:
        axis.set_axis_off()
    for axes_row, row in zip(axes, rows):
        for axis, (picture, cmap, title, limits) in zip(axes_row, row):
            shown = axis.imshow(picture, cmap=cmap, interpolation="nearest", **limits)
            axis.set_title(title, fontsize=9)
            axis.set_axis_off()
            if cmap is not None:
                figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.02)
    counts = affine_summary(parts)["decisions"]
    axes[0, 0].legend(handles=[Patch(color=DECISION_COLOURS[name], label=f"{name} {count}") for name, count in counts.items()],
                      loc="lower left", fontsize=7, framealpha=0.8)
    figure.suptitle("neuroaffine: which known values it trusts, the edge-aware affine fit and its residual", fontsize=11)
    figure.tight_layout()
    return figure
