"""``flowinpaint.inpaint_batch``: many frames, the networks on stacks, the same results as ``inpaint``."""

from __future__ import annotations

import numpy as np
import pytest

import flowinpaint
from flowinpaint import inpaint, inpaint_batch
from flowinpaint.data import make_example, uniform_mask
from flowinpaint.methods import get_method, neuroexplicit


def frames(sizes: list[tuple[int, int]], density: float = 0.05) -> tuple[list, list, list]:
    flows, masks, images = [], [], []
    for seed, size in enumerate(sizes):
        example = make_example(size=size, seed=seed)
        known = uniform_mask(example["valid"], density, seed=seed)
        flows.append(np.where(known[..., None], example["flow"], np.nan).astype(np.float32))
        masks.append(known)
        images.append(example["image1"])
    return flows, masks, images


@pytest.mark.parametrize("method", ["neuroexplicit", "flownets", "eed", "neuroaffine"])
def test_each_frame_is_what_inpaint_gives_also_in_stacks_of_mixed_sizes(method: str) -> None:
    """Three frames of one size and one of another, stacks of two: the network methods run stacks
    ``[0, 1]``, ``[3]`` and ``[2]``, the others one frame at a time; every result is ``inpaint``'s."""
    if get_method(method).unavailable() is not None:
        pytest.skip(get_method(method).unavailable())
    sizes = [(64, 96), (64, 96), (48, 80), (64, 96)]
    flows, masks, images = frames(sizes)
    results = inpaint_batch(flows, masks, images, method=method, batch_size=2)
    assert len(results) == len(sizes)
    for flow, mask, image, result, size in zip(flows, masks, images, results, sizes, strict=True):
        expected = inpaint(flow, mask, image, method=method)
        assert result.shape == (*size, 2) and result.dtype == np.float32
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-4)  # float32 convolutions of a stack
        if not get_method(method).judges_known:
            np.testing.assert_array_equal(result[mask], flow[mask])  # known values exact


def test_stacks_run_the_network_once_per_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batched path is taken: five frames of one size, stacks of at most two -> three runs of
    2, 2 and 1 frames."""
    method = get_method("neuroexplicit")
    if method.unavailable() is not None:
        pytest.skip(method.unavailable())
    seen: list[int] = []
    real_run_network = neuroexplicit.run_network

    def counting_run_network(problem, *arguments, **keywords):
        seen.append(problem.flow.shape[0])
        return real_run_network(problem, *arguments, **keywords)

    monkeypatch.setattr(neuroexplicit, "run_network", counting_run_network)
    flows, masks, images = frames([(48, 64)] * 5)
    inpaint_batch(flows, masks, images, method="neuroexplicit", batch_size=2)
    assert seen == [2, 2, 1]


def test_confidences_and_returned_confidences_are_per_frame() -> None:
    flows, masks, images = frames([(48, 64), (48, 64)], density=0.1)
    confidences = [np.where(masks[0], 0.9, 0.0), None]
    results = inpaint_batch(flows, masks, images, confidences=confidences, return_confidence=True)
    for flow, mask, image, confidence, (dense, estimated) in zip(flows, masks, images, confidences, results, strict=True):
        expected, expected_confidence = inpaint(flow, mask, image, confidence=confidence, return_confidence=True)
        np.testing.assert_array_equal(dense, expected)
        np.testing.assert_array_equal(estimated, expected_confidence)


def test_bad_batches_are_clear_errors() -> None:
    flows, masks, images = frames([(32, 48), (32, 48)])
    with pytest.raises(ValueError, match="masks has 1 entries for 2 flows"):
        inpaint_batch(flows, masks[:1], images)
    with pytest.raises(ValueError, match="images has 3 entries"):
        inpaint_batch(flows, masks, images + images[:1])
    broken = [masks[0], np.zeros_like(masks[1])]
    with pytest.raises(ValueError, match="^frame 1: mask is empty"):
        inpaint_batch(flows, broken, images)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        inpaint_batch(flows, masks, images, batch_size=0)
    with pytest.raises(ValueError, match="flows must be a sequence"):
        inpaint_batch(None, masks, images)
    with pytest.raises(ValueError, match="unknown method"):
        inpaint_batch(flows, masks, images, method="nope")
    with pytest.raises(ValueError, match="estimates no confidence"):
        inpaint_batch(flows, masks, images, method="eed", return_confidence=True)
    assert inpaint_batch([], [], []) == []
    assert flowinpaint.inpaint_batch is inpaint_batch
