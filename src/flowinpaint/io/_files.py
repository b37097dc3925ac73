"""Reading input files, with every failure reported as a :class:`FlowFormatError`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Union

from ..errors import FlowFormatError

__all__ = ["MAX_PIXELS", "PathLike", "file_size", "format_error", "read_bytes", "reading"]

PathLike = Union[str, "os.PathLike[str]"]

#: Largest ``H * W`` a reader accepts from a header (16384 x 16384); more is treated as corrupt.
MAX_PIXELS = 2**28


def format_error(path: PathLike, reason: str) -> FlowFormatError:
    """The error to raise for ``path``: its message is ``"<path>: <reason>"``."""
    return FlowFormatError(f"{os.fspath(path)}: {reason}")


@contextmanager
def reading(path: PathLike) -> Iterator[BinaryIO]:
    """Open ``path`` for binary reading; I/O and memory failures inside the block become
    :class:`FlowFormatError` naming the file ("no such file", "is a directory", ...)."""
    try:
        with open(path, "rb") as file:
            yield file
    except FileNotFoundError as exc:
        raise format_error(path, "no such file") from exc
    except IsADirectoryError as exc:
        raise format_error(path, "is a directory, not a file") from exc
    except OSError as exc:
        raise format_error(path, f"cannot read the file ({exc.strerror or exc})") from exc
    except MemoryError as exc:
        raise format_error(path, "not enough memory to read the file") from exc


def file_size(file: BinaryIO) -> int:
    """Size in bytes of an open file."""
    return os.fstat(file.fileno()).st_size


def read_bytes(path: PathLike) -> bytes:
    """The whole content of ``path``; an empty file is a :class:`FlowFormatError`."""
    with reading(path) as file:
        data = file.read()
    if not data:
        raise format_error(path, "the file is empty")
    return data
