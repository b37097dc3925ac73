"""``flowinpaint inpaint``: fill the unknown pixels of a sparse flow file."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from .common import (
    UsageError,
    check_writable,
    create_folder,
    kernels_compiled_since,
    output_folder,
    parse_options,
    write_output,
)


def _cmd_folder(args: argparse.Namespace) -> int:
    from ..batch import inpaint_folder
    from ..methods import get_method

    for flag, given in (("--flow", args.flow), ("--mask", args.mask), ("--image", args.image), ("--color", args.color)):
        if given:
            raise UsageError(f"{flag} is for one file; with --input the images come from --images DIR and the "
                             "colour codings go to OUT/color/")
    options = parse_options(get_method(args.method), args.option, args.device)
    folder = output_folder(args.out)
    create_folder(folder)
    start = time.perf_counter()
    summary = inpaint_folder(args.input, folder, images=args.images, method=args.method, flow_format=args.format,
                             progress=not args.no_progress, **options)
    print(summary.line(time.perf_counter() - start, folder))
    return 0


def _cmd_inpaint(args: argparse.Namespace) -> int:
    if args.input:
        return _cmd_folder(args)
    if not args.flow:
        raise UsageError("give --flow FILE (one sparse flow) or --input DIR (a folder of them)")
    if args.images:
        raise UsageError("--images is for --input; for one file give --image FILE")
    from ..cbuild import compiled_here
    from ..io import read_flow, read_image, read_mask, write_flow, write_image
    from ..methods import DEFAULT_METHOD, build_options, get_method, inpaint
    from ..viz import flow_to_color

    method = get_method(args.method)
    options = parse_options(method, args.option, args.device)
    build_options(method, options)  # reject bad values before reading anything
    check_writable(args.out, "flow")
    if args.color:
        check_writable(args.color, "image")
    if args.confidence:
        if not method.judges_known:
            raise UsageError(f"method {method.name!r} estimates no confidence; drop --confidence or use {DEFAULT_METHOD}")
        check_writable(args.confidence, "image")

    flow, valid = read_flow(args.flow)
    height, width = valid.shape
    known = valid
    if args.mask:
        mask = read_mask(args.mask)
        if mask.shape != valid.shape:
            raise UsageError(f"{args.mask}: the mask is {mask.shape[0]}x{mask.shape[1]} but the flow is {height}x{width}")
        known = mask & valid
    image = None
    if args.image:
        image = read_image(args.image)
        if image.shape[:2] != valid.shape:
            raise UsageError(
                f"{args.image}: the image is {image.shape[0]}x{image.shape[1]} but the flow is {height}x{width}"
            )
    if method.needs_image and image is None:
        raise UsageError(f"method {method.name!r} needs the reference image: pass --image frame1.png")

    compiled = len(compiled_here())
    start = time.perf_counter()
    if args.confidence:
        dense, confidence = inpaint(flow, known, image, method.name, return_confidence=True, **options)
    else:
        dense = inpaint(flow, known, image, method.name, **options)
    seconds = time.perf_counter() - start
    compiling = kernels_compiled_since(compiled)
    color = flow_to_color(dense) if args.color else None
    write_output(write_flow, args.out, dense)
    if color is not None:
        write_output(write_image, args.color, color)
    if args.confidence:
        write_output(write_image, args.confidence, np.round(confidence * 255).astype(np.uint8))
    count = int(known.sum())
    print(
        f"{height}x{width} flow, {count} known pixels ({100 * count / known.size:.2f}%), "
        f"method {method.name}, {seconds:.2f} s{f' (it {compiling})' if compiling else ''} -> {args.out}"
    )
    return 0


def register(commands: Any, names: str) -> None:
    """Add the command to ``commands`` (the subparsers); ``names`` lists the methods."""
    from ..batch import FLOW_FORMATS
    from ..methods import DEFAULT_METHOD

    run = commands.add_parser(
        "inpaint",
        help="fill the unknown pixels of a sparse flow file",
        description="Fill the unknown pixels of a sparse flow file and write the dense flow; with --input, of every "
        "sparse flow file of a folder (resumable: files already done are skipped; a corrupt file is reported and "
        "skipped; under torchrun each process takes its share).",
    )
    run.add_argument("--flow", metavar="FILE", help="sparse flow: .flo, KITTI .png or .pfm")
    run.add_argument("--input", metavar="SOURCE", help="a folder (or glob) of sparse flow files, instead of --flow")
    run.add_argument("--images", metavar="DIR", help="with --input: the reference images, matched by file name")
    run.add_argument("--format", choices=tuple(FLOW_FORMATS), default="flo", help="with --input: output format (default flo)")
    run.add_argument("--no-progress", action="store_true", help="with --input: no progress bar")
    run.add_argument(
        "--mask",
        metavar="FILE",
        help="image, white (non-zero) = known pixel; default: the valid pixels of the flow file "
        "(with a mask, known = mask AND valid)",
    )
    run.add_argument("--image", metavar="FILE", help="reference image (frame 1), needed by image-guided methods")
    run.add_argument("--method", default=DEFAULT_METHOD, help=f"inpainting method: {names} (default: {DEFAULT_METHOD})")
    run.add_argument("--out", required=True, metavar="PATH",
                     help="dense flow to write: .flo, KITTI .png or .pfm; with --input the output folder")
    run.add_argument("--color", metavar="FILE", help="also write the dense flow's colour coding (e.g. dense.png)")
    run.add_argument("--confidence", metavar="FILE",
                     help="also write the output's confidence as a greyscale image (white = 1; methods that "
                     f"estimate one, e.g. {DEFAULT_METHOD})")
    run.add_argument("--device", metavar="DEVICE",
                     help="the torch device of the method's network, e.g. cuda (methods with a network: neuroexplicit, "
                     "the learned baselines, neuroaffine with --option residual=learned; default cpu)")
    run.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a method option (repeatable), e.g. --option contrast=0.05; 'none' for optional values",
    )
    run.set_defaults(handler=_cmd_inpaint)
