"""Robustness: every method on real and synthetic inputs over density, wrong known values and mask kind.

Writes ``benchmarks/results/robustness.md`` and ``robustness.png``: EPE (px, all valid pixels) on
the real dev set (``../shared/data``: Sintel, 8 frames of both passes; KITTI 2012, 2 pairs, LiDAR
ground truth) and the synthetic test split, in four slices:

1. density 0.5-20 % of uniform known pixels, exact values;
2. wrong known values at 5 %: 0, 5, 10, 20, 30 % of them replaced (half random in the flow's
   range, half borrowed from a known pixel 20-80 px away; ``make_sparse(outliers=...)``);
3. mask kinds at 5 %: uniform, clustered, edge, grid, scanlines (LiDAR-like), blocks (codec-like),
   with exact values and with 10 % wrong ones;
4. real matches: SIFT matches between the two frames, as they come (their own outliers).

Time per frame (median of ``inpaint``) stands beside each table. Every available method runs at 5 %
(uniform, exact values) first; a method slower than ``--slow`` seconds per frame there (median on
the slower dev-set dataset) is left out of the rest, which the report says (its 1 / 5 / 10 % figures
are in ``benchmarks/reproduce.md``, from the same evaluations).

    python benchmarks/robustness.py [--quick] [--work runs/evaluations] [--slow 5]

``--quick`` runs a subset in about 10 minutes (3 dev frames, 2 synthetic samples, fewer settings).
The evaluations are kept in ``--work`` by setting (shared with ``reproduce.py``) and resume.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from _evaluations import (
    HERE,
    available_methods,
    bold_best,
    dev_sets_present,
    epe_columns,
    first_samples,
    fmt,
    median_seconds,
    run_part,
    select,
    table,
    unavailable_notes,
)

from flowinpaint.eval.report import aggregate
from flowinpaint.provenance import cpu_model

SETTINGS = {  # full run / --quick
    "densities": ((0.005, 0.01, 0.02, 0.05, 0.1, 0.2), (0.01, 0.05)),
    "outliers": ((0.05, 0.1, 0.2, 0.3), (0.2,)),
    "kinds": (("clustered", "edge", "grid", "scanlines", "blocks"), ("scanlines", "blocks")),
}
KIND_OUTLIERS = 0.1
DENSITY = 0.05  # of the outlier and mask-kind slices
SYNTHETIC = {"dataset": "synthetic", "split": "test", "size": (384, 512)}


def groups(quick: bool) -> dict[str, tuple[dict[str, Any], int | None]]:
    """The data groups: ``title -> (dataset config, sample limit)``."""
    found: dict[str, tuple[dict[str, Any], int | None]] = {}
    dev = dev_sets_present()
    if "sintel" in dev:
        found["Sintel (dev set, 8 frames: 7 final, 1 clean)" if not quick else "Sintel (dev set, first 2 frames)"] = (
            dev["sintel"], 2 if quick else None)
    if "kitti2012" in dev:
        found["KITTI 2012 (dev set, 2 pairs, noc)" if not quick else "KITTI 2012 (dev set, first pair)"] = (
            dev["kitti2012"], 1 if quick else None)
    count = 2 if quick else 4
    found[f"synthetic test split (first {count} x 384x512)"] = (SYNTHETIC, count)
    return found


def evaluate_group(work: Path, config: dict[str, Any], limit: int | None, methods: list[str],
                   fast: list[str], quick: bool) -> dict[str, Any]:
    """Run every slice of one data group; returns the results of each part by slice key."""
    pick = 1 if quick else 0
    run_part(work, config, methods, (DENSITY,), limit)  # every method at 5 % (done already by main's probe)
    parts: dict[str, Any] = {"core": run_part(work, config, fast, SETTINGS["densities"][pick], limit)}
    for fraction in SETTINGS["outliers"][pick]:
        parts[f"outliers{fraction:g}"] = run_part(work, {**config, "outliers": fraction}, fast, (DENSITY,), limit)
    for kind in SETTINGS["kinds"][pick]:
        parts[kind] = run_part(work, {**config, "masks": kind}, fast, (DENSITY,), limit)
        parts[f"{kind}+outliers"] = run_part(work, {**config, "masks": kind, "outliers": KIND_OUTLIERS}, fast,
                                             (DENSITY,), limit)
    parts["uniform+outliers"] = run_part(work, {**config, "outliers": KIND_OUTLIERS}, fast, (DENSITY,), limit)
    parts["matches"] = run_part(work, {**config, "masks": "matches"}, fast, (DENSITY,), limit)
    if limit is not None:  # parts shared with longer runs may hold more samples than this run asked for
        parts = {key: select(results, first_samples(limit)) for key, results in parts.items()}
    return parts


def epe_of(results: dict[str, Any], method: str, density: float, metric: str = "epe") -> float | None:
    return aggregate(results).get((method, float(density)), {}).get(metric)


def merged_seconds(parts: list[dict[str, Any]], method: str) -> str:
    times = [t for t in (median_seconds(part, method) for part in parts) if t is not None]
    return fmt(sorted(times)[len(times) // 2] if times else None)


def density_table(parts: dict[str, Any], methods: list[str], densities: tuple[float, ...]) -> list[str]:
    return epe_columns(parts["core"], methods, densities)


def outlier_table(parts: dict[str, Any], methods: list[str]) -> list[str]:
    columns = [("0%", parts["core"]), *((f"{100 * float(key[8:]):g}%", parts[key]) for key in parts
                                       if key.startswith("outliers"))]
    grid = [[epe_of(results, method, DENSITY) for method in methods] for _, results in columns]
    cells = [bold_best(column) for column in grid]
    wrong = [fmt(100 * value if value is not None else None, 1) for value in
             (_mean_over_methods(results, "known_wrong_fraction") for _, results in columns)]
    rows = [[f"`{method}`", *(column[index] for column in cells), merged_seconds([r for _, r in columns], method)]
            for index, method in enumerate(methods)]
    rows.append(["*known values > 3 px wrong, %*", *wrong, ""])
    return table(["method", *(f"{title} replaced" for title, _ in columns), "s/frame"], rows)


def _mean_over_methods(results: dict[str, Any], metric: str) -> float | None:
    values = [row[metric] for row in aggregate(results).values() if row.get(metric) is not None]
    return sum(values) / len(values) if values else None


def kind_table(parts: dict[str, Any], methods: list[str]) -> list[str]:
    kinds = ["uniform", *(key for key in parts if key in SETTINGS["kinds"][0])]
    clean = {kind: parts["core"] if kind == "uniform" else parts[kind] for kind in kinds}
    noisy = {kind: parts[f"{kind}+outliers"] for kind in kinds}
    columns = []
    for kind in kinds:
        columns.append(bold_best([epe_of(clean[kind], method, DENSITY) for method in methods]))
        columns.append(bold_best([epe_of(noisy[kind], method, DENSITY) for method in methods]))
    rows = [[f"`{method}`", *(column[index] for column in columns),
             merged_seconds([*clean.values(), *noisy.values()], method)] for index, method in enumerate(methods)]
    header = ["method", *(f"{kind}{suffix}" for kind in kinds for suffix in ("", f" +{100 * KIND_OUTLIERS:g}%"))]
    return table([*header, "s/frame"], rows)


def matches_row(parts: dict[str, Any], methods: list[str]) -> list[float | None]:
    return [epe_of(parts["matches"], method, DENSITY) for method in methods]


def known_share(results: dict[str, Any]) -> float | None:
    """Mean fraction of pixels known (the matcher's density)."""
    values = [e["known_fraction"] for e in results["entries"].values() if e.get("known_fraction") is not None]
    return sum(values) / len(values) if values else None


def plot(groups_parts: dict[str, dict[str, Any]], methods: list[str], path: Path) -> None:
    """EPE against density and against the wrong fraction, one column per data group."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5 * len(groups_parts), 8), constrained_layout=True)
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, len(groups_parts), squeeze=False)
    for column, (title, parts) in enumerate(groups_parts.items()):
        table_ = aggregate(parts["core"])
        fractions = [0.0, *(float(key[8:]) for key in parts if key.startswith("outliers"))]
        for method in methods:
            points = sorted((d, row["epe"]) for (m, d), row in table_.items() if m == method and row["epe"] is not None)
            if points:
                axes[0, column].plot(*zip(*points), marker="o", label=method)
            values = [epe_of(parts["core"] if f == 0 else parts[f"outliers{f:g}"], method, DENSITY) for f in fractions]
            if all(v is not None for v in values):
                axes[1, column].plot([100 * f for f in fractions], values, marker="o", label=method)
        axes[0, column].set(xscale="log", yscale="log", xlabel="known pixels (fraction, uniform)", ylabel="EPE px",
                            title=title)
        axes[1, column].set(yscale="log", xlabel=f"known values replaced by wrong ones, % (at {100 * DENSITY:g}%)",
                            ylabel="EPE px")
        for axis in axes[:, column]:
            axis.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=2)
    figure.savefig(path, dpi=90)


def inpaint_minutes(groups_parts: dict[str, dict[str, Any]]) -> float:
    """Minutes of ``inpaint`` calls summed over every entry the report shows (however many runs made them)."""
    seen: dict[tuple[Any, ...], float] = {}
    for parts in groups_parts.values():
        for results in parts.values():  # a part can appear twice (the uniform core is also a mask kind)
            config = results["config"]
            setting = (config["dataset"], config.get("pass_name"), config.get("masks"), config.get("outliers"))
            for key, entry in results["entries"].items():
                seen[(*setting, key)] = entry.get("seconds") or 0.0
    return sum(seen.values()) / 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few minutes' subset")
    parser.add_argument("--work", default="runs/evaluations", help="where the evaluations are kept (default runs/evaluations)")
    parser.add_argument("--slow", type=float, default=5.0,
                        help="methods slower than this (s/frame, dev set, slice 1) skip the other slices (default 5)")
    parser.add_argument("--output", help="report path (default benchmarks/results/robustness.md; with --quick "
                        "robustness_quick.md)")
    args = parser.parse_args()
    started = time.perf_counter()
    work = Path(args.work)
    output = Path(args.output or HERE / "results" / ("robustness_quick.md" if args.quick else "robustness.md"))
    methods = available_methods()
    data = groups(args.quick)

    # Every method at 5 % on every group first: it measures which methods are fast enough for the rest.
    probe = {title: run_part(work, config, methods, (DENSITY,), limit) for title, (config, limit) in data.items()}
    real = [results for title, results in probe.items() if not title.startswith("synthetic")] or list(probe.values())
    speed = {method: max((median_seconds(results, method) or 0.0) for results in real) for method in methods}
    fast = [method for method in methods if speed[method] <= args.slow]
    slow = [method for method in methods if method not in fast]
    parts = {title: evaluate_group(work, config, limit, methods, fast, args.quick) for title, (config, limit) in data.items()}
    elapsed = time.perf_counter() - started

    command = "python benchmarks/robustness.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = ["# Robustness: density, wrong known values, mask kinds, real matches", "",
             (f"Command: `{command.strip()}` on {cpu_model()}, 2 threads; evaluations kept in `{args.work}` (resumable; "
             f"`inpaint` itself took {inpaint_minutes(parts):.0f} min of them). EPE in px over all valid pixels (known "
             "ones included), mean per frame;"),
             ("the same seeded known pixels and wrong values for every method; s/frame = median wall-clock seconds of "
             "`inpaint` per frame over the table's runs."),
             ("Wrong values (`--outliers`, `make_sparse(outliers=...)`): that fraction of the known values replaced, "
             "half by a random value in the flow's range, half by the value of a known pixel 20-80 px away; "
             "'known values > 3 px wrong' is what that made of them (a borrowed value can be nearly right where "
             "the motion is uniform)."),
             f"Methods: {', '.join(f'`{m}`' for m in methods)}."
             + (f" Slower than {args.slow:g} s/frame on the dev set, so only at 5 % in slice 1 (1 / 5 / 10 % in "
                "`benchmarks/reproduce.md`): "
                + ", ".join(f"`{m}` ({speed[m]:.1f} s)" for m in slow) + "." if slow else ""),
             *(f"Not available: {note}." for note in unavailable_notes()), ""]
    for title, group in parts.items():
        lines += [f"## {title}", "", "### 1. Density (uniform, exact values)", "",
                  *density_table(group, methods, SETTINGS["densities"][1 if args.quick else 0]), "",
                  f"### 2. Wrong known values (uniform, {100 * DENSITY:g}%)", "", *outlier_table(group, fast), "",
                  f"### 3. Mask kinds ({100 * DENSITY:g}%; exact / {100 * KIND_OUTLIERS:g}% replaced)", "",
                  *kind_table(group, fast), ""]
    lines += ["## 4. Real matches (SIFT, ratio 0.8, forward-backward 1 px; values as matched)", ""]
    titles = list(parts)
    grid = [bold_best(matches_row(parts[title], fast)) for title in titles]
    rows = [[f"`{method}`", *(column[index] for column in grid),
             merged_seconds([parts[t]["matches"] for t in titles], method)] for index, method in enumerate(fast)]
    rows.append(["*pixels known, %*", *(fmt(100 * (known_share(parts[t]["matches"]) or 0), 2) for t in titles), ""])
    rows.append(["*known values > 3 px wrong, %*",
                 *(fmt(100 * (_mean_over_methods(parts[t]["matches"], "known_wrong_fraction") or 0), 1) for t in titles), ""])
    lines += table(["method", *titles, "s/frame"], rows) + [""]
    output.parent.mkdir(parents=True, exist_ok=True)
    picture = output.with_suffix(".png")
    plot(parts, fast, picture)
    lines += [f"![EPE against density and wrong values]({picture.name})", ""]
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {output} and {picture} in {elapsed / 60:.1f} min")


if __name__ == "__main__":
    main()
