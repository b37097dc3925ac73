"""Benchmark runner: every method on the same samples with the same seeded masks.

:func:`evaluate` runs each requested method on the first ``limit`` samples of a dataset, for
each density, and writes ``OUT/results.json`` (every per-sample number plus the environment and
the configuration), ``OUT/results.md`` (:mod:`.report`) and the figures (:mod:`.figures`).

Definitions of the numbers stored per (sample, method, density) entry:

* ``epe``: mean end-point error over the pixels with valid ground truth, **all** of them,
  including the known (mask) pixels, which :func:`flowinpaint.inpaint` returns unchanged;
* ``epe_unknown``: the same over the valid pixels that were not known (what was inpainted);
* ``fl_all``: KITTI Fl-all (percent outliers, EPE > 3 px and > 5 % of |gt|) over the valid pixels;
  always computed, shown in the report for KITTI;
* ``epe_occ`` / ``epe_noc``: EPE over valid occluded / non-occluded pixels, only where the
  sample's ``occlusion`` mask has any True pixel (else None);
* ``known_wrong_fraction``: the fraction of the valid known pixels whose input value is more than
  3 px from the ground truth (the injected outliers, ``outliers``, and a matcher's own mistakes);
* ``epe_known_inlier`` / ``epe_known_outlier``: EPE of the result over the valid known pixels whose
  input value was right / wrong in that sense (None where a side is empty): with hard constraints
  the first is 0 and the second the input's error; a robust method may move both;
* ``epe_near`` / ``epe_far``: EPE over valid pixels near / far from motion boundaries. A motion
  boundary is a pixel where the Frobenius norm of the ground-truth flow's Jacobian (central
  differences, ``sqrt(u_x^2 + u_y^2 + v_x^2 + v_y^2)``) exceeds ``BOUNDARY_THRESHOLD`` px/px;
  "near" is that set dilated by a disc of radius ``BOUNDARY_RADIUS`` px. Pixels next to invalid
  ground truth are never boundaries. None where a side is empty;
* ``seconds``: wall-clock time of the :func:`flowinpaint.inpaint` call alone (``perf_counter``);
* ``known_fraction``: the fraction of pixels that were known;
* ``error``: None, or the message of the exception that made this entry fail (its numbers are
  then None). Failed entries do not stop the run, and are retried when the run is resumed.

The mask of sample ``i`` at density ``d`` is drawn with a seed derived from ``(seed, i, d)``, so
every method sees exactly the same known pixels (and, with ``outliers``, the same wrong values;
the known pixels are the same at every outlier fraction). Methods that need the image get frame 1.

Resuming: ``results.json`` is rewritten atomically after every entry. Running again into the
same folder keeps the successful entries and computes only the missing (or failed) ones, provided
the result-defining configuration (:data:`IDENTITY_KEYS`: dataset, root, split, pass, flow type,
size, seed, masks, outliers) is the same; methods, densities and limit may change between runs
(entries are merged). A different identity is a ``ValueError`` unless ``restart=True``, which
starts afresh. The root is stored relative to the current folder (no machine's absolute path),
and compared as a folder. Each entry records what computed it (``producer``: flowinpaint's
version and the git commit of its source, where it has one): a resumed run keeps the entries
another flowinpaint computed (a cache of slow peers survives a change to one method) but warns,
naming their methods and producers, so that figures from an older version are never reused
unawares; ``restart=True`` recomputes them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.masks import SPARSE_KINDS, known_wrong, make_sparse
from ..io._atomic import atomic_write_bytes
from ..methods import get_method, inpaint, method_names
from ..methods.options import parse_method_spec
from ..provenance import environment, git_commit, portable_path
from .figures import qualitative_path
from .metrics import epe, fl_all

__all__ = [
    "BOUNDARY_RADIUS",
    "BOUNDARY_THRESHOLD",
    "DATASET_NAMES",
    "IDENTITY_KEYS",
    "EvalConfig",
    "evaluate",
    "mask_seed",
    "motion_boundaries",
    "producer",
    "resolve_methods",
]

#: Motion-boundary threshold on the Frobenius norm of the GT flow Jacobian, px per px.
BOUNDARY_THRESHOLD = 0.5
#: "Near a motion boundary": within this many pixels (disc) of a boundary pixel.
BOUNDARY_RADIUS = 5
DATASET_NAMES = ("synthetic", "sintel", "kitti", "kitti2012", "middlebury", "flyingchairs", "flyingthings")
MASK_KINDS = SPARSE_KINDS
#: The datasets that take a rendering pass (``pass_name``) and a ground-truth type (``flow_type``),
#: with the value used when none is given.
PASS_DEFAULTS = {"sintel": "final", "flyingthings": "clean"}
FLOW_TYPE_DEFAULTS = {"kitti": "occ", "kitti2012": "occ"}
#: Configuration keys that define the value of every entry: a resumed run must match them.
IDENTITY_KEYS = ("dataset", "root", "split", "pass_name", "flow_type", "size", "seed", "masks", "outliers")
#: What a results.json written before a key existed meant by its absence.
_IDENTITY_FALLBACKS = {"pass_name": None, "flow_type": None, "outliers": 0.0}
RESULTS_VERSION = 1
METRIC_KEYS = ("epe", "epe_unknown", "fl_all", "epe_occ", "epe_noc", "epe_near", "epe_far",
               "known_wrong_fraction", "epe_known_inlier", "epe_known_outlier")
SYNTHETIC_DEFAULT_LENGTH = 8  # synthetic samples evaluated without a limit
QUALITATIVE_SAMPLES = 3  # first samples whose flows are kept for the qualitative figure


@dataclass
class EvalConfig:
    """What :func:`evaluate` runs.

    Attributes:
        dataset: one of :data:`DATASET_NAMES`.
        out: output folder (created).
        root: the dataset's folder (ignored for synthetic).
        split: the dataset's split (synthetic default: ``"test"``; others: the dataset's default).
        pass_name: Sintel's / FlyingThings3D's rendering pass (Sintel: ``"final"`` by default,
            ``"clean"`` or ``"all"``; FlyingThings3D: ``"clean"`` or ``"final"``); None for the
            others.
        flow_type: KITTI's ground truth, ``"occ"`` (default) or ``"noc"``; None for the others.
        methods: ``"all"`` (every registered, available method) or a sequence of names.
        densities: fractions of the valid pixels to know, each in (0, 1).
        masks: mask kind (:data:`MASK_KINDS`); ``"matches"`` and ``"tracks"`` ignore the density.
        outliers: fraction of the known values replaced by wrong ones, in [0, 1)
            (:func:`flowinpaint.data.make_sparse`).
        limit: evaluate only the first ``limit`` samples (None: all; synthetic: 8).
        size: synthetic frame size ``(H, W)``.
        seed: seed of the masks (and of the synthetic data).
        restart: discard an existing results.json instead of resuming from it.
        progress: show a tqdm progress bar.
        figures: write the figures at the end.
        command: the command line, recorded in results.json.
    """

    dataset: str
    out: str | os.PathLike
    root: str | os.PathLike | None = None
    split: str | None = None
    pass_name: str | None = None
    flow_type: str | None = None
    methods: str | Sequence[str] = "all"
    densities: Sequence[float] = (0.01, 0.05, 0.1)
    masks: str = "uniform"
    outliers: float = 0.0
    limit: int | None = None
    size: tuple[int, int] = (256, 320)
    seed: int = 0
    restart: bool = False
    progress: bool = True
    figures: bool = True
    command: str | None = field(default=None)


# ---------------------------------------------------------------------------------------------
# helpers


def resolve_methods(methods: str | Sequence[str]) -> tuple[list[str], list[str]]:
    """``(names, notes)``: the methods to run and why any were left out.

    ``"all"`` is every registered method that can run here (see ``Method.unavailable``: fbs
    without OpenCV's Eigen build, learned methods without shipped weights). A list holds names
    or specs ``NAME:KEY=VALUE:...`` (options of the method, e.g. ``neuroexplicit:model=x.pt``);
    an unknown method or option is a ``ValueError``.
    """
    notes: list[str] = []
    if isinstance(methods, str):
        if methods.strip().lower() == "all":
            names = []
            for name in method_names():
                reason = get_method(name).unavailable()
                if reason:
                    notes.append(f"{name} skipped: {reason}")
                    continue
                names.append(name)
            return names, notes
        methods = [part.strip() for part in methods.split(",")]
    names = [name for name in methods if name]
    if not names:
        raise ValueError("no methods given; use 'all' or a comma-separated list")
    for spec in names:  # a name, or NAME:KEY=VALUE:... with the method's options
        parse_method_spec(spec)
    return list(dict.fromkeys(names)), notes


def mask_seed(seed: int, index: int, density: float) -> int:
    """The mask seed of sample ``index`` at ``density``: a hash of ``(seed, index, density)``."""
    state = np.random.SeedSequence([int(seed), int(index), round(float(density) * 1e9)]).generate_state(1)
    return int(state[0])


def motion_boundaries(flow: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pixels near motion boundaries of a GT flow (see the module docstring), ``(H, W)`` bool."""
    import cv2

    gt = np.where(valid[..., None], np.asarray(flow, dtype=np.float64), np.nan)
    squares = np.zeros(valid.shape)
    for channel in range(2):
        for axis in range(2):
            squares += np.gradient(gt[..., channel], axis=axis) ** 2
    with np.errstate(invalid="ignore"):
        boundary = np.nan_to_num(np.sqrt(squares), nan=0.0) > BOUNDARY_THRESHOLD
    size = 2 * BOUNDARY_RADIUS + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.dilate(boundary.astype(np.uint8), disc).astype(bool)


def sample_metrics(dense: np.ndarray, truth: np.ndarray, valid: np.ndarray, known: np.ndarray,
                   occlusion: np.ndarray | None, wrong: np.ndarray | None = None,
                   near: np.ndarray | None = None) -> dict[str, float | None]:
    """The per-entry numbers of the module docstring (times excepted).

    ``wrong`` marks the known pixels whose input value was wrong (:func:`flowinpaint.data.known_wrong`);
    None means every known value was right. ``near`` is :func:`motion_boundaries` of the truth,
    when the caller has it already (it depends on the sample only). The end-point error map is
    computed once (float64) and averaged over each region.
    """
    total = epe(dense, truth, valid)  # also checks shapes and finiteness at the valid pixels
    errors = np.sqrt(np.sum((np.asarray(dense, np.float64) - np.asarray(truth, np.float64)) ** 2, axis=-1))
    near = motion_boundaries(truth, valid) if near is None else near
    known_valid = known & valid
    wrong = np.zeros_like(known_valid) if wrong is None else np.asarray(wrong, dtype=bool) & known_valid
    has_occlusion = occlusion is not None and bool(np.asarray(occlusion).any())
    occluded = np.asarray(occlusion, dtype=bool) if has_occlusion else np.zeros_like(valid)

    def mean_over(where: np.ndarray, applies: bool = True) -> float | None:
        return float(np.mean(errors[where])) if applies and where.any() else None

    return {
        "epe": total,
        "epe_unknown": mean_over(valid & ~known),
        "fl_all": fl_all(dense, truth, valid),
        "epe_occ": mean_over(valid & occluded, has_occlusion),
        "epe_noc": mean_over(valid & ~occluded, has_occlusion),
        "epe_near": mean_over(valid & near),
        "epe_far": mean_over(valid & ~near),
        "known_wrong_fraction": float(wrong.sum() / known_valid.sum()) if known_valid.any() else None,
        "epe_known_inlier": mean_over(known_valid & ~wrong),
        "epe_known_outlier": mean_over(wrong),
    }


def _check_config(config: EvalConfig) -> dict[str, Any]:
    """Validate ``config``; returns its JSON form (root resolved, methods resolved)."""
    if config.dataset not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {config.dataset!r}; known: {', '.join(DATASET_NAMES)}")
    if config.masks not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {config.masks!r}; known: {', '.join(MASK_KINDS)}")
    densities = list(config.densities)
    if not densities:
        raise ValueError("no densities given")
    for density in densities:
        if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 < density < 1:
            raise ValueError(f"densities must be numbers in (0, 1), got {density!r}")
    if config.limit is not None and (isinstance(config.limit, bool) or not isinstance(config.limit, int) or config.limit < 1):
        raise ValueError(f"limit must be a positive integer, got {config.limit!r}")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {config.seed!r}")
    outliers = config.outliers
    if isinstance(outliers, bool) or not isinstance(outliers, (int, float)) or not 0 <= outliers < 1:
        raise ValueError(f"outliers must be a fraction in [0, 1), got {outliers!r}")
    synthetic = config.dataset == "synthetic"
    if not synthetic and config.root is None:
        raise ValueError(f"dataset {config.dataset!r} needs a root folder (--root)")
    methods, notes = resolve_methods(config.methods)
    return {
        "dataset": config.dataset,
        "root": None if synthetic else portable_path(config.root),
        "split": (config.split or "test") if synthetic else config.split,
        "pass_name": _dataset_option("pass_name", config.pass_name, config.dataset, PASS_DEFAULTS),
        "flow_type": _dataset_option("flow_type", config.flow_type, config.dataset, FLOW_TYPE_DEFAULTS),
        "size": list(config.size) if synthetic else None,
        "seed": config.seed,
        "masks": config.masks,
        "outliers": float(outliers),
        "methods": methods,
        "densities": [float(d) for d in sorted(set(densities))],
        "limit": config.limit,
        "notes": notes,
    }


def _dataset_option(name: str, value: str | None, dataset: str, defaults: dict[str, str]) -> str | None:
    """``value`` (or the dataset's default) for a dataset that takes option ``name``; None for the others."""
    if dataset not in defaults:
        if value is not None:
            raise ValueError(f"{name} is an option of {', '.join(defaults)}, not of dataset {dataset!r}")
        return None
    return defaults[dataset] if value is None else value


def _load(checked: dict[str, Any]) -> Any:
    from ..data import load_dataset

    if checked["dataset"] == "synthetic":
        length = checked["limit"] or SYNTHETIC_DEFAULT_LENGTH
        return load_dataset("synthetic", None, split=checked["split"], size=tuple(checked["size"]), length=length,
                            seed=checked["seed"])
    options = {key: checked[key] for key in ("split", "pass_name", "flow_type") if checked[key]}
    return load_dataset(checked["dataset"], checked["root"], **options)


def entry_key(sample: int, method: str, density: float) -> str:
    """The key of one entry in ``results["entries"]``."""
    return f"{sample}|{method}|{float(density)!r}"


def _write_json(path: Path, results: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(results, indent=1, allow_nan=False) + "\n").encode())


def producer(commit: str | None = None) -> str:
    """What computes this run's entries: ``"flowinpaint VERSION"``, with ``", commit HASH"`` (12
    digits) where the package runs from a git checkout (``commit``: the checkout's, if the caller
    has read it already)."""
    from .. import __version__

    commit = git_commit() if commit is None else commit
    return f"flowinpaint {__version__}" + (f", commit {commit[:12]}" if commit != "unknown" else "")


def _warn_of_other_producers(path: Path, entries: dict[str, Any], current: str) -> None:
    """Warn when resumed ``entries`` were computed by another flowinpaint than ``current``."""
    others: dict[str, dict[str, int]] = {}
    for entry in entries.values():
        made_by = entry.get("producer") or "an unrecorded flowinpaint"
        if made_by != current:
            methods = others.setdefault(made_by, {})
            methods[entry["method"]] = methods.get(entry["method"], 0) + 1
    if others:
        count = sum(sum(methods.values()) for methods in others.values())
        detail = "; ".join(f"{made_by}: {', '.join(f'{m} ({n})' for m, n in sorted(methods.items()))}"
                           for made_by, methods in sorted(others.items()))
        warnings.warn(f"{path}: {count} of the {len(entries)} results kept were computed by another flowinpaint than "
                      f"this ({current}) - {detail}; pass --restart (restart=True) to recompute them", stacklevel=3)


def _finite_or_none(value: Any) -> Any:
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _previous(path: Path, checked: dict[str, Any], restart: bool) -> dict[str, Any]:
    """The successful entries of an existing results.json with the same identity."""
    if restart or not path.exists():
        return {}
    try:
        old = json.loads(path.read_text())
        old_config = old["config"]
        entries = old["entries"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: cannot read the existing results ({exc}); pass --restart to start afresh") from None
    differing = [key for key in IDENTITY_KEYS if not _same(key, old_config.get(key, _IDENTITY_FALLBACKS.get(key)), checked[key])]
    if differing:
        detail = ", ".join(f"{key} {old_config.get(key)!r} there, {checked[key]!r} now" for key in differing)
        raise ValueError(f"{path} holds results of a different configuration ({detail}); "
                         f"use another --out or pass --restart to discard them")
    return {key: entry for key, entry in entries.items() if entry.get("error") is None}


def _same(key: str, old: Any, new: Any) -> bool:
    """Whether identity value ``old`` (from results.json) means ``new``; roots compare as folders."""
    if key == "root" and old is not None and new is not None:
        return old == new or Path(old).resolve() == Path(new).resolve()
    return bool(old == new)


def _save_qualitative(folder: Path, index: int, sample: dict[str, Any], known: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sample{index}_input.npz"
    np.savez_compressed(path, image1=sample["image1"], flow=sample["flow"].astype(np.float32),
                        valid=sample["valid"], known=known, id=str(sample["id"]))


# ---------------------------------------------------------------------------------------------
# the run


def evaluate(config: EvalConfig) -> dict[str, Any]:
    """Run the benchmark of ``config`` and write results.json, results.md and the figures.

    Returns:
        The content of ``results.json``: ``{"version", "config", "environment", "notes",
        "entries": {key: entry}}`` with keys from :func:`entry_key` and entries as described in
        the module docstring (plus ``sample``, ``id``, ``method``, ``density``).

    Raises:
        ValueError: a bad configuration (unknown dataset, method, mask kind; bad densities), or an
            existing results.json of a different configuration without ``restart``.
        FileNotFoundError: the dataset's files are missing.
    """
    from tqdm import tqdm

    checked = _check_config(config)
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    entries = _previous(path, checked, config.restart)
    machine = environment()
    made_by = producer(machine["git_commit"])
    _warn_of_other_producers(path, entries, made_by)
    for note in checked["notes"]:
        warnings.warn(note, stacklevel=2)

    dataset = _load(checked)
    count = len(dataset) if checked["limit"] is None else min(checked["limit"], len(dataset))
    if count == 0:
        raise ValueError(f"dataset {checked['dataset']!r} has no samples")
    methods, densities = checked["methods"], checked["densities"]
    middle = densities[len(densities) // 2]
    results: dict[str, Any] = {
        "version": RESULTS_VERSION,
        "config": {key: value for key, value in checked.items() if key != "notes"},
        "command": config.command,
        "environment": machine,
        "notes": checked["notes"],
        "definitions": {
            "epe": "mean end-point error over all valid GT pixels, known (mask) pixels included",
            "epe_unknown": "mean EPE over valid GT pixels that were not known",
            "known_wrong": "a known input value more than 3 px from the GT (injected outlier or matcher error); "
                           "epe_known_inlier / epe_known_outlier: EPE of the result over the valid known pixels "
                           "with a right / wrong input value",
            "boundaries": f"|J(flow_gt)|_F > {BOUNDARY_THRESHOLD} px/px, dilated by a disc of radius "
                          f"{BOUNDARY_RADIUS} px; near = inside, far = outside",
            "seconds": "wall-clock time of inpaint() alone per frame (time.perf_counter)",
        },
        "entries": entries,
    }
    _write_json(path, results)

    todo = count * len(densities) * len(methods)
    with tqdm(total=todo, desc="evaluate", unit="run", disable=not config.progress, file=sys.stderr) as bar:
        for index in range(count):
            keys = {(m, d): entry_key(index, m, d) for d in densities for m in methods}
            missing = [pair for pair, key in keys.items() if key not in entries]
            bar.update(len(keys) - len(missing))
            if not missing:
                continue
            try:
                sample = dataset[index]
                sample_id, load_error = str(sample["id"]), None
                near = motion_boundaries(np.asarray(sample["flow"]), np.asarray(sample["valid"], dtype=bool))
            except Exception as exc:  # noqa: BLE001 - a broken sample is recorded, not fatal
                sample, sample_id, near = None, f"#{index}", None
                load_error = f"loading the sample: {type(exc).__name__}: {exc}"
            for density in densities:
                pending = [m for m in methods if (m, density) in missing]
                if not pending:
                    continue
                sparse, wrong, mask_error = None, None, load_error
                if sample is not None:
                    try:
                        sparse = make_sparse(checked["masks"], sample, density, seed=mask_seed(checked["seed"], index, density),
                                             outliers=checked["outliers"])
                        wrong = known_wrong(sparse, sample["flow"], sample["valid"])  # the same for every method
                    except Exception as exc:  # noqa: BLE001
                        mask_error = f"making the mask: {type(exc).__name__}: {exc}"
                if sparse is not None and density == middle and index < QUALITATIVE_SAMPLES:
                    _save_qualitative(out / "qualitative", index, sample, sparse.mask)
                for name in pending:
                    entry: dict[str, Any] = {"sample": index, "id": sample_id, "method": name, "density": density,
                                             "known_fraction": None, "seconds": None, "error": mask_error,
                                             **dict.fromkeys(METRIC_KEYS), "producer": made_by}
                    if sparse is not None:
                        entry.update(_run_one(name, sample, sparse, wrong, near, out, index, density == middle))
                    entries[keys[(name, density)]] = entry
                    _write_json(path, results)
                    bar.update(1)

    from .report import write_report

    write_report(out)
    if config.figures:
        from .figures import write_figures

        write_figures(out)
    return results


def _run_one(name: str, sample: dict[str, Any], sparse: Any, wrong: np.ndarray, near: np.ndarray | None, out: Path,
             index: int, keep: bool) -> dict[str, Any]:
    """Inpaint one (sample, method spec, density) and measure it; errors become the entry's message.

    ``wrong`` (the known pixels with a wrong value) and ``near`` (the motion boundaries) depend on
    the sample and its mask only; the caller computes them once for all methods.
    """
    method, options = parse_method_spec(name)
    truth, valid = np.asarray(sample["flow"]), np.asarray(sample["valid"], dtype=bool)
    known = np.asarray(sparse.mask, dtype=bool)
    result: dict[str, Any] = {"known_fraction": float(known.mean()), "error": None}
    try:
        image = sample["image1"] if method.needs_image else None
        start = time.perf_counter()
        dense = inpaint(sparse.flow, known, image, method.name, **options)
        result["seconds"] = time.perf_counter() - start
        metrics = sample_metrics(dense, truth, valid, known, sample.get("occlusion"), wrong, near)
        result.update({key: _finite_or_none(value) for key, value in metrics.items()})
    except Exception as exc:  # noqa: BLE001 - one failing method must not stop the benchmark
        result.update({"seconds": None, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}",
                       **dict.fromkeys(METRIC_KEYS)})
        return result
    if keep and index < QUALITATIVE_SAMPLES:
        # float16 for the figure; a flow beyond its range (a method's wild extrapolation) is
        # clipped to it, not stored as inf, which would stop the figure
        finite16 = np.finfo(np.float16).max
        np.save(qualitative_path(out / "qualitative", index, name), np.clip(dense, -finite16, finite16).astype(np.float16))
    return result


def config_from_dict(values: dict[str, Any]) -> EvalConfig:
    """An :class:`EvalConfig` from keyword values (unknown keys rejected)."""
    allowed = {f.name for f in dataclasses.fields(EvalConfig)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(f"unknown evaluation setting(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    return EvalConfig(**values)
