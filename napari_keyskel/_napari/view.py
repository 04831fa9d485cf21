"""What a keyskel layer pair shows: the points and edges of the frame in view.

:class:`FrameView` keeps a Points layer and its edges Vectors layer showing one frame of a store
(every frame when the frame axis is displayed, e.g. a z-stack in 3D). It mirrors the rows it put
in the Points layer (frame, track id, node, visibility, key) so an edit can be drawn by rewriting
only the rows of the instances it touched, and the edges by rewriting only the touched
instance's vectors while a node is dragged. It never writes the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..core.store import AnnotationStore, Change, FramePoints
from .layerdata import (
    edge_rows,
    empty_frame_points,
    features_table,
    frame_points_to_layer,
    point_style,
    points_in_frames,
    range_anchors,
)

if TYPE_CHECKING:
    import napari
    from napari.layers import Points, Vectors

    from .owner import LayerOwner

__all__ = ["FrameView"]


class FrameView:
    """The frame in view of a store, drawn in a Points layer and an edges Vectors layer.

    Attributes
    ----------
    frame
        The store frame shown (None: every frame, the frame axis is displayed).
    frames, ids, nodes, vis, key
        Per layer row: its frame, track id, node index, visibility and key flag.
    drawn
        The layer coordinates last drawn (to tell which rows a person moved).

    """

    def __init__(self, owner: LayerOwner) -> None:
        self.owner = owner
        self.color_by = "node"
        self.frame: int | None = 0
        self.busy = 0
        #: The edges were just drawn from the layer's points as they are (during a drag).
        self.edges_follow_layer = False
        self.reload_skeleton()

    # -- what it draws into ---------------------------------------------------------------------
    @property
    def viewer(self) -> napari.Viewer:
        return self.owner.viewer

    @property
    def points(self) -> Points:
        return self.owner.points

    @property
    def edges(self) -> Vectors:
        return self.owner.edges

    @property
    def store(self) -> AnnotationStore:
        return self.owner.store

    # -- bookkeeping ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Our own layer updates: the edit translation ignores the events they cause."""
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1

    def reload_skeleton(self) -> None:
        """Pick up ``store.skeleton`` (edges, colours) and forget the mirrored rows."""
        self._edge_k = self.store.skeleton.edge_array()
        self._colors = self.store.skeleton.color_array()
        self._anchors = range_anchors(self.store)
        self._mirror(np.zeros(0, np.int64), empty_frame_points(self.store))
        self.drawn = np.zeros((0, self.store.layer_ndim))

    def _mirror(self, frames: np.ndarray, fp: FramePoints) -> None:
        self.frames = np.asarray(frames, np.int64)
        self.ids = np.asarray(fp.track_ids, np.int64)
        self.nodes = np.asarray(fp.nodes, np.intp)
        self.vis = np.asarray(fp.visibility, np.int8)
        self.key = np.asarray(fp.is_key, bool)
        self._ab: tuple[np.ndarray, np.ndarray] | None = None  # edge rows, recomputed lazily

    def mirror_fp(self) -> FramePoints:
        """The mirrored rows as :class:`FramePoints` (coordinates zero: only labels and states)."""
        d = self.store.coord_ndim
        return FramePoints(self.ids, self.nodes, np.zeros((len(self.ids), d)), self.vis, self.key)

    def append_rows(self, frames: np.ndarray, ids: np.ndarray, nodes: np.ndarray, data: np.ndarray) -> None:
        """Mirror rows napari appended (a person's added points, now keys)."""
        n = len(ids)
        self.frames = np.concatenate([self.frames, frames])
        self.ids = np.concatenate([self.ids, ids])
        self.nodes = np.concatenate([self.nodes, nodes])
        self.vis = np.concatenate([self.vis, np.full(n, 2, np.int8)])
        self.key = np.concatenate([self.key, np.ones(n, bool)])
        self.drawn = np.concatenate([self.drawn, data])
        self._ab = None
        with self.quiet():
            self.points.features = features_table(self.store, self.mirror_fp())

    def drop_rows(self, rows: np.ndarray) -> None:
        """Forget rows napari removed."""
        keep = np.ones(len(self.ids), bool)
        keep[rows] = False
        self.frames, self.ids, self.nodes = self.frames[keep], self.ids[keep], self.nodes[keep]
        self.vis, self.key, self.drawn = self.vis[keep], self.key[keep], self.drawn[keep]
        self._ab = None

    # -- the frame in view ----------------------------------------------------------------------
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

    def refresh(self) -> None:
        """Reload the frame in view from the store: points, features, style and edges."""
        self.frame = self.frame_in_view()
        if self.store.n_frames is None:  # the frame range may have grown
            self._anchors = range_anchors(self.store)
        frames, fp = points_in_frames(self.store, self.frame)
        data = frame_points_to_layer(self.store, fp, frames)
        same_rows = np.array_equal(fp.track_ids, self.ids) and np.array_equal(fp.nodes, self.nodes)
        same_style = (
            same_rows and np.array_equal(fp.is_key, self.key) and np.array_equal(fp.visibility, self.vis)
        )
        p = self.points
        with self.quiet(), p.events.data.blocker():
            if p.selected_data:
                p.selected_data = set()
            if len(data) or len(p.data):
                p.data = data
            if same_rows and self.frame is not None:  # one frame: same rows give the same edges
                ab = self._ab
                self._mirror(frames, fp)
                self._ab = ab
                if not same_style:  # (a new features table costs more than the points)
                    self._write_states()
            else:
                self._mirror(frames, fp)
                p.features = features_table(self.store, fp)
            if not same_style:
                self._apply_style()
        self.drawn = data.copy()
        self.update_edges()

    def _write_states(self) -> None:
        """Write the mirrored visibility and key columns into the layer's features (a new table)."""
        feats = self.points.features.copy()
        feats["visibility"] = self.vis.copy()
        feats["keyframe"] = self.key.copy()
        self.points.features = feats

    def apply_style(self) -> None:
        """Re-colour the points (after ``color_by`` changed)."""
        with self.quiet():
            self._apply_style()

    def _apply_style(self) -> None:
        """Set face colour, border colour and symbol, only those that differ from the layer's."""
        if not len(self.ids):
            return
        style = point_style(self.store, self.mirror_fp(), self.color_by)
        p = self.points
        for attr in ("face_color", "border_color"):
            cur = np.asarray(getattr(p, attr))
            if cur.shape != style[attr].shape or not np.allclose(cur, style[attr]):
                setattr(p, attr, style[attr])
        if not np.array_equal(_symbol_names(p.symbol), style["symbol"].astype(str)):
            p.symbol = style["symbol"]

    # -- edges ----------------------------------------------------------------------------------
    def edge_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Row pairs ``(a, b)`` of the points joined by an edge."""
        if self._ab is None:
            self._ab = edge_rows(self._edge_k, self.store.n_nodes, self.frames, self.ids, self.nodes)
        return self._ab

    @property
    def edge_instances(self) -> np.ndarray:
        """Track id of each row of the edges layer (-1 for the range anchors first)."""
        a, _ = self.edge_rows()
        return np.concatenate([np.full(len(self._anchors), -1, np.int64), self.ids[a]])

    def update_edges(self, track_ids: np.ndarray | None = None) -> None:
        """Redraw the edges from the points' current positions (of some instances only, if given)."""
        pos = np.asarray(self.points.data)
        restyle = self._ab is None
        a, b = self.edge_rows()
        e = self.edges
        n_anchor = len(self._anchors)
        if track_ids is not None and not restyle and len(e.data) == n_anchor + len(a):
            sel = np.flatnonzero(np.isin(self.ids[a], track_ids))
            vec = np.asarray(e.data).copy()
            vec[n_anchor + sel] = np.stack([pos[a[sel]], pos[b[sel]] - pos[a[sel]]], axis=1)
            with e.events.data.blocker():
                e.data = vec
            return
        vec = np.concatenate([self._anchors, np.stack([pos[a], pos[b] - pos[a]], axis=1)])
        restyle = restyle or len(e.data) != len(vec)
        with e.events.data.blocker():
            e.data = vec
        if restyle:
            colors = np.concatenate([np.zeros((n_anchor, 4)), self._colors[self.nodes[b]]])
            if len(colors) and not np.array_equal(np.asarray(e.edge_color), colors):
                e.edge_color = colors

    # -- after a store edit ---------------------------------------------------------------------
    def show_changes(self, changes: list[Change], rows: np.ndarray) -> None:
        """Redraw what ``changes`` touched on the frame in view (and the instances of ``rows``)."""
        if self.frame is None:
            self.refresh()
            return
        if self.store.n_frames is None:  # the frame range may have grown
            anchors = range_anchors(self.store)
            if not np.array_equal(anchors, self._anchors):
                self._anchors, self._ab = anchors, None
        touched = {c.track_id for c in changes if c.start <= self.frame < c.stop}
        touched |= set(self.ids[rows].tolist()) if len(rows) else set()
        if touched and not self._update_rows(sorted(touched)):
            self.refresh()
        elif self._ab is None:
            self.update_edges()

    def _update_rows(self, track_ids: list[int]) -> bool:
        """Refresh the rows of some instances in place; False when their set of nodes changed."""
        assert self.frame is not None
        alive = [t for t in track_ids if t in self.store.tracks]
        if self.frame < 0 or (self.store.n_frames is not None and self.frame >= self.store.n_frames):
            fp = empty_frame_points(self.store)
        else:
            fp = self.store.frame_points(self.frame, alive) if alive else empty_frame_points(self.store)
        rows = np.flatnonzero(np.isin(self.ids, track_ids))
        k = self.store.n_nodes
        have = self.ids[rows] * k + self.nodes[rows]
        want = fp.track_ids * k + fp.nodes
        if len(have) != len(want) or not np.array_equal(np.sort(have), np.sort(want)):
            return False
        if not len(rows):
            return True
        order = np.argsort(want)
        src = order[np.searchsorted(want[order], have)]
        pos = frame_points_to_layer(self.store, fp, self.frame)[src]
        new_vis, new_key = fp.visibility[src], fp.is_key[src]
        states = not (np.array_equal(self.vis[rows], new_vis) and np.array_equal(self.key[rows], new_key))
        self.vis[rows], self.key[rows] = new_vis, new_key
        p = self.points
        moved = False
        with self.quiet(), p.events.data.blocker():
            data = np.asarray(p.data)
            if not np.array_equal(data[rows], pos):
                data = data.copy()
                data[rows] = pos
                p.data = data
                moved = True
            if states:
                self._write_states()
                self._apply_style()
        self.drawn[rows] = pos
        if moved or self._ab is None or not self.edges_follow_layer:  # (a drag drew them already)
            self.update_edges(np.asarray(track_ids, np.int64))
        self.edges_follow_layer = False
        return True


def _symbol_names(symbols: np.ndarray) -> np.ndarray:
    return np.asarray([getattr(s, "value", s) for s in symbols], dtype=str)
