"""The owner of one annotation layer: everything keyskel hangs on a napari Points layer.

One :class:`LayerOwner` per keyskel Points layer, created when the layer enters a connected
viewer and dropped when it leaves (:mod:`.registry`, where :func:`~.registry.owner_of` finds it
from the layer, its edges layer or its names layer). It owns the layer's parts:

=============  ==========================================================================
part           what it is
=============  ==========================================================================
store          the annotations, every frame (``history``: its undo steps, as diffs)
view           :class:`~.view.FrameView`: the frame in view, drawn in the Points and edges layers
edits          :class:`~.layer_edits.LayerEdits`: napari's drag / add / delete -> one core call
names          :class:`~.names.NodeNames`: the names layer (while names are shown)
bindings       :class:`~.bindings.Bindings`: the keys, undo / redo, the next node to place
save           :class:`~.save.SaveState`: its file and format, unsaved changes, recovery
review         :class:`~.review_session.ReviewSession`, made on first use
proposals      the :class:`~.proposals_layer.ProposalsLayer` shown over it, if any
views          the :class:`~.multiview.MultiViewSession` linking it to other cameras, if any
media_layer    the image layer it annotates (:func:`.media_link.media_layer_of`)
=============  ==========================================================================

**The way of one edit.** A napari event, a key or a dock runs one core call through
:meth:`LayerOwner.record`; the call returns :class:`~napari_keyskel.core.store.Change` objects
(which track, frames and nodes it wrote) and the history keeps the diff of exactly those;
:meth:`LayerOwner.redraw` then runs once, for those changes only: the layer's metadata (touched
tracks), the points and edges of the frame in view, the names, the parts that follow edits (the
next node, unsaved state, review flags, proposals, the other views), and one :attr:`changed`
signal from which the docks repaint the timeline rows and the status line.

The owner holds its Points layer and the viewer weakly (the registry never keeps a removed layer
alive) and holds no Qt.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterable, Iterator
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
from .layerdata import LINK_KEY, MetadataSync
from .names import NodeNames
from .save import SaveState
from .view import FrameView

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Points, Vectors

    from .multiview import MultiViewSession
    from .proposals_layer import ProposalsLayer
    from .review_session import ReviewSession

__all__ = ["LayerOwner", "notify_error"]


def notify_error(message: str) -> None:
    """Show an error notification in napari (logged when no viewer shows it)."""
    from napari.utils.notifications import show_error

    show_error(message)


class LayerOwner:
    """The parts of one keyskel Points layer, and the one redraw after each edit.

    Parameters
    ----------
    viewer
        The viewer showing the layers (its dims give the frame in view); held weakly.
    points
        The Points layer (in the viewer); held weakly. Its metadata receives the store as plain data.
    store
        The annotation store; every edit goes to it.
    edges
        The Vectors layer drawing the edges (in the viewer).
    peers
        Gives the owners of the viewer's keyskel layers (the registry's; default: this one).

    Attributes
    ----------
    current_instance
        Track id that newly added points join (None: a new instance on the next add).
    next_node
        Node index the next added point gets (None: the first unlabelled node of the instance).
    new_instance_frames
        Frames a new instance lives (from its first key); None: to the end of the video.
    changed
        Emitted once per edit, after its redraw, with its list of
        :class:`~napari_keyskel.core.store.Change` (drags, keys, docks, undo / redo, :meth:`apply`).
    frame_changed
        Emitted with the frame in view (None: all frames) after the view is drawn for it.
    names_toggled
        Emitted with True or False when node names are switched on or off.
    redraws
        How many times each part was redrawn (``"view"``, ``"names"``), for tests and profiles.

    """

    changed = Signal(list)
    frame_changed = Signal(object)
    names_toggled = Signal(bool)

    def __init__(
        self,
        viewer: napari.Viewer,
        points: Points,
        store: AnnotationStore,
        edges: Vectors,
        peers: Callable[[], list[LayerOwner]] | None = None,
    ) -> None:
        self._peers = peers
        self._viewer = weakref.ref(viewer)
        self._points = weakref.ref(points)
        self.edges, self.store = edges, store
        state = dict((points.metadata.get("keyskel") or {}).get("state") or {})
        if "bridge_unlabelled" in state:
            store.bridge_unlabelled = bool(state["bridge_unlabelled"])
        self.current_instance: int | None = None
        self.next_node: int | None = None
        self.new_instance_frames: int | None = state.get("new_instance_frames")
        self.redraws: dict[str, int] = {"view": 0, "names": 0}
        self.history = History(store)
        self.metadata = MetadataSync(self)
        self.view = FrameView(self)
        self.view.color_by = state.get("color_by", "node")
        self.metadata.write_all(state)
        self.edits = LayerEdits(self)
        self.names = NodeNames(self)
        self.save = SaveState(self)
        self.proposals: ProposalsLayer | None = None
        self.views: MultiViewSession | None = None
        self._review: ReviewSession | None = None
        self._batch: list[tuple[list[Change], np.ndarray]] | None = None
        viewer.dims.events.point.connect(self._on_step)
        viewer.dims.events.ndisplay.connect(self._on_step)
        viewer.dims.events.order.connect(self._on_step)
        points.events.name.connect(self._on_name)
        points.events.visible.connect(self._on_visible)
        self.bindings = Bindings(self)
        self.refresh()
        if state.get("show_names"):
            self.show_names(True)

    # -- what it owns -----------------------------------------------------------------------------
    @property
    def points(self) -> Points:
        """The annotation Points layer (:class:`ReferenceError` once it is gone)."""
        points = self._points()
        if points is None:
            raise ReferenceError("the annotation layer of this owner was removed")
        return points

    @property
    def viewer(self) -> napari.Viewer:
        """The viewer showing the layer (:class:`ReferenceError` once it is gone)."""
        viewer = self._viewer()
        if viewer is None:
            raise ReferenceError("the viewer of this annotation layer was closed")
        return viewer

    def peers(self) -> list[LayerOwner]:
        """The owners of the keyskel layers in the same viewer (this one among them)."""
        return [self] if self._peers is None else self._peers()

    @property
    def alive(self) -> bool:
        """False once the Points layer or the viewer is gone."""
        return self._points() is not None and self._viewer() is not None

    @property
    def link(self) -> str:
        """The token shared by the Points layer and its edges layer (in their metadata)."""
        return str(self.points.metadata.get(LINK_KEY) or "")

    @property
    def review(self) -> ReviewSession:
        """The layer's review (flags, stepping through them, review states), made on first use."""
        if self._review is None:
            from .review_session import ReviewSession

            self._review = ReviewSession(self)
        return self._review

    @property
    def has_review(self) -> bool:
        """True once :attr:`review` was made (nothing is made by asking)."""
        return self._review is not None

    @property
    def media_layer(self) -> Image | None:
        """The image layer this layer annotates, if known (:func:`.media_link.media_layer_of`)."""
        from .media_link import media_layer_of

        viewer, points = self._viewer(), self._points()
        if viewer is None or points is None:
            return None
        return media_layer_of(points, viewer)

    def detach(self) -> None:
        """Disconnect from the viewer and the layers (they stay as they are); the parts go."""
        viewer, points = self._viewer(), self._points()
        if viewer is not None:
            viewer.dims.events.point.disconnect(self._on_step)
            viewer.dims.events.ndisplay.disconnect(self._on_step)
            viewer.dims.events.order.disconnect(self._on_step)
        if self.proposals is not None:
            self.proposals.close()
        if self._review is not None:
            self._review.unbind()
        if points is not None:
            points.events.name.disconnect(self._on_name)
            points.events.visible.disconnect(self._on_visible)
            self.names.hide()  # the names layer goes with the annotation layer
            self.edits.disconnect()
            self.bindings.unbind()

    @staticmethod
    def notify(message: str) -> None:
        """Show an error notification."""
        notify_error(message)

    # -- the frame in view ------------------------------------------------------------------------
    @property
    def frame(self) -> int | None:
        """The frame in view when the layers were last drawn."""
        return self.view.frame

    @property
    def color_by(self) -> str:
        """``"node"`` or ``"instance"``: what the points are coloured by."""
        return self.view.color_by

    @property
    def edge_instances(self) -> np.ndarray:
        """Track id of each row of the edges layer (-1 for the two range anchors first)."""
        return self.view.edge_instances

    def frame_in_view(self) -> int | None:
        """The store frame shown (0 without a frame axis; None when the frame axis is displayed)."""
        return self.view.frame_in_view()

    def refresh(self) -> None:
        """Draw the frame in view from the store: points, features, style, edges, then names."""
        self.view.refresh()
        self.redraws["view"] += 1
        self.names.update()
        self.bindings.on_frame(self.view.frame)
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

    # -- edits --------------------------------------------------------------------------------------
    def record(
        self,
        label: str,
        fn: Callable[[], list[Change]],
        tracks: Iterable[int] | None = None,
        rows: np.ndarray | None = None,
        exact: bool = True,
    ) -> list[Change]:
        """Run a store edit as one undo step and redraw it once; errors propagate (nothing done).

        ``tracks``: the existing tracks ``fn`` may write (None: any); created and removed tracks
        are found without being named. ``exact``: ``fn`` returns a :class:`Change` for every
        frame it wrote (as the core's edits do), so the undo record compares only those frames;
        pass False for an edit that may write more than it reports.
        """
        with self.history.edit(label, tracks):
            changes = fn()
            if exact:
                self.history.narrow(changes)
        self.redraw(changes, rows)
        return changes

    def apply(self, changes: Iterable[Change]) -> None:
        """Show store edits made elsewhere (scripts, other docks, undo) in one redraw; no undo step."""
        self.redraw(list(changes))

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Edits inside the block are redrawn once, together, when it closes."""
        if self._batch is not None:  # nested: the outer block redraws
            yield
            return
        self._batch = []
        try:
            yield
        finally:
            pending, self._batch = self._batch, None
            if pending:
                changes = [c for cs, _ in pending for c in cs]
                rows = np.unique(np.concatenate([r for _, r in pending]))
                self.redraw(changes, rows)

    def redraw(self, changes: list[Change], rows: np.ndarray | None = None) -> None:
        """The one redraw after an edit: what ``changes`` touched, once per part.

        ``rows``: layer rows whose instances are to be redrawn too (the rows a person moved).
        """
        rows = np.zeros(0, np.intp) if rows is None else np.asarray(rows, np.intp)
        if self._batch is not None:
            self._batch.append((changes, rows))
            return
        self.metadata.update(changes)
        self.view.show_changes(changes, rows)
        self.redraws["view"] += 1
        frame = self.view.frame
        touched = {c.track_id for c in changes if frame is None or c.start <= frame < c.stop}
        touched |= (
            set(self.view.ids[rows].tolist()) if len(rows) and len(self.view.ids) > rows.max() else set()
        )
        self.names.update(tracks=touched)  # (the names of the touched instances only, if it can)
        self._follow(changes)

    def _follow(self, changes: list[Change]) -> None:
        """The parts that follow edits, then the docks (through :attr:`changed`)."""
        self.bindings.after_edit(changes)
        self.save.after_edit(changes)
        if self._review is not None:
            self._review.after_edit(changes)
        if self.proposals is not None:
            self.proposals.after_edit(changes)
        if self.views is not None:
            self.views.after_edit(self, changes)
        self.changed.emit(changes)

    def move_rows(self, rows: np.ndarray, coords: np.ndarray) -> list[Change]:
        """Move the points of layer ``rows`` to store ``coords`` (they become keys; spans re-fill)."""
        return self.edits.move_rows(np.asarray(rows, np.intp), np.asarray(coords, float))

    def interpolate(self, method: str | Method | None = None, label: str | None = None) -> list[Change]:
        """Re-interpolate every instance (``method``, if given, becomes the store's method); undoable."""
        m = self.store.method if method is None else method
        return self.record(label or f"interpolate ({m})", lambda: kf.interpolate_all(self.store, method))

    def reload_skeleton(self) -> None:
        """Pick up a changed ``store.skeleton`` (nodes, edges, colours), redraw, emit :attr:`changed`.

        Every track changed (all its nodes), as the listeners are told.
        """
        self.view.reload_skeleton()
        if self.next_node is not None and self.next_node >= self.store.n_nodes:
            self.next_node = None
        self.metadata.write_all()
        every = tuple(range(self.store.n_nodes))
        changes = [Change(t.track_id, t.start, t.stop, every) for t in self.store]
        self.refresh()
        self._follow(changes)

    # -- settings ---------------------------------------------------------------------------------
    def set_color_by(self, color_by: str) -> None:
        """Colour points by ``"node"`` or by ``"instance"``."""
        if color_by not in ("node", "instance"):
            raise KeyskelError(f"color_by must be 'node' or 'instance', got {color_by!r}")
        self.view.color_by = color_by
        self.metadata.set_state(color_by=color_by)
        self.view.apply_style()
        self.names.update()  # names take their point's colour

    @property
    def names_shown(self) -> bool:
        """True while node names are shown."""
        return self.names.shown

    def show_names(self, visible: bool = True) -> None:
        """Show or hide the node names beside the points (placed so that they never overlap).

        Shown, they live in a names layer above the annotation layer (:mod:`.names`), placed
        once per redraw (frame step, edit) and on zoom; hidden, that layer is removed and
        nothing is computed.
        """
        visible = bool(visible)
        was = self.names.shown
        if visible:
            self.names.show()
        else:
            self.names.hide()
        self.metadata.set_state(show_names=visible)
        if was != visible:
            self.names_toggled.emit(visible)

    def set_new_instance_frames(self, n_frames: int | None) -> None:
        """How many frames a new instance lives (None: to the end of the video); kept in metadata."""
        if n_frames is not None and (isinstance(n_frames, bool) or int(n_frames) < 1):
            raise KeyskelError(f"a new instance lives at least one frame, got {n_frames!r}")
        self.new_instance_frames = None if n_frames is None else int(n_frames)
        self.metadata.set_state(new_instance_frames=self.new_instance_frames)
