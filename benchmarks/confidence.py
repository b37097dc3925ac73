"""How well the default method's output confidence ranks its error (``return_confidence=True``).

On the first ``--pairs`` samples of the synthetic test split (the README's synthetic table) and on
the Sintel frames of the real dev set (``../shared/data/sintel``, final pass; reported, never tuned
on), at uniform 1 / 5 / 10 % known pixels, it splits each frame's pixels (valid ones) into quarters
by the confidence and reports the mean EPE of the least confident quarter divided by that of the
most confident one: the median over the frames and the range. A confidence that ranks the error
well gives large ratios; 1 is no better than chance.

    python benchmarks/confidence.py [--methods neuroaffine,neuroaffine:refinement_passes=1]
                                    [--pairs 24] [--output benchmarks/results/confidence.md]
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
from _evaluations import SHARED, table
from speed import emit_report, machine_line  # benchmarks/speed.py, beside this script

import flowinpaint
from flowinpaint.data import make_sparse
from flowinpaint.data.datasets.registry import load_dataset
from flowinpaint.eval.runner import mask_seed
from flowinpaint.methods.options import parse_method_spec

DENSITIES = (0.01, 0.05, 0.1)


def quarter_ratio(error: np.ndarray, confidence: np.ndarray, valid: np.ndarray) -> float:
    """Mean ``error`` of the least confident quarter of the ``valid`` pixels over that of the most
    confident quarter. Shape: all ``(H, W)``."""
    error, confidence = error[valid], confidence[valid]
    low, high = np.quantile(confidence, [0.25, 0.75])
    return float(error[confidence <= low].mean() / max(float(error[confidence >= high].mean()), 1e-12))


def frames(pairs: int) -> list[tuple[str, dict]]:
    """``(group, sample)`` for the synthetic test pairs and the dev set's Sintel frames (if present)."""
    synthetic = load_dataset("synthetic", split="test", size=(384, 512), length=pairs)
    found = [("synthetic test, 384x512", synthetic[index]) for index in range(pairs)]
    root = SHARED / "sintel"
    if root.is_dir():
        sintel = load_dataset("sintel", root, pass_name="final")
        found += [("Sintel final (dev set)", sintel[index]) for index in range(len(sintel))]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="neuroaffine", help="comma-separated method specs that estimate a confidence")
    parser.add_argument("--pairs", type=int, default=24, help="synthetic test pairs")
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    args = parser.parse_args()
    methods = [spec.strip() for spec in args.methods.split(",")]
    specs = [parse_method_spec(spec) for spec in methods]
    ratios: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    for index, (group, sample) in enumerate(frames(args.pairs)):
        valid = sample["valid"].astype(bool)
        for density in DENSITIES:
            sparse = make_sparse("uniform", sample, density, seed=mask_seed(0, index, density))
            for spec, (method, options) in zip(methods, specs):
                dense, confidence = flowinpaint.inpaint(sparse.flow, sparse.mask, sample["image1"], method=method.name,
                                                        return_confidence=True, **options)
                error = np.linalg.norm(dense - sample["flow"], axis=-1)
                ratios[(group, spec, density)].append(quarter_ratio(error, confidence, valid))
    lines = ["# How well the output confidence ranks the error", "",
             f"Command: `python benchmarks/confidence.py --methods {args.methods} --pairs {args.pairs}"
             + (f" --output {args.output.as_posix()}`" if args.output is not None else "`"), "",
             f"Machine: {machine_line()}", "",
             ("Mean EPE of the least confident quarter of each frame's valid pixels over that of the most confident "
             "quarter; median over the frames (range in brackets). Uniform masks, exact values."), ""]
    for group in dict.fromkeys(group for group, _, _ in ratios):  # in the frames' order
        count = len(ratios[(group, methods[0], DENSITIES[0])])
        rows = [[f"`{spec}`", *(f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"
                                for values in (ratios[(group, spec, density)] for density in DENSITIES))]
                for spec in methods]
        lines += [f"## {group} ({count} frames)", "",
                  *table(["method", *(f"{density:.0%}" for density in DENSITIES)], rows), ""]
    emit_report(lines, args.output)


if __name__ == "__main__":
    main()
