"""The *Models* panel: run a pose model, proposals over an annotation layer, accept / reject, propagation.

:class:`ModelsPanel` works on the annotation layer its ``layer_hook`` returns (the Keyskel dock's
current layer; standalone: the selected keyskel layer) through a
:class:`~napari_keyskel._napari.proposals_layer.ProposalsLayer`:

- *Run a model* (:class:`~napari_keyskel._qt.model_run_box.ModelRunBox`, ``run_box``): an ONNX
  pose model's card, where it runs, a worker with a progress bar and *Cancel*; its poses become
  proposals;

- a score slider (proposed nodes below it are hidden and never accepted);
- accept the selected node(s), their instance, the frame, or everything above the threshold;
  reject the selection; undo the last accept / reject;
- propagate the current instance forward or backward, to the next key or N frames, as proposals
  or as non-key positions; *Interpolate with the image*; a cancel button while a worker runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
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
    from .._napari.registry import owner_of

    active = viewer.layers.selection.active
    if active is not None and owner_of(active) is not None:
        return active
    return next((ly for ly in viewer.layers if owner_of(ly) is not None), None)


def _thread_worker(work: Callable[[], Any], progress: dict[str, Any]) -> Any:
    """A thread worker of napari, with a progress bar in its activity dock."""
    from napari.qt.threading import create_worker

    return create_worker(work, _progress=progress)


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
        from .model_run_box import ModelRunBox

        self.run_box = ModelRunBox(self)
        layout.addWidget(self.run_box)

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

    # -- the proposals layer of the current annotation layer --------------------------------------
    def owner(self) -> Any:
        """The owner of the current annotation layer, if any."""
        from .._napari.registry import owner_of

        layer = self.layer_hook()
        return None if layer is None else owner_of(layer)

    def proposals(self, create: bool = True) -> ProposalsLayer | None:
        """The proposals layer of the current annotation layer (made empty if ``create``)."""
        from .._napari.proposals_layer import ProposalsLayer

        owner = self.owner()
        if owner is None:
            return None
        pl = owner.proposals
        if pl is None and create:
            pl = ProposalsLayer(owner, min_score=self.min_score)
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

        owner = self.owner()
        if owner is None:
            self.say("no annotation layer")
            return None
        info = ((getattr(owner.points, "metadata", None) or {}).get("keyskel") or {}).get("dataset") or {}
        frames = list(info.get("frames") or [])
        if info.get("source") and frames:
            frames = with_image_ids(frames, info["source"])
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                store = proposals_from_dataset(
                    owner.store, read(path, **read_kwargs), frames, source=str(path)
                )
            pl = ProposalsLayer(owner, store, self.min_score)  # replaces any
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
        return self._run(lambda p: p.propagate(direction, n_frames=n, into=into, run=_thread_worker))

    def interpolate_with_image(self) -> Any:
        """Image-guided in-betweens of the current instance (every instance if none), in a worker."""
        owner = self.owner()
        tid = None if owner is None else owner.current_instance
        return self._run(lambda p: p.interpolate_with_image(track_id=tid, run=_thread_worker))

    def cancel(self) -> None:
        """Cancel the running worker."""
        pl = self.proposals(create=False)
        if pl is not None:
            pl.cancel()
            self.say(pl.last_message)
