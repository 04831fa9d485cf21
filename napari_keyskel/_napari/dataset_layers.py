"""The layers of a dataset item in the viewer: reused from item to item, linked to their media.

Switching items, napari removing and adding layers costs far more than giving layers new data
(a removal runs a full garbage collection). :func:`rebind` shows another store in a kept
annotation layer under a new owner (its own undo history, save state, review, names: nothing
of the item left), its edges layer kept too; :func:`remove_layers` removes the layers that do not
fit in one batch (one collection). :func:`link_to_media` and :func:`media_below` keep the media
below its annotations, at the same scale, axes and units (a volume's voxel size). No Qt.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..core.store import AnnotationStore

if TYPE_CHECKING:
    import napari

__all__ = ["free_names", "link_to_media", "media_below", "rebind", "remove_layers"]


def rebind(viewer: napari.Viewer, points: Any, store: AnnotationStore, ann: AnnotationSet) -> Any:
    """Show ``store`` (frame table of ``ann``) in the kept Points layer ``points`` with a new owner."""
    from .layerdata import LINK_KEY, plain_metadata
    from .registry import STORE_KEY, attach, detach, owner_of

    old = owner_of(points)
    link = str(points.metadata.get(LINK_KEY) or "")
    points.name = store.name  # (while the old owner is there: its edges layer is renamed too)
    if old is not None:
        detach(old, remove_edges=False)  # its edges layer is found again by the link
    meta = plain_metadata(store, dataset=ann, link=link or None)
    meta[STORE_KEY] = store
    points.metadata = meta
    attach(viewer, points)
    return points


def free_names(layers: list[Any], names: list[str]) -> None:
    """Rename kept layers out of the way when one is to take the name another holds.

    Else napari would add `` [1]`` to the name (two classes swapping places, say).
    """
    held = {ly.name for ly in layers}
    if any(ly.name != n and n in held for ly, n in zip(layers, names, strict=True)):
        for i, ly in enumerate(layers):
            ly.name = f"{ly.name} (item left, {i})"


def remove_layers(viewer: napari.Viewer, layers: Iterable[Any]) -> None:
    """Remove layers in one batch (napari then collects garbage once, not per layer)."""
    gone = {id(ly): ly for ly in layers if ly is not None and ly in viewer.layers}
    if not gone:
        return
    events = viewer.layers.events
    events.begin_batch()
    try:
        for layer in gone.values():
            if layer in viewer.layers:  # (removing an annotation layer takes its edges)
                viewer.layers.remove(layer)
    finally:
        events.end_batch()


def media_below(viewer: napari.Viewer, media: Iterable[Any], points: list[Any]) -> None:
    """Each media layer below every annotation layer (linking puts it below the last linked)."""
    layers = viewer.layers
    shown = [ly for ly in points if ly in layers]
    if not shown:
        return
    for layer in media:
        if layer is None or layer not in layers:
            continue
        lowest = min(layers.index(p) for p in shown)
        i = layers.index(layer)
        if i > lowest:
            layers.move(i, lowest)


def link_to_media(viewer: napari.Viewer, points: Any, media: Any) -> None:
    """Link ``points`` to ``media`` (:func:`.media_link.link`), units and its edges layer included."""
    from .media_link import link
    from .registry import owner_of

    link(viewer, points, media)
    units = tuple(media.units)[-points.ndim :]  # (a volume's: micrometres, say)
    if tuple(points.units) != units:
        points.units = units
    owner = owner_of(points)
    if owner is not None:  # its edges layer sits where the points do
        edges = owner.edges
        for attr in ("scale", "translate", "units"):
            if not np.array_equal(np.asarray(getattr(edges, attr)), np.asarray(getattr(points, attr))):
                setattr(edges, attr, getattr(points, attr))
