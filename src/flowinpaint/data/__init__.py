"""Datasets (synthetic with exact ground truth, and the published ones), examples, and masks of known pixels."""

from .datasets import (
    DATASETS,
    KITTI2012,
    KITTI2015,
    FlowDataset,
    FlowSample,
    FlyingChairs,
    FlyingThings3D,
    Middlebury,
    SampleFiles,
    Sintel,
    load_dataset,
)
from .example import make_example
from .masks import (
    MASK_SAMPLERS,
    SPARSE_KINDS,
    SparseSample,
    clustered_mask,
    edge_mask,
    grid_mask,
    known_wrong,
    make_sparse,
    match_mask,
    occlusion_mask,
    sample_density,
    track_mask,
    uniform_mask,
)
from .outliers import inject_outliers
from .sensor_masks import block_mask, scanline_mask
from .synthetic import SyntheticConfig, SyntheticFlow

__all__ = [
    "DATASETS",
    "KITTI2012",
    "KITTI2015",
    "MASK_SAMPLERS",
    "SPARSE_KINDS",
    "FlowDataset",
    "FlowSample",
    "FlyingChairs",
    "FlyingThings3D",
    "Middlebury",
    "SampleFiles",
    "Sintel",
    "SparseSample",
    "SyntheticConfig",
    "SyntheticFlow",
    "block_mask",
    "clustered_mask",
    "edge_mask",
    "grid_mask",
    "inject_outliers",
    "known_wrong",
    "load_dataset",
    "make_example",
    "make_sparse",
    "match_mask",
    "occlusion_mask",
    "sample_density",
    "scanline_mask",
    "track_mask",
    "uniform_mask",
]
