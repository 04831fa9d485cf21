"""The *Run a model* box of the Models tab: choose an ONNX pose model, see its card, run it.

:class:`ModelRunBox` lives in :class:`~napari_keyskel._qt.models_dock.ModelsPanel` and works on
the panel's annotation layer: *Model…* (and *Names…* for a model without keypoint names) opens
the model and shows its card (family, input size, keypoints and names, where it runs, where a
top-down model's boxes come from, how its keypoints map onto the skeleton); *Mapping…* sets the
mapping (saved with the layer); *Detector…* picks a YOLO-pose model giving boxes to a top-down
one; *Run on* chooses the frames (the frame in view, a range, every frame between keys that has
no key, the frames suggested for labelling, every frame); *Run model* reads them one at a time in
a napari ``thread_worker`` with a progress bar and *Cancel*, and the poses replace the proposals
on those frames, with their scores (:mod:`napari_keyskel._napari.model_run`).

When a dataset is open in the Dataset dock (:mod:`.model_items_run`), *Run on* also offers
*every item of the dataset*: the model runs over the items (those with the status chosen under
*Items*; each item's frames as chosen there, every k-th), item after item in the worker, with the
progress over items and frames, and each item's poses are kept as its pending proposals
(:mod:`napari_keyskel.assist.models.over_items`): they appear as proposals when the item is
opened (those of the item open at once). At the end a summary: items run, proposals made,
failures by name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
)

from ..core.wording import plural
from ..errors import KeyskelError
from .model_items_run import ITEMS, WhereCombo, find_dataset_session, run_items

__all__ = ["ModelRunBox"]


class ModelRunBox(QGroupBox):
    """Choose, describe and run a pose model over the panel's annotation layer (module docstring)."""

    def __init__(self, panel: Any) -> None:
        from ..assist.models.where import WHERE

        super().__init__("Run a model", panel)
        self.panel = panel
        self.model: Any = None
        self.detector: Any = None
        self.model_worker: Any = None
        self._model_cancelled = False
        self.suggestions_hook: Callable[[], Any] = self._suggested_frames
        #: The open dataset's ``DatasetSession`` (or None): the Dataset dock's, found in the window.
        self.dataset_hook: Callable[[], Any] = lambda: find_dataset_session(self.panel.viewer)
        self.last_summary: Any = None
        form = QFormLayout(self)
        row = QHBoxLayout()
        self.model_button = QPushButton("Model…")
        self.model_button.setToolTip("An ONNX pose model: Ultralytics YOLO-pose, RTMPose/SimCC or heatmaps")
        self.names_button = QPushButton("Names…")
        self.names_button.setToolTip(
            "Keypoint names for a model without them: one per line, or a skeleton file"
        )
        self.mapping_button = QPushButton("Mapping…")
        self.mapping_button.setToolTip("Which model keypoint gives each skeleton node (saved with the layer)")
        self.detector_button = QPushButton("Detector…")
        self.detector_button.setToolTip(
            "A YOLO-pose model giving boxes to a top-down model on frames without instances"
        )
        for b in (self.model_button, self.names_button, self.mapping_button, self.detector_button):
            row.addWidget(b)
        form.addRow(row)
        self.card_label = QLabel("no model")
        self.card_label.setWordWrap(True)
        form.addRow(self.card_label)
        self.where_combo = WhereCombo(self.refresh_where)
        for key, text in WHERE.items():
            self.where_combo.addItem(text, key)
        form.addRow("Run on", self.where_combo)
        from ..assist.models.over_items import ITEM_WHERE
        from ..dataset import STATUSES

        items_row = QHBoxLayout()
        self.items_status = QComboBox()
        self.items_status.addItem("any status", None)
        for st in STATUSES:
            self.items_status.addItem(f"{st} items", st)
        self.items_status.setToolTip("Every item of the dataset: only the items with this status")
        self.items_frames = QComboBox()
        for key, text in ITEM_WHERE.items():
            self.items_frames.addItem(text.split(" (")[0], key)
        self.items_every = QSpinBox()
        self.items_every.setRange(1, 100_000)
        self.items_every.setPrefix("every ")
        self.items_every.setToolTip("Every item of the dataset: keep every k-th of the item's frames")
        for w in (self.items_status, self.items_frames, self.items_every):
            items_row.addWidget(w)
        form.addRow("Items", items_row)
        rng = QHBoxLayout()
        self.range_from, self.range_to = QSpinBox(), QSpinBox()
        for sb in (self.range_from, self.range_to):
            sb.setRange(0, 10_000_000)
            rng.addWidget(sb)
        form.addRow("Range (frames)", rng)
        self.conf_spin = QDoubleSpinBox()
        self.conf_spin.setRange(0.0, 1.0)
        self.conf_spin.setSingleStep(0.05)
        self.conf_spin.setValue(0.25)
        self.conf_spin.setToolTip("YOLO-pose detection threshold (Ultralytics' default 0.25)")
        form.addRow("Detection threshold", self.conf_spin)
        run_row = QHBoxLayout()
        self.run_button = QPushButton("Run model")
        self.run_cancel = QPushButton("Cancel")
        self.run_cancel.setEnabled(False)
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.run_cancel)
        form.addRow(run_row)
        self.run_progress = QProgressBar()
        self.run_progress.setValue(0)
        form.addRow(self.run_progress)
        self.model_button.clicked.connect(self._model_dialog)
        self.detector_button.clicked.connect(self._detector_dialog)
        self.names_button.clicked.connect(self._names_dialog)
        self.mapping_button.clicked.connect(self.edit_mapping)
        self.run_button.clicked.connect(self.run_model)
        self.run_cancel.clicked.connect(self.cancel_model)
        self.conf_spin.valueChanged.connect(self._on_conf)

    def load_model(self, path: str, names_file: str | None = None) -> Any:
        """Open an ONNX model and show its card; None (and the reason shown) if it cannot be used."""
        from ..assist.models import PoseModel

        try:
            self.model = PoseModel(path, names_file=names_file, conf=self.conf_spin.value())
        except KeyskelError as exc:
            self.model = None
            self.card_label.setText("no model")
            self.panel.say(f"cannot use the model: {exc}")
            return None
        self.show_card()
        self.panel.say(f"model {path}")
        return self.model

    def show_card(self) -> None:
        """The model card, and how its keypoints map onto the current layer's skeleton."""
        self.refresh_where()
        if self.model is None:
            self.card_label.setText("no model")
            return
        text = self.model.card.describe()
        if self.model.card.top_down:
            det = f"detector {Path(self.detector.path).name}, " if self.detector is not None else ""
            text += (
                f"\nboxes: the layer's instances, else the previous frame's poses, else {det}the whole frame"
            )
        owner = self.panel.owner()
        n = None if owner is None else owner.store.n_frames
        if n:
            for sb in (self.range_from, self.range_to):
                sb.setMaximum(n - 1)
            if self.range_to.value() == 0:
                self.range_to.setValue(n - 1)
        if owner is not None:
            from .._napari.model_run import mapping_for

            try:
                text += f"\nmapping: {mapping_for(owner, self.model).describe()}"
            except KeyskelError as exc:
                text += f"\nmapping: {exc}"
        self.card_label.setText(text)

    def _model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a pose model", "", "ONNX (*.onnx);;All files (*)")
        if path:
            self.load_model(path)

    def load_detector(self, path: str | None) -> Any:
        """Use a YOLO-pose model for boxes of a top-down model (None: no detector)."""
        from ..assist.models import PoseModel

        if path is None:
            self.detector = None
        else:
            try:
                det = PoseModel(path, conf=self.conf_spin.value())
                if det.card.top_down:
                    raise KeyskelError(f"{path}: a detector must be a YOLO-pose model, not {det.card.title}")
            except KeyskelError as exc:
                self.panel.say(f"cannot use the detector: {exc}")
                return None
            self.detector = det
        self.show_card()
        return self.detector

    def _detector_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "A YOLO-pose detector", "", "ONNX (*.onnx);;All files (*)"
        )
        if path:
            self.load_detector(path)

    def _names_dialog(self) -> None:
        if self.model is None:
            self.panel.say("choose a model first")
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Keypoint names", "", "Names (*.txt *.json);;All files (*)"
        )
        if path:
            self.load_model(self.model.path, names_file=path)

    def _on_conf(self, value: float) -> None:
        for m in (self.model, self.detector):
            if m is not None:
                m.conf = float(value)

    def edit_mapping(self, mapping: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Set the keypoint mapping (saved with the layer): ``mapping``, else from the dialog."""
        from ..assist.models import map_keypoints, save_mapping
        from .mapping_dialog import MappingDialog

        owner = self.panel.owner()
        if owner is None or self.model is None:
            self.panel.say("choose an annotation layer and a model first")
            return None
        store = owner.store
        if not mapping:
            from .._napari.model_run import mapping_for

            try:
                current = mapping_for(owner, self.model).as_dict()
            except KeyskelError:
                current = {}
            dialog = MappingDialog(store.skeleton.nodes, self.model.card.names, current, self)
            self.mapping_dialog = dialog
            if not dialog.exec():
                return None
            mapping = dialog.mapping()
        try:
            save_mapping(store.meta, map_keypoints(self.model.card.names, store.skeleton.nodes, mapping))
        except KeyskelError as exc:
            self.panel.say(str(exc))
            return None
        self.show_card()
        return mapping

    def _suggested_frames(self) -> list[int]:
        """Frames suggested for labelling, as the layer's metadata lists them (``keyskel_suggestions``)."""
        layer = self.panel.layer_hook()
        meta = getattr(layer, "metadata", None) or {}
        return [int(f) for f in meta.get("keyskel_suggestions") or []]

    def frames_to_run(self, n_frames: int) -> list[int]:
        """The frames the *Run on* choice gives."""
        from ..assist.models.where import frames_for

        owner = self.panel.owner()
        where = self.where_combo.currentData()
        return frames_for(
            where,
            n_frames,
            store=None if owner is None else owner.store,
            frame=None if owner is None else owner.frame_in_view(),
            start=self.range_from.value(),
            stop=self.range_to.value(),
            suggested=self.suggestions_hook() if where == "suggested" else None,
        )

    def refresh_where(self) -> None:
        """Offer *every item of the dataset* while a dataset is open (and only then)."""
        at = self.where_combo.findData(ITEMS)
        open_ = self.dataset_hook() is not None
        if open_ and at < 0:
            self.where_combo.addItem("every item of the dataset", ITEMS)
        elif not open_ and at >= 0:
            self.where_combo.removeItem(at)

    def busy(self) -> bool:
        """A model is running (said in the status line): nothing else may start."""
        if self.model_worker is not None:
            self.panel.say("a model is already running (cancel it first)")
        return self.model_worker is not None

    def run_model(self) -> Any:
        """Run the model in a worker over the chosen frames; returns the (started) worker, or None."""
        from napari.qt.threading import create_worker

        from .._napari import model_run
        from ..assist.models.predict import n_frames

        if self.where_combo.currentData() == ITEMS:
            return self.run_items()
        owner = self.panel.owner()
        if owner is None or self.model is None:
            self.panel.say("choose an annotation layer and a model first")
            return None
        if self.busy():
            return None
        try:
            data = model_run.media_data(owner)
            frames = self.frames_to_run(n_frames(data))
            mapping = model_run.mapping_for(owner, self.model)
            gen = model_run.run(owner, self.model, frames, data, self.detector)
        except KeyskelError as exc:
            self.panel.say(str(exc))
            return None
        model, total = self.model, len(frames)

        def work() -> Any:
            return (yield from gen)

        worker = create_worker(work, _progress={"total": total, "desc": "keyskel: running the model"})
        self.model_worker, self._model_cancelled = worker, False
        self.run_progress.setRange(0, total)
        self.run_progress.setValue(0)
        self.run_button.setEnabled(False)
        self.run_cancel.setEnabled(True)

        def returned(poses: Any) -> None:
            if self._model_cancelled:
                return
            pl = model_run.proposals_layer(owner, self.panel.min_score)
            label = f"model {model.card.family} on {plural(total, 'frame')}"
            n_inst, n_nodes = model_run.add_poses(pl, poses, frames, mapping, label)
            self.panel.say(
                f"{plural(n_nodes, 'proposed node')} in {plural(n_inst, 'instance')} "
                f"on {plural(total, 'frame')}"
            )

        def finished() -> None:
            self.model_worker = None
            self.run_button.setEnabled(True)
            self.run_cancel.setEnabled(False)

        worker.yielded.connect(self.run_progress.setValue)
        worker.returned.connect(returned)
        worker.errored.connect(lambda exc: self.panel.say(f"the model failed: {exc}"))
        worker.finished.connect(finished)
        self.panel.say(f"running {Path(model.path).name} on {total} frames")
        worker.start()
        return worker

    def run_items(self) -> Any:
        """Run the model over the open dataset's items in a worker; returns the (started) worker, or None."""
        return run_items(self)

    def cancel_model(self) -> None:
        """Stop the running model (its poses are dropped)."""
        if self.model_worker is not None:
            self._model_cancelled = True
            self.model_worker.quit()
            self.panel.say("model run cancelled")
