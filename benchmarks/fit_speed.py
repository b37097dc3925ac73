"""Speed of the edge-aware affine fit and its parts, the default method's building block.

The default (``neuroaffine``) runs three fits a frame (the first fit and two refinement passes)
and one edge-aware average. This times, on the ``make_example`` scene at ``--size`` with a
uniform ``--density`` of known pixels, the median of ``--repeats`` calls of each part of
:func:`flowinpaint.methods.local_affine.local_affine_fit` (2 filter iterations, as the default's
refinement runs them): the guide's links (``EdgeAwareFilter``), the moments, the filter of the 12
moment channels, the per-pixel affine solve (with the support), and the whole fit.

    python benchmarks/fit_speed.py [--size 436x1024] [--density 0.01] [--repeats 30] [--output FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from speed import emit_report, machine_line  # benchmarks/speed.py, beside this script

from flowinpaint.data.example import make_example
from flowinpaint.data.masks import uniform_mask
from flowinpaint.methods import local_affine

ITERATIONS = 2  # of the domain transform, as the default's refinement runs it
SPATIAL_SIGMA, REACH = 20.0, 3.0  # px, standard deviations: the default's at 1 %
COLOR_FACTOR = 4.0  # the colour scale in units of the image's mean gradient magnitude, the default's


def median_ms(call: Callable[[], object], repeats: int) -> float:
    """Median wall-clock milliseconds of ``call`` over ``repeats`` runs, after one warm-up run."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def part_times(size: tuple[int, int], density: float, repeats: int) -> dict[str, float]:
    """``part -> median ms`` of the fit on the example scene."""
    sample = make_example(size, seed=0)
    certainty = uniform_mask(sample["valid"], density, seed=1).astype(np.float32)
    flow, image = sample["flow"], sample["image1"].astype(np.float32) / 255  # the fit's guide: float RGB in [0, 1]
    color_scale = local_affine.color_sigma(image, COLOR_FACTOR)
    height, width = size
    x = (np.arange(width, dtype=np.float32) - width / 2) / local_affine.COORDINATE_SCALE
    y = (np.arange(height, dtype=np.float32) - height / 2) / local_affine.COORDINATE_SCALE
    flat = np.flatnonzero(certainty > 0)
    rows, columns = np.divmod(flat, width)
    weights = certainty.reshape(-1)[flat]
    known_flow = flow.reshape(-1, 2)[flat]
    trend = local_affine._global_affine(known_flow, rows, columns, weights, x, y, REACH)
    values = (known_flow - local_affine._evaluate(trend, x[columns, None], y[rows, None])).astype(np.float32)
    points = local_affine.KnownPoints(rows, columns, weights, x[columns], y[rows], values)
    moments = local_affine._moments(points, size)
    applicability = local_affine.EdgeAwareFilter(image, SPATIAL_SIGMA, color_scale, ITERATIONS)
    filtered = applicability.filter(moments)
    return {
        "links (EdgeAwareFilter)": median_ms(lambda: local_affine.EdgeAwareFilter(image, SPATIAL_SIGMA, color_scale,
                                                                                  ITERATIONS), repeats),
        "moments": median_ms(lambda: local_affine._moments(points, size), repeats),
        "filter, 12 channels": median_ms(lambda: applicability.filter(moments), repeats),
        "affine solve and support": median_ms(lambda: local_affine._solve_affine(filtered, x, y, REACH, trend), repeats),
        "whole fit": median_ms(lambda: local_affine.local_affine_fit(flow, certainty, image, SPATIAL_SIGMA, color_scale,
                                                                     REACH, misfit=False, iterations=ITERATIONS),
                               repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="436x1024", help="HxW")
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    args = parser.parse_args()
    height, width = (int(side) for side in args.size.lower().split("x"))
    times = part_times((height, width), args.density, args.repeats)
    lines = ["# Speed of the edge-aware affine fit", "",
             (f"Command: `python benchmarks/fit_speed.py --size {args.size} --density {args.density:g} "
              f"--repeats {args.repeats}`"), "", f"Machine: {machine_line()}.", "",
             "| part | median ms |", "| --- | --- |", *(f"| {part} | {ms:.2f} |" for part, ms in times.items()), ""]
    emit_report(lines, args.output)


if __name__ == "__main__":
    main()
