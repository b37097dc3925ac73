"""What wrong known values cost, split into the information they take away and the harm they do.

``robustness.py`` compares an input whose known values are partly *replaced* by wrong ones with
the clean input. That ratio mixes two costs: the right values that were replaced are gone (an
input with 20 % fewer values is less accurate whatever the method), and the wrong ones that came
in their place can paint their error. This script runs, per method, on the same pixels as
``flowinpaint evaluate`` (uniform masks, its mask seeds and outliers):

- *clean*: every known value exact;
- *replaced*: ``--outliers`` of them replaced by wrong ones (half random, half borrowed from a
  known pixel 20-80 px away: :func:`flowinpaint.data.make_sparse`), the input ``evaluate --outliers``
  gives every method;
- *right only*: the replaced values left out, the rest exact: what a perfect judge of the
  replaced values would keep;
- *within 3 px*: the replaced input without the values more than 3 px from the truth (the
  evaluation's wrong ones); a borrowed value from a region that moves alike is less than 3 px off
  and stays.

It reports the mean EPE (px, all valid pixels) of each and three ratios: *replaced / clean*,
*right only / clean* (the information lost with the replaced values) and *replaced / right only*
(the cost of the wrong values themselves, given the right ones: the reading of
``tests/test_neuroaffine.py``'s 1.2x bound on wrong values added to the right ones).

A second table splits the default's (``neuroaffine``'s) cost of the wrong values by what its judge
did with the replaced input (its EPE there is the first table's *replaced*): the values it kept (exact in the output) given as an exact input with
``robust=False``, the same without the wrong values among them (what the wrong values it kept
cost), and the right values alone with ``robust=False`` (what the right values it dropped cost),
with the mean counts per frame of wrong values kept (within 3 px of the truth, and farther) and
of right values dropped.

    python benchmarks/outlier_cost.py [--methods neuroaffine,epic,griddata] [--density 0.05]
        [--outliers 0.2] [--synthetic 24] [--output benchmarks/results/outlier_cost.md]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from _evaluations import dev_sets_present, fmt, method_specs, table
from speed import emit_report, machine_line  # benchmarks/speed.py, beside this script

import flowinpaint
from flowinpaint.data import load_dataset, make_sparse
from flowinpaint.data.outliers import wrong_values
from flowinpaint.eval.runner import mask_seed
from flowinpaint.methods.neuroaffine import NeuroaffineOptions, explain
from flowinpaint.methods.validation import as_problem

INPUTS = ("clean", "replaced", "right only", "within 3 px")
JUDGE_COLUMNS = ("kept, exact", "kept right, exact", "right, exact", "wrong kept (<= 3 px)",
                 "wrong kept (> 3 px)", "right dropped")
SYNTHETIC_SIZE = (384, 512)  # as robustness.py's synthetic test split


def sparse_inputs(sample: dict[str, Any], index: int, density: float, outliers: float,
                  seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four inputs of the module docstring, ``name -> (flow (H, W, 2), mask (H, W))``, on the
    pixels and with the wrong values that ``flowinpaint evaluate`` draws for sample ``index``."""
    seed = mask_seed(seed, index, density)
    clean = make_sparse("uniform", sample, density, seed=seed)
    noisy = make_sparse("uniform", sample, density, seed=seed, outliers=outliers)
    right = noisy.mask & ~noisy.outliers
    near = noisy.mask & ~wrong_values(noisy.flow, np.asarray(sample["flow"], np.float32))
    return {"clean": (clean.flow, clean.mask), "replaced": (noisy.flow, noisy.mask),
            "right only": (np.where(right[..., None], noisy.flow, 0).astype(np.float32), right),
            "within 3 px": (np.where(near[..., None], noisy.flow, 0).astype(np.float32), near)}


def exact_epe(flow: np.ndarray, known: np.ndarray, sample: dict[str, Any]) -> float:
    """EPE of the default holding every ``known`` value exactly (``robust=False``)."""
    dense = flowinpaint.inpaint(flow, known, sample["image1"], robust=False)
    return flowinpaint.epe(dense, sample["flow"], np.asarray(sample["valid"], bool))


def judge_row(sample: dict[str, Any], inputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """One sample's values of ``JUDGE_COLUMNS``: the default's verdicts on its replaced input."""
    (flow, mask), right = inputs["replaced"], inputs["right only"][1]
    kept = explain(as_problem(flow, mask, sample["image1"], True, "neuroaffine"), NeuroaffineOptions()).kept
    wrong = kept & ~right
    near = wrong & ~wrong_values(flow, np.asarray(sample["flow"], np.float32))
    return [exact_epe(flow, kept, sample), exact_epe(flow, kept & right, sample), exact_epe(flow, right, sample),
            near.sum(), (wrong & ~near).sum(), (right & ~kept).sum()]


def measure(samples: Iterable[dict[str, Any]], methods: list[str], density: float, outliers: float,
            seed: int) -> tuple[dict[str, dict[str, float]], list[str]]:
    """``method -> input -> mean EPE`` over ``samples``, and the cells of the judge table (means)."""
    errors: dict[str, dict[str, list[float]]] = {m: {name: [] for name in INPUTS} for m in methods}
    judged = []
    for index, sample in enumerate(samples):
        valid = np.asarray(sample["valid"], bool)
        inputs = sparse_inputs(sample, index, density, outliers, seed)
        for name, (flow, mask) in inputs.items():
            for method in methods:
                dense = flowinpaint.inpaint(flow, mask, sample["image1"], method=method)
                errors[method][name].append(flowinpaint.epe(dense, sample["flow"], valid))
        judged.append(judge_row(sample, inputs))
    means = np.mean(np.array(judged, np.float64), axis=0)
    cells = [*(fmt(value) for value in means[:3]), *(f"{value:.0f}" for value in means[3:])]
    return {m: {name: float(np.mean(values)) for name, values in by_input.items()} for m, by_input in errors.items()}, cells


def report_rows(errors: dict[str, dict[str, float]]) -> list[list[str]]:
    rows = []
    for method, by_input in errors.items():
        clean, replaced, right = by_input["clean"], by_input["replaced"], by_input["right only"]
        rows.append([f"`{method}`", *(fmt(by_input[name]) for name in INPUTS),
                     f"{replaced / clean:.3f}", f"{right / clean:.3f}", f"{replaced / right:.3f}"])
    return rows


def data_groups(synthetic: int) -> dict[str, list[dict[str, Any]]]:
    """``title -> samples``: the dev set's parts found beside the checkout and the synthetic test split."""
    groups: dict[str, list[dict[str, Any]]] = {}
    dev = dev_sets_present()
    if "sintel" in dev:
        dataset = load_dataset("sintel", dev["sintel"]["root"], pass_name="all")
        groups[f"Sintel (dev set, {len(dataset)} frames)"] = [dataset[i] for i in range(len(dataset))]
    if "kitti2012" in dev:
        dataset = load_dataset("kitti2012", dev["kitti2012"]["root"], flow_type="noc")
        groups[f"KITTI 2012 (dev set, {len(dataset)} pairs, noc)"] = [dataset[i] for i in range(len(dataset))]
    if synthetic > 0:
        dataset = load_dataset("synthetic", None, split="test", size=SYNTHETIC_SIZE, length=synthetic, seed=0)
        groups[f"synthetic test split ({synthetic} x {SYNTHETIC_SIZE[0]}x{SYNTHETIC_SIZE[1]})"] = [
            dataset[i] for i in range(len(dataset))]
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="neuroaffine,epic,griddata", help="comma-separated method specs")
    parser.add_argument("--density", type=float, default=0.05, help="share of the valid pixels known")
    parser.add_argument("--outliers", type=float, default=0.2, help="share of the known values replaced")
    parser.add_argument("--synthetic", type=int, default=24, help="synthetic test pairs (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="evaluate's seed")
    parser.add_argument("--output", type=Path, help="also write the report to this Markdown file")
    args = parser.parse_args()
    methods = method_specs(args.methods)
    started = time.perf_counter()
    lines = ["# What wrong known values cost", "",
             (f"Command: `python benchmarks/outlier_cost.py --methods {','.join(methods)} --density {args.density:g} "
              f"--outliers {args.outliers:g} --synthetic {args.synthetic} --seed {args.seed}`"), "",
             (f"Uniform masks, {100 * args.density:g} % of the valid pixels, {100 * args.outliers:g} % of the known "
              "values replaced (the pixels and wrong values of `flowinpaint evaluate`); mean EPE (px, all valid "
              "pixels). Inputs and ratios: see the script's docstring."), ""]
    header = ["method", *INPUTS, "replaced / clean", "right only / clean", "replaced / right only"]
    for title, samples in data_groups(args.synthetic).items():
        errors, judged = measure(samples, methods, args.density, args.outliers, args.seed)
        lines += [f"## {title}", "", *table(header, report_rows(errors)), "",
                  "The default's judge (`neuroaffine`; EPE, and counts per frame):", "",
                  *table(JUDGE_COLUMNS, [judged]), ""]
    lines.append(f"Machine: {machine_line()}; {time.perf_counter() - started:.0f} s.")
    emit_report(lines, args.output)


if __name__ == "__main__":
    main()
