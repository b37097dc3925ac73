"""Optical-flow datasets read from their published layouts, as ``torch`` datasets.

Every dataset yields the same :class:`FlowSample` dict: ``image1``, ``image2`` ``(H, W, 3)``
uint8 RGB; ``flow`` ``(H, W, 2)`` float32 from frame 1 to frame 2 in pixels (``0.0`` where not
valid); ``valid`` and ``occlusion`` ``(H, W)`` bool; and ``id``, a str naming the sample. Each
class's docstring shows the directory tree it expects under its root.
"""

from ._base import FlowDataset, FlowSample, SampleFiles
from .flyingchairs import FlyingChairs
from .flyingthings import FlyingThings3D
from .kitti import KITTI2012, KITTI2015
from .middlebury import Middlebury
from .registry import DATASETS, load_dataset
from .sintel import Sintel

__all__ = [
    "DATASETS",
    "KITTI2012",
    "KITTI2015",
    "FlowDataset",
    "FlowSample",
    "FlyingChairs",
    "FlyingThings3D",
    "Middlebury",
    "SampleFiles",
    "Sintel",
    "load_dataset",
]
