"""Building a dataset by name (for configuration files and the command line)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from torch.utils.data import Dataset

from ._base import FlowSample, PathLike
from .flyingchairs import FlyingChairs
from .flyingthings import FlyingThings3D
from .kitti import KITTI2012, KITTI2015
from .middlebury import Middlebury
from .sintel import Sintel

__all__ = ["DATASETS", "load_dataset"]

#: The dataset classes by registry name; each is called as ``cls(root, **kwargs)``.
DATASETS: Mapping[str, Callable[..., Dataset[FlowSample]]] = MappingProxyType(
    {
        "flyingchairs": FlyingChairs,
        "flyingthings": FlyingThings3D,
        "sintel": Sintel,
        "kitti": KITTI2015,
        "kitti2012": KITTI2012,
        "middlebury": Middlebury,
    }
)
#: Datasets generated on the fly: built as ``cls(**kwargs)``, without a root folder.
GENERATED = ("synthetic",)


def load_dataset(name: str, root: PathLike | None = None, **kwargs: Any) -> Dataset[FlowSample]:
    """Build the dataset registered as ``name`` (case-insensitive) from ``root``.

    Args:
        name: ``"synthetic"`` (:class:`flowinpaint.data.SyntheticFlow`, generated, no root) or one
            of :data:`DATASETS` (``"flyingchairs"``, ``"flyingthings"``, ``"sintel"``, ``"kitti"``
            (2015), ``"kitti2012"``, ``"middlebury"``).
        root: the dataset's folder (see each class for its expected layout); ignored for
            ``"synthetic"``.
        **kwargs: the class's other arguments, e.g. ``split="val"``, ``pass_name="final"``
            (Sintel, FlyingThings3D) or ``flow_type="noc"`` (KITTI).

    Raises:
        ValueError: unknown ``name`` (the message lists the known ones), or no ``root``.
        FileNotFoundError: as the dataset class, when ``root`` lacks its files.
    """
    key = name.lower() if isinstance(name, str) else name
    if key in GENERATED:
        from ..synthetic import SyntheticFlow  # the generator imports nothing from here

        return SyntheticFlow(**kwargs)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join((*GENERATED, *DATASETS))}")
    if root is None:
        raise ValueError(f"dataset {name!r} needs a root folder")
    return DATASETS[key](root, **kwargs)
