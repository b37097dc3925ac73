"""The one registry of inpainting methods.

A method is a function ``run(problem, options)`` returning the ``(1, 2, H, W)`` dense flow (or a
:class:`Solution` when it also judges its known values or estimates a confidence) plus a frozen
dataclass of typed options. Modules register their method at import time;
:func:`flowinpaint.inpaint` looks it up by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from torch import Tensor

__all__ = [
    "DEFAULT_METHOD", "KEEP_CONFIDENCE", "Method", "Problem", "Solution", "build_options", "get_method", "method_names",
    "opencv_contrib_missing", "register", "trusted_known",
]

#: The method :func:`flowinpaint.inpaint` and the command line use when none is named.
DEFAULT_METHOD = "neuroaffine"
#: Known values the user trusts less than this are dropped (by every method).
KEEP_CONFIDENCE = 0.5


class Problem(NamedTuple):
    """One validated inpainting problem as torch tensors (CPU).

    Shape:
        flow: ``(1, 2, H, W)`` float32, pixels; the values at unknown pixels are 0.
        known: ``(1, 1, H, W)`` bool, True = known.
        image: ``(1, 3, H, W)`` float32 RGB in [0, 1], or None.
        confidence: ``(1, 1, H, W)`` float32 in [0, 1], the user's weight of each known value
            (0 at unknown pixels), or None (every known value trusted alike).
        wants_confidence: whether the caller asks for the output's confidence; a method that
            estimates one may skip it (and return None for it) otherwise.
    """

    flow: Tensor
    known: Tensor
    image: Tensor | None
    confidence: Tensor | None = None
    wants_confidence: bool = True


def trusted_known(problem: Problem) -> Tensor:
    """The ``(1, 1, H, W)`` bool known pixels whose confidence is at least :data:`KEEP_CONFIDENCE`
    (all known pixels when the problem has no confidence)."""
    if problem.confidence is None:
        return problem.known
    return problem.known & (problem.confidence >= KEEP_CONFIDENCE)


class Solution(NamedTuple):
    """What a method that judges its known values returns.

    Shape:
        flow: ``(1, 2, H, W)`` float32 dense flow, pixels.
        kept: ``(1, 1, H, W)`` bool, the known pixels the method held exactly; the others it
            found unreliable and filled like unknown ones.
        confidence: ``(1, 1, H, W)`` float32 in [0, 1], how much to trust each output pixel;
            None when the problem did not ask for it (``Problem.wants_confidence``).
    """

    flow: Tensor
    kept: Tensor
    confidence: Tensor | None


@dataclass(frozen=True)
class Method:
    """A registered method.

    Attributes:
        name: the registry key.
        summary: one line for ``flowinpaint methods``.
        options_type: a frozen dataclass whose fields are the method's options.
        run: ``run(problem, options)`` -> the ``(1, 2, H, W)`` dense flow, or a :class:`Solution`.
        needs_image: whether the reference image is required.
        judges_known: whether ``run`` weighs ``problem.confidence`` itself and returns a
            :class:`Solution`; for the other methods :func:`flowinpaint.inpaint` drops the known
            values whose confidence is below 0.5 and cannot return a confidence.
        unavailable: returns why the method cannot run here (a missing library feature, no
            shipped weights), or None when it can; ``evaluate --methods all`` leaves such
            methods out with that note.
        parameter_count: given the method's options, the trainable parameters it runs with (a
            GAN's generator only), or None for methods without a network.
        batched: whether ``run`` also takes a stack of problems of one size (``B > 1`` in every
            tensor) and returns their ``(B, 2, H, W)`` flows in one pass (the networks);
            :func:`flowinpaint.inpaint_batch` runs the other methods frame by frame.
    """

    name: str
    summary: str
    options_type: type
    run: Callable[[Problem, Any], Tensor | Solution]
    needs_image: bool
    judges_known: bool = False
    unavailable: Callable[[], str | None] = lambda: None
    parameter_count: Callable[[Any], int | None] = lambda options: None
    batched: bool = False


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to the registry (names are unique)."""
    if method.name in _REGISTRY:
        raise ValueError(f"method {method.name!r} is already registered")
    if not dataclasses.is_dataclass(method.options_type):
        raise TypeError(f"options of {method.name!r} must be a dataclass")
    if method.batched and method.judges_known:
        raise ValueError(f"method {method.name!r}: a batched method cannot judge its known values (one Solution per frame)")
    _REGISTRY[method.name] = method
    return method


def method_names() -> list[str]:
    """The registered names, sorted."""
    return sorted(_REGISTRY)


def opencv_contrib_missing() -> str | None:
    """Why the methods built on OpenCV's contrib modules (``cv2.ximgproc``) cannot run here, or None."""
    import cv2

    if hasattr(cv2, "ximgproc"):
        return None
    return "this OpenCV has no contrib modules (cv2.ximgproc): install opencv-contrib-python-headless"


def get_method(name: str) -> Method:
    """The method called ``name``; an unknown name is a ``ValueError`` listing the known ones."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(method_names())}")
    return _REGISTRY[name]


def build_options(method: Method, options: dict[str, Any]) -> Any:
    """The method's options dataclass built from keyword ``options`` (unknown keys rejected)."""
    allowed = [field.name for field in dataclasses.fields(method.options_type)]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"method {method.name!r} has no option(s) {', '.join(unknown)}; "
            f"its options are: {', '.join(allowed) or '(none)'}"
        )
    return method.options_type(**options)
