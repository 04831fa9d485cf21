"""The Keyskel dock: pick an annotation layer, see its skeleton, start a new annotation layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
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
    QVBoxLayout,
    QWidget,
)

from ..plain import store_from_plain
from ..presets import PRESETS, get_preset
from ..store import AnnotationStore

if TYPE_CHECKING:
    import napari

__all__ = ["KeyskelDock", "is_keyskel_layer"]


def is_keyskel_layer(layer: Any) -> bool:
    """True for a Points layer carrying a keyskel store in its metadata."""
    return getattr(layer, "_type_string", None) == "points" and "keyskel" in getattr(layer, "metadata", {})


class KeyskelDock(QWidget):
    """Main dock: annotation layer picker, skeleton overview, display options, new layer."""

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.setObjectName("keyskel-dock")
        layout = QVBoxLayout(self)

        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The keyskel annotation layer the dock works on")
        pick = QFormLayout()
        pick.addRow("Annotation layer", self.layer_combo)
        layout.addLayout(pick)

        new_box = QGroupBox("New annotation layer")
        new_row = QHBoxLayout(new_box)
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(sorted(PRESETS))
        self.new_button = QPushButton("Create")
        self.new_button.setToolTip("Add an empty annotation layer with this skeleton over the selected image")
        new_row.addWidget(self.preset_combo, 1)
        new_row.addWidget(self.new_button)
        layout.addWidget(new_box)

        sk_box = QGroupBox("Skeleton")
        sk_layout = QVBoxLayout(sk_box)
        self.skeleton_label = QLabel("no annotation layer")
        self.node_list = QListWidget()
        self.node_list.setMaximumHeight(180)
        sk_layout.addWidget(self.skeleton_label)
        sk_layout.addWidget(self.node_list)
        layout.addWidget(sk_box)

        view_box = QGroupBox("Display")
        view_form = QFormLayout(view_box)
        self.color_by = QComboBox()
        self.color_by.addItems(["node", "instance"])
        self.show_names = QCheckBox("show node names")
        view_form.addRow("Colour by", self.color_by)
        view_form.addRow(self.show_names)
        layout.addWidget(view_box)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.new_button.clicked.connect(self.create_layer)
        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.show_names.toggled.connect(self._on_show_names)
        self.color_by.currentTextChanged.connect(self._on_color_by)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.viewer.dims.events.current_step.connect(self._update_status)
        self._refresh_layers()

    # -- layers -------------------------------------------------------------------------------
    def annotation_layers(self) -> list[Any]:
        """The keyskel Points layers in the viewer."""
        return [layer for layer in self.viewer.layers if is_keyskel_layer(layer)]

    def current_layer(self) -> Any | None:
        """The layer picked in the combo box, if any."""
        name = self.layer_combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401 (no .get)

    def current_store(self) -> AnnotationStore | None:
        """The store behind the current layer (its arrays are shared with the layer's metadata)."""
        layer = self.current_layer()
        return None if layer is None else store_from_plain(layer.metadata["keyskel"])

    def _refresh_layers(self, event: Any = None) -> None:
        names = [layer.name for layer in self.annotation_layers()]
        current = self.layer_combo.currentText()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        if current in names:
            self.layer_combo.setCurrentText(current)
        self.layer_combo.blockSignals(False)
        self._on_layer_changed()

    def _on_layer_changed(self, *_: Any) -> None:
        store = self.current_store()
        self.node_list.clear()
        if store is None:
            self.skeleton_label.setText("no annotation layer: create one, or open a V7 / COCO file")
            self._update_status()
            return
        sk = store.skeleton
        self.skeleton_label.setText(
            f"{sk.name}: {sk.n_nodes} nodes, {len(sk.edges)} edges, {len(sk.flip_pairs)} left/right pairs"
        )
        for name, color in zip(sk.nodes, sk.colors, strict=True):
            item = QListWidgetItem(name)
            item.setForeground(QColor(color))
            self.node_list.addItem(item)
        self._update_status()

    def _update_status(self, event: Any = None) -> None:
        store = self.current_store()
        if store is None:
            self.status.setText("")
            return
        c = store.counts()
        frame = self._current_frame(store)
        here = len(store.frame_points(frame)) if frame is not None else 0
        self.status.setText(
            f"frame {frame}: {here} points · {c['instances']} instances · {c['keys']} keys · "
            f"{c['interpolated']} interpolated"
        )

    def _current_frame(self, store: AnnotationStore) -> int | None:
        if store.frame_axis is None:
            return 0
        layer = self.current_layer()
        axis = self.viewer.dims.ndim - layer.ndim + store.frame_axis
        step = int(self.viewer.dims.current_step[axis])
        return step if store.n_frames is None or step < store.n_frames else None

    # -- actions ------------------------------------------------------------------------------
    def create_layer(self) -> Any:
        """Add an empty annotation layer with the picked preset over the selected image."""
        from napari.layers import Image, Layer

        from .._napari.layerdata import edges_layer_tuple, points_layer_tuple

        skeleton = get_preset(self.preset_combo.currentText())
        image = next((ly for ly in self.viewer.layers.selection if isinstance(ly, Image)), None)
        image = image or next((ly for ly in reversed(self.viewer.layers) if isinstance(ly, Image)), None)
        shape = image.data.shape if image is not None else (1, 512, 512)
        if image is not None and image.rgb:
            shape = shape[:-1]
        n_frames = shape[0] if len(shape) >= 3 else None
        store = AnnotationStore(
            skeleton,
            coord_ndim=len(shape) - 1 if n_frames else len(shape),
            frame_axis=0 if n_frames else None,
            n_frames=n_frames,
        )
        name = f"{skeleton.name} keypoints"
        extra = {}
        if image is not None:
            extra = {"scale": np.asarray(image.scale), "translate": np.asarray(image.translate)}
        points = self.viewer.add_layer(Layer.create(*points_layer_tuple(store, 0, name=name, **extra)))
        data, attrs, kind = edges_layer_tuple(store, 0, name=points.name)
        self.viewer.add_layer(Layer.create(data, {**attrs, **extra}, kind))
        self.layer_combo.setCurrentText(points.name)
        return points

    def _on_show_names(self, checked: bool) -> None:
        layer = self.current_layer()
        if layer is not None:
            layer.text.visible = checked

    def _on_color_by(self, mode: str) -> None:
        from .._napari.layerdata import point_style

        layer = self.current_layer()
        store = self.current_store()
        if layer is None or store is None or len(layer.data) == 0:
            return
        from ..store import FramePoints

        f = layer.features
        nodes = np.asarray(f["node"].cat.codes if hasattr(f["node"], "cat") else
                           [store.skeleton.index(n) for n in f["node"]])  # fmt: skip
        fp = FramePoints(
            f["instance"].to_numpy(np.int64),
            nodes,
            np.asarray(layer.data),
            f["visibility"].to_numpy(np.int8),
            f["keyframe"].to_numpy(bool),
        )
        layer.face_color = point_style(store, fp, color_by=mode)["face_color"]
