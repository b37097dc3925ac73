"""Speed of methods against a reference method, their calls alternated in one process.

``speed.py`` times each method in its own subprocess, one after the other, so a method and the
reference it is compared with run minutes apart; on a shared machine whose speed swings by a
quarter or more between minutes (this project's 2-core Xeon) their ratio swings with it. Here
every round calls each method once, then the reference, on the same input, and the report gives
the median time of each and, per method, the median and the range of the per-round ratios to the
reference: both saw the same moments of the machine.

    python benchmarks/paired_speed.py [--methods neuroaffine] [--reference epic]
                                      [--sizes 436x1024] [--densities 0.01,0.05] [--rounds 15]
                                      [--output FILE]

Inputs: ``make_example(size, seed=0)`` and ``uniform_mask(valid, density, seed=1)``, as
``speed.py``'s; each method runs once before the rounds (compilation, model loading).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from speed import (  # benchmarks/speed.py, beside this script
    emit_report,
    parse_sizes,
    report_header,
    size_label,
)

import flowinpaint
from flowinpaint.data.example import make_example
from flowinpaint.data.masks import uniform_mask
from flowinpaint.methods import get_method


def rounds_of(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """``name -> seconds of each round``: every call once per round, in the given order, after one
    warm-up call each."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return times


def add_comparison_arguments(parser: argparse.ArgumentParser, rounds: int, per: str) -> None:
    """The options of a comparison by alternated calls: ``--methods``, ``--reference``,
    ``--rounds`` (default ``rounds``, per ``per``: "case", "frame") and ``--output``."""
    parser.add_argument("--methods", default="neuroaffine", help="comma-separated method names")
    parser.add_argument("--reference", default="epic", help="the method every ratio is to")
    parser.add_argument("--rounds", type=int, default=rounds, help=f"rounds of alternated calls per {per}")
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")


def compared_methods(methods: str, reference: str) -> dict[str, bool]:
    """``name -> whether it needs the image`` for the comma-separated ``methods``, ``reference``
    last (unknown names fail here, up front)."""
    names = [name for name in methods.split(",") if name and name != reference] + [reference]
    return {name: get_method(name).needs_image for name in names}


def table(times: dict[str, list[float]], reference: str) -> list[str]:
    """Markdown rows: each method's median time and its per-round ratios to ``reference``."""
    lines = ["| method | median time | x reference, median of the rounds | x reference, range |",
             "| --- | --- | --- | --- |"]
    for name, seconds in times.items():
        ratios = [own / theirs for own, theirs in zip(seconds, times[reference], strict=True)]
        lines.append(f"| {name} | {1e3 * statistics.median(seconds):.0f} ms | {statistics.median(ratios):.2f} "
                     f"| {min(ratios):.2f}-{max(ratios):.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[(436, 1024)], help="H x W list, e.g. 436x1024,872x2048")
    parser.add_argument("--densities", default="0.01,0.05", help="comma-separated fractions of known pixels")
    add_comparison_arguments(parser, rounds=15, per="case")
    args = parser.parse_args()
    needs_image = compared_methods(args.methods, args.reference)
    methods = list(needs_image)
    densities = [float(text) for text in args.densities.split(",")]
    lines = [*report_header("Speed against a reference, calls alternated in one process"),
             (f"`make_example(size, seed=0)`, `uniform_mask(valid, density, seed=1)`; {args.rounds} rounds, each "
              f"calling every method once and then `{args.reference}`, after one warm-up call each. Sizes are W x H."),
             ""]
    for height, width in args.sizes:
        sample = make_example((height, width), seed=0)
        for density in densities:
            mask = uniform_mask(sample["valid"], density, seed=1)
            calls = {name: functools.partial(flowinpaint.inpaint, sample["flow"], mask,
                                             sample["image1"] if needs_image[name] else None, method=name)
                     for name in methods}
            lines += [f"## {size_label((height, width))}, density {density:.0%}", "",
                      *table(rounds_of(calls, args.rounds), args.reference), ""]
    emit_report(lines, args.output)


if __name__ == "__main__":
    main()
