"""Seeing a 3D skeleton on a 2D slice: nodes and edges on other slices, faded by distance.

A store with ``coord_ndim=3`` (nodes in (z, y, x): a volume, or (t, z, y, x) per time point)
shows, on a 2D slice, only the nodes on that slice. :func:`show_out_of_slice` uses napari's
public thick-slice display instead (napari >= 0.9 replaced ``out_of_slice_display`` by it):

- ``viewer.dims.margin_left`` / ``margin_right`` on the depth axes (the layer's axes that are
  neither displayed nor the frame axis) make the slice ``depth`` thick either side;
- the Points layer's ``projection_mode = "rescale_linear"`` draws a node at full size on its own
  slice, shrinking linearly to nothing at ``depth`` slices away;
- the edges layer's ``projection_mode = "fade"`` fades an edge's opacity with the distance of its
  first node from the slice.

Margins are the viewer's, so other layers with a projection mode that reads them (Points'
default ``"all"``) show their thick slice too; image layers (``"none"``) are not affected. In
napari's 3D view (``viewer.dims.ndisplay = 3``) nodes and edges are drawn in 3D already, and
napari's select-mode drag moves a node on the plane under the cursor; the layer's owner turns that
drag into a key like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import KeyskelError
from .registry import owner_of

if TYPE_CHECKING:
    from .owner import LayerOwner

__all__ = ["depth_axes", "hide_out_of_slice", "show_out_of_slice", "skeleton_depth"]


def _owner(layer: Any) -> LayerOwner:
    owner = owner_of(layer)
    if owner is None:
        raise KeyskelError(f"layer {getattr(layer, 'name', layer)!r} is not a live keyskel layer")
    if owner.store.coord_ndim < 3:
        raise KeyskelError(
            f"layer {owner.points.name!r} holds 2D nodes: there are no other slices to show "
            "(a 3D skeleton has coord_ndim=3)"
        )
    return owner


def depth_axes(layer: Any) -> list[int]:
    """World axes of the layer's coordinate axes that are not displayed (z on a 2D slice)."""
    owner = _owner(layer)
    dims, pts = owner.viewer.dims, owner.points
    fa = owner.store.frame_axis
    offset = dims.ndim - pts.ndim
    return [offset + a for a in range(pts.ndim) if a != fa and offset + a not in dims.displayed]


def skeleton_depth(layer: Any) -> float:
    """How many slices the layer's skeletons span along the depth axes (at least 1)."""
    owner = _owner(layer)
    s = owner.store
    fa = s.frame_axis
    pts = owner.points
    axes = [a for a in range(pts.ndim) if a != fa]  # layer axes -> store coordinate index
    offset = owner.viewer.dims.ndim - pts.ndim
    coord_idx = [axes.index(w - offset) for w in depth_axes(layer)]
    span = 1.0
    for t in s:
        c = t.coords[..., coord_idx]  # (L, K, n_depth)
        if np.isfinite(c).any():
            span = max(span, float(np.nanmax(np.nanmax(c, axis=1) - np.nanmin(c, axis=1))))
    return span


def show_out_of_slice(layer: Any, depth: float | None = None) -> float:
    """Show the layer's nodes and edges on the slices within ``depth`` of the current one, faded.

    ``depth`` is in slices (data units along the depth axes; default: the span of the skeletons,
    so a whole skeleton is visible from any of its slices). Returns the depth used.
    """
    owner = _owner(layer)
    axes = depth_axes(layer)
    if depth is None:
        depth = skeleton_depth(layer)
    if not depth > 0:
        raise KeyskelError(f"depth must be a positive number of slices, got {depth!r}")
    dims = owner.viewer.dims
    scale = np.asarray(owner.points.scale)
    offset = dims.ndim - owner.points.ndim
    left, right = list(dims.margin_left), list(dims.margin_right)
    for w in axes:
        left[w] = right[w] = float(depth) * abs(float(scale[w - offset]))
    owner.points.projection_mode = "rescale_linear"
    owner.edges.projection_mode = "fade"
    # right first: a slice that is thick on the left only would divide by zero in napari's scaling
    dims.margin_right = tuple(right)
    dims.margin_left = tuple(left)
    return float(depth)


def hide_out_of_slice(layer: Any) -> None:
    """Back to napari's thin slice: only the nodes on the current slice are shown."""
    owner = _owner(layer)
    dims = owner.viewer.dims
    left, right = list(dims.margin_left), list(dims.margin_right)
    for w in depth_axes(layer):
        left[w] = right[w] = 0.0
    dims.margin_left = tuple(left)  # left first, for the same reason
    dims.margin_right = tuple(right)
    owner.points.projection_mode = "all"  # napari's default for Points and Vectors
    owner.edges.projection_mode = "all"
