"""The trust classifier: its features, the shipped model, its training, and the method it steers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import flowinpaint as fi
from flowinpaint.data import make_example, make_sparse
from flowinpaint.methods import neuroaffine
from flowinpaint.methods.local_affine import local_affine_fit
from flowinpaint.methods.neuroaffine import REFINEMENT_ITERATIONS, NeuroaffineOptions
from flowinpaint.methods.trust import FEATURE_NAMES, trust_evidence
from flowinpaint.methods.validation import as_problem
from flowinpaint.models.pretrained import load_model, model_record, save_model
from flowinpaint.models.trust import TrustClassifier, TrustConfig
from flowinpaint.train.trust import (
    FIT,
    TrustTrainingConfig,
    collect_examples,
    train_trust,
)


def _evidence(flow: np.ndarray, known: np.ndarray, image: np.ndarray):
    return trust_evidence(flow, known, known.astype(np.float32), image, local_affine_fit, **FIT)


def test_features_of_an_affine_flow_say_every_value_agrees():
    """On an affine flow every value passes the neighbour test, lies on the affine fit (exact for
    affine flows), agrees with all its neighbours, and the input has no failing values."""
    rng = np.random.default_rng(0)
    height, width = 96, 128
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    flow = np.stack([0.03 * columns - 0.02 * rows + 2.0, 0.01 * columns + 0.04 * rows - 1.0], axis=-1)
    known = rng.random((height, width)) < 0.05
    image = rng.random((height, width, 3)).astype(np.float32) * 0.1 + 0.4
    evidence = _evidence(flow, known, image)
    assert evidence.features.shape == (known.sum(), len(FEATURE_NAMES))
    assert np.isfinite(evidence.features).all()
    column = {name: evidence.features[:, k] for k, name in enumerate(FEATURE_NAMES)}
    assert evidence.agreeing[known].all() and column["failing"].max() == 0
    assert column["fit_residual"].max() < 1e-3  # the edge-aware affine fit reproduces the flow
    # the neighbours' planes predict each value from the others (their ridge shrinks the slopes a little)
    assert np.median(column["affine_position"]) < 0.02 and np.median(column["affine_colour"]) < 0.02
    assert column["close_position"].min() == 1.0 and column["partner"].max() == 0
    assert column["log_density"][0] == pytest.approx(math.log(known.mean()))


def test_clear_values_of_a_clean_input_get_no_features_and_the_rest_the_same_ones():
    """With ``clear_within``, a clean input's values that pass both neighbour tests well within
    their allowance get no features; every other value gets exactly the features the full
    computation gives it. An input with many wrong values is not clean: every value is featured."""
    example = make_example((96, 128), seed=2)
    image = example["image1"].astype(np.float32) / 255
    known = np.random.default_rng(2).random((96, 128)) < 0.2
    full = _evidence(example["flow"], known, image)
    part = trust_evidence(example["flow"], known, known.astype(np.float32), image, local_affine_fit, **FIT,
                          clear_within=0.25)
    assert full.featured[known].all() and not full.featured[~known].any()
    featured = part.featured[known]
    assert 0 < featured.sum() < 0.5 * known.sum()  # a clean input: most values are clear
    np.testing.assert_array_equal(part.features, full.features[featured])
    column = {name: full.features[:, k] for k, name in enumerate(FEATURE_NAMES)}
    ratio = np.expm1(np.maximum(column["deviation_position"], column["deviation_colour"]))  # failures, in allowances
    assert (ratio[~featured] <= 0.25 + 1e-5).all() and (ratio[featured] > 0.25 - 1e-5).all()
    dirty = make_sparse("uniform", example, 0.2, seed=3, outliers=0.2)
    all_featured = trust_evidence(dirty.flow, dirty.mask, dirty.mask.astype(np.float32), image, local_affine_fit, **FIT,
                                  clear_within=0.25)
    assert all_featured.featured[dirty.mask].all()
    assert len(all_featured.features) == dirty.mask.sum()


def test_an_input_whose_values_are_all_clear_runs_no_classifier_and_stays_exact():
    """An affine flow sampled at 30 %: every value is clear, the classifier gets an empty batch,
    and the default reproduces the flow (affine-exact)."""
    height, width = 96, 128
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    flow = np.stack([0.03 * columns - 0.02 * rows + 2.0, 0.01 * columns + 0.04 * rows - 1.0], axis=-1)
    known = np.random.default_rng(0).random((height, width)) < 0.3
    image = np.random.default_rng(1).random((height, width, 3)).astype(np.float32) * 0.1 + 0.4
    evidence = trust_evidence(flow, known, known.astype(np.float32), image, local_affine_fit, **FIT, clear_within=0.25)
    assert evidence.features.shape == (0, len(FEATURE_NAMES)) and not evidence.featured.any()
    dense = fi.inpaint(np.where(known[..., None], flow, 0).astype(np.float32), known, image)
    assert np.abs(dense - flow).max() < 1e-4


def test_skipping_the_clear_values_keeps_the_default_flow():
    """On a clean input the default with ``clear_within`` (its default) gives the flow it gives
    when the classifier judges every value."""
    example = make_example((96, 128), seed=4)
    known = np.random.default_rng(4).random((96, 128)) < 0.3
    flow = np.where(known[..., None], example["flow"], 0).astype(np.float32)
    judged_all = fi.inpaint(flow, known, example["image1"], clear_within=0.0)
    np.testing.assert_array_equal(fi.inpaint(flow, known, example["image1"]), judged_all)


def test_a_wrong_value_stands_out_in_its_features():
    example = make_example((96, 128), seed=1)
    known = np.random.default_rng(1).random((96, 128)) < 0.05
    flow = example["flow"].copy()
    index = np.flatnonzero(known)[len(np.flatnonzero(known)) // 2]
    flow.reshape(-1, 2)[index] += [12.0, -9.0]
    evidence = _evidence(flow, known, example["image1"].astype(np.float32) / 255)
    row = int(np.searchsorted(np.flatnonzero(known), index))
    deviation = evidence.features[:, FEATURE_NAMES.index("deviation_position")]
    assert deviation[row] > np.percentile(np.delete(deviation, row), 99)
    assert not evidence.agreeing.reshape(-1)[index]
    # its neighbours' plane predicts the truth, 15 px away (log1p(15) = 2.8), whatever its own value
    assert evidence.features[row, FEATURE_NAMES.index("affine_position")] > 2.5


def test_the_shipped_model_is_a_trust_model_of_these_features_with_its_record():
    model = load_model("trust")
    assert isinstance(model, TrustClassifier) and tuple(model.config.features) == FEATURE_NAMES
    record = model_record("trust")
    assert record["validation"]["held_out_accepted_wrong"] < 0.1 and record["validation"]["held_out_rejected_right"] < 0.01
    assert record["examples"] > 100_000 and record["training_commands"][0].startswith("flowinpaint train-trust ")


def test_the_shipped_model_finds_wrong_values_and_keeps_right_ones():
    """On a scene it was not trained on (the example generator) with 20 % wrong values: at least
    90 % of the values wrong by more than 3 px are dropped, at least 98 % of the right ones kept."""
    example = make_example((192, 256), seed=3)
    noisy = make_sparse("uniform", example, 0.05, seed=0, outliers=0.2)
    parts = neuroaffine.explain(as_problem(noisy.flow, noisy.mask, example["image1"], False, "neuroaffine"),
                                neuroaffine.NeuroaffineOptions())
    error = np.linalg.norm(noisy.flow - example["flow"], axis=-1)
    wrong, right = noisy.mask & (error > 3), noisy.mask & (error < 1e-3)
    assert wrong.sum() > 100
    assert (~parts.kept[wrong]).mean() >= 0.9
    assert parts.kept[right].mean() >= 0.98
    assert parts.trust is not None and parts.trust[~noisy.mask].max() == 0
    assert parts.trust[right].mean() > parts.trust[wrong].mean() + 0.5


def test_the_features_are_trained_with_the_methods_fit() -> None:
    options = NeuroaffineOptions()
    assert FIT == {"spatial_factor": options.spatial_factor, "color_factor": options.color_factor,
                   "reach": options.reach, "iterations": REFINEMENT_ITERATIONS, "sparse_below": options.sparse_below}


def test_training_on_a_few_scenes_gives_a_model_that_saves_loads_and_beats_chance(tmp_path):
    config = TrustTrainingConfig(scenes=6, size=(96, 128), epochs=6, seed=1)
    features, labels = collect_examples(config)
    assert features.shape == (len(labels), len(FEATURE_NAMES)) and set(np.unique(labels)) <= {0.0, 1.0}
    model, scores = train_trust(config, features, labels)
    assert scores["accepted_wrong"] < 0.5 and scores["rejected_right"] < 0.1
    path = tmp_path / "trust.pt"
    save_model(model, path, {"scores": scores})
    loaded = load_model(path)
    probe = torch.from_numpy(features[:50])
    torch.testing.assert_close(loaded(probe), model(probe).detach())
    again, _ = train_trust(config, features, labels)  # seeded: the same model
    torch.testing.assert_close(again(probe), model(probe).detach())


def test_training_skips_a_scene_without_matches_and_may_use_perspective_scenes(monkeypatch):
    """A scene where the matcher finds nothing (blurred, moving too far) is skipped, not fatal;
    the other scenes' examples are the same as without the failure."""
    from flowinpaint.train import trust as training

    config = TrustTrainingConfig(scenes=4, size=(64, 80), seed=2, perspective=1.0)
    features, labels = collect_examples(config)
    real = training.make_sparse
    calls = []

    def failing_first(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 1:
            raise ValueError("match_mask: no sift match passed the ratio (0.8) and forward-backward (1 px) tests")
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "make_sparse", failing_first)
    fewer, fewer_labels = collect_examples(config)
    assert len(calls) == 4 and 0 < len(fewer_labels) < len(labels)
    np.testing.assert_array_equal(fewer, features[len(labels) - len(fewer_labels):])


def test_the_command_line_trains_and_writes_a_model_with_its_record(tmp_path, capsys):
    from flowinpaint.cli import main

    path = tmp_path / "judge.pt"
    assert main(["train-trust", "--scenes", "3", "--epochs", "1", "--out", str(path)]) == 0
    assert "examples; held out" in capsys.readouterr().out
    assert isinstance(load_model(path), TrustClassifier)
    assert model_record(path)["config"]["scenes"] == 3 and path.with_suffix(".json").is_file()


def test_a_judge_of_another_kind_or_bad_threshold_is_a_clear_error():
    example = make_example((64, 80), seed=0)
    known = np.random.default_rng(0).random((64, 80)) < 0.1
    with pytest.raises(ValueError, match="not a trust model"):
        fi.inpaint(example["flow"], known, example["image1"], judge="default")
    with pytest.raises(ValueError, match="no shipped model"):
        fi.inpaint(example["flow"], known, example["image1"], judge="nonesuch")
    with pytest.raises(ValueError, match="trust_threshold"):
        fi.inpaint(example["flow"], known, example["image1"], trust_threshold=1.5)
    with pytest.raises(ValueError, match=r"features must be \(N, "):
        TrustClassifier(TrustConfig(("a", "b")))(torch.zeros(3, 5))


def test_the_tests_judge_and_the_model_agree_on_clean_input_and_both_hold_kept_values():
    example = make_example((96, 128), seed=2)
    clean = make_sparse("uniform", example, 0.05, seed=2)
    for judge in ("trust", "tests"):
        dense = fi.inpaint(clean.flow, clean.mask, example["image1"], judge=judge)
        parts = neuroaffine.explain(as_problem(clean.flow, clean.mask, example["image1"], False, "neuroaffine"),
                                    neuroaffine.NeuroaffineOptions(judge=judge))
        np.testing.assert_array_equal(dense[parts.kept], clean.flow[parts.kept])  # kept values stay exact
        assert parts.kept[clean.mask].mean() > 0.97


def test_a_handful_of_values_is_judged_by_the_tests():
    """Below 17 known values the neighbour statistics the classifier reads are too thin: the
    hand-made tests judge instead (no trust map), the same as asking for them."""
    example = make_example((64, 80), seed=0)
    known = np.zeros((64, 80), bool)
    known[np.random.default_rng(0).integers(0, 64, 12), np.random.default_rng(1).integers(0, 80, 12)] = True
    problem = as_problem(example["flow"], known, example["image1"], False, "neuroaffine")
    parts = neuroaffine.explain(problem, neuroaffine.NeuroaffineOptions())
    assert parts.trust is None
    np.testing.assert_array_equal(parts.dense, neuroaffine.explain(problem, neuroaffine.NeuroaffineOptions(judge="tests")).dense)


def _lone_value_on_a_small_object(seed: int):
    """A 6x6 px object of its own colour moving against an affine background, 1 % of the pixels
    known, of which one on the object: flow, known, image, object."""
    height, width = 128, 160
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    flow = np.stack([0.02 * columns + 1.0, -0.01 * rows + 0.5], axis=-1).astype(np.float32)
    image = (0.35 + 0.1 * np.random.default_rng(0).random((height, width, 3))).astype(np.float32)
    thing = (np.abs(rows - 64) < 3) & (np.abs(columns - 80) < 3)
    flow[thing] = [-3.0, 2.5]
    image[thing] = [0.9, 0.2, 0.1]
    known = (np.random.default_rng(seed).random((height, width)) < 0.01) & ~thing
    known[64, 80] = True
    return flow, known, image, thing


def test_a_doubted_value_still_speaks_where_no_kept_value_reaches():
    """On a clean input the classifier drops the only value of a small object (its neighbours all
    move otherwise): with ``doubt_from=0.1`` the value stays with a small weight, not exact, and
    the object's error falls by over a third; values the classifier keeps do not change; by
    default (off) the object takes the background's motion."""
    flow, known, image, thing = _lone_value_on_a_small_object(1)
    problem = as_problem(flow, known, image, needs_image=True, method="neuroaffine")
    doubting = neuroaffine.explain(problem, NeuroaffineOptions(doubt_from=0.1))
    dropping = neuroaffine.explain(problem, NeuroaffineOptions())
    assert not dropping.kept[64, 80] and 0.1 <= dropping.trust[64, 80] < 0.5
    assert doubting.doubted[64, 80] and not dropping.doubted.any()
    assert np.array_equal(doubting.kept, dropping.kept)

    def object_error(parts) -> float:
        return float(np.linalg.norm(parts.dense - flow, axis=-1)[thing].mean())

    assert object_error(dropping) > 5.0  # the background's motion
    assert object_error(doubting) < 0.67 * object_error(dropping)


def test_nothing_is_doubted_in_an_input_with_many_wrong_values():
    """With 20 % wrong values (more than 2 % of the values fail the neighbour test) the dropped
    values are dropped for good, whatever their trust: a wrong value alone in its region would paint it."""
    example = make_example((192, 256), seed=4)
    noisy = make_sparse("uniform", example, 0.05, seed=0, outliers=0.2)
    problem = as_problem(noisy.flow, noisy.mask, example["image1"], needs_image=True, method="neuroaffine")
    parts = neuroaffine.explain(problem, NeuroaffineOptions(doubt_from=0.0))
    assert (noisy.mask & ~parts.kept).sum() > 100 and not parts.doubted.any()
    with pytest.raises(ValueError, match="doubt_from"):
        NeuroaffineOptions(doubt_from=1.5)
