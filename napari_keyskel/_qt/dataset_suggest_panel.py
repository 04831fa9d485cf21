"""The Dataset dock's suggestions: *Suggest frames* of the item open or of the whole dataset.

:class:`SuggestPanel` picks N frames worth labelling (diverse in appearance,
:mod:`napari_keyskel.dataset.suggest`) of the item open, at once, or over every item of the
dataset in a napari worker thread (progress and *Cancel* shown; the items' media read one at a
time). The suggestions are kept per item in the dataset (saved beside the items), counted in the
table's *sugg.* column, listed here and marked on the timeline for the item open;
*suggested ▶* / *◀ suggested* step through them, across items.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..errors import KeyskelError

if TYPE_CHECKING:
    from .dataset_dock import DatasetDock

__all__ = ["SCOPES", "SuggestPanel"]

_ROLE = Qt.ItemDataRole.UserRole
#: Where *Suggest frames* looks.
SCOPES: tuple[str, ...] = ("this item", "the whole dataset")


class SuggestPanel(QWidget):
    """Suggested frames of the item open or of the whole dataset (see the module docstring)."""

    def __init__(self, dock: DatasetDock, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: Items of the last whole-dataset run whose media could not be read: (name, reason).
        self.failed: list[tuple[str, str]] = []
        self.dock = dock
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        sug = QHBoxLayout()
        self.n = QSpinBox()
        self.n.setRange(1, 10000)
        self.n.setValue(20)
        self.scope = QComboBox()
        self.scope.addItems(list(SCOPES))
        self.scope.setToolTip(
            "this item: N frames of the item open; the whole dataset: N frames over every item "
            "(one clustering of all, in the background)"
        )
        self.motion = QCheckBox("motion")
        self.button = QPushButton("Suggest frames")
        self.button.setToolTip("Frames worth labelling: diverse in appearance")
        self.button.clicked.connect(self.suggest)
        sug.addWidget(self.button)
        sug.addWidget(self.n)
        sug.addWidget(self.scope)
        sug.addWidget(self.motion)
        outer.addLayout(sug)
        run = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        run.addWidget(self.progress, 1)
        run.addWidget(self.cancel_button)
        self.running = QWidget()
        self.running.setLayout(run)
        self.running.hide()
        outer.addWidget(self.running)
        step = QHBoxLayout()
        self.prev_suggestion_button = QPushButton("◀ suggested")
        self.prev_suggestion_button.setToolTip(
            "The previous suggested frame (of an earlier item past the first)"
        )
        self.prev_suggestion_button.clicked.connect(lambda: self.step(-1))
        self.next_suggestion_button = QPushButton("suggested ▶")
        self.next_suggestion_button.setToolTip(
            "The next suggested frame; past the item's last, the item is saved and the next item "
            "with suggestions opens"
        )
        self.next_suggestion_button.clicked.connect(lambda: self.step(+1))
        step.addWidget(self.prev_suggestion_button)
        step.addWidget(self.next_suggestion_button)
        outer.addLayout(step)
        self.list = QListWidget()
        self.list.setMaximumHeight(64)
        self.list.itemClicked.connect(self._go)
        outer.addWidget(self.list)
        self._worker: Any = None
        self._cancel_asked = False
        self._run_state: tuple[int, int, str] = (0, 1, "")
        self._run_timer = QTimer(self)
        self._run_timer.setInterval(100)
        self._run_timer.timeout.connect(self._show_run)

    def suggest(self) -> np.ndarray:
        """Suggest frames of the item open, or start a run over the whole dataset (as chosen).

        The item's suggestions are marked on the timeline and listed here; a whole-dataset run
        works in the background (progress and *Cancel* shown) and returns nothing here.
        """
        if self.dock.session is None:
            return np.zeros(0, np.int64)
        if self.scope.currentText() == SCOPES[1]:
            self.suggest_dataset()
            return np.zeros(0, np.int64)
        try:
            frames = self.dock.session.suggest(self.n.value(), self.motion.isChecked())
        except KeyskelError as exc:
            self.dock.say(str(exc))
            return np.zeros(0, np.int64)
        self.show_item()
        self._count()
        self.dock.say(f"{len(frames)} frames suggested (marked on the timeline)")
        return frames

    def suggest_dataset(self) -> Any:
        """Suggest N frames over every item, in a napari worker thread; the worker (None if busy)."""
        from napari.qt.threading import create_worker

        from ..dataset.suggestions import Cancelled, suggest_dataset

        if self.dock.session is None or self._worker is not None:
            return None
        self.dock.session.save()  # (the item open as edited: its keys are never suggested)
        keyed = self.dock.session.keyed()
        n, motion, dataset = self.n.value(), self.motion.isChecked(), self.dock.session.dataset
        self._cancel_asked = False
        self._run_state = (0, 1, "reading the items")

        def progress(done: int, total: int, what: str) -> None:  # (in the worker: no Qt here)
            self._run_state = (done, total, what)

        self.failed = []

        def run() -> Any:
            try:
                return suggest_dataset(
                    dataset,
                    n,
                    motion=motion,
                    exclude=keyed,
                    progress=progress,
                    cancelled=lambda: self._cancel_asked,
                    failed=self.failed,
                )
            except Cancelled:
                return None

        worker = create_worker(run, _start_thread=False)
        worker.returned.connect(self._suggested_dataset)
        worker.errored.connect(self._suggest_failed)
        worker.finished.connect(self._suggest_finished)
        self._worker = worker
        self.button.setEnabled(False)
        self.running.show()
        self._show_run()
        self._run_timer.start()
        worker.start()
        return worker

    def cancel(self) -> None:
        """Stop the whole-dataset run (the suggestions stay as they were)."""
        self._cancel_asked = True
        self.dock.say("stopping…")

    @property
    def suggesting(self) -> bool:
        """True while a whole-dataset run works."""
        return self._worker is not None

    def _show_run(self) -> None:
        done, total, what = self._run_state
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setToolTip(what)

    def _suggested_dataset(self, by_item: Any) -> None:
        if self.dock.session is None:
            return
        if by_item is None:
            self.dock.say("suggesting stopped: the suggestions are as they were")
            return
        self.dock.session.suggestions.replace_all(by_item)
        self.show_item()
        self._count()
        total = sum(len(v) for v in by_item.values())
        said = f"{total} frames suggested over {len(by_item)} items (the 'sugg.' column)"
        if self.failed:
            said += "; not read: " + "; ".join(f"{name} ({why})" for name, why in self.failed)
        self.dock.say(said)

    def _suggest_failed(self, exc: Exception) -> None:
        self.dock.say(f"suggesting failed: {exc}")

    def _suggest_finished(self) -> None:
        self._worker = None
        self._run_timer.stop()
        self.running.hide()
        self.button.setEnabled(True)

    def _count(self) -> None:
        if self.dock.model is not None and self.dock.session is not None:
            self.dock.model.set_suggested(self.dock.session.suggestions.counts())

    def show_item(self) -> None:
        """List the item's suggestions and mark them on the timeline."""
        from .timeline_dock import find_timeline

        frames = (
            np.zeros(0, np.int64) if self.dock.session is None else self.dock.session.suggestions.of_item()
        )
        self.list.clear()
        for f in frames.tolist():
            li = QListWidgetItem(f"frame {f}")
            li.setData(_ROLE, int(f))
            self.list.addItem(li)
        timeline = find_timeline(self.dock.viewer)
        if timeline is not None:
            timeline.set_marks("suggested", frames)

    def step(self, direction: int = 1) -> tuple[int, int] | None:
        """Go to the next (previous) suggested frame, across items in the table's order."""
        if self.dock.session is None:
            return None
        order = [self.dock.index_of_row(r) for r in range(self.dock.row_count())]
        try:
            got = self.dock.session.suggestions.step(direction, order)
        except KeyskelError as exc:
            self.dock.say(str(exc))
            return None
        if got is None:
            self.dock.say(f"no {'later' if direction > 0 else 'earlier'} suggested frame")
        else:
            name = self.dock.dataset.items[got[0]].name if self.dock.dataset is not None else ""
            self.dock.say(f"suggested frame {got[1]} of {name}")
        return got

    def _go(self, li: QListWidgetItem) -> None:
        if self.dock.session is not None:
            self.dock.session.suggestions.go(int(li.data(_ROLE)))
