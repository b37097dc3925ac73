"""The paper's evaluation at this machine's scale, written to ``benchmarks/reproduce.md``.

One command runs (or resumes) every part with :func:`flowinpaint.eval.evaluate` into
``--work DIR`` (default ``runs/reproduce``) and writes the report:

1. main comparison: every available method (explicit, peers, learned) x 1 / 5 / 10 % uniform masks
   on the synthetic test split, Middlebury and FlyingChairs from ``../shared/data``, and Sintel /
   KITTI 2015 when their roots are given (otherwise the table says how to fill it); beside it the
   paper's published figures (spec section 8), labelled as different data;
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
                                   [--sintel PATH] [--kitti PATH] [--work DIR]

Interrupted runs resume (each part's results.json keeps every finished sample).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from flowinpaint.eval.report import aggregate, parameter_count
from flowinpaint.eval.runner import EvalConfig, evaluate
from flowinpaint.methods import get_method, method_names

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
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


def available_methods() -> list[str]:
    return [name for name in method_names() if get_method(name).unavailable() is None]


def run_part(work: Path, name: str, **config: Any) -> dict[str, Any]:
    """Evaluate one part (resuming), returning its aggregated table ``{(method, density): row}``."""
    print(f"== {name}", flush=True)
    results = evaluate(EvalConfig(out=work / name, progress=False, figures=True, **config))
    return {"results": results, "table": aggregate(results)}


def epe_table(part: dict[str, Any], densities: tuple[float, ...], methods: list[str],
              labels: dict[str, str] | None = None) -> list[str]:
    """Markdown rows of mean EPE per density, median time and parameters; ``labels`` renames methods."""
    table = part["table"]
    labels = labels or {}
    lines = ["| method | " + " | ".join(f"EPE @ {100 * d:g}%" for d in densities) + " | time/frame s | params |",
             "| --- |" + " --- |" * (len(densities) + 2)]
    for method in methods:
        rows = [table.get((method, d)) for d in densities]
        if not any(rows):
            continue
        cells = [f"{row['epe']:.3f}" if row and row.get("epe") is not None else "-" for row in rows]
        times = [row["seconds"] for row in rows if row and row.get("seconds") is not None]
        lines.append(f"| `{labels.get(method, method)}` | " + " | ".join(cells) + f" | {(sorted(times)[len(times) // 2] if times else float('nan')):.3f} | {parameter_count(method)} |")
    return lines


def paper_tables() -> list[str]:
    lines = ["Published EPE (paper, spec section 8; **other data**: FlyingThings3D / Sintel / KITTI at the",
             "paper's scale, one model per density), for orientation only:", "",
             "| dataset | method | 1% | 5% | 10% |", "| --- | --- | --- | --- | --- |"]
    for dataset, rows in PAPER.items():
        for method, values in rows.items():
            lines.append(f"| {dataset} | `{method}` | " + " | ".join("-" if v is None else f"{v:.2f}" for v in values) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=24, help="synthetic test samples (default 24)")
    parser.add_argument("--generalisation-limit", type=int, default=8,
                        help="synthetic test samples of the generalisation parts (default 8)")
    parser.add_argument("--ablation-steps", type=int, default=400, help="training steps of every ablation run (default 400)")
    parser.add_argument("--size", default="384x512", help="synthetic frame size HxW (default 384x512)")
    parser.add_argument("--sintel", help="MPI-Sintel root (training/clean, training/flow, ...)")
    parser.add_argument("--kitti", help="KITTI 2015 root (training/image_2, training/flow_occ)")
    parser.add_argument("--work", default="runs/reproduce", help="where the evaluations are kept (default runs/reproduce)")
    args = parser.parse_args()
    work = Path(args.work)
    size = tuple(int(v) for v in args.size.split("x"))
    methods = available_methods()
    command = "python benchmarks/reproduce.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = ["# Reproduction of the paper's evaluation at this machine's scale", "",
              f"Command: `{command.strip()}`. Methods available here: {', '.join(f'`{m}`' for m in methods)}.",
              *[f"Not available: `{name}` ({get_method(name).unavailable()})." for name in method_names() if name not in methods],
              "EPE in pixels over all valid pixels (known ones included, as the paper's code does),",
              "uniform random masks with the same seeds for every method; time = median per frame of `inpaint`",
              "inside the evaluation (2-core CPU, sometimes beside a training job: the controlled timings are in",
              "`benchmarks/results/speed.md`, `speed_learned.md`); params = trainable parameters of the learned methods.", ""]

    report += ["## 1. Main comparison", ""]
    datasets: list[tuple[str, dict[str, Any]]] = [
        ("synthetic test split", {"dataset": "synthetic", "limit": args.limit, "size": size}),
    ]
    # The FlyingChairs sample in ../shared has no official split file: all its pairs are evaluated.
    for name, split in (("middlebury", None), ("flyingchairs", "all")):
        if (SHARED / name).is_dir():
            datasets.append((name, {"dataset": name, "root": str(SHARED / name), "split": split}))
    placeholders = []
    for name, root in (("sintel", args.sintel), ("kitti", args.kitti)):
        if root:
            datasets.append((name, {"dataset": name, "root": root}))
        else:
            placeholders += [f"### {name}", "", f"No data given: rerun with `--{name} PATH` to fill this table.", ""]
    for title, config in datasets:
        part = run_part(work, f"main-{config['dataset']}", methods=methods, densities=DENSITIES, **config)
        report += [f"### {title}", "", *epe_table(part, DENSITIES, methods), ""]
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
               "`neuroexplicit` is the shipped model (two stages, 3,500 steps), for scale.", ""]
    if ablation_specs:
        part = run_part(work, "ablations", dataset="synthetic", limit=args.limit, size=size, densities=DENSITIES,
                        methods=["neuroexplicit", *ablation_specs])
        report += epe_table(part, DENSITIES, ["neuroexplicit", *ablation_specs], labels) + [""]
        report += [f"Rows: {', '.join(f'`{name}` = {what}' for name, what in ABLATIONS.items())}.", ""]
    if missing:
        report += ["Not trained yet (one switch changed each):", *missing, ""]

    report += ["## 3. Generalisation", "", "### Unseen densities (trained on 0.5-20 %)", ""]
    part = run_part(work, "unseen-densities", dataset="synthetic", limit=args.generalisation_limit, size=size, densities=UNSEEN, methods=methods)
    report += [*epe_table(part, UNSEEN, methods), ""]
    report += ["### Match-like masks (SIFT matches with their matching errors, synthetic test split)", ""]
    part = run_part(work, "matches", dataset="synthetic", limit=args.generalisation_limit, size=size, densities=(0.05,), masks="matches", methods=methods)
    report += [*epe_table(part, (0.05,), methods), ""]

    report += ["## 4. Data efficiency", ""]
    efficiency = HERE / "results" / "data_efficiency.md"
    if efficiency.is_file():
        report += efficiency.read_text(encoding="utf-8").splitlines()[2:]
    else:
        report += ["Not run yet: `python benchmarks/data_efficiency.py` (trains neuroexplicit and flownets on 100, 1,000",
                   "and 10,000 samples with the same schedule)."]
    out = HERE / "reproduce.md"
    out.write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    print(json.dumps({"parts": [name for name, _ in datasets]}))


if __name__ == "__main__":
    main()
