"""``flowinpaint train``: train the neuroexplicit model."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from .common import output_folder


def _cmd_train(args: argparse.Namespace) -> int:
    from ..train import load_config, train

    config = load_config(args.config, args.set)
    if args.out:
        config = dataclasses.replace(config, out=args.out)
    output_folder(config.out)  # fail before training if the path is a file
    result = train(config, resume=args.resume)
    if result["rank"] != 0:  # under torchrun only rank 0 reports
        return 0
    val = result["val"] or {}
    summary = ", ".join(f"{key} {value:.4f}" for key, value in val.items())
    state = "stopped by a signal at" if result["interrupted"] else "finished at"
    print(f"{state} step {result['step']}/{config.steps}, loss {result['loss']:.4f}" + (f", validation {summary}" if summary else ""))
    print(f"checkpoint {result['checkpoint']}, log {result['log']}")
    return 0


def register(commands: Any, names: str) -> None:
    """Add the command to ``commands`` (the subparsers); ``names`` lists the methods."""
    training = commands.add_parser(
        "train",
        help="train the neuroexplicit model on synthetic data",
        description="Train the neuroexplicit model (Adam, StepLR, EPE loss) on random crops of synthetic flow "
        "with masks redrawn per load; writes DIR/checkpoint.pt, DIR/log.jsonl and DIR/config.json. "
        "SIGINT/SIGTERM save a checkpoint after the current step and stop; --resume continues exactly. "
        "Under torchrun it trains data-parallel (DDP).",
    )
    training.add_argument("--config", metavar="FILE", help="TOML config, e.g. configs/neuroexplicit.toml (default: built-in defaults)")
    training.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (repeatable; dotted keys, TOML values), e.g. --set model.width=22 --set steps=100",
    )
    training.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    training.add_argument("--out", metavar="DIR", help="output folder (overrides the config's out)")
    training.set_defaults(handler=_cmd_train)
