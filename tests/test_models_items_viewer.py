"""The Models tab over every item of the dataset open in the Dataset dock; pending proposals accepted."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from qtpy.QtCore import Qt
from test_models_items import CLIPS, KP1, KP2, check_item, expected, make_dataset, proposed_frames, still_yolo

from napari_keyskel._qt.dataset_dock import DatasetDock
from napari_keyskel._qt.model_items_run import ITEMS, find_dataset_session
from napari_keyskel._qt.models_dock import ModelsPanel
from napari_keyskel.dataset import open_dataset
from napari_keyskel.dataset.pending import items_with_pending, pending_path, read_pending

pytestmark = pytest.mark.viewer
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def env(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    dock = DatasetDock(viewer)
    viewer.window.add_dock_widget(dock, name="Keyskel dataset", area="right")

    def layer():
        s = dock.session
        return s.points_layers[0] if s is not None and s.points_layers else None

    panel = ModelsPanel(viewer, layer_hook=layer)
    qtbot.addWidget(panel)
    return SimpleNamespace(viewer=viewer, dock=dock, panel=panel, box=panel.run_box, tmp=tmp_path)


def open_item(env, name):
    """Open an item in the dock; its pending proposals come with it (``DatasetSession.open``)."""
    from napari_keyskel._napari.registry import owner_of

    session = env.dock.session
    session.open(name)
    owners = [owner_of(layer) for layer in session.points_layers]
    return [o.proposals for o in owners if o is not None and o.proposals is not None]


def _model_column(env):
    """The Dataset dock's *model* column, by item name."""
    from napari_keyskel._qt.dataset_table import COLUMNS

    model = env.dock.model
    col = [title for title, _ in COLUMNS].index("model")
    return {row["name"]: model.data(model.index(i, col)) for i, row in enumerate(model.rows)}


def choose_model(env, qtbot, monkeypatch, path):
    from qtpy.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    qtbot.mouseClick(env.box.model_button, LEFT)


def test_every_item_from_the_models_tab_then_accept_in_the_opened_item(env, qtbot, monkeypatch):
    root = make_dataset(env.tmp / "worms")
    box = env.box
    choose_model(env, qtbot, monkeypatch, still_yolo(env.tmp / "yolo.onnx"))
    assert box.where_combo.findData(ITEMS) < 0  # no dataset open: no such choice
    env.dock.open_dataset(root)  # clip0.mp4 opens
    assert find_dataset_session(env.viewer) is env.dock.session
    box.refresh_where()
    box.where_combo.setCurrentIndex(box.where_combo.findData(ITEMS))
    assert box.where_combo.currentText() == "every item of the dataset"
    box.items_every.setValue(2)
    qtbot.mouseClick(box.run_button, LEFT)
    assert box.model_worker is not None and not box.run_button.isEnabled() and box.run_cancel.isEnabled()
    qtbot.waitUntil(lambda: box.model_worker is None, timeout=60000)
    text = env.panel.status.text()
    assert "3 items run (8 frames): 48 proposed nodes" in text
    assert "1 item failed:" in text and "zbroken.mp4: " in text and "not a readable video" in text
    assert box.run_progress.value() == box.run_progress.maximum() and box.run_button.isEnabled()
    summary = box.last_summary
    assert [r.name for r in summary.results] == list(CLIPS)
    assert box.run_progress.format() == "done: 3 items run"
    marked = {**dict.fromkeys(CLIPS, "to review"), "zbroken.mp4": ""}
    assert _model_column(env) == marked  # the Dataset dock marks the items a person has to review
    # the item open shows its proposals at once
    owner = env.panel.owner()
    assert owner.proposals is not None
    check_item(owner.proposals.store, "clip0.mp4", [0, 2, 4])

    # another item: its pending proposals appear, and accepting them writes keys and clears the file
    (pl,) = open_item(env, "clip1.mp4")
    check_item(pl.store, "clip1.mp4", [0, 2, 4])
    env.viewer.dims.set_current_step(0, 2)
    assert len(pl.points.data) == 6  # 2 worms x 3 nodes drawn on the frame in view
    env.panel.score_slider.setValue(85)  # only the heads (0.9 and 0.95)
    qtbot.mouseClick(env.panel.accept_all, LEFT)
    assert "accepted 6 proposed nodes" in env.panel.status.text()
    left = read_pending(env.dock.dataset, "clip1.mp4")
    assert left is not None and int(sum(np.isfinite(t.coords[..., 0]).sum() for t in left)) == 18 - 6
    env.panel.score_slider.setValue(0)
    qtbot.mouseClick(env.panel.accept_all, LEFT)
    assert not pending_path(env.dock.dataset, "clip1.mp4").exists()  # every proposal accepted
    qtbot.mouseClick(env.panel.undo_button, LEFT)  # undo the last accept: pending again
    assert proposed_frames(read_pending(env.dock.dataset, "clip1.mp4")) == [0, 2, 4]
    qtbot.mouseClick(env.panel.accept_all, LEFT)
    assert not pending_path(env.dock.dataset, "clip1.mp4").exists()
    env.dock.session.open("clip2.mp4")  # the table follows on the next item
    assert _model_column(env)["clip1.mp4"] == "" and _model_column(env)["clip2.mp4"] == "to review"

    # leaving the item saves the keys; the pending proposals of the others survive a reopening
    env.dock.session.close()
    again = open_dataset(root)
    assert [it.name for it in items_with_pending(again)] == ["clip0.mp4", "clip2.mp4"]
    keys = again.annotations("clip1.mp4").stores[0]
    assert sorted({t.start + int(r) for t in keys for r in np.flatnonzero(t.is_key.any(axis=1))}) == [0, 2, 4]
    size = CLIPS["clip1.mp4"][1]
    heads = sorted(
        (tuple(t.coords[r].ravel()) for t in keys for r in np.flatnonzero(t.is_key.all(axis=1))),
        key=lambda c: c[5],
    )
    assert len(heads) == 6
    for c in heads[:3]:
        assert np.abs(np.reshape(c, (3, 2)) - expected(KP1, size)).max() < 0.5
    for c in heads[3:]:
        assert np.abs(np.reshape(c, (3, 2)) - expected(KP2, size)).max() < 0.5

    env.dock.open_dataset(root)  # a new session over the files: clip2's proposals still there
    (pl,) = open_item(env, "clip2.mp4")
    check_item(pl.store, "clip2.mp4", [0, 2])
    qtbot.mouseClick(env.panel.reject_button, LEFT)  # nothing selected: refused, file kept
    assert "select proposal points first" in env.panel.status.text()
    assert read_pending(env.dock.dataset, "clip2.mp4") is not None


def test_cancel_a_run_over_the_items(env, qtbot, monkeypatch):
    root = make_dataset(env.tmp / "worms", broken=False)
    box = env.box
    env.dock.open_dataset(root)
    choose_model(env, qtbot, monkeypatch, still_yolo(env.tmp / "yolo.onnx"))
    box.where_combo.setCurrentIndex(box.where_combo.findData(ITEMS))
    box.model.batch_size = 1
    worker = box.run_model()
    assert worker is not None
    qtbot.mouseClick(box.run_cancel, LEFT)
    qtbot.waitUntil(lambda: box.model_worker is None, timeout=60000)
    assert "cancelled" in env.panel.status.text()
    assert box.last_summary is None  # no summary of a run that was stopped
    assert len(items_with_pending(env.dock.dataset)) < 3
    assert KP2 is not None
