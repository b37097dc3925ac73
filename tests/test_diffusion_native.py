"""The native C kernel of the FSI cycle computes what the torch kernels do, and falls back cleanly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from test_diffusion_fused import random_problem

from flowinpaint.diffusion import (
    Stencil,
    fsi_cycle,
    fsi_weights,
    native,
    pixel_time_step,
    solve_to_convergence,
    www_time_step,
)
from flowinpaint.diffusion.fused import (
    EAGER,
    _forward_cycle,
    fused_fsi_cycle,
    fused_solve_to_convergence,
    pad_stencil,
)
from flowinpaint.diffusion.native import native_fsi_cycle, native_library

needs_native = pytest.mark.skipif(native_library() is None, reason="no C compiler for the native kernel")


def float32_problem(shape: tuple[int, int], seed: int, batch: int = 1):
    problems = [random_problem(shape, seed + index) for index in range(batch)]
    stencil = Stencil(*(torch.cat([p[0][k] for p in problems]).float() for k in range(4)))
    alpha, known, data, start = (torch.cat([p[k] for p in problems]) for k in range(1, 5))
    return stencil, alpha.float(), known, data.float(), start.float()


@needs_native
@pytest.mark.parametrize("time_step", ["scalar", "per_pixel"])
@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (17, 30)])
def test_native_cycle_and_iterates_match_the_eager_cycle(time_step: str, shape: tuple[int, int]) -> None:
    stencil, alpha, known, data, start = float32_problem(shape, seed=3, batch=2)
    tau = www_time_step(alpha) if time_step == "scalar" else pixel_time_step(stencil)
    steps = torch.tensor(fsi_weights(9))
    weights = pad_stencil(stencil)
    expected_iterates: list[torch.Tensor] = []
    expected = _forward_cycle(EAGER, start, weights, tau, steps, known, data, expected_iterates)
    end, iterates = native_fsi_cycle(start, weights, tau, steps, known, data, keep_iterates=True)
    torch.testing.assert_close(end, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(iterates, torch.stack(expected_iterates), rtol=1e-5, atol=1e-5)
    assert torch.equal(end[known.expand_as(end)], data[known.expand_as(data)])
    torch.testing.assert_close(end, fsi_cycle(start, stencil, tau, 9, known, data), rtol=1e-4, atol=1e-4)


@needs_native
@pytest.mark.parametrize("time_step", ["scalar", "per_pixel"])
@pytest.mark.parametrize(("tol", "max_steps"), [(1e-5, 100_000), (1e-5, 40), (10.0, 100)])
def test_native_solve_runs_the_cycles_and_stops_as_the_python_loop(time_step: str, tol: float, max_steps: int) -> None:
    """The whole loop in C: the same cycles (growing, rounded as Python rounds), the same stopping
    test (converged, out of steps, or converged at the start) and the same solution."""
    stencil, alpha, known, data, start = float32_problem((23, 31), seed=5, batch=2)
    tau = www_time_step(alpha) if time_step == "scalar" else pixel_time_step(stencil)
    options = {"cycle_steps": 7, "growth": 1.5, "max_cycle_steps": 30, "tol": tol, "max_steps": max_steps}
    expected, expected_info = solve_to_convergence(start, stencil, tau, known, data, cycle=fused_fsi_cycle, **options)
    solution, info = fused_solve_to_convergence(start, stencil, tau, known, data, **options)
    assert (info.cycles, info.steps, info.converged) == (expected_info.cycles, expected_info.steps, expected_info.converged)
    assert info.residual == pytest.approx(expected_info.residual, rel=1e-3, abs=1e-6)
    torch.testing.assert_close(solution, expected, rtol=1e-5, atol=1e-5)
    assert (info.cycles > 0) == (tol < 1.0)


@needs_native
def test_native_cycle_does_not_depend_on_the_thread_count() -> None:
    stencil, alpha, known, data, start = float32_problem((40, 57), seed=8, batch=2)
    arguments = (start, pad_stencil(stencil), www_time_step(alpha), torch.tensor(fsi_weights(12)), known, data)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, _ = native_fsi_cycle(*arguments)
        torch.set_num_threads(2)
        two, _ = native_fsi_cycle(*arguments)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


@needs_native
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("time_step", ["scalar", "per_pixel"])
@pytest.mark.parametrize(("shape", "steps"), [((48, 37), 21), ((16, 9), 8), ((101, 33), 13), ((15, 20), 5)])
def test_the_blocked_cycle_is_the_step_by_step_cycle_bit_for_bit(threads: int, time_step: str, shape: tuple[int, int],
                                                                 steps: int) -> None:
    """Without iterates to keep, the cycle runs several steps per pass over bands of rows (a
    wavefront per thread, triangles between the bands); keeping the iterates runs it one pass a
    step. Cycles shorter and longer than a block, one to three bands, and images too short for
    a band (15 rows) all give exactly the same numbers."""
    stencil, alpha, known, data, start = float32_problem(shape, seed=11, batch=2)
    tau = www_time_step(alpha) if time_step == "scalar" else pixel_time_step(stencil)
    arguments = (start, pad_stencil(stencil), tau, torch.tensor(fsi_weights(steps)), known, data)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        blocked, _ = native_fsi_cycle(*arguments)
        stepwise, _ = native_fsi_cycle(*arguments, keep_iterates=True)
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(blocked, stepwise)


@needs_native
@pytest.mark.parametrize("time_step", ["scalar", "per_pixel"])
@pytest.mark.parametrize("keep_iterates", [False, True])
def test_a_flows_two_channels_in_one_loop_equal_each_channel_alone(time_step: str, keep_iterates: bool) -> None:
    """Two channels (a flow's u and v) share one loop that reads each pixel's weights once; every
    channel gets exactly the numbers it gets when stepped alone, blocked or one pass a step."""
    stencil, alpha, known, data, start = float32_problem((37, 29), seed=17, batch=2)
    tau = www_time_step(alpha) if time_step == "scalar" else pixel_time_step(stencil)
    weights, steps = pad_stencil(stencil), torch.tensor(fsi_weights(19))
    together, _ = native_fsi_cycle(start, weights, tau, steps, known, data, keep_iterates=keep_iterates)
    for channel in range(2):
        alone, _ = native_fsi_cycle(start[:, channel:channel + 1].contiguous(), weights, tau, steps, known,
                                    data[:, channel:channel + 1].contiguous(), keep_iterates=keep_iterates)
        assert torch.equal(together[:, channel:channel + 1], alone)


@needs_native
@pytest.mark.parametrize("time_step", ["scalar", "per_pixel"])
@pytest.mark.parametrize(("shape", "channels"), [((5, 3), 2), ((9, 16), 2), ((12, 17), 1), ((20, 33), 2),
                                                 ((11, 47), 3), ((19, 100), 2)])
def test_the_vectorised_row_step_is_the_portable_one_bit_for_bit(monkeypatch: pytest.MonkeyPatch, time_step: str,
                                                                 shape: tuple[int, int], channels: int) -> None:
    """Where the compiler targets AVX-512, ``fsi_kernel.c`` steps the rows of one or two channels
    in registers (``step_row_avx512``); built with ``PORTABLE_STEP`` it runs the plain C loop
    everywhere. Rows shorter than, as long as and longer than its 16-float blocks, one to three
    channels, a first step that reads the data (the start differs from it at known pixels), blocked
    and one pass a step: exactly the same numbers (elsewhere both builds are the plain loop)."""
    portable = native_library("PORTABLE_STEP")
    assert portable is not None
    stencil, alpha, known, data, start = float32_problem(shape, seed=23, batch=2)
    start, data = (torch.cat([field, 0.5 * field], dim=1)[:, :channels].contiguous() for field in (start, data))
    assert not torch.equal(start[known.expand_as(start)], data[known.expand_as(data)])
    tau = www_time_step(alpha) if time_step == "scalar" else pixel_time_step(stencil)
    arguments = (start, pad_stencil(stencil), tau, torch.tensor(fsi_weights(13)), known, data)
    for keep_iterates in (False, True):
        vectorised, vectorised_iterates = native_fsi_cycle(*arguments, keep_iterates=keep_iterates)
        with monkeypatch.context() as patched:
            patched.setattr(native, "native_library", lambda *defines: portable)
            plain, plain_iterates = native_fsi_cycle(*arguments, keep_iterates=keep_iterates)
        assert torch.equal(vectorised, plain)
        assert (vectorised_iterates is None and plain_iterates is None) or torch.equal(vectorised_iterates, plain_iterates)


@needs_native
def test_training_through_the_native_forward_matches_autograd() -> None:
    stencil, alpha, known, data, start = float32_problem((12, 15), seed=4)
    tau = www_time_step(alpha)
    inputs = [start.clone().requires_grad_(), data.clone().requires_grad_(), *(w.clone().requires_grad_() for w in stencil)]
    probe = torch.randn(start.shape, generator=torch.Generator().manual_seed(1))

    def gradients(cycle) -> tuple[torch.Tensor, ...]:
        return torch.autograd.grad((cycle(inputs[0], Stencil(*inputs[2:]), inputs[1]) * probe).sum(), inputs)

    fused = gradients(lambda u, s, d: fused_fsi_cycle(u, s, tau, 7, known, d, compiled=True))
    reference = gradients(lambda u, s, d: fsi_cycle(u, s, tau, 7, known, d))
    for got, expected in zip(fused, reference):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_float64_and_fallback_use_the_torch_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    stencil, alpha, known, data, start = random_problem((9, 11), seed=2)  # float64: never native
    tau = www_time_step(alpha)
    expected = fsi_cycle(start, stencil, tau, 8, known, data)
    torch.testing.assert_close(fused_fsi_cycle(start, stencil, tau, 8, known, data), expected, rtol=1e-10, atol=1e-12)
    monkeypatch.setattr("flowinpaint.diffusion.fused.native_applicable", lambda *tensors: False)
    stencil32, alpha32, known32, data32, start32 = float32_problem((9, 11), seed=2)
    result = fused_fsi_cycle(start32, stencil32, www_time_step(alpha32), 8, known32, data32, compiled=True)
    torch.testing.assert_close(result, expected.float(), rtol=1e-4, atol=1e-5)


def test_a_failing_build_warns_once_and_reports_no_library(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing = tmp_path / "cc"
    failing.write_text("#!/bin/sh\necho 'cc: error: no such thing' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("CC", str(failing))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    native_library.cache_clear()
    try:
        with pytest.warns(UserWarning, match="native FSI kernel unavailable.*no such thing"):
            assert native_library() is None
        assert not list((tmp_path / "cache").rglob("*.so"))  # nothing half-written
        with pytest.raises(RuntimeError, match="float32 CPU tensors"):
            stencil, alpha, known, data, start = float32_problem((4, 5), seed=1)
            native_fsi_cycle(start, pad_stencil(stencil), www_time_step(alpha), torch.tensor([1.0]), known, data)
    finally:
        native_library.cache_clear()


@needs_native
def test_the_library_is_built_once_into_the_cache(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    native_library.cache_clear()
    try:
        assert native_library() is not None
        built = list((tmp_path / "flowinpaint").glob("fsi_kernel-*.so"))
        assert len(built) == 1
        stamp = built[0].stat().st_mtime_ns
        native_library.cache_clear()
        assert native_library() is not None and built[0].stat().st_mtime_ns == stamp  # reused, not rebuilt
    finally:
        native_library.cache_clear()
    assert native.SOURCE.exists()


def test_methods_compile_at_any_size_where_the_native_kernel_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowinpaint.methods.explicit import use_compiled

    assert use_compiled(False, 2000, 2000, float32_cpu=True) is False and use_compiled(True, 4, 4, float32_cpu=False) is True
    assert use_compiled(None, 4, 4, float32_cpu=True) is (native_library() is not None)
    # float64 or a GPU: no native kernel, so no per-size compilation on small frames
    assert use_compiled(None, 4, 4, float32_cpu=False) is False and use_compiled(None, 512, 512, float32_cpu=False) is True
    monkeypatch.setattr("flowinpaint.methods.explicit.native_library", lambda: None)
    assert use_compiled(None, 4, 4, float32_cpu=True) is False and use_compiled(None, 512, 512, float32_cpu=True) is True


@needs_native
def test_a_run_on_the_native_kernel_does_not_import_the_compiler():
    """TorchInductor's import alone takes seconds: the first eed call paid them although the native kernel ran."""
    script = (
        "import sys, numpy as np, flowinpaint\n"
        "from flowinpaint.data import make_example, uniform_mask\n"
        "example = make_example((64, 96), seed=0)\n"
        "known = uniform_mask(example['valid'], 0.05, seed=0)\n"
        "flowinpaint.inpaint(example['flow'], known, example['image1'], method='eed')\n"
        "flowinpaint.inpaint(example['flow'], known, example['image1'], method='neuroexplicit')\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@needs_native
def test_the_blocked_cycle_sweeps_every_band_when_the_runtime_gives_fewer_threads():
    """An OpenMP runtime may give a team smaller than asked for (here ``OMP_THREAD_LIMIT=1`` with 3
    threads asked for, so 3 bands): the one thread then sweeps every band, bit for bit as before."""
    script = (
        "import torch\n"
        "from flowinpaint.diffusion import fsi_weights, pixel_time_step, www_stencil\n"
        "from flowinpaint.diffusion.fused import pad_stencil\n"
        "from flowinpaint.diffusion.native import native_fsi_cycle\n"
        "from flowinpaint.diffusion.tensor import DiffusionTensor\n"
        "g = torch.Generator().manual_seed(0)\n"
        "a, c = (0.1 + torch.rand(1, 1, 59, 40, generator=g) for _ in range(2))\n"
        "stencil = www_stencil(DiffusionTensor(a, 0.05 * torch.randn(1, 1, 59, 40, generator=g), c), 0.2)\n"
        "start = torch.randn(2, 2, 60, 41, generator=g)\n"
        "known = torch.rand(2, 1, 60, 41, generator=g) < 0.05\n"
        "arguments = (start, pad_stencil(stencil), pixel_time_step(stencil), torch.tensor(fsi_weights(19)), known, start)\n"
        "torch.set_num_threads(3)\n"
        "blocked, _ = native_fsi_cycle(*arguments)\n"
        "stepwise, _ = native_fsi_cycle(*arguments, keep_iterates=True)\n"
        "print(torch.equal(blocked, stepwise), float((blocked - start).abs().max()) > 0)\n"
    )
    environment = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False,
                          env=environment)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
