"""``flowinpaint evaluate``: benchmark methods on a dataset."""

from __future__ import annotations

import argparse
from typing import Any

from ..data.masks import SPARSE_KINDS
from ..eval.runner import DATASET_NAMES, FLOW_TYPE_DEFAULTS, PASS_DEFAULTS
from ..provenance import portable_path
from .common import (
    UsageError,
    densities,
    fraction,
    frame_size,
    output_folder,
    positive_int,
)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ..eval.runner import EvalConfig, evaluate

    out = output_folder(args.out)
    if args.dataset != "synthetic" and not args.root:
        raise UsageError(f"dataset {args.dataset!r} needs --root PATH")
    if args.pass_name and args.dataset not in PASS_DEFAULTS:
        raise UsageError(f"--pass is for {' and '.join(PASS_DEFAULTS)}, not for dataset {args.dataset!r}")
    if args.flow_type and args.dataset not in FLOW_TYPE_DEFAULTS:
        raise UsageError(f"--flow is for {' and '.join(FLOW_TYPE_DEFAULTS)}, not for dataset {args.dataset!r}")
    pass_name = args.pass_name or PASS_DEFAULTS.get(args.dataset)
    flow_type = args.flow_type or FLOW_TYPE_DEFAULTS.get(args.dataset)
    command = " ".join([  # the canonical, portable command line (argv is unknown when main() runs in process)
        f"flowinpaint evaluate --dataset {args.dataset}", *([f"--root {portable_path(args.root)}"] if args.root else []),
        *([f"--split {args.split}"] if args.split else []), *([f"--pass {pass_name}"] if pass_name else []),
        *([f"--flow {flow_type}"] if flow_type else []), f"--methods {args.methods}",
        f"--densities {','.join(f'{d:g}' for d in args.densities)}", f"--masks {args.masks}",
        *([f"--outliers {args.outliers:g}"] if args.outliers else []),
        *([f"--limit {args.limit}"] if args.limit else []),
        *([f"--size {args.size[0]}x{args.size[1]}"] if args.dataset == "synthetic" else []),
        f"--seed {args.seed}", f"--out {portable_path(args.out)}",
    ])
    config = EvalConfig(
        dataset=args.dataset, out=args.out, root=args.root, split=args.split, pass_name=pass_name,
        flow_type=flow_type, methods=args.methods, densities=args.densities, masks=args.masks,
        outliers=args.outliers, limit=args.limit, size=args.size, seed=args.seed,
        restart=args.restart, progress=not args.no_progress, command=command,
    )
    try:
        results = evaluate(config)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise UsageError(f"{out}: cannot write the results ({exc.strerror or exc})") from exc
    entries = list(results["entries"].values())
    failed = sum(entry.get("error") is not None for entry in entries)
    print(f"{len(entries)} results ({failed} failed) -> {out / 'results.json'}, {out / 'results.md'}")
    return 0


def register(commands: Any, names: str) -> None:
    """Add the command to ``commands`` (the subparsers); ``names`` lists the methods."""
    evaluation = commands.add_parser(
        "evaluate",
        help="benchmark methods on a dataset",
        description="Run every chosen method on the same samples with the same seeded masks; write "
        "DIR/results.json (every per-sample number, resumable: rerunning continues where it stopped), "
        "DIR/results.md (tables) and DIR/error_vs_density.png, DIR/qualitative.png. EPE counts every "
        "valid pixel, the known ones included; 'EPE unknown' only the inpainted ones.",
    )
    evaluation.add_argument("--dataset", required=True, choices=DATASET_NAMES,
                            help="kitti is KITTI 2015, kitti2012 KITTI 2012")
    evaluation.add_argument("--root", metavar="PATH", help="the dataset's root folder (not for synthetic)")
    evaluation.add_argument("--split", help="split (synthetic: train, val or test, default test; others: the dataset's default)")
    evaluation.add_argument("--pass", dest="pass_name", choices=("clean", "final", "all"),
                            help="rendering pass of sintel (default final, the paper's; all = both) and flyingthings "
                            "(default clean)")
    evaluation.add_argument("--flow", dest="flow_type", choices=("occ", "noc"),
                            help="ground truth of kitti / kitti2012: occ = all pixels (default), noc = non-occluded only")
    evaluation.add_argument("--methods", default="all", help=f"'all' or a comma-separated list of: {names} (default: all)")
    evaluation.add_argument(
        "--densities", type=densities, default=[0.01, 0.05, 0.1], metavar="LIST",
        help="comma-separated fractions of known pixels (default: 0.01,0.05,0.1)",
    )
    evaluation.add_argument("--masks", default="uniform", choices=SPARSE_KINDS,
                            help="known pixels: uniform (default), clustered, edge, grid, scanlines (LiDAR-like), "
                            "blocks (codec-like), occlusions (every pixel but the occluded ones and 2 px around them, "
                            "exact: a flow with holes; needs occlusion maps: sintel, flyingthings, synthetic; ignores "
                            "the density), matches (SIFT matches with their errors) or tracks (corners tracked by OpenCV's "
                            "Lucas-Kanade tracker, with its errors; both ignore the density)")
    evaluation.add_argument("--outliers", type=fraction, default=0.0, metavar="FRACTION",
                            help="replace this fraction of the known values by wrong ones: half random in the flow's "
                            "range, half borrowed from a known pixel 20-80 px away (default 0)")
    evaluation.add_argument("--limit", type=positive_int, metavar="N", help="evaluate the first N samples (synthetic default: 8)")
    evaluation.add_argument("--size", type=frame_size, default=(256, 320), metavar="HxW", help="synthetic frame size (default: 256x320)")
    evaluation.add_argument("--seed", type=int, default=0, help="seed of the masks and the synthetic data (default: 0)")
    evaluation.add_argument("--out", required=True, metavar="DIR", help="output folder")
    evaluation.add_argument("--restart", action="store_true", help="discard DIR/results.json instead of resuming from it")
    evaluation.add_argument("--no-progress", action="store_true", help="no progress bar")
    evaluation.set_defaults(handler=_cmd_evaluate)
