"""napari sample data: the synthetic moving figures, as an image and annotation layers."""

from __future__ import annotations

from typing import Any

from ..synthetic import moving_figure
from .layerdata import edges_layer_tuple, points_layer_tuple

__all__ = ["make_sample_data"]


def make_sample_data(n_frames: int = 100) -> list[tuple[Any, dict[str, Any], str]]:
    """Image layer of the video, plus the ground-truth keypoints and their edges."""
    video, store = moving_figure(n_frames=n_frames)
    return [
        (video, {"name": "moving figure", "metadata": {"keyskel_ground_truth": True}}, "image"),
        points_layer_tuple(store, None, name="mouse keypoints"),
        edges_layer_tuple(store, None, name="mouse keypoints"),
    ]
