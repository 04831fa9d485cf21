"""napari sample data: the synthetic moving figures, as an image and an annotation layer."""

from __future__ import annotations

from typing import Any

from ..synthetic import moving_figure
from .layerdata import points_layer_tuple

__all__ = ["connect_current_viewer", "make_sample_data"]


def connect_current_viewer() -> None:
    """Make keyskel layers added to the current viewer get a controller and an edges layer."""
    import napari

    from .controller import connect_viewer

    viewer = napari.current_viewer()
    if viewer is not None:
        connect_viewer(viewer)


def make_sample_data(n_frames: int = 100) -> list[tuple[Any, dict[str, Any], str]]:
    """Image layer of the video, plus the ground-truth keypoints (their edges layer follows)."""
    video, store = moving_figure(n_frames=n_frames)
    connect_current_viewer()
    labels = ("t", "y", "x")
    image_attrs = {"name": "moving figure", "axis_labels": labels, "metadata": {"keyskel_ground_truth": True}}
    return [
        (video, image_attrs, "image"),
        points_layer_tuple(store, 0, name="mouse keypoints", axis_labels=labels),
    ]
