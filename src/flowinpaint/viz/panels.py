"""Side-by-side pictures: captioned rows of equally tall panels, and sparse flow made visible."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .color import flow_to_color

__all__ = ["panel_grid", "panel_row", "sparse_to_color"]

_GAP = 4


def panel_row(panels: Sequence[tuple[np.ndarray, str]]) -> np.ndarray:
    """Panels side by side, each with its caption on a white strip above it.

    Shape:
        each panel ``(H, W_i, 3)`` uint8 RGB (same H); returns ``(H + caption, sum W_i + gaps, 3)``.
    """
    height = panels[0][0].shape[0]
    width = max(panel.shape[1] for panel, _ in panels)
    font_scale = float(np.clip(width / 512 * 0.6, 0.3, 0.6))
    (_, text_height), baseline = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
    strip_height = text_height + baseline + 8
    gap = np.full((height + strip_height, _GAP, 3), 255, np.uint8)
    columns = []
    for index, (panel, caption) in enumerate(panels):
        strip = np.full((strip_height, panel.shape[1], 3), 255, np.uint8)
        cv2.putText(strip, caption, (4, strip_height - baseline - 4), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
        columns += ([gap] if index else []) + [np.concatenate([strip, panel], axis=0)]
    return np.concatenate(columns, axis=1)


def panel_grid(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Rows from :func:`panel_row` stacked with white gaps (rows padded to the widest)."""
    width = max(row.shape[1] for row in rows)
    padded = [np.pad(row, ((0, _GAP), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    return np.concatenate(padded, axis=0)[:-_GAP]


def sparse_to_color(flow: np.ndarray, known: np.ndarray, max_flow: float) -> np.ndarray:
    """Colour-coded known pixels on black, each grown to a 3x3 dot so sparse data stay visible.

    Shape:
        flow ``(H, W, 2)``, known ``(H, W)`` bool; returns ``(H, W, 3)`` uint8 RGB.
    """
    color = flow_to_color(flow, max_flow, valid=known)
    # Every pixel takes the colour of the nearest known pixel within one step (3x3 neighbourhood).
    distance, labels = cv2.distanceTransformWithLabels(
        (~known).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    rows, columns = np.nonzero(known)
    order = np.zeros(labels.max() + 1, dtype=np.int64)
    order[labels[known]] = np.arange(len(rows))
    nearest = order[labels]
    grown = color[rows[nearest], columns[nearest]]
    return np.where((distance <= 1.5)[..., None], grown, 0).astype(np.uint8)
