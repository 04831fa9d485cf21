"""The keypoint mapping dialog: which model keypoint gives each node of the skeleton."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qtpy.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

__all__ = ["MappingDialog"]

_NONE = "(none)"


class MappingDialog(QDialog):
    """One row per skeleton node with a choice of model keypoint (or none); :meth:`mapping` reads it."""

    def __init__(
        self,
        nodes: Sequence[str],
        model_names: Sequence[str],
        current: Mapping[str, str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Map model keypoints to skeleton nodes")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Each skeleton node takes the model keypoint chosen (saved with the layer)."))
        form = QFormLayout()
        self.combos: dict[str, QComboBox] = {}
        for node in nodes:
            combo = QComboBox()
            combo.addItems([_NONE, *model_names])
            chosen = (current or {}).get(node)
            if chosen in model_names:
                combo.setCurrentText(str(chosen))
            form.addRow(str(node), combo)
            self.combos[str(node)] = combo
        layout.addLayout(form)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.buttons = buttons

    def mapping(self) -> dict[str, Any]:
        """``{node: model keypoint}`` of the rows with a keypoint chosen."""
        return {node: c.currentText() for node, c in self.combos.items() if c.currentText() != _NONE}
