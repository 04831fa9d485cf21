"""napari's own File > Save with a keyskel writer counts as a save; Ctrl-S is Cmd-S on macOS."""

from __future__ import annotations

import numpy as np
import pytest
from _events import mouse
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest
from test_save import _ctrl_s

from napari_keyskel import formats
from napari_keyskel.core.annotation_set import AnnotationSet
from napari_keyskel.samples.synthetic import moving_figure

pytestmark = pytest.mark.viewer


def _open(viewer, path):
    (points,) = [ly for ly in viewer.open(path, plugin="napari-keyskel") if "keyskel" in ly.metadata]
    viewer.layers.selection.active = points
    return points


def _drag_a_point(points, by=(5.0, -3.0), steps=6):
    """Press on a point of the frame in view, move in steps, release (napari's callbacks).

    Returns the (instance, node) napari picked (the top one where points overlap) and where it ended.
    """
    points.mode = "select"
    start = np.asarray(points.data[0], float)
    mouse(points, "mouse_press", start)
    (row,) = points.selected_data
    picked = int(points.features["instance"][row]), str(points.features["node"][row])
    end = np.asarray(points.data[row], float) + np.r_[0.0, by]
    for s in range(1, steps + 1):
        mouse(points, "mouse_move", start + np.r_[0.0, by] * s / steps)
    mouse(points, "mouse_release", start + np.r_[0.0, by])
    f = points.features
    (row,) = np.flatnonzero((f["instance"] == picked[0]) & (f["node"].astype(str) == picked[1]))
    np.testing.assert_allclose(points.data[row], end)  # where the person left it
    return picked, end


def _save_through_the_file_menu(viewer, monkeypatch, target, writer_name):
    """File > Save Selected Layers..., the person picking ``target`` and the filter naming ``writer_name``."""
    from qtpy.QtWidgets import QFileDialog

    offered = []

    def pick(*args, **kwargs):
        filters = kwargs["filter"].split(";;")
        offered.extend(filters)
        return str(target), next(f for f in filters if writer_name in f)

    monkeypatch.setattr(QFileDialog, "getSaveFileName", pick)
    action = viewer.window.file_menu.findAction("napari.window.file.save_layers_dialog.selected")
    action.trigger()
    return offered


def test_file_save_with_our_writer_clears_unsaved_and_ctrl_s_follows(
    make_napari_viewer, darwin_file, tmp_path, monkeypatch
):
    from napari_keyskel._napari.registry import owner_of

    viewer = make_napari_viewer()
    points = _open(viewer, darwin_file)
    state = owner_of(points).save
    viewer.dims.set_current_step(0, 5)
    _drag_a_point(points)
    assert state.unsaved
    before = darwin_file.read_bytes()
    target = tmp_path / "saved as coco.json"
    offered = _save_through_the_file_menu(viewer, monkeypatch, target, "COCO keypoints")
    assert any("V7 Darwin JSON" in f for f in offered)
    assert not state.unsaved and state.path == target and state.format == "coco"
    from napari.utils.notifications import notification_manager

    said = [str(n.message) for n in notification_manager.records]
    assert any("saved 'mouse' (every frame) as COCO keypoints" in m and str(target) in m for m in said)
    assert formats.detect_format(target) == "coco" and darwin_file.read_bytes() == before
    # the next Ctrl-S writes to the file the person chose, in its format, every frame
    viewer.dims.set_current_step(0, 15)
    (instance, node), moved = _drag_a_point(points, by=(-4.0, 2.0))
    assert state.unsaved
    _ctrl_s(viewer)
    assert not state.unsaved and darwin_file.read_bytes() == before
    (store,) = formats.read(target).stores
    t, k = store.tracks[instance], store.skeleton.index(node)
    np.testing.assert_allclose(t.coords[15 - t.start, k], moved[1:], atol=1e-6)
    assert t.stop - t.start == 20


def test_file_save_as_csv_leaves_the_layer_unsaved(make_napari_viewer, darwin_file, tmp_path, monkeypatch):
    from napari_keyskel._napari.registry import owner_of

    viewer = make_napari_viewer()
    points = _open(viewer, darwin_file)
    _drag_a_point(points)
    target = tmp_path / "frame.csv"
    _save_through_the_file_menu(viewer, monkeypatch, target, "napari builtins")
    assert target.exists()  # napari's CSV: only the frame in view, so the work is still unsaved
    assert owner_of(points).save.unsaved and owner_of(points).save.path == darwin_file


def test_file_save_of_several_items_as_v7_then_ctrl_s_writes_the_same_folder(
    make_napari_viewer, tmp_path, monkeypatch
):
    from napari_keyskel._napari.registry import owner_of

    coco = tmp_path / "images.json"
    _, store = moving_figure(n_frames=3, shape=(64, 64), render=False)
    frames = [{"item": f"img_{i}.png", "width": 64, "height": 64} for i in range(3)]
    formats.write(AnnotationSet(stores=[store], frames=frames), coco, "coco")
    viewer = make_napari_viewer()
    points = _open(viewer, coco)
    _drag_a_point(points)
    target = tmp_path / "v7.json"
    _save_through_the_file_menu(viewer, monkeypatch, target, "V7 Darwin JSON")
    state = owner_of(points).save
    assert not state.unsaved and state.format == "darwin"
    folder = tmp_path / "v7"
    items = sorted(p.name for p in folder.glob("*.json") if not p.name.endswith(".skeleton.json"))
    assert len(items) == 3
    stamp = {p: p.stat().st_mtime_ns for p in folder.glob("*.json")}
    viewer.dims.set_current_step(0, 1)
    _drag_a_point(points)
    _ctrl_s(viewer)
    assert not state.unsaved
    assert sorted(p.name for p in folder.glob("*.json") if not p.name.endswith(".skeleton.json")) == items
    assert any(p.stat().st_mtime_ns != m for p, m in stamp.items())
    back = formats.read(folder)
    assert len(back.frames) == 3


def test_ctrl_keys_are_command_keys_on_macos(make_napari_viewer, darwin_file):
    """Ctrl-S, Ctrl-Z and Ctrl-Shift-Z are bound as app-model's CtrlCmd: Ctrl here, Cmd on macOS.

    (napari itself reads the string "Control-S" as the Control key on macOS too, which is ⌃ there.)
    """
    from app_model.types import KeyBinding, KeyCode, KeyMod

    viewer = make_napari_viewer()
    points = _open(viewer, darwin_file)
    names = {getattr(fn, "__name__", ""): kb for kb, fn in points.keymap.items()}
    expected = {
        "_ctrl_s": KeyMod.CtrlCmd | KeyCode.KeyS,
        "keyskel_undo": KeyMod.CtrlCmd | KeyCode.KeyZ,
        "keyskel_redo": KeyMod.CtrlCmd | KeyMod.Shift | KeyCode.KeyZ,
    }
    for name, key in expected.items():
        assert names[name] == KeyBinding.from_int(key), name
    # and they work: Ctrl-Z on the canvas undoes a drag
    from napari_keyskel._napari.registry import owner_of

    store = owner_of(points).save.owner.store
    before = {tid: t.coords.copy() for tid, t in store.tracks.items()}
    (instance, _), _ = _drag_a_point(points)
    assert not np.array_equal(store.tracks[instance].coords, before[instance])
    QTest.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(store.tracks[instance].coords, before[instance])
