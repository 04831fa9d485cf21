"""The *Models* panel: run a pose model, proposals over an annotation layer, accept / reject, propagation.

:class:`ModelsPanel` works on the annotation layer its ``layer_hook`` returns (the Keyskel dock's
current layer; standalone: the selected keyskel layer) through a
:class:`~napari_keyskel._napari.proposals_layer.ProposalsLayer`:

- *Run a model*: choose an ONNX file (*Model…*; *Names…* for a model without keypoint names),
  read its card (family, input size, keypoints and names, where it runs, how its keypoints map
  onto the skeleton; *Mapping…* sets the mapping, saved with the layer), choose where it runs
  (the frame in view, a range, every frame between keys that has no key, the frames suggested
  for labelling, every frame) and *Run*: a napari ``thread_worker`` reads the frames one at a
  time with a progress bar and *Cancel*; the poses replace the proposals on those frames, with
  their scores (:mod:`napari_keyskel._napari.model_run`);

- a score slider (proposed nodes below it are hidden and never accepted);
- accept the selected node(s), their instance, the frame, or everything above the threshold;
  reject the selection; undo the last accept / reject;
- propagate the current instance forward or backward, to the next key or N frames, as proposals
  or as non-key positions; *Interpolate with the image*; a cancel button while a worker runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .._napari.napari_private import unwrap_proxy
from ..errors import KeyskelError

if TYPE_CHECKING:
    import napari

    from .._napari.proposals_layer import ProposalsLayer

__all__ = ["ModelsPanel"]


def _selected_keyskel_layer(viewer: Any) -> Any:
    from .._napari.controller import controller_for

    active = viewer.layers.selection.active
    if active is not None and controller_for(active) is not None:
        return active
    return next((ly for ly in viewer.layers if controller_for(ly) is not None), None)


class ModelsPanel(QWidget):
    """Proposals and propagation controls for one annotation layer (see the module docstring)."""

    def __init__(
        self,
        napari_viewer: napari.viewer.Viewer,
        layer_hook: Callable[[], Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.viewer = unwrap_proxy(napari_viewer)
        self.layer_hook = layer_hook or (lambda: _selected_keyskel_layer(self.viewer))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.model: Any = None
        self.detector: Any = None
        self.model_worker: Any = None
        self._model_cancelled = False
        self.suggestions_hook: Callable[[], Any] = self._suggested_frames
        layout.addWidget(self._model_box())

        box = QGroupBox("Proposals")
        grid = QGridLayout(box)
        self.open_button = QPushButton("Open proposals…")
        self.open_button.setToolTip("A model's output (COCO results, COCO or Darwin file) as proposals")
        self.score_slider = QSlider(Qt.Orientation.Horizontal)
        self.score_slider.setRange(0, 100)
        self.score_label = QLabel("min score 0.00")
        self.accept_node = QPushButton("Accept node")
        self.accept_instance = QPushButton("Accept instance")
        self.accept_frame = QPushButton("Accept frame")
        self.accept_all = QPushButton("Accept all ≥ score")
        self.reject_button = QPushButton("Reject selected")
        self.undo_button = QPushButton("Undo accept/reject")
        grid.addWidget(self.open_button, 0, 0, 1, 2)
        grid.addWidget(self.score_label, 1, 0)
        grid.addWidget(self.score_slider, 1, 1)
        grid.addWidget(self.accept_node, 2, 0)
        grid.addWidget(self.accept_instance, 2, 1)
        grid.addWidget(self.accept_frame, 3, 0)
        grid.addWidget(self.accept_all, 3, 1)
        grid.addWidget(self.reject_button, 4, 0)
        grid.addWidget(self.undo_button, 4, 1)
        layout.addWidget(box)

        pbox = QGroupBox("Propagate the current instance through the image")
        form = QFormLayout(pbox)
        self.n_frames = QSpinBox()
        self.n_frames.setRange(0, 100000)
        self.n_frames.setSpecialValueText("to the next key")
        self.n_frames.setToolTip("frames to follow (0: up to the frame before the next key)")
        self.as_positions = QCheckBox("write as non-key positions (not proposals)")
        row = QHBoxLayout()
        self.backward_button = QPushButton("◀ Backward")
        self.forward_button = QPushButton("Forward ▶")
        row.addWidget(self.backward_button)
        row.addWidget(self.forward_button)
        self.interp_button = QPushButton("Interpolate with the image")
        self.interp_button.setToolTip("Fill the frames between keys by tracking from both keys")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        form.addRow("Frames", self.n_frames)
        form.addRow(self.as_positions)
        form.addRow(row)
        form.addRow(self.interp_button)
        form.addRow(self.cancel_button)
        layout.addWidget(pbox)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.score_slider.valueChanged.connect(self._on_score)
        self.accept_node.clicked.connect(lambda: self._act(lambda p: p.accept("node")))
        self.accept_instance.clicked.connect(lambda: self._act(lambda p: p.accept("instance")))
        self.accept_frame.clicked.connect(lambda: self._act(lambda p: p.accept("frame")))
        self.accept_all.clicked.connect(lambda: self._act(lambda p: p.accept("all")))
        self.reject_button.clicked.connect(lambda: self._act(lambda p: p.reject("node")))
        self.undo_button.clicked.connect(lambda: self._act(lambda p: p.undo()))
        self.forward_button.clicked.connect(lambda: self.propagate(1))
        self.backward_button.clicked.connect(lambda: self.propagate(-1))
        self.interp_button.clicked.connect(self.interpolate_with_image)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button.clicked.connect(self._open_dialog)

    def _model_box(self) -> QGroupBox:
        from ..assist.models.where import WHERE

        box = QGroupBox("Run a model")
        form = QFormLayout(box)
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
        self.where_combo = QComboBox()
        for key, text in WHERE.items():
            self.where_combo.addItem(text, key)
        form.addRow("Run on", self.where_combo)
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
        return box

    # -- running a model --------------------------------------------------------------------------
    def load_model(self, path: str, names_file: str | None = None) -> Any:
        """Open an ONNX model and show its card; None (and the reason shown) if it cannot be used."""
        from ..assist.models import PoseModel

        try:
            self.model = PoseModel(path, names_file=names_file, conf=self.conf_spin.value())
        except KeyskelError as exc:
            self.model = None
            self.card_label.setText("no model")
            self.say(f"cannot use the model: {exc}")
            return None
        self.show_card()
        self.say(f"model {path}")
        return self.model

    def show_card(self) -> None:
        """The model card, and how its keypoints map onto the current layer's skeleton."""
        if self.model is None:
            self.card_label.setText("no model")
            return
        text = self.model.card.describe()
        if self.model.card.top_down:
            det = f"detector {Path(self.detector.path).name}, " if self.detector is not None else ""
            text += (
                f"\nboxes: the layer's instances, else the previous frame's poses, else {det}the whole frame"
            )
        ctrl = self.controller()
        n = None if ctrl is None else ctrl.store.n_frames
        if n:
            for sb in (self.range_from, self.range_to):
                sb.setMaximum(n - 1)
            if self.range_to.value() == 0:
                self.range_to.setValue(n - 1)
        if ctrl is not None:
            from .._napari.model_run import mapping_for

            try:
                text += f"\nmapping: {mapping_for(ctrl, self.model).describe()}"
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
                self.say(f"cannot use the detector: {exc}")
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
            self.say("choose a model first")
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

        ctrl = self.controller()
        if ctrl is None or self.model is None:
            self.say("choose an annotation layer and a model first")
            return None
        store = ctrl.store
        if not mapping:
            from .._napari.model_run import mapping_for

            try:
                current = mapping_for(ctrl, self.model).as_dict()
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
            self.say(str(exc))
            return None
        self.show_card()
        return mapping

    def _suggested_frames(self) -> list[int]:
        """Frames suggested for labelling, as the layer's metadata lists them (``keyskel_suggestions``)."""
        layer = self.layer_hook()
        meta = getattr(layer, "metadata", None) or {}
        return [int(f) for f in meta.get("keyskel_suggestions") or []]

    def frames_to_run(self, n_frames: int) -> list[int]:
        """The frames the *Run on* choice gives."""
        from ..assist.models.where import frames_for

        ctrl = self.controller()
        where = self.where_combo.currentData()
        return frames_for(
            where,
            n_frames,
            store=None if ctrl is None else ctrl.store,
            frame=None if ctrl is None else ctrl.frame_in_view(),
            start=self.range_from.value(),
            stop=self.range_to.value(),
            suggested=self.suggestions_hook() if where == "suggested" else None,
        )

    def run_model(self) -> Any:
        """Run the model in a worker over the chosen frames; returns the (started) worker, or None."""
        from napari.qt.threading import create_worker

        from .._napari import model_run
        from ..assist.models.predict import n_frames

        ctrl = self.controller()
        if ctrl is None or self.model is None:
            self.say("choose an annotation layer and a model first")
            return None
        if self.model_worker is not None:
            self.say("a model is already running (cancel it first)")
            return None
        try:
            data = model_run.media_data(ctrl)
            frames = self.frames_to_run(n_frames(data))
            mapping = model_run.mapping_for(ctrl, self.model)
            gen = model_run.run(ctrl, self.model, frames, data, self.detector)
        except KeyskelError as exc:
            self.say(str(exc))
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
            pl = model_run.proposals_layer(ctrl, self.min_score)
            label = f"model {model.card.family} on {total} frames"
            n_inst, n_nodes = model_run.add_poses(pl, poses, frames, mapping, label)
            self.say(f"{n_nodes} proposed nodes in {n_inst} instances on {total} frames")

        def finished() -> None:
            self.model_worker = None
            self.run_button.setEnabled(True)
            self.run_cancel.setEnabled(False)

        worker.yielded.connect(self.run_progress.setValue)
        worker.returned.connect(returned)
        worker.errored.connect(lambda exc: self.say(f"the model failed: {exc}"))
        worker.finished.connect(finished)
        self.say(f"running {Path(model.path).name} on {total} frames")
        worker.start()
        return worker

    def cancel_model(self) -> None:
        """Stop the running model (its poses are dropped)."""
        if self.model_worker is not None:
            self._model_cancelled = True
            self.model_worker.quit()
            self.say("model run cancelled")

    # -- the proposals layer of the current annotation layer --------------------------------------
    def controller(self) -> Any:
        from .._napari.controller import controller_for

        layer = self.layer_hook()
        return None if layer is None else controller_for(layer)

    def proposals(self, create: bool = True) -> ProposalsLayer | None:
        """The proposals layer of the current annotation layer (made empty if ``create``)."""
        from .._napari.proposals_layer import ProposalsLayer, proposals_for

        ctrl = self.controller()
        if ctrl is None:
            return None
        pl = proposals_for(ctrl)
        if pl is None and create:
            pl = ProposalsLayer(ctrl, min_score=self.min_score)
        return pl

    @property
    def min_score(self) -> float:
        """The slider's threshold in [0, 1]."""
        return self.score_slider.value() / 100.0

    def open_proposals(self, path: str, **read_kwargs: Any) -> ProposalsLayer | None:
        """Show the proposals of a file over the current annotation layer (replacing any).

        A results list with generic ``kp0..`` nodes opens through the keypoint mapping, its
        image ids paired with the layer's images
        (:func:`~napari_keyskel.assist.proposals.proposals_from_dataset`).
        """
        import warnings

        from .._napari.proposals_layer import ProposalsLayer
        from ..assist.proposals import proposals_from_dataset, with_image_ids
        from ..formats import read

        ctrl = self.controller()
        if ctrl is None:
            self.say("no annotation layer")
            return None
        info = ((getattr(ctrl.points, "metadata", None) or {}).get("keyskel") or {}).get("dataset") or {}
        frames = list(info.get("frames") or [])
        if info.get("source") and frames:
            frames = with_image_ids(frames, info["source"])
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                store = proposals_from_dataset(
                    ctrl.store, read(path, **read_kwargs), frames, source=str(path)
                )
            pl = ProposalsLayer(ctrl, store, self.min_score)  # replaces any
        except KeyskelError as exc:
            self.say(f"cannot open proposals: {exc}")
            return None
        notes = [str(w.message) for w in caught if "generic node names" not in str(w.message)]
        self.say("; ".join([f"proposals from {path}", *notes]))
        return pl

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open proposals", "", "JSON (*.json)")
        if path:
            self.open_proposals(path)

    def say(self, text: str) -> None:
        self.status.setText(text)

    def _on_score(self, value: int) -> None:
        self.score_label.setText(f"min score {value / 100:.2f}")
        pl = self.proposals(create=False)
        if pl is not None:
            pl.set_min_score(value / 100.0)

    def _act(self, fn: Callable[[ProposalsLayer], Any]) -> Any:
        pl = self.proposals()
        if pl is None:
            self.say("no annotation layer")
            return None
        try:
            out = fn(pl)
        except KeyskelError as exc:
            self.say(str(exc))
            return None
        self.say(pl.last_message)
        return out

    # -- propagation ------------------------------------------------------------------------------
    def _run(self, start: Callable[[ProposalsLayer], Any]) -> Any:
        worker = self._act(start)
        if worker is None:
            return None
        self.cancel_button.setEnabled(True)
        pl = self.proposals(create=False)

        def finished() -> None:
            self.cancel_button.setEnabled(False)
            if pl is not None:
                self.say(pl.last_message)

        worker.finished.connect(finished)
        return worker

    def propagate(self, direction: int) -> Any:
        """Follow the current instance (forward +1 / backward -1) in a worker; returns it."""
        n = self.n_frames.value() or None
        into = "annotations" if self.as_positions.isChecked() else "proposals"
        return self._run(lambda p: p.propagate(direction, n_frames=n, into=into))

    def interpolate_with_image(self) -> Any:
        """Image-guided in-betweens of the current instance (every instance if none), in a worker."""
        ctrl = self.controller()
        tid = None if ctrl is None else ctrl.current_instance
        return self._run(lambda p: p.interpolate_with_image(track_id=tid))

    def cancel(self) -> None:
        """Cancel the running worker."""
        pl = self.proposals(create=False)
        if pl is not None:
            pl.cancel()
            self.say(pl.last_message)
