"""``flowinpaint methods``: list the registry."""

from __future__ import annotations

import argparse
from typing import Any


def _cmd_methods(args: argparse.Namespace) -> int:
    from ..methods import get_method, method_names

    names = method_names()
    width = max(map(len, names))
    for name in names:
        method = get_method(name)
        needs = "needs image" if method.needs_image else "no image"
        reason = method.unavailable()
        print(f"{name:<{width}}  {needs:<11}  {method.summary}" + (f" [unavailable: {reason}]" if reason else ""))
    return 0


def register(commands: Any, names: str) -> None:
    """Add the command to ``commands`` (the subparsers); ``names`` lists the methods."""
    methods = commands.add_parser("methods", help="list the inpainting methods", description="List the inpainting methods.")
    methods.set_defaults(handler=_cmd_methods)
