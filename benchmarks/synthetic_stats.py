"""Speed and flow statistics of the procedural dataset ``SyntheticFlow``.

Reports the samples per second of one process at 256x256 and at 384x512 (steady state: the
photos already loaded), and a histogram of the flow magnitudes of the training split
at the 540x960 reference scale: the samples are rendered at 270x480 and their flow lengths are
multiplied by the ratio of the frame diagonals (2), the generator's scaling rule, so that the
numbers read as pixels of a 540x960 frame. Also the fraction of occluded pixels.

    python benchmarks/synthetic_stats.py [--samples 200] [--speed-samples 60] [--out benchmarks/results]

Writes ``synthetic_stats.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from flowinpaint.data import SyntheticFlow
from flowinpaint.data.synthetic import REFERENCE_SIZE

SPEED_SIZES = ((256, 256), (384, 512))
HISTOGRAM_SIZE = (270, 480)
EDGES = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, math.inf)
# The distribution the defaults were designed for (no published FlyingThings3D histogram is quoted
# here): most magnitudes below ~30 px at 540x960, a median near 10 px, a tail past 100 px.
TARGET = "median ~10 px, ~85-90 % of the pixels below 30 px, ~1 % beyond 100 px (99th percentile near 100 px)"


def samples_per_second(size: tuple[int, int], count: int) -> float:
    """Samples per second of ``SyntheticFlow("train", size)`` in this process, in steady state: the
    ``count`` samples are drawn once untimed (loading the photos they use), then timed."""
    dataset = SyntheticFlow("train", size, length=count, seed=0)
    for index in range(count):
        dataset[index]
    start = time.perf_counter()
    for index in range(count):
        dataset[index]
    return count / (time.perf_counter() - start)


def magnitude_statistics(count: int) -> tuple[np.ndarray, dict[str, float]]:
    """Fractions of the pixels in each ``EDGES`` bin of the flow length (px at 540x960), over ``count``
    training samples, and summary numbers (percentiles of the length, occluded fraction)."""
    dataset = SyntheticFlow("train", HISTOGRAM_SIZE, length=count, seed=0)
    to_reference = math.hypot(*REFERENCE_SIZE) / math.hypot(*HISTOGRAM_SIZE)
    lengths, occluded = [], []
    for index in range(count):
        sample = dataset[index]
        lengths.append(np.hypot(sample["flow"][..., 0], sample["flow"][..., 1]).ravel() * to_reference)
        occluded.append(sample["occlusion"].mean())
    length = np.concatenate(lengths)
    counts, _ = np.histogram(length, bins=EDGES)
    summary = {
        "mean": float(length.mean()),
        "median": float(np.median(length)),
        "p90": float(np.percentile(length, 90)),
        "p99": float(np.percentile(length, 99)),
        "max": float(length.max()),
        "occluded": float(np.mean(occluded)),
    }
    return counts / length.size, summary


def report(
    speeds: dict[tuple[int, int], float], speed_count: int, fractions: np.ndarray, summary: dict[str, float], count: int
) -> str:
    """The results as Markdown."""
    lines = [
        "# SyntheticFlow: speed and flow statistics",
        "",
        (
            f'Speed: one process, `SyntheticFlow("train", size)`, {speed_count} samples, timed on a second pass '
            "(photos loaded; the first use of each photo costs 10-60 ms more)."
        ),
        "",
        "| size | samples/s |",
        "|---|---|",
    ]
    lines += [f"| {height}x{width} | {speed:.1f} |" for (height, width), speed in speeds.items()]
    lines += [
        "",
        (
            f"Flow magnitude over {count} training samples rendered at {HISTOGRAM_SIZE[0]}x{HISTOGRAM_SIZE[1]}, "
            f"lengths scaled to px at {REFERENCE_SIZE[0]}x{REFERENCE_SIZE[1]} (the generator's scaling rule)."
        ),
        "",
        "| magnitude (px) | fraction of pixels |",
        "|---|---|",
    ]
    for low, high, fraction in zip(EDGES[:-1], EDGES[1:], fractions):
        label = f"> {low:g}" if math.isinf(high) else f"{low:g}-{high:g}"
        lines.append(f"| {label} | {fraction:.3f} |")
    lines += [
        "",
        (
            f"Mean {summary['mean']:.1f} px, median {summary['median']:.1f} px, "
            f"90th percentile {summary['p90']:.1f} px, 99th percentile {summary['p99']:.1f} px, "
            f"largest {summary['max']:.1f} px; occluded pixels {100 * summary['occluded']:.1f} %."
        ),
        "",
        f"Designed for (FlyingThings3D-like; not a published FlyingThings3D histogram): {TARGET}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="samples of the magnitude histogram (default: 200)")
    parser.add_argument("--speed-samples", type=int, default=60, help="timed samples per size (default: 60)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()

    speeds = {size: samples_per_second(size, args.speed_samples) for size in SPEED_SIZES}
    fractions, summary = magnitude_statistics(args.samples)
    text = report(speeds, args.speed_samples, fractions, summary, args.samples)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "synthetic_stats.md").write_text(text)


if __name__ == "__main__":
    main()
