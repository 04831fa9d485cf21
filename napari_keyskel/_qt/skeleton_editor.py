"""Skeleton editor dock: class name, nodes, edges, colours, left/right pairs, presets, files.

The editor edits an immutable :class:`~napari_keyskel.core.skeleton.Skeleton`. Showing a layer's
skeleton (:meth:`SkeletonEditor.set_skeleton`), every change emits
:attr:`SkeletonEditor.skeleton_changed` with the new skeleton and the node mapping (``mapping[k]``
is the old index of new node ``k``, ``-1`` for a new node; see
:mod:`napari_keyskel.core.skeleton_edit`), so the owner applies it to the layer live.

*New skeleton* starts a draft that belongs to no layer (it works before any layer exists): a
class name, then nodes, edges, pairs and colours; *Create layer* emits
:attr:`SkeletonEditor.create_requested` with it, and the owner adds the layer. The class name is
the skeleton's name, written to its file and, as V7 class / COCO category, to annotation files.
Dialogs are attributes (``confirm``, ``pick_color``, ``pick_open_path``, ``pick_save_path``) that
tests replace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QListWidgetItem, QPushButton, QWidget

from ..core.presets import get_preset
from ..core.skeleton import SKELETON_FILE_SUFFIX, Skeleton, check_class_name
from ..core.skeleton_edit import mapping_by_name
from ..core.wording import plural
from ..errors import SkeletonError
from .skeleton_editor_ui import SkeletonEditorUi, ask, open_path, pick_color, save_path, swatch

__all__ = ["SkeletonEditor"]


class SkeletonEditor(SkeletonEditorUi):
    """Edit a layer's skeleton live, or draft a new one from nothing and create its layer.

    Attributes
    ----------
    skeleton
        The skeleton shown (None: a draft with no node yet, or nothing at all).
    draft
        True while the skeleton shown belongs to no layer (a new one, or nothing to show).
    placed_count
        ``f(old_node_index) -> int``: points of a node in the layer's annotations (asked before
        dropping; unused for a draft).
    confirm, pick_color, pick_open_path, pick_save_path
        Dialog hooks (replace them in tests).

    """

    #: ``(Skeleton, mapping)`` after each edit of a layer's skeleton (never for a draft).
    skeleton_changed = Signal(object, object)
    #: ``Skeleton``: *Create layer* was pressed on a draft.
    create_requested = Signal(object)
    #: The draft was discarded: show the layer's skeleton again.
    draft_closed = Signal()

    def __init__(self, skeleton: Skeleton | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keyskel-skeleton-editor")
        self.skeleton: Skeleton | None = None
        self.draft = True
        self._draft_class = ""
        self.placed_count: Callable[[int], int] | None = None
        self.confirm: Callable[[str, str], bool] = ask
        self.pick_color: Callable[[QColor], QColor] = pick_color
        self.pick_open_path: Callable[[], str] = open_path
        self.pick_save_path: Callable[[], str] = save_path
        self._connect()
        self.set_skeleton(skeleton)

    def _connect(self) -> None:
        self.class_button.clicked.connect(self.rename_class)
        self.class_edit.returnPressed.connect(self._class_entered)
        self.new_button.clicked.connect(self.new_skeleton)
        self.create_button.clicked.connect(self.create_layer)
        self.discard_button.clicked.connect(self.discard)
        self.add_button.clicked.connect(self.add_node)
        self.name_edit.returnPressed.connect(self.add_node)
        self.rename_button.clicked.connect(self.rename_node)
        self.describe_button.clicked.connect(self.describe_node)
        self.description_edit.returnPressed.connect(self.describe_node)
        self.up_button.clicked.connect(lambda: self.move_node(-1))
        self.down_button.clicked.connect(lambda: self.move_node(+1))
        self.remove_button.clicked.connect(self.remove_nodes)
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
    @property
    def has_draft(self) -> bool:
        """True while a new skeleton is being drafted (a class name or nodes not on any layer)."""
        return self.draft and (self.skeleton is not None or bool(self._draft_class))

    @property
    def class_name(self) -> str:
        """The class name shown: the skeleton's name, or the draft's before its first node."""
        return self.skeleton.name if self.skeleton is not None else self._draft_class

    def set_skeleton(self, skeleton: Skeleton | None) -> None:
        """Show a layer's skeleton (None: no layer); a draft is dropped. Emits nothing."""
        self.draft = skeleton is None
        self._draft_class = ""
        self._show(skeleton)

    def leave_draft(self) -> None:
        """Forget the draft (its layer was created); the owner then shows the layer's skeleton."""
        self.set_skeleton(None)

    def _show(self, skeleton: Skeleton | None) -> None:
        self.skeleton = skeleton
        keep = self.selected_nodes()
        self.node_list.blockSignals(True)
        self.node_list.clear()
        self.edge_list.clear()
        self.pair_list.clear()
        if not self.class_edit.hasFocus() or skeleton is not None:
            self.class_edit.setText(self.class_name)
        have = skeleton is not None
        always = (self.preset_button, self.load_button, self.new_button, self.add_button, self.class_button)
        for w in self.findChildren(QPushButton):
            w.setEnabled(have or w in always)
        self.create_button.setEnabled(self.draft and have)
        self.discard_button.setEnabled(self.has_draft)
        self.class_button.setText("Rename class" if have else "Set class")
        self.title.setText(self._title())
        if skeleton is not None:
            for k, (name, color) in enumerate(zip(skeleton.nodes, skeleton.colors, strict=True)):
                item = QListWidgetItem(swatch(color), name)
                item.setData(Qt.ItemDataRole.UserRole, k)
                item.setToolTip(skeleton.descriptions[k] or "no description (type one under the list)")
                self.node_list.addItem(item)
                item.setSelected(k in keep)
            for i, j in skeleton.edges:
                self.edge_list.addItem(f"{skeleton.nodes[i]} — {skeleton.nodes[j]}")
            for i, j in skeleton.flip_pairs:
                self.pair_list.addItem(f"{skeleton.nodes[i]} ↔ {skeleton.nodes[j]}")
        self.node_list.blockSignals(False)
        sel = self.selected_nodes()
        one = len(sel) == 1 and skeleton is not None
        self.description_edit.setText(skeleton.descriptions[sel[0]] if one and skeleton is not None else "")
        self.description_edit.setEnabled(one)

    def _title(self) -> str:
        sk = self.skeleton
        if sk is None:
            if self._draft_class:
                return f"new skeleton of class {self._draft_class!r}: add its first node"
            return "no skeleton: type a class name and press New skeleton, use a preset, or pick a layer"
        what = (
            f"class {sk.name!r}: {plural(sk.n_nodes, 'node')}, {plural(len(sk.edges), 'edge')}, "
            f"{plural(len(sk.flip_pairs), 'left/right pair')}"
        )
        return f"new skeleton, {what} (not on a layer yet: Create layer)" if self.draft else what

    def selected_nodes(self) -> list[int]:
        """Indices of the selected nodes, in list order."""
        return sorted(self.node_list.row(it) for it in self.node_list.selectedItems())

    def select_nodes(self, nodes: list[int | str]) -> None:
        """Select nodes by index or name (for code and tests)."""
        assert self.skeleton is not None
        want = {self.skeleton.index(n) for n in nodes}
        self._select_rows(want)

    def _select_rows(self, rows: Iterable[int]) -> None:
        self.node_list.clearSelection()
        for k in rows:
            item = self.node_list.item(k)
            if item is not None:
                item.setSelected(True)

    def _on_selection(self) -> None:
        sel = self.selected_nodes()
        one = len(sel) == 1 and self.skeleton is not None
        if one and self.skeleton is not None:
            self.name_edit.setText(self.skeleton.nodes[sel[0]])
            self.name_edit.selectAll()  # typing replaces the name
            self.description_edit.setText(self.skeleton.descriptions[sel[0]])
        else:
            self.description_edit.clear()
        self.description_edit.setEnabled(one)

    def _emit(self, new: Skeleton, mapping: list[int] | np.ndarray, note: str, select: list[int]) -> None:
        self._show(new)
        self._select_rows(select)
        self.message.setText(note)
        if not self.draft:
            self.skeleton_changed.emit(new, np.asarray(mapping, np.intp))

    def _try(self, make: Callable[[], Skeleton]) -> Skeleton | None:
        try:
            return make()
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

    def _placed(self, nodes: list[int]) -> int:
        if self.draft or self.placed_count is None:
            return 0
        return sum(self.placed_count(k) for k in nodes)

    # -- the class and drafts ---------------------------------------------------------------------
    def _typed_class(self) -> str | None:
        try:
            return check_class_name(self.class_edit.text())
        except SkeletonError:
            self.message.setText("type a class name first (the V7 class / COCO category, e.g. mouse)")
            self.class_edit.setFocus()
            return None

    def _class_entered(self) -> None:
        if self.skeleton is None and not self._draft_class:
            self.new_skeleton()
        else:
            self.rename_class()

    def new_skeleton(self) -> None:
        """Start an empty skeleton of the typed class; it belongs to no layer until Create layer."""
        name = self._typed_class()
        if name is None:
            return
        if self.has_draft and self.skeleton is not None:
            n = self.skeleton.n_nodes
            if not self.confirm(
                "New skeleton", f"Drop the new skeleton {self.class_name!r} ({plural(n, 'node')})?"
            ):
                return
        self.draft, self._draft_class = True, name
        self._show(None)
        self.message.setText(f"new skeleton {name!r}: type node names and press Add")
        self.name_edit.setFocus()

    def rename_class(self) -> None:
        """Give the skeleton (or the draft) the typed class name."""
        name = self._typed_class()
        if name is None:
            return
        if self.skeleton is None:
            self.draft, self._draft_class = True, name
            self._show(None)
            self.message.setText(f"class {name!r}")
            return
        old = self.skeleton.name
        if name != old:
            self._emit(self.skeleton.renamed(name), self._identity(), f"class {old!r} renamed {name!r}", [])

    def create_layer(self) -> None:
        """Ask the owner to add a layer with the drafted skeleton."""
        if self.draft and self.skeleton is not None:
            self.create_requested.emit(self.skeleton)

    def discard(self) -> None:
        """Drop the draft; the owner shows the layer's skeleton again."""
        if not self.has_draft:
            return
        self.set_skeleton(None)
        self.message.setText("new skeleton discarded")
        self.draft_closed.emit()

    # -- actions --------------------------------------------------------------------------------
    def add_node(self) -> None:
        """Append a node named as in the name field (the first node of a draft makes its skeleton)."""
        name = self.name_edit.text().strip()
        if self.skeleton is None:
            cls = self._draft_class or self._typed_class()
            if cls is None:
                return
            new = self._try(lambda: Skeleton([name], name=cls))
            if new is not None:
                self.draft, self._draft_class = True, cls
                self._emit(new, [-1], f"added {name!r}", [0])
                self.name_edit.clear()
            return
        sk = self.skeleton
        new = self._try(lambda: sk.add_node(name))
        if new is not None:
            self._emit(new, [*self._identity(), -1], f"added {name!r}", [new.n_nodes - 1])
            self.name_edit.clear()

    def rename_node(self) -> None:
        """Rename the selected node to the name field."""
        sel, sk = self.selected_nodes(), self.skeleton
        if sk is None or len(sel) != 1:
            self.message.setText("select one node to rename")
            return
        old, name = sk.nodes[sel[0]], self.name_edit.text().strip()
        new = self._try(lambda: sk.rename_node(sel[0], name))
        if new is not None:
            self._emit(new, self._identity(), f"renamed {old!r} to {name!r}", sel)

    def describe_node(self) -> None:
        """Give the selected node the description typed (empty: no description)."""
        sel, sk = self.selected_nodes(), self.skeleton
        if sk is None or len(sel) != 1:
            self.message.setText("select one node to describe")
            return
        k, text = sel[0], self.description_edit.text().strip()
        if text == sk.descriptions[k]:
            return
        note = f"described {sk.nodes[k]!r}" if text else f"description of {sk.nodes[k]!r} removed"
        self._emit(sk.set_description(k, text), self._identity(), note, sel)

    def move_node(self, step: int) -> None:
        """Move the selected node up (``-1``) or down (``+1``) in the node order."""
        sel, sk = self.selected_nodes(), self.skeleton
        if sk is None or len(sel) != 1:
            self.message.setText("select one node to move")
            return
        i, j = sel[0], sel[0] + step
        if not 0 <= j < sk.n_nodes:
            return
        order = self._identity()
        order[i], order[j] = order[j], order[i]
        new = self._try(lambda: sk.reorder_nodes(order))
        if new is not None:
            self._emit(new, order, f"moved {sk.nodes[i]!r}", [j])

    def remove_nodes(self) -> None:
        """Remove the selected nodes (one or several), asking first when they have placed points."""
        sel, sk = self.selected_nodes(), self.skeleton
        if sk is None or not sel:
            self.message.setText("select the nodes to remove")
            return
        names = ", ".join(repr(sk.nodes[k]) for k in sel)
        n = self._placed(sel)
        if n and not self.confirm(
            "Remove nodes", f"{plural(len(sel), 'node')} ({names}): {plural(n, 'placed point')}. Delete them?"
        ):
            self.message.setText(f"kept {names}")
            return
        new = self._try(lambda: sk.remove_nodes(sel))
        if new is not None:
            keep = [k for k in self._identity() if k not in sel]
            self._emit(new, keep, f"removed {names}" + (f" and {plural(n, 'point')}" if n else ""), [])

    #: One node or several: the button's name for both.
    remove_node = remove_nodes

    def choose_color(self) -> None:
        """Pick a colour for the selected nodes."""
        sel, sk = self.selected_nodes(), self.skeleton
        if sk is None or not sel:
            self.message.setText("select nodes to colour")
            return
        color = self.pick_color(QColor(sk.colors[sel[0]]))
        if not color.isValid():
            return
        new = sk
        for k in sel:
            new = new.set_color(k, color.name())
        self._emit(new, self._identity(), f"colour {color.name()}", sel)

    def connect_nodes(self) -> None:
        """Add an edge between the two selected nodes."""
        pair, sk = self._two("connect"), self.skeleton
        if pair is not None and sk is not None:
            new = self._try(lambda: sk.add_edge(*pair))
            if new is not None:
                a, b = (sk.nodes[k] for k in pair)
                self._emit(new, self._identity(), f"connected {a!r} and {b!r}", list(pair))

    def disconnect_nodes(self) -> None:
        """Remove the edge between the two selected nodes (or the edge selected in the list)."""
        sk = self.skeleton
        if sk is None:
            return
        row = self.edge_list.currentRow()
        pair: tuple[int, int] | None
        if len(self.selected_nodes()) != 2 and 0 <= row < len(sk.edges):
            pair = sk.edges[row]
        else:
            pair = self._two("disconnect")
        if pair is not None:
            new = self._try(lambda: sk.remove_edge(*pair))
            if new is not None:
                self._emit(new, self._identity(), "edge removed", list(pair))

    def pair_nodes(self) -> None:
        """Make the two selected nodes a left/right pair."""
        pair, sk = self._two("pair"), self.skeleton
        if pair is not None and sk is not None:
            new = self._try(lambda: sk.set_flip_pair(*pair))
            if new is not None:
                self._emit(new, self._identity(), "left/right pair set", list(pair))

    def unpair_nodes(self) -> None:
        """Unpair the selected nodes."""
        sel, sk = self.selected_nodes(), self.skeleton
        if sk is None or not sel:
            return
        new = sk
        for k in sel:
            new = new.set_flip_pair(k, None)
        self._emit(new, self._identity(), "unpaired", sel)

    def replace_skeleton(self, new: Skeleton, what: str) -> bool:
        """Switch to another skeleton, keeping nodes by name (asks before dropping points).

        With no skeleton shown, it starts a draft (Create layer then adds its layer).
        """
        if self.skeleton is None or self.draft:
            self.draft = True
            self._emit(new, np.full(new.n_nodes, -1), f"{what}: Create layer puts it over the image", [])
            return True
        mapping = mapping_by_name(self.skeleton, new)
        dropped = sorted(set(range(self.skeleton.n_nodes)) - set(mapping[mapping >= 0].tolist()))
        n = self._placed(dropped)
        names = [self.skeleton.nodes[k] for k in dropped]
        if n and not self.confirm(
            "Replace skeleton", f"Nodes {names}: {plural(n, 'placed point')}. Delete them?"
        ):
            self.message.setText("skeleton kept")
            return False
        self._emit(new, mapping, what, [])
        return True

    def use_preset(self) -> None:
        """Switch to the preset chosen in the combo box (nodes, edges, pairs; the class stays)."""
        name = self.preset_combo.currentText()
        preset = get_preset(name)
        if self.class_name:
            preset = preset.renamed(self.class_name)
        self.replace_skeleton(preset, f"preset {name}")

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
        """Save the skeleton (with its class name) to a file."""
        if self.skeleton is None:
            return
        path = self.pick_save_path()
        if not path:
            return
        if not str(path).endswith(".json"):
            path = str(path) + SKELETON_FILE_SUFFIX
        self.skeleton.save(path)
        self.message.setText(f"saved {Path(path).name} (class {self.skeleton.name!r})")
