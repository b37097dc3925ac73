"""``flowinpaint explain``: picture the diffusion a neuroexplicit model predicts for an image."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

import numpy as np

from .common import create_folder, output_folder


def _cmd_explain(args: argparse.Namespace) -> int:
    from ..io import read_image
    from ..io._atomic import atomic_write_bytes
    from ..methods.validation import as_float_image
    from ..models.pretrained import load_model
    from ..viz.explain import explain_levels, explanation_figure

    image = read_image(args.image)
    image = as_float_image(image, image.shape[:2])
    model = load_model(args.model)
    if min(image.shape[:2]) < model.min_side:
        side = model.min_side
        raise ValueError(f"{args.image}: the model needs at least {side}x{side} pixels, got {image.shape[0]}x{image.shape[1]}")
    out = output_folder(args.out)
    levels = explain_levels(model, image)
    contrast = float(model.contrast.detach())
    figure = explanation_figure(image, levels, contrast)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=args.dpi)
    summary = {
        "model": args.model,
        "contrast": contrast,
        "levels_coarse_to_fine": [
            {name: {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}
             for name, values in level.items() if name != "v"}
            for level in levels
        ],
    }
    create_folder(out)
    atomic_write_bytes(out / "explain.png", buffer.getvalue())
    atomic_write_bytes(out / "parameters.json", (json.dumps(summary, indent=2) + "\n").encode())
    np.savez_compressed(buffer := io.BytesIO(), **{f"level{i}_{name}": value for i, level in enumerate(levels) for name, value in level.items()})
    atomic_write_bytes(out / "parameters.npz", buffer.getvalue())
    print(f"wrote {out / 'explain.png'}, {out / 'parameters.json'} and {out / 'parameters.npz'} ({len(levels)} levels)")
    return 0


def register(commands: Any, names: str) -> None:
    """Add the command to ``commands`` (the subparsers)."""
    explain = commands.add_parser(
        "explain",
        help="picture the learned diffusion tensors and alpha for an image",
        description="Run a neuroexplicit model's tensor network on IMAGE and write DIR/explain.png (per pyramid "
        "level: eigenvalues mu1 >= mu2, the direction of strongest diffusion, alpha), DIR/parameters.json "
        "(contrast and per-level statistics) and DIR/parameters.npz (the arrays).",
    )
    explain.add_argument("--image", required=True, help="reference image (PNG, JPEG, ...)")
    explain.add_argument("--out", required=True, metavar="DIR", help="output folder")
    explain.add_argument("--model", default="default", help="shipped model name or weights file (default: default)")
    explain.add_argument("--dpi", type=int, default=100, help="resolution of explain.png (default: 100)")
    explain.set_defaults(handler=_cmd_explain)
