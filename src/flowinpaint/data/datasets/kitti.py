"""KITTI optical-flow training sets: KITTI 2012 (Geiger et al., CVPR 2012) and KITTI 2015 (Menze
and Geiger, CVPR 2015). Both share one layout up to the name of the frame folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from ._base import FlowDataset, PathLike, SampleFiles, check_option

__all__ = ["KITTI2012", "KITTI2015"]


def _layout(frames: str, noc_note: str) -> str:
    """The expected tree of a KITTI flow set whose left colour frames are in ``frames``."""
    return f"""
training/
    {frames}/
        000000_10.png
        000000_11.png
        000001_10.png
        ...
    flow_occ/
        000000_10.png
        ...
    flow_noc/ ...       ({noc_note})
"""


class _KITTI(FlowDataset):
    """The common logic of the KITTI flow sets; subclasses set the frame folder and the id prefix.

    Flows are KITTI 16-bit PNGs from ``NNNNNN_10`` to ``NNNNNN_11``: ``flow_occ`` covers all
    pixels with ground truth, ``flow_noc`` only the non-occluded ones. When both folders exist,
    a pixel is occluded where ``flow_occ`` is valid and ``flow_noc`` is not; otherwise occlusion
    is all False.
    """

    #: The folder of the left colour frames under ``training/``.
    FRAMES: ClassVar[str]
    #: The first part of every sample id.
    PREFIX: ClassVar[str]

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
        images = training / self.FRAMES
        flow_folders = (training / "flow_occ", training / "flow_noc")
        chosen = training / f"flow_{self.flow_type}"
        other = "noc" if self.flow_type == "occ" else "occ"
        if not self._exists(chosen) and self._exists(training / f"flow_{other}"):
            raise self._layout_error(
                f"no samples found for flow_type={self.flow_type!r}: {chosen} is missing, but flow_{other}/ "
                f"is there (pass flow_type={other!r}, on the command line --flow {other})"
            )
        with_occlusion = all(self._exists(folder) for folder in flow_folders)
        for number, flow in self._matching(chosen, r"(\d+)_10\.png").items():
            name = f"{number}_10.png"
            yield SampleFiles(
                id=f"{self.PREFIX}/{number}",
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


class KITTI2015(_KITTI):
    """KITTI 2015: 200 real road pairs of about 1242x375 RGB frames with sparse flow.

    The root is the unpacked ``data_scene_flow`` folder; its expected layout ends this docstring.
    Flows are KITTI 16-bit PNGs: ``flow_occ`` covers all pixels with ground truth, ``flow_noc``
    only the non-occluded ones; when both folders exist, a pixel is occluded where ``flow_occ``
    is valid and ``flow_noc`` is not (otherwise occlusion is all False). Sample ids are
    ``"kitti2015/NNNNNN"``.

    Args:
        root: the folder holding ``training/``.
        split: ``"training"`` (the test set has no ground truth).
        flow_type: ``"occ"`` (all pixels) or ``"noc"`` (non-occluded pixels only) ground truth.

    Raises:
        FileNotFoundError: missing root, no pair (the chosen ground-truth folder missing: the
            message says when the other one is there), or a pair missing a frame or flow file.
        ValueError: unknown ``split`` or ``flow_type``.
    """

    FRAMES = "image_2"
    PREFIX = "kitti2015"
    LAYOUT = _layout(FRAMES, 'same names; optional unless flow_type="noc"')


class KITTI2012(_KITTI):
    """KITTI 2012: 194 real road pairs of about 1241x376 RGB frames with sparse LiDAR-based flow.

    The root is the unpacked ``data_stereo_flow`` folder; its expected layout ends this
    docstring. The ground truth and occlusion are read as in :class:`KITTI2015`, from the same
    folder names; only the chosen ground-truth folder is required. Sample ids are
    ``"kitti2012/NNNNNN"``. Arguments and errors are those of :class:`KITTI2015`.
    """

    FRAMES = "colored_0"
    PREFIX = "kitti2012"
    LAYOUT = _layout(FRAMES, "same names; either folder may be missing, not the chosen one")
