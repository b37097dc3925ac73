"""The ``flowinpaint`` command line: ``inpaint``, ``demo``, ``methods``, ``data preview``, ``train`` and ``evaluate``.

Bad input (missing or corrupt files, unknown methods or options, shapes that do not match) is
reported as one line ``flowinpaint: error: ...`` on stderr with exit code 2, and no output file
is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
import types
import typing
import warnings
from pathlib import Path
from typing import Any, NoReturn, Sequence

import numpy as np

from . import __version__
from .errors import FlowFormatError

__all__ = ["main"]

_NONE_WORDS = ("none", "null")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


class UsageError(ValueError):
    """A bad command line or input; reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------------------------------
# argument helpers


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 384x512, got {text!r}")
    return int(parts[0]), int(parts[1])


def _option_types(options_type: type) -> dict[str, tuple[type, bool]]:
    """Each field of an options dataclass as ``(base type, accepts None)``."""
    hints = typing.get_type_hints(options_type)
    result = {}
    for field in dataclasses.fields(options_type):
        hint = hints.get(field.name, str)
        nullable = False
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
            nullable = len(args) < len(typing.get_args(hint))
            hint = args[0] if len(args) == 1 else str
        result[field.name] = (hint, nullable)
    return result


def _convert(key: str, text: str, base: type, nullable: bool) -> Any:
    word = text.strip().lower()
    if nullable and word in _NONE_WORDS:
        return None
    suffix = " or none" if nullable else ""
    if base is bool:
        if word in _TRUE_WORDS + _FALSE_WORDS:
            return word in _TRUE_WORDS
        raise UsageError(f"option {key} expects true or false{suffix}, got {text!r}")
    if base is int:
        try:
            return int(word)
        except ValueError:
            raise UsageError(f"option {key} expects an integer{suffix}, got {text!r}") from None
    if base is float:
        try:
            value = float(word)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise UsageError(f"option {key} expects a finite number{suffix}, got {text!r}")
        return value
    if base is str:
        return text
    raise UsageError(f"option {key} (type {getattr(base, '__name__', base)}) cannot be set from the command line")


def parse_options(method: Any, pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings converted with the types of ``method.options_type``'s fields."""
    fields = _option_types(method.options_type)
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--option expects KEY=VALUE, got {pair!r}")
        if key not in fields:
            raise UsageError(
                f"method {method.name!r} has no option {key!r}; its options are: {', '.join(fields) or '(none)'}"
            )
        if key in options:
            raise UsageError(f"option {key} is given twice")
        options[key] = _convert(key, text, *fields[key])
    return options


def _check_writable(path: str, kind: str) -> None:
    """Fail early, before any work, if ``path`` cannot be an output of ``kind`` ("flow"/"image")."""
    import cv2

    from .io import FLOW_EXTENSIONS

    suffix = Path(path).suffix.lower()
    if kind == "flow" and suffix not in FLOW_EXTENSIONS:
        raise UsageError(f"{path}: unknown flow file extension {suffix!r}; supported: {', '.join(FLOW_EXTENSIONS)}")
    if kind == "image" and not cv2.haveImageWriter(path):
        raise UsageError(f"{path}: no image encoder for the extension {suffix!r}; use e.g. .png")
    parent = Path(path).parent
    if not parent.is_dir():
        raise UsageError(f"{path}: the folder {str(parent)!r} does not exist")
    if Path(path).is_dir():
        raise UsageError(f"{path}: is a folder, not a file")


def _write(write: Any, path: str, *args: Any) -> None:
    try:
        write(path, *args)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the file ({exc.strerror or exc})") from exc


# ---------------------------------------------------------------------------------------------
# commands


def _cmd_methods(args: argparse.Namespace) -> int:
    from .methods import get_method, method_names

    names = method_names()
    width = max(map(len, names))
    for name in names:
        method = get_method(name)
        needs = "needs image" if method.needs_image else "no image"
        print(f"{name:<{width}}  {needs:<11}  {method.summary}")
    return 0


def _cmd_inpaint(args: argparse.Namespace) -> int:
    from .io import read_flow, read_image, read_mask, write_flow, write_image
    from .methods import build_options, get_method, inpaint
    from .viz import flow_to_color

    method = get_method(args.method)
    options = parse_options(method, args.option)
    build_options(method, options)  # reject bad values before reading anything
    _check_writable(args.out, "flow")
    if args.color:
        _check_writable(args.color, "image")

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

    start = time.perf_counter()
    dense = inpaint(flow, known, image, method.name, **options)
    seconds = time.perf_counter() - start
    color = flow_to_color(dense) if args.color else None
    _write(write_flow, args.out, dense)
    if color is not None:
        _write(write_image, args.color, color)
    count = int(known.sum())
    print(
        f"{height}x{width} flow, {count} known pixels ({100 * count / known.size:.2f}%), "
        f"method {method.name}, {seconds:.2f} s -> {args.out}"
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .data import make_example, uniform_mask
    from .eval import epe, epe_map
    from .io import write_flow, write_image
    from .methods import get_method, inpaint

    method = get_method(args.method)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    example = make_example(args.size, args.seed)
    truth = example["flow"]
    known = uniform_mask(example["valid"], args.density, args.seed)
    sparse = np.where(known[..., None], truth, 0.0).astype(np.float32)

    start = time.perf_counter()
    dense = inpaint(sparse, known, example["image1"], method.name)
    seconds = time.perf_counter() - start
    error, zero_error = epe(dense, truth), epe(np.zeros_like(truth), truth)
    picture = _demo_picture(example["image1"], truth, known, dense, epe_map(dense, truth), method.name, error)

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the folder ({exc.strerror or exc})") from exc
    _write(write_image, str(out / "frame1.png"), example["image1"])
    _write(write_flow, str(out / "sparse.flo"), sparse, known)
    _write(write_flow, str(out / "dense.flo"), dense)
    _write(write_image, str(out / "demo.png"), picture)
    height, width = known.shape
    print(f"example {example['id']}: {height}x{width}, {int(known.sum())} known pixels ({100 * known.mean():.1f}%)")
    print(f"{method.name}: EPE {error:.3f} px (zero flow: EPE {zero_error:.3f} px), {seconds:.2f} s")
    print(f"wrote {out / 'demo.png'}, {out / 'dense.flo'}, {out / 'sparse.flo'}, {out / 'frame1.png'}")
    return 0


def _cmd_data_preview(args: argparse.Namespace) -> int:
    import cv2

    from .data import load_dataset, make_sparse, sample_density
    from .io import write_image
    from .viz import flow_to_color
    from .viz.panels import panel_grid, panel_row

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    options: dict[str, Any] = {}
    if args.dataset == "synthetic":
        options = {"split": args.split or "train", "size": args.size, "length": args.n, "seed": args.seed}
    elif args.split:
        options = {"split": args.split}
    dataset = load_dataset(args.dataset, args.root, **options)
    if len(dataset) == 0:
        raise UsageError(f"dataset {args.dataset!r} has no samples")
    rng = np.random.default_rng(args.seed)
    rows = []
    for index in range(min(args.n, len(dataset))):
        sample = dataset[index]
        density = sample_density(rng)
        sparse = make_sparse(args.masks, sample, density, seed=args.seed + index)
        scale = min(1.0, 384 / sample["flow"].shape[1])  # keep the sheet readable for large frames

        def shown(picture: np.ndarray, scale: float = scale) -> np.ndarray:
            return cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else picture

        magnitude = np.sqrt((sample["flow"] ** 2).sum(axis=2))[sample["valid"]]
        mask_picture = np.repeat(sparse.mask[..., None].astype(np.uint8) * 255, 3, axis=2)
        rows.append(panel_row([
            (shown(sample["image1"]), f"{sample['id']}"),
            (shown(flow_to_color(sample["flow"], valid=sample["valid"])), f"flow, max {magnitude.max(initial=0):.1f} px"),
            (shown(mask_picture), f"{args.masks} mask, {100 * sparse.mask.mean():.2f}% known"),
            (shown(sample["image2"]), "frame 2"),
        ]))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the folder ({exc.strerror or exc})") from exc
    _write(write_image, str(out / "preview.png"), panel_grid(rows))
    print(f"wrote {out / 'preview.png'}: {len(rows)} samples of {args.dataset} (frame 1, flow, mask, frame 2)")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import load_config, train

    config = load_config(args.config, args.set)
    if args.out:
        config = dataclasses.replace(config, out=args.out)
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    result = train(config, resume=args.resume)
    if result["rank"] != 0:  # under torchrun only rank 0 reports
        return 0
    val = result["val"] or {}
    summary = ", ".join(f"{key} {value:.4f}" for key, value in val.items())
    state = "stopped by a signal at" if result["interrupted"] else "finished at"
    print(f"{state} step {result['step']}/{config.steps}, loss {result['loss']:.4f}" + (f", validation {summary}" if summary else ""))
    print(f"checkpoint {result['checkpoint']}, log {result['log']}")
    return 0


def _densities(text: str) -> list[float]:
    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not 0 < value < 1:
            raise argparse.ArgumentTypeError(f"densities must be comma-separated numbers in (0, 1), got {text!r}")
        values.append(value)
    return values


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .eval.runner import EvalConfig, evaluate

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    if args.dataset != "synthetic" and not args.root:
        raise UsageError(f"dataset {args.dataset!r} needs --root PATH")
    command = " ".join([  # the canonical command line (argv is unknown when main() is called in process)
        f"flowinpaint evaluate --dataset {args.dataset}", *([f"--root {args.root}"] if args.root else []),
        *([f"--split {args.split}"] if args.split else []), f"--methods {args.methods}",
        f"--densities {','.join(f'{d:g}' for d in args.densities)}", f"--masks {args.masks}",
        *([f"--limit {args.limit}"] if args.limit else []), f"--size {args.size[0]}x{args.size[1]}",
        f"--seed {args.seed}", f"--out {args.out}",
    ])
    config = EvalConfig(
        dataset=args.dataset, out=args.out, root=args.root, split=args.split, methods=args.methods,
        densities=args.densities, masks=args.masks, limit=args.limit, size=args.size, seed=args.seed,
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


def _demo_picture(
    image: np.ndarray, truth: np.ndarray, known: np.ndarray, dense: np.ndarray, error: np.ndarray, method: str, epe: float
) -> np.ndarray:
    """frame 1 | ground truth | sparse input | inpainted | error map, with captions."""
    from matplotlib import colormaps

    from .viz import flow_to_color
    from .viz.panels import panel_row, sparse_to_color

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


# ---------------------------------------------------------------------------------------------
# parser and entry point


def build_parser() -> argparse.ArgumentParser:
    """The ``flowinpaint`` argument parser."""
    from .methods import method_names

    names = ", ".join(method_names())
    parser = _Parser(prog="flowinpaint", description="Dense optical flow from sparse flow, guided by the reference image.")
    parser.add_argument("--version", action="version", version=f"flowinpaint {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "inpaint",
        help="fill the unknown pixels of a sparse flow file",
        description="Fill the unknown pixels of a sparse flow file and write the dense flow.",
    )
    run.add_argument("--flow", required=True, metavar="FILE", help="sparse flow: .flo, KITTI .png or .pfm")
    run.add_argument(
        "--mask",
        metavar="FILE",
        help="image, white (non-zero) = known pixel; default: the valid pixels of the flow file "
        "(with a mask, known = mask AND valid)",
    )
    run.add_argument("--image", metavar="FILE", help="reference image (frame 1), needed by image-guided methods")
    run.add_argument("--method", default="eed", help=f"inpainting method: {names} (default: eed)")
    run.add_argument("--out", required=True, metavar="FILE", help="dense flow to write: .flo, KITTI .png or .pfm")
    run.add_argument("--color", metavar="FILE", help="also write the dense flow's colour coding (e.g. dense.png)")
    run.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a method option (repeatable), e.g. --option contrast=0.05; 'none' for optional values",
    )
    run.set_defaults(handler=_cmd_inpaint)

    demo = commands.add_parser(
        "demo",
        help="inpaint a synthetic example and picture the result",
        description="Sample known pixels of a synthetic example with exact flow, inpaint them, print the "
        "end-point error (EPE) and write DIR/demo.png, DIR/dense.flo, DIR/sparse.flo and DIR/frame1.png.",
    )
    demo.add_argument("--out", default="flowinpaint-demo", metavar="DIR", help="output folder (default: ./flowinpaint-demo)")
    demo.add_argument("--method", default="eed", help=f"inpainting method: {names} (default: eed)")
    demo.add_argument("--density", type=float, default=0.05, help="fraction of known pixels, in (0, 1) (default: 0.05)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the example and of the mask (default: 0)")
    demo.add_argument("--size", type=_size, default=(384, 512), metavar="HxW", help="frame size (default: 384x512)")
    demo.set_defaults(handler=_cmd_demo)

    methods = commands.add_parser("methods", help="list the inpainting methods", description="List the inpainting methods.")
    methods.set_defaults(handler=_cmd_methods)

    data = commands.add_parser("data", help="look at datasets", description="Look at the datasets training and evaluation use.")
    data_commands = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    preview = data_commands.add_parser(
        "preview",
        help="write a contact sheet of samples",
        description="Write DIR/preview.png: for each of N samples, frame 1, the flow's colour coding, a mask "
        "drawn as in training (density sampled per sample from 0.5%%-20%%, log-uniform) and frame 2.",
    )
    preview.add_argument("--dataset", default="synthetic", help="synthetic, flyingchairs, flyingthings, sintel, kitti or middlebury")
    preview.add_argument("--root", metavar="PATH", help="the dataset's root folder (not for synthetic)")
    preview.add_argument("--split", help="split (synthetic: train, val or test; default: the dataset's default)")
    preview.add_argument("--n", type=int, default=8, help="number of samples (default: 8)")
    preview.add_argument("--masks", default="uniform", help="mask kind: uniform, clustered, edge, grid or matches")
    preview.add_argument("--size", type=_size, default=(256, 256), metavar="HxW", help="synthetic frame size (default: 256x256)")
    preview.add_argument("--seed", type=int, default=0, help="seed of the masks and the synthetic data (default: 0)")
    preview.add_argument("--out", default="flowinpaint-preview", metavar="DIR", help="output folder (default: ./flowinpaint-preview)")
    preview.set_defaults(handler=_cmd_data_preview)

    training = commands.add_parser(
        "train",
        help="train the neuroexplicit model on synthetic data",
        description="Train the neuroexplicit model (Adam, StepLR, EPE loss) on random crops of synthetic flow "
        "with masks redrawn per load; writes DIR/checkpoint.pt, DIR/log.jsonl and DIR/config.json. "
        "SIGINT/SIGTERM save a checkpoint after the current step and stop; --resume continues exactly. "
        "Under torchrun it trains data-parallel (DDP).",
    )
    training.add_argument("--config", metavar="FILE", help="TOML config, e.g. configs/neuroexplicit.toml (default: built-in defaults)")
    training.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (repeatable; dotted keys, TOML values), e.g. --set model.width=22 --set steps=100",
    )
    training.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    training.add_argument("--out", metavar="DIR", help="output folder (overrides the config's out)")
    training.set_defaults(handler=_cmd_train)

    evaluation = commands.add_parser(
        "evaluate",
        help="benchmark methods on a dataset",
        description="Run every chosen method on the same samples with the same seeded masks; write "
        "DIR/results.json (every per-sample number, resumable: rerunning continues where it stopped), "
        "DIR/results.md (tables) and DIR/error_vs_density.png, DIR/qualitative.png. EPE counts every "
        "valid pixel, the known ones included; 'EPE unknown' only the inpainted ones.",
    )
    evaluation.add_argument(
        "--dataset", required=True, choices=("synthetic", "sintel", "kitti", "middlebury", "flyingchairs", "flyingthings")
    )
    evaluation.add_argument("--root", metavar="PATH", help="the dataset's root folder (not for synthetic)")
    evaluation.add_argument("--split", help="split (synthetic: train, val or test, default test; others: the dataset's default)")
    evaluation.add_argument("--methods", default="all", help=f"'all' or a comma-separated list of: {names} (default: all)")
    evaluation.add_argument(
        "--densities", type=_densities, default=[0.01, 0.05, 0.1], metavar="LIST",
        help="comma-separated fractions of known pixels (default: 0.01,0.05,0.1)",
    )
    evaluation.add_argument("--masks", default="uniform", choices=("uniform", "matches", "clustered", "edge", "grid"),
                            help="mask kind (default: uniform; matches ignores the density)")
    evaluation.add_argument("--limit", type=_positive_int, metavar="N", help="evaluate the first N samples (synthetic default: 8)")
    evaluation.add_argument("--size", type=_size, default=(256, 320), metavar="HxW", help="synthetic frame size (default: 256x320)")
    evaluation.add_argument("--seed", type=int, default=0, help="seed of the masks and the synthetic data (default: 0)")
    evaluation.add_argument("--out", required=True, metavar="DIR", help="output folder")
    evaluation.add_argument("--restart", action="store_true", help="discard DIR/results.json instead of resuming from it")
    evaluation.add_argument("--no-progress", action="store_true", help="no progress bar")
    evaluation.set_defaults(handler=_cmd_evaluate)
    return parser


def _show_warning(message: Any, category: Any, filename: Any, lineno: Any, file: Any = None, line: Any = None) -> None:
    print(f"flowinpaint: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help and --version
            return exc.code if isinstance(exc.code, int) else 0
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.handler(args)
    except (FlowFormatError, ValueError, FileNotFoundError) as exc:  # UsageError is a ValueError
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"flowinpaint: error: {message}", file=sys.stderr)
        return 2
