"""Which edit session belongs to which layer: create (attach), find and drop (detach).

Every Points layer with ``metadata["keyskel"]`` added to a connected viewer (by a reader, the
sample data, a script or the dock) gets one :class:`~.session.EditSession` and an edges layer.
The registry holds sessions *weakly*, keyed by the link token the Points and edges layers share
in their metadata: a session lives as long as its Points layer (whose key bindings hold it), so
removing the layer, or closing the viewer, frees its store, history, edges layer and bindings.
Removing the Points layer also removes its edges layer and disconnects the session.
"""

from __future__ import annotations

import uuid
import weakref
from typing import TYPE_CHECKING, Any

from ..core.plain import store_from_plain
from ..core.store import AnnotationStore
from ..errors import KeyskelError
from .layerdata import LINK_KEY, edges_layer_tuple
from .session import EditSession, notify_error

if TYPE_CHECKING:
    import napari
    from napari.layers import Points, Vectors

__all__ = [
    "add_points_layer",
    "attach",
    "connect_viewer",
    "detach",
    "expect_store",
    "is_keyskel_points",
    "session_for",
    "sessions",
]

_SESSIONS: weakref.WeakValueDictionary[str, EditSession] = weakref.WeakValueDictionary()
_VIEWERS: dict[int, weakref.ref[Any]] = {}
_PENDING: dict[str, AnnotationStore] = {}  # link token -> store object a script wants edited


def is_keyskel_points(layer: Any) -> bool:
    """True for a napari Points layer carrying a keyskel store in its metadata."""
    from napari.layers import Points

    return isinstance(layer, Points) and "keyskel" in (getattr(layer, "metadata", None) or {})


def session_for(layer: Any) -> EditSession | None:
    """The session of a keyskel Points layer or of its edges layer (plugin proxies too), if any."""
    meta = getattr(layer, "metadata", None) or {}
    session = _SESSIONS.get(str(meta.get(LINK_KEY) or ""))
    if session is None:
        return None
    # the same layer (its own metadata dict), not a copy that still carries the token
    if meta is session.points.metadata or meta is session.edges.metadata:
        return session
    return None


def sessions() -> list[EditSession]:
    """Every live session."""
    return list(_SESSIONS.values())


def expect_store(points_metadata: dict[str, Any], store: AnnotationStore) -> None:
    """Make the session of the layer created with this metadata edit ``store`` itself."""
    _PENDING[points_metadata[LINK_KEY]] = store


def attach(viewer: napari.Viewer, points: Points) -> EditSession:
    """The session of ``points`` in ``viewer``, created (with its edges layer) if needed."""
    session = session_for(points)
    if session is not None:
        return session
    if "keyskel" not in points.metadata:
        raise KeyskelError(f"layer {points.name!r} has no keyskel metadata")
    link = str(points.metadata.get(LINK_KEY) or "")
    if link and link in _SESSIONS:
        # a copy of a managed layer (its metadata shares the arrays): give it its own store
        link = uuid.uuid4().hex
        points.metadata[LINK_KEY] = link
        store = store_from_plain(points.metadata["keyskel"]).copy()
    else:
        pending = _PENDING.pop(link, None)
        # (not `or`: an empty store is falsy)
        store = store_from_plain(points.metadata["keyskel"]) if pending is None else pending
    if not link:
        link = uuid.uuid4().hex
        points.metadata[LINK_KEY] = link
    edges = _edges_layer(viewer, points, store, link)
    session = EditSession(viewer, points, store, edges)
    _SESSIONS[link] = session
    return session


def _edges_layer(viewer: napari.Viewer, points: Points, store: AnnotationStore, link: str) -> Vectors:
    from napari.layers import Vectors

    for layer in viewer.layers:
        if isinstance(layer, Vectors) and layer.metadata.get(LINK_KEY) == link:
            return layer
    data, attrs, _ = edges_layer_tuple(store, frame=-1, name=points.name, link=link)
    attrs.update(scale=points.scale, translate=points.translate, units=points.units)
    attrs.update(axis_labels=points.axis_labels)
    return viewer.add_vectors(data, **attrs)


def detach(session: EditSession, remove_edges: bool = True) -> None:
    """Disconnect a session, forget it and (by default) remove its edges layer from the viewer."""
    session.detach()
    if _SESSIONS.get(session.link) is session:
        del _SESSIONS[session.link]
    if remove_edges and session.edges in session.viewer.layers:
        session.viewer.layers.remove(session.edges)


def add_points_layer(viewer: napari.Viewer, layer_tuple: tuple[Any, dict[str, Any], str]) -> Points:
    """Add a keyskel Points ``LayerDataTuple`` to ``viewer`` with a session editing its store.

    The store object given to :func:`~napari_keyskel._napari.layerdata.points_layer_tuple` is the
    one edited (not a copy rebuilt from metadata) when registered with :func:`expect_store`.
    """
    data, attrs, _ = layer_tuple
    connect_viewer(viewer)
    points = viewer.add_points(data, **attrs)
    attach(viewer, points)
    return points


def connect_viewer(viewer: napari.Viewer) -> None:
    """Give every keyskel Points layer added to ``viewer`` (now or later) a session; idempotent."""
    ref = _VIEWERS.get(id(viewer))
    if ref is not None and ref() is viewer:
        return
    for key in [k for k, r in _VIEWERS.items() if r() is None]:  # closed viewers
        del _VIEWERS[key]
    _VIEWERS[id(viewer)] = weakref.ref(viewer)
    viewer.layers.events.inserted.connect(_on_inserted)
    viewer.layers.events.removed.connect(_on_removed)
    for layer in list(viewer.layers):
        if is_keyskel_points(layer) and session_for(layer) is None:
            attach(viewer, layer)


def _viewer_of(layers: Any) -> Any | None:
    for ref in list(_VIEWERS.values()):
        v = ref()
        if v is not None and v.layers is layers:
            return v
    return None


def _on_inserted(event: Any) -> None:
    layer = event.value
    if not is_keyskel_points(layer) or session_for(layer) is not None:
        return
    viewer = _viewer_of(event.source)
    if viewer is None:
        return
    try:
        attach(viewer, layer)
    except KeyskelError as exc:
        notify_error(f"keyskel: cannot manage layer {layer.name!r}: {exc}")


def _on_removed(event: Any) -> None:
    session = session_for(event.value)
    if session is not None and event.value is session.points:
        detach(session)
