"""Training of the neuroexplicit model: config, data, loop with exact resume, and DDP helpers."""

from .config import FORMAT_VERSION, TrainConfig, apply_overrides, load_config
from .data import StepBatchSampler, TrainingSamples, validation_batches
from .loop import StopFlag, load_checkpoint, save_checkpoint, train, validate
from .objective import TrainingObjective, distillation_loss, epe_loss, teacher_levels

__all__ = [
    "FORMAT_VERSION",
    "StepBatchSampler",
    "StopFlag",
    "TrainConfig",
    "TrainingObjective",
    "TrainingSamples",
    "apply_overrides",
    "distillation_loss",
    "epe_loss",
    "load_checkpoint",
    "load_config",
    "save_checkpoint",
    "teacher_levels",
    "train",
    "validate",
    "validation_batches",
]
