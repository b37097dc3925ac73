"""Atomic file replacement: a reader never sees a partly written file."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ._files import PathLike

__all__ = ["atomic_write_bytes"]


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    The bytes go to a hidden temporary file in the target's directory, which is flushed to disk
    and then renamed over ``path`` with :func:`os.replace`. If anything fails, the temporary file
    is removed and the exception propagates: ``path`` then either does not exist or still holds
    its previous content, never a partial write. The new file gets the usual permissions
    (``0o666`` minus the umask).
    """
    target = Path(path)
    if not target.parent.is_dir():  # else the error would name the temporary file
        raise FileNotFoundError(f"{target}: the directory {target.parent} does not exist")
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory, not a file")
    temporary = target.with_name(f".{target.name[:64]}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
