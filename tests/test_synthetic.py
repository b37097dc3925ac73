"""The procedural dataset: exact flow, occlusion, flow edges, determinism, disjoint splits, arguments."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from flowinpaint.data import SyntheticConfig, SyntheticFlow
from flowinpaint.data.synthetic import MotionConfig

SIZE = (64, 80)
COUNT = 6
EVERYTHING = SyntheticConfig(  # every optional feature on every layer
    deformation_probability=1.0, soft_edge_probability=1.0, decal_probability=1.0, low_contrast_probability=0.5
)


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    height, width = shape
    return np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))


def _warp_error(sample: dict, flow: np.ndarray) -> np.ndarray:
    """|frame 1 - frame 2 sampled bilinearly at (x + u, y + v)| per pixel, mean over the channels."""
    x, y = _grid(flow.shape[:2])
    warped = cv2.remap(
        sample["image2"].astype(np.float32),
        x + flow[..., 0],
        y + flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.abs(warped - sample["image1"]).mean(axis=2)


def _flow_edges(flow: np.ndarray, jump: float = 0.25) -> np.ndarray:
    """Pixels next to a neighbour (4-connected) whose flow differs by more than ``jump`` px."""
    edges = np.zeros(flow.shape[:2], bool)
    rows = np.abs(np.diff(flow, axis=0)).max(axis=2) > jump
    cols = np.abs(np.diff(flow, axis=1)).max(axis=2) > jump
    edges[1:] |= rows
    edges[:-1] |= rows
    edges[:, 1:] |= cols
    edges[:, :-1] |= cols
    return edges


def _interior(sample: dict) -> np.ndarray:
    """Visible pixels at least one pixel away from a flow edge (no mixed boundary pixels)."""
    near_edge = cv2.dilate(_flow_edges(sample["flow"]).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return ~sample["occlusion"] & ~near_edge


@pytest.fixture(scope="module")
def samples() -> list[dict]:
    dataset = SyntheticFlow("train", SIZE, length=COUNT, seed=0)
    return [dataset[index] for index in range(COUNT)]


def test_sample_arrays(samples):
    for sample in samples:
        assert set(sample) == {"image1", "image2", "flow", "valid", "occlusion", "id"}
        assert sample["image1"].shape == sample["image2"].shape == SIZE + (3,)
        assert sample["image1"].dtype == sample["image2"].dtype == np.uint8
        assert sample["flow"].shape == SIZE + (2,) and sample["flow"].dtype == np.float32
        assert np.isfinite(sample["flow"]).all()
        assert sample["valid"].dtype == sample["occlusion"].dtype == np.bool_
        assert sample["valid"].shape == sample["occlusion"].shape == SIZE and sample["valid"].all()
        assert sample["image1"].std() > 5  # textured
    assert len({sample["id"] for sample in samples}) == COUNT


PERSPECTIVE = SyntheticConfig(perspective_probability=1.0, perspective=0.1)  # gentle: the check needs smooth regions


@pytest.mark.parametrize(("config", "bound", "smooth"), [(SyntheticConfig(), 6.0, 0.5), (EVERYTHING, 6.0, 0.5),
                                                          (PERSPECTIVE, 7.5, 0.3)],
                         ids=["default", "everything", "perspective"])
def test_flow_is_exact(config, bound, smooth):
    dataset = SyntheticFlow("val", SIZE, length=COUNT, seed=1, config=config)
    for index in range(COUNT):
        sample = dataset[index]
        flow, interior = sample["flow"], _interior(sample)
        assert interior.mean() > smooth  # a homography's flow changes faster than the edge test's 0.25 px
        exact = _warp_error(sample, flow)[interior].mean()
        shifted = _warp_error(sample, flow + np.float32(1.5))[interior].mean()
        zero = _warp_error(sample, np.zeros_like(flow))[interior].mean()
        # what is left is bilinear interpolation (twice: rendering and this check) and uint8 rounding;
        # a homography magnifies parts of the background, which resampling blurs more
        assert exact < bound and exact < 0.3 * shifted and exact < 0.6 * zero, (index, exact, shifted, zero)


def test_occlusion(samples):
    fractions = [sample["occlusion"].mean() for sample in samples]
    assert all(0.0 < fraction < 0.35 for fraction in fractions), fractions
    assert 0.01 < np.mean(fractions) < 0.2
    occluded_error, visible_error = [], []
    for sample in samples:
        x, y = _grid(SIZE)
        target_x, target_y = x + sample["flow"][..., 0], y + sample["flow"][..., 1]
        leaves = (target_x < 0) | (target_x > SIZE[1] - 1) | (target_y < 0) | (target_y > SIZE[0] - 1)
        assert sample["occlusion"][leaves].all()
        error = _warp_error(sample, sample["flow"])
        occluded_error.append(error[sample["occlusion"] & ~leaves])
        visible_error.append(error[_interior(sample)])
    # where frame 2 shows another layer, the flow does not explain it
    assert np.concatenate(occluded_error).mean() > 4 * np.concatenate(visible_error).mean()


def test_flow_has_edges(samples):
    for sample in samples:
        edges = _flow_edges(sample["flow"])
        assert 0.005 < edges.mean() < 0.3  # discontinuities along object boundaries, not everywhere
        assert np.abs(np.diff(sample["flow"], axis=1)).max() > 0.5


def test_low_contrast_boundaries():
    """Objects textured like what lies behind them show their motion edge with little image edge."""

    def contrast_at_flow_edges(probability: float) -> float:
        config = SyntheticConfig(object_count=(2, 2), low_contrast_probability=probability, decal_probability=0.0)
        dataset = SyntheticFlow("train", SIZE, length=COUNT, seed=3, config=config)
        values = []
        for index in range(COUNT):
            sample = dataset[index]
            image = sample["image1"].astype(np.float32)
            jumps = np.abs(np.diff(sample["flow"], axis=1)).max(axis=2) > 0.5
            values.append(np.abs(np.diff(image, axis=1)).mean(axis=2)[jumps])
        return float(np.concatenate(values).mean())

    assert contrast_at_flow_edges(1.0) < 0.5 * contrast_at_flow_edges(0.0)


def test_deterministic_and_seeded():
    first = SyntheticFlow("train", SIZE, length=3, seed=5)[2]
    again = SyntheticFlow("train", SIZE, length=10, seed=5)[2]  # the length does not change a sample
    other = SyntheticFlow("train", SIZE, length=3, seed=6)[2]
    for key in ("image1", "image2", "flow", "valid", "occlusion"):
        np.testing.assert_array_equal(first[key], again[key])
    assert first["id"] == again["id"]
    assert not np.array_equal(first["image1"], other["image1"])
    assert not np.array_equal(first["flow"], other["flow"])


def test_splits_are_disjoint():
    splits = {split: SyntheticFlow(split, SIZE, length=3, seed=0) for split in ("train", "val", "test")}
    for index in range(3):
        images = [splits[split][index]["image1"] for split in splits]
        flows = [splits[split][index]["flow"] for split in splits]
        for a in range(3):
            for b in range(a + 1, 3):
                assert not np.array_equal(images[a], images[b])
                assert not np.array_equal(flows[a], flows[b])


@pytest.mark.parametrize("size", [(32, 32), (33, 47), (48, 96), (97, 40)])
def test_sizes_and_length(size):
    dataset = SyntheticFlow("test", size, length=2)
    assert len(dataset) == 2
    sample = dataset[np.int64(1)]
    assert sample["image1"].shape == size + (3,) and sample["flow"].shape == size + (2,)
    assert sample["occlusion"].shape == size


@pytest.mark.parametrize(
    "kwargs",
    [
        {"split": "training"},
        {"size": (31, 64)},
        {"size": (64, 16)},
        {"size": (64,)},
        {"size": (64.0, 64)},
        {"length": 0},
        {"length": -3},
        {"length": 2.5},
        {"seed": -1},
    ],
)
def test_rejects_bad_arguments(kwargs):
    arguments = {"split": "train", "size": SIZE, "length": 4, **kwargs}
    with pytest.raises(ValueError):
        SyntheticFlow(**arguments)


def test_rejects_config_of_another_type():
    with pytest.raises(TypeError):
        SyntheticFlow("train", SIZE, 4, config={"object_count": (1, 2)})


def test_index_out_of_range():
    dataset = SyntheticFlow("train", SIZE, length=3)
    for index in (3, 10, -1):
        with pytest.raises(IndexError):
            dataset[index]
    with pytest.raises(TypeError):
        dataset[1.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"object_count": (5, 2)},
        {"object_count": (-1, 2)},
        {"object_size": (0.0, 0.5)},
        {"object_size": (0.6, 0.1)},
        {"feather": (2.0, float("inf"))},
        {"soft_edge_probability": 1.5},
        {"decal_probability": -0.1},
        {"deformation_amplitude": float("nan")},
    ],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        SyntheticConfig(**kwargs)


def test_motion_config_rejects_bad_values():
    good = {
        "translation_median": 5.0,
        "translation_spread": 1.0,
        "translation_max": 50.0,
        "rotation_std": 1.0,
        "scale_std": 0.02,
        "shear_std": 0.01,
    }
    MotionConfig(**good)
    for key, value in (("rotation_std", -1.0), ("translation_median", float("nan")), ("translation_max", 1.0)):
        with pytest.raises(ValueError):
            MotionConfig(**{**good, key: value})


def test_perspective_background_is_not_affine_and_off_by_default():
    """With no objects and no deformation the frame is the background: an affine flow by default, a
    homography's (not affine) with perspective on."""
    background_only = {"object_count": (0, 0), "deformation_probability": 0.0, "decal_probability": 0.0}
    x, y = _grid(SIZE)
    design = np.stack([np.ones_like(x), x, y], -1).reshape(-1, 3).astype(np.float64)
    misfits = {}
    for name, extra in (("affine", {}), ("perspective", {"perspective_probability": 1.0})):
        dataset = SyntheticFlow("val", SIZE, length=4, seed=3, config=SyntheticConfig(**background_only, **extra))
        misfits[name] = []
        for index in range(4):
            flow = dataset[index]["flow"].reshape(-1, 2).astype(np.float64)
            coefficients = np.linalg.lstsq(design, flow, rcond=None)[0]
            misfits[name].append(float(np.abs(design @ coefficients - flow).max()))
    assert max(misfits["affine"]) < 1e-3
    assert min(misfits["perspective"]) > 0.05, misfits
    assert SyntheticConfig().perspective_probability == 0.0


def test_perspective_config_is_checked():
    with pytest.raises(ValueError, match="perspective"):
        SyntheticConfig(perspective=0.5)
    with pytest.raises(ValueError, match="perspective_probability"):
        SyntheticConfig(perspective_probability=2.0)


def test_a_motion_scale_keeps_the_scene_and_shrinks_its_motion():
    """The same seed and index give the same frame 1 (layout and textures do not depend on the
    motion); every motion shrinks with the factor; a factor outside (0, 1] is a clear error."""
    base = SyntheticConfig(perspective_probability=0.5)
    scaled = base.with_motion_scale(0.3)
    assert scaled.foreground_motion.translation_median == pytest.approx(0.3 * base.foreground_motion.translation_median)
    assert scaled.background_motion.rotation_std == pytest.approx(0.3 * base.background_motion.rotation_std)
    assert scaled.perspective == pytest.approx(0.3 * base.perspective)
    assert scaled.deformation_amplitude == pytest.approx(0.3 * base.deformation_amplitude)
    assert scaled.foreground_motion.translation_spread == base.foreground_motion.translation_spread
    full = SyntheticFlow("val", SIZE, length=6, seed=4, config=base)
    slow = SyntheticFlow("val", SIZE, length=6, seed=4, config=scaled)
    for index in range(6):
        np.testing.assert_array_equal(full[index]["image1"], slow[index]["image1"])
    speeds = [[float(np.median(np.linalg.norm(data[index]["flow"], axis=-1))) for index in range(6)] for data in (full, slow)]
    assert np.median(speeds[1]) < 0.5 * np.median(speeds[0]), speeds
    assert base.with_motion_scale(1.0) == base
    for factor in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="motion scale"):
            base.with_motion_scale(factor)
