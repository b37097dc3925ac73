"""``eed`` with its levels' set-up in C (``diffusion/stencil_kernel.c``) against the torch code, and OpenCV EPIC.

Each round calls ``eed`` with the C set-up, then with the torch code (the fallback where no compiler
is: the kernels switched off in the modules that call them), then ``epic``, on the same input, so
that all three see the same moments of the machine (``paired_speed.py``'s way). It reports the
median times, the median of the per-round ratios to EPIC, and the largest difference between the
two ``eed`` flows (the FSI solves are the same; the set-up differs by float rounding).

    python benchmarks/eed_setup_speed.py [--size 436x1024] [--densities 0.01,0.05,0.1] [--rounds 9]
        [--output FILE]

Inputs: ``make_example(size, seed=0)`` and ``uniform_mask(valid, density, seed=1)``, as ``speed.py``'s.
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from _evaluations import table
from paired_speed import rounds_of  # benchmarks/paired_speed.py, beside this script
from speed import emit_report, machine_line  # benchmarks/speed.py, beside this script

import flowinpaint
import flowinpaint.diffusion.structure
import flowinpaint.methods.eed
import flowinpaint.methods.explicit
from flowinpaint.data import make_example, uniform_mask

CALLERS = (flowinpaint.diffusion.structure, flowinpaint.methods.eed, flowinpaint.methods.explicit)


@contextmanager
def torch_setup():
    """The C set-up switched off where ``eed`` calls it."""
    saved = [module.native_ready for module in CALLERS]
    for module in CALLERS:
        module.native_ready = lambda *tensors: False
    try:
        yield
    finally:
        for module, ready in zip(CALLERS, saved):
            module.native_ready = ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="436x1024", help="HxW")
    parser.add_argument("--densities", default="0.01,0.05,0.1")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    height, width = (int(side) for side in args.size.lower().split("x"))
    example = make_example((height, width), seed=0)
    warnings.simplefilter("ignore")
    rows = []
    for density in (float(value) for value in args.densities.split(",")):
        known = uniform_mask(example["valid"], density, seed=1)

        def run(method: str, known: np.ndarray = known) -> np.ndarray:
            return flowinpaint.inpaint(example["flow"], known, example["image1"], method=method)

        def with_torch_setup() -> np.ndarray:
            with torch_setup():
                return run("eed")

        times = rounds_of({"C": lambda: run("eed"), "torch": with_torch_setup, "epic": lambda: run("epic")}, args.rounds)
        native, fallback = run("eed"), with_torch_setup()
        ratio = {name: statistics.median(a / b for a, b in zip(times[name], times["epic"])) for name in ("C", "torch")}
        rows.append([f"{density:.0%}", *(f"{statistics.median(times[name]) * 1e3:.0f}" for name in ("torch", "C", "epic")),
                     f"{ratio['torch']:.2f}", f"{ratio['C']:.2f}", f"{np.abs(native - fallback).max():.1e}",
                     f"{flowinpaint.epe(native, example['flow']):.4f}"])
        print(rows[-1], flush=True)
    header = ["known", "eed, torch set-up (ms)", "eed, C set-up (ms)", "epic (ms)", "torch x epic", "C x epic",
              "largest flow difference (px)", "EPE (C)"]
    lines = ["# eed: the levels' set-up in C against the torch code", "",
             (f"Command: `python benchmarks/eed_setup_speed.py --size {args.size} --densities {args.densities} "
              f"--rounds {args.rounds}`"), "", f"Machine: {machine_line()}", "",
             (f"{height}x{width}; medians of {args.rounds} rounds, each calling the three in turn; the ratios are "
              "the medians of the rounds' ratios."), "", *table(header, rows)]
    emit_report(lines, args.output)


if __name__ == "__main__":
    main()
