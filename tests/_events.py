"""napari mouse events sent through napari's own layer callbacks (as its canvas sends them)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


def mouse(layer, kind, position, displayed=(1, 2), view_direction=None):
    """A mouse event through napari's own layer callbacks (as its canvas sends them)."""
    from napari.utils._proxies import ReadOnlyWrapper
    from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

    event = ReadOnlyWrapper(
        SimpleNamespace(
            type=kind,
            handled=False,
            is_dragging=kind == "mouse_move",
            modifiers=[],
            position=tuple(float(p) for p in position),
            pos=np.zeros(2),
            view_direction=None if view_direction is None else np.asarray(view_direction, float),
            up_direction=None if view_direction is None else np.array([0.0, 1.0, 0.0]),
            dims_displayed=list(displayed),
        ),
        exceptions=("handled",),
    )
    fn = {"mouse_press": mouse_press_callbacks, "mouse_move": mouse_move_callbacks}.get(
        kind, mouse_release_callbacks
    )
    fn(layer, event)


def click(layer, position):
    mouse(layer, "mouse_press", position)
    mouse(layer, "mouse_release", position)
