"""The FlowNetS-style learned baseline: architecture, loss, training through the shared loop, method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_train import tiny

from flowinpaint import inpaint, load_model
from flowinpaint.models import FlowNetSConfig, FlowNetSInpainting, count_parameters
from flowinpaint.train import apply_overrides, load_config, train
from flowinpaint.train.export import export_run
from flowinpaint.train.objective import downsample_truth, multiscale_epe_loss


def inputs(height: int, width: int, batch: int = 1, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, height, width, generator=generator)
    flow = torch.randn(batch, 2, height, width, generator=generator) * 5
    known = torch.rand(batch, 1, height, width, generator=generator) < 0.1
    return image, flow, known


def test_full_width_has_flownets_size():
    # FlowNetS with a 6-channel input has about 38.7 M parameters (Dosovitskiy et al. 2015)
    assert 38.0e6 < count_parameters(FlowNetSInpainting(FlowNetSConfig(width=64))) < 39.0e6


@pytest.mark.parametrize("size", [(17, 23), (64, 64), (70, 130)])
def test_any_size_and_known_pixels_unchanged(size):
    model = FlowNetSInpainting(FlowNetSConfig(width=4))
    image, flow, known = inputs(*size, batch=2)
    dense = model(image, flow, known)
    assert dense.shape == flow.shape and torch.isfinite(dense).all()
    assert torch.equal(dense[known.expand_as(flow)], flow[known.expand_as(flow)])


def test_multiscale_loss_reaches_every_parameter():
    model = FlowNetSInpainting(FlowNetSConfig(width=4))
    image, flow, known = inputs(40, 56, batch=2)
    batch = {"image": image, "flow": flow.masked_fill(~known, 0), "known": known, "truth": flow,
             "valid": torch.ones_like(known)}
    multiscale_epe_loss(model, batch).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_downsampled_truth_averages_valid_pixels_only():
    truth = torch.zeros(1, 2, 64, 64)
    truth[:, 0] = 3.0
    valid = torch.ones(1, 1, 64, 64, dtype=torch.bool)
    valid[..., :4, :4] = False
    truth[..., :2, :2] = 100.0  # invalid pixels must not count
    coarse, coarse_valid = downsample_truth(truth, valid, (16, 16))
    assert not coarse_valid[0, 0, 0, 0] and coarse_valid.sum() == 255  # the 4x4 invalid block is one cell
    assert torch.allclose(coarse[0, 0][coarse_valid[0, 0]], torch.tensor(3.0)) and torch.equal(coarse[:, 1], torch.zeros(1, 16, 16))
    padded, padded_valid = downsample_truth(truth[..., :50, :60], valid[..., :50, :60], (16, 16))
    # 50x60 pads to 64x64: cell row 12 holds image rows 48-49, rows 13-15 only padding
    assert padded_valid[0, 0, 12, 14] and not padded_valid[0, 0, 13:].any() and not padded_valid[0, 0, :, 15].any()
    assert torch.allclose(padded[0, 0][padded_valid[0, 0]], torch.tensor(3.0))


def test_config_selects_the_kind_and_checks_its_keys(tmp_path):
    config = load_config(None, ["kind=flownets", "model.width=8", "model.flow_scale=10"])
    assert config.model == FlowNetSConfig(width=8, flow_scale=10.0)
    with pytest.raises(ValueError, match="model.levels"):
        load_config(None, ["kind=flownets", "model.levels=3"])
    with pytest.raises(ValueError, match="unknown model kind"):
        load_config(None, ["kind=unet"])
    with pytest.raises(ValueError, match="neuroexplicit"):
        load_config(None, ["kind=flownets", "teacher=eed", "teacher_steps=2"])
    assert apply_overrides({}, ["kind=flownets", "model.width=3"])["model"] == {"width": 3}


def test_trains_exports_and_runs_as_a_method(tmp_path):
    config = tiny(tmp_path / "run", kind="flownets", model=FlowNetSConfig(width=4), steps=3, val_every=3)
    result = train(config)
    assert np.isfinite(result["loss"]) and set(result["val"]) == {"epe_1%", "epe_5%", "epe_10%"}
    path = export_run(tmp_path / "run", "flownets-test", directory=tmp_path / "weights")
    model = load_model(path)
    assert isinstance(model, FlowNetSInpainting) and model.config == FlowNetSConfig(width=4)
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(30, 41, 2)).astype(np.float32)
    mask = rng.random((30, 41)) < 0.1
    image = rng.random((30, 41, 3))
    dense = inpaint(flow, mask, image, method="flownets", model=str(path))
    assert dense.shape == (30, 41, 2) and np.isfinite(dense).all()
    np.testing.assert_array_equal(dense[mask], flow[mask])
