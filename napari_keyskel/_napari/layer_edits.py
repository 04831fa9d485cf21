"""Layer events -> store edits: what a person's drag, click or delete means for the store.

:class:`LayerEdits` listens to the Points layer of one :class:`~.owner.LayerOwner`:

- a drag: napari emits ``data`` CHANGING when the first mouse move starts moving the selected
  points, then refreshes the layer on every move (``set_data``), then emits CHANGED on release.
  While it moves, only the dragged instances' edges are redrawn from the layer; on release the
  moved rows become keys through one vectorised core call
  (:func:`napari_keyskel.core.keyframes.move_points`), recorded as one undo step;
- a click in add mode (ADDED): the new point gets the next node of the current instance (or
  starts a new instance) and becomes a key;
- a delete (REMOVED): :func:`napari_keyskel.core.keyframes.delete_nodes`, once per (frame, instance);
- ``layer.data = ...`` from a script: moved rows become keys, extra rows are added; fewer rows
  raise an error (which rows were meant to go is unknown) and the layer is redrawn from the store.

Every edit is one :class:`~napari_keyskel.core.history.History` step, made by the owner's
:meth:`~.owner.LayerOwner.record`, so the undo record is told which tracks it may touch before
they are written (no store-wide scan), and is redrawn once (:meth:`~.owner.LayerOwner.redraw`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import keyframes as kf
from ..core.store import Change
from ..errors import KeyskelError

if TYPE_CHECKING:
    from .owner import LayerOwner
    from .view import FrameView

__all__ = ["LayerEdits"]


class LayerEdits:
    """Translate the Points layer's events of one owner into store edits."""

    def __init__(self, owner: LayerOwner) -> None:
        self.owner = owner
        self.dragging: np.ndarray | None = None  # ids of the instances being dragged
        self._dragged_at: np.ndarray | None = None  # their points where the last move drew them
        points = owner.points
        points.events.data.connect(self._on_data)
        points.events.set_data.connect(self._on_set_data)

    def disconnect(self) -> None:
        """Stop listening to the layer."""
        points = self.owner.points
        points.events.data.disconnect(self._on_data)
        points.events.set_data.disconnect(self._on_set_data)

    @property
    def view(self) -> FrameView:
        return self.owner.view

    # -- events ---------------------------------------------------------------------------------
    def _on_data(self, event: Any) -> None:
        if self.view.busy:
            return
        action = str(event.action)
        try:
            if action == "changing":
                rows = np.asarray(event.data_indices, np.intp)
                rows = rows[(rows >= 0) & (rows < len(self.view.ids))]
                self.dragging = np.unique(self.view.ids[rows])
                self._dragged_at = None
            elif action == "changed":
                label = "move points" if self.dragging is not None else "edit points"
                self.dragging = None
                if label != "move points":
                    self.view.edges_follow_layer = False
                self.on_changed(event.data_indices, label)
            elif action == "added":
                self.on_added()
            elif action == "removed":
                self.on_removed(event.data_indices)
        except KeyskelError as exc:
            self.dragging = None
            self.owner.notify(f"keyskel: edit not applied: {exc}")
            self.owner.refresh()

    def _on_set_data(self, event: Any = None) -> None:
        """While a drag moves points, the dragged instances' edges (and names, throttled) follow."""
        data = np.asarray(self.owner.points.data)
        if self.dragging is None or self.view.busy or len(data) != len(self.view.ids):
            return
        rows = np.flatnonzero(np.isin(self.view.ids, self.dragging))
        if self._dragged_at is not None and np.array_equal(self._dragged_at, data[rows]):
            return  # (napari's release repeats the last move: nothing moved, nothing to draw)
        self._dragged_at = data[rows].copy()
        self.view.update_edges(self.dragging)
        self.view.edges_follow_layer = True
        self.owner.names.follow_drag()

    # -- the edits ------------------------------------------------------------------------------
    def _store_coords(self, rows: np.ndarray) -> np.ndarray:
        data = np.asarray(self.owner.points.data)[rows]
        fa = self.owner.store.frame_axis
        return data if fa is None else np.delete(data, fa, axis=1)

    def on_changed(self, indices: Any, label: str = "move points") -> None:
        """Rows napari (or a script) moved become keys where they now are."""
        v = self.view
        n_old, n_new = len(v.ids), len(self.owner.points.data)
        if n_new < n_old:  # a script set fewer rows: we cannot tell which were meant to go
            raise KeyskelError("points were dropped by setting layer.data; remove them with layer.remove()")
        rows = np.asarray([i for i in indices if 0 <= i < n_old], np.intp)
        if n_new > n_old:
            self.on_added()
        if rows.size == 0:
            return
        data = np.asarray(self.owner.points.data)
        moved = rows[np.any(data[rows] != v.drawn[rows], axis=1)]
        if moved.size == 0:
            return
        self.move_rows(moved, self._store_coords(moved), label)

    def move_rows(self, rows: np.ndarray, coords: np.ndarray, label: str = "move points") -> list[Change]:
        """Move the points of layer ``rows`` to store ``coords``: they become keys, spans re-fill."""
        v = self.view
        frames, ids, nodes = v.frames[rows], v.ids[rows], v.nodes[rows]
        return self.owner.record(
            label,
            lambda: kf.move_points(self.owner.store, frames, ids, nodes, coords),
            np.unique(ids).tolist(),
            rows,
        )

    def on_added(self) -> None:
        """Label the rows napari appended and write them to the store as keys."""
        s, v = self.owner, self.view
        n_old, n_new = len(v.ids), len(s.points.data)
        if n_new <= n_old:
            return
        rows = np.arange(n_old, n_new)
        data = np.asarray(s.points.data)[rows]
        fa = s.store.frame_axis
        frames = np.zeros(rows.size, np.int64) if fa is None else np.round(data[:, fa]).astype(np.int64)
        coords = self._store_coords(rows)
        labels: list[tuple[int, int]] = []

        def edit() -> list[Change]:
            for f in frames.tolist():
                s.store.check_frame(int(f))
                labels.append(self._choose_label(int(f), set(labels)))
            ids = np.array([lab[0] for lab in labels], np.int64)
            nodes = np.array([lab[1] for lab in labels], np.intp)
            return kf.move_points(s.store, frames, ids, nodes, coords)

        current = s.current_instance
        tracks = [current] if current is not None and current in s.store.tracks else []
        try:
            with s.history.edit("add point", tracks):
                changes = edit()
        except KeyskelError:
            s.current_instance = current
            with v.quiet():
                s.points.remove(list(rows))
            raise
        s.next_node = None
        v.append_rows(
            frames,
            np.array([lab[0] for lab in labels], np.int64),
            np.array([lab[1] for lab in labels], np.intp),
            data,
        )
        s.redraw(changes, rows)

    def _choose_label(self, frame: int, taken: set[tuple[int, int]]) -> tuple[int, int]:
        """``(track id, node)`` for a new point on ``frame``.

        The chosen node of the current instance, else its first node without a key here, else node
        0 (or the chosen node) of a new instance.
        """
        s = self.owner
        tid = s.current_instance
        if tid is not None and tid in s.store.tracks:
            _, _, key = s.store.get(frame, tid)
            # a key (an unlabelled one too: the user said "not here") is taken; an interpolated or
            # held position is not: a click there places the node as a key
            free = [k for k in np.flatnonzero(~key).tolist() if (tid, k) not in taken]
            if s.next_node is not None and s.next_node in free:
                return tid, s.next_node
            if free:
                return tid, free[0]
        t = kf.start_instance(s.store, frame, lives=s.new_instance_frames)
        s.current_instance = t.track_id
        node = s.next_node if s.next_node is not None else 0
        return t.track_id, int(node)

    def on_removed(self, indices: Any) -> None:
        """Rows napari removed: keys are deleted, interpolated nodes become unlabelled keys."""
        s, v = self.owner, self.view
        rows = np.unique(np.asarray(list(indices), np.intp))
        rows = rows[(rows >= 0) & (rows < len(v.ids))]
        frames, ids, nodes = v.frames[rows], v.ids[rows], v.nodes[rows]
        v.drop_rows(rows)

        def edit() -> list[Change]:
            out: list[Change] = []
            for f, tid in sorted(set(zip(frames.tolist(), ids.tolist()))):
                m = (frames == f) & (ids == tid)
                out += kf.delete_nodes(s.store, f, tid, nodes[m])
            return out

        s.record("delete points", edit, np.unique(ids).tolist())
