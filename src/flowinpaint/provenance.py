"""Where results come from: library versions, the machine, the git commit of the package."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cpu_model", "environment", "git_commit", "portable_command", "portable_path"]

_PROGRAM = "flowinpaint"


def _version(module: str) -> str:
    try:
        imported = __import__(module)
    except Exception:  # noqa: BLE001 - a missing optional library is just "not installed"
        return "not installed"
    return str(getattr(imported, "__version__", "unknown"))


def git_commit() -> str:
    """``git rev-parse HEAD`` of the repository holding this package, or ``"unknown"``."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else "unknown"


def portable_path(path: str | os.PathLike[str]) -> str:
    """``path`` as it can be written in a record read on other machines: relative, never absolute.

    A relative path is kept as given (normalised); an absolute one is made relative to the current
    folder (``os.path.relpath``; it keeps its absolute form only where no relative one exists,
    e.g. another drive on Windows).
    """
    text = os.fspath(path)
    if not os.path.isabs(text):
        return os.path.normpath(text)
    try:
        return os.path.relpath(text)
    except ValueError:
        return text


def portable_command(argv: list[str]) -> str:
    """A command line that reads the same on any machine: ``flowinpaint train --out runs/x ...``.

    The program is written ``flowinpaint`` when it is the console script or ``python -m
    flowinpaint`` (whatever folder it was installed in); absolute paths among the arguments
    (alone or as ``--key=/path``) become relative to the current folder (:func:`portable_path`).
    """
    if not argv:
        return _PROGRAM
    program = Path(argv[0])
    head = _PROGRAM if program.stem == _PROGRAM or (program.name == "__main__.py" and program.parent.name == _PROGRAM) \
        else portable_path(argv[0])
    words = [head]
    for word in argv[1:]:
        key, equals, value = word.partition("=") if word.startswith("--") else ("", "", word)
        if os.path.isabs(value):
            value = portable_path(value)
        words.append(f"{key}{equals}{value}")
    return " ".join(words)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``), with
    ``+AMX`` where the CPU has AMX tile units (fast bfloat16 matrix products)."""
    name, amx = "", False
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not name:
                    name = value.strip()
                elif key.strip() == "flags":
                    amx = "amx_tile" in value.split()
                    break
    except OSError:
        pass
    name = name or platform.processor() or "unknown"
    return f"{name} +AMX" if amx else name


def environment() -> dict[str, Any]:
    """Library versions, CPU and thread counts, platform and git commit."""
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "opencv": _version("cv2"),
        "scipy": _version("scipy"),
        "matplotlib": _version("matplotlib"),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "git_commit": git_commit(),
    }
