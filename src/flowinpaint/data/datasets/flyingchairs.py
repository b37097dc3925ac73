"""FlyingChairs (Dosovitskiy et al., "FlowNet", ICCV 2015)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from ._base import FlowDataset, PathLike, SampleFiles, check_option

__all__ = ["FlyingChairs"]

_SPLIT_FILE = "FlyingChairs_train_val.txt"
_SPLIT_CODES = {"train": "1", "val": "2"}


class FlyingChairs(FlowDataset):
    """FlyingChairs: 22,872 synthetic pairs of 512x384 RGB frames with dense flow.

    The root is the unpacked ``FlyingChairs_release`` folder; its expected layout ends this docstring.

    Sample ids are ``"flyingchairs/NNNNN"``; occlusion is all False (not provided).

    Args:
        root: the folder holding ``data/``.
        split: ``"train"`` or ``"val"`` (the official split; needs the split file) or
            ``"all"`` (every pair).

    Raises:
        FileNotFoundError: missing root, no pair, a pair missing one of its files, or a split
            other than ``"all"`` without the split file.
        ValueError: unknown ``split``, or a split file that is not one 1 or 2 per pair.
    """

    LAYOUT = """
FlyingChairs_train_val.txt    (optional: line N is 1 (train) or 2 (val) for pair N)
data/
    00001_img1.ppm
    00001_img2.ppm
    00001_flow.flo
    00002_img1.ppm
    ...
"""

    def __init__(self, root: PathLike, split: Literal["train", "val", "all"] = "train") -> None:
        self.split = check_option("split", split, ("train", "val", "all"))
        super().__init__(root, split=split)

    def _list_samples(self) -> Iterator[SampleFiles]:
        data = self.root / "data"
        codes = None if self.split == "all" else self._split_codes()
        for number, image1 in self._matching(data, r"(\d+)_img1\.ppm").items():
            if codes is not None and self._code(codes, number) != _SPLIT_CODES[self.split]:
                continue
            yield SampleFiles(
                id=f"flyingchairs/{number}",
                image1=image1,
                image2=self._require(data / f"{number}_img2.ppm", "second frame"),
                flow=self._require(data / f"{number}_flow.flo", "flow"),
            )

    def _split_codes(self) -> list[str]:
        """The split file's codes, one per pair (pair N is entry N - 1)."""
        path = self.root / _SPLIT_FILE
        if not self._exists(path):
            raise self._layout_error(
                f"split={self.split!r} needs the split file {_SPLIT_FILE}; use split='all'"
                " for every pair"
            )
        codes = Path(path).read_text().split()
        bad = sorted(set(codes) - set(_SPLIT_CODES.values()))
        if bad:
            raise ValueError(f"{path}: the split file must hold only 1 and 2, found {bad[0]!r}")
        return codes

    def _code(self, codes: list[str], number: str) -> str:
        """The split code of pair ``number``."""
        position = int(number) - 1
        if not 0 <= position < len(codes):
            raise ValueError(
                f"{self.root / _SPLIT_FILE}: no entry for pair {number}"
                f" (the file has {len(codes)} entries)"
            )
        return codes[position]
