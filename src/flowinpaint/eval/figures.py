"""Figures of an evaluation folder: ``error_vs_density.png`` and ``qualitative.png``.

Both are built from what :func:`flowinpaint.eval.evaluate` leaves in the folder (``results.json``
and ``qualitative/``), so they can be regenerated without rerunning anything. Matplotlib is used
through its Agg canvas directly, without touching the global backend.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..io._atomic import atomic_write_bytes
from .report import _order, aggregate

__all__ = ["error_vs_density", "qualitative", "write_figures"]

_MAX_PANEL_WIDTH = 256


def qualitative_path(folder: Path, index: int, method: str) -> Path:
    """The kept dense flow of sample ``index`` by ``method`` (a name or a spec) in ``folder``."""
    safe = re.sub(r"[^A-Za-z0-9_.=-]", "_", method)
    return Path(folder) / f"sample{index}_{safe}.npy"


def error_vs_density(results: dict[str, Any], path: str | Path) -> Path | None:
    """Mean EPE (all valid pixels) against density, one line per method, log x; None if empty."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    table = aggregate(results)
    methods, densities = _order(results, table)
    if not methods:
        return None
    figure = Figure(figsize=(6.4, 4.4), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for method in methods:
        points = [(d, table[(method, d)]["epe"]) for d in densities
                  if (method, d) in table and table[(method, d)]["epe"] is not None]
        if points:
            xs, ys = zip(*points)
            axes.plot([100 * x for x in xs], ys, marker="o", label=method)
    axes.set_xscale("log")
    axes.set_xlabel("known pixels (density), %")
    axes.set_ylabel("mean EPE, px (all valid pixels)")
    axes.set_title(f"{results.get('config', {}).get('dataset', '')}: error vs density")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def qualitative(results: dict[str, Any], folder: str | Path, path: str | Path) -> Path | None:
    """For up to 3 samples at the middle density: frame 1, GT, known pixels, then per method its flow
    (top row) and error map (bottom row, one error scale per sample). None if nothing was kept."""
    import cv2
    from matplotlib import colormaps

    from ..io import write_image
    from ..viz import flow_to_color
    from ..viz.panels import panel_grid, panel_row, sparse_to_color
    from .metrics import epe, epe_map

    folder = Path(folder)
    table = aggregate(results)
    methods, densities = _order(results, table)
    if not densities:
        return None
    rows = []
    for input_path in sorted(folder.glob("sample*_input.npz"), key=lambda p: int(p.name[6:].split("_")[0])):
        index = int(input_path.name[6:].split("_")[0])
        data = np.load(input_path)
        truth, valid, known = data["flow"], data["valid"], data["known"]
        flows = {m: np.load(qualitative_path(folder, index, m)).astype(np.float32)
                 for m in methods if qualitative_path(folder, index, m).exists()}
        if not flows:
            continue
        width = truth.shape[1]
        scale = min(1.0, _MAX_PANEL_WIDTH / width)

        def shown(picture: np.ndarray, scale: float = scale) -> np.ndarray:
            return cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else picture

        magnitude = np.sqrt((np.where(valid[..., None], truth, 0.0) ** 2).sum(axis=2))
        max_flow = float(magnitude.max()) + 1e-5
        errors = {m: np.where(valid, epe_map(f, np.where(valid[..., None], truth, 0.0)), 0.0) for m, f in flows.items()}
        top = max(max(float(np.percentile(e[valid], 99)) for e in errors.values()), 1e-3) if valid.any() else 1.0
        image = data["image1"]
        image = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
        blank = np.full_like(shown(image), 255)
        first = [(shown(image), str(data["id"])[-28:]),
                 (shown(flow_to_color(truth, max_flow, valid=valid)), "ground truth"),
                 (shown(sparse_to_color(truth, known & valid, max_flow)), f"known {100 * known.mean():.2f}%")]
        second = [(blank, ""), (blank, ""), (blank, f"error 0-{top:.2f} px")]
        for method, flow in flows.items():
            value = epe(flow, truth, valid) if valid.any() else float("nan")
            first.append((shown(flow_to_color(flow, max_flow)), f"{method}: EPE {value:.2f}"))
            heat = (colormaps["inferno"](np.clip(errors[method] / top, 0, 1))[..., :3] * 255).astype(np.uint8)
            second.append((shown(heat), f"{method} error"))
        rows += [panel_row(first), panel_row(second)]
    if not rows:
        return None
    write_image(path, panel_grid(rows))
    return Path(path)


def write_figures(out: str | Path) -> list[Path]:
    """Write the figures of the evaluation folder ``out``; returns the paths written."""
    folder = Path(out)
    results = json.loads((folder / "results.json").read_text())
    written = [error_vs_density(results, folder / "error_vs_density.png"),
               qualitative(results, folder / "qualitative", folder / "qualitative.png")]
    return [path for path in written if path is not None]
