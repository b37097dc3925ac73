"""``flowinpaint densify``: dense flow from two frames, or from every consecutive pair of a folder,
a glob or a video."""

from __future__ import annotations

import argparse
import time
from typing import Any

from .common import (
    UsageError,
    check_writable,
    create_folder,
    output_folder,
    parse_options,
    write_output,
)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword settings of :func:`flowinpaint.densify`, checked."""
    from ..densify import check_settings
    from ..methods import get_method

    options = parse_options(get_method(args.method), args.option)
    settings = {"method": args.method, "matcher": args.matcher, "preset": args.preset, "refine": args.refine,
                "margin": args.margin, **options}
    check_settings(**settings)
    return settings


def _cmd_pair(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from ..densify import densify
    from ..io import read_image, write_flow, write_image
    from ..viz import flow_to_color

    if not args.image2:
        raise UsageError("--image1 needs --image2 (the second frame)")
    if args.confidence is True:
        raise UsageError("for one pair, --confidence takes the PNG to write, e.g. --confidence conf.png")
    check_writable(args.out, "flow")
    for picture in (args.color, args.confidence):
        if picture:
            check_writable(picture, "image")
    first, second = read_image(args.image1), read_image(args.image2)
    start = time.perf_counter()
    result = densify(first, second, **settings)
    seconds = time.perf_counter() - start
    if args.color:
        write_output(write_image, args.color, flow_to_color(result.flow))
    if args.confidence:
        write_output(write_image, args.confidence, result.confidence)
    write_output(write_flow, args.out, result.flow)
    height, width = result.reliable.shape
    print(f"{height}x{width}, {100 * result.reliable.mean():.1f}% of the pixels kept from {args.matcher}, the rest "
          f"inpainted by {args.method}, {seconds:.2f} s -> {args.out}")
    return 0


def _cmd_sequence(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from ..densify import densify_sequence

    if args.confidence not in (None, True):
        raise UsageError("with --input, --confidence is a flag (the PNGs go to OUT/confidence/)")
    folder = output_folder(args.out)
    create_folder(folder)
    start = time.perf_counter()
    summary = densify_sequence(args.input, folder, flow_format=args.format, confidence=bool(args.confidence),
                               video=args.video, progress=not args.no_progress, **settings)
    print(summary.line(time.perf_counter() - start, folder))
    return 0


def _cmd_densify(args: argparse.Namespace) -> int:
    if bool(args.image1) == bool(args.input):
        raise UsageError("give either --image1 A --image2 B (one pair) or --input SOURCE (a folder, glob or video)")
    settings = _settings(args)
    return _cmd_pair(args, settings) if args.image1 else _cmd_sequence(args, settings)


def register(commands: Any, names: str) -> None:
    """Add the command to ``commands`` (the subparsers); ``names`` lists the methods."""
    from ..batch import FLOW_FORMATS
    from ..densify.estimate import DIS_PRESETS
    from ..densify.pipeline import (
        DEFAULT_MARGIN,
        DEFAULT_MATCHER,
        DEFAULT_METHOD,
        DEFAULT_PRESET,
        MATCHERS,
    )

    run = commands.add_parser(
        "densify",
        help="dense flow from two frames, a folder, a glob or a video",
        description="Dense optical flow: an initial estimate (OpenCV DIS both ways, or SIFT matches), kept where "
        "the forward-backward test passes, the rest inpainted with frame 1 as the guide. With --input, one flow per "
        "consecutive pair, resumable (done pairs are skipped), a corrupt frame skipped and reported; under torchrun "
        "(RANK / WORLD_SIZE) each process takes its share of the pairs.",
    )
    run.add_argument("--image1", metavar="FILE", help="frame 1 (the flow starts here)")
    run.add_argument("--image2", metavar="FILE", help="frame 2")
    run.add_argument("--input", metavar="SOURCE", help="a folder of frames, a glob ('frames/*.jpg') or a video file")
    run.add_argument("--out", required=True, metavar="PATH",
                     help="the flow file (.flo, KITTI .png, .pfm) for one pair; the output folder with --input")
    run.add_argument("--format", choices=tuple(FLOW_FORMATS), default="flo", help="flow files with --input (default flo)")
    run.add_argument("--color", metavar="FILE", help="one pair: also write the colour coding (with --input: always, "
                     "OUT/color/)")
    run.add_argument("--confidence", nargs="?", const=True, metavar="FILE",
                     help="one pair: write the confidence as an 8-bit PNG; with --input a flag (OUT/confidence/)")
    run.add_argument("--video", action="store_true", help="with --input: also write OUT/flow.mp4, one colour scale")
    run.add_argument("--method", default=DEFAULT_METHOD,
                     help=f"inpainting method of the unreliable pixels: {names} (default: {DEFAULT_METHOD})")
    run.add_argument("--matcher", choices=MATCHERS, default=DEFAULT_MATCHER,
                     help=f"initial estimate (default: {DEFAULT_MATCHER})")
    run.add_argument("--preset", choices=tuple(DIS_PRESETS), default=DEFAULT_PRESET,
                     help=f"DIS preset (default: {DEFAULT_PRESET}; fine = medium down to the full resolution, "
                          "fine-smooth = fine with its variational refinement weighted towards smoothness)")
    run.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                     help="OpenCV's variational refinement of the result (default: on)")
    run.add_argument("--margin", type=int, default=DEFAULT_MARGIN, metavar="PX",
                     help=f"with the DIS matcher, also inpaint the pixels within PX of one the forward-backward test "
                          f"rejects (default: {DEFAULT_MARGIN}; 0 keeps every pixel that passes)")
    run.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                     help="an option of the inpainting method (repeatable)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(handler=_cmd_densify)
