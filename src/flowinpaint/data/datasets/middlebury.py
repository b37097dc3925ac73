"""Middlebury optical flow benchmark (Baker et al., IJCV 2011), training sequences with GT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ._base import FlowDataset, PathLike, SampleFiles

__all__ = ["Middlebury"]

_FRAME_FOLDERS = ("other-data", "other-data-gray")


class Middlebury(FlowDataset):
    """Middlebury: 8 training sequences (up to 640x480) with ground-truth flow for frame 10.

    The expected layout under the root ends this docstring.

    Each sequence with a ``flow10.flo`` gives one sample, frame 10 to frame 11. Flow
    components above 1e9 are unknown (not valid). Sample ids are ``"middlebury/<sequence>"``;
    occlusion is all False.

    Args:
        root: the folder holding ``other-gt-flow/``.

    Raises:
        FileNotFoundError: missing root, no sequence, or a sequence without its two frames.
    """

    LAYOUT = """
other-gt-flow/
    Dimetrodon/
        flow10.flo
    ...
other-data/             (colour frames; per sequence, other-data-gray/ is used
    Dimetrodon/          when other-data/ lacks it)
        frame10.png
        frame11.png
    ...
other-data-gray/ ...    (same tree, greyscale frames, replicated to RGB)
"""

    def __init__(self, root: PathLike) -> None:
        super().__init__(root)

    def _list_samples(self) -> Iterator[SampleFiles]:
        for sequence, folder in self._entries(self.root / "other-gt-flow").items():
            flow = folder / "flow10.flo"
            if not self._exists(flow):
                continue
            image1, image2 = self._frames(sequence)
            yield SampleFiles(id=f"middlebury/{sequence}", image1=image1, image2=image2, flow=flow)

    def _frames(self, sequence: str) -> tuple[Path, Path]:
        """Frames 10 and 11 of ``sequence``, in colour if available, else greyscale."""
        for frames in _FRAME_FOLDERS:
            folder = self.root / frames / sequence
            pair = (folder / "frame10.png", folder / "frame11.png")
            if all(self._exists(path) for path in pair):
                return pair
        raise self._layout_error(
            f"missing frames of sequence {sequence}: frame10.png and frame11.png in neither"
            f" {' nor '.join(str(self.root / frames / sequence) for frames in _FRAME_FOLDERS)}"
        )
