"""Speed and peak memory of every registered method on this machine.

Reports, on synthetic examples (``make_example``, uniform masks): the time per frame (median of
``--repeats`` warm runs after one warm-up run, which also triggers any compilation) at 512x218,
1024x436 and 2048x872 (W x H), its ratio to OpenCV EPIC (``epic``) measured in the same run at the
same size and density, the peak memory of the method's first run, a density sweep (1, 5, 10, 20 %)
at 1024x436, and how the time grows from 1024x436 to 2048x872 (4x the pixels).

Each (method, size, density) runs in a fresh subprocess (this script in its hidden ``--child``
mode, which prints one JSON line), so memory figures do not accumulate across methods. Peak memory
is the increase of the process's resident set over the method's first run: on Linux the high-water
mark is reset (``/proc/self/clear_refs``) just before that run and the figure is ``VmHWM`` after it
minus ``VmRSS`` before it; elsewhere it is the increase of ``getrusage(RUSAGE_SELF).ru_maxrss``
(which can only under-count when an earlier peak was higher).

    python benchmarks/speed.py [--repeats 3] [--density 0.05] [--sizes 218x512,436x1024]
                               [--methods laplace,eed,epic] [--quick]

``--sizes`` takes H x W, as ``make_example`` does. ``--quick`` is a smoke run: one repeat, 218x512
only, methods laplace, eed, epic and griddata. The tables are printed, and written to a Markdown file
only with ``--output``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import flowinpaint
from flowinpaint.data.example import make_example
from flowinpaint.data.masks import uniform_mask
from flowinpaint.methods.registry import get_method, method_names

SIZES = [(218, 512), (436, 1024), (872, 2048)]  # (H, W)
SWEEP_SIZE = (436, 1024)
SCALE_FROM, SCALE_TO = (436, 1024), (872, 2048)
SWEEP_DENSITIES = (0.01, 0.05, 0.10, 0.20)
QUICK_METHODS = ["laplace", "eed", "epic", "griddata"]
REFERENCE = "epic"
SEED_EXAMPLE, SEED_MASK = 0, 1


# --------------------------------------------------------------------------- child mode


def _proc_status_kib(key: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def _reset_peak() -> bool:
    """Reset the resident-set high-water mark (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return _proc_status_kib("VmHWM") is not None


def _maxrss_kib() -> float:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / 1024 if sys.platform == "darwin" else value  # bytes on macOS, KiB on Linux


def child(method: str, height: int, width: int, density: float, repeats: int, options: dict) -> dict:
    """Time one (method, size, density) in this process; the result as a JSON-able dict."""
    sample = make_example((height, width), seed=SEED_EXAMPLE)
    mask = uniform_mask(sample["valid"], density, seed=SEED_MASK)
    image = sample["image1"] if get_method(method).needs_image else None
    cuda = str(options.get("device", "cpu")).startswith("cuda")

    def run():
        return flowinpaint.inpaint(sample["flow"], mask, image, method=method, **options)

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    reset = _reset_peak()
    before = _proc_status_kib("VmRSS") if reset else _maxrss_kib()
    start = time.perf_counter()
    dense = run()  # warm-up: the first run, with any compilation
    first = time.perf_counter() - start
    after = _proc_status_kib("VmHWM") if reset else _maxrss_kib()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    result = {
        "method": method, "height": height, "width": width, "density": density,
        "seconds": statistics.median(times), "first_seconds": first,
        "peak_mib": max(0.0, after - before) / 1024, "peak_source": "VmHWM" if reset else "ru_maxrss",
        "epe": float(flowinpaint.epe(dense, sample["flow"])), "threads": torch.get_num_threads(),
    }
    if cuda:
        result["gpu_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


# --------------------------------------------------------------------------- parent mode


def measure(method: str, size: tuple[int, int], density: float, args, options: dict | None = None) -> dict:
    """Run one child subprocess; a dict with ``error`` where it failed or timed out."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", method,
               "--child-size", f"{size[0]}x{size[1]}", "--density", str(density),
               "--repeats", str(args.repeats), "--child-options", json.dumps(options or {})]
    label = f"{method} {size[1]}x{size[0]} {density:.0%}" + (f" {options}" if options else "")
    print(f"  running {label} ...", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout:.0f} s"}
    # Methods may print to stdout (OpenCV builds with Eigen do): the result is the last JSON line.
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {done.returncode}: {last[:160]}"}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    import cv2

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return (f"{cpu_name()}, {os.cpu_count()} logical CPUs ({usable} usable), {platform.platform()}; "
            f"Python {platform.python_version()}, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, OpenCV {cv2.__version__}; GPU: {gpu}")


def report_header(title: str) -> list[str]:
    """A Markdown report's first lines: its title, the command that ran it and the machine."""
    command = " ".join(shlex.quote(arg) for arg in ["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    return [f"# {title}", "", f"Command: `{command}`", "", f"Machine: {machine_line()}", ""]


def emit_report(lines: list[str], output: Path | None) -> None:
    """Print a Markdown report and, with ``output``, also write it there."""
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if output is not None:
        output.write_text(report, encoding="utf-8")


def fmt_seconds(row: dict | None) -> str:
    if row is None:
        return "–"
    if "error" in row:
        return f"failed ({row['error']})"
    seconds = row["seconds"]
    return f"{seconds * 1e3:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_ratio(row: dict | None, reference: dict | None) -> str:
    if not row or not reference or "error" in row or "error" in reference:
        return "–"
    return f"{row['seconds'] / reference['seconds']:.2f}"


def size_label(size: tuple[int, int]) -> str:
    return f"{size[1]}x{size[0]}"


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        height, width = (int(part) for part in item.lower().split("x"))
        sizes.append((height, width))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per measurement (median)")
    parser.add_argument("--density", type=float, default=0.05, help="fraction of known pixels")
    parser.add_argument("--sizes", type=parse_sizes, default=None, help="H x W list, e.g. 218x512,436x1024")
    parser.add_argument("--methods", default=None, help="comma-separated method names (default: all)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, 218x512, 4 methods")
    parser.add_argument("--no-sweep", action="store_true", help="skip the density sweep")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per measurement subprocess")
    parser.add_argument("--output", type=Path, default=None,
                        help="also write the tables to this Markdown file (default: print them only)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-size", type=lambda text: parse_sizes(text)[0], help=argparse.SUPPRESS)
    parser.add_argument("--child-options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        height, width = args.child_size
        result = child(args.child, height, width, args.density, args.repeats, json.loads(args.child_options))
        print(json.dumps(result), flush=True)
        return

    if args.quick:
        args.repeats = 1
        args.sizes = args.sizes or [SIZES[0]]
        args.methods = args.methods or ",".join(QUICK_METHODS)
    sizes = args.sizes or SIZES
    methods = args.methods.split(",") if args.methods else method_names()
    for name in methods:
        get_method(name)  # an unknown name fails here, listing the known ones

    notes = []
    if "fbs" in methods:
        from flowinpaint.methods.peers import fbs

        if not fbs.available():
            methods.remove("fbs")
            notes.append("`fbs` skipped: this OpenCV build lacks `cv2.ximgproc.fastBilateralSolverFilter` "
                         "(compiled without Eigen).")
    if REFERENCE not in methods:
        methods.append(REFERENCE)  # the ratios need it, measured in this run
        notes.append(f"`{REFERENCE}` added: it is the reference of the ratios.")

    lines: list[str] = []

    def emit(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    command = "python benchmarks/speed.py" + "".join(f" {shlex.quote(arg)}" for arg in sys.argv[1:])
    emit("# Speed of the inpainting methods")
    emit()
    emit(f"Command: `{command}`")
    emit()
    emit(f"Machine: {machine_line()}")
    emit()
    emit(f"Synthetic example `make_example(size, seed={SEED_EXAMPLE})`, `uniform_mask(valid, density, "
         f"seed={SEED_MASK})`; time per frame = median of {args.repeats} warm run(s) of `flowinpaint.inpaint` "
         f"after one warm-up run (which includes any compilation: column *first run*). Each measurement "
         f"runs in a fresh subprocess. Sizes are W x H.")
    for note in notes:
        emit(f"\n{note}")

    # Main table: every method at every size, at --density.
    results: dict[tuple[str, tuple[int, int], float], dict] = {}
    for size in sizes:
        for name in methods:
            results[name, size, args.density] = measure(name, size, args.density, args)

    peak_source = next((row["peak_source"] for row in results.values() if "peak_source" in row), "VmHWM")
    peak_note = ("VmHWM after the first run minus VmRSS before it, high-water mark reset just before"
                 if peak_source == "VmHWM" else "increase of ru_maxrss over the first run")
    for size in sizes:
        reference = results.get((REFERENCE, size, args.density))
        emit(f"\n## {size_label(size)}, density {args.density:.0%}\n")
        emit(f"| method | time per frame | x {REFERENCE} | first run | peak memory (MiB) | EPE (px) |")
        emit("| --- | --- | --- | --- | --- | --- |")
        for name in methods:
            row = results[name, size, args.density]
            if "error" in row:
                emit(f"| {name} | {fmt_seconds(row)} | – | – | – | – |")
                continue
            emit(f"| {name} | {fmt_seconds(row)} | {fmt_ratio(row, reference)} | {row['first_seconds']:.2f} s "
                 f"| {row['peak_mib']:.0f} | {row['epe']:.3f} |")
    emit(f"\nPeak memory: increase of the resident set over the method's first run in its own process "
         f"({peak_note}); it includes compilation and first-call caches.")

    # How time grows with resolution.
    emit("\n## Growth with resolution\n")
    if SCALE_FROM in sizes and SCALE_TO in sizes:
        emit(f"| method | {size_label(SCALE_FROM)} | {size_label(SCALE_TO)} | ratio (4x pixels) "
             f"| exponent k in time ~ pixels^k |")
        emit("| --- | --- | --- | --- | --- |")
        for name in methods:
            small, large = results[name, SCALE_FROM, args.density], results[name, SCALE_TO, args.density]
            if "error" in small or "error" in large:
                emit(f"| {name} | {fmt_seconds(small)} | {fmt_seconds(large)} | – | – |")
                continue
            ratio = large["seconds"] / small["seconds"]
            emit(f"| {name} | {fmt_seconds(small)} | {fmt_seconds(large)} | {ratio:.2f} "
                 f"| {math.log(ratio) / math.log(4):.2f} |")
    else:
        emit(f"Not measured: needs sizes {size_label(SCALE_FROM)} and {size_label(SCALE_TO)} "
             f"(--sizes 436x1024,872x2048).")

    # Density sweep at 1024x436.
    emit(f"\n## Density sweep, {size_label(SWEEP_SIZE)}\n")
    if SWEEP_SIZE in sizes and not args.no_sweep:
        for density in SWEEP_DENSITIES:
            for name in methods:
                if (name, SWEEP_SIZE, density) not in results:
                    results[name, SWEEP_SIZE, density] = measure(name, SWEEP_SIZE, density, args)
        emit("| method | " + " | ".join(f"{d:.0%}" for d in SWEEP_DENSITIES) + " | "
             + " | ".join(f"x {REFERENCE} at {d:.0%}" for d in SWEEP_DENSITIES) + " |")
        emit("| --- " * (1 + 2 * len(SWEEP_DENSITIES)) + "|")
        for name in methods:
            cells = [fmt_seconds(results[name, SWEEP_SIZE, d]) for d in SWEEP_DENSITIES]
            ratios = [fmt_ratio(results[name, SWEEP_SIZE, d], results[REFERENCE, SWEEP_SIZE, d])
                      for d in SWEEP_DENSITIES]
            emit(f"| {name} | " + " | ".join(cells + ratios) + " |")
    else:
        emit(f"Not measured: needs size {size_label(SWEEP_SIZE)} (--sizes 436x1024)"
             + (" and no --no-sweep." if args.no_sweep else "."))

    # GPU.
    emit("\n## GPU\n")
    if not torch.cuda.is_available():
        emit("No CUDA device (`torch.cuda.is_available()` is False): GPU timing skipped.")
    else:
        on_gpu = [name for name in methods
                  if "device" in {field.name for field in dataclasses.fields(get_method(name).options_type)}]
        if not on_gpu:
            emit(f"CUDA device present ({torch.cuda.get_device_name(0)}), but GPU timing is not applicable "
                 f"yet: no registered method has a `device` option.")
        else:
            emit(f"{torch.cuda.get_device_name(0)}, option `device=\"cuda\"`, density {args.density:.0%}; "
                 f"the CPU time and the ratio are from the tables above.\n")
            emit("| method | size | GPU time per frame | CPU time per frame | CPU / GPU | GPU peak allocated (MiB) |")
            emit("| --- | --- | --- | --- | --- | --- |")
            for size in sizes:
                for name in on_gpu:
                    row = measure(name, size, args.density, args, {"device": "cuda"})
                    cpu = results[name, size, args.density]
                    speedup = "–" if "error" in row or "error" in cpu else f"{cpu['seconds'] / row['seconds']:.1f}"
                    memory = f"{row['gpu_peak_mib']:.0f}" if "gpu_peak_mib" in row else "–"
                    emit(f"| {name} | {size_label(size)} | {fmt_seconds(row)} | {fmt_seconds(cpu)} "
                         f"| {speedup} | {memory} |")

    if args.output is not None:  # only on request: a partial run must not replace a report the docs cite
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text("\n".join(lines) + "\n")
        print(f"\nwritten to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
