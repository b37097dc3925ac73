"""Peer methods from other libraries, behind the same registry, for comparison.

* ``epic``: OpenCV's EdgeAwareInterpolator (EpicFlow), :mod:`.epic`;
* ``ric``: OpenCV's RICInterpolator (RicFlow), :mod:`.ric`;
* ``fbs``: OpenCV's fast bilateral solver with the mask as confidence, :mod:`.fbs`;
* ``griddata``: ``scipy.interpolate.griddata``, :mod:`.griddata`.

Each module documents the library's sharp edges it guards against, and its parameter choices.
"""

from . import epic, fbs, griddata, ric  # noqa: F401  (each registers its method)
