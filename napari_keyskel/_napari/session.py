"""One edit session per annotation layer: the store, its history, the view and the bindings.

The way of one edit: a napari event reaches the session's :class:`~.layer_edits.LayerEdits` (or
a key binding, a dock, a script); it runs one core call inside :meth:`EditSession.record`, which
tells the :class:`~napari_keyskel.core.history.History` which tracks it is about to write; the call
returns :class:`~napari_keyskel.core.store.Change` objects; :meth:`EditSession.after_edit` has the
:class:`~.view.FrameView` redraw exactly those points and edges and emits :attr:`changed`.

Sessions are created and found by :mod:`.registry`; this module never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from ..core import keyframes as kf
from ..core.history import History
from ..core.interpolate import Method
from ..core.store import AnnotationStore, Change
from ..errors import KeyskelError
from .bindings import Bindings
from .layer_edits import LayerEdits
from .layerdata import LINK_KEY, sync_plain
from .names import NodeNames
from .view import FrameView

if TYPE_CHECKING:
    import napari
    from napari.layers import Points, Vectors

__all__ = ["EditSession"]


def notify_error(message: str) -> None:
    """Show an error notification in napari (logged when no viewer shows it)."""
    from napari.utils.notifications import show_error

    show_error(message)


class EditSession:
    """The live link between one keyskel Points layer, its edges layer and its store.

    Parameters
    ----------
    viewer
        The viewer showing the layers (its dims give the frame in view).
    points
        The Points layer (already in the viewer); its metadata receives the store as plain data.
    store
        The annotation store; every edit goes to it.
    edges
        The Vectors layer drawing the edges (already in the viewer).

    Attributes
    ----------
    history
        Undo/redo of the store's edits (every edit of this session is one step).
    bindings
        The key bindings on the Points layer.
    current_instance
        Track id that newly added points join (None: a new instance on the next add).
    next_node
        Node index the next added point gets (None: the first unlabelled node of the instance).
    changed
        Emitted with the list of :class:`~napari_keyskel.core.store.Change` after every edit (drags,
        keys, docks, undo/redo, :meth:`apply`).
    frame_changed
        Emitted with the frame in view (None: all frames) after the view is swapped.
    names
        The node names layer (:class:`~.names.NodeNames`; its ``layer`` exists while names are
        shown).
    names_toggled
        Emitted with True or False when node names are switched on or off.

    """

    changed = Signal(list)
    frame_changed = Signal(object)
    names_toggled = Signal(bool)

    def __init__(self, viewer: napari.Viewer, points: Points, store: AnnotationStore, edges: Vectors) -> None:
        self.viewer, self.points, self.edges, self.store = viewer, points, edges, store
        plain = points.metadata.get("keyskel") or {}
        state = dict(plain.get("state") or {})
        if "bridge_unlabelled" in state:
            store.bridge_unlabelled = bool(state["bridge_unlabelled"])
        self.current_instance: int | None = None
        self.next_node: int | None = None
        #: Frames a new instance lives (from its first key); None: to the end of the video.
        self.new_instance_frames: int | None = state.get("new_instance_frames")
        self.history = History(store)
        self.view = FrameView(viewer, points, edges, store)
        self.view.color_by = state.get("color_by", "node")
        self._sync_metadata(state)
        self.edits = LayerEdits(self)
        viewer.dims.events.point.connect(self._on_step)
        viewer.dims.events.ndisplay.connect(self._on_step)
        viewer.dims.events.order.connect(self._on_step)
        points.events.name.connect(self._on_name)
        points.events.visible.connect(self._on_visible)
        self.names = NodeNames(self)
        self.refresh()
        self.bindings = Bindings(self)
        if state.get("show_names"):
            self.show_names(True)

    # -- lifecycle ------------------------------------------------------------------------------
    def detach(self) -> None:
        """Disconnect from the viewer and the layers (the layers stay as they are)."""
        self.viewer.dims.events.point.disconnect(self._on_step)
        self.viewer.dims.events.ndisplay.disconnect(self._on_step)
        self.viewer.dims.events.order.disconnect(self._on_step)
        self.points.events.name.disconnect(self._on_name)
        self.points.events.visible.disconnect(self._on_visible)
        self.names.hide()  # the names layer goes with the annotation layer
        self.edits.disconnect()
        self.bindings.unbind()

    @property
    def link(self) -> str:
        """The token shared by the Points layer and its edges layer."""
        return str(self.points.metadata.get(LINK_KEY) or "")

    @staticmethod
    def notify(message: str) -> None:
        """Show an error notification."""
        notify_error(message)

    def _sync_metadata(self, state: dict[str, Any] | None = None) -> None:
        """Point ``metadata["keyskel"]`` at the store's current arrays (blocks may have grown)."""
        sync_plain(self.points.metadata, self.store, **{**(state or {}), "color_by": self.color_by})

    # -- the view -------------------------------------------------------------------------------
    @property
    def frame(self) -> int | None:
        """The frame in view when the layers were last drawn."""
        return self.view.frame

    @property
    def color_by(self) -> str:
        return self.view.color_by

    @property
    def edge_instances(self) -> np.ndarray:
        """Track id of each row of the edges layer (-1 for the two range anchors first)."""
        return self.view.edge_instances

    def frame_in_view(self) -> int | None:
        """The store frame shown (0 without a frame axis; None when the frame axis is displayed)."""
        return self.view.frame_in_view()

    def refresh(self) -> None:
        """Reload the frame in view from the store: points, features, style and edges."""
        self.view.refresh()
        self.frame_changed.emit(self.view.frame)

    def update_edges(self) -> None:
        """Redraw every edge of the view from the points' current positions."""
        self.view.update_edges()

    def _on_step(self, event: Any = None) -> None:
        if not self.points.visible:  # hidden: drawn again when shown
            return
        if self.frame_in_view() != self.view.frame or (event is not None and event.type != "point"):
            self.refresh()

    def _on_visible(self, event: Any = None) -> None:
        self.edges.visible = self.points.visible
        self.names.sync_layer()
        if self.points.visible and self.frame_in_view() != self.view.frame:
            self.refresh()

    def _on_name(self, event: Any = None) -> None:
        self.edges.name = f"{self.points.name} edges"
        self.names.sync_layer()

    def reload_skeleton(self) -> None:
        """Pick up a changed ``store.skeleton`` (nodes, edges, colours), redraw, emit :attr:`changed`.

        Every track changed (all its nodes), as the listeners are told.
        """
        self.view.reload_skeleton()
        if self.next_node is not None and self.next_node >= self.store.n_nodes:
            self.next_node = None
        self._sync_metadata()
        self.refresh()
        every = tuple(range(self.store.n_nodes))
        self.changed.emit([Change(t.track_id, t.start, t.stop, every) for t in self.store])

    def set_color_by(self, color_by: str) -> None:
        """Colour points by ``"node"`` or by ``"instance"``."""
        if color_by not in ("node", "instance"):
            raise KeyskelError(f"color_by must be 'node' or 'instance', got {color_by!r}")
        self.view.color_by = color_by
        self._sync_metadata()
        self.view.apply_style()
        self.names.update()  # names take their point's colour

    @property
    def names_shown(self) -> bool:
        """True while node names are shown."""
        return self.names.shown

    def show_names(self, visible: bool = True) -> None:
        """Show or hide the node names beside the points (placed so that they never overlap).

        Shown, they live in a names layer above the annotation layer (:mod:`.names`), recomputed
        on frame changes, edits and zoom; hidden, that layer is removed and nothing is computed.
        """
        visible = bool(visible)
        was = self.names.shown
        if visible:
            self.names.show()
        else:
            self.names.hide()
        self._sync_metadata({"show_names": visible})
        if was != visible:
            self.names_toggled.emit(visible)

    # -- edits ----------------------------------------------------------------------------------
    def record(
        self,
        label: str,
        fn: Callable[[], list[Change]],
        tracks: Iterable[int] | None = None,
        rows: np.ndarray | None = None,
        exact: bool = True,
    ) -> list[Change]:
        """Run a store edit as one undo step and show it; errors propagate (nothing done).

        ``tracks``: the existing tracks ``fn`` may write (None: any); created and removed tracks
        are found without being named. ``exact``: ``fn`` returns a :class:`Change` for every
        frame it wrote (as the core's edits do), so the undo record compares only those frames;
        pass False for an edit that may write more than it reports.
        """
        with self.history.edit(label, tracks):
            changes = fn()
            if exact:
                self.history.narrow(changes)
        self.after_edit(changes, np.zeros(0, np.intp) if rows is None else rows)
        return changes

    def apply(self, changes: Iterable[Change]) -> None:
        """Reflect store edits made elsewhere (scripts, other docks) in the layers; no undo step."""
        self.after_edit(list(changes), np.zeros(0, np.intp))

    def after_edit(self, changes: list[Change], rows: np.ndarray | None = None) -> None:
        """Update metadata, the touched rows of the view and the edges; emit :attr:`changed`."""
        self._sync_metadata()
        self.view.show_changes(changes, np.zeros(0, np.intp) if rows is None else rows)
        self.changed.emit(changes)

    def move_rows(self, rows: np.ndarray, coords: np.ndarray) -> list[Change]:
        """Move the points of layer ``rows`` to store ``coords`` (they become keys; spans re-fill)."""
        return self.edits.move_rows(np.asarray(rows, np.intp), np.asarray(coords, float))

    def interpolate(self, method: str | Method | None = None, label: str | None = None) -> list[Change]:
        """Re-interpolate every instance (``method``, if given, becomes the store's method); undoable."""
        m = self.store.method if method is None else method
        return self.record(label or f"interpolate ({m})", lambda: kf.interpolate_all(self.store, method))

    def set_new_instance_frames(self, n_frames: int | None) -> None:
        """How many frames a new instance lives (None: to the end of the video); kept in metadata."""
        if n_frames is not None and (isinstance(n_frames, bool) or int(n_frames) < 1):
            raise KeyskelError(f"a new instance lives at least one frame, got {n_frames!r}")
        self.new_instance_frames = None if n_frames is None else int(n_frames)
        self._sync_metadata({"new_instance_frames": self.new_instance_frames})
