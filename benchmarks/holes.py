"""A flow with holes: every method fills the occlusions cut out of an exact flow.

What a forward-backward check leaves of an estimator's flow, without the estimator's own errors:
the occluded pixels are unknown, with a margin of ``--margin`` px (each axis) around them, what
``densify`` takes off too; every other pixel is known exactly (60-95 % of them, in holes up to a
hundred pixels wide). Reports the EPE over the holes' pixels (the valid ones not known) per frame,
and per method the mean and the geometric mean over the frames, the ratio of that to the first
method's, and the median time per frame:

- the Sintel frames of the real dev set (``../shared/data/sintel``, final pass, with their
  occlusion maps; reported, never tuned on);
- ``--pairs`` synthetic validation scenes (``validate_variants.scenes``: half with a camera over a
  plane, half of all degraded like real frames), where defaults are chosen.

    python benchmarks/holes.py [--methods neuroaffine,neuroaffine:gap_factor=0,eed,epic,griddata]
                               [--pairs 24] [--margin 2] [--output benchmarks/results/holes.md]

The known pixels are :func:`flowinpaint.data.masks.occlusion_mask`'s, as ``flowinpaint evaluate
--masks occlusions`` draws them (its 'EPE unknown' is this script's mean).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from _evaluations import SHARED, method_specs, table
from speed import emit_report, machine_line  # benchmarks/speed.py, beside this script
from validate_variants import scenes  # benchmarks/validate_variants.py

import flowinpaint
from flowinpaint.data.datasets.registry import load_dataset
from flowinpaint.data.masks import occlusion_mask
from flowinpaint.methods.options import parse_method_spec

DEFAULT_METHODS = "neuroaffine,neuroaffine:gap_factor=0,eed,epic,griddata"


def hole_errors(samples: Iterable[dict], specs: list[str], margin: int) -> tuple[list[str], dict[str, list[float]],
                                                                                  dict[str, list[float]]]:
    """Per frame: its id and, per method spec, the holes' EPE and the seconds of ``inpaint``."""
    parsed = [parse_method_spec(spec) for spec in specs]
    ids: list[str] = []
    errors: dict[str, list[float]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        valid = np.asarray(sample["valid"], bool)
        known = occlusion_mask(valid, np.asarray(sample["occlusion"], bool), margin)
        holes = valid & ~known
        sparse = np.where(known[..., None], sample["flow"], 0).astype(np.float32)
        ids.append(f"{sample['id']} ({100 * known.mean():.0f} % known)")
        for spec, (method, options) in zip(specs, parsed):
            start = time.perf_counter()
            dense = flowinpaint.inpaint(sparse, known, sample["image1"], method=method.name, **options)
            seconds[spec].append(time.perf_counter() - start)
            errors[spec].append(float(np.linalg.norm(dense - sample["flow"], axis=-1)[holes].mean()))
    return ids, errors, seconds


def report(title: str, ids: list[str], errors: dict[str, list[float]], seconds: dict[str, list[float]],
           specs: list[str]) -> list[str]:
    """A section: the per-frame table and the summary table."""
    geometric = {spec: math.exp(statistics.fmean(math.log(max(e, 1e-12)) for e in errors[spec])) for spec in specs}
    lines = [f"## {title} ({len(ids)} frames)", ""]
    lines += table(["frame", *(f"`{spec}`" for spec in specs)],
                   ([frame, *(f"{errors[spec][k]:.3f}" for spec in specs)] for k, frame in enumerate(ids)))
    lines += ["", *table(["method", "mean", "geometric mean", f"geo. mean vs `{specs[0]}`", "s/frame"],
                         ([f"`{spec}`", f"{statistics.fmean(errors[spec]):.3f}", f"{geometric[spec]:.3f}",
                           f"{geometric[spec] / geometric[specs[0]]:.3f}", f"{statistics.median(seconds[spec]):.2f}"]
                          for spec in specs)), ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=DEFAULT_METHODS, help="comma-separated method specs; the first is the reference")
    parser.add_argument("--pairs", type=int, default=24, help="synthetic validation scenes (0: none)")
    parser.add_argument("--margin", type=int, default=2, help="px taken off around the occlusions, each axis")
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    args = parser.parse_args()
    specs = method_specs(args.methods)
    start = time.perf_counter()
    body: list[str] = []
    sintel = SHARED / "sintel"
    if sintel.is_dir():
        dataset = load_dataset("sintel", sintel)
        body += report("Sintel final (dev set)", *hole_errors((dataset[k] for k in range(len(dataset))), specs, args.margin),
                       specs)
    else:
        body += [f"Sintel: not found at {sintel}; skipped.", ""]
    if args.pairs > 0:
        samples = (sample for sample, _ in scenes(args.pairs, (384, 512), 0.5, 0, degraded=0.5))
        body += report("Synthetic validation scenes, 384x512", *hole_errors(samples, specs, args.margin), specs)
    command = f"python benchmarks/holes.py --methods \"{args.methods}\" --pairs {args.pairs} --margin {args.margin}"
    known = (f"Known: the valid pixels more than {args.margin} px (each axis) from an occluded one, their values "
             "exact; EPE (px) over the holes' valid pixels, per frame.")
    lines = ["# A flow with holes: the occlusions cut out of an exact flow", "", f"Command: `{command}`", "",
             f"Machine: {machine_line()}; {time.perf_counter() - start:.0f} s.", "", known, "", *body]
    emit_report(lines, args.output)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
