"""``flowinpaint evaluate`` and :mod:`flowinpaint.eval.runner`: files, numbers, resume, failures."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from flowinpaint.cli import main
from flowinpaint.data import load_dataset
from flowinpaint.data.masks import make_sparse
from flowinpaint.eval import epe, fl_all, runner
from flowinpaint.eval.runner import EvalConfig, entry_key, evaluate, mask_seed, producer
from flowinpaint.methods import get_method, inpaint, registry

METHODS = ("laplace", "griddata", "eed")
DENSITIES = (0.05, 0.1)
SIZE = (48, 64)


def _config(out, **changes) -> EvalConfig:
    config = EvalConfig(dataset="synthetic", out=out, methods=",".join(METHODS), densities=DENSITIES, limit=2,
                        size=SIZE, progress=False, figures=False)
    return dataclasses.replace(config, **changes)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One complete run with figures, shared by the read-only tests."""
    out = tmp_path_factory.mktemp("eval")
    results = evaluate(_config(out, figures=True))
    return out, results


def _counting(monkeypatch):
    calls = []

    def counted(flow, mask, image=None, method="eed", **options):
        calls.append(method)
        return inpaint(flow, mask, image, method, **options)

    monkeypatch.setattr(runner, "inpaint", counted)
    return calls


def test_writes_every_file_and_entry(finished):
    out, results = finished
    for name in ("results.json", "results.md", "error_vs_density.png", "qualitative.png"):
        assert (out / name).stat().st_size > 0, name
    stored = json.loads((out / "results.json").read_text())
    assert stored == json.loads(json.dumps(results))
    assert len(stored["entries"]) == 2 * len(METHODS) * len(DENSITIES)
    assert all(entry["error"] is None and entry["seconds"] > 0 for entry in stored["entries"].values())
    environment = stored["environment"]
    assert {"python", "torch", "numpy", "opencv", "scipy", "cpu_count", "platform", "git_commit"} <= set(environment)
    report = (out / "results.md").read_text()
    assert all(method in report for method in METHODS) and "EPE @ 5%" in report and "params" in report


def test_numbers_match_a_direct_call(finished):
    _out, results = finished
    entry = results["entries"][entry_key(1, "eed", 0.1)]
    sample = load_dataset("synthetic", split="test", size=SIZE, length=2, seed=0)[1]
    sparse = make_sparse("uniform", sample, 0.1, seed=mask_seed(0, 1, 0.1))
    dense = inpaint(sparse.flow, sparse.mask, sample["image1"], "eed")
    valid = sample["valid"]
    assert entry["id"] == sample["id"]
    assert entry["epe"] == pytest.approx(epe(dense, sample["flow"], valid), rel=1e-6)
    assert entry["epe_unknown"] == pytest.approx(epe(dense, sample["flow"], valid & ~sparse.mask), rel=1e-6)
    assert entry["fl_all"] == pytest.approx(fl_all(dense, sample["flow"], valid), rel=1e-6)
    assert entry["known_fraction"] == pytest.approx(sparse.mask.mean())


def test_resume_recomputes_only_the_missing_entry(tmp_path, monkeypatch):
    evaluate(_config(tmp_path))
    path = tmp_path / "results.json"
    stored = json.loads(path.read_text())
    removed = entry_key(0, "griddata", 0.05)
    kept = stored["entries"].pop(removed)
    path.write_text(json.dumps(stored))
    calls = _counting(monkeypatch)
    results = evaluate(_config(tmp_path))
    assert calls == ["griddata"]
    assert results["entries"][removed]["epe"] == pytest.approx(kept["epe"])
    assert len(json.loads(path.read_text())["entries"]) == len(stored["entries"]) + 1


def test_entries_record_their_producer_and_a_resume_warns_of_others(tmp_path, monkeypatch):
    """Every entry names what computed it; resuming keeps another flowinpaint's entries (a cache of
    slow peers) but warns, naming how many, their methods and producer, and ``restart`` recomputes."""
    results = evaluate(_config(tmp_path))
    assert {entry["producer"] for entry in results["entries"].values()} == {producer()}
    assert producer().startswith("flowinpaint ")
    path = tmp_path / "results.json"
    stored = json.loads(path.read_text())
    for key in (entry_key(0, "griddata", 0.05), entry_key(1, "griddata", 0.05)):
        stored["entries"][key]["producer"] = "flowinpaint 0.0.1, commit 0123456789ab"
    del stored["entries"][entry_key(0, "eed", 0.05)]["producer"]  # written before producers were recorded
    path.write_text(json.dumps(stored))
    calls = _counting(monkeypatch)
    with pytest.warns(UserWarning, match=r"3 of the \d+ results kept were computed by another flowinpaint.*"
                                         r"an unrecorded flowinpaint: eed \(1\); flowinpaint 0.0.1, commit "
                                         r"0123456789ab: griddata \(2\); pass --restart"):
        evaluate(_config(tmp_path))
    assert calls == []
    evaluate(dataclasses.replace(_config(tmp_path), restart=True))
    assert {entry["producer"] for entry in json.loads(path.read_text())["entries"].values()} == {producer()}


def test_a_failing_method_is_recorded_not_fatal(tmp_path, monkeypatch):
    def broken(problem, options):
        raise RuntimeError("solver exploded")

    monkeypatch.setitem(registry._REGISTRY, "laplace", dataclasses.replace(get_method("laplace"), run=broken))
    results = evaluate(_config(tmp_path, limit=1))
    entries = results["entries"]
    assert all("solver exploded" in entries[entry_key(0, "laplace", d)]["error"] for d in DENSITIES)
    assert all(entries[entry_key(0, "laplace", d)]["epe"] is None for d in DENSITIES)
    assert all(entries[entry_key(0, m, d)]["error"] is None for m in ("griddata", "eed") for d in DENSITIES)
    assert "solver exploded" in (tmp_path / "results.md").read_text()


def test_a_method_extrapolating_beyond_float16_still_gets_its_figures(tmp_path, monkeypatch):
    """A finite but huge output (1e6 px, past float16's range) is measured as it is; the
    qualitative figure, which stores flows in float16, clips it instead of stopping the run."""
    def wild(problem, options):
        dense = problem.flow.clone()
        dense[:, :, :4, :4] = 1e6
        return dense

    monkeypatch.setitem(registry._REGISTRY, "laplace", dataclasses.replace(get_method("laplace"), run=wild))
    results = evaluate(_config(tmp_path, limit=1, figures=True))
    assert all(results["entries"][entry_key(0, "laplace", d)]["epe"] > 1e3 for d in DENSITIES)
    assert (tmp_path / "qualitative.png").is_file()


def test_a_different_config_is_an_error_unless_restart(tmp_path, monkeypatch):
    evaluate(_config(tmp_path, methods="griddata", densities=(0.1,), limit=1))
    with pytest.raises(ValueError, match="different configuration.*seed"):
        evaluate(_config(tmp_path, methods="griddata", densities=(0.1,), limit=1, seed=1))
    calls = _counting(monkeypatch)
    evaluate(_config(tmp_path, methods="griddata", densities=(0.1,), limit=1, seed=1, restart=True))
    assert calls == ["griddata"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--methods", "laplace,nope"], "unknown method"),
        (["--densities", "0.1,1.5"], "densities"),
        (["--dataset", "sintel"], "needs --root"),
        (["--masks", "dots"], "invalid choice"),
        (["--limit", "0"], "positive integer"),
        (["--outliers", "1.5"], "fraction in [0, 1)"),
        (["--pass", "final"], "--pass is for sintel and flyingthings"),
        (["--flow", "noc"], "--flow is for kitti and kitti2012"),
        (["--dataset", "kitti2012"], "needs --root"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, capsys, argv, message):
    base = {"--dataset": "synthetic", "--methods": "griddata", "--out": str(tmp_path / "out")}
    base.update(dict(zip(argv[::2], argv[1::2])))
    code = main(["evaluate", *[part for pair in base.items() for part in pair]])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("flowinpaint: error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "results.json").exists()


def test_cli_runs_synthetic(tmp_path, capsys):
    code = main(["evaluate", "--dataset", "synthetic", "--size", "48x64", "--limit", "1", "--methods", "griddata",
                 "--densities", "0.1", "--out", str(tmp_path), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "1 results (0 failed)" in capsys.readouterr().out
    assert "griddata" in (tmp_path / "results.md").read_text()


def test_outliers_are_stored_and_measured(tmp_path):
    results = evaluate(_config(tmp_path, methods="griddata", densities=(0.1,), outliers=0.2, masks="scanlines"))
    assert results["config"]["outliers"] == 0.2 and results["config"]["masks"] == "scanlines"
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["config"]["outliers"] == 0.2
    sample = load_dataset("synthetic", split="test", size=SIZE, length=2, seed=0)[1]
    sparse = make_sparse("scanlines", sample, 0.1, seed=mask_seed(0, 1, 0.1), outliers=0.2)
    dense = inpaint(sparse.flow, sparse.mask, None, "griddata")
    valid = sample["valid"]
    wrong = sparse.mask & valid & (np.linalg.norm(sparse.flow - sample["flow"], axis=-1) > 3)
    assert wrong.any() and (wrong <= sparse.outliers).all()
    entry = results["entries"][entry_key(1, "griddata", 0.1)]
    assert entry["epe"] == pytest.approx(epe(dense, sample["flow"], valid), rel=1e-6)
    assert entry["known_wrong_fraction"] == pytest.approx(wrong.sum() / (sparse.mask & valid).sum())
    # Hard constraints: right known values stay exact, wrong ones keep their input error.
    assert entry["epe_known_inlier"] == pytest.approx(epe(sparse.flow, sample["flow"], sparse.mask & valid & ~wrong), abs=1e-6)
    assert entry["epe_known_outlier"] == pytest.approx(epe(sparse.flow, sample["flow"], wrong), rel=1e-6)
    assert "wrong known %" in (tmp_path / "results.md").read_text()
    with pytest.raises(ValueError, match="different configuration.*outliers"):
        evaluate(_config(tmp_path, methods="griddata", densities=(0.1,), masks="scanlines"))


def test_exact_inputs_have_no_wrong_known_values(finished):
    out, results = finished
    assert "wrong known %" not in (out / "results.md").read_text()  # the columns show only with wrong values
    entry = results["entries"][entry_key(0, "eed", 0.05)]
    assert entry["known_wrong_fraction"] == 0.0 and entry["epe_known_inlier"] == pytest.approx(0.0, abs=1e-6)
    assert entry["epe_known_outlier"] is None


def test_a_results_file_from_before_the_new_settings_resumes(tmp_path, monkeypatch):
    evaluate(_config(tmp_path, methods="griddata", densities=(0.1,), limit=1))
    path = tmp_path / "results.json"
    stored = json.loads(path.read_text())
    for key in ("pass_name", "flow_type", "outliers"):
        del stored["config"][key]
    path.write_text(json.dumps(stored))
    calls = _counting(monkeypatch)
    evaluate(_config(tmp_path, methods="griddata", densities=(0.1,), limit=1))
    assert calls == []


def test_dataset_options_are_checked():
    with pytest.raises(ValueError, match="pass_name is an option of sintel, flyingthings"):
        evaluate(EvalConfig(dataset="middlebury", root=".", out="x", pass_name="final"))
    with pytest.raises(ValueError, match="outliers must be a fraction"):
        evaluate(EvalConfig(dataset="synthetic", out="x", outliers=1.0))


def test_dev_set_from_shared_data(shared_data, tmp_path, capsys):
    """Sintel's final pass is the default; KITTI 2012 with its noc ground truth; roots stay relative."""
    out = tmp_path / "sintel"
    code = main(["evaluate", "--dataset", "sintel", "--root", str(shared_data / "sintel"), "--limit", "1",
                 "--methods", "griddata", "--densities", "0.05", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    stored = json.loads((out / "results.json").read_text())
    assert stored["config"]["pass_name"] == "final" and "--pass final" in stored["command"]
    assert next(iter(stored["entries"].values()))["id"].startswith("sintel/final/")
    assert not stored["config"]["root"].startswith("/")
    assert not any(word.startswith("/") for word in stored["command"].split())  # no machine's absolute path
    out = tmp_path / "kitti"
    code = main(["evaluate", "--dataset", "kitti2012", "--root", str(shared_data / "kitti2012"), "--flow", "noc",
                 "--limit", "1", "--methods", "griddata", "--densities", "0.05", "--masks", "blocks",
                 "--outliers", "0.1", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    report = (out / "results.md").read_text()
    assert "ground truth noc" in report and "Fl-all %" in report and "10% of the known values replaced" in report
    code = main(["evaluate", "--dataset", "kitti2012", "--root", str(shared_data / "kitti2012"), "--methods",
                 "griddata", "--out", str(tmp_path / "occ"), "--no-progress"])
    assert code == 2 and "--flow noc" in capsys.readouterr().err


def test_middlebury_from_shared_data(shared_data, tmp_path):
    root = shared_data / "middlebury"
    if not root.is_dir():
        pytest.skip(f"no Middlebury samples at {root}")
    results = evaluate(EvalConfig(dataset="middlebury", root=root, out=tmp_path, methods="griddata",
                                  densities=(0.05,), limit=1, progress=False, figures=False))
    (entry,) = results["entries"].values()
    assert entry["error"] is None and entry["id"].startswith("middlebury/")
    assert 0 < entry["epe"] < 5 and entry["epe_occ"] is None  # Middlebury has no occlusion masks


def test_method_specs_carry_options_and_bad_ones_are_named(tmp_path):
    results = evaluate(EvalConfig(dataset="synthetic", out=tmp_path / "run", methods=["laplace", "laplace:alpha=0.3"],
                                  densities=(0.1,), limit=1, size=(32, 40), progress=False))
    epes = {entry["method"]: entry["epe"] for entry in results["entries"].values()}
    assert set(epes) == {"laplace", "laplace:alpha=0.3"} and epes["laplace"] != epes["laplace:alpha=0.3"]
    for bad, words in (("laplace:nope=1", "no option 'nope'"), ("laplace:alpha=x", "finite number"), ("nope", "unknown method")):
        with pytest.raises(ValueError, match=words):
            evaluate(EvalConfig(dataset="synthetic", out=tmp_path / "bad", methods=[bad], limit=1, progress=False))
