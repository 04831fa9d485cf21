"""Keyframe timeline dock: keys, interpolated spans and gaps per instance (and per node).

:class:`TimelineWidget` holds one row of controls (key navigation and edits, interpolation axis and
method) above a scrollable :class:`~napari_keyskel._qt.timeline_canvas.TimelineCanvas`, which paints
the strips, and below it the visible frames: a scroll bar, a zoom slider with − / + and *Fit*.
:mod:`napari_keyskel._qt.timeline_dock` docks it across the bottom of the napari window. The strip
states and pixel runs are re-exported here from :mod:`napari_keyskel._qt.timeline_canvas`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QScrollBar,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core import keyframes as kf
from ..core.store import AnnotationStore, Change
from ..core.wording import plural
from ..errors import KeyskelError
from .timeline_canvas import (
    FILLED,
    GAP,
    HELD,
    OUTSIDE,
    PARTIAL,
    ROW_H,
    TimelineCanvas,
    pixel_runs,
    row_states,
)

__all__ = [
    "FILLED",
    "GAP",
    "HELD",
    "OUTSIDE",
    "PARTIAL",
    "ROW_H",
    "TimelineCanvas",
    "TimelineWidget",
    "pixel_runs",
    "row_states",
]

_ZOOM_STEPS = 1000
EditHook = Callable[[str, Callable[[], list[Change]]], list[Change]]


class TimelineWidget(QWidget):
    """The timeline dock: controls above a scrollable :class:`TimelineCanvas`.

    Attributes
    ----------
    edit_hook
        ``f(label, fn) -> changes`` runs an edit (the main dock records it for undo and updates the
        layer); the default runs ``fn`` directly.
    axis_hook
        ``f(world_axis)`` called when a different interpolation axis is picked.

    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keyskel-timeline")
        self.viewer = napari_viewer
        self.store: AnnotationStore | None = None
        self.layer: Any = None
        self.edit_hook: EditHook = lambda label, fn: fn()
        self.axis_hook: Callable[[int], None] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        # one row of controls: navigation and key edits, then the axis and the method
        top = QHBoxLayout()
        self.prev_key_button = QPushButton("◀ key")
        self.next_key_button = QPushButton("key ▶")
        self.bisect_button = QPushButton("Bisect")
        self.suggest_button = QPushButton("Suggest next key")
        self.delete_key_button = QPushButton("Delete key")
        self.interpolate_button = QPushButton("Interpolate all")
        tips = (
            (self.prev_key_button, "Previous keyframe (Q on the layer)"),
            (self.next_key_button, "Next keyframe (E on the layer)"),
            (self.bisect_button, "Jump halfway between the keys around this frame (H)"),
            (self.suggest_button, "Jump to the frame where linear and cubic disagree most"),
            (self.delete_key_button, "Delete the keys on this frame (of the selected row, else all)"),
            (self.interpolate_button, "Re-interpolate every instance with the method (Shift-I)"),
        )
        for b, tip in tips:
            b.setToolTip(tip)
            top.addWidget(b)
        self.axis_combo = QComboBox()
        self.axis_combo.setToolTip("The axis keyframes are interpolated along (time or z)")
        self.method_combo = QComboBox()
        self.method_combo.addItems(["linear", "cubic", "hold"])
        self.method_combo.setToolTip("How the frames between keys fill in")
        top.addSpacing(12)
        top.addWidget(QLabel("Axis"))
        top.addWidget(self.axis_combo)
        top.addWidget(QLabel("Method"))
        top.addWidget(self.method_combo)
        top.addStretch(1)
        #: Shows whether the layer has unsaved changes (set by the bottom dock).
        self.unsaved_label = QLabel("")
        top.addWidget(self.unsaved_label)
        self.top_bar = top  # the bottom dock adds its recovery buttons here
        layout.addLayout(top)
        self.canvas = TimelineCanvas()
        self.scroll_area = QScrollArea()  # (not ``scroll``: QWidget.scroll is a method)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(self.canvas)
        self.scroll_area.setMinimumHeight(ROW_H * 3)
        layout.addWidget(self.scroll_area, 1)
        # the visible frames: a scroll bar across them, and a zoom slider with - / + / Fit
        view = QHBoxLayout()
        self.frame_scroll = QScrollBar(Qt.Orientation.Horizontal)
        self.frame_scroll.setToolTip("Scroll through the frames (or Shift + mouse wheel on the strips)")
        self.zoom_out_button = QToolButton()
        self.zoom_out_button.setText("−")
        self.zoom_out_button.setToolTip("Show more frames")
        self.zoom_slider = QSlider(Qt.Orientation.Horizontal)
        self.zoom_slider.setRange(0, _ZOOM_STEPS)
        self.zoom_slider.setFixedWidth(140)
        self.zoom_slider.setToolTip("Zoom: all frames (left) to 10 frames (right); or the mouse wheel")
        self.zoom_in_button = QToolButton()
        self.zoom_in_button.setText("+")
        self.zoom_in_button.setToolTip("Show fewer frames")
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show every frame")
        self.range_label = QLabel("")
        view.addWidget(self.frame_scroll, 1)
        view.addWidget(QLabel("Zoom"))
        view.addWidget(self.zoom_out_button)
        view.addWidget(self.zoom_slider)
        view.addWidget(self.zoom_in_button)
        view.addWidget(self.fit_button)
        view.addWidget(self.range_label)
        layout.addLayout(view)
        bottom = QHBoxLayout()
        legend = QLabel(
            "◆ key  ◇ unlabelled key  <span style='color:#4682c8'>■</span> interpolated  "
            "<span style='color:#96b4d7'>■</span> held (after the last key)  "
            "<span style='color:#e69628'>■</span> partial / occluded  "
            "<span style='color:#c83c3c'>■</span> gap  ▼ marks"
        )
        self.status = QLabel("")
        bottom.addWidget(legend)
        bottom.addStretch(1)
        bottom.addWidget(self.status)
        layout.addLayout(bottom)

        self.canvas.frame_requested.connect(self.jump_to)
        self.canvas.selection_changed.connect(self._on_selection)
        self.canvas.view_changed.connect(self._on_view)
        self.interpolate_button.clicked.connect(self.interpolate_all)
        self.method_combo.currentTextChanged.connect(self._on_method)
        self.delete_key_button.clicked.connect(self.delete_key)
        self.bisect_button.clicked.connect(self.bisect)
        self.suggest_button.clicked.connect(self.suggest)
        self.prev_key_button.clicked.connect(lambda: self.step_key(-1))
        self.next_key_button.clicked.connect(lambda: self.step_key(+1))
        self.fit_button.clicked.connect(lambda: self.canvas.set_view(0, self.canvas.n_frames))
        self.zoom_in_button.clicked.connect(lambda: self.zoom(0.5))
        self.zoom_out_button.clicked.connect(lambda: self.zoom(2.0))
        self.zoom_slider.valueChanged.connect(self._on_zoom_slider)
        self.frame_scroll.valueChanged.connect(self._on_frame_scroll)
        self.axis_combo.activated.connect(self._on_axis)
        self.viewer.dims.events.current_step.connect(self._on_step)
        self._on_view(self.canvas.lo, self.canvas.hi)

    # -- the visible frames ---------------------------------------------------------------------
    def _min_span(self) -> float:
        return float(min(10, self.canvas.n_frames))

    def zoom(self, factor: float) -> None:
        """Show ``factor`` times as many frames, around the current frame (or the centre)."""
        c = self.canvas
        span = c.hi - c.lo
        new = float(np.clip(span * factor, self._min_span(), c.n_frames))
        f = self.current_frame()
        at = f + 0.5 if f is not None and c.lo <= f < c.hi else (c.lo + c.hi) / 2
        frac = (at - c.lo) / span
        c.set_view(at - frac * new, at - frac * new + new)

    def set_marks(self, kind: str, frames: Any, track_ids: Any = None, color: Any = None) -> None:
        """Mark frames (review flags, proposals, ...) on the strips; see :meth:`TimelineCanvas.set_marks`."""
        self.canvas.set_marks(kind, frames, track_ids, color)

    def clear_marks(self, kind: str | None = None) -> None:
        """Remove the marks of ``kind`` (None: all)."""
        self.canvas.clear_marks(kind)

    def _on_view(self, lo: float, hi: float) -> None:
        """Keep the scroll bar, the zoom slider and the range label in step with the strips."""
        n = self.canvas.n_frames
        span = hi - lo
        self.frame_scroll.blockSignals(True)
        self.frame_scroll.setRange(0, max(round(n - span), 0))
        self.frame_scroll.setPageStep(max(round(span), 1))
        self.frame_scroll.setSingleStep(max(round(span / 10), 1))
        self.frame_scroll.setValue(round(lo))
        self.frame_scroll.blockSignals(False)
        lo_span = self._min_span()
        self.zoom_slider.blockSignals(True)
        if n > lo_span:
            v = np.log(span / n) / np.log(lo_span / n) * _ZOOM_STEPS
            self.zoom_slider.setValue(round(float(np.clip(v, 0, _ZOOM_STEPS))))
        else:
            self.zoom_slider.setValue(0)
        self.zoom_slider.blockSignals(False)
        self.range_label.setText(f"frames {int(lo)}–{int(np.ceil(hi)) - 1} of {n}")

    def _on_zoom_slider(self, value: int) -> None:
        c = self.canvas
        n, lo_span = float(c.n_frames), self._min_span()
        span = n * (lo_span / n) ** (value / _ZOOM_STEPS) if n > lo_span else n
        self.zoom(span / (c.hi - c.lo))

    def _on_frame_scroll(self, value: int) -> None:
        c = self.canvas
        span = c.hi - c.lo
        c.set_view(float(value), float(value) + span)

    # -- model ----------------------------------------------------------------------------------
    def world_axis(self) -> int | None:
        """The viewer dimension of the store's frame axis (None without one)."""
        if self.store is None or self.store.frame_axis is None or self.layer is None:
            return None
        return self.viewer.dims.ndim - self.layer.ndim + self.store.frame_axis

    def set_layer(self, layer: Any, store: AnnotationStore | None) -> None:
        """Show the store of ``layer`` (both None: nothing)."""
        self.layer, self.store = layer, store
        n = store.n_frames if store is not None else None
        if store is not None and n is None and self.world_axis() is not None:
            n = int(self.viewer.dims.nsteps[self.world_axis()])
        self.canvas.set_store(store, n)
        self._fill_axes()
        if store is not None:
            self.method_combo.blockSignals(True)
            self.method_combo.setCurrentText(store.method)
            self.method_combo.blockSignals(False)
        self._on_step()

    def _fill_axes(self) -> None:
        self.axis_combo.blockSignals(True)
        self.axis_combo.clear()
        if self.layer is not None and self.store is not None:
            dims = self.viewer.dims
            off = dims.ndim - self.layer.ndim
            for ax in range(off, dims.ndim):
                if dims.nsteps[ax] > 1 and ax not in dims.displayed:
                    label = str(dims.axis_labels[ax])
                    name = f"axis {ax}" if label.lstrip("-").isdigit() else label
                    self.axis_combo.addItem(f"{name} ({plural(int(dims.nsteps[ax]), 'frame')})", ax)
            wa = self.world_axis()
            i = self.axis_combo.findData(wa)
            if wa is None:
                self.axis_combo.addItem("none (static)", None)
                i = self.axis_combo.count() - 1
            self.axis_combo.setCurrentIndex(max(i, 0))
        self.axis_combo.blockSignals(False)

    @property
    def follows_edits(self) -> bool:
        """True when whoever runs the edits repaints this timeline after each (the bottom dock)."""
        return False

    def refresh(self, changes: Any = None) -> None:
        """Repaint after the store changed: the rows of the instances ``changes`` name, else all."""
        tids = None if changes is None else {int(c.track_id) for c in changes}
        if tids is None or not self.canvas.refresh_tracks(tids):
            self.canvas.refresh()
        self._show_status()

    def current_frame(self) -> int | None:
        """The frame in view along the interpolation axis."""
        ax = self.world_axis()
        if ax is None:
            return None if self.store is None else 0
        return int(self.viewer.dims.current_step[ax])

    def _on_step(self, event: Any = None) -> None:
        f = self.current_frame()
        self.canvas.set_current(f)
        if f is not None:
            self.canvas.ensure_visible(f)
        self._show_status(f)

    def _show_status(self, f: int | None = None) -> None:
        f = self.current_frame() if f is None else f
        if self.store is not None and f is not None:
            sel = self.selected_track()
            who = f"instance {sel}" if sel is not None else plural(len(self.store), "instance")
            self.status.setText(f"frame {f} · {who} · method {self.store.method}")

    def selected_track(self) -> int | None:
        """The instance picked in the timeline (None: all)."""
        sel = self.canvas.selected
        return None if sel is None else sel[0]

    def _on_selection(self, row: Any) -> None:
        self._on_step()

    # -- actions --------------------------------------------------------------------------------
    def jump_to(self, frame: int) -> None:
        """Show ``frame`` in the viewer (sets the dims' current step on the frame axis)."""
        ax = self.world_axis()
        if ax is None:
            return
        self.viewer.dims.set_current_step(ax, int(frame))

    def _run(self, label: str, fn: Callable[[], list[Change]]) -> list[Change]:
        if self.store is None:
            return []
        try:
            changes = self.edit_hook(label, fn)
        except KeyskelError as exc:
            self.status.setText(str(exc))
            return []
        if not self.follows_edits:  # (else the layer's redraw repainted it already)
            self.refresh()
        return changes

    def _on_method(self, method: str) -> None:
        if self.store is not None:
            self.interpolate_all()

    def interpolate_all(self) -> list[Change]:
        """Re-interpolate every instance with the chosen method."""
        method, store = self.method_combo.currentText(), self.store
        if store is None:
            return []
        return self._run(f"interpolate ({method})", lambda: kf.interpolate_all(store, method=method))

    def delete_key(self) -> list[Change]:
        """Delete the keys on the current frame (of the selected instance or node, else all)."""
        f, store = self.current_frame(), self.store
        if store is None or f is None:
            return []
        sel = self.canvas.selected
        tids = [sel[0]] if sel is not None else store.track_ids
        node = None if sel is None else sel[1]

        def fn() -> list[Change]:
            out: list[Change] = []
            for tid in tids:
                t = store.tracks[tid]
                inside = t.start <= f < t.stop
                row = t.is_key[f - t.start] if inside else np.zeros(0, bool)
                if inside and (row.any() if node is None else row[node]):
                    out += kf.delete_key(store, f, tid, node)
            if not out:
                raise KeyskelError(f"no key to delete on frame {f}")
            return out

        return self._run("delete key", fn)

    def bisect(self) -> int | None:
        """Jump halfway between the keys around the current frame."""
        f = self.current_frame()
        if self.store is None or f is None:
            return None
        target = kf.bisect_frame(self.store, f, self.selected_track())
        if target is None:
            self.status.setText("no two keys around this frame to bisect")
        else:
            self.jump_to(target)
        return target

    def suggest(self) -> int | None:
        """Jump to the frame most worth keying next."""
        if self.store is None:
            return None
        target = kf.suggest_next_keyframe(self.store, self.selected_track())
        if target is None:
            self.status.setText("nothing interpolated yet: no suggestion")
        else:
            self.jump_to(target)
        return target

    def step_key(self, direction: int) -> int | None:
        """Jump to the next (``+1``) or previous (``-1``) key frame."""
        f = self.current_frame()
        if self.store is None or f is None:
            return None
        find = kf.next_key if direction > 0 else kf.previous_key
        target = find(self.store, f, self.selected_track())
        if target is not None:
            self.jump_to(target)
        return target

    def _on_axis(self, index: int) -> None:
        ax = self.axis_combo.itemData(index)
        if ax is None or ax == self.world_axis():
            return
        if self.axis_hook is None:
            self.status.setText("the interpolation axis cannot be changed here")
        else:
            try:
                self.axis_hook(int(ax))
            except KeyskelError as exc:
                self.status.setText(str(exc))
        self._fill_axes()
