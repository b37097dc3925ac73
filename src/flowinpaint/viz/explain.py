"""Pictures of what a neuroexplicit model predicts: eigenvalues, eigenvector directions and alpha.

The pictures show the diffusion tensors the solver actually uses (on each level's dual grid, one
value per 2x2 cell of pixels), decomposed in closed form: ``mu1 >= mu2`` and the unit eigenvector
``v`` of ``mu1`` (diffusion is strongest along ``v``, weakest along ``v_perp``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..diffusion.structure import dominant_eigen
from ..models import NeuroexplicitInpainting

__all__ = ["LevelExplanation", "explain_levels", "explanation_figure"]

LevelExplanation = dict[str, np.ndarray]


def explain_levels(model: NeuroexplicitInpainting, image: np.ndarray) -> list[LevelExplanation]:
    """The per-level parameters the model predicts for ``image``, coarse to fine.

    Args:
        image: ``(H, W, 3)`` float RGB in [0, 1].

    Returns:
        One dict per level with ``mu1``, ``mu2``, ``alpha`` ``(h - 1, w - 1)`` and ``v``
        ``(h - 1, w - 1, 2)`` (x, y components; y points down), ``h, w`` the level's size.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        levels = model.diffusion_levels(tensor)
    explained = []
    for level in levels:
        v, mu1, mu2 = dominant_eigen(level.tensor)
        explained.append({
            "mu1": mu1[0, 0].float().numpy(),
            "mu2": mu2[0, 0].float().numpy(),
            "alpha": level.alpha[0, 0].float().numpy(),
            "v": v[0].permute(1, 2, 0).float().numpy(),
        })
    return explained


def _direction_picture(v: np.ndarray, anisotropy: np.ndarray) -> np.ndarray:
    """Orientation of ``v`` (mod 180 degrees) as hue, anisotropy ``mu1 - mu2`` as brightness."""
    from matplotlib.colors import hsv_to_rgb

    angle = np.mod(np.arctan2(v[..., 1], v[..., 0]), np.pi) / np.pi
    hsv = np.stack([angle, np.ones_like(angle), np.clip(anisotropy, 0.0, 1.0)], axis=-1)
    return hsv_to_rgb(hsv)


def explanation_figure(image: np.ndarray, levels: list[LevelExplanation], contrast: float) -> Any:
    """A matplotlib figure: one row per level (coarse to fine), columns image, mu1, mu2, direction, alpha."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(levels)
    height, width = image.shape[:2]
    figure, axes = plt.subplots(rows, 5, figsize=(15, 3.0 * rows * height / width + 0.8), squeeze=False)
    for row, level in enumerate(levels):
        scale = 2 ** (rows - 1 - row)
        quantities = [
            (image, None, f"1/{scale}: image" if scale > 1 else "full: image", {}),
            (level["mu1"], "viridis", "mu1 (largest eigenvalue)", {"vmin": 0, "vmax": 1}),
            (level["mu2"], "viridis", "mu2 (smallest eigenvalue)", {"vmin": 0, "vmax": 1}),
            (_direction_picture(level["v"], level["mu1"] - level["mu2"]), None, "direction of v (hue), mu1-mu2 (brightness)", {}),
            (level["alpha"], "magma", "alpha", {"vmin": 0, "vmax": 0.5}),
        ]
        for axis, (picture, cmap, title, limits) in zip(axes[row], quantities):
            shown = axis.imshow(picture, cmap=cmap, interpolation="nearest", **limits)
            axis.set_title(title, fontsize=9)
            axis.set_axis_off()
            if cmap is not None:
                figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.02)
    figure.suptitle(f"learned diffusion per pyramid level (Perona-Malik contrast {contrast:.3g})", fontsize=11)
    figure.tight_layout()
    return figure
