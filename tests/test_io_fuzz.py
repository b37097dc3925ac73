"""Fuzzing: every reader, fed mutated valid files, either succeeds or raises FlowFormatError.

Mutations are bounded (at most 6 edits of at most 16 bytes), hypothesis is derandomised so the
run is deterministic, and each example's peak numpy/Python allocation is bounded, which
catches a reader trusting a corrupted header's size before checking the file's length.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowinpaint.io import (
    FlowFormatError,
    read_flow,
    read_image,
    read_mask,
    read_pfm,
    write_flow,
    write_image,
)

MAX_EDITS = 6
MAX_CHUNK = 16
MAX_PEAK_BYTES = 16 * 2**20  # the valid samples need a few kilobytes


def _valid_samples(folder: Path) -> dict[str, bytes]:
    """Small valid files of every format the readers accept, as bytes."""
    rng = np.random.default_rng(0)
    flow = (rng.normal(size=(5, 6, 2)) * 8).astype(np.float32)
    valid = rng.random((5, 6)) > 0.2
    write_flow(folder / "flow.flo", flow, valid)
    write_flow(folder / "flow.png", flow, valid)
    write_flow(folder / "flow.pfm", flow, valid)
    grey = rng.random((5, 6)).astype("<f4")
    (folder / "grey_be.pfm").write_bytes(b"Pf\n6 5\n1.0\n" + grey[::-1].astype(">f4").tobytes())
    write_image(folder / "image.ppm", rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))
    write_image(folder / "mask.png", (rng.random((5, 6)) > 0.5).astype(np.uint8) * 255)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _valid_samples(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _offsets() -> st.SearchStrategy[int]:
    """Byte offsets, biased towards the headers; taken modulo the current length."""
    return st.integers(0, 31) | st.integers(0, 2**16)


_EDITS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _offsets(), st.integers(0, 255)),
        st.tuples(st.just("insert"), _offsets(), st.binary(min_size=1, max_size=MAX_CHUNK)),
        st.tuples(st.just("delete"), _offsets(), st.integers(1, MAX_CHUNK)),
        st.tuples(st.just("truncate"), _offsets()),
    ),
    min_size=1,
    max_size=MAX_EDITS,
)


def _mutate(data: bytes, edits: list[tuple]) -> bytes:
    buffer = bytearray(data)
    for kind, offset, *argument in edits:
        at = offset % (len(buffer) + 1)
        if kind == "set" and at < len(buffer):
            buffer[at] = argument[0]
        elif kind == "insert":
            buffer[at:at] = argument[0]
        elif kind == "delete":
            del buffer[at : at + argument[0]]
        elif kind == "truncate":
            del buffer[at:]
    return bytes(buffer)


def _flow_ok(result: tuple[np.ndarray, np.ndarray]) -> None:
    flow, valid = result
    assert flow.dtype == np.float32 and flow.ndim == 3 and flow.shape[2] == 2
    assert valid.dtype == np.bool_ and valid.shape == flow.shape[:2]
    assert np.isfinite(flow).all() and np.all(flow[~valid] == 0)


def _pfm_ok(array: np.ndarray) -> None:
    assert array.dtype == np.float32 and (array.ndim == 2 or array.shape[2] == 3)


def _image_ok(image: np.ndarray) -> None:
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def _mask_ok(mask: np.ndarray) -> None:
    assert mask.dtype == np.bool_ and mask.ndim == 2


#: (reader, extension the bytes are saved under, check of a successful result)
READERS = [
    (read_flow, ".flo", _flow_ok),
    (read_flow, ".png", _flow_ok),
    (read_flow, ".pfm", _flow_ok),
    (read_pfm, ".pfm", _pfm_ok),
    (read_image, ".ppm", _image_ok),
    (read_mask, ".png", _mask_ok),
]


@pytest.mark.parametrize(
    "name", ["flow.flo", "flow.png", "flow.pfm", "grey_be.pfm", "image.ppm", "mask.png"]
)
@settings(max_examples=150, deadline=2000, derandomize=True, database=None)
@given(edits=_EDITS)
def test_readers_survive_mutations(samples, scratch, name: str, edits: list[tuple]) -> None:
    data = _mutate(samples[name], edits)
    tracemalloc.start()
    try:
        for reader, extension, check in READERS:
            path = scratch / f"mutant{extension}"
            path.write_bytes(data)
            tracemalloc.reset_peak()
            try:
                result = reader(path)
            except FlowFormatError:
                pass
            else:
                check(result)
            assert tracemalloc.get_traced_memory()[1] < MAX_PEAK_BYTES, reader.__name__
    finally:
        tracemalloc.stop()
