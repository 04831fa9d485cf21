"""The live link between an annotation store and its napari layers.

A :class:`LayerController` binds ``(viewer, points layer, edges layer, store)``. The store holds
every frame; the Points layer holds only the points of the frame in view (every frame when the
frame axis is displayed, e.g. a z-stack shown in 3D). On a frame step the controller swaps in that
frame's points, features, style and edges; on ``points.events.data`` (napari's drag, add, delete
or a script setting ``layer.data``) it writes the touched rows to the store through
:mod:`napari_keyskel.keyframes` (a moved node becomes a key and its span re-interpolates), then
updates only the touched rows and redraws the edges of the view (tens of vectors).

Controllers are found by layer with :func:`controller_for`; :func:`connect_viewer` makes every
Points layer with ``metadata["keyskel"]`` added to a viewer (by a reader, the sample data or a
script) get one, with an edges layer.
"""

from __future__ import annotations

import contextlib
import uuid
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from ..errors import KeyskelError
from ..plain import store_from_plain
from ..store import UNLABELLED, VISIBLE, AnnotationStore, Change, FramePoints
from . import edits
from .layerdata import (
    LINK_KEY,
    edge_rows,
    edges_layer_tuple,
    features_table,
    frame_points_to_layer,
    point_style,
    points_in_frames,
    range_anchors,
    sync_plain,
)

if TYPE_CHECKING:
    import napari
    from napari.layers import Points, Vectors

__all__ = [
    "LayerController",
    "add_points_layer",
    "attach",
    "connect_viewer",
    "controller_for",
    "controllers",
    "expect_store",
    "notify_error",
]

_REGISTRY: dict[int, LayerController] = {}
_VIEWERS: dict[int, weakref.ref] = {}
_PENDING: dict[str, AnnotationStore] = {}  # link token -> store object a script wants edited


def notify_error(message: str) -> None:
    """Show an error notification in napari (logged when no viewer shows it)."""
    from napari.utils.notifications import show_error

    show_error(message)


def controller_for(layer: Any) -> LayerController | None:
    """The controller of a keyskel Points layer or of its edges layer, if it has one.

    Plugin widgets are handed napari's ``PublicOnlyProxy`` objects: look up the wrapped layer.
    """
    return _REGISTRY.get(id(getattr(layer, "__wrapped__", layer)))


def controllers() -> list[LayerController]:
    """Every live controller (each once)."""
    return list({id(c): c for c in _REGISTRY.values()}.values())


def attach(viewer: napari.Viewer, points: Points) -> LayerController:
    """The controller of ``points`` in ``viewer``, created (with its edges layer) if needed."""
    ctrl = controller_for(points)
    if ctrl is not None:
        return ctrl
    if "keyskel" not in points.metadata:
        raise KeyskelError(f"layer {points.name!r} has no keyskel metadata")
    link = points.metadata.get(LINK_KEY) or ""
    if link and any(c.points.metadata.get(LINK_KEY) == link for c in controllers()):
        # a copy of a managed layer (its metadata shares the arrays): give it its own store
        points.metadata[LINK_KEY] = uuid.uuid4().hex
        store = store_from_plain(points.metadata["keyskel"]).copy()
    else:
        store = _PENDING.pop(link, None)
        if store is None:  # (not `or`: an empty store is falsy)
            store = store_from_plain(points.metadata["keyskel"])
    ctrl = LayerController(viewer, points, store)
    from .bindings import install  # key bindings and undo on every keyskel layer, dock or not

    install(ctrl)
    return ctrl


def add_points_layer(viewer: napari.Viewer, layer_tuple: tuple[Any, dict[str, Any], str]) -> Points:
    """Add a keyskel Points ``LayerDataTuple`` to ``viewer`` with a controller editing its store.

    The store object given to :func:`~napari_keyskel._napari.layerdata.points_layer_tuple` is the
    one edited (not a copy rebuilt from metadata) when registered with :func:`expect_store`.
    """
    data, attrs, _ = layer_tuple
    connect_viewer(viewer)
    points = viewer.add_points(data, **attrs)
    attach(viewer, points)
    return points


def expect_store(points_metadata: dict[str, Any], store: AnnotationStore) -> None:
    """Make the controller of the layer created with this metadata edit ``store`` itself."""
    _PENDING[points_metadata[LINK_KEY]] = store


def connect_viewer(viewer: napari.Viewer) -> None:
    """Give every keyskel Points layer added to ``viewer`` (now or later) a controller; idempotent."""
    ref = _VIEWERS.get(id(viewer))
    if ref is not None and ref() is viewer:
        return
    _VIEWERS[id(viewer)] = weakref.ref(viewer)

    def _on_inserted(event: Any) -> None:
        layer = event.value
        if _is_keyskel_points(layer) and controller_for(layer) is None:
            try:
                attach(viewer, layer)
            except KeyskelError as exc:
                notify_error(f"keyskel: cannot manage layer {layer.name!r}: {exc}")

    def _on_removed(event: Any) -> None:
        ctrl = controller_for(event.value)
        if ctrl is not None and event.value is ctrl.points:
            ctrl.detach()

    viewer.layers.events.inserted.connect(_on_inserted)
    viewer.layers.events.removed.connect(_on_removed)
    for layer in list(viewer.layers):
        if _is_keyskel_points(layer) and controller_for(layer) is None:
            attach(viewer, layer)


def _is_keyskel_points(layer: Any) -> bool:
    return type(layer).__name__ == "Points" and "keyskel" in getattr(layer, "metadata", {})


class LayerController:
    """Keeps a Points layer, its edges Vectors layer and an annotation store in step.

    Parameters
    ----------
    viewer
        The viewer showing the layers (its dims give the frame in view).
    points
        The Points layer (already in the viewer); its metadata receives the store as plain data.
    store
        The annotation store; every edit goes to it.
    edges
        The Vectors layer for the edges; found by link token or created when omitted.

    Attributes
    ----------
    current_instance
        Track id that newly added points join (None: a new instance on the next add).
    next_node
        Node index the next added point gets (None: the first unlabelled node of the instance).
    changed
        Signal emitted with the list of :class:`~napari_keyskel.store.Change` after every edit.
    frame_changed
        Signal emitted with the frame in view (None: all frames) after the view is swapped.

    """

    changed = Signal(object)
    frame_changed = Signal(object)

    def __init__(
        self, viewer: napari.Viewer, points: Points, store: AnnotationStore, edges: Vectors | None = None
    ) -> None:
        self.viewer, self.points, self.store = viewer, points, store
        plain = points.metadata.get("keyskel") or {}
        state = dict(plain.get("state") or {})
        self.color_by: str = state.get("color_by", "node")
        if "bridge_unlabelled" in state:
            store.bridge_unlabelled = bool(state["bridge_unlabelled"])
        self.current_instance: int | None = None
        self.next_node: int | None = None
        self.frame: int | None = 0
        self._busy = 0
        self._edges_k = store.skeleton.edge_array()
        self._colors = store.skeleton.color_array()
        self._anchors = range_anchors(store)
        self._set_mirror(np.zeros(0, np.int64), _empty_fp(store))
        link = points.metadata.get(LINK_KEY) or uuid.uuid4().hex
        points.metadata[LINK_KEY] = link
        self._sync_metadata(state)
        if edges is None:
            edges = next(
                (
                    ly
                    for ly in viewer.layers
                    if type(ly).__name__ == "Vectors"
                    and ly.metadata.get(LINK_KEY) == link
                    and controller_for(ly) is None
                ),
                None,
            )
        if edges is None:
            data, attrs, _ = edges_layer_tuple(store, frame=-1, name=points.name, link=link)
            attrs.update(
                scale=points.scale,
                translate=points.translate,
                units=points.units,
                axis_labels=points.axis_labels,
            )
            edges = viewer.add_vectors(data, **attrs)
        self.edges = edges
        _REGISTRY[id(points)] = _REGISTRY[id(edges)] = self
        # napari slices the layers for the new position first (still holding the old frame's
        # points: nothing in view, cheap), then this swaps the frame in: one full refresh per layer
        viewer.dims.events.point.connect(self._on_step)
        viewer.dims.events.ndisplay.connect(self._on_step)
        viewer.dims.events.order.connect(self._on_step)
        points.events.data.connect(self._on_data)
        points.events.name.connect(self._on_name)
        self.refresh()

    # -- lifecycle --------------------------------------------------------------------------------
    def detach(self) -> None:
        """Disconnect from the viewer and layers (the layers stay as they are)."""
        self.viewer.dims.events.point.disconnect(self._on_step)
        self.viewer.dims.events.ndisplay.disconnect(self._on_step)
        self.viewer.dims.events.order.disconnect(self._on_step)
        self.points.events.data.disconnect(self._on_data)
        self.points.events.name.disconnect(self._on_name)
        for layer in (self.points, self.edges):
            if _REGISTRY.get(id(layer)) is self:
                del _REGISTRY[id(layer)]

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Our own layer updates: do not treat them as user edits."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1

    def _sync_metadata(self, state: dict[str, Any] | None = None) -> None:
        """Point ``metadata["keyskel"]`` at the store's current arrays (blocks may have grown)."""
        sync_plain(self.points.metadata, self.store, **{**(state or {}), "color_by": self.color_by})

    # -- the view ---------------------------------------------------------------------------------
    def frame_in_view(self) -> int | None:
        """The store frame shown (0 without a frame axis; None when the frame axis is displayed)."""
        s = self.store
        if s.frame_axis is None:
            return 0
        dims = self.viewer.dims
        world_axis = dims.ndim - self.points.ndim + s.frame_axis
        if world_axis in dims.displayed:
            return None
        pos = self.points.world_to_data(dims.point)
        return int(np.round(pos[s.frame_axis]))

    def _set_mirror(self, frames: np.ndarray, fp: FramePoints) -> None:
        self._frames = np.asarray(frames, np.int64)
        self._ids = np.asarray(fp.track_ids, np.int64)
        self._nodes = np.asarray(fp.nodes, np.intp)
        self._vis = np.asarray(fp.visibility, np.int8)
        self._key = np.asarray(fp.is_key, bool)
        self._ab: tuple[np.ndarray, np.ndarray] | None = None  # edge rows, recomputed lazily

    def _mirror_fp(self) -> FramePoints:
        d = self.store.coord_ndim
        return FramePoints(self._ids, self._nodes, np.zeros((len(self._ids), d)), self._vis, self._key)

    @property
    def edge_instances(self) -> np.ndarray:
        """Track id of each row of the edges layer (-1 for the two range anchors first)."""
        a, _ = self._edge_rows()
        return np.concatenate([np.full(len(self._anchors), -1, np.int64), self._ids[a]])

    def refresh(self) -> None:
        """Reload the frame in view from the store: points, features, style and edges."""
        self.frame = self.frame_in_view()
        if self.store.n_frames is None:  # the frame range may have grown
            self._anchors = range_anchors(self.store)
        frames, fp = points_in_frames(self.store, self.frame)
        data = frame_points_to_layer(self.store, fp, frames)
        same_rows = np.array_equal(fp.track_ids, self._ids) and np.array_equal(fp.nodes, self._nodes)
        same_style = (
            same_rows and np.array_equal(fp.is_key, self._key) and np.array_equal(fp.visibility, self._vis)
        )
        p = self.points
        with self._quiet(), p.events.data.blocker():
            if p.selected_data:
                p.selected_data = set()
            if len(data) or len(p.data):
                p.data = data
            if same_rows and self.frame is not None:  # one frame: same rows give the same edges
                ab = self._ab
                self._set_mirror(frames, fp)
                self._ab = ab
                feats = p.features
                feats["visibility"] = self._vis.copy()
                feats["keyframe"] = self._key.copy()
            else:
                self._set_mirror(frames, fp)
                p.features = features_table(self.store, fp)
            if not same_style:
                self._apply_style()
        self._cache = data.copy()
        self.update_edges()
        self.frame_changed.emit(self.frame)

    def _apply_style(self) -> None:
        """Set face colour, border colour and symbol, only those that differ from the layer's."""
        if not len(self._ids):
            return
        style = point_style(self.store, self._mirror_fp(), self.color_by)
        p = self.points
        for attr in ("face_color", "border_color"):
            cur = np.asarray(getattr(p, attr))
            if cur.shape != style[attr].shape or not np.allclose(cur, style[attr]):
                setattr(p, attr, style[attr])
        if not np.array_equal(_symbol_names(p.symbol), style["symbol"].astype(str)):
            p.symbol = style["symbol"]

    def _edge_rows(self) -> tuple[np.ndarray, np.ndarray]:
        if self._ab is None:
            self._ab = edge_rows(self._edges_k, self.store.n_nodes, self._frames, self._ids, self._nodes)
        return self._ab

    def update_edges(self) -> None:
        """Redraw the edges of the points in the layer (their current positions)."""
        pos = np.asarray(self.points.data)
        restyle = self._ab is None
        a, b = self._edge_rows()
        vec = np.concatenate([self._anchors, np.stack([pos[a], pos[b] - pos[a]], axis=1)])
        e = self.edges
        restyle = restyle or len(e.data) != len(vec)
        with e.events.data.blocker():
            e.data = vec
        if restyle:
            colors = np.concatenate([np.zeros((len(self._anchors), 4)), self._colors[self._nodes[b]]])
            if len(colors) and not np.array_equal(np.asarray(e.edge_color), colors):
                e.edge_color = colors

    def _on_step(self, event: Any = None) -> None:
        if self.frame_in_view() != self.frame or (event is not None and event.type != "point"):
            self.refresh()

    def _on_name(self, event: Any = None) -> None:
        self.edges.name = f"{self.points.name} edges"

    def reload_skeleton(self) -> None:
        """Pick up a changed ``store.skeleton`` (nodes, edges, colours) and redraw the view."""
        self._edges_k = self.store.skeleton.edge_array()
        self._colors = self.store.skeleton.color_array()
        self._set_mirror(np.zeros(0, np.int64), _empty_fp(self.store))
        if self.next_node is not None and self.next_node >= self.store.n_nodes:
            self.next_node = None
        self._sync_metadata()
        self.refresh()

    # -- display options --------------------------------------------------------------------------
    def set_color_by(self, color_by: str) -> None:
        """Colour points by ``"node"`` or by ``"instance"``."""
        if color_by not in ("node", "instance"):
            raise KeyskelError(f"color_by must be 'node' or 'instance', got {color_by!r}")
        self.color_by = color_by
        self._sync_metadata()
        with self._quiet():
            self._apply_style()

    def show_names(self, visible: bool = True) -> None:
        """Show or hide the node names next to the points."""
        self.points.text.visible = bool(visible)
        self._sync_metadata({"show_names": bool(visible)})

    # -- edits from the layer ---------------------------------------------------------------------
    def _on_data(self, event: Any) -> None:
        if self._busy:
            return
        action = str(event.action)
        try:
            if action == "changed":
                self._on_changed(event.data_indices)
            elif action == "added":
                self._on_added()
            elif action == "removed":
                self._on_removed(event.data_indices)
        except KeyskelError as exc:
            notify_error(f"keyskel: edit not applied: {exc}")
            self.refresh()

    def _store_coords(self, rows: np.ndarray) -> np.ndarray:
        data = np.asarray(self.points.data)[rows]
        if self.store.frame_axis is None:
            return data
        return np.delete(data, self.store.frame_axis, axis=1)

    def _on_changed(self, indices: Iterable[int]) -> None:
        n_old, n_new = len(self._ids), len(self.points.data)
        if n_new < n_old:  # a script set fewer rows: we cannot tell which were meant to go
            raise KeyskelError("points were dropped by setting layer.data; remove them with layer.remove()")
        rows = np.asarray([i for i in indices if 0 <= i < n_old], np.intp)
        if n_new > n_old:
            self._on_added()
        if rows.size == 0:
            return
        data = np.asarray(self.points.data)
        moved = rows[np.any(data[rows] != self._cache[rows], axis=1)]
        if moved.size == 0:
            return
        self.move_rows(moved, self._store_coords(moved))

    def move_rows(self, rows: np.ndarray, coords: np.ndarray) -> list[Change]:
        """Move the points of layer ``rows`` to store ``coords`` (they become keys; spans re-fill)."""
        changes: list[Change] = []
        frames, ids, nodes = self._frames[rows], self._ids[rows], self._nodes[rows]
        for f in np.unique(frames):
            on_f = frames == f
            for tid in np.unique(ids[on_f]):
                m = on_f & (ids == tid)
                changes += edits.move_nodes(self.store, int(f), int(tid), nodes[m], coords[m])
        self._after_edit(changes, rows)
        return changes

    def _choose_label(self, frame: int, taken: set[tuple[int, int]]) -> tuple[int, int]:
        """``(track id, node)`` for a new point on ``frame``.

        The chosen node of the current instance, else its first unlabelled node, else node 0 (or
        the chosen node) of a new instance.
        """
        s = self.store
        tid = self.current_instance
        if tid is not None and tid in s.tracks:
            coords, vis, key = s.get(frame, tid)
            # a node marked unlabelled (an unlabelled key) is not free: the user said "not here"
            blocked = np.isfinite(coords[:, 0]) | (key & (vis == UNLABELLED))
            free = [k for k in np.flatnonzero(~blocked).tolist() if (tid, k) not in taken]
            if self.next_node is not None and self.next_node in free:
                return tid, self.next_node
            if free:
                return tid, free[0]
        t = s.add_track(start=frame)
        self.current_instance = t.track_id
        node = self.next_node if self.next_node is not None else 0
        return t.track_id, int(node)

    def _on_added(self) -> None:
        n_old, n_new = len(self._ids), len(self.points.data)
        if n_new <= n_old:
            return
        rows = np.arange(n_old, n_new)
        data = np.asarray(self.points.data)[rows]
        fa = self.store.frame_axis
        frames = np.zeros(rows.size, np.int64) if fa is None else np.round(data[:, fa]).astype(np.int64)
        coords = self._store_coords(rows)
        changes: list[Change] = []
        labels: list[tuple[int, int]] = []
        created: list[int] = []
        try:
            for f, xyz in zip(frames, coords, strict=True):
                self.store.check_frame(int(f))
                before = set(self.store.tracks)
                tid, node = self._choose_label(int(f), set(labels))
                created += [t for t in self.store.tracks if t not in before]
                changes += edits.move_nodes(self.store, int(f), tid, [node], xyz[None])
                labels.append((tid, node))
        except KeyskelError:
            for t in created:
                self.store.tracks.pop(t, None)
            with self._quiet():
                self.points.remove(list(rows))
            raise
        self.next_node = None
        ids = np.array([lab[0] for lab in labels], np.int64)
        nodes = np.array([lab[1] for lab in labels], np.intp)
        self._frames = np.concatenate([self._frames, frames])
        self._ids = np.concatenate([self._ids, ids])
        self._nodes = np.concatenate([self._nodes, nodes])
        self._vis = np.concatenate([self._vis, np.full(rows.size, VISIBLE, np.int8)])
        self._key = np.concatenate([self._key, np.ones(rows.size, bool)])
        self._cache = np.concatenate([self._cache, data])
        self._ab = None
        with self._quiet():
            self.points.features = features_table(self.store, self._mirror_fp())
        self._after_edit(changes, rows)

    def _on_removed(self, indices: Iterable[int]) -> None:
        rows = np.unique(np.asarray(list(indices), np.intp))
        rows = rows[(rows >= 0) & (rows < len(self._ids))]
        changes: list[Change] = []
        by_instance: dict[tuple[int, int], list[int]] = {}  # one store edit per (frame, instance)
        frames, ids, nodes_ = (a[rows].tolist() for a in (self._frames, self._ids, self._nodes))
        for f, tid, k in zip(frames, ids, nodes_):
            by_instance.setdefault((f, tid), []).append(k)
        for (f, tid), nodes in by_instance.items():
            changes += edits.delete_nodes(self.store, f, tid, nodes)
        keep = np.ones(len(self._ids), bool)
        keep[rows] = False
        self._frames, self._ids, self._nodes = self._frames[keep], self._ids[keep], self._nodes[keep]
        self._vis, self._key, self._cache = self._vis[keep], self._key[keep], self._cache[keep]
        self._ab = None
        self._after_edit(changes, np.zeros(0, np.intp))

    # -- edits from code --------------------------------------------------------------------------
    def apply(self, changes: list[Change]) -> None:
        """Reflect store edits made elsewhere (key bindings, docks, scripts) in the layers."""
        self._after_edit(list(changes), np.zeros(0, np.intp))

    def interpolate(self, method: str | None = None) -> list[Change]:
        """Re-interpolate every instance (``method``, if given, becomes the store's method)."""
        changes = edits.interpolate_all(self.store, method)
        self._after_edit(changes, np.zeros(0, np.intp))
        return changes

    def _after_edit(self, changes: list[Change], rows: np.ndarray) -> None:
        """Update metadata, the touched rows of the view and the edges after a store edit."""
        self._sync_metadata()
        if self.frame is None:
            self.refresh()
            self.changed.emit(changes)
            return
        touched = {c.track_id for c in changes if c.start <= self.frame < c.stop}
        touched |= set(self._ids[rows].tolist()) if len(rows) else set()
        if touched and not self._update_rows(sorted(touched)):
            self.refresh()
        else:
            self.update_edges()
        self.changed.emit(changes)

    def _update_rows(self, track_ids: list[int]) -> bool:
        """Refresh the rows of some instances in place; False when their set of nodes changed."""
        alive = [t for t in track_ids if t in self.store.tracks]
        fp = self.store.frame_points(self.frame, alive) if alive else _empty_fp(self.store)
        mask = np.isin(self._ids, track_ids)
        rows = np.flatnonzero(mask)
        k = self.store.n_nodes
        have = self._ids[rows] * k + self._nodes[rows]
        want = fp.track_ids * k + fp.nodes
        if len(have) != len(want) or not np.array_equal(np.sort(have), np.sort(want)):
            return False
        if not len(rows):
            return True
        order = np.argsort(want)
        src = order[np.searchsorted(want[order], have)]
        pos = frame_points_to_layer(self.store, fp, self.frame)[src]
        self._vis[rows], self._key[rows] = fp.visibility[src], fp.is_key[src]
        p = self.points
        with self._quiet(), p.events.data.blocker():
            data = np.asarray(p.data)
            if not np.array_equal(data[rows], pos):
                data = data.copy()
                data[rows] = pos
                p.data = data
            feats = p.features
            feats["visibility"] = self._vis.copy()
            feats["keyframe"] = self._key.copy()
            self._apply_style()
        self._cache[rows] = pos
        self.update_edges()
        return True


def _symbol_names(symbols: np.ndarray) -> np.ndarray:
    return np.asarray([getattr(s, "value", s) for s in symbols], dtype=str)


def _empty_fp(store: AnnotationStore) -> FramePoints:
    d = store.coord_ndim
    return FramePoints(
        np.zeros(0, np.int64), np.zeros(0, np.intp), np.zeros((0, d)), np.zeros(0, np.int8), np.zeros(0, bool)
    )
