"""FlyingThings3D (Mayer et al., CVPR 2016), the full release with PFM flow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from ._base import FlowDataset, PathLike, SampleFiles, check_option, consecutive_pairs

__all__ = ["FlyingThings3D"]

_PARTS = ("A", "B", "C")


class FlyingThings3D(FlowDataset):
    """FlyingThings3D: synthetic sequences of 960x540 RGB frames with dense flow.

    The expected layout under the root ends this docstring.

    Only the left camera and ``into_future`` flows are used: frame ``n`` is paired with frame
    ``n + 1`` through flow ``n``, so the last frame of a sequence has no pair. Sample ids are
    ``"flyingthings3d/<pass>/<TRAIN|TEST>/<part>/<sequence>/<frame>"``; occlusion is all False.

    Args:
        root: the folder holding ``frames_*pass/`` and ``optical_flow/``.
        split: ``"train"`` (``TRAIN``) or ``"test"`` (``TEST``).
        pass_name: ``"clean"`` or ``"final"`` rendering.

    Raises:
        FileNotFoundError: missing root, no pair, or a pair without its flow file.
        ValueError: unknown ``split`` or ``pass_name``.
    """

    LAYOUT = """
frames_cleanpass/
    TRAIN/
        A/
            0000/
                left/
                    0006.png
                    0007.png
                    ...
            ...
        B/ ...
        C/ ...
    TEST/ ...
frames_finalpass/ ...       (same tree)
optical_flow/
    TRAIN/
        A/
            0000/
                into_future/
                    left/
                        OpticalFlowIntoFuture_0006_L.pfm
                        ...
    TEST/ ...
"""

    def __init__(
        self,
        root: PathLike,
        split: Literal["train", "test"] = "train",
        pass_name: Literal["clean", "final"] = "clean",
    ) -> None:
        self.split = check_option("split", split, ("train", "test"))
        self.pass_name = check_option("pass_name", pass_name, ("clean", "final"))
        super().__init__(root, split=split, pass_name=pass_name)

    def _list_samples(self) -> Iterator[SampleFiles]:
        split = self.split.upper()
        frames_root = self.root / f"frames_{self.pass_name}pass" / split
        flows_root = self.root / "optical_flow" / split
        for part in _PARTS:
            for sequence in self._matching(frames_root / part, r"(\d+)"):
                frames = self._matching(frames_root / part / sequence / "left", r"(\d+)\.png")
                flows = flows_root / part / sequence / "into_future" / "left"
                for number, image1, image2 in consecutive_pairs(frames):
                    yield SampleFiles(
                        id=f"flyingthings3d/{self.pass_name}/{split}/{part}/{sequence}/{number}",
                        image1=image1,
                        image2=image2,
                        flow=self._require(flows / f"OpticalFlowIntoFuture_{number}_L.pfm", "flow"),
                    )
