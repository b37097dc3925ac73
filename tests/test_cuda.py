"""The CUDA paths compute what the CPU paths do.

Skipped where torch sees no GPU (CI); ``benchmarks/gpu_check.sh`` runs them on a machine with one.
None of them needs OpenCV's contrib modules, which such a machine may lack.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_diffusion_fused import random_problem

import flowinpaint
from flowinpaint.data import make_example, uniform_mask
from flowinpaint.diffusion import Stencil, fsi_cycle, pixel_time_step
from flowinpaint.diffusion.fused import fused_available, fused_fsi_cycle
from flowinpaint.models import ModelConfig, NeuroexplicitInpainting
from flowinpaint.models.deploy import export_network, with_network
from flowinpaint.train.objective import epe_loss

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def sparse_problem(seed: int, size: tuple[int, int] = (96, 128)) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    example = make_example(size, seed)
    known = uniform_mask(example["valid"], 0.05, seed + 1)
    return np.where(known[..., None], example["flow"], 0).astype(np.float32), known, example["image1"], example["flow"]


def test_neuroexplicit_on_cuda_gives_the_cpu_flow():
    flow, known, image, _ = sparse_problem(0)
    on_cpu = flowinpaint.inpaint(flow, known, image, method="neuroexplicit", bfloat16=False)
    on_gpu = flowinpaint.inpaint(flow, known, image, method="neuroexplicit", device="cuda", bfloat16=False)
    assert np.abs(on_gpu - on_cpu).mean() < 1e-4
    assert np.abs(on_gpu - on_cpu).max() < 1e-2  # float32 with other kernels (cuDNN, Triton), FSI-amplified
    np.testing.assert_array_equal(on_gpu[known], flow[known])


def test_the_default_method_on_cuda_gives_the_cpu_flow():
    flow, known, image, _ = sparse_problem(1)
    on_cpu = flowinpaint.inpaint(flow, known, image)
    on_gpu = flowinpaint.inpaint(flow, known, image, device="cuda")
    gap = np.linalg.norm(on_gpu - on_cpu, axis=-1)
    assert np.median(gap) < 1e-4 and gap.mean() < 2e-3  # float32 filters of another order: conditioning
    np.testing.assert_array_equal(on_gpu[known], flow[known])


def test_the_precision_chosen_on_cuda_keeps_the_accuracy():
    flow, known, image, truth = sparse_problem(1)
    float32 = flowinpaint.epe(flowinpaint.inpaint(flow, known, image, method="neuroexplicit", device="cuda",
                                                  bfloat16=False), truth)
    chosen = flowinpaint.epe(flowinpaint.inpaint(flow, known, image, method="neuroexplicit", device="cuda"), truth)
    assert chosen <= 1.02 * float32


def test_inpaint_batch_on_cuda_equals_each_frame():
    problems = [sparse_problem(seed) for seed in range(3)]
    flows, masks, images = ([p[k] for p in problems] for k in range(3))
    batched = flowinpaint.inpaint_batch(flows, masks, images, method="neuroexplicit", device="cuda", bfloat16=False)
    for flow, known, image, result in zip(flows, masks, images, batched, strict=True):
        single = flowinpaint.inpaint(flow, known, image, method="neuroexplicit", device="cuda", bfloat16=False)
        np.testing.assert_allclose(result, single, rtol=1e-5, atol=1e-4)


@pytest.mark.skipif(not fused_available(), reason="no compiler for the compiled kernels")
def test_compiled_cycle_on_cuda_matches_the_eager_cycle_and_its_gradients():
    stencil, _, known, data, start = random_problem((33, 47), seed=5)
    stencil = Stencil(*(weight.float().cuda() for weight in stencil))
    known, data, start = known.cuda(), data.float().cuda(), start.float().cuda()
    tau = pixel_time_step(stencil)
    weights = [weight.clone().requires_grad_() for weight in stencil]
    probe = torch.randn(start.shape, generator=torch.Generator().manual_seed(2)).cuda()
    results = []
    for cycle in (fused_fsi_cycle, fsi_cycle):
        end = cycle(start, Stencil(*weights), tau, 12, known, data)
        gradients = torch.autograd.grad((end * probe).sum(), weights)
        results.append((end.detach(), gradients))
    (fused_end, fused_gradients), (eager_end, eager_gradients) = results
    torch.testing.assert_close(fused_end, eager_end, rtol=1e-4, atol=1e-5)
    for fused_gradient, eager_gradient in zip(fused_gradients, eager_gradients, strict=True):
        torch.testing.assert_close(fused_gradient, eager_gradient, rtol=1e-3, atol=1e-4)


def test_a_training_step_on_cuda_gives_the_cpu_loss_and_gradients():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 64, 64, generator=generator)
    truth = torch.randn(2, 2, 64, 64, generator=generator)
    known = torch.rand(2, 1, 64, 64, generator=generator) < 0.05
    torch.manual_seed(0)
    model = NeuroexplicitInpainting(ModelConfig(width=8, steps=(3, 3, 3, 3)))
    outcomes = []
    for device in ("cpu", "cuda"):
        here = model.to(device)
        here.zero_grad()
        arguments = [tensor.to(device) for tensor in (image, truth, known)]
        loss = epe_loss(here(arguments[0], arguments[1].masked_fill(~arguments[2], 0), arguments[2]), arguments[1],
                        torch.ones_like(arguments[2]))
        loss.backward()
        outcomes.append((float(loss.detach()), [parameter.grad.detach().cpu().clone() for parameter in here.parameters()]))
    (cpu_loss, cpu_gradients), (gpu_loss, gpu_gradients) = outcomes
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-4)
    for cpu_gradient, gpu_gradient in zip(cpu_gradients, gpu_gradients, strict=True):
        torch.testing.assert_close(gpu_gradient, cpu_gradient, rtol=2e-2, atol=1e-5)


def test_the_network_exported_on_cuda_gives_the_same_flow():
    model = flowinpaint.load_model().cuda().eval()
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 70, 100, generator=generator).cuda()
    flow = torch.randn(1, 2, 70, 100, generator=generator).cuda()
    known = (torch.rand(1, 1, 70, 100, generator=generator) < 0.05).cuda()
    deployed = with_network(model, export_network(model, 70, 100))
    with torch.no_grad():
        expected = model(image, flow, known, bfloat16=False)
        found = deployed(image, flow, known)
    assert float((found - expected).abs().max()) <= 1e-4


@pytest.mark.parametrize("method", ["flownets", "wgain", "pd"])
def test_the_learned_baselines_run_on_cuda(method):
    flow, known, image, _ = sparse_problem(2, (64, 96))
    options = {"steps": 4} if method == "pd" else {}
    on_gpu = flowinpaint.inpaint(flow, known, image, method=method, device="cuda", **options)
    assert on_gpu.shape == flow.shape and np.isfinite(on_gpu).all()
    np.testing.assert_array_equal(on_gpu[known], flow[known])
    if method != "pd":  # pd samples noise: the devices draw different numbers
        on_cpu = flowinpaint.inpaint(flow, known, image, method=method, **options)
        assert np.abs(on_gpu - on_cpu).mean() < 1e-3
