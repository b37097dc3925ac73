"""``densify``: two frames to dense flow; folders, globs and videos; resuming; two processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage

import flowinpaint
from flowinpaint.cli import main
from flowinpaint.data import make_example
from flowinpaint.densify import densify_sequence, find_frames, sequence
from flowinpaint.densify.estimate import DIS_PRESETS, dis_flow, to_grey
from flowinpaint.densify.reliability import (
    consistency_ratio,
    distance_to_reliable,
    estimate_confidence,
    without_margin,
)
from flowinpaint.io import read_flow, write_image

SRC = Path(__file__).resolve().parents[1] / "src"
SIZE = (96, 128)
FAST = {"method": "laplace", "preset": "fast"}  # quick settings for the plumbing tests


@pytest.fixture(scope="module")
def example() -> dict:
    return make_example(size=SIZE, seed=3)


def _translation(shape: tuple[int, int], shift: tuple[float, float]) -> np.ndarray:
    return np.broadcast_to(np.array(shift, np.float32), (*shape, 2)).copy()


# --- the reliability test ----------------------------------------------------------------------


def test_a_consistent_round_trip_passes_and_leaving_the_frame_fails() -> None:
    forward = _translation((20, 30), (3.0, -2.0))
    ratio = consistency_ratio(forward, -forward)
    inside = np.zeros(ratio.shape, bool)
    inside[2:-3, 0:-3] = True  # targets x + 3, y - 2 stay in the frame
    assert np.allclose(ratio[inside], 0.0)
    assert np.isinf(ratio[:, -3:]).all() and np.isinf(ratio[:2]).all()


def test_an_inconsistent_backward_flow_fails_by_the_tolerance() -> None:
    forward = _translation((20, 30), (2.0, 0.0))
    backward = _translation((20, 30), (-2.0, 1.0))  # 1 px off on the way back
    ratio = consistency_ratio(forward, backward, alpha=0.0, beta=0.5)
    assert np.allclose(ratio[:, :-2], 1.0 / 0.5)
    assert (consistency_ratio(forward, backward, alpha=0.0, beta=2.0)[:, :-2] <= 1).all()
    with pytest.raises(ValueError, match="beta > 0"):
        consistency_ratio(forward, backward, beta=0.0)


def test_confidence_is_high_on_reliable_pixels_and_decays_away_from_them() -> None:
    reliable = np.zeros((10, 40), bool)
    reliable[:, :5] = True
    ratio = np.where(reliable, 0.0, np.inf).astype(np.float32)
    confidence = estimate_confidence(ratio, reliable, reach=10.0)
    assert np.allclose(confidence[:, :5], 1.0)
    row = confidence[5, 5:]
    assert (np.diff(row) < 0).all() and row[0] < np.exp(-1) + 1e-6 and row.min() > 0
    assert np.isinf(distance_to_reliable(np.zeros((3, 3), bool))).all()


@pytest.mark.parametrize("margin", [0, 1, 2, 5])
def test_the_margin_takes_off_the_pixels_that_near_a_rejected_one(margin) -> None:
    rng = np.random.default_rng(margin)
    reliable = rng.random((40, 60)) > 0.01
    reliable[30:, 50:] = False  # a rejected block at the frame's corner
    kept = without_margin(reliable, margin)
    # independently: the chessboard distance to the nearest rejected pixel exceeds the margin
    distance = ndimage.distance_transform_cdt(reliable, metric="chessboard")
    np.testing.assert_array_equal(kept, distance > margin)
    assert kept[:margin + 1].any() and kept[:, 0].any()  # the frame's border takes nothing off


def test_a_margin_that_would_leave_nothing_takes_nothing_off() -> None:
    reliable = np.zeros((20, 20), bool)
    reliable[5:8, 5:8] = True
    np.testing.assert_array_equal(without_margin(reliable, 2), reliable)
    assert without_margin(np.ones((4, 4), bool), 3).all()


# --- one pair ----------------------------------------------------------------------------------


def test_densify_keeps_the_reliable_estimate_and_beats_it(example) -> None:
    result = flowinpaint.densify(example["image1"], example["image2"], method="eed", preset="medium", refine=False)
    assert isinstance(result, flowinpaint.DenseFlow)
    assert result.flow.shape == (*SIZE, 2) and result.flow.dtype == np.float32
    assert result.confidence.shape == SIZE and 0 <= result.confidence.min() and result.confidence.max() <= 1
    assert 0.3 < result.reliable.mean() < 1.0
    first, second = to_grey(example["image1"] / 255.0), to_grey(example["image2"] / 255.0)
    estimate = dis_flow(first, second, "medium")
    np.testing.assert_array_equal(result.flow[result.reliable], estimate[result.reliable])
    valid = example["valid"]
    error = flowinpaint.epe(result.flow, example["flow"], valid)
    assert error < 0.8 * flowinpaint.epe(estimate, example["flow"], valid)  # inpainting beats DIS where DIS fails
    trusted = result.confidence > np.median(result.confidence)
    errors = np.linalg.norm(result.flow - example["flow"], axis=-1)
    assert errors[trusted & valid].mean() < errors[~trusted & valid].mean()


def test_densify_inpaints_the_margin_of_dense_estimates_only(example) -> None:
    frames = example["image1"], example["image2"]
    tested = flowinpaint.densify(*frames, method="laplace", preset="fast", refine=False, margin=0)
    default = flowinpaint.densify(*frames, method="laplace", preset="fast", refine=False)  # margin 2
    np.testing.assert_array_equal(default.reliable, without_margin(tested.reliable, 2))
    assert default.reliable.sum() < tested.reliable.sum()
    matches = [flowinpaint.densify(*frames, matcher="sift", method="laplace", refine=False, margin=margin).reliable
               for margin in (0, 4)]
    np.testing.assert_array_equal(*matches)  # sparse matches keep every match


def test_epic_gets_its_densify_default_unless_the_caller_sets_it(example, monkeypatch) -> None:
    from flowinpaint.densify import pipeline

    seen = []
    real = pipeline.inpaint
    monkeypatch.setattr(pipeline, "inpaint", lambda *args, **options: seen.append(options) or real(*args, **options))
    flowinpaint.densify(example["image1"], example["image2"], refine=False)
    flowinpaint.densify(example["image1"], example["image2"], refine=False, max_matches=100)
    flowinpaint.densify(example["image1"], example["image2"], method="eed", refine=False)
    assert seen == [{"max_matches": 8000, "fill_unfitted": True}, {"max_matches": 100, "fill_unfitted": True}, {}]


def test_densify_with_sift_matches_and_the_refinement(example) -> None:
    result = flowinpaint.densify(example["image1"], example["image2"], matcher="sift", method="laplace")
    assert result.reliable.mean() < 0.1  # sparse matches only
    assert np.isfinite(result.flow).all()
    unrefined = flowinpaint.densify(example["image1"], example["image2"], method="laplace", refine=False)
    refined = flowinpaint.densify(example["image1"], example["image2"], method="laplace")  # refine is the default
    valid = example["valid"]
    assert flowinpaint.epe(refined.flow, example["flow"], valid) < flowinpaint.epe(unrefined.flow, example["flow"], valid)


def test_the_fine_preset_runs_dis_at_full_resolution(example) -> None:
    first, second = to_grey(example["image1"] / 255.0), to_grey(example["image2"] / 255.0)
    fine, medium = dis_flow(first, second, "fine"), dis_flow(first, second, "medium")
    assert fine.shape == medium.shape and not np.array_equal(fine, medium)
    valid = example["valid"]
    assert flowinpaint.epe(fine, example["flow"], valid) < flowinpaint.epe(medium, example["flow"], valid)


def test_the_fine_smooth_preset_weights_dis_refinement_towards_smoothness(example) -> None:
    solver = DIS_PRESETS["fine-smooth"].create()
    assert solver.getFinestScale() == 0
    weights = (solver.getVariationalRefinementAlpha(), solver.getVariationalRefinementDelta(),
               solver.getVariationalRefinementGamma())
    assert weights == (40.0, 1.0, 10.0)
    opencv = DIS_PRESETS["fine"].create()
    assert (opencv.getVariationalRefinementAlpha(), opencv.getVariationalRefinementDelta()) == (20.0, 5.0)
    first, second = to_grey(example["image1"] / 255.0), to_grey(example["image2"] / 255.0)
    smooth, fine = dis_flow(first, second, "fine-smooth"), dis_flow(first, second, "fine")
    assert not np.array_equal(smooth, fine)
    # smoother: the mean flow gradient magnitude drops
    assert np.abs(np.diff(smooth, axis=1)).mean() < np.abs(np.diff(fine, axis=1)).mean()


def test_identical_frames_need_no_inpainting() -> None:
    frame = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    frame = cv2.GaussianBlur(frame, (0, 0), 2)
    result = flowinpaint.densify(frame, frame)
    assert np.abs(result.flow).max() < 0.05


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"matcher": "raft"}, "matcher must be one of"),
        ({"preset": "slow"}, "preset must be one of"),
        ({"method": "nope"}, "unknown method"),
        ({"method": "eed", "colour": 1}, "no option"),
        ({"refine": "yes"}, "refine must be True or False"),
        ({"beta": 0}, "beta > 0"),
        ({"margin": -1}, "margin must be an integer >= 0"),
        ({"margin": 1.5}, "margin must be an integer >= 0"),
        ({"margin": True}, "margin must be an integer >= 0"),
    ],
)
def test_bad_settings_are_clear_errors(example, changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        flowinpaint.densify(example["image1"], example["image2"], **changes)


def test_bad_frames_are_clear_errors(example) -> None:
    with pytest.raises(ValueError, match="image2.*96x128"):
        flowinpaint.densify(example["image1"], example["image2"][:50])
    with pytest.raises(ValueError, match="at least 8x8"):
        flowinpaint.densify(example["image1"][:4, :4], example["image2"][:4, :4])


# --- sequences ---------------------------------------------------------------------------------


def _frames_folder(folder: Path, count: int = 4, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """``count`` frames of one scene moving 1.5 px left per frame, named so that natural order matters."""
    folder.mkdir(parents=True, exist_ok=True)
    base = cv2.GaussianBlur((np.random.default_rng(1).random((size[0], size[1] + 20, 3)) * 255).astype(np.uint8),
                            (0, 0), 1.5)
    frames = []
    for index in range(count):
        shift = np.float32([[1, 0, -1.5 * index], [0, 1, 0]])
        frame = cv2.warpAffine(base, shift, (size[1] + 20, size[0]), flags=cv2.INTER_LINEAR)[:, 10:-10]
        write_image(folder / f"frame_{2 + 4 * index}.png", frame)  # frame_2, frame_6, frame_10, frame_14
        frames.append(frame)
    return frames


def test_folder_of_frames_gives_one_flow_per_pair_and_resumes(tmp_path, monkeypatch) -> None:
    _frames_folder(tmp_path / "in")
    assert [p.name for p in find_frames(tmp_path / "in").images] == ["frame_2.png", "frame_6.png", "frame_10.png",
                                                                     "frame_14.png"]
    summary = densify_sequence(tmp_path / "in", tmp_path / "out", confidence=True, progress=False, **FAST)
    assert summary.written == ["frame_2", "frame_6", "frame_10"] and not summary.failed
    for name in summary.written:
        flow, _ = read_flow(tmp_path / "out" / f"{name}.flo")
        assert abs(np.median(flow[..., 0]) + 1.5) < 0.3 and abs(np.median(flow[..., 1])) < 0.3
        assert (tmp_path / "out" / "color" / f"{name}.png").is_file()
        assert (tmp_path / "out" / "confidence" / f"{name}.png").is_file()
    calls = []
    monkeypatch.setattr(sequence, "densify", lambda *a, **k: calls.append(1))
    again = densify_sequence(tmp_path / "in", tmp_path / "out", confidence=True, progress=False, **FAST)
    assert again.skipped == summary.written and not again.written and calls == []


def test_a_corrupt_frame_is_reported_and_skipped(tmp_path, capsys) -> None:
    _frames_folder(tmp_path / "in", count=5)
    (tmp_path / "in" / "frame_10.png").write_bytes(b"not a png at all")
    summary = densify_sequence(tmp_path / "in", tmp_path / "out", progress=False, **FAST)
    assert summary.written == ["frame_2", "frame_14"]
    assert set(summary.failed) == {"frame_10", "frame_6"}  # the frame, and the pair that needed it
    assert "skipped frame frame_10" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("frame_6*")) and not list((tmp_path / "out").glob(".*tmp*"))


def test_glob_video_and_kitti_png_output(tmp_path) -> None:
    frames = _frames_folder(tmp_path / "in", count=4)[:3]
    summary = densify_sequence(str(tmp_path / "in" / "frame_1*.png"), tmp_path / "glob", progress=False, **FAST)
    assert summary.written == ["frame_10"]  # frame_10 -> frame_14 (frame_2 and frame_6 do not match)
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5, (SIZE[1], SIZE[0]))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    summary = densify_sequence(video, tmp_path / "video", flow_format="png", video=True, progress=False, **FAST)
    assert summary.written == ["frame_000000", "frame_000001"]
    assert read_flow(tmp_path / "video" / "frame_000000.png")[0].shape == (*SIZE, 2)
    capture = cv2.VideoCapture(str(summary.video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    capture.release()


def test_bad_sources_are_clear_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="no such file or folder"):
        find_frames(tmp_path / "missing")
    (tmp_path / "one").mkdir()
    write_image(tmp_path / "one" / "a.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="two frames at least"):
        find_frames(tmp_path / "one")
    write_image(tmp_path / "one" / "a.jpg", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="share the name 'a'"):
        find_frames(tmp_path / "one")
    with pytest.raises(ValueError, match="flow_format"):
        densify_sequence(tmp_path / "one", tmp_path / "out", flow_format="pfm")


def test_ranks_split_the_pairs(tmp_path, monkeypatch) -> None:
    _frames_folder(tmp_path / "in", count=5)
    monkeypatch.setenv("WORLD_SIZE", "2")
    written = []
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        written.append(densify_sequence(tmp_path / "in", tmp_path / "out", progress=False, **FAST).written)
    assert written == [["frame_2", "frame_10"], ["frame_6", "frame_14"]]
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="RANK must be in"):
        densify_sequence(tmp_path / "in", tmp_path / "out", progress=False, **FAST)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ValueError, match="process group"):
        densify_sequence(tmp_path / "in", tmp_path / "out", video=True, progress=False, **FAST)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_share_a_folder_and_rank_0_writes_the_video(tmp_path) -> None:
    _frames_folder(tmp_path / "in", count=5)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
               WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "flowinpaint", "densify", "--input", str(tmp_path / "in"), "--out",
               str(tmp_path / "out"), "--method", "laplace", "--preset", "fast", "--video", "--no-progress"]
    processes = [subprocess.Popen(command, env=dict(env, RANK=str(rank), LOCAL_RANK=str(rank)), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for rank in range(2)]
    outputs = [process.communicate(timeout=240) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert "2 flows written" in outputs[0][0] and "2 flows written" in outputs[1][0]
    assert sorted(path.stem for path in (tmp_path / "out").glob("*.flo")) == ["frame_10", "frame_14", "frame_2", "frame_6"]
    assert "video" in outputs[0][0] and (tmp_path / "out" / "flow.mp4").stat().st_size > 0


# --- the command line --------------------------------------------------------------------------


def test_cli_pair_writes_flow_colour_and_confidence(tmp_path, example, capsys) -> None:
    write_image(tmp_path / "a.png", example["image1"])
    write_image(tmp_path / "b.png", example["image2"])
    code = main(["densify", "--image1", str(tmp_path / "a.png"), "--image2", str(tmp_path / "b.png"), "--out",
                 str(tmp_path / "f.flo"), "--color", str(tmp_path / "c.png"), "--confidence", str(tmp_path / "k.png"),
                 "--method", "laplace"])
    assert code == 0, capsys.readouterr().err
    assert read_flow(tmp_path / "f.flo")[0].shape == (*SIZE, 2)
    assert (tmp_path / "c.png").is_file() and (tmp_path / "k.png").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "x.flo"], "either --image1"),
        (["--image1", "{tmp}/a.png", "--out", "{tmp}/x.flo"], "needs --image2"),
        (["--image1", "{tmp}/a.png", "--image2", "{tmp}/a.png", "--out", "{tmp}/x.txt"], "unknown flow file extension"),
        (["--image1", "{tmp}/a.png", "--image2", "{tmp}/a.png", "--out", "{tmp}/x.flo", "--confidence"], "takes the PNG"),
        (["--input", "{tmp}", "--out", "{tmp}/o", "--confidence", "{tmp}/k.png"], "is a flag"),
        (["--input", "{tmp}/nothing", "--out", "{tmp}/o"], "no such file"),
        (["--input", "{tmp}", "--out", "{tmp}/o", "--method", "nope"], "unknown method"),
        (["--input", "{tmp}", "--out", "{tmp}/o", "--margin", "-2"], "margin must be an integer >= 0"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, capsys, argv, message) -> None:
    write_image(tmp_path / "a.png", np.zeros((16, 16, 3), np.uint8))
    code = main(["densify", *[arg.format(tmp=tmp_path) for arg in argv]])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.startswith("flowinpaint: error:") and err.count("\n") == 1
    assert not (tmp_path / "x.flo").exists()
