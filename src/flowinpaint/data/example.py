"""A synthetic flow example with an exact ground truth, built from scikit-image's photos.

A background photo moves with a smooth global affine motion; two or three foreground layers
(ellipses and a polygon, textured with crops of other photos) each move with their own affine
motion and are composited in depth order. The flow of frame 1 is exact: at each pixel, the
motion of the top-most layer covering it. Frame 2 is rendered by inverse-warping every layer
with its own motion (bilinear) and compositing the layers with their moved masks, so occluded
pixels exist: pixels of frame 1 that leave the frame or are covered by another layer in frame 2
(given in ``occluded``).
"""

from __future__ import annotations

import functools
import math
from importlib import resources

import cv2
import numpy as np

__all__ = ["make_example"]

_PHOTOS = {"astronaut": "astronaut.png", "coffee": "coffee.png", "chelsea": "chelsea.png", "rocket": "rocket.jpg"}
_BACKGROUNDS = ("astronaut", "coffee", "chelsea")


@functools.lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    """Photo ``name`` of ``skimage.data`` as RGB uint8, read with OpenCV from the file scikit-image
    ships (faster than importing ``skimage.io``), else through ``skimage.data``."""
    path = resources.files("skimage") / "data" / _PHOTOS[name]
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    if image is not None:
        image = image[..., ::-1]
    else:
        from skimage import data

        image = getattr(data, name)()[..., :3]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    image.setflags(write=False)
    return image


def _texture(rng: np.random.Generator, name: str, shape: tuple[int, int], crop: float) -> np.ndarray:
    """A random crop (``crop`` of each side, or more) of photo ``name`` resized to ``shape``."""
    photo = _photo(name)
    ph, pw = photo.shape[:2]
    ch, cw = (int(side * rng.uniform(crop, 1.0)) for side in (ph, pw))
    y0, x0 = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    patch = photo[y0 : y0 + ch, x0 : x0 + cw]
    texture = cv2.resize(patch, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.GaussianBlur(texture, (0, 0), 0.8)  # band-limited, like a camera image


def _affine(rng: np.random.Generator, centre: tuple[float, float], shift: float, degrees: float, scale: float) -> np.ndarray:
    """A 3x3 affine map: rotate by up to ``degrees`` and scale by up to ``1 +- scale`` about
    ``centre`` (x, y), then translate by up to ``shift`` pixels in a random direction."""
    angle = math.radians(rng.uniform(-degrees, degrees))
    factor = 1.0 + rng.uniform(-scale, scale)
    direction, length = rng.uniform(0, 2 * math.pi), rng.uniform(0.5, 1.0) * shift
    linear = factor * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    cx, cy = centre
    offset = np.array([cx, cy]) - linear @ np.array([cx, cy]) + length * np.array([math.cos(direction), math.sin(direction)])
    return np.vstack([np.hstack([linear, offset[:, None]]), [0.0, 0.0, 1.0]])


def _layer_mask(rng: np.random.Generator, kind: str, canvas: tuple[int, int], margin: int, size: tuple[int, int]) -> np.ndarray:
    """A filled ``kind`` ("ellipse" or "polygon") inside the frame region of the canvas, as float32 0/1."""
    height, width = size
    mask = np.zeros(canvas, dtype=np.uint8)
    small = min(height, width)
    cx, cy = margin + rng.uniform(0.2, 0.8) * width, margin + rng.uniform(0.2, 0.8) * height
    if kind == "ellipse":
        axes = (max(2, int(small * rng.uniform(0.12, 0.25))), max(2, int(small * rng.uniform(0.08, 0.2))))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, thickness=-1)
    else:
        count = int(rng.integers(5, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = small * rng.uniform(0.1, 0.25, count)
        points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(np.float32)


def make_example(size: tuple[int, int] = (384, 512), seed: int = 0) -> dict:
    """A two-frame example with exact flow, deterministic from ``seed``.

    Args:
        size: ``(H, W)`` of the frames, each side at least 8.
        seed: picks the photos, the layers' shapes and the motions.

    Returns:
        A dict with ``image1`` and ``image2`` (``(H, W, 3)`` uint8 RGB), ``flow`` (``(H, W, 2)``
        float32, frame 1 -> frame 2, exact everywhere), ``valid`` (``(H, W)`` bool, all True),
        ``occluded`` (``(H, W)`` bool: pixels of frame 1 whose match leaves frame 2 or is hidden
        by another layer there; the flow is still exact on them) and ``id`` (str).
    """
    if len(size) != 2 or min(int(side) for side in size) < 8:
        raise ValueError(f"size must be (H, W) with both sides >= 8, got {size}")
    height, width = (int(side) for side in size)
    rng = np.random.default_rng(seed)
    names = list(rng.permutation(_BACKGROUNDS))
    names += [name for name in _PHOTOS if name not in names]
    small = min(height, width)
    margin = int(0.1 * small) + 4
    canvas = (height + 2 * margin, width + 2 * margin)
    centre = ((width - 1) / 2, (height - 1) / 2)
    layers = [(_texture(rng, names[0], canvas, 0.8), np.ones(canvas, np.float32), _affine(rng, centre, 0.012 * small, 1.0, 0.02))]
    kinds = ["ellipse", "polygon", "ellipse"][: int(rng.integers(2, 4))]
    for index, kind in enumerate(kinds):
        mask = _layer_mask(rng, kind, canvas, margin, (height, width))
        ys, xs = np.nonzero(mask)
        motion = _affine(rng, (xs.mean() - margin, ys.mean() - margin), 0.03 * small + 1, 4.0, 0.04)
        layers.append((_texture(rng, names[1 + index], canvas, 0.5), mask, motion))

    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    frame = (slice(margin, margin + height), slice(margin, margin + width))
    image1 = np.zeros((height, width, 3), np.float32)
    image2 = np.zeros((height, width, 3), np.float32)
    flow = np.zeros((height, width, 2), np.float32)
    top1 = np.zeros((height, width), np.int8)
    top2 = np.zeros((height, width), np.int8)
    for index, (texture, mask, motion) in enumerate(layers):
        inside = mask[frame] > 0.5
        image1[inside] = texture[frame][inside]
        top1[inside] = index
        flow[inside, 0] = (motion[0, 0] * grid_x + motion[0, 1] * grid_y + motion[0, 2] - grid_x)[inside]
        flow[inside, 1] = (motion[1, 0] * grid_x + motion[1, 1] * grid_y + motion[1, 2] - grid_y)[inside]
        inverse = np.linalg.inv(motion)
        map_x = (inverse[0, 0] * grid_x + inverse[0, 1] * grid_y + inverse[0, 2] + margin).astype(np.float32)
        map_y = (inverse[1, 0] * grid_x + inverse[1, 1] * grid_y + inverse[1, 2] + margin).astype(np.float32)
        moved = cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        alpha = cv2.remap(mask, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)[..., None]
        image2 = alpha * moved + (1.0 - alpha) * image2
        top2[alpha[..., 0] >= 0.5] = index

    target_x = np.rint(grid_x + flow[..., 0]).astype(np.int64)
    target_y = np.rint(grid_y + flow[..., 1]).astype(np.int64)
    in_frame = (target_x >= 0) & (target_x < width) & (target_y >= 0) & (target_y < height)
    hidden = np.ones((height, width), bool)
    hidden[in_frame] = top2[target_y[in_frame], target_x[in_frame]] != top1[in_frame]
    to_uint8 = lambda image: np.clip(np.rint(image), 0, 255).astype(np.uint8)  # noqa: E731
    return {
        "image1": to_uint8(image1),
        "image2": to_uint8(image2),
        "flow": flow,
        "valid": np.ones((height, width), bool),
        "occluded": hidden,
        "id": f"layers-{names[0]}-{len(kinds)}fg-seed{seed}-{height}x{width}",
    }
