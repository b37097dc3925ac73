"""What ``reproduce.py`` and ``robustness.py`` share: the real dev set, evaluation parts kept in one
work folder by what they compute, and their tables.

A *part* is one :func:`flowinpaint.eval.evaluate` run. Its folder under the work folder is named
by its result-defining settings (dataset, pass, ground truth, masks, outliers, synthetic size), so
two scripts asking for the same setting share the finished entries: each only computes what is
missing (other densities, methods or samples merge into the same ``results.json``).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from flowinpaint.eval.report import aggregate, parameter_count
from flowinpaint.eval.runner import EvalConfig, evaluate
from flowinpaint.methods import get_method, method_names

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
#: The real dev set (validation and reporting only: never trained on, no default tuned on one frame).
DEV_SETS: dict[str, dict[str, Any]] = {
    "sintel": {"dataset": "sintel", "root": str(SHARED / "sintel"), "pass_name": "all"},
    "kitti2012": {"dataset": "kitti2012", "root": str(SHARED / "kitti2012"), "flow_type": "noc"},
}
#: Sample-id prefixes that split the Sintel dev set by pass.
SINTEL_PASSES = {"final": "sintel/final/", "clean": "sintel/clean/"}


def available_methods() -> list[str]:
    """Every registered method that can run here (fbs needs an OpenCV with Eigen)."""
    return [name for name in method_names() if get_method(name).unavailable() is None]


def unavailable_notes() -> list[str]:
    """One line per registered method that cannot run here, with the reason."""
    return [f"`{name}`: {get_method(name).unavailable()}" for name in method_names() if get_method(name).unavailable()]


def dev_sets_present() -> dict[str, dict[str, Any]]:
    """The dev-set parts whose folders exist beside the checkout."""
    return {name: config for name, config in DEV_SETS.items() if Path(config["root"]).is_dir()}


def part_name(config: dict[str, Any]) -> str:
    """The folder name of a part: its dataset and every result-defining setting that is set."""
    words = [config["dataset"]]
    words += [str(config[key]) for key in ("pass_name", "flow_type") if config.get(key)]
    if config["dataset"] == "synthetic":
        height, width = config.get("size", (256, 320))
        words.append(f"{config.get('split') or 'test'}-{height}x{width}")
    words.append(config.get("masks", "uniform"))
    if config.get("outliers"):
        words.append(f"outliers{100 * config['outliers']:g}")
    return "-".join(words)


def run_part(work: Path, config: dict[str, Any], methods: Sequence[str], densities: Sequence[float],
             limit: int | None = None) -> dict[str, Any]:
    """Evaluate (or resume) one part; returns its results (the content of its results.json)."""
    out = work / part_name(config)
    print(f"== {out.name}: {len(methods)} methods x densities {', '.join(f'{d:g}' for d in densities)}", flush=True)
    return evaluate(EvalConfig(out=out, methods=list(methods), densities=list(densities), limit=limit,
                               progress=False, figures=False, **config))


def select(results: dict[str, Any], keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """``results`` with only the entries ``keep`` accepts (e.g. one Sintel pass, the first N samples)."""
    return {**results, "entries": {key: entry for key, entry in results["entries"].items() if keep(entry)}}


def id_prefix(prefix: str) -> Callable[[dict[str, Any]], bool]:
    """An entry filter: the sample's id starts with ``prefix``."""
    return lambda entry: str(entry.get("id", "")).startswith(prefix)


def first_samples(count: int) -> Callable[[dict[str, Any]], bool]:
    """An entry filter: one of the first ``count`` samples."""
    return lambda entry: int(entry["sample"]) < count


def frames(results: dict[str, Any]) -> int:
    """How many distinct samples the entries cover."""
    return len({entry["sample"] for entry in results["entries"].values()})


def median_seconds(results: dict[str, Any], method: str) -> float | None:
    """Median wall-clock seconds per frame of ``method`` over all its successful entries."""
    times = [entry["seconds"] for entry in results["entries"].values()
             if entry["method"] == method and entry.get("error") is None and entry.get("seconds") is not None]
    return statistics.median(times) if times else None


def method_specs(text: str) -> list[str]:
    """The method specs of a comma-separated ``--methods`` argument, blanks left out."""
    return [spec.strip() for spec in text.split(",") if spec.strip()]


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table."""
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def bold_best(values: Sequence[float | None], digits: int = 3) -> list[str]:
    """Cells of ``values`` with the smallest one in bold."""
    present = [value for value in values if value is not None]
    best = min(present) if present else None
    return [("**" + fmt(value, digits) + "**") if value is not None and value == best else fmt(value, digits)
            for value in values]


def epe_columns(results: dict[str, Any], methods: Sequence[str], densities: Sequence[float],
                labels: dict[str, str] | None = None, metric: str = "epe") -> list[str]:
    """Rows: methods; columns: mean ``metric`` per density (best per column in bold), time, params."""
    aggregated = aggregate(results)
    shown = [method for method in methods if any(aggregated.get((method, float(d)), {}).get(metric) is not None
                                                 for d in densities)]
    columns = [bold_best([aggregated.get((method, float(d)), {}).get(metric) for method in shown]) for d in densities]
    rows = []
    for index, method in enumerate(shown):
        cells = [column[index] for column in columns]
        rows.append([f"`{(labels or {}).get(method, method)}`", *cells, fmt(median_seconds(results, method)),
                     parameter_count(method)])
    return table(["method", *(f"{100 * d:g}%" for d in densities), "s/frame", "params"], rows)
