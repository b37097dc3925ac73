"""Synthetic examples with exact ground truth, masks of known pixels, and optical-flow datasets."""

from .datasets import (
    DATASETS,
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
    clustered_mask,
    edge_mask,
    grid_mask,
    make_sparse,
    match_mask,
    sample_density,
    uniform_mask,
)

__all__ = [
    "DATASETS",
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
    "clustered_mask",
    "edge_mask",
    "grid_mask",
    "load_dataset",
    "make_example",
    "make_sparse",
    "match_mask",
    "sample_density",
    "uniform_mask",
]
