"""KITTI 2015 scene flow benchmark (Menze and Geiger, CVPR 2015), optical flow training set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from ._base import FlowDataset, PathLike, SampleFiles, check_option

__all__ = ["KITTI2015"]


class KITTI2015(FlowDataset):
    """KITTI 2015: 200 real road pairs of about 1242x375 RGB frames with sparse flow.

    The root is the unpacked ``data_scene_flow`` folder; its expected layout ends this docstring.

    Flows are KITTI 16-bit PNGs from ``NNNNNN_10`` to ``NNNNNN_11``: ``flow_occ`` covers all
    pixels with ground truth, ``flow_noc`` only the non-occluded ones. When both folders exist,
    a pixel is occluded where ``flow_occ`` is valid and ``flow_noc`` is not; otherwise occlusion
    is all False. Sample ids are ``"kitti2015/NNNNNN"``.

    Args:
        root: the folder holding ``training/``.
        split: ``"training"`` (the test set has no ground truth).
        flow_type: ``"occ"`` (all pixels) or ``"noc"`` (non-occluded pixels only) ground truth.

    Raises:
        FileNotFoundError: missing root, no pair, or a pair missing a frame or flow file.
        ValueError: unknown ``split`` or ``flow_type``.
    """

    LAYOUT = """
training/
    image_2/
        000000_10.png
        000000_11.png
        000001_10.png
        ...
    flow_occ/
        000000_10.png
        ...
    flow_noc/ ...       (same names; optional unless flow_type="noc")
"""

    def __init__(
        self,
        root: PathLike,
        split: Literal["training"] = "training",
        flow_type: Literal["occ", "noc"] = "occ",
    ) -> None:
        self.split = check_option("split", split, ("training",))
        self.flow_type = check_option("flow_type", flow_type, ("occ", "noc"))
        super().__init__(root, split=split, flow_type=flow_type)

    def _list_samples(self) -> Iterator[SampleFiles]:
        training = self.root / self.split
        images = training / "image_2"
        flow_folders = (training / "flow_occ", training / "flow_noc")
        with_occlusion = all(self._exists(folder) for folder in flow_folders)
        flows = self._matching(training / f"flow_{self.flow_type}", r"(\d+)_10\.png")
        for number, flow in flows.items():
            name = f"{number}_10.png"
            yield SampleFiles(
                id=f"kitti2015/{number}",
                image1=self._require(images / name, "first frame"),
                image2=self._require(images / f"{number}_11.png", "second frame"),
                flow=flow,
                occlusion_flows=(
                    (
                        self._require(flow_folders[0] / name, "flow"),
                        self._require(flow_folders[1] / name, "flow"),
                    )
                    if with_occlusion
                    else None
                ),
            )
