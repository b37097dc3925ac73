"""MPI Sintel (Butler et al., ECCV 2012), training set of ``MPI-Sintel-complete``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from ._base import FlowDataset, PathLike, SampleFiles, check_option, consecutive_pairs

__all__ = ["Sintel"]


class Sintel(FlowDataset):
    """MPI Sintel: 23 training scenes of 1024x436 RGB frames with dense flow.

    The root is the unpacked ``MPI-Sintel-complete`` folder; its expected layout ends this docstring.

    Flow ``frame_000n.flo`` goes from frame ``n`` to frame ``n + 1``, so a scene with ``k``
    frames gives ``k - 1`` samples. Pixels white in ``invalid`` are not valid; pixels white in
    ``occlusions`` are occluded. Either folder may be absent (then every pixel is valid or
    unoccluded), but when it is present every sample must have its mask. Sample ids are
    ``"sintel/<pass>/<scene>/frame_000n"``.

    ``pass_name="all"`` takes every pair of both passes (clean first, then final), so a scene
    rendered in both passes counts twice; a root holding only one of the pass folders (such as a
    small sample of the dataset) gives the pairs that folder has.

    Args:
        root: the folder holding ``training/``.
        split: ``"training"`` (the test set has no ground truth).
        pass_name: ``"final"`` (motion blur, defocus, atmospheric effects: the paper's and the
            benchmark's main pass; the default), ``"clean"``, or ``"all"`` (both).

    Raises:
        FileNotFoundError: missing root, no pair, or a pair missing its flow or a mask.
        ValueError: unknown ``split`` or ``pass_name``.
    """

    LAYOUT = """
training/
    clean/
        alley_1/
            frame_0001.png
            frame_0002.png
            ...
        ...
    final/ ...          (same tree)
    flow/
        alley_1/
            frame_0001.flo
            ...
    occlusions/ ...     (optional; frame_0001.png, white = occluded)
    invalid/ ...        (optional; frame_0001.png, white = invalid)
"""

    def __init__(
        self,
        root: PathLike,
        split: Literal["training"] = "training",
        pass_name: Literal["clean", "final", "all"] = "final",
    ) -> None:
        self.split = check_option("split", split, ("training",))
        self.pass_name = check_option("pass_name", pass_name, ("clean", "final", "all"))
        super().__init__(root, split=split, pass_name=pass_name)

    def _list_samples(self) -> Iterator[SampleFiles]:
        training = self.root / self.split
        passes = ("clean", "final") if self.pass_name == "all" else (self.pass_name,)
        for pass_name in passes:
            yield from self._list_pass(training, pass_name)

    def _list_pass(self, training: Path, pass_name: str) -> Iterator[SampleFiles]:
        for scene, folder in self._entries(training / pass_name).items():
            frames = self._matching(folder, r"frame_(\d+)\.png")
            for number, image1, image2 in consecutive_pairs(frames):
                name = f"frame_{number}"
                yield SampleFiles(
                    id=f"sintel/{pass_name}/{scene}/{name}",
                    image1=image1,
                    image2=image2,
                    flow=self._require(training / "flow" / scene / f"{name}.flo", "flow"),
                    invalid=self._mask(training / "invalid", scene, name),
                    occlusion=self._mask(training / "occlusions", scene, name),
                )

    def _mask(self, folder: Path, scene: str, name: str) -> Path | None:
        """The mask ``folder/scene/name.png``: required if ``folder`` exists, else None."""
        if not self._exists(folder):
            return None
        return self._require(folder / scene / f"{name}.png", f"{folder.name} mask")
