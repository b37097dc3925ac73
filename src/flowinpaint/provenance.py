"""Where results come from: library versions, the machine, the git commit of the package."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["environment", "git_commit"]


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
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "git_commit": git_commit(),
    }
