"""Visualisation of optical flow."""

from flowinpaint.viz.color import flow_to_color, make_colorwheel

__all__ = ["flow_to_color", "make_colorwheel"]
