"""Work over many files: listing in natural order, splitting across processes, resumable outputs.

Shared by :func:`flowinpaint.densify.densify_sequence` (pairs of frames) and :func:`inpaint_folder`
(sparse flow files). Under ``torchrun --nproc_per_node N`` (or any launcher that sets ``RANK`` and
``WORLD_SIZE``) process ``r`` takes the items ``i`` with ``i % N == r``. Every output is written
atomically and the flow file last, so an item whose outputs all exist is done and a rerun skips
it; an item that fails (a corrupt file) is reported and the run goes on.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FlowFormatError
from .methods.registry import DEFAULT_METHOD

__all__ = [
    "FLOW_FORMATS",
    "IMAGE_SUFFIXES",
    "BatchSummary",
    "flow_suffix",
    "inpaint_folder",
    "list_files",
    "natural_key",
    "shard",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pbm", ".bmp", ".tif", ".tiff", ".webp")
#: Output flow formats by name: their file suffix.
FLOW_FORMATS = {"flo": ".flo", "png": ".png"}


@dataclass
class BatchSummary:
    """What one process did: items written, skipped (done by an earlier run), failed (with why)."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    video: Path | None = None

    def line(self, seconds: float, out: Path, what: str = "flows") -> str:
        """One line for the command line: counts, time, where, and the first failures."""
        failed = "".join(f"; failed: {name} ({reason})" for name, reason in list(self.failed.items())[:5])
        video = f"; video {self.video}" if self.video else ""
        return (f"{len(self.written)} {what} written, {len(self.skipped)} already there, {len(self.failed)} failed, "
                f"{seconds:.1f} s -> {out}{video}{failed}")


def flow_suffix(flow_format: str) -> str:
    """The file suffix of an output flow format (:data:`FLOW_FORMATS`); ValueError for another."""
    if flow_format not in FLOW_FORMATS:
        raise ValueError(f"flow_format must be one of {', '.join(FLOW_FORMATS)}, got {flow_format!r}")
    return FLOW_FORMATS[flow_format]


def natural_key(path: Path) -> list[Any]:
    """Sort key that orders ``frame_2`` before ``frame_10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_files(source: str | os.PathLike[str], suffixes: tuple[str, ...], what: str) -> list[Path]:
    """The files of a folder or a glob pattern with one of ``suffixes``, in natural order.

    Raises:
        ValueError: the source does not exist, or two files share a stem (their outputs would too).
    """
    text = os.fspath(source)
    path = Path(text)
    if path.is_dir():
        files = [entry for entry in path.iterdir() if entry.is_file() and entry.suffix.lower() in suffixes]
    elif any(char in text for char in "*?["):
        files = [Path(name) for name in glob.glob(text) if Path(name).suffix.lower() in suffixes]
    elif path.is_file():
        raise ValueError(f"{path}: a file; give a folder of {what} or a glob pattern")
    else:
        raise ValueError(f"{path}: no such file or folder")
    files.sort(key=natural_key)
    stems: dict[str, Path] = {}
    for file in files:
        if file.stem in stems:
            raise ValueError(f"{stems[file.stem]} and {file} share the name {file.stem!r}; their outputs would too")
        stems[file.stem] = file
    return files


def shard() -> tuple[int, int]:
    """``(rank, world)`` from ``RANK`` / ``WORLD_SIZE`` (``(0, 1)`` when unset).

    Raises:
        ValueError: not integers, or ``RANK`` outside ``[0, WORLD_SIZE)``.
    """
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        raise ValueError(f"RANK and WORLD_SIZE must be integers, got {os.environ.get('RANK')!r} and "
                         f"{os.environ.get('WORLD_SIZE')!r}") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK must be in [0, WORLD_SIZE), got RANK={rank}, WORLD_SIZE={world}")
    return rank, world


def report(message: str, bar: Any = None) -> None:
    """A message on stderr that does not break the progress bar."""
    if bar is not None:
        bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr)


def outputs_done(paths: dict[str, Path]) -> bool:
    return all(path.exists() for path in paths.values())


def inpaint_folder(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    images: str | os.PathLike[str] | None = None,
    method: str = DEFAULT_METHOD,
    flow_format: str = "flo",
    progress: bool = True,
    **options: Any,
) -> BatchSummary:
    """Inpaint every sparse flow file of a folder (or glob) into ``out``.

    Each ``NAME.flo`` / ``.png`` / ``.pfm`` (its valid pixels are the known ones) gives
    ``OUT/NAME.<format>`` and ``OUT/color/NAME.png``; the reference image is ``images/NAME.*``
    (any image type), needed by image-guided methods.

    Args:
        source: a folder of sparse flow files or a glob pattern.
        out: the output folder (created).
        images: the folder of reference images (frame 1 of each flow), matched by name.
        method: the inpainting method; **options: its options.
        flow_format: ``"flo"`` or ``"png"`` (KITTI 16-bit).
        progress: show a progress bar.

    Raises:
        ValueError: a bad source, format, method or option, or a rank setting.
    """
    from tqdm import tqdm

    from .io import FLOW_EXTENSIONS, read_flow, read_image, write_flow, write_image
    from .methods import build_options, get_method, inpaint
    from .viz import flow_to_color

    found = get_method(method)
    build_options(found, options)
    suffix = flow_suffix(flow_format)
    flows = list_files(source, tuple(FLOW_EXTENSIONS), "sparse flow files")
    if not flows:
        raise ValueError(f"{source}: no flow files ({', '.join(FLOW_EXTENSIONS)})")
    guides = {path.stem: path for path in list_files(images, IMAGE_SUFFIXES, "images")} if images else {}
    rank, world = shard()
    folder = Path(out)
    (folder / "color").mkdir(parents=True, exist_ok=True)
    summary = BatchSummary()
    mine = [path for index, path in enumerate(flows) if index % world == rank]
    with tqdm(total=len(mine), desc="inpaint", unit="file", disable=not progress, file=sys.stderr) as bar:
        for path in mine:
            name = path.stem
            paths = {"color": folder / "color" / f"{name}.png", "flow": folder / f"{name}{suffix}"}
            bar.update(1)
            if outputs_done(paths):
                summary.skipped.append(name)
                continue
            try:
                if found.needs_image and name not in guides:
                    raise ValueError(f"no reference image {name}.* in {images}" if images else
                                     f"method {method!r} needs the reference images: pass images=FOLDER (--images)")
                image = read_image(guides[name]) if name in guides else None
                flow, valid = read_flow(path)
                dense = inpaint(flow, valid, image, method, **options)
            except (FlowFormatError, ValueError) as exc:
                summary.failed[name] = " ".join(str(exc).split())
                report(f"flowinpaint: skipped {path}: {summary.failed[name]}", bar)
                continue
            write_image(paths["color"], flow_to_color(np.asarray(dense)))
            write_flow(paths["flow"], dense)
            summary.written.append(name)
    return summary
