"""Speed of the nearest-known-pixel searches of the trust features on this machine.

Times ``nearest_known_both`` (the 8 nearest known pixels of every known pixel by position alone
and by position and colour, as the default method's trust features ask for them) at 1024x436
over density, with each of ``nearest_kernel.c``'s two searches forced (the ring walk over the
map of known pixels, the row search that visits only known pixels) and with the one chosen by
``ROW_SEARCH_BELOW``, beside scipy's k-d tree; both searches give the same lists, which the run
checks.

    python benchmarks/nearest_speed.py [--repeats 9] [--output benchmarks/results/nearest_speed.md]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np
from speed import emit_report, report_header  # benchmarks/speed.py, beside this script

from flowinpaint.data.example import make_example
from flowinpaint.data.masks import uniform_mask
from flowinpaint.methods import local_affine
from flowinpaint.methods.neuroaffine import NeuroaffineOptions
from flowinpaint.methods.trust import NEIGHBOUR_COLOUR, NEIGHBOURS

HEIGHT, WIDTH = 436, 1024
DENSITIES = (0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.2)
SEARCHES = {"ring walk": 0.0, "row search": 1.0, "chosen": local_affine.ROW_SEARCH_BELOW}


def timed(known: np.ndarray, image: np.ndarray, weight: float, row_search_below: float | None,
          repeats: int) -> tuple[float, tuple[local_affine.NearestKnown, local_affine.NearestKnown]]:
    """Median seconds of ``nearest_known_both`` with ``ROW_SEARCH_BELOW`` set (None: the k-d tree), and its result."""
    saved_below, saved_library = local_affine.ROW_SEARCH_BELOW, local_affine._nearest_library
    try:
        if row_search_below is None:
            local_affine._nearest_library = lambda: None
        else:
            local_affine.ROW_SEARCH_BELOW = row_search_below
        result = local_affine.nearest_known_both(known, NEIGHBOURS, image, weight)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            local_affine.nearest_known_both(known, NEIGHBOURS, image, weight)
            times.append(time.perf_counter() - start)
    finally:
        local_affine.ROW_SEARCH_BELOW, local_affine._nearest_library = saved_below, saved_library
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    args = parser.parse_args()
    sample = make_example((HEIGHT, WIDTH), seed=0)
    image = sample["image1"].astype(np.float32) / 255
    colour_scale = NeuroaffineOptions().color_factor * local_affine.color_sigma(image, 1.0)
    lines = [*report_header("Speed of the nearest-known-pixel searches"),
             (f"`nearest_known_both` at {WIDTH}x{HEIGHT}, {NEIGHBOURS} neighbours, the default's colour weight; "
              f"ms (median of {args.repeats}); the row search runs below {local_affine.ROW_SEARCH_BELOW:.0%} known pixels."),
             "", "| density | known pixels | " + " | ".join(SEARCHES) + " | k-d tree | same lists |",
             "| --- | --- | " + " | ".join("---" for _ in SEARCHES) + " | --- | --- |"]
    for density in DENSITIES:
        known = uniform_mask(sample["valid"], density, seed=1)
        weight = NEIGHBOUR_COLOUR / (math.sqrt(float(known.mean())) * colour_scale)
        results = {name: timed(known, image, weight, below, args.repeats) for name, below in SEARCHES.items()}
        tree_seconds, _ = timed(known, image, weight, None, max(1, args.repeats // 3))
        same = all(np.array_equal(a.index, b.index) and np.array_equal(a.distance, b.distance)
                   for other in ("row search", "chosen")
                   for a, b in zip(results["ring walk"][1], results[other][1]))
        lines.append(f"| {density:.1%} | {int(known.sum())} | "
                     + " | ".join(f"{seconds * 1e3:.1f}" for seconds, _ in results.values())
                     + f" | {tree_seconds * 1e3:.1f} | {'yes' if same else 'NO'} |")
    emit_report(lines, args.output)


if __name__ == "__main__":
    main()
