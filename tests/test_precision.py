"""The bfloat16-or-float32 choice: measured once per machine, cached, overridable."""

from __future__ import annotations

import json
import math

import pytest
import torch

from flowinpaint.models import precision


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder and no remembered answers."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(precision.OVERRIDE_VARIABLE, raising=False)
    precision._cached_speedup.cache_clear()
    yield tmp_path / "flowinpaint" / precision.CACHE_NAME
    precision._cached_speedup.cache_clear()


def test_the_measurement_is_a_positive_ratio_of_the_two_timings():
    speedup = precision.bfloat16_speedup("cpu")
    assert math.isfinite(speedup) and speedup > 0


@pytest.mark.parametrize(("speedup", "expected"), [(3.0, True), (1.0, False), (0.05, False)])
def test_the_choice_follows_the_measurement_and_is_cached(fresh_cache, monkeypatch, speedup, expected):
    calls = []
    monkeypatch.setattr(precision, "bfloat16_speedup", lambda device: calls.append(device) or speedup)
    assert precision.fast_bfloat16("cpu") is expected
    assert len(calls) == 1
    stored = json.loads(fresh_cache.read_text())
    assert list(stored.values()) == [speedup]
    precision._cached_speedup.cache_clear()  # a new process: the file answers, nothing is measured again
    monkeypatch.setattr(precision, "bfloat16_speedup", lambda device: pytest.fail("measured twice"))
    assert precision.fast_bfloat16("cpu") is expected


def test_another_thread_count_is_measured_anew(fresh_cache, monkeypatch):
    monkeypatch.setattr(precision, "bfloat16_speedup", lambda device: 2.0)
    precision.fast_bfloat16("cpu")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        monkeypatch.setattr(precision, "bfloat16_speedup", lambda device: 0.5)
        assert precision.fast_bfloat16("cpu") is False
    finally:
        torch.set_num_threads(threads)
    assert sorted(json.loads(fresh_cache.read_text()).values()) == [0.5, 2.0]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"x": "fast"}', ""])
def test_a_corrupt_cache_is_measured_again_and_replaced(fresh_cache, monkeypatch, content):
    fresh_cache.parent.mkdir(parents=True)
    fresh_cache.write_text(content)
    monkeypatch.setattr(precision, "bfloat16_speedup", lambda device: 2.0)
    assert precision.fast_bfloat16("cpu") is True
    assert 2.0 in json.loads(fresh_cache.read_text()).values()


def test_the_environment_overrides_without_measuring(fresh_cache, monkeypatch):
    monkeypatch.setattr(precision, "bfloat16_speedup", lambda device: pytest.fail("measured"))
    monkeypatch.setenv(precision.OVERRIDE_VARIABLE, "1")
    assert precision.fast_bfloat16("cpu") is True
    monkeypatch.setenv(precision.OVERRIDE_VARIABLE, "0")
    assert precision.fast_bfloat16("cpu") is False
    monkeypatch.setenv(precision.OVERRIDE_VARIABLE, "yes")
    with pytest.raises(ValueError, match="FLOWINPAINT_BFLOAT16 must be 0 or 1"):
        precision.fast_bfloat16("cpu")
    assert not fresh_cache.exists()


def test_the_neuroexplicit_method_uses_the_measured_choice(fresh_cache, monkeypatch):
    from flowinpaint.methods import neuroexplicit

    chosen = []
    monkeypatch.setattr(precision, "bfloat16_speedup", lambda device: 0.1)
    monkeypatch.setattr(neuroexplicit, "run_network", lambda *args, bfloat16, **kwargs: chosen.append(bfloat16))
    problem = neuroexplicit.Problem(torch.zeros(1, 2, 32, 32), torch.ones(1, 1, 32, 32, dtype=torch.bool),
                                    torch.zeros(1, 3, 32, 32))
    neuroexplicit.run(problem, neuroexplicit.NeuroexplicitOptions())
    neuroexplicit.run(problem, neuroexplicit.NeuroexplicitOptions(bfloat16=True))
    assert chosen == [False, True]
