"""Shipped weights: export from a run, load with checked headers, the neuroexplicit method, explain."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from test_train import tiny

from flowinpaint import inpaint, load_model
from flowinpaint.cli import main
from flowinpaint.io import write_image
from flowinpaint.io.torchfile import save_torch_file
from flowinpaint.models import ModelConfig, NeuroexplicitInpainting
from flowinpaint.models.kinds import kind_of
from flowinpaint.models.pretrained import (
    NEGLIGIBLE_WEIGHT,
    available_models,
    model_record,
    negligible_to_zero,
    resolve,
    save_model,
)
from flowinpaint.train import train
from flowinpaint.train.export import export_run


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A two-step training run exported as ``tiny.pt`` (weights) and ``tiny.json`` (record)."""
    folder = tmp_path_factory.mktemp("export")
    trained = train(tiny(folder / "run", steps=2, val_every=2))
    path = export_run(folder / "run", "tiny", directory=folder / "weights", command="flowinpaint train (test)")
    return path, trained["model"]


def test_export_writes_weights_and_a_record_that_load_back(exported):
    path, trained = exported
    model = load_model(path)
    assert isinstance(model, NeuroexplicitInpainting) and not model.training
    for name, tensor in trained.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    record = json.loads(path.with_suffix(".json").read_text())
    assert record == model_record(path)
    assert record["training_commands"][0] == "flowinpaint train (test)"
    assert record["step"] == 2 and record["samples_seen"] == 4
    assert set(record["validation"]["val"]) == {"epe_1%", "epe_5%", "epe_10%"}
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    assert ModelConfig.from_dict(record["config"]["model"]) == model.config


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("name", [None, *available_models()])
def test_records_name_no_absolute_path(exported, name):
    """Training records read the same on any machine: relative paths, ``flowinpaint train ...``."""
    record = model_record(exported[0] if name is None else name)
    paths = [found for text in _strings(record) for found in re.findall(r"(?<![\w.])/[\w.-]+/", text)]
    assert paths == []
    if name is not None:  # the test run's own log names pytest, which started it
        assert all(command.startswith(("flowinpaint train ", "flowinpaint train-trust ")) for command in record["training_commands"])


def test_unknown_name_lists_the_shipped_models():
    with pytest.raises(ValueError, match="no shipped model 'nonesuch'; available"):
        load_model("nonesuch")


def test_damaged_and_foreign_files_are_clear_errors(exported, tmp_path):
    path = exported[0]
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="not a readable flowinpaint model weights file"):
        load_model(truncated)
    foreign = tmp_path / "foreign.pt"
    save_torch_file(foreign, {"weights": torch.zeros(3)})
    with pytest.raises(ValueError, match="no 'flowinpaint-model' header"):
        load_model(foreign)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.pt")
    state = torch.load(path, weights_only=True)
    newer = tmp_path / "newer.pt"
    save_torch_file(newer, {**state, "version": 99})
    with pytest.raises(ValueError, match="format version 99"):
        load_model(newer)
    resized = tmp_path / "resized.pt"
    wrong = {**state["state_dict"], "dtm.heads.0.bias": torch.zeros(7)}
    save_torch_file(resized, {**state, "state_dict": wrong})
    with pytest.raises(ValueError, match="shape header"):
        load_model(resized)
    other_config = tmp_path / "other.pt"
    config = {**state["config"], "width": 5}
    save_torch_file(other_config, {**state, "config": config})
    with pytest.raises(ValueError, match="do not fit the model config"):
        load_model(other_config)


def test_weights_files_hold_only_plain_types(tmp_path):
    model = NeuroexplicitInpainting(ModelConfig(width=4, levels=2, steps=(2, 3)))
    save_model(model, tmp_path / "m.pt", {"torch": torch.__version__, "epe": np.float64(0.5)})
    assert model_record(tmp_path / "m.pt") == {"torch": str(torch.__version__), "epe": 0.5}


def test_shipped_models_load():
    assert "default" in available_models()  # the product ships its headline model
    for name in available_models():
        model = load_model(name)
        record = model_record(name)
        assert record["validation"] is not None and record["kind"] == kind_of(model), name
    assert isinstance(load_model("default"), NeuroexplicitInpainting)


def test_negligible_weights_load_as_zero_and_change_no_output(tmp_path):
    """Denormal weights (slow on x86 CPUs without flush-to-zero) and others below 1e-20 load as
    zeros; the shipped DTM has many (weight decay) and its output is the same to the bit."""
    model = NeuroexplicitInpainting(ModelConfig(width=4, levels=2, steps=(2, 3)))
    with torch.no_grad():
        first = model.dtm.encoder[0][0].weight
        first.view(-1)[:3] = torch.tensor([1e-39, -3e-25, 2e-20])
    save_model(model, tmp_path / "m.pt", {})
    loaded = load_model(tmp_path / "m.pt").dtm.encoder[0][0].weight.view(-1)
    assert loaded[:3].tolist() == [0.0, 0.0, pytest.approx(2e-20)]
    assert torch.equal(loaded[3:], first.view(-1)[3:])

    shipped = load_model("default")
    state = torch.load(resolve("default"), weights_only=True)["state_dict"]
    raw = [tensor for tensor in state.values() if tensor.is_floating_point()]
    assert sum(int(((t != 0) & (t.abs() < NEGLIGIBLE_WEIGHT)).sum()) for t in raw) > 10_000  # what it is for
    assert all(bool((t.abs() >= NEGLIGIBLE_WEIGHT).logical_or(t == 0).all()) for t in shipped.state_dict().values()
               if t.is_floating_point())
    unflushed = load_model("default")
    unflushed.load_state_dict(state)
    rng = np.random.default_rng(3)
    image = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(3))
    flow = torch.from_numpy(rng.normal(0, 3, (1, 2, 48, 64)).astype(np.float32))
    known = torch.from_numpy(rng.random((1, 1, 48, 64)) < 0.05)
    with torch.inference_mode():
        assert torch.equal(shipped(image, flow, known), unflushed(image, flow, known))
    assert negligible_to_zero({"steps": torch.tensor([3]), "note": "x"}) == {"steps": torch.tensor([3]), "note": "x"}


@pytest.mark.parametrize("shape", [(5, 7), (33, 47)])
def test_neuroexplicit_method_keeps_known_pixels_at_any_size(exported, shape):
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(*shape, 2)).astype(np.float32)
    mask = rng.random(shape) < 0.1
    mask[0, 0] = True
    image = rng.random((*shape, 3))
    dense = inpaint(flow, mask, image, method="neuroexplicit", model=str(exported[0]), compiled=False)
    assert dense.shape == (*shape, 2) and np.isfinite(dense).all()
    np.testing.assert_array_equal(dense[mask], flow[mask])


def test_neuroexplicit_method_matches_the_model(exported):
    path, trained = exported
    rng = np.random.default_rng(1)
    flow = rng.normal(size=(24, 40, 2)).astype(np.float32)
    mask = rng.random((24, 40)) < 0.2
    image = rng.random((24, 40, 3)).astype(np.float32)
    dense = inpaint(flow, mask, image, method="neuroexplicit", model=str(path), compiled=False, bfloat16=False)
    with torch.no_grad():
        expected = trained(
            torch.from_numpy(image).permute(2, 0, 1)[None],
            torch.from_numpy(flow).permute(2, 0, 1)[None],
            torch.from_numpy(mask)[None, None],
        )
    np.testing.assert_allclose(dense, expected[0].permute(1, 2, 0).numpy(), atol=1e-6)
    fast = inpaint(flow, mask, image, method="neuroexplicit", model=str(path), compiled=False, bfloat16=True)
    np.testing.assert_array_equal(fast[mask], flow[mask])
    np.testing.assert_allclose(fast, dense, atol=0.02 * np.abs(flow).max())  # the network's bfloat16 rounding


def test_neuroexplicit_needs_the_image_and_valid_options(exported):
    flow, mask = np.zeros((20, 20, 2), np.float32), np.eye(20, dtype=bool)
    with pytest.raises(ValueError, match="image"):
        inpaint(flow, mask, method="neuroexplicit", model=str(exported[0]))
    with pytest.raises(ValueError, match="device"):
        inpaint(flow, mask, np.zeros((20, 20, 3)), method="neuroexplicit", device="gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' is not available"):
            inpaint(flow, mask, np.zeros((20, 20, 3)), method="neuroexplicit", device="cuda")


def test_explain_writes_pictures_and_parameters(exported, tmp_path, capsys):
    image = (np.random.default_rng(2).random((40, 56, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "ref.png", image)
    assert main(["explain", "--image", str(tmp_path / "ref.png"), "--out", str(tmp_path / "out"), "--model", str(exported[0])]) == 0
    summary = json.loads((tmp_path / "out" / "parameters.json").read_text())
    assert len(summary["levels_coarse_to_fine"]) == 2
    arrays = np.load(tmp_path / "out" / "parameters.npz")
    mu1, mu2, alpha = arrays["level1_mu1"], arrays["level1_mu2"], arrays["level1_alpha"]
    assert mu1.shape == (39, 55) and arrays["level1_v"].shape == (39, 55, 2)
    assert (mu1 >= mu2).all() and (mu2 > 0).all() and (mu1 <= 1 + 1e-6).all()
    assert ((alpha >= 0) & (alpha <= 0.5)).all()
    np.testing.assert_allclose(np.linalg.norm(arrays["level1_v"], axis=-1), 1, atol=1e-5)
    assert (tmp_path / "out" / "explain.png").stat().st_size > 10_000


def test_explain_errors_are_one_line(tmp_path, capsys):
    assert main(["explain", "--image", str(tmp_path / "absent.png"), "--out", str(tmp_path / "out")]) == 2
    assert "absent.png" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_shipped_default_beats_homogeneous_diffusion_and_keeps_known_pixels():
    from flowinpaint import epe
    from flowinpaint.data import make_example, uniform_mask

    for seed in (0, 1):
        example = make_example((96, 128), seed)
        known = uniform_mask(example["valid"], 0.05, seed)
        sparse = np.where(known[..., None], example["flow"], 0).astype(np.float32)
        learned = inpaint(sparse, known, example["image1"], method="neuroexplicit")
        homogeneous = inpaint(sparse, known, example["image1"], method="laplace")
        np.testing.assert_array_equal(learned[known], sparse[known])
        assert epe(learned, example["flow"], example["valid"]) < epe(homogeneous, example["flow"], example["valid"])
