"""The widgets of the skeleton editor (:class:`SkeletonEditorUi`) and its dialogs; no behaviour.

:class:`~napari_keyskel._qt.skeleton_editor.SkeletonEditor` builds on it and connects the buttons.
"""

from __future__ import annotations

from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.presets import PRESETS
from ..core.skeleton import SKELETON_FILE_SUFFIX

__all__ = ["SkeletonEditorUi", "ask", "open_path", "pick_color", "save_path", "swatch"]


def ask(title: str, text: str) -> bool:
    """Yes/No question; True for Yes."""
    box = QMessageBox.question(None, title, text)
    return box == QMessageBox.StandardButton.Yes


def pick_color(initial: QColor) -> QColor:
    """Qt's colour dialog (an invalid colour when cancelled)."""
    return QColorDialog.getColor(initial, None, "Node colour")


def open_path() -> str:
    """A skeleton file to load ("" when cancelled)."""
    return QFileDialog.getOpenFileName(
        None, "Load skeleton", "", f"Skeleton (*{SKELETON_FILE_SUFFIX} *.json)"
    )[0]


def save_path() -> str:
    """Where to save the skeleton ("" when cancelled)."""
    return QFileDialog.getSaveFileName(None, "Save skeleton", "", f"Skeleton (*{SKELETON_FILE_SUFFIX})")[0]


def swatch(color: str) -> QIcon:
    """A 12-pixel square of ``color`` for the node list."""
    pix = QPixmap(12, 12)
    pix.fill(QColor(color))
    return QIcon(pix)


class SkeletonEditorUi(QWidget):
    """The editor's widgets: class row, node list and buttons, edges and pairs, presets and files."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.title = QLabel("no skeleton")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)

        cls = QGroupBox("Class (the V7 class / COCO category)")
        cg = QGridLayout(cls)
        self.class_edit = QLineEdit()
        self.class_edit.setPlaceholderText("class name, e.g. mouse")
        self.class_button = QPushButton("Rename class")
        self.new_button = QPushButton("New skeleton")
        self.new_button.setToolTip("Start an empty skeleton of this class (no layer needed)")
        self.create_button = QPushButton("Create layer")
        self.create_button.setToolTip("Add an annotation layer with this skeleton over the selected image")
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Drop the new skeleton and show the layer's again")
        cg.addWidget(self.class_edit, 0, 0, 1, 2)
        cg.addWidget(self.class_button, 0, 2)
        cg.addWidget(self.new_button, 1, 0)
        cg.addWidget(self.create_button, 1, 1)
        cg.addWidget(self.discard_button, 1, 2)
        layout.addWidget(cls)

        nodes = QGroupBox("Nodes (select two to connect or pair)")
        grid = QGridLayout(nodes)
        self.node_list = QListWidget()
        self.node_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        grid.addWidget(self.node_list, 0, 0, 6, 1)
        self.up_button = QPushButton("Up")
        self.down_button = QPushButton("Down")
        self.color_button = QPushButton("Colour…")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected nodes (select several with Shift or Ctrl)")
        for r, b in enumerate((self.up_button, self.down_button, self.color_button, self.remove_button)):
            grid.addWidget(b, r, 1)
        name_row = QHBoxLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("node name")
        self.add_button = QPushButton("Add")
        self.rename_button = QPushButton("Rename")
        name_row.addWidget(self.name_edit, 1)
        name_row.addWidget(self.add_button)
        name_row.addWidget(self.rename_button)
        grid.addLayout(name_row, 6, 0, 1, 2)
        desc_row = QHBoxLayout()
        self.description_edit = QLineEdit()
        self.description_edit.setPlaceholderText("what the selected node means, for annotators")
        self.description_edit.setToolTip(
            "The node's description: shown beside the next node to place and in the instructions; "
            "saved in the skeleton file"
        )
        self.describe_button = QPushButton("Describe")
        desc_row.addWidget(self.description_edit, 1)
        desc_row.addWidget(self.describe_button)
        grid.addLayout(desc_row, 7, 0, 1, 2)
        layout.addWidget(nodes)

        links = QGroupBox("Edges and left/right pairs")
        lg = QGridLayout(links)
        self.connect_button = QPushButton("Connect")
        self.disconnect_button = QPushButton("Disconnect")
        self.pair_button = QPushButton("Pair L/R")
        self.unpair_button = QPushButton("Unpair")
        lg.addWidget(self.connect_button, 0, 0)
        lg.addWidget(self.disconnect_button, 0, 1)
        lg.addWidget(self.pair_button, 0, 2)
        lg.addWidget(self.unpair_button, 0, 3)
        self.edge_list = QListWidget()
        self.pair_list = QListWidget()
        self.edge_list.setMaximumHeight(110)
        self.pair_list.setMaximumHeight(110)
        lg.addWidget(self.edge_list, 1, 0, 1, 2)
        lg.addWidget(self.pair_list, 1, 2, 1, 2)
        layout.addWidget(links)

        files = QGroupBox("Presets and files")
        fr = QHBoxLayout(files)
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(sorted(PRESETS))
        self.preset_button = QPushButton("Use preset")
        self.load_button = QPushButton("Load…")
        self.save_button = QPushButton("Save…")
        for w in (self.preset_combo, self.preset_button, self.load_button, self.save_button):
            fr.addWidget(w)
        layout.addWidget(files)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        layout.addStretch(1)
