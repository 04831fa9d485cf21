"""Which :class:`~.owner.LayerOwner` belongs to which layer: made with the layer, found from it.

Every Points layer with ``metadata["keyskel"]`` added to a connected viewer (by a reader, the
sample data, a script or the dock) gets one owner and an edges layer; removing the Points layer
(or closing the viewer) detaches the owner and removes its edges layer. One registry, keyed by the
Points layer object itself (weakly: it never keeps a removed layer alive; the owner holds its
layer and viewer weakly too), finds it: :func:`owner_of` takes the Points layer, its edges layer
or its names layer, or napari's plugin proxy of any of them. Connected viewers are kept weakly,
by the viewer object, only to hear their layers come and go.
"""

from __future__ import annotations

import uuid
import weakref
from typing import TYPE_CHECKING, Any

from ..core.plain import store_from_plain
from ..core.store import AnnotationStore
from ..errors import KeyskelError
from .layerdata import LINK_KEY, edges_layer_tuple
from .napari_private import unwrap_proxy
from .owner import LayerOwner, notify_error

if TYPE_CHECKING:
    import napari
    from napari.layers import Points, Vectors

__all__ = [
    "STORE_KEY",
    "add_points_layer",
    "attach",
    "connect_viewer",
    "detach",
    "is_keyskel_points",
    "notify_error",
    "owner_of",
    "owners",
]

#: Metadata key under which a layer about to be added carries the store object to edit (popped
#: when its owner is made: scripts edit their own store, not a copy rebuilt from plain data).
STORE_KEY = "keyskel_store_object"

_OWNERS: weakref.WeakKeyDictionary[Any, LayerOwner] = weakref.WeakKeyDictionary()


class _Watch:
    """Hears one viewer's layers come and go (the viewer held weakly)."""

    def __init__(self, viewer: napari.Viewer) -> None:
        self.viewer = weakref.ref(viewer)

    def on_inserted(self, event: Any) -> None:
        layer, viewer = event.value, self.viewer()
        if viewer is None or not is_keyskel_points(layer) or owner_of(layer) is not None:
            return
        try:
            attach(viewer, layer)
        except KeyskelError as exc:
            notify_error(f"keyskel: cannot manage layer {layer.name!r}: {exc}")

    def on_removed(self, event: Any) -> None:
        owner = _OWNERS.get(event.value) if _hashable(event.value) else None
        if owner is not None:
            detach(owner)


_WATCHED: weakref.WeakKeyDictionary[Any, _Watch] = weakref.WeakKeyDictionary()


def _hashable(obj: Any) -> bool:
    try:
        hash(obj)
        weakref.ref(obj)
    except TypeError:
        return False
    return True


def is_keyskel_points(layer: Any) -> bool:
    """True for a napari Points layer carrying a keyskel store in its metadata."""
    from napari.layers import Points

    layer = unwrap_proxy(layer)
    return isinstance(layer, Points) and "keyskel" in (getattr(layer, "metadata", None) or {})


def owner_of(layer: Any) -> LayerOwner | None:
    """The owner of a keyskel Points layer, or of its edges or names layer (proxies too), if any."""
    layer = unwrap_proxy(layer)
    if layer is None or not _hashable(layer):
        return None
    owner = _OWNERS.get(layer)
    if owner is not None:
        return owner
    for o in list(_OWNERS.values()):
        if layer is o.edges or layer is o.names.layer:
            return o
    return None


def owners(viewer: Any = None) -> list[LayerOwner]:
    """Every live owner (of ``viewer``'s layers, in layer order, when given)."""
    if viewer is None:
        return [o for o in list(_OWNERS.values()) if o.alive]
    viewer = unwrap_proxy(viewer)
    out = []
    for layer in viewer.layers:
        owner = _OWNERS.get(layer) if _hashable(layer) else None
        if owner is not None:
            out.append(owner)
    return out


def attach(viewer: napari.Viewer, points: Points) -> LayerOwner:
    """The owner of ``points`` in ``viewer``, made (with its edges layer) if needed."""
    viewer, points = unwrap_proxy(viewer), unwrap_proxy(points)
    owner = _OWNERS.get(points)
    if owner is not None:
        return owner
    if "keyskel" not in points.metadata:
        raise KeyskelError(f"layer {points.name!r} has no keyskel metadata")
    given: AnnotationStore | None = points.metadata.pop(STORE_KEY, None)
    link = str(points.metadata.get(LINK_KEY) or "")
    copied = bool(link) and any(o.alive and o.link == link for o in list(_OWNERS.values()))
    if given is not None:
        store = given
    elif copied:  # a copy of a managed layer (its metadata shares the arrays): its own store
        store = store_from_plain(points.metadata["keyskel"]).copy()
    else:
        store = store_from_plain(points.metadata["keyskel"])
    if not link or copied:
        link = uuid.uuid4().hex
        points.metadata[LINK_KEY] = link
    edges = _edges_layer(viewer, points, store, link)
    ref = weakref.ref(viewer)
    owner = LayerOwner(viewer, points, store, edges, peers=lambda: owners(ref()) if ref() is not None else [])
    _OWNERS[points] = owner
    return owner


def _edges_layer(viewer: napari.Viewer, points: Points, store: AnnotationStore, link: str) -> Vectors:
    from napari.layers import Vectors

    for layer in viewer.layers:
        if isinstance(layer, Vectors) and layer.metadata.get(LINK_KEY) == link:
            return layer
    data, attrs, _ = edges_layer_tuple(store, frame=-1, name=points.name, link=link)
    attrs.update(scale=points.scale, translate=points.translate, units=points.units)
    attrs.update(axis_labels=points.axis_labels)
    return viewer.add_vectors(data, **attrs)


def detach(owner: LayerOwner, remove_edges: bool = True) -> None:
    """Disconnect an owner, forget it and (by default) remove its edges layer from the viewer."""
    points, viewer = owner._points(), owner._viewer()
    owner.detach()
    if points is not None and _OWNERS.get(points) is owner:
        del _OWNERS[points]
    if remove_edges and viewer is not None and owner.edges in viewer.layers:
        viewer.layers.remove(owner.edges)


def add_points_layer(
    viewer: napari.Viewer, layer_tuple: tuple[Any, dict[str, Any], str], store: AnnotationStore | None = None
) -> Points:
    """Add a keyskel Points ``LayerDataTuple`` to ``viewer``; its owner edits ``store`` if given.

    Without ``store`` the owner edits a store rebuilt from the layer's metadata (sharing its arrays).
    """
    data, attrs, _ = layer_tuple
    viewer = unwrap_proxy(viewer)
    connect_viewer(viewer)
    if store is not None:
        attrs = {**attrs, "metadata": {**attrs["metadata"], STORE_KEY: store}}
    points = viewer.add_points(data, **attrs)
    attach(viewer, points)
    return points


def connect_viewer(viewer: napari.Viewer) -> None:
    """Give every keyskel Points layer added to ``viewer`` (now or later) an owner; idempotent."""
    viewer = unwrap_proxy(viewer)
    if viewer in _WATCHED:
        return
    watch = _WATCHED[viewer] = _Watch(viewer)
    viewer.layers.events.inserted.connect(watch.on_inserted)
    viewer.layers.events.removed.connect(watch.on_removed)
    for layer in list(viewer.layers):
        if is_keyskel_points(layer) and owner_of(layer) is None:
            attach(viewer, layer)
