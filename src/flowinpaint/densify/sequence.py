"""``densify`` over many frames: a folder, a glob or a video, one flow per consecutive pair.

:func:`densify_sequence` writes, for the pair of frames ``i`` and ``i + 1`` named after frame
``i`` (its file stem, or ``frame_NNNNNN`` for a video), ``OUT/NAME.flo`` (or a KITTI ``.png``),
``OUT/color/NAME.png`` and, on request, ``OUT/confidence/NAME.png`` (8-bit, 255 = confidence 1),
every file atomically and the flow last, so a pair whose flow file exists is done: rerunning
skips it (resumable). A frame that cannot be read is reported and the pairs it belongs to are
skipped; the run goes on. With ``video=True``, ``OUT/flow.mp4`` shows every flow colour-coded with
one fixed scale for the whole clip.

Split across processes (:mod:`flowinpaint.batch`): under ``torchrun --nproc_per_node N`` (or any
launcher that sets ``RANK`` and ``WORLD_SIZE``) process ``r`` takes the pairs ``i`` with
``i % N == r``, so N processes on one or several machines (sharing the output folder) divide a
folder of thousands of frames. The video is written by rank 0 once every rank is done, which needs a process group (torchrun, or
``MASTER_ADDR`` / ``MASTER_PORT`` set).
"""

from __future__ import annotations

import functools
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..batch import (
    IMAGE_SUFFIXES,
    BatchSummary,
    flow_suffix,
    list_files,
    outputs_done,
    report,
    shard,
)
from ..errors import FlowFormatError
from ..io import read_flow, read_image, write_flow, write_image
from ..viz import flow_to_color
from .pipeline import check_settings, densify

__all__ = ["VIDEO_SUFFIXES", "FrameSource", "densify_sequence", "find_frames", "write_flow_video"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
VIDEO_NAME = "flow.mp4"
_VIDEO_FPS = 10.0
_VIDEO_SCALE_PERCENTILE = 99.0  # the clip's colour scale: this percentile of |flow| over all its frames


@dataclass(frozen=True)
class FrameSource:
    """Where the frames come from: image files in order, or one video file."""

    images: tuple[Path, ...] = ()
    video: Path | None = None

    def describe(self) -> str:
        return f"video {self.video}" if self.video else f"{len(self.images)} images"


def find_frames(source: str | os.PathLike[str]) -> FrameSource:
    """The frames of ``source``: a folder of images, a glob pattern, or a video file.

    Images are ordered by name, numbers compared as numbers (``frame_2`` before ``frame_10``).

    Raises:
        ValueError: nothing found, fewer than two frames, or two images with the same stem (their
            flows would share a name).
    """
    path = Path(os.fspath(source))
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return FrameSource(video=path)
    if path.is_file():
        raise ValueError(f"{path}: not a video ({', '.join(VIDEO_SUFFIXES)}), a folder or a glob pattern")
    images = list_files(source, IMAGE_SUFFIXES, "frames")
    if len(images) < 2:
        raise ValueError(f"{source}: {len(images)} image(s) ({', '.join(IMAGE_SUFFIXES)}); two frames at least are needed")
    return FrameSource(images=tuple(images))


Loader = Callable[[], tuple["np.ndarray | None", "str | None"]]


def _read(path: Path) -> tuple[np.ndarray | None, str | None]:
    try:
        return read_image(path), None
    except FlowFormatError as exc:
        return None, str(exc)


def _frames(source: FrameSource) -> Iterator[tuple[str, Loader]]:
    """``(name, load)`` for every frame in order; ``load()`` gives ``(image, error)`` (image None on
    error). Image files are read only when a pair needs them; video frames are decoded in order."""
    if source.video is None:
        for path in source.images:
            yield path.stem, functools.partial(_read, path)
        return
    import cv2

    capture = cv2.VideoCapture(str(source.video))
    if not capture.isOpened():
        raise ValueError(f"{source.video}: OpenCV cannot open this video")
    try:
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield f"frame_{index:06d}", functools.partial(lambda image: (image, None), frame)
            index += 1
    finally:
        capture.release()


def _outputs(out: Path, name: str, suffix: str, confidence: bool) -> dict[str, Path]:
    paths = {"flow": out / f"{name}{suffix}", "color": out / "color" / f"{name}.png"}
    if confidence:
        paths["confidence"] = out / "confidence" / f"{name}.png"
    return paths


def _write_pair(paths: dict[str, Path], result: Any) -> None:
    """The pair's files, each atomic; the flow last, so its presence means the pair is done."""
    write_image(paths["color"], flow_to_color(result.flow))
    if "confidence" in paths:
        write_image(paths["confidence"], result.confidence)
    write_flow(paths["flow"], result.flow)


def densify_sequence(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    flow_format: str = "flo",
    confidence: bool = False,
    video: bool = False,
    progress: bool = True,
    **options: Any,
) -> BatchSummary:
    """Densify every consecutive pair of ``source`` into ``out`` (see the module docstring).

    Args:
        source: a folder of images, a glob pattern (``"frames/*.jpg"``) or a video file.
        out: the output folder (created).
        flow_format: ``"flo"`` (Middlebury) or ``"png"`` (KITTI 16-bit).
        confidence: also write the confidence of every flow as an 8-bit PNG.
        video: also write ``OUT/flow.mp4`` (rank 0, after every rank).
        progress: show a progress bar (tqdm) on stderr.
        **options: the options of :func:`flowinpaint.densify` (method, matcher, preset, ...).

    Returns:
        This process's :class:`~flowinpaint.batch.BatchSummary`.

    Raises:
        ValueError: a bad source, format, rank setting, or ``video`` with several processes but no
            process group to wait on.
    """
    from tqdm import tqdm

    suffix = flow_suffix(flow_format)
    check_settings(**options)
    frames = find_frames(source)
    rank, world = shard()
    if video and world > 1 and not ({"MASTER_ADDR", "MASTER_PORT"} <= set(os.environ)):
        raise ValueError("video with several processes needs a process group to wait on: launch with torchrun "
                         "(or set MASTER_ADDR and MASTER_PORT), or write the video afterwards in one process")
    folder = Path(out)
    for sub in ("color", *(("confidence",) if confidence else ())):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    summary = BatchSummary()
    total = len(frames.images) - 1 if frames.video is None else None
    names: list[str] = []
    bar = tqdm(total=total, desc=f"densify (rank {rank}/{world})" if world > 1 else "densify", unit="pair",
               disable=not progress, file=sys.stderr)
    previous: tuple[str, Loader] | None = None
    loaded: dict[str, tuple[np.ndarray | None, str | None]] = {}  # the last frames read, each read once

    def read_frame(name: str, load: Loader) -> np.ndarray | None:
        if name not in loaded:
            loaded[name] = load()
            for old in list(loaded)[:-2]:
                del loaded[old]
            if loaded[name][1] is not None:
                summary.failed[name] = str(loaded[name][1])
                report(f"flowinpaint: skipped frame {name}: {loaded[name][1]}", bar)
        return loaded[name][0]

    try:
        for index, (name, load) in enumerate(_frames(frames)):
            if previous is not None:
                pair_name, previous_load = previous
                names.append(pair_name)
                paths = _outputs(folder, pair_name, suffix, confidence)
                if (index - 1) % world == rank:
                    if outputs_done(paths):
                        summary.skipped.append(pair_name)
                    else:
                        _densify_pair(pair_name, read_frame(pair_name, previous_load), read_frame(name, load), paths,
                                      summary, options, bar)
                bar.update(1)
            previous = (name, load)
    finally:
        bar.close()
    if video:
        summary.video = _video_after_all_ranks(folder, [folder / f"{n}{suffix}" for n in names], rank, world)
    return summary


def _densify_pair(name: str, first: np.ndarray | None, second: np.ndarray | None, paths: dict[str, Path],
                  summary: BatchSummary, options: dict[str, Any], bar: Any) -> None:
    if first is None or second is None:
        summary.failed[name] = "a frame of the pair could not be read"
        return
    try:
        result = densify(first, second, **options)
    except ValueError as exc:  # the settings were checked up front: this is the pair's own problem
        summary.failed[name] = str(exc)
        report(f"flowinpaint: skipped pair {name}: {exc}", bar)
        return
    _write_pair(paths, result)
    summary.written.append(name)


def _video_after_all_ranks(folder: Path, flows: list[Path], rank: int, world: int) -> Path | None:
    """Rank 0 writes the clip once every rank is done; the others return None."""
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="gloo", rank=rank, world_size=world)
        dist.barrier()
    if rank != 0:
        return None
    return write_flow_video(flows, folder / VIDEO_NAME)


def write_flow_video(flows: list[Path], path: Path, fps: float = _VIDEO_FPS) -> Path | None:
    """An MP4 of the flows colour-coded with one scale: the 99th percentile of |flow| over the clip.

    Missing flow files (failed pairs) are left out. Written to a temporary file beside ``path``
    and renamed over it. Returns ``path``, or None when no flow exists.
    """
    import cv2

    present = [flow for flow in flows if flow.exists()]
    if not present:
        return None
    magnitudes = [np.percentile(np.linalg.norm(read_flow(flow)[0], axis=-1), _VIDEO_SCALE_PERCENTILE) for flow in present]
    scale = max(float(max(magnitudes)), 1e-6)
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.tmp{path.suffix}")
    writer = None
    try:
        for flow_path in present:
            flow, valid = read_flow(flow_path)
            frame = cv2.cvtColor(flow_to_color(flow, max_flow=scale, valid=valid), cv2.COLOR_RGB2BGR)
            if writer is None:
                writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
                if not writer.isOpened():
                    raise OSError(f"{path}: OpenCV cannot write MP4 video here")
            writer.write(frame)
        writer.release()
        writer = None
        os.replace(temporary, path)
    finally:
        if writer is not None:
            writer.release()
        temporary.unlink(missing_ok=True)
    return path
