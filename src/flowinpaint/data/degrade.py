"""What real frames have and clean synthetic renders lack: motion blur, defocus, haze, noise,
compression, exposure changes, applied to a training image (its flow stays the truth).

:func:`degrade` draws each effect with its own probability and strength:

- **motion blur** along the frame's own flow: the mean of the image sampled at ``x - t f(x)``
  for ``t`` evenly spread over an exposure of up to ``MAX_EXPOSURE`` of the frame interval (as a
  camera integrates a moving scene; Sintel's final pass);
- **defocus**: a Gaussian blur of up to ``MAX_DEFOCUS`` pixels (sigma);
- **haze**: a blend towards a light grey of up to ``MAX_HAZE`` (contrast falls with distance);
- **exposure**: a gain and a gamma (under- and over-exposed frames);
- **sensor noise**: Gaussian, up to ``MAX_NOISE`` of the range, after the above;
- **compression**: JPEG at a quality of ``JPEG_QUALITY`` (block edges, lost texture), last.

:func:`degrade_pair` degrades both frames of a pair as one camera would in a video: the same
effects at the same strengths in both (where :func:`degrade` called per frame draws each apart,
so that the exposure may jump between the two).

Shape: images ``(H, W, 3)`` uint8 RGB, flows ``(H, W, 2)`` float32 pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["EFFECTS", "degrade", "degrade_pair"]

MAX_EXPOSURE = 0.6  # of the frame interval
BLUR_SAMPLES = 9  # image samples along the motion per pixel
MAX_DEFOCUS = 2.0  # pixels, Gaussian sigma
MAX_HAZE = 0.4
HAZE_COLOUR = np.array([205, 210, 215], np.float32)
GAIN_RANGE, GAMMA_RANGE = (0.6, 1.4), (0.7, 1.4)
MAX_NOISE = 0.03  # of 255
JPEG_QUALITY = (30, 95)
EFFECTS = {"motion_blur": 0.5, "defocus": 0.3, "haze": 0.2, "exposure": 0.5, "noise": 0.5, "jpeg": 0.5}  # probabilities


def _motion_blur(image: np.ndarray, flow: np.ndarray, exposure: float) -> np.ndarray:
    """The mean of ``image`` sampled back along ``exposure`` times the flow (float32, 0..255)."""
    height, width = image.shape[:2]
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    total = np.zeros(image.shape, np.float32)
    source = image.astype(np.float32)
    for t in np.linspace(-exposure / 2, exposure / 2, BLUR_SAMPLES, dtype=np.float32):
        total += cv2.remap(source, columns - t * flow[..., 0], rows - t * flow[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    return total / BLUR_SAMPLES


def degrade(image: np.ndarray, flow: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A degraded copy of ``image`` (see the module's text); each effect with its probability in :data:`EFFECTS`.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        flow: ``(H, W, 2)`` float32, the frame's flow (the direction and length of its motion blur).
        rng: the source of every draw (the result is a pure function of its state).

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.dtype} {image.shape}")
    if flow.shape != (*image.shape[:2], 2):
        raise ValueError(f"flow must be (H, W, 2) like the image, got {flow.shape}")
    draws = {name: rng.random() < probability for name, probability in EFFECTS.items()}
    result = image.astype(np.float32)
    if draws["motion_blur"]:
        result = _motion_blur(image, flow.astype(np.float32), float(rng.uniform(0.1, MAX_EXPOSURE)))
    if draws["defocus"]:
        result = cv2.GaussianBlur(result, (0, 0), float(rng.uniform(0.5, MAX_DEFOCUS)))
    if draws["haze"]:
        amount = float(rng.uniform(0.05, MAX_HAZE))
        result = (1 - amount) * result + amount * HAZE_COLOUR
    if draws["exposure"]:
        gain, gamma = float(rng.uniform(*GAIN_RANGE)), float(rng.uniform(*GAMMA_RANGE))
        result = 255 * np.clip(result * (gain / 255), 0, 1) ** gamma
    if draws["noise"]:
        result = result + rng.normal(0, 255 * rng.uniform(0.003, MAX_NOISE), result.shape).astype(np.float32)
    result = np.clip(np.rint(result), 0, 255).astype(np.uint8)
    if draws["jpeg"]:
        quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(result, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            result = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return result


def degrade_pair(image1: np.ndarray, image2: np.ndarray, flow: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Both frames degraded by the same draws of :func:`degrade` (effects, strengths and the noise
    pattern): consecutive frames of one camera, whose settings do not jump between them.

    Args:
        image1, image2: ``(H, W, 3)`` uint8 RGB, the pair's frames.
        flow: ``(H, W, 2)`` float32, frame 1's flow (both frames' motion blur follows it).
        rng: one draw from it seeds both frames' effects.

    Returns:
        The two degraded frames, ``(H, W, 3)`` uint8 RGB each.
    """
    seed = int(rng.integers(2**63))
    return degrade(image1, flow, np.random.default_rng(seed)), degrade(image2, flow, np.random.default_rng(seed))
