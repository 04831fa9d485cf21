"""The Dataset dock: a dataset's items as a table, one opened at a time, statuses, instructions.

:class:`DatasetDock` shows the items of a :class:`~napari_keyskel.dataset.Dataset` (name, kind,
frames, labelled frames, keys, instances, unreviewed review flags, status), sortable by any
column and filtered by status and by name, with a progress bar over the dataset (items
complete). Double-click, *Next* / *Previous* or ``Page Down`` / ``Page Up`` open an item through
a :class:`~napari_keyskel._napari.dataset_session.DatasetSession` (media below, annotations above,
the skeleton kept), which saves the item left. The status buttons (or ``Alt-1`` .. ``Alt-4``) set
the status of the item open; ``complete`` with unreviewed review flags asks first, in the dock.
The instructions (Markdown with images) show when an item opens and on demand, and the
description of the next node to place under the table; *Suggest* marks the frames worth labelling
on the timeline and lists them. Rows are listed at once and counted a few at a time while the
person works, so a large dataset opens at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .._napari.napari_private import unwrap_proxy
from ..dataset import STATUSES, Dataset, open_dataset
from ..errors import KeyskelError
from .dataset_instructions import InstructionsPanel
from .dataset_table import COLUMNS, ItemsFilter, ItemsModel

if TYPE_CHECKING:
    import napari

    from .._napari.dataset_session import DatasetSession

__all__ = ["COLUMNS", "DatasetDock"]

_ROLE = Qt.ItemDataRole.UserRole
#: Viewer keys: (key, action, description).
DOCK_KEYS: tuple[tuple[str, str, str], ...] = (
    ("PageDown", "next_item", "save this item and open the next one"),
    ("PageUp", "previous_item", "save this item and open the previous one"),
    *((f"Alt-{i + 1}", f"status:{s}", f"set this item's status to {s}") for i, s in enumerate(STATUSES)),
)
#: Where *Suggest frames* looks.
SCOPES: tuple[str, ...] = ("this item", "the whole dataset")
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

        sug = QHBoxLayout()
        self.suggest_n = QSpinBox()
        self.suggest_n.setRange(1, 10000)
        self.suggest_n.setValue(20)
        self.suggest_scope = QComboBox()
        self.suggest_scope.addItems(list(SCOPES))
        self.suggest_scope.setToolTip(
            "this item: N frames of the item open; the whole dataset: N frames over every item "
            "(one clustering of all, in the background)"
        )
        self.suggest_motion = QCheckBox("motion")
        self.suggest_button = QPushButton("Suggest frames")
        self.suggest_button.setToolTip("Frames worth labelling: diverse in appearance")
        self.suggest_button.clicked.connect(self.suggest)
        sug.addWidget(self.suggest_button)
        sug.addWidget(self.suggest_n)
        sug.addWidget(self.suggest_scope)
        sug.addWidget(self.suggest_motion)
        outer.addLayout(sug)
        run = QHBoxLayout()
        self.suggest_progress = QProgressBar()
        self.suggest_progress.setFormat("%v of %m")
        self.suggest_cancel = QPushButton("Cancel")
        self.suggest_cancel.clicked.connect(self.cancel_suggest)
        run.addWidget(self.suggest_progress, 1)
        run.addWidget(self.suggest_cancel)
        self.suggest_running = QWidget()
        self.suggest_running.setLayout(run)
        self.suggest_running.hide()
        outer.addWidget(self.suggest_running)
        step = QHBoxLayout()
        self.prev_suggestion_button = QPushButton("◀ suggested")
        self.prev_suggestion_button.setToolTip(
            "The previous suggested frame (of an earlier item past the first)"
        )
        self.prev_suggestion_button.clicked.connect(lambda: self.step_suggestion(-1))
        self.next_suggestion_button = QPushButton("suggested ▶")
        self.next_suggestion_button.setToolTip(
            "The next suggested frame; past the item's last, the item is saved and the next item "
            "with suggestions opens"
        )
        self.next_suggestion_button.clicked.connect(lambda: self.step_suggestion(+1))
        step.addWidget(self.prev_suggestion_button)
        step.addWidget(self.next_suggestion_button)
        outer.addLayout(step)
        self.suggestions = QListWidget()
        self.suggestions.setMaximumHeight(80)
        self.suggestions.itemClicked.connect(self._go_suggestion)
        outer.addWidget(self.suggestions)
        self._worker: Any = None
        self._cancel_asked = False
        self._run_state: tuple[int, int, str] = (0, 1, "")
        self._run_timer = QTimer(self)
        self._run_timer.setInterval(100)
        self._run_timer.timeout.connect(self._show_run)

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

    def _on_opened(self, index: int) -> None:
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
        self._show_suggestions()
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
        for main in window.findChildren(KeyskelDock):
            main._refresh_layers()  # its picker, status line, skeleton, Review tab and timeline
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
        """Suggest frames of the item open, or start a run over the whole dataset (as chosen).

        The item's suggestions are marked on the timeline and listed here; a whole-dataset run
        works in the background (progress and *Cancel* shown) and returns nothing here.
        """
        if self.session is None:
            return np.zeros(0, np.int64)
        if self.suggest_scope.currentText() == SCOPES[1]:
            self.suggest_dataset()
            return np.zeros(0, np.int64)
        try:
            frames = self.session.suggest(self.suggest_n.value(), self.suggest_motion.isChecked())
        except KeyskelError as exc:
            self.say(str(exc))
            return np.zeros(0, np.int64)
        self._show_suggestions()
        self._count_suggestions()
        self.say(f"{len(frames)} frames suggested (marked on the timeline)")
        return frames

    def suggest_dataset(self) -> Any:
        """Suggest N frames over every item, in a napari worker thread; the worker (None if busy)."""
        from napari.qt.threading import create_worker

        from ..dataset.suggestions import Cancelled, suggest_dataset

        if self.session is None or self._worker is not None:
            return None
        self.session.save()  # (the item open as edited: its keys are never suggested)
        keyed = self.session.keyed()
        n, motion, dataset = self.suggest_n.value(), self.suggest_motion.isChecked(), self.session.dataset
        self._cancel_asked = False
        self._run_state = (0, 1, "reading the items")

        def progress(done: int, total: int, what: str) -> None:  # (in the worker: no Qt here)
            self._run_state = (done, total, what)

        def run() -> Any:
            try:
                return suggest_dataset(
                    dataset,
                    n,
                    motion=motion,
                    exclude=keyed,
                    progress=progress,
                    cancelled=lambda: self._cancel_asked,
                )
            except Cancelled:
                return None

        worker = create_worker(run, _start_thread=False)
        worker.returned.connect(self._suggested_dataset)
        worker.errored.connect(self._suggest_failed)
        worker.finished.connect(self._suggest_finished)
        self._worker = worker
        self.suggest_button.setEnabled(False)
        self.suggest_running.show()
        self._show_run()
        self._run_timer.start()
        worker.start()
        return worker

    def cancel_suggest(self) -> None:
        """Stop the whole-dataset run (the suggestions stay as they were)."""
        self._cancel_asked = True
        self.say("stopping…")

    @property
    def suggesting(self) -> bool:
        """True while a whole-dataset run works."""
        return self._worker is not None

    def _show_run(self) -> None:
        done, total, what = self._run_state
        self.suggest_progress.setRange(0, max(total, 1))
        self.suggest_progress.setValue(done)
        self.suggest_progress.setToolTip(what)

    def _suggested_dataset(self, by_item: Any) -> None:
        if self.session is None:
            return
        if by_item is None:
            self.say("suggesting stopped: the suggestions are as they were")
            return
        self.session.suggestions.replace_all(by_item)
        self._show_suggestions()
        self._count_suggestions()
        total = sum(len(v) for v in by_item.values())
        self.say(f"{total} frames suggested over {len(by_item)} items (the 'sugg.' column)")

    def _suggest_failed(self, exc: Exception) -> None:
        self.say(f"suggesting failed: {exc}")

    def _suggest_finished(self) -> None:
        self._worker = None
        self._run_timer.stop()
        self.suggest_running.hide()
        self.suggest_button.setEnabled(True)

    def _count_suggestions(self) -> None:
        if self.model is not None and self.session is not None:
            self.model.set_suggested(self.session.suggestions.counts())

    def _show_suggestions(self) -> None:
        """List the item's suggestions and mark them on the timeline."""
        from .timeline_dock import find_timeline

        frames = np.zeros(0, np.int64) if self.session is None else self.session.suggestions.of_item()
        self.suggestions.clear()
        for f in frames.tolist():
            li = QListWidgetItem(f"frame {f}")
            li.setData(_ROLE, int(f))
            self.suggestions.addItem(li)
        timeline = find_timeline(self.viewer)
        if timeline is not None:
            timeline.set_marks("suggested", frames)

    def step_suggestion(self, direction: int = 1) -> tuple[int, int] | None:
        """Go to the next (previous) suggested frame, across items in the table's order."""
        if self.session is None:
            return None
        order = [self.index_of_row(r) for r in range(self.row_count())]
        try:
            got = self.session.suggestions.step(direction, order)
        except KeyskelError as exc:
            self.say(str(exc))
            return None
        if got is None:
            self.say(f"no {'later' if direction > 0 else 'earlier'} suggested frame")
        else:
            name = self.dataset.items[got[0]].name if self.dataset is not None else ""
            self.say(f"suggested frame {got[1]} of {name}")
        return got

    def _go_suggestion(self, li: QListWidgetItem) -> None:
        if self.session is not None:
            self.session.suggestions.go(int(li.data(_ROLE)))

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
