"""The training configuration: a frozen dataclass, loaded from TOML with ``key=value`` overrides.

A TOML file holds the top-level fields of :class:`TrainConfig` and a ``[model]`` table with the
fields of the kind's model config (:class:`~flowinpaint.models.ModelConfig` for the default
``kind = "neuroexplicit"``). Overrides use dotted keys
(``model.width=22``, ``steps=500``, ``crop=[64, 64]``); a value is read as a TOML value, and a
bare word that is not valid TOML (``out=runs/x``) is taken as a string. Unknown keys and values
of the wrong type are a ``ValueError`` that names them.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models import ModelConfig
from ..models.kinds import get_kind

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ModuleNotFoundError:
        tomllib = None  # type: ignore[assignment]

__all__ = ["FORMAT_VERSION", "TrainConfig", "apply_overrides", "load_config"]

FORMAT_VERSION = 1  # of the training checkpoints (see :mod:`.loop`)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (spec section 6, scaled to the machine).

    The defaults are the paper's model and schedule, spelled out in ``configs/paper.toml``
    (the shipped default model's run is ``configs/neuroexplicit.toml``).

    Attributes:
        kind: the model kind (:data:`flowinpaint.models.kinds.MODEL_KINDS`): ``"neuroexplicit"``
            or a learned baseline such as ``"flownets"``.
        model: the architecture, the kind's config (:class:`ModelConfig` for neuroexplicit).
        frame: ``(H, W)`` of the synthetic frames the crops are taken from.
        crop: ``(H, W)`` of the random training crops (and of the validation frames), at most ``frame``.
        train_length: samples in the synthetic train split (the data order cycles through them).
        val_length: samples in the fixed synthetic validation split.
        data_seed: seed of the synthetic splits and of the validation masks.
        density_low, density_high: the range of the per-sample training mask density
            (log-uniform, :func:`flowinpaint.data.sample_density`).
        degrade: the probability that a training image is degraded like a real frame (motion blur
            along its flow, defocus, haze, exposure, noise, JPEG: :func:`flowinpaint.data.degrade.degrade`);
            the validation images stay clean.
        perspective: the probability that a training scene's background moves by a homography
            (camera motion over a plane: :attr:`flowinpaint.data.SyntheticConfig.perspective_probability`);
            the validation scenes keep the default generator.
        batch_size: samples per step (over all processes with DDP; a multiple of the world size).
        steps: total optimisation steps of the run (a resumed run may raise it).
        lr: Adam learning rate; adam_betas: its moment decays; weight_decay: its L2 weight decay.
        lr_step, lr_gamma: StepLR, the rate is multiplied by ``lr_gamma`` every ``lr_step`` steps.
        teacher: ``"eed"`` warm-starts the model by distillation (:mod:`.objective`) during the
            first ``teacher_steps`` steps; ``""`` (default) trains on the EPE from the start.
        teacher_steps: steps of that warm start (Adam's moments are reset when it ends).
        init: a training checkpoint or weights file whose model weights start the run (fine-tuning,
            e.g. with more FSI steps); ``""`` starts from the initialisation of the model.
        val_every: validate every N steps (and at the end); 0 turns validation off.
        val_densities: mask densities of the validation (fixed masks per sample and density).
        checkpoint_every: save a checkpoint every N steps (and at the end); 0: only at the end.
        log_every: write the training loss to the log every N steps.
        seed: seed of the model initialisation, the data order, the crops and the masks.
        threads: torch CPU threads (``torch.set_num_threads``); 0 leaves torch's default.
        workers: DataLoader worker processes for the training samples (0: in the main process).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        progress: show a tqdm progress bar (on rank 0).
        out: the output folder (``checkpoint.pt``, ``log.jsonl``, ``config.json``).
    """

    kind: str = "neuroexplicit"
    model: Any = field(default_factory=ModelConfig)
    frame: tuple[int, int] = (288, 288)
    crop: tuple[int, int] = (256, 256)
    train_length: int = 8000
    val_length: int = 16
    data_seed: int = 0
    density_low: float = 0.005
    density_high: float = 0.2
    degrade: float = 0.0
    perspective: float = 0.0
    batch_size: int = 8
    steps: int = 3000
    lr: float = 1e-4
    adam_betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 4e-4
    lr_step: int = 1000
    lr_gamma: float = 0.5
    teacher: str = ""
    teacher_steps: int = 0
    init: str = ""
    val_every: int = 250
    val_densities: tuple[float, ...] = (0.01, 0.05, 0.1)
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0
    threads: int = 0
    workers: int = 0
    device: str = "auto"
    progress: bool = True
    out: str = "runs/neuroexplicit"

    def __post_init__(self) -> None:
        config_type = get_kind(self.kind).config_type
        if isinstance(self.model, Mapping):
            object.__setattr__(self, "model", config_type.from_dict(dict(self.model)))
        if not isinstance(self.model, config_type):
            raise ValueError(f"model must be a {config_type.__name__} for kind {self.kind!r}, got {type(self.model).__name__}")  # noqa: TRY004
        for name, hint in _field_types().items():
            if name == "model":
                continue
            object.__setattr__(self, name, _coerce(name, getattr(self, name), hint))
        for name in ("frame", "crop"):
            if len(getattr(self, name)) != 2 or min(getattr(self, name)) < 32:
                raise ValueError(f"{name} must be (H, W), both >= 32, got {getattr(self, name)}")
        if self.crop[0] > self.frame[0] or self.crop[1] > self.frame[1]:
            raise ValueError(f"crop {self.crop} must fit in frame {self.frame}")
        positive = ("train_length", "val_length", "batch_size", "lr_step", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("data_seed", "seed", "steps", "teacher_steps", "val_every", "checkpoint_every", "threads", "workers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.density_low <= self.density_high < 1:
            raise ValueError(f"need 0 < density_low <= density_high < 1, got {self.density_low}, {self.density_high}")
        for name in ("degrade", "perspective"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if not all(0 < d < 1 for d in self.val_densities):
            raise ValueError(f"val_densities must lie in (0, 1), got {self.val_densities}")
        if not (self.lr > 0 and self.weight_decay >= 0 and 0 < self.lr_gamma <= 1):
            raise ValueError(f"need lr > 0, weight_decay >= 0, 0 < lr_gamma <= 1, got {self.lr}, {self.weight_decay}, {self.lr_gamma}")
        if self.teacher not in ("", "eed") or (self.teacher_steps > 0) != bool(self.teacher):
            raise ValueError(f"teacher must be '' or 'eed', with teacher_steps > 0 exactly when set; got {self.teacher!r}, {self.teacher_steps}")
        if self.teacher and self.kind != "neuroexplicit":
            raise ValueError(f"a teacher warm start needs kind 'neuroexplicit', not {self.kind!r}")
        if not all(0 <= beta < 1 for beta in self.adam_betas):
            raise ValueError(f"adam_betas must lie in [0, 1), got {self.adam_betas}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON- and TOML-compatible dict (tuples as lists, the model as a nested dict)."""
        result: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "model":
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            result[item.name] = value
        return result

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> TrainConfig:
        """The inverse of :meth:`to_dict`; missing fields take their defaults, unknown ones are an error."""
        if not isinstance(fields, Mapping):
            raise ValueError(f"a training config must be a table/dict, got {type(fields).__name__}")  # noqa: TRY004
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        kind = get_kind(fields.get("kind", "neuroexplicit"))
        model = fields.get("model", {})
        if isinstance(model, Mapping):
            model_known = {item.name for item in dataclasses.fields(kind.config_type)}
            unknown += [f"model.{key}" for key in sorted(set(model) - model_known)]
        if unknown:
            raise ValueError(f"unknown training config keys: {', '.join(unknown)}")
        values = dict(fields)
        if isinstance(model, Mapping):
            try:
                values["model"] = kind.config_type.from_dict(dict(model))
            except TypeError as exc:
                raise ValueError(f"model: {exc}") from exc
        return cls(**values)


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the annotation ``hint`` (ints pass as floats, lists as tuples)."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(name, item, args[0]) for item in value)
        if len(value) != len(args):
            raise ValueError(f"{name} must have {len(args)} entries, got {value!r}")
        return tuple(_coerce(name, item, arg) for item, arg in zip(value, args))
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
        return value
    raise ValueError(f"{name}: unsupported field type {hint!r}")  # pragma: no cover


def _parse_value(text: str) -> Any:
    if tomllib is not None:
        try:
            return tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            pass
    return text


def apply_overrides(fields: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``fields`` (a :meth:`TrainConfig.to_dict`-like dict) with ``KEY=VALUE`` overrides applied.

    Keys are dotted (``model.width``); unknown keys are a ``ValueError`` naming them.
    """
    result = {key: (dict(value) if isinstance(value, Mapping) else value) for key, value in fields.items()}
    train_keys = {item.name for item in dataclasses.fields(TrainConfig)}
    parsed = []
    for pair in overrides:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        parsed.append((pair, key, _parse_value(text.strip())))
    kind = next((value for _, key, value in parsed if key == "kind"), result.get("kind", "neuroexplicit"))
    model_keys = {item.name for item in dataclasses.fields(get_kind(str(kind)).config_type)}
    for pair, key, value in parsed:
        parts = key.split(".")
        if len(parts) == 1 and parts[0] in train_keys and parts[0] != "model":
            result[parts[0]] = value
        elif len(parts) == 2 and parts[0] == "model" and parts[1] in model_keys:
            result.setdefault("model", {})[parts[1]] = value
        else:
            raise ValueError(f"unknown training config key {key!r} in --set {pair!r}")
    return result


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """The :class:`TrainConfig` of the TOML file ``path`` (None: the defaults) with ``overrides``.

    Raises:
        ValueError: unreadable or invalid TOML, unknown keys, or values of the wrong type.
        FileNotFoundError: ``path`` does not exist.
    """
    fields: dict[str, Any] = {}
    if path is not None:
        if tomllib is None:  # pragma: no cover
            raise ValueError("reading TOML needs Python >= 3.11 (tomllib) or the tomli package")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such config file")
        try:
            fields = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not a valid TOML file ({exc})") from exc
    fields = apply_overrides(fields, overrides)
    try:
        return TrainConfig.from_dict(fields)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc
