"""``neuroaffine``: edge-aware local affine fits, with the learned diffusion filling their residual (the default).

The paper's method (``neuroexplicit``) is a second-order diffusion: its steady state is flat
around each known pixel and steep between them, so it cannot continue a motion gradient (zoom,
rotation, perspective) into empty regions, and every known value, right or wrong, is a hard
constraint. This method keeps the paper's idea, a network that only steers a stable explicit
diffusion, and changes what is diffused:

1. **Robust known values.** A known value is kept when it is near the median motion of its
   ``neighbours`` nearest known pixels: within ``tolerance`` pixels, plus ``spread_factor``
   times their own spread, plus ``slope`` pixels per pixel of distance (see
   :func:`.local_affine.neighbour_agreement`), or when the edge-aware fit of step 2 made from
   the values that pass predicts it to within ``rescue_tolerance`` pixels (a value on a thin
   object, whose nearest neighbours lie on the background, is predicted by those on the
   object); the others are treated as unknown. Values the user gave a confidence below 0.5 are dropped too,
   and the rest weigh in by their confidence.
2. **Affine base.** An edge-aware first-order normalized convolution of the kept values
   (:func:`.local_affine.local_affine_fit`; the domain transform's spatial scale
   ``spatial_factor / sqrt(density)`` pixels, its colour scale ``color_factor`` times the image's
   mean gradient magnitude) gives a base flow ``A`` that reproduces any affine flow exactly.
3. **Learned diffusion of the residual.** The shipped neuroexplicit model inpaints the residual
   ``f - A`` from the kept pixels, and the result is ``A + residual``: exact at the kept pixels,
   affine where the data is, with the learned edges where motions meet.

The confidence of an output pixel is ``1 / (1 + misfit / 1 px)``, with ``misfit`` the local RMS
distance of the kept values from their affine fit there (0 where the flow is locally affine, large
where motions meet or values disagree). A dropped known pixel has confidence 0, saying its input
value was rejected; its output is the filled value, not the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .learned import network_parameters, shipped
from .local_affine import AffineFit, color_sigma, local_affine_fit, neighbour_agreement
from .neuroexplicit import NeuroexplicitOptions
from .neuroexplicit import run as run_neuroexplicit
from .registry import Method, Problem, Solution, register, trusted_known

__all__ = ["NeuroaffineOptions"]

CONFIDENCE_SCALE = 1.0  # pixels of local misfit at which the output confidence is 1/2


@dataclass(frozen=True)
class NeuroaffineOptions(NeuroexplicitOptions):
    """Options of ``neuroaffine`` (and those of ``neuroexplicit``, which fills the residual).

    Attributes:
        robust: drop the known values that disagree with their neighbours (the default); False
            holds every known value exactly.
        neighbours: how many nearest known values each is compared with.
        tolerance: pixels a value may be off its neighbours' median motion and still be kept.
        spread_factor: the allowance on top per pixel of the neighbours' own spread.
        slope: the allowance on top per pixel of the neighbours' median distance.
        rescue_tolerance: a value that fails that test is kept all the same when the edge-aware
            affine fit of the values that pass predicts it to within this many pixels.
        spatial_factor: the affine fit's spatial scale is ``spatial_factor / sqrt(density)``
            pixels, ``density`` the kept fraction of the pixels (about twice their spacing).
        color_factor: the fit's colour scale in units of the image's mean gradient magnitude.
    """

    robust: bool = True
    neighbours: int = 8
    tolerance: float = 2.0
    spread_factor: float = 3.0
    slope: float = 0.1
    rescue_tolerance: float = 3.0
    spatial_factor: float = 2.0
    color_factor: float = 6.0

    def __post_init__(self) -> None:
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, int) or self.neighbours < 2:
            raise ValueError(f"neighbours must be an integer >= 2, got {self.neighbours!r}")
        for name in ("tolerance", "spread_factor", "slope", "rescue_tolerance", "spatial_factor", "color_factor"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0) or (name.endswith("factor") and value == 0):
                raise ValueError(f"{name} must be a finite number {'> 0' if name.endswith('factor') else '>= 0'}, got {value}")


def _fit(flow: np.ndarray, kept: np.ndarray, problem: Problem, image: np.ndarray, color_scale: float,
         options: NeuroaffineOptions) -> AffineFit:
    """The local affine fit of the kept values, weighted by the user's confidence."""
    certainty = kept.astype(np.float32)
    if problem.confidence is not None:
        certainty *= problem.confidence[0, 0].numpy()
    spatial_sigma = options.spatial_factor / math.sqrt(float(kept.mean()))
    return local_affine_fit(flow, certainty, image, spatial_sigma, color_scale)


def run(problem: Problem, options: NeuroaffineOptions) -> Solution:
    assert problem.image is not None  # needs_image
    flow = problem.flow[0].permute(1, 2, 0).numpy()
    image = np.ascontiguousarray(problem.image[0].permute(1, 2, 0).numpy())
    trusted = trusted_known(problem)[0, 0].numpy()
    color_scale = color_sigma(image, options.color_factor)
    kept = trusted
    if options.robust:
        agreeing = neighbour_agreement(flow, trusted, options.neighbours, options.tolerance, options.spread_factor,
                                       options.slope)
        if agreeing.any() and not agreeing[trusted].all():
            # a value its neighbours disagree with stays when the edge-aware fit of the others
            # (which reaches along its image region, not across) predicts it
            predicted = _fit(flow, agreeing, problem, image, color_scale, options).flow
            fits = np.linalg.norm(flow - predicted, axis=-1) <= options.rescue_tolerance
            kept = agreeing | (trusted & fits)
    base = _fit(flow, kept, problem, image, color_scale, options)
    residual = np.where(kept[..., None], flow - base.flow, 0).astype(np.float32)
    kept_t = torch.from_numpy(kept)[None, None]
    residual_problem = Problem(torch.from_numpy(residual).permute(2, 0, 1)[None].contiguous(), kept_t, problem.image)
    filled = run_neuroexplicit(residual_problem, options) + torch.from_numpy(base.flow).permute(2, 0, 1)[None]
    confidence = torch.from_numpy(1.0 / (1.0 + base.misfit / CONFIDENCE_SCALE))[None, None]
    return Solution(filled, kept_t, confidence.masked_fill(problem.known & ~kept_t, 0.0))


register(
    Method(
        "neuroaffine",
        "edge-aware local affine fits of the values that agree with their neighbours, the learned "
        "diffusion filling their residual (shipped weights; the default)",
        NeuroaffineOptions,
        run,
        needs_image=True,
        judges_known=True,
        unavailable=lambda: shipped("default"),
        parameter_count=lambda options: network_parameters(options.model),
    )
)
