"""The timeline's strip canvas and the numpy that decides what it paints.

:func:`row_states` derives, per row (an instance, or one node of it), one *state* per frame
(outside the lifespan, gap, partial/occluded, interpolated, held after the last key) and the key
frames; :func:`pixel_runs`
turns them into runs of pixels. When there are more frames than pixels the states are reduced per
pixel column (the worst state wins, so a one-frame gap stays visible) before the runs are found,
so a paint of :class:`TimelineCanvas` costs ``O(visible frames)`` vectorised work and at most one
rectangle per pixel column, for the visible frame range and rows only. Later marks (review flags,
model proposals) are drawn on top with :meth:`TimelineCanvas.set_marks`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt, Signal
from qtpy.QtGui import QBrush, QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

from ..core.store import AnnotationStore, Track

__all__ = [
    "FILLED",
    "GAP",
    "HEADER",
    "HELD",
    "NODE_H",
    "OUTSIDE",
    "PARTIAL",
    "ROW_H",
    "TimelineCanvas",
    "pixel_runs",
    "row_states",
]

OUTSIDE, GAP, PARTIAL, FILLED, HELD = 0, 1, 2, 3, 4
_RANK = np.array([5, 1, 2, 4, 3])  # lower rank wins when frames share a pixel: gaps stay visible
_UNRANK = np.array([-1, GAP, PARTIAL, HELD, FILLED, OUTSIDE])
_FILL = {
    GAP: QColor(200, 60, 60, 150),
    PARTIAL: QColor(230, 150, 40, 170),
    FILLED: QColor(70, 130, 200, 170),
    HELD: QColor(150, 180, 215, 130),
}
_KEY_COLOR = QColor(255, 230, 90)
#: Default colours of mark kinds (any other kind gets :data:`_MARK_DEFAULT`).
MARK_COLORS = {
    "review": QColor(255, 80, 160),
    "proposal": QColor(90, 220, 120),
    "suggestion": QColor(255, 255, 255),
    "suggested": QColor(255, 255, 255),  # frames suggested for labelling (the Dataset dock's)
}
_MARK_DEFAULT = QColor(200, 120, 255)
HEADER, ROW_H, NODE_H = 120, 20, 15


def row_states(
    track: Track, lo: int, hi: int, node: int | None = None, hold: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """States and key marks of one track (or one node) over frames ``[lo, hi)``.

    Returns ``state[n]`` (:data:`OUTSIDE`, :data:`GAP`: alive but no point, :data:`PARTIAL`: some
    nodes missing or occluded, :data:`FILLED`: keyed or interpolated, :data:`HELD`: every node
    placed is a held pose, after its last key, or everywhere between keys with ``hold``, the
    store's "hold" method) and ``key[n]`` (0 none, 1 a labelled key, 2 only unlabelled keys).
    """
    n = max(hi - lo, 0)
    state = np.zeros(n, np.int8)
    key = np.zeros(n, np.int8)
    a, b = max(lo, track.start), min(hi, track.stop)
    if b <= a:
        return state, key
    r = slice(a - track.start, b - track.start)
    cols = slice(None) if node is None else slice(node, node + 1)
    placed = np.isfinite(track.coords[r, cols, 0])
    vis = track.visibility[r, cols]
    keys = track.is_key[r, cols]
    full = placed.all(axis=1) & (vis == 2).all(axis=1)
    s = np.where(placed.any(axis=1), np.where(full, FILLED, PARTIAL), GAP).astype(np.int8)
    if hold:
        s[(s == FILLED) & ~keys.any(axis=1)] = HELD
    else:  # after each node's last key (none on this frame or later): the last keyed pose, held
        later = _keyed_after(track.is_key[:, cols], b - track.start)
        if not later.all():
            n = b - a
            last = np.where(keys.any(axis=0), n - 1 - np.argmax(keys[::-1], axis=0), -1)
            last[later] = n
            first = int(last.min()) + 1  # frames before this one hold no node
            if first < n:
                held = placed[first:] & (np.arange(first, n)[:, None] > last)
                tail = s[first:]
                tail[(tail == FILLED) & held.all(axis=1)] = HELD
    s[~track.alive[r]] = OUTSIDE
    state[a - lo : b - lo] = s
    labelled = (keys & placed).any(axis=1)
    key[a - lo : b - lo] = np.where(labelled, 1, np.where(keys.any(axis=1), 2, 0))
    return state, key


def _keyed_after(is_key: np.ndarray, row: int, chunk: int = 256) -> np.ndarray:
    """Per node, whether a key sits on a row ``>= row``.

    Scans back from the end in chunks, so the usual case (keys near the end) costs one chunk, not
    the rest of a long video.
    """
    found = np.zeros(is_key.shape[1], bool)
    stop = is_key.shape[0]
    while stop > row and not found.all():
        lo = max(row, stop - chunk)
        found |= is_key[lo:stop].any(axis=0)
        stop = lo
    return found


def pixel_runs(
    state: np.ndarray, key: np.ndarray, lo: float, hi: float, first: int, width: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal state in pixels, and key positions, for frames ``first + arange(n)``.

    ``lo``/``hi`` is the visible frame range mapped onto ``[0, width)``. Returns ``x0[R]``, ``x1[R]``,
    ``run_state[R]`` and ``key_x[M]``, ``key_kind[M]`` as the 4th item stacked ``(M, 2)``.
    """
    n = state.size
    if n == 0 or hi <= lo:
        z = np.zeros(0)
        return z, z, np.zeros(0, np.int8), np.zeros((0, 2))
    scale = width / (hi - lo)
    x = (first + np.arange(n + 1) - lo) * scale  # left edge of each frame, plus the end
    if n > width:  # more frames than pixels: one value per pixel column, the worst state
        col = np.floor(x[:-1]).astype(np.int64)
        starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
        reduced = _UNRANK[np.minimum.reduceat(_RANK[state], starts)]
        edges = np.r_[x[starts], x[-1]]
        state, x = reduced, edges
    change = np.flatnonzero(np.r_[True, state[1:] != state[:-1]])
    x0 = x[change]
    x1 = x[np.r_[change[1:], state.size]]
    kf_idx = np.flatnonzero(key)
    kx = (first + kf_idx + 0.5 - lo) * scale
    kind = key[kf_idx]
    if kx.size:  # one diamond per pixel column; a labelled key wins over an unlabelled one
        cols = np.floor(kx).astype(np.int64)
        order = np.lexsort((kind, cols))
        first_in_col = np.r_[True, cols[order][1:] != cols[order][:-1]]
        keep = order[first_in_col]
        kx, kind = kx[keep], kind[keep]
    return x0, x1, state[change], np.stack([kx, kind], axis=1)


class TimelineCanvas(QWidget):
    """The strips: one row per instance, plus one per node of expanded instances.

    Signals
    -------
    frame_requested(int)
        Click or drag in the strips.
    selection_changed(object)
        ``(track_id, node or None)`` of the clicked row header, or None.
    view_changed(float, float)
        The visible frame range ``[lo, hi)`` changed (wheel, zoom, scroll).
    rows_resized(int)
        The strips' height in pixels changed (instances added, node rows opened or closed).

    """

    frame_requested = Signal(int)
    selection_changed = Signal(object)
    view_changed = Signal(float, float)
    rows_resized = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: AnnotationStore | None = None
        self.n_frames = 1
        self.lo, self.hi = 0.0, 1.0
        self.current: int | None = None
        self.expanded: set[int] = set()
        self.selected: tuple[int, int | None] | None = None
        #: kind -> (frames, track ids or None for every row, colour); see :meth:`set_marks`.
        self.marks: dict[str, tuple[np.ndarray, np.ndarray | None, QColor]] = {}
        self.setMouseTracking(False)
        self.setMinimumHeight(ROW_H * 2)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        #: Rows painted by the last paint (for tests): list of (track_id, node).
        self.painted_rows: list[tuple[int, int | None]] = []
        self.painted_frames: tuple[int, int] = (0, 0)

    # -- model ----------------------------------------------------------------------------------
    def set_store(self, store: AnnotationStore | None, n_frames: int | None = None) -> None:
        """Show ``store`` over ``n_frames`` frames (default: the store's)."""
        self.store = store
        hi = n_frames or (store.n_frames if store is not None else None)
        if hi is None and store is not None:
            hi = max(store.frame_range()[1], 1)
        self.n_frames = max(int(hi or 1), 1)
        self.lo, self.hi = 0.0, float(self.n_frames)
        self.view_changed.emit(self.lo, self.hi)
        if self.selected is not None and (store is None or self.selected[0] not in store.tracks):
            self.selected = None
        self.refresh()

    def set_marks(
        self,
        kind: str,
        frames: Any,
        track_ids: Any = None,
        color: str | QColor | None = None,
    ) -> None:
        """Mark ``frames`` with a small triangle (review flags, model proposals, suggestions).

        ``track_ids`` gives one track id per frame (or one for all); None marks every row. A
        later call with the same ``kind`` replaces its marks; empty ``frames`` removes them.
        """
        f = np.asarray(frames, np.int64).ravel()
        if f.size == 0:
            self.marks.pop(kind, None)
            self.update()
            return
        tids = None if track_ids is None else np.broadcast_to(np.asarray(track_ids, np.int64), f.shape).copy()
        qc = QColor(color) if color is not None else MARK_COLORS.get(kind, _MARK_DEFAULT)
        self.marks[kind] = (f, tids, qc)
        self.update()

    def clear_marks(self, kind: str | None = None) -> None:
        """Remove the marks of ``kind`` (None: every kind)."""
        if kind is None:
            self.marks.clear()
        else:
            self.marks.pop(kind, None)
        self.update()

    def rows(self) -> list[tuple[int, int | None]]:
        """``(track_id, node)`` of each row; node None for the instance row."""
        if self.store is None:
            return []
        out: list[tuple[int, int | None]] = []
        for tid in self.store.track_ids:
            out.append((tid, None))
            if tid in self.expanded:
                out += [(tid, k) for k in range(self.store.n_nodes)]
        return out

    def _row_tops(self) -> tuple[list[tuple[int, int | None]], np.ndarray]:
        rows = self.rows()
        h = np.array([ROW_H if n is None else NODE_H for _, n in rows], np.int64)
        return rows, np.r_[0, np.cumsum(h)]

    def refresh(self) -> None:
        """Resize to the rows and repaint."""
        rows, tops = self._row_tops()
        self._painted_layout = (rows, tops)
        h = max(int(tops[-1]) + 4, ROW_H * 2)
        if h != self.minimumHeight() or h != self.maximumHeight():
            self.setFixedHeight(h)
            self.rows_resized.emit(h)
        self.update()

    def refresh_tracks(self, track_ids: set[int]) -> bool:
        """Repaint only the rows of ``track_ids``; False (nothing done) when the rows themselves changed."""
        rows, tops = self._row_tops()
        layout = getattr(self, "_painted_layout", None)
        if layout is None or layout[0] != rows:
            return False
        for i, (tid, _) in enumerate(rows):
            if tid in track_ids:
                self.update(0, int(tops[i]), self.width(), int(tops[i + 1] - tops[i]))
        return True

    def set_current(self, frame: int | None) -> None:
        """Move the current-frame line: repaint the two columns it leaves and enters."""
        if frame == self.current:
            return
        for f in (self.current, frame):
            if f is not None and self.lo <= f < self.hi:
                x = int(self.x_of(f + 0.5))
                self.update(x - 3, 0, 7, self.height())
        self.current = frame

    # -- geometry -------------------------------------------------------------------------------
    def strip_width(self) -> float:
        return max(self.width() - HEADER, 1)

    def frame_at(self, x: float) -> int:
        """The frame under pixel ``x`` (clamped to the data)."""
        f = self.lo + (x - HEADER) / self.strip_width() * (self.hi - self.lo)
        return int(np.clip(np.floor(f), 0, self.n_frames - 1))

    def x_of(self, frame: float) -> float:
        return HEADER + (frame - self.lo) / (self.hi - self.lo) * self.strip_width()

    def set_view(self, lo: float, hi: float) -> None:
        """Show frames ``[lo, hi)`` (clamped; at least 10 frames or all)."""
        span = min(max(hi - lo, min(10.0, self.n_frames)), float(self.n_frames))
        lo = float(np.clip(lo, 0, self.n_frames - span))
        if (lo, lo + span) != (self.lo, self.hi):
            self.lo, self.hi = lo, lo + span
            self.view_changed.emit(self.lo, self.hi)
        self.update()

    def ensure_visible(self, frame: int) -> None:
        if not self.lo <= frame < self.hi:
            span = self.hi - self.lo
            self.set_view(frame - span / 2, frame + span / 2)

    # -- painting -------------------------------------------------------------------------------
    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        clip = event.rect()
        p.fillRect(clip, QColor(38, 40, 46))
        rows, tops = self._row_tops()
        lo_f, hi_f = int(np.floor(self.lo)), int(np.ceil(self.hi))
        self.painted_frames = (lo_f, hi_f)
        self.painted_rows = []
        width = self.strip_width()
        # only the rows intersecting the exposed rectangle
        first = int(np.searchsorted(tops, clip.top(), side="right")) - 1
        last = int(np.searchsorted(tops, clip.bottom(), side="right"))
        for i in range(max(first, 0), min(last, len(rows))):
            tid, node = rows[i]
            top, h = int(tops[i]), int(tops[i + 1] - tops[i])
            self.painted_rows.append((tid, node))
            self._paint_row(p, tid, node, top, h, lo_f, hi_f, width)
        if not rows and self.marks:  # no instance yet: the marks of every row still show, on one strip
            p.fillRect(QRectF(0, 0, HEADER, ROW_H - 1), QColor(50, 52, 58))
            p.setPen(QColor(160, 160, 160))
            p.drawText(QRectF(4, 0, HEADER - 6, ROW_H), int(Qt.AlignmentFlag.AlignVCenter), "no instance yet")
            self._paint_marks(p, None, 0, width)
        if self.current is not None and self.lo <= self.current < self.hi:
            x = self.x_of(self.current + 0.5)
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(QPointF(x, clip.top()), QPointF(x, clip.bottom()))
        p.end()

    def _paint_row(
        self, p: QPainter, tid: int, node: int | None, top: int, h: int, lo_f: int, hi_f: int, width: float
    ) -> None:
        store = self.store
        assert store is not None
        track = store.tracks[tid]
        sel = self.selected == (tid, node)
        p.fillRect(QRectF(0, top, HEADER, h - 1), QColor(70, 80, 100) if sel else QColor(50, 52, 58))
        if node is None:
            arrow = "▾" if tid in self.expanded else "▸"
            label, color = f"{arrow} {track.name}", QColor(235, 235, 235)
        else:
            label, color = f"    {store.skeleton.nodes[node]}", QColor(store.skeleton.colors[node])
        p.setPen(color)
        p.drawText(QRectF(4, top, HEADER - 6, h), int(Qt.AlignmentFlag.AlignVCenter), label)
        state, key = row_states(track, lo_f, hi_f, node, hold=store.method == "hold")
        x0, x1, st, keys = pixel_runs(state, key, self.lo, self.hi, lo_f, width)
        p.setPen(Qt.PenStyle.NoPen)
        for a, b, s in zip(x0.tolist(), x1.tolist(), st.tolist(), strict=True):
            if s != OUTSIDE:
                p.fillRect(QRectF(HEADER + max(a, 0), top + 3, max(b - max(a, 0), 1), h - 6), _FILL[s])
        r = (h - 6) / 2
        cy = top + h / 2
        p.setPen(QPen(_KEY_COLOR, 1))
        diamond = QPolygonF([QPointF(0, -r), QPointF(r, 0), QPointF(0, r), QPointF(-r, 0)])
        for kind, brush in ((1, QBrush(_KEY_COLOR)), (2, QBrush(Qt.BrushStyle.NoBrush))):
            p.setBrush(brush)
            xs = keys[keys[:, 1] == kind, 0]
            if xs.size > 1:  # dense keys (a long video zoomed out): one diamond per diamond width
                xs = xs[np.r_[True, np.diff(np.floor(xs / max(r, 1.0))) > 0]]
            for x in xs.tolist():
                if x >= 0:
                    p.drawPolygon(diamond.translated(HEADER + x, cy))
        self._paint_marks(p, tid, top, width)

    def _paint_marks(self, p: QPainter, tid: int | None, top: int, width: float) -> None:
        """Small triangles at the top edge of the row, one per pixel column and kind.

        ``tid`` None (no instance yet): only the marks of every row.
        """
        scale = width / (self.hi - self.lo)
        tri = QPolygonF([QPointF(-4, 0), QPointF(4, 0), QPointF(0, 6)])
        for frames, tids, color in self.marks.values():
            m = (frames >= self.lo) & (frames < self.hi)
            if tids is not None:
                if tid is None:
                    continue
                m &= tids == tid
            if not m.any():
                continue
            xs = np.unique(np.floor((frames[m] + 0.5 - self.lo) * scale)).tolist()
            p.setPen(QPen(color.darker(160), 1))
            p.setBrush(QBrush(color))
            for x in xs:
                p.drawPolygon(tri.translated(HEADER + x + 0.5, top + 1))

    # -- mouse ----------------------------------------------------------------------------------
    def row_at(self, y: float) -> tuple[int, int | None] | None:
        rows, tops = self._row_tops()
        i = int(np.searchsorted(tops, y, side="right")) - 1
        return rows[i] if 0 <= i < len(rows) else None

    def mousePressEvent(self, event: Any) -> None:
        pos = event.position() if hasattr(event, "position") else event.pos()
        row = self.row_at(pos.y())
        if pos.x() < HEADER:
            if row is not None and row[1] is None and pos.x() < 16:
                self.toggle_expanded(row[0])
            self.selected = row
            self.selection_changed.emit(row)
            self.update()
            return
        self.frame_requested.emit(self.frame_at(pos.x()))

    def mouseMoveEvent(self, event: Any) -> None:
        pos = event.position() if hasattr(event, "position") else event.pos()
        if event.buttons() & Qt.MouseButton.LeftButton and pos.x() >= HEADER:
            self.frame_requested.emit(self.frame_at(pos.x()))

    def mouseDoubleClickEvent(self, event: Any) -> None:
        pos = event.position() if hasattr(event, "position") else event.pos()
        row = self.row_at(pos.y())
        if pos.x() < HEADER and row is not None and row[1] is None:
            self.toggle_expanded(row[0])

    def toggle_expanded(self, track_id: int) -> None:
        """Show or hide the node rows of an instance."""
        self.expanded ^= {track_id}
        self.refresh()

    def wheelEvent(self, event: Any) -> None:
        pos = event.position() if hasattr(event, "position") else event.pos()
        steps = event.angleDelta().y() / 120
        span = self.hi - self.lo
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            shift = -steps * span * 0.1
            self.set_view(self.lo + shift, self.hi + shift)
        else:
            at = self.lo + (pos.x() - HEADER) / self.strip_width() * span
            new = span * (0.8**steps)
            frac = (at - self.lo) / span
            self.set_view(at - frac * new, at - frac * new + new)
        event.accept()
