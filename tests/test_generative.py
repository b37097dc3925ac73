"""The generative learned baselines: WGAIN (WGAN-GP) and PD (conditional DDIM)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from test_train import tiny

from flowinpaint import inpaint, load_model
from flowinpaint.diffusion import pull_push_fill
from flowinpaint.models import PDConfig, PDInpainting, WGAINConfig, WGAINInpainting
from flowinpaint.models.pd import cosine_schedule
from flowinpaint.train import train
from flowinpaint.train.export import export_run
from flowinpaint.train.objective import (
    denoising_loss,
    epe_loss,
    gradient_penalty,
    wgain_loss,
)

SMALL_WGAIN = WGAINConfig(width=4, depth=2, critic_width=4)
SMALL_PD = PDConfig(width=4, depth=2, timesteps=50, sampling_steps=4)


def batch(height: int = 32, width: int = 40, size: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    truth = torch.randn(size, 2, height, width, generator=generator) * 4
    known = torch.rand(size, 1, height, width, generator=generator) < 0.1
    valid = torch.rand(size, 1, height, width, generator=generator) < 0.95
    return {"image": torch.rand(size, 3, height, width, generator=generator), "flow": truth.masked_fill(~known, 0),
            "known": known, "truth": truth, "valid": valid}


@pytest.mark.parametrize("model", [WGAINInpainting(SMALL_WGAIN), PDInpainting(SMALL_PD)], ids=["wgain", "pd"])
def test_known_pixels_unchanged_any_size_and_reproducible_in_eval(model):
    model.eval()
    for size in [(9, 13), (33, 47)]:
        data = batch(*size, size=1)
        with torch.no_grad():
            dense = model(data["image"], data["flow"], data["known"])
            again = model(data["image"], data["flow"], data["known"])
        mask = data["known"].expand_as(dense)
        assert dense.shape == data["flow"].shape and torch.isfinite(dense).all()
        assert torch.equal(dense[mask], data["flow"][mask]) and torch.equal(dense, again)


def test_gradient_penalty_is_zero_for_a_unit_slope_critic():
    class Linear(torch.nn.Module):  # critic(x) = <w, x> with |w| = 1: gradient norm exactly 1
        def forward(self, image, flow, known):
            weight = torch.ones_like(flow[:1]) / flow[0].numel() ** 0.5
            return (flow * weight).flatten(1).sum(1)

    data = batch()
    penalty = gradient_penalty(Linear(), data["image"], data["truth"], data["truth"] * 0, data["known"])
    assert float(penalty) == pytest.approx(0.0, abs=1e-10)


def test_wgain_loss_trains_the_critic_and_the_generator_apart():
    model = WGAINInpainting(SMALL_WGAIN)
    data = batch()
    generator_params = list(model.generator.parameters())
    torch.manual_seed(0)
    wgain_loss(model, data).backward()
    for name, parameter in model.named_parameters():
        if name == "critic.layers.8.bias":  # cancels in critic(fake) - critic(real); nothing else sees it
            continue
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    combined = [parameter.grad.clone() for parameter in generator_params]
    # The generator's gradient is that of -w critic(fake) + EPE alone: the critic's own loss
    # (fake detached) and the gradient penalty do not reach it.
    model.zero_grad()
    torch.manual_seed(0)  # the same noise in generate()
    fake = model.generate(data["image"], data["flow"], data["known"])
    scaled_truth = data["truth"] / model.config.flow_scale
    alone = -model.config.adversarial_weight * model.critic(model.normalise(data["image"]), fake, data["known"]).mean()
    alone = alone + epe_loss(fake, scaled_truth, data["valid"])
    expected = torch.autograd.grad(alone, generator_params)
    for got, want in zip(combined, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-8)


def test_untrained_pull_push_wgain_returns_the_fill_and_learns_a_correction():
    model = WGAINInpainting(WGAINConfig(width=4, depth=2, critic_width=4, pull_push=True))
    data = batch()
    with torch.no_grad():
        dense = model.eval()(data["image"], data["flow"], data["known"])
    torch.testing.assert_close(dense, pull_push_fill(data["flow"], data["known"]))
    wgain_loss(model.train(), data).backward()
    assert model.generator.out.weight.grad.abs().sum() > 0


def test_cosine_schedule_decreases_from_one():
    abar = cosine_schedule(1000)
    assert abar.shape == (1000,) and 0.99 < float(abar[0]) <= 1 and float(abar[-1]) < 1e-3
    assert (abar[1:] < abar[:-1]).all()


def pd_model(pull_push: bool) -> PDInpainting:
    return PDInpainting(dataclasses.replace(SMALL_PD, pull_push=pull_push))


def diffused_data(model: PDInpainting, data: dict[str, torch.Tensor]) -> torch.Tensor:
    """What the model diffuses: the scaled flow, minus its pull-push fill with ``pull_push``."""
    scale = model.config.flow_scale
    start = pull_push_fill(data["flow"], data["known"]) / scale if model.config.pull_push else 0.0
    return data["truth"] / scale - start


@pytest.mark.parametrize("pull_push", [False, True])
def test_denoising_loss_is_the_velocity_mse_and_reaches_the_denoiser(pull_push):
    model = pd_model(pull_push)
    data = batch()
    loss = denoising_loss(model, data)
    assert 0.05 < float(loss.detach()) < 20  # v is eps at low noise (variance 1), -x_0 at high noise
    loss.backward()
    assert all(p.grad is not None for p in model.denoiser.parameters())

    model.predict_velocity = lambda noisy, t, condition: torch.zeros_like(noisy)
    torch.manual_seed(5)
    loss = denoising_loss(model, data)
    torch.manual_seed(5)  # the same draws, in the loss's order: times, then noise
    clean = diffused_data(model, data).masked_fill(~data["valid"], 0.0)
    t = torch.randint(0, model.config.timesteps, (clean.shape[0],))
    noise = torch.randn_like(clean)
    abar = model.abar[t].view(-1, 1, 1, 1)
    velocity = abar.sqrt() * noise - (1 - abar).sqrt() * clean
    expected = (velocity**2).sum(dim=1, keepdim=True)[data["valid"]].mean()
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("pull_push", [False, True])
def test_ddim_with_a_perfect_denoiser_recovers_the_data(pull_push):
    model = pd_model(pull_push).eval()
    data = batch(size=1)
    clean = diffused_data(model, data)
    seen = data["truth"] / model.config.flow_scale - clean  # the fill, or 0 (+ the known values)

    def oracle(noisy, t, condition):  # the exact velocity of x_t given the clean data
        if pull_push:
            torch.testing.assert_close(condition[:, 3:5], seen)  # the network reads the fill
        abar = model.abar[t].view(-1, 1, 1, 1)
        noise = (noisy - abar.sqrt() * clean) / (1 - abar).sqrt()
        return abar.sqrt() * noise - (1 - abar).sqrt() * clean

    model.predict_velocity = oracle
    with torch.no_grad():
        dense = model(data["image"], data["flow"], data["known"])
    torch.testing.assert_close(dense, data["truth"], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    ("kind", "config"),
    [("wgain", SMALL_WGAIN), ("pd", SMALL_PD), ("wgain", WGAINConfig(width=4, depth=2, critic_width=4, pull_push=True))],
    ids=["wgain", "pd", "wgain-pull-push"],
)
def test_trains_exports_and_runs_as_a_method(tmp_path, kind, config):
    run = tiny(tmp_path / "run", kind=kind, model=config, steps=2, val_every=2, adam_betas=(0.5, 0.999))
    result = train(run)
    assert np.isfinite(result["loss"]) and set(result["val"]) == {"epe_1%", "epe_5%", "epe_10%"}
    path = export_run(tmp_path / "run", kind, directory=tmp_path / "weights")
    assert type(load_model(path)).__name__ == {"wgain": "WGAINInpainting", "pd": "PDInpainting"}[kind]
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(20, 27, 2)).astype(np.float32)
    mask = rng.random((20, 27)) < 0.1
    mask[0, 0] = True
    options = {"steps": 2} if kind == "pd" else {}
    dense = inpaint(flow, mask, rng.random((20, 27, 3)), method=kind, model=str(path), **options)
    np.testing.assert_array_equal(dense[mask], flow[mask])


def test_standard_normal_is_reproducible_in_eval_and_fresh_in_training():
    from flowinpaint.models.noise import standard_normal

    like = torch.zeros(2, 2, 5, 7, dtype=torch.float64)
    first = standard_normal(like, training=False, seed=3)
    assert first.shape == like.shape and first.dtype == torch.float64
    assert torch.equal(first, standard_normal(like, training=False, seed=3))
    assert not torch.equal(first, standard_normal(like, training=False, seed=4))
    torch.manual_seed(0)
    a = standard_normal(like, training=True, seed=3)
    b = standard_normal(like, training=True, seed=3)
    assert not torch.equal(a, b)


def test_pd_sampling_stays_within_the_widened_known_range_even_untrained():
    from flowinpaint.models.pd import known_range

    torch.manual_seed(0)
    model = PDInpainting(PDConfig(width=4, depth=2, timesteps=100, sampling_steps=10)).eval()
    image = torch.rand(2, 3, 24, 32)
    flow = torch.randn(2, 2, 24, 32) * 5
    known = torch.rand(2, 1, 24, 32) < 0.1
    with torch.no_grad():
        dense = model(image, flow, known)
    low, high = known_range(flow, known)
    assert torch.isfinite(dense).all()
    assert (dense >= low - 1e-4).all() and (dense <= high + 1e-4).all()
    assert torch.equal(dense[known.expand_as(dense)], flow[known.expand_as(flow)])


def test_known_range_widens_by_half_the_width_and_is_open_without_known_pixels():
    from flowinpaint.models.pd import known_range

    data = torch.zeros(2, 1, 2, 2)
    data[0, 0, 0, 0], data[0, 0, 1, 1] = 1.0, 3.0
    known = torch.zeros(2, 1, 2, 2, dtype=torch.bool)
    known[0, 0, 0, 0] = known[0, 0, 1, 1] = True
    low, high = known_range(data, known)
    assert low[0].item() == 0.0 and high[0].item() == 4.0
    assert low[1].item() == -math.inf and high[1].item() == math.inf
