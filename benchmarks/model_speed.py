"""Speed of the neuroexplicit model: inference split into network and diffusion, and training.

Inference (``--size``, default 1024x436, one frame, 5 % known pixels, warm, median of
``--repeats``; the FSI steps per level of the shipped ``default`` model): the DTM (network plus the per-level tensor assembly) and the coarse-to-fine
diffusion timed separately, for each model width, in the default and the channels-last memory
format, with eager and compiled diffusion kernels, and the fastest of these with the network in
bfloat16 (``ModelConfig.bfloat16``); OpenCV EPIC on the same frame in the same run.

Training (256x256 crops, batch 8, the spec's 5 / 15 / 30 / 45 FSI steps of stage 1): samples per second and peak resident memory of one training
step (forward, backward, Adam) for three implementations of the diffusion: plain autograd through
:func:`~flowinpaint.diffusion.fsi_cycle` (the state before the fused cycle), the fused cycle with
the hand-written backward run eagerly, and compiled (also with the network in bfloat16). Each configuration runs in a fresh subprocess
so that memory figures do not accumulate.

The shipped weights: the same inference and a compiled training step with the shipped ``default``
model's weights, as :func:`~flowinpaint.load_model` loads them (negligible weights set to zero) and
as stored (with the denormal weights that weight decay left; x86 CPUs without flush-to-zero
multiply them many times slower).

    python benchmarks/model_speed.py [--repeats 5] [--widths 16,22,44] [--train-steps 4] [--quick] [--output PATH]

Writes ``benchmarks/results/model_speed.md`` (or ``--output``). Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from solver_speed import (
    median_seconds,  # the sibling benchmarks (scripts run from benchmarks/)
)
from speed import machine_line

RESULTS = Path(__file__).resolve().parent / "results"
# (channels_last, compiled diffusion, bfloat16 network) per inference row
INFERENCE_VARIANTS = [(False, False, False), (False, True, False), (True, False, False), (True, True, False), (True, True, True)]


def shipped_model(raw: bool, **config_changes: bool) -> torch.nn.Module:
    """The shipped ``default`` model with ``config_changes``, its weights as loaded, or as stored (``raw``)."""
    from flowinpaint import load_model
    from flowinpaint.models import NeuroexplicitInpainting
    from flowinpaint.models.pretrained import resolve

    loaded = load_model("default")
    model = NeuroexplicitInpainting(replace(loaded.config, **config_changes))
    model.load_state_dict(torch.load(resolve("default"), weights_only=True)["state_dict"] if raw else loaded.state_dict())
    return model


def inference_child(width: int, channels_last: bool, compiled: bool, bfloat16: bool, size: tuple[int, int], repeats: int,
                    weights: str = "untrained") -> dict:
    from flowinpaint import load_model
    from flowinpaint.data import make_example, uniform_mask
    from flowinpaint.models import ModelConfig, NeuroexplicitInpainting

    example = make_example(size, 0)
    known = uniform_mask(example["valid"], 0.05, 1)
    image = torch.from_numpy(example["image1"]).permute(2, 0, 1)[None].float() / 255
    flow = torch.from_numpy(example["flow"]).permute(2, 0, 1)[None] * torch.from_numpy(known)[None, None]
    known_t = torch.from_numpy(known)[None, None]
    steps = load_model("default").config.steps  # the shipped model's FSI steps per level
    formats = {"channels_last": channels_last, "compiled": compiled, "bfloat16": bfloat16}
    model = (NeuroexplicitInpainting(ModelConfig(width=width, steps=steps, **formats)) if weights == "untrained"
             else shipped_model(weights == "raw", **formats)).eval()
    with torch.inference_mode():
        network = median_seconds(lambda: model.diffusion_levels(image), repeats)
        total = median_seconds(lambda: model(image, flow, known_t), repeats)
    return {"network_s": network, "diffusion_s": total - network, "total_s": total}


def epic_child(size: tuple[int, int], repeats: int) -> dict:
    import flowinpaint
    from flowinpaint.data import make_example, uniform_mask

    example = make_example(size, 0)
    known = uniform_mask(example["valid"], 0.05, 1)
    sparse = np.where(known[..., None], example["flow"], 0).astype(np.float32)
    return {"total_s": median_seconds(lambda: flowinpaint.inpaint(sparse, known, example["image1"], method="epic"), repeats)}


TRAINING_BATCH = 8


def training_step(model: torch.nn.Module, side: int = 256, device: str | torch.device = "cpu") -> Callable[[], None]:
    """One training step of ``model`` (forward, EPE loss, backward, Adam) on a fixed random batch of
    ``TRAINING_BATCH`` ``side`` x ``side`` crops with 5 % known pixels, on ``device``."""
    from flowinpaint.train.objective import epe_loss

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(TRAINING_BATCH, 3, side, side, generator=generator).to(device)
    truth = torch.randn(TRAINING_BATCH, 2, side, side, generator=generator).to(device)
    known = (torch.rand(TRAINING_BATCH, 1, side, side, generator=generator) < 0.05).to(device)
    valid = torch.ones_like(known)

    def step() -> None:
        loss = epe_loss(model(image, truth.masked_fill(~known, 0), known), truth, valid)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def training_child(width: int, variant: str, steps: int, weights: str = "untrained") -> dict:
    from flowinpaint.diffusion import fsi_cycle
    from flowinpaint.models import ModelConfig, NeuroexplicitInpainting, neuroexplicit

    if variant == "autograd":  # the state before the fused cycle: autograd records every step
        neuroexplicit.fused_fsi_cycle = lambda u, stencil, tau, n, known, data, compiled: fsi_cycle(u, stencil, tau, n, known, data)
    formats = {"channels_last": True, "compiled": variant.startswith("compiled"), "bfloat16": variant.endswith("bf16")}
    model = (NeuroexplicitInpainting(ModelConfig(width=width, **formats)) if weights == "untrained"
             else shipped_model(weights == "raw", **formats))
    seconds = median_seconds(training_step(model.train()), steps)
    return {"samples_per_s": TRAINING_BATCH / seconds, "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def run_child(kind: str, **arguments) -> dict:
    command = [sys.executable, __file__, "--child", json.dumps({"kind": kind, **arguments})]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--widths", default="16,22,44")
    parser.add_argument("--size", default="436x1024", help="inference frame, H x W")
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="smoke run: width 16, 2 repeats, small frame")
    parser.add_argument("--output", type=Path, help="the report's path (default benchmarks/results/model_speed.md)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        kind = spec.pop("kind")
        if "size" in spec:
            spec["size"] = tuple(spec["size"])
        child = {"inference": inference_child, "epic": epic_child, "training": training_child}[kind]
        print(json.dumps(child(**spec)))
        return
    widths = [16] if args.quick else [int(w) for w in args.widths.split(",")]
    repeats = 2 if args.quick else args.repeats
    size = (218, 512) if args.quick else tuple(int(v) for v in args.size.split("x"))
    lines = [
        "# Speed of the neuroexplicit model",
        "",
        f"Command: `python benchmarks/model_speed.py {' '.join(sys.argv[1:])}`".rstrip() + "",
        "",
        (f"Machine: {machine_line()}. Untrained models unless stated (see the shipped weights' section); "
        "diffusion s = total s - network s (medians of separate runs)."),
        "",
        f"## Inference, {size[1]}x{size[0]}, 5 % known, median of {repeats} warm runs",
        "",
        "| width d | memory format | diffusion kernels | network | network s | diffusion s | total s | x EPIC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    epic = run_child("epic", size=size, repeats=repeats)
    for width in widths:
        for channels_last, compiled, bfloat16 in INFERENCE_VARIANTS:
            result = run_child(
                "inference", width=width, channels_last=channels_last, compiled=compiled, bfloat16=bfloat16, size=size, repeats=repeats
            )
            row = (
                f"| {width} | {'channels_last' if channels_last else 'default'} | {'compiled' if compiled else 'eager'} | "
                f"{'bfloat16' if bfloat16 else 'float32'} | "
            )
            if "error" in result:
                lines.append(row + f"failed: {result['error']} | | | |")
                continue
            lines.append(
                row + f"{result['network_s']:.3f} | {result['diffusion_s']:.3f} | {result['total_s']:.3f} | {result['total_s'] / epic['total_s']:.2f} |"
            )
            print(lines[-1], flush=True)
    lines += ["", f"OpenCV EPIC on the same frame: {epic.get('total_s', float('nan')):.3f} s.", ""]
    lines += [
        f"## Training step, 256x256 crops, batch 8 (median of {args.train_steps} steps after one warm-up)",
        "",
        "| width d | diffusion | samples/s | peak memory GiB |",
        "| --- | --- | --- | --- |",
    ]
    for width in widths:
        for variant in ("autograd", "fused-eager", "compiled", "compiled-bf16"):
            result = run_child("training", width=width, variant=variant, steps=args.train_steps)
            if "error" in result:
                lines.append(f"| {width} | {variant} | failed: {result['error']} | |")
            else:
                lines.append(f"| {width} | {variant} | {result['samples_per_s']:.2f} | {result['peak_rss_gib']:.2f} |")
            print(lines[-1], flush=True)
    lines += [
        "",
        "## The shipped weights (width 16, channels-last, compiled diffusion, float32 network)",
        "",
        ("As loaded: negligible weights set to zero (`flowinpaint.load_model`); as stored: with the denormal "
        "weights weight decay left."),
        "",
        "| weights | inference network s | inference total s | x EPIC | training samples/s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for weights, label in (("loaded", "as loaded"), ("raw", "as stored")):
        inference = run_child("inference", width=16, channels_last=True, compiled=True, bfloat16=False, size=size, repeats=repeats,
                              weights=weights)
        training = run_child("training", width=16, variant="compiled", steps=args.train_steps, weights=weights)
        cells = [
            f"failed: {inference['error']} | | |" if "error" in inference else
            f"{inference['network_s']:.3f} | {inference['total_s']:.3f} | {inference['total_s'] / epic['total_s']:.2f} |",
            f"failed: {training['error']} |" if "error" in training else f"{training['samples_per_s']:.2f} |",
        ]
        lines.append(f"| {label} | " + " ".join(cells))
        print(lines[-1], flush=True)
    output = args.output or RESULTS / ("model_speed_quick.md" if args.quick else "model_speed.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
