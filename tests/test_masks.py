"""Mask samplers, feature-match and tracked-corner sparse flow, training densities and the by-name registry."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.spatial import cKDTree
from skimage import data

from flowinpaint import SparseFlow, points_to_sparse
from flowinpaint.data import (
    MASK_SAMPLERS,
    SPARSE_KINDS,
    clustered_mask,
    edge_mask,
    grid_mask,
    make_sparse,
    match_mask,
    occlusion_mask,
    sample_density,
    track_mask,
    uniform_mask,
)

SHIFT = (7, -4)  # (dx, dy) pixels of the synthetic second frame
DENSITIES = (1e-4, 0.01, 0.1, 0.5)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A textured ``(256, 256, 3)`` uint8 RGB photo."""
    return cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def valid() -> np.ndarray:
    """``(256, 256)`` bool with a hole and random invalid pixels."""
    rng = np.random.default_rng(5)
    valid = rng.random((256, 256)) > 0.2
    valid[40:120, 60:200] = False
    return valid


@pytest.fixture(scope="module")
def pair(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``image`` and a copy moved by ``SHIFT`` (frame 2 at ``x + dx, y + dy`` shows frame 1 at ``x, y``)."""
    return image, np.roll(image, (SHIFT[1], SHIFT[0]), axis=(0, 1))


@pytest.fixture(scope="module")
def sample(pair: tuple[np.ndarray, np.ndarray], valid: np.ndarray) -> dict:
    """A dataset sample whose ground truth is the constant ``SHIFT``."""
    flow = np.broadcast_to(np.array(SHIFT, np.float32), (*valid.shape, 2)).copy()
    return {"image1": pair[0], "image2": pair[1], "flow": flow, "valid": valid}


def exact_samplers(image: np.ndarray) -> dict:
    """The samplers with an exact count, as ``(valid, density, seed) -> mask``."""
    return {
        "uniform": uniform_mask,
        "clustered": clustered_mask,
        "edge": lambda valid, density, seed: edge_mask(image, valid, density, seed),
    }


def mean_nearest_neighbour(mask: np.ndarray) -> float:
    """Mean distance (pixels) from each known pixel to the nearest other one."""
    points = np.argwhere(mask)
    distances, _ = cKDTree(points).query(points, k=2)
    return float(distances[:, 1].mean())


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """Central-difference gradient magnitude of the grey image, independently of the package."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0
    gy, gx = np.gradient(grey)
    return np.hypot(gx, gy)


# --- counts, validity, determinism ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["uniform", "clustered", "edge"])
@pytest.mark.parametrize("density", DENSITIES)
def test_exact_count_on_valid_pixels(image: np.ndarray, valid: np.ndarray, kind: str, density: float) -> None:
    mask = exact_samplers(image)[kind](valid, density, 3)
    assert mask.shape == valid.shape and mask.dtype == np.bool_
    assert mask.sum() == max(1, round(density * valid.sum()))
    assert not (mask & ~valid).any()


@pytest.mark.parametrize("density", DENSITIES[1:])
def test_grid_count_is_about_the_surviving_fraction(valid: np.ndarray, density: float) -> None:
    mask = grid_mask(valid, density, seed=3, dropout=0.3)
    assert not (mask & ~valid).any()
    expected = 0.7 * density * valid.sum()
    assert abs(mask.sum() - expected) < 0.1 * expected + 4 * math.sqrt(expected)


def test_grid_without_dropout_has_the_target_density() -> None:
    valid = np.ones((300, 400), bool)
    mask = grid_mask(valid, 0.01, seed=0, dropout=0.0, jitter=0.0)
    assert mask.sum() == 30 * 40


def test_uniform_mask_keeps_its_draw(valid: np.ndarray) -> None:
    count = round(0.05 * valid.sum())
    chosen = np.random.default_rng(7).choice(np.flatnonzero(valid), size=count, replace=False)
    assert np.array_equal(np.flatnonzero(uniform_mask(valid, 0.05, 7)), np.sort(chosen))


@pytest.mark.parametrize("kind", ["uniform", "clustered", "edge", "grid"])
def test_deterministic_in_the_seed(image: np.ndarray, valid: np.ndarray, kind: str) -> None:
    sampler = {**exact_samplers(image), "grid": grid_mask}[kind]
    assert np.array_equal(sampler(valid, 0.02, 11), sampler(valid, 0.02, 11))
    assert not np.array_equal(sampler(valid, 0.02, 11), sampler(valid, 0.02, 12))


def test_single_valid_pixel_gives_it() -> None:
    valid = np.zeros((9, 9), bool)
    valid[4, 6] = True
    for mask in (
        uniform_mask(valid, 0.5),
        clustered_mask(valid, 0.5),
        edge_mask(np.zeros((9, 9, 3), np.uint8), valid, 0.5),
    ):
        assert np.array_equal(mask, valid)


# --- the layouts look like what they model --------------------------------------------------------


def test_clustered_masks_are_clumpier_than_uniform(valid: np.ndarray) -> None:
    for seed in range(3):
        clustered = mean_nearest_neighbour(clustered_mask(valid, 0.01, seed))
        uniform = mean_nearest_neighbour(uniform_mask(valid, 0.01, seed))
        assert clustered < 0.7 * uniform


def test_clustered_options_shape_the_clusters(valid: np.ndarray) -> None:
    tight = mean_nearest_neighbour(clustered_mask(valid, 0.01, 0, n_clusters=4, spread=3.0))
    loose = mean_nearest_neighbour(clustered_mask(valid, 0.01, 0, n_clusters=4, spread=30.0))
    assert tight < loose


def test_edge_masks_sit_on_stronger_gradients(image: np.ndarray, valid: np.ndarray) -> None:
    magnitude = gradient_magnitude(image)
    for seed in range(3):
        on_edges = magnitude[edge_mask(image, valid, 0.02, seed)].mean()
        anywhere = magnitude[uniform_mask(valid, 0.02, seed)].mean()
        assert on_edges > 1.5 * anywhere
    flat = magnitude[edge_mask(image, valid, 0.02, 0, bias=0.0)].mean()
    assert flat < magnitude[edge_mask(image, valid, 0.02, 0, bias=3.0)].mean()


def test_edge_mask_survives_a_huge_bias(image: np.ndarray, valid: np.ndarray) -> None:
    assert edge_mask(image, valid, 0.01, 0, bias=500.0).sum() == round(0.01 * valid.sum())


def lattice(length: int, step: float) -> np.ndarray:
    return (np.arange(length) + 0.5)[(np.arange(length) + 0.5) * step < length] * step


@pytest.mark.parametrize("jitter", [0.0, 0.3])
def test_grid_points_lie_on_the_jittered_lattice(jitter: float) -> None:
    valid = np.ones((200, 260), bool)
    density = 0.02
    step = 1 / math.sqrt(density)
    rows, cols = np.nonzero(grid_mask(valid, density, seed=4, dropout=0.3, jitter=jitter))
    for coordinate, length in ((rows, 200), (cols, 260)):
        centres = lattice(length, step)
        distance = np.abs(coordinate[:, None] + 0.5 - centres[None, :]).min(axis=1)
        assert distance.max() <= jitter * step + 0.5
    if jitter == 0.0:
        assert set(rows) <= set(np.floor(lattice(200, step)).astype(int))
    else:
        assert len(set(rows)) > 2 * len(lattice(200, step))  # the jitter did move points


# --- training densities ---------------------------------------------------------------------------


def test_sample_density_is_log_uniform() -> None:
    rng = np.random.default_rng(0)
    draws = np.array([sample_density(rng) for _ in range(4000)])
    assert draws.min() >= 0.005 and draws.max() <= 0.2
    assert abs(np.median(draws) / math.sqrt(0.005 * 0.2) - 1) < 0.1
    assert abs(np.mean(draws < 0.005 * 40**0.25) - 0.25) < 0.03  # first quarter of the log range
    assert sample_density(rng, 0.05, 0.05) == pytest.approx(0.05)


@pytest.mark.parametrize(
    "low, high, name",
    [(0.0, 0.1, "low"), (-0.1, 0.1, "low"), (0.1, 0.05, "high"), (0.01, 1.0, "high"), (float("nan"), 0.1, "low")],
)
def test_sample_density_rejects_bad_ranges(low: float, high: float, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        sample_density(np.random.default_rng(0), low, high)


def test_sample_density_needs_a_generator() -> None:
    with pytest.raises(ValueError, match="rng"):
        sample_density(0)


# --- feature matches ------------------------------------------------------------------------------


@pytest.mark.parametrize("detector, within", [("sift", 0.95), ("orb", 0.75)])
def test_matches_recover_a_known_shift(pair: tuple[np.ndarray, np.ndarray], detector: str, within: float) -> None:
    sparse = match_mask(*pair, detector=detector)
    assert isinstance(sparse, SparseFlow)
    assert sparse.flow.shape == (256, 256, 2) and sparse.flow.dtype == np.float32
    assert sparse.mask.sum() > 100
    assert not sparse.flow[~sparse.mask].any()
    error = np.linalg.norm(sparse.flow[sparse.mask] - np.array(SHIFT), axis=1)
    assert np.mean(error <= 1.0) > within
    assert np.any(error > 1e-3)  # the matcher's own errors, not the true shift written in


def test_matches_are_deterministic_and_capped(pair: tuple[np.ndarray, np.ndarray]) -> None:
    first, again = match_mask(*pair), match_mask(*pair)
    assert np.array_equal(first.mask, again.mask) and np.array_equal(first.flow, again.flow)
    capped = [match_mask(*pair, seed=seed, max_matches=50).mask for seed in (0, 0, 1)]
    assert 0 < capped[0].sum() <= 50 and not (capped[0] & ~first.mask).any()
    assert np.array_equal(capped[0], capped[1]) and not np.array_equal(capped[0], capped[2])


def test_stricter_tests_keep_fewer_matches(pair: tuple[np.ndarray, np.ndarray]) -> None:
    assert match_mask(*pair, ratio=0.5).mask.sum() < match_mask(*pair, ratio=0.9).mask.sum()


def test_no_match_raises() -> None:
    rng = np.random.default_rng(0)
    noise1, noise2 = (rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(2))
    with pytest.raises(ValueError, match="no sift match"):
        match_mask(noise1, noise2, ratio=0.3)
    with pytest.raises(ValueError, match="keypoints"):
        match_mask(np.full((64, 64, 3), 128, np.uint8), noise1[:64, :64])


# --- tracked corners ------------------------------------------------------------------------------


def test_tracks_recover_a_known_shift(pair: tuple[np.ndarray, np.ndarray]) -> None:
    sparse = track_mask(*pair)
    assert isinstance(sparse, SparseFlow)
    assert sparse.flow.shape == (256, 256, 2) and sparse.flow.dtype == np.float32
    assert sparse.mask.sum() > 100 and not sparse.flow[~sparse.mask].any()
    error = np.linalg.norm(sparse.flow[sparse.mask] - np.array(SHIFT), axis=1)
    assert np.mean(error <= 0.1) > 0.9  # Lucas-Kanade is sub-pixel accurate on a pure shift


def test_tracks_keep_the_trackers_mistakes(pair: tuple[np.ndarray, np.ndarray]) -> None:
    """A shift beyond the tracker's reach (no pyramid, a small window): it reports most corners
    found, and the values keep its errors: no test drops them."""
    far = np.roll(pair[0], (0, 40), axis=(0, 1))
    sparse = track_mask(pair[0], far, window=7, levels=0)
    error = np.linalg.norm(sparse.flow[sparse.mask] - np.array([40.0, 0.0]), axis=1)
    assert sparse.mask.sum() > 100 and np.mean(error > 3) > 0.5


def test_checked_tracks_are_those_that_track_back(pair: tuple[np.ndarray, np.ndarray]) -> None:
    """``fb_threshold`` keeps the corners that, tracked back, land that close to their start (the
    README's example, computed here with OpenCV directly), and drops most of a lost tracker's."""
    grey1, grey2 = (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in pair)
    points1 = cv2.goodFeaturesToTrack(grey1, maxCorners=2000, qualityLevel=0.01, minDistance=5)
    points2, status, _ = cv2.calcOpticalFlowPyrLK(grey1, grey2, points1, None)
    back, back_status, _ = cv2.calcOpticalFlowPyrLK(grey2, grey1, points2, None)
    found = (status.ravel() == 1) & (back_status.ravel() == 1)
    found &= np.linalg.norm((back - points1).reshape(-1, 2), axis=1) <= 0.05
    expected = SparseFlow(*points_to_sparse(points1[found].reshape(-1, 2), points2[found].reshape(-1, 2), grey1.shape))
    checked = track_mask(*pair, fb_threshold=0.05)
    assert np.array_equal(checked.mask, expected.mask) and np.array_equal(checked.flow, expected.flow)
    assert 0 < checked.mask.sum() < track_mask(*pair).mask.sum()
    far = np.roll(pair[0], (0, 40), axis=(0, 1))
    unchecked, kept = (track_mask(pair[0], far, window=7, levels=0, fb_threshold=fb) for fb in (None, 1.0))
    wrong = [np.sum(np.linalg.norm(s.flow[s.mask] - np.array([40.0, 0.0]), axis=1) > 3) for s in (unchecked, kept)]
    assert wrong[1] < 0.5 * wrong[0]


def test_tracks_follow_the_detector_options(pair: tuple[np.ndarray, np.ndarray]) -> None:
    assert track_mask(*pair, max_corners=50).mask.sum() <= 50
    spaced = track_mask(*pair, min_distance=12.0).mask
    points = np.argwhere(spaced).astype(float)
    nearest, _ = cKDTree(points).query(points, k=2)
    assert nearest[:, 1].min() >= 12.0 - math.sqrt(2)  # corners 12 px apart, rounded to pixels
    again = track_mask(*pair)
    assert np.array_equal(again.flow, track_mask(*pair).flow)


def test_no_corner_raises() -> None:
    flat = np.full((64, 64, 3), 128, np.uint8)
    with pytest.raises(ValueError, match="no corner"):
        track_mask(flat, flat)


# --- bad arguments --------------------------------------------------------------------------------

GOOD_VALID = np.ones((32, 32), bool)
GOOD_IMAGE = np.zeros((32, 32, 3), np.uint8)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: uniform_mask(GOOD_VALID, 0.0), "density"),
        (lambda: clustered_mask(GOOD_VALID, 1.0), "density"),
        (lambda: edge_mask(GOOD_IMAGE, GOOD_VALID, True), "density"),
        (lambda: grid_mask(GOOD_VALID, "0.1"), "density"),
        (lambda: uniform_mask(GOOD_VALID.astype(np.uint8), 0.1), "valid"),
        (lambda: clustered_mask(np.zeros((32, 32), bool), 0.1), "valid"),
        (lambda: grid_mask(np.ones((2, 32, 32), bool), 0.1), "valid"),
        (lambda: clustered_mask(GOOD_VALID, 0.1, n_clusters=0), "n_clusters"),
        (lambda: clustered_mask(GOOD_VALID, 0.1, n_clusters=2.5), "n_clusters"),
        (lambda: clustered_mask(GOOD_VALID, 0.1, spread=0.0), "spread"),
        (lambda: edge_mask(GOOD_IMAGE, GOOD_VALID, 0.1, bias=-1.0), "bias"),
        (lambda: edge_mask(GOOD_IMAGE[:16], GOOD_VALID, 0.1), "image"),
        (lambda: edge_mask(GOOD_IMAGE.astype(np.float32), GOOD_VALID, 0.1), "image"),
        (lambda: grid_mask(GOOD_VALID, 0.1, dropout=1.0), "dropout"),
        (lambda: grid_mask(GOOD_VALID, 0.1, jitter=0.5), "jitter"),
        (lambda: grid_mask(np.pad(np.ones((1, 1), bool), ((0, 31), (0, 31))), 0.001, jitter=0.0), "no grid node"),
        (lambda: match_mask(GOOD_IMAGE, GOOD_IMAGE, detector="surf"), "detector"),
        (lambda: match_mask(GOOD_IMAGE, GOOD_IMAGE[:16]), "image2"),
        (lambda: match_mask(GOOD_IMAGE[..., 0], GOOD_IMAGE), "image1"),
        (lambda: match_mask(GOOD_IMAGE, GOOD_IMAGE, ratio=1.5), "ratio"),
        (lambda: match_mask(GOOD_IMAGE, GOOD_IMAGE, fb_threshold=-1.0), "fb_threshold"),
        (lambda: match_mask(GOOD_IMAGE, GOOD_IMAGE, max_matches=0), "max_matches"),
        (lambda: track_mask(GOOD_IMAGE, GOOD_IMAGE[:16]), "image2"),
        (lambda: track_mask(GOOD_IMAGE, GOOD_IMAGE, max_corners=0), "max_corners"),
        (lambda: track_mask(GOOD_IMAGE, GOOD_IMAGE, quality=1.5), "quality"),
        (lambda: track_mask(GOOD_IMAGE, GOOD_IMAGE, min_distance=-1.0), "min_distance"),
        (lambda: track_mask(GOOD_IMAGE, GOOD_IMAGE, window=8), "window"),
        (lambda: track_mask(GOOD_IMAGE, GOOD_IMAGE, levels=-1), "levels"),
        (lambda: track_mask(GOOD_IMAGE, GOOD_IMAGE, fb_threshold=0.0), "fb_threshold"),
    ],
)
def test_bad_arguments_raise(call, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()


# --- by name --------------------------------------------------------------------------------------


def test_registry_lists_every_kind() -> None:
    assert set(MASK_SAMPLERS) == {"uniform", "clustered", "edge", "grid", "scanlines", "blocks", "occlusions"}
    assert SPARSE_KINDS == (*MASK_SAMPLERS, "matches", "tracks")


@pytest.mark.parametrize("kind", ["uniform", "clustered", "edge", "grid", "scanlines", "blocks"])
def test_make_sparse_puts_the_ground_truth_at_the_mask(sample: dict, kind: str) -> None:
    sparse = make_sparse(kind, sample, 0.05, seed=2)
    assert np.array_equal(sparse.mask, MASK_SAMPLERS[kind](sample, 0.05, 2))
    assert np.array_equal(sparse.flow[sparse.mask], sample["flow"][sparse.mask])
    assert not sparse.flow[~sparse.mask].any() and sparse.flow.dtype == np.float32 and sparse.rejected == 0
    assert not sparse.outliers.any()


def test_make_sparse_matches_uses_the_matcher(sample: dict) -> None:
    sparse = make_sparse("matches", sample, 0.05, seed=0)
    expected = match_mask(sample["image1"], sample["image2"])
    assert np.array_equal(sparse.mask, expected.mask) and np.array_equal(sparse.flow, expected.flow)


def test_make_sparse_tracks_uses_the_tracker(sample: dict) -> None:
    sparse = make_sparse("tracks", sample, 0.05, seed=0)
    expected = track_mask(sample["image1"], sample["image2"])
    assert np.array_equal(sparse.mask, expected.mask) and np.array_equal(sparse.flow, expected.flow)


def test_make_sparse_rejects_unknown_kinds_and_samples(sample: dict) -> None:
    with pytest.raises(ValueError, match="uniform.*matches"):
        make_sparse("poisson", sample, 0.05)
    with pytest.raises(ValueError, match="'flow'"):
        make_sparse("uniform", {key: sample[key] for key in ("image1", "valid")}, 0.05)
    with pytest.raises(ValueError, match="flow"):
        make_sparse("grid", {**sample, "flow": sample["flow"][:10]}, 0.05)


def test_occlusion_mask_cuts_out_the_occluded_pixels_with_a_margin_but_not_at_the_border():
    """A 10x10 occluded square: it and 2 px around it (each axis) become unknown, the rest stays
    known up to the frame's border; the "occlusions" kind gives that mask and the exact flow."""
    valid = np.ones((40, 50), bool)
    occlusion = np.zeros((40, 50), bool)
    occlusion[10:20, 30:40] = True
    known = occlusion_mask(valid, occlusion)
    expected = np.ones((40, 50), bool)
    expected[8:22, 28:42] = False
    np.testing.assert_array_equal(known, expected)
    flow = np.random.default_rng(0).normal(size=(40, 50, 2)).astype(np.float32)
    sample = {"valid": valid, "occlusion": occlusion, "flow": flow}
    sparse = make_sparse("occlusions", sample, 0.05)
    np.testing.assert_array_equal(sparse.mask, expected)
    np.testing.assert_array_equal(sparse.flow, np.where(expected[..., None], flow, 0))
    with pytest.raises(ValueError, match="needs the sample's occlusion map"):
        make_sparse("occlusions", {"valid": valid, "flow": flow}, 0.05)
    with pytest.raises(ValueError, match="every valid pixel is occluded"):
        occlusion_mask(valid, np.ones_like(valid))
    with pytest.raises(ValueError, match="occlusion must be"):
        occlusion_mask(valid, occlusion[:10])
