"""The Dataset dock: a dataset's items as a table, one opened at a time, statuses, instructions.

:class:`DatasetDock` shows the items of a :class:`~napari_keyskel.dataset.Dataset` (name, kind,
frames, labelled frames, keys, instances, unreviewed review flags, status), sortable by any
column and filtered by status and by name, with a progress bar over the dataset (items
complete). Double-click, *Next* / *Previous* or ``Page Down`` / ``Page Up`` open an item through
a :class:`~napari_keyskel._napari.dataset_session.DatasetSession` (media below, annotations above,
the skeleton kept), which saves the item left. The status buttons (or ``Alt-1`` .. ``Alt-4``) set
the status of the item open; ``complete`` with unreviewed review flags asks first, in the dock.
The instructions (Markdown with images) show when an item opens and on demand, and the
description of the next node to place under the table; *Suggest frames* picks frames worth
labelling, of the item open or of the whole dataset (:mod:`.dataset_suggest_panel`). Rows are
listed at once and counted a few at a time while the person works, so a large dataset opens at
once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .._napari.napari_private import unwrap_proxy
from ..dataset import STATUSES, Dataset, open_dataset
from ..errors import KeyskelError
from .dataset_instructions import InstructionsPanel
from .dataset_suggest_panel import SuggestPanel
from .dataset_table import COLUMNS, ItemsFilter, ItemsModel

if TYPE_CHECKING:
    import napari

    from .._napari.dataset_session import DatasetSession

__all__ = ["COLUMNS", "DatasetDock"]

#: Viewer keys: (key, action, description).
DOCK_KEYS: tuple[tuple[str, str, str], ...] = (
    ("PageDown", "next_item", "save this item and open the next one"),
    ("PageUp", "previous_item", "save this item and open the previous one"),
    *((f"Alt-{i + 1}", f"status:{s}", f"set this item's status to {s}") for i, s in enumerate(STATUSES)),
)
#: Items counted per timer tick while the table fills (a tick stays under about 0.1 s).
COUNT_BATCH = 4


class DatasetDock(QWidget):
    """The items of a dataset, the item open, statuses, instructions and suggestions."""

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = unwrap_proxy(napari_viewer)
        self.setObjectName("keyskel-dataset")
        self.dataset: Dataset | None = None
        self.session: DatasetSession | None = None
        self._pending: list[int] = []
        self._pending_force: int | None = None
        self.model: ItemsModel | None = None
        self.proxy: ItemsFilter | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)

        top = QHBoxLayout()
        self.open_button = QPushButton("Open dataset…")
        self.open_button.setToolTip(
            "A V7 export folder, a folder of media, a COCO .json, a .slp or a DLC project"
        )
        self.open_button.clicked.connect(self._ask_open)
        self.path_label = QLabel("no dataset")
        top.addWidget(self.open_button)
        top.addWidget(self.path_label, 1)
        outer.addLayout(top)
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m complete")
        outer.addWidget(self.progress)
        self.counts_label = QLabel("")
        outer.addWidget(self.counts_label)

        filt = QHBoxLayout()
        self.status_filter = QComboBox()
        self.status_filter.addItems(["all statuses", *STATUSES])
        self.status_filter.currentIndexChanged.connect(self._apply_filter)
        self.name_filter = QLineEdit()
        self.name_filter.setPlaceholderText("filter by name")
        self.name_filter.textChanged.connect(self._apply_filter)
        filt.addWidget(self.status_filter)
        filt.addWidget(self.name_filter, 1)
        outer.addLayout(filt)

        self.table = QTableView()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        vertical, header = self.table.verticalHeader(), self.table.horizontalHeader()
        assert vertical is not None and header is not None
        vertical.setVisible(False)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(24)
        header.setResizeContentsPrecision(100)  # widths from the first rows, not thousands
        self.table.doubleClicked.connect(lambda index: self.open_row(index.row()))
        self.table.setMinimumHeight(150)  # a few rows, however crowded the dock
        outer.addWidget(self.table, 1)

        nav = QHBoxLayout()
        self.prev_button = QPushButton("◀ Previous")
        self.prev_button.setToolTip("Save this item and open the previous one (Page Up)")
        self.prev_button.clicked.connect(self.previous_item)
        self.next_button = QPushButton("Next ▶")
        self.next_button.setToolTip("Save this item and open the next one (Page Down)")
        self.next_button.clicked.connect(self.next_item)
        nav.addWidget(self.prev_button)
        nav.addWidget(self.next_button)
        outer.addLayout(nav)

        st = QHBoxLayout()
        self.status_buttons: dict[str, QPushButton] = {}
        for i, s in enumerate(STATUSES):
            b = QPushButton(s)
            b.setToolTip(f"Set the item open to {s} (Alt-{i + 1})")
            b.clicked.connect(lambda _=False, s=s: self.set_status(s))
            self.status_buttons[s] = b
            st.addWidget(b)
        outer.addLayout(st)
        self.confirm = QWidget()
        cl = QHBoxLayout(self.confirm)
        cl.setContentsMargins(0, 0, 0, 0)
        self.confirm_label = QLabel("")
        self.confirm_label.setWordWrap(True)
        self.confirm_yes = QPushButton("Complete anyway")
        self.confirm_yes.clicked.connect(self._force_complete)
        self.confirm_no = QPushButton("Cancel")
        self.confirm_no.clicked.connect(self.confirm.hide)
        cl.addWidget(self.confirm_label, 1)
        cl.addWidget(self.confirm_yes)
        cl.addWidget(self.confirm_no)
        self.confirm.hide()
        outer.addWidget(self.confirm)

        self.suggest_panel = SuggestPanel(self)
        outer.addWidget(self.suggest_panel)
        # (the panel's parts, named as the dock shows them)
        sp = self.suggest_panel
        self.suggest_n, self.suggest_scope, self.suggest_motion = sp.n, sp.scope, sp.motion
        self.suggest_button, self.suggest_running, self.suggestions = sp.button, sp.running, sp.list

        self.panel = InstructionsPanel(self.viewer, self.say)
        outer.addWidget(self.panel, 1)
        # (the panel's parts, named as the dock shows them)
        self.node_label, self.instructions = self.panel.node_label, self.panel.browser
        self.instructions_button, self.edit_button = self.panel.button, self.panel.edit_button
        self.instructions_edit = self.panel.editor
        self.message = QLabel("")
        self.message.setWordWrap(True)
        outer.addWidget(self.message)

        self._timer = QTimer(self)
        self._timer.setInterval(5)  # the viewer paints between ticks
        self._timer.timeout.connect(self._count_some)
        self._bind_keys()

    # -- the dataset ----------------------------------------------------------------------------
    def _ask_open(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a dataset folder")
        if not path:
            path, _ = QFileDialog.getOpenFileName(
                self, "…or a dataset file", "", "Datasets (*.json *.slp *.yaml)"
            )
        if path:
            self.open_dataset(path)

    def open_dataset(self, path: str | Path | Dataset, open_first: bool = True) -> Dataset | None:
        """Show a dataset (a path is opened), and open its first item."""
        from .._napari.dataset_session import DatasetSession

        if self.session is not None:
            self.session.close()
        try:
            ds = path if isinstance(path, Dataset) else open_dataset(path)
        except KeyskelError as exc:
            self.say(f"cannot open {path}: {exc}")
            return None
        self.dataset = ds
        self.session = DatasetSession(self.viewer, ds)
        self.session.opened.connect(self._on_opened)
        self.session.pending_changed.connect(self.refresh_pending)
        self.session.saved.connect(self._refresh_row)
        self.session.status_changed.connect(self._refresh_row)
        self.path_label.setText(f"{ds.root.name} ({ds.format}, {len(ds)} items)")
        self._fill()
        self.panel.set_dataset(ds)
        if open_first and len(ds):
            self.open_item(0)
        self._pending = list(range(len(ds)))
        self._timer.start()
        return ds

    def _fill(self) -> None:
        assert self.dataset is not None
        self.model = ItemsModel(self.dataset, self)
        self.proxy = ItemsFilter(self.model, self)
        self.table.setModel(self.proxy)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # the dataset's order
        self._apply_filter()
        self.table.resizeColumnsToContents()
        self._update_progress()

    def _row_of(self, index: int) -> int:
        """The table row showing item ``index`` (rows move when sorted; -1: filtered out)."""
        if self.model is None or self.proxy is None or not 0 <= index < self.model.rowCount():
            return -1
        return self.proxy.mapFromSource(self.model.index(index, 0)).row()

    def index_of_row(self, row: int) -> int:
        """The dataset index of a table row."""
        assert self.proxy is not None
        return self.proxy.mapToSource(self.proxy.index(row, 0)).row()

    def row_count(self) -> int:
        """Rows shown (the items the filters keep)."""
        return 0 if self.proxy is None else self.proxy.rowCount()

    def cell_text(self, row: int, col: int) -> str:
        """The text of a cell, as shown."""
        assert self.proxy is not None
        return str(self.proxy.index(row, col).data())

    def _refresh_row(self, index: int, counts: bool = True) -> None:
        """Show an item's numbers and status (read if needed)."""
        self._refresh_rows([index], counts)

    def _refresh_rows(self, indices: list[int], counts: bool = True) -> None:
        if self.dataset is None or self.model is None:
            return
        for index in indices:
            try:
                self.model.set_row(index, self.dataset.row(index, counts=counts))
            except KeyskelError as exc:
                self.say(f"item {self.dataset.items[index].name}: {exc}")
        self._update_progress()

    def _count_some(self) -> None:
        """Count a few items (the table fills while the person works)."""
        batch, self._pending = self._pending[:COUNT_BATCH], self._pending[COUNT_BATCH:]
        if batch:
            self._refresh_rows(batch)
        if not self._pending:
            self._timer.stop()
            self.table.resizeColumnsToContents()

    def _update_progress(self) -> None:
        ds = self.dataset
        if ds is None:
            return
        known = [it.status.status for it in ds.items if it.status is not None]
        done = sum(s == "complete" for s in known)
        self.progress.setRange(0, max(len(ds), 1))
        self.progress.setValue(done)
        parts = [f"{known.count(s)} {s}" for s in STATUSES]
        left = len(ds) - len(known)
        self.counts_label.setText(", ".join(parts) + (f" ({left} not read yet)" if left else ""))

    def _apply_filter(self) -> None:
        if self.proxy is not None:
            self.proxy.set_filter(self.status_filter.currentText(), self.name_filter.text())

    # -- items ----------------------------------------------------------------------------------
    def open_item(self, index: int) -> None:
        """Open item ``index`` (saving the item left)."""
        if self.session is None:
            return
        try:
            self.session.open(index)
        except KeyskelError as exc:
            self.say(f"cannot open item: {exc}")

    def open_row(self, row: int) -> None:
        """Open the item of a table row."""
        self.open_item(self.index_of_row(row))

    def _step(self, direction: int) -> None:
        """Open the next / previous item in the table's order (sorted and filtered as shown)."""
        if self.session is None or self.dataset is None:
            return
        rows = list(range(self.row_count()))
        if not rows:
            return
        cur = self._row_of(self.session.current) if self.session.current is not None else -1
        if cur < 0:
            target = rows[0] if direction > 0 else rows[-1]
        else:
            later = [r for r in rows if (r > cur if direction > 0 else r < cur)]
            if not later:
                self.say(f"no {'next' if direction > 0 else 'previous'} item")
                return
            target = later[0] if direction > 0 else later[-1]
        self.open_row(target)

    def next_item(self) -> None:
        """Save this item and open the next one."""
        self._step(+1)

    def previous_item(self) -> None:
        """Save this item and open the previous one."""
        self._step(-1)

    def refresh_pending(self) -> None:
        """Mark again the items whose model proposals wait for review (the *model* column)."""
        from ..dataset.pending import items_with_pending

        if self.model is not None and self.dataset is not None:
            self.model.set_pending({it.key for it in items_with_pending(self.dataset)})

    def _on_opened(self, index: int) -> None:
        self.refresh_pending()  # (the item left may have had its last proposals accepted)
        self._refresh_row(index, counts=False)
        r = self._row_of(index)
        if r >= 0:
            self.table.selectRow(r)
            if self.proxy is not None:
                self.table.scrollTo(self.proxy.index(r, 0))
        self.confirm.hide()
        item = self.dataset.items[index] if self.dataset is not None else None
        if item is not None:
            self.say(f"opened {item.name} ({index + 1} of {len(self.dataset or [])})")
        if self.session is not None and self.session.reused:
            self._follow_owners()
        self.suggest_panel.show_item()
        self.panel.item_opened()

    def _follow_owners(self) -> None:
        """The other keyskel docks follow the annotation layers' new owners.

        The session reuses the layers from item to item (giving each a new owner), so napari
        adds and removes nothing the docks would hear.
        """
        from .dock import KeyskelDock
        from .review_dock import ReviewDock
        from .timeline_dock import find_timeline

        window = self.window()
        if window is None:
            return
        active = self.viewer.layers.selection.active
        for main in window.findChildren(KeyskelDock):
            main.refresh_layers()  # its picker, status line, skeleton, Review tab and timeline
            if active is not None and main.layer_combo.findText(active.name) >= 0:
                main.layer_combo.setCurrentText(active.name)  # the layer selected, as napari's list
        for review in window.findChildren(ReviewDock):
            review.set_layer(review.layer_combo.currentText())
        timeline = find_timeline(self.viewer)
        layer = self.viewer.layers.selection.active
        if timeline is not None and self.session is not None and layer in self.session.points_layers:
            timeline.show_layer(layer)

    # -- statuses -------------------------------------------------------------------------------
    def set_status(self, status: str) -> None:
        """Set the item open to ``status``; ``complete`` with unreviewed flags asks first."""
        if self.session is None or self.session.current is None:
            self.say("open an item first")
            return
        try:
            st = self.session.set_status(status)
        except KeyskelError as exc:
            if status != "complete":
                self.say(str(exc))
                return
            self._pending_force = self.session.current
            self.confirm_label.setText(f"{exc}. Complete it anyway?")
            self.confirm.show()
            return
        self.confirm.hide()
        self.say(f"{self.session.item.name if self.session.item else ''}: {st.status}")

    def _force_complete(self) -> None:
        if self.session is None or self._pending_force is None:
            return
        self.session.set_status("complete", force=True, which=self._pending_force)
        self._pending_force = None
        self.confirm.hide()
        self.say("completed with unreviewed flags")

    def show_instructions(self, on: bool = True) -> None:
        """Show (or hide) the dataset's instructions."""
        self.panel.show_text(on)

    # -- suggestions ----------------------------------------------------------------------------
    def suggest(self) -> np.ndarray:
        """Suggest frames as the panel says (see :meth:`SuggestPanel.suggest`)."""
        return self.suggest_panel.suggest()

    @property
    def suggesting(self) -> bool:
        """True while a whole-dataset suggestion runs."""
        return self.suggest_panel.suggesting

    def step_suggestion(self, direction: int = 1) -> tuple[int, int] | None:
        """Go to the next (previous) suggested frame, across items in the table's order."""
        return self.suggest_panel.step(direction)

    # -- keys and messages ----------------------------------------------------------------------
    def _bind_keys(self) -> None:
        for key, action, _ in DOCK_KEYS:
            self.viewer.bind_key(key, self._key_handler(action), overwrite=True)

    def _key_handler(self, action: str) -> Any:
        def handler(viewer: Any) -> None:
            if action.startswith("status:"):
                self.set_status(action.split(":", 1)[1])
            else:
                getattr(self, action)()

        handler.__doc__ = next(d for _, a, d in DOCK_KEYS if a == action)
        return handler

    def say(self, text: str) -> None:
        """Show a message in the dock."""
        self.message.setText(text)
