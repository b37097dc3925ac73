"""Real sparse inputs from three matchers (four inputs): every method on the real data with ground truth.

Users bring the matches of whatever matcher they use. This script makes them from both frames of
every real pair in ``--data`` (Middlebury, KITTI 2012 non-occluded, Sintel final: the dev set and
Middlebury) with three matchers, each with its own mistakes:

- ``sift``: SIFT matches, ratio test and forward-backward check (:func:`flowinpaint.data.match_mask`);
- ``orb``: the same with ORB;
- ``tracks``: Shi-Tomasi corners tracked by pyramidal Lucas-Kanade, every one it reports found
  (:func:`flowinpaint.data.track_mask`);
- ``tracks, checked``: those tracks that, tracked back, land within 1 px of their start (the
  README's example);

and reports, per dataset and matcher, the mean EPE (px, every valid pixel) of each method, its
ratio to the last method (OpenCV EPIC by default), the matches per frame and the share of them more
than 3 px off. It chooses nothing: the dev set only checks.

    python benchmarks/matchers.py [--data ../shared/data] [--methods neuroaffine,griddata,epic]
        [--output benchmarks/results/matchers.md]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _evaluations import SHARED, method_specs, table
from speed import emit_report, machine_line  # benchmarks/speed.py, beside this script

import flowinpaint
from flowinpaint.data import load_dataset, match_mask, track_mask
from flowinpaint.data.outliers import wrong_values
from flowinpaint.methods.options import parse_method_spec
from flowinpaint.methods.sparse import SparseFlow

#: (label, folder, dataset name, loader options)
DATASETS = (
    ("Middlebury", "middlebury", "middlebury", {}),
    ("KITTI 2012", "kitti2012", "kitti2012", {"flow_type": "noc"}),
    ("Sintel final", "sintel", "sintel", {"pass_name": "final"}),
)
MATCHERS: dict[str, Callable[[np.ndarray, np.ndarray], SparseFlow]] = {
    "sift": lambda image1, image2: match_mask(image1, image2, detector="sift"),
    "orb": lambda image1, image2: match_mask(image1, image2, detector="orb"),
    "tracks": track_mask,
    "tracks, checked": lambda image1, image2: track_mask(image1, image2, fb_threshold=1.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--methods", default="neuroaffine,griddata,epic",
                        help="comma-separated method specs; ratios are to the last (default: neuroaffine,griddata,epic)")
    parser.add_argument("--output", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    methods = method_specs(args.methods)
    specs = {spec: parse_method_spec(spec) for spec in methods}
    start = time.perf_counter()
    header = ["dataset", "matcher", "frames", "matches / frame", "> 3 px off", *(f"`{name}`" for name in methods)]
    lines = ["# Real matches from three matchers", "",
             f"Command: `python benchmarks/matchers.py --methods {args.methods}`", "",
             f"Mean EPE (px, every valid pixel); in brackets the ratio to `{methods[-1]}`.", ""]
    rows = []
    for label, folder, name, options in DATASETS:
        if not (args.data / folder).is_dir():
            continue
        dataset = load_dataset(name, args.data / folder, **options)
        for matcher, make in MATCHERS.items():
            errors: dict[str, list[float]] = {method: [] for method in methods}
            counts, wrong = [], []
            for index in range(len(dataset)):
                sample = dataset[index]
                sparse = make(sample["image1"], sample["image2"])
                counts.append(int(sparse.mask.sum()))
                valid = sparse.mask & sample["valid"]
                wrong.append(float(wrong_values(sparse.flow, sample["flow"])[valid].mean()))
                for method in methods:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        chosen, options = specs[method]
                        dense = flowinpaint.inpaint(sparse.flow, sparse.mask, sample["image1"], method=chosen.name, **options)
                    errors[method].append(flowinpaint.epe(dense, sample["flow"], sample["valid"]))
            means = {method: float(np.mean(values)) for method, values in errors.items()}
            cells = [f"{means[method]:.3f} ({means[method] / means[methods[-1]]:.2f})" for method in methods]
            rows.append([label, matcher, str(len(dataset)), f"{np.mean(counts):.0f}", f"{np.mean(wrong):.1%}", *cells])
            print(table(header, rows)[-1], flush=True)
    lines += [*table(header, rows), "", f"Machine: {machine_line()}; {time.perf_counter() - start:.0f} s."]
    emit_report(lines, args.output)


if __name__ == "__main__":
    main()
