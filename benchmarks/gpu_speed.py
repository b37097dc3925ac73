"""Speed of the methods that run on a GPU: inference at batch 1 and 8, and training, on one device.

For ``neuroexplicit`` (the paper's model, the shipped weights) at 1024x436 and 2048x872 (W x H),
5 % known pixels: the time per frame of ``flowinpaint.inpaint_batch`` on ``--device`` from numpy
arrays to numpy arrays (what a user pays, transfers included) and of the model's forward on
tensors already on the device, at batch 1 and 8, with the network in float32 and in the
precision :func:`flowinpaint.models.precision.fast_bfloat16` picks there; medians of
``--repeats`` runs after a warm-up that includes TorchInductor's compilation. Then training
samples/s (256x256 crops, batch 8, stage-1 FSI steps, compiled diffusion, forward + backward +
Adam), float32 and bfloat16 network. The default method (``neuroaffine``: its filters and guide
network on the device, its trust tests on the host) end to end at batch 1 on the device, and it and
OpenCV EPIC on the host CPU at the same frames for scale.

    python benchmarks/gpu_speed.py [--device cuda] [--repeats 5] [--output results/gpu_speed.md] [--quick]

``--device cpu --quick`` is a smoke run of the script itself (small frames, one repeat).
``benchmarks/gpu_check.sh`` runs it with the CUDA tests on a machine with a GPU.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from model_speed import (  # the sibling benchmarks (scripts run from benchmarks/)
    TRAINING_BATCH,
    training_step,
)
from speed import machine_line

import flowinpaint
from flowinpaint.data import make_example, uniform_mask
from flowinpaint.methods import get_method
from flowinpaint.models import ModelConfig, NeuroexplicitInpainting
from flowinpaint.models.precision import fast_bfloat16

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = [(436, 1024), (872, 2048)]
QUICK_SIZES = [(64, 96)]
BATCHES = (1, 8)
DENSITY = 0.05


def median_seconds(run: Callable[[], object], repeats: int, device: torch.device) -> float:
    """The median wall time of ``repeats`` calls after one untimed call, the device synchronised."""
    def timed() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    timed()
    return statistics.median(timed() for _ in range(repeats))


def frames(size: tuple[int, int], count: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``count`` sparse problems of one size: flows with their unknown pixels zeroed, masks, images."""
    flows, masks, images = [], [], []
    for seed in range(count):
        example = make_example(size, seed)
        known = uniform_mask(example["valid"], DENSITY, seed + 1)
        flows.append(np.where(known[..., None], example["flow"], 0).astype(np.float32))
        masks.append(known)
        images.append(example["image1"])
    return flows, masks, images


def per_frame_seconds(device: torch.device, size: tuple[int, int], batch: int, bfloat16: bool, repeats: int,
                      model: torch.nn.Module) -> tuple[float, float]:
    """(end to end, forward) seconds per frame of ``neuroexplicit`` on ``batch`` frames of ``size``."""
    flows, masks, images = frames(size, batch)
    end_to_end = median_seconds(
        lambda: flowinpaint.inpaint_batch(flows, masks, images, method="neuroexplicit", device=str(device),
                                          bfloat16=bfloat16, batch_size=batch),
        repeats, device)
    image = torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in images]).float().div(255).to(device)
    flow = torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in flows]).to(device)
    known = torch.stack([torch.from_numpy(m)[None] for m in masks]).to(device)
    with torch.inference_mode():
        forward = median_seconds(lambda: model(image, flow, known, compiled=True, bfloat16=bfloat16), repeats, device)
    return end_to_end / batch, forward / batch


def inference_rows(device: torch.device, sizes: list[tuple[int, int]], repeats: int) -> list[str]:
    precisions = {"float32": False}
    if fast_bfloat16(device):
        precisions["bfloat16"] = True
    model = flowinpaint.load_model("default").to(device).eval()
    rows = []
    for size in sizes:
        for batch in BATCHES:
            for precision, bfloat16 in precisions.items():
                end_to_end, forward = per_frame_seconds(device, size, batch, bfloat16, repeats, model)
                rows.append(f"| neuroexplicit | {size[1]}x{size[0]} | {batch} | {precision} | {end_to_end * 1e3:.1f} ms | "
                            f"{forward * 1e3:.1f} ms |")
    return rows


def default_method_rows(device: torch.device, sizes: list[tuple[int, int]], repeats: int) -> list[str]:
    """The default method end to end on ``device``, one frame at a time."""
    rows = []
    for size in sizes:
        (flow,), (known,), (image,) = frames(size, 1)
        run = functools.partial(flowinpaint.inpaint, flow, known, image, method="neuroaffine", device=str(device))
        rows.append(f"| neuroaffine | {size[1]}x{size[0]} | 1 | measured | {median_seconds(run, repeats, device) * 1e3:.1f} ms | – |")
    return rows


def host_rows(sizes: list[tuple[int, int]], repeats: int) -> list[str]:
    """The CPU-only methods on the host, one frame at a time, for scale."""
    rows = []
    cpu = torch.device("cpu")
    for size in sizes:
        (flow,), (known,), (image,) = frames(size, 1)
        for name in ("neuroaffine", "epic"):
            why = get_method(name).unavailable()
            if why:
                rows.append(f"| {name} (host CPU) | {size[1]}x{size[0]} | 1 | – | unavailable: {why} | – |")
                continue
            seconds = median_seconds(functools.partial(flowinpaint.inpaint, flow, known, image, method=name), repeats, cpu)
            rows.append(f"| {name} (host CPU) | {size[1]}x{size[0]} | 1 | float32 | {seconds * 1e3:.1f} ms | – |")
    return rows


def training_samples_per_second(device: torch.device, bfloat16: bool, repeats: int, side: int) -> float:
    model = NeuroexplicitInpainting(ModelConfig(width=16, channels_last=True, compiled=True, bfloat16=bfloat16)).to(device)
    return TRAINING_BATCH / median_seconds(training_step(model, side, device), repeats, device)


def training_rows(device: torch.device, repeats: int, side: int) -> list[str]:
    return [f"| {side}x{side} | {TRAINING_BATCH} | {precision} | {training_samples_per_second(device, precision == 'bfloat16', repeats, side):.1f} |"
            for precision in ("float32", "bfloat16")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS / "gpu_speed.md")
    parser.add_argument("--quick", action="store_true", help="smoke run: small frames, one repeat")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device here (torch.cuda.is_available() is False); --device cpu for a smoke run")
    sizes, repeats, side = (QUICK_SIZES, 1, 64) if args.quick else (SIZES, args.repeats, 256)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "the CPU"
    lines = [
        "# GPU speed",
        "",
        f"Command: `python benchmarks/gpu_speed.py --device {args.device} --repeats {repeats}{' --quick' if args.quick else ''}`",
        "",
        f"Machine: {machine_line()}; device {device} ({name}); bfloat16 measured faster here: {fast_bfloat16(device)}",
        "",
        f"## Inference, {DENSITY:.0%} known, time per frame (median of {repeats})",
        "",
        ("End to end: `inpaint_batch` from numpy arrays to numpy arrays on the device (transfers and checks "
         "included); forward: the model on tensors already there (compiled diffusion)."),
        "",
        "| method | size | batch | network | end to end | forward |",
        "| --- | --- | --- | --- | --- | --- |",
        *inference_rows(device, sizes, repeats),
        *default_method_rows(device, sizes, repeats),
        *host_rows(sizes, repeats),
        "",
        "## Training step (forward, backward, Adam; width 16, compiled diffusion)",
        "",
        "| crops | batch | network | samples/s |",
        "| --- | --- | --- | --- |",
        *training_rows(device, repeats, side),
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
