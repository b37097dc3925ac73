"""Training: config loading and overrides, data, the loop, checkpoints, exact resume, signals, DDP."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from flowinpaint.cli import main
from flowinpaint.models import ModelConfig
from flowinpaint.train import (
    StepBatchSampler,
    StopFlag,
    TrainConfig,
    TrainingSamples,
    apply_overrides,
    distillation_loss,
    epe_loss,
    load_checkpoint,
    load_config,
    teacher_levels,
    train,
    validation_batches,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def tiny(out: Path, **changes) -> TrainConfig:
    """A run that takes well under a second per step on one CPU thread."""
    fields = {
        "model": ModelConfig(width=4, levels=2, steps=(2, 3)), "frame": (40, 40), "crop": (32, 32), "train_length": 16,
        "val_length": 2, "batch_size": 2, "steps": 4, "lr": 1e-3, "lr_step": 3, "val_every": 2, "checkpoint_every": 0,
        "log_every": 1, "threads": 1, "progress": False, "out": str(out),
    }
    fields.update(changes)
    return TrainConfig(**fields)


def state_of(path: Path) -> dict:
    return load_checkpoint(path)["model"]


def assert_same_weights(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for key, value in first.items():
        assert torch.equal(value, second[key]), key


# ---------------------------------------------------------------------------------------------
# config


def test_shipped_configs_load():
    paper = load_config(CONFIGS / "paper.toml")
    assert paper.model == ModelConfig()  # the paper's model
    assert dataclasses.replace(paper, out=TrainConfig().out) == TrainConfig()  # the file spells out the defaults
    assert (paper.batch_size, paper.lr, paper.lr_gamma, paper.crop) == (8, 1e-4, 0.5, (256, 256))
    assert (paper.density_low, paper.density_high) == (0.005, 0.2)
    assert paper.val_densities == (0.01, 0.05, 0.1)
    shipped = load_config(CONFIGS / "neuroexplicit.toml")  # the shipped default model's run
    assert shipped.model == ModelConfig(width=16, channels_last=True, compiled=True)
    assert (shipped.lr, shipped.lr_step, shipped.batch_size, shipped.crop) == (5e-4, 2000, 8, (256, 256))
    smoke = load_config(CONFIGS / "smoke.toml")
    assert smoke.model.width == 8 and smoke.crop == (48, 48) and smoke.steps <= 10
    assert load_config(None) == TrainConfig()


def test_overrides_and_round_trip():
    config = load_config(CONFIGS / "smoke.toml", ["model.width=22", "crop=[40, 40]", "lr=0.01", "out=runs/x", "progress=false", "model.steps=[1,2,3]"])
    assert config.model.width == 22 and config.model.steps == (1, 2, 3)
    assert config.crop == (40, 40) and config.lr == 0.01 and config.out == "runs/x" and config.progress is False
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert apply_overrides({}, ["batch_size=4"]) == {"batch_size": 4}


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["bogus=1"], "bogus"),
        (["model.bogus=1"], "model.bogus"),
        (["model=3"], "model"),
        (["nokeyvalue"], "KEY=VALUE"),
        (["batch_size=two"], "batch_size"),
        (["batch_size=2.5"], "batch_size"),
        (["crop=[64, 64]"], "crop"),  # larger than the frame
        (["density_low=0.5", "density_high=0.1"], "density_low"),
        (["model.width=0"], "width"),
        (["progress=1"], "progress"),
    ],
)
def test_bad_overrides_are_value_errors(overrides, words):
    with pytest.raises(ValueError, match=words):
        load_config(CONFIGS / "smoke.toml", overrides)


def test_bad_files(tmp_path):
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('steps = 3\nextra_key = 1\n[model]\nwidth = 4\nlevels = 1\nsteps = [3]\ncolour = "red"\n')
    with pytest.raises(ValueError, match=r"extra_key.*model\.colour"):
        load_config(unknown)
    broken = tmp_path / "broken.toml"
    broken.write_text("steps = = 3\n")
    with pytest.raises(ValueError, match="TOML"):
        load_config(broken)
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "absent.toml")


# ---------------------------------------------------------------------------------------------
# data and loss


def test_training_samples_are_reproducible_and_sparse(tmp_path):
    config = tiny(tmp_path)
    samples = TrainingSamples(config)
    first, again, other = samples[5], TrainingSamples(config)[5], samples[6]
    for key in ("image", "flow", "known", "truth", "valid"):
        assert torch.equal(first[key], again[key])
    assert first["image"].shape == (3, 32, 32) and first["image"].dtype == torch.float32
    assert 0 <= float(first["image"].min()) and float(first["image"].max()) <= 1
    assert first["known"].shape == (1, 32, 32) and first["known"].dtype == torch.bool
    assert torch.all(first["flow"][:, ~first["known"][0]] == 0)
    assert torch.equal(first["flow"][:, first["known"][0]], first["truth"][:, first["known"][0]])
    assert config.density_low * 0.5 <= first["known"].float().mean() <= config.density_high * 1.5
    assert not torch.equal(first["known"], other["known"])
    # one pass over the split visits every sample once
    assert sorted(samples.sample_index(p) for p in range(16)) == list(range(16))


def test_step_batch_sampler_shards_the_global_batch():
    assert list(StepBatchSampler(2, 4, 4)) == [[8, 9, 10, 11], [12, 13, 14, 15]]
    assert list(StepBatchSampler(2, 4, 4, rank=1, world=2)) == [[9, 11], [13, 15]]
    with pytest.raises(ValueError):
        StepBatchSampler(0, 1, 3, rank=0, world=2)


def test_validation_batches_are_fixed(tmp_path):
    config = tiny(tmp_path, val_densities=(0.01, 0.1))
    first, second = validation_batches(config), validation_batches(config)
    assert list(first) == [0.01, 0.1]
    assert first[0.1]["image"].shape == (2, 3, 32, 32)
    assert torch.equal(first[0.01]["known"], second[0.01]["known"])
    assert first[0.1]["known"].sum() > first[0.01]["known"].sum()


def test_epe_loss_averages_over_valid_pixels():
    truth = torch.zeros(1, 2, 2, 2)
    prediction = truth.clone()
    prediction[0, 0, 0, 0] = 3.0
    prediction[0, 1, 0, 0] = 4.0  # EPE 5 at one pixel
    valid = torch.ones(1, 1, 2, 2, dtype=torch.bool)
    assert float(epe_loss(prediction, truth, valid)) == pytest.approx(5 / 4)
    valid[0, 0, 1, :] = False
    assert float(epe_loss(prediction, truth, valid)) == pytest.approx(5 / 2)


# ---------------------------------------------------------------------------------------------
# the loop


def test_short_run_writes_checkpoint_and_log(tmp_path):
    result = train(tiny(tmp_path / "run", steps=3, val_every=3))
    assert result["step"] == 3 and not result["interrupted"] and np.isfinite(result["loss"])
    assert set(result["val"]) == {"epe_1%", "epe_5%", "epe_10%"}
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3]
    assert [r["step"] for r in records if "val" in r] == [3]
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["step"] == 3 and TrainConfig.from_dict(state["config"]) == tiny(tmp_path / "run", steps=3, val_every=3)
    assert_same_weights(state["model"], result["model"].state_dict())
    assert state["scheduler"]["last_epoch"] == 3
    # a second run into the same folder refuses to overwrite it
    with pytest.raises(ValueError, match="--resume"):
        train(tiny(tmp_path / "run", steps=3))


def test_sigterm_saves_and_resume_is_bit_identical(tmp_path):
    straight = train(tiny(tmp_path / "straight"))

    def send_sigterm(step: int, loss: float) -> None:
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    stopped = train(tiny(tmp_path / "split"), on_step=send_sigterm)
    assert signal.getsignal(signal.SIGTERM) == previous  # the handler is restored
    assert stopped["interrupted"] and stopped["step"] == 2
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["step"] == 2

    resumed = train(tiny(tmp_path / "split"), resume=True)
    assert resumed["step"] == 4 and not resumed["interrupted"]
    assert resumed["loss"] == straight["loss"]
    assert_same_weights(state_of(tmp_path / "straight" / "checkpoint.pt"), state_of(tmp_path / "split" / "checkpoint.pt"))
    a, b = (load_checkpoint(tmp_path / name / "checkpoint.pt")["optimizer"] for name in ("straight", "split"))
    for key, value in a["state"][0].items():
        assert torch.equal(value, b["state"][0][key])


def test_stop_flag_handler():
    flag = StopFlag()
    flag.handler(signal.SIGINT, None)
    assert flag.requested and flag.signum == signal.SIGINT
    with pytest.raises(KeyboardInterrupt):  # a second signal stops at once
        flag.handler(signal.SIGINT, None)


def test_resume_errors(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint"):
        train(tiny(tmp_path / "none"), resume=True)
    train(tiny(tmp_path / "run", steps=1, val_every=0))
    with pytest.raises(ValueError, match="lr"):
        train(tiny(tmp_path / "run", steps=2, lr=0.5), resume=True)
    with pytest.raises(ValueError, match="model"):
        train(tiny(tmp_path / "run", steps=2, model=ModelConfig(width=5, levels=2, steps=(2, 3))), resume=True)
    train(tiny(tmp_path / "run2", steps=2, val_every=0))
    with pytest.raises(ValueError, match="at step 2, past steps=1"):
        train(tiny(tmp_path / "run2", steps=1, val_every=0), resume=True)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign", "version"])
def test_corrupt_checkpoint_is_a_value_error(tmp_path, damage):
    train(tiny(tmp_path, steps=1, val_every=0))
    path = tmp_path / "checkpoint.pt"
    if damage == "garbage":
        path.write_bytes(b"not a checkpoint at all" * 10)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        state = torch.load(path, weights_only=True)
        state["version"] = 999
        torch.save(state, path)
    with pytest.raises(ValueError, match="checkpoint"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="checkpoint"):
        train(tiny(tmp_path, steps=2), resume=True)


def test_cli_train(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["train", "--config", str(CONFIGS / "smoke.toml"), "--out", str(out), "--set", "steps=1", "--set", "model.width=4",
            "--set", "crop=[32,32]", "--set", "frame=[32,32]", "--set", "val_every=0", "--set", "progress=false"]
    assert main(args) == 0
    assert "finished at step 1/1" in capsys.readouterr().out
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 1
    assert main(args) == 2  # refuses to overwrite
    assert main(args[:-2] + ["--set", "steps=2", "--resume"]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2
    capsys.readouterr()
    assert main(["train", "--config", str(CONFIGS / "smoke.toml"), "--set", "nope=1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("flowinpaint: error:") and "nope" in error and error.count("\n") == 1


# ---------------------------------------------------------------------------------------------
# DDP


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    result = train(tiny(Path(out), steps=2, val_every=0, device="cpu"))
    torch.save(result["model"].state_dict(), Path(out) / f"rank{rank}.pt")


def test_ddp_two_cpu_processes_keep_equal_replicas(tmp_path):
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")
    import torch.multiprocessing as mp

    out = tmp_path / "ddp"
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    rank0, rank1 = (torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in (0, 1))
    assert_same_weights(rank0, rank1)
    assert_same_weights(rank0, state_of(out / "checkpoint.pt"))
    assert not any(name.startswith("rank1") for name in os.listdir(out) if name.endswith(".jsonl"))
    # two ranks of one sample each follow the single-process run of the same global batch
    single = train(tiny(tmp_path / "single", steps=2, val_every=0))["model"].state_dict()
    for key in single:
        torch.testing.assert_close(rank0[key], single[key], rtol=1e-4, atol=1e-5)


def test_teacher_warm_start_distils_then_trains_on_the_epe(tmp_path):
    config = tiny(tmp_path / "run", steps=6, teacher="eed", teacher_steps=4, lr=3e-3, val_every=0)
    losses: list[float] = []
    result = train(config, on_step=lambda step, loss: losses.append(loss))
    assert result["step"] == 6 and len(losses) == 6
    assert losses[3] < losses[0]  # the distillation loss falls
    model = result["model"]
    image = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert float(distillation_loss(model.diffusion_levels(image), teacher_levels(image, 2))) < 1.0
    with pytest.raises(ValueError, match="teacher"):
        tiny(tmp_path, teacher="eed", teacher_steps=0)
    with pytest.raises(ValueError, match="teacher"):
        tiny(tmp_path, teacher="lb", teacher_steps=3)


def test_every_shipped_config_loads_and_ablations_change_one_switch():
    configs = {path.stem: load_config(path) for path in sorted(CONFIGS.glob("*.toml"))}
    assert {"neuroexplicit", "paper", "smoke", "flownets", "wgain", "pd"} <= set(configs)
    assert {configs[k].kind for k in ("flownets", "wgain", "pd")} == {"flownets", "wgain", "pd"}
    default = configs["neuroexplicit"]
    for name, change in {"fixed_alpha": {"learned_alpha": False}, "structure_tensor": {"eigenvectors": "structure_tensor"},
                         "no_pyramid": {"pyramid": False}}.items():
        ablation = configs[f"ablation_{name}"]
        assert ablation.model == dataclasses.replace(default.model, **change), name
        assert dataclasses.replace(ablation, model=default.model, out=default.out) == default, name


def test_init_starts_a_new_run_from_earlier_weights(tmp_path):
    first = train(tiny(tmp_path / "first", steps=2, val_every=0))
    longer = ModelConfig(width=4, levels=2, steps=(4, 6))  # more FSI steps, same parameters
    second = tiny(tmp_path / "second", steps=1, val_every=0, lr=1e-12, model=longer, init=str(tmp_path / "first" / "checkpoint.pt"))
    tuned = train(second)["model"]
    for name, tensor in first["model"].state_dict().items():
        torch.testing.assert_close(tuned.state_dict()[name], tensor, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="do not fit"):
        train(tiny(tmp_path / "third", model=ModelConfig(width=6, levels=2, steps=(2, 3)), init=str(tmp_path / "first" / "checkpoint.pt")))
    with pytest.raises(FileNotFoundError):
        train(tiny(tmp_path / "fourth", init=str(tmp_path / "absent.pt")))


def test_init_sets_denormal_weights_to_zero(tmp_path):
    """Fine-tuning starts without the denormal weights a long run leaves (slow on x86 CPUs
    without flush-to-zero); the other weights are taken as they are."""
    from flowinpaint.models import NeuroexplicitInpainting
    from flowinpaint.models.pretrained import save_model
    from flowinpaint.train.loop import load_initial_weights

    config = ModelConfig(width=4, levels=2, steps=(2, 3))
    trained = NeuroexplicitInpainting(config)
    with torch.no_grad():
        trained.dtm.heads[0].weight.view(-1)[:2] = torch.tensor([1e-40, 0.25])
    save_model(trained, tmp_path / "weights.pt", {})
    model = NeuroexplicitInpainting(config)
    load_initial_weights(model, tmp_path / "weights.pt")
    assert model.dtm.heads[0].weight.view(-1)[:2].tolist() == [0.0, 0.25]
    for name, tensor in trained.state_dict().items():
        if name != "dtm.heads.0.weight":
            assert torch.equal(model.state_dict()[name], tensor), name
