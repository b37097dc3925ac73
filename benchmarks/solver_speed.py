"""Speed of the explicit diffusion solver on this machine.

Reports, for a 1024x436 two-channel field: the time of one FSI step (eager torch, TorchInductor's
compiled step, and the native C kernel that the compiled path uses for forward cycles), its
ratio to a memory-bandwidth floor (the bytes one step must read and write divided by the
measured copy bandwidth of a 128 MiB copy; a step whose arrays stay in the caches can beat it),
and the time of ``eed`` run to convergence at 1 %, 5 % and 10 % density on a synthetic example
with exact ground truth, beside OpenCV EPIC's time on the same input in the same run.

    python benchmarks/solver_speed.py [--repeats 7] [--output benchmarks/results/solver_speed.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from speed import emit_report, machine_line  # benchmarks/speed.py, beside this script

import flowinpaint
from flowinpaint.data.example import make_example
from flowinpaint.data.masks import uniform_mask
from flowinpaint.diffusion import fsi_cycle, fused, www_stencil, www_time_step
from flowinpaint.diffusion.fused import fused_available, fused_fsi_cycle
from flowinpaint.diffusion.native import native_library
from flowinpaint.diffusion.structure import dominant_eigen, structure_tensor
from flowinpaint.diffusion.tensor import tensor_from_eigen

HEIGHT, WIDTH = 436, 1024
# One step reads u, the previous iterate and the data (2 float32 channels each), the known mask
# (1 byte), the four pair-weight arrays (1 float32 channel each) and writes the new iterate.
BYTES_PER_PIXEL = 3 * 8 + 1 + 4 * 4 + 8


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up (and compilation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def copy_bandwidth(repeats: int) -> float:
    """Bytes per second of a large tensor copy (each byte counted once read, once written)."""
    source = torch.randn(32 * 1024 * 1024)
    target = torch.empty_like(source)
    seconds = median_seconds(lambda: target.copy_(source), repeats)
    return 2 * source.numel() * source.element_size() / seconds


def step_times(repeats: int, steps: int = 50) -> dict[str, float]:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, HEIGHT, WIDTH, generator=generator)
    vector, lambda1, _ = dominant_eigen(structure_tensor(image, 1.0, 2.0))
    cells = tensor_from_eigen(vector, 1 / (1 + lambda1 / 0.02**2), torch.ones_like(lambda1))
    alpha = torch.full_like(cells.a, 0.2)
    stencil, tau = www_stencil(cells, alpha), www_time_step(alpha)
    u = torch.randn(1, 2, HEIGHT, WIDTH, generator=generator)
    known = torch.rand(1, 1, HEIGHT, WIDTH, generator=generator) < 0.05
    def inductor(*arguments: object) -> torch.Tensor:  # the compiled path with the native kernel off
        native_applicable, fused.native_applicable = fused.native_applicable, lambda *tensors: False
        try:
            return fused_fsi_cycle(*arguments)
        finally:
            fused.native_applicable = native_applicable

    cycles = {"eager": fsi_cycle}
    if fused_available():
        cycles["compiled (TorchInductor)"] = inductor
    if native_library() is not None:
        cycles["native C kernel"] = fused_fsi_cycle
    with torch.inference_mode():
        return {
            name: median_seconds(lambda cycle=cycle: cycle(u, stencil, tau, steps, known, u), repeats) / steps
            for name, cycle in cycles.items()
        }


def eed_times(repeats: int) -> list[tuple[float, float, float, float]]:
    """``(density, eed seconds, eed EPE, epic seconds)`` per density, medians of warm runs."""
    sample = make_example((HEIGHT, WIDTH), seed=0)
    rows = []
    for density in (0.01, 0.05, 0.1):
        mask = uniform_mask(sample["valid"], density, seed=1)
        def run(mask=mask, method="eed"):
            return flowinpaint.inpaint(sample["flow"], mask, sample["image1"], method=method)

        seconds = median_seconds(run, repeats)
        peer = median_seconds(lambda mask=mask: run(mask, "epic"), repeats)
        rows.append((density, seconds, flowinpaint.epe(run(), sample["flow"]), peer))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    args = parser.parse_args()
    lines = ["# Speed of the explicit diffusion solver", "",
             f"Command: `python benchmarks/solver_speed.py --repeats {args.repeats}"
             + (f" --output {args.output.as_posix()}`" if args.output is not None else "`"), "", f"Machine: {machine_line()}", ""]
    bandwidth = copy_bandwidth(args.repeats)
    floor = BYTES_PER_PIXEL * HEIGHT * WIDTH / bandwidth
    summary = (f"Compiled step available: {fused_available()}; copy bandwidth {bandwidth / 1e9:.1f} GB/s; floor of one "
               f"step at {WIDTH}x{HEIGHT}: {floor * 1e3:.2f} ms ({BYTES_PER_PIXEL} bytes per pixel).")
    lines += [summary, "",
              "| FSI step | ms per step | x floor |", "| --- | --- | --- |"]
    for name, seconds in step_times(args.repeats).items():
        lines.append(f"| {name} | {seconds * 1e3:.2f} | {seconds / floor:.1f} |")
    lines += ["", f"| eed to convergence, {WIDTH}x{HEIGHT} | seconds (median) | EPE | epic seconds | x epic |",
              "| --- | --- | --- | --- | --- |"]
    for density, seconds, error, peer in eed_times(args.repeats):
        lines.append(f"| {density:.0%} | {seconds:.2f} | {error:.3f} | {peer:.2f} | {seconds / peer:.2f} |")
    emit_report(lines, args.output)


if __name__ == "__main__":
    main()
