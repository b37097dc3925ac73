"""Whether a device runs the networks faster in bfloat16 than in float32: measured once, cached.

bfloat16 convolutions are several times faster than float32 ones on CPUs with AMX units and on
most GPUs, and several times slower on CPUs without (AMD EPYC here: 4x). The choice is made by
measurement, not by the CPU's brand: :func:`bfloat16_speedup` times one block of the networks
(two 3x3 convolutions of 32 channels with GroupNorm and SiLU, as in the U-Nets' first stage, on a
``(1, 32, 64, 64)`` input) in float32 and under bfloat16 autocast, and :func:`fast_bfloat16`
says yes when bfloat16 is at least :data:`NEEDED_SPEEDUP` times faster (it rounds the network's
outputs a little, so a tie goes to float32).

The measurement (0.5 s where bfloat16 is slow: it is 100x slower than float32 on this
project's AMD EPYC; milliseconds elsewhere) runs once per machine: its result is kept in
``precision.json`` in the package's cache folder (:func:`flowinpaint.cbuild.cache_folder`), keyed
by the device (the processor's model and feature flags, or the GPU's name and compute capability),
the torch version and the thread count, and written atomically. ``FLOWINPAINT_BFLOAT16=1`` (or
``0``) in the environment forces the answer without measuring.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time

import torch
from torch import nn

from ..cbuild import cache_folder, processor
from ..io._atomic import atomic_write_bytes

__all__ = ["NEEDED_SPEEDUP", "bfloat16_speedup", "fast_bfloat16"]

NEEDED_SPEEDUP = 1.2
OVERRIDE_VARIABLE = "FLOWINPAINT_BFLOAT16"
CACHE_NAME = "precision.json"
PROBE_SHAPE = (1, 32, 64, 64)
REPEATS = 3


def _device_signature(device: torch.device) -> str:
    """What the measurement depends on: the device's model, the torch version, the thread count."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(index)
        hardware = f"{torch.cuda.get_device_name(index)} sm_{major}{minor}"
    else:
        hardware = processor()
    text = "\0".join([device.type, hardware, torch.__version__, str(torch.get_num_threads())])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _probe(device: torch.device) -> nn.Module:
    channels = PROBE_SHAPE[1]
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(8, channels), nn.SiLU(),
        nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(8, channels), nn.SiLU(),
    ).to(device).eval()


def _seconds(block: nn.Module, example: torch.Tensor, bfloat16: bool, repeats: int) -> float:
    """The best of ``repeats`` timed forward passes, after one untimed one."""
    best = float("inf")
    with torch.inference_mode(), torch.autocast(example.device.type, dtype=torch.bfloat16, enabled=bfloat16):
        for repeat in range(repeats + 1):
            if example.device.type == "cuda":
                torch.cuda.synchronize(example.device)
            start = time.perf_counter()
            block(example)
            if example.device.type == "cuda":
                torch.cuda.synchronize(example.device)
            if repeat:
                best = min(best, time.perf_counter() - start)
    return best


def bfloat16_speedup(device: str | torch.device = "cpu") -> float:
    """How many times faster the probe block runs under bfloat16 autocast than in float32 on
    ``device`` (above 1: bfloat16 is faster), measured now."""
    where = torch.device(device)
    generator = torch.Generator().manual_seed(0)
    block = _probe(where)
    example = torch.rand(PROBE_SHAPE, generator=generator).to(where)
    float32 = _seconds(block, example, False, REPEATS)
    bfloat16 = _seconds(block, example, True, 1)
    if bfloat16 < float32:  # worth a closer look; a slower first pass is answer enough
        bfloat16 = min(bfloat16, _seconds(block, example, True, REPEATS))
    return float32 / bfloat16


def _read_cache() -> dict[str, float]:
    try:
        entries = json.loads((cache_folder() / CACHE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(entries, dict):
        return {}
    return {key: value for key, value in entries.items() if isinstance(value, (int, float)) and value > 0}


@functools.cache
def _cached_speedup(signature: str, device: torch.device) -> float:
    """The speedup of the device with this signature: from the cache file, else measured and stored."""
    entries = _read_cache()
    if signature in entries:
        return float(entries[signature])
    speedup = bfloat16_speedup(device)
    entries = {**_read_cache(), signature: speedup}  # another process may have added entries meanwhile
    try:
        atomic_write_bytes(cache_folder() / CACHE_NAME, json.dumps(entries, indent=1, sort_keys=True).encode())
    except OSError:
        pass  # an unwritable cache only costs a measurement per process
    return speedup


def fast_bfloat16(device: str | torch.device = "cpu") -> bool:
    """Whether to run the networks on ``device`` in bfloat16: measured (see the module's text).

    Raises:
        ValueError: ``FLOWINPAINT_BFLOAT16`` set to something other than 0 or 1.
    """
    override = os.environ.get(OVERRIDE_VARIABLE, "").strip()
    if override:
        if override not in ("0", "1"):
            raise ValueError(f"{OVERRIDE_VARIABLE} must be 0 or 1, got {override!r}")
        return override == "1"
    where = torch.device(device)
    if where.type == "cuda" and not torch.cuda.is_bf16_supported():
        return False
    if where.type not in ("cpu", "cuda"):
        return False
    return _cached_speedup(_device_signature(where), where) >= NEEDED_SPEEDUP
