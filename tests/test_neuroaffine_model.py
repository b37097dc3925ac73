"""The learned guide of ``neuroaffine``: the untrained model is the hand-made method, the trainable torch
pipeline computes what the method computes with OpenCV, the guide keeps the fit affine-exact, gradients flow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_neuroaffine import affine_flow, textured_image, uniform_mask

import flowinpaint as fi
from flowinpaint.methods.registry import opencv_contrib_missing
from flowinpaint.models.neuroaffine import (
    NeuroaffineConfig,
    NeuroaffineInpainting,
    mean_gradient,
)
from flowinpaint.models.pretrained import load_model, save_model
from flowinpaint.train.objective import epe_loss

pytestmark = pytest.mark.skipif(opencv_contrib_missing() is not None, reason="needs cv2.ximgproc")
SIZE = (96, 128)


def _perturbed_model(seed: int, flow_input: bool = False) -> NeuroaffineInpainting:
    """A model whose guide differs from the image (its zero last layer replaced by random weights)."""
    torch.manual_seed(seed)
    model = NeuroaffineInpainting(NeuroaffineConfig(width=4, depth=2, flow_input=flow_input))
    torch.nn.init.normal_(model.network.out.weight, std=0.5)
    return model.eval()


def _tensors(image: np.ndarray, flow: np.ndarray, known: np.ndarray) -> tuple[torch.Tensor, ...]:
    return (torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None],
            torch.from_numpy(np.where(known[..., None], flow, 0).astype(np.float32)).permute(2, 0, 1)[None],
            torch.from_numpy(known)[None, None])


def test_mean_gradient_is_the_methods_colour_unit() -> None:
    from flowinpaint.methods.local_affine import color_sigma

    image = textured_image(0)
    expected = color_sigma(image.astype(np.float32) / 255, 1.0)
    assert float(mean_gradient(_tensors(image, affine_flow(0), uniform_mask(0.05, 0))[0])) == pytest.approx(expected, rel=1e-5)


def test_untrained_guide_is_the_hand_made_method(tmp_path: Path) -> None:
    path = tmp_path / "guide.pt"
    save_model(NeuroaffineInpainting(NeuroaffineConfig(width=4, depth=2)), path, {"note": "untrained"})
    image, known = textured_image(1), uniform_mask(0.05, 1)
    flow = affine_flow(1) + np.sin(np.arange(SIZE[1]) / 7)[None, :, None].astype(np.float32)
    hand_made = fi.inpaint(flow, known, image)
    learned = fi.inpaint(flow, known, image, guide=str(path))
    np.testing.assert_allclose(learned, hand_made, atol=5e-3)  # the edge channel starts at ~1e-4, not 0


@pytest.mark.parametrize(("flow_input", "density"), [(False, 0.05), (True, 0.05), (False, 0.005)])
def test_method_and_trainable_model_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flow_input: bool,
                                          density: float) -> None:
    """Also at 0.5 % known, where both grow the colour scale with the values' spacing."""
    monkeypatch.setenv("FLOWINPAINT_BFLOAT16", "0")  # the trainable model runs in float32
    model = _perturbed_model(2, flow_input)
    path = tmp_path / "guide.pt"
    save_model(model, path, {"note": "random"})
    image, known = textured_image(2), uniform_mask(density, 2)
    flow = affine_flow(2) + 2 * np.cos(np.arange(SIZE[0]) / 9)[:, None, None].astype(np.float32)
    method = fi.inpaint(flow, known, image, guide=str(path), robust=False, motion_contrast=0.0)  # the model's one pass
    with torch.no_grad():
        trained = load_model(path)(*_tensors(image, flow, known))[0].permute(1, 2, 0).numpy()
    gap = np.linalg.norm(method - trained, axis=-1)
    assert np.median(gap) < 1e-4 and gap.mean() < 2e-3  # OpenCV's float32 filter vs ours: the rest is conditioning
    unguided = fi.inpaint(flow, known, image, robust=False, motion_contrast=0.0)
    assert np.abs(unguided - method).max() > 1e-2  # the guide did change it


def test_learned_guide_keeps_affine_flows_exact() -> None:
    model = _perturbed_model(3)
    image, known = textured_image(3), uniform_mask(0.01, 3)
    flow = affine_flow(3)
    with torch.no_grad():
        dense = model(*_tensors(image, flow, known))[0].permute(1, 2, 0).numpy()
    inner = (slice(12, -12), slice(12, -12))
    assert np.abs(dense - flow)[inner].max() < 1e-2


@pytest.mark.parametrize("flow_input", [False, True])
def test_gradients_reach_every_layer(flow_input: bool) -> None:
    model = _perturbed_model(4, flow_input).train()
    image, known = textured_image(4), uniform_mask(0.05, 4)
    flow = affine_flow(4) + 3 * np.sin(np.arange(SIZE[1]) / 5)[None, :, None].astype(np.float32)
    inputs = _tensors(image, flow, known)
    loss = epe_loss(model(*inputs), torch.from_numpy(flow).permute(2, 0, 1)[None], torch.ones(1, 1, *SIZE, dtype=torch.bool))
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_bad_config_and_empty_mask_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="resolution"):
        NeuroaffineConfig(resolution=0)
    with pytest.raises(ValueError, match="log_gain"):
        NeuroaffineConfig(log_gain=-1.0)
    image = textured_image(5)
    inputs = _tensors(image, affine_flow(5), np.zeros(SIZE, bool))
    with pytest.raises(ValueError, match="no known pixel"):
        _perturbed_model(5)(*inputs)


def test_a_model_of_another_kind_is_refused_as_guide() -> None:
    with pytest.raises(ValueError, match="not a neuroaffine model"):
        fi.inpaint(affine_flow(6), uniform_mask(0.05, 6), textured_image(6), guide="default")


def test_explain_pictures_the_learned_guide(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    from flowinpaint.cli import main

    model_path = tmp_path / "guide.pt"
    save_model(_perturbed_model(7), model_path, {"note": "random"})
    image, known = textured_image(7), uniform_mask(0.05, 7)
    flow = affine_flow(7)
    fi.write_flow(tmp_path / "sparse.flo", flow, known)
    cv2.imwrite(str(tmp_path / "frame.png"), image[..., ::-1])
    out = tmp_path / "explained"
    code = main(["explain", "--image", str(tmp_path / "frame.png"), "--flow", str(tmp_path / "sparse.flo"),
                 "--option", f"guide={model_path}", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    arrays = np.load(out / "parameters.npz")
    assert arrays["guide"].shape == (*SIZE, 4)
    np.testing.assert_allclose(arrays["dense"], fi.inpaint(flow, known, image, guide=str(model_path)), atol=1e-6)
    assert (out / "explain.png").stat().st_size > 10_000


def test_torch_filters_give_the_opencv_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without OpenCV's contrib modules (and on a GPU) the filters are the torch domain transform's."""
    import cv2

    image, known = textured_image(8), uniform_mask(0.05, 8)
    flow = affine_flow(8) + 2 * np.sin(np.arange(SIZE[1]) / 6)[None, :, None].astype(np.float32)
    flow[known & (np.arange(known.size).reshape(SIZE) % 41 == 0)] = 30.0  # some wrong values for the trust tests
    expected, expected_confidence = fi.inpaint(flow, known, image, return_confidence=True)
    monkeypatch.delattr(cv2, "ximgproc")
    dense, confidence = fi.inpaint(flow, known, image, return_confidence=True)
    gap = np.linalg.norm(dense - expected, axis=-1)
    assert np.median(gap) < 1e-4 and gap.mean() < 2e-3
    assert np.median(np.abs(confidence - expected_confidence)) < 1e-4


def test_flow_input_reads_only_the_known_values() -> None:
    model = _perturbed_model(9, flow_input=True)
    image, flow, known = _tensors(textured_image(9), affine_flow(9), uniform_mask(0.05, 9))
    scrambled = torch.where(known, flow, torch.full_like(flow, float("nan")))
    with torch.no_grad():
        guide, same = model.guide(image, flow, known), model.guide(image, scrambled, known)
        moved = model.guide(image, flow + 5 * (torch.arange(SIZE[1]) > SIZE[1] // 2), known)
    torch.testing.assert_close(guide, same)
    assert (moved - guide).abs().max() > 1e-3  # a jump in the known values changes the guide
