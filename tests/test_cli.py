"""The ``flowinpaint`` command line, in process through ``main`` and once as a real process."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

import flowinpaint
from flowinpaint.cli import main, parse_options
from flowinpaint.data import make_example, uniform_mask
from flowinpaint.methods import Method

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    """A tiny sparse problem on disk: sparse.flo (unknown pixels marked), frame1.png, mask.png."""
    folder = tmp_path_factory.mktemp("problem")
    example = make_example((48, 64), seed=1)
    known = uniform_mask(example["valid"], 0.1, seed=1)
    flowinpaint.write_flow(folder / "sparse.flo", example["flow"], known)
    flowinpaint.write_image(folder / "frame1.png", example["image1"])
    half = known & (np.arange(known.size).reshape(known.shape) % 2 == 0)
    flowinpaint.write_image(folder / "mask.png", half.astype(np.uint8) * 255)
    flowinpaint.write_image(folder / "small_mask.png", np.full((24, 64), 255, np.uint8))
    (folder / "corrupt.flo").write_bytes(b"PIEH" + b"\x40\x00\x00\x00\x30\x00\x00\x00" + b"\x00" * 100)
    return {"folder": folder, "example": example, "known": known, "half": half}


def _run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_demo_writes_picture_and_flow_and_beats_zero_flow(tmp_path, capsys):
    out = tmp_path / "demo"
    code, stdout, err = _run(capsys, "demo", "--out", out, "--size", "48x64", "--density", "0.1")
    assert code == 0, err
    match = re.search(r"EPE ([0-9.]+) px \(zero flow: EPE ([0-9.]+) px\)", stdout)
    assert match, stdout
    assert float(match.group(1)) < float(match.group(2))
    picture = flowinpaint.read_image(out / "demo.png")
    assert picture.shape[0] > 48 and picture.shape[1] >= 5 * 64
    dense, valid = flowinpaint.read_flow(out / "dense.flo")
    assert dense.shape == (48, 64, 2) and valid.all()
    sparse, known = flowinpaint.read_flow(out / "sparse.flo")
    exact = (dense[known] == sparse[known]).all(axis=-1)
    assert exact.mean() > 0.97  # the default keeps the values it trusts exactly (here all but 1 of 307)


def test_a_first_call_that_compiles_kernels_says_so_and_the_demo_times_the_next(tmp_path, capsys, monkeypatch):
    from flowinpaint import cbuild, methods

    real = methods.inpaint
    calls = []

    def compiling(*args, **options):  # the first call on a new machine compiles two kernels
        calls.append(1)
        if len(calls) == 1:
            monkeypatch.setattr(cbuild, "_COMPILED", [*cbuild._COMPILED, "one", "two"])
        return real(*args, **options)

    monkeypatch.setattr(methods, "inpaint", compiling)
    code, stdout, err = _run(capsys, "demo", "--out", tmp_path / "demo", "--size", "48x64", "--method", "laplace")
    assert code == 0, err
    assert "(the first call took" in stdout and "it compiled 2 C kernel(s) for this machine into" in stdout
    assert len(calls) == 2  # the time printed first is the second call's
    code, stdout, err = _run(capsys, "demo", "--out", tmp_path / "again", "--size", "48x64", "--method", "laplace")
    assert code == 0 and "first call" not in stdout and len(calls) == 3


def test_inpaint_with_the_flows_own_mask_and_color(problem, tmp_path, capsys):
    folder, known = problem["folder"], problem["known"]
    out, color = tmp_path / "dense.flo", tmp_path / "dense.png"
    code, stdout, err = _run(
        capsys, "inpaint", "--flow", folder / "sparse.flo", "--image", folder / "frame1.png", "--out", out, "--color", color
    )
    assert code == 0, err
    assert f"{int(known.sum())} known pixels" in stdout and "neuroaffine" in stdout and len(stdout.splitlines()) == 1
    dense, valid = flowinpaint.read_flow(out)
    assert valid.all() and np.isfinite(dense).all()
    np.testing.assert_array_equal(dense[known], problem["example"]["flow"][known])
    expected = flowinpaint.inpaint(problem["example"]["flow"], known, problem["example"]["image1"])  # the default method
    np.testing.assert_allclose(dense, expected, atol=1e-5)
    assert flowinpaint.read_image(color).shape == (48, 64, 3)


def test_inpaint_writes_the_output_confidence(problem, tmp_path, capsys):
    folder, known = problem["folder"], problem["known"]
    out, picture = tmp_path / "dense.flo", tmp_path / "confidence.png"
    base = ("inpaint", "--flow", folder / "sparse.flo", "--image", folder / "frame1.png", "--out", out)
    code, _, err = _run(capsys, *base, "--confidence", picture)
    assert code == 0, err
    _, expected = flowinpaint.inpaint(problem["example"]["flow"], known, problem["example"]["image1"], return_confidence=True)
    written = flowinpaint.read_image(picture)
    assert written.shape[:2] == known.shape
    grey = written if written.ndim == 2 else written[..., 0]
    np.testing.assert_allclose(grey / 255, expected, atol=1 / 255 + 1e-6)
    code, _, err = _run(capsys, *base, "--confidence", picture, "--method", "laplace")
    assert code != 0 and "estimates no confidence" in err


def test_explain_with_a_flow_pictures_the_default_methods_decisions(problem, tmp_path, capsys):
    """``explain --flow``: the decisions partition the known pixels, the arrays are the method's own
    (its output and confidence), and bad combinations are one-line errors."""
    folder, known, example = problem["folder"], problem["known"], problem["example"]
    wrong = known & (np.arange(known.size).reshape(known.shape) % 37 == 0)
    sparse = np.where(wrong[..., None], np.float32([40.0, -40.0]), example["flow"]).astype(np.float32)
    flowinpaint.write_flow(tmp_path / "noisy.flo", sparse, known)
    out = tmp_path / "explained"
    code, stdout, err = _run(capsys, "explain", "--image", folder / "frame1.png", "--flow", tmp_path / "noisy.flo", "--out", out)
    assert code == 0, err
    assert f"{int(known.sum())} known values" in stdout
    summary = json.loads((out / "parameters.json").read_text())
    assert sum(summary["decisions"].values()) == int(known.sum()) and summary["decisions"]["dropped"] >= int(wrong.sum())
    # the base's scale: 2 x the kept values' spacing (scattered samples: their density's, to a few %)
    kept_density = float(np.load(out / "parameters.npz")["kept"].mean())
    assert summary["spatial_scale_px"] == pytest.approx(2.0 / math.sqrt(kept_density), rel=0.1)
    assert summary["reach_std"] >= 3.0
    arrays = np.load(out / "parameters.npz")
    decided = [arrays[name] for name in ("agreeing", "mutual", "rescued")]
    assert (sum(d.astype(int) for d in decided) <= 1).all() and not (arrays["kept"] & wrong).any()
    dense, confidence = flowinpaint.inpaint(sparse, known, example["image1"], return_confidence=True)
    np.testing.assert_allclose(arrays["dense"], dense, atol=1e-6)
    np.testing.assert_allclose(arrays["confidence"], confidence, atol=1e-6)
    assert (out / "explain.png").stat().st_size > 10_000
    code, _, err = _run(capsys, "explain", "--image", folder / "frame1.png", "--mask", folder / "mask.png", "--out", tmp_path / "x")
    assert code == 2 and "--flow" in err and not (tmp_path / "x").exists()
    code, _, err = _run(capsys, "explain", "--image", folder / "frame1.png", "--flow", tmp_path / "noisy.flo",
                        "--option", "tolerance=-1", "--out", tmp_path / "y")
    assert code == 2 and "tolerance" in err and not (tmp_path / "y").exists()


def test_inpaint_with_mask_file(problem, tmp_path, capsys):
    folder, half = problem["folder"], problem["half"]
    out = tmp_path / "dense.flo"
    code, stdout, err = _run(
        capsys, "inpaint", "--flow", folder / "sparse.flo", "--mask", folder / "mask.png", "--method", "laplace", "--out", out
    )
    assert code == 0, err
    assert f"{int(half.sum())} known pixels" in stdout
    expected = flowinpaint.inpaint(problem["example"]["flow"], half, None, "laplace")
    np.testing.assert_allclose(flowinpaint.read_flow(out)[0], expected, atol=1e-5)


def test_inpaint_with_options(problem, tmp_path, capsys):
    folder, known = problem["folder"], problem["known"]
    out = tmp_path / "dense.pfm"
    code, _, err = _run(
        capsys, "inpaint", "--flow", folder / "sparse.flo", "--method", "laplace", "--out", out,
        "--option", "alpha=0.25", "--option", "levels=none", "--option", "tol=2e-5",
    )
    assert code == 0, err
    expected = flowinpaint.inpaint(problem["example"]["flow"], known, None, "laplace", alpha=0.25, levels=None, tol=2e-5)
    np.testing.assert_allclose(flowinpaint.read_flow(out)[0], expected, atol=1e-5)


def test_device_goes_to_the_methods_with_a_network(problem, tmp_path, capsys):
    folder, known = problem["folder"], problem["known"]
    out = tmp_path / "dense.flo"
    code, _, err = _run(capsys, "inpaint", "--flow", folder / "sparse.flo", "--image", folder / "frame1.png",
                        "--method", "neuroexplicit", "--device", "cpu", "--out", out)
    assert code == 0, err
    expected = flowinpaint.inpaint(problem["example"]["flow"], known, problem["example"]["image1"], "neuroexplicit")
    np.testing.assert_allclose(flowinpaint.read_flow(out)[0], expected, atol=1e-5)
    for method, device, message in [
        ("eed", "cpu", "method 'eed' runs on the CPU only; --device is for "),
        ("neuroexplicit", "nonsense", "device must be a torch device"),
        ("neuroaffine", "meta", "holds no data"),
    ]:
        code, _, err = _run(capsys, "inpaint", "--flow", folder / "sparse.flo", "--image", folder / "frame1.png",
                            "--method", method, "--device", device, "--out", tmp_path / "bad.flo")
        assert code == 2 and message in err, err
        assert not (tmp_path / "bad.flo").exists()
    code, _, err = _run(capsys, "inpaint", "--flow", folder / "sparse.flo", "--image", folder / "frame1.png",
                        "--method", "neuroexplicit", "--device", "cpu", "--option", "device=cpu", "--out", out)
    assert code == 2 and "give the device once" in err


def test_option_types_come_from_the_dataclass():
    @dataclass(frozen=True)
    class Options:
        flag: bool = False
        count: int | None = 3
        scale: float = 1.0
        name: str = "a"

    method = Method("fake", "a fake method", Options, lambda problem, options: None, needs_image=False)
    parsed = parse_options(method, ["flag=yes", "count=None", "scale=2", "name=b=c"])
    assert parsed == {"flag": True, "count": None, "scale": 2.0, "name": "b=c"}
    assert parse_options(method, ["flag=0", "count=7"]) == {"flag": False, "count": 7}
    for bad in (["flag=maybe"], ["count=1.5"], ["scale=none"], ["scale=nan"], ["nope=1"], ["flag"], ["count=1", "count=2"]):
        with pytest.raises(ValueError):
            parse_options(method, bad)


def test_methods_lists_the_registry(capsys):
    code, stdout, _ = _run(capsys, "methods")
    assert code == 0
    lines = {line.split()[0]: line for line in stdout.splitlines()}
    assert set(lines) == set(flowinpaint.method_names())
    assert {"laplace", "lb", "eed", "amle", "epic", "ric", "griddata"} <= set(lines)
    assert "needs image" in lines["eed"] and "no image" in lines["laplace"]


@pytest.mark.parametrize("command", [[], ["inpaint"], ["demo"], ["methods"]])
def test_help(command, capsys):
    code, stdout, _ = _run(capsys, *command, "--help")
    assert code == 0
    assert stdout.startswith("usage: flowinpaint")


BAD_INPAINT = {
    "missing flow": ["--flow", "{folder}/nope.flo"],
    "corrupt flow": ["--flow", "{folder}/corrupt.flo"],
    "unknown method": ["--flow", "{folder}/sparse.flo", "--method", "nope"],
    "mask of wrong size": ["--flow", "{folder}/sparse.flo", "--mask", "{folder}/small_mask.png"],
    "missing mask": ["--flow", "{folder}/sparse.flo", "--mask", "{folder}/nope.png"],
    "bad option name": ["--flow", "{folder}/sparse.flo", "--option", "nope=1"],
    "bad option value": ["--flow", "{folder}/sparse.flo", "--option", "contrast=abc"],
    "option out of range": ["--flow", "{folder}/sparse.flo", "--option", "contrast=-1"],
    "missing image": ["--flow", "{folder}/sparse.flo", "--method", "eed", "--image", "{folder}/nope.png"],
    "no image for eed": ["--flow", "{folder}/sparse.flo", "--method", "eed"],
    "dense input": ["--flow", "{folder}/full.flo", "--method", "laplace"],
}


@pytest.mark.parametrize("case", sorted(BAD_INPAINT))
def test_bad_inpaint_input(case, problem, tmp_path, capsys):
    folder = problem["folder"]
    flowinpaint.write_flow(folder / "full.flo", problem["example"]["flow"])
    out, color = tmp_path / "dense.flo", tmp_path / "dense.png"
    argv = [arg.format(folder=folder) for arg in BAD_INPAINT[case]]
    if "--method" not in argv:
        argv += ["--image", str(folder / "frame1.png")]
    code, stdout, err = _run(capsys, "inpaint", *argv, "--out", out, "--color", color)
    assert code == 2
    assert err.startswith("flowinpaint: error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err and stdout == ""
    assert not out.exists() and not color.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["inpaint", "--flow", "x.flo"],  # --out missing
        ["inpaint", "--flow", "{folder}/sparse.flo", "--out", "{tmp}/dense.txt"],
        ["inpaint", "--flow", "{folder}/sparse.flo", "--out", "{tmp}/no/such/dir/dense.flo"],
        ["demo", "--out", "{tmp}/demo", "--density", "1.5", "--size", "48x64"],
        ["demo", "--out", "{tmp}/demo", "--size", "big"],
        ["demo", "--out", "{tmp}/demo", "--method", "nope", "--size", "48x64"],
        ["nope"],
        [],
    ],
)
def test_bad_command_lines(argv, problem, tmp_path, capsys):
    argv = [arg.format(folder=problem["folder"], tmp=tmp_path) for arg in argv]
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert err.startswith("flowinpaint: error: ") and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def _subprocess(*argv):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "flowinpaint", *argv], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_python_dash_m_methods():
    result = _subprocess("methods")
    assert result.returncode == 0, result.stderr
    for name in ("laplace", "lb", "eed", "amle"):
        assert re.search(rf"^{name}\s", result.stdout, re.MULTILINE)


def test_python_dash_m_error_has_no_traceback(tmp_path):
    result = _subprocess("inpaint", "--flow", str(tmp_path / "nope.flo"), "--out", str(tmp_path / "dense.flo"))
    assert result.returncode == 2
    assert result.stderr.startswith("flowinpaint: error: ") and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_data_preview_writes_a_contact_sheet(shared_data, tmp_path) -> None:
    out = tmp_path / "sheet"
    assert main(["data", "preview", "--dataset", "middlebury", "--root", str(shared_data / "middlebury"),
                 "--n", "2", "--masks", "grid", "--out", str(out)]) == 0
    sheet = cv2.imread(str(out / "preview.png"))
    assert sheet is not None and sheet.shape[0] > 2 * 200  # two rows of samples


def test_data_preview_bad_input(tmp_path, capsys) -> None:
    assert main(["data", "preview", "--dataset", "nope", "--out", str(tmp_path / "x")]) == 2
    assert main(["data", "preview", "--dataset", "sintel", "--root", str(tmp_path / "missing"), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("flowinpaint: error: ") for line in err) and len(err) == 2
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_data_preview_of_synthetic_data(tmp_path) -> None:
    out = tmp_path / "synthetic"
    assert main(["data", "preview", "--n", "3", "--size", "64x80", "--out", str(out)]) == 0
    sheet = cv2.imread(str(out / "preview.png"))
    assert sheet is not None and sheet.shape[0] > 3 * 64 and sheet.shape[1] > 4 * 80


def test_portable_commands_and_paths(tmp_path, monkeypatch):
    from flowinpaint.provenance import cpu_model, portable_command, portable_path

    monkeypatch.chdir(tmp_path)
    assert portable_command([str(tmp_path / ".venv/bin/flowinpaint"), "train", "--config", "configs/x.toml",
                             "--out", str(tmp_path / "runs" / "x")]) == "flowinpaint train --config configs/x.toml --out runs/x"
    assert portable_command(["/site-packages/flowinpaint/__main__.py", "evaluate", f"--root={tmp_path}/data"]) \
        == "flowinpaint evaluate --root=data"
    assert portable_path("a/./b") == os.path.join("a", "b")
    assert not portable_path("/elsewhere/file").startswith("/")
    assert cpu_model() and isinstance(cpu_model(), str)


def test_data_preview_draws_realistic_masks_and_wrong_values(tmp_path, capsys):
    from flowinpaint.io import read_image

    code = main(["data", "preview", "--masks", "blocks", "--outliers", "0.3", "--n", "1", "--size", "64x96",
                 "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    sheet = read_image(tmp_path / "preview.png")
    red = (sheet[..., 0] == 255) & (sheet[..., 1] == 0) & (sheet[..., 2] == 0)
    assert red.any()  # the wrong values are drawn red
    assert main(["data", "preview", "--masks", "dots", "--out", str(tmp_path / "x")]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_importing_the_package_leaves_scipys_slow_modules_for_their_first_use():
    """``import flowinpaint`` (every command's start) does not load scipy.spatial, scipy.interpolate
    or scipy.ndimage (~0.5 s together): the methods that need them import them on first use."""
    code = "import sys, flowinpaint; print(sorted(m for m in ('scipy.spatial', 'scipy.interpolate', 'scipy.ndimage') if m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
