"""The evidence a known value's neighbours give about it: the features of the trust classifier.

For each known value ``f_i`` (rows in ``np.nonzero(known)`` order), with its 8 nearest known
neighbours by position and, separately, by position and colour (:func:`.local_affine.nearest_known`):

- ``deviation_position``, ``deviation_colour``: ``log(1 + |f_i - m_i| / a_i)``, the distance from
  the neighbours' component-wise median ``m_i`` in units of the neighbour test's allowance
  ``a_i = 2 + 3 s_i + 0.1 d_i`` px (``s_i`` their spread, ``d_i`` their median distance in px);
- ``spread_position``, ``spread_colour``: ``log(1 + s_i)``;
- ``distance_position``, ``distance_colour``: ``d_i`` in sample spacings (``d_i sqrt(density)``);
- ``close_colour``, ``loose_colour``, ``close_position``: the share of the neighbours within
  ``0.5`` (``2``) px plus ``0.1`` px per px of distance plus ``s_i`` of ``f_i``;
- ``contrast``: ``log(1 + c_i / g)``, ``c_i`` the RGB distance of the pixel's colour from its
  position-neighbours' median colour, ``g`` the image's mean gradient magnitude;
- ``fit_residual``: ``log(1 + |f_i - A_i|)``, ``A`` the edge-aware affine fit
  (:func:`.local_affine.local_affine_fit`) of the values that pass the neighbour test;
- ``failing``: the share of the input's values that fail the neighbour test (how many wrong
  values the input holds: a context for every value);
- ``log_density``: the log of the known share of the pixels;
- ``magnitude``: ``log(1 + ||f_i| - median |f_j||)``, how far the value's speed is from its
  position-neighbours';
- ``partner``: 1 for a value that fails the neighbour test and agrees with another that fails
  within ``PARTNER_RADIUS`` sample spacings (:func:`.local_affine.mutual_agreement`: the values
  on a thin or small object outvoted by the background around it agree with each other, wrong
  values rarely do), else 0.
- ``affine_position``, ``affine_colour``: ``log(1 + |f_i - p_i|)``, ``p_i`` the prediction at
  the value's position of the affine model of its neighbours alone
  (:func:`.local_affine.neighbours_plane`: least squares, the neighbours weighted by how well they
  pass their own neighbour test, once reweighted by their misfit): a leave-one-out residual that
  follows motion gradients (zoom, perspective), where ``fit_residual``'s fit, which includes the
  value itself, nearly passes through it.

The neighbour test is :func:`.local_affine.neighbour_agreement`'s with fixed parameters (a value
passes when it passes by position or by colour); the features use fixed parameters throughout,
those the classifier was trained with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..diffusion.domain_transform import colour_scale_at, sample_spacing
from ..ops import at_pixels, put_pixels, rows_at, share
from .local_affine import (
    AffineFit,
    _median_of_rows,
    color_sigma,
    colour_contrast,
    mutual_agreement,
    nearest_known_both,
    neighbour_deviation,
    neighbours_plane,
    vector_length,
)

__all__ = ["FEATURE_NAMES", "TrustEvidence", "trust_evidence"]

FEATURE_NAMES = (
    "deviation_position", "deviation_colour", "spread_position", "spread_colour", "distance_position",
    "distance_colour", "close_colour", "loose_colour", "close_position", "contrast", "fit_residual", "failing",
    "log_density", "magnitude", "partner", "affine_position", "affine_colour",
)
NEIGHBOURS = 8
TOLERANCE, SPREAD_FACTOR, SLOPE = 2.0, 3.0, 0.1  # the neighbour test's allowance: px, per px of spread, per px of distance
CLOSE, LOOSE = 0.5, 2.0  # px: the agreement tolerances of the close_ and loose_ shares
NEIGHBOUR_COLOUR = 2.0  # a colour difference of the fit's colour scale counts as this many sample spacings
PARTNER_RADIUS = 6.0  # sample spacings within which a failing value looks for a failing partner
AFFINE_RIDGE = 1.0  # the ridge on the slopes of the neighbours' plane (offsets in their median distance)
AFFINE_SCALE = 2.0  # px: the Cauchy scale of the plane's reweighting
CLEAN_FAILING = 0.02  # an input of which at most this share fails the neighbour test is clean (``clear_within``, ``doubt_from``)


class TrustEvidence(NamedTuple):
    """The features of the known values and what was computed on the way.

    Attributes:
        features: ``(M, F)`` float32, columns :data:`FEATURE_NAMES`, one row per value of
            ``featured``, in ``np.nonzero(known)`` order.
        featured: ``(H, W)`` bool, the known values the features describe: all of them, or
            with ``clear_within`` those that are not clear (see :func:`trust_evidence`).
        agreeing: ``(H, W)`` bool, the known values that pass the neighbour test.
        first: the edge-aware affine fit of the agreeing values (of every known value where none agrees).
        first_weights: ``(H, W)`` float32, the weights that fit used.
    """

    features: np.ndarray
    featured: np.ndarray
    agreeing: np.ndarray
    first: AffineFit
    first_weights: np.ndarray


def trust_evidence(flow: np.ndarray, known: np.ndarray, certainty: np.ndarray, image: np.ndarray,
                   fit: Callable[..., AffineFit], spatial_factor: float, color_factor: float, reach: float,
                   iterations: int, guide: np.ndarray | None = None, color_unit: float | None = None,
                   sparse_below: float = 0.0, clear_within: float | None = None,
                   least_spacing: float = 0.0) -> TrustEvidence:
    """The trust features of the known values (see the module's text): of every one, or with
    ``clear_within`` of those that are not clear.

    Args:
        flow: ``(H, W, 2)`` float, px; known: ``(H, W)`` bool with at least 3 true.
        certainty: ``(H, W)`` float32, each known value's weight in the fit (1, or the user's confidence).
        image: ``(H, W, 3)`` float32 RGB in [0, 1].
        fit: the edge-aware affine fit (:func:`.local_affine.local_affine_fit` or its torch twin).
        spatial_factor, color_factor, reach, iterations: the fit's scales and iterations (its
            spatial scale is ``spatial_factor`` times the agreeing values' spacing,
            :func:`flowinpaint.diffusion.domain_transform.sample_spacing` with ``least_spacing``, its colour scale
            ``color_factor`` times the image's mean gradient magnitude).
        guide: the fit's guide (default: the image).
        color_unit: the image's mean gradient magnitude, ``color_sigma(image, 1.0)``, if the
            caller has it (default: computed here).
        sparse_below: the fit's colour scale grows below this share of known pixels
            (:func:`flowinpaint.diffusion.domain_transform.colour_scale_at`); the colour neighbours keep the unscaled one.
        clear_within: in a clean input (at most :data:`CLEAN_FAILING` of the values fail the
            neighbour test), the values within this share of the allowance of both neighbour
            tests are clear and get no features (``featured`` says which do); None: every value
            gets them (what training needs).
        least_spacing: px, the least spacing of the known values the fit assumes (``gap_factor``
            times the input's :func:`flowinpaint.diffusion.domain_transform.mean_gap`; 0: their density's alone).
    """
    unit = color_sigma(image, 1.0) if color_unit is None else color_unit
    color_scale = color_factor * unit
    density = share(known)
    by_position, by_colour = nearest_known_both(known, NEIGHBOURS, image,
                                                NEIGHBOUR_COLOUR / (math.sqrt(density) * color_scale))
    flat = np.flatnonzero(known)
    values = at_pixels(flow, flat).astype(np.float64)
    positions = np.stack(np.divmod(flat, known.shape[1]), axis=1).astype(np.float64)
    single = values.astype(np.float32)  # the gaps in float32: half the memory traffic, as precise as the test needs
    columns: dict[str, np.ndarray] = {}
    neighbours = {"position": by_position, "colour": by_colour}
    tests = {name: neighbour_deviation(values, nearest, TOLERANCE, SPREAD_FACTOR, SLOPE)
             for name, nearest in neighbours.items()}
    failures = {name: test.deviation / test.allowance for name, test in tests.items()}  # in allowances
    # how far each value fails its better test: its weight as a neighbour in the affine predictions
    prior = 1e-3 + 1.0 / (1.0 + (2.0 * np.minimum(*failures.values())) ** 4)
    passes = np.logical_or(*(test.deviation <= test.allowance for test in tests.values()))
    rows: np.ndarray | slice = slice(None)  # the values that get features: all (views, no copies), or those not clear
    if clear_within is not None and 1.0 - float(passes.mean()) <= CLEAN_FAILING:
        rows = np.flatnonzero(np.maximum(*failures.values()) > clear_within)
    count = len(flat[rows])
    featured = np.zeros_like(known)
    put_pixels(featured, flat[rows], True)
    for name, nearest in neighbours.items():
        spread, index = tests[name].spread[rows], nearest.index[rows]
        columns[f"deviation_{name}"] = np.log1p(failures[name][rows])
        columns[f"spread_{name}"] = np.log1p(spread)
        columns[f"distance_{name}"] = tests[name].distance[rows] * math.sqrt(density)
        gap = vector_length(rows_at(single, index) - single[rows, None])
        margin = SLOPE * nearest.distance[rows] + spread[:, None]
        columns[f"close_{name}"] = (gap <= CLOSE + margin).mean(axis=1)
        if name == "colour":
            columns["loose_colour"] = (gap <= LOOSE + margin).mean(axis=1)
        else:
            speeds = vector_length(values)
            columns["magnitude"] = np.log1p(np.abs(speeds[rows] - _median_of_rows(rows_at(speeds, index))))
        predicted = neighbours_plane(values, positions, nearest, prior, AFFINE_RIDGE, AFFINE_SCALE, rows)
        columns[f"affine_{name}"] = np.log1p(vector_length(values[rows] - predicted))
    contrast = colour_contrast(image, known, featured, NEIGHBOURS, by_position)
    columns["contrast"] = np.log1p(at_pixels(contrast, flat[rows]) / unit)
    agreeing = np.zeros_like(known)
    put_pixels(agreeing, flat, passes)
    weights = np.where(agreeing, certainty, 0).astype(np.float32)
    if not (weights > 0).any():
        weights = np.where(known, certainty, 0).astype(np.float32)
    first = fit(flow, weights, image if guide is None else guide,
                spatial_factor * sample_spacing(share(weights > 0), least_spacing),
                colour_scale_at(color_scale, density, sparse_below), reach, misfit=False, iterations=iterations)
    columns["fit_residual"] = np.log1p(vector_length(values[rows] - at_pixels(first.flow, flat[rows])))
    columns["failing"] = np.full(count, 1 - passes.mean())
    failing = known & ~agreeing
    partner = mutual_agreement(flow, failing, PARTNER_RADIUS / math.sqrt(density), TOLERANCE, SLOPE)
    columns["partner"] = at_pixels(partner, flat[rows]).astype(np.float64)
    columns["log_density"] = np.full(count, math.log(density))
    features = np.empty((len(FEATURE_NAMES), count), np.float32)  # filled by rows, then turned: faster than np.stack
    for feature, name in zip(features, FEATURE_NAMES):
        feature[:] = columns[name]
    return TrustEvidence(np.ascontiguousarray(features.T), featured, agreeing, first, weights)
