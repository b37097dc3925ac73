"""The package's small C kernels: compiled once per machine by the system's C compiler, then loaded.

A kernel's shared library is compiled with ``-O3 -march=native -fopenmp -fno-math-errno`` (no
kernel reads ``errno``; without it a loop that takes a square root does not vectorise) into
``$XDG_CACHE_HOME/flowinpaint`` (default ``~/.cache/flowinpaint``, the temporary folder where that
cannot be written), keyed by the source, the flags, the compiler and the processor, and written
atomically. Without a compiler, or when the build fails, :func:`load_kernel` returns None (and
warns); every caller then has a torch or numpy path that computes the same thing.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

__all__ = ["FLAGS", "cache_folder", "compiled_here", "load_kernel", "processor"]

FLAGS = ("-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-std=c99", "-shared", "-fPIC")
_COMPILED: list[str] = []  # the kernels this process compiled (their libraries were not in the cache)


def compiled_here() -> tuple[str, ...]:
    """The names of the kernels this process compiled, in order (none when the cache had them all):
    what makes a first call on a new machine seconds slower than the next."""
    return tuple(_COMPILED)


def processor() -> str:
    """The processor's model and feature flags (what ``-march=native`` compiles for)."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    return "\n".join(sorted({line for line in lines if line.startswith(("model name", "flags"))}))


def cache_folder() -> Path:
    """The package's per-machine cache folder (created; the temporary folder where the usual one cannot be written)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flowinpaint"
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / "flowinpaint"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _build(source: Path, compiler: str, defines: tuple[str, ...] = ()) -> Path:
    """The path of ``source``'s compiled library (with the macros ``defines`` defined), building it
    first if this machine has none yet."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False, timeout=30).stdout
    flags = (*FLAGS, *(f"-D{name}" for name in defines))
    key = hashlib.sha256("\0".join([source.read_text(encoding="utf-8"), *flags, version, processor()]).encode()).hexdigest()
    folder = cache_folder()
    path = folder / f"{source.stem}-{key[:16]}.so"
    if not path.exists():
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            built = Path(scratch) / path.name
            done = subprocess.run([compiler, *flags, str(source), "-o", str(built)], capture_output=True, text=True, check=False, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"{compiler} exited {done.returncode}")
            os.replace(built, path)
        _COMPILED.append(source.stem)
    return path


def load_kernel(source: Path, description: str, defines: tuple[str, ...] = ()) -> ctypes.CDLL | None:
    """The loaded library of the C file ``source``, or None where it cannot be built or loaded.

    Args:
        source: the kernel's C source (shipped in the package).
        description: what it is, for the warning (e.g. ``"native FSI kernel"``).
        defines: macros to define (``-D``), e.g. to build a kernel's portable code path for a test.
    """
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    try:
        return ctypes.CDLL(str(_build(source, compiler, defines)))
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        warnings.warn(f"{description} unavailable ({error}); using the torch kernels", stacklevel=3)
        return None
