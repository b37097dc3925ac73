"""Ship a trained model: a training run's checkpoint to a named weights file with its record."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..models import count_parameters
from ..models.kinds import get_kind
from ..models.pretrained import WEIGHTS_DIR, save_model
from ..provenance import environment, portable_command, portable_path
from .config import TrainConfig
from .loop import CHECKPOINT_NAME, LOG_NAME, load_checkpoint

__all__ = ["export_run", "training_record"]


def _log_records(run: Path) -> list[dict[str, Any]]:
    path = run / LOG_NAME
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_record(run: str | Path, command: str | None = None, note: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checkpoint of a run and the record of how it was trained.

    The record holds the training command(s) (from the log's ``start`` records, or ``command``),
    the commit(s) they ran at, the full training config, the step reached, the samples seen, the
    last validation EPE per density and the machine.

    Raises:
        FileNotFoundError, ValueError: no or no valid checkpoint in ``run``.
    """
    run = Path(run)
    state = load_checkpoint(run / CHECKPOINT_NAME)
    config = TrainConfig.from_dict(state["config"])
    records = _log_records(run)
    starts = [record for record in records if "start" in record]
    validations = [record for record in records if "val" in record and record["step"] <= state["step"]]
    commands = [record["command"] if "command" in record else portable_command(record["argv"]) for record in starts]
    if command:
        commands = [command, *commands]
    machine = environment()
    record = {
        "training_commands": commands,
        "training_commits": sorted({record["commit"] for record in starts}),
        "config": {**config.to_dict(), "out": portable_path(config.out)},
        "step": state["step"],
        "samples_seen": state["step"] * config.batch_size,
        "validation": validations[-1] if validations else None,
        "validation_split": f"synthetic val, {config.val_length} samples of {list(config.crop)} px, seed {config.data_seed}",
        "machine": {key: machine[key] for key in ("cpu", "platform", "machine", "cpus_usable", "torch")},
        "export_commit": machine["git_commit"],
        "exported": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    if note:
        record["note"] = note
    return state, record


def export_run(
    run: str | Path, name: str, *, directory: str | Path = WEIGHTS_DIR, command: str | None = None, note: str | None = None
) -> Path:
    """Write ``directory/<name>.pt`` and ``<name>.json`` from the checkpoint of training run ``run``.

    The model is saved with ``compiled`` and ``channels_last`` as the run had them (how it
    computes, not what); the record (see :func:`training_record`) also gives the parameter count.

    Returns:
        The path of the weights file.
    """
    state, record = training_record(run, command, note)
    config = TrainConfig.from_dict(state["config"])
    model = get_kind(config.kind).build(config.model)
    model.load_state_dict(state["model"])
    record = {"name": name, "kind": config.kind, "parameters": count_parameters(model), **record}
    path = Path(directory) / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, path, record)
    return path
