"""The ``flowinpaint`` command line: ``inpaint``, ``densify``, ``demo``, ``methods``, ``data preview``,
``train``, ``export-model``, ``explain`` and ``evaluate`` (one module per command).

Bad input (missing or corrupt files, unknown methods or options, shapes that do not match) is
reported as one line ``flowinpaint: error: ...`` on stderr with exit code 2, and no output file
is written.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from .. import __version__
from ..errors import FlowFormatError
from . import data, demo, densify, evaluate, explain, inpaint, methods, train
from .common import Parser, UsageError, parse_options

__all__ = ["UsageError", "build_parser", "main", "parse_options"]


def build_parser() -> argparse.ArgumentParser:
    """The ``flowinpaint`` argument parser."""
    from ..methods import method_names

    names = ", ".join(method_names())
    parser = Parser(prog="flowinpaint", description="Dense optical flow from sparse flow, guided by the reference image.")
    parser.add_argument("--version", action="version", version=f"flowinpaint {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in (inpaint.register, densify.register, demo.register, methods.register, data.register, train.register,
                     train.register_trust, train.register_export, explain.register, evaluate.register):
        register(commands, names)
    return parser


def _show_warning(message: Any, category: Any, filename: Any, lineno: Any, file: Any = None, line: Any = None) -> None:
    print(f"flowinpaint: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help and --version
            return exc.code if isinstance(exc.code, int) else 0
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.handler(args)
    except (FlowFormatError, ValueError, FileNotFoundError) as exc:  # UsageError is a ValueError
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"flowinpaint: error: {message}", file=sys.stderr)
        return 2
