"""KITTI PNG, PFM, image and mask files; extension dispatch, writer validation, atomic writes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from flowinpaint.io import (
    FlowFormatError,
    read_flow,
    read_image,
    read_mask,
    read_pfm,
    write_flow,
    write_image,
)


def cv2_write(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def raises_naming(path: Path, match: str = "", error: type[Exception] = FlowFormatError):
    """``pytest.raises`` for an error whose message names ``path``'s file and contains ``match``."""
    return pytest.raises(error, match=re.escape(path.name) + ".*" + re.escape(match))


# --- KITTI PNG -----------------------------------------------------------------------------


def test_kitti_raw_values_by_hand(tmp_path: Path) -> None:
    flow = np.array([[[1.5, -2.25], [0.012, 0.02], [0.0, 0.0]]], dtype=np.float32)
    valid = np.array([[True, True, False]])
    path = tmp_path / "k.png"
    write_flow(path, flow, valid)
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert bgr.dtype == np.uint16 and bgr.shape == (1, 3, 3)
    rgb = bgr[..., ::-1]
    # u = 1.5 -> 2**15 + 96, v = -2.25 -> 2**15 - 144; 0.012 * 64 = 0.768 rounds up, not down.
    assert rgb.tolist() == [[[32864, 32624, 1], [32769, 32769, 1], [0, 0, 0]]]


def test_kitti_clips_to_representable_range_and_nan_is_invalid(tmp_path: Path) -> None:
    flow = np.array([[[1000.0, -1000.0], [np.nan, 1.0], [511.99, -512.01]]], dtype=np.float32)
    path = tmp_path / "k.png"
    write_flow(path, flow)
    rgb = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert rgb.tolist() == [[[65535, 0, 1], [0, 0, 0], [65535, 0, 1]]]
    read, valid = read_flow(path)
    assert valid.tolist() == [[True, False, True]]
    assert read.tolist() == [[[511.984375, -512.0], [0.0, 0.0], [511.984375, -512.0]]]


def test_kitti_round_trip_is_exact_on_the_1_64_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    flow = (rng.integers(-(2**15), 2**15, size=(9, 11, 2)) / 64).astype(np.float32)
    valid = rng.random((9, 11)) > 0.3
    path = tmp_path / "k.PNG"
    write_flow(path, flow, valid)
    read, read_valid = read_flow(path)
    assert np.array_equal(read_valid, valid)
    assert np.array_equal(read[valid], flow[valid]) and np.all(read[~valid] == 0)


def test_kitti_reads_hand_made_png_in_rgb_order(tmp_path: Path) -> None:
    rgb = np.array([[[2**15 + 64, 2**15 - 32, 5], [123, 456, 0]]], dtype=np.uint16)
    path = cv2_write(tmp_path / "hand.png", np.ascontiguousarray(rgb[..., ::-1]))
    flow, valid = read_flow(path)
    assert valid.tolist() == [[True, False]]
    assert flow.tolist() == [[[1.0, -0.5], [0.0, 0.0]]]


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (np.zeros((4, 5, 3), np.uint8), "3-channel uint8"),
        (np.zeros((4, 5), np.uint16), "1-channel uint16"),
        (np.zeros((4, 5, 4), np.uint16), "4-channel uint16"),
    ],
)
def test_kitti_rejects_other_pngs(tmp_path: Path, image: np.ndarray, reason: str) -> None:
    path = cv2_write(tmp_path / "other.png", image)
    with raises_naming(path, reason):
        read_flow(path)


def test_kitti_rejects_non_png_and_corrupt_png(tmp_path: Path) -> None:
    jpeg = cv2_write(tmp_path / "photo.jpg", np.zeros((4, 4, 3), np.uint8))
    renamed = tmp_path / "photo.png"
    renamed.write_bytes(jpeg.read_bytes())
    with raises_naming(renamed, "not a PNG"):
        read_flow(renamed)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with raises_naming(corrupt, "not an image OpenCV can decode"):
        read_flow(corrupt)


# --- PFM -----------------------------------------------------------------------------------

# A 2 x 3 (W x H) image whose value at row r, column c, channel k is 100 r + 10 c + k.
TOP_DOWN = np.fromfunction(lambda r, c, k: 100 * r + 10 * c + k, (3, 2, 3), dtype=np.float32)


def pfm_bytes(array: np.ndarray, scale: bytes = b"-1.0", magic: bytes | None = None) -> bytes:
    """A PFM with rows stored bottom-to-top, byte order from the sign of ``scale``."""
    height, width = array.shape[:2]
    magic = magic or (b"PF" if array.ndim == 3 else b"Pf")
    order = "<f4" if scale.startswith(b"-") else ">f4"
    header = magic + b"\n%d %d\n" % (width, height) + scale + b"\n"
    return header + array[::-1].astype(order).tobytes()


@pytest.mark.parametrize("scale", [b"-1.0", b"1.0", b"-0.5", b"2"])
def test_pfm_hand_built_file_is_bottom_up(tmp_path: Path, scale: bytes) -> None:
    path = tmp_path / "hand.pfm"
    path.write_bytes(pfm_bytes(TOP_DOWN, scale))
    # The first stored value is the bottom-left pixel (row 2, column 0): 200, 201, 202.
    order = "<f4" if scale.startswith(b"-") else ">f4"
    first = np.frombuffer(path.read_bytes()[-TOP_DOWN.nbytes :][:12], order)
    assert first.tolist() == [200.0, 201.0, 202.0]
    array = read_pfm(path)
    assert array.dtype == np.float32 and array.flags.c_contiguous
    assert np.array_equal(array, TOP_DOWN)
    flow, valid = read_flow(path)
    assert valid.all() and np.array_equal(flow, TOP_DOWN[..., :2])


def test_pfm_one_channel_and_tolerant_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "grey.pfm"
    grey = TOP_DOWN[..., 0]
    data = pfm_bytes(grey, b"-1.0 ")
    path.write_bytes(data.replace(b"\n", b"\r\n", 2))  # CRLF after the magic and the size
    assert np.array_equal(read_pfm(path), grey)


def test_pfm_agrees_with_opencv(tmp_path: Path) -> None:
    path = tmp_path / "flow.pfm"
    flow = np.random.default_rng(2).normal(size=(6, 5, 2)).astype(np.float32)
    write_flow(path, flow)
    decoded = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(decoded[..., ::-1], read_pfm(path))  # OpenCV turns RGB into BGR


def test_pfm_writer_layout_and_unknown_round_trip(tmp_path: Path) -> None:
    flow = TOP_DOWN[..., :2].copy()
    flow[0, 1, 0] = np.inf
    valid = np.ones((3, 2), bool)
    valid[2, 0] = False
    path = tmp_path / "w.pfm"
    write_flow(path, flow, valid)
    data = path.read_bytes()
    assert data.startswith(b"PF\n2 3\n-1.0\n")
    stored = np.frombuffer(data[len(b"PF\n2 3\n-1.0\n") :], "<f4").reshape(3, 2, 3)[::-1]
    assert np.all(stored[..., 2] == 0)
    assert np.isnan(stored[2, 0, :2]).all() and np.isnan(stored[0, 1, :2]).all()
    read, read_valid = read_flow(path)
    expected_valid = np.array([[True, False], [True, True], [False, True]])
    assert np.array_equal(read_valid, expected_valid)
    assert np.array_equal(read[expected_valid], flow[expected_valid])
    assert np.all(read[~expected_valid] == 0)


def test_pfm_non_finite_values_are_invalid(tmp_path: Path) -> None:
    array = TOP_DOWN.copy()
    array[1, 1, 1] = np.nan
    array[2, 0, 0] = -np.inf
    array[0, 0, 2] = np.inf  # third channel is ignored
    path = tmp_path / "nf.pfm"
    path.write_bytes(pfm_bytes(array))
    _, valid = read_flow(path)
    assert valid.tolist() == [[True, True], [True, False], [False, True]]


GOOD_PFM = pfm_bytes(TOP_DOWN)
PFM_MALFORMED = {
    "wrong magic": (pfm_bytes(TOP_DOWN, magic=b"P6"), "not a PFM file"),
    "truncated": (GOOD_PFM[:-1], "truncated"),
    "trailing bytes": (GOOD_PFM + b"\0", "1 trailing bytes"),
    "no header end": (b"PF" + b" " * 300, "no complete PFM header"),
    "negative width": (GOOD_PFM.replace(b"2 3", b"-2 3", 1), "bad PFM size line"),
    "zero height": (GOOD_PFM.replace(b"2 3", b"2 0", 1), "invalid PFM dimensions"),
    "absurd size": (GOOD_PFM.replace(b"2 3", b"20000 20000", 1), "invalid PFM dimensions"),
    "zero scale": (GOOD_PFM.replace(b"-1.0", b"0.0", 1), "bad PFM scale"),
    "text scale": (GOOD_PFM.replace(b"-1.0", b"nan!", 1), "bad PFM scale"),
    "non-ascii size": (GOOD_PFM.replace(b"2 3", b"\xff\xfe 3", 1), "bad PFM size line"),
    "empty": (b"", "no complete PFM header"),
}


@pytest.mark.parametrize("case", sorted(PFM_MALFORMED))
def test_pfm_malformed_files(tmp_path: Path, case: str) -> None:
    data, reason = PFM_MALFORMED[case]
    path = tmp_path / f"{case.replace(' ', '_')}.pfm"
    path.write_bytes(data)
    with raises_naming(path, reason):
        read_pfm(path)
    with raises_naming(path, reason):
        read_flow(path)


def test_one_channel_pfm_is_not_a_flow(tmp_path: Path) -> None:
    path = tmp_path / "disparity.pfm"
    path.write_bytes(pfm_bytes(TOP_DOWN[..., 0]))
    assert read_pfm(path).shape == (3, 2)
    with raises_naming(path, "1-channel PFM"):
        read_flow(path)


# --- dispatch and writer input -----------------------------------------------------------


@pytest.mark.parametrize("name", ["flow.txt", "flow", "flow.flo.bak"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with raises_naming(path, "supported: .flo, .png, .pfm", ValueError):
        read_flow(path)
    with raises_naming(path, "supported: .flo, .png, .pfm", ValueError):
        write_flow(path, np.zeros((2, 2, 2)))
    assert not path.exists()


@pytest.mark.parametrize("name", ["gone.flo", "gone.png", "gone.PFM"])
def test_missing_flow_file(tmp_path: Path, name: str) -> None:
    with raises_naming(tmp_path / name, "no such file"):
        read_flow(tmp_path / name)


@pytest.mark.parametrize("extension", [".flo", ".png", ".pfm"])
@pytest.mark.parametrize(
    ("flow", "valid", "complaint"),
    [
        (np.zeros((4, 5, 3)), None, "flow must be a non-empty (H, W, 2)"),
        (np.zeros((4, 5)), None, "got shape (4, 5)"),
        (np.zeros((0, 5, 2)), None, "flow must be a non-empty"),
        (np.zeros((4, 5, 2), complex), None, "dtype complex128"),
        (np.zeros((4, 5, 2), bool), None, "dtype bool"),
        (np.full((4, 5, 2), "a"), None, "flow must be"),
        ([[[0, 0]], [[0, 0], [1, 1]]], None, "flow must be"),
        (np.zeros((4, 5, 2)), np.ones((5, 4), bool), "valid must be None or a bool array"),
        (np.zeros((4, 5, 2)), np.ones((4, 5), np.uint8), "dtype uint8"),
    ],
)
def test_bad_writer_input(tmp_path, extension, flow, valid, complaint) -> None:
    path = tmp_path / f"bad{extension}"
    with raises_naming(path, complaint, ValueError) as info:
        write_flow(path, flow, valid)
    assert not isinstance(info.value, FlowFormatError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extension", [".flo", ".png", ".pfm"])
def test_integer_and_float64_input_and_list_input(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"i{extension}"
    write_flow(path, np.arange(12, dtype=np.int64).reshape(2, 3, 2))
    flow, valid = read_flow(path)
    assert valid.all() and flow.tolist() == np.arange(12).reshape(2, 3, 2).tolist()
    write_flow(path, [[[1e300, 0.5]]])  # overflows float32: unknown
    flow, valid = read_flow(path)
    assert valid.tolist() == [[False]] and flow.tolist() == [[[0.0, 0.0]]]


@pytest.mark.parametrize("extension", [".flo", ".png", ".pfm"])
def test_returned_arrays_are_fresh_and_writable(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"one{extension}"
    write_flow(path, [[[1.0, 2.0]]])
    flow, valid = read_flow(path)
    assert flow.flags.writeable and flow.flags.c_contiguous and valid.flags.writeable
    if extension == ".pfm":
        assert read_pfm(path).flags.writeable


# --- images and masks --------------------------------------------------------------------


def test_image_round_trip_keeps_rgb_order(tmp_path: Path) -> None:
    image = np.random.default_rng(4).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    image[0, 0] = (255, 0, 0)
    for extension in (".png", ".ppm", ".bmp"):
        path = tmp_path / f"img{extension}"
        write_image(path, image)
        read = read_image(path)
        assert np.array_equal(read, image) and read.flags.writeable
    assert cv2.imread(str(tmp_path / "img.png"))[0, 0].tolist() == [0, 0, 255]  # BGR on disk


def test_image_jpeg_and_float_input(tmp_path: Path) -> None:
    image = np.linspace(-0.2, 1.2, 8 * 8 * 3).reshape(8, 8, 3)
    expected = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    write_image(tmp_path / "f.png", image)
    assert np.array_equal(read_image(tmp_path / "f.png"), expected)
    write_image(tmp_path / "f.jpg", image.astype(np.float32))
    jpeg = read_image(tmp_path / "f.jpg")
    assert jpeg.shape == (8, 8, 3) and np.abs(jpeg.astype(int) - expected).mean() < 10


def test_read_image_converts_grey_16_bit_and_alpha(tmp_path: Path) -> None:
    grey = np.array([[0, 7, 255]], np.uint8)
    write_image(tmp_path / "g.png", grey)
    assert cv2.imread(str(tmp_path / "g.png"), cv2.IMREAD_UNCHANGED).ndim == 2
    assert np.array_equal(read_image(tmp_path / "g.png"), np.repeat(grey[..., None], 3, axis=2))

    deep = np.array([[[0, 128, 129], [385, 65535, 65406]]], np.uint16)  # BGR
    cv2_write(tmp_path / "d.png", deep)
    assert read_image(tmp_path / "d.png").tolist() == [[[1, 0, 0], [254, 255, 1]]]

    bgra = np.array([[[10, 20, 30, 0], [1, 2, 3, 255]]], np.uint8)
    cv2_write(tmp_path / "a.png", bgra)
    assert read_image(tmp_path / "a.png").tolist() == [[[30, 20, 10], [3, 2, 1]]]


def test_read_mask(tmp_path: Path) -> None:
    grey = np.array([[0, 255], [1, 0]], np.uint8)
    cv2_write(tmp_path / "m.png", grey)
    assert read_mask(tmp_path / "m.png").tolist() == [[False, True], [True, False]]
    colour = np.zeros((1, 4, 3), np.uint8)
    colour[0, 1, 0] = colour[0, 2, 2] = 9
    cv2_write(tmp_path / "c.png", colour)
    assert read_mask(tmp_path / "c.png").tolist() == [[False, True, True, False]]
    deep = np.array([[0, 1]], np.uint16)  # would round to 0 at 8 bits
    cv2_write(tmp_path / "d.png", deep)
    assert read_mask(tmp_path / "d.png").tolist() == [[False, True]]
    black_opaque = np.array([[[0, 0, 0, 255]]], np.uint8)
    cv2_write(tmp_path / "a.png", black_opaque)
    assert read_mask(tmp_path / "a.png").tolist() == [[False]]


@pytest.mark.parametrize("reader", [read_image, read_mask])
def test_image_readers_reject_bad_files(tmp_path: Path, reader) -> None:
    with raises_naming(tmp_path / "none.png", "no such file"):
        reader(tmp_path / "none.png")
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not an image")
    with raises_naming(junk, "not an image OpenCV can decode"):
        reader(junk)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with raises_naming(empty, "empty"):
        reader(empty)
    floaty = tmp_path / "float.pfm"
    floaty.write_bytes(pfm_bytes(TOP_DOWN))
    with raises_naming(floaty, "unsupported 3-channel float32"):
        reader(floaty)


@pytest.mark.parametrize(
    ("name", "image", "complaint"),
    [
        ("x.png", np.zeros((2, 2, 4), np.uint8), "got shape (2, 2, 4)"),
        ("x.png", np.zeros((2, 2, 3), np.uint16), "dtype uint16"),
        ("x.png", np.zeros((0, 2), np.uint8), "non-empty"),
        ("x.png", np.full((2, 2), np.nan), "NaN or infinity"),
        ("x.xyz", np.zeros((2, 2), np.uint8), "no image encoder for the extension '.xyz'"),
        ("x", np.zeros((2, 2), np.uint8), "no image encoder"),
        ("x.pgm", np.zeros((2, 2, 3), np.uint8), "cannot encode a 3-channel uint8 image"),
    ],
)
def test_write_image_rejects_bad_input(tmp_path: Path, name, image, complaint) -> None:
    with raises_naming(tmp_path / name, complaint, ValueError):
        write_image(tmp_path / name, image)
    assert list(tmp_path.iterdir()) == []


def test_real_frames(shared_data: Path) -> None:
    chairs = shared_data / "flyingchairs" / "data" / "00001_img1.ppm"
    rgb = read_image(chairs)
    assert rgb.shape == (384, 512, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb, cv2.imread(str(chairs))[..., ::-1])
    venus = shared_data / "middlebury" / "other-data-gray" / "Venus" / "frame10.png"
    grey = cv2.imread(str(venus), cv2.IMREAD_GRAYSCALE)
    rgb = read_image(venus)
    assert np.array_equal(rgb, np.repeat(grey[..., None], 3, axis=2))
    flow, _ = read_flow(shared_data / "middlebury" / "other-gt-flow" / "Venus" / "flow10.flo")
    assert flow.shape[:2] == grey.shape


# --- atomic writes -----------------------------------------------------------------------

WRITERS = {
    "a.flo": lambda path: write_flow(path, np.ones((3, 4, 2))),
    "a.png": lambda path: write_flow(path, np.ones((3, 4, 2))),
    "a.pfm": lambda path: write_flow(path, np.ones((3, 4, 2))),
    "a.jpg": lambda path: write_image(path, np.ones((3, 4, 3), np.uint8)),
}


def fail(*args, **kwargs):
    raise OSError("disk on fire")


@pytest.mark.parametrize("name", sorted(WRITERS))
@pytest.mark.parametrize("failing", ["replace", "fsync"])
@pytest.mark.parametrize("pre_existing", [False, True])
def test_failed_write_leaves_nothing_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, failing: str, pre_existing: bool
) -> None:
    path = tmp_path / name
    if pre_existing:
        path.write_bytes(b"old content")
    monkeypatch.setattr(os, failing, fail)  # fsync: after the data went to the temporary file
    with pytest.raises(OSError, match="disk on fire"):
        WRITERS[name](path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ([name] if pre_existing else [])
    if pre_existing:
        assert path.read_bytes() == b"old content"


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_successful_write_replaces_and_leaves_no_temporary(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"old content")
    WRITERS[name](path)
    assert path.read_bytes() != b"old content"
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_into_missing_directory_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"dir\.flo: the directory .*such does not exist"):
        write_flow(tmp_path / "no" / "such" / "dir.flo", np.zeros((1, 1, 2)))
    (tmp_path / "taken.flo").mkdir()
    with pytest.raises(IsADirectoryError, match=r"taken\.flo is a directory"):
        write_flow(tmp_path / "taken.flo", np.zeros((1, 1, 2)))
    assert [path.name for path in tmp_path.iterdir()] == ["taken.flo"]  # no temporary file left
