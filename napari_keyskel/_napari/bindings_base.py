"""What every key action of a keyskel layer builds on: :class:`BindingsBase`.

It holds the layer's owner (its viewer, layer and undo :class:`~napari_keyskel.core.history.History`), the
status message, running a store edit as one undo step, what is in view (the frame, the cursor,
the selected points, the current instance) and the next node a click places. The actions
themselves live in :mod:`.stamp`, :mod:`.edit_actions` and :mod:`.navigation`;
:class:`~napari_keyskel._napari.bindings.Bindings` puts them together and binds the keys.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

from ..core.history import History
from ..core.store import AnnotationStore, Change
from ..errors import KeyskelError

if TYPE_CHECKING:
    import napari
    from napari.layers import Points

    from .owner import LayerOwner

__all__ = ["BindingsBase"]


class BindingsBase:
    """The state and helpers the key actions of one keyskel layer share.

    Attributes
    ----------
    history
        The undo/redo history of the layer's store.
    message
        Signal emitted with a short status text after each action (the dock shows it).

    """

    message = Signal(str)

    def __init__(self, owner: LayerOwner) -> None:
        self.owner = owner
        self._applying = 0
        self._last_message = ""

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def layer(self) -> Points:
        """The annotation Points layer the keys are bound on."""
        return self.owner.points

    @property
    def viewer(self) -> napari.Viewer:
        return self.owner.viewer

    @property
    def store(self) -> AnnotationStore:
        return self.owner.store

    @property
    def history(self) -> History:
        """The undo/redo history of the layer's store (the owner's)."""
        return self.owner.history

    def say(self, text: str) -> None:
        self._last_message = text
        self.message.emit(text)

    @contextlib.contextmanager
    def applying(self) -> Iterator[None]:
        self._applying += 1
        try:
            yield
        finally:
            self._applying -= 1

    def record(
        self, label: str, fn: Callable[[], list[Change]], tracks: list[int] | None = None, exact: bool = True
    ) -> list[Change]:
        """Run a store edit as one undo step and update the layer; errors propagate (nothing done).

        See :meth:`~napari_keyskel._napari.owner.LayerOwner.record` for ``tracks`` and ``exact``.
        """
        with self.applying():
            return self.owner.record(label, fn, tracks, exact=exact)

    def run(
        self, label: str, fn: Callable[[], list[Change]], tracks: list[int] | None = None
    ) -> list[Change]:
        """:meth:`record`, with errors shown as a status message instead of raised."""
        try:
            changes = self.record(label, fn, tracks)
        except KeyskelError as exc:
            self.say(f"{label}: {exc}")
            return []
        self.say(label)
        return changes

    # -- what is in view ------------------------------------------------------------------------
    def frame(self) -> int:
        f = self.owner.frame_in_view()
        if f is None:
            raise KeyskelError("show one frame (the frame axis is displayed)")
        return f

    def cursor(self) -> np.ndarray:
        """Store coordinates of the mouse cursor (the layer's data coordinates without the frame axis)."""
        pos = np.asarray(self.viewer.cursor.position, float)[-self.layer.ndim :]
        data = np.asarray(self.layer.world_to_data(pos), float)
        fa = self.store.frame_axis
        return data if fa is None else np.delete(data, fa)

    def selected(self) -> list[tuple[int, np.ndarray]]:
        """``[(track_id, node indices)]`` of the selected points."""
        rows = np.asarray(sorted(self.layer.selected_data), np.intp)
        if not rows.size:
            return []
        feats = self.layer.features
        ids = feats["instance"].to_numpy(np.int64)[rows]
        nodes = np.asarray(feats["node"].cat.codes, np.intp)[rows]
        return [(int(t), np.unique(nodes[ids == t])) for t in np.unique(ids)]

    def current_track(self) -> int:
        """The instance actions apply to: of the selected points, else the current instance."""
        sel = self.selected()
        if sel:
            self.owner.current_instance = sel[0][0]
            return sel[0][0]
        tid = self.owner.current_instance
        if tid is None or tid not in self.store.tracks:
            ids = self.ids_on_frame()
            if len(ids) == 1:
                return ids[0]
            raise KeyskelError("select a point of an instance first")
        return int(tid)

    def ids_on_frame(self) -> list[int]:
        f = self.frame()
        on = [t for t in self.store if t.start <= f < t.stop]
        return [t.track_id for t in on if np.isfinite(t.coords[f - t.start]).any()]

    # -- next node (click to place) ---------------------------------------------------------------
    def free_nodes(self) -> list[int]:
        """Nodes of the current instance without a key on this frame (held or interpolated ones are free)."""
        tid = self.owner.current_instance
        if tid is None or tid not in self.store.tracks:
            return list(range(self.store.n_nodes))
        _, _, key = self.store.get(self.frame(), tid)
        return np.flatnonzero(~key).tolist()

    def next_node_index(self) -> int | None:
        """The node the next click places (None: the instance is complete on this frame)."""
        if self.owner.next_node is not None:
            return int(self.owner.next_node)
        try:
            free = self.free_nodes()
        except KeyskelError:
            return None
        return free[0] if free else None

    def next_node_text(self) -> str:
        """The next-node indicator, e.g. ``next: snout (instance 1)``."""
        try:
            k = self.next_node_index()
        except KeyskelError:
            return ""
        tid = self.owner.current_instance
        who = "new instance" if tid is None or tid not in self.store.tracks else self.store.tracks[tid].name
        if k is None:
            return f"{who}: all nodes placed"
        return f"next: {self.store.skeleton.nodes[k]} ({who})"

    def _fix_next_node(self) -> None:
        """After napari added a point the owner forgets the next node: skip unlabelled keys."""
        if self.owner.next_node is None:
            with contextlib.suppress(KeyskelError):
                free = self.free_nodes()
                tid = self.owner.current_instance
                if free and tid is not None and tid in self.store.tracks:
                    self.owner.next_node = free[0]
        self.say(self.next_node_text())
