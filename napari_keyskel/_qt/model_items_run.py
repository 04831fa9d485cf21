"""The Models tab over every item of the open dataset: find the dataset, run, show the progress.

:func:`find_dataset_session` finds the ``DatasetSession`` of the viewer's Dataset dock;
:func:`run_items` runs a :class:`~napari_keyskel._qt.model_run_box.ModelRunBox`'s model over the
items (:func:`napari_keyskel.assist.models.over_items.iter_predict_items`) in a napari
``thread_worker``: the box's progress bar goes over items and frames ("item 2 of 3 (clip1.mp4):
40 of 100 frames"), *Cancel* stops it between batches (the items done keep their pending
proposals), and the summary (items run, proposals made, failures by name) is shown at the end;
the item open shows its new proposals at once (:mod:`napari_keyskel._napari.model_items`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtWidgets import QComboBox

from ..core.wording import plural
from ..errors import KeyskelError

__all__ = ["ITEMS", "WhereCombo", "find_dataset_session", "run_items"]

#: The *Run on* choice that runs over the items of the open dataset.
ITEMS = "items"


def find_dataset_session(viewer: Any) -> Any:
    """The ``DatasetSession`` of the viewer's Dataset dock, if a dataset is open there."""
    from .._napari.dataset_session import DatasetSession

    window = getattr(viewer, "window", None)
    docked = getattr(window, "dock_widgets", None) or {}
    for widget in list(docked.values()):
        session = getattr(widget, "session", None)
        if isinstance(session, DatasetSession):
            return session
    return None


class WhereCombo(QComboBox):
    """A combo box that refreshes its choices just before it opens."""

    def __init__(self, before_popup: Callable[[], None]) -> None:
        super().__init__()
        self.before_popup = before_popup

    def showPopup(self) -> None:
        self.before_popup()
        super().showPopup()


def run_items(box: Any) -> Any:
    """Run ``box``'s model over the open dataset's items in a worker; the (started) worker, or None."""
    from napari.qt.threading import create_worker

    from ..assist.models.over_items import iter_predict_items

    session = box.dataset_hook()
    if session is None or box.model is None:
        box.panel.say("open a dataset (Dataset dock) and choose a model first")
        return None
    if box.busy():
        return None
    suggestions = {}
    if session.item is not None and session.points_layers:  # the item open: the frames suggested there
        marked = session.points_layers[0].metadata.get("keyskel_suggestions")
        if marked:
            suggestions[session.item.key] = [int(f) for f in marked]
    try:
        gen = iter_predict_items(
            session.dataset,
            box.model,
            where=box.items_frames.currentData(),
            every=box.items_every.value(),
            status=box.items_status.currentData(),
            detector=box.detector,
            suggestions=suggestions,
        )
    except KeyskelError as exc:
        box.panel.say(str(exc))
        return None
    finished_items: set[str] = set()

    def work() -> Any:
        return (yield from gen)

    worker = create_worker(work, _progress={"desc": "keyskel: running the model over the items"})
    box.model_worker, box._model_cancelled = worker, False
    box.run_progress.setRange(0, 1000)
    box.run_progress.setValue(0)
    box.run_button.setEnabled(False)
    box.run_cancel.setEnabled(True)

    def progressed(p: Any) -> None:
        if p.total and p.done == p.total:
            finished_items.add(p.name)
        box.run_progress.setValue(int(1000 * p.fraction))
        box.run_progress.setFormat(
            f"item {p.index + 1} of {p.n_items} ({p.name}): {p.done} of {p.total} frames"
        )

    def returned(summary: Any) -> None:
        box.last_summary = summary
        box.run_progress.setValue(1000)
        box.run_progress.setFormat(f"done: {plural(len(summary.results), 'item')} run")
        session.pending_changed.emit()
        box.panel.say(summary.describe())
        item = session.item
        if item is not None and any(r.key == item.key for r in summary.results):
            from .._napari.model_items import show_session_pending

            show_session_pending(session, box.panel.min_score)

    def finished() -> None:
        box.model_worker = None
        box.run_button.setEnabled(True)
        box.run_cancel.setEnabled(False)
        if box._model_cancelled:
            done = len(finished_items)
            box.panel.say(f"model run cancelled: {plural(done, 'item')} done keep their pending proposals")

    worker.yielded.connect(progressed)
    worker.returned.connect(returned)
    worker.errored.connect(lambda exc: box.panel.say(f"the model failed: {exc}"))
    worker.finished.connect(finished)
    box.panel.say(f"running {Path(box.model.path).name} over the items of {session.dataset.root.name}")
    worker.start()
    return worker
