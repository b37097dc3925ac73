"""Training of the trust classifier (:mod:`flowinpaint.models.trust`) on synthetic scenes.

Each training scene (:class:`flowinpaint.data.SyntheticFlow`, split ``train``) gets a sparse input
drawn at random: a mask kind (uniform three times in five, clustered, or real SIFT matches between
its two frames with their own errors), a density, and a share of wrong values injected
(:func:`flowinpaint.data.inject_outliers`: random ones and ones borrowed from 20-80 px away);
half the scenes are first degraded like real frames (:func:`flowinpaint.data.degrade.degrade`:
motion blur, defocus, haze, exposure, noise, JPEG). Every known value becomes one example: its
features (:func:`flowinpaint.methods.trust.trust_evidence`) and whether it lies within
``RIGHT_WITHIN`` px of the truth. The classifier is fitted by Adam on the binary cross-entropy,
on CPU in a minute; everything is seeded, so a run is reproducible.

    flowinpaint train-trust --scenes 800 --out src/flowinpaint/models/weights/trust.pt
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.degrade import degrade
from ..data.masks import make_sparse
from ..data.synthetic import SyntheticConfig, SyntheticFlow
from ..diffusion.domain_transform import gap_spacing, slope_reach
from ..methods.local_affine import local_affine_fit
from ..methods.neuroaffine import REFINEMENT_ITERATIONS, NeuroaffineOptions
from ..methods.trust import FEATURE_NAMES, trust_evidence
from ..models.pretrained import save_model
from ..models.trust import TrustClassifier, TrustConfig
from ..provenance import git_commit

__all__ = ["TrustTrainingConfig", "collect_examples", "run_training", "train_trust", "trust_record"]

RIGHT_WITHIN = 0.5  # px: a known value this close to the truth is right
KINDS = ("uniform", "uniform", "uniform", "clustered", "matches")
DENSITIES = (0.0005, 0.001, 0.003, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
OUTLIER_SHARES = (0.0, 0.0, 0.05, 0.1, 0.2, 0.3)
_METHOD = NeuroaffineOptions()
#: The fit the features are computed with: the neuroaffine defaults (with its refinement pass), so
#: that the classifier reads at inference what it was trained on.
FIT = {"spatial_factor": _METHOD.spatial_factor, "color_factor": _METHOD.color_factor, "reach": _METHOD.reach,
       "iterations": REFINEMENT_ITERATIONS, "sparse_below": _METHOD.sparse_below}


@dataclass(frozen=True)
class TrustTrainingConfig:
    """What to train on and how.

    Attributes:
        scenes: synthetic training scenes (one sparse input each).
        size: their size ``(H, W)``.
        degrade: the share of scenes degraded like real frames.
        perspective: the share of scenes whose background moves by a homography (a camera
            moving over a plane: zoom, rotation and perspective motion gradients, as in
            driving scenes; :attr:`flowinpaint.data.SyntheticConfig.perspective_probability`).
        epochs: passes over the examples; batch: examples per step; learning_rate: Adam's.
        hidden: the classifier's hidden widths.
        seed: of the scenes, the inputs and the training.
    """

    scenes: int = 800
    size: tuple[int, int] = (256, 384)
    degrade: float = 0.5
    perspective: float = 0.0
    epochs: int = 20
    batch: int = 4096
    learning_rate: float = 3e-3
    hidden: tuple[int, ...] = (32, 16)
    seed: int = 0


def collect_examples(config: TrustTrainingConfig, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The features ``(N, F)`` float32 and labels ``(N,)`` float32 (1 = right) of every known value
    of ``config.scenes`` random sparse inputs."""
    scenes = SyntheticFlow("train", tuple(config.size), config.scenes, seed=config.seed,
                           config=SyntheticConfig(perspective_probability=config.perspective))
    rng = np.random.default_rng(config.seed)
    features, labels = [], []
    for index in range(config.scenes):
        sample = dict(scenes[index])
        if rng.random() < config.degrade:
            sample["image1"] = degrade(sample["image1"], sample["flow"], rng)
            sample["image2"] = degrade(sample["image2"], sample["flow"], rng)
        kind, density = str(rng.choice(KINDS)), float(rng.choice(DENSITIES))
        seed, outliers = int(rng.integers(2**31)), float(rng.choice(OUTLIER_SHARES))
        try:
            sparse = make_sparse(kind, sample, density, seed=seed, outliers=outliers)
        except ValueError:  # no match passed the matcher's tests (a scene too blurred or moving too far)
            continue
        if sparse.mask.sum() < 3:
            continue
        image = sample["image1"].astype(np.float32) / 255
        least = gap_spacing(sparse.mask, _METHOD.gap_factor)  # the method's scales for this input
        fit = {**FIT, "reach": slope_reach(FIT["reach"], float(sparse.mask.mean()), least)}
        evidence = trust_evidence(sparse.flow, sparse.mask, sparse.mask.astype(np.float32), image, local_affine_fit, **fit,
                                  least_spacing=least)
        error = np.linalg.norm(sparse.flow - sample["flow"], axis=-1)[sparse.mask]
        features.append(evidence.features)
        labels.append((error <= RIGHT_WITHIN).astype(np.float32))
        if progress and (index + 1) % 50 == 0:
            print(f"scene {index + 1}/{config.scenes}: {sum(map(len, labels))} examples", file=sys.stderr, flush=True)
    return np.concatenate(features), np.concatenate(labels)


def train_trust(config: TrustTrainingConfig, features: np.ndarray, labels: np.ndarray) -> tuple[TrustClassifier, dict]:
    """The classifier fitted to the examples (a tenth held out), and its held-out scores."""
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    inputs, targets = torch.from_numpy(features), torch.from_numpy(labels)
    order = torch.randperm(len(targets), generator=generator)
    held = order[: len(order) // 10]
    fitted = order[len(order) // 10:]
    model = TrustClassifier(TrustConfig(FEATURE_NAMES, tuple(config.hidden)))
    model.standardise_by(inputs[fitted])
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    for _ in range(config.epochs):
        for batch in torch.split(fitted[torch.randperm(len(fitted), generator=generator)], config.batch):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model.logits(inputs[batch]), targets[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        trusted = model(inputs[held]) >= 0.5
    right = targets[held] > 0.5
    scores = {
        "held_out": len(held),
        "wrong_share": float((~right).float().mean()),
        "accepted_wrong": float((trusted & ~right).sum() / max(int((~right).sum()), 1)),
        "rejected_right": float((~trusted & right).sum() / max(int(right.sum()), 1)),
    }
    return model, scores


def trust_record(config: TrustTrainingConfig, scores: dict, examples: int, seconds: float, command: str) -> dict:
    """The shipped record of a trained classifier (what ``flowinpaint.models.model_record`` returns)."""
    return {"name": "trust", "kind": "trust", "training_commands": [command], "commit": git_commit(),
            "config": asdict(config), "examples": int(examples), "right_within_px": RIGHT_WITHIN,
            "validation": {"held_out_" + key: value for key, value in scores.items()}, "seconds": round(seconds, 1)}


def run_training(config: TrustTrainingConfig, out: Path, command: str) -> dict:
    """Collect, train and write the classifier to ``out`` (with its ``.json`` record); the record."""
    start = time.perf_counter()
    features, labels = collect_examples(config, progress=True)
    model, scores = train_trust(config, features, labels)
    record = trust_record(config, scores, len(labels), time.perf_counter() - start, command)
    save_model(model, out, record)
    return record
