"""``flowinpaint data preview``: a contact sheet of what training sees."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..data.datasets import DATASETS
from ..data.masks import SPARSE_KINDS
from .common import (
    UsageError,
    create_folder,
    fraction,
    frame_size,
    output_folder,
    write_output,
)


def _cmd_data_preview(args: argparse.Namespace) -> int:
    import cv2

    from ..data import load_dataset, make_sparse, sample_density
    from ..io import write_image
    from ..viz import flow_to_color
    from ..viz.panels import panel_grid, panel_row

    out = output_folder(args.out)
    options: dict[str, Any] = {}
    if args.dataset == "synthetic":
        options = {"split": args.split or "train", "size": args.size, "length": args.n, "seed": args.seed}
    else:
        chosen = {"split": args.split, "pass_name": args.pass_name, "flow_type": args.flow_type}
        options = {key: value for key, value in chosen.items() if value}
    dataset = load_dataset(args.dataset, args.root, **options)
    if len(dataset) == 0:
        raise UsageError(f"dataset {args.dataset!r} has no samples")
    rng = np.random.default_rng(args.seed)
    rows = []
    for index in range(min(args.n, len(dataset))):
        sample = dataset[index]
        density = sample_density(rng)
        sparse = make_sparse(args.masks, sample, density, seed=args.seed + index, outliers=args.outliers)
        scale = min(1.0, 384 / sample["flow"].shape[1])  # keep the sheet readable for large frames

        def shown(picture: np.ndarray, scale: float = scale) -> np.ndarray:
            return cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else picture

        magnitude = np.sqrt((sample["flow"] ** 2).sum(axis=2))[sample["valid"]]
        mask_picture = np.repeat(sparse.mask[..., None].astype(np.uint8) * 255, 3, axis=2)
        mask_picture[sparse.outliers] = (255, 0, 0)  # the wrong values in red
        wrong = f", {sparse.outliers.sum()} wrong (red)" if args.outliers else ""
        rows.append(panel_row([
            (shown(sample["image1"]), f"{sample['id']}"),
            (shown(flow_to_color(sample["flow"], valid=sample["valid"])), f"flow, max {magnitude.max(initial=0):.1f} px"),
            (shown(mask_picture), f"{args.masks} mask, {100 * sparse.mask.mean():.2f}% known{wrong}"),
            (shown(sample["image2"]), "frame 2"),
        ]))
    create_folder(out)
    write_output(write_image, str(out / "preview.png"), panel_grid(rows))
    print(f"wrote {out / 'preview.png'}: {len(rows)} samples of {args.dataset} (frame 1, flow, mask, frame 2)")
    return 0


def register(commands: Any, names: str) -> None:
    """Add the command to ``commands`` (the subparsers); ``names`` lists the methods."""
    data = commands.add_parser("data", help="look at datasets", description="Look at the datasets training and evaluation use.")
    data_commands = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    preview = data_commands.add_parser(
        "preview",
        help="write a contact sheet of samples",
        description="Write DIR/preview.png: for each of N samples, frame 1, the flow's colour coding, a mask "
        "drawn as in training (density sampled per sample from 0.5%%-20%%, log-uniform) and frame 2.",
    )
    preview.add_argument("--dataset", default="synthetic", choices=("synthetic", *DATASETS),
                         help="the dataset (default synthetic; kitti is KITTI 2015)")
    preview.add_argument("--root", metavar="PATH", help="the dataset's root folder (not for synthetic)")
    preview.add_argument("--split", help="split (synthetic: train, val or test; default: the dataset's default)")
    preview.add_argument("--n", type=int, default=8, help="number of samples (default: 8)")
    preview.add_argument("--pass", dest="pass_name", choices=("clean", "final", "all"), help="sintel / flyingthings pass")
    preview.add_argument("--flow", dest="flow_type", choices=("occ", "noc"), help="kitti / kitti2012 ground truth")
    preview.add_argument("--masks", default="uniform", choices=SPARSE_KINDS, help="mask kind (default: uniform)")
    preview.add_argument("--outliers", type=fraction, default=0.0, metavar="FRACTION",
                         help="replace this fraction of the known values by wrong ones, drawn red (default 0)")
    preview.add_argument("--size", type=frame_size, default=(256, 256), metavar="HxW", help="synthetic frame size (default: 256x256)")
    preview.add_argument("--seed", type=int, default=0, help="seed of the masks and the synthetic data (default: 0)")
    preview.add_argument("--out", default="flowinpaint-preview", metavar="DIR", help="output folder (default: ./flowinpaint-preview)")
    preview.set_defaults(handler=_cmd_data_preview)
