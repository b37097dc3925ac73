"""Two frames to dense flow: ``flowinpaint.densify`` against OpenCV's dense flows, and the search for its defaults.

On the real dev set (``../shared/data``: Sintel, 8 pairs of both passes; KITTI 2012, 2 pairs) and
the first ``--synthetic`` pairs of the synthetic test split (384x512), in one run on this machine:

* peers: OpenCV DIS at each preset (``ultrafast``, ``fast``, ``medium``), DeepFlow, and the
  EpicFlow-style pipeline, SIFT matches + OpenCV EPIC (``densify(matcher="sift", method="epic")``);
* ``densify`` over a grid of settings (inpainting method x DIS preset fast / medium / fine / fine-smooth x
  refinement x margin around the rejected pixels).

With ``--validation N`` the pairs are instead the first N synthetic validation scenes of
``validate_variants.py`` (half with a camera over a plane, half with frames degraded like real
ones), disjoint from the reported ones: where a default is chosen without looking at the dev set
(``densify``'s margin); the report then goes to ``densify_validation.md``.

EPE (px, over the valid ground truth) and seconds per pair. The score of a setting is the geometric
mean, over all pairs (real and synthetic; never one frame), of its EPE divided by the better of DIS
medium and DeepFlow on that pair; the report ranks the settings by it and says which is chosen as
the default (the best score among those faster than DeepFlow on average).

    python benchmarks/densify.py [--synthetic 8] [--methods eed,epic,neuroexplicit,lb] [--presets fine-smooth]
        [--margins 0,2] [--validation 16] [--work runs/densify] [--output FILE]

A method may carry options in brackets, ``epic[max_matches=8000]``; without them it runs with
``densify``'s defaults for it (``flowinpaint.densify.pipeline.DEFAULT_OPTIONS``).

Every (pair, setting) result is kept in ``--work/results.json`` and not recomputed on a rerun.
Writes ``benchmarks/results/densify.md`` (``densify_validation.md`` with ``--validation``), or
``--output``: a run over part of the grid need not overwrite the report.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from _evaluations import HERE, dev_sets_present, fmt, table
from validate_variants import scenes

from flowinpaint import densify, epe
from flowinpaint.data import load_dataset
from flowinpaint.densify import DIS_PRESETS
from flowinpaint.io._atomic import atomic_write_bytes
from flowinpaint.methods import get_method
from flowinpaint.methods.options import parse_options
from flowinpaint.provenance import cpu_model

PEERS = ("dis-ultrafast", "dis-fast", "dis-medium", "deepflow", "sift+epic")
PRESETS = ("fast", "medium", "fine", "fine-smooth")


def pairs(synthetic: int, validation: int = 0) -> list[dict[str, Any]]:
    """Every evaluated pair: ``{"id", "group", "image1", "image2", "flow", "valid"}``: the dev set
    and ``synthetic`` test pairs, or (``validation`` > 0) that many synthetic validation scenes."""
    if validation:
        return [{**sample, "group": "synthetic"}
                for sample, _ in scenes(validation, (384, 512), perspective=0.5, seed=0, degraded=0.5)]
    found = []
    for name, config in dev_sets_present().items():
        dataset = load_dataset(config["dataset"], config["root"],
                               **{key: config[key] for key in ("pass_name", "flow_type") if key in config})
        found += [{**dataset[index], "group": name} for index in range(len(dataset))]
    if synthetic:
        dataset = load_dataset("synthetic", split="test", size=(384, 512), length=synthetic, seed=0)
        found += [{**dataset[index], "group": "synthetic"} for index in range(synthetic)]
    return found


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def peer(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The two-frame flow function of a peer."""
    if name.startswith("dis-"):
        preset = DIS_PRESETS[name[4:]]  # OpenCV's preset as it is
        return lambda a, b: preset.create().calc(grey(a), grey(b), None)
    if name == "deepflow":
        return lambda a, b: cv2.optflow.createOptFlow_DeepFlow().calc(grey(a), grey(b), None)
    if name == "sift+epic":
        return lambda a, b: densify(a, b, matcher="sift", method="epic").flow
    raise ValueError(name)


def setting_name(method: str, preset: str, refine: bool, margin: int) -> str:
    return f"densify:{method}:{preset}" + (":refine" if refine else "") + f":margin={margin}"


def method_and_options(spec: str) -> tuple[str, dict[str, Any]]:
    """``"epic"`` or ``"epic[max_matches=8000,k=64]"``: the inpainting method and its options."""
    name, _, rest = spec.partition("[")
    pairs = [pair for pair in rest.rstrip("]").split(",") if pair]
    return name, parse_options(get_method(name), pairs)


def densifier(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    _, spec, preset, *rest = name.split(":")
    method, options = method_and_options(spec)
    margin = int(rest[-1].removeprefix("margin="))
    return lambda a, b: densify(a, b, method=method, preset=preset, refine="refine" in rest, margin=margin, **options).flow


def measure(work: Path, data: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, Any]]:
    """``{pair id: {name: {"epe", "seconds"}}}``, resumed from ``work/results.json``."""
    path = work / "results.json"
    results: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else {}
    warmed: set[str] = set()  # the first call of a setting (model loading, kernel build) is not timed
    for sample in data:
        row = results.setdefault(sample["id"], {"group": sample["group"]})
        for name in names:
            if name in row:
                continue
            run = densifier(name) if name.startswith("densify:") else peer(name)
            if name not in warmed:
                run(sample["image1"], sample["image2"])
                warmed.add(name)
            start = time.perf_counter()
            flow = run(sample["image1"], sample["image2"])
            seconds = time.perf_counter() - start
            row[name] = {"epe": epe(flow, sample["flow"], sample["valid"]), "seconds": seconds}
            print(f"{sample['id']} {name}: EPE {row[name]['epe']:.3f}, {seconds:.2f} s", flush=True)
            work.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, (json.dumps(results, indent=1) + "\n").encode())
    return {sample["id"]: results[sample["id"]] for sample in data}


def score(results: dict[str, dict[str, Any]], name: str, real_only: bool = False) -> float | None:
    """Geometric mean over pairs (``real_only``: the dev-set pairs) of EPE / min(EPE of DIS medium,
    EPE of DeepFlow); None where there are no such pairs."""
    logs = [math.log(row[name]["epe"] / min(row["dis-medium"]["epe"], row["deepflow"]["epe"]))
            for row in results.values() if not real_only or row["group"] != "synthetic"]
    return math.exp(sum(logs) / len(logs)) if logs else None


def mean_seconds(results: dict[str, dict[str, Any]], name: str) -> float:
    return float(np.mean([row[name]["seconds"] for row in results.values()]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", type=int, default=8, help="synthetic test pairs (default 8)")
    parser.add_argument("--methods", default="eed,epic,neuroexplicit,lb",
                        help="inpainting methods of the grid, each with options in brackets if any: epic[max_matches=8000]")
    parser.add_argument("--presets", default=",".join(PRESETS), help=f"DIS presets of the grid (default {','.join(PRESETS)})")
    parser.add_argument("--margins", default="0,2", help="margins of the grid, px around the rejected pixels (default 0,2)")
    parser.add_argument("--validation", type=int, default=0,
                        help="run on this many synthetic validation scenes instead (writes densify_validation.md)")
    parser.add_argument("--work", default="runs/densify", help="where the per-pair results are kept")
    parser.add_argument("--output", type=Path, help="where the report goes (default benchmarks/results/densify.md, "
                                                    "or densify_validation.md with --validation)")
    args = parser.parse_args()
    started = time.perf_counter()
    data = pairs(args.synthetic, args.validation)
    grid = [setting_name(method, preset, refine, int(margin)) for method in re.split(r",(?![^\[]*\])", args.methods)
            for preset in args.presets.split(",") for refine in (False, True) for margin in args.margins.split(",")]
    results = measure(Path(args.work), data, [*PEERS, *grid])
    scores = {name: score(results, name) for name in [*PEERS, *grid]}
    deepflow_time = mean_seconds(results, "deepflow")
    eligible = [name for name in grid if mean_seconds(results, name) < deepflow_time]
    chosen = min(eligible or grid, key=scores.get)

    command = "python benchmarks/densify.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    title = "# densify against OpenCV's dense flows" + (" (synthetic validation scenes)" if args.validation else "")
    lines = [title, "",
             (f"Command: `{command.strip()}` on {cpu_model()}, 2 threads (this invocation: "
             f"{(time.perf_counter() - started) / 60:.0f} min; finished results are kept in the work folder). EPE in px "
             "over the valid ground truth; s = seconds per pair (mean, the first call of each setting untimed)."),
             ("Score = geometric mean over all pairs of EPE / min(EPE of DIS medium, EPE of DeepFlow): below 1 beats "
             "the better of the two on average."), "",
             "## Ranking", "",
             *table(["setting", "score", "score, real pairs", "worst pair vs DIS medium", "s/pair"],
                    [[f"`{name}`" + (" **(chosen)**" if name == chosen else ""), f"{scores[name]:.3f}",
                      fmt(score(results, name, real_only=True)),
                      f"{max(row[name]['epe'] / row['dis-medium']['epe'] for row in results.values()):.2f}x",
                      f"{mean_seconds(results, name):.2f}"]
                     for name in sorted(scores, key=scores.get)]), "",
             (f"Chosen: `{chosen}`, the best score among the settings faster than DeepFlow "
             f"({deepflow_time:.2f} s per pair on average)."), "",
             "## Per pair (EPE)", ""]
    shown = [*PEERS, chosen]
    rows = [[pair_id, *(fmt(row[name]["epe"]) for name in shown)] for pair_id, row in results.items()]
    lines += [*table(["pair", *(f"`{name}`" for name in shown)], rows), ""]
    output = args.output or HERE / "results" / ("densify_validation.md" if args.validation else "densify.md")
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {output}; chosen {chosen} (score {scores[chosen]:.3f})")


if __name__ == "__main__":
    main()
