"""Dense flow from two frames: an initial estimate, a reliability test, inpainting of the rest.

:func:`densify` does one pair (:mod:`.pipeline`); :mod:`.sequence` runs it over a folder, a
glob or a video, resumable and split across processes.
"""

from .estimate import DIS_PRESETS, DisPreset
from .pipeline import DEFAULT_METHOD, MATCHERS, DenseFlow, check_settings, densify
from .sequence import FrameSource, densify_sequence, find_frames, write_flow_video

__all__ = [
    "DEFAULT_METHOD",
    "DIS_PRESETS",
    "MATCHERS",
    "DenseFlow",
    "DisPreset",
    "FrameSource",
    "check_settings",
    "densify",
    "densify_sequence",
    "find_frames",
    "write_flow_video",
]
