"""Speed of the default method on dense inputs (a flow with holes) on this machine.

Times ``flowinpaint.inpaint`` at 1024x436 on the synthetic example with many known pixels
(uniform 20 / 50 / 80 %, codec-like blocks, clustered 50 %): the default, the default with its
trust classifier judging every value (``clear_within=0``, what it did before it kept the clear
values of clean inputs unjudged), and OpenCV's EPIC in the same process, with the EPE of each.

    python benchmarks/dense_speed.py [--repeats 3] [--output benchmarks/results/dense_speed.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from speed import emit_report, report_header  # benchmarks/speed.py, beside this script

import flowinpaint
from flowinpaint.data.example import make_example
from flowinpaint.data.masks import MASK_SAMPLERS

HEIGHT, WIDTH = 436, 1024
INPUTS = (("uniform", 0.2), ("uniform", 0.5), ("uniform", 0.8), ("blocks", 0.5), ("clustered", 0.5))
RUNS = {"default": {}, "default, every value judged": {"clear_within": 0.0}, "epic": {"method": "epic"}}


def timed(sample: dict, mask: np.ndarray, options: dict, repeats: int) -> tuple[float, float]:
    """Median seconds of ``inpaint`` after one warm-up run, and the EPE (px) of its flow."""
    flow = np.where(mask[..., None], sample["flow"], 0).astype(np.float32)
    dense = flowinpaint.inpaint(flow, mask, sample["image1"], **options)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        flowinpaint.inpaint(flow, mask, sample["image1"], **options)
        times.append(time.perf_counter() - start)
    return statistics.median(times), flowinpaint.epe(dense, sample["flow"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    args = parser.parse_args()
    sample = make_example((HEIGHT, WIDTH), seed=0)
    lines = [*report_header("Speed of the default method on dense inputs"),
             (f"`make_example(({HEIGHT}, {WIDTH}), seed=0)`, the mask sampler's seed 1; ms (median of {args.repeats} "
              "warm runs in one process), in brackets the EPE (px)."), "",
             "| input | known pixels | " + " | ".join(RUNS) + " | default x epic |",
             "| --- | --- | " + " | ".join("---" for _ in RUNS) + " | --- |"]
    for kind, density in INPUTS:
        mask = MASK_SAMPLERS[kind](sample, density, 1)
        results = {name: timed(sample, mask, options, args.repeats) for name, options in RUNS.items()}
        cells = [f"{kind} {density:.0%}", f"{mask.mean():.0%}",
                 *(f"{seconds * 1e3:.0f} ({error:.3f})" for seconds, error in results.values()),
                 f"{results['default'][0] / results['epic'][0]:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    emit_report(lines, args.output)


if __name__ == "__main__":
    main()
