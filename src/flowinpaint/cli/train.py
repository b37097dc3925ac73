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


def _cmd_export(args: argparse.Namespace) -> int:
    from ..models.pretrained import WEIGHTS_DIR
    from ..train.export import export_run

    path = export_run(args.run, args.name, directory=args.dir or WEIGHTS_DIR, command=args.command, note=args.note)
    print(f"wrote {path} and {path.with_suffix('.json')}")
    return 0


def _cmd_train_trust(args: argparse.Namespace) -> int:
    import sys

    from ..provenance import portable_command
    from ..train.trust import TrustTrainingConfig, run_training

    config = TrustTrainingConfig(scenes=args.scenes, epochs=args.epochs, seed=args.seed, perspective=args.perspective)
    record = run_training(config, args.out, portable_command(sys.argv))
    scores = record["validation"]
    print(f"{record['examples']} examples; held out: {scores['held_out_accepted_wrong']:.1%} of the wrong values "
          f"accepted, {scores['held_out_rejected_right']:.2%} of the right ones rejected -> {args.out}")
    return 0


def register_trust(commands: Any, names: str) -> None:
    """Add ``train-trust`` to ``commands``."""
    from ..train.trust import TrustTrainingConfig

    trust = commands.add_parser(
        "train-trust",
        help="train the trust classifier that judges known values (neuroaffine's judge)",
        description="Train the trust classifier (flowinpaint.models.trust) on synthetic scenes with random masks, "
        "matches and injected wrong values; writes OUT (.pt) and its .json record, in about a minute.",
    )
    trust.add_argument("--scenes", type=int, default=TrustTrainingConfig.scenes, help="synthetic training scenes")
    trust.add_argument("--epochs", type=int, default=TrustTrainingConfig.epochs)
    trust.add_argument("--seed", type=int, default=TrustTrainingConfig.seed)
    trust.add_argument("--perspective", type=float, default=TrustTrainingConfig.perspective,
                       help="share of scenes whose background moves by a homography (camera over a plane)")
    trust.add_argument("--out", type=str, required=True, metavar="PATH", help="weights file to write, e.g. trust.pt")
    trust.set_defaults(handler=_cmd_train_trust)


def register_export(commands: Any, names: str) -> None:
    """Add ``export-model`` to ``commands``."""
    export = commands.add_parser(
        "export-model",
        help="ship a training run's checkpoint as a named model",
        description="Write NAME.pt (weights with a checked header) and NAME.json (training command, config, "
        "validation EPE, commit) from RUN/checkpoint.pt; load it with flowinpaint.load_model(NAME).",
    )
    export.add_argument("run", metavar="RUN", help="training output folder (holds checkpoint.pt and log.jsonl)")
    export.add_argument("--name", required=True, help="model name, e.g. default")
    export.add_argument("--dir", metavar="DIR", help="where to write (default: the package's weights folder)")
    export.add_argument("--command", help="the training command, recorded first (for runs whose log predates start records)")
    export.add_argument("--note", help="free text stored in the record (e.g. what the commits do not show)")
    export.set_defaults(handler=_cmd_export)
