"""Skeleton editor dock: nodes, edges, colours, left/right pairs, presets, skeleton files.

The editor edits an immutable :class:`~napari_keyskel.core.skeleton.Skeleton` and emits
:attr:`SkeletonEditor.skeleton_changed` with the new skeleton and the node mapping (``mapping[k]``
is the old index of new node ``k``, ``-1`` for a new node; see
:mod:`napari_keyskel.core.skeleton_edit`), so the owner applies it to the layer live. Dialogs are
attributes (``confirm``, ``pick_color``, ``pick_open_path``, ``pick_save_path``) that tests
replace.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt, Signal
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
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.presets import PRESETS, get_preset
from ..core.skeleton import SKELETON_FILE_SUFFIX, Skeleton
from ..core.skeleton_edit import mapping_by_name
from ..errors import SkeletonError

__all__ = ["SkeletonEditor"]


def _ask(title: str, text: str) -> bool:
    box = QMessageBox.question(None, title, text)
    return box == QMessageBox.StandardButton.Yes


def _pick_color(initial: QColor) -> QColor:
    return QColorDialog.getColor(initial, None, "Node colour")


def _open_path() -> str:
    return QFileDialog.getOpenFileName(
        None, "Load skeleton", "", f"Skeleton (*{SKELETON_FILE_SUFFIX} *.json)"
    )[0]


def _save_path() -> str:
    return QFileDialog.getSaveFileName(None, "Save skeleton", "", f"Skeleton (*{SKELETON_FILE_SUFFIX})")[0]


def _swatch(color: str) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(QColor(color))
    return QIcon(pix)


class SkeletonEditor(QWidget):
    """Edit a skeleton; every change emits :attr:`skeleton_changed` ``(Skeleton, mapping)``.

    Attributes
    ----------
    placed_count
        ``f(old_node_index) -> int``: points of a node in the annotations (asked before dropping).
    confirm, pick_color, pick_open_path, pick_save_path
        Dialog hooks (replace them in tests).

    """

    skeleton_changed = Signal(object, object)

    def __init__(self, skeleton: Skeleton | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keyskel-skeleton-editor")
        self.skeleton: Skeleton | None = None
        self.placed_count: Callable[[int], int] | None = None
        self.confirm: Callable[[str, str], bool] = _ask
        self.pick_color: Callable[[QColor], QColor] = _pick_color
        self.pick_open_path: Callable[[], str] = _open_path
        self.pick_save_path: Callable[[], str] = _save_path
        self._build()
        self.set_skeleton(skeleton)

    # -- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.title = QLabel("no skeleton")
        layout.addWidget(self.title)

        nodes = QGroupBox("Nodes (select two to connect or pair)")
        grid = QGridLayout(nodes)
        self.node_list = QListWidget()
        self.node_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        grid.addWidget(self.node_list, 0, 0, 6, 1)
        self.up_button = QPushButton("Up")
        self.down_button = QPushButton("Down")
        self.color_button = QPushButton("Colour…")
        self.remove_button = QPushButton("Remove")
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

        self.add_button.clicked.connect(self.add_node)
        self.name_edit.returnPressed.connect(self.add_node)
        self.rename_button.clicked.connect(self.rename_node)
        self.up_button.clicked.connect(lambda: self.move_node(-1))
        self.down_button.clicked.connect(lambda: self.move_node(+1))
        self.remove_button.clicked.connect(self.remove_node)
        self.color_button.clicked.connect(self.choose_color)
        self.connect_button.clicked.connect(self.connect_nodes)
        self.disconnect_button.clicked.connect(self.disconnect_nodes)
        self.pair_button.clicked.connect(self.pair_nodes)
        self.unpair_button.clicked.connect(self.unpair_nodes)
        self.preset_button.clicked.connect(self.use_preset)
        self.load_button.clicked.connect(self.load_file)
        self.save_button.clicked.connect(self.save_file)
        self.node_list.itemSelectionChanged.connect(self._on_selection)

    # -- state ----------------------------------------------------------------------------------
    def set_skeleton(self, skeleton: Skeleton | None) -> None:
        """Show ``skeleton`` (no signal)."""
        self.skeleton = skeleton
        keep = self.selected_nodes()
        self.node_list.blockSignals(True)
        self.node_list.clear()
        self.edge_list.clear()
        self.pair_list.clear()
        enabled = skeleton is not None
        for w in self.findChildren(QPushButton):
            w.setEnabled(enabled or w in (self.preset_button, self.load_button))
        if skeleton is None:
            self.title.setText("no skeleton: pick an annotation layer")
            self.node_list.blockSignals(False)
            return
        self.title.setText(f"{skeleton.name}: {skeleton.n_nodes} nodes, {len(skeleton.edges)} edges")
        for k, (name, color) in enumerate(zip(skeleton.nodes, skeleton.colors, strict=True)):
            item = QListWidgetItem(_swatch(color), name)
            item.setData(Qt.ItemDataRole.UserRole, k)
            self.node_list.addItem(item)
            item.setSelected(k in keep)
        for i, j in skeleton.edges:
            self.edge_list.addItem(f"{skeleton.nodes[i]} — {skeleton.nodes[j]}")
        for i, j in skeleton.flip_pairs:
            self.pair_list.addItem(f"{skeleton.nodes[i]} ↔ {skeleton.nodes[j]}")
        self.node_list.blockSignals(False)

    def selected_nodes(self) -> list[int]:
        """Indices of the selected nodes, in list order."""
        return sorted(self.node_list.row(it) for it in self.node_list.selectedItems())

    def select_nodes(self, nodes: list[int | str]) -> None:
        """Select nodes by index or name (for code and tests)."""
        assert self.skeleton is not None
        want = {self.skeleton.index(n) for n in nodes}
        self.node_list.clearSelection()
        for k in want:
            item = self.node_list.item(k)
            if item is not None:
                item.setSelected(True)

    def _on_selection(self) -> None:
        sel = self.selected_nodes()
        if len(sel) == 1 and self.skeleton is not None:
            self.name_edit.setText(self.skeleton.nodes[sel[0]])
            self.name_edit.selectAll()  # typing replaces the name

    def _emit(self, new: Skeleton, mapping: list[int] | np.ndarray, note: str, select: list[int]) -> None:
        self.set_skeleton(new)
        self.node_list.clearSelection()
        for k in select:
            if 0 <= k < self.node_list.count():
                item = self.node_list.item(k)
            if item is not None:
                item.setSelected(True)
        self.message.setText(note)
        self.skeleton_changed.emit(new, np.asarray(mapping, np.intp))

    def _try(self, make: Callable[[Skeleton], Skeleton]) -> Skeleton | None:
        """``make(skeleton)``, or None (said in the message line) when it refuses."""
        assert self.skeleton is not None  # (every action checks it first)
        try:
            return make(self.skeleton)
        except SkeletonError as exc:
            self.message.setText(f"not changed: {exc}")
            return None

    def _two(self, what: str) -> tuple[int, int] | None:
        sel = self.selected_nodes()
        if len(sel) != 2:
            self.message.setText(f"select exactly two nodes to {what}")
            return None
        return sel[0], sel[1]

    def _identity(self) -> list[int]:
        assert self.skeleton is not None
        return list(range(self.skeleton.n_nodes))

    # -- actions --------------------------------------------------------------------------------
    def add_node(self) -> None:
        """Append a node named as in the name field."""
        if self.skeleton is None:
            return
        name = self.name_edit.text().strip()
        new = self._try(lambda sk: sk.add_node(name))
        if new is not None:
            self._emit(new, [*self._identity(), -1], f"added {name!r}", [new.n_nodes - 1])

    def rename_node(self) -> None:
        """Rename the selected node to the name field."""
        sel = self.selected_nodes()
        if self.skeleton is None or len(sel) != 1:
            self.message.setText("select one node to rename")
            return
        old, name = self.skeleton.nodes[sel[0]], self.name_edit.text().strip()
        new = self._try(lambda sk: sk.rename_node(sel[0], name))
        if new is not None:
            self._emit(new, self._identity(), f"renamed {old!r} to {name!r}", sel)

    def move_node(self, step: int) -> None:
        """Move the selected node up (``-1``) or down (``+1``) in the node order."""
        sel = self.selected_nodes()
        if self.skeleton is None or len(sel) != 1:
            self.message.setText("select one node to move")
            return
        i, j = sel[0], sel[0] + step
        if not 0 <= j < self.skeleton.n_nodes:
            return
        order = self._identity()
        order[i], order[j] = order[j], order[i]
        new = self._try(lambda sk: sk.reorder_nodes(order))
        if new is not None:
            self._emit(new, order, f"moved {self.skeleton.nodes[i]!r}", [j])

    def remove_node(self) -> None:
        """Remove the selected node, asking first when it has placed points."""
        sel = self.selected_nodes()
        if self.skeleton is None or len(sel) != 1:
            self.message.setText("select one node to remove")
            return
        i = sel[0]
        name = self.skeleton.nodes[i]
        n = self.placed_count(i) if self.placed_count is not None else 0
        if n and not self.confirm("Remove node", f"Node {name!r} has {n} placed points. Delete them?"):
            self.message.setText(f"kept {name!r}")
            return
        new = self._try(lambda sk: sk.remove_node(i))
        if new is not None:
            keep = [k for k in self._identity() if k != i]
            self._emit(new, keep, f"removed {name!r}" + (f" and its {n} points" if n else ""), [])

    def choose_color(self) -> None:
        """Pick a colour for the selected nodes."""
        sel = self.selected_nodes()
        if self.skeleton is None or not sel:
            self.message.setText("select nodes to colour")
            return
        color = self.pick_color(QColor(self.skeleton.colors[sel[0]]))
        if not color.isValid():
            return
        new = self.skeleton
        for k in sel:
            new = new.set_color(k, color.name())
        self._emit(new, self._identity(), f"colour {color.name()}", sel)

    def connect_nodes(self) -> None:
        """Add an edge between the two selected nodes."""
        pair = self._two("connect")
        if pair is not None and self.skeleton is not None:
            new = self._try(lambda sk: sk.add_edge(*pair))
            if new is not None:
                a, b = (self.skeleton.nodes[k] for k in pair)
                self._emit(new, self._identity(), f"connected {a!r} and {b!r}", list(pair))

    def disconnect_nodes(self) -> None:
        """Remove the edge between the two selected nodes (or the edge selected in the list)."""
        if self.skeleton is None:
            return
        row = self.edge_list.currentRow()
        pair: tuple[int, int] | None
        if len(self.selected_nodes()) != 2 and 0 <= row < len(self.skeleton.edges):
            pair = self.skeleton.edges[row]
        else:
            pair = self._two("disconnect")
        if pair is not None:
            new = self._try(lambda sk: sk.remove_edge(*pair))
            if new is not None:
                self._emit(new, self._identity(), "edge removed", list(pair))

    def pair_nodes(self) -> None:
        """Make the two selected nodes a left/right pair."""
        pair = self._two("pair")
        if pair is not None and self.skeleton is not None:
            new = self._try(lambda sk: sk.set_flip_pair(*pair))
            if new is not None:
                self._emit(new, self._identity(), "left/right pair set", list(pair))

    def unpair_nodes(self) -> None:
        """Unpair the selected nodes."""
        sel = self.selected_nodes()
        if self.skeleton is None or not sel:
            return
        new = self.skeleton
        for k in sel:
            new = new.set_flip_pair(k, None)
        self._emit(new, self._identity(), "unpaired", sel)

    def replace_skeleton(self, new: Skeleton, what: str) -> bool:
        """Switch to another skeleton, keeping nodes by name (asks before dropping points)."""
        if self.skeleton is None:
            self._emit(new, np.full(new.n_nodes, -1), what, [])
            return True
        mapping = mapping_by_name(self.skeleton, new)
        dropped = sorted(set(range(self.skeleton.n_nodes)) - set(mapping[mapping >= 0].tolist()))
        n = sum(self.placed_count(k) for k in dropped) if self.placed_count is not None else 0
        names = [self.skeleton.nodes[k] for k in dropped]
        if n and not self.confirm("Replace skeleton", f"Nodes {names} have {n} placed points. Delete them?"):
            self.message.setText("skeleton kept")
            return False
        self._emit(new, mapping, what, [])
        return True

    def use_preset(self) -> None:
        """Switch to the preset chosen in the combo box."""
        name = self.preset_combo.currentText()
        self.replace_skeleton(get_preset(name), f"preset {name}")

    def load_file(self) -> None:
        """Load a skeleton file (``*.skeleton.json``)."""
        path = self.pick_open_path()
        if not path:
            return
        try:
            new = Skeleton.load(path)
        except SkeletonError as exc:
            self.message.setText(str(exc))
            return
        self.replace_skeleton(new, f"loaded {Path(path).name}")

    def save_file(self) -> None:
        """Save the skeleton to a file."""
        if self.skeleton is None:
            return
        path = self.pick_save_path()
        if not path:
            return
        if not str(path).endswith(".json"):
            path = str(path) + SKELETON_FILE_SUFFIX
        self.skeleton.save(path)
        self.message.setText(f"saved {Path(path).name}")
