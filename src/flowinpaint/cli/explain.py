"""``flowinpaint explain``: picture the diffusion a neuroexplicit model predicts for an image, or,
given a sparse flow, what the default method (``neuroaffine``) decides and fits for it."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

import numpy as np

from .common import UsageError, create_folder, output_folder, parse_options


def _write_outputs(out: Any, figure: Any, dpi: int, summary: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    from ..io._atomic import atomic_write_bytes

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    create_folder(out)
    atomic_write_bytes(out / "explain.png", buffer.getvalue())
    atomic_write_bytes(out / "parameters.json", (json.dumps(summary, indent=2) + "\n").encode())
    np.savez_compressed(buffer := io.BytesIO(), **arrays)
    atomic_write_bytes(out / "parameters.npz", buffer.getvalue())


def _explain_default_method(args: argparse.Namespace, image: np.ndarray) -> int:
    from ..io import read_flow, read_mask
    from ..methods import build_options, get_method
    from ..methods.neuroaffine import explain
    from ..methods.validation import as_problem
    from ..viz.explain_affine import (
        affine_explanation_figure,
        affine_summary,
        motion_derivatives,
    )

    method = get_method("neuroaffine")
    options = build_options(method, parse_options(method, args.option))
    flow, known = read_flow(args.flow)
    if args.mask:
        mask = read_mask(args.mask)
        if mask.shape != known.shape:
            raise UsageError(f"{args.mask}: the mask is {mask.shape[0]}x{mask.shape[1]} but the flow is {known.shape[0]}x{known.shape[1]}")
        known = known & mask
    if image.shape[:2] != known.shape:
        raise UsageError(f"{args.image}: the image is {image.shape[0]}x{image.shape[1]} but the flow is {known.shape[0]}x{known.shape[1]}")
    out = output_folder(args.out)
    parts = explain(as_problem(flow, known, image, True, method.name), options)
    divergence, curl = derivatives = motion_derivatives(parts.base.flow)
    summary = {"method": method.name, **affine_summary(parts, derivatives)}
    arrays = {"agreeing": parts.agreeing, "mutual": parts.mutual, "rescued": parts.rescued, "kept": parts.kept,
              "doubted": parts.doubted, "base": parts.base.flow, "misfit": parts.base.misfit, "support": parts.base.support,
              "residual": parts.residual, "dense": parts.dense, "confidence": parts.confidence,
              "divergence": divergence, "curl": curl, "guide": parts.guide}
    if parts.trust is not None:
        arrays["trust"] = parts.trust
    _write_outputs(out, affine_explanation_figure(image, flow, parts, derivatives), args.dpi, summary, arrays)
    decisions = ", ".join(f"{count} {name}" for name, count in summary["decisions"].items())
    print(f"wrote {out / 'explain.png'}, {out / 'parameters.json'} and {out / 'parameters.npz'} "
          f"({summary['known']} known values: {decisions})")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from ..io import read_image
    from ..methods.validation import as_float_image
    from ..models.pretrained import load_model
    from ..viz.explain import explain_levels, explanation_figure

    image = read_image(args.image)
    image = as_float_image(image, image.shape[:2])
    if args.flow:
        return _explain_default_method(args, image)
    if args.mask or args.option:
        raise UsageError("--mask and --option go with --flow (explaining the default method)")
    model = load_model(args.model)
    if min(image.shape[:2]) < model.min_side:
        side = model.min_side
        raise ValueError(f"{args.image}: the model needs at least {side}x{side} pixels, got {image.shape[0]}x{image.shape[1]}")
    out = output_folder(args.out)
    levels = explain_levels(model, image)
    contrast = float(model.contrast.detach())
    summary = {
        "model": args.model,
        "contrast": contrast,
        "levels_coarse_to_fine": [
            {name: {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}
             for name, values in level.items() if name != "v"}
            for level in levels
        ],
    }
    arrays = {f"level{i}_{name}": value for i, level in enumerate(levels) for name, value in level.items()}
    _write_outputs(out, explanation_figure(image, levels, contrast), args.dpi, summary, arrays)
    print(f"wrote {out / 'explain.png'}, {out / 'parameters.json'} and {out / 'parameters.npz'} ({len(levels)} levels)")
    return 0


def register(commands: Any, names: str) -> None:
    """Add the command to ``commands`` (the subparsers)."""
    explain = commands.add_parser(
        "explain",
        help="picture the learned diffusion tensors for an image, or the default method's decisions for a sparse flow",
        description="Without --flow: run a neuroexplicit model's tensor network on IMAGE and write DIR/explain.png "
        "(per pyramid level: eigenvalues mu1 >= mu2, the direction of strongest diffusion, alpha), "
        "DIR/parameters.json (contrast and per-level statistics) and DIR/parameters.npz (the arrays). "
        "With --flow: run the default method (neuroaffine) on that sparse flow and picture which known values "
        "it trusted (and by which test) or dropped, its edge-aware affine base with the base's divergence and "
        "curl, the fit's misfit and support, the filled residual, the output and its confidence.",
    )
    explain.add_argument("--image", required=True, help="reference image (PNG, JPEG, ...)")
    explain.add_argument("--out", required=True, metavar="DIR", help="output folder")
    explain.add_argument("--model", default="default", help="shipped model name or weights file (default: default)")
    explain.add_argument("--flow", help="a sparse flow (its valid pixels are the known ones): explain the default method on it")
    explain.add_argument("--mask", help="with --flow: known-pixel mask (white = known)")
    explain.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                         help="with --flow: an option of neuroaffine (repeatable)")
    explain.add_argument("--dpi", type=int, default=100, help="resolution of explain.png (default: 100)")
    explain.set_defaults(handler=_cmd_explain)
