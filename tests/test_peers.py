"""The peer adapters (epic, ric, fbs, griddata): output contract, accuracy, and the guards around
their libraries' sharp edges."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import inpaint_checked

from flowinpaint import epe, inpaint, method_names
from flowinpaint.data import make_example, uniform_mask
from flowinpaint.methods import get_method
from flowinpaint.methods.peers import epic as epic_peer
from flowinpaint.methods.peers import fbs as fbs_peer
from flowinpaint.methods.peers import ric as ric_peer
from flowinpaint.methods.peers.epic import MAX_MATCHES, uniform_subset

PEERS = ["epic", "ric", "fbs", "griddata"]
FBS_MISSING = "this OpenCV build has no fastBilateralSolverFilter (compiled without Eigen)"


def example(density: float = 0.05, size: tuple[int, int] = (96, 128), seed: int = 0):
    """``(flow, mask, image)`` of a synthetic example with ``density`` known pixels."""
    sample = make_example(size, seed)
    return sample["flow"], uniform_mask(sample["valid"], density, seed), sample["image1"]


def random_mask(count: int, shape: tuple[int, int] = (96, 128), seed: int = 0) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask.flat[np.random.default_rng(seed).choice(mask.size, count, replace=False)] = True
    return mask


def skip_without_fbs(method: str) -> None:
    if method == "fbs" and not fbs_peer.available():
        pytest.skip(FBS_MISSING)


def test_registry_lists_the_peers() -> None:
    assert set(PEERS) <= set(method_names())
    for name in PEERS:
        assert "peer" in get_method(name).summary
        assert get_method(name).needs_image == (name != "griddata")


@pytest.mark.parametrize("method", PEERS)
def test_output_contract_and_accuracy(method: str) -> None:
    skip_without_fbs(method)
    flow, mask, image = example()
    dense = inpaint_checked(method, flow, mask, image)
    assert epe(dense, flow) < 0.6 * epe(np.zeros_like(flow), flow)


@pytest.mark.parametrize("method", PEERS)
def test_unknown_option_is_rejected(method: str) -> None:
    flow, mask, image = example()
    with pytest.raises(ValueError, match="has no option"):
        inpaint(flow, mask, image, method=method, no_such_option=1)


@pytest.mark.parametrize("method", ["epic", "ric"])
def test_too_few_matches_is_a_clear_error(method: str) -> None:
    flow, _, image = example()
    with pytest.raises(ValueError, match=f"{method} needs at least 3 known pixels"):
        inpaint(flow, random_mask(2), image, method=method)


@pytest.mark.parametrize(("method", "k"), [("epic", 128), ("epic", 1000), ("ric", 32), ("ric", 1000)])
def test_k_above_the_match_count_is_clamped(method: str, k: int) -> None:
    flow, _, image = example()
    mask = random_mask(12)
    dense = inpaint(flow, mask, image, method=method, k=k)
    assert np.isfinite(dense).all()
    assert np.array_equal(dense[mask], flow[mask])


def test_epic_constant_flow_is_reproduced_exactly() -> None:
    _, mask, image = example()
    constant = np.broadcast_to(np.float32([2.0, -1.0]), (96, 128, 2)).copy()
    assert np.array_equal(inpaint(constant, mask, image, method="epic"), constant)


def test_epic_piecewise_constant_flow_has_no_spurious_zeros() -> None:
    _, mask, image = example(0.1)
    rows, cols = np.mgrid[:96, :128]
    inside = (cols - 64) ** 2 + (rows - 48) ** 2 < 25**2
    flow = np.where(inside[..., None], np.float32([3, -2]), np.float32([-1, 1])).astype(np.float32)
    dense = inpaint(flow, mask, image, method="epic", use_post_processing=False)
    assert not np.all(dense == 0, axis=-1).any()
    assert epe(dense, flow) < 0.5  # stock EPIC: 0.97 px, 42 % of the pixels exactly zero


def test_epic_collinear_matches_raise_instead_of_a_zero_field() -> None:
    flow, _, image = example()
    mask = np.zeros((96, 128), dtype=bool)
    mask[40, ::5] = True
    with pytest.raises(RuntimeError, match="epic"):
        inpaint(flow, mask, image, method="epic")


def unfittable_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An affine flow known in a random cloud on the left and on one row on the right: with
    ``k=8`` EPIC fits no affine model around the row (its neighbours are collinear)."""
    rows, cols = np.mgrid[:96, :128].astype(np.float32)
    flow = np.stack([1 + 0.02 * cols - 0.01 * rows, 2 - 0.02 * rows + 0.015 * cols], axis=-1)
    mask = np.zeros((96, 128), dtype=bool)
    mask[:, :40] = np.random.default_rng(0).random((96, 40)) < 0.1
    mask[70, 60::4] = True
    return flow.astype(np.float32), mask, make_example((96, 128), 0)["image1"]


def test_epic_fills_what_it_cannot_fit_when_asked() -> None:
    flow, mask, image = unfittable_problem()
    with pytest.raises(RuntimeError, match="fill_unfitted=True"):
        inpaint(flow, mask, image, method="epic", k=8)
    dense = inpaint(flow, mask, image, method="epic", k=8, fill_unfitted=True)
    assert np.isfinite(dense).all() and not np.all(dense == 0, axis=-1).any()
    assert np.array_equal(dense[mask], flow[mask])
    with pytest.raises(ValueError, match="fill_unfitted"):
        inpaint(flow, mask, image, method="epic", fill_unfitted="yes")


def test_epic_fill_is_the_harmonic_interpolant() -> None:
    rows, cols = np.mgrid[:64, :80].astype(np.float32)
    affine = np.stack([0.5 + 0.03 * cols - 0.02 * rows, -1 + 0.01 * cols + 0.04 * rows], axis=-1).astype(np.float32)
    hole = np.zeros((64, 80), dtype=bool)
    hole[10:40, 20:70] = True
    field = np.where(hole[..., None], np.float32(0), affine)
    filled = epic_peer._laplace_filled(field, hole)  # an affine field is harmonic: its own fill
    assert np.array_equal(filled[~hole], affine[~hole])
    assert np.abs(filled - affine).max() < 1e-3


def test_epic_beyond_its_match_cap() -> None:
    sample = make_example((200, 200), 0)
    mask = uniform_mask(sample["valid"], 0.9, 0)
    assert mask.sum() > MAX_MATCHES
    dense = inpaint(sample["flow"], mask, sample["image1"], method="epic")
    assert np.isfinite(dense).all()
    assert epe(dense, sample["flow"]) < 0.2 * epe(np.zeros_like(dense), sample["flow"])


def test_epic_with_fewer_matches_keeps_every_known_value_and_nearly_its_accuracy() -> None:
    flow, mask, image = example(density=0.3)
    full = inpaint(flow, mask, image, method="epic")
    fewer = inpaint(flow, mask, image, method="epic", max_matches=2000)  # of ~3700
    assert np.array_equal(fewer[mask], flow[mask])
    assert not np.array_equal(fewer, full)
    assert epe(fewer, flow) < 1.5 * epe(full, flow)  # measured 1.2x
    for bad in (2, MAX_MATCHES + 1, 1.5):
        with pytest.raises(ValueError, match="max_matches must be"):
            inpaint(flow, mask, image, method="epic", max_matches=bad)


def test_uniform_subset_is_deterministic_and_spread_out() -> None:
    rows, cols = np.mgrid[:120, :160]
    points = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(np.float32)
    picks = uniform_subset(points, 4800)  # a quarter
    assert np.array_equal(picks, uniform_subset(points, 4800))
    assert len(np.unique(picks)) == 4800 and np.all(np.diff(picks) > 0)
    blocks = np.zeros((6, 8), dtype=int)  # 20x20 blocks of 400 pixels, about 100 picks each
    np.add.at(blocks, (points[picks, 1].astype(int) // 20, points[picks, 0].astype(int) // 20), 1)
    assert blocks.min() >= 90 and blocks.max() <= 110
    assert np.array_equal(uniform_subset(points[:10], 20), np.arange(10))


def test_ric_rejects_variational_refinement() -> None:
    flow, mask, image = example()
    with pytest.raises(ValueError, match="second frame"):
        inpaint(flow, mask, image, method="ric", use_variational_refinement=True)


def test_ric_rejects_more_support_matches_than_k() -> None:
    flow, mask, image = example()
    with pytest.raises(ValueError, match="superpixel_nn_count"):
        inpaint(flow, mask, image, method="ric", superpixel_nn_count=150)


def test_ric_recovers_from_its_support_heap_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    flow, _, image = example()
    mask = random_mask(100)  # OpenCV's support search overflows on this input (opencv_contrib#3227)
    calls = []
    interpolate = ric_peer.interpolate_matches

    def spy(*args, **kwargs):
        calls.append(len(args[2]))
        return interpolate(*args, **kwargs)

    monkeypatch.setattr(ric_peer, "interpolate_matches", spy)
    dense = inpaint(flow, mask, image, method="ric")
    assert calls == [100, 1 + 32 * 31]  # the stock call, then the padded one
    assert np.isfinite(dense).all()
    assert epe(dense, flow) < epe(np.zeros_like(flow), flow)


def test_ric_is_deterministic_and_restores_opencv_threads() -> None:
    flow, mask, image = example()
    threads = cv2.getNumThreads()
    first = inpaint(flow, mask, image, method="ric")
    assert cv2.getNumThreads() == threads
    assert np.array_equal(first, inpaint(flow, mask, image, method="ric"))


@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
def test_griddata_fills_outside_the_convex_hull(interpolation: str) -> None:
    flow, _, _ = example()
    mask = np.zeros((96, 128), dtype=bool)
    mask[30:70:4, 40:90:4] = True
    dense = inpaint(flow, mask, method="griddata", interpolation=interpolation)
    assert np.isfinite(dense).all()
    assert np.array_equal(dense[0, 0], flow[30, 40])  # a corner takes its nearest known pixel


def test_griddata_without_a_triangulation_falls_back_to_nearest() -> None:
    flow, _, _ = example()
    mask = np.zeros((96, 128), dtype=bool)
    mask[40, ::5] = True
    with pytest.warns(UserWarning, match="falls back to 'nearest'"):
        dense = inpaint(flow, mask, method="griddata")
    assert np.array_equal(dense, inpaint(flow, mask, method="griddata", interpolation="nearest"))


def test_fbs_without_eigen_says_so() -> None:
    if fbs_peer.available():
        pytest.skip("this OpenCV build has the fast bilateral solver")
    flow, mask, image = example()
    with pytest.raises(ValueError, match="cannot run here: .*Eigen"):
        inpaint(flow, mask, image, method="fbs")


def test_fbs_fills_pixels_no_data_reaches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter's own logic, with a stand-in solver whose right half is unreached."""
    flow, mask, image = example()

    def solver(guide, source, confidence, options):
        assert source.shape == (96, 128, 3) and np.array_equal(source[..., 2], confidence)
        solved = np.zeros_like(source)
        solved[:, :64] = (1.5, -0.5, 1.0)
        return solved

    monkeypatch.setattr(fbs_peer, "_solve", solver)
    monkeypatch.setattr(fbs_peer, "available", lambda: True)  # the stand-in needs no Eigen
    dense = inpaint(flow, mask, image, method="fbs")
    assert np.array_equal(dense[~mask], np.broadcast_to(np.float32([1.5, -0.5]), dense[~mask].shape))
