"""The neuroexplicit model: architecture, parametrisation, solver wiring, ablations, gradients."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from flowinpaint.diffusion import (
    DiffusionTensor,
    coarse_to_fine,
    downsample_image,
    fsi_cycle,
    pixels_to_cells,
    sparse_pyramid,
    tensor_from_eigen,
    www_stencil,
    www_time_step,
)
from flowinpaint.diffusion.fused import fused_available
from flowinpaint.diffusion.structure import dominant_eigen, structure_tensor
from flowinpaint.models import (
    DiffusionTensorModule,
    ModelConfig,
    NeuroexplicitInpainting,
    count_parameters,
    perona_malik,
)
from flowinpaint.models.parametrisation import HOMOGENEOUS_DIFFUSIVITY

SMALL = ModelConfig(width=8, steps=(3, 5, 8, 12))
PAPER_PARAMETERS = 1.31e6


def problem(height: int = 40, width: int = 52, batch: int = 1, density: float = 0.05, seed: int = 0):
    """A random image, sparse flow and mask."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, height, width, generator=generator)
    known = torch.rand(batch, 1, height, width, generator=generator) < density
    flow = torch.randn(batch, 2, height, width, generator=generator) * 3 * known
    return image, flow, known


def model(config: ModelConfig = SMALL, head_std: float = 0.0, seed: int = 0) -> NeuroexplicitInpainting:
    """A model whose heads, for ``head_std > 0``, have random weights and biases (a trained-like state)."""
    torch.manual_seed(seed)
    net = NeuroexplicitInpainting(config)
    if head_std > 0:
        with torch.no_grad():
            for head in net.dtm.heads:
                head.weight.normal_(0.0, head_std)
                head.bias.normal_(0.0, head_std)
    return net


def test_parameter_count_matches_the_paper() -> None:
    count = count_parameters(NeuroexplicitInpainting(ModelConfig(width=44)))
    print(f"parameters at d = 44: {count}")
    assert abs(count - PAPER_PARAMETERS) <= 0.1 * PAPER_PARAMETERS


@pytest.mark.parametrize("size", [(40, 52), (41, 53), (17, 31), (16, 16)])
def test_output_and_level_shapes(size: tuple[int, int]) -> None:
    image, flow, known = problem(*size)
    net = model()
    assert net(image, flow, known).shape == flow.shape
    raw_sizes = [tuple(raw.shape[-2:]) for raw in net.dtm(image)]
    pyramid_sizes = [tuple(data.shape[-2:]) for data, _ in reversed(sparse_pyramid(flow, known, 4))]
    assert raw_sizes == pyramid_sizes


def test_known_pixels_are_returned_unchanged_and_unknown_values_ignored() -> None:
    image, flow, known = problem(41, 53)
    net = model(head_std=0.3)
    dense = net(image, flow, known)
    assert torch.equal(dense.masked_select(known), flow.masked_select(known))
    garbage = torch.where(known, flow, torch.randn_like(flow) * 100)
    torch.testing.assert_close(net(image, garbage, known), dense, rtol=0, atol=0)


def test_untrained_model_is_homogeneous_diffusion() -> None:
    image, flow, known = problem(41, 53, density=0.03)
    steps = ModelConfig().level_steps

    def solve_level(level: int, start: torch.Tensor, data: torch.Tensor, level_known: torch.Tensor) -> torch.Tensor:
        ones = torch.ones_like(data[:, :1, 1:, 1:])
        mu = ones * HOMOGENEOUS_DIFFUSIVITY
        stencil = www_stencil(DiffusionTensor(mu, 0 * ones, mu), 0.25)
        return fsi_cycle(start, stencil, www_time_step(0.25), steps[-1 - level], level_known, data)

    expected = coarse_to_fine(flow, known, len(steps), solve_level)
    torch.testing.assert_close(model(ModelConfig(width=8))(image, flow, known), expected, rtol=0, atol=1e-5)


def squared_error_gradients(net: NeuroexplicitInpainting) -> dict[str, torch.Tensor]:
    image, flow, known = problem(32, 40, batch=2, density=0.02)
    target = torch.randn_like(flow)
    net.zero_grad()
    ((net(image, flow, known) - target) ** 2).mean().backward()
    return {name: parameter.grad for name, parameter in net.named_parameters()}


def assert_all_reached(gradients: dict[str, torch.Tensor | None]) -> None:
    for name, grad in gradients.items():
        assert grad is not None, name
        assert torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name


def test_gradients_reach_every_parameter() -> None:
    assert_all_reached(squared_error_gradients(model(head_std=0.05)))


def test_training_leaves_the_homogeneous_start() -> None:
    # Heads at v = 0 or x2 = x3 = 0 would receive zero gradient for ever; the homogeneous
    # start avoids both, so one optimiser step from it already reaches every parameter.
    net = model()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    squared_error_gradients(net)
    optimiser.step()
    assert_all_reached(squared_error_gradients(net))


def test_eigenvalue_heads_start_on_the_steep_part_of_the_diffusivity() -> None:
    # At the start the finest head's bias gradient for the eigenvalue channels (x2, x3) is of
    # the order of the alpha channel's (x4), not the ~1e-4 times smaller one of g near 0.
    grad = squared_error_gradients(model())["dtm.heads.3.bias"].abs()
    assert grad[2] + grad[3] > 0.05 * grad[4]


def test_fixed_alpha_ablation() -> None:
    image, flow, known = problem()
    config = dataclasses.replace(SMALL, learned_alpha=False, fixed_alpha=0.3)
    fixed, learned = model(config, head_std=0.3), model(head_std=0.3)
    for level in fixed.diffusion_levels(image):
        assert torch.equal(level.alpha, torch.full_like(level.alpha, 0.3))
    assert not torch.allclose(fixed(image, flow, known), learned(image, flow, known))


def test_structure_tensor_eigenvector_ablation() -> None:
    image = problem(41, 53)[0]
    config = dataclasses.replace(SMALL, eigenvectors="structure_tensor", sigma=0.5, rho=1.5)
    net = model(config, head_std=0.3)
    guides = [image]
    for _ in range(3):
        guides.append(downsample_image(guides[-1]))
    for level, raw, guide in zip(net.diffusion_levels(image), net.dtm(image), reversed(guides)):
        vector = dominant_eigen(structure_tensor(guide, 0.5, 1.5))[0]
        mu1, mu2 = (pixels_to_cells(perona_malik(raw[:, k : k + 1], net.contrast)) for k in (2, 3))
        expected = tensor_from_eigen(vector, mu1, mu2)
        for entry, expected_entry in zip(level.tensor, expected):
            torch.testing.assert_close(entry, expected_entry)


def test_no_pyramid_ablation_runs_one_level_with_all_steps() -> None:
    image, flow, known = problem(41, 53)
    net = model(dataclasses.replace(SMALL, pyramid=False), head_std=0.3)
    assert len(net.dtm.heads) == 1
    (level,) = net.diffusion_levels(image)
    assert level.alpha.shape[-2:] == (40, 52)
    stencil = www_stencil(level.tensor, level.alpha)
    expected = fsi_cycle(flow, stencil, www_time_step(level.alpha), sum(SMALL.steps), known, flow)
    torch.testing.assert_close(net(image, flow, known), expected)


def test_batch_equals_separate_runs() -> None:
    image, flow, known = problem(33, 45, batch=2, density=0.08)
    known[1] = torch.rand(1, 33, 45, generator=torch.Generator().manual_seed(9)) < 0.02
    flow = flow * known
    net = model(head_std=0.3)
    together = net(image, flow, known)
    for k in range(2):
        alone = net(image[k : k + 1], flow[k : k + 1], known[k : k + 1])
        torch.testing.assert_close(together[k : k + 1], alone, rtol=0, atol=1e-5)


def test_channels_last_gives_the_same_flow() -> None:
    image, flow, known = problem(41, 53)
    net = model(head_std=0.3)
    fast = NeuroexplicitInpainting(dataclasses.replace(SMALL, channels_last=True))
    fast.load_state_dict(net.state_dict())
    torch.testing.assert_close(fast(image, flow, known), net(image, flow, known), rtol=0, atol=1e-5)


def test_bfloat16_network_is_close_keeps_known_pixels_and_trains() -> None:
    image, flow, known = problem(41, 53, density=0.1)
    net = model(head_std=0.3)
    fast = NeuroexplicitInpainting(dataclasses.replace(SMALL, bfloat16=True))
    fast.load_state_dict(net.state_dict())
    with torch.no_grad():
        exact, rounded = net(image, flow, known), fast(image, flow, known)
    assert rounded.dtype == torch.float32
    assert torch.equal(rounded[known.expand_as(flow)], flow[known.expand_as(flow)])
    # bfloat16 keeps 8 significant bits: the DTM's outputs move by ~1e-2 of their size, the flow less
    torch.testing.assert_close(rounded, exact, rtol=0, atol=0.02 * float(flow.abs().max()))
    assert not torch.equal(rounded, exact)  # the network did run in bfloat16
    assert_all_reached(squared_error_gradients(fast))


@pytest.mark.skipif(not fused_available(), reason="no C++ compiler for torch.compile")
def test_compiled_steps_give_the_same_flow_at_inference() -> None:
    image, flow, known = problem(20, 24, density=0.1)
    net = model(ModelConfig(width=4, levels=1, steps=(20,)), head_std=0.3)
    compiled = NeuroexplicitInpainting(ModelConfig(width=4, levels=1, steps=(20,), compiled=True))
    compiled.load_state_dict(net.state_dict())
    with torch.inference_mode():
        torch.testing.assert_close(compiled(image, flow, known), net(image, flow, known), rtol=0, atol=1e-5)


@pytest.mark.parametrize("head_std", [0.3, 100.0])
def test_random_heads_stay_stable(head_std: float) -> None:
    # The WWW stencil with beta = (1 - 2 alpha) sign(b) and tau = 1 / (4 (1 - min alpha)) is L2
    # stable; it can have negative weights (where |b| > min(a, c)) and FSI extrapolates, so the
    # minimum-maximum principle is not guaranteed. What holds: finite, bounded outputs, which
    # stayed within the data range for moderate heads and overshot it by up to about 0.76 of
    # the range for extreme ones (weights and biases of std 10-100, in a sweep over seeds).
    image, flow, known = problem(40, 52, batch=2, density=0.05, seed=3)
    with torch.no_grad():
        dense = model(head_std=head_std, seed=2)(image, flow, known)
    assert torch.isfinite(dense).all()
    low = flow.masked_fill(~known, torch.inf).amin(dim=(2, 3), keepdim=True)
    high = flow.masked_fill(~known, -torch.inf).amax(dim=(2, 3), keepdim=True)
    overshoot = (torch.maximum(dense - high, low - dense).clamp_min(0) / (high - low)).max()
    assert overshoot <= (1e-5 if head_std < 1 else 1.0)


def test_dtm_starts_at_its_head_bias() -> None:
    bias = (1.0, -2.0, 0.5, 0.0, 3.0)
    dtm = DiffusionTensorModule(width=4, levels=2, head_bias=bias)
    outputs = dtm(torch.rand(1, 3, 19, 21))
    assert [tuple(raw.shape) for raw in outputs] == [(1, 5, 10, 11), (1, 5, 19, 21)]
    for raw in outputs:
        torch.testing.assert_close(raw, torch.tensor(bias).view(1, 5, 1, 1).expand_as(raw))


def test_config_round_trip_and_validation() -> None:
    config = ModelConfig(width=12, levels=2, steps=[3, 4], eigenvectors="structure_tensor", learned_alpha=False)
    assert config.steps == (3, 4)
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert ModelConfig(pyramid=False).level_steps == (95,)
    for bad in (
        {"levels": 5, "steps": (1,) * 5},
        {"steps": (5, 15, 30)},
        {"steps": (5, 0, 30, 45)},
        {"width": 0},
        {"fixed_alpha": 0.6},
        {"eigenvectors": "eed"},
        {"contrast": 0.0},
        {"rho": -1.0},
    ):
        with pytest.raises(ValueError):
            ModelConfig(**bad)
    with pytest.raises(ValueError):
        ModelConfig.from_dict({"width": 8, "depth": 3})


def test_inputs_are_validated() -> None:
    image, flow, known = problem()
    net = model()
    for args in (
        (image[:, :2], flow, known),
        (image, flow[:, :1], known),
        (image, flow, known.float()),
        (image, flow, known[..., 1:]),
        problem(8, 40),
    ):
        with pytest.raises(ValueError):
            net(*args)
