"""One synthetic two-frame example with an exact ground truth, for demos and quick checks.

It is the sample ``0`` of the ``"test"`` split of ``SyntheticFlow`` with the given seed: a textured
background and several foreground objects, each moving with its own motion (see
``flowinpaint.data.synthetic``).
"""

from __future__ import annotations

from .synthetic import SyntheticFlow

__all__ = ["make_example"]


def make_example(size: tuple[int, int] = (384, 512), seed: int = 0) -> dict:
    """A two-frame example with exact flow, deterministic from ``seed``.

    Args:
        size: ``(H, W)`` of the frames, both at least 32.
        seed: a non-negative integer; picks the textures, the layers' shapes and the motions.

    Returns:
        A dict with ``image1`` and ``image2`` (uint8 RGB), ``flow`` (float32 px, frame 1 -> frame 2,
        exact everywhere), ``valid`` (bool, all True), ``occlusion`` (bool: pixels of frame 1 whose
        match leaves frame 2 or is hidden by another layer there; the flow is still exact on them)
        and ``id`` (str).

    Shape:
        images ``(H, W, 3)``, flow ``(H, W, 2)`` as (u along x, v along y, down), masks ``(H, W)``.

    Raises:
        ValueError: ``size`` not two integers >= 32, or ``seed`` not an integer >= 0.
    """
    return SyntheticFlow("test", size, length=1, seed=seed)[0]
