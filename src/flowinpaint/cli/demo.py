"""``flowinpaint demo``: inpaint a synthetic example and picture the result."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from .common import (
    create_folder,
    frame_size,
    kernels_compiled_since,
    output_folder,
    write_output,
)


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..cbuild import compiled_here
    from ..data import make_example, uniform_mask
    from ..eval import epe, epe_map
    from ..io import write_flow, write_image
    from ..methods import get_method, inpaint

    method = get_method(args.method or default_method())
    out = output_folder(args.out)
    example = make_example(args.size, args.seed)
    truth = example["flow"]
    known = uniform_mask(example["valid"], args.density, args.seed)
    sparse = np.where(known[..., None], truth, 0.0).astype(np.float32)

    compiled = len(compiled_here())
    start = time.perf_counter()
    dense = inpaint(sparse, known, example["image1"], method.name)
    seconds = time.perf_counter() - start
    first_use = ""
    if compiling := kernels_compiled_since(compiled):  # time a second call, as every later one runs
        first_use = f" (the first call took {seconds:.2f} s: it {compiling})"
        start = time.perf_counter()
        dense = inpaint(sparse, known, example["image1"], method.name)
        seconds = time.perf_counter() - start
    error, zero_error = epe(dense, truth), epe(np.zeros_like(truth), truth)
    picture = demo_picture(example["image1"], truth, known, dense, epe_map(dense, truth), method.name, error)

    create_folder(out)
    write_output(write_image, str(out / "frame1.png"), example["image1"])
    write_output(write_flow, str(out / "sparse.flo"), sparse, known)
    write_output(write_flow, str(out / "dense.flo"), dense)
    write_output(write_image, str(out / "demo.png"), picture)
    height, width = known.shape
    print(f"example {example['id']}: {height}x{width}, {int(known.sum())} known pixels ({100 * known.mean():.1f}%)")
    print(f"{method.name}: EPE {error:.3f} px (zero flow: EPE {zero_error:.3f} px), {seconds:.2f} s{first_use}")
    print(f"wrote {out / 'demo.png'}, {out / 'dense.flo'}, {out / 'sparse.flo'}, {out / 'frame1.png'}")
    return 0


def default_method() -> str:
    """The default method where its weights are shipped; ``eed`` otherwise."""
    from ..methods import DEFAULT_METHOD, get_method

    return DEFAULT_METHOD if get_method(DEFAULT_METHOD).unavailable() is None else "eed"


def demo_picture(
    image: np.ndarray, truth: np.ndarray, known: np.ndarray, dense: np.ndarray, error: np.ndarray, method: str, epe: float
) -> np.ndarray:
    """frame 1 | ground truth | sparse input | inpainted | error map, with captions."""
    from matplotlib import colormaps

    from ..viz import flow_to_color
    from ..viz.panels import panel_row, sparse_to_color

    max_flow = float(np.sqrt((truth**2).sum(axis=2)).max()) + 1e-5
    scale = max(float(np.percentile(error, 99)), 1e-3)
    heat = (colormaps["inferno"](np.clip(error / scale, 0.0, 1.0))[..., :3] * 255).astype(np.uint8)
    return panel_row([
        (image, "frame 1"),
        (flow_to_color(truth, max_flow), "ground truth"),
        (sparse_to_color(truth, known, max_flow), f"input: {100 * known.mean():.1f}% known"),
        (flow_to_color(dense, max_flow), f"{method}: EPE {epe:.2f} px"),
        (heat, f"error, 0-{scale:.2f} px"),
    ])


def register(commands: Any, names: str) -> None:
    """Add the command to ``commands`` (the subparsers); ``names`` lists the methods."""
    demo = commands.add_parser(
        "demo",
        help="inpaint a synthetic example and picture the result",
        description="Sample known pixels of a synthetic example with exact flow, inpaint them, print the "
        "end-point error (EPE) and write DIR/demo.png, DIR/dense.flo, DIR/sparse.flo and DIR/frame1.png.",
    )
    demo.add_argument("--out", default="flowinpaint-demo", metavar="DIR", help="output folder (default: ./flowinpaint-demo)")
    demo.add_argument("--method", help=f"inpainting method: {names} (default: neuroaffine; eed where its weights are missing)")
    demo.add_argument("--density", type=float, default=0.05, help="fraction of known pixels, in (0, 1) (default: 0.05)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the example and of the mask (default: 0)")
    demo.add_argument("--size", type=frame_size, default=(384, 512), metavar="HxW", help="frame size (default: 384x512)")
    demo.set_defaults(handler=_cmd_demo)
