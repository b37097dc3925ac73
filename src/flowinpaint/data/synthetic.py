"""Procedural two-frame scenes with exact optical flow, in the spirit of FlyingChairs/FlyingThings3D.

A scene is a stack of layers in depth order: a background that fills the frame, then several
foreground objects (random polygons, ellipses, smooth blobs, bars and thin lines, with hard
anti-aliased or feathered edges). Every layer carries a texture -- a crop of one of the photos
scikit-image ships in its wheel, or a procedural pattern (noise at two scales, stripes, checker,
gradient) -- sometimes with decals (shapes painted onto it), and its own motion: an affine map
(rotation, zoom, shear, translation) plus, optionally, a small smooth non-rigid displacement.

Frame 1 composites the layers where they are. Frame 2 moves them: every layer is inverse-warped
with its own motion (``cv2.remap``, bilinear) and composited with its moved alpha, so the pair is
consistent. The flow of frame 1 is exact: at each pixel, the motion of the top-most layer whose
alpha is >= 0.5 there. A pixel is occluded when its match leaves frame 2, or when its layer makes
up less than half of frame 2's colour where it lands (another layer covers it there).

Image edges and flow edges do not always agree: photo and pattern edges inside a layer, and
decals, are image edges without a motion edge; a low-contrast object is textured with what lies
behind it in frame 1 (with a slight colour change), so its motion edge has almost no image edge.

Scaling rule: motions, feathering and line widths are given in pixels at the reference size
540x960 (FlyingThings3D) and multiplied by ``hypot(H, W) / hypot(540, 960)``, the ratio of the
frame diagonals, so a 256x256 frame gets motions 0.33 times as long; object sizes are fractions
of ``sqrt(H * W)``. A scene thus looks the same, in proportion, at any size and aspect.

Each sample is deterministic from ``(seed, split, index)``: its generator is
``np.random.default_rng([seed, SPLITS[split], index])``, and the split codes are fixed and
distinct, so the train, val and test streams are disjoint.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass, replace
from importlib import resources

import cv2
import numpy as np
from torch.utils.data import Dataset

__all__ = ["SPLITS", "MotionConfig", "SyntheticConfig", "SyntheticFlow", "render_scene"]

SPLITS = {"train": 0, "val": 1, "test": 2}  # fixed codes, part of every sample's seed: never change
REFERENCE_SIZE = (540, 960)  # (H, W) at which the configured pixel values hold
MIN_SIDE = 32

# Single photos of skimage.data, by loader name, with the file the wheel ships (the stereo pair
# ``stereo_motorcycle`` is left out: it is kept for validation).
_PHOTOS = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "camera": "camera.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "text": "text.png",
    "moon": "moon.png",
    "page": "page.png",
    "coins": "coins.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "retina": "retina.jpg",
    "immunohistochemistry": "ihc.png",
    "cell": "cell.png",
}
_PHOTO_NAMES = tuple(_PHOTOS)
_SHAPES = ("polygon", "ellipse", "blob", "bar", "line")
_SHAPE_WEIGHTS = np.array([0.25, 0.2, 0.3, 0.15, 0.1])
_PATTERNS = ("noise", "stripes", "checker", "gradient")
MAX_PERSPECTIVE = 0.25  # largest SyntheticConfig.perspective: w stays above 0.2 over the canvas
_INVERSION_STEPS = 4  # fixed-point steps inverting a non-rigid motion (each shrinks the error by its slope, < 0.2)


@dataclass(frozen=True)
class MotionConfig:
    """The random motion of one kind of layer; pixel values hold at the reference size 540x960.

    The translation has a uniform direction and a log-normal length: ``translation_median *
    exp(N(0, translation_spread))`` px, capped at ``translation_max`` px. The linear part is
    ``R(angle) @ [[zoom * aspect, shear], [0, zoom / aspect]]`` about the layer's centre, with
    ``angle ~ N(0, rotation_std)`` degrees, ``log zoom ~ N(0, scale_std)``, and ``shear``,
    ``log aspect ~ N(0, shear_std)``.
    """

    translation_median: float
    translation_spread: float
    translation_max: float
    rotation_std: float
    scale_std: float
    shear_std: float

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"MotionConfig.{name} must be a finite number >= 0, got {value!r}")
        if self.translation_max < self.translation_median:
            raise ValueError(
                f"MotionConfig.translation_max ({self.translation_max}) is below translation_median ({self.translation_median})"
            )

    def scaled(self, factor: float) -> MotionConfig:
        """This motion with its translations, rotation, zoom and shear ``factor`` times as large
        (the spread of the translation's length is a ratio and stays)."""
        return replace(self, translation_median=self.translation_median * factor, translation_max=self.translation_max * factor,
                       rotation_std=self.rotation_std * factor, scale_std=self.scale_std * factor,
                       shear_std=self.shear_std * factor)


@dataclass(frozen=True)
class SyntheticConfig:
    """The knobs of the scene generator (pixel values hold at the reference size 540x960).

    Attributes:
        object_count: inclusive range of the number of foreground objects.
        object_size: range of an object's diameter as a fraction of ``sqrt(H * W)`` (log-uniform);
            bars and lines are up to 2.5 times as long.
        foreground_motion: motion of every foreground object, about its centre.
        background_motion: motion of the background (the camera's), about a random point.
        deformation_probability: chance that a layer also gets a smooth non-rigid displacement.
        deformation_amplitude: px, about the standard deviation of that displacement (per component).
        soft_edge_probability: chance that a shape (object or decal) has a feathered edge.
        feather: px, range of the Gaussian sigma of a feathered edge.
        low_contrast_probability: chance that an object is textured with what lies behind it in frame 1
            (slightly recoloured), so that its boundary has little image contrast.
        decal_probability: chance that a layer gets one to three decals painted on it.
        photo_probability: chance that a texture is a photo crop rather than a procedural pattern.
        perspective_probability: chance that the background's motion is a homography (a plane seen
            by a moving camera: the ground under a car, a wall passing by) instead of an affine map,
            so that its flow grows across the frame as real camera motion over depth does.
        perspective: the homography's strength: its projective terms make the depth factor ``w``
            vary by about this much (standard deviation) across the frame's side.

    The defaults aim at FlyingThings3D-like flow at 540x960: most magnitudes below ~30 px, a median
    near 10 px and a tail past 100 px (``benchmarks/synthetic_stats.py`` measures it).
    """

    object_count: tuple[int, int] = (3, 9)
    object_size: tuple[float, float] = (0.1, 0.6)
    foreground_motion: MotionConfig = MotionConfig(
        translation_median=9.0,
        translation_spread=1.1,
        translation_max=200.0,
        rotation_std=4.0,
        scale_std=0.04,
        shear_std=0.02,
    )
    background_motion: MotionConfig = MotionConfig(
        translation_median=5.0,
        translation_spread=1.0,
        translation_max=100.0,
        rotation_std=1.0,
        scale_std=0.02,
        shear_std=0.005,
    )
    deformation_probability: float = 0.25
    deformation_amplitude: float = 4.0
    soft_edge_probability: float = 0.3
    feather: tuple[float, float] = (1.0, 4.0)
    low_contrast_probability: float = 0.15
    decal_probability: float = 0.35
    photo_probability: float = 0.65
    perspective_probability: float = 0.0
    perspective: float = 0.15

    def __post_init__(self) -> None:
        low, high = self.object_count
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high):
            raise ValueError(f"object_count must be integers 0 <= low <= high, got {self.object_count!r}")
        for name in ("object_size", "feather"):
            low, high = getattr(self, name)
            if not (math.isfinite(high) and 0 < low <= high):
                raise ValueError(f"{name} must be finite numbers 0 < low <= high, got {getattr(self, name)!r}")
        for name in ("foreground_motion", "background_motion"):
            if not isinstance(getattr(self, name), MotionConfig):
                raise TypeError(f"{name} must be a MotionConfig, got {type(getattr(self, name)).__name__}")
        if not (math.isfinite(self.deformation_amplitude) and self.deformation_amplitude >= 0):
            raise ValueError(f"deformation_amplitude must be a finite number >= 0, got {self.deformation_amplitude!r}")
        if not (math.isfinite(self.perspective) and 0 <= self.perspective <= MAX_PERSPECTIVE):
            raise ValueError(f"perspective must be a number in [0, {MAX_PERSPECTIVE}], got {self.perspective!r}")
        for name in ("deformation", "soft_edge", "low_contrast", "decal", "photo", "perspective"):
            value = getattr(self, f"{name}_probability")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}_probability must be in [0, 1], got {value!r}")

    def with_motion_scale(self, factor: float) -> SyntheticConfig:
        """The same scenes moving ``factor`` times as much: every layer's motion
        (:meth:`MotionConfig.scaled`), the non-rigid displacement and the perspective's strength.
        With ``factor`` about 0.3-0.5 the pairs move like consecutive video frames (a median of
        1.5-2.5 px at 256x384), where a tracker such as Lucas-Kanade mostly holds; the same seed
        gives the same layout, textures and directions, each motion shrunk.

        Raises:
            ValueError: ``factor`` is not a finite number in (0, 1].
        """
        if not (isinstance(factor, (int, float)) and math.isfinite(factor) and 0 < factor <= 1):
            raise ValueError(f"motion scale must be a number in (0, 1], got {factor!r}")
        return replace(self, foreground_motion=self.foreground_motion.scaled(factor),
                       background_motion=self.background_motion.scaled(factor),
                       deformation_amplitude=self.deformation_amplitude * factor, perspective=self.perspective * factor)


@dataclass(frozen=True)
class _Frame:
    """Geometry shared by one scene's helpers: the frame, its canvas, and the unit conversions."""

    height: int
    width: int
    margin: int  # px of canvas beyond the frame on every side: layers are drawn there too
    scale: float  # frame diagonal / reference diagonal: multiplies the configured px values
    side: float  # sqrt(H * W) px: object and texture sizes are fractions of it

    @property
    def canvas(self) -> tuple[int, int]:
        return self.height + 2 * self.margin, self.width + 2 * self.margin


@dataclass
class _Layer:
    """One layer of frame 1 on its rectangle: pixel ``(row i, column j)`` of its arrays lies at the
    frame position ``(x, y) = (left + j, top + i)`` px."""

    left: int
    top: int
    texture: np.ndarray  # (h, w, 3) float32, about 0..255
    alpha: np.ndarray  # (h, w) float32 in [0, 1]
    motion: np.ndarray  # (3, 3) affine map, frame-1 px -> frame-2 px
    deformation: np.ndarray | None  # (h, w, 2) float32 px, added to the affine motion
    border: int  # cv2 border mode past the rectangle: reflect (the background) or transparent


# ---------------------------------------------------------------------------------------------
# textures


@functools.cache
def _photo(name: str, level: int) -> np.ndarray:
    """Photo ``name`` of ``skimage.data`` as ``(h, w, 3)`` uint8 RGB, halved ``level`` times
    (``cv2.pyrDown``); cached and read-only. Read with Pillow from the file in scikit-image's wheel,
    else through ``skimage.data``."""
    if level > 0:
        image = cv2.pyrDown(_photo(name, level - 1))
    else:
        path = resources.files("skimage") / "data" / _PHOTOS[name]
        if path.is_file():
            from PIL import Image

            with Image.open(str(path)) as file:
                image = np.asarray(file.convert("RGB"))
        else:
            from skimage import data

            image = getattr(data, name)()
            image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    image.setflags(write=False)
    return image


@functools.lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(x, y)`` of an ``(H, W)`` frame, each ``(H, W)`` float32; cached, read-only."""
    x, y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float, channels: int) -> np.ndarray:
    """Uniform noise on a randomly offset grid of ``cell``-px cells (at least 4), bicubically
    interpolated: ``shape + (channels,)`` float32, about 0..1."""
    height, width = shape
    cell = max(cell, 4.0)
    coarse = rng.random((math.ceil(height / cell) + 3, math.ceil(width / cell) + 3, channels), dtype=np.float32)
    offset_x, offset_y = rng.uniform(1, 2, 2)
    to_coarse = np.array([[1 / cell, 0, offset_x], [0, 1 / cell, offset_y]])
    smooth = cv2.warpAffine(coarse, to_coarse, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
    return smooth.reshape(height, width, channels)


def _square_wave(phase: np.ndarray, period: float) -> np.ndarray:
    """0/1 stripes along ``phase`` (px) with ~2 px linear ramps (band-limited): float32 in [0, 1]."""
    return np.clip(0.5 + np.sin(phase * np.float32(2 * math.pi / period)) * np.float32(period / (4 * math.pi)), 0, 1)


def _procedural_texture(rng: np.random.Generator, shape: tuple[int, int], frame: _Frame) -> np.ndarray:
    """A random pattern (noise, stripes, checker or gradient) between two random colours, plus fine
    colour noise: ``shape + (3,)`` float32, about 0..255."""
    x = np.arange(shape[1], dtype=np.float32)[None, :]
    y = np.arange(shape[0], dtype=np.float32)[:, None]
    kind = _PATTERNS[int(rng.integers(len(_PATTERNS)))]
    angle = rng.uniform(0, math.pi)
    cos, sin = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    along = x * cos + y * sin
    period = max(8.0, frame.side * rng.uniform(0.03, 0.15))
    if kind == "noise":
        weight = _smooth_noise(rng, shape, frame.side * rng.uniform(0.05, 0.3), 1)
    elif kind == "stripes":
        weight = _square_wave(along + np.float32(rng.uniform(0, period)), period)[..., None]
    elif kind == "checker":
        first = _square_wave(along, period)
        second = _square_wave(y * cos - x * sin, period * rng.uniform(1.0, 2.0))
        weight = (first + second - 2 * first * second)[..., None]  # soft exclusive or
    else:
        start = along[int(rng.integers(shape[0])), int(rng.integers(shape[1]))]
        weight = np.clip((along - start) * np.float32(1 / (frame.side * rng.uniform(0.3, 1.5))) + 0.5, 0, 1)[..., None]
    first, second = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    detail = _smooth_noise(rng, shape, frame.side * rng.uniform(0.01, 0.05), 3)
    return first + weight * (second - first) + (detail - 0.5) * np.float32(rng.uniform(10, 40))


def _photo_texture(rng: np.random.Generator, shape: tuple[int, int], frame: _Frame) -> np.ndarray:
    """A random crop of a photo (random zoom, rotation, mirror and colour change; mirrored past the
    photo's edges), ``frame.side`` px showing 0.25 to 1.2 of the photo: ``shape + (3,)`` float32, about 0..255."""
    name = _PHOTO_NAMES[int(rng.integers(len(_PHOTO_NAMES)))]
    full = _photo(name, 0)
    zoom = frame.side / (
        math.sqrt(full.shape[0] * full.shape[1]) * math.exp(rng.uniform(math.log(0.25), math.log(1.2)))
    )
    max_level = max(0, int(math.log2(min(full.shape[:2]) / 32)))
    # halve until the crop magnifies the level by at least sqrt(2): band-limited, so frame 2's bilinear resampling is faithful
    level = min(max(0, math.ceil(0.5 - math.log2(zoom))), max_level)
    source = _photo(name, level)
    angle = rng.uniform(0, 2 * math.pi)
    mirror = 1.0 if rng.random() < 0.5 else -1.0
    linear = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) @ np.diag(
        [mirror, 1.0]
    )
    linear /= zoom * 2**level  # texture px -> source px
    centre = np.array([shape[1], shape[0]]) / 2
    target = rng.uniform(0, 1, 2) * np.array([source.shape[1], source.shape[0]])
    crop = cv2.warpAffine(
        source,
        np.hstack([linear, (target - linear @ centre)[:, None]]),
        (shape[1], shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    # colour change: tint * (contrast * saturation mix of (rgb - 128) + 128 + brightness)
    saturation, contrast = rng.uniform(0.3, 1.2), math.exp(rng.uniform(math.log(0.6), math.log(1.4)))
    tint, brightness = rng.uniform(0.7, 1.3, 3), rng.uniform(-30, 30)
    mix = saturation * np.eye(3) + (1 - saturation) / 3
    colour = contrast * tint[:, None] * mix
    offset = tint * (128 + brightness) - colour @ np.full(3, 128.0)
    return cv2.transform(crop.astype(np.float32), np.hstack([colour, offset[:, None]]).astype(np.float32))


def _texture(rng: np.random.Generator, shape: tuple[int, int], frame: _Frame, config: SyntheticConfig) -> np.ndarray:
    """A photo crop (``config.photo_probability``) or a procedural pattern: ``shape + (3,)`` float32."""
    if rng.random() < config.photo_probability:
        return _photo_texture(rng, shape, frame)
    return _procedural_texture(rng, shape, frame)


# ---------------------------------------------------------------------------------------------
# shapes


@dataclass(frozen=True)
class _Shape:
    """A shape in frame px: a filled outline (``thickness`` -1) or an open line of ``thickness`` px,
    feathered by a Gaussian of ``sigma`` px (0: hard, anti-aliased edge)."""

    points: np.ndarray  # (N, 2) vertices (x, y)
    thickness: int
    sigma: float

    def bounds(self, frame: _Frame) -> tuple[int, int, int, int]:
        """``(left, top, height, width)`` (frame px) of a rectangle holding all of the shape's alpha,
        cut to the canvas (the centre of every shape drawn here lies in the frame, so it is not empty)."""
        pad = 2 + max(self.thickness, 0) + math.ceil(3 * self.sigma)
        low = np.maximum(np.floor(self.points.min(axis=0)).astype(int) - pad, -frame.margin)
        high = np.minimum(
            np.ceil(self.points.max(axis=0)).astype(int) + pad + 1,
            [frame.width + frame.margin, frame.height + frame.margin],
        )
        return int(low[0]), int(low[1]), int(high[1] - low[1]), int(high[0] - low[0])

    def alpha(self, left: int, top: int, shape: tuple[int, int]) -> np.ndarray:
        """The shape rasterised (anti-aliased, 1/16 px vertex precision) on the ``shape`` rectangle at
        ``(left, top)`` frame px: float32 alpha in [0, 1]."""
        mask = np.zeros(shape, np.uint8)
        fixed = [np.round((self.points - (left, top)) * 16).astype(np.int32)]
        if self.thickness < 0:
            cv2.fillPoly(mask, fixed, 255, cv2.LINE_AA, shift=4)
        else:
            cv2.polylines(mask, fixed, False, 255, self.thickness, cv2.LINE_AA, shift=4)
        alpha = mask.astype(np.float32) * np.float32(1 / 255)
        return cv2.GaussianBlur(alpha, (0, 0), self.sigma) if self.sigma > 0 else alpha


def _random_shape(
    rng: np.random.Generator, centre: np.ndarray, diameter: float, frame: _Frame, config: SyntheticConfig
) -> _Shape:
    """A random polygon, ellipse, blob, bar or thin line about ``centre`` (x, y px), of about
    ``diameter`` px (bars and lines up to 2.5 times as long), feathered with probability
    ``config.soft_edge_probability``."""
    kind = _SHAPES[int(rng.choice(len(_SHAPES), p=_SHAPE_WEIGHTS))]
    radius = diameter / 2
    thickness = -1
    if kind == "polygon":
        angles = np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(3, 10))))
        local = radius * rng.uniform(0.4, 1.0, angles.size)[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)
    elif kind == "ellipse":
        angles = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        local = radius * np.stack([np.cos(angles), rng.uniform(0.3, 1.0) * np.sin(angles)], 1)
    elif kind == "blob":
        angles = np.linspace(0, 2 * math.pi, 64, endpoint=False)
        orders = np.arange(1, 6)
        wobble = rng.normal(0, 0.3 / orders)[:, None] * np.cos(
            orders[:, None] * angles + rng.uniform(0, 2 * math.pi, 5)[:, None]
        )
        radii = np.exp(wobble.sum(axis=0))
        local = (radius / radii.max()) * radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)
    elif kind == "bar":
        length, width = diameter * rng.uniform(1.0, 2.5), max(1.5, diameter * rng.uniform(0.04, 0.15))
        local = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * np.array([length, width]) / 2
    else:  # a thin, slightly bent line
        along = np.linspace(-0.5, 0.5, 9) * diameter * rng.uniform(1.0, 2.5)
        local = np.stack([along, rng.normal(0, 0.1) * diameter * (1 - (along / along[-1]) ** 2)], 1)
        thickness = max(1, round(rng.uniform(2.0, 8.0) * frame.scale))
    tilt = rng.uniform(0, 2 * math.pi)
    rotation = np.array([[math.cos(tilt), -math.sin(tilt)], [math.sin(tilt), math.cos(tilt)]])
    sigma = max(0.5, rng.uniform(*config.feather) * frame.scale) if rng.random() < config.soft_edge_probability else 0.0
    return _Shape(centre + local @ rotation.T, thickness, sigma)


def _paint_decals(
    rng: np.random.Generator, layer: _Layer, diameter: float, frame: _Frame, config: SyntheticConfig
) -> None:
    """With probability ``config.decal_probability``, paint one to three shapes (a flat colour or a new
    texture) onto the layer's texture in place, centred inside the layer: image edges that move with
    the layer, so they carry no motion edge."""
    if rng.random() >= config.decal_probability:
        return
    shape = layer.alpha.shape
    inside = np.flatnonzero(layer.alpha >= 0.5)
    for _ in range(int(rng.integers(1, 4))):
        row, col = divmod(int(inside[rng.integers(inside.size)]), shape[1]) if inside.size else (0, 0)
        decal = _random_shape(
            rng, np.array([layer.left + col, layer.top + row], float), diameter * rng.uniform(0.15, 0.5), frame, config
        )
        paint = decal.alpha(layer.left, layer.top, shape)[..., None]
        fill = rng.uniform(0, 255, 3).astype(np.float32) if rng.random() < 0.5 else _texture(rng, shape, frame, config)
        layer.texture += paint * (fill - layer.texture)


# ---------------------------------------------------------------------------------------------
# motion


def _affine(rng: np.random.Generator, motion: MotionConfig, centre: np.ndarray, scale: float) -> np.ndarray:
    """A random affine map (see ``MotionConfig``) about ``centre`` (x, y px), translations times ``scale``:
    ``(3, 3)``, frame-1 px -> frame-2 px."""
    angle = math.radians(rng.normal(0, motion.rotation_std))
    zoom, aspect = math.exp(rng.normal(0, motion.scale_std)), math.exp(rng.normal(0, motion.shear_std))
    shear = rng.normal(0, motion.shear_std)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    linear = rotation @ np.array([[zoom * aspect, shear], [0.0, zoom / aspect]])
    length = min(motion.translation_median * math.exp(rng.normal(0, motion.translation_spread)), motion.translation_max)
    direction = rng.uniform(0, 2 * math.pi)
    offset = centre - linear @ centre + scale * length * np.array([math.cos(direction), math.sin(direction)])
    return np.vstack([np.hstack([linear, offset[:, None]]), [0.0, 0.0, 1.0]])


def _perspective(rng: np.random.Generator, centre: np.ndarray, frame: _Frame, strength: float) -> np.ndarray:
    """A random projective map about ``centre`` (x, y px): ``(3, 3)``, identity but for its last row,
    whose terms make ``w`` change by about ``strength`` (normal, clipped at 1.5 times that) per
    ``frame.side`` pixels: with ``strength <= MAX_PERSPECTIVE``, ``w > 0.2`` over the canvas."""
    terms = np.clip(rng.normal(0, strength, 2), -1.5 * strength, 1.5 * strength) / frame.side
    shift = np.array([[1.0, 0.0, centre[0]], [0.0, 1.0, centre[1]], [0.0, 0.0, 1.0]])
    projective = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [terms[0], terms[1], 1.0]])
    return shift @ projective @ np.linalg.inv(shift)


def _deformation(
    rng: np.random.Generator, shape: tuple[int, int], frame: _Frame, config: SyntheticConfig
) -> np.ndarray | None:
    """With probability ``config.deformation_probability``, a smooth displacement: smooth noise on
    ``side / 4`` px cells with about ``config.deformation_amplitude`` (times the frame's scale) as its
    standard deviation, ``shape + (2,)`` float32 px; else None."""
    if rng.random() >= config.deformation_probability:
        return None
    amplitude = np.float32(math.sqrt(12) * config.deformation_amplitude * frame.scale)  # sqrt(12): std of U(0, 1)
    return (_smooth_noise(rng, shape, frame.side / 4, 2) - np.float32(0.5)) * amplitude


def _apply(matrix: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The affine or projective ``matrix`` (3, 3) applied to the points ``(x, y)``: float32 arrays of their shape."""
    m = matrix.astype(np.float32)
    moved_x, moved_y = m[0, 0] * x + m[0, 1] * y + m[0, 2], m[1, 0] * x + m[1, 1] * y + m[1, 2]
    if m[2, 0] == 0 and m[2, 1] == 0 and m[2, 2] == 1:
        return moved_x, moved_y
    w = m[2, 0] * x + m[2, 1] * y + m[2, 2]
    return moved_x / w, moved_y / w


def _window(
    left: int, top: int, shape: tuple[int, int], frame: _Frame
) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """The part of the ``shape`` rectangle at ``(left, top)`` frame px that lies in the frame, as
    ``(frame slices, rectangle slices)``; None when they do not meet."""
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + shape[1], frame.width), min(top + shape[0], frame.height)
    if x0 >= x1 or y0 >= y1:
        return None
    return (slice(y0, y1), slice(x0, x1)), (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))


def _moved_window(layer: _Layer, frame: _Frame) -> tuple[slice, slice] | None:
    """The frame-2 slices that the moved layer may cover (its moved rectangle, with the deformation's
    largest shift and a pixel to spare); None when that misses the frame."""
    height, width = layer.alpha.shape
    corners_x = np.array([layer.left, layer.left + width - 1] * 2, np.float32)
    corners_y = np.array([layer.top] * 2 + [layer.top + height - 1] * 2, np.float32)
    moved_x, moved_y = _apply(layer.motion, corners_x, corners_y)
    slack = 2.0 + (float(np.abs(layer.deformation).max()) if layer.deformation is not None else 0.0)
    left, top = math.floor(moved_x.min() - slack), math.floor(moved_y.min() - slack)
    window = _window(
        left, top, (math.ceil(moved_y.max() + slack) - top + 1, math.ceil(moved_x.max() + slack) - left + 1), frame
    )
    return window[0] if window else None


def _source_maps(layer: _Layer, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For frame-2 pixels ``(x, y)``, the position p on the layer's rectangle (its pixels) that moves
    onto them (motion(p) = q): two float32 maps for ``cv2.remap``. A non-rigid motion is inverted by
    fixed-point steps ``p <- affine^-1 (q - deformation(p))``."""
    inverse = np.linalg.inv(layer.motion)
    inverse[:2] -= np.outer((layer.left, layer.top), inverse[2])  # frame px -> rectangle px (after the division)
    map_x, map_y = _apply(inverse, x, y)
    for _ in range(_INVERSION_STEPS if layer.deformation is not None else 0):
        shift = cv2.remap(layer.deformation, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        map_x, map_y = _apply(inverse, x - shift[..., 0], y - shift[..., 1])
    return map_x, map_y


# ---------------------------------------------------------------------------------------------
# scene


def _scene_layers(rng: np.random.Generator, frame: _Frame, config: SyntheticConfig) -> tuple[list[_Layer], np.ndarray]:
    """The background and the foreground objects, bottom to top, and frame 1 composited on the canvas
    (``canvas + (3,)`` float32): a low-contrast object takes its texture from what lies behind it."""
    size = np.array([frame.width, frame.height], dtype=float)
    canvas = frame.canvas
    texture = _texture(rng, canvas, frame, config)
    motion = _affine(rng, config.background_motion, rng.uniform(0, 1, 2) * size, frame.scale)
    if config.perspective_probability and rng.random() < config.perspective_probability:  # no draw when off
        motion = motion @ _perspective(rng, rng.uniform(0, 1, 2) * size, frame, config.perspective)
    background = _Layer(
        -frame.margin,
        -frame.margin,
        texture,
        np.ones(canvas, np.float32),
        motion,
        _deformation(rng, canvas, frame, config),
        cv2.BORDER_REFLECT_101,
    )
    _paint_decals(rng, background, frame.side * 0.3, frame, config)
    layers, image = [background], background.texture.copy()
    low, high = config.object_count
    for _ in range(int(rng.integers(low, high + 1))):
        diameter = frame.side * math.exp(rng.uniform(*np.log(config.object_size)))
        centre = rng.uniform(0, 1, 2) * size
        shape = _random_shape(rng, centre, diameter, frame, config)
        left, top, height, width = shape.bounds(frame)
        on_canvas = (
            slice(top + frame.margin, top + frame.margin + height),
            slice(left + frame.margin, left + frame.margin + width),
        )
        if rng.random() < config.low_contrast_probability:  # what lies behind it, slightly recoloured
            gain, offset = rng.uniform(0.9, 1.1, 3).astype(np.float32), rng.uniform(-8, 8, 3).astype(np.float32)
            texture = image[on_canvas] * gain + offset
        else:
            texture = _texture(rng, (height, width), frame, config)
        layer = _Layer(
            left,
            top,
            texture,
            shape.alpha(left, top, (height, width)),
            _affine(rng, config.foreground_motion, centre, frame.scale),
            _deformation(rng, (height, width), frame, config),
            cv2.BORDER_CONSTANT,
        )
        _paint_decals(rng, layer, diameter, frame, config)
        image[on_canvas] += layer.alpha[..., None] * (layer.texture - image[on_canvas])
        layers.append(layer)
    return layers, image


def _visible_at(weights: np.ndarray, owner: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``weights[owner, y, x]`` interpolated bilinearly at the (clamped) positions: ``(H, W)`` float32.

    Shape:
        weights ``(L, H, W)``; owner (int), x and y (px) ``(H, W)``.
    """
    _, height, width = weights.shape
    x = np.clip(x, 0, width - 1)
    y = np.clip(y, 0, height - 1)
    x0 = np.minimum(x.astype(np.intp), width - 2)
    y0 = np.minimum(y.astype(np.intp), height - 2)
    fx, fy = x - x0, y - y0
    flat = weights.ravel()
    base = (owner.astype(np.intp) * height + y0) * width + x0
    top = flat[base] * (1 - fx) + flat[base + 1] * fx
    bottom = flat[base + width] * (1 - fx) + flat[base + width + 1] * fx
    return top * (1 - fy) + bottom * fy


def render_scene(rng: np.random.Generator, size: tuple[int, int], config: SyntheticConfig) -> dict:
    """Draw one scene from ``rng`` and render both frames, the exact flow and the occlusion.

    Args:
        rng: the source of every random choice; the same state gives the same scene bit for bit.
        size: ``(H, W)`` of the frames, both at least 32 (not checked here).
        config: the generator's knobs.

    Returns:
        A dict with ``image1``, ``image2`` (uint8 RGB), ``flow`` (float32 px, frame 1 -> frame 2,
        exact everywhere), ``valid`` (bool, all True) and ``occlusion`` (bool, True where the pixel
        of frame 1 leaves frame 2 or is covered there by another layer).

    Shape:
        images ``(H, W, 3)``, flow ``(H, W, 2)`` as (u along x, v along y, down), masks ``(H, W)``.
    """
    height, width = size
    frame = _Frame(
        height=height,
        width=width,
        margin=math.ceil(0.125 * max(height, width)) + 4,
        scale=math.hypot(height, width) / math.hypot(*REFERENCE_SIZE),
        side=math.sqrt(height * width),
    )
    layers, canvas_image = _scene_layers(rng, frame, config)
    x, y = _grid(height, width)

    flow = np.zeros((height, width, 2), np.float32)
    owner = np.zeros((height, width), np.int16)  # top-most layer with alpha >= 0.5 in frame 1
    image2 = np.zeros((height, width, 3), np.float32)
    moved_alphas = []
    for index, layer in enumerate(layers):
        window = _window(layer.left, layer.top, layer.alpha.shape, frame)
        if window is not None:
            (rows, cols), local = window
            top = layer.alpha[local] >= 0.5
            owner[rows, cols][top] = index
            moved_x, moved_y = _apply(layer.motion, x[rows, cols], y[rows, cols])
            layer_flow = np.stack([moved_x - x[rows, cols], moved_y - y[rows, cols]], axis=2)
            if layer.deformation is not None:
                layer_flow += layer.deformation[local]
            np.copyto(flow[rows, cols], layer_flow, where=top[..., None])

        rows2 = _moved_window(layer, frame)
        if rows2 is not None:
            map1, map2 = cv2.convertMaps(*_source_maps(layer, x[rows2], y[rows2]), cv2.CV_16SC2)
            moved = cv2.remap(layer.texture, map1, map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
            alpha = cv2.remap(layer.alpha, map1, map2, cv2.INTER_LINEAR, borderMode=layer.border)
            image2[rows2] += alpha[..., None] * (moved - image2[rows2])
            moved_alphas.append((index, rows2, alpha))

    # each layer's share of frame 2's colour: its alpha times the transparency of the layers above
    shares = np.zeros((len(layers), height, width), np.float32)
    clear = np.ones((height, width), np.float32)
    for index, rows2, alpha in reversed(moved_alphas):
        shares[index][rows2] = alpha * clear[rows2]
        clear[rows2] -= shares[index][rows2]
    target_x, target_y = x + flow[..., 0], y + flow[..., 1]
    inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
    occlusion = ~inside | (_visible_at(shares, owner, target_x, target_y) < 0.5)
    crop = (slice(frame.margin, frame.margin + height), slice(frame.margin, frame.margin + width))
    return {
        "image1": np.clip(np.rint(canvas_image[crop]), 0, 255).astype(np.uint8),
        "image2": np.clip(np.rint(image2), 0, 255).astype(np.uint8),
        "flow": flow,
        "valid": np.ones((height, width), bool),
        "occlusion": occlusion,
    }


def _is_int(value: object, low: int) -> bool:
    """Whether ``value`` is an integer (not a bool) at least ``low``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low


class SyntheticFlow(Dataset):
    """Procedural scenes with exact flow and occlusion (see the module's docstring), as a dataset.

    Args:
        split: "train", "val" or "test": disjoint streams of samples.
        size: ``(H, W)`` of the frames, both at least 32.
        length: number of samples in the split, at least 1.
        seed: a non-negative integer; with ``split`` and the index it fixes every sample bit for bit.
        config: the generator's knobs.

    ``dataset[index]`` (``0 <= index < length``) is a dict with ``image1``, ``image2`` (uint8 RGB),
    ``flow`` (float32 px, frame 1 -> frame 2, exact everywhere), ``valid`` (bool, all True),
    ``occlusion`` (bool, True where the pixel of frame 1 leaves frame 2 or is covered there by
    another layer) and ``id`` (str), all numpy arrays but the id.

    Shape:
        images ``(H, W, 3)``, flow ``(H, W, 2)`` as (u along x, v along y, down), masks ``(H, W)``.
    """

    def __init__(
        self, split: str, size: tuple[int, int], length: int, seed: int = 0, config: SyntheticConfig = SyntheticConfig()
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
        if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(_is_int(side, MIN_SIDE) for side in size)):
            raise ValueError(f"size must be (H, W), integers both >= {MIN_SIDE}, got {size!r}")
        if not _is_int(length, 1):
            raise ValueError(f"length must be an integer >= 1, got {length!r}")
        if not _is_int(seed, 0):
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        if not isinstance(config, SyntheticConfig):
            raise TypeError(f"config must be a SyntheticConfig, got {type(config).__name__}")
        self.split = split
        self.size = (int(size[0]), int(size[1]))
        self.length = int(length)
        self.seed = int(seed)
        self.config = config

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        index = operator.index(index)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a split of {self.length} samples")
        rng = np.random.default_rng([self.seed, SPLITS[self.split], index])
        sample = render_scene(rng, self.size, self.config)
        sample["id"] = f"synthetic-{self.split}-seed{self.seed}-{index}-{self.size[0]}x{self.size[1]}"
        return sample
