"""The training loop: Adam + StepLR on the EPE of the finest output, checkpoints, exact resume.

Output folder (``config.out``): ``checkpoint.pt`` (the latest, written atomically: a temporary
file, then ``os.replace``), ``log.jsonl`` (one JSON object per line: training records with
``loss``, ``lr``, ``samples_per_s``; validation records with ``val``, the EPE per density; a
``start`` record with the command line and git commit each time a run starts or resumes) and
``config.json``. Only rank 0 writes.

Exact resume: the data order, crops and masks are functions of ``(seed, step)`` (see
:mod:`.data`), and the checkpoint holds the model, Adam's and the scheduler's states, the step
and the global RNG states, so a run stopped after step ``k`` and resumed reaches bit-identical
weights (on the same machine, threads and device). SIGINT/SIGTERM set a flag; the loop finishes
the current step, saves a checkpoint and returns (a second signal interrupts at once).
"""

from __future__ import annotations

import json
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..io.torchfile import load_torch_file, save_torch_file
from ..models.kinds import get_kind
from ..models.pretrained import negligible_to_zero
from ..ops import channel_norm
from ..provenance import git_commit, portable_command
from . import distributed
from .config import FORMAT_VERSION, TrainConfig
from .data import StepBatchSampler, TrainingSamples, validation_batches
from .objective import TrainingObjective

__all__ = [
    "CHECKPOINT_FORMAT",
    "StopFlag",
    "load_checkpoint",
    "save_checkpoint",
    "train",
    "validate",
]

CHECKPOINT_FORMAT = "flowinpaint-train-checkpoint"
CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
# fields a resumed run may change; any other difference to the checkpoint's config is an error
RESUMABLE_CHANGES = frozenset({"steps", "val_every", "checkpoint_every", "log_every", "threads", "workers", "device", "progress", "out"})
# model fields that change how, not what, the model computes
RESUMABLE_MODEL_CHANGES = frozenset({"channels_last", "compiled", "bfloat16"})
_KEYS = ("format", "version", "step", "config", "model", "optimizer", "scheduler", "rng")


# ---------------------------------------------------------------------------------------------
# RNG states as tensors and plain values (loadable with weights_only=True)


def rng_state() -> dict[str, Any]:
    """The torch, CUDA, numpy and python global RNG states as tensors and plain values."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64), "gauss_next": gauss_next},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = state["numpy"]
    np.random.set_state((numpy["name"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"], numpy["cached_gaussian"]))
    python = state["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()), python["gauss_next"]))


# ---------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (see :func:`flowinpaint.io.torchfile.save_torch_file`)."""
    save_torch_file(path, state)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A training checkpoint, loaded with ``weights_only=True`` onto the CPU and checked.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a readable checkpoint of this format and version.
    """
    state = load_torch_file(path, "training checkpoint")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a flowinpaint training checkpoint")
    if state.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format version {state.get('version')!r}, this flowinpaint reads {FORMAT_VERSION}")
    missing = [key for key in _KEYS if key not in state]
    if missing:
        raise ValueError(f"{path}: the checkpoint lacks {', '.join(missing)}")
    return state


def load_initial_weights(model: nn.Module, path: str | Path) -> None:
    """Start ``model`` from the weights of a training checkpoint or a shipped weights file, its
    negligible weights set to zero (:func:`flowinpaint.models.pretrained.negligible_to_zero`: denormal
    weights would slow every step on x86 CPUs without flush-to-zero).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint or weights file, or weights that do not fit ``model``.
    """
    state = load_torch_file(path, "training checkpoint or weights file")
    weights = state.get("model", state.get("state_dict")) if isinstance(state, dict) else None
    if not isinstance(weights, dict):
        raise ValueError(f"{path}: neither a flowinpaint training checkpoint nor a weights file")  # noqa: TRY004 - bad input is a ValueError (the CLI reports it as a usage error)
    try:
        model.load_state_dict(negligible_to_zero(weights))
    except RuntimeError as exc:
        message = " ".join(str(exc).split())[:300]
        raise ValueError(f"{path}: the weights do not fit this model ({message})") from None


def _check_resumable(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    try:
        previous = TrainConfig.from_dict(saved)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: the checkpoint's config is invalid ({exc})") from None

    def comparable(fields: dict[str, Any]) -> dict[str, Any]:
        model = {name: value for name, value in fields["model"].items() if name not in RESUMABLE_MODEL_CHANGES}
        return {**{name: value for name, value in fields.items() if name not in RESUMABLE_CHANGES}, "model": model}

    now, before = comparable(config.to_dict()), comparable(previous.to_dict())
    changed = [name for name, value in now.items() if before[name] != value]
    if changed:
        raise ValueError(f"{path}: cannot resume with a different {', '.join(changed)} than the checkpoint's run")


# ---------------------------------------------------------------------------------------------
# stop on SIGINT / SIGTERM


class StopFlag:
    """Set by SIGINT/SIGTERM (:meth:`handler`); the loop saves and returns after the current step.

    A second signal while the flag is set raises ``KeyboardInterrupt`` (stop at once).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def handler(self, signum: int, frame: Any = None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self.handler)

    def restore(self) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()


# ---------------------------------------------------------------------------------------------
# validation and the loop


@torch.no_grad()
def validate(model: nn.Module, batches: dict[float, dict[str, Tensor]], batch_size: int, device: torch.device) -> dict[str, float]:
    """The EPE over the valid pixels (known ones included) per density, keys like ``"epe_5%"``."""
    was_training = model.training
    model.eval()
    result = {}
    for density, batch in batches.items():
        total, count = 0.0, 0.0
        for first in range(0, batch["image"].shape[0], batch_size):
            part = {key: value[first:first + batch_size].to(device) for key, value in batch.items()}
            prediction = model(part["image"], part["flow"], part["known"])
            error = channel_norm(prediction - part["truth"])
            total += float((error * part["valid"]).sum())
            count += float(part["valid"].sum())
        result[f"epe_{100 * density:g}%"] = total / max(count, 1.0)
    model.train(was_training)
    return result


def _append_log(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def train(config: TrainConfig, resume: bool = False, *, on_step: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Train the configured model kind (``config.kind``); see the module docstring.

    Args:
        config: the run's settings.
        resume: continue from ``config.out/checkpoint.pt`` (an error if there is none); without
            it an existing checkpoint there is an error (nothing is overwritten).
        on_step: called as ``on_step(step, loss)`` after every completed step (tests, hooks).

    Returns:
        ``step`` (steps done), ``interrupted`` (stopped by a signal), ``loss`` (of the last step),
        ``val`` (the last validation, or None), ``samples_per_s``, ``checkpoint`` and ``log``
        (paths), ``rank`` (of this process; 0 without DDP; ``loss`` is this rank's), and ``model`` (the trained module, unwrapped from DDP).

    Raises:
        ValueError: a missing, corrupt or mismatched checkpoint, or bad settings.
    """
    threads = torch.get_num_threads()
    context = distributed.setup(config.device)
    try:
        return _train(config, resume, context, on_step)
    finally:
        distributed.cleanup(context)
        torch.set_num_threads(threads)


def _train(
    config: TrainConfig, resume: bool, context: distributed.DistContext, on_step: Callable[[int, float], None] | None
) -> dict[str, Any]:
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    if config.batch_size % context.world:
        raise ValueError(f"batch_size {config.batch_size} must be a multiple of the number of processes {context.world}")
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    checkpoint_path, log_path = out / CHECKPOINT_NAME, out / LOG_NAME
    saved = None
    if resume:
        if not checkpoint_path.is_file():
            raise ValueError(f"{checkpoint_path}: no checkpoint to resume from")
        saved = load_checkpoint(checkpoint_path)
        _check_resumable(saved["config"], config, checkpoint_path)
    elif checkpoint_path.exists():
        raise ValueError(f"{checkpoint_path} exists: pass --resume to continue that run, or choose another output folder")

    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    random.seed(config.seed)
    device = context.device
    model = get_kind(config.kind).build(config.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.adam_betas, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)
    start = 0
    if saved is None and config.init:
        load_initial_weights(model, config.init)
    if saved is not None:
        try:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            set_rng_state(saved["rng"])
            start = int(saved["step"])
        except (RuntimeError, KeyError, TypeError, ValueError) as exc:
            message = " ".join(str(exc).split())[:300]
            raise ValueError(f"{checkpoint_path}: the checkpoint does not fit this model ({message})") from None
        if start > config.steps:
            raise ValueError(f"{checkpoint_path}: the run is at step {start}, past steps={config.steps}; raise steps to continue it")
    network = distributed.wrap(TrainingObjective(model, config.teacher), context)

    if context.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
        _append_log(log_path, {"start": start, "command": portable_command(sys.argv), "commit": git_commit(),
                              "time": time.time()})
    val_batches = validation_batches(config) if context.is_main and config.val_every else None

    def checkpoint(step: int) -> None:
        if context.is_main:
            save_checkpoint(checkpoint_path, {
                "format": CHECKPOINT_FORMAT,
                "version": FORMAT_VERSION,
                "step": step,
                "config": config.to_dict(),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
            })
        distributed.barrier(context)

    loader = DataLoader(
        TrainingSamples(config),
        batch_sampler=StepBatchSampler(start, config.steps, config.batch_size, context.rank, context.world),
        num_workers=config.workers,
    )
    stop = StopFlag()
    stop.install()
    step, loss_value, val, rate = start, math.nan, None, math.nan
    interrupted = False
    bar = tqdm(total=config.steps, initial=start, disable=not (config.progress and context.is_main), desc="train", dynamic_ncols=True)
    network.train()
    try:
        tick = time.perf_counter()
        for batch in loader:
            batch = {key: value.to(device, non_blocking=True) for key, value in batch.items() if isinstance(value, Tensor)}
            if step == config.teacher_steps > 0:
                optimizer.state.clear()  # the EPE's gradients differ in scale from the distillation's
            loss = network(batch, distill=step < config.teacher_steps)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            loss_value = float(loss.detach())
            now = time.perf_counter()
            seconds, tick = now - tick, now
            rate = config.batch_size / seconds if seconds > 0 else math.nan
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", samples_s=f"{rate:.2f}")
            if context.is_main and (step % config.log_every == 0 or step == config.steps):
                _append_log(log_path, {"step": step, "loss": loss_value, "lr": scheduler.get_last_lr()[0],
                                       "samples_per_s": rate, "time": time.time()})
            if val_batches is not None and (step % config.val_every == 0 or step == config.steps):
                val = validate(model, val_batches, config.batch_size, device)
                _append_log(log_path, {"step": step, "val": val, "time": time.time()})
                bar.write(f"step {step}: validation " + ", ".join(f"{k} {v:.4f}" for k, v in val.items()))
            if on_step is not None:
                on_step(step, loss_value)
            interrupted = distributed.any_flag(stop.requested, context)
            if interrupted or step == config.steps or (config.checkpoint_every and step % config.checkpoint_every == 0):
                checkpoint(step)
            if interrupted:
                bar.write(f"stopped by a signal after step {step}; checkpoint saved to {checkpoint_path}")
                break
            tick = time.perf_counter()
    finally:
        bar.close()
        stop.restore()
    return {
        "step": step,
        "interrupted": interrupted,
        "loss": loss_value,
        "val": val,
        "samples_per_s": rate,
        "checkpoint": str(checkpoint_path),
        "log": str(log_path),
        "rank": context.rank,
        "model": model,
    }
