"""The Dataset dock's instructions panel: the dataset's Markdown, editable, and the next node's meaning.

:class:`InstructionsPanel` shows ``instructions.md`` (images found beside it) with a *Nodes*
section listing each node's description, on demand (*Instructions*) and whenever an item opens;
*Edit* / *Save* change the file. Under it, the next node to place on the selected annotation
layer and its description (polled a few times a second: the layer's session says which node
comes next, whatever changed it).
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..dataset import Dataset
from ..errors import KeyskelError

__all__ = ["InstructionsPanel"]


class InstructionsPanel(QWidget):
    """Instructions of a dataset and the description of the next node (see the module docstring)."""

    def __init__(self, viewer: Any, say: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer, self.say = viewer, say
        self.dataset: Dataset | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.node_label = QLabel("")
        self.node_label.setWordWrap(True)
        outer.addWidget(self.node_label)
        row = QHBoxLayout()
        self.button = QPushButton("Instructions")
        self.button.setCheckable(True)
        self.button.toggled.connect(self.show_text)
        self.edit_button = QPushButton("Edit")
        self.edit_button.setCheckable(True)
        self.edit_button.toggled.connect(self._edit)
        row.addWidget(self.button)
        row.addWidget(self.edit_button)
        outer.addLayout(row)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.editor = QPlainTextEdit()
        self.browser.hide()
        self.editor.hide()
        outer.addWidget(self.browser, 1)
        outer.addWidget(self.editor, 1)
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._show_next_node)

    def set_dataset(self, dataset: Dataset | None) -> None:
        """Show this dataset's instructions from now on."""
        self.dataset = dataset
        if dataset is None:
            self._timer.stop()
        else:
            self._timer.start()

    def item_opened(self) -> None:
        """An item opened: show the instructions when the dataset has any."""
        if self.dataset is not None and self.dataset.instructions.text.strip():
            self.button.setChecked(True)
            self.show_text(True)

    def show_text(self, on: bool = True) -> None:
        """Show (or hide) the instructions."""
        if self.dataset is None:
            return
        ins = self.dataset.instructions
        if ins.folder is not None:
            self.browser.setSearchPaths([str(ins.folder)])
        self.browser.setMarkdown(ins.markdown(self.dataset.skeletons()))
        self.browser.setVisible(on and not self.edit_button.isChecked())

    def _edit(self, on: bool) -> None:
        if self.dataset is None:
            return
        ins = self.dataset.instructions
        if on:
            self.editor.setPlainText(ins.text)
            self.editor.show()
            self.browser.hide()
            self.edit_button.setText("Save")
            return
        ins.text = self.editor.toPlainText()
        try:
            ins.save(self.dataset.skeletons())
        except (KeyskelError, OSError) as exc:
            self.say(f"instructions not saved: {exc}")
        self.editor.hide()
        self.edit_button.setText("Edit")
        self.show_text(self.button.isChecked())

    def _show_next_node(self) -> None:
        """The next node to place on the selected annotation layer, and what it means."""
        from .._napari.registry import owner_of

        if self.dataset is None:
            return
        layer = self.viewer.layers.selection.active
        session = owner_of(layer) if layer is not None else None
        bindings = getattr(session, "bindings", None)
        k = None
        if session is not None and bindings is not None:
            try:
                k = bindings.next_node_index()
            except (KeyskelError, IndexError, KeyError):
                k = None
        if k is None or session is None:
            self.node_label.setText("")
            return
        store = session.store
        node = store.skeleton.nodes[k]
        desc = store.skeleton.descriptions[k] or self.dataset.instructions.description(store.name, node)
        self.node_label.setText(f"next node: <b>{node}</b>" + (f" — {desc}" if desc else ""))
