"""Speed on real matches: the default against OpenCV EPIC, their calls alternated in one process.

``paired_speed.py`` times uniform samples of a synthetic frame; users mostly bring a matcher's
matches, far sparser (0.001-0.6 % of the pixels) and bunched where the image has texture, which
EPIC interpolates faster than denser inputs. This script makes the matches of every real pair in
``--data`` (Middlebury, KITTI 2012, Sintel final; SIFT or ORB matches with the ratio test and the
forward-backward check, :func:`flowinpaint.data.match_mask`, or checked Lucas-Kanade tracks) and,
per frame, alternates the methods call by call (``paired_speed.rounds_of``), so that both see the
same moments of the machine. The report gives, per dataset, the median over its frames of each
method's median time and of the per-frame median ratio to the reference, and the ratios' range.

    python benchmarks/match_speed.py [--data ../shared/data] [--matcher sift]
        [--methods neuroaffine] [--reference epic] [--rounds 5] [--output FILE]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import warnings
from pathlib import Path

from _evaluations import SHARED
from matchers import DATASETS, MATCHERS  # benchmarks/matchers.py, beside this script
from paired_speed import add_comparison_arguments, compared_methods, rounds_of
from speed import emit_report, report_header

import flowinpaint
from flowinpaint.data import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--matcher", choices=sorted(MATCHERS), default="sift")
    add_comparison_arguments(parser, rounds=5, per="frame")
    args = parser.parse_args()
    needs_image = compared_methods(args.methods, args.reference)
    methods = list(needs_image)
    lines = [*report_header("Speed on real matches, calls alternated in one process"),
             (f"Matcher `{args.matcher}` on both frames of each pair; per frame {args.rounds} rounds, each calling "
              f"every method once and then `{args.reference}`, after one warm-up call each. Per dataset: the "
              "median over its frames of each method's median time, and of the per-frame median ratio to the "
              "reference (its range over the frames in brackets)."), "",
             "| dataset | frames | size | matches / frame (median) | "
             + " | ".join(f"`{name}`" for name in methods) + " |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in methods) + " |"]
    warnings.simplefilter("ignore")  # the matcher's and the methods' notes on sparse inputs
    for label, folder, name, options in DATASETS:
        if not (args.data / folder).is_dir():
            continue
        dataset = load_dataset(name, args.data / folder, **options)
        times: dict[str, list[float]] = {method: [] for method in methods}
        ratios: dict[str, list[float]] = {method: [] for method in methods}
        counts, sizes = [], set()
        for index in range(len(dataset)):
            sample = dataset[index]
            sparse = MATCHERS[args.matcher](sample["image1"], sample["image2"])
            counts.append(int(sparse.mask.sum()))
            sizes.add(f"{sample['image1'].shape[1]}x{sample['image1'].shape[0]}")
            calls = {method: functools.partial(flowinpaint.inpaint, sparse.flow, sparse.mask,
                                               sample["image1"] if needs_image[method] else None, method=method)
                     for method in methods}
            rounds = rounds_of(calls, args.rounds)
            for method, seconds in rounds.items():
                times[method].append(statistics.median(seconds))
                ratios[method].append(statistics.median(
                    own / theirs for own, theirs in zip(seconds, rounds[args.reference], strict=True)))
        cells = [f"{1e3 * statistics.median(times[method]):.0f} ms" if method == args.reference else
                 f"{1e3 * statistics.median(times[method]):.0f} ms, {statistics.median(ratios[method]):.2f}x "
                 f"({min(ratios[method]):.2f}-{max(ratios[method]):.2f})" for method in methods]
        lines.append(f"| {label} | {len(counts)} | {', '.join(sorted(sizes))} | {statistics.median(counts):.0f} | "
                     + " | ".join(cells) + " |")
    emit_report(lines, args.output)


if __name__ == "__main__":
    main()
