"""The Keyskel dock: pick an annotation layer, annotate, edit its skeleton, see its keyframes.

Tabs: *Annotate* (layer picker, new layer from a preset, display options, the next node to
place, undo/redo and the key bindings), *Skeleton* (:class:`SkeletonEditor`, applied to the layer
live), *Review*, *3D / views* and *Models*; the keyframe timeline is docked across the bottom of
the window (:func:`~napari_keyskel._qt.timeline_dock.open_timeline`). Edits from every tab go
through the layer's owner (:class:`~napari_keyskel._napari.owner.LayerOwner`, found with
:func:`~napari_keyskel._napari.registry.owner_of`), so they are undoable and redrawn once, for
what they touched; the dock repaints its status line from the owner's ``changed``.
"""

from __future__ import annotations

import html
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core import skeleton_edit
from ..core.plain import store_from_plain
from ..core.presets import DEFAULT_PRESET, PRESETS, get_preset
from ..core.skeleton import Skeleton
from ..core.store import AnnotationStore, Change
from ..core.wording import plural
from ..errors import KeyskelError
from .skeleton_editor import SkeletonEditor
from .timeline_dock import open_timeline

if TYPE_CHECKING:
    import napari

    from .._napari.bindings import Bindings
    from .._napari.owner import LayerOwner

__all__ = ["KeyskelDock", "is_keyskel_layer"]


def is_keyskel_layer(layer: Any) -> bool:
    """True for a Points layer carrying a keyskel store in its metadata."""
    from .._napari.registry import is_keyskel_points

    return is_keyskel_points(layer)


class KeyskelDock(QWidget):
    """Main dock: annotation layer picker, skeleton, display options, keys, editor, timeline."""

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from .._napari.napari_private import unwrap_proxy

        self.viewer = unwrap_proxy(napari_viewer)  # see napari_private: owners need the real one
        self.setObjectName("keyskel-dock")
        self._wired: weakref.WeakSet[LayerOwner] = weakref.WeakSet()
        #: How many times the status line was redrawn (for tests and profiles).
        self.status_redraws = 0
        self._counts = _Counts()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)

        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The keyskel annotation layer the dock works on")
        pick = QFormLayout()
        pick.addRow("Annotation layer", self.layer_combo)
        outer.addLayout(pick)

        self.tabs = QTabWidget()
        outer.addWidget(self.tabs, 1)
        annotate = QWidget()
        layout = QVBoxLayout(annotate)
        layout.setContentsMargins(2, 2, 2, 2)
        self.tabs.addTab(_scrolled(annotate), "Annotate")

        new_box = QGroupBox("New annotation layer")
        new_row = QHBoxLayout(new_box)
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(sorted(PRESETS))
        self.preset_combo.setCurrentText(DEFAULT_PRESET)
        self.new_button = QPushButton("Create")
        self.new_button.setToolTip("Add an empty annotation layer with this skeleton over the selected image")
        new_row.addWidget(self.preset_combo, 1)
        new_row.addWidget(self.new_button)
        layout.addWidget(new_box)

        sk_box = QGroupBox("Skeleton")
        sk_layout = QVBoxLayout(sk_box)
        self.skeleton_label = QLabel("no annotation layer")
        self.node_list = QListWidget()
        self.node_list.setMaximumHeight(150)
        sk_layout.addWidget(self.skeleton_label)
        sk_layout.addWidget(self.node_list)
        layout.addWidget(sk_box)

        place_box = QGroupBox("Placing")
        place = QVBoxLayout(place_box)
        self.next_node_label = QLabel("")
        self.next_node_label.setStyleSheet("font-weight: bold")
        row = QHBoxLayout()
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        row.addWidget(self.undo_button)
        row.addWidget(self.redo_button)
        place.addWidget(self.next_node_label)
        place.addLayout(row)
        layout.addWidget(place_box)

        view_box = QGroupBox("Display")
        view_form = QFormLayout(view_box)
        self.color_by = QComboBox()
        self.color_by.addItems(["node", "instance"])
        self.show_names = QCheckBox("show node names")
        view_form.addRow("Colour by", self.color_by)
        view_form.addRow(self.show_names)
        layout.addWidget(view_box)

        keys_box = QGroupBox("Keys (on the annotation layer)")
        keys = QVBoxLayout(keys_box)
        keys.setContentsMargins(2, 2, 2, 2)
        self.shortcut_help = QLabel()
        self.shortcut_help.setWordWrap(True)  # the table wraps to the dock's width: no sideways scrolling
        self.shortcut_help.setTextFormat(Qt.TextFormat.RichText)
        self.shortcut_scroll = QScrollArea()
        self.shortcut_scroll.setWidget(self.shortcut_help)
        self.shortcut_scroll.setWidgetResizable(True)
        self.shortcut_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.shortcut_scroll.setMaximumHeight(200)
        keys.addWidget(self.shortcut_scroll)
        layout.addWidget(keys_box)
        layout.addStretch(1)

        self.editor = SkeletonEditor()
        self.timeline = open_timeline(self.viewer)  # docked across the bottom of the window
        from .multiview_dock import MultiViewPanel  # 3D and multi-view tab
        from .review_dock import ReviewDock  # the Review tab (napari_keyskel/_qt/review_dock.py)

        # the tabs after "Annotate": (widget, title); add a tab with one line here
        self.review = ReviewDock(self.viewer)
        self.review.hide_layer_picker()  # it reviews the layer picked above
        extra_tabs: list[tuple[QWidget, str]] = [
            (_scrolled(self.editor), "Skeleton"),
            (self.review, "Review"),
            (MultiViewPanel(self.viewer), "3D / views"),
        ]
        for widget, title in extra_tabs:
            self.tabs.addTab(widget, title)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        outer.addWidget(self.status)

        self._fill_shortcuts()
        self.new_button.clicked.connect(self.create_layer)
        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.viewer.layers.selection.events.active.connect(self._on_active)
        self.destroyed.connect(lambda *_: _stop_following(self.viewer, self._on_active))
        self.show_names.toggled.connect(self._on_show_names)
        self.color_by.currentTextChanged.connect(self._on_color_by)
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        self.editor.skeleton_changed.connect(self._on_skeleton_changed)
        self.editor.create_requested.connect(self.create_layer)
        self.editor.draft_closed.connect(self._on_layer_changed)
        self.timeline.edit_hook = self._timeline_edit
        self.timeline.axis_hook = self._set_frame_axis
        from .save_hooks import install

        install(self.viewer)  # every keyskel layer gets an owner (and edges layer); Ctrl-S, autosave
        # after the owners' own handlers: a new layer has its owner when we look
        self.viewer.layers.events.inserted.connect(self.refresh_layers, position="last")
        self.viewer.layers.events.removed.connect(self.refresh_layers, position="last")
        self.viewer.dims.events.current_step.connect(self._on_step, position="last")
        self.refresh_layers()
        from .models_dock import ModelsPanel  # the Models tab: proposals, propagation

        self.tabs.addTab(ModelsPanel(self.viewer, self.current_layer), "Models")
        self.tabs.currentChanged.connect(self._size_by_current_tab)
        self._size_by_current_tab()

    def _size_by_current_tab(self, *_: Any) -> None:
        """The dock is as tall as the tab shown needs, not the tallest tab (the timeline can grow)."""
        current = self.tabs.currentWidget()
        for i in range(self.tabs.count()):
            page = self.tabs.widget(i)
            if page is None:
                continue
            policy = QSizePolicy.Policy.Preferred if page is current else QSizePolicy.Policy.Ignored
            page.setSizePolicy(QSizePolicy.Policy.Preferred, policy)

    def _fill_shortcuts(self) -> None:
        from .._napari.bindings import KEYS

        rows = [(key, text) for key, _, text in KEYS]
        rows += [("click (P mode)", "place the next node"), ("drag (S mode)", "move a node (a key)")]
        cells = "".join(
            f"<tr><td style='white-space:nowrap; padding-right:6px'><b>{html.escape(k)}</b></td>"
            f"<td>{html.escape(t)}</td></tr>"
            for k, t in rows
        )
        self.shortcut_help.setText(f"<table cellspacing='0' cellpadding='1' width='100%'>{cells}</table>")

    # -- layers -------------------------------------------------------------------------------
    def annotation_layers(self) -> list[Any]:
        """The keyskel Points layers in the viewer."""
        return [layer for layer in self.viewer.layers if is_keyskel_layer(layer)]

    def current_layer(self) -> Any | None:
        """The layer picked in the combo box, if any."""
        name = self.layer_combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401 (no .get)

    def owner(self) -> LayerOwner | None:
        """The owner of the current layer, if it has one."""
        layer = self.current_layer()
        if layer is None:
            return None
        from .._napari.registry import owner_of

        # never attach here: the dock reacts to layer insertions and removals (also while the
        # viewer closes), and attaching adds an edges layer; connect_viewer() attaches them all
        return owner_of(layer)

    def bindings(self) -> Bindings | None:
        """Key bindings and history of the current layer."""
        ctrl = self.owner()
        if ctrl is None:
            return None
        return ctrl.bindings

    def current_store(self) -> AnnotationStore | None:
        """The store behind the current layer (its owner's, edited live)."""
        ctrl = self.owner()
        if ctrl is not None:
            return ctrl.store
        layer = self.current_layer()
        return None if layer is None else store_from_plain(layer.metadata["keyskel"])

    def refresh_layers(self, event: Any = None) -> None:
        """Look at the annotation layers again (one added or removed, or a layer with a new owner)."""
        names = [layer.name for layer in self.annotation_layers()]
        current = self.layer_combo.currentText()
        inserted = getattr(event, "type", None) == "inserted" and is_keyskel_layer(
            getattr(event, "value", None)
        )
        if inserted:  # a new annotation layer (File > Open, a script, Create): work on it
            current = event.value.name
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        if current in names:
            self.layer_combo.setCurrentText(current)
        self.layer_combo.blockSignals(False)
        self._on_layer_changed()

    def _wire(self, ctrl: LayerOwner, b: Bindings) -> None:
        """Connect a layer's signals once (the handlers act only while it is the current one).

        The status line is redrawn once per edit (the owner's ``changed``) and once per frame step
        (the viewer's ``current_step``); the bottom timeline follows the owner by itself.
        """
        if ctrl in self._wired:
            return
        self._wired.add(ctrl)

        def on_changed(changes: list[Change]) -> None:
            self._counts.forget(ctrl.store, changes)
            if self.owner() is ctrl:
                self._update_status()
                self._follow_skeleton()

        def on_message(text: str) -> None:
            if self.owner() is ctrl:
                self.next_node_label.setText(b.next_node_text())
                self.status.setText(text)

        ctrl.changed.connect(on_changed)
        b.message.connect(on_message)
        ctrl.names_toggled.connect(lambda _: self._sync_names_box() if self.owner() is ctrl else None)

    def _on_active(self, event: Any = None) -> None:
        """Selecting an annotation layer in napari's layer list makes it the dock's layer."""
        layer = self.viewer.layers.selection.active
        if is_keyskel_layer(layer) and layer.name != self.layer_combo.currentText():
            self.layer_combo.setCurrentText(layer.name)

    def _on_layer_changed(self, *_: Any) -> None:
        ctrl = self.owner()
        b = self.bindings()
        if ctrl is not None and b is not None:
            self._wire(ctrl, b)
        self._show_skeleton()
        store = self.current_store()
        if not self.editor.has_draft:  # a new skeleton in the making stays until created or discarded
            self.editor.set_skeleton(None if store is None else store.skeleton)
        self.editor.placed_count = None if store is None else (lambda k: skeleton_edit.placed_count(store, k))
        self.timeline.set_layer(self.current_layer() if store is not None else None, store)
        if store is not None:
            self.review.set_layer(self.layer_combo.currentText())
        self.next_node_label.setText("" if b is None else b.next_node_text())
        self._sync_names_box()
        self._update_status()

    def _show_skeleton(self) -> None:
        store = self.current_store()
        self.node_list.clear()
        if store is None:
            self.skeleton_label.setText("no annotation layer: create one, or open a V7 / COCO file")
            return
        sk = store.skeleton
        self.skeleton_label.setText(
            f"class {sk.name!r}: {plural(sk.n_nodes, 'node')}, {plural(len(sk.edges), 'edge')}, "
            f"{plural(len(sk.flip_pairs), 'left/right pair')}"
        )
        for name, color in zip(sk.nodes, sk.colors, strict=True):
            item = QListWidgetItem(name)
            item.setForeground(QColor(color))
            self.node_list.addItem(item)

    def _on_step(self, event: Any = None) -> None:
        self._update_status()

    def _update_status(self, event: Any = None) -> None:
        """Status line; the counts are recounted for the tracks an edit touched only."""
        self.status_redraws += 1
        store = self.current_store()
        if store is None:
            self.status.setText("")
            return
        c = self._counts.of(store)
        frame = self._current_frame(store)
        here = len(store.frame_points(frame)) if frame is not None else 0
        self.status.setText(
            f"frame {frame}: {plural(here, 'point')} · {plural(c['instances'], 'instance')} · "
            f"{plural(c['keys'], 'key')} · {c['interpolated']} interpolated"
        )
        b = self.bindings()
        if b is not None:
            self.next_node_label.setText(b.next_node_text())
            self.undo_button.setEnabled(b.history.can_undo)
            self.redo_button.setEnabled(b.history.can_redo)

    def _current_frame(self, store: AnnotationStore) -> int | None:
        if store.frame_axis is None:
            return 0
        layer = self.current_layer()
        if layer is None:
            return None
        axis = self.viewer.dims.ndim - layer.ndim + store.frame_axis
        step = int(self.viewer.dims.current_step[axis])
        return step if store.n_frames is None or step < store.n_frames else None

    # -- edits from the tabs --------------------------------------------------------------------
    def _timeline_edit(self, label: str, fn: Any) -> list[Change]:
        b = self.bindings()
        if b is None:
            return fn()
        return b.record(label, fn, exact=False)  # (the tab's edits: compared whole)

    def _on_skeleton_changed(self, skeleton: Any, mapping: np.ndarray) -> None:
        """Apply an edited skeleton to the layer (one undo step)."""
        b = self.bindings()
        store = self.current_store()
        if b is None or store is None:
            return
        try:
            with b.history.edit("edit skeleton"):
                skeleton_edit.apply_skeleton(store, skeleton, mapping)
        except KeyskelError as exc:
            self.status.setText(f"skeleton not changed: {exc}")
            self.editor.set_skeleton(store.skeleton)
            return
        with b.applying():
            b.owner.reload_skeleton()  # (its redraw: the timeline and the status follow)
        self._show_skeleton()

    def _set_frame_axis(self, world_axis: int) -> None:
        """Interpolate along another viewer axis (only while the layer has no annotations)."""
        ctrl, b = self.owner(), self.bindings()
        if ctrl is None or b is None:
            return
        store = ctrl.store
        if len(store):
            raise KeyskelError("the interpolation axis can only change while the layer has no instances")
        layer_axis = world_axis - (self.viewer.dims.ndim - ctrl.points.ndim)
        if store.frame_axis is None or not 0 <= layer_axis < ctrl.points.ndim:
            raise KeyskelError("this layer has no axis to interpolate along")
        store.frame_axis = layer_axis
        store.n_frames = int(self.viewer.dims.nsteps[world_axis])
        b.history.clear()
        ctrl.refresh()
        self.timeline.set_layer(ctrl.points, store)

    def undo(self) -> None:
        """Undo the last edit of the current layer."""
        b = self.bindings()
        if b is not None:
            b.undo()
            self._after_replay()

    def redo(self) -> None:
        """Redo the last undone edit of the current layer."""
        b = self.bindings()
        if b is not None:
            b.redo()
            self._after_replay()

    def _after_replay(self) -> None:
        self._follow_skeleton()

    def _follow_skeleton(self) -> None:
        """Show the layer's skeleton in the editor and the list (after undo/redo of a skeleton edit)."""
        store = self.current_store()
        if store is not None and not self.editor.has_draft and self.editor.skeleton is not store.skeleton:
            self.editor.set_skeleton(store.skeleton)
            self._show_skeleton()

    # -- actions ------------------------------------------------------------------------------
    def create_layer(self, skeleton: Skeleton | None = None) -> Any:
        """Add an empty annotation layer (and its edges) over the selected image.

        Its skeleton is ``skeleton`` (the Skeleton tab's new one), else the preset picked here; the
        layer is named after the class, which files write as the V7 class / COCO category.
        """
        from napari.layers import Image

        from .._napari.adding import add_store_layer, empty_store

        if not isinstance(skeleton, Skeleton):  # (a button's clicked(bool) passes a bool)
            skeleton = get_preset(self.preset_combo.currentText())
        image = next((ly for ly in self.viewer.layers.selection if isinstance(ly, Image)), None)
        image = image or next((ly for ly in reversed(self.viewer.layers) if isinstance(ly, Image)), None)
        store = empty_store(skeleton, self.viewer, image)
        points = add_store_layer(self.viewer, store, f"{skeleton.name} keypoints", image)
        if self.editor.has_draft and skeleton is self.editor.skeleton:
            self.editor.leave_draft()  # the draft is the new layer's skeleton now
        self.layer_combo.setCurrentText(points.name)
        self.viewer.layers.selection.active = points
        self._on_layer_changed()
        self.status.setText(f"created {points.name!r} (class {skeleton.name!r}) over {_named(image)}")
        return points

    def _on_show_names(self, checked: bool) -> None:
        ctrl = self.owner()
        if ctrl is not None:
            ctrl.show_names(checked)

    def _sync_names_box(self) -> None:
        """Tick "show node names" as the current layer shows them (its names layer exists)."""
        ctrl = self.owner()
        self.show_names.blockSignals(True)
        self.show_names.setChecked(bool(ctrl is not None and ctrl.names_shown))
        self.show_names.blockSignals(False)

    def _on_color_by(self, mode: str) -> None:
        ctrl = self.owner()
        if ctrl is not None:
            ctrl.set_color_by(mode)


class _Counts:
    """Store-wide counts for the status line, kept per track and recounted for touched tracks only."""

    def __init__(self) -> None:
        self._store: weakref.ref[AnnotationStore] | None = None  # weak: a removed layer's store goes
        self._per_track: dict[int, tuple[int, int, int]] = {}  # id -> (placed, keys, id(coords))

    def _is_current(self, store: AnnotationStore) -> bool:
        return self._store is not None and self._store() is store

    def forget(self, store: AnnotationStore, changes: list[Change]) -> None:
        """Recount the tracks of ``changes`` next time (every track for a skeleton change)."""
        if self._is_current(store):
            for c in changes:
                self._per_track.pop(c.track_id, None)

    def of(self, store: AnnotationStore) -> dict[str, int]:
        """``instances``, ``points``, ``keys`` and ``interpolated`` of ``store``."""
        if not self._is_current(store):
            self._store, self._per_track = weakref.ref(store), {}
        for tid in self._per_track.keys() - store.tracks.keys():
            del self._per_track[tid]
        for tid, t in store.tracks.items():
            if tid not in self._per_track or self._per_track[tid][2:] != (id(t.coords),):
                m = np.isfinite(t.coords[..., 0])
                self._per_track[tid] = (int(m.sum()), int((t.is_key & m).sum()), id(t.coords))
        placed = sum(v[0] for v in self._per_track.values())
        keys = sum(v[1] for v in self._per_track.values())
        return {"instances": len(store.tracks), "points": placed, "keys": keys, "interpolated": placed - keys}


def _scrolled(page: QWidget) -> QScrollArea:
    """A tab page that scrolls: the dock stays short enough for the timeline below to grow."""
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


def _named(layer: Any) -> str:
    return "the viewer's canvas (no image)" if layer is None else repr(layer.name)


def _stop_following(viewer: Any, slot: Any) -> None:
    """Stop following napari's layer selection once the dock is gone."""
    viewer.layers.selection.events.active.disconnect(slot)
