"""The dock's "3D / views" tab: camera views side by side, triangulation, proposals, 3D slices.

Choose the image layers that are views of one scene (one per camera), a skeleton and an Anipose
calibration TOML; *Make views* shows them side by side (napari's grid) each with an annotation
layer; *Triangulate* reprojects every node seen in >= 2 views into all views (proposals where a
node is missing, the error per node elsewhere) and lists the worst nodes (double-click: go to
that frame); *Accept proposals* places this frame's proposals of the selected view as keys;
*Save 3D CSV* writes frame, track, node, x, y, z, error. *Show other slices* fades the nodes
and edges of a 3D skeleton that lie on other slices (see :mod:`.._napari.out_of_slice`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .._napari.napari_private import unwrap_proxy
from ..core.presets import PRESETS
from ..core.wording import plural
from ..errors import KeyskelError

__all__ = ["MultiViewPanel"]


class MultiViewPanel(QWidget):
    """Multi-view and 3D controls for one viewer (see the module docstring)."""

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = unwrap_proxy(napari_viewer)
        self.session: Any = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)

        views_box = QGroupBox("Views of one scene")
        form = QFormLayout(views_box)
        self.image_list = QListWidget()
        self.image_list.setMaximumHeight(110)
        self.image_list.setToolTip("Tick the image layers that are views of the scene (one per camera)")
        self.skeleton_combo = QComboBox()
        self.skeleton_combo.addItems(sorted(PRESETS))
        self.skeleton_combo.setEditable(True)
        self.skeleton_combo.setToolTip("A preset name or a .skeleton.json file")
        calib_row = QHBoxLayout()
        self.calib_edit = QLineEdit()
        self.calib_edit.setPlaceholderText("calibration.toml (Anipose)")
        self.calib_browse = QPushButton("…")
        calib_row.addWidget(self.calib_edit, 1)
        calib_row.addWidget(self.calib_browse)
        self.make_button = QPushButton("Make views")
        form.addRow(self.image_list)
        form.addRow("Skeleton", self.skeleton_combo)
        form.addRow("Calibration", calib_row)
        form.addRow(self.make_button)
        outer.addWidget(views_box)

        tri_box = QGroupBox("Triangulation")
        tri = QVBoxLayout(tri_box)
        row = QHBoxLayout()
        self.triangulate_button = QPushButton("Triangulate")
        self.keys_only = QCheckBox("keys only")
        row.addWidget(self.triangulate_button, 1)
        row.addWidget(self.keys_only)
        tri.addLayout(row)
        row2 = QHBoxLayout()
        self.view_combo = QComboBox()
        self.accept_button = QPushButton("Accept proposals (this frame)")
        row2.addWidget(self.view_combo, 1)
        row2.addWidget(self.accept_button)
        tri.addLayout(row2)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        tri.addWidget(self.summary)
        self.flag_table = QTableWidget(0, 5)
        self.flag_table.setHorizontalHeaderLabels(["view", "frame", "track", "node", "error px"])
        self.flag_table.setMaximumHeight(160)
        self.flag_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        tri.addWidget(self.flag_table)
        self.save_button = QPushButton("Save 3D CSV…")
        tri.addWidget(self.save_button)
        self.save_views_button = QPushButton("Save views as one V7 item…")
        self.save_views_button.setToolTip(
            "One multi-slot V7 Darwin file: a slot per view, the animals linked by instance id"
        )
        tri.addWidget(self.save_views_button)
        outer.addWidget(tri_box)

        slice_box = QGroupBox("3D skeletons")
        sl = QVBoxLayout(slice_box)
        self.out_of_slice = QCheckBox("show other slices, faded by distance")
        self.out_of_slice.setToolTip("For a 3D skeleton (nodes in z, y, x) on the selected layer")
        sl.addWidget(self.out_of_slice)
        outer.addWidget(slice_box)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        outer.addWidget(self.status)
        outer.addStretch(1)

        self.calib_browse.clicked.connect(self._browse_calibration)
        self.make_button.clicked.connect(self.make_views)
        self.triangulate_button.clicked.connect(self.triangulate)
        self.accept_button.clicked.connect(self.accept)
        self.save_button.clicked.connect(self._save)
        self.save_views_button.clicked.connect(self._save_views)
        self.flag_table.cellDoubleClicked.connect(self._go_to_flag)
        self.out_of_slice.toggled.connect(self._toggle_out_of_slice)
        events = self.viewer.layers.events
        events.inserted.connect(self._refresh_images)
        events.removed.connect(self._refresh_images)
        self.destroyed.connect(lambda *_: _disconnect(events, self._refresh_images))
        self._refresh_images()
        self._update_buttons()

    # -- helpers ----------------------------------------------------------------------------------
    def _refresh_images(self, event: Any = None) -> None:
        try:
            self._fill_images()
        except RuntimeError:  # the Qt widget was deleted before the layer list let go of us
            _disconnect(self.viewer.layers.events, self._refresh_images)

    def _fill_images(self) -> None:
        ticked = set(self._ticked())
        self.image_list.clear()
        for layer in self.viewer.layers:
            if type(layer).__name__ == "Image":
                item = QListWidgetItem(layer.name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if layer.name in ticked else Qt.CheckState.Unchecked)
                self.image_list.addItem(item)

    def set_checked(self, names: list[str]) -> None:
        """Tick the image layers called ``names`` (and untick the others)."""
        for item in self._items():
            item.setCheckState(Qt.CheckState.Checked if item.text() in names else Qt.CheckState.Unchecked)

    def _items(self) -> list[QListWidgetItem]:
        items = (self.image_list.item(i) for i in range(self.image_list.count()))
        return [item for item in items if item is not None]

    def _ticked(self) -> list[str]:
        return [item.text() for item in self._items() if item.checkState() == Qt.CheckState.Checked]

    def _checked_images(self) -> list[Any]:
        return [self.viewer.layers[n] for n in self._ticked()]

    def _report(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #e55" if error else "")

    def _update_buttons(self) -> None:
        has = self.session is not None
        self.triangulate_button.setEnabled(has)
        self.accept_button.setEnabled(has and self.session.result is not None)
        self.save_button.setEnabled(has and self.session.result is not None)
        self.save_views_button.setEnabled(has)

    def _browse_calibration(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Anipose calibration", "", "TOML (*.toml)")
        if path:
            self.calib_edit.setText(path)

    # -- actions ----------------------------------------------------------------------------------
    def make_views(self) -> None:
        """Make a multi-view session of the ticked image layers."""
        from .._napari.multiview import MultiViewSession

        try:
            calib = self.calib_edit.text().strip() or None
            self.session = MultiViewSession(
                self.viewer, self._checked_images(), self.skeleton_combo.currentText(), calibration=calib
            )
        except (KeyskelError, OSError) as exc:
            self._report(f"cannot make views: {exc}", error=True)
            return
        self.view_combo.clear()
        self.view_combo.addItems(self.session.names)
        self._report(f"{len(self.session.names)} views side by side: {', '.join(self.session.names)}")
        self._update_buttons()

    def triangulate(self) -> None:
        """Triangulate, fill the reprojection layers, list the worst nodes."""
        s = self.session
        try:
            text = self.calib_edit.text().strip()
            if text and (s.calibration is None or text != s.calibration.source):
                s.set_calibration(text)
            res = s.triangulate(keys_only=self.keys_only.isChecked())
        except (KeyskelError, OSError) as exc:
            self._report(f"cannot triangulate: {exc}", error=True)
            return
        tri = res.triangulation
        parts = []
        for v, name in enumerate(s.names):
            e = tri.errors[v]
            mean = float(np.nanmean(e)) if np.isfinite(e).any() else float("nan")
            parts.append(f"{name}: {mean:.2f} px, {plural(int(tri.proposals[v].sum()), 'proposal')}")
        n3d = int(np.isfinite(tri.points[..., 0]).sum())
        self.summary.setText(f"{plural(n3d, 'node')} in 3D. " + "; ".join(parts))
        flags = s.flags(s.good)
        self.flag_table.setRowCount(len(flags))
        for r, fl in enumerate(flags):
            vals = [fl["view"], fl["frame"], fl["track"], fl["node"], f"{fl['error']:.2f}"]
            for c, val in enumerate(vals):
                self.flag_table.setItem(r, c, QTableWidgetItem(str(val)))
        self._report("")
        self._update_buttons()

    def _frame(self, v: int) -> int | None:
        return self.session.frame_in_view(v)

    def accept(self) -> None:
        """Accept the proposals of the chosen view on the frame in view."""
        v = max(self.view_combo.currentIndex(), 0)
        try:
            n = self.session.accept_proposals(v, self._frame(v))
        except KeyskelError as exc:
            self._report(f"cannot accept: {exc}", error=True)
            return
        if n:
            self.triangulate()
        self._report(f"{plural(n, 'proposal')} placed as keys in {self.session.names[v]}")

    def _go_to_flag(self, row: int, _col: int) -> None:
        frame_item, view_item = self.flag_table.item(row, 1), self.flag_table.item(row, 0)
        if frame_item is None or view_item is None:
            return
        frame = int(frame_item.text())
        view = self.session.names.index(view_item.text())
        ctrl = self.session.owners[view]
        fa = ctrl.store.frame_axis
        if fa is not None:
            world = self.viewer.dims.ndim - ctrl.points.ndim + fa
            self.viewer.dims.set_current_step(world, frame)
        self.viewer.layers.selection.active = ctrl.points

    def _save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save 3D points", "points3d.csv", "CSV (*.csv)")
        if path:
            self.save_csv(path)

    def _save_views(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save views as one V7 item", "views.json", "V7 Darwin JSON (*.json)"
        )
        if path:
            self.save_views(path)

    def save_views(self, path: str) -> None:
        """Write the views as one multi-slot V7 item to ``path``."""
        if self.session is None:
            self._report("make views first", error=True)
            return
        try:
            written = self.session.save_views(path)
        except (KeyskelError, OSError) as exc:
            self._report(f"cannot save: {exc}", error=True)
            return
        self._report(f"saved {len(self.session.names)} views as one V7 item: {written[0]}")

    def save_csv(self, path: str) -> None:
        """Write the last triangulation to ``path``."""
        try:
            self.session.save_points(path)
        except (KeyskelError, OSError) as exc:
            self._report(f"cannot save: {exc}", error=True)
            return
        self._report(f"saved {path}")

    def _toggle_out_of_slice(self, on: bool) -> None:
        from .._napari.out_of_slice import hide_out_of_slice, show_out_of_slice

        layer = self.viewer.layers.selection.active
        try:
            if on:
                depth = show_out_of_slice(layer)
                self._report(f"showing nodes within {depth:g} slices, faded by distance")
            else:
                hide_out_of_slice(layer)
                self._report("")
        except KeyskelError as exc:
            self._report(str(exc), error=True)
            with _Blocked(self.out_of_slice):
                self.out_of_slice.setChecked(False)


def _disconnect(events: Any, slot: Any) -> None:
    """Stop listening to the layer list once the panel is gone."""
    events.inserted.disconnect(slot)
    events.removed.disconnect(slot)


class _Blocked:
    """Block a widget's signals in a ``with`` block."""

    def __init__(self, widget: QWidget) -> None:
        self.widget = widget

    def __enter__(self) -> None:
        self.widget.blockSignals(True)

    def __exit__(self, *exc: object) -> None:
        self.widget.blockSignals(False)
