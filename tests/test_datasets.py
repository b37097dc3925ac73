"""Dataset loaders: tiny fixtures in each published layout, errors, and the real samples."""

from __future__ import annotations

import inspect
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from flowinpaint.data.datasets import (
    DATASETS,
    KITTI2012,
    KITTI2015,
    FlowDataset,
    FlyingChairs,
    FlyingThings3D,
    Middlebury,
    Sintel,
    load_dataset,
)
from flowinpaint.io import FlowFormatError, write_flow, write_image

H, W = 6, 8
KEYS = {"image1", "image2", "flow", "valid", "occlusion", "id"}


def image(seed: int, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    """A random RGB image; distinct seeds give distinct images."""
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def flow(seed: int, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    """A random flow in multiples of 1/64 px (exact in every format)."""
    values = np.random.default_rng(seed).integers(-640, 640, (*shape, 2))
    return (values / 64.0).astype(np.float32)


def put_image(path: Path, array: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, array)
    return array


def put_flow(path: Path, array: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_flow(path, array, valid)
    return array


def put_mask(path: Path, mask: np.ndarray) -> np.ndarray:
    """A single-channel 8-bit PNG, white where ``mask``."""
    return put_image(path, np.where(mask, 255, 0).astype(np.uint8)) > 0


def check_sample(sample: dict, shape: tuple[int, int] = (H, W)) -> None:
    assert set(sample) == KEYS
    for key in ("image1", "image2"):
        assert sample[key].shape == (*shape, 3) and sample[key].dtype == np.uint8
    assert sample["flow"].shape == (*shape, 2) and sample["flow"].dtype == np.float32
    for key in ("valid", "occlusion"):
        assert sample[key].shape == shape and sample[key].dtype == np.bool_
    assert isinstance(sample["id"], str)
    assert not sample["flow"][~sample["valid"]].any()


# -- FlyingChairs ------------------------------------------------------------------------------


def make_chairs(root: Path, count: int = 5, split: str | None = "1 2 1 1 2") -> dict[int, tuple]:
    truth = {}
    for n in range(1, count + 1):
        truth[n] = (
            put_image(root / "data" / f"{n:05d}_img1.ppm", image(10 * n)),
            put_image(root / "data" / f"{n:05d}_img2.ppm", image(10 * n + 1)),
            put_flow(root / "data" / f"{n:05d}_flow.flo", flow(n)),
        )
    if split is not None:
        (root / "FlyingChairs_train_val.txt").write_text("\n".join(split.split()) + "\n")
    return truth


def test_flyingchairs_splits_and_samples(tmp_path):
    truth = make_chairs(tmp_path)
    train = FlyingChairs(tmp_path, split="train")
    assert train.ids == ["flyingchairs/00001", "flyingchairs/00003", "flyingchairs/00004"]
    assert FlyingChairs(tmp_path, split="val").ids == ["flyingchairs/00002", "flyingchairs/00005"]
    assert len(FlyingChairs(tmp_path, split="all")) == 5
    assert len(FlyingChairs(tmp_path)) == 3  # default split: train
    sample = train[1]
    check_sample(sample)
    assert sample["id"] == "flyingchairs/00003"
    np.testing.assert_array_equal(sample["image1"], truth[3][0])
    np.testing.assert_array_equal(sample["image2"], truth[3][1])
    np.testing.assert_array_equal(sample["flow"], truth[3][2])
    assert sample["valid"].all() and not sample["occlusion"].any()
    assert train[-1]["id"] == "flyingchairs/00004"
    with pytest.raises(IndexError):
        train[3]
    assert repr(train) == f"FlyingChairs(root={str(tmp_path)!r}, split='train', samples=3)"


def test_flyingchairs_without_split_file(tmp_path):
    make_chairs(tmp_path, count=2, split=None)
    assert len(FlyingChairs(tmp_path, split="all")) == 2
    with pytest.raises(FileNotFoundError, match=r"FlyingChairs_train_val\.txt.*split='all'"):
        FlyingChairs(tmp_path, split="train")


@pytest.mark.parametrize(
    ("split", "match"), [("1 2 3 1 1", "only 1 and 2"), ("1 2", "no entry for pair 00003")]
)
def test_flyingchairs_bad_split_file(tmp_path, split, match):
    make_chairs(tmp_path, split=split)
    with pytest.raises(ValueError, match=match):
        FlyingChairs(tmp_path, split="val")


def test_flyingchairs_missing_partner_file(tmp_path):
    make_chairs(tmp_path, count=3)
    (tmp_path / "data" / "00002_flow.flo").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing flow: .*00002_flow\.flo"):
        FlyingChairs(tmp_path, split="all")


def test_size_mismatch_names_the_files(tmp_path):
    make_chairs(tmp_path, count=1)
    put_flow(tmp_path / "data" / "00001_flow.flo", flow(0, (H, W + 1)))
    dataset = FlyingChairs(tmp_path, split="all")
    with pytest.raises(FlowFormatError, match=r"00001_img1\.ppm is 8x6.*00001_flow\.flo is 9x6"):
        dataset[0]


def test_default_collate_batches_samples(tmp_path):
    make_chairs(tmp_path, count=4, split=None)
    loader = torch.utils.data.DataLoader(FlyingChairs(tmp_path, split="all"), batch_size=2)
    batch = next(iter(loader))
    assert batch["image1"].shape == (2, H, W, 3) and batch["flow"].dtype == torch.float32
    assert batch["id"] == ["flyingchairs/00001", "flyingchairs/00002"]


# -- FlyingThings3D ----------------------------------------------------------------------------


def make_things(root: Path) -> dict[tuple, np.ndarray]:
    """TRAIN/A/0000 frames 6-9, TRAIN/B/0003 frames 6-8, TEST/A/0001 frames 6-7; flows for all."""
    truth = {}
    sequences = [("TRAIN", "A", "0000", 4), ("TRAIN", "B", "0003", 3), ("TEST", "A", "0001", 2)]
    for split, part, sequence, count in sequences:
        for number in range(6, 6 + count):
            for pass_name in ("clean", "final"):
                folder = root / f"frames_{pass_name}pass" / split / part / sequence
                truth[pass_name, split, part, sequence, number] = put_image(
                    folder / "left" / f"{number:04d}.png", image(len(truth))
                )
                put_image(folder / "right" / f"{number:04d}.png", image(999))
            flows = root / "optical_flow" / split / part / sequence / "into_future" / "left"
            truth["flow", split, part, sequence, number] = put_flow(
                flows / f"OpticalFlowIntoFuture_{number:04d}_L.pfm",
                flow(number + 100 * int(sequence)),
            )
    return truth


def test_flyingthings_into_future_pairing(tmp_path):
    truth = make_things(tmp_path)
    dataset = FlyingThings3D(tmp_path, split="train", pass_name="final")
    assert dataset.ids == [
        "flyingthings3d/final/TRAIN/A/0000/0006",
        "flyingthings3d/final/TRAIN/A/0000/0007",
        "flyingthings3d/final/TRAIN/A/0000/0008",
        "flyingthings3d/final/TRAIN/B/0003/0006",
        "flyingthings3d/final/TRAIN/B/0003/0007",
    ]  # the last frame of each sequence (0009, 0008) has no pair
    sample = dataset[1]
    check_sample(sample)
    np.testing.assert_array_equal(sample["image1"], truth["final", "TRAIN", "A", "0000", 7])
    np.testing.assert_array_equal(sample["image2"], truth["final", "TRAIN", "A", "0000", 8])
    np.testing.assert_array_equal(sample["flow"], truth["flow", "TRAIN", "A", "0000", 7])
    clean = FlyingThings3D(tmp_path, split="train", pass_name="clean")[1]
    np.testing.assert_array_equal(clean["image1"], truth["clean", "TRAIN", "A", "0000", 7])
    assert FlyingThings3D(tmp_path, split="test").ids == ["flyingthings3d/clean/TEST/A/0001/0006"]


def test_flyingthings_missing_flow(tmp_path):
    make_things(tmp_path)
    missing = (
        tmp_path / "optical_flow/TEST/A/0001/into_future/left/OpticalFlowIntoFuture_0006_L.pfm"
    )
    missing.unlink()
    with pytest.raises(FileNotFoundError, match="OpticalFlowIntoFuture_0006_L.pfm"):
        FlyingThings3D(tmp_path, split="test")


# -- Sintel ------------------------------------------------------------------------------------


def make_sintel(root: Path, masks: bool = True) -> dict[tuple, np.ndarray]:
    """Scenes alley_1 (3 frames) and bamboo_2 (2 frames), both passes, flows and masks."""
    truth = {}
    training = root / "training"
    for scene, count in (("alley_1", 3), ("bamboo_2", 2)):
        for number in range(1, count + 1):
            name = f"frame_{number:04d}"
            for pass_name in ("clean", "final"):
                truth[pass_name, scene, number] = put_image(
                    training / pass_name / scene / f"{name}.png", image(len(truth))
                )
            if number == count:
                continue
            truth["flow", scene, number] = put_flow(
                training / "flow" / scene / f"{name}.flo", flow(number)
            )
            if masks:
                rng = np.random.default_rng(number)
                truth["occlusion", scene, number] = put_mask(
                    training / "occlusions" / scene / f"{name}.png", rng.random((H, W)) < 0.3
                )
                truth["invalid", scene, number] = put_mask(
                    training / "invalid" / scene / f"{name}.png", rng.random((H, W)) < 0.2
                )
    return truth


def test_sintel_pairing_and_masks(tmp_path):
    truth = make_sintel(tmp_path)
    dataset = Sintel(tmp_path, pass_name="final")
    assert dataset.ids == [
        "sintel/final/alley_1/frame_0001",
        "sintel/final/alley_1/frame_0002",
        "sintel/final/bamboo_2/frame_0001",
    ]
    sample = dataset[1]  # flow 2: frame 2 -> frame 3
    check_sample(sample)
    np.testing.assert_array_equal(sample["image1"], truth["final", "alley_1", 2])
    np.testing.assert_array_equal(sample["image2"], truth["final", "alley_1", 3])
    invalid = truth["invalid", "alley_1", 2]
    assert invalid.any() and not invalid.all()
    np.testing.assert_array_equal(sample["valid"], ~invalid)
    np.testing.assert_array_equal(sample["flow"][~invalid], truth["flow", "alley_1", 2][~invalid])
    np.testing.assert_array_equal(sample["occlusion"], truth["occlusion", "alley_1", 2])
    assert Sintel(tmp_path, pass_name="clean")[0]["id"] == "sintel/clean/alley_1/frame_0001"


def test_sintel_default_pass_is_final_and_all_takes_both(tmp_path):
    make_sintel(tmp_path)
    assert Sintel(tmp_path).ids == Sintel(tmp_path, pass_name="final").ids
    both = Sintel(tmp_path, pass_name="all")
    clean, final = Sintel(tmp_path, pass_name="clean"), Sintel(tmp_path, pass_name="final")
    assert both.ids == clean.ids + final.ids
    np.testing.assert_array_equal(both[len(clean)]["image1"], final[0]["image1"])
    np.testing.assert_array_equal(both[0]["flow"], both[len(clean)]["flow"])  # one flow, two renderings


def test_sintel_all_with_one_pass_folder(tmp_path):
    make_sintel(tmp_path)
    for path in sorted((tmp_path / "training" / "clean").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (tmp_path / "training" / "clean").rmdir()
    assert Sintel(tmp_path, pass_name="all").ids == Sintel(tmp_path, pass_name="final").ids
    with pytest.raises(FileNotFoundError, match="no samples found for split='training', pass_name='clean'"):
        Sintel(tmp_path, pass_name="clean")


def test_sintel_masks_optional(tmp_path):
    truth = make_sintel(tmp_path, masks=False)
    sample = Sintel(tmp_path)[0]
    check_sample(sample)
    assert sample["valid"].all() and not sample["occlusion"].any()
    np.testing.assert_array_equal(sample["flow"], truth["flow", "alley_1", 1])


def test_sintel_present_masks_are_required(tmp_path):
    make_sintel(tmp_path)
    (tmp_path / "training/occlusions/bamboo_2/frame_0001.png").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"missing occlusions mask: .*bamboo_2.frame_0001\.png"
    ):
        Sintel(tmp_path)


# -- KITTI 2015 --------------------------------------------------------------------------------


def make_kitti(root: Path, noc: bool = True, frames: str = "image_2", occ: bool = True) -> dict[tuple, np.ndarray]:
    """Two KITTI pairs: ``frames`` = ``image_2`` (2015) or ``colored_0`` (2012)."""
    truth = {}
    training = root / "training"
    for number in ("000000", "000001"):
        seed = int(number)
        truth[number, 1] = put_image(training / frames / f"{number}_10.png", image(seed))
        truth[number, 2] = put_image(training / frames / f"{number}_11.png", image(seed + 50))
        put_image(training / "image_3" / f"{number}_10.png", image(7))
        rng = np.random.default_rng(seed)
        occ_valid = rng.random((H, W)) < 0.7
        noc_valid = occ_valid & (rng.random((H, W)) < 0.6)
        truth[number, "flow"] = flow(seed)
        if occ:
            put_flow(training / "flow_occ" / f"{number}_10.png", flow(seed), occ_valid)
        truth[number, "occ"], truth[number, "noc"] = occ_valid, noc_valid
        if noc:
            put_flow(training / "flow_noc" / f"{number}_10.png", flow(seed), noc_valid)
    return truth


@pytest.mark.parametrize("flow_type", ["occ", "noc"])
@pytest.mark.parametrize(("cls", "frames"), [(KITTI2015, "image_2"), (KITTI2012, "colored_0")])
def test_kitti_occlusion_from_occ_and_noc(tmp_path, flow_type, cls, frames):
    truth = make_kitti(tmp_path, frames=frames)
    dataset = cls(tmp_path, flow_type=flow_type)
    assert dataset.ids == [f"{cls.PREFIX}/000000", f"{cls.PREFIX}/000001"]
    sample = dataset[1]
    check_sample(sample)
    np.testing.assert_array_equal(sample["image1"], truth["000001", 1])
    np.testing.assert_array_equal(sample["image2"], truth["000001", 2])
    valid = truth["000001", flow_type]
    np.testing.assert_array_equal(sample["valid"], valid)
    np.testing.assert_array_equal(sample["flow"][valid], truth["000001", "flow"][valid])
    occlusion = truth["000001", "occ"] & ~truth["000001", "noc"]
    assert occlusion.any()
    np.testing.assert_array_equal(sample["occlusion"], occlusion)


def test_the_kitti2012_layout_is_not_kitti2015s(tmp_path):
    make_kitti(tmp_path, frames="colored_0")
    assert KITTI2012(tmp_path).ids == ["kitti2012/000000", "kitti2012/000001"]
    with pytest.raises(FileNotFoundError, match=r"KITTI2015 at .*missing first frame: .*image_2"):
        KITTI2015(tmp_path)


def test_kitti2012_with_noc_only_says_which_flag(tmp_path):
    truth = make_kitti(tmp_path, frames="colored_0", occ=False)
    sample = load_dataset("kitti2012", tmp_path, flow_type="noc")[0]
    np.testing.assert_array_equal(sample["valid"], truth["000000", "noc"])
    assert not sample["occlusion"].any()  # no flow_occ: occlusion unknown
    with pytest.raises(FileNotFoundError, match="flow_occ.* is missing, but flow_noc/ is there.*--flow noc"):
        KITTI2012(tmp_path)


def test_kitti_without_noc(tmp_path):
    make_kitti(tmp_path, noc=False)
    sample = KITTI2015(tmp_path)[0]
    assert not sample["occlusion"].any()
    with pytest.raises(
        FileNotFoundError, match="no samples found for flow_type='noc'.*flow_occ/ is there.*--flow occ"
    ):
        KITTI2015(tmp_path, flow_type="noc")


def test_kitti_missing_frame(tmp_path):
    make_kitti(tmp_path)
    (tmp_path / "training/image_2/000001_11.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing second frame: .*000001_11\.png"):
        KITTI2015(tmp_path)


# -- Middlebury --------------------------------------------------------------------------------


def test_middlebury_grey_fallback_and_unknown_flow(tmp_path):
    grey = np.random.default_rng(0).integers(0, 256, (H, W), dtype=np.uint8)
    put_image(tmp_path / "other-data-gray/Grove2/frame10.png", grey)
    put_image(tmp_path / "other-data-gray/Grove2/frame11.png", grey[::-1])
    colour = put_image(tmp_path / "other-data/Venus/frame10.png", image(1))
    put_image(tmp_path / "other-data/Venus/frame11.png", image(2))
    put_image(tmp_path / "other-data-gray/Venus/frame10.png", grey)
    put_image(tmp_path / "other-data-gray/Venus/frame11.png", grey)
    known = np.ones((H, W), dtype=bool)
    known[:2, :3] = False
    truth = put_flow(tmp_path / "other-gt-flow/Grove2/flow10.flo", flow(3), known)
    put_flow(tmp_path / "other-gt-flow/Venus/flow10.flo", flow(4))
    dataset = Middlebury(tmp_path)
    assert dataset.ids == ["middlebury/Grove2", "middlebury/Venus"]
    assert repr(dataset) == f"Middlebury(root={str(tmp_path)!r}, samples=2)"
    sample = dataset[0]
    check_sample(sample)
    np.testing.assert_array_equal(sample["image1"], np.repeat(grey[..., None], 3, axis=2))
    np.testing.assert_array_equal(sample["valid"], known)
    np.testing.assert_array_equal(sample["flow"][known], truth[known])
    np.testing.assert_array_equal(dataset[1]["image1"], colour)  # colour frames preferred

    (tmp_path / "other-data-gray/Grove2/frame11.png").unlink()
    with pytest.raises(FileNotFoundError, match="missing frames of sequence Grove2"):
        Middlebury(tmp_path)


# -- errors and the registry -------------------------------------------------------------------

CLASSES = [FlyingChairs, FlyingThings3D, Sintel, KITTI2015, KITTI2012, Middlebury]


@pytest.mark.parametrize("cls", CLASSES)
def test_missing_or_empty_root_names_dataset_root_and_layout(tmp_path, cls):
    first_line = cls.LAYOUT.strip().splitlines()[0]
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        cls(missing) if cls is not FlyingChairs else cls(missing, split="all")
    message = str(info.value)
    assert cls.__name__ in message and str(missing) in message and first_line in message
    assert "does not exist" in message
    (tmp_path / "unrelated.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no samples found") as info:
        cls(tmp_path) if cls is not FlyingChairs else cls(tmp_path, split="all")
    assert first_line in str(info.value)


@pytest.mark.parametrize("cls", CLASSES)
def test_layout_is_in_the_docstring(cls):
    assert issubclass(cls, FlowDataset)
    doc_lines = [line.strip() for line in inspect.getdoc(cls).splitlines()]
    layout_lines = [line.strip() for line in cls.LAYOUT.strip().splitlines()]
    start = doc_lines.index(layout_lines[0])
    assert doc_lines[start : start + len(layout_lines)] == layout_lines


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (FlyingChairs, {"split": "test"}),
        (FlyingThings3D, {"pass_name": "albedo"}),
        (Sintel, {"split": "test"}),
        (KITTI2015, {"flow_type": "all"}),
        (KITTI2012, {"split": "testing"}),
        (Sintel, {"pass_name": "albedo"}),
    ],
)
def test_unknown_options(tmp_path, cls, kwargs):
    with pytest.raises(ValueError, match="must be one of"):
        cls(tmp_path, **kwargs)


def test_load_dataset(tmp_path):
    assert {"flyingchairs", "flyingthings", "sintel", "kitti", "kitti2012", "middlebury"} <= set(DATASETS)
    make_chairs(tmp_path, count=2)
    dataset = load_dataset("FlyingChairs", tmp_path, split="val")
    assert isinstance(dataset, FlyingChairs) and dataset.ids == ["flyingchairs/00002"]
    with pytest.raises(ValueError, match="unknown dataset 'chairs'.*flyingchairs.*middlebury"):
        load_dataset("chairs", tmp_path)
    with pytest.raises(ValueError, match="needs a root"):
        load_dataset("sintel")


# -- the real samples in ../shared/data --------------------------------------------------------


def warp_errors(sample: dict) -> tuple[float, float]:
    """Mean absolute grey-level error between frame 1 and frame 2 warped back by the GT flow,
    and with zero flow, over the valid pixels whose target lies inside frame 2."""
    one = sample["image1"].astype(np.float32).mean(axis=2)
    two = sample["image2"].astype(np.float32).mean(axis=2)
    height, width = one.shape
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    map_x, map_y = x + sample["flow"][..., 0], y + sample["flow"][..., 1]
    warped = cv2.remap(two, map_x, map_y, cv2.INTER_LINEAR)
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    keep = sample["valid"] & inside
    return float(np.abs(warped - one)[keep].mean()), float(np.abs(two - one)[keep].mean())


def test_real_middlebury(shared_data):
    dataset = Middlebury(shared_data / "middlebury")
    names = [
        "Dimetrodon",
        "Grove2",
        "Grove3",
        "Hydrangea",
        "RubberWhale",
        "Urban2",
        "Urban3",
        "Venus",
    ]
    assert dataset.ids == [f"middlebury/{name}" for name in names]
    for index, name in enumerate(names):
        sample = dataset[index]
        check_sample(sample, sample["valid"].shape)
        assert (sample["image1"][..., 0] == sample["image1"][..., 2]).all()  # grey replicated
        partial = name in ("Dimetrodon", "Hydrangea", "RubberWhale")
        assert sample["valid"].all() != partial, name
        assert 0.9 < sample["valid"].mean()
        if name in ("RubberWhale", "Venus"):
            warped, still = warp_errors(sample)  # 1.3 vs 5.6 and 3.1 vs 12.3
            assert warped < 0.5 * still, (name, warped, still)


def test_real_flyingchairs(shared_data):
    dataset = FlyingChairs(shared_data / "flyingchairs", split="all")
    assert dataset.ids == [f"flyingchairs/{n:05d}" for n in range(1, 10)]
    for index in range(len(dataset)):
        sample = dataset[index]
        check_sample(sample, (384, 512))
        assert sample["valid"].all()
        if sample["id"] in ("flyingchairs/00002", "flyingchairs/00005"):
            warped, still = warp_errors(sample)  # 5.8 vs 17.1 and 7.7 vs 53.3
            assert warped < 0.5 * still, (sample["id"], warped, still)


def test_real_dev_set(shared_data):
    """The real dev set: 8 Sintel frames (7 final, 1 clean) and 2 KITTI 2012 pairs with LiDAR GT."""
    sintel = Sintel(shared_data / "sintel", pass_name="all")
    assert len(sintel) == 8 and len(Sintel(shared_data / "sintel")) == 7
    assert [i.split("/")[1] for i in sintel.ids].count("clean") == 1
    sample = sintel[0]
    check_sample(sample, (436, 1024))
    assert sample["occlusion"].any() and 0.9 < sample["valid"].mean()
    kitti = KITTI2012(shared_data / "kitti2012", flow_type="noc")
    assert kitti.ids == ["kitti2012/000045", "kitti2012/000157"]
    for index, shape in enumerate([(376, 1241), (370, 1226)]):
        sample = kitti[index]
        check_sample(sample, shape)
        assert 0.15 < sample["valid"].mean() < 0.35  # sparse LiDAR ground truth
    warped, still = warp_errors(kitti[0])  # 6.6 vs 14.5
    assert warped < 0.6 * still
