"""Datasets (synthetic with exact ground truth, and the published ones), examples, and masks of known pixels."""

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
from .synthetic import SyntheticConfig, SyntheticFlow

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
    "SyntheticConfig",
    "SyntheticFlow",
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
