"""The search behind ``densify``'s ``fine-smooth`` preset: the weights of DIS's own variational refinement.

DIS refines its patch flow at every pyramid scale by a few iterations of a variational energy
with smoothness ``alpha``, brightness constancy ``delta`` and gradient constancy ``gamma``
(OpenCV: 20, 5, 10). This script runs the whole ``densify`` pipeline (DIS ``fine`` both ways,
forward-backward test, EPIC fill, final refinement: every other setting at its default) over a
grid of those weights, on the pairs ``benchmarks/densify.py`` scores (the real dev set and the
first ``--synthetic`` synthetic test pairs), and reports the same score: the geometric mean over
the pairs of EPE / min(EPE of DIS medium, EPE of DeepFlow). The choice is the best score over
real and synthetic pairs together (never one frame). Middlebury and the FlyingChairs examples
are reported beside it as held-out pairs the choice never sees.

    python benchmarks/densify_dis_weights.py [--synthetic 8] [--work runs/densify-dis-weights]

Every (pair, setting) result is kept in ``--work/results.json`` and not recomputed on a rerun.
Writes ``benchmarks/results/densify_dis_weights.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path
from typing import Any

import cv2
from _evaluations import HERE, SHARED, table
from densify import pairs, peer

from flowinpaint import densify, epe
from flowinpaint.data import load_dataset
from flowinpaint.densify import DisPreset
from flowinpaint.io._atomic import atomic_write_bytes
from flowinpaint.provenance import cpu_model

ALPHAS = (20.0, 40.0, 80.0)
DELTAS = (1.0, 2.0, 5.0)
GAMMAS = (0.0, 3.0, 10.0)
OPENCV = (20.0, 5.0, 10.0)
#: Pairs the choice never sees, by dataset (Middlebury's frames are grey; densify takes grey).
HELD_OUT = {"middlebury": {}, "flyingchairs": {"split": "all"}}
REFERENCES = ("dis-medium", "deepflow")


def all_pairs(synthetic: int) -> list[dict[str, Any]]:
    """The scored pairs (group ``sintel``, ``kitti2012``, ``synthetic``) and the held-out ones."""
    found = pairs(synthetic)
    for name, options in HELD_OUT.items():
        if (SHARED / name).is_dir():
            dataset = load_dataset(name, SHARED / name, **options)
            found += [{**dataset[index], "group": name} for index in range(len(dataset))]
    return found


def setting(weights: tuple[float, float, float]) -> str:
    return "a{:g} d{:g} g{:g}".format(*weights)


def run_setting(weights: tuple[float, float, float]):
    preset = DisPreset(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, finest_scale=0, refinement_weights=weights)
    return lambda a, b: densify(a, b, preset=preset).flow


def measure(work: Path, data: list[dict[str, Any]], runs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{pair id: {"group", name: EPE}}``, resumed from ``work/results.json``."""
    path = work / "results.json"
    results: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else {}
    for sample in data:
        row = results.setdefault(sample["id"], {"group": sample["group"]})
        for name, run in runs.items():
            if name in row:
                continue
            row[name] = epe(run(sample["image1"], sample["image2"]), sample["flow"], sample["valid"])
            print(f"{sample['id']} {name}: EPE {row[name]:.3f}", flush=True)
            work.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, (json.dumps(results, indent=1) + "\n").encode())
    return {sample["id"]: results[sample["id"]] for sample in data}


def score(rows: list[dict[str, Any]], name: str) -> float:
    """Geometric mean of EPE / min(DIS medium, DeepFlow) over ``rows``."""
    logs = [math.log(row[name] / min(row[reference] for reference in REFERENCES)) for row in rows]
    return math.exp(sum(logs) / len(logs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", type=int, default=8, help="synthetic test pairs (default 8)")
    parser.add_argument("--work", default="runs/densify-dis-weights", help="where the per-pair results are kept")
    args = parser.parse_args()
    started = time.perf_counter()
    grid = list(itertools.product(ALPHAS, DELTAS, GAMMAS))
    runs = {name: peer(name) for name in REFERENCES} | {setting(weights): run_setting(weights) for weights in grid}
    results = measure(Path(args.work), all_pairs(args.synthetic), runs)
    groups = {
        "real": [row for row in results.values() if row["group"] in ("sintel", "kitti2012")],
        "synthetic": [row for row in results.values() if row["group"] == "synthetic"],
        "held-out": [row for row in results.values() if row["group"] in HELD_OUT],
    }
    scored = groups["real"] + groups["synthetic"]
    names = [setting(weights) for weights in grid]
    chosen = min(names, key=lambda name: score(scored, name))
    rows = [[f"`{name}`" + (" (OpenCV's)" if name == setting(OPENCV) else "") + (" **(chosen)**" if name == chosen else ""),
             f"{score(scored, name):.3f}", f"{score(groups['real'], name):.3f}", f"{score(groups['synthetic'], name):.3f}",
             f"{score(groups['held-out'], name):.3f}" if groups["held-out"] else "-"]
            for name in sorted(names, key=lambda name: score(scored, name))]
    lines = ["# densify: the weights of DIS's variational refinement", "",
             (f"Command: `python benchmarks/densify_dis_weights.py --synthetic {args.synthetic}` on {cpu_model()} "
             f"(this invocation: {(time.perf_counter() - started) / 60:.0f} min; finished results are kept in the work folder)."),
             ("The whole default `densify` pipeline with DIS `fine` (OpenCV's medium preset at full resolution) and its "
             "refinement weights `a` (smoothness alpha), `d` (brightness constancy delta), `g` (gradient constancy gamma). "
             "Score = geometric mean of EPE / min(EPE of DIS medium, EPE of DeepFlow); below 1 beats the better of the two. "
             f"Chosen by the score over the {len(groups['real'])} real and {len(groups['synthetic'])} synthetic pairs; "
             f"held out: {len(groups['held-out'])} Middlebury and FlyingChairs pairs."), "",
             *table(["DIS refinement weights", "score, real + synthetic", "real", "synthetic", "held-out"], rows), ""]
    output = HERE / "results" / "densify_dis_weights.md"
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {output}; chosen {chosen}")


if __name__ == "__main__":
    main()
