"""Parameter search for the explicit methods' defaults, on the project's own validation data.

Validation data: synthetic examples with exact ground truth (``make_example``, seeds 1000+,
never the demo's seed 0) and the real samples in ``../shared/data`` (the eight Middlebury
sequences with ground truth and the nine FlyingChairs pairs). Masks: uniform random at 1 %, 5 %
and 10 % of the valid pixels, the same seeded mask for every candidate.

Score of a candidate: the mean over (dataset group, density) of its EPE divided by the EPE of
homogeneous diffusion (``laplace`` at its defaults) on the same samples, so the three groups
count alike whatever their flow magnitudes. Lower is better; 1.0 means "as good as Laplace".

    python benchmarks/tune_explicit.py [--shared ../shared/data] [--out benchmarks/results]

Writes ``tune_explicit.json`` (every candidate's per-group EPEs) and ``tune_explicit.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

import flowinpaint
from flowinpaint.data.example import make_example
from flowinpaint.data.masks import uniform_mask

DENSITIES = (0.01, 0.05, 0.1)
GRIDS: dict[str, list[dict]] = {
    "laplace": [{"alpha": a} for a in (0.0, 0.1, 0.25, 0.4)],
    "lb": [{"gamma": g, "sigma": s} for g, s in itertools.product((5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0), (0.0, 0.5, 1.0))],
    "eed": [
        {"contrast": c, "diffusivity": d, "sigma": s, "rho": r}
        for c, d, (s, r) in itertools.product(
            (0.002, 0.005, 0.01, 0.02, 0.05), ("perona-malik", "charbonnier"), ((0.5, 1.0), (1.0, 2.0), (1.5, 4.0))
        )
    ],
    "amle": [{}],
}


def validation_samples(shared: Path) -> dict[str, list[dict]]:
    """The validation samples by group: ``{"synthetic": [...], "middlebury": [...], "flyingchairs": [...]}``."""
    groups = {"synthetic": [make_example((256, 320), seed=1000 + k) for k in range(4)]}
    middlebury = []
    for flow_path in sorted((shared / "middlebury" / "other-gt-flow").glob("*/flow10.flo")):
        flow, valid = flowinpaint.read_flow(flow_path)
        image = flowinpaint.read_image(shared / "middlebury" / "other-data-gray" / flow_path.parent.name / "frame10.png")
        middlebury.append({"flow": flow, "valid": valid, "image1": image, "id": flow_path.parent.name})
    chairs = []
    for flow_path in sorted((shared / "flyingchairs" / "data").glob("*_flow.flo")):
        flow, valid = flowinpaint.read_flow(flow_path)
        image = flowinpaint.read_image(flow_path.with_name(flow_path.name.replace("_flow.flo", "_img1.ppm")))
        chairs.append({"flow": flow, "valid": valid, "image1": image, "id": flow_path.stem})
    if middlebury:
        groups["middlebury"] = middlebury
    if chairs:
        groups["flyingchairs"] = chairs
    return groups


def evaluate(method: str, options: dict, groups: dict[str, list[dict]], masks: dict) -> dict[str, dict[str, float]]:
    """Mean EPE per group and density (over valid ground-truth pixels)."""
    result: dict[str, dict[str, float]] = {}
    for group, samples in groups.items():
        result[group] = {}
        for density in DENSITIES:
            errors = []
            for index, sample in enumerate(samples):
                mask = masks[group, index, density]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    dense = flowinpaint.inpaint(sample["flow"], mask, sample["image1"], method=method, **options)
                errors.append(flowinpaint.epe(dense, sample["flow"], sample["valid"]))
            result[group][str(density)] = float(np.mean(errors))
    return result


def score(errors: dict[str, dict[str, float]], reference: dict[str, dict[str, float]]) -> float:
    ratios = [errors[g][d] / reference[g][d] for g in errors for d in errors[g]]
    return float(np.mean(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--methods", default=",".join(GRIDS))
    args = parser.parse_args()
    groups = validation_samples(args.shared)
    masks = {
        (group, index, density): uniform_mask(sample["valid"], density, seed=index)
        for group, samples in groups.items()
        for index, sample in enumerate(samples)
        for density in DENSITIES
    }
    reference = evaluate("laplace", {}, groups, masks)
    report = {"groups": {g: [s["id"] for s in samples] for g, samples in groups.items()}, "reference": reference, "methods": {}}
    for method in args.methods.split(","):
        candidates = []
        for options in tqdm(GRIDS[method], desc=method):
            start = time.perf_counter()
            errors = evaluate(method, options, groups, masks)
            candidates.append({"options": options, "errors": errors, "score": score(errors, reference),
                               "seconds": time.perf_counter() - start})
        candidates.sort(key=lambda c: c["score"])
        report["methods"][method] = candidates
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "tune_explicit.json").write_text(json.dumps(report, indent=1))
    lines = ["# Explicit methods: parameter search", "",
             ("Generated by `python benchmarks/tune_explicit.py`. Score: mean over (group, density) of "
             "EPE / EPE(laplace defaults); lower is better."), ""]
    for method, candidates in report["methods"].items():
        lines += [f"## {method}", "", "| rank | options | score | " + " | ".join(
            f"{g} {float(d):.0%}" for g in reference for d in reference[g]) + " |",
            "| --- | --- | --- | " + " | ".join("---" for g in reference for _ in reference[g]) + " |"]
        for rank, c in enumerate(candidates[:8], 1):
            cells = " | ".join(f"{c['errors'][g][d]:.3f}" for g in reference for d in reference[g])
            lines.append(f"| {rank} | `{json.dumps(c['options'])}` | {c['score']:.3f} | {cells} |")
        lines.append("")
    (args.out / "tune_explicit.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
