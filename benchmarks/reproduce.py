"""The paper's evaluation at this machine's scale, written to ``benchmarks/reproduce.md``.

One command runs (or resumes) every part with :func:`flowinpaint.eval.evaluate` into
``--work DIR`` (default ``runs/evaluations``, shared with ``benchmarks/robustness.py``: a part
computed by either script is reused by the other) and writes the report:

1. main comparison: every available method (explicit, peers, learned) x 1 / 5 / 10 % uniform masks
   on the real dev set from ``../shared/data`` (Sintel final, Sintel clean, KITTI 2012), the
   synthetic test split, Middlebury and FlyingChairs, and the full Sintel (final pass) / KITTI 2015
   when their roots are given; beside it the paper's published figures (spec section 8), labelled
   as different data;
2. ablations of the neuroexplicit model (fixed alpha, structure-tensor eigenvectors, no pyramid)
   next to the full model trained with the same short schedule (``reference``): each is a weights
   file ``DIR/ablations/<name>.pt`` trained with ``configs/ablation_<name>.toml`` (the reference
   with ``configs/neuroexplicit.toml``) for ``--ablation-steps`` steps and exported with
   ``flowinpaint export-model``; missing ones are listed with the commands;
3. generalisation to unseen densities (0.25 % and 30 %) and to match-like masks (SIFT matches with
   their matching errors), on the first ``--generalisation-limit`` synthetic test samples;
4. the data-efficiency curve, copied from ``benchmarks/results/data_efficiency.md`` when
   ``benchmarks/data_efficiency.py`` has produced it.

    python benchmarks/reproduce.py [--limit 24] [--generalisation-limit 8] [--ablation-steps 400]
                                   [--sintel PATH [--sintel-pass final|clean|all]] [--kitti PATH]
                                   [--work DIR]

Interrupted runs resume (each part's results.json keeps every finished sample).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from _evaluations import (
    HERE,
    SHARED,
    SINTEL_PASSES,
    available_methods,
    dev_sets_present,
    epe_columns,
    first_samples,
    frames,
    id_prefix,
    run_part,
    select,
    unavailable_notes,
)

from flowinpaint.provenance import cpu_model

DENSITIES = (0.01, 0.05, 0.1)
UNSEEN = (0.0025, 0.3)
ABLATIONS = {
    "reference": "the full model (configs/neuroexplicit.toml) with the ablations' schedule",
    "fixed_alpha": "learned alpha replaced by alpha = 0.25",
    "structure_tensor": "learned eigenvectors replaced by the image's structure-tensor eigenvectors",
    "no_pyramid": "one full-resolution level running all 95 FSI steps",
}
# Spec section 8 (Table 1 of the paper, partial): EPE at 1 / 5 / 10 %, None = not reported.
PAPER = {
    "Sintel": {"neuroexplicit": (0.72, 0.40, 0.28), "lb": (0.86, 0.43, 0.31), "eed": (0.94, 0.52, 0.43),
               "flownets": (0.85, 0.57, 0.51), "pd": (2.39, 0.55, 0.40), "wgain": (None, 0.80, None)},
    "FlyingThings3D": {"neuroexplicit": (1.01, 0.55, 0.39), "eed": (2.06, 1.00, 0.73)},
    "KITTI 2015": {"neuroexplicit": (1.07, None, None), "lb": (1.07, None, None)},
}


def paper_tables() -> list[str]:
    lines = ["Published EPE (paper, spec section 8; **other data**: FlyingThings3D / Sintel / KITTI at the",
             "paper's scale, one model per density), for orientation only:", "",
             "| dataset | method | 1% | 5% | 10% |", "| --- | --- | --- | --- | --- |"]
    for dataset, rows in PAPER.items():
        for method, values in rows.items():
            lines.append(f"| {dataset} | `{method}` | " + " | ".join("-" if v is None else f"{v:.2f}" for v in values) + " |")
    return lines


def count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def save(report: list[str], finished: bool = False) -> Path:
    """Write ``benchmarks/reproduce.md`` as it stands: after every part, so an interrupted run still
    leaves what it measured (marked as unfinished until the last part)."""
    out = HERE / "reproduce.md"
    tail = [] if finished else [("*Unfinished: the command was still running or was stopped here; rerun it to complete "
                                "the report (finished parts are not recomputed).*"), ""]
    out.write_text("\n".join([*report, *tail]) + "\n", encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=24, help="synthetic test samples (default 24)")
    parser.add_argument("--generalisation-limit", type=int, default=8,
                        help="synthetic test samples of the generalisation parts (default 8)")
    parser.add_argument("--ablation-steps", type=int, default=400, help="training steps of every ablation run (default 400)")
    parser.add_argument("--size", default="384x512", help="synthetic frame size HxW (default 384x512)")
    parser.add_argument("--sintel", help="the full MPI-Sintel root (training/final, training/flow, ...)")
    parser.add_argument("--sintel-pass", default="final", choices=("final", "clean", "all"),
                        help="pass of the full Sintel (default final, the paper's)")
    parser.add_argument("--kitti", help="the full KITTI 2015 root (training/image_2, training/flow_occ)")
    parser.add_argument("--work", default="runs/evaluations", help="where the evaluations are kept (default runs/evaluations)")
    args = parser.parse_args()
    work = Path(args.work)
    size = tuple(int(v) for v in args.size.split("x"))
    synthetic = {"dataset": "synthetic", "split": "test", "size": size}
    methods = available_methods()
    command = "python benchmarks/reproduce.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = ["# Reproduction of the paper's evaluation at this machine's scale", "",
              (f"Command: `{command.strip()}`, on {cpu_model()} (2 threads). Methods available here: "
              f"{', '.join(f'`{m}`' for m in methods)}."),
              *[f"Not available: {note}." for note in unavailable_notes()],
              "EPE in pixels over all valid pixels (known ones included, as the paper's code does),",
              "uniform random masks with the same seeds for every method, best per column in bold; s/frame = median",
              "per frame of `inpaint` inside the evaluation (the controlled timings are in `benchmarks/results/speed*.md`",
              "and `model_speed.md`); params = trainable parameters of the learned methods.", ""]

    report += ["## 1. Main comparison", "", "### Real dev set (`../shared/data`: validation only, never trained on)", ""]
    dev = dev_sets_present()
    if "sintel" in dev:
        results = run_part(work, dev["sintel"], methods, DENSITIES)
        for name, prefix in SINTEL_PASSES.items():
            chosen = select(results, id_prefix(prefix))
            if chosen["entries"]:
                report += [f"#### Sintel {name} ({count(frames(chosen), 'frame')}, 1024x436)", "",
                           *epe_columns(chosen, methods, DENSITIES), ""]
        report += [f"#### Sintel, both passes ({count(frames(results), 'frame')})", "", *epe_columns(results, methods, DENSITIES), ""]
        save(report)
    if "kitti2012" in dev:
        results = run_part(work, dev["kitti2012"], methods, DENSITIES)
        report += [f"#### KITTI 2012 ({count(frames(results), 'pair')}, non-occluded LiDAR ground truth, ~22-26 % of the pixels)", "",
                   *epe_columns(results, methods, DENSITIES), ""]
        save(report)
    if not dev:
        report += [f"No dev set at {SHARED}.", ""]

    parts: list[tuple[str, dict[str, Any], int | None]] = [(f"synthetic test split ({args.limit} x {size[0]}x{size[1]})", synthetic, args.limit)]
    # The FlyingChairs sample in ../shared has no official split file: all its pairs are evaluated.
    for name, split in (("middlebury", None), ("flyingchairs", "all")):
        if (SHARED / name).is_dir():
            parts.append((name, {"dataset": name, "root": str(SHARED / name), "split": split}, None))
    placeholders = []
    for name, root, extra in (("sintel", args.sintel, {"pass_name": args.sintel_pass}), ("kitti", args.kitti, {})):
        if root:
            title = f"{name} (full{', ' + args.sintel_pass + ' pass' if name == 'sintel' else ''})"
            parts.append((title, {"dataset": name, "root": root, **extra}, None))
        else:
            placeholders += [f"### {name} (full dataset)", "", f"No data given: rerun with `--{name} PATH` to fill this table.", ""]
    for title, config, limit in parts:
        results = run_part(work, config, methods, DENSITIES, limit)
        if limit is not None:
            results = select(results, first_samples(limit))
        report += [f"### {title}", "", *epe_columns(results, methods, DENSITIES), ""]
        save(report)
    report += placeholders
    report += [*paper_tables(), ""]

    report += ["## 2. Ablations (synthetic test split)", ""]
    ablation_specs, missing, labels = [], [], {"neuroexplicit": "neuroexplicit (shipped)"}
    for name, what in ABLATIONS.items():
        weights = work / "ablations" / f"{name}.pt"
        if weights.is_file():
            ablation_specs.append(f"neuroexplicit:model={weights}")
            labels[ablation_specs[-1]] = name
        else:
            config = "neuroexplicit" if name == "reference" else f"ablation_{name}"
            missing.append(f"- `{name}` ({what}): `flowinpaint train --config configs/{config}.toml --out runs/ablation_{name}"
                           f" --set steps={args.ablation_steps}` then `flowinpaint export-model runs/ablation_{name} --name {name} --dir {work / 'ablations'}`")
    report += [f"Every row is trained with the same schedule ({args.ablation_steps} steps of stage 1: batch 8, lr 5e-4,",
               "256x256 crops of the synthetic generator), so they compare the design, not the budget;",
               "`neuroexplicit` is the shipped model, for scale.", ""]
    if ablation_specs:
        results = select(run_part(work, synthetic, ["neuroexplicit", *ablation_specs], DENSITIES, args.limit),
                         first_samples(args.limit))
        report += epe_columns(results, ["neuroexplicit", *ablation_specs], DENSITIES, labels) + [""]
        report += [f"Rows: {', '.join(f'`{name}` = {what}' for name, what in ABLATIONS.items())}.", ""]
    if missing:
        report += ["Not trained yet (one switch changed each):", *missing, ""]

    report += ["## 3. Generalisation", "", "### Unseen densities (trained on 0.5-20 %)", ""]
    results = select(run_part(work, synthetic, methods, UNSEEN, args.generalisation_limit), first_samples(args.generalisation_limit))
    report += [*epe_columns(results, methods, UNSEEN), ""]
    save(report)
    report += ["### Match-like masks (SIFT matches with their matching errors, synthetic test split)", "",
               "Real matches on the dev set, and wrong known values in general: `benchmarks/results/robustness.md`.", ""]
    results = select(run_part(work, {**synthetic, "masks": "matches"}, methods, (0.05,), args.generalisation_limit),
                     first_samples(args.generalisation_limit))
    report += [*epe_columns(results, methods, (0.05,)), ""]

    report += ["## 4. Data efficiency", ""]
    efficiency = HERE / "results" / "data_efficiency.md"
    if efficiency.is_file():
        report += efficiency.read_text(encoding="utf-8").splitlines()[2:]
    else:
        report += ["Not run yet: `python benchmarks/data_efficiency.py` (trains neuroexplicit and flownets on 100, 1,000",
                   "and 10,000 samples with the same schedule)."]
    out = save(report, finished=True)
    print(f"wrote {out}")
    print(json.dumps({"parts": [title for title, _, _ in parts]}))


if __name__ == "__main__":
    main()
