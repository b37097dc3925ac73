"""flowinpaint: dense optical flow from sparse flow, guided by the reference image.

The public API::

    dense = flowinpaint.inpaint(flow, mask, image)  # method="neuroaffine" (default; "neuroexplicit": the paper's)
    dense, confidence = flowinpaint.inpaint(flow, mask, image, return_confidence=True)
    denses = flowinpaint.inpaint_batch(flows, masks, images, method="neuroexplicit", device="cuda")
    result = flowinpaint.densify(frame1, frame2)  # dense flow from two frames: result.flow, .confidence
    model = flowinpaint.load_model("default")  # the network itself (torch.nn.Module)
    flow, valid = flowinpaint.read_flow("frame.flo")
    flowinpaint.write_flow("dense.flo", dense)
    picture = flowinpaint.flow_to_color(dense)
    error = flowinpaint.epe(dense, ground_truth)
"""

from .densify import DenseFlow, densify
from .errors import FlowFormatError
from .eval import angular_error, epe, epe_map, fl_all
from .io import read_flow, read_image, read_mask, write_flow, write_image
from .methods import (
    DEFAULT_METHOD,
    SparseFlow,
    inpaint,
    inpaint_batch,
    method_names,
    points_to_sparse,
)
from .models.pretrained import load_model
from .viz import flow_to_color

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_METHOD",
    "DenseFlow",
    "FlowFormatError",
    "SparseFlow",
    "angular_error",
    "densify",
    "epe",
    "epe_map",
    "fl_all",
    "flow_to_color",
    "inpaint",
    "inpaint_batch",
    "load_model",
    "method_names",
    "points_to_sparse",
    "read_flow",
    "read_image",
    "read_mask",
    "write_flow",
    "write_image",
]
