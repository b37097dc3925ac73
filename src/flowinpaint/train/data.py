"""Training and validation tensors from the synthetic flow dataset.

The data order is a pure function of ``(seed, step)``: the global sample position
``p = step * batch_size + slot`` picks the sample ``permutation(seed, epoch)[p % length]`` with
``epoch = p // length``, and the crop offset, the mask (density drawn log-uniformly in the
configured range, then a uniform mask) and, with ``degrade`` > 0, whether and how the image is
degraded like a real frame (:func:`flowinpaint.data.degrade.degrade`) come from a generator seeded
with ``(seed, p)``. So a run
resumed at any step sees exactly the samples and masks an uninterrupted run would, and every load
of a sample (a new position) redraws its mask.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from ..data import SyntheticConfig, SyntheticFlow, sample_density, uniform_mask
from ..data.degrade import degrade
from .config import TrainConfig

__all__ = ["StepBatchSampler", "TrainingSamples", "to_tensors", "validation_batches"]

_MASK_STREAM = 1  # separates the generators of the training draws from other uses of the seed


def to_tensors(image: np.ndarray, flow: np.ndarray, valid: np.ndarray, known: np.ndarray) -> dict[str, Tensor]:
    """One sample as training tensors: ``image`` (3,H,W) float in [0,1], ``flow`` (2,H,W) sparse
    (zero off the known pixels), ``known`` (1,H,W) bool, ``truth`` (2,H,W) and ``valid`` (1,H,W) bool."""
    known = known & valid
    truth = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32).transpose(2, 0, 1).copy())
    known_t = torch.from_numpy(np.ascontiguousarray(known))[None]
    return {
        "image": torch.from_numpy(np.ascontiguousarray(image).transpose(2, 0, 1).copy()).float() / 255.0,
        "flow": truth.masked_fill(~known_t, 0.0),
        "known": known_t,
        "truth": truth,
        "valid": torch.from_numpy(np.ascontiguousarray(valid))[None],
    }


class TrainingSamples(Dataset):
    """Training samples addressed by their global position ``p = step * batch_size + slot``.

    ``dataset[p]`` is a dict of tensors (see :func:`to_tensors`) plus ``density`` (float) and
    ``index`` (the synthetic sample's index), for any ``p >= 0``.
    """

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.source = SyntheticFlow("train", config.frame, config.train_length, config.data_seed,
                                    SyntheticConfig(perspective_probability=config.perspective))
        self._permutation: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:  # positions are unbounded; one pass over the split for len()
        return self.config.train_length

    def sample_index(self, position: int) -> int:
        """The synthetic sample at global position ``position``."""
        length = self.config.train_length
        epoch, offset = divmod(position, length)
        if self._permutation is None or self._permutation[0] != epoch:
            order = np.random.default_rng([self.config.seed, epoch]).permutation(length)
            self._permutation = (epoch, order)
        return int(self._permutation[1][offset])

    def __getitem__(self, position: int) -> dict:
        position = int(position)
        if position < 0:
            raise IndexError(f"position must be >= 0, got {position}")
        config = self.config
        index = self.sample_index(position)
        sample = self.source[index]
        rng = np.random.default_rng([config.seed, _MASK_STREAM, position])
        (height, width), (crop_h, crop_w) = config.frame, config.crop
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
        window = (slice(top, top + crop_h), slice(left, left + crop_w))
        valid = sample["valid"][window]
        density = sample_density(rng, config.density_low, config.density_high)
        known = uniform_mask(valid, density, int(rng.integers(0, 2**63 - 1)))
        image, flow = sample["image1"][window], sample["flow"][window]
        if config.degrade and rng.random() < config.degrade:
            image = degrade(np.ascontiguousarray(image), np.ascontiguousarray(flow), rng)
        result = to_tensors(image, flow, valid, known)
        result["density"] = density
        result["index"] = index
        return result


class StepBatchSampler(Sampler):
    """Yields, for each step from ``start`` to ``stop - 1``, this rank's share of the step's positions.

    The global batch of step ``s`` is the positions ``s * batch_size + slot``; rank ``r`` of
    ``world`` processes takes the slots ``r, r + world, ...``.
    """

    def __init__(self, start: int, stop: int, batch_size: int, rank: int = 0, world: int = 1) -> None:
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} must be a multiple of the number of processes {world}")
        self.start, self.stop, self.batch_size, self.rank, self.world = start, stop, batch_size, rank, world

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            yield [step * self.batch_size + slot for slot in range(self.rank, self.batch_size, self.world)]


def validation_batches(config: TrainConfig) -> dict[float, dict[str, Tensor]]:
    """The fixed validation set: per density of ``config.val_densities``, a batch of all
    ``val_length`` synthetic val samples (``crop``-sized frames) with fixed uniform masks."""
    source = SyntheticFlow("val", config.crop, config.val_length, config.data_seed)
    samples = [source[index] for index in range(config.val_length)]
    batches = {}
    for number, density in enumerate(config.val_densities):
        items = [
            to_tensors(
                sample["image1"], sample["flow"], sample["valid"],
                uniform_mask(sample["valid"], density, seed=[config.data_seed, number, index]),  # type: ignore[arg-type]
            )
            for index, sample in enumerate(samples)
        ]
        batches[density] = {key: torch.stack([item[key] for item in items]) for key in items[0]}
    return batches
