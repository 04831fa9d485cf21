"""Adding a live annotation layer for a store: shaped like its image, with the image's frame table.

:func:`add_store_layer` is what :func:`napari_keyskel.api.add_skeleton_layer`,
:func:`~napari_keyskel.api.open_annotations`, the dock's *Create* and the multi-view session use:
the Points layer shares the image's scale, translate, units and axis labels, and its owner
edits the store object given (not a copy).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..core.skeleton import Skeleton
from ..core.store import AnnotationStore
from .layerdata import points_layer_tuple
from .registry import add_points_layer

if TYPE_CHECKING:
    import napari
    from napari.layers import Layer, Points

__all__ = ["add_store_layer", "empty_store", "image_frame_table"]


def empty_store(skeleton: Skeleton, viewer: napari.Viewer, image_layer: Layer | None) -> AnnotationStore:
    """An empty store shaped like the image (or the viewer): frame axis 0 unless 2-D."""
    if image_layer is not None:
        shape = tuple(image_layer.data.shape)
        ndim = image_layer.ndim
        shape = shape[:ndim]
    else:
        ndim = max(viewer.dims.ndim, 2)
        shape = tuple(viewer.dims.nsteps)[-ndim:]
    if ndim == 2:
        return AnnotationStore(skeleton, coord_ndim=2, frame_axis=None, name=skeleton.name)
    return AnnotationStore(
        skeleton, coord_ndim=ndim - 1, frame_axis=0, n_frames=max(int(shape[0]), 1), name=skeleton.name
    )


def image_frame_table(store: AnnotationStore, image_layer: Layer) -> AnnotationSet | None:
    """A frame table for annotations made over ``image_layer``: its name, size and kind.

    Files written from the layer then carry the image's width and height, every frame of the
    image (not only the annotated ones) and, for a DICOM volume, a V7 ``dicom`` slot. Over a
    media layer (a video or an image set) it is the media's own table: the video's frame numbers,
    each image's name and size.
    """
    media = image_layer.metadata.get("keyskel_media")
    if media and store.frame_axis is not None and store.coord_ndim == 2:
        return media_frame_table(media)
    shape = tuple(image_layer.data.shape)
    if getattr(image_layer, "rgb", False):
        shape = shape[:-1]
    if store.coord_ndim == 3 and len(shape) >= 3:  # a volume (z, y, x), or one per time point
        from ..formats._volume import volume_frame_table

        item = Path(str(getattr(image_layer.source, "path", None) or image_layer.name)).name
        return AnnotationSet(frames=volume_frame_table(store, shape, item))
    if len(shape) < 2 or store.frame_axis is None or store.coord_ndim != 2:
        return None
    n_frames = store.n_frames or (shape[store.frame_axis] if len(shape) > 2 else 1)
    stack = image_layer.metadata.get("keyskel_stack") or {}
    kind = "dicom" if stack.get("format") in ("dicom", "nifti") else ("video" if n_frames > 1 else "image")
    item = Path(str(getattr(image_layer.source, "path", None) or image_layer.name)).name
    frames = [
        {
            "item": item,
            "frame": f,
            "slot": "0",
            "slot_type": kind,
            "width": int(shape[-1]),
            "height": int(shape[-2]),
        }
        for f in range(n_frames)
    ]
    return AnnotationSet(frames=frames)


def media_frame_table(media: dict[str, Any]) -> AnnotationSet:
    """The frame table of a media layer: the video's own frame numbers, each image's name and size."""
    from ..media import frames_table

    kind = "video" if media.get("kind") == "video" else "image"
    return AnnotationSet(frames=[{**fr, "slot": "0", "slot_type": kind} for fr in frames_table(media)])


def add_store_layer(
    viewer: napari.Viewer,
    store: AnnotationStore,
    name: str | None = None,
    image_layer: Layer | None = None,
    dataset: AnnotationSet | None = None,
) -> Points:
    """Add a live Points layer (and its edges layer) editing ``store`` itself.

    With ``image_layer`` the layer shares the image's scale, translate, units and axis labels,
    and (without ``dataset``) gets the image's frame table (:func:`image_frame_table`).
    """
    first = 0 if store.frame_axis is None else store.frame_range()[0]
    if dataset is None and image_layer is not None:
        dataset = image_frame_table(store, image_layer)
    # the layer's name is only its label: the class name written to files is the store's
    layer_tuple = points_layer_tuple(store, first, name or store.name, dataset=dataset)
    if image_layer is not None:
        nd = store.layer_ndim
        layer_tuple[1]["scale"] = np.asarray(image_layer.scale)[-nd:]
        layer_tuple[1]["translate"] = np.asarray(image_layer.translate)[-nd:]
        layer_tuple[1]["units"] = tuple(image_layer.units)[-nd:]
        layer_tuple[1]["axis_labels"] = tuple(image_layer.axis_labels)[-nd:]
    points = add_points_layer(viewer, layer_tuple, store)
    from .media_link import is_media_layer, link

    if image_layer is not None and is_media_layer(image_layer):
        link(viewer, points, image_layer)  # the media directly below; files name the video's frames
    return points
