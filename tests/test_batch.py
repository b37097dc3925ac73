"""``flowinpaint inpaint --input``: a folder of sparse flows, resumable, split across processes."""

from __future__ import annotations

import numpy as np
import pytest

from flowinpaint import inpaint
from flowinpaint.batch import inpaint_folder, list_files, natural_key, shard
from flowinpaint.cli import main
from flowinpaint.data import make_example, uniform_mask
from flowinpaint.io import read_flow, read_image, write_flow, write_image


@pytest.fixture
def sparse_folder(tmp_path):
    """Three sparse flows (``s_1``, ``s_2``, ``s_10``) with their reference images in another folder."""
    for folder in ("sparse", "images"):
        (tmp_path / folder).mkdir()
    for index in (1, 2, 10):
        example = make_example(size=(48, 64), seed=index)
        known = uniform_mask(example["valid"], 0.1, seed=index)
        write_flow(tmp_path / "sparse" / f"s_{index}.flo", example["flow"], known)
        write_image(tmp_path / "images" / f"s_{index}.png", example["image1"])
    return tmp_path


def test_every_file_is_inpainted_like_one_call_and_a_rerun_skips(sparse_folder, monkeypatch):
    out = sparse_folder / "dense"
    summary = inpaint_folder(sparse_folder / "sparse", out, images=sparse_folder / "images", method="eed", progress=False)
    assert summary.written == ["s_1", "s_2", "s_10"] and not summary.failed
    flow, valid = read_flow(sparse_folder / "sparse" / "s_2.flo")
    expected = inpaint(flow, valid, read_image(sparse_folder / "images" / "s_2.png"), "eed")
    np.testing.assert_allclose(read_flow(out / "s_2.flo")[0], expected, atol=1e-6)
    assert (out / "color" / "s_10.png").is_file()
    monkeypatch.setattr("flowinpaint.methods.inpaint", lambda *a, **k: pytest.fail("recomputed"))
    again = inpaint_folder(sparse_folder / "sparse", out, images=sparse_folder / "images", method="eed", progress=False)
    assert again.skipped == ["s_1", "s_2", "s_10"] and not again.written


def test_corrupt_files_and_missing_images_are_reported_not_fatal(sparse_folder, capsys):
    (sparse_folder / "sparse" / "s_2.flo").write_bytes(b"PIEH broken")
    (sparse_folder / "images" / "s_10.png").unlink()
    summary = inpaint_folder(sparse_folder / "sparse", sparse_folder / "dense", images=sparse_folder / "images",
                             method="eed", flow_format="png", progress=False)
    assert summary.written == ["s_1"] and set(summary.failed) == {"s_2", "s_10"}
    assert "no reference image s_10" in summary.failed["s_10"]
    assert "skipped" in capsys.readouterr().err
    assert read_flow(sparse_folder / "dense" / "s_1.png")[0].shape == (48, 64, 2)
    laplace = inpaint_folder(sparse_folder / "sparse", sparse_folder / "laplace", method="laplace", progress=False)
    assert laplace.written == ["s_1", "s_10"]  # laplace needs no image


def test_processes_split_the_files(sparse_folder, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    done = []
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        done.append(inpaint_folder(sparse_folder / "sparse", sparse_folder / "dense", method="laplace",
                                   progress=False).written)
    assert done == [["s_1", "s_10"], ["s_2"]]
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ValueError, match="integers"):
        shard()


def test_listing_is_natural_and_checked(tmp_path):
    for name in ("b10.flo", "b9.flo", "a.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_files(tmp_path, (".flo",), "flows")] == ["b9.flo", "b10.flo"]
    assert natural_key(tmp_path / "x2") < natural_key(tmp_path / "x10")
    (tmp_path / "b9.png").write_bytes(b"")
    with pytest.raises(ValueError, match="share the name 'b9'"):
        list_files(tmp_path, (".flo", ".png"), "flows")
    with pytest.raises(ValueError, match="no such file"):
        list_files(tmp_path / "nope", (".flo",), "flows")


def test_cli_folder_mode(sparse_folder, capsys):
    out = sparse_folder / "cli"
    code = main(["inpaint", "--input", str(sparse_folder / "sparse"), "--images", str(sparse_folder / "images"),
                 "--method", "eed", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "3 flows written, 0 already there, 0 failed" in capsys.readouterr().out
    for argv, message in ((["--input", "x", "--flow", "y.flo"], "--flow is for one file"),
                          (["--images", "x", "--flow", "y.flo"], "--images is for --input"),
                          ([], "give --flow FILE"),
                          (["--input", str(sparse_folder / "sparse"), "--method", "nope"], "unknown method")):
        assert main(["inpaint", *argv, "--out", str(sparse_folder / "bad")]) == 2
        assert message in capsys.readouterr().err
