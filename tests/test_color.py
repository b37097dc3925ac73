"""Tests for flowinpaint.viz.color against hand-derived Middlebury colours."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flowinpaint.viz import flow_to_color, make_colorwheel

# The wheel written out by hand from its definition: each segment of length n holds one
# channel at 255 and ramps another with floor(255 * i / n), i = 0 .. n-1.
#   RY (n=15): G = 17 i.
#   YG (n=6):  R = 255 - floor(42.5 i) = 255, 213, 170, 128, 85, 43.
#   GC (n=4):  B = floor(63.75 i) = 0, 63, 127, 191.
#   CB (n=11): G = 255 - floor(23.18 i) = 255, 232, 209, 186, 163, 140, 116, 93, 70, 47, 24.
#   BM (n=13): R = floor(19.615 i) = 0, 19, 39, 58, 78, 98, 117, 137, 156, 176, 196, 215, 235.
#   MR (n=6):  B = 255, 213, 170, 128, 85, 43.
WHEEL = (
    [(255, 17 * i, 0) for i in range(15)]
    + [(r, 255, 0) for r in (255, 213, 170, 128, 85, 43)]
    + [(0, 255, b) for b in (0, 63, 127, 191)]
    + [(0, g, 255) for g in (255, 232, 209, 186, 163, 140, 116, 93, 70, 47, 24)]
    + [(r, 0, 255) for r in (0, 19, 39, 58, 78, 98, 117, 137, 156, 176, 196, 215, 235)]
    + [(255, 0, b) for b in (255, 213, 170, 128, 85, 43)]
)

RIGHT, DOWN, LEFT, UP = (1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)

# Unit flow with max_flow = 1 (rad = 1, so col = 1 - 1 * (1 - col) = col):
#   right: a = atan2(-0.0, -1) / pi = -1 -> fk = 0    -> wheel[0]  = (255, 0, 0), red.
#   down:  a = atan2(-1, -0.0) / pi = -1/2 -> fk = 13.5 -> (wheel[13] + wheel[14]) / 2
#          = (255, 229.5, 0) -> floor -> (255, 229, 0), yellow.
#   left:  a = atan2(-0.0, 1) / pi = 0 -> fk = 27   -> wheel[27] = (0, 209, 255), cyan-blue.
#   up:    a = atan2(1, -0.0) / pi = 1/2 -> fk = 40.5 -> (wheel[40] + wheel[41]) / 2
#          = (88, 0, 255), violet.
UNIT_COLORS = {RIGHT: (255, 0, 0), DOWN: (255, 229, 0), LEFT: (0, 209, 255), UP: (88, 0, 255)}
# Unit flow with max_flow = 2 (rad = 1/2): channel C of the wheel colour becomes
# floor(255 * (1 - (1 - C/255) / 2)) = floor((255 + C) / 2).
HALF_COLORS = {
    RIGHT: (255, 127, 127),
    DOWN: (255, 242, 127),  # (255 + 229.5) / 2 = 242.25
    LEFT: (127, 232, 255),
    UP: (171, 127, 255),  # (255 + 88) / 2 = 171.5
}
# Flow of length 2 with max_flow = 1 (rad = 2 > 1): floor(0.75 * C).
SATURATED_COLORS = {
    RIGHT: (191, 0, 0),  # 0.75 * 255 = 191.25
    DOWN: (191, 172, 0),  # 0.75 * 229.5 = 172.125
    LEFT: (0, 156, 191),  # 0.75 * 209 = 156.75
}


def _pixel(vector: tuple[float, float], scale: float = 1.0) -> np.ndarray:
    return np.array([[[scale * vector[0], scale * vector[1]]]])


def _reference_color(u: float, v: float, radius: float) -> tuple[int, int, int]:
    """Straightforward per-pixel Middlebury mapping of one known vector."""
    u, v = u / radius, v / radius
    rad = math.sqrt(u * u + v * v)
    fk = (math.atan2(-v, -u) / math.pi + 1.0) / 2.0 * (len(WHEEL) - 1)
    k0 = math.floor(fk)
    k1 = (k0 + 1) % len(WHEEL)
    f = fk - k0
    rgb = []
    for channel in range(3):
        col = (1.0 - f) * (WHEEL[k0][channel] / 255.0) + f * (WHEEL[k1][channel] / 255.0)
        col = 1.0 - rad * (1.0 - col) if rad <= 1.0 else col * 0.75
        rgb.append(math.floor(255.0 * col))
    return rgb[0], rgb[1], rgb[2]


# --- wheel ------------------------------------------------------------------------------


def test_colorwheel_matches_hand_table() -> None:
    wheel = make_colorwheel()
    assert wheel.shape == (55, 3)
    assert wheel.dtype == np.uint8
    np.testing.assert_array_equal(wheel, np.array(WHEEL))


@pytest.mark.parametrize(
    ("index", "rgb"),
    [
        (0, (255, 0, 0)),  # RY start: red
        (14, (255, 238, 0)),  # RY end
        (15, (255, 255, 0)),  # YG start: yellow
        (20, (43, 255, 0)),
        (21, (0, 255, 0)),  # GC start: green
        (24, (0, 255, 191)),
        (25, (0, 255, 255)),  # CB start: cyan
        (35, (0, 24, 255)),
        (36, (0, 0, 255)),  # BM start: blue
        (48, (235, 0, 255)),
        (49, (255, 0, 255)),  # MR start: magenta
        (54, (255, 0, 43)),  # last colour, wraps to red
    ],
)
def test_colorwheel_segment_endpoints(index: int, rgb: tuple[int, int, int]) -> None:
    assert tuple(make_colorwheel()[index]) == rgb


# --- primary directions -----------------------------------------------------------------


@pytest.mark.parametrize("direction", list(UNIT_COLORS))
def test_primary_direction_colors(direction: tuple[float, float]) -> None:
    expected = UNIT_COLORS[direction]
    assert tuple(flow_to_color(_pixel(direction), max_flow=1.0)[0, 0]) == expected
    # Auto normalisation divides by |flow| + 1e-5: rad just below 1, same colour.
    assert tuple(flow_to_color(_pixel(direction, 7.0))[0, 0]) == expected


@pytest.mark.parametrize("direction", list(HALF_COLORS))
def test_half_magnitude_is_lighter(direction: tuple[float, float]) -> None:
    assert tuple(flow_to_color(_pixel(direction), max_flow=2.0)[0, 0]) == HALF_COLORS[direction]


@pytest.mark.parametrize("direction", list(SATURATED_COLORS))
def test_flow_beyond_max_flow_is_darkened(direction: tuple[float, float]) -> None:
    out = flow_to_color(_pixel(direction, 2.0), max_flow=1.0)
    assert tuple(out[0, 0]) == SATURATED_COLORS[direction]


def test_auto_normalisation_uses_largest_magnitude() -> None:
    flow = np.concatenate([_pixel(RIGHT, 4.0), _pixel(DOWN, 2.0)], axis=1)
    out = flow_to_color(flow)
    assert tuple(out[0, 0]) == UNIT_COLORS[RIGHT]
    # |down| / (4 + 1e-5) is just below 1/2: G = floor(242.25...) as with max_flow = 2.
    assert tuple(out[0, 1]) == HALF_COLORS[DOWN]


# --- special pixels ---------------------------------------------------------------------


@pytest.mark.parametrize("max_flow", [None, 1.0, 0.001])
def test_zero_flow_is_white(max_flow: float | None) -> None:
    out = flow_to_color(np.zeros((3, 4, 2)), max_flow=max_flow)
    assert out.shape == (3, 4, 3)
    assert out.dtype == np.uint8
    assert np.all(out == 255)


def test_unknown_pixels_are_black_and_ignored_for_normalisation() -> None:
    flow = np.zeros((1, 5, 2))
    flow[0, 0] = RIGHT
    flow[0, 1] = (np.nan, 0.0)
    flow[0, 2] = (0.0, np.inf)
    flow[0, 3] = (1e10, 1e10)  # Middlebury unknown-flow marker
    out = flow_to_color(flow)
    np.testing.assert_array_equal(out[0, 1:4], 0)
    assert tuple(out[0, 0]) == UNIT_COLORS[RIGHT]
    assert tuple(out[0, 4]) == (255, 255, 255)


def test_invalid_pixels_are_black_and_ignored_for_normalisation() -> None:
    flow = np.concatenate([_pixel(RIGHT), _pixel(LEFT, 100.0)], axis=1)
    out = flow_to_color(flow, valid=np.array([[True, False]]))
    assert tuple(out[0, 0]) == UNIT_COLORS[RIGHT]
    assert tuple(out[0, 1]) == (0, 0, 0)


def test_nothing_known_gives_black_image() -> None:
    out = flow_to_color(np.ones((2, 2, 2)), valid=np.zeros((2, 2), bool))
    assert np.all(out == 0)


# --- against a per-pixel reference ------------------------------------------------------


@pytest.mark.parametrize("max_flow", [None, 3.0])
def test_matches_per_pixel_reference(max_flow: float | None) -> None:
    rng = np.random.default_rng(3)
    flow = rng.normal(scale=2.0, size=(9, 11, 2)).astype(np.float32)
    flow[0, 0] = (np.nan, 1.0)
    valid = rng.random((9, 11)) > 0.2
    out = flow_to_color(flow, max_flow=max_flow, valid=valid)

    known = [
        (y, x)
        for y in range(9)
        for x in range(11)
        if valid[y, x] and np.isfinite(flow[y, x]).all()
    ]
    if max_flow is None:
        magnitudes = [math.sqrt(float(flow[p][0]) ** 2 + float(flow[p][1]) ** 2) for p in known]
        radius = max(magnitudes) + 1e-5
    else:
        radius = max_flow
    expected = np.zeros((9, 11, 3), dtype=np.uint8)
    for y, x in known:
        expected[y, x] = _reference_color(float(flow[y, x, 0]), float(flow[y, x, 1]), radius)
    np.testing.assert_array_equal(out, expected)


def test_integer_flow_accepted() -> None:
    flow = np.array([[[1, 0], [0, 0]]], dtype=np.int32)
    out = flow_to_color(flow, max_flow=1)
    assert tuple(out[0, 0]) == UNIT_COLORS[RIGHT]
    assert tuple(out[0, 1]) == (255, 255, 255)


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("max_flow", [0.0, -1.0, np.nan, np.inf, True, "2"])
def test_bad_max_flow_raises(max_flow: object) -> None:
    with pytest.raises(ValueError, match="max_flow must be a finite number > 0"):
        flow_to_color(np.zeros((2, 2, 2)), max_flow=max_flow)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "flow",
    [np.zeros((2, 2, 3)), np.zeros((2, 2)), np.zeros((2, 2, 2), dtype=complex)],
)
def test_bad_flow_raises(flow: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"flow must be a real-valued array of shape \(H, W, 2\)"):
        flow_to_color(flow)


@pytest.mark.parametrize(
    ("valid", "match"),
    [(np.ones((2, 3), bool), r"shape \(2, 2\).*\(2, 3\)"), (np.ones((2, 2)), "bool.*float64")],
)
def test_bad_valid_raises(valid: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        flow_to_color(np.zeros((2, 2, 2)), valid=valid)
