"""A pose model over an annotation layer in napari (no Qt): frames, mapping, proposals.

Used by :func:`napari_keyskel.api.predict` (synchronously) and the *Models* tab (in a
``thread_worker``). The work is split so that only :func:`run` touches the model and the
frames (safe in a worker thread: it reads the media and writes nothing), and
:func:`add_poses` changes the proposals on the GUI thread.

- :func:`media_data` finds the frames: the media layer the annotation layer is linked to
  (:attr:`.LayerOwner.media_layer`), else the image layer whose
  frame count is the annotations' (RGB or grey), else the first 3-D image layer. Its ``data`` is
  read one frame at a time (a ``MediaSource``, a dask or numpy array); a multiscale image gives
  its full resolution.
- :func:`mapping_for`: the keypoint mapping (explicit, else the one saved with the layer, else
  by names, else by order).
- :func:`add_poses` replaces the proposals on the frames that were run by the poses (one undo
  step of the proposals; bottom-up detections linked into tracks with fresh ids, top-down crops
  under their instance's id), and redraws the proposals layer.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..assist.models import (
    BoxSource,
    KeypointMapping,
    PoseModel,
    Poses,
    iter_predict,
    link_tracks,
    map_keypoints,
    poses_to_store,
    saved_mapping,
)
from ..errors import KeyskelError

if TYPE_CHECKING:
    from .owner import LayerOwner
    from .proposals_layer import ProposalsLayer

__all__ = ["add_poses", "layer_data", "mapping_for", "media_data", "proposals_layer", "run"]


def layer_data(layer: Any) -> Any:
    """An Image layer's frames (full resolution of a multiscale one), or ``layer`` if an array."""
    from napari.layers import Layer

    if not isinstance(layer, Layer):
        return layer
    data = layer.data
    if getattr(layer, "multiscale", False) and isinstance(data, (list, tuple)):
        data = data[0]
    return data


def media_data(owner: LayerOwner, image: Any = None) -> Any:
    """The frames the annotation layer annotates (see the module docstring)."""
    if image is not None:
        return layer_data(image)
    viewer = owner.viewer
    linked = owner.media_layer
    if linked is not None:
        return layer_data(linked)
    images = [ly for ly in viewer.layers if type(ly).__name__ == "Image"]
    n = owner.store.n_frames
    for ly in images:
        shape = layer_data(ly).shape
        nd = len(shape) - (1 if getattr(ly, "rgb", False) else 0)
        if nd == 3 and n is not None and shape[0] == n:
            return layer_data(ly)
    for ly in images:
        nd = len(layer_data(ly).shape) - (1 if getattr(ly, "rgb", False) else 0)
        if nd == 3:
            return layer_data(ly)
    raise KeyskelError(
        "no image layer to run the model on (open the video or image stack the points annotate)"
    )


def mapping_for(
    owner: LayerOwner, model: PoseModel, explicit: Mapping[Any, Any] | None = None
) -> KeypointMapping:
    """The keypoint mapping of ``model`` onto the layer's skeleton."""
    store = owner.store
    return map_keypoints(model.card.names, store.skeleton.nodes, explicit or saved_mapping(store.meta))


def proposals_layer(owner: LayerOwner, min_score: float = 0.0) -> ProposalsLayer:
    """The annotation layer's proposals layer (an empty one made if none)."""
    from .proposals_layer import ProposalsLayer

    return owner.proposals or ProposalsLayer(owner, min_score=min_score)


def run(
    owner: LayerOwner,
    model: PoseModel,
    frames: list[int],
    data: Any,
    detector: PoseModel | None = None,
) -> Generator[int, None, Poses]:
    """The prediction as a generator (yields frames done, returns the poses), checked now.

    It reads only ``data`` and a copy of the annotations made now (the boxes of a top-down
    model's instances), so it may run in a worker thread while the person edits.
    """
    store = owner.store
    if store.coord_ndim != 2 or store.frame_axis is None:
        raise KeyskelError("a model runs on 2-D annotations of a (t, y, x) video or stack")
    boxes = BoxSource(store.copy(), detector) if model.card.top_down else None
    return iter_predict(model, data, frames, boxes)


def add_poses(
    pl: ProposalsLayer, poses: Poses, frames: list[int], mapping: KeypointMapping, label: str = "model"
) -> tuple[int, int]:
    """Replace the proposals on ``frames`` by ``poses``; returns ``(instances, nodes)`` added."""
    s, ann = pl.store, pl.owner.store
    first = max([*ann.tracks, *s.tracks, 0]) + 1
    linked = link_tracks(poses, first)
    new = poses_to_store(linked, ann, mapping)
    want = np.asarray(frames, np.int64)
    with pl.history.edit(label):
        for t in list(s):
            rows = want[(want >= t.start) & (want < t.stop)] - t.start
            for r in rows[np.isfinite(t.coords[rows]).all(axis=-1).any(axis=1)].tolist():
                s.delete_points(t.start + r, t.track_id)
        for t in new:
            if t.track_id not in s.tracks:
                s.add_track(t.track_id, t.name, start=t.start)
            for r in np.flatnonzero(np.isfinite(t.coords).all(axis=-1).any(axis=1)).tolist():
                m = np.isfinite(t.coords[r]).all(axis=-1)
                s.set_points(
                    t.start + r, t.track_id, t.coords[r, m], np.flatnonzero(m), key=True, score=t.score[r, m]
                )
    pl.refresh()
    nodes = int(sum(np.isfinite(t.coords[..., 0]).sum() for t in new))
    return len(new.tracks), nodes
