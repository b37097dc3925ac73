"""The exported network (torch.export) gives the model's flow; bad sizes and files get clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowinpaint import load_model
from flowinpaint.models.deploy import (
    export_network,
    load_network,
    save_network,
    with_network,
)


@pytest.fixture(scope="module")
def model():
    return load_model().eval()


def _inputs(height: int, width: int):
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, height, width, generator=generator)
    rows, columns = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                                   indexing="ij")
    # a smooth rotation plus a jump where the image is bright: a field the network's edges matter for
    flow = torch.stack([0.05 * rows + 3 * (image[0, 0] > 0.5), -0.04 * columns + 1.5], dim=0)[None]
    known = torch.rand(1, 1, height, width, generator=generator) < 0.05
    return image, flow, known


def test_exported_network_gives_the_same_flow_through_a_saved_archive(model, tmp_path):
    height, width = 70, 100  # not a multiple of 16: the export keeps the U-Net's padding
    image, flow, known = _inputs(height, width)
    path = tmp_path / "dtm.pt2"
    save_network(export_network(model, height, width), path)
    deployed = with_network(model, load_network(path))
    with torch.no_grad():
        expected = model(image, flow, known, bfloat16=False, compiled=False)
        found = deployed(image, flow, known, compiled=False)
    assert found.shape == expected.shape == (1, 2, height, width)
    assert float((found - expected).abs().max()) <= 1e-4
    assert float((expected - flow).abs()[known.expand_as(flow)].max()) == 0  # the known values held
    assert float(expected.std()) > 0.5  # a real flow, not a constant


def test_exported_network_names_its_size_when_given_another(model):
    deployed = with_network(model, export_network(model, 32, 48))
    image, flow, known = _inputs(40, 48)
    with pytest.raises(ValueError, match="exported for images of shape 1x3x32x48"):
        deployed(image, flow, known, compiled=False)


def test_export_and_load_errors(model, tmp_path):
    with pytest.raises(ValueError, match="sides >="):
        export_network(model, 4, 48)
    with pytest.raises(ValueError, match="no network"):
        export_network(torch.nn.Linear(2, 2), 32, 32)
    with pytest.raises(FileNotFoundError):
        load_network(tmp_path / "missing.pt2")
    corrupt = tmp_path / "corrupt.pt2"
    corrupt.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="not an exported network"):
        load_network(corrupt)
    other_zip = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, other_zip)  # a zip archive, but not an exported program
    with pytest.raises(ValueError, match="without the .pt2 format record"):
        load_network(other_zip)
