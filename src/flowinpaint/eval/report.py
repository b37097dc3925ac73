"""``results.md`` from ``results.json``, so the report can be regenerated at any time.

Means are taken per image and then averaged over the images where the method succeeded (the
``n`` column counts them; failures are listed below the tables). Times are medians over frames.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from ..io._atomic import atomic_write_bytes

__all__ = ["aggregate", "parameter_count", "render_report", "write_report"]

_COLUMNS = {  # entry key -> column title of the per-density tables
    "epe": "EPE all",
    "epe_unknown": "EPE unknown",
    "fl_all": "Fl-all %",
    "epe_noc": "EPE non-occ",
    "epe_occ": "EPE occ",
    "epe_near": "EPE near MB",
    "epe_far": "EPE far MB",
    "known_wrong_fraction": "wrong known %",
    "epe_known_inlier": "EPE known inliers",
    "epe_known_outlier": "EPE known outliers",
}
_PERCENT = {"known_wrong_fraction"}  # stored as fractions, shown as percentages


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def parameter_count(method: str) -> str:
    """Trainable parameters of a method (a name or spec) with a network, else "-"."""
    from ..methods.options import parse_method_spec
    from ..methods.registry import build_options

    try:
        found, options = parse_method_spec(method)
        count = found.parameter_count(build_options(found, options))
    except Exception:  # noqa: BLE001 - a method no longer registered has no count either
        count = None
    return "-" if count is None else f"{int(count):,}"


def aggregate(results: dict[str, Any]) -> dict[tuple[str, float], dict[str, Any]]:
    """Per (method, density): the mean of every metric, the median time, ``n`` ok and failures."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for entry in results["entries"].values():
        groups.setdefault((entry["method"], float(entry["density"])), []).append(entry)
    table = {}
    for key, entries in groups.items():
        ok = [entry for entry in entries if entry.get("error") is None]
        row: dict[str, Any] = {"n": len(ok), "failed": len(entries) - len(ok)}
        for metric in _COLUMNS:
            row[metric] = _mean([entry[metric] for entry in ok if entry.get(metric) is not None])
        times = [entry["seconds"] for entry in ok if entry.get("seconds") is not None]
        row["seconds"] = statistics.median(times) if times else None
        row["known_fraction"] = _mean([entry["known_fraction"] for entry in ok if entry.get("known_fraction") is not None])
        table[key] = row
    return table


def _order(results: dict[str, Any], table: dict[tuple[str, float], Any]) -> tuple[list[str], list[float]]:
    config = results.get("config", {})
    methods = list(dict.fromkeys([*config.get("methods", []), *sorted({m for m, _ in table})]))
    densities = sorted({d for _, d in table})
    return [m for m in methods if any((m, d) in table for d in densities)], densities


def render_report(results: dict[str, Any]) -> str:
    """The markdown text of ``results.md``."""
    table = aggregate(results)
    methods, densities = _order(results, table)
    config, env = results.get("config", {}), results.get("environment", {})
    dataset = config.get("dataset", "?")
    lines = [f"# flowinpaint evaluation: {dataset}", ""]
    where = f" ({config['root']})" if config.get("root") else ""
    split = f", split {config['split']}" if config.get("split") else ""
    variant = "".join(f", {what} {config[key]}" for key, what in (("pass_name", "pass"), ("flow_type", "ground truth"))
                      if config.get(key))
    size = f", {config['size'][0]}x{config['size'][1]}" if config.get("size") else ""
    outliers = f", {100 * config['outliers']:g}% of the known values replaced by wrong ones" if config.get("outliers") else ""
    lines += [
        (f"Dataset {dataset}{where}{split}{variant}{size}; masks {config.get('masks')} (seed {config.get('seed')}){outliers}; "
        f"densities {', '.join(f'{d:g}' for d in densities)}."),
        "",
        ("EPE all = mean end-point error (px) over every pixel with valid ground truth, the known pixels "
        "included; EPE unknown = over the valid pixels that were not known. Means are per image, then "
        "averaged over the images where the method succeeded (n). Time = median wall-clock seconds of "
        "`inpaint` per frame."),
        "",
    ]
    if results.get("command"):
        lines += [f"Command: `{results['command']}`", ""]
    if results.get("notes"):
        lines += [*(f"- Note: {note}" for note in results["notes"]), ""]

    has = {metric: any(row[metric] is not None for row in table.values()) for metric in _COLUMNS}
    header = ["method", *(f"EPE @ {100 * d:g}%" for d in densities), "time/frame s", "params"]
    lines += ["## Mean EPE (all valid pixels) per method and density", "", _row(header), _row(["---"] * len(header))]
    for method in methods:
        cells = [_fmt(table.get((method, d), {}).get("epe")) for d in densities]
        times = [table[(method, d)]["seconds"] for d in densities if table.get((method, d), {}).get("seconds") is not None]
        cells += [_fmt(statistics.median(times), 3) if times else "-", parameter_count(method)]
        lines.append(_row([method, *cells]))
    lines.append("")

    shown = ["epe", "epe_unknown"] + (["fl_all"] if dataset.startswith("kitti") else [])
    shown += [m for m in ("epe_noc", "epe_occ") if has[m]] + [m for m in ("epe_near", "epe_far") if has[m]]
    if any(row["known_wrong_fraction"] for row in table.values()):
        shown += [m for m in ("known_wrong_fraction", "epe_known_inlier", "epe_known_outlier") if has[m]]
    for density in densities:
        known = _mean([table[(m, density)]["known_fraction"] for m in methods
                       if (m, density) in table and table[(m, density)]["known_fraction"] is not None])
        lines += [f"## Density {100 * density:g}%" + (f" ({100 * known:.2f}% of pixels known on average)" if known else ""), ""]
        header = ["method", *(_COLUMNS[m] for m in shown), "time/frame s", "n", "failed"]
        lines += [_row(header), _row(["---"] * len(header))]
        for method in methods:
            row = table.get((method, density))
            if row is None:
                continue
            digits = {"fl_all": 2, "known_wrong_fraction": 1}
            cells = [_fmt(100 * row[m] if m in _PERCENT and row[m] is not None else row[m], digits.get(m, 3)) for m in shown]
            lines.append(_row([method, *cells, _fmt(row["seconds"]), str(row["n"]), str(row["failed"])]))
        lines.append("")
    if "epe_near" in shown:
        definition = results.get("definitions", {}).get("boundaries", "")
        lines += [f"Motion boundaries (MB): {definition}.", ""]
    if "known_wrong_fraction" in shown:
        definition = results.get("definitions", {}).get("known_wrong", "")
        lines += [f"Wrong known values: {definition}.", ""]

    failures = [entry for entry in results["entries"].values() if entry.get("error")]
    if failures:
        lines += ["## Failures", ""]
        lines += [f"- {e['method']} on {e['id']} at {100 * float(e['density']):g}%: {e['error']}" for e in failures]
        lines.append("")
    if env:
        lines += ["## Environment", ""]
        lines += [f"- {key}: {value}" for key, value in env.items()]
        lines.append("")
    return "\n".join(lines)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def write_report(out: str | Path) -> Path:
    """Write ``OUT/results.md`` from ``OUT/results.json``; returns its path."""
    folder = Path(out)
    results = json.loads((folder / "results.json").read_text())
    path = folder / "results.md"
    atomic_write_bytes(path, render_report(results).encode())
    return path
