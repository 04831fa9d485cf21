"""napari sample data *Moving figure*: a synthetic video and its annotations, keyed every 10th frame.

The annotation layer holds keys on frames 0, 10, 20, ... (and the last) with the frames between
interpolated, so the first screen shows what keyframe annotation does; the ground truth poses
``(T, I, K, 2)`` stay in the image layer's ``metadata["keyskel_ground_truth"]`` for comparison.
"""

from __future__ import annotations

from typing import Any

from ..samples.synthetic import figure_poses, moving_figure
from .layerdata import points_layer_tuple

__all__ = [
    "KEY_STEP",
    "SAMPLE_SHAPE",
    "connect_current_viewer",
    "make_sample_data",
    "make_unannotated_sample",
]

#: The sample is keyed every ``KEY_STEP`` frames.
KEY_STEP = 10
#: Frame size (H, W) of the sample video.
SAMPLE_SHAPE = (256, 256)
#: Body length and spread of the sample's mice (fractions of the frame). Node names, when shown,
#: are placed beside the points so that they never overlap (:mod:`.names`).
_BODY, _SPREAD = 0.3, 0.17


def connect_current_viewer() -> None:
    """Make keyskel layers added to the current viewer get an owner (and an edges layer).

    What the window adds (Ctrl-S, the close prompt, autosave) comes with napari's entry points in
    :mod:`napari_keyskel._qt.entry`, which call this.
    """
    import napari

    from .registry import connect_viewer

    viewer = napari.current_viewer()
    if viewer is not None:
        connect_viewer(viewer)


def _sample_layers(
    video: Any, store: Any, n_animals: int, n_frames: int
) -> list[tuple[Any, dict[str, Any], str]]:
    """The video (its animals' ground-truth poses in its metadata) and the layer of ``store``."""
    truth = figure_poses(n_frames, SAMPLE_SHAPE, n_animals, body=_BODY, spread=_SPREAD)
    connect_current_viewer()
    labels = ("t", "y", "x")
    meta = {"keyskel_ground_truth": truth}
    image_attrs = {"name": "moving figure", "axis_labels": labels, "metadata": meta}
    return [
        (video, image_attrs, "image"),
        points_layer_tuple(store, 0, name="mouse keypoints", axis_labels=labels),
    ]


def make_sample_data(n_frames: int = 100) -> list[tuple[Any, dict[str, Any], str]]:
    """Image layer of the video (ground truth in its metadata), plus the keyed annotations."""
    video, store = moving_figure(
        n_frames=n_frames, shape=SAMPLE_SHAPE, key_step=KEY_STEP, body=_BODY, spread=_SPREAD
    )
    return _sample_layers(video, store, len(store), n_frames)


def make_unannotated_sample(n_frames: int = 100) -> list[tuple[Any, dict[str, Any], str]]:
    """The same video with an empty mouse annotation layer, to try the annotation loop on."""
    from ..core.presets import mouse_topview
    from ..core.store import AnnotationStore

    video, keyed = moving_figure(n_frames=n_frames, shape=SAMPLE_SHAPE, body=_BODY, spread=_SPREAD)
    store = AnnotationStore(mouse_topview(), coord_ndim=2, frame_axis=0, n_frames=n_frames, name="mouse")
    return _sample_layers(video, store, len(keyed), n_frames)
