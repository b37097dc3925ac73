"""``neuroaffine``: edge-aware local affine fits of the trusted known values, their residual filled along image edges (the default).

The paper's method (``neuroexplicit``) is a second-order diffusion: its steady state is flat
around each known pixel and steep between them, so it cannot continue a motion gradient (zoom,
rotation, perspective) into empty regions, and every known value, right or wrong, is a hard
constraint. This method fits and fills with edge-aware normalized convolutions instead:

1. **Robust known values, judged by a network.** Values the user gave a confidence below 0.5
   are dropped, and the rest weigh in by their confidence. Of those, the trust classifier
   (``judge``, a small network trained on synthetic scenes with wrong values injected,
   :mod:`flowinpaint.models.trust`) keeps the values it finds right with probability
   ``trust_threshold`` or more, and drops the others. It reads, per value, the evidence of
   :mod:`.trust`: how far the value lies from the median motion of its 8 nearest known
   neighbours by position and by position and colour, in units of a test's allowance (2 px,
   plus 3 times their spread, plus 0.1 px per px of their distance), how many of them agree
   with it to half a pixel or two, its distance from the edge-aware affine fit of the values
   that pass that test, its distance from the prediction of its neighbours' affine model (a
   leave-one-out residual that follows motion gradients), the colour contrast to its neighbours,
   the density, and the share of the input's values that fail the test (the context: an input
   where many fail holds many wrong values). Where it drops more than 2 % of the values, the ones
   it kept are judged a second time on evidence from them alone (``judge_rounds``). With
   ``doubt_from`` below 1 (off by default), in an input that looks clean (at most 2 % of its
   values fail the test) the dropped values it still finds right with probability ``doubt_from``
   or more stay with the small weight ``consensus_weight``, not exact: a small object's only
   value still gives the object its motion (clean sparse samples gain), but a mismatch among
   sparse matches, which look clean too, paints its region (matches lose: the README's figures).
   On the dev set the output is more accurate with it than with the hand-made tests, on exact
   samples and with wrong values alike (the README's figures); ``judge="tests"`` runs the tests
   instead (the method before the network; their options follow), as do inputs with
   fewer than 17 known values, too few for the classifier's neighbour statistics (a handful of
   matches: it was trained on inputs with more).
   **The tests.** A known value is kept when it is near the median motion of its
   ``neighbours`` nearest known pixels: within ``tolerance`` pixels, plus ``spread_factor``
   times their own spread, plus ``slope`` pixels per pixel of distance (see
   :func:`.local_affine.neighbour_agreement`), nearest either by position or by position and
   colour (a colour difference of the fit's colour scale counting as ``neighbour_colour``
   sample spacings: a value beside a motion edge whose nearest neighbours lie across it has
   its own side's among those of its colour), or when a value that failed that test lies within
   ``support_radius / sqrt(density)`` pixels of another that failed and agrees with it to
   ``tolerance`` plus ``slope`` per pixel (:func:`.local_affine.mutual_agreement`: the values on a
   thin object, outvoted by the background around it; wrong values rarely agree with each other).
   The radius shrinks to ``support_sparsity / sqrt(failed density)`` where many fail, so that
   wrong values, when they are many, seldom find a partner by chance. A value that failed is
   kept all the same when the first fit (step 2) of the others predicts it to within
   ``rescue_tolerance`` pixels (a value on a thin object, whose nearest neighbours lie on the
   background, is predicted by the fit along the object). Of the values kept so far, one stays
   exact only when at least ``consensus`` of its ``neighbours`` nearest known values by position
   and colour that were kept agree with it to ``consensus_tolerance`` pixels, plus ``slope`` per
   pixel of distance, plus ``consensus_spread`` times the neighbours' own spread
   (:func:`.local_affine.consensus_agreement`); the others are *doubted*: they stay in the fit
   and the fill with their weight times ``consensus_weight``.
2. **Affine base.** An edge-aware first-order normalized convolution of the values that pass
   the neighbour test (:func:`.local_affine.local_affine_fit`; the domain transform's spatial
   scale ``spatial_factor`` times the values' spacing, ``1 / sqrt(density)`` pixels or, where
   they leave holes wider than that, ``gap_factor`` times the mean distance from an unknown pixel
   to the nearest known one, and from 1 % known pixels on the slope's reach grown by the same
   ratio (:func:`flowinpaint.diffusion.domain_transform.sample_spacing`, ``slope_reach``); its
   colour scale ``color_factor`` times the image's mean gradient magnitude, grown by
   ``sqrt(sparse_below / density)`` where fewer than ``sparse_below`` of the pixels are known:
   there a region cut off by image edges must be filled from farther away, and texture edges cut
   off more) reproduces any affine flow exactly: the first fit.
   **Refinement.** The fit then runs again with the kept values (and the doubted ones), its
   guide now the guide's channels summed and the first fit's flow, a jump of ``motion_contrast``
   pixels costing what a colour step of the colour scale does; it and the residual's fill then
   stop at the motion edges the known values show, also where the image has no edge, and no
   longer average two motions across them (``motion_contrast=0``: no refinement, ``A`` is the
   fit of the kept values with the image as guide). Where at least ``MORE_PASSES_FROM`` of the
   pixels are kept it runs ``refinement_passes`` times (2), each guided by the flow of the pass
   before, whose motion edges are sharper (on synthetic validation scenes 2-8 % more accurate at
   1-5 % known pixels and with wrong values; a third pass gains nothing); the last is the base
   ``A``. With the refinement the fits and the fill run 2 iterations of the domain transform
   instead of 3 (measured as accurate, a third cheaper).
3. **Residual.** The residual ``f - A`` of the kept values is filled and added back, so the
   result is exact at the kept pixels (robust or not): by default (``residual="filter"``) with the edge-aware
   zero-order normalized convolution at the finer scale ``detail_factor / sqrt(density)``
   (:func:`.local_affine.edge_aware_average`); with ``residual="learned"`` by the shipped
   neuroexplicit model's learned diffusion (the paper's network steering the fill; measured
   slower and less accurate on the dev set, kept for models trained in this setting). The
   output stays within the fitted values' range widened by that range, per component: a handful
   of far-apart values (a few matches) must not extrapolate slopes to thousands of pixels.

The filters follow the image by default; with ``guide`` a trained network
(:mod:`flowinpaint.models.neuroaffine`) predicts their guide from the image, a gain of its edge
costs and an edge channel, and they follow that (measured 1-4 % better on Sintel final and slightly
worse at KITTI's sparsest density: not the default). On the CPU the filters are
:class:`.local_affine.EdgeAwareFilter` (a C kernel, or OpenCV's filter where it cannot be built);
on a device other than the CPU, and where neither runs, the torch domain transform's.

The confidence of an output pixel is ``support / (1 + misfit / 1 px)``: ``misfit`` is the local RMS
distance of the fitted values from their affine fit there (0 where the flow is locally affine, large
where motions meet or values disagree), ``support`` the local density of the fitted values
(filtered like them, so small where they are few or lie across image edges) relative to half the
image's, at most 1; both from the first refinement pass's fit (a further pass fits the values on
either side of a motion edge apart and would hide their disagreement there). A dropped or doubted
known pixel has confidence 0, saying its input value was rejected or down-weighted; its output is
the filled value, not the input.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import torch

from ..diffusion.domain_transform import (
    colour_scale_at,
    gap_spacing,
    sample_spacing,
    slope_reach,
)
from ..models.neuroaffine import NeuroaffineInpainting, guide_array
from ..models.pretrained import cached_model
from ..models.trust import TrustClassifier
from ..ops import at_pixels, put_pixels, share
from .learned import network_parameters
from .local_affine import (
    FILTER_ITERATIONS,
    AffineFit,
    NearestKnown,
    color_sigma,
    colour_contrast,
    consensus_agreement,
    cpu_filter_available,
    edge_aware_average,
    edge_aware_average_torch,
    local_affine_fit,
    local_affine_fit_torch,
    mutual_agreement,
    nearest_known,
    neighbour_agreement,
    vector_length,
)
from .neuroexplicit import NeuroexplicitOptions
from .neuroexplicit import run as run_neuroexplicit
from .registry import (
    Method,
    Problem,
    Solution,
    register,
    trusted_known,
)
from .trust import CLEAN_FAILING, FEATURE_NAMES, trust_evidence

__all__ = ["Explanation", "NeuroaffineOptions", "explain"]

CONFIDENCE_SCALE = 1.0  # pixels of local misfit at which the output confidence is 1/2
FULL_SUPPORT = 0.5  # local density of fitted values, relative to the image's, from which support is full
#: Share of kept pixels from which more than one refinement pass runs: sparser values (matches)
#: shape the fit's motion edges too coarsely for a further pass to sharpen them.
MORE_PASSES_FROM = 0.005
REFINEMENT_ITERATIONS = 2  # of the domain transform with the refinement: as accurate as 3 on the dev set, a third cheaper
RESIDUAL_FILLS = ("filter", "learned")
MIN_JUDGED_VALUES = 17  # fewer known values than this (twice the neighbours, and one): the tests judge, not a model
NEXT_ROUND_SHARE = 0.02  # a further round of the trust model runs when the last one dropped more than this share
CLEAR_FROM_DENSITY = 0.02  # share of known pixels from which a clean input's clear values skip the classifier (real matches: 0.06-0.4 %)


@dataclass(frozen=True)
class NeuroaffineOptions(NeuroexplicitOptions):
    """Options of ``neuroaffine`` (and those of ``neuroexplicit``, for ``residual="learned"``).

    Attributes:
        robust: judge the known values and drop the wrong ones (the default); False holds
            every known value exactly.
        judge: who judges: a trust model's name (``"trust"``, shipped) or the path of a weights
            file of kind ``trust`` (:class:`~flowinpaint.models.trust.TrustClassifier`), or
            ``"tests"``, the hand-made tests of the options below (``neighbours`` to
            ``consensus_weight``).
        trust_threshold: a trust model keeps the values right with at least this probability.
        doubt_from: in an input that looks clean (at most 2 % of its values fail the neighbour
            test), the values a trust model drops that are right with at least this probability
            stay in the fits and the fill with the weight ``consensus_weight``, not exact: where no
            kept value reaches (a small object's only value) they still speak (1, the default:
            none; 0.1 gains clean sparse samples and loses sparse matches, whose mismatches it
            keeps).
        judge_rounds: how many times at most a trust model judges: each further round judges the
            values the round before kept, on evidence from those alone, and runs only when the
            round before dropped more than 2 % of what it judged (clean inputs: one round).
        neighbours: how many nearest known values each is compared with.
        tolerance: pixels a value may be off its neighbours' median motion and still be kept.
        spread_factor: the allowance on top per pixel of the neighbours' own spread.
        slope: the allowance on top per pixel of the neighbours' median distance.
        support_radius: a value that fails that test is kept when another that fails, within
            ``support_radius`` sample spacings (``1 / sqrt(density)`` pixels), agrees with it.
        support_sparsity: that radius is at most ``support_sparsity`` spacings of the failing values.
        rescue_tolerance: a value that fails both tests is kept all the same when the edge-aware
            affine fit of the values that pass predicts it to within this many pixels.
        neighbour_colour: how much colour counts where the tests compare a value with its
            nearest neighbours by position and colour: a colour difference of the fit's colour
            scale counts as this many sample spacings.
        consensus: of the values those tests keep, one stays exact only when at least this
            many of its ``neighbours`` nearest (by position and colour) that were kept agree
            with it closely (0: no such test).
        consensus_tolerance: pixels two values may differ by and agree, plus ``slope`` per
            pixel of their distance and ``consensus_spread`` times the neighbours' spread.
        consensus_spread: see ``consensus_tolerance``.
        consensus_weight: the weight of a value that fails (0 drops it; 1 keeps it, not exact).
        motion_contrast: pixels of flow difference that the refinement pass's filters treat as
            an edge of the colour scale's contrast (0: no refinement pass).
        refinement_passes: how many refinement passes run (with ``motion_contrast`` > 0) where at
            least :data:`MORE_PASSES_FROM` of the pixels are kept, one below: each fits the values
            again with the flow of the fit before it as the further guide channel, whose motion
            edges are sharper after each pass.
        guide: the filters' guide: ``""`` the image (the hand-made method), or a shipped model's
            name or the path of a weights file of kind ``neuroaffine``
            (:class:`~flowinpaint.models.neuroaffine.NeuroaffineInpainting`), whose network
            predicts the guide from the image (the gain of its edges and an edge channel); it
            runs on ``device``.
        residual: how the residual of the affine fit is filled: ``"filter"`` (edge-aware
            normalized convolution) or ``"learned"`` (the neuroexplicit model's diffusion).
            On ``device`` ``"cpu"`` the filters are :class:`.local_affine.EdgeAwareFilter`'s
            (the torch domain transform's where it cannot run); on any other (a GPU) they are the
            torch domain transform there, as are the guide network and the learned fill; the
            trust tests run on the CPU either way.
        detail_factor: the residual filter's spatial scale is ``detail_factor / sqrt(density)``.
        spatial_factor: the affine fit's spatial scale is ``spatial_factor`` times the known
            values' spacing (:func:`flowinpaint.diffusion.domain_transform.sample_spacing`): ``1 / sqrt(density)`` pixels,
            ``density`` the kept fraction of the pixels, or ``gap_factor`` times the mean distance
            from an unknown pixel to the nearest known one where that is larger.
        gap_factor: see ``spatial_factor``: where the known values leave holes (a flow with its
            occlusions cut out, clusters, blocks) the fits must reach across them, wider than the
            density says; a uniform sample's mean gap is about half its spacing, so the default 2
            leaves it nearly unchanged (0: the density alone).
        color_factor: the fit's colour scale in units of the image's mean gradient magnitude.
        sparse_below: below this share of known pixels the filters' colour scale grows with the
            known values' spacing, as ``sqrt(sparse_below / density)``
            (:func:`flowinpaint.diffusion.domain_transform.colour_scale_at`; 0: a fixed colour scale).
        reach: the fit's slope is extrapolated at most this many standard deviations of the
            fitted positions from their weighted centre (see :func:`.local_affine.local_affine_fit`),
            grown where at least 1 % of the pixels are known and they leave holes wider than their
            density says (:func:`flowinpaint.diffusion.domain_transform.slope_reach`).
        clear_within: in a clean input (at most 2 % of the values fail the neighbour test) of
            at least :data:`CLEAR_FROM_DENSITY` known pixels, the values within this share of the
            allowance of both neighbour tests are kept without the trust classifier, which
            judges the rest (0: it judges every value). On such inputs it kept all of them anyway
            (0 of 78,640 dropped at 5 %, 1 of 786,432 at 50 %; synthetic validation scenes), and
            their features were most of its cost. Sparser inputs are judged in full: there the
            features cost little, and a real matcher's mistakes can pass the neighbour tests
            (KITTI's real SIFT matches: 0.875 px judged in full, 0.917 with the clear ones kept).
    """

    robust: bool = True
    judge: str = "trust"
    trust_threshold: float = 0.5
    doubt_from: float = 1.0
    judge_rounds: int = 2
    neighbours: int = 8
    tolerance: float = 2.0
    spread_factor: float = 3.0
    slope: float = 0.1
    support_radius: float = 6.0
    support_sparsity: float = 0.2
    contrast_factor: float = 2.0
    rescue_tolerance: float = 3.0
    consensus: int = 2
    consensus_tolerance: float = 0.5
    neighbour_colour: float = 2.0
    consensus_spread: float = 1.0
    consensus_weight: float = 0.03
    motion_contrast: float = 4.0
    refinement_passes: int = 2
    spatial_factor: float = 2.0
    gap_factor: float = 2.0
    color_factor: float = 4.0
    sparse_below: float = 0.01
    reach: float = 3.0
    guide: str = ""
    residual: str = "filter"
    detail_factor: float = 0.5
    clear_within: float = 0.25

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.guide, str):
            raise ValueError(f"guide must be a model name or a path, got {self.guide!r}")  # noqa: TRY004 - option errors are ValueErrors
        if not isinstance(self.judge, str) or not self.judge:
            raise ValueError(f"judge must be 'tests', a trust model's name or a path, got {self.judge!r}")
        if not 0 < self.trust_threshold < 1:
            raise ValueError(f"trust_threshold must be a number between 0 and 1, got {self.trust_threshold}")
        if not 0 <= self.doubt_from <= 1:
            raise ValueError(f"doubt_from must be a probability from 0 to 1, got {self.doubt_from}")
        if isinstance(self.judge_rounds, bool) or not isinstance(self.judge_rounds, int) or self.judge_rounds < 1:
            raise ValueError(f"judge_rounds must be an integer >= 1, got {self.judge_rounds!r}")
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, int) or self.neighbours < 2:
            raise ValueError(f"neighbours must be an integer >= 2, got {self.neighbours!r}")
        if isinstance(self.refinement_passes, bool) or not isinstance(self.refinement_passes, int) or self.refinement_passes < 1:
            raise ValueError(f"refinement_passes must be an integer >= 1, got {self.refinement_passes!r}")
        if isinstance(self.consensus, bool) or not isinstance(self.consensus, int) or not 0 <= self.consensus <= self.neighbours:
            raise ValueError(f"consensus must be an integer from 0 to neighbours ({self.neighbours}), got {self.consensus!r}")
        if not 0 <= self.consensus_weight <= 1:
            raise ValueError(f"consensus_weight must be a number from 0 to 1, got {self.consensus_weight}")
        if not 0 <= self.sparse_below < 1:
            raise ValueError(f"sparse_below must be a share of the pixels in [0, 1), got {self.sparse_below!r}")
        if self.residual not in RESIDUAL_FILLS:
            raise ValueError(f"residual must be one of {', '.join(RESIDUAL_FILLS)}, got {self.residual!r}")
        for name in ("tolerance", "spread_factor", "slope", "support_radius", "support_sparsity", "rescue_tolerance",
                     "consensus_tolerance", "neighbour_colour", "consensus_spread", "motion_contrast",
                     "spatial_factor", "gap_factor", "color_factor", "reach", "detail_factor", "clear_within"):
            value = getattr(self, name)
            positive = name.endswith("factor") and name != "gap_factor"
            if not (math.isfinite(value) and value >= 0) or (positive and value == 0):
                raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value}")


def _certainty(kept: np.ndarray, problem: Problem) -> np.ndarray:
    """The weight of each kept value ``(H, W)`` float32: 1, or the user's confidence."""
    certainty = kept.astype(np.float32)
    if problem.confidence is not None:
        certainty *= problem.confidence[0, 0].numpy()
    return certainty


def _weights(exact: np.ndarray, doubted: np.ndarray, problem: Problem, options: NeuroaffineOptions) -> np.ndarray:
    """The weight of each value in the fit and the fill ``(H, W)`` float32: its certainty at the
    ``exact`` pixels, that times ``consensus_weight`` at the ``doubted`` ones, 0 elsewhere."""
    return _certainty(exact, problem) + options.consensus_weight * _certainty(doubted, problem)


def _residual_at(flow: np.ndarray, fitted: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``flow - fitted`` ``(H, W, 2)`` float32 where ``weights`` > 0, 0 elsewhere."""
    residual = np.zeros(flow.shape, np.float32)
    used = np.flatnonzero(weights > 0)
    put_pixels(residual, used, at_pixels(flow, used) - at_pixels(fitted, used))
    return residual


def _guide(image: np.ndarray, flow: np.ndarray, fitted: np.ndarray, options: NeuroaffineOptions) -> np.ndarray:
    """The filters' guide: the image ``(H, W, 3)``, or the learned guide ``(H, W, 4)`` of
    ``options.guide`` for the values ``flow`` at the ``fitted`` pixels."""
    if not options.guide:
        return image
    model = cached_model(options.guide, options.device)
    if not isinstance(model, NeuroaffineInpainting):
        raise ValueError(f"guide {options.guide!r} is a {type(model).__name__}, not a neuroaffine model")  # noqa: TRY004 - option errors are ValueErrors
    return guide_array(model, image, flow, fitted)


class _Filters(NamedTuple):
    """The edge-aware fit and average (:func:`.local_affine.local_affine_fit`, ``edge_aware_average``
    or their torch twins on a device), with the signatures of the OpenCV ones."""

    fit: Callable[..., AffineFit]
    average: Callable[..., np.ndarray]


def _filters(device: str, channels: int = 3) -> _Filters:
    """The filters of :class:`.local_affine.EdgeAwareFilter` on the CPU (where it runs for a guide
    of ``channels`` channels), the torch domain transform elsewhere."""
    if torch.device(device).type == "cpu" and cpu_filter_available(channels):
        return _Filters(local_affine_fit, edge_aware_average)
    return _Filters(functools.partial(local_affine_fit_torch, device=device),
                    functools.partial(edge_aware_average_torch, device=device))


def _fill_residual(residual: np.ndarray, kept: np.ndarray, weights: np.ndarray, problem: Problem, guide: np.ndarray,
                   color_scale: float, iterations: int, options: NeuroaffineOptions) -> np.ndarray:
    """The residual ``(H, W, 2)`` of the affine fit, filled along ``guide`` (``iterations`` of the
    domain transform) from the pixels of ``weights`` > 0 by those weights, exact at the ``kept`` pixels."""
    if options.residual == "learned":
        kept_t = torch.from_numpy(kept)[None, None]
        residual_problem = Problem(torch.from_numpy(residual).permute(2, 0, 1)[None].contiguous(), kept_t, problem.image)
        return run_neuroexplicit(residual_problem, options)[0].permute(1, 2, 0).numpy()
    spatial_sigma = options.detail_factor / math.sqrt(share(weights > 0))
    filled = _filters(options.device, guide.shape[-1]).average(residual, weights, guide, spatial_sigma, color_scale,
                                                               iterations=iterations)
    exact = np.flatnonzero(kept)
    put_pixels(filled, exact, at_pixels(residual, exact))
    return filled


class Explanation(NamedTuple):
    """Every intermediate of one ``neuroaffine`` run, for pictures and diagnostics.

    Attributes:
        guide: ``(H, W, 3)`` the image, or ``(H, W, 4)`` the learned guide the first pass's
            filters followed (a refinement pass's guide is its channels summed and the flow of the
            fit before times ``color_scale / motion_contrast``).
        known: ``(H, W)`` bool, the known pixels the user trusts (confidence >= 0.5).
        agreeing: those that passed the neighbour test.
        mutual: those that failed it and passed the mutual test (the tests' judge only).
        rescued: those kept because the affine fit predicts them (the tests), or that the
            trust model kept though they failed the neighbour test.
        kept: those of ``agreeing | mutual | rescued`` that pass the consensus test, exact in
            the output.
        doubted: those that fail it, in the fit and fill at ``consensus_weight``.
        first: ``(H, W, 2)`` the first affine fit (of the values that passed the neighbour
            tests), whose flow the first refinement pass's guide holds.
        base: the affine fit (flow, misfit, support) of ``kept`` and ``doubted`` (with
            ``motion_contrast`` > 0 the last refinement pass's flow, with the first pass's misfit
            and support, which the output confidence reads; else ``first``).
        residual: ``(H, W, 2)`` the filled residual, added to ``base.flow``.
        dense: ``(H, W, 2)`` the output flow.
        confidence: ``(H, W)`` the output confidence (0 at dropped and doubted known pixels);
            None, and the base's misfit too, where the problem did not ask for it
            (``wants_confidence``).
        trust: ``(H, W)`` float32, the trust classifier's probability that each trusted known
            value is right, from the last round that judged it (0 elsewhere; 1 for the clear
            values of a clean input, which it does not judge: ``clear_within``); None where the
            tests judged (``judge="tests"``, ``robust=False``).
        spatial_scale: px, the base fit's spatial scale (``spatial_factor`` times the values'
            spacing: that of their density, or ``gap_factor`` times their mean gap where larger).
        reach: the fits' slope reach, in standard deviations of the fitted positions (``reach``,
            grown where a densely known flow has holes).
    """

    guide: np.ndarray
    known: np.ndarray
    agreeing: np.ndarray
    mutual: np.ndarray
    rescued: np.ndarray
    kept: np.ndarray
    doubted: np.ndarray
    first: np.ndarray
    base: AffineFit
    residual: np.ndarray
    dense: np.ndarray
    confidence: np.ndarray | None
    trust: np.ndarray | None
    spatial_scale: float
    reach: float


def _trusted_values(flow: np.ndarray, trusted: np.ndarray, image: np.ndarray, contrast_unit: float,
                    alike: NearestKnown | None, options: NeuroaffineOptions) -> tuple[np.ndarray, np.ndarray]:
    """The values that pass the neighbour test (with their nearest neighbours by position, or
    with ``alike``, those by position and colour), and those that fail it but pass the mutual one
    (``contrast_unit``: the image's mean gradient, :func:`.local_affine.color_sigma` at factor 1)."""
    nearest = nearest_known(trusted, options.neighbours) if trusted.sum() >= 3 else None
    agreeing = neighbour_agreement(flow, trusted, options.neighbours, options.tolerance, options.spread_factor,
                                   options.slope, nearest)
    if alike is not None:
        agreeing |= neighbour_agreement(flow, trusted, options.neighbours, options.tolerance, options.spread_factor,
                                        options.slope, alike)
    failed = trusted & ~agreeing
    if failed.any() and options.contrast_factor > 0:
        contrast = colour_contrast(image, trusted, failed, options.neighbours, nearest)
        failed &= contrast > options.contrast_factor * contrast_unit
    mutual = np.zeros_like(trusted)
    if failed.any():
        radius = min(options.support_radius / math.sqrt(share(trusted)),
                     options.support_sparsity / math.sqrt(share(failed)))
        mutual = mutual_agreement(flow, failed, radius, options.tolerance, options.slope)
    return agreeing, mutual


def _within_reach(dense: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``dense`` ``(H, W, 2)`` clipped, per component, to the range of the fitted ``values``
    ``(N, 2)`` widened by that range on each side: a few values far apart (a handful of matches)
    can give the fits slopes that, extrapolated across the frame, reach thousands of pixels; no
    output goes further from the values than they spread. Flows within the known values' range
    (every uniform sample, nearly every real input) are unchanged."""
    low, high = values.min(axis=0), values.max(axis=0)
    spread = high - low
    dense = np.asarray(dense, np.float32)
    lowest, highest = (low - spread).astype(np.float32), (high + spread).astype(np.float32)
    # both ends of each component in one reduction (torch's; numpy's along axis 0 of (N, 2) is slow)
    ends = [torch.aminmax(torch.from_numpy(dense[..., k])) for k in range(2)]
    if any(float(end.min) < lowest[k] or float(end.max) > highest[k] for k, end in enumerate(ends)):
        # torch's clamp, in place: numpy's clip with per-component bounds is 5x slower
        torch.clamp(torch.from_numpy(dense), torch.from_numpy(lowest), torch.from_numpy(highest), out=torch.from_numpy(dense))
    return dense


def _channel_sum(guide: np.ndarray) -> np.ndarray:
    """The sum of ``guide``'s channels ``(H, W, C)`` -> ``(H, W)`` float32, in channel order (torch's
    multi-threaded element-wise additions: 2x faster than numpy's on these strided channels)."""
    source = torch.from_numpy(guide)
    summed = source[..., 0].clone()
    for channel in range(1, guide.shape[-1]):
        summed.add_(source[..., channel])
    return summed.numpy()


def _refinement_guide(summed: np.ndarray, before: np.ndarray, flow_scale: float) -> np.ndarray:
    """A refinement pass's guide ``(H, W, 3)`` float32: the sum of the guide's channels, ``summed``
    ``(H, W)`` (:func:`_channel_sum`, the same for every pass), and the flow of the fit before the
    pass, ``before`` ``(H, W, 2)``, times ``flow_scale`` (written in place by torch's element-wise
    operations: several times faster than numpy's concatenation)."""
    result = np.empty((*before.shape[:2], 3), np.float32)
    channels = torch.from_numpy(result)
    channels[..., 0].copy_(torch.from_numpy(summed))
    channels[..., 1:].copy_(torch.from_numpy(before)).mul_(float(np.float32(flow_scale)))
    return result


class _Judgement(NamedTuple):
    """The verdicts on the trusted known values (see :class:`Explanation`) and the first fit."""

    agreeing: np.ndarray
    mutual: np.ndarray
    rescued: np.ndarray
    kept: np.ndarray
    doubted: np.ndarray
    first: AffineFit
    first_weights: np.ndarray
    trust: np.ndarray | None


def _judged_by_tests(problem: Problem, flow: np.ndarray, trusted: np.ndarray, image: np.ndarray,
                     contrast_unit: float, color_scale: float, least_spacing: float, iterations: int,
                     options: NeuroaffineOptions) -> tuple[_Judgement, np.ndarray]:
    """The hand-made tests' verdicts (``judge="tests"``), and the filters' guide (``least_spacing``:
    see :func:`flowinpaint.diffusion.domain_transform.sample_spacing`)."""
    # the nearest known values in position and colour (a thin object's values are each other's)
    alike = nearest_known(trusted, options.neighbours, image,
                          options.neighbour_colour / (math.sqrt(share(trusted)) * options.color_factor * contrast_unit))
    agreeing, mutual = _trusted_values(flow, trusted, image, contrast_unit, alike, options)
    fitted = agreeing | mutual
    if not fitted.any():
        fitted = agreeing = trusted
    testing = options.consensus > 0
    doubted = np.zeros_like(fitted)
    if testing:
        consensus = functools.partial(consensus_agreement, flow, trusted, alike, required=options.consensus,
                                      tolerance=options.consensus_tolerance, slope=options.slope,
                                      spread_factor=options.consensus_spread)
        doubted = fitted & ~consensus(fitted, fitted)
        if not (fitted & ~doubted).any():
            doubted[:] = False  # no value has company: there is nothing to prefer
    guide = _guide(image, flow, fitted, options)
    spatial_sigma = options.spatial_factor * sample_spacing(share(fitted), least_spacing)
    first_weights = _weights(fitted & ~doubted, doubted, problem, options)
    first = _filters(options.device, guide.shape[-1]).fit(flow, first_weights, guide, spatial_sigma, color_scale,
                                                          options.reach, misfit=False, iterations=iterations)
    # a value its neighbours disagree with stays when the edge-aware fit of the others (which
    # reaches along its image region, not across) predicts it, and has company (the consensus)
    rescued = trusted & ~fitted
    rescued[rescued] = vector_length(flow[rescued] - first.flow[rescued]) <= options.rescue_tolerance
    if testing and rescued.any():
        doubted |= rescued & ~consensus(fitted | rescued, rescued)
    kept = (fitted | rescued) & ~doubted
    return _Judgement(agreeing, mutual, rescued, kept, doubted, first, first_weights, None), guide


def _clear_within(judged: np.ndarray, options: NeuroaffineOptions) -> float | None:
    """``trust_evidence``'s ``clear_within`` for the ``judged`` values: ``options.clear_within``
    from :data:`CLEAR_FROM_DENSITY` known pixels on, else None (every value judged)."""
    if options.clear_within <= 0 or share(judged) < CLEAR_FROM_DENSITY:
        return None
    return options.clear_within


def _judged_by_model(problem: Problem, flow: np.ndarray, trusted: np.ndarray, image: np.ndarray,
                     contrast_unit: float, least_spacing: float, iterations: int,
                     options: NeuroaffineOptions) -> tuple[_Judgement, np.ndarray]:
    """The trust classifier's verdicts (``judge`` a model): a value is kept when it is right with
    probability ``trust_threshold`` or more, else dropped, or, in an input of which at most
    :data:`CLEAN_FAILING` fails the neighbour test, doubted when right with probability
    ``doubt_from`` or more; and the filters' guide.

    With ``judge_rounds`` > 1 the values a round kept are judged again on evidence from them alone
    (their neighbours' medians and affine fit no longer pulled by the dropped values), as long as
    the round before dropped more than :data:`NEXT_ROUND_SHARE` of what it judged. The first fit
    (the refinement's guide) stays the first round's: the fit of the values its neighbour test
    passed (the later rounds' fits of the kept values made Sintel final 3 % worse with 10 % wrong
    values, and the synthetic pairs no better)."""
    model = cached_model(options.judge, "cpu")
    if not isinstance(model, TrustClassifier):
        raise ValueError(f"judge {options.judge!r} is a {type(model).__name__}, not a trust model")  # noqa: TRY004 - option errors are ValueErrors
    if tuple(model.config.features) != FEATURE_NAMES:
        raise ValueError(f"judge {options.judge!r} was trained on other features than this flowinpaint computes")
    guide = _guide(image, flow, trusted, options)
    fit = _filters(options.device, guide.shape[-1]).fit
    trust = np.zeros(trusted.shape, np.float32)
    judged, first = trusted, None
    for _ in range(options.judge_rounds):
        evidence = trust_evidence(flow, judged, _certainty(judged, problem), image, fit, options.spatial_factor,
                                  options.color_factor, options.reach, iterations, guide,
                                  color_unit=contrast_unit, sparse_below=options.sparse_below,
                                  clear_within=_clear_within(judged, options), least_spacing=least_spacing)
        if first is None:
            first = evidence  # the first round's neighbour test and fit (a better refinement guide on Sintel)
        trust[judged & ~evidence.featured] = 1.0  # clear values of a clean input: kept unjudged
        with torch.inference_mode():
            trust[evidence.featured] = model(torch.from_numpy(evidence.features)).numpy()
        kept = judged & (trust >= options.trust_threshold)
        if not kept.any():
            kept = judged.copy()  # nothing is trusted: there is nothing to prefer
        dropped = 1.0 - float(kept.sum()) / float(judged.sum())
        if dropped <= NEXT_ROUND_SHARE or int(kept.sum()) < MIN_JUDGED_VALUES:
            break
        judged = kept
    assert first is not None  # judge_rounds >= 1
    none = np.zeros_like(trusted)
    rescued = kept & ~first.agreeing  # kept by the network though the neighbour test failed them
    doubted = np.zeros_like(trusted)
    if 1.0 - float(first.agreeing[trusted].mean()) <= CLEAN_FAILING:
        doubted = trusted & ~kept & (trust >= options.doubt_from)
    return _Judgement(first.agreeing, none, rescued, kept, doubted, first.first, first.first_weights, trust), guide


def explain(problem: Problem, options: NeuroaffineOptions) -> Explanation:
    """Run the method and keep its intermediates (see :class:`Explanation`)."""
    assert problem.image is not None  # needs_image
    # channels last, contiguous (the pixels are indexed often): torch's copy, 3x faster than numpy's
    flow = problem.flow[0].permute(1, 2, 0).contiguous().numpy()
    image = problem.image[0].permute(1, 2, 0).contiguous().numpy()
    trusted = trusted_known(problem)[0, 0].numpy()
    trusted_share = share(trusted)
    contrast_unit = color_sigma(image, 1.0)
    # the filters' colour scale: the neighbour tests keep the unscaled one
    color_scale = colour_scale_at(options.color_factor * contrast_unit, trusted_share, options.sparse_below)
    refine = options.motion_contrast > 0
    iterations = REFINEMENT_ITERATIONS if refine else FILTER_ITERATIONS
    least_spacing = gap_spacing(trusted, options.gap_factor)
    # every fit extrapolates its slope this far (grown where a densely known flow has holes)
    options = replace(options, reach=slope_reach(options.reach, trusted_share, least_spacing))
    if not options.robust or int(trusted.sum()) < 3:
        guide = _guide(image, flow, trusted, options)
        certainty = _certainty(trusted, problem)
        first = _filters(options.device, guide.shape[-1]).fit(
            flow, certainty, guide, options.spatial_factor * sample_spacing(trusted_share, least_spacing),
            color_scale, options.reach, misfit=problem.wants_confidence and not refine, iterations=iterations)
        none = np.zeros_like(trusted)
        judgement = _Judgement(trusted, none, none.copy(), trusted, none.copy(), first, certainty, None)
    elif options.judge == "tests" or int(trusted.sum()) < MIN_JUDGED_VALUES:
        judgement, guide = _judged_by_tests(problem, flow, trusted, image, contrast_unit, color_scale, least_spacing,
                                            iterations, options)
    else:
        judgement, guide = _judged_by_model(problem, flow, trusted, image, contrast_unit, least_spacing, iterations,
                                            options)
    kept, doubted = judgement.kept, judgement.doubted
    weights = _weights(kept, doubted, problem, options)
    kept_share = share(weights > 0)
    spatial_sigma = options.spatial_factor * sample_spacing(kept_share, least_spacing)
    base, fill_guide = judgement.first, guide
    if refine:
        # each further fit also stops where the fit before it changes its flow: a jump of
        # ``motion_contrast`` pixels costs what a colour step of the colour scale does; the guide's
        # channels go in summed (the guide has three channels, as OpenCV's filter, the fallback, needs)
        passes = options.refinement_passes if kept_share >= MORE_PASSES_FROM else 1
        summed = _channel_sum(guide)
        for refinement in range(passes):
            fill_guide = _refinement_guide(summed, base.flow, color_scale / options.motion_contrast)
            fitted = _filters(options.device, fill_guide.shape[-1]).fit(
                flow, weights, fill_guide, spatial_sigma, color_scale, options.reach,
                misfit=problem.wants_confidence and refinement == 0, iterations=iterations)
            # the misfit and support stay the first pass's: a further pass fits the values at a
            # motion edge apart, hiding the disagreement the output confidence reports
            base = fitted if refinement == 0 else fitted._replace(misfit=base.misfit, support=base.support)
    elif not np.array_equal(weights, judgement.first_weights) or (problem.wants_confidence and base.misfit is None):
        base = _filters(options.device, fill_guide.shape[-1]).fit(flow, weights, fill_guide, spatial_sigma,
                                                                  color_scale, options.reach,
                                                                  misfit=problem.wants_confidence,
                                                                  iterations=iterations)
    residual = _fill_residual(_residual_at(flow, base.flow, weights), kept, weights, problem, fill_guide,
                              color_scale, iterations, options)
    confidence = None
    if base.misfit is not None:
        support = np.minimum(1.0, base.support / (FULL_SUPPORT * float(_certainty(kept, problem).mean())))
        confidence = np.where(problem.known[0, 0].numpy() & ~kept, 0.0,
                              support / (1.0 + base.misfit / CONFIDENCE_SCALE)).astype(np.float32)
    dense = _within_reach(base.flow + residual, at_pixels(flow, np.flatnonzero(kept | doubted)))
    return Explanation(guide, trusted, judgement.agreeing, judgement.mutual, judgement.rescued, kept, doubted,
                       judgement.first.flow, base, residual, dense, confidence, judgement.trust, spatial_sigma,
                       options.reach)


def run(problem: Problem, options: NeuroaffineOptions) -> Solution:
    parts = explain(problem, options)
    dense = torch.from_numpy(parts.dense).permute(2, 0, 1)[None]
    confidence = None if parts.confidence is None else torch.from_numpy(parts.confidence)[None, None]
    return Solution(dense, torch.from_numpy(parts.kept)[None, None], confidence)


def _parameters(options: NeuroaffineOptions) -> int | None:
    judge = options.judge if options.robust and options.judge != "tests" else ""
    counts = [network_parameters(name) for name in (options.guide, options.model if options.residual == "learned" else "", judge)
              if name]
    return None if not counts or None in counts else sum(counts)


register(
    Method(
        "neuroaffine",
        "edge-aware local affine fits of the known values that agree with their neighbours, their "
        "residual filled along image edges (the default)",
        NeuroaffineOptions,
        run,
        needs_image=True,
        judges_known=True,
        parameter_count=_parameters,
    )
)
