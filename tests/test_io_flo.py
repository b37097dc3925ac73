"""Middlebury .flo reading and writing: layout, OpenCV compatibility, real files, errors."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from flowinpaint.io import FlowFormatError, read_flow, write_flow

MIDDLEBURY_WITH_UNKNOWN = {"Dimetrodon", "Hydrangea", "RubberWhale"}
MIDDLEBURY = sorted(MIDDLEBURY_WITH_UNKNOWN | {"Grove2", "Grove3", "Urban2", "Urban3", "Venus"})


def random_flow(height: int = 5, width: int = 7, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(height, width, 2)) * 20).astype(np.float32)


def flo_bytes(width: int, height: int, body: bytes = b"", magic: bytes = b"PIEH") -> bytes:
    return magic + struct.pack("<ii", width, height) + body


def test_layout_is_little_endian_header_then_interleaved_rows(tmp_path: Path) -> None:
    flow = random_flow(3, 4)
    path = tmp_path / "f.flo"
    write_flow(path, flow)
    data = path.read_bytes()
    assert len(data) == 12 + 8 * 4 * 3
    assert struct.unpack("<fii", data[:12]) == (202021.25, 4, 3)
    assert np.array_equal(np.frombuffer(data[12:], "<f4").reshape(3, 4, 2), flow)


def test_round_trip_with_unknown_pixels(tmp_path: Path) -> None:
    flow = random_flow()
    valid = np.ones(flow.shape[:2], dtype=bool)
    valid[1, 2] = valid[4, 0] = False
    flow[3, 3, 1] = np.nan
    flow[0, 6, 0] = -np.inf
    path = tmp_path / "f.flo"
    write_flow(path, flow, valid)

    raw = np.frombuffer(path.read_bytes()[12:], "<f4").reshape(flow.shape)
    unknown = ~valid | ~np.isfinite(flow).all(axis=2)
    assert np.all(raw[unknown] == np.float32(1e10))

    read, read_valid = read_flow(path)
    assert read.dtype == np.float32 and read.shape == flow.shape
    assert np.array_equal(read_valid, ~unknown)
    assert np.array_equal(read[~unknown], flow[~unknown])
    assert np.all(read[unknown] == 0.0)


def test_threshold_one_component_above_1e9_makes_pixel_unknown(tmp_path: Path) -> None:
    body = np.array([[[1e9, -1e9], [3.0, -1.0000001e9]]], dtype="<f4").tobytes()
    path = tmp_path / "t.flo"
    path.write_bytes(flo_bytes(2, 1, body))
    flow, valid = read_flow(path)
    assert valid.tolist() == [[True, False]]
    assert flow[0, 0].tolist() == [1e9, -1e9] and flow[0, 1].tolist() == [0.0, 0.0]


def test_nan_in_a_file_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "nan.flo"
    path.write_bytes(flo_bytes(2, 1, np.array([np.nan, 0, 1, 2], dtype="<f4").tobytes()))
    flow, valid = read_flow(path)
    assert valid.tolist() == [[False, True]] and np.isfinite(flow).all()


EDGE_VALUES = np.array(
    [0.0, -0.0, 1e-45, -3.4028235e38, 3.4028235e38, 1e10, -1e10, 511.984375, 1 / 3],
    dtype=np.float32,
)


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (48, 33)])
def test_writer_bytes_equal_opencv(tmp_path: Path, shape: tuple[int, int]) -> None:
    flow = random_flow(*shape, seed=shape[1])
    flow.reshape(-1)[: EDGE_VALUES.size] = EDGE_VALUES[: flow.size]
    ours, theirs = tmp_path / "ours.flo", tmp_path / "cv2.flo"
    write_flow(ours, flow)
    assert cv2.writeOpticalFlow(str(theirs), flow)
    assert ours.read_bytes() == theirs.read_bytes()


def test_opencv_reads_our_file_and_we_read_opencv_file(tmp_path: Path) -> None:
    flow = random_flow(31, 17, seed=3)
    ours, theirs = tmp_path / "ours.flo", tmp_path / "cv2.flo"
    write_flow(ours, flow)
    assert np.array_equal(cv2.readOpticalFlow(str(ours)), flow)

    assert cv2.writeOpticalFlow(str(theirs), flow)
    read, valid = read_flow(theirs)
    assert valid.all() and np.array_equal(read, flow)


def check_against_opencv(path: Path) -> np.ndarray:
    """Read ``path`` with both readers, check they agree, return the valid mask."""
    flow, valid = read_flow(path)
    reference = cv2.readOpticalFlow(str(path))
    assert flow.shape == reference.shape and flow.dtype == np.float32
    assert np.array_equal(valid, (np.abs(reference) <= 1e9).all(axis=2))
    assert np.array_equal(flow[valid], reference[valid])
    assert np.all(flow[~valid] == 0.0)
    return valid


@pytest.mark.parametrize("sequence", MIDDLEBURY)
def test_real_middlebury_files(shared_data: Path, sequence: str) -> None:
    path = shared_data / "middlebury" / "other-gt-flow" / sequence / "flow10.flo"
    valid = check_against_opencv(path)
    unknown_fraction = 1.0 - valid.mean()
    if sequence in MIDDLEBURY_WITH_UNKNOWN:
        assert 0.01 < unknown_fraction < 0.1
    else:
        assert unknown_fraction == 0.0


def test_real_flyingchairs_files_are_dense(shared_data: Path) -> None:
    paths = sorted((shared_data / "flyingchairs" / "data").glob("*_flow.flo"))
    assert len(paths) == 9
    for path in paths:
        valid = check_against_opencv(path)
        assert valid.shape == (384, 512) and valid.all()


VALID_BODY = np.zeros(2 * 3 * 2, dtype="<f4").tobytes()
MALFORMED = {
    "wrong magic": (flo_bytes(3, 2, VALID_BODY, magic=b"HEIP"), "magic"),
    "empty file": (b"", "truncated .flo header"),
    "truncated header": (flo_bytes(3, 2)[:7], "truncated .flo header"),
    "truncated body": (flo_bytes(3, 2, VALID_BODY[:-1]), "truncated"),
    "header only": (flo_bytes(3, 2), "truncated"),
    "trailing bytes": (flo_bytes(3, 2, VALID_BODY + b"\0\0"), "2 trailing bytes"),
    "negative width": (flo_bytes(-3, 2, VALID_BODY), "invalid .flo dimensions -3 x 2"),
    "zero height": (flo_bytes(3, 0), "invalid .flo dimensions 3 x 0"),
    "absurd size": (flo_bytes(2**15, 2**15, VALID_BODY), "invalid .flo dimensions"),
    "size overflowing int32": (flo_bytes(2**31 - 1, 2**31 - 1), "invalid .flo dimensions"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_naming_file_and_reason(tmp_path: Path, case: str) -> None:
    data, reason = MALFORMED[case]
    path = tmp_path / f"{case.replace(' ', '_')}.flo"
    path.write_bytes(data)
    with pytest.raises(FlowFormatError, match=re.escape(path.name)) as info:
        read_flow(path)
    assert reason in str(info.value)


def test_every_truncation_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "cut.flo"
    write_flow(path, random_flow(2, 3))
    data = path.read_bytes()
    for length in range(len(data)):
        path.write_bytes(data[:length])
        with pytest.raises(FlowFormatError, match="truncated"):
            read_flow(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FlowFormatError, match=r"nothere\.flo: no such file"):
        read_flow(tmp_path / "nothere.flo")
    (tmp_path / "dir.flo").mkdir()
    with pytest.raises(FlowFormatError, match=r"dir\.flo: is a directory"):
        read_flow(tmp_path / "dir.flo")
