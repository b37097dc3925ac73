"""Synthetic examples with exact ground truth, and masks of known pixels."""

from .example import make_example
from .masks import uniform_mask

__all__ = ["make_example", "uniform_mask"]
