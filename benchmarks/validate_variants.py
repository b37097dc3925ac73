"""Compare method variants on synthetic *validation* scenes, the set design choices are made on.

The dev set (Sintel, KITTI) only checks a choice afterwards; this script is where a default is
chosen. It renders ``--pairs`` scenes of the synthetic ``val`` split (never the test split the
README reports), a share ``--perspective`` of them with a camera moving over a plane (zoom,
rotation and perspective motion gradients, as in driving scenes), and runs every method spec on
the same sparse inputs:

- uniform masks at 0.1 %, 0.3 %, 1 % and 5 % of the pixels (exact values);
- real SIFT matches between the two frames (the matcher's own errors);
- corners tracked by OpenCV's Lucas-Kanade tracker (the tracker's own errors), on the scenes as
  they are (fast motion: the tracker often lost) and on the same scenes moving ``VIDEO_MOTION`` times
  as much, like consecutive video frames (both frames degraded alike), where it mostly holds;
- uniform 5 % with 20 % of the values replaced by wrong ones.

It reports the mean EPE (every pixel) per condition and method, the ratio of each method to
the first, and the geometric mean of those ratios over the conditions, for the perspective and
the plain scenes apart.

    python benchmarks/validate_variants.py --methods "neuroaffine,neuroaffine:reach=2" \\
        [--pairs 24] [--size 384x512] [--perspective 0.5] [--output FILE]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
from _evaluations import method_specs, table
from speed import emit_report, machine_line  # benchmarks/speed.py, beside this script

import flowinpaint
from flowinpaint.data import SyntheticConfig, SyntheticFlow, make_sparse
from flowinpaint.data.degrade import degrade, degrade_pair
from flowinpaint.eval.runner import mask_seed
from flowinpaint.methods.options import parse_method_spec

VIDEO_MOTION = 0.4  # the "video tracks" condition's motion scale (SyntheticConfig.with_motion_scale)
#: (label, sparse kind, density, share of wrong values)
CONDITIONS = (
    ("uniform 0.1 %", "uniform", 0.001, 0.0),
    ("uniform 0.3 %", "uniform", 0.003, 0.0),
    ("uniform 1 %", "uniform", 0.01, 0.0),
    ("uniform 5 %", "uniform", 0.05, 0.0),
    ("matches", "matches", 0.0, 0.0),
    ("tracks", "tracks", 0.0, 0.0),
    ("video tracks", "tracks", 0.0, 0.0),
    ("5 %, 20 % wrong", "uniform", 0.05, 0.2),
)


def scenes(pairs: int, size: tuple[int, int], perspective: float, seed: int, deformation: float | None = None,
           degraded: float = 0.0, motion: float = 1.0) -> list[tuple[dict, bool]]:
    """``(sample, is_perspective)`` for the first ``pairs`` validation scenes: the first
    ``round(perspective * pairs)`` from a generator whose background always moves by a homography,
    the rest from the plain generator (different random streams: seeds ``seed`` and ``seed + 1``).
    ``deformation``: the generator's chance of a non-rigid layer (None: its default);
    ``degraded``: the share of scenes whose two frames are degraded like real ones
    (:func:`flowinpaint.data.degrade.degrade`: blur, haze, noise, JPEG, ...); ``motion`` below 1:
    the same scenes moving that much less (:meth:`flowinpaint.data.SyntheticConfig.with_motion_scale`),
    consecutive frames of a video, both degraded alike (:func:`flowinpaint.data.degrade.degrade_pair`)."""
    tilted = round(perspective * pairs)
    base = SyntheticConfig() if deformation is None else SyntheticConfig(deformation_probability=deformation)
    base = base if motion == 1 else base.with_motion_scale(motion)
    plain = SyntheticFlow("val", size, pairs, seed=seed, config=base)
    camera = SyntheticFlow("val", size, pairs, seed=seed + 1, config=replace(base, perspective_probability=1.0))
    found = [(camera[index], True) for index in range(tilted)] + [(plain[index], False) for index in range(pairs - tilted)]
    rng = np.random.default_rng([seed, 7])
    for sample, _ in found:
        if rng.random() < degraded:
            if motion < 1:
                sample["image1"], sample["image2"] = degrade_pair(sample["image1"], sample["image2"], sample["flow"], rng)
            else:
                sample["image1"] = degrade(sample["image1"], sample["flow"], rng)
                sample["image2"] = degrade(sample["image2"], sample["flow"], rng)
    return found


def run(methods: list[str], pairs: int, size: tuple[int, int], perspective: float, seed: int,
        deformation: float | None = None, degraded: float = 0.0) -> list[str]:
    specs = [parse_method_spec(spec) for spec in methods]
    errors: dict[tuple[str, str, bool], list[float]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    videos = scenes(pairs, size, perspective, seed, deformation, degraded, motion=VIDEO_MOTION)
    for index, (scene, tilted) in enumerate(scenes(pairs, size, perspective, seed, deformation, degraded)):
        for label, kind, density, wrong in CONDITIONS:
            sample = videos[index][0] if label == "video tracks" else scene
            sparse = make_sparse(kind, sample, density, seed=mask_seed(seed, index, density), outliers=wrong)
            for spec, (method, options) in zip(methods, specs):
                start = time.perf_counter()
                dense = flowinpaint.inpaint(sparse.flow, sparse.mask, sample["image1"], method=method.name, **options)
                seconds[spec].append(time.perf_counter() - start)
                errors[(spec, label, tilted)].append(flowinpaint.epe(dense, sample["flow"]))
    lines = []
    groups = [(name, flag) for name, flag in (("perspective", True), ("plain", False))
              if any(key[2] == flag for key in errors)]
    for group, flag in groups:
        count = len(errors[(methods[0], CONDITIONS[0][0], flag)])
        lines += [f"## {group} scenes ({count})", ""]
        header = ["method", *(label for label, *_ in CONDITIONS), f"geo. mean vs {methods[0]}"]
        rows = []
        for spec in methods:
            means = [statistics.fmean(errors[(spec, label, flag)]) for label, *_ in CONDITIONS]
            base = [statistics.fmean(errors[(methods[0], label, flag)]) for label, *_ in CONDITIONS]
            ratios = [mean / reference for mean, reference in zip(means, base)]
            geometric = math.exp(statistics.fmean(math.log(ratio) for ratio in ratios))
            rows.append([f"`{spec}`", *(f"{mean:.3f} ({ratio:.3f})" for mean, ratio in zip(means, ratios)),
                         f"{geometric:.3f}"])
        lines += [*table(header, rows), ""]
    lines += ["Median seconds per call: " + ", ".join(f"`{spec}` {statistics.median(seconds[spec]):.3f}" for spec in methods), ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", required=True, help="comma-separated method specs; the first is the reference")
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--size", default="384x512", help="HxW")
    parser.add_argument("--perspective", type=float, default=0.5, help="share of camera-over-a-plane scenes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deformation", type=float, help="the generator's chance of a non-rigid layer (default: its own)")
    parser.add_argument("--degraded", type=float, default=0.0, help="share of scenes with frames degraded like real ones")
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    args = parser.parse_args()
    height, width = (int(side) for side in args.size.lower().split("x"))
    methods = method_specs(args.methods)
    start = time.perf_counter()
    body = run(methods, args.pairs, (height, width), args.perspective, args.seed, args.deformation, args.degraded)
    extra = (f" --deformation {args.deformation}" if args.deformation is not None else "") + (
        f" --degraded {args.degraded}" if args.degraded else "")
    lines = ["# Method variants on synthetic validation scenes", "",
             (f"Command: `python benchmarks/validate_variants.py --methods \"{args.methods}\" --pairs {args.pairs} "
             f"--size {args.size} --perspective {args.perspective} --seed {args.seed}{extra}`"), "",
             f"Machine: {machine_line()}; {time.perf_counter() - start:.0f} s.", "",
             "Mean EPE (px, every pixel) per condition; in brackets the ratio to the first method.", "", *body]
    emit_report(lines, args.output)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
