"""The shared logic of every optical-flow dataset: listing checks, lazy loading, errors.

A dataset subclass only says where its files are (:meth:`FlowDataset._list_samples` returns one
:class:`SampleFiles` per pair); this base checks the root, reads and checks the files of a
sample, applies the invalid and occlusion information and builds the common
:class:`FlowSample`.
"""

from __future__ import annotations

import abc
import operator
import os
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, SupportsIndex, TypedDict, Union

import numpy as np
from torch.utils.data import Dataset

from ...errors import FlowFormatError
from ...io import read_flow, read_image, read_mask

__all__ = [
    "FlowDataset",
    "FlowSample",
    "PathLike",
    "SampleFiles",
    "check_option",
    "consecutive_pairs",
]

PathLike = Union[str, "os.PathLike[str]"]


class FlowSample(TypedDict):
    """One sample, the same for every dataset.

    Shape:
        image1, image2: ``(H, W, 3)`` uint8 RGB. flow: ``(H, W, 2)`` float32 ``(u, v)`` in
        pixels from frame 1 to frame 2, ``0.0`` where not valid. valid: ``(H, W)`` bool, True
        where the ground truth is known. occlusion: ``(H, W)`` bool, True where the pixel is
        occluded in frame 2 (all False where the dataset does not say).
    """

    image1: np.ndarray
    image2: np.ndarray
    flow: np.ndarray
    valid: np.ndarray
    occlusion: np.ndarray
    id: str


@dataclass(frozen=True)
class SampleFiles:
    """The files of one sample.

    Attributes:
        id: the sample's name, e.g. ``"sintel/final/alley_1/frame_0001"``.
        image1, image2: the frames (any image format; greyscale is replicated to RGB).
        flow: the ground-truth flow from ``image1`` to ``image2`` (``.flo``, KITTI ``.png`` or
            ``.pfm``); its unknown pixels are not valid.
        invalid: optional mask, non-zero (white) = not valid (Sintel ``invalid``).
        occlusion: optional mask, non-zero (white) = occluded (Sintel ``occlusions``).
        occlusion_flows: optional ``(all_pixels, non_occluded)`` flow files: a pixel is
            occluded where the first is valid and the second is not (KITTI ``flow_occ`` and
            ``flow_noc``).
    """

    id: str
    image1: Path
    image2: Path
    flow: Path
    invalid: Path | None = None
    occlusion: Path | None = None
    occlusion_flows: tuple[Path, Path] | None = None


def check_option(name: str, value: object, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else a ValueError listing them."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def consecutive_pairs(frames: Mapping[str, Path]) -> Iterator[tuple[str, Path, Path]]:
    """``(number, frame n, frame n + 1)`` for each numbered frame whose successor exists.

    ``frames`` maps decimal frame numbers (as written in the file names, e.g. ``"0006"``) to
    files; pairs come in increasing order, and a frame without a successor (the last one, or
    one before a gap) has no pair.
    """
    by_number = {int(number): (number, path) for number, path in frames.items()}
    for value in sorted(by_number):
        if value + 1 in by_number:
            number, first = by_number[value]
            yield number, first, by_number[value + 1][1]


class FlowDataset(Dataset[FlowSample]):
    """Base class of the optical-flow datasets: pairs of frames with ground-truth flow.

    The files are listed once, sorted, when the dataset is built; a sample is read only when it
    is indexed. ``dataset[i]`` is a :class:`FlowSample` (a dict of numpy arrays and the id).

    Subclasses set :attr:`LAYOUT` (the expected tree under the root, shown in errors and
    appended to their docstring) and implement :meth:`_list_samples`, using :meth:`_entries` and
    :meth:`_require` to look at the files.

    Raises:
        FileNotFoundError: on construction, when the root is missing, holds no sample, or a
            file a listed sample needs is missing; the message names the dataset, the root
            and the expected layout.
    """

    #: The expected directory tree under the root.
    LAYOUT: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.LAYOUT and cls.__doc__:
            tree = textwrap.indent(cls.LAYOUT.strip("\n"), " " * 8)
            cls.__doc__ = f"{cls.__doc__.rstrip()}\n\n    Expected layout under ``root``::\n\n{tree}\n"

    def __init__(self, root: PathLike, **options: object) -> None:
        self.root = Path(root)
        self._options = options
        if not self.root.is_dir():
            raise self._layout_error("the root does not exist or is not a folder")
        self._listing: dict[Path, dict[str, Path]] = {}
        try:
            samples = tuple(self._list_samples())
        finally:
            self._listing = {}
        if not samples:
            described = ", ".join(f"{key}={value!r}" for key, value in options.items())
            raise self._layout_error(
                "no samples found" + (f" for {described}" if described else "")
            )
        self._samples = samples

    # -- what subclasses implement and use ---------------------------------------------------

    @abc.abstractmethod
    def _list_samples(self) -> Iterable[SampleFiles]:
        """The files of every sample, in a sorted, deterministic order."""

    def _entries(self, folder: Path) -> dict[str, Path]:
        """The entries of ``folder`` by name, sorted by name (empty if it is not a folder).

        Each folder is read once per listing, so checking many files costs no extra I/O.
        """
        if folder not in self._listing:
            try:
                names = sorted(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                names = []
            self._listing[folder] = {name: folder / name for name in names}
        return self._listing[folder]

    def _matching(self, folder: Path, pattern: str) -> dict[str, Path]:
        """Entries of ``folder`` whose whole name matches ``pattern``, keyed by its first group."""
        regex = re.compile(pattern)
        found = {}
        for name, path in self._entries(folder).items():
            match = regex.fullmatch(name)
            if match:
                found[match.group(1)] = path
        return found

    def _exists(self, path: Path) -> bool:
        """Whether ``path`` is an entry of its folder (from the cached listing)."""
        return path.name in self._entries(path.parent)

    def _require(self, path: Path, what: str) -> Path:
        """``path`` if it exists, else the FileNotFoundError naming it and ``what`` it is."""
        if not self._exists(path):
            raise self._layout_error(f"missing {what}: {path}")
        return path

    def _layout_error(self, reason: str) -> FileNotFoundError:
        """The error for a root that does not hold the expected files."""
        layout = "\n".join("    " + line for line in self.LAYOUT.strip("\n").splitlines())
        return FileNotFoundError(
            f"{type(self).__name__} at {self.root}: {reason}.\n"
            f"Expected layout under the root:\n{layout}"
        )

    # -- the dataset protocol ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._samples)

    def __getitem__(self, index: SupportsIndex) -> FlowSample:
        """Read sample ``index`` (negative indices count from the end).

        Raises:
            IndexError: ``index`` out of range.
            FlowFormatError: a file is missing or corrupt, or the sizes of its files differ.
        """
        return self._load(self.files(index))

    def files(self, index: SupportsIndex) -> SampleFiles:
        """The files of sample ``index``, without reading them."""
        position = operator.index(index)
        try:
            return self._samples[position]
        except IndexError:
            raise IndexError(
                f"{type(self).__name__} index {position} out of range for {len(self)} samples"
            ) from None

    @property
    def ids(self) -> list[str]:
        """The ids of all samples, in order."""
        return [files.id for files in self._samples]

    def __repr__(self) -> str:
        options = "".join(f", {key}={value!r}" for key, value in self._options.items())
        return f"{type(self).__name__}(root={str(self.root)!r}{options}, samples={len(self)})"

    # -- loading -----------------------------------------------------------------------------

    def _load(self, files: SampleFiles) -> FlowSample:
        image1 = read_image(files.image1)
        image2 = read_image(files.image2)
        flow, valid = read_flow(files.flow)
        invalid = None if files.invalid is None else read_mask(files.invalid)
        occlusion = None if files.occlusion is None else read_mask(files.occlusion)
        flow_valid = [
            valid if path == files.flow else read_flow(path)[1]
            for path in files.occlusion_flows or ()
        ]
        _check_sizes(
            files.id,
            [
                (files.image1, image1),
                (files.image2, image2),
                (files.flow, flow),
                (files.invalid, invalid),
                (files.occlusion, occlusion),
                *zip(files.occlusion_flows or (), flow_valid),
            ],
        )
        if invalid is not None:
            valid = valid & ~invalid
        if flow_valid:
            occlusion = flow_valid[0] & ~flow_valid[1]
        if occlusion is None:
            occlusion = np.zeros(valid.shape, dtype=bool)
        flow = np.where(valid[..., None], flow, np.float32(0.0)).astype(np.float32, copy=False)
        return FlowSample(
            image1=image1, image2=image2, flow=flow, valid=valid, occlusion=occlusion, id=files.id
        )


def _check_sizes(sample_id: str, files: Sequence[tuple[Path | None, np.ndarray | None]]) -> None:
    """Raise a FlowFormatError naming the files when they are not all the same size."""
    sizes = [
        (path, array.shape[:2]) for path, array in files if path is not None and array is not None
    ]
    if len({shape for _, shape in sizes}) > 1:
        listed = ", ".join(f"{path} is {shape[1]}x{shape[0]}" for path, shape in sizes)
        raise FlowFormatError(
            f"sample {sample_id!r}: its files differ in size (width x height): {listed}"
        )
